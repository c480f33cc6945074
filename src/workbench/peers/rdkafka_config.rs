//! kprod's (Java) producer properties → librdkafka configuration, every key that shapes throughput or latency
//! set explicitly so nothing comes from librdkafka's own defaults.
//!
//! The point's properties are first resolved as kprod resolves them ([`ProducerConfig::from_pairs`]: Java 4.x
//! defaults, idempotence rules, delivery timeout), then mapped:
//!
//! | Java / kprod key | librdkafka key | note |
//! |---|---|---|
//! | `bootstrap.servers` | `bootstrap.servers` | the peer's target |
//! | `client.id` | `client.id` | only when set |
//! | `acks` | `acks` | `all` → `all` (-1) |
//! | `batch.size` | `batch.size` | bytes per partition batch |
//! | — | `batch.num.messages` = 1000000 (its maximum) | librdkafka-only count cap; Java has none |
//! | `linger.ms` | `linger.ms` | |
//! | `buffer.memory` | `queue.buffering.max.kbytes` = buffer.memory / 1024 | |
//! | — | `queue.buffering.max.messages` = 2147483647 | librdkafka-only count cap; Java has none |
//! | `max.request.size` | `message.max.bytes` | |
//! | `compression.type` | `compression.codec` | none, gzip, snappy, lz4, zstd |
//! | `compression.gzip.level` | `compression.level` | -1 (codec default) or 1..=9 |
//! | `compression.lz4.level` | `compression.level` | Java's default 9 runs lz4-java's *fast* compressor, as kprod does: → 0 (LZ4F fast); other levels (HC in Java) → min(level, 12) |
//! | `compression.zstd.level` | `compression.level` | clamped to librdkafka's 1..=22 |
//! | `enable.idempotence` | `enable.idempotence` | |
//! | `max.in.flight.requests.per.connection` | `max.in.flight.requests.per.connection` | |
//! | `retries` | `retries` | |
//! | `retry.backoff.ms`, `retry.backoff.max.ms` | same names | |
//! | `request.timeout.ms` | `request.timeout.ms` | |
//! | `delivery.timeout.ms` | `message.timeout.ms` | |
//! | `reconnect.backoff.ms`, `reconnect.backoff.max.ms` | same names | |
//! | `metadata.max.age.ms` | `metadata.max.age.ms` | |
//! | `connections.max.idle.ms` | `connections.max.idle.ms` | |
//! | `send.buffer.bytes`, `receive.buffer.bytes` | `socket.send.buffer.bytes`, `socket.receive.buffer.bytes` | Java's -1 (OS default) → 0 |
//! | `partitioner.class` (built-in) | `partitioner` = `murmur2_random` | Java-compatible key placement; null keys random |
//! | (built-in sticky partitioner) | `sticky.partitioning.linger.ms` = max(2 × linger.ms, 1) | librdkafka's documented relation; Java switches on a full batch instead |
//! | (Java sets TCP_NODELAY) | `socket.nagle.disable` = true | as Java and kprod |
//! | `transactional.id`, `transaction.timeout.ms` | same names | only when set |
//!
//! Not applicable (no librdkafka equivalent; ignored): `max.block.ms` (librdkafka never blocks in produce: the
//! peer retries on a full queue for at most max.block.ms itself), `metadata.max.idle.ms`,
//! `partitioner.adaptive.partitioning.enable`, `partitioner.availability.timeout.ms`, `key.serializer`,
//! `value.serializer`, `interceptor.classes`, `security.protocol` (PLAINTEXT only here), kprod's own
//! `compression.threads` (librdkafka compresses on its broker threads), and the remaining
//! metrics/DNS/SSL/SASL keys. A custom `partitioner.class` or `partitioner.ignore.keys=true` is refused: the
//! comparison would not be like for like.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::producer::config::{Acks, ProducerConfig};

/// librdkafka's upper bound for `queue.buffering.max.messages`.
pub const QUEUE_MESSAGES_MAX: u32 = i32::MAX as u32;
/// librdkafka's upper bound for `batch.num.messages`.
pub const BATCH_MESSAGES_MAX: u32 = 1_000_000;

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

/// A producer property with no librdkafka equivalent, or one kprod refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RdkafkaConfigError {
    #[error("partitioner.class={0}: librdkafka has only its built-in partitioners")]
    PartitionerClass(String),
    #[error("partitioner.ignore.keys=true has no librdkafka equivalent")]
    PartitionerIgnoreKeys,
    #[error("interceptor.classes has no librdkafka equivalent")]
    Interceptors,
    #[error("security.protocol={0}: the librdkafka peer connects in PLAINTEXT only")]
    SecurityProtocol(String),
    #[error(transparent)]
    Config(#[from] crate::producer::config::ConfigError),
}

/// The librdkafka configuration equivalent to `props` (Java producer properties, unresolved) for `bootstrap`.
/// Returns the error message naming the key that cannot be mapped.
pub fn rdkafka_config(
    props: &BTreeMap<String, String>,
    bootstrap: &str,
) -> Result<BTreeMap<String, String>, RdkafkaConfigError> {
    let c = ProducerConfig::from_pairs(props.iter())?;
    if let Some(p) = &c.partitioner_class {
        return Err(RdkafkaConfigError::PartitionerClass(p.clone()));
    }
    if c.partitioner_ignore_keys {
        return Err(RdkafkaConfigError::PartitionerIgnoreKeys);
    }
    if !c.interceptor_classes.is_empty() {
        return Err(RdkafkaConfigError::Interceptors);
    }
    if c.security_protocol != "PLAINTEXT" {
        return Err(RdkafkaConfigError::SecurityProtocol(c.security_protocol.clone()));
    }
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("bootstrap.servers", bootstrap.to_string());
    if c.explicitly_set.contains("client.id") {
        put("client.id", c.client_id.clone());
    }
    put(
        "acks",
        match c.acks {
            Acks::Zero => "0",
            Acks::One => "1",
            Acks::All => "all",
        }
        .into(),
    );
    put("batch.size", c.batch_size.to_string());
    put("batch.num.messages", BATCH_MESSAGES_MAX.to_string());
    put("linger.ms", ms(c.linger));
    // librdkafka counts the queue in KiB; at least 1.
    put("queue.buffering.max.kbytes", (c.buffer_memory / 1024).max(1).to_string());
    put("queue.buffering.max.messages", QUEUE_MESSAGES_MAX.to_string());
    put("message.max.bytes", c.max_request_size.to_string());
    put("compression.codec", c.compression_type.clone());
    if let Some(level) = compression_level(&c) {
        put("compression.level", level.to_string());
    }
    put("enable.idempotence", c.enable_idempotence.to_string());
    put("max.in.flight.requests.per.connection", c.max_in_flight.to_string());
    put("retries", c.retries.min(i32::MAX as u32).to_string());
    put("retry.backoff.ms", ms(c.retry_backoff));
    put("retry.backoff.max.ms", ms(c.retry_backoff_max));
    put("request.timeout.ms", ms(c.request_timeout));
    put("message.timeout.ms", ms(c.delivery_timeout));
    put("reconnect.backoff.ms", ms(c.reconnect_backoff));
    put("reconnect.backoff.max.ms", ms(c.reconnect_backoff_max));
    put("metadata.max.age.ms", ms(c.metadata_max_age));
    put("connections.max.idle.ms", ms(c.connections_max_idle));
    put("socket.send.buffer.bytes", c.send_buffer_bytes.max(0).to_string());
    put("socket.receive.buffer.bytes", c.receive_buffer_bytes.max(0).to_string());
    put("partitioner", "murmur2_random".into());
    put("sticky.partitioning.linger.ms", (2 * c.linger.as_millis()).max(1).to_string());
    put("socket.nagle.disable", "true".into());
    if let Some(t) = &c.transactional_id {
        put("transactional.id", t.clone());
        put("transaction.timeout.ms", ms(c.transaction_timeout));
    }
    Ok(m)
}

/// librdkafka's `compression.level` for the configured codec; `None` for codecs without levels.
fn compression_level(c: &ProducerConfig) -> Option<i32> {
    match c.compression_type.as_str() {
        "gzip" => Some(c.compression_gzip_level),
        // lz4-java's default level (9) is its fast compressor: LZ4F level 0 is the same algorithm.
        "lz4" if c.compression_lz4_level == 9 => Some(0),
        "lz4" => Some(c.compression_lz4_level.min(12)),
        "zstd" => Some(c.compression_zstd_level.clamp(1, 22)),
        _ => None,
    }
}
