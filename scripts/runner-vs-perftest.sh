#!/usr/bin/env bash
# `kprod run` against `kprod perf-test`: the same producer, settings, record size, payload and broker, run
# alternately (perf-test, run, perf-test, run, ...), medians of N. It answers "how much does the workbench's runner
# cost?": the runner should reach >= 90 % of perf-test's records/s while it times every record.
#
#   scripts/runner-vs-perftest.sh [--repeats N] [--records-100b N] [--records-1k N] [--broker embedded|process]
#                                 [--sizes "100 1024"] [--codecs "none lz4"] [--tasks N] [--prop k=v]...
#                                 [--worker-threads N] [--vary KEY=A,B]
#
# Settings (the issue's): acks=1, linger.ms=5, batch.size=262144, idempotence off, 8 partitions, letters A-Z as
# payload (what perf-test sends), one sending task. `--broker process` starts `kprod broker` in its own process
# (sink mode, 8 partitions); `embedded` uses the in-process mock broker for both. `--worker-threads N` gives
# both commands (and the broker process) an async runtime of N workers (`kprod --worker-threads`; default one per
# core). `--vary batch.size=262144,16384` runs every repeat at both values of the property, alternating
# (perf-test A, run A, perf-test B, run B, ...), and prints B's records/s over A's as each tool reports it: a
# sweep's verdict is only the producer's if `kprod run` sees the ratio perf-test sees (issue 16: within 10 %).
# Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
KPROD=${KPROD:-target/release/kprod}
REPEATS=3
RECORDS_100B=20000000
RECORDS_1K=4000000
BROKER=embedded
SIZES="100 1024"
CODECS="none lz4"
TASKS=1
WT=()
VARY_KEY=""
VARY_VALUES=("")
declare -A PROP=([acks]=1 [linger.ms]=5 [batch.size]=262144 [enable.idempotence]=false [buffer.memory]=67108864)
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats) REPEATS=$2; shift 2 ;;
        --records-100b) RECORDS_100B=$2; shift 2 ;;
        --records-1k) RECORDS_1K=$2; shift 2 ;;
        --broker) BROKER=$2; shift 2 ;;
        --sizes) SIZES=$2; shift 2 ;;
        --codecs) CODECS=$2; shift 2 ;;
        --tasks) TASKS=$2; shift 2 ;;
        --prop) PROP[${2%%=*}]=${2#*=}; shift 2 ;;
        --worker-threads) WT=(--worker-threads "$2"); shift 2 ;;
        --vary)
            VARY_KEY=${2%%=*}
            IFS=, read -r -a VARY_VALUES <<< "${2#*=}"
            if [ "$VARY_KEY" = "$2" ] || [ "${#VARY_VALUES[@]}" -ne 2 ]; then
                echo "runner-vs-perftest: --vary wants KEY=A,B (two values), got '$2'" >&2; exit 2
            fi
            shift 2 ;;
        *) echo "runner-vs-perftest: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$KPROD" ] || { echo "runner-vs-perftest: $KPROD not found: cargo build --release first" >&2; exit 2; }
case "$BROKER" in embedded|process) ;; *) echo "runner-vs-perftest: --broker embedded|process" >&2; exit 2 ;; esac

WORK=$(mktemp -d /tmp/kprod-rvp.XXXXXX)
BROKER_PID=""
cleanup() { [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
BOOT_ARGS=()
if [ "$BROKER" = process ]; then
    PORT=$((20000 + RANDOM % 20000))
    "$KPROD" "${WT[@]}" broker --port "$PORT" --partitions 8 --mode sink > "$WORK/broker.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    BOOT_ARGS=(--bootstrap-server "127.0.0.1:$PORT")
fi

props_with() { # the properties, with the varied one set to $1 when there is one
    local out="" k
    for k in "${!PROP[@]}"; do
        [ -n "$VARY_KEY" ] && [ "$k" = "$VARY_KEY" ] && continue
        out="$out $k=${PROP[$k]}"
    done
    [ -n "$VARY_KEY" ] && out="$out $VARY_KEY=$1"
    echo "${out# }"
}
echo "# kprod run vs kprod perf-test · broker: $BROKER · tasks: $TASKS · repeats: $REPEATS · worker threads: ${WT[1]:-default} · $(props_with "${VARY_VALUES[0]}")${VARY_KEY:+ · $VARY_KEY: ${VARY_VALUES[*]}}"
printf '%-6s %-6s %-10s %14s %14s %8s %12s\n' size codec "${VARY_KEY:-setting}" "perf-test/s" "run/s" "run/pt" "runner CPU"
for size in $SIZES; do
    records=$RECORDS_100B
    [ "$size" -ge 1024 ] && records=$RECORDS_1K
    for codec in $CODECS; do
        for v in "${!VARY_VALUES[@]}"; do
            PROPS=$(props_with "${VARY_VALUES[$v]}")
            {
                echo "name: rvp-$size-$codec"
                echo "topic: rvp-$size-$codec"
                echo "partitions: 8"
                echo "record_size: {fixed: $size}"
                echo "payload: letters"
                echo "records: $records"
                echo "warmup_s: 0"
                echo "producers: 1"
                echo "tasks_per_producer: $TASKS"
                echo "producer:"
                echo "  compression.type: $codec"
                for kv in $PROPS; do echo "  ${kv%%=*}: ${kv#*=}"; done
                echo "target: {embedded: {brokers: 1, mode: sink}}"
            } > "$WORK/w-$size-$codec-$v.yaml"
        done
        pt=(); rn=(); cost=()
        for r in $(seq "$REPEATS"); do
            for v in "${!VARY_VALUES[@]}"; do
                PROPS=$(props_with "${VARY_VALUES[$v]}")
                # shellcheck disable=SC2086
                line=$("$KPROD" "${WT[@]}" perf-test --topic "rvp-$size-$codec" --num-records "$records" \
                    --record-size "$size" --throughput -1 --embedded-partitions 8 "${BOOT_ARGS[@]}" \
                    --producer-props compression.type="$codec" $PROPS 2>/dev/null | grep 'records sent' | tail -1)
                pt[v]="${pt[v]:-} $(echo "$line" | sed -E 's/^[0-9]+ records sent, ([0-9.]+) records\/sec.*/\1/')"
                out="$WORK/run-$size-$codec-$v-$r"
                "$KPROD" "${WT[@]}" run "$WORK/w-$size-$codec-$v.yaml" "${BOOT_ARGS[@]}" --out "$out" --progress off \
                    > /dev/null 2>"$WORK/run.err" || {
                    echo "runner-vs-perftest: kprod run failed:" >&2; cat "$WORK/run.err" >&2; exit 1; }
                res=$(find "$out" -name result.json | head -1)
                read -r rate share < <(python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["points"][0]
r, c = p.get("runner_cpu_ns_per_record"), p.get("cpu_time_ns_per_record")
print(p["rate_records_per_s"], f"{100*r/c:.1f}" if r and c else "n/a")' "$res")
                rn[v]="${rn[v]:-} $rate"; cost[v]="${cost[v]:-} $share"
            done
        done
        python3 - "$size" "$codec" "$VARY_KEY" "${VARY_VALUES[*]}" "${pt[0]}" "${rn[0]}" "${cost[0]}" \
            "${pt[1]:-}" "${rn[1]:-}" "${cost[1]:-}" <<'EOF'
import statistics, sys
size, codec, key, values = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split() or ["-"]
medians = []
for i, value in enumerate(values):
    pt, rn, cost = (sys.argv[5 + 3 * i + j].split() for j in range(3))
    pt = [float(x) for x in pt]; rn = [float(x) for x in rn]
    c = [float(x) for x in cost if x != "n/a"]
    mp, mr = statistics.median(pt), statistics.median(rn)
    medians.append((mp, mr))
    share = f"{statistics.median(c):.1f} %" if c else "n/a"
    print(f"{size:<6} {codec:<6} {value:<10} {mp/1e6:12.2f} M {mr/1e6:12.2f} M {mr/mp:8.2f} {share:>12}")
    print(f"#   perf-test {' '.join(f'{x/1e6:.2f}' for x in pt)} · run {' '.join(f'{x/1e6:.2f}' for x in rn)} (M records/s)")
if len(medians) == 2:
    (pa, ra), (pb, rb) = medians
    print(f"#   {key} {values[1]} over {values[0]}, medians: perf-test {pb/pa:.3f}, run {rb/ra:.3f}; "
          f"run's ratio / perf-test's = {(rb/ra)/(pb/pa):.3f}")
EOF
    done
done
