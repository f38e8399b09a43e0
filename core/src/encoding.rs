//! Serde forms for binary values inside JSON: base64 (RFC 4648 §4, padded) and lower-case hex.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Deserializer, Serializer, de::Error};

/// `[u8; N]` as padded standard base64.
pub mod b64_array {
    use super::*;

    /// Serialize.
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    /// Deserialize, refusing any other length.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let v = STANDARD.decode(s.as_bytes()).map_err(D::Error::custom)?;
        v.try_into().map_err(|v: Vec<u8>| D::Error::custom(format!("expected {N} bytes, got {}", v.len())))
    }
}

/// `Vec<u8>` as padded standard base64.
pub mod b64_vec {
    use super::*;

    /// Serialize.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    /// Deserialize.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD.decode(s.as_bytes()).map_err(D::Error::custom)
    }
}

/// `Vec<[u8; 32]>` (a list of hashes) as a list of padded standard base64 strings.
pub mod b64_hashes {
    use super::*;
    use serde::ser::SerializeSeq;

    /// Serialize.
    pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for h in v {
            seq.serialize_element(&STANDARD.encode(h))?;
        }
        seq.end()
    }

    /// Deserialize, refusing anything but 32-byte values.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        let items = <Vec<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        items
            .iter()
            .map(|s| {
                let v = STANDARD.decode(s.as_bytes()).map_err(D::Error::custom)?;
                v.try_into()
                    .map_err(|v: Vec<u8>| D::Error::custom(format!("expected 32 bytes, got {}", v.len())))
            })
            .collect()
    }
}

/// `[u8; 32]` as 64 lower-case hex digits.
pub mod hex32 {
    use super::*;

    /// Serialize.
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    /// Deserialize; upper-case hex is refused so that each value has one text form.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(D::Error::custom("hex must be lower case"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.as_bytes(), &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// RFC 3339 timestamps, written in UTC with whole seconds (`2026-11-23T14:05:00Z`).
pub mod rfc3339 {
    use super::*;
    use time::{OffsetDateTime, format_description::well_known::Rfc3339};

    /// Serialize.
    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }

    /// Deserialize any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&s, &Rfc3339).map_err(D::Error::custom)
    }

    /// `Option<OffsetDateTime>`: `null` or absent for `None`.
    pub mod option {
        use super::*;

        /// Serialize.
        pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&format(*t)),
                None => s.serialize_none(),
            }
        }

        /// Deserialize.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
            let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
            s.map(|s| OffsetDateTime::parse(&s, &Rfc3339).map_err(D::Error::custom)).transpose()
        }
    }

    /// The canonical text form: UTC, whole seconds.
    pub fn format(t: OffsetDateTime) -> String {
        let t = t.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).unwrap_or(t);
        t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
    }
}
