//! The canonical access-log entry and its binary encoding (`docs/spec/access-log-v1.md` §2).
//!
//! ```text
//! entry = u8  version (0x01)
//!       | u64 index                 | i64 at_us (microseconds since 1970-01-01T00:00:00Z)
//!       | str request_id
//!       | opt(str) actor_principal  | opt(str) actor_user    | opt([32]) cert_fingerprint
//!       | u16 action                | u8 decision (0 deny, 1 allow)   | u16 reason
//!       | opt(str) case_id          | opt(str) consent_id    | opt(str) envelope_id
//!       | opt(u8 kind | str) object | opt(u8 family | addr | u16 port) peer
//! str    = u16 length | UTF-8 bytes
//! opt(x) = 0x00 | 0x01 x
//! ```
//!
//! Integers are big-endian. The encoding is a function of the entry (one value, one byte string)
//! and [`LogEntry::decode`] accepts only what [`LogEntry::encode`] produces: an unknown version,
//! a presence byte other than 0 or 1, a length above a field's maximum, an identifier that does not
//! parse, an unknown action or reason code, a decision that contradicts the reason, or a single
//! byte after the last field are all refused.
//!
//! Every field is typed: identifiers are the parsed newtypes of [`crate::id`], the request id and
//! the object marker have their own small grammars. None of them can hold free text, so the log
//! carries no personal identity number; an identifier the relay could not parse is logged as
//! absent, never as the raw input.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use time::OffsetDateTime;

use super::merkle::{self, Hash};
use crate::{
    audit::{Action, Reason},
    id::{CaseId, ConsentId, EnvelopeId, HsaId, IdError, KeyId, PrincipalId},
};

/// The entry format version this code writes and reads.
pub const ENTRY_VERSION: u8 = 1;

/// No valid entry is longer than this; [`LogEntry::decode`] refuses longer input unread.
pub const MAX_ENTRY_LEN: usize = 1024;

/// Whether the request was carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Refused; the entry's reason says why.
    Deny,
    /// Carried out; the entry's reason is [`Reason::Ok`].
    Allow,
}

impl Decision {
    /// The encoded byte: 0 deny, 1 allow.
    pub fn byte(self) -> u8 {
        match self {
            Decision::Deny => 0,
            Decision::Allow => 1,
        }
    }
}

/// The relay's id for one request: 1 to 64 ASCII letters, digits and `-`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// The longest request id.
    pub const MAX_LEN: usize = 64;

    /// Parses a request id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=Self::MAX_LEN).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError { field: "request id", expected: "expected 1 to 64 ASCII letters, digits or \"-\"" })
        }
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

/// A fixed word for an object that has no identifier (`duplicate`): 1 to 32 of `a`–`z`, `_`, `-`.
///
/// No digits, so that a marker can never carry an identity number.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Marker(String);

impl Marker {
    /// The longest marker.
    pub const MAX_LEN: usize = 32;

    /// Parses a marker.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=Self::MAX_LEN).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError { field: "object marker", expected: "expected 1 to 32 of a-z, \"_\" or \"-\"" })
        }
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Marker({})", self.0)
    }
}

/// The "other object" of an entry: what the request touched besides a case, consent or envelope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ObjectRef {
    /// A principal (kind 1).
    Principal(PrincipalId),
    /// An encryption key (kind 2).
    Key(KeyId),
    /// A fixed word (kind 3).
    Marker(Marker),
}

impl ObjectRef {
    /// The encoded kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            ObjectRef::Principal(_) => 1,
            ObjectRef::Key(_) => 2,
            ObjectRef::Marker(_) => 3,
        }
    }

    /// The text form of the value.
    pub fn as_str(&self) -> &str {
        match self {
            ObjectRef::Principal(p) => p.as_str(),
            ObjectRef::Key(k) => k.as_str(),
            ObjectRef::Marker(m) => m.as_str(),
        }
    }
}

/// The client's address. IPv6 flow labels and scope ids are not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The IP address, as the relay saw it (an IPv4-mapped IPv6 address stays IPv6).
    pub ip: IpAddr,
    /// The TCP port.
    pub port: u16,
}

impl From<SocketAddr> for Peer {
    fn from(a: SocketAddr) -> Self {
        Peer { ip: a.ip(), port: a.port() }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketAddr::new(self.ip, self.port).fmt(f)
    }
}

/// One access-log entry, exactly as it is hashed into the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogEntry {
    /// The entry's position in the log, from 0. The same number as its leaf index, so that two
    /// entries cannot trade places without changing both leaf hashes.
    pub index: u64,
    /// When, in microseconds since 1970-01-01T00:00:00Z (UTC); see [`micros_since_epoch`].
    pub at_us: i64,
    /// The relay's id for the request.
    pub request_id: RequestId,
    /// The acting principal, as its certificate names it (unverified when the certificate was refused).
    pub actor_principal: Option<PrincipalId>,
    /// The acting person or system.
    pub actor_user: Option<HsaId>,
    /// SHA-256 of the client certificate (DER).
    pub cert_fingerprint: Option<[u8; 32]>,
    /// What was done or attempted.
    pub action: Action,
    /// Why it was allowed ([`Reason::Ok`]) or refused (anything else). The decision follows from it.
    pub reason: Reason,
    /// The case touched.
    pub case_id: Option<CaseId>,
    /// The consent relied on or checked.
    pub consent_id: Option<ConsentId>,
    /// The envelope touched.
    pub envelope_id: Option<EnvelopeId>,
    /// Another object.
    pub object: Option<ObjectRef>,
    /// The client's address.
    pub peer: Option<Peer>,
}

/// Why bytes are not an access-log entry. Each variant names a distinct fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The first byte is not a version this code reads.
    #[error("unknown access-log entry format version {0}")]
    UnknownVersion(u8),
    /// The input is longer than any entry can be.
    #[error("the entry is {0} bytes long, more than any entry can be")]
    TooLong(usize),
    /// The input ends inside a field.
    #[error("the entry ends inside its {0} field")]
    Truncated(&'static str),
    /// Bytes follow the last field.
    #[error("{0} bytes follow the end of the entry")]
    TrailingBytes(usize),
    /// A presence byte is neither 0 nor 1.
    #[error("the presence byte of the {field} field is {byte:#04x}, not 0x00 or 0x01")]
    BadPresence {
        /// The field.
        field: &'static str,
        /// The byte found.
        byte: u8,
    },
    /// A length prefix exceeds the field's maximum.
    #[error("the {field} field is {len} bytes long, more than its maximum")]
    BadLength {
        /// The field.
        field: &'static str,
        /// The length found.
        len: usize,
    },
    /// A field's value is not well formed (not UTF-8, not a valid identifier, an unknown kind).
    #[error("the {field} field is not valid: {detail}")]
    BadField {
        /// The field.
        field: &'static str,
        /// What is wrong; never the value itself.
        detail: String,
    },
    /// An action code this code does not know (a newer relay wrote it).
    #[error("unknown action code {0}; a newer version of Samordna is needed to read this entry")]
    UnknownAction(u16),
    /// A reason code this code does not know.
    #[error("unknown reason code {0}; a newer version of Samordna is needed to read this entry")]
    UnknownReason(u16),
    /// The decision byte contradicts the reason (allow needs reason `ok`, deny any other).
    #[error("the decision byte {decision} contradicts the reason code {reason}")]
    DecisionMismatch {
        /// The decision byte found.
        decision: u8,
        /// The reason code found.
        reason: u16,
    },
}

/// Microseconds since the Unix epoch, rounded down, as [`LogEntry::at_us`] holds them.
pub fn micros_since_epoch(t: OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos().div_euclid(1000);
    // `OffsetDateTime` spans ±9999 years, about ±3.2e17 µs: always within i64.
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

// Maximum lengths (bytes) of the string fields; identifiers are shorter than these by construction.
const MAX_ID_LEN: usize = 64;

impl LogEntry {
    /// The decision, which follows from the reason.
    pub fn decision(&self) -> Decision {
        if self.reason.is_ok() { Decision::Allow } else { Decision::Deny }
    }

    /// The time as a date, if it is within the years −9999 to 9999.
    pub fn at(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.at_us) * 1000).ok()
    }

    /// The canonical encoding (`docs/spec/access-log-v1.md` §2.2): the leaf data of the Merkle tree.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(ENTRY_VERSION);
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.at_us.to_be_bytes());
        put_str(&mut out, self.request_id.as_str());
        put_opt(&mut out, self.actor_principal.as_ref(), |o, v| put_str(o, v.as_str()));
        put_opt(&mut out, self.actor_user.as_ref(), |o, v| put_str(o, v.as_str()));
        put_opt(&mut out, self.cert_fingerprint.as_ref(), |o, v| o.extend_from_slice(v));
        out.extend_from_slice(&self.action.code().to_be_bytes());
        out.push(self.decision().byte());
        out.extend_from_slice(&self.reason.code().to_be_bytes());
        put_opt(&mut out, self.case_id.as_ref(), |o, v| put_str(o, v.as_str()));
        put_opt(&mut out, self.consent_id.as_ref(), |o, v| put_str(o, v.as_str()));
        put_opt(&mut out, self.envelope_id.as_ref(), |o, v| put_str(o, v.as_str()));
        put_opt(&mut out, self.object.as_ref(), |o, v| {
            o.push(v.kind());
            put_str(o, v.as_str());
        });
        put_opt(&mut out, self.peer.as_ref(), |o, p| {
            match p.ip {
                IpAddr::V4(a) => {
                    o.push(4);
                    o.extend_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    o.push(6);
                    o.extend_from_slice(&a.octets());
                }
            }
            o.extend_from_slice(&p.port.to_be_bytes());
        });
        out
    }

    /// The RFC 6962 leaf hash of this entry: `SHA-256(0x00 || encode())`.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.encode())
    }

    /// Parses an encoded entry (`docs/spec/access-log-v1.md` §2.3), accepting exactly what
    /// [`LogEntry::encode`] produces.
    pub fn decode(bytes: &[u8]) -> Result<LogEntry, EntryError> {
        if bytes.len() > MAX_ENTRY_LEN {
            return Err(EntryError::TooLong(bytes.len()));
        }
        let mut r = Reader { rest: bytes };
        let version = r.u8("version")?;
        if version != ENTRY_VERSION {
            return Err(EntryError::UnknownVersion(version));
        }
        let index = u64::from_be_bytes(r.array("index")?);
        let at_us = i64::from_be_bytes(r.array("time")?);
        let request_id = r.parsed("request id", RequestId::parse)?;
        let actor_principal =
            r.opt("actor principal", |r| r.parsed("actor principal", PrincipalId::parse))?;
        let actor_user = r.opt("actor user", |r| r.parsed("actor user", HsaId::parse))?;
        let cert_fingerprint = r.opt("certificate fingerprint", |r| r.array("certificate fingerprint"))?;
        let action_code = u16::from_be_bytes(r.array("action")?);
        let action = Action::from_code(action_code).ok_or(EntryError::UnknownAction(action_code))?;
        let decision = r.u8("decision")?;
        let reason_code = u16::from_be_bytes(r.array("reason")?);
        let reason = Reason::from_code(reason_code).ok_or(EntryError::UnknownReason(reason_code))?;
        let expected = if reason.is_ok() { Decision::Allow } else { Decision::Deny };
        if decision != expected.byte() {
            return Err(EntryError::DecisionMismatch { decision, reason: reason_code });
        }
        let case_id = r.opt("case id", |r| r.parsed("case id", CaseId::parse))?;
        let consent_id = r.opt("consent id", |r| r.parsed("consent id", ConsentId::parse))?;
        let envelope_id = r.opt("envelope id", |r| r.parsed("envelope id", EnvelopeId::parse))?;
        let object = r.opt("object", |r| match r.u8("object kind")? {
            1 => Ok(ObjectRef::Principal(r.parsed("object", PrincipalId::parse)?)),
            2 => Ok(ObjectRef::Key(r.parsed("object", KeyId::parse)?)),
            3 => Ok(ObjectRef::Marker(r.parsed("object", Marker::parse)?)),
            k => Err(EntryError::BadField { field: "object", detail: format!("unknown object kind {k}") }),
        })?;
        let peer = r.opt("peer", |r| {
            let ip = match r.u8("peer family")? {
                4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>("peer")?)),
                6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>("peer")?)),
                f => {
                    return Err(EntryError::BadField {
                        field: "peer",
                        detail: format!("unknown address family {f} (expected 4 or 6)"),
                    });
                }
            };
            let port = u16::from_be_bytes(r.array("peer")?);
            Ok(Peer { ip, port })
        })?;
        if !r.rest.is_empty() {
            return Err(EntryError::TrailingBytes(r.rest.len()));
        }
        Ok(LogEntry {
            index,
            at_us,
            request_id,
            actor_principal,
            actor_user,
            cert_fingerprint,
            action,
            reason,
            case_id,
            consent_id,
            envelope_id,
            object,
            peer,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Every string field is a parsed value of at most 64 bytes (see the field types): the
    // length always fits the u16 prefix.
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt<T>(out: &mut Vec<u8>, v: Option<&T>, put: impl FnOnce(&mut Vec<u8>, &T)) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put(out, v);
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], EntryError> {
        if self.rest.len() < n {
            return Err(EntryError::Truncated(field));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, EntryError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EntryError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    fn str(&mut self, field: &'static str) -> Result<&'a str, EntryError> {
        let len = usize::from(u16::from_be_bytes(self.array(field)?));
        if len > MAX_ID_LEN {
            return Err(EntryError::BadLength { field, len });
        }
        let bytes = self.take(len, field)?;
        core::str::from_utf8(bytes).map_err(|_| EntryError::BadField { field, detail: "not UTF-8".into() })
    }

    fn parsed<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&str) -> Result<T, IdError>,
    ) -> Result<T, EntryError> {
        let s = self.str(field)?;
        parse(s).map_err(|e| EntryError::BadField { field, detail: e.expected.to_owned() })
    }

    fn opt<T>(
        &mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, EntryError>,
    ) -> Result<Option<T>, EntryError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => read(self).map(Some),
            byte => Err(EntryError::BadPresence { field, byte }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> LogEntry {
        LogEntry {
            index: 7,
            at_us: 1_795_426_200_123_456,
            request_id: RequestId::parse("5f2c0a9d41e6b7c8d9e0f1a2").unwrap(),
            actor_principal: Some(PrincipalId::parse("SE2321000032").unwrap()),
            actor_user: Some(HsaId::parse("SE2321000032-abc1").unwrap()),
            cert_fingerprint: Some([0xab; 32]),
            action: Action::EnvelopeFetch,
            reason: Reason::Ok,
            case_id: Some(CaseId::from_random_bytes([1; 16])),
            consent_id: Some(ConsentId::from_random_bytes([2; 16])),
            envelope_id: Some(EnvelopeId::from_random_bytes([3; 16])),
            object: Some(ObjectRef::Key(KeyId::from_random_bytes([4; 16]))),
            peer: Some(Peer { ip: "2001:db8::7".parse().unwrap(), port: 443 }),
        }
    }

    fn minimal() -> LogEntry {
        LogEntry {
            index: 0,
            at_us: -1,
            request_id: RequestId::parse("a").unwrap(),
            actor_principal: None,
            actor_user: None,
            cert_fingerprint: None,
            action: Action::Authenticate,
            reason: Reason::NoClientCertificate,
            case_id: None,
            consent_id: None,
            envelope_id: None,
            object: None,
            peer: None,
        }
    }

    #[test]
    fn round_trips_every_shape() {
        let mut entries = vec![full(), minimal()];
        let mut e = full();
        e.object = Some(ObjectRef::Principal(PrincipalId::parse("SE2321000032").unwrap()));
        e.peer = Some(Peer { ip: "192.0.2.10".parse().unwrap(), port: 50123 });
        e.reason = Reason::NoConsent;
        entries.push(e);
        let mut e = minimal();
        e.object = Some(ObjectRef::Marker(Marker::parse("duplicate").unwrap()));
        e.index = u64::MAX;
        e.at_us = i64::MIN;
        entries.push(e);
        for e in entries {
            let bytes = e.encode();
            assert!(bytes.len() <= MAX_ENTRY_LEN);
            assert_eq!(LogEntry::decode(&bytes).unwrap(), e);
            assert_eq!(e.leaf_hash(), merkle::leaf_hash(&bytes));
        }
    }

    #[test]
    fn minimal_entry_layout_is_byte_exact() {
        let bytes = minimal().encode();
        let want = [
            "01",               // version
            "0000000000000000", // index
            "ffffffffffffffff", // at_us = -1
            "000161",           // request id "a"
            "00",
            "00",
            "00",   // principal, user, fingerprint absent
            "0001", // action authenticate
            "00",   // deny
            "0001", // reason no_client_certificate
            "00",
            "00",
            "00",
            "00",
            "00", // case, consent, envelope, object, peer absent
        ]
        .concat();
        assert_eq!(hex::encode(bytes), want);
    }

    #[test]
    fn index_changes_the_leaf_hash() {
        let a = full();
        let mut b = full();
        b.index += 1;
        assert_ne!(a.leaf_hash(), b.leaf_hash());
    }

    #[test]
    fn refuses_trailing_bytes_truncation_and_unknown_versions() {
        let good = full().encode();
        let mut long = good.clone();
        long.push(0);
        assert_eq!(LogEntry::decode(&long), Err(EntryError::TrailingBytes(1)));
        for cut in 0..good.len() {
            assert!(
                matches!(LogEntry::decode(&good[..cut]), Err(EntryError::Truncated(_))),
                "prefix of {cut} bytes"
            );
        }
        let mut v2 = good.clone();
        v2[0] = 2;
        assert_eq!(LogEntry::decode(&v2), Err(EntryError::UnknownVersion(2)));
        assert_eq!(
            LogEntry::decode(&vec![1; MAX_ENTRY_LEN + 1]),
            Err(EntryError::TooLong(MAX_ENTRY_LEN + 1))
        );
    }

    #[test]
    fn refuses_bad_lengths_presence_bytes_and_values() {
        let good = minimal().encode();
        // Request id length prefix at offset 17.
        let mut b = good.clone();
        b[17..19].copy_from_slice(&65u16.to_be_bytes());
        assert_eq!(LogEntry::decode(&b), Err(EntryError::BadLength { field: "request id", len: 65 }));
        let mut b = good.clone();
        b[17..19].copy_from_slice(&2u16.to_be_bytes());
        assert!(matches!(LogEntry::decode(&b), Err(EntryError::BadField { field: "request id", .. })));
        // Actor principal presence byte at offset 20.
        let mut b = good.clone();
        b[20] = 2;
        assert_eq!(LogEntry::decode(&b), Err(EntryError::BadPresence { field: "actor principal", byte: 2 }));
        // Decision byte at offset 25 contradicts the reason.
        let mut b = good.clone();
        b[25] = 1;
        assert_eq!(LogEntry::decode(&b), Err(EntryError::DecisionMismatch { decision: 1, reason: 1 }));
        // Unknown action and reason codes.
        let mut b = good.clone();
        b[23..25].copy_from_slice(&999u16.to_be_bytes());
        assert_eq!(LogEntry::decode(&b), Err(EntryError::UnknownAction(999)));
        let mut b = good.clone();
        b[26..28].copy_from_slice(&999u16.to_be_bytes());
        assert_eq!(LogEntry::decode(&b), Err(EntryError::UnknownReason(999)));
        // An identifier that does not parse (a personal identity number in the case field).
        let mut b = good[..28].to_vec();
        b.push(1);
        b.extend_from_slice(&12u16.to_be_bytes());
        b.extend_from_slice(b"199001011234");
        b.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(LogEntry::decode(&b), Err(EntryError::BadField { field: "case id", .. })));
        // Unknown object kind and address family.
        let mut b = good[..good.len() - 2].to_vec();
        b.extend_from_slice(&[1, 9, 0, 1, b'a', 0]);
        assert!(matches!(LogEntry::decode(&b), Err(EntryError::BadField { field: "object", .. })));
        let mut b = good[..good.len() - 1].to_vec();
        b.extend_from_slice(&[1, 5, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(LogEntry::decode(&b), Err(EntryError::BadField { field: "peer", .. })));
    }

    #[test]
    fn grammars_refuse_free_text() {
        assert!(RequestId::parse("tls-0123abcd").is_ok());
        for bad in ["", "has space", "ä", &"a".repeat(65)] {
            assert!(RequestId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Marker::parse("duplicate").is_ok());
        for bad in ["", "199001011234", "Upper", "a b", &"a".repeat(33)] {
            assert!(Marker::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn micros_round_down_and_back() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_426_200_123_456_789).unwrap();
        assert_eq!(micros_since_epoch(t), 1_795_426_200_123_456);
        let t = OffsetDateTime::from_unix_timestamp_nanos(-1).unwrap();
        assert_eq!(micros_since_epoch(t), -1);
        let mut e = minimal();
        e.at_us = 1_795_426_200_123_456;
        assert_eq!(e.at().map(micros_since_epoch), Some(e.at_us));
    }
}
