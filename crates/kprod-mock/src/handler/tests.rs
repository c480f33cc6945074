use super::*;
use crate::log::{StorageMode, Validation};
use crate::protocol::produce::{PartitionProduceData, TopicProduceData};
use crate::protocol::{ProduceRequest, ProduceResponse, RequestHeader, decode_response, encode_request, split_frame};
use crate::record::{BatchBuilder, Compression};
use crate::sasl::Session;
use crate::state::ClusterConfig;
use proptest::prelude::*;

fn state() -> ClusterState {
    let config = ClusterConfig {
        default_partitions: 2,
        mode: StorageMode::Retain { max_bytes: 1 << 20 },
        validation: Validation::Full,
        ..Default::default()
    };
    ClusterState::new(config, vec!["127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap()])
}

/// A Produce v`version` frame (without size prefix) for partition 0 of "t".
fn produce_frame(version: i16, acks: i16) -> Bytes {
    let mut b = BatchBuilder::new(BytesMut::new(), Compression::Gzip { level: -1 }, 5);
    b.append(5, Some(b"k"), Some(b"v"), &[]);
    let records = b.close().unwrap().bytes.freeze();
    let req = ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData { index: 0, records: Some(records) }],
        }],
    };
    let header = RequestHeader { api_key: 0, api_version: version, correlation_id: 9, client_id: None };
    let mut out = BytesMut::new();
    encode_request(&mut out, &header, &req).unwrap();
    out.freeze().slice(4..)
}

#[test]
fn every_produce_version_round_trips_through_the_handler() {
    let s = state();
    for version in 3..=11 {
        let mut out = BytesMut::new();
        let h = handle_frame(&s, 0, &mut Session::default(), produce_frame(version, -1), &mut out);
        assert_eq!(h.outcome, Outcome::Respond, "v{version}");
        let frame = split_frame(&mut out, usize::MAX).unwrap().unwrap();
        let (header, r) = decode_response::<ProduceResponse>(frame, version).unwrap();
        assert_eq!(header.correlation_id, 9);
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (crate::protocol::ErrorCode::None, (version - 3) as i64));
    }
    assert_eq!(s.next_offset("t", 0), Some(9));
}

#[test]
fn acks_zero_is_silent_but_appends() {
    let s = state();
    let mut out = BytesMut::new();
    assert_eq!(handle_frame(&s, 0, &mut Session::default(), produce_frame(11, 0), &mut out).outcome, Outcome::Silent);
    assert!(out.is_empty());
    assert_eq!(s.next_offset("t", 0), Some(1));
}

proptest! {
    #[test]
    fn random_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = state();
        let mut out = BytesMut::new();
        let h = handle_frame(&s, 0, &mut Session::default(), Bytes::from(data), &mut out);
        if h.outcome != Outcome::Respond {
            prop_assert!(out.is_empty());
        }
    }

    #[test]
    fn mutated_produce_frames_never_panic_and_never_store_corrupt_data(
        version in 3i16..=11, at in any::<prop::sample::Index>(), xor in 1u8..=255
    ) {
        let s = state();
        let mut frame = BytesMut::from(&produce_frame(version, 1)[..]);
        let i = at.index(frame.len());
        frame[i] ^= xor;
        let mut out = BytesMut::new();
        let _ = handle_frame(&s, 0, &mut Session::default(), frame.freeze(), &mut out);
        // Whatever was stored must read back cleanly.
        if s.topic("t").is_some() {
            for b in s.batches("t", 0).unwrap_or_default() {
                prop_assert!(b.parse().unwrap().validate_full().is_ok());
            }
        }
    }
}

/// Sends `req` at every version the codec has and decodes the answer at the same version.
fn round_trip_all<Q, R>(s: &ClusterState, req: &Q) -> Vec<R>
where
    Q: crate::protocol::Encode + ApiMessage,
    R: crate::protocol::Decode + ApiMessage,
{
    (Q::MIN_VERSION..=Q::MAX_VERSION)
        .map(|version| {
            let header = RequestHeader {
                api_key: Q::API_KEY,
                api_version: version,
                correlation_id: version as i32,
                client_id: None,
            };
            let mut frame = BytesMut::new();
            encode_request(&mut frame, &header, req).unwrap();
            let mut out = BytesMut::new();
            let h = handle_frame(s, 0, &mut Session::default(), frame.freeze().slice(4..), &mut out);
            assert_eq!(h.outcome, Outcome::Respond, "api {} v{version}", Q::API_KEY);
            let frame = split_frame(&mut out, usize::MAX).unwrap().unwrap();
            let (rh, r) = decode_response::<R>(frame, version).unwrap();
            assert_eq!(rh.correlation_id, version as i32);
            r
        })
        .collect()
}

#[test]
fn every_advertised_version_of_every_api_answers_decodably() {
    use crate::protocol::fetch::{FetchPartition, FetchTopic};
    use crate::protocol::list_offsets::{ListOffsetsPartition, ListOffsetsTopic};
    use crate::protocol::metadata::MetadataRequestTopic;
    use crate::protocol::*;
    let s = state();
    let mut out = BytesMut::new();
    handle_frame(&s, 0, &mut Session::default(), produce_frame(11, 1), &mut out);
    let req = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { name: Some("t".into()), ..Default::default() }]),
        ..Default::default()
    };
    for m in round_trip_all::<_, MetadataResponse>(&s, &req) {
        assert_eq!(m.topics[0].partitions.len(), 2);
        assert_eq!(m.brokers.len(), 2);
    }
    for v in round_trip_all::<_, ApiVersionsResponse>(&s, &ApiVersionsRequest::default()) {
        assert_eq!(v.api_keys.len(), ApiKey::ALL.len());
    }
    for r in round_trip_all::<_, InitProducerIdResponse>(&s, &InitProducerIdRequest::default()) {
        assert!(r.producer_id >= crate::state::FIRST_PRODUCER_ID);
    }
    let fc = FindCoordinatorRequest { key: "g".into(), key_type: 0, coordinator_keys: vec!["g".into()] };
    for r in round_trip_all::<_, FindCoordinatorResponse>(&s, &fc) {
        assert!(r.node_id >= 0 || r.coordinators.iter().all(|c| c.node_id >= 0 && c.port > 0));
    }
    let lo = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![ListOffsetsTopic {
            name: "t".into(),
            partitions: vec![ListOffsetsPartition { partition_index: 0, current_leader_epoch: -1, timestamp: -1 }],
        }],
    };
    for r in round_trip_all::<_, ListOffsetsResponse>(&s, &lo) {
        assert_eq!(r.topics[0].partitions[0].offset, 1);
    }
    let fetch = FetchRequest {
        topics: vec![FetchTopic {
            topic: "t".into(),
            partitions: vec![FetchPartition { partition: 0, partition_max_bytes: 1 << 20, ..Default::default() }],
        }],
        ..Default::default()
    };
    for r in round_trip_all::<_, FetchResponse>(&s, &fetch) {
        let p = &r.responses[0].partitions[0];
        assert_eq!((p.error_code, p.high_watermark), (ErrorCode::None, 1));
        assert!(!p.records.as_ref().unwrap().is_empty());
    }
}

#[test]
fn transactional_init_producer_id_bumps_the_epoch_and_fences_stale_callers() {
    use crate::protocol::{InitProducerIdRequest, InitProducerIdResponse};
    let s = state();
    let call = |version: i16, req: &InitProducerIdRequest| -> InitProducerIdResponse {
        let header = RequestHeader { api_key: 22, api_version: version, correlation_id: 1, client_id: None };
        let mut frame = BytesMut::new();
        encode_request(&mut frame, &header, req).unwrap();
        let mut out = BytesMut::new();
        handle_frame(&s, 0, &mut Session::default(), frame.freeze().slice(4..), &mut out);
        decode_response::<InitProducerIdResponse>(split_frame(&mut out, usize::MAX).unwrap().unwrap(), version)
            .unwrap()
            .1
    };
    let tx = |pid, epoch| InitProducerIdRequest {
        transactional_id: Some("tx".into()),
        transaction_timeout_ms: 1000,
        producer_id: pid,
        producer_epoch: epoch,
    };
    let a = call(4, &tx(-1, -1));
    let b = call(4, &tx(a.producer_id, a.producer_epoch));
    assert_eq!((b.producer_id, b.producer_epoch), (a.producer_id, a.producer_epoch + 1));
    // KIP-360: the pair before that bump is a retry of it, answered with the current pair.
    let retry = call(4, &tx(a.producer_id, a.producer_epoch));
    assert_eq!((retry.error_code, retry.producer_epoch), (crate::protocol::ErrorCode::None, b.producer_epoch));
    // A new instance (no pair) bumps again and fences every older epoch.
    let c = call(4, &tx(-1, -1));
    assert_eq!(c.producer_epoch, b.producer_epoch + 1);
    let stale = call(4, &tx(a.producer_id, a.producer_epoch));
    assert_eq!(stale.error_code, crate::protocol::ErrorCode::ProducerFenced);
    assert_eq!(
        call(3, &tx(b.producer_id, b.producer_epoch)).error_code,
        crate::protocol::ErrorCode::InvalidProducerEpoch
    );
    // Idempotent (no transactional id): a fresh id every time, as Kafka.
    let i1 = call(4, &InitProducerIdRequest::default());
    let i2 = call(4, &InitProducerIdRequest { producer_id: i1.producer_id, producer_epoch: 0, ..Default::default() });
    assert_ne!(i1.producer_id, i2.producer_id);
    assert_eq!(i2.producer_epoch, 0);
}
