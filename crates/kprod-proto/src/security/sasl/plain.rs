//! SASL PLAIN (RFC 4616): one client token `authzid NUL authcid NUL passwd`, answered by success or failure.
//! PLAIN sends the password itself, so use it over TLS (`SASL_SSL`) anywhere but a test bench.
//!
//! # References
//! - RFC 4616 §2 (message format), Kafka `PlainSaslServer` (an authzid, if given, must equal the username).

use super::{SaslError, check_credential};
use crate::security::Secret;

/// The client side: one token, then done.
#[derive(Debug)]
pub struct PlainClient {
    username: String,
    password: Secret,
    sent: bool,
    complete: bool,
}

impl PlainClient {
    /// A PLAIN client for these credentials; refuses a NUL in either (it separates the fields).
    pub fn new(username: &str, password: &Secret) -> Result<Self, SaslError> {
        check_credential("username", username)?;
        check_credential("password", password.expose())?;
        if username.is_empty() {
            return Err(SaslError::InvalidCredential { field: "username", reason: "is empty" });
        }
        Ok(PlainClient { username: username.to_string(), password: password.clone(), sent: false, complete: false })
    }

    /// `NUL username NUL password` (empty authorization id: act as the authenticated user).
    pub fn initial(&mut self) -> Vec<u8> {
        self.sent = true;
        let mut t = Vec::with_capacity(2 + self.username.len() + self.password.expose().len());
        t.push(0);
        t.extend_from_slice(self.username.as_bytes());
        t.push(0);
        t.extend_from_slice(self.password.expose().as_bytes());
        t
    }

    /// The server's (empty) answer to the token: the exchange is complete.
    pub fn step(&mut self, _server: &[u8]) -> Result<(), SaslError> {
        if !self.sent || self.complete {
            return Err(SaslError::AlreadyComplete);
        }
        self.complete = true;
        Ok(())
    }

    /// True once the single PLAIN token has been produced.
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

/// The message Kafka's PLAIN server answers a wrong username or password with.
pub const INVALID_CREDENTIALS: &str = "Authentication failed: Invalid username or password";

/// Server side: parses a client token and checks it with `password_of(username)`. Returns the username.
pub fn verify(token: &[u8], password_of: impl FnOnce(&str) -> Option<Secret>) -> Result<String, SaslError> {
    let mut parts = token.split(|b| *b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::AuthenticationFailed("Invalid SASL/PLAIN response: expected 3 tokens".into()));
    };
    let username = std::str::from_utf8(authcid)
        .map_err(|_| SaslError::AuthenticationFailed("Invalid SASL/PLAIN response: username is not UTF-8".into()))?;
    if username.is_empty() {
        return Err(SaslError::AuthenticationFailed("Authentication failed: username not specified".into()));
    }
    if !authzid.is_empty() && authzid != authcid {
        return Err(SaslError::AuthenticationFailed(
            "Authentication failed: Client requested an authorization id that is different from username".into(),
        ));
    }
    match password_of(username) {
        Some(expected) if super::ct_eq(expected.expose().as_bytes(), passwd) => Ok(username.to_string()),
        _ => Err(SaslError::AuthenticationFailed(INVALID_CREDENTIALS.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_rfc4616_and_the_server_accepts_it() {
        let mut c = PlainClient::new("alice", &Secret::from("s3cret")).unwrap();
        let t = c.initial();
        assert_eq!(t, b"\0alice\0s3cret");
        let lookup = |u: &str| (u == "alice").then(|| Secret::from("s3cret"));
        assert_eq!(verify(&t, lookup).unwrap(), "alice");
        c.step(b"").unwrap();
        assert!(c.is_complete());
        assert_eq!(c.step(b""), Err(SaslError::AlreadyComplete));
    }

    #[test]
    fn server_refusals() {
        let lookup = |u: &str| (u == "alice").then(|| Secret::from("s3cret"));
        let msg = |t: &[u8]| verify(t, lookup).unwrap_err().to_string();
        assert_eq!(msg(b"\0alice\0wrong"), INVALID_CREDENTIALS);
        assert_eq!(msg(b"\0bob\0s3cret"), INVALID_CREDENTIALS);
        assert!(msg(b"\0alice").contains("3 tokens"));
        assert!(msg(b"\0alice\0s3cret\0x").contains("3 tokens"));
        assert!(msg(b"mallory\0alice\0s3cret").contains("authorization id"));
        assert_eq!(verify(b"alice\0alice\0s3cret", lookup).unwrap(), "alice");
    }

    #[test]
    fn control_characters_are_refused_without_echoing_the_value() {
        let e = PlainClient::new("alice", &Secret::from("qq\0zz")).unwrap_err();
        assert!(e.to_string().contains("password") && !e.to_string().contains("qq"), "{e}");
        assert!(PlainClient::new("al\nice", &Secret::from("x")).is_err());
        // Non-ASCII goes as UTF-8, as Kafka does.
        let mut c = PlainClient::new("zoë", &Secret::from("pässwörd")).unwrap();
        assert_eq!(c.initial(), "\0zoë\0pässwörd".as_bytes());
    }
}
