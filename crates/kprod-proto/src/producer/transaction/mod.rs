//! The transaction manager: Java's `TransactionManager` for a producer with a `transactional.id`, as a sans-IO
//! state machine. The client's calls (`init_transactions`, `begin_transaction`, `send_offsets_to_transaction`,
//! `commit_transaction`, `abort_transaction`) change its state and queue transactional requests; the sender asks
//! it for the next request to send ([`TransactionManager::next_request`]), feeds it each outcome
//! ([`TransactionManager::on_response`]) and asks it which partitions may drain. Time is passed in; nothing here
//! sleeps, locks or touches a socket.
//!
//! ```text
//!  Uninitialized ─init─► Initializing ─InitProducerId ok─► Ready ─begin─► InTransaction ─commit─► Committing ─┐
//!                              ▲                             ▲                 │  └─abort─► Aborting ──EndTxn─┤
//!                              └── epoch bump after abort ───┴──── EndTxn ok ──┼──────────────────────────────┘
//!                                                                  error ─► AbortableError ─abort─► Aborting
//!                                             any state ─► FatalError (fenced, unauthorized, ...): every call fails
//! ```
//!
//! Requests go one at a time, in priority order: FindCoordinator < InitProducerId < AddPartitionsToTxn /
//! AddOffsetsToTxn / TxnOffsetCommit < EndTxn; EndTxn waits until no batch is incomplete (commit flushes first).
//! Under transaction protocol v2 (KIP-890) partitions join the transaction implicitly with Produce v12, offsets go
//! straight to TxnOffsetCommit, and EndTxn returns the bumped epoch that the producer adopts.
//!
//! # References
//! - Apache Kafka `clients/.../producer/internals/TransactionManager.java` (states, transitions, error classes)
//! - KIP-98 (transactions), KIP-360 / KIP-588 (epoch bumps, abortable errors), KIP-890 (transaction protocol v2)

mod handlers;
#[cfg(test)]
mod tests;
mod types;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::producer::error::{ProducerError, TxnErrorKind};
use crate::producer::record::TopicPartition;
use crate::protocol::error::ErrorCode;

pub use handlers::TxnOutcome;
pub use types::*;

/// A queued request with its caller's result and retry state (Java's `TxnRequestHandler`).
#[derive(Debug)]
struct Handler {
    seq: u64,
    /// What to send; producer id/epoch are filled in at send time.
    op: Op,
    result: Option<Arc<TxnResult>>,
    attempts: u32,
    not_before: Option<Instant>,
}

/// A request before the producer id/epoch are filled in.
#[derive(Debug, Clone)]
enum Op {
    FindCoordinator(CoordinatorType),
    InitProducerId { bump: bool },
    AddPartitions(Vec<TopicPartition>),
    AddOffsets { group: ConsumerGroupMetadata, offsets: Vec<(TopicPartition, OffsetAndMetadata)> },
    TxnOffsetCommit { group: ConsumerGroupMetadata, offsets: Vec<(TopicPartition, OffsetAndMetadata)> },
    EndTxn { commit: bool },
}

/// The transaction manager of one producer.
#[derive(Debug)]
pub struct TransactionManager {
    transactional_id: Arc<str>,
    settings: TxnSettings,
    state: TxnState,
    /// Mirror of `state` for the send path, which reads it without taking the manager's lock.
    state_mirror: Arc<AtomicU8>,
    last_error: Option<ProducerError>,
    producer_id: i64,
    epoch: i16,
    /// Transaction protocol v2 (KIP-890), decided by the sender from the coordinator's ApiVersions.
    v2: bool,
    v2_available: bool,
    /// InitProducerId v3+: the coordinator can bump the epoch of a live producer id (KIP-360).
    can_bump_epoch: bool,
    coordinators: [Option<i32>; 2],
    /// The group whose coordinator `coordinators[Group]` is.
    group_id: Option<String>,
    /// Partitions written in this transaction but not yet sent in an AddPartitionsToTxn.
    new_partitions: BTreeSet<TopicPartition>,
    /// Partitions in an AddPartitionsToTxn in flight.
    pending_partitions: BTreeSet<TopicPartition>,
    /// Partitions the coordinator has added: their batches may drain.
    partitions: HashSet<TopicPartition>,
    /// Something was added to the transaction (partitions or offsets): EndTxn is needed.
    transaction_started: bool,
    epoch_bump_required: bool,
    /// The coordinator does not know our producer id (INVALID_PRODUCER_ID_MAPPING): abort by re-initializing.
    invalid_mapping: bool,
    queue: Vec<Handler>,
    in_flight: Option<Handler>,
    next_seq: u64,
    pending: Option<(TxnOperation, Arc<TxnResult>)>,
}

impl TransactionManager {
    /// A manager in `Uninitialized` for `transactional_id`.
    pub fn new(transactional_id: &str, settings: TxnSettings) -> Self {
        TransactionManager {
            transactional_id: Arc::from(transactional_id),
            settings,
            state: TxnState::Uninitialized,
            state_mirror: Arc::new(AtomicU8::new(TxnState::Uninitialized as u8)),
            last_error: None,
            producer_id: -1,
            epoch: -1,
            v2: false,
            v2_available: false,
            can_bump_epoch: true,
            coordinators: [None, None],
            group_id: None,
            new_partitions: BTreeSet::new(),
            pending_partitions: BTreeSet::new(),
            partitions: HashSet::new(),
            transaction_started: false,
            epoch_bump_required: false,
            invalid_mapping: false,
            queue: Vec::new(),
            in_flight: None,
            next_seq: 0,
            pending: None,
        }
    }

    // ------------------------------------------------------------------ queries

    /// The current state.
    pub fn state(&self) -> TxnState {
        self.state
    }
    /// The `transactional.id`.
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }
    /// A handle to read the state without the manager's lock (the send path's fast check).
    pub fn state_mirror(&self) -> Arc<AtomicU8> {
        self.state_mirror.clone()
    }
    /// Reads a mirror returned by [`state_mirror`](Self::state_mirror).
    pub fn mirrored_state(mirror: &AtomicU8) -> TxnState {
        TxnState::from_u8(mirror.load(Ordering::Acquire))
    }
    /// The producer id and epoch (-1, -1 before InitProducerId).
    pub fn producer_id_and_epoch(&self) -> (i64, i16) {
        (self.producer_id, self.epoch)
    }
    /// True when the broker runs transactions v2 (KIP-890: the epoch is bumped by every EndTxn).
    pub fn is_v2(&self) -> bool {
        self.v2
    }
    /// The error that moved the manager to an error state, if any.
    pub fn last_error(&self) -> Option<&ProducerError> {
        self.last_error.as_ref()
    }
    /// True while a transactional request is sent and not yet answered.
    pub fn has_in_flight_request(&self) -> bool {
        self.in_flight.is_some()
    }
    /// Commit or abort under way: the sender makes every batch sendable now (Java's `beginFlush` on completing).
    pub fn is_completing(&self) -> bool {
        matches!(self.state, TxnState::CommittingTransaction | TxnState::AbortingTransaction)
    }
    /// Batches not yet drained must be dropped (Java's `abortUndrainedBatches`): aborting, or an abortable error.
    pub fn should_abort_undrained(&self) -> bool {
        matches!(self.state, TxnState::AbortingTransaction | TxnState::AbortableError)
    }
    /// The error undrained batches fail with when the transaction is being aborted.
    pub fn abort_error(&self) -> ProducerError {
        match &self.last_error {
            Some(e) => e.clone(),
            None => self.error(TxnErrorKind::Aborted, "the record's batch was not sent before abort_transaction"),
        }
    }
    /// Java's `isSendToPartitionAllowed`: may a batch of `tp` drain? A partition not yet in the transaction is
    /// queued for an AddPartitionsToTxn (in case the send path did not do it).
    pub fn is_send_to_partition_allowed(&mut self, tp: &TopicPartition) -> bool {
        if self.state == TxnState::FatalError {
            return false;
        }
        if self.partitions.contains(tp) {
            return true;
        }
        if self.in_transaction_or_completing() && !self.pending_partitions.contains(tp) {
            self.add_partition(tp);
            return self.partitions.contains(tp);
        }
        false
    }
    /// Partitions added to the current transaction (for tests and logs).
    pub fn partitions_in_transaction(&self) -> Vec<TopicPartition> {
        let mut v: Vec<_> = self.partitions.iter().cloned().collect();
        v.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        v
    }

    fn in_transaction_or_completing(&self) -> bool {
        matches!(self.state, TxnState::InTransaction | TxnState::CommittingTransaction | TxnState::AbortingTransaction)
    }

    /// An error of this producer, naming its transactional.id.
    pub fn error(&self, kind: TxnErrorKind, reason: impl Into<Arc<str>>) -> ProducerError {
        ProducerError::Transaction { transactional_id: self.transactional_id.clone(), kind, reason: reason.into() }
    }

    // ------------------------------------------------------------------ settings from the sender

    /// What the brokers offer: v2 when `transaction.version >= 2`, Produce v12 and EndTxn v5. Adopted at once
    /// between transactions, else when the next one begins (a transaction never changes protocol midway).
    pub fn set_protocol_v2(&mut self, v2: bool) {
        if self.v2_available != v2 {
            tracing::debug!(transactional_id = %self.transactional_id, v2, "transaction protocol version");
        }
        self.v2_available = v2;
        if !self.in_transaction_or_completing() && self.state != TxnState::AbortableError {
            self.v2 = v2;
        }
    }
    /// True once an epoch bump is planned (the sender then stops asking for one).
    pub fn epoch_bump_required(&self) -> bool {
        self.epoch_bump_required
    }
    /// InitProducerId v3+ lets the coordinator bump a live producer's epoch.
    pub fn set_can_bump_epoch(&mut self, yes: bool) {
        self.can_bump_epoch = yes;
    }

    // ------------------------------------------------------------------ client calls

    /// Java's `failIfNotReadyForSend`: a send needs an open transaction.
    pub fn fail_if_not_ready_for_send(&self) -> Result<(), ProducerError> {
        check_send(self.state, || self.clone_error_for_send())
    }

    fn clone_error_for_send(&self) -> ProducerError {
        match (&self.last_error, self.state) {
            (Some(e), TxnState::FatalError | TxnState::AbortableError) => e.clone(),
            _ if self.producer_id < 0 && self.state != TxnState::FatalError => self.error(
                TxnErrorKind::InvalidState,
                "cannot send before init_transactions has completed (Java: 'Cannot perform a send before \
                 completing a call to initTransactions')",
            ),
            _ => self.error(
                TxnErrorKind::InvalidState,
                format!("cannot send in state {}: call begin_transaction first", self.state),
            ),
        }
    }

    /// Java's `maybeAddPartition`: the first record of `tp` in this transaction queues it for the coordinator
    /// (v1) or adds it at once (v2, where Produce v12 adds it implicitly).
    pub fn maybe_add_partition(&mut self, tp: &TopicPartition) {
        if self.partitions.contains(tp) || self.pending_partitions.contains(tp) || self.new_partitions.contains(tp) {
            return;
        }
        if self.in_transaction_or_completing() {
            self.add_partition(tp);
        }
    }

    fn add_partition(&mut self, tp: &TopicPartition) {
        if self.v2 {
            self.partitions.insert(tp.clone());
            self.transaction_started = true;
        } else {
            self.new_partitions.insert(tp.clone());
        }
    }

    /// `init_transactions`: queue InitProducerId. A call retried after a timeout gets the same result.
    pub fn initialize(&mut self) -> Result<Arc<TxnResult>, ProducerError> {
        if let Some(r) = self.resume(TxnOperation::InitTransactions)? {
            return Ok(r);
        }
        self.fail_if_fatal()?;
        if self.state != TxnState::Uninitialized {
            return Err(self.error(
                TxnErrorKind::InvalidState,
                format!("init_transactions was already called (state {})", self.state),
            ));
        }
        self.transition(TxnState::Initializing, None)?;
        let result = Arc::new(TxnResult::default());
        self.enqueue(Op::InitProducerId { bump: false }, Some(result.clone()));
        self.pending = Some((TxnOperation::InitTransactions, result.clone()));
        Ok(result)
    }

    /// `begin_transaction`: synchronous, as in Java.
    pub fn begin(&mut self) -> Result<(), ProducerError> {
        self.throw_if_pending("begin_transaction")?;
        self.maybe_fail_with_error()?;
        if self.state != TxnState::Ready {
            let why = match self.state {
                TxnState::Uninitialized | TxnState::Initializing => "call init_transactions first".to_string(),
                TxnState::InTransaction => "a transaction is already in progress".to_string(),
                s => format!("state {s}"),
            };
            return Err(self.error(TxnErrorKind::InvalidState, format!("cannot begin a transaction: {why}")));
        }
        self.v2 = self.v2_available;
        self.transition(TxnState::InTransaction, None)
    }

    /// `send_offsets_to_transaction`: AddOffsetsToTxn then TxnOffsetCommit (v1), or TxnOffsetCommit alone (v2).
    pub fn send_offsets(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        group: ConsumerGroupMetadata,
    ) -> Result<Arc<TxnResult>, ProducerError> {
        self.throw_if_pending("send_offsets_to_transaction")?;
        self.maybe_fail_with_error()?;
        if self.state != TxnState::InTransaction {
            return Err(self.error(
                TxnErrorKind::InvalidState,
                format!("cannot send offsets when no transaction is in progress (state {})", self.state),
            ));
        }
        if group.group_id.is_empty() {
            return Err(self.error(TxnErrorKind::InvalidState, "send_offsets_to_transaction needs a group_id"));
        }
        // Not a pending transition (Java does not cache this call's result): commit may follow a timed-out call.
        let result = Arc::new(TxnResult::default());
        if self.v2 {
            self.transaction_started = true;
            self.set_group(&group.group_id);
            self.enqueue(Op::TxnOffsetCommit { group, offsets }, Some(result.clone()));
        } else {
            self.enqueue(Op::AddOffsets { group, offsets }, Some(result.clone()));
        }
        Ok(result)
    }

    /// `commit_transaction`: the sender flushes, then sends EndTxn(commit) once no batch is incomplete.
    pub fn begin_commit(&mut self) -> Result<Arc<TxnResult>, ProducerError> {
        if let Some(r) = self.resume(TxnOperation::Commit)? {
            return Ok(r);
        }
        self.maybe_fail_with_error()?;
        if self.state != TxnState::InTransaction {
            return Err(self.error(
                TxnErrorKind::InvalidState,
                format!("cannot commit: no transaction is in progress (state {}); call begin_transaction", self.state),
            ));
        }
        self.transition(TxnState::CommittingTransaction, None)?;
        let result = self.begin_completing(true);
        self.pending = Some((TxnOperation::Commit, result.clone()));
        Ok(result)
    }

    /// `abort_transaction`: allowed after an abortable error; undrained batches fail, in-flight ones are awaited,
    /// then EndTxn(abort) (and an epoch bump when an error requires one).
    pub fn begin_abort(&mut self) -> Result<Arc<TxnResult>, ProducerError> {
        if let Some(r) = self.resume(TxnOperation::Abort)? {
            return Ok(r);
        }
        self.fail_if_fatal()?;
        if !matches!(self.state, TxnState::InTransaction | TxnState::AbortableError) {
            return Err(self.error(
                TxnErrorKind::InvalidState,
                format!("cannot abort: no transaction is in progress (state {})", self.state),
            ));
        }
        self.transition(TxnState::AbortingTransaction, None)?;
        self.new_partitions.clear();
        let result = self.begin_completing(false);
        self.pending = Some((TxnOperation::Abort, result.clone()));
        Ok(result)
    }

    /// The caller saw the outcome of `op`: a later call starts afresh.
    pub fn ack(&mut self, op: TxnOperation) {
        if self.pending.as_ref().is_some_and(|(o, r)| *o == op && r.get().is_some()) {
            self.pending = None;
        }
    }

    fn begin_completing(&mut self, commit: bool) -> Arc<TxnResult> {
        let result = Arc::new(TxnResult::default());
        if !self.new_partitions.is_empty() {
            self.enqueue_add_partitions();
        }
        if self.invalid_mapping && !commit {
            // The coordinator forgot this producer id: EndTxn would fail, get a new one directly.
            self.transition(TxnState::Initializing, None).ok();
            self.enqueue(Op::InitProducerId { bump: false }, Some(result.clone()));
        } else {
            self.enqueue(Op::EndTxn { commit }, Some(result.clone()));
        }
        result
    }

    /// A call of the same operation after a timeout resumes the pending result; another one is refused.
    fn resume(&mut self, op: TxnOperation) -> Result<Option<Arc<TxnResult>>, ProducerError> {
        match &self.pending {
            Some((o, r)) if *o == op => Ok(Some(r.clone())),
            Some(_) => {
                self.throw_if_pending(op.name())?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    fn throw_if_pending(&self, operation: &str) -> Result<(), ProducerError> {
        match &self.pending {
            Some((o, r)) if r.get().is_none() => Err(self.error(
                TxnErrorKind::InvalidState,
                format!("cannot call {operation}: the previous call to {} timed out and must be retried", o.name()),
            )),
            _ => Ok(()),
        }
    }

    fn fail_if_fatal(&self) -> Result<(), ProducerError> {
        if self.state == TxnState::FatalError {
            return Err(self.last_error.clone().unwrap_or_else(|| self.error(TxnErrorKind::Fatal, "fatal error")));
        }
        Ok(())
    }

    /// Java's `maybeFailWithError`: fatal and abortable errors refuse begin/commit/send_offsets.
    fn maybe_fail_with_error(&self) -> Result<(), ProducerError> {
        self.fail_if_fatal()?;
        if self.state == TxnState::AbortableError {
            let cause = self.last_error.as_ref().map(ToString::to_string).unwrap_or_default();
            return Err(self.error(
                TxnErrorKind::Abortable,
                format!("the transaction must be aborted (abort_transaction) after an earlier error: {cause}"),
            ));
        }
        Ok(())
    }

    // ------------------------------------------------------------------ transitions and errors

    fn transition(&mut self, target: TxnState, error: Option<ProducerError>) -> Result<(), ProducerError> {
        if !self.state.can_transition_to(target) {
            return Err(self.error(
                TxnErrorKind::InvalidState,
                format!("invalid transition attempted from state {} to state {target}", self.state),
            ));
        }
        if error.is_some() {
            self.last_error = error;
        } else if target != TxnState::AbortingTransaction {
            self.last_error = None;
        }
        tracing::debug!(transactional_id = %self.transactional_id, from = %self.state, to = %target, "transition");
        self.state = target;
        self.state_mirror.store(target as u8, Ordering::Release);
        Ok(())
    }

    /// Every later call fails with `err`; every queued request's caller is told now so nothing waits.
    pub fn fatal(&mut self, err: ProducerError) {
        if self.state == TxnState::FatalError {
            return;
        }
        tracing::warn!(transactional_id = %self.transactional_id, error = %err, "fatal transaction error");
        let _ = self.transition(TxnState::FatalError, Some(err.clone()));
        for h in self.queue.drain(..) {
            if let Some(r) = h.result {
                r.complete(Err(err.clone()));
            }
        }
        if let Some((_, r)) = &self.pending {
            r.complete(Err(err));
        }
    }

    /// The transaction can no longer commit; `abort_transaction` recovers. Ignored while aborting (Java).
    pub fn abortable(&mut self, err: ProducerError) {
        if matches!(self.state, TxnState::AbortingTransaction | TxnState::FatalError) {
            tracing::debug!(transactional_id = %self.transactional_id, error = %err, "error while aborting");
            return;
        }
        if self.transition(TxnState::AbortableError, Some(err.clone())).is_err() {
            self.fatal(err);
        }
    }

    fn force_abortable(&mut self, err: ProducerError, bump: bool) {
        self.epoch_bump_required |= bump;
        self.pending = None;
        self.last_error = Some(err);
        self.state = TxnState::AbortableError;
        self.state_mirror.store(TxnState::AbortableError as u8, Ordering::Release);
    }

    /// Java's `abortableErrorIfPossible`: recoverable with an epoch bump if the coordinator can do one.
    fn abortable_with_bump(&mut self, err: ProducerError) {
        if self.can_bump_epoch {
            self.epoch_bump_required = true;
            self.abortable(err);
        } else {
            self.fatal(err);
        }
    }

    /// A produce batch of this transaction failed (not by our own abort): Java's `handleFailedBatch`.
    pub fn on_batch_failed(&mut self, err: &ProducerError) {
        if matches!(err, ProducerError::Transaction { kind: TxnErrorKind::Aborted, .. }) {
            return;
        }
        let code = match err {
            ProducerError::Broker { code, .. } => Some(*code),
            _ => None,
        };
        match code {
            Some(ErrorCode::ProducerFenced) => {
                self.fatal(self.error(TxnErrorKind::Fenced, format!("a produce request failed: {err}")))
            }
            Some(
                ErrorCode::TransactionalIdAuthorizationFailed
                | ErrorCode::ClusterAuthorizationFailed
                | ErrorCode::UnsupportedVersion,
            ) => self.fatal(self.error(TxnErrorKind::Fatal, format!("a produce request failed: {err}"))),
            _ => {
                if matches!(err, ProducerError::DeliveryTimeout { .. }) || code == Some(ErrorCode::UnknownProducerId) {
                    // The broker may hold part of the batch: sequences are unknown, bump the epoch (KIP-360).
                    self.epoch_bump_required = true;
                }
                self.abortable(self.error(TxnErrorKind::Abortable, format!("a record failed: {err}")))
            }
        }
    }

    /// The idempotent sequences cannot be repaired (OUT_OF_ORDER_SEQUENCE_NUMBER...): a transactional producer
    /// bumps its epoch through the coordinator after the abort.
    pub fn request_epoch_bump(&mut self, why: &str) {
        self.epoch_bump_required = true;
        if !self.should_abort_undrained() {
            self.abortable(self.error(TxnErrorKind::Abortable, format!("epoch bump required: {why}")));
        }
    }

    /// Ends the transaction after EndTxn or after an abort that needed no request (Java's `completeTransaction`).
    fn complete_transaction(&mut self) {
        if self.epoch_bump_required && self.state == TxnState::AbortingTransaction && !self.v2 {
            // KIP-360: recover with a bumped epoch before the next transaction; the abort's caller waits for it.
            let result = self.pending.as_ref().map(|(_, r)| r.clone());
            let _ = self.transition(TxnState::Initializing, None);
            self.enqueue(Op::InitProducerId { bump: true }, result);
        } else {
            let _ = self.transition(TxnState::Ready, None);
            self.epoch_bump_required = false;
            if let Some((_, r)) = &self.pending {
                r.complete(Ok(()));
            }
        }
        self.transaction_started = false;
        self.invalid_mapping = false;
        self.new_partitions.clear();
        self.pending_partitions.clear();
        self.partitions.clear();
    }

    // ------------------------------------------------------------------ the request queue

    fn enqueue(&mut self, op: Op, result: Option<Arc<TxnResult>>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Handler { seq, op, result, attempts: 0, not_before: None });
    }

    fn enqueue_add_partitions(&mut self) {
        let parts: Vec<TopicPartition> = std::mem::take(&mut self.new_partitions).into_iter().collect();
        self.pending_partitions.extend(parts.iter().cloned());
        self.enqueue(Op::AddPartitions(parts), None);
    }

    fn set_group(&mut self, group_id: &str) {
        if self.group_id.as_deref() != Some(group_id) {
            self.coordinators[CoordinatorType::Group.index()] = None;
            self.group_id = Some(group_id.to_string());
        }
    }

    /// Forgets a coordinator and queues a FindCoordinator for it (once).
    pub fn lookup_coordinator(&mut self, c: CoordinatorType) {
        self.coordinators[c.index()] = None;
        let queued =
            self.queue.iter().chain(self.in_flight.as_ref()).any(|h| matches!(h.op, Op::FindCoordinator(k) if k == c));
        if !queued {
            self.enqueue(Op::FindCoordinator(c), None);
        }
    }

    /// The coordinator node of `c`, if known.
    pub fn coordinator(&self, c: CoordinatorType) -> Option<i32> {
        self.coordinators[c.index()]
    }

    /// The next transactional request, or `None` (nothing to send, one in flight, EndTxn waiting for batches, or
    /// a backoff: then `wait` says how long). Java's `nextRequest`.
    pub fn next_request(&mut self, now: Instant, has_incomplete_batches: bool, wait: &mut Duration) -> Option<TxnSend> {
        if self.in_flight.is_some() {
            return None;
        }
        if !self.new_partitions.is_empty() && self.state != TxnState::FatalError {
            self.enqueue_add_partitions();
        }
        loop {
            let idx = self.best_index()?;
            let h = &self.queue[idx];
            if matches!(h.op, Op::EndTxn { .. }) && has_incomplete_batches {
                return None;
            }
            if let Some(at) = h.not_before
                && at > now
            {
                *wait = (*wait).min(at - now);
                return None;
            }
            let h = self.queue.remove(idx);
            if self.terminate_if_error(&h) {
                continue;
            }
            if matches!(h.op, Op::EndTxn { .. }) && !self.transaction_started {
                // Nothing was added to the transaction: no EndTxn to send (Java skips it too).
                if self.state != TxnState::FatalError {
                    self.complete_transaction();
                }
                if let Some(r) = h.result
                    && self.state == TxnState::Ready
                {
                    r.complete(Ok(()));
                }
                continue;
            }
            let coordinator = self.op_coordinator(&h.op);
            let target = match coordinator {
                None => Target::AnyNode,
                Some(c) => match self.coordinators[c.index()] {
                    Some(node) => Target::Node(node),
                    None => {
                        // Back in the queue behind a FindCoordinator (which has the higher priority).
                        self.queue.push(h);
                        self.lookup_coordinator(c);
                        continue;
                    }
                },
            };
            let request = self.build(&h.op);
            let id = h.seq;
            self.in_flight = Some(h);
            return Some(TxnSend { id, target, request });
        }
    }

    /// The sender could not send `id` (no connection yet): it goes back to the queue unchanged.
    pub fn unsend(&mut self, id: u64) {
        if let Some(h) = self.in_flight.take_if(|h| h.seq == id) {
            self.queue.push(h);
        }
    }

    fn best_index(&self) -> Option<usize> {
        self.queue.iter().enumerate().min_by_key(|(_, h)| (op_priority(&h.op), h.seq)).map(|(i, _)| i)
    }

    /// Java's `maybeTerminateRequestWithError`: in an error state only FindCoordinator goes out (and an abort's
    /// requests, which are queued after leaving the error state).
    fn terminate_if_error(&mut self, h: &Handler) -> bool {
        let error_state = matches!(self.state, TxnState::FatalError | TxnState::AbortableError);
        if !error_state || (self.state == TxnState::AbortableError && matches!(h.op, Op::FindCoordinator(_))) {
            return false;
        }
        if let Op::AddPartitions(parts) = &h.op {
            for p in parts {
                self.pending_partitions.remove(p);
            }
        }
        if let Some(r) = &h.result {
            r.complete(Err(self.last_error.clone().unwrap_or_else(|| self.error(TxnErrorKind::Fatal, "error state"))));
        }
        true
    }

    fn op_coordinator(&self, op: &Op) -> Option<CoordinatorType> {
        match op {
            Op::FindCoordinator(_) => None,
            Op::TxnOffsetCommit { .. } => Some(CoordinatorType::Group),
            _ => Some(CoordinatorType::Transaction),
        }
    }

    fn build(&self, op: &Op) -> TxnRequest {
        let (producer_id, epoch) = (self.producer_id, self.epoch);
        match op {
            Op::FindCoordinator(c) => TxnRequest::FindCoordinator {
                coordinator: *c,
                key: match c {
                    CoordinatorType::Transaction => self.transactional_id.to_string(),
                    CoordinatorType::Group => self.group_id.clone().unwrap_or_default(),
                },
            },
            Op::InitProducerId { bump } => TxnRequest::InitProducerId {
                transaction_timeout_ms: self.settings.transaction_timeout.as_millis().min(i32::MAX as u128) as i32,
                producer_id: if *bump { producer_id } else { -1 },
                epoch: if *bump { epoch } else { -1 },
            },
            Op::AddPartitions(parts) => TxnRequest::AddPartitions { producer_id, epoch, partitions: parts.clone() },
            Op::AddOffsets { group, .. } => {
                TxnRequest::AddOffsets { producer_id, epoch, group_id: group.group_id.clone() }
            }
            Op::TxnOffsetCommit { group, offsets } => {
                TxnRequest::TxnOffsetCommit { producer_id, epoch, group: group.clone(), offsets: offsets.clone() }
            }
            Op::EndTxn { commit } => TxnRequest::EndTxn { producer_id, epoch, commit: *commit },
        }
    }

    /// Puts a handler back for a retry after a backoff that grows with its attempts.
    fn retry(&mut self, mut h: Handler, now: Instant) {
        h.attempts += 1;
        let base = self.settings.retry_backoff.as_secs_f64();
        let max = self.settings.retry_backoff_max.as_secs_f64().max(base);
        let backoff = (base * 2f64.powi(h.attempts.saturating_sub(1).min(20) as i32)).min(max);
        h.not_before = Some(now + Duration::from_secs_f64(backoff));
        self.queue.push(h);
    }
}

fn op_priority(op: &Op) -> u8 {
    match op {
        Op::FindCoordinator(_) => 0,
        Op::InitProducerId { .. } => 1,
        Op::AddPartitions(_) | Op::AddOffsets { .. } | Op::TxnOffsetCommit { .. } => 2,
        Op::EndTxn { .. } => 3,
    }
}

/// The send path's check from a mirrored state: only an open transaction accepts records. `slow` builds the
/// error (taking the manager's lock) only when the check fails.
pub fn check_send(state: TxnState, slow: impl FnOnce() -> ProducerError) -> Result<(), ProducerError> {
    if state == TxnState::InTransaction { Ok(()) } else { Err(slow()) }
}

#[cfg(test)]
pub(crate) fn test_settings() -> TxnSettings {
    TxnSettings {
        transaction_timeout: Duration::from_secs(60),
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_millis(1000),
    }
}
