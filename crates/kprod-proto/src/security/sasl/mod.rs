//! SASL mechanisms, sans-IO: bytes in, bytes out, no sockets, no clock.
//!
//! [`SaslClient`] produces the client's tokens and checks the server's; [`server::SaslServer`] is the broker's
//! side (used by the mock broker) over a [`server::SaslUsers`] credential store. Mechanisms: [`plain`] (RFC 4616)
//! and [`scram`] (RFC 5802 with SHA-256 / SHA-512, RFC 7677).
//!
//! Client flow: send [`SaslClient::initial`]; feed each server token to [`SaslClient::step`], which returns the
//! next token to send or `None` once the exchange is complete (for SCRAM, only after the server's signature was
//! verified — a broker that does not know the password cannot pass).
//!
//! # References
//! - RFC 4422 (SASL), RFC 4616 (PLAIN), RFC 5802 (SCRAM), RFC 7677 (SCRAM-SHA-256).
//! - KIP-84 (SCRAM in Kafka), KIP-152 (SaslAuthenticate).

pub mod plain;
pub mod scram;
pub mod server;

use super::{SaslMechanism, SaslSettings};

/// Why a SASL exchange failed. Never carries a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// A credential cannot be used with the mechanism (e.g. a control character in the username).
    #[error("invalid {field}: {reason}")]
    InvalidCredential {
        /// `username` or `password`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The peer sent a token that does not follow the mechanism.
    #[error("malformed SASL message: {0}")]
    Malformed(String),
    /// The server refused (SCRAM `e=` attribute).
    #[error("server refused: {0}")]
    ServerRejected(String),
    /// The SCRAM server's signature is wrong: it does not know the password (or something tampered).
    #[error("the server's SCRAM signature does not match: the broker could not prove it knows the credentials")]
    ServerSignatureMismatch,
    /// The server side refused the client's credentials; the text is what the broker tells the client.
    #[error("{0}")]
    AuthenticationFailed(String),
    /// A token arrived after the exchange was complete.
    #[error("unexpected SASL token after the exchange completed")]
    AlreadyComplete,
}

/// Rejects NUL and other control characters: PLAIN forbids NUL, and neither mechanism can carry controls
/// unambiguously. Other Unicode is sent as UTF-8 without SASLprep normalization, exactly as Kafka's Java client
/// and broker do (`ScramFormatter.normalize` only encodes), so both ends agree byte for byte.
pub(crate) fn check_credential(field: &'static str, value: &str) -> Result<(), SaslError> {
    if value.chars().any(char::is_control) {
        return Err(SaslError::InvalidCredential { field, reason: "contains a control character (NUL, newline...)" });
    }
    Ok(())
}

/// Constant-time equality of two byte strings (their lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client side of one SASL exchange.
#[derive(Debug)]
pub enum SaslClient {
    /// A PLAIN exchange.
    Plain(plain::PlainClient),
    /// A SCRAM-SHA-256 or -512 exchange.
    Scram(scram::ScramClient),
}

impl SaslClient {
    /// A client for `settings`' mechanism and credentials (a fresh random nonce for SCRAM).
    pub fn new(settings: &SaslSettings) -> Result<Self, SaslError> {
        Ok(match settings.mechanism {
            SaslMechanism::Plain => SaslClient::Plain(plain::PlainClient::new(&settings.username, &settings.password)?),
            m => SaslClient::Scram(scram::ScramClient::new(
                scram::ScramHash::of(m).expect("a SCRAM mechanism"),
                &settings.username,
                &settings.password,
            )?),
        })
    }

    /// The mechanism this client speaks.
    pub fn mechanism(&self) -> SaslMechanism {
        match self {
            SaslClient::Plain(_) => SaslMechanism::Plain,
            SaslClient::Scram(s) => s.hash().mechanism(),
        }
    }

    /// The first token the client sends.
    pub fn initial(&mut self) -> Vec<u8> {
        match self {
            SaslClient::Plain(p) => p.initial(),
            SaslClient::Scram(s) => s.client_first(),
        }
    }

    /// Handles a server token: `Some(next token)` to send, or `None` when authentication is complete.
    pub fn step(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        match self {
            SaslClient::Plain(p) => p.step(server).map(|()| None),
            SaslClient::Scram(s) => s.step(server),
        }
    }

    /// True once the exchange completed successfully.
    pub fn is_complete(&self) -> bool {
        match self {
            SaslClient::Plain(p) => p.is_complete(),
            SaslClient::Scram(s) => s.is_complete(),
        }
    }
}
