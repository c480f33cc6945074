//! The producer's view of the cluster: brokers, topics, partition leaders. An immutable snapshot (`Cluster`)
//! swapped whole on each Metadata response, plus the shared handle through which `send` waits for a topic and
//! asks the sender for a refresh.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::Notify;

use crate::producer::accumulator::LeaderView;
use crate::producer::record::TopicPartition;
use crate::protocol::error::ErrorCode;

/// A broker's address.
///
/// ```
/// use kprod_producer::producer::metadata::BrokerInfo;
///
/// let b = BrokerInfo { id: 0, host: "kafka-0".into(), port: 9092 };
/// assert_eq!(b.address(), "kafka-0:9092");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The broker's node id.
    pub id: i32,
    /// Host name or IP as the broker advertises it.
    pub host: String,
    /// Port of the advertised listener.
    pub port: i32,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition's leadership.
///
/// ```
/// use kprod_producer::producer::{Producer, ProducerConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = kprod_mock::MockCluster::builder().brokers(2).start().await?;
/// cluster.create_topic("events", 4)?;
/// let producer: Producer = Producer::new(ProducerConfig::from_pairs([("bootstrap.servers", cluster.bootstrap())])?)?;
/// let partitions = producer.partitions_for("events").await?;
/// assert_eq!(partitions.len(), 4);
/// assert!(partitions.iter().all(|p| p.leader == p.partition % 2), "the mock leads partition p from broker p % 2");
/// producer.close(std::time::Duration::from_secs(5)).await?;
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition id.
    pub partition: i32,
    /// -1 when there is no leader.
    pub leader: i32,
    /// The leader's epoch (KIP-320).
    pub leader_epoch: i32,
}

/// One topic's partitions.
///
/// ```
/// use kprod_producer::producer::{Producer, ProducerConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = kprod_mock::MockCluster::builder().start().await?;
/// cluster.create_topic("events", 3)?;
/// let producer: Producer = Producer::new(ProducerConfig::from_pairs([("bootstrap.servers", cluster.bootstrap())])?)?;
/// producer.partitions_for("events").await?; // waits for metadata
/// let topic = producer.cluster().topic("events").cloned().expect("known now");
/// assert_eq!((topic.partitions.len(), topic.available.len()), (3, 3));
/// producer.close(std::time::Duration::from_secs(5)).await?;
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TopicInfo {
    /// The topic's name.
    pub name: Arc<str>,
    /// Indexed by partition id.
    pub partitions: Vec<PartitionInfo>,
    /// Partitions with a live leader, for the partitioners.
    pub available: Vec<u32>,
    /// Topic-level error from the last Metadata response (e.g. UNKNOWN_TOPIC_OR_PARTITION).
    pub error: ErrorCode,
}

/// An immutable snapshot of the cluster.
///
/// ```
/// use kprod_producer::producer::metadata::{BrokerInfo, Cluster, PartitionInfo, TopicInfo};
/// use kprod_producer::protocol::ErrorCode;
///
/// let brokers = vec![BrokerInfo { id: 1, host: "h".into(), port: 9092 }];
/// let partition = PartitionInfo { partition: 0, leader: 1, leader_epoch: 0 };
/// let topic = TopicInfo { name: "t".into(), partitions: vec![partition], available: vec![0], error: ErrorCode::None };
/// let cluster = Cluster::new(brokers, vec![topic], Some("id".into()), None);
/// assert_eq!(cluster.topic("t").map(|t| t.partitions.len()), Some(1));
/// assert!(cluster.topic("unknown").is_none());
/// assert_eq!(cluster.brokers[&1].address(), "h:9092");
/// ```
#[derive(Debug, Default, Clone)]
pub struct Cluster {
    /// The brokers by node id.
    pub brokers: HashMap<i32, BrokerInfo>,
    /// The topics the producer asked about, by name.
    pub topics: HashMap<Arc<str>, TopicInfo>,
    /// The cluster id the brokers report.
    pub cluster_id: Option<String>,
    by_node: HashMap<i32, Vec<TopicPartition>>,
    /// When this snapshot was fetched (`None`: never, the empty bootstrap snapshot).
    pub fetched_at: Option<Instant>,
}

impl Cluster {
    /// Builds a snapshot and its node → partitions index.
    pub fn new(
        brokers: Vec<BrokerInfo>,
        topics: Vec<TopicInfo>,
        cluster_id: Option<String>,
        fetched_at: Option<Instant>,
    ) -> Self {
        let mut by_node: HashMap<i32, Vec<TopicPartition>> = HashMap::new();
        for t in &topics {
            for p in &t.partitions {
                if p.leader >= 0 {
                    by_node
                        .entry(p.leader)
                        .or_default()
                        .push(TopicPartition { topic: t.name.clone(), partition: p.partition });
                }
            }
        }
        Cluster {
            brokers: brokers.into_iter().map(|b| (b.id, b)).collect(),
            topics: topics.into_iter().map(|t| (t.name.clone(), t)).collect(),
            cluster_id,
            by_node,
            fetched_at,
        }
    }

    /// A usable topic: known, with at least one partition.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.get(name).filter(|t| !t.partitions.is_empty())
    }

    /// Merges a fresh partial response into this snapshot: topics in `fresh` replace ours, others are kept.
    pub fn merged_with(&self, fresh: Cluster, keep: &BTreeSet<Arc<str>>) -> Cluster {
        let mut topics: Vec<TopicInfo> = self
            .topics
            .values()
            .filter(|t| !fresh.topics.contains_key(&t.name) && keep.contains(&t.name))
            .cloned()
            .collect();
        topics.extend(fresh.topics.into_values());
        Cluster::new(fresh.brokers.into_values().collect(), topics, fresh.cluster_id, fresh.fetched_at)
    }
}

impl LeaderView for Cluster {
    fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let p = self.topics.get(topic)?.partitions.get(partition as usize)?;
        (p.leader >= 0 && self.brokers.contains_key(&p.leader)).then_some(p.leader)
    }

    fn partitions_for_node(&self, node: i32) -> &[TopicPartition] {
        self.by_node.get(&node).map_or(&[], Vec::as_slice)
    }
}

/// Shared between the front door (readers) and the sender (the one writer).
///
/// ```
/// use kprod_producer::producer::metadata::{Cluster, MetadataHandle};
///
/// let handle = MetadataHandle::default();
/// assert!(handle.want("events"), "a topic not asked for before");
/// assert!(!handle.want("events"), "asked for already");
/// let before = handle.generation();
/// handle.set(Cluster::default());
/// assert_eq!(handle.generation(), before + 1);
/// ```
#[derive(Debug, Default)]
pub struct MetadataHandle {
    current: RwLock<Arc<Cluster>>,
    /// Topics the producer uses; the sender asks for these.
    wanted: Mutex<BTreeSet<Arc<str>>>,
    /// Set when a refresh is needed as soon as possible.
    pub refresh_requested: std::sync::atomic::AtomicBool,
    /// Woken (all waiters) on every update.
    pub updated: Notify,
    /// Why the last connection or metadata attempt failed, so a timeout can say why (names the address).
    last_error: Mutex<Option<String>>,
    /// A connection error retrying cannot cure (authentication, TLS): waiting for metadata fails with it at once,
    /// as Java's `Metadata.maybeThrowFatalException`. Cleared by the next metadata update.
    fatal_connect: Mutex<Option<crate::producer::error::ProducerError>>,
    /// Bumped on every [`set`](Self::set): lets the send path cache what it derived from a snapshot.
    generation: AtomicU64,
}

impl MetadataHandle {
    /// The latest snapshot.
    pub fn current(&self) -> Arc<Cluster> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Publishes a new snapshot, clears the fatal connect error and wakes every send waiting on metadata.
    pub fn set(&self, c: Cluster) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(c);
        *self.fatal_connect.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.generation.fetch_add(1, Ordering::Release);
        self.updated.notify_waiters();
    }

    /// Changes on every [`set`](Self::set). Read it *before* [`current`](Self::current): whatever is derived from
    /// that snapshot stays valid while the generation is unchanged.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Adds a topic to the wanted set; returns true if it was new.
    pub fn want(&self, topic: &str) -> bool {
        let mut w = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        if w.contains(topic) {
            return false;
        }
        w.insert(Arc::from(topic));
        true
    }

    /// The topics the next Metadata request asks for.
    pub fn wanted(&self) -> BTreeSet<Arc<str>> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Remembers why the last refresh failed (a send that times out waiting for its topic names it).
    pub fn set_last_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }

    /// Why the last refresh failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records an authentication/TLS failure and wakes every send waiting on metadata (they fail with it).
    pub fn set_fatal_connect(&self, e: crate::producer::error::ProducerError) {
        *self.fatal_connect.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        self.updated.notify_waiters();
    }

    /// The authentication/TLS failure since the last successful update, if any.
    pub fn fatal_connect(&self) -> Option<crate::producer::error::ProducerError> {
        self.fatal_connect.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Asks the sender for a metadata refresh at its next turn.
    pub fn request_refresh(&self) {
        self.refresh_requested.store(true, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, leaders: &[i32]) -> TopicInfo {
        TopicInfo {
            name: Arc::from(name),
            partitions: leaders
                .iter()
                .enumerate()
                .map(|(i, &l)| PartitionInfo { partition: i as i32, leader: l, leader_epoch: 0 })
                .collect(),
            available: leaders.iter().enumerate().filter(|(_, l)| **l >= 0).map(|(i, _)| i as u32).collect(),
            error: ErrorCode::None,
        }
    }

    #[test]
    fn leaders_and_node_index() {
        let brokers =
            vec![BrokerInfo { id: 1, host: "h".into(), port: 1 }, BrokerInfo { id: 2, host: "h".into(), port: 2 }];
        let c = Cluster::new(brokers, vec![topic("a", &[1, 2, -1, 1])], None, None);
        assert_eq!(c.leader("a", 1), Some(2));
        assert_eq!(c.leader("a", 2), None, "no leader");
        assert_eq!(c.leader("a", 9), None, "out of range");
        assert_eq!(c.partitions_for_node(1).iter().map(|t| t.partition).collect::<Vec<_>>(), vec![0, 3]);
        assert!(c.partitions_for_node(3).is_empty());
    }

    #[test]
    fn merge_keeps_wanted_topics_only() {
        let b = vec![BrokerInfo { id: 1, host: "h".into(), port: 1 }];
        let old = Cluster::new(b.clone(), vec![topic("a", &[1]), topic("b", &[1])], None, None);
        let fresh = Cluster::new(b, vec![topic("c", &[1])], None, None);
        let keep: BTreeSet<Arc<str>> = [Arc::from("a"), Arc::from("c")].into_iter().collect();
        let m = old.merged_with(fresh, &keep);
        assert!(m.topic("a").is_some());
        assert!(m.topic("b").is_none());
        assert!(m.topic("c").is_some());
    }
}
