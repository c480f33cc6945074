//! The transaction manager's public types: states and their legal transitions, the consumer group metadata and
//! offsets of `send_offsets_to_transaction`, the requests handed to the sender and what it must do after them.

use std::sync::Mutex;
use std::time::Duration;

use crate::producer::error::ProducerError;
use crate::producer::record::TopicPartition;

/// Java's `TransactionManager.State`.
///
/// ```
/// use kprod_proto::producer::transaction::TxnState;
///
/// assert!(TxnState::Ready.can_transition_to(TxnState::InTransaction));
/// assert!(!TxnState::Ready.can_transition_to(TxnState::CommittingTransaction), "nothing to commit");
/// assert!(TxnState::InTransaction.can_transition_to(TxnState::FatalError), "any state can turn fatal");
/// assert_eq!(TxnState::AbortableError.to_string(), "ABORTABLE_ERROR");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TxnState {
    /// No producer id yet (before `init_transactions`).
    Uninitialized = 0,
    /// InitProducerId in flight.
    Initializing = 1,
    /// A producer id, no transaction open.
    Ready = 2,
    /// `begin_transaction` was called.
    InTransaction = 3,
    /// EndTxn(commit) in flight.
    CommittingTransaction = 4,
    /// EndTxn(abort) in flight.
    AbortingTransaction = 5,
    /// The transaction cannot commit; `abort_transaction` makes the producer usable again.
    AbortableError = 6,
    /// The producer cannot continue (fenced, unauthorized, ...): close it.
    FatalError = 7,
}

impl TxnState {
    pub(super) fn from_u8(v: u8) -> TxnState {
        match v {
            0 => TxnState::Uninitialized,
            1 => TxnState::Initializing,
            2 => TxnState::Ready,
            3 => TxnState::InTransaction,
            4 => TxnState::CommittingTransaction,
            5 => TxnState::AbortingTransaction,
            6 => TxnState::AbortableError,
            _ => TxnState::FatalError,
        }
    }

    /// Java's `isTransitionValid`: may the manager go from `self` to `target`?
    pub fn can_transition_to(self, target: TxnState) -> bool {
        use TxnState::*;
        match target {
            Uninitialized => matches!(self, Ready | AbortableError),
            Initializing => matches!(self, Uninitialized | AbortingTransaction),
            Ready => matches!(self, Initializing | CommittingTransaction | AbortingTransaction),
            InTransaction => self == Ready,
            CommittingTransaction => self == InTransaction,
            AbortingTransaction => matches!(self, InTransaction | AbortableError),
            AbortableError => matches!(self, InTransaction | CommittingTransaction | AbortableError | Initializing),
            FatalError => true,
        }
    }

    /// The name Java prints (`IN_TRANSACTION`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Uninitialized => "UNINITIALIZED",
            TxnState::Initializing => "INITIALIZING",
            TxnState::Ready => "READY",
            TxnState::InTransaction => "IN_TRANSACTION",
            TxnState::CommittingTransaction => "COMMITTING_TRANSACTION",
            TxnState::AbortingTransaction => "ABORTING_TRANSACTION",
            TxnState::AbortableError => "ABORTABLE_ERROR",
            TxnState::FatalError => "FATAL_ERROR",
        }
    }
}

impl std::fmt::Display for TxnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A consumer's group membership, sent with its offsets so the group coordinator can fence zombies (Java's
/// `ConsumerGroupMetadata`).
///
/// ```
/// use kprod_proto::producer::transaction::ConsumerGroupMetadata;
///
/// let group = ConsumerGroupMetadata::new("billing");
/// assert_eq!((group.group_id.as_str(), group.generation_id), ("billing", -1));
/// assert!(group.member_id.is_empty() && group.group_instance_id.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The consumer group id.
    pub group_id: String,
    /// -1 when unknown (a consumer that is not in a group generation).
    pub generation_id: i32,
    /// Empty when unknown.
    pub member_id: String,
    /// The static member's `group.instance.id` (KIP-345), if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata with only a group id (generation -1, no member), as Java's one-argument constructor.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// An offset to commit, with optional leader epoch and metadata (Java's `OffsetAndMetadata`).
///
/// ```
/// use kprod_proto::producer::transaction::OffsetAndMetadata;
///
/// // The next record the group will read: the last one it processed + 1.
/// let o = OffsetAndMetadata::new(42);
/// assert_eq!((o.offset, o.leader_epoch, o.metadata.as_str()), (42, None, ""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The offset to commit (the next record to read).
    pub offset: i64,
    /// The leader epoch of the record before `offset`, if known (KIP-320).
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with the offset.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset with no leader epoch and empty metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata { offset, leader_epoch: None, metadata: String::new() }
    }
}

/// Which coordinator a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorType {
    /// The transaction coordinator of a transactional id.
    Transaction,
    /// The group coordinator of a consumer group.
    Group,
}

impl CoordinatorType {
    /// The FindCoordinator `key_type`.
    pub fn key_type(self) -> i8 {
        match self {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        }
    }
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Where the sender must send a transactional request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any broker (the least loaded): FindCoordinator.
    AnyNode,
    /// The coordinator with this node id.
    Node(i32),
}

/// The outcome of an asynchronous transactional call, completed by the sender's task and awaited by the caller.
#[derive(Debug, Default)]
pub struct TxnResult {
    slot: Mutex<Option<Result<(), ProducerError>>>,
}

impl TxnResult {
    pub(super) fn complete(&self, r: Result<(), ProducerError>) {
        let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_none() {
            *s = Some(r);
        }
    }
    /// The outcome once done.
    pub fn get(&self) -> Option<Result<(), ProducerError>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The body of a transactional request, with what the sender needs to encode it.
#[derive(Debug, Clone, PartialEq)]
pub enum TxnRequest {
    /// Find the coordinator of `key`.
    FindCoordinator {
        /// Transaction or group coordinator.
        coordinator: CoordinatorType,
        /// The transactional id or group id.
        key: String,
    },
    /// `producer_id`/`epoch` are -1 for a first init, the current ones for an epoch bump (KIP-360).
    InitProducerId {
        /// `transaction.timeout.ms`.
        transaction_timeout_ms: i32,
        /// The producer id being bumped, or -1.
        producer_id: i64,
        /// Its epoch, or -1.
        epoch: i16,
    },
    /// AddPartitionsToTxn: the partitions the transaction writes to.
    AddPartitions {
        /// The producer id.
        producer_id: i64,
        /// The producer epoch.
        epoch: i16,
        /// Partitions not yet added to the transaction.
        partitions: Vec<TopicPartition>,
    },
    /// AddOffsetsToTxn: the group whose offsets the transaction commits.
    AddOffsets {
        /// The producer id.
        producer_id: i64,
        /// The producer epoch.
        epoch: i16,
        /// The consumer group id.
        group_id: String,
    },
    /// TxnOffsetCommit, to the group coordinator.
    TxnOffsetCommit {
        /// The producer id.
        producer_id: i64,
        /// The producer epoch.
        epoch: i16,
        /// The consumer's group membership.
        group: ConsumerGroupMetadata,
        /// The offsets to commit with the transaction.
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    },
    /// EndTxn: commit or abort.
    EndTxn {
        /// The producer id.
        producer_id: i64,
        /// The producer epoch.
        epoch: i16,
        /// `true` commits, `false` aborts.
        commit: bool,
    },
}

impl TxnRequest {
    /// The API name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            TxnRequest::FindCoordinator { .. } => "FindCoordinator",
            TxnRequest::InitProducerId { .. } => "InitProducerId",
            TxnRequest::AddPartitions { .. } => "AddPartitionsToTxn",
            TxnRequest::AddOffsets { .. } => "AddOffsetsToTxn",
            TxnRequest::TxnOffsetCommit { .. } => "TxnOffsetCommit",
            TxnRequest::EndTxn { .. } => "EndTxn",
        }
    }
}

/// What to build and where to send it.
#[derive(Debug, Clone)]
pub struct TxnSend {
    /// Hand it back with the outcome.
    pub id: u64,
    /// Which broker.
    pub target: Target,
    /// The request body.
    pub request: TxnRequest,
}

/// What the sender must do after an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnEffect {
    /// A coordinator was found at this address (it may be unknown to the metadata).
    CoordinatorFound {
        /// The coordinator's node id.
        node: i32,
        /// Its `host:port`.
        address: String,
    },
    /// A new producer id / epoch: reset the idempotent sequences (InitProducerId, or EndTxn under v2).
    ProducerIdAndEpoch {
        /// The producer id.
        producer_id: i64,
        /// The producer epoch.
        epoch: i16,
    },
}

/// The operation a caller waits on, so a call retried after a timeout resumes the same outcome (Java's
/// `pendingTransition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOperation {
    /// `init_transactions`.
    InitTransactions,
    /// `send_offsets_to_transaction`.
    SendOffsets,
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
}

impl TxnOperation {
    /// The API call's name.
    pub fn name(self) -> &'static str {
        match self {
            TxnOperation::InitTransactions => "init_transactions",
            TxnOperation::SendOffsets => "send_offsets_to_transaction",
            TxnOperation::Commit => "commit_transaction",
            TxnOperation::Abort => "abort_transaction",
        }
    }
}

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct TxnSettings {
    /// `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// `retry.backoff.ms`: the first backoff after a retriable error.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the exponential backoff's ceiling.
    pub retry_backoff_max: Duration,
}
