//! The records a user sends and the metadata they get back.
//!
//! `ProducerRecord` mirrors Java's: topic, optional partition, key, value, headers, optional timestamp.
//! kprod adds `user_data`, an opaque `u64` carried to the batch hooks so that a caller (the workbench)
//! can attach per-record context — such as an intended send time — without a per-record allocation.

use std::sync::Arc;

pub use crate::record::Header;

/// A record to send. `K` and `V` are turned into bytes by the producer's serializers.
///
/// ```
/// use bytes::Bytes;
/// use kprod_proto::producer::record::ProducerRecord;
///
/// let record = ProducerRecord::new("orders", Bytes::from_static(b"{\"id\":7}"))
///     .with_key(Bytes::from_static(b"customer-42")) // same key, same partition (murmur2, as Java)
///     .with_header("source", Some(Bytes::from_static(b"web")))
///     .with_timestamp(1_700_000_000_000);
/// assert_eq!(&*record.topic, "orders");
/// assert_eq!(record.partition, None); // the partitioner chooses
/// assert_eq!(record.headers[0].key, "source");
/// ```
#[derive(Debug, Clone)]
pub struct ProducerRecord<K, V> {
    /// Topic name; an `Arc<str>` so that a hot loop can clone it instead of allocating.
    pub topic: Arc<str>,
    /// Explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key; `None` = null (no key: the sticky partitioner places the record).
    pub key: Option<K>,
    /// The value; `None` = null (a tombstone).
    pub value: Option<V>,
    /// Record headers, in order.
    pub headers: Vec<Header>,
    /// Create time in ms since the epoch; `None` means "now" at send time.
    pub timestamp_ms: Option<i64>,
    /// Opaque context handed to the batch hooks (kprod extension; ignored on the wire).
    pub user_data: u64,
}

impl<K, V> ProducerRecord<K, V> {
    /// A record with a value and no key.
    pub fn new(topic: impl Into<Arc<str>>, value: V) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
            timestamp_ms: None,
            user_data: 0,
        }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets an explicit partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the create timestamp (ms since the epoch).
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, key: impl Into<String>, value: Option<bytes::Bytes>) -> Self {
        self.headers.push(Header { key: key.into(), value });
        self
    }

    /// Sets the opaque per-record context passed to hooks.
    pub fn with_user_data(mut self, user_data: u64) -> Self {
        self.user_data = user_data;
        self
    }
}

/// Where an acknowledged record landed, as Java's `RecordMetadata`.
///
/// ```
/// use kprod_proto::producer::record::RecordMetadata;
///
/// // What `send(...).await?.await?` returns for a 5-byte value without a key, stored at offset 7.
/// let m = RecordMetadata {
///     topic: "events".into(),
///     partition: 0,
///     offset: 7,
///     timestamp_ms: 1_700_000_000_000,
///     serialized_key_size: -1,
///     serialized_value_size: 5,
/// };
/// assert_eq!((m.partition, m.offset, m.serialized_key_size), (0, 7, -1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition the record went to.
    pub partition: i32,
    /// Offset in the partition; -1 with acks=0.
    pub offset: i64,
    /// The record's timestamp (create time, or the broker's log-append time when the topic uses it).
    pub timestamp_ms: i64,
    /// Serialized key size in bytes, -1 for a null key.
    pub serialized_key_size: i32,
    /// Serialized value size in bytes, -1 for a null value.
    pub serialized_value_size: i32,
}

/// A topic and a partition.
///
/// ```
/// use kprod_proto::producer::record::TopicPartition;
///
/// let tp = TopicPartition::new("orders", 3);
/// assert_eq!(tp.to_string(), "orders-3", "as Java prints it");
/// assert!(TopicPartition::new("orders", 2) < tp, "ordered by topic, then partition");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
