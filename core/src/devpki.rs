//! A development certificate authority (rcgen, ECDSA P-256): the federation that
//! `samordna-relay dev-federation` writes, and the certificates tests need (expired, revoked,
//! wrong usage…). Never for production: operators use their own CA (`certs/README.md`).
//!
//! Compiled only with the `dev-pki` feature (and in this crate's tests).

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    RevokedCertParams, SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::id::{HsaId, PrincipalId};

/// Why a development certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("could not generate a development certificate: {0}")]
pub struct DevPkiError(#[from] rcgen::Error);

/// What a person or system certificate may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// clientAuth, digitalSignature: what federation members get.
    ClientAndSigning,
    /// serverAuth only (a wrong-usage case for tests).
    ServerOnly,
    /// clientAuth, but key usage keyEncipherment only (a wrong-usage case for tests).
    NoDigitalSignature,
}

/// Subject and validity of a person's or system's certificate.
#[derive(Clone, Debug)]
pub struct PersonSpec {
    /// `organizationIdentifier`.
    pub principal: PrincipalId,
    /// `O`.
    pub organisation: String,
    /// `CN`.
    pub name: String,
    /// `serialNumber`.
    pub hsa_id: HsaId,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Key usages.
    pub usage: Usage,
}

/// A certificate with its private key, in PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The certificate (DER).
    pub cert_der: Vec<u8>,
    /// The PKCS#8 private key (PEM). A secret: write it with mode 0600.
    pub key_pem: String,
    /// The serial number, for revocation.
    pub serial: u64,
}

/// A development root CA.
pub struct DevCa {
    issuer: Issuer<'static, KeyPair>,
    cert: Issued,
    next_serial: std::cell::Cell<u64>,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").field("serial", &self.cert.serial).finish_non_exhaustive()
    }
}

fn random_serial_base() -> u64 {
    let mut b = [0u8; 8];
    // A failing system RNG leaves zeros; serials then start at 1, still unique within this CA.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u64::from_be_bytes(b) >> 2 // positive, and room to count up
}

impl DevCa {
    /// A new root CA named `name`, valid from `not_before` to `not_after`.
    pub fn new(
        name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Self, DevPkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let serial = random_serial_base() | 1;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "SE");
        dn.push(DnType::OrganizationName, name);
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(SerialNumber::from(serial));
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.self_signed(&key)?;
        let issued = Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            serial,
        };
        Ok(DevCa {
            issuer: Issuer::new(params, key),
            cert: issued,
            next_serial: std::cell::Cell::new(serial + 1),
        })
    }

    /// Loads an existing development root (its PEM certificate and PKCS#8 key), e.g. the one a
    /// `dev-federation` directory holds, to issue more certificates from it.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, DevPkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        let der = crate::cert::certificates_from_pem(cert_pem.as_bytes())
            .ok()
            .and_then(|mut v| (!v.is_empty()).then(|| v.remove(0).to_vec()))
            .ok_or(DevPkiError(rcgen::Error::CouldNotParseCertificate))?;
        let cert =
            Issued { cert_pem: cert_pem.to_owned(), cert_der: der, key_pem: key_pem.to_owned(), serial: 0 };
        Ok(DevCa { issuer, cert, next_serial: std::cell::Cell::new(random_serial_base() | 1) })
    }

    /// The root certificate and its key.
    pub fn root(&self) -> &Issued {
        &self.cert
    }

    fn serial(&self) -> u64 {
        let s = self.next_serial.get();
        self.next_serial.set(s + 1);
        s
    }

    /// A certificate for a person or system at a principal.
    pub fn issue_person(&self, spec: &PersonSpec) -> Result<Issued, DevPkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let serial = self.serial();
        let mut params = person_params(spec, serial)?;
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            serial,
        })
    }

    /// A TLS server certificate for the relay, valid for `names` (DNS names or IP addresses).
    pub fn issue_server(
        &self,
        names: &[&str],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued, DevPkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let serial = self.serial();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "SE");
        dn.push(DnType::CommonName, names.first().copied().unwrap_or("samordna-relay"));
        params.distinguished_name = dn;
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(SerialNumber::from(serial));
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        debug_assert!(
            params.subject_alt_names.iter().all(|s| matches!(s, SanType::DnsName(_) | SanType::IpAddress(_)))
        );
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            serial,
        })
    }

    /// A CRL listing `revoked` serial numbers, valid from `this_update` to `next_update`.
    pub fn crl(
        &self,
        crl_number: u64,
        revoked: &[u64],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, DevPkiError> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|&s| RevokedCertParams {
                    serial_number: SerialNumber::from(s),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

/// A person's certificate that is its own issuer, signed by its own key: a federation subject
/// without the federation's CA (a refusal case for tests).
pub fn self_signed_person(spec: &PersonSpec) -> Result<Issued, DevPkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let serial = random_serial_base() | 1;
    let cert = person_params(spec, serial)?.self_signed(&key)?;
    Ok(Issued { cert_pem: cert.pem(), cert_der: cert.der().to_vec(), key_pem: key.serialize_pem(), serial })
}

/// Subject, validity and usages of a person's or system's certificate.
fn person_params(spec: &PersonSpec, serial: u64) -> Result<CertificateParams, DevPkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "SE");
    dn.push(DnType::OrganizationName, spec.organisation.as_str());
    // organizationIdentifier (2.5.4.97) and serialNumber (2.5.4.5) are PrintableString in X.520.
    dn.push(
        DnType::CustomDnType(vec![2, 5, 4, 97]),
        DnValue::PrintableString(spec.principal.as_str().try_into()?),
    );
    dn.push(DnType::CommonName, spec.name.as_str());
    dn.push(
        DnType::CustomDnType(vec![2, 5, 4, 5]),
        DnValue::PrintableString(spec.hsa_id.as_str().try_into()?),
    );
    params.distinguished_name = dn;
    params.not_before = spec.not_before;
    params.not_after = spec.not_after;
    params.serial_number = Some(SerialNumber::from(serial));
    let (ku, eku) = match spec.usage {
        Usage::ClientAndSigning => (
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        ),
        Usage::ServerOnly => {
            (vec![KeyUsagePurpose::DigitalSignature], vec![ExtendedKeyUsagePurpose::ServerAuth])
        }
        Usage::NoDigitalSignature => {
            (vec![KeyUsagePurpose::KeyEncipherment], vec![ExtendedKeyUsagePurpose::ClientAuth])
        }
    };
    params.key_usages = ku;
    params.extended_key_usages = eku;
    Ok(params)
}
