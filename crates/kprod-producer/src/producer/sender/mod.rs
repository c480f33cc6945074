//! The sender: the one tokio task per producer. It owns the connections, refreshes metadata, asks the accumulator
//! which nodes are ready, drains one ProduceRequest per broker carrying one batch from each of many partitions,
//! and turns responses into batch completions, retries or failures — Java's `Sender.runOnce`.
//!
//! ```text
//!  loop: metadata? ─► producer id? ─► expire ─► request timeouts ─► ready() ─► drain() per node ─► send
//!        └──────────── wait for: a response | a wakeup (new/full batch, flush, close) | the next deadline ◄──┘
//! ```

//! The sender: turns the accumulator's batches into ProduceRequests, one per broker carrying one batch from each of
//! many partitions, and their answers into batch completions, retries or failures — Java's `Sender.runOnce`.
//!
//! It is split as quinn splits QUIC: [`SenderCore`] is a sans-IO state machine (no socket, no clock, no spawn) and
//! [`driver`] is the thin tokio loop around it.
//!
//! ```text
//!   inputs                         SenderCore::poll(now)                                   outputs
//!   handle_connected(id, hs)   ─►  metadata? ─► producer id? ─► expire ─► request      ─►  poll_io(): Connect / Close
//!   handle_response(id, frame)     timeouts ─► transactional request ─► ready() ─►         poll_transmit(): frames
//!   handle_closed(id, reason)      drain() per node ─► encode                              poll_timeout(): deadline
//! ```
//!
//! The IO loop calls `poll(now)` after every input, whenever the accumulator wakes it (a batch is full or new, a
//! flush or close began) and when `poll_timeout()` passes; then it performs `poll_io()` and `poll_transmit()`. The
//! deterministic simulation (`sim`, tests only) drives the same core against the mock broker's handler in memory.

mod conn;
pub(crate) mod driver;
mod idempotence;
mod produce;
mod shared;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
mod timer;
mod transactional;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub(crate) use driver::run;
pub(crate) use idempotence::Idempotence;
pub(crate) use shared::{AckInterceptor, ActivePartitioner, Shared, Shutdown, TxnShared};

use crate::producer::accumulator::{LeaderView, ProducerBatch};
use crate::producer::connection::Handshake;
use crate::producer::error::ProducerError;
use crate::producer::metadata::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
use crate::protocol::error::ErrorCode;
use crate::protocol::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::protocol::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use crate::protocol::versions::ApiKey;
use crate::protocol::{ApiMessage, ChunkedFrame, Decode};
use conn::{Conn, InFlightKind, InFlightRequest};
use timer::{Timer, TimerTable};

/// Longest the loop sleeps without a reason, so age-based checks (metadata age, timeouts) run.
const MAX_IDLE: Duration = Duration::from_millis(100);

/// Per-node reconnect state.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    next_attempt: Instant,
    failures: u32,
}

/// What the core asks the IO side to do with connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IoAction {
    /// Open connection `conn_id` to `address` (TCP, TLS, ApiVersions, SASL); answer with
    /// [`SenderCore::handle_connected`].
    Connect { conn_id: u64, node: i32, address: String },
    /// Drop connection `conn_id` (timed out, broker gone, re-authentication, shutdown). No event is expected back.
    Close { conn_id: u64 },
}

/// The sender's state machine. Maps are ordered (`BTreeMap`) so that iteration, and hence the order of requests,
/// is the same on every run: the simulation replays a seed exactly.
pub(crate) struct SenderCore {
    sh: Arc<Shared>,
    /// Live connections by node id (bootstrap connections have ids -1, -2, ...).
    conns: BTreeMap<i32, Conn>,
    /// Connection attempts under way: node → connection id.
    connecting: BTreeMap<i32, u64>,
    /// Reconnect backoff of nodes whose last attempt failed.
    backoff: BTreeMap<i32, Backoff>,
    next_conn_id: u64,
    /// Bootstrap addresses, tried in turn (node ids -1, -2, ... as Java does).
    bootstrap: Vec<String>,
    bootstrap_next: usize,
    cluster: Arc<Cluster>,
    metadata_in_flight: bool,
    last_metadata_ok: Option<Instant>,
    last_metadata_attempt: Option<Instant>,
    idem: Option<Idempotence>,
    init_retry_at: Option<Instant>,
    /// Last time the adaptive partitioner got fresh queue sizes.
    last_load_stats: Option<Instant>,
    /// max.in.flight = 1 without idempotence: mute partitions while in flight to keep order.
    guarantee_order: bool,
    /// Transaction coordinators found by FindCoordinator (they may be missing from the metadata).
    coordinator_addresses: BTreeMap<i32, String>,
    /// A commit or abort made every batch sendable (`begin_flush`); undone when it completes.
    txn_flushing: bool,
    /// Deadlines armed by the last poll.
    timers: TimerTable,
    /// Connection actions for the IO side, in order.
    io: std::collections::VecDeque<IoAction>,
    /// Backoff jitter. Seeded, so a simulation run replays exactly.
    rng: SmallRng,
    /// Set once the core has finished (closed with nothing left, or aborted).
    stopped: bool,
}

impl SenderCore {
    /// A core for the producer `sh`; `seed` seeds the backoff jitter.
    pub(crate) fn new(sh: Arc<Shared>, seed: u64) -> Self {
        let idem = sh
            .config
            .enable_idempotence
            .then(|| Idempotence { transactional: sh.config.transactional_id.is_some(), ..Idempotence::default() });
        SenderCore {
            guarantee_order: sh.config.max_in_flight == 1 && idem.is_none(),
            bootstrap: sh.config.bootstrap_servers.clone(),
            sh,
            conns: BTreeMap::new(),
            connecting: BTreeMap::new(),
            backoff: BTreeMap::new(),
            next_conn_id: 1,
            bootstrap_next: 0,
            cluster: Arc::new(Cluster::default()),
            metadata_in_flight: false,
            last_metadata_ok: None,
            last_metadata_attempt: None,
            idem,
            init_retry_at: None,
            last_load_stats: None,
            coordinator_addresses: BTreeMap::new(),
            txn_flushing: false,
            timers: TimerTable::default(),
            io: std::collections::VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            stopped: false,
        }
    }

    /// True once the core has finished: the producer closed with nothing left to send, or aborted.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The earliest instant at which [`poll`](Self::poll) must run again even without an input. Only `poll`
    /// changes it.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped { None } else { self.timers.next_timeout() }
    }

    /// The next connection action for the IO side.
    pub(crate) fn poll_io(&mut self) -> Option<IoAction> {
        self.io.pop_front()
    }

    /// Hands every encoded frame waiting on a connection to `f` (connection id, frame), in send order.
    pub(crate) fn drain_transmits(&mut self, mut f: impl FnMut(u64, ChunkedFrame)) {
        for c in self.conns.values_mut() {
            while let Some(frame) = c.pending.pop_front() {
                f(c.id, frame);
            }
        }
    }

    /// One round of work at `now`: checks, timeouts, then every request that may go. Call it after each input,
    /// when the accumulator wakes the loop, and when [`poll_timeout`](Self::poll_timeout) passes.
    pub(crate) fn poll(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.timers.clear();
        if self.sh.shutdown.is_aborted() {
            self.fail_everything(ProducerError::Aborted { reason: "close timed out or producer dropped".into() }, now);
            self.stop();
            return;
        }
        if let Some(e) = self.sh.shutdown.fatal().cloned() {
            self.fail_everything(e, now);
            if self.sh.shutdown.is_closed() {
                self.stop();
                return;
            }
        }
        if self.sh.acc.is_closing() && !self.sh.acc.has_incomplete() && self.txn_idle() {
            self.stop();
            return;
        }
        self.timers.set_earliest(Timer::Idle, now + MAX_IDLE);
        self.maybe_update_metadata(now);
        self.maybe_init_producer_id(now);
        self.expire_batches(now);
        self.check_request_timeouts(now);
        self.mark_reauth_due(now);
        // As Java: while a transactional request is in flight, no produce request goes out.
        let txn_busy = self.sh.txn.is_some() && self.maybe_send_transactional(now);
        if !txn_busy {
            self.send_produce_requests(now);
        }
        self.maybe_update_partitioner_stats(now);
        for b in self.backoff.values() {
            if b.next_attempt > now {
                self.timers.set_earliest(Timer::Reconnect, b.next_attempt);
            }
        }
        // After this round's sends: the oldest request of each connection bounds the wait.
        let timeout = self.sh.config.request_timeout;
        for c in self.conns.values() {
            if let Some(r) = c.in_flight.front() {
                self.timers.set_earliest(Timer::RequestTimeout, r.sent + timeout);
            }
        }
    }

    /// Closes every connection and stops.
    fn stop(&mut self) {
        let ids: Vec<u64> = self.conns.values().map(|c| c.id).chain(self.connecting.values().copied()).collect();
        self.conns.clear();
        self.connecting.clear();
        self.io.extend(ids.into_iter().map(|conn_id| IoAction::Close { conn_id }));
        self.stopped = true;
    }

    // ------------------------------------------------------------------ connections

    fn address_of(&self, node: i32) -> Option<String> {
        if node < 0 {
            self.bootstrap.get((-node - 1) as usize).cloned()
        } else {
            self.cluster
                .brokers
                .get(&node)
                .map(BrokerInfo::address)
                .or_else(|| self.coordinator_addresses.get(&node).cloned())
        }
    }

    /// The connection to `node` if it is up; otherwise asks the IO side to connect (respecting the reconnect
    /// backoff).
    fn ready_connection(&mut self, node: i32, now: Instant) -> Option<&mut Conn> {
        if let Some(c) = self.conns.get(&node)
            && c.draining
        {
            if !c.in_flight.is_empty() {
                return None;
            }
            // Re-authentication (KIP-368): the drained connection is replaced by a fresh, authenticated one.
            tracing::debug!(node, address = %c.address, "SASL session ending: reconnecting to re-authenticate");
            self.close_conn(node);
        }
        if self.conns.contains_key(&node) {
            return self.conns.get_mut(&node);
        }
        if self.connecting.contains_key(&node) {
            return None;
        }
        if let Some(b) = self.backoff.get(&node)
            && b.next_attempt > now
        {
            return None;
        }
        let address = self.address_of(node)?;
        let conn_id = self.next_conn_id;
        self.next_conn_id += 1;
        self.connecting.insert(node, conn_id);
        self.io.push_back(IoAction::Connect { conn_id, node, address });
        None
    }

    /// Removes the connection to `node` and tells the IO side to drop it.
    fn close_conn(&mut self, node: i32) -> Option<Conn> {
        let c = self.conns.remove(&node)?;
        self.io.push_back(IoAction::Close { conn_id: c.id });
        Some(c)
    }

    fn note_connect_failure(&mut self, node: i32, now: Instant) {
        let cfg = &self.sh.config;
        let failures = self.backoff.get(&node).map_or(0, |b| b.failures) + 1;
        let delay = exp_backoff(cfg.reconnect_backoff, cfg.reconnect_backoff_max, failures, &mut self.rng);
        self.backoff.insert(node, Backoff { next_attempt: now + delay, failures });
    }

    /// Input: connection attempt `conn_id` finished.
    pub(crate) fn handle_connected(&mut self, conn_id: u64, result: Result<Handshake, ProducerError>, now: Instant) {
        let Some(node) = self.connecting.iter().find(|(_, id)| **id == conn_id).map(|(n, _)| *n) else {
            // Not wanted any more (the core stopped or failed everything meanwhile).
            if result.is_ok() {
                self.io.push_back(IoAction::Close { conn_id });
            }
            return;
        };
        self.connecting.remove(&node);
        match result {
            Ok(hs) => {
                self.backoff.remove(&node);
                let Some(address) = self.address_of(node) else {
                    self.io.push_back(IoAction::Close { conn_id });
                    return;
                };
                let client_id = Some(self.sh.config.client_id.clone()).filter(|c| !c.is_empty());
                let c = Conn::new(conn_id, address, client_id, hs);
                self.note_connection_features(&c);
                self.conns.insert(node, c);
            }
            Err(e) => {
                tracing::warn!(node, error = %e, "connection failed");
                self.sh.metadata.set_last_error(e.to_string());
                self.note_connect_failure(node, now);
                if e.is_fatal_connect() {
                    // Authentication/TLS failures will not heal by waiting: fail what is pending now
                    // (Java does the same); sends waiting on metadata fail with it until metadata succeeds.
                    self.sh.metadata.set_fatal_connect(e.clone());
                    self.fail_everything(e, now);
                }
                if node < 0 {
                    self.bootstrap_next += 1;
                }
            }
        }
    }

    /// Input: connection `conn_id` is gone (the broker closed it, or writing to it failed).
    pub(crate) fn handle_closed(&mut self, conn_id: u64, reason: String, now: Instant) {
        if let Some(node) = self.node_of(conn_id) {
            self.on_connection_lost(node, reason, now);
        }
    }

    fn node_of(&self, conn_id: u64) -> Option<i32> {
        self.conns.iter().find(|(_, c)| c.id == conn_id).map(|(n, _)| *n)
    }

    /// Drops a connection and fails only what was in flight on it; produce batches are retried.
    fn on_connection_lost(&mut self, node: i32, reason: String, now: Instant) {
        let Some(mut c) = self.close_conn(node) else { return };
        tracing::debug!(node, address = %c.address, %reason, "connection lost");
        self.note_connect_failure(node, now);
        let in_flight: Vec<InFlightRequest> = c.in_flight.drain(..).collect();
        drop(c);
        for req in in_flight {
            self.sh.metrics.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
            match req.kind {
                InFlightKind::Produce { batches, .. } => {
                    for b in batches {
                        self.handle_batch_error(b, ErrorCode::NetworkException, Some(reason.clone()), now);
                    }
                }
                InFlightKind::Metadata => self.metadata_in_flight = false,
                InFlightKind::InitProducerId => {
                    if let Some(i) = &mut self.idem {
                        i.init_in_flight = false;
                    }
                }
                InFlightKind::Txn { id } => self.txn_request_lost(id, &reason, now),
            }
        }
        self.sh.metadata.request_refresh();
    }

    /// Connections whose SASL session is about to end stop taking requests (see `Conn::reauth_at`); the
    /// core wakes up in time for the next one.
    fn mark_reauth_due(&mut self, now: Instant) {
        for c in self.conns.values_mut() {
            match c.reauth_at {
                Some(at) if at <= now => c.draining = true,
                Some(at) => self.timers.set_earliest(Timer::Reauth, at),
                None => {}
            }
        }
    }

    fn check_request_timeouts(&mut self, now: Instant) {
        let timeout = self.sh.config.request_timeout;
        let mut expired = Vec::new();
        for (n, c) in &self.conns {
            if let Some(r) = c.in_flight.front()
                && now.saturating_duration_since(r.sent) >= timeout
            {
                expired.push(*n);
            }
        }
        for node in expired {
            let reason = format!("request timed out after {} ms (request.timeout.ms)", timeout.as_millis());
            self.on_connection_lost(node, reason, now);
        }
    }

    /// Input: one response frame arrived on connection `conn_id` (responses come in request order).
    pub(crate) fn handle_response(&mut self, conn_id: u64, frame: Bytes, now: Instant) {
        let Some(node) = self.node_of(conn_id) else { return };
        let conn = self.conns.get_mut(&node).expect("found above");
        let Some(req) = conn.in_flight.pop_front() else {
            self.on_connection_lost(node, "response without a request".into(), now);
            return;
        };
        self.sh.metrics.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
        let address = conn.address.clone();
        match crate::protocol::response_correlation_id(&frame) {
            Ok(id) if id == req.correlation_id => {}
            other => {
                let reason = match other {
                    Ok(id) => format!("response correlation id {id}, expected {}", req.correlation_id),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(broker = %address, %reason, "response does not match the request in flight");
                // Put it back so it is failed (and retried) with the rest of what was in flight.
                self.conns.get_mut(&node).expect("found above").in_flight.push_front(req);
                self.sh.metrics.requests_in_flight.fetch_add(1, Ordering::Relaxed);
                self.on_connection_lost(node, reason, now);
                return;
            }
        }
        match req.kind {
            InFlightKind::Produce { batches, records, bytes } => {
                self.handle_produce_response(node, &address, req.version, req.sent, batches, records, bytes, frame, now)
            }
            InFlightKind::Metadata => {
                self.metadata_in_flight = false;
                match decode_body::<MetadataResponse>(frame, req.version) {
                    Ok(resp) => self.apply_metadata(resp, now),
                    Err(e) => {
                        tracing::warn!(broker = %address, error = %e, "bad metadata response");
                        self.on_connection_lost(node, e, now);
                    }
                }
            }
            InFlightKind::InitProducerId => match decode_body::<InitProducerIdResponse>(frame, req.version) {
                Ok(resp) => self.apply_init_producer_id(resp, &address, now),
                Err(e) => {
                    if let Some(i) = &mut self.idem {
                        i.init_in_flight = false;
                    }
                    self.on_connection_lost(node, e, now);
                }
            },
            InFlightKind::Txn { id } => self.handle_txn_response(id, req.api_key, req.version, frame, now),
        }
    }

    /// A connected node with the fewest requests in flight, else one to connect to (a known broker or the next
    /// bootstrap address).
    fn least_loaded_node(&mut self, now: Instant) -> Option<i32> {
        if let Some((&n, _)) = self.conns.iter().filter(|(_, c)| !c.draining).min_by_key(|(_, c)| c.in_flight.len()) {
            return Some(n);
        }
        let mut candidates: Vec<i32> = self.cluster.brokers.keys().copied().collect();
        candidates.sort_unstable();
        if candidates.is_empty() && !self.bootstrap.is_empty() {
            let n = self.bootstrap.len();
            candidates = (0..n).map(|i| -(((self.bootstrap_next + i) % n) as i32) - 1).collect();
        }
        for node in candidates {
            if self.ready_connection(node, now).is_some() {
                return Some(node);
            }
            if self.connecting.contains_key(&node) {
                return None;
            }
        }
        None
    }

    // ------------------------------------------------------------------ metadata

    fn maybe_update_metadata(&mut self, now: Instant) {
        if self.metadata_in_flight {
            return;
        }
        let cfg = &self.sh.config;
        let requested = self.sh.metadata.refresh_requested.load(Ordering::Acquire);
        let stale = self.last_metadata_ok.is_none_or(|t| now.saturating_duration_since(t) >= cfg.metadata_max_age);
        let wanted = self.sh.metadata.wanted();
        if wanted.is_empty() && self.last_metadata_ok.is_some() && !requested {
            return;
        }
        if !(requested || stale) {
            return;
        }
        // Do not hammer the cluster: one attempt per retry.backoff.ms.
        if let Some(t) = self.last_metadata_attempt {
            let since = now.saturating_duration_since(t);
            if since < cfg.retry_backoff {
                self.timers.set_earliest(Timer::Metadata, t + cfg.retry_backoff);
                return;
            }
        }
        let Some(node) = self.least_loaded_node(now) else { return };
        let conn = self.conns.get_mut(&node).expect("least_loaded_node returned a connected node");
        let Some(version) = conn.versions.get(ApiKey::Metadata) else { return };
        let topics: Vec<Arc<str>> = wanted.into_iter().collect();
        let req = MetadataRequest {
            topics: Some(
                topics.iter().map(|t| MetadataRequestTopic { topic_id: [0; 16], name: Some(t.to_string()) }).collect(),
            ),
            allow_auto_topic_creation: true,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: false,
        };
        self.sh.metadata.refresh_requested.store(false, Ordering::Release);
        self.last_metadata_attempt = Some(now);
        match conn.send(version, &req, 64 + topics.len() * 32) {
            Ok((correlation_id, _)) => {
                conn.in_flight.push_back(InFlightRequest {
                    correlation_id,
                    api_key: ApiKey::Metadata,
                    version,
                    sent: now,
                    kind: InFlightKind::Metadata,
                });
                self.sh.metrics.requests_in_flight.fetch_add(1, Ordering::Relaxed);
                self.metadata_in_flight = true;
            }
            Err(e) => self.on_connection_lost(node, format!("encoding Metadata: {e}"), now),
        }
    }

    fn apply_metadata(&mut self, resp: MetadataResponse, now: Instant) {
        let brokers: Vec<BrokerInfo> =
            resp.brokers.iter().map(|b| BrokerInfo { id: b.node_id, host: b.host.clone(), port: b.port }).collect();
        let mut topics = Vec::new();
        let mut retry_soon = false;
        for t in resp.topics {
            let Some(name) = t.name else { continue };
            let mut partitions: Vec<PartitionInfo> = Vec::with_capacity(t.partitions.len());
            if t.error_code.is_ok() {
                let n = t.partitions.iter().map(|p| p.partition_index + 1).max().unwrap_or(0).max(0) as usize;
                partitions =
                    (0..n as i32).map(|p| PartitionInfo { partition: p, leader: -1, leader_epoch: -1 }).collect();
                for p in &t.partitions {
                    if p.partition_index >= 0 {
                        partitions[p.partition_index as usize] = PartitionInfo {
                            partition: p.partition_index,
                            leader: p.leader_id,
                            leader_epoch: p.leader_epoch,
                        };
                    }
                }
            } else {
                // Auto-creation in progress (LEADER_NOT_AVAILABLE) or unknown topic: ask again soon.
                retry_soon = true;
                tracing::debug!(topic = %name, error = %t.error_code, "metadata topic error");
            }
            let available = partitions.iter().filter(|p| p.leader >= 0).map(|p| p.partition as u32).collect();
            if partitions.iter().any(|p| p.leader < 0) {
                retry_soon = true;
            }
            topics.push(TopicInfo { name: Arc::from(name.as_str()), partitions, available, error: t.error_code });
        }
        let fresh = Cluster::new(brokers, topics, resp.cluster_id, Some(now));
        let merged = self.cluster.merged_with(fresh, &self.sh.metadata.wanted());
        self.cluster = Arc::new(merged.clone());
        self.sh.metadata.set(merged);
        self.last_metadata_ok = Some(now);
        if retry_soon {
            self.sh.metadata.request_refresh();
        }
        // Connections to brokers that left the cluster are closed (bootstrap ones too, once real ids are known).
        let gone: Vec<i32> = self
            .conns
            .keys()
            .copied()
            .filter(|n| {
                (*n < 0 && !self.cluster.brokers.is_empty()) || (*n >= 0 && !self.cluster.brokers.contains_key(n))
            })
            .filter(|n| self.conns[n].in_flight.is_empty())
            .collect();
        for n in gone {
            self.close_conn(n);
        }
    }

    // ------------------------------------------------------------------ idempotence

    fn maybe_init_producer_id(&mut self, now: Instant) {
        let Some(idem) = &self.idem else { return };
        if self.sh.txn.is_some() {
            // A transactional producer gets its id and epoch bumps from its coordinator (transactional.rs).
            return;
        }
        if idem.init_in_flight || (idem.producer_id >= 0 && !idem.bump_needed) {
            return;
        }
        // An epoch bump waits until nothing is in flight, so no old-epoch batch is pending at the broker.
        if idem.bump_needed && self.conns.values().any(|c| c.in_flight.iter().any(|r| r.api_key == ApiKey::Produce)) {
            return;
        }
        // As Java's `bumpIdempotentProducerEpoch`: an idempotent producer bumps its epoch itself, keeping its id.
        // A request the client gave up on (timed out) may still reach a broker later; under the same id with a
        // higher epoch the broker fences it (INVALID_PRODUCER_EPOCH) once the new epoch is written there, whereas
        // a new producer id (what InitProducerId gives an idempotent producer) would let it land behind newer
        // records. A new id only when the epoch would overflow.
        if idem.bump_needed && idem.producer_id >= 0 && idem.epoch < i16::MAX - 1 {
            let (pid, epoch) = (idem.producer_id, idem.epoch + 1);
            tracing::debug!(producer_id = pid, epoch, "producer epoch bumped");
            self.adopt_producer_id(pid, epoch, now);
            return;
        }
        if let Some(at) = self.init_retry_at
            && at > now
        {
            self.timers.set_earliest(Timer::InitProducerId, at);
            return;
        }
        let Some(node) = self.least_loaded_node(now) else { return };
        let conn = self.conns.get_mut(&node).expect("connected");
        let Some(version) = conn.versions.get(ApiKey::InitProducerId) else {
            self.sh.shutdown.fail(ProducerError::Fatal(
                format!("broker {} does not support InitProducerId; set enable.idempotence=false", conn.address).into(),
            ));
            return;
        };
        let idem = self.idem.as_mut().expect("checked");
        let bump = idem.bump_needed && idem.producer_id >= 0 && version >= 3;
        let req = InitProducerIdRequest {
            transactional_id: self.sh.config.transactional_id.clone(),
            transaction_timeout_ms: self.sh.config.transaction_timeout.as_millis() as i32,
            producer_id: if bump { idem.producer_id } else { -1 },
            producer_epoch: if bump { idem.epoch } else { -1 },
        };
        match conn.send(version, &req, 64) {
            Ok((correlation_id, _)) => {
                conn.in_flight.push_back(InFlightRequest {
                    correlation_id,
                    api_key: ApiKey::InitProducerId,
                    version,
                    sent: now,
                    kind: InFlightKind::InitProducerId,
                });
                self.sh.metrics.requests_in_flight.fetch_add(1, Ordering::Relaxed);
                idem.init_in_flight = true;
            }
            Err(e) => self.on_connection_lost(node, format!("encoding InitProducerId: {e}"), now),
        }
    }

    fn apply_init_producer_id(&mut self, resp: InitProducerIdResponse, address: &str, now: Instant) {
        let Some(idem) = &mut self.idem else { return };
        idem.init_in_flight = false;
        if resp.error_code.is_ok() {
            tracing::debug!(producer_id = resp.producer_id, epoch = resp.producer_epoch, "producer id assigned");
            self.init_retry_at = None;
            self.adopt_producer_id(resp.producer_id, resp.producer_epoch, now);
        } else if resp.error_code.is_retriable() || resp.error_code == ErrorCode::CoordinatorLoadInProgress {
            self.init_retry_at = Some(now + self.sh.config.retry_backoff);
        } else {
            self.sh.shutdown.fail(ProducerError::Fatal(
                format!("InitProducerId failed on broker {address}: {}", resp.error_code).into(),
            ));
        }
    }

    /// Installs a new producer id and epoch (first init or bump). A queued batch of the old epoch whose outcome is
    /// unknown cannot be re-stamped: under the new epoch the broker could not recognise it as a duplicate of an
    /// attempt it may already hold. Such batches fail, saying so; the others restart their sequences.
    pub(super) fn adopt_producer_id(&mut self, producer_id: i64, epoch: i16, now: Instant) {
        let Some(idem) = &mut self.idem else { return };
        let old = (idem.producer_id, idem.epoch);
        let old_partitions = std::mem::take(&mut idem.partitions);
        idem.reset(producer_id, epoch);
        if old.0 < 0 {
            return;
        }
        // Also a batch the broker already saw overtaken by a later one of its partition: under the new epoch it
        // would land behind those records.
        let overtaken = |b: &ProducerBatch, seq: i32| old_partitions.get(&b.tp).is_some_and(|p| p.acked_after(seq));
        let stale = self.sh.acc.remove_where(|b| match b.stamped {
            Some((pid, e, seq)) if (pid, e) == old => b.maybe_appended || overtaken(b, seq),
            _ => false,
        });
        for b in stale {
            let why = if b.maybe_appended {
                "its earlier attempt had no answer (it may be in the log); not re-sent under the new epoch, so it is \
                 not written twice"
            } else {
                "a later batch of this partition is already in the log; re-sending this one would reorder the \
                 partition"
            };
            let err = ProducerError::Broker {
                topic_partition: b.tp.clone(),
                code: ErrorCode::OutOfOrderSequenceNumber,
                message: Some(format!("the producer epoch was bumped and {why} ({} attempts)", b.attempts)),
            };
            self.fail_batch(b, err, now);
        }
    }

    /// Feeds the built-in partitioner's adaptive mode (KIP-794) with per-partition queue depths, as Java's `ready()`
    /// does — at most every 20 ms, since it walks every partition.
    fn maybe_update_partitioner_stats(&mut self, now: Instant) {
        let shared::ActivePartitioner::BuiltIn(b) = &self.sh.partitioner else { return };
        if !self.sh.config.partitioner_adaptive_partitioning_enable
            || self.last_load_stats.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_millis(20))
        {
            return;
        }
        self.last_load_stats = Some(now);
        for t in self.sh.acc.topics() {
            let sizes = self.sh.acc.queue_sizes(&t);
            // Partitions without a leader are left out, so the partitioner avoids them.
            let ids: Vec<u32> =
                (0..t.num_partitions()).filter(|p| self.cluster.leader(&t.name, *p as i32).is_some()).collect();
            let sizes: Vec<u32> = ids.iter().map(|p| sizes[*p as usize]).collect();
            b.update_load_stats(&t.name, t.num_partitions(), &sizes, &ids);
        }
    }

    // ------------------------------------------------------------------ expiry and completion

    fn expire_batches(&mut self, now: Instant) {
        let expired = self.sh.acc.expired_batches(now);
        for b in expired {
            let err = self.timeout_error(&b, now);
            self.fail_batch(b, err, now);
        }
    }

    fn timeout_error(&self, b: &ProducerBatch, now: Instant) -> ProducerError {
        ProducerError::DeliveryTimeout {
            topic_partition: b.tp.clone(),
            records: b.record_count(),
            elapsed_ms: now.saturating_duration_since(b.created).as_millis() as u64,
            delivery_timeout_ms: self.sh.config.delivery_timeout.as_millis() as u64,
        }
    }

    /// Fails everything queued and in flight (abort or fatal error).
    fn fail_everything(&mut self, err: ProducerError, now: Instant) {
        for b in self.sh.acc.drain_all() {
            self.fail_batch(b, err.clone(), now);
        }
        let conns: Vec<Conn> = std::mem::take(&mut self.conns).into_values().collect();
        for mut c in conns {
            self.io.push_back(IoAction::Close { conn_id: c.id });
            for req in c.in_flight.drain(..) {
                self.sh.metrics.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
                match req.kind {
                    InFlightKind::Produce { batches, .. } => {
                        for b in batches {
                            self.fail_batch(b, err.clone(), now);
                        }
                    }
                    InFlightKind::Txn { id } => self.txn_request_lost(id, "producer failed", now),
                    InFlightKind::Metadata => self.metadata_in_flight = false,
                    InFlightKind::InitProducerId => {
                        if let Some(i) = &mut self.idem {
                            i.init_in_flight = false;
                        }
                    }
                }
            }
        }
    }

    fn fail_batch(&mut self, batch: ProducerBatch, err: ProducerError, now: Instant) {
        if let Some(idem) = &mut self.idem
            && idem.is_current(&batch)
        {
            // The broker may or may not hold this sequence: later batches cannot be ordered after it. Bump.
            idem.on_response(&batch);
            idem.bump_needed = true;
        }
        if let Some(t) = &self.sh.txn {
            t.lock().on_batch_failed(&err);
        }
        produce::complete_batch(&self.sh, batch, Err(err), now, self.guarantee_order);
    }
}

/// Exponential backoff with ±20% jitter, as Java's `ExponentialBackoff` (multiplier 2).
pub(crate) fn exp_backoff(base: Duration, max: Duration, attempts: u32, rng: &mut impl Rng) -> Duration {
    let exp = base.as_secs_f64() * 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
    let capped = exp.min(max.as_secs_f64().max(base.as_secs_f64()));
    let jitter = rng.gen_range(0.8..1.2);
    Duration::from_secs_f64(capped * jitter)
}

/// Partitions a set of batches by topic, keeping the first-seen topic order (for one ProduceRequest).
pub(crate) fn group_by_topic(batches: &[ProducerBatch]) -> Vec<(Arc<str>, Vec<usize>)> {
    let mut order: Vec<(Arc<str>, Vec<usize>)> = Vec::new();
    let mut idx: HashMap<&str, usize> = HashMap::new();
    for (i, b) in batches.iter().enumerate() {
        match idx.get(&*b.tp.topic) {
            Some(&j) => order[j].1.push(i),
            None => {
                idx.insert(&b.tp.topic, order.len());
                order.push((b.tp.topic.clone(), vec![i]));
            }
        }
    }
    order
}

/// Decodes a response frame's body (header, version and trailing-byte checks in `protocol::frame`).
pub(crate) fn decode_body<T: Decode + ApiMessage>(frame: Bytes, version: i16) -> Result<T, String> {
    crate::protocol::decode_response::<T>(frame, version).map(|(_, body)| body).map_err(|e| e.to_string())
}
