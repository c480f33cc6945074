#!/usr/bin/env bash
# test.sh — the whole kprod test suite, from a fresh clone: installs what is missing, then runs
#   1. format, lint and API-doc checks; unit + integration tests of every crate (libs, tests/it, doc tests) and the
#      benches in test mode; the sender simulation;
#   2. end-to-end tests against a real Apache Kafka 4.x broker (1 node; 1 node with TLS and SASL listeners; then a
#      3-node cluster with a restart);
#   3. the workbench end-to-end: a tiny sweep on the embedded broker, its HTML report checked in headless Chromium;
#   4. the instruction-count regression gate (valgrind/callgrind) on the append and encode paths;
#   5. the multi-machine path: Kubernetes manifests schema-checked, 4 local shards merged.
# `.ci/run` calls exactly this. Each step is bounded in time; the whole run takes ~15-25 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
step() {
    local name=$1
    shift
    echo
    echo "==> $name"
    local t0=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "==> $name: ok ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1))
        echo "==> $name: FAILED ($((SECONDS - t0)) s)"
        [[ ${KPROD_KEEP_GOING:-0} == 1 ]] || finish
    fi
}
finish() {
    scripts/kafka.sh down >/dev/null 2>&1 || true
    echo
    echo "target directory: $(du -sh "${CARGO_TARGET_DIR:-target}" 2>/dev/null | cut -f1)"
    echo "kprod suite: $passed passed, $failed failed"
    [[ $failed -eq 0 ]]
    exit $?
}
trap 'scripts/kafka.sh down >/dev/null 2>&1 || true' EXIT

# Incremental compilation buys nothing in a one-shot run and its cache is as large as the build itself.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# The build (dev, test, release, bench and peer-rdkafka variants) needs roughly 8 GiB: say so up front rather than
# failing half-way with "No space left on device".
disk_check() {
    local dir=${CARGO_TARGET_DIR:-target}
    mkdir -p "$dir"
    local free_kib
    free_kib=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
    echo "disk: $((free_kib / 1024 / 1024)) GiB free for $dir"
    if [[ $free_kib -lt $((8 * 1024 * 1024)) ]]; then
        echo "warning: less than 8 GiB free under $dir; the build may fail with ENOSPC (free space or set CARGO_TARGET_DIR)" >&2
    fi
}
disk_check

step "setup (system packages)" scripts/setup.sh
step "format (cargo fmt --check)" cargo fmt --all --check
# Twice: the workspace (the root package turns on kprod-producer's `unstable` feature), then the producer alone, as a
# library user builds it (without `unstable`, where its internals are crate-private).
lint() {
    cargo clippy --workspace --all-targets --locked -- -D warnings &&
        cargo clippy -p kprod-producer --all-targets --locked -- -D warnings
}
step "lint (clippy, every crate and target, warnings are errors)" lint
step "API docs build without warnings (cargo doc)" env RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --workspace --locked
step "build (all targets, every crate)" cargo build --workspace --all-targets --locked
step "unit + integration tests (every crate)" cargo test --workspace --all-targets --locked
# The sender's deterministic simulation (issue 15): 2 more minutes of seeds beyond the 20 s `cargo test` runs, from
# another base so they are new ones. A failing seed prints the command that replays it.
step "sender simulation: 120 s of seeds against the mock broker (exactly once, send order, no hang)" \
    env KPROD_SIM_BASE=1000000 KPROD_SIM_BUDGET_S=120 cargo test --locked -p kprod-producer --lib \
    producer::sender::sim::tests::many_seeds_keep_every_invariant -- --nocapture
step "doc tests (every crate)" cargo test --workspace --doc --locked

# Functions run by `step` are in an `if` context, where `set -e` does not apply: check every status explicitly.
java_interop() {
    scripts/kafka.sh fetch >/dev/null || return 1
    local lib="${KPROD_CACHE:-$HOME/.cache/kprod}/kafka-${KPROD_KAFKA_VERSION:-4.3.1}/lib"
    KPROD_JAVA_CLASSPATH="$lib/*" cargo test --locked --test it -- --ignored java_
}
step "librdkafka: producer + consumer against the mock broker, the librdkafka peer (peer-rdkafka)" \
    cargo test --locked --features peer-rdkafka --lib --test it rdkafka
step "Java kafka-clients producer + consumer against the mock broker" java_interop
step "Java peer driver unit tests" bash -c 'cd peers/java && mvn -q -B test'

real_broker() {
    scripts/kafka.sh up || return 1
    local rc=0
    # `real_broker::` and `::real_broker_transactions`, not `real_broker_`: that would also match the real_broker_security
    # module (its own step, against a broker started with --security).
    cargo test --locked --test it -- --ignored real_broker:: ::real_broker_transactions || rc=$?
    scripts/kafka.sh down
    return $rc
}
real_broker_security() {
    scripts/kafka.sh up --security || return 1
    local rc=0
    # The broker side first, with the Java client's own tools, then kprod through the same listeners.
    scripts/kafka.sh smoke --security || rc=$?
    cargo test --locked --test it -- --ignored real_broker_security || rc=$?
    scripts/kafka.sh down
    return $rc
}
real_cluster() {
    scripts/kafka.sh up --brokers 3 || return 1
    local rc=0
    cargo test --locked --test it -- --ignored real_cluster_ || rc=$?
    scripts/kafka.sh down
    return $rc
}
step "instruction-count gate (callgrind): append path and batch encode" scripts/callgrind-check.sh
step "real Kafka broker: codecs, acks, idempotence, placement, headers, transactions, a new topic produced to at once" real_broker
step "real Kafka broker with TLS and SASL (PLAIN, SCRAM-SHA-256/512, mTLS)" real_broker_security
step "real Kafka 3-node cluster: broker restart mid-run, partition leaders moved mid-run" real_cluster
step "workbench end to end: ci-tiny sweep, report and compare page checked in headless Chromium" scripts/report-e2e.sh
step "Kubernetes manifests: schema check, offline (kubernetes-validate --strict)" scripts/k8s-validate.sh
# The local multi-machine example (issue 17): one kprod broker, 4 shards started together, kprod merge (~10 s).
shards_local() {
    local out
    out=$(mktemp -d)
    KPROD="${CARGO_TARGET_DIR:-target}/debug/kprod" OUT="$out/run" scripts/shards-local.sh
    local rc=$?
    rm -rf "$out"
    return $rc
}
step "4 shards of one workload against one kprod broker, merged (scripts/shards-local.sh)" shards_local

finish
