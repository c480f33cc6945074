//! A partition's queue of batches, in send order, with its last batch (the one records are appended to) kept in a
//! field of its own.

use std::collections::VecDeque;
use std::ops::Index;

use super::batch::ProducerBatch;

/// A partition's batches, oldest first, as a `VecDeque` holds them, but with the last one apart: the append path
/// reaches it with one check instead of the deque's index arithmetic (head + len - 1, wrapped at the capacity,
/// times the batch's size), and "is an older batch waiting" is one check too (issue 19: ~13 instructions per
/// record).
///
/// Invariant: `last` is `None` only when `older` is empty, so `last` is the queue's last batch whenever there is
/// one. Every method keeps it.
#[derive(Debug, Default)]
pub struct BatchQueue {
    /// Every batch but the last, oldest first.
    older: VecDeque<ProducerBatch>,
    /// The last batch.
    last: Option<ProducerBatch>,
}

impl BatchQueue {
    /// Batches in the queue.
    #[inline]
    pub fn len(&self) -> usize {
        self.older.len() + usize::from(self.last.is_some())
    }

    /// True without batches.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// True when a batch waits before the last one (the queue holds more than one).
    #[inline]
    pub fn has_older(&self) -> bool {
        !self.older.is_empty()
    }

    /// The last (newest) batch.
    #[inline]
    pub fn back(&self) -> Option<&ProducerBatch> {
        self.last.as_ref()
    }

    /// The last (newest) batch.
    #[inline]
    pub fn back_mut(&mut self) -> Option<&mut ProducerBatch> {
        self.last.as_mut()
    }

    /// The first (oldest) batch.
    pub fn front(&self) -> Option<&ProducerBatch> {
        self.older.front().or(self.last.as_ref())
    }

    /// The first (oldest) batch.
    pub fn front_mut(&mut self) -> Option<&mut ProducerBatch> {
        match self.older.front_mut() {
            Some(b) => Some(b),
            None => self.last.as_mut(),
        }
    }

    /// Batch `i`, oldest first.
    pub fn get(&self, i: usize) -> Option<&ProducerBatch> {
        match i.cmp(&self.older.len()) {
            std::cmp::Ordering::Less => self.older.get(i),
            std::cmp::Ordering::Equal => self.last.as_ref(),
            std::cmp::Ordering::Greater => None,
        }
    }

    /// Adds `batch` as the last one.
    pub fn push_back(&mut self, batch: ProducerBatch) {
        if let Some(previous) = self.last.replace(batch) {
            self.older.push_back(previous);
        }
    }

    /// Removes the first (oldest) batch.
    pub fn pop_front(&mut self) -> Option<ProducerBatch> {
        self.older.pop_front().or_else(|| self.last.take())
    }

    /// Inserts `batch` at index `i` (`0..=len()`), shifting the batches from `i` on one place back.
    ///
    /// # Panics
    /// When `i > len()`, as `VecDeque::insert`.
    pub fn insert(&mut self, i: usize, batch: ProducerBatch) {
        if i == self.len() {
            self.push_back(batch);
        } else {
            // `i < len()`, so a last batch exists and stays last; `i <= older.len()`.
            assert!(i < self.len(), "insertion index {i} past the queue's length {}", self.len());
            self.older.insert(i, batch);
        }
    }

    /// Removes and returns batch `i`, or `None` when there is no such batch.
    pub fn remove(&mut self, i: usize) -> Option<ProducerBatch> {
        match i.cmp(&self.older.len()) {
            std::cmp::Ordering::Less => self.older.remove(i),
            std::cmp::Ordering::Equal => {
                let removed = self.last.take();
                // The batch before it (if any) becomes the last.
                self.last = self.older.pop_back();
                removed
            }
            std::cmp::Ordering::Greater => None,
        }
    }

    /// The batches, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &ProducerBatch> {
        self.older.iter().chain(self.last.iter())
    }

    /// Removes and returns every batch, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = ProducerBatch> + '_ {
        let last = self.last.take();
        self.older.drain(..).chain(last)
    }
}

impl Index<usize> for BatchQueue {
    type Output = ProducerBatch;

    /// Batch `i`, oldest first.
    ///
    /// # Panics
    /// When there is no batch `i`.
    fn index(&self, i: usize) -> &ProducerBatch {
        self.get(i).unwrap_or_else(|| panic!("batch index {i} out of range ({} batches)", self.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::accumulator::batch::{BatchBytes, BatchCompletion};
    use crate::producer::record::TopicPartition;
    use std::sync::Arc;
    use std::time::Instant;

    fn batch(id: u64) -> ProducerBatch {
        ProducerBatch {
            tp: TopicPartition::new("t", 0),
            id,
            bytes: BatchBytes::Released,
            appended: 0,
            records: Vec::new(),
            callbacks: Vec::new(),
            completion: Arc::new(BatchCompletion::default()),
            reserved_bytes: 0,
            limit: 0,
            created: Instant::now(),
            last_attempt: None,
            drained_at: None,
            attempts: 0,
            retry_at: None,
            stamped: None,
            in_retry: false,
            split_offset: 0,
            maybe_appended: false,
        }
    }

    fn ids(q: &BatchQueue) -> Vec<u64> {
        q.iter().map(|b| b.id).collect()
    }

    /// Checks `q` against `model` (a `VecDeque` of ids) through every read method, and the invariant.
    fn same(q: &BatchQueue, model: &VecDeque<u64>) {
        let model: Vec<u64> = model.iter().copied().collect();
        assert_eq!(ids(q), model);
        assert_eq!(q.len(), model.len());
        assert_eq!(q.is_empty(), model.is_empty());
        assert_eq!(q.has_older(), model.len() > 1);
        assert_eq!(q.front().map(|b| b.id), model.first().copied());
        assert_eq!(q.back().map(|b| b.id), model.last().copied());
        for (i, id) in model.iter().enumerate() {
            assert_eq!(q[i].id, *id);
        }
        assert!(q.get(model.len()).is_none());
        assert!(q.last.is_some() || q.older.is_empty(), "the invariant");
    }

    /// Every operation does to the queue what it does to a `VecDeque`, in a fixed pseudo-random sequence that
    /// empties and refills it, inserting and removing at the front, in the middle, before and at the last batch.
    #[test]
    fn behaves_as_a_vecdeque() {
        let mut q = BatchQueue::default();
        let mut model: VecDeque<u64> = VecDeque::new();
        let mut next = 0u64;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..2_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = model.len();
            match seed % 6 {
                0 | 1 => {
                    q.push_back(batch(next));
                    model.push_back(next);
                    next += 1;
                }
                2 => assert_eq!(q.pop_front().map(|b| b.id), model.pop_front(), "step {step}"),
                3 => {
                    let i = (seed >> 8) as usize % (len + 1);
                    q.insert(i, batch(next));
                    model.insert(i, next);
                    next += 1;
                }
                4 => {
                    let i = (seed >> 8) as usize % (len + 2);
                    assert_eq!(q.remove(i).map(|b| b.id), model.remove(i), "step {step}");
                }
                _ => {
                    if let Some(b) = q.front_mut() {
                        b.attempts += 1;
                    }
                    if let Some(b) = q.back_mut() {
                        b.attempts += 1;
                    }
                }
            }
            same(&q, &model);
        }
        assert!(next > 500, "the sequence pushed and inserted {next} batches");
        let drained: Vec<u64> = q.drain().map(|b| b.id).collect();
        assert_eq!(drained, model.drain(..).collect::<Vec<_>>());
        same(&q, &model);
    }

    #[test]
    #[should_panic(expected = "insertion index 2 past the queue's length 1")]
    fn inserting_past_the_end_panics() {
        let mut q = BatchQueue::default();
        q.push_back(batch(0));
        q.insert(2, batch(1));
    }
}
