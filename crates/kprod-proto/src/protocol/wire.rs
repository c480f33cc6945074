//! Wire primitives of the Kafka protocol: fixed-width integers, zigzag varints, strings, bytes,
//! arrays (classic and compact) and tagged fields.
//!
//! Writing goes into any [`BufMut`] (usually a `BytesMut`). Reading takes a `&mut Bytes` cursor so
//! that large fields (record sets, raw bytes) are sliced out without a copy.
//!
//! Every read is bounds-checked. A length prefix is never trusted to size an allocation: string and
//! bytes lengths are checked against the bytes that remain, and array lengths are checked against
//! the remaining bytes too (each element takes at least one byte on the wire), so a hostile prefix
//! fails with [`DecodeError`] instead of allocating gigabytes.
//!
//! # References
//! - <https://kafka.apache.org/protocol#protocol_types>
//! - KIP-482 (compact types and tagged fields)

use bytes::{Buf, BufMut, Bytes};

/// Why a decoder refused its input. Every variant names the field it was reading when that is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside a field.
    #[error("truncated input reading {field}: needed {needed} bytes, {remaining} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// A negative (non-null) or oversized length prefix.
    #[error("invalid length {len} for {field}")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// The length read.
        len: i64,
    },
    /// A varint longer than its type allows.
    #[error("varint too long reading {field}")]
    VarintTooLong {
        /// The field being read.
        field: &'static str,
    },
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in {field}")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A version of an API this codec does not implement.
    #[error("unsupported version {version} of api key {api_key}")]
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version asked for.
        version: i16,
    },
    /// An API key this codec does not know.
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    /// Null where the schema does not allow it.
    #[error("null value in non-nullable field {field}")]
    UnexpectedNull {
        /// The field being read.
        field: &'static str,
    },
    /// Anything else that makes no sense; the text says what.
    #[error("{0}")]
    Invalid(String),
}

/// What every decoder returns.
pub type DecodeResult<T> = Result<T, DecodeError>;

#[inline]
fn need(buf: &Bytes, n: usize, field: &'static str) -> DecodeResult<()> {
    if buf.remaining() < n {
        Err(DecodeError::Truncated { field, needed: n, remaining: buf.remaining() })
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------- fixed width

macro_rules! fixed {
    ($read:ident, $ty:ty, $get:ident, $n:expr) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`; `field` names it in errors.")]
        #[inline]
        pub fn $read(buf: &mut Bytes, field: &'static str) -> DecodeResult<$ty> {
            need(buf, $n, field)?;
            Ok(buf.$get())
        }
    };
}
fixed!(read_i8, i8, get_i8, 1);
fixed!(read_i16, i16, get_i16, 2);
fixed!(read_i32, i32, get_i32, 4);
fixed!(read_i64, i64, get_i64, 8);
fixed!(read_u16, u16, get_u16, 2);
fixed!(read_u32, u32, get_u32, 4);
fixed!(read_f64, f64, get_f64, 8);

/// Reads a boolean (int8, non-zero is true).
#[inline]
pub fn read_bool(buf: &mut Bytes, field: &'static str) -> DecodeResult<bool> {
    Ok(read_i8(buf, field)? != 0)
}

/// Reads a 16-byte UUID.
#[inline]
pub fn read_uuid(buf: &mut Bytes, field: &'static str) -> DecodeResult<[u8; 16]> {
    need(buf, 16, field)?;
    let mut out = [0u8; 16];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

// ---------------------------------------------------------------- varints

/// Writes an unsigned varint (LEB128, at most 5 bytes for u32).
#[inline]
pub fn put_uvarint(out: &mut impl BufMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Writes an unsigned varlong (LEB128, at most 10 bytes).
#[inline]
pub fn put_uvarlong(out: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Writes a zigzag-encoded signed varint.
#[inline]
pub fn put_varint(out: &mut impl BufMut, v: i32) {
    put_uvarint(out, ((v << 1) ^ (v >> 31)) as u32)
}

/// Writes a zigzag-encoded signed varlong.
#[inline]
pub fn put_varlong(out: &mut impl BufMut, v: i64) {
    put_uvarlong(out, ((v << 1) ^ (v >> 63)) as u64)
}

/// Size in bytes of `v` as an unsigned varint.
#[inline]
pub const fn uvarint_len(v: u32) -> usize {
    // ceil(bits / 7); bits = 32 - leading_zeros, min 1.
    let bits = 32 - (v | 1).leading_zeros() as usize;
    div_ceil_7(bits)
}

/// `n.div_ceil(7)` for `1 <= n <= 64` (the bit lengths varints deal with) as one multiply-add and a shift:
/// 9/64 is close enough to 1/7 below 65 (checked for every n by `div_ceil_7_matches_div_ceil`). `div_ceil` itself
/// compiles to a division by 7 (multiply, shift) plus the remainder test: about 10 instructions where this is 3,
/// on the append path's 5 varint sizes per record.
#[inline]
const fn div_ceil_7(n: usize) -> usize {
    (9 * n + 64) >> 6
}

/// Size in bytes of `v` as an unsigned varlong.
#[inline]
pub const fn uvarlong_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    div_ceil_7(bits)
}

/// Size in bytes of `v` as a zigzag varint.
#[inline]
pub const fn varint_len(v: i32) -> usize {
    uvarint_len(((v << 1) ^ (v >> 31)) as u32)
}

/// Size in bytes of `v` as a zigzag varlong.
#[inline]
pub const fn varlong_len(v: i64) -> usize {
    uvarlong_len(((v << 1) ^ (v >> 63)) as u64)
}

/// Reads an unsigned varint from a plain slice cursor; used by the record-batch reader too.
#[inline]
pub fn read_uvarint_slice(buf: &mut &[u8], field: &'static str) -> DecodeResult<u32> {
    let mut result: u32 = 0;
    for i in 0..5 {
        let Some((&b, rest)) = buf.split_first() else {
            return Err(DecodeError::Truncated { field, needed: 1, remaining: 0 });
        };
        *buf = rest;
        if i == 4 && b > 0x0f {
            return Err(DecodeError::VarintTooLong { field });
        }
        result |= ((b & 0x7f) as u32) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(result);
        }
    }
    Err(DecodeError::VarintTooLong { field })
}

/// Reads an unsigned varlong from a plain slice cursor.
#[inline]
pub fn read_uvarlong_slice(buf: &mut &[u8], field: &'static str) -> DecodeResult<u64> {
    let mut result: u64 = 0;
    for i in 0..10 {
        let Some((&b, rest)) = buf.split_first() else {
            return Err(DecodeError::Truncated { field, needed: 1, remaining: 0 });
        };
        *buf = rest;
        if i == 9 && b > 0x01 {
            return Err(DecodeError::VarintTooLong { field });
        }
        result |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(result);
        }
    }
    Err(DecodeError::VarintTooLong { field })
}

/// Reads a zigzag varint from a plain slice cursor.
#[inline]
pub fn read_varint_slice(buf: &mut &[u8], field: &'static str) -> DecodeResult<i32> {
    let u = read_uvarint_slice(buf, field)?;
    Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
}

/// Reads a zigzag varlong from a plain slice cursor.
#[inline]
pub fn read_varlong_slice(buf: &mut &[u8], field: &'static str) -> DecodeResult<i64> {
    let u = read_uvarlong_slice(buf, field)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

/// Applies a slice-cursor reader to a `Bytes` cursor, advancing it by what was consumed.
#[inline]
fn on_bytes<T>(buf: &mut Bytes, f: impl FnOnce(&mut &[u8]) -> DecodeResult<T>) -> DecodeResult<T> {
    let mut s: &[u8] = buf.chunk();
    let before = s.len();
    let v = f(&mut s)?;
    buf.advance(before - s.len());
    Ok(v)
}

/// Reads an unsigned varint (LEB128, at most 5 bytes).
#[inline]
pub fn read_uvarint(buf: &mut Bytes, field: &'static str) -> DecodeResult<u32> {
    on_bytes(buf, |s| read_uvarint_slice(s, field))
}
/// Reads an unsigned varlong (LEB128, at most 10 bytes).
#[inline]
pub fn read_uvarlong(buf: &mut Bytes, field: &'static str) -> DecodeResult<u64> {
    on_bytes(buf, |s| read_uvarlong_slice(s, field))
}
/// Reads a zigzag-encoded signed varint.
#[inline]
pub fn read_varint(buf: &mut Bytes, field: &'static str) -> DecodeResult<i32> {
    on_bytes(buf, |s| read_varint_slice(s, field))
}
/// Reads a zigzag-encoded signed varlong.
#[inline]
pub fn read_varlong(buf: &mut Bytes, field: &'static str) -> DecodeResult<i64> {
    on_bytes(buf, |s| read_varlong_slice(s, field))
}

// ---------------------------------------------------------------- lengths

/// Reads a length prefix: int16/int32 (classic) or unsigned varint minus one (compact).
/// Returns `None` for null (-1). Lengths below -1 are errors.
fn read_len(buf: &mut Bytes, compact: bool, wide: bool, field: &'static str) -> DecodeResult<Option<usize>> {
    let len: i64 = if compact {
        read_uvarint(buf, field)? as i64 - 1
    } else if wide {
        read_i32(buf, field)? as i64
    } else {
        read_i16(buf, field)? as i64
    };
    match len {
        -1 => Ok(None),
        l if l < -1 => Err(DecodeError::InvalidLength { field, len: l }),
        l => Ok(Some(l as usize)),
    }
}

fn put_len(out: &mut impl BufMut, len: Option<usize>, compact: bool, wide: bool) {
    match (compact, len) {
        (true, None) => put_uvarint(out, 0),
        (true, Some(n)) => put_uvarint(out, n as u32 + 1),
        (false, None) if wide => out.put_i32(-1),
        (false, None) => out.put_i16(-1),
        (false, Some(n)) if wide => out.put_i32(n as i32),
        (false, Some(n)) => out.put_i16(n as i16),
    }
}

/// Takes `len` bytes as a zero-copy slice, checking that they exist.
#[inline]
fn take(buf: &mut Bytes, len: usize, field: &'static str) -> DecodeResult<Bytes> {
    need(buf, len, field)?;
    Ok(buf.split_to(len))
}

// ---------------------------------------------------------------- strings

/// Reads a nullable string; `flexible` selects the compact encoding.
pub fn read_nullable_string(buf: &mut Bytes, flexible: bool, field: &'static str) -> DecodeResult<Option<String>> {
    match read_len(buf, flexible, false, field)? {
        None => Ok(None),
        Some(n) => {
            let b = take(buf, n, field)?;
            String::from_utf8(b.to_vec()).map(Some).map_err(|_| DecodeError::InvalidUtf8 { field })
        }
    }
}

/// Reads a non-nullable string; null is an error.
pub fn read_string(buf: &mut Bytes, flexible: bool, field: &'static str) -> DecodeResult<String> {
    read_nullable_string(buf, flexible, field)?.ok_or(DecodeError::UnexpectedNull { field })
}

/// Writes a nullable string; `flexible` selects the compact encoding.
pub fn put_nullable_string(out: &mut impl BufMut, s: Option<&str>, flexible: bool) {
    put_len(out, s.map(str::len), flexible, false);
    if let Some(s) = s {
        out.put_slice(s.as_bytes());
    }
}

/// Writes a non-nullable string.
pub fn put_string(out: &mut impl BufMut, s: &str, flexible: bool) {
    put_nullable_string(out, Some(s), flexible)
}

// ---------------------------------------------------------------- bytes

/// Reads nullable bytes (int32 length, or compact), zero-copy.
pub fn read_nullable_bytes(buf: &mut Bytes, flexible: bool, field: &'static str) -> DecodeResult<Option<Bytes>> {
    match read_len(buf, flexible, true, field)? {
        None => Ok(None),
        Some(n) => take(buf, n, field).map(Some),
    }
}

/// Reads non-nullable bytes.
pub fn read_bytes(buf: &mut Bytes, flexible: bool, field: &'static str) -> DecodeResult<Bytes> {
    read_nullable_bytes(buf, flexible, field)?.ok_or(DecodeError::UnexpectedNull { field })
}

/// Writes nullable bytes.
pub fn put_nullable_bytes(out: &mut impl BufMut, b: Option<&[u8]>, flexible: bool) {
    put_len(out, b.map(<[u8]>::len), flexible, true);
    if let Some(b) = b {
        out.put_slice(b);
    }
}

/// Writes only the length of nullable bytes (`None`: null), for bytes that follow as a chunk of their own.
#[inline]
pub fn put_nullable_bytes_len(out: &mut impl BufMut, len: Option<usize>, flexible: bool) {
    // `put_len`'s wide case, written out: inlined here it keeps the chunked Produce encoder as cheap per
    // partition as the contiguous one, without changing how `put_len` inlines elsewhere.
    match (flexible, len) {
        (true, None) => out.put_u8(0),
        (true, Some(n)) => put_uvarint(out, n as u32 + 1),
        (false, None) => out.put_i32(-1),
        (false, Some(n)) => out.put_i32(n as i32),
    }
}

/// Writes non-nullable bytes.
pub fn put_bytes(out: &mut impl BufMut, b: &[u8], flexible: bool) {
    put_nullable_bytes(out, Some(b), flexible)
}

// ---------------------------------------------------------------- arrays

/// Reads an array length (int32, or compact). `None` is a null array.
///
/// The length is bounded by the bytes that remain (every element takes at least one byte), so a
/// caller may safely `Vec::with_capacity` it.
pub fn read_array_len(buf: &mut Bytes, flexible: bool, field: &'static str) -> DecodeResult<Option<usize>> {
    let len = read_len(buf, flexible, true, field)?;
    if let Some(n) = len
        && n > buf.remaining()
    {
        return Err(DecodeError::InvalidLength { field, len: n as i64 });
    }
    Ok(len)
}

/// Writes an array length (int32, or compact). `None` is a null array.
pub fn put_array_len(out: &mut impl BufMut, len: Option<usize>, flexible: bool) {
    put_len(out, len, flexible, true)
}

/// Reads a non-nullable array by calling `item` for each element.
pub fn read_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    field: &'static str,
    mut item: impl FnMut(&mut Bytes) -> DecodeResult<T>,
) -> DecodeResult<Vec<T>> {
    let n = read_array_len(buf, flexible, field)?.unwrap_or(0);
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(item(buf)?);
    }
    Ok(v)
}

/// Reads a nullable array.
pub fn read_nullable_array<T>(
    buf: &mut Bytes,
    flexible: bool,
    field: &'static str,
    mut item: impl FnMut(&mut Bytes) -> DecodeResult<T>,
) -> DecodeResult<Option<Vec<T>>> {
    match read_array_len(buf, flexible, field)? {
        None => Ok(None),
        Some(n) => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(item(buf)?);
            }
            Ok(Some(v))
        }
    }
}

/// Writes a non-nullable array by calling `item` for each element.
pub fn put_array<T, B: BufMut>(out: &mut B, items: &[T], flexible: bool, mut item: impl FnMut(&mut B, &T)) {
    put_array_len(out, Some(items.len()), flexible);
    for it in items {
        item(out, it);
    }
}

// ---------------------------------------------------------------- tagged fields

/// A tagged field kept opaque: tag number and raw payload.
pub type RawTaggedField = (u32, Bytes);

/// Reads a tagged-field section, returning the raw fields in order.
pub fn read_tagged_fields(buf: &mut Bytes) -> DecodeResult<Vec<RawTaggedField>> {
    let n = read_uvarint(buf, "tagged_fields")? as usize;
    if n > buf.remaining() {
        return Err(DecodeError::InvalidLength { field: "tagged_fields", len: n as i64 });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = read_uvarint(buf, "tag")?;
        let size = read_uvarint(buf, "tag_size")? as usize;
        out.push((tag, take(buf, size, "tag_data")?));
    }
    Ok(out)
}

/// Skips a tagged-field section without keeping it.
pub fn skip_tagged_fields(buf: &mut Bytes) -> DecodeResult<()> {
    let n = read_uvarint(buf, "tagged_fields")? as usize;
    if n > buf.remaining() {
        return Err(DecodeError::InvalidLength { field: "tagged_fields", len: n as i64 });
    }
    for _ in 0..n {
        let _tag = read_uvarint(buf, "tag")?;
        let size = read_uvarint(buf, "tag_size")? as usize;
        take(buf, size, "tag_data")?;
    }
    Ok(())
}

/// Writes a tagged-field section. Tags must be in ascending order.
pub fn put_tagged_fields(out: &mut impl BufMut, fields: &[RawTaggedField]) {
    put_uvarint(out, fields.len() as u32);
    for (tag, data) in fields {
        put_uvarint(out, *tag);
        put_uvarint(out, data.len() as u32);
        out.put_slice(data);
    }
}

/// Writes an empty tagged-field section (a single zero byte).
#[inline]
pub fn put_empty_tagged_fields(out: &mut impl BufMut) {
    out.put_u8(0);
}

/// Writes a 16-byte UUID.
#[inline]
pub fn put_uuid(out: &mut impl BufMut, uuid: &[u8; 16]) {
    out.put_slice(uuid);
}

/// Reads a tagged-field section, handing each field's tag and zero-copy payload to `field`.
/// Callers decode the tags they know and ignore the rest (that is what makes tags forward-compatible).
pub fn read_tagged_fields_with(
    buf: &mut Bytes,
    mut field: impl FnMut(u32, Bytes) -> DecodeResult<()>,
) -> DecodeResult<()> {
    let n = read_uvarint(buf, "tagged_fields")? as usize;
    if n > buf.remaining() {
        return Err(DecodeError::InvalidLength { field: "tagged_fields", len: n as i64 });
    }
    for _ in 0..n {
        let tag = read_uvarint(buf, "tag")?;
        let size = read_uvarint(buf, "tag_size")? as usize;
        field(tag, take(buf, size, "tag_data")?)?;
    }
    Ok(())
}

/// Reads a compact (or classic) array of int32.
pub fn read_i32_array(buf: &mut Bytes, flexible: bool, field: &'static str) -> DecodeResult<Vec<i32>> {
    read_array(buf, flexible, field, |b| read_i32(b, field))
}

/// Writes a compact (or classic) array of int32.
pub fn put_i32_array(out: &mut impl BufMut, items: &[i32], flexible: bool) {
    put_array_len(out, Some(items.len()), flexible);
    for v in items {
        out.put_i32(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use proptest::prelude::*;

    #[test]
    fn div_ceil_7_matches_div_ceil() {
        for n in 1..=64usize {
            assert_eq!(div_ceil_7(n), n.div_ceil(7), "n = {n}");
        }
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX >> 1, u64::MAX] {
            let mut out = BytesMut::new();
            put_uvarlong(&mut out, v);
            assert_eq!(uvarlong_len(v), out.len(), "v = {v}");
        }
    }

    #[test]
    fn varint_fixtures_from_the_protocol_spec() {
        // Zigzag: 0→0, -1→1, 1→2, -2→3, 2147483647→4294967294, -2147483648→4294967295.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-2, &[0x03]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (v, bytes) in cases {
            let mut out = BytesMut::new();
            put_varint(&mut out, *v);
            assert_eq!(&out[..], *bytes, "encoding {v}");
            assert_eq!(varint_len(*v), bytes.len());
            let mut b = out.freeze();
            assert_eq!(read_varint(&mut b, "v").unwrap(), *v);
            assert!(b.is_empty());
        }
    }

    #[test]
    fn compact_string_fixture() {
        let mut out = BytesMut::new();
        put_string(&mut out, "abc", true);
        assert_eq!(&out[..], &[4, b'a', b'b', b'c']);
        let mut out = BytesMut::new();
        put_nullable_string(&mut out, None, true);
        assert_eq!(&out[..], &[0]);
        let mut out = BytesMut::new();
        put_nullable_string(&mut out, None, false);
        assert_eq!(&out[..], &[0xff, 0xff]);
    }

    #[test]
    fn varint_too_long_is_an_error() {
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(read_uvarint(&mut b, "x"), Err(DecodeError::VarintTooLong { .. })));
    }

    #[test]
    fn hostile_array_length_does_not_allocate() {
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
        let r = read_array(&mut b, false, "arr", |b| read_i8(b, "x"));
        assert!(matches!(r, Err(DecodeError::InvalidLength { .. })));
    }

    proptest! {
        #[test]
        fn varint_roundtrip(v in any::<i32>()) {
            let mut out = BytesMut::new();
            put_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut b = out.freeze();
            prop_assert_eq!(read_varint(&mut b, "v").unwrap(), v);
        }

        #[test]
        fn varlong_roundtrip(v in any::<i64>()) {
            let mut out = BytesMut::new();
            put_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            let mut b = out.freeze();
            prop_assert_eq!(read_varlong(&mut b, "v").unwrap(), v);
        }

        #[test]
        fn uvarint_roundtrip(v in any::<u32>()) {
            let mut out = BytesMut::new();
            put_uvarint(&mut out, v);
            prop_assert_eq!(out.len(), uvarint_len(v));
            let mut b = out.freeze();
            prop_assert_eq!(read_uvarint(&mut b, "v").unwrap(), v);
        }

        #[test]
        fn strings_roundtrip(s in proptest::option::of(".{0,40}"), flexible in any::<bool>()) {
            let mut out = BytesMut::new();
            put_nullable_string(&mut out, s.as_deref(), flexible);
            let mut b = out.freeze();
            prop_assert_eq!(read_nullable_string(&mut b, flexible, "s").unwrap(), s);
            prop_assert!(b.is_empty());
        }

        #[test]
        fn bytes_roundtrip(v in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)), flexible in any::<bool>()) {
            let mut out = BytesMut::new();
            put_nullable_bytes(&mut out, v.as_deref(), flexible);
            let mut b = out.freeze();
            let got = read_nullable_bytes(&mut b, flexible, "b").unwrap();
            prop_assert_eq!(got.as_deref(), v.as_deref());
        }

        #[test]
        fn tagged_fields_roundtrip(tags in proptest::collection::btree_map(any::<u16>(), proptest::collection::vec(any::<u8>(), 0..20), 0..5)) {
            let fields: Vec<RawTaggedField> = tags.into_iter().map(|(t, d)| (t as u32, Bytes::from(d))).collect();
            let mut out = BytesMut::new();
            put_tagged_fields(&mut out, &fields);
            let mut b = out.freeze();
            prop_assert_eq!(read_tagged_fields(&mut b).unwrap(), fields);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let b = Bytes::from(data);
            let _ = read_nullable_string(&mut b.clone(), true, "s");
            let _ = read_nullable_string(&mut b.clone(), false, "s");
            let _ = read_nullable_bytes(&mut b.clone(), true, "b");
            let _ = read_nullable_bytes(&mut b.clone(), false, "b");
            let _ = read_tagged_fields(&mut b.clone());
            let _ = read_array(&mut b.clone(), true, "a", |b| read_i32(b, "x"));
            let _ = read_varlong(&mut b.clone(), "v");
        }
    }
}
