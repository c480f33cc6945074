//! ApiVersions (key 18), versions 0–3.
//!
//! Answers with every API the codec implements and its full version range (Produce 3–12, Fetch
//! 4–12, ListOffsets 1–7, Metadata 1–12, FindCoordinator 0–4, SaslHandshake 0–1, ApiVersions 0–3,
//! InitProducerId 0–4, AddPartitionsToTxn 0–5, AddOffsetsToTxn 0–4, EndTxn 0–5, TxnOffsetCommit 0–5,
//! SaslAuthenticate 0–2). v3 also carries the features (KIP-584): supported `transaction.version` 0–2, and the
//! finalized level of the cluster's `transaction_version` (epoch 1), which selects transaction protocol v2
//! (KIP-890). A request at a newer version than 3 is answered at v0 with UNSUPPORTED_VERSION and the
//! same list (see `handler::refuse`), as Kafka does so the client can retry at a version it shares.
//! APIs not listed (groups, OffsetForLeaderEpoch...) are not offered, so clients do
//! not try them; a request for one closes the connection.
//!
//! # References
//! - KIP-35, KIP-511; Apache Kafka `ApiVersionsRequest`/`ApiVersionsResponse`.

use super::handler::Ctx;
use crate::protocol::{
    ApiKey, ApiVersion, ApiVersionsRequest, ApiVersionsResponse, FinalizedFeature, SupportedFeature,
    TRANSACTION_VERSION_FEATURE,
};

/// The versions this broker serves.
pub(crate) fn supported() -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: ApiKey::ALL
            .iter()
            .map(|api| {
                let r = api.supported();
                ApiVersion { api_key: api.key(), min_version: r.min, max_version: r.max }
            })
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn handle(ctx: &Ctx<'_>, _req: &ApiVersionsRequest) -> ApiVersionsResponse {
    let mut r = supported();
    r.throttle_time_ms = ctx.throttle_ms;
    r.supported_features =
        vec![SupportedFeature { name: TRANSACTION_VERSION_FEATURE.into(), min_version: 0, max_version: 2 }];
    r.finalized_features_epoch = 1;
    let level = ctx.state.config.transaction_version;
    r.finalized_features = vec![FinalizedFeature {
        name: TRANSACTION_VERSION_FEATURE.into(),
        max_version_level: level,
        min_version_level: level,
    }];
    r
}
