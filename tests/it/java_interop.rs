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
