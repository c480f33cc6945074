#!/usr/bin/env bash
# One command for the multi-machine path on one machine: one `kprod broker`, N shard processes of a workload
# started together (`--start-at`), then `kprod merge` of their result folders into one run.
#
#   scripts/shards-local.sh                      # 4 shards of workloads/shards-local.yaml
#   SHARDS=2 WORKLOAD=workloads/quickstart.yaml scripts/shards-local.sh --set duration_s=3
#
# Extra arguments go to every `kprod run`. Environment: SHARDS (4), WORKLOAD, OUT (the output folder),
# KPROD (a kprod binary; default: build the release one), LEAD_MS (how far ahead the common start is, 3000).
# Prints the merged summary with its per-shard table; the merged run is in $OUT/merged (open index.html, or
# `kprod compare` it against a one-process run). Exit code: kprod merge's (0 ok, 1 records unaccounted for).
set -euo pipefail
cd "$(dirname "$0")/.."

SHARDS=${SHARDS:-4}
WORKLOAD=${WORKLOAD:-workloads/shards-local.yaml}
OUT=${OUT:-reports/shards-local-$(date -u +%Y%m%d-%H%M%S)}
LEAD_MS=${LEAD_MS:-3000}
if [[ -z "${KPROD:-}" ]]; then
    cargo build --release --quiet
    KPROD="${CARGO_TARGET_DIR:-target}/release/kprod"
fi

mkdir -p "$OUT"
broker_log="$OUT/broker.log"
"$KPROD" broker --port 0 --partitions 8 >"$broker_log" 2>&1 &
broker=$!
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    kill "$broker" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
}
trap cleanup EXIT

bootstrap=""
for _ in $(seq 1 100); do
    bootstrap=$(sed -n 's/^bootstrap.servers=//p' "$broker_log")
    [[ -n "$bootstrap" ]] && break
    sleep 0.1
done
[[ -n "$bootstrap" ]] || { echo "shards-local: kprod broker did not start:" >&2; cat "$broker_log" >&2; exit 2; }

# One start instant for every shard, computed once (what deploy/kubernetes/launch.sh does for the pods).
start_at=$(( $(date +%s%3N) + LEAD_MS ))
echo "shards-local: $SHARDS shards of $WORKLOAD → $bootstrap, start at $start_at (Unix ms)"
for i in $(seq 0 $((SHARDS - 1))); do
    "$KPROD" run "$WORKLOAD" --shard "$i/$SHARDS" --start-at "$start_at" --bootstrap-server "$bootstrap" \
        --out "$OUT/shards/shard-$i" --progress off "$@" >"$OUT/shard-$i.log" 2>&1 &
    pids+=("$!")
done
failed=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "shards-local: shard $i failed (exit $?); its output:" >&2
        cat "$OUT/shard-$i.log" >&2
        failed=1
    fi
done
pids=()
[[ $failed == 0 ]] || exit 2

"$KPROD" merge "$OUT"/shards/shard-*/*/ --out "$OUT/merged"
