//! A throwaway federation: a development root with an (empty) CRL, a sending municipality and a
//! receiving region whose encryption key is attested and verified as a client would.
//!
//! The parent process writes it to a directory once; the parent and the child processes that
//! measure peak memory load it from there, so that all of them seal to, and open with, the same keys.

use std::{fs, path::Path};

use anyhow::{Context, Result};
use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, HsaId, PrincipalId, Signer, TrustStore,
    attestation::KeyAttestation,
    devpki::{DevCa, PersonSpec, Usage},
    envelope::{RecipientKey, RecipientSecret, SealParams},
};
use time::{Duration, OffsetDateTime};

const SENDER_PRINCIPAL: &str = "SE2120000449";
const REGION_PRINCIPAL: &str = "SE2321000032";

pub const ROOT: &str = "root.pem";
pub const CRL: &str = "crl.pem";
pub const SENDER_CERT: &str = "sender.pem";
pub const SENDER_KEY: &str = "sender.key";
const REGION_CERT: &str = "region.pem";
const REGION_KEY: &str = "region.key";
const RECIPIENT_SECRET: &str = "recipient.x25519";

/// Everything sealing and opening need.
#[derive(Debug)]
pub struct Federation {
    pub trust: TrustStore,
    /// A social worker at the municipality: signs the document and the header.
    pub sender: Signer,
    /// The region's attested encryption key.
    pub recipient: RecipientKey,
    /// Its private half, for opening.
    pub keys: Vec<RecipientSecret>,
}

fn person(
    principal: &str,
    organisation: &str,
    name: &str,
    hsa_id: &str,
    now: OffsetDateTime,
) -> Result<PersonSpec> {
    Ok(PersonSpec {
        principal: PrincipalId::parse(principal)?,
        organisation: organisation.into(),
        name: name.into(),
        hsa_id: HsaId::parse(hsa_id)?,
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(30),
        usage: Usage::ClientAndSigning,
    })
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> Result<()> {
    let path = dir.join(name);
    fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// Generates the federation into `dir` (which should be private: it holds private keys, though
/// only throwaway ones), with certificates valid around `now`.
pub fn generate(dir: &Path, now: OffsetDateTime) -> Result<()> {
    let ca = DevCa::new("Samordna benchmark federation", now - Duration::days(1), now + Duration::days(30))?;
    let sender = ca.issue_person(&person(
        SENDER_PRINCIPAL,
        "Linköpings kommun",
        "Karin Berg",
        "SE2120000449-kb01",
        now,
    )?)?;
    let region = ca.issue_person(&person(
        REGION_PRINCIPAL,
        "Region Östergötland",
        "Anna Lind",
        "SE2321000032-al01",
        now,
    )?)?;
    let crl = ca.crl(1, &[], now - Duration::days(1), now + Duration::days(30))?;
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;

    write(dir, ROOT, ca.root().cert_pem.as_bytes())?;
    write(dir, CRL, crl.as_bytes())?;
    write(dir, SENDER_CERT, sender.cert_pem.as_bytes())?;
    write(dir, SENDER_KEY, sender.key_pem.as_bytes())?;
    write(dir, REGION_CERT, region.cert_pem.as_bytes())?;
    write(dir, REGION_KEY, region.key_pem.as_bytes())?;
    write(dir, RECIPIENT_SECRET, &secret)
}

impl Federation {
    /// Loads what [`generate`] wrote. The region attests its key and the attestation is verified,
    /// so the recipient key comes from an [`samordna_core::attestation::AttestedKey`] as in the client.
    pub fn load(dir: &Path, now: OffsetDateTime) -> Result<Self> {
        let crl = read(dir, CRL)?;
        let trust = TrustStore::from_pem(&read(dir, ROOT)?, &[crl.as_slice()])?;
        let sender = Signer::from_pem(&read(dir, SENDER_CERT)?, &read(dir, SENDER_KEY)?)?;
        let region = Signer::from_pem(&read(dir, REGION_CERT)?, &read(dir, REGION_KEY)?)?;
        let secret: [u8; 32] = read(dir, RECIPIENT_SECRET)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("{RECIPIENT_SECRET} is not 32 bytes"))?;
        let secret = RecipientSecret::from_bytes(secret);
        let attestation = KeyAttestation::create(
            &region,
            &secret.public_key(),
            now - Duration::hours(1),
            now + Duration::days(30),
            now,
        )?;
        let attested = attestation.verify(&trust, now)?;
        Ok(Federation { trust, sender, recipient: RecipientKey::from(&attested), keys: vec![secret] })
    }

    /// Parameters for one envelope to the region, with fresh identifiers.
    pub fn params(&self, now: OffsetDateTime) -> Result<SealParams> {
        let mut ids = [0u8; 48];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut ids)
            .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
        let id = |i: usize| -> [u8; 16] {
            let mut b = [0u8; 16];
            b.copy_from_slice(&ids[16 * i..16 * (i + 1)]);
            b
        };
        Ok(SealParams {
            envelope_id: EnvelopeId::from_random_bytes(id(0)),
            case_id: CaseId::from_random_bytes(id(1)),
            consent_id: ConsentId::from_random_bytes(id(2)),
            content_kind: ContentKind::Attachment,
            recipients: vec![self.recipient.clone()],
            media_type: "application/octet-stream".into(),
            file_name: Some("payload.bin".into()),
            created: now,
        })
    }
}
