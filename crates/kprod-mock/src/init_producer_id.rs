//! InitProducerId (key 22), versions 0–4.
//!
//! - no transactional id (an idempotent producer): always a *new* producer id with epoch 0 — Kafka
//!   ignores the v3+ `producer_id`/`producer_epoch` here, since idempotent producers bump their
//!   epoch locally (KIP-360);
//! - a transactional id: served by the transaction coordinator ([`super::txn::init_producer_id`]):
//!   NOT_COORDINATOR on any broker but the id's coordinator, INVALID_TRANSACTION_TIMEOUT above
//!   `transaction_max_timeout_ms`, a new id or the epoch bumped, an ongoing transaction aborted
//!   first (answered CONCURRENT_TRANSACTIONS), PRODUCER_FENCED (v4+; INVALID_PRODUCER_EPOCH before)
//!   for a stale v3+ id/epoch. Injected transaction faults apply here too.
//!
//! # References
//! - Apache Kafka `TransactionCoordinator.handleInitProducerId`, KIP-98, KIP-360, KIP-588.

use super::handler::Ctx;
use super::txn::{self, InitArgs};
use crate::protocol::find_coordinator::KEY_TYPE_TRANSACTION;
use crate::protocol::{ApiKey, ErrorCode, InitProducerIdRequest, InitProducerIdResponse};

pub(crate) fn handle(ctx: &Ctx<'_>, req: &InitProducerIdRequest) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse {
        throttle_time_ms: ctx.throttle_ms,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let state = ctx.state;
    let Some(tid) = &req.transactional_id else {
        r.producer_id = state.next_producer_id();
        r.producer_epoch = 0;
        return r;
    };
    let result = if let Some(code) = state.faults.take_txn_error(ApiKey::InitProducerId) {
        Err(code)
    } else if state.coordinator_of(KEY_TYPE_TRANSACTION, tid) != ctx.broker_id {
        Err(ErrorCode::NotCoordinator)
    } else {
        txn::init_producer_id(
            state,
            InitArgs {
                transactional_id: tid,
                timeout_ms: req.transaction_timeout_ms,
                producer_id: if ctx.version >= 3 { req.producer_id } else { -1 },
                producer_epoch: if ctx.version >= 3 { req.producer_epoch } else { -1 },
            },
        )
    };
    match result {
        Ok((pid, epoch)) => {
            r.producer_id = pid;
            r.producer_epoch = epoch;
        }
        Err(ErrorCode::ProducerFenced) if ctx.version < 4 => r.error_code = ErrorCode::InvalidProducerEpoch,
        Err(code) => r.error_code = code,
    }
    r
}
