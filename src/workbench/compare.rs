//! Compare two runs: per point (matched by name) and per metric, the change in %, and a verdict that accounts
//! for the noise measured from repeats.
//!
//! A change is significant only if it exceeds both the threshold and the noise, where
//! `noise_pct = max(K × √(rsd_base² + rsd_new²), (spread_base + spread_new) / 2) × 100`, `rsd` being the relative
//! sample standard deviation of a point's repeats and `spread` its relative min–max range. Without repeats the
//! noise is unknown (0) and only the threshold applies — run sweeps with `repeat: 3` or more to compare with
//! confidence.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::result::{PointResult, RunResult};

/// How many combined standard deviations a change must exceed to count.
pub const NOISE_K: f64 = 2.0;

/// Which way a metric is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

type Getter = fn(&PointResult) -> f64;

const METRICS: &[(&str, Better, Getter)] = &[
    ("rate_records_per_s", Better::Higher, |p| p.rate_records_per_s),
    ("rate_mb_per_s", Better::Higher, |p| p.rate_mb_per_s),
    ("response_time_us_p50", Better::Lower, |p| p.response_time_us_p50 as f64),
    ("response_time_us_p99", Better::Lower, |p| p.response_time_us_p99 as f64),
    ("response_time_us_p99_9", Better::Lower, |p| p.response_time_us_p99_9 as f64),
    ("service_time_us_p99", Better::Lower, |p| p.service_time_us_p99 as f64),
];

/// The outcome of one metric of one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    Noise,
}

/// Mean and noise of one point's repeats for one metric.
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

/// One metric of one point, base against new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricChange {
    pub point: String,
    pub metric: String,
    pub base: Sample,
    pub new: Sample,
    pub change_pct: f64,
    pub noise_pct: f64,
    pub verdict: Verdict,
}

/// All changes between two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub threshold_pct: f64,
    pub changes: Vec<MetricChange>,
    pub only_in_base: Vec<String>,
    pub only_in_new: Vec<String>,
}

/// Noise of the difference of two samples, in %.
pub fn noise_pct(base: &Sample, new: &Sample) -> f64 {
    let combined_sd = (base.rsd.powi(2) + new.rsd.powi(2)).sqrt();
    (NOISE_K * combined_sd).max((base.spread + new.spread) / 2.0) * 100.0
}

/// The relative change from `base` to `new` in %; a change from 0 counts as ±100 %.
pub fn change_pct(base: f64, new: f64) -> f64 {
    if base == 0.0 { if new == 0.0 { 0.0 } else { 100.0 * new.signum() } } else { (new - base) / base.abs() * 100.0 }
}

fn verdict(change: f64, noise: f64, threshold: f64, better: Better) -> Verdict {
    if change.abs() <= threshold || change.abs() <= noise {
        return Verdict::Noise;
    }
    match (change > 0.0, better) {
        (true, Better::Higher) | (false, Better::Lower) => Verdict::Better,
        _ => Verdict::Worse,
    }
}

/// The name a point is compared under: its name, with the peer appended for librdkafka and Java results so
/// peers never mix.
fn key(p: &PointResult) -> String {
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

/// Compares every point present in both runs. `threshold_pct` is the smallest change worth reporting.
pub fn compare(base: &RunResult, new: &RunResult, threshold_pct: f64) -> Comparison {
    let (gb, gn) = (group(base), group(new));
    let mut changes = Vec::new();
    // Keep the new run's point order (sweep order), not alphabetical.
    let mut seen = Vec::new();
    for p in &new.points {
        let name = key(p);
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let (Some(b), Some(n)) = (gb.get(&name), gn.get(&name)) else { continue };
        for (metric, better, get) in METRICS {
            let bv: Vec<f64> = b.iter().map(|p| get(p)).collect();
            let nv: Vec<f64> = n.iter().map(|p| get(p)).collect();
            let (Some(bs), Some(ns)) = (Sample::of(&bv), Sample::of(&nv)) else { continue };
            let change = change_pct(bs.mean, ns.mean);
            let noise = noise_pct(&bs, &ns);
            changes.push(MetricChange {
                point: name.to_string(),
                metric: metric.to_string(),
                base: bs,
                new: ns,
                change_pct: change,
                noise_pct: noise,
                verdict: verdict(change, noise, threshold_pct, *better),
            });
        }
    }
    Comparison {
        threshold_pct,
        changes,
        only_in_base: gb.keys().filter(|k| !gn.contains_key(*k)).map(|k| k.to_string()).collect(),
        only_in_new: gn.keys().filter(|k| !gb.contains_key(*k)).map(|k| k.to_string()).collect(),
    }
}

impl Comparison {
    /// True if any metric got significantly worse (for a non-zero exit code).
    pub fn has_regression(&self) -> bool {
        self.changes.iter().any(|c| c.verdict == Verdict::Worse)
    }

    /// A markdown table: one row per point and metric.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Threshold {:.1} %, noise = max({NOISE_K} × combined RSD, mean min–max spread).\n",
            self.threshold_pct
        );
        s.push_str("| point | metric | base | new | change % | noise % | verdict |\n");
        s.push_str("|---|---|---:|---:|---:|---:|---|\n");
        for c in &self.changes {
            let mark = match c.verdict {
                Verdict::Better => "better",
                Verdict::Worse => "**worse**",
                Verdict::Noise => "noise",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} (n={}) | {:.1} (n={}) | {:+.1} | {:.1} | {} |",
                c.point, c.metric, c.base.mean, c.base.n, c.new.mean, c.new.n, c.change_pct, c.noise_pct, mark
            );
        }
        for (label, names) in [("only in base", &self.only_in_base), ("only in new", &self.only_in_new)] {
            if !names.is_empty() {
                let _ = writeln!(s, "\nPoints {label}: {}", names.join(", "));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, rate: f64, p99: u64) -> PointResult {
        PointResult { name: name.into(), rate_records_per_s: rate, response_time_us_p99: p99, ..PointResult::default() }
    }

    fn run(points: Vec<PointResult>) -> RunResult {
        RunResult { points, ..RunResult::default() }
    }

    fn find<'a>(c: &'a Comparison, point: &str, metric: &str) -> &'a MetricChange {
        c.changes.iter().find(|m| m.point == point && m.metric == metric).unwrap()
    }

    #[test]
    fn peers_are_compared_with_themselves_only() {
        use crate::workbench::peers::Peer;
        let mut java = point("a", 100.0, 9000);
        java.peer = Peer::Java;
        let base = run(vec![point("a", 1000.0, 100), java.clone()]);
        let mut java_new = java.clone();
        java_new.rate_records_per_s = 50.0;
        let new = run(vec![point("a", 1000.0, 100), java_new]);
        let c = compare(&base, &new, 5.0);
        assert_eq!(find(&c, "a", "rate_records_per_s").verdict, Verdict::Noise, "kprod unchanged");
        assert_eq!(find(&c, "a [java]", "rate_records_per_s").change_pct, -50.0);
        assert!(c.only_in_base.is_empty() && c.only_in_new.is_empty());
    }

    #[test]
    fn sample_statistics() {
        let s = Sample::of(&[90.0, 100.0, 110.0]).unwrap();
        assert_eq!(s.mean, 100.0);
        assert!((s.rsd - 0.1).abs() < 1e-12, "sample sd of 90,100,110 is 10");
        assert!((s.spread - 0.2).abs() < 1e-12);
        let one = Sample::of(&[5.0]).unwrap();
        assert_eq!((one.rsd, one.spread, one.n), (0.0, 0.0, 1));
        assert!(Sample::of(&[]).is_none());
        assert_eq!(change_pct(200.0, 150.0), -25.0);
        assert_eq!(change_pct(0.0, 0.0), 0.0);
        // rsd 0.1 on both sides: 2 × √0.02 = 28.28 %, above the mean spread of 20 %.
        assert!((noise_pct(&s, &s) - 28.284).abs() < 0.01);
    }

    #[test]
    fn verdicts_without_repeats_use_the_threshold() {
        let base = run(vec![point("a", 1000.0, 100)]);
        let new = run(vec![point("a", 1200.0, 104)]);
        let c = compare(&base, &new, 5.0);
        assert_eq!(find(&c, "a", "rate_records_per_s").verdict, Verdict::Better);
        assert_eq!(find(&c, "a", "rate_records_per_s").change_pct, 20.0);
        assert_eq!(find(&c, "a", "response_time_us_p99").verdict, Verdict::Noise, "+4 % is under 5 %");
        assert!(!c.has_regression());
        let slower = run(vec![point("a", 1000.0, 150)]);
        let c = compare(&base, &slower, 5.0);
        assert_eq!(find(&c, "a", "response_time_us_p99").verdict, Verdict::Worse);
        assert!(c.has_regression());
    }

    #[test]
    fn noisy_repeats_absorb_a_change_quiet_ones_do_not() {
        let noisy_base = run(vec![point("a", 800.0, 100), point("a", 1000.0, 100), point("a", 1200.0, 100)]);
        let noisy_new = run(vec![point("a", 700.0, 100), point("a", 900.0, 100), point("a", 1100.0, 100)]);
        let c = compare(&noisy_base, &noisy_new, 5.0);
        let m = find(&c, "a", "rate_records_per_s");
        assert_eq!(m.change_pct, -10.0);
        assert!(m.noise_pct > 10.0);
        assert_eq!(m.verdict, Verdict::Noise, "−10 % inside ±20 % repeat noise");
        let quiet_base = run(vec![point("a", 995.0, 100), point("a", 1000.0, 100), point("a", 1005.0, 100)]);
        let quiet_new = run(vec![point("a", 895.0, 100), point("a", 900.0, 100), point("a", 905.0, 100)]);
        let c = compare(&quiet_base, &quiet_new, 5.0);
        assert_eq!(find(&c, "a", "rate_records_per_s").verdict, Verdict::Worse);
        assert!(c.has_regression());
    }

    #[test]
    fn unmatched_points_and_markdown() {
        let base = run(vec![point("a", 1.0, 1), point("gone", 1.0, 1)]);
        let new = run(vec![point("fresh", 1.0, 1), point("a", 2.0, 1)]);
        let c = compare(&base, &new, 5.0);
        assert_eq!(c.only_in_base, ["gone"]);
        assert_eq!(c.only_in_new, ["fresh"]);
        assert!(c.changes.iter().all(|m| m.point == "a"));
        let md = c.to_markdown();
        assert!(md.contains("| a | rate_records_per_s | 1.0 (n=1) | 2.0 (n=1) | +100.0 | 0.0 | better |"), "{md}");
        assert!(md.contains("Points only in base: gone"));
    }
}
