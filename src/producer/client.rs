//! The producer's front door: `send`, `flush`, `close` — the Rust form of Java's `KafkaProducer.doSend`:
//! interceptors → serialize → wait for metadata → partition → size check → append → wake the sender.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::producer::accumulator::{
    AccumulatorConfig, AppendOutcome, AppendRecord, Callback, DeliveryFuture, RecordAccumulator, RecordInfo,
};
use crate::producer::config::ProducerConfig;
use crate::producer::error::ProducerError;
use crate::producer::hooks::ProducerHooks;
use crate::producer::interceptor::{ProducerInterceptor, run_on_send};
use crate::producer::metadata::{Cluster, MetadataHandle};
use crate::producer::metrics::ProducerMetrics;

use crate::producer::partitioner::{
    BuiltInPartitioner, BuiltinKind, Partitioner, PartitionerChoice as Choice, PartitionerRegistry,
    RoundRobinPartitioner, TopicView,
};
use crate::producer::record::{ProducerRecord, RecordMetadata, TopicPartition};
use crate::producer::serializer::{BytesSerializer, Serializer};
use crate::record::Compression;

/// Runs every `on_acknowledgement` interceptor for one record outcome (type-erased for the sender).
pub(crate) type AckInterceptor = Arc<dyn Fn(Result<&RecordMetadata, &ProducerError>) + Send + Sync>;

/// Which partitioner decides keyless (and, for custom ones, all) records.
pub(crate) enum PartitionerChoice {
    BuiltIn(BuiltInPartitioner),
    Custom(Arc<dyn Partitioner>),
}

/// State shared by the front door and the sender task.
pub(crate) struct Shared {
    pub config: ProducerConfig,
    pub acc: RecordAccumulator,
    pub metadata: MetadataHandle,
    /// Wakes the sender: a batch is full, a batch was created, a flush or close began, metadata is wanted.
    pub wakeup: Notify,
    /// Woken whenever a batch completes (memory freed, flush progress).
    pub batch_done: Notify,
    pub hooks: Option<Arc<dyn ProducerHooks>>,
    pub metrics: ProducerMetrics,
    pub partitioner: PartitionerChoice,
    pub ack_interceptors: Option<AckInterceptor>,
    /// No new sends accepted.
    pub closed: AtomicBool,
    /// Close timed out or the producer was dropped: fail whatever is left and stop.
    pub abort: AtomicBool,
    /// A fatal error (e.g. fenced, auth): every later call fails with it.
    pub fatal: OnceLock<ProducerError>,
    pub sender_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A Kafka producer. Cheap to share: clone it into many tasks, or wrap it in an `Arc`.
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

/// Dropping the last producer handle without `close` stops the sender (records still queued fail), so nothing hangs.
struct OwnerGuard(Arc<Shared>);
impl Drop for OwnerGuard {
    fn drop(&mut self) {
        if !self.0.closed.swap(true, Ordering::AcqRel) {
            self.0.abort.store(true, Ordering::Release);
            self.0.acc.begin_close();
            self.0.wakeup.notify_one();
        }
    }
}

/// Builds a producer with serializers, interceptors, hooks and a custom partitioner.
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
    pub fn interceptor(mut self, i: impl ProducerInterceptor<K, V>) -> Self {
        self.interceptors.push(Arc::new(i));
        self
    }
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
    pub fn key_serializer(mut self, s: impl Serializer<K>) -> Self {
        self.key_serializer = Arc::new(s);
        self
    }
    pub fn value_serializer(mut self, s: impl Serializer<V>) -> Self {
        self.value_serializer = Arc::new(s);
        self
    }

    /// Validates the config, starts the sender task on the current tokio runtime and returns the producer.
    pub fn build(self) -> Result<Producer<K, V>, ProducerError> {
        let mut cfg = self.config;
        for w in cfg.resolve().map_err(|e| ProducerError::Config(e.to_string()))? {
            tracing::warn!("{w}");
        }
        if cfg.bootstrap_servers.is_empty() {
            return Err(ProducerError::Config("bootstrap.servers is empty: give at least one host:port".into()));
        }
        let compression = Compression::from_config(
            &cfg.compression_type,
            cfg.compression_gzip_level,
            cfg.compression_lz4_level,
            cfg.compression_zstd_level,
        )
        .map_err(|e| ProducerError::Config(e.to_string()))?;
        let builtin = |ignore_keys: bool| {
            PartitionerChoice::BuiltIn(BuiltInPartitioner::new(
                cfg.batch_size,
                cfg.partitioner_adaptive_partitioning_enable,
                cfg.partitioner_availability_timeout,
                ignore_keys,
                0x6b70726f64,
            ))
        };
        let partitioner = match self.partitioner {
            Some(p) => PartitionerChoice::Custom(p),
            None => match self
                .registry
                .resolve(cfg.partitioner_class.as_deref())
                .map_err(|e| ProducerError::Config(e.to_string()))?
            {
                Choice::Builtin(BuiltinKind::Sticky) => builtin(cfg.partitioner_ignore_keys),
                Choice::Builtin(BuiltinKind::UniformSticky) => builtin(true),
                Choice::Builtin(BuiltinKind::RoundRobin) => {
                    PartitionerChoice::Custom(Arc::new(RoundRobinPartitioner::new()))
                }
                Choice::Custom(p) => PartitionerChoice::Custom(p),
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
        let shared = Arc::new(Shared {
            config: cfg,
            acc,
            metadata: MetadataHandle::default(),
            wakeup: Notify::new(),
            batch_done: Notify::new(),
            hooks: self.hooks,
            metrics: ProducerMetrics::default(),
            partitioner,
            ack_interceptors,
            closed: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            fatal: OnceLock::new(),
            sender_task: Mutex::new(None),
        });
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| ProducerError::Config("Producer::new must be called inside a tokio runtime".into()))?;
        let task = handle.spawn(crate::producer::sender::run(shared.clone()));
        *shared.sender_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(Producer {
            _owner: Arc::new(OwnerGuard(shared.clone())),
            shared,
            key_serializer: self.key_serializer,
            value_serializer: self.value_serializer,
            interceptors: self.interceptors.into(),
        })
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
        let sh = &*self.shared;
        if let Some(e) = sh.fatal.get() {
            return Err(e.clone());
        }
        if sh.closed.load(Ordering::Acquire) {
            return Err(ProducerError::Closed);
        }
        let start = Instant::now();
        let max_block = sh.config.max_block;
        // Serialize (serializers may add headers, so work on a copy only when they do).
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
        let key = key.as_deref();
        let value = value.as_deref();
        // Size check before touching the accumulator: only this record fails.
        let size = crate::record::batch_size_upper_bound(key.map(<[u8]>::len), value.map(<[u8]>::len), &headers);
        if size > sh.config.max_request_size {
            return Err(ProducerError::RecordTooLarge {
                size,
                limit: sh.config.max_request_size,
                limit_name: "max.request.size",
            });
        }
        if size as u64 > sh.config.buffer_memory {
            return Err(ProducerError::RecordTooLarge {
                size,
                limit: sh.config.buffer_memory as usize,
                limit_name: "buffer.memory",
            });
        }
        let cluster = self.wait_on_metadata(&record.topic, record.partition, start, max_block).await?;
        let tinfo = cluster.topic(&record.topic).expect("wait_on_metadata checked the topic");
        let view = TopicView {
            topic: &record.topic,
            num_partitions: tinfo.partitions.len() as u32,
            available: &tinfo.available,
        };
        let queues = sh.acc.topic(&record.topic, view.num_partitions);
        let timestamp_ms = record.timestamp_ms.unwrap_or_else(now_ms);
        let rec = AppendRecord { timestamp_ms, key, value, headers: &headers, user_data: record.user_data };
        let mut partition = self.choose_partition(record.partition, &view, key, value);
        let custom = matches!(sh.partitioner, PartitionerChoice::Custom(_)) && record.partition.is_none();
        let mut abort_on_new_batch = custom;
        let mut registered_waiter = false;
        let outcome = loop {
            match sh.acc.append(&queues, partition, &rec, callback, want_future, abort_on_new_batch, Instant::now()) {
                AppendOutcome::AbortedForNewBatch => {
                    if let PartitionerChoice::Custom(p) = &sh.partitioner {
                        p.on_new_batch(&view, partition);
                    }
                    partition = self.choose_partition(record.partition, &view, key, value);
                    abort_on_new_batch = false;
                }
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
                    if sh.closed.load(Ordering::Acquire) {
                        sh.acc.pool.remove_waiter();
                        return Err(ProducerError::Closed);
                    }
                }
                done @ AppendOutcome::Appended { .. } => break done,
            }
        };
        if registered_waiter {
            sh.acc.pool.remove_waiter();
        }
        let AppendOutcome::Appended { new_batch, batch_full, appended_bytes, index, completion } = outcome else {
            unreachable!("loop breaks only on Appended")
        };
        if let PartitionerChoice::BuiltIn(b) = &sh.partitioner
            && record.partition.is_none()
        {
            b.after_append(&view, partition, appended_bytes, batch_full);
        }
        if let Some(h) = &sh.hooks {
            h.on_record_buffered(
                &TopicPartition { topic: queues.name.clone(), partition: partition as i32 },
                appended_bytes,
            );
        }
        if new_batch || batch_full {
            sh.wakeup.notify_one();
        }
        Ok(completion.map(|completion| DeliveryFuture {
            completion,
            index,
            tp: TopicPartition { topic: queues.name.clone(), partition: partition as i32 },
            info: RecordInfo {
                timestamp_ms,
                key_size: key.map_or(-1, |k| k.len() as i32),
                value_size: value.map_or(-1, |v| v.len() as i32),
                user_data: record.user_data,
            },
        }))
    }

    fn choose_partition(
        &self,
        explicit: Option<i32>,
        view: &TopicView<'_>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> u32 {
        if let Some(p) = explicit {
            return p as u32;
        }
        match &self.shared.partitioner {
            PartitionerChoice::BuiltIn(b) => b.partition(view, key),
            PartitionerChoice::Custom(p) => p.partition(view, key, value) % view.num_partitions.max(1),
        }
    }

    /// Java's `waitOnMetadata`: the topic (and the explicit partition) must be known, waiting up to `max.block.ms`.
    async fn wait_on_metadata(
        &self,
        topic: &str,
        partition: Option<i32>,
        start: Instant,
        max_block: Duration,
    ) -> Result<Arc<Cluster>, ProducerError> {
        let sh = &*self.shared;
        loop {
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
                    _ => return Ok(cluster),
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
            if sh.closed.load(Ordering::Acquire) {
                return Err(ProducerError::Closed);
            }
            if let Some(e) = sh.fatal.get() {
                return Err(e.clone());
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
            if sh.abort.load(Ordering::Acquire) && sender_finished(sh) {
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
        sh.closed.store(true, Ordering::Release);
        sh.acc.begin_close();
        sh.wakeup.notify_one();
        let deadline = Instant::now() + timeout;
        let task = sh.sender_task.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut task) = task else { return Ok(()) };
        if tokio::time::timeout_at(deadline.into(), &mut task).await.is_err() {
            sh.abort.store(true, Ordering::Release);
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
        let c = self.wait_on_metadata(topic, None, Instant::now(), self.shared.config.max_block).await?;
        Ok(c.topic(topic).map(|t| t.partitions.clone()).unwrap_or_default())
    }

    /// The resolved configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }
}

fn sender_finished(sh: &Shared) -> bool {
    sh.sender_task.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_none_or(|t| t.is_finished())
}

/// Wall-clock milliseconds since the epoch (record create time).
#[inline]
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
