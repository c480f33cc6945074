//! Round-trip properties and byte fixtures for Produce.

use super::*;
use crate::protocol::testutil::*;
use proptest::prelude::*;

fn arb_request() -> impl Strategy<Value = ProduceRequest> {
    let partition = (any::<i32>(), proptest::option::of(bytes(64)))
        .prop_map(|(index, records)| PartitionProduceData { index, records });
    let topic =
        (string(), vec(partition, 4)).prop_map(|(name, partition_data)| TopicProduceData { name, partition_data });
    (opt_string(), any::<i16>(), any::<i32>(), vec(topic, 4)).prop_map(
        |(transactional_id, acks, timeout_ms, topic_data)| ProduceRequest {
            transactional_id,
            acks,
            timeout_ms,
            topic_data,
        },
    )
}

fn norm_request(m: ProduceRequest, _v: i16) -> ProduceRequest {
    // Every field exists at every supported version (3-12).
    m
}

fn arb_partition_response() -> impl Strategy<Value = PartitionProduceResponse> {
    let record_error = (any::<i32>(), opt_string()).prop_map(|(batch_index, batch_index_error_message)| {
        BatchIndexAndErrorMessage { batch_index, batch_index_error_message }
    });
    let leader =
        (any::<i32>(), any::<i32>()).prop_map(|(leader_id, leader_epoch)| LeaderIdAndEpoch { leader_id, leader_epoch });
    (
        (any::<i32>(), error_code(), any::<i64>(), any::<i64>(), any::<i64>()),
        (vec(record_error, 3), opt_string(), proptest::option::of(leader)),
    )
        .prop_map(
            |(
                (index, error_code, base_offset, log_append_time_ms, log_start_offset),
                (record_errors, error_message, current_leader),
            )| {
                PartitionProduceResponse {
                    index,
                    error_code,
                    base_offset,
                    log_append_time_ms,
                    log_start_offset,
                    record_errors,
                    error_message,
                    current_leader,
                }
            },
        )
}

fn arb_response() -> impl Strategy<Value = ProduceResponse> {
    let topic = (string(), vec(arb_partition_response(), 4))
        .prop_map(|(name, partition_responses)| TopicProduceResponse { name, partition_responses });
    let endpoint = (any::<i32>(), string(), any::<i32>(), opt_string())
        .prop_map(|(node_id, host, port, rack)| NodeEndpoint { node_id, host, port, rack });
    (vec(topic, 3), any::<i32>(), vec(endpoint, 3)).prop_map(|(responses, throttle_time_ms, node_endpoints)| {
        ProduceResponse { responses, throttle_time_ms, node_endpoints }
    })
}

fn norm_response(mut m: ProduceResponse, v: i16) -> ProduceResponse {
    if v < 10 {
        m.node_endpoints.clear();
    }
    for t in &mut m.responses {
        for p in &mut t.partition_responses {
            if v < 5 {
                p.log_start_offset = -1;
            }
            if v < 8 {
                p.record_errors.clear();
                p.error_message = None;
            }
            if v < 10 {
                p.current_leader = None;
            }
        }
    }
    m
}

message_tests!(request, ProduceRequest, arb_request(), norm_request);
message_tests!(response, ProduceResponse, arb_response(), norm_response);

proptest! {
    #[test]
    fn encoded_len_is_exact(msg in arb_request(), v in 3i16..=12) {
        let mut out = BytesMut::new();
        msg.encode(&mut out, v);
        prop_assert_eq!(out.len(), msg.encoded_len(v));
    }
}

#[test]
fn request_v3_one_partition_fixture() {
    let records = Bytes::from_static(b"RECORDS");
    let r = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "t1".into(),
            partition_data: vec![PartitionProduceData { index: 2, records: Some(records.clone()) }],
        }],
    };
    let mut out = BytesMut::new();
    r.encode(&mut out, 3);
    let expected: &[u8] = &[
        0xff, 0xff, // transactional_id: null (int16 -1)
        0xff, 0xff, // acks -1
        0x00, 0x00, 0x75, 0x30, // timeout 30000
        0, 0, 0, 1, // one topic
        0, 2, b't', b'1', // name
        0, 0, 0, 1, // one partition
        0, 0, 0, 2, // index 2
        0, 0, 0, 7, b'R', b'E', b'C', b'O', b'R', b'D', b'S', // records (int32 length)
    ];
    assert_eq!(&out[..], expected);

    // Decoding slices the records out of the frame without a copy.
    let frame = out.freeze();
    let mut cursor = frame.clone();
    let got = ProduceRequest::decode(&mut cursor, 3).unwrap();
    assert_eq!(got, r);
    let got_records = got.topic_data[0].partition_data[0].records.as_ref().unwrap();
    let offset = got_records.as_ptr() as usize - frame.as_ptr() as usize;
    assert_eq!(offset, expected.len() - 7, "records must point into the frame");
}

#[test]
fn request_v9_flexible_fixture() {
    let r = ProduceRequest {
        transactional_id: Some("tx".into()),
        acks: 1,
        timeout_ms: 1,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData { index: 0, records: None }],
        }],
    };
    let mut out = BytesMut::new();
    r.encode(&mut out, 9);
    let expected: &[u8] = &[
        3, b't', b'x', // compact string
        0, 1, 0, 0, 0, 1, // acks, timeout
        2, 2, b't', // one topic "t"
        2, 0, 0, 0, 0, 0, 0, // one partition: index 0, null records (0), tags
        0, // topic tags
        0, // body tags
    ];
    assert_eq!(&out[..], expected);
}

#[test]
fn response_v10_tagged_leader_and_endpoints_fixture() {
    let bytes: &[u8] = &[
        2, 2, b't', // one topic "t"
        2,    // one partition
        0, 0, 0, 1, // index 1
        0, 6, // NOT_LEADER_OR_FOLLOWER
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // base offset -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log append time -1
        0, 0, 0, 0, 0, 0, 0, 0, // log start offset 0
        1, // no record errors
        0, // null error message
        1, 0, 9, 0, 0, 0, 3, 0, 0, 0, 7, 0, // tag 0: leader 3 epoch 7
        0, // topic tags
        0, 0, 0, 0, // throttle
        1, 0, 13, // tag 0, 13 bytes: node endpoints
        2, 0, 0, 0, 3, 2, b'h', 0, 0, 0x23, 0x84, 0, 0, // node 3 at h:9092, null rack
    ];
    let mut b = Bytes::from_static(bytes);
    let r = ProduceResponse::decode(&mut b, 10).unwrap();
    assert!(b.is_empty());
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, ErrorCode::NotLeaderOrFollower);
    assert_eq!(p.current_leader, Some(LeaderIdAndEpoch { leader_id: 3, leader_epoch: 7 }));
    assert_eq!(r.node_endpoints, vec![NodeEndpoint { node_id: 3, host: "h".into(), port: 9092, rack: None }]);
    let mut out = BytesMut::new();
    r.encode(&mut out, 10);
    assert_eq!(&out[..], bytes, "re-encodes byte for byte");
}
