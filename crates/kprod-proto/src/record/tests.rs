//! Tests of the record batch writer, reader and codecs: fixtures, round-trip properties, hostile input.

use super::compression::{self, Codec};
use super::*;
use bytes::BytesMut;
use proptest::prelude::*;

/// A record as the tests generate it.
#[derive(Clone, Debug)]
struct TestRecord {
    timestamp_ms: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

const ALL_CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip { level: GZIP_LEVEL_DEFAULT },
    Compression::Snappy,
    Compression::Lz4 { level: LZ4_LEVEL_DEFAULT },
    Compression::Zstd { level: ZSTD_LEVEL_DEFAULT },
];

fn build(compression: Compression, base_ts: i64, records: &[TestRecord]) -> ClosedBatch {
    let mut b = BatchBuilder::new(BytesMut::new(), compression, base_ts);
    for (i, r) in records.iter().enumerate() {
        let before = b.uncompressed_bytes();
        let size = b.record_size(r.timestamp_ms, r.key.as_deref(), r.value.as_deref(), &r.headers);
        let delta = b.append(r.timestamp_ms, r.key.as_deref(), r.value.as_deref(), &r.headers);
        assert_eq!(delta, i as i32);
        assert_eq!(b.uncompressed_bytes() - before, size, "record_size is exact");
    }
    b.close().expect("close")
}

fn parse_one(bytes: &[u8]) -> RecordBatch {
    let mut buf = Bytes::copy_from_slice(bytes);
    let batch = RecordBatch::parse(&mut buf).expect("parse");
    assert!(buf.is_empty());
    batch
}

fn arb_header() -> impl Strategy<Value = Header> {
    ("[a-zA-Zé0-9._-]{0,12}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)))
        .prop_map(|(key, value)| Header { key, value: value.map(Bytes::from) })
}

fn arb_record() -> impl Strategy<Value = TestRecord> {
    (
        -1_000_000i64..1_000_000,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(arb_header(), 0..3),
    )
        .prop_map(|(ts, key, value, headers)| TestRecord {
            timestamp_ms: 1_700_000_000_000 + ts,
            key,
            value,
            headers,
        })
}

#[test]
fn crc32c_is_castagnoli() {
    // The standard check value of CRC-32C.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
}

/// One uncompressed record assembled by hand from the format description.
#[test]
fn hand_assembled_fixture_equals_builder_output() {
    let base_ts: i64 = 1_700_000_000_000;
    // Record: ts delta 5, offset delta 0, key "k", value "hello", one header ("h", "v").
    let record_body: Vec<u8> = vec![
        0x00, // attributes
        0x0a, // timestampDelta 5 -> zigzag 10
        0x00, // offsetDelta 0
        0x02, b'k', // keyLen 1 -> zigzag 2
        0x0a, b'h', b'e', b'l', b'l', b'o', // valueLen 5 -> 10
        0x02, // header count 1
        0x02, b'h', // header key len 1
        0x02, b'v', // header value len 1
    ];
    let mut records = vec![(record_body.len() as u8) << 1]; // length varint (zigzag, < 64)
    records.extend_from_slice(&record_body);

    let mut want = Vec::new();
    want.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    want.extend_from_slice(&((61 - 12 + records.len()) as i32).to_be_bytes()); // batchLength
    want.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
    want.push(2); // magic
    want.extend_from_slice(&[0, 0, 0, 0]); // crc, filled below
    want.extend_from_slice(&0i16.to_be_bytes()); // attributes
    want.extend_from_slice(&0i32.to_be_bytes()); // lastOffsetDelta
    want.extend_from_slice(&base_ts.to_be_bytes()); // baseTimestamp
    want.extend_from_slice(&(base_ts + 5).to_be_bytes()); // maxTimestamp
    want.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    want.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    want.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    want.extend_from_slice(&1i32.to_be_bytes()); // recordsCount
    assert_eq!(want.len(), 61);
    want.extend_from_slice(&records);
    let crc = crc32c::crc32c(&want[21..]);
    want[17..21].copy_from_slice(&crc.to_be_bytes());

    let headers = [Header { key: "h".into(), value: Some(Bytes::from_static(b"v")) }];
    let mut b = BatchBuilder::new(BytesMut::from(&b"garbage from a recycled buffer"[..]), Compression::None, base_ts);
    b.append(base_ts + 5, Some(b"k"), Some(b"hello"), &headers);
    let closed = b.close().unwrap();
    assert_eq!(&closed.bytes[..], &want[..]);
    assert_eq!(closed.uncompressed_bytes, want.len());
    assert_eq!(closed.compressed_bytes, want.len());
}

#[test]
fn null_key_and_value_and_negative_deltas_roundtrip() {
    let records = vec![
        TestRecord { timestamp_ms: 100, key: None, value: None, headers: vec![] },
        TestRecord {
            timestamp_ms: 50,
            key: Some(vec![]),
            value: Some(vec![]),
            headers: vec![Header { key: String::new(), value: None }],
        },
    ];
    let closed = build(Compression::None, 100, &records);
    let batch = parse_one(&closed.bytes);
    batch.validate_full().unwrap();
    assert_eq!(batch.max_timestamp(), 100);
    let got: Vec<Record> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(got[0].key, None);
    assert_eq!(got[0].value, None);
    assert_eq!(got[1].timestamp_delta, -50);
    assert_eq!(got[1].key.as_deref(), Some(&b""[..]));
    assert_eq!(got[1].headers, records[1].headers);
}

#[test]
fn empty_batch_cannot_be_closed() {
    let b = BatchBuilder::new(BytesMut::new(), Compression::None, 0);
    assert!(b.is_empty());
    assert_eq!(b.uncompressed_bytes(), RECORD_BATCH_OVERHEAD);
    assert!(matches!(b.close(), Err(RecordError::EmptyBatch)));
}

#[test]
fn set_producer_state_rewrites_fields_and_crc() {
    for compression in ALL_CODECS {
        let records = vec![TestRecord { timestamp_ms: 7, key: Some(b"k".to_vec()), value: None, headers: vec![] }; 3];
        let mut closed = build(compression, 7, &records);
        set_producer_state(&mut closed.bytes, 4242, 7, 1000, true);
        let batch = parse_one(&closed.bytes);
        batch.validate_crc().unwrap();
        batch.validate_full().unwrap();
        assert_eq!((batch.producer_id(), batch.producer_epoch(), batch.base_sequence()), (4242, 7, 1000));
        assert!(batch.is_transactional());
        assert_eq!(batch.compression().unwrap(), compression.kind());
        set_producer_state(&mut closed.bytes, 1, 2, 3, false);
        let batch = parse_one(&closed.bytes);
        batch.validate_crc().unwrap();
        assert!(!batch.is_transactional());
        assert_eq!((batch.producer_id(), batch.producer_epoch(), batch.base_sequence()), (1, 2, 3));
    }
}

#[test]
fn set_base_offset_is_outside_the_crc() {
    let records = vec![TestRecord { timestamp_ms: 1, key: None, value: Some(b"v".to_vec()), headers: vec![] }; 2];
    let mut closed = build(Compression::None, 1, &records);
    RecordBatch::set_base_offset(&mut closed.bytes, 1234);
    let batch = parse_one(&closed.bytes);
    batch.validate_full().unwrap();
    assert_eq!(batch.base_offset(), 1234);
    assert_eq!(batch.last_offset(), 1235);
}

#[test]
fn several_batches_back_to_back() {
    let mut set = BytesMut::new();
    for (i, c) in ALL_CODECS.iter().enumerate() {
        let records =
            vec![
                TestRecord { timestamp_ms: i as i64, key: None, value: Some(vec![i as u8; 10]), headers: vec![] };
                i + 1
            ];
        set.extend_from_slice(&build(*c, 0, &records).bytes);
    }
    let batches: Vec<RecordBatch> = iter_batches(set.freeze()).collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), ALL_CODECS.len());
    for (i, b) in batches.iter().enumerate() {
        b.validate_full().unwrap();
        assert_eq!(b.record_count(), i as i32 + 1);
    }
}

#[test]
fn truncated_record_set_is_reported() {
    let records = vec![TestRecord { timestamp_ms: 1, key: None, value: Some(b"v".to_vec()), headers: vec![] }];
    let closed = build(Compression::None, 1, &records);
    let mut cut = Bytes::copy_from_slice(&closed.bytes[..closed.bytes.len() - 1]);
    assert!(matches!(RecordBatch::parse(&mut cut), Err(RecordError::Truncated { field: "record_batch", .. })));
    let mut bad = closed.bytes.to_vec();
    bad[16] = 1;
    assert!(matches!(RecordBatch::parse(&mut Bytes::from(bad)), Err(RecordError::BadMagic(1))));
}

#[test]
fn validate_full_catches_header_lies() {
    let records = vec![TestRecord { timestamp_ms: 1, key: None, value: Some(b"v".to_vec()), headers: vec![] }; 3];
    let closed = build(Compression::None, 1, &records);
    let relabel = |at: usize, v: i32| {
        let mut b = closed.bytes.to_vec();
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        parse_one(&b).validate_full()
    };
    assert!(matches!(relabel(57, 4), Err(RecordError::CountMismatch { header: 4, actual: 3 })));
    assert!(matches!(relabel(57, 2), Err(RecordError::TrailingBytes { .. })));
    assert!(matches!(relabel(23, 5), Err(RecordError::LastOffsetDelta { header: 5, expected: 2 })));
    assert!(matches!(relabel(57, -1), Err(RecordError::InvalidLength { field: "records_count", .. })));
    // An out-of-order offset delta: rewrite the 2nd record's offsetDelta (1 -> zigzag 2) to 0.
    let mut b = closed.bytes.to_vec();
    let rec_len = (closed.bytes.len() - 61) / 3;
    let od_at = 61 + rec_len + 3; // length, attributes, timestampDelta, then offsetDelta
    assert_eq!(b[od_at], 2);
    b[od_at] = 0;
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(parse_one(&b).validate_full(), Err(RecordError::OffsetDelta { index: 1, found: 0 })));
}

#[test]
fn compression_config_validation() {
    assert_eq!(Compression::from_config("zstd", -1, 9, 3).unwrap(), Compression::Zstd { level: 3 });
    assert_eq!(Compression::from_config("GZIP", -1, 9, 3).unwrap(), Compression::Gzip { level: -1 });
    assert_eq!(Compression::from_config("lz4", -1, 9, 3).unwrap().attribute_bits(), 3);
    assert!(matches!(
        Compression::from_config("gzip", 10, 9, 3),
        Err(RecordError::InvalidConfig { key: "compression.gzip.level", .. })
    ));
    assert!(Compression::from_config("lz4", -1, 18, 3).is_err());
    assert!(Compression::from_config("zstd", -1, 9, 23).is_err());
    assert!(matches!(
        Compression::from_config("brotli", -1, 9, 3),
        Err(RecordError::InvalidConfig { key: "compression.type", .. })
    ));
    for c in ALL_CODECS {
        assert_eq!(CompressionType::from_attributes(c.attribute_bits()).unwrap(), c.kind());
        assert_eq!(Compression::from_config(c.name(), -1, 9, 3).unwrap().kind(), c.kind());
    }
    assert!(matches!(CompressionType::from_attributes(5), Err(RecordError::UnknownCodec(5))));
}

#[test]
fn snappy_reads_raw_blocks_and_concatenated_xerial_streams() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
    assert_eq!(compression::snappy::Snappy::decompress(&raw, 1 << 20).unwrap(), data);
    let mut two = BytesMut::new();
    compression::snappy::Snappy::compress(&data[..50_000], 0, &mut two).unwrap();
    assert_eq!(&two[..8], &compression::snappy::XERIAL_MAGIC);
    assert_eq!(&two[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
    compression::snappy::Snappy::compress(&data[50_000..], 0, &mut two).unwrap();
    assert_eq!(compression::snappy::Snappy::decompress(&two, 1 << 20).unwrap(), data);
}

#[test]
fn lz4_frame_has_kafka_settings() {
    let mut out = BytesMut::new();
    compression::lz4::Lz4::compress(&[7u8; 200_000], 9, &mut out).unwrap();
    assert_eq!(&out[..4], &[0x04, 0x22, 0x4d, 0x18], "LZ4 frame magic");
    // FLG: version 01, block independence, no block checksum, no content size, no content checksum.
    assert_eq!(out[4], 0b0110_0000);
    // BD: 64 KiB max block size.
    assert_eq!(out[5], 0x40);
    // HC: second byte of xxh32(FLG, BD) with seed 0.
    let hc = (twox_xxh32(&out[4..6]) >> 8) as u8;
    assert_eq!(out[6], hc);
    assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0], "end mark, no content checksum after it");
}

/// The frame written around the block compressor reads back, through `lz4_flex`'s own frame decoder, at every size
/// around the 64 KiB block boundary, for data that compresses and data that does not (stored blocks).
/// Also run against Java's reader: the real-broker tests produce lz4 batches a Kafka broker decompresses.
#[test]
fn lz4_frames_read_back_at_block_boundaries_compressed_or_stored() {
    use std::io::Read;
    let mut noise = Vec::with_capacity(200_001);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while noise.len() < 200_001 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    let text: Vec<u8> = (0..200_001u32).map(|i| b"kafka record batch "[(i % 19) as usize]).collect();
    for data in [&noise, &text] {
        for len in [0, 1, 15, 65_535, 65_536, 65_537, 131_072, 200_001] {
            let input = &data[..len];
            let mut out = BytesMut::new();
            compression::lz4::Lz4::compress(input, 9, &mut out).unwrap();
            let mut back = Vec::new();
            lz4_flex::frame::FrameDecoder::new(&out[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, input, "{len} bytes");
            // Every block's size word: stored (high bit) exactly when the data is noise.
            let (mut at, mut block) = (7, 0);
            while at + 4 <= out.len() - 4 {
                let word = u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
                // (Text too short to hold a match is stored too.)
                let noisy = std::ptr::eq(data, &noise);
                if noisy || input[block * 65_536..].len().min(65_536) >= 64 {
                    assert_eq!(word >> 31 == 1, noisy, "{len} bytes, block at {at}");
                }
                at += 4 + (word & !(1 << 31)) as usize;
                block += 1;
            }
            assert_eq!(block, len.div_ceil(65_536), "{len} bytes: 64 KiB blocks");
            assert_eq!(at, out.len() - 4, "{len} bytes: blocks end at the end mark");
        }
    }
}

/// zstd reuses one context per thread: every frame still decodes, and a new level on the same thread takes effect
/// (a context kept across levels would compress level 19 as level 1).
#[test]
fn zstd_context_reused_per_thread_honours_each_level() {
    let text: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8 + b'a').collect();
    let frame = |level| {
        let mut out = BytesMut::from(&b"prefix"[..]);
        compression::zstd::Zstd::compress(&text, level, &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix", "appended after what the buffer held");
        let back = compression::zstd::Zstd::decompress(&out[6..], 1 << 20).unwrap();
        assert_eq!(back, text, "level {level}");
        out.len()
    };
    let (fast, best, fast_again) = (frame(1), frame(19), frame(1));
    assert!(best < fast, "level 19 ({best} B) compresses better than level 1 ({fast} B)");
    assert_eq!(fast_again, fast, "back at level 1");
}

/// xxHash32 (seed 0), written from the spec for the header-checksum check above.
fn twox_xxh32(input: &[u8]) -> u32 {
    const P1: u32 = 2654435761;
    const P2: u32 = 2246822519;
    const P3: u32 = 3266489917;
    const P4: u32 = 668265263;
    const P5: u32 = 374761393;
    assert!(input.len() < 16);
    let mut h = P5.wrapping_add(input.len() as u32);
    let mut rest = input;
    while rest.len() >= 4 {
        let k = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        h = h.wrapping_add(k.wrapping_mul(P3)).rotate_left(17).wrapping_mul(P4);
        rest = &rest[4..];
    }
    for &b in rest {
        h = h.wrapping_add((b as u32).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

/// Zeros compressed by streaming (never holding the whole input): a small bomb for each codec.
fn bomb(kind: CompressionType, zeros_bytes: usize) -> Vec<u8> {
    use std::io::Write;
    let chunk = vec![0u8; 1 << 20];
    let mut out = Vec::new();
    match kind {
        CompressionType::Gzip => {
            let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
            for _ in 0..zeros_bytes >> 20 {
                e.write_all(&chunk).unwrap();
            }
            e.finish().unwrap();
        }
        CompressionType::Zstd => {
            let mut e = zstd::stream::write::Encoder::new(&mut out, 1).unwrap();
            for _ in 0..zeros_bytes >> 20 {
                e.write_all(&chunk).unwrap();
            }
            e.finish().unwrap();
        }
        CompressionType::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(&mut out);
            for _ in 0..zeros_bytes >> 20 {
                e.write_all(&chunk).unwrap();
            }
            e.finish().unwrap();
        }
        CompressionType::Snappy => {
            let mut b = BytesMut::new();
            compression::snappy::Snappy::compress(&vec![0u8; zeros_bytes], 0, &mut b).unwrap();
            out = b.to_vec();
        }
        CompressionType::None => out = vec![0u8; zeros_bytes],
    }
    out
}

#[test]
fn decompression_bombs_are_refused_at_the_limit() {
    // 200 MiB of zeros (gzip/zstd: ~200 KiB compressed) against the default 64 MiB limit.
    for kind in [CompressionType::Gzip, CompressionType::Zstd] {
        let b = bomb(kind, 200 << 20);
        assert!(b.len() < 1 << 20, "{kind:?} bomb is small: {}", b.len());
        let r = compression::decompress(kind, &b, DEFAULT_MAX_DECOMPRESSED_BYTES);
        assert!(matches!(r, Err(RecordError::TooLarge { .. })), "{kind:?}: {r:?}");
    }
    // Smaller inputs for the codecs with lower ratios, against a smaller limit.
    for kind in [CompressionType::Lz4, CompressionType::Snappy, CompressionType::None] {
        let b = bomb(kind, 8 << 20);
        let r = compression::decompress(kind, &b, 1 << 20);
        assert!(matches!(r, Err(RecordError::TooLarge { limit: 0x10_0000, .. })), "{kind:?}: {r:?}");
        assert_eq!(compression::decompress(kind, &b, 8 << 20).unwrap().len(), 8 << 20);
    }
}

#[test]
fn bomb_inside_a_batch_fails_validation() {
    let records = vec![TestRecord { timestamp_ms: 1, key: None, value: Some(vec![0; 4 << 20]), headers: vec![] }];
    let closed = build(Compression::Zstd { level: 1 }, 1, &records);
    assert!(closed.compressed_bytes < 64 << 10);
    let batch = parse_one(&closed.bytes);
    assert!(matches!(batch.validate_full_bounded(1 << 20), Err(RecordError::TooLarge { .. })));
    batch.validate_full().unwrap();
}

#[test]
fn zstd_window_is_bounded_relative_to_the_limit() {
    use std::io::Write;
    // A streaming encoder that does not know the input size declares its configured window (16 MiB here).
    let mut out = Vec::new();
    let mut e = zstd::stream::write::Encoder::new(&mut out, 1).unwrap();
    e.set_parameter(zstd::stream::raw::CParameter::WindowLog(24)).unwrap();
    e.write_all(b"a small payload in a frame that declares a 16 MiB window").unwrap();
    e.finish().unwrap();
    let r = compression::decompress(CompressionType::Zstd, &out, 1 << 20);
    assert!(matches!(r, Err(RecordError::Decompress { codec: "zstd", .. })), "{r:?}");
    let ok = compression::decompress(CompressionType::Zstd, &out, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
    assert_eq!(&ok[..], b"a small payload in a frame that declares a 16 MiB window");
    assert!(compression::decompress(CompressionType::Zstd, &out, usize::MAX).is_ok());
}

#[test]
fn snappy_refuses_a_lying_length() {
    // A raw block whose preamble claims 1 GiB from 3 bytes.
    let block = [0x80, 0x80, 0x80, 0x04, 0x00];
    assert!(compression::snappy::Snappy::decompress(&block, 64 << 20).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_every_codec(records in proptest::collection::vec(arb_record(), 1..20), codec in 0usize..5) {
        let compression = ALL_CODECS[codec];
        let base_ts = records[0].timestamp_ms;
        let closed = build(compression, base_ts, &records);
        prop_assert_eq!(closed.record_count, records.len() as i32);
        let batch = parse_one(&closed.bytes);
        batch.validate_full().unwrap();
        prop_assert_eq!(batch.compression().unwrap(), compression.kind());
        prop_assert_eq!(batch.record_count(), records.len() as i32);
        prop_assert_eq!(batch.last_offset_delta(), records.len() as i32 - 1);
        prop_assert_eq!(batch.base_timestamp(), base_ts);
        prop_assert_eq!(batch.max_timestamp(), records.iter().map(|r| r.timestamp_ms).max().unwrap());
        prop_assert_eq!((batch.producer_id(), batch.producer_epoch(), batch.base_sequence()), (-1, -1, -1));
        prop_assert_eq!(batch.size_bytes(), closed.compressed_bytes);
        let got: Vec<Record> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got.len(), records.len());
        for (i, (g, r)) in got.iter().zip(&records).enumerate() {
            prop_assert_eq!(g.offset_delta, i as i32);
            prop_assert_eq!(base_ts + g.timestamp_delta, r.timestamp_ms);
            prop_assert_eq!(g.key.as_deref(), r.key.as_deref());
            prop_assert_eq!(g.value.as_deref(), r.value.as_deref());
            prop_assert_eq!(&g.headers, &r.headers);
            prop_assert_eq!(g.attributes, 0);
        }
    }

    #[test]
    fn any_flipped_byte_under_the_crc_is_caught(records in proptest::collection::vec(arb_record(), 1..5), codec in 0usize..5, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let closed = build(ALL_CODECS[codec], 0, &records);
        let mut b = closed.bytes.to_vec();
        let at = 21 + pos.index(b.len() - 21);
        b[at] ^= 1 << bit;
        let batch = parse_one(&b);
        let crc_err = matches!(batch.validate_crc(), Err(RecordError::CrcMismatch { .. }));
        prop_assert!(crc_err);
        prop_assert!(batch.validate_full().is_err());
    }

    #[test]
    fn upper_bound_covers_the_record(records in proptest::collection::vec(arb_record(), 1..5), base_ts in any::<i64>()) {
        let mut b = BatchBuilder::new(BytesMut::new(), Compression::None, base_ts);
        for r in &records {
            let bound = record_size_upper_bound(r.key.as_ref().map(Vec::len), r.value.as_ref().map(Vec::len), &r.headers);
            let size = b.record_size(r.timestamp_ms, r.key.as_deref(), r.value.as_deref(), &r.headers);
            prop_assert!(bound >= size, "bound {} < size {}", bound, size);
            prop_assert_eq!(
                batch_size_upper_bound(r.key.as_ref().map(Vec::len), r.value.as_ref().map(Vec::len), &r.headers),
                bound + RECORD_BATCH_OVERHEAD
            );
            b.append(r.timestamp_ms, r.key.as_deref(), r.value.as_deref(), &r.headers);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let bytes = Bytes::from(data.clone());
        for batch in iter_batches(bytes.clone()).flatten() {
            let _ = batch.validate_full_bounded(1 << 20);
            if let Ok(it) = batch.records_bounded(1 << 20) {
                for _ in it {}
            }
        }
        for kind in [CompressionType::Gzip, CompressionType::Snappy, CompressionType::Lz4, CompressionType::Zstd] {
            let _ = compression::decompress(kind, &data, 1 << 20);
        }
    }

    #[test]
    fn mutated_compressed_streams_never_panic(
        data in proptest::collection::vec(0u8..4, 0..2000),
        codec in 1usize..5,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut stream = BytesMut::new();
        compression::compress(ALL_CODECS[codec], &data, &mut stream).unwrap();
        let mut stream = stream.to_vec();
        prop_assert_eq!(&compression::decompress(ALL_CODECS[codec].kind(), &stream, 1 << 20).unwrap(), &data);
        for (at, x) in flips {
            let i = at.index(stream.len());
            stream[i] ^= x;
        }
        let keep = cut.index(stream.len() + 1);
        for input in [&stream[..], &stream[..keep]] {
            if let Ok(out) = compression::decompress(ALL_CODECS[codec].kind(), input, 1 << 16) {
                prop_assert!(out.len() <= 1 << 16);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), codec in 0usize..5, count in -2i32..20) {
        // A well-formed header with garbage records and a correct CRC: reaches the record parser.
        let mut b = build(Compression::None, 0, &[TestRecord { timestamp_ms: 0, key: None, value: None, headers: vec![] }]).bytes.to_vec();
        b.truncate(61);
        b.extend_from_slice(&body);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[21..23].copy_from_slice(&ALL_CODECS[codec].attribute_bits().to_be_bytes());
        b[57..61].copy_from_slice(&count.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let batch = parse_one(&b);
        let _ = batch.validate_full_bounded(1 << 20);
        if let Ok(it) = batch.records_bounded(1 << 20) {
            let n = it.count();
            prop_assert!(n <= count.max(0) as usize);
        }
    }
}

/// The 61-byte header shared by the third-party fixtures below: base timestamp 1479847795000, every
/// other field zero except length, CRC, attributes and recordsCount = 1.
fn sarama_header(length: i32, crc: [u8; 4], codec: u8) -> Vec<u8> {
    let mut h = vec![0u8; 8];
    h.extend_from_slice(&length.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 2]);
    h.extend_from_slice(&crc);
    h.extend_from_slice(&[0, codec, 0, 0, 0, 0]);
    h.extend_from_slice(&1_479_847_795_000i64.to_be_bytes());
    h.extend_from_slice(&[0u8; 8 + 8 + 2 + 4]);
    h.extend_from_slice(&1i32.to_be_bytes());
    h
}

/// Batches encoded by another client (IBM/sarama's record batch test vectors, CRCs computed there):
/// one record, key [1,2,3,4], value [5,6,7], header [8,9,10] = [11,12], timestamp delta 5 ms.
/// The snappy one is a bare raw block (no xerial framing); the LZ4 one carries a content checksum.
fn foreign_fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let records: &[u8] = &[40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12];
    let mut none = sarama_header(70, [84, 121, 97, 253], 0);
    none.extend_from_slice(records);
    let mut gzip = sarama_header(95, [231, 74, 206, 165], 1);
    gzip.extend_from_slice(&[
        31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 0, 21, 0, 234, 255, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9,
        10, 4, 11, 12, 3, 0, 173, 201, 88, 103, 21, 0, 0, 0,
    ]);
    let mut snappy = sarama_header(72, [21, 0, 159, 97], 2);
    snappy.extend_from_slice(&[21, 80, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12]);
    let mut lz4 = sarama_header(89, [169, 74, 119, 197], 3);
    lz4.extend_from_slice(&[
        4, 34, 77, 24, 100, 112, 185, 21, 0, 0, 128, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11,
        12, 0, 0, 0, 0, 12, 59, 239, 146,
    ]);
    vec![("none", none), ("gzip", gzip), ("snappy", snappy), ("lz4", lz4)]
}

#[test]
fn foreign_batches_parse_validate_and_decode() {
    for (name, bytes) in foreign_fixtures() {
        let batch = parse_one(&bytes);
        batch.validate_full().unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: Vec<Record> = batch.records().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 1, "{name}");
        let r = &got[0];
        assert_eq!((r.offset_delta, r.timestamp_delta), (0, 5), "{name}");
        assert_eq!(r.key.as_deref(), Some(&[1u8, 2, 3, 4][..]), "{name}");
        assert_eq!(r.value.as_deref(), Some(&[5u8, 6, 7][..]), "{name}");
        assert_eq!(r.headers, vec![Header { key: "\u{8}\t\n".into(), value: Some(Bytes::from_static(&[11, 12])) }]);
    }
}

#[test]
fn builder_reproduces_a_foreign_uncompressed_batch_byte_for_byte() {
    let (_, want) = foreign_fixtures().remove(0);
    let headers = [Header { key: "\u{8}\t\n".into(), value: Some(Bytes::from_static(&[11, 12])) }];
    let base_ts = 1_479_847_795_000;
    let mut b = BatchBuilder::new(BytesMut::new(), Compression::None, base_ts);
    b.append(base_ts + 5, Some(&[1, 2, 3, 4]), Some(&[5, 6, 7]), &headers);
    let mut got = b.close().unwrap().bytes;
    // The fixture was written with zeros where a producer writes "none" (-1) and maxTimestamp 0;
    // align those fields, then the CRC recomputed by set_producer_state must equal the foreign one.
    got[12..16].copy_from_slice(&0i32.to_be_bytes());
    got[35..43].copy_from_slice(&0i64.to_be_bytes());
    set_producer_state(&mut got, 0, 0, 0, false);
    assert_eq!(&got[..], &want[..]);
}
