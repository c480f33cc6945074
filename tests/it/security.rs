//! SASL against the mock broker (SASL_PLAINTEXT): every mechanism produces and verifies (the verify reader
//! authenticates too), wrong password / unknown user / disabled mechanism fail every pending record promptly with
//! an Authentication error naming broker and mechanism and never the password, re-authentication before the
//! broker's `connections.max.reauth.ms`, and no credential in logs, Debug output, result.json or reports.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kprod::broker::{MockCluster, StorageMode};
use kprod::producer::{Producer, ProducerConfig, ProducerError, ProducerRecord};
use kprod::protocol::error::ErrorCode;
use kprod::security::SaslMechanism;

const PASSWORD: &str = "Pa55-w0rd-XYZZY";

async fn sasl_cluster(mechanisms: &[SaslMechanism], reauth_ms: Option<u64>) -> MockCluster {
    let mut b = MockCluster::builder()
        .brokers(2)
        .default_partitions(3)
        .mode(StorageMode::Retain { max_bytes: 1 << 28 })
        .sasl_mechanisms(mechanisms)
        .sasl_user("alice", PASSWORD)
        .sasl_user("bob", "other");
    if let Some(ms) = reauth_ms {
        b = b.reauth_ms(ms);
    }
    b.start().await.expect("mock cluster starts")
}

fn jaas(m: SaslMechanism, user: &str, password: &str) -> String {
    let module = if m == SaslMechanism::Plain {
        "org.apache.kafka.common.security.plain.PlainLoginModule"
    } else {
        "org.apache.kafka.common.security.scram.ScramLoginModule"
    };
    format!("{module} required username=\"{user}\" password=\"{password}\";")
}

fn config(bootstrap: &str, m: SaslMechanism, user: &str, password: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let j = jaas(m, user, password);
    let mut pairs = vec![
        ("bootstrap.servers", bootstrap),
        ("linger.ms", "2"),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", m.name()),
        ("sasl.jaas.config", j.as_str()),
    ];
    pairs.extend_from_slice(extra);
    ProducerConfig::from_pairs(pairs).expect("valid config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mechanism_produces_and_verifies() {
    let c = sasl_cluster(&SaslMechanism::ALL, None).await;
    for m in SaslMechanism::ALL {
        let topic = format!("sasl-{}", m.name().to_lowercase());
        let cfg = config(&c.bootstrap(), m, "alice", PASSWORD, &[]);
        let p = Producer::new(cfg.clone()).unwrap();
        let n = 300;
        let mut futs = Vec::new();
        for i in 0..n {
            let rec = ProducerRecord::new(topic.as_str(), Bytes::from(format!("v{i}")))
                .with_key(Bytes::from(format!("k{i}")));
            futs.push(p.send(rec).await.unwrap());
        }
        for f in futs {
            f.await.unwrap_or_else(|e| panic!("{m}: {e}"));
        }
        p.close(Duration::from_secs(10)).await.unwrap();
        let read = kprod::verify::read_topic_as(&cfg, &topic).await.unwrap_or_else(|e| panic!("{m}: verify: {e}"));
        let mut values: Vec<String> =
            read.values().flatten().map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()).collect();
        values.sort_by_key(|v| v[1..].parse::<u32>().unwrap());
        assert_eq!(values, (0..n).map(|i| format!("v{i}")).collect::<Vec<_>>(), "{m}: every record once");
    }
    // The broker really requires authentication: an unauthenticated reader is cut off.
    let e = kprod::verify::read_topic(&c.bootstrap(), "sasl-plain").await.unwrap_err();
    assert!(e.to_string().contains("end of file") || e.to_string().contains("reset"), "{e}");
    c.shutdown().await;
}

/// A producer whose credentials the broker refuses: `send` fails promptly (while waiting on metadata, as Java's
/// `waitOnMetadata` rethrows the authentication error) rather than after max.block.ms, and close does not hang.
async fn expect_auth_failure(cfg: ProducerConfig, n: usize) -> ProducerError {
    let started = Instant::now();
    let p = Producer::new(cfg).unwrap();
    let mut first = None;
    for i in 0..n {
        let rec = ProducerRecord::new("auth-fail", Bytes::from(format!("v{i}")));
        let e = match tokio::time::timeout(Duration::from_secs(10), p.send(rec)).await.expect("send returns") {
            Err(e) => e,
            Ok(f) => tokio::time::timeout(Duration::from_secs(10), f).await.expect("fails promptly").unwrap_err(),
        };
        assert!(matches!(e, ProducerError::Authentication { .. }), "{e}");
        first.get_or_insert(e);
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    tokio::time::timeout(Duration::from_secs(10), p.close(Duration::from_secs(2))).await.expect("close returns").ok();
    first.unwrap()
}

fn check_error(e: &ProducerError, mechanism: &str, want: &str) {
    let text = e.to_string();
    let dbg = format!("{e:?}");
    assert!(text.contains("127.0.0.1:") && text.contains(mechanism) && text.contains(want), "{text}");
    assert!(!text.contains(PASSWORD) && !dbg.contains(PASSWORD) && !text.contains("wrong-pw"), "{dbg}");
    assert!(e.is_fatal_connect() && !e.is_retriable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_and_disabled_mechanism_fail_fast() {
    let c = sasl_cluster(&[SaslMechanism::Plain, SaslMechanism::ScramSha256], None).await;
    let short = [("max.block.ms", "3000")];
    let e =
        expect_auth_failure(config(&c.bootstrap(), SaslMechanism::ScramSha256, "alice", "wrong-pw", &short), 50).await;
    check_error(&e, "SCRAM-SHA-256", "invalid credentials with SASL mechanism SCRAM-SHA-256");
    let e = expect_auth_failure(config(&c.bootstrap(), SaslMechanism::Plain, "alice", "wrong-pw", &short), 50).await;
    check_error(&e, "PLAIN", "Invalid username or password");
    let e =
        expect_auth_failure(config(&c.bootstrap(), SaslMechanism::ScramSha256, "mallory", PASSWORD, &short), 5).await;
    check_error(&e, "SCRAM-SHA-256", "SASL_AUTHENTICATION_FAILED");
    // The broker's error code is the typed cause: a caller matches it without reading the message.
    let ProducerError::Authentication { cause: Some(cause), .. } = &e else { panic!("a typed cause: {e:?}") };
    assert_eq!(cause.downcast_ref::<ErrorCode>(), Some(&ErrorCode::SaslAuthenticationFailed), "{cause:?}");
    let e = expect_auth_failure(config(&c.bootstrap(), SaslMechanism::ScramSha512, "alice", PASSWORD, &short), 5).await;
    check_error(&e, "SCRAM-SHA-512", "enabled mechanisms are [PLAIN, SCRAM-SHA-256]");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_records_fail_promptly_when_authentication_starts_failing() {
    // Authenticated and producing; then the broker revokes the user. At re-authentication (600 ms lifetime) the new
    // connection is refused: every record still pending fails with the Authentication error, well before
    // delivery.timeout.ms (120 s), and the sender does not keep them waiting.
    let c = sasl_cluster(&SaslMechanism::ALL, Some(600)).await;
    let cfg = config(&c.bootstrap(), SaslMechanism::ScramSha256, "alice", PASSWORD, &[("linger.ms", "50")]);
    let p = Producer::new(cfg).unwrap();
    for i in 0..20 {
        p.send(ProducerRecord::new("revoked", Bytes::from(format!("ok{i}")))).await.unwrap().await.unwrap();
    }
    assert!(c.state().config.sasl.as_ref().unwrap().users.remove("alice"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = Instant::now();
    let mut futs = Vec::new();
    for i in 0..200 {
        match p.send(ProducerRecord::new("revoked", Bytes::from(format!("v{i}")))).await {
            Ok(f) => futs.push(f),
            Err(e) => panic!("metadata is known, the record is queued: {e}"),
        }
    }
    for f in futs {
        let e = tokio::time::timeout(Duration::from_secs(10), f).await.expect("fails promptly").unwrap_err();
        check_error(&e, "SCRAM-SHA-256", "invalid credentials");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    tokio::time::timeout(Duration::from_secs(10), p.close(Duration::from_secs(2))).await.expect("close returns").ok();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthenticates_before_the_session_expires() {
    // The broker closes any connection that sends a request after its 700 ms session lifetime without
    // re-authenticating; the producer must reconnect in time (at 85-95% of the lifetime) so none is closed.
    let c = sasl_cluster(&SaslMechanism::ALL, Some(700)).await;
    let cfg = config(&c.bootstrap(), SaslMechanism::ScramSha512, "alice", PASSWORD, &[("linger.ms", "0")]);
    let p = Producer::new(cfg).unwrap();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_millis(2600) {
        let f = p.send(ProducerRecord::new("reauth", Bytes::from(format!("v{n}")))).await.unwrap();
        f.await.unwrap_or_else(|e| panic!("record {n}: {e}"));
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p.close(Duration::from_secs(5)).await.unwrap();
    let stats = c.stats();
    let stored: usize = (0..3).map(|part| c.records("reauth", part).map(|r| r.len()).unwrap_or(0)).sum();
    assert_eq!(stored, n, "every record stored once");
    assert_eq!(stats.connections_closed_by_broker, 0, "no connection outlived its SASL session: {stats:?}");
    // Three lifetimes passed: the producer opened fresh, re-authenticated connections (>= 2 per broker used).
    assert!(stats.connections_accepted >= 4, "{stats:?}");
    c.shutdown().await;
}

/// A `MakeWriter` into a shared buffer, to capture every log line.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_never_reach_logs_debug_output_or_run_folders() {
    // current_thread: every task (producer, broker, workbench) logs on this thread, into this subscriber.
    let logs = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut seen = Vec::<String>::new();

    // A producer with SASL credentials, good and bad, against the mock broker.
    let c = sasl_cluster(&SaslMechanism::ALL, None).await;
    for (m, pw) in [(SaslMechanism::Plain, PASSWORD), (SaslMechanism::ScramSha256, PASSWORD)] {
        let cfg = config(&c.bootstrap(), m, "alice", pw, &[("ssl.key.password", PASSWORD)]);
        seen.push(format!("{cfg:?}"));
        seen.push(format!("{:?}", cfg.to_properties()));
        let p = Producer::new(cfg).unwrap();
        p.send(ProducerRecord::new("redact", Bytes::from_static(b"v"))).await.unwrap().await.unwrap();
        seen.push(format!("{:?}", p.config()));
        let dbg = format!("{p:?}");
        assert!(dbg.contains("client_id") && dbg.contains("SASL_PLAINTEXT"), "{dbg}");
        seen.push(dbg);
        p.close(Duration::from_secs(5)).await.unwrap();
        let closed = format!("{p:?}");
        assert!(closed.contains("closed: true"), "{closed}");
    }
    let direct = ProducerConfig::from_pairs([
        ("bootstrap.servers", c.bootstrap().as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.username", "alice"),
        ("sasl.password", PASSWORD),
    ])
    .unwrap();
    seen.push(format!("{direct:?} {:?}", direct.to_properties()));
    let bad =
        config(&c.bootstrap(), SaslMechanism::Plain, "alice", &format!("{PASSWORD}-bad"), &[("max.block.ms", "2000")]);
    let e = expect_auth_failure(bad, 3).await;
    seen.push(format!("{e:?} {e}"));
    c.shutdown().await;

    // A workload through the workbench (`kprod run`) on an embedded cluster that requires SCRAM.
    let dir = std::env::temp_dir().join(format!("kprod-it-sasl-redact-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workload.yaml");
    std::fs::write(
        &file,
        format!(
            "name: sasl-redact\ntopic: sasl-redact\nduration_s: 0.5\nwarmup_s: 0\nrate: 500\nseed: 1\n\
             target: {{embedded: {{sasl: {{mechanisms: [SCRAM-SHA-256], users: {{alice: {PASSWORD}}}}}}}}}\n\
             producer: {{security.protocol: SASL_PLAINTEXT, sasl.mechanism: SCRAM-SHA-256, sasl.username: alice, \
             sasl.password: {PASSWORD}}}\n"
        ),
    )
    .unwrap();
    let mut settings = kprod::workbench::run_cmd::RunSettings::new(&file);
    settings.out = dir.join("reports");
    settings.progress = kprod::workbench::runner::Progress::Off;
    settings.drain_timeout = Duration::from_secs(10);
    let plan = kprod::workbench::run_cmd::plan(&settings).expect("plan");
    seen.push(plan.describe());
    let out = tokio::time::timeout(Duration::from_secs(30), kprod::workbench::run_cmd::execute(&settings, &plan))
        .await
        .expect("the run finishes")
        .expect("the run succeeds");
    let p = &out.result.points[0];
    assert!(p.records_acked > 100, "the authenticated workload ran: {} acked", p.records_acked);
    assert_eq!(p.producer_config["sasl.password"], "[hidden]");
    for entry in std::fs::read_dir(&out.dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert!(!text.contains(PASSWORD), "{} holds the password", path.display());
            seen.push(path.display().to_string());
        }
    }
    assert!(seen.iter().any(|s| s.ends_with("result.json")) && seen.iter().any(|s| s.ends_with("index.html")));

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("SASL authentication complete"), "TRACE logging was captured");
    assert!(!logs.contains(PASSWORD), "a log line holds the password");
    for s in &seen {
        assert!(!s.contains(PASSWORD), "{s}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Not a check: prints the median connect + SaslHandshake + SaslAuthenticate time per mechanism against the mock
/// broker (both sides in this process). `cargo test --release --test it measure_sasl -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_sasl_connect_authenticate() {
    use kprod::protocol::{ApiVersionsResponse, negotiate, supported_api_versions};
    use kprod::security::{SaslSettings, Secret};
    let c = sasl_cluster(&SaslMechanism::ALL, None).await;
    let addr = c.addresses()[0].to_string();
    let versions =
        negotiate(&ApiVersionsResponse { api_keys: supported_api_versions(), ..Default::default() }, &[]).unwrap();
    for m in SaslMechanism::ALL {
        let settings = SaslSettings { mechanism: m, username: "alice".into(), password: Secret::from(PASSWORD) };
        let mut us: Vec<u128> = (0..31).map(|_| 0).collect();
        for t in us.iter_mut() {
            let started = Instant::now();
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            kprod::security::authenticate::authenticate(
                &mut s,
                &addr,
                &versions,
                &settings,
                None,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            *t = started.elapsed().as_micros();
        }
        us.sort_unstable();
        println!(
            "{m}: connect+authenticate median {} us (min {}, max {}, n={})",
            us[us.len() / 2],
            us[0],
            us[us.len() - 1],
            us.len()
        );
    }
    c.shutdown().await;
}

/// A workload whose producer uses SASL_SSL on the embedded target, without a `sasl:` section there: the embedded
/// cluster serves TLS with a CA the producer trusts and accepts the producer's own user and mechanism, so the run
/// authenticates over TLS and every record is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_workload_with_sasl_ssl_producer_gets_a_matching_cluster() {
    let dir = std::env::temp_dir().join(format!("kprod-it-sasl-ssl-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("workload.yaml");
    std::fs::write(
        &file,
        format!(
            "name: sasl-ssl\ntopic: sasl-ssl\nduration_s: 0.5\nwarmup_s: 0\nrate: 1000\nseed: 1\n\
             producer: {{security.protocol: SASL_SSL, sasl.mechanism: SCRAM-SHA-512, sasl.username: carol, \
             sasl.password: {PASSWORD}}}\n"
        ),
    )
    .unwrap();
    let mut settings = kprod::workbench::run_cmd::RunSettings::new(&file);
    settings.out = dir.join("reports");
    settings.progress = kprod::workbench::runner::Progress::Off;
    settings.drain_timeout = Duration::from_secs(10);
    let plan = kprod::workbench::run_cmd::plan(&settings).expect("plan");
    let out = tokio::time::timeout(Duration::from_secs(30), kprod::workbench::run_cmd::execute(&settings, &plan))
        .await
        .expect("the run finishes")
        .expect("the run succeeds");
    let p = &out.result.points[0];
    assert!(p.records_acked > 100, "{} acked", p.records_acked);
    assert!(p.errors.is_empty(), "no record failed: {:?}", p.errors);
    let _ = std::fs::remove_dir_all(&dir);
}
