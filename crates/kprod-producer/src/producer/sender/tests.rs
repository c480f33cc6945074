//! Fast unit tests of the sender core's decisions with a fake clock: no runtime, no socket. A core is set up with
//! a known cluster and one connection (its handshake from the mock broker's ApiVersions), then driven by hand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::SeedableRng;

use super::conn::Conn;
use super::idempotence::{next_seq, seq_after};
use super::{IoAction, SenderCore};
use crate::producer::accumulator::{AppendOutcome, AppendRecord};
use crate::producer::connection::Handshake;
use crate::producer::metadata::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
use crate::producer::{Producer, ProducerConfig};
use crate::protocol::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::{ErrorCode, decode_response, request_frame};
use kprod_mock::handler::handle_frame;
use kprod_mock::sasl::Session;
use kprod_mock::state::{ClusterConfig, ClusterState};

const TOPIC: &str = "t";

/// A core for a 1-broker cluster whose topic `t` has `partitions` partitions led by broker 0, connected.
fn core_with(config: &[(&str, &str)], partitions: i32) -> (SenderCore, Arc<crate::producer::client::Shared>) {
    let mut cfg = ProducerConfig::default();
    cfg.set("bootstrap.servers", "127.0.0.1:19092").unwrap();
    for (k, v) in config {
        cfg.set(k, v).unwrap();
    }
    let sh = Producer::<Bytes, Bytes>::builder(cfg).into_shared().unwrap();
    let mut core = SenderCore::new(sh.clone(), 1);
    let cluster = Cluster::new(
        vec![BrokerInfo { id: 0, host: "127.0.0.1".into(), port: 19092 }],
        vec![TopicInfo {
            name: Arc::from(TOPIC),
            partitions: (0..partitions).map(|p| PartitionInfo { partition: p, leader: 0, leader_epoch: 0 }).collect(),
            available: (0..partitions as u32).collect(),
            error: ErrorCode::None,
        }],
        None,
        Some(Instant::now()),
    );
    sh.metadata.set(cluster.clone());
    sh.metadata.want(TOPIC);
    core.cluster = Arc::new(cluster);
    core.last_metadata_ok = Some(Instant::now() + Duration::from_secs(3600));
    let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:19092".parse().unwrap()]);
    let req = ApiVersionsRequest { client_software_name: "t".into(), client_software_version: "1".into() };
    let frame = request_frame(3, 0, None, &req, 0).unwrap();
    let mut out = BytesMut::new();
    handle_frame(&state, 0, &mut Session::default(), frame.slice(4..), &mut out);
    let (_, body): (_, ApiVersionsResponse) = decode_response(out.freeze().slice(4..), 3).unwrap();
    core.conns.insert(0, Conn::new(7, "127.0.0.1:19092".into(), None, Handshake::from_api_versions(&body).unwrap()));
    (core, sh)
}

fn append(sh: &crate::producer::client::Shared, partition: u32, now: Instant) {
    let t = sh.acc.topic(TOPIC, partition + 1);
    let rec = AppendRecord { timestamp_ms: 0, key: None, value: Some(b"v"), headers: &[], user_data: 0 };
    let out = sh.acc.append(&t, partition, &rec, &mut None, false, false, now);
    assert!(matches!(out, AppendOutcome::Appended { .. }), "{out:?}");
}

fn transmitted(core: &mut SenderCore) -> usize {
    let mut n = 0;
    core.drain_transmits(|_, _| n += 1);
    n
}

#[test]
fn linger_deadline_is_exact_to_the_microsecond() {
    let (mut core, sh) = core_with(&[("linger.ms", "1"), ("enable.idempotence", "false"), ("acks", "1")], 1);
    let t0 = Instant::now();
    append(&sh, 0, t0);
    core.poll(t0);
    assert_eq!(transmitted(&mut core), 0, "nothing before linger.ms");
    assert_eq!(core.poll_timeout(), Some(t0 + Duration::from_millis(1)), "the deadline is the batch's linger end");
    core.poll(t0 + Duration::from_micros(999));
    assert_eq!(transmitted(&mut core), 0, "1 µs early: still lingering");
    core.poll(t0 + Duration::from_millis(1));
    assert_eq!(transmitted(&mut core), 1, "sent exactly at linger.ms");
}

#[test]
fn request_timeout_is_a_deadline_and_closes_the_connection() {
    let (mut core, sh) = core_with(&[("linger.ms", "0"), ("enable.idempotence", "false"), ("acks", "1")], 1);
    let t0 = Instant::now();
    append(&sh, 0, t0);
    core.poll(t0);
    assert_eq!(transmitted(&mut core), 1);
    let timeout = sh.config.request_timeout;
    assert_eq!(core.timers.get(super::timer::Timer::RequestTimeout), Some(t0 + timeout));
    core.poll(t0 + timeout);
    assert_eq!(core.poll_io(), Some(IoAction::Close { conn_id: 7 }), "the timed-out connection is dropped");
    assert!(core.conns.is_empty());
}

#[test]
fn idempotent_partition_keeps_one_batch_in_flight_until_its_first_ack() {
    let (mut core, sh) = core_with(&[("linger.ms", "0"), ("batch.size", "100")], 1);
    let idem = core.idem.as_mut().unwrap();
    idem.reset(1000, 0);
    let t0 = Instant::now();
    for _ in 0..40 {
        append(&sh, 0, t0);
    }
    core.poll(t0);
    assert_eq!(transmitted(&mut core), 1, "one request");
    let p = &core.idem.as_ref().unwrap().partitions[&crate::producer::TopicPartition::new(TOPIC, 0)];
    assert_eq!(p.in_flight.len(), 1, "no ack yet in this epoch: a single batch in flight");
    assert_eq!(p.last_acked, None);
    core.poll(t0 + Duration::from_millis(1));
    assert_eq!(transmitted(&mut core), 0, "the next batch waits for the first ack");
}

#[test]
fn a_local_epoch_bump_keeps_the_producer_id_and_restarts_sequences() {
    let (mut core, _sh) = core_with(&[("linger.ms", "0")], 1);
    let idem = core.idem.as_mut().unwrap();
    idem.reset(1000, 4);
    idem.partitions.entry(crate::producer::TopicPartition::new(TOPIC, 0)).or_default().next_sequence = 77;
    idem.bump_needed = true;
    core.poll(Instant::now());
    let idem = core.idem.as_ref().unwrap();
    assert_eq!((idem.producer_id, idem.epoch), (1000, 5), "same id, epoch + 1 (fences late requests of epoch 4)");
    assert!(idem.partitions.is_empty() && !idem.bump_needed);
    assert!(core.poll_io().is_none(), "no InitProducerId: the bump is local");
}

#[test]
fn sequences_wrap_and_compare_in_kafkas_space() {
    assert_eq!(next_seq(i32::MAX - 1, 2), 0);
    assert_eq!(next_seq(5, 3), 8);
    assert!(seq_after(1, 0) && !seq_after(0, 1) && !seq_after(3, 3));
    assert!(seq_after(0, i32::MAX), "0 follows i32::MAX");
    assert!(seq_after(10, i32::MAX - 5));
}

#[test]
fn backoff_jitter_is_seeded() {
    use rand::SeedableRng;
    let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
    let a: Vec<Duration> = {
        let rng = &mut rand::rngs::SmallRng::seed_from_u64(9);
        (1..6).map(|n| super::exp_backoff(base, max, n, rng)).collect()
    };
    let b: Vec<Duration> = {
        let rng = &mut rand::rngs::SmallRng::seed_from_u64(9);
        (1..6).map(|n| super::exp_backoff(base, max, n, rng)).collect()
    };
    assert_eq!(a, b, "the same seed gives the same backoffs");
}

#[test]
fn a_split_batch_keeps_its_sequence_range_without_a_bump() {
    let (mut core, sh) = core_with(&[("linger.ms", "0"), ("batch.size", "16384")], 1);
    core.idem.as_mut().unwrap().reset(1000, 0);
    let t0 = Instant::now();
    for _ in 0..20 {
        append(&sh, 0, t0);
    }
    core.poll(t0);
    assert_eq!(transmitted(&mut core), 1);
    let req = core.conns.get_mut(&0).unwrap().in_flight.pop_front().unwrap();
    let super::conn::InFlightKind::Produce { mut batches, .. } = req.kind else { panic!("a produce request") };
    let batch = batches.pop().unwrap();
    assert_eq!(batch.stamped, Some((1000, 0, 0)));
    core.handle_batch_error(batch, ErrorCode::MessageTooLarge, None, t0);
    let idem = core.idem.as_ref().unwrap();
    assert!(!idem.bump_needed, "no epoch bump for a split");
    let pieces = sh.acc.remove_where(|_| true);
    assert!(pieces.len() >= 2, "split into pieces");
    let mut seq = 0;
    for p in &pieces {
        assert_eq!(p.stamped, Some((1000, 0, seq)), "pieces take over the batch's sequences in order");
        seq += p.record_count() as i32;
    }
    assert_eq!(seq, 20);
}

#[test]
fn a_maybe_appended_batch_is_never_split() {
    let (mut core, sh) = core_with(&[("linger.ms", "0")], 1);
    core.idem.as_mut().unwrap().reset(1000, 0);
    let t0 = Instant::now();
    for _ in 0..20 {
        append(&sh, 0, t0);
    }
    core.poll(t0);
    let req = core.conns.get_mut(&0).unwrap().in_flight.pop_front().unwrap();
    let super::conn::InFlightKind::Produce { mut batches, .. } = req.kind else { panic!("a produce request") };
    let mut batch = batches.pop().unwrap();
    batch.maybe_appended = true;
    let done = batch.completion.clone();
    core.handle_batch_error(batch, ErrorCode::MessageTooLarge, None, t0);
    assert!(sh.acc.remove_where(|_| true).is_empty(), "not re-queued");
    match done.get() {
        Some(Err(crate::producer::ProducerError::Broker { code: ErrorCode::MessageTooLarge, message, .. })) => {
            assert!(message.as_deref().unwrap_or("").contains("may already be in the log"), "{message:?}")
        }
        other => panic!("expected MESSAGE_TOO_LARGE with its reason, got {other:?}"),
    }
}

#[test]
fn backoff_grows_and_is_capped() {
    let base = Duration::from_millis(100);
    let max = Duration::from_millis(1000);
    let rng = &mut rand::rngs::SmallRng::seed_from_u64(7);
    for _ in 0..100 {
        let b1 = super::exp_backoff(base, max, 1, rng);
        assert!(b1 >= Duration::from_millis(80) && b1 <= Duration::from_millis(120), "{b1:?}");
        let b3 = super::exp_backoff(base, max, 3, rng);
        assert!(b3 >= Duration::from_millis(320) && b3 <= Duration::from_millis(480), "{b3:?}");
        let b10 = super::exp_backoff(base, max, 10, rng);
        assert!(b10 <= Duration::from_millis(1200), "{b10:?}");
    }
}

/// What `on_batch_acked` was given of each record: (`user_data`, key size, value size).
#[derive(Default)]
struct AckedRecords(std::sync::Mutex<Vec<(u64, i32, i32)>>);

impl crate::producer::hooks::ProducerHooks for AckedRecords {
    fn on_batch_acked(&self, ev: &crate::producer::hooks::BatchEvent<'_>) {
        self.0.lock().unwrap().extend(ev.records.iter().map(|r| (r.user_data, r.key_size, r.value_size)));
    }
}

/// The value sizes `on_acknowledgement` was given.
struct AckedSizes(Arc<std::sync::Mutex<Vec<i32>>>);

impl crate::producer::interceptor::ProducerInterceptor<Bytes, Bytes> for AckedSizes {
    fn on_acknowledgement(&self, outcome: Result<&crate::producer::RecordMetadata, &crate::producer::ProducerError>) {
        self.0.lock().unwrap().push(outcome.unwrap().serialized_value_size);
    }
}

/// Issue 19: a batch keeps every record's facts only when hooks or `on_acknowledgement` interceptors read them.
/// Hooks then get all of them and interceptors each record's metadata, as before; without either the batch keeps
/// its record count only, and a record's callback still gets its own metadata (its facts travel with it).
#[test]
fn record_facts_are_kept_for_hooks_and_interceptors_only() {
    use crate::producer::accumulator::{BatchAck, Callback, OpenGate};
    type Outcome = Result<crate::producer::RecordMetadata, crate::producer::ProducerError>;
    for (hooked, intercepted) in [(false, false), (true, false), (false, true)] {
        let hook = Arc::new(AckedRecords::default());
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut cfg = ProducerConfig::default();
        cfg.set("bootstrap.servers", "127.0.0.1:19092").unwrap();
        let mut builder = Producer::<Bytes, Bytes>::builder(cfg);
        if hooked {
            builder = builder.hooks(hook.clone());
        }
        if intercepted {
            builder = builder.interceptor(AckedSizes(sizes.clone()));
        }
        let sh = builder.into_shared().unwrap();
        let keeps = hooked || intercepted;
        assert_eq!(sh.acc.keeps_record_infos(), keeps, "hooks {hooked}, interceptors {intercepted}");
        let t = sh.acc.topic(TOPIC, 1);
        let now = Instant::now();
        let called: Arc<std::sync::Mutex<Option<Outcome>>> = Arc::default();
        for i in 0..3u64 {
            let value = vec![2u8; 10 + i as usize];
            let rec = AppendRecord {
                timestamp_ms: 1_000 + i as i64,
                key: Some(b"four"),
                value: Some(&value),
                headers: &[],
                user_data: i,
            };
            let mut cb: Option<Callback> = (i == 1).then(|| {
                let called = called.clone();
                Box::new(move |r: Outcome| *called.lock().unwrap() = Some(r)) as Callback
            });
            let out = sh.acc.append(&t, 0, &rec, &mut cb, false, false, now);
            assert!(matches!(out, AppendOutcome::Appended { index, .. } if index == i as u32), "{out:?}");
        }
        let cluster = Cluster::new(
            vec![BrokerInfo { id: 0, host: "127.0.0.1".into(), port: 19092 }],
            vec![TopicInfo {
                name: Arc::from(TOPIC),
                partitions: vec![PartitionInfo { partition: 0, leader: 0, leader_epoch: 0 }],
                available: vec![0],
                error: ErrorCode::None,
            }],
            None,
            Some(now),
        );
        let mut drained = sh.acc.drain(&cluster, 0, usize::MAX, &mut OpenGate, now);
        assert_eq!(drained.len(), 1);
        let batch = drained.pop().unwrap();
        assert_eq!(batch.record_count(), 3);
        assert_eq!(batch.records.len(), if keeps { 3 } else { 0 }, "hooks {hooked}, interceptors {intercepted}");
        let ack = BatchAck { base_offset: 100, log_append_time_ms: -1 };
        super::produce::complete_batch(&sh, batch, Ok(ack), now, false);
        let expected_hook = if hooked { vec![(0, 4, 10), (1, 4, 11), (2, 4, 12)] } else { vec![] };
        assert_eq!(*hook.0.lock().unwrap(), expected_hook);
        assert_eq!(*sizes.lock().unwrap(), if intercepted { vec![10, 11, 12] } else { vec![] });
        let md = called.lock().unwrap().take().expect("the callback ran").unwrap();
        assert_eq!(
            (md.offset, md.timestamp_ms, md.serialized_key_size, md.serialized_value_size),
            (101, 1_001, 4, 11),
            "the callback's record, hooks {hooked}, interceptors {intercepted}"
        );
    }
}
