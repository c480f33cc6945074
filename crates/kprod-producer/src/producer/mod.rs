//! The producer: Java's `KafkaProducer` in Rust.
//!
//! `client` is the front door (`send`, `flush`, `close`); `accumulator` batches records (sans-IO, from
//! `kprod-proto`); `sender` is the one tokio task that talks to brokers through `connection`s using `metadata`.

pub use kprod_proto::producer::{
    accumulator, clock, config, error, hooks, interceptor, metrics, partitioner, record, serializer, transaction,
};

pub mod client;
pub mod connection;
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
