//! Round-trip properties and fixtures for Fetch.

use super::*;
use crate::protocol::testutil::*;
use proptest::prelude::*;

fn arb_request() -> impl Strategy<Value = FetchRequest> {
    let partition = (any::<i32>(), any::<i32>(), any::<i64>(), any::<i32>(), any::<i64>(), any::<i32>()).prop_map(
        |(partition, current_leader_epoch, fetch_offset, last_fetched_epoch, log_start_offset, partition_max_bytes)| {
            FetchPartition {
                partition,
                current_leader_epoch,
                fetch_offset,
                last_fetched_epoch,
                log_start_offset,
                partition_max_bytes,
            }
        },
    );
    let topic = (string(), vec(partition, 3)).prop_map(|(topic, partitions)| FetchTopic { topic, partitions });
    let forgotten =
        (string(), vec(any::<i32>(), 3)).prop_map(|(topic, partitions)| ForgottenTopic { topic, partitions });
    (
        (any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>(), any::<i8>()),
        (any::<i32>(), any::<i32>(), vec(topic, 3), vec(forgotten, 2), string()),
    )
        .prop_map(
            |(
                (replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level),
                (session_id, session_epoch, topics, forgotten_topics_data, rack_id),
            )| {
                FetchRequest {
                    replica_id,
                    max_wait_ms,
                    min_bytes,
                    max_bytes,
                    isolation_level,
                    session_id,
                    session_epoch,
                    topics,
                    forgotten_topics_data,
                    rack_id,
                }
            },
        )
}

fn norm_request(mut m: FetchRequest, v: i16) -> FetchRequest {
    if v < 7 {
        m.session_id = 0;
        m.session_epoch = -1;
        m.forgotten_topics_data.clear();
    }
    if v < 11 {
        m.rack_id.clear();
    }
    for p in m.topics.iter_mut().flat_map(|t| &mut t.partitions) {
        if v < 9 {
            p.current_leader_epoch = -1;
        }
        if v < 12 {
            p.last_fetched_epoch = -1;
        }
        if v < 5 {
            p.log_start_offset = -1;
        }
    }
    m
}

fn arb_response() -> impl Strategy<Value = FetchResponse> {
    let aborted = (any::<i64>(), any::<i64>())
        .prop_map(|(producer_id, first_offset)| AbortedTransaction { producer_id, first_offset });
    let partition = (
        (any::<i32>(), error_code(), any::<i64>(), any::<i64>()),
        (any::<i64>(), proptest::option::of(vec(aborted, 3)), any::<i32>(), proptest::option::of(bytes(64))),
    )
        .prop_map(
            |(
                (partition_index, error_code, high_watermark, last_stable_offset),
                (log_start_offset, aborted_transactions, preferred_read_replica, records),
            )| {
                FetchPartitionData {
                    partition_index,
                    error_code,
                    high_watermark,
                    last_stable_offset,
                    log_start_offset,
                    aborted_transactions,
                    preferred_read_replica,
                    records,
                }
            },
        );
    let topic =
        (string(), vec(partition, 3)).prop_map(|(topic, partitions)| FetchableTopicResponse { topic, partitions });
    (any::<i32>(), error_code(), any::<i32>(), vec(topic, 3)).prop_map(
        |(throttle_time_ms, error_code, session_id, responses)| FetchResponse {
            throttle_time_ms,
            error_code,
            session_id,
            responses,
        },
    )
}

fn norm_response(mut m: FetchResponse, v: i16) -> FetchResponse {
    if v < 7 {
        m.error_code = ErrorCode::None;
        m.session_id = 0;
    }
    for p in m.responses.iter_mut().flat_map(|t| &mut t.partitions) {
        if v < 5 {
            p.log_start_offset = -1;
        }
        if v < 11 {
            p.preferred_read_replica = -1;
        }
    }
    m
}

message_tests!(request, FetchRequest, arb_request(), norm_request);
message_tests!(response, FetchResponse, arb_response(), norm_response);

#[test]
fn response_v12_skips_replica_tags_and_keeps_records_zero_copy() {
    let bytes: &[u8] = &[
        0, 0, 0, 0, // throttle
        0, 0, // error
        0, 0, 0, 0, // session
        2, 2, b't', // one topic "t"
        2,    // one partition
        0, 0, 0, 0, // index
        0, 0, // error
        0, 0, 0, 0, 0, 0, 0, 9, // high watermark 9
        0, 0, 0, 0, 0, 0, 0, 9, // last stable offset
        0, 0, 0, 0, 0, 0, 0, 0, // log start offset
        0, // null aborted transactions
        0xff, 0xff, 0xff, 0xff, // preferred read replica -1
        4, b'a', b'b', b'c', // records (compact bytes)
        1, 1, 9, 0, 0, 0, 2, 0, 0, 0, 3, 0, // tag 1 current_leader: skipped
        0, // topic tags
        0, // body tags
    ];
    let frame = Bytes::from_static(bytes);
    let mut b = frame.clone();
    let r = FetchResponse::decode(&mut b, 12).unwrap();
    assert!(b.is_empty());
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 9);
    let records = p.records.as_ref().unwrap();
    assert_eq!(&records[..], b"abc");
    assert_eq!(records.as_ptr() as usize - frame.as_ptr() as usize, 50);
}

#[test]
fn request_v4_fixture() {
    let r = FetchRequest {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 1024,
        topics: vec![FetchTopic {
            topic: "t".into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 7,
                partition_max_bytes: 256,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let mut out = BytesMut::new();
    r.encode(&mut out, 4);
    let expected: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0xf4, 0, 0, 0, 1, 0, 0, 4, 0, 0, // replica, wait, min, max, isolation
        0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, // one topic "t", one partition
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 1, 0, // partition 0, offset 7, max 256
    ];
    assert_eq!(&out[..], expected);
}
