//! Producer configuration with Java's property names and Kafka 4.x defaults.
//!
//! Sources: a `.properties` file or text ([`ProducerConfig::from_properties_file`] /
//! [`from_properties_str`](ProducerConfig::from_properties_str)), key/value pairs
//! ([`from_pairs`](ProducerConfig::from_pairs)), or the typed [`ProducerConfigBuilder`]. All of them end in
//! [`ProducerConfig::resolve`], which applies Java's post-processing:
//!
//! - **Idempotence** (Java `ProducerConfig.postProcessAndValidateIdempotenceConfigs`, Kafka 4.x):
//!   with `enable.idempotence` *explicitly* true, `acks` other than `all`, `retries=0` or
//!   `max.in.flight.requests.per.connection > 5` are errors. With idempotence *not* set by the user, `acks` other
//!   than `all` or `retries=0` silently disable it (a warning is recorded), while in-flight > 5 is still an error:
//!   Kafka 4.0 turned that case from "disable with a warning" into an error, and so do we.
//!   `transactional.id` with idempotence off (explicitly, or disabled by the rule above) is an error.
//! - **Delivery timeout** (Java `KafkaProducer.configureDeliveryTimeout`): `delivery.timeout.ms` below
//!   `linger.ms + request.timeout.ms` is an error when the user set it, else it is raised to that sum with a
//!   warning.
//! - **Reconnect backoff** (Java `CommonClientConfigs.postProcessReconnectBackoffConfigs`): setting
//!   `reconnect.backoff.ms` without `reconnect.backoff.max.ms` makes the max equal to it.
//!
//! Resolution only ever derives values of keys the user did *not* set, so it can be re-run after more
//! [`set`](ProducerConfig::set) calls.
//!
//! Accepted but inert: `key.serializer` / `value.serializer` (Rust types decide serialization), and the security
//! keys (`ssl.*`, `sasl.*`, `security.providers`), stored in [`ProducerConfig::other`]; SASL settings are resolved
//! from them by [`crate::security::SaslSettings::from_config`] (librdkafka's `sasl.username` / `sasl.password` are
//! accepted too). Secret keys print as `[hidden]` in `Debug` and [`ProducerConfig::to_properties`].
//! `client.id` defaults to `""`, as Java's definition does; [`ProducerConfig::resolved_client_id`] gives the
//! `producer-N` name Java would use.

mod builder;
mod keys;
mod properties;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use builder::ProducerConfigBuilder;

/// `acks`.
///
/// ```
/// use kprod_proto::producer::config::{Acks, ProducerConfig};
///
/// assert_eq!(ProducerConfig::default().acks, Acks::All, "Kafka 3.0+ default");
/// let c = ProducerConfig::from_pairs([("acks", "1"), ("enable.idempotence", "false")])?;
/// assert_eq!((c.acks, c.acks.as_i16()), (Acks::One, 1));
/// # Ok::<(), kprod_proto::producer::config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// `0`: the broker does not answer; offsets are unknown (-1).
    Zero,
    /// `1`: the leader has written the records.
    One,
    /// `all` or `-1`.
    All,
}

impl Acks {
    /// The value Kafka's Produce request carries.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::Zero => 0,
            Acks::One => 1,
            Acks::All => -1,
        }
    }
}

/// Configuration errors; each names the key (and file/line when it came from one).
///
/// ```
/// use kprod_proto::producer::config::{ConfigError, ProducerConfig};
///
/// let e = ProducerConfig::from_pairs([("lingr.ms", "5")]).unwrap_err();
/// assert!(matches!(&e, ConfigError::UnknownKey { key, suggestion: Some(s) } if key == "lingr.ms" && s == "linger.ms"));
/// let e = ProducerConfig::from_pairs([("acks", "2")]).unwrap_err();
/// assert!(matches!(e, ConfigError::BadValue { .. }), "{e}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key the producer does not know.
    #[error("unknown producer config '{key}'{}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
    UnknownKey {
        /// The key.
        key: String,
        /// The nearest known key, if one is close.
        suggestion: Option<String>,
    },
    /// A value the key does not accept.
    #[error("invalid value '{value}' for producer config '{key}': expected {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What the key takes.
        expected: String,
    },
    /// Settings that contradict each other (e.g. idempotence with `acks=1`); the text names them.
    #[error("{0}")]
    Conflict(String),
    /// A properties file cannot be read.
    #[error("cannot read producer config file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A properties file line that is not `key=value`.
    #[error("{}line {line}: {message}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Parse {
        /// The file, if there is one.
        path: Option<PathBuf>,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A key/value error located in a properties file.
    #[error("{}line {line}: {source}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    At {
        /// The file, if there is one.
        path: Option<PathBuf>,
        /// 1-based line number.
        line: usize,
        /// The key/value error.
        source: Box<ConfigError>,
    },
}

fn bad(key: &str, value: &str, expected: impl Into<String>) -> ConfigError {
    ConfigError::BadValue { key: key.to_string(), value: value.to_string(), expected: expected.into() }
}

/// The compression codecs `compression.type` accepts.
pub const COMPRESSION_TYPES: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];
/// The protocols `security.protocol` accepts (stored upper-case).
pub const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Keys with typed fields in [`ProducerConfig`].
pub const TYPED_KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "acks",
    "batch.size",
    "linger.ms",
    "buffer.memory",
    "max.block.ms",
    "max.request.size",
    "enable.idempotence",
    "retries",
    "max.in.flight.requests.per.connection",
    "delivery.timeout.ms",
    "request.timeout.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "metadata.max.age.ms",
    "metadata.max.idle.ms",
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "compression.threads",
    "sender.thread",
    "partitioner.class",
    "partitioner.adaptive.partitioning.enable",
    "partitioner.availability.timeout.ms",
    "partitioner.ignore.keys",
    "transactional.id",
    "transaction.timeout.ms",
    "connections.max.idle.ms",
    "send.buffer.bytes",
    "receive.buffer.bytes",
    "security.protocol",
    "key.serializer",
    "value.serializer",
    "interceptor.classes",
];

/// kprod's own keys: typed (in [`TYPED_KEYS`]) but not Java's, so never passed to a Java client.
///
/// ```
/// use kprod_proto::producer::config::{KPROD_KEYS, ProducerConfig};
///
/// assert!(KPROD_KEYS.contains(&"compression.threads"));
/// let c = ProducerConfig::from_pairs([("compression.type", "lz4"), ("compression.threads", "2")])?;
/// assert_eq!(c.compression_threads, Some(2));
/// # Ok::<(), kprod_proto::producer::config::ConfigError>(())
/// ```
pub const KPROD_KEYS: &[&str] = &["compression.threads", "sender.thread"];

/// Most threads `compression.threads` accepts.
pub const COMPRESSION_THREADS_MAX: usize = 64;

/// Every producer key kprod accepts.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    TYPED_KEYS.iter().copied().chain(keys::OTHER_KEYS.iter().map(|k| k.name))
}

const MS_I32_MAX: u128 = i32::MAX as u128;

/// [`ProducerConfig::other`]: a map whose `Debug` hides the values of secret keys (`sasl.jaas.config`,
/// `sasl.password`, `ssl.*password*`, `ssl.keystore.key`, anything named like a password) as Java prints them:
/// `[hidden]`. Derefs to the `BTreeMap`.
///
/// ```
/// use kprod_proto::producer::config::ProducerConfig;
///
/// // Keys kprod accepts without a typed field (the `ssl.*` stores, `sasl.*`, ...) are kept as given.
/// let c = ProducerConfig::from_pairs([("ssl.truststore.type", "PEM")])?;
/// assert_eq!(c.other.get("ssl.truststore.type").map(String::as_str), Some("PEM"));
/// # Ok::<(), kprod_proto::producer::config::ConfigError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OtherProps(pub BTreeMap<String, String>);

impl std::ops::Deref for OtherProps {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for OtherProps {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::fmt::Debug for OtherProps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, if is_secret_key(k) { "[hidden]" } else { v.as_str() })))
            .finish()
    }
}

/// True for keys whose values are credentials and must never be printed (Java `PASSWORD` keys, and any key whose
/// name says password/secret/passphrase).
pub fn is_secret_key(key: &str) -> bool {
    keys::is_secret(key)
}

/// The producer configuration. Fields hold effective values once [`resolve`](Self::resolve) ran (every
/// constructor except `Default` runs it).
///
/// ```
/// use std::time::Duration;
/// use kprod_proto::producer::config::{Acks, ConfigError, ProducerConfig};
///
/// // Java's keys, Kafka 4.x defaults for the rest.
/// let cfg = ProducerConfig::from_properties_str("bootstrap.servers=k1:9092,k2:9092\nlinger.ms=20\n")?;
/// assert_eq!(cfg.bootstrap_servers, ["k1:9092", "k2:9092"]);
/// assert_eq!(cfg.linger, Duration::from_millis(20));
/// assert_eq!((cfg.acks, cfg.batch_size), (Acks::All, 16384));
///
/// // A misspelt key is refused with the nearest known one.
/// let err = ProducerConfig::from_pairs([("bootstrap.servers", "k1:9092"), ("lingr.ms", "20")]).unwrap_err();
/// assert!(matches!(&err, ConfigError::UnknownKey { suggestion: Some(s), .. } if s == "linger.ms"));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    /// `bootstrap.servers`; empty by default (Java has no default; the producer refuses to start without it).
    pub bootstrap_servers: Vec<String>,
    /// `client.id`, default `""`; see [`resolved_client_id`](Self::resolved_client_id).
    pub client_id: String,
    /// `acks`.
    pub acks: Acks,
    /// `batch.size`, in bytes.
    pub batch_size: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `buffer.memory`, in bytes.
    pub buffer_memory: u64,
    /// `max.block.ms`: longest a send waits for metadata or memory.
    pub max_block: Duration,
    /// `max.request.size`, in bytes.
    pub max_request_size: usize,
    /// `enable.idempotence`.
    pub enable_idempotence: bool,
    /// `retries`.
    pub retries: u32,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms`.
    pub metadata_max_idle: Duration,
    /// `compression.type`: one of [`COMPRESSION_TYPES`].
    pub compression_type: String,
    /// `compression.gzip.level`.
    pub compression_gzip_level: i32,
    /// `compression.lz4.level`.
    pub compression_lz4_level: i32,
    /// `compression.zstd.level`.
    pub compression_zstd_level: i32,
    /// `compression.threads` (kprod's own key, not Java's): threads that compress batches beside the sender, 0 to
    /// [`COMPRESSION_THREADS_MAX`]; 0 = the sender compresses alone. `None` (unset) = none without a codec, else
    /// one per core beyond the first, at most 3. Ignored without a codec.
    pub compression_threads: Option<usize>,
    /// `sender.thread` (kprod's own key, not Java's): `true` (the default) runs the sender and its connections on a
    /// thread of their own, with a one-thread tokio runtime, as Java's `Sender` thread and librdkafka's broker
    /// threads run: the producer's progress then never waits on how the application schedules its tasks. `false`
    /// runs the sender as a task on the runtime that builds the producer.
    pub sender_thread: bool,
    /// `partitioner.class`: `None` = built-in; resolved against
    /// [`PartitionerRegistry`](crate::producer::partitioner::PartitionerRegistry) when the producer starts.
    pub partitioner_class: Option<String>,
    /// `partitioner.adaptive.partitioning.enable`.
    pub partitioner_adaptive_partitioning_enable: bool,
    /// `partitioner.availability.timeout.ms`.
    pub partitioner_availability_timeout: Duration,
    /// `partitioner.ignore.keys`.
    pub partitioner_ignore_keys: bool,
    /// `transactional.id`; `None` = no transactions.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// `connections.max.idle.ms`.
    pub connections_max_idle: Duration,
    /// `send.buffer.bytes` (-1 = the OS default).
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (-1 = the OS default).
    pub receive_buffer_bytes: i32,
    /// `security.protocol`, upper-case; only `PLAINTEXT` connects for now.
    pub security_protocol: String,
    /// Accepted and ignored: Rust types decide serialization.
    pub key_serializer: Option<String>,
    /// Accepted and ignored: Rust types decide serialization.
    pub value_serializer: Option<String>,
    /// Names of registered interceptors, in call order.
    pub interceptor_classes: Vec<String>,
    /// Keys the user set (Java's `originals()`), which drives the conflict rules.
    pub explicitly_set: BTreeSet<String>,
    /// Valid Java producer keys without a typed field (ssl.*, sasl.*, metrics.*, ...), trimmed values. Its
    /// `Debug` prints secrets as `[hidden]`.
    pub other: OtherProps,
    /// Adjustments made by [`resolve`](Self::resolve) (e.g. idempotence disabled), for reports and logs.
    pub warnings: Vec<String>,
}

impl Default for ProducerConfig {
    /// Kafka 4.x defaults.
    fn default() -> Self {
        Self {
            bootstrap_servers: Vec::new(),
            client_id: String::new(),
            acks: Acks::All,
            batch_size: 16384,
            linger: Duration::from_millis(5),
            buffer_memory: 33_554_432,
            max_block: Duration::from_millis(60_000),
            max_request_size: 1_048_576,
            enable_idempotence: true,
            retries: i32::MAX as u32,
            max_in_flight: 5,
            delivery_timeout: Duration::from_millis(120_000),
            request_timeout: Duration::from_millis(30_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1000),
            metadata_max_age: Duration::from_millis(300_000),
            metadata_max_idle: Duration::from_millis(300_000),
            compression_type: "none".to_string(),
            compression_gzip_level: -1,
            compression_lz4_level: 9,
            compression_zstd_level: 3,
            compression_threads: None,
            sender_thread: true,
            partitioner_class: None,
            partitioner_adaptive_partitioning_enable: true,
            partitioner_availability_timeout: Duration::ZERO,
            partitioner_ignore_keys: false,
            transactional_id: None,
            transaction_timeout: Duration::from_millis(60_000),
            connections_max_idle: Duration::from_millis(540_000),
            send_buffer_bytes: 131_072,
            receive_buffer_bytes: 32_768,
            security_protocol: "PLAINTEXT".to_string(),
            key_serializer: None,
            value_serializer: None,
            interceptor_classes: Vec::new(),
            explicitly_set: BTreeSet::new(),
            other: OtherProps::default(),
            warnings: Vec::new(),
        }
    }
}

fn parse_i64(key: &str, value: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
    match value.parse::<i64>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(bad(key, value, format!("an integer in [{min}, {max}]"))),
    }
}

fn parse_int(key: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
    parse_i64(key, value, min, i64::from(i32::MAX))
}

fn parse_ms_long(key: &str, value: &str, min: i64) -> Result<Duration, ConfigError> {
    parse_i64(key, value, min, i64::MAX).map(|v| Duration::from_millis(v as u64))
}

fn parse_ms_int(key: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_int(key, value, 0).map(|v| Duration::from_millis(v as u64))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(bad(key, value, "a boolean (true or false)"))
    }
}

/// Java list syntax: comma-separated, entries trimmed, empty entries dropped.
fn parse_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn parse_list_no_dups(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let list = parse_list(value);
    let mut seen = BTreeSet::new();
    for item in &list {
        if !seen.insert(item.as_str()) {
            return Err(bad(key, value, format!("a list without duplicates ('{item}' repeats)")));
        }
    }
    Ok(list)
}

fn parse_acks(value: &str) -> Result<Acks, ConfigError> {
    match value {
        "0" => Ok(Acks::Zero),
        "1" => Ok(Acks::One),
        "-1" => Ok(Acks::All),
        v if v.eq_ignore_ascii_case("all") => Ok(Acks::All),
        _ => Err(bad("acks", value, "one of all, -1, 0, 1")),
    }
}

fn opt_string(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// The closest known key, if it is close enough to be a plausible typo.
fn suggest(key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    known_keys()
        .map(|k| (strsim::levenshtein(&lower, k), k))
        .min()
        .filter(|(d, k)| *d <= 3 || strsim::normalized_levenshtein(&lower, k) >= 0.75)
        .map(|(_, k)| k.to_string())
}

impl ProducerConfig {
    /// Parses Java `.properties` text and resolves it. Syntax as `java.util.Properties.load`: `#`/`!` comments,
    /// `=`, `:` or whitespace separators, trailing-`\` continuation lines, `\t \n \uXXXX` escapes.
    pub fn from_properties_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_properties_inner(text, None)
    }

    /// Reads and parses a `.properties` file; errors name the file and line.
    pub fn from_properties_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        Self::from_properties_inner(&text, Some(path))
    }

    fn from_properties_inner(text: &str, path: Option<&Path>) -> Result<Self, ConfigError> {
        let entries = properties::parse(text).map_err(|e| ConfigError::Parse {
            path: path.map(Path::to_path_buf),
            line: e.line,
            message: e.message,
        })?;
        let mut cfg = Self::default();
        for e in entries {
            cfg.set(&e.key, &e.value).map_err(|source| ConfigError::At {
                path: path.map(Path::to_path_buf),
                line: e.line,
                source: Box::new(source),
            })?;
        }
        cfg.resolve()?;
        Ok(cfg)
    }

    /// Builds from key/value pairs (later pairs win) and resolves.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut cfg = Self::default();
        for (k, v) in pairs {
            cfg.set(k.as_ref(), v.as_ref())?;
        }
        cfg.resolve()?;
        Ok(cfg)
    }

    /// The typed builder.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }

    /// Sets one key from its Java string form (key and value trimmed, as Java does) and records it as
    /// explicitly set. Does not resolve: call [`resolve`](Self::resolve) after the last `set`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let key = key.trim();
        let v = value.trim();
        match key {
            "bootstrap.servers" => self.bootstrap_servers = parse_list_no_dups(key, v)?,
            "client.id" => self.client_id = v.to_string(),
            "acks" => self.acks = parse_acks(v)?,
            "batch.size" => self.batch_size = parse_int(key, v, 0)? as usize,
            "linger.ms" => self.linger = parse_ms_long(key, v, 0)?,
            "buffer.memory" => self.buffer_memory = parse_i64(key, v, 0, i64::MAX)? as u64,
            "max.block.ms" => self.max_block = parse_ms_long(key, v, 0)?,
            "max.request.size" => self.max_request_size = parse_int(key, v, 0)? as usize,
            "enable.idempotence" => self.enable_idempotence = parse_bool(key, v)?,
            "retries" => self.retries = parse_int(key, v, 0)? as u32,
            "max.in.flight.requests.per.connection" => self.max_in_flight = parse_int(key, v, 1)? as usize,
            "delivery.timeout.ms" => self.delivery_timeout = parse_ms_int(key, v)?,
            "request.timeout.ms" => self.request_timeout = parse_ms_int(key, v)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms_long(key, v, 0)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms_long(key, v, 0)?,
            "reconnect.backoff.ms" => self.reconnect_backoff = parse_ms_long(key, v, 0)?,
            "reconnect.backoff.max.ms" => self.reconnect_backoff_max = parse_ms_long(key, v, 0)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms_long(key, v, 0)?,
            "metadata.max.idle.ms" => self.metadata_max_idle = parse_ms_long(key, v, 5000)?,
            "compression.type" => {
                if !COMPRESSION_TYPES.contains(&v) {
                    return Err(bad(key, v, format!("one of {}", COMPRESSION_TYPES.join(", "))));
                }
                self.compression_type = v.to_string();
            }
            "compression.gzip.level" => self.compression_gzip_level = parse_int(key, v, i64::from(i32::MIN))? as i32,
            "compression.lz4.level" => self.compression_lz4_level = parse_int(key, v, i64::from(i32::MIN))? as i32,
            "compression.zstd.level" => self.compression_zstd_level = parse_int(key, v, i64::from(i32::MIN))? as i32,
            "compression.threads" => {
                self.compression_threads = Some(parse_i64(key, v, 0, COMPRESSION_THREADS_MAX as i64)? as usize)
            }
            "sender.thread" => self.sender_thread = parse_bool(key, v)?,
            "partitioner.class" => self.partitioner_class = opt_string(v),
            "partitioner.adaptive.partitioning.enable" => {
                self.partitioner_adaptive_partitioning_enable = parse_bool(key, v)?
            }
            "partitioner.availability.timeout.ms" => self.partitioner_availability_timeout = parse_ms_long(key, v, 0)?,
            "partitioner.ignore.keys" => self.partitioner_ignore_keys = parse_bool(key, v)?,
            "transactional.id" => {
                if v.is_empty() {
                    return Err(bad(key, v, "a non-empty string"));
                }
                self.transactional_id = Some(v.to_string());
            }
            "transaction.timeout.ms" => self.transaction_timeout = parse_ms_int(key, v)?,
            "connections.max.idle.ms" => self.connections_max_idle = parse_ms_long(key, v, 0)?,
            "send.buffer.bytes" => self.send_buffer_bytes = parse_int(key, v, -1)? as i32,
            "receive.buffer.bytes" => self.receive_buffer_bytes = parse_int(key, v, -1)? as i32,
            "security.protocol" => {
                let up = v.to_ascii_uppercase();
                if !SECURITY_PROTOCOLS.contains(&up.as_str()) {
                    return Err(bad(key, v, format!("one of {} (case-insensitive)", SECURITY_PROTOCOLS.join(", "))));
                }
                self.security_protocol = up;
            }
            "key.serializer" => self.key_serializer = opt_string(v),
            "value.serializer" => self.value_serializer = opt_string(v),
            "interceptor.classes" => self.interceptor_classes = parse_list_no_dups(key, v)?,
            _ => match keys::other_key(key) {
                Some(k) => {
                    keys::check(k.kind, v).map_err(|expected| bad(key, v, expected))?;
                    self.other.insert(key.to_string(), v.to_string());
                }
                None => return Err(ConfigError::UnknownKey { key: key.to_string(), suggestion: suggest(key) }),
            },
        }
        self.explicitly_set.insert(key.to_string());
        Ok(())
    }

    fn is_set(&self, key: &str) -> bool {
        self.explicitly_set.contains(key)
    }

    /// Checks ranges (for values set through the builder) and Java's conflict rules; see the module doc.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_ranges()?;
        let idempotence = self.effective_idempotence()?;
        if self.transactional_id.is_some() && !idempotence {
            return Err(ConfigError::Conflict(
                "Cannot set a transactional.id without also enabling idempotence (enable.idempotence=false, or \
                 idempotence disabled by acks/retries)"
                    .to_string(),
            ));
        }
        let linger_plus_request = self.linger.as_millis().min(MS_I32_MAX) + self.request_timeout.as_millis();
        let linger_plus_request = linger_plus_request.min(MS_I32_MAX);
        if self.is_set("delivery.timeout.ms") && self.delivery_timeout.as_millis() < linger_plus_request {
            return Err(ConfigError::Conflict(format!(
                "delivery.timeout.ms ({}) should be equal to or larger than linger.ms ({}) + request.timeout.ms ({})",
                self.delivery_timeout.as_millis(),
                self.linger.as_millis(),
                self.request_timeout.as_millis()
            )));
        }
        Ok(())
    }

    /// Whether idempotence ends up enabled, or the conflict error when it was explicitly requested.
    fn effective_idempotence(&self) -> Result<bool, ConfigError> {
        let explicit = self.is_set("enable.idempotence");
        let requested = if explicit { self.enable_idempotence } else { true };
        if !requested {
            return Ok(false);
        }
        if self.max_in_flight > 5 {
            return Err(ConfigError::Conflict(format!(
                "To use the idempotent producer, max.in.flight.requests.per.connection must be set to at most 5. \
                 Current value is {}.{}",
                self.max_in_flight,
                if explicit { "" } else { " (enable.idempotence is true by default; set it to false to allow more)" }
            )));
        }
        if explicit && self.retries == 0 {
            return Err(ConfigError::Conflict(
                "Must set retries to non-zero when using the idempotent producer (enable.idempotence=true)".to_string(),
            ));
        }
        if explicit && self.acks != Acks::All {
            return Err(ConfigError::Conflict(
                "Must set acks to all in order to use the idempotent producer (enable.idempotence=true). Otherwise \
                 we cannot guarantee idempotence."
                    .to_string(),
            ));
        }
        Ok(self.retries != 0 && self.acks == Acks::All)
    }

    fn validate_ranges(&self) -> Result<(), ConfigError> {
        let int_ms = [
            ("delivery.timeout.ms", self.delivery_timeout),
            ("request.timeout.ms", self.request_timeout),
            ("transaction.timeout.ms", self.transaction_timeout),
        ];
        for (key, d) in int_ms {
            if d.as_millis() > MS_I32_MAX {
                return Err(bad(key, &ms(d), format!("at most {} ms", i32::MAX)));
            }
        }
        let ints = [
            ("batch.size", self.batch_size, 0),
            ("max.request.size", self.max_request_size, 0),
            ("max.in.flight.requests.per.connection", self.max_in_flight, 1),
            ("retries", self.retries as usize, 0),
        ];
        for (key, v, min) in ints {
            if v < min || v > i32::MAX as usize {
                return Err(bad(key, &v.to_string(), format!("an integer in [{min}, {}]", i32::MAX)));
            }
        }
        if self.buffer_memory > i64::MAX as u64 {
            return Err(bad("buffer.memory", &self.buffer_memory.to_string(), "at most 2^63-1"));
        }
        if self.metadata_max_idle < Duration::from_millis(5000) {
            return Err(bad("metadata.max.idle.ms", &ms(self.metadata_max_idle), "at least 5000"));
        }
        if !COMPRESSION_TYPES.contains(&self.compression_type.as_str()) {
            return Err(bad(
                "compression.type",
                &self.compression_type,
                format!("one of {}", COMPRESSION_TYPES.join(", ")),
            ));
        }
        let gz = self.compression_gzip_level;
        if !(gz == -1 || (1..=9).contains(&gz)) {
            return Err(bad("compression.gzip.level", &gz.to_string(), "-1 (default) or 1..=9"));
        }
        if !(1..=17).contains(&self.compression_lz4_level) {
            return Err(bad("compression.lz4.level", &self.compression_lz4_level.to_string(), "1..=17"));
        }
        if !(-131_072..=22).contains(&self.compression_zstd_level) {
            return Err(bad("compression.zstd.level", &self.compression_zstd_level.to_string(), "-131072..=22"));
        }
        if let Some(n) = self.compression_threads.filter(|&n| n > COMPRESSION_THREADS_MAX) {
            return Err(bad(
                "compression.threads",
                &n.to_string(),
                format!("an integer in [0, {COMPRESSION_THREADS_MAX}]"),
            ));
        }
        for (key, v) in
            [("send.buffer.bytes", self.send_buffer_bytes), ("receive.buffer.bytes", self.receive_buffer_bytes)]
        {
            if v < -1 {
                return Err(bad(key, &v.to_string(), "-1 (OS default) or a size in bytes"));
            }
        }
        if !SECURITY_PROTOCOLS.contains(&self.security_protocol.as_str()) {
            return Err(bad("security.protocol", &self.security_protocol, SECURITY_PROTOCOLS.join(", ")));
        }
        if self.transactional_id.as_deref() == Some("") {
            return Err(bad("transactional.id", "", "a non-empty string"));
        }
        Ok(())
    }

    /// Validates, then applies Java's silent adjustments to keys the user did not set (module doc). Returns the
    /// warnings it put in [`warnings`](Self::warnings). It does not log them: a config is often resolved more
    /// than once (built from pairs, then by `Producer::build`), and `Producer::build` logs them once.
    pub fn resolve(&mut self) -> Result<Vec<String>, ConfigError> {
        self.validate()?;
        let mut warnings = Vec::new();
        if !self.is_set("enable.idempotence") {
            let ok = self.effective_idempotence()?;
            if !ok {
                let why = if self.retries == 0 {
                    "retries is set to 0".to_string()
                } else {
                    format!("acks is set to {}, not 'all'", self.acks.as_i16())
                };
                warnings.push(format!("Idempotence will be disabled because {why}."));
            }
            self.enable_idempotence = ok;
        }
        if !self.is_set("delivery.timeout.ms") {
            let default = Duration::from_millis(120_000);
            let floor = (self.linger.as_millis().min(MS_I32_MAX) + self.request_timeout.as_millis()).min(MS_I32_MAX);
            let floor = Duration::from_millis(floor as u64);
            self.delivery_timeout = default.max(floor);
            if floor > default {
                warnings.push(format!(
                    "delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms. Setting it \
                     to {}.",
                    floor.as_millis()
                ));
            }
        }
        if !self.is_set("reconnect.backoff.max.ms") {
            self.reconnect_backoff_max =
                if self.is_set("reconnect.backoff.ms") { self.reconnect_backoff } else { Duration::from_millis(1000) };
        }
        if self.retry_backoff > self.retry_backoff_max {
            warnings.push(format!(
                "retry.backoff.ms ({}) is larger than retry.backoff.max.ms ({}): exponential backoff is disabled and \
                 retries wait retry.backoff.max.ms.",
                self.retry_backoff.as_millis(),
                self.retry_backoff_max.as_millis()
            ));
        }
        self.warnings.clone_from(&warnings);
        Ok(warnings)
    }

    /// `client.id` if the user set it, else Java's generated name: `producer-<transactional.id>` or
    /// `producer-<seq>` (Java takes `seq` from a process-wide counter starting at 1; the caller supplies it).
    pub fn resolved_client_id(&self, seq: u32) -> String {
        if self.is_set("client.id") {
            self.client_id.clone()
        } else if let Some(t) = &self.transactional_id {
            format!("producer-{t}")
        } else {
            format!("producer-{seq}")
        }
    }

    /// Every known key with its effective value (Java string form; durations in ms; unset optionals `null`).
    /// Secrets are never included: a set secret prints `[hidden]`.
    pub fn to_properties(&self) -> BTreeMap<String, String> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "null".to_string());
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("bootstrap.servers", self.bootstrap_servers.join(","));
        put("client.id", self.client_id.clone());
        put(
            "acks",
            match self.acks {
                Acks::Zero => "0".into(),
                Acks::One => "1".into(),
                Acks::All => "all".into(),
            },
        );
        put("batch.size", self.batch_size.to_string());
        put("linger.ms", ms(self.linger));
        put("buffer.memory", self.buffer_memory.to_string());
        put("max.block.ms", ms(self.max_block));
        put("max.request.size", self.max_request_size.to_string());
        put("enable.idempotence", self.enable_idempotence.to_string());
        put("retries", self.retries.to_string());
        put("max.in.flight.requests.per.connection", self.max_in_flight.to_string());
        put("delivery.timeout.ms", ms(self.delivery_timeout));
        put("request.timeout.ms", ms(self.request_timeout));
        put("retry.backoff.ms", ms(self.retry_backoff));
        put("retry.backoff.max.ms", ms(self.retry_backoff_max));
        put("reconnect.backoff.ms", ms(self.reconnect_backoff));
        put("reconnect.backoff.max.ms", ms(self.reconnect_backoff_max));
        put("metadata.max.age.ms", ms(self.metadata_max_age));
        put("metadata.max.idle.ms", ms(self.metadata_max_idle));
        put("compression.type", self.compression_type.clone());
        put("compression.gzip.level", self.compression_gzip_level.to_string());
        put("compression.lz4.level", self.compression_lz4_level.to_string());
        put("compression.zstd.level", self.compression_zstd_level.to_string());
        put("compression.threads", self.compression_threads.map_or_else(|| "null".to_string(), |n| n.to_string()));
        put("sender.thread", self.sender_thread.to_string());
        put("partitioner.class", opt(&self.partitioner_class));
        put("partitioner.adaptive.partitioning.enable", self.partitioner_adaptive_partitioning_enable.to_string());
        put("partitioner.availability.timeout.ms", ms(self.partitioner_availability_timeout));
        put("partitioner.ignore.keys", self.partitioner_ignore_keys.to_string());
        put("transactional.id", opt(&self.transactional_id));
        put("transaction.timeout.ms", ms(self.transaction_timeout));
        put("connections.max.idle.ms", ms(self.connections_max_idle));
        put("send.buffer.bytes", self.send_buffer_bytes.to_string());
        put("receive.buffer.bytes", self.receive_buffer_bytes.to_string());
        put("security.protocol", self.security_protocol.clone());
        put("key.serializer", opt(&self.key_serializer));
        put("value.serializer", opt(&self.value_serializer));
        put("interceptor.classes", self.interceptor_classes.join(","));
        for k in keys::OTHER_KEYS {
            let v = match self.other.get(k.name) {
                Some(_) if keys::is_secret(k.name) => "[hidden]".to_string(),
                Some(v) => v.clone(),
                None => k.default.unwrap_or("null").to_string(),
            };
            put(k.name, v);
        }
        m
    }
}
