//! ListOffsets (key 2), versions 1–7; flexible from v6.
//!
//! Asks for the offset of a timestamp, or of the special timestamps -1 (latest), -2 (earliest) and
//! -3 (max timestamp, v7+). v2 adds `isolation_level` and the response throttle time; v4 adds the
//! leader epochs (KIP-320).
//!
//! # References
//! - `ListOffsetsRequest.json`, `ListOffsetsResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-79, KIP-320, KIP-734

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Special timestamp: the offset of the next record to be written.
pub const LATEST_TIMESTAMP: i64 = -1;
/// Special timestamp: the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Special timestamp (v7+): the record with the largest timestamp.
pub const MAX_TIMESTAMP: i64 = -3;

/// Asks for offsets by timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsRequest {
    /// -1 for a client.
    pub replica_id: i32,
    /// v2+: 0 read uncommitted, 1 read committed.
    pub isolation_level: i8,
    /// The topics to look up.
    pub topics: Vec<ListOffsetsTopic>,
}

/// One topic of the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsTopic {
    /// The topic name.
    pub name: String,
    /// Its partitions to look up.
    pub partitions: Vec<ListOffsetsPartition>,
}

/// One partition of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    /// The partition index.
    pub partition_index: i32,
    /// v4+; -1 when unknown.
    pub current_leader_epoch: i32,
    /// -1 latest, -2 earliest, -3 max timestamp, or a timestamp in ms.
    pub timestamp: i64,
}

impl Default for ListOffsetsPartition {
    fn default() -> Self {
        ListOffsetsPartition { partition_index: 0, current_leader_epoch: -1, timestamp: LATEST_TIMESTAMP }
    }
}

/// The offsets found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsResponse {
    /// v2+.
    pub throttle_time_ms: i32,
    /// One entry per topic asked for.
    pub topics: Vec<ListOffsetsTopicResponse>,
}

/// One topic of the response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListOffsetsTopicResponse {
    /// The topic name.
    pub name: String,
    /// One entry per partition asked for.
    pub partitions: Vec<ListOffsetsPartitionResponse>,
}

/// One partition of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartitionResponse {
    /// The partition index.
    pub partition_index: i32,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// Timestamp of the offset found, -1 for latest/earliest.
    pub timestamp: i64,
    /// The offset found.
    pub offset: i64,
    /// v4+; -1 when unknown.
    pub leader_epoch: i32,
}

impl Default for ListOffsetsPartitionResponse {
    fn default() -> Self {
        ListOffsetsPartitionResponse {
            partition_index: 0,
            error_code: ErrorCode::None,
            timestamp: -1,
            offset: -1,
            leader_epoch: -1,
        }
    }
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 2;
            const MIN_VERSION: i16 = 1;
            const MAX_VERSION: i16 = 7;
            const FIRST_FLEXIBLE: i16 = 6;
        }
    };
}
api!(ListOffsetsRequest);
api!(ListOffsetsResponse);

fn put_tags(out: &mut BytesMut, flex: bool) {
    if flex {
        wire::put_empty_tagged_fields(out);
    }
}

fn skip_tags(buf: &mut Bytes, flex: bool) -> DecodeResult<()> {
    if flex { wire::skip_tagged_fields(buf) } else { Ok(()) }
}

impl Encode for ListOffsetsRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        out.put_i32(self.replica_id);
        if version >= 2 {
            out.put_i8(self.isolation_level);
        }
        wire::put_array(out, &self.topics, flex, |out, t| {
            wire::put_string(out, &t.name, flex);
            wire::put_array(out, &t.partitions, flex, |out, p| {
                out.put_i32(p.partition_index);
                if version >= 4 {
                    out.put_i32(p.current_leader_epoch);
                }
                out.put_i64(p.timestamp);
                put_tags(out, flex);
            });
            put_tags(out, flex);
        });
        put_tags(out, flex);
    }
}

impl Decode for ListOffsetsRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let replica_id = wire::read_i32(buf, "replica_id")?;
        let isolation_level = if version >= 2 { wire::read_i8(buf, "isolation_level")? } else { 0 };
        let topics = wire::read_array(buf, flex, "topics", |b| {
            let name = wire::read_string(b, flex, "topic.name")?;
            let partitions = wire::read_array(b, flex, "partitions", |b| {
                let partition_index = wire::read_i32(b, "partition_index")?;
                let current_leader_epoch = if version >= 4 { wire::read_i32(b, "current_leader_epoch")? } else { -1 };
                let timestamp = wire::read_i64(b, "timestamp")?;
                skip_tags(b, flex)?;
                Ok(ListOffsetsPartition { partition_index, current_leader_epoch, timestamp })
            })?;
            skip_tags(b, flex)?;
            Ok(ListOffsetsTopic { name, partitions })
        })?;
        skip_tags(buf, flex)?;
        Ok(ListOffsetsRequest { replica_id, isolation_level, topics })
    }
}

impl Encode for ListOffsetsResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        if version >= 2 {
            out.put_i32(self.throttle_time_ms);
        }
        wire::put_array(out, &self.topics, flex, |out, t| {
            wire::put_string(out, &t.name, flex);
            wire::put_array(out, &t.partitions, flex, |out, p| {
                out.put_i32(p.partition_index);
                out.put_i16(p.error_code.code());
                out.put_i64(p.timestamp);
                out.put_i64(p.offset);
                if version >= 4 {
                    out.put_i32(p.leader_epoch);
                }
                put_tags(out, flex);
            });
            put_tags(out, flex);
        });
        put_tags(out, flex);
    }
}

impl Decode for ListOffsetsResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let throttle_time_ms = if version >= 2 { wire::read_i32(buf, "throttle_time_ms")? } else { 0 };
        let topics = wire::read_array(buf, flex, "topics", |b| {
            let name = wire::read_string(b, flex, "topic.name")?;
            let partitions = wire::read_array(b, flex, "partitions", |b| {
                let p = ListOffsetsPartitionResponse {
                    partition_index: wire::read_i32(b, "partition_index")?,
                    error_code: ErrorCode::from_i16(wire::read_i16(b, "error_code")?),
                    timestamp: wire::read_i64(b, "timestamp")?,
                    offset: wire::read_i64(b, "offset")?,
                    leader_epoch: if version >= 4 { wire::read_i32(b, "leader_epoch")? } else { -1 },
                };
                skip_tags(b, flex)?;
                Ok(p)
            })?;
            skip_tags(b, flex)?;
            Ok(ListOffsetsTopicResponse { name, partitions })
        })?;
        skip_tags(buf, flex)?;
        Ok(ListOffsetsResponse { throttle_time_ms, topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testutil::*;
    use proptest::prelude::*;

    fn arb_request() -> impl Strategy<Value = ListOffsetsRequest> {
        let partition = (any::<i32>(), any::<i32>(), any::<i64>()).prop_map(
            |(partition_index, current_leader_epoch, timestamp)| ListOffsetsPartition {
                partition_index,
                current_leader_epoch,
                timestamp,
            },
        );
        let topic = (string(), vec(partition, 4)).prop_map(|(name, partitions)| ListOffsetsTopic { name, partitions });
        (any::<i32>(), any::<i8>(), vec(topic, 3)).prop_map(|(replica_id, isolation_level, topics)| {
            ListOffsetsRequest { replica_id, isolation_level, topics }
        })
    }

    fn norm_request(mut m: ListOffsetsRequest, v: i16) -> ListOffsetsRequest {
        if v < 2 {
            m.isolation_level = 0;
        }
        if v < 4 {
            m.topics.iter_mut().flat_map(|t| &mut t.partitions).for_each(|p| p.current_leader_epoch = -1);
        }
        m
    }

    fn arb_response() -> impl Strategy<Value = ListOffsetsResponse> {
        let partition = (any::<i32>(), error_code(), any::<i64>(), any::<i64>(), any::<i32>()).prop_map(
            |(partition_index, error_code, timestamp, offset, leader_epoch)| ListOffsetsPartitionResponse {
                partition_index,
                error_code,
                timestamp,
                offset,
                leader_epoch,
            },
        );
        let topic =
            (string(), vec(partition, 4)).prop_map(|(name, partitions)| ListOffsetsTopicResponse { name, partitions });
        (any::<i32>(), vec(topic, 3))
            .prop_map(|(throttle_time_ms, topics)| ListOffsetsResponse { throttle_time_ms, topics })
    }

    fn norm_response(mut m: ListOffsetsResponse, v: i16) -> ListOffsetsResponse {
        if v < 2 {
            m.throttle_time_ms = 0;
        }
        if v < 4 {
            m.topics.iter_mut().flat_map(|t| &mut t.partitions).for_each(|p| p.leader_epoch = -1);
        }
        m
    }

    message_tests!(request, ListOffsetsRequest, arb_request(), norm_request);
    message_tests!(response, ListOffsetsResponse, arb_response(), norm_response);

    #[test]
    fn request_v1_fixture() {
        let r = ListOffsetsRequest {
            replica_id: -1,
            isolation_level: 1, // not carried by v1
            topics: vec![ListOffsetsTopic {
                name: "t".into(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    current_leader_epoch: 9,
                    timestamp: EARLIEST_TIMESTAMP,
                }],
            }],
        };
        let mut out = BytesMut::new();
        r.encode(&mut out, 1);
        let expected: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xfe,
        ];
        assert_eq!(&out[..], expected);
    }
}
