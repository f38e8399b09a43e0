//! Envelope format v1: sign, encrypt, sign the outside. Normative text: `docs/spec/envelope-v1.md`.
//!
//! ```text
//! envelope   = magic "SAMORDNA" | version 0x01
//!            | u32 header_len    | header     (JSON, the exact bytes the sender signed)
//!            | u32 signature_len | signature  (detached CMS SignedData over header)
//!            | ciphertext                     (header.ciphertext.length bytes, STREAM chunks)
//! plaintext  = u32 manifest_len | manifest (JSON) | document (manifest.document.length bytes)
//!            | document signature (detached CMS over the document; the rest of the plaintext)
//! ```
//!
//! All integers are big-endian. The header carries, per recipient, the content key sealed with
//! HPKE to that recipient's key, so the header signature covers every recipient stanza. The
//! manifest inside repeats the routing fields of the header; a header moved onto another case,
//! consent or recipient list no longer matches it.
//!
//! [`seal`] streams a document of known length into an envelope; [`open`] is the one entry point
//! that verifies everything and streams the document back.

mod open;
mod seal;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use open::{
    OpenError, Opening, RecipientSecret, SignedHeader, VerifiedEnvelope, open, open_to, read_signed_header,
};
pub use seal::{RecipientKey, SealError, SealParams, SealedHeader, prefix, seal, seal_to_parts};

use crate::{
    encoding::{b64_array, hex32, rfc3339},
    id::{CaseId, ConsentId, EnvelopeId, HsaId, KeyId, PrincipalId},
    kind::ContentKind,
};

/// The first eight bytes of every envelope.
pub const MAGIC: &[u8; 8] = b"SAMORDNA";
/// The format version this code reads and writes.
pub const VERSION: u8 = 1;
/// Largest header accepted (64 recipients take about 12 KiB).
pub const MAX_HEADER_LEN: usize = 256 * 1024;
/// Most recipients in one envelope.
pub const MAX_RECIPIENTS: usize = 64;
/// Largest manifest accepted.
pub const MAX_MANIFEST_LEN: usize = 64 * 1024;
/// HPKE `info` for sealing the content key (`docs/spec/envelope-v1.md` §6).
pub const HPKE_INFO: &[u8] = b"samordna envelope v1 content key";
/// HKDF `info` for the payload key.
pub const PAYLOAD_KEY_INFO: &[u8] = b"samordna envelope v1 payload";
/// Length of an HPKE-sealed content key: 32 bytes and a 16-byte tag.
pub const SEALED_KEY_LEN: usize = 48;

/// The `type` of a header, so that no other signed JSON can pass for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeaderType {
    /// The only value.
    #[serde(rename = "samordna-envelope-header")]
    EnvelopeHeader,
}

/// The `type` of a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManifestType {
    /// The only value.
    #[serde(rename = "samordna-envelope-manifest")]
    EnvelopeManifest,
}

/// Who sent an envelope: the principal and the person or system (HSA-id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// The sending principal.
    pub principal: PrincipalId,
    /// The sending person or system.
    pub user: HsaId,
}

/// One recipient key in the header, with the content key sealed to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stanza {
    /// The recipient principal.
    pub principal: PrincipalId,
    /// The recipient key.
    pub key_id: KeyId,
    /// HPKE encapsulated key (the ephemeral X25519 public key).
    #[serde(with = "b64_array")]
    pub enc: [u8; 32],
    /// HPKE ciphertext of the 32-byte content key.
    #[serde(with = "b64_array")]
    pub sealed_key: [u8; SEALED_KEY_LEN],
}

/// Length and digest of the ciphertext that follows the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiphertextInfo {
    /// Bytes of ciphertext.
    pub length: u64,
    /// SHA-256 of the ciphertext.
    #[serde(with = "hex32")]
    pub sha256: [u8; 32],
}

/// The outer header: everything the relay needs to route and check an envelope, and nothing about
/// the person. Signed by the sender; the relay checks that signature against the TLS client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always `samordna-envelope-header`.
    #[serde(rename = "type")]
    pub header_type: HeaderType,
    /// Format version; must equal the version byte.
    pub version: u8,
    /// Chosen by the sender.
    pub envelope_id: EnvelopeId,
    /// The SIP case.
    pub case_id: CaseId,
    /// The consent the sender relies on.
    pub consent_id: ConsentId,
    /// The sender.
    pub sender: Party,
    /// Recipient keys, each with the sealed content key.
    pub recipients: Vec<Stanza>,
    /// What kind of information this is.
    pub content_kind: ContentKind,
    /// When it was sealed (the sender's clock).
    #[serde(with = "rfc3339")]
    pub created: OffsetDateTime,
    /// The ciphertext that follows.
    pub ciphertext: CiphertextInfo,
}

impl Header {
    /// The recipient principals, in header order, without repeats.
    pub fn recipient_principals(&self) -> Vec<&PrincipalId> {
        let mut out: Vec<&PrincipalId> = Vec::new();
        for s in &self.recipients {
            if !out.contains(&&s.principal) {
                out.push(&s.principal);
            }
        }
        out
    }
}

/// A recipient as the manifest names it (no key material).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientRef {
    /// The recipient principal.
    pub principal: PrincipalId,
    /// The recipient key.
    pub key_id: KeyId,
}

/// What the document is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentInfo {
    /// Bytes of document.
    pub length: u64,
    /// Its media type, e.g. `application/json` for a SIP plan.
    pub media_type: String,
    /// A file name the sender gave it. Encrypted, so it may name the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// The encrypted manifest: repeats the header's routing fields and describes the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `samordna-envelope-manifest`.
    #[serde(rename = "type")]
    pub manifest_type: ManifestType,
    /// Format version, 1.
    pub version: u8,
    /// As in the header.
    pub envelope_id: EnvelopeId,
    /// As in the header.
    pub case_id: CaseId,
    /// As in the header.
    pub consent_id: ConsentId,
    /// As in the header.
    pub sender: Party,
    /// As in the header, without key material, in the same order.
    pub recipients: Vec<RecipientRef>,
    /// As in the header.
    pub content_kind: ContentKind,
    /// The document.
    pub document: DocumentInfo,
}

impl Manifest {
    /// The first header field this manifest disagrees with, if any.
    fn mismatch_with(&self, h: &Header) -> Option<&'static str> {
        let recipients: Vec<RecipientRef> = h
            .recipients
            .iter()
            .map(|s| RecipientRef { principal: s.principal.clone(), key_id: s.key_id.clone() })
            .collect();
        [
            (self.version != h.version, "version"),
            (self.envelope_id != h.envelope_id, "envelope_id"),
            (self.case_id != h.case_id, "case_id"),
            (self.consent_id != h.consent_id, "consent_id"),
            (self.sender != h.sender, "sender"),
            (self.recipients != recipients, "recipients"),
            (self.content_kind != h.content_kind, "content_kind"),
        ]
        .into_iter()
        .find_map(|(differs, field)| differs.then_some(field))
    }
}

/// The payload key: HKDF-SHA256 with the envelope id as salt, the content key as input keying
/// material, and [`PAYLOAD_KEY_INFO`] as info (`docs/spec/envelope-v1.md` §6).
fn payload_key(envelope_id: &EnvelopeId, content_key: &[u8; 32]) -> zeroize::Zeroizing<[u8; 32]> {
    struct Len32;
    impl ring::hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    let prk =
        ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, envelope_id.as_str().as_bytes()).extract(content_key);
    // 32 bytes is within HKDF-SHA256's output limit, so expansion cannot fail.
    let _ = prk.expand(&[PAYLOAD_KEY_INFO], Len32).and_then(|okm| okm.fill(out.as_mut()));
    out
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
