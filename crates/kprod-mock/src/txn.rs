//! The mock cluster's transaction coordinator: transactional ids, producer epochs, fencing,
//! transaction timeouts, COMMIT/ABORT markers, and the consumer offsets committed by transactions.
//!
//! State per transactional id follows Kafka's `TransactionMetadata`: Empty → Ongoing (first
//! partition or group added) → CompleteCommit / CompleteAbort (EndTxn or timeout). Markers are
//! written synchronously to every partition of the transaction, so Kafka's PrepareCommit /
//! PrepareAbort states last no time here; CONCURRENT_TRANSACTIONS can be injected as a fault
//! (and is answered by InitProducerId while it aborts an ongoing transaction, as Kafka does).
//!
//! - **InitProducerId** (`init_producer_id`): a new id at epoch 0, or the same id with the epoch
//!   bumped (a new id once the epoch would overflow). An ongoing transaction is first aborted
//!   with the bumped epoch (markers written, the old producer fenced) and the answer is
//!   CONCURRENT_TRANSACTIONS: the client retries and gets the epoch bumped once more — exactly
//!   Kafka's `handleInitProducerId`. With v3+ `producer_id`/`producer_epoch` (KIP-360) they must
//!   be the current pair (bumped) or the pair before the last KIP-360 bump (a retry: answered with
//!   the current pair), else PRODUCER_FENCED. An InitProducerId without a pair (a new instance)
//!   forgets the previous epoch, so the older instance is fenced.
//! - **Transaction protocol v1**: AddPartitionsToTxn / AddOffsetsToTxn add partitions / groups; a
//!   transactional Produce to a partition not in the transaction fails with INVALID_TXN_STATE
//!   (Kafka 3.8+ verification, KIP-890 part 1); EndTxn writes the markers, keeps the epoch.
//! - **Transaction protocol v2** (KIP-890 part 2, when the cluster's `transaction_version` is 2
//!   and the client says so with Produce v12 / TxnOffsetCommit v5 / EndTxn v5): Produce and
//!   TxnOffsetCommit add the partition / group implicitly, and EndTxn bumps the epoch (markers are
//!   written with the new epoch) and returns it. A retried EndTxn v5 carries the previous epoch and
//!   is answered with the current pair. EndTxn(abort) of an Empty transaction is allowed (the
//!   client may not know whether a timed-out Produce added a partition).
//! - **EndTxn** retry after completion with the same outcome → NONE (idempotent); the other
//!   outcome, or nothing ongoing → INVALID_TXN_STATE; a stale epoch → PRODUCER_FENCED.
//! - **Timeout**: an Ongoing transaction older than its `transaction_timeout_ms` is aborted with
//!   a bumped epoch, fencing its producer. Checked lazily before every request while a
//!   transaction is open (see [`expire_transactions`]).
//!
//! Coordinator placement: Kafka's `abs(key.hashCode) % 50` partition of `__transaction_state` (or
//! `__consumer_offsets` for groups), led by broker `partition % brokers`, unless moved
//! ([`TxnCoordinator::move_coordinator`]). Every move bumps the coordinator epoch written in markers.
//!
//! Lock order: the coordinator's table, then a partition log (the produce path takes them in the
//! same order for transactional batches).
//!
//! # References
//! - Apache Kafka `TransactionCoordinator` (`handleInitProducerId`, `handleAddPartitionsToTransaction`,
//!   `handleEndTransaction`, `abortTimedOutTransactions`), `TransactionMetadata`,
//!   `TransactionStateManager.partitionFor`, `ProducerStateManager`, KIP-98, KIP-360, KIP-890.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::state::ClusterState;
use crate::protocol::ErrorCode;
use crate::protocol::find_coordinator::{KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION};
use crate::record::ControlRecordType;

/// Kafka's `transaction.max.timeout.ms` default (15 minutes).
pub const TRANSACTION_MAX_TIMEOUT_MS_DEFAULT: i32 = 900_000;
/// Kafka's `transaction.state.log.num.partitions` and `offsets.topic.num.partitions` defaults.
pub const COORDINATOR_PARTITIONS: i32 = 50;
/// Bound on transactional ids and on partitions / groups / offsets per transaction.
pub const TRANSACTIONAL_IDS_MAX: usize = 100_000;
/// Bound on the partitions, groups and pending offsets one transaction may hold.
pub const TXN_ENTRIES_MAX: usize = 100_000;

/// Where a transaction stands.
///
/// ```
/// use kprod_mock::txn::{CoordinatorTxnState, InitArgs, TxnMetadata, init_producer_id};
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let args = InitArgs { transactional_id: "tx", timeout_ms: 60_000, producer_id: -1, producer_epoch: -1 };
/// let (producer_id, epoch) = init_producer_id(&state, args).map_err(|code| format!("{code:?}"))?;
/// let meta: TxnMetadata = state.txn.metadata("tx").expect("registered");
/// assert_eq!((meta.producer_id, meta.producer_epoch), (producer_id, epoch));
/// assert_eq!(meta.state, CoordinatorTxnState::Empty, "no transaction open yet");
/// assert_eq!(state.txn.ongoing(), 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorTxnState {
    /// No transaction open (after InitProducerId).
    Empty,
    /// A partition or group was added; EndTxn not yet received.
    Ongoing,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted (by the client or by its timeout).
    CompleteAbort,
}

/// One transactional id's coordinator state.
///
/// ```
/// use kprod_mock::txn::{CoordinatorTxnState, InitArgs, TxnMetadata, init_producer_id};
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let args = InitArgs { transactional_id: "tx", timeout_ms: 60_000, producer_id: -1, producer_epoch: -1 };
/// let (producer_id, epoch) = init_producer_id(&state, args).map_err(|code| format!("{code:?}"))?;
/// let meta: TxnMetadata = state.txn.metadata("tx").expect("registered");
/// assert_eq!((meta.producer_id, meta.producer_epoch), (producer_id, epoch));
/// assert_eq!(meta.state, CoordinatorTxnState::Empty, "no transaction open yet");
/// assert_eq!(state.txn.ongoing(), 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TxnMetadata {
    /// The producer id assigned to this transactional id.
    pub producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// The epoch before the last bump (-1 if none): a KIP-360 / EndTxn v5 retry carries it.
    pub last_producer_epoch: i16,
    /// The id before the last rotation (epoch overflow), -1 if none.
    pub prev_producer_id: i64,
    /// The transaction timeout the producer asked for, in ms.
    pub timeout_ms: i32,
    /// Where the current transaction stands.
    pub state: CoordinatorTxnState,
    /// (topic, partition) pairs added to the current transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// Consumer groups added to the current transaction (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// TxnOffsetCommit offsets, made visible on commit.
    pub pending_offsets: Vec<PendingOffset>,
    /// When the transaction became Ongoing (coordinator clock).
    pub started_ms: i64,
    /// The transaction runs protocol v2 (epoch bump at its end).
    pub v2: bool,
}

/// A consumer offset sent by TxnOffsetCommit, pending until the transaction commits.
///
/// ```
/// use kprod_mock::txn::{CommittedOffset, GroupOffsets, PendingOffset};
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let offsets: GroupOffsets = state.txn.committed_offsets("group");
/// assert!(offsets.is_empty(), "nothing committed yet");
/// // What a committed transaction turns each TxnOffsetCommit entry into:
/// let pending = PendingOffset { group: "group".into(), topic: "t".into(), partition: 0, offset: 42, metadata: None };
/// let committed = CommittedOffset { offset: pending.offset, metadata: pending.metadata.clone() };
/// assert_eq!(committed.offset, 42);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOffset {
    /// The consumer group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The offset to commit (the next record the group will read).
    pub offset: i64,
    /// The client's metadata string, if any.
    pub metadata: Option<String>,
}

/// A committed consumer offset.
///
/// ```
/// use kprod_mock::txn::{CommittedOffset, GroupOffsets, PendingOffset};
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let offsets: GroupOffsets = state.txn.committed_offsets("group");
/// assert!(offsets.is_empty(), "nothing committed yet");
/// // What a committed transaction turns each TxnOffsetCommit entry into:
/// let pending = PendingOffset { group: "group".into(), topic: "t".into(), partition: 0, offset: 42, metadata: None };
/// let committed = CommittedOffset { offset: pending.offset, metadata: pending.metadata.clone() };
/// assert_eq!(committed.offset, 42);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The committed offset.
    pub offset: i64,
    /// The client's metadata string, if any.
    pub metadata: Option<String>,
}

/// A group's committed offsets by (topic, partition).
///
/// ```
/// use kprod_mock::txn::{CommittedOffset, GroupOffsets, PendingOffset};
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let offsets: GroupOffsets = state.txn.committed_offsets("group");
/// assert!(offsets.is_empty(), "nothing committed yet");
/// // What a committed transaction turns each TxnOffsetCommit entry into:
/// let pending = PendingOffset { group: "group".into(), topic: "t".into(), partition: 0, offset: 42, metadata: None };
/// let committed = CommittedOffset { offset: pending.offset, metadata: pending.metadata.clone() };
/// assert_eq!(committed.offset, 42);
/// # Ok(()) }
/// ```
pub type GroupOffsets = BTreeMap<(String, i32), CommittedOffset>;

/// The coordinator state of a cluster, inside [`ClusterState`].
///
/// ```
/// use kprod_mock::{ClusterConfig, ClusterState};
/// use kprod_proto::protocol::find_coordinator::KEY_TYPE_TRANSACTION;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let coordinator = &state.txn;
/// coordinator.set_clock_ms(1_000);
/// coordinator.advance_clock_ms(500);
/// assert_eq!(coordinator.now_ms(), 1_500, "tests drive the coordinator's clock");
/// assert_eq!(state.coordinator_of(KEY_TYPE_TRANSACTION, "tx"), 0, "one broker coordinates everything");
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct TxnCoordinator {
    txns: Mutex<HashMap<String, TxnMetadata>>,
    /// Ongoing transactions (checked lock-free before each request for timeouts).
    ongoing: AtomicUsize,
    committed: Mutex<HashMap<String, GroupOffsets>>,
    /// Coordinators moved by hand: (key type, key) → broker.
    moved: Mutex<HashMap<(i8, String), i32>>,
    coordinator_epoch: AtomicI32,
    /// Added to the wall clock (tests advance time to expire transactions); with `manual_clock`, the clock itself.
    clock_offset_ms: AtomicI64,
    /// The clock is `clock_offset_ms` alone, moved only by [`TxnCoordinator::set_clock_ms`]: the deterministic
    /// simulation's fake time, so a seed's transaction timeouts do not depend on the wall clock.
    manual_clock: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Java's `String.hashCode` (over UTF-16 code units).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The `__transaction_state` / `__consumer_offsets` partition of a key: Kafka's
/// `Utils.abs(key.hashCode) % 50`.
pub fn coordinator_partition(key: &str) -> i32 {
    (java_string_hash(key) & 0x7fff_ffff) % COORDINATOR_PARTITIONS
}

impl TxnCoordinator {
    /// The coordinator's clock, ms since the epoch: the wall clock plus what tests advanced, or the manual clock
    /// once [`TxnCoordinator::set_clock_ms`] was called.
    pub fn now_ms(&self) -> i64 {
        let offset = self.clock_offset_ms.load(Ordering::Relaxed);
        if self.manual_clock.load(Ordering::Relaxed) {
            return offset;
        }
        let wall =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        wall + offset
    }

    /// Switches the coordinator to a manual clock reading `ms` (ms since the epoch); only further calls move it.
    pub fn set_clock_ms(&self, ms: i64) {
        self.clock_offset_ms.store(ms, Ordering::Relaxed);
        self.manual_clock.store(true, Ordering::Relaxed);
    }

    /// Moves the coordinator clock forward (transaction timeouts are checked against it).
    pub fn advance_clock_ms(&self, ms: i64) {
        self.clock_offset_ms.fetch_add(ms.max(0), Ordering::Relaxed);
    }

    /// The coordinator epoch written in markers (bumped by every coordinator move).
    pub fn coordinator_epoch(&self) -> i32 {
        self.coordinator_epoch.load(Ordering::Relaxed)
    }

    /// Ongoing transactions.
    pub fn ongoing(&self) -> usize {
        self.ongoing.load(Ordering::Relaxed)
    }

    /// The coordinator state of `transactional_id`, for tests.
    pub fn metadata(&self, transactional_id: &str) -> Option<TxnMetadata> {
        lock(&self.txns).get(transactional_id).cloned()
    }

    /// Offsets of `group` committed by transactions.
    pub fn committed_offsets(&self, group: &str) -> GroupOffsets {
        lock(&self.committed).get(group).cloned().unwrap_or_default()
    }

    /// Moves the coordinator of (`key_type`, `key`) to `broker` and bumps the coordinator epoch.
    pub fn move_coordinator(&self, key_type: i8, key: &str, broker: i32) {
        lock(&self.moved).insert((key_type, key.to_string()), broker);
        self.coordinator_epoch.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, HashMap<String, TxnMetadata>> {
        lock(&self.txns)
    }

    fn set_state(&self, meta: &mut TxnMetadata, state: CoordinatorTxnState) {
        if meta.state == CoordinatorTxnState::Ongoing && state != CoordinatorTxnState::Ongoing {
            self.ongoing.fetch_sub(1, Ordering::Relaxed);
        } else if meta.state != CoordinatorTxnState::Ongoing && state == CoordinatorTxnState::Ongoing {
            self.ongoing.fetch_add(1, Ordering::Relaxed);
        }
        meta.state = state;
    }
}

impl ClusterState {
    /// The broker coordinating `key` of `key_type` (0 group, 1 transaction).
    pub fn coordinator_of(&self, key_type: i8, key: &str) -> i32 {
        if let Some(b) = lock(&self.txn.moved).get(&(key_type, key.to_string())) {
            return *b;
        }
        coordinator_partition(key) % self.broker_count().max(1) as i32
    }

    /// Offsets of `group` committed by transactions (TxnOffsetCommit + EndTxn commit).
    pub fn committed_offsets(&self, group: &str) -> BTreeMap<(String, i32), i64> {
        self.txn.committed_offsets(group).into_iter().map(|(k, v)| (k, v.offset)).collect()
    }

    /// True when the cluster runs transaction protocol v2 and the client asked for it.
    pub(crate) fn txn_v2(&self, client_v2: bool) -> bool {
        client_v2 && self.config.transaction_version >= 2
    }
}

/// The next (id, epoch) after a bump: epoch + 1, or a new id at epoch 0 when it would overflow.
fn bumped(state: &ClusterState, meta: &TxnMetadata) -> (i64, i16) {
    if meta.producer_epoch >= i16::MAX - 1 {
        (state.next_producer_id(), 0)
    } else {
        (meta.producer_id, meta.producer_epoch + 1)
    }
}

/// The epoch of the markers that end a transaction of `old_pid` after a bump to `next`: the new
/// epoch, or (when the id rotated on overflow) the old one.
fn marker_epoch(old_pid: i64, old_epoch: i16, next: (i64, i16)) -> i16 {
    if next.0 == old_pid { next.1 } else { old_epoch }
}

fn apply_bump(meta: &mut TxnMetadata, (pid, epoch): (i64, i16)) {
    if pid != meta.producer_id {
        meta.prev_producer_id = meta.producer_id;
        meta.last_producer_epoch = -1;
    } else {
        meta.last_producer_epoch = meta.producer_epoch;
    }
    meta.producer_id = pid;
    meta.producer_epoch = epoch;
}

/// Ends the transaction of `meta`: markers of `kind` with `marker_epoch` on every partition,
/// pending offsets committed or dropped, state complete, partitions and groups cleared.
fn complete(
    state: &ClusterState,
    meta: &mut TxnMetadata,
    kind: ControlRecordType,
    producer_id: i64,
    marker_epoch: i16,
) {
    let now = state.txn.now_ms();
    let coordinator_epoch = state.txn.coordinator_epoch();
    for (topic, partition) in &meta.partitions {
        let Some(t) = state.topic(topic) else { continue };
        let Some(p) = usize::try_from(*partition).ok().and_then(|i| t.partitions.get(i)) else { continue };
        let offset = p.log().append_marker(
            producer_id,
            marker_epoch,
            coordinator_epoch,
            kind,
            now,
            state.config.mode,
            &state.retained_bytes,
        );
        tracing::debug!(topic, partition, offset, ?kind, producer_id, "mock coordinator wrote a marker");
    }
    let offsets = std::mem::take(&mut meta.pending_offsets);
    if kind == ControlRecordType::Commit {
        let mut committed = lock(&state.txn.committed);
        for o in offsets {
            committed
                .entry(o.group)
                .or_default()
                .insert((o.topic, o.partition), CommittedOffset { offset: o.offset, metadata: o.metadata });
        }
    }
    meta.partitions.clear();
    meta.groups.clear();
    let done = if kind == ControlRecordType::Commit {
        CoordinatorTxnState::CompleteCommit
    } else {
        CoordinatorTxnState::CompleteAbort
    };
    state.txn.set_state(meta, done);
}

/// Aborts every Ongoing transaction past its timeout: epoch bumped (the producer is fenced),
/// ABORT markers written with the new epoch. Returns how many were aborted.
pub fn expire_transactions(state: &ClusterState) -> usize {
    if state.txn.ongoing() == 0 {
        return 0;
    }
    let now = state.txn.now_ms();
    let mut table = state.txn.table();
    let mut n = 0;
    for (tid, meta) in table.iter_mut() {
        if meta.state == CoordinatorTxnState::Ongoing && now - meta.started_ms > meta.timeout_ms as i64 {
            let old = (meta.producer_id, meta.producer_epoch);
            let next = bumped(state, meta);
            apply_bump(meta, next);
            complete(state, meta, ControlRecordType::Abort, old.0, marker_epoch(old.0, old.1, next));
            tracing::info!(transactional_id = %tid, producer_id = old.0, "mock coordinator aborted a timed-out transaction");
            n += 1;
        }
    }
    n
}

/// What InitProducerId asks, decoded.
///
/// ```
/// use kprod_mock::txn::{CoordinatorTxnState, InitArgs, TxnMetadata, init_producer_id};
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let args = InitArgs { transactional_id: "tx", timeout_ms: 60_000, producer_id: -1, producer_epoch: -1 };
/// let (producer_id, epoch) = init_producer_id(&state, args).map_err(|code| format!("{code:?}"))?;
/// let meta: TxnMetadata = state.txn.metadata("tx").expect("registered");
/// assert_eq!((meta.producer_id, meta.producer_epoch), (producer_id, epoch));
/// assert_eq!(meta.state, CoordinatorTxnState::Empty, "no transaction open yet");
/// assert_eq!(state.txn.ongoing(), 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct InitArgs<'a> {
    /// The transactional id (empty for an idempotent-only producer).
    pub transactional_id: &'a str,
    /// The transaction timeout asked for, in ms.
    pub timeout_ms: i32,
    /// v3+: the pair being bumped, or -1.
    pub producer_id: i64,
    /// v3+: the epoch of the pair being bumped, or -1.
    pub producer_epoch: i16,
}

/// InitProducerId with a transactional id. `Ok((id, epoch))` or the error (PRODUCER_FENCED
/// un-mapped: the handler maps it for old versions).
pub fn init_producer_id(state: &ClusterState, a: InitArgs<'_>) -> Result<(i64, i16), ErrorCode> {
    if a.transactional_id.is_empty() {
        return Err(ErrorCode::InvalidRequest);
    }
    if a.timeout_ms <= 0 || a.timeout_ms > state.config.transaction_max_timeout_ms {
        return Err(ErrorCode::InvalidTransactionTimeout);
    }
    let mut table = state.txn.table();
    let Some(meta) = table.get_mut(a.transactional_id) else {
        if table.len() >= TRANSACTIONAL_IDS_MAX {
            return Err(ErrorCode::PolicyViolation);
        }
        let meta = TxnMetadata {
            producer_id: state.next_producer_id(),
            producer_epoch: 0,
            last_producer_epoch: -1,
            prev_producer_id: -1,
            timeout_ms: a.timeout_ms,
            state: CoordinatorTxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            pending_offsets: Vec::new(),
            started_ms: 0,
            v2: false,
        };
        let r = (meta.producer_id, meta.producer_epoch);
        table.insert(a.transactional_id.to_string(), meta);
        return Ok(r);
    };
    if a.producer_id >= 0 {
        let current = a.producer_id == meta.producer_id && a.producer_epoch == meta.producer_epoch;
        let retry = meta.state != CoordinatorTxnState::Ongoing
            && a.producer_epoch == meta.last_producer_epoch
            && a.producer_id == meta.producer_id;
        if retry {
            return Ok((meta.producer_id, meta.producer_epoch));
        }
        if !current {
            return Err(ErrorCode::ProducerFenced);
        }
    }
    if meta.state == CoordinatorTxnState::Ongoing {
        // Kafka aborts the open transaction with a bumped epoch (never returned) and answers
        // CONCURRENT_TRANSACTIONS; the client's retry then bumps the epoch once more.
        let old = (meta.producer_id, meta.producer_epoch);
        let next = bumped(state, meta);
        apply_bump(meta, next);
        complete(state, meta, ControlRecordType::Abort, old.0, marker_epoch(old.0, old.1, next));
        return Err(ErrorCode::ConcurrentTransactions);
    }
    let next = bumped(state, meta);
    apply_bump(meta, next);
    if a.producer_id < 0 {
        // A new instance (no pair given): no earlier call can be retried any more (Kafka resets
        // lastProducerEpoch), so the previous epoch is fenced rather than taken for a retry.
        meta.last_producer_epoch = -1;
    }
    meta.timeout_ms = a.timeout_ms;
    state.txn.set_state(meta, CoordinatorTxnState::Empty);
    Ok(next)
}

/// Checks that `producer_id`/`producer_epoch` own the transaction of `meta`.
fn check_producer(meta: &TxnMetadata, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
    if producer_id != meta.producer_id {
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    if producer_epoch != meta.producer_epoch {
        return Err(ErrorCode::ProducerFenced);
    }
    Ok(())
}

fn begin(state: &ClusterState, meta: &mut TxnMetadata, v2: bool) {
    if meta.state != CoordinatorTxnState::Ongoing {
        meta.started_ms = state.txn.now_ms();
        meta.v2 = v2;
        state.txn.set_state(meta, CoordinatorTxnState::Ongoing);
    }
}

/// AddPartitionsToTxn (v0–3) for one transaction: every partition gets the same result.
pub fn add_partitions(
    state: &ClusterState,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &[(String, i32)],
) -> Result<(), ErrorCode> {
    let mut table = state.txn.table();
    let meta = table.get_mut(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    check_producer(meta, producer_id, producer_epoch)?;
    if meta.partitions.len() + partitions.len() > TXN_ENTRIES_MAX {
        return Err(ErrorCode::PolicyViolation);
    }
    begin(state, meta, false);
    meta.partitions.extend(partitions.iter().cloned());
    Ok(())
}

/// AddPartitionsToTxn v4+ `verify_only`: which of `partitions` are in the ongoing transaction.
pub fn verify_partitions(
    state: &ClusterState,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partition: &(String, i32),
) -> Result<(), ErrorCode> {
    let table = state.txn.table();
    let meta = table.get(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    check_producer(meta, producer_id, producer_epoch)?;
    if meta.state == CoordinatorTxnState::Ongoing && meta.partitions.contains(partition) {
        Ok(())
    } else {
        Err(ErrorCode::InvalidTxnState)
    }
}

/// AddOffsetsToTxn: adds `group` to the transaction.
pub fn add_offsets(
    state: &ClusterState,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    group: &str,
) -> Result<(), ErrorCode> {
    if group.is_empty() {
        return Err(ErrorCode::InvalidGroupId);
    }
    let mut table = state.txn.table();
    let meta = table.get_mut(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    check_producer(meta, producer_id, producer_epoch)?;
    if meta.groups.len() >= TXN_ENTRIES_MAX {
        return Err(ErrorCode::PolicyViolation);
    }
    begin(state, meta, false);
    meta.groups.insert(group.to_string());
    Ok(())
}

/// TxnOffsetCommit: stores `offsets` (topic, partition, offset, metadata) pending the commit.
/// Under protocol v2 (`client_v2`) the group is added implicitly.
pub fn txn_offset_commit(
    state: &ClusterState,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    group: &str,
    offsets: Vec<(String, i32, i64, Option<String>)>,
    client_v2: bool,
) -> Result<(), ErrorCode> {
    let v2 = state.txn_v2(client_v2);
    let mut table = state.txn.table();
    let meta = table.get_mut(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    if producer_id != meta.producer_id {
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    if producer_epoch != meta.producer_epoch {
        return Err(ErrorCode::InvalidProducerEpoch);
    }
    if v2 {
        begin(state, meta, true);
        meta.groups.insert(group.to_string());
    } else if meta.state != CoordinatorTxnState::Ongoing || !meta.groups.contains(group) {
        return Err(ErrorCode::InvalidTxnState);
    }
    if meta.pending_offsets.len() + offsets.len() > TXN_ENTRIES_MAX {
        return Err(ErrorCode::PolicyViolation);
    }
    for (topic, partition, offset, metadata) in offsets {
        meta.pending_offsets.retain(|o| !(o.group == group && o.topic == topic && o.partition == partition));
        meta.pending_offsets.push(PendingOffset { group: group.to_string(), topic, partition, offset, metadata });
    }
    Ok(())
}

/// EndTxn. `Ok((id, epoch))` is the pair the producer uses next (v5 answers it).
pub fn end_txn(
    state: &ClusterState,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    committed: bool,
    client_v2: bool,
) -> Result<(i64, i16), ErrorCode> {
    let v2 = state.txn_v2(client_v2);
    let mut table = state.txn.table();
    let meta = table.get_mut(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    let done = if committed { CoordinatorTxnState::CompleteCommit } else { CoordinatorTxnState::CompleteAbort };
    let same_outcome = meta.state == done;
    // A v2 retry carries the epoch (and maybe the id) from before the bump this EndTxn caused.
    let v2_retry = v2
        && matches!(meta.state, CoordinatorTxnState::CompleteCommit | CoordinatorTxnState::CompleteAbort)
        && ((producer_id == meta.producer_id && producer_epoch == meta.last_producer_epoch)
            || (producer_id == meta.prev_producer_id && meta.producer_epoch == 0));
    if v2_retry {
        return if same_outcome {
            Ok((meta.producer_id, meta.producer_epoch))
        } else {
            Err(ErrorCode::InvalidTxnState)
        };
    }
    if producer_id != meta.producer_id {
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    if producer_epoch != meta.producer_epoch {
        return Err(ErrorCode::ProducerFenced);
    }
    let kind = ControlRecordType::end_txn(committed);
    match meta.state {
        CoordinatorTxnState::Ongoing => {
            let old = (meta.producer_id, meta.producer_epoch);
            // The request's version decides (as Kafka's clientTransactionVersion): a v4 client
            // could not learn a bumped epoch.
            let epoch = if v2 {
                let next = bumped(state, meta);
                apply_bump(meta, next);
                marker_epoch(old.0, old.1, next)
            } else {
                old.1
            };
            complete(state, meta, kind, old.0, epoch);
            Ok((meta.producer_id, meta.producer_epoch))
        }
        CoordinatorTxnState::Empty | CoordinatorTxnState::CompleteCommit | CoordinatorTxnState::CompleteAbort
            if v2 && !committed =>
        {
            // KIP-890: aborting a transaction that holds nothing bumps the epoch and writes nothing
            // (the client cannot know whether a failed Produce v12 added a partition).
            let next = bumped(state, meta);
            apply_bump(meta, next);
            state.txn.set_state(meta, CoordinatorTxnState::CompleteAbort);
            Ok(next)
        }
        CoordinatorTxnState::CompleteCommit | CoordinatorTxnState::CompleteAbort if same_outcome && !v2 => {
            Ok((meta.producer_id, meta.producer_epoch))
        }
        _ => Err(ErrorCode::InvalidTxnState),
    }
}

/// The coordinator's check of a transactional batch of `producer_id`/`producer_epoch` for
/// `topic`-`partition`, run (with the table locked by the caller) before the append. Under
/// protocol v2 (`client_v2`: Produce v12+) the partition is added implicitly.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_produce(
    state: &ClusterState,
    table: &mut HashMap<String, TxnMetadata>,
    transactional_id: Option<&str>,
    topic: &str,
    partition: i32,
    producer_id: i64,
    producer_epoch: i16,
    client_v2: bool,
) -> Result<(), ErrorCode> {
    let Some(tid) = transactional_id else { return Err(ErrorCode::InvalidRequest) };
    let meta = table.get_mut(tid).ok_or(ErrorCode::InvalidProducerIdMapping)?;
    if producer_id != meta.producer_id {
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    if producer_epoch != meta.producer_epoch {
        return Err(ErrorCode::InvalidProducerEpoch);
    }
    let key = (topic.to_string(), partition);
    if meta.state == CoordinatorTxnState::Ongoing && meta.partitions.contains(&key) {
        return Ok(());
    }
    if state.txn_v2(client_v2) {
        if meta.partitions.len() >= TXN_ENTRIES_MAX {
            return Err(ErrorCode::PolicyViolation);
        }
        begin(state, meta, true);
        meta.partitions.insert(key);
        return Ok(());
    }
    Err(ErrorCode::InvalidTxnState)
}

/// The broker of a coordinator key type, for FindCoordinator: `None` for an unknown key type.
pub fn key_type_known(key_type: i8) -> bool {
    key_type == KEY_TYPE_GROUP || key_type == KEY_TYPE_TRANSACTION
}

#[cfg(test)]
mod tests;
