//! The errors of the `ssl.*` configuration. They are plain data (key, path, reason), so they live here, beside the
//! other configuration errors that [`crate::producer::error::ConfigCause`] carries; the TLS code that raises them
//! (rustls) is in `kprod-producer`.

// Not all public items here are documented yet (issue 18): remove this allow once they are.
#![allow(missing_docs)]

use std::path::PathBuf;

/// Largest truststore / keystore file read (a PEM bundle of every public CA is ~250 KiB).
pub const STORE_FILE_BYTES_MAX: u64 = 16 << 20;

/// Why the `ssl.*` configuration cannot be used. Every variant names the key (and file); none carries key
/// material or a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    #[error("cannot read {key}={}: {source}", path.display())]
    Io { key: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{key}={}: file is {size} bytes, more than the {STORE_FILE_BYTES_MAX} bytes a PEM store may have", path.display())]
    TooLarge { key: &'static str, path: PathBuf, size: u64 },
    #[error("{key}{}: {reason}", path.as_ref().map(|p| format!("={}", p.display())).unwrap_or_default())]
    BadPem { key: &'static str, path: Option<PathBuf>, reason: String },
    #[error(
        "{key}={value} is not supported: kprod reads PEM stores only; convert it (e.g. `keytool -exportcert -rfc` or \
         `openssl pkcs12 -in store.p12 -out store.pem`) and set {key}=PEM"
    )]
    UnsupportedStoreType { key: &'static str, value: String },
    #[error("invalid value '{value}' for {key}: expected {expected}")]
    BadValue { key: &'static str, value: String, expected: String },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "the private key in {source_name} is encrypted (ssl.key.password): encrypted PEM keys are not supported; \
         decrypt it first (`openssl pkcs8 -topk8 -nocrypt -in key.pem`) and keep the file private"
    )]
    EncryptedKey { source_name: String },
    #[error("no system CA certificates could be loaded ({reason}); set ssl.truststore.location to a PEM file")]
    NoSystemRoots { reason: String },
    #[error("{what}: {reason}")]
    Rustls { what: String, reason: String },
}
