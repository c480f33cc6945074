//! The producer's errors. Every variant names its culprit (topic, partition, broker, key).

use std::sync::Arc;
use std::time::Duration;

use crate::producer::config::ConfigError;
use crate::producer::partitioner::UnknownPartitioner;
use crate::producer::record::TopicPartition;
use crate::protocol::error::ErrorCode;
use crate::record::RecordError;
use crate::security::SecurityConfigError;
use crate::security::tls_config::TlsConfigError;

/// Why a send, flush or close failed.
///
/// ```
/// use kprod_proto::producer::error::ProducerError;
/// use kprod_proto::producer::record::TopicPartition;
/// use kprod_proto::protocol::ErrorCode;
///
/// let e = ProducerError::RecordTooLarge { size: 2_000_000, limit: 1_048_576, limit_name: "max.request.size" };
/// assert_eq!(e.to_string(), "record of 2000000 bytes is larger than max.request.size=1048576");
/// assert!(!e.is_retriable());
/// let e = ProducerError::Broker { topic_partition: TopicPartition::new("t", 0), code: ErrorCode::NotLeaderOrFollower, message: None };
/// assert!(e.to_string().contains("t-0"), "names the partition: {e}");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProducerError {
    /// A record larger than `max.request.size` or `buffer.memory`.
    #[error("record of {size} bytes is larger than {limit_name}={limit}")]
    RecordTooLarge {
        /// Serialized size, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
        /// The setting that sets it.
        limit_name: &'static str,
    },
    /// No `buffer.memory` came free within `max.block.ms`.
    #[error("buffer.memory exhausted: no {requested} bytes free after waiting max.block.ms={max_block_ms} ms")]
    BufferExhausted {
        /// Bytes needed.
        requested: usize,
        /// How long the send waited, in ms.
        max_block_ms: u64,
    },
    /// The topic did not appear in metadata within `max.block.ms`.
    #[error("topic '{topic}' not present in metadata after {waited_ms} ms (max.block.ms){}", last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    TopicNotFound {
        /// The topic.
        topic: String,
        /// How long the send waited, in ms.
        waited_ms: u64,
        /// The last metadata or connection error, if any.
        last_error: Option<String>,
    },
    /// An explicit partition the topic does not have.
    #[error("partition {partition} of topic '{topic}' is out of range: the topic has {num_partitions} partitions")]
    InvalidPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// Partitions the topic has.
        num_partitions: u32,
    },
    /// The key or value serializer failed.
    #[error("serializing the {what} for topic '{topic}' failed: {reason}")]
    Serialization {
        /// The topic.
        topic: String,
        /// `key` or `value`.
        what: &'static str,
        /// The serializer's error.
        reason: String,
    },
    /// The batch was not acknowledged within `delivery.timeout.ms`.
    #[error(
        "expiring {records} record(s) for {topic_partition}: {elapsed_ms} ms has passed since batch creation (delivery.timeout.ms={delivery_timeout_ms})"
    )]
    DeliveryTimeout {
        /// The partition.
        topic_partition: TopicPartition,
        /// Records in the expired batch.
        records: usize,
        /// Time since the batch was created, in ms.
        elapsed_ms: u64,
        /// `delivery.timeout.ms`.
        delivery_timeout_ms: u64,
    },
    /// The broker answered with a non-retriable error.
    #[error("broker error {code} for {topic_partition}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The partition.
        topic_partition: TopicPartition,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// A retriable error, and no retries left.
    #[error("retries exhausted for {topic_partition} after {attempts} attempts: last error {last}")]
    RetriesExhausted {
        /// The partition.
        topic_partition: TopicPartition,
        /// Sends tried.
        attempts: u32,
        /// The last error code.
        last: ErrorCode,
    },
    /// A broker could not be reached (TCP connect, or the connection broke).
    #[error("cannot reach {address}: {reason}")]
    Connection {
        /// `host:port`.
        address: String,
        /// What the socket reported.
        reason: String,
    },
    /// No response within `request.timeout.ms`.
    #[error("request to broker {broker} timed out after {timeout_ms} ms (request.timeout.ms)")]
    RequestTimeout {
        /// The broker.
        broker: String,
        /// `request.timeout.ms`.
        timeout_ms: u64,
    },
    /// The producer was closed before this call.
    #[error("producer is closed")]
    Closed,
    /// The producer was closed (or dropped) before the record was delivered.
    #[error("producer closed before the record was delivered ({reason})")]
    Aborted {
        /// Why.
        reason: String,
    },
    /// `flush` or `close` did not finish within its timeout.
    #[error("flush or close timed out after {0:?}")]
    Timeout(Duration),
    /// The idempotent producer reached a state it cannot recover from; the text says why.
    #[error("idempotent producer state is fatal: {0}")]
    Fatal(Arc<str>),
    /// A response that does not decode or makes no sense.
    #[error("protocol error talking to {broker}: {reason}")]
    Protocol {
        /// The broker.
        broker: String,
        /// What was wrong.
        reason: String,
    },
    /// The configuration was refused at `build` (or a call needs a setting that is missing). The cause keeps its
    /// type: match on [`ConfigCause`] to tell an unknown key from an unreadable certificate file.
    #[error("invalid configuration: {0}")]
    Config(#[source] ConfigCause),
    /// SASL authentication was refused (wrong credentials, unsupported mechanism). Never carries a password.
    /// `cause` is the typed error behind `reason` when there is one: the broker's [`ErrorCode`] or the SASL
    /// client's [`SaslError`](crate::security::sasl::SaslError) (a server signature that does not verify, ...).
    #[error("SASL authentication with broker {broker} using {mechanism} failed: {reason}")]
    Authentication {
        /// The broker.
        broker: String,
        /// The SASL mechanism.
        mechanism: String,
        /// What failed, in words.
        reason: String,
        /// The typed cause behind `reason`, when there is one.
        #[source]
        cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The TLS handshake failed (unknown certificate authority, hostname mismatch, expired certificate...).
    /// `reason` says what did not match, in words; `cause` is the error the socket reported, with rustls's own
    /// `rustls::Error` inside it when TLS refused (`io::Error::get_ref` then `downcast_ref`).
    #[error("TLS handshake with broker {broker} failed: {reason}")]
    Tls {
        /// The broker.
        broker: String,
        /// What did not match, in words.
        reason: String,
        /// The socket's error (rustls's inside).
        #[source]
        cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// A transactional call or send failed; `kind` says whether the producer is still usable.
    #[error("transactional.id '{transactional_id}': {kind}: {reason}")]
    Transaction {
        /// The `transactional.id`.
        transactional_id: Arc<str>,
        /// How bad it is.
        kind: TxnErrorKind,
        /// What failed.
        reason: Arc<str>,
    },
}

/// Why a configuration was refused, with the error of the part that refused it. Its `Display` is that error's
/// message; `source()` goes on to the underlying cause (an `io::Error` for a file that cannot be read).
///
/// ```
/// use kprod_proto::producer::config::{ConfigError, ProducerConfig};
/// use kprod_proto::producer::error::{ConfigCause, ProducerError};
///
/// let err: ProducerError = ProducerConfig::from_pairs([("lingr.ms", "5")]).unwrap_err().into();
/// assert!(matches!(&err, ProducerError::Config(ConfigCause::Producer(e)) if matches!(**e, ConfigError::UnknownKey { .. })));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigCause {
    /// A key or value of the producer configuration: unknown key, bad value, conflicting settings, unreadable file.
    #[error(transparent)]
    Producer(Arc<ConfigError>),
    /// `security.protocol`, `sasl.mechanism`, `sasl.jaas.config` and the SASL credentials.
    #[error(transparent)]
    Security(SecurityConfigError),
    /// The `ssl.*` settings: a store that cannot be read or parsed, an unsupported store type.
    #[error(transparent)]
    Tls(Arc<TlsConfigError>),
    /// `compression.type` and the compression levels.
    #[error(transparent)]
    Compression(RecordError),
    /// `partitioner.class` names no known partitioner.
    #[error(transparent)]
    Partitioner(Arc<UnknownPartitioner>),
    /// A rule of the producer itself (no tokio runtime, empty `bootstrap.servers`, no `transactional.id` for the
    /// transactional API).
    #[error("{0}")]
    Other(Arc<str>),
}

impl From<ConfigError> for ConfigCause {
    fn from(e: ConfigError) -> Self {
        ConfigCause::Producer(Arc::new(e))
    }
}
impl From<SecurityConfigError> for ConfigCause {
    fn from(e: SecurityConfigError) -> Self {
        ConfigCause::Security(e)
    }
}
impl From<TlsConfigError> for ConfigCause {
    fn from(e: TlsConfigError) -> Self {
        ConfigCause::Tls(Arc::new(e))
    }
}
impl From<UnknownPartitioner> for ConfigCause {
    fn from(e: UnknownPartitioner) -> Self {
        ConfigCause::Partitioner(Arc::new(e))
    }
}

macro_rules! config_error_into_producer_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ProducerError {
            fn from(e: $t) -> Self {
                ProducerError::Config(e.into())
            }
        }
    )*};
}
config_error_into_producer_error!(ConfigError, SecurityConfigError, TlsConfigError, UnknownPartitioner);

impl ProducerError {
    /// A configuration error that is a rule of the producer itself, not of one component.
    pub fn config(reason: impl Into<Arc<str>>) -> Self {
        ProducerError::Config(ConfigCause::Other(reason.into()))
    }
}

/// How bad a transaction error is, as Java's exception classes tell it.
///
/// ```
/// use kprod_proto::producer::error::{ProducerError, TxnErrorKind};
///
/// let e = ProducerError::Transaction {
///     transactional_id: "tx".into(),
///     kind: TxnErrorKind::Abortable,
///     reason: "a record failed".into(),
/// };
/// // An abortable error: abort the transaction and carry on; a fenced or fatal one: close the producer.
/// assert_eq!(e.txn_kind(), Some(TxnErrorKind::Abortable));
/// assert_eq!(ProducerError::Closed.txn_kind(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnErrorKind {
    /// Another producer with the same transactional.id took over (PRODUCER_FENCED): close this producer.
    Fenced,
    /// Any other fatal error (authorization, unsupported version, invalid state): close this producer.
    Fatal,
    /// The transaction cannot commit: call `abort_transaction`, then the producer is usable again.
    Abortable,
    /// The call is not allowed in the current state (Java's `IllegalStateException`).
    InvalidState,
    /// The record was not sent because its transaction was aborted.
    Aborted,
    /// The call did not complete in time; calling it again keeps waiting for the same outcome.
    Timeout,
}

impl std::fmt::Display for TxnErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TxnErrorKind::Fenced => "fenced by a newer producer with the same transactional.id (fatal: close it)",
            TxnErrorKind::Fatal => "fatal transaction error (close the producer)",
            TxnErrorKind::Abortable => "abortable transaction error (call abort_transaction)",
            TxnErrorKind::InvalidState => "invalid transaction state",
            TxnErrorKind::Aborted => "transaction aborted",
            TxnErrorKind::Timeout => "timed out (call again to keep waiting)",
        })
    }
}

impl ProducerError {
    /// True when retrying the same record later might succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ProducerError::Broker { code, .. } => code.is_retriable(),
            ProducerError::Connection { .. } | ProducerError::RequestTimeout { .. } => true,
            _ => false,
        }
    }

    /// True for connection errors that retrying will not cure (authentication, TLS): as Java's
    /// `AuthenticationException`, they fail every pending record instead of waiting for delivery.timeout.ms.
    pub fn is_fatal_connect(&self) -> bool {
        matches!(self, ProducerError::Authentication { .. } | ProducerError::Tls { .. })
    }

    /// The kind of a transaction error, `None` for other errors.
    pub fn txn_kind(&self) -> Option<TxnErrorKind> {
        match self {
            ProducerError::Transaction { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}
