//! Unit tests of the transaction state machine, driven with a fake clock and scripted coordinator answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

/// A manager with a fake clock and helpers that play the sender's part.
struct Rig {
    tm: TransactionManager,
    now: Instant,
}

impl Rig {
    fn new() -> Rig {
        Rig { tm: TransactionManager::new("tx-1", test_settings()), now: Instant::now() }
    }

    fn next(&mut self, incomplete: bool) -> Option<TxnSend> {
        let mut wait = Duration::from_secs(1);
        self.tm.next_request(self.now, incomplete, &mut wait)
    }

    /// The next request, which must exist.
    fn expect(&mut self) -> TxnSend {
        self.next(false).expect("a request is due")
    }

    fn answer(&mut self, s: &TxnSend, o: TxnOutcome) -> Vec<TxnEffect> {
        self.tm.on_response(s.id, o, self.now)
    }

    fn find_ok(&mut self, node: i32) {
        let s = self.expect();
        assert!(matches!(s.request, TxnRequest::FindCoordinator { .. }), "{s:?}");
        assert_eq!(s.target, Target::AnyNode);
        let fx = self.answer(
            &s,
            TxnOutcome::FindCoordinator { error: ErrorCode::None, node_id: node, host: "h".into(), port: 9 },
        );
        assert_eq!(fx, vec![TxnEffect::CoordinatorFound { node, address: "h:9".into() }]);
    }

    /// init_transactions to Ready with producer id 7 epoch 0, coordinator node 1.
    fn ready(&mut self) -> Arc<TxnResult> {
        let r = self.tm.initialize().unwrap();
        assert_eq!(self.tm.state(), TxnState::Initializing);
        self.find_ok(1);
        let s = self.expect();
        assert_eq!(s.target, Target::Node(1));
        assert_eq!(
            s.request,
            TxnRequest::InitProducerId { transaction_timeout_ms: 60_000, producer_id: -1, epoch: -1 }
        );
        let fx = self.answer(&s, TxnOutcome::InitProducerId { error: ErrorCode::None, producer_id: 7, epoch: 0 });
        assert_eq!(fx, vec![TxnEffect::ProducerIdAndEpoch { producer_id: 7, epoch: 0 }]);
        assert_eq!(self.tm.state(), TxnState::Ready);
        r
    }

    fn add_ok(&mut self) -> TxnSend {
        let s = self.expect();
        let TxnRequest::AddPartitions { partitions, .. } = &s.request else { panic!("{s:?}") };
        let results = partitions.iter().map(|p| (p.clone(), ErrorCode::None)).collect();
        self.answer(&s, TxnOutcome::AddPartitions { error: ErrorCode::None, partitions: results });
        s
    }

    fn end_txn(&mut self, commit: bool, error: ErrorCode) {
        let s = self.expect();
        assert_eq!(s.request, TxnRequest::EndTxn { producer_id: 7, epoch: 0, commit }, "{s:?}");
        self.answer(&s, TxnOutcome::EndTxn { error, producer_id: -1, epoch: -1 });
    }
}

fn kind(r: &Result<(), ProducerError>) -> Option<TxnErrorKind> {
    r.as_ref().err().and_then(ProducerError::txn_kind)
}

#[test]
fn transitions_follow_java() {
    use TxnState::*;
    let all = [
        Uninitialized,
        Initializing,
        Ready,
        InTransaction,
        CommittingTransaction,
        AbortingTransaction,
        AbortableError,
        FatalError,
    ];
    let valid: &[(TxnState, TxnState)] = &[
        (Ready, Uninitialized),
        (AbortableError, Uninitialized),
        (Uninitialized, Initializing),
        (AbortingTransaction, Initializing),
        (Initializing, Ready),
        (CommittingTransaction, Ready),
        (AbortingTransaction, Ready),
        (Ready, InTransaction),
        (InTransaction, CommittingTransaction),
        (InTransaction, AbortingTransaction),
        (AbortableError, AbortingTransaction),
        (InTransaction, AbortableError),
        (CommittingTransaction, AbortableError),
        (AbortableError, AbortableError),
        (Initializing, AbortableError),
    ];
    for from in all {
        for to in all {
            let expected = to == FatalError || valid.contains(&(from, to));
            assert_eq!(from.can_transition_to(to), expected, "{from} -> {to}");
        }
    }
}

#[test]
fn init_finds_the_coordinator_then_gets_a_producer_id() {
    let mut r = Rig::new();
    let res = r.ready();
    assert!(res.get().unwrap().is_ok());
    assert_eq!(r.tm.producer_id_and_epoch(), (7, 0));
    assert!(r.next(false).is_none(), "nothing more to send");
    // A second init is a state error naming the transactional id.
    r.tm.ack(TxnOperation::InitTransactions);
    let e = r.tm.initialize().unwrap_err();
    assert_eq!(e.txn_kind(), Some(TxnErrorKind::InvalidState));
    assert!(e.to_string().contains("tx-1"), "{e}");
}

#[test]
fn sending_needs_init_and_begin() {
    let mut r = Rig::new();
    let e = r.tm.fail_if_not_ready_for_send().unwrap_err();
    assert!(e.to_string().contains("init_transactions"), "{e}");
    r.ready();
    let e = r.tm.fail_if_not_ready_for_send().unwrap_err();
    assert!(e.to_string().contains("begin_transaction") && e.to_string().contains("tx-1"), "{e}");
    r.tm.begin().unwrap();
    r.tm.fail_if_not_ready_for_send().unwrap();
    assert_eq!(TransactionManager::mirrored_state(&r.tm.state_mirror()), TxnState::InTransaction);
}

#[test]
fn calls_in_the_wrong_state_are_refused() {
    let mut r = Rig::new();
    assert_eq!(r.tm.begin().unwrap_err().txn_kind(), Some(TxnErrorKind::InvalidState));
    r.ready();
    let e = r.tm.begin_commit().unwrap_err();
    assert!(e.to_string().contains("begin_transaction"), "{e}");
    assert!(r.tm.begin_abort().is_err());
    assert!(r.tm.send_offsets(vec![], ConsumerGroupMetadata::new("g")).is_err());
    r.tm.begin().unwrap();
    assert!(r.tm.begin().unwrap_err().to_string().contains("already in progress"));
}

#[test]
fn partitions_drain_only_once_added_and_commit_waits_for_batches() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    r.tm.maybe_add_partition(&tp(0));
    r.tm.maybe_add_partition(&tp(1));
    r.tm.maybe_add_partition(&tp(0));
    assert!(!r.tm.is_send_to_partition_allowed(&tp(0)));
    let s = r.expect();
    assert_eq!(s.request, TxnRequest::AddPartitions { producer_id: 7, epoch: 0, partitions: vec![tp(0), tp(1)] });
    // One transactional request at a time.
    assert!(r.next(false).is_none());
    assert!(!r.tm.is_send_to_partition_allowed(&tp(1)), "still in flight");
    r.answer(
        &s,
        TxnOutcome::AddPartitions {
            error: ErrorCode::None,
            partitions: vec![(tp(0), ErrorCode::None), (tp(1), ErrorCode::None)],
        },
    );
    assert!(r.tm.is_send_to_partition_allowed(&tp(0)) && r.tm.is_send_to_partition_allowed(&tp(1)));
    let res = r.tm.begin_commit().unwrap();
    assert!(r.tm.is_completing());
    assert!(r.next(true).is_none(), "EndTxn waits while batches are incomplete");
    r.end_txn(true, ErrorCode::None);
    assert!(res.get().unwrap().is_ok());
    assert_eq!(r.tm.state(), TxnState::Ready);
    assert!(r.tm.partitions_in_transaction().is_empty());
    // The next transaction adds its partitions again.
    r.tm.begin().unwrap();
    assert!(!r.tm.is_send_to_partition_allowed(&tp(0)));
}

#[test]
fn the_drain_gate_adds_a_partition_the_send_path_missed() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    assert!(!r.tm.is_send_to_partition_allowed(&tp(3)));
    let s = r.add_ok();
    assert!(matches!(&s.request, TxnRequest::AddPartitions { partitions, .. } if partitions == &vec![tp(3)]));
    assert!(r.tm.is_send_to_partition_allowed(&tp(3)));
}

#[test]
fn an_empty_transaction_sends_no_end_txn() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    let res = r.tm.begin_commit().unwrap();
    assert!(r.next(false).is_none());
    assert!(res.get().unwrap().is_ok());
    assert_eq!(r.tm.state(), TxnState::Ready);
}

#[test]
fn requests_go_in_priority_order() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    let offsets = vec![(TopicPartition::new("in", 0), OffsetAndMetadata::new(42))];
    let res = r.tm.send_offsets(offsets.clone(), ConsumerGroupMetadata::new("g")).unwrap();
    r.tm.maybe_add_partition(&tp(0));
    let commit = r.tm.begin_commit();
    assert!(commit.is_ok());
    // The coordinator moves: the lookup goes before everything else.
    r.tm.lookup_coordinator(CoordinatorType::Transaction);
    r.find_ok(2);
    // AddOffsets was queued before AddPartitions (same priority, first come first served); EndTxn is last.
    let s = r.expect();
    assert_eq!(s.target, Target::Node(2));
    assert_eq!(s.request, TxnRequest::AddOffsets { producer_id: 7, epoch: 0, group_id: "g".into() });
    r.answer(&s, TxnOutcome::AddOffsets { error: ErrorCode::None });
    // AddPartitions (queued by the commit) was waiting before the TxnOffsetCommit that AddOffsets just queued.
    let s = r.expect();
    assert!(matches!(s.request, TxnRequest::AddPartitions { .. }), "{s:?}");
    r.answer(&s, TxnOutcome::AddPartitions { error: ErrorCode::None, partitions: vec![(tp(0), ErrorCode::None)] });
    // TxnOffsetCommit needs the group coordinator: FindCoordinator(GROUP) first.
    let s = r.expect();
    assert_eq!(s.request, TxnRequest::FindCoordinator { coordinator: CoordinatorType::Group, key: "g".into() });
    r.answer(&s, TxnOutcome::FindCoordinator { error: ErrorCode::None, node_id: 3, host: "g".into(), port: 1 });
    let s = r.expect();
    assert_eq!(s.target, Target::Node(3));
    assert!(matches!(&s.request, TxnRequest::TxnOffsetCommit { offsets: o, .. } if *o == offsets));
    assert!(res.get().is_none(), "send_offsets waits for TxnOffsetCommit");
    r.answer(&s, TxnOutcome::TxnOffsetCommit { partitions: vec![(TopicPartition::new("in", 0), ErrorCode::None)] });
    assert!(res.get().unwrap().is_ok());
    let s = r.expect();
    assert!(matches!(s.request, TxnRequest::EndTxn { commit: true, .. }));
}

#[test]
fn coordinator_errors_are_retried() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    r.tm.maybe_add_partition(&tp(0));
    // NOT_COORDINATOR: look the coordinator up again, then retry after the backoff.
    let s = r.expect();
    r.answer(&s, TxnOutcome::AddPartitions { error: ErrorCode::NotCoordinator, partitions: vec![] });
    assert_eq!(r.tm.coordinator(CoordinatorType::Transaction), None);
    r.find_ok(4);
    assert!(r.next(false).is_none(), "backing off");
    r.now += Duration::from_millis(100);
    let s = r.expect();
    assert_eq!(s.target, Target::Node(4));
    // COORDINATOR_LOAD_IN_PROGRESS and CONCURRENT_TRANSACTIONS: same coordinator, growing backoff.
    r.answer(&s, TxnOutcome::AddPartitions { error: ErrorCode::CoordinatorLoadInProgress, partitions: vec![] });
    r.now += Duration::from_millis(100);
    let mut wait = Duration::from_secs(10);
    assert!(r.tm.next_request(r.now, false, &mut wait).is_none());
    assert_eq!(wait, Duration::from_millis(100), "second attempt waits 200 ms");
    r.now += wait;
    let s = r.expect();
    r.answer(
        &s,
        TxnOutcome::AddPartitions {
            error: ErrorCode::None,
            partitions: vec![(tp(0), ErrorCode::ConcurrentTransactions)],
        },
    );
    r.now += Duration::from_secs(1);
    r.add_ok();
    // A lost connection: retried on a fresh coordinator lookup.
    let res = r.tm.begin_commit().unwrap();
    let s = r.expect();
    r.answer(&s, TxnOutcome::Disconnected { reason: "closed".into() });
    r.find_ok(5);
    r.now += Duration::from_secs(1);
    r.end_txn(true, ErrorCode::None);
    assert!(res.get().unwrap().is_ok());
}

#[test]
fn fencing_is_fatal_for_every_later_call() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    r.tm.maybe_add_partition(&tp(0));
    r.add_ok();
    let res = r.tm.begin_commit().unwrap();
    r.end_txn(true, ErrorCode::ProducerFenced);
    let got = res.get().unwrap();
    assert_eq!(kind(&got), Some(TxnErrorKind::Fenced));
    assert!(got.unwrap_err().to_string().contains("tx-1"));
    assert_eq!(r.tm.state(), TxnState::FatalError);
    r.tm.ack(TxnOperation::Commit);
    for e in [
        r.tm.begin().unwrap_err(),
        r.tm.begin_abort().unwrap_err(),
        r.tm.fail_if_not_ready_for_send().unwrap_err(),
        r.tm.send_offsets(vec![], ConsumerGroupMetadata::new("g")).unwrap_err(),
    ] {
        assert_eq!(e.txn_kind(), Some(TxnErrorKind::Fenced), "{e}");
    }
    assert!(!r.tm.is_send_to_partition_allowed(&tp(0)));
    assert!(r.next(false).is_none());
}

#[test]
fn fatal_errors_fail_queued_callers_at_once() {
    let mut r = Rig::new();
    let res = r.tm.initialize().unwrap();
    r.find_ok(1);
    let s = r.expect();
    r.answer(
        &s,
        TxnOutcome::InitProducerId { error: ErrorCode::TransactionalIdAuthorizationFailed, producer_id: -1, epoch: -1 },
    );
    assert_eq!(kind(&res.get().unwrap()), Some(TxnErrorKind::Fatal));
    assert!(res.get().unwrap().unwrap_err().to_string().contains("TRANSACTIONAL_ID_AUTHORIZATION_FAILED"));
}

#[test]
fn abortable_errors_recover_after_abort() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    r.tm.maybe_add_partition(&tp(0));
    r.add_ok();
    let err = ProducerError::Broker {
        topic_partition: TopicPartition::new("t", 0),
        code: ErrorCode::TopicAuthorizationFailed,
        message: None,
    };
    r.tm.on_batch_failed(&err);
    assert_eq!(r.tm.state(), TxnState::AbortableError);
    assert!(r.tm.should_abort_undrained());
    let e = r.tm.begin_commit().unwrap_err();
    assert_eq!(e.txn_kind(), Some(TxnErrorKind::Abortable));
    assert!(e.to_string().contains("TOPIC_AUTHORIZATION_FAILED"), "{e}");
    assert!(r.tm.fail_if_not_ready_for_send().is_err());
    let res = r.tm.begin_abort().unwrap();
    r.end_txn(false, ErrorCode::None);
    assert!(res.get().unwrap().is_ok());
    assert_eq!(r.tm.state(), TxnState::Ready);
    r.tm.ack(TxnOperation::Abort);
    r.tm.begin().unwrap();
}

#[test]
fn our_own_abort_does_not_poison_the_state() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    r.tm.maybe_add_partition(&tp(0));
    r.add_ok();
    let _ = r.tm.begin_abort().unwrap();
    r.tm.on_batch_failed(&r.tm.abort_error());
    assert_eq!(r.tm.state(), TxnState::AbortingTransaction);
    r.end_txn(false, ErrorCode::None);
    assert_eq!(r.tm.state(), TxnState::Ready);
}

#[test]
fn unknown_producer_id_bumps_the_epoch_through_the_coordinator_after_abort() {
    let mut r = Rig::new();
    r.ready();
    r.tm.begin().unwrap();
    r.tm.maybe_add_partition(&tp(0));
    r.add_ok();
    r.tm.on_batch_failed(&ProducerError::Broker {
        topic_partition: TopicPartition::new("t", 0),
        code: ErrorCode::UnknownProducerId,
        message: None,
    });
    assert_eq!(r.tm.state(), TxnState::AbortableError);
    let res = r.tm.begin_abort().unwrap();
    r.end_txn(false, ErrorCode::None);
    assert_eq!(r.tm.state(), TxnState::Initializing);
    assert!(res.get().is_none(), "the abort waits for the bump");
    let s = r.expect();
    assert_eq!(s.request, TxnRequest::InitProducerId { transaction_timeout_ms: 60_000, producer_id: 7, epoch: 0 });
    let fx = r.answer(&s, TxnOutcome::InitProducerId { error: ErrorCode::None, producer_id: 7, epoch: 1 });
    assert_eq!(fx, vec![TxnEffect::ProducerIdAndEpoch { producer_id: 7, epoch: 1 }]);
    assert!(res.get().unwrap().is_ok());
    assert_eq!(r.tm.state(), TxnState::Ready);
}

#[test]
fn protocol_v2_adds_partitions_implicitly_and_adopts_the_end_txn_epoch() {
    let mut r = Rig::new();
    r.ready();
    r.tm.set_protocol_v2(true);
    r.tm.begin().unwrap();
    r.tm.maybe_add_partition(&tp(0));
    assert!(r.tm.is_send_to_partition_allowed(&tp(0)), "no AddPartitionsToTxn under v2");
    let offsets = vec![(TopicPartition::new("in", 1), OffsetAndMetadata::new(5))];
    let res = r.tm.send_offsets(offsets, ConsumerGroupMetadata::new("g")).unwrap();
    // No AddOffsetsToTxn either: straight to the group coordinator.
    let s = r.expect();
    assert!(matches!(s.request, TxnRequest::FindCoordinator { coordinator: CoordinatorType::Group, .. }));
    r.answer(&s, TxnOutcome::FindCoordinator { error: ErrorCode::None, node_id: 2, host: "h".into(), port: 2 });
    let s = r.expect();
    assert!(matches!(s.request, TxnRequest::TxnOffsetCommit { .. }));
    r.answer(&s, TxnOutcome::TxnOffsetCommit { partitions: vec![(TopicPartition::new("in", 1), ErrorCode::None)] });
    assert!(res.get().unwrap().is_ok());
    r.tm.ack(TxnOperation::SendOffsets);
    let res = r.tm.begin_commit().unwrap();
    let s = r.expect();
    let fx = r.answer(&s, TxnOutcome::EndTxn { error: ErrorCode::None, producer_id: 7, epoch: 1 });
    assert_eq!(fx, vec![TxnEffect::ProducerIdAndEpoch { producer_id: 7, epoch: 1 }]);
    assert_eq!(r.tm.producer_id_and_epoch(), (7, 1));
    assert!(res.get().unwrap().is_ok());
}

#[test]
fn a_timed_out_call_resumes_and_blocks_other_calls() {
    let mut r = Rig::new();
    r.ready();
    r.tm.ack(TxnOperation::InitTransactions);
    r.tm.begin().unwrap();
    r.tm.maybe_add_partition(&tp(0));
    r.add_ok();
    let a = r.tm.begin_commit().unwrap();
    // The caller timed out; calling commit again resumes the same outcome, abort is refused.
    let b = r.tm.begin_commit().unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let e = r.tm.begin_abort().unwrap_err();
    assert!(e.to_string().contains("timed out and must be retried"), "{e}");
    r.end_txn(true, ErrorCode::None);
    assert!(b.get().unwrap().is_ok());
    r.tm.ack(TxnOperation::Commit);
    r.tm.begin().unwrap();
}

#[test]
fn txn_offset_commit_retries_only_failed_partitions() {
    let mut r = Rig::new();
    r.ready();
    r.tm.set_protocol_v2(true);
    r.tm.begin().unwrap();
    let offsets = vec![
        (TopicPartition::new("in", 0), OffsetAndMetadata::new(1)),
        (TopicPartition::new("in", 1), OffsetAndMetadata::new(2)),
    ];
    let res = r.tm.send_offsets(offsets, ConsumerGroupMetadata::new("g")).unwrap();
    r.find_ok(2);
    let s = r.expect();
    r.answer(
        &s,
        TxnOutcome::TxnOffsetCommit {
            partitions: vec![
                (TopicPartition::new("in", 0), ErrorCode::None),
                (TopicPartition::new("in", 1), ErrorCode::CoordinatorLoadInProgress),
            ],
        },
    );
    r.now += Duration::from_secs(1);
    let s = r.expect();
    let TxnRequest::TxnOffsetCommit { offsets, .. } = &s.request else { panic!("{s:?}") };
    assert_eq!(offsets.len(), 1);
    assert_eq!(offsets[0].0, TopicPartition::new("in", 1));
    r.answer(&s, TxnOutcome::TxnOffsetCommit { partitions: vec![(TopicPartition::new("in", 1), ErrorCode::None)] });
    assert!(res.get().unwrap().is_ok());
}
