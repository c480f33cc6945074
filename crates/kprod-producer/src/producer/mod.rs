//! The producer: Java's `KafkaProducer` in Rust.
//!
//! `client` is the front door (`send`, `flush`, `close`); `accumulator` batches records (sans-IO, from
//! `kprod-proto`); `sender` is the one tokio task that talks to brokers through `connection`s using `metadata`.

pub use kprod_proto::producer::{
    accumulator, clock, config, error, hooks, interceptor, metrics, partitioner, record, serializer, transaction,
};

pub mod client;
// Connection IO (TCP, TLS, ApiVersions, SASL; frames). Not a stable API: public only with the `unstable` feature,
// for kprod's own integration tests.
#[cfg(feature = "unstable")]
pub mod connection;
#[cfg(not(feature = "unstable"))]
#[allow(unreachable_pub)]
pub(crate) mod connection;
pub mod metadata;
pub(crate) mod send_cache;
pub(crate) mod sender;

pub use accumulator::DeliveryFuture;
pub use client::{Producer, ProducerBuilder, TrySend, WouldWait};
pub use config::{Acks, ProducerConfig};
pub use error::{ProducerError, TxnErrorKind};
pub use hooks::{BatchEvent, ProducerHooks, RequestEvent};
pub use interceptor::ProducerInterceptor;
pub use record::{Header, ProducerRecord, RecordMetadata, TopicPartition};
pub use serializer::{BytesSerializer, Serializer, StringSerializer};
pub use transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TxnState};
