//! The `kprod perf-test` and `kprod produce` binaries end to end: perf-test on its embedded broker (output lines
//! parsed as scripts parse Java's), `produce` into an in-process mock cluster in retain mode (stored records
//! checked), and the error paths (bad property, record too large, failed records → non-zero exit).

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use kprod::broker::{MockCluster, StorageMode};

fn kprod(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kprod"))
        .args(args)
        .env("KPROD_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kprod");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The figures of a Java-format summary line, parsed the way scripts do (split on ", " and spaces).
#[derive(Debug)]
struct Summary {
    records: u64,
    steady: bool,
    rate: f64,
    mb_per_s: f64,
    avg_ms: f64,
    max_ms: f64,
    pcts_ms: [u64; 4],
}

fn parse_summary(line: &str) -> Summary {
    let parts: Vec<&str> = line.trim_end_matches('.').split(", ").collect();
    assert_eq!(parts.len(), 8, "summary line has 8 comma-separated fields: {line}");
    let first: Vec<&str> = parts[0].split(' ').collect();
    let steady = parts[0].contains(" steady state ");
    let rate_words: Vec<&str> = parts[1].split(' ').collect();
    assert_eq!(rate_words[1], "records/sec");
    let mb = rate_words[2].trim_start_matches('(');
    assert_eq!(rate_words[3], "MB/sec)");
    let num = |s: &str, unit: &str| -> f64 {
        let (v, rest) = s.split_once(' ').unwrap();
        assert!(rest.starts_with(unit), "'{s}' should end with '{unit}'");
        v.parse().unwrap()
    };
    let pct = |s: &str, name: &str| -> u64 {
        let w: Vec<&str> = s.split(' ').collect();
        assert_eq!((w[1], w[2]), ("ms", name), "{s}");
        w[0].parse().unwrap()
    };
    Summary {
        records: first[0].parse().unwrap(),
        steady,
        rate: rate_words[0].parse().unwrap(),
        mb_per_s: mb.parse().unwrap(),
        avg_ms: num(parts[2], "ms avg latency"),
        max_ms: num(parts[3], "ms max latency"),
        pcts_ms: [pct(parts[4], "50th"), pct(parts[5], "95th"), pct(parts[6], "99th"), pct(parts[7], "99.9th")],
    }
}

#[test]
fn perf_test_on_the_embedded_broker() {
    let out = kprod(
        &[
            "perf-test",
            "--topic",
            "perf",
            "--num-records",
            "30000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            "acks=1",
            "linger.ms=2",
        ],
        None,
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("embedded mock broker"), "{stderr}");
    let s = parse_summary(stdout.lines().last().unwrap());
    assert_eq!(s.records, 30000);
    assert!(!s.steady);
    assert!(s.rate > 0.0);
    // MB/sec is records/sec * 100 bytes, in MiB.
    assert!((s.mb_per_s - s.rate * 100.0 / 1048576.0).abs() < 0.01 + s.mb_per_s * 0.01, "{s:?}");
    assert!(s.avg_ms <= s.max_ms && s.pcts_ms[0] <= s.pcts_ms[3] && s.pcts_ms[3] as f64 <= s.max_ms, "{s:?}");
}

#[test]
fn perf_test_throttled_with_warmup() {
    let t0 = Instant::now();
    let out = kprod(
        &[
            "perf-test",
            "--topic",
            "slow",
            "--num-records",
            "3000",
            "--payload-monotonic",
            "--throughput",
            "3000",
            "--warmup-records",
            "1000",
            "--reporting-interval",
            "300",
            "--command-property",
            "linger.ms=0",
        ],
        None,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // 3000 records at 3000/s take about a second: the schedule is kept, not outrun.
    assert!(t0.elapsed().as_millis() >= 900, "throttle ignored: {:?}", t0.elapsed());
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("Warmup first 1000 records."), "{stdout}");
    assert!(lines.iter().any(|l| l.contains("records sent,") && l.ends_with("ms max latency.")), "progress: {stdout}");
    let total = parse_summary(lines[lines.len() - 2]);
    let steady = parse_summary(lines[lines.len() - 1]);
    assert_eq!((total.records, total.steady), (3000, false));
    assert_eq!((steady.records, steady.steady), (2000, true));
    assert!(total.rate < 4000.0, "throttled to ~3000/s: {total:?}");
}

#[test]
fn perf_test_errors_are_clear_and_non_zero() {
    let base = ["perf-test", "--topic", "t", "--num-records", "10", "--throughput", "-1"];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        kprod(&args, None)
    };
    let out = run(&["--record-size", "10", "--producer-props", "batch.sise=5"]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(e.contains("batch.sise") && !e.contains("panicked"), "{e}");

    let out = run(&["--record-size", "2000000"]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(e.contains("max.request.size") && !e.contains("panicked"), "{e}");

    // Java's ProducerPerformance rule: a transaction duration must be positive.
    let out = run(&["--record-size", "10", "--transaction-duration-ms", "0"]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(e.contains("--transaction-duration-ms should be greater than zero") && !e.contains("panicked"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_keys_and_headers_into_the_mock_cluster() {
    let cluster = MockCluster::builder()
        .brokers(1)
        .default_partitions(1)
        .mode(StorageMode::Retain { max_bytes: 1 << 20 })
        .start()
        .await
        .unwrap();
    let bootstrap = cluster.bootstrap();
    let input = "h1:v1,h2:v2\tk1\tvalue one\n\
                 h:\tk2\tvalue two\n\
                 h3:NULL\tNULL\tNULL\n";
    let out = tokio::task::spawn_blocking(move || {
        kprod(
            &[
                "produce",
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                "lines",
                "--property",
                "parse.key=true",
                "--property",
                "parse.headers=true",
                "--property",
                "null.marker=NULL",
                "--timeout",
                "5",
            ],
            Some(input),
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    let recs = cluster.records("lines", 0).unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0].key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(recs[0].value.as_deref(), Some(&b"value one"[..]));
    let h: Vec<(&str, Option<&[u8]>)> = recs[0].headers.iter().map(|h| (h.key.as_str(), h.value.as_deref())).collect();
    assert_eq!(h, vec![("h1", Some(&b"v1"[..])), ("h2", Some(&b"v2"[..]))]);
    assert_eq!(recs[1].key.as_deref(), Some(&b"k2"[..]));
    assert_eq!(recs[1].headers[0].value.as_deref(), Some(&b""[..]), "an empty header value is not null");
    assert_eq!(recs[2].key, None);
    assert_eq!(recs[2].value, None);
    assert_eq!(recs[2].headers.len(), 1);
    assert_eq!(recs[2].headers[0].key, "h3");
    assert_eq!(recs[2].headers[0].value, None);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_reports_failed_lines_and_exits_non_zero() {
    let cluster =
        MockCluster::builder().brokers(1).mode(StorageMode::Retain { max_bytes: 1 << 20 }).start().await.unwrap();
    let bootstrap = cluster.bootstrap();
    let big = "x".repeat(3000);
    let input = format!("small\n{big}\nsmall again\n");
    let out = tokio::task::spawn_blocking(move || {
        kprod(
            &[
                "produce",
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                "f",
                "--command-property",
                "max.request.size=1000",
                "--timeout",
                "1",
            ],
            Some(&input),
        )
    })
    .await
    .unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("line 2:") && stderr.contains("max.request.size"), "{stderr}");
    assert!(!stderr.contains("line 1:") && !stderr.contains("line 3:"), "{stderr}");
    let values: Vec<Vec<u8>> =
        cluster.records("f", 0).unwrap().into_iter().filter_map(|r| r.value.map(|v| v.to_vec())).collect();
    assert_eq!(values, vec![b"small".to_vec(), b"small again".to_vec()]);
    cluster.shutdown().await;
}

/// `kprod broker` prints one line per broker with its 127.0.0.1:PORT address, and a Kafka client can produce there.
#[tokio::test]
async fn broker_command_prints_each_address_and_serves() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kprod"))
        .args(["broker", "--port", "0", "--brokers", "2", "--mode", "retain"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kprod broker starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addrs = Vec::new();
    while addrs.len() < 2 {
        let line = lines.next().expect("a line per broker").unwrap();
        if let Some(i) = line.find("127.0.0.1:") {
            addrs.push(line[i..].split_whitespace().next().unwrap().trim_end_matches(',').to_string());
        }
    }
    let cfg = kprod::producer::ProducerConfig::from_pairs([("bootstrap.servers", addrs[0].as_str())]).unwrap();
    let p = kprod::producer::Producer::new(cfg).unwrap();
    let md = p
        .send(kprod::producer::ProducerRecord::new("cli-broker", bytes::Bytes::from_static(b"hello")))
        .await
        .unwrap()
        .await
        .expect("acknowledged by kprod broker");
    assert_eq!(md.offset, 0);
    p.close(std::time::Duration::from_secs(5)).await.unwrap();
    child.kill().unwrap();
    let _ = child.wait();
}
