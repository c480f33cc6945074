//! The producer's front door: `send`, `flush`, `close` — the Rust form of Java's `KafkaProducer.doSend`:
//! interceptors → serialize → wait for metadata → partition → size check → append → wake the sender.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::producer::accumulator::{
    AccumulatorConfig, AppendOutcome, AppendRecord, Callback, DeliveryFuture, RecordAccumulator, RecordInfo, Sealer,
    TopicQueues,
};
use crate::producer::config::ProducerConfig;
use crate::producer::error::{ConfigCause, ProducerError};
use crate::producer::hooks::ProducerHooks;
use crate::producer::interceptor::{ProducerInterceptor, run_on_send};
use crate::producer::metadata::{Cluster, MetadataHandle};
use crate::producer::metrics::ProducerMetrics;

use crate::producer::partitioner::{
    BuiltInPartitioner, BuiltinKind, Partitioner, PartitionerChoice as Choice, PartitionerRegistry,
    RoundRobinPartitioner, TopicHandle, TopicView,
};
use crate::producer::record::{ProducerRecord, RecordMetadata, TopicPartition};
use crate::producer::send_cache::{self, Generations};
use crate::producer::serializer::{BytesSerializer, Serializer};
use crate::record::Compression;
use crate::record::Header;

mod transactions;

pub(crate) use crate::producer::sender::{AckInterceptor, ActivePartitioner, Shared, Shutdown, TxnShared};

/// A record's serialized key, value and headers, borrowed for the whole append.
struct Serialized<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [Header],
}

/// A record serialized for appending: the serializers' output and the headers (the record's, or a copy with
/// the ones the serializers added).
struct Prepared<'r> {
    key: Option<Cow<'r, [u8]>>,
    value: Option<Cow<'r, [u8]>>,
    headers: Cow<'r, [Header]>,
}

impl Prepared<'_> {
    fn data(&self) -> Serialized<'_> {
        Serialized { key: self.key.as_deref(), value: self.value.as_deref(), headers: &self.headers }
    }
}

/// What [`Producer::try_send_and_forget`] did.
///
/// ```
/// use kprod_producer::producer::{Producer, ProducerConfig, ProducerRecord, TrySend};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = kprod_mock::MockCluster::builder().start().await?;
/// let producer = Producer::new(ProducerConfig::from_pairs([("bootstrap.servers", cluster.bootstrap())])?)?;
/// let record = ProducerRecord::new("events", bytes::Bytes::from("hello"));
/// // The first record of a topic needs its metadata: the fast path does not wait for it.
/// match producer.try_send_and_forget(record) {
///     TrySend::Appended => {}
///     TrySend::WouldWait(w) => producer.send_and_forget_after(w).await?,
///     TrySend::Failed(e) => return Err(e.into()),
/// }
/// producer.flush().await?;
/// assert_eq!(cluster.records("events", 0)?.len(), 1);
/// producer.close(std::time::Duration::from_secs(5)).await?;
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub enum TrySend<K, V> {
    /// Appended: the outcome reaches hooks, interceptors and metrics.
    Appended,
    /// Not appended: it would have waited for metadata or buffer memory. Send it with
    /// [`Producer::send_and_forget_after`].
    WouldWait(WouldWait<K, V>),
    /// Not appended, and it never will be (closed, too large, a serializer failed, ...).
    Failed(ProducerError),
}

/// A record [`Producer::try_send_and_forget`] could not append without waiting.
///
/// ```
/// use kprod_producer::producer::{Producer, ProducerConfig, ProducerRecord, TrySend};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = kprod_mock::MockCluster::builder().start().await?;
/// let producer = Producer::new(ProducerConfig::from_pairs([("bootstrap.servers", cluster.bootstrap())])?)?;
/// // No metadata for `events` yet: the record comes back, untouched, to be sent the waiting way.
/// let TrySend::WouldWait(w) = producer.try_send_and_forget(ProducerRecord::new("events", "a".into())) else {
///     panic!("a producer without metadata cannot append at once");
/// };
/// let record = w.into_record();
/// assert_eq!(&*record.topic, "events");
/// producer.send(record).await?.await?;
/// producer.close(std::time::Duration::from_secs(5)).await?;
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct WouldWait<K, V> {
    /// As the `on_send` interceptors left it (they ran once, and [`Producer::send_and_forget_after`] does not run
    /// them again).
    record: ProducerRecord<K, V>,
}

impl<K, V> WouldWait<K, V> {
    /// The record, as the interceptors left it (sending it with `send_*` runs them again).
    pub fn into_record(self) -> ProducerRecord<K, V> {
        self.record
    }
}

/// Where an append stands between attempts: the chosen partition, and whether a custom partitioner still wants
/// to hear about a new batch before one is created (Java's `abortOnNewBatch`, asked once per record).
struct AppendState {
    partition: u32,
    abort_on_new_batch: bool,
}

impl AppendState {
    fn new<K, V>(partition: u32, producer: &Producer<K, V>, record: &ProducerRecord<K, V>) -> Self {
        let custom = matches!(producer.shared.partitioner, ActivePartitioner::Custom(_));
        AppendState { partition, abort_on_new_batch: custom && record.partition.is_none() }
    }
}

/// The outcome of a fast (cached) append attempt.
enum Cached {
    Done(Option<DeliveryFuture>),
    /// Not in this thread's cache, stale, or an explicit partition the cached metadata does not know.
    Miss,
    /// No memory for a new batch: wait in the slow path, keeping the partition already chosen.
    NeedMemory(AppendState),
}

/// A Kafka producer. Cheap to share: clone it into many tasks, or wrap it in an `Arc`.
///
/// ```
/// use kprod_producer::producer::{Producer, ProducerConfig, ProducerRecord};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // An in-process broker for the example (the kprod-mock crate); any Kafka cluster works the same.
/// let cluster = kprod_mock::MockCluster::builder().default_partitions(1).start().await?;
/// let config = ProducerConfig::from_pairs([("bootstrap.servers", cluster.bootstrap())])?;
/// let producer = Producer::new(config)?;
/// let delivery = producer.send(ProducerRecord::new("events", bytes::Bytes::from("hello"))).await?; // buffered
/// let metadata = delivery.await?; // acknowledged
/// assert_eq!((metadata.partition, metadata.offset), (0, 0));
/// producer.close(std::time::Duration::from_secs(5)).await?;
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Producer<K = Bytes, V = Bytes> {
    shared: Arc<Shared>,
    key_serializer: Arc<dyn Serializer<K>>,
    value_serializer: Arc<dyn Serializer<V>>,
    interceptors: Arc<[Arc<dyn ProducerInterceptor<K, V>>]>,
    /// Only the last clone to drop aborts the sender.
    _owner: Arc<OwnerGuard>,
}

impl<K, V> Clone for Producer<K, V> {
    fn clone(&self) -> Self {
        Producer {
            shared: self.shared.clone(),
            key_serializer: self.key_serializer.clone(),
            value_serializer: self.value_serializer.clone(),
            interceptors: self.interceptors.clone(),
            _owner: self._owner.clone(),
        }
    }
}

/// Shows what identifies the producer and its state, never the config's secrets (the config's own `Debug`
/// redacts them, and only the non-secret identity is printed here).
impl<K, V> std::fmt::Debug for Producer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sh = &self.shared;
        f.debug_struct("Producer")
            .field("client_id", &sh.config.client_id)
            .field("bootstrap_servers", &sh.config.bootstrap_servers)
            .field("security_protocol", &sh.config.security_protocol)
            .field("transactional_id", &sh.config.transactional_id)
            .field("closed", &sh.shutdown.is_closed())
            .field("fatal", &sh.shutdown.fatal().map(ToString::to_string))
            .field("interceptors", &self.interceptors.len())
            .finish_non_exhaustive()
    }
}

/// Dropping the last producer handle without `close` stops the sender (records still queued fail), so nothing hangs.
struct OwnerGuard(Arc<Shared>);
impl Drop for OwnerGuard {
    fn drop(&mut self) {
        if self.0.shutdown.close() {
            self.0.shutdown.abort();
            self.0.acc.begin_close();
            self.0.wakeup.notify_one();
        }
    }
}

/// Builds a producer with serializers, interceptors, hooks and a custom partitioner.
///
/// ```
/// use std::sync::Arc;
/// use kprod_producer::producer::partitioner::{Partitioner, TopicView};
/// use kprod_producer::producer::{Producer, ProducerConfig, ProducerRecord};
///
/// /// Every record to the topic's last partition.
/// struct Last;
/// impl Partitioner for Last {
///     fn partition(&self, topic: &TopicView<'_>, _key: Option<&[u8]>, _value: Option<&[u8]>) -> u32 {
///         topic.num_partitions - 1
///     }
///     fn name(&self) -> &str {
///         "last"
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = kprod_mock::MockCluster::builder().default_partitions(4).start().await?;
/// let config = ProducerConfig::from_pairs([("bootstrap.servers", cluster.bootstrap())])?;
/// let producer: Producer<String, String> = Producer::builder(config).partitioner(Arc::new(Last)).build()?;
/// for key in ["a", "b", "c", "d"] {
///     let record = ProducerRecord::new("events", "hello".to_string()).with_key(key.to_string());
///     assert_eq!(producer.send(record).await?.await?.partition, 3, "not murmur2's placement: ours");
/// }
/// producer.close(std::time::Duration::from_secs(5)).await?;
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ProducerBuilder<K, V> {
    config: ProducerConfig,
    key_serializer: Arc<dyn Serializer<K>>,
    value_serializer: Arc<dyn Serializer<V>>,
    interceptors: Vec<Arc<dyn ProducerInterceptor<K, V>>>,
    hooks: Option<Arc<dyn ProducerHooks>>,
    partitioner: Option<Arc<dyn Partitioner>>,
    registry: PartitionerRegistry,
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> ProducerBuilder<K, V> {
    /// Adds an interceptor (Java's `ProducerInterceptor`): `on_send` before serialization, `on_acknowledgement`
    /// per record outcome. Interceptors run in the order they were added.
    pub fn interceptor(mut self, i: impl ProducerInterceptor<K, V>) -> Self {
        self.interceptors.push(Arc::new(i));
        self
    }
    /// Observers of batches and requests (timestamps of buffering, drain, send, ack): the workbench's
    /// measurements plug in here. Without hooks the producer pays one branch per event.
    pub fn hooks(mut self, h: Arc<dyn ProducerHooks>) -> Self {
        self.hooks = Some(h);
        self
    }
    /// A custom partitioner; overrides `partitioner.class`.
    pub fn partitioner(mut self, p: Arc<dyn Partitioner>) -> Self {
        self.partitioner = Some(p);
        self
    }
    /// Registers a custom partitioner under a name that `partitioner.class` can then select.
    pub fn register_partitioner(mut self, name: impl Into<String>, p: Arc<dyn Partitioner>) -> Self {
        self.registry.register(name, p);
        self
    }
    /// How keys become bytes.
    pub fn key_serializer(mut self, s: impl Serializer<K>) -> Self {
        self.key_serializer = Arc::new(s);
        self
    }
    /// How values become bytes.
    pub fn value_serializer(mut self, s: impl Serializer<V>) -> Self {
        self.value_serializer = Arc::new(s);
        self
    }

    /// Validates the config, starts the sender (on a thread of its own, or with `sender.thread=false` as a task on
    /// the current tokio runtime) and returns the producer.
    pub fn build(self) -> Result<Producer<K, V>, ProducerError> {
        let (key_serializer, value_serializer) = (self.key_serializer.clone(), self.value_serializer.clone());
        let interceptors: Arc<[Arc<dyn ProducerInterceptor<K, V>>]> = self.interceptors.clone().into();
        let shared = self.into_shared()?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| ProducerError::config("Producer::new must be called inside a tokio runtime"))?;
        let task = match shared.config.sender_thread.then(|| spawn_sender_thread(shared.clone())) {
            Some(Ok(task)) => task,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot start the sender's thread; the sender runs as a task instead");
                handle.spawn(crate::producer::sender::run(shared.clone()))
            }
            None => handle.spawn(crate::producer::sender::run(shared.clone())),
        };
        *shared.sender_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(Producer {
            _owner: Arc::new(OwnerGuard(shared.clone())),
            shared,
            key_serializer,
            value_serializer,
            interceptors,
        })
    }

    /// The producer's shared state (accumulator, metadata, config) without a sender task: the deterministic
    /// simulation drives a `SenderCore` over it by hand.
    pub(crate) fn into_shared(self) -> Result<Arc<Shared>, ProducerError> {
        let mut cfg = self.config;
        for w in cfg.resolve()? {
            // Its own target, so a caller that already showed the config's warnings (`kprod run`'s plan) can mute it.
            tracing::warn!(target: "kprod::producer::config", "{w}");
        }
        if cfg.bootstrap_servers.is_empty() {
            return Err(ProducerError::config("bootstrap.servers is empty: give at least one host:port"));
        }
        let sasl = crate::security::SaslSettings::from_config(&cfg)?.map(Arc::new);
        let compression = Compression::from_config(
            &cfg.compression_type,
            cfg.compression_gzip_level,
            cfg.compression_lz4_level,
            cfg.compression_zstd_level,
        )
        .map_err(|e| ProducerError::Config(ConfigCause::Compression(e)))?;
        let builtin = |ignore_keys: bool| {
            ActivePartitioner::BuiltIn(BuiltInPartitioner::new(
                cfg.batch_size,
                cfg.partitioner_adaptive_partitioning_enable,
                cfg.partitioner_availability_timeout,
                ignore_keys,
                0x6b70726f64,
            ))
        };
        let partitioner = match self.partitioner {
            Some(p) => ActivePartitioner::Custom(p),
            None => match self.registry.resolve(cfg.partitioner_class.as_deref())? {
                Choice::Builtin(BuiltinKind::Sticky) => builtin(cfg.partitioner_ignore_keys),
                Choice::Builtin(BuiltinKind::UniformSticky) => builtin(true),
                Choice::Builtin(BuiltinKind::RoundRobin) => {
                    ActivePartitioner::Custom(Arc::new(RoundRobinPartitioner::new()))
                }
                Choice::Custom(p) => ActivePartitioner::Custom(p),
            },
        };
        let acc = RecordAccumulator::new(AccumulatorConfig {
            batch_size: cfg.batch_size,
            linger: cfg.linger,
            compression,
            delivery_timeout: cfg.delivery_timeout,
            retry_backoff: cfg.retry_backoff,
            retry_backoff_max: cfg.retry_backoff_max,
            buffer_memory: cfg.buffer_memory,
        });
        let acc = match seal_workers(compression, cfg.compression_threads) {
            0 => acc,
            n => match Sealer::new(n) {
                Ok(sealer) => acc.with_sealer(sealer),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the compression threads; batches compress on the sender");
                    acc
                }
            },
        };
        let tls = crate::security::tls::TlsSettings::from_config(&cfg)?;
        let ack_interceptors: Option<AckInterceptor> = if self.interceptors.is_empty() {
            None
        } else {
            let chain = self.interceptors.clone();
            Some(Arc::new(move |r: Result<&RecordMetadata, &ProducerError>| {
                for i in &chain {
                    i.on_acknowledgement(r);
                }
            }))
        };
        // Every record's facts are read only by hooks (`BatchEvent::records`) and `on_acknowledgement` interceptors
        // (each record's metadata); callbacks carry their own record's. Without either, batches do not keep them.
        let acc = acc.with_record_infos(self.hooks.is_some() || ack_interceptors.is_some());
        let txn = TxnShared::from_config(&cfg);
        let shared = Arc::new(Shared {
            id: send_cache::next_producer_id(),
            config: cfg,
            acc,
            metadata: MetadataHandle::default(),
            wakeup: Notify::new(),
            batch_done: Notify::new(),
            hooks: self.hooks,
            metrics: ProducerMetrics::default(),
            partitioner,
            ack_interceptors,
            shutdown: Shutdown::default(),
            txn,
            sender_task: Mutex::new(None),
            tls,
            sasl,
        });
        Ok(shared)
    }
}

impl Producer<Bytes, Bytes> {
    /// A producer of byte keys and values. Must be called inside a tokio runtime.
    pub fn new(config: ProducerConfig) -> Result<Self, ProducerError> {
        Self::builder(config).build()
    }
}

impl<K: AsRef<[u8]> + Send + Sync + 'static, V: AsRef<[u8]> + Send + Sync + 'static> Producer<K, V> {
    /// A builder with the built-in byte/string serializers.
    pub fn builder(config: ProducerConfig) -> ProducerBuilder<K, V> {
        ProducerBuilder {
            config,
            key_serializer: Arc::new(BytesSerializer),
            value_serializer: Arc::new(BytesSerializer),
            interceptors: Vec::new(),
            hooks: None,
            partitioner: None,
            registry: PartitionerRegistry::new(),
        }
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> Producer<K, V> {
    /// A builder with user serializers.
    pub fn with_serializers(
        config: ProducerConfig,
        key: impl Serializer<K>,
        value: impl Serializer<V>,
    ) -> ProducerBuilder<K, V> {
        ProducerBuilder {
            config,
            key_serializer: Arc::new(key),
            value_serializer: Arc::new(value),
            interceptors: Vec::new(),
            hooks: None,
            partitioner: None,
            registry: PartitionerRegistry::new(),
        }
    }

    /// Appends the record and returns once it is buffered; the returned future resolves when the record is
    /// acknowledged or has failed. Waits (up to `max.block.ms`) only for metadata or buffer memory.
    pub async fn send(&self, record: ProducerRecord<K, V>) -> Result<DeliveryFuture, ProducerError> {
        let mut cb = None;
        let f = self.do_send(record, &mut cb, true).await?;
        Ok(f.expect("a completion was requested"))
    }

    /// Like `send`, but runs `callback` once with the outcome instead of returning a future.
    /// `Err` means the record was not appended and the callback will never run.
    pub async fn send_with_callback(
        &self,
        record: ProducerRecord<K, V>,
        callback: impl FnOnce(Result<RecordMetadata, ProducerError>) + Send + 'static,
    ) -> Result<(), ProducerError> {
        let mut cb: Option<Callback> = Some(Box::new(callback));
        self.do_send(record, &mut cb, false).await.map(|_| ())
    }

    /// Appends the record without a future or callback: the outcome reaches hooks, interceptors and metrics only.
    /// The cheapest path, used by the workbench.
    pub async fn send_and_forget(&self, record: ProducerRecord<K, V>) -> Result<(), ProducerError> {
        self.do_send(record, &mut None, false).await.map(|_| ())
    }

    async fn do_send(
        &self,
        record: ProducerRecord<K, V>,
        callback: &mut Option<Callback>,
        want_future: bool,
    ) -> Result<Option<DeliveryFuture>, ProducerError> {
        let record = if self.interceptors.is_empty() { record } else { run_on_send(&self.interceptors, record) };
        let r = self.append(&record, callback, want_future).await;
        if let (Err(e), Some(ack)) = (&r, &self.shared.ack_interceptors) {
            ack(Err(e));
        }
        r
    }

    async fn append(
        &self,
        record: &ProducerRecord<K, V>,
        callback: &mut Option<Callback>,
        want_future: bool,
    ) -> Result<Option<DeliveryFuture>, ProducerError> {
        let prepared = self.prepare(record)?;
        let data = prepared.data();
        // The fast path: the topic's queues, partition count and partitioner state from this thread's cache.
        let resume = match self.append_cached(record, &data, callback, want_future) {
            Cached::Done(out) => {
                // A loop of sends that never wait would otherwise never give its worker back: a task the sends
                // wake (an embedded broker, hooks' tasks, the sender itself with `sender.thread=false`) sits in
                // this worker's LIFO slot, which other workers do not steal, and on a one-thread runtime nothing
                // else runs at all. Tokio's cooperative budget yields once every 128 budgeted operations, as its
                // own channels do.
                tokio::task::consume_budget().await;
                return Ok(out);
            }
            Cached::Miss => None,
            Cached::NeedMemory(state) => Some(state),
        };
        self.append_slow(record, &data, callback, want_future, resume).await
    }

    /// What every append does before touching the accumulator: the producer's state, serialization (serializers
    /// may add headers, so the headers are copied only when they do) and the size check (only this record fails).
    #[inline]
    fn prepare<'r>(&self, record: &'r ProducerRecord<K, V>) -> Result<Prepared<'r>, ProducerError> {
        let sh = &*self.shared;
        if let Some(e) = sh.shutdown.fatal() {
            return Err(e.clone());
        }
        if sh.shutdown.is_closed() {
            return Err(ProducerError::Closed);
        }
        if let Some(t) = &sh.txn {
            // Java's `failIfNotReadyForSend`: one atomic load unless it fails.
            t.fail_if_not_ready_for_send()?;
        }
        let mut headers = Cow::Borrowed(&record.headers[..]);
        let mut extra = Vec::new();
        let key = match &record.key {
            Some(k) => Some(self.key_serializer.serialize(&record.topic, &mut extra, k).map_err(|e| {
                ProducerError::Serialization { topic: record.topic.to_string(), what: "key", reason: e.0 }
            })?),
            None => None,
        };
        let value = match &record.value {
            Some(v) => Some(self.value_serializer.serialize(&record.topic, &mut extra, v).map_err(|e| {
                ProducerError::Serialization { topic: record.topic.to_string(), what: "value", reason: e.0 }
            })?),
            None => None,
        };
        if !extra.is_empty() {
            let mut h = record.headers.clone();
            h.extend(extra);
            headers = Cow::Owned(h);
        }
        let prepared = Prepared { key, value, headers };
        self.check_size(&prepared.data())?;
        Ok(prepared)
    }

    /// Appends the record if that needs no waiting, like [`send_and_forget`](Self::send_and_forget) on its fast
    /// path, as a plain function call: no future is built. [`TrySend::WouldWait`] hands the record back when the
    /// append would wait for metadata or buffer memory; send it with `send_and_forget` then. A caller on a hot
    /// loop saves the construction of `send_and_forget`'s future, which is large because its slow path is.
    /// Being a plain call, it never yields: an async loop of it must yield to its runtime now and then (the
    /// workbench does every 1,024 records), or the tasks it wakes on that runtime wait until the loop does (the
    /// sender itself with `sender.thread=false`).
    pub fn try_send_and_forget(&self, record: ProducerRecord<K, V>) -> TrySend<K, V> {
        let record = if self.interceptors.is_empty() { record } else { run_on_send(&self.interceptors, record) };
        let outcome =
            self.prepare(&record).map(|prepared| self.append_cached(&record, &prepared.data(), &mut None, false));
        match outcome {
            Ok(Cached::Done(_)) => TrySend::Appended,
            // The interceptors already ran: `send_and_forget_after` does not run them again.
            Ok(Cached::Miss | Cached::NeedMemory(_)) => TrySend::WouldWait(WouldWait { record }),
            Err(e) => {
                if let Some(ack) = &self.shared.ack_interceptors {
                    ack(Err(&e));
                }
                TrySend::Failed(e)
            }
        }
    }

    /// Sends a record [`try_send_and_forget`](Self::try_send_and_forget) handed back, waiting as needed.
    pub async fn send_and_forget_after(&self, w: WouldWait<K, V>) -> Result<(), ProducerError> {
        let r = self.append(&w.record, &mut None, false).await.map(|_| ());
        if let (Err(e), Some(ack)) = (&r, &self.shared.ack_interceptors) {
            ack(Err(e));
        }
        r
    }

    /// `max.request.size` and `buffer.memory` against Java's upper bound of a batch holding only this record.
    #[inline]
    fn check_size(&self, data: &Serialized<'_>) -> Result<(), ProducerError> {
        let cfg = &self.shared.config;
        let key_len = data.key.map(<[u8]>::len);
        let value_len = data.value.map(<[u8]>::len);
        // A cheap bound first (a varint is at most 5 bytes): the exact one only for records near a limit.
        let limit = cfg.max_request_size.min(usize::try_from(cfg.buffer_memory).unwrap_or(usize::MAX));
        if data.headers.is_empty()
            && crate::record::RECORD_BATCH_OVERHEAD
                + crate::record::MAX_RECORD_OVERHEAD
                + 6
                + key_len.unwrap_or(0)
                + 6
                + value_len.unwrap_or(0)
                <= limit
        {
            return Ok(());
        }
        let size = crate::record::batch_size_upper_bound(key_len, value_len, data.headers);
        if size > cfg.max_request_size {
            return Err(ProducerError::RecordTooLarge {
                size,
                limit: cfg.max_request_size,
                limit_name: "max.request.size",
            });
        }
        if size as u64 > cfg.buffer_memory {
            return Err(ProducerError::RecordTooLarge {
                size,
                limit: cfg.buffer_memory as usize,
                limit_name: "buffer.memory",
            });
        }
        Ok(())
    }

    /// Appends through this thread's [`send_cache`] entry for the topic, without locks or lookups beyond the
    /// partition's queue. Never waits: a miss, or no memory for a new batch, goes to [`append_slow`].
    #[inline]
    fn append_cached(
        &self,
        record: &ProducerRecord<K, V>,
        data: &Serialized<'_>,
        callback: &mut Option<Callback>,
        want_future: bool,
    ) -> Cached {
        let sh = &*self.shared;
        let generations = Generations { metadata: sh.metadata.generation(), topics: sh.acc.topics_generation() };
        send_cache::with_topic(sh.id, &record.topic, generations, |t| {
            if let Some(p) = record.partition
                && (p < 0 || p as u32 >= t.num_partitions)
            {
                // The slow path waits for metadata that may know the partition, as Java does.
                return Cached::Miss;
            }
            let view = t.view();
            let handle = t.handle.as_ref();
            let rec = self.append_record(record, data);
            let mut state =
                AppendState::new(self.choose_partition(record.partition, handle, &view, data), self, record);
            match self.append_once(record, &t.queues, handle, &view, &rec, data, callback, want_future, &mut state) {
                AppendOutcome::NeedMemory { .. } => Cached::NeedMemory(state),
                // The topic grew under us; the generation check will refill the cache on the slow path.
                AppendOutcome::Retired => Cached::Miss,
                outcome => {
                    Cached::Done(self.appended(record, &t.queues, handle, &view, &rec, state.partition, outcome))
                }
            }
        })
        .unwrap_or(Cached::Miss)
    }

    /// Java's path: wait for metadata, partition, append — waiting for buffer memory as needed — and refill this
    /// thread's cache for the topic. `resume` carries the partition chosen by a fast attempt that ran out of memory.
    async fn append_slow(
        &self,
        record: &ProducerRecord<K, V>,
        data: &Serialized<'_>,
        callback: &mut Option<Callback>,
        want_future: bool,
        resume: Option<AppendState>,
    ) -> Result<Option<DeliveryFuture>, ProducerError> {
        let sh = &*self.shared;
        let start = Instant::now();
        let max_block = sh.config.max_block;
        let (cluster, metadata_generation) =
            self.wait_on_metadata(&record.topic, record.partition, start, max_block).await?;
        let tinfo = cluster.topic(&record.topic).expect("wait_on_metadata checked the topic");
        let view = TopicView {
            topic: &record.topic,
            num_partitions: tinfo.partitions.len() as u32,
            available: &tinfo.available,
        };
        // Read before `topic()`: a concurrent replacement of the queues then makes the entry stale, not wrong.
        let topics_generation = sh.acc.topics_generation();
        let mut queues = sh.acc.topic(&record.topic, view.num_partitions);
        let handle = match &sh.partitioner {
            ActivePartitioner::BuiltIn(b) => Some(b.topic_handle(&record.topic)),
            ActivePartitioner::Custom(_) => None,
        };
        send_cache::store(send_cache::Fill {
            producer: sh.id,
            generations: Generations { metadata: metadata_generation, topics: topics_generation },
            name: &record.topic,
            queues: &queues,
            num_partitions: view.num_partitions,
            available: view.available,
            handle: handle.as_ref(),
        });
        let rec = self.append_record(record, data);
        let mut state = match resume {
            Some(s) if s.partition < view.num_partitions => s,
            _ => AppendState::new(self.choose_partition(record.partition, handle.as_ref(), &view, data), self, record),
        };
        let mut registered_waiter = false;
        let outcome = loop {
            match self.append_once(
                record,
                &queues,
                handle.as_ref(),
                &view,
                &rec,
                data,
                callback,
                want_future,
                &mut state,
            ) {
                AppendOutcome::NeedMemory { size } => {
                    if !registered_waiter {
                        sh.acc.pool.add_waiter();
                        registered_waiter = true;
                        sh.wakeup.notify_one();
                    }
                    let notified = sh.batch_done.notified();
                    let waited = start.elapsed();
                    if waited >= max_block {
                        sh.acc.pool.remove_waiter();
                        return Err(ProducerError::BufferExhausted {
                            requested: size,
                            max_block_ms: max_block.as_millis() as u64,
                        });
                    }
                    let t0 = Instant::now();
                    let _ = tokio::time::timeout((max_block - waited).min(Duration::from_millis(50)), notified).await;
                    sh.metrics.bufferpool_wait_ns.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    if sh.shutdown.is_closed() {
                        sh.acc.pool.remove_waiter();
                        return Err(ProducerError::Closed);
                    }
                }
                // The topic grew between `topic()` and the append: take the replacement queues and retry.
                AppendOutcome::Retired => queues = sh.acc.topic(&record.topic, view.num_partitions),
                outcome => break outcome,
            }
        };
        if registered_waiter {
            sh.acc.pool.remove_waiter();
        }
        Ok(self.appended(record, &queues, handle.as_ref(), &view, &rec, state.partition, outcome))
    }

    #[inline]
    fn append_record<'a>(&self, record: &ProducerRecord<K, V>, data: &Serialized<'a>) -> AppendRecord<'a> {
        AppendRecord {
            timestamp_ms: record.timestamp_ms.unwrap_or_else(now_ms),
            key: data.key,
            value: data.value,
            headers: data.headers,
            user_data: record.user_data,
        }
    }

    /// One append that does not wait: a custom partitioner is told before a new batch is created (Java's
    /// `abortOnNewBatch`) and chooses again, once. Returns `Appended` or `NeedMemory`.
    #[allow(clippy::too_many_arguments)] // the hot path: all borrowed, nothing copied
    #[inline]
    fn append_once(
        &self,
        record: &ProducerRecord<K, V>,
        queues: &TopicQueues,
        handle: Option<&TopicHandle>,
        view: &TopicView<'_>,
        rec: &AppendRecord<'_>,
        data: &Serialized<'_>,
        callback: &mut Option<Callback>,
        want_future: bool,
        state: &mut AppendState,
    ) -> AppendOutcome {
        let sh = &*self.shared;
        loop {
            let outcome = sh.acc.append_with_clock(
                queues,
                state.partition,
                rec,
                callback,
                want_future,
                state.abort_on_new_batch,
                Instant::now,
            );
            if !matches!(outcome, AppendOutcome::AbortedForNewBatch) {
                return outcome;
            }
            if let ActivePartitioner::Custom(p) = &sh.partitioner {
                p.on_new_batch(view, state.partition);
            }
            state.partition = self.choose_partition(record.partition, handle, view, data);
            state.abort_on_new_batch = false;
        }
    }

    /// After a successful append: the sticky partitioner's bookkeeping, hooks, waking the sender, the future.
    #[allow(clippy::too_many_arguments)] // the hot path: all borrowed, nothing copied
    #[inline]
    fn appended(
        &self,
        record: &ProducerRecord<K, V>,
        queues: &TopicQueues,
        handle: Option<&TopicHandle>,
        view: &TopicView<'_>,
        rec: &AppendRecord<'_>,
        partition: u32,
        outcome: AppendOutcome,
    ) -> Option<DeliveryFuture> {
        let sh = &*self.shared;
        let AppendOutcome::Appended { new_batch, batch_full, appended_bytes, index, completion } = outcome else {
            unreachable!("append_once returns Appended unless memory is needed or the queues were retired")
        };
        if let ActivePartitioner::BuiltIn(b) = &sh.partitioner
            && record.partition.is_none()
        {
            match handle {
                Some(h) => b.after_append_with(h, view, partition, appended_bytes, batch_full),
                None => b.after_append(view, partition, appended_bytes, batch_full),
            }
        }
        if let Some(h) = &sh.hooks {
            h.on_record_buffered(
                &TopicPartition { topic: queues.name.clone(), partition: partition as i32 },
                appended_bytes,
            );
        }
        if new_batch || batch_full {
            if new_batch && let Some(t) = &sh.txn {
                // Java's `maybeAddPartition`: once per batch suffices, since a transaction starts on empty queues.
                t.maybe_add_partition(&TopicPartition { topic: queues.name.clone(), partition: partition as i32 });
            }
            sh.wakeup.notify_one();
        }
        completion.map(|completion| {
            DeliveryFuture::new(
                completion,
                index,
                TopicPartition { topic: queues.name.clone(), partition: partition as i32 },
                RecordInfo {
                    timestamp_ms: rec.timestamp_ms,
                    key_size: rec.key.map_or(-1, |k| k.len() as i32),
                    value_size: rec.value.map_or(-1, |v| v.len() as i32),
                    user_data: record.user_data,
                },
            )
        })
    }

    #[inline]
    fn choose_partition(
        &self,
        explicit: Option<i32>,
        handle: Option<&TopicHandle>,
        view: &TopicView<'_>,
        data: &Serialized<'_>,
    ) -> u32 {
        if let Some(p) = explicit {
            return p as u32;
        }
        match (&self.shared.partitioner, handle) {
            (ActivePartitioner::BuiltIn(b), Some(h)) => b.partition_with(h, view, data.key),
            (ActivePartitioner::BuiltIn(b), None) => b.partition(view, data.key),
            (ActivePartitioner::Custom(p), _) => p.partition(view, data.key, data.value) % view.num_partitions.max(1),
        }
    }

    /// Java's `waitOnMetadata`: the topic (and the explicit partition) must be known, waiting up to `max.block.ms`.
    /// Returns the snapshot and the metadata generation read just before it.
    async fn wait_on_metadata(
        &self,
        topic: &str,
        partition: Option<i32>,
        start: Instant,
        max_block: Duration,
    ) -> Result<(Arc<Cluster>, u64), ProducerError> {
        let sh = &*self.shared;
        loop {
            let generation = sh.metadata.generation();
            let cluster = sh.metadata.current();
            if let Some(t) = cluster.topic(topic) {
                match partition {
                    Some(p) if p < 0 || p as usize >= t.partitions.len() => {
                        // As Java: a stale count may hide a new partition, so wait for metadata up to max.block.ms.
                        if start.elapsed() >= max_block {
                            return Err(ProducerError::InvalidPartition {
                                topic: topic.to_string(),
                                partition: p,
                                num_partitions: t.partitions.len() as u32,
                            });
                        }
                    }
                    _ => return Ok((cluster, generation)),
                }
            }
            let notified = sh.metadata.updated.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if sh.metadata.want(topic) || cluster.topic(topic).is_none() {
                sh.metadata.request_refresh();
                sh.wakeup.notify_one();
            }
            let waited = start.elapsed();
            if waited >= max_block {
                return Err(ProducerError::TopicNotFound {
                    topic: topic.to_string(),
                    waited_ms: waited.as_millis() as u64,
                    last_error: sh.metadata.last_error(),
                });
            }
            if sh.shutdown.is_closed() {
                return Err(ProducerError::Closed);
            }
            if let Some(e) = sh.shutdown.fatal() {
                return Err(e.clone());
            }
            if let Some(e) = sh.metadata.fatal_connect() {
                return Err(e);
            }
            let _ = tokio::time::timeout((max_block - waited).min(Duration::from_millis(100)), notified).await;
        }
    }

    /// Makes every buffered record sendable at once and waits until all records sent before this call completed.
    pub async fn flush(&self) -> Result<(), ProducerError> {
        let sh = &*self.shared;
        let mark = sh.acc.begin_flush();
        sh.wakeup.notify_one();
        loop {
            let n = sh.batch_done.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if sh.acc.flushed_up_to(mark) {
                break;
            }
            if sh.shutdown.is_aborted() && sender_finished(sh) {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), n).await;
        }
        sh.acc.end_flush();
        Ok(())
    }

    /// Stops accepting records, sends what is buffered and waits up to `timeout`. Records still outstanding at the
    /// deadline fail with `Aborted`; nothing hangs. Idempotent.
    pub async fn close(&self, timeout: Duration) -> Result<(), ProducerError> {
        let sh = &*self.shared;
        sh.shutdown.close();
        sh.acc.begin_close();
        sh.wakeup.notify_one();
        let deadline = Instant::now() + timeout;
        let task = sh.sender_task.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut task) = task else { return Ok(()) };
        if tokio::time::timeout_at(deadline.into(), &mut task).await.is_err() {
            sh.shutdown.abort();
            sh.wakeup.notify_one();
            // The sender fails what is left promptly once aborted; bound the wait anyway.
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
            return Err(ProducerError::Timeout(timeout));
        }
        Ok(())
    }

    /// Java-named metrics (`record-send-rate`, `batch-size-avg`, ...).
    pub fn metrics(&self) -> std::collections::BTreeMap<&'static str, f64> {
        self.shared.metrics.snapshot(self.shared.acc.pool.available_bytes())
    }

    /// The current metadata snapshot.
    pub fn cluster(&self) -> Arc<Cluster> {
        self.shared.metadata.current()
    }

    /// Partitions of `topic`, waiting for metadata like `send` does (Java's `partitionsFor`).
    pub async fn partitions_for(
        &self,
        topic: &str,
    ) -> Result<Vec<crate::producer::metadata::PartitionInfo>, ProducerError> {
        let (c, _) = self.wait_on_metadata(topic, None, Instant::now(), self.shared.config.max_block).await?;
        Ok(c.topic(topic).map(|t| t.partitions.clone()).unwrap_or_default())
    }

    /// The resolved configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }
}

/// Starts the sender on a thread of its own (`sender.thread=true`), driving a one-thread tokio runtime that also
/// holds its connections' reader and writer tasks: Java's `Sender` thread, librdkafka's broker threads.
///
/// Why not a task on the caller's runtime: a send that fills a batch wakes the sender from the sending worker, and
/// tokio runs a task woken from a worker in that worker's LIFO slot, which other workers do not steal. The sender
/// then waits for the sending task to yield and runs on the same core, after it, never beside it. A closed loop of
/// 100-byte records with lz4 and 256 KiB batches reached 4.8 M records/s that way and 7.4 M with this thread
/// (README, "The sender's own thread"). The returned handle is the sender's task on that runtime: awaiting, aborting
/// and `is_finished` work from any runtime. The thread ends when the sender does (close, or the last producer
/// handle dropped), dropping the runtime and with it the connections' tasks.
fn spawn_sender_thread(shared: Arc<Shared>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(async move {
        crate::producer::sender::run(shared).await;
        let _ = done_tx.send(());
    });
    // The builder's log subscriber goes along (a thread starts with the global one only), so a subscriber set for
    // the building thread (`tracing::subscriber::set_default`) still sees the sender's events, as it did a task's
    // on that thread.
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    // The runtime runs its tasks only inside `block_on`: the thread drives it until the sender's task ends or is
    // aborted (either drops `done_tx`).
    std::thread::Builder::new().name("kprod-sender".into()).spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let _ = rt.block_on(done_rx);
        })
    })?;
    Ok(task)
}

fn sender_finished(sh: &Shared) -> bool {
    sh.sender_task.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_none_or(|t| t.is_finished())
}

/// Wall-clock milliseconds since the epoch (record create time), from the millisecond ticker in `clock`.
pub use crate::producer::clock::now_ms;

/// Threads that compress batches beside the sender (issue 19, `accumulator::seal`): none without a codec; else
/// `compression.threads` (0: the sender compresses alone), or when unset one per core beyond the first, at most 3 (a
/// request rarely carries more batches than that worth compressing apart).
fn seal_workers(compression: Compression, configured: Option<usize>) -> usize {
    if compression == Compression::None {
        return 0;
    }
    configured.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).min(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(pairs: &[(&str, &str)]) -> usize {
        let cfg =
            ProducerConfig::from_pairs([("bootstrap.servers", "127.0.0.1:9")].iter().chain(pairs).copied()).unwrap();
        Producer::<Bytes, Bytes>::builder(cfg).into_shared().unwrap().acc.sealer_workers()
    }

    #[test]
    fn compression_threads_reaches_the_sealer() {
        assert_eq!(workers(&[("compression.type", "lz4"), ("compression.threads", "2")]), 2);
        assert_eq!(workers(&[("compression.type", "zstd"), ("compression.threads", "5")]), 5);
        assert_eq!(workers(&[("compression.type", "lz4"), ("compression.threads", "0")]), 0, "0: the sender alone");
        assert_eq!(workers(&[("compression.threads", "2")]), 0, "no codec, nothing to compress");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(workers(&[("compression.type", "lz4")]), (cores - 1).min(3), "the default");
    }
}
