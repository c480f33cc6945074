//! Unit tests of the `ssl.*` parsing: stores, errors naming the key and file, versions, hostname option.

use super::*;
use kprod_mock::CertificateAuthority;

fn cfg(pairs: &[(&str, &str)]) -> ProducerConfig {
    let mut all = vec![("bootstrap.servers", "localhost:9092")];
    all.extend_from_slice(pairs);
    ProducerConfig::from_pairs(all).expect("valid producer config")
}

fn err(pairs: &[(&str, &str)]) -> String {
    match TlsSettings::from_config(&cfg(pairs)) {
        Ok(s) => panic!("{pairs:?}: expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

fn temp(tag: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("kprod-tls-unit-{tag}-{}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn plaintext_and_sasl_plaintext_have_no_tls() {
    for proto in ["PLAINTEXT", "SASL_PLAINTEXT"] {
        assert!(TlsSettings::from_config(&cfg(&[("security.protocol", proto)])).unwrap().is_none(), "{proto}");
    }
    assert!(uses_tls("ssl") && uses_tls("SASL_SSL") && !uses_tls("PLAINTEXT"));
}

#[test]
fn inline_and_file_truststores_are_read() {
    let ca = CertificateAuthority::generate("unit CA").unwrap();
    let s =
        TlsSettings::from_config(&cfg(&[("security.protocol", "SSL"), ("ssl.truststore.certificates", ca.cert_pem())]))
            .unwrap()
            .unwrap();
    assert_eq!(s.trust_source(), "ssl.truststore.certificates");
    assert!(s.verifies_hostname());
    // Two CAs in one file, type unset (Java's default JKS): the PEM content is sniffed and accepted.
    let other = CertificateAuthority::generate("unit CA 2").unwrap();
    let path = temp("two-cas.pem", format!("{}{}", ca.cert_pem(), other.cert_pem()).as_bytes());
    let loc = path.to_str().unwrap();
    let s = TlsSettings::from_config(&cfg(&[("security.protocol", "SASL_SSL"), ("ssl.truststore.location", loc)]))
        .unwrap()
        .unwrap();
    assert_eq!(s.trust_source(), format!("ssl.truststore.location={loc}"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn missing_truststore_file_names_the_key_and_the_file() {
    let e = err(&[("security.protocol", "SSL"), ("ssl.truststore.location", "/nonexistent/ca.pem")]);
    assert!(e.contains("ssl.truststore.location=/nonexistent/ca.pem"), "{e}");
    let e = err(&[("security.protocol", "SSL"), ("ssl.keystore.location", "/nonexistent/ks.pem")]);
    assert!(e.contains("ssl.keystore.location=/nonexistent/ks.pem"), "{e}");
}

#[test]
fn bad_pem_is_named_without_quoting_the_content() {
    let path = temp("bad.pem", b"-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n");
    let loc = path.to_str().unwrap();
    let e = err(&[("security.protocol", "SSL"), ("ssl.truststore.location", loc), ("ssl.truststore.type", "PEM")]);
    assert!(e.contains(loc) && e.contains("not valid base64"), "{e}");
    assert!(!e.contains("not base64 !!!"), "the content is not echoed: {e}");
    let e = err(&[("security.protocol", "SSL"), ("ssl.truststore.certificates", "hello")]);
    assert!(e.contains("ssl.truststore.certificates") && e.contains("no -----BEGIN CERTIFICATE-----"), "{e}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn jks_and_pkcs12_ask_for_pem() {
    for t in ["JKS", "PKCS12"] {
        let e = err(&[("security.protocol", "SSL"), ("ssl.truststore.type", t), ("ssl.truststore.certificates", "x")]);
        assert!(e.contains(&format!("ssl.truststore.type={t} is not supported")) && e.contains("PEM"), "{e}");
    }
    // A binary keystore with no type set: Java's default JKS, not PEM.
    let path = temp("store.jks", &[0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 1]);
    let e = err(&[("security.protocol", "SSL"), ("ssl.truststore.location", path.to_str().unwrap())]);
    assert!(e.contains("ssl.truststore.type=JKS") && e.contains("convert"), "{e}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn keystore_pem_inline_and_file_and_encrypted_key() {
    let ca = CertificateAuthority::generate("unit CA").unwrap();
    let id = ca.issue(&["client"]).unwrap();
    let base = [("security.protocol", "SSL"), ("ssl.truststore.certificates", ca.cert_pem())];
    let mut inline = base.to_vec();
    inline.extend([("ssl.keystore.certificate.chain", id.cert_chain_pem.as_str()), ("ssl.keystore.key", &id.key_pem)]);
    let s = TlsSettings::from_config(&cfg(&inline)).unwrap().unwrap();
    assert!(format!("{s:?}").contains("client_auth: true"));

    let path = temp("ks.pem", id.keystore_pem().as_bytes());
    let mut file = base.to_vec();
    file.extend([("ssl.keystore.location", path.to_str().unwrap()), ("ssl.keystore.type", "PEM")]);
    assert!(TlsSettings::from_config(&cfg(&file)).unwrap().is_some());

    // Only the chain, no key.
    let mut half = base.to_vec();
    half.push(("ssl.keystore.certificate.chain", id.cert_chain_pem.as_str()));
    assert!(err(&half).contains("must be set together"));

    // A file with a certificate but no key names the file.
    let certs_only = temp("certs-only.pem", id.cert_chain_pem.as_bytes());
    let mut nokey = base.to_vec();
    nokey.extend([("ssl.keystore.location", certs_only.to_str().unwrap()), ("ssl.keystore.type", "PEM")]);
    let e = err(&nokey);
    assert!(e.contains(certs_only.to_str().unwrap()) && e.contains("no private key found"), "{e}");

    // Encrypted PKCS#8: refused with a clear message, and neither password nor key material is printed.
    let encrypted = format!(
        "{}-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
        id.cert_chain_pem
    );
    let enc = temp("enc.pem", encrypted.as_bytes());
    let mut e_cfg = base.to_vec();
    e_cfg.extend([("ssl.keystore.location", enc.to_str().unwrap()), ("ssl.key.password", "hunter2")]);
    let e = err(&e_cfg);
    assert!(e.contains("encrypted") && e.contains("not supported") && e.contains(enc.to_str().unwrap()), "{e}");
    assert!(!e.contains("hunter2") && !e.contains("MIIBvT"), "{e}");
    for p in [path, certs_only, enc] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn endpoint_identification_and_protocol_versions() {
    let ca = CertificateAuthority::generate("unit CA").unwrap();
    let base = [("security.protocol", "SSL"), ("ssl.truststore.certificates", ca.cert_pem())];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let off = TlsSettings::from_config(&cfg(&with(&[("ssl.endpoint.identification.algorithm", "")]))).unwrap().unwrap();
    assert!(!off.verifies_hostname());
    assert!(err(&with(&[("ssl.endpoint.identification.algorithm", "ldap")])).contains("ssl.endpoint.identification"));

    let versions = |extra: &[(&'static str, &'static str)]| {
        let c = cfg(&with(extra));
        let get = |k: &str| c.other.get(k).map(String::as_str);
        protocol_versions(&get).map(|v| v.iter().map(|p| p.version).collect::<Vec<_>>())
    };
    use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
    assert_eq!(versions(&[]).unwrap(), vec![TLSv1_2, TLSv1_3]);
    assert_eq!(versions(&[("ssl.enabled.protocols", "TLSv1.3")]).unwrap(), vec![TLSv1_3]);
    assert_eq!(versions(&[("ssl.protocol", "TLSv1.2")]).unwrap(), vec![TLSv1_2]);
    assert_eq!(versions(&[("ssl.enabled.protocols", "TLSv1.1,TLSv1.2")]).unwrap(), vec![TLSv1_2]);
    assert!(versions(&[("ssl.enabled.protocols", "TLSv1.1")]).unwrap_err().to_string().contains("at least one"));
    assert!(versions(&[("ssl.protocol", "SSLv3")]).unwrap_err().to_string().contains("ssl.protocol"));
}

#[test]
fn host_of_handles_names_ipv4_and_ipv6() {
    assert_eq!(host_of("broker-1.example.com:9093"), "broker-1.example.com");
    assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
    assert_eq!(host_of("[::1]:9093"), "::1");
}

#[test]
fn utc_dates_for_certificate_errors() {
    assert_eq!(utc_date(0), "1970-01-01 00:00:00");
    assert_eq!(utc_date(978_307_200), "2001-01-01 00:00:00");
    assert_eq!(utc_date(951_825_661), "2000-02-29 12:01:01");
}

#[test]
fn error_descriptions_say_what_did_not_match() {
    let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
    let d = describe_tls_error(&unknown, "b1", "ssl.truststore.location=/x.pem");
    assert!(d.contains("unknown issuer") && d.contains("/x.pem"), "{d}");
    let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
        expected: ServerName::try_from("10.0.0.1").unwrap(),
        presented: vec!["DnsName(\"a.example\")".into(), "IpAddress(10.0.0.2)".into(), "DirectoryName".into()],
    });
    let d = describe_tls_error(&name, "10.0.0.1", "x");
    assert!(d.contains("valid for [a.example, 10.0.0.2, DirectoryName], not for 10.0.0.1"), "{d}");
    let alert = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
    assert!(describe_tls_error(&alert, "h", "x").contains("requires a client certificate"));
}
