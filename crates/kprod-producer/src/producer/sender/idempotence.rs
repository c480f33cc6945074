//! Idempotent producer state, as Java's `TransactionManager` keeps it for a non-transactional producer: the
//! producer id and epoch, and per partition the next sequence number and the sequences in flight or waiting to be
//! retried. Sans-IO: the sender feeds it outcomes and asks it what may be drained.

use std::collections::{BTreeSet, HashMap};

use crate::producer::accumulator::{DrainGate, ProducerBatch};
use crate::producer::record::TopicPartition;

/// Sequence bookkeeping for one partition.
#[derive(Debug, Default, Clone)]
pub(crate) struct PartitionSequences {
    /// Sequence for the next new batch.
    pub next_sequence: i32,
    /// Base sequences of batches in flight.
    pub in_flight: BTreeSet<i32>,
    /// Base sequences of batches put back for a retry and not yet re-sent.
    pub retrying: BTreeSet<i32>,
    /// Last sequence the broker acknowledged on this partition in the current epoch; `None` until the first ack.
    ///
    /// Until then the broker may hold no state for this producer here, and Kafka accepts a producer it has no
    /// state for at *any* sequence. With several batches in flight, a refused first batch (say
    /// NOT_LEADER_OR_FOLLOWER from a leader not ready yet) would let a later batch in, and the retried first batch
    /// could then only land behind it. So a partition keeps a single batch in flight until its first ack
    /// (issue 15): the cost is one round trip per partition and epoch.
    pub last_acked: Option<i32>,
}

impl PartitionSequences {
    /// True when the broker already acknowledged, in this epoch, a sequence after `seq` on this partition.
    pub(crate) fn acked_after(&self, seq: i32) -> bool {
        self.last_acked.is_some_and(|acked| seq_after(acked, seq))
    }
}

/// True when sequence `a` comes after `b` in Kafka's wrapping sequence space (`0..=i32::MAX`).
pub(super) fn seq_after(a: i32, b: i32) -> bool {
    let diff = (a as i64 - b as i64).rem_euclid(i32::MAX as i64 + 1);
    diff != 0 && diff < (1 << 30)
}

/// The sequence of the last record of `batch` (sequences wrap at `i32::MAX`).
fn last_seq(base: i32, records: usize) -> i32 {
    ((base as i64 + records.max(1) as i64 - 1) % (i32::MAX as i64 + 1)) as i32
}

/// The sequence after a batch of `records` starting at `base` (sequences wrap at `i32::MAX`, as Java's
/// `DefaultRecordBatch.incrementSequence`).
pub(super) fn next_seq(base: i32, records: usize) -> i32 {
    ((base as i64 + records as i64) % (i32::MAX as i64 + 1)) as i32
}

/// The idempotence state of one producer.
#[derive(Debug)]
pub(crate) struct Idempotence {
    pub producer_id: i64,
    pub epoch: i16,
    pub partitions: HashMap<TopicPartition, PartitionSequences>,
    /// Set when a sequence gap cannot be resolved: stop draining, wait for in-flight requests, bump the epoch.
    pub bump_needed: bool,
    /// An InitProducerId request is in flight.
    pub init_in_flight: bool,
    /// Transactional bit for stamped batches.
    pub transactional: bool,
}

impl Default for Idempotence {
    fn default() -> Self {
        Idempotence {
            producer_id: -1,
            epoch: -1,
            partitions: HashMap::new(),
            bump_needed: false,
            init_in_flight: false,
            transactional: false,
        }
    }
}

impl Idempotence {
    /// True when batches may be stamped and sent.
    pub(crate) fn is_ready(&self) -> bool {
        self.producer_id >= 0 && !self.bump_needed && !self.init_in_flight
    }

    /// Installs a new producer id/epoch (first init or bump): every partition's sequence restarts at 0.
    pub(crate) fn reset(&mut self, producer_id: i64, epoch: i16) {
        self.producer_id = producer_id;
        self.epoch = epoch;
        self.partitions.clear();
        self.bump_needed = false;
    }

    /// True when the batch carries the current producer id and epoch.
    pub(crate) fn is_current(&self, batch: &ProducerBatch) -> bool {
        matches!(batch.stamped, Some((pid, e, _)) if pid == self.producer_id && e == self.epoch)
    }

    /// True when no batch of this partition with a lower sequence is in flight or waiting to be retried — i.e.
    /// the batch is first in line, so an OUT_OF_ORDER_SEQUENCE_NUMBER for it cannot be explained by an earlier batch.
    pub(crate) fn is_first_in_line(&self, batch: &ProducerBatch) -> bool {
        let Some((_, _, seq)) = batch.stamped else { return true };
        let Some(p) = self.partitions.get(&batch.tp) else { return true };
        p.in_flight.range(..seq).next().is_none() && p.retrying.range(..seq).next().is_none()
    }

    /// True when the broker already acknowledged, in this epoch, a batch of the partition that comes *after*
    /// `batch`: `batch` can no longer land in send order. Only a broker that lost this producer's state (or never
    /// had it) accepts that; the sender then fails `batch` instead of re-sending it behind later records.
    pub(crate) fn overtaken(&self, batch: &ProducerBatch) -> bool {
        let Some((_, _, seq)) = batch.stamped else { return false };
        if !self.is_current(batch) {
            return false;
        }
        self.partitions.get(&batch.tp).is_some_and(|p| p.acked_after(seq))
    }

    /// True when a batch of the partition with a higher sequence than `batch` is in flight: its answer will tell
    /// whether `batch` was overtaken, so an OUT_OF_ORDER_SEQUENCE_NUMBER for `batch` is not acted on yet.
    pub(crate) fn later_in_flight(&self, batch: &ProducerBatch) -> bool {
        let Some((_, _, seq)) = batch.stamped else { return false };
        self.is_current(batch)
            && self.partitions.get(&batch.tp).is_some_and(|p| p.in_flight.iter().any(|s| seq_after(*s, seq)))
    }

    /// The broker acknowledged `batch` (appended, or a duplicate of what it holds).
    pub(crate) fn on_acked(&mut self, batch: &ProducerBatch) {
        if let (true, Some((_, _, seq))) = (self.is_current(batch), batch.stamped)
            && let Some(p) = self.partitions.get_mut(&batch.tp)
        {
            let last = last_seq(seq, batch.record_count());
            if p.last_acked.is_none_or(|a| seq_after(last, a)) {
                p.last_acked = Some(last);
            }
        }
    }

    /// A response (or a failure) for this batch arrived: it is no longer in flight.
    pub(crate) fn on_response(&mut self, batch: &ProducerBatch) {
        if let (true, Some((_, _, seq))) = (self.is_current(batch), batch.stamped)
            && let Some(p) = self.partitions.get_mut(&batch.tp)
        {
            p.in_flight.remove(&seq);
        }
    }

    /// The batch goes back to the queue for a retry.
    pub(crate) fn on_retry(&mut self, batch: &ProducerBatch) {
        if let (true, Some((_, _, seq))) = (self.is_current(batch), batch.stamped) {
            self.partitions.entry(batch.tp.clone()).or_default().retrying.insert(seq);
        }
    }
}

impl DrainGate for Idempotence {
    fn can_drain(&mut self, tp: &TopicPartition, first: &ProducerBatch) -> bool {
        if !self.is_ready() {
            return false;
        }
        let Some(p) = self.partitions.get(tp) else { return true };
        // A retried batch goes alone: wait until nothing else of its partition is in flight, so the broker
        // sees the sequences in order again.
        if first.in_retry {
            return p.in_flight.is_empty();
        }
        // No ack yet in this epoch: the broker may accept any sequence, so one batch at a time (see `last_acked`).
        p.last_acked.is_some() || p.in_flight.is_empty()
    }

    fn on_drained(&mut self, batch: &mut ProducerBatch) {
        let current = self.is_current(batch);
        let p = self.partitions.entry(batch.tp.clone()).or_default();
        let seq = if current {
            batch.stamped.map(|s| s.2).unwrap_or(0)
        } else {
            let seq = p.next_sequence;
            p.next_sequence = next_seq(seq, batch.record_count());
            seq
        };
        p.retrying.remove(&seq);
        p.in_flight.insert(seq);
        if !current {
            batch.stamp(self.producer_id, self.epoch, seq, self.transactional);
        }
    }
}
