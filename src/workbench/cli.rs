//! `kprod run`, `kprod report` and `kprod compare`: options and what they print.
//!
//! `kprod run` prints the plan (points, estimated duration, warnings), a header per point with the points left and
//! the ETA, the runner's live line, then a summary table with units and the accounting check. Exit codes: 0 when
//! every record sent was acknowledged or counted as failed (failures are results, not errors), 1 when a record is
//! unaccounted for; `kprod compare` exits 1 on a significant regression. Errors (bad file, bad option) are `Err`.

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::compare;
use super::report;
use super::result::{PointStatus, RunResult};
use super::run_cmd::{self, RunOutcome, RunSettings};
use super::runner::Progress;
use super::shard::ShardArgError;

/// Why `kprod run`, `report`, `merge` or `compare` stopped with an error (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    #[error("--drain-timeout-s must be within 0..=86400, got {0}")]
    DrainTimeout(f64),
    #[error("--profile-hz must be within 1..={}, got {hz}", super::profile::FREQUENCY_HZ_MAX)]
    ProfileHz { hz: i32 },
    #[error("--clock-offset-ms must be within ±{}", super::shard::CLOCK_OFFSET_MAX_MS)]
    ClockOffset,
    #[error("--clock-tolerance-ms must be >= 0, got {0}")]
    ClockTolerance(f64),
    /// `--threshold` or `--latency-threshold` below zero or not a number.
    #[error("{flag} must be a percentage >= 0, got {value}")]
    Threshold { flag: &'static str, value: f64 },
    #[error(transparent)]
    Shard(#[from] ShardArgError),
    #[error(transparent)]
    Run(#[from] run_cmd::RunCmdError),
    #[error(transparent)]
    Merge(#[from] super::merge::MergeError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(transparent)]
    Result(#[from] super::result::ResultError),
    /// `kprod compare`: no point of the new run has a namesake in the baseline.
    #[error("no point of {} has a match (by name) in {}: nothing to compare", new.display(), base.display())]
    NothingToCompare { base: PathBuf, new: PathBuf },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("{}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    /// A live line on a terminal, plain lines otherwise.
    Auto,
    /// One line per second.
    Plain,
    Off,
}

/// Options of `kprod run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Workload file (kprod or OpenMessaging Benchmark YAML); lists in it make a sweep.
    #[arg(value_name = "WORKLOAD")]
    pub workload: PathBuf,
    /// Produce to this cluster (host:port,...) instead of the embedded mock broker.
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// Override a workload field or producer property; the value is YAML, so `linger.ms=[0,5]` makes a sweep.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Folder in which the run folder `<timestamp>-<name>/` is created.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Run every point N times (overrides `sweep.repeat`).
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Write flamegraph.svg of the measured phases (CPU samples of every thread) into the run folder.
    #[arg(long)]
    pub profile: bool,
    /// Profiling: samples per second of CPU time (implies --profile). More samples read finer paths, at a higher
    /// cost in throughput (the run's summary states the profiled rate).
    #[arg(long, value_name = "HZ")]
    pub profile_hz: Option<i32>,
    /// Print the plan and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the rest of a sweep after a point fails (default: the sweep stops at the first failed point).
    #[arg(long)]
    pub keep_going: bool,
    /// Seconds a point waits for outstanding acks after sending stops; still outstanding then = failed.
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub drain_timeout_s: f64,
    /// Run share I (0-based) of N of the workload: its share of rate, records, producers and keys. Merge the N
    /// result folders with `kprod merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<super::shard::ShardId>,
    /// Start the intended schedule at this instant (RFC 3339 or Unix ms), the same for every shard. A shard that
    /// starts later reports how late and counts it as schedule lag.
    #[arg(long, value_name = "TIME", conflicts_with = "start_in")]
    pub start_at: Option<String>,
    /// Start the intended schedule this long from now (`30s`, `500ms`, `2m`).
    #[arg(long, value_name = "DURATION")]
    pub start_in: Option<String>,
    /// Shift this process's wall clock by this many ms (to test that a shard with a wrong clock is reported).
    #[arg(long, value_name = "MS", default_value_t = 0, allow_hyphen_values = true, hide = true)]
    pub clock_offset_ms: i64,
}

impl RunArgs {
    pub fn settings(&self) -> Result<RunSettings, CliError> {
        if !(self.drain_timeout_s.is_finite() && (0.0..=86_400.0).contains(&self.drain_timeout_s)) {
            return Err(CliError::DrainTimeout(self.drain_timeout_s));
        }
        let mut s = RunSettings::new(&self.workload);
        s.sets = self.set.clone();
        s.bootstrap = self.bootstrap_server.clone();
        s.out = self.out.clone();
        s.repeat = self.repeat;
        s.progress = match self.progress {
            ProgressArg::Auto => Progress::Auto,
            ProgressArg::Plain => Progress::Plain,
            ProgressArg::Off => Progress::Off,
        };
        s.profile = self.profile || self.profile_hz.is_some();
        if let Some(hz) = self.profile_hz {
            let max = super::profile::FREQUENCY_HZ_MAX;
            if !(1..=max).contains(&hz) {
                return Err(CliError::ProfileHz { hz });
            }
            s.profile_hz = hz;
        }
        s.keep_going = self.keep_going;
        s.drain_timeout = Duration::from_secs_f64(self.drain_timeout_s);
        if self.clock_offset_ms.abs() > super::shard::CLOCK_OFFSET_MAX_MS {
            return Err(CliError::ClockOffset);
        }
        s.clock_offset_ms = self.clock_offset_ms;
        s.shard = self.shard;
        let now = super::shard::ShardClock { offset_ms: self.clock_offset_ms }.now();
        let start = match (&self.start_at, &self.start_in) {
            (Some(t), _) => Some(super::shard::StartAt::parse(t)?),
            (None, Some(d)) => Some(super::shard::StartAt::after(d, now)?),
            (None, None) => None,
        };
        s.start_at = start.map(|t| t.check(now)).transpose()?.map(|t| t.0);
        Ok(s)
    }
}

/// `kprod run`: returns the process exit code.
pub async fn run_cli(args: RunArgs) -> Result<i32, CliError> {
    let settings = args.settings()?;
    let plan = run_cmd::plan(&settings)?;
    print!("{}", plan.describe());
    if args.dry_run {
        return Ok(0);
    }
    let signals = tokio::spawn(on_ctrl_c(settings.stop.clone()));
    let outcome = run_cmd::execute(&settings, &plan).await;
    signals.abort();
    let outcome = outcome?;
    print!("{}", summary(&outcome));
    if outcome.interrupted() {
        println!("interrupted: partial results in {} (result.json, index.html)", outcome.dir.display());
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(if outcome.unaccounted() > 0 || !outcome.failed().is_empty() { 1 } else { 0 })
}

/// The exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// The first Ctrl-C stops sending (the point in progress drains briefly and is kept); the second exits at once.
async fn on_ctrl_c(stop: super::runner::Stop) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    stop.trigger();
    eprintln!(
        "\ninterrupted: stopping; draining outstanding records for at most {} s (Ctrl-C again to exit at once)",
        super::runner::INTERRUPT_DRAIN_MAX.as_secs()
    );
    if tokio::signal::ctrl_c().await.is_ok() {
        // No JVM of a peer may outlive kprod (they run in process groups of their own).
        crate::workbench::peers::kill_running_tools();
        eprintln!("interrupted again: exiting now (the points finished before are in the run folder)");
        std::process::exit(EXIT_INTERRUPTED);
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

/// The end-of-run text: table with units, per-point details for a single point, accounting, where the files are.
pub fn summary(outcome: &RunOutcome) -> String {
    let run = &outcome.result;
    let rows = report::aggregate(run);
    let mut s = String::new();
    let label = |r: &report::Row| {
        if r.peer == crate::workbench::peers::Peer::Kprod { r.name.clone() } else { format!("{} [{}]", r.name, r.peer) }
    };
    let width = rows.iter().map(|r| label(r).len()).max().unwrap_or(5).clamp(5, 60);
    let _ = writeln!(
        s,
        "\n{:<width$}  {:>12}  {:>8}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}",
        "point", "records/s", "MB/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
    );
    for r in &rows {
        if r.status == PointStatus::Failed && r.samples == 0 {
            let _ = writeln!(
                s,
                "{:<width$}  FAILED: {}",
                label(r),
                r.failure.as_deref().unwrap_or("no record acknowledged")
            );
            continue;
        }
        let _ = writeln!(
            s,
            "{:<width$}  {:>12.0}  {:>8.2}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}{}{}",
            label(r),
            r.rate.mean,
            r.mb_per_s,
            report::fmt_pct(r.response_time_us_p50, r.samples, 0.5),
            report::fmt_pct(r.response_time_us_p99, r.samples, 0.99),
            report::fmt_pct(r.response_time_us_p99_9, r.samples, 0.999),
            report::fmt_pct(r.response_time_us_max, r.samples, 1.0),
            r.errors,
            if r.repeats > 1 {
                format!("  ({} repeats, RSD {:.1} %)", r.repeats, r.rate.rsd * 100.0)
            } else {
                String::new()
            },
            match r.status {
                PointStatus::Ok => String::new(),
                PointStatus::Interrupted => "  (interrupted: partial)".into(),
                PointStatus::Partial => format!("  PARTIAL: {}", r.failure.as_deref().unwrap_or("")),
                PointStatus::Failed => format!("  FAILED: {}", r.failure.as_deref().unwrap_or("")),
            }
        );
    }
    s.push_str(
        "(latency = response time: intended send → ack, warm-up excluded; n/a = too few samples for the percentile;\n \
         MB = 10^6 bytes of key + value before compression, headers excluded)\n",
    );
    s.push_str(&report::tls_overhead::markdown(run, &rows));
    if let [p] = run.points.as_slice() {
        details(&mut s, p);
    }
    let errors = run.points.iter().flat_map(|p| &p.errors).fold(
        std::collections::BTreeMap::<&str, u64>::new(),
        |mut m, (k, v)| {
            *m.entry(k).or_default() += v;
            m
        },
    );
    if !errors.is_empty() {
        let kinds: Vec<String> = errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "errors by kind (measured phase): {}", kinds.join(", "));
    }
    let a = outcome.accounting();
    let unaccounted = outcome.unaccounted();
    let _ = writeln!(
        s,
        "accounting (warm-up included): {} records sent = {} acked + {} failed + {} refused at send; {} unaccounted{}",
        a.records_sent,
        a.records_acked,
        a.records_failed,
        a.records_refused,
        unaccounted,
        if unaccounted == 0 { " — OK" } else { " — FAILED" }
    );
    for w in run.points.iter().flat_map(|p| &p.warnings).filter(|w| w.contains("without an outcome")) {
        let _ = writeln!(s, "  {w}");
    }
    for w in run.points.iter().flat_map(|p| &p.warnings).filter(|w| w.contains("missed its target")) {
        let _ = writeln!(s, "warning: {w}");
    }
    if let Some(why) = &run.stopped {
        let _ = writeln!(s, "stopped: {why}");
    }
    if !run.points_not_run.is_empty() {
        let _ = writeln!(
            s,
            "{} not run: {}",
            report::plural(run.points_not_run.len(), "point"),
            run.points_not_run.join(", ")
        );
    }
    if let Some(p) = &run.profile {
        let _ = writeln!(
            s,
            "flame graph: {} ({}; run without --profile to compare the rate)",
            outcome.dir.join("flamegraph.svg").display(),
            p.describe()
        );
    }
    let _ = writeln!(s, "report: {}", outcome.dir.join("index.html").display());
    s
}

fn details(s: &mut String, p: &super::result::PointResult) {
    let opt =
        |v: Option<f64>, unit: &str, digits: usize| v.map_or("n/a".to_string(), |v| format!("{v:.digits$}{unit}"));
    let _ = writeln!(
        s,
        "service time (send → ack): p50 {:.3} ms, p99 {:.3} ms · schedule lag p99 {:.3} ms · {} records acked in {:.1} s",
        ms(p.service_time_us_p50),
        ms(p.service_time_us_p99),
        ms(p.schedule_lag_us_p99),
        p.records_acked,
        p.duration_s
    );
    let _ = writeln!(
        s,
        "producer: queue time avg {} · request latency p50 {} p99 {} · batch {} avg, {} records avg · {} records/request · \
         compression ratio {} · CPU {} per record{}",
        opt(p.queue_time_us_avg.map(|v| v / 1e3), " ms", 3),
        opt(p.request_latency_us_p50.map(|v| v as f64 / 1e3), " ms", 3),
        opt(p.request_latency_us_p99.map(|v| v as f64 / 1e3), " ms", 3),
        opt(p.batch_bytes_avg, " B", 0),
        opt(p.batch_records_avg, "", 1),
        opt(p.records_per_request_avg, "", 1),
        opt(p.compression_ratio_avg, "", 2),
        opt(p.cpu_time_ns_per_record.map(|v| v / 1e3), " µs", 2),
        runner_share(p),
    );
}

/// ` (runner 0.03 µs, 12 %)`: what the harness itself costs per record, beside the point's whole CPU.
fn runner_share(p: &super::result::PointResult) -> String {
    match (p.runner_cpu_ns_per_record, p.cpu_time_ns_per_record) {
        (Some(r), Some(all)) if all > 0.0 => format!(" (runner {:.3} µs, {:.0} %)", r / 1e3, 100.0 * r / all),
        (Some(r), _) => format!(" (runner {:.3} µs)", r / 1e3),
        _ => String::new(),
    }
}

/// Options of `kprod merge`.
#[derive(Debug, Clone, clap::Args)]
pub struct MergeArgs {
    /// The shards' run folders (each holding result.json and intervals/), one per shard.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Folder to write the merged run into (created; must not hold a result already).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A shard whose clock is off by more than this (ms), or not synchronized, is flagged.
    #[arg(long, value_name = "MS", default_value_t = super::merge::CLOCK_TOLERANCE_MS_DEFAULT)]
    pub clock_tolerance_ms: f64,
}

/// `kprod merge DIR... --out DIR`: exit 1 when records are unaccounted for, as `kprod run`.
pub fn merge_cli(args: MergeArgs) -> Result<i32, CliError> {
    if !(args.clock_tolerance_ms.is_finite() && args.clock_tolerance_ms >= 0.0) {
        return Err(CliError::ClockTolerance(args.clock_tolerance_ms));
    }
    let merged = super::merge::merge_dirs(&args.dirs, &args.out, args.clock_tolerance_ms)?;
    let outcome = RunOutcome { dir: args.out.clone(), result: merged };
    print!("{}", super::merge::shard_table(&outcome.result.shards));
    print!("{}", summary(&outcome));
    for w in outcome.result.points.iter().flat_map(|p| &p.warnings).filter(|w| w.starts_with("shard ")) {
        println!("warning: {w}");
    }
    Ok(if outcome.unaccounted() > 0 { 1 } else { 0 })
}

/// Options of `kprod report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// A run folder, or its result.json.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `kprod report DIR` (or `DIR/result.json`): rebuilds index.html, summary.md and results.csv from result.json.
pub fn report_cli(args: ReportArgs) -> Result<i32, CliError> {
    let dir = RunResult::dir_of(&args.dir);
    report::regenerate(&dir)?;
    println!("report: {}", dir.join("index.html").display());
    Ok(0)
}

/// Options of `kprod compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The baseline: a run folder or its result.json.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The new run: a run folder or its result.json.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Smallest throughput change in % that counts: a verdict needs the whole 99 % interval beyond it.
    #[arg(long, value_name = "PCT", default_value_t = compare::THROUGHPUT_THRESHOLD_PCT)]
    pub threshold: f64,
    /// Smallest latency-percentile change in % that counts (p50, p99, p99.9, service p99).
    #[arg(long, value_name = "PCT", default_value_t = compare::LATENCY_THRESHOLD_PCT)]
    pub latency_threshold: f64,
    /// Also write the comparison as JSON (every verdict with its interval, confidence and detectable change).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a side-by-side HTML page: both runs' charts overlaid and the verdict table.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `kprod compare BASE NEW`: prints a markdown table; exit code 1 on a significant regression.
pub fn compare_cli(args: CompareArgs) -> Result<i32, CliError> {
    for (flag, value) in [("--threshold", args.threshold), ("--latency-threshold", args.latency_threshold)] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(CliError::Threshold { flag, value });
        }
    }
    let base = RunResult::load(&args.base)?;
    let new = RunResult::load(&args.new)?;
    let thresholds = compare::Thresholds { throughput_pct: args.threshold, latency_pct: args.latency_threshold };
    let c = compare::compare(&base, &new, thresholds);
    if c.changes.is_empty() {
        return Err(CliError::NothingToCompare { base: args.base.clone(), new: args.new.clone() });
    }
    print!("{}", c.to_markdown());
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&c)?;
        std::fs::write(path, json).map_err(|source| CliError::Write { path: path.clone(), source })?;
    }
    if let Some(path) = &args.html {
        let labels = (args.base.display().to_string(), args.new.display().to_string());
        let page = report::compare::page(&base, &new, &c, &labels);
        std::fs::write(path, page).map_err(|source| CliError::Write { path: path.clone(), source })?;
        println!("\ncomparison page: {}", path.display());
    }
    if c.has_regression() {
        println!(
            "\nregression: at least one metric is worse beyond its threshold at {:.0} % confidence",
            c.confidence_pct
        );
        Ok(1)
    } else {
        Ok(0)
    }
}
