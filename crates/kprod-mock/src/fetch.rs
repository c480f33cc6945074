//! Fetch (key 1), versions 4–12, for consumers reading back what was produced (retain mode).
//!
//! Per partition: unknown → UNKNOWN_TOPIC_OR_PARTITION; not the leader → NOT_LEADER_OR_FOLLOWER;
//! an offset below the log start or above the high watermark → OFFSET_OUT_OF_RANGE; otherwise the
//! retained batches from the one containing `fetch_offset`, up to `partition_max_bytes` and the
//! request's `max_bytes` — but always at least one batch when there is data, as KIP-74 requires. The
//! high watermark is the next offset (every append is replicated at once); the last stable offset
//! is the first offset of the earliest open transaction, else the high watermark.
//!
//! `isolation_level = 1` (read_committed, v4+): only batches below the last stable offset are
//! returned, with `aborted_transactions` listing every aborted transaction (producer id, first
//! offset) whose range reaches into the fetched data, so the consumer drops their records; control
//! batches are returned as they are (consumers skip them). read_uncommitted gets no aborted list.
//!
//! No fetch sessions: the answer's `session_id` is 0, so clients keep sending full requests; an
//! incremental request (session id ≠ 0) gets FETCH_SESSION_ID_NOT_FOUND. No long polling either:
//! an empty answer is delayed by `max_wait_ms` (at most [`EMPTY_FETCH_WAIT_MAX`]) so idle
//! consumers do not spin, but new data does not wake it early.
//!
//! # References
//! - Apache Kafka `FetchRequest.json`/`FetchResponse.json`, KIP-74, KIP-227.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;

use super::handler::Ctx;
use crate::protocol::fetch::{AbortedTransaction, FetchPartitionData, FetchableTopicResponse};
use crate::protocol::{ErrorCode, FetchRequest, FetchResponse};

/// Longest delay of an empty fetch answer.
pub(crate) const EMPTY_FETCH_WAIT_MAX: Duration = Duration::from_millis(500);

pub(crate) fn handle(ctx: &Ctx<'_>, req: &FetchRequest) -> (FetchResponse, Duration) {
    let state = ctx.state;
    if let Some(s) = state.stats(ctx.broker_id) {
        s.fetch_requests.fetch_add(1, Ordering::Relaxed);
    }
    let mut response = FetchResponse { throttle_time_ms: ctx.throttle_ms, ..Default::default() };
    if ctx.version >= 7 && req.session_id != 0 {
        response.error_code = ErrorCode::FetchSessionIdNotFound;
        return (response, Duration::ZERO);
    }
    let mut budget = req.max_bytes.max(0) as usize;
    let mut any_data = false;
    for t in &req.topics {
        let topic = state.topic(&t.topic);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for fp in &t.partitions {
            let mut out = FetchPartitionData { partition_index: fp.partition, ..Default::default() };
            let partition =
                topic.as_ref().and_then(|t| usize::try_from(fp.partition).ok().and_then(|i| t.partitions.get(i)));
            match partition {
                None => out.error_code = ErrorCode::UnknownTopicOrPartition,
                Some(p) if p.leader() != ctx.broker_id => out.error_code = ErrorCode::NotLeaderOrFollower,
                Some(p) => {
                    let log = p.log();
                    let read_committed = req.isolation_level == 1;
                    let lso = log.last_stable_offset();
                    let upper = if read_committed { lso } else { log.next_offset };
                    out.high_watermark = log.next_offset;
                    out.last_stable_offset = lso;
                    out.log_start_offset = log.log_start_offset;
                    if fp.fetch_offset < log.log_start_offset || fp.fetch_offset > log.next_offset {
                        out.error_code = ErrorCode::OffsetOutOfRange;
                    } else {
                        let mut data = BytesMut::new();
                        let limit = (fp.partition_max_bytes.max(0) as usize).min(budget);
                        let mut end = fp.fetch_offset;
                        for b in &log.batches[log.batch_index_for(fp.fetch_offset)..] {
                            if b.base_offset >= upper {
                                break;
                            }
                            let first = data.is_empty() && !any_data;
                            if !first && data.len() + b.bytes.len() > limit {
                                break;
                            }
                            data.extend_from_slice(&b.bytes);
                            end = b.last_offset + 1;
                            if first {
                                any_data = true;
                            }
                        }
                        if read_committed {
                            let aborted: Vec<_> = log
                                .aborted_between(fp.fetch_offset, end)
                                .map(|a| AbortedTransaction {
                                    producer_id: a.producer_id,
                                    first_offset: a.first_offset,
                                })
                                .collect();
                            out.aborted_transactions = Some(aborted);
                        }
                        budget = budget.saturating_sub(data.len());
                        any_data |= !data.is_empty();
                        out.records = Some(data.freeze());
                    }
                }
            }
            partitions.push(out);
        }
        response.responses.push(FetchableTopicResponse { topic: t.topic.clone(), partitions });
    }
    let delay = if any_data {
        Duration::ZERO
    } else {
        Duration::from_millis(req.max_wait_ms.max(0) as u64).min(EMPTY_FETCH_WAIT_MAX)
    };
    (response, delay)
}
