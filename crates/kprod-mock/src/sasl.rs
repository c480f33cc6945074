//! SaslHandshake (key 17, v0–1) and SaslAuthenticate (key 36, v0–2), and the per-connection authentication state
//! that gates every other API.
//!
//! When the cluster has a [`BrokerSasl`] config (a `SASL_PLAINTEXT` listener), a connection starts
//! unauthenticated: it may send ApiVersions, then SaslHandshake naming an enabled mechanism, then SaslAuthenticate
//! rounds. Any other request before authentication closes the connection, as Kafka does. A failed exchange is
//! answered with SASL_AUTHENTICATION_FAILED and Kafka's message, then the connection is closed; an unknown
//! mechanism gets UNSUPPORTED_SASL_MECHANISM with the enabled list, then the close.
//!
//! Re-authentication (KIP-368): with `reauth` set, SaslAuthenticate v1+ answers `session_lifetime_ms`; once it
//! has passed (the server sets [`Session::expired`], since this module reads no clock) any request other than a
//! new SaslHandshake closes the connection — so a client that does not re-authenticate is cut off, as by Kafka's
//! `connections.max.reauth.ms`. A new SaslHandshake on a live connection restarts the exchange (re-authentication
//! in place, as Kafka allows).
//!
//! Without SASL configured both APIs answer ILLEGAL_SASL_STATE (a PLAINTEXT listener).
//!
//! # References
//! - KIP-43, KIP-152, KIP-368; Kafka `SaslServerAuthenticator` (state machine and messages).

use std::time::Duration;

use super::handler::Ctx;
use crate::protocol::error::ErrorCode;
use crate::protocol::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use crate::protocol::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::protocol::versions::ApiKey;
use crate::security::sasl::SaslError;
use crate::security::sasl::server::{SaslServer, SaslUsers, ServerStep};
use crate::security::{SaslMechanism, Secret};

/// SASL settings of a mock cluster (all its brokers).
///
/// ```
/// use kprod_mock::{BrokerSasl, ClusterConfig};
/// use kprod_proto::security::{SaslMechanism, Secret};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sasl = BrokerSasl::default();
/// assert_eq!(sasl.mechanisms.len(), SaslMechanism::ALL.len(), "every mechanism enabled");
/// sasl.add_user("alice", &Secret::from("secret"))?;
/// sasl.reauth = Some(std::time::Duration::from_secs(60));
/// let config = ClusterConfig { sasl: Some(sasl), ..ClusterConfig::default() };
/// assert!(config.sasl.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BrokerSasl {
    /// Kafka's `sasl.enabled.mechanisms`.
    pub mechanisms: Vec<SaslMechanism>,
    /// Accepted users, with SCRAM credentials derived at setup.
    pub users: SaslUsers,
    /// Kafka's `connections.max.reauth.ms`: session lifetime told to clients; `None` = no limit.
    pub reauth: Option<Duration>,
}

impl Default for BrokerSasl {
    /// Every mechanism enabled, no users, no re-authentication.
    fn default() -> Self {
        BrokerSasl { mechanisms: SaslMechanism::ALL.to_vec(), users: SaslUsers::default(), reauth: None }
    }
}

impl PartialEq for BrokerSasl {
    /// Same mechanisms, lifetime and user names (credentials are salted at random, so they never compare equal).
    fn eq(&self, other: &Self) -> bool {
        self.mechanisms == other.mechanisms
            && self.reauth == other.reauth
            && format!("{:?}", self.users) == format!("{:?}", other.users)
    }
}

impl BrokerSasl {
    /// Adds a user; SCRAM credentials are derived now with Kafka's default 4096 iterations.
    pub fn add_user(&mut self, name: &str, password: &Secret) -> Result<(), SaslError> {
        self.users.add(name, password, crate::security::sasl::scram::MIN_ITERATIONS)
    }
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Start,
    Handshaken(SaslServer),
    Authenticated {
        principal: String,
    },
}

/// Authentication state of one connection. Created with the connection (`Session::default()`), passed to every
/// [`handle_frame`](super::handle_frame) call on it.
///
/// ```
/// use kprod_mock::Session;
///
/// let mut session = Session::default();
/// assert_eq!(session.principal(), None, "not authenticated yet");
/// assert_eq!(session.take_lifetime(), None);
/// assert!(!session.expired);
/// ```
#[derive(Debug, Default)]
pub struct Session {
    state: State,
    /// Set by the server when the session lifetime has passed.
    pub expired: bool,
    /// The lifetime granted by the last successful authentication, for the server to arm its deadline.
    new_lifetime: Option<Duration>,
    /// Close the connection once the response just produced is written (authentication failed).
    pub close_after_response: bool,
}

impl Session {
    /// The authenticated user, if any.
    pub fn principal(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { principal } => Some(principal),
            _ => None,
        }
    }

    /// The lifetime granted by an authentication that just completed (taken once).
    pub fn take_lifetime(&mut self) -> Option<Duration> {
        self.new_lifetime.take()
    }

    /// Whether `api` may be served on this connection now; `false` closes the connection.
    pub(crate) fn allows(&self, sasl: Option<&BrokerSasl>, api: ApiKey) -> bool {
        if sasl.is_none() {
            return true;
        }
        match (&self.state, api) {
            (_, ApiKey::SaslHandshake) => true,
            (State::Authenticated { .. }, _) => !self.expired,
            (State::Start, ApiKey::ApiVersions) => true,
            (State::Handshaken(_), ApiKey::SaslAuthenticate) => true,
            _ => false,
        }
    }
}

pub(crate) fn handshake(ctx: &Ctx<'_>, session: &mut Session, req: &SaslHandshakeRequest) -> SaslHandshakeResponse {
    let Some(sasl) = ctx.state.config.sasl.as_ref() else {
        return SaslHandshakeResponse { error_code: ErrorCode::IllegalSaslState, mechanisms: Vec::new() };
    };
    let mechanisms = sasl.mechanisms.iter().map(|m| m.name().to_string()).collect();
    match SaslMechanism::parse(&req.mechanism).ok().filter(|m| sasl.mechanisms.contains(m)) {
        Some(m) => {
            session.state = State::Handshaken(SaslServer::new(m));
            session.expired = false;
            SaslHandshakeResponse { error_code: ErrorCode::None, mechanisms }
        }
        None => {
            tracing::debug!(broker_id = ctx.broker_id, mechanism = %req.mechanism, "SASL mechanism not enabled");
            session.close_after_response = true;
            SaslHandshakeResponse { error_code: ErrorCode::UnsupportedSaslMechanism, mechanisms }
        }
    }
}

pub(crate) fn authenticate(
    ctx: &Ctx<'_>,
    session: &mut Session,
    req: &SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    let fail = |session: &mut Session, code: ErrorCode, message: String| {
        session.close_after_response = true;
        session.state = State::Start;
        SaslAuthenticateResponse { error_code: code, error_message: Some(message), ..Default::default() }
    };
    let Some(sasl) = ctx.state.config.sasl.as_ref() else {
        return fail(session, ErrorCode::IllegalSaslState, "SASL is not enabled on this listener".into());
    };
    let State::Handshaken(server) = &mut session.state else {
        return fail(session, ErrorCode::IllegalSaslState, "SaslAuthenticate before SaslHandshake".into());
    };
    match server.step(&sasl.users, &req.auth_bytes) {
        Ok(ServerStep::Continue(bytes)) => SaslAuthenticateResponse { auth_bytes: bytes.into(), ..Default::default() },
        Ok(ServerStep::Complete { principal, auth_bytes }) => {
            tracing::debug!(broker_id = ctx.broker_id, %principal, "SASL authentication succeeded");
            session.state = State::Authenticated { principal };
            session.expired = false;
            // Only v1+ can carry a lifetime; a v0 client is never told, so it is never cut off (as in Kafka).
            let lifetime = sasl.reauth.filter(|_| ctx.version >= 1);
            session.new_lifetime = lifetime;
            SaslAuthenticateResponse {
                auth_bytes: auth_bytes.into(),
                session_lifetime_ms: lifetime.map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64),
                ..Default::default()
            }
        }
        Err(SaslError::AuthenticationFailed(message)) => {
            tracing::debug!(broker_id = ctx.broker_id, %message, "SASL authentication failed");
            fail(session, ErrorCode::SaslAuthenticationFailed, message)
        }
        Err(e) => fail(session, ErrorCode::SaslAuthenticationFailed, format!("Authentication failed: {e}")),
    }
}

#[cfg(test)]
mod tests;
