//! Identifiers, parsed once at the edge and trusted after.
//!
//! Every identifier that crosses a boundary (certificate, JSON body, command line, database row) is
//! one of these newtypes. The only way to make one is through its parser, so a value of the type is
//! well formed by construction. Parsers never echo the rejected input back: a user who pastes a
//! personal identity number into the wrong field must not find it in a log.
//!
//! | type | form | example |
//! |---|---|---|
//! | [`PrincipalId`] | `SE` + Swedish organisation number (10 digits, Luhn) | `SE2321000032` |
//! | [`HsaId`] | `SE` + 10–12 digits + `-` + 1–18 letters/digits, at most 31 characters | `SE2321000032-abc1` |
//! | [`CaseId`] | `S-` + 26 Crockford base32 (128 bits) | `S-01JDQ7…` |
//! | [`ConsentId`] | `K-` + 26 Crockford base32 | `K-…` |
//! | [`EnvelopeId`] | `E-` + 26 Crockford base32 | `E-…` |
//! | [`KeyId`] | `N-` + 26 Crockford base32 of a key's fingerprint | `N-…` |
//!
//! The letters are mnemonic in Swedish: *SIP-ärende*, *samtycKe*, *Envelope*, *Nyckel*.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A malformed identifier. Names the field and says what was expected, never repeats the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {expected}")]
pub struct IdError {
    /// The identifier kind, as a user would call the field (`"case id"`, `"HSA-id"`, …).
    pub field: &'static str,
    /// What a well-formed value looks like.
    pub expected: &'static str,
}

/// Crockford's base32 alphabet (no I, L, O, U): unambiguous when read aloud or retyped.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 128 bits in base32 take 26 characters; the first carries only 3 bits (so it is `0`–`7`).
const OPAQUE_LEN: usize = 26;

/// Encodes 16 bytes as 26 Crockford base32 characters, most significant bits first.
fn encode_128(bytes: [u8; 16]) -> String {
    let mut n = u128::from_be_bytes(bytes);
    let mut out = [0u8; OPAQUE_LEN];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(n & 31) as usize];
        n >>= 5;
    }
    out.iter().map(|&b| b as char).collect()
}

/// Checks that `s` is exactly the canonical encoding of some 128-bit value.
fn is_canonical_128(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == OPAQUE_LEN && matches!(b[0], b'0'..=b'7') && b.iter().all(|c| CROCKFORD.contains(c))
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The canonical text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $field:literal) => {
        string_newtype!($(#[$doc])* $name);

        impl $name {
            /// The prefix that marks this kind of identifier.
            pub const PREFIX: &'static str = $prefix;

            /// Parses the canonical form: the prefix, then 26 upper-case Crockford base32 characters.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                match s.strip_prefix($prefix) {
                    Some(rest) if is_canonical_128(rest) => Ok(Self(s.to_owned())),
                    _ => Err(IdError {
                        field: $field,
                        expected: concat!(
                            "expected \"",
                            $prefix,
                            "\" followed by 26 characters of Crockford base32 (0-9, A-Z without I, L, O, U)"
                        ),
                    }),
                }
            }

            /// Makes the identifier for 128 bits, which the caller draws from a secure random source.
            pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
                Self(format!("{}{}", $prefix, encode_128(bytes)))
            }
        }
    };
}

opaque_id!(
    /// A SIP case (*SIP-ärende*). Opaque: it says nothing about the person.
    CaseId,
    "S-",
    "case id"
);
opaque_id!(
    /// A consent record (*samtycke*).
    ConsentId,
    "K-",
    "consent id"
);
opaque_id!(
    /// An envelope, chosen by its sender so that a retried upload is recognised as the same one.
    EnvelopeId,
    "E-",
    "envelope id"
);
opaque_id!(
    /// An encryption key, derived from the public key by [`KeyId::for_x25519_public_key`].
    KeyId,
    "N-",
    "key id"
);

impl KeyId {
    /// The key id of an X25519 public key: the first 128 bits of
    /// `SHA-256("samordna key id v1" || 0x00 || public_key)`.
    ///
    /// Deriving the id from the key means an id can never name two different keys.
    pub fn for_x25519_public_key(public_key: &[u8; 32]) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"samordna key id v1\x00");
        ctx.update(public_key);
        let digest = ctx.finish();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest.as_ref()[..16]);
        // 130 bits of base32 capacity hold 128 bits; the top two are zero, as `parse` demands.
        Self::from_random_bytes(first)
    }
}

string_newtype!(
    /// A principal (*huvudman*): a region, municipality, school or agency, identified by `SE` and its
    /// Swedish organisation number. Carried in certificates as `organizationIdentifier` (2.5.4.97).
    PrincipalId
);

impl PrincipalId {
    /// Parses `SE` followed by a 10-digit organisation number whose last digit is its Luhn check digit.
    /// A hyphen after the sixth digit (`SE232100-0032`) is not accepted: there is one canonical form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = IdError {
            field: "principal id",
            expected: "expected \"SE\" followed by a 10-digit organisation number with a valid check digit, e.g. SE2321000032",
        };
        let digits = s.strip_prefix("SE").ok_or(err.clone())?;
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) || !luhn_ok(digits) {
            return Err(err);
        }
        Ok(Self(s.to_owned()))
    }

    /// The organisation number with its usual hyphen (`232100-0032`), for people to read.
    pub fn organisation_number(&self) -> String {
        let digits = &self.0[2..];
        format!("{}-{}", &digits[..6], &digits[6..])
    }
}

/// The Luhn (mod 10) check used by Swedish organisation and personal identity numbers.
pub(crate) fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if !i.is_multiple_of(2) {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

string_newtype!(
    /// An HSA-id: the Swedish health and social care directory's identifier for a person or system,
    /// carried in certificates as `serialNumber` (2.5.4.5).
    HsaId
);

impl HsaId {
    /// HSA-ids are at most 31 characters.
    pub const MAX_LEN: usize = 31;

    /// Parses `SE`, 10 to 12 digits (the issuing organisation), `-`, and 1 or more letters or
    /// digits, 31 characters at most. Case is kept: HSA-ids are compared exactly.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let err = IdError {
            field: "HSA-id",
            expected: "expected \"SE\", 10 to 12 digits, \"-\", then letters or digits, at most 31 characters, e.g. SE2321000032-abc1",
        };
        if s.len() > Self::MAX_LEN {
            return Err(err);
        }
        let rest = s.strip_prefix("SE").ok_or(err.clone())?;
        let (org, local) = rest.split_once('-').ok_or(err.clone())?;
        let org_ok = (10..=12).contains(&org.len()) && org.bytes().all(|b| b.is_ascii_digit());
        let local_ok = !local.is_empty() && local.bytes().all(|b| b.is_ascii_alphanumeric());
        if org_ok && local_ok { Ok(Self(s.to_owned())) } else { Err(err) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_ids_need_a_valid_check_digit() {
        assert!(PrincipalId::parse("SE2321000032").is_ok());
        assert!(PrincipalId::parse("SE2120000449").is_ok());
        let e = PrincipalId::parse("SE2321000033").unwrap_err();
        assert_eq!(e.field, "principal id");
        for bad in ["2321000032", "SE232100-0032", "SE232100003", "SE23210000321", "se2321000032", ""] {
            assert!(PrincipalId::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(PrincipalId::parse("SE2321000032").unwrap().organisation_number(), "232100-0032");
    }

    #[test]
    fn hsa_ids() {
        for good in ["SE2321000032-abc1", "SE162321000255-4711", "SE2120000449-A"] {
            assert!(HsaId::parse(good).is_ok(), "{good} refused");
        }
        for bad in [
            "SE2321000032",
            "SE2321000032-",
            "SE232100003-x",
            "SE2321000032-ab_c",
            "SE2321000032-abcdefghijklmnopqrstu",
            "XX2321000032-a",
        ] {
            let e = HsaId::parse(bad).unwrap_err();
            assert_eq!(e.field, "HSA-id", "{bad}");
        }
    }

    #[test]
    fn opaque_ids_round_trip_and_reject_noise() {
        let id = CaseId::from_random_bytes([0xff; 16]);
        assert_eq!(id.as_str(), "S-7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert_eq!(CaseId::parse(id.as_str()).unwrap(), id);
        assert_eq!(CaseId::from_random_bytes([0; 16]).as_str(), "S-00000000000000000000000000");

        let e = CaseId::parse("K-00000000000000000000000000").unwrap_err();
        assert_eq!(e.field, "case id");
        for bad in [
            "S-8ZZZZZZZZZZZZZZZZZZZZZZZZZ", // 130 bits: not the encoding of any 128-bit value
            "S-0000000000000000000000000",  // 25 characters
            "S-0000000000000000000000000I", // I is not Crockford
            "S-0000000000000000000000000a", // lower case is not canonical
            "s-00000000000000000000000000",
        ] {
            assert!(CaseId::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(ConsentId::parse("E-00000000000000000000000000").unwrap_err().field, "consent id");
        assert_eq!(EnvelopeId::parse("x").unwrap_err().field, "envelope id");
        assert_eq!(KeyId::parse("x").unwrap_err().field, "key id");
    }

    #[test]
    fn key_ids_are_derived_from_the_key() {
        let a = KeyId::for_x25519_public_key(&[1; 32]);
        let b = KeyId::for_x25519_public_key(&[2; 32]);
        assert_ne!(a, b);
        assert_eq!(KeyId::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn serde_goes_through_the_parser() {
        let ok: CaseId = serde_json::from_str("\"S-00000000000000000000000000\"").unwrap();
        assert_eq!(ok.as_str(), "S-00000000000000000000000000");
        let err = serde_json::from_str::<CaseId>("\"S-1\"").unwrap_err().to_string();
        assert!(err.contains("case id"), "{err}");
    }

    #[test]
    fn errors_never_repeat_the_input() {
        let personnummer = "19121212-1212";
        for msg in [
            CaseId::parse(personnummer).unwrap_err().to_string(),
            HsaId::parse(personnummer).unwrap_err().to_string(),
            PrincipalId::parse(personnummer).unwrap_err().to_string(),
        ] {
            assert!(!msg.contains(personnummer), "{msg}");
        }
    }
}
