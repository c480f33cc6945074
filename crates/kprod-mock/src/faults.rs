//! Fault injection: latency, bandwidth caps, injected produce errors, dropped connections, leader
//! moves, throttling and brokers going down — scriptable from Rust through [`Faults`] and loadable
//! from a workload file as a [`FaultPlan`] (serde).
//!
//! Transaction faults: errors (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
//! CONCURRENT_TRANSACTIONS, ...) for the next N transactional requests (FindCoordinator,
//! InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
//! EndTxn — all of them or one API), and coordinator moves.
//!
//! Injected produce errors are answered *without* storing anything. Latency is added between
//! receiving a request and writing its response (responses on a connection stay in order, as
//! Kafka's). The bandwidth cap models the broker's inbound link: a request of `n` bytes occupies it
//! for `n / bytes_per_s` seconds, and the connection reads nothing more until then.
//!
//! The hot path pays one relaxed atomic load per request while no fault is armed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Exp, Normal};
use tokio::time::Instant;

use super::state::{ClusterState, TopicError};
use crate::protocol::find_coordinator::{KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION};
use crate::protocol::{ApiKey, ErrorCode};

/// A latency distribution, in milliseconds.
///
/// ```
/// use std::time::Duration;
/// use kprod_mock::Latency;
/// use rand::SeedableRng;
/// use rand::rngs::SmallRng;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut rng = SmallRng::seed_from_u64(1);
/// assert_eq!(Latency::Fixed { ms: 5.0 }.sample(&mut rng), Duration::from_millis(5));
/// let d = Latency::Uniform { min_ms: 1.0, max_ms: 2.0 }.sample(&mut rng);
/// assert!(d >= Duration::from_millis(1) && d < Duration::from_millis(2));
/// // In a plan: `{dist: exponential, mean_ms: 3}`.
/// let l: Latency = serde_yaml_ng::from_str("{dist: exponential, mean_ms: 3}")?;
/// assert_eq!(l, Latency::Exponential { mean_ms: 3.0 });
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always `ms`.
    Fixed {
        /// The delay, in ms.
        ms: f64,
    },
    /// Uniform between `min_ms` and `max_ms`.
    Uniform {
        /// Lower bound, in ms.
        min_ms: f64,
        /// Upper bound, in ms.
        max_ms: f64,
    },
    /// Normal around `mean_ms`. Negative draws are clamped to 0.
    Normal {
        /// Mean, in ms.
        mean_ms: f64,
        /// Standard deviation, in ms.
        stddev_ms: f64,
    },
    /// Exponential with mean `mean_ms` (memoryless arrivals).
    Exponential {
        /// Mean, in ms.
        mean_ms: f64,
    },
}

/// Why a fault setting was refused.
///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::{ClusterConfig, ClusterState, FaultError, Faults, Latency};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// let faults = Faults::new(state);
/// let e = faults.set_latency(3, Some(Latency::Fixed { ms: 1.0 })).unwrap_err();
/// assert_eq!(e, FaultError::UnknownBroker { broker: 3, brokers: 1 });
/// let e = faults.set_latency(0, Some(Latency::Fixed { ms: -1.0 })).unwrap_err();
/// assert!(matches!(e, FaultError::InvalidLatency(_)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    /// A latency parameter that is negative, not finite, or a uniform range with min > max.
    #[error("invalid latency {0:?}: every parameter must be finite and >= 0 (and min <= max)")]
    InvalidLatency(Latency),
    /// A broker id outside the cluster.
    #[error("unknown broker {broker} (the cluster has {brokers})")]
    UnknownBroker {
        /// The id given.
        broker: i32,
        /// How many brokers the cluster has (ids `0..brokers`).
        brokers: usize,
    },
    /// A bandwidth cap of 0 bytes/s.
    #[error("bandwidth cap of broker {broker} must be > 0 bytes/s")]
    ZeroBandwidth {
        /// The broker the cap was for.
        broker: i32,
    },
    /// An error code name Kafka does not have.
    #[error("unknown error code name {0:?} (use Kafka's names, e.g. NOT_LEADER_OR_FOLLOWER)")]
    UnknownErrorName(String),
    /// A fault names a topic or partition the cluster does not have.
    #[error(transparent)]
    Topic(#[from] TopicError),
}

/// Longest injected latency, so a typo cannot stall a test for hours.
pub const LATENCY_MAX: Duration = Duration::from_secs(600);

impl Latency {
    fn check(&self) -> Result<(), FaultError> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        let valid = match *self {
            Latency::Fixed { ms } => ok(ms),
            Latency::Uniform { min_ms, max_ms } => ok(min_ms) && ok(max_ms) && min_ms <= max_ms,
            Latency::Normal { mean_ms, stddev_ms } => ok(mean_ms) && ok(stddev_ms),
            Latency::Exponential { mean_ms } => ok(mean_ms),
        };
        if valid { Ok(()) } else { Err(FaultError::InvalidLatency(self.clone())) }
    }

    /// Draws one delay.
    pub fn sample(&self, rng: &mut SmallRng) -> Duration {
        use rand::Rng;
        let ms = match *self {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min_ms, max_ms } if max_ms > min_ms => rng.gen_range(min_ms..max_ms),
            Latency::Uniform { min_ms, .. } => min_ms,
            Latency::Normal { mean_ms, stddev_ms } => {
                Normal::new(mean_ms, stddev_ms).map_or(mean_ms, |d| d.sample(rng))
            }
            Latency::Exponential { mean_ms } if mean_ms > 0.0 => {
                Exp::new(1.0 / mean_ms).map_or(mean_ms, |d| d.sample(rng))
            }
            Latency::Exponential { .. } => 0.0,
        };
        Duration::from_secs_f64((ms.max(0.0) / 1000.0).min(LATENCY_MAX.as_secs_f64()))
    }
}

/// When an injected connection drop happens relative to the append.
///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::{ClusterConfig, ClusterState, DropPoint, Faults};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// // The next produce request to broker 0 is appended, then its connection closes without a response.
/// Faults::new(state).drop_connections(0, DropPoint::AfterAppend, 1)?;
/// assert_eq!(serde_yaml_ng::from_str::<DropPoint>("before_append")?, DropPoint::BeforeAppend);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropPoint {
    /// The request is discarded unread; nothing is stored.
    BeforeAppend,
    /// The request is appended, then the connection closes before the response is written.
    AfterAppend,
}

/// An error code given by Kafka name (`"NOT_LEADER_OR_FOLLOWER"`) or number in a plan.
///
/// ```
/// use kprod_mock::faults::ErrorName;
/// use kprod_proto::protocol::ErrorCode;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let by_name: ErrorName = serde_yaml_ng::from_str("NOT_LEADER_OR_FOLLOWER")?;
/// let by_number: ErrorName = serde_yaml_ng::from_str("6")?;
/// assert_eq!(by_name, by_number);
/// assert_eq!(by_name.0, ErrorCode::NotLeaderOrFollower);
/// assert!(serde_yaml_ng::from_str::<ErrorName>("NO_SUCH_ERROR").is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorName(pub ErrorCode);

impl serde::Serialize for ErrorName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(i16),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Code(c) => Ok(ErrorName(ErrorCode::from_i16(c))),
            Raw::Name(n) => error_code_by_name(&n).map(ErrorName).map_err(serde::de::Error::custom),
        }
    }
}

/// Looks up an error code by its Kafka name, case-insensitively.
pub fn error_code_by_name(name: &str) -> Result<ErrorCode, FaultError> {
    ErrorCode::ALL
        .iter()
        .copied()
        .find(|e| e.name().eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| FaultError::UnknownErrorName(name.into()))
}

/// Which produce requests an injected error hits.
///
/// In a plan: `{ broker: 0 }` or `{ topic: orders, partition: 2 }`.
///
/// ```
/// use kprod_mock::ErrorTarget;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let t: ErrorTarget = serde_yaml_ng::from_str("{topic: orders, partition: 2}")?;
/// assert_eq!(t, ErrorTarget::Partition { topic: "orders".into(), partition: 2 });
/// assert_eq!(serde_yaml_ng::from_str::<ErrorTarget>("{broker: 0}")?, ErrorTarget::Broker { broker: 0 });
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ErrorTarget {
    /// Every partition of the next produce requests this broker receives.
    Broker {
        /// The broker id.
        broker: i32,
    },
    /// This partition, in the next produce requests that carry it (to any broker).
    Partition {
        /// The topic name.
        topic: String,
        /// The partition index.
        partition: i32,
    },
}

/// A whole fault scenario, as a workload file carries it.
///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::{ClusterConfig, ClusterState, FaultPlan, Faults};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// let plan: FaultPlan = serde_yaml_ng::from_str(
///     "latency: [{broker: 0, latency: {dist: fixed, ms: 2}}]\n\
///      produce_errors: [{target: {broker: 0}, error: NOT_LEADER_OR_FOLLOWER, count: 3}]\n",
/// )?;
/// assert_eq!((plan.latency.len(), plan.produce_errors[0].count), (1, 3));
/// Faults::new(state).apply(&plan)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Response delays per broker.
    pub latency: Vec<LatencyFault>,
    /// Inbound bandwidth caps per broker.
    pub bandwidth: Vec<BandwidthFault>,
    /// Error codes for the next produce requests.
    pub produce_errors: Vec<ProduceErrorFault>,
    /// Connections to close around the append.
    pub drop_connections: Vec<DropFault>,
    /// Partition leaders to move.
    pub leader_moves: Vec<LeaderMove>,
    /// Throttle times to report in produce responses.
    pub throttle: Vec<ThrottleFault>,
    /// Brokers to take down (applied by `MockCluster::apply_faults`).
    pub brokers_down: Vec<i32>,
    /// Errors for the next transactional requests.
    pub txn_errors: Vec<TxnErrorFault>,
    /// Transaction / group coordinators to move.
    pub coordinator_moves: Vec<CoordinatorMove>,
}

/// The transactional APIs a [`TxnErrorFault`] can target.
///
/// ```
/// use kprod_mock::TxnApi;
/// use kprod_proto::protocol::ApiKey;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(TxnApi::EndTxn.api_key(), ApiKey::EndTxn);
/// assert_eq!(serde_yaml_ng::from_str::<TxnApi>("add_partitions_to_txn")?, TxnApi::AddPartitionsToTxn);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnApi {
    /// FindCoordinator (key 10).
    FindCoordinator,
    /// InitProducerId (key 22).
    InitProducerId,
    /// AddPartitionsToTxn (key 24).
    AddPartitionsToTxn,
    /// AddOffsetsToTxn (key 25).
    AddOffsetsToTxn,
    /// TxnOffsetCommit (key 28).
    TxnOffsetCommit,
    /// EndTxn (key 26).
    EndTxn,
}

impl TxnApi {
    /// The API key.
    pub fn api_key(self) -> ApiKey {
        match self {
            TxnApi::FindCoordinator => ApiKey::FindCoordinator,
            TxnApi::InitProducerId => ApiKey::InitProducerId,
            TxnApi::AddPartitionsToTxn => ApiKey::AddPartitionsToTxn,
            TxnApi::AddOffsetsToTxn => ApiKey::AddOffsetsToTxn,
            TxnApi::TxnOffsetCommit => ApiKey::TxnOffsetCommit,
            TxnApi::EndTxn => ApiKey::EndTxn,
        }
    }
}

/// `error` for the next `count` requests of `api` (any transactional API but FindCoordinator when
/// absent), on any broker.
///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::{ClusterConfig, ClusterState, FaultPlan, Faults, TxnApi, TxnErrorFault};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// let plan: FaultPlan = serde_yaml_ng::from_str("txn_errors: [{api: end_txn, error: CONCURRENT_TRANSACTIONS, count: 2}]")?;
/// let fault: &TxnErrorFault = &plan.txn_errors[0];
/// assert_eq!((fault.api, fault.count), (Some(TxnApi::EndTxn), 2));
/// Faults::new(state).apply(&plan)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnErrorFault {
    /// The API whose requests fail; `None` = any transactional API but FindCoordinator.
    #[serde(default)]
    pub api: Option<TxnApi>,
    /// The error code returned.
    pub error: ErrorName,
    /// How many requests fail.
    pub count: u32,
}

/// Which coordinator a [`CoordinatorMove`] moves.
///
/// ```
/// use kprod_mock::CoordinatorKind;
///
/// use kprod_proto::protocol::find_coordinator::{KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION};
/// assert_eq!(CoordinatorKind::Transaction.key_type(), KEY_TYPE_TRANSACTION);
/// assert_eq!(CoordinatorKind::Group.key_type(), KEY_TYPE_GROUP);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordinatorKind {
    /// A transaction coordinator (key: a transactional id).
    Transaction,
    /// A group coordinator (key: a consumer group id).
    Group,
}

impl CoordinatorKind {
    /// The FindCoordinator key type.
    pub fn key_type(self) -> i8 {
        match self {
            CoordinatorKind::Transaction => KEY_TYPE_TRANSACTION,
            CoordinatorKind::Group => KEY_TYPE_GROUP,
        }
    }
}

/// Moves the coordinator of `key` (a transactional id or a group) to `to_broker`.
///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::{ClusterConfig, ClusterState, CoordinatorKind, CoordinatorMove, FaultPlan, Faults};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let addresses = vec!["127.0.0.1:9092".parse()?, "127.0.0.1:9093".parse()?];
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), addresses));
/// let plan = FaultPlan {
///     coordinator_moves: vec![CoordinatorMove { kind: CoordinatorKind::Transaction, key: "tx".into(), to_broker: 1 }],
///     ..FaultPlan::default()
/// };
/// Faults::new(state.clone()).apply(&plan)?;
/// assert_eq!(state.coordinator_of(CoordinatorKind::Transaction.key_type(), "tx"), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorMove {
    /// Which kind of coordinator.
    pub kind: CoordinatorKind,
    /// The transactional id or group id.
    pub key: String,
    /// The broker that coordinates `key` from now on.
    pub to_broker: i32,
}

///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::faults::LatencyFault;
/// use kprod_mock::{ClusterConfig, ClusterState, FaultPlan, Faults, Latency};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// let faults = Faults::new(state);
/// let on = |broker| FaultPlan {
///     latency: vec![LatencyFault { broker, latency: Latency::Fixed { ms: 10.0 } }],
///     ..FaultPlan::default()
/// };
/// faults.apply(&on(0))?;
/// assert!(faults.apply(&on(5)).is_err(), "no broker 5");
/// # Ok(()) }
/// ```
/// Delays every response of `broker` by a draw from `latency`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyFault {
    /// The broker id.
    pub broker: i32,
    /// The delay distribution.
    pub latency: Latency,
}

///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::faults::BandwidthFault;
/// use kprod_mock::{ClusterConfig, ClusterState, FaultError, FaultPlan, Faults};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// let faults = Faults::new(state);
/// let cap = |bytes_per_s| FaultPlan {
///     bandwidth: vec![BandwidthFault { broker: 0, bytes_per_s }],
///     ..FaultPlan::default()
/// };
/// faults.apply(&cap(1 << 20))?;
/// assert!(matches!(faults.apply(&cap(0)), Err(FaultError::ZeroBandwidth { broker: 0 })));
/// # Ok(()) }
/// ```
/// Caps the inbound bandwidth of `broker` (requests are read no faster than this).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthFault {
    /// The broker id.
    pub broker: i32,
    /// The cap, in bytes per second (> 0).
    pub bytes_per_s: u64,
}

///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::faults::{ErrorName, ProduceErrorFault};
/// use kprod_mock::{ClusterConfig, ClusterState, ErrorTarget, FaultPlan, Faults};
/// use kprod_proto::protocol::ErrorCode;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// state.create_topic("orders", 3)?;
/// let fault = ProduceErrorFault {
///     target: ErrorTarget::Partition { topic: "orders".into(), partition: 2 },
///     error: ErrorName(ErrorCode::NotLeaderOrFollower),
///     count: 1,
/// };
/// Faults::new(state).apply(&FaultPlan { produce_errors: vec![fault], ..FaultPlan::default() })?;
/// # Ok(()) }
/// ```
/// `error` for the next `count` produce requests that `target` selects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceErrorFault {
    /// A broker or a partition.
    pub target: ErrorTarget,
    /// The error code returned.
    pub error: ErrorName,
    /// How many requests fail.
    pub count: u32,
}

///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::faults::DropFault;
/// use kprod_mock::{ClusterConfig, ClusterState, DropPoint, FaultPlan, Faults};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// let drop = DropFault { broker: 0, at: DropPoint::BeforeAppend, count: 2 };
/// Faults::new(state).apply(&FaultPlan { drop_connections: vec![drop], ..FaultPlan::default() })?;
/// # Ok(()) }
/// ```
/// Closes the connection of the next `count` produce requests to `broker`, before or after the append.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropFault {
    /// The broker id.
    pub broker: i32,
    /// Before or after the records are appended.
    pub at: DropPoint,
    /// How many requests are dropped.
    pub count: u32,
}

///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::faults::LeaderMove;
/// use kprod_mock::{ClusterConfig, ClusterState, FaultPlan, Faults};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let addresses = vec!["127.0.0.1:9092".parse()?, "127.0.0.1:9093".parse()?];
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), addresses));
/// state.create_topic("orders", 2)?;
/// assert_eq!(state.topic("orders").unwrap().partitions[0].leader(), 0);
/// let mv = LeaderMove { topic: "orders".into(), partition: 0, to_broker: 1 };
/// Faults::new(state.clone()).apply(&FaultPlan { leader_moves: vec![mv], ..FaultPlan::default() })?;
/// let p = state.topic("orders").unwrap().partitions[0].clone();
/// assert_eq!((p.leader(), p.leader_epoch()), (1, 1));
/// # Ok(()) }
/// ```
/// Makes `to_broker` the leader of one partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderMove {
    /// The topic name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The new leader's broker id.
    pub to_broker: i32,
}

///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::faults::ThrottleFault;
/// use kprod_mock::{ClusterConfig, ClusterState, FaultPlan, Faults};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// let plan: FaultPlan = serde_yaml_ng::from_str("throttle: [{broker: 0, ms: 250}]")?;
/// assert_eq!(plan.throttle, vec![ThrottleFault { broker: 0, ms: 250 }]);
/// Faults::new(state).apply(&plan)?;
/// # Ok(()) }
/// ```
/// Reports `ms` of throttle time in every produce response of `broker` (the client backs off; nothing is delayed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleFault {
    /// The broker id.
    pub broker: i32,
    /// The throttle time, in ms.
    pub ms: i32,
}

/// The fault settings of one broker.
#[derive(Debug)]
pub(crate) struct BrokerFaults {
    pub latency: Option<Latency>,
    pub bandwidth_bytes_per_s: Option<u64>,
    /// When the modelled inbound link is next free.
    pub link_free_at: Option<Instant>,
    /// Errors for the next produce requests: (code, requests left), consumed front first.
    pub produce_errors: VecDeque<(ErrorCode, u32)>,
    pub drop_before_append: u32,
    pub drop_after_append: u32,
    pub throttle_ms: i32,
    pub rng: SmallRng,
}

impl BrokerFaults {
    fn new(seed: u64) -> Self {
        BrokerFaults {
            latency: None,
            bandwidth_bytes_per_s: None,
            link_free_at: None,
            produce_errors: VecDeque::new(),
            drop_before_append: 0,
            drop_after_append: 0,
            throttle_ms: 0,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    fn is_armed(&self) -> bool {
        self.latency.is_some()
            || self.bandwidth_bytes_per_s.is_some()
            || !self.produce_errors.is_empty()
            || self.drop_before_append > 0
            || self.drop_after_append > 0
            || self.throttle_ms != 0
    }
}

/// A partition-targeted error: (topic, partition, code, requests left).
#[derive(Debug, Clone)]
pub(crate) struct PartitionError {
    pub topic: String,
    pub partition: i32,
    pub error: ErrorCode,
    pub remaining: u32,
}

/// A queued transaction error: (API or any, code, requests left).
#[derive(Debug, Clone)]
pub(crate) struct TxnError {
    pub api: Option<ApiKey>,
    pub error: ErrorCode,
    pub remaining: u32,
}

/// Fault settings of the whole cluster, inside [`ClusterState`].
#[derive(Debug)]
pub(crate) struct FaultState {
    txn_errors: Mutex<VecDeque<TxnError>>,
    txn_armed: AtomicBool,
    brokers: Vec<Mutex<BrokerFaults>>,
    /// Per broker: true when any setting is active (checked lock-free on every request).
    armed: Vec<AtomicBool>,
    partition_errors: Mutex<Vec<PartitionError>>,
    partition_armed: AtomicBool,
    /// Metadata responses still to answer from a stale cache.
    stale_metadata: AtomicU32,
}

impl FaultState {
    pub(crate) fn new(brokers: usize) -> Self {
        FaultState {
            txn_errors: Mutex::new(VecDeque::new()),
            txn_armed: AtomicBool::new(false),
            brokers: (0..brokers).map(|i| Mutex::new(BrokerFaults::new(0x006b_7072_6f64 + i as u64))).collect(),
            armed: (0..brokers).map(|_| AtomicBool::new(false)).collect(),
            partition_errors: Mutex::new(Vec::new()),
            partition_armed: AtomicBool::new(false),
            stale_metadata: AtomicU32::new(0),
        }
    }

    /// True when this Metadata response comes from a stale cache (and counts it).
    pub(crate) fn take_stale_metadata(&self) -> bool {
        self.stale_metadata.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }

    /// True when broker `id` has any fault set (one relaxed load).
    #[inline]
    pub(crate) fn broker_armed(&self, id: i32) -> bool {
        usize::try_from(id).ok().and_then(|i| self.armed.get(i)).is_some_and(|a| a.load(Ordering::Relaxed))
    }

    #[inline]
    pub(crate) fn partitions_armed(&self) -> bool {
        self.partition_armed.load(Ordering::Relaxed)
    }

    /// Runs `f` on broker `id`'s settings and refreshes its armed flag.
    pub(crate) fn with_broker<R>(&self, id: i32, f: impl FnOnce(&mut BrokerFaults) -> R) -> Option<R> {
        let i = usize::try_from(id).ok()?;
        let mut guard = self.brokers.get(i)?.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut guard);
        self.armed[i].store(guard.is_armed(), Ordering::Relaxed);
        Some(r)
    }

    fn partition_errors(&self) -> MutexGuard<'_, Vec<PartitionError>> {
        self.partition_errors.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Consumes one injected error for this partition, if any is queued.
    pub(crate) fn take_partition_error(&self, topic: &str, partition: i32) -> Option<ErrorCode> {
        let mut errors = self.partition_errors();
        let i = errors.iter().position(|e| e.topic == topic && e.partition == partition)?;
        let error = errors[i].error;
        errors[i].remaining -= 1;
        if errors[i].remaining == 0 {
            errors.remove(i);
        }
        self.partition_armed.store(!errors.is_empty(), Ordering::Relaxed);
        Some(error)
    }

    /// Consumes one injected error for a request of `api`, if one is queued for it (errors without
    /// an API hit every transactional API but FindCoordinator).
    pub(crate) fn take_txn_error(&self, api: ApiKey) -> Option<ErrorCode> {
        if !self.txn_armed.load(Ordering::Relaxed) {
            return None;
        }
        let mut errors = self.txn_errors.lock().unwrap_or_else(|e| e.into_inner());
        let i = errors.iter().position(|e| e.api.map_or(api != ApiKey::FindCoordinator, |a| a == api))?;
        let error = errors[i].error;
        errors[i].remaining -= 1;
        if errors[i].remaining == 0 {
            errors.remove(i);
        }
        self.txn_armed.store(!errors.is_empty(), Ordering::Relaxed);
        Some(error)
    }

    fn push_txn_error(&self, e: TxnError) {
        self.txn_errors.lock().unwrap_or_else(|e| e.into_inner()).push_back(e);
        self.txn_armed.store(true, Ordering::Relaxed);
    }

    fn push_partition_error(&self, e: PartitionError) {
        let mut errors = self.partition_errors();
        errors.push(e);
        self.partition_armed.store(true, Ordering::Relaxed);
    }

    fn clear(&self) {
        for i in 0..self.brokers.len() {
            self.with_broker(i as i32, |f| {
                let rng = f.rng.clone();
                *f = BrokerFaults::new(0);
                f.rng = rng;
            });
        }
        self.partition_errors().clear();
        self.partition_armed.store(false, Ordering::Relaxed);
        self.txn_errors.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.txn_armed.store(false, Ordering::Relaxed);
        self.stale_metadata.store(0, Ordering::Relaxed);
    }
}

/// The fault-injection handle of a cluster (cheap to clone).
///
/// ```
/// use std::sync::Arc;
/// use kprod_mock::{ClusterConfig, ClusterState, Faults, Latency};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = Arc::new(ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]));
/// let faults = Faults::new(state);
/// faults.set_latency(0, Some(Latency::Fixed { ms: 3.0 }))?;
/// faults.set_throttle(0, 100)?;
/// faults.stale_metadata(2);
/// faults.clear();
/// assert!(faults.set_bandwidth(1, Some(1000)).is_err(), "one broker: id 1 is unknown");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Faults {
    state: Arc<ClusterState>,
}

impl Faults {
    /// The fault handle of the cluster whose shared state is `state`.
    pub fn new(state: Arc<ClusterState>) -> Self {
        Faults { state }
    }

    fn broker<R>(&self, broker: i32, f: impl FnOnce(&mut BrokerFaults) -> R) -> Result<R, FaultError> {
        self.state
            .faults
            .with_broker(broker, f)
            .ok_or(FaultError::UnknownBroker { broker, brokers: self.state.broker_count() })
    }

    /// Adds latency to every response of `broker`; `None` removes it.
    pub fn set_latency(&self, broker: i32, latency: Option<Latency>) -> Result<(), FaultError> {
        if let Some(l) = &latency {
            l.check()?;
        }
        self.broker(broker, |f| f.latency = latency)
    }

    /// Caps the inbound bandwidth of `broker`; `None` removes the cap.
    pub fn set_bandwidth(&self, broker: i32, bytes_per_s: Option<u64>) -> Result<(), FaultError> {
        if bytes_per_s == Some(0) {
            return Err(FaultError::ZeroBandwidth { broker });
        }
        self.broker(broker, |f| {
            f.bandwidth_bytes_per_s = bytes_per_s;
            f.link_free_at = None;
        })
    }

    /// Answers the next `count` produce requests hitting `target` with `error`, storing nothing.
    pub fn fail_produce(&self, target: ErrorTarget, error: ErrorCode, count: u32) -> Result<(), FaultError> {
        if count == 0 {
            return Ok(());
        }
        match target {
            ErrorTarget::Broker { broker } => self.broker(broker, |f| f.produce_errors.push_back((error, count))),
            ErrorTarget::Partition { topic, partition } => {
                self.state.faults.push_partition_error(PartitionError { topic, partition, error, remaining: count });
                Ok(())
            }
        }
    }

    /// Closes the connection on the next `count` produce requests to `broker`, before or after the append.
    pub fn drop_connections(&self, broker: i32, at: DropPoint, count: u32) -> Result<(), FaultError> {
        self.broker(broker, |f| match at {
            DropPoint::BeforeAppend => f.drop_before_append += count,
            DropPoint::AfterAppend => f.drop_after_append += count,
        })
    }

    /// Moves leadership of a partition (Metadata and Produce follow at once).
    pub fn move_leader(&self, topic: &str, partition: i32, to_broker: i32) -> Result<(), FaultError> {
        Ok(self.state.move_leader(topic, partition, to_broker)?)
    }

    /// Puts `ms` into `throttle_time_ms` of every response of `broker` (0 removes it).
    pub fn set_throttle(&self, broker: i32, ms: i32) -> Result<(), FaultError> {
        self.broker(broker, |f| f.throttle_ms = ms.max(0))
    }

    /// Answers the next `count` requests of `api` (every transactional API but FindCoordinator when
    /// `None`) with `error`, on any broker, before the coordinator looks at them.
    pub fn fail_txn(&self, api: Option<TxnApi>, error: ErrorCode, count: u32) {
        if count > 0 {
            self.state.faults.push_txn_error(TxnError { api: api.map(TxnApi::api_key), error, remaining: count });
        }
    }

    /// Moves the transaction (or group) coordinator of `key` to `to_broker`; the old coordinator
    /// answers NOT_COORDINATOR from now on and the coordinator epoch is bumped.
    pub fn move_coordinator(&self, kind: CoordinatorKind, key: &str, to_broker: i32) -> Result<(), FaultError> {
        if self.state.address(to_broker).is_none() {
            return Err(FaultError::UnknownBroker { broker: to_broker, brokers: self.state.broker_count() });
        }
        self.state.txn.move_coordinator(kind.key_type(), key, to_broker);
        Ok(())
    }

    /// The next `responses` Metadata responses, from any broker, announce every partition's leader as it was
    /// before its last move: a broker whose metadata cache lags behind a leader election.
    pub fn stale_metadata(&self, responses: u32) {
        self.state.faults.stale_metadata.store(responses, Ordering::Relaxed);
    }

    /// Removes every fault (leader and coordinator moves stay: they are state, not faults).
    pub fn clear(&self) {
        self.state.faults.clear();
    }

    /// Applies the non-async part of a plan (everything but `brokers_down`).
    pub fn apply(&self, plan: &FaultPlan) -> Result<(), FaultError> {
        for l in &plan.latency {
            self.set_latency(l.broker, Some(l.latency.clone()))?;
        }
        for b in &plan.bandwidth {
            self.set_bandwidth(b.broker, Some(b.bytes_per_s))?;
        }
        for e in &plan.produce_errors {
            self.fail_produce(e.target.clone(), e.error.0, e.count)?;
        }
        for d in &plan.drop_connections {
            self.drop_connections(d.broker, d.at, d.count)?;
        }
        for m in &plan.leader_moves {
            self.move_leader(&m.topic, m.partition, m.to_broker)?;
        }
        for t in &plan.throttle {
            self.set_throttle(t.broker, t.ms)?;
        }
        for e in &plan.txn_errors {
            self.fail_txn(e.api, e.error.0, e.count);
        }
        for m in &plan.coordinator_moves {
            self.move_coordinator(m.kind, &m.key, m.to_broker)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
