//! Samordna's core: the formats and the cryptography that the relay and the clients share.
//!
//! Pure code: no files, sockets, clocks or databases. Callers pass time in (`at`, `created`) and
//! hand over readers and writers.
//!
//! - [`id`]: parsed identifiers (principal, HSA-id, case, consent, envelope, key).
//! - [`cert`]: the identity in a federation certificate; chain validation with CRLs.
//! - [`signature`]: detached CMS SignedData made with ring, and its verifier.
//! - [`hpke`]: RFC 9180 base mode on X25519 and ring.
//! - [`stream`]: the chunked payload cipher.
//! - [`attestation`]: principals vouching for their encryption keys.
//! - [`envelope`]: format v1, sealing and opening.
//!
//! The normative description is `docs/spec/envelope-v1.md`.

pub mod api;
pub mod attestation;
pub mod audit;
pub mod cert;
pub mod consent;
#[cfg(any(test, feature = "dev-pki"))]
pub mod devpki;
pub mod encoding;
pub mod envelope;
pub mod hpke;
pub mod id;
pub mod kind;
pub mod log;
pub mod personnummer;
pub mod plan;
pub mod profile;
pub mod receipt;
pub mod signature;
pub mod signed;
pub mod stream;
#[cfg(test)]
mod testkit;

pub use cert::{CertError, Identity, TrustStore, VerifiedCertificate};
pub use id::{CaseId, ConsentId, EnvelopeId, HsaId, IdError, KeyId, PrincipalId};
pub use kind::ContentKind;
pub use signature::{SignatureError, Signer, VerifiedSignature};
