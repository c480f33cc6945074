//! AddPartitionsToTxn (24) v0–5, AddOffsetsToTxn (25) v0–4, EndTxn (26) v0–5 and TxnOffsetCommit
//! (28) v0–5: the wire side of the transaction coordinator ([`super::txn`] holds the semantics).
//!
//! Each request is first checked against injected transaction faults (`Faults::fail_txn`), then
//! against the coordinator of its key (NOT_COORDINATOR on any other broker: the transactional id's
//! coordinator, or the group's for TxnOffsetCommit). PRODUCER_FENCED is answered as
//! INVALID_PRODUCER_EPOCH below v2, as Kafka's `KafkaApis` does for clients that predate it.
//! AddPartitionsToTxn: an unknown topic or partition → UNKNOWN_TOPIC_OR_PARTITION for it and
//! OPERATION_NOT_ATTEMPTED for the others; v4+ (broker-to-broker) serves every transaction of
//! the batch, `verify_only` checking membership without adding.
//!
//! # References
//! - Apache Kafka `KafkaApis.handleAddPartitionsToTxnRequest`, `handleAddOffsetsToTxnRequest`,
//!   `handleEndTxnRequest`, `handleTxnOffsetCommitRequest`; KIP-98, KIP-588, KIP-890.

use super::handler::Ctx;
use super::txn;
use crate::protocol::add_partitions_to_txn::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopic, AddPartitionsToTxnTopicResult,
};
use crate::protocol::find_coordinator::{KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION};
use crate::protocol::txn_offset_commit::{TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic};
use crate::protocol::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey,
    EndTxnRequest, EndTxnResponse, ErrorCode, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

/// Injected fault, then coordinator placement.
fn precheck(ctx: &Ctx<'_>, api: ApiKey, key_type: i8, key: &str) -> Result<(), ErrorCode> {
    if let Some(code) = ctx.state.faults.take_txn_error(api) {
        return Err(code);
    }
    if ctx.state.coordinator_of(key_type, key) != ctx.broker_id {
        return Err(ErrorCode::NotCoordinator);
    }
    Ok(())
}

/// PRODUCER_FENCED exists from v2 of these APIs (KIP-588); older clients get INVALID_PRODUCER_EPOCH.
fn fenced_for(version: i16, code: ErrorCode) -> ErrorCode {
    if code == ErrorCode::ProducerFenced && version < 2 { ErrorCode::InvalidProducerEpoch } else { code }
}

fn topic_results(
    topics: &[AddPartitionsToTxnTopic],
    code: impl Fn(&str, i32) -> ErrorCode,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|t| AddPartitionsToTxnTopicResult {
            name: t.name.clone(),
            results_by_partition: t
                .partitions
                .iter()
                .map(|&p| AddPartitionsToTxnPartitionResult {
                    partition_index: p,
                    partition_error_code: code(&t.name, p),
                })
                .collect(),
        })
        .collect()
}

fn partition_exists(ctx: &Ctx<'_>, topic: &str, partition: i32) -> bool {
    ctx.state.topic(topic).is_some_and(|t| usize::try_from(partition).ok().is_some_and(|i| i < t.partitions.len()))
}

/// Adds (or with `verify_only`, checks) the partitions of one transaction; per-partition codes.
fn add_one(
    ctx: &Ctx<'_>,
    tid: &str,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    if let Err(code) = precheck(ctx, ApiKey::AddPartitionsToTxn, KEY_TYPE_TRANSACTION, tid) {
        return topic_results(topics, |_, _| code);
    }
    let unknown = topics.iter().any(|t| t.partitions.iter().any(|&p| !partition_exists(ctx, &t.name, p)));
    if unknown {
        return topic_results(topics, |t, p| {
            if partition_exists(ctx, t, p) {
                ErrorCode::OperationNotAttempted
            } else {
                ErrorCode::UnknownTopicOrPartition
            }
        });
    }
    if verify_only {
        return topic_results(topics, |t, p| {
            txn::verify_partitions(ctx.state, tid, producer_id, producer_epoch, &(t.to_string(), p))
                .err()
                .unwrap_or(ErrorCode::None)
        });
    }
    let partitions: Vec<(String, i32)> =
        topics.iter().flat_map(|t| t.partitions.iter().map(|&p| (t.name.clone(), p))).collect();
    let code = txn::add_partitions(ctx.state, tid, producer_id, producer_epoch, &partitions)
        .err()
        .map_or(ErrorCode::None, |c| fenced_for(ctx.version, c));
    topic_results(topics, |_, _| code)
}

pub(crate) fn add_partitions(ctx: &Ctx<'_>, req: &AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    let mut r = AddPartitionsToTxnResponse { throttle_time_ms: ctx.throttle_ms, ..Default::default() };
    if ctx.version >= 4 {
        r.results_by_transaction = req
            .transactions
            .iter()
            .map(|t| AddPartitionsToTxnResult {
                transactional_id: t.transactional_id.clone(),
                topic_results: add_one(
                    ctx,
                    &t.transactional_id,
                    t.producer_id,
                    t.producer_epoch,
                    t.verify_only,
                    &t.topics,
                ),
            })
            .collect();
    } else {
        r.results_by_topic =
            add_one(ctx, &req.transactional_id, req.producer_id, req.producer_epoch, false, &req.topics);
    }
    r
}

pub(crate) fn add_offsets(ctx: &Ctx<'_>, req: &AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let result = precheck(ctx, ApiKey::AddOffsetsToTxn, KEY_TYPE_TRANSACTION, &req.transactional_id).and_then(|()| {
        txn::add_offsets(ctx.state, &req.transactional_id, req.producer_id, req.producer_epoch, &req.group_id)
    });
    AddOffsetsToTxnResponse {
        throttle_time_ms: ctx.throttle_ms,
        error_code: result.err().map_or(ErrorCode::None, |c| fenced_for(ctx.version, c)),
    }
}

pub(crate) fn end_txn(ctx: &Ctx<'_>, req: &EndTxnRequest) -> EndTxnResponse {
    let result = precheck(ctx, ApiKey::EndTxn, KEY_TYPE_TRANSACTION, &req.transactional_id).and_then(|()| {
        txn::end_txn(
            ctx.state,
            &req.transactional_id,
            req.producer_id,
            req.producer_epoch,
            req.committed,
            ctx.version >= 5,
        )
    });
    let mut r = EndTxnResponse { throttle_time_ms: ctx.throttle_ms, ..Default::default() };
    match result {
        Ok((pid, epoch)) if ctx.version >= 5 => {
            r.producer_id = pid;
            r.producer_epoch = epoch;
        }
        Ok(_) => {}
        Err(code) => r.error_code = fenced_for(ctx.version, code),
    }
    r
}

pub(crate) fn txn_offset_commit(ctx: &Ctx<'_>, req: &TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let result = precheck(ctx, ApiKey::TxnOffsetCommit, KEY_TYPE_GROUP, &req.group_id).and_then(|()| {
        let offsets = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.clone(), p.partition_index, p.committed_offset, p.committed_metadata.clone()))
            })
            .collect();
        txn::txn_offset_commit(
            ctx.state,
            &req.transactional_id,
            req.producer_id,
            req.producer_epoch,
            &req.group_id,
            offsets,
            ctx.version >= 5,
        )
    });
    let code = result.err().unwrap_or(ErrorCode::None);
    TxnOffsetCommitResponse {
        throttle_time_ms: ctx.throttle_ms,
        topics: req
            .topics
            .iter()
            .map(|t| TxnOffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| TxnOffsetCommitResponsePartition { partition_index: p.partition_index, error_code: code })
                    .collect(),
            })
            .collect(),
    }
}
