//! The `buffer.memory` pool: a byte budget shared by every open and in-flight batch, plus a free list of
//! `batch.size` buffers so steady-state batches reuse memory instead of allocating.
//!
//! The pool never blocks: `try_allocate` returns `None` when the budget is spent, and the async front door waits
//! (up to `max.block.ms`) for a release. Memory is never unbounded: every batch reserves its bytes here first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::BytesMut;

/// Most free buffers kept for reuse; beyond this they are dropped (their bytes stay in the budget).
const FREE_LIST_MAX: usize = 1024;

/// `buffer.memory`: the bytes all open batches may hold; an append waits (up to `max.block.ms`) when it is spent.
///
/// ```
/// use kprod_proto::producer::accumulator::BufferPool;
///
/// let pool = BufferPool::new(32 * 1024, 16 * 1024);
/// let a = pool.try_allocate(16 * 1024).expect("room for one");
/// let _b = pool.try_allocate(16 * 1024).expect("room for two");
/// assert!(pool.try_allocate(16 * 1024).is_none(), "buffer.memory is spent");
/// pool.release(16 * 1024, Some(a));
/// assert_eq!(pool.available_bytes(), 16 * 1024);
/// ```
#[derive(Debug)]
pub struct BufferPool {
    total_bytes: u64,
    used_bytes: AtomicU64,
    batch_size: usize,
    free: Mutex<Vec<BytesMut>>,
    /// Senders currently waiting for memory; while non-zero every batch counts as ready (Java's `exhausted`).
    waiters: AtomicUsize,
}

impl BufferPool {
    /// A pool of `total_bytes` handing out buffers of `batch_size` bytes.
    pub fn new(total_bytes: u64, batch_size: usize) -> Self {
        BufferPool {
            total_bytes,
            used_bytes: AtomicU64::new(0),
            batch_size,
            free: Mutex::new(Vec::new()),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Reserves `size` bytes and returns an empty buffer with at least that capacity, or `None` when the
    /// budget would be exceeded.
    pub fn try_allocate(&self, size: usize) -> Option<BytesMut> {
        let size64 = size as u64;
        let mut used = self.used_bytes.load(Ordering::Relaxed);
        loop {
            if used + size64 > self.total_bytes {
                return None;
            }
            match self.used_bytes.compare_exchange_weak(used, used + size64, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(u) => used = u,
            }
        }
        if size <= self.batch_size
            && let Some(b) = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop()
        {
            return Some(b);
        }
        Some(BytesMut::with_capacity(size.max(self.batch_size)))
    }

    /// Returns `size` reserved bytes to the budget and, when it is a standard buffer, keeps it for reuse.
    pub fn release(&self, size: usize, buf: Option<BytesMut>) {
        self.used_bytes.fetch_sub(size as u64, Ordering::AcqRel);
        if let Some(mut b) = buf
            && b.capacity() >= self.batch_size
            && b.capacity() <= self.batch_size * 2
        {
            b.clear();
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            if free.len() < FREE_LIST_MAX {
                free.push(b);
            }
        }
    }

    /// Bytes not reserved by a batch.
    pub fn available_bytes(&self) -> u64 {
        self.total_bytes.saturating_sub(self.used_bytes.load(Ordering::Relaxed))
    }

    /// `buffer.memory`, in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Registers a sender waiting for memory (every batch counts as ready meanwhile).
    pub fn add_waiter(&self) {
        self.waiters.fetch_add(1, Ordering::AcqRel);
    }

    /// Unregisters a waiter added by [`add_waiter`](Self::add_waiter).
    pub fn remove_waiter(&self) {
        self.waiters.fetch_sub(1, Ordering::AcqRel);
    }

    /// True while someone waits for memory.
    pub fn is_exhausted(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_enforced_and_released() {
        let p = BufferPool::new(100, 40);
        let a = p.try_allocate(40).unwrap();
        let _b = p.try_allocate(40).unwrap();
        assert!(p.try_allocate(40).is_none(), "third batch exceeds 100 bytes");
        assert_eq!(p.available_bytes(), 20);
        p.release(40, Some(a));
        assert_eq!(p.available_bytes(), 60);
        let c = p.try_allocate(40).unwrap();
        assert!(c.capacity() >= 40, "reused buffer keeps its capacity");
    }
}
