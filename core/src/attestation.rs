//! Key attestations: a principal vouches, with a certificate of its own, for an X25519 encryption key.
//!
//! The relay publishes attestations in its directory but cannot forge one, so a client that
//! verifies the attestation before encrypting knows the relay did not substitute its own key
//! (`docs/spec/envelope-v1.md` §4).
//!
//! The statement is a JSON object signed as a [`SignedStatement`], by a certificate whose
//! `organizationIdentifier` is the statement's principal.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::{
    cert::{CertError, Identity, TrustStore},
    encoding::{b64_array, rfc3339},
    id::{KeyId, PrincipalId},
    signature::{SignError, SignatureError, Signer},
    signed::{SignedStatement, StatementError},
};

/// The `type` of a key statement, so that no other signed JSON can pass for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatementType {
    /// The only value.
    #[serde(rename = "samordna-key-attestation")]
    KeyAttestation,
}

/// The algorithm an attested key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
    #[serde(rename = "X25519-HKDF-SHA256-AES-256-GCM")]
    X25519HkdfSha256Aes256Gcm,
}

/// What a principal states about one of its encryption keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStatement {
    /// Always `samordna-key-attestation`.
    #[serde(rename = "type")]
    pub statement_type: StatementType,
    /// Format version, 1.
    pub version: u8,
    /// The principal whose key it is.
    pub principal: PrincipalId,
    /// Derived from the public key ([`KeyId::for_x25519_public_key`]).
    pub key_id: KeyId,
    /// The algorithm.
    pub algorithm: KeyAlgorithm,
    /// The X25519 public key.
    #[serde(with = "b64_array")]
    pub public_key: [u8; 32],
    /// Start of the period in which senders may encrypt to the key.
    #[serde(with = "rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of that period. The key still opens envelopes sealed before.
    #[serde(with = "rfc3339")]
    pub not_after: OffsetDateTime,
}

/// A signed key statement as published (`{"statement", "signature"}`, see [`SignedStatement`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyAttestation(pub SignedStatement);

/// Why an attestation was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The signature does not verify, or its certificate is not acceptable.
    #[error("the key attestation's signature is not valid: {0}")]
    Signature(#[from] SignatureError),
    /// The statement is not a key statement we understand.
    #[error("the key statement is malformed: {0}")]
    Malformed(String),
    /// Signed by a certificate of another principal than the one the key is said to belong to.
    #[error(
        "the key of {statement} is attested by a certificate of {signer}; only a principal may attest its own keys"
    )]
    WrongPrincipal {
        /// The principal the statement names.
        statement: PrincipalId,
        /// The principal of the signing certificate.
        signer: PrincipalId,
    },
    /// The key id is not the one derived from the public key.
    #[error("the key id does not match the public key")]
    KeyIdMismatch,
    /// The public key is of small order: encrypting to it would give away the content key.
    #[error("the public key is not a usable X25519 key")]
    WeakKey,
    /// Outside the statement's validity period.
    #[error("the key is not valid at this time (valid {not_before} to {not_after})")]
    NotCurrent {
        /// Start of validity.
        not_before: OffsetDateTime,
        /// End of validity.
        not_after: OffsetDateTime,
    },
    /// The validity period is empty or reversed.
    #[error("the key's validity period is empty")]
    EmptyValidity,
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// A key whose attestation verified: safe to encrypt to for its principal.
#[derive(Clone, Debug)]
pub struct AttestedKey {
    /// The verified statement.
    pub statement: KeyStatement,
    /// Who signed it.
    pub attested_by: Identity,
}

impl AttestedKey {
    /// The key as a recipient for sealing.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from(self.statement.public_key)
    }
}

/// True when the point is of small order, so that every Diffie-Hellman with it yields zero.
fn is_weak(public_key: &[u8; 32]) -> bool {
    // Clamped X25519 scalars are multiples of the cofactor, so any small-order point maps to the
    // identity whatever the scalar; one fixed scalar is enough to find out.
    !StaticSecret::from([0x5a; 32]).diffie_hellman(&PublicKey::from(*public_key)).was_contributory()
}

impl KeyAttestation {
    /// Attests `public_key` for the signer's own principal, valid from `not_before` to `not_after`.
    pub fn create(
        signer: &Signer,
        public_key: &[u8; 32],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        signing_time: OffsetDateTime,
    ) -> Result<Self, AttestationError> {
        if not_after <= not_before {
            return Err(AttestationError::EmptyValidity);
        }
        if is_weak(public_key) {
            return Err(AttestationError::WeakKey);
        }
        let statement = KeyStatement {
            statement_type: StatementType::KeyAttestation,
            version: 1,
            principal: signer.identity().principal.clone(),
            key_id: KeyId::for_x25519_public_key(public_key),
            algorithm: KeyAlgorithm::X25519HkdfSha256Aes256Gcm,
            public_key: *public_key,
            not_before,
            not_after,
        };
        Ok(KeyAttestation(SignedStatement::sign(&statement, signer, signing_time)?))
    }

    /// Reads the statement without verifying it (for display and lookups only).
    pub fn unverified_statement(&self) -> Result<KeyStatement, AttestationError> {
        check_version(self.0.unverified()?)
    }

    /// Verifies the attestation at time `at`: signature and chain, the signer's principal, the key
    /// id, the key itself, and the validity period.
    pub fn verify(&self, trust: &TrustStore, at: OffsetDateTime) -> Result<AttestedKey, AttestationError> {
        let (statement, verified) = self.0.verify(trust, at)?;
        let statement = check_version(statement)?;
        let signer = verified.signer.identity;
        if signer.principal != statement.principal {
            return Err(AttestationError::WrongPrincipal {
                statement: statement.principal,
                signer: signer.principal,
            });
        }
        if statement.key_id != KeyId::for_x25519_public_key(&statement.public_key) {
            return Err(AttestationError::KeyIdMismatch);
        }
        if is_weak(&statement.public_key) {
            return Err(AttestationError::WeakKey);
        }
        if statement.not_after <= statement.not_before {
            return Err(AttestationError::EmptyValidity);
        }
        if at < statement.not_before || at >= statement.not_after {
            return Err(AttestationError::NotCurrent {
                not_before: statement.not_before,
                not_after: statement.not_after,
            });
        }
        Ok(AttestedKey { statement, attested_by: signer })
    }
}

fn check_version(s: KeyStatement) -> Result<KeyStatement, AttestationError> {
    if s.version != 1 {
        return Err(AttestationError::Malformed(format!("version {} is not supported", s.version)));
    }
    Ok(s)
}

impl From<StatementError> for AttestationError {
    fn from(e: StatementError) -> Self {
        match e {
            StatementError::Signature(e) => AttestationError::Signature(e),
            StatementError::Malformed(m) => AttestationError::Malformed(m),
        }
    }
}

impl From<CertError> for AttestationError {
    fn from(e: CertError) -> Self {
        AttestationError::Signature(SignatureError::Certificate(e))
    }
}
