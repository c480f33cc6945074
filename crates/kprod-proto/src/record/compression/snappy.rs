//! Snappy in the xerial framing that the Java client writes (snappy-java's `SnappyOutputStream`):
//!
//! ```text
//! magic  0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00      8 bytes
//! version            i32 BE = 1
//! compatible version i32 BE = 1
//! then chunks: [i32 BE compressed length][raw snappy block of <= 32 KiB input] ...
//! ```
//!
//! Reading accepts the xerial framing (also several streams back to back, as `SnappyInputStream`
//! does) and a bare raw snappy block (what some non-Java clients send).
//!
//! # References
//! - snappy-java `SnappyOutputStream` (default block size 32 KiB), `SnappyCodec` (the header).
//! - <https://github.com/google/snappy/blob/main/format_description.txt>

use super::Codec;
use crate::record::RecordError;
use bytes::{BufMut, BytesMut};

/// The snappy codec.
pub struct Snappy;

/// Upper bound of snappy's expansion ratio (a 3-byte copy op yields at most 64 bytes).
const MAX_EXPANSION: usize = 22;
/// The xerial stream header magic.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic + version + compatible version.
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's default block size: each chunk compresses this much input.
pub const XERIAL_BLOCK_BYTES: usize = 32 * 1024;

fn decompress_error(reason: impl ToString) -> RecordError {
    RecordError::Decompress { codec: Snappy::NAME, reason: reason.to_string() }
}

/// Decompresses one raw snappy block into the end of `out`, keeping `out` within `max_bytes`.
fn raw_block_into(
    dec: &mut snap::raw::Decoder,
    block: &[u8],
    out: &mut Vec<u8>,
    max_bytes: usize,
) -> Result<(), RecordError> {
    let len = snap::raw::decompress_len(block).map_err(decompress_error)?;
    // A snappy op expands at most 3 input bytes into 64 output bytes: a longer claim is a lie, and
    // refusing it avoids zero-filling a large buffer for a tiny hostile block.
    if len > block.len().saturating_mul(MAX_EXPANSION) {
        return Err(decompress_error(format!("block of {} bytes claims {len} bytes", block.len())));
    }
    let start = out.len();
    let end = start.saturating_add(len);
    if end > max_bytes {
        return Err(RecordError::TooLarge { what: "decompressed records", size: end, limit: max_bytes });
    }
    out.resize(end, 0);
    let n = dec.decompress(block, &mut out[start..]).map_err(decompress_error)?;
    out.truncate(start + n);
    Ok(())
}

impl Codec for Snappy {
    const NAME: &'static str = "snappy";

    fn compress(input: &[u8], _level: i32, out: &mut BytesMut) -> Result<(), RecordError> {
        let mut enc = snap::raw::Encoder::new();
        out.reserve(XERIAL_HEADER_LEN + snap::raw::max_compress_len(input.len().min(XERIAL_BLOCK_BYTES)) + 4);
        out.put_slice(&XERIAL_MAGIC);
        out.put_i32(1); // version
        out.put_i32(1); // compatible version
        for chunk in input.chunks(XERIAL_BLOCK_BYTES) {
            let len_at = out.len();
            let max = snap::raw::max_compress_len(chunk.len());
            out.resize(len_at + 4 + max, 0);
            let n = enc
                .compress(chunk, &mut out[len_at + 4..])
                .map_err(|e| RecordError::Compress { codec: Self::NAME, reason: e.to_string() })?;
            out.truncate(len_at + 4 + n);
            out[len_at..len_at + 4].copy_from_slice(&(n as i32).to_be_bytes());
        }
        Ok(())
    }

    fn decompress(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordError> {
        let mut dec = snap::raw::Decoder::new();
        let mut out = Vec::new();
        if !input.starts_with(&XERIAL_MAGIC) {
            raw_block_into(&mut dec, input, &mut out, max_bytes)?;
            return Ok(out);
        }
        let mut rest = input;
        while !rest.is_empty() {
            if rest.starts_with(&XERIAL_MAGIC) {
                // A (possibly concatenated) stream header: versions are informational.
                if rest.len() < XERIAL_HEADER_LEN {
                    return Err(decompress_error("truncated xerial header"));
                }
                rest = &rest[XERIAL_HEADER_LEN..];
                continue;
            }
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(decompress_error("truncated xerial chunk length"));
            };
            let len = i32::from_be_bytes(*len);
            if len < 0 || len as usize > tail.len() {
                return Err(decompress_error(format!("xerial chunk length {len} with {} bytes left", tail.len())));
            }
            let (block, tail) = tail.split_at(len as usize);
            raw_block_into(&mut dec, block, &mut out, max_bytes)?;
            rest = tail;
        }
        Ok(out)
    }
}
