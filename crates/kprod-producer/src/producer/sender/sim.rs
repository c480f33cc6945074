//! Deterministic simulation of the producer against the mock broker (issue 15), in the manner of quinn-proto's
//! `Pair::drive`: the accumulator and the sans-IO [`SenderCore`] on one side, the mock broker's sans-IO
//! [`handle_frame`] on the other, joined by an in-memory network with a fake clock and a seeded scheduler. Nothing
//! sleeps, nothing touches a socket; one seed is one exact run.
//!
//! A seed draws the producer settings, the workload (keyed records in bursts) and a fault schedule: per-partition
//! errors inside one response (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS,
//! UNKNOWN_TOPIC_OR_PARTITION, MESSAGE_TOO_LARGE), whole-request errors, connections dropped before and after the
//! broker appended, refused connects, latency spikes past `request.timeout.ms` (responses then come late, and
//! differently on each connection), leader moves the client learns of only by NOT_LEADER_OR_FOLLOWER (and, half the
//! time, stale metadata that still names the old leader for a few answers), partitions added to the topic (keys
//! then map elsewhere), a partition that loses every producer's state, and a brand-new topic whose leaders refuse
//! the first batches. The mock broker keeps Kafka's producer-state rules, including "a producer with no state is
//! accepted at any sequence".
//!
//! A third of the seeds are transactional: the workload runs transactions of 1–40 records, commits most and aborts
//! some, and aborts, as an application must, a transaction whose commit failed with an abortable error. On top of
//! the faults above they meet transaction coordinator moves and errors on the transactional requests (retriable
//! ones, and TRANSACTION_ABORTABLE / TOPIC_AUTHORIZATION_FAILED that make the transaction abortable). The broker's
//! transaction coordinator reads the simulation's clock too.
//!
//! After each run these invariants are checked ([`check`]):
//! - every record ends, acknowledged or failed with a Kafka error, within `delivery.timeout.ms` +
//!   `request.timeout.ms` of its append (a batch in flight is not expired before its request times out);
//! - no record is in the log twice; every acknowledged record is in the log exactly once, at the offset its ack
//!   gave;
//! - each partition's log order equals its send order;
//! - transactional runs: a committed transaction's records are all acknowledged and all visible to a
//!   read_committed reader, an aborted one's are not visible, one whose end is unknown (a fatal error) is all or
//!   nothing; a record that was never sent (its transaction could not go on) is not in the log;
//! - the run ends (the producer closes) within a bounded simulated time and number of steps: no hang, no panic.
//!
//! A failing seed panics with the command that replays it:
//! `KPROD_SIM_SEED=<seed> cargo test -p kprod-producer --lib producer::sender::sim::replay -- --nocapture`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::{IoAction, SenderCore};
use crate::producer::accumulator::{AppendOutcome, AppendRecord};
use crate::producer::client::Shared;
use crate::producer::connection::Handshake;
use crate::producer::record::TopicPartition;
use crate::producer::transaction::{TxnOperation, TxnResult};
use crate::producer::{Producer, ProducerConfig, ProducerError};
use crate::protocol::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::{ErrorCode, decode_response, request_frame};
use crate::record::control::{ControlRecordType, control_record_of};
use crate::record::reader::RecordBatch;
use kprod_mock::faults::{CoordinatorKind, DropPoint, ErrorTarget, Faults, TxnApi};
use kprod_mock::handler::{Outcome, handle_frame};
use kprod_mock::sasl::Session;
use kprod_mock::state::{ClusterConfig, ClusterState};

const TOPIC: &str = "sim";
/// The `transactional.id` of transactional seeds.
const TXN_ID: &str = "sim-txn";
/// The broker's clock at simulated time zero (ms since the epoch).
const BROKER_CLOCK_BASE_MS: i64 = 1_700_000_000_000;
/// Simulated time after which a run counts as hung.
const SIM_TIME_MAX: Duration = Duration::from_secs(600);
/// Loop iterations after which a run counts as hung (busy without progress).
const STEPS_MAX: u64 = 2_000_000;

/// What one seed runs.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub seed: u64,
    pub brokers: usize,
    pub partitions: i32,
    pub records: usize,
    /// The topic exists before the producer starts; otherwise it is auto-created and its leaders refuse the first
    /// batches (the issue 15 scenario).
    pub topic_exists: bool,
    /// Probability that a produce request meets a fault.
    pub fault_rate: f64,
    /// The workload runs transactions (`transactional.id` set).
    pub transactional: bool,
    /// The producer's settings (besides bootstrap.servers).
    pub config: Vec<(&'static str, String)>,
}

impl Scenario {
    /// The scenario seed `seed` draws.
    pub(super) fn from_seed(seed: u64) -> Scenario {
        let rng = &mut SmallRng::seed_from_u64(seed ^ 0x5eed_5eed);
        let linger_ms = [0, 1, 2, 5][rng.gen_range(0..4)];
        let batch_size = [256, 600, 2048, 16384][rng.gen_range(0..4)];
        let in_flight = [1, 2, 5][rng.gen_range(0..3)];
        let compression = ["none", "lz4", "gzip"][rng.gen_range(0..3)];
        let mut scenario = Scenario {
            seed,
            brokers: rng.gen_range(1..=3),
            partitions: rng.gen_range(1..=6),
            records: rng.gen_range(50..=600),
            topic_exists: rng.gen_bool(0.5),
            fault_rate: [0.0, 0.05, 0.15, 0.3][rng.gen_range(0..4)],
            config: vec![
                ("enable.idempotence", "true".into()),
                ("acks", "all".into()),
                ("linger.ms", linger_ms.to_string()),
                ("batch.size", batch_size.to_string()),
                ("max.in.flight.requests.per.connection", in_flight.to_string()),
                ("compression.type", compression.into()),
                ("request.timeout.ms", "1000".into()),
                ("delivery.timeout.ms", "20000".into()),
                ("retry.backoff.ms", "20".into()),
                ("retry.backoff.max.ms", "200".into()),
                ("reconnect.backoff.ms", "10".into()),
                ("reconnect.backoff.max.ms", "200".into()),
                ("metadata.max.age.ms", "5000".into()),
            ],
            transactional: false,
        };
        // Drawn last, so the seeds of the non-transactional scenarios kept their draws.
        if rng.gen_bool(1.0 / 3.0) {
            scenario.transactional = true;
            scenario.config.push(("transactional.id", TXN_ID.into()));
            scenario.config.push(("transaction.timeout.ms", "60000".into()));
        }
        scenario
    }
}

/// How one record ended.
#[derive(Debug, Clone)]
enum RecordEnd {
    Acked {
        offset: i64,
        at: Duration,
    },
    Failed {
        error: ProducerError,
        at: Duration,
    },
    /// Never appended: its transaction hit an error first, or the producer had a fatal one.
    NotSent,
}

/// One transaction of a transactional run: records `first..end` of the plan.
#[derive(Debug, Clone)]
struct TxnRun {
    first: usize,
    end: usize,
    /// What the workload asked for: commit, else abort.
    commit: bool,
    /// How it ended: committed, aborted, or `None` when unknown (a fatal error before its end was known).
    committed: Option<bool>,
}

/// Where the transactional workload stands.
enum TxnStep {
    /// `init_transactions` is pending.
    Init(Arc<TxnResult>),
    /// No transaction open: the next one begins when records remain.
    Idle,
    /// The last of `Sim::txns` is open and its records are being appended.
    Open,
    /// Commit or abort of the last transaction is pending.
    Ending(TxnOperation, Arc<TxnResult>),
    /// A fatal error: nothing more is sent.
    Stopped,
}

/// Per record: when it was appended, and how it ended (`None` while pending).
type Outcomes = Vec<Option<(Duration, RecordEnd)>>;

/// One record the workload sends.
#[derive(Debug, Clone, Copy)]
struct Planned {
    partition: u32,
    key: u32,
}

/// A connection in the simulated network.
struct Link {
    broker: i32,
    session: Session,
    /// Requests on their way to the broker: (arrival, frame), in send order.
    to_broker: VecDeque<(Duration, Bytes)>,
    /// Responses (or the broker's close, `None`) on their way to the client, in order.
    to_client: VecDeque<(Duration, Option<Bytes>)>,
    /// The client dropped it: the broker still handles what already reached the wire, answers go nowhere.
    client_gone: bool,
    /// The broker closed it: nothing more is read.
    broker_gone: bool,
}

/// What a run produced, for [`check`].
pub(crate) struct RunResult {
    pub scenario: Scenario,
    outcomes: Outcomes,
    plan: Vec<Planned>,
    cluster: Arc<ClusterState>,
    pub hung: Option<String>,
    pub steps: u64,
    pub sim_time: Duration,
    delivery_bound: Duration,
    txns: Vec<TxnRun>,
}

struct Sim {
    scenario: Scenario,
    rng: SmallRng,
    base: Instant,
    now: Duration,
    cluster: Arc<ClusterState>,
    faults: Faults,
    sh: Arc<Shared>,
    core: SenderCore,
    links: BTreeMap<u64, Link>,
    /// Connection attempts in progress: conn id → (completes at, broker or None when refused).
    connects: BTreeMap<u64, (Duration, Option<i32>)>,
    clock: Arc<Mutex<Duration>>,
    outcomes: Arc<Mutex<Outcomes>>,
    /// A broker to restart without producer state at the next quiet moment.
    restart_pending: Option<i32>,
    /// Transactional runs: the workload's transactions and where the current one stands.
    txns: Vec<TxnRun>,
    txn_step: Option<TxnStep>,
}

fn broker_addresses(n: usize) -> Vec<SocketAddr> {
    (0..n).map(|i| SocketAddr::from(([127, 0, 0, 1], 19_092 + i as u16))).collect()
}

/// Runs one scenario to its end.
pub(crate) fn run(scenario: Scenario) -> RunResult {
    let mut rng = SmallRng::seed_from_u64(scenario.seed);
    let addresses = broker_addresses(scenario.brokers);
    let cluster = Arc::new(ClusterState::new(
        ClusterConfig { default_partitions: scenario.partitions, ..Default::default() },
        addresses.clone(),
    ));
    cluster.txn.set_clock_ms(BROKER_CLOCK_BASE_MS);
    if scenario.topic_exists {
        cluster.create_topic(TOPIC, scenario.partitions).expect("valid topic");
    }
    let faults = Faults::new(cluster.clone());
    let mut cfg = ProducerConfig::default();
    cfg.set("bootstrap.servers", &addresses[0].to_string()).expect("valid");
    for (k, v) in &scenario.config {
        cfg.set(k, v).unwrap_or_else(|e| panic!("scenario config {k}={v}: {e}"));
    }
    let delivery_bound = cfg.delivery_timeout + cfg.request_timeout + Duration::from_millis(50);
    let sh = Producer::<Bytes, Bytes>::builder(cfg).into_shared().expect("valid producer config");
    sh.metadata.want(TOPIC);
    sh.metadata.request_refresh();
    let core = SenderCore::new(sh.clone(), rng.r#gen());
    // The workload: records in bursts, keys spread over the partitions.
    let keys = (scenario.partitions as u32 * 3).max(1);
    let plan: Vec<Planned> = (0..scenario.records)
        .map(|_| {
            let key = rng.gen_range(0..keys);
            Planned { partition: key % scenario.partitions as u32, key }
        })
        .collect();
    let outcomes = Arc::new(Mutex::new(vec![None; scenario.records]));
    let mut sim = Sim {
        rng,
        base: Instant::now(),
        now: Duration::ZERO,
        cluster: cluster.clone(),
        faults,
        sh,
        core,
        links: BTreeMap::new(),
        connects: BTreeMap::new(),
        clock: Arc::new(Mutex::new(Duration::ZERO)),
        outcomes: outcomes.clone(),
        restart_pending: None,
        txns: Vec::new(),
        txn_step: None,
        scenario: scenario.clone(),
    };
    if let Some(t) = &sim.sh.txn {
        let init = t.lock().initialize().expect("a new transactional producer initializes");
        sim.txn_step = Some(TxnStep::Init(init));
    }
    if !scenario.topic_exists {
        // A new topic: its leaders are not ready for the first batch of every partition (what a real broker
        // answers right after auto-creation), while later batches may already be accepted.
        for p in 0..scenario.partitions {
            let code = [ErrorCode::NotLeaderOrFollower, ErrorCode::UnknownTopicOrPartition][sim.rng.gen_range(0..2)];
            let _ = sim.faults.fail_produce(ErrorTarget::Partition { topic: TOPIC.into(), partition: p }, code, 1);
        }
    }
    let mut plan = plan;
    let (hung, steps) = sim.drive(&mut plan);
    let outcomes = outcomes.lock().unwrap().clone();
    RunResult { scenario, outcomes, plan, cluster, hung, steps, sim_time: sim.now, delivery_bound, txns: sim.txns }
}

impl Sim {
    fn at(&self, d: Duration) -> Instant {
        self.base + d
    }

    fn latency(&mut self) -> Duration {
        if self.rng.gen_bool(self.scenario.fault_rate * 0.05) {
            // A spike past request.timeout.ms: the request times out on the client, the answer still comes.
            Duration::from_millis(self.rng.gen_range(800..2500))
        } else {
            Duration::from_micros(self.rng.gen_range(100..4000))
        }
    }

    /// Runs until the producer has closed. Returns why it hung, if it did, and the steps taken.
    fn drive(&mut self, plan: &mut [Planned]) -> (Option<String>, u64) {
        let mut next_record = 0usize;
        let mut next_append = Duration::ZERO;
        let mut next_chaos = Duration::from_millis(self.rng.gen_range(1..50));
        let mut closing = false;
        let mut steps = 0u64;
        loop {
            steps += 1;
            if steps > STEPS_MAX {
                let timers: Vec<String> = self
                    .core
                    .timers
                    .armed()
                    .map(|(t, at)| format!("{t:?}@{:?}", at.saturating_duration_since(self.base)))
                    .collect();
                return (
                    Some(format!("no end after {STEPS_MAX} steps at t={:?}; core timers {timers:?}", self.now)),
                    steps,
                );
            }
            if self.now > SIM_TIME_MAX {
                return (Some(format!("not closed after {SIM_TIME_MAX:?} of simulated time")), steps);
            }
            *self.clock.lock().unwrap() = self.now;
            self.cluster.txn.set_clock_ms(BROKER_CLOCK_BASE_MS + self.now.as_millis() as i64);
            let now = self.at(self.now);
            // The workload: a burst of records (inside the open transaction, for a transactional run).
            let limit = self.txn_advance(plan.len(), &mut next_record);
            if next_record < limit && next_append <= self.now {
                let burst = self.rng.gen_range(1..=20).min(limit - next_record);
                for _ in 0..burst {
                    if !self.append(plan, next_record, now) {
                        break;
                    }
                    next_record += 1;
                }
                next_append = self.now + Duration::from_micros(self.rng.gen_range(0..3000));
            }
            let txn_idle = matches!(self.txn_step, None | Some(TxnStep::Idle | TxnStep::Stopped));
            if next_record == plan.len() && txn_idle && !closing {
                closing = true;
                self.sh.shutdown.close();
                self.sh.acc.begin_close();
            }
            if self.scenario.fault_rate > 0.0 && next_chaos <= self.now {
                self.chaos();
                next_chaos = self.now + Duration::from_millis(self.rng.gen_range(5..200));
            }
            if let Some(b) = self.restart_pending
                && self.quiescent()
            {
                self.restart_pending = None;
                self.restart_losing_state(b);
            }
            self.deliver(now);
            self.core.poll(now);
            self.perform();
            if self.core.is_stopped() {
                return (None, steps);
            }
            // Advance to the next event.
            let mut next = self.now + Duration::from_millis(100);
            if next_record < limit {
                next = next.min(next_append);
            }
            if let Some(t) = self.core.poll_timeout() {
                next = next.min(t.saturating_duration_since(self.base));
            }
            for (t, _) in self.connects.values() {
                next = next.min(*t);
            }
            for l in self.links.values() {
                if let Some((t, _)) = l.to_broker.front() {
                    next = next.min(*t);
                }
                if let Some((t, _)) = l.to_client.front() {
                    next = next.min(*t);
                }
            }
            // Time moves forward by at least a microsecond per step, so a deadline the core keeps at "now" cannot
            // spin forever.
            self.now = next.max(self.now + Duration::from_micros(1));
        }
    }

    /// Appends record `i` to the partition of its key among the partitions the producer knows of (as the
    /// partitioner does); false when there is no memory for it yet (tried again later).
    fn append(&mut self, plan: &mut [Planned], i: usize, now: Instant) -> bool {
        let known = self.sh.metadata.current().topic(TOPIC).map_or(0, |t| t.partitions.len() as u32);
        let partitions = known.max(self.scenario.partitions as u32);
        plan[i].partition = plan[i].key % partitions;
        let topic = &self.sh.acc.topic(TOPIC, partitions);
        let value = (i as u64).to_be_bytes();
        let key = format!("k{}", plan[i].key);
        let rec = AppendRecord {
            timestamp_ms: 1_700_000_000_000,
            key: Some(key.as_bytes()),
            value: Some(&value),
            headers: &[],
            user_data: i as u64,
        };
        let (clock, outcomes) = (self.clock.clone(), self.outcomes.clone());
        let appended_at = self.now;
        let mut cb: Option<crate::producer::accumulator::Callback> = Some(Box::new(move |r| {
            let at = *clock.lock().unwrap();
            let o = match r {
                Ok(m) => RecordEnd::Acked { offset: m.offset, at },
                Err(error) => RecordEnd::Failed { error, at },
            };
            let mut all = outcomes.lock().unwrap();
            assert!(all[i].is_none(), "record {i} completed twice");
            all[i] = Some((appended_at, o));
        }));
        match self.sh.acc.append(topic, plan[i].partition, &rec, &mut cb, false, false, now) {
            AppendOutcome::Appended { new_batch, .. } => {
                if new_batch && let Some(t) = &self.sh.txn {
                    // As `Producer::send`: the first batch of a partition in a transaction adds it.
                    t.maybe_add_partition(&TopicPartition {
                        topic: topic.name.clone(),
                        partition: plan[i].partition as i32,
                    });
                }
                true
            }
            AppendOutcome::NeedMemory { .. } => false,
            other => panic!("unexpected append outcome {other:?}"),
        }
    }

    /// Transactional runs: moves the workload's transaction on (init, begin, commit or abort, and abort after a
    /// failed commit, as an application must) and returns up to which record the workload may append now.
    fn txn_advance(&mut self, plan_len: usize, next_record: &mut usize) -> usize {
        let sh = self.sh.clone();
        let Some(t) = sh.txn.as_ref() else { return plan_len };
        loop {
            match self.txn_step.take().expect("a transactional run has a step") {
                TxnStep::Init(r) => match r.get() {
                    None => {
                        self.txn_step = Some(TxnStep::Init(r));
                        return *next_record;
                    }
                    Some(res) => {
                        t.lock().ack(TxnOperation::InitTransactions);
                        self.txn_step = Some(if res.is_ok() { TxnStep::Idle } else { TxnStep::Stopped });
                    }
                },
                TxnStep::Idle => {
                    if *next_record >= plan_len {
                        self.txn_step = Some(TxnStep::Idle);
                        return plan_len;
                    }
                    if t.lock().begin().is_err() {
                        self.txn_step = Some(TxnStep::Stopped);
                        continue;
                    }
                    let end = (*next_record + self.rng.gen_range(1..=40)).min(plan_len);
                    let commit = self.rng.gen_bool(0.8);
                    self.txns.push(TxnRun { first: *next_record, end, commit, committed: None });
                    self.txn_step = Some(TxnStep::Open);
                }
                TxnStep::Open => {
                    let (end, commit) = self.txns.last().map(|r| (r.end, r.commit)).expect("open");
                    let can_send = t.fail_if_not_ready_for_send().is_ok();
                    if *next_record < end && can_send {
                        self.txn_step = Some(TxnStep::Open);
                        return end;
                    }
                    // Done, or the transaction hit an error: the rest of it is not sent.
                    for i in *next_record..end {
                        self.not_sent(i);
                    }
                    *next_record = end;
                    let mut m = t.lock();
                    let ending = match commit.then(|| m.begin_commit()) {
                        Some(Ok(r)) => Ok((TxnOperation::Commit, r)),
                        // Not asked to commit, or the commit is refused (an abortable error): abort.
                        _ => m.begin_abort().map(|r| (TxnOperation::Abort, r)),
                    };
                    drop(m);
                    self.txn_step = Some(match ending {
                        Ok((op, r)) => TxnStep::Ending(op, r),
                        Err(_) => TxnStep::Stopped,
                    });
                }
                TxnStep::Ending(op, r) => {
                    let Some(res) = r.get() else {
                        self.txn_step = Some(TxnStep::Ending(op, r));
                        return *next_record;
                    };
                    t.lock().ack(op);
                    let run = self.txns.last_mut().expect("ending");
                    self.txn_step = Some(match (op, res) {
                        (TxnOperation::Commit, Ok(())) => {
                            run.committed = Some(true);
                            TxnStep::Idle
                        }
                        (TxnOperation::Abort, Ok(())) => {
                            run.committed = Some(false);
                            TxnStep::Idle
                        }
                        // A failed commit: abort, which works after an abortable error and fails after a fatal one.
                        (TxnOperation::Commit, Err(_)) => match t.lock().begin_abort() {
                            Ok(r) => TxnStep::Ending(TxnOperation::Abort, r),
                            Err(_) => TxnStep::Stopped,
                        },
                        _ => TxnStep::Stopped,
                    });
                }
                TxnStep::Stopped => {
                    for i in *next_record..plan_len {
                        self.not_sent(i);
                    }
                    *next_record = plan_len;
                    self.txn_step = Some(TxnStep::Stopped);
                    return plan_len;
                }
            }
        }
    }

    /// Record `i` will never be appended.
    fn not_sent(&mut self, i: usize) {
        let mut all = self.outcomes.lock().unwrap();
        assert!(all[i].is_none(), "record {i} not sent but already ended");
        all[i] = Some((self.now, RecordEnd::NotSent));
    }

    /// A random fault that does not belong to one request: a leader move or a partition losing producer state;
    /// for a transactional run also a coordinator move or an error on the next transactional request.
    fn chaos(&mut self) {
        if self.scenario.transactional && self.rng.gen_bool(0.3) {
            let roll: f64 = self.rng.r#gen();
            if roll < 0.4 * self.scenario.fault_rate {
                let to = self.rng.gen_range(0..self.scenario.brokers) as i32;
                let _ = self.faults.move_coordinator(CoordinatorKind::Transaction, TXN_ID, to);
            } else if roll < 0.8 * self.scenario.fault_rate {
                let api = [TxnApi::FindCoordinator, TxnApi::InitProducerId, TxnApi::AddPartitionsToTxn, TxnApi::EndTxn]
                    [self.rng.gen_range(0..4)];
                let code = [
                    ErrorCode::CoordinatorLoadInProgress,
                    ErrorCode::CoordinatorNotAvailable,
                    ErrorCode::NotCoordinator,
                    ErrorCode::ConcurrentTransactions,
                ][self.rng.gen_range(0..4)];
                self.faults.fail_txn(Some(api), code, 1);
            } else if roll < 0.9 * self.scenario.fault_rate {
                // Errors that make the transaction abortable.
                let p = self.rng.gen_range(0..self.scenario.partitions);
                let target = ErrorTarget::Partition { topic: TOPIC.into(), partition: p };
                if self.rng.gen_bool(0.5) {
                    let _ = self.faults.fail_produce(target, ErrorCode::TransactionAbortable, 1);
                } else {
                    self.faults.fail_txn(Some(TxnApi::AddPartitionsToTxn), ErrorCode::TopicAuthorizationFailed, 1);
                }
            }
            return;
        }
        let p = self.rng.gen_range(0..self.scenario.partitions);
        let roll: f64 = self.rng.r#gen();
        if roll < 0.5 * self.scenario.fault_rate {
            let to = self.rng.gen_range(0..self.scenario.brokers) as i32;
            // Unknown topic (not created yet): nothing to move.
            let _ = self.faults.move_leader(TOPIC, p, to);
            if self.rng.gen_bool(0.5) {
                // Brokers whose metadata cache lags: the next answers still name the old leader.
                self.faults.stale_metadata(self.rng.gen_range(1..=3));
            }
        } else if roll < 0.55 * self.scenario.fault_rate {
            self.restart_pending = Some(self.rng.gen_range(0..self.scenario.brokers) as i32);
        } else if roll < 0.6 * self.scenario.fault_rate
            && let Some(t) = self.cluster.topic(TOPIC)
            && t.partitions.len() < 8
        {
            // Partitions added (Kafka's CreatePartitions): the producer learns of them from metadata, and keys
            // then map to other partitions.
            let to = t.partitions.len() as i32 + self.rng.gen_range(1..=2);
            let _ = self.cluster.add_partitions(TOPIC, to);
        }
    }

    /// Nothing of the producer is on the wire or waiting for a retry: no batch has an unknown outcome. Kafka keeps
    /// producer state across clean restarts; it is lost with an unclean election or by expiry, and a batch whose
    /// outcome is unknown at that moment could be written twice whatever the client does. The simulation loses
    /// state only at such quiet moments, so the no-duplicate invariant is one a client can keep.
    fn quiescent(&self) -> bool {
        self.links.values().all(|l| l.to_broker.is_empty() && l.to_client.is_empty())
            && self.core.conns.values().all(|c| c.in_flight.is_empty())
            && self.core.idem.as_ref().is_none_or(|i| i.partitions.values().all(|p| p.retrying.is_empty()))
    }

    /// Broker `broker` restarts and comes back without producer state for the partitions it leads (as after an
    /// unclean leader election): its connections close, and requests it had not read yet are gone with them.
    fn restart_losing_state(&mut self, broker: i32) {
        for link in self.links.values_mut().filter(|l| l.broker == broker && !l.broker_gone) {
            link.broker_gone = true;
            link.to_broker.clear();
            let at = link.to_client.back().map_or(self.now, |(t, _)| *t).max(self.now);
            link.to_client.push_back((at, None));
        }
        if let Some(t) = self.cluster.topic(TOPIC) {
            for p in t.partitions.iter().filter(|p| p.leader() == broker) {
                p.log().forget_producers();
            }
        }
    }

    /// Faults for a produce request about to reach `broker`.
    fn request_faults(&mut self, broker: i32) {
        if !self.rng.gen_bool(self.scenario.fault_rate) {
            return;
        }
        let p = self.rng.gen_range(0..self.scenario.partitions);
        let partition = ErrorTarget::Partition { topic: TOPIC.into(), partition: p };
        match self.rng.gen_range(0..8) {
            0 => drop(self.faults.drop_connections(broker, DropPoint::BeforeAppend, 1)),
            1 => drop(self.faults.drop_connections(broker, DropPoint::AfterAppend, 1)),
            2 => drop(self.faults.fail_produce(partition, ErrorCode::NotLeaderOrFollower, 1)),
            3 => drop(self.faults.fail_produce(partition, ErrorCode::RequestTimedOut, 1)),
            4 => drop(self.faults.fail_produce(partition, ErrorCode::NotEnoughReplicas, 1)),
            5 => drop(self.faults.fail_produce(partition, ErrorCode::MessageTooLarge, 1)),
            6 => drop(self.faults.fail_produce(
                ErrorTarget::Broker { broker },
                ErrorCode::NotEnoughReplicasAfterAppend,
                1,
            )),
            _ => drop(self.faults.fail_produce(partition, ErrorCode::UnknownTopicOrPartition, 1)),
        }
    }

    /// Delivers everything due: finished connects, requests to brokers, responses to the client.
    fn deliver(&mut self, now: Instant) {
        let due: Vec<u64> = self.connects.iter().filter(|(_, (t, _))| *t <= self.now).map(|(id, _)| *id).collect();
        for conn_id in due {
            let (_, broker) = self.connects.remove(&conn_id).expect("listed");
            match broker {
                Some(broker) => match self.handshake(broker) {
                    Ok(hs) => {
                        self.links.insert(
                            conn_id,
                            Link {
                                broker,
                                session: Session::default(),
                                to_broker: VecDeque::new(),
                                to_client: VecDeque::new(),
                                client_gone: false,
                                broker_gone: false,
                            },
                        );
                        self.core.handle_connected(conn_id, Ok(hs), now);
                    }
                    Err(reason) => self.core.handle_connected(
                        conn_id,
                        Err(ProducerError::Connection { address: format!("broker {broker}"), reason }),
                        now,
                    ),
                },
                None => self.core.handle_connected(
                    conn_id,
                    Err(ProducerError::Connection { address: "sim".into(), reason: "connection refused".into() }),
                    now,
                ),
            }
        }
        let ids: Vec<u64> = self.links.keys().copied().collect();
        for id in ids {
            // Requests reach the broker in order; each answer leaves after a latency, after earlier answers.
            loop {
                let link = self.links.get_mut(&id).expect("listed");
                let Some((t, _)) = link.to_broker.front() else { break };
                if *t > self.now || link.broker_gone {
                    break;
                }
                let (_, frame) = link.to_broker.pop_front().expect("front");
                let broker = link.broker;
                if frame.get(0..2) == Some(&[0, 0]) {
                    // Api key 0: Produce.
                    self.request_faults(broker);
                }
                let mut out = BytesMut::new();
                let link = self.links.get_mut(&id).expect("listed");
                let handled = handle_frame(&self.cluster, broker, &mut link.session, frame, &mut out);
                let last = link.to_client.back().map_or(Duration::ZERO, |(t, _)| *t);
                let lat = self.latency();
                let link = self.links.get_mut(&id).expect("listed");
                let at = (self.now + lat + handled.delay).max(last);
                match handled.outcome {
                    Outcome::Respond => link.to_client.push_back((at, Some(out.freeze().slice(4..)))),
                    Outcome::Silent => {}
                    Outcome::Close => {
                        link.broker_gone = true;
                        link.to_broker.clear();
                        link.to_client.push_back((at, None));
                    }
                }
            }
            loop {
                let link = self.links.get_mut(&id).expect("listed");
                let Some((t, _)) = link.to_client.front() else { break };
                if *t > self.now {
                    break;
                }
                let (_, msg) = link.to_client.pop_front().expect("front");
                let gone = link.client_gone;
                match msg {
                    Some(_) if gone => {}
                    Some(frame) => self.core.handle_response(id, frame, now),
                    None => {
                        self.links.remove(&id);
                        if !gone {
                            self.core.handle_closed(id, "connection closed by broker".into(), now);
                        }
                        break;
                    }
                }
            }
            if let Some(l) = self.links.get(&id)
                && l.client_gone
                && l.to_broker.is_empty()
                && l.to_client.is_empty()
            {
                self.links.remove(&id);
            }
        }
    }

    /// The ApiVersions exchange a real connection starts with, through the broker's handler.
    fn handshake(&mut self, broker: i32) -> Result<Handshake, String> {
        let req = ApiVersionsRequest { client_software_name: "kprod".into(), client_software_version: "sim".into() };
        let frame = request_frame(3, 0, Some("sim"), &req, 64).map_err(|e| e.to_string())?;
        let mut out = BytesMut::new();
        handle_frame(&self.cluster, broker, &mut Session::default(), frame.slice(4..), &mut out);
        let (_, body): (_, ApiVersionsResponse) =
            decode_response(out.freeze().slice(4..), 3).map_err(|e| e.to_string())?;
        Handshake::from_api_versions(&body)
    }

    /// Carries out the core's connection actions and puts its frames on the wire.
    fn perform(&mut self) {
        while let Some(action) = self.core.poll_io() {
            match action {
                IoAction::Connect { conn_id, node: _, address } => {
                    let broker = broker_addresses(self.scenario.brokers).iter().position(|a| a.to_string() == address);
                    let refused = self.rng.gen_bool(self.scenario.fault_rate * 0.2);
                    let at = self.now + Duration::from_micros(self.rng.gen_range(50..2000));
                    self.connects.insert(conn_id, (at, broker.filter(|_| !refused).map(|b| b as i32)));
                }
                IoAction::Close { conn_id } => {
                    self.connects.remove(&conn_id);
                    if let Some(l) = self.links.get_mut(&conn_id) {
                        l.client_gone = true;
                    }
                }
            }
        }
        let mut sends = Vec::new();
        self.core.drain_transmits(|id, frame| sends.push((id, frame)));
        for (id, frame) in sends {
            let lat = self.latency();
            // A closed socket: the bytes go nowhere (the client learns of the close when it arrives).
            let Some(link) = self.links.get_mut(&id).filter(|l| !l.broker_gone) else { continue };
            let last = link.to_broker.back().map_or(Duration::ZERO, |(t, _)| *t);
            let at = (self.now + lat).max(last);
            // The frame without its size prefix, as the broker's reader cuts it.
            link.to_broker.push_back((at, frame.to_bytes().slice(4..)));
        }
    }
}

/// A data record of a partition's log, as a read_committed reader would classify it.
struct LogRecord {
    offset: i64,
    value: Option<Bytes>,
    producer_id: i64,
    producer_epoch: i16,
    sequence: i32,
    /// Visible to read_committed: not transactional, or its transaction's COMMIT marker follows it.
    committed: bool,
}

/// The data records of partition `p` in offset order (control batches read as markers, not records).
fn log_records(cluster: &ClusterState, p: i32) -> Result<Vec<LogRecord>, String> {
    let mut out: Vec<LogRecord> = Vec::new();
    // Producer id → indices in `out` of its records awaiting a transaction marker.
    let mut open: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for stored in cluster.batches(TOPIC, p).unwrap_or_default() {
        let batch: RecordBatch = stored.parse().map_err(|e| e.to_string())?;
        if let Some(marker) = control_record_of(&batch).map_err(|e| e.to_string())? {
            let waiting = open.remove(&batch.producer_id()).unwrap_or_default();
            if marker.kind == ControlRecordType::Commit {
                for i in waiting {
                    out[i].committed = true;
                }
            }
            continue;
        }
        for rec in batch.records().map_err(|e| e.to_string())? {
            let rec = rec.map_err(|e| e.to_string())?;
            if batch.is_transactional() {
                open.entry(batch.producer_id()).or_default().push(out.len());
            }
            out.push(LogRecord {
                offset: batch.base_offset() + rec.offset_delta as i64,
                value: rec.value,
                producer_id: batch.producer_id(),
                producer_epoch: batch.producer_epoch(),
                // -1 without idempotence; wraps at i32::MAX as Kafka's sequences do.
                sequence: kprod_mock::idempotence::last_sequence(batch.base_sequence(), rec.offset_delta),
                committed: !batch.is_transactional(),
            });
        }
    }
    Ok(out)
}

/// Checks a run's invariants; returns every violation found.
pub(crate) fn check(r: &RunResult) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(h) = &r.hung {
        v.push(format!("hang: {h}"));
    }
    // What the log holds: record id → (partition, offset), in log order per partition.
    let mut in_log: BTreeMap<u64, Vec<(i32, i64)>> = BTreeMap::new();
    // Records a read_committed reader sees.
    let mut visible: BTreeMap<u64, usize> = BTreeMap::new();
    let partitions = r.cluster.topic(TOPIC).map_or(0, |t| t.partitions.len() as i32);
    for p in 0..partitions {
        let records = match log_records(&r.cluster, p) {
            Ok(recs) => recs,
            Err(e) => {
                v.push(format!("partition {p}: unreadable log: {e}"));
                continue;
            }
        };
        let mut last: Option<(u64, i64, i16, i32)> = None;
        for rec in records {
            let Some(id) = rec.value.as_deref().and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes)
            else {
                v.push(format!("partition {p} offset {}: not a record of this run", rec.offset));
                continue;
            };
            in_log.entry(id).or_default().push((p, rec.offset));
            if rec.committed {
                *visible.entry(id).or_default() += 1;
            }
            if r.plan.get(id as usize).is_none_or(|pl| pl.partition as i32 != p) {
                v.push(format!("record {id} in partition {p}, planned for another"));
            }
            if let Some(prev) = last
                && id <= prev.0
            {
                v.push(format!(
                    "partition {p}: record {id} (producer {} epoch {} seq {}) at offset {} after record {} (producer {} \
                     epoch {} seq {}): send order broken",
                    rec.producer_id, rec.producer_epoch, rec.sequence, rec.offset, prev.0, prev.1, prev.2, prev.3
                ));
            }
            last = Some((id, rec.producer_id, rec.producer_epoch, rec.sequence));
        }
    }
    for (id, places) in &in_log {
        if places.len() > 1 {
            v.push(format!("record {id} is in the log {} times: {places:?}", places.len()));
        }
    }
    if r.hung.is_none() {
        for (i, o) in r.outcomes.iter().enumerate() {
            match o {
                None => v.push(format!("record {i} never completed")),
                Some((_, RecordEnd::NotSent)) => {
                    if let Some(places) = in_log.get(&(i as u64)) {
                        v.push(format!("record {i} was never sent but is in the log at {places:?}"));
                    }
                }
                Some((appended, RecordEnd::Acked { offset, at })) => {
                    match in_log.get(&(i as u64)).map(Vec::as_slice) {
                        Some([(_, o)]) if *offset < 0 || o == offset => {}
                        Some(places) => {
                            v.push(format!("record {i} acked at offset {offset} but in the log at {places:?}"))
                        }
                        None => v.push(format!("record {i} acked at offset {offset} but not in the log")),
                    }
                    if at.saturating_sub(*appended) > r.delivery_bound {
                        v.push(format!("record {i} acked after {:?}", at.saturating_sub(*appended)));
                    }
                }
                Some((appended, RecordEnd::Failed { error, at })) => {
                    let kafka = matches!(
                        error,
                        ProducerError::Broker { .. }
                            | ProducerError::RetriesExhausted { .. }
                            | ProducerError::DeliveryTimeout { .. }
                    ) || (r.scenario.transactional && matches!(error, ProducerError::Transaction { .. }));
                    if !kafka {
                        v.push(format!("record {i} failed without a Kafka error: {error}"));
                    }
                    if at.saturating_sub(*appended) > r.delivery_bound {
                        v.push(format!("record {i} failed after {:?}: {error}", at.saturating_sub(*appended)));
                    }
                }
            }
        }
    }
    if !r.scenario.transactional {
        for (id, places) in &in_log {
            if visible.get(id).copied().unwrap_or(0) != places.len() {
                v.push(format!("record {id} of a non-transactional run is not visible to read_committed"));
            }
        }
    }
    // Transactions are all or nothing, and end as the producer said.
    for t in &r.txns {
        let sent: Vec<usize> =
            (t.first..t.end).filter(|i| !matches!(r.outcomes[*i], Some((_, RecordEnd::NotSent)))).collect();
        let seen = sent.iter().filter(|i| visible.contains_key(&(**i as u64))).count();
        let what = format!("transaction of records {}..{} ({} sent, {seen} visible)", t.first, t.end, sent.len());
        match t.committed {
            Some(true) => {
                if seen != sent.len() {
                    v.push(format!("{what}: committed but not all visible"));
                }
                if let Some(i) = sent.iter().find(|i| !matches!(r.outcomes[**i], Some((_, RecordEnd::Acked { .. })))) {
                    v.push(format!("{what}: committed but record {i} was not acknowledged: {:?}", r.outcomes[*i]));
                }
            }
            Some(false) if seen > 0 => v.push(format!("{what}: aborted but visible")),
            None if seen > 0 && seen != sent.len() => v.push(format!("{what}: ended unknown and only partly visible")),
            _ => {}
        }
    }
    for (id, n) in &visible {
        if *n > 1 {
            v.push(format!("record {id} visible {n} times"));
        }
    }
    v
}

/// Runs seed `seed` and panics, with the replay command, on any violation.
pub(crate) fn run_and_check(seed: u64) -> RunResult {
    let r = run(Scenario::from_seed(seed));
    let violations = check(&r);
    if !violations.is_empty() {
        let shown: Vec<&String> = violations.iter().take(20).collect();
        panic!(
            "simulation seed {seed} broke {} invariant(s):\n  {}\nscenario: {:?}\nreplay: KPROD_SIM_SEED={seed} cargo test -p kprod-producer \
             --lib producer::sender::sim::replay -- --nocapture",
            violations.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
            r.scenario
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeds from `KPROD_SIM_BASE` (default 0) for `KPROD_SIM_BUDGET_S` seconds (default 20) or
    /// `KPROD_SIM_SEEDS` seeds, whichever ends first.
    #[test]
    fn many_seeds_keep_every_invariant() {
        let base: u64 = std::env::var("KPROD_SIM_BASE").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        let budget = Duration::from_secs_f64(
            std::env::var("KPROD_SIM_BUDGET_S").ok().and_then(|s| s.parse().ok()).unwrap_or(20.0),
        );
        let max_seeds: u64 = std::env::var("KPROD_SIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
        let t0 = Instant::now();
        let mut n = 0u64;
        let (mut acked, mut failed, mut faults) = (0usize, 0usize, 0usize);
        let (mut committed, mut aborted, mut txn_seeds) = (0usize, 0usize, 0usize);
        // Commits refused by an abortable error (then aborted), and seeds whose topic grew.
        let (mut commit_failed, mut grown) = (0usize, 0usize);
        while n < max_seeds && (n < 20 || t0.elapsed() < budget) {
            let r = run_and_check(base + n);
            for o in r.outcomes.iter().flatten() {
                match o.1 {
                    RecordEnd::Acked { .. } => acked += 1,
                    RecordEnd::Failed { .. } => failed += 1,
                    RecordEnd::NotSent => {}
                }
            }
            faults += (r.scenario.fault_rate > 0.0) as usize;
            txn_seeds += r.scenario.transactional as usize;
            committed += r.txns.iter().filter(|t| t.committed == Some(true)).count();
            aborted += r.txns.iter().filter(|t| t.committed == Some(false)).count();
            commit_failed += r.txns.iter().filter(|t| t.commit && t.committed == Some(false)).count();
            grown +=
                r.cluster.topic(TOPIC).is_some_and(|t| t.partitions.len() > r.scenario.partitions as usize) as usize;
            n += 1;
        }
        println!(
            "simulation: {n} seeds ({base}..{}) in {:.1} s, {faults} with faults, {grown} with partitions added, \
             {txn_seeds} transactional ({committed} transactions committed, {aborted} aborted, {commit_failed} of them \
             after a failed commit): {acked} records acked, {failed} failed, no violation",
            base + n,
            t0.elapsed().as_secs_f64()
        );
        assert!(acked > 0, "no record was ever acknowledged: the simulation does not exercise the producer");
        if n >= 20 {
            assert!(
                committed > 0 && aborted > 0,
                "{txn_seeds} transactional seeds: {committed} commits, {aborted} aborts"
            );
        }
    }

    /// Replays `KPROD_SIM_SEED` (printed by a failing run) with logs: `KPROD_SIM_SEED=42 cargo test -p kprod-producer
    /// --lib producer::sender::sim::replay -- --nocapture`.
    #[test]
    fn replay() {
        let Some(seed) = std::env::var("KPROD_SIM_SEED").ok().and_then(|s| s.parse().ok()) else { return };
        let _ = tracing_subscriber::fmt()
            .with_env_filter("kprod_producer=debug,kprod_proto=debug,kprod_mock=debug")
            .with_test_writer()
            .try_init();
        let r = run_and_check(seed);
        println!("seed {seed}: {:?}, {} steps, {:?} simulated", r.scenario, r.steps, r.sim_time);
    }

    /// The same seed is the same run: same outcomes, same log.
    #[test]
    fn a_seed_replays_exactly() {
        for seed in [3, 17] {
            let a = run(Scenario::from_seed(seed));
            let b = run(Scenario::from_seed(seed));
            assert_eq!(a.steps, b.steps, "seed {seed}: steps differ");
            assert_eq!(a.sim_time, b.sim_time, "seed {seed}: simulated time differs");
            let fmt = |r: &RunResult| format!("{:?}", r.outcomes);
            assert_eq!(fmt(&a), fmt(&b), "seed {seed}: outcomes differ");
        }
    }

    /// The issue 15 bug, forced: a new topic whose first batch per partition is refused while later batches are
    /// accepted by a broker holding no producer state. Order must hold (this failed before the fix).
    #[test]
    fn first_batch_refused_on_new_topic_keeps_order() {
        for seed in 0..40 {
            let mut s = Scenario::from_seed(seed);
            s.topic_exists = false;
            s.fault_rate = 0.0;
            s.transactional = false;
            s.config.retain(|(k, _)| !k.starts_with("transaction"));
            s.records = 400;
            for (k, v) in &mut s.config {
                match *k {
                    "max.in.flight.requests.per.connection" => *v = "5".into(),
                    "batch.size" => *v = "600".into(),
                    "linger.ms" => *v = "0".into(),
                    _ => {}
                }
            }
            let r = run(s);
            let violations = check(&r);
            assert!(violations.is_empty(), "seed {seed}: {violations:?}");
            // Nothing else fails here: a refused first batch is retried, never given up on or fenced off.
            let failed = r.outcomes.iter().filter(|o| !matches!(o, Some((_, RecordEnd::Acked { .. })))).count();
            assert_eq!(failed, 0, "seed {seed}: {failed} records not acknowledged");
        }
    }
}
