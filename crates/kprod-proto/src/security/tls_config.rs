//! The errors of the `ssl.*` configuration. They are plain data (key, path, reason), so they live here, beside the
//! other configuration errors that [`crate::producer::error::ConfigCause`] carries; the TLS code that raises them
//! (rustls) is in `kprod-producer`.

use std::path::PathBuf;

/// Largest truststore / keystore file read (a PEM bundle of every public CA is ~250 KiB).
pub const STORE_FILE_BYTES_MAX: u64 = 16 << 20;

/// Why the `ssl.*` configuration cannot be used. Every variant names the key (and file); none carries key
/// material or a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A store file cannot be read.
    #[error("cannot read {key}={}: {source}", path.display())]
    Io {
        /// The `ssl.*` key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A store file larger than [`STORE_FILE_BYTES_MAX`].
    #[error("{key}={}: file is {size} bytes, more than the {STORE_FILE_BYTES_MAX} bytes a PEM store may have", path.display())]
    TooLarge {
        /// The `ssl.*` key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Its size, in bytes.
        size: u64,
    },
    /// PEM that does not parse, or holds nothing usable.
    #[error("{key}{}: {reason}", path.as_ref().map(|p| format!("={}", p.display())).unwrap_or_default())]
    BadPem {
        /// The `ssl.*` key.
        key: &'static str,
        /// The file, when the PEM came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// A JKS or PKCS12 store type (only PEM is read).
    #[error(
        "{key}={value} is not supported: kprod reads PEM stores only; convert it (e.g. `keytool -exportcert -rfc` or \
         `openssl pkcs12 -in store.p12 -out store.pem`) and set {key}=PEM"
    )]
    UnsupportedStoreType {
        /// The `*.type` key.
        key: &'static str,
        /// The type given.
        value: String,
    },
    /// A value the key does not accept.
    #[error("invalid value '{value}' for {key}: expected {expected}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What it takes.
        expected: String,
    },
    /// Settings that contradict each other; the text names them.
    #[error("{0}")]
    Conflict(String),
    /// An encrypted private key (`ssl.key.password`), which is not supported.
    #[error(
        "the private key in {source_name} is encrypted (ssl.key.password): encrypted PEM keys are not supported; \
         decrypt it first (`openssl pkcs8 -topk8 -nocrypt -in key.pem`) and keep the file private"
    )]
    EncryptedKey {
        /// Where the key came from.
        source_name: String,
    },
    /// No truststore given and no system CA could be loaded.
    #[error("no system CA certificates could be loaded ({reason}); set ssl.truststore.location to a PEM file")]
    NoSystemRoots {
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("{what}: {reason}")]
    Rustls {
        /// What was being built.
        what: String,
        /// rustls's error.
        reason: String,
    },
}
