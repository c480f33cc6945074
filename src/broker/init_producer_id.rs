//! InitProducerId (key 22), versions 0–4.
//!
//! Behaviour follows Kafka's transaction coordinator:
//! - no transactional id (an idempotent producer): always a *new* producer id with epoch 0 — Kafka
//!   ignores the v3+ `producer_id`/`producer_epoch` here, since idempotent producers bump their
//!   epoch locally (KIP-360);
//! - a transactional id seen for the first time: a new id, epoch 0;
//! - a known transactional id: the same id with the epoch bumped. With v3+ `producer_id`/`epoch`
//!   given, they must match the current ones, else PRODUCER_FENCED (v4+) or INVALID_PRODUCER_EPOCH.
//!   An epoch about to overflow gets a new id at epoch 0.
//!
//! Transactions themselves (AddPartitionsToTxn, EndTxn) are not served.
//!
//! # References
//! - Apache Kafka `TransactionCoordinator.handleInitProducerId`, KIP-98, KIP-360, KIP-588.

use super::handler::Ctx;
use crate::protocol::{ErrorCode, InitProducerIdRequest, InitProducerIdResponse};

pub(crate) fn handle(ctx: &Ctx<'_>, req: &InitProducerIdRequest) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse { throttle_time_ms: ctx.throttle_ms, ..Default::default() };
    let state = ctx.state;
    let Some(tid) = &req.transactional_id else {
        r.producer_id = state.next_producer_id();
        r.producer_epoch = 0;
        return r;
    };
    let mut table = state.transactional_ids();
    let (pid, epoch) = match table.get(tid).copied() {
        None => (state.next_producer_id(), 0),
        Some((pid, epoch)) => {
            let given = ctx.version >= 3 && req.producer_id >= 0;
            if given && (req.producer_id != pid || req.producer_epoch != epoch) {
                r.error_code =
                    if ctx.version >= 4 { ErrorCode::ProducerFenced } else { ErrorCode::InvalidProducerEpoch };
                r.producer_id = -1;
                r.producer_epoch = -1;
                return r;
            }
            if epoch >= i16::MAX - 1 { (state.next_producer_id(), 0) } else { (pid, epoch + 1) }
        }
    };
    table.insert(tid.clone(), (pid, epoch));
    r.producer_id = pid;
    r.producer_epoch = epoch;
    r
}
