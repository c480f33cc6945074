//! The tokio side of one mock broker: accept connections, cut frames, hand them to the sans-IO
//! handler, and write the responses back — in request order, after any injected latency.
//!
//! Shaped like mini-redis: [`run`] serves a bound listener until the `shutdown` future completes,
//! then drops the listener and every open connection (so a broker going "down" really closes its
//! sockets). Each connection is one task with a reader half (frames → handler → queue) and a
//! writer half (queue → socket, waiting until each response's due time).
//!
//! TLS (optional, [`run_with_tls`]): each accepted socket runs the handshake inside its own task, bounded by
//! [`TLS_HANDSHAKE_TIMEOUT`] so a silent client cannot pin it; then the same frame loop runs over the TLS stream
//! (split with `tokio::io::split`). The plaintext path keeps the socket's own owned halves.
//!
//! Limits: a frame larger than `ClusterConfig::max_frame_bytes` or with a negative size closes
//! the connection before anything is allocated; the read buffer grows with the bytes received (at
//! most 4 MiB ahead), never with the size a prefix merely claims; at most [`RESPONSES_QUEUED_MAX`] responses wait
//! per connection (the reader stops reading beyond that, pushing back on the client).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::handler::{Outcome, handle_frame};
use super::sasl::Session;
use super::state::ClusterState;
use crate::protocol::frame::{SIZE_PREFIX_BYTES, peek_frame_size};
use crate::protocol::split_frame;

/// Responses waiting to be written on one connection.
pub(crate) const RESPONSES_QUEUED_MAX: usize = 256;
/// Longest a client may take to complete the TLS handshake.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer grown by at least this much before each read.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Largest single growth of the read buffer while a big frame trickles in.
const FRAME_GROWTH_MAX_BYTES: usize = 4 << 20;

/// One queued response (or the order to close).
struct Outgoing {
    /// Not written before this time (injected latency, empty-fetch wait).
    due: Instant,
    /// `None` closes the connection once the earlier responses are written.
    bytes: Option<Bytes>,
}

/// Serves broker `broker_id` of `state` on `listener` until `shutdown` completes, with TLS on every connection
/// when `tls` is given.
pub(crate) async fn run_with_tls(
    listener: TcpListener,
    state: Arc<ClusterState>,
    broker_id: i32,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    tracing::debug!(broker_id, %peer, "mock broker accepted a connection");
                    if let Some(s) = state.stats(broker_id) {
                        s.connections_accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = socket.set_nodelay(true);
                    match &tls {
                        None => connections.spawn(serve_connection(socket, state.clone(), broker_id)),
                        Some(t) => connections.spawn(serve_tls_connection(socket, t.clone(), state.clone(), broker_id)),
                    };
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(broker_id, error = %e, "mock broker accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
    tracing::debug!(broker_id, "mock broker stopped");
}

/// Serves one client connection until either side closes it.
pub(crate) async fn serve_connection(socket: TcpStream, state: Arc<ClusterState>, broker_id: i32) {
    let (rd, wr) = socket.into_split();
    serve_halves(rd, wr, state, broker_id).await;
}

/// Runs the TLS handshake (bounded by [`TLS_HANDSHAKE_TIMEOUT`]), then serves the connection over TLS.
pub(crate) async fn serve_tls_connection(
    socket: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<ClusterState>,
    broker_id: i32,
) {
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(broker_id, error = %e, "mock broker TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(broker_id, "mock broker TLS handshake timed out");
            return;
        }
    };
    let (rd, wr) = tokio::io::split(stream);
    serve_halves(rd, wr, state, broker_id).await;
}

async fn serve_halves<R, W>(rd: R, wr: W, state: Arc<ClusterState>, broker_id: i32)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::channel(RESPONSES_QUEUED_MAX);
    tokio::join!(read_loop(rd, tx, &state, broker_id), write_loop(wr, rx));
}

async fn read_loop<R: AsyncRead + Unpin>(mut rd: R, tx: mpsc::Sender<Outgoing>, state: &ClusterState, broker_id: i32) {
    let max_frame_bytes = state.config.max_frame_bytes;
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut out = BytesMut::new();
    // Authentication state of this connection, and when its SASL session expires (KIP-368).
    let mut session = Session::default();
    let mut session_deadline: Option<Instant> = None;
    let close = |why: &dyn std::fmt::Display| {
        tracing::debug!(broker_id, reason = %why, "mock broker closing a connection");
        if let Some(s) = state.stats(broker_id) {
            s.connections_closed_by_broker.fetch_add(1, Ordering::Relaxed);
        }
        Outgoing { due: Instant::now(), bytes: None }
    };
    loop {
        loop {
            // Grow the buffer with the bytes that arrive, not with what the size prefix claims:
            // a peer announcing 100 MiB and sending nothing costs us nothing.
            match peek_frame_size(&buf, max_frame_bytes) {
                Ok(Some(size)) if buf.len() >= SIZE_PREFIX_BYTES + size => {}
                Ok(Some(size)) => {
                    buf.reserve((SIZE_PREFIX_BYTES + size - buf.len()).min(FRAME_GROWTH_MAX_BYTES));
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(close(&e)).await;
                    return;
                }
            }
            let frame = match split_frame(&mut buf, max_frame_bytes) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(close(&e)).await;
                    return;
                }
            };
            let (link_free_at, latency) = shape(state, broker_id, frame.len() + 4);
            if let Some(t) = link_free_at {
                tokio::time::sleep_until(t).await;
            }
            let received = Instant::now();
            if session_deadline.is_some_and(|d| received >= d) {
                session.expired = true;
            }
            let handled = handle_frame(state, broker_id, &mut session, frame, &mut out);
            if let Some(lifetime) = session.take_lifetime() {
                session_deadline = Some(received + lifetime);
            }
            match handled.outcome {
                Outcome::Respond => {
                    let due = received + latency + handled.delay;
                    if tx.send(Outgoing { due, bytes: Some(out.split().freeze()) }).await.is_err() {
                        return;
                    }
                    if session.close_after_response {
                        let _ = tx.send(close(&"SASL authentication failed")).await;
                        return;
                    }
                }
                Outcome::Silent => {}
                Outcome::Close => {
                    let _ = tx.send(close(&"request refused or injected drop")).await;
                    return;
                }
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK_BYTES / 4 {
            buf.reserve(READ_CHUNK_BYTES);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Applies the broker's bandwidth cap and latency to a request of `bytes`: when the link is free
/// again (if capped) and the latency to add to the response.
fn shape(state: &ClusterState, broker_id: i32, bytes: usize) -> (Option<Instant>, Duration) {
    if !state.faults.broker_armed(broker_id) {
        return (None, Duration::ZERO);
    }
    state
        .faults
        .with_broker(broker_id, |f| {
            let latency = match &f.latency {
                Some(l) => l.clone().sample(&mut f.rng),
                None => Duration::ZERO,
            };
            let free_at = f.bandwidth_bytes_per_s.map(|rate| {
                let now = Instant::now();
                let start = f.link_free_at.filter(|t| *t > now).unwrap_or(now);
                let t = start + Duration::from_secs_f64(bytes as f64 / rate as f64);
                f.link_free_at = Some(t);
                t
            });
            (free_at, latency)
        })
        .unwrap_or((None, Duration::ZERO))
}

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(o) = rx.recv().await {
        if o.due > Instant::now() {
            tokio::time::sleep_until(o.due).await;
        }
        match o.bytes {
            Some(b) => {
                // A TLS stream may keep encrypted bytes buffered until flushed; for a socket flush is a no-op.
                if wr.write_all(&b).await.is_err() || wr.flush().await.is_err() {
                    return;
                }
            }
            None => {
                let _ = wr.shutdown().await;
                return;
            }
        }
    }
}
