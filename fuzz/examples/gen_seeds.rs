//! Writes the fuzz fixtures and seed corpora from real artefacts (`docs/fuzzing.md`).
//!
//! ```text
//! cargo +nightly run --manifest-path fuzz/Cargo.toml --example gen_seeds
//! ```
//!
//! First run (when `fuzz/fixtures/root.pem` is empty or missing): issues the fixture federation
//! (a development root, a CRL, Karin Berg at Linköpings kommun, Anna Lind at Region Östergötland)
//! and stops; run it again, so that the targets compile with the new fixtures. Later runs write
//! `fuzz/corpus/<target>/seed-*` from valid envelopes, signatures, certificates, checkpoints,
//! consents, request bodies, access-log entries and SIP plans. Seeds are overwritten; other corpus
//! files are left alone.

use std::{fs, io::Cursor, path::PathBuf};

use samordna_core::{
    api::{OpenCase, PostCosignature},
    attestation::KeyAttestation,
    consent::{
        Change, ChangeType, ConsentChange, GrantorRole, SignedConsent, SubjectClass, WithdrawalReason,
    },
    devpki::{DevCa, PersonSpec, Usage},
    envelope::{DocumentInfo, Manifest, ManifestType, Party, RecipientKey, RecipientRef, SealParams, seal},
    id::{CaseId, HsaId, PrincipalId},
    kind::ContentKind,
    log::{Checkpoint, merkle, sign_checkpoint, witness},
    receipt::DeliveryReceipt,
    signed::SignedStatement,
};
use samordna_fuzz::targets::{self, FIXTURE, NOW};
use time::macros::datetime;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write_fixtures() {
    let dir = root().join("fixtures");
    fs::create_dir_all(&dir).expect("fixtures dir");
    let ca =
        DevCa::new("Samordna fuzzfederation", datetime!(2025-01-01 0:00 UTC), datetime!(2036-01-01 0:00 UTC))
            .expect("root");
    let person = |principal: &str, org: &str, name: &str, hsa: &str| PersonSpec {
        principal: PrincipalId::parse(principal).expect("principal"),
        organisation: org.into(),
        name: name.into(),
        hsa_id: HsaId::parse(hsa).expect("hsa"),
        not_before: datetime!(2026-01-01 0:00 UTC),
        not_after: datetime!(2036-01-01 0:00 UTC),
        usage: Usage::ClientAndSigning,
    };
    let kommun = ca
        .issue_person(&person("SE2120000449", "Linköpings kommun", "Karin Berg", "SE2120000449-kb01"))
        .expect("kommun");
    let region = ca
        .issue_person(&person("SE2321000032", "Region Östergötland", "Anna Lind", "SE2321000032-al01"))
        .expect("region");
    let revoked = ca
        .issue_person(&person("SE2120000449", "Linköpings kommun", "Rolf Spärrad", "SE2120000449-rs04"))
        .expect("revoked");
    let crl = ca
        .crl(1, &[revoked.serial], datetime!(2026-11-01 0:00 UTC), datetime!(2036-01-01 0:00 UTC))
        .expect("crl");
    fs::write(dir.join("root.pem"), &ca.root().cert_pem).expect("write");
    fs::write(dir.join("crl.pem"), crl).expect("write");
    fs::write(dir.join("kommun.pem"), &kommun.cert_pem).expect("write");
    fs::write(dir.join("kommun.key"), &kommun.key_pem).expect("write");
    fs::write(dir.join("region.pem"), &region.cert_pem).expect("write");
    fs::write(dir.join("region.key"), &region.key_pem).expect("write");
    fs::write(dir.join("revoked.pem"), &revoked.cert_pem).expect("write");
}

struct Seeds {
    target: &'static str,
}

impl Seeds {
    fn new(target: &'static str) -> Self {
        fs::create_dir_all(root().join("corpus").join(target)).expect("corpus dir");
        Seeds { target }
    }

    fn put(&self, name: &str, bytes: impl AsRef<[u8]>) {
        fs::write(root().join("corpus").join(self.target).join(format!("seed-{name}")), bytes)
            .expect("write seed");
    }
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

fn with_selector(selector: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![selector];
    out.extend_from_slice(body);
    out
}

fn main() {
    let fixtures = root().join("fixtures");
    if fs::metadata(fixtures.join("root.pem")).map(|m| m.len() == 0).unwrap_or(true) {
        write_fixtures();
        println!("fixtures written to {}; run again to write the seeds", fixtures.display());
        return;
    }
    let f = &*FIXTURE;
    let kommun = f.kommun.identity();
    let region = f.region.identity();
    let region_key = RecipientKey {
        principal: region.principal.clone(),
        key_id: f.recipient.key_id().clone(),
        public_key: f.recipient.public_key(),
    };
    let other_key = samordna_core::envelope::RecipientSecret::from_bytes([0x43; 32]);
    let kommun_key = RecipientKey {
        principal: kommun.principal.clone(),
        key_id: other_key.key_id().clone(),
        public_key: other_key.public_key(),
    };

    // ---- envelopes ----
    let document = br#"{"note":"a small document for the fuzz seeds"}"#;
    let params = |recipients: Vec<RecipientKey>| SealParams {
        envelope_id: f.envelope_id.clone(),
        case_id: f.case_id.clone(),
        consent_id: f.consent_id.clone(),
        content_kind: ContentKind::Plan,
        recipients,
        media_type: "application/json".into(),
        file_name: Some("plan.json".into()),
        created: NOW,
    };
    let mut one = Vec::new();
    let sealed = seal(
        &params(vec![region_key.clone()]),
        &f.kommun,
        &document[..],
        document.len() as u64,
        Cursor::new(Vec::new()),
        &mut one,
    )
    .expect("seal");
    let mut two = Vec::new();
    let sealed_two = seal(
        &params(vec![kommun_key, region_key.clone()]),
        &f.kommun,
        &document[..],
        document.len() as u64,
        Cursor::new(Vec::new()),
        &mut two,
    )
    .expect("seal");
    let s = Seeds::new("envelope_header");
    s.put("prefix-1", sealed.prefix());
    s.put("prefix-2", sealed_two.prefix());
    s.put("envelope-1", &one);
    s.put("header-json-1", &sealed.header_bytes);
    s.put("header-json-2", &sealed_two.header_bytes);
    let manifest = Manifest {
        manifest_type: ManifestType::EnvelopeManifest,
        version: 1,
        envelope_id: f.envelope_id.clone(),
        case_id: f.case_id.clone(),
        consent_id: f.consent_id.clone(),
        sender: Party { principal: kommun.principal.clone(), user: kommun.hsa_id.clone() },
        recipients: vec![RecipientRef {
            principal: region.principal.clone(),
            key_id: region_key.key_id.clone(),
        }],
        content_kind: ContentKind::Plan,
        document: DocumentInfo {
            length: document.len() as u64,
            media_type: "application/json".into(),
            file_name: Some("plan.json".into()),
        },
    };
    s.put("manifest-json", json(&manifest));

    let s = Seeds::new("envelope_open");
    s.put("envelope-1", &one);
    s.put("envelope-2", &two);
    // The plaintext the target seals itself: manifest length, manifest, document, its signature.
    let manifest_bytes = json(&manifest);
    let mut plaintext = (manifest_bytes.len() as u32).to_be_bytes().to_vec();
    plaintext.extend_from_slice(&manifest_bytes);
    plaintext.extend_from_slice(document);
    plaintext.extend_from_slice(&f.kommun.sign_detached(document, NOW).expect("sign"));
    s.put("plaintext", &plaintext);
    // Sanity: the plaintext seed opens when the target seals it.
    let env = targets::seal_plaintext(f, &plaintext).expect("seal plaintext");
    samordna_core::envelope::open_to(
        Cursor::new(env),
        std::slice::from_ref(&f.recipient),
        &f.trust,
        NOW,
        std::io::sink(),
    )
    .expect("the plaintext seed opens");

    // ---- CMS and certificates ----
    let s = Seeds::new("cms_signed_data");
    s.put("kommun", f.kommun.sign_detached(targets::CMS_CONTENT, NOW).expect("sign"));
    s.put("region", f.region.sign_detached(targets::CMS_CONTENT, NOW).expect("sign"));
    s.put("header-signature", &sealed.signature);
    let s = Seeds::new("certificate");
    s.put("kommun.der", f.kommun.certificate().as_ref());
    s.put("region.der", f.region.certificate().as_ref());
    for name in ["root.pem", "revoked.pem", "kommun.pem"] {
        let pem = fs::read(fixtures.join(name)).expect("fixture");
        s.put(name, &pem);
        let der = samordna_core::cert::certificates_from_pem(&pem).expect("pem");
        s.put(&name.replace(".pem", ".der"), der[0].as_ref());
    }

    // ---- checkpoints and proofs ----
    let s = Seeds::new("checkpoint");
    let log_key = f.log.verifier_key();
    for n in [0u64, 1, 5, 17] {
        let leaves: Vec<merkle::Hash> = (0..n).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
        let cp = Checkpoint::new(targets::LOG_ORIGIN, n, merkle::root(&leaves)).expect("checkpoint");
        let note = sign_checkpoint(&cp, &f.log);
        s.put(&format!("signed-{n}"), &note);
        s.put(&format!("text-{n}"), cp.to_text());
        let w = f
            .witness
            .witness(&note, targets::LOG_ORIGIN, &log_key, None, &[], 1_700_000_000)
            .expect("witness");
        s.put(&format!("cosigned-{n}"), &w.note);
    }
    let ext = Checkpoint::new(targets::LOG_ORIGIN, 3, [9; 32])
        .and_then(|c| c.with_extensions(vec!["an extension line".into()]))
        .expect("checkpoint");
    s.put("signed-extension", sign_checkpoint(&ext, &f.log));
    s.put("vkeys", format!("{}\n{}\n", log_key, f.witness.verifier_key()));

    let s = Seeds::new("merkle_proof");
    for (index, size, old) in [(3u64, 7u64, 4u64), (0, 1, 1), (5, 6, 2), (12, 33, 17)] {
        let leaves: Vec<merkle::Hash> = (0..size).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
        let root = merkle::root(&leaves);
        let mut b = Vec::new();
        b.extend_from_slice(&index.to_be_bytes());
        b.extend_from_slice(&size.to_be_bytes());
        b.extend_from_slice(&old.to_be_bytes());
        b.extend_from_slice(&leaves[index as usize]);
        b.extend_from_slice(&root);
        for h in merkle::inclusion_proof(index, size, leaves.as_slice()).expect("proof") {
            b.extend_from_slice(&h);
        }
        s.put(&format!("inclusion-{index}-{size}"), &b);
    }

    // ---- consent ----
    let s = Seeds::new("consent");
    s.put("adult", json(&f.consent));
    let mut minor = f.consent.clone();
    minor.subject = SubjectClass::Minor;
    minor.grantors = vec![GrantorRole::Guardian1, GrantorRole::Guardian2];
    minor.custodial_guardians = Some(2);
    minor.child_view_heard = true;
    minor.supersedes = Some(f.consent_id.clone());
    s.put("minor", json(&minor));
    let change = |change: Change| ConsentChange {
        change_type: ChangeType::ConsentChange,
        version: 1,
        consent_id: f.consent_id.clone(),
        change,
        by: Party { principal: kommun.principal.clone(), user: kommun.hsa_id.clone() },
        at: NOW,
    };
    let withdraw = change(Change::Withdraw { reason: WithdrawalReason::Individual });
    let block = change(Change::BlockKind { kind: ContentKind::Meeting });
    s.put("withdraw", json(&withdraw));
    s.put("block-party", json(&change(Change::BlockParty { party: region.principal.clone() })));

    // ---- request bodies ----
    let s = Seeds::new("json_bodies");
    let open_case =
        OpenCase { case_id: CaseId::from_random_bytes([3; 16]), lead_principal: kommun.principal.clone() };
    s.put("0-open-case", with_selector(0, &json(&open_case)));
    let signed_consent = SignedConsent::sign(&f.consent, &f.kommun, NOW).expect("sign");
    s.put("1-consent", with_selector(1, &json(&signed_consent)));
    let signed_change = SignedStatement::sign(&withdraw, &f.kommun, NOW).expect("sign");
    s.put("2-change", with_selector(2, &json(&signed_change)));
    let att = KeyAttestation::create(
        &f.region,
        &f.recipient.public_key(),
        datetime!(2026-01-01 0:00 UTC),
        datetime!(2027-06-01 0:00 UTC),
        NOW,
    )
    .expect("attest");
    s.put("3-key", with_selector(3, &json(&att)));
    let receipt =
        DeliveryReceipt::create(&f.region, &f.envelope_id, sealed.header_sha256(), NOW).expect("receipt");
    s.put("4-receipt", with_selector(4, &json(&receipt)));
    let wkey = witness::attest(&f.region, &f.witness.verifier_key(), NOW).expect("witness key");
    s.put("5-witness", with_selector(5, &json(&wkey)));
    let checkpoint = samordna_core::log::note::parse_note(&f.checkpoint_note)
        .map(|n| Checkpoint::from_text(n.text).expect("checkpoint"))
        .expect("note");
    let line = f.witness.cosign(&checkpoint, 1_700_000_000).expect("cosign");
    let post = PostCosignature { size: targets::COSIGNED_SIZE, signature: line.trim_end().to_owned() };
    s.put("6-cosignature", with_selector(6, &json(&post)));
    s.put("7-consent-statement", with_selector(7, &signed_consent.0.statement));
    s.put("8-change-statement", with_selector(8, &signed_change.statement));
    s.put("8-block-statement", with_selector(8, &json(&block)));
    s.put("9-key-statement", with_selector(9, &att.0.statement));
    s.put("10-receipt-statement", with_selector(10, &receipt.0.statement));
    s.put("11-witness-statement", with_selector(11, &wkey.statement));

    // ---- SIP plans ----
    let s = Seeds::new("plan");
    let docs = root().join("../docs/spec");
    for name in ["sip-plan-v1.example.json", "sip-plan-v1.child-example.json"] {
        s.put(name, fs::read(docs.join(name)).expect("plan example"));
    }

    // ---- access-log entries, from the shared test vectors ----
    let s = Seeds::new("log_entry");
    let vectors: serde_json::Value = serde_json::from_slice(
        &fs::read(root().join("../core/tests/vectors/access-log/entries.json")).expect("vectors"),
    )
    .expect("json");
    for (i, e) in vectors["entries"].as_array().expect("entries").iter().enumerate() {
        let hex = e["encoding"].as_str().expect("encoding");
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|k| u8::from_str_radix(&hex[k..k + 2], 16).expect("hex")).collect();
        s.put(&format!("vector-{i}"), bytes);
    }
    println!("seeds written under {}", root().join("corpus").display());
}
