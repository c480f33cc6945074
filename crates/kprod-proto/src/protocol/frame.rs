//! Framing: the 4-byte big-endian size prefix, the headers, and dispatch of request bodies.
//!
//! A frame on the wire is `size: i32` followed by `size` bytes of header + body. The client writes
//! requests with [`encode_request`] and reads answers with [`decode_response`]; the mock broker reads
//! requests with [`RequestFrame::decode`] and answers with [`encode_response`]. [`split_frame`] cuts
//! whole frames out of a read buffer and refuses a size prefix above a limit before anything is
//! allocated, so a hostile peer cannot make us reserve gigabytes.
//!
//! Request decoding parses the header first; an unknown API or an unsupported version is reported
//! *with* the header ([`FrameError::header`]) so the broker can still answer with the correlation id
//! (and UNSUPPORTED_VERSION).
//!
//! # References
//! - <https://kafka.apache.org/protocol#protocol_common>
//! - Kafka's `socket.request.max.bytes` (default 104857600), the broker-side limit mirrored here.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::add_offsets_to_txn::AddOffsetsToTxnRequest;
use super::add_partitions_to_txn::AddPartitionsToTxnRequest;
use super::api_versions::ApiVersionsRequest;
use super::chunks::{ChunkWriter, ChunkedFrame};
use super::end_txn::EndTxnRequest;
use super::fetch::FetchRequest;
use super::find_coordinator::FindCoordinatorRequest;
use super::header::{RequestHeader, ResponseHeader, request_header_version, response_header_version};
use super::init_producer_id::InitProducerIdRequest;
use super::list_offsets::ListOffsetsRequest;
use super::metadata::MetadataRequest;
use super::produce::ProduceRequest;
use super::sasl_authenticate::SaslAuthenticateRequest;
use super::sasl_handshake::SaslHandshakeRequest;
use super::txn_offset_commit::TxnOffsetCommitRequest;
use super::versions::{ApiKey, VersionRange};
use super::wire::DecodeError;
use super::{ApiMessage, Decode, Encode};

/// Default largest frame accepted, as Kafka's `socket.request.max.bytes` (100 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 104_857_600;

/// Size of the length prefix in front of every frame.
pub const SIZE_PREFIX_BYTES: usize = 4;

/// Why a frame could not be written or read.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::protocol::{ApiKey, ApiVersionsRequest, FrameError, RequestBody, RequestFrame, RequestHeader, request_frame, split_frame};
///
/// let request = ApiVersionsRequest { client_software_name: "doc".into(), client_software_version: "1".into() };
/// let mut bytes = BytesMut::from(&request_frame(3, 42, Some("doc"), &request, 0)?[..]);
/// let frame = split_frame(&mut bytes, 1 << 20)?.expect("a whole frame");
/// let decoded = RequestFrame::decode(frame)?;
/// let header: &RequestHeader = &decoded.header;
/// assert_eq!((header.api_key, header.api_version, header.correlation_id), (ApiKey::ApiVersions.key(), 3, 42));
/// assert_eq!(decoded.body, RequestBody::ApiVersions(request));
/// // A size prefix above the limit is refused before anything is read.
/// let mut huge = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
/// assert!(matches!(split_frame(&mut huge, 1 << 20), Err(FrameError::TooLarge { .. })));
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A size prefix above the limit.
    #[error("frame size prefix {size} exceeds the limit of {max_frame_bytes} bytes")]
    TooLarge {
        /// The size read.
        size: i64,
        /// The limit.
        max_frame_bytes: usize,
    },
    /// A negative size prefix.
    #[error("negative frame size prefix {0}")]
    NegativeSize(i32),
    /// The request header does not decode.
    #[error("malformed request header: {0}")]
    Header(DecodeError),
    /// The response header does not decode.
    #[error("malformed response header: {0}")]
    ResponseHeader(DecodeError),
    /// An API key this codec does not implement.
    #[error("unknown api key {} (correlation id {})", header.api_key, header.correlation_id)]
    UnknownApiKey {
        /// The decoded header.
        header: RequestHeader,
    },
    /// A version outside what this codec implements for the API.
    #[error("unsupported version {} of {api} (supported {}..={}, correlation id {})",
            header.api_version, supported.min, supported.max, header.correlation_id)]
    UnsupportedVersion {
        /// The decoded header.
        header: RequestHeader,
        /// The API.
        api: ApiKey,
        /// The versions implemented.
        supported: VersionRange,
    },
    /// Encoding at a version the API does not have.
    #[error("version {version} of api key {api_key} is outside {min}..={max}")]
    VersionOutOfRange {
        /// The API key.
        api_key: i16,
        /// The version asked for.
        version: i16,
        /// Oldest version.
        min: i16,
        /// Newest version.
        max: i16,
    },
    /// The header's API key is not the body's.
    #[error("header api key {header_api_key} does not match body api key {body_api_key}")]
    ApiKeyMismatch {
        /// API key in the header.
        header_api_key: i16,
        /// The body's API key.
        body_api_key: i16,
    },
    /// The body does not decode.
    #[error("malformed {api} v{version} body: {error}")]
    Body {
        /// The request header, when decoding a request.
        header: Option<RequestHeader>,
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// What the decoder found.
        error: DecodeError,
    },
    /// Bytes left after the body.
    #[error("{trailing} unread bytes after the {api} v{version} body")]
    TrailingBytes {
        /// The request header, when decoding a request.
        header: Option<RequestHeader>,
        /// The API.
        api: ApiKey,
        /// The version.
        version: i16,
        /// Bytes left.
        trailing: usize,
    },
}

impl FrameError {
    /// The request header, when it was parsed before the failure (answer with its correlation id).
    pub fn header(&self) -> Option<&RequestHeader> {
        match self {
            FrameError::UnknownApiKey { header } | FrameError::UnsupportedVersion { header, .. } => Some(header),
            FrameError::Body { header, .. } | FrameError::TrailingBytes { header, .. } => header.as_ref(),
            _ => None,
        }
    }
}

/// Reads the size prefix at the front of `buf`. `Ok(None)` until 4 bytes are there; otherwise the
/// size of the frame *after* the prefix, checked against `max_frame_bytes`.
pub fn peek_frame_size(buf: &[u8], max_frame_bytes: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..SIZE_PREFIX_BYTES) else { return Ok(None) };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if size < 0 {
        return Err(FrameError::NegativeSize(size));
    }
    if size as usize > max_frame_bytes {
        return Err(FrameError::TooLarge { size: size as i64, max_frame_bytes });
    }
    Ok(Some(size as usize))
}

/// Cuts the first whole frame (without its size prefix) off `buf`, zero-copy; `Ok(None)` while
/// the frame is incomplete. Call it in a loop after each socket read.
pub fn split_frame(buf: &mut BytesMut, max_frame_bytes: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(size) = peek_frame_size(buf, max_frame_bytes)? else { return Ok(None) };
    if buf.len() < SIZE_PREFIX_BYTES + size {
        // Make room once for the whole frame so the reads that follow do not reallocate.
        buf.reserve(SIZE_PREFIX_BYTES + size - buf.len());
        return Ok(None);
    }
    buf.advance(SIZE_PREFIX_BYTES);
    Ok(Some(buf.split_to(size).freeze()))
}

fn check_version<T: ApiMessage>(version: i16) -> Result<(), FrameError> {
    if (T::MIN_VERSION..=T::MAX_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(FrameError::VersionOutOfRange { api_key: T::API_KEY, version, min: T::MIN_VERSION, max: T::MAX_VERSION })
    }
}

/// Writes a size slot, runs `write`, then fills the slot with the number of bytes written.
fn with_size_prefix(out: &mut BytesMut, write: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_i32(0);
    write(out);
    let size = (out.len() - start - SIZE_PREFIX_BYTES) as i32;
    out[start..start + SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
}

/// Appends a whole request frame (size, header, body) to `out`. The body is written at
/// `header.api_version`; the header version follows from the body's flexibility.
pub fn encode_request<T: Encode + ApiMessage>(
    out: &mut BytesMut,
    header: &RequestHeader,
    body: &T,
) -> Result<(), FrameError> {
    if header.api_key != T::API_KEY {
        return Err(FrameError::ApiKeyMismatch { header_api_key: header.api_key, body_api_key: T::API_KEY });
    }
    let version = header.api_version;
    check_version::<T>(version)?;
    let header_version = request_header_version(T::API_KEY, version);
    out.reserve(SIZE_PREFIX_BYTES + header.encoded_len(header_version));
    with_size_prefix(out, |out| {
        header.encode(out, header_version);
        body.encode(out, version);
    });
    Ok(())
}

/// Appends a whole response frame (size, header, body) to `out`, body at `version`.
pub fn encode_response<T: Encode + ApiMessage>(
    out: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &T,
) -> Result<(), FrameError> {
    check_version::<T>(version)?;
    let header_version = response_header_version(T::API_KEY, version);
    with_size_prefix(out, |out| {
        ResponseHeader { correlation_id }.encode(out, header_version);
        body.encode(out, version);
    });
    Ok(())
}

/// The correlation id at the front of a response frame, read before the body so the client can
/// find which in-flight request (and so which API and version) the frame answers.
pub fn response_correlation_id(frame: &[u8]) -> Result<i32, FrameError> {
    match frame.get(..4) {
        Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(FrameError::ResponseHeader(DecodeError::Truncated {
            field: "correlation_id",
            needed: 4,
            remaining: frame.len(),
        })),
    }
}

/// Decodes a response frame (as cut by [`split_frame`], without the size prefix) of the request
/// that was sent at `version`. The caller matches the correlation id to its in-flight request.
pub fn decode_response<T: Decode + ApiMessage>(frame: Bytes, version: i16) -> Result<(ResponseHeader, T), FrameError> {
    check_version::<T>(version)?;
    let api = ApiKey::from_i16(T::API_KEY).unwrap_or(ApiKey::ApiVersions);
    let mut buf = frame;
    let header = ResponseHeader::decode(&mut buf, response_header_version(T::API_KEY, version))
        .map_err(FrameError::ResponseHeader)?;
    let body = T::decode(&mut buf, version).map_err(|error| FrameError::Body { header: None, api, version, error })?;
    if !buf.is_empty() {
        return Err(FrameError::TrailingBytes { header: None, api, version, trailing: buf.len() });
    }
    Ok((header, body))
}

/// A whole request frame (size, header, body) as `Bytes`, with room for `size_hint` body bytes reserved up front
/// (one allocation for a produce request carrying its batches). The one request-framing path of the client: the
/// producer's connections, SASL authentication and `verify` all write requests through it.
pub fn request_frame<T: Encode + ApiMessage>(
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &T,
    size_hint: usize,
) -> Result<Bytes, FrameError> {
    let header = RequestHeader {
        api_key: T::API_KEY,
        api_version: version,
        correlation_id,
        client_id: client_id.map(str::to_string),
    };
    let mut out = BytesMut::with_capacity(64 + size_hint);
    encode_request(&mut out, &header, body)?;
    Ok(out.freeze())
}

/// [`request_frame`] as chunks ([`ChunkedFrame`]): the same bytes, but a Produce request's record batches are
/// referenced rather than copied (batches under [`COPY_BELOW_BYTES`](super::chunks::COPY_BELOW_BYTES) are
/// copied). `size_hint` is the room reserved for what is copied. Every other request is one chunk.
///
/// ```
/// use bytes::Bytes;
/// use kprod_proto::protocol::produce::{PartitionProduceData, ProduceRequest, TopicProduceData};
/// use kprod_proto::protocol::{request_frame, request_frame_chunked};
///
/// let batch = Bytes::from(vec![0u8; 4096]);
/// let req = ProduceRequest {
///     acks: -1,
///     timeout_ms: 30_000,
///     topic_data: vec![TopicProduceData {
///         name: "t".into(),
///         partition_data: vec![PartitionProduceData { index: 0, records: Some(batch.clone()) }],
///     }],
///     ..Default::default()
/// };
/// let frame = request_frame_chunked(9, 1, Some("doc"), &req, 0)?;
/// assert_eq!(frame.to_bytes(), request_frame(9, 1, Some("doc"), &req, 0)?, "the same bytes on the wire");
/// assert_eq!(frame.chunk_count(), 3, "prefix, the batch itself, the tagged fields after it");
/// assert_eq!(frame.chunks().nth(1).map(|c| c.as_ptr()), Some(batch.as_ptr()));
/// # Ok::<(), kprod_proto::protocol::FrameError>(())
/// ```
pub fn request_frame_chunked<T: Encode + ApiMessage>(
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &T,
    size_hint: usize,
) -> Result<ChunkedFrame, FrameError> {
    check_version::<T>(version)?;
    let header = RequestHeader {
        api_key: T::API_KEY,
        api_version: version,
        correlation_id,
        client_id: client_id.map(str::to_string),
    };
    let header_version = request_header_version(T::API_KEY, version);
    let mut out = ChunkWriter::with_capacity(SIZE_PREFIX_BYTES + header.encoded_len(header_version) + size_hint);
    out.buf().put_i32(0);
    header.encode(out.buf(), header_version);
    body.encode_chunks(&mut out, version);
    let size = (out.len() - SIZE_PREFIX_BYTES) as u32;
    out.patch_u32_at_start(size);
    Ok(out.finish())
}

/// A request body of any API this codec implements.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::protocol::{ApiKey, ApiVersionsRequest, FrameError, RequestBody, RequestFrame, RequestHeader, request_frame, split_frame};
///
/// let request = ApiVersionsRequest { client_software_name: "doc".into(), client_software_version: "1".into() };
/// let mut bytes = BytesMut::from(&request_frame(3, 42, Some("doc"), &request, 0)?[..]);
/// let frame = split_frame(&mut bytes, 1 << 20)?.expect("a whole frame");
/// let decoded = RequestFrame::decode(frame)?;
/// let header: &RequestHeader = &decoded.header;
/// assert_eq!((header.api_key, header.api_version, header.correlation_id), (ApiKey::ApiVersions.key(), 3, 42));
/// assert_eq!(decoded.body, RequestBody::ApiVersions(request));
/// // A size prefix above the limit is refused before anything is read.
/// let mut huge = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
/// assert!(matches!(split_frame(&mut huge, 1 << 20), Err(FrameError::TooLarge { .. })));
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// A Produce request.
    Produce(ProduceRequest),
    /// A Fetch request.
    Fetch(FetchRequest),
    /// A ListOffsets request.
    ListOffsets(ListOffsetsRequest),
    /// A Metadata request.
    Metadata(MetadataRequest),
    /// A FindCoordinator request.
    FindCoordinator(FindCoordinatorRequest),
    /// A ApiVersions request.
    ApiVersions(ApiVersionsRequest),
    /// A InitProducerId request.
    InitProducerId(InitProducerIdRequest),
    /// A SaslHandshake request.
    SaslHandshake(SaslHandshakeRequest),
    /// A SaslAuthenticate request.
    SaslAuthenticate(SaslAuthenticateRequest),
    /// A AddPartitionsToTxn request.
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    /// A AddOffsetsToTxn request.
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    /// A EndTxn request.
    EndTxn(EndTxnRequest),
    /// A TxnOffsetCommit request.
    TxnOffsetCommit(TxnOffsetCommitRequest),
}

impl RequestBody {
    /// The API of this body.
    pub fn api_key(&self) -> ApiKey {
        match self {
            RequestBody::Produce(_) => ApiKey::Produce,
            RequestBody::Fetch(_) => ApiKey::Fetch,
            RequestBody::ListOffsets(_) => ApiKey::ListOffsets,
            RequestBody::Metadata(_) => ApiKey::Metadata,
            RequestBody::FindCoordinator(_) => ApiKey::FindCoordinator,
            RequestBody::ApiVersions(_) => ApiKey::ApiVersions,
            RequestBody::InitProducerId(_) => ApiKey::InitProducerId,
            RequestBody::SaslHandshake(_) => ApiKey::SaslHandshake,
            RequestBody::SaslAuthenticate(_) => ApiKey::SaslAuthenticate,
            RequestBody::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
            RequestBody::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
            RequestBody::EndTxn(_) => ApiKey::EndTxn,
            RequestBody::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
        }
    }

    /// Reads the body of `api` at `version` (the caller checked that the version is supported).
    pub fn decode(api: ApiKey, buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {
        Ok(match api {
            ApiKey::Produce => RequestBody::Produce(Decode::decode(buf, version)?),
            ApiKey::Fetch => RequestBody::Fetch(Decode::decode(buf, version)?),
            ApiKey::ListOffsets => RequestBody::ListOffsets(Decode::decode(buf, version)?),
            ApiKey::Metadata => RequestBody::Metadata(Decode::decode(buf, version)?),
            ApiKey::FindCoordinator => RequestBody::FindCoordinator(Decode::decode(buf, version)?),
            ApiKey::ApiVersions => RequestBody::ApiVersions(Decode::decode(buf, version)?),
            ApiKey::InitProducerId => RequestBody::InitProducerId(Decode::decode(buf, version)?),
            ApiKey::SaslHandshake => RequestBody::SaslHandshake(Decode::decode(buf, version)?),
            ApiKey::SaslAuthenticate => RequestBody::SaslAuthenticate(Decode::decode(buf, version)?),
            ApiKey::AddPartitionsToTxn => RequestBody::AddPartitionsToTxn(Decode::decode(buf, version)?),
            ApiKey::AddOffsetsToTxn => RequestBody::AddOffsetsToTxn(Decode::decode(buf, version)?),
            ApiKey::EndTxn => RequestBody::EndTxn(Decode::decode(buf, version)?),
            ApiKey::TxnOffsetCommit => RequestBody::TxnOffsetCommit(Decode::decode(buf, version)?),
        })
    }

    /// Writes the body at `version`.
    pub fn encode(&self, out: &mut BytesMut, version: i16) {
        match self {
            RequestBody::Produce(b) => b.encode(out, version),
            RequestBody::Fetch(b) => b.encode(out, version),
            RequestBody::ListOffsets(b) => b.encode(out, version),
            RequestBody::Metadata(b) => b.encode(out, version),
            RequestBody::FindCoordinator(b) => b.encode(out, version),
            RequestBody::ApiVersions(b) => b.encode(out, version),
            RequestBody::InitProducerId(b) => b.encode(out, version),
            RequestBody::SaslHandshake(b) => b.encode(out, version),
            RequestBody::SaslAuthenticate(b) => b.encode(out, version),
            RequestBody::AddPartitionsToTxn(b) => b.encode(out, version),
            RequestBody::AddOffsetsToTxn(b) => b.encode(out, version),
            RequestBody::EndTxn(b) => b.encode(out, version),
            RequestBody::TxnOffsetCommit(b) => b.encode(out, version),
        }
    }
}

/// A decoded request: header and typed body.
///
/// ```
/// use bytes::BytesMut;
/// use kprod_proto::protocol::{ApiKey, ApiVersionsRequest, FrameError, RequestBody, RequestFrame, RequestHeader, request_frame, split_frame};
///
/// let request = ApiVersionsRequest { client_software_name: "doc".into(), client_software_version: "1".into() };
/// let mut bytes = BytesMut::from(&request_frame(3, 42, Some("doc"), &request, 0)?[..]);
/// let frame = split_frame(&mut bytes, 1 << 20)?.expect("a whole frame");
/// let decoded = RequestFrame::decode(frame)?;
/// let header: &RequestHeader = &decoded.header;
/// assert_eq!((header.api_key, header.api_version, header.correlation_id), (ApiKey::ApiVersions.key(), 3, 42));
/// assert_eq!(decoded.body, RequestBody::ApiVersions(request));
/// // A size prefix above the limit is refused before anything is read.
/// let mut huge = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
/// assert!(matches!(split_frame(&mut huge, 1 << 20), Err(FrameError::TooLarge { .. })));
/// # Ok::<(), FrameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame {
    /// The request header.
    pub header: RequestHeader,
    /// The typed body.
    pub body: RequestBody,
}

impl RequestFrame {
    /// Decodes a request frame (as cut by [`split_frame`], without the size prefix).
    ///
    /// Unknown APIs and unsupported versions fail *after* the header is parsed, carrying it.
    pub fn decode(frame: Bytes) -> Result<RequestFrame, FrameError> {
        let mut buf = frame;
        let header = RequestHeader::decode_auto(&mut buf).map_err(FrameError::Header)?;
        let Some(api) = ApiKey::from_i16(header.api_key) else {
            return Err(FrameError::UnknownApiKey { header });
        };
        let version = header.api_version;
        let supported = api.supported();
        if !supported.contains(version) {
            return Err(FrameError::UnsupportedVersion { header, api, supported });
        }
        let body = match RequestBody::decode(api, &mut buf, version) {
            Ok(body) => body,
            Err(error) => return Err(FrameError::Body { header: Some(header), api, version, error }),
        };
        if !buf.is_empty() {
            return Err(FrameError::TrailingBytes { header: Some(header), api, version, trailing: buf.len() });
        }
        Ok(RequestFrame { header, body })
    }

    /// Appends the whole frame (size prefix included) to `out`, at `header.api_version`.
    pub fn encode(&self, out: &mut BytesMut) {
        let header_version = request_header_version(self.header.api_key, self.header.api_version);
        with_size_prefix(out, |out| {
            self.header.encode(out, header_version);
            self.body.encode(out, self.header.api_version);
        });
    }
}

#[cfg(test)]
mod tests;
