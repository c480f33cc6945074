//! The Java client (kafka-clients) against the mock cluster: an idempotent acks=all producer with
//! every codec and an assign-mode consumer, from `tests/fixtures/java/MockInterop.java`.
//!
//! Ignored by default (needs a JDK and the jars): run with
//! `KPROD_JAVA_CLASSPATH=kafka-clients.jar:slf4j-api.jar:lz4-java.jar:snappy-java.jar:zstd-jni.jar
//!  cargo test --test it java -- --ignored`.

use std::process::Command;

use kprod::broker::{MockCluster, StorageMode, Validation};

const PER_CODEC: usize = 200;
const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a JDK and KPROD_JAVA_CLASSPATH"]
async fn java_producer_and_consumer_round_trip() {
    let classpath = std::env::var("KPROD_JAVA_CLASSPATH").expect("set KPROD_JAVA_CLASSPATH to the kafka-clients jars");
    let out_dir = std::env::temp_dir().join(format!("kprod-java-interop-{}", std::process::id()));
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/java/MockInterop.java");
    let javac = Command::new("javac").args(["-cp", &classpath, "-d"]).arg(&out_dir).arg(source).status().unwrap();
    assert!(javac.success(), "javac failed");
    let cluster = MockCluster::builder()
        .brokers(3)
        .default_partitions(PARTITIONS)
        .mode(StorageMode::Retain { max_bytes: 64 << 20 })
        .validate(Validation::Full)
        .start()
        .await
        .unwrap();
    let cp = format!("{}:{classpath}", out_dir.display());
    let bootstrap = cluster.bootstrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("java")
            .args(["-cp", &cp, "MockInterop", &bootstrap, &PER_CODEC.to_string(), &PARTITIONS.to_string()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "java failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&format!("consumed {}", 5 * PER_CODEC)), "{stdout}");
    let stored: usize = (0..PARTITIONS).map(|p| cluster.state().records("java-zstd", p).unwrap().len()).sum();
    assert_eq!(stored, PER_CODEC, "every zstd record stored exactly once");
    assert_eq!(cluster.stats().connections_closed_by_broker, 0, "the Java client asked for nothing unsupported");
    cluster.shutdown().await;
}

/// Java's own `kafka-producer-perf-test` as a workbench peer (`peers: [..., java-perf-test]`), through
/// `scripts/kafka.sh perf-test`, against the mock broker: 3 s at 5,000 records/s with 1 s of warm-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a JDK and the kafka-tools jars (scripts/kafka.sh fetch)"]
async fn java_perf_test_peer_reports_its_steady_state_line() {
    use kprod::workbench::peers::{Peer, PeerOptions, java_perf_test};
    use kprod::workbench::runner::RunOptions;
    use kprod::workbench::workload::Workload;

    let cluster = MockCluster::builder().brokers(1).default_partitions(2).start().await.unwrap();
    let yaml = "name: jpt\ntopic: jpt\npartitions: 2\nrecord_size: {fixed: 100}\npayload: letters\nrate: 5000\n\
                duration_s: 2\nwarmup_s: 1\npeers: [java-perf-test]\nproducer: {linger.ms: 5, acks: 1}\n";
    let points = Workload::parse(yaml, std::path::Path::new("jpt.yaml")).unwrap().expand().unwrap();
    assert_eq!(points[0].workload.peers, vec![Peer::JavaPerfTest]);
    let opts = PeerOptions::new(env!("CARGO_MANIFEST_DIR"), RunOptions::default());
    let r = java_perf_test::run_point(&points[0], &cluster.bootstrap(), &opts, None).await.unwrap();
    cluster.shutdown().await;
    assert_eq!(r.peer, Peer::JavaPerfTest);
    assert_eq!(r.records_acked, 10_000, "the steady-state line: 15,000 sent, the first 5,000 are warm-up");
    // Not bounded by 5,000/s: the tool's throttle keeps the average since its start, so after a slow start (the
    // JVM, metadata) it catches up at full speed, and the steady-state line can show far more than the target.
    assert!(r.rate_records_per_s > 0.0 && r.duration_s > 0.0, "{r:?}");
    assert!(r.response_time_us_max >= r.response_time_us_p99 && r.response_time_us_max > 0, "{r:?}");
    assert!(r.warnings.iter().any(|w| w.contains("service time")), "{:?}", r.warnings);
}
