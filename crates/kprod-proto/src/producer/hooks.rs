//! Hooks: the producer tells subscribers what happened to records and batches, with timestamps. The workbench's
//! histograms subscribe here instead of being wired into the producer.
//!
//! Every method has an empty default, and a producer without hooks skips the calls with one branch, so a hook
//! nobody uses costs nothing measurable on the append path.

use std::time::Instant;

use crate::producer::accumulator::RecordInfo;
use crate::producer::error::ProducerError;
use crate::producer::record::TopicPartition;

/// A batch at one point of its life.
///
/// ```
/// use std::time::Instant;
/// use kprod_proto::producer::hooks::{BatchEvent, ProducerHooks};
/// use kprod_proto::producer::record::TopicPartition;
///
/// struct Acked;
/// impl ProducerHooks for Acked {
///     fn on_batch_acked(&self, ev: &BatchEvent<'_>) {
///         assert_eq!(ev.base_offset, 100);
///     }
/// }
/// let tp = TopicPartition::new("events", 0);
/// let now = Instant::now();
/// let ev = BatchEvent {
///     tp: &tp,
///     records: &[],
///     uncompressed_bytes: 61,
///     wire_bytes: 61,
///     created: now,
///     drained: Some(now),
///     completed: Some(now),
///     attempts: 0,
///     base_offset: 100,
/// };
/// Acked.on_batch_acked(&ev); // what the producer calls when the broker acknowledges the batch
/// ```
#[derive(Debug)]
pub struct BatchEvent<'a> {
    /// The batch's partition.
    pub tp: &'a TopicPartition,
    /// Per-record facts, in offset order (timestamps, sizes, `user_data`).
    pub records: &'a [RecordInfo],
    /// Bytes before compression (record-batch header included).
    pub uncompressed_bytes: usize,
    /// Bytes on the wire.
    pub wire_bytes: usize,
    /// When the batch was opened (its first record appended).
    pub created: Instant,
    /// When it was closed and taken for a request; `None` before.
    pub drained: Option<Instant>,
    /// When the outcome became known (ack, failure); `None` for the drained event.
    pub completed: Option<Instant>,
    /// Sends that failed before this one.
    pub attempts: u32,
    /// First offset assigned by the broker; -1 when unknown (acks=0, failure).
    pub base_offset: i64,
}

/// A produce request written to a broker.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Instant;
/// use kprod_proto::producer::hooks::{ProducerHooks, RequestEvent};
///
/// #[derive(Default)]
/// struct InFlight(AtomicUsize);
/// impl ProducerHooks for InFlight {
///     fn on_request_sent(&self, _ev: &RequestEvent) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn on_request_completed(&self, _ev: &RequestEvent) {
///         self.0.fetch_sub(1, Ordering::Relaxed);
///     }
/// }
/// let hooks = InFlight::default();
/// let ev = RequestEvent { broker: 0, batches: 2, records: 10, bytes: 1_000, sent: Instant::now(), completed: None };
/// hooks.on_request_sent(&ev);
/// assert_eq!(hooks.0.load(Ordering::Relaxed), 1);
/// hooks.on_request_completed(&RequestEvent { completed: Some(Instant::now()), ..ev });
/// assert_eq!(hooks.0.load(Ordering::Relaxed), 0);
/// ```
#[derive(Debug)]
pub struct RequestEvent {
    /// The broker's node id.
    pub broker: i32,
    /// Batches in the request.
    pub batches: usize,
    /// Records in the request.
    pub records: usize,
    /// Bytes of record batches in the request.
    pub bytes: usize,
    /// When the request was written.
    pub sent: Instant,
    /// When the response arrived; `None` in `on_request_sent`.
    pub completed: Option<Instant>,
}

/// Subscribe to producer events. Called from the producer's own tasks: keep implementations short.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use kprod_proto::producer::hooks::ProducerHooks;
/// use kprod_proto::producer::record::TopicPartition;
///
/// /// Bytes buffered, for a gauge. Every other method keeps its empty default.
/// #[derive(Default)]
/// struct Buffered(AtomicUsize);
/// impl ProducerHooks for Buffered {
///     fn on_record_buffered(&self, _tp: &TopicPartition, bytes: usize) {
///         self.0.fetch_add(bytes, Ordering::Relaxed);
///     }
/// }
/// let hooks = Buffered::default();
/// hooks.on_record_buffered(&TopicPartition::new("events", 0), 120);
/// assert_eq!(hooks.0.load(Ordering::Relaxed), 120);
/// ```
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
