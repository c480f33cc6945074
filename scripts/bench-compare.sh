#!/usr/bin/env bash
# Compares two criterion baselines for human review: median time of each, change %, throughput.
#
# Usage: scripts/bench-compare.sh [--dir DIR] [--filter REGEX] [--threshold PCT] BASE NEW
#   BASE, NEW        baseline names saved with `cargo bench -- --save-baseline NAME` (criterion's own `base` and
#                    `new` both hold the last run once it finished: save named baselines to compare runs)
#   --dir DIR        criterion output directory (default ${CARGO_TARGET_DIR:-target}/criterion)
#   --filter REGEX   only benchmarks whose id (group/function/parameter) matches REGEX
#   --threshold PCT  a change is flagged slower/faster only beyond PCT percent (default 5) AND when the 95%
#                    confidence intervals of the two medians do not overlap; otherwise it is shown as noise (~)
#
# Reads DIR/**/<baseline>/{estimates.json,benchmark.json}. Always exits 0 when both baselines were found: this
# is for reading, not gating (the gate is scripts/callgrind-check.sh, which counts instructions).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=""
filter=""
threshold=5
names=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
        --dir=*) dir=${1#*=}; shift ;;
        --filter) filter=${2:?--filter needs a regex}; shift 2 ;;
        --filter=*) filter=${1#*=}; shift ;;
        --threshold) threshold=${2:?--threshold needs a percentage}; shift 2 ;;
        --threshold=*) threshold=${1#*=}; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench-compare: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) names+=("$1"); shift ;;
    esac
done
if [[ ${#names[@]} -ne 2 ]]; then
    echo "usage: scripts/bench-compare.sh [--dir DIR] [--filter REGEX] [--threshold PCT] BASE NEW" >&2
    exit 2
fi
if ! [[ $threshold =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    echo "bench-compare: --threshold must be a non-negative number of percent, got '$threshold'" >&2
    exit 2
fi
if [[ -z $dir ]]; then
    target=${CARGO_TARGET_DIR:-$root/target}
    dir="$target/criterion"
fi
if [[ ! -d $dir ]]; then
    echo "bench-compare: no criterion output at $dir (run cargo bench first, or pass --dir)" >&2
    exit 2
fi

DIR="$dir" BASE="${names[0]}" NEW="${names[1]}" FILTER="$filter" THRESHOLD="$threshold" python3 - <<'PY'
import json, os, re, sys

root, base_name, new_name = os.environ["DIR"], os.environ["BASE"], os.environ["NEW"]
flt = re.compile(os.environ["FILTER"]) if os.environ["FILTER"] else None
threshold = float(os.environ["THRESHOLD"])

def load(run_dir):
    """(benchmark id, median ns, median CI (lo, hi), throughput dict) of one saved run, or None if incomplete."""
    try:
        with open(os.path.join(run_dir, "estimates.json")) as f:
            est = json.load(f)
        with open(os.path.join(run_dir, "benchmark.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    med = est["median"]
    ci = med.get("confidence_interval", {})
    return (meta.get("full_id") or meta.get("title"), med["point_estimate"],
            (ci.get("lower_bound"), ci.get("upper_bound")), meta.get("throughput"))

runs = {}  # id -> {baseline name -> loaded}
for dirpath, dirnames, _ in os.walk(root):
    for which in (base_name, new_name):
        if which in dirnames:
            got = load(os.path.join(dirpath, which))
            if got:
                runs.setdefault(got[0], {})[which] = got
    # Baseline directories hold no nested benchmarks: do not descend into them (or into report/).
    dirnames[:] = [d for d in dirnames if d not in (base_name, new_name, "report", "base", "new", "change")]

if flt:
    runs = {k: v for k, v in runs.items() if flt.search(k)}
have_base = any(base_name in v for v in runs.values())
have_new = any(new_name in v for v in runs.values())
if not have_base or not have_new:
    missing = [n for n, ok in ((base_name, have_base), (new_name, have_new)) if not ok]
    print(f"bench-compare: no benchmark saved under baseline(s) {', '.join(missing)} in {root}"
          + (f" matching /{flt.pattern}/" if flt else ""), file=sys.stderr)
    sys.exit(2)

def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.1f} ns"

def elements_bytes(tp):
    if not tp:
        return None, None
    if "Elements" in tp:
        return tp["Elements"], None
    if "ElementsAndBytes" in tp:
        return tp["ElementsAndBytes"]["elements"], tp["ElementsAndBytes"]["bytes"]
    for k in ("Bytes", "BytesDecimal"):
        if k in tp:
            return None, tp[k]
    if "Bits" in tp:
        return None, tp["Bits"] / 8
    return None, None

def fmt_rate(v, unit):
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= scale:
            return f"{v / scale:.2f} {prefix}{unit}/s"
    return f"{v:.1f} {unit}/s"

def throughput(tp, ns):
    elems, nbytes = elements_bytes(tp)
    parts = []
    if elems:
        parts.append(f"{ns / elems:.1f} ns/elem")
        parts.append(fmt_rate(elems / ns * 1e9, "elem"))
    if nbytes:
        mib = nbytes / ns * 1e9 / (1 << 20)
        parts.append(f"{mib / 1024:.2f} GiB/s" if mib >= 1024 else f"{mib:.1f} MiB/s")
    return ", ".join(parts)

rows = []
slower = faster = 0
for bid in sorted(runs):
    b, n = runs[bid].get(base_name), runs[bid].get(new_name)
    bt = fmt_time(b[1]) if b else "-"
    nt = fmt_time(n[1]) if n else "-"
    change, verdict = "", ""
    if b and n:
        pct = (n[1] - b[1]) * 100.0 / b[1]
        change = f"{pct:+.2f}%"
        (blo, bhi), (nlo, nhi) = b[2], n[2]
        disjoint = None not in (blo, bhi, nlo, nhi) and (nlo > bhi or nhi < blo)
        if abs(pct) > threshold and disjoint:
            verdict = "slower" if pct > 0 else "faster"
            slower += pct > 0
            faster += pct < 0
        else:
            verdict = "~"
    tp = throughput((n or b)[3], (n or b)[1])
    rows.append((bid, bt, nt, change, verdict, tp))

head = ("benchmark", f"{base_name} median", f"{new_name} median", "change", "", f"throughput ({new_name})")
widths = [max(len(r[i]) for r in rows + [head]) for i in range(6)]
def line(r):
    return (f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  "
            f"{r[4]:<{widths[4]}}  {r[5]}").rstrip()
print(line(head))
for r in rows:
    print(line(r))
print(f"\n{len(rows)} benchmarks; {slower} slower, {faster} faster beyond {threshold:g}% with disjoint 95% CIs "
      "of the median; '~' = within noise. Wall-clock times: rerun on a quiet machine before concluding.")
PY
