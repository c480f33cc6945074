//! FindCoordinator (key 10), versions 0–4; flexible from v3.
//!
//! v1 adds `key_type` (0 group, 1 transaction) and, in the response, throttle time and an error
//! message. v4 batches: the request carries `coordinator_keys` instead of `key`, and the response
//! a `coordinators` array instead of the single top-level result (KIP-699).
//!
//! # References
//! - `FindCoordinatorRequest.json`, `FindCoordinatorResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-699

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Coordinator type: consumer group.
pub const KEY_TYPE_GROUP: i8 = 0;
/// Coordinator type: transaction.
pub const KEY_TYPE_TRANSACTION: i8 = 1;

/// Asks which broker coordinates a group or transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindCoordinatorRequest {
    /// v0–3: the single key.
    pub key: String,
    /// v1+.
    pub key_type: i8,
    /// v4+: the keys, batched.
    pub coordinator_keys: Vec<String>,
}

/// Where the coordinator(s) live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindCoordinatorResponse {
    /// v1+.
    pub throttle_time_ms: i32,
    /// v0–3.
    pub error_code: ErrorCode,
    /// v1–3.
    pub error_message: Option<String>,
    /// v0–3.
    pub node_id: i32,
    /// v0–3.
    pub host: String,
    /// v0–3.
    pub port: i32,
    /// v4+.
    pub coordinators: Vec<Coordinator>,
}

/// One coordinator of a v4+ answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coordinator {
    /// The key this coordinator is for (v4+: one entry per key).
    pub key: String,
    /// The coordinator's node id.
    pub node_id: i32,
    /// The coordinator's host.
    pub host: String,
    /// The coordinator's port.
    pub port: i32,
    /// `NONE` when found.
    pub error_code: ErrorCode,
    /// Why not, from the broker.
    pub error_message: Option<String>,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 10;
            const MIN_VERSION: i16 = 0;
            const MAX_VERSION: i16 = 4;
            const FIRST_FLEXIBLE: i16 = 3;
        }
    };
}
api!(FindCoordinatorRequest);
api!(FindCoordinatorResponse);

impl Encode for FindCoordinatorRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        if version <= 3 {
            wire::put_string(out, &self.key, flex);
        }
        if version >= 1 {
            out.put_i8(self.key_type);
        }
        if version >= 4 {
            wire::put_array(out, &self.coordinator_keys, flex, |out, k| wire::put_string(out, k, flex));
        }
        if flex {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for FindCoordinatorRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = FindCoordinatorRequest::default();
        if version <= 3 {
            r.key = wire::read_string(buf, flex, "key")?;
        }
        if version >= 1 {
            r.key_type = wire::read_i8(buf, "key_type")?;
        }
        if version >= 4 {
            r.coordinator_keys =
                wire::read_array(buf, flex, "coordinator_keys", |b| wire::read_string(b, flex, "coordinator_key"))?;
        }
        if flex {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(r)
    }
}

impl Encode for FindCoordinatorResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        if version >= 1 {
            out.put_i32(self.throttle_time_ms);
        }
        if version <= 3 {
            out.put_i16(self.error_code.code());
            if version >= 1 {
                wire::put_nullable_string(out, self.error_message.as_deref(), flex);
            }
            out.put_i32(self.node_id);
            wire::put_string(out, &self.host, flex);
            out.put_i32(self.port);
        } else {
            wire::put_array(out, &self.coordinators, flex, |out, c| {
                wire::put_string(out, &c.key, flex);
                out.put_i32(c.node_id);
                wire::put_string(out, &c.host, flex);
                out.put_i32(c.port);
                out.put_i16(c.error_code.code());
                wire::put_nullable_string(out, c.error_message.as_deref(), flex);
                wire::put_empty_tagged_fields(out);
            });
        }
        if flex {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for FindCoordinatorResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = FindCoordinatorResponse::default();
        if version >= 1 {
            r.throttle_time_ms = wire::read_i32(buf, "throttle_time_ms")?;
        }
        if version <= 3 {
            r.error_code = ErrorCode::from_i16(wire::read_i16(buf, "error_code")?);
            if version >= 1 {
                r.error_message = wire::read_nullable_string(buf, flex, "error_message")?;
            }
            r.node_id = wire::read_i32(buf, "node_id")?;
            r.host = wire::read_string(buf, flex, "host")?;
            r.port = wire::read_i32(buf, "port")?;
        } else {
            r.coordinators = wire::read_array(buf, flex, "coordinators", |b| {
                let c = Coordinator {
                    key: wire::read_string(b, flex, "coordinator.key")?,
                    node_id: wire::read_i32(b, "coordinator.node_id")?,
                    host: wire::read_string(b, flex, "coordinator.host")?,
                    port: wire::read_i32(b, "coordinator.port")?,
                    error_code: ErrorCode::from_i16(wire::read_i16(b, "coordinator.error_code")?),
                    error_message: wire::read_nullable_string(b, flex, "coordinator.error_message")?,
                };
                wire::skip_tagged_fields(b)?;
                Ok(c)
            })?;
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

    fn arb_request() -> impl Strategy<Value = FindCoordinatorRequest> {
        (string(), any::<i8>(), vec(string(), 4)).prop_map(|(key, key_type, coordinator_keys)| FindCoordinatorRequest {
            key,
            key_type,
            coordinator_keys,
        })
    }

    fn norm_request(mut m: FindCoordinatorRequest, v: i16) -> FindCoordinatorRequest {
        if v > 3 {
            m.key.clear();
        }
        if v < 1 {
            m.key_type = 0;
        }
        if v < 4 {
            m.coordinator_keys.clear();
        }
        m
    }

    fn arb_response() -> impl Strategy<Value = FindCoordinatorResponse> {
        let coordinator = ((string(), any::<i32>(), string()), (any::<i32>(), error_code(), opt_string())).prop_map(
            |((key, node_id, host), (port, error_code, error_message))| Coordinator {
                key,
                node_id,
                host,
                port,
                error_code,
                error_message,
            },
        );
        ((any::<i32>(), error_code(), opt_string(), any::<i32>()), (string(), any::<i32>(), vec(coordinator, 3)))
            .prop_map(|((throttle_time_ms, error_code, error_message, node_id), (host, port, coordinators))| {
                FindCoordinatorResponse {
                    throttle_time_ms,
                    error_code,
                    error_message,
                    node_id,
                    host,
                    port,
                    coordinators,
                }
            })
    }

    fn norm_response(m: FindCoordinatorResponse, v: i16) -> FindCoordinatorResponse {
        if v >= 4 {
            FindCoordinatorResponse {
                throttle_time_ms: m.throttle_time_ms,
                coordinators: m.coordinators,
                ..Default::default()
            }
        } else {
            FindCoordinatorResponse {
                throttle_time_ms: if v >= 1 { m.throttle_time_ms } else { 0 },
                error_message: if v >= 1 { m.error_message } else { None },
                coordinators: Vec::new(),
                ..m
            }
        }
    }

    message_tests!(request, FindCoordinatorRequest, arb_request(), norm_request);
    message_tests!(response, FindCoordinatorResponse, arb_response(), norm_response);

    #[test]
    fn request_v4_fixture() {
        let r = FindCoordinatorRequest {
            key: String::new(),
            key_type: KEY_TYPE_TRANSACTION,
            coordinator_keys: vec!["tx".into()],
        };
        let mut out = BytesMut::new();
        r.encode(&mut out, 4);
        assert_eq!(&out[..], &[1, 2, 3, b't', b'x', 0]);
        let mut out = BytesMut::new();
        FindCoordinatorRequest { key: "g".into(), ..Default::default() }.encode(&mut out, 0);
        assert_eq!(&out[..], &[0, 1, b'g']);
    }
}
