//! LZ4, in the LZ4 *frame* format as Kafka's `KafkaLZ4BlockOutputStream` writes it: independent
//! blocks, 64 KiB maximum block size, a header checksum, no block checksums, no content size and
//! no content checksum. Reading accepts any standard frame (what `KafkaLZ4BlockInputStream` and
//! librdkafka produce, including frames with content size or checksums).
//!
//! The level: Java maps `compression.lz4.level` to LZ4-HC. `lz4_flex` implements only the fast LZ4
//! compressor, so the level is validated by [`crate::record::Compression::from_config`] but not
//! applied here; the output is a valid frame any Kafka reader accepts, only the ratio differs.
//!
//! # References
//! - <https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md>
//! - KAFKA-3160 (the header-checksum fix for magic >= 1).

use super::{Codec, compress_error, read_bounded};
use crate::record::RecordError;
use bytes::{BufMut, BytesMut};
use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};
use std::io::Write;

/// The LZ4 frame codec.
pub struct Lz4;

/// Kafka's frame settings.
fn kafka_frame_info() -> FrameInfo {
    FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .block_checksums(false)
        .content_checksum(false)
}

impl Codec for Lz4 {
    const NAME: &'static str = "lz4";

    fn compress(input: &[u8], _level: i32, out: &mut BytesMut) -> Result<(), RecordError> {
        let mut enc = FrameEncoder::with_frame_info(kafka_frame_info(), out.writer());
        enc.write_all(input).map_err(compress_error(Self::NAME))?;
        enc.finish().map_err(|e| RecordError::Compress { codec: Self::NAME, reason: e.to_string() })?;
        Ok(())
    }

    fn decompress(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, RecordError> {
        read_bounded(FrameDecoder::new(input), input.len(), max_bytes, Self::NAME)
    }
}
