//! Metadata (key 3), versions 1–12; flexible from v9.
//!
//! Version facts: `controller_id`, `rack`, `is_internal` v1+; `cluster_id` v2+; `throttle_time_ms`
//! v3+; `allow_auto_topic_creation` v4+ (defaults to true below); `offline_replicas` v5+;
//! `leader_epoch` v7+; authorized operations v8+ (cluster-level only v8–10); `topic_id` v10+;
//! request topic names nullable v10+ (lookup by id), response topic names nullable v12+.
//! A null request topic array (v1+) asks for all topics; an empty one asks for none.
//!
//! # References
//! - `MetadataRequest.json`, `MetadataResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-430 (authorized operations), KIP-516 (topic ids), KIP-700

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode, Uuid};

/// "Not requested / unknown" value of the authorized-operations bitfields.
pub const AUTHORIZED_OPERATIONS_UNKNOWN: i32 = i32::MIN;

/// Asks for brokers and partition leaders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// `None` = all topics; `Some(vec![])` = no topics (brokers only).
    pub topics: Option<Vec<MetadataRequestTopic>>,
    /// v4+; earlier versions always auto-create (if the broker allows it).
    pub allow_auto_topic_creation: bool,
    /// v8–10.
    pub include_cluster_authorized_operations: bool,
    /// v8+.
    pub include_topic_authorized_operations: bool,
}

impl Default for MetadataRequest {
    fn default() -> Self {
        MetadataRequest {
            topics: None,
            allow_auto_topic_creation: true,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: false,
        }
    }
}

/// One requested topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataRequestTopic {
    /// v10+; all zero when unknown.
    pub topic_id: Uuid,
    /// Nullable v10+ (then the id is used); earlier versions send `""` for `None`.
    pub name: Option<String>,
}

/// Brokers, controller and per-partition leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// v3+.
    pub throttle_time_ms: i32,
    /// Every live broker.
    pub brokers: Vec<MetadataResponseBroker>,
    /// v2+.
    pub cluster_id: Option<String>,
    /// v1+; -1 when unknown.
    pub controller_id: i32,
    /// One entry per topic asked for (every topic for a null list).
    pub topics: Vec<MetadataResponseTopic>,
    /// v8–10.
    pub cluster_authorized_operations: i32,
}

impl Default for MetadataResponse {
    fn default() -> Self {
        MetadataResponse {
            throttle_time_ms: 0,
            brokers: Vec::new(),
            cluster_id: None,
            controller_id: -1,
            topics: Vec::new(),
            cluster_authorized_operations: AUTHORIZED_OPERATIONS_UNKNOWN,
        }
    }
}

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataResponseBroker {
    /// The node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// v1+.
    pub rack: Option<String>,
}

/// One topic of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponseTopic {
    /// `NONE`, or why the topic is not available (e.g. UNKNOWN_TOPIC_OR_PARTITION).
    pub error_code: ErrorCode,
    /// Nullable v12+; earlier versions carry `""` for `None`.
    pub name: Option<String>,
    /// v10+.
    pub topic_id: Uuid,
    /// v1+.
    pub is_internal: bool,
    /// The topic's partitions.
    pub partitions: Vec<MetadataResponsePartition>,
    /// v8+.
    pub topic_authorized_operations: i32,
}

impl Default for MetadataResponseTopic {
    fn default() -> Self {
        MetadataResponseTopic {
            error_code: ErrorCode::None,
            name: None,
            topic_id: [0; 16],
            is_internal: false,
            partitions: Vec::new(),
            topic_authorized_operations: AUTHORIZED_OPERATIONS_UNKNOWN,
        }
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponsePartition {
    /// `NONE`, or e.g. LEADER_NOT_AVAILABLE.
    pub error_code: ErrorCode,
    /// The partition index.
    pub partition_index: i32,
    /// The leader, -1 when none.
    pub leader_id: i32,
    /// v7+; -1 when unknown.
    pub leader_epoch: i32,
    /// Replicas of the partition.
    pub replica_nodes: Vec<i32>,
    /// In-sync replicas.
    pub isr_nodes: Vec<i32>,
    /// v5+.
    pub offline_replicas: Vec<i32>,
}

impl Default for MetadataResponsePartition {
    fn default() -> Self {
        MetadataResponsePartition {
            error_code: ErrorCode::None,
            partition_index: 0,
            leader_id: -1,
            leader_epoch: -1,
            replica_nodes: Vec::new(),
            isr_nodes: Vec::new(),
            offline_replicas: Vec::new(),
        }
    }
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 3;
            const MIN_VERSION: i16 = 1;
            const MAX_VERSION: i16 = 12;
            const FIRST_FLEXIBLE: i16 = 9;
        }
    };
}
api!(MetadataRequest);
api!(MetadataResponse);

/// Writes a topic name that is nullable only from `nullable_from`; before, null is sent as "".
fn put_name(out: &mut BytesMut, name: Option<&str>, nullable: bool, flex: bool) {
    if nullable {
        wire::put_nullable_string(out, name, flex);
    } else {
        wire::put_string(out, name.unwrap_or(""), flex);
    }
}

fn put_tags(out: &mut BytesMut, flex: bool) {
    if flex {
        wire::put_empty_tagged_fields(out);
    }
}

fn skip_tags(buf: &mut Bytes, flex: bool) -> DecodeResult<()> {
    if flex { wire::skip_tagged_fields(buf) } else { Ok(()) }
}

impl Encode for MetadataRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        match &self.topics {
            None => wire::put_array_len(out, None, flex),
            Some(topics) => wire::put_array(out, topics, flex, |out, t| {
                if version >= 10 {
                    wire::put_uuid(out, &t.topic_id);
                }
                put_name(out, t.name.as_deref(), version >= 10, flex);
                put_tags(out, flex);
            }),
        }
        if version >= 4 {
            out.put_u8(self.allow_auto_topic_creation as u8);
        }
        if (8..=10).contains(&version) {
            out.put_u8(self.include_cluster_authorized_operations as u8);
        }
        if version >= 8 {
            out.put_u8(self.include_topic_authorized_operations as u8);
        }
        put_tags(out, flex);
    }
}

impl Decode for MetadataRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let topics = wire::read_nullable_array(buf, flex, "topics", |b| {
            let topic_id = if version >= 10 { wire::read_uuid(b, "topic_id")? } else { [0; 16] };
            let name = if version >= 10 {
                wire::read_nullable_string(b, flex, "name")?
            } else {
                Some(wire::read_string(b, flex, "name")?)
            };
            skip_tags(b, flex)?;
            Ok(MetadataRequestTopic { topic_id, name })
        })?;
        let mut r = MetadataRequest { topics, ..Default::default() };
        if version >= 4 {
            r.allow_auto_topic_creation = wire::read_bool(buf, "allow_auto_topic_creation")?;
        }
        if (8..=10).contains(&version) {
            r.include_cluster_authorized_operations = wire::read_bool(buf, "include_cluster_authorized_operations")?;
        }
        if version >= 8 {
            r.include_topic_authorized_operations = wire::read_bool(buf, "include_topic_authorized_operations")?;
        }
        skip_tags(buf, flex)?;
        Ok(r)
    }
}

impl Encode for MetadataResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        if version >= 3 {
            out.put_i32(self.throttle_time_ms);
        }
        wire::put_array(out, &self.brokers, flex, |out, b| {
            out.put_i32(b.node_id);
            wire::put_string(out, &b.host, flex);
            out.put_i32(b.port);
            wire::put_nullable_string(out, b.rack.as_deref(), flex);
            put_tags(out, flex);
        });
        if version >= 2 {
            wire::put_nullable_string(out, self.cluster_id.as_deref(), flex);
        }
        out.put_i32(self.controller_id);
        wire::put_array(out, &self.topics, flex, |out, t| encode_topic(out, t, version, flex));
        if (8..=10).contains(&version) {
            out.put_i32(self.cluster_authorized_operations);
        }
        put_tags(out, flex);
    }
}

fn encode_topic(out: &mut BytesMut, t: &MetadataResponseTopic, version: i16, flex: bool) {
    out.put_i16(t.error_code.code());
    put_name(out, t.name.as_deref(), version >= 12, flex);
    if version >= 10 {
        wire::put_uuid(out, &t.topic_id);
    }
    out.put_u8(t.is_internal as u8);
    wire::put_array(out, &t.partitions, flex, |out, p| {
        out.put_i16(p.error_code.code());
        out.put_i32(p.partition_index);
        out.put_i32(p.leader_id);
        if version >= 7 {
            out.put_i32(p.leader_epoch);
        }
        wire::put_i32_array(out, &p.replica_nodes, flex);
        wire::put_i32_array(out, &p.isr_nodes, flex);
        if version >= 5 {
            wire::put_i32_array(out, &p.offline_replicas, flex);
        }
        put_tags(out, flex);
    });
    if version >= 8 {
        out.put_i32(t.topic_authorized_operations);
    }
    put_tags(out, flex);
}

fn decode_topic(b: &mut Bytes, version: i16, flex: bool) -> DecodeResult<MetadataResponseTopic> {
    let mut t = MetadataResponseTopic {
        error_code: ErrorCode::from_i16(wire::read_i16(b, "topic.error_code")?),
        ..Default::default()
    };
    t.name = if version >= 12 {
        wire::read_nullable_string(b, flex, "topic.name")?
    } else {
        Some(wire::read_string(b, flex, "topic.name")?)
    };
    if version >= 10 {
        t.topic_id = wire::read_uuid(b, "topic_id")?;
    }
    t.is_internal = wire::read_bool(b, "is_internal")?;
    t.partitions = wire::read_array(b, flex, "partitions", |b| {
        let mut p = MetadataResponsePartition {
            error_code: ErrorCode::from_i16(wire::read_i16(b, "partition.error_code")?),
            partition_index: wire::read_i32(b, "partition_index")?,
            leader_id: wire::read_i32(b, "leader_id")?,
            ..Default::default()
        };
        if version >= 7 {
            p.leader_epoch = wire::read_i32(b, "leader_epoch")?;
        }
        p.replica_nodes = wire::read_i32_array(b, flex, "replica_nodes")?;
        p.isr_nodes = wire::read_i32_array(b, flex, "isr_nodes")?;
        if version >= 5 {
            p.offline_replicas = wire::read_i32_array(b, flex, "offline_replicas")?;
        }
        skip_tags(b, flex)?;
        Ok(p)
    })?;
    if version >= 8 {
        t.topic_authorized_operations = wire::read_i32(b, "topic_authorized_operations")?;
    }
    skip_tags(b, flex)?;
    Ok(t)
}

impl Decode for MetadataResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = MetadataResponse::default();
        if version >= 3 {
            r.throttle_time_ms = wire::read_i32(buf, "throttle_time_ms")?;
        }
        r.brokers = wire::read_array(buf, flex, "brokers", |b| {
            let broker = MetadataResponseBroker {
                node_id: wire::read_i32(b, "node_id")?,
                host: wire::read_string(b, flex, "host")?,
                port: wire::read_i32(b, "port")?,
                rack: wire::read_nullable_string(b, flex, "rack")?,
            };
            skip_tags(b, flex)?;
            Ok(broker)
        })?;
        if version >= 2 {
            r.cluster_id = wire::read_nullable_string(buf, flex, "cluster_id")?;
        }
        r.controller_id = wire::read_i32(buf, "controller_id")?;
        r.topics = wire::read_array(buf, flex, "topics", |b| decode_topic(b, version, flex))?;
        if (8..=10).contains(&version) {
            r.cluster_authorized_operations = wire::read_i32(buf, "cluster_authorized_operations")?;
        }
        skip_tags(buf, flex)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testutil::*;
    use proptest::prelude::*;

    fn arb_request() -> impl Strategy<Value = MetadataRequest> {
        let topic =
            (any::<[u8; 16]>(), opt_string()).prop_map(|(topic_id, name)| MetadataRequestTopic { topic_id, name });
        (proptest::option::of(vec(topic, 4)), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(topics, a, c, t)| MetadataRequest {
                topics,
                allow_auto_topic_creation: a,
                include_cluster_authorized_operations: c,
                include_topic_authorized_operations: t,
            },
        )
    }

    fn norm_request(mut m: MetadataRequest, v: i16) -> MetadataRequest {
        if let Some(topics) = &mut m.topics {
            for t in topics {
                if v < 10 {
                    t.topic_id = [0; 16];
                    t.name = Some(t.name.take().unwrap_or_default());
                }
            }
        }
        if v < 4 {
            m.allow_auto_topic_creation = true;
        }
        if !(8..=10).contains(&v) {
            m.include_cluster_authorized_operations = false;
        }
        if v < 8 {
            m.include_topic_authorized_operations = false;
        }
        m
    }

    fn arb_partition() -> impl Strategy<Value = MetadataResponsePartition> {
        (
            error_code(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            vec(any::<i32>(), 4),
            vec(any::<i32>(), 4),
            vec(any::<i32>(), 3),
        )
            .prop_map(
                |(error_code, partition_index, leader_id, leader_epoch, replica_nodes, isr_nodes, offline_replicas)| {
                    MetadataResponsePartition {
                        error_code,
                        partition_index,
                        leader_id,
                        leader_epoch,
                        replica_nodes,
                        isr_nodes,
                        offline_replicas,
                    }
                },
            )
    }

    fn arb_response() -> impl Strategy<Value = MetadataResponse> {
        let broker = (any::<i32>(), string(), any::<i32>(), opt_string())
            .prop_map(|(node_id, host, port, rack)| MetadataResponseBroker { node_id, host, port, rack });
        let topic =
            (error_code(), opt_string(), any::<[u8; 16]>(), any::<bool>(), vec(arb_partition(), 3), any::<i32>())
                .prop_map(|(error_code, name, topic_id, is_internal, partitions, ops)| MetadataResponseTopic {
                    error_code,
                    name,
                    topic_id,
                    is_internal,
                    partitions,
                    topic_authorized_operations: ops,
                });
        (any::<i32>(), vec(broker, 3), opt_string(), any::<i32>(), vec(topic, 3), any::<i32>()).prop_map(
            |(throttle_time_ms, brokers, cluster_id, controller_id, topics, cluster_authorized_operations)| {
                MetadataResponse {
                    throttle_time_ms,
                    brokers,
                    cluster_id,
                    controller_id,
                    topics,
                    cluster_authorized_operations,
                }
            },
        )
    }

    fn norm_response(mut m: MetadataResponse, v: i16) -> MetadataResponse {
        if v < 3 {
            m.throttle_time_ms = 0;
        }
        if v < 2 {
            m.cluster_id = None;
        }
        if !(8..=10).contains(&v) {
            m.cluster_authorized_operations = AUTHORIZED_OPERATIONS_UNKNOWN;
        }
        for t in &mut m.topics {
            if v < 12 {
                t.name = Some(t.name.take().unwrap_or_default());
            }
            if v < 10 {
                t.topic_id = [0; 16];
            }
            if v < 8 {
                t.topic_authorized_operations = AUTHORIZED_OPERATIONS_UNKNOWN;
            }
            for p in &mut t.partitions {
                if v < 7 {
                    p.leader_epoch = -1;
                }
                if v < 5 {
                    p.offline_replicas.clear();
                }
            }
        }
        m
    }

    message_tests!(request, MetadataRequest, arb_request(), norm_request);
    message_tests!(response, MetadataResponse, arb_response(), norm_response);

    #[test]
    fn request_v1_all_topics_fixture() {
        // v1: a null topic array (int32 -1) means "all topics"; nothing else in the body.
        let mut out = BytesMut::new();
        MetadataRequest::default().encode(&mut out, 1);
        assert_eq!(&out[..], &[0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn request_v12_one_topic_fixture() {
        let r = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic { topic_id: [0; 16], name: Some("t".into()) }]),
            allow_auto_topic_creation: false,
            include_cluster_authorized_operations: true, // not carried by v12
            include_topic_authorized_operations: true,
        };
        let mut out = BytesMut::new();
        r.encode(&mut out, 12);
        let mut expected = vec![2u8];
        expected.extend_from_slice(&[0; 16]);
        expected.extend_from_slice(&[2, b't', 0, 0, 1, 0]);
        assert_eq!(&out[..], &expected[..]);
    }
}
