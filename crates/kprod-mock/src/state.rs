//! The shared state of a mock cluster: brokers, topics, partitions (each with its own lock),
//! producer ids, counters and fault settings — all behind one `Arc<ClusterState>`.
//!
//! Locking: the topic map is an `RwLock` taken for reading on every request (written only when a
//! topic is created); each partition has its own `Mutex<PartitionLog>`, held only for the
//! bookkeeping part of an append (validation runs before). Counters are per-broker atomics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::faults::FaultState;
use super::log::{PartitionLog, StorageMode, StoredBatch, Validation};
use crate::protocol::{ApiKey, DEFAULT_MAX_FRAME_BYTES, ErrorCode, Uuid};
use crate::record::{Header, RecordError};
use bytes::Bytes;

/// Kafka's limit on topic name length.
pub const TOPIC_NAME_MAX_LEN: usize = 249;
/// Upper bound on partitions per topic (a bound on what a request can make us allocate).
pub const PARTITIONS_MAX: i32 = 10_000;
/// Upper bound on topics per cluster (auto-creation cannot grow the map without end).
pub const TOPICS_MAX: usize = 10_000;

/// Static settings of a mock cluster.
///
/// ```
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config: ClusterConfig = serde_yaml_ng::from_str("{default_partitions: 6, auto_create_topics: false}")?;
/// assert_eq!((config.default_partitions, config.auto_create_topics), (6, false));
/// assert_eq!(config.transaction_version, ClusterConfig::default().transaction_version, "the rest keeps its default");
/// let state = ClusterState::new(config, vec!["127.0.0.1:9092".parse()?, "127.0.0.1:9093".parse()?]);
/// assert_eq!(state.config.brokers, 2, "one broker per address");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Number of brokers (node ids 0..brokers).
    pub brokers: usize,
    /// Partitions of an auto-created topic.
    pub default_partitions: i32,
    /// Whether appended batches are kept (retain) or only counted (sink).
    pub mode: StorageMode,
    /// How much of each produced batch is checked (CRC only, or every record).
    pub validation: Validation,
    /// Create unknown topics on Metadata (when the request allows it) and on Produce.
    pub auto_create_topics: bool,
    /// Largest request frame accepted (Kafka's `socket.request.max.bytes`).
    pub max_frame_bytes: usize,
    /// Returned in Metadata.
    pub cluster_id: String,
    /// SASL required on every listener (`SASL_PLAINTEXT`); `None` = PLAINTEXT. Not serialized: it holds
    /// credentials.
    #[serde(skip)]
    pub sasl: Option<super::sasl::BrokerSasl>,
    /// Finalized `transaction.version` advertised in ApiVersions: 2 (Kafka 4.x default) enables
    /// transaction protocol v2 (KIP-890), 1 or 0 keeps v1.
    pub transaction_version: i16,
    /// Kafka's `transaction.max.timeout.ms`: a longer `transaction_timeout_ms` in InitProducerId is
    /// refused with INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: i32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            brokers: 1,
            default_partitions: 1,
            mode: StorageMode::default(),
            validation: Validation::Crc,
            auto_create_topics: true,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            cluster_id: "kprod-mock-cluster".into(),
            sasl: None,
            transaction_version: 2,
            transaction_max_timeout_ms: super::txn::TRANSACTION_MAX_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// Why a topic could not be created or found.
///
/// ```
/// use kprod_mock::{ClusterConfig, ClusterState, TopicError};
/// use kprod_proto::protocol::ErrorCode;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let e = state.create_topic("no spaces", 1).unwrap_err();
/// assert!(matches!(e, TopicError::InvalidName { .. }));
/// assert_eq!(e.error_code(), ErrorCode::InvalidTopicException);
/// state.create_topic("orders", 1)?;
/// assert_eq!(state.create_topic("orders", 1).unwrap_err(), TopicError::AlreadyExists { name: "orders".into() });
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// A name Kafka refuses (empty, too long, `.`/`..`, characters outside `[a-zA-Z0-9._-]`).
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidName {
        /// The topic name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A partition count outside 1..=[`PARTITIONS_MAX`] (or not more than the topic has, when adding).
    #[error("invalid partition count {partitions} for topic {name:?} (1..={PARTITIONS_MAX})")]
    InvalidPartitions {
        /// The topic name.
        name: String,
        /// The count asked for.
        partitions: i32,
    },
    /// Creating a topic that exists.
    #[error("topic {name:?} already exists")]
    AlreadyExists {
        /// The topic name.
        name: String,
    },
    /// The cluster holds [`TOPICS_MAX`] topics already.
    #[error("topic limit of {TOPICS_MAX} reached, cannot create {name:?}")]
    TooManyTopics {
        /// The topic that could not be created.
        name: String,
    },
    /// No such topic.
    #[error("unknown topic {name:?}")]
    Unknown {
        /// The topic name.
        name: String,
    },
    /// The topic exists but has no such partition.
    #[error("unknown partition {partition} of topic {name:?}")]
    UnknownPartition {
        /// The topic name.
        name: String,
        /// The partition index.
        partition: i32,
    },
    /// A broker id outside the cluster.
    #[error("unknown broker {broker} (the cluster has {brokers})")]
    UnknownBroker {
        /// The id given.
        broker: i32,
        /// How many brokers the cluster has.
        brokers: usize,
    },
}

impl TopicError {
    /// The Kafka error code for this failure.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            TopicError::InvalidName { .. } => ErrorCode::InvalidTopicException,
            TopicError::InvalidPartitions { .. } => ErrorCode::InvalidPartitions,
            TopicError::AlreadyExists { .. } => ErrorCode::TopicAlreadyExists,
            TopicError::TooManyTopics { .. } => ErrorCode::PolicyViolation,
            TopicError::Unknown { .. } | TopicError::UnknownPartition { .. } => ErrorCode::UnknownTopicOrPartition,
            TopicError::UnknownBroker { .. } => ErrorCode::BrokerNotAvailable,
        }
    }
}

/// One partition: its leadership and its log.
///
/// ```
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let addresses = vec!["127.0.0.1:9092".parse()?, "127.0.0.1:9093".parse()?];
/// let state = ClusterState::new(ClusterConfig::default(), addresses);
/// let topic = state.create_topic("orders", 2)?;
/// assert_eq!((topic.name.as_str(), topic.partitions.len()), ("orders", 2));
/// let p = &topic.partitions[1];
/// assert_eq!((p.leader(), p.leader_epoch()), (1, 0), "partition p is led by broker p % 2");
/// p.set_leader(0);
/// assert_eq!((p.leader(), p.leader_epoch()), (0, 1));
/// assert_eq!(p.announced_leader(true), (1, 0), "a stale metadata cache still announces the old leader");
/// assert_eq!(p.log().next_offset, 0);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Partition {
    /// Node id of the leader (the only replica).
    leader: AtomicI32,
    /// Bumped on every leader move, reported in Metadata v7+ and Produce v10+.
    leader_epoch: AtomicI32,
    /// Leader (high 32 bits) and leader epoch (low 32) before the last move: what a broker whose metadata cache
    /// lags still announces ([`Faults::stale_metadata`](super::faults::Faults::stale_metadata)).
    before_move: AtomicU64,
    log: Mutex<PartitionLog>,
}

fn pack_leader(leader: i32, epoch: i32) -> u64 {
    ((leader as u32 as u64) << 32) | epoch as u32 as u64
}

impl Partition {
    fn led_by(broker: i32) -> Partition {
        Partition {
            leader: AtomicI32::new(broker),
            leader_epoch: AtomicI32::new(0),
            before_move: AtomicU64::new(pack_leader(broker, 0)),
            log: Mutex::new(PartitionLog::default()),
        }
    }
    /// Node id of the current leader.
    pub fn leader(&self) -> i32 {
        self.leader.load(Ordering::Relaxed)
    }
    /// The current leader epoch (0, bumped by every move).
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Relaxed)
    }
    /// Moves leadership and bumps the leader epoch.
    pub fn set_leader(&self, broker: i32) {
        let before = pack_leader(self.leader(), self.leader_epoch());
        self.before_move.store(before, Ordering::Relaxed);
        self.leader.store(broker, Ordering::Relaxed);
        self.leader_epoch.fetch_add(1, Ordering::Relaxed);
    }
    /// The leader and leader epoch Metadata announces: the current ones, or, from a stale cache, those before
    /// the last move.
    pub fn announced_leader(&self, stale: bool) -> (i32, i32) {
        if stale {
            let v = self.before_move.load(Ordering::Relaxed);
            ((v >> 32) as i32, v as u32 as i32)
        } else {
            (self.leader(), self.leader_epoch())
        }
    }
    /// Locks the log; a poisoned lock (a panic elsewhere) still yields the data.
    pub fn log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A topic: name, id and partitions.
///
/// ```
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let addresses = vec!["127.0.0.1:9092".parse()?, "127.0.0.1:9093".parse()?];
/// let state = ClusterState::new(ClusterConfig::default(), addresses);
/// let topic = state.create_topic("orders", 2)?;
/// assert_eq!((topic.name.as_str(), topic.partitions.len()), ("orders", 2));
/// let p = &topic.partitions[1];
/// assert_eq!((p.leader(), p.leader_epoch()), (1, 0), "partition p is led by broker p % 2");
/// p.set_leader(0);
/// assert_eq!((p.leader(), p.leader_epoch()), (0, 1));
/// assert_eq!(p.announced_leader(true), (1, 0), "a stale metadata cache still announces the old leader");
/// assert_eq!(p.log().next_offset, 0);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Topic {
    /// The topic name.
    pub name: String,
    /// Derived from the name, so it is stable across runs.
    pub id: Uuid,
    /// Shared with the grown copy of the topic when partitions are added ([`ClusterState::add_partitions`]).
    pub partitions: Vec<Arc<Partition>>,
}

/// Per-broker counters.
///
/// ```
/// use kprod_mock::{ClusterConfig, ClusterState, StatsSnapshot};
/// use kprod_proto::protocol::ApiKey;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let stats = state.stats(0).expect("broker 0");
/// stats.count_api(ApiKey::Metadata);
/// stats.count_api(ApiKey::Metadata);
/// let snapshot: StatsSnapshot = stats.snapshot();
/// assert_eq!(snapshot.requests_of(ApiKey::Metadata), 2);
/// assert_eq!((snapshot + snapshot).requests_of(ApiKey::Metadata), 4);
/// assert_eq!(state.total_stats(), snapshot, "one broker: its counters are the cluster's");
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// Request frames received.
    pub requests: AtomicU64,
    /// Decoded requests per API, in [`ApiKey::ALL`] order.
    pub api_requests: [AtomicU64; ApiKey::ALL.len()],
    /// Produce requests.
    pub produce_requests: AtomicU64,
    /// Record batches appended.
    pub produce_batches: AtomicU64,
    /// Records appended.
    pub produce_records: AtomicU64,
    /// Bytes of record batches appended (as sent: compressed).
    pub produce_bytes: AtomicU64,
    /// Partition results answered with an error (injected ones included).
    pub produce_partition_errors: AtomicU64,
    /// Batches recognised as duplicates of an appended one (idempotence) and acknowledged without a second append.
    pub produce_duplicates: AtomicU64,
    /// Fetch requests.
    pub fetch_requests: AtomicU64,
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections closed by the broker (bad frames, injected drops).
    pub connections_closed_by_broker: AtomicU64,
}

/// A plain copy of the counters (one broker or the cluster sum).
///
/// ```
/// use kprod_mock::{ClusterConfig, ClusterState, StatsSnapshot};
/// use kprod_proto::protocol::ApiKey;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let stats = state.stats(0).expect("broker 0");
/// stats.count_api(ApiKey::Metadata);
/// stats.count_api(ApiKey::Metadata);
/// let snapshot: StatsSnapshot = stats.snapshot();
/// assert_eq!(snapshot.requests_of(ApiKey::Metadata), 2);
/// assert_eq!((snapshot + snapshot).requests_of(ApiKey::Metadata), 4);
/// assert_eq!(state.total_stats(), snapshot, "one broker: its counters are the cluster's");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    /// Request frames received.
    pub requests: u64,
    /// Decoded requests per API, in [`ApiKey::ALL`] order (see [`StatsSnapshot::requests_of`]).
    pub api_requests: [u64; ApiKey::ALL.len()],
    /// Produce requests.
    pub produce_requests: u64,
    /// Record batches appended.
    pub produce_batches: u64,
    /// Records appended.
    pub produce_records: u64,
    /// Bytes of record batches appended (as sent: compressed).
    pub produce_bytes: u64,
    /// Partition results answered with an error (injected ones included).
    pub produce_partition_errors: u64,
    /// Duplicate batches acknowledged without a second append.
    pub produce_duplicates: u64,
    /// Fetch requests.
    pub fetch_requests: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections closed by the broker (bad frames, injected drops).
    pub connections_closed_by_broker: u64,
}

impl BrokerStats {
    /// Reads every counter (relaxed loads: a consistent total only once the cluster is idle).
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: l(&self.requests),
            api_requests: std::array::from_fn(|i| l(&self.api_requests[i])),
            produce_requests: l(&self.produce_requests),
            produce_batches: l(&self.produce_batches),
            produce_records: l(&self.produce_records),
            produce_bytes: l(&self.produce_bytes),
            produce_partition_errors: l(&self.produce_partition_errors),
            produce_duplicates: l(&self.produce_duplicates),
            fetch_requests: l(&self.fetch_requests),
            connections_accepted: l(&self.connections_accepted),
            connections_closed_by_broker: l(&self.connections_closed_by_broker),
        }
    }
}

impl StatsSnapshot {
    /// Decoded requests of one API.
    pub fn requests_of(&self, api: ApiKey) -> u64 {
        ApiKey::ALL.iter().position(|k| *k == api).map_or(0, |i| self.api_requests[i])
    }
}

impl BrokerStats {
    /// Counts one decoded request of `api`.
    pub fn count_api(&self, api: ApiKey) {
        if let Some(i) = ApiKey::ALL.iter().position(|k| *k == api) {
            self.api_requests[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl std::ops::Add for StatsSnapshot {
    type Output = StatsSnapshot;
    fn add(self, o: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests + o.requests,
            api_requests: std::array::from_fn(|i| self.api_requests[i] + o.api_requests[i]),
            produce_requests: self.produce_requests + o.produce_requests,
            produce_batches: self.produce_batches + o.produce_batches,
            produce_records: self.produce_records + o.produce_records,
            produce_bytes: self.produce_bytes + o.produce_bytes,
            produce_partition_errors: self.produce_partition_errors + o.produce_partition_errors,
            produce_duplicates: self.produce_duplicates + o.produce_duplicates,
            fetch_requests: self.fetch_requests + o.fetch_requests,
            connections_accepted: self.connections_accepted + o.connections_accepted,
            connections_closed_by_broker: self.connections_closed_by_broker + o.connections_closed_by_broker,
        }
    }
}

/// One record read back from the log, with everything a test may want to check.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::record::{BatchBuilder, Compression};
/// use kprod_mock::log::validate_record_set;
/// use kprod_mock::{ClusterConfig, ClusterState, StorageMode, Validation};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let mut builder = BatchBuilder::new(BytesMut::new(), Compression::None, 1_000);
/// builder.append(1_000, Some(b"k"), Some(b"v"), &[]);
/// let set = builder.close()?.bytes.freeze();
/// let batches = validate_record_set(&set, Validation::Full)?;
/// let topic = state.create_topic("orders", 1)?;
/// let appended = topic.partitions[0].log().append(&batches, StorageMode::Retain { max_bytes: 1 << 20 }, &state.retained_bytes)?;
/// assert_eq!((appended.base_offset, appended.records, appended.duplicate), (0, 1, false));
/// let records = state.records("orders", 0)?;
/// assert_eq!((records[0].offset, records[0].value.as_deref()), (0, Some(&b"v"[..])));
/// assert_eq!(records[0].producer_id, -1, "not an idempotent batch");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Its timestamp, in ms since the Unix epoch (create time, or the append time the broker set).
    pub timestamp_ms: i64,
    /// The key; `None` = null.
    pub key: Option<Bytes>,
    /// The value; `None` = null (a tombstone).
    pub value: Option<Bytes>,
    /// The record headers, in order.
    pub headers: Vec<Header>,
    /// Producer id of its batch, -1 without idempotence.
    pub producer_id: i64,
    /// Producer epoch of its batch, -1 without idempotence.
    pub producer_epoch: i16,
    /// Sequence of this record (batch base sequence + offset delta), -1 without idempotence.
    pub sequence: i32,
}

/// Everything the brokers of one cluster share.
///
/// ```
/// use kprod_mock::state::FIRST_PRODUCER_ID;
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// assert_eq!(state.broker_count(), 1);
/// state.create_topic("orders", 3)?;
/// assert_eq!(state.topic_names(), vec!["orders".to_string()]);
/// assert_eq!(state.next_offset("orders", 2), Some(0));
/// assert_eq!(state.next_producer_id(), FIRST_PRODUCER_ID);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ClusterState {
    /// The settings the cluster was started with.
    pub config: ClusterConfig,
    /// Listener address per node id (fixed at start; a restarted broker reuses its port).
    addresses: Vec<SocketAddr>,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Bytes retained over all partitions (retain mode).
    pub retained_bytes: AtomicU64,
    next_producer_id: AtomicI64,
    /// The transaction coordinator (transactional ids, epochs, markers, committed offsets).
    pub txn: super::txn::TxnCoordinator,
    stats: Vec<BrokerStats>,
    pub(crate) faults: FaultState,
}

/// First producer id handed out (recognisable in logs).
pub const FIRST_PRODUCER_ID: i64 = 1000;

fn topic_id(name: &str) -> Uuid {
    // Two FNV-1a passes with different seeds: stable, non-zero, good enough for a mock.
    let fnv = |seed: u64| name.bytes().fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    id[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_be_bytes());
    id
}

/// Kafka's topic name rule: 1..=249 characters of `[a-zA-Z0-9._-]`, not "." or "..".
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let bad = |reason| Err(TopicError::InvalidName { name: name.chars().take(300).collect(), reason });
    if name.is_empty() {
        return bad("empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > TOPIC_NAME_MAX_LEN {
        return bad("longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

impl ClusterState {
    /// A cluster whose broker `i` listens on `addresses[i]`. `config.brokers` is taken from the
    /// address count.
    pub fn new(mut config: ClusterConfig, addresses: Vec<SocketAddr>) -> ClusterState {
        config.brokers = addresses.len();
        let brokers = addresses.len();
        ClusterState {
            config,
            addresses,
            topics: RwLock::new(HashMap::new()),
            retained_bytes: AtomicU64::new(0),
            next_producer_id: AtomicI64::new(FIRST_PRODUCER_ID),
            txn: super::txn::TxnCoordinator::default(),
            stats: (0..brokers).map(|_| BrokerStats::default()).collect(),
            faults: FaultState::new(brokers),
        }
    }

    /// Number of brokers.
    pub fn broker_count(&self) -> usize {
        self.addresses.len()
    }

    /// Address of broker `id`.
    pub fn address(&self, id: i32) -> Option<SocketAddr> {
        usize::try_from(id).ok().and_then(|i| self.addresses.get(i)).copied()
    }

    /// Every broker's address, by node id.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// Counters of broker `id`.
    pub fn stats(&self, id: i32) -> Option<&BrokerStats> {
        usize::try_from(id).ok().and_then(|i| self.stats.get(i))
    }

    /// The sum of every broker's counters.
    pub fn total_stats(&self) -> StatsSnapshot {
        self.stats.iter().map(BrokerStats::snapshot).fold(StatsSnapshot::default(), |a, b| a + b)
    }

    /// Looks a topic up.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// Looks a topic up by id.
    pub fn topic_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner()).values().find(|t| &t.id == id).cloned()
    }

    /// Names of all topics, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.topics.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        v.sort();
        v
    }

    /// Creates a topic; partition `p` is led by broker `p % brokers`.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<Arc<Topic>, TopicError> {
        validate_topic_name(name)?;
        if !(1..=PARTITIONS_MAX).contains(&partitions) {
            return Err(TopicError::InvalidPartitions { name: name.into(), partitions });
        }
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if topics.contains_key(name) {
            return Err(TopicError::AlreadyExists { name: name.into() });
        }
        if topics.len() >= TOPICS_MAX {
            return Err(TopicError::TooManyTopics { name: name.into() });
        }
        let brokers = self.broker_count().max(1) as i32;
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: topic_id(name),
            partitions: (0..partitions).map(|p| Arc::new(Partition::led_by(p % brokers))).collect(),
        });
        topics.insert(name.to_string(), topic.clone());
        tracing::debug!(topic = name, partitions, "mock broker created topic");
        Ok(topic)
    }

    /// The topic, created with the default partition count if auto-creation is on.
    pub fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        if !self.config.auto_create_topics {
            return Err(TopicError::Unknown { name: name.chars().take(300).collect() });
        }
        match self.create_topic(name, self.config.default_partitions) {
            Err(TopicError::AlreadyExists { .. }) => self.topic(name).ok_or(TopicError::Unknown { name: name.into() }),
            other => other,
        }
    }

    /// Grows a topic to `partitions` partitions (Kafka's CreatePartitions): the existing ones keep their logs and
    /// leaders, new partition `p` is led by broker `p % brokers`. Fewer partitions than now is refused.
    pub fn add_partitions(&self, name: &str, partitions: i32) -> Result<Arc<Topic>, TopicError> {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let old = topics.get(name).ok_or_else(|| TopicError::Unknown { name: name.into() })?;
        if partitions < old.partitions.len() as i32 || partitions > PARTITIONS_MAX {
            return Err(TopicError::InvalidPartitions { name: name.into(), partitions });
        }
        let brokers = self.broker_count().max(1) as i32;
        let mut grown = old.partitions.clone();
        grown.extend((grown.len() as i32..partitions).map(|p| Arc::new(Partition::led_by(p % brokers))));
        let topic = Arc::new(Topic { name: old.name.clone(), id: old.id, partitions: grown });
        topics.insert(name.to_string(), topic.clone());
        tracing::debug!(topic = name, partitions, "mock broker grew topic");
        Ok(topic)
    }

    /// Moves leadership of a partition to `broker` (bumping its leader epoch).
    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) -> Result<(), TopicError> {
        if self.address(broker).is_none() {
            return Err(TopicError::UnknownBroker { broker, brokers: self.broker_count() });
        }
        let t = self.topic(topic).ok_or_else(|| TopicError::Unknown { name: topic.into() })?;
        let p = usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i))
            .ok_or_else(|| TopicError::UnknownPartition { name: topic.into(), partition })?;
        p.set_leader(broker);
        Ok(())
    }

    /// A new producer id.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The batches retained for a partition (base offsets set), `None` if it does not exist.
    pub fn batches(&self, topic: &str, partition: i32) -> Option<Vec<StoredBatch>> {
        let t = self.topic(topic)?;
        let p = t.partitions.get(usize::try_from(partition).ok()?)?;
        Some(p.log().batches.clone())
    }

    /// Offset the next record of the partition gets (its high watermark).
    pub fn next_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let t = self.topic(topic)?;
        let p = t.partitions.get(usize::try_from(partition).ok()?)?;
        Some(p.log().next_offset)
    }

    /// Every retained record of a partition, decoded, in offset order.
    pub fn records(&self, topic: &str, partition: i32) -> Result<Vec<StoredRecord>, RecordError> {
        let mut out = Vec::new();
        for stored in self.batches(topic, partition).unwrap_or_default() {
            let batch = stored.parse()?;
            for r in batch.records()? {
                let r = r?;
                let sequence = if batch.base_sequence() < 0 {
                    -1
                } else {
                    super::idempotence::last_sequence(batch.base_sequence(), r.offset_delta)
                };
                out.push(StoredRecord {
                    offset: batch.base_offset() + r.offset_delta as i64,
                    timestamp_ms: batch.base_timestamp() + r.timestamp_delta,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    producer_id: batch.producer_id(),
                    producer_epoch: batch.producer_epoch(),
                    sequence,
                });
            }
        }
        Ok(out)
    }
}
