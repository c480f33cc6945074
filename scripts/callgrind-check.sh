#!/usr/bin/env bash
# Instruction-count regression gate: runs benches/callgrind.rs under valgrind/callgrind (gungraun), prints
# baseline vs current instruction counts (Ir) per benchmark, and fails when any count rose beyond a threshold.
#
# Usage: scripts/callgrind-check.sh [--threshold PCT] [--baseline FILE] [--update] [--no-install]
#   --threshold PCT  allowed rise in percent before failing (default 5)
#   --baseline FILE  baseline file (default benches/baselines/callgrind.json)
#   --update         run, then rewrite the baseline with the current counts (and the toolchain/machine used)
#   --no-install     do not install valgrind / gungraun-runner when missing (fail instead)
#
# Exit status: 0 no regression, 1 regression, 2 set-up error or benchmarks missing versus the baseline.
# Counts depend on the rustc version, dependency versions and the code: see docs/benchmarks.md on refreshing.
set -euo pipefail

# The runner must match the gungraun library version in Cargo.toml exactly.
GUNGRAUN_RUNNER_VERSION=0.20.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

threshold=5
baseline=benches/baselines/callgrind.json
update=0
install=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --threshold) threshold=${2:?--threshold needs a percentage}; shift 2 ;;
        --threshold=*) threshold=${1#*=}; shift ;;
        --baseline) baseline=${2:?--baseline needs a file}; shift 2 ;;
        --baseline=*) baseline=${1#*=}; shift ;;
        --update) update=1; shift ;;
        --no-install) install=0; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "callgrind-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if ! [[ $threshold =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    echo "callgrind-check: --threshold must be a non-negative number of percent, got '$threshold'" >&2
    exit 2
fi

log() { echo "callgrind-check: $*" >&2; }

if ! command -v valgrind >/dev/null; then
    if [[ $install == 1 ]] && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        log "valgrind missing: installing it with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
    else
        log "valgrind is not installed (apt-get install valgrind)"; exit 2
    fi
fi

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$cargo_bin:$PATH"
runner_version() { gungraun-runner --version 2>/dev/null | awk '{print $NF}'; }
if [[ $(runner_version) != "$GUNGRAUN_RUNNER_VERSION" ]]; then
    if [[ $install == 1 ]]; then
        log "installing gungraun-runner $GUNGRAUN_RUNNER_VERSION (found: '$(runner_version)')"
        cargo install gungraun-runner --version "$GUNGRAUN_RUNNER_VERSION" --locked --force >&2
    else
        log "gungraun-runner $GUNGRAUN_RUNNER_VERSION is needed (found: '$(runner_version)'):" \
            "cargo install gungraun-runner --version $GUNGRAUN_RUNNER_VERSION --locked"
        exit 2
    fi
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
log "running cargo bench --bench callgrind (valgrind $(valgrind --version | sed 's/valgrind-//'))"
# One JSON summary per benchmark on stdout; gungraun's own comparison with its previous local run is not used.
if ! cargo bench --bench callgrind -- --output-format=json >"$out/summaries.jsonl"; then
    log "the callgrind benchmarks failed"; exit 2
fi

meta_rustc=$(rustc -V)
meta_valgrind=$(valgrind --version)
meta_cpu=$( (grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true) | sed 's/.*: //')
meta_machine="$(uname -s) $(uname -m)${meta_cpu:+, $meta_cpu}"
meta_commit=$(git describe --always --dirty 2>/dev/null || echo unknown)

SUMMARIES="$out/summaries.jsonl" BASELINE="$baseline" THRESHOLD="$threshold" UPDATE="$update" \
    META_RUSTC="$meta_rustc" META_VALGRIND="$meta_valgrind" META_MACHINE="$meta_machine" \
    META_COMMIT="$meta_commit" GUNGRAUN_VERSION="$GUNGRAUN_RUNNER_VERSION" python3 - <<'PY'
import datetime, json, os, sys

def die(msg, code=2):
    print(f"callgrind-check: {msg}", file=sys.stderr)
    sys.exit(code)

def ir_of(summary):
    """Total Ir of the callgrind profile (gungraun summary v7: profiles[].data.total.metrics.Ir.values.new)."""
    for profile in summary.get("profiles", []):
        if profile.get("tool") != "Callgrind":
            continue
        ir = profile["data"]["total"]["metrics"].get("Ir")
        value = ir.get("values", {}).get("new") if isinstance(ir, dict) else None
        if isinstance(value, dict):  # an integer may be tagged ({"Int": n}) in other schema versions
            value = value.get("Int", value.get("Float"))
        if value is not None:
            return int(value)
    return None

current = {}
with open(os.environ["SUMMARIES"]) as f:
    for line in f:
        line = line.strip()
        if not line.startswith("{"):
            continue
        s = json.loads(line)
        name = "/".join(p for p in (s["group"], s["function_name"], s.get("id")) if p)
        ir = ir_of(s)
        if ir is None:
            die(f"no callgrind Ir in the summary of {name}")
        current[name] = ir
if not current:
    die("the benchmarks printed no summary (was gungraun's --output-format=json accepted?)")

path = os.environ["BASELINE"]
threshold = float(os.environ["THRESHOLD"])
rustc = os.environ["META_RUSTC"]

if os.environ["UPDATE"] == "1":
    doc = {
        "about": "Instruction counts (callgrind Ir) of benches/callgrind.rs; checked by scripts/callgrind-check.sh. "
        "Counts depend on rustc, dependency versions and the code: refresh with scripts/callgrind-check.sh --update.",
        "metric": "Ir",
        "recorded_with": {
            "rustc": rustc,
            "valgrind": os.environ["META_VALGRIND"],
            "gungraun": os.environ["GUNGRAUN_VERSION"],
            "machine": os.environ["META_MACHINE"],
            "commit": os.environ["META_COMMIT"],
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "benchmarks": dict(sorted(current.items())),
    }
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    width = max(len(n) for n in current)
    for n, v in sorted(current.items()):
        print(f"{n:<{width}}  {v:>14,}")
    print(f"callgrind-check: baseline written to {path} ({len(current)} benchmarks)")
    sys.exit(0)

try:
    with open(path) as f:
        doc = json.load(f)
    base = doc["benchmarks"]
except FileNotFoundError:
    die(f"no baseline at {path}: create it with scripts/callgrind-check.sh --update")
except (ValueError, KeyError) as e:
    die(f"baseline {path} is not a valid baseline file: {e}")

recorded = doc.get("recorded_with", {})
if recorded.get("rustc") and recorded["rustc"] != rustc:
    print(f"callgrind-check: warning: baseline recorded with '{recorded['rustc']}', running '{rustc}': "
          "counts may shift with the compiler alone", file=sys.stderr)

names = sorted(set(base) | set(current))
width = max(len("benchmark"), *(len(n) for n in names))
print(f"{'benchmark':<{width}}  {'baseline Ir':>14}  {'current Ir':>14}  {'change':>8}  status")
regressed, missing, new = [], [], []
for n in names:
    b, c = base.get(n), current.get(n)
    if c is None:
        missing.append(n)
        print(f"{n:<{width}}  {b:>14,}  {'-':>14}  {'':>8}  MISSING")
        continue
    if b is None:
        new.append(n)
        print(f"{n:<{width}}  {'-':>14}  {c:>14,}  {'':>8}  new (not in baseline)")
        continue
    pct = (c - b) * 100.0 / b if b else float("inf")
    status = "ok"
    if pct > threshold:
        status = f"REGRESSED (> +{threshold:g}%)"
        regressed.append(n)
    elif pct < -threshold:
        status = "improved (consider --update)"
    print(f"{n:<{width}}  {b:>14,}  {c:>14,}  {pct:>+7.2f}%  {status}")

if regressed:
    print(f"callgrind-check: {len(regressed)} benchmark(s) regressed beyond +{threshold:g}%: {', '.join(regressed)}")
    sys.exit(1)
if missing:
    print(f"callgrind-check: {len(missing)} baseline benchmark(s) did not run: {', '.join(missing)} "
          "(renamed or removed? refresh with --update)")
    sys.exit(2)
print(f"callgrind-check: ok, {len(current)} benchmarks within +{threshold:g}%"
      + (f" ({len(new)} new, not gated: run --update to add them)" if new else ""))
PY
