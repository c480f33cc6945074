//! Parallel sealing (issue 19): the batches of one drained request compressed on several threads at once.
//!
//! Compressing is the sender's heaviest work: with zstd, or lz4 on large batches, one thread compressing every
//! batch caps the producer however many cores are idle (the appending threads wait for `buffer.memory` meanwhile).
//! A [`Sealer`] is a small pool of worker threads; [`Sealer::seal_all`] hands it the open batches of one drain
//! and the calling thread (the sender) compresses alongside the workers, taking jobs from the same queue, so a
//! round never takes longer than the caller alone would (a worker that never gets the CPU leaves its jobs to the
//! caller) and with no idle core it costs only the hand-over.
//!
//! Ordering is not the pool's business: [`RecordAccumulator::drain`](super::RecordAccumulator::drain) has already
//! taken the batches out of their queues (one per partition, in drain order) before they are sealed, and gives
//! them sequence numbers only after every one of them is sealed, in that same order. The workers only turn a
//! [`BatchBuilder`] into a [`ClosedBatch`], a pure function of the builder: the bytes do not depend on which
//! thread sealed them (`accumulator::tests::parallel_sealing_is_byte_identical_to_sealing_in_drain`).
//!
//! CPU work only: no IO and no clock, so the sender core stays sans-IO; the threads sleep on a condition
//! variable between rounds and end when the sealer is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::record::{BatchBuilder, ClosedBatch, RecordError};

/// The outcome of sealing the builder at an index of the round.
pub type Sealed = (usize, Result<ClosedBatch, RecordError>);

/// A pool of threads that seal (compress, header, CRC) batches in parallel with the caller.
#[derive(Debug)]
pub struct Sealer {
    inner: Arc<Inner>,
    /// One round at a time: results of two callers must not mix.
    round: Mutex<()>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    /// Workers wait here for jobs (or shutdown).
    work: Condvar,
    /// The caller waits here for jobs taken by workers to finish.
    done: Condvar,
}

#[derive(Debug, Default)]
struct State {
    jobs: VecDeque<(usize, BatchBuilder)>,
    results: Vec<Sealed>,
    /// Jobs taken and not yet finished.
    busy: usize,
    shutdown: bool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sealer {
    /// Starts `workers` threads (at least one). Fails only if the OS refuses a thread; the threads that did start
    /// are stopped then.
    pub fn new(workers: usize) -> std::io::Result<Sealer> {
        let inner = Arc::new(Inner::default());
        let mut sealer = Sealer { inner: inner.clone(), round: Mutex::new(()), threads: Vec::new() };
        for i in 0..workers.max(1) {
            let inner = inner.clone();
            let t = std::thread::Builder::new().name(format!("kprod-seal-{i}")).spawn(move || work(&inner))?;
            sealer.threads.push(t);
        }
        Ok(sealer)
    }

    /// Worker threads (the caller of [`seal_all`](Self::seal_all) works too).
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Seals every builder, the calling thread included in the work, and returns each result with its index
    /// (in no particular order). Returns once all of them are sealed.
    pub fn seal_all(&self, builders: Vec<(usize, BatchBuilder)>) -> Vec<Sealed> {
        let _round = self.round.lock().unwrap_or_else(|e| e.into_inner());
        let n = builders.len();
        let mut st = self.inner.lock();
        st.jobs.extend(builders);
        // The caller takes one job itself: wake a worker for each of the others.
        for _ in 1..n.min(self.threads.len() + 1) {
            self.inner.work.notify_one();
        }
        loop {
            if let Some((i, b)) = st.jobs.pop_front() {
                st.busy += 1;
                drop(st);
                let r = b.close();
                st = self.inner.lock();
                st.busy -= 1;
                st.results.push((i, r));
            } else if st.busy == 0 {
                break;
            } else {
                st = self.inner.done.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
        std::mem::take(&mut st.results)
    }
}

/// A worker: take a job, seal it outside the lock, report; sleep while there is none.
fn work(inner: &Inner) {
    let mut st = inner.lock();
    loop {
        if st.shutdown {
            return;
        }
        let Some((i, b)) = st.jobs.pop_front() else {
            st = inner.work.wait(st).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        st.busy += 1;
        drop(st);
        let r = b.close();
        st = inner.lock();
        st.busy -= 1;
        st.results.push((i, r));
        if st.busy == 0 && st.jobs.is_empty() {
            inner.done.notify_all();
        }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        self.inner.lock().shutdown = true;
        self.inner.work.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Compression;
    use bytes::BytesMut;

    fn builder(seed: u8, records: usize) -> BatchBuilder {
        let mut b = BatchBuilder::new(BytesMut::new(), Compression::Zstd { level: 3 }, 1_000);
        for r in 0..records {
            let value: Vec<u8> = (0..200).map(|j| b'a' + ((seed as usize * 7 + r * 3 + j) % 26) as u8).collect();
            b.append(1_000 + r as i64, None, Some(&value), &[]);
        }
        b
    }

    /// Every index comes back exactly once with the bytes the builder alone would have produced, round after
    /// round, with more jobs than threads.
    #[test]
    fn seal_all_returns_each_builder_sealed_once() {
        let sealer = Sealer::new(2).unwrap();
        assert_eq!(sealer.workers(), 2);
        for round in 0..20u8 {
            let n = 1 + round as usize % 7;
            let expected: Vec<Vec<u8>> =
                (0..n).map(|i| builder(round + i as u8, 50).close().unwrap().bytes.to_vec()).collect();
            let jobs = (0..n).map(|i| (i, builder(round + i as u8, 50))).collect();
            let mut got = sealer.seal_all(jobs);
            got.sort_by_key(|(i, _)| *i);
            assert_eq!(got.len(), n, "round {round}");
            for (k, (i, r)) in got.into_iter().enumerate() {
                assert_eq!(i, k);
                assert_eq!(r.unwrap().bytes.to_vec(), expected[k], "round {round}, batch {k}");
            }
        }
    }

    /// An empty batch fails to close (as in drain) and the failure comes back at its index.
    #[test]
    fn a_failed_seal_is_reported_at_its_index() {
        let sealer = Sealer::new(1).unwrap();
        let empty = BatchBuilder::new(BytesMut::new(), Compression::Lz4 { level: 9 }, 0);
        let mut got = sealer.seal_all(vec![(0, builder(1, 10)), (1, empty), (2, builder(2, 10))]);
        got.sort_by_key(|(i, _)| *i);
        assert!(got[0].1.is_ok() && got[2].1.is_ok());
        assert!(matches!(got[1].1, Err(RecordError::EmptyBatch)), "{:?}", got[1].1);
    }
}
