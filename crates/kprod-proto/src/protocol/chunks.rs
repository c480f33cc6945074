//! Request frames as a list of byte chunks, so a Produce request carries its record batches' own [`Bytes`]
//! instead of a copy of them (issue 19).
//!
//! A [`ChunkedFrame`] is a sequence of [`Bytes`] whose concatenation is the frame on the wire (size prefix, header,
//! body). An encoder writes the small fields into one buffer of the [`ChunkWriter`] and hands it large blobs (a
//! sealed record batch) with [`ChunkWriter::put_shared`]: the buffer is cut there, the blob becomes a chunk of its
//! own (a reference count, no copy) and the small fields that follow go on in the same allocation. A Produce
//! request to *n* partitions is so at most *2n + 1* chunks: one allocation for every prefix, plus the batches.
//!
//! [`ChunkedFrame`] implements [`bytes::Buf`] (with [`chunks_vectored`](Buf::chunks_vectored)), so the
//! connection writes it with `write_all_buf`: one `writev` per call on a socket, whatever each call accepts,
//! each chunk released as soon as it is written. Nothing here does IO.
//!
//! librdkafka does the same per message with its segment buffers: a payload above `msg.copy.max.size` is pushed
//! as a reference, smaller ones are copied.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Blobs shorter than this are copied into the frame's own buffer instead of referenced. A referenced batch costs
/// ~160 instructions more than a copied one (a reference count up and down, a cut of the prefix buffer, two more
/// chunks, each an iovec entry), and copying costs ~0.09 instructions per byte, so below ~2 KiB copying is cheaper
/// (`examples/frame_cost.rs` under callgrind); it also keeps a request to many partitions with tiny batches to a
/// few chunks (tokio's `write_all_buf` passes at most 64 per `writev`).
pub const COPY_BELOW_BYTES: usize = 2048;

/// A whole frame as chunks; their concatenation is the bytes on the wire. Reading it as a [`Buf`] consumes it
/// front to back and drops each chunk once read past. No `PartialEq`: two frames with the same bytes may be cut
/// differently; compare [`to_bytes`](Self::to_bytes).
///
/// ```
/// use bytes::{Buf, Bytes};
/// use kprod_proto::protocol::ChunkedFrame;
///
/// let mut frame = ChunkedFrame::from(Bytes::from_static(b"head"));
/// frame.push(Bytes::from_static(b"-batch"));
/// assert_eq!((frame.len(), frame.chunk_count()), (10, 2));
/// assert_eq!(&frame.to_bytes()[..], b"head-batch");
/// frame.advance(6);
/// assert_eq!(frame.chunk(), b"atch");
/// ```
#[derive(Clone, Default)]
pub struct ChunkedFrame {
    chunks: VecDeque<Bytes>,
    remaining: usize,
}

impl std::fmt::Debug for ChunkedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedFrame").field("len", &self.remaining).field("chunks", &self.chunks.len()).finish()
    }
}

impl ChunkedFrame {
    /// An empty frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a chunk (an empty one is dropped).
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.remaining += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Appends every chunk of `other` (the connection's writer queues several frames into one write).
    pub fn append(&mut self, other: ChunkedFrame) {
        self.remaining += other.remaining;
        self.chunks.extend(other.chunks);
    }

    /// Bytes left (all of them until read as a [`Buf`]).
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// True when no byte is left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// Chunks left.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The chunks left, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        self.chunks.iter()
    }

    /// The frame as one contiguous `Bytes`: the chunk itself when there is one, else a copy.
    pub fn to_bytes(&self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks[0].clone(),
            _ => {
                let mut out = BytesMut::with_capacity(self.remaining);
                for c in &self.chunks {
                    out.extend_from_slice(c);
                }
                out.freeze()
            }
        }
    }
}

impl From<Bytes> for ChunkedFrame {
    fn from(b: Bytes) -> Self {
        let mut f = ChunkedFrame::new();
        f.push(b);
        f
    }
}

impl Buf for ChunkedFrame {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |c| &c[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a frame: {cnt} > {}", self.remaining);
        self.remaining -= cnt;
        while cnt > 0 {
            let front = self.chunks.front_mut().expect("remaining counts the chunks' bytes");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.chunks.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, c) in dst.iter_mut().zip(&self.chunks) {
            *slot = IoSlice::new(c);
            n += 1;
        }
        n
    }
}

/// Builds a [`ChunkedFrame`]: small fields go into [`buf`](Self::buf), blobs through
/// [`put_shared`](Self::put_shared).
///
/// ```
/// use bytes::{BufMut, Bytes};
/// use kprod_proto::protocol::ChunkWriter;
///
/// let batch = Bytes::from(vec![7u8; 4096]);
/// let mut w = ChunkWriter::with_capacity(16);
/// w.buf().put_u32(4096);
/// w.put_shared(&batch);
/// w.buf().put_u8(0);
/// let frame = w.finish();
/// assert_eq!((frame.len(), frame.chunk_count()), (4 + 4096 + 1, 3));
/// // The batch is referenced, not copied.
/// assert_eq!(frame.chunks().nth(1).map(|c| c.as_ptr()), Some(batch.as_ptr()));
/// ```
pub struct ChunkWriter {
    /// Bytes written since the last cut.
    head: BytesMut,
    /// What was written before the first cut, kept mutable for [`patch_u32_at_start`](Self::patch_u32_at_start).
    first: Option<BytesMut>,
    /// Every chunk after `first`, in order.
    rest: ChunkedFrame,
}

impl ChunkWriter {
    /// A writer whose buffer for small fields holds `capacity` bytes before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        ChunkWriter { head: BytesMut::with_capacity(capacity), first: None, rest: ChunkedFrame::new() }
    }

    /// Room for `n` more chunks (a Produce request of *p* partitions makes at most *2p + 1*).
    pub fn reserve_chunks(&mut self, n: usize) {
        self.rest.chunks.reserve(n);
    }

    /// Where small fields are written.
    #[inline]
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.head
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.first.as_ref().map_or(0, BytesMut::len) + self.rest.len() + self.head.len()
    }

    /// True before anything is written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `blob`: as a chunk of its own (no copy) from [`COPY_BELOW_BYTES`] up, else copied into the buffer.
    #[inline]
    pub fn put_shared(&mut self, blob: &Bytes) {
        if blob.len() < COPY_BELOW_BYTES {
            self.head.extend_from_slice(blob);
            return;
        }
        self.cut();
        self.rest.push(blob.clone());
    }

    /// Ends the current run of small fields (the same allocation goes on after it).
    fn cut(&mut self) {
        if self.head.is_empty() {
            return;
        }
        let part = self.head.split();
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(part);
        } else {
            self.rest.push(part.freeze());
        }
    }

    /// Overwrites the first four bytes written with `v` (big-endian): the frame's size prefix, known only at the
    /// end. Nothing is done if fewer than four bytes were written before the first blob.
    pub fn patch_u32_at_start(&mut self, v: u32) {
        let first = match self.first.as_mut() {
            Some(first) => first,
            None if self.rest.is_empty() => &mut self.head,
            None => return,
        };
        if let Some(slot) = first.get_mut(..4) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// The frame.
    pub fn finish(mut self) -> ChunkedFrame {
        let mut frame = std::mem::take(&mut self.rest);
        frame.push(self.head.freeze());
        if let Some(first) = self.first {
            let first = first.freeze();
            frame.remaining += first.len();
            frame.chunks.push_front(first);
        }
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn frame_of(chunks: &[&[u8]]) -> ChunkedFrame {
        let mut f = ChunkedFrame::new();
        for c in chunks {
            f.push(Bytes::copy_from_slice(c));
        }
        f
    }

    #[test]
    fn advance_walks_across_chunks_and_drops_what_was_read() {
        let mut f = frame_of(&[b"abc", b"", b"defg", b"h"]);
        assert_eq!((f.len(), f.chunk_count()), (8, 3), "the empty chunk is not kept");
        f.advance(2);
        assert_eq!(f.chunk(), b"c");
        f.advance(1);
        assert_eq!((f.chunk(), f.chunk_count()), (&b"defg"[..], 2));
        f.advance(5);
        assert!(f.is_empty() && f.chunk().is_empty() && f.chunk_count() == 0);
        f.advance(0);
    }

    #[test]
    #[should_panic(expected = "advance past the end")]
    fn advance_past_the_end_panics() {
        frame_of(&[b"ab"]).advance(3);
    }

    #[test]
    fn chunks_vectored_fills_at_most_the_slots_given() {
        let f = frame_of(&[b"a", b"bc", b"def"]);
        let mut slots = [IoSlice::new(&[]); 2];
        assert_eq!(f.chunks_vectored(&mut slots), 2);
        assert_eq!((&*slots[0], &*slots[1]), (&b"a"[..], &b"bc"[..]));
        let mut many = [IoSlice::new(&[]); 8];
        assert_eq!(f.chunks_vectored(&mut many), 3);
        assert_eq!(f.chunks_vectored(&mut []), 0);
    }

    #[test]
    fn the_writer_copies_small_blobs_and_references_large_ones() {
        let small = Bytes::from(vec![1u8; COPY_BELOW_BYTES - 1]);
        let large = Bytes::from(vec![2u8; COPY_BELOW_BYTES]);
        let mut w = ChunkWriter::with_capacity(8);
        w.buf().put_u32(0);
        w.put_shared(&small);
        w.buf().put_u8(9);
        w.put_shared(&large);
        w.put_shared(&large);
        w.buf().put_u8(10);
        assert_eq!(w.len(), 4 + small.len() + 1 + 2 * large.len() + 1);
        let total = w.len() as u32;
        w.patch_u32_at_start(total - 4);
        let f = w.finish();
        let sizes: Vec<usize> = f.chunks().map(Bytes::len).collect();
        assert_eq!(sizes, [4 + small.len() + 1, large.len(), large.len(), 1]);
        assert!(f.chunks().skip(1).take(2).all(|c| c.as_ptr() == large.as_ptr()), "referenced, not copied");
        let flat = f.to_bytes();
        assert_eq!(&flat[..4], &(total - 4).to_be_bytes());
        let mut expected = (total - 4).to_be_bytes().to_vec();
        expected.extend_from_slice(&small);
        expected.push(9);
        expected.extend_from_slice(&large);
        expected.extend_from_slice(&large);
        expected.push(10);
        assert_eq!(&flat[..], &expected[..]);
    }

    #[test]
    fn a_writer_that_begins_with_a_blob_keeps_it_first_and_patches_nothing() {
        let large = Bytes::from(vec![3u8; COPY_BELOW_BYTES]);
        let mut w = ChunkWriter::with_capacity(8);
        w.put_shared(&large);
        w.buf().put_u32(1);
        w.put_shared(&large);
        w.patch_u32_at_start(0xffff_ffff);
        let f = w.finish();
        let sizes: Vec<usize> = f.chunks().map(Bytes::len).collect();
        assert_eq!(sizes, [large.len(), 4, large.len()]);
        assert!(f.to_bytes()[..COPY_BELOW_BYTES].iter().all(|&b| b == 3));
        assert_eq!(&f.to_bytes()[COPY_BELOW_BYTES..COPY_BELOW_BYTES + 4], &1u32.to_be_bytes());
        let mut w = ChunkWriter::with_capacity(0);
        w.buf().put_u16(7);
        w.patch_u32_at_start(9);
        assert_eq!(&w.finish().to_bytes()[..], &[0, 7], "fewer than four bytes: nothing patched");
    }

    #[test]
    fn reading_a_frame_as_a_buf_gives_its_bytes() {
        let mut f = frame_of(&[b"hello ", b"chunked ", b"world"]);
        let mut out = Vec::new();
        while f.has_remaining() {
            let n = f.chunk().len().min(3);
            out.extend_from_slice(&f.chunk()[..n]);
            f.advance(n);
        }
        assert_eq!(out, b"hello chunked world");
    }
}
