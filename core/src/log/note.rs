//! C2SP signed notes (<https://c2sp.org/signed-note>) and checkpoints
//! (<https://c2sp.org/tlog-checkpoint>): how the relay commits to a tree head
//! (`docs/spec/access-log-v1.md` §4).
//!
//! ```text
//! samordna.se/relay/prod-1                        origin
//! 3                                               tree size, decimal, no leading zeros
//! 0S8...Yk8=                                      root hash, standard padded base64
//!                                                 blank line
//! — samordna.se/relay/prod-1 VHu7...9Ag==        em dash, space, key name, space,
//!                                                 base64(4-byte key id || Ed25519 signature)
//! ```
//!
//! Key id = the first four bytes of `SHA-256(key name || 0x0A || signature type || public key)`,
//! big-endian. Signature types: `0x01` Ed25519 over the note text, `0x04` timestamped Ed25519
//! cosignatures (`super::cosign`). A verifier key is written `<name>+<8 hex digits of the key
//! id>+<base64(type || public key)>`, as Go's `golang.org/x/mod/sumdb/note` does.
//!
//! [`open_checkpoint`] is the one entry point that verifies everything: parse, origin, the log's
//! signature, and which known cosigners also signed. Unknown signatures are ignored, as the
//! signed-note spec requires; a known key whose signature fails rejects the whole note.

use core::fmt;
use core::str::FromStr;

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{
    digest,
    rand::SecureRandom,
    signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey},
};
use zeroize::Zeroizing;

use super::cosign;
use super::merkle::Hash;

/// Signature type byte of plain Ed25519 note signatures (the log's own signature).
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature).
pub const TYPE_COSIGNATURE_V1: u8 = 0x04;
/// Largest note accepted (the spec asks for at least 16 signatures; this holds far more).
pub const MAX_NOTE_LEN: usize = 1 << 20;
/// Most signature lines accepted in one note (Go's limit).
pub const MAX_SIGNATURES: usize = 100;
/// The origin of a Samordna relay's log is this prefix and the relay instance's name.
pub const ORIGIN_PREFIX: &str = "samordna.se/relay/";

/// U+2014 EM DASH and a space: how every signature line starts.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The kind of a verifier key: which signature type it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// `0x01`: Ed25519 over the note text. The relay signs checkpoints with this.
    Ed25519,
    /// `0x04`: timestamped Ed25519 cosignature (`cosignature/v1`). Witnesses sign with this.
    CosignatureV1,
}

impl KeyType {
    /// The signature type byte.
    pub fn byte(self) -> u8 {
        match self {
            KeyType::Ed25519 => TYPE_ED25519,
            KeyType::CosignatureV1 => TYPE_COSIGNATURE_V1,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            TYPE_ED25519 => Some(KeyType::Ed25519),
            TYPE_COSIGNATURE_V1 => Some(KeyType::CosignatureV1),
            _ => None,
        }
    }
}

/// Why a key could not be loaded or made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The name is empty or has a space, a plus sign or a control character.
    #[error("the key name is empty or contains a space, a plus sign or a control character")]
    InvalidName,
    /// The key text is not in the expected form.
    #[error("the key is not of the form {0}")]
    Malformed(&'static str),
    /// A signature type Samordna does not use.
    #[error("unsupported signature type {0:#04x}; Samordna uses 0x01 (Ed25519) and 0x04 (cosignature/v1)")]
    UnsupportedType(u8),
    /// The key id in the text is not the one of this name and public key.
    #[error("the key id does not match the key name and public key")]
    KeyIdMismatch,
    /// ring refused the private key.
    #[error("the Ed25519 private key was rejected: {0}")]
    Rejected(String),
    /// The random source failed.
    #[error("the random source failed")]
    Random,
}

/// Why a note could not be made or opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// Not a signed note (structure, characters, size, base64).
    #[error("the note is malformed: {0}")]
    Malformed(&'static str),
    /// A known key's signature does not verify: the text was changed or the signature forged.
    #[error("the signature by {name} (key id {key_id:08x}) does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature by any of the given keys.
    #[error("the note carries no signature by a known key")]
    NoKnownSignature,
    /// Two of the given keys share name and key id: the key list is wrong.
    #[error("two verifier keys share the name {name} and key id {key_id:08x}")]
    AmbiguousKeys {
        /// The shared name.
        name: String,
        /// The shared key id.
        key_id: u32,
    },
}

/// Whether `name` may name a key: non-empty, without Unicode spaces, `+` or control characters.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// The key id: the first four bytes, big-endian, of `SHA-256(name || 0x0A || type || public key)`.
pub fn key_id(name: &str, key_type: KeyType, public_key: &[u8]) -> u32 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[key_type.byte()]);
    ctx.update(public_key);
    let d = ctx.finish();
    let b = d.as_ref();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The origin line (and key name) of a relay instance: `samordna.se/relay/<instance>`, where the
/// instance name is 1 to 63 of `a`–`z`, `0`–`9` and `-`, not starting or ending with `-`.
pub fn relay_origin(instance: &str) -> Result<String, KeyError> {
    let ok = (1..=63).contains(&instance.len())
        && instance.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !instance.starts_with('-')
        && !instance.ends_with('-');
    if ok { Ok(format!("{ORIGIN_PREFIX}{instance}")) } else { Err(KeyError::InvalidName) }
}

/// A public key that verifies note signatures, with its name and key id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    name: String,
    key_type: KeyType,
    public_key: [u8; 32],
    key_id: u32,
}

impl VerifierKey {
    /// A verifier key from its parts.
    pub fn new(name: &str, key_type: KeyType, public_key: [u8; 32]) -> Result<Self, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::InvalidName);
        }
        let key_id = key_id(name, key_type, &public_key);
        Ok(VerifierKey { name: name.to_owned(), key_type, public_key, key_id })
    }

    /// Parses `<name>+<8 hex digits key id>+<base64(type || 32-byte public key)>`.
    pub fn parse(vkey: &str) -> Result<Self, KeyError> {
        const FORM: &str = "<name>+<8 hex digits>+<base64 of the type byte and the public key>";
        let (name, rest) = vkey.split_once('+').ok_or(KeyError::Malformed(FORM))?;
        let (id_hex, key64) = rest.split_once('+').ok_or(KeyError::Malformed(FORM))?;
        if !is_valid_key_name(name) {
            return Err(KeyError::InvalidName);
        }
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::Malformed(FORM));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| KeyError::Malformed(FORM))?;
        let raw = STANDARD.decode(key64).map_err(|_| KeyError::Malformed(FORM))?;
        let (&type_byte, key) = raw.split_first().ok_or(KeyError::Malformed(FORM))?;
        let key_type = KeyType::from_byte(type_byte).ok_or(KeyError::UnsupportedType(type_byte))?;
        let public_key: [u8; 32] = key.try_into().map_err(|_| KeyError::Malformed(FORM))?;
        let v = Self::new(name, key_type, public_key)?;
        if v.key_id != id {
            return Err(KeyError::KeyIdMismatch);
        }
        Ok(v)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature type it verifies.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Checks `signature` (after the key id) over the note text. `Some(timestamp)` when it verifies
    /// (the timestamp of a cosignature, `None` for a plain signature); `None` when it does not.
    pub(crate) fn verify(&self, text: &str, signature: &[u8]) -> Option<Option<u64>> {
        let key = UnparsedPublicKey::new(&ED25519, &self.public_key);
        match self.key_type {
            KeyType::Ed25519 => key.verify(text.as_bytes(), signature).ok().map(|()| None),
            KeyType::CosignatureV1 => {
                let (timestamp, sig) = cosign::split_timestamped(signature)?;
                let msg = cosign::cosignature_message(text, timestamp);
                key.verify(&msg, sig).ok().map(|()| Some(timestamp))
            }
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.key_type.byte());
        raw.extend_from_slice(&self.public_key);
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::parse(s)
    }
}

/// A named Ed25519 private key (shared by [`NoteSigner`] and [`super::cosign::Cosigner`]).
pub(crate) struct NamedKey {
    pub(crate) name: String,
    pub(crate) pair: Ed25519KeyPair,
    pub(crate) key_type: KeyType,
    pub(crate) key_id: u32,
}

impl NamedKey {
    pub(crate) fn from_seed(name: &str, key_type: KeyType, seed: &[u8; 32]) -> Result<Self, KeyError> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(seed).map_err(|e| KeyError::Rejected(e.to_string()))?;
        Self::from_pair(name, key_type, pair)
    }

    pub(crate) fn from_pkcs8(name: &str, key_type: KeyType, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Self::from_pair(name, key_type, pair)
    }

    fn from_pair(name: &str, key_type: KeyType, pair: Ed25519KeyPair) -> Result<Self, KeyError> {
        if !is_valid_key_name(name) {
            return Err(KeyError::InvalidName);
        }
        let key_id = key_id(name, key_type, pair.public_key().as_ref());
        Ok(NamedKey { name: name.to_owned(), pair, key_type, key_id })
    }

    /// Parses Go's signer key form `PRIVATE+KEY+<name>+<key id>+<base64(type || seed)>`, accepting
    /// the types in `allowed`, and returns the key under `key_type`.
    pub(crate) fn from_signer_key(
        skey: &str,
        allowed: &[KeyType],
        key_type: KeyType,
    ) -> Result<Self, KeyError> {
        const FORM: &str = "PRIVATE+KEY+<name>+<8 hex digits>+<base64 of the type byte and the seed>";
        let rest = skey.strip_prefix("PRIVATE+KEY+").ok_or(KeyError::Malformed(FORM))?;
        let (name, rest) = rest.split_once('+').ok_or(KeyError::Malformed(FORM))?;
        let (id_hex, key64) = rest.split_once('+').ok_or(KeyError::Malformed(FORM))?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::Malformed(FORM));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| KeyError::Malformed(FORM))?;
        let raw = Zeroizing::new(STANDARD.decode(key64).map_err(|_| KeyError::Malformed(FORM))?);
        let (&type_byte, seed) = raw.split_first().ok_or(KeyError::Malformed(FORM))?;
        let written = KeyType::from_byte(type_byte).ok_or(KeyError::UnsupportedType(type_byte))?;
        if !allowed.contains(&written) {
            return Err(KeyError::UnsupportedType(type_byte));
        }
        let seed: &[u8; 32] = seed.try_into().map_err(|_| KeyError::Malformed(FORM))?;
        let key = Self::from_seed(name, written, seed)?;
        if key.key_id != id {
            return Err(KeyError::KeyIdMismatch);
        }
        Self::from_seed(name, key_type, seed)
    }

    /// A fresh key in Go's signer key form, and its verifier key.
    pub(crate) fn generate(
        name: &str,
        key_type: KeyType,
        rng: &dyn SecureRandom,
    ) -> Result<(Zeroizing<String>, VerifierKey), KeyError> {
        let mut raw = Zeroizing::new([0u8; 33]);
        raw[0] = key_type.byte();
        rng.fill(&mut raw[1..]).map_err(|_| KeyError::Random)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&raw[1..]);
        let key = Self::from_seed(name, key_type, &seed)?;
        let encoded = Zeroizing::new(STANDARD.encode(&raw[..]));
        let skey = Zeroizing::new(format!("PRIVATE+KEY+{}+{:08x}+{}", name, key.key_id, encoded.as_str()));
        Ok((skey, key.verifier_key()))
    }

    pub(crate) fn verifier_key(&self) -> VerifierKey {
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(self.pair.public_key().as_ref());
        VerifierKey { name: self.name.clone(), key_type: self.key_type, public_key, key_id: self.key_id }
    }

    /// `— <name> <base64(key id || Ed25519 signature)>\n` for a plain signature over `message`.
    pub(crate) fn signature_line(&self, message: &[u8]) -> String {
        let sig = self.pair.sign(message);
        encode_signature_line(&self.name, self.key_id, &[sig.as_ref()])
    }
}

/// `— <name> <base64(key id || parts...)>\n`.
pub(crate) fn encode_signature_line(name: &str, key_id: u32, parts: &[&[u8]]) -> String {
    let mut raw = key_id.to_be_bytes().to_vec();
    for p in parts {
        raw.extend_from_slice(p);
    }
    format!("{SIGNATURE_PREFIX}{name} {}\n", STANDARD.encode(raw))
}

/// The relay's checkpoint signing key: Ed25519, signature type `0x01`, named by the log's origin.
pub struct NoteSigner {
    key: NamedKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.key.name)
            .field("key_id", &format_args!("{:08x}", self.key.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        Ok(NoteSigner { key: NamedKey::from_seed(name, KeyType::Ed25519, seed)? })
    }

    /// A signer from a PKCS#8 Ed25519 private key (v1 or v2), e.g. from `openssl genpkey -algorithm ed25519`.
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Result<Self, KeyError> {
        Ok(NoteSigner { key: NamedKey::from_pkcs8(name, KeyType::Ed25519, pkcs8)? })
    }

    /// A signer from Go's signer key text, `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>`.
    pub fn from_signer_key(skey: &str) -> Result<Self, KeyError> {
        Ok(NoteSigner { key: NamedKey::from_signer_key(skey, &[KeyType::Ed25519], KeyType::Ed25519)? })
    }

    /// A new key: its signer key text (secret) and its verifier key (public).
    pub fn generate(
        name: &str,
        rng: &dyn SecureRandom,
    ) -> Result<(Zeroizing<String>, VerifierKey), KeyError> {
        NamedKey::generate(name, KeyType::Ed25519, rng)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key.key_id
    }

    /// The verifier key to give to auditors and witnesses.
    pub fn verifier_key(&self) -> VerifierKey {
        self.key.verifier_key()
    }

    /// Signs a note text (non-empty, ending in a newline, without control characters other than
    /// newline): the text, a blank line, and this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        Ok(self.sign_unchecked(text))
    }

    fn sign_unchecked(&self, text: &str) -> String {
        format!("{text}\n{}", self.key.signature_line(text.as_bytes()))
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text must be non-empty and end with a newline"));
    }
    if text.len() > MAX_NOTE_LEN {
        return Err(NoteError::Malformed("the note is too long"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("the text contains a control character"));
    }
    Ok(())
}

/// One signature line of a note, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id (the first four bytes of the decoded signature).
    pub key_id: u32,
    /// The signature after the key id.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, with its newline.
    pub fn to_line(&self) -> String {
        encode_signature_line(&self.name, self.key_id, &[&self.signature])
    }
}

/// A note split into its text and signature lines (c2sp.org/signed-note, "Format").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note<'a> {
    /// The text, with its final newline, without the blank line.
    pub text: &'a str,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Splits a signed note into text and signatures, checking its structure but no signature.
pub fn parse_note(msg: &str) -> Result<Note<'_>, NoteError> {
    if msg.len() > MAX_NOTE_LEN {
        return Err(NoteError::Malformed("the note is too long"));
    }
    // Valid UTF-8 (a &str) without ASCII control characters other than newline.
    if msg.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed("the note contains a control character"));
    }
    // The text is separated from the signatures by the last empty line.
    let split = msg.rfind("\n\n").ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed("the signature lines must end with a newline"));
    }
    let mut signatures = Vec::new();
    for line in sigs[..sigs.len() - 1].split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::Malformed("too many signatures"));
        }
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::Malformed("a signature line does not start with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("a signature line has no space after the name"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::Malformed("a signature line has an invalid key name"));
        }
        let raw =
            STANDARD.decode(b64).map_err(|_| NoteError::Malformed("a signature is not valid base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed("a signature is too short"));
        }
        let (id, signature) = raw.split_at(4);
        let key_id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
        signatures.push(NoteSignature { name: name.to_owned(), key_id, signature: signature.to_vec() });
    }
    Ok(Note { text, signatures })
}

/// A signature that verified, and the key that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The key.
    pub key: VerifierKey,
    /// For a cosignature, the cosigner's timestamp (seconds since the Unix epoch).
    pub timestamp: Option<u64>,
}

/// A note whose signatures by the known keys all verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedNote<'a> {
    /// The text.
    pub text: &'a str,
    /// One entry per known key that signed, in the order of the signature lines.
    pub verified: Vec<VerifiedSignature>,
}

/// Opens a signed note: every signature by a key in `known` must verify, signatures by other keys
/// are ignored, and at least one known key must have signed.
pub fn open_note<'a>(msg: &'a str, known: &[VerifierKey]) -> Result<OpenedNote<'a>, NoteError> {
    let note = parse_note(msg)?;
    let keys: Vec<&VerifierKey> = known.iter().collect();
    let verified = verify_signatures(&note, &keys)?;
    if verified.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote { text: note.text, verified })
}

fn verify_signatures(note: &Note<'_>, keys: &[&VerifierKey]) -> Result<Vec<VerifiedSignature>, NoteError> {
    for (i, a) in keys.iter().enumerate() {
        if keys[..i].iter().any(|b| b.name == a.name && b.key_id == a.key_id) {
            return Err(NoteError::AmbiguousKeys { name: a.name.clone(), key_id: a.key_id });
        }
    }
    let mut verified: Vec<VerifiedSignature> = Vec::new();
    for sig in &note.signatures {
        // A signature is by a known key only if both the name and the key id match.
        let Some(key) = keys.iter().find(|k| k.name == sig.name && k.key_id == sig.key_id) else {
            continue;
        };
        let timestamp = key
            .verify(note.text, &sig.signature)
            .ok_or_else(|| NoteError::BadSignature { name: sig.name.clone(), key_id: sig.key_id })?;
        if !verified.iter().any(|v| v.key == **key) {
            verified.push(VerifiedSignature { key: (*key).clone(), timestamp });
        }
    }
    Ok(verified)
}

/// A tree head as a checkpoint body (c2sp.org/tlog-checkpoint, "Note text").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root_hash: Hash,
    extensions: Vec<String>,
}

/// Why a checkpoint was not accepted. Each variant is a distinct failure a test can observe.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a signed note, or its text is not a checkpoint body.
    #[error("the checkpoint is malformed: {0}")]
    Malformed(&'static str),
    /// The checkpoint is for another log.
    #[error("the checkpoint is for the log {found:?}, not {expected:?}")]
    WrongOrigin {
        /// The origin asked for.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// No valid signature by the log's key (it is missing, or only unknown keys signed).
    #[error("the checkpoint carries no signature by the log key {key}")]
    NotSignedByLog {
        /// The log's verifier key.
        key: String,
    },
    /// A known key's signature does not verify: the checkpoint was changed or the signature forged.
    #[error("the signature by {name} (key id {key_id:08x}) does not verify: the checkpoint was changed")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The tree size or root hash line is not valid.
    #[error("the checkpoint's {0} is not valid")]
    BadTreeHead(&'static str),
    /// Two of the given keys share name and key id.
    #[error("two verifier keys share the name {name} and key id {key_id:08x}")]
    AmbiguousKeys {
        /// The shared name.
        name: String,
        /// The shared key id.
        key_id: u32,
    },
    /// The key given as the log's is not a plain Ed25519 (type 0x01) key: a witness's cosignature
    /// must never stand in for the log's own signature.
    #[error("the log key must be an Ed25519 note key (type 0x01), not {0:?}")]
    LogKeyType(KeyType),
}

impl From<NoteError> for CheckpointError {
    fn from(e: NoteError) -> Self {
        match e {
            NoteError::Malformed(m) => CheckpointError::Malformed(m),
            NoteError::BadSignature { name, key_id } => CheckpointError::BadSignature { name, key_id },
            NoteError::AmbiguousKeys { name, key_id } => CheckpointError::AmbiguousKeys { name, key_id },
            NoteError::NoKnownSignature => CheckpointError::NotSignedByLog { key: String::new() },
        }
    }
}

fn is_valid_line(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_control)
}

impl Checkpoint {
    /// A checkpoint for the tree of `size` leaves with root `root_hash`. The origin must be a
    /// non-empty line without control characters.
    pub fn new(origin: &str, size: u64, root_hash: Hash) -> Result<Self, CheckpointError> {
        if !is_valid_line(origin) {
            return Err(CheckpointError::Malformed("the origin must be a non-empty line"));
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root_hash, extensions: Vec::new() })
    }

    /// The same checkpoint with extension lines (each non-empty, without control characters).
    /// The C2SP spec does not recommend them; the relay writes none.
    pub fn with_extensions(mut self, extensions: Vec<String>) -> Result<Self, CheckpointError> {
        if !extensions.iter().all(|e| is_valid_line(e)) {
            return Err(CheckpointError::Malformed("an extension line is empty or has a control character"));
        }
        self.extensions = extensions;
        Ok(self)
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash.
    pub fn root_hash(&self) -> &Hash {
        &self.root_hash
    }

    /// The extension lines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: origin, size and base64 root hash, then any extension lines, each ending in
    /// a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root_hash));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a note text as a checkpoint body, accepting only the canonical form: a decimal size
    /// without leading zeros, a padded base64 root of exactly 32 bytes.
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        let body =
            text.strip_suffix('\n').ok_or(CheckpointError::Malformed("the text must end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(CheckpointError::Malformed("a checkpoint has at least three lines"));
        };
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        let canonical_size = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        if !canonical_size {
            return Err(CheckpointError::BadTreeHead("tree size"));
        }
        let size: u64 = size.parse().map_err(|_| CheckpointError::BadTreeHead("tree size"))?;
        let raw = STANDARD.decode(root).map_err(|_| CheckpointError::BadTreeHead("root hash"))?;
        let root_hash: Hash = raw.try_into().map_err(|_| CheckpointError::BadTreeHead("root hash"))?;
        if STANDARD.encode(root_hash) != root {
            return Err(CheckpointError::BadTreeHead("root hash"));
        }
        Checkpoint::new(origin, size, root_hash)?.with_extensions(extensions)
    }
}

/// Signs a checkpoint with the log's key: the checkpoint text, a blank line, one signature line.
pub fn sign_checkpoint(checkpoint: &Checkpoint, signer: &NoteSigner) -> String {
    // `Checkpoint` can only hold lines without control characters, so its text is a valid note text.
    signer.sign_unchecked(&checkpoint.to_text())
}

/// A checkpoint whose log signature verified, with the cosignatures that also verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// The known cosigners that signed it, in note order.
    pub cosignatures: Vec<VerifiedSignature>,
}

/// Verifies a signed checkpoint: it must be a well-formed note whose text is a checkpoint for
/// `origin`, carry a valid signature by `log_key` (an Ed25519, type 0x01, key), and every signature
/// by `log_key` or a key in `cosigners` must verify. Reports the cosigners that signed; signatures by other keys are ignored.
pub fn open_checkpoint(
    note: &str,
    origin: &str,
    log_key: &VerifierKey,
    cosigners: &[VerifierKey],
) -> Result<VerifiedCheckpoint, CheckpointError> {
    if log_key.key_type != KeyType::Ed25519 {
        return Err(CheckpointError::LogKeyType(log_key.key_type));
    }
    let parsed = parse_note(note)?;
    let checkpoint = Checkpoint::from_text(parsed.text)?;
    if checkpoint.origin != origin {
        return Err(CheckpointError::WrongOrigin { expected: origin.to_owned(), found: checkpoint.origin });
    }
    let mut keys = Vec::with_capacity(1 + cosigners.len());
    keys.push(log_key);
    keys.extend(cosigners);
    let verified = verify_signatures(&parsed, &keys)?;
    if !verified.iter().any(|v| v.key == *log_key) {
        return Err(CheckpointError::NotSignedByLog { key: log_key.to_string() });
    }
    let cosignatures = verified.into_iter().filter(|v| v.key != *log_key).collect();
    Ok(VerifiedCheckpoint { checkpoint, cosignatures })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::from_seed("samordna.se/relay/test", &[7; 32]).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint::new("samordna.se/relay/test", 3, [9; 32]).unwrap()
    }

    #[test]
    fn checkpoint_text_round_trips_and_refuses_non_canonical_forms() {
        let c = checkpoint().with_extensions(vec!["ext one".into()]).unwrap();
        assert_eq!(Checkpoint::from_text(&c.to_text()).unwrap(), c);
        let root = STANDARD.encode([9u8; 32]);
        for (text, want) in [
            (format!("o\n03\n{root}\n"), CheckpointError::BadTreeHead("tree size")),
            (format!("o\n+3\n{root}\n"), CheckpointError::BadTreeHead("tree size")),
            (format!("o\n\n{root}\n"), CheckpointError::BadTreeHead("tree size")),
            (format!("o\n18446744073709551616\n{root}\n"), CheckpointError::BadTreeHead("tree size")),
            (format!("o\n3\n{}\n", STANDARD.encode([9u8; 31])), CheckpointError::BadTreeHead("root hash")),
            (format!("o\n3\n{}\n", root.trim_end_matches('=')), CheckpointError::BadTreeHead("root hash")),
            (format!("o\n3\n{root}"), CheckpointError::Malformed("the text must end with a newline")),
            ("o\n3\n".to_owned(), CheckpointError::Malformed("a checkpoint has at least three lines")),
            (format!("\n3\n{root}\n"), CheckpointError::Malformed("the origin must be a non-empty line")),
            (
                format!("o\n3\n{root}\n\n"),
                CheckpointError::Malformed("an extension line is empty or has a control character"),
            ),
        ] {
            assert_eq!(Checkpoint::from_text(&text), Err(want), "{text:?}");
        }
        assert_eq!(Checkpoint::from_text(&format!("o\n0\n{root}\n")).unwrap().size(), 0);
    }

    #[test]
    fn sign_and_open() {
        let s = signer();
        let note = sign_checkpoint(&checkpoint(), &s);
        assert!(note.starts_with(&checkpoint().to_text()));
        let v = open_checkpoint(&note, "samordna.se/relay/test", &s.verifier_key(), &[]).unwrap();
        assert_eq!(v.checkpoint, checkpoint());
        assert!(v.cosignatures.is_empty());
        let opened = open_note(&note, &[s.verifier_key()]).unwrap();
        assert_eq!(opened.text, checkpoint().to_text());
    }

    #[test]
    fn unknown_signatures_are_ignored_but_known_bad_ones_reject() {
        let s = signer();
        let other = NoteSigner::from_seed("someone.example/else", &[8; 32]).unwrap();
        let note = sign_checkpoint(&checkpoint(), &s);
        let text = checkpoint().to_text();
        // An extra signature by an unknown key.
        let extra = format!("{note}{}", other.key.signature_line(text.as_bytes()));
        open_checkpoint(&extra, "samordna.se/relay/test", &s.verifier_key(), &[]).unwrap();
        // Same name and key id as the log key, but a garbage signature: rejected.
        let forged = NoteSignature { name: s.name().into(), key_id: s.key_id(), signature: vec![0; 64] };
        let bad = format!("{note}{}", forged.to_line());
        assert_eq!(
            open_checkpoint(&bad, "samordna.se/relay/test", &s.verifier_key(), &[]),
            Err(CheckpointError::BadSignature { name: s.name().into(), key_id: s.key_id() })
        );
        // Only unknown signatures.
        assert!(matches!(
            open_checkpoint(&note, "samordna.se/relay/test", &other.verifier_key(), &[]),
            Err(CheckpointError::NotSignedByLog { .. })
        ));
        // The same key twice in the list.
        assert!(matches!(
            open_checkpoint(&note, "samordna.se/relay/test", &s.verifier_key(), &[s.verifier_key()]),
            Err(CheckpointError::AmbiguousKeys { .. })
        ));
    }

    #[test]
    fn malformed_notes() {
        let s = signer();
        let note = sign_checkpoint(&checkpoint(), &s);
        let key = s.verifier_key();
        for bad in [
            note.trim_end().to_owned(),                 // no final newline
            note.replace("\n\n", "\n"),                 // no blank line
            note.replace('\u{2014}', "--"),             // not an em dash
            note.replacen("test\n", "test\r\n", 1),     // control character
            note.replace(" ", "  "),                    // extra space before the signature
            format!("{note}\u{2014} name AAAA\n"),      // signature shorter than 5 bytes
            format!("{note}\u{2014} na+me AAAAAAA=\n"), // plus sign in the name
        ] {
            assert!(
                matches!(
                    open_checkpoint(&bad, "samordna.se/relay/test", &key, &[]),
                    Err(CheckpointError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        let many = (0..=MAX_SIGNATURES).fold(note.clone(), |n, _| n + "\u{2014} x AAAAAAA=\n");
        assert_eq!(parse_note(&many), Err(NoteError::Malformed("too many signatures")));
    }

    #[test]
    fn verifier_keys_round_trip_and_refuse_mangling() {
        let k = signer().verifier_key();
        let text = k.to_string();
        assert_eq!(VerifierKey::parse(&text).unwrap(), k);
        let id = format!("{:08x}", k.key_id());
        let wrong_id = format!("{:08x}", k.key_id() ^ 1);
        assert_eq!(VerifierKey::parse(&text.replace(&id, &wrong_id)), Err(KeyError::KeyIdMismatch));
        assert_eq!(
            VerifierKey::parse("no plus signs"),
            Err(KeyError::Malformed("<name>+<8 hex digits>+<base64 of the type byte and the public key>"))
        );
        let mut raw = vec![0x02];
        raw.extend_from_slice(&[0; 32]);
        let alg2 = format!("n+00000000+{}", STANDARD.encode(raw));
        assert_eq!(VerifierKey::parse(&alg2), Err(KeyError::UnsupportedType(2)));
        assert_eq!(VerifierKey::new("a b", KeyType::Ed25519, [0; 32]), Err(KeyError::InvalidName));
    }

    #[test]
    fn generated_keys_load_and_sign() {
        let rng = ring::rand::SystemRandom::new();
        let (skey, vkey) = NoteSigner::generate("samordna.se/relay/gen", &rng).unwrap();
        let s = NoteSigner::from_signer_key(&skey).unwrap();
        assert_eq!(s.verifier_key(), vkey);
        let note = sign_checkpoint(&Checkpoint::new("samordna.se/relay/gen", 0, [0; 32]).unwrap(), &s);
        open_checkpoint(&note, "samordna.se/relay/gen", &vkey, &[]).unwrap();
    }

    #[test]
    fn relay_origins() {
        assert_eq!(relay_origin("prod-1").unwrap(), "samordna.se/relay/prod-1");
        for bad in ["", "-a", "a-", "Prod", "a b", "a/b", &"a".repeat(64)] {
            assert_eq!(relay_origin(bad), Err(KeyError::InvalidName), "{bad:?}");
        }
    }
}
