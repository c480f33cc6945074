//! Request header v1/v2 and response header v0/v1.
//!
//! Request header v1: api_key i16, api_version i16, correlation_id i32, client_id nullable string.
//! v2 adds a tagged-field section. The client_id stays a *classic* (int16-length) nullable string in
//! v2 so that any broker can read the header of an ApiVersions request whatever its version.
//! Response header v0 is the correlation id; v1 adds tagged fields. ApiVersions responses always
//! use v0, so a client can parse the answer before it knows what the broker supports.
//!
//! # References
//! - `RequestHeader.json`, `ResponseHeader.json` in Apache Kafka `clients/src/main/resources/common/message/`
//! - KIP-482 (flexible versions), KIP-511 (ApiVersions header rule)

use bytes::{BufMut, Bytes, BytesMut};

use super::versions::ApiKey;
use super::wire::{self, DecodeResult};

/// The header in front of every request body.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::protocol::{ApiKey, ApiVersionsRequest, FrameError, RequestBody, RequestFrame, RequestHeader, request_frame, split_frame};
///
/// let request = ApiVersionsRequest { client_software_name: "doc".into(), client_software_version: "1".into() };
/// let mut bytes = BytesMut::from(&request_frame(3, 42, Some("doc"), &request, 0)?[..]);
/// let frame = split_frame(&mut bytes, 1 << 20)?.expect("a whole frame");
/// let decoded = RequestFrame::decode(frame)?;
/// let header: &RequestHeader = &decoded.header;
/// assert_eq!((header.api_key, header.api_version, header.correlation_id), (ApiKey::ApiVersions.key(), 3, 42));
/// assert_eq!(decoded.body, RequestBody::ApiVersions(request));
/// // A size prefix above the limit is refused before anything is read.
/// let mut huge = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
/// assert!(matches!(split_frame(&mut huge, 1 << 20), Err(FrameError::TooLarge { .. })));
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The API key (`ApiKey` as `i16`).
    pub api_key: i16,
    /// The version of the request body.
    pub api_version: i16,
    /// Echoed in the response, to match it to its request.
    pub correlation_id: i32,
    /// Free-form client name shown in broker logs and quotas; null is allowed.
    pub client_id: Option<String>,
}

/// The header in front of every response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The request's correlation id.
    pub correlation_id: i32,
}

/// Header version of a request: 2 when the body is flexible, 1 otherwise (also for unknown APIs).
pub fn request_header_version(api_key: i16, api_version: i16) -> i16 {
    match ApiKey::from_i16(api_key) {
        Some(api) if api.is_flexible(api_version) => 2,
        _ => 1,
    }
}

/// Header version of a response: 1 when the body is flexible, 0 otherwise — and always 0 for
/// ApiVersions.
pub fn response_header_version(api_key: i16, api_version: i16) -> i16 {
    match ApiKey::from_i16(api_key) {
        Some(ApiKey::ApiVersions) => 0,
        Some(api) if api.is_flexible(api_version) => 1,
        _ => 0,
    }
}

impl RequestHeader {
    /// Writes the header at `header_version` (1 or 2).
    pub fn encode(&self, out: &mut BytesMut, header_version: i16) {
        out.put_i16(self.api_key);
        out.put_i16(self.api_version);
        out.put_i32(self.correlation_id);
        wire::put_nullable_string(out, self.client_id.as_deref(), false);
        if header_version >= 2 {
            wire::put_empty_tagged_fields(out);
        }
    }

    /// Reads the header at `header_version` (1 or 2); unknown tagged fields are skipped.
    pub fn decode(buf: &mut Bytes, header_version: i16) -> DecodeResult<Self> {
        let mut h = Self::decode_prefix(buf)?;
        h.client_id = wire::read_nullable_string(buf, false, "client_id")?;
        if header_version >= 2 {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(h)
    }

    /// Reads the header, choosing its version from the api key and version it carries.
    pub fn decode_auto(buf: &mut Bytes) -> DecodeResult<Self> {
        let mut h = Self::decode_prefix(buf)?;
        h.client_id = wire::read_nullable_string(buf, false, "client_id")?;
        if request_header_version(h.api_key, h.api_version) >= 2 {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(h)
    }

    fn decode_prefix(buf: &mut Bytes) -> DecodeResult<Self> {
        Ok(RequestHeader {
            api_key: wire::read_i16(buf, "api_key")?,
            api_version: wire::read_i16(buf, "api_version")?,
            correlation_id: wire::read_i32(buf, "correlation_id")?,
            client_id: None,
        })
    }

    /// Encoded size in bytes at `header_version`.
    pub fn encoded_len(&self, header_version: i16) -> usize {
        8 + 2 + self.client_id.as_ref().map_or(0, String::len) + usize::from(header_version >= 2)
    }
}

impl ResponseHeader {
    /// Writes the header at `header_version` (0 or 1).
    pub fn encode(&self, out: &mut BytesMut, header_version: i16) {
        out.put_i32(self.correlation_id);
        if header_version >= 1 {
            wire::put_empty_tagged_fields(out);
        }
    }

    /// Reads the header at `header_version` (0 or 1).
    pub fn decode(buf: &mut Bytes, header_version: i16) -> DecodeResult<Self> {
        let correlation_id = wire::read_i32(buf, "correlation_id")?;
        if header_version >= 1 {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(ResponseHeader { correlation_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_header_v2_fixture() {
        // Metadata (3) v12, correlation 7, client "kp": the client id keeps its int16 length, then
        // an empty tagged-field section.
        let h = RequestHeader { api_key: 3, api_version: 12, correlation_id: 7, client_id: Some("kp".into()) };
        let mut out = BytesMut::new();
        h.encode(&mut out, request_header_version(3, 12));
        let expected = [0, 3, 0, 12, 0, 0, 0, 7, 0, 2, b'k', b'p', 0];
        assert_eq!(&out[..], &expected);
        assert_eq!(h.encoded_len(2), expected.len());
        let mut b = out.freeze();
        assert_eq!(RequestHeader::decode_auto(&mut b).unwrap(), h);
        assert!(b.is_empty());
    }

    #[test]
    fn request_header_v1_null_client_fixture() {
        let h = RequestHeader { api_key: 0, api_version: 8, correlation_id: -1, client_id: None };
        let mut out = BytesMut::new();
        h.encode(&mut out, request_header_version(0, 8));
        assert_eq!(&out[..], &[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn header_versions() {
        assert_eq!(request_header_version(0, 8), 1);
        assert_eq!(request_header_version(0, 9), 2);
        assert_eq!(request_header_version(18, 3), 2);
        assert_eq!(request_header_version(18, 2), 1);
        assert_eq!(request_header_version(999, 50), 1);
        assert_eq!(response_header_version(0, 9), 1);
        assert_eq!(response_header_version(0, 8), 0);
        assert_eq!(response_header_version(18, 3), 0, "ApiVersions responses always use header v0");
        assert_eq!(response_header_version(3, 9), 1);
        assert_eq!(response_header_version(1, 11), 0);
        assert_eq!(response_header_version(1, 12), 1);
    }

    proptest! {
        #[test]
        fn request_header_round_trips(api_key in any::<i16>(), api_version in any::<i16>(), correlation_id in any::<i32>(),
                                      client_id in proptest::option::of(".{0,20}"), hv in 1i16..=2) {
            let h = RequestHeader { api_key, api_version, correlation_id, client_id };
            let mut out = BytesMut::new();
            h.encode(&mut out, hv);
            prop_assert_eq!(out.len(), h.encoded_len(hv));
            let mut b = out.freeze();
            prop_assert_eq!(RequestHeader::decode(&mut b, hv).unwrap(), h);
            prop_assert!(b.is_empty());
        }

        #[test]
        fn response_header_round_trips(correlation_id in any::<i32>(), hv in 0i16..=1) {
            let h = ResponseHeader { correlation_id };
            let mut out = BytesMut::new();
            h.encode(&mut out, hv);
            let mut b = out.freeze();
            prop_assert_eq!(ResponseHeader::decode(&mut b, hv).unwrap(), h);
            prop_assert!(b.is_empty());
        }

        #[test]
        fn headers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40), hv in 0i16..=2) {
            let b = Bytes::from(data);
            let _ = RequestHeader::decode(&mut b.clone(), hv);
            let _ = RequestHeader::decode_auto(&mut b.clone());
            let _ = ResponseHeader::decode(&mut b.clone(), hv);
        }
    }
}
