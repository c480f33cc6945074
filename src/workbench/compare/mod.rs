//! Compare two runs: per point (matched by name) and per metric, the change, its confidence interval, the smallest
//! change the data could have shown, and a verdict that is both statistically and practically significant.
//!
//! **Samples.** Throughput and response-time p99 are taken per second from each repeat's time series (the runner
//! records one entry a second): warm-up seconds are dropped, and so is every interval that is not a full second
//! (the one that ends the warm-up, the drain after the last second). The other percentiles (p50, p99.9, service
//! p99) exist only per repeat, so they get one sample per repeat. Failed or interrupted repeats are left out.
//!
//! **Statistic.** The median of the pooled per-second samples (the mean of the repeats for per-repeat metrics),
//! and the relative change `new / base − 1`. For per-second metrics its [`CONFIDENCE`] interval is a percentile
//! bootstrap that resamples the way the data were made ([`stats::bootstrap_change`]): whole repeats with
//! replacement, then blocks of consecutive seconds inside each, so neither the between-run noise nor the
//! autocorrelation of seconds is hidden. The resampling is seeded from the point and metric name: the same inputs
//! give the same verdict. For per-repeat metrics (2–5 values a side) a bootstrap would be far too narrow; they get
//! a Welch t-interval on the logarithms ([`stats::welch_log_change`]), which is as wide as so few values deserve.
//!
//! **Verdict.** `worse` (or `better`) only when the whole interval lies beyond the threshold in that direction:
//! the change is real at the stated confidence *and* larger than the threshold, so a tiny but certain change is
//! not an alarm. `same` when the whole interval lies within ±threshold; `noise` when it straddles a threshold
//! (the data cannot tell); `n/a` when there are too few samples. With at most ~10 metric × point tests per
//! comparison, each worse-verdict has a one-sided error of at most 0.5 % when the true change sits exactly at
//! the threshold, so the chance of any false alarm in a comparison is at most ~5 % even then, and far lower
//! for an unchanged build (whose true change is 0, well inside the threshold).
//!
//! **Detectable change.** `threshold + 1.33 × half-width` of the interval: with a normal approximation, a true
//! change of that size puts the whole interval beyond the threshold in 80 % of comparisons
//! (`(z₀.₉₉₅ + z₀.₈) / z₀.₉₉₅ = (2.576 + 0.842) / 2.576`). A `noise` verdict with a detectable change of 40 %
//! says the comparison was blind to anything smaller.
//!
//! **Shape warnings** (as hyperfine warns): per point, metric and run, a drift (each repeat's second half
//! shifted the same way as its first half, by more than 10 %) or two separated clusters of samples
//! ([`stats::bimodal`]). They do not change a verdict; they say the interval rests on samples that are not one
//! steady distribution.

pub mod stats;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::result::{PointResult, PointStatus, RunResult, TimePoint};
use stats::Stat;

/// Confidence of every interval.
pub const CONFIDENCE: f64 = 0.99;
/// Default practical threshold for throughput, in %.
pub const THROUGHPUT_THRESHOLD_PCT: f64 = 5.0;
/// Default practical threshold for latency percentiles, in %.
pub const LATENCY_THRESHOLD_PCT: f64 = 10.0;
/// `(z₀.₉₉₅ + z₀.₈) / z₀.₉₉₅`: how many half-widths beyond the threshold a change is found 80 % of the time.
const DETECTABLE_FACTOR: f64 = (2.576 + 0.842) / 2.576;
/// Drift warning: mean shift of each repeat's second half over its first half.
const DRIFT_MIN: f64 = 0.10;
/// Bimodality warning: the gap between the two clusters, relative to the median.
const BIMODAL_GAP_MIN: f64 = 0.10;
/// Seconds of a time-series interval that count as a full second.
const FULL_SECOND: std::ops::RangeInclusive<f64> = 0.9..=1.1;

/// Which way a metric is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// Throughput or latency: which threshold applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Throughput,
    Latency,
}

/// Where a metric's samples come from.
#[derive(Clone, Copy)]
enum Source {
    /// One sample per full measured second; `None` skips the second (e.g. no record acknowledged in it).
    PerSecond(fn(&TimePoint) -> Option<f64>),
    /// One sample per repeat.
    PerRepeat(fn(&PointResult) -> f64),
}

struct MetricDef {
    name: &'static str,
    better: Better,
    kind: Kind,
    source: Source,
    /// The whole-repeat value, used when a repeat has no time series.
    whole: fn(&PointResult) -> f64,
}

const METRICS: &[MetricDef] = &[
    MetricDef {
        name: "rate_records_per_s",
        better: Better::Higher,
        kind: Kind::Throughput,
        source: Source::PerSecond(|t| Some(t.records_per_s)),
        whole: |p| p.rate_records_per_s,
    },
    MetricDef {
        // The process's CPU time per record acknowledged (producer, runner and an embedded broker). A closed loop
        // on a shared machine goes as fast as the CPU it is given, so its rate swings with the machine's load
        // while its CPU per record hardly moves: a build that costs more per record shows here first.
        name: "cpu_ns_per_record",
        better: Better::Lower,
        kind: Kind::Throughput,
        source: Source::PerRepeat(|p| p.cpu_time_ns_per_record.unwrap_or(f64::NAN)),
        whole: |p| p.cpu_time_ns_per_record.unwrap_or(f64::NAN),
    },
    MetricDef {
        name: "response_time_us_p50",
        better: Better::Lower,
        kind: Kind::Latency,
        source: Source::PerRepeat(|p| p.response_time_us_p50 as f64),
        whole: |p| p.response_time_us_p50 as f64,
    },
    MetricDef {
        name: "response_time_us_p99",
        better: Better::Lower,
        kind: Kind::Latency,
        source: Source::PerSecond(|t| (t.response_time_us_p99 > 0).then_some(t.response_time_us_p99 as f64)),
        whole: |p| p.response_time_us_p99 as f64,
    },
    MetricDef {
        name: "response_time_us_p99_9",
        better: Better::Lower,
        kind: Kind::Latency,
        source: Source::PerRepeat(|p| p.response_time_us_p99_9 as f64),
        whole: |p| p.response_time_us_p99_9 as f64,
    },
    MetricDef {
        name: "service_time_us_p99",
        better: Better::Lower,
        kind: Kind::Latency,
        source: Source::PerRepeat(|p| p.service_time_us_p99 as f64),
        whole: |p| p.service_time_us_p99 as f64,
    },
];

/// The outcome of one metric of one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The whole interval is beyond the threshold, the good way.
    Better,
    /// The whole interval is beyond the threshold, the bad way: a regression.
    Worse,
    /// The whole interval is within ±threshold: no change worth reporting, and the data show it.
    Same,
    /// The interval straddles a threshold: the data cannot tell (see `detectable_pct`).
    Noise,
    /// Too few samples for an interval.
    Insufficient,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Same => "same",
            Verdict::Noise => "noise",
            Verdict::Insufficient => "n/a",
        }
    }
}

/// Mean and noise of one point's repeats for one metric (the report's throughput column uses it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub mean: f64,
    /// Relative sample standard deviation (0 with a single repeat).
    pub rsd: f64,
    /// (max − min) / mean (0 with a single repeat).
    pub spread: f64,
    pub n: usize,
}

impl Sample {
    /// `None` for an empty slice.
    pub fn of(values: &[f64]) -> Option<Sample> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n == 1 || mean == 0.0 {
            return Some(Sample { mean, rsd: 0.0, spread: 0.0, n });
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let (min, max) = values.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        Some(Sample { mean, rsd: var.sqrt() / mean.abs(), spread: (max - min) / mean.abs(), n })
    }
}

/// The relative change from `base` to `new` in %; a change from 0 counts as ±100 %.
pub fn change_pct(base: f64, new: f64) -> f64 {
    if base == 0.0 { if new == 0.0 { 0.0 } else { 100.0 * new.signum() } } else { (new - base) / base.abs() * 100.0 }
}

/// What one side of a comparison measured for one metric of one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// The statistic: median of the per-second samples, or mean of the per-repeat ones.
    pub value: f64,
    pub repeats: usize,
    /// Samples behind `value` (seconds over all repeats, or repeats).
    pub samples: usize,
}

/// How a metric was sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    PerSecond,
    PerRepeat,
}

/// One metric of one point, base against new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricChange {
    pub point: String,
    pub metric: String,
    pub sampling: Sampling,
    pub base: Side,
    pub new: Side,
    /// Point estimate of the change, %.
    pub change_pct: f64,
    /// The interval of the change at `confidence_pct`, % (absent with too few samples).
    pub ci_low_pct: Option<f64>,
    pub ci_high_pct: Option<f64>,
    pub confidence_pct: f64,
    /// The practical threshold applied, %.
    pub threshold_pct: f64,
    /// The smallest change (±, %) found in 80 % of comparisons with this much noise.
    pub detectable_pct: Option<f64>,
    pub verdict: Verdict,
}

/// A point's samples that do not look like one steady distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeWarning {
    pub point: String,
    pub metric: String,
    /// `base` or `new`.
    pub run: String,
    pub message: String,
}

/// All changes between two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub confidence_pct: f64,
    pub throughput_threshold_pct: f64,
    pub latency_threshold_pct: f64,
    pub changes: Vec<MetricChange>,
    pub warnings: Vec<ShapeWarning>,
    /// Notes on the comparison as a whole (one repeat, repeats left out).
    pub notes: Vec<String>,
    pub only_in_base: Vec<String>,
    pub only_in_new: Vec<String>,
}

/// The practical thresholds, %.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub throughput_pct: f64,
    pub latency_pct: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { throughput_pct: THROUGHPUT_THRESHOLD_PCT, latency_pct: LATENCY_THRESHOLD_PCT }
    }
}

/// The name a point is compared under: its name, with the peer appended for librdkafka and Java results so
/// peers never mix.
pub fn key(p: &PointResult) -> String {
    match p.peer {
        crate::workbench::peers::Peer::Kprod => p.name.clone(),
        peer => format!("{} [{peer}]", p.name),
    }
}

fn group(run: &RunResult) -> BTreeMap<String, Vec<&PointResult>> {
    let mut m: BTreeMap<String, Vec<&PointResult>> = BTreeMap::new();
    for p in &run.points {
        m.entry(key(p)).or_default().push(p);
    }
    m
}

/// The full measured seconds of a repeat: warm-up and partial intervals dropped.
pub fn full_seconds(p: &PointResult) -> Vec<&TimePoint> {
    let mut prev = 0.0;
    let mut out = Vec::new();
    for t in &p.time_series {
        let span = t.t_s - prev;
        prev = t.t_s;
        if !t.warmup && FULL_SECOND.contains(&span) {
            out.push(t);
        }
    }
    out
}

/// One group of samples per repeat, and how they were taken: per second when every repeat of both sides has at
/// least two full seconds, else one whole-repeat value per repeat.
fn samples(m: &MetricDef, base: &[&PointResult], new: &[&PointResult]) -> (Sampling, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    if let Source::PerSecond(f) = m.source {
        let per = |ps: &[&PointResult]| -> Vec<Vec<f64>> {
            ps.iter().map(|p| full_seconds(p).into_iter().filter_map(f).collect()).collect()
        };
        let (b, n) = (per(base), per(new));
        if b.iter().chain(&n).all(|g| g.len() >= 2) {
            return (Sampling::PerSecond, b, n);
        }
    }
    let get = match m.source {
        Source::PerRepeat(g) => g,
        Source::PerSecond(_) => m.whole,
    };
    // A repeat without the value (an older result without CPU time, a percentile with no sample) is left out.
    let per = |ps: &[&PointResult]| -> Vec<Vec<f64>> {
        ps.iter().map(|p| get(p)).filter(|v| v.is_finite() && *v > 0.0).map(|v| vec![v]).collect()
    };
    (Sampling::PerRepeat, per(base), per(new))
}

fn judge(ci: (f64, f64), threshold: f64, better: Better) -> Verdict {
    let (lo, hi) = ci;
    let (good_beyond, bad_beyond) = match better {
        Better::Higher => (lo > threshold, hi < -threshold),
        Better::Lower => (hi < -threshold, lo > threshold),
    };
    if bad_beyond {
        Verdict::Worse
    } else if good_beyond {
        Verdict::Better
    } else if lo >= -threshold && hi <= threshold {
        Verdict::Same
    } else {
        Verdict::Noise
    }
}

fn shape_warnings(point: &str, m: &MetricDef, run: &str, groups: &[Vec<f64>], out: &mut Vec<ShapeWarning>) {
    let warn = |message: String| ShapeWarning {
        point: point.to_string(),
        metric: m.name.to_string(),
        run: run.to_string(),
        message,
    };
    if let Some(shift) = stats::drift(groups, DRIFT_MIN) {
        out.push(warn(format!(
            "drifts: each repeat's second half is {:+.0} % from its first half on average (a trend, not one \
             steady level: warm-up too short, or the machine's load changed)",
            shift * 100.0
        )));
    }
    let pooled: Vec<f64> = groups.iter().flatten().copied().collect();
    if let Some((a, b)) = stats::bimodal(&pooled, BIMODAL_GAP_MIN) {
        out.push(warn(format!(
            "bimodal: the samples form two separate clusters, around {} and {} (something switched during the run)",
            fmt_value(m.name, a),
            fmt_value(m.name, b)
        )));
    }
}

/// The repeats that count: ran to their end and acknowledged something.
fn usable<'a>(ps: &[&'a PointResult]) -> Vec<&'a PointResult> {
    ps.iter()
        .copied()
        .filter(|p| matches!(p.status, PointStatus::Ok | PointStatus::Partial) && p.records_acked > 0)
        .collect()
}

/// A repeat whose process waited for a CPU this many ms per second more than the quieter run's typical repeat is
/// left out: the machine took the CPU it needed, so its rate and latencies are the machine's.
pub const CPU_WAIT_MARGIN_MS_PER_S: f64 = 50.0;

/// Leaves out the repeats the machine starved (`cpu_wait_ms_per_s` more than [`CPU_WAIT_MARGIN_MS_PER_S`] above the
/// lower of the two runs' median), saying which in `notes`. A side left with fewer than 2 repeats keeps them all,
/// with a note that its verdicts may be the machine's: a build whose own threads contend waits in every repeat, and
/// that must still be judged. Results without the figure (older files, other systems) are kept as they are.
fn uncontended<'a>(
    name: &str,
    b: Vec<&'a PointResult>,
    n: Vec<&'a PointResult>,
    notes: &mut Vec<String>,
) -> (Vec<&'a PointResult>, Vec<&'a PointResult>) {
    let median_wait = |ps: &[&PointResult]| -> Option<f64> {
        let mut w: Vec<f64> = ps.iter().map(|p| p.cpu_wait_ms_per_s).collect::<Option<_>>()?;
        (!w.is_empty()).then(|| Stat::Median.of(&mut w))
    };
    let (Some(mb), Some(mn)) = (median_wait(&b), median_wait(&n)) else { return (b, n) };
    let typical = mb.min(mn);
    let limit = typical + CPU_WAIT_MARGIN_MS_PER_S;
    let mut keep = |label: &str, ps: Vec<&'a PointResult>| -> Vec<&'a PointResult> {
        let (starved, kept): (Vec<&PointResult>, Vec<&PointResult>) =
            ps.iter().copied().partition(|p| p.cpu_wait_ms_per_s.is_some_and(|w| w > limit));
        if starved.is_empty() {
            return ps;
        }
        let join = |f: fn(&PointResult) -> String| starved.iter().map(|p| f(p)).collect::<Vec<_>>().join(", ");
        let waited = join(|p| format!("{:.0}", p.cpu_wait_ms_per_s.unwrap_or(0.0)));
        if kept.len() < 2 {
            notes.push(format!(
                "{name}: {} of {} repeats in {label} waited for a CPU ({waited} ms/s, against {typical:.0} ms/s \
                 typical): kept, as too few would be left; its verdicts may be the machine's",
                starved.len(),
                ps.len()
            ));
            return ps;
        }
        notes.push(format!(
            "{name}: repeat(s) {} in {label} left out: the process waited {waited} ms/s for a CPU, against \
             {typical:.0} ms/s typical (the machine was busy; more than {CPU_WAIT_MARGIN_MS_PER_S:.0} ms/s above \
             is left out)",
            join(|p| (p.repeat + 1).to_string())
        ));
        kept
    };
    (keep("base", b), keep("new", n))
}

/// Compares every point present in both runs.
pub fn compare(base: &RunResult, new: &RunResult, thresholds: Thresholds) -> Comparison {
    let (gb, gn) = (group(base), group(new));
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    // Keep the new run's point order (sweep order), not alphabetical.
    let mut seen = Vec::new();
    for p in &new.points {
        let name = key(p);
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let (Some(b_all), Some(n_all)) = (gb.get(&name), gn.get(&name)) else { continue };
        let (b, n) = (usable(b_all), usable(n_all));
        for (label, all, kept) in [("base", b_all, &b), ("new", n_all, &n)] {
            if kept.len() < all.len() {
                notes.push(format!(
                    "{name}: {} of {} repeats in {label} left out (failed, interrupted or nothing acknowledged)",
                    all.len() - kept.len(),
                    all.len()
                ));
            }
        }
        let (b, n) = uncontended(&name, b, n, &mut notes);
        // A point sent at a fixed rate spends its CPU mostly waking up on schedule, so its CPU per record follows
        // the machine more than the build (sd of log 0.10–0.20 between repeats at 20k records/s in the calibration
        // runs, and one false alarm in 28 A/A pairs): judged on closed-loop points only (or when the resolved
        // workload is not recorded).
        let open_loop = b.iter().chain(&n).any(|p| p.config.as_ref().is_some_and(|w| w.rate_records_per_s.is_some()));
        for m in METRICS {
            if m.name == "cpu_ns_per_record" && open_loop {
                continue;
            }
            let threshold = match m.kind {
                Kind::Throughput => thresholds.throughput_pct,
                Kind::Latency => thresholds.latency_pct,
            };
            let (sampling, bs, ns) = samples(m, &b, &n);
            if sampling == Sampling::PerSecond {
                shape_warnings(&name, m, "base", &bs, &mut warnings);
                shape_warnings(&name, m, "new", &ns, &mut warnings);
            }
            let stat = if sampling == Sampling::PerSecond { Stat::Median } else { Stat::Mean };
            let side = |gs: &[Vec<f64>]| {
                let mut pooled: Vec<f64> = gs.iter().flatten().copied().collect();
                Side { samples: pooled.len(), repeats: gs.len(), value: stat.of(&mut pooled) }
            };
            let (sb, sn) = (side(&bs), side(&ns));
            // Per repeat, one repeat a side has no noise to measure: no interval.
            let enough = sb.samples > 0
                && sn.samples > 0
                && (sampling == Sampling::PerSecond || (sb.repeats >= 2 && sn.repeats >= 2));
            let ci = match (enough, sampling) {
                (false, _) => None,
                (true, Sampling::PerSecond) => {
                    stats::bootstrap_change(&bs, &ns, stat, CONFIDENCE, stats::seed_of(&[&name, m.name]))
                }
                (true, Sampling::PerRepeat) => {
                    let flat = |gs: &[Vec<f64>]| -> Vec<f64> { gs.iter().flatten().copied().collect() };
                    stats::welch_log_change(&flat(&bs), &flat(&ns))
                }
            };
            let (verdict, lo, hi, detectable) = match ci {
                Some(i) => {
                    let (lo, hi) = (i.lo * 100.0, i.hi * 100.0);
                    let detectable = threshold + DETECTABLE_FACTOR * (hi - lo) / 2.0;
                    (judge((lo, hi), threshold, m.better), Some(lo), Some(hi), Some(detectable))
                }
                None => (Verdict::Insufficient, None, None, None),
            };
            changes.push(MetricChange {
                point: name.clone(),
                metric: m.name.to_string(),
                sampling,
                change_pct: change_pct(sb.value, sn.value),
                base: sb,
                new: sn,
                ci_low_pct: lo,
                ci_high_pct: hi,
                confidence_pct: CONFIDENCE * 100.0,
                threshold_pct: threshold,
                detectable_pct: detectable,
                verdict,
            });
        }
    }
    for (label, run) in [("base", base), ("new", new)] {
        let groups = group(run);
        if !groups.is_empty() && groups.values().all(|ps| ps.len() < 2) {
            notes.push(format!(
                "{label} has one repeat per point: its intervals see the noise within a run only, not between runs \
                 (run sweeps with `repeat: 3` or more to compare with confidence)"
            ));
        }
    }
    Comparison {
        confidence_pct: CONFIDENCE * 100.0,
        throughput_threshold_pct: thresholds.throughput_pct,
        latency_threshold_pct: thresholds.latency_pct,
        changes,
        warnings,
        notes,
        only_in_base: gb.keys().filter(|k| !gn.contains_key(*k)).map(|k| k.to_string()).collect(),
        only_in_new: gn.keys().filter(|k| !gb.contains_key(*k)).map(|k| k.to_string()).collect(),
    }
}

/// A metric's value for display: records/s as an integer, microseconds as ms.
pub fn fmt_value(metric: &str, v: f64) -> String {
    if metric.contains("_us") {
        format!("{:.3} ms", v / 1e3)
    } else if metric.contains("_ns") {
        format!("{v:.0} ns")
    } else {
        format!("{v:.0}")
    }
}

/// `12 s in 3 rep` (seconds over repeats), or `3 rep`.
pub fn fmt_samples(sampling: Sampling, s: &Side) -> String {
    match sampling {
        Sampling::PerSecond => format!("{} s in {} rep", s.samples, s.repeats),
        Sampling::PerRepeat => format!("{} rep", s.repeats),
    }
}

/// `[−18.1, −12.0]` or `–`.
pub fn fmt_ci(c: &MetricChange) -> String {
    match (c.ci_low_pct, c.ci_high_pct) {
        (Some(lo), Some(hi)) => format!("[{lo:+.1}, {hi:+.1}]"),
        _ => "–".into(),
    }
}

/// `±7.1` or `–`.
pub fn fmt_detectable(c: &MetricChange) -> String {
    c.detectable_pct.map_or("–".into(), |d| format!("±{d:.1}"))
}

impl Comparison {
    /// True if any metric got worse beyond its threshold at the stated confidence (for a non-zero exit code).
    pub fn has_regression(&self) -> bool {
        self.changes.iter().any(|c| c.verdict == Verdict::Worse)
    }

    /// How the verdicts are made, in one paragraph.
    pub fn method(&self) -> String {
        format!(
            "Verdicts at {:.0} % confidence: a metric is worse or better only when the whole {:.0} % interval of its \
             change lies beyond the threshold (throughput {:.1} %, latency {:.1} %); same when it lies within \
             ±threshold; noise when it straddles a threshold. Throughput and p99: median of the per-second samples \
             after warm-up, bootstrap interval (repeats, then blocks of seconds resampled). p50, p99.9 and service \
             p99, and CPU ns per record (threshold as throughput's): one value per repeat, Welch t-interval on logarithms. \
             Detectable: the smallest change found 80 % \
             of the time with this noise.",
            self.confidence_pct, self.confidence_pct, self.throughput_threshold_pct, self.latency_threshold_pct
        )
    }

    /// A markdown table: one row per point and metric, then the warnings and notes.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}\n", self.method());
        let _ = writeln!(
            s,
            "| point | metric | base | new | change % | {:.0} % CI % | detectable % | samples base / new | verdict |",
            self.confidence_pct
        );
        s.push_str("|---|---|---:|---:|---:|---:|---:|---|---|\n");
        for c in &self.changes {
            let mark = match c.verdict {
                Verdict::Worse => "**worse**".to_string(),
                v => v.label().to_string(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:+.1} | {} | {} | {} / {} | {} |",
                c.point,
                c.metric,
                fmt_value(&c.metric, c.base.value),
                fmt_value(&c.metric, c.new.value),
                c.change_pct,
                fmt_ci(c),
                fmt_detectable(c),
                fmt_samples(c.sampling, &c.base),
                fmt_samples(c.sampling, &c.new),
                mark
            );
        }
        if !self.warnings.is_empty() {
            s.push_str("\nWarnings (the interval rests on samples that are not one steady distribution):\n");
            for w in &self.warnings {
                let _ = writeln!(s, "- {} {} in {}: {}", w.point, w.metric, w.run, w.message);
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "\nNote: {n}");
        }
        for (label, names) in [("only in base", &self.only_in_base), ("only in new", &self.only_in_new)] {
            if !names.is_empty() {
                let _ = writeln!(s, "\nPoints {label}: {}", names.join(", "));
            }
        }
        s
    }
}
