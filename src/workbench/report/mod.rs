//! Reports from a [`RunResult`]: `index.html` (self-contained, inline SVG), `summary.md` and `results.csv`.
//!
//! Repeats of a point are aggregated into one row: throughput as mean with its noise (relative standard deviation
//! and min–max), latency percentiles from the *merged* histograms of the repeats (never averaged).
//! [`regenerate`] rebuilds every file from `result.json`, which is what `kprod report DIR` calls.

pub mod compare;
pub mod header;
pub mod html;
pub mod peers;
pub mod svg;
pub mod text;
pub mod tls_overhead;

use std::path::{Path, PathBuf};

use super::compare::Sample;
use super::histograms::Metric;
use super::peers::Peer;
use super::result::{PointResult, PointStatus, ResultError, RunResult};

/// Errors writing or regenerating a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error(transparent)]
    Result(#[from] ResultError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// One point name with its repeats folded together.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    /// The producer measured (one row per point and peer).
    pub peer: Peer,
    pub dims: Vec<(String, String)>,
    pub repeats: usize,
    pub rate: Sample,
    pub rate_min: f64,
    pub rate_max: f64,
    pub mb_per_s: f64,
    pub response_time_us_p50: u64,
    pub response_time_us_p99: u64,
    pub response_time_us_p99_9: u64,
    pub response_time_us_max: u64,
    pub service_time_us_p99: u64,
    pub batch_bytes_avg: Option<f64>,
    pub records_per_request_avg: Option<f64>,
    pub compression_ratio_avg: Option<f64>,
    pub cpu_time_ns_per_record: Option<f64>,
    pub errors: u64,
    /// Response-time samples behind the percentiles (records acked in the measured phases).
    pub samples: u64,
    /// `ok`, or the worst status of the repeats (`failed` before `interrupted`).
    pub status: PointStatus,
    /// Why the (first failed) repeat failed.
    pub failure: Option<String>,
}

/// Samples needed for percentile `q` (0..=1) to mean something: at least 1/(1−q) (p50: 2, p99: 100, p99.9:
/// 1000); the maximum needs one.
pub fn min_samples(q: f64) -> u64 {
    if q >= 1.0 { 1 } else { (1.0 / (1.0 - q)).round() as u64 }
}

/// A latency in ms for display, or `None` ("n/a") when `samples` are too few for percentile `q`.
pub fn pct_ms(us: u64, samples: u64, q: f64) -> Option<f64> {
    (samples >= min_samples(q)).then(|| us as f64 / 1e3)
}

/// `12.345`, or `n/a` when there are too few samples for percentile `q`.
pub fn fmt_pct(us: u64, samples: u64, q: f64) -> String {
    pct_ms(us, samples, q).map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

/// The noise of a row's throughput in %, or why it cannot be measured (one repeat).
pub fn fmt_rsd(r: &Row) -> String {
    if r.repeats < 2 { "n/a (1 run)".into() } else { format!("{:.1}", r.rate.rsd * 100.0) }
}

/// `1 point`, `3 points`.
pub fn plural(n: usize, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

fn mean_opt(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = v.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Percentile over all repeats from merged histograms; if a histogram is missing, the worst repeat's value.
fn merged_quantile(points: &[&PointResult], metric: Metric, q: f64, stored: fn(&PointResult) -> u64) -> u64 {
    let mut merged: Option<hdrhistogram::Histogram<u64>> = None;
    for p in points {
        match p.histogram(metric) {
            Ok(Some(h)) => match &mut merged {
                Some(m) => {
                    if m.add(&h).is_err() {
                        return points.iter().map(|p| stored(p)).max().unwrap_or(0);
                    }
                }
                None => merged = Some(h),
            },
            _ => return points.iter().map(|p| stored(p)).max().unwrap_or(0),
        }
    }
    match merged {
        Some(h) if q >= 1.0 => h.max(),
        Some(h) => h.value_at_quantile(q),
        None => 0,
    }
}

impl Row {
    /// The point name, with the peer appended for librdkafka and Java (`bs=16k [java]`).
    pub fn label(&self) -> String {
        match self.peer {
            Peer::Kprod => self.name.clone(),
            p => format!("{} [{p}]", self.name),
        }
    }

    /// The results this row folds.
    pub fn points<'a>(&self, run: &'a RunResult) -> Vec<&'a PointResult> {
        run.points.iter().filter(|p| p.name == self.name && p.peer == self.peer).collect()
    }
}

/// Folds repeats into rows (one per point and peer), in order of first appearance.
pub fn aggregate(run: &RunResult) -> Vec<Row> {
    let mut order: Vec<(&str, Peer)> = Vec::new();
    for p in &run.points {
        if !order.contains(&(p.name.as_str(), p.peer)) {
            order.push((&p.name, p.peer));
        }
    }
    order
        .into_iter()
        .map(|(name, peer)| {
            let ps: Vec<&PointResult> = run.points.iter().filter(|p| p.name == name && p.peer == peer).collect();
            let rates: Vec<f64> = ps.iter().map(|p| p.rate_records_per_s).collect();
            let rate = Sample::of(&rates).unwrap_or(Sample { mean: 0.0, rsd: 0.0, spread: 0.0, n: 0 });
            Row {
                name: name.to_string(),
                peer,
                dims: ps[0].dims.clone(),
                repeats: ps.len(),
                rate,
                rate_min: rates.iter().copied().fold(f64::MAX, f64::min),
                rate_max: rates.iter().copied().fold(f64::MIN, f64::max),
                mb_per_s: ps.iter().map(|p| p.rate_mb_per_s).sum::<f64>() / ps.len() as f64,
                response_time_us_p50: merged_quantile(&ps, Metric::ResponseTime, 0.5, |p| p.response_time_us_p50),
                response_time_us_p99: merged_quantile(&ps, Metric::ResponseTime, 0.99, |p| p.response_time_us_p99),
                response_time_us_p99_9: merged_quantile(&ps, Metric::ResponseTime, 0.999, |p| p.response_time_us_p99_9),
                response_time_us_max: ps.iter().map(|p| p.response_time_us_max).max().unwrap_or(0),
                service_time_us_p99: merged_quantile(&ps, Metric::ServiceTime, 0.99, |p| p.service_time_us_p99),
                batch_bytes_avg: mean_opt(ps.iter().map(|p| p.batch_bytes_avg)),
                records_per_request_avg: mean_opt(ps.iter().map(|p| p.records_per_request_avg)),
                compression_ratio_avg: mean_opt(ps.iter().map(|p| p.compression_ratio_avg)),
                cpu_time_ns_per_record: mean_opt(ps.iter().map(|p| p.cpu_time_ns_per_record)),
                errors: ps.iter().map(|p| p.records_failed).sum(),
                samples: ps.iter().map(|p| p.records_acked).sum(),
                status: if ps.iter().any(|p| p.status == PointStatus::Failed) {
                    PointStatus::Failed
                } else if ps.iter().any(|p| p.status == PointStatus::Interrupted) {
                    PointStatus::Interrupted
                } else if ps.iter().any(|p| p.status == PointStatus::Partial) {
                    PointStatus::Partial
                } else {
                    PointStatus::Ok
                },
                failure: ps.iter().find_map(|p| p.failure.clone()),
            }
        })
        .collect()
}

/// Writes `index.html`, `summary.md` and `results.csv` into `dir`.
pub fn write_report(run: &RunResult, dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let rows = aggregate(run);
    let files = header::RunFiles::scan(dir);
    let files = [
        ("index.html", html::index(run, &rows, &files)),
        ("summary.md", text::summary(run, &rows)),
        ("results.csv", text::csv(run)),
    ];
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(|source| ReportError::Io { path, source })?;
    }
    Ok(())
}

/// Rebuilds every report file of a run folder from its `result.json`.
pub fn regenerate(dir: &Path) -> Result<(), ReportError> {
    let run = RunResult::load(dir)?;
    write_report(&run, dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbench::histograms::Recorder;
    use crate::workbench::result::Counts;
    use std::time::Duration;

    /// A point whose response times are `base_us..base_us + 1000`.
    pub(crate) fn point(name: &str, dims: &[(&str, &str)], repeat: u32, base_us: u64, rate: f64) -> PointResult {
        let mut r = Recorder::new();
        for v in 0..1000 {
            r.record(Metric::ResponseTime, base_us + v);
            r.record(Metric::ServiceTime, base_us / 2 + v);
        }
        let counts = Counts { records_sent: 1000, records_acked: 1000, ..Counts::default() };
        let mut p = PointResult::summarize(&r, &counts, Duration::from_secs(1));
        p.name = name.into();
        p.dims = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        p.repeat = repeat;
        p.rate_records_per_s = rate;
        p.time_series = (1..=3)
            .map(|t| crate::workbench::result::TimePoint {
                t_s: t as f64,
                records_per_s: rate,
                mb_per_s: rate / 1e4,
                response_time_us_p99: base_us + 990,
                errors: 0,
                warmup: t == 1,
            })
            .collect();
        p
    }

    pub(crate) fn grid_run() -> RunResult {
        let mut run = RunResult { name: "grid".into(), ..RunResult::default() };
        for (i, bs) in ["16384", "65536"].iter().enumerate() {
            for (j, l) in ["0", "5"].iter().enumerate() {
                for rep in 0..2 {
                    let name = format!("batch.size={bs}-linger.ms={l}");
                    let base = 1000 * (1 + i as u64 + 2 * j as u64) + 5000 * rep;
                    run.points.push(point(
                        &name,
                        &[("batch.size", bs), ("linger.ms", l)],
                        rep as u32,
                        base,
                        1000.0 + 100.0 * rep as f64,
                    ));
                }
            }
        }
        run
    }

    #[test]
    fn repeats_fold_with_merged_percentiles_and_noise() {
        let run = grid_run();
        let rows = aggregate(&run);
        assert_eq!(rows.len(), 4);
        let r = &rows[0];
        assert_eq!((r.repeats, r.rate.mean, r.rate_min, r.rate_max), (2, 1050.0, 1000.0, 1100.0));
        // Repeats hold 1000..2000 and 6000..7000 µs: merged p50 is the top of the first, not the mean of p50s (4000).
        assert!(
            (1995..=2000).contains(&r.response_time_us_p50) || (5995..=6005).contains(&r.response_time_us_p50),
            "{}",
            r.response_time_us_p50
        );
        assert!(r.response_time_us_p99 > 6900, "{}", r.response_time_us_p99);
        assert!(r.rate.rsd > 0.06 && r.rate.rsd < 0.07);
    }

    #[test]
    fn one_point_shows_its_figures_not_a_lone_dot() {
        let mut run = grid_run();
        run.points.truncate(1);
        let html = html::index(&run, &aggregate(&run), &Default::default());
        assert!(html.contains(r#"<div id="single-point""#), "{html}");
        assert_eq!(html.matches(r#"class="figure""#).count(), 6);
        assert!(!html.contains("tput-vs-latency"), "no throughput-vs-latency chart for one point");
        assert!(html.contains(r#"id="spectrum""#) && html.contains(r#"id="rate-over-time""#));
        let two = grid_run();
        let html = html::index(&two, &aggregate(&two), &Default::default());
        assert!(!html.contains("single-point") && html.contains("tput-vs-latency"));
    }

    #[test]
    fn regenerate_writes_every_file_from_result_json() {
        let dir = std::env::temp_dir().join(format!("kprod-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        grid_run().save(&dir).unwrap();
        std::fs::write(dir.join("flamegraph.svg"), "<svg/>").unwrap();
        regenerate(&dir).unwrap();
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert_eq!(html.matches(r#"<tr class="point""#).count(), 4);
        for id in
            ["tput-vs-latency-batch.size", "tput-vs-latency-linger.ms", "spectrum", "rate-over-time", "p99-over-time"]
        {
            assert!(html.contains(&format!(r#"id="{id}""#)), "missing chart {id}");
        }
        assert!(html.contains(r#"id="heatmap-throughput-batch.size-linger.ms""#));
        assert!(html.contains(r#"id="heatmap-p99-batch.size-linger.ms""#));
        assert!(html.contains(r#"href="flamegraph.svg""#));
        // The points' first second is warm-up: shaded on both over-time charts, on no other.
        for id in ["rate-over-time", "p99-over-time"] {
            let chart = &html[html.find(&format!(r#"id="{id}""#)).unwrap()..];
            let chart = &chart[..chart.find("</svg>").unwrap()];
            assert!(chart.contains(r#"<g class="band" data-from="0" data-to="1">"#), "{id}: no warm-up band");
        }
        assert_eq!(html.matches(r#"<rect class="band""#).count(), 2);
        // No network: one inline script (the charts' hover and legend toggles), nothing fetched.
        assert!(!html.contains("https://") && !html.contains("src="), "no network");
        assert_eq!(html.matches("<script>").count(), 1);
        assert!(html.contains(super::svg::SCRIPT));
        let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        assert!(md.contains("| batch.size=16384-linger.ms=0 |"), "{md}");
        let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 8, "header + one line per repeat");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(regenerate(&dir).is_err(), "a missing result.json is an error");
    }
}
