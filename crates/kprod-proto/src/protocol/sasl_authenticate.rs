//! SaslAuthenticate (key 36), versions 0–2; flexible from v2.
//!
//! Carries one SASL token each way after a SaslHandshake v1. v1 adds `session_lifetime_ms` to the
//! response: when positive, the client must re-authenticate before that many milliseconds pass, or
//! the broker closes the connection (KIP-368, `connections.max.reauth.ms`).
//!
//! Auth bytes may hold credentials (a PLAIN token carries the password): this type's `Debug` prints
//! only their length.
//!
//! # References
//! - `SaslAuthenticateRequest.json`, `SaslAuthenticateResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-152 (SaslAuthenticate), KIP-368 (re-authentication)

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// One client SASL token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SaslAuthenticateRequest {
    /// The mechanism's token for the broker.
    pub auth_bytes: Bytes,
}

impl std::fmt::Debug for SaslAuthenticateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A PLAIN token is the password in clear: never print the bytes.
        f.debug_struct("SaslAuthenticateRequest").field("auth_bytes_len", &self.auth_bytes.len()).finish()
    }
}

/// One server SASL token, or the failure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslAuthenticateResponse {
    /// `NONE` when authentication succeeded.
    pub error_code: ErrorCode,
    /// Why it failed, from the broker.
    pub error_message: Option<String>,
    /// The broker's token (SCRAM's server-first / server-final message).
    pub auth_bytes: Bytes,
    /// v1+: re-authenticate within this many ms; 0 = no limit.
    pub session_lifetime_ms: i64,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 36;
            const MIN_VERSION: i16 = 0;
            const MAX_VERSION: i16 = 2;
            const FIRST_FLEXIBLE: i16 = 2;
        }
    };
}
api!(SaslAuthenticateRequest);
api!(SaslAuthenticateResponse);

impl Encode for SaslAuthenticateRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        wire::put_bytes(out, &self.auth_bytes, flex);
        if flex {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for SaslAuthenticateRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let auth_bytes = wire::read_bytes(buf, flex, "auth_bytes")?;
        if flex {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(SaslAuthenticateRequest { auth_bytes })
    }
}

impl Encode for SaslAuthenticateResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        out.put_i16(self.error_code.code());
        wire::put_nullable_string(out, self.error_message.as_deref(), flex);
        wire::put_bytes(out, &self.auth_bytes, flex);
        if version >= 1 {
            out.put_i64(self.session_lifetime_ms);
        }
        if flex {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for SaslAuthenticateResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = SaslAuthenticateResponse {
            error_code: ErrorCode::from_i16(wire::read_i16(buf, "error_code")?),
            error_message: wire::read_nullable_string(buf, flex, "error_message")?,
            auth_bytes: wire::read_bytes(buf, flex, "auth_bytes")?,
            session_lifetime_ms: 0,
        };
        if version >= 1 {
            r.session_lifetime_ms = wire::read_i64(buf, "session_lifetime_ms")?;
        }
        if flex {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testutil::*;
    use proptest::prelude::*;

    fn arb_request() -> impl Strategy<Value = SaslAuthenticateRequest> {
        bytes(64).prop_map(|auth_bytes| SaslAuthenticateRequest { auth_bytes })
    }

    fn arb_response() -> impl Strategy<Value = SaslAuthenticateResponse> {
        (error_code(), opt_string(), bytes(64), any::<i64>()).prop_map(
            |(error_code, error_message, auth_bytes, session_lifetime_ms)| SaslAuthenticateResponse {
                error_code,
                error_message,
                auth_bytes,
                session_lifetime_ms,
            },
        )
    }

    fn norm_response(mut m: SaslAuthenticateResponse, v: i16) -> SaslAuthenticateResponse {
        if v < 1 {
            m.session_lifetime_ms = 0;
        }
        m
    }

    message_tests!(request, SaslAuthenticateRequest, arb_request(), |m, _| m);
    message_tests!(response, SaslAuthenticateResponse, arb_response(), norm_response);

    #[test]
    fn debug_never_prints_the_token() {
        let r = SaslAuthenticateRequest { auth_bytes: Bytes::from_static(b"\0alice\0hunter2") };
        let s = format!("{r:?}");
        assert!(!s.contains("hunter2") && s.contains("14"), "{s}");
    }

    #[test]
    fn response_bytes_v1_and_v2() {
        let r = SaslAuthenticateResponse {
            error_code: ErrorCode::None,
            error_message: None,
            auth_bytes: Bytes::from_static(b"ab"),
            session_lifetime_ms: 5,
        };
        let mut out = BytesMut::new();
        r.encode(&mut out, 1);
        assert_eq!(&out[..], &[0, 0, 0xff, 0xff, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 5]);
        let mut out = BytesMut::new();
        r.encode(&mut out, 2);
        assert_eq!(&out[..], &[0, 0, 0, 3, b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 5, 0]);
    }
}
