//! Load from many machines, on one: the Kubernetes Job's own arguments (`deploy/kubernetes/job.yaml`, `$(VAR)`
//! expanded as the kubelet does) run as 4 `kprod` processes against one in-process mock broker, then `kprod merge`.
//!
//! Checked: the manifests carry what kprod relies on; the merged count is the sum of the shards' and of what the
//! broker received; the merged percentiles are those of all the records in one histogram (re-recorded value by
//! value, and the merged interval logs summed); the merged rate is the target; a shard whose clock was shifted on
//! purpose is reported; `kprod report` and `kprod compare` take the merged folder; and every refusal of merge
//! (missing, duplicated, other workload, other commit, other shard count, not a shard, corrupt log) names the
//! folder at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use kprod::broker::MockCluster;
use kprod::workbench::histograms::{self, Metric};
use kprod::workbench::result::{RunResult, base64_decode};
use serde_yaml_ng::Value;

const SHARDS: u32 = 4;
const RATE: f64 = 20_000.0;
/// The shard whose clock is shifted on purpose, and by how much.
const SKEWED: u32 = 3;
const SKEW_MS: i64 = 250;

fn manifest(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

/// The container of the Job, after checking the fields kprod relies on.
fn job_container() -> Value {
    let job = manifest("job.yaml");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"), "the pod's completion index is the shard index");
    assert_eq!(spec["completions"], spec["parallelism"], "every shard runs at once");
    assert_eq!(spec["backoffLimit"].as_u64(), Some(0), "a retried shard would be a late duplicate");
    assert_eq!(s(spec, &["template", "spec", "restartPolicy"]).as_str(), Some("Never"));
    let containers = s(spec, &["template", "spec", "containers"]).as_sequence().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = containers[0].clone();
    let args: Vec<&str> = c["args"].as_sequence().expect("args").iter().map(|a| a.as_str().unwrap()).collect();
    let after = |flag: &str| args.iter().position(|a| *a == flag).and_then(|i| args.get(i + 1)).copied();
    assert_eq!(args[0], "run");
    assert_eq!(after("--shard"), Some("$(JOB_COMPLETION_INDEX)/$(SHARDS)"));
    assert_eq!(after("--start-at"), Some("$(START_AT)"));
    assert_eq!(after("--bootstrap-server"), Some("$(BOOTSTRAP)"));
    assert!(after("--out").unwrap().starts_with("/results/$(RUN_ID)/"), "{args:?}");
    // Every $(VAR) but the controller's JOB_COMPLETION_INDEX comes from the kprod-run ConfigMap.
    let run_cm = manifest("run-configmap.yaml");
    let env = c["env"].as_sequence().expect("env");
    for var in ["SHARDS", "START_AT", "RUN_ID", "BOOTSTRAP"] {
        let e = env.iter().find(|e| e["name"].as_str() == Some(var)).unwrap_or_else(|| panic!("env {var}"));
        let r = s(e, &["valueFrom", "configMapKeyRef"]);
        assert_eq!(r["name"], run_cm["metadata"]["name"], "{var}");
        assert_eq!(r["key"].as_str(), Some(var));
        assert!(run_cm["data"][var].is_string(), "kprod-run has no {var}");
    }
    let start = run_cm["data"]["START_AT"].as_str().unwrap();
    kprod::workbench::shard::StartAt::parse(start).expect("the example START_AT parses");
    assert_eq!(run_cm["data"]["SHARDS"].as_str().unwrap().parse::<u64>().ok(), spec["completions"].as_u64());
    // The workload and results mounts.
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    let mount = |path: &str| mounts.iter().find(|m| m["mountPath"].as_str() == Some(path)).expect(path)["name"].clone();
    let volumes = s(spec, &["template", "spec", "volumes"]).as_sequence().unwrap();
    let volume = |name: &Value| volumes.iter().find(|v| &v["name"] == name).unwrap().clone();
    assert_eq!(args[1], "/etc/kprod/workload.yaml");
    let wl = volume(&mount("/etc/kprod"));
    assert_eq!(s(&wl, &["configMap", "name"]), &manifest("workload-configmap.yaml")["metadata"]["name"]);
    let results = volume(&mount("/results"));
    let pvc = manifest("results-pvc.yaml");
    assert_eq!(s(&results, &["persistentVolumeClaim", "claimName"]), &pvc["metadata"]["name"]);
    assert_eq!(s(&pvc, &["spec", "accessModes"])[0].as_str(), Some("ReadWriteMany"), "all pods write at once");
    let reader = manifest("results-reader.yaml");
    let claim = &s(&reader, &["spec", "volumes"])[0]["persistentVolumeClaim"]["claimName"];
    assert_eq!(claim, &pvc["metadata"]["name"]);
    c
}

/// The workload of the ConfigMap, written to `dir`.
fn configmap_workload(dir: &Path) -> PathBuf {
    let cm = manifest("workload-configmap.yaml");
    let text = cm["data"]["workload.yaml"].as_str().expect("data.workload.yaml");
    let path = dir.join("workload.yaml");
    std::fs::write(&path, text).unwrap();
    let points = kprod::workbench::workload::Workload::load(&path).unwrap().expand().unwrap();
    assert_eq!(points.len(), 1, "a shard runs one point");
    assert_eq!(points[0].workload.producers % SHARDS, 0, "the example splits evenly over {SHARDS} shards");
    path
}

/// `$(NAME)` replaced from `vars`, as the kubelet expands container arguments.
fn expand(arg: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = arg.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("$({k})"), v);
    }
    assert!(!out.contains("$("), "unexpanded variable in {arg}");
    out
}

fn kprod(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kprod")).args(args).env("KPROD_LOG", "error").output().expect("run kprod")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn rfc3339_ms(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let ts = kprod::workbench::result::timestamp(t); // YYYYMMDD-HHMMSS
    format!(
        "{}-{}-{}T{}:{}:{}.{:03}Z",
        &ts[0..4],
        &ts[4..6],
        &ts[6..8],
        &ts[9..11],
        &ts[11..13],
        &ts[13..15],
        ms % 1000
    )
}

/// The single run folder inside `dir`.
fn run_folder(dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn histogram(b64: &str) -> Histogram<u64> {
    histograms::deserialize(&base64_decode(b64).unwrap()).unwrap()
}

/// Sum of the measured (untagged) intervals of an interval log.
fn measured_intervals(path: &Path) -> Histogram<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut total = histograms::new_histogram(Metric::ResponseTime);
    for e in IntervalLogIterator::new(&bytes) {
        if let LogEntry::Interval(i) = e.unwrap()
            && i.tag().is_none()
        {
            total.add(histogram(i.encoded_histogram())).unwrap();
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_from_the_job_manifest_merge_exactly() {
    let container = job_container();
    let tmp = std::env::temp_dir().join(format!("kprod-it-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let workload = configmap_workload(&tmp);
    let cluster = MockCluster::builder().default_partitions(12).start().await.unwrap();

    // The Job's arguments, per pod. The workload's 300 s at 400k records/s is cut down for a test.
    let start_at = SystemTime::now() + Duration::from_secs(3);
    let args: Vec<String> =
        container["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    let mut children = Vec::new();
    for i in 0..SHARDS {
        let vars = BTreeMap::from([
            ("JOB_COMPLETION_INDEX", i.to_string()),
            ("SHARDS", SHARDS.to_string()),
            ("START_AT", rfc3339_ms(start_at)),
            ("BOOTSTRAP", cluster.bootstrap()),
            ("RUN_ID", "it".to_string()),
        ]);
        let mut a: Vec<String> = args
            .iter()
            .map(|a| expand(a, &vars))
            .map(|a| a.replace("/etc/kprod/workload.yaml", workload.to_str().unwrap()))
            .map(|a| a.replace("/results/", &format!("{}/", tmp.join("results").display())))
            .collect();
        for set in ["duration_s=2", "warmup_s=1", &format!("rate={RATE}"), "linger.ms=1"] {
            a.extend(["--set".to_string(), set.to_string()]);
        }
        a.extend(["--progress", "off"].map(String::from));
        if i == SKEWED {
            a.push(format!("--clock-offset-ms={SKEW_MS}"));
        }
        children.push(std::thread::spawn(move || kprod(&a)));
    }
    for (i, c) in children.into_iter().enumerate() {
        let o = c.join().unwrap();
        assert!(o.status.success(), "shard {i}: {}", text(&o));
    }
    let stats = cluster.stats();
    cluster.shutdown().await;

    let shard_dirs: Vec<PathBuf> =
        (0..SHARDS).map(|i| run_folder(&tmp.join(format!("results/it/shard-{i}")))).collect();
    let shards: Vec<RunResult> = shard_dirs.iter().map(|d| RunResult::load(d).unwrap()).collect();
    let merged_dir = tmp.join("merged");
    let mut merge_args = vec!["merge".to_string()];
    merge_args.extend(shard_dirs.iter().map(|d| d.display().to_string()));
    merge_args.extend(["--out".to_string(), merged_dir.display().to_string()]);
    let o = kprod(&merge_args);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let merged = RunResult::load(&merged_dir).unwrap();
    let m = &merged.points[0];

    // Counts: the sum of the shards', and what the broker received (warm-up included) .
    let sum =
        |f: fn(&kprod::workbench::result::PointResult) -> u64| shards.iter().map(|r| f(&r.points[0])).sum::<u64>();
    assert_eq!(m.records_acked, sum(|p| p.records_acked));
    assert_eq!(m.records_sent, sum(|p| p.records_sent));
    assert_eq!(m.bytes_acked, sum(|p| p.bytes_acked));
    let acc = m.accounting.unwrap();
    assert!(acc.balanced(), "{acc:?}");
    assert_eq!(acc.records_acked, stats.produce_records, "every record the broker took, acked once");
    // Rate: the shards' shares add up to the target, and so does what they achieved.
    let shares: f64 = shards.iter().map(|r| r.points[0].config.as_ref().unwrap().rate_records_per_s.unwrap()).sum();
    assert_eq!(shares, RATE);
    assert!((m.rate_records_per_s / RATE - 1.0).abs() < 0.03, "merged rate {} vs {RATE}", m.rate_records_per_s);
    assert_eq!(m.config.as_ref().unwrap().rate_records_per_s, Some(RATE), "the merged config is the whole workload");
    assert_eq!(m.config.as_ref().unwrap().producers, 8);

    // Percentiles: all records in one histogram, built value by value from the shards' histograms (not `add`).
    let mut one = histograms::new_histogram(Metric::ResponseTime);
    for r in &shards {
        let h = histogram(&r.points[0].histograms["response_time_us"]);
        for v in h.iter_recorded() {
            one.record_n(v.value_iterated_to(), v.count_at_value()).unwrap();
        }
    }
    let merged_h = histogram(&m.histograms["response_time_us"]);
    // Records due in the measured phase (a few acked after it, a few due in the warm-up acked in it).
    assert!(
        merged_h.len().abs_diff(m.records_acked) < m.records_acked / 50,
        "{} vs {}",
        merged_h.len(),
        m.records_acked
    );
    assert_eq!(one.len(), merged_h.len());
    for (q, got) in [(0.5, m.response_time_us_p50), (0.99, m.response_time_us_p99), (0.999, m.response_time_us_p99_9)] {
        assert!(one.equivalent(one.value_at_quantile(q), got), "q {q}: {} vs {got}", one.value_at_quantile(q));
    }
    // The merged interval logs (aligned by absolute time) hold the same records as the merged totals.
    let from_log = measured_intervals(&run_folder(&merged_dir.join("intervals")).join("response_time_us.hlog"));
    assert_eq!(from_log.len(), merged_h.len());
    assert_eq!(from_log.value_at_quantile(0.99), merged_h.value_at_quantile(0.99));

    // The per-shard table, and the skewed clock reported (table, warning, terminal).
    assert_eq!(merged.shards.len(), SHARDS as usize);
    // One machine, one kernel clock: the offsets differ by the injected one alone (the kernel's own pending offset,
    // if NTP runs, is the same in every row).
    let base = merged.shards[0].clock_offset_ms;
    for row in &merged.shards {
        let want = if row.index == SKEWED { SKEW_MS as f64 } else { 0.0 };
        assert!((row.clock_offset_ms - base - want).abs() < 2.0, "{row:?}");
        assert!(row.start_lateness_us < 1_000_000, "{row:?}");
    }
    assert!(
        m.warnings.iter().any(|w| w.starts_with(&format!("shard {SKEWED} ")) && w.contains("clock offset +2")),
        "{:?}",
        m.warnings
    );
    assert!(out.contains("| shard | host |") && out.contains(&format!("shard {SKEWED} (")), "{out}");
    let md = std::fs::read_to_string(merged_dir.join("summary.md")).unwrap();
    assert!(md.contains("## Shards"), "{md}");

    // report and compare take the merged folder like any run.
    let o = kprod(&["report".into(), merged_dir.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kprod(&["compare".into(), merged_dir.display().to_string(), merged_dir.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("k8s-1kb-400k"), "{}", text(&o));

    refusals(&tmp, &shard_dirs);
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Copies a shard folder to `tmp/<name>`, editing its result.json with `edit`.
fn altered(tmp: &Path, from: &Path, name: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let to = tmp.join("altered").join(name);
    copy_dir(from, &to);
    let file = to.join("result.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn refusals(tmp: &Path, dirs: &[PathBuf]) {
    let merge = |dirs: &[&Path]| {
        let mut a = vec!["merge".to_string()];
        a.extend(dirs.iter().map(|d| d.display().to_string()));
        a.extend(["--out".to_string(), tmp.join("refused").display().to_string()]);
        let o = kprod(&a);
        assert_eq!(o.status.code(), Some(2), "merge must refuse: {}", text(&o));
        assert!(!tmp.join("refused").exists(), "nothing written on a refusal");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let d: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let e = merge(&d[..3]);
    assert!(e.contains("shard(s) 3 of 4 missing"), "{e}");
    let e = merge(&[d[0], d[1], d[2], d[3], d[1]]);
    assert!(e.contains("shard 1/4 given twice") && e.contains(&d[1].display().to_string()), "{e}");

    let other = altered(tmp, d[2], "other-workload", |j| j["shard"]["workload_hash"] = "0123456789abcdef".into());
    let e = merge(&[d[0], d[1], &other, d[3]]);
    assert!(e.contains(&other.display().to_string()) && e.contains("different workload"), "{e}");
    let commit = altered(tmp, d[2], "other-commit", |j| j["git_commit"] = "feedfacecafe".into());
    let e = merge(&[d[0], d[1], &commit, d[3]]);
    let has_commit = RunResult::load(d[0]).unwrap().git_commit.is_some();
    if has_commit {
        assert!(e.contains(&commit.display().to_string()) && e.contains("commit feedfacecafe"), "{e}");
    }
    let count = altered(tmp, d[2], "other-count", |j| j["shard"]["count"] = 5.into());
    let e = merge(&[d[0], d[1], &count, d[3]]);
    assert!(e.contains(&count.display().to_string()) && e.contains("shard 2/5"), "{e}");
    let plain = altered(tmp, d[2], "not-a-shard", |j| {
        j.as_object_mut().unwrap().remove("shard");
    });
    let e = merge(&[d[0], d[1], &plain, d[3]]);
    assert!(e.contains(&plain.display().to_string()) && e.contains("not a shard result"), "{e}");

    let corrupt = altered(tmp, d[2], "corrupt-log", |_| {});
    let log = run_folder(&corrupt.join("intervals")).join("response_time_us.hlog");
    let mut bytes = std::fs::read(&log).unwrap();
    let lines = bytes.iter().filter(|b| **b == b'\n').count();
    bytes.extend_from_slice(b"this is not an interval\n");
    std::fs::write(&log, bytes).unwrap();
    let e = merge(&[d[0], d[1], &corrupt, d[3]]);
    assert!(e.contains(&format!("{}:{}: corrupt interval log", log.display(), lines + 1)), "{e}");
    let bad_hist = altered(tmp, d[2], "corrupt-histogram", |j| {
        j["points"][0]["histograms"]["response_time_us"] = "AAAA".into();
    });
    let e = merge(&[d[0], d[1], &bad_hist, d[3]]);
    assert!(e.contains(&bad_hist.display().to_string()) && e.contains("response_time_us"), "{e}");
}
