//! Idempotent producer state, as Java's `TransactionManager` keeps it for a non-transactional producer: the
//! producer id and epoch, and per partition the next sequence number and the sequences in flight or waiting to be
//! retried. Sans-IO: the sender feeds it outcomes and asks it what may be drained.

use std::collections::{BTreeSet, HashMap};

use crate::producer::accumulator::{DrainGate, ProducerBatch};
use crate::producer::record::TopicPartition;

/// Sequence bookkeeping for one partition.
#[derive(Debug, Default, Clone)]
pub struct PartitionSequences {
    /// Sequence for the next new batch.
    pub next_sequence: i32,
    /// Base sequences of batches in flight.
    pub in_flight: BTreeSet<i32>,
    /// Base sequences of batches put back for a retry and not yet re-sent.
    pub retrying: BTreeSet<i32>,
}

/// The idempotence state of one producer.
#[derive(Debug)]
pub struct Idempotence {
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
    pub fn is_ready(&self) -> bool {
        self.producer_id >= 0 && !self.bump_needed && !self.init_in_flight
    }

    /// Installs a new producer id/epoch (first init or bump): every partition's sequence restarts at 0.
    pub fn reset(&mut self, producer_id: i64, epoch: i16) {
        self.producer_id = producer_id;
        self.epoch = epoch;
        self.partitions.clear();
        self.bump_needed = false;
    }

    /// True when the batch carries the current producer id and epoch.
    pub fn is_current(&self, batch: &ProducerBatch) -> bool {
        matches!(batch.stamped, Some((pid, e, _)) if pid == self.producer_id && e == self.epoch)
    }

    /// True when no batch of this partition with a lower sequence is in flight or waiting to be retried — i.e.
    /// the batch is first in line, so an OUT_OF_ORDER_SEQUENCE_NUMBER for it cannot be explained by an earlier batch.
    pub fn is_first_in_line(&self, batch: &ProducerBatch) -> bool {
        let Some((_, _, seq)) = batch.stamped else { return true };
        let Some(p) = self.partitions.get(&batch.tp) else { return true };
        p.in_flight.range(..seq).next().is_none() && p.retrying.range(..seq).next().is_none()
    }

    /// A response (or a failure) for this batch arrived: it is no longer in flight.
    pub fn on_response(&mut self, batch: &ProducerBatch) {
        if let (true, Some((_, _, seq))) = (self.is_current(batch), batch.stamped)
            && let Some(p) = self.partitions.get_mut(&batch.tp)
        {
            p.in_flight.remove(&seq);
        }
    }

    /// The batch goes back to the queue for a retry.
    pub fn on_retry(&mut self, batch: &ProducerBatch) {
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
        // A retried batch goes alone: wait until nothing else of its partition is in flight, so the broker
        // sees the sequences in order again.
        if first.in_retry
            && let Some(p) = self.partitions.get(tp)
        {
            return p.in_flight.is_empty();
        }
        true
    }

    fn on_drained(&mut self, batch: &mut ProducerBatch) {
        let current = self.is_current(batch);
        let p = self.partitions.entry(batch.tp.clone()).or_default();
        let seq = if current {
            batch.stamped.map(|s| s.2).unwrap_or(0)
        } else {
            let seq = p.next_sequence;
            // Sequences wrap at i32::MAX, as Java's `DefaultRecordBatch.incrementSequence`.
            p.next_sequence = ((p.next_sequence as i64 + batch.record_count() as i64) % (i32::MAX as i64 + 1)) as i32;
            seq
        };
        p.retrying.remove(&seq);
        p.in_flight.insert(seq);
        if !current {
            batch.stamp(self.producer_id, self.epoch, seq, self.transactional);
        }
    }
}
