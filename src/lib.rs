//! # kprod — a Kafka producer in Rust, and the workbench that measures it
//!
//! ```text
//!  workload (YAML)  ──► generator ──► Producer::send(record)
//!                                      │ interceptors.on_send
//!                                      │ serialize key / value
//!                                      │ partition (explicit | custom | murmur2(key) | sticky)
//!                                      │ size check (max.request.size, buffer.memory)
//!                                      ▼
//!                               RecordAccumulator  (sans-IO, injected clock)
//!                                      ▼ ready() / drain()
//!                                   Sender  (the one tokio task per producer)
//!                                      ▼
//!                         broker: real Kafka │ in-process mock broker (same wire protocol)
//!                                      ▼ ProduceResponse
//!                         batch completion ──► futures / callbacks ──► hooks ──► HDR histograms
//! ```
//!
//! This package is the workbench and the `kprod` command line. The layers are their own crates, re-exported here
//! under the paths they always had: `kprod-proto` (sans-IO: [`protocol`], [`record`], [`murmur2`], the
//! accumulator, partitioners, configuration, transaction state machine), `kprod-producer` ([`producer`],
//! [`security`], [`verify`]: the tokio runtime) and `kprod-mock` ([`broker`]). See `DESIGN.md` for the crate map.

pub use kprod_producer::{murmur2, producer, protocol, record, security, verify};

/// The in-process mock Kafka cluster (the `kprod-mock` crate) and the `kprod broker` command line.
pub mod broker {
    pub use kprod_mock::*;

    pub mod cli;
}

pub mod workbench;
