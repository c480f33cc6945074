//! A per-thread cache of what the send path derives from a record's topic: the accumulator's queues, the
//! partition count and available partitions from the metadata snapshot, and the partitioner's topic handle.
//!
//! Without it every record pays a metadata read lock and a hash lookup, an accumulator read lock, a hash lookup
//! and an `Arc` clone/drop, and a partitioner hash lookup (twice) — about a third of the appending thread's time
//! at millions of records per second. With it a record costs a thread-local borrow, a pointer (or short string)
//! compare and two atomic loads.
//!
//! Validity: an entry is used only while both generations it was filled under are unchanged — the metadata
//! handle's (bumped on every new snapshot) and the accumulator's topic table's (bumped when a topic's queues are
//! created or replaced, e.g. grown). Fillers read both generations *before* reading the data they cache, so a
//! concurrent update can only make an entry look stale, never make stale data look fresh.
//!
//! Entries are keyed by a producer id that is never reused, so one thread can serve several producers. A few
//! slots per thread keep a handful of alternating topics fast; beyond that the send path falls back to the
//! lookups (a miss costs what every record cost before). Refilling a slot reuses its vector: no allocation once
//! warm. An entry keeps its `Arc`s alive until it is replaced or the thread exits (a few small objects).
//!
//! The cache is never borrowed across an `.await` (it is only touched from synchronous code), and a re-entrant
//! use (a hook sending from inside a send) finds it busy and takes the slow path instead of panicking.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::producer::accumulator::TopicQueues;
use crate::producer::partitioner::{TopicHandle, TopicView};

static NEXT_PRODUCER_ID: AtomicU64 = AtomicU64::new(1);

/// A process-unique id for a producer (the cache key; ids are never reused, unlike addresses).
pub(crate) fn next_producer_id() -> u64 {
    NEXT_PRODUCER_ID.fetch_add(1, Ordering::Relaxed)
}

/// The generations an entry is valid under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Generations {
    pub metadata: u64,
    pub topics: u64,
}

/// What the send path needs of one topic, cached.
pub(crate) struct CachedTopic {
    producer: u64,
    generations: Generations,
    name: Arc<str>,
    pub queues: Arc<TopicQueues>,
    pub num_partitions: u32,
    available: Vec<u32>,
    /// The built-in partitioner's state for the topic (`None` with a custom partitioner).
    pub handle: Option<TopicHandle>,
}

impl CachedTopic {
    /// The partitioners' view of the topic.
    #[inline]
    pub(crate) fn view(&self) -> TopicView<'_> {
        TopicView { topic: &self.name, num_partitions: self.num_partitions, available: &self.available }
    }

    #[inline]
    fn matches(&self, producer: u64, topic: &Arc<str>) -> bool {
        self.producer == producer && (Arc::ptr_eq(&self.name, topic) || *self.name == **topic)
    }
}

const SLOTS: usize = 4;

struct SendCache {
    slots: [Option<CachedTopic>; SLOTS],
    /// Round-robin victim when every slot is taken.
    next_victim: usize,
}

thread_local! {
    static CACHE: RefCell<SendCache> = const { RefCell::new(SendCache { slots: [None, None, None, None], next_victim: 0 }) };
}

/// Runs `f` on the valid entry for `producer`'s `topic`; `None` on a miss, a stale entry, or a busy cache.
#[inline]
pub(crate) fn with_topic<R>(
    producer: u64,
    topic: &Arc<str>,
    generations: Generations,
    f: impl FnOnce(&CachedTopic) -> R,
) -> Option<R> {
    CACHE
        .try_with(|c| {
            let c = c.try_borrow().ok()?;
            let e = c.slots.iter().flatten().find(|e| e.matches(producer, topic))?;
            (e.generations == generations).then(|| f(e))
        })
        .ok()
        .flatten()
}

/// Everything an entry holds, for [`store`].
pub(crate) struct Fill<'a> {
    pub producer: u64,
    /// Read before the snapshot and the queues below were obtained.
    pub generations: Generations,
    pub name: &'a Arc<str>,
    pub queues: &'a Arc<TopicQueues>,
    pub num_partitions: u32,
    pub available: &'a [u32],
    pub handle: Option<&'a TopicHandle>,
}

/// Stores (or refreshes) the entry for `fill.producer`'s topic. Does nothing if the cache is busy.
pub(crate) fn store(fill: Fill<'_>) {
    let _ = CACHE.try_with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else { return };
        let idx = c
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|e| e.matches(fill.producer, fill.name)))
            .or_else(|| c.slots.iter().position(Option::is_none))
            .unwrap_or_else(|| {
                let v = c.next_victim;
                c.next_victim = (v + 1) % SLOTS;
                v
            });
        let mut available = c.slots[idx].take().map(|e| e.available).unwrap_or_default();
        available.clear();
        available.extend_from_slice(fill.available);
        c.slots[idx] = Some(CachedTopic {
            producer: fill.producer,
            generations: fill.generations,
            name: fill.name.clone(),
            queues: fill.queues.clone(),
            num_partitions: fill.num_partitions,
            available,
            handle: fill.handle.cloned(),
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::accumulator::{AccumulatorConfig, RecordAccumulator};
    use crate::record::Compression;
    use std::time::Duration;

    fn acc() -> RecordAccumulator {
        RecordAccumulator::new(AccumulatorConfig {
            batch_size: 1024,
            linger: Duration::ZERO,
            compression: Compression::None,
            delivery_timeout: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(1),
            retry_backoff_max: Duration::from_millis(1),
            buffer_memory: 1 << 20,
        })
    }

    fn fill(producer: u64, name: &Arc<str>, g: Generations, q: &Arc<TopicQueues>, avail: &[u32]) {
        store(Fill {
            producer,
            generations: g,
            name,
            queues: q,
            num_partitions: q.num_partitions(),
            available: avail,
            handle: None,
        });
    }

    #[test]
    fn hits_by_pointer_or_name_only_while_generations_match() {
        let a = acc();
        let p = next_producer_id();
        let name: Arc<str> = "cache-t".into();
        let q = a.topic(&name, 3);
        let g = Generations { metadata: 7, topics: a.topics_generation() };
        fill(p, &name, g, &q, &[0, 2]);
        let seen = with_topic(p, &name, g, |e| (e.num_partitions, e.view().available.to_vec()));
        assert_eq!(seen, Some((3, vec![0, 2])));
        // Same name, different allocation: still a hit.
        let other: Arc<str> = "cache-t".into();
        assert!(with_topic(p, &other, g, |e| Arc::ptr_eq(&e.queues, &q)).unwrap());
        // Stale metadata or topic table: a miss.
        assert!(with_topic(p, &name, Generations { metadata: 8, ..g }, |_| ()).is_none());
        assert!(with_topic(p, &name, Generations { topics: g.topics + 1, ..g }, |_| ()).is_none());
        // Another producer or another topic: a miss.
        assert!(with_topic(next_producer_id(), &name, g, |_| ()).is_none());
        assert!(with_topic(p, &Arc::from("cache-u"), g, |_| ()).is_none());
    }

    #[test]
    fn growing_a_topic_invalidates_and_refill_replaces_in_place() {
        let a = acc();
        let p = next_producer_id();
        let name: Arc<str> = "cache-grow".into();
        let g0 = a.topics_generation();
        let q = a.topic(&name, 2);
        let g = Generations { metadata: 1, topics: g0 };
        fill(p, &name, g, &q, &[0, 1]);
        // The generation read before `topic()` created the queues is already stale: refill needed.
        assert!(with_topic(p, &name, Generations { metadata: 1, topics: a.topics_generation() }, |_| ()).is_none());
        let g1 = Generations { metadata: 1, topics: a.topics_generation() };
        fill(p, &name, g1, &q, &[0, 1]);
        assert!(with_topic(p, &name, g1, |_| ()).is_some());
        let bigger = a.topic(&name, 4);
        assert_ne!(a.topics_generation(), g1.topics, "replacing the queues bumps the generation");
        let g2 = Generations { metadata: 1, topics: a.topics_generation() };
        fill(p, &name, g2, &bigger, &[0, 1, 2, 3]);
        assert_eq!(with_topic(p, &name, g2, |e| e.num_partitions), Some(4));
        // One slot per (producer, topic): the old entry was replaced, not duplicated.
        let slots =
            CACHE.with(|c| c.borrow().slots.iter().flatten().filter(|e| e.producer == p && *e.name == *name).count());
        assert_eq!(slots, 1);
    }

    #[test]
    fn more_topics_than_slots_evict_without_losing_correctness() {
        let a = acc();
        let p = next_producer_id();
        let names: Vec<Arc<str>> = (0..SLOTS + 2).map(|i| Arc::from(format!("cache-many-{i}"))).collect();
        let g = Generations { metadata: 3, topics: 0 };
        let queues: Vec<_> = names.iter().map(|n| a.topic(n, 1)).collect();
        let gen_now = Generations { topics: a.topics_generation(), ..g };
        for (n, q) in names.iter().zip(&queues) {
            fill(p, n, gen_now, q, &[0]);
        }
        // Entries hold their own queues: a hit returns the queues of its own topic, never a neighbour's.
        let hits: Vec<Option<bool>> =
            names.iter().map(|n| with_topic(p, n, gen_now, |e| *e.queues.name == **n)).collect();
        assert!(hits.iter().flatten().all(|same| *same), "{hits:?}");
        assert_eq!(hits.iter().flatten().count(), SLOTS, "every slot holds one of the newest topics");
        assert_eq!(hits.last(), Some(&Some(true)), "the newest entry is cached");
        assert_eq!(hits[0], None, "the oldest entry was evicted");
    }

    #[test]
    fn busy_cache_is_a_miss_not_a_panic() {
        let a = acc();
        let p = next_producer_id();
        let name: Arc<str> = "cache-busy".into();
        let q = a.topic(&name, 1);
        let g = Generations { metadata: 0, topics: a.topics_generation() };
        fill(p, &name, g, &q, &[0]);
        let nested = with_topic(p, &name, g, |_| {
            // A re-entrant fill while borrowed is skipped; a re-entrant read still works.
            fill(p, &name, Generations { metadata: 99, ..g }, &q, &[0]);
            with_topic(p, &name, g, |_| 1)
        });
        assert_eq!(nested, Some(Some(1)));
        assert!(with_topic(p, &name, g, |_| ()).is_some(), "the skipped fill changed nothing");
    }
}
