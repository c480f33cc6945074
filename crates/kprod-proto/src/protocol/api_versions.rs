//! ApiVersions (key 18), versions 0–3; v3 is flexible.
//!
//! v3 adds `client_software_name`/`client_software_version` to the request (KIP-511) and the
//! tagged feature fields to the response (KIP-584): `supported_features` (tag 0),
//! `finalized_features_epoch` (tag 1), `finalized_features` (tag 2) and `zk_migration_ready`
//! (tag 3). Each is written only when it differs from its default, as Kafka does. The producer
//! reads the finalized feature `transaction.version` ([`TRANSACTION_VERSION_FEATURE`]): 2 or more
//! means the cluster runs transaction protocol v2 (KIP-890 part 2).
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
    /// The API key.
    pub api_key: i16,
    /// Oldest version the broker serves.
    pub min_version: i16,
    /// Newest version the broker serves.
    pub max_version: i16,
}

/// The finalized feature that selects the transaction protocol (KIP-890): 2+ is transactions v2.
pub const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";

/// The broker's supported versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    /// `NONE`, or `UNSUPPORTED_VERSION` (then the broker answered at v0).
    pub error_code: ErrorCode,
    /// Every API the broker serves, with its version range.
    pub api_keys: Vec<ApiVersion>,
    /// v1+.
    pub throttle_time_ms: i32,
    /// v3+ tag 0: features this broker supports.
    pub supported_features: Vec<SupportedFeature>,
    /// v3+ tag 1: epoch of the finalized features; -1 when unknown.
    pub finalized_features_epoch: i64,
    /// v3+ tag 2: cluster-wide finalized features (valid when the epoch is >= 0).
    pub finalized_features: Vec<FinalizedFeature>,
    /// v3+ tag 3: set by a KRaft controller ready for ZK migration.
    pub zk_migration_ready: bool,
}

impl Default for ApiVersionsResponse {
    fn default() -> Self {
        ApiVersionsResponse {
            error_code: ErrorCode::None,
            api_keys: Vec::new(),
            throttle_time_ms: 0,
            supported_features: Vec::new(),
            finalized_features_epoch: -1,
            finalized_features: Vec::new(),
            zk_migration_ready: false,
        }
    }
}

/// A feature a broker supports, with its version range.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SupportedFeature {
    /// The feature name (e.g. `transaction.version`).
    pub name: String,
    /// Oldest version supported.
    pub min_version: i16,
    /// Newest version supported.
    pub max_version: i16,
}

/// A cluster-wide finalized feature level.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FinalizedFeature {
    /// The feature name.
    pub name: String,
    /// Highest finalized level.
    pub max_version_level: i16,
    /// Lowest finalized level.
    pub min_version_level: i16,
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

    /// The finalized max level of feature `name`, if the broker finalized it (and the epoch is valid).
    pub fn finalized_level(&self, name: &str) -> Option<i16> {
        if self.finalized_features_epoch < 0 {
            return None;
        }
        self.finalized_features.iter().find(|f| f.name == name).map(|f| f.max_version_level)
    }

    /// The finalized `transaction.version` (0 when absent: transaction protocol v1 everywhere).
    pub fn transaction_version(&self) -> i16 {
        self.finalized_level(TRANSACTION_VERSION_FEATURE).unwrap_or(0)
    }
}

/// Writes one tagged field whose payload `payload` writes.
fn put_tagged(out: &mut BytesMut, tag: u32, payload: impl FnOnce(&mut BytesMut)) {
    let mut data = BytesMut::new();
    payload(&mut data);
    wire::put_uvarint(out, tag);
    wire::put_uvarint(out, data.len() as u32);
    out.put_slice(&data);
}

/// Fails unless a tagged payload was read to its end.
fn all_read(b: &Bytes, field: &'static str) -> DecodeResult<()> {
    if b.is_empty() { Ok(()) } else { Err(wire::DecodeError::InvalidLength { field, len: b.len() as i64 }) }
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
            let tags = [
                !self.supported_features.is_empty(),
                self.finalized_features_epoch != -1,
                !self.finalized_features.is_empty(),
                self.zk_migration_ready,
            ];
            wire::put_uvarint(out, tags.iter().filter(|t| **t).count() as u32);
            if tags[0] {
                put_tagged(out, 0, |d| {
                    wire::put_array(d, &self.supported_features, true, |d, f| {
                        wire::put_string(d, &f.name, true);
                        d.put_i16(f.min_version);
                        d.put_i16(f.max_version);
                        wire::put_empty_tagged_fields(d);
                    })
                });
            }
            if tags[1] {
                put_tagged(out, 1, |d| d.put_i64(self.finalized_features_epoch));
            }
            if tags[2] {
                put_tagged(out, 2, |d| {
                    wire::put_array(d, &self.finalized_features, true, |d, f| {
                        wire::put_string(d, &f.name, true);
                        d.put_i16(f.max_version_level);
                        d.put_i16(f.min_version_level);
                        wire::put_empty_tagged_fields(d);
                    })
                });
            }
            if tags[3] {
                put_tagged(out, 3, |d| d.put_u8(1));
            }
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
        let mut r = ApiVersionsResponse { error_code, api_keys, throttle_time_ms, ..Default::default() };
        if flex {
            wire::read_tagged_fields_with(buf, |tag, mut d| {
                match tag {
                    0 => {
                        r.supported_features = wire::read_array(&mut d, true, "supported_features", |b| {
                            let f = SupportedFeature {
                                name: wire::read_string(b, true, "supported_feature.name")?,
                                min_version: wire::read_i16(b, "supported_feature.min_version")?,
                                max_version: wire::read_i16(b, "supported_feature.max_version")?,
                            };
                            wire::skip_tagged_fields(b)?;
                            Ok(f)
                        })?;
                        all_read(&d, "supported_features")?;
                    }
                    1 => {
                        r.finalized_features_epoch = wire::read_i64(&mut d, "finalized_features_epoch")?;
                        all_read(&d, "finalized_features_epoch")?;
                    }
                    2 => {
                        r.finalized_features = wire::read_array(&mut d, true, "finalized_features", |b| {
                            let f = FinalizedFeature {
                                name: wire::read_string(b, true, "finalized_feature.name")?,
                                max_version_level: wire::read_i16(b, "finalized_feature.max_version_level")?,
                                min_version_level: wire::read_i16(b, "finalized_feature.min_version_level")?,
                            };
                            wire::skip_tagged_fields(b)?;
                            Ok(f)
                        })?;
                        all_read(&d, "finalized_features")?;
                    }
                    3 => {
                        r.zk_migration_ready = wire::read_bool(&mut d, "zk_migration_ready")?;
                        all_read(&d, "zk_migration_ready")?;
                    }
                    _ => {} // unknown tags are skipped: that is what makes them forward-compatible
                }
                Ok(())
            })?;
        }
        Ok(r)
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
        let supported = (string(), any::<i16>(), any::<i16>())
            .prop_map(|(name, min_version, max_version)| SupportedFeature { name, min_version, max_version });
        let finalized =
            (string(), any::<i16>(), any::<i16>()).prop_map(|(name, max_version_level, min_version_level)| {
                FinalizedFeature { name, max_version_level, min_version_level }
            });
        ((error_code(), vec(key, 8), any::<i32>()), (vec(supported, 3), any::<i64>(), vec(finalized, 3), any::<bool>()))
            .prop_map(
                |(
                    (error_code, api_keys, throttle_time_ms),
                    (supported_features, finalized_features_epoch, finalized_features, zk_migration_ready),
                )| {
                    ApiVersionsResponse {
                        error_code,
                        api_keys,
                        throttle_time_ms,
                        supported_features,
                        finalized_features_epoch,
                        finalized_features,
                        zk_migration_ready,
                    }
                },
            )
    }

    fn norm_response(mut m: ApiVersionsResponse, v: i16) -> ApiVersionsResponse {
        if v < 1 {
            m.throttle_time_ms = 0;
        }
        if v < 3 {
            m.supported_features.clear();
            m.finalized_features_epoch = -1;
            m.finalized_features.clear();
            m.zk_migration_ready = false;
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
        assert_eq!(r.finalized_features_epoch, 5);
        assert_eq!(r.transaction_version(), 0, "no finalized features listed");
    }

    #[test]
    fn finalized_transaction_version_fixture() {
        // throttle 0, then tags 1 (epoch 3) and 2 (finalized transaction.version 2..=0).
        let mut bytes = vec![0, 0, 1, 0, 0, 0, 0, 2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 3, 2];
        let mut feature = vec![2, 20];
        feature.extend_from_slice(TRANSACTION_VERSION_FEATURE.as_bytes());
        feature.extend_from_slice(&[0, 2, 0, 0, 0]);
        bytes.push(feature.len() as u8);
        bytes.extend_from_slice(&feature);
        let r = ApiVersionsResponse::decode(&mut Bytes::from(bytes.clone()), 3).unwrap();
        assert_eq!(r.transaction_version(), 2);
        assert_eq!(r.finalized_level("metadata.version"), None);
        let mut out = BytesMut::new();
        r.encode(&mut out, 3);
        assert_eq!(&out[..], &bytes[..]);
        let stale = ApiVersionsResponse { finalized_features_epoch: -1, ..r };
        assert_eq!(stale.transaction_version(), 0, "an unknown epoch means nothing is finalized");
    }

    #[test]
    fn tagged_payload_with_trailing_bytes_is_refused() {
        // tag 1 announced as 9 bytes: one more than the int64 it carries.
        let bytes: &[u8] = &[0, 0, 1, 0, 0, 0, 0, 1, 1, 9, 0, 0, 0, 0, 0, 0, 0, 3, 0];
        assert!(ApiVersionsResponse::decode(&mut Bytes::from_static(bytes), 3).is_err());
    }
}
