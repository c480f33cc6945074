//! AddPartitionsToTxn (key 24), versions 0–5; flexible from v3.
//!
//! Tells the transaction coordinator which partitions a transaction writes to, before the first
//! transactional batch goes to each (transaction protocol v1). v2 adds the PRODUCER_FENCED error,
//! v3 the flexible encoding. Versions 0–3 carry one transaction (the client's form); v4+ is the
//! broker-to-broker form (KIP-890 part 1): a `transactions` array, each with `verify_only` (check
//! that the partitions are already in the transaction instead of adding them), and the response a
//! top-level error code plus `results_by_transaction`. v5 only adds the TRANSACTION_ABORTABLE error.
//!
//! The v0–3 fields keep Kafka's names without the `V3AndBelow` prefix; the v4+ ones live in
//! [`AddPartitionsToTxnTransaction`] / [`AddPartitionsToTxnResult`]. Fields outside the version
//! being written are ignored, and read back as their defaults.
//!
//! # References
//! - `AddPartitionsToTxnRequest.json`, `AddPartitionsToTxnResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-98, KIP-588, KIP-890

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Adds partitions to a transaction (v0–3: one transaction; v4+: a batch of them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnRequest {
    /// v4+: the transactions, batched (broker to broker).
    pub transactions: Vec<AddPartitionsToTxnTransaction>,
    /// v0–3 (`V3AndBelowTransactionalId`).
    pub transactional_id: String,
    /// v0–3 (`V3AndBelowProducerId`).
    pub producer_id: i64,
    /// v0–3 (`V3AndBelowProducerEpoch`).
    pub producer_epoch: i16,
    /// v0–3 (`V3AndBelowTopics`): the partitions to add.
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// One transaction of a v4+ request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnTransaction {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Only check that the partitions are in the transaction; do not add them.
    pub verify_only: bool,
    /// The partitions to add, by topic.
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// Partitions of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnTopic {
    /// The topic name.
    pub name: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

/// The coordinator's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnResponse {
    /// Time the request was throttled, in ms.
    pub throttle_time_ms: i32,
    /// v4+: top-level error.
    pub error_code: ErrorCode,
    /// v4+.
    pub results_by_transaction: Vec<AddPartitionsToTxnResult>,
    /// v0–3 (`ResultsByTopicV3AndBelow`).
    pub results_by_topic: Vec<AddPartitionsToTxnTopicResult>,
}

/// The results of one transaction of a v4+ answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnResult {
    /// The transactional id (v4+ batches several).
    pub transactional_id: String,
    /// Results by topic.
    pub topic_results: Vec<AddPartitionsToTxnTopicResult>,
}

/// The results for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnTopicResult {
    /// The topic name.
    pub name: String,
    /// Results by partition.
    pub results_by_partition: Vec<AddPartitionsToTxnPartitionResult>,
}

/// The result for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnPartitionResult {
    /// The partition index.
    pub partition_index: i32,
    /// `NONE` when the partition was added.
    pub partition_error_code: ErrorCode,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 24;
            const MIN_VERSION: i16 = 0;
            const MAX_VERSION: i16 = 5;
            const FIRST_FLEXIBLE: i16 = 3;
        }
    };
}
api!(AddPartitionsToTxnRequest);
api!(AddPartitionsToTxnResponse);

fn put_tags(out: &mut BytesMut, flex: bool) {
    if flex {
        wire::put_empty_tagged_fields(out);
    }
}

fn skip_tags(buf: &mut Bytes, flex: bool) -> DecodeResult<()> {
    if flex { wire::skip_tagged_fields(buf) } else { Ok(()) }
}

fn put_topics(out: &mut BytesMut, topics: &[AddPartitionsToTxnTopic], flex: bool) {
    wire::put_array(out, topics, flex, |out, t| {
        wire::put_string(out, &t.name, flex);
        wire::put_i32_array(out, &t.partitions, flex);
        put_tags(out, flex);
    });
}

fn read_topics(buf: &mut Bytes, flex: bool) -> DecodeResult<Vec<AddPartitionsToTxnTopic>> {
    wire::read_array(buf, flex, "topics", |b| {
        let t = AddPartitionsToTxnTopic {
            name: wire::read_string(b, flex, "topic.name")?,
            partitions: wire::read_i32_array(b, flex, "topic.partitions")?,
        };
        skip_tags(b, flex)?;
        Ok(t)
    })
}

impl Encode for AddPartitionsToTxnRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        if version >= 4 {
            wire::put_array(out, &self.transactions, flex, |out, t| {
                wire::put_string(out, &t.transactional_id, flex);
                out.put_i64(t.producer_id);
                out.put_i16(t.producer_epoch);
                out.put_u8(u8::from(t.verify_only));
                put_topics(out, &t.topics, flex);
                put_tags(out, flex);
            });
        } else {
            wire::put_string(out, &self.transactional_id, flex);
            out.put_i64(self.producer_id);
            out.put_i16(self.producer_epoch);
            put_topics(out, &self.topics, flex);
        }
        put_tags(out, flex);
    }
}

impl Decode for AddPartitionsToTxnRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = AddPartitionsToTxnRequest::default();
        if version >= 4 {
            r.transactions = wire::read_array(buf, flex, "transactions", |b| {
                let t = AddPartitionsToTxnTransaction {
                    transactional_id: wire::read_string(b, flex, "transaction.transactional_id")?,
                    producer_id: wire::read_i64(b, "transaction.producer_id")?,
                    producer_epoch: wire::read_i16(b, "transaction.producer_epoch")?,
                    verify_only: wire::read_bool(b, "transaction.verify_only")?,
                    topics: read_topics(b, flex)?,
                };
                skip_tags(b, flex)?;
                Ok(t)
            })?;
        } else {
            r.transactional_id = wire::read_string(buf, flex, "transactional_id")?;
            r.producer_id = wire::read_i64(buf, "producer_id")?;
            r.producer_epoch = wire::read_i16(buf, "producer_epoch")?;
            r.topics = read_topics(buf, flex)?;
        }
        skip_tags(buf, flex)?;
        Ok(r)
    }
}

fn put_topic_results(out: &mut BytesMut, results: &[AddPartitionsToTxnTopicResult], flex: bool) {
    wire::put_array(out, results, flex, |out, t| {
        wire::put_string(out, &t.name, flex);
        wire::put_array(out, &t.results_by_partition, flex, |out, p| {
            out.put_i32(p.partition_index);
            out.put_i16(p.partition_error_code.code());
            put_tags(out, flex);
        });
        put_tags(out, flex);
    });
}

fn read_topic_results(buf: &mut Bytes, flex: bool) -> DecodeResult<Vec<AddPartitionsToTxnTopicResult>> {
    wire::read_array(buf, flex, "topic_results", |b| {
        let name = wire::read_string(b, flex, "topic_result.name")?;
        let results_by_partition = wire::read_array(b, flex, "results_by_partition", |b| {
            let p = AddPartitionsToTxnPartitionResult {
                partition_index: wire::read_i32(b, "partition_index")?,
                partition_error_code: ErrorCode::from_i16(wire::read_i16(b, "partition_error_code")?),
            };
            skip_tags(b, flex)?;
            Ok(p)
        })?;
        skip_tags(b, flex)?;
        Ok(AddPartitionsToTxnTopicResult { name, results_by_partition })
    })
}

impl Encode for AddPartitionsToTxnResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        out.put_i32(self.throttle_time_ms);
        if version >= 4 {
            out.put_i16(self.error_code.code());
            wire::put_array(out, &self.results_by_transaction, flex, |out, t| {
                wire::put_string(out, &t.transactional_id, flex);
                put_topic_results(out, &t.topic_results, flex);
                put_tags(out, flex);
            });
        } else {
            put_topic_results(out, &self.results_by_topic, flex);
        }
        put_tags(out, flex);
    }
}

impl Decode for AddPartitionsToTxnResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = AddPartitionsToTxnResponse {
            throttle_time_ms: wire::read_i32(buf, "throttle_time_ms")?,
            ..Default::default()
        };
        if version >= 4 {
            r.error_code = ErrorCode::from_i16(wire::read_i16(buf, "error_code")?);
            r.results_by_transaction = wire::read_array(buf, flex, "results_by_transaction", |b| {
                let t = AddPartitionsToTxnResult {
                    transactional_id: wire::read_string(b, flex, "result.transactional_id")?,
                    topic_results: read_topic_results(b, flex)?,
                };
                skip_tags(b, flex)?;
                Ok(t)
            })?;
        } else {
            r.results_by_topic = read_topic_results(buf, flex)?;
        }
        skip_tags(buf, flex)?;
        Ok(r)
    }
}

impl AddPartitionsToTxnResponse {
    /// Every (topic, partition, error) of the answer, whatever the version's shape (v0–3 results,
    /// else those of every transaction).
    pub fn partition_errors(&self) -> impl Iterator<Item = (&str, i32, ErrorCode)> {
        let v4 = self.results_by_transaction.iter().flat_map(|t| t.topic_results.iter());
        self.results_by_topic.iter().chain(v4).flat_map(|t| {
            t.results_by_partition.iter().map(move |p| (t.name.as_str(), p.partition_index, p.partition_error_code))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testutil::*;
    use proptest::prelude::*;

    fn arb_topic() -> impl Strategy<Value = AddPartitionsToTxnTopic> {
        (string(), vec(any::<i32>(), 4)).prop_map(|(name, partitions)| AddPartitionsToTxnTopic { name, partitions })
    }

    fn arb_request() -> impl Strategy<Value = AddPartitionsToTxnRequest> {
        let txn = (string(), any::<i64>(), any::<i16>(), any::<bool>(), vec(arb_topic(), 3)).prop_map(
            |(transactional_id, producer_id, producer_epoch, verify_only, topics)| AddPartitionsToTxnTransaction {
                transactional_id,
                producer_id,
                producer_epoch,
                verify_only,
                topics,
            },
        );
        (vec(txn, 3), string(), any::<i64>(), any::<i16>(), vec(arb_topic(), 3)).prop_map(
            |(transactions, transactional_id, producer_id, producer_epoch, topics)| AddPartitionsToTxnRequest {
                transactions,
                transactional_id,
                producer_id,
                producer_epoch,
                topics,
            },
        )
    }

    fn norm_request(m: AddPartitionsToTxnRequest, v: i16) -> AddPartitionsToTxnRequest {
        if v >= 4 {
            AddPartitionsToTxnRequest { transactions: m.transactions, ..Default::default() }
        } else {
            AddPartitionsToTxnRequest { transactions: Vec::new(), ..m }
        }
    }

    fn arb_topic_result() -> impl Strategy<Value = AddPartitionsToTxnTopicResult> {
        let p = (any::<i32>(), error_code()).prop_map(|(partition_index, partition_error_code)| {
            AddPartitionsToTxnPartitionResult { partition_index, partition_error_code }
        });
        (string(), vec(p, 4))
            .prop_map(|(name, results_by_partition)| AddPartitionsToTxnTopicResult { name, results_by_partition })
    }

    fn arb_response() -> impl Strategy<Value = AddPartitionsToTxnResponse> {
        let txn = (string(), vec(arb_topic_result(), 3))
            .prop_map(|(transactional_id, topic_results)| AddPartitionsToTxnResult { transactional_id, topic_results });
        (any::<i32>(), error_code(), vec(txn, 3), vec(arb_topic_result(), 3)).prop_map(
            |(throttle_time_ms, error_code, results_by_transaction, results_by_topic)| AddPartitionsToTxnResponse {
                throttle_time_ms,
                error_code,
                results_by_transaction,
                results_by_topic,
            },
        )
    }

    fn norm_response(m: AddPartitionsToTxnResponse, v: i16) -> AddPartitionsToTxnResponse {
        if v >= 4 {
            AddPartitionsToTxnResponse { results_by_topic: Vec::new(), ..m }
        } else {
            AddPartitionsToTxnResponse {
                throttle_time_ms: m.throttle_time_ms,
                results_by_topic: m.results_by_topic,
                ..Default::default()
            }
        }
    }

    message_tests!(request, AddPartitionsToTxnRequest, arb_request(), norm_request);
    message_tests!(response, AddPartitionsToTxnResponse, arb_response(), norm_response);

    #[test]
    fn request_v0_and_v3_fixtures() {
        let r = AddPartitionsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 7,
            producer_epoch: 1,
            topics: vec![AddPartitionsToTxnTopic { name: "t".into(), partitions: vec![2] }],
            ..Default::default()
        };
        let mut out = BytesMut::new();
        r.encode(&mut out, 0);
        let v0: &[u8] = &[
            0, 2, b't', b'x', // transactional id
            0, 0, 0, 0, 0, 0, 0, 7, 0, 1, // producer id, epoch
            0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 2, // one topic "t", partitions [2]
        ];
        assert_eq!(&out[..], v0);
        let mut out = BytesMut::new();
        r.encode(&mut out, 3);
        let v3: &[u8] = &[
            3, b't', b'x', 0, 0, 0, 0, 0, 0, 0, 7, 0, 1, // compact id, producer id, epoch
            2, 2, b't', 2, 0, 0, 0, 2, 0, // one topic "t", partitions [2], topic tags
            0, // body tags
        ];
        assert_eq!(&out[..], v3);
    }

    #[test]
    fn partition_errors_cover_both_shapes() {
        let topic = AddPartitionsToTxnTopicResult {
            name: "t".into(),
            results_by_partition: vec![AddPartitionsToTxnPartitionResult {
                partition_index: 3,
                partition_error_code: ErrorCode::ConcurrentTransactions,
            }],
        };
        let v3 = AddPartitionsToTxnResponse { results_by_topic: vec![topic.clone()], ..Default::default() };
        assert_eq!(v3.partition_errors().collect::<Vec<_>>(), vec![("t", 3, ErrorCode::ConcurrentTransactions)]);
        let v4 = AddPartitionsToTxnResponse {
            results_by_transaction: vec![AddPartitionsToTxnResult {
                transactional_id: "x".into(),
                topic_results: vec![topic],
            }],
            ..Default::default()
        };
        assert_eq!(v4.partition_errors().count(), 1);
    }
}
