//! Precise pacing for open-loop schedules.
//!
//! tokio's timer has a 1 ms resolution: a task sleeping until a record's intended send time wakes up to ~1.5 ms
//! late, and that lag of the harness lands in every response time (at 200k records/s it was most of the p50). The
//! pacer waits the coarse part on tokio's timer and the last [`COARSE_SLACK`] on the ticks of one OS thread that
//! sleeps [`TICK`] at a time with the OS's own timer, waking every waiting task at each tick. The thread parks while
//! no task waits, so a closed-loop point (or an idle one) costs nothing.
//!
//! Measured on `workloads/quickstart.yaml` (200k records/s, 4 tasks, 2 cores): response time p50 1.62–1.63 ms →
//! 0.58 ms (it was mostly the harness's timer lag), schedule lag p99 2.1 ms → 0.8–1.7 ms. The cost is CPU: the
//! ticks wake the tasks about 5,000 times a second each, which raised "CPU per record" from 1.37–1.46 to 2.19–2.30
//! µs (a 50 µs tick: p50 0.52 ms for 3.3 µs per record, hence 200 µs).
//!
//! Real time only: tests on paused tokio time use plain `sleep_until` (see `RunOptions::precise_pacing`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Waits longer than this before a deadline go to tokio's timer first.
pub const COARSE_SLACK: Duration = Duration::from_millis(2);
/// The pacer thread's period while tasks wait.
pub const TICK: Duration = Duration::from_micros(200);

struct Inner {
    notify: Notify,
    waiting: AtomicUsize,
    stop: AtomicBool,
}

/// One pacing thread; stopped and joined on drop.
pub struct Pacer {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").field("waiting", &self.inner.waiting.load(Ordering::Relaxed)).finish()
    }
}

/// Decrements the waiter count even if the waiting future is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pacer {
    /// Starts the pacing thread.
    pub fn start() -> std::io::Result<Pacer> {
        let inner =
            Arc::new(Inner { notify: Notify::new(), waiting: AtomicUsize::new(0), stop: AtomicBool::new(false) });
        let shared = inner.clone();
        let thread = std::thread::Builder::new().name("kprod-pacer".into()).spawn(move || {
            while !shared.stop.load(Ordering::Acquire) {
                if shared.waiting.load(Ordering::Acquire) == 0 {
                    // Woken by the first waiter (or the drop); the timeout only bounds a missed unpark.
                    std::thread::park_timeout(Duration::from_millis(1));
                    continue;
                }
                std::thread::sleep(TICK);
                shared.notify.notify_waiters();
            }
        })?;
        Ok(Pacer { inner, thread: Some(thread) })
    }

    /// Returns at `deadline` or within about one [`TICK`] (plus the OS's timer slack) after it.
    pub async fn sleep_until(&self, deadline: Instant) {
        if let Some(early) = deadline.checked_sub(COARSE_SLACK)
            && early > Instant::now()
        {
            tokio::time::sleep_until(early).await;
        }
        loop {
            // Registered before the time check, so a tick between the check and the await is not missed.
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if Instant::now() >= deadline {
                return;
            }
            let _waiting = Waiting(&self.inner.waiting);
            if self.inner.waiting.fetch_add(1, Ordering::AcqRel) == 0
                && let Some(t) = &self.thread
            {
                t.thread().unpark();
            }
            notified.await;
        }
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    /// Not a timing assertion (the machine may be loaded): every wait ends at or after its deadline, short and
    /// long ones, from several tasks at once, and the thread stops on drop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waits_end_at_or_after_their_deadline_and_the_thread_stops() {
        let pacer = Arc::new(Pacer::start().unwrap());
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let p = pacer.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50u64 {
                    let deadline = Instant::now() + Duration::from_micros(37 * (i + t) % 3000);
                    p.sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(pacer.inner.waiting.load(Ordering::Acquire), 0);
        let pacer = Arc::into_inner(pacer).expect("tasks done");
        let thread = pacer.thread.as_ref().unwrap().thread().clone();
        drop(pacer);
        assert!(thread.name() == Some("kprod-pacer"));
    }

    /// A wait dropped half-way leaves no waiter counted (the thread goes back to parking).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_wait_is_not_counted() {
        let pacer = Pacer::start().unwrap();
        {
            let wait = pacer.sleep_until(Instant::now() + Duration::from_millis(1));
            let mut wait = std::pin::pin!(wait);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            assert_eq!(pacer.inner.waiting.load(Ordering::Acquire), 1);
        }
        assert_eq!(pacer.inner.waiting.load(Ordering::Acquire), 0);
    }
}
