//! SCRAM against published and independently computed vectors, and client ↔ server round trips.

use super::*;

fn secret(s: &str) -> Secret {
    Secret::from(s)
}

/// Runs a full exchange between a client and a server with fixed nonces; returns the four messages.
fn exchange(hash: ScramHash, user: &str, pw: &str, cnonce: &str, snonce: &str, salt: &[u8]) -> [String; 4] {
    let mut c = ScramClient::with_nonce(hash, user, &secret(pw), cnonce.into()).unwrap();
    let mut s = ScramServer::with_nonce(hash, snonce.into());
    let cred = ScramCredential::new(hash, pw, salt, 4096);
    let m1 = c.client_first();
    let (m2, who) = s.step(&m1, |u| (u == user).then(|| cred.clone())).unwrap();
    assert_eq!(who, None);
    let m3 = c.step(&m2).unwrap().expect("client-final");
    let (m4, who) = s.step(&m3, |_| unreachable!("looked up once")).unwrap();
    assert_eq!(who.as_deref(), Some(user));
    assert_eq!(c.step(&m4).unwrap(), None);
    assert!(c.is_complete());
    [m1, m2, m3, m4].map(|m| String::from_utf8(m).unwrap())
}

#[test]
fn rfc7677_sha256_test_vector() {
    // RFC 7677 §3: user "user", password "pencil".
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let m =
        exchange(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", &salt);
    assert_eq!(m[0], "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    assert_eq!(m[1], "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    assert_eq!(
        m[2],
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert_eq!(m[3], "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

#[test]
fn sha512_independent_vector() {
    // Computed with Python's hashlib (no kprod code involved):
    //   sp = pbkdf2_hmac("sha512", b"pencil", b"saltsaltsaltsalt", 4096)
    //   ck = hmac(sp, b"Client Key", sha512); sk = sha512(ck); svk = hmac(sp, b"Server Key", sha512)
    //   am = "n=user,r=clientnonce123," + server_first + ",c=biws,r=clientnonce123servernonce456"
    //   p = b64(ck XOR hmac(sk, am)); v = b64(hmac(svk, am))
    let m = exchange(ScramHash::Sha512, "user", "pencil", "clientnonce123", "servernonce456", b"saltsaltsaltsalt");
    assert_eq!(m[1], "r=clientnonce123servernonce456,s=c2FsdHNhbHRzYWx0c2FsdA==,i=4096");
    assert_eq!(
        m[2],
        "c=biws,r=clientnonce123servernonce456,p=T4rn9AImCpskpOCXWYMVz7L8IgV3vCgZ8sGwW/GJV6KuB8owCNsdbsJRuNNeKPh3QGWUHb5vy7gctFvL1pCzOg=="
    );
    assert_eq!(m[3], "v=4Bll8IYCsGOMNulzL9l02r/BTM8pJ3WtzM5euPj4GLjWjI5xwSLAJmAQpcMAXY0xhi2DKlp8CtTrqELKWSqD4Q==");
    let cred = ScramCredential::new(ScramHash::Sha512, "pencil", b"saltsaltsaltsalt", 4096);
    assert_eq!(
        B64.encode(&cred.stored_key),
        "TQHeHzHAYiPFj1WyutfC2U4o3bUZTTfBIWkkaJrG23DLoqLfWGa5Rw/KYhq971x/p1BqAUZ2TkfAYsuhe9nBBQ=="
    );
}

#[test]
fn random_nonces_round_trip_and_usernames_are_escaped() {
    for hash in [ScramHash::Sha256, ScramHash::Sha512] {
        let user = "a,b=c";
        let mut c = ScramClient::new(hash, user, &secret("pw")).unwrap();
        let mut s = ScramServer::new(hash);
        let cred = ScramCredential::generate(hash, "pw", 4096);
        let m1 = c.client_first();
        assert!(String::from_utf8_lossy(&m1).contains("n=a=2Cb=3Dc,"));
        let (m2, _) = s.step(&m1, |u| (u == user).then(|| cred.clone())).unwrap();
        let m3 = c.step(&m2).unwrap().unwrap();
        let (m4, who) = s.step(&m3, |_| None).unwrap();
        assert_eq!(who.as_deref(), Some(user));
        assert_eq!(c.step(&m4).unwrap(), None);
    }
}

#[test]
fn wrong_password_unknown_user_and_forged_server() {
    let hash = ScramHash::Sha256;
    let cred = ScramCredential::generate(hash, "right", 4096);
    // Wrong password: the server refuses the proof with Kafka's text.
    let mut c = ScramClient::new(hash, "alice", &secret("wrong")).unwrap();
    let mut s = ScramServer::new(hash);
    let (m2, _) = s.step(&c.client_first(), |_| Some(cred.clone())).unwrap();
    let m3 = c.step(&m2).unwrap().unwrap();
    let e = s.step(&m3, |_| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
    );
    // Unknown user: the same text, at the first message.
    let mut c = ScramClient::new(hash, "nobody", &secret("x")).unwrap();
    let e = ScramServer::new(hash).step(&c.client_first(), |_| None).unwrap_err();
    assert!(matches!(e, SaslError::AuthenticationFailed(_)), "{e}");
    // A server that does not know the password (it derived a credential from another one) but plays along:
    // the client must refuse its signature.
    let mut c = ScramClient::new(hash, "alice", &secret("right")).unwrap();
    let fake = ScramCredential::new(hash, "guess", &cred.salt, 4096);
    let mut s = ScramServer::new(hash);
    let (m2, _) = s.step(&c.client_first(), |_| Some(fake.clone())).unwrap();
    let m3 = c.step(&m2).unwrap().unwrap();
    assert!(s.step(&m3, |_| None).is_err());
    let forged = format!("v={}", B64.encode([7u8; 32]));
    assert_eq!(c.step(forged.as_bytes()).unwrap_err(), SaslError::ServerSignatureMismatch);
}

#[test]
fn hostile_server_first_messages_are_refused() {
    let mk = || {
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "u", &secret("p"), "abc".into()).unwrap();
        c.client_first();
        c
    };
    let cases: &[(&str, &str)] = &[
        ("r=xyz123,s=c2FsdA==,i=4096", "nonce"),
        ("r=abc,s=c2FsdA==,i=4096", "nonce"),
        ("r=abcdef,s=***,i=4096", "base64"),
        ("r=abcdef,s=c2FsdA==,i=4095", "iteration"),
        ("r=abcdef,s=c2FsdA==,i=99999999", "iteration"),
        ("r=abcdef,s=c2FsdA==", "expected r=,s=,i="),
        ("garbage", "malformed"),
        ("e=other-error", "other-error"),
        ("m=ext,r=abcdef,s=c2FsdA==,i=4096", "expected"),
    ];
    for (msg, want) in cases {
        let e = mk().step(msg.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(want), "{msg}: {e}");
    }
    assert!(mk().step(&vec![b'a'; MESSAGE_MAX_BYTES + 1]).is_err());
    assert!(mk().step(&[0xff, 0xfe]).is_err());
}

#[test]
fn server_refuses_malformed_client_messages() {
    let cred = ScramCredential::generate(ScramHash::Sha256, "p", 4096);
    for msg in ["y,,n=u,r=a", "n,,r=a,n=u", "n,,n=u=2X,r=a", "x", "n,,n=u,r="] {
        assert!(ScramServer::new(ScramHash::Sha256).step(msg.as_bytes(), |_| Some(cred.clone())).is_err(), "{msg}");
    }
    // A final message with another nonce.
    let mut s = ScramServer::with_nonce(ScramHash::Sha256, "S".into());
    s.step(b"n,,n=u,r=C", |_| Some(cred.clone())).unwrap();
    let e = s.step(b"c=biws,r=CX,p=AAAA", |_| None).unwrap_err();
    assert!(e.to_string().contains("nonce"), "{e}");
}

#[test]
fn credential_debug_hides_keys() {
    let c = ScramCredential::new(ScramHash::Sha256, "pencil", b"salt", 4096);
    let s = format!("{c:?}");
    assert!(s.contains("4096") && !s.contains(&format!("{:?}", c.stored_key[0..4].to_vec())), "{s}");
}
