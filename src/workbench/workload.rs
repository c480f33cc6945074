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
    #[error("{file}: sweep: {source}")]
    Sweep { file: PathBuf, source: SweepError },
    #[error("--set {arg}: {message}")]
    Override { arg: String, message: String },
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
    pub rate: Option<f64>,
    pub arrival: Option<Arrival>,
    pub producers: Option<u32>,
    pub tasks_per_producer: Option<u32>,
    /// Bound on records sent but not yet acknowledged, per task (back-pressure in closed loop).
    pub max_outstanding_per_task: Option<u32>,
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
    "seed",
    "producer",
    "target",
    "peers",
    "sweep",
    "transaction",
];

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
    /// Total intended records/s over all tasks; `None` = closed loop at maximum rate.
    pub rate_records_per_s: Option<f64>,
    pub arrival: Arrival,
    pub producers: u32,
    pub tasks_per_producer: u32,
    pub max_outstanding_per_task: u32,
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
            set_path(&mut self.doc, &path, value).map_err(|m| err(&m))?;
            if path[0] != "producer" {
                // A value of the wrong type is about this `--set`, not the file: say which key and what it takes.
                if let Err(WorkloadError::Invalid { message, .. }) = self.expand()
                    && let Some(expected) = expected_type(&message)
                {
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
        let spec: WorkloadSpec = serde_yaml_ng::with::singleton_map_recursive::deserialize(Value::Mapping(doc))
            .map_err(|e| self.field_error(&strip_location(&e.to_string()), point))?;
        resolve(&spec, &self.path).map_err(|message| WorkloadError::Invalid { file: self.path.clone(), message })
    }

    /// Turns a serde message into a typed error; for unknown fields, finds the line that spells the field.
    fn field_error(&self, message: &str, point: &str) -> WorkloadError {
        let file = self.path.clone();
        if let Some(rest) = message.strip_prefix("unknown field `")
            && let Some((field, _)) = rest.split_once('`')
        {
            let at = self
                .text
                .lines()
                .position(|l| l.trim_start().trim_start_matches("- ").starts_with(&format!("{field}:")))
                .map(|i| format!(" at line {}", i + 1))
                .unwrap_or_default();
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

/// Drops serde_yaml_ng's " at line L column C" suffix, which points into re-serialized text, not the user's file.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Sets `path` inside a YAML mapping, creating intermediate mappings.
fn set_path(doc: &mut Mapping, path: &[&str], value: Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut cur = doc;
    for p in parents {
        let entry = cur.entry(Value::String(p.to_string())).or_insert_with(|| Value::Mapping(Mapping::new()));
        if entry.is_null() {
            *entry = Value::Mapping(Mapping::new());
        }
        cur = entry.as_mapping_mut().ok_or_else(|| format!("`{p}` is not a mapping"))?;
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

fn both<T>(a: Option<T>, a_name: &str, b: Option<T>, b_name: &str) -> Result<Option<T>, String> {
    match (a, b) {
        (Some(_), Some(_)) => Err(format!("both `{a_name}` and `{b_name}` are given; keep one")),
        (a, b) => Ok(a.or(b)),
    }
}

fn positive_secs(v: f64, field: &str) -> Result<Duration, String> {
    if !(0.0..=1e7).contains(&v) {
        return Err(format!("`{field}` must be between 0 and 1e7 seconds, got {v}"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Maps a single point's fields (OMB and kprod) onto one [`ResolvedWorkload`].
pub fn resolve(spec: &WorkloadSpec, file: &Path) -> Result<ResolvedWorkload, String> {
    let mut warnings = Vec::new();
    let unused = [
        ("subscriptionsPerTopic", &spec.subscriptions_per_topic),
        ("consumerPerSubscription", &spec.consumer_per_subscription),
        ("consumerBacklogSizeGB", &spec.consumer_backlog_size_gb),
        ("backlogDrainRatio", &spec.backlog_drain_ratio),
        ("messageRateReceivedForSubscription", &spec.message_rate_received_for_subscription),
        ("producerStartRate", &spec.producer_start_rate),
        ("acceptableBacklog", &spec.acceptable_backlog),
        ("producerIncrementRate", &spec.producer_increment_rate),
        ("producerIncrementSeconds", &spec.producer_increment_seconds),
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
        return Err(format!("partitions per topic must be 1..={PARTITIONS_MAX}, got {partitions}"));
    }
    let topic_count = spec.topics.unwrap_or(1);
    if topic_count == 0 || topic_count > 10_000 {
        return Err(format!("`topics` must be 1..=10000, got {topic_count}"));
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
        return Err(format!("`payload.compressibility` must be within 0..=1, got {c}"));
    }

    let omb_keys = spec.key_distributor.map(|k| match k {
        OmbKeyDistributor::NoKey => KeySpec::None,
        OmbKeyDistributor::KeyRoundRobin => KeySpec::RoundRobin(10_000),
        OmbKeyDistributor::RandomNano => KeySpec::Sequential,
    });
    let keys = both(spec.keys.clone(), "keys", omb_keys, "keyDistributor")?.unwrap_or(KeySpec::None);
    match &keys {
        KeySpec::RoundRobin(0) | KeySpec::Uniform(0) | KeySpec::Zipf { n: 0, .. } => {
            return Err("`keys`: the key count must be at least 1".into());
        }
        KeySpec::Zipf { s, .. } if !(*s > 0.0 && s.is_finite()) => {
            return Err(format!("`keys.zipf.s` must be > 0, got {s}"));
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
        (Some(_), Some(_)) => return Err("both a duration and `records` are given; keep one".into()),
        (Some(d), None) => StopAfter::Duration(d),
        (None, Some(0)) => return Err("`records` must be at least 1".into()),
        (None, Some(n)) => StopAfter::Records(n),
        (None, None) => StopAfter::Duration(Duration::from_secs(10)),
    };
    // OMB's default warm-up is one minute; keep it for OMB-style files so their results compare.
    let omb_warmup_default = spec.test_duration_minutes.map(|_| 60.0);
    let warmup_s =
        both(spec.warmup_s, "warmup_s", spec.warmup_duration_minutes.map(|m| m * 60.0), "warmupDurationMinutes")?
            .or(omb_warmup_default);
    let warmup = warmup_s.map(|s| positive_secs(s, "warmup_s")).transpose()?.unwrap_or(Duration::ZERO);

    // OMB: producerRate 0 means "as fast as possible"; so does an absent `rate`.
    let rate = both(spec.rate, "rate", spec.producer_rate, "producerRate")?.filter(|r| *r > 0.0);
    if let Some(r) = rate
        && !(r.is_finite() && r <= 1e9)
    {
        return Err(format!("`rate` must be at most 1e9 records/s, got {r}"));
    }
    let producers =
        both(spec.producers, "producers", spec.producers_per_topic.map(|p| p * topic_count), "producersPerTopic")?
            .unwrap_or(1);
    let tasks_per_producer = spec.tasks_per_producer.unwrap_or(1);
    if producers == 0 || tasks_per_producer == 0 || producers.saturating_mul(tasks_per_producer) > TASKS_MAX {
        return Err(format!("producers × tasks_per_producer must be 1..={TASKS_MAX}"));
    }
    let peers = spec.peers.clone().unwrap_or_else(default_peers);
    if peers.is_empty() {
        return Err("`peers` must name at least one producer (kprod, librdkafka, java)".into());
    }
    if let Some(dup) = peers.iter().enumerate().find(|(i, p)| peers[..*i].contains(p)) {
        return Err(format!("`peers` lists {} twice", dup.1));
    }
    let mut producer_props = BTreeMap::new();
    for (k, v) in spec.producer.iter().flatten() {
        if v.is_null() {
            // `null` unsets a property: lets a sweep point keep the producer's default.
            continue;
        }
        let s = scalar_string(v).ok_or_else(|| format!("producer property `{k}` must be a scalar, got {v:?}"))?;
        producer_props.insert(k.clone(), s);
    }
    let transaction = spec.transaction;
    match (transaction, producer_props.contains_key("transactional.id")) {
        (Some(TransactionSpec { records: Some(n), duration_ms: None }), true) if n > 0 => {}
        (Some(TransactionSpec { records: None, duration_ms: Some(ms) }), true) if ms > 0 => {}
        (Some(_), true) => {
            return Err("`transaction` needs exactly one of `records: N` or `duration_ms: T` (> 0)".into());
        }
        (Some(_), false) => return Err("`transaction` needs a `producer: {transactional.id: <id>}` property".into()),
        (None, true) => {
            return Err("producer `transactional.id` needs a `transaction:` field (`records: N` or `duration_ms: T`) \
                        saying when to commit"
                .into());
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
        arrival: spec.arrival.unwrap_or_default(),
        producers,
        tasks_per_producer,
        max_outstanding_per_task: spec.max_outstanding_per_task.unwrap_or(100_000).max(1),
        seed: spec.seed.unwrap_or(0),
        producer_props,
        target: spec.target.clone().unwrap_or_default(),
        peers,
        warnings,
    })
}

/// `[kprod]`: a workload without `peers` measures kprod alone.
pub fn default_peers() -> Vec<Peer> {
    vec![Peer::Kprod]
}

fn check_size(d: &SizeDist) -> Result<(), String> {
    let bad = |m: String| Err(format!("`record_size`: {m}"));
    match d {
        SizeDist::Fixed(s) if *s > RECORD_SIZE_MAX => bad(format!("{s} bytes exceeds {RECORD_SIZE_MAX}")),
        SizeDist::Uniform { min, max } if min > max || *max > RECORD_SIZE_MAX => {
            bad(format!("need min <= max <= {RECORD_SIZE_MAX}"))
        }
        SizeDist::Normal { mean, stddev } if !(mean.is_finite() && stddev.is_finite() && *stddev >= 0.0) => {
            bad("normal needs finite mean and stddev >= 0".into())
        }
        SizeDist::Lognormal { mu, sigma } if !(mu.is_finite() && sigma.is_finite() && *sigma >= 0.0) => {
            bad("lognormal needs finite mu and sigma >= 0".into())
        }
        SizeDist::Histogram(h)
            if h.is_empty() || h.iter().any(|(s, w)| *s > RECORD_SIZE_MAX || w.is_nan() || *w < 0.0) =>
        {
            bad("histogram needs [size, weight] pairs with weights >= 0".into())
        }
        SizeDist::Histogram(h) if h.iter().all(|(_, w)| *w == 0.0) => bad("histogram weights are all zero".into()),
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
