//! Detached CMS SignedData (RFC 5652 §5), made with ring and checked by one verifier.
//!
//! What we produce (`docs/spec/envelope-v1.md` §3), so that `openssl cms -verify -binary` accepts it
//! and a recipient can archive a signed document as evidence with no Samordna software:
//!
//! ```text
//! ContentInfo { id-signedData, SignedData {
//!   version 1, digestAlgorithms { sha256 },
//!   encapContentInfo { id-data }                      -- detached: no eContent
//!   certificates { signer's certificate, then any intermediates it was loaded with }
//!   signerInfos { SignerInfo {
//!     version 1, sid issuerAndSerialNumber, digestAlgorithm sha256,
//!     signedAttrs { content-type id-data, signing-time, message-digest,
//!                   signing-certificate-v2 (RFC 5035: SHA-256 of the certificate, issuer and serial) },
//!     signatureAlgorithm ecdsa-with-SHA256, signature (DER ECDSA-Sig-Value) } } } }
//! ```
//!
//! The verifier accepts exactly one signer, ECDSA (P-256, P-384) and RSA 2048+ (PKCS#1 v1.5, and
//! PSS with MGF1 over the same hash and a salt as long as the hash), SHA-256/384/512; it checks the
//! content-type attribute, the message digest, the signature over the DER signed attributes,
//! signing-certificate-v2 when present, and the signer's chain through [`TrustStore::verify_signer`].
//! Signed attributes are re-encoded as DER before verification: signers that emit non-DER
//! attribute sets are not supported.

use core::fmt;
use std::time::Duration;

use cms::{
    cert::{CertificateChoices, IssuerAndSerialNumber},
    content_info::{CmsVersion, ContentInfo},
    signed_data::{
        CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier, SignerInfo,
        SignerInfos,
    },
};
use der::{
    Any, Decode, Encode, Sequence,
    asn1::{GeneralizedTime, ObjectIdentifier, OctetString, SetOfVec, UtcTime},
};
use ring::{
    digest,
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair},
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use time::OffsetDateTime;
use webpki::EndEntityCert;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::{
    attr::Attribute,
    ext::pkix::{SubjectKeyIdentifier, name::GeneralName},
    serial_number::SerialNumber,
    time::Time,
};

use crate::cert::{self, CertError, Identity, TrustStore, VerifiedCertificate};

// RFC 5652 §4, §5.1, §11; RFC 5035 §3; RFC 5754 §2–3; RFC 5758 §3.2; RFC 8017 Appendix A.
const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const OID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// Largest CMS signature we parse (a chain of a few RSA-4096 certificates fits easily).
pub const MAX_SIGNATURE_LEN: usize = 64 * 1024;

/// A digest algorithm a signer may use for the message digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// SHA-256 (what we use).
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            OID_SHA256 => Some(Self::Sha256),
            OID_SHA384 => Some(Self::Sha384),
            OID_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The ring algorithm that computes it.
    pub fn ring(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

/// Why a signature could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// ring refused to sign (only on a broken random source).
    #[error("the signing key could not sign")]
    Crypto,
    /// The structure could not be encoded (a certificate that does not parse, a time out of range).
    #[error("the signature could not be encoded: {0}")]
    Encoding(String),
}

/// Why a signing key and its certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The key file holds no PKCS#8 key.
    #[error(
        "the private key is not a PKCS#8 key (a \"PRIVATE KEY\" PEM block); convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.p8`"
    )]
    NotPkcs8,
    /// The key is not an ECDSA P-256 key.
    #[error("the private key is not an ECDSA P-256 key; Samordna signs with P-256 only")]
    UnsupportedKey,
    /// The certificate is not the one for this key.
    #[error("the certificate does not belong to the private key")]
    KeyMismatch,
    /// The certificate is unreadable or lacks the federation identity.
    #[error(transparent)]
    Certificate(#[from] CertError),
}

/// Why a signature was not accepted. Each variant names a distinct failure a test can observe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The bytes are not a CMS SignedData structure we can read.
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    /// The SignedData carries its content (we only accept detached signatures).
    #[error("the signature is not detached (it carries content)")]
    NotDetached,
    /// An algorithm we do not accept.
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// The signed message digest does not match the content: the content was changed.
    #[error("the signed content was changed (message digest mismatch)")]
    DigestMismatch,
    /// The signature value does not verify with the signer's key.
    #[error("the signature value is invalid")]
    BadSignature,
    /// The SignedData does not include the signer's certificate.
    #[error("the signature does not include the signer's certificate")]
    SignerCertificateMissing,
    /// The signing-certificate-v2 attribute names another certificate than the one that verified.
    #[error("the signing-certificate attribute does not match the signer's certificate")]
    SigningCertificateMismatch,
    /// The signer's certificate does not chain to the federation root at the time of checking.
    #[error("the signer's certificate is not acceptable: {0}")]
    Certificate(#[from] CertError),
}

/// A signature that verified: the signer (chained to the root) and the signed signing time.
#[derive(Clone, Debug)]
pub struct VerifiedSignature {
    /// The signer's validated certificate and identity.
    pub signer: VerifiedCertificate,
    /// The signing-time attribute, if present. The signer's claim, not a trusted timestamp.
    pub signing_time: Option<OffsetDateTime>,
}

/// A person's or system's signing key (ECDSA P-256) with its certificate chain.
pub struct Signer {
    key: EcdsaKeyPair,
    chain: Vec<CertificateDer<'static>>,
    identity: Identity,
    issuer_and_serial: IssuerAndSerialNumber,
    cert_sha256: [u8; 32],
    rng: SystemRandom,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("identity", &self.identity).finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads a signer from PEM: the certificate (optionally followed by intermediates) and a PKCS#8 key.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, SignerError> {
        let chain = cert::certificates_from_pem(cert_chain_pem)?;
        let key = match PrivateKeyDer::from_pem_slice(key_pem) {
            Ok(PrivateKeyDer::Pkcs8(k)) => k,
            _ => return Err(SignerError::NotPkcs8),
        };
        Self::from_der(chain, key.secret_pkcs8_der())
    }

    /// Loads a signer from DER: the certificate chain (signer first) and a PKCS#8 key.
    pub fn from_der(chain: Vec<CertificateDer<'static>>, pkcs8: &[u8]) -> Result<Self, SignerError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|_| SignerError::UnsupportedKey)?;
        let Some(leaf) = chain.first() else {
            return Err(CertError::Malformed("no certificate".into()).into());
        };
        let parsed =
            x509_cert::Certificate::from_der(leaf).map_err(|e| CertError::Malformed(e.to_string()))?;
        let spki = parsed.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
        if spki != key.public_key().as_ref() {
            return Err(SignerError::KeyMismatch);
        }
        let identity = Identity::from_certificate(leaf)?;
        let issuer_and_serial = IssuerAndSerialNumber {
            issuer: parsed.tbs_certificate.issuer.clone(),
            serial_number: parsed.tbs_certificate.serial_number.clone(),
        };
        let cert_sha256 = sha256(leaf);
        Ok(Signer { key, chain, identity, issuer_and_serial, cert_sha256, rng })
    }

    /// Who signs.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// A detached signature over `content`.
    pub fn sign_detached(&self, content: &[u8], signing_time: OffsetDateTime) -> Result<Vec<u8>, SignError> {
        self.sign_sha256_digest(&sha256(content), signing_time)
    }

    /// A detached signature over content whose SHA-256 the caller computed (streaming signers).
    pub fn sign_sha256_digest(
        &self,
        digest: &[u8; 32],
        signing_time: OffsetDateTime,
    ) -> Result<Vec<u8>, SignError> {
        let enc = |e: der::Error| SignError::Encoding(e.to_string());
        let signed_attrs = self.signed_attributes(digest, signing_time)?;
        let to_sign = signed_attrs.to_der().map_err(enc)?;
        let sig = self.key.sign(&self.rng, &to_sign).map_err(|_| SignError::Crypto)?;
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(self.issuer_and_serial.clone()),
            digest_alg: algorithm(OID_SHA256),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: algorithm(OID_ECDSA_SHA256),
            signature: OctetString::new(sig.as_ref()).map_err(enc)?,
            unsigned_attrs: None,
        };
        let certificates = self
            .chain
            .iter()
            .map(|c| x509_cert::Certificate::from_der(c).map(CertificateChoices::Certificate))
            .collect::<Result<Vec<_>, _>>()
            .map_err(enc)?;
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![algorithm(OID_SHA256)]).map_err(enc)?,
            encap_content_info: EncapsulatedContentInfo { econtent_type: OID_DATA, econtent: None },
            certificates: Some(CertificateSet::try_from(certificates).map_err(enc)?),
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(enc)?,
        };
        ContentInfo { content_type: OID_SIGNED_DATA, content: Any::encode_from(&signed_data).map_err(enc)? }
            .to_der()
            .map_err(enc)
    }

    fn signed_attributes(
        &self,
        digest: &[u8; 32],
        signing_time: OffsetDateTime,
    ) -> Result<SignedAttributes, SignError> {
        let enc = |e: der::Error| SignError::Encoding(e.to_string());
        let attr = |oid: ObjectIdentifier, value: Any| -> Result<Attribute, SignError> {
            Ok(Attribute { oid, values: SetOfVec::try_from(vec![value]).map_err(enc)? })
        };
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None, // DEFAULT sha256 (RFC 5035 §5.4.1.1): omitted in DER
                cert_hash: OctetString::new(self.cert_sha256.as_slice()).map_err(enc)?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(self.issuer_and_serial.issuer.clone())],
                    serial_number: self.issuer_and_serial.serial_number.clone(),
                }),
            }],
            policies: None,
        };
        let attrs = vec![
            attr(OID_CONTENT_TYPE, Any::encode_from(&OID_DATA).map_err(enc)?)?,
            attr(OID_SIGNING_TIME, Any::encode_from(&to_asn1_time(signing_time)?).map_err(enc)?)?,
            attr(
                OID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(digest.as_slice()).map_err(enc)?).map_err(enc)?,
            )?,
            attr(OID_SIGNING_CERTIFICATE_V2, Any::encode_from(&ess).map_err(enc)?)?,
        ];
        // SET OF is sorted into DER order here, and the signature is over exactly that encoding.
        SetOfVec::try_from(attrs).map_err(enc)
    }
}

/// Verifies a detached signature over `content`.
pub fn verify_detached(
    signature: &[u8],
    content: &[u8],
    trust: &TrustStore,
    at: OffsetDateTime,
) -> Result<VerifiedSignature, SignatureError> {
    verify(signature, |alg| Ok(digest::digest(alg.ring(), content).as_ref().to_vec()), trust, at)
}

/// Verifies a detached signature over content whose SHA-256 the caller computed while streaming.
/// A signature that used another digest algorithm is refused as unsupported.
pub fn verify_detached_sha256(
    signature: &[u8],
    content_sha256: &[u8; 32],
    trust: &TrustStore,
    at: OffsetDateTime,
) -> Result<VerifiedSignature, SignatureError> {
    verify(
        signature,
        |alg| match alg {
            DigestAlgorithm::Sha256 => Ok(content_sha256.to_vec()),
            other => Err(SignatureError::Unsupported(format!("digest {other:?} where SHA-256 is required"))),
        },
        trust,
        at,
    )
}

fn verify(
    signature: &[u8],
    content_digest: impl FnOnce(DigestAlgorithm) -> Result<Vec<u8>, SignatureError>,
    trust: &TrustStore,
    at: OffsetDateTime,
) -> Result<VerifiedSignature, SignatureError> {
    let malformed = |what: &str, e: der::Error| SignatureError::Malformed(format!("{what}: {e}"));
    if signature.len() > MAX_SIGNATURE_LEN {
        return Err(SignatureError::Malformed("longer than 64 KiB".into()));
    }
    let ci = ContentInfo::from_der(signature).map_err(|e| malformed("ContentInfo", e))?;
    if ci.content_type != OID_SIGNED_DATA {
        return Err(SignatureError::Malformed("not a SignedData".into()));
    }
    let sd: SignedData = ci.content.decode_as().map_err(|e| malformed("SignedData", e))?;
    if sd.encap_content_info.econtent.is_some() {
        return Err(SignatureError::NotDetached);
    }
    let [si] = sd.signer_infos.0.as_slice() else {
        return Err(SignatureError::Malformed("exactly one signer is required".into()));
    };
    let certs: Vec<&x509_cert::Certificate> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let signer_cert = certs
        .iter()
        .copied()
        .find(|c| identifies(&si.sid, c))
        .ok_or(SignatureError::SignerCertificateMissing)?;
    let signer_der = signer_cert.to_der().map_err(|e| malformed("certificate", e))?;

    let attrs =
        si.signed_attrs.as_ref().ok_or_else(|| SignatureError::Malformed("no signed attributes".into()))?;
    let content_type: ObjectIdentifier = single_attr(attrs, OID_CONTENT_TYPE, "content-type")?
        .ok_or_else(|| SignatureError::Malformed("no content-type attribute".into()))?
        .decode_as()
        .map_err(|e| malformed("content-type", e))?;
    if content_type != sd.encap_content_info.econtent_type {
        return Err(SignatureError::Malformed("content-type attribute disagrees with the content".into()));
    }
    let signed_digest: OctetString = single_attr(attrs, OID_MESSAGE_DIGEST, "message-digest")?
        .ok_or_else(|| SignatureError::Malformed("no message-digest attribute".into()))?
        .decode_as()
        .map_err(|e| malformed("message-digest", e))?;
    let signing_time = match single_attr(attrs, OID_SIGNING_TIME, "signing-time")? {
        Some(v) => {
            let t: Time = decode_choice(v).map_err(|e| malformed("signing-time", e))?;
            Some(from_duration(t.to_unix_duration()))
        }
        None => None,
    };

    let digest_alg = DigestAlgorithm::from_oid(&si.digest_alg.oid)
        .ok_or_else(|| SignatureError::Unsupported(format!("digest algorithm {}", si.digest_alg.oid)))?;
    let computed = content_digest(digest_alg)?;
    // Not a secret: a plain comparison leaks nothing an attacker could not compute.
    if computed != signed_digest.as_bytes() {
        return Err(SignatureError::DigestMismatch);
    }

    let message = attrs.to_der().map_err(|e| malformed("signed attributes", e))?;
    let signer_cert_der = CertificateDer::from(signer_der.as_slice());
    let ee = EndEntityCert::try_from(&signer_cert_der)
        .map_err(|e| SignatureError::Certificate(CertError::Malformed(format!("{e:?}"))))?;
    let candidates = signature_algorithms(&si.signature_algorithm, digest_alg)?;
    let mut outcome = Err(SignatureError::Unsupported(format!(
        "signature algorithm {} for this key",
        si.signature_algorithm.oid
    )));
    for alg in candidates {
        match ee.verify_signature(*alg, &message, si.signature.as_bytes()) {
            Ok(()) => {
                outcome = Ok(());
                break;
            }
            Err(webpki::Error::InvalidSignatureForPublicKey) => outcome = Err(SignatureError::BadSignature),
            Err(_) => {} // another curve or key type: try the next candidate
        }
    }
    outcome?;

    if let Some(v) = single_attr(attrs, OID_SIGNING_CERTIFICATE_V2, "signing-certificate-v2")? {
        let ess: SigningCertificateV2 = v.decode_as().map_err(|e| malformed("signing-certificate-v2", e))?;
        check_signing_certificate(&ess, signer_cert, &signer_der)?;
    }

    let intermediates: Vec<CertificateDer<'static>> = certs
        .iter()
        .filter(|c| !core::ptr::eq(**c, signer_cert))
        .filter_map(|c| c.to_der().ok().map(CertificateDer::from))
        .collect();
    let signer = trust.verify_signer(&signer_cert_der, &intermediates, at)?;
    Ok(VerifiedSignature { signer, signing_time })
}

/// The one value of a signed attribute that must occur at most once with exactly one value
/// (RFC 5652 §11.1–11.3).
fn single_attr<'a>(
    attrs: &'a SignedAttributes,
    oid: ObjectIdentifier,
    label: &str,
) -> Result<Option<&'a Any>, SignatureError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let Some(first) = found.next() else { return Ok(None) };
    if found.next().is_some() || first.values.len() != 1 {
        return Err(SignatureError::Malformed(format!("{label} attribute must occur once, with one value")));
    }
    Ok(first.values.get(0))
}

fn identifies(sid: &SignerIdentifier, cert: &x509_cert::Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == cert.tbs_certificate.issuer
                && ias.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == OID_SUBJECT_KEY_IDENTIFIER)
            .any(|e| {
                SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).is_ok_and(|found| found == *ski)
            }),
    }
}

type Algorithms = &'static [&'static dyn rustls_pki_types::SignatureVerificationAlgorithm];

static ECDSA_SHA256: Algorithms = &[webpki::ring::ECDSA_P256_SHA256, webpki::ring::ECDSA_P384_SHA256];
static ECDSA_SHA384: Algorithms = &[webpki::ring::ECDSA_P384_SHA384, webpki::ring::ECDSA_P256_SHA384];
static RSA_PKCS1_SHA256: Algorithms = &[webpki::ring::RSA_PKCS1_2048_8192_SHA256];
static RSA_PKCS1_SHA384: Algorithms = &[webpki::ring::RSA_PKCS1_2048_8192_SHA384];
static RSA_PKCS1_SHA512: Algorithms = &[webpki::ring::RSA_PKCS1_2048_8192_SHA512];
static RSA_PSS_SHA256: Algorithms = &[webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY];
static RSA_PSS_SHA384: Algorithms = &[webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY];
static RSA_PSS_SHA512: Algorithms = &[webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY];

/// The candidate verifiers for a SignerInfo's signature algorithm (one per possible key type).
fn signature_algorithms(
    alg: &AlgorithmIdentifierOwned,
    digest_alg: DigestAlgorithm,
) -> Result<Algorithms, SignatureError> {
    let pkcs1 = |d: DigestAlgorithm| match d {
        DigestAlgorithm::Sha256 => RSA_PKCS1_SHA256,
        DigestAlgorithm::Sha384 => RSA_PKCS1_SHA384,
        DigestAlgorithm::Sha512 => RSA_PKCS1_SHA512,
    };
    Ok(match alg.oid {
        OID_ECDSA_SHA256 => ECDSA_SHA256,
        OID_ECDSA_SHA384 => ECDSA_SHA384,
        OID_SHA256_RSA => RSA_PKCS1_SHA256,
        OID_SHA384_RSA => RSA_PKCS1_SHA384,
        OID_SHA512_RSA => RSA_PKCS1_SHA512,
        // OpenSSL and many others name only the key algorithm and let the digest algorithm pick the hash.
        OID_RSA_ENCRYPTION => pkcs1(digest_alg),
        OID_RSASSA_PSS => match pss_hash(alg)? {
            DigestAlgorithm::Sha256 => RSA_PSS_SHA256,
            DigestAlgorithm::Sha384 => RSA_PSS_SHA384,
            DigestAlgorithm::Sha512 => RSA_PSS_SHA512,
        },
        other => return Err(SignatureError::Unsupported(format!("signature algorithm {other}"))),
    })
}

/// Decodes a CHOICE type (which `Any::decode_as` cannot) from an attribute value.
pub(crate) fn decode_choice<T: for<'b> Decode<'b>>(v: &Any) -> der::Result<T> {
    T::from_der(&v.to_der()?)
}

/// RSASSA-PSS-params (RFC 8017 Appendix A.2.3). ring verifies PSS with MGF1 over the message hash
/// and a salt as long as the hash, so exactly those parameters are accepted.
#[derive(Sequence)]
struct RsaPssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

fn pss_hash(alg: &AlgorithmIdentifierOwned) -> Result<DigestAlgorithm, SignatureError> {
    let unsupported = |why: &str| SignatureError::Unsupported(format!("RSASSA-PSS parameters: {why}"));
    let params: RsaPssParams = alg
        .parameters
        .as_ref()
        .ok_or_else(|| unsupported("absent (SHA-1 defaults)"))?
        .decode_as()
        .map_err(|e| SignatureError::Malformed(format!("RSASSA-PSS parameters: {e}")))?;
    let hash = params
        .hash
        .as_ref()
        .and_then(|h| DigestAlgorithm::from_oid(&h.oid))
        .ok_or_else(|| unsupported("hash must be SHA-256, SHA-384 or SHA-512"))?;
    let mgf = params.mask_gen.as_ref().ok_or_else(|| unsupported("MGF1 with SHA-1"))?;
    let mgf_hash: Option<AlgorithmIdentifierOwned> = match &mgf.parameters {
        Some(p) if mgf.oid == OID_MGF1 => p.decode_as().ok(),
        _ => None,
    };
    if mgf_hash.and_then(|h| DigestAlgorithm::from_oid(&h.oid)) != Some(hash) {
        return Err(unsupported("MGF1 must use the same hash"));
    }
    let salt = usize::try_from(params.salt_length.unwrap_or(20)).unwrap_or(usize::MAX);
    if salt != hash.ring().output_len() {
        return Err(unsupported("the salt must be as long as the hash"));
    }
    if params.trailer_field.unwrap_or(1) != 1 {
        return Err(unsupported("trailer field"));
    }
    Ok(hash)
}

/// SigningCertificateV2 (RFC 5035 §3).
#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// ESSCertIDv2; `hash_algorithm` absent means SHA-256.
#[derive(Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// RFC 5035 §5.4: the first ESSCertIDv2 identifies the signing certificate.
fn check_signing_certificate(
    ess: &SigningCertificateV2,
    cert: &x509_cert::Certificate,
    cert_der: &[u8],
) -> Result<(), SignatureError> {
    let first = ess.certs.first().ok_or(SignatureError::SigningCertificateMismatch)?;
    let alg = match &first.hash_algorithm {
        None => DigestAlgorithm::Sha256,
        Some(a) => DigestAlgorithm::from_oid(&a.oid)
            .ok_or_else(|| SignatureError::Unsupported(format!("signing-certificate hash {}", a.oid)))?,
    };
    if digest::digest(alg.ring(), cert_der).as_ref() != first.cert_hash.as_bytes() {
        return Err(SignatureError::SigningCertificateMismatch);
    }
    if let Some(is) = &first.issuer_serial {
        let issuer_matches = is
            .issuer
            .iter()
            .any(|g| matches!(g, GeneralName::DirectoryName(n) if *n == cert.tbs_certificate.issuer));
        if !issuer_matches || is.serial_number != cert.tbs_certificate.serial_number {
            return Err(SignatureError::SigningCertificateMismatch);
        }
    }
    Ok(())
}

fn algorithm(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid, parameters: None }
}

/// RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime otherwise.
fn to_asn1_time(t: OffsetDateTime) -> Result<Time, SignError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| SignError::Encoding("signing time before 1970".into()))?;
    let dt = der::DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|e| SignError::Encoding(e.to_string()))?;
    Ok(if dt.year() < 2050 {
        Time::UtcTime(UtcTime::from_date_time(dt).map_err(|e| SignError::Encoding(e.to_string()))?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_date_time(dt))
    })
}

fn from_duration(d: Duration) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}
