//! Metadata (key 3), versions 1–12.
//!
//! Lists every broker (node id, 127.0.0.1, its port), controller 0, and the requested topics (all
//! of them for a null topic list). An unknown topic is created with the default partition count
//! when the cluster auto-creates topics and the request allows it (`allow_auto_topic_creation`,
//! v4+; always allowed before v4, as in Kafka), else UNKNOWN_TOPIC_OR_PARTITION; an illegal name is
//! INVALID_TOPIC_EXCEPTION. Each partition has one replica, its leader (which follows leader moves),
//! with the partition's leader epoch (v7+). v10+ topics may be asked for by id.
//!
//! # References
//! - Apache Kafka `MetadataRequest.json`/`MetadataResponse.json`, `KafkaApis.handleTopicMetadataRequest`.

use super::handler::Ctx;
use super::state::{Topic, TopicError};
use crate::protocol::metadata::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use crate::protocol::{ErrorCode, MetadataRequest, MetadataResponse};

pub(crate) fn handle(ctx: &Ctx<'_>, req: &MetadataRequest) -> MetadataResponse {
    let state = ctx.state;
    let brokers = state
        .addresses()
        .iter()
        .enumerate()
        .map(|(id, a)| MetadataResponseBroker {
            node_id: id as i32,
            host: a.ip().to_string(),
            port: a.port() as i32,
            rack: None,
        })
        .collect();
    let allow_create = ctx.version < 4 || req.allow_auto_topic_creation;
    let stale = state.faults.take_stale_metadata();
    let topics = match &req.topics {
        None => state.topic_names().iter().filter_map(|n| state.topic(n)).map(|t| describe(&t, stale)).collect(),
        Some(wanted) => wanted
            .iter()
            .map(|w| {
                let found = match &w.name {
                    Some(name) if allow_create => state.topic_or_create(name),
                    Some(name) => state.topic(name).ok_or_else(|| TopicError::Unknown { name: name.clone() }),
                    None => state.topic_by_id(&w.topic_id).ok_or(TopicError::Unknown { name: String::new() }),
                };
                match found {
                    Ok(t) => describe(&t, stale),
                    Err(e) => MetadataResponseTopic {
                        error_code: if w.name.is_none() { ErrorCode::UnknownTopicId } else { e.error_code() },
                        name: w.name.clone(),
                        topic_id: w.topic_id,
                        ..Default::default()
                    },
                }
            })
            .collect(),
    };
    MetadataResponse {
        throttle_time_ms: ctx.throttle_ms,
        brokers,
        cluster_id: Some(state.config.cluster_id.clone()),
        controller_id: 0,
        topics,
        ..Default::default()
    }
}

fn describe(t: &Topic, stale: bool) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: ErrorCode::None,
        name: Some(t.name.clone()),
        topic_id: t.id,
        is_internal: false,
        partitions: t
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (leader, leader_epoch) = p.announced_leader(stale);
                MetadataResponsePartition {
                    error_code: ErrorCode::None,
                    partition_index: i as i32,
                    leader_id: leader,
                    leader_epoch,
                    replica_nodes: vec![leader],
                    isr_nodes: vec![leader],
                    offline_replicas: Vec::new(),
                }
            })
            .collect(),
        ..Default::default()
    }
}
