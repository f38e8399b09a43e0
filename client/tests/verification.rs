//! What the client verifies on its own, without the relay: the key attestations it is about to
//! encrypt to, and the delivery receipts it reports to the sender.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use samordna_client::{ReceiptCheck, check_receipt, usable_keys};
use samordna_core::{
    EnvelopeId, Signer, TrustStore,
    api::KeyList,
    attestation::KeyAttestation,
    devpki::{DevCa, Issued},
    envelope::RecipientSecret,
    receipt::DeliveryReceipt,
};
use support::*;
use time::{Duration, OffsetDateTime};

fn signer(i: &Issued) -> Signer {
    Signer::from_pem(i.cert_pem.as_bytes(), i.key_pem.as_bytes()).unwrap()
}

struct Setup {
    fed: Federation,
    trust: TrustStore,
    region: Signer,
    skola: Signer,
    now: OffsetDateTime,
}

fn setup() -> Setup {
    let fed = Federation::new();
    let trust = TrustStore::from_pem(fed.ca.root().cert_pem.as_bytes(), &[fed.crl(&[]).as_bytes()]).unwrap();
    let region = signer(&fed.person(REGION, "Region Östergötland", "Anna Lind", "SE2321000032-al01"));
    let skola = signer(&fed.person(SKOLA, "Stångåskolan AB", "Lars Ek", "SE5569875437-le01"));
    let now = fed.now;
    Setup { fed, trust, region, skola, now }
}

fn attest(by: &Signer, seed: u8, from: OffsetDateTime, until: OffsetDateTime) -> KeyAttestation {
    let key = RecipientSecret::from_bytes([seed; 32]);
    KeyAttestation::create(by, &key.public_key(), from, until, from).unwrap()
}

#[test]
fn only_validly_attested_keys_of_the_right_principal_are_used() {
    let s = setup();
    let (day, year) = (Duration::days(1), Duration::days(365));
    let good = attest(&s.region, 1, s.now - day, s.now + year);
    let expired = attest(&s.region, 2, s.now - year, s.now - day);
    // The relay lists the school's (validly attested) key as the region's: a substitution.
    let substituted = attest(&s.skola, 3, s.now - day, s.now + year);
    let other_ca = DevCa::new("Någon annan CA", s.now - day, s.now + year).unwrap();
    let outsider = other_ca
        .issue_person(&samordna_core::devpki::PersonSpec {
            principal: p(REGION),
            organisation: "Region Östergötland".into(),
            name: "Falsk Person".into(),
            hsa_id: samordna_core::HsaId::parse("SE2321000032-fp01").unwrap(),
            not_before: s.now - day,
            not_after: s.now + year,
            usage: samordna_core::devpki::Usage::ClientAndSigning,
        })
        .unwrap();
    let forged = attest(&signer(&outsider), 4, s.now - day, s.now + year);

    let list = KeyList {
        principal: p(REGION),
        keys: vec![good.clone(), expired, substituted, forged, good.clone()],
    };
    let (usable, skipped) = usable_keys(&list, &p(REGION), &s.trust, s.now);
    assert_eq!(usable.len(), 1, "only the good key, once");
    assert_eq!(usable[0].key_id, good.unverified_statement().unwrap().key_id);
    assert_eq!(skipped.len(), 3);
    assert!(skipped[0].reason.contains("not valid at this time"), "{}", skipped[0].reason);
    assert!(
        skipped[1].reason.contains("listed a key of SE5569875437 as a key of SE2321000032"),
        "{}",
        skipped[1].reason
    );
    assert!(skipped[2].reason.contains("not issued by the federation's CA"), "{}", skipped[2].reason);

    // A list the relay says is another principal's is not used for this one.
    let wrong_list = KeyList { principal: p(SKOLA), keys: vec![good] };
    let (usable, _) = usable_keys(&wrong_list, &p(REGION), &s.trust, s.now);
    assert!(usable.is_empty());
    drop(s.fed);
}

#[test]
fn receipts_are_checked_for_signer_envelope_and_header() {
    let s = setup();
    let id = EnvelopeId::from_random_bytes([1; 16]);
    let header = [7u8; 32];
    let by_region = DeliveryReceipt::create(&s.region, &id, header, s.now).unwrap();

    assert_eq!(check_receipt(None, &p(REGION), &s.trust, s.now, &id, &header), ReceiptCheck::None);
    match check_receipt(Some(&by_region), &p(REGION), &s.trust, s.now, &id, &header) {
        ReceiptCheck::Verified { by, .. } => assert_eq!(by.name, "Anna Lind"),
        other => panic!("{other:?}"),
    }
    // Another header (the relay swapped the envelope's header), another envelope.
    let invalid = |c: ReceiptCheck| matches!(c, ReceiptCheck::Invalid { .. });
    assert!(invalid(check_receipt(Some(&by_region), &p(REGION), &s.trust, s.now, &id, &[8u8; 32])));
    let other_id = EnvelopeId::from_random_bytes([2; 16]);
    assert!(invalid(check_receipt(Some(&by_region), &p(REGION), &s.trust, s.now, &other_id, &header)));
    // The school's receipt listed as the region's.
    let by_skola = DeliveryReceipt::create(&s.skola, &id, header, s.now).unwrap();
    match check_receipt(Some(&by_skola), &p(REGION), &s.trust, s.now, &id, &header) {
        ReceiptCheck::Invalid { reason } => assert!(reason.contains("not by SE2321000032"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // A changed byte in the signed statement.
    let mut tampered = by_region.clone();
    let last = tampered.0.statement.len() - 2;
    tampered.0.statement[last] ^= 1;
    assert!(invalid(check_receipt(Some(&tampered), &p(REGION), &s.trust, s.now, &id, &header)));
}
