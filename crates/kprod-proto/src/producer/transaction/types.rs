//! The transaction manager's public types: states and their legal transitions, the consumer group metadata and
//! offsets of `send_offsets_to_transaction`, the requests handed to the sender and what it must do after them.

// Not all public items here are documented yet (issue 18): remove this allow once they are.
#![allow(missing_docs)]

use std::sync::Mutex;
use std::time::Duration;

use crate::producer::error::ProducerError;
use crate::producer::record::TopicPartition;

/// Java's `TransactionManager.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TxnState {
    Uninitialized = 0,
    Initializing = 1,
    Ready = 2,
    InTransaction = 3,
    CommittingTransaction = 4,
    AbortingTransaction = 5,
    AbortableError = 6,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: String,
    /// -1 when unknown (a consumer that is not in a group generation).
    pub generation_id: i32,
    /// Empty when unknown.
    pub member_id: String,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
}

impl OffsetAndMetadata {
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata { offset, leader_epoch: None, metadata: String::new() }
    }
}

/// Which coordinator a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorType {
    Transaction,
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
    FindCoordinator {
        coordinator: CoordinatorType,
        key: String,
    },
    /// `producer_id`/`epoch` are -1 for a first init, the current ones for an epoch bump (KIP-360).
    InitProducerId {
        transaction_timeout_ms: i32,
        producer_id: i64,
        epoch: i16,
    },
    AddPartitions {
        producer_id: i64,
        epoch: i16,
        partitions: Vec<TopicPartition>,
    },
    AddOffsets {
        producer_id: i64,
        epoch: i16,
        group_id: String,
    },
    TxnOffsetCommit {
        producer_id: i64,
        epoch: i16,
        group: ConsumerGroupMetadata,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    },
    EndTxn {
        producer_id: i64,
        epoch: i16,
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
    pub target: Target,
    pub request: TxnRequest,
}

/// What the sender must do after an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnEffect {
    /// A coordinator was found at this address (it may be unknown to the metadata).
    CoordinatorFound { node: i32, address: String },
    /// A new producer id / epoch: reset the idempotent sequences (InitProducerId, or EndTxn under v2).
    ProducerIdAndEpoch { producer_id: i64, epoch: i16 },
}

/// The operation a caller waits on, so a call retried after a timeout resumes the same outcome (Java's
/// `pendingTransition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOperation {
    InitTransactions,
    SendOffsets,
    Commit,
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
    pub transaction_timeout: Duration,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
}
