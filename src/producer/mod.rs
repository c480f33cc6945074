//! The producer: Java's `KafkaProducer` in Rust.
//!
//! `client` is the front door (`send`, `flush`, `close`); `accumulator` batches records (sans-IO);
//! `sender` is the one tokio task that talks to brokers through `connection`s using `metadata`.

pub mod accumulator;
pub mod client;
pub mod clock;
pub mod config;
pub mod connection;
pub mod error;
pub mod hooks;
pub mod interceptor;
pub mod metadata;
pub mod metrics;
pub mod partitioner;
pub mod record;
pub(crate) mod send_cache;
pub(crate) mod sender;
pub mod serializer;
pub mod transaction;

pub use accumulator::DeliveryFuture;
pub use client::{Producer, ProducerBuilder, TrySend, WouldWait};
pub use config::{Acks, ProducerConfig};
pub use error::{ProducerError, TxnErrorKind};
pub use hooks::{BatchEvent, ProducerHooks, RequestEvent};
pub use interceptor::ProducerInterceptor;
pub use record::{Header, ProducerRecord, RecordMetadata, TopicPartition};
pub use serializer::{BytesSerializer, Serializer, StringSerializer};
pub use transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TxnState};
