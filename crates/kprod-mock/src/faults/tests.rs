use super::*;
use crate::state::{ClusterConfig, ClusterState};
use std::net::SocketAddr;

fn state(brokers: usize) -> Arc<ClusterState> {
    let addrs = (0..brokers).map(|i| SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16))).collect();
    Arc::new(ClusterState::new(ClusterConfig::default(), addrs))
}

#[test]
fn latency_samples_follow_their_distribution() {
    let mut rng = SmallRng::seed_from_u64(1);
    assert_eq!(Latency::Fixed { ms: 5.0 }.sample(&mut rng), Duration::from_millis(5));
    let u = Latency::Uniform { min_ms: 10.0, max_ms: 20.0 };
    for _ in 0..100 {
        let d = u.sample(&mut rng);
        assert!(d >= Duration::from_millis(10) && d < Duration::from_millis(20), "{d:?}");
    }
    let e = Latency::Exponential { mean_ms: 10.0 };
    let mean_ms: f64 = (0..4000).map(|_| e.sample(&mut rng).as_secs_f64() * 1000.0).sum::<f64>() / 4000.0;
    assert!((8.5..11.5).contains(&mean_ms), "exponential mean {mean_ms}");
    let n = Latency::Normal { mean_ms: 1.0, stddev_ms: 50.0 };
    assert!((0..200).all(|_| n.sample(&mut rng) <= LATENCY_MAX), "negative draws clamp to 0, never wrap");
    assert!(Latency::Uniform { min_ms: 3.0, max_ms: 1.0 }.check().is_err());
    assert!(Latency::Fixed { ms: f64::NAN }.check().is_err());
}

#[test]
fn handle_arms_and_disarms_brokers() {
    let s = state(2);
    let f = Faults::new(s.clone());
    assert!(!s.faults.broker_armed(0));
    f.set_throttle(1, 30).unwrap();
    assert!(s.faults.broker_armed(1) && !s.faults.broker_armed(0));
    f.drop_connections(0, DropPoint::AfterAppend, 2).unwrap();
    assert!(s.faults.broker_armed(0));
    assert_eq!(f.set_latency(5, None).unwrap_err(), FaultError::UnknownBroker { broker: 5, brokers: 2 });
    assert_eq!(f.set_bandwidth(0, Some(0)).unwrap_err(), FaultError::ZeroBandwidth { broker: 0 });
    f.clear();
    assert!(!s.faults.broker_armed(0) && !s.faults.broker_armed(1));
}

#[test]
fn partition_errors_are_consumed_count_times() {
    let s = state(1);
    let f = Faults::new(s.clone());
    let target = ErrorTarget::Partition { topic: "t".into(), partition: 1 };
    f.fail_produce(target, ErrorCode::NotEnoughReplicas, 2).unwrap();
    assert!(s.faults.partitions_armed());
    assert_eq!(s.faults.take_partition_error("t", 0), None);
    assert_eq!(s.faults.take_partition_error("t", 1), Some(ErrorCode::NotEnoughReplicas));
    assert_eq!(s.faults.take_partition_error("t", 1), Some(ErrorCode::NotEnoughReplicas));
    assert_eq!(s.faults.take_partition_error("t", 1), None);
    assert!(!s.faults.partitions_armed());
}

#[test]
fn plan_deserializes_from_yaml_and_applies() {
    let yaml = r#"
latency:
  - { broker: 0, latency: { dist: exponential, mean_ms: 2.5 } }
bandwidth:
  - { broker: 1, bytes_per_s: 1000000 }
produce_errors:
  - { target: { broker: 0 }, error: NOT_LEADER_OR_FOLLOWER, count: 3 }
  - { target: { topic: orders, partition: 2 }, error: 7, count: 1 }
drop_connections:
  - { broker: 1, at: after_append, count: 1 }
leader_moves:
  - { topic: orders, partition: 0, to_broker: 1 }
throttle:
  - { broker: 1, ms: 100 }
brokers_down: [1]
"#;
    let plan: FaultPlan = serde_yaml_ng::from_str(yaml).unwrap();
    assert_eq!(plan.latency[0].latency, Latency::Exponential { mean_ms: 2.5 });
    assert_eq!(plan.produce_errors[0].error, ErrorName(ErrorCode::NotLeaderOrFollower));
    assert_eq!(plan.produce_errors[1].error, ErrorName(ErrorCode::RequestTimedOut));
    assert_eq!(plan.brokers_down, vec![1]);
    let s = state(2);
    s.create_topic("orders", 3).unwrap();
    Faults::new(s.clone()).apply(&plan).unwrap();
    assert_eq!(s.topic("orders").unwrap().partitions[0].leader(), 1);
    assert_eq!(s.topic("orders").unwrap().partitions[0].leader_epoch(), 1);
    assert_eq!(
        s.faults.with_broker(0, |f| f.produce_errors.front().copied()),
        Some(Some((ErrorCode::NotLeaderOrFollower, 3)))
    );
    let bad: Result<FaultPlan, _> =
        serde_yaml_ng::from_str("produce_errors: [{target: {broker: 0}, error: NOPE, count: 1}]");
    assert!(bad.unwrap_err().to_string().contains("NOPE"));
    assert!(serde_yaml_ng::from_str::<FaultPlan>("latncy: []").is_err(), "unknown keys are refused");
}

#[test]
fn stale_metadata_names_the_leader_before_the_move_for_count_answers() {
    let s = state(2);
    let f = Faults::new(s.clone());
    s.create_topic("t", 1).unwrap();
    f.move_leader("t", 0, 1).unwrap();
    let p = s.topic("t").unwrap().partitions[0].clone();
    assert_eq!(p.announced_leader(false), (1, 1));
    assert_eq!(p.announced_leader(true), (0, 0), "before the move: broker 0, epoch 0");
    f.stale_metadata(2);
    assert!(s.faults.take_stale_metadata() && s.faults.take_stale_metadata());
    assert!(!s.faults.take_stale_metadata(), "two stale answers, then fresh ones");
    f.stale_metadata(1);
    f.clear();
    assert!(!s.faults.take_stale_metadata(), "clear removes it");
}

#[test]
fn added_partitions_keep_the_old_logs_and_leaders() {
    let s = state(2);
    let old = s.create_topic("t", 2).unwrap();
    s.move_leader("t", 1, 0).unwrap();
    old.partitions[1].log().next_offset = 7;
    let grown = s.add_partitions("t", 5).unwrap();
    assert_eq!(grown.partitions.len(), 5);
    assert_eq!(grown.id, old.id);
    assert!(Arc::ptr_eq(&grown.partitions[1], &old.partitions[1]), "the same partition, log and all");
    assert_eq!((grown.partitions[1].leader(), grown.partitions[1].log().next_offset), (0, 7));
    assert_eq!(grown.partitions[4].leader(), 0, "new partition p is led by p % brokers");
    assert_eq!(s.topic("t").unwrap().partitions.len(), 5);
    assert!(s.add_partitions("t", 3).is_err(), "partitions cannot shrink");
    assert!(s.add_partitions("nope", 3).is_err());
}
