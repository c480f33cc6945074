//! Fuzzes the client-side `MetadataResponse` decoder at every version this codec supports (first byte
//! picks the version). Invariant: what decodes re-encodes to bytes that decode to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use kprod::protocol::metadata::MetadataResponse;
use kprod::protocol::{ApiMessage, Decode, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let span = (MetadataResponse::MAX_VERSION - MetadataResponse::MIN_VERSION + 1) as u8;
    let version = MetadataResponse::MIN_VERSION + (selector % span) as i16;
    if let Ok(msg) = MetadataResponse::decode(&mut Bytes::copy_from_slice(body), version) {
        let mut out = BytesMut::new();
        msg.encode(&mut out, version);
        let again = MetadataResponse::decode(&mut out.freeze(), version).expect("re-decode");
        assert_eq!(again, msg);
    }
});
