//! TLS between the producer and the mock broker: produce + verify over TLS (inline CA, CA file, mutual TLS),
//! and every handshake failure a user meets — untrusted CA, wrong hostname, expired certificate, a client
//! certificate the broker requires, PLAINTEXT against TLS and TLS against PLAINTEXT — as a prompt, clear error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kprod::broker::{CertificateAuthority, MockCluster, MockTls, StorageMode, TlsIdentity};
use kprod::producer::connection::{ConnectSettings, connect};
use kprod::producer::{Producer, ProducerConfig, ProducerError, ProducerRecord};
use kprod::security::tls::TlsSettings;
use kprod::verify::read_topic_with;

async fn cluster(tls: Option<MockTls>) -> MockCluster {
    cluster_of(1, tls).await
}

async fn cluster_of(brokers: usize, tls: Option<MockTls>) -> MockCluster {
    let mut b = MockCluster::builder()
        .brokers(brokers)
        .default_partitions(2 * brokers as i32)
        .mode(StorageMode::Retain { max_bytes: 64 << 20 });
    if let Some(t) = tls {
        b = b.tls(t);
    }
    b.start().await.expect("mock cluster starts")
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut pairs = vec![("bootstrap.servers", bootstrap), ("linger.ms", "1"), ("max.block.ms", "3000")];
    pairs.extend_from_slice(extra);
    ProducerConfig::from_pairs(pairs).expect("valid config")
}

fn temp_file(tag: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("kprod-it-tls-{tag}-{}.pem", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// The first connection attempt to `address` with the producer settings of `cfg`: the error it ends with.
async fn connect_error(address: &str, cfg: &ProducerConfig) -> ProducerError {
    let settings = ConnectSettings {
        client_id: None,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        tls: TlsSettings::from_config(cfg).unwrap(),
        sasl: None,
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(8), connect(1, address.to_string(), settings, tx))
        .await
        .expect("connect must not hang");
    assert!(started.elapsed() < Duration::from_secs(6), "{address}: failure took {:?}", started.elapsed());
    match result {
        Ok(_) => panic!("{address}: connection unexpectedly succeeded"),
        Err(e) => e,
    }
}

fn tls_reason(e: &ProducerError, broker: &str) -> String {
    match e {
        ProducerError::Tls { broker: b, reason, .. } => {
            assert_eq!(b, broker, "the error names the broker");
            reason.clone()
        }
        other => panic!("expected ProducerError::Tls, got {other:?}"),
    }
}

async fn produce(p: &Producer<Bytes, Bytes>, topic: &str, n: usize) -> Result<(), ProducerError> {
    let mut futs = Vec::new();
    for i in 0..n {
        futs.push(p.send(ProducerRecord::new(topic, Bytes::from(format!("v{i}")))).await?);
    }
    for f in futs {
        f.await?;
    }
    Ok(())
}

#[tokio::test]
async fn produce_and_verify_over_tls_with_inline_ca_and_ca_file() {
    // Three brokers: the producer and the verifier open a TLS connection to each leader.
    let c = cluster_of(3, Some(MockTls::generated())).await;
    let ca = c.tls_ca_pem().expect("generated CA").to_string();
    let ca_file = temp_file("ca", &ca);
    let loc = ca_file.to_str().unwrap();
    for (tag, extra) in [
        ("inline", vec![("security.protocol", "SSL"), ("ssl.truststore.certificates", ca.as_str())]),
        ("file", vec![("security.protocol", "SSL"), ("ssl.truststore.location", loc), ("ssl.truststore.type", "PEM")]),
    ] {
        let cfg = config(&c.bootstrap(), &extra);
        let topic = format!("tls-{tag}");
        let p = Producer::new(cfg.clone()).unwrap();
        produce(&p, &topic, 500).await.unwrap_or_else(|e| panic!("{tag}: {e}"));
        p.close(Duration::from_secs(5)).await.unwrap();
        let tls = TlsSettings::from_config(&cfg).unwrap().expect("SSL gives TLS settings");
        let read = read_topic_with(&c.bootstrap(), &topic, Some(&tls)).await.unwrap();
        let values: usize = read.values().map(Vec::len).sum();
        assert_eq!(values, 500, "{tag}: every record stored and read back over TLS");
        assert_eq!(read.len(), 6, "{tag}: all six partitions (on three brokers) were read");
        let mut seen: Vec<String> =
            read.values().flatten().map(|r| String::from_utf8(r.value.as_ref().unwrap().to_vec()).unwrap()).collect();
        seen.sort();
        let mut sent: Vec<String> = (0..500).map(|i| format!("v{i}")).collect();
        sent.sort();
        assert_eq!(seen, sent, "{tag}: each record exactly once (idempotent, acks=all)");
        // The verifier in PLAINTEXT cannot read a TLS broker.
        assert!(read_topic_with(&c.bootstrap(), &topic, None).await.is_err());
    }
    assert!(c.stats().connections_accepted >= 8, "two producers and two verifiers connected to the brokers");
    let _ = std::fs::remove_file(ca_file);
    c.shutdown().await;
}

#[tokio::test]
async fn untrusted_ca_is_a_prompt_tls_error_naming_the_trust_problem_and_the_broker() {
    let c = cluster(Some(MockTls::generated())).await;
    let other = CertificateAuthority::generate("some other CA").unwrap();
    let cfg =
        config(&c.bootstrap(), &[("security.protocol", "SSL"), ("ssl.truststore.certificates", other.cert_pem())]);
    let addr = c.addresses()[0].to_string();
    let e = connect_error(&addr, &cfg).await;
    let reason = tls_reason(&e, &addr);
    assert!(reason.contains("not trusted: unknown issuer"), "{reason}");
    assert!(reason.contains("ssl.truststore.location"), "the error says what to set: {reason}");
    // The typed cause, without parsing the message: the socket's io::Error, with rustls's own error inside.
    let ProducerError::Tls { cause: Some(cause), .. } = &e else { panic!("a TLS error with its cause: {e:?}") };
    let io = cause.downcast_ref::<std::io::Error>().expect("the cause is the handshake's io::Error");
    let tls = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).expect("rustls::Error inside");
    assert!(
        matches!(tls, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
        "unknown issuer, typed: {tls:?}"
    );
    assert!(std::error::Error::source(&e).is_some(), "the cause is the error's source()");

    // Through the producer: the send fails within max.block.ms, naming the TLS failure.
    let p = Producer::new(cfg).unwrap();
    let started = Instant::now();
    let err = produce(&p, "t", 1).await.expect_err("untrusted broker");
    assert!(started.elapsed() < Duration::from_secs(6), "bounded by max.block.ms: {:?}", started.elapsed());
    let text = err.to_string();
    assert!(text.contains("TLS handshake with broker") && text.contains("unknown issuer"), "{text}");
    p.close(Duration::from_secs(1)).await.ok();
    c.shutdown().await;
}

#[tokio::test]
async fn hostname_mismatch_names_the_certificate_names_and_can_be_disabled() {
    let ca = CertificateAuthority::generate("test CA").unwrap();
    let identity = ca.issue(&["example.com", "kafka.example.com"]).unwrap();
    let c = cluster(Some(MockTls::with_identity(identity))).await;
    let addr = c.addresses()[0].to_string();
    let trust = [("security.protocol", "SSL"), ("ssl.truststore.certificates", ca.cert_pem())];
    let reason = tls_reason(&connect_error(&addr, &config(&addr, &trust)).await, &addr);
    assert!(reason.contains("valid for [example.com, kafka.example.com], not for 127.0.0.1"), "{reason}");

    // ssl.endpoint.identification.algorithm= (empty): the chain is verified, the name is not.
    let mut relaxed = trust.to_vec();
    relaxed.push(("ssl.endpoint.identification.algorithm", ""));
    let p = Producer::new(config(&addr, &relaxed)).unwrap();
    produce(&p, "relaxed", 50).await.expect("hostname check disabled: works");
    p.close(Duration::from_secs(5)).await.unwrap();
    assert_eq!(c.records("relaxed", 0).unwrap().len() + c.records("relaxed", 1).unwrap().len(), 50);

    // ... but an untrusted chain still fails with the name check disabled.
    let stranger = CertificateAuthority::generate("stranger").unwrap();
    let untrusted = config(
        &addr,
        &[
            ("security.protocol", "SSL"),
            ("ssl.truststore.certificates", stranger.cert_pem()),
            ("ssl.endpoint.identification.algorithm", ""),
        ],
    );
    let reason = tls_reason(&connect_error(&addr, &untrusted).await, &addr);
    assert!(reason.contains("unknown issuer"), "{reason}");
    c.shutdown().await;
}

/// Bootstrap via `localhost` (the certificate's only name) succeeds and brings metadata; the leader is advertised
/// as 127.0.0.1, which the certificate does not name: the records already in the accumulator fail with the TLS
/// error at once instead of waiting for delivery.timeout.ms.
#[tokio::test]
async fn pending_records_fail_with_the_tls_error() {
    let ca = CertificateAuthority::generate("test CA").unwrap();
    let c = cluster(Some(MockTls::with_identity(ca.issue(&["localhost"]).unwrap()))).await;
    let port = c.addresses()[0].port();
    let bootstrap = format!("localhost:{port}");
    let cfg = config(
        &bootstrap,
        &[("security.protocol", "SSL"), ("ssl.truststore.certificates", ca.cert_pem()), ("linger.ms", "50")],
    );
    let p = Producer::new(cfg).unwrap();
    let started = Instant::now();
    let mut futs = Vec::new();
    for i in 0..20 {
        futs.push(p.send(ProducerRecord::new("pending", Bytes::from(format!("v{i}")))).await.expect("metadata known"));
    }
    for f in futs {
        let e = f.await.expect_err("the leader's certificate does not name 127.0.0.1");
        let reason = tls_reason(&e, &format!("127.0.0.1:{port}"));
        assert!(reason.contains("valid for [localhost], not for 127.0.0.1"), "{reason}");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "failed promptly: {:?}", started.elapsed());
    p.close(Duration::from_secs(1)).await.ok();
    c.shutdown().await;
}

#[tokio::test]
async fn expired_certificate_is_named() {
    let ca = CertificateAuthority::generate("test CA").unwrap();
    let c = cluster(Some(MockTls::with_identity(ca.issue_expired(&["127.0.0.1"]).unwrap()))).await;
    let addr = c.addresses()[0].to_string();
    let cfg = config(&addr, &[("security.protocol", "SSL"), ("ssl.truststore.certificates", ca.cert_pem())]);
    let reason = tls_reason(&connect_error(&addr, &cfg).await, &addr);
    assert!(reason.contains("certificate expired") && reason.contains("notAfter 2001-01-01 00:00:00 UTC"), "{reason}");
    c.shutdown().await;
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_and_accepts_a_keystore() {
    let ca = CertificateAuthority::generate("test CA").unwrap();
    let server = ca.issue(&["localhost", "127.0.0.1"]).unwrap();
    let c = cluster(Some(MockTls::with_identity(server).require_client_cert(ca.cert_pem()))).await;
    let addr = c.addresses()[0].to_string();
    let trust = [("security.protocol", "SSL"), ("ssl.truststore.certificates", ca.cert_pem())];

    let reason = tls_reason(&connect_error(&addr, &config(&addr, &trust)).await, &addr);
    assert!(reason.contains("requires a client certificate"), "{reason}");
    assert!(reason.contains("ssl.keystore.location"), "{reason}");

    // A certificate from another CA is rejected by the broker.
    let stranger = CertificateAuthority::generate("stranger").unwrap().issue(&["client"]).unwrap();
    let mut wrong = trust.to_vec();
    wrong.extend([("ssl.keystore.certificate.chain", stranger.cert_chain_pem.as_str())]);
    wrong.extend([("ssl.keystore.key", stranger.key_pem.as_str()), ("ssl.keystore.type", "PEM")]);
    let reason = tls_reason(&connect_error(&addr, &config(&addr, &wrong)).await, &addr);
    assert!(reason.contains("rejected our client certificate"), "{reason}");

    // The right one, as a PEM keystore file (chain + key).
    let client: TlsIdentity = ca.issue(&["kprod-client"]).unwrap();
    let keystore = temp_file("keystore", &client.keystore_pem());
    let mut ok = trust.to_vec();
    ok.extend([("ssl.keystore.location", keystore.to_str().unwrap()), ("ssl.keystore.type", "PEM")]);
    let p = Producer::new(config(&addr, &ok)).unwrap();
    produce(&p, "mtls", 100).await.expect("client certificate accepted");
    p.close(Duration::from_secs(5)).await.unwrap();
    let _ = std::fs::remove_file(keystore);
    c.shutdown().await;
}

#[tokio::test]
async fn plaintext_against_tls_and_tls_against_plaintext_fail_clearly_without_hanging() {
    let tls_cluster = cluster(Some(MockTls::generated())).await;
    let addr = tls_cluster.addresses()[0].to_string();
    let e = connect_error(&addr, &config(&addr, &[])).await;
    let reason = tls_reason(&e, &addr);
    assert!(reason.contains("expects TLS") && reason.contains("security.protocol=SSL"), "{reason}");

    let plain = cluster(None).await;
    let addr = plain.addresses()[0].to_string();
    let ca = tls_cluster.tls_ca_pem().unwrap();
    let e = connect_error(&addr, &config(&addr, &[("security.protocol", "SSL"), ("ssl.truststore.certificates", ca)]))
        .await;
    let reason = tls_reason(&e, &addr);
    assert!(reason.contains("not TLS") && reason.contains("PLAINTEXT"), "{reason}");
    tls_cluster.shutdown().await;
    plain.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_does_not_block_other_tls_clients() {
    let c = cluster(Some(MockTls::generated())).await;
    let addr = c.addresses()[0];
    // Connects and never says hello; the broker must keep serving others.
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let ca = c.tls_ca_pem().unwrap();
    let p = Producer::new(config(&c.bootstrap(), &[("security.protocol", "SSL"), ("ssl.truststore.certificates", ca)]))
        .unwrap();
    produce(&p, "busy", 10).await.unwrap();
    p.close(Duration::from_secs(5)).await.unwrap();
    c.shutdown().await;
}

/// `kprod broker --tls --tls-ca-out FILE` prints the client settings, writes the CA there, and serves TLS.
#[tokio::test]
async fn broker_command_with_tls_writes_the_ca_and_serves_tls() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let ca_path = std::env::temp_dir().join(format!("kprod-it-tls-cli-ca-{}.pem", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_kprod"))
        .args(["broker", "--port", "0", "--tls", "--tls-ca-out", ca_path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kprod broker starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut bootstrap, mut location, mut protocol) = (None, None, None);
    while location.is_none() {
        let line = lines.next().expect("kprod broker prints its settings").unwrap();
        if let Some(v) = line.strip_prefix("bootstrap.servers=") {
            bootstrap = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("ssl.truststore.location=") {
            location = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("security.protocol=") {
            protocol = Some(v.to_string());
        }
    }
    assert_eq!(protocol.as_deref(), Some("SSL"));
    assert_eq!(location.as_deref(), ca_path.to_str());
    let pem = std::fs::read_to_string(&ca_path).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----") && !pem.contains("PRIVATE KEY"), "only the CA cert");
    let bootstrap = bootstrap.expect("bootstrap line");
    let cfg =
        config(&bootstrap, &[("security.protocol", "SSL"), ("ssl.truststore.location", location.as_deref().unwrap())]);
    let p = Producer::new(cfg).unwrap();
    produce(&p, "cli-tls", 3).await.expect("produced over TLS to kprod broker --tls");
    p.close(Duration::from_secs(5)).await.unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_file(ca_path);
}

/// A workbench sweep over `security.protocol: [PLAINTEXT, SSL]` on the embedded target: the SSL point runs on a
/// TLS cluster whose generated CA the producer trusts automatically; every record is acknowledged in both, and the
/// summary carries the TLS overhead table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workbench_sweep_plaintext_vs_ssl_reports_the_tls_overhead() {
    use kprod::workbench::run_cmd::{self, RunSettings};
    use kprod::workbench::runner::Progress;
    let dir = std::env::temp_dir().join(format!("kprod-it-tls-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workload.yaml");
    std::fs::write(
        &file,
        "name: it-tls\ntopic: it-tls\npartitions: 2\nrecord_size: {fixed: 200}\npayload: text\n\
         duration_s: 1\nwarmup_s: 0.2\nrate: 2000\nseed: 7\n\
         producer: {linger.ms: 2, security.protocol: [PLAINTEXT, SSL]}\n\
         sweep: {name_template: \"${security.protocol}\"}\n",
    )
    .unwrap();
    let mut settings = RunSettings::new(&file);
    settings.out = dir.join("reports");
    settings.progress = Progress::Off;
    settings.drain_timeout = Duration::from_secs(10);
    let plan = run_cmd::plan(&settings).expect("plan");
    let out = tokio::time::timeout(Duration::from_secs(30), run_cmd::execute(&settings, &plan))
        .await
        .expect("the run finishes")
        .expect("the run succeeds");
    assert_eq!(out.result.points.len(), 2);
    for p in &out.result.points {
        assert!(p.records_acked > 1000, "{}: {} acked", p.name, p.records_acked);
        assert_eq!(p.records_failed, 0, "{}: {:?}", p.name, p.errors);
    }
    let summary = std::fs::read_to_string(out.dir.join("summary.md")).unwrap();
    assert!(summary.contains("## TLS overhead") && summary.contains("PLAINTEXT → SSL"), "{summary}");
    let json = std::fs::read_to_string(out.dir.join("result.json")).unwrap();
    assert!(!json.contains("BEGIN CERTIFICATE"), "the injected truststore is not dumped verbatim");
    let _ = std::fs::remove_dir_all(dir);
}
