//! Tests of the producer configuration: Java defaults, parsing, errors and conflict rules.

use super::*;

/// Kafka 4.x producer defaults as Java's `ProducerConfig` defines them (the resolved string form).
const JAVA_DEFAULTS: &[(&str, &str)] = &[
    ("acks", "all"),
    ("batch.size", "16384"),
    ("linger.ms", "5"),
    ("buffer.memory", "33554432"),
    ("max.block.ms", "60000"),
    ("max.request.size", "1048576"),
    ("enable.idempotence", "true"),
    ("retries", "2147483647"),
    ("max.in.flight.requests.per.connection", "5"),
    ("delivery.timeout.ms", "120000"),
    ("request.timeout.ms", "30000"),
    ("retry.backoff.ms", "100"),
    ("retry.backoff.max.ms", "1000"),
    ("reconnect.backoff.ms", "50"),
    ("reconnect.backoff.max.ms", "1000"),
    ("metadata.max.age.ms", "300000"),
    ("metadata.max.idle.ms", "300000"),
    ("compression.type", "none"),
    ("compression.gzip.level", "-1"),
    ("compression.lz4.level", "9"),
    ("compression.zstd.level", "3"),
    ("partitioner.class", "null"),
    ("partitioner.adaptive.partitioning.enable", "true"),
    ("partitioner.availability.timeout.ms", "0"),
    ("partitioner.ignore.keys", "false"),
    ("transactional.id", "null"),
    ("transaction.timeout.ms", "60000"),
    ("connections.max.idle.ms", "540000"),
    ("send.buffer.bytes", "131072"),
    ("receive.buffer.bytes", "32768"),
    ("security.protocol", "PLAINTEXT"),
    ("client.id", ""),
    ("bootstrap.servers", ""),
    ("interceptor.classes", ""),
    ("client.dns.lookup", "use_all_dns_ips"),
    ("socket.connection.setup.timeout.ms", "10000"),
    ("socket.connection.setup.timeout.max.ms", "30000"),
    ("metadata.recovery.strategy", "rebootstrap"),
    ("metadata.recovery.rebootstrap.trigger.ms", "300000"),
    ("enable.metrics.push", "true"),
    ("metrics.num.samples", "2"),
    ("metrics.sample.window.ms", "30000"),
    ("metrics.recording.level", "INFO"),
    ("sasl.mechanism", "PLAIN"),
    ("ssl.protocol", "TLSv1.3"),
    ("ssl.endpoint.identification.algorithm", "https"),
    ("sasl.jaas.config", "null"),
];

#[test]
fn defaults_match_java() {
    let resolved = ProducerConfig::from_pairs(Vec::<(&str, &str)>::new()).unwrap();
    let props = resolved.to_properties();
    for (k, v) in JAVA_DEFAULTS {
        assert_eq!(props.get(*k).map(String::as_str), Some(*v), "default of {k}");
    }
    // Every known key appears in the dump, nothing else.
    let known: BTreeSet<&str> = known_keys().collect();
    let dumped: BTreeSet<&str> = props.keys().map(String::as_str).collect();
    assert_eq!(known, dumped);
    assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
    assert!(resolved.explicitly_set.is_empty());
    // The typed default agrees with the resolved one.
    let d = ProducerConfig::default();
    assert_eq!(d.to_properties(), props);
}

#[test]
fn properties_text_loads() {
    let text = "# a producer.properties file\n\
                bootstrap.servers = broker1:9092,\\\n    broker2:9092\n\
                acks:1\n\
                linger.ms 20\n\
                compression.type=zstd\n\
                key.serializer=org.apache.kafka.common.serialization.StringSerializer\n\
                ssl.truststore.location=/etc/kafka/truststore.jks\n\
                ssl.truststore.password=changeit\n\
                sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required password=\"s3cret\";\n\
                client.id=perf\\u0031\n\
                metadata.recovery.strategy=NONE\n";
    let c = ProducerConfig::from_properties_str(text).unwrap();
    assert_eq!(c.bootstrap_servers, vec!["broker1:9092", "broker2:9092"]);
    assert_eq!(c.acks, Acks::One);
    assert_eq!(c.linger, Duration::from_millis(20));
    assert_eq!(c.compression_type, "zstd");
    assert_eq!(c.client_id, "perf1");
    assert!(!c.enable_idempotence, "acks=1 without explicit idempotence disables it");
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.other.get("ssl.truststore.location").map(String::as_str), Some("/etc/kafka/truststore.jks"));
    let props = c.to_properties();
    assert_eq!(props["ssl.truststore.password"], "[hidden]");
    assert_eq!(props["sasl.jaas.config"], "[hidden]");
    assert!(!props.values().any(|v| v.contains("s3cret") || v.contains("changeit")));
    assert_eq!(props["bootstrap.servers"], "broker1:9092,broker2:9092");
    assert_eq!(props["key.serializer"], "org.apache.kafka.common.serialization.StringSerializer");
    assert!(c.explicitly_set.contains("acks") && !c.explicitly_set.contains("retries"));
}

#[test]
fn values_are_trimmed_and_booleans_case_insensitive() {
    let c = ProducerConfig::from_pairs([
        (" batch.size ", " 32768 "),
        ("enable.idempotence", "TRUE"),
        ("partitioner.ignore.keys", "True"),
        ("acks", " ALL "),
        ("security.protocol", "sasl_ssl"),
    ])
    .unwrap();
    assert_eq!(c.batch_size, 32768);
    assert!(c.enable_idempotence && c.partitioner_ignore_keys);
    assert_eq!(c.acks, Acks::All);
    assert_eq!(c.security_protocol, "SASL_SSL");
    assert_eq!(ProducerConfig::from_pairs([("acks", "-1")]).unwrap().acks, Acks::All);
    assert_eq!(ProducerConfig::from_pairs([("acks", "0")]).unwrap().acks, Acks::Zero);
}

#[test]
fn unknown_key_suggests() {
    let err = ProducerConfig::from_pairs([("linger.m", "5")]).unwrap_err();
    match &err {
        ConfigError::UnknownKey { key, suggestion } => {
            assert_eq!(key, "linger.m");
            assert_eq!(suggestion.as_deref(), Some("linger.ms"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "unknown producer config 'linger.m' (did you mean 'linger.ms'?)");
    match ProducerConfig::from_pairs([("batchsize", "1")]).unwrap_err() {
        ConfigError::UnknownKey { suggestion, .. } => assert_eq!(suggestion.as_deref(), Some("batch.size")),
        other => panic!("{other:?}"),
    }
    match ProducerConfig::from_pairs([("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "1")]).unwrap_err() {
        ConfigError::UnknownKey { suggestion, .. } => assert_eq!(suggestion, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_values_name_key_value_and_expectation() {
    let cases: &[(&str, &str)] = &[
        ("batch.size", "-1"),
        ("batch.size", "abc"),
        ("batch.size", "2147483648"),
        ("linger.ms", "-5"),
        ("buffer.memory", "-1"),
        ("retries", "-1"),
        ("max.in.flight.requests.per.connection", "0"),
        ("enable.idempotence", "yes"),
        ("acks", "2"),
        ("compression.type", "brotli"),
        ("compression.type", "GZIP"),
        ("security.protocol", "TLS"),
        ("metadata.max.idle.ms", "4999"),
        ("send.buffer.bytes", "-2"),
        ("transactional.id", "  "),
        ("client.dns.lookup", "default"),
        ("metrics.num.samples", "0"),
        ("bootstrap.servers", "a:1,a:1"),
        ("delivery.timeout.ms", "3000000000"),
    ];
    for (k, v) in cases {
        match ProducerConfig::from_pairs([(*k, *v)]) {
            Err(e @ ConfigError::BadValue { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(k) && msg.contains(v.trim()) && msg.contains("expected"), "{msg}");
            }
            other => panic!("{k}={v}: expected BadValue, got {other:?}"),
        }
    }
    // Compression levels are range-checked at validation (Java's level validators).
    for (k, v) in [("compression.gzip.level", "0"), ("compression.lz4.level", "18"), ("compression.zstd.level", "23")] {
        assert!(matches!(ProducerConfig::from_pairs([(k, v)]), Err(ConfigError::BadValue { .. })), "{k}={v}");
    }
    assert!(ProducerConfig::from_pairs([("compression.gzip.level", "9"), ("compression.zstd.level", "-5")]).is_ok());
}

#[test]
fn file_errors_name_file_and_line() {
    let dir = std::env::temp_dir().join(format!("kprod-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("producer.properties");
    std::fs::write(&path, "acks=all\n\n# c\nbatch.size=big\n").unwrap();
    let err = ProducerConfig::from_properties_file(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::At { line: 4, .. }), "{err:?}");
    assert!(msg.contains("producer.properties") && msg.contains("line 4") && msg.contains("batch.size"), "{msg}");

    std::fs::write(&path, "x=\\uZZZZ\n").unwrap();
    let err = ProducerConfig::from_properties_file(&path).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { line: 1, path: Some(_), .. }), "{err:?}");

    std::fs::write(&path, "linger.ms=7\n").unwrap();
    assert_eq!(ProducerConfig::from_properties_file(&path).unwrap().linger, Duration::from_millis(7));

    let missing = dir.join("missing.properties");
    let err = ProducerConfig::from_properties_file(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }) && err.to_string().contains("missing.properties"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn conflict(pairs: &[(&str, &str)]) -> String {
    match ProducerConfig::from_pairs(pairs.iter().copied()) {
        Err(ConfigError::Conflict(m)) => m,
        other => panic!("{pairs:?}: expected Conflict, got {other:?}"),
    }
}

#[test]
fn explicit_idempotence_conflicts() {
    let m = conflict(&[("enable.idempotence", "true"), ("acks", "1")]);
    assert!(m.contains("acks") && m.contains("idempotent"), "{m}");
    let m = conflict(&[("enable.idempotence", "true"), ("retries", "0")]);
    assert!(m.contains("retries") && m.contains("idempotent"), "{m}");
    let m = conflict(&[("enable.idempotence", "true"), ("max.in.flight.requests.per.connection", "6")]);
    assert!(m.contains("max.in.flight.requests.per.connection"), "{m}");
    // Allowed combinations.
    let c =
        ProducerConfig::from_pairs([("enable.idempotence", "true"), ("max.in.flight.requests.per.connection", "5")])
            .unwrap();
    assert!(c.enable_idempotence);
    let c = ProducerConfig::from_pairs([("enable.idempotence", "false"), ("acks", "0"), ("retries", "0")]).unwrap();
    assert!(!c.enable_idempotence && c.warnings.is_empty());
    let c =
        ProducerConfig::from_pairs([("enable.idempotence", "false"), ("max.in.flight.requests.per.connection", "50")])
            .unwrap();
    assert_eq!(c.max_in_flight, 50);
}

#[test]
fn implicit_idempotence_is_disabled_silently() {
    for pairs in [[("acks", "1")], [("acks", "0")], [("retries", "0")]] {
        let c = ProducerConfig::from_pairs(pairs).unwrap();
        assert!(!c.enable_idempotence, "{pairs:?}");
        assert_eq!(c.to_properties()["enable.idempotence"], "false");
        assert!(c.warnings.iter().any(|w| w.contains("Idempotence will be disabled")), "{:?}", c.warnings);
    }
    // Kafka 4.x: in-flight > 5 is an error even when idempotence is only the default.
    let m = conflict(&[("max.in.flight.requests.per.connection", "6")]);
    assert!(m.contains("at most 5") && m.contains("enable.idempotence"), "{m}");
    // Resolution is recomputed: restoring acks=all re-enables the default idempotence.
    let mut c = ProducerConfig::from_pairs([("acks", "1")]).unwrap();
    c.set("acks", "all").unwrap();
    c.resolve().unwrap();
    assert!(c.enable_idempotence);
}

#[test]
fn transactional_id_requires_idempotence() {
    let m = conflict(&[("transactional.id", "tx-1"), ("enable.idempotence", "false")]);
    assert!(m.contains("transactional.id") && m.contains("idempotence"), "{m}");
    let m = conflict(&[("transactional.id", "tx-1"), ("acks", "1")]);
    assert!(m.contains("transactional.id"), "{m}");
    let c = ProducerConfig::from_pairs([("transactional.id", "tx-1")]).unwrap();
    assert!(c.enable_idempotence);
    assert_eq!(c.resolved_client_id(3), "producer-tx-1");
    assert_eq!(ProducerConfig::default().resolved_client_id(3), "producer-3");
    let named = ProducerConfig::from_pairs([("client.id", "me"), ("transactional.id", "t")]).unwrap();
    assert_eq!(named.resolved_client_id(3), "me");
}

#[test]
fn delivery_timeout_rule() {
    let m = conflict(&[("delivery.timeout.ms", "30000"), ("linger.ms", "10")]);
    assert!(m.contains("delivery.timeout.ms") && m.contains("linger.ms") && m.contains("request.timeout.ms"), "{m}");
    // Exactly linger + request is fine.
    let c = ProducerConfig::from_pairs([("delivery.timeout.ms", "30010"), ("linger.ms", "10")]).unwrap();
    assert_eq!(c.delivery_timeout, Duration::from_millis(30_010));
    // Not set: raised to linger + request timeout, with a warning.
    let c = ProducerConfig::from_pairs([("linger.ms", "100000"), ("request.timeout.ms", "40000")]).unwrap();
    assert_eq!(c.delivery_timeout, Duration::from_millis(140_000));
    assert!(c.warnings.iter().any(|w| w.contains("delivery.timeout.ms")), "{:?}", c.warnings);
    // Not set and not needed: the default stays.
    let c = ProducerConfig::from_pairs([("linger.ms", "100")]).unwrap();
    assert_eq!(c.delivery_timeout, Duration::from_millis(120_000));
}

#[test]
fn reconnect_backoff_max_follows_reconnect_backoff() {
    let c = ProducerConfig::from_pairs([("reconnect.backoff.ms", "200")]).unwrap();
    assert_eq!(c.reconnect_backoff_max, Duration::from_millis(200));
    let c =
        ProducerConfig::from_pairs([("reconnect.backoff.ms", "200"), ("reconnect.backoff.max.ms", "5000")]).unwrap();
    assert_eq!(c.reconnect_backoff_max, Duration::from_millis(5000));
}

#[test]
fn builder_marks_explicit_and_validates() {
    let c = ProducerConfig::builder()
        .bootstrap_servers(["localhost:9092"])
        .linger(Duration::from_millis(50))
        .batch_size(65536)
        .compression_type("lz4")
        .partitioner_class("round-robin")
        .set("client.dns.lookup", "resolve_canonical_bootstrap_servers_only")
        .build()
        .unwrap();
    assert_eq!(c.linger, Duration::from_millis(50));
    assert_eq!(c.partitioner_class.as_deref(), Some("round-robin"));
    assert!(c.explicitly_set.contains("linger.ms") && c.explicitly_set.contains("client.dns.lookup"));
    assert_eq!(c.to_properties()["client.dns.lookup"], "resolve_canonical_bootstrap_servers_only");

    let err = ProducerConfig::builder().acks(Acks::One).enable_idempotence(true).build().unwrap_err();
    assert!(matches!(err, ConfigError::Conflict(_)));
    let err = ProducerConfig::builder().compression_type("brotli").build().unwrap_err();
    assert!(matches!(err, ConfigError::BadValue { ref key, .. } if key == "compression.type"), "{err:?}");
    let err = ProducerConfig::builder().max_in_flight(0).enable_idempotence(false).build().unwrap_err();
    assert!(matches!(err, ConfigError::BadValue { ref key, .. } if key == "max.in.flight.requests.per.connection"));
    let err = ProducerConfig::builder().set("linger.mss", "1").linger(Duration::ZERO).build().unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { .. }));
    let err = ProducerConfig::builder().delivery_timeout(Duration::from_millis(1000)).build().unwrap_err();
    assert!(matches!(err, ConfigError::Conflict(_)));
}

#[test]
fn every_known_key_accepts_its_java_default() {
    // A producer.properties listing every key at its Java default must load.
    let defaults = ProducerConfig::default().to_properties();
    let pairs: Vec<(String, String)> = defaults
        .into_iter()
        .filter(|(_, v)| v != "null" && !v.is_empty())
        .filter(|(k, _)| k != "transactional.id")
        .collect();
    let c = ProducerConfig::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
    assert_eq!(c.explicitly_set.len(), pairs.len());
}

#[test]
fn sender_thread_is_kprods_own_key_and_on_by_default() {
    let d = ProducerConfig::from_pairs(Vec::<(&str, &str)>::new()).unwrap();
    assert!(d.sender_thread, "the sender runs on a thread of its own unless asked otherwise");
    assert_eq!(d.to_properties()["sender.thread"], "true");
    let c = ProducerConfig::from_pairs([("sender.thread", "false")]).unwrap();
    assert!(!c.sender_thread);
    assert_eq!(c.to_properties()["sender.thread"], "false");
    assert!(!ProducerConfig::builder().sender_thread(false).build().unwrap().sender_thread);
    let e = ProducerConfig::from_pairs([("sender.thread", "yes")]).unwrap_err();
    assert!(matches!(&e, ConfigError::BadValue { key, value, .. } if key == "sender.thread" && value == "yes"), "{e}");
    assert!(crate::producer::config::KPROD_KEYS.contains(&"sender.thread"), "never passed to a Java client");
}

#[test]
fn compression_threads_is_kprods_own_key() {
    let c = ProducerConfig::from_pairs([("compression.threads", " 4 ")]).unwrap();
    assert_eq!(c.compression_threads, Some(4));
    assert_eq!(c.to_properties()["compression.threads"], "4");
    let d = ProducerConfig::from_pairs(Vec::<(&str, &str)>::new()).unwrap();
    assert_eq!(d.compression_threads, None, "unset: the producer picks (one per core beyond the first, at most 3)");
    assert_eq!(d.to_properties()["compression.threads"], "null");
    for ok in ["0", "64"] {
        assert!(ProducerConfig::from_pairs([("compression.threads", ok)]).is_ok(), "{ok}");
    }
    for bad in ["65", "-1", "two", "", "1.5"] {
        let e = ProducerConfig::from_pairs([("compression.threads", bad)]).unwrap_err();
        assert!(matches!(&e, ConfigError::BadValue { key, value, .. } if key == "compression.threads" && value == bad));
        assert_eq!(
            e.to_string(),
            format!("invalid value '{bad}' for producer config 'compression.threads': expected an integer in [0, 64]")
        );
    }
    // The builder's value is checked at build.
    let e = ProducerConfig::builder().compression_threads(100).build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value '100' for producer config 'compression.threads': expected an integer in [0, 64]"
    );
    assert_eq!(ProducerConfig::builder().compression_threads(3).build().unwrap().compression_threads, Some(3));
    // A near miss is suggested.
    let e = ProducerConfig::from_pairs([("compression.thread", "2")]).unwrap_err();
    assert!(matches!(&e, ConfigError::UnknownKey { suggestion: Some(s), .. } if s == "compression.threads"), "{e}");
    assert!(KPROD_KEYS.iter().all(|k| TYPED_KEYS.contains(k)));
}
