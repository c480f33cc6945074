//! TxnOffsetCommit (key 28), versions 0–5; flexible from v3.
//!
//! Sends a transaction's consumer offsets to the group coordinator; they become visible when the
//! transaction commits (and are dropped if it aborts). v2 adds `committed_leader_epoch`; v3 the
//! flexible encoding and the consumer's `generation_id`, `member_id` and `group_instance_id`
//! (KIP-447, so the coordinator can fence zombie consumers); v4 the TRANSACTION_ABORTABLE error;
//! v5 is v4 under transaction protocol v2 (KIP-890: the group is then added to the transaction
//! implicitly, no AddOffsetsToTxn needed).
//!
//! # References
//! - `TxnOffsetCommitRequest.json`, `TxnOffsetCommitResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-98, KIP-447, KIP-890

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Commits offsets of `group_id` inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The consumer group.
    pub group_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// v3+: the consumer's generation, -1 if unknown.
    pub generation_id: i32,
    /// v3+: the consumer's member id, empty if unknown.
    pub member_id: String,
    /// v3+: the static member id (`group.instance.id`), if any.
    pub group_instance_id: Option<String>,
    /// The offsets, by topic.
    pub topics: Vec<TxnOffsetCommitRequestTopic>,
}

impl Default for TxnOffsetCommitRequest {
    fn default() -> Self {
        TxnOffsetCommitRequest {
            transactional_id: String::new(),
            group_id: String::new(),
            producer_id: 0,
            producer_epoch: 0,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            topics: Vec::new(),
        }
    }
}

/// Offsets of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitRequestTopic {
    /// The topic name.
    pub name: String,
    /// The offsets of its partitions.
    pub partitions: Vec<TxnOffsetCommitRequestPartition>,
}

/// The offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequestPartition {
    /// The partition index.
    pub partition_index: i32,
    /// The next offset to consume.
    pub committed_offset: i64,
    /// v2+: leader epoch of the last consumed record, -1 if unknown.
    pub committed_leader_epoch: i32,
    /// Metadata stored with the offset.
    pub committed_metadata: Option<String>,
}

impl Default for TxnOffsetCommitRequestPartition {
    fn default() -> Self {
        TxnOffsetCommitRequestPartition {
            partition_index: 0,
            committed_offset: 0,
            committed_leader_epoch: -1,
            committed_metadata: None,
        }
    }
}

/// The group coordinator's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitResponse {
    /// Time the request was throttled, in ms.
    pub throttle_time_ms: i32,
    /// Results by topic.
    pub topics: Vec<TxnOffsetCommitResponseTopic>,
}

/// Results for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitResponseTopic {
    /// The topic name.
    pub name: String,
    /// Results by partition.
    pub partitions: Vec<TxnOffsetCommitResponsePartition>,
}

/// Result for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitResponsePartition {
    /// The partition index.
    pub partition_index: i32,
    /// `NONE` when the offset was committed.
    pub error_code: ErrorCode,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 28;
            const MIN_VERSION: i16 = 0;
            const MAX_VERSION: i16 = 5;
            const FIRST_FLEXIBLE: i16 = 3;
        }
    };
}
api!(TxnOffsetCommitRequest);
api!(TxnOffsetCommitResponse);

fn put_tags(out: &mut BytesMut, flex: bool) {
    if flex {
        wire::put_empty_tagged_fields(out);
    }
}

fn skip_tags(buf: &mut Bytes, flex: bool) -> DecodeResult<()> {
    if flex { wire::skip_tagged_fields(buf) } else { Ok(()) }
}

impl Encode for TxnOffsetCommitRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        wire::put_string(out, &self.transactional_id, flex);
        wire::put_string(out, &self.group_id, flex);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        if version >= 3 {
            out.put_i32(self.generation_id);
            wire::put_string(out, &self.member_id, flex);
            wire::put_nullable_string(out, self.group_instance_id.as_deref(), flex);
        }
        wire::put_array(out, &self.topics, flex, |out, t| {
            wire::put_string(out, &t.name, flex);
            wire::put_array(out, &t.partitions, flex, |out, p| {
                out.put_i32(p.partition_index);
                out.put_i64(p.committed_offset);
                if version >= 2 {
                    out.put_i32(p.committed_leader_epoch);
                }
                wire::put_nullable_string(out, p.committed_metadata.as_deref(), flex);
                put_tags(out, flex);
            });
            put_tags(out, flex);
        });
        put_tags(out, flex);
    }
}

impl Decode for TxnOffsetCommitRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = TxnOffsetCommitRequest {
            transactional_id: wire::read_string(buf, flex, "transactional_id")?,
            group_id: wire::read_string(buf, flex, "group_id")?,
            producer_id: wire::read_i64(buf, "producer_id")?,
            producer_epoch: wire::read_i16(buf, "producer_epoch")?,
            ..Default::default()
        };
        if version >= 3 {
            r.generation_id = wire::read_i32(buf, "generation_id")?;
            r.member_id = wire::read_string(buf, flex, "member_id")?;
            r.group_instance_id = wire::read_nullable_string(buf, flex, "group_instance_id")?;
        }
        r.topics = wire::read_array(buf, flex, "topics", |b| {
            let name = wire::read_string(b, flex, "topic.name")?;
            let partitions = wire::read_array(b, flex, "partitions", |b| {
                let mut p = TxnOffsetCommitRequestPartition {
                    partition_index: wire::read_i32(b, "partition_index")?,
                    committed_offset: wire::read_i64(b, "committed_offset")?,
                    ..Default::default()
                };
                if version >= 2 {
                    p.committed_leader_epoch = wire::read_i32(b, "committed_leader_epoch")?;
                }
                p.committed_metadata = wire::read_nullable_string(b, flex, "committed_metadata")?;
                skip_tags(b, flex)?;
                Ok(p)
            })?;
            skip_tags(b, flex)?;
            Ok(TxnOffsetCommitRequestTopic { name, partitions })
        })?;
        skip_tags(buf, flex)?;
        Ok(r)
    }
}

impl Encode for TxnOffsetCommitResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        out.put_i32(self.throttle_time_ms);
        wire::put_array(out, &self.topics, flex, |out, t| {
            wire::put_string(out, &t.name, flex);
            wire::put_array(out, &t.partitions, flex, |out, p| {
                out.put_i32(p.partition_index);
                out.put_i16(p.error_code.code());
                put_tags(out, flex);
            });
            put_tags(out, flex);
        });
        put_tags(out, flex);
    }
}

impl Decode for TxnOffsetCommitResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let throttle_time_ms = wire::read_i32(buf, "throttle_time_ms")?;
        let topics = wire::read_array(buf, flex, "topics", |b| {
            let name = wire::read_string(b, flex, "topic.name")?;
            let partitions = wire::read_array(b, flex, "partitions", |b| {
                let p = TxnOffsetCommitResponsePartition {
                    partition_index: wire::read_i32(b, "partition_index")?,
                    error_code: ErrorCode::from_i16(wire::read_i16(b, "error_code")?),
                };
                skip_tags(b, flex)?;
                Ok(p)
            })?;
            skip_tags(b, flex)?;
            Ok(TxnOffsetCommitResponseTopic { name, partitions })
        })?;
        skip_tags(buf, flex)?;
        Ok(TxnOffsetCommitResponse { throttle_time_ms, topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testutil::*;
    use proptest::prelude::*;

    fn arb_request() -> impl Strategy<Value = TxnOffsetCommitRequest> {
        let partition = (any::<i32>(), any::<i64>(), any::<i32>(), opt_string()).prop_map(
            |(partition_index, committed_offset, committed_leader_epoch, committed_metadata)| {
                TxnOffsetCommitRequestPartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    committed_metadata,
                }
            },
        );
        let topic = (string(), vec(partition, 4))
            .prop_map(|(name, partitions)| TxnOffsetCommitRequestTopic { name, partitions });
        ((string(), string(), any::<i64>(), any::<i16>()), (any::<i32>(), string(), opt_string(), vec(topic, 3)))
            .prop_map(
                |(
                    (transactional_id, group_id, producer_id, producer_epoch),
                    (generation_id, member_id, group_instance_id, topics),
                )| TxnOffsetCommitRequest {
                    transactional_id,
                    group_id,
                    producer_id,
                    producer_epoch,
                    generation_id,
                    member_id,
                    group_instance_id,
                    topics,
                },
            )
    }

    fn norm_request(mut m: TxnOffsetCommitRequest, v: i16) -> TxnOffsetCommitRequest {
        if v < 3 {
            m.generation_id = -1;
            m.member_id.clear();
            m.group_instance_id = None;
        }
        if v < 2 {
            for p in m.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                p.committed_leader_epoch = -1;
            }
        }
        m
    }

    fn arb_response() -> impl Strategy<Value = TxnOffsetCommitResponse> {
        let partition = (any::<i32>(), error_code())
            .prop_map(|(partition_index, error_code)| TxnOffsetCommitResponsePartition { partition_index, error_code });
        let topic = (string(), vec(partition, 4))
            .prop_map(|(name, partitions)| TxnOffsetCommitResponseTopic { name, partitions });
        (any::<i32>(), vec(topic, 3))
            .prop_map(|(throttle_time_ms, topics)| TxnOffsetCommitResponse { throttle_time_ms, topics })
    }

    message_tests!(request, TxnOffsetCommitRequest, arb_request(), norm_request);
    message_tests!(response, TxnOffsetCommitResponse, arb_response(), |m, _| m);

    #[test]
    fn request_v2_fixture() {
        let r = TxnOffsetCommitRequest {
            transactional_id: "x".into(),
            group_id: "g".into(),
            producer_id: 1,
            producer_epoch: 0,
            topics: vec![TxnOffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![TxnOffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 5,
                    committed_leader_epoch: 3,
                    committed_metadata: None,
                }],
            }],
            ..Default::default()
        };
        let mut out = BytesMut::new();
        r.encode(&mut out, 2);
        let expected: &[u8] = &[
            0, 1, b'x', 0, 1, b'g', // transactional id, group id
            0, 0, 0, 0, 0, 0, 0, 1, 0, 0, // producer id, epoch
            0, 0, 0, 1, 0, 1, b't', // one topic "t"
            0, 0, 0, 1, 0, 0, 0, 0, // one partition, index 0
            0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 0xff, 0xff, // offset 5, leader epoch 3, null metadata
        ];
        assert_eq!(&out[..], expected);
    }
}
