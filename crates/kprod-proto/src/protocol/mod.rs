//! The sans-IO Kafka wire codec: primitives, request/response headers and one module per API.
//!
//! The producer encodes requests and decodes responses; the mock broker decodes requests and
//! encodes responses — with the same types. Nothing here touches a socket or a clock.
//!
//! Map: [`wire`] primitives → [`header`] → one module per API ([`produce`], [`fetch`],
//! [`list_offsets`], [`metadata`], [`find_coordinator`], [`api_versions`], [`init_producer_id`],
//! [`sasl_handshake`], [`sasl_authenticate`], and the transaction APIs [`add_partitions_to_txn`],
//! [`add_offsets_to_txn`], [`txn_offset_commit`], [`end_txn`]) →
//! [`frame`] (size prefix, dispatch of request bodies), [`chunks`] (a request frame as chunks, so a Produce request
//! references its batches instead of copying them). [`versions`] holds the supported versions
//! and negotiation; [`error`] the error codes.
//!
//! # References
//! - <https://kafka.apache.org/protocol>
//! - The message definitions in Apache Kafka's `clients/src/main/resources/common/message/`.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod chunks;
pub mod end_txn;
pub mod error;
pub mod fetch;
pub mod find_coordinator;
pub mod frame;
pub mod header;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod txn_offset_commit;
pub mod versions;
pub mod wire;

#[cfg(test)]
mod java_compat;
#[cfg(test)]
mod testutil;

pub use add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
pub use add_partitions_to_txn::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
pub use api_versions::{
    ApiVersion, ApiVersionsRequest, ApiVersionsResponse, FinalizedFeature, SupportedFeature,
    TRANSACTION_VERSION_FEATURE,
};
pub use chunks::{ChunkWriter, ChunkedFrame};
pub use end_txn::{EndTxnRequest, EndTxnResponse};
pub use error::ErrorCode;
pub use fetch::{FetchRequest, FetchResponse};
pub use find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
pub use frame::{
    DEFAULT_MAX_FRAME_BYTES, FrameError, RequestBody, RequestFrame, decode_response, encode_request, encode_response,
    peek_frame_size, request_frame, request_frame_chunked, response_correlation_id, split_frame,
};
pub use header::{RequestHeader, ResponseHeader, request_header_version, response_header_version};
pub use init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
pub use list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
pub use metadata::{MetadataRequest, MetadataResponse};
pub use produce::{ProduceRequest, ProduceResponse};
pub use sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
pub use sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
pub use txn_offset_commit::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
pub use versions::{ApiKey, NegotiatedVersions, VersionError, VersionRange, negotiate, supported_api_versions};
pub use wire::{DecodeError, DecodeResult};

/// A 16-byte topic id (KIP-516); all zeros means "none".
pub type Uuid = [u8; 16];

use bytes::{Bytes, BytesMut};

/// A message (request or response body) that can be written at a given version.
pub trait Encode {
    /// Appends the body at `version` to `out`. The caller has checked that `version` is supported.
    fn encode(&self, out: &mut BytesMut, version: i16);

    /// Appends the body at `version` to `out` as [`encode`](Self::encode) writes it, handing large blobs over as
    /// chunks of their own instead of copying them ([`chunks`]). The default writes everything into the buffer;
    /// Produce passes its record batches.
    fn encode_chunks(&self, out: &mut ChunkWriter, version: i16) {
        self.encode(out.buf(), version);
    }
}

/// A message (request or response body) that can be read at a given version.
pub trait Decode: Sized {
    /// Reads the body at `version` from `buf`, never panicking on hostile input.
    fn decode(buf: &mut Bytes, version: i16) -> DecodeResult<Self>;
}

/// Static facts of one API: its key, the versions this codec implements and the first flexible one.
pub trait ApiMessage {
    /// The API key of this message.
    const API_KEY: i16;
    /// Lowest version implemented here.
    const MIN_VERSION: i16;
    /// Highest version implemented here.
    const MAX_VERSION: i16;
    /// First version that uses the flexible (compact + tagged fields) encoding; `i16::MAX` if none.
    const FIRST_FLEXIBLE: i16;

    /// True when `version` uses the flexible encoding.
    #[inline]
    fn is_flexible(version: i16) -> bool {
        version >= Self::FIRST_FLEXIBLE
    }
}
