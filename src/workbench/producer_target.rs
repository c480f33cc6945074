//! [`ProducerTarget`]: the runner's [`LoadTarget`] over the real [`Producer`], plus the producer hooks that feed
//! the workbench histograms (queue time, request latency, batch sizes, records per request, compression).
//!
//! The hot path per record is one `ProducerRecord` built without allocating (the topic is a cached `Arc<str>`, key
//! and value are the generator's `Bytes`; a header `Vec` only when headers are configured), `Producer::send`, and
//! two relaxed atomic increments for the accounting. Hooks are per batch and per request, never per record.
//!
//! Accounting is kept twice, independently of the runner: per record (every `send` call ends as refused, acked or
//! failed, counted when its ack future resolves) and per batch (records in batches the producer acked or failed,
//! counted by the hooks before the producer completes them). After the producer is closed both must balance.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;

use super::generator::GenRecord;
use super::histograms::{Metric, Recorder};
use super::runner::{BulkAcks, LoadTarget, Tagged, TargetError};
use crate::producer::{
    BatchEvent, DeliveryFuture, Header, Producer, ProducerError, ProducerHooks, ProducerRecord, RequestEvent, TrySend,
    WouldWait,
};

/// The error kind a failed record is grouped under in results: the broker's error code name for broker errors
/// (`NOT_LEADER_OR_FOLLOWER`), a snake_case name for client-side failures (`delivery_timeout`).
pub fn error_kind(e: &ProducerError) -> String {
    let s = match e {
        ProducerError::Broker { code, .. } => code.name(),
        // Java surfaces the last broker error when retries run out; so do we, to group with the broker errors.
        ProducerError::RetriesExhausted { last, .. } => last.name(),
        ProducerError::RecordTooLarge { .. } => "record_too_large",
        ProducerError::BufferExhausted { .. } => "buffer_exhausted",
        ProducerError::TopicNotFound { .. } => "topic_not_found",
        ProducerError::InvalidPartition { .. } => "invalid_partition",
        ProducerError::Serialization { .. } => "serialization",
        ProducerError::DeliveryTimeout { .. } => "delivery_timeout",
        ProducerError::Connection { .. } => "connection",
        ProducerError::RequestTimeout { .. } => "request_timeout",
        ProducerError::Closed => "closed",
        ProducerError::Aborted { .. } => "aborted",
        ProducerError::Timeout(_) => "timeout",
        ProducerError::Fatal(_) => "fatal",
        ProducerError::Protocol { .. } => "protocol",
        ProducerError::Config(_) => "config",
        ProducerError::Authentication { .. } => "authentication",
        ProducerError::Tls { .. } => "tls",
        ProducerError::Transaction { kind, .. } => match kind {
            crate::producer::error::TxnErrorKind::Fenced => "producer_fenced",
            crate::producer::error::TxnErrorKind::Fatal => "transaction_fatal",
            crate::producer::error::TxnErrorKind::Abortable => "transaction_abortable",
            crate::producer::error::TxnErrorKind::InvalidState => "transaction_state",
            crate::producer::error::TxnErrorKind::Aborted => "transaction_aborted",
            crate::producer::error::TxnErrorKind::Timeout => "transaction_timeout",
        },
        // `ProducerError` is `#[non_exhaustive]` (it lives in another crate now): a variant added later is grouped
        // here until it gets its own name.
        _ => "other",
    };
    s.to_string()
}

fn target_error(e: &ProducerError) -> TargetError {
    TargetError { kind: error_kind(e), message: e.to_string() }
}

/// Record and batch counters of one target (whole point, warm-up included).
#[derive(Debug, Default)]
pub struct Counters {
    /// `send` calls.
    pub sent: AtomicU64,
    /// `send` refused the record (never appended).
    pub refused: AtomicU64,
    /// Ack futures that resolved with success.
    pub acked: AtomicU64,
    /// Ack futures that resolved with an error.
    pub failed: AtomicU64,
    /// Records in batches acknowledged, as the producer hooks saw them.
    pub batch_records_acked: AtomicU64,
    /// Records in batches failed for good, as the producer hooks saw them.
    pub batch_records_failed: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Accounting {
    pub records_sent: u64,
    pub records_refused: u64,
    pub records_acked: u64,
    pub records_failed: u64,
    pub batch_records_acked: u64,
    pub batch_records_failed: u64,
}

impl std::ops::AddAssign for Accounting {
    fn add_assign(&mut self, a: Accounting) {
        self.records_sent += a.records_sent;
        self.records_refused += a.records_refused;
        self.records_acked += a.records_acked;
        self.records_failed += a.records_failed;
        self.batch_records_acked += a.batch_records_acked;
        self.batch_records_failed += a.batch_records_failed;
    }
}

impl Accounting {
    /// Records handed to `send` without an outcome (refused, acked or failed) yet.
    pub fn records_unaccounted(&self) -> u64 {
        self.records_sent.saturating_sub(self.records_refused + self.records_acked + self.records_failed)
    }

    /// Records the producer accepted whose batch has not completed (per the hooks).
    pub fn batch_records_unaccounted(&self) -> u64 {
        (self.records_sent - self.records_refused.min(self.records_sent))
            .saturating_sub(self.batch_records_acked + self.batch_records_failed)
    }

    /// True when every record has exactly one outcome on both levels.
    pub fn balanced(&self) -> bool {
        self.records_refused + self.records_acked + self.records_failed == self.records_sent
            && self.batch_records_acked + self.batch_records_failed + self.records_refused == self.records_sent
    }
}

impl Counters {
    pub fn snapshot(&self) -> Accounting {
        let g = |a: &AtomicU64| a.load(Ordering::Acquire);
        Accounting {
            records_sent: g(&self.sent),
            records_refused: g(&self.refused),
            records_acked: g(&self.acked),
            records_failed: g(&self.failed),
            batch_records_acked: g(&self.batch_records_acked),
            batch_records_failed: g(&self.batch_records_failed),
        }
    }
}

/// The producer hooks that record into a [`Recorder`] drained once a second by the runner.
#[derive(Debug)]
pub struct HookRecorder {
    rec: Mutex<Recorder>,
    counters: Arc<Counters>,
    /// The runner's bulk acknowledgements while a point runs (records carry their tag in `user_data`).
    bulk: RwLock<Option<Arc<BulkAcks>>>,
}

impl HookRecorder {
    pub fn new(counters: Arc<Counters>) -> HookRecorder {
        HookRecorder { rec: Mutex::new(Recorder::new()), counters, bulk: RwLock::new(None) }
    }

    fn bulk(&self) -> Option<Arc<BulkAcks>> {
        self.bulk.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Recorder) -> R) -> R {
        // A panic in a hook leaves plain histograms behind; keep measuring.
        f(&mut self.rec.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Moves what the hooks recorded into `into`.
    pub fn drain_into(&self, into: &mut Recorder) {
        self.with(|r| r.drain_into(into));
    }
}

impl ProducerHooks for HookRecorder {
    fn on_batch_drained(&self, ev: &BatchEvent<'_>) {
        // Retries drain a batch again; its size and first wait are counted once.
        if ev.attempts > 0 {
            return;
        }
        let queued = ev.drained.map(|d| d.saturating_duration_since(ev.created));
        self.with(|r| {
            if let Some(q) = queued {
                r.record_duration(Metric::QueueTime, q);
            }
            r.record(Metric::BatchBytes, ev.wire_bytes as u64);
            r.record(Metric::BatchRecords, ev.records.len() as u64);
            r.record_compression(ev.uncompressed_bytes as u64, ev.wire_bytes as u64);
        });
    }

    fn on_request_sent(&self, ev: &RequestEvent) {
        self.with(|r| r.record(Metric::RecordsPerRequest, ev.records as u64));
    }

    fn on_request_completed(&self, ev: &RequestEvent) {
        if let Some(done) = ev.completed {
            self.with(|r| r.record_duration(Metric::RequestLatency, done.saturating_duration_since(ev.sent)));
        }
    }

    fn on_batch_acked(&self, ev: &BatchEvent<'_>) {
        let n = ev.records.len() as u64;
        self.counters.batch_records_acked.fetch_add(n, Ordering::AcqRel);
        if let Some(b) = self.bulk() {
            let at = ev.completed.map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std);
            b.acked(ev.records.iter().map(|r| (r.user_data, (r.key_size.max(0) + r.value_size.max(0)) as u64)), at);
            self.counters.acked.fetch_add(n, Ordering::AcqRel);
        }
    }

    fn on_batch_failed(&self, ev: &BatchEvent<'_>, err: &ProducerError) {
        let n = ev.records.len() as u64;
        self.counters.batch_records_failed.fetch_add(n, Ordering::AcqRel);
        if let Some(b) = self.bulk() {
            b.failed(ev.records.iter().map(|r| r.user_data), &error_kind(err));
            self.counters.failed.fetch_add(n, Ordering::AcqRel);
        }
    }
}

/// The runner's target: sends generated records through a [`Producer`].
pub struct ProducerTarget {
    producer: Producer,
    /// Transactions of a transactional workload.
    txn: Option<super::txn_driver::TxnDriver>,
    /// How many topics the workload has (records carry the generator's shared `Arc<str>` name).
    topics: usize,
    hooks: Arc<HookRecorder>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for ProducerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerTarget").field("topics", &self.topics).field("counters", &self.counters).finish()
    }
}

impl ProducerTarget {
    /// A target over `producer`, which must have been built with `hooks` as its [`ProducerHooks`] for the
    /// hook metrics and batch accounting to be filled. Use [`ProducerTarget::build`] to get both right.
    pub fn new(producer: Producer, topics: &[String], hooks: Arc<HookRecorder>, counters: Arc<Counters>) -> Self {
        let topics = topics.iter().collect::<HashSet<_>>().len();
        ProducerTarget { producer, txn: None, topics, hooks, counters }
    }

    /// Makes the target transactional: `init_transactions` and the first `begin_transaction` happen here (before
    /// the clock starts); sends then commit every `spec`. Call [`finish_transactions`](Self::finish_transactions)
    /// after the run.
    pub async fn start_transactions(
        &mut self,
        spec: super::workload::TransactionSpec,
        timeout: std::time::Duration,
    ) -> Result<(), ProducerError> {
        let d = super::txn_driver::TxnDriver::new(spec, timeout);
        d.start(&self.producer).await?;
        self.txn = Some(d);
        Ok(())
    }

    /// Commits the open transaction and returns the transaction figures (`None` when not transactional).
    pub async fn finish_transactions(&self) -> Option<super::txn_driver::TxnSummary> {
        let d = self.txn.as_ref()?;
        Some(d.finish(&self.producer).await)
    }

    /// Builds the producer with the recording hooks and wraps it.
    pub fn build(config: crate::producer::ProducerConfig, topics: &[String]) -> Result<Self, ProducerError> {
        let counters = Arc::new(Counters::default());
        let hooks = Arc::new(HookRecorder::new(counters.clone()));
        let producer = Producer::<Bytes, Bytes>::builder(config).hooks(hooks.clone()).build()?;
        Ok(ProducerTarget::new(producer, topics, hooks, counters))
    }

    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    pub fn accounting(&self) -> Accounting {
        self.counters.snapshot()
    }

    fn record(&self, r: GenRecord<'_>, user_data: u64) -> ProducerRecord<Bytes, Bytes> {
        let headers = if r.headers.is_empty() {
            Vec::new()
        } else {
            r.headers.iter().map(|(k, v)| Header { key: k.clone(), value: Some(v.clone()) }).collect()
        };
        ProducerRecord {
            topic: r.topic.clone(),
            partition: r.partition,
            key: r.key,
            value: Some(r.value),
            headers,
            timestamp_ms: None,
            user_data,
        }
    }

    /// Runs one record's `send` (under the commit gate when transactional), counting it as sent, and as refused
    /// when the producer does not take it.
    async fn counted<T>(&self, send: impl Future<Output = Result<T, ProducerError>>) -> Result<T, TargetError> {
        self.counters.sent.fetch_add(1, Ordering::AcqRel);
        self.gated(send).await
    }

    /// [`counted`](Self::counted) without counting the send (the bulk path counts sends in `tagged_sent`).
    async fn gated<T>(&self, send: impl Future<Output = Result<T, ProducerError>>) -> Result<T, TargetError> {
        let sent = match &self.txn {
            None => send.await,
            Some(t) => t.gated(&self.producer, send).await,
        };
        sent.map_err(|e| {
            self.counters.refused.fetch_add(1, Ordering::AcqRel);
            target_error(&e)
        })
    }
}

/// A tagged record that could not be appended at once.
enum Slow {
    /// Transactional: every send goes through the commit gate.
    Gated(ProducerRecord<Bytes, Bytes>),
    /// The producer handed it back (it must wait for memory or metadata); already counted as sent.
    Wait(WouldWait<Bytes, Bytes>),
}

/// A record's acknowledgement: the producer's [`DeliveryFuture`], counted and mapped to the runner's error.
pub struct ProducerAck {
    delivery: DeliveryFuture,
    counters: Arc<Counters>,
}

impl Future for ProducerAck {
    type Output = Result<(), TargetError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.delivery).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(_)) => {
                self.counters.acked.fetch_add(1, Ordering::AcqRel);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                self.counters.failed.fetch_add(1, Ordering::AcqRel);
                Poll::Ready(Err(target_error(&e)))
            }
        }
    }
}

impl LoadTarget for ProducerTarget {
    type Ack = ProducerAck;

    fn send(&self, record: GenRecord<'_>) -> impl Future<Output = Result<ProducerAck, TargetError>> + Send {
        let record = self.record(record, 0);
        async move {
            let delivery = self.counted(self.producer.send(record)).await?;
            Ok(ProducerAck { delivery, counters: self.counters.clone() })
        }
    }

    fn collect_hooks(&self, into: &mut Recorder) {
        self.hooks.drain_into(into);
    }

    /// The producer's batch hooks report every record (acked or failed for good) with its `user_data`, so the
    /// runner needs no future per record.
    fn attach_bulk(&self, acks: Option<Arc<BulkAcks>>) -> bool {
        *self.hooks.bulk.write().unwrap_or_else(|e| e.into_inner()) = acks;
        true
    }

    fn tagged_sent(&self, _task: u32, n: u64) {
        self.counters.sent.fetch_add(n, Ordering::AcqRel);
    }

    /// Appends at once when it can ([`Producer::try_send_and_forget`], no future); a record that must wait for
    /// memory or metadata, or for a commit in progress (transactional), gets the waiting send.
    fn send_tagged(
        &self,
        record: GenRecord<'_>,
        tag: u64,
    ) -> Tagged<impl Future<Output = Result<(), TargetError>> + Send> {
        let record = self.record(record, tag);
        let slow = if self.txn.is_some() {
            Slow::Gated(record)
        } else {
            // Counted as sent by `tagged_sent`, in bulk.
            match self.producer.try_send_and_forget(record) {
                TrySend::Appended => return Tagged::Done(Ok(())),
                TrySend::Failed(e) => {
                    self.counters.refused.fetch_add(1, Ordering::AcqRel);
                    return Tagged::Done(Err(target_error(&e)));
                }
                TrySend::WouldWait(w) => Slow::Wait(w),
            }
        };
        Tagged::Wait(async move {
            match slow {
                Slow::Gated(record) => self.gated(self.producer.send_and_forget(record)).await,
                Slow::Wait(w) => self.producer.send_and_forget_after(w).await.map_err(|e| {
                    self.counters.refused.fetch_add(1, Ordering::AcqRel);
                    target_error(&e)
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::TopicPartition;
    use crate::protocol::ErrorCode;

    #[test]
    fn error_kinds_name_broker_codes_and_client_failures() {
        let broker = ProducerError::Broker {
            topic_partition: TopicPartition::new("t", 0),
            code: ErrorCode::NotLeaderOrFollower,
            message: None,
        };
        assert_eq!(error_kind(&broker), "NOT_LEADER_OR_FOLLOWER");
        let exhausted = ProducerError::RetriesExhausted {
            topic_partition: TopicPartition::new("t", 0),
            attempts: 3,
            last: ErrorCode::RequestTimedOut,
        };
        assert_eq!(error_kind(&exhausted), "REQUEST_TIMED_OUT");
        let timeout = ProducerError::DeliveryTimeout {
            topic_partition: TopicPartition::new("t", 0),
            records: 1,
            elapsed_ms: 5,
            delivery_timeout_ms: 1,
        };
        assert_eq!(error_kind(&timeout), "delivery_timeout");
        let full = ProducerError::BufferExhausted { requested: 10, max_block_ms: 0 };
        assert_eq!(target_error(&full).kind, "buffer_exhausted");
        assert!(target_error(&full).message.contains("buffer.memory"));
    }

    #[test]
    fn accounting_balances_only_when_every_record_has_one_outcome() {
        let mut a = Accounting {
            records_sent: 10,
            records_refused: 1,
            records_acked: 7,
            records_failed: 2,
            batch_records_acked: 7,
            batch_records_failed: 2,
        };
        assert!(a.balanced());
        assert_eq!((a.records_unaccounted(), a.batch_records_unaccounted()), (0, 0));
        a.records_acked = 6;
        assert!(!a.balanced());
        assert_eq!(a.records_unaccounted(), 1);
        a.records_acked = 7;
        a.batch_records_acked = 5;
        assert!(!a.balanced());
        assert_eq!(a.batch_records_unaccounted(), 2);
    }
}
