//! Serializers turn keys and values into bytes. Built in: `Bytes`, `Vec<u8>`, `&'static [u8]`, `String`, `&str`.
//!
//! A serializer returns a `Cow`: the built-ins borrow (no allocation, no copy); a user serializer that must build
//! bytes (JSON, Avro...) returns them owned.

// Not all public items here are documented yet (issue 18): remove this allow once they are.
#![allow(missing_docs)]

use std::borrow::Cow;

use bytes::Bytes;

use crate::record::Header;

/// Why a value could not be serialized.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SerializeError(pub String);

/// Java's `Serializer<T>`: may look at the topic and add headers.
pub trait Serializer<T: ?Sized>: Send + Sync + 'static {
    fn serialize<'a>(
        &self,
        topic: &str,
        headers: &mut Vec<Header>,
        data: &'a T,
    ) -> Result<Cow<'a, [u8]>, SerializeError>;
}

/// Serializes anything that is already bytes (`Bytes`, `Vec<u8>`, `&[u8]`, `String`, `&str`) by borrowing it.
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
pub type DefaultSerializer = BytesSerializer;

/// Type alias for the common byte-valued record.
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
