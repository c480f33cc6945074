//! Result format: one [`PointResult`] per sweep point (and repeat), gathered in a [`RunResult`] saved as
//! `result.json` in the run folder `reports/<timestamp>-<name>/`.
//!
//! Every figure has its unit last in its name. The serialized histograms (base64 of HdrHistogram V2 + deflate) are
//! kept so reports can be regenerated and runs merged without re-measuring.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::histograms::{self, Metric, Recorder};
use super::peers::Peer;
use super::workload::ResolvedWorkload;

/// Where a result came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub cpus: u32,
    pub os: String,
    pub arch: String,
}

impl Machine {
    pub fn current() -> Machine {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            hostname,
            cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
        }
    }
}

/// The current git commit of the working directory, if git is there.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One second of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimePoint {
    /// Seconds since the point started (end of the interval), warm-up included.
    pub t_s: f64,
    pub records_per_s: f64,
    pub mb_per_s: f64,
    pub response_time_us_p99: u64,
    pub errors: u64,
    pub warmup: bool,
}

/// One point of the percentile spectrum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectrumPoint {
    /// 0..=100.
    pub percentile: f64,
    pub response_time_us: u64,
    pub service_time_us: u64,
}

/// Percentiles reported in the spectrum; `1/(1-p)` makes them evenly spaced on the report's axis.
pub const SPECTRUM_PERCENTILES: [f64; 12] =
    [0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999];

/// How a point ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointStatus {
    /// Ran to its end with every record acknowledged (results written before `partial` existed may hold failed
    /// records here: see `errors`).
    #[default]
    Ok,
    /// Could not run, or no record was acknowledged: `failure` says why.
    Failed,
    /// Stopped by Ctrl-C: the figures cover the part that ran.
    Interrupted,
    /// Ran to its end, but some of its records failed: `failure` gives how many and their Kafka error names. Its
    /// figures cover the acknowledged records only, so it is not a clean point.
    Partial,
}

impl std::fmt::Display for PointStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PointStatus::Ok => "ok",
            PointStatus::Failed => "failed",
            PointStatus::Interrupted => "interrupted",
            PointStatus::Partial => "partial",
        })
    }
}

/// What "MB" means in `rate_mb_per_s`, `mb_per_s` and every report label (`kprod perf-test` keeps Java's MiB).
pub const MB_UNIT: &str = "MB = 10^6 bytes of record key + value as generated (before compression, headers excluded)";

/// The results of one point (one repeat of one sweep point). Fields missing from a file take their defaults, so
/// results written before a field existed, and the trimmed test fixtures of `kprod compare`, load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PointResult {
    pub name: String,
    /// `ok`, `failed`, `partial` (see `failure`) or `interrupted`; results written before this field are `ok`.
    #[serde(default)]
    pub status: PointStatus,
    /// Why the point failed, naming the broker or the error kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Which producer was measured; results written before peers existed are kprod's.
    #[serde(default)]
    pub peer: Peer,
    /// Swept dimensions and their values, in sweep order.
    pub dims: Vec<(String, String)>,
    pub repeat: u32,
    /// The fully resolved workload, producer properties included.
    pub config: Option<ResolvedWorkload>,
    pub seed: u64,
    pub git_commit: Option<String>,
    pub machine: Machine,
    pub start_time_unix_ms: u64,
    /// With `--start-at`: how late the schedule started after the common instant, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lateness_us: Option<u64>,
    /// Measured duration (after warm-up), seconds.
    pub duration_s: f64,
    pub records_sent: u64,
    pub records_acked: u64,
    pub records_failed: u64,
    pub bytes_acked: u64,
    pub rate_records_per_s: f64,
    pub rate_mb_per_s: f64,
    pub response_time_us_p50: u64,
    pub response_time_us_p90: u64,
    pub response_time_us_p99: u64,
    pub response_time_us_p99_9: u64,
    pub response_time_us_max: u64,
    pub response_time_us_mean: f64,
    pub service_time_us_p50: u64,
    pub service_time_us_p90: u64,
    pub service_time_us_p99: u64,
    pub service_time_us_p99_9: u64,
    pub service_time_us_max: u64,
    pub service_time_us_mean: f64,
    pub schedule_lag_us_p50: u64,
    pub schedule_lag_us_p99: u64,
    pub schedule_lag_us_max: u64,
    pub queue_time_us_avg: Option<f64>,
    pub request_latency_us_p50: Option<u64>,
    pub request_latency_us_p99: Option<u64>,
    pub request_latency_us_max: Option<u64>,
    pub batch_bytes_avg: Option<f64>,
    pub batch_records_avg: Option<f64>,
    pub records_per_request_avg: Option<f64>,
    pub compression_ratio_avg: Option<f64>,
    pub cpu_time_ns_per_record: Option<f64>,
    /// The harness's share of that: the runner alone (generator, tasks, accounting) per record, measured against
    /// a target that does nothing (see `runner::runner_cost_ns_per_record`). Absent for peers not driven by the
    /// runner and in results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_cpu_ns_per_record: Option<f64>,
    /// Milliseconds per second of the measured phase that the process's threads were ready to run but waited for a
    /// CPU (Linux schedstat, summed over threads): the machine's contention, not the work. `kprod compare` leaves
    /// out repeats that waited far more than their run's others (their rate is the machine's). Absent off Linux, for
    /// peers and in results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_wait_ms_per_s: Option<f64>,
    /// Worker threads of the async runtime that ran the point (the workload's `worker_threads`, else the process's
    /// runtime: one per core or `TOKIO_WORKER_THREADS`). Absent for peers and in results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_worker_threads: Option<usize>,
    /// Failed records by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Values above a histogram's range (clamped to its maximum).
    pub values_clamped: u64,
    pub time_series: Vec<TimePoint>,
    pub spectrum: Vec<SpectrumPoint>,
    /// Metric name (`response_time_us`) → base64 of the V2 + deflate histogram.
    pub histograms: BTreeMap<String, String>,
    pub warnings: Vec<String>,
    /// The producer's effective configuration (every key, Java names, secrets hidden), from `to_properties()`.
    #[serde(default)]
    pub producer_config: BTreeMap<String, String>,
    /// The producer's Java-named metrics at the end of the point (`record-send-rate`, `batch-size-avg`, ...).
    #[serde(default)]
    pub producer_metrics: BTreeMap<String, f64>,
    /// Whole-point record accounting (warm-up included): every record sent has exactly one outcome.
    #[serde(default)]
    pub accounting: Option<super::producer_target::Accounting>,
    /// Transactional runs: commits, failures and commit latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<super::txn_driver::TxnSummary>,
}

/// Counts gathered by the runner besides the histograms.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub records_sent: u64,
    pub records_acked: u64,
    pub records_failed: u64,
    pub bytes_acked: u64,
    pub errors: BTreeMap<String, u64>,
}

fn opt_mean(h: &Histogram<u64>) -> Option<f64> {
    (!h.is_empty()).then(|| h.mean())
}

fn opt_q(h: &Histogram<u64>, q: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q))
}

impl PointResult {
    /// Summarizes the cumulative (post-warm-up) recorder and counts over `duration`.
    pub fn summarize(total: &Recorder, counts: &Counts, duration: Duration) -> PointResult {
        let secs = duration.as_secs_f64().max(1e-9);
        let rt = total.get(Metric::ResponseTime);
        let st = total.get(Metric::ServiceTime);
        let lag = total.get(Metric::ScheduleLag);
        let rl = total.get(Metric::RequestLatency);
        let histograms = Metric::ALL
            .iter()
            .filter(|m| !total.get(**m).is_empty())
            .map(|m| (m.name().to_string(), base64_encode(&histograms::serialize(total.get(*m)))))
            .collect();
        PointResult {
            duration_s: duration.as_secs_f64(),
            records_sent: counts.records_sent,
            records_acked: counts.records_acked,
            records_failed: counts.records_failed,
            bytes_acked: counts.bytes_acked,
            rate_records_per_s: counts.records_acked as f64 / secs,
            rate_mb_per_s: counts.bytes_acked as f64 / secs / 1e6,
            response_time_us_p50: rt.value_at_quantile(0.5),
            response_time_us_p90: rt.value_at_quantile(0.9),
            response_time_us_p99: rt.value_at_quantile(0.99),
            response_time_us_p99_9: rt.value_at_quantile(0.999),
            response_time_us_max: rt.max(),
            response_time_us_mean: rt.mean(),
            service_time_us_p50: st.value_at_quantile(0.5),
            service_time_us_p90: st.value_at_quantile(0.9),
            service_time_us_p99: st.value_at_quantile(0.99),
            service_time_us_p99_9: st.value_at_quantile(0.999),
            service_time_us_max: st.max(),
            service_time_us_mean: st.mean(),
            schedule_lag_us_p50: lag.value_at_quantile(0.5),
            schedule_lag_us_p99: lag.value_at_quantile(0.99),
            schedule_lag_us_max: lag.max(),
            queue_time_us_avg: opt_mean(total.get(Metric::QueueTime)),
            request_latency_us_p50: opt_q(rl, 0.5),
            request_latency_us_p99: opt_q(rl, 0.99),
            request_latency_us_max: (!rl.is_empty()).then(|| rl.max()),
            batch_bytes_avg: opt_mean(total.get(Metric::BatchBytes)),
            batch_records_avg: opt_mean(total.get(Metric::BatchRecords)),
            records_per_request_avg: opt_mean(total.get(Metric::RecordsPerRequest)),
            compression_ratio_avg: total.compression_ratio(),
            errors: counts.errors.clone(),
            values_clamped: total.clamped,
            spectrum: SPECTRUM_PERCENTILES
                .iter()
                .map(|p| SpectrumPoint {
                    percentile: *p,
                    response_time_us: rt.value_at_quantile(p / 100.0),
                    service_time_us: st.value_at_quantile(p / 100.0),
                })
                .collect(),
            histograms,
            ..PointResult::default()
        }
    }

    /// Decodes a stored histogram (`"response_time_us"`), e.g. to merge repeats.
    pub fn histogram(&self, metric: Metric) -> Result<Option<Histogram<u64>>, ResultError> {
        let Some(b64) = self.histograms.get(metric.name()) else { return Ok(None) };
        let bytes = base64_decode(b64).map_err(|e| ResultError::Histogram(format!("{}: {e}", metric.name())))?;
        histograms::deserialize(&bytes).map(Some).map_err(|e| ResultError::Histogram(format!("{}: {e}", metric.name())))
    }

    /// Total failed records by kind + failures.
    pub fn error_count(&self) -> u64 {
        self.records_failed
    }
}

/// A whole run: its points and metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub kprod_version: String,
    pub name: String,
    pub workload_file: Option<PathBuf>,
    pub created_unix_ms: u64,
    pub git_commit: Option<String>,
    pub machine: Machine,
    pub points: Vec<PointResult>,
    /// Set in a shard's result (`kprod run --shard I/N`): which share, of which workload, started when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::shard::ShardMeta>,
    /// Set in a merged result (`kprod merge`): one row per shard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<super::shard::ShardRow>,
    /// Why the run ended before its last point (Ctrl-C, a failed point, a target that did not answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Points of the plan that were not run (by name, `(repeat N)` appended for repeats after the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points_not_run: Vec<String>,
    /// Rate searches (`rate: {search: ...}`, OMB's `producerRate: 0`): every step, and the rate found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub searches: Vec<super::search::SearchResult>,
    /// What the units of the figures mean ([`MB_UNIT`]).
    #[serde(default)]
    pub units: BTreeMap<String, String>,
    /// With `kprod run --profile`: the flame graph's sampling frequency, sample count and the profiled rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<super::profile::ProfileInfo>,
}

/// Errors reading or writing results.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid result JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("stored histogram {0}")]
    Histogram(String),
}

impl RunResult {
    pub fn new(name: &str) -> RunResult {
        RunResult {
            kprod_version: env!("CARGO_PKG_VERSION").into(),
            name: name.into(),
            created_unix_ms: unix_ms(SystemTime::now()),
            git_commit: git_commit(),
            machine: Machine::current(),
            units: [("MB".to_string(), MB_UNIT.to_string())].into(),
            ..RunResult::default()
        }
    }

    /// Writes `dir/result.json`, creating `dir`.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ResultError> {
        std::fs::create_dir_all(dir).map_err(|source| ResultError::Io { path: dir.to_path_buf(), source })?;
        let path = dir.join("result.json");
        let json =
            serde_json::to_vec_pretty(self).map_err(|source| ResultError::Json { path: path.clone(), source })?;
        std::fs::write(&path, json).map_err(|source| ResultError::Io { path: path.clone(), source })?;
        Ok(path)
    }

    /// The run folder of `path`: the path itself, or the folder of a `result.json` given as a file.
    pub fn dir_of(path: &Path) -> PathBuf {
        match path.parent() {
            Some(parent) if path.is_file() && parent.as_os_str().is_empty() => PathBuf::from("."),
            Some(parent) if path.is_file() => parent.to_path_buf(),
            _ => path.to_path_buf(),
        }
    }

    /// Reads `result.json` from a run folder (or the file itself).
    pub fn load(path: &Path) -> Result<RunResult, ResultError> {
        let file = if path.is_dir() { path.join("result.json") } else { path.to_path_buf() };
        let text = std::fs::read(&file).map_err(|source| ResultError::Io { path: file.clone(), source })?;
        serde_json::from_slice(&text).map_err(|source| ResultError::Json { path: file, source })
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `YYYYMMDD-HHMMSS` in UTC, for run folder names.
pub fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time in ms, for reports.
pub fn utc_datetime(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's civil-from-days algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `base/<timestamp>-<name>` with the name made safe for a path.
pub fn run_dir(base: &Path, name: &str, t: SystemTime) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    base.join(format!("{}-{safe}", timestamp(t)))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A byte outside the base64 alphabet, and its 0-based position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64 byte {byte:#04x} at {at}")]
pub struct Base64Error {
    pub byte: u8,
    pub at: usize,
}

/// Decodes standard base64 (padding optional, whitespace refused).
pub fn base64_decode(s: &str) -> Result<Vec<u8>, Base64Error> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, c) in s.bytes().enumerate() {
        let v = B64.iter().position(|&b| b == c).ok_or(Base64Error { byte: c, at: i })?;
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors_and_round_trip() {
        for (plain, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        assert!(base64_decode("Zm9*").unwrap_err().to_string().contains("0x2a"));
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101-000000");
        // 2024-02-29 12:34:56 UTC = 1709210096
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(1_709_210_096)), "20240229-123456");
        let d = run_dir(Path::new("reports"), "bs=16k/x", UNIX_EPOCH);
        assert_eq!(d, Path::new("reports/19700101-000000-bs_16k_x"));
    }

    #[test]
    fn summarize_and_save_load_round_trip() {
        let mut r = Recorder::new();
        for v in 1..=1000 {
            r.record(Metric::ResponseTime, v);
            r.record(Metric::ServiceTime, v / 2 + 1);
        }
        r.record(Metric::BatchBytes, 16_384);
        let counts = Counts {
            records_sent: 1001,
            records_acked: 1000,
            records_failed: 1,
            bytes_acked: 100_000,
            ..Counts::default()
        };
        let p = PointResult::summarize(&r, &counts, Duration::from_secs(2));
        assert_eq!(p.rate_records_per_s, 500.0);
        assert_eq!(p.rate_mb_per_s, 0.05);
        assert_eq!(p.response_time_us_p50, 500);
        assert!((p.response_time_us_p99 as i64 - 990).abs() <= 1);
        // HDR keeps 3 significant digits: the mean is within 0.1 % of the value.
        assert!((p.batch_bytes_avg.unwrap() / 16_384.0 - 1.0).abs() < 1e-3);
        assert!(p.request_latency_us_p99.is_none() && p.queue_time_us_avg.is_none());
        assert_eq!(p.spectrum.len(), SPECTRUM_PERCENTILES.len());
        let back = p.histogram(Metric::ResponseTime).unwrap().unwrap();
        assert_eq!(back.len(), 1000);
        let mut run = RunResult::new("t");
        run.points.push(p);
        let dir = std::env::temp_dir().join(format!("kprod-result-{}", std::process::id()));
        run.save(&dir).unwrap();
        assert_eq!(RunResult::load(&dir).unwrap(), run);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
