//! The mock cluster over real sockets: raw requests encoded with the crate's codec, answers and
//! the retained log checked; faults; hostile frames.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kprod::broker::{DropPoint, ErrorTarget, Latency, MockCluster, StorageMode, Validation};
use kprod::protocol::fetch::{FetchPartition, FetchTopic};
use kprod::protocol::list_offsets::{ListOffsetsPartition, ListOffsetsTopic};
use kprod::protocol::metadata::MetadataRequestTopic;
use kprod::protocol::produce::{PartitionProduceData, PartitionProduceResponse, TopicProduceData};
use kprod::protocol::{
    ApiMessage, ApiVersionsRequest, ApiVersionsResponse, Decode, Encode, ErrorCode, FetchRequest, FetchResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader, decode_response, encode_request, split_frame,
};
use kprod::record::{BatchBuilder, Compression, Header, set_producer_state};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw connection speaking the crate's codec.
struct Conn {
    socket: TcpStream,
    buf: BytesMut,
    correlation_id: i32,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        Conn { socket: TcpStream::connect(addr).await.unwrap(), buf: BytesMut::new(), correlation_id: 0 }
    }

    async fn send<Q: Encode + ApiMessage>(&mut self, version: i16, req: &Q) -> i32 {
        self.correlation_id += 1;
        let header = RequestHeader {
            api_key: Q::API_KEY,
            api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some("it".into()),
        };
        let mut out = BytesMut::new();
        encode_request(&mut out, &header, req).unwrap();
        self.socket.write_all(&out).await.unwrap();
        self.correlation_id
    }

    /// The next frame, or `None` when the broker closed the connection.
    async fn frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(f) = split_frame(&mut self.buf, 1 << 30).unwrap() {
                return Some(f);
            }
            let n = tokio::time::timeout(Duration::from_secs(10), self.socket.read_buf(&mut self.buf))
                .await
                .expect("broker did not answer within 10 s");
            match n {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn recv<R: Decode + ApiMessage>(&mut self, version: i16, correlation_id: i32) -> R {
        let frame = self.frame().await.expect("connection closed instead of a response");
        let (h, body) = decode_response::<R>(frame, version).unwrap();
        assert_eq!(h.correlation_id, correlation_id);
        body
    }

    async fn call<Q: Encode + ApiMessage, R: Decode + ApiMessage>(&mut self, version: i16, req: &Q) -> R {
        let id = self.send(version, req).await;
        self.recv(version, id).await
    }

    async fn raw(&mut self, bytes: &[u8]) {
        self.socket.write_all(bytes).await.unwrap();
    }
}

/// A batch of `n` records with keys, values, headers and timestamps 1000+i.
fn batch(n: i32, pid: i64, epoch: i16, seq: i32, compression: Compression) -> Bytes {
    let mut b = BatchBuilder::new(BytesMut::new(), compression, 1_000);
    for i in 0..n {
        let (k, v) = (format!("key-{i}"), format!("value-{i}"));
        let headers = [Header { key: "h".into(), value: Some(Bytes::from(format!("hv{i}"))) }];
        b.append(1_000 + i as i64, Some(k.as_bytes()), Some(v.as_bytes()), &headers);
    }
    let mut closed = b.close().unwrap().bytes;
    if pid >= 0 {
        set_producer_state(&mut closed, pid, epoch, seq, false);
    }
    closed.freeze()
}

fn produce(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData { index: partition, records: Some(records) }],
        }],
    }
}

fn only(r: &ProduceResponse) -> &PartitionProduceResponse {
    &r.responses[0].partition_responses[0]
}

async fn cluster(brokers: usize, partitions: i32) -> MockCluster {
    MockCluster::builder()
        .brokers(brokers)
        .default_partitions(partitions)
        .mode(StorageMode::Retain { max_bytes: 16 << 20 })
        .validate(Validation::Full)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn api_versions_and_metadata_with_auto_created_topic() {
    let c = cluster(3, 4).await;
    assert_eq!(c.bootstrap().split(',').count(), 3);
    let mut conn = Conn::open(c.addresses()[0]).await;
    let v: ApiVersionsResponse = conn.call(3, &ApiVersionsRequest::default()).await;
    assert!(v.error_code.is_ok());
    assert_eq!(v.find(0).map(|k| (k.min_version, k.max_version)), Some((3, 12)));
    assert_eq!(v.find(26).map(|k| (k.min_version, k.max_version)), Some((0, 5)), "EndTxn");
    assert_eq!(v.transaction_version(), 2, "finalized transaction.version, as Kafka 4.x");
    // An unsupported ApiVersions version is answered at v0 with UNSUPPORTED_VERSION and the ranges.
    let id = conn.send(3, &ApiVersionsRequest::default()).await;
    let _ = id;
    let mut bad = BytesMut::new();
    let header = RequestHeader { api_key: 18, api_version: 9, correlation_id: 77, client_id: None };
    header.encode(&mut bad, 2);
    let mut framed = BytesMut::new();
    framed.extend_from_slice(&((bad.len() + 3) as i32).to_be_bytes());
    framed.extend_from_slice(&bad);
    framed.extend_from_slice(&[1, 1, 0]); // v4 body: two empty compact strings and no tags
    let _: ApiVersionsResponse = conn.recv(3, id).await;
    conn.raw(&framed).await;
    let frame = conn.frame().await.unwrap();
    let (h, r) = decode_response::<ApiVersionsResponse>(frame, 0).unwrap();
    assert_eq!((h.correlation_id, r.error_code), (77, ErrorCode::UnsupportedVersion));
    assert!(!r.api_keys.is_empty());

    let req = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some("orders".into()), ..Default::default() }]),
        ..Default::default()
    };
    let m: MetadataResponse = conn.call(12, &req).await;
    assert_eq!(m.brokers.len(), 3);
    assert_eq!(m.brokers[2].port as u16, c.addresses()[2].port());
    let t = &m.topics[0];
    assert_eq!((t.error_code, t.partitions.len()), (ErrorCode::None, 4));
    let leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader_id).collect();
    assert_eq!(leaders, vec![0, 1, 2, 0]);
    // Without auto-creation an unknown topic is reported, and an illegal name is refused.
    let req = MetadataRequest {
        topics: Some(vec![
            MetadataRequestTopic { name: Some("nope".into()), ..Default::default() },
            MetadataRequestTopic { name: Some("bad/name".into()), ..Default::default() },
        ]),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    let m: MetadataResponse = conn.call(9, &req).await;
    assert_eq!(m.topics[0].error_code, ErrorCode::UnknownTopicOrPartition);
    assert!(c.state().topic("nope").is_none());
    c.shutdown().await;
}

#[tokio::test]
async fn produce_is_stored_exactly_and_read_back_by_fetch_and_list_offsets() {
    let c = cluster(2, 2).await;
    let mut conn = Conn::open(c.addresses()[0]).await;
    let pid: InitProducerIdResponse = conn.call(4, &InitProducerIdRequest::default()).await;
    assert!(pid.error_code.is_ok() && pid.producer_id >= 0);
    let (p, e) = (pid.producer_id, pid.producer_epoch);
    let r: ProduceResponse = conn.call(11, &produce("t", 0, batch(3, p, e, 0, Compression::None), -1)).await;
    assert_eq!((only(&r).error_code, only(&r).base_offset), (ErrorCode::None, 0));
    let r: ProduceResponse = conn.call(7, &produce("t", 0, batch(2, p, e, 3, Compression::Lz4 { level: 9 }), 1)).await;
    assert_eq!((only(&r).error_code, only(&r).base_offset), (ErrorCode::None, 3));

    let records = c.state().records("t", 0).unwrap();
    assert_eq!(records.len(), 5);
    for (i, r) in records.iter().enumerate() {
        let j = if i < 3 { i } else { i - 3 };
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.key.as_deref(), Some(format!("key-{j}").as_bytes()));
        assert_eq!(r.value.as_deref(), Some(format!("value-{j}").as_bytes()));
        assert_eq!(r.headers[0].value.as_deref(), Some(format!("hv{j}").as_bytes()));
        assert_eq!(r.timestamp_ms, 1_000 + j as i64);
        assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (p, e, i as i32));
    }

    let fetch = FetchRequest {
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: "t".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 3,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let f: FetchResponse = conn.call(12, &fetch).await;
    let fp = &f.responses[0].partitions[0];
    assert_eq!((fp.error_code, fp.high_watermark), (ErrorCode::None, 5));
    let got: Vec<_> = kprod::record::iter_batches(fp.records.clone().unwrap()).map(|b| b.unwrap()).collect();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].base_offset(), got[0].record_count()), (3, 2));

    let lo = |ts| ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![ListOffsetsTopic {
            name: "t".into(),
            partitions: vec![ListOffsetsPartition { partition_index: 0, current_leader_epoch: -1, timestamp: ts }],
        }],
    };
    let offsets = async |conn: &mut Conn, ts| {
        let r: ListOffsetsResponse = conn.call(7, &lo(ts)).await;
        (r.topics[0].partitions[0].offset, r.topics[0].partitions[0].timestamp)
    };
    assert_eq!(offsets(&mut conn, -1).await.0, 5);
    assert_eq!(offsets(&mut conn, -2).await.0, 0);
    assert_eq!(offsets(&mut conn, 1_001).await, (1, 1_001));
    assert_eq!(offsets(&mut conn, 99_999).await.0, -1);
    c.shutdown().await;
}

#[tokio::test]
async fn idempotence_duplicates_and_sequence_errors_over_the_wire() {
    let c = cluster(1, 1).await;
    let mut conn = Conn::open(c.addresses()[0]).await;
    let first = batch(4, 500, 0, 0, Compression::Snappy);
    let r: ProduceResponse = conn.call(9, &produce("t", 0, first.clone(), -1)).await;
    assert_eq!(only(&r).base_offset, 0);
    let r: ProduceResponse = conn.call(9, &produce("t", 0, batch(1, 500, 0, 4, Compression::None), -1)).await;
    assert_eq!(only(&r).base_offset, 4);
    let dup: ProduceResponse = conn.call(9, &produce("t", 0, first, -1)).await;
    assert_eq!((only(&dup).error_code, only(&dup).base_offset), (ErrorCode::None, 0));
    let r: ProduceResponse = conn.call(9, &produce("t", 0, batch(1, 500, 0, 9, Compression::None), -1)).await;
    assert_eq!(only(&r).error_code, ErrorCode::OutOfOrderSequenceNumber);
    assert!(only(&r).error_message.as_deref().unwrap_or("").contains("out of order"));
    assert_eq!(c.state().records("t", 0).unwrap().len(), 5, "duplicate stored once, out-of-order not at all");
    assert_eq!(c.stats().produce_duplicates, 1);
    c.shutdown().await;
}

#[tokio::test]
async fn corrupt_batches_non_leaders_acks_zero_and_the_retain_cap() {
    let c = MockCluster::builder()
        .brokers(2)
        .default_partitions(2)
        .mode(StorageMode::Retain { max_bytes: 600 })
        .start()
        .await
        .unwrap();
    let mut conn = Conn::open(c.addresses()[0]).await;
    let mut bad = BytesMut::from(&batch(2, -1, -1, -1, Compression::None)[..]);
    let n = bad.len();
    bad[n - 2] ^= 1;
    let r: ProduceResponse = conn.call(11, &produce("t", 0, bad.freeze(), 1)).await;
    assert_eq!(only(&r).error_code, ErrorCode::CorruptMessage);
    assert!(only(&r).error_message.as_deref().unwrap().contains("CRC"));
    assert!(c.state().batches("t", 0).unwrap().is_empty());
    // Partition 1 is led by broker 1.
    let r: ProduceResponse = conn.call(11, &produce("t", 1, batch(1, -1, -1, -1, Compression::None), 1)).await;
    assert_eq!(only(&r).error_code, ErrorCode::NotLeaderOrFollower);
    assert_eq!(only(&r).current_leader.map(|l| l.leader_id), Some(1));
    assert_eq!(r.node_endpoints[0].port as u16, c.addresses()[1].port());
    let r: ProduceResponse = conn.call(9, &produce("t", 1, batch(1, -1, -1, -1, Compression::None), 1)).await;
    assert_eq!((only(&r).error_code, only(&r).current_leader), (ErrorCode::NotLeaderOrFollower, None));
    // acks=0: no response; the next answer is the metadata one.
    conn.send(11, &produce("t", 0, batch(1, -1, -1, -1, Compression::None), 0)).await;
    let _: MetadataResponse = conn.call(12, &MetadataRequest::default()).await;
    assert_eq!(c.state().next_offset("t", 0), Some(1));
    // The cap: a big batch does not fit.
    let r: ProduceResponse = conn.call(11, &produce("t", 0, batch(30, -1, -1, -1, Compression::None), 1)).await;
    assert_eq!(only(&r).error_code, ErrorCode::PolicyViolation);
    assert_eq!(c.state().next_offset("t", 0), Some(1));
    c.shutdown().await;
}

#[tokio::test]
async fn injected_errors_drops_leader_moves_throttle_and_latency() {
    let c = cluster(2, 2).await;
    c.create_topic("t", 2).unwrap();
    let f = c.faults();
    let mut conn = Conn::open(c.addresses()[0]).await;
    let one = || batch(1, -1, -1, -1, Compression::None);
    f.fail_produce(ErrorTarget::Broker { broker: 0 }, ErrorCode::NotEnoughReplicas, 2).unwrap();
    for _ in 0..2 {
        let r: ProduceResponse = conn.call(11, &produce("t", 0, one(), 1)).await;
        assert_eq!(only(&r).error_code, ErrorCode::NotEnoughReplicas);
    }
    assert_eq!(c.state().next_offset("t", 0), Some(0), "injected errors store nothing");
    let r: ProduceResponse = conn.call(11, &produce("t", 0, one(), 1)).await;
    assert_eq!(only(&r).error_code, ErrorCode::None);
    f.fail_produce(ErrorTarget::Partition { topic: "t".into(), partition: 0 }, ErrorCode::RequestTimedOut, 1).unwrap();
    let r: ProduceResponse = conn.call(11, &produce("t", 0, one(), 1)).await;
    assert_eq!(only(&r).error_code, ErrorCode::RequestTimedOut);

    // Drop before the append: nothing stored; after: stored but no answer.
    f.drop_connections(0, DropPoint::BeforeAppend, 1).unwrap();
    conn.send(11, &produce("t", 0, one(), 1)).await;
    assert!(conn.frame().await.is_none());
    assert_eq!(c.state().next_offset("t", 0), Some(1));
    let mut conn = Conn::open(c.addresses()[0]).await;
    f.drop_connections(0, DropPoint::AfterAppend, 1).unwrap();
    conn.send(11, &produce("t", 0, one(), 1)).await;
    assert!(conn.frame().await.is_none());
    assert_eq!(c.state().next_offset("t", 0), Some(2));

    // Leader move: broker 0 now refuses, Metadata names broker 1 with a bumped epoch.
    let mut conn = Conn::open(c.addresses()[0]).await;
    f.move_leader("t", 0, 1).unwrap();
    let r: ProduceResponse = conn.call(11, &produce("t", 0, one(), 1)).await;
    assert_eq!(only(&r).current_leader.map(|l| (l.leader_id, l.leader_epoch)), Some((1, 1)));
    let mut conn1 = Conn::open(c.addresses()[1]).await;
    let r: ProduceResponse = conn1.call(11, &produce("t", 0, one(), 1)).await;
    assert_eq!((only(&r).error_code, only(&r).base_offset), (ErrorCode::None, 2));

    // Throttle and latency.
    f.set_throttle(1, 250).unwrap();
    f.set_latency(1, Some(Latency::Fixed { ms: 150.0 })).unwrap();
    let start = Instant::now();
    let m: MetadataResponse = conn1.call(12, &MetadataRequest::default()).await;
    assert_eq!(m.throttle_time_ms, 250);
    assert!(start.elapsed() >= Duration::from_millis(150), "{:?}", start.elapsed());
    f.clear();
    let start = Instant::now();
    let m: MetadataResponse = conn1.call(12, &MetadataRequest::default()).await;
    assert_eq!(m.throttle_time_ms, 0);
    assert!(start.elapsed() < Duration::from_millis(150));
    c.shutdown().await;
}

#[tokio::test]
async fn bandwidth_cap_slows_ingest() {
    let c = cluster(1, 1).await;
    c.faults().set_bandwidth(0, Some(100_000)).unwrap();
    let mut conn = Conn::open(c.addresses()[0]).await;
    let big = batch(200, -1, -1, -1, Compression::None); // ~5 KB
    let start = Instant::now();
    for _ in 0..4 {
        let r: ProduceResponse = conn.call(11, &produce("t", 0, big.clone(), 1)).await;
        assert!(only(&r).error_code.is_ok());
    }
    let expected = Duration::from_secs_f64(4.0 * big.len() as f64 / 100_000.0);
    assert!(start.elapsed() >= expected.mul_f64(0.9), "{:?} < {expected:?}", start.elapsed());
    c.shutdown().await;
}

#[tokio::test]
async fn broker_goes_down_and_comes_back_on_the_same_port() {
    let mut c = cluster(2, 1).await;
    let addr = c.addresses()[1];
    let mut conn = Conn::open(addr).await;
    let _: MetadataResponse = conn.call(12, &MetadataRequest::default()).await;
    c.stop_broker(1).await.unwrap();
    assert!(!c.is_running(1));
    conn.send(12, &MetadataRequest::default()).await;
    assert!(conn.frame().await.is_none(), "open connections are dropped");
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    c.start_broker(1).await.unwrap();
    let mut conn = Conn::open(addr).await;
    let m: MetadataResponse = conn.call(12, &MetadataRequest::default()).await;
    assert_eq!(m.brokers.len(), 2);
    c.shutdown().await;
}

#[tokio::test]
async fn hostile_frames_close_the_connection_and_the_broker_survives() {
    let c = MockCluster::builder().max_frame_bytes(1 << 20).start().await.unwrap();
    let addr = c.addresses()[0];
    let cases: Vec<Vec<u8>> = vec![
        i32::MAX.to_be_bytes().to_vec(),                // oversized size prefix
        (-5i32).to_be_bytes().to_vec(),                 // negative size
        [&8i32.to_be_bytes()[..], &[0xff; 8]].concat(), // garbage header
        [&10i32.to_be_bytes()[..], &[0, 99, 0, 0, 0, 0, 0, 1, 0xff, 0xff]].concat(), // unknown api key 99
        [&10i32.to_be_bytes()[..], &[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff]].concat(), // Produce v1: unsupported
        [&14i32.to_be_bytes()[..], &[0, 0, 0, 11, 0, 0, 0, 1, 0xff, 0xff, 0x05, 0x01, 0x02, 0x03]].concat(), // bad body
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let mut conn = Conn::open(addr).await;
        conn.raw(bytes).await;
        assert!(conn.frame().await.is_none(), "case {i}: connection should be closed");
    }
    let mut conn = Conn::open(addr).await;
    let v: ApiVersionsResponse = conn.call(3, &ApiVersionsRequest::default()).await;
    assert!(v.error_code.is_ok(), "broker still serves");
    assert_eq!(c.stats().connections_closed_by_broker, cases.len() as u64);
    c.shutdown().await;
}

#[tokio::test]
async fn frames_split_across_reads_and_pipelined_requests_are_answered_in_order() {
    let c = cluster(1, 1).await;
    let mut conn = Conn::open(c.addresses()[0]).await;
    // Three requests encoded back to back, written one byte at a time.
    let mut wire = BytesMut::new();
    for (i, version) in [0i16, 2, 3].into_iter().enumerate() {
        let header =
            RequestHeader { api_key: 18, api_version: version, correlation_id: 100 + i as i32, client_id: None };
        encode_request(&mut wire, &header, &ApiVersionsRequest::default()).unwrap();
    }
    for b in wire.iter() {
        conn.raw(&[*b]).await;
    }
    for (i, version) in [0i16, 2, 3].into_iter().enumerate() {
        let r: ApiVersionsResponse = conn.recv(version, 100 + i as i32).await;
        assert!(r.error_code.is_ok());
    }
    // A size prefix just under the limit with no body: the broker waits, then sees the close.
    let mut idle = Conn::open(c.addresses()[0]).await;
    idle.raw(&(100_000_000i32).to_be_bytes()).await;
    drop(idle);
    let _: ApiVersionsResponse = conn.call(3, &ApiVersionsRequest::default()).await;
    c.shutdown().await;
}

/// A transactional batch of `values` for `pid`/`epoch` from sequence `seq`.
fn txn_batch(values: &[&str], pid: i64, epoch: i16, seq: i32) -> Bytes {
    let mut b = BatchBuilder::new(BytesMut::new(), Compression::Lz4 { level: 9 }, 1_000);
    for v in values {
        b.append(1_000, None, Some(v.as_bytes()), &[]);
    }
    let mut closed = b.close().unwrap().bytes;
    set_producer_state(&mut closed, pid, epoch, seq, true);
    closed.freeze()
}

#[tokio::test]
async fn transactions_over_the_wire_read_committed_sees_exactly_the_committed_records() {
    use kprod::broker::FaultPlan;
    use kprod::protocol::add_partitions_to_txn::AddPartitionsToTxnTopic;
    use kprod::protocol::find_coordinator::KEY_TYPE_TRANSACTION;
    use kprod::protocol::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse};
    use kprod::protocol::{
        FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    };

    let mut c = cluster(2, 3).await;
    c.create_topic("tt", 3).unwrap();
    let addrs = c.addresses();
    let tid = "it-txn";
    let mut any = Conn::open(addrs[0]).await;
    let f: FindCoordinatorResponse = any
        .call(
            4,
            &FindCoordinatorRequest {
                key_type: KEY_TYPE_TRANSACTION,
                coordinator_keys: vec![tid.into()],
                ..Default::default()
            },
        )
        .await;
    let coordinator = f.coordinators[0].node_id;
    assert_eq!(f.coordinators[0].port, addrs[coordinator as usize].port() as i32);
    let mut co = Conn::open(addrs[coordinator as usize]).await;
    let mut leaders = [Conn::open(addrs[0]).await, Conn::open(addrs[1]).await];
    let init: InitProducerIdResponse = co
        .call(
            4,
            &InitProducerIdRequest {
                transactional_id: Some(tid.into()),
                transaction_timeout_ms: 60_000,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(init.error_code, ErrorCode::None);
    let (pid, mut epoch) = (init.producer_id, init.producer_epoch);
    let mut seqs = [0i32; 3];
    let mut committed = Vec::new();
    let mut aborted = Vec::new();
    // Three transactions: v1 commit, v1 abort, v2 commit (Produce v12 adds, EndTxn v5 bumps).
    for (round, (commit, v2)) in [(true, false), (false, false), (true, true)].into_iter().enumerate() {
        let partitions = [0, 1, 2];
        if !v2 {
            let add = AddPartitionsToTxnRequest {
                transactional_id: tid.into(),
                producer_id: pid,
                producer_epoch: epoch,
                topics: vec![AddPartitionsToTxnTopic { name: "tt".into(), partitions: partitions.to_vec() }],
                ..Default::default()
            };
            let r: AddPartitionsToTxnResponse = co.call(3, &add).await;
            assert!(r.partition_errors().all(|(_, _, e)| e == ErrorCode::None), "{r:?}");
        }
        for p in partitions {
            let values: Vec<String> = (0..3).map(|i| format!("r{round}-p{p}-{i}")).collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let mut req = produce("tt", p, txn_batch(&refs, pid, epoch, seqs[p as usize]), -1);
            req.transactional_id = Some(tid.into());
            let r: ProduceResponse = leaders[(p % 2) as usize].call(if v2 { 12 } else { 11 }, &req).await;
            assert_eq!(only(&r).error_code, ErrorCode::None, "round {round} p{p}");
            seqs[p as usize] += 3;
            if commit { committed.extend(values) } else { aborted.extend(values) }
        }
        // The first EndTxn meets an injected NOT_COORDINATOR (from a plan, as a workload carries it); the retry lands.
        let plan: FaultPlan =
            serde_yaml_ng::from_str("txn_errors: [{api: end_txn, error: NOT_COORDINATOR, count: 1}]").unwrap();
        c.apply_faults(&plan).await.unwrap();
        let end =
            EndTxnRequest { transactional_id: tid.into(), producer_id: pid, producer_epoch: epoch, committed: commit };
        let version = if v2 { 5 } else { 3 };
        let r: EndTxnResponse = co.call(version, &end).await;
        assert_eq!(r.error_code, ErrorCode::NotCoordinator);
        let r: EndTxnResponse = co.call(version, &end).await;
        assert_eq!(r.error_code, ErrorCode::None);
        if v2 {
            assert_eq!((r.producer_id, r.producer_epoch), (pid, epoch + 1));
            // A new epoch restarts the sequences.
            epoch = r.producer_epoch;
            seqs = [0; 3];
        }
    }
    let read = kprod::verify::read_topic_committed(&c.bootstrap(), "tt").await.unwrap();
    let mut seen: Vec<String> =
        read.values().flatten().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect();
    seen.sort();
    committed.sort();
    assert_eq!(seen, committed, "read_committed: every committed record, no aborted one");
    assert!(read.values().flatten().all(|r| r.transactional && r.producer_id == pid));
    let all = kprod::verify::read_topic(&c.bootstrap(), "tt").await.unwrap();
    assert_eq!(all.values().map(Vec::len).sum::<usize>(), committed.len() + aborted.len(), "read_uncommitted sees all");
    // Moving the coordinator: the old one answers NOT_COORDINATOR, FindCoordinator follows.
    let plan: FaultPlan = serde_yaml_ng::from_str(&format!(
        "coordinator_moves: [{{kind: transaction, key: {tid}, to_broker: {}}}]",
        1 - coordinator
    ))
    .unwrap();
    c.apply_faults(&plan).await.unwrap();
    let r: InitProducerIdResponse = co
        .call(
            4,
            &InitProducerIdRequest {
                transactional_id: Some(tid.into()),
                transaction_timeout_ms: 60_000,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(r.error_code, ErrorCode::NotCoordinator);
    let f: FindCoordinatorResponse = any
        .call(3, &FindCoordinatorRequest { key: tid.into(), key_type: KEY_TYPE_TRANSACTION, ..Default::default() })
        .await;
    assert_eq!(f.node_id, 1 - coordinator);
    c.shutdown().await;
}
