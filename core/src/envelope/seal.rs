//! Sealing: sign the document, encrypt it with a fresh content key, sign the header.

use std::io::{self, Read, Seek, SeekFrom, Write};

use ring::digest;
use time::OffsetDateTime;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{
    CiphertextInfo, DocumentInfo, HPKE_INFO, Header, HeaderType, MAGIC, MAX_RECIPIENTS, Manifest,
    ManifestType, Party, RecipientRef, SEALED_KEY_LEN, Stanza, VERSION, payload_key,
};
use crate::{
    attestation::AttestedKey,
    cert::Identity,
    hpke::{self, HpkeError},
    id::{CaseId, ConsentId, EnvelopeId, KeyId, PrincipalId},
    kind::ContentKind,
    signature::{SignError, Signer, sha256},
    stream::StreamEncryptor,
};

/// A key to seal to. Make it from an [`AttestedKey`], never from an unverified directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientKey {
    /// The principal the key belongs to.
    pub principal: PrincipalId,
    /// The key's id.
    pub key_id: KeyId,
    /// The X25519 public key.
    pub public_key: [u8; 32],
}

impl From<&AttestedKey> for RecipientKey {
    fn from(k: &AttestedKey) -> Self {
        RecipientKey {
            principal: k.statement.principal.clone(),
            key_id: k.statement.key_id.clone(),
            public_key: k.statement.public_key,
        }
    }
}

/// What to seal, to whom, under which case and consent.
#[derive(Clone, Debug)]
pub struct SealParams {
    /// Chosen by the sender (random); a retried upload uses the same.
    pub envelope_id: EnvelopeId,
    /// The SIP case.
    pub case_id: CaseId,
    /// The consent relied on.
    pub consent_id: ConsentId,
    /// What kind of information it is.
    pub content_kind: ContentKind,
    /// Recipient keys, in the order they appear in the header.
    pub recipients: Vec<RecipientKey>,
    /// The document's media type.
    pub media_type: String,
    /// The document's file name, if any (encrypted).
    pub file_name: Option<String>,
    /// The sealing time: header `created` and both signing times. Kept to whole seconds.
    pub created: OffsetDateTime,
}

/// Why an envelope could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// No recipient was given.
    #[error("an envelope needs at least one recipient")]
    NoRecipients,
    /// More recipients than the format allows.
    #[error("an envelope can have at most {MAX_RECIPIENTS} recipient keys")]
    TooManyRecipients,
    /// The same key twice.
    #[error("recipient key {0} is listed twice")]
    DuplicateRecipient(KeyId),
    /// A recipient key that would make the shared secret predictable.
    #[error("the key {0} of a recipient is not usable")]
    WeakRecipientKey(KeyId),
    /// The media type or file name is not acceptable.
    #[error("{0}")]
    BadDocumentInfo(&'static str),
    /// The document was longer or shorter than announced (it changed while being read?).
    #[error("the document was announced as {expected} bytes but {actual} were read")]
    DocumentLength {
        /// What the caller announced.
        expected: u64,
        /// What was read (at least; reading stops one byte past the announced length).
        actual: u64,
    },
    /// The random source failed.
    #[error("the system's random source failed")]
    Random,
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// Reading the document or writing the output failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A sealed envelope's header and its signature; the ciphertext went to the caller's writer.
#[derive(Clone, Debug)]
pub struct SealedHeader {
    /// The header.
    pub header: Header,
    /// The exact bytes signed.
    pub header_bytes: Vec<u8>,
    /// Detached CMS signature over `header_bytes`.
    pub signature: Vec<u8>,
}

impl SealedHeader {
    /// Everything before the ciphertext: magic, version, header and signature blocks.
    pub fn prefix(&self) -> Vec<u8> {
        prefix(&self.header_bytes, &self.signature)
    }

    /// SHA-256 of the header bytes: what delivery receipts sign.
    pub fn header_sha256(&self) -> [u8; 32] {
        sha256(&self.header_bytes)
    }

    /// Total envelope length: prefix and ciphertext.
    pub fn envelope_len(&self) -> u64 {
        (17 + self.header_bytes.len() + self.signature.len()) as u64 + self.header.ciphertext.length
    }
}

/// The bytes before the ciphertext: magic, version, and the header and signature blocks
/// (`docs/spec/envelope-v1.md` §7).
pub fn prefix(header_bytes: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + header_bytes.len() + signature.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    // Both lengths are bounded far below u32::MAX: the header by MAX_HEADER_LEN (at most 64
    // stanzas), the signature by MAX_SIGNATURE_LEN.
    out.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(header_bytes);
    out.extend_from_slice(&(signature.len() as u32).to_be_bytes());
    out.extend_from_slice(signature);
    out
}

/// Makes the two signatures of an envelope. A trait so that the published test vectors can be
/// regenerated with their recorded signatures (ring's ECDSA is randomised).
pub(crate) trait EnvelopeSigner {
    fn identity(&self) -> &Identity;
    fn sign_sha256_digest(
        &self,
        digest: &[u8; 32],
        signing_time: OffsetDateTime,
    ) -> Result<Vec<u8>, SignError>;
}

impl EnvelopeSigner for Signer {
    fn identity(&self) -> &Identity {
        Signer::identity(self)
    }
    fn sign_sha256_digest(
        &self,
        digest: &[u8; 32],
        signing_time: OffsetDateTime,
    ) -> Result<Vec<u8>, SignError> {
        Signer::sign_sha256_digest(self, digest, signing_time)
    }
}

/// Where sealing draws its randomness: the system's, except when tests regenerate the vectors.
pub(crate) trait Randomness {
    fn fill(&self, dest: &mut [u8]) -> Result<(), SealError>;
}

impl Randomness for ring::rand::SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), SealError> {
        ring::rand::SecureRandom::fill(self, dest).map_err(|_| SealError::Random)
    }
}

/// Seals `document` (exactly `document_len` bytes) into a complete envelope written to `out`.
///
/// The header signs the ciphertext's digest, so the ciphertext is written to `spool` first
/// (a temporary file for large documents) and copied after the header. Memory use does not grow
/// with the document.
pub fn seal<R: Read, S: Read + Write + Seek, W: Write>(
    params: &SealParams,
    signer: &Signer,
    document: R,
    document_len: u64,
    mut spool: S,
    mut out: W,
) -> Result<SealedHeader, SealError> {
    spool.seek(SeekFrom::Start(0))?;
    let sealed = seal_to_parts(params, signer, document, document_len, &mut spool)?;
    out.write_all(&sealed.prefix())?;
    spool.seek(SeekFrom::Start(0))?;
    let copied = io::copy(&mut (&mut spool).take(sealed.header.ciphertext.length), &mut out)?;
    if copied != sealed.header.ciphertext.length {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the spool lost ciphertext").into());
    }
    out.flush()?;
    Ok(sealed)
}

/// Seals `document` and writes only the ciphertext to `ciphertext_out`; the caller sends
/// [`SealedHeader::prefix`] and then the ciphertext (how the client uploads without a second copy).
pub fn seal_to_parts<R: Read, W: Write>(
    params: &SealParams,
    signer: &Signer,
    document: R,
    document_len: u64,
    ciphertext_out: W,
) -> Result<SealedHeader, SealError> {
    seal_with(params, signer, &ring::rand::SystemRandom::new(), document, document_len, ciphertext_out)
}

pub(crate) fn seal_with<R: Read, W: Write>(
    params: &SealParams,
    signer: &dyn EnvelopeSigner,
    rng: &dyn Randomness,
    mut document: R,
    document_len: u64,
    ciphertext_out: W,
) -> Result<SealedHeader, SealError> {
    check_params(params)?;
    let created = params.created.replace_nanosecond(0).unwrap_or(params.created);
    let identity = signer.identity();
    let sender = Party { principal: identity.principal.clone(), user: identity.hsa_id.clone() };

    // Randomness is drawn in a fixed order (content key, then one ephemeral key per recipient),
    // which the test vectors rely on.
    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill(content_key.as_mut())?;
    let mut recipients = Vec::with_capacity(params.recipients.len());
    for r in &params.recipients {
        let mut eph = Zeroizing::new([0u8; 32]);
        rng.fill(eph.as_mut())?;
        let (enc, ct) = hpke::seal(
            &PublicKey::from(r.public_key),
            HPKE_INFO,
            params.envelope_id.as_str().as_bytes(),
            content_key.as_ref(),
            &StaticSecret::from(*eph),
        )
        .map_err(|e| match e {
            HpkeError::NonContributory => SealError::WeakRecipientKey(r.key_id.clone()),
            _ => SealError::Random,
        })?;
        let sealed_key: [u8; SEALED_KEY_LEN] = ct.try_into().map_err(|_| SealError::Random)?;
        recipients.push(Stanza { principal: r.principal.clone(), key_id: r.key_id.clone(), enc, sealed_key });
    }

    let manifest = Manifest {
        manifest_type: ManifestType::EnvelopeManifest,
        version: VERSION,
        envelope_id: params.envelope_id.clone(),
        case_id: params.case_id.clone(),
        consent_id: params.consent_id.clone(),
        sender: sender.clone(),
        recipients: params
            .recipients
            .iter()
            .map(|r| RecipientRef { principal: r.principal.clone(), key_id: r.key_id.clone() })
            .collect(),
        content_kind: params.content_kind,
        document: DocumentInfo {
            length: document_len,
            media_type: params.media_type.clone(),
            file_name: params.file_name.clone(),
        },
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;

    let key = payload_key(&params.envelope_id, &content_key);
    let mut enc = StreamEncryptor::new(&key, HashingWriter::new(ciphertext_out));
    enc.write_all(&(manifest_bytes.len() as u32).to_be_bytes())?;
    enc.write_all(&manifest_bytes)?;

    let mut doc_digest = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; crate::stream::CHUNK_SIZE];
    let mut read_total = 0u64;
    while read_total < document_len {
        let want = (document_len - read_total).min(buf.len() as u64) as usize;
        let n = match document.read(&mut buf[..want]) {
            Ok(0) => return Err(SealError::DocumentLength { expected: document_len, actual: read_total }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        doc_digest.update(&buf[..n]);
        enc.write_all(&buf[..n])?;
        read_total += n as u64;
    }
    if document.read(&mut buf[..1])? != 0 {
        return Err(SealError::DocumentLength { expected: document_len, actual: document_len + 1 });
    }
    let doc_sha256: [u8; 32] =
        doc_digest.finish().as_ref().try_into().map_err(|_| io::Error::other("SHA-256 is 32 bytes"))?;
    let document_signature = signer.sign_sha256_digest(&doc_sha256, created)?;
    enc.write_all(&document_signature)?;
    let (hashing, length) = enc.finish()?;

    let header = Header {
        header_type: HeaderType::EnvelopeHeader,
        version: VERSION,
        envelope_id: params.envelope_id.clone(),
        case_id: params.case_id.clone(),
        consent_id: params.consent_id.clone(),
        sender,
        recipients,
        content_kind: params.content_kind,
        created,
        ciphertext: CiphertextInfo { length, sha256: hashing.finish() },
    };
    let header_bytes = serde_json::to_vec(&header).map_err(io::Error::other)?;
    let signature = signer.sign_sha256_digest(&sha256(&header_bytes), created)?;
    Ok(SealedHeader { header, header_bytes, signature })
}

fn check_params(p: &SealParams) -> Result<(), SealError> {
    if p.recipients.is_empty() {
        return Err(SealError::NoRecipients);
    }
    if p.recipients.len() > MAX_RECIPIENTS {
        return Err(SealError::TooManyRecipients);
    }
    for (i, r) in p.recipients.iter().enumerate() {
        if p.recipients[..i].iter().any(|o| o.key_id == r.key_id) {
            return Err(SealError::DuplicateRecipient(r.key_id.clone()));
        }
    }
    let clean = |s: &str| !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control);
    if !clean(&p.media_type) || !p.media_type.contains('/') {
        return Err(SealError::BadDocumentInfo("the media type must look like type/subtype"));
    }
    if p.file_name.as_deref().is_some_and(|f| !clean(f)) {
        return Err(SealError::BadDocumentInfo(
            "the file name must be 1 to 255 bytes without control characters",
        ));
    }
    Ok(())
}

/// Passes bytes through while computing their SHA-256 and count.
struct HashingWriter<W: Write> {
    inner: W,
    digest: digest::Context,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter { inner, digest: digest::Context::new(&digest::SHA256) }
    }

    fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.digest.finish().as_ref());
        out
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.digest.update(&data[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
