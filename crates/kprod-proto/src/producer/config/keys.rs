//! The Kafka 4.x producer keys kprod accepts but does not model as typed fields (security, metrics, DNS...):
//! their Java type, for validation, and their Java default, for the resolved config dump. Values of these keys are
//! kept verbatim (trimmed) in `ProducerConfig::other`.
//!
//! # References
//! - Java `ProducerConfig`, `CommonClientConfigs`, `SslConfigs.addClientSslSupport`,
//!   `SaslConfigs.addClientSaslSupport` (Kafka 4.0/4.1).

/// A Java `ConfigDef.Type` plus the validator that matters to us.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Str,
    /// Java `Type.PASSWORD`: never printed.
    Password,
    Class,
    List,
    Bool,
    Double,
    Int {
        min: i64,
    },
    Long {
        min: i64,
    },
    /// One of the listed strings (case-sensitive, as Java's `ValidString.in`).
    OneOf(&'static [&'static str]),
    /// One of the listed strings, case-insensitive (Java's `CaseInsensitiveValidString`).
    OneOfCi(&'static [&'static str]),
}

/// `None` default = Java `null`.
pub(crate) struct OtherKey {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<&'static str>,
}

const fn k(name: &'static str, kind: Kind, default: Option<&'static str>) -> OtherKey {
    OtherKey { name, kind, default }
}

const I0: Kind = Kind::Int { min: 0 };
const L0: Kind = Kind::Long { min: 0 };

pub(crate) const OTHER_KEYS: &[OtherKey] = &[
    k(
        "client.dns.lookup",
        Kind::OneOf(&["use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"]),
        Some("use_all_dns_ips"),
    ),
    k("enable.metrics.push", Kind::Bool, Some("true")),
    k("metrics.sample.window.ms", L0, Some("30000")),
    k("metrics.num.samples", Kind::Int { min: 1 }, Some("2")),
    k("metrics.recording.level", Kind::OneOf(&["INFO", "DEBUG", "TRACE"]), Some("INFO")),
    k("metric.reporters", Kind::List, Some("org.apache.kafka.common.metrics.JmxReporter")),
    k("socket.connection.setup.timeout.ms", L0, Some("10000")),
    k("socket.connection.setup.timeout.max.ms", L0, Some("30000")),
    k("security.providers", Kind::Str, None),
    k("transaction.two.phase.commit.enable", Kind::Bool, Some("false")),
    k("metadata.recovery.strategy", Kind::OneOfCi(&["none", "rebootstrap"]), Some("rebootstrap")),
    k("metadata.recovery.rebootstrap.trigger.ms", L0, Some("300000")),
    k("config.providers", Kind::List, Some("")),
    // SSL
    k("ssl.protocol", Kind::Str, Some("TLSv1.3")),
    k("ssl.provider", Kind::Str, None),
    k("ssl.cipher.suites", Kind::List, None),
    k("ssl.enabled.protocols", Kind::List, Some("TLSv1.2,TLSv1.3")),
    k("ssl.keystore.type", Kind::Str, Some("JKS")),
    k("ssl.keystore.location", Kind::Str, None),
    k("ssl.keystore.password", Kind::Password, None),
    k("ssl.key.password", Kind::Password, None),
    k("ssl.keystore.key", Kind::Password, None),
    k("ssl.keystore.certificate.chain", Kind::Password, None),
    k("ssl.truststore.certificates", Kind::Password, None),
    k("ssl.truststore.type", Kind::Str, Some("JKS")),
    k("ssl.truststore.location", Kind::Str, None),
    k("ssl.truststore.password", Kind::Password, None),
    k("ssl.keymanager.algorithm", Kind::Str, Some("SunX509")),
    k("ssl.trustmanager.algorithm", Kind::Str, Some("PKIX")),
    k("ssl.endpoint.identification.algorithm", Kind::Str, Some("https")),
    k("ssl.secure.random.implementation", Kind::Str, None),
    k("ssl.engine.factory.class", Kind::Class, None),
    // SASL
    k("sasl.kerberos.service.name", Kind::Str, None),
    k("sasl.kerberos.kinit.cmd", Kind::Str, Some("/usr/bin/kinit")),
    k("sasl.kerberos.ticket.renew.window.factor", Kind::Double, Some("0.8")),
    k("sasl.kerberos.ticket.renew.jitter", Kind::Double, Some("0.05")),
    k("sasl.kerberos.min.time.before.relogin", Kind::Long { min: i64::MIN }, Some("60000")),
    k("sasl.login.refresh.window.factor", Kind::Double, Some("0.8")),
    k("sasl.login.refresh.window.jitter", Kind::Double, Some("0.05")),
    k("sasl.login.refresh.min.period.seconds", I0, Some("60")),
    k("sasl.login.refresh.buffer.seconds", I0, Some("300")),
    // Java's default is GSSAPI, which kprod does not implement: unset means PLAIN (see `security` module doc).
    k("sasl.mechanism", Kind::Str, Some("PLAIN")),
    k("sasl.jaas.config", Kind::Password, None),
    // librdkafka's direct credential keys (not Java keys), accepted for convenience.
    k("sasl.username", Kind::Str, None),
    k("sasl.password", Kind::Password, None),
    k("sasl.client.callback.handler.class", Kind::Class, None),
    k("sasl.login.callback.handler.class", Kind::Class, None),
    k("sasl.login.class", Kind::Class, None),
    k("sasl.login.connect.timeout.ms", I0, None),
    k("sasl.login.read.timeout.ms", I0, None),
    k("sasl.login.retry.backoff.max.ms", L0, Some("10000")),
    k("sasl.login.retry.backoff.ms", L0, Some("100")),
    k("sasl.oauthbearer.scope.claim.name", Kind::Str, Some("scope")),
    k("sasl.oauthbearer.sub.claim.name", Kind::Str, Some("sub")),
    k("sasl.oauthbearer.token.endpoint.url", Kind::Str, None),
    k("sasl.oauthbearer.jwks.endpoint.url", Kind::Str, None),
    k("sasl.oauthbearer.jwks.endpoint.refresh.ms", L0, Some("3600000")),
    k("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", L0, Some("10000")),
    k("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", L0, Some("100")),
    k("sasl.oauthbearer.clock.skew.seconds", I0, Some("30")),
    k("sasl.oauthbearer.expected.audience", Kind::List, None),
    k("sasl.oauthbearer.expected.issuer", Kind::Str, None),
    k("sasl.oauthbearer.header.urlencode", Kind::Bool, Some("false")),
    // SASL OAUTHBEARER additions of Kafka 4.1 (KIP-1139).
    k("sasl.oauthbearer.jwt.retriever.class", Kind::Class, None),
    k("sasl.oauthbearer.jwt.validator.class", Kind::Class, None),
    k("sasl.oauthbearer.scope", Kind::Str, None),
    k("sasl.oauthbearer.client.credentials.client.id", Kind::Str, None),
    k("sasl.oauthbearer.client.credentials.client.secret", Kind::Password, None),
    k("sasl.oauthbearer.assertion.algorithm", Kind::Str, Some("RS256")),
    k("sasl.oauthbearer.assertion.claim.aud", Kind::Str, None),
    k("sasl.oauthbearer.assertion.claim.exp.seconds", I0, Some("300")),
    k("sasl.oauthbearer.assertion.claim.iss", Kind::Str, None),
    k("sasl.oauthbearer.assertion.claim.jti.include", Kind::Bool, Some("false")),
    k("sasl.oauthbearer.assertion.claim.nbf.seconds", I0, Some("60")),
    k("sasl.oauthbearer.assertion.claim.sub", Kind::Str, None),
    k("sasl.oauthbearer.assertion.file", Kind::Str, None),
    k("sasl.oauthbearer.assertion.private.key.file", Kind::Str, None),
    k("sasl.oauthbearer.assertion.private.key.passphrase", Kind::Password, None),
    k("sasl.oauthbearer.assertion.template.file", Kind::Str, None),
];

pub(crate) fn other_key(name: &str) -> Option<&'static OtherKey> {
    OTHER_KEYS.iter().find(|k| k.name == name)
}

/// Whether a key holds a secret: Java `PASSWORD` keys, plus anything whose name says so (defensive for keys a
/// future Kafka adds).
pub(crate) fn is_secret(name: &str) -> bool {
    matches!(other_key(name), Some(OtherKey { kind: Kind::Password, .. }))
        || name.contains("password")
        || name.contains("secret")
        || name.contains("passphrase")
        || name == "sasl.jaas.config"
}

/// Checks a value of an "other" key against its Java type; returns what was expected on failure.
pub(crate) fn check(kind: Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::Str | Kind::Password | Kind::Class | Kind::List => Ok(()),
        Kind::Bool => {
            if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err("a boolean (true or false)".to_string())
            }
        }
        Kind::Double => value.parse::<f64>().map(|_| ()).map_err(|_| "a number".to_string()),
        Kind::Int { min } => match value.parse::<i32>() {
            Ok(v) if i64::from(v) >= min => Ok(()),
            _ => Err(format!("an integer in [{min}, {}]", i32::MAX)),
        },
        Kind::Long { min } => match value.parse::<i64>() {
            Ok(v) if v >= min => Ok(()),
            _ => Err(format!("a long integer >= {min}")),
        },
        Kind::OneOf(options) => {
            if options.contains(&value) {
                Ok(())
            } else {
                Err(format!("one of {}", options.join(", ")))
            }
        }
        Kind::OneOfCi(options) => {
            if options.iter().any(|o| o.eq_ignore_ascii_case(value)) {
                Ok(())
            } else {
                Err(format!("one of {} (case-insensitive)", options.join(", ")))
            }
        }
    }
}
