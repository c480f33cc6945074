#!/usr/bin/env bash
# report-e2e.sh — the workbench end to end: runs the tiny CI sweep (workloads/sweeps/ci-tiny.yaml, 2 × 2 points of
# 1 s, plus 1 s of warm-up so the report shades it) on the embedded mock broker, then opens the run's index.html in headless Chromium and checks it
# (scripts/report-check.mjs: no console errors, every expected SVG chart by id, one tr.point row per point, point
# labels that do not overlap, a hover that shows the marker's values, a legend click that hides its series) and
# saves a screenshot, report.png, in the run folder. Then does the same for a one-point run (the quickstart, 1 s),
# and for the `kprod compare --html` page of the committed A/B fixtures (scripts/compare-check.mjs, compare.png).
#
# Usage: scripts/report-e2e.sh [--release] [--out DIR]   (debug binary by default; DIR defaults to a temp folder)
# Installs chromium and nodejs with apt-get when missing. Exits non-zero with a clear message on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
out=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --release) profile=release ;;
        --out) out=$2; shift ;;
        *) echo "report-e2e: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
fail() { echo "report-e2e: FAILED: $*" >&2; exit 1; }

need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return
    echo "report-e2e: installing $2 (apt-get)"
    if [[ -z ${KPROD_APT_UPDATED:-} ]]; then
        apt-get update -qq >/dev/null || fail "apt-get update failed"
        export KPROD_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || fail "cannot install $2"
    command -v "$1" >/dev/null 2>&1 || fail "$2 is installed but $1 is not on PATH"
}
need chromium chromium
need node nodejs

flags=(--locked)
[[ $profile == release ]] && flags+=(--release)
cargo build "${flags[@]}" --bin kprod || fail "cargo build failed"
bin="${CARGO_TARGET_DIR:-target}/$profile/kprod"
[[ -x $bin ]] || fail "no binary at $bin"

[[ -n $out ]] || out=$(mktemp -d -t kprod-report-e2e.XXXXXX)
mkdir -p "$out"
log="$out/run.log"
set +e
"$bin" run workloads/sweeps/ci-tiny.yaml --set warmup_s=1 --out "$out" --progress plain >"$log" 2>&1
code=$?
set -e
cat "$log"
[[ $code -eq 0 ]] || fail "kprod run exited with $code (log: $log)"
run_dir=$(sed -n 's/^report: \(.*\)\/index.html$/\1/p' "$log" | tail -1)
[[ -n $run_dir && -f $run_dir/index.html ]] || fail "no 'report: .../index.html' line in the run's output"
[[ -f $run_dir/result.json ]] || fail "$run_dir has no result.json"
points=$(grep -c '^\[[0-9]*/4\]' "$log" || true)
[[ $points -eq 4 ]] || fail "expected 4 point headers [i/4] in the run's output, saw $points"
grep -q 'unaccounted — OK' "$log" || fail "the run's accounting line is missing or not OK"

# `kprod report` must rebuild the same page from result.json.
cp "$run_dir/index.html" "$out/index.before.html"
"$bin" report "$run_dir" >/dev/null || fail "kprod report $run_dir failed"
cmp -s "$out/index.before.html" "$run_dir/index.html" || fail "kprod report rebuilt a different index.html"

# `kprod compare` of a run with itself: no regression, exit 0.
"$bin" compare "$run_dir" "$run_dir/result.json" >"$out/compare.md" || fail "kprod compare of a run with itself exited non-zero"
grep -q '| point | metric |' "$out/compare.md" || fail "kprod compare printed no table"

node scripts/report-check.mjs "$run_dir" "$run_dir/report.png" "$(command -v chromium)" || fail "the report did not pass the browser checks ($run_dir/index.html)"

# `kprod compare --html` on the committed fixtures (a known −15 % throughput loss): exit 1, and the side-by-side
# page checked in Chromium against the comparison's JSON (scripts/compare-check.mjs).
set +e
"$bin" compare tests/fixtures/compare/quiet-base.json tests/fixtures/compare/quiet-tput.json --json "$out/compare.json" \
    --html "$out/compare.html" >"$out/compare-ab.md"
code=$?
set -e
[[ $code -eq 1 ]] || { cat "$out/compare-ab.md"; fail "kprod compare of the −15 % fixture exited $code, not 1 (regression)"; }
node scripts/compare-check.mjs "$out/compare.html" "$out/compare.json" "$out/compare.png" "$(command -v chromium)" ||
    fail "the compare page did not pass the browser checks ($out/compare.html)"

# A one-point run (the quickstart, shortened) shows its figures, not a lone dot; checked the same way.
one_log="$out/one-point.log"
"$bin" run workloads/quickstart.yaml --set duration_s=1 --set warmup_s=1 --set rate=5000 --out "$out/one" \
    --progress plain >"$one_log" 2>&1 || { cat "$one_log"; fail "the one-point run failed (log: $one_log)"; }
one_dir=$(sed -n 's/^report: \(.*\)\/index.html$/\1/p' "$one_log" | tail -1)
[[ -n $one_dir && -f $one_dir/index.html ]] || fail "no 'report: .../index.html' line in the one-point run's output"
node scripts/report-check.mjs "$one_dir" "$one_dir/report.png" "$(command -v chromium)" || fail "the one-point report did not pass the browser checks ($one_dir/index.html)"
echo "report-e2e: ok — $run_dir/index.html, screenshot $run_dir/report.png; one point: $one_dir/index.html; compare: $out/compare.html"
