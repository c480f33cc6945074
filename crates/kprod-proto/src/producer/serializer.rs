//! Serializers turn keys and values into bytes. Built in: `Bytes`, `Vec<u8>`, `&'static [u8]`, `String`, `&str`.
//!
//! A serializer returns a `Cow`: the built-ins borrow (no allocation, no copy); a user serializer that must build
//! bytes (JSON, Avro...) returns them owned.

use std::borrow::Cow;

use bytes::Bytes;

use crate::record::Header;

/// Why a value could not be serialized.
///
/// ```
/// use kprod_proto::producer::serializer::SerializeError;
///
/// let e = SerializeError("not valid JSON".into());
/// assert_eq!(e.to_string(), "not valid JSON");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SerializeError(pub String);

/// Java's `Serializer<T>`: may look at the topic and add headers.
///
/// ```
/// use std::borrow::Cow;
/// use kprod_proto::producer::record::Header;
/// use kprod_proto::producer::serializer::{SerializeError, Serializer};
///
/// /// A u64 as 8 big-endian bytes, built per call (so owned).
/// struct BigEndian;
/// impl Serializer<u64> for BigEndian {
///     fn serialize<'a>(&self, _topic: &str, _headers: &mut Vec<Header>, data: &'a u64) -> Result<Cow<'a, [u8]>, SerializeError> {
///         Ok(Cow::Owned(data.to_be_bytes().to_vec()))
///     }
/// }
/// let bytes = BigEndian.serialize("events", &mut Vec::new(), &258)?;
/// assert_eq!(&*bytes, &[0, 0, 0, 0, 0, 0, 1, 2]);
/// # Ok::<(), SerializeError>(())
/// ```
pub trait Serializer<T: ?Sized>: Send + Sync + 'static {
    /// The bytes of `data` for a record to `topic`; may add to `headers`.
    fn serialize<'a>(
        &self,
        topic: &str,
        headers: &mut Vec<Header>,
        data: &'a T,
    ) -> Result<Cow<'a, [u8]>, SerializeError>;
}

/// Serializes anything that is already bytes (`Bytes`, `Vec<u8>`, `&[u8]`, `String`, `&str`) by borrowing it.
///
/// ```
/// use std::borrow::Cow;
/// use kprod_proto::producer::serializer::{BytesSerializer, Serializer};
///
/// let value = bytes::Bytes::from_static(b"hello");
/// let out = BytesSerializer.serialize("events", &mut Vec::new(), &value)?;
/// assert!(matches!(out, Cow::Borrowed(b"hello")), "borrowed: no copy");
/// # Ok::<(), kprod_proto::producer::serializer::SerializeError>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct BytesSerializer;

impl<T: AsRef<[u8]> + ?Sized> Serializer<T> for BytesSerializer {
    #[inline]
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &mut Vec<Header>,
        data: &'a T,
    ) -> Result<Cow<'a, [u8]>, SerializeError> {
        Ok(Cow::Borrowed(data.as_ref()))
    }
}

/// Java's `StringSerializer` (UTF-8); the same as `BytesSerializer` for Rust strings, kept for clarity.
///
/// ```
/// use kprod_proto::producer::serializer::{Serializer, StringSerializer};
///
/// let out = StringSerializer.serialize("events", &mut Vec::new(), "héllo")?;
/// assert_eq!(&*out, "héllo".as_bytes());
/// # Ok::<(), kprod_proto::producer::serializer::SerializeError>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct StringSerializer;

impl<T: AsRef<str> + ?Sized> Serializer<T> for StringSerializer {
    #[inline]
    fn serialize<'a>(
        &self,
        _topic: &str,
        _headers: &mut Vec<Header>,
        data: &'a T,
    ) -> Result<Cow<'a, [u8]>, SerializeError> {
        Ok(Cow::Borrowed(data.as_ref().as_bytes()))
    }
}

/// The default serializer for `Bytes`.
///
/// ```
/// use kprod_proto::producer::serializer::{DefaultSerializer, Serializer};
///
/// let value = bytes::Bytes::from_static(b"x");
/// let out = DefaultSerializer::default().serialize("t", &mut Vec::new(), &value)?;
/// assert_eq!(&*out, b"x");
/// # Ok::<(), kprod_proto::producer::serializer::SerializeError>(())
/// ```
pub type DefaultSerializer = BytesSerializer;

/// Type alias for the common byte-valued record.
///
/// ```
/// use kprod_proto::producer::record::ProducerRecord;
/// use kprod_proto::producer::serializer::BytesRecord;
///
/// let record: BytesRecord = ProducerRecord::new("t", bytes::Bytes::from_static(b"v"));
/// assert_eq!(record.value.as_deref(), Some(&b"v"[..]));
/// ```
pub type BytesRecord = crate::producer::record::ProducerRecord<Bytes, Bytes>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_borrow_without_copy() {
        let s = String::from("héllo");
        let mut h = Vec::new();
        let out = Serializer::<String>::serialize(&StringSerializer, "t", &mut h, &s).unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(&*out, "héllo".as_bytes());
        let b = Bytes::from_static(b"\x00\x01");
        let out = Serializer::<Bytes>::serialize(&BytesSerializer, "t", &mut h, &b).unwrap();
        assert_eq!(out.as_ptr(), b.as_ptr(), "no copy");
    }

    struct Json;
    impl Serializer<u32> for Json {
        fn serialize<'a>(
            &self,
            _t: &str,
            headers: &mut Vec<Header>,
            v: &'a u32,
        ) -> Result<Cow<'a, [u8]>, SerializeError> {
            headers.push(Header { key: "content-type".into(), value: Some(Bytes::from_static(b"json")) });
            Ok(Cow::Owned(format!("{{\"v\":{v}}}").into_bytes()))
        }
    }

    #[test]
    fn user_serializer_can_add_headers() {
        let mut h = Vec::new();
        let out = Json.serialize("t", &mut h, &7).unwrap();
        assert_eq!(&*out, b"{\"v\":7}");
        assert_eq!(h.len(), 1);
    }
}
