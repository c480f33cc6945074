//! Cross-check against the Java client: message bodies written by kafka-clients 4.3.1's generated
//! message classes (`fixtures/Gen.java` → `fixtures/java_kafka_clients_4.3.1.txt`), one per
//! message and supported version. Each must decode, carry the values Gen.java set, and re-encode
//! byte for byte.
//!
//! # References
//! - `org.apache.kafka.common.message.*Data` in kafka-clients 4.3.1

use bytes::{Bytes, BytesMut};

use super::*;

const FIXTURES: &str = include_str!("fixtures/java_kafka_clients_4.3.1.txt");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// Decodes `bytes` at `v`, checks all were read and that re-encoding gives the same bytes.
fn check<T: Encode + Decode + std::fmt::Debug>(name: &str, v: i16, bytes: &[u8]) -> T {
    let mut b = Bytes::copy_from_slice(bytes);
    let msg = T::decode(&mut b, v).unwrap_or_else(|e| panic!("{name} v{v}: {e}"));
    assert!(b.is_empty(), "{name} v{v}: {} bytes unread", b.len());
    let mut out = BytesMut::new();
    msg.encode(&mut out, v);
    assert_eq!(&out[..], bytes, "{name} v{v}: re-encoding differs from Java's bytes");
    msg
}

#[test]
fn java_client_bytes_decode_and_re_encode_identically() {
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for line in FIXTURES.lines() {
        let mut parts = line.split(' ');
        let (Some(name), Some(v), Some(hex)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("bad line {line}")
        };
        let v: i16 = v.parse().expect("version");
        let bytes = unhex(hex);
        *seen.entry(name).or_default() += 1;
        match name {
            "request_header" => {
                let mut b = Bytes::copy_from_slice(&bytes);
                let h = RequestHeader::decode(&mut b, v).expect("request header");
                assert!(b.is_empty());
                assert_eq!(
                    (h.api_key, h.api_version, h.correlation_id, h.client_id.as_deref()),
                    (3, 12, 7, Some("kp"))
                );
                let mut out = BytesMut::new();
                h.encode(&mut out, v);
                assert_eq!(&out[..], &bytes[..], "request header v{v}");
            }
            "response_header" => {
                let mut b = Bytes::copy_from_slice(&bytes);
                let h = ResponseHeader::decode(&mut b, v).expect("response header");
                assert!(b.is_empty());
                assert_eq!(h.correlation_id, -2);
                let mut out = BytesMut::new();
                h.encode(&mut out, v);
                assert_eq!(&out[..], &bytes[..], "response header v{v}");
            }
            "produce_request" => {
                let m: ProduceRequest = check(name, v, &bytes);
                assert_eq!(m.transactional_id.as_deref(), Some("tx"));
                assert_eq!(m.topic_data[0].partition_data[0].records.as_deref(), Some(&b"abc"[..]));
                assert_eq!(m.topic_data[0].partition_data[1].records, None);
            }
            "produce_response" => {
                let m: ProduceResponse = check(name, v, &bytes);
                let p = &m.responses[0].partition_responses[0];
                assert_eq!((p.error_code, p.base_offset, m.throttle_time_ms), (ErrorCode::NotLeaderOrFollower, 100, 7));
                assert_eq!(p.log_start_offset, if v >= 5 { 5 } else { -1 });
                assert_eq!(p.error_message.as_deref(), if v >= 8 { Some("m") } else { None });
                if v >= 10 {
                    assert_eq!(p.current_leader, Some(produce::LeaderIdAndEpoch { leader_id: 2, leader_epoch: 9 }));
                    assert_eq!(m.node_endpoints[0].rack.as_deref(), Some("r"));
                }
            }
            "metadata_request" => {
                let m: MetadataRequest = check(name, v, &bytes);
                assert_eq!(m.topics.as_ref().unwrap()[0].name.as_deref(), Some("a"));
                assert_eq!(m.allow_auto_topic_creation, v < 4);
            }
            "metadata_response" => {
                let m: MetadataResponse = check(name, v, &bytes);
                let p = &m.topics[0].partitions[0];
                assert_eq!(
                    (m.brokers[0].port, m.controller_id, m.topics[0].error_code),
                    (9092, 1, ErrorCode::UnknownTopicOrPartition)
                );
                assert_eq!(p.replica_nodes, vec![1, 2]);
                assert_eq!(p.leader_epoch, if v >= 7 { 5 } else { -1 });
                if v >= 10 {
                    assert_eq!(m.topics[0].topic_id[0], 1);
                    assert_eq!(m.topics[0].topic_id[15], 0x10);
                }
            }
            "api_versions_request" => {
                let m: ApiVersionsRequest = check(name, v, &bytes);
                assert_eq!(m.client_software_name, if v >= 3 { "kprod" } else { "" });
            }
            "api_versions_response" => {
                let m: ApiVersionsResponse = check(name, v, &bytes);
                assert_eq!(m.api_keys, vec![ApiVersion { api_key: 0, min_version: 3, max_version: 11 }]);
                if v >= 3 {
                    assert_eq!(m.transaction_version(), 2);
                    assert_eq!(m.finalized_features_epoch, 11);
                    assert_eq!(
                        m.supported_features,
                        vec![SupportedFeature {
                            name: TRANSACTION_VERSION_FEATURE.into(),
                            min_version: 1,
                            max_version: 2
                        }]
                    );
                    assert!(m.zk_migration_ready);
                } else {
                    assert_eq!(m.transaction_version(), 0);
                }
            }
            "init_producer_id_request" => {
                let m: InitProducerIdRequest = check(name, v, &bytes);
                assert_eq!(m.transaction_timeout_ms, 60_000);
                assert_eq!(m.producer_id, if v >= 3 { 5 } else { -1 });
            }
            "init_producer_id_response" => {
                let m: InitProducerIdResponse = check(name, v, &bytes);
                assert_eq!((m.producer_id, m.producer_epoch), (77, 3));
            }
            "find_coordinator_request" => {
                let m: FindCoordinatorRequest = check(name, v, &bytes);
                assert_eq!(m.key_type, if v >= 1 { 1 } else { 0 });
            }
            "find_coordinator_response" => {
                let m: FindCoordinatorResponse = check(name, v, &bytes);
                if v >= 4 {
                    assert_eq!(m.coordinators[0].host, "h");
                } else {
                    assert_eq!((m.error_code, m.port), (ErrorCode::CoordinatorNotAvailable, 9));
                }
            }
            "list_offsets_request" => {
                let m: ListOffsetsRequest = check(name, v, &bytes);
                assert_eq!(m.topics[0].partitions[0].timestamp, list_offsets::EARLIEST_TIMESTAMP);
            }
            "list_offsets_response" => {
                let m: ListOffsetsResponse = check(name, v, &bytes);
                assert_eq!(m.topics[0].partitions[0].offset, 42);
            }
            "fetch_request" => {
                let m: FetchRequest = check(name, v, &bytes);
                assert_eq!(m.topics[0].partitions[0].fetch_offset, 7);
                assert_eq!(m.rack_id, if v >= 11 { "r" } else { "" });
            }
            "fetch_response" => {
                let m: FetchResponse = check(name, v, &bytes);
                let p = &m.responses[0].partitions[0];
                assert_eq!(p.records.as_deref(), Some(&b"abc"[..]));
                assert_eq!(p.aborted_transactions.as_ref().unwrap()[0].first_offset, 6);
            }
            "sasl_handshake_request" => {
                let m: SaslHandshakeRequest = check(name, v, &bytes);
                assert_eq!(m.mechanism, "SCRAM-SHA-256");
            }
            "sasl_handshake_response" => {
                let m: SaslHandshakeResponse = check(name, v, &bytes);
                assert_eq!(m.error_code, ErrorCode::UnsupportedSaslMechanism);
                assert_eq!(m.mechanisms, vec!["PLAIN".to_string(), "SCRAM-SHA-512".to_string()]);
            }
            "sasl_authenticate_request" => {
                let m: SaslAuthenticateRequest = check(name, v, &bytes);
                assert_eq!(&m.auth_bytes[..], b"n,,n=u,r=x");
            }
            "sasl_authenticate_response" => {
                let m: SaslAuthenticateResponse = check(name, v, &bytes);
                assert_eq!(
                    (m.error_code, m.error_message.as_deref()),
                    (ErrorCode::SaslAuthenticationFailed, Some("bad"))
                );
                assert_eq!(&m.auth_bytes[..], b"v=1");
                assert_eq!(m.session_lifetime_ms, if v >= 1 { 1000 } else { 0 });
            }
            "add_partitions_to_txn_request" => {
                let m: AddPartitionsToTxnRequest = check(name, v, &bytes);
                if v >= 4 {
                    let t = &m.transactions[0];
                    assert_eq!((t.transactional_id.as_str(), t.producer_id, t.producer_epoch), ("tx", 8, 1));
                    assert!(t.verify_only);
                    assert_eq!(t.topics[0].partitions, vec![0, 2]);
                } else {
                    assert_eq!((m.transactional_id.as_str(), m.producer_id, m.producer_epoch), ("tx", 8, 1));
                    assert_eq!(m.topics[0].partitions, vec![0, 2]);
                }
            }
            "add_partitions_to_txn_response" => {
                let m: AddPartitionsToTxnResponse = check(name, v, &bytes);
                assert_eq!(m.throttle_time_ms, 4);
                assert_eq!(m.partition_errors().collect::<Vec<_>>(), vec![("t", 2, ErrorCode::ConcurrentTransactions)]);
                assert_eq!(m.results_by_transaction.len(), usize::from(v >= 4));
            }
            "add_offsets_to_txn_request" => {
                let m: AddOffsetsToTxnRequest = check(name, v, &bytes);
                assert_eq!((m.transactional_id.as_str(), m.producer_id, m.group_id.as_str()), ("tx", 8, "g"));
            }
            "add_offsets_to_txn_response" => {
                let m: AddOffsetsToTxnResponse = check(name, v, &bytes);
                assert_eq!((m.throttle_time_ms, m.error_code), (3, ErrorCode::InvalidProducerEpoch));
            }
            "end_txn_request" => {
                let m: EndTxnRequest = check(name, v, &bytes);
                assert_eq!(
                    (m.transactional_id.as_str(), m.producer_id, m.producer_epoch, m.committed),
                    ("tx", 8, 1, true)
                );
            }
            "end_txn_response" => {
                let m: EndTxnResponse = check(name, v, &bytes);
                assert_eq!(m.error_code, ErrorCode::ProducerFenced);
                let expected = if v >= 5 { (8, 2) } else { (-1, -1) };
                assert_eq!((m.producer_id, m.producer_epoch), expected);
            }
            "txn_offset_commit_request" => {
                let m: TxnOffsetCommitRequest = check(name, v, &bytes);
                let p = &m.topics[0].partitions[0];
                assert_eq!(
                    (p.partition_index, p.committed_offset, p.committed_metadata.as_deref()),
                    (1, 99, Some("m"))
                );
                assert_eq!(p.committed_leader_epoch, if v >= 2 { 6 } else { -1 });
                if v >= 3 {
                    assert_eq!((m.generation_id, m.member_id.as_str()), (4, "m1"));
                    assert_eq!(m.group_instance_id.as_deref(), Some("i1"));
                } else {
                    assert_eq!((m.generation_id, m.group_instance_id.as_deref()), (-1, None));
                }
            }
            "txn_offset_commit_response" => {
                let m: TxnOffsetCommitResponse = check(name, v, &bytes);
                assert_eq!(m.topics[0].partitions[0].error_code, ErrorCode::InvalidTxnState);
            }
            other => panic!("unknown fixture {other}"),
        }
    }
    // Every message at every supported version is covered.
    let expected = [
        ("request_header", 2),
        ("response_header", 2),
        ("produce_request", 10),
        ("produce_response", 10),
        ("metadata_request", 12),
        ("metadata_response", 12),
        ("api_versions_request", 4),
        ("api_versions_response", 4),
        ("init_producer_id_request", 5),
        ("init_producer_id_response", 5),
        ("find_coordinator_request", 5),
        ("find_coordinator_response", 5),
        ("list_offsets_request", 7),
        ("list_offsets_response", 7),
        ("fetch_request", 9),
        ("fetch_response", 9),
        ("sasl_handshake_request", 2),
        ("sasl_handshake_response", 2),
        ("sasl_authenticate_request", 3),
        ("sasl_authenticate_response", 3),
        ("add_partitions_to_txn_request", 6),
        ("add_partitions_to_txn_response", 6),
        ("add_offsets_to_txn_request", 5),
        ("add_offsets_to_txn_response", 5),
        ("end_txn_request", 6),
        ("end_txn_response", 6),
        ("txn_offset_commit_request", 6),
        ("txn_offset_commit_response", 6),
    ];
    for (name, n) in expected {
        assert_eq!(seen.get(name), Some(&n), "{name}");
    }
}
