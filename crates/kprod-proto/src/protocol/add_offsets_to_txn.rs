//! AddOffsetsToTxn (key 25), versions 0–4; flexible from v3.
//!
//! Adds a consumer group's offsets partition to a transaction, before TxnOffsetCommit sends the
//! offsets themselves to the group coordinator (`sendOffsetsToTransaction`). v2 adds the
//! PRODUCER_FENCED error, v3 the flexible encoding, v4 the TRANSACTION_ABORTABLE error (KIP-890);
//! the fields never change.
//!
//! # References
//! - `AddOffsetsToTxnRequest.json`, `AddOffsetsToTxnResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-98, KIP-588, KIP-890

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Adds the group `group_id` to the transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddOffsetsToTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The consumer group whose offsets the transaction will commit.
    pub group_id: String,
}

/// The coordinator's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddOffsetsToTxnResponse {
    /// Time the request was throttled, in ms.
    pub throttle_time_ms: i32,
    /// `NONE` on success.
    pub error_code: ErrorCode,
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 25;
            const MIN_VERSION: i16 = 0;
            const MAX_VERSION: i16 = 4;
            const FIRST_FLEXIBLE: i16 = 3;
        }
    };
}
api!(AddOffsetsToTxnRequest);
api!(AddOffsetsToTxnResponse);

impl Encode for AddOffsetsToTxnRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        wire::put_string(out, &self.transactional_id, flex);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        wire::put_string(out, &self.group_id, flex);
        if flex {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for AddOffsetsToTxnRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let r = AddOffsetsToTxnRequest {
            transactional_id: wire::read_string(buf, flex, "transactional_id")?,
            producer_id: wire::read_i64(buf, "producer_id")?,
            producer_epoch: wire::read_i16(buf, "producer_epoch")?,
            group_id: wire::read_string(buf, flex, "group_id")?,
        };
        if flex {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(r)
    }
}

impl Encode for AddOffsetsToTxnResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        out.put_i32(self.throttle_time_ms);
        out.put_i16(self.error_code.code());
        if Self::is_flexible(version) {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for AddOffsetsToTxnResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let r = AddOffsetsToTxnResponse {
            throttle_time_ms: wire::read_i32(buf, "throttle_time_ms")?,
            error_code: ErrorCode::from_i16(wire::read_i16(buf, "error_code")?),
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

    fn arb_request() -> impl Strategy<Value = AddOffsetsToTxnRequest> {
        (string(), any::<i64>(), any::<i16>(), string()).prop_map(
            |(transactional_id, producer_id, producer_epoch, group_id)| AddOffsetsToTxnRequest {
                transactional_id,
                producer_id,
                producer_epoch,
                group_id,
            },
        )
    }

    fn arb_response() -> impl Strategy<Value = AddOffsetsToTxnResponse> {
        (any::<i32>(), error_code())
            .prop_map(|(throttle_time_ms, error_code)| AddOffsetsToTxnResponse { throttle_time_ms, error_code })
    }

    message_tests!(request, AddOffsetsToTxnRequest, arb_request(), |m, _| m);
    message_tests!(response, AddOffsetsToTxnResponse, arb_response(), |m, _| m);

    #[test]
    fn request_fixtures() {
        let r = AddOffsetsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 9,
            producer_epoch: 2,
            group_id: "g".into(),
        };
        let mut out = BytesMut::new();
        r.encode(&mut out, 2);
        assert_eq!(&out[..], &[0, 2, b't', b'x', 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 0, 1, b'g']);
        let mut out = BytesMut::new();
        r.encode(&mut out, 3);
        assert_eq!(&out[..], &[3, b't', b'x', 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, b'g', 0]);
    }
}
