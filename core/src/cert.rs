//! Federation certificates: who a certificate names, and whether it chains to the federation root.
//!
//! Subject attributes, as the design brief fixes them (`docs/spec/envelope-v1.md` §2):
//!
//! | attribute | OID | meaning |
//! |---|---|---|
//! | `organizationIdentifier` | 2.5.4.97 | the principal id ([`PrincipalId`]) |
//! | `O` | 2.5.4.10 | the organisation's name |
//! | `CN` | 2.5.4.3 | the person or system |
//! | `serialNumber` | 2.5.4.5 | the person's or system's HSA-id ([`HsaId`]) |
//!
//! Chain validation is rustls-webpki's (RFC 5280 path building, ECDSA P-256/P-384 and RSA 2048+
//! PKCS#1 v1.5 and PSS through ring), with the CRLs of the [`TrustStore`] honoured for every
//! certificate of the chain.

use core::fmt;
use std::time::Duration;

use der::{Decode, asn1::ObjectIdentifier};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime, pem::PemObject};
use time::OffsetDateTime;
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_cert::ext::pkix::{KeyUsage as KeyUsageExt, name::DirectoryString};

use crate::id::{HsaId, IdError, PrincipalId};

const OID_ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");
const OID_ORGANIZATION_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// The signature algorithms we accept in certificate chains and CMS signatures.
pub(crate) static SIGNATURE_ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// Why a certificate was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The bytes are not a DER X.509 certificate, or a PEM file holds none.
    #[error("not a readable X.509 certificate: {0}")]
    Malformed(String),
    /// The subject lacks an attribute that federation certificates must carry.
    #[error("the certificate's subject has no {0}")]
    MissingAttribute(&'static str),
    /// An attribute is present twice, which would make the identity ambiguous.
    #[error("the certificate's subject has more than one {0}")]
    DuplicateAttribute(&'static str),
    /// An attribute is present but its value is not well formed.
    #[error("the certificate's {attribute} is not valid: {source}")]
    BadAttribute {
        /// Which attribute.
        attribute: &'static str,
        /// What is wrong with it.
        source: IdError,
    },
    /// The certificate's validity ended before the time of checking.
    #[error("the certificate expired (valid until {not_after})")]
    Expired {
        /// End of the validity period.
        not_after: OffsetDateTime,
    },
    /// The certificate's validity starts after the time of checking.
    #[error("the certificate is not valid yet (valid from {not_before})")]
    NotYetValid {
        /// Start of the validity period.
        not_before: OffsetDateTime,
    },
    /// A certificate of the chain is on its issuer's CRL.
    #[error("the certificate has been revoked")]
    Revoked,
    /// No CRL of the trust store covers a certificate of the chain, so its status is unknown.
    #[error("no certificate revocation list covers the certificate's issuer")]
    RevocationStatusUnknown,
    /// A CRL's nextUpdate has passed; a fresh CRL must be installed.
    #[error("the certificate revocation list has expired; install a fresh CRL from the CA")]
    CrlExpired,
    /// The chain does not lead to a federation root.
    #[error("the certificate was not issued by the federation's CA")]
    UnknownIssuer,
    /// A signature in the chain does not verify.
    #[error("a signature in the certificate chain is invalid")]
    BadChainSignature,
    /// The certificate may not be used for this purpose (extended key usage or key usage).
    #[error("the certificate is not allowed for {0}")]
    WrongUsage(&'static str),
    /// A trust anchor or CRL given to the trust store is unusable.
    #[error("the trust configuration is unusable: {0}")]
    BadTrustConfiguration(String),
    /// Any other rejection by the path validator.
    #[error("the certificate chain is invalid: {0:?}")]
    Chain(webpki::Error),
}

/// Who a federation certificate names.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The principal (`organizationIdentifier`).
    pub principal: PrincipalId,
    /// The organisation's name (`O`).
    pub organisation: String,
    /// The person or system (`CN`).
    pub name: String,
    /// The person's or system's HSA-id (`serialNumber`).
    pub hsa_id: HsaId,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}), {} [{}]", self.name, self.hsa_id, self.organisation, self.principal)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {} (HSA-id {})", self.name, self.organisation, self.hsa_id)
    }
}

impl Identity {
    /// Reads the identity from a DER certificate's subject. Does not validate the certificate.
    pub fn from_certificate(der: &[u8]) -> Result<Self, CertError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| CertError::Malformed(e.to_string()))?;
        let subject = &cert.tbs_certificate.subject;
        let attribute = |oid: ObjectIdentifier, label: &'static str| -> Result<String, CertError> {
            let mut found = None;
            for atv in subject.0.iter().flat_map(|rdn| rdn.0.iter()) {
                if atv.oid != oid {
                    continue;
                }
                if found.is_some() {
                    return Err(CertError::DuplicateAttribute(label));
                }
                let value: DirectoryString = crate::signature::decode_choice(&atv.value)
                    .map_err(|e| CertError::Malformed(format!("{label}: {e}")))?;
                found = Some(match value {
                    DirectoryString::PrintableString(s) => s.as_str().to_owned(),
                    DirectoryString::TeletexString(s) => s.as_str().to_owned(),
                    DirectoryString::Utf8String(s) => s,
                });
            }
            found.ok_or(CertError::MissingAttribute(label))
        };
        let principal = attribute(OID_ORGANIZATION_IDENTIFIER, "organizationIdentifier")?;
        let hsa_id = attribute(OID_SERIAL_NUMBER, "serialNumber (HSA-id)")?;
        Ok(Identity {
            principal: PrincipalId::parse(&principal)
                .map_err(|source| CertError::BadAttribute { attribute: "organizationIdentifier", source })?,
            organisation: attribute(OID_ORGANIZATION_NAME, "organizationName (O)")?,
            name: attribute(OID_COMMON_NAME, "commonName (CN)")?,
            hsa_id: HsaId::parse(&hsa_id)
                .map_err(|source| CertError::BadAttribute { attribute: "serialNumber (HSA-id)", source })?,
        })
    }
}

/// A certificate that chained to a federation root at the time of checking, with its identity.
#[derive(Clone, Debug)]
pub struct VerifiedCertificate {
    /// Who it names.
    pub identity: Identity,
    /// The certificate itself.
    pub der: CertificateDer<'static>,
}

impl VerifiedCertificate {
    /// SHA-256 of the DER certificate, as lower-case hex: how logs and receipts name a certificate.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.der)
    }
}

/// SHA-256 of a DER certificate, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der))
}

/// The federation's trust anchors and revocation lists.
///
/// When CRLs are configured, every certificate of a chain must be covered by one (a missing CRL
/// is an error, not a pass) and an expired CRL is refused. Without CRLs, revocation is not checked;
/// the relay refuses to start that way (`docs/operations.md`).
pub struct TrustStore {
    roots: Vec<CertificateDer<'static>>,
    anchors: Vec<rustls_pki_types::TrustAnchor<'static>>,
    crls_der: Vec<CertificateRevocationListDer<'static>>,
    crls: Vec<CertRevocationList<'static>>,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustStore")
            .field("roots", &self.roots.len())
            .field("crls", &self.crls.len())
            .finish()
    }
}

impl TrustStore {
    /// A trust store of the given root certificates and CRLs (DER).
    pub fn new(
        roots: Vec<CertificateDer<'static>>,
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<Self, CertError> {
        if roots.is_empty() {
            return Err(CertError::BadTrustConfiguration("no root certificate".into()));
        }
        let anchors = roots
            .iter()
            .map(|r| {
                webpki::anchor_from_trusted_cert(r)
                    .map(|a| a.to_owned())
                    .map_err(|e| CertError::BadTrustConfiguration(format!("root certificate: {e:?}")))
            })
            .collect::<Result<_, _>>()?;
        let parsed = crls
            .iter()
            .map(|c| {
                OwnedCertRevocationList::from_der(c)
                    .map(CertRevocationList::from)
                    .map_err(|e| CertError::BadTrustConfiguration(format!("CRL: {e:?}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustStore { roots, anchors, crls_der: crls, crls: parsed })
    }

    /// A trust store from PEM files: one or more root certificates, and zero or more CRLs.
    pub fn from_pem(roots_pem: &[u8], crls_pem: &[&[u8]]) -> Result<Self, CertError> {
        let roots = certificates_from_pem(roots_pem)?;
        let mut crls = Vec::new();
        for pem in crls_pem {
            for crl in CertificateRevocationListDer::pem_slice_iter(pem) {
                crls.push(crl.map_err(|e| CertError::BadTrustConfiguration(format!("CRL PEM: {e}")))?);
            }
        }
        Self::new(roots, crls)
    }

    /// The root certificates, for building a TLS verifier over the same trust.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The CRLs, for building a TLS verifier over the same trust.
    pub fn crls(&self) -> &[CertificateRevocationListDer<'static>] {
        &self.crls_der
    }

    /// Validates a signing certificate of a person or system at a principal: chain to a root at
    /// time `at`, not revoked, extended key usage clientAuth (if the extension is present), key
    /// usage digitalSignature or nonRepudiation (if present), and a well-formed federation identity.
    pub fn verify_signer(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        at: OffsetDateTime,
    ) -> Result<VerifiedCertificate, CertError> {
        let ee = EndEntityCert::try_from(end_entity).map_err(|e| CertError::Malformed(format!("{e:?}")))?;
        let crl_refs: Vec<&CertRevocationList<'_>> = self.crls.iter().collect();
        let revocation = match RevocationOptionsBuilder::new(&crl_refs) {
            Ok(builder) => Some(
                builder
                    .with_depth(RevocationCheckDepth::Chain)
                    .with_status_policy(UnknownStatusPolicy::Deny)
                    .with_expiration_policy(ExpirationPolicy::Enforce)
                    .build(),
            ),
            // No CRLs configured: revocation is not checked (see the type's documentation).
            Err(_) => None,
        };
        let result = ee.verify_for_usage(
            SIGNATURE_ALGORITHMS,
            &self.anchors,
            intermediates,
            unix_time(at),
            KeyUsage::client_auth(),
            revocation,
            None,
        );
        result.map_err(map_webpki_error)?;
        check_signing_key_usage(end_entity)?;
        Ok(VerifiedCertificate {
            identity: Identity::from_certificate(end_entity)?,
            der: end_entity.clone().into_owned(),
        })
    }
}

/// All certificates in a PEM file, in order.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Malformed(format!("PEM: {e}")))?;
    if certs.is_empty() {
        return Err(CertError::Malformed("the PEM file holds no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// The key usage extension, when present, must allow signatures.
fn check_signing_key_usage(der: &[u8]) -> Result<(), CertError> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| CertError::Malformed(e.to_string()))?;
    let Some(ext) = cert.tbs_certificate.extensions.iter().flatten().find(|e| e.extn_id == OID_KEY_USAGE)
    else {
        return Ok(());
    };
    let usage = KeyUsageExt::from_der(ext.extn_value.as_bytes())
        .map_err(|e| CertError::Malformed(format!("key usage: {e}")))?;
    if usage.digital_signature() || usage.non_repudiation() {
        Ok(())
    } else {
        Err(CertError::WrongUsage("signing (key usage lacks digitalSignature)"))
    }
}

/// For TLS client authentication the key usage extension, when present, must allow
/// digitalSignature: the client proves possession of its key by signing the handshake
/// (RFC 5280 §4.2.1.3; webpki checks only the extended key usage).
pub fn check_tls_client_key_usage(der: &[u8]) -> Result<(), CertError> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| CertError::Malformed(e.to_string()))?;
    let Some(ext) = cert.tbs_certificate.extensions.iter().flatten().find(|e| e.extn_id == OID_KEY_USAGE)
    else {
        return Ok(());
    };
    let usage = KeyUsageExt::from_der(ext.extn_value.as_bytes())
        .map_err(|e| CertError::Malformed(format!("key usage: {e}")))?;
    if usage.digital_signature() {
        Ok(())
    } else {
        Err(CertError::WrongUsage("client authentication (key usage lacks digitalSignature)"))
    }
}

/// Whether a certificate names itself as its issuer (a self-signed or self-issued certificate,
/// RFC 5280 §3.2). Says nothing about its signature; an unreadable certificate is not.
pub fn is_self_issued(der: &[u8]) -> bool {
    x509_cert::Certificate::from_der(der).is_ok_and(|c| c.tbs_certificate.issuer == c.tbs_certificate.subject)
}

pub(crate) fn unix_time(at: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(at.unix_timestamp()).unwrap_or(0)))
}

fn from_unix_time(t: UnixTime) -> OffsetDateTime {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[allow(deprecated)] // RequiredEkuNotFound: older webpki releases still return it
fn map_webpki_error(e: webpki::Error) -> CertError {
    use webpki::Error as W;
    match e {
        W::CertExpired { not_after, .. } => CertError::Expired { not_after: from_unix_time(not_after) },
        W::CertNotValidYet { not_before, .. } => {
            CertError::NotYetValid { not_before: from_unix_time(not_before) }
        }
        W::CertRevoked => CertError::Revoked,
        W::UnknownRevocationStatus => CertError::RevocationStatusUnknown,
        W::CrlExpired { .. } => CertError::CrlExpired,
        W::UnknownIssuer => CertError::UnknownIssuer,
        W::InvalidSignatureForPublicKey => CertError::BadChainSignature,
        W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) => {
            CertError::WrongUsage("client authentication and signing (extended key usage)")
        }
        W::CaUsedAsEndEntity => CertError::WrongUsage("a person or system (it is a CA certificate)"),
        W::BadDer | W::BadDerTime => CertError::Malformed(format!("{e:?}")),
        other => CertError::Chain(other),
    }
}
