//! ListOffsets (key 2), versions 1–7.
//!
//! Per partition (on its leader, else NOT_LEADER_OR_FOLLOWER; unknown → UNKNOWN_TOPIC_OR_PARTITION):
//! timestamp -1 (latest) → the high watermark (the last stable offset with isolation_level 1,
//! read_committed, v2+); -2 (earliest) → the log start offset; -3 (max
//! timestamp, v7+) → the offset and timestamp of the record with the largest timestamp; a real
//! timestamp → the first retained record whose timestamp is at or after it, or -1 when none is.
//! The partition's leader epoch is returned (v4+).
//!
//! # References
//! - Apache Kafka `ListOffsetsRequest.json`/`ListOffsetsResponse.json`, `UnifiedLog.fetchOffsetByTimestamp`.

use super::handler::Ctx;
use super::log::PartitionLog;
use crate::protocol::list_offsets::{
    EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, ListOffsetsPartitionResponse, ListOffsetsTopicResponse, MAX_TIMESTAMP,
};
use crate::protocol::{ErrorCode, ListOffsetsRequest, ListOffsetsResponse};

pub(crate) fn handle(ctx: &Ctx<'_>, req: &ListOffsetsRequest) -> ListOffsetsResponse {
    let state = ctx.state;
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let topic = state.topic(&t.name);
            let partitions = t
                .partitions
                .iter()
                .map(|lp| {
                    let mut out =
                        ListOffsetsPartitionResponse { partition_index: lp.partition_index, ..Default::default() };
                    let partition = topic
                        .as_ref()
                        .and_then(|t| usize::try_from(lp.partition_index).ok().and_then(|i| t.partitions.get(i)));
                    match partition {
                        None => out.error_code = ErrorCode::UnknownTopicOrPartition,
                        Some(p) if p.leader() != ctx.broker_id => out.error_code = ErrorCode::NotLeaderOrFollower,
                        Some(p) => {
                            out.leader_epoch = p.leader_epoch();
                            let log = p.log();
                            let (timestamp, offset) = if lp.timestamp == LATEST_TIMESTAMP && req.isolation_level == 1 {
                                (-1, log.last_stable_offset())
                            } else {
                                lookup(&log, lp.timestamp)
                            };
                            out.timestamp = timestamp;
                            out.offset = offset;
                        }
                    }
                    out
                })
                .collect();
            ListOffsetsTopicResponse { name: t.name.clone(), partitions }
        })
        .collect();
    ListOffsetsResponse { throttle_time_ms: ctx.throttle_ms, topics }
}

/// (timestamp, offset) for a ListOffsets timestamp query.
fn lookup(log: &PartitionLog, timestamp: i64) -> (i64, i64) {
    match timestamp {
        LATEST_TIMESTAMP => (-1, log.next_offset),
        EARLIEST_TIMESTAMP => (-1, log.log_start_offset),
        MAX_TIMESTAMP => log.max_timestamp.map_or((-1, -1), |(ts, off)| (ts, off)),
        t if t >= 0 => by_timestamp(log, t).unwrap_or((-1, -1)),
        _ => (-1, -1),
    }
}

fn by_timestamp(log: &PartitionLog, target: i64) -> Option<(i64, i64)> {
    for stored in &log.batches {
        let batch = stored.parse().ok()?;
        if batch.max_timestamp() < target {
            continue;
        }
        for r in batch.records().ok()? {
            let r = r.ok()?;
            let ts = batch.base_timestamp() + r.timestamp_delta;
            if ts >= target {
                return Some((ts, batch.base_offset() + r.offset_delta as i64));
            }
        }
    }
    None
}
