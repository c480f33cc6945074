//! Kafka error codes: every code Apache Kafka defines (-1 ..= 128), with the Java names.
//!
//! [`ErrorCode`] keeps unknown codes as [`ErrorCode::Unknown`] so they round-trip unchanged.
//! [`ErrorCode::is_retriable`] is true exactly for the codes whose Java exception extends
//! `RetriableException`, and [`ErrorCode::invalidates_metadata`] for those whose exception extends
//! `InvalidMetadataException` (a subset: the client should refresh metadata before retrying).
//! Note that `UNKNOWN_LEADER_EPOCH` (75) is retriable but does *not* extend `InvalidMetadataException`.
//!
//! # References
//! - <https://kafka.apache.org/protocol#protocol_error_codes>
//! - Apache Kafka `clients/src/main/java/org/apache/kafka/common/protocol/Errors.java` and the
//!   exception hierarchy under `org.apache.kafka.common.errors`.

use std::fmt;

macro_rules! error_codes {
    ($( $code:literal => $variant:ident, $java:literal, $retriable:literal, $invalid_metadata:literal; )*) => {
        /// A Kafka protocol error code. `None` (0) is success.
        ///
        /// ```
        /// use kprod_proto::protocol::ErrorCode;
        ///
        /// let e = ErrorCode::from_i16(6);
        /// assert_eq!((e, e.name(), e.code()), (ErrorCode::NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER", 6));
        /// assert!(e.is_retriable() && e.invalidates_metadata());
        /// assert_eq!(ErrorCode::from_i16(-999), ErrorCode::Unknown(-999), "kept, so it round-trips");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $java, "` (", stringify!($code), ")")]
                $variant,
            )*
            /// A code this crate does not know; kept so that it round-trips.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every known code, in ascending order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code from its wire value.
            pub const fn from_i16(code: i16) -> Self {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The wire value.
            pub const fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(c) => c,
                }
            }

            /// The Java `Errors` enum name, e.g. `NOT_LEADER_OR_FOLLOWER`; `UNKNOWN` for unknown codes.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $java,)*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// True when Java's exception for this code extends `RetriableException`.
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// True when Java's exception for this code extends `InvalidMetadataException`: the
            /// client's view of the cluster is stale and metadata must be refreshed before a retry.
            pub const fn invalidates_metadata(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $invalid_metadata,)*
                    ErrorCode::Unknown(_) => false,
                }
            }
        }
    };
}

error_codes! {
    -1 => UnknownServerError, "UNKNOWN_SERVER_ERROR", false, false;
    0 => None, "NONE", false, false;
    1 => OffsetOutOfRange, "OFFSET_OUT_OF_RANGE", false, false;
    2 => CorruptMessage, "CORRUPT_MESSAGE", true, false;
    3 => UnknownTopicOrPartition, "UNKNOWN_TOPIC_OR_PARTITION", true, true;
    4 => InvalidFetchSize, "INVALID_FETCH_SIZE", false, false;
    5 => LeaderNotAvailable, "LEADER_NOT_AVAILABLE", true, true;
    6 => NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER", true, true;
    7 => RequestTimedOut, "REQUEST_TIMED_OUT", true, false;
    8 => BrokerNotAvailable, "BROKER_NOT_AVAILABLE", false, false;
    9 => ReplicaNotAvailable, "REPLICA_NOT_AVAILABLE", true, true;
    10 => MessageTooLarge, "MESSAGE_TOO_LARGE", false, false;
    11 => StaleControllerEpoch, "STALE_CONTROLLER_EPOCH", false, false;
    12 => OffsetMetadataTooLarge, "OFFSET_METADATA_TOO_LARGE", false, false;
    13 => NetworkException, "NETWORK_EXCEPTION", true, true;
    14 => CoordinatorLoadInProgress, "COORDINATOR_LOAD_IN_PROGRESS", true, false;
    15 => CoordinatorNotAvailable, "COORDINATOR_NOT_AVAILABLE", true, false;
    16 => NotCoordinator, "NOT_COORDINATOR", true, false;
    17 => InvalidTopicException, "INVALID_TOPIC_EXCEPTION", false, false;
    18 => RecordListTooLarge, "RECORD_LIST_TOO_LARGE", false, false;
    19 => NotEnoughReplicas, "NOT_ENOUGH_REPLICAS", true, false;
    20 => NotEnoughReplicasAfterAppend, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true, false;
    21 => InvalidRequiredAcks, "INVALID_REQUIRED_ACKS", false, false;
    22 => IllegalGeneration, "ILLEGAL_GENERATION", false, false;
    23 => InconsistentGroupProtocol, "INCONSISTENT_GROUP_PROTOCOL", false, false;
    24 => InvalidGroupId, "INVALID_GROUP_ID", false, false;
    25 => UnknownMemberId, "UNKNOWN_MEMBER_ID", false, false;
    26 => InvalidSessionTimeout, "INVALID_SESSION_TIMEOUT", false, false;
    27 => RebalanceInProgress, "REBALANCE_IN_PROGRESS", false, false;
    28 => InvalidCommitOffsetSize, "INVALID_COMMIT_OFFSET_SIZE", false, false;
    29 => TopicAuthorizationFailed, "TOPIC_AUTHORIZATION_FAILED", false, false;
    30 => GroupAuthorizationFailed, "GROUP_AUTHORIZATION_FAILED", false, false;
    31 => ClusterAuthorizationFailed, "CLUSTER_AUTHORIZATION_FAILED", false, false;
    32 => InvalidTimestamp, "INVALID_TIMESTAMP", false, false;
    33 => UnsupportedSaslMechanism, "UNSUPPORTED_SASL_MECHANISM", false, false;
    34 => IllegalSaslState, "ILLEGAL_SASL_STATE", false, false;
    35 => UnsupportedVersion, "UNSUPPORTED_VERSION", false, false;
    36 => TopicAlreadyExists, "TOPIC_ALREADY_EXISTS", false, false;
    37 => InvalidPartitions, "INVALID_PARTITIONS", false, false;
    38 => InvalidReplicationFactor, "INVALID_REPLICATION_FACTOR", false, false;
    39 => InvalidReplicaAssignment, "INVALID_REPLICA_ASSIGNMENT", false, false;
    40 => InvalidConfig, "INVALID_CONFIG", false, false;
    41 => NotController, "NOT_CONTROLLER", true, false;
    42 => InvalidRequest, "INVALID_REQUEST", false, false;
    43 => UnsupportedForMessageFormat, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false, false;
    44 => PolicyViolation, "POLICY_VIOLATION", false, false;
    45 => OutOfOrderSequenceNumber, "OUT_OF_ORDER_SEQUENCE_NUMBER", false, false;
    46 => DuplicateSequenceNumber, "DUPLICATE_SEQUENCE_NUMBER", false, false;
    47 => InvalidProducerEpoch, "INVALID_PRODUCER_EPOCH", false, false;
    48 => InvalidTxnState, "INVALID_TXN_STATE", false, false;
    49 => InvalidProducerIdMapping, "INVALID_PRODUCER_ID_MAPPING", false, false;
    50 => InvalidTransactionTimeout, "INVALID_TRANSACTION_TIMEOUT", false, false;
    51 => ConcurrentTransactions, "CONCURRENT_TRANSACTIONS", true, false;
    52 => TransactionCoordinatorFenced, "TRANSACTION_COORDINATOR_FENCED", false, false;
    53 => TransactionalIdAuthorizationFailed, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false, false;
    54 => SecurityDisabled, "SECURITY_DISABLED", false, false;
    55 => OperationNotAttempted, "OPERATION_NOT_ATTEMPTED", false, false;
    56 => KafkaStorageError, "KAFKA_STORAGE_ERROR", true, true;
    57 => LogDirNotFound, "LOG_DIR_NOT_FOUND", false, false;
    58 => SaslAuthenticationFailed, "SASL_AUTHENTICATION_FAILED", false, false;
    59 => UnknownProducerId, "UNKNOWN_PRODUCER_ID", false, false;
    60 => ReassignmentInProgress, "REASSIGNMENT_IN_PROGRESS", false, false;
    61 => DelegationTokenAuthDisabled, "DELEGATION_TOKEN_AUTH_DISABLED", false, false;
    62 => DelegationTokenNotFound, "DELEGATION_TOKEN_NOT_FOUND", false, false;
    63 => DelegationTokenOwnerMismatch, "DELEGATION_TOKEN_OWNER_MISMATCH", false, false;
    64 => DelegationTokenRequestNotAllowed, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false, false;
    65 => DelegationTokenAuthorizationFailed, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false, false;
    66 => DelegationTokenExpired, "DELEGATION_TOKEN_EXPIRED", false, false;
    67 => InvalidPrincipalType, "INVALID_PRINCIPAL_TYPE", false, false;
    68 => NonEmptyGroup, "NON_EMPTY_GROUP", false, false;
    69 => GroupIdNotFound, "GROUP_ID_NOT_FOUND", false, false;
    70 => FetchSessionIdNotFound, "FETCH_SESSION_ID_NOT_FOUND", true, false;
    71 => InvalidFetchSessionEpoch, "INVALID_FETCH_SESSION_EPOCH", true, false;
    72 => ListenerNotFound, "LISTENER_NOT_FOUND", true, true;
    73 => TopicDeletionDisabled, "TOPIC_DELETION_DISABLED", false, false;
    74 => FencedLeaderEpoch, "FENCED_LEADER_EPOCH", true, true;
    75 => UnknownLeaderEpoch, "UNKNOWN_LEADER_EPOCH", true, false;
    76 => UnsupportedCompressionType, "UNSUPPORTED_COMPRESSION_TYPE", false, false;
    77 => StaleBrokerEpoch, "STALE_BROKER_EPOCH", false, false;
    78 => OffsetNotAvailable, "OFFSET_NOT_AVAILABLE", true, false;
    79 => MemberIdRequired, "MEMBER_ID_REQUIRED", false, false;
    80 => PreferredLeaderNotAvailable, "PREFERRED_LEADER_NOT_AVAILABLE", true, true;
    81 => GroupMaxSizeReached, "GROUP_MAX_SIZE_REACHED", false, false;
    82 => FencedInstanceId, "FENCED_INSTANCE_ID", false, false;
    83 => EligibleLeadersNotAvailable, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true, true;
    84 => ElectionNotNeeded, "ELECTION_NOT_NEEDED", true, true;
    85 => NoReassignmentInProgress, "NO_REASSIGNMENT_IN_PROGRESS", false, false;
    86 => GroupSubscribedToTopic, "GROUP_SUBSCRIBED_TO_TOPIC", false, false;
    87 => InvalidRecord, "INVALID_RECORD", false, false;
    88 => UnstableOffsetCommit, "UNSTABLE_OFFSET_COMMIT", true, false;
    89 => ThrottlingQuotaExceeded, "THROTTLING_QUOTA_EXCEEDED", true, false;
    90 => ProducerFenced, "PRODUCER_FENCED", false, false;
    91 => ResourceNotFound, "RESOURCE_NOT_FOUND", false, false;
    92 => DuplicateResource, "DUPLICATE_RESOURCE", false, false;
    93 => UnacceptableCredential, "UNACCEPTABLE_CREDENTIAL", false, false;
    94 => InconsistentVoterSet, "INCONSISTENT_VOTER_SET", false, false;
    95 => InvalidUpdateVersion, "INVALID_UPDATE_VERSION", false, false;
    96 => FeatureUpdateFailed, "FEATURE_UPDATE_FAILED", false, false;
    97 => PrincipalDeserializationFailure, "PRINCIPAL_DESERIALIZATION_FAILURE", false, false;
    98 => SnapshotNotFound, "SNAPSHOT_NOT_FOUND", false, false;
    100 => UnknownTopicId, "UNKNOWN_TOPIC_ID", true, true;
    101 => DuplicateBrokerRegistration, "DUPLICATE_BROKER_REGISTRATION", false, false;
    102 => BrokerIdNotRegistered, "BROKER_ID_NOT_REGISTERED", false, false;
    103 => InconsistentTopicId, "INCONSISTENT_TOPIC_ID", true, true;
    104 => InconsistentClusterId, "INCONSISTENT_CLUSTER_ID", false, false;
    105 => TransactionalIdNotFound, "TRANSACTIONAL_ID_NOT_FOUND", false, false;
    106 => FetchSessionTopicIdError, "FETCH_SESSION_TOPIC_ID_ERROR", true, false;
    107 => IneligibleReplica, "INELIGIBLE_REPLICA", false, false;
    108 => NewLeaderElected, "NEW_LEADER_ELECTED", false, false;
    109 => OffsetMovedToTieredStorage, "OFFSET_MOVED_TO_TIERED_STORAGE", false, false;
    110 => FencedMemberEpoch, "FENCED_MEMBER_EPOCH", false, false;
    111 => UnreleasedInstanceId, "UNRELEASED_INSTANCE_ID", false, false;
    112 => UnsupportedAssignor, "UNSUPPORTED_ASSIGNOR", false, false;
    113 => StaleMemberEpoch, "STALE_MEMBER_EPOCH", false, false;
    114 => MismatchedEndpointType, "MISMATCHED_ENDPOINT_TYPE", false, false;
    115 => UnsupportedEndpointType, "UNSUPPORTED_ENDPOINT_TYPE", false, false;
    116 => UnknownControllerId, "UNKNOWN_CONTROLLER_ID", false, false;
    117 => UnknownSubscriptionId, "UNKNOWN_SUBSCRIPTION_ID", false, false;
    118 => TelemetryTooLarge, "TELEMETRY_TOO_LARGE", false, false;
    119 => InvalidRegistration, "INVALID_REGISTRATION", false, false;
    120 => TransactionAbortable, "TRANSACTION_ABORTABLE", false, false;
    121 => InvalidRecordState, "INVALID_RECORD_STATE", false, false;
    122 => ShareSessionNotFound, "SHARE_SESSION_NOT_FOUND", true, false;
    123 => InvalidShareSessionEpoch, "INVALID_SHARE_SESSION_EPOCH", true, false;
    124 => FencedStateEpoch, "FENCED_STATE_EPOCH", false, false;
    125 => InvalidVoterKey, "INVALID_VOTER_KEY", false, false;
    126 => DuplicateVoter, "DUPLICATE_VOTER", false, false;
    127 => VoterNotFound, "VOTER_NOT_FOUND", false, false;
    128 => InvalidRegularExpression, "INVALID_REGULAR_EXPRESSION", false, false;
}

impl ErrorCode {
    /// True for `NONE` (0).
    #[inline]
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::None)
    }

    /// `Ok(())` for `NONE`, `Err(self)` otherwise.
    #[inline]
    pub const fn into_result(self) -> Result<(), ErrorCode> {
        if self.is_ok() { Ok(()) } else { Err(self) }
    }
}

// The enum is generated by a macro, so `#[default]` cannot mark one variant.
#[allow(clippy::derivable_impls)]
impl Default for ErrorCode {
    fn default() -> Self {
        ErrorCode::None
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode::from_i16(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(e: ErrorCode) -> Self {
        e.code()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Unknown(c) => write!(f, "UNKNOWN({c})"),
            known => f.write_str(known.name()),
        }
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_from_the_java_errors_enum() {
        let cases = [
            (-1, "UNKNOWN_SERVER_ERROR"),
            (0, "NONE"),
            (2, "CORRUPT_MESSAGE"),
            (6, "NOT_LEADER_OR_FOLLOWER"),
            (7, "REQUEST_TIMED_OUT"),
            (10, "MESSAGE_TOO_LARGE"),
            (19, "NOT_ENOUGH_REPLICAS"),
            (20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"),
            (35, "UNSUPPORTED_VERSION"),
            (45, "OUT_OF_ORDER_SEQUENCE_NUMBER"),
            (46, "DUPLICATE_SEQUENCE_NUMBER"),
            (47, "INVALID_PRODUCER_EPOCH"),
            (59, "UNKNOWN_PRODUCER_ID"),
            (90, "PRODUCER_FENCED"),
            (120, "TRANSACTION_ABORTABLE"),
        ];
        for (code, name) in cases {
            let e = ErrorCode::from_i16(code);
            assert_eq!(e.code(), code);
            assert_eq!(e.to_string(), name);
        }
    }

    #[test]
    fn every_code_up_to_100_is_known_except_the_gap_at_99() {
        for code in -1..=128i16 {
            let known = !matches!(ErrorCode::from_i16(code), ErrorCode::Unknown(_));
            assert_eq!(known, code != 99, "code {code}");
        }
        assert_eq!(ErrorCode::ALL.len(), 129);
    }

    #[test]
    fn retriable_follows_the_java_hierarchy() {
        use ErrorCode::*;
        for e in [
            CorruptMessage,
            RequestTimedOut,
            NotEnoughReplicas,
            NotEnoughReplicasAfterAppend,
            NotLeaderOrFollower,
            UnknownTopicOrPartition,
            LeaderNotAvailable,
            KafkaStorageError,
            NetworkException,
            ConcurrentTransactions,
            UnknownLeaderEpoch,
            FencedLeaderEpoch,
            ThrottlingQuotaExceeded,
        ] {
            assert!(e.is_retriable(), "{e}");
        }
        for e in [
            None,
            MessageTooLarge,
            OutOfOrderSequenceNumber,
            DuplicateSequenceNumber,
            UnknownProducerId,
            InvalidProducerEpoch,
            TopicAuthorizationFailed,
            UnsupportedVersion,
            RecordListTooLarge,
            BrokerNotAvailable,
            TransactionAbortable,
            ProducerFenced,
            InvalidRecord,
            UnknownServerError,
            Unknown(-2),
        ] {
            assert!(!e.is_retriable(), "{e}");
        }
    }

    #[test]
    fn metadata_invalidation_follows_the_java_hierarchy() {
        use ErrorCode::*;
        for e in [
            NotLeaderOrFollower,
            UnknownTopicOrPartition,
            LeaderNotAvailable,
            KafkaStorageError,
            FencedLeaderEpoch,
            ReplicaNotAvailable,
            NetworkException,
            ListenerNotFound,
            UnknownTopicId,
        ] {
            assert!(e.invalidates_metadata(), "{e}");
            assert!(e.is_retriable(), "{e} invalidates metadata so must be retriable");
        }
        for e in [NotEnoughReplicas, RequestTimedOut, UnknownLeaderEpoch, CorruptMessage, None, MessageTooLarge] {
            assert!(!e.invalidates_metadata(), "{e}");
        }
        // InvalidMetadataException extends RetriableException: the former implies the latter.
        for e in ErrorCode::ALL {
            assert!(!e.invalidates_metadata() || e.is_retriable(), "{e}");
        }
    }

    proptest! {
        #[test]
        fn every_i16_round_trips(code in any::<i16>()) {
            prop_assert_eq!(ErrorCode::from_i16(code).code(), code);
        }
    }
}
