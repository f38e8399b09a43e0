//! A small federation for this crate's tests: a root, a CRL, signers at three principals, and
//! certificates that must fail (expired, revoked, another CA).

use time::{OffsetDateTime, macros::datetime};

use crate::{
    attestation::KeyAttestation,
    cert::TrustStore,
    devpki::{DevCa, Issued, PersonSpec, Usage},
    envelope::{RecipientKey, RecipientSecret},
    id::{HsaId, PrincipalId},
    signature::Signer,
};

/// The time every test checks at.
pub const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

pub const KOMMUN: &str = "SE2120000449";
pub const REGION: &str = "SE2321000032";
pub const SKOLA: &str = "SE5569875437";

pub struct Fixture {
    pub trust: TrustStore,
    pub kommun: Signer,
    pub kommun_colleague: Signer,
    pub region: Signer,
    pub skola: Signer,
    pub expired: Signer,
    pub revoked: Signer,
    pub foreign: Signer,
}

pub fn person(principal: &str, org: &str, name: &str, hsa: &str) -> PersonSpec {
    PersonSpec {
        principal: PrincipalId::parse(principal).unwrap(),
        organisation: org.into(),
        name: name.into(),
        hsa_id: HsaId::parse(hsa).unwrap(),
        not_before: datetime!(2026-01-01 0:00 UTC),
        not_after: datetime!(2028-01-01 0:00 UTC),
        usage: Usage::ClientAndSigning,
    }
}

pub fn signer(i: &Issued) -> Signer {
    Signer::from_pem(i.cert_pem.as_bytes(), i.key_pem.as_bytes()).unwrap()
}

impl Fixture {
    pub fn new() -> Self {
        let ca = DevCa::new(
            "Samordna testfederation",
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2036-01-01 0:00 UTC),
        )
        .unwrap();
        let kommun =
            ca.issue_person(&person(KOMMUN, "Linköpings kommun", "Karin Berg", "SE2120000449-kb01")).unwrap();
        let colleague = ca
            .issue_person(&person(KOMMUN, "Linköpings kommun", "Omar Haddad", "SE2120000449-oh02"))
            .unwrap();
        let region = ca
            .issue_person(&person(REGION, "Region Östergötland", "Anna Lind", "SE2321000032-al01"))
            .unwrap();
        let skola =
            ca.issue_person(&person(SKOLA, "Stångåskolan AB", "Lars Ek", "SE5569875437-le01")).unwrap();
        let mut old = person(KOMMUN, "Linköpings kommun", "Eva Gammal", "SE2120000449-eg03");
        old.not_before = datetime!(2025-01-01 0:00 UTC);
        old.not_after = datetime!(2026-01-01 0:00 UTC);
        let expired = ca.issue_person(&old).unwrap();
        let revoked = ca
            .issue_person(&person(KOMMUN, "Linköpings kommun", "Rolf Spärrad", "SE2120000449-rs04"))
            .unwrap();
        let crl = ca
            .crl(1, &[revoked.serial], datetime!(2026-11-01 0:00 UTC), datetime!(2027-11-01 0:00 UTC))
            .unwrap();
        let trust = TrustStore::from_pem(ca.root().cert_pem.as_bytes(), &[crl.as_bytes()]).unwrap();

        let other_ca =
            DevCa::new("Någon annan CA", datetime!(2025-01-01 0:00 UTC), datetime!(2036-01-01 0:00 UTC))
                .unwrap();
        let foreign = other_ca
            .issue_person(&person(KOMMUN, "Linköpings kommun", "Falsk Person", "SE2120000449-fp05"))
            .unwrap();

        Fixture {
            trust,
            kommun: signer(&kommun),
            kommun_colleague: signer(&colleague),
            region: signer(&region),
            skola: signer(&skola),
            expired: signer(&expired),
            revoked: signer(&revoked),
            foreign: signer(&foreign),
        }
    }

    /// A fresh key for `owner`'s principal, attested by `owner` and verified as a client would.
    pub fn key(&self, owner: &Signer, seed: u8) -> (RecipientSecret, RecipientKey) {
        let secret = RecipientSecret::from_bytes([seed; 32]);
        let att = KeyAttestation::create(
            owner,
            &secret.public_key(),
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2027-06-01 0:00 UTC),
            NOW,
        )
        .unwrap();
        let attested = att.verify(&self.trust, NOW).unwrap();
        let key = RecipientKey::from(&attested);
        (secret, key)
    }
}
