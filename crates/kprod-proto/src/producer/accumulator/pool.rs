//! The `buffer.memory` pool: a byte budget shared by every open and in-flight batch, plus a free list of batch
//! buffers so steady-state batches reuse memory instead of allocating. Free buffers count against the budget too
//! (issue 19: uncounted, the free list kept ~80 buffers of ~1 MiB that compressed batches had grown to early in a
//! run, 120 MiB beside a 32 MiB `buffer.memory`); an allocation that needs their room drops them.
//!
//! The pool never blocks: `try_allocate` returns `None` when the budget is spent, and the async front door waits
//! (up to `max.block.ms`) for a release. Memory is never unbounded: every batch reserves its bytes here first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::BytesMut;

/// Most free buffers kept for reuse; beyond this they are dropped.
const FREE_LIST_MAX: usize = 1024;

/// A compressed batch's buffer holds up to `batch.size / ratio` of records; ratios are taken at 1/16 at the
/// lowest for sizing buffers (and buffers up to this many times `batch.size`, plus one, are kept for reuse).
pub const MAX_FILL: usize = 16;

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
    /// Bytes reserved by live batches (may pass `total_bytes` through [`charge`](Self::charge)).
    used_bytes: AtomicU64,
    batch_size: usize,
    free: Mutex<FreeList>,
    /// Senders currently waiting for memory; while non-zero every batch counts as ready (Java's `exhausted`).
    waiters: AtomicUsize,
}

/// Buffers kept for reuse and their summed capacity, which counts against the budget as Java's
/// `BufferPool.free` does: a free buffer is memory the process holds.
#[derive(Debug, Default)]
struct FreeList {
    buffers: Vec<BytesMut>,
    bytes: u64,
}

impl BufferPool {
    /// A pool of `total_bytes` handing out buffers of `batch_size` bytes.
    pub fn new(total_bytes: u64, batch_size: usize) -> Self {
        BufferPool {
            total_bytes,
            used_bytes: AtomicU64::new(0),
            batch_size,
            free: Mutex::new(FreeList::default()),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Reserves `size` bytes and returns an empty buffer with at least that capacity, or `None` when the
    /// budget would be exceeded. Release the buffer's capacity (see [`try_allocate_with`](Self::try_allocate_with)).
    pub fn try_allocate(&self, size: usize) -> Option<BytesMut> {
        self.try_allocate_with(size, 0).map(|(b, _)| b)
    }

    /// Reserves a buffer of at least `size` bytes plus `extra` bytes the batch holds beside it (its per-record
    /// metadata), so that `buffer.memory` bounds that too. Returns the buffer and the bytes reserved — its
    /// capacity (a reused buffer may be larger than `size`) plus `extra` — which is what to release; `None` when
    /// the budget, free buffers included, has no room even after dropping free buffers.
    pub fn try_allocate_with(&self, size: usize, extra: usize) -> Option<(BytesMut, usize)> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        // A free buffer too small for this batch (the expected compression ratio grew) is dropped, not kept: the
        // free list holds what is likely to be reused.
        let reuse = match free.buffers.pop() {
            Some(b) if b.capacity() >= size => Some(b),
            Some(b) => {
                free.bytes -= b.capacity() as u64;
                None
            }
            None => None,
        };
        let reused = reuse.as_ref().map_or(0, |b| b.capacity() as u64);
        let want = reuse.as_ref().map_or(size.max(self.batch_size), BytesMut::capacity) + extra;
        // The reused buffer moves from the free bytes to the used ones; anything else must fit beside both.
        let fits = |free: &FreeList| {
            self.used_bytes.load(Ordering::Acquire) + (free.bytes - reused) + want as u64 <= self.total_bytes
        };
        while !fits(&free) {
            // Make room by dropping free buffers (Java's `freeUp`), oldest first.
            if free.buffers.is_empty() {
                if let Some(b) = reuse {
                    free.buffers.push(b);
                }
                return None;
            }
            let b = free.buffers.remove(0);
            free.bytes -= b.capacity() as u64;
        }
        free.bytes -= reused;
        self.used_bytes.fetch_add(want as u64, Ordering::AcqRel);
        drop(free);
        Some((reuse.unwrap_or_else(|| BytesMut::with_capacity(size.max(self.batch_size))), want))
    }

    /// Counts `bytes` more against the budget, even past it: memory a batch holds beyond its reservation (a
    /// buffer that grew). Nothing new is allocated until enough is released.
    pub fn charge(&self, bytes: usize) {
        self.used_bytes.fetch_add(bytes as u64, Ordering::AcqRel);
    }

    /// Returns `size` reserved bytes to the budget and, when it is a batch buffer, keeps it for reuse (its
    /// capacity then counts as free bytes).
    pub fn release(&self, size: usize, buf: Option<BytesMut>) {
        self.used_bytes.fetch_sub(size as u64, Ordering::AcqRel);
        if let Some(mut b) = buf
            && b.capacity() >= self.batch_size
            && b.capacity() <= self.batch_size * (MAX_FILL + 1)
        {
            b.clear();
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            if free.buffers.len() < FREE_LIST_MAX {
                free.bytes += b.capacity() as u64;
                free.buffers.push(b);
            }
        }
    }

    /// Capacity of the buffers kept for reuse.
    pub fn free_bytes(&self) -> u64 {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }

    /// Bytes not reserved by a batch. Free buffers are part of it: an allocation that needs their room drops them
    /// first ([`free_bytes`](Self::free_bytes) says how much they hold).
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

    /// Free buffers count against the budget: an allocation that needs their room drops them (Java's `freeUp`),
    /// so reserved plus free bytes never pass the budget.
    #[test]
    fn free_buffers_count_and_are_dropped_for_room() {
        let p = BufferPool::new(1000, 100);
        let (a, ra) = p.try_allocate_with(100, 0).unwrap();
        let (b, rb) = p.try_allocate_with(400, 0).unwrap();
        assert_eq!((ra, rb), (a.capacity(), b.capacity()));
        p.release(rb, Some(b));
        assert_eq!(p.free_bytes(), rb as u64);
        // 600 bytes: more than the reused 400-byte buffer, and with it kept there is no room (100 + 400 + 600).
        let (c, rc) = p.try_allocate_with(600, 0).unwrap();
        assert!(c.capacity() >= 600);
        assert_eq!(p.free_bytes(), 0, "the too-small free buffer was dropped");
        assert!(p.try_allocate_with(400, 0).is_none(), "100 + 600 reserved, no room for 400");
        p.release(rc, Some(c));
        p.release(ra, Some(a));
        assert!(ra as u64 + rc as u64 == p.free_bytes() && p.free_bytes() <= 1000);
        // The last freed (100 bytes) is too small for 300: dropped; a new buffer is made beside the 600-byte one.
        let (d, rd) = p.try_allocate_with(300, 0).unwrap();
        assert!(rd == d.capacity() && (300..600).contains(&rd));
        assert_eq!(p.free_bytes(), 600);
        // 200 bytes reuse the 600-byte buffer and reserve all of it.
        let (e, re) = p.try_allocate_with(200, 0).unwrap();
        assert_eq!((e.capacity(), re, p.free_bytes()), (600, 600, 0));
        assert!(p.try_allocate_with(200, 0).is_none(), "300 + 600 reserved");
        drop((d, e));
    }
}
