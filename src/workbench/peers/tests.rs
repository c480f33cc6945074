use std::collections::BTreeMap;
use std::path::Path;

use super::java::{java_args, java_producer_props, parse_output};
use super::*;
use crate::workbench::histograms::Metric;
use crate::workbench::workload::Workload;

/// A real output of `scripts/java-peer.sh` (kafka-clients 4.3.1 against Kafka 4.3.1, 3000 records at 2000/s,
/// 1 s warm-up, lz4, keys roundrobin:10).
const JAVA_OUTPUT: &str = include_str!("testdata/java_peer_output.json");

fn points(yaml: &str) -> Vec<WorkloadPoint> {
    Workload::parse(yaml, Path::new("peers-test.yaml")).unwrap().expand().unwrap()
}

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn workload_peers_default_to_kprod_and_are_not_a_sweep_dimension() {
    let p = points("duration_s: 1\n");
    assert_eq!(p[0].workload.peers, vec![Peer::Kprod]);
    let p = points("duration_s: 1\npeers: [kprod, librdkafka, java]\nproducer: {linger.ms: [0, 5]}\n");
    assert_eq!(p.len(), 2, "peers must not multiply the points");
    for pt in &p {
        assert_eq!(pt.workload.peers, vec![Peer::Kprod, Peer::Librdkafka, Peer::Java]);
        assert_eq!(pt.dims.len(), 1, "{:?}", pt.dims);
    }
    let err = Workload::parse("peers: [kprod, kprod]\n", Path::new("w.yaml")).unwrap_err().to_string();
    assert!(err.contains("twice"), "{err}");
    let err = Workload::parse("peers: [kafka]\n", Path::new("w.yaml")).unwrap_err().to_string();
    assert!(err.contains("kafka"), "{err}");
    let err = Workload::parse("peers: []\n", Path::new("w.yaml")).unwrap_err().to_string();
    assert!(err.contains("at least one"), "{err}");
}

#[test]
fn run_order_alternates_peers_at_every_point() {
    let p = points("duration_s: 1\npeers: [kprod, librdkafka, java]\nrecord_size: [{fixed: 100}, {fixed: 1024}]\n");
    let order = run_order(&p);
    use Peer::*;
    assert_eq!(
        order,
        vec![(0, Kprod), (0, Librdkafka), (0, Java), (1, Kprod), (1, Librdkafka), (1, Java)],
        "A B C A B C"
    );
    let p = points("duration_s: 1\npeers: [java, kprod]\nsweep: {repeat: 2}\n");
    assert_eq!(run_order(&p), vec![(0, Java), (0, Kprod), (1, Java), (1, Kprod)], "repeats alternate too");
}

#[tokio::test]
async fn kprod_only_points_run_through_the_closure_in_order_and_are_tagged() {
    let p = points("duration_s: 1\nrecord_size: [{fixed: 10}, {fixed: 20}, {fixed: 30}]\n");
    let opts = PeerOptions::new(".", RunOptions::default());
    let mut seen = Vec::new();
    let results = run_points_with_peers(
        &p,
        &opts,
        |pt| {
            let name = pt.name.clone();
            async move {
                let r = PointResult { name, peer: Peer::Java, ..PointResult::default() };
                Ok::<_, std::io::Error>(r)
            }
        },
        |r| seen.push(r.name.clone()),
    )
    .await
    .unwrap()
    .results;
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, p.iter().map(|x| x.name.as_str()).collect::<Vec<_>>());
    assert_eq!(seen, names);
    assert!(results.iter().all(|r| r.peer == Peer::Kprod), "the runner tags kprod's results");
    let failing =
        run_points_with_peers(&p, &opts, |_| async { Err::<PointResult, _>(std::io::Error::other("boom")) }, |_| {})
            .await
            .unwrap_err()
            .to_string();
    assert!(failing.contains("kprod") && failing.contains("boom") && failing.contains(&p[0].name), "{failing}");
}

#[cfg(not(feature = "peer-rdkafka"))]
#[tokio::test]
async fn librdkafka_without_the_feature_is_a_clear_error() {
    let p = points("duration_s: 1\npeers: [librdkafka]\n");
    let opts = PeerOptions::new(".", RunOptions::default());
    let err = run_points_with_peers(&p, &opts, |_| async { Ok::<_, std::io::Error>(PointResult::default()) }, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--features peer-rdkafka"), "{err}");
}

#[test]
fn peer_result_field_defaults_to_kprod_for_old_results() {
    let mut v =
        serde_json::to_value(PointResult { name: "x".into(), peer: Peer::Java, ..PointResult::default() }).unwrap();
    assert_eq!(v["peer"], "java");
    v.as_object_mut().unwrap().remove("peer");
    let back: PointResult = serde_json::from_value(v).unwrap();
    assert_eq!(back.peer, Peer::Kprod);
    assert_eq!("LibRdKafka".parse::<Peer>().unwrap(), Peer::Librdkafka);
    assert!("kafka".parse::<Peer>().is_err());
}

#[test]
fn rdkafka_config_sets_every_mapped_key_from_kprod_resolved_values() {
    let c = rdkafka_config(
        &props(&[
            ("linger.ms", "7"),
            ("batch.size", "262144"),
            ("acks", "1"),
            ("compression.type", "lz4"),
            ("buffer.memory", "67108864"),
            ("max.in.flight.requests.per.connection", "3"),
        ]),
        "127.0.0.1:1",
    )
    .unwrap();
    let get = |k: &str| c.get(k).map(String::as_str).unwrap_or_else(|| panic!("{k} missing from {c:?}"));
    assert_eq!(get("bootstrap.servers"), "127.0.0.1:1");
    assert_eq!(get("linger.ms"), "7");
    assert_eq!(get("batch.size"), "262144");
    assert_eq!(get("acks"), "1");
    assert_eq!(get("compression.codec"), "lz4");
    assert_eq!(get("compression.level"), "0", "Java's default lz4 level is the fast compressor");
    assert_eq!(get("queue.buffering.max.kbytes"), "65536");
    assert_eq!(get("max.in.flight.requests.per.connection"), "3");
    // acks=1 without an explicit enable.idempotence disables idempotence, as Java does.
    assert_eq!(get("enable.idempotence"), "false");
    assert_eq!(get("partitioner"), "murmur2_random");
    assert_eq!(get("sticky.partitioning.linger.ms"), "14");
    // Java defaults, set explicitly rather than left to librdkafka's.
    assert_eq!(get("message.timeout.ms"), "120000");
    assert_eq!(get("request.timeout.ms"), "30000");
    assert_eq!(get("message.max.bytes"), "1048576");
    assert_eq!(get("retries"), "2147483647");
    assert_eq!(get("socket.send.buffer.bytes"), "131072");
    assert_eq!(get("batch.num.messages"), "1000000");
    assert!(!c.contains_key("client.id"), "an unset client.id stays unset");

    let d = rdkafka_config(&BTreeMap::new(), "b:9").unwrap();
    assert_eq!((d["acks"].as_str(), d["enable.idempotence"].as_str()), ("all", "true"));
    assert_eq!((d["linger.ms"].as_str(), d["batch.size"].as_str()), ("5", "16384"));
    assert_eq!(d["queue.buffering.max.kbytes"], "32768");
    assert_eq!(d["compression.codec"], "none");
    assert!(!d.contains_key("compression.level"));
    let z = rdkafka_config(&props(&[("compression.type", "zstd"), ("compression.zstd.level", "-5")]), "b:9").unwrap();
    assert_eq!(z["compression.level"], "1", "clamped to librdkafka's range");
    let hc = rdkafka_config(&props(&[("compression.type", "lz4"), ("compression.lz4.level", "17")]), "b:9").unwrap();
    assert_eq!(hc["compression.level"], "12");

    let err = rdkafka_config(&props(&[("partitioner.class", "x.Y")]), "b:9").unwrap_err().to_string();
    assert!(err.contains("partitioner.class"), "{err}");
    let err = rdkafka_config(&props(&[("linger.ms", "soon")]), "b:9").unwrap_err().to_string();
    assert!(err.contains("linger.ms"), "{err}");
}

#[test]
fn java_args_pass_the_point_and_every_resolved_property() {
    let p = points(
        "topic: t1\nrecord_size: {fixed: 1024}\nrate: 5000\nduration_s: 10\nwarmup_s: 3\nkeys: {round_robin: 7}\n\
         seed: 9\nproducer: {linger.ms: 2, compression.type: lz4, client.dns.lookup: use_all_dns_ips}\n",
    );
    let a = java_args(&p[0], "127.0.0.1:9092").unwrap();
    let flag = |f: &str| {
        let i = a.args.iter().position(|x| x == f).unwrap_or_else(|| panic!("{f} missing from {:?}", a.args));
        a.args[i + 1].as_str()
    };
    assert_eq!(flag("--bootstrap"), "127.0.0.1:9092");
    assert_eq!(flag("--topic"), "t1");
    assert_eq!(flag("--record-size"), "1024");
    assert_eq!(flag("--rate"), "5000");
    assert_eq!(flag("--max-outstanding"), "100000", "the runner's default bound per task");
    assert_eq!(flag("--duration-s"), "10");
    assert_eq!(flag("--warmup-s"), "3");
    assert_eq!(flag("--key-mode"), "roundrobin:7");
    assert_eq!(flag("--payload"), "random");
    assert_eq!(flag("--seed"), "9");
    assert_eq!(flag("--payload-pool"), "16384", "16 MiB of distinct 1 KiB values: nothing repeats in a batch");
    assert_eq!(super::java::payload_pool(100), 167_773);
    assert_eq!(super::java::payload_pool(64 << 20), 64);
    let passed: Vec<&str> = a.args.windows(2).filter(|w| w[0] == "--producer-prop").map(|w| w[1].as_str()).collect();
    for want in [
        "linger.ms=2",
        "compression.type=lz4",
        "compression.lz4.level=9",
        "acks=all",
        "enable.idempotence=true",
        "batch.size=16384",
        "buffer.memory=33554432",
        "delivery.timeout.ms=120000",
        "client.dns.lookup=use_all_dns_ips",
    ] {
        assert!(passed.contains(&want), "{want} missing from {passed:?}");
    }
    for never in ["bootstrap.servers", "key.serializer", "value.serializer", "partitioner.class", "client.id"] {
        assert!(!passed.iter().any(|p| p.starts_with(&format!("{never}="))), "{never} passed: {passed:?}");
    }
    assert!(!passed.iter().any(|p| p.starts_with("metric.reporters=")), "untyped defaults stay implicit");
    assert!(a.warnings.is_empty());

    let closed = points("records: 1000\npayload: text\n");
    let a = java_args(&closed[0], "h:1").unwrap();
    assert!(a.args.windows(2).any(|w| w == ["--num-records", "1000"]));
    assert!(a.args.windows(2).any(|w| w == ["--rate", "0"]));
    assert!(a.args.windows(2).any(|w| w == ["--payload", "letters"]));
    assert_eq!(a.warnings.len(), 1);

    for (yaml, culprit) in [
        ("producers: 2\n", "sending tasks"),
        ("record_size: {uniform: {min: 1, max: 9}}\n", "record_size"),
        ("keys: sequential\n", "keys"),
        ("topics: 2\n", "topics"),
        ("headers: {count: 1, key_size: 1, value_size: 1}\n", "headers"),
    ] {
        let err = java_args(&points(yaml)[0], "h:1").unwrap_err().to_string();
        assert!(err.contains(culprit), "{yaml}: {err}");
    }
    let err = java_producer_props(&props(&[("acks", "2")])).unwrap_err().to_string();
    assert!(err.contains("acks"), "{err}");
}

#[test]
fn kprods_own_keys_are_not_passed_to_java() {
    let p = java_producer_props(&props(&[("compression.type", "lz4"), ("compression.threads", "2")])).unwrap();
    assert_eq!(p.get("compression.type").map(String::as_str), Some("lz4"));
    assert!(!p.contains_key("compression.threads"), "{p:?}");
}

#[test]
fn java_output_fixture_parses_into_a_point_result_with_merged_histograms() {
    let p = points("name: fx\nrate: 2000\nrecords: 3000\nwarmup_s: 1\n");
    let r = parse_output(JAVA_OUTPUT, &p[0]).unwrap();
    let raw: serde_json::Value = serde_json::from_str(JAVA_OUTPUT).unwrap();
    assert_eq!(r.peer, Peer::Java);
    assert_eq!(r.name, "fx");
    assert_eq!(r.records_acked, raw["records_acked"].as_u64().unwrap());
    assert_eq!(r.records_sent, raw["records_sent"].as_u64().unwrap());
    assert_eq!(r.duration_s, raw["duration_s"].as_f64().unwrap());
    assert!((r.rate_records_per_s - raw["rate_records_per_s"].as_f64().unwrap()).abs() < 1e-6);
    // Percentiles recomputed from the decoded histogram agree with the driver's own (same HDR precision).
    for (ours, theirs) in [
        (r.response_time_us_p50, "response_time_us_p50"),
        (r.response_time_us_p99, "response_time_us_p99"),
        (r.service_time_us_p99, "service_time_us_p99"),
        (r.schedule_lag_us_p99, "schedule_lag_us_p99"),
    ] {
        let t = raw[theirs].as_u64().unwrap();
        assert!(ours.abs_diff(t) <= t / 500 + 1, "{theirs}: {ours} vs {t}");
    }
    assert_eq!(r.response_time_us_max, raw["response_time_us_max"].as_u64().unwrap());
    let h = r.histogram(Metric::ResponseTime).unwrap().unwrap();
    assert_eq!(h.len(), r.records_acked, "the stored histogram holds every measured ack");
    assert!(r.histogram(Metric::ServiceTime).unwrap().is_some());
    // 100-byte values plus keys `key-0`..`key-9` (5 bytes).
    assert_eq!(r.bytes_acked, r.records_acked * 105);
    let rate = raw["producer_metrics"]["compression-rate-avg"].as_f64().unwrap();
    assert!((r.compression_ratio_avg.unwrap() - 1.0 / rate).abs() < 1e-9);
    assert_eq!(r.batch_bytes_avg, raw["producer_metrics"]["batch-size-avg"].as_f64());
    assert_eq!(r.spectrum.len(), crate::workbench::result::SPECTRUM_PERCENTILES.len());

    let mut broken = raw.clone();
    broken["response_time_hdr_b64"] = "AAAA".into();
    let err = parse_output(&broken.to_string(), &p[0]).unwrap_err().to_string();
    assert!(err.contains("response_time_us"), "{err}");
    let mut short = raw.clone();
    short["records_acked"] = 5.into();
    assert!(parse_output(&short.to_string(), &p[0]).unwrap_err().to_string().contains("acked"));
    assert!(parse_output("not json", &p[0]).unwrap_err().to_string().contains("JSON"));
}

/// librdkafka through the shared runner against a fresh embedded cluster: every record acknowledged, tagged.
#[cfg(feature = "peer-rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_peer_measures_a_point_on_the_embedded_cluster() {
    let p =
        points("records: 3000\nrate: 3000\nwarmup_s: 0.3\npeers: [librdkafka]\nproducer: {compression.type: lz4}\n");
    let opts = PeerOptions::new(
        ".",
        RunOptions { progress: crate::workbench::runner::Progress::Off, ..RunOptions::default() },
    );
    let r = run_peer(Peer::Librdkafka, &p[0], &opts, None).await.unwrap();
    assert_eq!(r.peer, Peer::Librdkafka);
    assert_eq!(r.records_failed, 0, "{:?}", r.errors);
    // Counts are after the warm-up: acks of records sent just before its end land in the measured part.
    assert!(
        r.records_acked.abs_diff(r.records_sent) * 20 <= r.records_sent,
        "{} vs {}",
        r.records_acked,
        r.records_sent
    );
    assert!(r.records_acked > 2000, "warm-up excluded, the rest measured: {}", r.records_acked);
    // The runner's counts start at the first tick after the warm-up, its histograms with the records due after
    // it: the two differ by the records of that boundary only.
    let h = r.histogram(Metric::ResponseTime).unwrap().unwrap();
    assert!(h.len().abs_diff(r.records_acked) * 20 <= r.records_acked, "{} vs {}", h.len(), r.records_acked);
}

/// librdkafka's failed delivery reports reach the runner as failed records under librdkafka's error name (not as
/// drain timeouts): nothing listens on the bootstrap port, so every message times out.
#[cfg(feature = "peer-rdkafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_delivery_failures_reach_the_runner_as_failed_records() {
    let p = points(
        "records: 40\nrate: 400\nwarmup_s: 0\npeers: [librdkafka]\n\
         producer: {delivery.timeout.ms: 1500, request.timeout.ms: 1000, linger.ms: 0}\n",
    );
    let opts = RunOptions {
        progress: crate::workbench::runner::Progress::Off,
        drain_timeout: std::time::Duration::from_secs(20),
        ..RunOptions::default()
    };
    let r = super::rdkafka::run_point(&p[0], "127.0.0.1:1", &opts).await.unwrap();
    assert_eq!((r.records_sent, r.records_acked, r.records_failed), (40, 0, 40), "{:?}", r.errors);
    assert!(r.errors.keys().all(|k| k.contains("TimedOut")), "{:?}", r.errors);
}

#[test]
fn java_perf_test_args_size_the_run_and_refuse_what_the_tool_cannot_do() {
    use super::java_perf_test::perf_test_args;
    // Open loop: rate × (warm-up + duration) records, rate × warm-up of them as warm-up.
    let p = points("topic: t\nrate: 5000\nduration_s: 2\nwarmup_s: 1\npayload: letters\nproducer: {linger.ms: 7}\n");
    let a = perf_test_args(&p[0], "h:1", None).unwrap();
    assert_eq!((a.num_records, a.warmup_records), (15_000, 5_000));
    assert!(a.args.windows(2).any(|w| w == ["--throughput", "5000"]), "{:?}", a.args);
    assert!(a.args.windows(2).any(|w| w == ["--warmup-records", "5000"]), "{:?}", a.args);
    assert!(a.args.contains(&"bootstrap.servers=h:1".to_string()) && a.args.contains(&"linger.ms=7".to_string()));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    // Closed loop with a duration: sized by the rate another peer reached, refused without one.
    let closed = points("duration_s: 3\nwarmup_s: 1\n");
    let err = perf_test_args(&closed[0], "h:1", None).unwrap_err().to_string();
    assert!(err.contains("record count"), "{err}");
    let a = perf_test_args(&closed[0], "h:1", Some(100_000.0)).unwrap();
    assert_eq!((a.num_records, a.warmup_records), (400_000, 100_000));
    assert!(a.args.windows(2).any(|w| w == ["--throughput", "-1"]));
    assert!(a.warnings.iter().any(|w| w.contains("letters")), "random payload approximated: {:?}", a.warnings);
    for (yaml, culprit) in [
        ("records: 10\nkeys: {uniform: 5}\n", "keys"),
        ("records: 10\nproducers: 2\n", "sending"),
        ("records: 10\nrecord_size: {uniform: {min: 1, max: 9}}\n", "record_size"),
    ] {
        let err = perf_test_args(&points(yaml)[0], "h:1", None).unwrap_err().to_string();
        assert!(err.contains(culprit), "{yaml}: {err}");
    }
}

#[test]
fn java_perf_test_summary_lines_parse_and_the_steady_state_line_wins() {
    use super::java_perf_test::{PerfTestArgs, parse_summary, result_from_output};
    // A line as kafka-tools 4.3.1 prints it.
    let java = "200000 records sent, 99950.024988 records/sec (9.53 MB/sec), 1.84 ms avg latency, 231.00 ms max \
                latency, 1 ms 50th, 3 ms 95th, 12 ms 99th, 30 ms 99.9th.";
    let s = parse_summary(java).unwrap();
    assert_eq!((s.records, s.steady_state, s.percentiles_ms), (200_000, false, [1, 3, 12, 30]));
    assert!((s.records_per_s - 99_950.024988).abs() < 1e-6 && s.latency_ms_max == 231.0);
    // kprod perf-test prints the same shape (it mimics the tool): both parse alike.
    let t = crate::workbench::perf_test::Totals {
        records: 150_000,
        elapsed_ms: 1_500.0,
        bytes: 15_000_000,
        latency_ms_avg: 2.5,
        latency_ms_max: 9.0,
        percentiles_ms: [2, 4, 7, 9],
        steady_state: true,
    };
    let steady = crate::workbench::perf_test::total_line(&t);
    let s = parse_summary(&steady).unwrap();
    assert!(s.steady_state && s.records == 150_000 && (s.records_per_s - 100_000.0).abs() < 1e-6, "{steady}");
    assert!(parse_summary("1000 records sent, 5 records/sec").is_none());
    assert!(parse_summary("Warmup first 10 records.").is_none());

    let p = points("name: pt\nrate: 100000\nduration_s: 1.5\nwarmup_s: 0.5\nrecord_size: {fixed: 100}\n");
    let args = PerfTestArgs { args: vec![], num_records: 200_000, warmup_records: 50_000, warnings: vec![] };
    let out = format!("Warmup first 50000 records.\n{java}\n{steady}\n");
    let r = result_from_output(&p[0], &out, &args).unwrap();
    assert_eq!(r.peer, Peer::JavaPerfTest);
    assert_eq!((r.records_acked, r.records_sent), (150_000, 150_000), "the steady-state line, warm-up left out");
    assert_eq!((r.response_time_us_p50, r.response_time_us_p99, r.service_time_us_p99), (2_000, 7_000, 7_000));
    assert!((r.rate_mb_per_s - 10.0).abs() < 1e-9, "100 B × 100,000/s = 10 MB/s");
    assert!(r.warnings.iter().any(|w| w.contains("service time")));
    let err = result_from_output(&p[0], "nothing useful\n", &args).unwrap_err().to_string();
    assert!(err.contains("no summary line"), "{err}");
}

/// The tool tests run one at a time: `kill_running_tools` kills every tool of the process.
static TOOL_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A stand-in for `scripts/java-peer.sh`: a shell script in a fresh folder (no Java needed).
fn fake_java(tag: &str, body: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("kprod-fake-java-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("java-peer.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, script)
}

const TWO_POINTS_WITH_JAVA: &str = "topic: t\nrecord_size: {fixed: 10}\nrate: 100\nduration_s: 1\nwarmup_s: 0\nproducer: {linger.ms: [0, 5]}\n\
     peers: [kprod, java]\n";

fn kprod_ok(p: &WorkloadPoint) -> std::future::Ready<Result<PointResult, std::io::Error>> {
    std::future::ready(Ok(PointResult { name: p.name.clone(), rate_records_per_s: 100.0, ..PointResult::default() }))
}

/// Issue 21: a peer whose process exits without a result marks its point failed with the cause (not the whole
/// run an error); the sweep stops there unless keep_going, listing what did not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_exits_without_a_result_fails_its_point_with_the_cause() {
    let _one_at_a_time = TOOL_TESTS.lock().await;
    let p = points(TWO_POINTS_WITH_JAVA);
    let (dir, script) = fake_java("exit", "echo 'Exception in thread \"main\": boom' >&2\nexit 3\n");
    let mut opts = PeerOptions::new(".", RunOptions::default());
    opts.java_script = script;
    let mut seen = Vec::new();
    let run = run_points_with_peers(&p, &opts, kprod_ok, |r| seen.push((r.peer, r.status))).await.unwrap();
    assert_eq!(seen, [(Peer::Kprod, PointStatus::Ok), (Peer::Java, PointStatus::Failed)]);
    let cause = run.results[1].failure.as_deref().unwrap();
    assert!(cause.contains("exit status: 3") && cause.contains("boom"), "{cause}");
    assert!(!cause.starts_with("point "), "the point is the result's own name: {cause}");
    assert_eq!(run.not_run, ["linger.ms=5 [kprod]", "linger.ms=5 [java]"]);
    assert!(run.stopped.as_deref().is_some_and(|s| s.contains("linger.ms=0 [java] failed")), "{:?}", run.stopped);

    opts.keep_going = true;
    let run = run_points_with_peers(&p, &opts, kprod_ok, |_| {}).await.unwrap();
    let statuses: Vec<_> = run.results.iter().map(|r| (r.peer, r.status)).collect();
    use PointStatus::{Failed, Ok};
    assert_eq!(statuses, [(Peer::Kprod, Ok), (Peer::Java, Failed), (Peer::Kprod, Ok), (Peer::Java, Failed)]);
    assert!(run.not_run.is_empty() && run.stopped.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Issue 21: Ctrl-C while a peer's process runs stops it at once, the process it started (the JVM of
/// java-peer.sh) included; its point is kept as interrupted and nothing after it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_running_peer_and_its_children() {
    let _one_at_a_time = TOOL_TESTS.lock().await;
    let p = points(TWO_POINTS_WITH_JAVA);
    // The script starts a long child (as java-peer.sh starts java) and waits for it, ignoring SIGTERM itself.
    let (dir, script) =
        fake_java("sleep", "trap '' TERM\nsleep 60 &\necho $! > \"$(dirname \"$0\")/child.pid\"\nwait\n");
    let mut opts = PeerOptions::new(".", RunOptions::default());
    opts.java_script = script;
    let stop = opts.run.stop.clone();
    let pid_file = dir.join("child.pid");
    let began = std::time::Instant::now();
    let interrupt = async {
        while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().trim().is_empty() {
            assert!(began.elapsed() < Duration::from_secs(10), "the fake peer never started its child");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.trigger();
    };
    let (run, ()) = tokio::join!(run_points_with_peers(&p, &opts, kprod_ok, |_| {}), interrupt);
    let run = run.unwrap();
    let took = began.elapsed();
    assert!(took < Duration::from_secs(8), "the peer ran on for {took:?} after Ctrl-C");
    let child: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while alive(child) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(child), "the peer's child {child} outlived the Ctrl-C");
    let j = &run.results[1];
    assert_eq!((j.peer, j.status), (Peer::Java, PointStatus::Interrupted));
    assert!(j.failure.as_deref().is_some_and(|f| f.contains(super::TOOL_INTERRUPTED)), "{:?}", j.failure);
    assert_eq!(run.not_run, ["linger.ms=5 [kprod]", "linger.ms=5 [java]"]);
    assert!(run.stopped.as_deref().is_some_and(|s| s.starts_with("interrupted")), "{:?}", run.stopped);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A second Ctrl-C exits the process without unwinding: `kill_running_tools` kills every running tool's group
/// first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_running_tools_kills_the_process_groups_of_running_tools() {
    let _one_at_a_time = TOOL_TESTS.lock().await;
    let (dir, script) = fake_java("kill", "sleep 60 &\necho $! > \"$(dirname \"$0\")/child.pid\"\nwait\n");
    let stop = crate::workbench::runner::Stop::default();
    let pid_file = dir.join("child.pid");
    let kill = async {
        while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().trim().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        super::kill_running_tools();
    };
    let began = std::time::Instant::now();
    let (out, ()) = tokio::join!(super::run_tool(&script, &[], Duration::from_secs(30), &stop), kill);
    assert!(began.elapsed() < Duration::from_secs(5), "{:?}", began.elapsed());
    let out = out.expect("the tool ended (killed)");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(libc::SIGKILL));
    let child: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while alive(child) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(child), "the tool's child {child} survived");
    assert!(super::TOOL_GROUPS.lock().unwrap().is_empty(), "the ended tool is unregistered");
    std::fs::remove_dir_all(&dir).unwrap();
}
