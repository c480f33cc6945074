//! End-to-end security tests against a real Apache Kafka broker started by `scripts/kafka.sh up --security`
//! (see scripts/test.sh): TLS alone, SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 over TLS and over plaintext, a
//! client certificate, and the failures a user must be told about clearly (wrong password, a certificate authority
//! the client does not trust, a certificate for another host name).
//!
//! Ignored by default; run with `cargo test --test it real_broker_security -- --ignored` once the broker is up.
//! Addresses, CA files and the SASL user come from `scripts/kafka.sh env --security` (KEY=VALUE lines); a variable
//! of the same name in the environment overrides each. What the producer wrote through a secured listener is read
//! back through the broker's PLAINTEXT listener with `kprod::verify`, so these tests check delivery, not only that
//! a connection was accepted. Every test is bounded with a tokio timeout: nothing may hang.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kprod::producer::{Producer, ProducerConfig, ProducerError, ProducerRecord};
use kprod::verify::read_topic;

const RECORDS: usize = 5_000;
/// Upper bound for one produce-and-verify test (topic creation runs a JVM tool; the rest takes seconds).
const TEST_BOUND: Duration = Duration::from_secs(120);
/// max.block.ms given to producers that must fail; the failure must arrive within it plus a margin.
const MAX_BLOCK_MS: u64 = 10_000;
const FAILURE_BOUND: Duration = Duration::from_secs(20);

/// What `scripts/kafka.sh env --security` printed, overridden by the process environment.
struct SecurityEnv {
    vars: BTreeMap<String, String>,
    script_error: Option<String>,
}

impl SecurityEnv {
    fn get(&self, key: &str) -> String {
        if let Ok(v) = std::env::var(key) {
            return v;
        }
        match self.vars.get(key) {
            Some(v) => v.clone(),
            None => panic!(
                "{key} is not known: start the broker with `scripts/kafka.sh up --security` (kafka.sh env --security: {})",
                self.script_error.as_deref().unwrap_or("printed no such key")
            ),
        }
    }
}

fn security_env() -> &'static SecurityEnv {
    static ENV: OnceLock<SecurityEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let out = kafka_sh(&["env", "--security"]);
        let mut vars = BTreeMap::new();
        let script_error = if out.status.success() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some((k, v)) = line.split_once('=') {
                    vars.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
            None
        } else {
            Some(String::from_utf8_lossy(&out.stderr).trim().to_string())
        };
        SecurityEnv { vars, script_error }
    })
}

fn kafka_sh(args: &[&str]) -> std::process::Output {
    let root = env!("CARGO_MANIFEST_DIR");
    std::process::Command::new(format!("{root}/scripts/kafka.sh")).args(args).output().expect("scripts/kafka.sh runs")
}

fn unique(prefix: &str) -> String {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{n}")
}

/// Creates the topic through the PLAINTEXT listener, so the secured producer only has to find and write it.
fn create_topic(topic: &str, partitions: u32) {
    let plaintext = security_env().get("KPROD_KAFKA_PLAINTEXT_BOOTSTRAP");
    let parts = partitions.to_string();
    let out =
        kafka_sh(&["topics", "--create", "--topic", topic, "--partitions", &parts, "--bootstrap-server", &plaintext]);
    assert!(out.status.success(), "creating {topic}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Java's `sasl.jaas.config` for a mechanism: PlainLoginModule for PLAIN, ScramLoginModule for SCRAM-*.
fn jaas(mechanism: &str, username: &str, password: &str) -> String {
    let module = if mechanism == "PLAIN" {
        "org.apache.kafka.common.security.plain.PlainLoginModule"
    } else {
        "org.apache.kafka.common.security.scram.ScramLoginModule"
    };
    format!(r#"{module} required username="{username}" password="{password}";"#)
}

/// `security.protocol=SSL` trusting the PEM file `ca_pem`.
fn ssl_settings(ca_pem: &str) -> Vec<(String, String)> {
    vec![
        ("security.protocol".into(), "SSL".into()),
        ("ssl.truststore.type".into(), "PEM".into()),
        ("ssl.truststore.location".into(), ca_pem.into()),
    ]
}

/// SASL over TLS (or over plaintext when `tls` is false) with `mechanism` and the given password.
fn sasl_settings(mechanism: &str, password: &str, tls: bool) -> Vec<(String, String)> {
    let env = security_env();
    let mut s = if tls { ssl_settings(&env.get("KPROD_KAFKA_CA_PEM")) } else { Vec::new() };
    let protocol = if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" };
    s.retain(|(k, _)| k != "security.protocol");
    s.push(("security.protocol".into(), protocol.into()));
    s.push(("sasl.mechanism".into(), mechanism.into()));
    s.push(("sasl.jaas.config".into(), jaas(mechanism, &env.get("KPROD_KAFKA_SASL_USERNAME"), password)));
    s
}

fn producer_config(bootstrap: &str, security: &[(String, String)]) -> ProducerConfig {
    let mut pairs: Vec<(String, String)> = [
        ("bootstrap.servers", bootstrap),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        // Small batches: several ProduceRequests per partition, so sequences are checked across requests.
        ("batch.size", "4096"),
        ("request.timeout.ms", "10000"),
        ("delivery.timeout.ms", "60000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    pairs.push(("max.block.ms".into(), MAX_BLOCK_MS.to_string()));
    pairs.extend_from_slice(security);
    ProducerConfig::from_pairs(pairs).unwrap_or_else(|e| panic!("security config refused: {e}"))
}

async fn bounded<T>(what: &str, bound: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(bound, f).await.unwrap_or_else(|_| panic!("{what}: no result within {bound:?}: it hangs"))
}

/// Produces `n` keyed records (idempotent, acks=all) through `bootstrap` with `security`, then reads the topic
/// back through PLAINTEXT and checks every record is there exactly once, in send order per key, with one producer
/// id and contiguous sequences per partition.
async fn produce_and_verify(label: &str, bootstrap: &str, security: &[(String, String)], n: usize) {
    let topic = unique(&format!("sec-{label}"));
    create_topic(&topic, 3);
    let producer = Producer::new(producer_config(bootstrap, security))
        .unwrap_or_else(|e| panic!("{label}: creating the producer failed: {e}"));
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let rec = ProducerRecord::new(topic.as_str(), Bytes::from(format!("{i:08}")))
            .with_key(Bytes::from(format!("k{}", i % 29)));
        futures.push(producer.send(rec).await.unwrap_or_else(|e| panic!("{label}: record {i} not appended: {e}")));
    }
    for (i, f) in futures.into_iter().enumerate() {
        let md = f.await.unwrap_or_else(|e| panic!("{label}: record {i} failed: {e}"));
        assert!(md.offset >= 0, "{label}: acks=all gives an offset");
    }
    producer.close(Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{label}: close: {e}"));

    let plaintext = security_env().get("KPROD_KAFKA_PLAINTEXT_BOOTSTRAP");
    let stored = read_topic(&plaintext, &topic).await.unwrap_or_else(|e| panic!("{label}: read back {topic}: {e}"));
    let mut seen = vec![0u32; n];
    let mut last: BTreeMap<Bytes, usize> = BTreeMap::new();
    for (p, recs) in &stored {
        let pid = recs.first().map(|r| r.producer_id).unwrap_or(-1);
        assert!(recs.is_empty() || pid >= 0, "{label}: partition {p}: idempotent batches carry a producer id");
        for (j, r) in recs.iter().enumerate() {
            assert_eq!(r.producer_id, pid, "{label}: partition {p}: one producer id");
            assert_eq!(r.sequence, j as i32, "{label}: partition {p}: sequences contiguous from 0");
            let value = r.value.as_deref().expect("value");
            let i: usize = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()).expect("numeric value");
            assert!(i < n, "{label}: value {i} was never sent");
            seen[i] += 1;
            let key = r.key.clone().expect("keyed record");
            assert_eq!(key, Bytes::from(format!("k{}", i % 29)), "{label}: record {i} stored with its key");
            if let Some(prev) = last.insert(key, i) {
                assert!(i > prev, "{label}: partition {p}: record {i} stored after {prev} of the same key");
            }
        }
    }
    let lost = seen.iter().filter(|c| **c == 0).count();
    let duplicated = seen.iter().filter(|c| **c > 1).count();
    assert_eq!((lost, duplicated), (0, 0), "{label}: {n} records sent: {lost} lost, {duplicated} duplicated");
}

/// Sends one record with a producer that must not get through, and returns the error from the send or from the
/// delivery, whichever comes first, with the time it took. Panics if the record is delivered.
async fn first_error(bootstrap: &str, security: &[(String, String)]) -> (ProducerError, Duration) {
    let start = Instant::now();
    let producer = Producer::new(producer_config(bootstrap, security)).expect("producer");
    let topic = unique("sec-refused");
    let err = bounded("a refused producer", FAILURE_BOUND, async {
        match producer.send(ProducerRecord::new(topic.as_str(), Bytes::from_static(b"x"))).await {
            Err(e) => e,
            Ok(delivery) => match delivery.await {
                Err(e) => e,
                Ok(md) => {
                    panic!("the record was delivered ({}-{}@{}) but must be refused", md.topic, md.partition, md.offset)
                }
            },
        }
    })
    .await;
    let elapsed = start.elapsed();
    // A failed connection must not leave close() waiting either.
    let _ =
        bounded("close after a refused connection", Duration::from_secs(15), producer.close(Duration::from_secs(5)))
            .await;
    (err, elapsed)
}

/// The address part of the first bootstrap entry, which an error about that broker must name.
fn first_address(bootstrap: &str) -> String {
    bootstrap.split(',').next().unwrap_or(bootstrap).trim().to_string()
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_plaintext_listener_still_works() {
    // The control: the same check through the unsecured listener. If this fails, the broker or the harness is at
    // fault, not TLS or SASL.
    let bootstrap = security_env().get("KPROD_KAFKA_PLAINTEXT_BOOTSTRAP");
    bounded("PLAINTEXT produce", TEST_BOUND, produce_and_verify("plaintext", &bootstrap, &[], 1_000)).await;
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_ssl_produces_exactly_once() {
    let env = security_env();
    let security = ssl_settings(&env.get("KPROD_KAFKA_CA_PEM"));
    let bootstrap = env.get("KPROD_KAFKA_SSL_BOOTSTRAP");
    bounded("SSL produce", TEST_BOUND, produce_and_verify("ssl", &bootstrap, &security, RECORDS)).await;
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_sasl_ssl_plain_produces_exactly_once() {
    sasl_ssl_produces("PLAIN").await;
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_sasl_ssl_scram_sha_256_produces_exactly_once() {
    sasl_ssl_produces("SCRAM-SHA-256").await;
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_sasl_ssl_scram_sha_512_produces_exactly_once() {
    sasl_ssl_produces("SCRAM-SHA-512").await;
}

async fn sasl_ssl_produces(mechanism: &str) {
    let env = security_env();
    let security = sasl_settings(mechanism, &env.get("KPROD_KAFKA_SASL_PASSWORD"), true);
    let bootstrap = env.get("KPROD_KAFKA_SASL_SSL_BOOTSTRAP");
    let label = format!("sasl-ssl-{}", mechanism.to_lowercase());
    bounded(&label, TEST_BOUND, produce_and_verify(&label, &bootstrap, &security, RECORDS)).await;
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_sasl_plaintext_every_mechanism() {
    // SASL without TLS: the SASL exchange alone, for each mechanism (fewer records: the path is the same).
    let env = security_env();
    let bootstrap = env.get("KPROD_KAFKA_SASL_PLAINTEXT_BOOTSTRAP");
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let security = sasl_settings(mechanism, &env.get("KPROD_KAFKA_SASL_PASSWORD"), false);
        let label = format!("sasl-plaintext-{}", mechanism.to_lowercase());
        bounded(&label, TEST_BOUND, produce_and_verify(&label, &bootstrap, &security, 1_000)).await;
    }
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_wrong_password_is_a_clear_authentication_error() {
    let env = security_env();
    let bootstrap = env.get("KPROD_KAFKA_SASL_SSL_BOOTSTRAP");
    let right_password = env.get("KPROD_KAFKA_SASL_PASSWORD");
    // Distinctive, so finding it in a message cannot be a coincidence.
    let wrong_password = "wrong-Pa55word-9d1c";
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let security = sasl_settings(mechanism, wrong_password, true);
        let (err, elapsed) = first_error(&bootstrap, &security).await;
        let text = err.to_string();
        let debug = format!("{err:?}");
        match &err {
            ProducerError::Authentication { broker, mechanism: m, .. } => {
                assert_eq!(m, mechanism, "the error names the mechanism used: {text}");
                assert!(
                    broker.contains(&first_address(&bootstrap)) || bootstrap.contains(broker.as_str()),
                    "the error names the broker ({bootstrap}): {text}"
                );
            }
            other => panic!("{mechanism} with a wrong password: expected ProducerError::Authentication, got {other:?}"),
        }
        assert!(text.contains(mechanism), "{text}");
        for secret in [wrong_password, right_password.as_str()] {
            assert!(
                !text.contains(secret) && !debug.contains(secret),
                "{mechanism}: the error shows a password: {debug}"
            );
        }
        assert!(!err.is_retriable(), "{mechanism}: an authentication failure is not retriable");
        assert!(
            elapsed <= Duration::from_millis(MAX_BLOCK_MS) + Duration::from_secs(5),
            "{mechanism}: refused after {elapsed:?}, beyond max.block.ms={MAX_BLOCK_MS}"
        );
        // The configuration's Debug output (logged by applications) must not show the password either.
        let config_debug = format!("{:?}", producer_config(&bootstrap, &security));
        assert!(!config_debug.contains(wrong_password), "{mechanism}: ProducerConfig's Debug shows the password");
    }
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_untrusted_certificate_is_a_clear_tls_error() {
    let env = security_env();
    let bootstrap = env.get("KPROD_KAFKA_SSL_BOOTSTRAP");
    // A truststore holding only an unrelated CA: the broker's certificate chain leads nowhere the client trusts.
    let (err, elapsed) = first_error(&bootstrap, &ssl_settings(&env.get("KPROD_KAFKA_OTHER_CA_PEM"))).await;
    let text = err.to_string();
    match &err {
        ProducerError::Tls { broker, reason, .. } => {
            assert!(broker.contains(&first_address(&bootstrap)), "the error names the broker ({bootstrap}): {text}");
            let r = reason.to_lowercase().replace([' ', '_', '-'], "");
            assert!(
                ["unknownissuer", "unknowncertificateauthority", "unknownca", "nottrusted", "untrusted"]
                    .iter()
                    .any(|w| r.contains(w)),
                "the reason says the certificate authority is not trusted: {text}"
            );
        }
        other => panic!("untrusted CA: expected ProducerError::Tls, got {other:?}"),
    }
    assert!(!err.is_retriable(), "a certificate that is not trusted will not become trusted by retrying");
    assert!(elapsed <= Duration::from_millis(MAX_BLOCK_MS) + Duration::from_secs(5), "refused after {elapsed:?}");
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_wrong_host_name_is_refused_unless_identification_is_off() {
    let env = security_env();
    // This listener presents a certificate of the trusted CA, but for wrong-host.invalid, not 127.0.0.1.
    let bootstrap = env.get("KPROD_KAFKA_SSL_WRONG_HOST_BOOTSTRAP");
    let trusted = ssl_settings(&env.get("KPROD_KAFKA_CA_PEM"));
    let (err, _) = first_error(&bootstrap, &trusted).await;
    let text = err.to_string();
    match &err {
        ProducerError::Tls { reason, .. } => {
            let r = reason.to_lowercase();
            assert!(
                r.contains("127.0.0.1") || r.contains("wrong-host.invalid") || r.contains("notvalidforname"),
                "the reason names the host that did not match: {text}"
            );
        }
        other => panic!("certificate for another host: expected ProducerError::Tls, got {other:?}"),
    }
    // ssl.endpoint.identification.algorithm empty turns the host name check off (as Java): it then works.
    let mut unchecked = trusted.clone();
    unchecked.push(("ssl.endpoint.identification.algorithm".into(), String::new()));
    bounded("no host name check", TEST_BOUND, produce_and_verify("ssl-no-hostname-check", &bootstrap, &unchecked, 500))
        .await;
}

#[tokio::test]
#[ignore = "needs a real broker with security: scripts/kafka.sh up --security"]
async fn real_broker_security_mutual_tls_with_a_pem_keystore() {
    let env = security_env();
    // The MTLS listener requires a client certificate signed by the CA (ssl.client.auth=required).
    let bootstrap = env.get("KPROD_KAFKA_MTLS_BOOTSTRAP");
    let mut security = ssl_settings(&env.get("KPROD_KAFKA_CA_PEM"));
    security.push(("ssl.keystore.type".into(), "PEM".into()));
    // One file holding the private key and the certificate chain (Java's file-based PEM keystore form).
    security.push(("ssl.keystore.location".into(), env.get("KPROD_KAFKA_CLIENT_KEYSTORE_PEM")));
    bounded("mutual TLS", TEST_BOUND, produce_and_verify("mtls", &bootstrap, &security, 1_000)).await;
}
