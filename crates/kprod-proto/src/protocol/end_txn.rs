//! EndTxn (key 26), versions 0–5; flexible from v3.
//!
//! Commits or aborts the ongoing transaction: the coordinator writes a COMMIT or ABORT control
//! record to every partition of the transaction. v2 adds PRODUCER_FENCED, v3 the flexible encoding,
//! v4 TRANSACTION_ABORTABLE. v5 (transaction protocol v2, KIP-890 part 2) bumps the producer epoch
//! at the end of every transaction, so the response carries the `producer_id` and `producer_epoch`
//! to use next (both -1 below v5 and by default).
//!
//! # References
//! - `EndTxnRequest.json`, `EndTxnResponse.json` in Apache Kafka
//!   `clients/src/main/resources/common/message/`
//! - KIP-98, KIP-588, KIP-890

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ErrorCode;
use super::wire::{self, DecodeResult};
use super::{ApiMessage, Decode, Encode};

/// Ends the transaction of `transactional_id`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// True to commit, false to abort.
    pub committed: bool,
}

/// The coordinator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnResponse {
    /// Time the request was throttled, in ms.
    pub throttle_time_ms: i32,
    /// `NONE` when the transaction ended.
    pub error_code: ErrorCode,
    /// v5+: the producer id to use for the next transaction; -1 otherwise.
    pub producer_id: i64,
    /// v5+: the (bumped) epoch to use for the next transaction; -1 otherwise.
    pub producer_epoch: i16,
}

impl Default for EndTxnResponse {
    fn default() -> Self {
        EndTxnResponse { throttle_time_ms: 0, error_code: ErrorCode::None, producer_id: -1, producer_epoch: -1 }
    }
}

macro_rules! api {
    ($ty:ty) => {
        impl ApiMessage for $ty {
            const API_KEY: i16 = 26;
            const MIN_VERSION: i16 = 0;
            const MAX_VERSION: i16 = 5;
            const FIRST_FLEXIBLE: i16 = 3;
        }
    };
}
api!(EndTxnRequest);
api!(EndTxnResponse);

impl Encode for EndTxnRequest {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        let flex = Self::is_flexible(version);
        wire::put_string(out, &self.transactional_id, flex);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_u8(u8::from(self.committed));
        if flex {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for EndTxnRequest {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let flex = Self::is_flexible(version);
        let r = EndTxnRequest {
            transactional_id: wire::read_string(buf, flex, "transactional_id")?,
            producer_id: wire::read_i64(buf, "producer_id")?,
            producer_epoch: wire::read_i16(buf, "producer_epoch")?,
            committed: wire::read_bool(buf, "committed")?,
        };
        if flex {
            wire::skip_tagged_fields(buf)?;
        }
        Ok(r)
    }
}

impl Encode for EndTxnResponse {
    fn encode(&self, out: &mut BytesMut, version: i16) {
        out.put_i32(self.throttle_time_ms);
        out.put_i16(self.error_code.code());
        if version >= 5 {
            out.put_i64(self.producer_id);
            out.put_i16(self.producer_epoch);
        }
        if Self::is_flexible(version) {
            wire::put_empty_tagged_fields(out);
        }
    }
}

impl Decode for EndTxnResponse {
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self> {
        let mut r = EndTxnResponse {
            throttle_time_ms: wire::read_i32(buf, "throttle_time_ms")?,
            error_code: ErrorCode::from_i16(wire::read_i16(buf, "error_code")?),
            ..Default::default()
        };
        if version >= 5 {
            r.producer_id = wire::read_i64(buf, "producer_id")?;
            r.producer_epoch = wire::read_i16(buf, "producer_epoch")?;
        }
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

    fn arb_request() -> impl Strategy<Value = EndTxnRequest> {
        (string(), any::<i64>(), any::<i16>(), any::<bool>()).prop_map(
            |(transactional_id, producer_id, producer_epoch, committed)| EndTxnRequest {
                transactional_id,
                producer_id,
                producer_epoch,
                committed,
            },
        )
    }

    fn arb_response() -> impl Strategy<Value = EndTxnResponse> {
        (any::<i32>(), error_code(), any::<i64>(), any::<i16>()).prop_map(
            |(throttle_time_ms, error_code, producer_id, producer_epoch)| EndTxnResponse {
                throttle_time_ms,
                error_code,
                producer_id,
                producer_epoch,
            },
        )
    }

    fn norm_response(m: EndTxnResponse, v: i16) -> EndTxnResponse {
        if v >= 5 { m } else { EndTxnResponse { producer_id: -1, producer_epoch: -1, ..m } }
    }

    message_tests!(request, EndTxnRequest, arb_request(), |m, _| m);
    message_tests!(response, EndTxnResponse, arb_response(), norm_response);

    #[test]
    fn fixtures() {
        let r = EndTxnRequest { transactional_id: "t".into(), producer_id: 1, producer_epoch: 0, committed: true };
        let mut out = BytesMut::new();
        r.encode(&mut out, 0);
        assert_eq!(&out[..], &[0, 1, b't', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1]);
        let resp =
            EndTxnResponse { throttle_time_ms: 0, error_code: ErrorCode::None, producer_id: 4, producer_epoch: 3 };
        let mut out = BytesMut::new();
        resp.encode(&mut out, 5);
        assert_eq!(&out[..], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0]);
        let mut out = BytesMut::new();
        resp.encode(&mut out, 4);
        assert_eq!(&out[..], &[0, 0, 0, 0, 0, 0, 0], "v4 has no producer id/epoch");
    }
}
