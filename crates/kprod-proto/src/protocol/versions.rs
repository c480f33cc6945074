//! API keys, the versions this codec implements per API, and version negotiation against a
//! broker's `ApiVersionsResponse`.
//!
//! | API              | key | versions | first flexible |
//! |------------------|-----|----------|----------------|
//! | Produce          | 0   | 3–12     | 9              |
//! | Fetch            | 1   | 4–12     | 12             |
//! | ListOffsets      | 2   | 1–7      | 6              |
//! | Metadata         | 3   | 1–12     | 9              |
//! | FindCoordinator  | 10  | 0–4      | 3              |
//! | SaslHandshake    | 17  | 0–1      | never          |
//! | ApiVersions      | 18  | 0–3      | 3              |
//! | InitProducerId   | 22  | 0–4      | 2              |
//! | SaslAuthenticate | 36  | 0–2      | 2              |
//! | AddPartitionsToTxn | 24 | 0–5     | 3              |
//! | AddOffsetsToTxn  | 25  | 0–4      | 3              |
//! | EndTxn           | 26  | 0–5      | 3              |
//! | TxnOffsetCommit  | 28  | 0–5      | 3              |
//!
//! Produce v12 has the body of v11; a client that sends it says it speaks transaction protocol v2
//! (KIP-890: the broker then adds a transactional batch's partition to the transaction itself).
//!
//! # References
//! - <https://kafka.apache.org/protocol#protocol_api_keys>
//! - KIP-35 (ApiVersions) and KIP-511 (client software name/version).

use super::api_versions::{ApiVersion, ApiVersionsResponse};
use super::error::ErrorCode;

/// An API this codec implements.
///
/// ```
/// use kprod_proto::protocol::ApiKey;
///
/// assert_eq!(ApiKey::from_i16(0), Some(ApiKey::Produce));
/// assert_eq!((ApiKey::Produce.key(), ApiKey::Produce.name()), (0, "Produce"));
/// assert!(ApiKey::Produce.supported().contains(9));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i16)]
pub enum ApiKey {
    /// Produce.
    Produce = 0,
    /// Fetch.
    Fetch = 1,
    /// ListOffsets.
    ListOffsets = 2,
    /// Metadata.
    Metadata = 3,
    /// FindCoordinator.
    FindCoordinator = 10,
    /// SaslHandshake.
    SaslHandshake = 17,
    /// ApiVersions.
    ApiVersions = 18,
    /// InitProducerId.
    InitProducerId = 22,
    /// SaslAuthenticate.
    SaslAuthenticate = 36,
    /// AddPartitionsToTxn.
    AddPartitionsToTxn = 24,
    /// AddOffsetsToTxn.
    AddOffsetsToTxn = 25,
    /// EndTxn.
    EndTxn = 26,
    /// TxnOffsetCommit.
    TxnOffsetCommit = 28,
}

/// An inclusive range of versions.
///
/// ```
/// use kprod_proto::protocol::versions::VersionRange;
///
/// let r = VersionRange { min: 3, max: 7 };
/// assert!(r.contains(3) && r.contains(7) && !r.contains(8));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// Oldest version.
    pub min: i16,
    /// Newest version.
    pub max: i16,
}

impl VersionRange {
    /// True when `v` is inside the range.
    #[inline]
    pub const fn contains(self, v: i16) -> bool {
        v >= self.min && v <= self.max
    }
}

impl ApiKey {
    /// Every API this codec implements, by key.
    pub const ALL: [ApiKey; 13] = [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::FindCoordinator,
        ApiKey::SaslHandshake,
        ApiKey::ApiVersions,
        ApiKey::InitProducerId,
        ApiKey::SaslAuthenticate,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::TxnOffsetCommit,
    ];

    /// The API from its wire key; `None` for APIs this codec does not implement.
    pub const fn from_i16(key: i16) -> Option<ApiKey> {
        Some(match key {
            0 => ApiKey::Produce,
            1 => ApiKey::Fetch,
            2 => ApiKey::ListOffsets,
            3 => ApiKey::Metadata,
            10 => ApiKey::FindCoordinator,
            17 => ApiKey::SaslHandshake,
            18 => ApiKey::ApiVersions,
            22 => ApiKey::InitProducerId,
            36 => ApiKey::SaslAuthenticate,
            24 => ApiKey::AddPartitionsToTxn,
            25 => ApiKey::AddOffsetsToTxn,
            26 => ApiKey::EndTxn,
            28 => ApiKey::TxnOffsetCommit,
            _ => return None,
        })
    }

    /// The wire key.
    #[inline]
    pub const fn key(self) -> i16 {
        self as i16
    }

    /// The name Kafka uses for the API.
    pub const fn name(self) -> &'static str {
        match self {
            ApiKey::Produce => "Produce",
            ApiKey::Fetch => "Fetch",
            ApiKey::ListOffsets => "ListOffsets",
            ApiKey::Metadata => "Metadata",
            ApiKey::FindCoordinator => "FindCoordinator",
            ApiKey::ApiVersions => "ApiVersions",
            ApiKey::InitProducerId => "InitProducerId",
            ApiKey::SaslHandshake => "SaslHandshake",
            ApiKey::SaslAuthenticate => "SaslAuthenticate",
            ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
            ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
            ApiKey::EndTxn => "EndTxn",
            ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
        }
    }

    /// The versions this codec can encode and decode.
    pub const fn supported(self) -> VersionRange {
        let (min, max) = match self {
            ApiKey::Produce => (3, 12),
            ApiKey::Fetch => (4, 12),
            ApiKey::ListOffsets => (1, 7),
            ApiKey::Metadata => (1, 12),
            ApiKey::FindCoordinator => (0, 4),
            ApiKey::ApiVersions => (0, 3),
            ApiKey::InitProducerId => (0, 4),
            ApiKey::SaslHandshake => (0, 1),
            ApiKey::SaslAuthenticate => (0, 2),
            ApiKey::AddPartitionsToTxn => (0, 5),
            ApiKey::AddOffsetsToTxn => (0, 4),
            ApiKey::EndTxn => (0, 5),
            ApiKey::TxnOffsetCommit => (0, 5),
        };
        VersionRange { min, max }
    }

    /// The first version of the API that uses the flexible encoding (KIP-482).
    pub const fn first_flexible(self) -> i16 {
        match self {
            ApiKey::Produce => 9,
            ApiKey::Fetch => 12,
            ApiKey::ListOffsets => 6,
            ApiKey::Metadata => 9,
            ApiKey::FindCoordinator => 3,
            ApiKey::ApiVersions => 3,
            ApiKey::InitProducerId => 2,
            ApiKey::SaslHandshake => i16::MAX,
            ApiKey::SaslAuthenticate => 2,
            ApiKey::AddPartitionsToTxn | ApiKey::AddOffsetsToTxn | ApiKey::EndTxn | ApiKey::TxnOffsetCommit => 3,
        }
    }

    /// True when `version` of this API uses the flexible encoding.
    #[inline]
    pub const fn is_flexible(self, version: i16) -> bool {
        version >= self.first_flexible()
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why no usable version could be agreed with a broker.
///
/// ```
/// use kprod_proto::protocol::versions::{NegotiatedVersions, VersionError, negotiate};
/// use kprod_proto::protocol::{ApiKey, ApiVersion, ApiVersionsResponse};
///
/// // What a broker offers for two APIs; Metadata is missing.
/// let offer = |key: ApiKey, min, max| ApiVersion { api_key: key.key(), min_version: min, max_version: max };
/// let response = ApiVersionsResponse {
///     api_keys: vec![offer(ApiKey::Produce, 0, 11), offer(ApiKey::ApiVersions, 0, 4)],
///     ..ApiVersionsResponse::default()
/// };
/// let versions: NegotiatedVersions = negotiate(&response, &[ApiKey::Produce])?;
/// assert_eq!(versions.get(ApiKey::Produce), Some(ApiKey::Produce.supported().max.min(11)));
/// let e = negotiate(&response, &[ApiKey::Metadata]).unwrap_err();
/// assert_eq!(e, VersionError::NotSupportedByBroker { api: ApiKey::Metadata });
/// # Ok::<(), VersionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// ApiVersions itself failed.
    #[error("broker answered ApiVersions with error {0}")]
    Broker(ErrorCode),
    /// The broker does not list the API.
    #[error("broker does not support {api}")]
    NotSupportedByBroker {
        /// The API.
        api: ApiKey,
    },
    /// The version ranges do not overlap.
    #[error("no common version of {api}: we support {ours_min}..={ours_max}, broker {theirs_min}..={theirs_max}")]
    NoCommonVersion {
        /// The API.
        api: ApiKey,
        /// Oldest version this codec speaks.
        ours_min: i16,
        /// Newest version this codec speaks.
        ours_max: i16,
        /// Oldest version the broker serves.
        theirs_min: i16,
        /// Newest version the broker serves.
        theirs_max: i16,
    },
}

/// The version to use per API with one broker, as agreed by [`negotiate`].
///
/// ```
/// use kprod_proto::protocol::versions::{NegotiatedVersions, VersionError, negotiate};
/// use kprod_proto::protocol::{ApiKey, ApiVersion, ApiVersionsResponse};
///
/// // What a broker offers for two APIs; Metadata is missing.
/// let offer = |key: ApiKey, min, max| ApiVersion { api_key: key.key(), min_version: min, max_version: max };
/// let response = ApiVersionsResponse {
///     api_keys: vec![offer(ApiKey::Produce, 0, 11), offer(ApiKey::ApiVersions, 0, 4)],
///     ..ApiVersionsResponse::default()
/// };
/// let versions: NegotiatedVersions = negotiate(&response, &[ApiKey::Produce])?;
/// assert_eq!(versions.get(ApiKey::Produce), Some(ApiKey::Produce.supported().max.min(11)));
/// let e = negotiate(&response, &[ApiKey::Metadata]).unwrap_err();
/// assert_eq!(e, VersionError::NotSupportedByBroker { api: ApiKey::Metadata });
/// # Ok::<(), VersionError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegotiatedVersions {
    versions: [Option<i16>; ApiKey::ALL.len()],
}

fn slot(api: ApiKey) -> usize {
    ApiKey::ALL.iter().position(|k| *k == api).unwrap_or(0)
}

impl NegotiatedVersions {
    /// The agreed version of `api`, or `None` when the broker does not offer it.
    #[inline]
    pub fn get(&self, api: ApiKey) -> Option<i16> {
        self.versions[slot(api)]
    }
}

/// This codec's supported versions as ApiVersions entries (what the mock broker advertises).
pub fn supported_api_versions() -> Vec<ApiVersion> {
    ApiKey::ALL
        .iter()
        .map(|api| {
            let r = api.supported();
            ApiVersion { api_key: api.key(), min_version: r.min, max_version: r.max }
        })
        .collect()
}

/// The highest version in both `ours` and `theirs`, if any.
pub const fn highest_common(ours: VersionRange, theirs: VersionRange) -> Option<i16> {
    let max = if ours.max < theirs.max { ours.max } else { theirs.max };
    let min = if ours.min > theirs.min { ours.min } else { theirs.min };
    if min <= max { Some(max) } else { None }
}

/// Picks, for every API we implement, the highest version both sides support.
///
/// Every API in `required` must have a common version or this fails naming the first that does
/// not; other APIs are recorded when possible and left `None` otherwise.
pub fn negotiate(response: &ApiVersionsResponse, required: &[ApiKey]) -> Result<NegotiatedVersions, VersionError> {
    let error = response.error_code;
    if !error.is_ok() {
        return Err(VersionError::Broker(error));
    }
    let mut out = NegotiatedVersions::default();
    for api in ApiKey::ALL {
        let ours = api.supported();
        let theirs = response
            .api_keys
            .iter()
            .find(|k| k.api_key == api.key())
            .map(|k| VersionRange { min: k.min_version, max: k.max_version });
        let chosen = theirs.and_then(|t| highest_common(ours, t));
        out.versions[slot(api)] = chosen;
        if chosen.is_none() && required.contains(&api) {
            return Err(match theirs {
                None => VersionError::NotSupportedByBroker { api },
                Some(t) => VersionError::NoCommonVersion {
                    api,
                    ours_min: ours.min,
                    ours_max: ours.max,
                    theirs_min: t.min,
                    theirs_max: t.max,
                },
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn response(keys: &[(i16, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse {
            api_keys: keys
                .iter()
                .map(|&(api_key, min_version, max_version)| ApiVersion { api_key, min_version, max_version })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn kafka_4_broker_picks_our_maxima_or_theirs() {
        // Shape of a Kafka 4.0 broker: Produce 3-12, Fetch 4-17, Metadata 0-13, ApiVersions 0-4.
        let r = response(&[
            (0, 3, 12),
            (1, 4, 17),
            (2, 1, 10),
            (3, 0, 13),
            (10, 0, 6),
            (18, 0, 4),
            (22, 0, 5),
            (24, 0, 5),
            (25, 0, 4),
            (26, 0, 5),
            (28, 0, 5),
        ]);
        let v = negotiate(&r, &[ApiKey::Produce, ApiKey::Metadata]).unwrap();
        assert_eq!(v.get(ApiKey::Produce), Some(12));
        assert_eq!(v.get(ApiKey::AddPartitionsToTxn), Some(5));
        assert_eq!(v.get(ApiKey::EndTxn), Some(5));
        assert_eq!(v.get(ApiKey::TxnOffsetCommit), Some(5));
        assert_eq!(v.get(ApiKey::Fetch), Some(12));
        assert_eq!(v.get(ApiKey::ListOffsets), Some(7));
        assert_eq!(v.get(ApiKey::Metadata), Some(12));
        assert_eq!(v.get(ApiKey::ApiVersions), Some(3));
        assert_eq!(v.get(ApiKey::InitProducerId), Some(4));
    }

    #[test]
    fn old_broker_limits_the_version() {
        let r = response(&[(0, 0, 7), (3, 0, 8)]);
        let v = negotiate(&r, &[ApiKey::Produce]).unwrap();
        assert_eq!(v.get(ApiKey::Produce), Some(7));
        assert_eq!(v.get(ApiKey::Metadata), Some(8));
        assert_eq!(v.get(ApiKey::Fetch), None);
    }

    #[test]
    fn no_overlap_is_an_error_naming_the_api() {
        let r = response(&[(0, 0, 2)]);
        let e = negotiate(&r, &[ApiKey::Produce]).unwrap_err();
        assert!(matches!(e, VersionError::NoCommonVersion { api: ApiKey::Produce, theirs_max: 2, .. }), "{e}");
        let e = negotiate(&r, &[ApiKey::InitProducerId]).unwrap_err();
        assert_eq!(e, VersionError::NotSupportedByBroker { api: ApiKey::InitProducerId });
        let mut r = response(&[(0, 3, 11)]);
        r.error_code = ErrorCode::UnsupportedVersion;
        assert_eq!(negotiate(&r, &[]).unwrap_err(), VersionError::Broker(ErrorCode::UnsupportedVersion));
    }

    #[test]
    fn negotiating_with_ourselves_picks_our_maxima() {
        let r = ApiVersionsResponse { api_keys: supported_api_versions(), ..Default::default() };
        let v = negotiate(&r, &ApiKey::ALL).unwrap();
        for api in ApiKey::ALL {
            assert_eq!(v.get(api), Some(api.supported().max), "{api}");
        }
    }

    #[test]
    fn api_key_round_trips() {
        for api in ApiKey::ALL {
            assert_eq!(ApiKey::from_i16(api.key()), Some(api));
            let r = api.supported();
            assert!(r.min <= r.max);
        }
        assert_eq!(ApiKey::from_i16(4), None);
        assert_eq!(ApiKey::from_i16(27), None, "WriteTxnMarkers is broker-internal, not implemented");
        assert_eq!(ApiKey::from_i16(26).map(ApiKey::name), Some("EndTxn"));
    }

    proptest! {
        #[test]
        fn highest_common_is_in_both_and_maximal(a in 0i16..20, b in 0i16..20, c in 0i16..20, d in 0i16..20) {
            let ours = VersionRange { min: a.min(b), max: a.max(b) };
            let theirs = VersionRange { min: c.min(d), max: c.max(d) };
            match highest_common(ours, theirs) {
                Some(v) => {
                    prop_assert!(ours.contains(v) && theirs.contains(v));
                    prop_assert!(!ours.contains(v + 1) || !theirs.contains(v + 1));
                }
                None => prop_assert!((0..20).all(|v| !(ours.contains(v) && theirs.contains(v)))),
            }
        }
    }
}
