#!/usr/bin/env bash
# compare-calibrate.sh — measures how far `kprod compare` verdicts can be trusted, on this machine, with the CI
# compare workload (workloads/sweeps/ci-compare.yaml):
#   * false alarms: A/A comparisons of identical runs (every pair of the A runs) that exit 1;
#   * detection: A/B comparisons against runs with a real throughput loss (TPUT_SET, default
#     `--set producer.batch.size=8192`: smaller batches, more requests per record) and a real p99 rise (P99_SET,
#     default `--set producer.linger.ms=6`: records wait up to 1 ms longer at 20k records/s), each B run against
#     every A run. The true size of each knob is measured from the runs themselves (pooled per-second medians of
#     all B runs against all A runs) and printed with the rates.
# The runs interleave A, B-throughput, B-p99, A, ... so slow drift of the machine hits every kind alike. The pairs
# share runs, so they are not independent comparisons: read the rates as "of N comparisons", not as N trials.
#
# Usage: scripts/compare-calibrate.sh [--a N] [--b M] [--out DIR] [--kprod BIN]
#   N A runs (default 8: 28 A/A pairs), M runs of each B kind (default 4: 4 × N pairs each).
# Environment: TPUT_SET, P99_SET (the B knobs, as --set arguments), COMPARE_ARGS (extra `kprod compare` options),
# NICE (niceness of the runs, default 0; -15 gives them priority over other work on a shared machine, as root).
# --compare-only DIR re-runs the comparisons of an earlier calibration folder (e.g. after changing compare).
# Prints one line per comparison into DIR/comparisons.tsv and a summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

a=8
b=4
out=""
kprod=""
compare_only=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --a) a=$2; shift ;;
        --b) b=$2; shift ;;
        --out) out=$2; shift ;;
        --kprod) kprod=$2; shift ;;
        --compare-only) out=$2; compare_only=1; shift ;;
        *) echo "compare-calibrate: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
TPUT_SET=${TPUT_SET:-"--set producer.batch.size=8192"}
P99_SET=${P99_SET:-"--set producer.linger.ms=6"}
NICE=${NICE:-0}
COMPARE_ARGS=${COMPARE_ARGS:-}
workload=workloads/sweeps/ci-compare.yaml
[[ -n $out ]] || out=reports/compare-calibrate-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
if [[ -z $kprod ]]; then
    cargo build --release --locked --quiet --bin kprod
    kprod="${CARGO_TARGET_DIR:-target}/release/kprod"
fi

run() { # run KIND INDEX [--set ...]: one run of the workload into $out/KIND-INDEX
    local kind=$1 i=$2
    shift 2
    local dir="$out/runs/$kind-$i"
    # shellcheck disable=SC2068
    nice -n "$NICE" "$kprod" run "$workload" --out "$dir" --progress plain $@ >"$out/runs/$kind-$i.log" 2>&1 ||
        { cat "$out/runs/$kind-$i.log"; echo "compare-calibrate: run $kind-$i failed" >&2; exit 1; }
    local result
    result=$(find "$dir" -name result.json | head -1)
    echo "$result" >"$out/runs/$kind-$i.path"
    echo "compare-calibrate: $(date -u +%H:%M:%S) $kind-$i done (load $(cut -d' ' -f1-3 /proc/loadavg))"
}

mkdir -p "$out/runs"
if ((compare_only == 0)); then
    echo "compare-calibrate: $a A runs, $b of each B kind; B throughput: $TPUT_SET; B p99: $P99_SET; nice $NICE; into $out"
    for ((i = 0; i < a || i < b; i++)); do
        if ((i < a)); then run A "$i"; fi
        # shellcheck disable=SC2086
        if ((i < b)); then run Btput "$i" $TPUT_SET; fi
        # shellcheck disable=SC2086
        if ((i < b)); then run Bp99 "$i" $P99_SET; fi
    done
fi

tsv="$out/comparisons.tsv"
printf 'kind\tbase\tnew\texit\trate_null_records\tp99_20000\tworse_metrics\n' >"$tsv"
cmp() { # cmp KIND BASE NEW
    local json="$out/cmp-$1-$2-$3.json" code=0
    # shellcheck disable=SC2086
    "$kprod" compare "$(cat "$out/runs/$2.path")" "$(cat "$out/runs/$3.path")" --json "$json" $COMPARE_ARGS \
        >"$out/cmp-$1-$2-$3.md" || code=$?
    [[ $code -le 1 ]] || { echo "compare-calibrate: kprod compare $2 $3 failed ($code)" >&2; exit 1; }
    python3 - "$json" "$1" "$2" "$3" "$code" >>"$tsv" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
def verdict(point, metric):
    return next((m["verdict"] for m in c["changes"] if m["point"] == point and m["metric"] == metric), "missing")
worse = ",".join(f'{m["point"]}:{m["metric"]}' for m in c["changes"] if m["verdict"] == "worse") or "-"
print("\t".join([sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
                 verdict("rate=null", "rate_records_per_s"), verdict("rate=20000", "response_time_us_p99"), worse]))
EOF
}
for ((i = 0; i < a; i++)); do
    for ((j = i + 1; j < a; j++)); do cmp AA "A-$i" "A-$j"; done
done
for ((j = 0; j < b; j++)); do
    for ((i = 0; i < a; i++)); do
        cmp Btput "A-$i" "Btput-$j"
        cmp Bp99 "A-$i" "Bp99-$j"
    done
done

python3 - "$tsv" "$out/runs" <<'EOF'
import csv, glob, json, statistics, sys
def pooled(kind, point, field):
    vals = []
    for path in glob.glob(f"{sys.argv[2]}/{kind}-*.path"):
        for p in json.load(open(open(path).read().strip()))["points"]:
            if p["name"] != point:
                continue
            prev = 0.0
            for t in p["time_series"]:
                if not t["warmup"] and 0.9 <= t["t_s"] - prev <= 1.1 and t[field] > 0:
                    vals.append(t[field])
                prev = t["t_s"]
    return statistics.median(vals)
a_rate, a_p99 = pooled("A", "rate=null", "records_per_s"), pooled("A", "rate=20000", "response_time_us_p99")
print(f"true size, pooled per-second medians of all runs: throughput loss {pooled('Btput', 'rate=null', 'records_per_s') / a_rate - 1:+.1%}"
      f" ({a_rate:.0f} records/s in A), p99 rise {pooled('Bp99', 'rate=20000', 'response_time_us_p99') / a_p99 - 1:+.1%}"
      f" ({a_p99 / 1e3:.2f} ms in A)")
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def count(kind, pred):
    rs = [r for r in rows if r["kind"] == kind]
    return sum(1 for r in rs if pred(r)), len(rs)
k, n = count("AA", lambda r: r["exit"] == "1")
print(f"false alarms (A/A exit 1): {k} of {n}")
k, n = count("Btput", lambda r: r["rate_null_records"] == "worse")
print(f"throughput loss detected (rate=null records/s worse): {k} of {n}")
k, n = count("Bp99", lambda r: r["p99_20000"] == "worse")
print(f"p99 rise detected (rate=20000 p99 worse): {k} of {n}")
for kind in ("Btput", "Bp99"):
    k, n = count(kind, lambda r: r["exit"] == "1")
    print(f"{kind}: exit 1 in {k} of {n}")
EOF
echo "compare-calibrate: details in $tsv"
