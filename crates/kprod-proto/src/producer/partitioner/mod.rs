//! Partitioners: where a record goes when the caller did not name a partition.
//!
//! Three kinds, selected by `partitioner.class` (see [`PartitionerRegistry::resolve`]):
//! - the built-in partitioner ([`BuiltInPartitioner`], Java's KIP-794 "uniform sticky" logic): keyed records are
//!   placed by murmur2 of the key ([`default_partition_for_key`]), keyless records stick to one partition until
//!   `batch.size` bytes went there, optionally weighted by queue depth (adaptive partitioning);
//! - [`RoundRobinPartitioner`], without Java's KAFKA-9965 skew;
//! - user partitioners implementing [`Partitioner`], registered by name.
//!
//! Everything here is sans-IO and allocation-free on the per-record path.
//!
//! # References
//! - KIP-794 (strictly uniform sticky partitioner), KIP-480 (sticky partitioner), KAFKA-9965 (round-robin skew).
//! - Java client: `org.apache.kafka.clients.producer.internals.BuiltInPartitioner`, `Utils.murmur2`.

mod builtin;
mod round_robin;

use std::collections::HashMap;
use std::sync::Arc;

pub use builtin::{BuiltInPartitioner, PartitionLoad, TopicHandle};
pub use round_robin::RoundRobinPartitioner;

/// What a partitioner may know of a topic (from metadata).
///
/// ```
/// use kprod_proto::producer::partitioner::{Partitioner, TopicView};
///
/// /// Every record with a key to partition 0, keyless ones to the last partition.
/// struct KeyedFirst;
/// impl Partitioner for KeyedFirst {
///     fn partition(&self, topic: &TopicView<'_>, key: Option<&[u8]>, _value: Option<&[u8]>) -> u32 {
///         if key.is_some() { 0 } else { topic.num_partitions - 1 }
///     }
///     fn name(&self) -> &str {
///         "keyed-first"
///     }
/// }
/// let view = TopicView { topic: "events", num_partitions: 4, available: &[0, 1, 2, 3] };
/// assert_eq!(KeyedFirst.partition(&view, Some(b"k"), None), 0);
/// assert_eq!(KeyedFirst.partition(&view, None, Some(b"v")), 3);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TopicView<'a> {
    /// The topic name.
    pub topic: &'a str,
    /// Partitions of the topic (all, available or not).
    pub num_partitions: u32,
    /// Partitions that currently have a live leader (may be empty when unknown).
    pub available: &'a [u32],
}

/// A user-supplied partitioner (Java's `Partitioner` interface).
///
/// The returned partition must be `< topic.num_partitions`; the producer rejects anything else with an error
/// naming the partitioner.
///
/// ```
/// use kprod_proto::producer::partitioner::{Partitioner, TopicView};
///
/// /// Every record with a key to partition 0, keyless ones to the last partition.
/// struct KeyedFirst;
/// impl Partitioner for KeyedFirst {
///     fn partition(&self, topic: &TopicView<'_>, key: Option<&[u8]>, _value: Option<&[u8]>) -> u32 {
///         if key.is_some() { 0 } else { topic.num_partitions - 1 }
///     }
///     fn name(&self) -> &str {
///         "keyed-first"
///     }
/// }
/// let view = TopicView { topic: "events", num_partitions: 4, available: &[0, 1, 2, 3] };
/// assert_eq!(KeyedFirst.partition(&view, Some(b"k"), None), 0);
/// assert_eq!(KeyedFirst.partition(&view, None, Some(b"v")), 3);
/// ```
pub trait Partitioner: Send + Sync + 'static {
    /// The partition for a record with this key and value (`None` = null); must be `< topic.num_partitions`.
    fn partition(&self, topic: &TopicView<'_>, key: Option<&[u8]>, value: Option<&[u8]>) -> u32;
    /// Called when the append would have created a new batch (Java's `onNewBatch`), before partitioning again.
    fn on_new_batch(&self, _topic: &TopicView<'_>, _prev_partition: u32) {}
    /// A name for logs and errors.
    fn name(&self) -> &str;
}

#[cfg(test)]
use crate::murmur2::murmur2;

/// Keyed placement exactly as Java: `toPositive(murmur2(key)) % num_partitions`, over all partitions.
/// Returns 0 when `num_partitions` is 0 (no metadata: the caller must not use the result).
pub fn default_partition_for_key(key: &[u8], num_partitions: u32) -> u32 {
    if num_partitions == 0 {
        return 0;
    }
    crate::murmur2::partition_for_key(key, num_partitions)
}

/// The partitioners built into kprod, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinKind {
    /// The built-in partitioner (murmur2 for keys, uniform sticky for keyless records).
    Sticky,
    /// The built-in partitioner with keys ignored (Java's removed `UniformStickyPartitioner`).
    UniformSticky,
    /// [`RoundRobinPartitioner`].
    RoundRobin,
}

/// Names accepted for the built-in kinds (case-sensitive for Java class names, as Java is).
const BUILTIN_NAMES: &[(&str, BuiltinKind)] = &[
    ("", BuiltinKind::Sticky),
    ("sticky", BuiltinKind::Sticky),
    ("default", BuiltinKind::Sticky),
    ("builtin", BuiltinKind::Sticky),
    ("org.apache.kafka.clients.producer.internals.DefaultPartitioner", BuiltinKind::Sticky),
    ("uniform-sticky", BuiltinKind::UniformSticky),
    ("org.apache.kafka.clients.producer.UniformStickyPartitioner", BuiltinKind::UniformSticky),
    ("round-robin", BuiltinKind::RoundRobin),
    ("RoundRobinPartitioner", BuiltinKind::RoundRobin),
    ("org.apache.kafka.clients.producer.RoundRobinPartitioner", BuiltinKind::RoundRobin),
];

/// Recognises the built-in partitioner names (surrounding whitespace ignored); `""` means unset.
pub fn builtin_partitioner_by_name(name: &str) -> Option<BuiltinKind> {
    let name = name.trim();
    BUILTIN_NAMES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// The outcome of resolving `partitioner.class`.
///
/// ```
/// use std::sync::Arc;
/// use kprod_proto::producer::partitioner::{PartitionerChoice, PartitionerRegistry, UnknownPartitioner};
/// use kprod_proto::producer::partitioner::RoundRobinPartitioner;
///
/// let mut registry = PartitionerRegistry::new();
/// registry.register("round-robin-2", Arc::new(RoundRobinPartitioner::new()));
/// assert!(matches!(registry.resolve(Some("round-robin-2"))?, PartitionerChoice::Custom(_)));
/// let e: UnknownPartitioner = registry.resolve(Some("com.example.Nope")).unwrap_err();
/// assert_eq!(e.name, "com.example.Nope");
/// assert!(e.known.contains(&"round-robin-2".to_string()));
/// # Ok::<(), UnknownPartitioner>(())
/// ```
#[derive(Clone)]
pub enum PartitionerChoice {
    /// One of the built-in partitioners.
    Builtin(BuiltinKind),
    /// A user partitioner (given to the builder, or registered under the name).
    Custom(Arc<dyn Partitioner>),
}

impl std::fmt::Debug for PartitionerChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Builtin(k) => write!(f, "Builtin({k:?})"),
            Self::Custom(p) => write!(f, "Custom({})", p.name()),
        }
    }
}

/// `partitioner.class` names neither a built-in nor a registered partitioner.
///
/// ```
/// use std::sync::Arc;
/// use kprod_proto::producer::partitioner::{PartitionerChoice, PartitionerRegistry, UnknownPartitioner};
/// use kprod_proto::producer::partitioner::RoundRobinPartitioner;
///
/// let mut registry = PartitionerRegistry::new();
/// registry.register("round-robin-2", Arc::new(RoundRobinPartitioner::new()));
/// assert!(matches!(registry.resolve(Some("round-robin-2"))?, PartitionerChoice::Custom(_)));
/// let e: UnknownPartitioner = registry.resolve(Some("com.example.Nope")).unwrap_err();
/// assert_eq!(e.name, "com.example.Nope");
/// assert!(e.known.contains(&"round-robin-2".to_string()));
/// # Ok::<(), UnknownPartitioner>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[error("unknown partitioner.class '{name}'; known partitioners: {}", known.join(", "))]
pub struct UnknownPartitioner {
    /// The name given.
    pub name: String,
    /// Every name that would have been accepted.
    pub known: Vec<String>,
}

/// Custom partitioners by name, consulted after the built-in names.
///
/// ```
/// use std::sync::Arc;
/// use kprod_proto::producer::partitioner::{PartitionerChoice, PartitionerRegistry, UnknownPartitioner};
/// use kprod_proto::producer::partitioner::RoundRobinPartitioner;
///
/// let mut registry = PartitionerRegistry::new();
/// registry.register("round-robin-2", Arc::new(RoundRobinPartitioner::new()));
/// assert!(matches!(registry.resolve(Some("round-robin-2"))?, PartitionerChoice::Custom(_)));
/// let e: UnknownPartitioner = registry.resolve(Some("com.example.Nope")).unwrap_err();
/// assert_eq!(e.name, "com.example.Nope");
/// assert!(e.known.contains(&"round-robin-2".to_string()));
/// # Ok::<(), UnknownPartitioner>(())
/// ```
#[derive(Clone, Default)]
pub struct PartitionerRegistry {
    custom: HashMap<String, Arc<dyn Partitioner>>,
}

impl PartitionerRegistry {
    /// A registry holding the built-in names only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `partitioner` under `name` (replacing an earlier one of that name). Built-in names win over
    /// custom ones, so registering e.g. "sticky" has no effect on resolution.
    pub fn register(&mut self, name: impl Into<String>, partitioner: Arc<dyn Partitioner>) -> &mut Self {
        self.custom.insert(name.into(), partitioner);
        self
    }

    /// Resolves `partitioner.class` (`None` = unset = the built-in partitioner).
    pub fn resolve(&self, name: Option<&str>) -> Result<PartitionerChoice, UnknownPartitioner> {
        let name = name.unwrap_or("").trim();
        if let Some(kind) = builtin_partitioner_by_name(name) {
            return Ok(PartitionerChoice::Builtin(kind));
        }
        if let Some(p) = self.custom.get(name) {
            return Ok(PartitionerChoice::Custom(p.clone()));
        }
        Err(UnknownPartitioner { name: name.to_string(), known: self.known_names() })
    }

    /// Every name [`resolve`](Self::resolve) accepts (except the empty one), sorted.
    pub fn known_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            BUILTIN_NAMES.iter().map(|(n, _)| n.to_string()).filter(|n| !n.is_empty()).collect();
        names.extend(self.custom.keys().cloned());
        names.sort();
        names.dedup();
        names
    }
}

/// A small, fast hasher for the per-topic maps on the append path (topic names are short and trusted).
#[derive(Default, Clone, Copy)]
pub(crate) struct TopicHasher(u64);

impl std::hash::Hasher for TopicHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // FNV-1a over 8-byte words then bytes; good enough spreading for a handful of topic names.
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(23);
        }
        for &b in chunks.remainder() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type TopicMap<V> = HashMap<String, V, std::hash::BuildHasherDefault<TopicHasher>>;

/// A lock-free deterministic random source (SplitMix64 over an atomic counter).
pub(crate) struct SplitMix(std::sync::atomic::AtomicU64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(std::sync::atomic::AtomicU64::new(seed))
    }
    pub(crate) fn next_u32(&self) -> u32 {
        let mut z = self
            .0
            .fetch_add(0x9e37_79b9_7f4a_7c15, std::sync::atomic::Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_java_vectors() {
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"abc"), 479470107);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        // Tail lengths 1..3 and the empty key all take distinct code paths; they must differ from each other.
        let hs: Vec<i32> = ["", "a", "ab", "abc", "abcd"].iter().map(|s| murmur2(s.as_bytes())).collect();
        for i in 0..hs.len() {
            for j in i + 1..hs.len() {
                assert_ne!(hs[i], hs[j]);
            }
        }
    }

    #[test]
    fn java_key_placements() {
        // Derived from the vectors: (murmur2 & 0x7fffffff) % n.
        assert_eq!(default_partition_for_key(b"21", 3), (((-973932308i32) & 0x7fffffff) as u32) % 3);
        assert_eq!(default_partition_for_key(b"foobar", 10), (((-790332482i32) & 0x7fffffff) as u32) % 10);
        assert_eq!(default_partition_for_key(b"abc", 7), 479470107 % 7);
        assert_eq!(default_partition_for_key(b"abc", 0), 0);
        // Placement is over all partitions, so it is stable whatever is available.
        assert_eq!(default_partition_for_key(b"a-little-bit-long-string", 1), 0);
    }

    struct Fixed(u32);
    impl Partitioner for Fixed {
        fn partition(&self, _: &TopicView<'_>, _: Option<&[u8]>, _: Option<&[u8]>) -> u32 {
            self.0
        }
        fn name(&self) -> &str {
            "fixed"
        }
    }

    #[test]
    fn registry_resolves_builtins_and_custom() {
        let mut reg = PartitionerRegistry::new();
        reg.register("fixed", Arc::new(Fixed(2)));
        assert!(matches!(reg.resolve(None), Ok(PartitionerChoice::Builtin(BuiltinKind::Sticky))));
        assert!(matches!(
            reg.resolve(Some(" org.apache.kafka.clients.producer.RoundRobinPartitioner ")),
            Ok(PartitionerChoice::Builtin(BuiltinKind::RoundRobin))
        ));
        assert_eq!(builtin_partitioner_by_name("RoundRobinPartitioner"), Some(BuiltinKind::RoundRobin));
        assert_eq!(builtin_partitioner_by_name("keyed"), None);
        let view = TopicView { topic: "t", num_partitions: 4, available: &[] };
        match reg.resolve(Some("fixed")) {
            Ok(PartitionerChoice::Custom(p)) => assert_eq!(p.partition(&view, None, None), 2),
            other => panic!("expected custom, got {other:?}"),
        }
        let err = reg.resolve(Some("com.example.Nope")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("com.example.Nope") && msg.contains("round-robin") && msg.contains("fixed"), "{msg}");
    }
}
