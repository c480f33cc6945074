//! TLS for the producer (and the Fetch-based verifier): Java's `ssl.*` keys turned into one shared
//! `rustls::ClientConfig` (ring provider), the handshake, and handshake errors that say what did not match.
//!
//! Supported keys (Java names, Kafka 4.x semantics):
//!
//! | key | kprod |
//! |---|---|
//! | `ssl.truststore.location` + `ssl.truststore.type` | `PEM`: one or more `CERTIFICATE` blocks. JKS / PKCS12 → an error asking for PEM. With no type set the file is sniffed: PEM text is accepted. |
//! | `ssl.truststore.certificates` | inline PEM certificates (Java requires type PEM; so do we if a type is set) |
//! | neither | the system roots (`rustls-native-certs`) |
//! | `ssl.keystore.location` + `ssl.keystore.type=PEM` | mutual TLS: certificate chain + private key in one PEM file |
//! | `ssl.keystore.certificate.chain` + `ssl.keystore.key` | the same, inline |
//! | `ssl.key.password` | encrypted PEM keys are **not** supported: an encrypted key is refused with a clear error |
//! | `ssl.endpoint.identification.algorithm` | `https` (default): the broker's certificate must name the host (IP addresses as IP SANs); empty: the chain is still verified, the name is not |
//! | `ssl.enabled.protocols` / `ssl.protocol` | `TLSv1.2`, `TLSv1.3` (rustls supports nothing older) |
//!
//! Ignored with a warning: `ssl.cipher.suites` (rustls's safe defaults apply), `ssl.provider`,
//! `ssl.keymanager.algorithm`, `ssl.trustmanager.algorithm`, `ssl.secure.random.implementation`.
//!
//! The config is built once per producer ([`TlsSettings::from_config`]) and shared (`Arc`) by every connection.
//! Errors name the key and the file, never key material or passwords.
//!
//! # References
//! - Kafka `SslConfigs`, `DefaultSslEngineFactory` (PEM stores: KIP-651), `SslFactory`.
//! - RFC 8446 (TLS 1.3), RFC 6125 (service identity), RFC 5280 (certificate paths).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::producer::config::ProducerConfig;

pub use kprod_proto::security::tls_config::{STORE_FILE_BYTES_MAX, TlsConfigError};

/// Why a TLS handshake failed: what did not match, in words, and the error the socket reported (rustls's
/// `rustls::Error` is inside it when TLS refused).
///
/// ```
/// use kprod_producer::producer::ProducerConfig;
/// use kprod_producer::security::tls::TlsSettings;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A PLAINTEXT listener: the handshake cannot succeed.
/// let cluster = kprod_mock::MockCluster::builder().start().await?;
/// let config = ProducerConfig::from_pairs([("security.protocol", "SSL")])?;
/// let tls = TlsSettings::from_config(&config)?.expect("SSL runs TLS");
/// let tcp = tokio::net::TcpStream::connect(cluster.addresses()[0]).await?;
/// let e = tls.handshake("localhost", tcp).await.unwrap_err();
/// assert!(e.cause.is_some(), "the socket's error is kept");
/// assert!(e.reason.contains("not TLS"), "{}", e.reason);
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TlsHandshakeError {
    /// What did not match (unknown issuer, the names the certificate is valid for, ...), for the user.
    pub reason: String,
    /// The underlying error; `None` when the handshake did not start (an invalid server name).
    pub cause: Option<std::io::Error>,
}

impl std::fmt::Display for TlsHandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for TlsHandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|e| e as _)
    }
}

/// The TLS side of a producer's configuration: one `ClientConfig`, shared by every connection.
///
/// ```
/// use kprod_producer::producer::ProducerConfig;
/// use kprod_producer::security::tls::TlsSettings;
/// use kprod_mock::{MockCluster, MockTls};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = MockCluster::builder().tls(MockTls::generated()).start().await?;
/// let ca = cluster.tls_ca_pem().expect("a generated CA");
/// let plain = ProducerConfig::from_pairs([("security.protocol", "PLAINTEXT")])?;
/// assert!(TlsSettings::from_config(&plain)?.is_none(), "no TLS for PLAINTEXT");
/// let config = ProducerConfig::from_pairs([("security.protocol", "SSL"), ("ssl.truststore.certificates", ca)])?;
/// let tls = TlsSettings::from_config(&config)?.expect("SSL runs TLS");
/// assert!(tls.verifies_hostname(), "Kafka's default: https");
/// let tcp = tokio::net::TcpStream::connect(cluster.addresses()[0]).await?;
/// tls.handshake("localhost", tcp).await?; // the mock's certificate names localhost
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<ClientConfig>,
    /// Where the trusted CAs come from, for error messages ("system roots", "ssl.truststore.location=/x.pem").
    trust_source: Arc<str>,
    /// `ssl.endpoint.identification.algorithm=https`.
    verify_hostname: bool,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("trust_source", &self.trust_source)
            .field("verify_hostname", &self.verify_hostname)
            .field("client_auth", &self.config.client_auth_cert_resolver.has_certs())
            .finish()
    }
}

/// `security.protocol` values that run TLS.
pub fn uses_tls(security_protocol: &str) -> bool {
    security_protocol.eq_ignore_ascii_case("SSL") || security_protocol.eq_ignore_ascii_case("SASL_SSL")
}

impl TlsSettings {
    /// `Some` when `security.protocol` is `SSL` or `SASL_SSL`: reads the stores and builds the client config.
    pub fn from_config(config: &ProducerConfig) -> Result<Option<TlsSettings>, TlsConfigError> {
        if !uses_tls(&config.security_protocol) {
            return Ok(None);
        }
        let get = |k: &str| config.other.get(k).map(String::as_str);
        for ignored in [
            "ssl.cipher.suites",
            "ssl.provider",
            "ssl.keymanager.algorithm",
            "ssl.trustmanager.algorithm",
            "ssl.secure.random.implementation",
            "ssl.engine.factory.class",
        ] {
            if get(ignored).is_some_and(|v| !v.is_empty()) {
                tracing::warn!("{ignored} is ignored: rustls's defaults apply");
            }
        }
        let (roots, trust_source) = load_roots(&get)?;
        let verify_hostname = match get("ssl.endpoint.identification.algorithm").map(str::trim) {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("https") => true,
            Some("") => false,
            Some(v) => {
                return Err(TlsConfigError::BadValue {
                    key: "ssl.endpoint.identification.algorithm",
                    value: v.to_string(),
                    expected: "https, or empty to disable hostname verification".into(),
                });
            }
        };
        let versions = protocol_versions(&get)?;
        let identity = load_identity(&get)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().map_err(|e| {
                TlsConfigError::Rustls { what: format!("trusted CAs ({trust_source})"), reason: e.to_string() }
            })?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| TlsConfigError::Rustls { what: "ssl.enabled.protocols".into(), reason: e.to_string() })?;
        let builder = if verify_hostname {
            builder.with_webpki_verifier(webpki)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier(webpki)))
        };
        let client = match identity {
            None => builder.with_no_client_auth(),
            Some((chain, key, source_name)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                TlsConfigError::Rustls { what: format!("client certificate ({source_name})"), reason: e.to_string() }
            })?,
        };
        Ok(Some(TlsSettings { config: Arc::new(client), trust_source: trust_source.into(), verify_hostname }))
    }

    /// The shared rustls config.
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Where the trusted CAs come from, as shown in errors.
    pub fn trust_source(&self) -> &str {
        &self.trust_source
    }

    /// Whether the broker's certificate must name the host (`ssl.endpoint.identification.algorithm=https`).
    pub fn verifies_hostname(&self) -> bool {
        self.verify_hostname
    }

    /// Runs the TLS handshake on `tcp` with `host` as SNI and the name to verify. Errors are one-line reasons
    /// (what did not match), meant for `ProducerError::Tls`.
    pub async fn handshake(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TlsHandshakeError> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| TlsHandshakeError {
            reason: format!("'{host}' is not a valid TLS server name: {e}"),
            cause: None,
        })?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| TlsHandshakeError { reason: self.describe_io_error(&e, host, true), cause: Some(e) })
    }

    /// One-line description of a TLS failure surfaced as an `io::Error` (by the handshake, or by the first read
    /// after it: TLS 1.3 servers refuse a client certificate only after the client has finished).
    pub fn describe_io_error(&self, e: &std::io::Error, host: &str, during_handshake: bool) -> String {
        if let Some(tls) = rustls_error(e) {
            return describe_tls_error(tls, host, &self.trust_source);
        }
        if during_handshake && e.kind() == std::io::ErrorKind::UnexpectedEof {
            return "the broker closed the connection during the TLS handshake: the listener is probably not TLS \
                    (security.protocol=PLAINTEXT?) or it refused the handshake"
                .into();
        }
        e.to_string()
    }
}

/// The rustls error inside an `io::Error` from tokio-rustls, if that is what it carries.
pub fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// What did not match, in words a Kafka user can act on.
pub fn describe_tls_error(e: &rustls::Error, host: &str, trust_source: &str) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => describe_certificate_error(c, host, trust_source),
        E::AlertReceived(AlertDescription::CertificateRequired) => {
            "the broker requires a client certificate (mutual TLS, ssl.client.auth=required): set \
             ssl.keystore.location (PEM) or ssl.keystore.certificate.chain + ssl.keystore.key"
                .into()
        }
        E::AlertReceived(
            a @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::UnsupportedCertificate),
        ) => {
            format!("the broker rejected our client certificate (alert {a:?}): is it signed by a CA the broker trusts?")
        }
        E::AlertReceived(AlertDescription::ProtocolVersion) => {
            "the broker refused the TLS version: check ssl.enabled.protocols (TLSv1.2, TLSv1.3)".into()
        }
        E::AlertReceived(a) => format!("the broker refused the handshake (alert {a:?})"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            format!(
                "the broker did not answer with TLS ({e}): is the listener PLAINTEXT (security.protocol=PLAINTEXT)?"
            )
        }
        E::PeerIncompatible(p) => format!("no common TLS parameters with the broker: {p:?}"),
        other => other.to_string(),
    }
}

fn describe_certificate_error(c: &CertificateError, host: &str, trust_source: &str) -> String {
    match c {
        CertificateError::UnknownIssuer => format!(
            "certificate is not trusted: unknown issuer (trusted CAs: {trust_source}); set ssl.truststore.location \
             to a PEM file with the broker's CA"
        ),
        CertificateError::NotValidForNameContext { presented, .. } => format!(
            "certificate is valid for [{}], not for {host} (ssl.endpoint.identification.algorithm=https; set it \
             empty to skip the hostname check)",
            presented.iter().map(|n| plain_name(n)).collect::<Vec<_>>().join(", ")
        ),
        CertificateError::NotValidForName => format!("certificate is not valid for {host}"),
        CertificateError::ExpiredContext { time, not_after } => format!(
            "certificate expired {} s ago (notAfter {} UTC)",
            time.as_secs().saturating_sub(not_after.as_secs()),
            utc_date(not_after.as_secs())
        ),
        CertificateError::Expired => "certificate has expired".into(),
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("certificate is not valid yet (notBefore {} UTC): check the clocks", utc_date(not_before.as_secs()))
        }
        CertificateError::NotValidYet => "certificate is not valid yet: check the clocks".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate is not for server authentication (extended key usage)".into()
        }
        CertificateError::Revoked => "certificate is revoked".into(),
        CertificateError::BadSignature => "certificate signature is invalid".into(),
        other => format!("invalid certificate: {other}"),
    }
}

/// `example.com` from webpki's `DnsName("example.com")`, `127.0.0.1` from `IpAddress(127.0.0.1)`; other forms as
/// they come.
fn plain_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| presented.strip_prefix("IpAddress(").and_then(|r| r.strip_suffix(')')))
        .unwrap_or(presented)
}

/// `YYYY-MM-DD hh:mm:ss` of a UNIX time (proleptic Gregorian), for certificate dates in errors.
fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (the era algorithm, 400-year cycles of 146097 days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Verifies the chain (trusted issuer, validity dates, key usage, signatures) but not the name: Java's empty
/// `ssl.endpoint.identification.algorithm`. Disabling the name check must not disable trust — a verifier that
/// accepted any certificate would let anyone on the path impersonate the broker. rustls's webpki verifier checks the
/// chain first and the name last, so the only error we forgive, `NotValidForName`, is reached only for a chain
/// that already verified.
#[derive(Debug)]
struct ChainOnlyVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

// ---------------------------------------------------------------------------------------------- stores

type Getter<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

/// The store type: PEM, or an error for JKS/PKCS12. Unset (Java's default is JKS) → sniff the content.
fn check_store_type(key: &'static str, value: Option<&str>, content: Option<&[u8]>) -> Result<(), TlsConfigError> {
    match value.map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("PEM") => Ok(()),
        Some(v) if !v.is_empty() => Err(TlsConfigError::UnsupportedStoreType { key, value: v.to_string() }),
        _ => match content {
            Some(bytes) if !looks_like_pem(bytes) => Err(TlsConfigError::UnsupportedStoreType {
                key,
                value: "JKS (the default; the file is not PEM)".into(),
            }),
            _ => Ok(()),
        },
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fn read_store(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    let io = |source| TlsConfigError::Io { key, path: path.to_path_buf(), source };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > STORE_FILE_BYTES_MAX {
        return Err(TlsConfigError::TooLarge { key, path: path.to_path_buf(), size });
    }
    std::fs::read(path).map_err(io)
}

/// A PEM parse error in words that never quote the input (it may be a private key).
fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as P;
    match e {
        P::MissingSectionEnd { .. } => "a PEM block has no END line".into(),
        P::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        P::Base64Decode(_) => "a PEM block is not valid base64".into(),
        P::NoItemsFound => "no PEM block of the expected kind".into(),
        P::SectionTooLarge => "a PEM block is too large".into(),
        _ => "unreadable PEM".into(),
    }
}

/// Every CERTIFICATE block of `pem`; at least one.
pub fn parse_certificates(
    key: &'static str,
    path: Option<&Path>,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bad = |reason: String| TlsConfigError::BadPem { key, path: path.map(Path::to_path_buf), reason };
    let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| bad(pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(bad("no -----BEGIN CERTIFICATE----- block found".into()));
    }
    Ok(certs)
}

fn load_roots(get: &Getter<'_>) -> Result<(RootCertStore, String), TlsConfigError> {
    let location = get("ssl.truststore.location").filter(|v| !v.trim().is_empty());
    let inline = get("ssl.truststore.certificates").filter(|v| !v.trim().is_empty());
    let store_type = get("ssl.truststore.type");
    let (certs, source) = match (location, inline) {
        (Some(_), Some(_)) => {
            return Err(TlsConfigError::Conflict(
                "set either ssl.truststore.location or ssl.truststore.certificates, not both".into(),
            ));
        }
        (Some(loc), None) => {
            let path = Path::new(loc.trim());
            let bytes = read_store("ssl.truststore.location", path)?;
            check_store_type("ssl.truststore.type", store_type, Some(&bytes))?;
            let certs = parse_certificates("ssl.truststore.location", Some(path), &bytes)?;
            (certs, format!("ssl.truststore.location={}", path.display()))
        }
        (None, Some(pem)) => {
            check_store_type("ssl.truststore.type", store_type, None)?;
            let certs = parse_certificates("ssl.truststore.certificates", None, pem.as_bytes())?;
            (certs, "ssl.truststore.certificates".to_string())
        }
        (None, None) => return system_roots(),
    };
    let mut roots = RootCertStore::empty();
    for (i, c) in certs.into_iter().enumerate() {
        roots.add(c).map_err(|e| TlsConfigError::BadPem {
            key: if location.is_some() { "ssl.truststore.location" } else { "ssl.truststore.certificates" },
            path: location.map(|l| PathBuf::from(l.trim())),
            reason: format!("certificate #{} is not a usable CA certificate: {e}", i + 1),
        })?;
    }
    Ok((roots, source))
}

fn system_roots() -> Result<(RootCertStore, String), TlsConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let reason = found.errors.first().map(|e| e.to_string()).unwrap_or_else(|| "none found".into());
        return Err(TlsConfigError::NoSystemRoots { reason });
    }
    Ok((roots, format!("the {added} system root CAs")))
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String);

/// The client certificate chain and key for mutual TLS, if configured.
fn load_identity(get: &Getter<'_>) -> Result<Option<Identity>, TlsConfigError> {
    let location = get("ssl.keystore.location").filter(|v| !v.trim().is_empty());
    let chain = get("ssl.keystore.certificate.chain").filter(|v| !v.trim().is_empty());
    let key = get("ssl.keystore.key").filter(|v| !v.trim().is_empty());
    let store_type = get("ssl.keystore.type");
    match (location, chain, key) {
        (None, None, None) => Ok(None),
        (Some(loc), None, None) => {
            let path = Path::new(loc.trim());
            let bytes = read_store("ssl.keystore.location", path)?;
            check_store_type("ssl.keystore.type", store_type, Some(&bytes))?;
            let source_name = format!("ssl.keystore.location={}", path.display());
            let certs = parse_certificates("ssl.keystore.location", Some(path), &bytes)?;
            let key = parse_key("ssl.keystore.location", Some(path), &bytes, &source_name)?;
            Ok(Some((certs, key, source_name)))
        }
        (None, Some(chain), Some(key)) => {
            check_store_type("ssl.keystore.type", store_type, None)?;
            let certs = parse_certificates("ssl.keystore.certificate.chain", None, chain.as_bytes())?;
            let key = parse_key("ssl.keystore.key", None, key.as_bytes(), "ssl.keystore.key")?;
            Ok(Some((certs, key, "ssl.keystore.certificate.chain + ssl.keystore.key".into())))
        }
        (None, _, _) => Err(TlsConfigError::Conflict(
            "ssl.keystore.certificate.chain and ssl.keystore.key must be set together".into(),
        )),
        (Some(_), _, _) => Err(TlsConfigError::Conflict(
            "set either ssl.keystore.location or ssl.keystore.certificate.chain + ssl.keystore.key, not both".into(),
        )),
    }
}

fn parse_key(
    key: &'static str,
    path: Option<&Path>,
    pem: &[u8],
    source_name: &str,
) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsConfigError::EncryptedKey { source_name: source_name.to_string() });
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsConfigError::BadPem {
        key,
        path: path.map(Path::to_path_buf),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key found (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)".into()
            }
            other => pem_reason(&other),
        },
    })
}

/// `ssl.enabled.protocols` (default TLSv1.2,TLSv1.3), capped by `ssl.protocol=TLSv1.2` when the enabled list
/// was not given (Java's TLSv1.2 `SSLContext` offers nothing newer).
fn protocol_versions(get: &Getter<'_>) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsConfigError> {
    let protocol = get("ssl.protocol").map(str::trim).unwrap_or("TLSv1.3");
    let protocol_cap_12 = match protocol {
        "TLSv1.3" | "TLS" | "" => false,
        "TLSv1.2" => true,
        other => {
            return Err(TlsConfigError::BadValue {
                key: "ssl.protocol",
                value: other.to_string(),
                expected: "TLSv1.3, TLSv1.2 or TLS (rustls supports nothing older)".into(),
            });
        }
    };
    let enabled = get("ssl.enabled.protocols");
    let list = enabled.unwrap_or(if protocol_cap_12 { "TLSv1.2" } else { "TLSv1.2,TLSv1.3" });
    let mut versions = Vec::new();
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p {
            "TLSv1.3" => versions.push(&rustls::version::TLS13),
            "TLSv1.2" => versions.push(&rustls::version::TLS12),
            "TLSv1.1" | "TLSv1" | "SSLv3" => tracing::warn!("ssl.enabled.protocols: {p} is not supported, skipped"),
            other => {
                return Err(TlsConfigError::BadValue {
                    key: "ssl.enabled.protocols",
                    value: other.to_string(),
                    expected: "a list of TLSv1.2, TLSv1.3".into(),
                });
            }
        }
    }
    if versions.is_empty() {
        return Err(TlsConfigError::BadValue {
            key: "ssl.enabled.protocols",
            value: list.to_string(),
            expected: "at least one of TLSv1.2, TLSv1.3 (rustls supports nothing older)".into(),
        });
    }
    Ok(versions)
}

/// The host part of `host:port` / `[v6]:port`, for SNI and name verification.
pub fn host_of(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    address.rsplit_once(':').map_or(address, |(h, _)| h)
}

// ---------------------------------------------------------------------------------------------- streams

/// A client socket, plain or TLS: for code that wants one type for both (the verifier). The producer's
/// connection keeps concrete types so PLAINTEXT pays nothing.
///
/// ```
/// use kprod_producer::security::tls::MaybeTlsStream;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = kprod_mock::MockCluster::builder().start().await?;
/// let mut s = MaybeTlsStream::Plain(tokio::net::TcpStream::connect(cluster.addresses()[0]).await?);
/// // A frame longer than the broker accepts: it closes the connection, and the read sees the end.
/// s.write_all(&i32::MAX.to_be_bytes()).await?;
/// let mut buf = [0u8; 1];
/// assert_eq!(s.read(&mut buf).await.unwrap_or(0), 0);
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// `PLAINTEXT` / `SASL_PLAINTEXT`.
    Plain(TcpStream),
    /// `SSL` / `SASL_SSL`, after the handshake.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            MaybeTlsStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            MaybeTlsStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            MaybeTlsStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            MaybeTlsStream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
