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
//! See `DESIGN.md` for the file map.

pub mod broker;
pub mod murmur2;
pub mod producer;
pub mod protocol;
pub mod record;
pub mod security;
pub mod verify;
pub mod workbench;
