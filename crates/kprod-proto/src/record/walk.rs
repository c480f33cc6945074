//! The record-level parser shared by the reader ([`super::RecordIter`], which hands out zero-copy
//! `Bytes`) and the validator (which only walks the bytes and allocates nothing).
//!
//! Every varint and length is bounds-checked against the record's own length prefix.
//!
//! # References
//! - Apache Kafka `DefaultRecord.readFrom` (the same checks: negative lengths, null header keys,
//!   bytes left over inside a record).

use super::RecordError;
use crate::protocol::wire::{read_varint_slice, read_varlong_slice};
use std::ops::Range;

/// The fixed fields of one record and where its key and value lie inside the record's body.
#[derive(Debug)]
pub(crate) struct RecordLayout {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Range<usize>>,
    pub value: Option<Range<usize>>,
}

/// A bounds-checked cursor over one record's body.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &[u8] {
        &self.data[self.pos..]
    }
    fn varint(&mut self, field: &'static str) -> Result<i32, RecordError> {
        let mut s = self.rest();
        let before = s.len();
        let v = read_varint_slice(&mut s, field)?;
        self.pos += before - s.len();
        Ok(v)
    }
    fn varlong(&mut self, field: &'static str) -> Result<i64, RecordError> {
        let mut s = self.rest();
        let before = s.len();
        let v = read_varlong_slice(&mut s, field)?;
        self.pos += before - s.len();
        Ok(v)
    }
    fn i8(&mut self, field: &'static str) -> Result<i8, RecordError> {
        let b = *self.rest().first().ok_or(RecordError::Truncated { field, needed: 1, remaining: 0 })?;
        self.pos += 1;
        Ok(b as i8)
    }
    /// A varint length (-1 = null) and the range of that many bytes.
    fn nullable(&mut self, field: &'static str) -> Result<Option<Range<usize>>, RecordError> {
        let len = self.varint(field)?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(RecordError::InvalidLength { field, len: len as i64 });
        }
        let len = len as usize;
        let remaining = self.data.len() - self.pos;
        if len > remaining {
            return Err(RecordError::Truncated { field, needed: len, remaining });
        }
        let range = self.pos..self.pos + len;
        self.pos += len;
        Ok(Some(range))
    }
}

/// Reads a record's length prefix from the front of `data`: returns (prefix bytes, body bytes),
/// the body being in bounds.
pub(crate) fn split_record(data: &[u8]) -> Result<(usize, usize), RecordError> {
    let mut s = data;
    let len = read_varint_slice(&mut s, "record_length")?;
    let prefix = data.len() - s.len();
    if len < 0 {
        return Err(RecordError::InvalidLength { field: "record_length", len: len as i64 });
    }
    let len = len as usize;
    if len > s.len() {
        return Err(RecordError::Truncated { field: "record", needed: len, remaining: s.len() });
    }
    Ok((prefix, len))
}

/// Parses a record body (after its length prefix). Each header is checked (non-null UTF-8 key) and
/// handed to `on_header` with its key and the range of its value. The body must be consumed exactly.
pub(crate) fn parse_body<'a>(
    body: &'a [u8],
    mut on_header: impl FnMut(&'a str, Option<Range<usize>>),
) -> Result<RecordLayout, RecordError> {
    let mut c = Cursor { data: body, pos: 0 };
    let attributes = c.i8("record_attributes")?;
    let timestamp_delta = c.varlong("timestamp_delta")?;
    let offset_delta = c.varint("offset_delta")?;
    let key = c.nullable("key")?;
    let value = c.nullable("value")?;
    let header_count = c.varint("header_count")?;
    // Each header takes at least two bytes: a larger count is a lie, found before looping on it.
    if header_count < 0 || header_count as usize > c.rest().len() / 2 {
        return Err(RecordError::InvalidLength { field: "header_count", len: header_count as i64 });
    }
    for _ in 0..header_count {
        let key = c.nullable("header_key")?.ok_or(RecordError::InvalidLength { field: "header_key", len: -1 })?;
        let key = std::str::from_utf8(&body[key]).map_err(|_| RecordError::InvalidUtf8 { field: "header_key" })?;
        let value = c.nullable("header_value")?;
        on_header(key, value);
    }
    if c.pos != body.len() {
        return Err(RecordError::TrailingBytes { field: "record", remaining: body.len() - c.pos });
    }
    Ok(RecordLayout { attributes, timestamp_delta, offset_delta, key, value })
}

/// Walks `count` records in `data` without allocating: offset deltas must run 0..count-1 and no
/// bytes may follow the last record.
pub(crate) fn validate_records(data: &[u8], count: i32) -> Result<(), RecordError> {
    let mut rest = data;
    for index in 0..count {
        if rest.is_empty() {
            return Err(RecordError::CountMismatch { header: count, actual: index });
        }
        let (prefix, len) = split_record(rest)?;
        let layout = parse_body(&rest[prefix..prefix + len], |_, _| {})?;
        if layout.offset_delta != index {
            return Err(RecordError::OffsetDelta { index, found: layout.offset_delta });
        }
        rest = &rest[prefix + len..];
    }
    if !rest.is_empty() {
        return Err(RecordError::TrailingBytes { field: "last record", remaining: rest.len() });
    }
    Ok(())
}
