//! Request dispatch: one request frame in, one response frame (or none, or "close") out.
//!
//! Sans-IO: [`handle_frame`] takes the frame bytes and the shared state and appends the encoded
//! response to a buffer; the server does the sockets and the timing. The fuzz target and the
//! ingest bench call it directly.
//!
//! Bad input never panics: an unsupported ApiVersions version gets Kafka's answer (a v0 response
//! with UNSUPPORTED_VERSION and the supported ranges, so the client can downgrade); any other
//! unknown API, unsupported version or malformed body closes the connection, as Kafka does.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::sasl::Session;
use super::state::ClusterState;
use super::{
    api_versions, fetch, find_coordinator, init_producer_id, list_offsets, metadata, produce, sasl, txn, txn_api,
};
use crate::protocol::frame::FrameError;
use crate::protocol::{ApiKey, ApiMessage, Encode, RequestBody, RequestFrame, encode_response};

/// What the connection does after a request.
///
/// ```
/// use std::time::Duration;
/// use bytes::BytesMut;
/// use kprod_mock::{ClusterConfig, ClusterState, Handled, Outcome, Session, handle_frame};
/// use kprod_proto::protocol::{ApiVersionsRequest, ApiVersionsResponse, ErrorCode, decode_response, request_frame, split_frame};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let request = ApiVersionsRequest { client_software_name: "doc".into(), client_software_version: "1".into() };
/// let mut frame = BytesMut::from(&request_frame(3, 7, Some("doc"), &request, 0)?[..]);
/// let frame = split_frame(&mut frame, usize::MAX)?.expect("one whole frame"); // without its size prefix
/// let mut out = BytesMut::new();
/// let handled = handle_frame(&state, 0, &mut Session::default(), frame, &mut out);
/// assert_eq!(handled, Handled { outcome: Outcome::Respond, delay: Duration::ZERO });
/// let response = split_frame(&mut out, usize::MAX)?.expect("one response frame");
/// let (header, body) = decode_response::<ApiVersionsResponse>(response, 3)?;
/// assert_eq!((header.correlation_id, body.error_code), (7, ErrorCode::None));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response frame was appended to the output buffer.
    Respond,
    /// Nothing to send (acks=0 produce).
    Silent,
    /// Close the connection (malformed request, injected drop); nothing is sent.
    Close,
}

/// The result of one request.
///
/// ```
/// use std::time::Duration;
/// use bytes::BytesMut;
/// use kprod_mock::{ClusterConfig, ClusterState, Handled, Outcome, Session, handle_frame};
/// use kprod_proto::protocol::{ApiVersionsRequest, ApiVersionsResponse, ErrorCode, decode_response, request_frame, split_frame};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// let request = ApiVersionsRequest { client_software_name: "doc".into(), client_software_version: "1".into() };
/// let mut frame = BytesMut::from(&request_frame(3, 7, Some("doc"), &request, 0)?[..]);
/// let frame = split_frame(&mut frame, usize::MAX)?.expect("one whole frame"); // without its size prefix
/// let mut out = BytesMut::new();
/// let handled = handle_frame(&state, 0, &mut Session::default(), frame, &mut out);
/// assert_eq!(handled, Handled { outcome: Outcome::Respond, delay: Duration::ZERO });
/// let response = split_frame(&mut out, usize::MAX)?.expect("one response frame");
/// let (header, body) = decode_response::<ApiVersionsResponse>(response, 3)?;
/// assert_eq!((header.correlation_id, body.error_code), (7, ErrorCode::None));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    /// Respond, close the connection, or both.
    pub outcome: Outcome,
    /// Extra delay before the response (an empty fetch waits up to its max_wait_ms).
    pub delay: Duration,
}

impl Handled {
    fn now(outcome: Outcome) -> Self {
        Handled { outcome, delay: Duration::ZERO }
    }
}

/// What a per-API handler needs to know about the request and the broker answering it.
///
/// ```
/// use kprod_mock::handler::Ctx;
/// use kprod_mock::{ClusterConfig, ClusterState};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let state = ClusterState::new(ClusterConfig::default(), vec!["127.0.0.1:9092".parse()?]);
/// // What the dispatcher hands a per-API handler for a v3 request to broker 0.
/// let ctx = Ctx { state: &state, broker_id: 0, version: 3, throttle_ms: 0 };
/// assert_eq!(ctx.state.broker_count(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The cluster's shared state.
    pub state: &'a ClusterState,
    /// Node id of the broker answering.
    pub broker_id: i32,
    /// Request version (the response is written at the same one).
    pub version: i16,
    /// Injected `throttle_time_ms` for responses that carry one.
    pub throttle_ms: i32,
}

/// Handles one request frame (without its size prefix) on broker `broker_id`, for the connection whose
/// authentication state is `session` (see [`sasl`]: with SASL on, only ApiVersions and the SASL APIs are served
/// before authentication; anything else closes the connection).
pub fn handle_frame(
    state: &ClusterState,
    broker_id: i32,
    session: &mut Session,
    frame: Bytes,
    out: &mut BytesMut,
) -> Handled {
    if let Some(stats) = state.stats(broker_id) {
        stats.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let request = match RequestFrame::decode(frame) {
        Ok(r) => r,
        Err(e) => return refuse(e, out),
    };
    let api = request.body.api_key();
    tracing::trace!(broker_id, %api, version = request.header.api_version, "mock broker request");
    if let Some(stats) = state.stats(broker_id) {
        stats.count_api(api);
    }
    if !session.allows(state.config.sasl.as_ref(), api) {
        tracing::debug!(broker_id, %api, expired = session.expired, "request before SASL authentication; closing");
        return Handled::now(Outcome::Close);
    }
    // Transaction timeouts are checked lazily, before any request, while a transaction is open.
    if state.txn.ongoing() > 0 {
        txn::expire_transactions(state);
    }
    let armed = state.faults.broker_armed(broker_id);
    let throttle_ms = if armed { state.faults.with_broker(broker_id, |f| f.throttle_ms).unwrap_or(0) } else { 0 };
    let ctx = Ctx { state, broker_id, version: request.header.api_version, throttle_ms };
    let correlation_id = request.header.correlation_id;
    match request.body {
        RequestBody::Produce(req) => {
            if armed && take(state, broker_id, |f| &mut f.drop_before_append) {
                tracing::debug!(broker_id, correlation_id, "injected fault: connection dropped before append");
                return Handled::now(Outcome::Close);
            }
            let response = produce::handle(&ctx, &req);
            if armed && take(state, broker_id, |f| &mut f.drop_after_append) {
                tracing::debug!(broker_id, correlation_id, "injected fault: connection dropped after append");
                return Handled::now(Outcome::Close);
            }
            if req.acks == 0 {
                return Handled::now(Outcome::Silent);
            }
            respond(out, correlation_id, ctx.version, &response)
        }
        RequestBody::Metadata(req) => respond(out, correlation_id, ctx.version, &metadata::handle(&ctx, &req)),
        RequestBody::ApiVersions(req) => respond(out, correlation_id, ctx.version, &api_versions::handle(&ctx, &req)),
        RequestBody::InitProducerId(req) => {
            respond(out, correlation_id, ctx.version, &init_producer_id::handle(&ctx, &req))
        }
        RequestBody::FindCoordinator(req) => {
            respond(out, correlation_id, ctx.version, &find_coordinator::handle(&ctx, &req))
        }
        RequestBody::ListOffsets(req) => respond(out, correlation_id, ctx.version, &list_offsets::handle(&ctx, &req)),
        RequestBody::SaslHandshake(req) => {
            respond(out, correlation_id, ctx.version, &sasl::handshake(&ctx, session, &req))
        }
        RequestBody::SaslAuthenticate(req) => {
            respond(out, correlation_id, ctx.version, &sasl::authenticate(&ctx, session, &req))
        }
        RequestBody::Fetch(req) => {
            let (response, delay) = fetch::handle(&ctx, &req);
            let mut h = respond(out, correlation_id, ctx.version, &response);
            h.delay = delay;
            h
        }
        RequestBody::AddPartitionsToTxn(req) => {
            respond(out, correlation_id, ctx.version, &txn_api::add_partitions(&ctx, &req))
        }
        RequestBody::AddOffsetsToTxn(req) => {
            respond(out, correlation_id, ctx.version, &txn_api::add_offsets(&ctx, &req))
        }
        RequestBody::EndTxn(req) => respond(out, correlation_id, ctx.version, &txn_api::end_txn(&ctx, &req)),
        RequestBody::TxnOffsetCommit(req) => {
            respond(out, correlation_id, ctx.version, &txn_api::txn_offset_commit(&ctx, &req))
        }
    }
}

/// Consumes one unit of a per-broker fault counter.
fn take(
    state: &ClusterState,
    broker_id: i32,
    counter: impl FnOnce(&mut super::faults::BrokerFaults) -> &mut u32,
) -> bool {
    state
        .faults
        .with_broker(broker_id, |f| {
            let c = counter(f);
            if *c > 0 {
                *c -= 1;
                true
            } else {
                false
            }
        })
        .unwrap_or(false)
}

fn respond<T: Encode + ApiMessage>(out: &mut BytesMut, correlation_id: i32, version: i16, body: &T) -> Handled {
    match encode_response(out, correlation_id, version, body) {
        Ok(()) => Handled::now(Outcome::Respond),
        Err(e) => {
            // Only reachable if a handler answers at a version the codec lacks: a bug, not input.
            tracing::error!(error = %e, "mock broker could not encode its response; closing");
            Handled::now(Outcome::Close)
        }
    }
}

/// Answers or closes on a request that could not be decoded.
fn refuse(error: FrameError, out: &mut BytesMut) -> Handled {
    if let FrameError::UnsupportedVersion { header, api: ApiKey::ApiVersions, .. } = &error {
        // Kafka answers an unknown ApiVersions version at v0 with the supported ranges (KIP-511).
        let mut response = api_versions::supported();
        response.error_code = crate::protocol::ErrorCode::UnsupportedVersion;
        tracing::debug!(version = header.api_version, "ApiVersions at an unsupported version");
        return respond(out, header.correlation_id, 0, &response);
    }
    tracing::debug!(%error, "mock broker closing connection on a bad request");
    Handled::now(Outcome::Close)
}

#[cfg(test)]
mod tests;
