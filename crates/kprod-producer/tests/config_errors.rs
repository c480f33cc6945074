//! A caller tells configuration failures apart by type, not by parsing messages: `ProducerError::Config` carries a
//! `ConfigCause` whose variants hold the typed error of the part that refused the configuration.

use std::error::Error as _;

use kprod_producer::producer::config::ConfigError;
use kprod_producer::producer::error::ConfigCause;
use kprod_producer::producer::{Producer, ProducerConfig, ProducerError};
use kprod_producer::security::SecurityConfigError;
use kprod_producer::security::tls::TlsConfigError;

/// What an application does: read its settings, build the producer, propagate every error with `?`.
fn build(pairs: &[(&str, &str)]) -> Result<Producer, ProducerError> {
    let mut all = vec![("bootstrap.servers", "127.0.0.1:9")];
    all.extend_from_slice(pairs);
    let config = ProducerConfig::from_pairs(all)?;
    Producer::new(config)
}

#[tokio::test]
async fn an_unknown_key_is_a_typed_config_error() {
    let err = build(&[("lingr.ms", "5")]).unwrap_err();
    match &err {
        ProducerError::Config(ConfigCause::Producer(e)) => match &**e {
            ConfigError::UnknownKey { key, suggestion } => {
                assert_eq!(key, "lingr.ms");
                assert_eq!(suggestion.as_deref(), Some("linger.ms"));
            }
            other => panic!("expected UnknownKey, got {other:?}"),
        },
        other => panic!("expected a producer config error, got {other:?}"),
    }
    // The message users see is unchanged.
    assert!(err.to_string().starts_with("invalid configuration: unknown producer config 'lingr.ms'"), "{err}");
}

#[tokio::test]
async fn a_missing_certificate_file_is_a_typed_tls_error_with_the_io_cause() {
    let missing = std::env::temp_dir().join("kprod-no-such-dir-18/ca.pem");
    let missing = missing.to_str().unwrap();
    let err =
        build(&[("security.protocol", "SSL"), ("ssl.truststore.location", missing), ("ssl.truststore.type", "PEM")])
            .unwrap_err();
    let ProducerError::Config(ConfigCause::Tls(tls)) = &err else { panic!("expected a TLS config error, got {err:?}") };
    let TlsConfigError::Io { key, path, source } = &**tls else { panic!("expected TlsConfigError::Io, got {tls:?}") };
    assert_eq!(*key, "ssl.truststore.location");
    assert_eq!(path.to_str(), Some(missing));
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    // The standard error chain reaches the io::Error too (for callers that only see `dyn Error`).
    let mut cause = err.source();
    let mut found_io = false;
    while let Some(c) = cause {
        found_io |= c.downcast_ref::<std::io::Error>().is_some();
        cause = c.source();
    }
    assert!(found_io, "the io::Error is in the source chain of {err}");
    assert!(err.to_string().contains("ssl.truststore.location"), "{err}");
}

#[tokio::test]
async fn sasl_and_partitioner_failures_keep_their_types() {
    let err = build(&[("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "GSSAPI")]).unwrap_err();
    assert!(
        matches!(
            &err,
            ProducerError::Config(ConfigCause::Security(SecurityConfigError::UnsupportedMechanism { mechanism }))
                if mechanism == "GSSAPI"
        ),
        "{err:?}"
    );

    let err = build(&[("partitioner.class", "com.example.NoSuchPartitioner")]).unwrap_err();
    let ProducerError::Config(ConfigCause::Partitioner(p)) = &err else {
        panic!("expected a partitioner error: {err:?}")
    };
    assert_eq!(p.name, "com.example.NoSuchPartitioner");
}
