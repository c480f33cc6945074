//! TLS for the mock broker: a server identity (given as PEM, or generated at start: a throw-away CA and a
//! certificate for `localhost` and `127.0.0.1`), optionally requiring client certificates (mutual TLS).
//!
//! Nothing here is ever written to the repository: generated keys live in memory; `kprod broker --tls-ca-out`
//! writes only the CA *certificate*, which clients need to trust the broker.
//!
//! [`CertificateAuthority`] also issues certificates for tests (a client certificate for mTLS, a server
//! certificate for the wrong name, an expired one).
//!
//! # References
//! - RFC 5280 (certificates, extended key usage), RFC 8446 (TLS 1.3 `certificate_required`).

use std::fmt;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use super::BrokerError;

/// Names of the generated server certificate: what a client on this machine dials.
pub const GENERATED_SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// A certificate and its private key, as PEM. `Debug` never shows the key.
///
/// ```
/// use kprod_mock::{CertificateAuthority, MockCluster, MockTls, TlsIdentity};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ca = CertificateAuthority::generate("doc CA")?;
/// let identity: TlsIdentity = ca.issue(&["localhost"])?;
/// assert!(identity.cert_chain_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// let cluster = MockCluster::builder().tls(MockTls::with_identity(identity)).start().await?;
/// assert!(cluster.is_tls());
/// assert!(cluster.tls_ca_pem().is_none(), "the identity was given: clients trust `ca.cert_pem()`");
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsIdentity {
    /// The leaf certificate first, then any intermediates.
    pub cert_chain_pem: String,
    /// PKCS#8 private key.
    pub key_pem: String,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_chain_pem", &self.cert_chain_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    /// The chain followed by the key in one PEM text: the `ssl.keystore.type=PEM` file layout.
    pub fn keystore_pem(&self) -> String {
        format!("{}{}", self.cert_chain_pem, self.key_pem)
    }
}

/// A throw-away certificate authority (ECDSA P-256), generated in memory.
///
/// ```
/// use kprod_mock::{CertificateAuthority, MockCluster, MockTls, TlsIdentity};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ca = CertificateAuthority::generate("doc CA")?;
/// let identity: TlsIdentity = ca.issue(&["localhost"])?;
/// assert!(identity.cert_chain_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// let cluster = MockCluster::builder().tls(MockTls::with_identity(identity)).start().await?;
/// assert!(cluster.is_tls());
/// assert!(cluster.tls_ca_pem().is_none(), "the identity was given: clients trust `ca.cert_pem()`");
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

fn rcgen_err(what: &str) -> impl Fn(rcgen::Error) -> BrokerError + '_ {
    move |e| BrokerError::Config(format!("TLS: cannot generate {what}: {e}"))
}

impl CertificateAuthority {
    /// A new CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, BrokerError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err("the CA"))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(rcgen_err("the CA key"))?;
        let cert = params.self_signed(&key).map_err(rcgen_err("the CA certificate"))?;
        Ok(CertificateAuthority { cert_pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    /// The CA certificate, PEM: what clients put in `ssl.truststore.*`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate for `names` (DNS names or IP addresses; both server and client use), valid from 1975 to 4096.
    pub fn issue(&self, names: &[&str]) -> Result<TlsIdentity, BrokerError> {
        self.issue_inner(names, false)
    }

    /// A certificate for `names` that expired on 2001-01-01 (for tests of expiry errors).
    pub fn issue_expired(&self, names: &[&str]) -> Result<TlsIdentity, BrokerError> {
        self.issue_inner(names, true)
    }

    fn issue_inner(&self, names: &[&str], expired: bool) -> Result<TlsIdentity, BrokerError> {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(rcgen_err("a certificate"))?;
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("kprod"));
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().map_err(rcgen_err("a certificate key"))?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_err("a certificate"))?;
        Ok(TlsIdentity { cert_chain_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// The TLS option of a mock cluster.
///
/// ```
/// use kprod_mock::{CertificateAuthority, MockCluster, MockTls, TlsIdentity};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ca = CertificateAuthority::generate("doc CA")?;
/// let identity: TlsIdentity = ca.issue(&["localhost"])?;
/// assert!(identity.cert_chain_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// let cluster = MockCluster::builder().tls(MockTls::with_identity(identity)).start().await?;
/// assert!(cluster.is_tls());
/// assert!(cluster.tls_ca_pem().is_none(), "the identity was given: clients trust `ca.cert_pem()`");
/// cluster.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MockTls {
    /// `None`: generate a CA and a certificate for [`GENERATED_SERVER_NAMES`] at start.
    identity: Option<TlsIdentity>,
    /// `Some`: every client must present a certificate signed by this CA (PEM).
    client_ca_pem: Option<String>,
}

impl MockTls {
    /// A generated CA and server certificate for `localhost` / `127.0.0.1`; read the CA with
    /// `MockCluster::tls_ca_pem`.
    pub fn generated() -> Self {
        MockTls::default()
    }

    /// Serve this certificate chain and key.
    pub fn with_identity(identity: TlsIdentity) -> Self {
        MockTls { identity: Some(identity), client_ca_pem: None }
    }

    /// Require client certificates signed by the CA in `ca_pem` (Kafka's `ssl.client.auth=required`).
    pub fn require_client_cert(mut self, ca_pem: impl Into<String>) -> Self {
        self.client_ca_pem = Some(ca_pem.into());
        self
    }
}

/// What a started cluster keeps: the acceptor every broker uses, and the generated CA (if any).
#[derive(Clone)]
pub(crate) struct BrokerTls {
    pub acceptor: TlsAcceptor,
    pub generated_ca: Option<Arc<CertificateAuthority>>,
}

impl fmt::Debug for BrokerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerTls").field("generated_ca", &self.generated_ca.is_some()).finish_non_exhaustive()
    }
}

impl MockTls {
    /// Builds the server config (generating the CA and certificate if asked).
    pub(crate) fn build(&self) -> Result<BrokerTls, BrokerError> {
        let (identity, generated_ca) = match &self.identity {
            Some(i) => (i.clone(), None),
            None => {
                let ca = CertificateAuthority::generate("kprod mock broker CA")?;
                (ca.issue(GENERATED_SERVER_NAMES)?, Some(Arc::new(ca)))
            }
        };
        let bad = |what: &str, e: &dyn fmt::Display| BrokerError::Config(format!("TLS: {what}: {e}"));
        let chain = CertificateDer::pem_slice_iter(identity.cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("server certificate chain is not valid PEM", &e))?;
        if chain.is_empty() {
            return Err(BrokerError::Config("TLS: the server certificate chain has no CERTIFICATE block".into()));
        }
        // The key's own parse error could quote nothing secret, but keep the message generic anyway.
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
            .map_err(|_| BrokerError::Config("TLS: the server private key is not a PEM private key".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| bad("protocol versions", &e))?;
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(ca_pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                    roots
                        .add(c.map_err(|e| bad("client CA is not valid PEM", &e))?)
                        .map_err(|e| bad("client CA", &e))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| bad("client CA", &e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| bad("server certificate and key", &e))?;
        Ok(BrokerTls { acceptor: TlsAcceptor::from(Arc::new(config)), generated_ca })
    }
}
