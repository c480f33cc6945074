//! The sender's side of transactions (Java's `Sender.maybeSendAndPollTransactionalRequest`): each loop it lets
//! the [`TransactionManager`] drop undrained batches of an aborting transaction, make batches sendable at once
//! while completing (commit flushes first), and hands out the next transactional request, which goes to the
//! least-loaded broker (FindCoordinator) or to the coordinator. While one is in flight no produce request is sent,
//! as in Java. Answers are decoded here and fed back to the manager in codec-independent form.
//!
//! # References
//! - Apache Kafka `clients/.../producer/internals/Sender.java` (`maybeSendAndPollTransactionalRequest`)
//! - KIP-890 (transaction protocol v2: Produce v12, EndTxn v5, TxnOffsetCommit v5)

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::conn::{Conn, InFlightKind, InFlightRequest};
use super::timer::Timer;
use super::{SenderCore, decode_body};
use crate::producer::accumulator::{DrainGate, ProducerBatch};
use crate::producer::record::TopicPartition;
use crate::producer::transaction::{Target, TransactionManager, TxnEffect, TxnOutcome, TxnRequest, TxnSend, TxnState};
use crate::protocol::add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use crate::protocol::add_partitions_to_txn::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnTopic,
};
use crate::protocol::end_txn::{EndTxnRequest, EndTxnResponse};
use crate::protocol::find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
use crate::protocol::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::protocol::txn_offset_commit::{
    TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic, TxnOffsetCommitResponse,
};
use crate::protocol::versions::ApiKey;

/// The drain gate of a transactional producer: idempotence, plus "the partition is in the transaction".
pub(super) struct TxnGate<'a> {
    pub idem: &'a mut super::Idempotence,
    pub txn: &'a mut TransactionManager,
}

impl DrainGate for TxnGate<'_> {
    fn can_drain(&mut self, tp: &TopicPartition, first: &ProducerBatch) -> bool {
        self.txn.is_send_to_partition_allowed(tp) && self.idem.can_drain(tp, first)
    }
    fn on_drained(&mut self, batch: &mut ProducerBatch) {
        self.idem.on_drained(batch);
    }
}

impl SenderCore {
    /// Transaction housekeeping and the next transactional request. Returns true while one is in flight (produce
    /// requests then wait, as in Java).
    pub(super) fn maybe_send_transactional(&mut self, now: Instant) -> bool {
        let sh = self.sh.clone();
        let Some(t) = &sh.txn else { return false };
        let mut m = t.lock();
        if m.state() == TxnState::FatalError {
            if let Some(e) = m.last_error().cloned() {
                sh.shutdown.fail(e);
            }
            return false;
        }
        // Idempotent sequences broken: a transactional producer bumps through the coordinator, after an abort.
        if self.idem.as_ref().is_some_and(|i| i.bump_needed && i.producer_id >= 0) && !m.epoch_bump_required() {
            m.request_epoch_bump("a batch failed with its sequence unknown");
        }
        // Closing with an open transaction: abort it (Java's sender does the same on shutdown).
        if sh.acc.is_closing() && matches!(m.state(), TxnState::InTransaction | TxnState::AbortableError) {
            tracing::info!(transactional_id = m.transactional_id(), "aborting the open transaction on close");
            let _ = m.begin_abort();
        }
        if m.should_abort_undrained() && sh.acc.has_queued() {
            let err = m.abort_error();
            drop(m);
            for b in sh.acc.drain_all() {
                self.fail_batch(b, err.clone(), now);
            }
            m = t.lock();
        }
        let completing = m.is_completing();
        if completing != self.txn_flushing {
            // Completing: every batch is sendable now, linger or not (Java's `beginFlush` when completing).
            if completing {
                sh.acc.begin_flush();
            } else {
                sh.acc.end_flush();
            }
            self.txn_flushing = completing;
        }
        if m.has_in_flight_request() {
            return true;
        }
        let mut wait = Duration::MAX;
        let send = m.next_request(now, sh.acc.has_incomplete(), &mut wait);
        if wait < Duration::MAX {
            self.timers.set_earliest(Timer::Txn, now + wait);
        }
        let Some(send) = send else { return false };
        drop(m);
        let node = match send.target {
            Target::AnyNode => self.least_loaded_node(now),
            Target::Node(n) => self.ready_connection(n, now).map(|_| n),
        };
        let Some(node) = node else {
            t.lock().unsend(send.id);
            return false;
        };
        if self.send_txn_request(node, &send, now) {
            true
        } else {
            t.lock().unsend(send.id);
            false
        }
    }

    /// True when the transaction manager has nothing under way (the sender may stop after close).
    pub(super) fn txn_idle(&self) -> bool {
        self.sh.txn.as_ref().is_none_or(|t| {
            let m = t.lock();
            !m.has_in_flight_request() && !m.is_completing()
        })
    }

    /// A new connection tells which transaction protocol the cluster runs (its finalized `transaction.version`).
    pub(super) fn note_connection_features(&mut self, c: &Conn) {
        let Some(t) = &self.sh.txn else { return };
        let v2 = c.transaction_version >= 2
            && c.versions.get(ApiKey::Produce).is_some_and(|v| v >= 12)
            && c.versions.get(ApiKey::EndTxn).is_some_and(|v| v >= 5);
        let mut m = t.lock();
        m.set_protocol_v2(v2);
        m.set_can_bump_epoch(c.versions.get(ApiKey::InitProducerId).is_some_and(|v| v >= 3));
    }

    fn send_txn_request(&mut self, node: i32, send: &TxnSend, now: Instant) -> bool {
        let sh = self.sh.clone();
        let tid = sh.config.transactional_id.clone().unwrap_or_default();
        let v2 = sh.txn.as_ref().is_some_and(|t| t.lock().is_v2());
        let Some(conn) = self.conns.get_mut(&node) else { return false };
        let api = match &send.request {
            TxnRequest::FindCoordinator { .. } => ApiKey::FindCoordinator,
            TxnRequest::InitProducerId { .. } => ApiKey::InitProducerId,
            TxnRequest::AddPartitions { .. } => ApiKey::AddPartitionsToTxn,
            TxnRequest::AddOffsets { .. } => ApiKey::AddOffsetsToTxn,
            TxnRequest::TxnOffsetCommit { .. } => ApiKey::TxnOffsetCommit,
            TxnRequest::EndTxn { .. } => ApiKey::EndTxn,
        };
        let Some(negotiated) = conn.versions.get(api) else {
            let err = sh.txn.as_ref().map(|t| {
                t.lock().error(
                    crate::producer::error::TxnErrorKind::Fatal,
                    format!("broker {} does not support {} (UNSUPPORTED_VERSION)", conn.address, api.name()),
                )
            });
            if let (Some(t), Some(e)) = (&sh.txn, err) {
                let mut m = t.lock();
                m.unsend(send.id);
                m.fatal(e);
                t.done.notify_waiters();
            }
            return true;
        };
        // AddPartitionsToTxn v4+ is broker to broker; EndTxn v5 / TxnOffsetCommit v5 mean transaction protocol v2.
        let version = match api {
            ApiKey::AddPartitionsToTxn => negotiated.min(3),
            ApiKey::EndTxn | ApiKey::TxnOffsetCommit if !v2 => negotiated.min(4),
            _ => negotiated,
        };
        let sent = match &send.request {
            TxnRequest::FindCoordinator { coordinator, key } => {
                let req = FindCoordinatorRequest {
                    key: key.clone(),
                    key_type: coordinator.key_type(),
                    coordinator_keys: vec![key.clone()],
                };
                conn.send(version, &req, 64 + key.len())
            }
            TxnRequest::InitProducerId { transaction_timeout_ms, producer_id, epoch } => {
                let bump = *producer_id >= 0 && version >= 3;
                let req = InitProducerIdRequest {
                    transactional_id: Some(tid.clone()),
                    transaction_timeout_ms: *transaction_timeout_ms,
                    producer_id: if bump { *producer_id } else { -1 },
                    producer_epoch: if bump { *epoch } else { -1 },
                };
                conn.send(version, &req, 64 + tid.len())
            }
            TxnRequest::AddPartitions { producer_id, epoch, partitions } => {
                let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
                for tp in partitions {
                    match topics.iter_mut().find(|t| *t.name == *tp.topic) {
                        Some(t) => t.partitions.push(tp.partition),
                        None => topics.push(AddPartitionsToTxnTopic {
                            name: tp.topic.to_string(),
                            partitions: vec![tp.partition],
                        }),
                    }
                }
                let req = AddPartitionsToTxnRequest {
                    transactions: Vec::new(),
                    transactional_id: tid.clone(),
                    producer_id: *producer_id,
                    producer_epoch: *epoch,
                    topics,
                };
                conn.send(version, &req, 64 + 32 * partitions.len())
            }
            TxnRequest::AddOffsets { producer_id, epoch, group_id } => {
                let req = AddOffsetsToTxnRequest {
                    transactional_id: tid.clone(),
                    producer_id: *producer_id,
                    producer_epoch: *epoch,
                    group_id: group_id.clone(),
                };
                conn.send(version, &req, 64 + group_id.len())
            }
            TxnRequest::TxnOffsetCommit { producer_id, epoch, group, offsets } => {
                let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
                for (tp, o) in offsets {
                    let p = TxnOffsetCommitRequestPartition {
                        partition_index: tp.partition,
                        committed_offset: o.offset,
                        committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                        committed_metadata: Some(o.metadata.clone()),
                    };
                    match topics.iter_mut().find(|t| *t.name == *tp.topic) {
                        Some(t) => t.partitions.push(p),
                        None => {
                            topics.push(TxnOffsetCommitRequestTopic { name: tp.topic.to_string(), partitions: vec![p] })
                        }
                    }
                }
                let req = TxnOffsetCommitRequest {
                    transactional_id: tid.clone(),
                    group_id: group.group_id.clone(),
                    producer_id: *producer_id,
                    producer_epoch: *epoch,
                    generation_id: group.generation_id,
                    member_id: group.member_id.clone(),
                    group_instance_id: group.group_instance_id.clone(),
                    topics,
                };
                conn.send(version, &req, 128 + 48 * offsets.len())
            }
            TxnRequest::EndTxn { producer_id, epoch, commit } => {
                let req = EndTxnRequest {
                    transactional_id: tid.clone(),
                    producer_id: *producer_id,
                    producer_epoch: *epoch,
                    committed: *commit,
                };
                conn.send(version, &req, 64 + tid.len())
            }
        };
        match sent {
            Ok((correlation_id, _)) => {
                tracing::debug!(node, request = send.request.name(), version, "transactional request sent");
                conn.in_flight.push_back(InFlightRequest {
                    correlation_id,
                    api_key: api,
                    version,
                    sent: now,
                    kind: InFlightKind::Txn { id: send.id },
                });
                sh.metrics.requests_in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.on_connection_lost(node, format!("encoding {}: {e}", api.name()), now);
                false
            }
        }
    }

    /// Decodes the answer to transactional request `id` and feeds it to the manager.
    pub(super) fn handle_txn_response(&mut self, id: u64, api: ApiKey, version: i16, frame: Bytes, now: Instant) {
        let outcome = match decode_outcome(api, version, frame) {
            Ok(o) => o,
            Err(reason) => {
                tracing::warn!(%reason, "undecodable transactional response");
                TxnOutcome::Disconnected { reason }
            }
        };
        self.txn_outcome(id, outcome, now);
    }

    /// A transactional request's connection failed before its answer.
    pub(super) fn txn_request_lost(&mut self, id: u64, reason: &str, now: Instant) {
        self.txn_outcome(id, TxnOutcome::Disconnected { reason: reason.to_string() }, now);
    }

    fn txn_outcome(&mut self, id: u64, outcome: TxnOutcome, now: Instant) {
        let sh = self.sh.clone();
        let Some(t) = &sh.txn else { return };
        let effects = t.lock().on_response(id, outcome, now);
        for fx in effects {
            match fx {
                TxnEffect::CoordinatorFound { node, address } => {
                    self.coordinator_addresses.insert(node, address);
                }
                TxnEffect::ProducerIdAndEpoch { producer_id, epoch } => {
                    tracing::debug!(producer_id, epoch, "transactional producer id and epoch");
                    self.adopt_producer_id(producer_id, epoch, now);
                }
            }
        }
        t.done.notify_waiters();
        sh.wakeup.notify_one();
    }
}

fn decode<T: crate::protocol::Decode + crate::protocol::ApiMessage>(
    frame: Bytes,
    _api: ApiKey,
    version: i16,
) -> Result<T, String> {
    decode_body(frame, version)
}

/// The answer in the manager's terms.
fn decode_outcome(api: ApiKey, version: i16, frame: Bytes) -> Result<TxnOutcome, String> {
    Ok(match api {
        ApiKey::FindCoordinator => {
            let r: FindCoordinatorResponse = decode(frame, api, version)?;
            match r.coordinators.first() {
                Some(c) if version >= 4 => TxnOutcome::FindCoordinator {
                    error: c.error_code,
                    node_id: c.node_id,
                    host: c.host.clone(),
                    port: c.port,
                },
                None if version >= 4 => return Err("FindCoordinator answer without a coordinator".into()),
                _ => {
                    TxnOutcome::FindCoordinator { error: r.error_code, node_id: r.node_id, host: r.host, port: r.port }
                }
            }
        }
        ApiKey::InitProducerId => {
            let r: InitProducerIdResponse = decode(frame, api, version)?;
            TxnOutcome::InitProducerId { error: r.error_code, producer_id: r.producer_id, epoch: r.producer_epoch }
        }
        ApiKey::AddPartitionsToTxn => {
            let r: AddPartitionsToTxnResponse = decode(frame, api, version)?;
            let partitions = r
                .results_by_topic
                .iter()
                .flat_map(|t| {
                    t.results_by_partition
                        .iter()
                        .map(|p| (TopicPartition::new(t.name.as_str(), p.partition_index), p.partition_error_code))
                })
                .collect();
            TxnOutcome::AddPartitions { error: r.error_code, partitions }
        }
        ApiKey::AddOffsetsToTxn => {
            let r: AddOffsetsToTxnResponse = decode(frame, api, version)?;
            TxnOutcome::AddOffsets { error: r.error_code }
        }
        ApiKey::TxnOffsetCommit => {
            let r: TxnOffsetCommitResponse = decode(frame, api, version)?;
            let partitions = r
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| (TopicPartition::new(t.name.as_str(), p.partition_index), p.error_code))
                })
                .collect();
            TxnOutcome::TxnOffsetCommit { partitions }
        }
        ApiKey::EndTxn => {
            let r: EndTxnResponse = decode(frame, api, version)?;
            let (producer_id, epoch) = if version >= 5 { (r.producer_id, r.producer_epoch) } else { (-1, -1) };
            TxnOutcome::EndTxn { error: r.error_code, producer_id, epoch }
        }
        other => return Err(format!("{} is not a transactional request", other.name())),
    })
}
