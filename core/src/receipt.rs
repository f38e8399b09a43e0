//! Delivery receipts: a recipient signs that it received an envelope, naming the SHA-256 of the
//! envelope header (which signs the ciphertext's digest, so the receipt covers the whole envelope).
//! The relay stores them; the sender fetches and verifies them itself.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    cert::{Identity, TrustStore},
    encoding::{hex32, rfc3339},
    envelope::Party,
    id::EnvelopeId,
    signature::{SignError, SignatureError, Signer},
    signed::{SignedStatement, StatementError},
};

/// The `type` of a receipt statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptType {
    /// The only value.
    #[serde(rename = "samordna-delivery-receipt")]
    DeliveryReceipt,
}

/// What the recipient signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptStatement {
    /// Always `samordna-delivery-receipt`.
    #[serde(rename = "type")]
    pub receipt_type: ReceiptType,
    /// Format version, 1.
    pub version: u8,
    /// The envelope received.
    pub envelope_id: EnvelopeId,
    /// SHA-256 of its header bytes.
    #[serde(with = "hex32")]
    pub header_sha256: [u8; 32],
    /// Who received it.
    pub recipient: Party,
    /// When (the recipient's clock).
    #[serde(with = "rfc3339")]
    pub received_at: OffsetDateTime,
}

/// A signed delivery receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryReceipt(pub SignedStatement);

/// A receipt that verified.
#[derive(Clone, Debug)]
pub struct VerifiedReceipt {
    /// What was signed.
    pub statement: ReceiptStatement,
    /// Who signed it.
    pub signer: Identity,
}

/// Why a receipt was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The signature does not verify.
    #[error("the receipt's signature is not valid: {0}")]
    Signature(#[from] SignatureError),
    /// Not a receipt we understand.
    #[error("the receipt is malformed: {0}")]
    Malformed(String),
    /// For another envelope, or another version of it.
    #[error("the receipt is for another envelope (or a different header)")]
    WrongEnvelope,
    /// Signed by someone other than the recipient it names.
    #[error("the receipt names {claimed:?} as recipient but was signed by {signer}")]
    SignerMismatch {
        /// The recipient named.
        claimed: Box<Party>,
        /// Who signed.
        signer: Box<Identity>,
    },
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl From<StatementError> for ReceiptError {
    fn from(e: StatementError) -> Self {
        match e {
            StatementError::Signature(e) => ReceiptError::Signature(e),
            other => ReceiptError::Malformed(other.to_string()),
        }
    }
}

impl DeliveryReceipt {
    /// The recipient's receipt for an envelope whose header has digest `header_sha256`.
    pub fn create(
        signer: &Signer,
        envelope_id: &EnvelopeId,
        header_sha256: [u8; 32],
        received_at: OffsetDateTime,
    ) -> Result<Self, ReceiptError> {
        let id = signer.identity();
        let statement = ReceiptStatement {
            receipt_type: ReceiptType::DeliveryReceipt,
            version: 1,
            envelope_id: envelope_id.clone(),
            header_sha256,
            recipient: Party { principal: id.principal.clone(), user: id.hsa_id.clone() },
            received_at,
        };
        Ok(DeliveryReceipt(SignedStatement::sign(&statement, signer, received_at)?))
    }

    /// Verifies the receipt: signature and chain at `at`, the signer is the recipient it names,
    /// and it is for this envelope and header.
    pub fn verify(
        &self,
        trust: &TrustStore,
        at: OffsetDateTime,
        envelope_id: &EnvelopeId,
        header_sha256: &[u8; 32],
    ) -> Result<VerifiedReceipt, ReceiptError> {
        let (statement, verified): (ReceiptStatement, _) = self.0.verify(trust, at)?;
        if statement.version != 1 {
            return Err(ReceiptError::Malformed(format!("version {} is not supported", statement.version)));
        }
        if statement.envelope_id != *envelope_id || statement.header_sha256 != *header_sha256 {
            return Err(ReceiptError::WrongEnvelope);
        }
        let id = verified.signer.identity;
        if id.principal != statement.recipient.principal || id.hsa_id != statement.recipient.user {
            return Err(ReceiptError::SignerMismatch {
                claimed: Box::new(statement.recipient.clone()),
                signer: Box::new(id),
            });
        }
        Ok(VerifiedReceipt { statement, signer: id })
    }
}
