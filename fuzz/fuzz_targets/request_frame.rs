//! Fuzzes the broker's entry point: frame splitting, request header and every request body.
//! Invariant: a request that decodes re-encodes to a frame that decodes to the same request.
#![no_main]

use bytes::{Bytes, BytesMut};
use kprod::protocol::{RequestFrame, split_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(_)) = split_frame(&mut buf, 1 << 20) {}
    if let Ok(frame) = RequestFrame::decode(Bytes::copy_from_slice(data)) {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        let again = split_frame(&mut out, usize::MAX >> 1).expect("size").expect("whole frame");
        assert_eq!(RequestFrame::decode(again).expect("re-decode"), frame);
    }
});
