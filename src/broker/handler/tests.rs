use super::*;
use crate::broker::log::{StorageMode, Validation};
use crate::broker::state::ClusterConfig;
use crate::protocol::produce::{PartitionProduceData, TopicProduceData};
use crate::protocol::{ProduceRequest, ProduceResponse, RequestHeader, decode_response, encode_request, split_frame};
use crate::record::{BatchBuilder, Compression};
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
        let h = handle_frame(&s, 0, produce_frame(version, -1), &mut out);
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
    assert_eq!(handle_frame(&s, 0, produce_frame(11, 0), &mut out).outcome, Outcome::Silent);
    assert!(out.is_empty());
    assert_eq!(s.next_offset("t", 0), Some(1));
}

proptest! {
    #[test]
    fn random_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = state();
        let mut out = BytesMut::new();
        let h = handle_frame(&s, 0, Bytes::from(data), &mut out);
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
        let _ = handle_frame(&s, 0, frame.freeze(), &mut out);
        // Whatever was stored must read back cleanly.
        if s.topic("t").is_some() {
            for b in s.batches("t", 0).unwrap_or_default() {
                prop_assert!(b.parse().unwrap().validate_full().is_ok());
            }
        }
    }
}
