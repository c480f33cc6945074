//! # kprod-producer — a Kafka producer in Rust
//!
//! Java's `KafkaProducer.doSend` path, rebuilt on tokio: [`producer::Producer`] (send, flush, close, transactions),
//! the sender task, connections with TLS and SASL, and the metadata loop. The sans-IO parts (wire protocol, record
//! batches, accumulator, partitioners, configuration, transaction state machine) come from `kprod-proto` and are
//! re-exported here under the same paths.

#![warn(missing_docs, unreachable_pub)]

pub use kprod_proto::{murmur2, protocol, record};

pub mod producer;
pub mod security;
pub mod verify;
