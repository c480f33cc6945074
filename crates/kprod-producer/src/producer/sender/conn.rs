//! The sender core's view of one connection: its negotiated versions, correlation ids and the requests in flight
//! on it, in send order (Kafka answers a connection's requests in order). Sans-IO: [`Conn::send`] encodes a
//! request into a frame that waits in [`Conn::pending`] until the IO loop (or the simulation) takes it.

use std::collections::VecDeque;
use std::time::Instant;

use crate::producer::accumulator::ProducerBatch;
use crate::producer::connection::Handshake;
use crate::protocol::versions::{ApiKey, NegotiatedVersions};
use crate::protocol::{ApiMessage, ChunkedFrame, Encode, FrameError, request_frame_chunked};

/// What a request in flight was for, so its response can be routed.
#[derive(Debug)]
pub(super) enum InFlightKind {
    Produce {
        batches: Vec<ProducerBatch>,
        records: usize,
        bytes: usize,
    },
    Metadata,
    InitProducerId,
    /// A transactional request; `id` is the transaction manager's handle.
    Txn {
        id: u64,
    },
}

/// A request waiting for its response.
#[derive(Debug)]
pub(super) struct InFlightRequest {
    pub correlation_id: i32,
    pub api_key: ApiKey,
    pub version: i16,
    pub sent: Instant,
    pub kind: InFlightKind,
}

/// A live connection, as the core sees it.
#[derive(Debug)]
pub(super) struct Conn {
    /// Process-unique id: events from the IO side name the connection by it.
    pub id: u64,
    pub address: String,
    pub versions: NegotiatedVersions,
    /// The cluster's finalized `transaction.version` feature (0 when absent).
    pub transaction_version: i16,
    next_correlation_id: i32,
    pub in_flight: VecDeque<InFlightRequest>,
    client_id: Option<String>,
    /// See [`Handshake::reauth_at`].
    pub reauth_at: Option<Instant>,
    /// Set once `reauth_at` has passed: no new requests go on this connection.
    pub draining: bool,
    /// Encoded frames not yet handed to the IO side, in send order. A Produce frame's chunks are its batches' own
    /// bytes between small prefixes (`protocol::chunks`).
    pub pending: VecDeque<ChunkedFrame>,
}

impl Conn {
    pub(super) fn new(id: u64, address: String, client_id: Option<String>, hs: Handshake) -> Self {
        Conn {
            id,
            address,
            versions: hs.versions,
            transaction_version: hs.transaction_version,
            next_correlation_id: 1,
            in_flight: VecDeque::new(),
            client_id,
            reauth_at: hs.reauth_at,
            draining: false,
            pending: VecDeque::new(),
        }
    }

    /// Encodes a request and queues its frame for the IO side. Returns the correlation id and the frame's size.
    /// `size_hint`: bytes the frame copies beyond its header (a Produce request references its batches).
    pub(super) fn send<T: Encode + ApiMessage>(
        &mut self,
        version: i16,
        body: &T,
        size_hint: usize,
    ) -> Result<(i32, usize), FrameError> {
        let correlation_id = self.next_correlation_id;
        let frame = request_frame_chunked(version, correlation_id, self.client_id.as_deref(), body, size_hint)?;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1) & i32::MAX;
        let len = frame.len();
        self.pending.push_back(frame);
        Ok((correlation_id, len))
    }

    /// Produce requests waiting for their answer on this connection.
    pub(super) fn produce_in_flight(&self) -> usize {
        self.in_flight.iter().filter(|r| r.api_key == ApiKey::Produce).count()
    }
}
