//! The producer's sans-IO parts: configuration, partitioners, the record accumulator, the transaction manager,
//! records, errors and hooks. The runtime that drives them (`Producer`, the sender task, connections) is in
//! `kprod-producer`.

pub mod accumulator;
pub mod clock;
pub mod config;
pub mod error;
pub mod hooks;
pub mod interceptor;
pub mod metrics;
pub mod partitioner;
pub mod record;
pub mod serializer;
pub mod transaction;
