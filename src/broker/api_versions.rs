//! ApiVersions (key 18), versions 0–3.
//!
//! Answers with every API the codec implements and its full version range (Produce 3–11, Fetch
//! 4–12, ListOffsets 1–7, Metadata 1–12, FindCoordinator 0–4, SaslHandshake 0–1, ApiVersions 0–3,
//! InitProducerId 0–4, SaslAuthenticate 0–2). A request at a newer version than 3 is answered at v0 with UNSUPPORTED_VERSION and the
//! same list (see `handler::refuse`), as Kafka does so the client can retry at a version it shares.
//! APIs not listed (groups, transactions, OffsetForLeaderEpoch...) are not offered, so clients do
//! not try them; a request for one closes the connection.
//!
//! # References
//! - KIP-35, KIP-511; Apache Kafka `ApiVersionsRequest`/`ApiVersionsResponse`.

use super::handler::Ctx;
use crate::protocol::{ApiKey, ApiVersion, ApiVersionsRequest, ApiVersionsResponse};

/// The versions this broker serves.
pub fn supported() -> ApiVersionsResponse {
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
    r
}
