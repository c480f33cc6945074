//! Runner tests against fake targets, on paused tokio time (deterministic, instant).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::workbench::workload::{
    Arrival, HeaderSpec, KeySpec, PayloadSpec, ResolvedWorkload, SizeDist, TargetSpec, TopicSpec,
};

type BoxAck = Pin<Box<dyn Future<Output = Result<(), TargetError>> + Send>>;

/// Acks after `delay` (or `slow_delay` before `slow_until`); fails some sends and some acks on purpose.
struct FakeTarget {
    start: Instant,
    delay: Duration,
    slow_delay: Duration,
    slow_until: Duration,
    fail_send_every: u64,
    fail_ack_every: u64,
    never_ack: bool,
    /// Bulk path: every n-th send has to wait (`Tagged::Wait`).
    wait_every: u64,
    calls: AtomicU64,
    /// Report outcomes through the runner's `BulkAcks` (tagged sends) instead of ack futures.
    bulk: bool,
    acks: std::sync::Mutex<Option<Arc<BulkAcks>>>,
}

impl FakeTarget {
    fn new(delay: Duration, bulk: bool) -> FakeTarget {
        FakeTarget {
            bulk,
            acks: std::sync::Mutex::new(None),
            start: Instant::now(),
            delay,
            slow_delay: delay,
            slow_until: Duration::ZERO,
            fail_send_every: 0,
            fail_ack_every: 0,
            never_ack: false,
            wait_every: 0,
            calls: AtomicU64::new(0),
        }
    }
}

impl FakeTarget {
    /// (fails at send, ack delay, fails at ack) of the next call.
    fn plan_call(&self, record: &GenRecord<'_>) -> Result<(Duration, bool), TargetError> {
        assert!(!record.value.is_empty());
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_send_every > 0 && n.is_multiple_of(self.fail_send_every) {
            return Err(TargetError { kind: "buffer_full".into(), message: "no room".into() });
        }
        let delay = if self.start.elapsed() < self.slow_until { self.slow_delay } else { self.delay };
        Ok((delay, self.fail_ack_every > 0 && n.is_multiple_of(self.fail_ack_every)))
    }
}

impl LoadTarget for FakeTarget {
    type Ack = BoxAck;

    fn attach_bulk(&self, acks: Option<Arc<BulkAcks>>) -> bool {
        *self.acks.lock().unwrap() = acks;
        self.bulk
    }

    fn send_tagged(
        &self,
        record: GenRecord<'_>,
        tag: u64,
    ) -> Tagged<impl Future<Output = Result<(), TargetError>> + Send> {
        let n = self.calls.load(Ordering::Relaxed) + 1;
        if self.wait_every > 0 && n.is_multiple_of(self.wait_every) {
            // As a producer out of buffer memory: the record goes out (and its ack timer starts) after a wait.
            let wait = Duration::from_micros(700);
            let outcome = self.fake_send_tagged(record, tag, wait);
            Tagged::Wait(async move {
                tokio::time::sleep(wait).await;
                outcome
            })
        } else {
            Tagged::Done(self.fake_send_tagged(record, tag, Duration::ZERO))
        }
    }

    async fn send(&self, record: GenRecord<'_>) -> Result<BoxAck, TargetError> {
        assert!(!self.bulk, "per-record send on a bulk target");
        let (delay, fail) = self.plan_call(&record)?;
        let never = self.never_ack;
        Ok(Box::pin(async move {
            if never {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(delay).await;
            if fail { Err(TargetError { kind: "NOT_LEADER".into(), message: "moved".into() }) } else { Ok(()) }
        }))
    }
}

impl FakeTarget {
    fn fake_send_tagged(&self, record: GenRecord<'_>, tag: u64, wait: Duration) -> Result<(), TargetError> {
        assert!(self.bulk, "tagged send on a target without a bulk path");
        let (delay, fail) = self.plan_call(&record)?;
        let delay = delay + wait;
        let bytes = record.value.len() as u64 + record.key.as_ref().map_or(0, |k| k.len() as u64);
        let acks = self.acks.lock().unwrap().clone().expect("BulkAcks attached while the point runs");
        if !self.never_ack {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if fail { acks.failed([tag], "NOT_LEADER") } else { acks.acked([(tag, bytes)], Instant::now()) }
            });
        }
        Ok(())
    }
}

fn workload(rate: Option<f64>, stop: StopAfter, warmup: Duration, max_outstanding: u32) -> WorkloadPoint {
    let workload = ResolvedWorkload {
        name: "t".into(),
        label: None,
        topics: vec![TopicSpec { name: "t".into(), partitions: 1 }],
        record_size: SizeDist::Fixed(100),
        payload: PayloadSpec::Random,
        keys: KeySpec::None,
        headers: HeaderSpec::default(),
        stop,
        warmup,
        rate_records_per_s: rate,
        rate_control: None,
        arrival: Arrival::Constant,
        producers: 1,
        tasks_per_producer: 1,
        max_outstanding_per_task: max_outstanding,
        worker_threads: None,
        seed: 1,
        producer_props: BTreeMap::new(),
        target: TargetSpec::default(),
        peers: crate::workbench::workload::default_peers(),
        transaction: None,
        shard: None,
        warnings: vec![],
    };
    WorkloadPoint { name: "p".into(), dims: vec![], repeat: 0, workload }
}

fn opts() -> RunOptions {
    // Paused time: the pacer thread would wait in real time.
    RunOptions {
        progress: Progress::Off,
        drain_timeout: Duration::from_secs(5),
        precise_pacing: false,
        counter_clock: false,
        ..RunOptions::default()
    }
}

async fn fast_target_at_fixed_rate_measures_service_time_only(bulk: bool) {
    let target = Arc::new(FakeTarget::new(Duration::from_millis(2), bulk));
    let p = workload(Some(1000.0), StopAfter::Duration(Duration::from_secs(3)), Duration::ZERO, 1000);
    let r = run_point(target, &p, &opts()).await.unwrap().result;
    assert_eq!(r.records_sent, 3000);
    assert_eq!(r.records_acked, 3000);
    assert_eq!(r.records_failed, 0);
    assert!((r.rate_records_per_s - 1000.0).abs() < 5.0, "{}", r.rate_records_per_s);
    assert!((r.rate_mb_per_s - 0.1).abs() < 0.001);
    // Every ack takes 2 ms, the schedule is kept: response = service = 2 ms, no lag.
    assert!((1990..=2010).contains(&r.response_time_us_p50), "{}", r.response_time_us_p50);
    assert!(r.response_time_us_max <= 2010);
    assert_eq!(r.schedule_lag_us_max, 0);
    assert_eq!(r.time_series.len(), 3, "{:?}", r.time_series);
    assert!(r.histograms.contains_key("response_time_us"));
}

async fn slow_target_shows_coordinated_omission_in_response_time(bulk: bool) {
    // Capacity: one outstanding record, 5 ms each = 200 records/s, asked for 1000 records/s.
    let target = Arc::new(FakeTarget::new(Duration::from_millis(5), bulk));
    let p = workload(Some(1000.0), StopAfter::Duration(Duration::from_secs(2)), Duration::ZERO, 1);
    let r = run_point(target, &p, &opts()).await.unwrap().result;
    assert!((r.rate_records_per_s - 200.0).abs() < 5.0, "{}", r.rate_records_per_s);
    // The service time stays 5 ms ...
    assert!((4990..=5010).contains(&r.service_time_us_p99), "{}", r.service_time_us_p99);
    // ... but records wait for their turn: after 2 s the 400th record was due at 0.4 s, so it waited ~1.6 s.
    assert!(r.schedule_lag_us_max > 1_500_000, "{}", r.schedule_lag_us_max);
    assert!(r.response_time_us_p99 > 1_500_000, "{}", r.response_time_us_p99);
    assert!(r.response_time_us_p50 > 500_000, "{}", r.response_time_us_p50);
    assert_eq!(r.records_sent, r.records_acked + r.records_failed);
}

async fn every_record_is_acked_or_counted_as_an_error(bulk: bool) {
    let mut t = FakeTarget::new(Duration::from_millis(1), bulk);
    t.fail_send_every = 11;
    t.fail_ack_every = 7;
    let mut p = workload(Some(10_000.0), StopAfter::Records(1000), Duration::ZERO, 100);
    p.workload.tasks_per_producer = 3;
    let r = run_point(Arc::new(t), &p, &opts()).await.unwrap().result;
    assert_eq!(r.records_sent, 1000);
    assert_eq!(r.records_acked + r.records_failed, 1000);
    // Calls 1..=1000: multiples of 11 fail at send (90); multiples of 7 not of 11 fail at ack (142 - 12 = 130).
    assert_eq!(r.errors.get("buffer_full"), Some(&90));
    assert_eq!(r.errors.get("NOT_LEADER"), Some(&130));
    assert_eq!(r.records_failed, 220);
    let hist = r.histogram(Metric::ResponseTime).unwrap().unwrap();
    assert_eq!(hist.len(), r.records_acked, "one response time per acked record");
}

async fn unacknowledged_records_fail_at_drain_timeout(bulk: bool) {
    let mut t = FakeTarget::new(Duration::from_millis(1), bulk);
    t.never_ack = true;
    let p = workload(None, StopAfter::Records(50), Duration::ZERO, 10);
    let mut o = opts();
    o.drain_timeout = Duration::from_secs(1);
    let r = run_point(Arc::new(t), &p, &o).await.unwrap().result;
    // Closed loop, 10 outstanding at most: 10 sent, then the task waits for permits that never come.
    assert_eq!(r.records_acked, 0);
    assert_eq!(r.records_sent, r.records_failed);
    assert_eq!(r.errors.get("drain_timeout"), Some(&r.records_sent));
}

async fn warmup_is_discarded(bulk: bool) {
    let mut t = FakeTarget::new(Duration::from_millis(2), bulk);
    t.slow_delay = Duration::from_millis(50);
    t.slow_until = Duration::from_secs(1);
    let p = workload(Some(500.0), StopAfter::Duration(Duration::from_secs(2)), Duration::from_secs(1), 1000);
    let run = run_point(Arc::new(t), &p, &opts()).await.unwrap();
    let r = &run.result;
    // Records sent in the slow first second acked during warm-up; none of their 50 ms shows.
    assert!(r.response_time_us_max < 50_000, "{}", r.response_time_us_max);
    assert!((r.rate_records_per_s - 500.0).abs() < 30.0, "{}", r.rate_records_per_s);
    // Throughput counts acks inside the window: 2 s × 500/s, plus the ~25 records due in the last 50 ms of the
    // warm-up whose (slow) acks land after it.
    assert!((1015..=1030).contains(&r.records_acked), "{}", r.records_acked);
    assert!(r.time_series.first().is_some_and(|t| t.warmup));
    assert!(r.time_series.last().is_some_and(|t| !t.warmup));
    // The interval log still has the warm-up interval, tagged.
    let log = String::from_utf8_lossy(run.intervals.log(Metric::ResponseTime)).into_owned();
    assert!(log.contains("Tag=warmup"), "{log}");
    // One folder per path: both variants of this test run in parallel in one process.
    let dir = std::env::temp_dir().join(format!("kprod-runner-{}-bulk-{bulk}", std::process::id()));
    let written = run.save_intervals(&dir).unwrap();
    assert!(written.ends_with("intervals/p-r0") && written.join("response_time_us.hlog").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn closed_loop_is_bounded_by_outstanding_records(bulk: bool) {
    let t = FakeTarget::new(Duration::from_millis(10), bulk);
    let p = workload(None, StopAfter::Duration(Duration::from_secs(1)), Duration::ZERO, 4);
    let r = run_point(Arc::new(t), &p, &opts()).await.unwrap().result;
    // 4 outstanding × 100 round trips per second.
    assert!((r.rate_records_per_s - 400.0).abs() < 20.0, "{}", r.rate_records_per_s);
    assert_eq!(r.schedule_lag_us_max, 0, "closed loop: intended = send time");
    assert_eq!(r.response_time_us_p50, r.service_time_us_p50);
}

async fn a_run_ending_in_its_warmup_says_so(bulk: bool) {
    let t = FakeTarget::new(Duration::from_millis(1), bulk);
    let p = workload(Some(1000.0), StopAfter::Records(10), Duration::from_secs(5), 100);
    let r = run_point(Arc::new(t), &p, &opts()).await.unwrap().result;
    assert_eq!(r.records_acked, 10, "counted from the start when the warm-up never ended");
    assert!(r.warnings.iter().any(|w| w.contains("warm-up")), "{:?}", r.warnings);
}

async fn a_point_below_its_target_rate_says_how_much_it_reached(bulk: bool) {
    // Capacity 200 records/s (one outstanding, 5 ms each) for 1000 records/s asked.
    let target = Arc::new(FakeTarget::new(Duration::from_millis(5), bulk));
    let p = workload(Some(1000.0), StopAfter::Duration(Duration::from_secs(2)), Duration::ZERO, 1);
    let r = run_point(target, &p, &opts()).await.unwrap().result;
    let w = r.warnings.iter().find(|w| w.contains("missed its target")).expect("a missed-target warning");
    assert!(w.contains("1,000 records/s intended") && w.contains("200 records/s reached"), "{w}");
    assert!(w.contains("2.00 s planned"), "{w}");
}

async fn a_point_whose_acks_lag_says_how_long_it_really_ran(bulk: bool) {
    // Every ack takes 3 s: the 1 s point drains for 3 s more.
    let target = Arc::new(FakeTarget::new(Duration::from_secs(3), bulk));
    let p = workload(Some(100.0), StopAfter::Duration(Duration::from_secs(1)), Duration::ZERO, 1000);
    let r = run_point(target, &p, &opts()).await.unwrap().result;
    let w = r.warnings.iter().find(|w| w.contains("missed its target")).expect("a missed-target warning");
    assert!(w.contains("25 records/s reached") && w.contains("ran 3.99 s for 1.00 s planned"), "{w}");
    assert!(w.contains("acks lagged"), "{w}");
    // A point on target says nothing.
    let fast = Arc::new(FakeTarget::new(Duration::from_millis(2), bulk));
    let r = run_point(fast, &p, &opts()).await.unwrap().result;
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

async fn stop_ends_a_point_early_marked_interrupted(bulk: bool) {
    let t = FakeTarget::new(Duration::from_millis(2), bulk);
    let p = workload(Some(1000.0), StopAfter::Duration(Duration::from_secs(60)), Duration::ZERO, 1000);
    let o = opts();
    let stop = o.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.trigger();
    });
    let began = Instant::now();
    let r = run_point(Arc::new(t), &p, &o).await.unwrap().result;
    assert!(began.elapsed() < Duration::from_secs(2), "stopped at once: {:?}", began.elapsed());
    assert_eq!(r.status, crate::workbench::result::PointStatus::Interrupted);
    assert!((1400..=1600).contains(&r.records_acked), "{}", r.records_acked);
    assert_eq!(r.records_sent, r.records_acked + r.records_failed);
    assert!(r.warnings.iter().any(|w| w.contains("interrupted")), "{:?}", r.warnings);
}

async fn stop_bounds_the_drain(bulk: bool) {
    let mut t = FakeTarget::new(Duration::from_millis(1), bulk);
    t.never_ack = true;
    let p = workload(None, StopAfter::Records(50), Duration::ZERO, 10);
    let mut o = opts();
    o.drain_timeout = Duration::from_secs(600);
    let stop = o.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.trigger();
    });
    let began = Instant::now();
    let r = run_point(Arc::new(t), &p, &o).await.unwrap().result;
    let took = began.elapsed();
    assert!(took >= INTERRUPT_DRAIN_MAX && took < INTERRUPT_DRAIN_MAX + Duration::from_secs(2), "{took:?}");
    assert_eq!(r.errors.get("drain_timeout"), Some(&10));
}

/// Records the target cannot take at once (`Tagged::Wait`) are still sent, timed and counted once each, and their
/// wait is service time.
#[tokio::test(start_paused = true)]
async fn records_that_must_wait_are_sent_timed_and_counted() {
    let mut t = FakeTarget::new(Duration::from_millis(2), true);
    t.wait_every = 3;
    t.fail_send_every = 10;
    let p = workload(None, StopAfter::Records(3000), Duration::ZERO, 50);
    let r = run_point(Arc::new(t), &p, &opts()).await.unwrap().result;
    assert_eq!(r.records_sent, 3000);
    assert_eq!(r.errors.get("buffer_full"), Some(&300));
    assert_eq!(r.records_acked, 2700);
    let h = r.histogram(Metric::ServiceTime).unwrap().unwrap();
    assert_eq!(h.len(), 2700, "one service time per acked record");
    // Closed loop, 2 ms per ack; the records that waited 0.7 ms first show it.
    assert!(h.max() >= 2_700 && h.min() >= 2_000, "{} .. {}", h.min(), h.max());
}

/// Every runner test runs on both ack paths: per-record futures and the bulk path (`BulkAcks`).
macro_rules! on_both_paths {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test(start_paused = true)]
            async fn futures() {
                super::$name(false).await
            }
            #[tokio::test(start_paused = true)]
            async fn bulk() {
                super::$name(true).await
            }
        })*
    };
}

on_both_paths!(
    fast_target_at_fixed_rate_measures_service_time_only,
    slow_target_shows_coordinated_omission_in_response_time,
    every_record_is_acked_or_counted_as_an_error,
    unacknowledged_records_fail_at_drain_timeout,
    warmup_is_discarded,
    closed_loop_is_bounded_by_outstanding_records,
    a_run_ending_in_its_warmup_says_so,
    a_point_below_its_target_rate_says_how_much_it_reached,
    a_point_whose_acks_lag_says_how_long_it_really_ran,
    stop_ends_a_point_early_marked_interrupted,
    stop_bounds_the_drain,
);

/// A shard that reaches its `--start-at` instant 1.5 s late keeps the common schedule: the records due meanwhile
/// go out at once, their wait is schedule lag (and response time), and the lateness is reported.
#[tokio::test(start_paused = true)]
async fn a_late_start_is_reported_and_counted_as_schedule_lag() {
    let target = Arc::new(FakeTarget::new(Duration::from_millis(2), true));
    let p = workload(Some(1000.0), StopAfter::Duration(Duration::from_secs(2)), Duration::ZERO, 5000);
    let mut o = opts();
    // 1.5 s, not 1 s: at 1 s exactly half the records were late, and whether the median was late depended on
    // the few ms the test took to start (the payload pool cached by another test or not).
    o.start_at = Some(SystemTime::now() - Duration::from_millis(1_500));
    let r = run_point(target, &p, &o).await.unwrap().result;
    let late = r.start_lateness_us.unwrap();
    assert!((1_500_000..1_700_000).contains(&late), "{late}");
    assert_eq!(r.records_sent, 2000, "the whole schedule from the common instant is sent");
    assert!(r.schedule_lag_us_max >= 1_490_000, "{}", r.schedule_lag_us_max);
    assert!(r.response_time_us_p50 > 200_000, "three quarters of the records were late: {}", r.response_time_us_p50);
    assert!(r.warnings.iter().any(|w| w.contains("after the common start instant")), "{:?}", r.warnings);
    let start = r.start_time_unix_ms;
    let expected = super::unix_ms(o.start_at.unwrap());
    assert_eq!(start, expected, "the run's start is the common instant, not when this shard got there");
}

#[test]
fn tags_carry_task_send_time_and_lag() {
    // Lags: exact below 2^13 µs, within 2^-12 (truncated) above, up to hours.
    for lag in [0, 1, 8191, 8192, 8193, 123_456, 1_600_000, 3_600_000_000, 1 << 40] {
        let back = decode_lag(encode_lag(lag));
        assert!(back <= lag && lag - back <= lag >> 12, "lag {lag} came back as {back}");
        if lag < 8192 {
            assert_eq!(back, lag);
        }
    }
    // The send time comes back exactly from the ack time, also past the 2^34 µs wrap of the stored bits.
    for (sent, service) in [(0u64, 0u64), (5_000, 2_000), ((1 << 34) - 3, 10), (3 << 34, 7_200_000_000)] {
        let tag = encode_tag(BULK_MAX_TASKS - 1, sent, 1_600_000);
        let (task, back, lag) = decode_tag(tag, sent + service);
        assert_eq!((task, back), (BULK_MAX_TASKS as usize - 1, sent), "sent {sent}, service {service}");
        assert_eq!(lag, decode_lag(encode_lag(1_600_000)));
    }
    assert_eq!(decode_tag(encode_tag(7, 42, 0), 50).0, 7);
    // A send stamped a little after its ack (two cores' counters apart) is an instant send, not a 4.8-hour one,
    // also across the wrap.
    assert_eq!(decode_tag(encode_tag(3, 1_002, 0), 1_000).1, 1_000);
    assert_eq!(decode_tag(encode_tag(3, 1 << 34, 0), (1 << 34) - 1).1, (1 << 34) - 1);
}

/// The harness's own cost is measured at any outstanding bound, including one below the null target's chunk
/// (a bound of 200 once made the measurement wait for acks that never came).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_cost_is_measured_at_any_outstanding_bound() {
    for bound in [1, 200, 5000] {
        let p = workload(None, StopAfter::Records(10), Duration::ZERO, bound);
        let cost = tokio::time::timeout(Duration::from_secs(20), runner_cost_ns_per_record(&p))
            .await
            .unwrap_or_else(|_| panic!("bound {bound}: the measurement hangs"));
        assert!(cost.is_some_and(|ns| ns > 0.0), "bound {bound}: {cost:?}");
    }
    // Several tasks: each holds its own chunk (no lock shared between tasks), and every chunk is acknowledged.
    for bound in [1, 200] {
        let mut p = workload(None, StopAfter::Records(1000), Duration::ZERO, bound);
        p.workload.tasks_per_producer = 3;
        let cost = tokio::time::timeout(Duration::from_secs(20), runner_cost_ns_per_record(&p))
            .await
            .unwrap_or_else(|_| panic!("3 tasks, bound {bound}: the measurement hangs"));
        assert!(cost.is_some_and(|ns| ns > 0.0), "3 tasks, bound {bound}: {cost:?}");
    }
}

/// Back-to-back closed-loop sends share a clock reading only while it is at most `READING_MAX_AGE_NS` old,
/// as many as the send rate allows (at most `CLOCK_EVERY_MAX`); a scheduled record and the first send after a wait
/// always read it; every send gets its reading's time and µs since the start.
#[test]
fn send_clock_shares_a_reading_only_while_it_is_at_most_a_microsecond_old() {
    let start = Instant::now();
    // (ns between sends, the most readings 10,000 sends may take, the fewest)
    for (gap_ns, most, fewest) in
        [(50u64, 700, 600), (100, 1_100, 950), (250, 2_600, 2_400), (700, 10_000, 10_000), (50_000, 10_000, 10_000)]
    {
        let mut clock = SendClock::new(start);
        let (mut reads, mut oldest_ns) = (0u64, 0u64);
        for i in 0..10_000u64 {
            let t_ns = i * gap_ns; // when send i really happens
            let (at, us) = clock.send_time(false, || {
                reads += 1;
                start + Duration::from_nanos(t_ns)
            });
            let reading_ns = at.duration_since(start).as_nanos() as u64;
            assert_eq!(us, reading_ns / 1_000, "the tag's µs are the reading's");
            oldest_ns = oldest_ns.max(t_ns - reading_ns);
        }
        assert!(oldest_ns < READING_MAX_AGE_NS, "{gap_ns} ns a send: a reading was used {oldest_ns} ns old");
        assert!((fewest..=most).contains(&reads), "{gap_ns} ns a send: {reads} readings");
    }
    let mut clock = SendClock::new(start);
    let mut reads = 0u64;
    let mut send = |clock: &mut SendClock, scheduled: bool| {
        clock.send_time(scheduled, || {
            reads += 1;
            start + Duration::from_nanos(10 * reads)
        })
    };
    // 10 ns a send: after two readings, 16 sends share one.
    let times: Vec<_> = (0..40).map(|_| send(&mut clock, false).0).collect();
    assert!(times.windows(2).filter(|w| w[0] != w[1]).count() < 6, "{times:?}");
    let last = send(&mut clock, false).0;
    clock.waited();
    assert!(send(&mut clock, false).0 > last, "a wait forces a read");
    let a = send(&mut clock, true).0;
    assert!(send(&mut clock, true).0 > a, "a scheduled record always reads");
}

/// `BulkAcks` records a run of equal tags once with its count: the counts, bytes, histograms, failures and
/// completions are exactly what acknowledging the same records one at a time gives, across tasks, schedule lags
/// and the warm-up boundary.
#[test]
fn bulk_acks_record_runs_of_equal_tags_as_each_record() {
    let start = Instant::now();
    let new = || BulkAcks {
        start,
        warmup_end_us: 1_000,
        tasks: (0..2).map(|_| Arc::new(TaskShared::default())).collect(),
        tag_clock: None,
    };
    let (runs, single) = (new(), new());
    // (tag, bytes): runs of 1 to 5 equal tags, two tasks interleaved, lags 0 and 250 µs, sends before and after
    // the warm-up's end, and a record whose bytes differ inside a run.
    let mut records = vec![];
    for (i, (task, sent_us, lag_us, n)) in
        [(0, 900, 0, 3), (0, 1_100, 0, 5), (1, 1_100, 0, 2), (0, 1_100, 0, 1), (1, 1_200, 250, 4), (1, 1_300, 250, 1)]
            .into_iter()
            .enumerate()
    {
        for k in 0..n {
            records.push((encode_tag(task, sent_us, lag_us), 100 + (i as u64) * (k as u64 % 2)));
        }
    }
    let at = start + Duration::from_micros(5_000);
    runs.acked(records.iter().copied(), at);
    for r in &records {
        single.acked([*r], at);
    }
    let failed = [encode_tag(1, 1_400, 0), encode_tag(1, 1_400, 0), encode_tag(0, 1_500, 0)];
    runs.failed(failed, "NOT_LEADER");
    for t in failed {
        single.failed([t], "NOT_LEADER");
    }
    for task in 0..2 {
        let (a, b) = (&runs.tasks[task], &single.tasks[task]);
        assert_eq!(a.completed.load(Ordering::Acquire), b.completed.load(Ordering::Acquire), "task {task}");
        let (mut oa, mut ob) = (lock(&a.outcomes), lock(&b.outcomes));
        assert_eq!((oa.acked, oa.bytes_acked, oa.failed), (ob.acked, ob.bytes_acked, ob.failed), "task {task}");
        assert_eq!(oa.errors, ob.errors, "task {task}");
        let (mut ia, mut wa, mut ib, mut wb) = (Recorder::new(), Recorder::new(), Recorder::new(), Recorder::new());
        oa.drain_into(&mut ia, &mut wa);
        ob.drain_into(&mut ib, &mut wb);
        for m in [Metric::ResponseTime, Metric::ServiceTime] {
            assert_eq!(ia.get(m), ib.get(m), "task {task}, {m:?}, measured");
            assert_eq!(wa.get(m), wb.get(m), "task {task}, {m:?}, warm-up");
        }
        if task == 0 {
            // And what was recorded is right: 9 records acked, 3 sent in the warm-up, the other 6 at 3,900 µs.
            assert_eq!((oa.acked, oa.failed), (9, 1));
            assert_eq!((wa.get(Metric::ServiceTime).len(), ia.get(Metric::ServiceTime).len()), (3, 6));
            let h = ia.get(Metric::ServiceTime);
            assert!(h.equivalent(h.min(), 3_900) && h.equivalent(h.max(), 3_900), "{}..{}", h.min(), h.max());
        }
    }
    assert_eq!(runs.tasks[1].completed.load(Ordering::Acquire), 2 + 4 + 1 + 2);
}

/// A closed loop on real time, its tagged sends and acks timed on the CPU's counter (`TagClock`): the service
/// times it records are the target's real delay, as tokio's clock records them (same units, same origin).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_clock_times_a_closed_loop_as_tokios_clock_does() {
    let mut p50 = vec![];
    for counter_clock in [true, false] {
        let target = Arc::new(FakeTarget::new(Duration::from_millis(3), true));
        let p = workload(None, StopAfter::Records(300), Duration::ZERO, 10);
        let o = RunOptions { counter_clock, ..opts() };
        let r = tokio::time::timeout(Duration::from_secs(30), run_point(target, &p, &o)).await.unwrap().unwrap();
        let r = r.result;
        assert_eq!((r.records_sent, r.records_acked), (300, 300), "counter clock {counter_clock}");
        // Each ack takes 3 ms of real time (tokio's timer wakes at the next ms); a loaded machine adds to that,
        // never takes from it.
        assert!((2_990..7_500).contains(&r.service_time_us_p50), "counter clock {counter_clock}: {r:?}");
        assert_eq!(r.response_time_us_p50, r.service_time_us_p50, "closed loop: no lag");
        p50.push(r.service_time_us_p50);
    }
    // Both clocks see the same 3 ms delay (within the scheduler's noise, not a unit or an origin apart).
    assert!(p50[0].abs_diff(p50[1]) < 2_500, "{p50:?}");
}

/// What each tagged send of a [`BulkOnly`] test target does, given the attached acks.
trait OnTagged: Send + Sync + 'static {
    fn on_tagged(&self, acks: Arc<BulkAcks>, tag: u64) -> Tagged<BoxAck>;
}

/// A test target with the bulk path only, whose sends `S` decides.
struct BulkOnly<S> {
    acks: std::sync::Mutex<Option<Arc<BulkAcks>>>,
    state: S,
}

impl<S> BulkOnly<S> {
    fn new(state: S) -> Arc<BulkOnly<S>> {
        Arc::new(BulkOnly { acks: std::sync::Mutex::new(None), state })
    }

    fn acks(&self) -> Option<Arc<BulkAcks>> {
        self.acks.lock().unwrap().clone()
    }
}

impl<S: OnTagged> LoadTarget for BulkOnly<S> {
    type Ack = BoxAck;

    async fn send(&self, _record: GenRecord<'_>) -> Result<BoxAck, TargetError> {
        unreachable!("bulk only")
    }

    fn attach_bulk(&self, acks: Option<Arc<BulkAcks>>) -> bool {
        *self.acks.lock().unwrap() = acks;
        true
    }

    fn send_tagged(
        &self,
        _record: GenRecord<'_>,
        tag: u64,
    ) -> Tagged<impl Future<Output = Result<(), TargetError>> + Send> {
        self.state.on_tagged(self.acks().expect("attached while the point runs"), tag)
    }
}

/// Logs every tagged send: its tag, whether it had to wait, and how many records were outstanding with it.
#[derive(Default)]
struct BurstProbe {
    log: std::sync::Mutex<Vec<(u64, bool)>>,
    calls: AtomicU64,
    outstanding: Arc<AtomicU64>,
    most_outstanding: AtomicU64,
}

impl OnTagged for BurstProbe {
    fn on_tagged(&self, acks: Arc<BulkAcks>, tag: u64) -> Tagged<BoxAck> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let outstanding = self.outstanding.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_outstanding.fetch_max(outstanding, Ordering::Relaxed);
        let waits = n.is_multiple_of(23);
        self.log.lock().unwrap().push((tag, waits));
        let left = self.outstanding.clone();
        let ack = async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            left.fetch_sub(1, Ordering::Relaxed);
            acks.acked([(tag, 100)], Instant::now());
        };
        if waits {
            Tagged::Wait(Box::pin(async move {
                tokio::time::sleep(Duration::from_micros(700)).await;
                tokio::spawn(ack);
                Ok(())
            }))
        } else {
            tokio::spawn(ack);
            Tagged::Done(Ok(()))
        }
    }
}

/// A closed loop sends the records that share a clock reading in a burst, and the burst keeps every rule the loop
/// keeps record by record: never more outstanding than the bound, never past the quota, and a send that had to wait
/// ends it (the next one reads the clock).
#[tokio::test(start_paused = true)]
async fn a_closed_loops_bursts_keep_to_the_bound_the_quota_and_a_wait() {
    let target = BulkOnly::new(BurstProbe::default());
    let p = workload(None, StopAfter::Records(1001), Duration::ZERO, 40);
    let r = run_point(target.clone(), &p, &opts()).await.unwrap().result;
    let probe = &target.state;
    assert_eq!((r.records_sent, r.records_acked), (1001, 1001));
    assert_eq!(probe.calls.load(Ordering::Relaxed), 1001, "the quota holds inside a burst");
    assert!(probe.most_outstanding.load(Ordering::Relaxed) <= 40, "the bound holds inside a burst");
    let log = probe.log.lock().unwrap();
    let shared = log.windows(2).filter(|w| w[0].0 == w[1].0).count();
    assert!(shared > 100, "sends share readings (paused time: up to 16 a reading): {shared} of 1000");
    for (i, w) in log.windows(2).enumerate() {
        if w[0].1 {
            assert_ne!(w[0].0, w[1].0, "send {} waited 0.7 ms: the next one reads the clock", i + 1);
        }
    }
}

/// Acknowledges on a task of its own, woken by the sends (as a producer's sender is): logs how many records were
/// sent before each time it ran.
#[derive(Default)]
struct WokenAcker {
    held: std::sync::Mutex<Vec<u64>>,
    calls: AtomicU64,
    wake: tokio::sync::Notify,
    /// The most records sent between two runs of the acking task.
    most_unseen: AtomicU64,
}

impl OnTagged for WokenAcker {
    fn on_tagged(&self, _acks: Arc<BulkAcks>, tag: u64) -> Tagged<BoxAck> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.held.lock().unwrap().push(tag);
        self.wake.notify_one();
        Tagged::Done(Ok(()))
    }
}

/// A closed loop whose sends never wait still lets the tasks its sends wake run (every `LAG_CHUNK` records), as
/// a producer's sender must: else they ran only once the loop reached its outstanding bound.
#[tokio::test(start_paused = true)]
async fn a_closed_loop_lets_the_tasks_it_wakes_run() {
    let t = BulkOnly::new(WokenAcker::default());
    let acker = {
        let t = t.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                let w = &t.state;
                w.wake.notified().await;
                let tags = std::mem::take(&mut *w.held.lock().unwrap());
                let calls = w.calls.load(Ordering::Relaxed);
                w.most_unseen.fetch_max(calls - seen, Ordering::Relaxed);
                seen = calls;
                if let Some(acks) = t.acks() {
                    acks.acked(tags.into_iter().map(|tag| (tag, 100)), Instant::now());
                }
            }
        })
    };
    // A bound far above the records: the loop never waits for room.
    let p = workload(None, StopAfter::Records(50_000), Duration::ZERO, 100_000);
    let r = run_point(t.clone(), &p, &opts()).await.unwrap().result;
    acker.abort();
    assert_eq!(r.records_acked, 50_000);
    let most = t.state.most_unseen.load(Ordering::Relaxed);
    assert!(most <= 2 * LAG_CHUNK as u64, "{most} records were sent before the woken task could run");
}
