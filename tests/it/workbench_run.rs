//! `kprod run` end to end through the library entry point (`run_cmd::plan` + `execute`) on the embedded mock
//! broker: the run folder and result.json fields, the record accounting, and faults injected through the workload
//! file (recovered by retries, and failing records when retries are off) — every record still has one outcome.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kprod::workbench::result::{PointStatus, RunResult};
use kprod::workbench::run_cmd::{self, RunSettings};
use kprod::workbench::runner::Progress;

/// A fresh folder holding `workload.yaml` with `yaml`, and the settings to run it into `<folder>/reports`.
fn setup(tag: &str, yaml: &str) -> (PathBuf, RunSettings) {
    let dir = std::env::temp_dir().join(format!("kprod-it-run-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workload.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut s = RunSettings::new(&file);
    s.out = dir.join("reports");
    s.progress = Progress::Off;
    s.drain_timeout = Duration::from_secs(10);
    (dir, s)
}

async fn run(settings: &RunSettings) -> run_cmd::RunOutcome {
    let plan = run_cmd::plan(settings).expect("plan");
    tokio::time::timeout(Duration::from_secs(60), run_cmd::execute(settings, &plan))
        .await
        .expect("the run finishes")
        .expect("the run succeeds")
}

fn file_in(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    assert!(p.exists(), "missing {}", p.display());
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_workload_writes_a_complete_run_folder_and_accounts_for_every_record() {
    let (dir, settings) = setup(
        "tiny",
        "name: it-tiny\ntopic: it-tiny\npartitions: 3\nrecord_size: {fixed: 200}\npayload: text\n\
         duration_s: 1\nwarmup_s: 0.5\nrate: 4000\ntasks_per_producer: 2\nseed: 42\n\
         producer: {linger.ms: 2, batch.size: 32768, compression.type: lz4}\n",
    );
    let out = run(&settings).await;
    assert!(out.dir.starts_with(dir.join("reports")), "{}", out.dir.display());
    for f in ["result.json", "index.html", "summary.md", "results.csv", "workload.yaml"] {
        file_in(&out.dir, f);
    }
    file_in(&out.dir, "intervals/it-tiny-r0/response_time_us.hlog");

    // What is on disk is what was returned.
    let run = RunResult::load(&out.dir).unwrap();
    // (Whole-struct equality would trip over the last digit of f64s: serde_json parses floats fast, not exactly.)
    let (disk, mem) = (&run.points[0], &out.result.points[0]);
    assert_eq!(
        (disk.records_sent, disk.records_acked, disk.accounting),
        (mem.records_sent, mem.records_acked, mem.accounting)
    );
    assert_eq!((&disk.producer_config, &disk.histograms), (&mem.producer_config, &mem.histograms));
    assert_eq!(run.name, "it-tiny");
    assert_eq!(run.points.len(), 1);
    assert!(run.machine.cpus >= 1);
    let p = &run.points[0];
    assert_eq!(p.seed, 42);
    assert_eq!(p.config.as_ref().unwrap().producer_props["batch.size"], "32768");
    // The fully resolved producer config: what was set, the defaults, and where the embedded broker listened.
    assert_eq!(p.producer_config["batch.size"], "32768");
    assert_eq!(p.producer_config["compression.type"], "lz4");
    assert_eq!(p.producer_config["acks"], "all", "Kafka 4.x default");
    assert!(p.producer_config["bootstrap.servers"].starts_with("127.0.0.1:"));
    assert!(p.producer_metrics.get("record-send-total").is_some_and(|v| *v > 0.0), "{:?}", p.producer_metrics);

    // The measured phase: ~1 s at 4000 records/s, with latencies and the hook metrics filled in.
    assert!((0.8..1.5).contains(&p.duration_s), "measured {} s", p.duration_s);
    assert!(p.records_acked > 2500 && p.records_acked < 5500, "acked {}", p.records_acked);
    assert!(p.rate_records_per_s > 2500.0, "rate {}", p.rate_records_per_s);
    assert!(p.response_time_us_p50 > 0 && p.response_time_us_p99 >= p.response_time_us_p50);
    assert_eq!(p.records_failed, 0, "{:?}", p.errors);
    assert!(p.batch_bytes_avg.is_some_and(|b| b > 0.0 && b <= 32768.0 + 1024.0), "{:?}", p.batch_bytes_avg);
    assert!(p.batch_records_avg.is_some_and(|r| r >= 1.0));
    assert!(p.request_latency_us_p99.is_some() && p.records_per_request_avg.is_some() && p.queue_time_us_avg.is_some());
    // Text payloads compress: lz4 makes batches smaller than their records.
    assert!(p.compression_ratio_avg.is_some_and(|r| r > 1.2), "{:?}", p.compression_ratio_avg);

    // Accounting over the whole point (warm-up included): sent = acked + failed + refused, on both levels.
    let a = p.accounting.expect("accounting recorded");
    assert!(a.balanced(), "{a:?}");
    assert_eq!((a.records_failed, a.records_refused), (0, 0), "{a:?}");
    assert_eq!(a.records_acked, a.records_sent);
    assert_eq!(a.batch_records_acked, a.records_acked);
    // The warm-up's records are in the accounting but not in the measured totals.
    assert!(a.records_sent > p.records_sent, "warm-up records: {} vs {}", a.records_sent, p.records_sent);
    assert_eq!(out.unaccounted(), 0);

    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    assert_eq!(html.matches(r#"<tr class="point""#).count(), 1);
    let csv = std::fs::read_to_string(out.dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2);
    // One unit for MB everywhere, named; one point is "1 point"; one run has no measurable noise.
    assert!(html.contains("MB/s (10⁶ B)") && html.contains("10^6 bytes of record key + value"), "{html}");
    assert!(html.contains("· 1 point</p>") && !html.contains("1 points"), "{html}");
    assert!(html.contains("n/a (1 run)"), "{html}");
    assert!(run.units.get("MB").is_some_and(|u| u.starts_with("MB = 10^6 bytes")), "{:?}", run.units);
    // `kprod report` takes the run folder or its result.json.
    std::fs::remove_file(out.dir.join("index.html")).unwrap();
    let args = kprod::workbench::cli::ReportArgs { dir: out.dir.join("result.json") };
    assert_eq!(kprod::workbench::cli::report_cli(args).map_err(|e| e.to_string()), Ok(0));
    file_in(&out.dir, "index.html");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_not_leader_errors_are_retried_and_every_record_is_acked() {
    let (dir, settings) = setup(
        "retried",
        "name: it-faults\ntopic: it-faults\npartitions: 2\nrecord_size: {fixed: 100}\nduration_s: 1\nwarmup_s: 0\n\
         rate: 3000\nseed: 7\nproducer: {linger.ms: 5}\ntarget:\n  embedded:\n    brokers: 1\n    faults:\n      \
         produce_errors: [{target: {broker: 0}, error: NOT_LEADER_OR_FOLLOWER, count: 4}]\n",
    );
    let out = run(&settings).await;
    let p = &out.result.points[0];
    let a = p.accounting.unwrap();
    assert!(a.balanced(), "{a:?}");
    assert!(a.records_sent > 2000, "{a:?}");
    assert_eq!(a.records_acked, a.records_sent, "idempotent retries recover every record: {a:?}");
    assert_eq!(p.records_failed, 0);
    assert!(
        p.producer_metrics.get("record-retry-total").is_some_and(|v| *v > 0.0),
        "the injected errors were hit and retried: {:?}",
        p.producer_metrics
    );
    assert_eq!(out.unaccounted(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_without_retries_fail_records_that_are_still_accounted_for() {
    let (dir, mut settings) = setup(
        "failed",
        "name: it-fail\ntopic: it-fail\npartitions: 1\nrecord_size: {fixed: 100}\nduration_s: 1\nwarmup_s: 0\n\
         rate: 3000\nseed: 7\nproducer: {linger.ms: 5, acks: 1, retries: 0, enable.idempotence: false}\n\
         target:\n  embedded:\n    faults:\n      \
         produce_errors: [{target: {topic: it-fail, partition: 0}, error: NOT_LEADER_OR_FOLLOWER, count: 3}]\n",
    );
    // Overrides apply like on the command line.
    settings.sets = vec!["rate=2000".into()];
    let out = run(&settings).await;
    let p = &out.result.points[0];
    assert_eq!(p.config.as_ref().unwrap().rate_records_per_s, Some(2000.0));
    let a = p.accounting.unwrap();
    assert!(a.balanced(), "{a:?}");
    assert!(a.records_failed > 0, "three produce requests failed: {a:?}");
    assert!(a.records_acked > 1000, "{a:?}");
    assert_eq!(a.records_acked + a.records_failed + a.records_refused, a.records_sent);
    assert_eq!(a.batch_records_failed, a.records_failed, "{a:?}");
    // No warm-up: the measured totals are the whole point, failures grouped by the broker's error name.
    assert_eq!(p.records_failed, a.records_failed);
    assert_eq!(p.errors.get("NOT_LEADER_OR_FOLLOWER").copied(), Some(a.records_failed), "{:?}", p.errors);
    assert_eq!(p.records_sent, p.records_acked + p.records_failed);
    assert_eq!(out.unaccounted(), 0);
    // Issue 21: a point some of whose records failed is not a clean point: `partial`, with the counts by Kafka
    // error name, in result.json, the console summary and both reports.
    assert_eq!(p.status, PointStatus::Partial);
    let cause = format!(
        "{} of {} records failed (NOT_LEADER_OR_FOLLOWER {})",
        a.records_failed, a.records_sent, a.records_failed
    );
    assert_eq!(p.failure.as_deref(), Some(cause.as_str()));
    let saved = RunResult::load(&out.dir).unwrap();
    assert_eq!(
        (saved.points[0].status, saved.points[0].failure.as_deref()),
        (PointStatus::Partial, Some(cause.as_str()))
    );
    let json = std::fs::read_to_string(out.dir.join("result.json")).unwrap();
    assert!(json.contains("\"status\": \"partial\""), "{json}");
    let console = kprod::workbench::cli::summary(&out);
    assert!(console.contains(&format!("PARTIAL: {cause}")), "{console}");
    let md = std::fs::read_to_string(out.dir.join("summary.md")).unwrap();
    assert!(md.contains(&format!("partial: {cause}")), "{md}");
    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    assert!(html.contains(&format!("partial: {cause}")), "{html}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plan_checks_every_point_before_running() {
    let (dir, settings) =
        setup("plan", "name: it-plan\nrecord_size: {fixed: 10}\nduration_s: 1\nproducer: {batch.size: [1024, -5]}\n");
    let e = run_cmd::plan(&settings).unwrap_err().to_string();
    assert!(e.contains("batch.size=-5") && e.contains("batch.size"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
    let (dir, settings) = setup(
        "plan-faults",
        "name: it-plan\nduration_s: 1\ntarget: {embedded: {faults: {produce_errors: [{error: NOT_A_CODE}]}}}\n",
    );
    let e = run_cmd::plan(&settings).unwrap_err().to_string();
    assert!(e.contains("target.embedded.faults"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 21: a target that does not answer stops the run before the first point, in seconds, naming the broker
/// and the real cause; result.json says so and lists every point as not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_broker_stops_the_run_at_once_with_the_cause() {
    let (dir, mut settings) = setup(
        "down",
        "name: it-down\nrecord_size: {fixed: 100}\nduration_s: 1\nwarmup_s: 0\nrate: 1000\n\
         producer: {linger.ms: [0, 5]}\n",
    );
    settings.bootstrap = Some("127.0.0.1:1".into());
    let plan = run_cmd::plan(&settings).unwrap();
    let began = std::time::Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(20), run_cmd::execute(&settings, &plan))
        .await
        .expect("the preflight is bounded")
        .expect_err("a down broker is an error")
        .to_string();
    let took = began.elapsed();
    assert!(took < Duration::from_secs(3), "the error came after {took:?}");
    assert!(e.contains("127.0.0.1:1") && e.to_lowercase().contains("refused"), "{e}");
    assert!(e.contains("no point was run"), "{e}");
    let run_dir = std::fs::read_dir(dir.join("reports")).unwrap().next().unwrap().unwrap().path();
    let run = RunResult::load(&run_dir).unwrap();
    assert!(run.stopped.as_deref().is_some_and(|s| s.contains("127.0.0.1:1") && s.contains("refused")), "{run:?}");
    assert_eq!(run.points_not_run, ["linger.ms=0", "linger.ms=5"]);
    assert!(run.points.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

const FAILING: &str = "name: it-failing\ntopic: it-failing\npartitions: 1\nrecord_size: {fixed: 100}\nduration_s: 0.5\n\
     warmup_s: 0\nrate: 400\nseed: 7\nproducer: {linger.ms: [0, 5], acks: 1, retries: 0, enable.idempotence: false}\n\
     target:\n  embedded:\n    faults:\n      \
     produce_errors: [{target: {topic: it-failing, partition: 0}, error: NOT_LEADER_OR_FOLLOWER, count: 1000000}]\n";

/// A point whose every record fails is marked failed with its cause; the sweep stops there unless `--keep-going`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_point_stops_the_sweep_unless_keep_going() {
    let (dir, settings) = setup("failing", FAILING);
    let out = run(&settings).await;
    let r = &out.result;
    assert_eq!(r.points.len(), 1, "stopped after the failed point");
    let p = &r.points[0];
    assert_eq!(p.status, PointStatus::Failed);
    let cause = p.failure.as_deref().unwrap();
    assert!(cause.contains("no record acknowledged") && cause.contains("NOT_LEADER_OR_FOLLOWER"), "{cause}");
    assert_eq!(r.points_not_run, ["linger.ms=5"]);
    assert!(r.stopped.as_deref().is_some_and(|s| s.contains("--keep-going")), "{:?}", r.stopped);
    assert_eq!(out.failed().len(), 1);
    // Too few samples (none): the percentiles read n/a, not 0.000.
    let md = std::fs::read_to_string(out.dir.join("summary.md")).unwrap();
    assert!(md.contains("| n/a | n/a | n/a | n/a |"), "{md}");
    assert!(md.contains("1 point not run: linger.ms=5") || md.contains("**1 point not run:** linger.ms=5"), "{md}");
    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    assert!(html.contains("id=\"not-run\"") && html.contains("failed: no record acknowledged"), "{html}");
    std::fs::remove_dir_all(&dir).unwrap();

    let (dir, mut settings) = setup("failing-keep-going", FAILING);
    settings.keep_going = true;
    let out = run(&settings).await;
    assert_eq!(out.result.points.len(), 2, "--keep-going runs every point");
    assert!(out.result.points.iter().all(|p| p.status == PointStatus::Failed));
    assert!(out.result.points_not_run.is_empty() && out.result.stopped.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--set` mistakes name the `--set` and what it expects, never a point.
#[test]
fn set_errors_name_the_key_and_suggest_the_nearest() {
    let (dir, mut settings) = setup("sets", "name: it-sets\nrecord_size: {fixed: 10}\nduration_s: 1\n");
    let err = |settings: &RunSettings| run_cmd::plan(settings).unwrap_err().to_string();
    settings.sets = vec!["duraton_s=1".into()];
    let e = err(&settings);
    assert!(e.starts_with("--set duraton_s=1:") && e.contains("workload field `duration_s`"), "{e}");
    settings.sets = vec!["lingr.ms=1".into()];
    let e = err(&settings);
    assert!(e.contains("producer key `linger.ms`"), "{e}");
    settings.sets = vec!["duration_s=abc".into()];
    let e = err(&settings);
    assert!(e.starts_with("--set duration_s=abc:") && e.contains("`duration_s` expects a number"), "{e}");
    settings.sets = vec!["batch.size=-5".into()];
    let e = err(&settings);
    assert!(e.starts_with("--set batch.size=-5:") && !e.contains("point "), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ctrl-C on `kprod run`: the point in progress stops, drains, is written marked interrupted; the points not run
/// are listed; exit code 130 with one line naming the results. Logs to a file carry no colour codes.
#[test]
fn sigint_keeps_the_partial_point_and_exits_130() {
    sigint_keeps_the_partial_point("sigint", "", &[]);
}

/// The same with the point on a runtime of its own (`worker_threads`): Ctrl-C reaches it, and the runtime's size is
/// recorded; and with the process's runtime sized by `--worker-threads`.
#[test]
fn sigint_stops_a_point_on_its_own_runtime_too() {
    let p = sigint_keeps_the_partial_point("sigint-own-rt", "worker_threads: 1\n", &[]);
    assert_eq!(p.runtime_worker_threads, Some(1));
    let p = sigint_keeps_the_partial_point("sigint-cli-rt", "", &["--worker-threads", "3"]);
    assert_eq!(p.runtime_worker_threads, Some(3));
}

/// Runs a 3-point sweep of 30 s points with `extra` workload lines and `kprod` arguments `global`, interrupts it
/// after ~2.5 s, checks what is kept, and returns the interrupted point.
fn sigint_keeps_the_partial_point(tag: &str, extra: &str, global: &[&str]) -> kprod::workbench::result::PointResult {
    let (dir, _) = setup(
        tag,
        &format!(
            "name: it-sigint\nrecord_size: {{fixed: 100}}\nduration_s: 30\nwarmup_s: 0\nrate: 2000\n\
             producer: {{linger.ms: [0, 1, 2], acks: 1}}\n{extra}"
        ),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kprod"))
        .args(global)
        .args(["run", "workload.yaml", "--out", "reports", "--progress", "plain"])
        .current_dir(&dir)
        .env("KPROD_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let the first point measure for about 2 s, then interrupt.
    std::thread::sleep(Duration::from_millis(2500));
    let pid = child.id() as libc::pid_t;
    let sent = std::time::Instant::now();
    // SAFETY: `pid` is our own child, still running (it would run for 90 s).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = loop {
        if let Some(_status) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        assert!(sent.elapsed() < Duration::from_secs(20), "kprod did not exit after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = sent.elapsed();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(took < Duration::from_secs(8), "exit took {took:?}");
    let line = stdout.lines().find(|l| l.starts_with("interrupted: partial results in ")).expect(&stdout);
    assert!(line.contains("reports/"), "{line}");
    assert!(stderr.contains("Ctrl-C again to exit at once"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI codes when stderr is not a terminal: {stderr}");
    let run_dir = std::fs::read_dir(dir.join("reports")).unwrap().next().unwrap().unwrap().path();
    let run = RunResult::load(&run_dir).unwrap();
    assert_eq!(run.points.len(), 1, "{run:?}");
    let p = &run.points[0];
    assert_eq!(p.status, PointStatus::Interrupted);
    assert!(
        p.records_acked > 1000 && p.duration_s > 1.0 && p.duration_s < 10.0,
        "{} in {} s",
        p.records_acked,
        p.duration_s
    );
    assert_eq!(run.points_not_run, ["linger.ms=1", "linger.ms=2"]);
    let html = std::fs::read_to_string(run_dir.join("index.html")).unwrap();
    assert!(html.contains("2 points not run") && html.contains("interrupted"), "{html}");
    std::fs::remove_dir_all(&dir).unwrap();
    run.points.into_iter().next().unwrap()
}

/// A second Ctrl-C exits at once, while the first is still draining: the broker's inbound link is capped at
/// 20 kB/s against 200 kB/s sent, so after the first SIGINT the backlog would take its full bounded drain (5 s
/// for acks, then up to 5 s closing the producer). The second SIGINT, 0.7 s later, must end the process within
/// about a second, exit code 130.
#[test]
fn a_second_sigint_exits_at_once_while_the_first_drains() {
    let (dir, _) = setup(
        "sigint2",
        "name: it-sigint2\nrecord_size: {fixed: 100}\nduration_s: 30\nwarmup_s: 0\nrate: 2000\n\
         producer: {linger.ms: 5, acks: 1}\ntarget:\n  embedded:\n    faults:\n      \
         bandwidth: [{broker: 0, bytes_per_s: 20000}]\n",
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kprod"))
        .args(["run", "workload.yaml", "--out", "reports", "--progress", "plain"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stderr is read as it comes, so the first Ctrl-C waits for the point to be under way (a loaded machine may
    // take a while to get there) rather than for a fixed time.
    let stderr_seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = stderr_seen.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut pipe, &mut buf) {
                seen.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let began = std::time::Instant::now();
    while !stderr_seen.lock().unwrap().contains("[1/1] it-sigint2") {
        assert!(began.elapsed() < Duration::from_secs(30), "the point never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id() as libc::pid_t;
    // SAFETY: `pid` is our own child, still running (it would run for 30 s).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    std::thread::sleep(Duration::from_millis(700));
    assert!(child.try_wait().unwrap().is_none(), "the first Ctrl-C's drain must still run when the second comes");
    let second = std::time::Instant::now();
    // SAFETY: as above; still running (checked just now).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(second.elapsed() < Duration::from_secs(20), "kprod did not exit after the second Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = second.elapsed();
    reader.join().unwrap();
    let stderr = stderr_seen.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(took < Duration::from_millis(1500), "the second Ctrl-C took {took:?} to exit");
    assert!(stderr.contains("interrupted again: exiting now"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The rate search (`rate: {search: ...}`) against an embedded broker slowed on purpose (its inbound link capped
/// at 100 kB/s): the rate it finds is the capacity a closed loop measures on the same broker, within the stated
/// precision (plus the 5 % keep-up margin and this machine's noise), every step is kept, and the report draws them.
/// The capacity is low and the lag bound loose so that a loaded machine (the CPU stalls that show as schedule lag)
/// does not decide the outcome: the broker does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_search_finds_the_capacity_of_a_slowed_broker() {
    let body = "topic: it-search\npartitions: 1\nrecord_size: {fixed: 100}\nseed: 3\nproducer: {linger.ms: 5}\n\
                target: {embedded: {faults: {bandwidth: [{broker: 0, bytes_per_s: 100000}]}}}\n";
    let (_, closed) = setup(
        "search-cap",
        &format!("name: it-cap\nduration_s: 1.5\nwarmup_s: 0.5\nmax_outstanding_per_task: 1000\n{body}"),
    );
    // (A bounded backlog, so the closed loop does not queue minutes of records behind the slow link.)
    let t0 = std::time::Instant::now();
    let capacity = run(&closed).await.result.points[0].rate_records_per_s;
    eprintln!("closed loop: {capacity:.0} records/s in {:.1?}", t0.elapsed());
    assert!((500.0..1_200.0).contains(&capacity), "100 kB/s of 100 B records: {capacity} records/s");

    let (_, settings) = setup(
        "search",
        &format!(
            "name: it-search\nduration_s: 1\nwarmup_s: 0.3\n\
             rate: {{search: {{start: 400, precision: 0.1, step_warmup_s: 0.5, step_s: 1, retries: 1, max_s: 40, \
             lag_p99_ms_max: 1000}}}}\n{body}"
        ),
    );
    let started = std::time::Instant::now();
    let out = run(&settings).await;
    let elapsed = started.elapsed();
    let s = &out.result.searches[0];
    eprintln!("closed loop {capacity:.0} records/s; search: {} ({elapsed:.1?} in all)", s.summary());
    let (lo, hi) = (s.max_sustainable_rate.expect("a rate passed"), s.lowest_failing_rate.expect("a rate failed"));
    assert_eq!(s.ended, "precision reached", "{}", s.summary());
    assert!((hi - lo) / lo <= 0.1 + 1e-9, "{}", s.summary());
    assert!(lo >= 0.7 * capacity && lo <= capacity / 0.95 * 1.1, "found {lo}, capacity {capacity}: {:#?}", s);
    assert!(hi >= 0.9 * capacity, "failed at {hi}, capacity {capacity}: {}", s.summary());
    // Every step is kept with its verdict; steps that passed kept up, the lowest failing one fell behind.
    assert!(s.steps.len() >= 4 && s.steps.iter().any(|st| !st.pass), "{:?}", s.steps);
    for st in &s.steps {
        assert!(st.pass == st.why.starts_with("kept up"), "{st:?}");
        assert!(st.pass || st.why.contains("fell behind") || st.why.contains("lag"), "{st:?}");
    }
    // Then the point itself ran at the rate found.
    let p = &out.result.points[0];
    assert_eq!(p.config.as_ref().unwrap().rate_records_per_s, Some(lo));
    assert!(p.warnings.iter().any(|w| w.contains("rate from the search")), "{:?}", p.warnings);
    let on_disk = RunResult::load(&out.dir).unwrap();
    assert_eq!(on_disk.searches.len(), 1);
    assert_eq!(on_disk.searches[0].steps.len(), s.steps.len());
    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    assert!(html.contains("id=\"search-curve-0\"") && html.contains("class=\"search-step\""));
    // Bounded: the steps' planned time plus start-up, far below max_s.
    assert!(elapsed < Duration::from_secs(45), "{elapsed:?}");
}

/// A ramp (`rate: {ramp: ...}`) steps the intended rate: 1,000 records/s, then 3,000, then 5,000, one second each,
/// as the per-second time series shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_steps_the_rate_every_period() {
    let (_, settings) = setup(
        "ramp",
        "name: it-ramp\ntopic: it-ramp\npartitions: 2\nrecord_size: {fixed: 100}\nduration_s: 3\nwarmup_s: 0\n\
         rate: {ramp: {start: 1000, increment: 2000, every_s: 1}}\nproducer: {linger.ms: 1}\n",
    );
    let out = run(&settings).await;
    let p = &out.result.points[0];
    let per_second: Vec<f64> = p.time_series.iter().filter(|t| t.t_s <= 3.05).map(|t| t.records_per_s).collect();
    assert!(per_second.len() >= 3, "{per_second:?}");
    for (got, want) in per_second.iter().zip([1000.0, 3000.0, 5000.0]) {
        assert!((got - want).abs() <= 0.15 * want, "per second {per_second:?}, want 1000, 3000, 5000");
    }
    assert!((8_500..=9_200).contains(&p.records_acked), "acked {}", p.records_acked);
    // Its target is the ramp's mean over the point (3,000 records/s), which it kept.
    assert!(p.warnings.iter().all(|w| !w.contains("missed its target")), "{:?}", p.warnings);
}

/// Issue 21: `--profile` says what it sampled (frequency, sample count, seconds) and the profiled rate, in
/// result.json, the console summary, the report's link and the flame graph's title; `--profile-hz` sets the rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_reports_its_frequency_samples_and_profiled_rate() {
    let (dir, mut settings) = setup(
        "profile",
        "name: it-profile\nrecord_size: {fixed: 100}\nduration_s: 1\nwarmup_s: 0.2\nrate: 5000\nproducer: {linger.ms: 1}\n",
    );
    settings.profile = true;
    settings.profile_hz = 499;
    let out = run(&settings).await;
    let p = out.result.profile.clone().expect("result.json keeps the profile's figures");
    assert_eq!(p.hz, 499);
    assert!(p.samples > 0 && p.sampled_s > 0.5 && p.sampled_s < 5.0, "{p:?}");
    let acked = out.result.points[0].rate_records_per_s;
    assert!(p.records_per_s > 0.5 * acked && p.records_per_s < 1.5 * acked, "{p:?} vs {acked}");
    assert_eq!(RunResult::load(&out.dir).unwrap().profile, Some(p.clone()));
    let said = format!("{} samples at 499 Hz over {:.1} s", p.samples, p.sampled_s);
    let console = kprod::workbench::cli::summary(&out);
    assert!(console.contains(&said) && console.contains("records/s"), "{console}");
    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    assert!(html.contains(&said), "{html}");
    let svg = std::fs::read_to_string(out.dir.join("flamegraph.svg")).unwrap();
    assert!(svg.contains(&format!("{} samples at 499 Hz", p.samples)), "the flame graph's title");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `worker_threads` gives each point a runtime of its own with that many workers (recorded in result.json), and a
/// sweep over it runs each point on its own; without it a point runs on the caller's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_threads_runs_each_point_on_a_runtime_of_that_size() {
    let (dir, settings) = setup(
        "threads",
        "name: it-threads\ntopic: it-threads\npartitions: 2\nrecord_size: {fixed: 100}\npayload: text\n\
         records: 20000\nwarmup_s: 0\nrate: null\nworker_threads: [1, 3]\nseed: 5\n",
    );
    let out = run(&settings).await;
    let got: Vec<_> = out.result.points.iter().map(|p| (p.runtime_worker_threads, p.records_acked)).collect();
    assert_eq!(got, [(Some(1), 20000), (Some(3), 20000)]);
    assert!(out.result.points.iter().all(|p| p.accounting.is_some_and(|a| a.balanced())));
    // Each point also records how long its threads waited for a CPU (Linux schedstat), which compare reads.
    let waits: Vec<_> = out.result.points.iter().map(|p| p.cpu_wait_ms_per_s).collect();
    assert!(waits.iter().all(|w| w.is_some_and(|w| w >= 0.0)), "{waits:?}");
    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    assert!(html.contains("on 1 worker thread(s)") && html.contains("on 3 worker thread(s)"), "{html}");
    std::fs::remove_dir_all(&dir).unwrap();

    let (dir, settings) = setup("threads-default", "name: it-td\nrecords: 1000\nwarmup_s: 0\nrate: null\n");
    let out = run(&settings).await;
    assert_eq!(out.result.points[0].runtime_worker_threads, Some(2), "the test's own runtime");
    std::fs::remove_dir_all(&dir).unwrap();
}
