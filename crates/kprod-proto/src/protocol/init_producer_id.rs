//! InitProducerId (key 22), versions 0–4; flexible from v2.
//!
//! Gets a producer id and epoch for idempotence or transactions. v3 adds the current
//! `producer_id`/`producer_epoch` to the request so a producer can bump its epoch after
//! INVALID_PRODUCER_EPOCH instead of starting over (KIP-360); v4 adds the PRODUCER_FENCED error.
//!
//! # References
//! - `InitProducerIdRequest.json`, `InitProducerIdResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-98, KIP-360, KIP-588

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Asks for a producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// Null for an idempotent (non-transactional) producer.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`, in ms.
    pub transaction_timeout_ms: i32,
    /// v3+: the id being bumped, or -1.
    pub producer_id: i64,
    /// v3+: the epoch being bumped, or -1.
    pub producer_epoch: i16,
}

impl Default for InitProducerIdRequest {
    fn default() -> Self {
        InitProducerIdRequest { transactional_id: None, transaction_timeout_ms: 0, producer_id: -1, producer_epoch: -1 }
    }
}

/// The id and epoch to stamp on record batches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitProducerIdResponse {
    /// Time the request was throttled, in ms.
    pub throttle_time_ms: i32,
    /// `NONE` on success.
    pub error_code: ErrorCode,
    /// The producer id assigned (or bumped).
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i16,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 22;
            const MIN_VERSION: i16 = 0;
            const MAX_VERSION: i16 = 4;
            const FIRST_FLEXIBLE: i16 = 2;
        }
    };
}
api!(InitProducerIdRequest);
api!(InitProducerIdResponse);

impl Encode for InitProducerIdRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        wire::put_nullable_string(out, self.transactional_id.as_deref(), flex);
        out.put_i32(self.transaction_timeout_ms);
        if version >= 3 {
            out.put_i64(self.producer_id);
            out.put_i16(self.producer_epoch);
        }
        if flex {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for InitProducerIdRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let mut r = InitProducerIdRequest {
            transactional_id: wire::read_nullable_string(buf, flex, "transactional_id")?,
            transaction_timeout_ms: wire::read_i32(buf, "transaction_timeout_ms")?,
            ..Default::default()
        };
        if version >= 3 {
            r.producer_id = wire::read_i64(buf, "producer_id")?;
            r.producer_epoch = wire::read_i16(buf, "producer_epoch")?;
        }
        if flex {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(r)
    }
}

impl Encode for InitProducerIdResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        out.put_i32(self.throttle_time_ms);
        out.put_i16(self.error_code.code());
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        if Self::is_flexible(version) {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for InitProducerIdResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let r = InitProducerIdResponse {
            throttle_time_ms: wire::read_i32(buf, "throttle_time_ms")?,
            error_code: ErrorCode::from_i16(wire::read_i16(buf, "error_code")?),
            producer_id: wire::read_i64(buf, "producer_id")?,
            producer_epoch: wire::read_i16(buf, "producer_epoch")?,
        };
        if Self::is_flexible(version) {
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

    fn arb_request() -> impl Strategy<Value = InitProducerIdRequest> {
        (opt_string(), any::<i32>(), any::<i64>(), any::<i16>()).prop_map(
            |(transactional_id, transaction_timeout_ms, producer_id, producer_epoch)| InitProducerIdRequest {
                transactional_id,
                transaction_timeout_ms,
                producer_id,
                producer_epoch,
            },
        )
    }

    fn norm_request(mut m: InitProducerIdRequest, v: i16) -> InitProducerIdRequest {
        if v < 3 {
            m.producer_id = -1;
            m.producer_epoch = -1;
        }
        m
    }

    fn arb_response() -> impl Strategy<Value = InitProducerIdResponse> {
        (any::<i32>(), error_code(), any::<i64>(), any::<i16>()).prop_map(
            |(throttle_time_ms, error_code, producer_id, producer_epoch)| InitProducerIdResponse {
                throttle_time_ms,
                error_code,
                producer_id,
                producer_epoch,
            },
        )
    }

    message_tests!(request, InitProducerIdRequest, arb_request(), norm_request);
    message_tests!(response, InitProducerIdResponse, arb_response(), |m, _| m);

    #[test]
    fn request_fixtures() {
        let r = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: 5,
            producer_epoch: 2,
        };
        let mut out = BytesMut::new();
        r.encode(&mut out, 1);
        assert_eq!(&out[..], &[0xff, 0xff, 0, 0, 0xea, 0x60]);
        let mut out = BytesMut::new();
        r.encode(&mut out, 4);
        assert_eq!(&out[..], &[0, 0, 0, 0xea, 0x60, 0, 0, 0, 0, 0, 0, 0, 5, 0, 2, 0]);
    }
}
