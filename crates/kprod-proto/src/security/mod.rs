//! Security settings of a connection: the `security.protocol`, the SASL mechanism and credentials, and the
//! [`Secret`] type that keeps passwords out of every `Debug`/`Display`, log line and report.
//!
//! Resolution from a [`ProducerConfig`] ([`SaslSettings::from_config`]), Java's keys first:
//!
//! - `security.protocol`: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` ([`SecurityProtocol`]);
//! - `sasl.mechanism`: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`. `GSSAPI` and `OAUTHBEARER` are refused with a
//!   clear error. Java's default is `GSSAPI`, which kprod cannot do, so an unset mechanism means `PLAIN` (the
//!   mechanism the credentials below can always serve);
//! - `sasl.jaas.config`: Java's `<LoginModule class> required username="…" password="…";` ([`jaas`]); the module
//!   must match the mechanism family (`PlainLoginModule` for PLAIN, `ScramLoginModule` for SCRAM);
//! - or librdkafka's `sasl.username` / `sasl.password` (not Java keys; kprod accepts them for convenience).
//!
//! Every error names the key at fault and never contains the password.
//!
//! Files: [`sasl`] (sans-IO PLAIN and SCRAM, client and server), [`jaas`], [`tls_config`] (the errors of the
//! `ssl.*` settings). The parts that need a stream are in `kprod-producer`: `security::authenticate` (the async
//! SaslHandshake + SaslAuthenticate exchange) and `security::tls` (rustls).
//!
//! # References
//! - Java `SaslConfigs`, `JaasContext`, `org.apache.kafka.common.security.{plain,scram}` (behaviour, not code).
//! - librdkafka `CONFIGURATION.md` (`sasl.username`, `sasl.password`).

pub mod jaas;
pub mod sasl;
pub mod tls_config;

use crate::producer::config::ProducerConfig;

/// A password or other credential. `Debug` and `Display` print `[redacted]`; only [`Secret::expose`] gives the
/// value, so a secret cannot reach a log line or a report by accident.
///
/// ```
/// use kprod_proto::security::Secret;
///
/// let password = Secret::new("hunter2");
/// assert_eq!(format!("{password:?}"), "[redacted]");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it (building a SASL token, hashing a credential).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// `security.protocol`.
///
/// ```
/// use kprod_proto::security::SecurityProtocol;
///
/// let p = SecurityProtocol::parse("sasl_ssl").expect("case-insensitive");
/// assert_eq!(p, SecurityProtocol::SaslSsl);
/// assert!(p.uses_tls() && p.uses_sasl());
/// assert_eq!(p.name(), "SASL_SSL");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// `PLAINTEXT`: no TLS, no SASL.
    Plaintext,
    /// `SSL`: TLS.
    Ssl,
    /// `SASL_PLAINTEXT`: SASL without TLS.
    SaslPlaintext,
    /// `SASL_SSL`: SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses Java's names, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    /// Java's name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// True for `SSL` and `SASL_SSL`.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// True for `SASL_PLAINTEXT` and `SASL_SSL`.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

impl std::fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A SASL mechanism kprod implements.
///
/// ```
/// use kprod_proto::security::{SaslMechanism, SecurityConfigError};
///
/// assert_eq!(SaslMechanism::parse("SCRAM-SHA-512")?, SaslMechanism::ScramSha512);
/// assert!(SaslMechanism::ScramSha256.is_scram());
/// assert!(matches!(SaslMechanism::parse("GSSAPI"), Err(SecurityConfigError::UnsupportedMechanism { .. })));
/// # Ok::<(), SecurityConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SaslMechanism {
    /// Every mechanism kprod implements.
    pub const ALL: [SaslMechanism; 3] = [SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::ScramSha512];

    /// The IANA / Kafka name.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// Parses a mechanism name (exact, as Kafka compares them); names Kafka knows but kprod does not implement
    /// get an error saying so.
    pub fn parse(name: &str) -> Result<Self, SecurityConfigError> {
        match name {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            other => Err(SecurityConfigError::UnsupportedMechanism { mechanism: other.to_string() }),
        }
    }

    /// True for the SCRAM family.
    pub fn is_scram(self) -> bool {
        !matches!(self, SaslMechanism::Plain)
    }
}

impl std::fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the security settings could not be resolved. Names the key; never carries a password.
/// Why the `security.protocol` / `sasl.*` configuration cannot be used; names the key, never a password.
///
/// ```
/// use kprod_proto::producer::config::ProducerConfig;
/// use kprod_proto::security::{SaslSettings, SecurityConfigError};
///
/// let config = ProducerConfig::from_pairs([("security.protocol", "SASL_SSL"), ("sasl.mechanism", "PLAIN")])?;
/// let e = SaslSettings::from_config(&config).unwrap_err();
/// assert!(matches!(e, SecurityConfigError::MissingCredential { .. }), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityConfigError {
    /// A mechanism kprod does not implement.
    #[error(
        "sasl.mechanism={mechanism} is not supported by kprod (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; \
         GSSAPI and OAUTHBEARER are not implemented)"
    )]
    UnsupportedMechanism {
        /// The name given.
        mechanism: String,
    },
    /// A `security.protocol` Kafka does not know.
    #[error("invalid security.protocol '{0}': expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")]
    Protocol(String),
    /// `sasl.jaas.config` does not parse.
    #[error("sasl.jaas.config: {0}")]
    Jaas(#[from] jaas::JaasError),
    /// SASL without a username or password.
    #[error("security.protocol={protocol} needs credentials: set {missing}")]
    MissingCredential {
        /// The protocol.
        protocol: SecurityProtocol,
        /// The key to set.
        missing: &'static str,
    },
    /// The JAAS login module does not fit the mechanism.
    #[error("sasl.jaas.config uses {module} but sasl.mechanism={mechanism} needs {expected}")]
    ModuleMismatch {
        /// The login module.
        module: String,
        /// `sasl.mechanism`.
        mechanism: SaslMechanism,
        /// The module it needs.
        expected: &'static str,
    },
    /// Credentials given twice.
    #[error("set either sasl.jaas.config or sasl.username/sasl.password, not both")]
    Ambiguous,
    /// Any other bad value.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// SASL mechanism and credentials of one client.
///
/// ```
/// use kprod_proto::producer::config::ProducerConfig;
/// use kprod_proto::security::{SaslMechanism, SaslSettings};
///
/// let config = ProducerConfig::from_pairs([
///     ("security.protocol", "SASL_PLAINTEXT"),
///     ("sasl.mechanism", "SCRAM-SHA-256"),
///     ("sasl.jaas.config", r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3cret";"#),
/// ])?;
/// let sasl = SaslSettings::from_config(&config)?.expect("SASL is on");
/// assert_eq!((sasl.mechanism, sasl.username.as_str()), (SaslMechanism::ScramSha256, "alice"));
/// assert_eq!(sasl.password.expose(), "s3cret");
/// assert!(SaslSettings::from_config(&ProducerConfig::default())?.is_none(), "PLAINTEXT: no SASL");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// `sasl.mechanism`.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    /// The password (redacted in `Debug`).
    pub password: Secret,
}

impl SaslSettings {
    /// The SASL settings a producer config asks for: `None` when `security.protocol` uses no SASL.
    pub fn from_config(cfg: &ProducerConfig) -> Result<Option<SaslSettings>, SecurityConfigError> {
        let protocol = SecurityProtocol::parse(&cfg.security_protocol)
            .ok_or_else(|| SecurityConfigError::Protocol(cfg.security_protocol.clone()))?;
        if !protocol.uses_sasl() {
            return Ok(None);
        }
        let get = |k: &str| cfg.other.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let mechanism = match get("sasl.mechanism") {
            Some(m) => SaslMechanism::parse(m)?,
            None => SaslMechanism::Plain,
        };
        let jaas_text = get("sasl.jaas.config");
        let (user, pass) = (get("sasl.username"), get("sasl.password"));
        let (username, password) = match jaas_text {
            Some(_) if user.is_some() || pass.is_some() => return Err(SecurityConfigError::Ambiguous),
            Some(text) => {
                let entry = jaas::parse(text)?;
                let family_ok = match entry.module_kind() {
                    jaas::ModuleKind::Plain => !mechanism.is_scram(),
                    jaas::ModuleKind::Scram => mechanism.is_scram(),
                    jaas::ModuleKind::Other => false,
                };
                if !family_ok {
                    return Err(SecurityConfigError::ModuleMismatch {
                        module: entry.module.clone(),
                        mechanism,
                        expected: if mechanism.is_scram() { jaas::SCRAM_MODULE } else { jaas::PLAIN_MODULE },
                    });
                }
                let username = entry.option("username").ok_or(jaas::JaasError::MissingOption { option: "username" })?;
                let password = entry.option("password").ok_or(jaas::JaasError::MissingOption { option: "password" })?;
                (username.to_string(), Secret::new(password))
            }
            None => match (user, pass) {
                (Some(u), Some(p)) => (u.to_string(), Secret::new(p)),
                (None, _) => {
                    return Err(SecurityConfigError::MissingCredential {
                        protocol,
                        missing: "sasl.jaas.config (or sasl.username and sasl.password)",
                    });
                }
                (Some(_), None) => {
                    return Err(SecurityConfigError::MissingCredential { protocol, missing: "sasl.password" });
                }
            },
        };
        if username.is_empty() {
            return Err(SecurityConfigError::Invalid { key: "username", reason: "must not be empty".into() });
        }
        Ok(Some(SaslSettings { mechanism, username, password }))
    }
}

#[cfg(test)]
mod tests;
