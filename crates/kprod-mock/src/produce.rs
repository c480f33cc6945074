//! Produce (key 0), versions 3–12 (record batch v2 only, as Kafka 4).
//!
//! Per partition, in order:
//! 1. acks must be 0, 1 or -1, else INVALID_REQUIRED_ACKS for every partition;
//! 2. an injected error (broker-wide for the whole request, or for this partition) is answered
//!    without storing anything;
//! 3. unknown topic → created if auto-creation is on, else UNKNOWN_TOPIC_OR_PARTITION; unknown
//!    partition → UNKNOWN_TOPIC_OR_PARTITION; this broker not the leader → NOT_LEADER_OR_FOLLOWER,
//!    with `current_leader` and the leader's endpoint in v10+ (KIP-951);
//! 4. every batch validated (`log::validate_record_set`) before the partition lock: a bad one →
//!    CORRUPT_MESSAGE (or INVALID_RECORD) with `error_message` (v8+), nothing of the set stored;
//! 5. under the partition lock: duplicates (answered NONE with the original base offset, stored
//!    once), epochs and sequences (INVALID_PRODUCER_EPOCH / OUT_OF_ORDER_SEQUENCE_NUMBER), then
//!    offsets assigned and the batches retained (or counted, in sink mode). Past the retain cap →
//!    POLICY_VIOLATION with a message, logged.
//!
//! Transactional batches are first checked by the transaction coordinator (`txn::check_produce`,
//! Kafka 3.8+ verification): the request's `transactional_id` must own the batch's producer id and
//! epoch (else INVALID_PRODUCER_ID_MAPPING / INVALID_PRODUCER_EPOCH) and the partition must be in
//! the ongoing transaction (else INVALID_TXN_STATE) — except under transaction protocol v2, where
//! Produce v12 adds it implicitly. The coordinator's table stays locked through the append, so a
//! concurrent EndTxn cannot slip its marker between the check and the batch.
//!
//! `log_append_time_ms` is -1 (CreateTime topics). acks=0 requests are handled the same and get no
//! response (see `handler`).
//!
//! # References
//! - Apache Kafka `KafkaApis.handleProduceRequest`, `ReplicaManager.appendRecords`, `UnifiedLog.append`.

use std::sync::atomic::Ordering;

use super::handler::Ctx;
use super::log::{AppendError, validate_record_set};
use super::txn;
use crate::protocol::produce::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceData, PartitionProduceResponse, TopicProduceResponse,
};
use crate::protocol::{ErrorCode, ProduceRequest, ProduceResponse};

pub(crate) fn handle(ctx: &Ctx<'_>, req: &ProduceRequest) -> ProduceResponse {
    let state = ctx.state;
    let stats = state.stats(ctx.broker_id);
    if let Some(s) = stats {
        s.produce_requests.fetch_add(1, Ordering::Relaxed);
    }
    let injected = if state.faults.broker_armed(ctx.broker_id) {
        state
            .faults
            .with_broker(ctx.broker_id, |f| {
                let (code, left) = f.produce_errors.front_mut()?;
                let code = *code;
                *left -= 1;
                if *left == 0 {
                    f.produce_errors.pop_front();
                }
                Some(code)
            })
            .flatten()
    } else {
        None
    };
    let request_error = if !matches!(req.acks, -1..=1) { Some(ErrorCode::InvalidRequiredAcks) } else { injected };
    let mut node_endpoints: Vec<NodeEndpoint> = Vec::new();
    let responses = req
        .topic_data
        .iter()
        .map(|t| {
            let topic = match request_error {
                Some(_) => None,
                None => Some(state.topic_or_create(&t.name)),
            };
            let partition_responses = t
                .partition_data
                .iter()
                .map(|p| {
                    let mut r = match (request_error, &topic) {
                        (Some(code), _) => error(p.index, code, None),
                        (None, Some(Err(e))) => error(p.index, e.error_code(), Some(e.to_string())),
                        (None, Some(Ok(topic))) => {
                            append(ctx, topic, req.transactional_id.as_deref(), p, &mut node_endpoints)
                        }
                        (None, None) => error(p.index, ErrorCode::UnknownServerError, None),
                    };
                    if ctx.version < 8 {
                        r.error_message = None;
                    }
                    if !r.error_code.is_ok()
                        && let Some(s) = stats
                    {
                        s.produce_partition_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    r
                })
                .collect();
            TopicProduceResponse { name: t.name.clone(), partition_responses }
        })
        .collect();
    ProduceResponse { responses, throttle_time_ms: ctx.throttle_ms, node_endpoints }
}

fn error(index: i32, error_code: ErrorCode, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse { index, error_code, error_message: message, ..Default::default() }
}

fn append(
    ctx: &Ctx<'_>,
    topic: &super::state::Topic,
    transactional_id: Option<&str>,
    p: &PartitionProduceData,
    node_endpoints: &mut Vec<NodeEndpoint>,
) -> PartitionProduceResponse {
    let state = ctx.state;
    let Some(partition) = usize::try_from(p.index).ok().and_then(|i| topic.partitions.get(i)) else {
        return error(p.index, ErrorCode::UnknownTopicOrPartition, None);
    };
    let leader = partition.leader();
    if leader != ctx.broker_id {
        let mut r = error(p.index, ErrorCode::NotLeaderOrFollower, None);
        if ctx.version >= 10 {
            r.current_leader = Some(LeaderIdAndEpoch { leader_id: leader, leader_epoch: partition.leader_epoch() });
            if !node_endpoints.iter().any(|e| e.node_id == leader)
                && let Some(a) = state.address(leader)
            {
                node_endpoints.push(NodeEndpoint {
                    node_id: leader,
                    host: a.ip().to_string(),
                    port: a.port() as i32,
                    rack: None,
                });
            }
        }
        return r;
    }
    if state.faults.partitions_armed()
        && let Some(code) = state.faults.take_partition_error(&topic.name, p.index)
    {
        return error(p.index, code, None);
    }
    let Some(records) = &p.records else {
        return error(p.index, ErrorCode::InvalidRecord, Some("null record set".into()));
    };
    let batches = match validate_record_set(records, state.config.validation) {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(topic = %topic.name, partition = p.index, error = %e, "mock broker refused a produce");
            return error(p.index, e.error_code(), Some(e.to_string()));
        }
    };
    let mut txn_table = None;
    for b in batches.iter().filter(|b| b.is_transactional()) {
        let table = txn_table.get_or_insert_with(|| state.txn.table());
        if let Err(code) = txn::check_produce(
            state,
            table,
            transactional_id,
            &topic.name,
            p.index,
            b.producer_id(),
            b.producer_epoch(),
            ctx.version >= 12,
        ) {
            let message = format!("transactional batch of producer {} refused by the coordinator", b.producer_id());
            return error(p.index, code, Some(message));
        }
    }
    let result = partition.log().append(&batches, state.config.mode, &state.retained_bytes).map(|a| (a, batches.len()));
    drop(txn_table);
    match result {
        Ok((appended, batch_count)) => {
            if let Some(s) = state.stats(ctx.broker_id) {
                if appended.duplicate {
                    s.produce_duplicates.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.produce_batches.fetch_add(batch_count as u64, Ordering::Relaxed);
                    s.produce_records.fetch_add(appended.records, Ordering::Relaxed);
                    s.produce_bytes.fetch_add(appended.bytes, Ordering::Relaxed);
                }
            }
            PartitionProduceResponse {
                index: p.index,
                error_code: ErrorCode::None,
                base_offset: appended.base_offset,
                log_append_time_ms: -1,
                log_start_offset: appended.log_start_offset,
                ..Default::default()
            }
        }
        Err(e) => {
            if matches!(e, AppendError::RetainLimit { .. }) {
                tracing::warn!(topic = %topic.name, partition = p.index, error = %e, "mock broker refused a produce");
            } else {
                tracing::debug!(topic = %topic.name, partition = p.index, error = %e, "mock broker refused a produce");
            }
            error(p.index, e.error_code(), Some(e.to_string()))
        }
    }
}
