//! An in-process mock Kafka cluster: N brokers on 127.0.0.1 listeners, one shared state, the real
//! wire protocol (the crate's own codec), real produce semantics (validation, offsets, idempotent
//! sequences) and scriptable faults.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kprod_mock::{MockCluster, StorageMode, Validation};
//! let cluster = MockCluster::builder()
//!     .brokers(3)
//!     .default_partitions(4)
//!     .mode(StorageMode::Retain { max_bytes: 64 << 20 })
//!     .validate(Validation::Full)
//!     .start()
//!     .await?;
//! println!("bootstrap.servers={}", cluster.bootstrap());
//! // ... produce with any client, then:
//! let records = cluster.state().records("topic", 0)?;
//! cluster.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Files: `server` (tokio: listener, connections, timing), [`handler`] (sans-IO dispatch), one
//! file per API group (`api_versions`, `metadata`, `produce`, `init_producer_id`,
//! `find_coordinator`, `fetch`, `list_offsets`, `txn_api` for the four transaction APIs: private;
//! [`sasl`] for both SASL APIs and the session),
//! [`txn`] (the transaction coordinator), [`log`] (partition log and append path),
//! [`idempotence`] (producer sequence state), [`state`] (shared cluster state), [`faults`],
//! [`tls`] (optional TLS listeners, generated CA, mutual TLS).
//!
//! # References
//! - franz-go's `pkg/kfake` (one file per API, each stating its versions and behaviour).
//! - tokio-rs/mini-redis `server::run(listener, shutdown)`.

#![warn(missing_docs, unreachable_pub)]

use kprod_proto::{protocol, record, security};

mod api_versions;
pub mod faults;
mod fetch;
mod find_coordinator;
pub mod handler;
pub mod idempotence;
mod init_producer_id;
mod list_offsets;
pub mod log;
mod metadata;
mod produce;
pub mod sasl;
mod server;
pub mod state;
pub mod tls;
pub mod txn;
mod txn_api;

pub use faults::{
    CoordinatorKind, CoordinatorMove, DropPoint, ErrorTarget, FaultError, FaultPlan, Faults, Latency, TxnApi,
    TxnErrorFault,
};
pub use handler::{Handled, Outcome, handle_frame};
pub use log::{AbortedTxn, StorageMode, StoredBatch, Validation};
pub use sasl::{BrokerSasl, Session};
pub use state::{ClusterConfig, ClusterState, StatsSnapshot, StoredRecord, TopicError};
pub use tls::{CertificateAuthority, MockTls, TlsIdentity};

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why a cluster (or one broker) could not start.
///
/// ```
/// use kprod_mock::{BrokerError, MockCluster};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut cluster = MockCluster::builder().start().await?;
/// let e = cluster.stop_broker(7).await.unwrap_err();
/// assert!(matches!(e, BrokerError::UnknownBroker { broker: 7, brokers: 1 }), "{e}");
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A listener could not bind its address (port taken, no permission).
    #[error("cannot listen on {addr} for broker {broker}: {source}")]
    Bind {
        /// The broker's node id.
        broker: i32,
        /// The address it tried.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A builder setting was refused (no brokers, a bad SASL user...); the text says which.
    #[error("invalid mock cluster config: {0}")]
    Config(String),
    /// A broker id outside the cluster.
    #[error("unknown broker {broker} (the cluster has {brokers})")]
    UnknownBroker {
        /// The id given.
        broker: i32,
        /// How many brokers the cluster has.
        brokers: usize,
    },
    /// A fault of a [`FaultPlan`] was refused.
    #[error(transparent)]
    Fault(#[from] FaultError),
}

/// Builds a [`MockCluster`].
///
/// ```
/// use kprod_mock::{MockCluster, StorageMode};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = MockCluster::builder()
///     .brokers(2)
///     .default_partitions(3)
///     .mode(StorageMode::Sink)
///     .auto_create_topics(false)
///     .start()
///     .await?;
/// assert_eq!(cluster.addresses().len(), 2);
/// assert_eq!(cluster.state().config.default_partitions, 3);
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MockClusterBuilder {
    config: ClusterConfig,
    /// Port of broker 0; brokers 1.. take the next ports. 0 = any free port for every broker.
    first_port: u16,
    /// Serve TLS instead of PLAINTEXT on every listener.
    tls: Option<MockTls>,
    /// Settings refused by a builder method, reported by `start`.
    invalid: Vec<String>,
}

impl MockClusterBuilder {
    /// Number of brokers (node ids `0..n`; default 1).
    pub fn brokers(mut self, n: usize) -> Self {
        self.config.brokers = n;
        self
    }
    /// Partitions of an auto-created topic (default 1).
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.config.default_partitions = n;
        self
    }
    /// Keep appended batches ([`StorageMode::Retain`]) or only count them ([`StorageMode::Sink`]).
    pub fn mode(mut self, mode: StorageMode) -> Self {
        self.config.mode = mode;
        self
    }
    /// How much of each produced batch is checked (default [`Validation::Crc`]).
    pub fn validate(mut self, v: Validation) -> Self {
        self.config.validation = v;
        self
    }
    /// Create unknown topics on Metadata and Produce (default on).
    pub fn auto_create_topics(mut self, on: bool) -> Self {
        self.config.auto_create_topics = on;
        self
    }
    /// Largest request frame accepted, in bytes (Kafka's `socket.request.max.bytes`).
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.config.max_frame_bytes = n;
        self
    }
    /// Port of broker 0 (brokers 1.. use the following ports); 0 picks free ports.
    pub fn port(mut self, first_port: u16) -> Self {
        self.first_port = first_port;
        self
    }
    /// Serves TLS on every listener ([`MockTls::generated`]: a fresh CA, see [`MockCluster::tls_ca_pem`]).
    pub fn tls(mut self, tls: MockTls) -> Self {
        self.tls = Some(tls);
        self
    }
    /// Requires SASL with these mechanisms (Kafka's `sasl.enabled.mechanisms`); users come from
    /// [`sasl_user`](Self::sasl_user).
    pub fn sasl_mechanisms(mut self, mechanisms: &[crate::security::SaslMechanism]) -> Self {
        self.config.sasl.get_or_insert_with(BrokerSasl::default).mechanisms = mechanisms.to_vec();
        self
    }
    /// Requires SASL (every mechanism enabled unless [`sasl_mechanisms`](Self::sasl_mechanisms) says otherwise)
    /// and accepts this user. Its SCRAM credentials are derived here (4096 iterations, random salt).
    pub fn sasl_user(mut self, name: &str, password: &str) -> Self {
        let sasl = self.config.sasl.get_or_insert_with(BrokerSasl::default);
        if let Err(e) = sasl.add_user(name, &crate::security::Secret::from(password)) {
            self.invalid.push(format!("SASL user '{name}': {e}"));
        }
        self
    }
    /// Kafka's `connections.max.reauth.ms`: clients must re-authenticate within this lifetime (requires SASL).
    pub fn reauth_ms(mut self, ms: u64) -> Self {
        self.config.sasl.get_or_insert_with(BrokerSasl::default).reauth = Some(std::time::Duration::from_millis(ms));
        self
    }
    /// Replaces the whole config.
    pub fn config(mut self, config: ClusterConfig) -> Self {
        self.config = config;
        self
    }

    /// Binds every listener and starts serving.
    pub async fn start(self) -> Result<MockCluster, BrokerError> {
        if let Some(e) = self.invalid.first() {
            return Err(BrokerError::Config(e.clone()));
        }
        let c = &self.config;
        if c.brokers == 0 || c.brokers > 1000 {
            return Err(BrokerError::Config(format!("brokers must be 1..=1000, got {}", c.brokers)));
        }
        if !(1..=state::PARTITIONS_MAX).contains(&c.default_partitions) {
            return Err(BrokerError::Config(format!("default_partitions must be >= 1, got {}", c.default_partitions)));
        }
        let tls = self.tls.as_ref().map(MockTls::build).transpose()?;
        let mut listeners = Vec::with_capacity(c.brokers);
        for i in 0..c.brokers {
            let port = if self.first_port == 0 {
                0
            } else {
                u16::try_from(self.first_port as usize + i)
                    .map_err(|_| BrokerError::Config(format!("port {} + {i} is past 65535", self.first_port)))?
            };
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            listeners.push(bind(i as i32, addr)?);
        }
        let addresses = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                l.local_addr().map_err(|source| BrokerError::Bind {
                    broker: i as i32,
                    addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let state = Arc::new(ClusterState::new(self.config, addresses));
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        let brokers = listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| Some(spawn(l, state.clone(), i as i32, acceptor.clone())))
            .collect();
        Ok(MockCluster { faults: Faults::new(state.clone()), state, brokers, tls })
    }
}

fn bind(broker: i32, addr: SocketAddr) -> Result<TcpListener, BrokerError> {
    let err = |source| BrokerError::Bind { broker, addr, source };
    let socket = TcpSocket::new_v4().map_err(err)?;
    // A restarted broker must get its port back while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket.listen(1024).map_err(err)
}

/// A running broker task and the switch that stops it.
#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn spawn(listener: TcpListener, state: Arc<ClusterState>, id: i32, tls: Option<tokio_rustls::TlsAcceptor>) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server::run_with_tls(listener, state, id, tls, async move {
        // Completes on an explicit stop and when the cluster handle is dropped.
        let _ = stopped.await;
    }));
    Running { stop, task }
}

/// A running mock cluster. Dropping it stops the brokers (without waiting); prefer [`MockCluster::shutdown`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = kprod_mock::MockCluster::builder().brokers(3).default_partitions(6).start().await?;
/// assert_eq!(cluster.addresses().len(), 3);
/// let bootstrap = cluster.bootstrap(); // "127.0.0.1:PORT,127.0.0.1:PORT,127.0.0.1:PORT": give it to any client
/// assert_eq!(bootstrap.split(',').count(), 3);
/// assert!(cluster.state().records("events", 0)?.is_empty(), "nothing produced yet");
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MockCluster {
    state: Arc<ClusterState>,
    faults: Faults,
    /// Per node id; `None` while the broker is down.
    brokers: Vec<Option<Running>>,
    /// Set when the listeners serve TLS.
    tls: Option<tls::BrokerTls>,
}

impl MockCluster {
    /// A builder with the defaults: one broker, one partition per auto-created topic, free ports, PLAINTEXT.
    pub fn builder() -> MockClusterBuilder {
        MockClusterBuilder { config: ClusterConfig::default(), first_port: 0, tls: None, invalid: Vec::new() }
    }

    /// True when the listeners serve TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The PEM certificate of the CA generated at start ([`MockTls::generated`]): what a client puts in
    /// `ssl.truststore.certificates` (or a file for `ssl.truststore.location`). `None` without TLS or when the
    /// identity was given.
    pub fn tls_ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().and_then(|t| t.generated_ca.as_deref()).map(CertificateAuthority::cert_pem)
    }

    /// The CA generated at start, to issue more certificates (a client certificate for mutual TLS...).
    pub fn tls_ca(&self) -> Option<&CertificateAuthority> {
        self.tls.as_ref().and_then(|t| t.generated_ca.as_deref())
    }

    /// `bootstrap.servers` for clients: "127.0.0.1:p0,127.0.0.1:p1,...".
    pub fn bootstrap(&self) -> String {
        self.addresses().iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",")
    }

    /// Listener address of every broker, by node id.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.state.addresses().to_vec()
    }

    /// The shared state: topics, retained batches and records, counters.
    pub fn state(&self) -> &Arc<ClusterState> {
        &self.state
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Creates a topic (partition p led by broker p % N).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), TopicError> {
        self.state.create_topic(name, partitions).map(|_| ())
    }

    /// Every retained record of a partition, decoded, in offset order (retain mode).
    pub fn records(&self, topic: &str, partition: i32) -> Result<Vec<StoredRecord>, crate::record::RecordError> {
        self.state.records(topic, partition)
    }

    /// Offsets of `group` committed by transactions.
    pub fn committed_offsets(&self, group: &str) -> std::collections::BTreeMap<(String, i32), i64> {
        self.state.committed_offsets(group)
    }

    /// Counters summed over the brokers.
    pub fn stats(&self) -> StatsSnapshot {
        self.state.total_stats()
    }

    /// True while broker `id` is up.
    pub fn is_running(&self, id: i32) -> bool {
        usize::try_from(id).ok().and_then(|i| self.brokers.get(i)).is_some_and(Option::is_some)
    }

    /// Takes broker `id` down: its listener is closed and its connections dropped. Metadata keeps
    /// listing it (like a crashed broker the controller has not noticed yet).
    pub async fn stop_broker(&mut self, id: i32) -> Result<(), BrokerError> {
        let brokers = self.brokers.len();
        let slot = usize::try_from(id)
            .ok()
            .and_then(|i| self.brokers.get_mut(i))
            .ok_or(BrokerError::UnknownBroker { broker: id, brokers })?;
        if let Some(r) = slot.take() {
            let _ = r.stop.send(());
            let _ = r.task.await;
        }
        Ok(())
    }

    /// Brings broker `id` back on the same port.
    pub async fn start_broker(&mut self, id: i32) -> Result<(), BrokerError> {
        let brokers = self.brokers.len();
        let addr = self.state.address(id).ok_or(BrokerError::UnknownBroker { broker: id, brokers })?;
        let i = id as usize;
        if self.brokers[i].is_none() {
            let listener = bind(id, addr)?;
            let acceptor = self.tls.as_ref().map(|t| t.acceptor.clone());
            self.brokers[i] = Some(spawn(listener, self.state.clone(), id, acceptor));
        }
        Ok(())
    }

    /// Applies a fault plan, including `brokers_down`.
    pub async fn apply_faults(&mut self, plan: &FaultPlan) -> Result<(), BrokerError> {
        self.faults.apply(plan)?;
        for &b in &plan.brokers_down {
            self.stop_broker(b).await?;
        }
        Ok(())
    }

    /// Stops every broker and waits until their sockets are closed.
    pub async fn shutdown(mut self) {
        for id in 0..self.brokers.len() {
            let _ = self.stop_broker(id as i32).await;
        }
    }
}
