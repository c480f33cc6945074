//! Fuzzes the client-side `InitProducerIdResponse` decoder at every version this codec supports (first byte
//! picks the version). Invariant: what decodes re-encodes to bytes that decode to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use kprod::protocol::init_producer_id::InitProducerIdResponse;
use kprod::protocol::{ApiMessage, Decode, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let span = (InitProducerIdResponse::MAX_VERSION - InitProducerIdResponse::MIN_VERSION + 1) as u8;
    let version = InitProducerIdResponse::MIN_VERSION + (selector % span) as i16;
    if let Ok(msg) = InitProducerIdResponse::decode(&mut Bytes::copy_from_slice(body), version) {
        let mut out = BytesMut::new();
        msg.encode(&mut out, version);
        let again = InitProducerIdResponse::decode(&mut out.freeze(), version).expect("re-decode");
        assert_eq!(again, msg);
    }
});
