//! Resolution of SASL settings from producer configs.

use super::*;

fn cfg(pairs: &[(&str, &str)]) -> ProducerConfig {
    ProducerConfig::from_pairs(pairs.iter().copied()).expect("valid producer config")
}

fn settings(pairs: &[(&str, &str)]) -> Result<Option<SaslSettings>, SecurityConfigError> {
    SaslSettings::from_config(&cfg(pairs))
}

const SCRAM: &str =
    "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3cr;et\";";
const PLAIN: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required username=alice password=s3cr3t;";

#[test]
fn protocols() {
    for (name, tls, sasl) in
        [("PLAINTEXT", false, false), ("ssl", true, false), ("SASL_PLAINTEXT", false, true), ("sasl_ssl", true, true)]
    {
        let p = SecurityProtocol::parse(name).unwrap();
        assert_eq!((p.uses_tls(), p.uses_sasl()), (tls, sasl), "{name}");
        assert_eq!(SecurityProtocol::parse(p.name()), Some(p));
    }
    assert_eq!(SecurityProtocol::parse("TLS"), None);
    assert_eq!(settings(&[("sasl.jaas.config", SCRAM)]).unwrap(), None, "PLAINTEXT uses no SASL");
}

#[test]
fn jaas_config_per_mechanism() {
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let s = settings(&[("security.protocol", "SASL_SSL"), ("sasl.mechanism", m), ("sasl.jaas.config", SCRAM)])
            .unwrap()
            .unwrap();
        assert_eq!((s.mechanism.name(), s.username.as_str(), s.password.expose()), (m, "alice", "s3cr;et"));
    }
    let s = settings(&[("security.protocol", "SASL_PLAINTEXT"), ("sasl.jaas.config", PLAIN)]).unwrap().unwrap();
    assert_eq!((s.mechanism, s.password.expose()), (SaslMechanism::Plain, "s3cr3t"), "PLAIN is the default");
}

#[test]
fn librdkafka_keys() {
    let s = settings(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", "bob"),
        ("sasl.password", "pw"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!((s.mechanism, s.username.as_str(), s.password.expose()), (SaslMechanism::ScramSha512, "bob", "pw"));
}

#[test]
fn errors_name_the_key_and_never_the_password() {
    let sp = ("security.protocol", "SASL_PLAINTEXT");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![sp, ("sasl.mechanism", "GSSAPI"), ("sasl.jaas.config", PLAIN)], "GSSAPI is not supported"),
        (vec![sp, ("sasl.mechanism", "OAUTHBEARER"), ("sasl.jaas.config", PLAIN)], "OAUTHBEARER is not supported"),
        (vec![sp, ("sasl.mechanism", "SCRAM-SHA-256"), ("sasl.jaas.config", PLAIN)], "ScramLoginModule"),
        (vec![sp, ("sasl.jaas.config", SCRAM)], "PlainLoginModule"),
        (vec![sp], "sasl.jaas.config"),
        (vec![sp, ("sasl.username", "u")], "sasl.password"),
        (vec![sp, ("sasl.jaas.config", PLAIN), ("sasl.password", "s3cr3t")], "not both"),
        (
            vec![
                sp,
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"s3cr3t\";",
                ),
            ],
            "option 'username' is missing",
        ),
        (
            vec![
                sp,
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\";",
                ),
            ],
            "option 'password' is missing",
        ),
        (
            vec![
                sp,
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"s3cr3t\"",
                ),
            ],
            "sasl.jaas.config: missing the ';'",
        ),
    ];
    for (pairs, want) in cases {
        let e = settings(&pairs).unwrap_err().to_string();
        assert!(e.contains(want), "{pairs:?}: {e}");
        assert!(!e.contains("s3cr3t") && !e.contains("s3cr;et"), "{e}");
    }
}

#[test]
fn secret_and_settings_never_print_the_password() {
    let s = settings(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-256"),
        ("sasl.jaas.config", SCRAM),
    ])
    .unwrap()
    .unwrap();
    for text in [format!("{s:?}"), format!("{}", s.password), format!("{:?}", s.password)] {
        assert!(!text.contains("s3cr;et") && text.contains("[redacted]"), "{text}");
    }
    let c = cfg(&[("security.protocol", "SASL_SSL"), ("sasl.jaas.config", SCRAM), ("ssl.key.password", "kp4ss")]);
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cr;et") && !dbg.contains("kp4ss") && dbg.contains("[hidden]"), "{dbg}");
    let props = c.to_properties();
    assert_eq!(props["sasl.jaas.config"], "[hidden]");
    assert_eq!(props["ssl.key.password"], "[hidden]");
}
