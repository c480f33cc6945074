//! The typed builder for [`ProducerConfig`]: each method sets one field and marks its Java key as explicitly
//! set, so the conflict rules treat it exactly like a key from a properties file.

use std::time::Duration;

use super::{Acks, ConfigError, ProducerConfig};

/// Typed builder; every method marks its Java key as explicitly set. `build` runs [`ProducerConfig::resolve`].
///
/// ```
/// use std::time::Duration;
/// use kprod_proto::producer::config::ProducerConfig;
///
/// let config = ProducerConfig::builder()
///     .bootstrap_servers(["kafka-0:9092", "kafka-1:9092"])
///     .linger(Duration::from_millis(10))
///     .batch_size(64 * 1024)
///     .build()?;
/// assert_eq!(config.bootstrap_servers.len(), 2);
/// assert_eq!((config.linger, config.batch_size), (Duration::from_millis(10), 65_536));
/// assert!(config.explicitly_set.contains("linger.ms"));
/// # Ok::<(), kprod_proto::producer::config::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
    error: Option<ConfigError>,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident, $field:ident, $key:literal, $ty:ty) => {
        #[doc = concat!("Sets `", $key, "`.")]
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$field = value.into();
            self.config.explicitly_set.insert($key.to_string());
            self
        }
    };
}

impl ProducerConfigBuilder {
    /// Sets `bootstrap.servers` (`host:port` each).
    pub fn bootstrap_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.bootstrap_servers = servers.into_iter().map(Into::into).collect();
        self.config.explicitly_set.insert("bootstrap.servers".to_string());
        self
    }
    setter!(client_id, client_id, "client.id", &str);
    setter!(acks, acks, "acks", Acks);
    setter!(batch_size, batch_size, "batch.size", usize);
    setter!(linger, linger, "linger.ms", Duration);
    setter!(buffer_memory, buffer_memory, "buffer.memory", u64);
    setter!(max_block, max_block, "max.block.ms", Duration);
    setter!(max_request_size, max_request_size, "max.request.size", usize);
    setter!(enable_idempotence, enable_idempotence, "enable.idempotence", bool);
    setter!(retries, retries, "retries", u32);
    setter!(max_in_flight, max_in_flight, "max.in.flight.requests.per.connection", usize);
    setter!(delivery_timeout, delivery_timeout, "delivery.timeout.ms", Duration);
    setter!(request_timeout, request_timeout, "request.timeout.ms", Duration);
    setter!(retry_backoff, retry_backoff, "retry.backoff.ms", Duration);
    setter!(retry_backoff_max, retry_backoff_max, "retry.backoff.max.ms", Duration);
    setter!(reconnect_backoff, reconnect_backoff, "reconnect.backoff.ms", Duration);
    setter!(reconnect_backoff_max, reconnect_backoff_max, "reconnect.backoff.max.ms", Duration);
    setter!(metadata_max_age, metadata_max_age, "metadata.max.age.ms", Duration);
    setter!(metadata_max_idle, metadata_max_idle, "metadata.max.idle.ms", Duration);
    setter!(compression_type, compression_type, "compression.type", &str);
    setter!(compression_gzip_level, compression_gzip_level, "compression.gzip.level", i32);
    setter!(compression_lz4_level, compression_lz4_level, "compression.lz4.level", i32);
    setter!(compression_zstd_level, compression_zstd_level, "compression.zstd.level", i32);
    setter!(
        /// kprod's own key: threads that compress batches beside the sender (0: the sender alone); `build`
        /// refuses more than [`COMPRESSION_THREADS_MAX`](super::COMPRESSION_THREADS_MAX).
        compression_threads,
        compression_threads,
        "compression.threads",
        usize
    );
    setter!(
        /// kprod's own key: `true` (the default) runs the sender on a thread of its own, `false` as a task on the
        /// runtime that builds the producer.
        sender_thread,
        sender_thread,
        "sender.thread",
        bool
    );
    setter!(
        partitioner_adaptive,
        partitioner_adaptive_partitioning_enable,
        "partitioner.adaptive.partitioning.enable",
        bool
    );
    setter!(
        partitioner_availability_timeout,
        partitioner_availability_timeout,
        "partitioner.availability.timeout.ms",
        Duration
    );
    setter!(partitioner_ignore_keys, partitioner_ignore_keys, "partitioner.ignore.keys", bool);
    setter!(transaction_timeout, transaction_timeout, "transaction.timeout.ms", Duration);
    setter!(connections_max_idle, connections_max_idle, "connections.max.idle.ms", Duration);
    setter!(send_buffer_bytes, send_buffer_bytes, "send.buffer.bytes", i32);
    setter!(receive_buffer_bytes, receive_buffer_bytes, "receive.buffer.bytes", i32);

    /// Sets `partitioner.class` (a built-in name or one registered with the producer builder).
    pub fn partitioner_class(mut self, name: &str) -> Self {
        self.config.partitioner_class = Some(name.to_string());
        self.config.explicitly_set.insert("partitioner.class".to_string());
        self
    }

    /// Sets `transactional.id` (turns transactions on).
    pub fn transactional_id(mut self, id: &str) -> Self {
        self.config.transactional_id = Some(id.to_string());
        self.config.explicitly_set.insert("transactional.id".to_string());
        self
    }

    /// `security.protocol`, case-insensitive.
    pub fn security_protocol(mut self, protocol: &str) -> Self {
        self.config.security_protocol = protocol.to_ascii_uppercase();
        self.config.explicitly_set.insert("security.protocol".to_string());
        self
    }

    /// Sets `interceptor.classes` (names the producer builder resolves).
    pub fn interceptor_classes<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.interceptor_classes = names.into_iter().map(Into::into).collect();
        self.config.explicitly_set.insert("interceptor.classes".to_string());
        self
    }

    /// Any key by its Java name; the first error is reported by [`build`](Self::build).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        if self.error.is_none()
            && let Err(e) = self.config.set(key, value)
        {
            self.error = Some(e);
        }
        self
    }

    /// Validates and resolves.
    pub fn build(self) -> Result<ProducerConfig, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut config = self.config;
        config.resolve()?;
        Ok(config)
    }
}
