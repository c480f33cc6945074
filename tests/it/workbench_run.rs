//! `kprod run` end to end through the library entry point (`run_cmd::plan` + `execute`) on the embedded mock
//! broker: the run folder and result.json fields, the record accounting, and faults injected through the workload
//! file (recovered by retries, and failing records when retries are off) — every record still has one outcome.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kprod::workbench::result::RunResult;
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
    tokio::time::timeout(Duration::from_secs(30), run_cmd::execute(settings, &plan))
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
