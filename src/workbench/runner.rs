//! The runner: drives one workload point against a [`LoadTarget`] and measures it.
//!
//! Each task owns a [`Generator`] and a [`Schedule`]. In open loop it waits for each record's *intended* send time
//! and, when the target is behind, sends at once without moving the schedule: the delay is counted in the response
//! time (intended → ack), so coordinated omission shows up instead of hiding. In closed loop (no rate) the intended
//! time is the send time. Outstanding records per task are bounded (`max_outstanding_per_task`).
//!
//! Accounting: every record handed to [`LoadTarget::send`] is counted as sent, then exactly once as acked or
//! failed (a send error, an ack error, or still outstanding when the drain times out).
//!
//! Once a second a collector drains the task recorders into an interval (interval logs, time series, progress
//! line) and, after the warm-up, into the totals. Everything uses `tokio::time::Instant`, so tests run on paused
//! time, deterministically and instantly.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::generator::{GenRecord, Generator, GeneratorError, Schedule, SharedData};
use super::histograms::{IntervalLogs, Metric, OneMetric, Recorder};
use super::pacer::Pacer;
use super::result::{Counts, Machine, PointResult, TimePoint, unix_ms};
use super::workload::{StopAfter, WorkloadPoint};

/// Why a record failed; `kind` groups errors in results (`"NOT_LEADER_OR_FOLLOWER"`, `"timeout"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TargetError {
    pub kind: String,
    pub message: String,
}

/// What the runner sends to: the producer, or a fake in tests.
///
/// `send` resolves when the record is accepted (the producer's `send(record).await`, which may wait on
/// `buffer.memory`); the returned `Ack` resolves when the record is acknowledged (the producer's
/// `DeliveryFuture`). Service time runs from the `send` call to the ack.
pub trait LoadTarget: Send + Sync + 'static {
    type Ack: Future<Output = Result<(), TargetError>> + Send + 'static;

    fn send(&self, record: GenRecord<'_>) -> impl Future<Output = Result<Self::Ack, TargetError>> + Send;

    /// Hands over what producer hooks measured since the last call (queue time, request latency, batch sizes,
    /// compression sums). Called once a second by the collector; the default has no hooks.
    fn collect_hooks(&self, _into: &mut Recorder) {}

    /// The bulk path. A target that can report outcomes per batch keeps `acks` (`Some` before a point, `None`
    /// after it) and returns true; the runner then sends with [`send_tagged`](Self::send_tagged) and the target
    /// must report every record it accepted to `acks`, exactly once, with its tag. The default (per-record `Ack`
    /// futures only) returns false.
    fn attach_bulk(&self, _acks: Option<Arc<BulkAcks>>) -> bool {
        false
    }

    /// Sends a record whose outcome the target reports to the attached [`BulkAcks`] under `tag`. An `Err` outcome
    /// means the record was not accepted (and will not be reported).
    ///
    /// A record the target takes at once is [`Tagged::Done`], with no future built: the future of a producer's
    /// send is large (its slow path waits for metadata and memory), and building one per record cost the runner
    /// more than the producer's whole append. Only a record that must wait gets a future, [`Tagged::Wait`].
    /// Sending task `task` handed `n` more records to [`send_tagged`](Self::send_tagged) (reported in bulk, by that
    /// task, at least once a second, every 1024 records or so, and before it drains: counting sends costs no atomic
    /// operation per record).
    fn tagged_sent(&self, _task: u32, _n: u64) {}

    fn send_tagged(
        &self,
        record: GenRecord<'_>,
        tag: u64,
    ) -> Tagged<impl Future<Output = Result<(), TargetError>> + Send> {
        let _ = (record, tag);
        Tagged::Done::<std::future::Ready<_>>(Err(TargetError {
            kind: "unsupported".into(),
            message: "this target has no bulk path".into(),
        }))
    }
}

/// What [`LoadTarget::send_tagged`] did with a record.
#[derive(Debug)]
#[must_use]
pub enum Tagged<F> {
    /// Taken (`Ok`) or refused (`Err`) at once.
    Done(Result<(), TargetError>),
    /// It has to wait (for buffer memory, metadata, a commit): await this.
    Wait(F),
}

// A record's tag on the bulk path carries everything its outcome needs, so nothing is stored per record and
// nothing is shared with the acks but one lock per batch:
//   task (12 bits) | actual send time, µs since the point's start, modulo 2^34 (34 bits) | schedule lag (18 bits)
// The send time is recovered from the ack time (a service time is far below 2^33 µs, 2.4 h), so the service time
// (send → ack) is exact to the µs. The lag is a small float (13-bit mantissa, 5-bit exponent: exact below
// 8.192 ms, truncated by at most 2^-12 of itself above), so the response time (service time + lag) is within
// 0.025 % of itself, inside HdrHistogram's 3 significant digits, however late a record was sent.
const TAG_TASK_BITS: u32 = 12;
const TAG_TIME_BITS: u32 = 34;
const TAG_LAG_BITS: u32 = 64 - TAG_TASK_BITS - TAG_TIME_BITS;
const TAG_TIME_MASK: u64 = (1 << TAG_TIME_BITS) - 1;
const TAG_LAG_MASK: u64 = (1 << TAG_LAG_BITS) - 1;
const LAG_MANTISSA_BITS: u32 = 13;
const LAG_MANTISSA_MASK: u64 = (1 << LAG_MANTISSA_BITS) - 1;
/// Back-to-back sends of the closed loop share one clock reading while it is at most this old: the tag's 1 µs
/// resolution. Reading the clock for every 100-byte record was 9 % of `kprod run`'s CPU per record (`perf
/// record`, issue 16).
const READING_MAX_AGE_NS: u64 = 1_000;
/// At most this many sends share one reading. `kprod perf-test` reads the clock every 16 records.
const CLOCK_EVERY_MAX: u32 = 16;

/// When a task's records were sent: one clock reading shared by back-to-back sends of the closed loop for as long
/// as it is at most [`READING_MAX_AGE_NS`] old, a fresh one for every scheduled record (its lag is measured from
/// it) and after anything that waited. How many sends share a reading is learnt at each reading from how fast the
/// previous one's sends went: at 100 ns a send, 10; at 1 µs or slower, each send reads the clock. (A fixed 4 let a
/// reading be 3 sends old however slow the sends were: 30 µs behind at 10 µs a send.)
#[derive(Debug)]
struct SendClock {
    start: Instant,
    /// The last send time handed out.
    last: Instant,
    /// `last` in ns and in µs (for the tag) since `start`, computed once per reading.
    last_ns: u64,
    last_us: u64,
    /// Sends that used the current reading.
    age: u32,
    /// Sends that may share a reading.
    every: u32,
    /// The next send reads the clock, and that reading's span says nothing of the send rate (it follows a wait,
    /// a scheduled record or the start).
    fresh: bool,
}

impl SendClock {
    fn new(start: Instant) -> SendClock {
        SendClock { start, last: start, last_ns: 0, last_us: 0, age: 0, every: 1, fresh: true }
    }

    /// The task waited (for room, or for a send): the next send reads the clock.
    fn waited(&mut self) {
        self.fresh = true;
    }

    /// The send time of the next record and its µs since the start, reading `now` only when it must.
    #[inline]
    fn send_time(&mut self, scheduled: bool, now: impl FnOnce() -> Instant) -> (Instant, u64) {
        if !scheduled && !self.fresh && self.age < self.every {
            self.age += 1;
        } else {
            let prev_ns = self.last_ns;
            self.last = now();
            self.last_ns = self.last.saturating_duration_since(self.start).as_nanos() as u64;
            self.last_us = self.last_ns / 1_000;
            if !scheduled && !self.fresh {
                // The previous reading served `age` back-to-back sends in `span`: share this one among as many as
                // fit in the reading's allowed age.
                let span = self.last_ns.saturating_sub(prev_ns).max(1);
                let fit = u64::from(self.age) * READING_MAX_AGE_NS / span;
                self.every = fit.clamp(1, u64::from(CLOCK_EVERY_MAX)) as u32;
            }
            self.fresh = scheduled;
            self.age = 1;
        }
        (self.last, self.last_us)
    }

    /// How many more back-to-back sends may share the current reading (0 once it is spent, or when the next send
    /// must read the clock).
    #[inline]
    fn spare(&self) -> u32 {
        if self.fresh { 0 } else { self.every.saturating_sub(self.age) }
    }

    /// The next send must read the clock (it follows a wait).
    #[inline]
    fn is_stale(&self) -> bool {
        self.fresh
    }

    /// `n` more sends used the current reading (at most [`spare`](Self::spare)).
    #[inline]
    fn shared_by(&mut self, n: u32) {
        self.age += n;
    }
}

/// The clock a closed loop's tagged sends and their acknowledgements are timed with: the CPU's time-stamp counter
/// through `quanta` (calibrated once per process against the OS's monotonic clock), or that OS clock where the
/// counter is not invariant. On this VM `Instant::now()` (the vDSO's `clock_gettime`) cost ~30 ns in the send
/// loop, ~7 ns per record at one reading per 4 sends; the counter reads in ~10. Both ends of a record's service
/// time come from this one clock, so the calibration's error scales a latency (parts per million) and never mixes
/// two clocks. Scheduled sends keep tokio's clock: their lag is measured against timers that run on it.
#[derive(Debug, Clone)]
pub(crate) struct TagClock {
    clock: quanta::Clock,
    start_raw: u64,
}

impl TagClock {
    /// Starts `clock` (calibrated by `quanta::Clock::new`: once per process, up to ~200 ms the first time) now.
    fn starting_now(clock: quanta::Clock) -> TagClock {
        let start_raw = clock.raw();
        TagClock { clock, start_raw }
    }

    /// Nanoseconds since the start.
    #[inline]
    fn nanos(&self) -> u64 {
        self.clock.delta_as_nanos(self.start_raw, self.clock.raw())
    }
}

/// Points with more tasks than this use per-record ack futures.
pub const BULK_MAX_TASKS: u32 = 1 << TAG_TASK_BITS;

/// The lag's 18-bit code: exact below 2^13 µs, else the 13 leading bits and a shift (truncated, never rounded up).
#[inline]
fn encode_lag(lag_us: u64) -> u64 {
    if lag_us <= LAG_MANTISSA_MASK {
        return lag_us;
    }
    let max_shift = (1u64 << (TAG_LAG_BITS - LAG_MANTISSA_BITS)) - 1;
    let shift = u64::from(64 - lag_us.leading_zeros() - LAG_MANTISSA_BITS).min(max_shift);
    let mantissa = (lag_us >> shift).min(LAG_MANTISSA_MASK);
    (shift << LAG_MANTISSA_BITS) | mantissa
}

fn decode_lag(code: u64) -> u64 {
    (code & LAG_MANTISSA_MASK) << (code >> LAG_MANTISSA_BITS)
}

#[inline]
fn encode_tag(task: u32, sent_us: u64, lag_us: u64) -> u64 {
    (u64::from(task) << (TAG_TIME_BITS + TAG_LAG_BITS))
        | ((sent_us & TAG_TIME_MASK) << TAG_LAG_BITS)
        | (encode_lag(lag_us) & TAG_LAG_MASK)
}

/// (task, send time µs since the start, lag µs) of a tag whose record was acknowledged at `at_us` (µs since the
/// start).
fn decode_tag(tag: u64, at_us: u64) -> (usize, u64, u64) {
    let task = (tag >> (TAG_TIME_BITS + TAG_LAG_BITS)) as usize;
    let stored = (tag >> TAG_LAG_BITS) & TAG_TIME_MASK;
    // The latest instant at or before the ack whose low 34 bits are `stored`. A send stamped after its ack (the
    // CPU counters of two cores a µs apart, `TagClock`) would come back 2^34 µs early: it is an instant send then,
    // not a 4.8-hour one. So service times are exact up to 2^33 µs (2.4 h), far beyond any drain timeout.
    let behind = at_us.wrapping_sub(stored) & TAG_TIME_MASK;
    let sent_us = if behind > TAG_TIME_MASK / 2 { at_us } else { at_us.saturating_sub(behind) };
    (task, sent_us, decode_lag(tag & TAG_LAG_MASK))
}

/// A record sent and waiting for its ack future (the per-record path).
#[derive(Debug, Clone, Copy)]
struct PendingRecord {
    intended: Instant,
    t_send: Instant,
    bytes: u64,
    measured: bool,
}

/// Where a bulk target reports outcomes: one lock per task per batch instead of a future and a waker per record.
/// This is how `kprod perf-test` measures too (the producer's batch hooks).
pub struct BulkAcks {
    start: Instant,
    /// Records intended before this (µs since the start) are warm-up.
    warmup_end_us: u64,
    tasks: Vec<Arc<TaskShared>>,
    /// The closed loop's send clock: acks are then timed on it too (the `at` given to `acked` is not used).
    tag_clock: Option<TagClock>,
}

impl std::fmt::Debug for BulkAcks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkAcks").field("tasks", &self.tasks.len()).finish_non_exhaustive()
    }
}

impl BulkAcks {
    /// Records `(tag, bytes)` were acknowledged at `at`.
    pub fn acked(&self, records: impl IntoIterator<Item = (u64, u64)>, at: Instant) {
        let at_us = match &self.tag_clock {
            Some(c) => c.nanos() / 1_000,
            None => at.saturating_duration_since(self.start).as_micros() as u64,
        };
        let warmup_end_us = self.warmup_end_us;
        self.each(records.into_iter(), at_us, |s, sent_us, lag_us, n, bytes| {
            s.acked += n;
            s.bytes_acked += bytes;
            let measured = sent_us.saturating_sub(lag_us) >= warmup_end_us;
            let service_us = at_us - sent_us;
            if lag_us == 0 {
                // Sent when due (always, in closed loop): response time = service time, recorded once for both.
                if measured { &mut s.on_time } else { &mut s.on_time_warm }.record_n(service_us, n);
            } else {
                let rec = if measured { &mut s.rec } else { &mut s.warm_rec };
                rec.record_n(Metric::ResponseTime, service_us + lag_us, n);
                rec.record_n(Metric::ServiceTime, service_us, n);
            }
        });
    }

    /// Records with these tags failed with an error of `kind`.
    pub fn failed(&self, tags: impl IntoIterator<Item = u64>, kind: &str) {
        self.each(tags.into_iter().map(|t| (t, 0)), u64::MAX, |s, _, _, n, _| s.count_failures(kind, n));
    }

    /// Runs `f(outcomes, sent_us, lag_us, records, bytes)` under the task's lock (taken once per run of records of
    /// one task), once per run of records with the same tag, then tells the task how many completed: a task's
    /// drain sees them all only once every record is counted.
    ///
    /// Equal tags mean the same task, send time (µs) and lag, so the same latencies: a run of them is recorded
    /// once with its count (`record_n`), exactly as record by record. A closed loop sends several records per
    /// clock reading (`SendClock`), and a producer acknowledges them together in one batch, so the histograms are
    /// written once per run instead of once per record.
    fn each(
        &self,
        records: impl Iterator<Item = (u64, u64)>,
        at_us: u64,
        mut f: impl FnMut(&mut Outcomes, u64, u64, u64, u64),
    ) {
        let mut current: Held<'_> = None;
        // The run being gathered: (tag, records, bytes).
        let mut run: Option<(u64, u64, u64)> = None;
        for (tag, bytes) in records {
            match &mut run {
                Some((t, n, b)) if *t == tag => {
                    *n += 1;
                    *b += bytes;
                }
                _ => {
                    if let Some(done) = run.replace((tag, 1, bytes)) {
                        self.count_run(&mut current, done, at_us, &mut f);
                    }
                }
            }
        }
        if let Some(done) = run {
            self.count_run(&mut current, done, at_us, &mut f);
        }
        self.release(current);
    }

    /// Counts a run of `n` records with one tag under its task's lock, taking that lock if `held` is another's.
    fn count_run<'a>(
        &'a self,
        held: &mut Held<'a>,
        (tag, n, bytes): (u64, u64, u64),
        at_us: u64,
        f: &mut impl FnMut(&mut Outcomes, u64, u64, u64, u64),
    ) {
        let (task, sent_us, lag_us) = decode_tag(tag, at_us);
        let Some(shared) = self.tasks.get(task) else { return };
        if held.as_ref().is_none_or(|c| c.0 != task) {
            self.release(held.take());
            *held = Some((task, lock(&shared.outcomes), 0));
        }
        let Some((_, guard, done)) = held.as_mut() else { return };
        // After a drain timeout the task counted its outstanding records as failed: ignore late outcomes.
        if !guard.closed {
            f(guard, sent_us, lag_us, n, bytes);
        }
        *done += n;
    }

    /// Unlocks a task's outcomes and tells it how many of its records completed.
    fn release(&self, held: Held<'_>) {
        if let Some((task, guard, done)) = held {
            drop(guard);
            self.tasks[task].complete(done);
        }
    }
}

/// A task's outcomes locked by [`BulkAcks::each`]: (task, guard, records completed under it).
type Held<'a> = Option<(usize, std::sync::MutexGuard<'a, Outcomes>, u64)>;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// A live line on a terminal, plain lines otherwise.
    #[default]
    Auto,
    Plain,
    Off,
}

/// Asks a running point to stop sending (the first Ctrl-C): tasks stop at their next record, drain for at most
/// [`INTERRUPT_DRAIN_MAX`], and the point ends marked interrupted. Clones share one signal.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<StopSignal>);

#[derive(Debug)]
struct StopSignal {
    /// Read by every task before each record: a plain atomic load, no lock.
    set: AtomicBool,
    /// Wakes whoever waits.
    wake: tokio::sync::watch::Sender<bool>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal { set: AtomicBool::new(false), wake: tokio::sync::watch::Sender::new(false) }
    }
}

impl Stop {
    pub fn trigger(&self) {
        self.0.set.store(true, Ordering::Release);
        self.0.wake.send_replace(true);
    }

    #[inline]
    pub fn is_set(&self) -> bool {
        self.0.set.load(Ordering::Acquire)
    }

    /// Resolves once [`trigger`](Self::trigger) was called (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.0.wake.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// How long an interrupted point waits for its outstanding acks.
pub const INTERRUPT_DRAIN_MAX: Duration = Duration::from_secs(5);

/// An open-loop point that sent less than this fraction of its target rate gets a warning.
pub const TARGET_RATE_MIN_FRACTION: f64 = 0.95;

/// An open-loop point that ran longer than its planned duration by more than this fraction (and at least
/// [`DURATION_OVERRUN_MIN`]) gets a warning: its acks lagged behind the sends.
pub const DURATION_OVERRUN_FRACTION: f64 = 0.10;
pub const DURATION_OVERRUN_MIN: Duration = Duration::from_millis(250);

/// The warning for an open-loop point that missed its target rate or overran its planned duration, if it did.
/// `sent_rate` is the measured phase's records sent over the planned duration; `reached` is records acked over the
/// real duration.
pub fn missed_target(
    name: &str,
    target_records_per_s: f64,
    planned: Duration,
    sent_rate: f64,
    reached: f64,
    real: Duration,
) -> Option<String> {
    let slow = sent_rate < TARGET_RATE_MIN_FRACTION * target_records_per_s
        || reached < TARGET_RATE_MIN_FRACTION * target_records_per_s;
    let tolerance = planned.mul_f64(DURATION_OVERRUN_FRACTION).max(DURATION_OVERRUN_MIN);
    let overran = real > planned + tolerance;
    (slow || overran).then(|| {
        format!(
            "point {name} missed its target: {} records/s intended, {} records/s reached ({:.0} % of target; \
             records acked over the real duration), ran {:.2} s for {:.2} s planned{}",
            thousands(target_records_per_s),
            thousands(reached),
            100.0 * reached / target_records_per_s.max(1e-9),
            real.as_secs_f64(),
            planned.as_secs_f64(),
            if overran { " (acks lagged behind the sends; latencies include that backlog)" } else { "" }
        )
    })
}

/// `15754` → `15,754` (records/s in messages: the rate search's steps too).
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runner settings that are not part of the workload.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub progress: Progress,
    /// How long to wait for outstanding acks after sending stops.
    pub drain_timeout: Duration,
    pub interval: Duration,
    pub git_commit: Option<String>,
    /// Open loop: wait for intended send times with the [`Pacer`] (at most ~0.2 ms late, one tick) rather than
    /// tokio's 1 ms timer alone (up to ~1.5 ms late). Needs real time: tests on paused time turn it off.
    pub precise_pacing: bool,
    /// `--start-at`: the common instant (on `clock`) at which the intended schedule starts. The point waits for
    /// it; when already past, the schedule starts at it anyway and the lateness shows as schedule lag.
    pub start_at: Option<SystemTime>,
    /// The wall clock: the system clock, shifted when a test injects an offset.
    pub clock: super::shard::ShardClock,
    /// Ctrl-C: stop sending and drain briefly.
    pub stop: Stop,
    /// Time closed-loop tagged sends and their acks with the CPU's counter (`TagClock`) rather than tokio's
    /// clock. Needs real time: tests on paused time turn it off.
    pub counter_clock: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            progress: Progress::Auto,
            drain_timeout: Duration::from_secs(30),
            interval: Duration::from_secs(1),
            git_commit: None,
            precise_pacing: true,
            start_at: None,
            clock: super::shard::ShardClock::default(),
            stop: Stop::default(),
            counter_clock: true,
        }
    }
}

/// Errors that stop a point before it runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("point {point}: {source}")]
    Generator { point: String, source: GeneratorError },
}

/// A measured point: its result and its interval logs.
#[derive(Debug)]
pub struct PointRun {
    pub result: PointResult,
    pub intervals: IntervalLogs,
}

impl PointRun {
    /// Writes the interval logs to `run_dir/intervals/<point>-r<repeat>/<metric>.hlog`.
    pub fn save_intervals(&self, run_dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        let safe: String = self
            .result
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=') { c } else { '_' })
            .collect();
        let dir = run_dir.join("intervals").join(format!("{safe}-r{}", self.result.repeat));
        self.intervals.write_to(&dir)?;
        Ok(dir)
    }
}

/// What a task shares with its acks and the collector. The task itself takes no lock per record: it publishes
/// its count with a plain store and hands its schedule lags over in chunks ([`LagBuffer`]); acks take the
/// outcomes lock once per batch (bulk path) or per wake-up (ack pump).
#[derive(Debug, Default)]
struct TaskShared {
    outcomes: Mutex<Outcomes>,
    lags: Mutex<Lags>,
    /// Records handed to the target; written by the task alone.
    sent: AtomicU64,
    /// Records with an outcome (acked, failed, or refused at send): the task has `sent − completed` outstanding.
    completed: AtomicU64,
    /// Woken when records complete, for the task waiting for room or draining.
    room: Notify,
}

impl TaskShared {
    /// `n` more records have their outcome counted.
    fn complete(&self, n: u64) {
        if n > 0 {
            self.completed.fetch_add(n, Ordering::AcqRel);
            self.room.notify_one();
        }
    }

    /// Waits until at least `n` records have completed.
    async fn completed_at_least(&self, n: u64) {
        loop {
            if self.completed.load(Ordering::Acquire) >= n {
                return;
            }
            let woken = self.room.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            // Checked again once registered: a completion between the first check and here is not missed.
            if self.completed.load(Ordering::Acquire) >= n {
                return;
            }
            woken.await;
        }
    }
}

/// Outcomes of a task's records, under one lock so each is counted exactly once.
#[derive(Debug)]
struct Outcomes {
    rec: Recorder,
    /// Records due during the warm-up: interval logs and time series only, never the totals.
    warm_rec: Recorder,
    /// Bulk path: records sent with no schedule lag, whose response and service times are one value, recorded
    /// once and added to both when the collector drains them.
    on_time: OneMetric,
    on_time_warm: OneMetric,
    acked: u64,
    failed: u64,
    bytes_acked: u64,
    errors: BTreeMap<String, u64>,
    /// Set when the drain timed out: late acks are then ignored (already counted as failed).
    closed: bool,
}

impl Default for Outcomes {
    fn default() -> Self {
        Outcomes {
            rec: Recorder::new(),
            warm_rec: Recorder::new(),
            on_time: OneMetric::new(Metric::ResponseTime),
            on_time_warm: OneMetric::new(Metric::ResponseTime),
            acked: 0,
            failed: 0,
            bytes_acked: 0,
            errors: BTreeMap::new(),
            closed: false,
        }
    }
}

impl Outcomes {
    /// Moves the recorded times into the collector's interval and warm-up recorders.
    fn drain_into(&mut self, interval: &mut Recorder, warm: &mut Recorder) {
        self.rec.drain_into(interval);
        self.warm_rec.drain_into(warm);
        self.on_time.drain_into(interval, &[Metric::ResponseTime, Metric::ServiceTime]);
        self.on_time_warm.drain_into(warm, &[Metric::ResponseTime, Metric::ServiceTime]);
    }

    /// An acknowledged record: its bytes, response time (from the intended send) and service time (from the send).
    fn count_ack(&mut self, r: &PendingRecord, at: Instant) {
        self.acked += 1;
        self.bytes_acked += r.bytes;
        let rec = if r.measured { &mut self.rec } else { &mut self.warm_rec };
        rec.record_duration(Metric::ResponseTime, at.saturating_duration_since(r.intended));
        rec.record_duration(Metric::ServiceTime, at.saturating_duration_since(r.t_send));
    }

    /// A failed record, grouped under `kind` (the key is allocated only the first time a kind is seen).
    fn count_failure(&mut self, kind: &str) {
        self.count_failures(kind, 1);
    }

    /// `n` failed records of one `kind`.
    fn count_failures(&mut self, kind: &str, n: u64) {
        self.failed += n;
        match self.errors.get_mut(kind) {
            Some(e) => *e += n,
            None => {
                self.errors.insert(kind.to_string(), n);
            }
        }
    }
}

/// A task's schedule lags as handed over (measured, warm-up).
#[derive(Debug)]
struct Lags {
    rec: OneMetric,
    warm_rec: OneMetric,
}

impl Default for Lags {
    fn default() -> Self {
        Lags { rec: OneMetric::new(Metric::ScheduleLag), warm_rec: OneMetric::new(Metric::ScheduleLag) }
    }
}

/// A task keeps its schedule lags here and hands them to its [`Lags`] every [`LAG_CHUNK`] records, when the
/// collector starts a new interval, before waiting, and at the end. In closed loop every lag is zero and only
/// counted.
#[derive(Debug, Default)]
struct LagBuffer {
    measured: Vec<u64>,
    warm: Vec<u64>,
    zero_measured: u64,
    zero_warm: u64,
    /// Lags pushed since the last hand-over.
    pushed: usize,
    /// The collector's interval count at the last hand-over.
    epoch: u64,
}

/// Lags a task keeps before handing them over: one lock per this many records at most.
const LAG_CHUNK: usize = 1024;

impl LagBuffer {
    #[inline]
    fn push(&mut self, lag_us: u64, measured: bool) {
        self.pushed += 1;
        match (lag_us, measured) {
            (0, true) => self.zero_measured += 1,
            (0, false) => self.zero_warm += 1,
            (v, true) => self.measured.push(v),
            (v, false) => self.warm.push(v),
        }
    }

    /// `n` records sent when due (closed loop: lag 0).
    #[inline]
    fn push_on_time(&mut self, measured: bool, n: u64) {
        self.pushed += n as usize;
        if measured {
            self.zero_measured += n;
        } else {
            self.zero_warm += n;
        }
    }

    #[inline]
    fn due(&self, epoch: &AtomicU64) -> bool {
        self.pushed >= LAG_CHUNK || epoch.load(Ordering::Relaxed) != self.epoch
    }

    fn hand_over(&mut self, into: &Mutex<Lags>, epoch: &AtomicU64) {
        self.epoch = epoch.load(Ordering::Relaxed);
        self.pushed = 0;
        let mut l = into.lock().unwrap_or_else(|e| e.into_inner());
        let Lags { rec, warm_rec } = &mut *l;
        for (values, zeros, rec) in
            [(&mut self.measured, &mut self.zero_measured, rec), (&mut self.warm, &mut self.zero_warm, warm_rec)]
        {
            for v in values.drain(..) {
                rec.record(v);
            }
            rec.record_n(0, std::mem::take(zeros));
        }
    }
}

fn lock(s: &Mutex<Outcomes>) -> std::sync::MutexGuard<'_, Outcomes> {
    // A panic while holding the lock leaves plain counters; keep measuring.
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn totals(states: &[Arc<TaskShared>]) -> Counts {
    let mut c = Counts::default();
    for t in states {
        let s = lock(&t.outcomes);
        // Read after the outcomes, so a record is never counted acked and not sent.
        c.records_sent += t.sent.load(Ordering::Acquire);
        c.records_acked += s.acked;
        c.records_failed += s.failed;
        c.bytes_acked += s.bytes_acked;
        for (k, v) in &s.errors {
            *c.errors.entry(k.clone()).or_default() += v;
        }
    }
    c
}

fn diff(now: &Counts, then: &Counts) -> Counts {
    let mut errors = now.errors.clone();
    for (k, v) in &then.errors {
        if let Some(e) = errors.get_mut(k) {
            *e -= v;
        }
    }
    errors.retain(|_, v| *v > 0);
    Counts {
        records_sent: now.records_sent - then.records_sent,
        records_acked: now.records_acked - then.records_acked,
        records_failed: now.records_failed - then.records_failed,
        bytes_acked: now.bytes_acked - then.bytes_acked,
        errors,
    }
}

/// Process CPU time (user + system, all threads) in nanoseconds, from `CLOCK_PROCESS_CPUTIME_ID` (exact to the
/// scheduler's accounting, unlike /proc's 10 ms ticks); `None` where the clock is missing.
pub fn cpu_time_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Time the process's threads spent ready to run but waiting for a CPU, summed over its live threads, in
/// nanoseconds: the second field of Linux's `/proc/self/task/*/schedstat`. It measures the machine's contention
/// (another process on the cores, or more runnable threads than cores), not the work done. A thread that exits
/// takes its count with it. `None` where schedstat is missing (not Linux, or a kernel without it).
pub fn cpu_wait_ns() -> Option<u64> {
    let mut total = 0u64;
    let mut any = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        if let Some(wait) = text.split_ascii_whitespace().nth(1).and_then(|w| w.parse::<u64>().ok()) {
            total += wait;
            any = true;
        }
    }
    any.then_some(total)
}

struct TaskPlan {
    index: u32,
    warmup_end: Instant,
    quota: Option<u64>,
    deadline: Option<Instant>,
    schedule: Schedule,
    max_outstanding: u32,
    /// Open loop with precise pacing.
    pacer: Option<Arc<Pacer>>,
    /// The target reports outcomes to a [`BulkAcks`] (tagged sends) instead of per-record futures.
    bulk: bool,
    /// The collector's interval count (lags are handed over when it moves).
    epoch: Arc<AtomicU64>,
    /// Closed loop, tagged sends: the clock they are timed with instead of tokio's.
    tag_clock: Option<TagClock>,
}

/// One sending task. Per clock reading it checks stop, quota, room (one atomic load) and deadline; in closed loop
/// the records that share the reading then go out in a burst, each costing one store of the count and the send;
/// it takes no lock and allocates nothing (the bulk path).
async fn run_task<T: LoadTarget>(
    target: Arc<T>,
    mut records: Generator,
    plan: TaskPlan,
    start: Instant,
    shared: Arc<TaskShared>,
    drain_timeout: Duration,
    stop: Stop,
) {
    let TaskPlan { index, quota, deadline, mut schedule, max_outstanding, warmup_end, pacer, bulk, epoch, tag_clock } =
        plan;
    let max_outstanding = u64::from(max_outstanding.max(1));
    // Outstanding records below which a task waiting for room resumes (in 1..=max_outstanding).
    let resume_at = max_outstanding - max_outstanding / 8;
    let (acks, rx) = mpsc::unbounded_channel();
    let pump = (!bulk).then(|| tokio::spawn(ack_pump::<T::Ack>(rx, shared.clone())));
    let mut lags = LagBuffer::default();
    let mut sent = 0u64;
    let mut clock = SendClock::new(start);
    let mut unreported = 0u64;
    loop {
        if quota.is_some_and(|q| sent >= q) || stop.is_set() {
            break;
        }
        let scheduled = schedule.next_intended().map(|offset| start + offset);
        if let Some(i) = scheduled {
            if deadline.is_some_and(|d| i >= d) {
                break;
            }
            // Not due yet as of the last send: wait (a record already due goes out without touching a timer).
            if i > clock.last {
                let due = async {
                    match &pacer {
                        Some(p) => p.sleep_until(i).await,
                        None => tokio::time::sleep_until(i).await,
                    }
                };
                tokio::select! {
                    biased;
                    _ = stop.wait() => break,
                    _ = due => {}
                }
            }
        }
        // Wait for room among outstanding records, but not past the deadline nor forever (a stalled target). A
        // task at its bound resumes once an eighth of the bound has completed (`resume_at`), not at the next
        // completion: a closed loop runs at its bound, and resuming per acknowledged batch woke the task once per
        // batch (tens of thousands of wake-ups a second at 16 KiB batches). This was tried against the closed
        // loop's slow mode (README, "Does the workbench measure the producer or itself?") and did not remove it.
        if sent - shared.completed.load(Ordering::Acquire) >= max_outstanding {
            lags.hand_over(&shared.lags, &epoch);
            let now = Instant::now();
            let give_up = deadline.map_or(now + drain_timeout, |d| d.min(now + drain_timeout));
            let room = tokio::select! {
                biased;
                _ = stop.wait() => false,
                r = tokio::time::timeout_at(give_up, shared.completed_at_least(sent + 1 - resume_at)) => r.is_ok(),
            };
            if !room {
                break;
            }
            clock.waited();
        }
        let (t_send, sent_us) = match &tag_clock {
            // Only closed loops have one: `scheduled` is `None`.
            Some(c) => clock.send_time(false, || start + Duration::from_nanos(c.nanos())),
            None => clock.send_time(scheduled.is_some(), Instant::now),
        };
        if deadline.is_some_and(|d| t_send >= d) {
            break;
        }
        // Closed loop: the record is due when there is room for it, so waiting for room is not lag.
        let intended = scheduled.unwrap_or(t_send);
        // Records due during the warm-up are counted but kept out of the histograms, even if acked after it.
        let measured = intended >= warmup_end;
        let lag_us = match scheduled {
            Some(i) => t_send.saturating_duration_since(i).as_micros() as u64,
            None => 0,
        };
        sent += 1;
        shared.sent.store(sent, Ordering::Release);
        lags.push(lag_us, measured);
        if lags.due(&epoch) {
            lags.hand_over(&shared.lags, &epoch);
            target.tagged_sent(index, std::mem::take(&mut unreported));
            // Let the worker run what the sends woke. A task woken from a worker goes to that worker's LIFO slot,
            // which no other worker steals, so a loop whose sends never wait keeps it parked there until the loop
            // next waits for room. With the producer's sender as a task (`sender.thread=false`) the producer then
            // ran in bursts behind the outstanding bound: at 100 B, 8 partitions, one task on two workers, 16 KiB
            // batches with acks=all 3.0 → 5.3 M records/s and p99 52 → 2.5 ms; 256 KiB batches with acks=1
            // 4.65 → 5.45 M and p99 35 → 1.3 ms (medians of 4–5, alternating, issue 16). The sender now has a
            // thread of its own by default, but a target's other tasks (hooks, an embedded broker) still wake here.
            // Once per `LAG_CHUNK` records (~0.2 ms at 5 M/s) costs nothing measurable.
            tokio::task::yield_now().await;
        }
        let outcome = if bulk {
            unreported += 1;
            // The record is made here, right into the call: a record kept in the task's state across the awaits
            // below was copied out of it with wider loads than it was written with (a store-forwarding stall:
            // a fifth of the runner's time in `perf annotate`).
            let tag = encode_tag(index, sent_us, lag_us);
            // Closed loop: the records that may share this clock reading go out in a burst, with this one's tag
            // (same task, send time and lag 0), checking stop, quota, room, deadline and the collector's epoch once
            // for the burst instead of once per record. The burst is what the loop would do record by record
            // without the checks: at most `spare` more sends (≤ 16, ~1 µs), within the room and quota, and a send
            // that had to wait ends it (the reading is stale then).
            let extra = match scheduled {
                None => {
                    let room = max_outstanding.saturating_sub(sent - shared.completed.load(Ordering::Acquire));
                    u64::from(clock.spare()).min(room).min(quota.map_or(u64::MAX, |q| q - sent))
                }
                Some(_) => 0,
            };
            let mut n = 0;
            let outcome = loop {
                let r = match target.send_tagged(records.next_record(), tag) {
                    Tagged::Done(r) => r,
                    Tagged::Wait(sending) => {
                        clock.waited();
                        sending.await
                    }
                };
                if r.is_err() || n == extra || clock.is_stale() {
                    break r.map(|()| None);
                }
                n += 1;
                sent += 1;
                shared.sent.store(sent, Ordering::Release);
            };
            clock.shared_by(n as u32);
            lags.push_on_time(measured, n);
            unreported += n;
            outcome
        } else {
            let record = records.next_record();
            let bytes = record.value.len() as u64 + record.key.as_ref().map_or(0, |k| k.len() as u64);
            let pending = PendingRecord { intended, t_send, bytes, measured };
            target.send(record).await.map(|ack| Some((ack, pending)))
        };
        match outcome {
            Err(e) => {
                lock(&shared.outcomes).count_failure(&e.kind);
                shared.complete(1);
            }
            // Bulk: the outcome comes through `BulkAcks`.
            Ok(None) => {}
            Ok(Some(pending)) => {
                // The pump only ends after this sender is dropped, so the send cannot fail.
                let _ = acks.send(pending);
            }
        }
    }
    lags.hand_over(&shared.lags, &epoch);
    target.tagged_sent(index, unreported);
    drop(acks);
    // Drain: every record completed. Interrupted (before or during the drain): briefly.
    let interrupted = async {
        stop.wait().await;
        tokio::time::sleep(INTERRUPT_DRAIN_MAX).await;
    };
    let drained = tokio::select! {
        r = tokio::time::timeout(drain_timeout, shared.completed_at_least(sent)) => r.is_ok(),
        _ = interrupted => false,
    };
    if !drained {
        let mut s = lock(&shared.outcomes);
        let outstanding = sent - s.acked - s.failed;
        s.failed += outstanding;
        *s.errors.entry("drain_timeout".into()).or_default() += outstanding;
        s.closed = true;
        drop(s);
        // The acks still out may never resolve: stop waiting on them (they are counted as failed above).
        if let Some(p) = pump {
            p.abort();
        }
    } else if let Some(p) = pump {
        let _ = p.await;
    }
}

/// Waits on every ack a task hands over and counts each exactly once.
///
/// One pump per task, fed through a channel, polling a `FuturesUnordered`: this replaced a `tokio::spawn` per
/// record, which capped `kprod run` well below what the producer sustains. Acks are timed when the pump sees them
/// (as a spawned task would); all acks ready at one wake-up (typically one batch) are counted under one lock.
async fn ack_pump<A>(mut rx: mpsc::UnboundedReceiver<(A, PendingRecord)>, shared: Arc<TaskShared>)
where
    A: Future<Output = Result<(), TargetError>> + Send + 'static,
{
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    let count = |s: &mut Outcomes, (outcome, t_ack, record): (Result<(), TargetError>, Instant, PendingRecord)| {
        // After a drain timeout the task counted its outstanding records as failed: ignore late outcomes.
        if s.closed {
            return;
        }
        match outcome {
            Ok(()) => s.count_ack(&record, t_ack),
            Err(e) => s.count_failure(&e.kind),
        }
    };
    while open || !inflight.is_empty() {
        tokio::select! {
            biased;
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                let mut s = lock(&shared.outcomes);
                count(&mut s, done);
                let mut n = 1;
                while let Some(Some(done)) = inflight.next().now_or_never() {
                    count(&mut s, done);
                    n += 1;
                }
                drop(s);
                shared.complete(n);
            }
            msg = rx.recv(), if open => match msg {
                Some((ack, record)) => inflight.push(async move {
                    let outcome = ack.await;
                    (outcome, Instant::now(), record)
                }),
                None => open = false,
            },
        }
    }
}

/// Runs one point to completion and summarizes it.
pub async fn run_point<T: LoadTarget>(
    target: Arc<T>,
    point: &WorkloadPoint,
    opts: &RunOptions,
) -> Result<PointRun, RunError> {
    let w = &point.workload;
    let gen_err = |source| RunError::Generator { point: point.name.clone(), source };
    let shared = SharedData::new(w).map_err(gen_err)?;
    let tasks = w.tasks();
    let generators: Vec<Generator> =
        (0..tasks).map(|i| Generator::new(w, i, shared.clone())).collect::<Result<_, _>>().map_err(gen_err)?;
    let mut generators = generators.into_iter();
    // A pacer that fails to start (no thread) leaves tokio's timer: coarser, still correct.
    let pacer = (opts.precise_pacing && w.rate_records_per_s.is_some())
        .then(|| {
            Pacer::start().map(Arc::new).map_err(|e| tracing::warn!("pacer thread: {e}; using tokio's timer")).ok()
        })
        .flatten();
    // A closed loop's tagged sends are timed on the CPU's counter; calibrated here, before the start.
    let closed = matches!(Schedule::for_task(w, 0, Duration::ZERO), Schedule::Closed);
    let counter = (opts.counter_clock && closed && tasks <= BULK_MAX_TASKS).then(quanta::Clock::new);
    let (start_wall, start, lateness) = schedule_start(opts).await;
    let tag_clock = counter.map(TagClock::starting_now);
    let warmup_end = start + w.warmup;
    let deadline = match w.stop {
        StopAfter::Duration(d) => Some(warmup_end + d),
        StopAfter::Records(_) => None,
    };
    let states: Vec<Arc<TaskShared>> = (0..tasks).map(|_| Arc::default()).collect();
    let epoch = Arc::new(AtomicU64::new(0));
    let bulk = tasks <= BULK_MAX_TASKS
        && target.attach_bulk(Some(Arc::new(BulkAcks {
            start,
            warmup_end_us: w.warmup.as_micros() as u64,
            tasks: states.clone(),
            tag_clock: tag_clock.clone(),
        })));
    let mut sends = Vec::new();
    for i in 0..tasks {
        let quota = match w.stop {
            StopAfter::Records(n) => Some(n / tasks as u64 + u64::from((i as u64) < n % tasks as u64)),
            StopAfter::Duration(_) => None,
        };
        // Stagger constant schedules so tasks interleave rather than fire together; a shard's tasks take their
        // global places among all shards' tasks, so the shards' schedules interleave too.
        let global = w.global_task(i);
        let offset =
            w.total_rate_records_per_s().map_or(Duration::ZERO, |r| Duration::from_secs_f64(global as f64 / r));
        let seed = w.seed ^ (0xA5A5_0000 + global as u64);
        let plan = TaskPlan {
            index: i,
            warmup_end,
            quota,
            deadline,
            schedule: Schedule::for_task(w, seed, offset),
            max_outstanding: w.max_outstanding_per_task,
            pacer: pacer.clone(),
            bulk,
            epoch: epoch.clone(),
            tag_clock: tag_clock.clone().filter(|_| bulk),
        };
        let records = generators.next().expect("one generator per task");
        let state = states[i as usize].clone();
        let stop = opts.stop.clone();
        sends.push(run_task(target.clone(), records, plan, start, state, opts.drain_timeout, stop));
    }
    // On the runtime's workers. Sending threads of their own (`Handle::block_on` on the blocking pool, as
    // perf-test sends from its main thread) were tried: +17 % at 256 KiB batches (9.40 against 8.04 M records/s),
    // but at 16 KiB batches with acks=all whole repeats fell into a mode with twice the CPU per record and half the
    // rate (workloads/sweeps/ci-compare.yaml: 2.1–5.0 M records/s where tasks on workers gave 3.9–5.0 M), which a
    // measurement cannot afford.
    let handles: Vec<_> = sends.into_iter().map(tokio::spawn).collect();

    // One waiter for all tasks, so the collector notices the end at once rather than at its next tick.
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        for h in handles {
            // A panicking task loses its own records only; the accounting of the others stands.
            let _ = h.await;
        }
        let _ = done_tx.send(());
    });

    let mut c = Collector::new(point, opts, start_wall, start, w.warmup, epoch);
    let mut warm = w.warmup.is_zero();
    let mut baseline = Counts::default();
    let mut cpu_start = cpu_time_ns();
    let mut wait_start = cpu_wait_ns();
    let mut measured_start = start;
    let mut next_tick = start + opts.interval;
    loop {
        let wake = if warm { next_tick } else { next_tick.min(warmup_end) };
        tokio::select! {
            _ = &mut done_rx => break,
            _ = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        if !warm && now >= warmup_end {
            // End of warm-up: what was recorded so far goes to the interval log only, never to the totals.
            c.tick(&states, &*target, now, false);
            baseline = totals(&states);
            cpu_start = cpu_time_ns();
            wait_start = cpu_wait_ns();
            measured_start = now;
            next_tick = now + opts.interval;
            warm = true;
            continue;
        }
        c.tick(&states, &*target, now, warm);
        next_tick += opts.interval;
    }
    let end = Instant::now();
    if bulk {
        target.attach_bulk(None);
    }
    c.tick(&states, &*target, end, warm);
    c.finish();
    let counts = diff(&totals(&states), &baseline);
    let measured = end.saturating_duration_since(measured_start);
    let mut result = PointResult::summarize(&c.total, &counts, measured);
    result.cpu_time_ns_per_record = match (cpu_start, cpu_time_ns()) {
        (Some(a), Some(b)) if counts.records_acked > 0 => Some((b - a) as f64 / counts.records_acked as f64),
        _ => None,
    };
    result.cpu_wait_ms_per_s = match (wait_start, cpu_wait_ns()) {
        (Some(a), Some(b)) if measured > Duration::ZERO => {
            Some(b.saturating_sub(a) as f64 / 1e6 / measured.as_secs_f64())
        }
        _ => None,
    };
    result.name = point.name.clone();
    result.dims = point.dims.clone();
    result.repeat = point.repeat;
    result.config = Some(w.clone());
    result.seed = w.seed;
    result.git_commit = opts.git_commit.clone();
    result.machine = Machine::current();
    result.start_time_unix_ms = unix_ms(start_wall);
    result.start_lateness_us = opts.start_at.map(|_| lateness.as_micros() as u64);
    result.time_series = std::mem::take(&mut c.series);
    result.warnings = w.warnings.clone();
    if lateness > Duration::ZERO && opts.start_at.is_some() {
        result.warnings.push(format!(
            "point {}: started {:.3} ms after the common start instant (counted as schedule lag)",
            point.name,
            lateness.as_secs_f64() * 1e3
        ));
    }
    if opts.stop.is_set() {
        result.status = super::result::PointStatus::Interrupted;
        result.warnings.push(format!(
            "point {} interrupted (Ctrl-C) after {:.2} s measured: the figures cover that part only",
            point.name, result.duration_s
        ));
    } else if let (Some(rate), StopAfter::Duration(planned), true) = (w.rate_records_per_s, w.stop, warm) {
        // A ramp's target is its mean over the measured phase, not its start rate.
        let rate = match &w.rate_control {
            Some(super::workload::RateControl::Ramp(ramp)) => ramp.mean_rate(w.warmup, w.warmup + planned),
            _ => rate,
        };
        let sent_rate = counts.records_sent as f64 / planned.as_secs_f64().max(1e-9);
        if let Some(warning) = missed_target(&point.name, rate, planned, sent_rate, result.rate_records_per_s, measured)
        {
            result.warnings.push(warning);
        }
    }
    if !warm {
        result.warnings.push(format!("point {} ended during its warm-up: nothing was measured", point.name));
    }
    Ok(PointRun { result, intervals: c.logs })
}

/// Records the runner's cost is measured over (see [`runner_cost_ns_per_record`]).
/// A million: at ~30 ns per record that is ~30 ms of CPU, long enough that thread wake-ups and the clock ticker
/// do not swing the figure (300,000 records gave 24–43 ns for one binary, 2026-12-05).
pub const RUNNER_COST_RECORDS: u64 = 1_000_000;

/// The records a [`NullTarget`] holds for one task: (tag, bytes) slots and how many are filled.
///
/// Only that task's `send_tagged` writes them (a tag's task bits name the one sending task that made it), and they
/// are read when the chunk is full (by the same task) or at detach (after every task ended). So plain atomic loads
/// and stores suffice, with no read-modify-write and no lock per record: holding a record then costs about what
/// the producer pays to keep a record's `user_data`, where a per-task mutex cost two atomic operations per record
/// and was counted as the runner's (if the single-writer rule were broken, records could be lost, never corrupt
/// memory: the drain would then count them as failed).
struct HeldAcks {
    tags: Box<[AtomicU64]>,
    /// The held records' bytes, summed (what `BulkAcks::acked` adds up).
    bytes: AtomicU64,
    len: AtomicUsize,
}

impl HeldAcks {
    fn new(chunk: usize) -> HeldAcks {
        HeldAcks {
            tags: (0..chunk).map(|_| AtomicU64::new(0)).collect(),
            bytes: AtomicU64::new(0),
            len: AtomicUsize::new(0),
        }
    }
}

/// Accepts every record and acknowledges it in chunks on the sending task: the runner with nothing behind it.
struct NullTarget {
    acks: Mutex<Option<Arc<BulkAcks>>>,
    /// Per task (the tag's task bits), so tasks never share state.
    pending: Box<[HeldAcks]>,
    /// Records held before acknowledging them together: at most a task's outstanding bound, so a task that waits
    /// for room always has a full chunk pending (else it would wait forever).
    chunk: usize,
}

/// Records a [`NullTarget`] holds before acknowledging them together (a producer batch of 100 B records).
const NULL_TARGET_CHUNK: usize = 1000;

impl NullTarget {
    fn new(tasks: usize, chunk: usize) -> NullTarget {
        let chunk = chunk.max(1);
        NullTarget { acks: Mutex::new(None), pending: (0..tasks.max(1)).map(|_| HeldAcks::new(chunk)).collect(), chunk }
    }

    fn ack_pending(&self, task: usize) {
        let Some(acks) = self.acks.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
        let p = &self.pending[task];
        let n = p.len.load(Ordering::Acquire);
        // The bytes all go with the first record: `acked` sums them per task, and every held record is this task's.
        let mut bytes = p.bytes.load(Ordering::Relaxed);
        acks.acked((0..n).map(|i| (p.tags[i].load(Ordering::Relaxed), std::mem::take(&mut bytes))), Instant::now());
        p.bytes.store(0, Ordering::Relaxed);
        p.len.store(0, Ordering::Release);
    }
}

impl LoadTarget for NullTarget {
    type Ack = std::future::Ready<Result<(), TargetError>>;

    async fn send(&self, _record: GenRecord<'_>) -> Result<Self::Ack, TargetError> {
        Ok(std::future::ready(Ok(())))
    }

    fn attach_bulk(&self, acks: Option<Arc<BulkAcks>>) -> bool {
        let detaching = acks.is_none();
        if detaching {
            (0..self.pending.len()).for_each(|task| self.ack_pending(task));
        }
        *self.acks.lock().unwrap_or_else(|e| e.into_inner()) = acks;
        true
    }

    /// The task reports its sends before it drains (and every ~1024 records): acknowledge what it holds, so a last
    /// partial chunk is never left waiting (1,000,000 records over 3 tasks left 133 held at a bound of 200).
    fn tagged_sent(&self, task: u32, _n: u64) {
        self.ack_pending((task as usize).min(self.pending.len() - 1));
    }

    #[inline]
    fn send_tagged(
        &self,
        record: GenRecord<'_>,
        tag: u64,
    ) -> Tagged<impl Future<Output = Result<(), TargetError>> + Send> {
        let bytes = record.value.len() as u64 + record.key.as_ref().map_or(0, |k| k.len() as u64);
        let task = ((tag >> (TAG_TIME_BITS + TAG_LAG_BITS)) as usize).min(self.pending.len() - 1);
        let p = &self.pending[task];
        let mut n = p.len.load(Ordering::Acquire);
        if n >= self.chunk {
            self.ack_pending(task);
            n = 0;
        }
        p.tags[n].store(tag, Ordering::Relaxed);
        p.bytes.store(p.bytes.load(Ordering::Relaxed) + bytes, Ordering::Relaxed);
        p.len.store(n + 1, Ordering::Release);
        if n + 1 >= self.chunk {
            self.ack_pending(task);
        }
        Tagged::Done::<std::future::Ready<_>>(Ok(()))
    }
}

/// What the runner itself costs per record, in CPU ns: the point's generator, tasks and accounting driven
/// closed-loop for [`RUNNER_COST_RECORDS`] records against a target that does nothing but acknowledge in chunks.
/// Set beside the point's whole CPU per record, it says how much of a measurement is the harness. An upper bound:
/// it includes the null target's own bookkeeping (two atomic stores per record, `HeldAcks`). `None` off Linux
/// or when the point cannot be generated.
pub async fn runner_cost_ns_per_record(point: &WorkloadPoint) -> Option<f64> {
    runner_cost_ns_with_records(point, RUNNER_COST_RECORDS).await
}

/// [`runner_cost_ns_per_record`] over `records` records (`examples/runner_cost.rs` runs it under callgrind at two
/// counts, whose difference is the runner's instructions per record).
pub async fn runner_cost_ns_with_records(point: &WorkloadPoint, records: u64) -> Option<f64> {
    let mut p = point.clone();
    p.workload.stop = StopAfter::Records(records);
    p.workload.rate_records_per_s = None;
    p.workload.rate_control = None;
    p.workload.warmup = Duration::ZERO;
    p.workload.shard = None;
    let opts = RunOptions { progress: Progress::Off, precise_pacing: false, ..RunOptions::default() };
    let chunk = NULL_TARGET_CHUNK.min(p.workload.max_outstanding_per_task.max(1) as usize);
    let target = Arc::new(NullTarget::new(p.workload.tasks() as usize, chunk));
    // The point's own CPU figure starts once the generators exist, so building the payload pool is not counted.
    run_point(target, &p, &opts).await.ok()?.result.cpu_time_ns_per_record
}

/// When the intended schedule starts: (wall clock, monotonic instant, lateness after `--start-at`).
///
/// With a start instant still ahead, waits for it. Past it, the schedule starts at the instant anyway (the
/// monotonic start is moved back by the lateness), so every record due since is late and says so.
async fn schedule_start(opts: &RunOptions) -> (SystemTime, Instant, Duration) {
    let Some(at) = opts.start_at else {
        return (opts.clock.now(), Instant::now(), Duration::ZERO);
    };
    if let Ok(ahead) = at.duration_since(opts.clock.now()) {
        // Coarse sleep, then a short spin-free wait in small steps to land close to the instant.
        tokio::time::sleep(ahead.saturating_sub(Duration::from_millis(2))).await;
        while let Ok(left) = at.duration_since(opts.clock.now()) {
            tokio::time::sleep(left.min(Duration::from_micros(200))).await;
        }
    }
    let lateness = opts.clock.now().duration_since(at).unwrap_or(Duration::ZERO);
    let now = Instant::now();
    (at, now.checked_sub(lateness).unwrap_or(now), lateness)
}

/// The once-a-second side of a run: intervals, totals, time series, progress.
struct Collector {
    logs: IntervalLogs,
    total: Recorder,
    interval: Recorder,
    warm: Recorder,
    series: Vec<TimePoint>,
    start: Instant,
    last: Instant,
    last_counts: Counts,
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    planned: Duration,
    name: String,
    /// Intervals shorter than this are not plotted.
    tick_min: Duration,
    /// Counts intervals; tasks hand their lags over when it moves.
    epoch: Arc<AtomicU64>,
}

impl Collector {
    fn new(
        point: &WorkloadPoint,
        opts: &RunOptions,
        start_wall: SystemTime,
        start: Instant,
        warmup: Duration,
        epoch: Arc<AtomicU64>,
    ) -> Self {
        let w = &point.workload;
        let planned = match w.stop {
            StopAfter::Duration(d) => warmup + d,
            StopAfter::Records(_) => Duration::ZERO,
        };
        let terminal = std::io::stderr().is_terminal();
        let bar = (opts.progress == Progress::Auto && terminal).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_message(format!("{}: starting", point.name));
            b
        });
        Collector {
            logs: IntervalLogs::new(start_wall),
            total: Recorder::new(),
            interval: Recorder::new(),
            warm: Recorder::new(),
            series: Vec::new(),
            start,
            last: start,
            last_counts: Counts::default(),
            bar,
            plain: opts.progress == Progress::Plain || (opts.progress == Progress::Auto && !terminal),
            planned,
            name: point.name.clone(),
            tick_min: opts.interval / 4,
            epoch,
        }
    }

    fn tick<T: LoadTarget>(&mut self, states: &[Arc<TaskShared>], target: &T, now: Instant, measured: bool) {
        // Tasks hand over the lags they hold at their next record (they are at most one interval late).
        self.epoch.fetch_add(1, Ordering::Relaxed);
        for t in states {
            lock(&t.outcomes).drain_into(&mut self.interval, &mut self.warm);
            let mut l = t.lags.lock().unwrap_or_else(|e| e.into_inner());
            l.rec.drain_into(&mut self.interval, &[Metric::ScheduleLag]);
            l.warm_rec.drain_into(&mut self.warm, &[Metric::ScheduleLag]);
        }
        target.collect_hooks(&mut self.interval);
        if !measured {
            // Everything seen so far is warm-up, whenever the record was due.
            self.warm.add(&self.interval);
            self.interval.reset();
        }
        let span = now.saturating_duration_since(self.last);
        let counts = totals(states);
        let delta = diff(&counts, &self.last_counts);
        let secs = span.as_secs_f64().max(1e-9);
        let mut shown = self.interval.clone();
        shown.add(&self.warm);
        let rt = shown.get(Metric::ResponseTime);
        let point = TimePoint {
            t_s: now.saturating_duration_since(self.start).as_secs_f64(),
            records_per_s: delta.records_acked as f64 / secs,
            mb_per_s: delta.bytes_acked as f64 / secs / 1e6,
            response_time_us_p99: rt.value_at_quantile(0.99),
            errors: delta.records_failed,
            warmup: !measured,
        };
        if !span.is_zero() {
            let from = self.last.saturating_duration_since(self.start);
            self.logs.append(&self.interval, from, span, None);
            self.logs.append(&self.warm, from, span, Some("warmup"));
        }
        // A short tail (the drain after the last full second) would show a distorted rate: log it, do not plot it.
        if span >= self.tick_min {
            self.progress(&point, rt.value_at_quantile(0.5), rt.max(), now);
            self.series.push(point);
        }
        if measured {
            self.total.add(&self.interval);
        }
        self.interval.reset();
        self.warm.reset();
        self.last = now;
        self.last_counts = counts;
    }

    fn progress(&self, p: &TimePoint, p50_us: u64, max_us: u64, now: Instant) {
        let left = self.planned.saturating_sub(now.saturating_duration_since(self.start));
        let line = format!(
            "{}{} {:>6.1}s  {:>10.0} rec/s  {:>8.2} MB/s  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  errors {}  left {}s",
            self.name,
            if p.warmup { " (warm-up)" } else { "" },
            p.t_s,
            p.records_per_s,
            p.mb_per_s,
            p50_us as f64 / 1e3,
            p.response_time_us_p99 as f64 / 1e3,
            max_us as f64 / 1e3,
            p.errors,
            left.as_secs_f64().ceil() as u64
        );
        if let Some(b) = &self.bar {
            b.set_message(line);
            b.tick();
        } else if self.plain {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
