//! Fetch (key 1), versions 4–12; flexible v12. Topic ids (v13+) are not implemented.
//!
//! Version facts: v4 `isolation_level`, `last_stable_offset`, `aborted_transactions`; v5
//! `log_start_offset`; v7 fetch sessions (`session_id`, `session_epoch`, `forgotten_topics_data`,
//! top-level `error_code`); v9 `current_leader_epoch`; v11 `rack_id`, `preferred_read_replica`;
//! v12 `last_fetched_epoch` and tagged fields (request `cluster_id` tag 0; response
//! `diverging_epoch` 0, `current_leader` 1, `snapshot_id` 2 — all skipped on decode, never written,
//! since they matter only to replicas and KRaft). Records stay zero-copy [`Bytes`].
//!
//! # References
//! - `FetchRequest.json`, `FetchResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-74, KIP-98, KIP-227 (fetch sessions), KIP-320, KIP-392 (rack), KIP-595

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Reads records from partition leaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// -1 for a consumer.
    pub replica_id: i32,
    /// Longest the broker may wait for `min_bytes`, in ms.
    pub max_wait_ms: i32,
    /// Fewest bytes to answer with (unless `max_wait_ms` passes).
    pub min_bytes: i32,
    /// Most bytes in the response.
    pub max_bytes: i32,
    /// 0 read uncommitted, 1 read committed.
    pub isolation_level: i8,
    /// v7+.
    pub session_id: i32,
    /// v7+; -1 = no session.
    pub session_epoch: i32,
    /// The partitions to read, by topic.
    pub topics: Vec<FetchTopic>,
    /// v7+.
    pub forgotten_topics_data: Vec<ForgottenTopic>,
    /// v11+.
    pub rack_id: String,
}

impl Default for FetchRequest {
    fn default() -> Self {
        FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: i32::MAX,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics: Vec::new(),
            forgotten_topics_data: Vec::new(),
            rack_id: String::new(),
        }
    }
}

/// One topic to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchTopic {
    /// The topic name.
    pub topic: String,
    /// Its partitions to read.
    pub partitions: Vec<FetchPartition>,
}

/// One partition to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// The partition index.
    pub partition: i32,
    /// v9+.
    pub current_leader_epoch: i32,
    /// The offset to read from.
    pub fetch_offset: i64,
    /// v12+.
    pub last_fetched_epoch: i32,
    /// v5+ (followers only).
    pub log_start_offset: i64,
    /// Most bytes to return for this partition.
    pub partition_max_bytes: i32,
}

impl Default for FetchPartition {
    fn default() -> Self {
        FetchPartition {
            partition: 0,
            current_leader_epoch: -1,
            fetch_offset: 0,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            partition_max_bytes: 0,
        }
    }
}

/// Partitions to drop from an incremental fetch session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForgottenTopic {
    /// The topic name.
    pub topic: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

/// The fetched data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchResponse {
    /// Time the request was throttled, in ms.
    pub throttle_time_ms: i32,
    /// v7+.
    pub error_code: ErrorCode,
    /// v7+.
    pub session_id: i32,
    /// Results by topic.
    pub responses: Vec<FetchableTopicResponse>,
}

/// One topic of the response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchableTopicResponse {
    /// The topic name.
    pub topic: String,
    /// Results by partition.
    pub partitions: Vec<FetchPartitionData>,
}

/// One partition of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartitionData {
    /// The partition index.
    pub partition_index: i32,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// The offset after the last replicated record.
    pub high_watermark: i64,
    /// The offset below which every transaction is decided (read_committed reads up to here).
    pub last_stable_offset: i64,
    /// v5+.
    pub log_start_offset: i64,
    /// Nullable on the wire.
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// v11+; -1 when none.
    pub preferred_read_replica: i32,
    /// Raw record batches, zero-copy.
    pub records: Option<Bytes>,
}

impl Default for FetchPartitionData {
    fn default() -> Self {
        FetchPartitionData {
            partition_index: 0,
            error_code: ErrorCode::None,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            aborted_transactions: None,
            preferred_read_replica: -1,
            records: None,
        }
    }
}

/// A transaction aborted inside the returned range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AbortedTransaction {
    /// The aborted transaction's producer id.
    pub producer_id: i64,
    /// Offset of its first record in this partition.
    pub first_offset: i64,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 1;
            const MIN_VERSION: i16 = 4;
            const MAX_VERSION: i16 = 12;
            const FIRST_FLEXIBLE: i16 = 12;
        }
    };
}
api!(FetchRequest);
api!(FetchResponse);

fn put_tags(out: &mut BytesMut, flex: bool) {
    if flex {
        wire::put_empty_tagged_fields(out);
    }
}

fn skip_tags(buf: &mut Bytes, flex: bool) -> DecodeResult<()> {
    if flex { wire::skip_tagged_fields(buf) } else { Ok(()) }
}

impl Encode for FetchRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        out.put_i32(self.replica_id);
        out.put_i32(self.max_wait_ms);
        out.put_i32(self.min_bytes);
        out.put_i32(self.max_bytes);
        out.put_i8(self.isolation_level);
        if version >= 7 {
            out.put_i32(self.session_id);
            out.put_i32(self.session_epoch);
        }
        wire::put_array(out, &self.topics, flex, |out, t| {
            wire::put_string(out, &t.topic, flex);
            wire::put_array(out, &t.partitions, flex, |out, p| {
                out.put_i32(p.partition);
                if version >= 9 {
                    out.put_i32(p.current_leader_epoch);
                }
                out.put_i64(p.fetch_offset);
                if version >= 12 {
                    out.put_i32(p.last_fetched_epoch);
                }
                if version >= 5 {
                    out.put_i64(p.log_start_offset);
                }
                out.put_i32(p.partition_max_bytes);
                put_tags(out, flex);
            });
            put_tags(out, flex);
        });
        if version >= 7 {
            wire::put_array(out, &self.forgotten_topics_data, flex, |out, f| {
                wire::put_string(out, &f.topic, flex);
                wire::put_i32_array(out, &f.partitions, flex);
                put_tags(out, flex);
            });
        }
        if version >= 11 {
            wire::put_string(out, &self.rack_id, flex);
        }
        put_tags(out, flex);
    }
}

impl Decode for FetchRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = FetchRequest {
            replica_id: wire::read_i32(buf, "replica_id")?,
            max_wait_ms: wire::read_i32(buf, "max_wait_ms")?,
            min_bytes: wire::read_i32(buf, "min_bytes")?,
            max_bytes: wire::read_i32(buf, "max_bytes")?,
            isolation_level: wire::read_i8(buf, "isolation_level")?,
            ..Default::default()
        };
        if version >= 7 {
            r.session_id = wire::read_i32(buf, "session_id")?;
            r.session_epoch = wire::read_i32(buf, "session_epoch")?;
        }
        r.topics = wire::read_array(buf, flex, "topics", |b| {
            let topic = wire::read_string(b, flex, "topic")?;
            let partitions = wire::read_array(b, flex, "partitions", |b| {
                let mut p = FetchPartition { partition: wire::read_i32(b, "partition")?, ..Default::default() };
                if version >= 9 {
                    p.current_leader_epoch = wire::read_i32(b, "current_leader_epoch")?;
                }
                p.fetch_offset = wire::read_i64(b, "fetch_offset")?;
                if version >= 12 {
                    p.last_fetched_epoch = wire::read_i32(b, "last_fetched_epoch")?;
                }
                if version >= 5 {
                    p.log_start_offset = wire::read_i64(b, "log_start_offset")?;
                }
                p.partition_max_bytes = wire::read_i32(b, "partition_max_bytes")?;
                skip_tags(b, flex)?;
                Ok(p)
            })?;
            skip_tags(b, flex)?;
            Ok(FetchTopic { topic, partitions })
        })?;
        if version >= 7 {
            r.forgotten_topics_data = wire::read_array(buf, flex, "forgotten_topics_data", |b| {
                let topic = wire::read_string(b, flex, "forgotten.topic")?;
                let partitions = wire::read_i32_array(b, flex, "forgotten.partitions")?;
                skip_tags(b, flex)?;
                Ok(ForgottenTopic { topic, partitions })
            })?;
        }
        if version >= 11 {
            r.rack_id = wire::read_string(buf, flex, "rack_id")?;
        }
        // v12 tag 0 (cluster_id) is for KRaft replicas only.
        skip_tags(buf, flex)?;
        Ok(r)
    }
}

impl Encode for FetchResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        out.put_i32(self.throttle_time_ms);
        if version >= 7 {
            out.put_i16(self.error_code.code());
            out.put_i32(self.session_id);
        }
        wire::put_array(out, &self.responses, flex, |out, t| {
            wire::put_string(out, &t.topic, flex);
            wire::put_array(out, &t.partitions, flex, |out, p| encode_partition(out, p, version, flex));
            put_tags(out, flex);
        });
        put_tags(out, flex);
    }
}

fn encode_partition(out: &mut BytesMut, p: &FetchPartitionData, version: i16, flex: bool) {
    out.put_i32(p.partition_index);
    out.put_i16(p.error_code.code());
    out.put_i64(p.high_watermark);
    out.put_i64(p.last_stable_offset);
    if version >= 5 {
        out.put_i64(p.log_start_offset);
    }
    match &p.aborted_transactions {
        None => wire::put_array_len(out, None, flex),
        Some(a) => wire::put_array(out, a, flex, |out, t| {
            out.put_i64(t.producer_id);
            out.put_i64(t.first_offset);
            put_tags(out, flex);
        }),
    }
    if version >= 11 {
        out.put_i32(p.preferred_read_replica);
    }
    wire::put_nullable_bytes(out, p.records.as_deref(), flex);
    put_tags(out, flex);
}

fn decode_partition(b: &mut Bytes, version: i16, flex: bool) -> DecodeResult<FetchPartitionData> {
    let mut p = FetchPartitionData {
        partition_index: wire::read_i32(b, "partition_index")?,
        error_code: ErrorCode::from_i16(wire::read_i16(b, "error_code")?),
        high_watermark: wire::read_i64(b, "high_watermark")?,
        last_stable_offset: wire::read_i64(b, "last_stable_offset")?,
        ..Default::default()
    };
    if version >= 5 {
        p.log_start_offset = wire::read_i64(b, "log_start_offset")?;
    }
    p.aborted_transactions = wire::read_nullable_array(b, flex, "aborted_transactions", |b| {
        let t = AbortedTransaction {
            producer_id: wire::read_i64(b, "aborted.producer_id")?,
            first_offset: wire::read_i64(b, "aborted.first_offset")?,
        };
        skip_tags(b, flex)?;
        Ok(t)
    })?;
    if version >= 11 {
        p.preferred_read_replica = wire::read_i32(b, "preferred_read_replica")?;
    }
    p.records = wire::read_nullable_bytes(b, flex, "records")?;
    skip_tags(b, flex)?;
    Ok(p)
}

impl Decode for FetchResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = FetchResponse { throttle_time_ms: wire::read_i32(buf, "throttle_time_ms")?, ..Default::default() };
        if version >= 7 {
            r.error_code = ErrorCode::from_i16(wire::read_i16(buf, "error_code")?);
            r.session_id = wire::read_i32(buf, "session_id")?;
        }
        r.responses = wire::read_array(buf, flex, "responses", |b| {
            let topic = wire::read_string(b, flex, "topic")?;
            let partitions = wire::read_array(b, flex, "partitions", |b| decode_partition(b, version, flex))?;
            skip_tags(b, flex)?;
            Ok(FetchableTopicResponse { topic, partitions })
        })?;
        skip_tags(buf, flex)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests;
