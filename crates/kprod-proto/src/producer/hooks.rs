//! Hooks: the producer tells subscribers what happened to records and batches, with timestamps. The workbench's
//! histograms subscribe here instead of being wired into the producer.
//!
//! Every method has an empty default, and a producer without hooks skips the calls with one branch, so a hook
//! nobody uses costs nothing measurable on the append path.

// Not all public items here are documented yet (issue 18): remove this allow once they are.
#![allow(missing_docs)]

use std::time::Instant;

use crate::producer::accumulator::RecordInfo;
use crate::producer::error::ProducerError;
use crate::producer::record::TopicPartition;

/// A batch at one point of its life.
#[derive(Debug)]
pub struct BatchEvent<'a> {
    pub tp: &'a TopicPartition,
    /// Per-record facts, in offset order (timestamps, sizes, `user_data`).
    pub records: &'a [RecordInfo],
    /// Bytes before compression (record-batch header included).
    pub uncompressed_bytes: usize,
    /// Bytes on the wire.
    pub wire_bytes: usize,
    pub created: Instant,
    pub drained: Option<Instant>,
    /// When the outcome became known (ack, failure); `None` for the drained event.
    pub completed: Option<Instant>,
    /// Sends that failed before this one.
    pub attempts: u32,
    /// First offset assigned by the broker; -1 when unknown (acks=0, failure).
    pub base_offset: i64,
}

/// A produce request written to a broker.
#[derive(Debug)]
pub struct RequestEvent {
    pub broker: i32,
    pub batches: usize,
    pub records: usize,
    pub bytes: usize,
    pub sent: Instant,
    /// When the response arrived; `None` in `on_request_sent`.
    pub completed: Option<Instant>,
}

/// Subscribe to producer events. Called from the producer's own tasks: keep implementations short.
pub trait ProducerHooks: Send + Sync + 'static {
    /// A record was appended to a batch (on the caller's thread).
    fn on_record_buffered(&self, _tp: &TopicPartition, _bytes: usize) {}
    /// A batch was closed and taken for a request.
    fn on_batch_drained(&self, _ev: &BatchEvent<'_>) {}
    /// A produce request was written.
    fn on_request_sent(&self, _ev: &RequestEvent) {}
    /// A produce response arrived (or the request failed as a whole).
    fn on_request_completed(&self, _ev: &RequestEvent) {}
    /// A batch was acknowledged.
    fn on_batch_acked(&self, _ev: &BatchEvent<'_>) {}
    /// A batch failed for good (its records fail with `err`).
    fn on_batch_failed(&self, _ev: &BatchEvent<'_>, _err: &ProducerError) {}
}
