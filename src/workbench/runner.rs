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
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

use super::generator::{GenRecord, Generator, GeneratorError, Schedule, SharedData};
use super::histograms::{IntervalLogs, Metric, Recorder};
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

    /// Sends a record whose outcome the target reports to the attached [`BulkAcks`] under `tag`. `Err` means the
    /// record was not accepted (and will not be reported).
    fn send_tagged(&self, record: GenRecord<'_>, tag: u64) -> impl Future<Output = Result<(), TargetError>> + Send {
        let _ = (record, tag);
        async { Err(TargetError { kind: "unsupported".into(), message: "this target has no bulk path".into() }) }
    }
}

// A record's tag on the bulk path: its task (high 16 bits) and its slot in that task's in-flight slab (low 48
// bits), where its intended and actual send times wait for the ack, exact to the nanosecond. The slab holds at most
// `max_outstanding_per_task` entries, since every entry holds one of the task's permits.
const TAG_TASK_SHIFT: u32 = 48;
const TAG_SLOT_MASK: u64 = (1 << TAG_TASK_SHIFT) - 1;
/// Points with more tasks than this use per-record ack futures.
pub const BULK_MAX_TASKS: u32 = 1 << (64 - TAG_TASK_SHIFT);

fn encode_tag(task: u32, slot: usize) -> u64 {
    (u64::from(task) << TAG_TASK_SHIFT) | (slot as u64 & TAG_SLOT_MASK)
}

/// (task, slot)
fn decode_tag(tag: u64) -> (usize, usize) {
    ((tag >> TAG_TASK_SHIFT) as usize, (tag & TAG_SLOT_MASK) as usize)
}

/// A record sent and waiting for its outcome (in the bulk path's slab, or beside its ack future).
#[derive(Debug, Clone, Copy)]
struct InFlight {
    intended: Instant,
    t_send: Instant,
    bytes: u64,
    measured: bool,
}

/// In-flight records of one task by slot; freed slots are reused, so the slab never outgrows the permits.
#[derive(Debug, Default)]
struct Slab {
    entries: Vec<Option<InFlight>>,
    free: Vec<usize>,
}

impl Slab {
    fn insert(&mut self, r: InFlight) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.entries[i] = Some(r);
                i
            }
            None => {
                self.entries.push(Some(r));
                self.entries.len() - 1
            }
        }
    }

    fn take(&mut self, slot: usize) -> Option<InFlight> {
        let r = self.entries.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(r)
    }
}

/// Where a bulk target reports outcomes: one lock per task per batch instead of a future, a waker and a permit
/// per record. This is how `kprod perf-test` measures too (the producer's batch hooks).
pub struct BulkAcks {
    tasks: Vec<(Arc<Mutex<TaskState>>, Arc<Semaphore>)>,
}

impl std::fmt::Debug for BulkAcks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkAcks").field("tasks", &self.tasks.len()).finish_non_exhaustive()
    }
}

impl BulkAcks {
    /// Records `(tag, bytes)` were acknowledged at `at`.
    pub fn acked(&self, tags: impl IntoIterator<Item = u64>, at: Instant) {
        self.each(tags, |s, r| s.count_ack(&r, at));
    }

    /// Records with these tags failed with an error of `kind`.
    pub fn failed(&self, tags: impl IntoIterator<Item = u64>, kind: &str) {
        self.each(tags, |s, _| s.count_failure(kind));
    }

    /// Runs `f` for each record under its task's lock (taken once per run of records of one task), then gives the
    /// task its permits back: a task's drain sees every permit only once every record is counted.
    fn each(&self, tags: impl IntoIterator<Item = u64>, mut f: impl FnMut(&mut TaskState, InFlight)) {
        let mut current: Option<(usize, std::sync::MutexGuard<'_, TaskState>, usize)> = None;
        let release = |c: Option<(usize, std::sync::MutexGuard<'_, TaskState>, usize)>| {
            if let Some((task, guard, n)) = c {
                drop(guard);
                self.tasks[task].1.add_permits(n);
            }
        };
        for tag in tags {
            let (task, slot) = decode_tag(tag);
            let Some((state, _)) = self.tasks.get(task) else { continue };
            if current.as_ref().is_none_or(|c| c.0 != task) {
                release(current.take());
                current = Some((task, lock(state), 0));
            }
            let Some((_, guard, n)) = current.as_mut() else { continue };
            // An unknown slot is not a record of this point (nothing to count, no permit to return).
            let Some(r) = guard.in_flight.take(slot) else { continue };
            // After a drain timeout the task counted its outstanding records as failed: ignore late outcomes.
            if !guard.closed {
                f(guard, r);
            }
            *n += 1;
        }
        release(current);
    }
}

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
#[derive(Debug, Clone)]
pub struct Stop(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Stop {
    fn default() -> Self {
        Stop(Arc::new(tokio::sync::watch::Sender::new(false)))
    }
}

impl Stop {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once [`trigger`](Self::trigger) was called (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
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

/// `15754` → `15,754`.
fn thousands(v: f64) -> String {
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

/// Everything a task and its in-flight acks update, under one lock so each ack is counted exactly once.
#[derive(Debug, Default)]
struct TaskState {
    rec: Recorder,
    /// Records due during the warm-up: interval logs and time series only, never the totals.
    warm_rec: Recorder,
    sent: u64,
    acked: u64,
    failed: u64,
    bytes_acked: u64,
    errors: BTreeMap<String, u64>,
    /// Set when the drain timed out: late acks are then ignored (already counted as failed).
    closed: bool,
    /// Bulk path: records sent and not yet reported.
    in_flight: Slab,
}

impl TaskState {
    /// An acknowledged record: its bytes, response time (from the intended send) and service time (from the send).
    fn count_ack(&mut self, r: &InFlight, at: Instant) {
        self.acked += 1;
        self.bytes_acked += r.bytes;
        let rec = if r.measured { &mut self.rec } else { &mut self.warm_rec };
        rec.record_duration(Metric::ResponseTime, at.saturating_duration_since(r.intended));
        rec.record_duration(Metric::ServiceTime, at.saturating_duration_since(r.t_send));
    }

    /// A failed record, grouped under `kind` (the key is allocated only the first time a kind is seen).
    fn count_failure(&mut self, kind: &str) {
        self.failed += 1;
        match self.errors.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                self.errors.insert(kind.to_string(), 1);
            }
        }
    }
}

fn lock(s: &Mutex<TaskState>) -> std::sync::MutexGuard<'_, TaskState> {
    // A panic while holding the lock leaves plain counters; keep measuring.
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn totals(states: &[Arc<Mutex<TaskState>>]) -> Counts {
    let mut c = Counts::default();
    for s in states {
        let s = lock(s);
        c.records_sent += s.sent;
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

/// Process CPU time (user + system) from /proc, in nanoseconds; `None` off Linux.
fn cpu_time_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15 (clock ticks of 10 ms).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

struct TaskPlan {
    index: u32,
    warmup_end: Instant,
    quota: Option<u64>,
    deadline: Option<Instant>,
    schedule: Schedule,
    max_outstanding: u32,
    permits: Arc<Semaphore>,
    /// Open loop with precise pacing.
    pacer: Option<Arc<Pacer>>,
    /// The target reports outcomes to a [`BulkAcks`] (tagged sends) instead of per-record futures.
    bulk: bool,
}

async fn run_task<T: LoadTarget>(
    target: Arc<T>,
    mut records: Generator,
    plan: TaskPlan,
    start: Instant,
    state: Arc<Mutex<TaskState>>,
    drain_timeout: Duration,
    stop: Stop,
) {
    let TaskPlan { index, quota, deadline, mut schedule, max_outstanding, warmup_end, permits, pacer, bulk } = plan;
    let (acks, rx) = mpsc::unbounded_channel();
    let pump = (!bulk).then(|| tokio::spawn(ack_pump::<T::Ack>(rx, state.clone())));
    let mut sent = 0u64;
    loop {
        if quota.is_some_and(|q| sent >= q) {
            break;
        }
        let scheduled = schedule.next_intended().map(|offset| start + offset);
        if let (Some(i), Some(d)) = (scheduled, deadline)
            && i >= d
        {
            break;
        }
        if stop.is_set() {
            break;
        }
        let due = async {
            match (scheduled, &pacer) {
                (Some(i), Some(p)) => p.sleep_until(i).await,
                (Some(i), None) => tokio::time::sleep_until(i).await,
                (None, _) => {}
            }
        };
        tokio::select! {
            biased;
            _ = stop.wait() => break,
            _ = due => {}
        }
        // Wait for room among outstanding records, but not past the deadline nor forever (a stalled target).
        let give_up = deadline.map_or(Instant::now() + drain_timeout, |d| d.min(Instant::now() + drain_timeout));
        let permit = tokio::select! {
            biased;
            _ = stop.wait() => break,
            p = tokio::time::timeout_at(give_up, permits.clone().acquire_owned()) => match p {
                Ok(Ok(p)) => p,
                _ => break,
            },
        };
        // Closed loop: the record is due when there is room for it, so waiting for a permit is not lag.
        let intended = scheduled.unwrap_or_else(Instant::now);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        // Records due during the warm-up are counted but kept out of the histograms, even if acked after it.
        let measured = intended >= warmup_end;
        let record = records.next_record();
        let bytes = record.value.len() as u64 + record.key.as_ref().map_or(0, |k| k.len() as u64);
        let t_send = Instant::now();
        sent += 1;
        // One lock per record: count it, its schedule lag and (bulk) its in-flight slot.
        let in_flight = InFlight { intended, t_send, bytes, measured };
        let slot = {
            let mut s = lock(&state);
            s.sent += 1;
            let rec = if measured { &mut s.rec } else { &mut s.warm_rec };
            rec.record_duration(Metric::ScheduleLag, t_send - intended);
            // The slot is filled before the send: the outcome may be reported before `send_tagged` returns.
            bulk.then(|| s.in_flight.insert(in_flight))
        };
        let outcome = match slot {
            Some(slot) => target.send_tagged(record, encode_tag(index, slot)).await.map(|()| None),
            None => target.send(record).await.map(Some),
        };
        match outcome {
            Err(e) => {
                let mut s = lock(&state);
                if let Some(slot) = slot {
                    s.in_flight.take(slot);
                }
                s.count_failure(&e.kind);
            }
            // Bulk: the permit comes back through `BulkAcks` once the record is counted.
            Ok(None) => permit.forget(),
            Ok(Some(ack)) => {
                let meta = AckMeta { record: in_flight, _permit: permit };
                // The pump only ends after this sender is dropped, so the send cannot fail.
                let _ = acks.send((ack, meta));
            }
        }
    }
    drop(acks);
    // Drain: every permit back means every ack arrived. Interrupted (before or during the drain): briefly.
    let all = permits.acquire_many(max_outstanding);
    let interrupted = async {
        stop.wait().await;
        tokio::time::sleep(INTERRUPT_DRAIN_MAX).await;
    };
    let drained = tokio::select! {
        r = tokio::time::timeout(drain_timeout, all) => r.is_ok(),
        _ = interrupted => false,
    };
    if !drained {
        let mut s = lock(&state);
        let outstanding = s.sent - s.acked - s.failed;
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

/// A record waiting for its ack future; the permit goes back when the ack is counted.
struct AckMeta {
    record: InFlight,
    _permit: OwnedSemaphorePermit,
}

/// Waits on every ack a task hands over and counts each exactly once.
///
/// One pump per task, fed through a channel, polling a `FuturesUnordered`: this replaced a `tokio::spawn` per
/// record, which capped `kprod run` well below what the producer sustains. Acks are timed when the pump sees them
/// (as a spawned task would); all acks ready at one wake-up (typically one batch) are counted under one lock.
async fn ack_pump<A>(mut rx: mpsc::UnboundedReceiver<(A, AckMeta)>, state: Arc<Mutex<TaskState>>)
where
    A: Future<Output = Result<(), TargetError>> + Send + 'static,
{
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    let count = |s: &mut TaskState, (outcome, t_ack, meta): (Result<(), TargetError>, Instant, AckMeta)| {
        // After a drain timeout the task counted its outstanding records as failed: ignore late outcomes.
        if s.closed {
            return;
        }
        match outcome {
            Ok(()) => s.count_ack(&meta.record, t_ack),
            Err(e) => s.count_failure(&e.kind),
        }
        // `meta` (and its permit) drops here, after the record is counted.
    };
    while open || !inflight.is_empty() {
        tokio::select! {
            biased;
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                let mut s = lock(&state);
                count(&mut s, done);
                while let Some(Some(done)) = inflight.next().now_or_never() {
                    count(&mut s, done);
                }
            }
            msg = rx.recv(), if open => match msg {
                Some((ack, meta)) => inflight.push(async move {
                    let outcome = ack.await;
                    (outcome, Instant::now(), meta)
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
    let rate_per_task = w.rate_records_per_s.map(|r| r / tasks as f64);
    // A pacer that fails to start (no thread) leaves tokio's timer: coarser, still correct.
    let pacer = (opts.precise_pacing && w.rate_records_per_s.is_some())
        .then(|| {
            Pacer::start().map(Arc::new).map_err(|e| tracing::warn!("pacer thread: {e}; using tokio's timer")).ok()
        })
        .flatten();
    let (start_wall, start, lateness) = schedule_start(opts).await;
    let warmup_end = start + w.warmup;
    let deadline = match w.stop {
        StopAfter::Duration(d) => Some(warmup_end + d),
        StopAfter::Records(_) => None,
    };
    let states: Vec<Arc<Mutex<TaskState>>> = (0..tasks).map(|_| Arc::default()).collect();
    let permits: Vec<Arc<Semaphore>> =
        (0..tasks).map(|_| Arc::new(Semaphore::new(w.max_outstanding_per_task as usize))).collect();
    let bulk = tasks <= BULK_MAX_TASKS
        && target.attach_bulk(Some(Arc::new(BulkAcks {
            tasks: states.iter().cloned().zip(permits.iter().cloned()).collect(),
        })));
    let mut handles = Vec::new();
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
            schedule: Schedule::new(rate_per_task, w.arrival, seed, offset),
            max_outstanding: w.max_outstanding_per_task,
            permits: permits[i as usize].clone(),
            pacer: pacer.clone(),
            bulk,
        };
        let records = generators.next().expect("one generator per task");
        let state = states[i as usize].clone();
        let stop = opts.stop.clone();
        handles.push(tokio::spawn(run_task(target.clone(), records, plan, start, state, opts.drain_timeout, stop)));
    }

    // One waiter for all tasks, so the collector notices the end at once rather than at its next tick.
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        for h in handles {
            // A panicking task loses its own records only; the accounting of the others stands.
            let _ = h.await;
        }
        let _ = done_tx.send(());
    });

    let mut c = Collector::new(point, opts, start_wall, start, w.warmup);
    let mut warm = w.warmup.is_zero();
    let mut baseline = Counts::default();
    let mut cpu_start = cpu_time_ns();
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
}

impl Collector {
    fn new(point: &WorkloadPoint, opts: &RunOptions, start_wall: SystemTime, start: Instant, warmup: Duration) -> Self {
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
        }
    }

    fn tick<T: LoadTarget>(&mut self, states: &[Arc<Mutex<TaskState>>], target: &T, now: Instant, measured: bool) {
        for s in states {
            let mut s = lock(s);
            s.rec.drain_into(&mut self.interval);
            s.warm_rec.drain_into(&mut self.warm);
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
