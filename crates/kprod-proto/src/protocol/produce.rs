//! Produce (key 0), versions 3–12; flexible from v9.
//!
//! v3 is the first version with `transactional_id` and record batch v2 (the only versions Kafka 4
//! accepts). The request's `records` stay zero-copy [`Bytes`]: the raw record-batch bytes made by
//! the record module, sliced (not copied) out of the frame on decode, and on encode referenced as chunks of the
//! frame ([`Encode::encode_chunks`], [`super::chunks`]) instead of copied into it.
//!
//! Response facts: `log_append_time_ms` v2+, `log_start_offset` v5+, `record_errors` and
//! `error_message` v8+; v10+ adds tagged fields `current_leader` (tag 0 of a partition) and
//! `node_endpoints` (tag 0 of the response) so that a client can follow a leader change without a
//! metadata round trip (KIP-951). v11 only adds the TRANSACTION_ABORTABLE error code (KIP-890).
//! v12 has the body of v11: sending it tells the broker the client speaks transaction protocol v2,
//! so a transactional batch implicitly adds its partition to the transaction (KIP-890 part 2).
//!
//! # References
//! - `ProduceRequest.json`, `ProduceResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-98 (transactions), KIP-467 (record errors), KIP-951 (leader discovery), KIP-890

use bytes::{BufMut, Bytes, BytesMut};

use super::chunks::{COPY_BELOW_BYTES, ChunkWriter};
use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Writes record batches to partition leaders.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceRequest {
    /// Null unless the producer is transactional.
    pub transactional_id: Option<String>,
    /// 0 (no response), 1 (leader) or -1 (all in-sync replicas).
    pub acks: i16,
    /// How long the broker may wait for the acks, in ms.
    pub timeout_ms: i32,
    /// The batches, by topic.
    pub topic_data: Vec<TopicProduceData>,
}

/// The batches for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicProduceData {
    /// The topic name.
    pub name: String,
    /// The batches, by partition.
    pub partition_data: Vec<PartitionProduceData>,
}

/// The batches for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionProduceData {
    /// The partition index.
    pub index: i32,
    /// Raw record-batch bytes (nullable on the wire), never copied on decode.
    pub records: Option<Bytes>,
}

/// The broker's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceResponse {
    /// Results by topic.
    pub responses: Vec<TopicProduceResponse>,
    /// Time the request was throttled, in ms.
    pub throttle_time_ms: i32,
    /// v10+ tag 0: endpoints of the leaders named in `current_leader`; empty when absent.
    pub node_endpoints: Vec<NodeEndpoint>,
}

/// The result for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicProduceResponse {
    /// The topic name.
    pub name: String,
    /// Results by partition.
    pub partition_responses: Vec<PartitionProduceResponse>,
}

/// The result for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceResponse {
    /// The partition index.
    pub index: i32,
    /// `NONE` when the batches were appended.
    pub error_code: ErrorCode,
    /// Offset given to the first record of the batch.
    pub base_offset: i64,
    /// Broker append time with LogAppendTime topics, -1 with CreateTime.
    pub log_append_time_ms: i64,
    /// v5+; -1 when unknown.
    pub log_start_offset: i64,
    /// v8+: records that caused the batch to be dropped.
    pub record_errors: Vec<BatchIndexAndErrorMessage>,
    /// v8+.
    pub error_message: Option<String>,
    /// v10+ tag 0: the new leader when the error is NOT_LEADER_OR_FOLLOWER.
    pub current_leader: Option<LeaderIdAndEpoch>,
}

impl Default for PartitionProduceResponse {
    fn default() -> Self {
        PartitionProduceResponse {
            index: 0,
            error_code: ErrorCode::None,
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
            record_errors: Vec::new(),
            error_message: None,
            current_leader: None,
        }
    }
}

/// A record that made the broker drop its batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchIndexAndErrorMessage {
    /// Index of the record within the batch.
    pub batch_index: i32,
    /// Why the broker refused it.
    pub batch_index_error_message: Option<String>,
}

/// A partition's current leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// The leader node id, -1 when unknown.
    pub leader_id: i32,
    /// The leader's epoch.
    pub leader_epoch: i32,
}

/// A broker's address, sent beside `current_leader`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeEndpoint {
    /// The node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// The rack, if configured.
    pub rack: Option<String>,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 0;
            const MIN_VERSION: i16 = 3;
            const MAX_VERSION: i16 = 12;
            const FIRST_FLEXIBLE: i16 = 9;
        }
    };
}
api!(ProduceRequest);
api!(ProduceResponse);

/// Size of a length prefix for `n` bytes/items: compact varint or fixed `fixed` bytes.
#[inline]
fn len_prefix(n: usize, flex: bool, fixed: usize) -> usize {
    if flex { wire::uvarint_len(n as u32 + 1) } else { fixed }
}

impl ProduceRequest {
    /// The exact encoded size of the body at `version` (batches included), so an encoder reserves once.
    pub fn encoded_len(&self, version: i16) -> usize {
        let flex = Self::is_flexible(version);
        let tags = usize::from(flex);
        let tid = self.transactional_id.as_ref().map_or(0, String::len);
        let mut n = len_prefix(tid, flex, 2) + tid + 2 + 4 + len_prefix(self.topic_data.len(), flex, 4) + tags;
        for t in &self.topic_data {
            n += len_prefix(t.name.len(), flex, 2) + t.name.len();
            n += len_prefix(t.partition_data.len(), flex, 4) + tags;
            for p in &t.partition_data {
                let r = p.records.as_ref().map_or(0, Bytes::len);
                n += 4 + len_prefix(r, flex, 4) + r + tags;
            }
        }
        n
    }

    /// Bytes of the record batches [`encode_chunks`](Encode::encode_chunks) references instead of copying.
    fn shared_bytes(&self) -> usize {
        let shared = |p: &PartitionProduceData| p.records.as_ref().map_or(0, Bytes::len);
        self.topic_data.iter().flat_map(|t| &t.partition_data).map(shared).filter(|&n| n >= COPY_BELOW_BYTES).sum()
    }
}

impl Encode for ProduceRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        out.reserve(self.encoded_len(version));
        wire::put_nullable_string(out, self.transactional_id.as_deref(), flex);
        out.put_i16(self.acks);
        out.put_i32(self.timeout_ms);
        wire::put_array(out, &self.topic_data, flex, |out, t| {
            wire::put_string(out, &t.name, flex);
            wire::put_array(out, &t.partition_data, flex, |out, p| {
                out.put_i32(p.index);
                wire::put_nullable_bytes(out, p.records.as_deref(), flex);
                put_tags(out, flex);
            });
            put_tags(out, flex);
        });
        put_tags(out, flex);
    }

    fn encode_chunks(&self, w: &mut ChunkWriter, version: i16) {
        let flex = Self::is_flexible(version);
        w.buf().reserve(self.encoded_len(version) - self.shared_bytes());
        w.reserve_chunks(2 * self.topic_data.iter().map(|t| t.partition_data.len()).sum::<usize>() + 1);
        let out = w.buf();
        wire::put_nullable_string(out, self.transactional_id.as_deref(), flex);
        out.put_i16(self.acks);
        out.put_i32(self.timeout_ms);
        wire::put_array_len(out, Some(self.topic_data.len()), flex);
        for t in &self.topic_data {
            wire::put_string(w.buf(), &t.name, flex);
            wire::put_array_len(w.buf(), Some(t.partition_data.len()), flex);
            for p in &t.partition_data {
                w.buf().put_i32(p.index);
                wire::put_nullable_bytes_len(w.buf(), p.records.as_ref().map(Bytes::len), flex);
                if let Some(r) = &p.records {
                    w.put_shared(r);
                }
                put_tags(w.buf(), flex);
            }
            put_tags(w.buf(), flex);
        }
        put_tags(w.buf(), flex);
    }
}

impl Decode for ProduceRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let transactional_id = wire::read_nullable_string(buf, flex, "transactional_id")?;
        let acks = wire::read_i16(buf, "acks")?;
        let timeout_ms = wire::read_i32(buf, "timeout_ms")?;
        let topic_data = wire::read_array(buf, flex, "topic_data", |b| {
            let name = wire::read_string(b, flex, "topic.name")?;
            let partition_data = wire::read_array(b, flex, "partition_data", |b| {
                let index = wire::read_i32(b, "partition.index")?;
                let records = wire::read_nullable_bytes(b, flex, "records")?;
                skip_tags(b, flex)?;
                Ok(PartitionProduceData { index, records })
            })?;
            skip_tags(b, flex)?;
            Ok(TopicProduceData { name, partition_data })
        })?;
        skip_tags(buf, flex)?;
        Ok(ProduceRequest { transactional_id, acks, timeout_ms, topic_data })
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

/// Writes a tagged-field section holding at most one field, tag 0, whose payload `payload` writes.
fn put_tag0(out: &mut BytesMut, present: bool, payload: impl FnOnce(&mut BytesMut)) {
    if !present {
        wire::put_empty_tagged_fields(out);
        return;
    }
    let mut data = BytesMut::new();
    payload(&mut data);
    wire::put_uvarint(out, 1);
    wire::put_uvarint(out, 0);
    wire::put_uvarint(out, data.len() as u32);
    out.put_slice(&data);
}

/// Fails unless the tagged payload was read to its end.
fn all_read(b: &Bytes, field: &'static str) -> DecodeResult<()> {
    if b.is_empty() { Ok(()) } else { Err(wire::DecodeError::InvalidLength { field, len: b.len() as i64 }) }
}

impl Encode for ProduceResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        wire::put_array(out, &self.responses, flex, |out, t| {
            wire::put_string(out, &t.name, flex);
            wire::put_array(out, &t.partition_responses, flex, |out, p| encode_partition(out, p, version, flex));
            put_tags(out, flex);
        });
        out.put_i32(self.throttle_time_ms);
        if flex {
            put_tag0(out, version >= 10 && !self.node_endpoints.is_empty(), |d| {
                wire::put_array(d, &self.node_endpoints, true, |d, e| {
                    d.put_i32(e.node_id);
                    wire::put_string(d, &e.host, true);
                    d.put_i32(e.port);
                    wire::put_nullable_string(d, e.rack.as_deref(), true);
                    wire::put_empty_tagged_fields(d);
                });
            });
        }
    }
}

fn encode_partition(out: &mut BytesMut, p: &PartitionProduceResponse, version: i16, flex: bool) {
    out.put_i32(p.index);
    out.put_i16(p.error_code.code());
    out.put_i64(p.base_offset);
    out.put_i64(p.log_append_time_ms);
    if version >= 5 {
        out.put_i64(p.log_start_offset);
    }
    if version >= 8 {
        wire::put_array(out, &p.record_errors, flex, |out, e| {
            out.put_i32(e.batch_index);
            wire::put_nullable_string(out, e.batch_index_error_message.as_deref(), flex);
            put_tags(out, flex);
        });
        wire::put_nullable_string(out, p.error_message.as_deref(), flex);
    }
    if flex {
        let leader = p.current_leader.filter(|_| version >= 10);
        put_tag0(out, leader.is_some(), |d| {
            if let Some(l) = leader {
                d.put_i32(l.leader_id);
                d.put_i32(l.leader_epoch);
                wire::put_empty_tagged_fields(d);
            }
        });
    }
}

fn decode_partition(b: &mut Bytes, version: i16, flex: bool) -> DecodeResult<PartitionProduceResponse> {
    let mut p = PartitionProduceResponse {
        index: wire::read_i32(b, "partition.index")?,
        error_code: ErrorCode::from_i16(wire::read_i16(b, "partition.error_code")?),
        base_offset: wire::read_i64(b, "base_offset")?,
        log_append_time_ms: wire::read_i64(b, "log_append_time_ms")?,
        ..Default::default()
    };
    if version >= 5 {
        p.log_start_offset = wire::read_i64(b, "log_start_offset")?;
    }
    if version >= 8 {
        p.record_errors = wire::read_array(b, flex, "record_errors", |b| {
            let e = BatchIndexAndErrorMessage {
                batch_index: wire::read_i32(b, "batch_index")?,
                batch_index_error_message: wire::read_nullable_string(b, flex, "batch_index_error_message")?,
            };
            skip_tags(b, flex)?;
            Ok(e)
        })?;
        p.error_message = wire::read_nullable_string(b, flex, "error_message")?;
    }
    if flex {
        wire::read_tagged_fields_with(b, |tag, mut data| {
            if tag == 0 && version >= 10 {
                p.current_leader = Some(LeaderIdAndEpoch {
                    leader_id: wire::read_i32(&mut data, "current_leader.leader_id")?,
                    leader_epoch: wire::read_i32(&mut data, "current_leader.leader_epoch")?,
                });
                wire::skip_tagged_fields(&mut data)?;
                all_read(&data, "current_leader")?;
            }
            Ok(())
        })?;
    }
    Ok(p)
}

impl Decode for ProduceResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let responses = wire::read_array(buf, flex, "responses", |b| {
            let name = wire::read_string(b, flex, "topic.name")?;
            let partition_responses =
                wire::read_array(b, flex, "partition_responses", |b| decode_partition(b, version, flex))?;
            skip_tags(b, flex)?;
            Ok(TopicProduceResponse { name, partition_responses })
        })?;
        let throttle_time_ms = wire::read_i32(buf, "throttle_time_ms")?;
        let mut node_endpoints = Vec::new();
        if flex {
            wire::read_tagged_fields_with(buf, |tag, mut data| {
                if tag == 0 && version >= 10 {
                    node_endpoints = wire::read_array(&mut data, true, "node_endpoints", |d| {
                        let e = NodeEndpoint {
                            node_id: wire::read_i32(d, "node_endpoint.node_id")?,
                            host: wire::read_string(d, true, "node_endpoint.host")?,
                            port: wire::read_i32(d, "node_endpoint.port")?,
                            rack: wire::read_nullable_string(d, true, "node_endpoint.rack")?,
                        };
                        wire::skip_tagged_fields(d)?;
                        Ok(e)
                    })?;
                    all_read(&data, "node_endpoints")?;
                }
                Ok(())
            })?;
        }
        Ok(ProduceResponse { responses, throttle_time_ms, node_endpoints })
    }
}

#[cfg(test)]
mod tests;
