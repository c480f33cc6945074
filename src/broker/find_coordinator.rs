//! FindCoordinator (key 10), versions 0–4.
//!
//! The mock has no group or transaction coordinator; it answers so that clients which ask (an
//! idempotent librdkafka producer may, a transactional one must) are satisfied: the coordinator of
//! a key is broker `fnv(key) % brokers`. v4 answers each batched key.
//!
//! # References
//! - Apache Kafka `FindCoordinatorRequest.json`/`FindCoordinatorResponse.json`, KIP-699.

use super::handler::Ctx;
use crate::protocol::find_coordinator::Coordinator;
use crate::protocol::{ErrorCode, FindCoordinatorRequest, FindCoordinatorResponse};

fn coordinator_for(ctx: &Ctx<'_>, key: &str) -> (i32, String, i32) {
    let n = ctx.state.broker_count().max(1) as u64;
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let id = (h % n) as i32;
    match ctx.state.address(id) {
        Some(a) => (id, a.ip().to_string(), a.port() as i32),
        None => (-1, String::new(), -1),
    }
}

pub(crate) fn handle(ctx: &Ctx<'_>, req: &FindCoordinatorRequest) -> FindCoordinatorResponse {
    let mut r = FindCoordinatorResponse { throttle_time_ms: ctx.throttle_ms, ..Default::default() };
    if ctx.version >= 4 {
        r.coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                let (node_id, host, port) = coordinator_for(ctx, key);
                Coordinator { key: key.clone(), node_id, host, port, error_code: ErrorCode::None, error_message: None }
            })
            .collect();
    } else {
        let (node_id, host, port) = coordinator_for(ctx, &req.key);
        r.node_id = node_id;
        r.host = host;
        r.port = port;
    }
    r
}
