//! The client's SASL exchange on a fresh connection, after ApiVersions (and after TLS, when used): SaslHandshake
//! at the highest version both sides know, then SaslAuthenticate rounds until the mechanism is done.
//!
//! Generic over the stream (`TcpStream`, a TLS stream, a test duplex), so the producer's connection and the
//! verify reader share it. Every round trip is bounded by `request.timeout.ms`. SaslHandshake v0 (Kafka < 1.0,
//! raw token frames) is refused with a clear error: kprod's Produce v3+ needs Kafka 0.11, and every broker since
//! 1.0 speaks v1.
//!
//! Errors: a refusal by the broker (unknown mechanism, bad credentials) or a server that fails SCRAM's mutual
//! check is [`ProducerError::Authentication`] (fatal: the sender fails every pending record); the broker's
//! `error_message` is included, the password never is. A socket failure or timeout is
//! [`ProducerError::Connection`] (retriable, as any connect failure).
//!
//! # References
//! - KIP-43, KIP-152 (SaslHandshake v1 + SaslAuthenticate), KIP-368 (session lifetime).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::SaslSettings;
use super::sasl::SaslClient;
use crate::producer::error::ProducerError;
use crate::protocol::error::ErrorCode;
use crate::protocol::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use crate::protocol::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::protocol::versions::{ApiKey, NegotiatedVersions};
use crate::protocol::{ApiMessage, decode_response, request_frame};
use crate::protocol::{Decode, Encode};

/// Largest SASL response frame accepted (tokens are a few hundred bytes).
const AUTH_FRAME_MAX_BYTES: usize = 1 << 20;
/// Most SaslAuthenticate rounds (SCRAM needs 2, PLAIN 1): a server that never finishes is cut off.
const ROUNDS_MAX: usize = 8;

/// What a successful authentication tells the connection.
///
/// ```
/// use std::time::Duration;
/// use kprod_producer::security::authenticate::Authenticated;
///
/// // What a broker with `connections.max.reauth.ms=60000` answers (KIP-368): re-authenticate within a minute.
/// let a = Authenticated { session_lifetime: Some(Duration::from_secs(60)), handshake_version: 1, authenticate_version: 2 };
/// assert!(a.session_lifetime.is_some_and(|l| l <= Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    /// KIP-368: the broker closes the connection after this long unless the client re-authenticates.
    pub session_lifetime: Option<Duration>,
    /// The SaslHandshake version used.
    pub handshake_version: i16,
    /// The SaslAuthenticate version used.
    pub authenticate_version: i16,
}

/// Runs SaslHandshake + SaslAuthenticate on `stream`. `broker` names the peer in errors; `versions` come from
/// the ApiVersions exchange just before.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    broker: &str,
    versions: &NegotiatedVersions,
    settings: &SaslSettings,
    client_id: Option<&str>,
    request_timeout: Duration,
) -> Result<Authenticated, ProducerError> {
    let mechanism = settings.mechanism.name();
    let auth_err_from = |reason: String, cause: Option<Arc<dyn std::error::Error + Send + Sync>>| {
        ProducerError::Authentication { broker: broker.to_string(), mechanism: mechanism.to_string(), reason, cause }
    };
    let auth_err = |reason: String| auth_err_from(reason, None);
    let handshake_version = match versions.get(ApiKey::SaslHandshake) {
        Some(1) => 1,
        Some(_) => {
            return Err(auth_err(
                "the broker only offers SaslHandshake v0 (Kafka < 1.0), which kprod does not speak".into(),
            ));
        }
        None => return Err(auth_err("the broker does not offer SaslHandshake: is this listener really SASL?".into())),
    };
    let Some(authenticate_version) = versions.get(ApiKey::SaslAuthenticate) else {
        return Err(auth_err("the broker does not offer SaslAuthenticate".into()));
    };
    let mut correlation_id = 1;
    let mut call = Caller { stream, broker, client_id, request_timeout };

    let req = SaslHandshakeRequest { mechanism: mechanism.to_string() };
    let hs: SaslHandshakeResponse =
        call.round_trip(ApiKey::SaslHandshake, handshake_version, correlation_id, &req).await?;
    match hs.error_code {
        ErrorCode::None => {}
        ErrorCode::UnsupportedSaslMechanism => {
            return Err(auth_err(format!(
                "the broker does not enable {mechanism}; its enabled mechanisms are [{}]",
                hs.mechanisms.join(", ")
            )));
        }
        code => return Err(auth_err_from(format!("SaslHandshake failed: {code}"), Some(Arc::new(code)))),
    }

    let mut client = SaslClient::new(settings).map_err(|e| auth_err_from(e.to_string(), Some(Arc::new(e))))?;
    let mut token = client.initial();
    let mut session_lifetime = None;
    for _ in 0..ROUNDS_MAX {
        correlation_id += 1;
        let req = SaslAuthenticateRequest { auth_bytes: Bytes::from(std::mem::take(&mut token)) };
        let resp: SaslAuthenticateResponse =
            call.round_trip(ApiKey::SaslAuthenticate, authenticate_version, correlation_id, &req).await?;
        if !resp.error_code.is_ok() {
            let message = resp.error_message.unwrap_or_default();
            let reason = if message.is_empty() {
                resp.error_code.to_string()
            } else {
                format!("{}: {message}", resp.error_code)
            };
            return Err(auth_err_from(reason, Some(Arc::new(resp.error_code))));
        }
        if resp.session_lifetime_ms > 0 {
            session_lifetime = Some(Duration::from_millis(resp.session_lifetime_ms as u64));
        }
        match client.step(&resp.auth_bytes).map_err(|e| auth_err_from(e.to_string(), Some(Arc::new(e))))? {
            Some(next) => token = next,
            None => {
                tracing::debug!(broker, mechanism, ?session_lifetime, "SASL authentication complete");
                return Ok(Authenticated { session_lifetime, handshake_version, authenticate_version });
            }
        }
    }
    Err(auth_err(format!("the exchange did not finish within {ROUNDS_MAX} rounds")))
}

/// One-request-at-a-time framing over the stream, each round trip bounded by the request timeout.
struct Caller<'a, S> {
    stream: &'a mut S,
    broker: &'a str,
    client_id: Option<&'a str>,
    request_timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Caller<'_, S> {
    async fn round_trip<Req: Encode + ApiMessage, Resp: Decode + ApiMessage>(
        &mut self,
        api: ApiKey,
        version: i16,
        correlation_id: i32,
        req: &Req,
    ) -> Result<Resp, ProducerError> {
        let conn_err = |reason: String| ProducerError::Connection { address: self.broker.to_string(), reason };
        let frame = request_frame(version, correlation_id, self.client_id, req, 128)
            .map_err(|e| ProducerError::Protocol { broker: self.broker.to_string(), reason: e.to_string() })?;
        let stream = &mut *self.stream;
        let io = async {
            stream.write_all(&frame).await?;
            stream.flush().await?;
            let size = stream.read_i32().await?;
            if size < 0 || size as usize > AUTH_FRAME_MAX_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{api} response size {size} out of bounds"),
                ));
            }
            let mut buf = BytesMut::zeroed(size as usize);
            stream.read_exact(&mut buf).await?;
            Ok(buf.freeze())
        };
        let bytes = tokio::time::timeout(self.request_timeout, io)
            .await
            .map_err(|_| {
                conn_err(format!("{api} timed out after {} ms (request.timeout.ms)", self.request_timeout.as_millis()))
            })?
            .map_err(|e| {
                let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "connection closed by broker".to_string()
                } else {
                    e.to_string()
                };
                conn_err(format!("{api} failed: {what}"))
            })?;
        let (header, resp) = decode_response::<Resp>(bytes, version)
            .map_err(|e| ProducerError::Protocol { broker: self.broker.to_string(), reason: e.to_string() })?;
        let got = header.correlation_id;
        if got != correlation_id {
            return Err(ProducerError::Protocol {
                broker: self.broker.to_string(),
                reason: format!("{api} answered with correlation id {got}, expected {correlation_id}"),
            });
        }
        Ok(resp)
    }
}
