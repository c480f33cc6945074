//! Outcomes of transactional requests and how each error code is handled — the `handleResponse` methods of
//! Java's `TransactionManager` handlers (FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn): success, retry (re-looking up the coordinator when it moved), abortable or fatal.
//!
//! # References
//! - Apache Kafka `clients/.../producer/internals/TransactionManager.java` (the `*Handler` inner classes)

use std::time::Instant;

use super::{CoordinatorType, Handler, Op, TransactionManager, TxnEffect, TxnState};
use crate::producer::error::TxnErrorKind;
use crate::producer::record::TopicPartition;
use crate::protocol::error::ErrorCode;

/// What came back for a transactional request, decoded by the sender into codec-independent form.
#[derive(Debug, Clone, PartialEq)]
pub enum TxnOutcome {
    /// The connection failed or the request timed out before an answer.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// FindCoordinator answered.
    FindCoordinator {
        /// `NONE` when found.
        error: ErrorCode,
        /// The coordinator's node id.
        node_id: i32,
        /// The coordinator's host.
        host: String,
        /// The coordinator's port.
        port: i32,
    },
    /// InitProducerId answered.
    InitProducerId {
        /// `NONE` on success.
        error: ErrorCode,
        /// The producer id.
        producer_id: i64,
        /// Its epoch.
        epoch: i16,
    },
    /// `error` is a top-level error (v4+ answers), else per-partition errors.
    AddPartitions {
        /// Top-level error (v4+), `NONE` otherwise.
        error: ErrorCode,
        /// Error per partition.
        partitions: Vec<(TopicPartition, ErrorCode)>,
    },
    /// AddOffsetsToTxn answered.
    AddOffsets {
        /// `NONE` on success.
        error: ErrorCode,
    },
    /// TxnOffsetCommit answered.
    TxnOffsetCommit {
        /// Error per partition.
        partitions: Vec<(TopicPartition, ErrorCode)>,
    },
    /// `producer_id`/`epoch` are -1 below EndTxn v5.
    EndTxn {
        /// `NONE` on success.
        error: ErrorCode,
        /// The new producer id (v5+).
        producer_id: i64,
        /// The new epoch (v5+).
        epoch: i16,
    },
}

fn is_coordinator_moved(e: ErrorCode) -> bool {
    matches!(e, ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable)
}

fn is_busy(e: ErrorCode) -> bool {
    matches!(e, ErrorCode::CoordinatorLoadInProgress | ErrorCode::ConcurrentTransactions)
}

fn is_fenced(e: ErrorCode) -> bool {
    // An old coordinator may still send INVALID_PRODUCER_EPOCH: treated as PRODUCER_FENCED, as Java does.
    matches!(e, ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch)
}

impl TransactionManager {
    /// Feeds the outcome of request `id` (from [`next_request`](Self::next_request)). Returns what the sender
    /// must do (learn a coordinator address, adopt a producer id and epoch).
    pub fn on_response(&mut self, id: u64, outcome: TxnOutcome, now: Instant) -> Vec<TxnEffect> {
        let Some(h) = self.in_flight.take_if(|h| h.seq == id) else { return Vec::new() };
        let mut effects = Vec::new();
        if let TxnOutcome::Disconnected { reason } = &outcome {
            tracing::debug!(request = ?h.op, %reason, "transactional request lost; retrying");
            if let Some(c) = self.op_coordinator(&h.op) {
                self.lookup_coordinator(c);
            }
            self.retry(h, now);
            return effects;
        }
        match (h.op.clone(), outcome) {
            (Op::FindCoordinator(c), TxnOutcome::FindCoordinator { error, node_id, host, port }) => {
                self.on_find_coordinator(h, c, error, node_id, format!("{host}:{port}"), now, &mut effects)
            }
            (Op::InitProducerId { .. }, TxnOutcome::InitProducerId { error, producer_id, epoch }) => {
                self.on_init_producer_id(h, error, producer_id, epoch, now, &mut effects)
            }
            (Op::AddPartitions(parts), TxnOutcome::AddPartitions { error, partitions }) => {
                self.on_add_partitions(h, parts, error, partitions, now)
            }
            (Op::AddOffsets { group, offsets }, TxnOutcome::AddOffsets { error }) => {
                self.on_add_offsets(h, group, offsets, error, now)
            }
            (Op::TxnOffsetCommit { group, offsets }, TxnOutcome::TxnOffsetCommit { partitions }) => {
                self.on_txn_offset_commit(h, group, offsets, partitions, now)
            }
            (Op::EndTxn { commit }, TxnOutcome::EndTxn { error, producer_id, epoch }) => {
                self.on_end_txn(h, commit, error, producer_id, epoch, now, &mut effects)
            }
            (op, outcome) => {
                let e = self.error(TxnErrorKind::Fatal, format!("mismatched answer {outcome:?} to request {op:?}"));
                self.fail_handler(h, e.clone());
                self.fatal(e);
            }
        }
        effects
    }

    fn fail_handler(&mut self, h: Handler, err: crate::producer::error::ProducerError) {
        if let Some(r) = h.result {
            r.complete(Err(err));
        }
    }

    fn fatal_code(&mut self, h: Handler, api: &str, error: ErrorCode) {
        let kind = if is_fenced(error) { TxnErrorKind::Fenced } else { TxnErrorKind::Fatal };
        let e = self.error(kind, format!("{api} failed with {error}"));
        self.fail_handler(h, e.clone());
        self.fatal(e);
    }

    fn abortable_code(&mut self, h: Handler, api: &str, error: ErrorCode, bump: bool) {
        self.invalid_mapping |= error == ErrorCode::InvalidProducerIdMapping;
        let e = self.error(TxnErrorKind::Abortable, format!("{api} failed with {error}"));
        self.fail_handler(h, e.clone());
        if self.state == TxnState::AbortingTransaction {
            // The abort itself failed: back to the abortable state so that abort_transaction can be called again
            // (Java stays in ABORTING_TRANSACTION here, where a second abort is refused).
            self.force_abortable(e, bump);
            return;
        }
        if bump {
            self.abortable_with_bump(e);
        } else {
            self.abortable(e);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_find_coordinator(
        &mut self,
        h: Handler,
        c: CoordinatorType,
        error: ErrorCode,
        node_id: i32,
        address: String,
        now: Instant,
        effects: &mut Vec<TxnEffect>,
    ) {
        match error {
            ErrorCode::None if node_id >= 0 => {
                self.coordinators[c.index()] = Some(node_id);
                effects.push(TxnEffect::CoordinatorFound { node: node_id, address });
            }
            e if e == ErrorCode::None || e.is_retriable() || is_busy(e) => self.retry(h, now),
            ErrorCode::TransactionalIdAuthorizationFailed => self.fatal_code(h, "FindCoordinator", error),
            ErrorCode::GroupAuthorizationFailed => self.abortable_code(h, "FindCoordinator", error, false),
            _ => self.fatal_code(h, "FindCoordinator", error),
        }
    }

    /// Takes a producer id and epoch from the coordinator (InitProducerId, or a KIP-890 EndTxn bump): the sender
    /// re-stamps and re-sequences under it, and no further bump is owed.
    fn adopt_producer_id(&mut self, producer_id: i64, epoch: i16, effects: &mut Vec<TxnEffect>) {
        self.producer_id = producer_id;
        self.epoch = epoch;
        effects.push(TxnEffect::ProducerIdAndEpoch { producer_id, epoch });
        self.epoch_bump_required = false;
    }

    fn on_init_producer_id(
        &mut self,
        h: Handler,
        error: ErrorCode,
        producer_id: i64,
        epoch: i16,
        now: Instant,
        effects: &mut Vec<TxnEffect>,
    ) {
        match error {
            ErrorCode::None => {
                self.adopt_producer_id(producer_id, epoch, effects);
                let _ = self.transition(TxnState::Ready, None);
                if let Some(r) = h.result {
                    r.complete(Ok(()));
                }
            }
            e if is_coordinator_moved(e) => {
                self.lookup_coordinator(CoordinatorType::Transaction);
                self.retry(h, now);
            }
            e if is_busy(e) || e.is_retriable() => self.retry(h, now),
            ErrorCode::TransactionAbortable => self.abortable_code(h, "InitProducerId", error, false),
            _ => self.fatal_code(h, "InitProducerId", error),
        }
    }

    fn on_add_partitions(
        &mut self,
        h: Handler,
        parts: Vec<TopicPartition>,
        top: ErrorCode,
        results: Vec<(TopicPartition, ErrorCode)>,
        now: Instant,
    ) {
        // The first real error decides, as Java: OPERATION_NOT_ATTEMPTED only means "another partition failed".
        let error = if top != ErrorCode::None {
            top
        } else {
            results
                .iter()
                .map(|(_, e)| *e)
                .find(|e| !matches!(e, ErrorCode::None | ErrorCode::OperationNotAttempted))
                .unwrap_or(ErrorCode::None)
        };
        let unauthorized: Vec<String> = results
            .iter()
            .filter(|(_, e)| *e == ErrorCode::TopicAuthorizationFailed)
            .map(|(tp, _)| tp.topic.to_string())
            .collect();
        match error {
            ErrorCode::None => {
                for p in &parts {
                    self.pending_partitions.remove(p);
                    self.partitions.insert(p.clone());
                }
                self.transaction_started = true;
            }
            e if is_coordinator_moved(e) => {
                self.lookup_coordinator(CoordinatorType::Transaction);
                self.retry(h, now);
            }
            e if is_busy(e) || e == ErrorCode::UnknownTopicOrPartition || e.is_retriable() => self.retry(h, now),
            ErrorCode::TopicAuthorizationFailed => {
                self.forget_pending(&parts);
                let e = self.error(
                    TxnErrorKind::Abortable,
                    format!("AddPartitionsToTxn: not authorized to write to topic(s) {}", unauthorized.join(", ")),
                );
                self.abortable(e);
            }
            ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                self.forget_pending(&parts);
                self.abortable_code(h, "AddPartitionsToTxn", error, true);
            }
            ErrorCode::TransactionAbortable => {
                self.forget_pending(&parts);
                self.abortable_code(h, "AddPartitionsToTxn", error, false);
            }
            _ => {
                self.forget_pending(&parts);
                self.fatal_code(h, "AddPartitionsToTxn", error);
            }
        }
    }

    fn forget_pending(&mut self, parts: &[TopicPartition]) {
        for p in parts {
            self.pending_partitions.remove(p);
        }
    }

    fn on_add_offsets(
        &mut self,
        h: Handler,
        group: crate::producer::transaction::ConsumerGroupMetadata,
        offsets: Vec<(TopicPartition, crate::producer::transaction::OffsetAndMetadata)>,
        error: ErrorCode,
        now: Instant,
    ) {
        match error {
            ErrorCode::None => {
                self.transaction_started = true;
                self.set_group(&group.group_id);
                // The offsets go to the group coordinator next; the caller waits for that.
                self.enqueue(Op::TxnOffsetCommit { group, offsets }, h.result);
            }
            e if is_coordinator_moved(e) => {
                self.lookup_coordinator(CoordinatorType::Transaction);
                self.retry(h, now);
            }
            e if is_busy(e) || e.is_retriable() => self.retry(h, now),
            ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                self.abortable_code(h, "AddOffsetsToTxn", error, true)
            }
            ErrorCode::GroupAuthorizationFailed | ErrorCode::TransactionAbortable => {
                self.abortable_code(h, "AddOffsetsToTxn", error, false)
            }
            _ => self.fatal_code(h, "AddOffsetsToTxn", error),
        }
    }

    fn on_txn_offset_commit(
        &mut self,
        mut h: Handler,
        group: crate::producer::transaction::ConsumerGroupMetadata,
        offsets: Vec<(TopicPartition, crate::producer::transaction::OffsetAndMetadata)>,
        results: Vec<(TopicPartition, ErrorCode)>,
        now: Instant,
    ) {
        let failed: Vec<(TopicPartition, ErrorCode)> =
            results.into_iter().filter(|(_, e)| *e != ErrorCode::None).collect();
        if failed.is_empty() {
            if let Some(r) = h.result {
                r.complete(Ok(()));
            }
            return;
        }
        let mut retry_needed = false;
        for (_, e) in &failed {
            match *e {
                e if is_coordinator_moved(e) || e == ErrorCode::RequestTimedOut => {
                    self.lookup_coordinator(CoordinatorType::Group);
                    retry_needed = true;
                }
                e if is_busy(e) || e == ErrorCode::UnknownTopicOrPartition || e.is_retriable() => retry_needed = true,
                ErrorCode::GroupAuthorizationFailed
                | ErrorCode::FencedInstanceId
                | ErrorCode::UnknownMemberId
                | ErrorCode::IllegalGeneration
                | ErrorCode::TransactionAbortable => {
                    return self.abortable_code(h, "TxnOffsetCommit", *e, false);
                }
                e => return self.fatal_code(h, "TxnOffsetCommit", e),
            }
        }
        if retry_needed {
            // Only the partitions that failed go again.
            let again: Vec<_> = offsets.into_iter().filter(|(tp, _)| failed.iter().any(|(f, _)| f == tp)).collect();
            h.op = Op::TxnOffsetCommit { group, offsets: again };
            self.retry(h, now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_end_txn(
        &mut self,
        h: Handler,
        commit: bool,
        error: ErrorCode,
        producer_id: i64,
        epoch: i16,
        now: Instant,
        effects: &mut Vec<TxnEffect>,
    ) {
        match error {
            ErrorCode::None => {
                if self.v2 && producer_id >= 0 && epoch >= 0 {
                    // KIP-890: every EndTxn bumps the epoch; sequences restart under it.
                    self.adopt_producer_id(producer_id, epoch, effects);
                }
                tracing::debug!(transactional_id = %self.transactional_id, commit, "transaction completed");
                self.complete_transaction();
                if let Some(r) = h.result
                    && self.state == TxnState::Ready
                {
                    r.complete(Ok(()));
                }
            }
            e if is_coordinator_moved(e) => {
                self.lookup_coordinator(CoordinatorType::Transaction);
                self.retry(h, now);
            }
            e if is_busy(e) || e.is_retriable() => self.retry(h, now),
            ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                self.abortable_code(h, "EndTxn", error, true)
            }
            ErrorCode::TransactionAbortable => self.abortable_code(h, "EndTxn", error, false),
            _ => self.fatal_code(h, "EndTxn", error),
        }
    }
}
