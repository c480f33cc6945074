//! The transaction coordinator driven by hand-built requests through `handle_frame`: v1 and v2
//! commit/abort with read_committed fetches, fencing, timeouts, EndTxn retries, offsets, faults.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::faults::{CoordinatorKind, Faults, TxnApi};
use crate::handler::{Outcome, handle_frame};
use crate::log::{StorageMode, Validation};
use crate::protocol::add_partitions_to_txn::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use crate::protocol::fetch::{FetchPartition, FetchPartitionData, FetchTopic};
use crate::protocol::find_coordinator::{KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION};
use crate::protocol::list_offsets::{LATEST_TIMESTAMP, ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::produce::{PartitionProduceData, TopicProduceData};
use crate::protocol::txn_offset_commit::{TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic};
use crate::protocol::*;
use crate::record::{
    BatchBuilder, Compression, ControlRecordType, RecordBatch, control_record_of, iter_batches, set_producer_state,
};
use crate::state::{ClusterConfig, ClusterState};

const TID: &str = "tx-1";

fn state_with(transaction_version: i16) -> Arc<ClusterState> {
    let config = ClusterConfig {
        default_partitions: 2,
        mode: StorageMode::Retain { max_bytes: 1 << 20 },
        validation: Validation::Full,
        transaction_version,
        ..Default::default()
    };
    let s = ClusterState::new(config, vec!["127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap()]);
    s.create_topic("t", 2).unwrap();
    Arc::new(s)
}

/// Sends `req` at `version` to `broker` and decodes the answer.
fn call<Q: Encode + ApiMessage, R: Decode + ApiMessage>(s: &ClusterState, broker: i32, version: i16, req: &Q) -> R {
    let header = RequestHeader { api_key: Q::API_KEY, api_version: version, correlation_id: 1, client_id: None };
    let mut frame = BytesMut::new();
    encode_request(&mut frame, &header, req).unwrap();
    let mut out = BytesMut::new();
    let h = handle_frame(s, broker, &mut crate::Session::default(), frame.freeze().slice(4..), &mut out);
    assert_eq!(h.outcome, Outcome::Respond, "api {} v{version}", Q::API_KEY);
    let frame = split_frame(&mut out, usize::MAX).unwrap().unwrap();
    decode_response::<R>(frame, version).unwrap().1
}

fn coord(s: &ClusterState) -> i32 {
    s.coordinator_of(KEY_TYPE_TRANSACTION, TID)
}

fn init(s: &ClusterState, version: i16, pid: i64, epoch: i16) -> InitProducerIdResponse {
    let req = InitProducerIdRequest {
        transactional_id: Some(TID.into()),
        transaction_timeout_ms: 60_000,
        producer_id: pid,
        producer_epoch: epoch,
    };
    call(s, coord(s), version, &req)
}

fn add_partitions(s: &ClusterState, version: i16, pid: i64, epoch: i16, partitions: &[i32]) -> ErrorCode {
    let req = AddPartitionsToTxnRequest {
        transactional_id: TID.into(),
        producer_id: pid,
        producer_epoch: epoch,
        topics: vec![AddPartitionsToTxnTopic { name: "t".into(), partitions: partitions.to_vec() }],
        ..Default::default()
    };
    let r: AddPartitionsToTxnResponse = call(s, coord(s), version, &req);
    let codes: Vec<ErrorCode> = r.partition_errors().map(|(_, _, c)| c).collect();
    assert_eq!(codes.len(), partitions.len());
    codes[0]
}

fn end(s: &ClusterState, version: i16, pid: i64, epoch: i16, committed: bool) -> EndTxnResponse {
    let req = EndTxnRequest { transactional_id: TID.into(), producer_id: pid, producer_epoch: epoch, committed };
    call(s, coord(s), version, &req)
}

/// Produces `values` as one transactional batch to partition `p` of "t" (on its leader).
fn produce(s: &ClusterState, version: i16, p: i32, pid: i64, epoch: i16, seq: i32, values: &[&str]) -> ErrorCode {
    let mut b = BatchBuilder::new(BytesMut::new(), Compression::None, 1);
    for v in values {
        b.append(1, None, Some(v.as_bytes()), &[]);
    }
    let mut batch = b.close().unwrap().bytes;
    set_producer_state(&mut batch, pid, epoch, seq, true);
    let req = ProduceRequest {
        transactional_id: Some(TID.into()),
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData { index: p, records: Some(batch.freeze()) }],
        }],
    };
    let r: ProduceResponse = call(s, p % 2, version, &req);
    r.responses[0].partition_responses[0].error_code
}

fn fetch(s: &ClusterState, p: i32, isolation_level: i8) -> FetchPartitionData {
    let req = FetchRequest {
        isolation_level,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: "t".into(),
            partitions: vec![FetchPartition {
                partition: p,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let r: FetchResponse = call(s, p % 2, 12, &req);
    r.responses[0].partitions[0].clone()
}

/// What a read_committed consumer sees of a fetch answer: committed values, in order.
fn committed_values(pd: &FetchPartitionData) -> Vec<String> {
    let aborted = pd.aborted_transactions.clone().unwrap_or_default();
    let mut aborting = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for batch in iter_batches(pd.records.clone().unwrap_or_default()) {
        let batch = batch.unwrap();
        for a in &aborted {
            if a.first_offset <= batch.last_offset() && a.first_offset >= batch.base_offset() {
                aborting.insert(a.producer_id);
            }
        }
        if let Some(c) = control_record_of(&batch).unwrap() {
            if c.kind == ControlRecordType::Abort {
                aborting.remove(&batch.producer_id());
            }
            continue;
        }
        if batch.is_transactional() && aborting.contains(&batch.producer_id()) {
            continue;
        }
        for r in batch.records().unwrap() {
            out.push(String::from_utf8(r.unwrap().value.unwrap().to_vec()).unwrap());
        }
    }
    out
}

/// (base offset, marker type) of every control batch of partition `p`.
fn markers(s: &ClusterState, p: i32) -> Vec<(i64, ControlRecordType, i16)> {
    s.batches("t", p)
        .unwrap()
        .iter()
        .filter_map(|b| {
            let batch: RecordBatch = b.parse().unwrap();
            control_record_of(&batch).unwrap().map(|c| (batch.base_offset(), c.kind, batch.producer_epoch()))
        })
        .collect()
}

#[test]
fn v1_commit_and_abort_seen_by_read_committed() {
    let s = state_with(1);
    let r = init(&s, 4, -1, -1);
    assert_eq!(r.error_code, ErrorCode::None);
    let (pid, epoch) = (r.producer_id, r.producer_epoch);
    // Not added yet: the partition leader refuses the transactional batch (KIP-890 part 1).
    assert_eq!(produce(&s, 11, 0, pid, epoch, 0, &["x"]), ErrorCode::InvalidTxnState);
    assert_eq!(add_partitions(&s, 3, pid, epoch, &[0, 1]), ErrorCode::None);
    assert_eq!(produce(&s, 11, 0, pid, epoch, 0, &["a", "b"]), ErrorCode::None);
    assert_eq!(produce(&s, 11, 1, pid, epoch, 0, &["c"]), ErrorCode::None);
    // Open transaction: the LSO holds at its first offset; read_committed sees nothing yet.
    let pd = fetch(&s, 0, 1);
    assert_eq!((pd.high_watermark, pd.last_stable_offset), (2, 0));
    assert!(committed_values(&pd).is_empty());
    assert_eq!(fetch(&s, 0, 0).records.map(|r| !r.is_empty()), Some(true), "read_uncommitted sees it");
    let lo: ListOffsetsResponse = call(
        &s,
        0,
        7,
        &ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 1,
            topics: vec![ListOffsetsTopic {
                name: "t".into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    current_leader_epoch: -1,
                    timestamp: LATEST_TIMESTAMP,
                }],
            }],
        },
    );
    assert_eq!(lo.topics[0].partitions[0].offset, 0, "read_committed latest is the LSO");
    let e = end(&s, 3, pid, epoch, true);
    assert_eq!((e.error_code, e.producer_id), (ErrorCode::None, -1));
    assert_eq!(markers(&s, 0), vec![(2, ControlRecordType::Commit, epoch)]);
    assert_eq!(markers(&s, 1), vec![(1, ControlRecordType::Commit, epoch)]);
    let pd = fetch(&s, 0, 1);
    assert_eq!((pd.high_watermark, pd.last_stable_offset), (3, 3));
    assert_eq!(committed_values(&pd), vec!["a", "b"]);

    // Second transaction, aborted: same epoch (v1), sequences continue.
    assert_eq!(add_partitions(&s, 3, pid, epoch, &[0]), ErrorCode::None);
    assert_eq!(produce(&s, 11, 0, pid, epoch, 2, &["z"]), ErrorCode::None);
    assert_eq!(end(&s, 3, pid, epoch, false).error_code, ErrorCode::None);
    let pd = fetch(&s, 0, 1);
    let aborted = pd.aborted_transactions.clone().unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id, aborted[0].first_offset), (pid, 3));
    assert_eq!(committed_values(&pd), vec!["a", "b"], "the aborted record is never visible");
    assert_eq!(markers(&s, 0).last(), Some(&(4, ControlRecordType::Abort, epoch)));
    assert_eq!(s.txn.ongoing(), 0);
}

#[test]
fn end_txn_retries_and_invalid_states() {
    let s = state_with(1);
    let r = init(&s, 4, -1, -1);
    let (pid, epoch) = (r.producer_id, r.producer_epoch);
    assert_eq!(end(&s, 3, pid, epoch, true).error_code, ErrorCode::InvalidTxnState, "nothing ongoing");
    assert_eq!(add_partitions(&s, 3, pid, epoch, &[0]), ErrorCode::None);
    assert_eq!(produce(&s, 11, 0, pid, epoch, 0, &["a"]), ErrorCode::None);
    assert_eq!(end(&s, 3, pid, epoch, true).error_code, ErrorCode::None);
    assert_eq!(end(&s, 3, pid, epoch, true).error_code, ErrorCode::None, "a retry is idempotent");
    assert_eq!(markers(&s, 0).len(), 1, "no second marker");
    assert_eq!(end(&s, 3, pid, epoch, false).error_code, ErrorCode::InvalidTxnState);
    assert_eq!(end(&s, 3, pid + 1, epoch, true).error_code, ErrorCode::InvalidProducerIdMapping);
    assert_eq!(end(&s, 3, pid, epoch + 1, true).error_code, ErrorCode::ProducerFenced);
    assert_eq!(end(&s, 1, pid, epoch + 1, true).error_code, ErrorCode::InvalidProducerEpoch, "v1 predates FENCED");
    // Timeout validation.
    let bad = InitProducerIdRequest {
        transactional_id: Some(TID.into()),
        transaction_timeout_ms: 900_001,
        ..Default::default()
    };
    let r: InitProducerIdResponse = call(&s, coord(&s), 4, &bad);
    assert_eq!(r.error_code, ErrorCode::InvalidTransactionTimeout);
}

#[test]
fn v2_produce_adds_partitions_and_end_txn_bumps_the_epoch() {
    let s = state_with(2);
    let r = init(&s, 4, -1, -1);
    let (pid, e0) = (r.producer_id, r.producer_epoch);
    // Produce v11 is a v1 client: no implicit add.
    assert_eq!(produce(&s, 11, 0, pid, e0, 0, &["x"]), ErrorCode::InvalidTxnState);
    assert_eq!(produce(&s, 12, 0, pid, e0, 0, &["a"]), ErrorCode::None);
    assert_eq!(produce(&s, 12, 1, pid, e0, 0, &["b"]), ErrorCode::None);
    let e = end(&s, 5, pid, e0, true);
    assert_eq!((e.error_code, e.producer_id, e.producer_epoch), (ErrorCode::None, pid, e0 + 1));
    // Markers carry the new epoch; the retry (old epoch) answers the new pair, writing nothing.
    assert_eq!(markers(&s, 0), vec![(1, ControlRecordType::Commit, e0 + 1)]);
    let retry = end(&s, 5, pid, e0, true);
    assert_eq!((retry.error_code, retry.producer_epoch), (ErrorCode::None, e0 + 1));
    assert_eq!(end(&s, 5, pid, e0, false).error_code, ErrorCode::InvalidTxnState);
    assert_eq!(markers(&s, 0).len(), 1);
    // The next transaction runs at the new epoch from sequence 0; the old epoch is fenced.
    assert_eq!(produce(&s, 12, 0, pid, e0, 1, &["late"]), ErrorCode::InvalidProducerEpoch);
    assert_eq!(produce(&s, 12, 0, pid, e0 + 1, 0, &["c"]), ErrorCode::None);
    let e = end(&s, 5, pid, e0 + 1, false);
    assert_eq!(e.producer_epoch, e0 + 2);
    assert_eq!(committed_values(&fetch(&s, 0, 1)), vec!["a"]);
    // Aborting an empty v2 transaction bumps the epoch and writes nothing.
    let before = markers(&s, 0).len();
    let e = end(&s, 5, pid, e0 + 2, false);
    assert_eq!((e.error_code, e.producer_epoch), (ErrorCode::None, e0 + 3));
    assert_eq!(markers(&s, 0).len(), before);
    // The cluster advertises transaction.version 2.
    let v: ApiVersionsResponse = call(&s, 0, 3, &ApiVersionsRequest::default());
    assert_eq!(v.transaction_version(), 2);
    let v: ApiVersionsResponse = call(&state_with(1), 0, 3, &ApiVersionsRequest::default());
    assert_eq!(v.transaction_version(), 1);
}

#[test]
fn v2_cluster_with_v1_end_txn_keeps_the_epoch() {
    let s = state_with(2);
    let r = init(&s, 4, -1, -1);
    let (pid, e0) = (r.producer_id, r.producer_epoch);
    assert_eq!(add_partitions(&s, 3, pid, e0, &[0]), ErrorCode::None);
    assert_eq!(produce(&s, 11, 0, pid, e0, 0, &["a"]), ErrorCode::None);
    assert_eq!(end(&s, 4, pid, e0, true).error_code, ErrorCode::None);
    assert_eq!(s.txn.metadata(TID).unwrap().producer_epoch, e0);
}

#[test]
fn a_second_init_aborts_the_open_transaction_and_fences_the_first_producer() {
    let s = state_with(1);
    let r = init(&s, 4, -1, -1);
    let (pid, e0) = (r.producer_id, r.producer_epoch);
    assert_eq!(add_partitions(&s, 3, pid, e0, &[0, 1]), ErrorCode::None);
    assert_eq!(produce(&s, 11, 0, pid, e0, 0, &["zombie"]), ErrorCode::None);
    // A new instance: Kafka aborts first and answers CONCURRENT_TRANSACTIONS; the retry gets the epoch.
    assert_eq!(init(&s, 4, -1, -1).error_code, ErrorCode::ConcurrentTransactions);
    assert_eq!(markers(&s, 0), vec![(1, ControlRecordType::Abort, e0 + 1)]);
    // Every partition of the transaction gets a marker, data or not (as Kafka).
    assert_eq!(markers(&s, 1), vec![(0, ControlRecordType::Abort, e0 + 1)]);
    let r = init(&s, 4, -1, -1);
    assert_eq!((r.error_code, r.producer_id, r.producer_epoch), (ErrorCode::None, pid, e0 + 2));
    // The old instance is fenced everywhere.
    assert_eq!(produce(&s, 11, 0, pid, e0, 1, &["x"]), ErrorCode::InvalidProducerEpoch);
    assert_eq!(produce(&s, 11, 1, pid, e0, 0, &["x"]), ErrorCode::InvalidProducerEpoch);
    assert_eq!(add_partitions(&s, 3, pid, e0, &[1]), ErrorCode::ProducerFenced);
    assert_eq!(add_partitions(&s, 1, pid, e0, &[1]), ErrorCode::InvalidProducerEpoch);
    assert_eq!(end(&s, 3, pid, e0, true).error_code, ErrorCode::ProducerFenced);
    // KIP-360: a v3+ InitProducerId with a stale pair is fenced; the current pair bumps.
    assert_eq!(init(&s, 4, pid, e0).error_code, ErrorCode::ProducerFenced);
    assert_eq!(init(&s, 3, pid, e0).error_code, ErrorCode::InvalidProducerEpoch);
    assert_eq!(init(&s, 4, pid, e0 + 2).producer_epoch, e0 + 3);
    assert_eq!(init(&s, 4, pid, e0 + 2).producer_epoch, e0 + 3, "a retry of that bump gets the same pair");
    assert!(committed_values(&fetch(&s, 0, 1)).is_empty());
}

/// A transaction with a 1 s timeout holding one record on partition 0; returns its producer id and epoch.
fn open_slow_transaction(s: &ClusterState) -> (i64, i16) {
    let req = InitProducerIdRequest {
        transactional_id: Some(TID.into()),
        transaction_timeout_ms: 1_000,
        ..Default::default()
    };
    let r: InitProducerIdResponse = call(s, coord(s), 4, &req);
    let (pid, e0) = (r.producer_id, r.producer_epoch);
    assert_eq!(add_partitions(s, 3, pid, e0, &[0]), ErrorCode::None);
    assert_eq!(produce(s, 11, 0, pid, e0, 0, &["slow"]), ErrorCode::None);
    (pid, e0)
}

#[test]
fn a_timed_out_transaction_is_aborted_and_its_producer_fenced() {
    let s = state_with(1);
    let (pid, e0) = open_slow_transaction(&s);
    s.txn.advance_clock_ms(500);
    assert_eq!(fetch(&s, 0, 1).last_stable_offset, 0, "not yet expired");
    s.txn.advance_clock_ms(1_000);
    // Any request notices the expiry.
    let pd = fetch(&s, 0, 1);
    assert_eq!((pd.last_stable_offset, pd.high_watermark), (2, 2));
    assert!(committed_values(&pd).is_empty());
    assert_eq!(markers(&s, 0), vec![(1, ControlRecordType::Abort, e0 + 1)]);
    assert_eq!(end(&s, 3, pid, e0, true).error_code, ErrorCode::ProducerFenced);
    assert_eq!(s.txn.metadata(TID).unwrap().producer_epoch, e0 + 1);
}

#[test]
fn txn_offset_commit_is_visible_only_after_commit() {
    let s = state_with(1);
    let r = init(&s, 4, -1, -1);
    let (pid, e0) = (r.producer_id, r.producer_epoch);
    let group_coordinator = s.coordinator_of(KEY_TYPE_GROUP, "g");
    let commit = |offset: i64, version: i16| -> ErrorCode {
        let req = TxnOffsetCommitRequest {
            transactional_id: TID.into(),
            group_id: "g".into(),
            producer_id: pid,
            producer_epoch: e0,
            topics: vec![TxnOffsetCommitRequestTopic {
                name: "in".into(),
                partitions: vec![TxnOffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: offset,
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let r: TxnOffsetCommitResponse = call(&s, group_coordinator, version, &req);
        r.topics[0].partitions[0].error_code
    };
    assert_eq!(commit(5, 3), ErrorCode::InvalidTxnState, "group not added (v1)");
    let add = AddOffsetsToTxnRequest {
        transactional_id: TID.into(),
        producer_id: pid,
        producer_epoch: e0,
        group_id: "g".into(),
    };
    let a: AddOffsetsToTxnResponse = call(&s, coord(&s), 3, &add);
    assert_eq!(a.error_code, ErrorCode::None);
    assert_eq!(commit(5, 3), ErrorCode::None);
    assert!(s.committed_offsets("g").is_empty(), "pending until the commit");
    assert_eq!(end(&s, 3, pid, e0, false).error_code, ErrorCode::None);
    assert!(s.committed_offsets("g").is_empty(), "an abort drops them");
    let a: AddOffsetsToTxnResponse = call(&s, coord(&s), 3, &add);
    assert_eq!(a.error_code, ErrorCode::None);
    assert_eq!(commit(7, 3), ErrorCode::None);
    assert_eq!(end(&s, 3, pid, e0, true).error_code, ErrorCode::None);
    assert_eq!(s.committed_offsets("g").get(&("in".to_string(), 0)), Some(&7));
    let other = 1 - group_coordinator;
    let req = TxnOffsetCommitRequest { transactional_id: TID.into(), group_id: "g".into(), ..Default::default() };
    let r: TxnOffsetCommitResponse = call(&s, other, 3, &req);
    assert!(r.topics.is_empty());
    let r: AddOffsetsToTxnResponse = call(&s, 1 - coord(&s), 3, &add);
    assert_eq!(r.error_code, ErrorCode::NotCoordinator);
}

#[test]
fn faults_and_coordinator_moves() {
    let s = state_with(1);
    let faults = Faults::new(s.clone());
    let r = init(&s, 4, -1, -1);
    let (pid, e0) = (r.producer_id, r.producer_epoch);
    faults.fail_txn(Some(TxnApi::AddPartitionsToTxn), ErrorCode::CoordinatorLoadInProgress, 1);
    faults.fail_txn(None, ErrorCode::ConcurrentTransactions, 1);
    assert_eq!(add_partitions(&s, 3, pid, e0, &[0]), ErrorCode::CoordinatorLoadInProgress);
    assert_eq!(add_partitions(&s, 3, pid, e0, &[0]), ErrorCode::ConcurrentTransactions);
    assert_eq!(add_partitions(&s, 3, pid, e0, &[0]), ErrorCode::None, "faults used up");
    // FindCoordinator answers the hash placement, v0-3 and batched v4.
    let f: FindCoordinatorResponse = call(
        &s,
        0,
        3,
        &FindCoordinatorRequest { key: TID.into(), key_type: KEY_TYPE_TRANSACTION, ..Default::default() },
    );
    assert_eq!((f.error_code, f.node_id), (ErrorCode::None, coord(&s)));
    let old = coord(&s);
    faults.move_coordinator(CoordinatorKind::Transaction, TID, 1 - old).unwrap();
    assert_eq!(coord(&s), 1 - old);
    let e: EndTxnResponse = call(
        &s,
        old,
        3,
        &EndTxnRequest { transactional_id: TID.into(), producer_id: pid, producer_epoch: e0, committed: true },
    );
    assert_eq!(e.error_code, ErrorCode::NotCoordinator);
    faults.fail_txn(Some(TxnApi::FindCoordinator), ErrorCode::CoordinatorNotAvailable, 1);
    let req = FindCoordinatorRequest {
        key_type: KEY_TYPE_TRANSACTION,
        coordinator_keys: vec![TID.into(), "other".into()],
        ..Default::default()
    };
    let f: FindCoordinatorResponse = call(&s, 0, 4, &req);
    assert_eq!(f.coordinators[0].error_code, ErrorCode::CoordinatorNotAvailable);
    assert_eq!(f.coordinators[1].error_code, ErrorCode::None);
    let f: FindCoordinatorResponse = call(&s, 0, 4, &req);
    assert_eq!(f.coordinators[0].node_id, 1 - old);
    assert_eq!(end(&s, 3, pid, e0, true).error_code, ErrorCode::None, "served by the new coordinator");
    let batch = s.batches("t", 0).unwrap().pop().unwrap().parse().unwrap();
    assert_eq!(control_record_of(&batch).unwrap().unwrap().coordinator_epoch, Some(1), "epoch bumped by the move");
}

#[test]
fn v4_batched_add_partitions_and_verify_only() {
    let s = state_with(1);
    let r = init(&s, 4, -1, -1);
    let (pid, e0) = (r.producer_id, r.producer_epoch);
    let txn = |verify_only: bool, partitions: Vec<i32>| AddPartitionsToTxnTransaction {
        transactional_id: TID.into(),
        producer_id: pid,
        producer_epoch: e0,
        verify_only,
        topics: vec![AddPartitionsToTxnTopic { name: "t".into(), partitions }],
    };
    let req = AddPartitionsToTxnRequest { transactions: vec![txn(true, vec![0])], ..Default::default() };
    let r: AddPartitionsToTxnResponse = call(&s, coord(&s), 5, &req);
    assert_eq!(r.partition_errors().next().unwrap().2, ErrorCode::InvalidTxnState);
    let req = AddPartitionsToTxnRequest {
        transactions: vec![txn(false, vec![0]), txn(true, vec![0, 1])],
        ..Default::default()
    };
    let r: AddPartitionsToTxnResponse = call(&s, coord(&s), 4, &req);
    let codes: Vec<_> = r.partition_errors().map(|(_, p, c)| (p, c)).collect();
    assert_eq!(codes, vec![(0, ErrorCode::None), (0, ErrorCode::None), (1, ErrorCode::InvalidTxnState)]);
    // An unknown partition fails alone; the others are not attempted.
    let req = AddPartitionsToTxnRequest { transactions: vec![txn(false, vec![1, 9])], ..Default::default() };
    let r: AddPartitionsToTxnResponse = call(&s, coord(&s), 4, &req);
    let codes: Vec<_> = r.partition_errors().map(|(_, p, c)| (p, c)).collect();
    assert_eq!(codes, vec![(1, ErrorCode::OperationNotAttempted), (9, ErrorCode::UnknownTopicOrPartition)]);
}

#[test]
fn coordinator_placement_matches_java_string_hash() {
    // "tx-1".hashCode() in Java.
    let h = super::java_string_hash("tx-1");
    let expected = "tx-1".chars().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    assert_eq!(h, expected);
    assert_eq!(super::java_string_hash(""), 0);
    assert_eq!(super::java_string_hash("a"), 97);
    assert_eq!(super::coordinator_partition("a"), 97 % 50);
    for k in ["x", "transactional-id-long-enough", "é"] {
        assert!((0..50).contains(&super::coordinator_partition(k)));
    }
    let _ = Bytes::new();
}

#[test]
fn a_manual_clock_alone_times_transactions_out() {
    let s = state_with(1);
    s.txn.set_clock_ms(1_000_000);
    let (_, e0) = open_slow_transaction(&s);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(s.txn.now_ms(), 1_000_000, "the wall clock does not move a manual clock");
    s.txn.set_clock_ms(1_000_999);
    assert_eq!(fetch(&s, 0, 1).last_stable_offset, 0, "not yet expired");
    s.txn.set_clock_ms(1_001_001);
    assert_eq!(fetch(&s, 0, 1).last_stable_offset, 2, "expired and aborted at the manual clock's timeout");
    assert_eq!(markers(&s, 0), vec![(1, ControlRecordType::Abort, e0 + 1)]);
}
