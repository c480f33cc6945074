//! SaslHandshake (key 17), versions 0–1; never flexible.
//!
//! The client names the SASL mechanism it wants; the broker answers with an error code and the
//! mechanisms it has enabled (so a refused mechanism can be reported with the alternatives). With
//! v0 the SASL tokens that follow travel as raw size-prefixed frames; with v1 they travel inside
//! SaslAuthenticate requests (KIP-152), which is what kprod uses.
//!
//! # References
//! - `SaslHandshakeRequest.json`, `SaslHandshakeResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-43 (SASL mechanisms), KIP-152 (SaslAuthenticate), KAFKA-9577 (why v1 is the last version)

use bytes::{Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Asks the broker to use `mechanism` on this connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslHandshakeRequest {
    /// `PLAIN`, `SCRAM-SHA-256`, ...
    pub mechanism: String,
}

/// The broker's verdict and its enabled mechanisms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslHandshakeResponse {
    /// UNSUPPORTED_SASL_MECHANISM when the requested one is not enabled.
    pub error_code: ErrorCode,
    /// The mechanisms the broker enables (sent back whatever the outcome).
    pub mechanisms: Vec<String>,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 17;
            const MIN_VERSION: i16 = 0;
            const MAX_VERSION: i16 = 1;
            const FIRST_FLEXIBLE: i16 = i16::MAX;
        }
    };
}
api!(SaslHandshakeRequest);
api!(SaslHandshakeResponse);

impl Encode for SaslHandshakeRequest {
    fn encode(&self, out: &mut BytesMut, _version: i16) {
        wire::put_string(out, &self.mechanism, false);
    }
}

impl Decode for SaslHandshakeRequest {
    fn decode(buf: &mut Bytes, _version: i16) -> DecodeResult<Self> {
        Ok(SaslHandshakeRequest { mechanism: wire::read_string(buf, false, "mechanism")? })
    }
}

impl Encode for SaslHandshakeResponse {
    fn encode(&self, out: &mut BytesMut, _version: i16) {
        use bytes::BufMut;
        out.put_i16(self.error_code.code());
        wire::put_array(out, &self.mechanisms, false, |out, m| wire::put_string(out, m, false));
    }
}

impl Decode for SaslHandshakeResponse {
    fn decode(buf: &mut Bytes, _version: i16) -> DecodeResult<Self> {
        Ok(SaslHandshakeResponse {
            error_code: ErrorCode::from_i16(wire::read_i16(buf, "error_code")?),
            mechanisms: wire::read_array(buf, false, "mechanisms", |b| wire::read_string(b, false, "mechanisms"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testutil::*;
    use proptest::prelude::*;

    fn arb_request() -> impl Strategy<Value = SaslHandshakeRequest> {
        string().prop_map(|mechanism| SaslHandshakeRequest { mechanism })
    }

    fn arb_response() -> impl Strategy<Value = SaslHandshakeResponse> {
        (error_code(), vec(string(), 4))
            .prop_map(|(error_code, mechanisms)| SaslHandshakeResponse { error_code, mechanisms })
    }

    message_tests!(request, SaslHandshakeRequest, arb_request(), |m, _| m);
    message_tests!(response, SaslHandshakeResponse, arb_response(), |m, _| m);

    #[test]
    fn request_bytes() {
        let mut out = BytesMut::new();
        SaslHandshakeRequest { mechanism: "PLAIN".into() }.encode(&mut out, 1);
        assert_eq!(&out[..], b"\x00\x05PLAIN");
    }
}
