//! The sender: the one tokio task per producer. It owns the connections, refreshes metadata, asks the accumulator
//! which nodes are ready, drains one ProduceRequest per broker carrying one batch from each of many partitions,
//! and turns responses into batch completions, retries or failures — Java's `Sender.runOnce`.
//!
//! ```text
//!  loop: metadata? ─► producer id? ─► expire ─► request timeouts ─► ready() ─► drain() per node ─► send
//!        └──────────── wait for: a response | a wakeup (new/full batch, flush, close) | the next deadline ◄──┘
//! ```

mod idempotence;
mod produce;
mod transactional;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::mpsc;

pub use idempotence::Idempotence;

use crate::producer::accumulator::{LeaderView, ProducerBatch};
use crate::producer::client::Shared;
use crate::producer::connection::{self, ConnEvent, ConnectSettings, Connection, InFlight, InFlightKind};
use crate::producer::error::ProducerError;
use crate::producer::metadata::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
use crate::protocol::error::ErrorCode;
use crate::protocol::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::protocol::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use crate::protocol::versions::ApiKey;

/// Longest the loop sleeps without a reason, so age-based checks (metadata age, timeouts) run.
const MAX_IDLE: Duration = Duration::from_millis(100);

/// Per-node reconnect state.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    next_attempt: Instant,
    failures: u32,
}

pub(crate) struct Sender {
    sh: Arc<Shared>,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    events_rx: mpsc::UnboundedReceiver<ConnEvent>,
    conns: HashMap<i32, Connection>,
    connecting: HashSet<i32>,
    backoff: HashMap<i32, Backoff>,
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
    coordinator_addresses: HashMap<i32, String>,
    /// A commit or abort made every batch sendable (`begin_flush`); undone when it completes.
    txn_flushing: bool,
}

/// Runs the sender until the producer closes (everything completed) or aborts (everything failed).
pub(crate) async fn run(sh: Arc<Shared>) {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let idem = sh
        .config
        .enable_idempotence
        .then(|| Idempotence { transactional: sh.config.transactional_id.is_some(), ..Idempotence::default() });
    let mut s = Sender {
        guarantee_order: sh.config.max_in_flight == 1 && idem.is_none(),
        bootstrap: sh.config.bootstrap_servers.clone(),
        sh,
        events_tx,
        events_rx,
        conns: HashMap::new(),
        connecting: HashSet::new(),
        backoff: HashMap::new(),
        next_conn_id: 1,
        bootstrap_next: 0,
        cluster: Arc::new(Cluster::default()),
        metadata_in_flight: false,
        last_metadata_ok: None,
        last_metadata_attempt: None,
        idem,
        init_retry_at: None,
        last_load_stats: None,
        coordinator_addresses: HashMap::new(),
        txn_flushing: false,
    };
    s.run().await;
}

impl Sender {
    async fn run(&mut self) {
        loop {
            let now = Instant::now();
            if self.sh.abort.load(Ordering::Acquire) {
                self.fail_everything(ProducerError::Aborted { reason: "close timed out or producer dropped".into() });
                break;
            }
            if let Some(e) = self.sh.fatal.get().cloned() {
                self.fail_everything(e);
                if self.sh.closed.load(Ordering::Acquire) {
                    break;
                }
            }
            if self.sh.acc.is_closing() && !self.sh.acc.has_incomplete() && self.txn_idle() {
                break;
            }
            let mut next = MAX_IDLE;
            self.maybe_update_metadata(now, &mut next);
            self.maybe_init_producer_id(now, &mut next);
            self.expire_batches(now);
            self.check_request_timeouts(now);
            self.mark_reauth_due(now, &mut next);
            // As Java: while a transactional request is in flight, no produce request goes out.
            let txn_busy = self.sh.txn.is_some() && self.maybe_send_transactional(now, &mut next);
            if !txn_busy {
                self.send_produce_requests(now, &mut next);
            }
            self.maybe_update_partitioner_stats(now);
            let wakeup = self.sh.wakeup.notified();
            tokio::select! {
                biased;
                ev = self.events_rx.recv() => {
                    if let Some(ev) = ev { self.handle_event(ev); }
                    while let Ok(ev) = self.events_rx.try_recv() {
                        self.handle_event(ev);
                    }
                }
                _ = wakeup => {}
                _ = tokio::time::sleep(next) => {}
            }
        }
        self.conns.clear();
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

    /// The connection to `node` if it is up; otherwise starts connecting (respecting the reconnect backoff).
    fn ready_connection(&mut self, node: i32, now: Instant) -> Option<&mut Connection> {
        if self.conns.get(&node).is_some_and(|c| c.is_closed()) {
            self.on_connection_lost(node, "writer stopped".into(), now);
        }
        if let Some(c) = self.conns.get(&node)
            && c.draining
        {
            if !c.in_flight.is_empty() {
                return None;
            }
            // Re-authentication (KIP-368): the drained connection is replaced by a fresh, authenticated one.
            tracing::debug!(node, address = %c.address, "SASL session ending: reconnecting to re-authenticate");
            self.conns.remove(&node);
        }
        if self.conns.contains_key(&node) {
            return self.conns.get_mut(&node);
        }
        if self.connecting.contains(&node) {
            return None;
        }
        if let Some(b) = self.backoff.get(&node)
            && b.next_attempt > now
        {
            return None;
        }
        let address = self.address_of(node)?;
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        self.connecting.insert(node);
        let settings = ConnectSettings {
            client_id: Some(self.sh.config.client_id.clone()).filter(|c| !c.is_empty()),
            connect_timeout: self.sh.config.request_timeout.min(Duration::from_secs(10)),
            request_timeout: self.sh.config.request_timeout,
            tls: self.sh.tls.clone(),
            sasl: self.sh.sasl.clone(),
        };
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let result = connection::connect(id, node, address, settings, events.clone()).await;
            let _ = events.send(ConnEvent::Connected { node, result });
        });
        None
    }

    fn note_connect_failure(&mut self, node: i32, now: Instant) {
        let cfg = &self.sh.config;
        let b = self.backoff.entry(node).or_insert(Backoff { next_attempt: now, failures: 0 });
        b.failures += 1;
        let delay = exp_backoff(cfg.reconnect_backoff, cfg.reconnect_backoff_max, b.failures);
        b.next_attempt = now + delay;
    }

    fn handle_event(&mut self, ev: ConnEvent) {
        let now = Instant::now();
        match ev {
            ConnEvent::Connected { node, result } => {
                self.connecting.remove(&node);
                match result {
                    Ok(c) => {
                        self.backoff.remove(&node);
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
                            self.fail_everything(e);
                        }
                        if node < 0 {
                            self.bootstrap_next += 1;
                        }
                    }
                }
            }
            ConnEvent::Response { conn_id, frame } => self.handle_response(conn_id, frame, now),
            ConnEvent::Closed { conn_id, reason } => {
                if let Some(node) = self.conns.iter().find(|(_, c)| c.id == conn_id).map(|(n, _)| *n) {
                    self.on_connection_lost(node, reason, now);
                }
            }
        }
    }

    /// Drops a connection and fails only what was in flight on it; produce batches are retried.
    fn on_connection_lost(&mut self, node: i32, reason: String, now: Instant) {
        let Some(mut c) = self.conns.remove(&node) else { return };
        tracing::debug!(node, address = %c.address, %reason, "connection lost");
        self.note_connect_failure(node, now);
        let in_flight: Vec<InFlight> = c.in_flight.drain(..).collect();
        drop(c);
        for req in in_flight {
            self.sh.metrics.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
            match req.kind {
                InFlightKind::Produce { batches, .. } => {
                    for b in batches {
                        self.handle_batch_error(b, ErrorCode::NetworkException, Some(reason.clone()), now);
                    }
                }
                InFlightKind::Metadata { .. } => self.metadata_in_flight = false,
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

    /// Connections whose SASL session is about to end stop taking requests (see `Connection::reauth_at`); the
    /// loop wakes up in time for the next one.
    fn mark_reauth_due(&mut self, now: Instant, next: &mut Duration) {
        for c in self.conns.values_mut() {
            match c.reauth_at {
                Some(at) if at <= now => c.draining = true,
                Some(at) => *next = (*next).min(at - now),
                None => {}
            }
        }
    }

    fn check_request_timeouts(&mut self, now: Instant) {
        let timeout = self.sh.config.request_timeout;
        let expired: Vec<i32> = self
            .conns
            .iter()
            .filter(|(_, c)| c.in_flight.front().is_some_and(|r| now.saturating_duration_since(r.sent) >= timeout))
            .map(|(n, _)| *n)
            .collect();
        for node in expired {
            let reason = format!("request timed out after {} ms (request.timeout.ms)", timeout.as_millis());
            self.on_connection_lost(node, reason, now);
        }
    }

    fn handle_response(&mut self, conn_id: u64, frame: bytes::Bytes, now: Instant) {
        let Some(node) = self.conns.iter().find(|(_, c)| c.id == conn_id).map(|(n, _)| *n) else { return };
        let conn = self.conns.get_mut(&node).expect("found above");
        let Some(req) = conn.in_flight.pop_front() else {
            self.on_connection_lost(node, "response without a request".into(), now);
            return;
        };
        self.sh.metrics.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
        let address = conn.address.clone();
        match req.kind {
            InFlightKind::Produce { batches, records, bytes } => self.handle_produce_response(
                node,
                &address,
                req.correlation_id,
                req.version,
                req.sent,
                batches,
                records,
                bytes,
                frame,
                now,
            ),
            InFlightKind::Metadata { .. } => {
                self.metadata_in_flight = false;
                match connection::decode_response::<MetadataResponse>(frame, ApiKey::Metadata, req.version) {
                    Ok((_, resp)) => self.apply_metadata(resp, now),
                    Err(e) => {
                        tracing::warn!(broker = %address, error = %e, "bad metadata response");
                        self.on_connection_lost(node, e, now);
                    }
                }
            }
            InFlightKind::InitProducerId => {
                match connection::decode_response::<InitProducerIdResponse>(frame, ApiKey::InitProducerId, req.version)
                {
                    Ok((_, resp)) => self.apply_init_producer_id(resp, &address, now),
                    Err(e) => {
                        if let Some(i) = &mut self.idem {
                            i.init_in_flight = false;
                        }
                        self.on_connection_lost(node, e, now);
                    }
                }
            }
            InFlightKind::Txn { id } => self.handle_txn_response(id, req.api_key, req.version, frame, now),
        }
    }

    /// A connected node with the fewest requests in flight, else one to connect to (a known broker or the next
    /// bootstrap address).
    fn least_loaded_node(&mut self, now: Instant) -> Option<i32> {
        if let Some((&n, _)) =
            self.conns.iter().filter(|(_, c)| !c.is_closed() && !c.draining).min_by_key(|(_, c)| c.in_flight.len())
        {
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
            if self.connecting.contains(&node) {
                return None;
            }
        }
        None
    }

    // ------------------------------------------------------------------ metadata

    fn maybe_update_metadata(&mut self, now: Instant, next: &mut Duration) {
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
                *next = (*next).min(cfg.retry_backoff - since);
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
        match conn.send(ApiKey::Metadata, version, &req, 64 + topics.len() * 32) {
            Ok((correlation_id, _)) => {
                conn.in_flight.push_back(InFlight {
                    correlation_id,
                    api_key: ApiKey::Metadata,
                    version,
                    sent: now,
                    kind: InFlightKind::Metadata { topics },
                });
                self.sh.metrics.requests_in_flight.fetch_add(1, Ordering::Relaxed);
                self.metadata_in_flight = true;
            }
            Err(_) => self.on_connection_lost(node, "writer stopped".into(), now),
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
            self.conns.remove(&n);
        }
    }

    // ------------------------------------------------------------------ idempotence

    fn maybe_init_producer_id(&mut self, now: Instant, next: &mut Duration) {
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
        if let Some(at) = self.init_retry_at
            && at > now
        {
            *next = (*next).min(at - now);
            return;
        }
        let Some(node) = self.least_loaded_node(now) else { return };
        let conn = self.conns.get_mut(&node).expect("connected");
        let Some(version) = conn.versions.get(ApiKey::InitProducerId) else {
            let _ = self.sh.fatal.set(ProducerError::Fatal(
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
        match conn.send(ApiKey::InitProducerId, version, &req, 64) {
            Ok((correlation_id, _)) => {
                conn.in_flight.push_back(InFlight {
                    correlation_id,
                    api_key: ApiKey::InitProducerId,
                    version,
                    sent: now,
                    kind: InFlightKind::InitProducerId,
                });
                self.sh.metrics.requests_in_flight.fetch_add(1, Ordering::Relaxed);
                idem.init_in_flight = true;
            }
            Err(_) => self.on_connection_lost(node, "writer stopped".into(), now),
        }
    }

    fn apply_init_producer_id(&mut self, resp: InitProducerIdResponse, address: &str, now: Instant) {
        let Some(idem) = &mut self.idem else { return };
        idem.init_in_flight = false;
        if resp.error_code.is_ok() {
            tracing::debug!(producer_id = resp.producer_id, epoch = resp.producer_epoch, "producer id assigned");
            idem.reset(resp.producer_id, resp.producer_epoch);
            self.init_retry_at = None;
        } else if resp.error_code.is_retriable() || resp.error_code == ErrorCode::CoordinatorLoadInProgress {
            self.init_retry_at = Some(now + self.sh.config.retry_backoff);
        } else {
            let _ = self.sh.fatal.set(ProducerError::Fatal(
                format!("InitProducerId failed on broker {address}: {}", resp.error_code).into(),
            ));
        }
    }

    /// Feeds the built-in partitioner's adaptive mode (KIP-794) with per-partition queue depths, as Java's `ready()`
    /// does — at most every 20 ms, since it walks every partition.
    fn maybe_update_partitioner_stats(&mut self, now: Instant) {
        let crate::producer::client::PartitionerChoice::BuiltIn(b) = &self.sh.partitioner else { return };
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
            topic_partition: b.tp.to_string(),
            records: b.record_count(),
            elapsed_ms: now.saturating_duration_since(b.created).as_millis() as u64,
            delivery_timeout_ms: self.sh.config.delivery_timeout.as_millis() as u64,
        }
    }

    /// Fails everything queued and in flight (abort or fatal error).
    fn fail_everything(&mut self, err: ProducerError) {
        let now = Instant::now();
        for b in self.sh.acc.drain_all() {
            self.fail_batch(b, err.clone(), now);
        }
        let conns: Vec<Connection> = self.conns.drain().map(|(_, c)| c).collect();
        for mut c in conns {
            for req in c.in_flight.drain(..) {
                self.sh.metrics.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
                match req.kind {
                    InFlightKind::Produce { batches, .. } => {
                        for b in batches {
                            self.fail_batch(b, err.clone(), now);
                        }
                    }
                    InFlightKind::Txn { id } => self.txn_request_lost(id, "producer failed", now),
                    _ => {}
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
pub(crate) fn exp_backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    let exp = base.as_secs_f64() * 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
    let capped = exp.min(max.as_secs_f64().max(base.as_secs_f64()));
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for _ in 0..100 {
            let b1 = exp_backoff(base, max, 1);
            assert!(b1 >= Duration::from_millis(80) && b1 <= Duration::from_millis(120), "{b1:?}");
            let b3 = exp_backoff(base, max, 3);
            assert!(b3 >= Duration::from_millis(320) && b3 <= Duration::from_millis(480), "{b3:?}");
            let b10 = exp_backoff(base, max, 10);
            assert!(b10 <= Duration::from_millis(1200), "{b10:?}");
        }
    }
}
