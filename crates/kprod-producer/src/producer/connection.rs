//! The IO side of one TCP connection to one broker: connect, negotiate versions with ApiVersions, authenticate with
//! SASL when the protocol asks for it ([`crate::security::authenticate`]), then a writer task and a reader task that
//! only move frames. Everything else about a connection (correlation ids, the in-flight queue, what a response
//! answers) belongs to the sans-IO sender core (`producer::sender::conn`), which never sees a socket: the
//! sender's IO loop hands it the [`Handshake`] and keeps the [`ConnIo`]. Responses come back in request order
//! (Kafka guarantees it per connection) as [`ConnEvent`]s.
//!
//! With TLS (`security.protocol=SSL|SASL_SSL`) the handshake runs right after the TCP connect, before ApiVersions;
//! the tasks then run over the two halves of the TLS stream (`tokio::io::split`). PLAINTEXT keeps the socket's
//! own owned halves: the reader and writer are generic, so each path is compiled for its own stream type.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::producer::error::ProducerError;
use crate::protocol::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::error::ErrorCode;
use crate::protocol::versions::{ApiKey, NegotiatedVersions, negotiate};
use crate::protocol::{ChunkedFrame, decode_response, request_frame};
use crate::security::tls::{TlsSettings, host_of, rustls_error};

/// Largest response frame accepted; a bigger size prefix closes the connection (hostile or corrupt peer).
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// What the connection tasks tell the sender's IO loop.
#[derive(Debug)]
pub enum ConnEvent {
    /// A connection attempt finished.
    Connected {
        /// The connection's id.
        conn_id: u64,
        /// The handshake's outcome and, on success, the connection's IO halves.
        result: Result<(Handshake, ConnIo), ProducerError>,
    },
    /// One response frame (after the size prefix) arrived.
    Response {
        /// The connection's id.
        conn_id: u64,
        /// The frame, without its size prefix.
        frame: Bytes,
    },
    /// The connection is gone; everything in flight on it failed.
    Closed {
        /// The connection's id.
        conn_id: u64,
        /// Why it closed.
        reason: String,
    },
}

/// What the handshake learnt about a connection: everything the sender core needs to use it.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The API versions both sides speak (ApiVersions).
    pub versions: NegotiatedVersions,
    /// The cluster's finalized `transaction.version` feature (0 when absent): 2+ means transactions v2 (KIP-890).
    pub transaction_version: i16,
    /// KIP-368 re-authentication: when the broker granted a SASL session lifetime, the time (a random point
    /// between 85% and 95% of it, as Java picks) after which the sender stops using this connection and, once its
    /// in-flight requests are answered, replaces it with a freshly authenticated one.
    pub reauth_at: Option<Instant>,
}

impl Handshake {
    /// The sans-IO half of the handshake: versions and features from an ApiVersions answer.
    pub fn from_api_versions(body: &ApiVersionsResponse) -> Result<Handshake, String> {
        let versions = negotiate(body, &[ApiKey::Produce, ApiKey::Metadata]).map_err(|e| e.to_string())?;
        Ok(Handshake { versions, transaction_version: body.transaction_version(), reauth_at: None })
    }
}

/// The IO side of a live connection: the writer task's queue and the reader task. Dropping it closes the
/// connection (the reader is aborted, the writer ends when its queue closes).
#[derive(Debug)]
pub struct ConnIo {
    tx: mpsc::UnboundedSender<ChunkedFrame>,
    reader: tokio::task::AbortHandle,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl ConnIo {
    /// Queues a whole frame for the writer task (a `Bytes` frame converts into one chunk). Fails only if the
    /// writer is gone.
    pub fn send(&self, frame: impl Into<ChunkedFrame>) -> Result<(), ConnectionClosed> {
        self.tx.send(frame.into()).map_err(|_| ConnectionClosed)
    }
}

/// The writer task is gone; the connection must be dropped.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("connection closed")]
pub struct ConnectionClosed;

/// Settings for connecting.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// `client.id` sent in every request header (`None`: empty).
    pub client_id: Option<String>,
    /// Bound on TCP connect and the TLS handshake.
    pub connect_timeout: Duration,
    /// Bound on each request of the handshake (ApiVersions, SASL).
    pub request_timeout: Duration,
    /// `Some` for `security.protocol=SSL|SASL_SSL`: the producer's shared TLS config.
    pub tls: Option<TlsSettings>,
    /// SASL mechanism and credentials when `security.protocol` is SASL_*.
    pub sasl: Option<std::sync::Arc<crate::security::SaslSettings>>,
}

/// Connects to `address` (TCP, then TLS if configured), negotiates versions, and starts the reader and writer
/// tasks. The reader reports to `events`. Errors name the address; TLS failures are `ProducerError::Tls`.
pub async fn connect(
    id: u64,
    address: String,
    settings: ConnectSettings,
    events: mpsc::UnboundedSender<ConnEvent>,
) -> Result<(Handshake, ConnIo), ProducerError> {
    let err = |reason: String| ProducerError::Connection { address: address.clone(), reason };
    let stream = tokio::time::timeout(settings.connect_timeout, TcpStream::connect(&address))
        .await
        .map_err(|_| err(format!("connect timed out after {} ms", settings.connect_timeout.as_millis())))?
        .map_err(|e| err(e.to_string()))?;
    stream.set_nodelay(true).map_err(|e| err(e.to_string()))?;
    match settings.tls.clone() {
        None => {
            let mut stream = stream;
            let est = establish(&mut stream, &address, &settings).await?;
            let (read_half, write_half) = stream.into_split();
            Ok((est, start(id, read_half, write_half, events)))
        }
        Some(tls) => {
            let host = host_of(&address);
            let mut stream = tokio::time::timeout(settings.connect_timeout, tls.handshake(host, stream))
                .await
                .map_err(|_| {
                    err(format!(
                        "TLS handshake timed out after {} ms (is the listener TLS?)",
                        settings.connect_timeout.as_millis()
                    ))
                })?
                .map_err(|e| ProducerError::Tls {
                    broker: address.clone(),
                    reason: e.reason,
                    cause: e.cause.map(|c| Arc::new(c) as _),
                })?;
            let est = establish(&mut stream, &address, &settings).await?;
            let (read_half, write_half) = tokio::io::split(stream);
            Ok((est, start(id, read_half, write_half, events)))
        }
    }
}

/// Everything between the transport and the first produce, over any stream: ApiVersions (then, for SASL, the
/// authentication exchange, whose session lifetime gives the re-authentication time). A TLS error on the first
/// read (TLS 1.3 servers refuse a client certificate only after the client finished its handshake) and a TLS
/// reply to a plaintext request are `ProducerError::Tls`.
async fn establish<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    address: &str,
    settings: &ConnectSettings,
) -> Result<Handshake, ProducerError> {
    let err = |reason: String| ProducerError::Connection { address: address.to_string(), reason };
    // ApiVersions v3 first; a broker that does not know it answers with UNSUPPORTED_VERSION in a v0 body.
    let mut handshake = None;
    for v in [3i16, 0] {
        let req = ApiVersionsRequest {
            client_software_name: "kprod".into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
        };
        let frame = request_frame(v, 0, settings.client_id.as_deref(), &req, 64).map_err(|e| err(e.to_string()))?;
        let resp = tokio::time::timeout(settings.request_timeout, async {
            stream.write_all(&frame).await?;
            stream.flush().await?;
            read_frame(stream).await
        })
        .await
        .map_err(|_| err("ApiVersions timed out".into()))?
        .map_err(|e| match (rustls_error(&e), &settings.tls) {
            (Some(_), Some(tls)) => ProducerError::Tls {
                broker: address.to_string(),
                reason: tls.describe_io_error(&e, host_of(address), false),
                cause: Some(Arc::new(e)),
            },
            _ if settings.tls.is_none()
                && e.kind() == std::io::ErrorKind::InvalidData
                && e.to_string().contains(TLS_REPLY_HINT) =>
            {
                ProducerError::Tls { broker: address.to_string(), reason: e.to_string(), cause: Some(Arc::new(e)) }
            }
            _ => err(format!("ApiVersions failed: {e}")),
        })?;
        let (_, body): (_, ApiVersionsResponse) = decode_response(resp, v).map_err(|e| err(e.to_string()))?;
        if body.error_code == ErrorCode::UnsupportedVersion && v > 0 {
            continue;
        }
        handshake = Some(Handshake::from_api_versions(&body).map_err(err)?);
        break;
    }
    let mut handshake = handshake.ok_or_else(|| err("no ApiVersions version accepted".into()))?;
    if let Some(sasl) = &settings.sasl {
        let auth = crate::security::authenticate::authenticate(
            stream,
            address,
            &handshake.versions,
            sasl,
            settings.client_id.as_deref(),
            settings.request_timeout,
        )
        .await?;
        handshake.reauth_at = auth.session_lifetime.map(|l| Instant::now() + reauth_delay(l));
    }
    Ok(handshake)
}

/// Spawns the writer and reader tasks over the two halves of a ready connection.
fn start<R, W>(id: u64, read_half: R, write_half: W, events: mpsc::UnboundedSender<ConnEvent>) -> ConnIo
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(writer(write_half, rx));
    let reader = tokio::spawn(reader(id, read_half, events)).abort_handle();
    ConnIo { tx, reader }
}

/// In a size-out-of-bounds error: the first bytes were a TLS record header (a TLS listener answering a
/// plaintext request with an alert).
const TLS_REPLY_HINT: &str = "the broker answered with TLS";

/// When to re-authenticate within a session `lifetime`: a random point between 85% and 95% of it, as Java's
/// `SaslClientAuthenticator` does, so a fleet of clients does not reconnect in lockstep.
pub fn reauth_delay(lifetime: Duration) -> Duration {
    use rand::Rng;
    lifetime.mul_f64(rand::thread_rng().gen_range(0.85..0.95))
}

/// Reads one `[size][payload]` frame, refusing sizes beyond `MAX_RESPONSE_BYTES`.
async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> std::io::Result<Bytes> {
    let size = r.read_i32().await?;
    if size < 0 || size as usize > MAX_RESPONSE_BYTES {
        let [kind, major, ..] = size.to_be_bytes();
        // 0x15 alert / 0x16 handshake, then version 3.x: what a TLS listener sends to a plaintext client.
        let reason = if (kind == 0x15 || kind == 0x16) && major == 3 {
            format!("{TLS_REPLY_HINT}: the listener expects TLS, set security.protocol=SSL (or SASL_SSL)")
        } else {
            format!("response size {size} out of bounds")
        };
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, reason));
    }
    let mut buf = BytesMut::zeroed(size as usize);
    r.read_exact(&mut buf).await?;
    Ok(buf.freeze())
}

/// Chunks gathered into one write: tokio's `write_all_buf` hands at most 64 to each `writev`.
const WRITE_CHUNKS: usize = 64;

/// The writer task: writes each frame's chunks (a Produce frame's batches are the batches' own bytes) with
/// vectored writes where the stream has them (`write_all_buf`: a socket half gets one `writev` per call, TLS copies
/// them into its records), resuming a partial write where it stopped. Frames already queued join the same writes,
/// in order, up to [`WRITE_CHUNKS`] chunks. Each chunk is released once written.
async fn writer<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::UnboundedReceiver<ChunkedFrame>) {
    while let Some(mut out) = rx.recv().await {
        while out.chunk_count() < WRITE_CHUNKS {
            match rx.try_recv() {
                Ok(more) => out.append(more),
                Err(_) => break,
            }
        }
        if w.write_all_buf(&mut out).await.is_err() {
            break;
        }
        // A TLS stream may hold encrypted bytes until flushed; for a socket half this is a no-op.
        if w.flush().await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

async fn reader<R: AsyncRead + Unpin>(id: u64, mut r: R, events: mpsc::UnboundedSender<ConnEvent>) {
    let mut r = tokio::io::BufReader::with_capacity(64 * 1024, &mut r);
    loop {
        match read_frame(&mut r).await {
            Ok(frame) => {
                if events.send(ConnEvent::Response { conn_id: id, frame }).is_err() {
                    return;
                }
            }
            Err(e) => {
                let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "connection closed by broker".into()
                } else {
                    e.to_string()
                };
                let _ = events.send(ConnEvent::Closed { conn_id: id, reason });
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;
    use crate::protocol::produce::{PartitionProduceData, ProduceRequest, TopicProduceData};
    use crate::protocol::request_frame_chunked;

    /// A stream that takes at most 7 bytes per write and is not ready every other call (it wakes itself), with or
    /// without vectored writes.
    struct Trickle {
        out: Vec<u8>,
        vectored: bool,
        calls: usize,
        vectored_calls: usize,
        shut_down: bool,
    }

    const PER_CALL: usize = 7;

    impl Trickle {
        fn new(vectored: bool) -> Self {
            Trickle { out: Vec::new(), vectored, calls: 0, vectored_calls: 0, shut_down: false }
        }

        fn not_ready_now(&mut self, cx: &mut Context<'_>) -> bool {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                cx.waker().wake_by_ref();
                return true;
            }
            false
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            if self.not_ready_now(cx) {
                return Poll::Pending;
            }
            let n = buf.len().min(PER_CALL);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            assert!(self.vectored, "vectored write on a stream that has none");
            if self.not_ready_now(cx) {
                return Poll::Pending;
            }
            self.vectored_calls += 1;
            let mut left = PER_CALL;
            for b in bufs {
                let n = b.len().min(left);
                self.out.extend_from_slice(&b[..n]);
                left -= n;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(PER_CALL - left))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            self.shut_down = true;
            Poll::Ready(Ok(()))
        }
    }

    /// Produce frames whose batches straddle every chunk boundary a 7-byte write can meet, and a one-chunk frame.
    fn frames() -> Vec<ChunkedFrame> {
        let batch = |n: usize, seed: u8| {
            Some(Bytes::from((0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect::<Vec<_>>()))
        };
        let mut out = Vec::new();
        for (version, sizes) in [(3, vec![3000, 13, 4096]), (9, vec![2048, 2047, 5000, 7]), (12, vec![70_000])] {
            let req = ProduceRequest {
                transactional_id: (version == 12).then(|| "tx".to_string()),
                acks: -1,
                timeout_ms: 30_000,
                topic_data: vec![TopicProduceData {
                    name: "topic".into(),
                    partition_data: sizes
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| PartitionProduceData { index: i as i32, records: batch(n, i as u8) })
                        .collect(),
                }],
            };
            out.push(request_frame_chunked(version, out.len() as i32, Some("w"), &req, 0).unwrap());
        }
        out.push(ChunkedFrame::from(Bytes::from_static(b"\0\0\0\x05hello")));
        assert!(out.iter().any(|f| f.chunk_count() > 3));
        out
    }

    async fn write_through(stream: &mut Trickle, frames: Vec<ChunkedFrame>) {
        let (tx, rx) = mpsc::unbounded_channel();
        for f in frames {
            tx.send(f).unwrap();
        }
        drop(tx);
        writer(&mut *stream, rx).await;
    }

    #[tokio::test]
    async fn the_writer_puts_every_byte_in_order_through_short_writes() {
        let expected: Vec<u8> = frames().iter().flat_map(|f| f.to_bytes().to_vec()).collect();
        for vectored in [true, false] {
            let mut stream = Trickle::new(vectored);
            write_through(&mut stream, frames()).await;
            assert_eq!(stream.out.len(), expected.len(), "vectored: {vectored}");
            assert!(stream.out == expected, "vectored: {vectored}: the bytes differ");
            assert!(stream.shut_down);
            assert_eq!(stream.vectored_calls > 0, vectored);
        }
    }

    #[tokio::test]
    async fn the_writer_writes_frames_sent_one_by_one() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut stream = Trickle::new(true);
        let expected: Vec<u8> = frames().iter().flat_map(|f| f.to_bytes().to_vec()).collect();
        let feed = async move {
            for f in frames() {
                tx.send(f).unwrap();
                tokio::task::yield_now().await;
            }
        };
        tokio::join!(writer(&mut stream, rx), feed);
        assert!(stream.out == expected);
    }
}
