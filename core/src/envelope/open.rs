//! Opening: the one entry point that verifies everything (`docs/spec/envelope-v1.md` §8).
//!
//! Order of checks, each with its own error:
//! 1. magic and version byte; header and signature lengths; the header signature (digest, value,
//!    signer's chain to the root, at the time given); the header's `version` and `type`; the sender
//!    named in the header is the signer.
//! 2. a stanza for one of our keys; HPKE opens it.
//! 3. each chunk authenticates (counter and last flag), the manifest matches the header.
//! 4. after the document: the ciphertext ends where the header says and its digest matches, nothing
//!    follows, the document signature verifies and is by a person or system of the sending principal.
//!
//! The document is streamed before step 4 completes: a reader must not act on it until
//! [`Opening::finish`] (or [`open_to`]) returns `Ok`. The client writes to a temporary file and
//! renames it only then.

use core::fmt;
use std::io::{self, Read, Write};

use time::OffsetDateTime;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{
    HPKE_INFO, Header, HeaderType, MAGIC, MAX_HEADER_LEN, MAX_MANIFEST_LEN, MAX_RECIPIENTS, Manifest, Party,
    VERSION, payload_key,
};
use crate::{
    cert::{Identity, TrustStore},
    hpke::{self, HpkeError},
    id::{KeyId, PrincipalId},
    signature::{
        MAX_SIGNATURE_LEN, SignatureError, VerifiedSignature, sha256, verify_detached, verify_detached_sha256,
    },
    stream::{StreamDecryptor, StreamError},
};

/// Why an envelope was refused. Each failure a test can provoke has its own variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The input does not start with the envelope magic.
    #[error("this is not a Samordna envelope")]
    NotAnEnvelope,
    /// The version byte names a format this software does not read.
    #[error("envelope format version {0} is not supported by this version of Samordna; upgrade the client")]
    UnsupportedVersion(u8),
    /// The input ended inside a section.
    #[error("the envelope is truncated (it ends inside the {section})")]
    Truncated {
        /// Which section.
        section: &'static str,
    },
    /// A length or field is out of range, or a JSON section does not parse.
    #[error("the envelope is malformed: {0}")]
    Malformed(String),
    /// The header signature does not verify: the header (or a recipient stanza in it) was changed,
    /// or the signer's certificate is not acceptable.
    #[error("the envelope header's signature is not valid: {0}")]
    HeaderSignature(SignatureError),
    /// The signed header's version or type disagrees with the version byte.
    #[error("the envelope header's version does not match its format version")]
    VersionMismatch,
    /// The header names another sender than the certificate that signed it.
    #[error("the header says it was sent by {claimed:?} but it was signed by {signer:?}")]
    SenderMismatch {
        /// The sender the header names.
        claimed: Box<Party>,
        /// Who signed it.
        signer: Box<Identity>,
    },
    /// None of our keys is among the recipients.
    #[error("this envelope is not addressed to any of our keys")]
    NotARecipient,
    /// The content key sealed to our key does not open.
    #[error("the content key sealed to our key {key_id} does not open: {source}")]
    KeyUnwrap {
        /// Our key.
        key_id: KeyId,
        /// HPKE's reason.
        source: HpkeError,
    },
    /// A chunk failed authentication: changed, reordered, duplicated or dropped.
    #[error(
        "chunk {index} of the ciphertext failed authentication (changed, reordered, duplicated or dropped)"
    )]
    ChunkAuthentication {
        /// Zero-based chunk index.
        index: u64,
    },
    /// Bytes follow the end of the ciphertext.
    #[error("bytes follow the end of the envelope")]
    TrailingData,
    /// The ciphertext's digest differs from the one the sender signed.
    #[error("the ciphertext does not match the digest in the signed header")]
    CiphertextDigest,
    /// The encrypted manifest disagrees with the header: the header was moved onto other content.
    #[error("the signed header does not match the encrypted manifest ({field} differs)")]
    ManifestMismatch {
        /// The first field that differs.
        field: &'static str,
    },
    /// The document's own signature does not verify.
    #[error("the document's signature is not valid: {0}")]
    DocumentSignature(SignatureError),
    /// The document was signed by someone of another principal than the sender.
    #[error("the document was signed by {author:?}, who is not at the sending principal {sender}")]
    AuthorMismatch {
        /// The sending principal.
        sender: PrincipalId,
        /// The document's signer.
        author: Box<Identity>,
    },
    /// Reading failed.
    #[error(transparent)]
    Io(io::Error),
}

impl From<StreamError> for OpenError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::ChunkAuthentication { index } => OpenError::ChunkAuthentication { index },
            StreamError::Truncated => OpenError::Truncated { section: "ciphertext" },
            StreamError::ImpossibleLength(n) => {
                OpenError::Malformed(format!("ciphertext length {n} is impossible"))
            }
            StreamError::Io(e) => OpenError::Io(e),
        }
    }
}

/// One of our private keys.
pub struct RecipientSecret {
    key_id: KeyId,
    secret: StaticSecret,
}

impl fmt::Debug for RecipientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientSecret").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl RecipientSecret {
    /// From the 32 secret bytes; the key id is derived from the public key.
    pub fn from_bytes(secret: [u8; 32]) -> Self {
        let secret = StaticSecret::from(secret);
        let key_id = KeyId::for_x25519_public_key(PublicKey::from(&secret).as_bytes());
        RecipientSecret { key_id, secret }
    }

    /// The key's id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        PublicKey::from(&self.secret).to_bytes()
    }
}

/// A header whose signature verified and whose sender is its signer.
#[derive(Clone, Debug)]
pub struct SignedHeader {
    /// The parsed header.
    pub header: Header,
    /// The exact signed bytes.
    pub header_bytes: Vec<u8>,
    /// The CMS signature.
    pub signature: Vec<u8>,
    /// The verified signer.
    pub signer: VerifiedSignature,
}

impl SignedHeader {
    /// SHA-256 of the header bytes: what delivery receipts sign.
    pub fn header_sha256(&self) -> [u8; 32] {
        sha256(&self.header_bytes)
    }
}

/// Everything [`open`] verified, available once the document has been read to its end.
#[derive(Clone, Debug)]
pub struct VerifiedEnvelope {
    /// The signed header.
    pub header: SignedHeader,
    /// The manifest.
    pub manifest: Manifest,
    /// The document's author (the inner signature), chained to the root.
    pub author: VerifiedSignature,
    /// The detached CMS signature over the document, to archive as a `.p7s` next to it.
    pub document_signature: Vec<u8>,
}

fn read_section(input: &mut impl Read, buf: &mut [u8], section: &'static str) -> Result<(), OpenError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => OpenError::Truncated { section },
        _ => OpenError::Io(e),
    })
}

fn read_len(input: &mut impl Read, section: &'static str, max: usize) -> Result<usize, OpenError> {
    let mut b = [0u8; 4];
    read_section(input, &mut b, section)?;
    let n = u32::from_be_bytes(b) as usize;
    if n == 0 || n > max {
        return Err(OpenError::Malformed(format!("{section} length {n} is out of range (1 to {max})")));
    }
    Ok(n)
}

/// Reads and verifies everything before the ciphertext (what the relay checks on upload), leaving
/// `input` at the first ciphertext byte.
pub fn read_signed_header<R: Read>(
    input: &mut R,
    trust: &TrustStore,
    at: OffsetDateTime,
) -> Result<SignedHeader, OpenError> {
    let mut magic = [0u8; 8];
    match input.read_exact(&mut magic) {
        Ok(()) if &magic == MAGIC => {}
        Ok(()) => return Err(OpenError::NotAnEnvelope),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(OpenError::NotAnEnvelope),
        Err(e) => return Err(OpenError::Io(e)),
    }
    let mut version = [0u8; 1];
    read_section(input, &mut version, "preamble")?;
    if version[0] != VERSION {
        return Err(OpenError::UnsupportedVersion(version[0]));
    }
    let mut header_bytes = vec![0u8; read_len(input, "header", MAX_HEADER_LEN)?];
    read_section(input, &mut header_bytes, "header")?;
    let mut signature = vec![0u8; read_len(input, "header signature", MAX_SIGNATURE_LEN)?];
    read_section(input, &mut signature, "header signature")?;

    // The signature is checked over the raw bytes before the JSON is interpreted at all.
    let signer = verify_detached(&signature, &header_bytes, trust, at).map_err(OpenError::HeaderSignature)?;
    let header: Header =
        serde_json::from_slice(&header_bytes).map_err(|e| OpenError::Malformed(format!("header: {e}")))?;
    if header.version != VERSION || header.header_type != HeaderType::EnvelopeHeader {
        return Err(OpenError::VersionMismatch);
    }
    let id = &signer.signer.identity;
    if id.principal != header.sender.principal || id.hsa_id != header.sender.user {
        return Err(OpenError::SenderMismatch {
            claimed: Box::new(header.sender.clone()),
            signer: Box::new(id.clone()),
        });
    }
    if header.recipients.is_empty() || header.recipients.len() > MAX_RECIPIENTS {
        return Err(OpenError::Malformed(format!("1 to {MAX_RECIPIENTS} recipients are required")));
    }
    for (i, s) in header.recipients.iter().enumerate() {
        if header.recipients[..i].iter().any(|o| o.key_id == s.key_id) {
            return Err(OpenError::Malformed(format!("recipient key {} is listed twice", s.key_id)));
        }
    }
    Ok(SignedHeader { header, header_bytes, signature, signer })
}

/// An envelope being opened: header, sender and manifest are verified; the document is read through
/// [`Read`]; [`Opening::finish`] completes the verification.
pub struct Opening<'t, R: Read> {
    header: SignedHeader,
    manifest: Manifest,
    dec: StreamDecryptor<R>,
    /// Read position inside `dec.current()`.
    pos: usize,
    doc_remaining: u64,
    doc_digest: ring::digest::Context,
    trust: &'t TrustStore,
    at: OffsetDateTime,
    outcome: Option<Result<VerifiedEnvelope, OpenError>>,
    /// Set when reading failed: the stream position is no longer meaningful.
    poisoned: bool,
}

impl<R: Read> fmt::Debug for Opening<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opening")
            .field("envelope_id", &self.header.header.envelope_id)
            .field("doc_remaining", &self.doc_remaining)
            .finish_non_exhaustive()
    }
}

/// Opens an envelope addressed to one of `keys`, verifying signatures and chains against `trust`
/// at time `at`. Returns once the header, our stanza and the manifest have verified; read the
/// document from the returned [`Opening`], then call [`Opening::finish`].
pub fn open<'t, R: Read>(
    mut input: R,
    keys: &[RecipientSecret],
    trust: &'t TrustStore,
    at: OffsetDateTime,
) -> Result<Opening<'t, R>, OpenError> {
    let header = read_signed_header(&mut input, trust, at)?;
    let h = &header.header;
    let (stanza, key) = h
        .recipients
        .iter()
        .find_map(|s| keys.iter().find(|k| k.key_id == s.key_id).map(|k| (s, k)))
        .ok_or(OpenError::NotARecipient)?;
    let content_key = hpke::open(
        &stanza.enc,
        &key.secret,
        HPKE_INFO,
        h.envelope_id.as_str().as_bytes(),
        &stanza.sealed_key,
    )
    .map_err(|source| OpenError::KeyUnwrap { key_id: key.key_id.clone(), source })?;
    let content_key: Zeroizing<[u8; 32]> = Zeroizing::new(
        content_key
            .as_slice()
            .try_into()
            .map_err(|_| OpenError::Malformed("content key is not 32 bytes".into()))?,
    );
    // The plaintext holds at least a manifest length, so the last chunk has at least one byte.
    if h.ciphertext.length <= crate::stream::TAG_LEN as u64 {
        return Err(OpenError::Malformed(format!("ciphertext length {} is too short", h.ciphertext.length)));
    }
    let dec = StreamDecryptor::new(&payload_key(&h.envelope_id, &content_key), h.ciphertext.length, input)?
        .hashing_ciphertext();

    let mut opening = Opening {
        manifest: placeholder_manifest(h),
        header,
        dec,
        pos: 0,
        doc_remaining: 0,
        doc_digest: ring::digest::Context::new(&ring::digest::SHA256),
        trust,
        at,
        outcome: None,
        poisoned: false,
    };
    let mut len = [0u8; 4];
    opening.read_plain_exact(&mut len, "manifest")?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_MANIFEST_LEN {
        return Err(OpenError::Malformed(format!("manifest length {len} is out of range")));
    }
    let mut manifest_bytes = vec![0u8; len];
    opening.read_plain_exact(&mut manifest_bytes, "manifest")?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| OpenError::Malformed(format!("manifest: {e}")))?;
    if let Some(field) = manifest.mismatch_with(&opening.header.header) {
        return Err(OpenError::ManifestMismatch { field });
    }
    opening.doc_remaining = manifest.document.length;
    opening.manifest = manifest;
    Ok(opening)
}

/// Opens an envelope and writes the document to `out`; returns only when everything verified.
/// On error, whatever was written to `out` must be discarded.
pub fn open_to<R: Read, W: Write>(
    input: R,
    keys: &[RecipientSecret],
    trust: &TrustStore,
    at: OffsetDateTime,
    mut out: W,
) -> Result<VerifiedEnvelope, OpenError> {
    let mut opening = open(input, keys, trust, at)?;
    let mut buf = vec![0u8; crate::stream::CHUNK_SIZE];
    loop {
        let n = opening.read_document(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(OpenError::Io)?;
    }
    out.flush().map_err(OpenError::Io)?;
    opening.finish()
}

fn placeholder_manifest(h: &Header) -> Manifest {
    Manifest {
        manifest_type: super::ManifestType::EnvelopeManifest,
        version: VERSION,
        envelope_id: h.envelope_id.clone(),
        case_id: h.case_id.clone(),
        consent_id: h.consent_id.clone(),
        sender: h.sender.clone(),
        recipients: Vec::new(),
        content_kind: h.content_kind,
        document: super::DocumentInfo { length: 0, media_type: String::new(), file_name: None },
    }
}

impl<R: Read> Opening<'_, R> {
    /// The verified header.
    pub fn header(&self) -> &SignedHeader {
        &self.header
    }

    /// The manifest (verified against the header).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Plaintext bytes into `out`, crossing chunks; 0 at the end of the plaintext.
    fn read_plain(&mut self, out: &mut [u8]) -> Result<usize, OpenError> {
        while self.pos == self.dec.current().len() {
            if !self.dec.advance()? {
                return Ok(0);
            }
            self.pos = 0;
        }
        let chunk = &self.dec.current()[self.pos..];
        let n = chunk.len().min(out.len());
        out[..n].copy_from_slice(&chunk[..n]);
        self.pos += n;
        Ok(n)
    }

    fn read_plain_exact(&mut self, mut out: &mut [u8], section: &'static str) -> Result<(), OpenError> {
        while !out.is_empty() {
            let n = self.read_plain(out)?;
            if n == 0 {
                return Err(OpenError::Malformed(format!("the plaintext ends inside the {section}")));
            }
            out = &mut out[n..];
        }
        Ok(())
    }

    /// Reads document bytes; 0 at the end of the document, after which [`Opening::finish`] checks the rest.
    pub fn read_document(&mut self, out: &mut [u8]) -> Result<usize, OpenError> {
        if self.poisoned {
            return Err(OpenError::Malformed("reading this envelope already failed".into()));
        }
        if self.doc_remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        let want = out.len().min(usize::try_from(self.doc_remaining).unwrap_or(usize::MAX));
        let n = self.read_plain(&mut out[..want]).inspect_err(|_| self.poisoned = true)?;
        if n == 0 {
            return Err(OpenError::Malformed("the plaintext ends inside the document".into()));
        }
        self.doc_digest.update(&out[..n]);
        self.doc_remaining -= n as u64;
        Ok(n)
    }

    /// Completes verification (reading and discarding any document bytes not yet read) and returns
    /// what was verified.
    pub fn finish(mut self) -> Result<VerifiedEnvelope, OpenError> {
        match self.outcome.take() {
            Some(outcome) => outcome,
            None => self.verify_rest(),
        }
    }

    fn verify_rest(&mut self) -> Result<VerifiedEnvelope, OpenError> {
        let mut sink = vec![0u8; crate::stream::CHUNK_SIZE];
        while self.read_document(&mut sink)? > 0 {}

        // The rest of the plaintext is the document signature.
        let mut document_signature = Vec::new();
        loop {
            let n = self.read_plain(&mut sink)?;
            if n == 0 {
                break;
            }
            if document_signature.len() + n > MAX_SIGNATURE_LEN {
                return Err(OpenError::Malformed("the document signature is longer than 64 KiB".into()));
            }
            document_signature.extend_from_slice(&sink[..n]);
        }
        let mut extra = [0u8; 1];
        loop {
            match self.dec.input_mut().read(&mut extra) {
                Ok(0) => break,
                Ok(_) => return Err(OpenError::TrailingData),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(OpenError::Io(e)),
            }
        }
        if self.dec.ciphertext_sha256() != Some(self.header.header.ciphertext.sha256) {
            return Err(OpenError::CiphertextDigest);
        }
        if document_signature.is_empty() {
            return Err(OpenError::Malformed("the document signature is missing".into()));
        }
        let mut doc_sha256 = [0u8; 32];
        doc_sha256.copy_from_slice(self.doc_digest.clone().finish().as_ref());
        let author = verify_detached_sha256(&document_signature, &doc_sha256, self.trust, self.at)
            .map_err(OpenError::DocumentSignature)?;
        let sender = &self.header.header.sender.principal;
        if author.signer.identity.principal != *sender {
            return Err(OpenError::AuthorMismatch {
                sender: sender.clone(),
                author: Box::new(author.signer.identity),
            });
        }
        Ok(VerifiedEnvelope {
            header: self.header.clone(),
            manifest: self.manifest.clone(),
            author,
            document_signature,
        })
    }
}

impl<R: Read> Read for Opening<'_, R> {
    /// Yields the document. At its end, the rest of the envelope is verified: a failure is returned
    /// as an `InvalidData` error here, and as the typed [`OpenError`] from [`Opening::finish`].
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(Err(e)) = &self.outcome {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
        }
        match self.read_document(out) {
            Ok(0) if !out.is_empty() && self.outcome.is_none() => {
                let outcome = self.verify_rest();
                let failed =
                    outcome.as_ref().err().map(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                self.outcome = Some(outcome);
                failed.map_or(Ok(0), Err)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                let io_err = io::Error::new(io::ErrorKind::InvalidData, e.to_string());
                self.outcome = Some(Err(e));
                Err(io_err)
            }
        }
    }
}
