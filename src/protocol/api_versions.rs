//! ApiVersions (key 18), versions 0–3; v3 is flexible.
//!
//! v3 adds `client_software_name`/`client_software_version` to the request (KIP-511) and the
//! tagged feature fields to the response (KIP-584). The feature fields (tags 0–3) are skipped on
//! decode and never written: the producer needs none of them.
//!
//! # References
//! - `ApiVersionsRequest.json`, `ApiVersionsResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-35, KIP-511, KIP-584

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Asks the broker which API versions it supports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsRequest {
    /// v3+: the client library's name, e.g. `kprod`.
    pub client_software_name: String,
    /// v3+: the client library's version.
    pub client_software_version: String,
}

/// The versions a broker supports for one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiVersion {
    pub api_key: i16,
    pub min_version: i16,
    pub max_version: i16,
}

/// The broker's supported versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsResponse {
    pub error_code: ErrorCode,
    pub api_keys: Vec<ApiVersion>,
    /// v1+.
    pub throttle_time_ms: i32,
}

impl ApiMessage for ApiVersionsRequest {
    const API_KEY: i16 = 18;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;
    const FIRST_FLEXIBLE: i16 = 3;
}

impl ApiMessage for ApiVersionsResponse {
    const API_KEY: i16 = 18;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;
    const FIRST_FLEXIBLE: i16 = 3;
}

impl Encode for ApiVersionsRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        if version >= 3 {
            wire::put_string(out, &self.client_software_name, true);
            wire::put_string(out, &self.client_software_version, true);
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for ApiVersionsRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let mut r = ApiVersionsRequest::default();
        if version >= 3 {
            r.client_software_name = wire::read_string(buf, true, "client_software_name")?;
            r.client_software_version = wire::read_string(buf, true, "client_software_version")?;
            wire::skip_tagged_fields(buf)?;
        }
        Ok(r)
    }
}

impl ApiVersionsResponse {
    /// The entry for `api_key`, if the broker listed it.
    pub fn find(&self, api_key: i16) -> Option<&ApiVersion> {
        self.api_keys.iter().find(|k| k.api_key == api_key)
    }
}

impl Encode for ApiVersionsResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        out.put_i16(self.error_code.code());
        wire::put_array(out, &self.api_keys, flex, |out, k| {
            out.put_i16(k.api_key);
            out.put_i16(k.min_version);
            out.put_i16(k.max_version);
            if flex {
                wire::put_empty_tagged_fields(out);
            }
        });
        if version >= 1 {
            out.put_i32(self.throttle_time_ms);
        }
        if flex {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for ApiVersionsResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let error_code = ErrorCode::from_i16(wire::read_i16(buf, "error_code")?);
        let api_keys = wire::read_array(buf, flex, "api_keys", |b| {
            let k = ApiVersion {
                api_key: wire::read_i16(b, "api_key")?,
                min_version: wire::read_i16(b, "min_version")?,
                max_version: wire::read_i16(b, "max_version")?,
            };
            if flex {
                wire::skip_tagged_fields(b)?;
            }
            Ok(k)
        })?;
        let throttle_time_ms = if version >= 1 { wire::read_i32(buf, "throttle_time_ms")? } else { 0 };
        if flex {
            // Tags 0-3 (supported/finalized features, ZK migration flag) are not needed here.
            wire::skip_tagged_fields(buf)?;
        }
        Ok(ApiVersionsResponse { error_code, api_keys, throttle_time_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testutil::*;
    use proptest::prelude::*;

    fn arb_request() -> impl Strategy<Value = ApiVersionsRequest> {
        (string(), string()).prop_map(|(client_software_name, client_software_version)| ApiVersionsRequest {
            client_software_name,
            client_software_version,
        })
    }

    fn norm_request(m: ApiVersionsRequest, v: i16) -> ApiVersionsRequest {
        if v >= 3 { m } else { ApiVersionsRequest::default() }
    }

    fn arb_response() -> impl Strategy<Value = ApiVersionsResponse> {
        let key = (any::<i16>(), any::<i16>(), any::<i16>())
            .prop_map(|(api_key, min_version, max_version)| ApiVersion { api_key, min_version, max_version });
        (error_code(), vec(key, 8), any::<i32>()).prop_map(|(error_code, api_keys, throttle_time_ms)| {
            ApiVersionsResponse { error_code, api_keys, throttle_time_ms }
        })
    }

    fn norm_response(mut m: ApiVersionsResponse, v: i16) -> ApiVersionsResponse {
        if v < 1 {
            m.throttle_time_ms = 0;
        }
        m
    }

    message_tests!(request, ApiVersionsRequest, arb_request(), norm_request);
    message_tests!(response, ApiVersionsResponse, arb_response(), norm_response);

    #[test]
    fn request_v3_fixture() {
        // Compact strings: length + 1 as an unsigned varint; then the empty tagged-field section.
        let r = ApiVersionsRequest { client_software_name: "kprod".into(), client_software_version: "0.1".into() };
        let mut out = BytesMut::new();
        r.encode(&mut out, 3);
        assert_eq!(&out[..], b"\x06kprod\x040.1\x00");
        let mut b = out.freeze();
        assert_eq!(ApiVersionsRequest::decode(&mut b, 3).unwrap(), r);
        let mut out = BytesMut::new();
        r.encode(&mut out, 2);
        assert!(out.is_empty(), "v0-2 requests have no body");
    }

    #[test]
    fn response_v3_with_feature_tags_fixture() {
        // error 0, one api key (Produce 3..11) with its empty tags, throttle 0, then a tagged
        // section holding FinalizedFeaturesEpoch (tag 1, 8 bytes) which we skip.
        let bytes: &[u8] = &[
            0, 0, // error_code
            2, // compact array of 1
            0, 0, 0, 3, 0, 11, 0, // Produce 3..=11, no tags
            0, 0, 0, 0, // throttle
            1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5, // one tag: 1 = epoch 5
        ];
        let mut b = Bytes::from_static(bytes);
        let r = ApiVersionsResponse::decode(&mut b, 3).unwrap();
        assert!(b.is_empty());
        assert_eq!(r.api_keys, vec![ApiVersion { api_key: 0, min_version: 3, max_version: 11 }]);
        assert_eq!(r.find(0).map(|k| k.max_version), Some(11));
    }
}
