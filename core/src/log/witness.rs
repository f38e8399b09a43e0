//! A principal vouching for its witness (cosigning) key, as a [`SignedStatement`] by a
//! certificate of the principal, so that auditors can tell which principals witnessed a checkpoint.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    cert::TrustStore,
    id::PrincipalId,
    log::note::{KeyType, VerifierKey},
    signature::{SignError, Signer},
    signed::{SignedStatement, StatementError},
};

/// The `type` of a witness-key statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WitnessKeyType {
    /// The only value.
    #[serde(rename = "samordna-witness-key")]
    WitnessKey,
}

/// What a principal states about its witness key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessKeyStatement {
    /// Always `samordna-witness-key`.
    #[serde(rename = "type")]
    pub statement_type: WitnessKeyType,
    /// Format version, 1.
    pub version: u8,
    /// Whose witness it is.
    pub principal: PrincipalId,
    /// The verifier key (`name+hexid+base64`, type 0x04 cosignature/v1).
    pub vkey: String,
}

/// Why a witness-key statement was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessKeyError {
    /// Signature or statement.
    #[error("the witness key statement is not valid: {0}")]
    Statement(#[from] StatementError),
    /// Not a cosignature/v1 verifier key.
    #[error("the witness key is not a cosignature/v1 verifier key: {0}")]
    Key(String),
    /// Signed by another principal than the one it names.
    #[error("a witness key of {statement} is vouched for by a certificate of {signer}")]
    WrongPrincipal {
        /// The principal named.
        statement: PrincipalId,
        /// The signer's principal.
        signer: PrincipalId,
    },
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// Makes the statement for `vkey`, signed by `signer` for its own principal.
pub fn attest(
    signer: &Signer,
    vkey: &VerifierKey,
    at: OffsetDateTime,
) -> Result<SignedStatement, WitnessKeyError> {
    if vkey.key_type() != KeyType::CosignatureV1 {
        return Err(WitnessKeyError::Key("a witness key must be of type cosignature/v1 (0x04)".into()));
    }
    let statement = WitnessKeyStatement {
        statement_type: WitnessKeyType::WitnessKey,
        version: 1,
        principal: signer.identity().principal.clone(),
        vkey: vkey.to_string(),
    };
    Ok(SignedStatement::sign(&statement, signer, at)?)
}

/// Verifies a statement: its signature and chain at `at`, the signer's principal, and the key.
pub fn verify(
    attestation: &SignedStatement,
    trust: &TrustStore,
    at: OffsetDateTime,
) -> Result<(WitnessKeyStatement, VerifierKey), WitnessKeyError> {
    let (statement, verified): (WitnessKeyStatement, _) = attestation.verify(trust, at)?;
    let signer = verified.signer.identity.principal;
    if signer != statement.principal {
        return Err(WitnessKeyError::WrongPrincipal { statement: statement.principal, signer });
    }
    let key = VerifierKey::parse(&statement.vkey).map_err(|e| WitnessKeyError::Key(e.to_string()))?;
    if key.key_type() != KeyType::CosignatureV1 || statement.version != 1 {
        return Err(WitnessKeyError::Key("a witness key must be of type cosignature/v1 (0x04)".into()));
    }
    Ok((statement, key))
}
