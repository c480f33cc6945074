//! Fuzzes the client-side `FetchResponse` decoder at every version this codec supports (first byte
//! picks the version). Invariant: what decodes re-encodes to bytes that decode to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use kprod::protocol::fetch::FetchResponse;
use kprod::protocol::{ApiMessage, Decode, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let span = (FetchResponse::MAX_VERSION - FetchResponse::MIN_VERSION + 1) as u8;
    let version = FetchResponse::MIN_VERSION + (selector % span) as i16;
    if let Ok(msg) = FetchResponse::decode(&mut Bytes::copy_from_slice(body), version) {
        let mut out = BytesMut::new();
        msg.encode(&mut out, version);
        let again = FetchResponse::decode(&mut out.freeze(), version).expect("re-decode");
        assert_eq!(again, msg);
    }
});
