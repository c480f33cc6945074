//! Workload files: what to send, how fast, for how long, and with which producer settings.
//!
//! A workload is a YAML file. Two vocabularies are accepted side by side:
//!
//! * **OpenMessaging Benchmark** fields, camelCase exactly as OMB spells them (`topics`, `partitionsPerTopic`,
//!   `messageSize`, `producerRate`, `testDurationMinutes`, ...), so an OMB workload file runs unchanged. OMB's
//!   consumer-side fields are accepted and reported in [`ResolvedWorkload::warnings`] as not used.
//! * **kprod** fields, all snake_case (`record_size`, `payload`, `keys`, `rate`, `duration_s`, `producer`, ...).
//!   Units are last in the name (`duration_s`, `warmup_s`).
//!
//! Where both vocabularies name the same thing (`messageSize` and `record_size`), giving both is an error.
//!
//! Any top-level field or any `producer:` property may be a YAML list: that makes the file a sweep, expanded by
//! [`crate::workbench::sweep`]. [`Workload::load`] keeps the document as parsed; [`Workload::expand`] yields one
//! [`WorkloadPoint`] per sweep point, each with its [`ResolvedWorkload`] where OMB fields are mapped onto kprod
//! semantics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

use super::peers::Peer;
use super::sweep::{self, SweepError, SweepSpec};

/// Errors from loading, overriding and resolving a workload. Each names the file and the culprit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadError {
    #[error("{file}: cannot read: {source}")]
    Io { file: PathBuf, source: std::io::Error },
    #[error("{file}:{line}:{column}: invalid YAML: {message}")]
    Syntax { file: PathBuf, line: usize, column: usize, message: String },
    #[error("{file}: unknown field `{field}`{at}{hint}")]
    UnknownField { file: PathBuf, field: String, at: String, hint: String },
    #[error("{file}: {message}")]
    Invalid { file: PathBuf, message: String },
    /// The fields parse but do not make a workload (a value out of range, two fields that conflict).
    #[error("{file}: {source}")]
    Resolve { file: PathBuf, source: ResolveError },
    #[error("{file}: sweep: {source}")]
    Sweep { file: PathBuf, source: SweepError },
    #[error("--set {arg}: {message}")]
    Override { arg: String, message: String },
    /// Something wrong on one line of the file (an unset `${VAR}`).
    #[error("{file}:{line}: {message}")]
    At { file: PathBuf, line: usize, message: String },
    /// A field whose value has the wrong type: `x.yaml:3: testDurationMinutes: expected a number, got "five"`.
    #[error("{}{}: {field}: expected {expected}, got {got}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Type { file: PathBuf, line: Option<usize>, field: String, expected: String, got: String },
}

/// What [`resolve`] finds wrong with a parsed workload's fields; [`WorkloadError::Resolve`] adds the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A kprod field and its OMB spelling (or two ways to say the same thing) are both given.
    #[error("both `{0}` and `{1}` are given; keep one")]
    Both(&'static str, &'static str),
    /// A duration field outside 0..=1e7 seconds.
    #[error("`{field}` must be between 0 and 1e7 seconds, got {seconds}")]
    Seconds { field: &'static str, seconds: f64 },
    #[error("partitions per topic must be 1..={PARTITIONS_MAX}, got {0}")]
    Partitions(u32),
    #[error("`topics` must be 1..=10000, got {0}")]
    Topics(u32),
    #[error("`record_size`: {0} bytes exceeds {RECORD_SIZE_MAX}")]
    RecordSizeTooLarge(u32),
    #[error("`record_size`: need min <= max <= {RECORD_SIZE_MAX}")]
    RecordSizeUniform,
    #[error("`record_size`: normal needs finite mean and stddev >= 0")]
    RecordSizeNormal,
    #[error("`record_size`: lognormal needs finite mu and sigma >= 0")]
    RecordSizeLognormal,
    #[error("`record_size`: histogram needs [size, weight] pairs with weights >= 0")]
    RecordSizeHistogram,
    #[error("`record_size`: histogram weights are all zero")]
    RecordSizeHistogramZero,
    #[error("`payload.compressibility` must be within 0..=1, got {0}")]
    Compressibility(f64),
    #[error("`keys`: the key count must be at least 1")]
    KeyCount,
    #[error("`keys.zipf.s` must be > 0, got {0}")]
    ZipfExponent(f64),
    #[error("both a duration and `records` are given; keep one")]
    DurationAndRecords,
    #[error("`records` must be at least 1")]
    NoRecords,
    /// `rate:` is neither a number, null, `{search: ...}` nor `{ramp: ...}`.
    #[error("`rate` expects a number (records/s), null (closed loop), {{search: {{...}}}} or {{ramp: {{...}}}}")]
    RateShape,
    /// The body of `rate.search` or `rate.ramp` does not parse (an unknown or mistyped field).
    #[error("`rate.{key}`: {}", strip_location(&source.to_string()))]
    RateBody { key: String, source: serde_yaml_ng::Error },
    #[error("`rate` must be at most 1e9 records/s, got {0}")]
    RateTooHigh(f64),
    #[error("both `rate` and OMB's `producerRate`/`producerStartRate`/`producerIncrement*` are given; keep one")]
    RateAndOmbRate,
    /// An OMB rate field that is not a number.
    #[error("`{0}` expects a number")]
    OmbRateNotNumber(&'static str),
    #[error("`rate.search`: p99_ms_max must be > 0, got {0}")]
    SearchP99(f64),
    #[error("`rate.search`: lag_p99_ms_max must be > 0, got {0}")]
    SearchLagP99(f64),
    #[error("`rate.search`: start must be 1..=1e9 records/s, got {0}")]
    SearchStart(f64),
    #[error("`rate.search`: precision must be within 0.001..=1, got {0}")]
    SearchPrecision(f64),
    #[error("`rate.search`: step_s must be 0.1..=3600 s and step_warmup_s 0..=3600 s")]
    SearchStep,
    #[error("`rate.search`: max_steps must be ≥ 1 and max_s > 0")]
    SearchBudget,
    #[error("`rate.search`: retries must be 0..=10, got {0}")]
    SearchRetries(u32),
    /// `at` is `` `rate.ramp` `` or OMB's ramp fields, whichever the file used.
    #[error("{at}: start must be > 0 and increment ≥ 0 (records/s, at most 1e9), got {start} and {increment}")]
    RampRates { at: &'static str, start: f64, increment: f64 },
    #[error("{at}: every_s must be > 0 s, got {every_s}")]
    RampEvery { at: &'static str, every_s: f64 },
    #[error("{at}: max must be ≥ start and at most 1e9, got {max}")]
    RampMax { at: &'static str, max: f64 },
    #[error("worker_threads must be 1..={WORKER_THREADS_MAX}, got {0}")]
    WorkerThreads(u32),
    #[error("producers × tasks_per_producer must be 1..={TASKS_MAX}")]
    Tasks,
    #[error("`peers` must name at least one producer (kprod, librdkafka, java)")]
    NoPeers,
    #[error("`peers` lists {0} twice")]
    PeerTwice(Peer),
    #[error("a searched or ramped `rate` measures kprod only: drop `peers` or give a fixed rate")]
    RateControlNeedsKprod,
    #[error("producer property `{key}` must be a scalar, got {value:?}")]
    PropertyNotScalar { key: String, value: Value },
    #[error("`transaction` needs exactly one of `records: N` or `duration_ms: T` (> 0)")]
    TransactionBound,
    #[error("`transaction` needs a `producer: {{transactional.id: <id>}}` property")]
    TransactionNeedsId,
    #[error(
        "producer `transactional.id` needs a `transaction:` field (`records: N` or `duration_ms: T`) saying when to \
         commit"
    )]
    TransactionalIdNeedsTransaction,
}

/// Why a `--set` path cannot be written into the workload document.
#[derive(Debug, thiserror::Error)]
enum SetPathError {
    #[error("empty key")]
    EmptyKey,
    #[error("`{0}` is not a mapping")]
    NotMapping(String),
}

/// Record size distribution, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SizeDist {
    Fixed(u32),
    Uniform {
        min: u32,
        max: u32,
    },
    Normal {
        mean: f64,
        stddev: f64,
    },
    Lognormal {
        mu: f64,
        sigma: f64,
    },
    /// `[[size, weight], ...]`
    Histogram(Vec<(u32, f64)>),
}

/// How payload bytes are made; decides how well they compress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PayloadSpec {
    /// Uniform random bytes: incompressible.
    Random,
    /// Words and spaces: compresses like log lines.
    Text,
    /// Uniform random letters A–Z: what `kafka-producer-perf-test` and `kprod perf-test` send (about 4.7 bits of
    /// entropy per byte), for comparing with them like for like.
    Letters,
    /// A short pattern repeated: compresses extremely well.
    Repeated,
    /// Slices of the file's bytes.
    File(PathBuf),
    /// Fraction (0..=1) of each payload that is compressible filler; the rest is random (OMB's
    /// `randomBytesRatio` is `1 - compressibility`).
    Compressibility(f64),
}

/// Which keys records carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeySpec {
    None,
    RoundRobin(u64),
    Uniform(u64),
    Zipf {
        n: u64,
        s: f64,
    },
    /// A new key per record (0, 1, 2, ...).
    Sequential,
}

/// Headers added to every record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSpec {
    pub count: u32,
    pub key_size: u32,
    pub value_size: u32,
}

/// Arrival process of an open-loop schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrival {
    #[default]
    Constant,
    Poisson,
}

/// Where records go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetSpec {
    Embedded(EmbeddedTarget),
    /// `host:port,host:port`
    Bootstrap(String),
}

/// What the mock broker does with appended records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkMode {
    /// Acknowledge and drop: measures the producer, not the broker's storage.
    #[default]
    Sink,
    Retain,
}

/// The in-process mock cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedTarget {
    #[serde(default = "one")]
    pub brokers: u32,
    /// Overrides the workload's partitions per topic when set.
    #[serde(default)]
    pub partitions: Option<u32>,
    #[serde(default)]
    pub mode: SinkMode,
    /// Fault injection settings, passed through to the mock broker unchanged (it owns their meaning).
    #[serde(default)]
    pub faults: BTreeMap<String, Value>,
    /// Require SASL on the mock cluster (users, mechanisms, re-auth); see [`super::secrets`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<super::secrets::EmbeddedSasl>,
}

fn one() -> u32 {
    1
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec::Embedded(EmbeddedTarget {
            brokers: 1,
            partitions: None,
            mode: SinkMode::Sink,
            faults: BTreeMap::new(),
            sasl: None,
        })
    }
}

/// OMB's key distributors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OmbKeyDistributor {
    NoKey,
    KeyRoundRobin,
    RandomNano,
}

/// One point of a workload file, as written (after sweep expansion). Field names are the file's names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub name: Option<String>,
    // ---- OpenMessaging Benchmark fields (camelCase, as OMB writes them) ----
    pub topics: Option<u32>,
    #[serde(rename = "partitionsPerTopic")]
    pub partitions_per_topic: Option<u32>,
    #[serde(rename = "messageSize")]
    pub message_size: Option<u32>,
    #[serde(rename = "payloadFile")]
    pub payload_file: Option<PathBuf>,
    #[serde(rename = "useRandomizedPayloads")]
    pub use_randomized_payloads: Option<bool>,
    #[serde(rename = "randomBytesRatio")]
    pub random_bytes_ratio: Option<f64>,
    #[serde(rename = "randomizedPayloadPoolSize")]
    pub randomized_payload_pool_size: Option<u64>,
    #[serde(rename = "keyDistributor")]
    pub key_distributor: Option<OmbKeyDistributor>,
    #[serde(rename = "producersPerTopic")]
    pub producers_per_topic: Option<u32>,
    #[serde(rename = "producerRate")]
    pub producer_rate: Option<f64>,
    #[serde(rename = "testDurationMinutes")]
    pub test_duration_minutes: Option<f64>,
    #[serde(rename = "warmupDurationMinutes")]
    pub warmup_duration_minutes: Option<f64>,
    // OMB consumer/backlog/rate-search fields: accepted so OMB files load, never used; listed as warnings.
    #[serde(rename = "subscriptionsPerTopic")]
    pub subscriptions_per_topic: Option<Value>,
    #[serde(rename = "consumerPerSubscription")]
    pub consumer_per_subscription: Option<Value>,
    #[serde(rename = "consumerBacklogSizeGB")]
    pub consumer_backlog_size_gb: Option<Value>,
    #[serde(rename = "backlogDrainRatio")]
    pub backlog_drain_ratio: Option<Value>,
    #[serde(rename = "messageRateReceivedForSubscription")]
    pub message_rate_received_for_subscription: Option<Value>,
    #[serde(rename = "producerStartRate")]
    pub producer_start_rate: Option<Value>,
    #[serde(rename = "acceptableBacklog")]
    pub acceptable_backlog: Option<Value>,
    #[serde(rename = "producerIncrementRate")]
    pub producer_increment_rate: Option<Value>,
    #[serde(rename = "producerIncrementSeconds")]
    pub producer_increment_seconds: Option<Value>,
    #[serde(rename = "producerPauseBeforeDrain")]
    pub producer_pause_before_drain: Option<Value>,
    #[serde(rename = "producerPauseDuringDrain")]
    pub producer_pause_during_drain: Option<Value>,
    // ---- kprod fields (snake_case) ----
    pub topic: Option<String>,
    /// Free text recorded with the result; handy as a sweep dimension to name points (`label: [sticky, keyed]`).
    pub label: Option<String>,
    pub partitions: Option<u32>,
    pub record_size: Option<SizeDist>,
    pub payload: Option<PayloadSpec>,
    pub keys: Option<KeySpec>,
    pub headers: Option<HeaderSpec>,
    pub records: Option<u64>,
    pub duration_s: Option<f64>,
    pub warmup_s: Option<f64>,
    /// Records/s (a number), `null` for a closed loop, `{search: {...}}` or `{ramp: {...}}` ([`RateControl`]).
    pub rate: Option<Value>,
    pub arrival: Option<Arrival>,
    pub producers: Option<u32>,
    pub tasks_per_producer: Option<u32>,
    /// Bound on records sent but not yet acknowledged, per task (back-pressure in closed loop).
    pub max_outstanding_per_task: Option<u32>,
    /// Worker threads of the async runtime that runs the point: its producers, load tasks and embedded broker
    /// (default: one per core, tokio's default). `1` keeps the whole pipeline on one thread, which on a small
    /// machine is faster and far steadier than tasks handed between cores (see README "Comparing two builds").
    pub worker_threads: Option<u32>,
    pub seed: Option<u64>,
    /// Java producer properties (`batch.size: 65536`); `null` leaves a property at the producer's default.
    pub producer: Option<BTreeMap<String, Value>>,
    pub target: Option<TargetSpec>,
    /// Producers measured at every point, alternating (`[kprod, librdkafka, java]`); default `[kprod]`.
    /// A list by nature, so never a sweep dimension.
    pub peers: Option<Vec<Peer>>,
    pub sweep: Option<SweepSpec>,
    /// Run transactionally (needs `producer: {transactional.id: ...}`): commit every N records or every T ms.
    pub transaction: Option<TransactionSpec>,
}

/// A rate that is not one number: searched for, or stepped up over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateControl {
    /// Find the highest rate the producer sustains (`rate: {search: {...}}`, OMB's `producerRate: 0`).
    Search(RateSearch),
    /// Start at a rate and add to it at a fixed period (`rate: {ramp: {...}}`, OMB's `producerIncrementRate`).
    Ramp(RateRamp),
}

/// The maximum sustainable rate search: open-loop steps that double from `start` until one fails, then bisect
/// between the highest passing and the lowest failing rate until they are within `precision` of each other.
/// A step passes when the producer keeps up (records sent and acked ≥ 95 % of the step's rate, the step ends
/// within 10 % of its duration, schedule lag p99 ≤ `lag_p99_ms_max`) and, when set, response time p99 ≤
/// `p99_ms_max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSearch {
    /// Latency objective: response time p99 (intended send → ack), in ms. `None`: keeping up is enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms_max: Option<f64>,
    /// Schedule lag p99 (intended → actual send) a step may have, in ms.
    #[serde(default = "RateSearch::default_lag")]
    pub lag_p99_ms_max: f64,
    /// The first step's rate, records/s (OMB starts at 10,000).
    #[serde(default = "RateSearch::default_start")]
    pub start: f64,
    /// Stop when (lowest failing − highest passing) ≤ precision × highest passing.
    #[serde(default = "RateSearch::default_precision")]
    pub precision: f64,
    /// Each step: this warm-up, then this measured time, in seconds.
    #[serde(default = "RateSearch::default_step_warmup")]
    pub step_warmup_s: f64,
    #[serde(default = "RateSearch::default_step")]
    pub step_s: f64,
    /// Bounds on the whole search: at most this many steps and this many seconds (steps are never cut short).
    #[serde(default = "RateSearch::default_max_steps")]
    pub max_steps: u32,
    #[serde(default = "RateSearch::default_max_s")]
    pub max_s: f64,
    /// A failed step runs again at the same rate up to this many times before it counts as failed (a stall of a
    /// shared machine then does not end the bracket); every attempt is kept.
    #[serde(default)]
    pub retries: u32,
}

impl RateSearch {
    fn default_lag() -> f64 {
        50.0
    }
    fn default_start() -> f64 {
        10_000.0
    }
    fn default_precision() -> f64 {
        0.05
    }
    fn default_step_warmup() -> f64 {
        1.0
    }
    fn default_step() -> f64 {
        2.0
    }
    fn default_max_steps() -> u32 {
        20
    }
    fn default_max_s() -> f64 {
        120.0
    }

    fn check(&self) -> Result<(), ResolveError> {
        if let Some(p) = self.p99_ms_max
            && !(p > 0.0 && p.is_finite())
        {
            return Err(ResolveError::SearchP99(p));
        }
        if !(self.lag_p99_ms_max > 0.0 && self.lag_p99_ms_max.is_finite()) {
            return Err(ResolveError::SearchLagP99(self.lag_p99_ms_max));
        }
        if !(self.start >= 1.0 && self.start <= 1e9) {
            return Err(ResolveError::SearchStart(self.start));
        }
        if !(self.precision >= 0.001 && self.precision <= 1.0) {
            return Err(ResolveError::SearchPrecision(self.precision));
        }
        if !((0.1..=3600.0).contains(&self.step_s) && (0.0..=3600.0).contains(&self.step_warmup_s)) {
            return Err(ResolveError::SearchStep);
        }
        if self.max_steps == 0 || !(self.max_s > 0.0 && self.max_s <= 1e7) {
            return Err(ResolveError::SearchBudget);
        }
        if self.retries > 10 {
            return Err(ResolveError::SearchRetries(self.retries));
        }
        Ok(())
    }
}

impl Default for RateSearch {
    fn default() -> Self {
        serde_yaml_ng::from_str("{}").expect("every field has a default")
    }
}

/// A stepped rate: `start` records/s, plus `increment` every `every_s` seconds (counted from the start of the
/// warm-up), never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRamp {
    pub start: f64,
    pub increment: f64,
    pub every_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl RateRamp {
    /// The total rate at `t` after the schedule's start.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let steps = (t.as_secs_f64() / self.every_s).floor();
        let r = self.start + steps * self.increment;
        self.max.map_or(r, |m| r.min(m))
    }

    /// The mean intended rate between `from` and `to` after the schedule's start (the steps integrated).
    pub fn mean_rate(&self, from: Duration, to: Duration) -> f64 {
        let (a, b) = (from.as_secs_f64(), to.as_secs_f64());
        if b <= a {
            return self.rate_at(from);
        }
        let (mut t, mut records) = (a, 0.0);
        while t < b {
            // The end of the step `t` lies in.
            let step_end = (((t / self.every_s).floor() + 1.0) * self.every_s).min(b);
            records += self.rate_at(Duration::from_secs_f64(t)) * (step_end - t);
            t = step_end;
        }
        records / (b - a)
    }

    /// Checks the ramp's fields; `at` names them in the error (`` `rate.ramp` `` or OMB's ramp fields).
    fn check(&self, at: &'static str) -> Result<(), ResolveError> {
        let ok = |v: f64| v.is_finite() && v <= 1e9;
        if !(self.start > 0.0 && ok(self.start) && self.increment >= 0.0 && ok(self.increment)) {
            return Err(ResolveError::RampRates { at, start: self.start, increment: self.increment });
        }
        if !(self.every_s > 0.0 && self.every_s <= 1e7) {
            return Err(ResolveError::RampEvery { at, every_s: self.every_s });
        }
        if let Some(m) = self.max
            && !(m >= self.start && ok(m))
        {
            return Err(ResolveError::RampMax { at, max: m });
        }
        Ok(())
    }
}

/// `rate:` as written: a number (records/s), `null` (closed loop), `{search: {...}}` or `{ramp: {...}}`.
fn parse_rate(v: &Value) -> Result<(Option<f64>, Option<RateControl>), ResolveError> {
    match v {
        Value::Null => Ok((None, None)),
        Value::Number(n) => Ok((n.as_f64(), None)),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, body) = m.iter().next().expect("one entry");
            let body = if body.is_null() { Value::Mapping(Mapping::new()) } else { body.clone() };
            let what = |source| ResolveError::RateBody { key: k.as_str().unwrap_or("?").to_string(), source };
            match k.as_str() {
                Some("search") => {
                    let s: RateSearch = serde_yaml_ng::from_value(body).map_err(what)?;
                    s.check()?;
                    Ok((None, Some(RateControl::Search(s))))
                }
                Some("ramp") => {
                    let r: RateRamp = serde_yaml_ng::from_value(body).map_err(what)?;
                    r.check("`rate.ramp`")?;
                    Ok((Some(r.start), Some(RateControl::Ramp(r))))
                }
                _ => Err(ResolveError::RateShape),
            }
        }
        _ => Err(ResolveError::RateShape),
    }
}

/// When the workbench commits a transaction: after `records` records, or when it is `duration_ms` old.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Every top-level field name a workload file may use (for `--set` and sweep dimension lookup).
pub const WORKLOAD_FIELDS: &[&str] = &[
    "name",
    "topics",
    "partitionsPerTopic",
    "messageSize",
    "payloadFile",
    "useRandomizedPayloads",
    "randomBytesRatio",
    "randomizedPayloadPoolSize",
    "keyDistributor",
    "producersPerTopic",
    "producerRate",
    "testDurationMinutes",
    "warmupDurationMinutes",
    "subscriptionsPerTopic",
    "consumerPerSubscription",
    "consumerBacklogSizeGB",
    "backlogDrainRatio",
    "messageRateReceivedForSubscription",
    "producerStartRate",
    "acceptableBacklog",
    "producerIncrementRate",
    "producerIncrementSeconds",
    "producerPauseBeforeDrain",
    "producerPauseDuringDrain",
    "topic",
    "label",
    "partitions",
    "record_size",
    "payload",
    "keys",
    "headers",
    "records",
    "duration_s",
    "warmup_s",
    "rate",
    "arrival",
    "producers",
    "tasks_per_producer",
    "max_outstanding_per_task",
    "worker_threads",
    "seed",
    "producer",
    "target",
    "peers",
    "sweep",
    "transaction",
];

/// The fields that say the same thing as `field` in the other vocabulary (or another way), which a `--set field=…`
/// replaces: the command line wins over the file. A file that gives both is still refused.
pub fn equivalent_fields(field: &str) -> &'static [&'static str] {
    const RATE_OMB: &[&str] =
        &["producerRate", "producerStartRate", "producerIncrementRate", "producerIncrementSeconds"];
    match field {
        "duration_s" => &["testDurationMinutes", "records"],
        "testDurationMinutes" => &["duration_s", "records"],
        "records" => &["duration_s", "testDurationMinutes"],
        "warmup_s" => &["warmupDurationMinutes"],
        "warmupDurationMinutes" => &["warmup_s"],
        "rate" => RATE_OMB,
        "producerRate" | "producerStartRate" | "producerIncrementRate" | "producerIncrementSeconds" => &["rate"],
        "record_size" => &["messageSize"],
        "messageSize" => &["record_size"],
        "partitions" => &["partitionsPerTopic"],
        "partitionsPerTopic" => &["partitions"],
        "producers" => &["producersPerTopic"],
        "producersPerTopic" => &["producers"],
        "keys" => &["keyDistributor"],
        "keyDistributor" => &["keys"],
        "payload" => &["payloadFile", "useRandomizedPayloads", "randomBytesRatio"],
        "payloadFile" | "useRandomizedPayloads" | "randomBytesRatio" => &["payload"],
        _ => &[],
    }
}

/// True when `name` is a top-level workload field (as opposed to a producer property).
pub fn is_workload_field(name: &str) -> bool {
    WORKLOAD_FIELDS.contains(&name)
}

/// When a run stops (after the warm-up).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopAfter {
    Duration(Duration),
    Records(u64),
}

/// A topic and its partition count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
}

/// One runnable point: every OMB field mapped onto kprod semantics, every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedWorkload {
    pub name: String,
    pub label: Option<String>,
    pub topics: Vec<TopicSpec>,
    pub record_size: SizeDist,
    pub payload: PayloadSpec,
    pub keys: KeySpec,
    pub headers: HeaderSpec,
    pub stop: StopAfter,
    pub warmup: Duration,
    /// Total intended records/s over all tasks; `None` = closed loop at maximum rate (or a search, see
    /// `rate_control`). With a ramp: its starting rate.
    pub rate_records_per_s: Option<f64>,
    /// A searched or stepped rate; `None` = the fixed `rate_records_per_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_control: Option<RateControl>,
    pub arrival: Arrival,
    pub producers: u32,
    pub tasks_per_producer: u32,
    pub max_outstanding_per_task: u32,
    /// Worker threads of the point's own runtime; `None` = the process's runtime (one worker per core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_threads: Option<u32>,
    pub seed: u64,
    /// Java producer properties, values as strings (`"65536"`, `"lz4"`). Secrets are written as `[hidden]`.
    #[serde(serialize_with = "super::secrets::hidden_props")]
    pub producer_props: BTreeMap<String, String>,
    pub target: TargetSpec,
    /// Producers measured at this point, in run order (see [`crate::workbench::peers`]).
    #[serde(default = "default_peers")]
    pub peers: Vec<Peer>,
    /// Commit cadence of a transactional run (`producer_props` then holds `transactional.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<TransactionSpec>,
    /// Set when this is one shard's share of a workload (`kprod run --shard I/N`, see [`super::shard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::shard::ShardOf>,
    /// Fields given but not used (OMB consumer fields, ...).
    pub warnings: Vec<String>,
}

/// Upper bounds that keep a typo from asking for something absurd.
const TASKS_MAX: u32 = 4096;
/// The most worker threads a point's runtime may have (`worker_threads`).
const WORKER_THREADS_MAX: u32 = 1024;
const PARTITIONS_MAX: u32 = 1_000_000;
const RECORD_SIZE_MAX: u32 = 64 << 20;

/// A loaded workload file: the parsed document (which may hold sweep lists) plus where it came from.
#[derive(Debug, Clone)]
pub struct Workload {
    pub path: PathBuf,
    /// The text, kept to point unknown-field errors at a line.
    text: String,
    doc: Mapping,
}

/// One expanded sweep point.
#[derive(Debug, Clone)]
pub struct WorkloadPoint {
    pub name: String,
    /// The swept dimensions and this point's values, in sweep order (`[("batch.size", "65536")]`).
    pub dims: Vec<(String, String)>,
    /// Repeat index, 0-based.
    pub repeat: u32,
    pub workload: ResolvedWorkload,
}

impl Workload {
    /// Reads and validates a workload file (every sweep point is resolved once to catch errors early).
    pub fn load(path: impl AsRef<Path>) -> Result<Workload, WorkloadError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| WorkloadError::Io { file: path.to_path_buf(), source })?;
        Workload::parse(&text, path)
    }

    /// Parses workload text; `path` is only used in messages (and to resolve relative payload files).
    pub fn parse(text: &str, path: &Path) -> Result<Workload, WorkloadError> {
        let file = path.to_path_buf();
        let text = &substitute_env(text, path, |name| std::env::var(name).ok())?;
        let value: Value = serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            WorkloadError::Syntax { file: file.clone(), line, column, message: e.to_string() }
        })?;
        let doc = match value {
            Value::Mapping(m) => m,
            Value::Null => Mapping::new(),
            _ => return Err(WorkloadError::Invalid { file, message: "top level must be a mapping of fields".into() }),
        };
        let w = Workload { path: path.to_path_buf(), text: text.to_string(), doc };
        w.expand()?;
        Ok(w)
    }

    /// Applies `--set key=value` overrides. `key` is a workload field (`rate`, `duration_s`, dotted paths into a
    /// nested field like `target.bootstrap`), `producer.<property>`, or else a Java producer property such as
    /// `batch.size`. The value is parsed as YAML, so `--set linger.ms=[0,5]` turns the run into a sweep.
    pub fn apply_overrides<S: AsRef<str>>(&mut self, sets: &[S]) -> Result<(), WorkloadError> {
        for arg in sets {
            let arg = arg.as_ref();
            let err = |message: &str| WorkloadError::Override { arg: arg.to_string(), message: message.to_string() };
            let (key, raw) = arg.split_once('=').ok_or_else(|| err("expected key=value"))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(err("empty key"));
            }
            let value: Value = serde_yaml_ng::from_str(raw).map_err(|e| err(&format!("bad value: {e}")))?;
            let first = key.split('.').next().unwrap_or(key);
            let path: Vec<&str> = if let Some(prop) = key.strip_prefix("producer.") {
                vec!["producer", prop]
            } else if is_workload_field(key) {
                vec![key]
            } else if is_workload_field(first) && first != "producer" {
                key.split('.').collect()
            } else {
                if !crate::producer::config::known_keys().any(|k| k == key) {
                    return Err(err(&unknown_set_key(key)));
                }
                vec!["producer", key]
            };
            if let [field] = path.as_slice() {
                // The command line wins over the file: drop the file's fields that say the same thing another way
                // (`--set duration_s=5` on an OMB file with `testDurationMinutes`).
                for other in equivalent_fields(field) {
                    self.doc.remove(*other);
                }
            }
            set_path(&mut self.doc, &path, value).map_err(|e| err(&e.to_string()))?;
            if path[0] != "producer" {
                // A value of the wrong type is about this `--set`, not the file: say which key and what it takes.
                let expected = match self.expand() {
                    Err(WorkloadError::Type { expected, .. }) => Some(expected),
                    Err(WorkloadError::Invalid { message, .. }) => expects(&message, key),
                    Err(WorkloadError::Resolve { source, .. }) => expects(&source.to_string(), key),
                    _ => None,
                };
                if let Some(expected) = expected {
                    return Err(err(&format!("`{key}` expects {expected}, got `{}`", raw.trim())));
                }
            }
        }
        self.expand()?;
        Ok(())
    }

    /// The sweep section, if any.
    pub fn sweep_spec(&self) -> Result<SweepSpec, WorkloadError> {
        match self.doc.get("sweep") {
            None => Ok(SweepSpec::default()),
            Some(v) => serde_yaml_ng::from_value(v.clone()).map_err(|e| self.field_error(&e.to_string(), "sweep")),
        }
    }

    /// Expands sweep lists into points and resolves each one.
    pub fn expand(&self) -> Result<Vec<WorkloadPoint>, WorkloadError> {
        let spec = self.sweep_spec()?;
        let mut body = self.doc.clone();
        body.remove("sweep");
        // `peers` is a list that every point runs in turn, not a sweep dimension: keep it out of the expansion.
        let peers = body.remove("peers");
        let seed = body.get("seed").and_then(Value::as_u64).unwrap_or(0);
        let raw = sweep::expand(&body, &spec, seed, is_workload_field)
            .map_err(|source| WorkloadError::Sweep { file: self.path.clone(), source })?;
        raw.into_iter()
            .map(|mut p| {
                if let Some(v) = &peers {
                    p.doc.insert(Value::String("peers".into()), v.clone());
                }
                let workload = self.resolve_doc(p.doc, &p.name)?;
                // A file without sweep lists is one point named after the workload.
                let name = if p.name.is_empty() { workload.name.clone() } else { p.name };
                Ok(WorkloadPoint { name, dims: p.dims, repeat: p.repeat, workload })
            })
            .collect()
    }

    fn resolve_doc(&self, doc: Mapping, point: &str) -> Result<ResolvedWorkload, WorkloadError> {
        // serde_yaml_ng reads enums as YAML tags (`!fixed 100`); singleton_map_recursive also accepts the
        // one-key map form (`{fixed: 100}`) and plain strings for unit variants (`payload: random`).
        let spec: WorkloadSpec = serde_yaml_ng::with::singleton_map_recursive::deserialize(Value::Mapping(doc.clone()))
            .map_err(|e| {
                self.type_error(&doc).unwrap_or_else(|| self.field_error(&strip_location(&e.to_string()), point))
            })?;
        resolve(&spec, &self.path).map_err(|source| WorkloadError::Resolve { file: self.path.clone(), source })
    }

    /// The first top-level field of `doc` whose value has the wrong type, as a [`WorkloadError::Type`] naming the
    /// file, the line that spells the field, what was expected and what was given. `None` when no single field is
    /// at fault (an unknown field, a conflict between fields).
    fn type_error(&self, doc: &Mapping) -> Option<WorkloadError> {
        for (k, v) in doc {
            let field = k.as_str()?;
            let mut alone = Mapping::new();
            alone.insert(k.clone(), v.clone());
            let one: Result<WorkloadSpec, _> =
                serde_yaml_ng::with::singleton_map_recursive::deserialize(Value::Mapping(alone));
            let Err(e) = one else { continue };
            let message = strip_location(&e.to_string());
            let expected = expected_type(&message)?;
            return Some(WorkloadError::Type {
                file: self.path.clone(),
                line: self.line_of(field),
                field: field.to_string(),
                expected,
                got: got_value(&message).unwrap_or_else(|| format!("{v:?}")),
            });
        }
        None
    }

    /// The 1-based line where `field:` starts (at the top level, or as a list item), if the file spells it.
    fn line_of(&self, field: &str) -> Option<usize> {
        let key = format!("{field}:");
        let quoted = [format!("\"{field}\":"), format!("'{field}':")];
        self.text
            .lines()
            .position(|l| {
                let l = l.trim_start().trim_start_matches("- ");
                l.starts_with(&key) || quoted.iter().any(|q| l.starts_with(q.as_str()))
            })
            .map(|i| i + 1)
    }

    /// Turns a serde message into a typed error; for unknown fields, finds the line that spells the field.
    fn field_error(&self, message: &str, point: &str) -> WorkloadError {
        let file = self.path.clone();
        if let Some(rest) = message.strip_prefix("unknown field `")
            && let Some((field, _)) = rest.split_once('`')
        {
            let at = self.line_of(field).map(|l| format!(" at line {l}")).unwrap_or_default();
            let hint = WORKLOAD_FIELDS
                .iter()
                .map(|f| (strsim::jaro_winkler(f, field), f))
                .filter(|(s, _)| *s > 0.85)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, f)| format!(" (did you mean `{f}`?)"))
                .unwrap_or_default();
            return WorkloadError::UnknownField { file, field: field.to_string(), at, hint };
        }
        let message = if point.is_empty() { message.to_string() } else { format!("point {point}: {message}") };
        WorkloadError::Invalid { file, message }
    }
}

/// What a field expects, read from an error message: a serde type error's "expected ...", or "`key` expects ...".
fn expects(message: &str, key: &str) -> Option<String> {
    expected_type(message)
        .or_else(|| message.split_once(&format!("`{key}` expects ")).map(|(_, rest)| rest.to_string()))
}

/// The error for a `--set` key that is neither a workload field nor a producer key: the nearest of either.
fn unknown_set_key(key: &str) -> String {
    let nearest = |names: &mut dyn Iterator<Item = &str>| {
        names.map(|n| (strsim::normalized_levenshtein(key, n), n.to_string())).max_by(|a, b| a.0.total_cmp(&b.0))
    };
    let field = nearest(&mut WORKLOAD_FIELDS.iter().copied());
    let prop = nearest(&mut crate::producer::config::known_keys());
    let hint = match (field, prop) {
        (Some((f, name)), Some((p, _))) if f >= p && f >= 0.6 => format!("; did you mean the workload field `{name}`?"),
        (_, Some((p, name))) if p >= 0.6 => format!("; did you mean the producer key `{name}`?"),
        _ => String::new(),
    };
    format!("`{key}` is neither a workload field nor a producer key{hint}")
}

/// What a serde type error says was expected, in words: `expected f64` → `a number`.
fn expected_type(message: &str) -> Option<String> {
    if !message.contains("invalid type") && !message.contains("invalid value") {
        return None;
    }
    let expected = message.rsplit_once("expected ")?.1.trim();
    Some(match expected {
        "f64" | "f32" => "a number".to_string(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number ≥ 0".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_string(),
        "a boolean" | "bool" => "true or false".to_string(),
        other => other.to_string(),
    })
}

/// What a serde type error says was given, as the file would spell it: `invalid type: string "x", expected f64`
/// → `"x"`, `sequence` → `a list`.
fn got_value(message: &str) -> Option<String> {
    let rest = message.split_once("invalid type: ").or_else(|| message.split_once("invalid value: "))?.1;
    let got = rest.rsplit_once(", expected ").map_or(rest, |(g, _)| g).trim();
    let unquote = |s: &str| s.trim_matches('`').to_string();
    Some(match got {
        "sequence" => "a list".to_string(),
        "map" => "a mapping".to_string(),
        "unit value" | "null" => "null".to_string(),
        g => match g.split_once(' ') {
            Some(("string", v)) => v.to_string(),
            Some(("floating", v)) => unquote(v.trim_start_matches("point").trim()),
            Some(("integer" | "boolean" | "character", v)) => unquote(v),
            _ => g.to_string(),
        },
    })
}

/// Substitutes shell-style `${VAR}` and `${VAR:-default}` (the default also when `VAR` is empty) with `lookup`
/// (the environment), as OMB's users write `testDurationMinutes: ${ombTestDuration:-15}`. Comments are left
/// alone, and so is a `${name}` without a default whose name is a workload field or a producer property: that is
/// a sweep's `name_template` placeholder (`${rate}`, `${batch.size}`). An unset variable without a default is an
/// error naming the variable, the file and the line.
pub fn substitute_env(
    text: &str,
    file: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, WorkloadError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let (body, comment) = split_comment(line);
        let mut rest = body;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let is_var = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let placeholder = default.is_none()
                && (is_workload_field(name) || crate::producer::config::known_keys().any(|k| k == name));
            if !is_var || placeholder {
                out.push_str(&rest[start..start + 2 + end + 1]);
            } else {
                match lookup(name).filter(|v| !v.is_empty()).or(default.map(str::to_string)) {
                    Some(v) => out.push_str(&v),
                    None => {
                        return Err(WorkloadError::At {
                            file: file.to_path_buf(),
                            line: i + 1,
                            message: format!(
                                "`${{{name}}}` is not set in the environment and has no default \
                                 (set {name}, or write `${{{name}:-value}}`)"
                            ),
                        });
                    }
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    Ok(out)
}

/// Splits a YAML line into its content and its comment (`#` at the start or after a blank, outside quotes).
fn split_comment(line: &str) -> (&str, &str) {
    let (mut single, mut double) = (false, false);
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_blank => return (&line[..i], &line[i..]),
            _ => {}
        }
        prev_blank = c.is_whitespace();
    }
    (line, "")
}

/// Drops serde_yaml_ng's " at line L column C" suffix, which points into re-serialized text, not the user's file.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Sets `path` inside a YAML mapping, creating intermediate mappings.
fn set_path(doc: &mut Mapping, path: &[&str], value: Value) -> Result<(), SetPathError> {
    let (last, parents) = path.split_last().ok_or(SetPathError::EmptyKey)?;
    let mut cur = doc;
    for p in parents {
        let entry = cur.entry(Value::String(p.to_string())).or_insert_with(|| Value::Mapping(Mapping::new()));
        if entry.is_null() {
            *entry = Value::Mapping(Mapping::new());
        }
        cur = entry.as_mapping_mut().ok_or_else(|| SetPathError::NotMapping(p.to_string()))?;
    }
    cur.insert(Value::String(last.to_string()), value);
    Ok(())
}

/// Renders a scalar YAML value as a producer property string.
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn both<T>(a: Option<T>, a_name: &'static str, b: Option<T>, b_name: &'static str) -> Result<Option<T>, ResolveError> {
    match (a, b) {
        (Some(_), Some(_)) => Err(ResolveError::Both(a_name, b_name)),
        (a, b) => Ok(a.or(b)),
    }
}

fn positive_secs(v: f64, field: &'static str) -> Result<Duration, ResolveError> {
    if !(0.0..=1e7).contains(&v) {
        return Err(ResolveError::Seconds { field, seconds: v });
    }
    Ok(Duration::from_secs_f64(v))
}

/// Maps a single point's fields (OMB and kprod) onto one [`ResolvedWorkload`].
pub fn resolve(spec: &WorkloadSpec, file: &Path) -> Result<ResolvedWorkload, ResolveError> {
    let mut warnings = Vec::new();
    let unused = [
        ("subscriptionsPerTopic", &spec.subscriptions_per_topic),
        ("consumerPerSubscription", &spec.consumer_per_subscription),
        ("consumerBacklogSizeGB", &spec.consumer_backlog_size_gb),
        ("backlogDrainRatio", &spec.backlog_drain_ratio),
        ("messageRateReceivedForSubscription", &spec.message_rate_received_for_subscription),
        ("acceptableBacklog", &spec.acceptable_backlog),
        ("producerPauseBeforeDrain", &spec.producer_pause_before_drain),
        ("producerPauseDuringDrain", &spec.producer_pause_during_drain),
    ];
    for (field, v) in unused {
        if v.is_some() {
            warnings.push(format!("OMB field `{field}` is not used by a producer benchmark"));
        }
    }
    if spec.randomized_payload_pool_size.is_some() {
        warnings.push("OMB field `randomizedPayloadPoolSize` is not used: kprod slices one pre-generated pool".into());
    }
    let partitions = both(spec.partitions, "partitions", spec.partitions_per_topic, "partitionsPerTopic")?;
    let mut partitions = partitions.unwrap_or(1);
    if let Some(TargetSpec::Embedded(e)) = &spec.target
        && let Some(p) = e.partitions
    {
        partitions = p;
    }
    if partitions == 0 || partitions > PARTITIONS_MAX {
        return Err(ResolveError::Partitions(partitions));
    }
    let topic_count = spec.topics.unwrap_or(1);
    if topic_count == 0 || topic_count > 10_000 {
        return Err(ResolveError::Topics(topic_count));
    }
    let base = spec.topic.clone().unwrap_or_else(|| "kprod-bench".to_string());
    let topics = (0..topic_count)
        .map(|i| TopicSpec { name: if topic_count == 1 { base.clone() } else { format!("{base}-{i}") }, partitions })
        .collect();

    let record_size =
        both(spec.record_size.clone(), "record_size", spec.message_size.map(SizeDist::Fixed), "messageSize")?
            .unwrap_or(SizeDist::Fixed(100));
    check_size(&record_size)?;

    let omb_payload = match (&spec.payload_file, spec.use_randomized_payloads) {
        (_, Some(true)) => Some(PayloadSpec::Compressibility(1.0 - spec.random_bytes_ratio.unwrap_or(1.0))),
        (Some(f), _) => Some(PayloadSpec::File(f.clone())),
        _ => None,
    };
    let mut payload = both(spec.payload.clone(), "payload", omb_payload, "payloadFile/useRandomizedPayloads")?
        .unwrap_or(PayloadSpec::Random);
    if let PayloadSpec::File(p) = &payload
        && p.is_relative()
        && let Some(dir) = file.parent()
    {
        // Relative payload files are relative to the workload file, so a workload directory can move as a whole.
        payload = PayloadSpec::File(dir.join(p));
    }
    if let PayloadSpec::Compressibility(c) = payload
        && !(0.0..=1.0).contains(&c)
    {
        return Err(ResolveError::Compressibility(c));
    }

    let omb_keys = spec.key_distributor.map(|k| match k {
        OmbKeyDistributor::NoKey => KeySpec::None,
        OmbKeyDistributor::KeyRoundRobin => KeySpec::RoundRobin(10_000),
        OmbKeyDistributor::RandomNano => KeySpec::Sequential,
    });
    let keys = both(spec.keys.clone(), "keys", omb_keys, "keyDistributor")?.unwrap_or(KeySpec::None);
    match &keys {
        KeySpec::RoundRobin(0) | KeySpec::Uniform(0) | KeySpec::Zipf { n: 0, .. } => {
            return Err(ResolveError::KeyCount);
        }
        KeySpec::Zipf { s, .. } if !(*s > 0.0 && s.is_finite()) => {
            return Err(ResolveError::ZipfExponent(*s));
        }
        _ => {}
    }

    let duration = both(
        spec.duration_s.map(|s| positive_secs(s, "duration_s")).transpose()?,
        "duration_s",
        spec.test_duration_minutes.map(|m| positive_secs(m * 60.0, "testDurationMinutes")).transpose()?,
        "testDurationMinutes",
    )?;
    let stop = match (duration, spec.records) {
        (Some(_), Some(_)) => return Err(ResolveError::DurationAndRecords),
        (Some(d), None) => StopAfter::Duration(d),
        (None, Some(0)) => return Err(ResolveError::NoRecords),
        (None, Some(n)) => StopAfter::Records(n),
        (None, None) => StopAfter::Duration(Duration::from_secs(10)),
    };
    // OMB's default warm-up is one minute; keep it for OMB-style files so their results compare.
    let omb_warmup_default = spec.test_duration_minutes.map(|_| 60.0);
    let warmup_s =
        both(spec.warmup_s, "warmup_s", spec.warmup_duration_minutes.map(|m| m * 60.0), "warmupDurationMinutes")?
            .or(omb_warmup_default);
    let warmup = warmup_s.map(|s| positive_secs(s, "warmup_s")).transpose()?.unwrap_or(Duration::ZERO);

    let (rate, rate_control) = resolve_rate(spec, &mut warnings)?;
    if let Some(r) = rate
        && !(r.is_finite() && r <= 1e9)
    {
        return Err(ResolveError::RateTooHigh(r));
    }
    let producers =
        both(spec.producers, "producers", spec.producers_per_topic.map(|p| p * topic_count), "producersPerTopic")?
            .unwrap_or(1);
    let tasks_per_producer = spec.tasks_per_producer.unwrap_or(1);
    if producers == 0 || tasks_per_producer == 0 || producers.saturating_mul(tasks_per_producer) > TASKS_MAX {
        return Err(ResolveError::Tasks);
    }
    let worker_threads = spec.worker_threads;
    if let Some(n) = worker_threads
        && !(1..=WORKER_THREADS_MAX).contains(&n)
    {
        return Err(ResolveError::WorkerThreads(n));
    }
    let peers = spec.peers.clone().unwrap_or_else(default_peers);
    if peers.is_empty() {
        return Err(ResolveError::NoPeers);
    }
    if let Some(dup) = peers.iter().enumerate().find(|(i, p)| peers[..*i].contains(p)) {
        return Err(ResolveError::PeerTwice(*dup.1));
    }
    if rate_control.is_some() && peers.iter().any(|p| *p != Peer::Kprod) {
        return Err(ResolveError::RateControlNeedsKprod);
    }
    let mut producer_props = BTreeMap::new();
    for (k, v) in spec.producer.iter().flatten() {
        if v.is_null() {
            // `null` unsets a property: lets a sweep point keep the producer's default.
            continue;
        }
        let s = scalar_string(v).ok_or_else(|| ResolveError::PropertyNotScalar { key: k.clone(), value: v.clone() })?;
        producer_props.insert(k.clone(), s);
    }
    let transaction = spec.transaction;
    match (transaction, producer_props.contains_key("transactional.id")) {
        (Some(TransactionSpec { records: Some(n), duration_ms: None }), true) if n > 0 => {}
        (Some(TransactionSpec { records: None, duration_ms: Some(ms) }), true) if ms > 0 => {}
        (Some(_), true) => {
            return Err(ResolveError::TransactionBound);
        }
        (Some(_), false) => return Err(ResolveError::TransactionNeedsId),
        (None, true) => {
            return Err(ResolveError::TransactionalIdNeedsTransaction);
        }
        (None, false) => {}
    }
    if transaction.is_some() && peers.iter().any(|p| *p != Peer::Kprod) {
        warnings.push("`transaction`: only the kprod peer runs transactions".into());
    }
    Ok(ResolvedWorkload {
        transaction,
        shard: None,
        name: spec.name.clone().unwrap_or_else(|| {
            file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "workload".into())
        }),
        label: spec.label.clone(),
        topics,
        record_size,
        payload,
        keys,
        headers: spec.headers.clone().unwrap_or_default(),
        stop,
        warmup,
        rate_records_per_s: rate,
        rate_control,
        arrival: spec.arrival.unwrap_or_default(),
        producers,
        tasks_per_producer,
        max_outstanding_per_task: spec.max_outstanding_per_task.unwrap_or(100_000).max(1),
        worker_threads,
        seed: spec.seed.unwrap_or(0),
        producer_props,
        target: spec.target.clone().unwrap_or_default(),
        peers,
        warnings,
    })
}

/// The rate of a point: kprod's `rate` (a number, null, a search or a ramp), or OMB's `producerRate` with its ramp
/// fields. `producerRate: 0` is OMB's "find the maximum sustainable rate", a search starting at
/// `producerStartRate` (10,000); `producerIncrementRate` > 0 steps the rate from `producerStartRate` up by that
/// much every `producerIncrementSeconds` (60), up to `producerRate` when it is > 0. kprod's `rate: 0`, `null` or
/// no rate at all is a closed loop.
fn resolve_rate(
    spec: &WorkloadSpec,
    warnings: &mut Vec<String>,
) -> Result<(Option<f64>, Option<RateControl>), ResolveError> {
    let omb_ramp_fields = spec.producer_start_rate.is_some()
        || spec.producer_increment_rate.is_some()
        || spec.producer_increment_seconds.is_some();
    if let Some(v) = &spec.rate {
        if spec.producer_rate.is_some() || omb_ramp_fields {
            return Err(ResolveError::RateAndOmbRate);
        }
        let (rate, control) = parse_rate(v)?;
        return Ok((rate.filter(|r| *r > 0.0), control));
    }
    let number = |v: &Option<Value>, field: &'static str| -> Result<Option<f64>, ResolveError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(ResolveError::OmbRateNotNumber(field)),
        }
    };
    let start = number(&spec.producer_start_rate, "producerStartRate")?;
    let increment = number(&spec.producer_increment_rate, "producerIncrementRate")?.unwrap_or(0.0);
    let every = number(&spec.producer_increment_seconds, "producerIncrementSeconds")?.unwrap_or(60.0);
    let omb_rate = spec.producer_rate.filter(|r| *r > 0.0);
    if increment > 0.0 {
        let ramp = RateRamp { start: start.unwrap_or(10_000.0), increment, every_s: every, max: omb_rate };
        ramp.check("OMB's producerStartRate/producerIncrement*")?;
        return Ok((Some(ramp.start), Some(RateControl::Ramp(ramp))));
    }
    match spec.producer_rate {
        Some(r) if r <= 0.0 => {
            let search = RateSearch { start: start.unwrap_or(10_000.0), ..RateSearch::default() };
            search.check()?;
            Ok((None, Some(RateControl::Search(search))))
        }
        _ => {
            if omb_ramp_fields {
                warnings.push(
                    "OMB fields `producerStartRate`/`producerIncrementSeconds` are used only with `producerRate: 0` \
                     (the search's first rate) or `producerIncrementRate` > 0 (a ramp)"
                        .into(),
                );
            }
            Ok((omb_rate, None))
        }
    }
}

/// `[kprod]`: a workload without `peers` measures kprod alone.
pub fn default_peers() -> Vec<Peer> {
    vec![Peer::Kprod]
}

fn check_size(d: &SizeDist) -> Result<(), ResolveError> {
    match d {
        SizeDist::Fixed(s) if *s > RECORD_SIZE_MAX => Err(ResolveError::RecordSizeTooLarge(*s)),
        SizeDist::Uniform { min, max } if min > max || *max > RECORD_SIZE_MAX => Err(ResolveError::RecordSizeUniform),
        SizeDist::Normal { mean, stddev } if !(mean.is_finite() && stddev.is_finite() && *stddev >= 0.0) => {
            Err(ResolveError::RecordSizeNormal)
        }
        SizeDist::Lognormal { mu, sigma } if !(mu.is_finite() && sigma.is_finite() && *sigma >= 0.0) => {
            Err(ResolveError::RecordSizeLognormal)
        }
        SizeDist::Histogram(h)
            if h.is_empty() || h.iter().any(|(s, w)| *s > RECORD_SIZE_MAX || w.is_nan() || *w < 0.0) =>
        {
            Err(ResolveError::RecordSizeHistogram)
        }
        SizeDist::Histogram(h) if h.iter().all(|(_, w)| *w == 0.0) => Err(ResolveError::RecordSizeHistogramZero),
        _ => Ok(()),
    }
}

impl ResolvedWorkload {
    /// Number of sending tasks.
    pub fn tasks(&self) -> u32 {
        self.producers * self.tasks_per_producer
    }

    /// The global index of local task `task`: the same as `task` unless this is a shard, whose tasks continue
    /// the numbering of the shards before it (keys and random streams derive from it).
    pub fn global_task(&self, task: u32) -> u32 {
        self.shard.as_ref().map_or(0, |s| s.task_base).saturating_add(task)
    }

    /// The whole workload's rate (a shard's own rate is its share of it).
    pub fn total_rate_records_per_s(&self) -> Option<f64> {
        match &self.shard {
            Some(s) => s.total_rate_records_per_s,
            None => self.rate_records_per_s,
        }
    }

    /// Largest record size this workload can produce (bounds the payload pool).
    pub fn record_size_max(&self) -> u32 {
        match &self.record_size {
            SizeDist::Fixed(s) => *s,
            SizeDist::Uniform { max, .. } => *max,
            SizeDist::Histogram(h) => h.iter().map(|(s, _)| *s).max().unwrap_or(0),
            SizeDist::Normal { .. } | SizeDist::Lognormal { .. } => RECORD_SIZE_MAX.min(1 << 20),
        }
    }
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
