//! Fuzzes writer against reader: records derived from the input are written with every codec, read
//! back and must compare equal, and the batch must pass full validation.
#![no_main]

use bytes::{Bytes, BytesMut};
use kprod::record::{BatchBuilder, Compression, Header, RecordBatch};
use libfuzzer_sys::fuzz_target;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip { level: 1 },
    Compression::Snappy,
    Compression::Lz4 { level: 9 },
    Compression::Zstd { level: 1 },
];

fuzz_target!(|data: &[u8]| {
    // Each chunk is one record: byte 0 picks null key/value/header, the rest splits into key and value.
    let chunks: Vec<&[u8]> = data.split(|&b| b == 0xff).take(64).collect();
    for compression in CODECS {
        let mut builder = BatchBuilder::new(BytesMut::new(), compression, 1000);
        let mut expected = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let flags = chunk.first().copied().unwrap_or(0);
            let body = chunk.get(1..).unwrap_or(&[]);
            let (k, v) = body.split_at(body.len() / 3);
            let key = (flags & 1 == 0).then_some(k);
            let value = (flags & 2 == 0).then_some(v);
            let headers = if flags & 4 != 0 {
                vec![Header { key: format!("h{i}"), value: (flags & 8 == 0).then(|| Bytes::copy_from_slice(k)) }]
            } else {
                Vec::new()
            };
            let ts = 1000 + i64::from(flags) - 128;
            builder.append(ts, key, value, &headers);
            expected.push((ts, key.map(<[u8]>::to_vec), value.map(<[u8]>::to_vec), headers));
        }
        let Ok(closed) = builder.close() else {
            assert!(expected.is_empty());
            continue;
        };
        let mut buf = closed.bytes.freeze();
        let batch = RecordBatch::parse(&mut buf).expect("own batch parses");
        batch.validate_full().expect("own batch validates");
        let records = batch.records().expect("records");
        let mut n = 0;
        for (record, (ts, key, value, headers)) in records.zip(&expected) {
            let record = record.expect("record");
            assert_eq!(1000 + record.timestamp_delta, *ts);
            assert_eq!(record.key.as_deref(), key.as_deref());
            assert_eq!(record.value.as_deref(), value.as_deref());
            assert_eq!(&record.headers, headers);
            n += 1;
        }
        assert_eq!(n, expected.len());
    }
});
