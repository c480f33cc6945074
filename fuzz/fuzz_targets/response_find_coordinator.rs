//! Fuzzes the client-side `FindCoordinatorResponse` decoder at every version this codec supports (first byte
//! picks the version). Invariant: what decodes re-encodes to bytes that decode to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use kprod::protocol::find_coordinator::FindCoordinatorResponse;
use kprod::protocol::{ApiMessage, Decode, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let span = (FindCoordinatorResponse::MAX_VERSION - FindCoordinatorResponse::MIN_VERSION + 1) as u8;
    let version = FindCoordinatorResponse::MIN_VERSION + (selector % span) as i16;
    if let Ok(msg) = FindCoordinatorResponse::decode(&mut Bytes::copy_from_slice(body), version) {
        let mut out = BytesMut::new();
        msg.encode(&mut out, version);
        let again = FindCoordinatorResponse::decode(&mut out.freeze(), version).expect("re-decode");
        assert_eq!(again, msg);
    }
});
