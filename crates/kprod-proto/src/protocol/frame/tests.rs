//! Framing tests: request/response round trips for every API, error paths, hostile sizes.

use super::*;
use crate::protocol::api_versions::{ApiVersion, ApiVersionsResponse};
use crate::protocol::error::ErrorCode;
use crate::protocol::metadata::MetadataRequestTopic;
use crate::protocol::produce::{
    PartitionProduceData, PartitionProduceResponse, ProduceResponse, TopicProduceData, TopicProduceResponse,
};
use proptest::prelude::*;

fn sample_body(api: ApiKey) -> RequestBody {
    match api {
        ApiKey::Produce => RequestBody::Produce(ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data: vec![PartitionProduceData { index: 0, records: Some(Bytes::from_static(b"batch")) }],
            }],
        }),
        ApiKey::Fetch => RequestBody::Fetch(FetchRequest { max_wait_ms: 100, ..Default::default() }),
        ApiKey::ListOffsets => RequestBody::ListOffsets(ListOffsetsRequest { replica_id: -1, ..Default::default() }),
        ApiKey::Metadata => RequestBody::Metadata(MetadataRequest {
            topics: Some(vec![MetadataRequestTopic { topic_id: [0; 16], name: Some("t".into()) }]),
            ..Default::default()
        }),
        ApiKey::FindCoordinator => RequestBody::FindCoordinator(FindCoordinatorRequest::default()),
        ApiKey::ApiVersions => RequestBody::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::InitProducerId => RequestBody::InitProducerId(InitProducerIdRequest::default()),
        ApiKey::SaslHandshake => RequestBody::SaslHandshake(SaslHandshakeRequest { mechanism: "PLAIN".into() }),
        ApiKey::SaslAuthenticate => {
            RequestBody::SaslAuthenticate(SaslAuthenticateRequest { auth_bytes: Bytes::from_static(b"\0u\0p") })
        }
        // Fields every version carries, so the body round-trips at each.
        ApiKey::AddPartitionsToTxn => RequestBody::AddPartitionsToTxn(AddPartitionsToTxnRequest::default()),
        ApiKey::AddOffsetsToTxn => RequestBody::AddOffsetsToTxn(AddOffsetsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 3,
            producer_epoch: 1,
            group_id: "g".into(),
        }),
        ApiKey::EndTxn => RequestBody::EndTxn(EndTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 3,
            producer_epoch: 1,
            committed: true,
        }),
        ApiKey::TxnOffsetCommit => RequestBody::TxnOffsetCommit(TxnOffsetCommitRequest {
            transactional_id: "tx".into(),
            group_id: "g".into(),
            ..Default::default()
        }),
    }
}

#[test]
fn every_api_round_trips_through_a_frame_at_every_version() {
    for api in ApiKey::ALL {
        let r = api.supported();
        for version in r.min..=r.max {
            let frame = RequestFrame {
                header: RequestHeader {
                    api_key: api.key(),
                    api_version: version,
                    correlation_id: 42,
                    client_id: Some("c".into()),
                },
                body: sample_body(api),
            };
            let mut out = BytesMut::new();
            frame.encode(&mut out);
            let body = split_frame(&mut out, DEFAULT_MAX_FRAME_BYTES).unwrap().expect("whole frame");
            assert!(out.is_empty());
            let got = RequestFrame::decode(body).unwrap_or_else(|e| panic!("{api} v{version}: {e}"));
            assert_eq!(got, frame, "{api} v{version}");
        }
    }
}

#[test]
fn encode_request_matches_frame_encode_and_checks_versions() {
    let header = RequestHeader { api_key: 0, api_version: 9, correlation_id: 1, client_id: None };
    let RequestBody::Produce(body) = sample_body(ApiKey::Produce) else { unreachable!() };
    let mut a = BytesMut::new();
    encode_request(&mut a, &header, &body).unwrap();
    let mut b = BytesMut::new();
    RequestFrame { header: header.clone(), body: RequestBody::Produce(body.clone()) }.encode(&mut b);
    assert_eq!(a, b);
    assert_eq!(i32::from_be_bytes(a[..4].try_into().unwrap()) as usize, a.len() - 4);

    let old = RequestHeader { api_version: 2, ..header.clone() };
    assert!(matches!(encode_request(&mut a, &old, &body), Err(FrameError::VersionOutOfRange { version: 2, .. })));
    let wrong = RequestHeader { api_key: 3, ..header };
    assert!(matches!(encode_request(&mut a, &wrong, &body), Err(FrameError::ApiKeyMismatch { .. })));
}

fn raw_request(api_key: i16, api_version: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let h = RequestHeader { api_key, api_version, correlation_id, client_id: None };
    h.encode(&mut out, request_header_version(api_key, api_version));
    out.extend_from_slice(body);
    out.freeze()
}

#[test]
fn unknown_api_key_keeps_the_correlation_id() {
    let e = RequestFrame::decode(raw_request(60, 1, 99, b"whatever")).unwrap_err();
    assert!(matches!(e, FrameError::UnknownApiKey { .. }), "{e}");
    assert_eq!(e.header().map(|h| h.correlation_id), Some(99));
}

#[test]
fn unsupported_version_keeps_the_correlation_id() {
    // ApiVersions v4 from a newer client: header v2 (flexible), body not parsed.
    let e = RequestFrame::decode(raw_request(18, 4, 7, &[0x06, b'x'])).unwrap_err();
    match &e {
        FrameError::UnsupportedVersion { header, api, supported } => {
            assert_eq!(header.correlation_id, 7);
            assert_eq!(*api, ApiKey::ApiVersions);
            assert_eq!(supported.max, 3);
        }
        other => panic!("unexpected {other}"),
    }
    let e = RequestFrame::decode(raw_request(0, 2, 8, &[])).unwrap_err();
    assert_eq!(e.header().map(|h| h.correlation_id), Some(8));
}

#[test]
fn malformed_and_trailing_bodies_are_errors_with_the_header() {
    let e = RequestFrame::decode(raw_request(22, 0, 5, &[0, 1])).unwrap_err();
    assert!(matches!(e, FrameError::Body { api: ApiKey::InitProducerId, .. }), "{e}");
    assert_eq!(e.header().map(|h| h.correlation_id), Some(5));
    let e = RequestFrame::decode(raw_request(18, 0, 6, &[1, 2, 3])).unwrap_err();
    assert!(matches!(e, FrameError::TrailingBytes { trailing: 3, .. }), "{e}");
    let e = RequestFrame::decode(Bytes::from_static(&[0, 3, 0])).unwrap_err();
    assert!(matches!(e, FrameError::Header(_)) && e.header().is_none(), "{e}");
}

#[test]
fn hostile_size_prefixes_are_refused_before_allocating() {
    let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff, 0][..]);
    assert!(matches!(split_frame(&mut buf, DEFAULT_MAX_FRAME_BYTES), Err(FrameError::TooLarge { .. })));
    assert!(buf.capacity() < 1024, "no reservation for a refused frame");
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
    assert_eq!(split_frame(&mut buf, DEFAULT_MAX_FRAME_BYTES), Err(FrameError::NegativeSize(-2)));
    let mut buf = BytesMut::from(&[0, 0, 0, 17][..]);
    assert!(matches!(split_frame(&mut buf, 16), Err(FrameError::TooLarge { size: 17, max_frame_bytes: 16 })));
}

#[test]
fn split_frame_waits_for_whole_frames_and_splits_back_to_back_ones() {
    let mut buf = BytesMut::new();
    assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
    buf.extend_from_slice(&[0, 0, 0]);
    assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
    buf.extend_from_slice(&[2, b'a']);
    assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
    buf.extend_from_slice(&[b'b', 0, 0, 0, 0, 0, 0, 0, 1, b'c']);
    assert_eq!(split_frame(&mut buf, 100).unwrap().as_deref(), Some(&b"ab"[..]));
    assert_eq!(split_frame(&mut buf, 100).unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(split_frame(&mut buf, 100).unwrap().as_deref(), Some(&b"c"[..]));
    assert!(buf.is_empty());
}

#[test]
fn api_versions_response_v3_uses_header_v0() {
    let body = ApiVersionsResponse {
        error_code: ErrorCode::None,
        api_keys: vec![ApiVersion { api_key: 0, min_version: 3, max_version: 11 }],
        throttle_time_ms: 0,
        ..Default::default()
    };
    let mut out = BytesMut::new();
    encode_response(&mut out, 0x01020304, 3, &body).unwrap();
    // size, correlation id with no tagged-field byte, then the body.
    assert_eq!(&out[4..8], &[1, 2, 3, 4]);
    assert_eq!(&out[8..10], &[0, 0], "error code follows the correlation id directly");
    let frame = split_frame(&mut out, DEFAULT_MAX_FRAME_BYTES).unwrap().unwrap();
    let (h, got) = decode_response::<ApiVersionsResponse>(frame, 3).unwrap();
    assert_eq!(h.correlation_id, 0x01020304);
    assert_eq!(got, body);
}

#[test]
fn produce_response_v9_uses_header_v1() {
    let body = ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: "t".into(),
            partition_responses: vec![PartitionProduceResponse { index: 0, base_offset: 10, ..Default::default() }],
        }],
        ..Default::default()
    };
    let mut out = BytesMut::new();
    encode_response(&mut out, 5, 9, &body).unwrap();
    assert_eq!(&out[4..9], &[0, 0, 0, 5, 0], "correlation id then empty header tags");
    let frame = split_frame(&mut out, DEFAULT_MAX_FRAME_BYTES).unwrap().unwrap();
    assert_eq!(response_correlation_id(&frame), Ok(5));
    assert!(response_correlation_id(&frame[..3]).is_err());
    let (h, got) = decode_response::<ProduceResponse>(frame.clone(), 9).unwrap();
    assert_eq!((h.correlation_id, got), (5, body));
    // Read at the wrong version the bytes do not line up: an error, not garbage.
    assert!(decode_response::<ProduceResponse>(frame, 8).is_err());
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = RequestFrame::decode(Bytes::from(data.clone()));
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = split_frame(&mut buf, 1 << 16) {}
        for v in 0..12 {
            let _ = decode_response::<ProduceResponse>(Bytes::from(data.clone()), v);
        }
    }

    #[test]
    fn valid_header_with_arbitrary_body_never_panics(api in 0usize..7, version in 0i16..14, corr in any::<i32>(),
                                                     body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let api = ApiKey::ALL[api];
        match RequestFrame::decode(raw_request(api.key(), version, corr, &body)) {
            Ok(f) => prop_assert_eq!(f.header.correlation_id, corr),
            Err(e) => prop_assert_eq!(e.header().map(|h| h.correlation_id), Some(corr)),
        }
    }
}

// ------------------------------------------------------------ chunked request frames (issue 19)

/// A real record batch of `records` values of `value_len` bytes.
fn record_batch(compression: crate::record::Compression, records: usize, value_len: usize) -> Bytes {
    let mut b = crate::record::BatchBuilder::new(BytesMut::new(), compression, 1_000);
    for i in 0..records {
        let value: Vec<u8> = (0..value_len).map(|j| ((i * 7 + j) % 251) as u8).collect();
        b.append(1_000 + i as i64, (i % 3 == 0).then_some(&b"key"[..]), Some(&value), &[]);
    }
    b.close().expect("close").bytes.freeze()
}

fn produce_request(transactional: bool, topics: Vec<(&str, Vec<Option<Bytes>>)>) -> ProduceRequest {
    ProduceRequest {
        transactional_id: transactional.then(|| "txn-1".to_string()),
        acks: -1,
        timeout_ms: 30_000,
        topic_data: topics
            .into_iter()
            .map(|(name, batches)| TopicProduceData {
                name: name.to_string(),
                partition_data: batches
                    .into_iter()
                    .enumerate()
                    .map(|(i, records)| PartitionProduceData { index: i as i32 * 3, records })
                    .collect(),
            })
            .collect(),
    }
}

/// The chunked frame is byte for byte the contiguous one, references every batch of at least
/// `COPY_BELOW_BYTES` (same memory, no copy), and decodes back to the request.
fn assert_same_frame(version: i16, client_id: Option<&str>, req: &ProduceRequest) {
    use crate::protocol::chunks::COPY_BELOW_BYTES;
    let contiguous = request_frame(version, 77, client_id, req, 0).unwrap();
    let chunked = request_frame_chunked(version, 77, client_id, req, 0).unwrap();
    assert_eq!(chunked.len(), contiguous.len(), "v{version}");
    assert!(chunked.to_bytes() == contiguous, "v{version}: the chunked frame's bytes differ");
    let large: Vec<&Bytes> = req
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .filter_map(|p| p.records.as_ref())
        .filter(|r| r.len() >= COPY_BELOW_BYTES)
        .collect();
    let referenced = chunked.chunks().filter(|c| large.iter().any(|b| b.as_ptr() == c.as_ptr())).count();
    assert_eq!(referenced, large.len(), "v{version}: every large batch is a chunk of its own");
    assert!(chunked.chunk_count() <= 2 * large.len() + 1, "v{version}: {} chunks", chunked.chunk_count());
    let decoded = RequestFrame::decode(contiguous.slice(4..)).unwrap();
    assert_eq!(decoded.body, RequestBody::Produce(req.clone()));
}

#[test]
fn chunked_produce_frames_are_byte_identical_at_every_version() {
    use crate::record::Compression;
    let lz4 = Compression::Lz4 { level: crate::record::LZ4_LEVEL_DEFAULT };
    let zstd = Compression::Zstd { level: crate::record::ZSTD_LEVEL_DEFAULT };
    let gzip = Compression::Gzip { level: crate::record::GZIP_LEVEL_DEFAULT };
    let batches = vec![
        Some(record_batch(Compression::None, 150, 100)),
        Some(record_batch(lz4, 300, 100)),
        Some(record_batch(Compression::None, 1, 5)),
        None,
        Some(Bytes::new()),
        Some(record_batch(zstd, 500, 100)),
        Some(record_batch(Compression::Snappy, 40, 100)),
        Some(record_batch(gzip, 2, 10)),
    ];
    let below_copy = |b: &&Bytes| b.len() < crate::protocol::chunks::COPY_BELOW_BYTES;
    assert!(batches.iter().flatten().any(|b| below_copy(&b)) && batches.iter().flatten().any(|b| b.len() > 4096));
    let exact = Some(Bytes::from(vec![0xab; crate::protocol::chunks::COPY_BELOW_BYTES]));
    let below = Some(Bytes::from(vec![0xcd; crate::protocol::chunks::COPY_BELOW_BYTES - 1]));
    for version in ProduceRequest::MIN_VERSION..=ProduceRequest::MAX_VERSION {
        for transactional in [false, true] {
            for client_id in [None, Some("kprod-chunks")] {
                let req = produce_request(
                    transactional,
                    vec![("topic-a", batches.clone()), ("b", vec![exact.clone(), below.clone()]), ("empty", vec![])],
                );
                assert_same_frame(version, client_id, &req);
                assert_same_frame(version, client_id, &produce_request(transactional, vec![]));
            }
        }
    }
}

#[test]
fn other_requests_are_one_chunk_with_the_same_bytes() {
    let req = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { topic_id: [0; 16], name: Some("t".into()) }]),
        ..Default::default()
    };
    for version in [1, 9, 12] {
        let contiguous = request_frame(version, 5, Some("c"), &req, 0).unwrap();
        let chunked = request_frame_chunked(version, 5, Some("c"), &req, 0).unwrap();
        assert_eq!(chunked.chunk_count(), 1);
        assert!(chunked.to_bytes() == contiguous);
    }
    assert!(matches!(
        request_frame_chunked(2, 5, None, &produce_request(false, vec![]), 0),
        Err(FrameError::VersionOutOfRange { version: 2, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn chunked_produce_frames_match_for_any_batch_sizes(
        version in 3i16..=12,
        sizes in proptest::collection::vec(proptest::option::of(0usize..6000), 0..12),
        split in 0usize..12,
    ) {
        let batches: Vec<Option<Bytes>> =
            sizes.iter().enumerate().map(|(i, s)| s.map(|n| Bytes::from(vec![i as u8; n]))).collect();
        let cut = split.min(batches.len());
        let req = produce_request(version % 2 == 0, vec![("x", batches[..cut].to_vec()), ("y", batches[cut..].to_vec())]);
        assert_same_frame(version, Some("p"), &req);
    }
}
