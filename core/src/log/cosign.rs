//! Witness cosignatures (<https://c2sp.org/tlog-cosignature>, Ed25519 `cosignature/v1`):
//! principals' clients countersign checkpoints they have checked against the last one they saw
//! (`docs/spec/access-log-v1.md` §5).
//!
//! ```text
//! signed message = "cosignature/v1\n" || "time " || decimal timestamp || "\n" || checkpoint text
//! signature line = — <cosigner name> base64(key id || u64 timestamp (big-endian) || Ed25519 signature)
//! key id         = SHA-256(<cosigner name> || 0x0A || 0x04 || public key)[:4]
//! ```
//!
//! A cosignature says: as of the timestamp, this is the largest tree the cosigner has seen for the
//! log, and it is consistent with every earlier one it saw. So a cosigner signs only through
//! [`Cosigner::witness`], which verifies the log's signature and the consistency proof first.

use core::fmt;

use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use super::merkle::{self, Hash, VerifyError};
use super::note::{
    Checkpoint, CheckpointError, KeyError, KeyType, NamedKey, VerifierKey, encode_signature_line,
    open_checkpoint, parse_note,
};

/// The largest timestamp a cosignature may carry (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The message a `cosignature/v1` signs for a note text at `timestamp` (seconds since the epoch).
pub fn cosignature_message(note_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{note_text}").into_bytes()
}

/// Splits a cosignature (after the key id) into its timestamp and the 64-byte Ed25519 signature;
/// `None` if the length is wrong or the timestamp exceeds [`MAX_TIMESTAMP`].
pub(crate) fn split_timestamped(signature: &[u8]) -> Option<(u64, &[u8])> {
    if signature.len() != 8 + 64 {
        return None;
    }
    let (ts, sig) = signature.split_at(8);
    let mut b = [0u8; 8];
    b.copy_from_slice(ts);
    let timestamp = u64::from_be_bytes(b);
    (timestamp <= MAX_TIMESTAMP).then_some((timestamp, sig))
}

/// Why a cosignature was not made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// The timestamp is above 2^63 − 1.
    #[error("the timestamp {0} is too large for a cosignature")]
    TimestampTooLarge(u64),
    /// The new checkpoint did not verify.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The previous checkpoint is for another log.
    #[error("the previous checkpoint is for the log {found:?}, not {expected:?}")]
    PreviousOtherLog {
        /// The log being witnessed.
        expected: String,
        /// The previous checkpoint's origin.
        found: String,
    },
    /// The new checkpoint is not an append-only extension of the previous one: the log forked or
    /// was rewritten. Keep both checkpoints as evidence.
    #[error("the new checkpoint is not consistent with the previous one: {0}")]
    Inconsistent(VerifyError),
}

/// A witness's cosigning key (signature type `0x04`).
pub struct Cosigner {
    key: NamedKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.key.name)
            .field("key_id", &format_args!("{:08x}", self.key.key_id))
            .finish_non_exhaustive()
    }
}

/// A checkpoint the witness verified and cosigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witnessed {
    /// The verified tree head: the witness's new "previous checkpoint".
    pub checkpoint: Checkpoint,
    /// The signed note with this witness's cosignature added.
    pub note: String,
}

impl Cosigner {
    /// A cosigner from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        Ok(Cosigner { key: NamedKey::from_seed(name, KeyType::CosignatureV1, seed)? })
    }

    /// A cosigner from a PKCS#8 Ed25519 private key.
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Result<Self, KeyError> {
        Ok(Cosigner { key: NamedKey::from_pkcs8(name, KeyType::CosignatureV1, pkcs8)? })
    }

    /// A cosigner from Go's signer key text with type `0x04` (or `0x01`, as transparency-dev's
    /// witnesses accept; the key id is then recomputed for type `0x04`).
    pub fn from_signer_key(skey: &str) -> Result<Self, KeyError> {
        let allowed = [KeyType::CosignatureV1, KeyType::Ed25519];
        Ok(Cosigner { key: NamedKey::from_signer_key(skey, &allowed, KeyType::CosignatureV1)? })
    }

    /// A new key: its signer key text (secret) and its verifier key (public, type `0x04`).
    pub fn generate(
        name: &str,
        rng: &dyn SecureRandom,
    ) -> Result<(Zeroizing<String>, VerifierKey), KeyError> {
        NamedKey::generate(name, KeyType::CosignatureV1, rng)
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// The key id (for type `0x04`).
    pub fn key_id(&self) -> u32 {
        self.key.key_id
    }

    /// The verifier key auditors configure to count this witness.
    pub fn verifier_key(&self) -> VerifierKey {
        self.key.verifier_key()
    }

    /// The cosignature line over `checkpoint` at `timestamp`. Low level: [`Cosigner::witness`]
    /// checks the checkpoint first.
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> Result<String, CosignError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignError::TimestampTooLarge(timestamp));
        }
        let msg = cosignature_message(&checkpoint.to_text(), timestamp);
        let sig = self.key.pair.sign(&msg);
        Ok(encode_signature_line(&self.key.name, self.key.key_id, &[&timestamp.to_be_bytes(), sig.as_ref()]))
    }

    /// Verifies a new signed checkpoint of the log `origin` and cosigns it: its signature by
    /// `log_key`, and, if the witness has seen the log before, the consistency `proof` from
    /// `previous` (which the witness verified earlier and kept). Returns the note with this
    /// cosignature added (replacing an earlier one by this key).
    pub fn witness(
        &self,
        note: &str,
        origin: &str,
        log_key: &VerifierKey,
        previous: Option<&Checkpoint>,
        proof: &[Hash],
        timestamp: u64,
    ) -> Result<Witnessed, CosignError> {
        let verified = open_checkpoint(note, origin, log_key, &[])?;
        let new = verified.checkpoint;
        if let Some(old) = previous {
            if old.origin() != origin {
                return Err(CosignError::PreviousOtherLog {
                    expected: origin.to_owned(),
                    found: old.origin().to_owned(),
                });
            }
            merkle::verify_consistency(old.size(), new.size(), old.root_hash(), new.root_hash(), proof)
                .map_err(CosignError::Inconsistent)?;
        }
        let line = self.cosign(&new, timestamp)?;
        // `open_checkpoint` parsed it already, so this cannot fail; keep the error path anyway.
        let parsed = parse_note(note).map_err(CheckpointError::from)?;
        let mut out = format!("{}\n", parsed.text);
        for sig in &parsed.signatures {
            if sig.name == self.key.name && sig.key_id == self.key.key_id {
                continue;
            }
            out.push_str(&sig.to_line());
        }
        out.push_str(&line);
        Ok(Witnessed { checkpoint: new, note: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::merkle::{consistency_proof, leaf_hash, root};
    use crate::log::note::{NoteSigner, sign_checkpoint};

    const ORIGIN: &str = "samordna.se/relay/test";

    fn log() -> NoteSigner {
        NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap()
    }

    fn witness() -> Cosigner {
        Cosigner::from_seed("witness.example/region-x", &[2; 32]).unwrap()
    }

    fn tree(n: u64) -> (Vec<Hash>, Checkpoint) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let cp = Checkpoint::new(ORIGIN, n, root(&leaves)).unwrap();
        (leaves, cp)
    }

    #[test]
    fn witness_checks_consistency_then_cosigns() {
        let (leaves, cp5) = tree(5);
        let (_, cp3) = tree(3);
        let note = sign_checkpoint(&cp5, &log());
        let proof = consistency_proof(3, 5, leaves.as_slice()).unwrap();
        let w = witness();
        let out = w.witness(&note, ORIGIN, &log().verifier_key(), Some(&cp3), &proof, 1_700_000_000).unwrap();
        assert_eq!(out.checkpoint, cp5);
        let v = open_checkpoint(&out.note, ORIGIN, &log().verifier_key(), &[w.verifier_key()]).unwrap();
        assert_eq!(v.cosignatures.len(), 1);
        assert_eq!(v.cosignatures[0].key, w.verifier_key());
        assert_eq!(v.cosignatures[0].timestamp, Some(1_700_000_000));
        // Witnessing again replaces the earlier cosignature.
        let again = w.witness(&out.note, ORIGIN, &log().verifier_key(), None, &[], 1_700_000_060).unwrap();
        assert_eq!(again.note.matches(w.name()).count(), 1);
    }

    #[test]
    fn witness_refuses_a_fork() {
        let (leaves, cp5) = tree(5);
        let forked = Checkpoint::new(ORIGIN, 3, [0xee; 32]).unwrap();
        let note = sign_checkpoint(&cp5, &log());
        let proof = consistency_proof(3, 5, leaves.as_slice()).unwrap();
        let err =
            witness().witness(&note, ORIGIN, &log().verifier_key(), Some(&forked), &proof, 1).unwrap_err();
        assert_eq!(err, CosignError::Inconsistent(VerifyError::OldRootMismatch));
        let other = Checkpoint::new("other.example/log", 3, [0; 32]).unwrap();
        assert!(matches!(
            witness().witness(&note, ORIGIN, &log().verifier_key(), Some(&other), &proof, 1),
            Err(CosignError::PreviousOtherLog { .. })
        ));
    }

    #[test]
    fn cosignatures_are_bound_to_time_and_text() {
        let (_, cp) = tree(2);
        let w = witness();
        let note = format!("{}{}", sign_checkpoint(&cp, &log()), w.cosign(&cp, 42).unwrap());
        let keys = [w.verifier_key()];
        open_checkpoint(&note, ORIGIN, &log().verifier_key(), &keys).unwrap();
        // Re-date the cosignature: the timestamp is signed.
        let parsed = parse_note(&note).unwrap();
        let mut sig = parsed.signatures[1].clone();
        sig.signature[7] ^= 1;
        let redated = format!("{}\n{}{}", parsed.text, parsed.signatures[0].to_line(), sig.to_line());
        assert!(matches!(
            open_checkpoint(&redated, ORIGIN, &log().verifier_key(), &keys),
            Err(CheckpointError::BadSignature { .. })
        ));
        assert_eq!(w.cosign(&cp, MAX_TIMESTAMP + 1), Err(CosignError::TimestampTooLarge(MAX_TIMESTAMP + 1)));
        // A cosigner key is type 0x04: its id differs from the same key as a plain Ed25519 key.
        let plain = VerifierKey::new(w.name(), KeyType::Ed25519, *w.verifier_key().public_key()).unwrap();
        assert_ne!(plain.key_id(), w.key_id());
    }

    #[test]
    fn signer_keys_of_both_types_load() {
        let rng = ring::rand::SystemRandom::new();
        let (skey, vkey) = Cosigner::generate("witness.example/w", &rng).unwrap();
        assert_eq!(Cosigner::from_signer_key(&skey).unwrap().verifier_key(), vkey);
        let (plain, plain_vkey) = NoteSigner::generate("witness.example/w", &rng).unwrap();
        let c = Cosigner::from_signer_key(&plain).unwrap().verifier_key();
        assert_eq!(c.key_type(), KeyType::CosignatureV1);
        assert_eq!(c.public_key(), plain_vkey.public_key());
        assert_ne!(c.key_id(), plain_vkey.key_id());
    }
}
