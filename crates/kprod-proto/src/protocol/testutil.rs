//! Shared helpers for the codec's property tests: round-trip checks and value strategies.

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::error::ErrorCode;
use super::{Decode, Encode};

/// Encodes `msg` at `v`, decodes it back and checks that the result equals `expected` (the message
/// normalized to what `v` can carry) and that every byte was consumed. Then checks that every
/// truncation of the encoding is refused rather than misread or panicking.
pub(super) fn check_roundtrip<T: Encode + Decode + PartialEq + Debug>(
    msg: &T,
    expected: &T,
    v: i16,
) -> Result<(), TestCaseError> {
    let mut out = BytesMut::new();
    msg.encode(&mut out, v);
    let encoded = out.freeze();
    let mut cursor = encoded.clone();
    let got = T::decode(&mut cursor, v).map_err(|e| TestCaseError::fail(format!("decode at v{v}: {e}")))?;
    prop_assert_eq!(&got, expected, "version {}", v);
    prop_assert!(cursor.is_empty(), "{} bytes left over at v{}", cursor.len(), v);
    // Re-encoding the normalized message gives the same bytes.
    let mut again = BytesMut::new();
    expected.encode(&mut again, v);
    prop_assert_eq!(&again[..], &encoded[..]);
    // A prefix is never a whole message (every message ends in a field that takes at least a byte).
    for cut in [0, encoded.len() / 2, encoded.len().saturating_sub(1)] {
        if cut < encoded.len() {
            prop_assert!(
                T::decode(&mut encoded.slice(..cut), v).is_err(),
                "prefix {} of {} decoded",
                cut,
                encoded.len()
            );
        }
    }
    Ok(())
}

/// Encodes `msg`, corrupts one byte, and decodes: must return, never panic.
pub(super) fn check_corrupted<T: Encode + Decode>(msg: &T, v: i16, at: usize, byte: u8) {
    let mut out = BytesMut::new();
    msg.encode(&mut out, v);
    if !out.is_empty() {
        let i = at % out.len();
        out[i] = byte;
    }
    let _ = T::decode(&mut out.freeze(), v);
}

/// Feeds arbitrary bytes to the decoder: must return, never panic.
pub(super) fn check_garbage<T: Decode>(data: Vec<u8>, v: i16) {
    let _ = T::decode(&mut Bytes::from(data), v);
}

pub(super) fn string() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{0,12}"
}

pub(super) fn opt_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(string())
}

pub(super) fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

pub(super) fn error_code() -> impl Strategy<Value = ErrorCode> {
    any::<i16>().prop_map(ErrorCode::from_i16)
}

pub(super) fn vec<T: Debug>(s: impl Strategy<Value = T>, max: usize) -> impl Strategy<Value = Vec<T>> {
    proptest::collection::vec(s, 0..max)
}

/// Declares, for one message type, the round-trip and never-panic property tests at every version
/// it supports. `$norm` maps a message to what version `v` can carry.
macro_rules! message_tests {
    ($mod_name:ident, $ty:ty, $strat:expr, $norm:expr) => {
        mod $mod_name {
            #[allow(unused_imports)]
            use super::*;
            use crate::protocol::ApiMessage;

            proptest! {
                #[test]
                fn round_trips_at_every_version(msg in $strat, v in <$ty>::MIN_VERSION..=<$ty>::MAX_VERSION) {
                    let norm: fn($ty, i16) -> $ty = $norm;
                    let expected = norm(msg.clone(), v);
                    check_roundtrip(&msg, &expected, v)?;
                }

                #[test]
                fn corrupted_input_never_panics(msg in $strat, v in <$ty>::MIN_VERSION..=<$ty>::MAX_VERSION,
                                                at in any::<usize>(), byte in any::<u8>()) {
                    check_corrupted(&msg, v, at, byte);
                }

                #[test]
                fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256),
                                               v in <$ty>::MIN_VERSION..=<$ty>::MAX_VERSION) {
                    check_garbage::<$ty>(data, v);
                }
            }
        }
    };
}
pub(crate) use message_tests;
