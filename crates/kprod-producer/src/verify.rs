//! A small Fetch-based reader: reads back what a partition holds, to verify a producer's guarantees (every record
//! once, in order, in the right partition, with its headers and timestamp) against the mock broker or a real one.
//!
//! Deliberately simple: one request at a time over a plain socket, from the earliest offset to the high watermark
//! observed at the start. Not a consumer: no groups, no commits. [`read_topic_with`] reads over TLS too (the
//! producer's [`TlsSettings`]); on a SASL listener it authenticates with the producer's own code
//! ([`crate::security::authenticate`]): use [`read_topic_as`] with the producer's config for both.
//!
//! [`read_topic_committed`] reads as a read_committed consumer does (`isolation_level = 1`): up to the last stable
//! offset, control batches skipped, and the records of aborted transactions dropped using the fetch response's
//! aborted-transaction list (Java's `CompletedFetch` algorithm: an aborted producer's batches are skipped from its
//! first offset until its ABORT marker).
//!
//! # References
//! - Apache Kafka `CompletedFetch.nextFetchedRecord` / `abortedProducerIds`, KIP-98.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::producer::config::ProducerConfig;
use crate::protocol::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use crate::protocol::list_offsets::{ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic};
use crate::protocol::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use crate::protocol::versions::{ApiKey, NegotiatedVersions, negotiate};
use crate::protocol::{ApiMessage, decode_response, request_frame};
use crate::protocol::{Decode, Encode};
use crate::record::{ControlRecordType, Header, control_record_of, iter_batches};
use crate::security::SaslSettings;
use crate::security::tls::{MaybeTlsStream, TlsSettings, host_of};

/// One record as read back from a broker (Fetch) by [`read_topic`]; the mock broker's own log entry is
/// `kprod_mock::StoredRecord`.
///
/// ```
/// use kprod_producer::producer::{Producer, ProducerConfig, ProducerRecord};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = kprod_mock::MockCluster::builder().start().await?;
/// let producer = Producer::new(ProducerConfig::from_pairs([("bootstrap.servers", cluster.bootstrap())])?)?;
/// producer.send(ProducerRecord::new("events", "v".into()).with_key("k".into())).await?.await?;
/// let by_partition = kprod_producer::verify::read_topic(&cluster.bootstrap(), "events").await?;
/// let record = &by_partition[&0][0];
/// assert_eq!((record.offset, record.key.as_deref(), record.value.as_deref()), (0, Some(&b"k"[..]), Some(&b"v"[..])));
/// assert_eq!(record.sequence, 0, "idempotence is on by default");
/// producer.close(std::time::Duration::from_secs(5)).await?;
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    /// The record's offset in its partition.
    pub offset: i64,
    /// The record's timestamp (create or log-append time, as the topic says).
    pub timestamp_ms: i64,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers in order: key and value (`None` for a null value).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The batch's producer id (-1 without idempotence).
    pub producer_id: i64,
    /// The batch's producer epoch.
    pub producer_epoch: i16,
    /// Sequence of this record (batch base sequence + index), -1 without idempotence.
    pub sequence: i32,
    /// The batch is part of a transaction.
    pub transactional: bool,
}

/// Why reading back failed; names the broker or partition.
///
/// ```
/// use kprod_producer::verify::{VerifyError, read_topic};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Nothing listens on port 1.
/// let e = read_topic("127.0.0.1:1", "events").await.unwrap_err();
/// assert!(matches!(&e, VerifyError::Io { address, .. } if address == "127.0.0.1:1"), "{e}");
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The broker at `address` could not be reached or talked to.
    #[error("{address}: {reason}")]
    Io {
        /// `host:port`.
        address: String,
        /// What failed.
        reason: String,
    },
    /// A response could not be decoded or made no sense.
    #[error("{0}")]
    Protocol(String),
    /// One partition could not be read (its leader, its error code).
    #[error("partition {topic}-{partition}: {reason}")]
    Partition {
        /// The topic.
        topic: String,
        /// The partition index.
        partition: i32,
        /// What failed.
        reason: String,
    },
}

struct Conn {
    stream: MaybeTlsStream,
    address: String,
    versions: NegotiatedVersions,
    correlation_id: i32,
}

impl Conn {
    async fn open(address: &str, tls: Option<&TlsSettings>, sasl: Option<&SaslSettings>) -> Result<Conn, VerifyError> {
        let io = |e: std::io::Error| VerifyError::Io { address: address.to_string(), reason: e.to_string() };
        let timed_out = |what: &str| VerifyError::Io { address: address.into(), reason: format!("{what} timed out") };
        let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(address))
            .await
            .map_err(|_| timed_out("connect"))?
            .map_err(io)?;
        let stream = match tls {
            None => MaybeTlsStream::Plain(tcp),
            Some(t) => MaybeTlsStream::Tls(Box::new(
                tokio::time::timeout(Duration::from_secs(10), t.handshake(host_of(address), tcp))
                    .await
                    .map_err(|_| timed_out("TLS handshake"))?
                    .map_err(|e| VerifyError::Io { address: address.into(), reason: format!("TLS: {e}") })?,
            )),
        };
        let mut c =
            Conn { stream, address: address.to_string(), versions: NegotiatedVersions::default(), correlation_id: 0 };
        let req =
            ApiVersionsRequest { client_software_name: "kprod-verify".into(), client_software_version: "1".into() };
        let resp: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &req).await?;
        c.versions = negotiate(&resp, &[ApiKey::Metadata, ApiKey::Fetch, ApiKey::ListOffsets])
            .map_err(|e| VerifyError::Protocol(format!("{address}: {e}")))?;
        if let Some(sasl) = sasl {
            crate::security::authenticate::authenticate(
                &mut c.stream,
                address,
                &c.versions,
                sasl,
                Some("kprod-verify"),
                Duration::from_secs(30),
            )
            .await
            .map_err(|e| VerifyError::Protocol(e.to_string()))?;
            c.correlation_id = 100;
        }
        Ok(c)
    }

    async fn call<Req: Encode + ApiMessage, Resp: Decode + ApiMessage>(
        &mut self,
        api: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp, VerifyError> {
        self.correlation_id += 1;
        let frame = request_frame(version, self.correlation_id, Some("kprod-verify"), req, 256)
            .map_err(|e| VerifyError::Protocol(format!("{}: {} request: {e}", self.address, api.name())))?;
        let io = |e: std::io::Error| VerifyError::Io { address: self.address.clone(), reason: e.to_string() };
        self.stream.write_all(&frame).await.map_err(io)?;
        self.stream.flush().await.map_err(io)?;
        let size = self.stream.read_i32().await.map_err(io)?;
        if !(0..=256 << 20).contains(&size) {
            return Err(VerifyError::Protocol(format!("{}: response size {size} out of bounds", self.address)));
        }
        let mut buf = BytesMut::zeroed(size as usize);
        self.stream.read_exact(&mut buf).await.map_err(io)?;
        let (_, resp) = decode_response::<Resp>(buf.freeze(), version)
            .map_err(|e| VerifyError::Protocol(format!("{}: {e}", self.address)))?;
        Ok(resp)
    }

    fn version(&self, api: ApiKey) -> Result<i16, VerifyError> {
        self.versions
            .get(api)
            .ok_or_else(|| VerifyError::Protocol(format!("{} does not support {}", self.address, api.name())))
    }
}

/// Checks that a cluster answers as the producer of `config` would reach it: for each bootstrap server in turn,
/// TCP connect, the TLS handshake (`security.protocol` SSL/SASL_SSL), ApiVersions and the SASL login (SASL_*), each
/// bounded by `timeout`. Returns the first address that answered; when none did, every address with its cause
/// (`127.0.0.1:1: Connection refused (os error 111)`). A preflight for `kprod run`, not a producer code path.
pub async fn probe(config: &ProducerConfig, timeout: Duration) -> Result<String, VerifyError> {
    let sasl = SaslSettings::from_config(config).map_err(|e| VerifyError::Protocol(e.to_string()))?;
    let tls = TlsSettings::from_config(config).map_err(|e| VerifyError::Protocol(e.to_string()))?;
    let mut causes = Vec::new();
    for address in config.bootstrap_servers.iter().map(|a| a.trim()) {
        match tokio::time::timeout(timeout, Conn::open(address, tls.as_ref(), sasl.as_ref())).await {
            Ok(Ok(_)) => return Ok(address.to_string()),
            Ok(Err(VerifyError::Io { address, reason })) => causes.push(format!("{address}: {reason}")),
            Ok(Err(e)) => causes.push(format!("{address}: {e}")),
            Err(_) => causes.push(format!("{address}: no answer within {} s", timeout.as_secs_f64())),
        }
    }
    Err(VerifyError::Protocol(causes.join("; ")))
}

/// Reads every record of every partition of `topic` (earliest offset to the high watermark), keyed by partition.
pub async fn read_topic(bootstrap: &str, topic: &str) -> Result<BTreeMap<i32, Vec<FetchedRecord>>, VerifyError> {
    read_topic_secure(bootstrap, topic, None, None, false).await
}

/// [`read_topic`] as a read_committed consumer: up to each partition's last stable offset, without control batches
/// and without the records of aborted transactions.
pub async fn read_topic_committed(
    bootstrap: &str,
    topic: &str,
) -> Result<BTreeMap<i32, Vec<FetchedRecord>>, VerifyError> {
    read_topic_secure(bootstrap, topic, None, None, true).await
}

/// [`read_topic`] with the bootstrap servers and security settings of a producer config (TLS per `ssl.*`, and
/// authenticating with its SASL mechanism and credentials when `security.protocol` is SASL_*).
pub async fn read_topic_as(
    config: &ProducerConfig,
    topic: &str,
) -> Result<BTreeMap<i32, Vec<FetchedRecord>>, VerifyError> {
    let sasl = SaslSettings::from_config(config).map_err(|e| VerifyError::Protocol(e.to_string()))?;
    let tls = TlsSettings::from_config(config).map_err(|e| VerifyError::Protocol(e.to_string()))?;
    read_topic_secure(&config.bootstrap_servers.join(","), topic, tls.as_ref(), sasl.as_ref(), false).await
}

/// [`read_topic`] over TLS when `tls` is given (build it with `TlsSettings::from_config`).
pub async fn read_topic_with(
    bootstrap: &str,
    topic: &str,
    tls: Option<&TlsSettings>,
) -> Result<BTreeMap<i32, Vec<FetchedRecord>>, VerifyError> {
    read_topic_secure(bootstrap, topic, tls, None, false).await
}

/// The general reader: over TLS when `tls` is given, authenticating every connection with `sasl` when given, and
/// as a read_committed consumer when `read_committed`.
pub async fn read_topic_secure(
    bootstrap: &str,
    topic: &str,
    tls: Option<&TlsSettings>,
    sasl: Option<&SaslSettings>,
    read_committed: bool,
) -> Result<BTreeMap<i32, Vec<FetchedRecord>>, VerifyError> {
    let first = bootstrap.split(',').next().unwrap_or(bootstrap).trim();
    let mut boot = Conn::open(first, tls, sasl).await?;
    let v = boot.version(ApiKey::Metadata)?;
    let md: MetadataResponse = boot
        .call(
            ApiKey::Metadata,
            v,
            &MetadataRequest {
                topics: Some(vec![MetadataRequestTopic { topic_id: [0; 16], name: Some(topic.to_string()) }]),
                allow_auto_topic_creation: false,
                ..Default::default()
            },
        )
        .await?;
    let brokers: BTreeMap<i32, String> =
        md.brokers.iter().map(|b| (b.node_id, format!("{}:{}", b.host, b.port))).collect();
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))
        .ok_or_else(|| VerifyError::Protocol(format!("topic '{topic}' not in metadata")))?;
    if !t.error_code.is_ok() {
        return Err(VerifyError::Protocol(format!("topic '{topic}': {}", t.error_code)));
    }
    let mut out = BTreeMap::new();
    for p in &t.partitions {
        let addr = brokers.get(&p.leader_id).ok_or_else(|| VerifyError::Partition {
            topic: topic.into(),
            partition: p.partition_index,
            reason: format!("leader {} unknown", p.leader_id),
        })?;
        let mut conn = Conn::open(addr, tls, sasl).await?;
        out.insert(p.partition_index, read_partition(&mut conn, topic, p.partition_index, read_committed).await?);
    }
    Ok(out)
}

async fn list_offset(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    timestamp: i64,
    isolation_level: i8,
) -> Result<i64, VerifyError> {
    let v = conn.version(ApiKey::ListOffsets)?;
    let req = ListOffsetsRequest {
        replica_id: -1,
        isolation_level,
        topics: vec![ListOffsetsTopic {
            name: topic.into(),
            partitions: vec![ListOffsetsPartition { partition_index: partition, current_leader_epoch: -1, timestamp }],
        }],
    };
    // A partition created a moment ago can answer with a retriable error (NOT_LEADER_OR_FOLLOWER while its leader
    // is being elected): retry those for up to ~10 s.
    for attempt in 0.. {
        let resp: ListOffsetsResponse = conn.call(ApiKey::ListOffsets, v, &req).await?;
        let p = resp.topics.first().and_then(|t| t.partitions.first()).ok_or_else(|| VerifyError::Partition {
            topic: topic.into(),
            partition,
            reason: "empty ListOffsets response".into(),
        })?;
        if p.error_code.is_ok() {
            return Ok(p.offset);
        }
        if !p.error_code.is_retriable() || attempt >= 100 {
            return Err(VerifyError::Partition {
                topic: topic.into(),
                partition,
                reason: format!("ListOffsets: {}", p.error_code),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!("the loop returns")
}

async fn read_partition(
    conn: &mut Conn,
    topic: &str,
    partition: i32,
    read_committed: bool,
) -> Result<Vec<FetchedRecord>, VerifyError> {
    let isolation_level = i8::from(read_committed);
    let mut offset = list_offset(conn, topic, partition, -2, isolation_level).await?;
    let end = list_offset(conn, topic, partition, -1, isolation_level).await?;
    // read_committed: aborted transactions announced by the broker (producer id, first offset), not yet reached,
    // and the producers whose aborted transaction is being skipped.
    let mut pending_aborts: Vec<(i64, i64)> = Vec::new();
    let mut aborting: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    let v = conn.version(ApiKey::Fetch)?;
    let mut out = Vec::new();
    let perr = |reason: String| VerifyError::Partition { topic: topic.into(), partition, reason };
    let mut empty_fetches = 0;
    while offset < end {
        let req = FetchRequest {
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 16 << 20,
            isolation_level,
            topics: vec![FetchTopic {
                topic: topic.into(),
                partitions: vec![FetchPartition {
                    partition,
                    current_leader_epoch: -1,
                    fetch_offset: offset,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: 8 << 20,
                }],
            }],
            ..Default::default()
        };
        let resp: FetchResponse = conn.call(ApiKey::Fetch, v, &req).await?;
        let pd = resp
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| perr("empty fetch response".into()))?;
        if !pd.error_code.is_ok() {
            if pd.error_code.is_retriable() && empty_fetches < 100 {
                empty_fetches += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            return Err(perr(format!("Fetch: {}", pd.error_code)));
        }
        let before = offset;
        if read_committed {
            for a in pd.aborted_transactions.iter().flatten() {
                if !pending_aborts.contains(&(a.producer_id, a.first_offset)) && a.first_offset >= offset {
                    pending_aborts.push((a.producer_id, a.first_offset));
                }
            }
            pending_aborts.sort_by_key(|a| a.1);
        }
        for batch in iter_batches(pd.records.clone().unwrap_or_default()) {
            let Ok(batch) = batch else { break }; // a partial batch at the end of the response
            batch.validate_crc().map_err(|e| perr(e.to_string()))?;
            if read_committed {
                // Every announced abort that starts at or before this batch is now in effect.
                while let Some(&(pid, first)) = pending_aborts.first() {
                    if first > batch.last_offset() {
                        break;
                    }
                    aborting.insert(pid);
                    pending_aborts.remove(0);
                }
            }
            if batch.is_control() {
                if read_committed
                    && let Ok(Some(c)) = control_record_of(&batch)
                    && c.kind == ControlRecordType::Abort
                {
                    aborting.remove(&batch.producer_id());
                }
                offset = offset.max(batch.last_offset() + 1);
                continue;
            }
            if read_committed && batch.is_transactional() && aborting.contains(&batch.producer_id()) {
                offset = offset.max(batch.last_offset() + 1);
                continue;
            }
            for (i, r) in batch.records().map_err(|e| perr(e.to_string()))?.enumerate() {
                let r = r.map_err(|e| perr(e.to_string()))?;
                let o = batch.base_offset() + r.offset_delta as i64;
                if o < offset {
                    continue;
                }
                out.push(FetchedRecord {
                    offset: o,
                    timestamp_ms: batch.base_timestamp() + r.timestamp_delta,
                    key: r.key,
                    value: r.value,
                    headers: r.headers.into_iter().map(|Header { key, value }| (key, value)).collect(),
                    producer_id: batch.producer_id(),
                    producer_epoch: batch.producer_epoch(),
                    sequence: if batch.base_sequence() < 0 { -1 } else { batch.base_sequence().wrapping_add(i as i32) },
                    transactional: batch.is_transactional(),
                });
            }
            offset = offset.max(batch.last_offset() + 1);
        }
        if offset == before {
            empty_fetches += 1;
            if empty_fetches > 50 {
                return Err(perr(format!("no progress fetching at offset {offset} (end {end})")));
            }
        }
    }
    Ok(out)
}
