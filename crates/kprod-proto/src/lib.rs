//! # kprod-proto — the sans-IO half of kprod's Kafka producer
//!
//! Everything here is bytes in, bytes out, with the clock passed in: the Kafka wire protocol ([`protocol`]), record
//! batches v2 and their codecs ([`record`]), Java's `murmur2` ([`murmur2`]), the SASL mechanisms and security
//! settings ([`security`]), and the producer's state machines and data ([`producer`]: configuration, partitioners,
//! the record accumulator, the transaction manager, records, errors and hooks). No tokio, no sockets.
//!
//! The tokio runtime around it is the `kprod-producer` crate; the mock broker is `kprod-mock`.

#![warn(missing_docs, unreachable_pub)]

pub mod murmur2;
pub mod producer;
pub mod protocol;
pub mod record;
pub mod security;
