//! FindCoordinator (key 10), versions 0–4.
//!
//! The coordinator of a key is Kafka's: partition `abs(key.hashCode) % 50` of `__transaction_state`
//! (key type 1) or `__consumer_offsets` (key type 0), led by broker `partition % brokers` — unless
//! moved with `Faults::move_coordinator`. v4 answers each batched key. An unknown key type is
//! INVALID_REQUEST; an injected transaction fault for FindCoordinator answers its error instead.
//!
//! # References
//! - Apache Kafka `FindCoordinatorRequest.json`/`FindCoordinatorResponse.json`, KIP-699,
//!   `TransactionStateManager.partitionFor`, `GroupCoordinator.partitionFor`.

use super::handler::Ctx;
use super::txn::key_type_known;
use crate::protocol::find_coordinator::Coordinator;
use crate::protocol::{ApiKey, ErrorCode, FindCoordinatorRequest, FindCoordinatorResponse};

fn coordinator_for(ctx: &Ctx<'_>, key_type: i8, key: &str) -> Result<(i32, String, i32), ErrorCode> {
    if !key_type_known(key_type) {
        return Err(ErrorCode::InvalidRequest);
    }
    if let Some(code) = ctx.state.faults.take_txn_error(ApiKey::FindCoordinator) {
        return Err(code);
    }
    let id = ctx.state.coordinator_of(key_type, key);
    match ctx.state.address(id) {
        Some(a) => Ok((id, a.ip().to_string(), a.port() as i32)),
        None => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

pub(crate) fn handle(ctx: &Ctx<'_>, req: &FindCoordinatorRequest) -> FindCoordinatorResponse {
    let mut r = FindCoordinatorResponse { throttle_time_ms: ctx.throttle_ms, ..Default::default() };
    // v0 has no key type: always a group.
    let key_type = if ctx.version >= 1 { req.key_type } else { 0 };
    if ctx.version >= 4 {
        r.coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| match coordinator_for(ctx, key_type, key) {
                Ok((node_id, host, port)) => Coordinator {
                    key: key.clone(),
                    node_id,
                    host,
                    port,
                    error_code: ErrorCode::None,
                    error_message: None,
                },
                Err(error_code) => {
                    Coordinator { key: key.clone(), node_id: -1, port: -1, error_code, ..Default::default() }
                }
            })
            .collect();
    } else {
        match coordinator_for(ctx, key_type, &req.key) {
            Ok((node_id, host, port)) => {
                r.node_id = node_id;
                r.host = host;
                r.port = port;
            }
            Err(code) => {
                r.error_code = code;
                r.node_id = -1;
                r.port = -1;
            }
        }
    }
    r
}
