//! `kprod perf-test`: a drop-in replacement for `kafka-producer-perf-test` (Java's `ProducerPerformance`,
//! Kafka 4.3): the same options, the same progress and summary lines (numbers formatted as Java's
//! `printf` does), so scripts that parse them keep working.
//!
//! What differs, on purpose:
//! - **Latency** is measured in microseconds into an HDR histogram (Java keeps a 500 000-sample array of
//!   whole milliseconds) and, when throttled, from each record's *intended* send time `start + i / throughput`
//!   (open loop: a stall delays the sends that follow but not their schedule, so it shows in the latency instead
//!   of hiding — Java's throttler sleeps and measures from the late send). Unthrottled, latency runs from the
//!   `send` call, as in Java.
//! - **Payloads** for `--record-size` are consecutive slices of one 4 MiB random upper-case buffer (same
//!   alphabet as Java) instead of a fresh random array per record: the generator must cost little next to a
//!   4M records/s producer, and no value repeats within a codec's reach, so compressed batches shrink as much as
//!   Java's do (only by the letters' entropy).
//! - **No broker given** (`--bootstrap-server` or `bootstrap.servers`) starts the in-process mock broker
//!   (sink mode) and says so on stderr.
//! - **Errors** (bad property, record above `max.request.size`, failed records) print one clear line on stderr
//!   and exit non-zero instead of a stack trace per record.
//! - **Transactions** (`--transactional-id`, `--transaction-duration-ms`, `transactional.id`) follow Java's rules
//!   ([`super::perf_txn`]) and add a commit-latency line after the totals.
//!
//! The hot path sends with [`Producer::try_send_and_forget`] (falling back to `send_and_forget_after` when a record must wait) and carries each record's intended send time (ns since
//! the start, top bit = steady state) in `ProducerRecord::user_data`; the producer hands it back in
//! [`ProducerHooks::on_batch_acked`], where one lock per batch records every latency. No task, box or channel
//! per record.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::broker::{MockCluster, StorageMode};
use crate::producer::config::ConfigError;
use crate::producer::{BatchEvent, Producer, ProducerConfig, ProducerError, ProducerHooks, ProducerRecord, TrySend};
use crate::workbench::histograms::LATENCY_US_MAX;

/// Options of `kprod perf-test`, named as Java's `kafka-producer-perf-test` (Kafka 4.3).
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("payload").required(true).args(["record_size", "payload_file", "payload_monotonic"])))]
pub struct PerfTestArgs {
    /// The server(s) to connect to; takes precedence over bootstrap.servers in the properties. Without any,
    /// the in-process mock broker is started.
    #[arg(long = "bootstrap-server", value_name = "BOOTSTRAP-SERVER")]
    pub bootstrap_server: Option<String>,
    /// Produce records to this topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// Number of records to produce.
    #[arg(long = "num-records", value_name = "NUM-RECORDS", allow_negative_numbers = true)]
    pub num_records: i64,
    /// Delimiter between payloads of --payload-file.
    #[arg(long = "payload-delimiter", value_name = "PAYLOAD-DELIMITER", default_value = "\\n")]
    pub payload_delimiter: String,
    /// Throttle to approximately THROUGHPUT records/s; -1 disables throttling.
    #[arg(long, value_name = "THROUGHPUT", allow_negative_numbers = true)]
    pub throughput: f64,
    /// (Deprecated in Java) producer properties, e.g. linger.ms=5 batch.size=262144.
    #[arg(long = "producer-props", value_name = "PROP-NAME=PROP-VALUE", num_args = 1..)]
    pub producer_props: Vec<String>,
    /// Producer properties; take precedence over the config file.
    #[arg(long = "command-property", value_name = "PROP-NAME=PROP-VALUE", num_args = 1..)]
    pub command_property: Vec<String>,
    /// (Deprecated in Java) producer config properties file.
    #[arg(long = "producer.config", value_name = "CONFIG-FILE")]
    pub producer_config: Option<PathBuf>,
    /// Producer config properties file.
    #[arg(long = "command-config", value_name = "CONFIG-FILE")]
    pub command_config: Option<PathBuf>,
    /// Print the producer metrics at the end of the test.
    #[arg(long = "print-metrics")]
    pub print_metrics: bool,
    /// Transactional id; enables transactions (beats a transactional.id property).
    #[arg(long = "transactional-id", value_name = "TRANSACTIONAL-ID")]
    pub transactional_id: Option<String>,
    /// Maximum age of each transaction before it commits; enables transactions (default 3000 with an id).
    #[arg(long = "transaction-duration-ms", value_name = "TRANSACTION-DURATION", allow_negative_numbers = true)]
    pub transaction_duration_ms: Option<i64>,
    /// Records treated as warm-up: excluded from the steady-state summary line.
    #[arg(long = "warmup-records", value_name = "WARMUP-RECORDS", default_value_t = 0, allow_negative_numbers = true)]
    pub warmup_records: i64,
    /// Interval in ms between progress lines.
    #[arg(
        long = "reporting-interval",
        value_name = "INTERVAL-MS",
        default_value_t = 5000,
        allow_negative_numbers = true
    )]
    pub reporting_interval: i64,
    /// Record size in bytes.
    #[arg(long = "record-size", value_name = "RECORD-SIZE", allow_negative_numbers = true)]
    pub record_size: Option<i32>,
    /// File to read the record payloads from (one chosen at random per record).
    #[arg(long = "payload-file", value_name = "PAYLOAD-FILE")]
    pub payload_file: Option<PathBuf>,
    /// Payload is a monotonically increasing integer.
    #[arg(long = "payload-monotonic")]
    pub payload_monotonic: bool,
    /// kprod: skip per-record timing and histograms (to measure what the measurement costs).
    #[arg(long = "no-measure", hide = true)]
    pub no_measure: bool,
    /// kprod: how latencies reach the histograms: `hooks` (user_data + on_batch_acked, one lock per batch) or
    /// `callback` (a boxed callback per record, one lock per record), to compare their cost.
    #[arg(long = "latency-path", hide = true, value_enum, default_value_t = LatencyPath::Hooks)]
    pub latency_path: LatencyPath,
    /// kprod: partitions of auto-created topics on the embedded mock broker.
    #[arg(long = "embedded-partitions", hide = true, default_value_t = 1)]
    pub embedded_partitions: i32,
}

/// How per-record latencies are collected (hidden `--latency-path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LatencyPath {
    Hooks,
    Callback,
}

/// Unthrottled, the send time is read once per this many records (and after any send that had to wait): a clock
/// read costs ~40 ns on the VMs this runs on (10% of a 4M records/s budget), and a stale read only overstates a
/// latency by the few µs the previous non-blocking sends took.
const CLOCK_EVERY: u64 = 16;
/// The sending loop yields to the runtime once per this many records, as `kprod run`'s sending tasks do.
const YIELD_EVERY: u64 = 1024;
/// Sets in `user_data` that the record belongs to the steady state (after the warm-up).
const STEADY_BIT: u64 = 1 << 63;
/// Throttled sends sleep only when at least this far ahead of schedule (tokio timers have ms resolution).
const SLEEP_MIN_NS: u64 = 500_000;
/// Size of the random buffer `--record-size` payloads are sliced from (plus the record size), read in order: larger
/// than any codec's window over a batch, so no value repeats where a codec could find it. Java fills the payload
/// with fresh random letters per record, which LZ4 and zstd cannot shrink beyond the letters' entropy; the 64 KiB
/// pool read at scattered offsets that this replaced let lz4 find a match in most values (0.57 of the size against
/// ~1.0), which flattered every compressed figure and made `kprod run`, whose `letters` pool is 4 MiB, look slow
/// beside perf-test (issue 16). Sequential reads of a large pool cost no more than a small pool: they prefetch.
const PAYLOAD_POOL_BYTES: usize = 4 << 20;

/// The record source: a value type the producer can take without a per-record allocation.
#[derive(Clone, Copy)]
pub enum Payload {
    Static(&'static [u8]),
    /// Decimal digits of a `u64`, for `--payload-monotonic`.
    Number {
        digits: [u8; 20],
        len: u8,
    },
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        match self {
            Payload::Static(s) => s,
            Payload::Number { digits, len } => &digits[..*len as usize],
        }
    }
}

impl Payload {
    fn number(n: u64) -> Payload {
        let mut digits = [0u8; 20];
        let mut tmp = [0u8; 20];
        let mut i = 0;
        let mut v = n;
        loop {
            tmp[i] = b'0' + (v % 10) as u8;
            i += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for (j, d) in tmp[..i].iter().rev().enumerate() {
            digits[j] = *d;
        }
        Payload::Number { digits, len: i as u8 }
    }
}

/// Where payloads come from.
enum PayloadSource {
    /// `record_size`-byte windows into a leaked random buffer (it must outlive the producer's `'static` bound; the
    /// process ends soon after).
    Sized {
        pool: &'static [u8],
        size: usize,
    },
    File {
        payloads: Vec<&'static [u8]>,
        rng: SmallRng,
    },
    Monotonic,
}

impl PayloadSource {
    fn sized(size: usize) -> PayloadSource {
        let mut rng = SmallRng::seed_from_u64(0);
        let pool: Vec<u8> = (0..size + PAYLOAD_POOL_BYTES).map(|_| rng.gen_range(b'A'..=b'Z')).collect();
        PayloadSource::Sized { pool: Box::leak(pool.into_boxed_slice()), size }
    }

    #[inline]
    fn next(&mut self, i: u64) -> Payload {
        match self {
            // Consecutive windows of the pool (the pool holds `size` bytes past its length, so the last fits).
            PayloadSource::Sized { pool, size } => {
                let off = (i.wrapping_mul(*size as u64) % PAYLOAD_POOL_BYTES as u64) as usize;
                Payload::Static(&pool[off..off + *size])
            }
            PayloadSource::File { payloads, rng } => Payload::Static(payloads[rng.gen_range(0..payloads.len())]),
            PayloadSource::Monotonic => Payload::number(i),
        }
    }
}

/// Splits a payload file as Java's `Scanner.useDelimiter` does for a literal delimiter (no trailing empty token).
pub fn split_payloads(text: &str, delimiter: &str) -> Vec<String> {
    let mut v: Vec<String> =
        if delimiter.is_empty() { vec![text.to_string()] } else { text.split(delimiter).map(str::to_string).collect() };
    if v.last().is_some_and(String::is_empty) {
        v.pop();
    }
    v
}

// ---------------------------------------------------------------------------------------------------------------
// Java number formatting

/// Java's `String.format("%.Nf", x)`: the shortest decimal representation rounded HALF_UP to `decimals` places
/// (Rust's `{:.N}` rounds the exact binary value instead, so `0.125` and `2.675` would differ).
pub fn java_fixed(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let shortest = format!("{}", x.abs());
    let (int_part, frac_part) = shortest.split_once('.').unwrap_or((&shortest, ""));
    let mut digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
    let int_len = int_part.len();
    let keep = int_len + decimals;
    let round_up = digits.get(keep).is_some_and(|d| *d >= 5);
    digits.resize(keep, 0);
    let mut int_len = int_len;
    if round_up {
        let mut i = keep;
        loop {
            if i == 0 {
                digits.insert(0, 1);
                int_len += 1;
                break;
            }
            i -= 1;
            if digits[i] == 9 {
                digits[i] = 0;
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let mut s = String::with_capacity(digits.len() + 2);
    if x.is_sign_negative() && digits.iter().any(|d| *d != 0) {
        s.push('-');
    }
    for (i, d) in digits.iter().enumerate() {
        if i == int_len {
            s.push('.');
        }
        s.push((b'0' + d) as char);
    }
    s
}

/// The progress line (Java `Stats.printWindow`).
pub fn window_line(records: u64, elapsed_ms: f64, bytes: u64, latency_ms_avg: f64, latency_ms_max: f64) -> String {
    let rate = 1000.0 * records as f64 / elapsed_ms;
    let mb = 1000.0 * bytes as f64 / elapsed_ms / (1024.0 * 1024.0);
    format!(
        "{records} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency.",
        java_fixed(rate, 1),
        java_fixed(mb, 2),
        java_fixed(latency_ms_avg, 1),
        java_fixed(latency_ms_max, 1)
    )
}

/// Whole-run figures for the summary line.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub records: u64,
    pub elapsed_ms: f64,
    pub bytes: u64,
    pub latency_ms_avg: f64,
    pub latency_ms_max: f64,
    /// 50th, 95th, 99th, 99.9th percentiles in whole ms.
    pub percentiles_ms: [u64; 4],
    pub steady_state: bool,
}

/// The summary line (Java `Stats.printTotal`).
pub fn total_line(t: &Totals) -> String {
    let rate = 1000.0 * t.records as f64 / t.elapsed_ms;
    let mb = 1000.0 * t.bytes as f64 / t.elapsed_ms / (1024.0 * 1024.0);
    let [p50, p95, p99, p999] = t.percentiles_ms;
    format!(
        "{}{} records sent, {} records/sec ({} MB/sec), {} ms avg latency, {} ms max latency, {p50} ms 50th, \
         {p95} ms 95th, {p99} ms 99th, {p999} ms 99.9th.",
        t.records,
        if t.steady_state { " steady state" } else { "" },
        java_fixed(rate, 6),
        java_fixed(mb, 2),
        java_fixed(t.latency_ms_avg, 2),
        java_fixed(t.latency_ms_max, 2),
    )
}

/// The `--print-metrics` table (Java `ToolsUtils.printMetrics`): `group:name:{tags}` padded, ` : `, `%.3f`.
pub fn metrics_table(metrics: &std::collections::BTreeMap<&'static str, f64>, client_id: &str) -> String {
    let rows: Vec<(String, f64)> =
        metrics.iter().map(|(n, v)| (format!("producer-metrics:{n}:{{client-id={client_id}}}"), *v)).collect();
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!("\n{:<width$}   {}\n", "Metric Name", "Value");
    for (k, v) in rows {
        out.push_str(&format!("{k:<width$} : {}\n", java_fixed(v, 3)));
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics

/// Java's `Stats`, with an HDR histogram in µs instead of a sampled array of ms.
pub struct Stats {
    start: Instant,
    count: u64,
    bytes: u64,
    latency_us_sum: u64,
    latency_us_max: u64,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_latency_us_sum: u64,
    window_latency_us_max: u64,
    hist: Histogram<u64>,
    steady_state: bool,
    /// Progress lines are printed for one `Stats` at a time: the totals' stop once the steady state begins.
    suppress_print: bool,
}

impl Stats {
    pub fn new(start: Instant, steady_state: bool) -> Stats {
        Stats {
            start,
            count: 0,
            bytes: 0,
            latency_us_sum: 0,
            latency_us_max: 0,
            window_start: start,
            window_count: 0,
            window_bytes: 0,
            window_latency_us_sum: 0,
            window_latency_us_max: 0,
            // Constant, valid bounds: cannot fail.
            hist: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds"),
            steady_state,
            suppress_print: false,
        }
    }

    #[inline]
    pub fn record(&mut self, latency_us: u64, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
        self.latency_us_sum += latency_us;
        self.latency_us_max = self.latency_us_max.max(latency_us);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_latency_us_sum += latency_us;
        self.window_latency_us_max = self.window_latency_us_max.max(latency_us);
        self.hist.saturating_record(latency_us);
    }

    /// Counts records without a latency (`--no-measure`).
    pub fn record_unmeasured(&mut self, records: u64, bytes: u64) {
        self.count += records;
        self.bytes += bytes;
        self.window_count += records;
        self.window_bytes += bytes;
    }

    /// The progress line for the window ending `now`, and a new window; `None` when nothing completed in it.
    pub fn take_window(&mut self, now: Instant) -> Option<String> {
        if self.window_count == 0 {
            return None;
        }
        let elapsed_ms = now.duration_since(self.window_start).as_secs_f64() * 1000.0;
        let line = window_line(
            self.window_count,
            elapsed_ms,
            self.window_bytes,
            self.window_latency_us_sum as f64 / self.window_count as f64 / 1000.0,
            self.window_latency_us_max as f64 / 1000.0,
        );
        let first = self.count == self.window_count;
        self.window_start = now;
        self.window_count = 0;
        self.window_bytes = 0;
        self.window_latency_us_sum = 0;
        self.window_latency_us_max = 0;
        Some(if self.steady_state && first { format!("In steady state.\n{line}") } else { line })
    }

    pub fn totals(&self, now: Instant) -> Totals {
        // Java takes sorted[(int)(p * n)] (0-based), i.e. rank floor(p * n) + 1: ask HDR for that rank.
        let n = self.hist.len();
        let q = |p: f64| {
            if n == 0 {
                return 0;
            }
            let rank = ((p * n as f64) as u64 + 1).min(n);
            self.hist.value_at_quantile(rank as f64 / n as f64) / 1000
        };
        Totals {
            records: self.count,
            elapsed_ms: now.duration_since(self.start).as_secs_f64() * 1000.0,
            bytes: self.bytes,
            latency_ms_avg: self.latency_us_sum as f64 / self.count as f64 / 1000.0,
            latency_ms_max: self.latency_us_max as f64 / 1000.0,
            percentiles_ms: [q(0.5), q(0.95), q(0.99), q(0.999)],
            steady_state: self.steady_state,
        }
    }
}

/// What the hooks and the reporter share.
struct StatsPair {
    total: Stats,
    steady: Option<Stats>,
}

/// Producer hooks that turn batch acknowledgements into per-record latencies.
struct PerfHooks {
    start: Instant,
    measure: bool,
    /// Latencies arrive through per-record callbacks instead (`--latency-path callback`).
    callback: bool,
    stats: Mutex<StatsPair>,
    failed_records: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl PerfHooks {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatsPair> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PerfHooks {
    /// One record's latency from a per-record callback (`--latency-path callback`).
    fn record_one(&self, user_data: u64, bytes: u64, completed: Instant) {
        let done_ns = completed.saturating_duration_since(self.start).as_nanos() as u64;
        let latency_us = done_ns.saturating_sub(user_data & !STEADY_BIT) / 1000;
        let mut s = self.lock();
        s.total.record(latency_us, bytes);
        if user_data & STEADY_BIT != 0
            && let Some(st) = &mut s.steady
        {
            st.record(latency_us, bytes);
        }
    }
}

impl ProducerHooks for PerfHooks {
    fn on_batch_acked(&self, ev: &BatchEvent<'_>) {
        if self.callback {
            return;
        }
        let completed = ev.completed.unwrap_or_else(Instant::now);
        let mut s = self.lock();
        let StatsPair { total, steady } = &mut *s;
        if !self.measure {
            let bytes: u64 = ev.records.iter().map(|r| r.value_size.max(0) as u64).sum();
            total.record_unmeasured(ev.records.len() as u64, bytes);
            if let Some(st) = steady {
                let n = ev.records.iter().filter(|r| r.user_data & STEADY_BIT != 0).count() as u64;
                st.record_unmeasured(n, bytes * n / ev.records.len().max(1) as u64);
            }
            return;
        }
        let done_ns = completed.saturating_duration_since(self.start).as_nanos() as u64;
        for r in ev.records {
            let intended_ns = r.user_data & !STEADY_BIT;
            let latency_us = done_ns.saturating_sub(intended_ns) / 1000;
            let bytes = r.value_size.max(0) as u64;
            total.record(latency_us, bytes);
            if r.user_data & STEADY_BIT != 0
                && let Some(st) = steady
            {
                st.record(latency_us, bytes);
            }
        }
    }

    fn on_batch_failed(&self, ev: &BatchEvent<'_>, err: &ProducerError) {
        self.failed_records.fetch_add(ev.records.len() as u64, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(format!("{} record(s) to {} failed: {err}", ev.records.len(), ev.tp));
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The command

/// Why `kprod perf-test` stopped (exit code 2). Option errors read as Java's `ProducerPerformance` words them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerfTestError {
    #[error("--num-records should be greater than zero.")]
    NumRecords,
    #[error(
        "The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records."
    )]
    WarmupRecords,
    #[error("--record-size should be greater than zero.")]
    RecordSize,
    #[error("--command-property and --producer-props cannot be specified together.")]
    PropertyAndProducerProps,
    #[error("--command-config and --producer.config cannot be specified together.")]
    ConfigAndProducerConfig,
    #[error("--reporting-interval should be greater than zero.")]
    ReportingInterval,
    #[error("--throughput 0 would never send a record: give a positive rate or -1 for unthrottled")]
    ZeroThroughput,
    #[error("--transaction-duration-ms should be greater than zero.")]
    TransactionDuration,
    /// A `--command-property` / `--producer-props` argument that is not `NAME=VALUE`.
    #[error("Invalid property: {0} (expected PROP-NAME=PROP-VALUE)")]
    InvalidProperty(String),
    /// A producer property (from a file or the command line) is refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--bootstrap-server: {0}")]
    Bootstrap(#[source] ConfigError),
    #[error("--transactional-id: {0}")]
    TransactionalId(#[source] ConfigError),
    #[error("cannot read --payload-file {}: {source}", path.display())]
    ReadPayloadFile { path: std::path::PathBuf, source: std::io::Error },
    #[error("--payload-file {}: File does not exist or empty file provided.", .0.display())]
    EmptyPayloadFile(std::path::PathBuf),
    #[error("--payload-file {}: no payloads found", .0.display())]
    NoPayloads(std::path::PathBuf),
    #[error("cannot start the embedded mock broker: {0}")]
    EmbeddedBroker(#[source] crate::broker::BrokerError),
    /// The producer cannot be built from the configuration.
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error("init_transactions failed: {0}")]
    InitTransactions(#[source] ProducerError),
    /// `record` is the 0-based index of the record about to be sent.
    #[error("begin_transaction before record {record} failed: {source}")]
    BeginTransaction { record: u64, source: ProducerError },
    #[error("sending record {record} failed: {source}")]
    Send { record: u64, source: ProducerError },
    #[error("commit_transaction after record {record} failed: {source}")]
    CommitTransaction { record: u64, source: ProducerError },
    #[error("the last commit_transaction failed: {0}")]
    LastCommit(#[source] ProducerError),
}

/// The validated run: options checked as Java's `ConfigPostProcessor` does.
struct Plan {
    num_records: u64,
    warmup_records: u64,
    /// Records per second; `None` = unthrottled.
    throughput: Option<f64>,
    config: ProducerConfig,
    /// Bootstrap given: a real cluster. Otherwise the embedded mock broker.
    embedded: bool,
    /// Transactions, when enabled.
    txn: Option<super::perf_txn::TxnPlan>,
}

fn parse_prop(p: &str) -> Result<(String, String), PerfTestError> {
    match p.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(PerfTestError::InvalidProperty(p.to_string())),
    }
}

fn plan(args: &PerfTestArgs) -> Result<Plan, PerfTestError> {
    if args.num_records <= 0 {
        return Err(PerfTestError::NumRecords);
    }
    if args.warmup_records >= args.num_records {
        return Err(PerfTestError::WarmupRecords);
    }
    if args.record_size.is_some_and(|s| s <= 0) {
        return Err(PerfTestError::RecordSize);
    }
    if !args.command_property.is_empty() && !args.producer_props.is_empty() {
        return Err(PerfTestError::PropertyAndProducerProps);
    }
    if args.command_config.is_some() && args.producer_config.is_some() {
        return Err(PerfTestError::ConfigAndProducerConfig);
    }
    if args.reporting_interval <= 0 {
        return Err(PerfTestError::ReportingInterval);
    }
    if args.throughput == 0.0 || args.throughput.is_nan() {
        return Err(PerfTestError::ZeroThroughput);
    }
    if !args.producer_props.is_empty() {
        eprintln!(
            "Option --producer-props has been deprecated and will be removed in a future version. Use \
             --command-property instead."
        );
    }
    if args.producer_config.is_some() {
        eprintln!(
            "Option --producer.config has been deprecated and will be removed in a future version. Use \
             --command-config instead."
        );
    }
    let mut config = match args.command_config.as_ref().or(args.producer_config.as_ref()) {
        Some(path) => ProducerConfig::from_properties_file(path)?,
        None => ProducerConfig::default(),
    };
    let props = if args.command_property.is_empty() { &args.producer_props } else { &args.command_property };
    for p in props {
        let (k, v) = parse_prop(p)?;
        config.set(&k, &v)?;
    }
    if let Some(b) = &args.bootstrap_server {
        config.set("bootstrap.servers", b).map_err(PerfTestError::Bootstrap)?;
    }
    if !config.explicitly_set.contains("client.id") {
        config.set("client.id", "perf-producer-client")?;
    }
    let txn = super::perf_txn::resolve(args.transactional_id.as_deref(), args.transaction_duration_ms, &mut config)?;
    let embedded = config.bootstrap_servers.is_empty();
    Ok(Plan {
        num_records: args.num_records as u64,
        warmup_records: args.warmup_records.max(0) as u64,
        throughput: (args.throughput > 0.0).then_some(args.throughput),
        config,
        embedded,
        txn,
    })
}

fn payload_source(args: &PerfTestArgs) -> Result<PayloadSource, PerfTestError> {
    if let Some(size) = args.record_size {
        return Ok(PayloadSource::sized(size as usize));
    }
    if let Some(path) = &args.payload_file {
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        println!("Reading payloads from: {}", shown.display());
        let text = std::fs::read_to_string(path)
            .map_err(|source| PerfTestError::ReadPayloadFile { path: path.clone(), source })?;
        if text.is_empty() {
            return Err(PerfTestError::EmptyPayloadFile(path.clone()));
        }
        let delimiter = if args.payload_delimiter == "\\n" { "\n" } else { args.payload_delimiter.as_str() };
        let payloads: Vec<&'static [u8]> = split_payloads(&text, delimiter)
            .into_iter()
            .map(|p| &*Box::leak(p.into_bytes().into_boxed_slice()))
            .collect();
        println!("Number of records read: {}", payloads.len());
        if payloads.is_empty() {
            return Err(PerfTestError::NoPayloads(path.clone()));
        }
        return Ok(PayloadSource::File { payloads, rng: SmallRng::seed_from_u64(0) });
    }
    Ok(PayloadSource::Monotonic)
}

/// Runs `kprod perf-test`; returns the exit code (0 when every record was acknowledged).
///
/// The whole test, sending loop included, runs as a task on the runtime's workers, as `kprod run`'s sending tasks
/// do, so the two tools measure the producer the same way. From the thread that called `block_on` (the main
/// thread, outside the workers), with the sender on a thread of its own and an embedded broker on the workers, four
/// threads shared two cores. 100 B records, embedded broker, 3 runs each alternating, medians (2026-12-06): to 1
/// partition with acks=all and 128 KiB batches, 6.07 M records/s from the main thread (runs 3.9–7.0) and 8.69 M as
/// a task (8.6–8.9); lz4 5.54 and 5.72 M. To 8 partitions with acks=1 and 256 KiB batches: 9.12 and 8.98 M, lz4
/// 6.98 and 7.53 M.
pub async fn run_cli(args: PerfTestArgs) -> Result<i32, PerfTestError> {
    match tokio::spawn(run_cli_here(args)).await {
        Ok(result) => result,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime shutting down cancels the task: the test did not finish.
            Err(_) => Ok(1),
        },
    }
}

async fn run_cli_here(args: PerfTestArgs) -> Result<i32, PerfTestError> {
    let mut plan = plan(&args)?;
    let mut payloads = payload_source(&args)?;
    let cluster = if plan.embedded {
        let c = MockCluster::builder()
            .brokers(1)
            .default_partitions(args.embedded_partitions.max(1))
            .mode(StorageMode::Sink)
            .start()
            .await
            .map_err(PerfTestError::EmbeddedBroker)?;
        eprintln!("No bootstrap servers given: using the embedded mock broker at {} (sink mode).", c.bootstrap());
        plan.config.set("bootstrap.servers", &c.bootstrap())?;
        Some(c)
    } else {
        None
    };
    let client_id = plan.config.client_id.clone();
    let result = run(&args, plan, &mut payloads, &client_id).await;
    if let Some(c) = cluster {
        c.shutdown().await;
    }
    result
}

async fn run(
    args: &PerfTestArgs,
    plan: Plan,
    payloads: &mut PayloadSource,
    client_id: &str,
) -> Result<i32, PerfTestError> {
    let measure = !args.no_measure;
    let callback = measure && args.latency_path == LatencyPath::Callback;
    let start = Instant::now();
    let hooks = Arc::new(PerfHooks {
        start,
        measure,
        callback,
        stats: Mutex::new(StatsPair { total: Stats::new(start, false), steady: None }),
        failed_records: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    let max_block = plan.config.max_block;
    let producer = Producer::<Payload, Payload>::builder(plan.config).hooks(hooks.clone()).build()?;
    let mut txn = plan.txn.map(|t| super::perf_txn::TxnPacer::new(t, max_block));
    if let Some(t) = &txn {
        t.init(&producer).await.map_err(PerfTestError::InitTransactions)?;
    }
    if plan.warmup_records > 0 {
        println!(
            "Warmup first {} records. Steady state results will print after the complete test summary.",
            plan.warmup_records
        );
    }
    let reporter = spawn_reporter(hooks.clone(), Duration::from_millis(args.reporting_interval as u64));
    let topic: Arc<str> = Arc::from(args.topic.as_str());
    let ns_per_record = plan.throughput.map(|t| 1e9 / t);
    let mut now_ns = 0u64;
    let mut send_error = None;
    for i in 0..plan.num_records {
        let payload = payloads.next(i);
        let mut user_data = 0;
        if let Some(step) = ns_per_record {
            let due_ns = (i as f64 * step) as u64;
            if due_ns > now_ns {
                now_ns = start.elapsed().as_nanos() as u64;
                if due_ns > now_ns + SLEEP_MIN_NS {
                    tokio::time::sleep_until((start + Duration::from_nanos(due_ns)).into()).await;
                    now_ns = start.elapsed().as_nanos() as u64;
                }
            }
            user_data = due_ns;
        } else if measure {
            if i % CLOCK_EVERY == 0 {
                now_ns = start.elapsed().as_nanos() as u64;
            }
            user_data = now_ns;
        }
        if plan.warmup_records > 0 && i >= plan.warmup_records {
            if i == plan.warmup_records {
                let mut s = hooks.lock();
                s.total.suppress_print = true;
                s.steady = Some(Stats::new(Instant::now(), true));
            }
            user_data |= STEADY_BIT;
        }
        if i % YIELD_EVERY == YIELD_EVERY - 1 {
            // Let the worker run what the sends woke (an embedded broker, the reporter): `try_send_and_forget`
            // never yields, and a task woken from this worker waits in its LIFO slot until the loop does.
            tokio::task::yield_now().await;
        }
        if let Some(t) = &mut txn
            && let Err(e) = t.before_send(&producer)
        {
            send_error = Some(PerfTestError::BeginTransaction { record: i, source: e });
            break;
        }
        let send_start = txn.as_ref().map(|_| Instant::now());
        let mut record = ProducerRecord::new(topic.clone(), payload);
        record.user_data = user_data;
        let sent = if callback {
            let hooks = hooks.clone();
            let bytes = payload.as_ref().len() as u64;
            producer
                .send_with_callback(record, move |r| {
                    if r.is_ok() {
                        hooks.record_one(user_data, bytes, Instant::now());
                    }
                })
                .await
        } else {
            // The fast path is a plain call (no future built per record); only a record that must wait for
            // memory or metadata gets the waiting send.
            let (r, waited) = match producer.try_send_and_forget(record) {
                TrySend::Appended => (Ok(()), false),
                TrySend::Failed(e) => (Err(e), false),
                TrySend::WouldWait(w) => noting_wait(producer.send_and_forget_after(w)).await,
            };
            if waited && measure && ns_per_record.is_none() {
                // The send blocked (buffer.memory, metadata): the cached clock is stale for the records that follow.
                now_ns = start.elapsed().as_nanos() as u64;
            }
            r
        };
        if let Err(e) = sent {
            send_error = Some(PerfTestError::Send { record: i, source: e });
            break;
        }
        if let (Some(t), Some(at)) = (&mut txn, send_start)
            && let Err(e) = t.after_send(&producer, at).await
        {
            send_error = Some(PerfTestError::CommitTransaction { record: i, source: e });
            break;
        }
    }
    if send_error.is_none()
        && let Some(t) = &mut txn
        && let Err(e) = t.finish(&producer).await
    {
        send_error = Some(PerfTestError::LastCommit(e));
    }
    let _ = producer.flush().await;
    if !args.print_metrics {
        let _ = producer.close(Duration::from_secs(30)).await;
    }
    reporter.abort();
    if let Some(e) = send_error {
        let _ = producer.close(Duration::from_secs(5)).await;
        return Err(e);
    }
    let now = Instant::now();
    {
        let s = hooks.lock();
        if !measure {
            eprintln!("Latency not measured (--no-measure): latency figures below are 0.");
        }
        println!("{}", total_line(&zero_if_unmeasured(s.total.totals(now), measure)));
        if let Some(st) = &s.steady {
            println!("{}", total_line(&zero_if_unmeasured(st.totals(now), measure)));
        }
    }
    if let Some(t) = &txn {
        println!("{}", t.summary_line());
    }
    if args.print_metrics {
        print!("{}", metrics_table(&producer.metrics(), client_id));
        let _ = producer.close(Duration::from_secs(30)).await;
    }
    let failed = hooks.failed_records.load(Ordering::Relaxed);
    if failed > 0 {
        let first = hooks.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default();
        eprintln!("perf-test: {failed} record(s) failed; first: {first}");
        return Ok(1);
    }
    Ok(0)
}

/// Awaits `fut` and tells whether it had to wait (returned `Pending` at least once).
async fn noting_wait<F: std::future::Future>(fut: F) -> (F::Output, bool) {
    let mut fut = std::pin::pin!(fut);
    let mut waited = false;
    let out = std::future::poll_fn(|cx| {
        let p = fut.as_mut().poll(cx);
        waited |= p.is_pending();
        p
    })
    .await;
    (out, waited)
}

fn zero_if_unmeasured(mut t: Totals, measure: bool) -> Totals {
    if !measure {
        t.latency_ms_avg = 0.0;
        t.latency_ms_max = 0.0;
    }
    t
}

/// Prints a progress line every `interval` for whichever `Stats` is active (Java prints from the callback of
/// the first record completing after the interval; a timer gives the same lines without touching the hot path).
fn spawn_reporter(hooks: Arc<PerfHooks>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let mut s = hooks.lock();
            let StatsPair { total, steady } = &mut *s;
            let line = if total.suppress_print {
                total.take_window(now);
                steady.as_mut().and_then(|st| st.take_window(now))
            } else {
                total.take_window(now)
            };
            drop(s);
            if let Some(line) = line {
                println!("{line}");
            }
        }
    })
}

#[cfg(test)]
#[path = "perf_test_tests.rs"]
mod tests;
