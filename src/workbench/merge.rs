//! `kprod merge DIR... --out DIR`: the result folders of N shards (`kprod run --shard I/N`) made one run.
//!
//! Checks first, each error naming the folder at fault: every folder is a shard result (`shard` in its
//! `result.json`) of one point; all have the same workload hash, shard count and commit (when recorded); every
//! index `0..N` is there exactly once; every stored histogram and interval log line decodes.
//!
//! Then the merge, exact where the data allow it:
//! * counts (sent, acked, failed, bytes, errors by kind, the accounting) are summed;
//! * histograms are *added* (HdrHistogram `add`): the merged percentiles are those of all the records in one
//!   histogram, never an average of the shards' percentiles;
//! * the rate is the sum of the shards' rates (each over its own measured window, which `--start-at` makes the
//!   same window), the duration the longest shard's;
//! * interval logs are aligned by absolute time: each interval's Unix start (the log's StartTime plus its offset)
//!   is placed in the whole second it falls nearest to, counted from the earliest shard's start, and all shards'
//!   intervals in one second are added; the per-second series of the report takes its p99 from those merged
//!   intervals;
//! * the configuration is the whole workload's (the shard's share undone, [`shard::unsplit`]).
//!
//! The output folder is an ordinary run folder (`result.json`, `index.html`, `summary.md`, `results.csv`,
//! `intervals/`), so `kprod report` and `kprod compare` take it; its `shards` table (rate, p99, start lateness,
//! clock offset per shard) is in the report. A shard whose clock is off (injected or as the kernel reports it) by
//! more than the tolerance, or not synchronized, is flagged in the warnings: it is reported, never mixed silently.
//! The producers' own metrics (`producer_metrics`) are per producer and are not merged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use super::histograms::{self, IntervalLogs, Metric, Recorder};
use super::producer_target::Accounting;
use super::report::{self, ReportError};
use super::result::{self, Counts, Machine, PointResult, ResultError, RunResult, TimePoint};
use super::shard::{self, ShardMeta, ShardRow};

/// Default `--clock-tolerance-ms`.
pub const CLOCK_TOLERANCE_MS_DEFAULT: f64 = 10.0;
/// Bound on the interval-log bytes read per file (a day of 1 s intervals is a few MB).
const HLOG_BYTES_MAX: u64 = 256 << 20;
/// Intervals more than this far from the earliest start are refused (a corrupt timestamp).
const SPAN_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why shard folders could not be merged; each names the folder (and file, line) at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    #[error("{dir}: {message}")]
    Shard { dir: PathBuf, message: String },
    #[error("{0}")]
    Set(String),
    #[error("{path}:{line}: corrupt interval log: {message}")]
    Log { path: PathBuf, line: usize, message: String },
    #[error("--out {dir}: {message}")]
    Out { dir: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Result(#[from] ResultError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// One shard folder, read and checked.
#[derive(Debug)]
struct Loaded {
    dir: PathBuf,
    run: RunResult,
    meta: ShardMeta,
}

impl Loaded {
    fn point(&self) -> &PointResult {
        // `load` refuses a shard without exactly one point.
        &self.run.points[0]
    }
}

fn shard_err(dir: &Path, message: impl Into<String>) -> MergeError {
    MergeError::Shard { dir: dir.to_path_buf(), message: message.into() }
}

fn load(dir: &Path) -> Result<Loaded, MergeError> {
    let run = RunResult::load(dir)?;
    let meta = run.shard.clone().ok_or_else(|| {
        shard_err(dir, "not a shard result: its result.json has no `shard` (was it run with --shard I/N?)")
    })?;
    if run.points.len() != 1 {
        return Err(shard_err(dir, format!("a shard result holds one point, this one holds {}", run.points.len())));
    }
    if meta.count == 0 || meta.index >= meta.count {
        return Err(shard_err(dir, format!("invalid shard {}/{}", meta.index, meta.count)));
    }
    Ok(Loaded { dir: dir.to_path_buf(), run, meta })
}

/// Refuses shards of different workloads, commits or shard counts, and missing or duplicated shards.
fn check_set(shards: &[Loaded]) -> Result<(), MergeError> {
    let first = shards.first().ok_or_else(|| MergeError::Set("no shard folder given".into()))?;
    for s in &shards[1..] {
        if s.meta.workload_hash != first.meta.workload_hash {
            return Err(shard_err(
                &s.dir,
                format!(
                    "different workload: hash {} but {} has {} (same file and --set options on every shard?)",
                    s.meta.workload_hash,
                    first.dir.display(),
                    first.meta.workload_hash
                ),
            ));
        }
        if s.meta.count != first.meta.count {
            return Err(shard_err(
                &s.dir,
                format!(
                    "shard {}/{} but {} is one of {} shards",
                    s.meta.index,
                    s.meta.count,
                    first.dir.display(),
                    first.meta.count
                ),
            ));
        }
        if let (Some(a), Some(b)) = (&first.run.git_commit, &s.run.git_commit)
            && a != b
        {
            return Err(shard_err(
                &s.dir,
                format!("built from commit {b} but {} from commit {a}: rebuild one of them", first.dir.display()),
            ));
        }
        if s.point().name != first.point().name {
            return Err(shard_err(
                &s.dir,
                format!("point {:?} but {} ran point {:?}", s.point().name, first.dir.display(), first.point().name),
            ));
        }
    }
    let n = first.meta.count;
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for s in shards {
        if let Some(other) = seen.insert(s.meta.index, &s.dir) {
            return Err(MergeError::Set(format!(
                "shard {}/{n} given twice: {} and {}",
                s.meta.index,
                other.display(),
                s.dir.display()
            )));
        }
    }
    let missing: Vec<String> = (0..n).filter(|i| !seen.contains_key(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(MergeError::Set(format!(
            "shard(s) {} of {n} missing (given: {})",
            missing.join(", "),
            seen.keys().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

/// Merges the shard folders `dirs` into `out`; returns the merged run (also saved there with its reports).
pub fn merge_dirs(dirs: &[PathBuf], out: &Path, clock_tolerance_ms: f64) -> Result<RunResult, MergeError> {
    if out.join("result.json").exists() {
        return Err(MergeError::Out { dir: out.to_path_buf(), message: "already holds a result.json".into() });
    }
    let mut shards = dirs.iter().map(|d| load(d)).collect::<Result<Vec<_>, _>>()?;
    check_set(&shards)?;
    shards.sort_by_key(|s| s.meta.index);
    let logs = shards.iter().map(read_interval_logs).collect::<Result<Vec<_>, _>>()?;
    let merged = merge_runs(&shards, &logs, clock_tolerance_ms)?;
    std::fs::create_dir_all(out).map_err(|source| MergeError::Io { path: out.to_path_buf(), source })?;
    let workload = shards[0].dir.join("workload.yaml");
    if workload.exists() {
        let to = out.join("workload.yaml");
        std::fs::copy(&workload, &to).map_err(|source| MergeError::Io { path: to, source })?;
    }
    write_interval_logs(&merged.1, out)?;
    merged.0.save(out)?;
    report::write_report(&merged.0, out)?;
    Ok(merged.0)
}

/// One interval of one metric, at its absolute start.
#[derive(Debug)]
struct Interval {
    start_unix: Duration,
    duration: Duration,
    warmup: bool,
    histogram: hdrhistogram::Histogram<u64>,
}

/// A shard's interval logs: sub-folder of `intervals/` → metric → intervals.
type ShardLogs = BTreeMap<String, BTreeMap<Metric, Vec<Interval>>>;

fn read_interval_logs(s: &Loaded) -> Result<ShardLogs, MergeError> {
    let root = s.dir.join("intervals");
    let entries = std::fs::read_dir(&root)
        .map_err(|e| shard_err(&s.dir, format!("intervals/: {e} (every shard writes its interval logs there)")))?;
    let mut out = ShardLogs::new();
    for entry in entries {
        let entry = entry.map_err(|source| MergeError::Io { path: root.clone(), source })?;
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut metrics = BTreeMap::new();
        for m in Metric::ALL {
            let path = entry.path().join(format!("{}.hlog", m.name()));
            if !path.exists() {
                return Err(shard_err(&s.dir, format!("intervals/{name}/{}.hlog is missing", m.name())));
            }
            metrics.insert(m, read_hlog(&path)?);
        }
        out.insert(name, metrics);
    }
    if out.is_empty() {
        return Err(shard_err(&s.dir, "intervals/ holds no interval logs"));
    }
    Ok(out)
}

fn line_of(text: &[u8], offset: usize) -> usize {
    1 + text[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count()
}

/// Reads one HdrHistogram interval log (StartTime + offsets, or absolute timestamps).
fn read_hlog(path: &Path) -> Result<Vec<Interval>, MergeError> {
    let io = |source| MergeError::Io { path: path.to_path_buf(), source };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > HLOG_BYTES_MAX {
        return Err(MergeError::Log {
            path: path.to_path_buf(),
            line: 0,
            message: format!("larger than {HLOG_BYTES_MAX} bytes"),
        });
    }
    let text = std::fs::read(path).map_err(io)?;
    let corrupt = |line: usize, message: String| MergeError::Log { path: path.to_path_buf(), line, message };
    let mut start_time: Option<Duration> = None;
    let mut base_time: Option<Duration> = None;
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(&text) {
        match entry {
            Err(hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset }) => {
                return Err(corrupt(line_of(&text, offset), "not an interval log line".into()));
            }
            Ok(LogEntry::StartTime(t)) => start_time = Some(t),
            Ok(LogEntry::BaseTime(t)) => base_time = Some(t),
            Ok(LogEntry::Interval(h)) => {
                let offset = h.encoded_histogram().as_ptr() as usize - text.as_ptr() as usize;
                let line = line_of(&text, offset);
                let bytes = result::base64_decode(h.encoded_histogram()).map_err(|e| corrupt(line, e.to_string()))?;
                let histogram =
                    histograms::deserialize(&bytes).map_err(|e| corrupt(line, format!("histogram: {e}")))?;
                // As HdrHistogram's log reader: BaseTime makes timestamps offsets; with StartTime only, timestamps
                // far (over a year) below it are offsets from it, others are absolute Unix times.
                const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
                let ts = h.start_timestamp();
                let start_unix = match (base_time, start_time) {
                    (Some(b), _) => b + ts,
                    (None, Some(s)) if ts + YEAR < s => s + ts,
                    _ => ts,
                };
                let warmup = h.tag().is_some_and(|t| t.as_str() == "warmup");
                out.push(Interval { start_unix, duration: h.duration(), warmup, histogram });
            }
        }
    }
    Ok(out)
}

/// One point's merged intervals: (second from the merged start, warm-up) → all shards' histograms of that second
/// and the longest interval among them.
type Buckets = BTreeMap<(u64, bool), (Recorder, Duration)>;
/// Merged intervals: the merged start (Unix time) and, per sub-folder of `intervals/`, its buckets.
type MergedLogs = (Duration, BTreeMap<String, Buckets>);

fn merge_logs(logs: &[ShardLogs], shards: &[Loaded]) -> Result<MergedLogs, MergeError> {
    let origin = logs
        .iter()
        .flat_map(|l| l.values().flat_map(|m| m.values().flat_map(|v| v.iter().map(|i| i.start_unix))))
        .min()
        .unwrap_or_default();
    let origin = Duration::from_millis(origin.as_millis() as u64);
    let mut merged: BTreeMap<String, Buckets> = BTreeMap::new();
    for (l, s) in logs.iter().zip(shards) {
        for (sub, metrics) in l {
            let buckets = merged.entry(sub.clone()).or_default();
            for (m, intervals) in metrics {
                for i in intervals {
                    let from = i.start_unix.saturating_sub(origin);
                    if from > SPAN_MAX {
                        return Err(shard_err(
                            &s.dir,
                            format!(
                                "intervals/{sub}/{}.hlog: an interval starts {} s after the others",
                                m.name(),
                                from.as_secs()
                            ),
                        ));
                    }
                    let second = (from.as_secs_f64() + 0.5).floor() as u64;
                    let (rec, d) =
                        buckets.entry((second, i.warmup)).or_insert_with(|| (Recorder::new(), Duration::ZERO));
                    rec.add_histogram(*m, &i.histogram)
                        .map_err(|e| shard_err(&s.dir, format!("intervals/{sub}: {e}")))?;
                    *d = (*d).max(i.duration);
                }
            }
        }
    }
    Ok((origin, merged))
}

fn write_interval_logs(merged: &MergedLogs, out: &Path) -> Result<(), MergeError> {
    let (origin, subs) = merged;
    for (sub, buckets) in subs {
        let mut logs = IntervalLogs::new(UNIX_EPOCH + *origin);
        for ((second, warmup), (rec, d)) in buckets {
            logs.append(rec, Duration::from_secs(*second), *d, warmup.then_some("warmup"));
        }
        let dir = out.join("intervals").join(sub);
        logs.write_to(&dir).map_err(|source| MergeError::Io { path: dir, source })?;
    }
    Ok(())
}

/// The merged run and its merged interval logs.
fn merge_runs(shards: &[Loaded], logs: &[ShardLogs], tolerance_ms: f64) -> Result<(RunResult, MergedLogs), MergeError> {
    let first = &shards[0];
    let mut total = Recorder::new();
    let mut counts = Counts::default();
    let mut accounting: Option<Accounting> = Some(Accounting::default());
    let (mut rate, mut mb, mut duration_s, mut clamped) = (0.0, 0.0, 0.0f64, 0u64);
    let (mut cpu_ns, mut cpu_records) = (0.0, 0u64);
    let (mut compressed_weight, mut compressed_bytes) = (0.0, 0u64);
    let mut warnings: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for s in shards {
        let p = s.point();
        for m in Metric::ALL {
            let h = p.histogram(m).map_err(|e| shard_err(&s.dir, format!("result.json: {e}")))?;
            if let Some(h) = h {
                total.add_histogram(m, &h).map_err(|e| shard_err(&s.dir, format!("result.json: histogram {e}")))?;
            }
        }
        counts.records_sent += p.records_sent;
        counts.records_acked += p.records_acked;
        counts.records_failed += p.records_failed;
        counts.bytes_acked += p.bytes_acked;
        for (k, v) in &p.errors {
            *counts.errors.entry(k.clone()).or_default() += v;
        }
        accounting = match (accounting, p.accounting) {
            (Some(mut t), Some(a)) => {
                t += a;
                Some(t)
            }
            _ => None,
        };
        rate += p.rate_records_per_s;
        mb += p.rate_mb_per_s;
        duration_s = duration_s.max(p.duration_s);
        clamped += p.values_clamped;
        if let Some(c) = p.cpu_time_ns_per_record {
            cpu_ns += c * p.records_acked as f64;
            cpu_records += p.records_acked;
        }
        if let Some(r) = p.compression_ratio_avg.filter(|r| *r > 0.0) {
            compressed_weight += p.bytes_acked as f64 / r;
            compressed_bytes += p.bytes_acked;
        }
        for w in &p.warnings {
            let w = format!("shard {} ({}): {w}", s.meta.index, s.run.machine.hostname);
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        let clock = &s.meta.clock;
        let offset_ms = clock.offset_ms();
        let max_error_ms = clock.max_error_us.map_or(0.0, |e| e as f64 / 1e3);
        if offset_ms.abs() > tolerance_ms {
            warnings.push(format!(
                "shard {} ({}, {}): clock offset {offset_ms:+.3} ms exceeds the tolerance of {tolerance_ms} ms: its \
                 intervals and start are shifted by as much",
                s.meta.index,
                s.run.machine.hostname,
                s.dir.display()
            ));
        } else if clock.synchronized == Some(false) {
            warnings.push(format!(
                "shard {} ({}, {}): the kernel reports its clock as not synchronized (max error {max_error_ms:.3} ms)",
                s.meta.index,
                s.run.machine.hostname,
                s.dir.display()
            ));
        }
        rows.push(ShardRow {
            index: s.meta.index,
            host: s.run.machine.hostname.clone(),
            dir: s.dir.display().to_string(),
            records_acked: p.records_acked,
            rate_records_per_s: p.rate_records_per_s,
            response_time_us_p99: p.response_time_us_p99,
            schedule_lag_us_p99: p.schedule_lag_us_p99,
            start_lateness_us: s.meta.start_lateness_us,
            clock_offset_ms: offset_ms,
            clock_synchronized: clock.synchronized,
            clock_max_error_us: clock.max_error_us,
        });
    }
    let mut p = PointResult::summarize(&total, &counts, Duration::from_secs_f64(duration_s));
    let base = first.point();
    p.name = base.name.clone();
    p.peer = base.peer;
    p.dims = base.dims.clone();
    p.repeat = base.repeat;
    p.config = base.config.as_ref().map(shard::unsplit);
    p.seed = base.seed;
    p.git_commit = base.git_commit.clone();
    p.rate_records_per_s = rate;
    p.rate_mb_per_s = mb;
    p.values_clamped = clamped;
    p.cpu_time_ns_per_record = (cpu_records > 0).then(|| cpu_ns / cpu_records as f64);
    p.compression_ratio_avg = (compressed_weight > 0.0).then(|| compressed_bytes as f64 / compressed_weight);
    p.accounting = accounting;
    p.producer_config = base.producer_config.clone();
    p.start_time_unix_ms = shards.iter().map(|s| s.point().start_time_unix_ms).min().unwrap_or(0);
    p.start_lateness_us = shards.iter().filter_map(|s| s.point().start_lateness_us).max();
    p.warnings = warnings;
    p.machine = merged_machine(shards);
    if let Some(a) = accounting
        && !a.balanced()
    {
        p.warnings.push(format!(
            "merged: {} record(s) without an outcome over all shards ({} sent, {} refused, {} acked, {} failed)",
            a.records_unaccounted().max(a.batch_records_unaccounted()),
            a.records_sent,
            a.records_refused,
            a.records_acked,
            a.records_failed
        ));
    }
    let merged_logs = merge_logs(logs, shards)?;
    p.time_series = merged_series(shards, &merged_logs, p.start_time_unix_ms);
    let mut run = RunResult::new(&first.run.name);
    run.workload_file = first.run.workload_file.clone();
    run.git_commit = first.run.git_commit.clone();
    run.machine = p.machine.clone();
    run.points.push(p);
    run.shards = rows;
    Ok((run, merged_logs))
}

fn merged_machine(shards: &[Loaded]) -> Machine {
    let mut hosts: Vec<&str> = shards.iter().map(|s| s.run.machine.hostname.as_str()).collect();
    hosts.dedup();
    let first = &shards[0].run.machine;
    Machine {
        hostname: format!("{} shards on {}", shards.len(), hosts.join(", ")),
        cpus: shards.iter().map(|s| s.run.machine.cpus).sum(),
        os: first.os.clone(),
        arch: first.arch.clone(),
    }
}

/// The per-second series over all shards, aligned by absolute time: rates and errors summed, p99 from the merged
/// interval histograms of that second (the shards' p99s are never combined).
fn merged_series(shards: &[Loaded], logs: &MergedLogs, start_unix_ms: u64) -> Vec<TimePoint> {
    let (origin, subs) = logs;
    let mut by_second: BTreeMap<i64, TimePoint> = BTreeMap::new();
    for s in shards {
        let p = s.point();
        for t in &p.time_series {
            let end_ms = p.start_time_unix_ms as f64 + t.t_s * 1e3;
            let second = ((end_ms - start_unix_ms as f64) / 1e3).round() as i64;
            let e = by_second.entry(second).or_insert(TimePoint {
                t_s: second as f64,
                records_per_s: 0.0,
                mb_per_s: 0.0,
                response_time_us_p99: 0,
                errors: 0,
                warmup: false,
            });
            e.records_per_s += t.records_per_s;
            e.mb_per_s += t.mb_per_s;
            e.errors += t.errors;
            e.warmup |= t.warmup;
            e.response_time_us_p99 = e.response_time_us_p99.max(t.response_time_us_p99);
        }
    }
    // Replace the upper bound (largest shard p99) by the merged interval's p99 where the logs have that second.
    let shift_s = (start_unix_ms as i64 - origin.as_millis() as i64) as f64 / 1e3;
    if let Some(buckets) = subs.values().next() {
        for (second, tp) in by_second.iter_mut() {
            // The time point ends at `second`; its interval started one second earlier.
            let start = (*second as f64 - 1.0 + shift_s).round();
            if start < 0.0 {
                continue;
            }
            let mut h = Recorder::new();
            let mut found = false;
            for warm in [false, true] {
                if let Some((r, _)) = buckets.get(&(start as u64, warm)) {
                    h.add(r);
                    found = true;
                }
            }
            if found && !h.get(Metric::ResponseTime).is_empty() {
                tp.response_time_us_p99 = h.get(Metric::ResponseTime).value_at_quantile(0.99);
            }
        }
    }
    by_second.into_values().collect()
}

/// The per-shard table as text (also in `summary.md`).
pub fn shard_table(rows: &[ShardRow]) -> String {
    use std::fmt::Write;
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## Shards\n\n| shard | host | records acked | records/s | p99 ms | schedule lag p99 ms | start lateness ms | \
         clock offset ms | clock sync |\n|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:+.3} | {} |",
            r.index,
            r.host,
            r.records_acked,
            r.rate_records_per_s,
            r.response_time_us_p99 as f64 / 1e3,
            r.schedule_lag_us_p99 as f64 / 1e3,
            r.start_lateness_us as f64 / 1e3,
            r.clock_offset_ms,
            match (r.clock_synchronized, r.clock_max_error_us) {
                (Some(true), Some(e)) => format!("yes (max error {:.3} ms)", e as f64 / 1e3),
                (Some(true), None) => "yes".into(),
                (Some(false), _) => "NO".into(),
                (None, _) => "unknown".into(),
            }
        );
    }
    s
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
