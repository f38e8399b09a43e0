//! A JSON statement with a detached CMS signature over its exact bytes: the shape of every signed
//! record Samordna exchanges besides envelopes (key attestations, consent metadata, delivery
//! receipts). On the wire: `{"statement": base64, "signature": base64}`.
//!
//! The signature is over the bytes as sent, so there is no canonicalisation to get wrong; each
//! statement has a `type` member so that one kind can never pass for another.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use time::OffsetDateTime;

use crate::{
    cert::TrustStore,
    encoding::b64_vec,
    signature::{SignError, SignatureError, Signer, VerifiedSignature, verify_detached},
};

/// A signed JSON statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedStatement {
    /// The statement's JSON, exactly as signed.
    #[serde(with = "b64_vec")]
    pub statement: Vec<u8>,
    /// Detached CMS SignedData over `statement`.
    #[serde(with = "b64_vec")]
    pub signature: Vec<u8>,
}

/// Why a signed statement was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// The signature does not verify, or its certificate is not acceptable.
    #[error("the signature is not valid: {0}")]
    Signature(#[from] SignatureError),
    /// The statement is not the JSON expected.
    #[error("the statement is malformed: {0}")]
    Malformed(String),
}

impl SignedStatement {
    /// Serialises `value` and signs the bytes.
    pub fn sign<T: Serialize>(value: &T, signer: &Signer, at: OffsetDateTime) -> Result<Self, SignError> {
        let statement = serde_json::to_vec(value).map_err(|e| SignError::Encoding(e.to_string()))?;
        let signature = signer.sign_detached(&statement, at)?;
        Ok(SignedStatement { statement, signature })
    }

    /// The statement, without checking the signature: for display and lookups only.
    pub fn unverified<T: DeserializeOwned>(&self) -> Result<T, StatementError> {
        serde_json::from_slice(&self.statement).map_err(|e| StatementError::Malformed(e.to_string()))
    }

    /// Verifies the signature (chain to the root at `at`) before interpreting the statement.
    pub fn verify<T: DeserializeOwned>(
        &self,
        trust: &TrustStore,
        at: OffsetDateTime,
    ) -> Result<(T, VerifiedSignature), StatementError> {
        let verified = verify_detached(&self.signature, &self.statement, trust, at)?;
        Ok((self.unverified()?, verified))
    }
}
