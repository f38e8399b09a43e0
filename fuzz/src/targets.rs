//! The bodies of Samordna's fuzz targets (`docs/fuzzing.md`).
//!
//! Shared by the cargo-fuzz crate (`fuzz/fuzz_targets/*.rs`, nightly) and by the regression test
//! `core/tests/fuzz_corpus.rs` (stable), which replays every committed corpus and crash file through
//! the same functions. Each function takes arbitrary bytes, calls the real parsing entry points of
//! `samordna-core` with the checks the relay or the client runs after them, and must not panic.
//!
//! A signature check comes before most parsing (the relay verifies the CMS signature over the exact
//! bytes before it reads the JSON). Random bytes never carry a valid signature, so where that check
//! would hide the parser behind it, a target also signs the fuzzed bytes with a fixture key
//! (`fuzz/fixtures/`, a development federation made by `examples/gen_seeds.rs`) and runs the same
//! entry point on the result: the fuzzer then drives the parser as a signed-in peer could.
//!
//! Some targets also check properties that must hold for every input ("oracles"): a parsed value
//! serialises and parses back to itself, a canonical encoding re-encodes to the same bytes, a proof
//! the code makes verifies. A failed assertion is a crash like any other.

use std::io::{Cursor, Write};
use std::sync::LazyLock;

use rustls_pki_types::CertificateDer;
use samordna_core::{
    api::{OpenCase, PostCosignature},
    attestation::{KeyAttestation, KeyStatement},
    cert::{Identity, TrustStore, certificates_from_pem},
    consent::{
        Change, ConsentChange, ConsentMetadata, ConsentPolicy, ConsentState, SignedConsent, add_months,
        check_change, check_fetch, check_record, check_send, rule_not_ended,
    },
    envelope::{
        HPKE_INFO, Header, HeaderType, MAGIC, Manifest, PAYLOAD_KEY_INFO, Party, RecipientSecret,
        SEALED_KEY_LEN, Stanza, VERSION, open_to, prefix, read_signed_header,
    },
    id::{CaseId, ConsentId, EnvelopeId, KeyId, PrincipalId},
    kind::ContentKind,
    log::{
        Checkpoint, Cosigner, LogEntry, NoteSigner, merkle,
        note::{VerifierKey, open_note, parse_note},
        open_checkpoint, sign_checkpoint, witness,
    },
    plan,
    receipt::{DeliveryReceipt, ReceiptStatement},
    signature::{Signer, verify_detached},
    signed::SignedStatement,
    stream::StreamEncryptor,
};
use time::{OffsetDateTime, macros::datetime};
use x25519_dalek::{PublicKey, StaticSecret};

/// The time every target checks at (inside the fixture certificates' and CRL's validity).
pub const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);
/// The fixture log's origin and key name.
pub const LOG_ORIGIN: &str = "samordna.se/relay/fuzz";
/// Seed of the fixture log key (Ed25519).
pub const LOG_SEED: [u8; 32] = [7; 32];
/// Name of the fixture witness (cosignature/v1).
pub const WITNESS_NAME: &str = "witness.example/fuzz";
/// Seed of the fixture witness key.
pub const WITNESS_SEED: [u8; 32] = [9; 32];
/// The secret of the fixture recipient key (of the region).
pub const RECIPIENT_SECRET: [u8; 32] = [0x42; 32];
/// The ephemeral HPKE secret the `envelope_open` target seals with.
pub const EPHEMERAL_SECRET: [u8; 32] = [0x24; 32];
/// The content key the `envelope_open` target seals.
pub const CONTENT_KEY: [u8; 32] = [0x11; 32];
/// The detached content the `cms_signed_data` seeds are signatures over.
pub const CMS_CONTENT: &[u8] = b"samordna fuzz: the detached content of every cms_signed_data seed\n";
/// The tree size of the fixture checkpoint that `json_bodies` cosignatures are posted for.
pub const COSIGNED_SIZE: u64 = 5;
/// Random bytes of the fixture ids: envelope, case, consent.
pub const ENVELOPE_ID_BYTES: [u8; 16] = [0xe1; 16];
/// See [`ENVELOPE_ID_BYTES`].
pub const CASE_ID_BYTES: [u8; 16] = [0xca; 16];
/// See [`ENVELOPE_ID_BYTES`].
pub const CONSENT_ID_BYTES: [u8; 16] = [0xc0; 16];
/// The reference date of the `plan` target.
pub const PLAN_DATE: time::Date = time::macros::date!(2026 - 11 - 23);

const ROOT_PEM: &[u8] = include_bytes!("../fixtures/root.pem");
const CRL_PEM: &[u8] = include_bytes!("../fixtures/crl.pem");
const KOMMUN_CERT: &[u8] = include_bytes!("../fixtures/kommun.pem");
const KOMMUN_KEY: &[u8] = include_bytes!("../fixtures/kommun.key");
const REGION_CERT: &[u8] = include_bytes!("../fixtures/region.pem");
const REGION_KEY: &[u8] = include_bytes!("../fixtures/region.key");

/// The fixture federation, log and keys; built once per process.
pub struct Fixture {
    /// The root and its CRL.
    pub trust: TrustStore,
    /// Karin Berg, Linköpings kommun: the sender and recorder.
    pub kommun: Signer,
    /// Anna Lind, Region Östergötland: the recipient.
    pub region: Signer,
    /// The log's checkpoint key.
    pub log: NoteSigner,
    /// A witness.
    pub witness: Cosigner,
    /// The region's key, as the recipient holds it.
    pub recipient: RecipientSecret,
    /// The fixture ids.
    pub envelope_id: EnvelopeId,
    /// See `envelope_id`.
    pub case_id: CaseId,
    /// See `envelope_id`.
    pub consent_id: ConsentId,
    /// A consent between the kommun and the region (its parties and kinds matter to the rules).
    pub consent: ConsentMetadata,
    /// The log's signed checkpoint of [`COSIGNED_SIZE`] entries.
    pub checkpoint_note: String,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture").finish_non_exhaustive()
    }
}

/// The fixture, loaded from `fuzz/fixtures/`.
pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let trust = TrustStore::from_pem(ROOT_PEM, &[CRL_PEM]).expect("fixture root and CRL load");
    let kommun = Signer::from_pem(KOMMUN_CERT, KOMMUN_KEY).expect("fixture kommun signer loads");
    let region = Signer::from_pem(REGION_CERT, REGION_KEY).expect("fixture region signer loads");
    let log = NoteSigner::from_seed(LOG_ORIGIN, &LOG_SEED).expect("fixture log key");
    let witness = Cosigner::from_seed(WITNESS_NAME, &WITNESS_SEED).expect("fixture witness key");
    let leaves: Vec<merkle::Hash> = (0..COSIGNED_SIZE).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
    let checkpoint = Checkpoint::new(LOG_ORIGIN, COSIGNED_SIZE, merkle::root(&leaves)).expect("checkpoint");
    let checkpoint_note = sign_checkpoint(&checkpoint, &log);
    let case_id = CaseId::from_random_bytes(CASE_ID_BYTES);
    let consent_id = ConsentId::from_random_bytes(CONSENT_ID_BYTES);
    let consent = fixture_consent(&kommun, &region, &case_id, &consent_id);
    Fixture {
        trust,
        recipient: RecipientSecret::from_bytes(RECIPIENT_SECRET),
        envelope_id: EnvelopeId::from_random_bytes(ENVELOPE_ID_BYTES),
        case_id,
        consent_id,
        consent,
        kommun,
        region,
        log,
        witness,
        checkpoint_note,
    }
});

/// The consent the fixture envelopes are sent under (also the seed generator's consent seed).
pub fn fixture_consent(
    recorder: &Signer,
    other: &Signer,
    case_id: &CaseId,
    consent_id: &ConsentId,
) -> ConsentMetadata {
    use samordna_core::consent::{ConsentForm, ConsentType, GrantorRole, Purpose, SubjectClass};
    let id = recorder.identity();
    ConsentMetadata {
        record_type: ConsentType::Consent,
        version: 1,
        consent_id: consent_id.clone(),
        case_id: case_id.clone(),
        parties: vec![id.principal.clone(), other.identity().principal.clone()],
        kinds: vec![ContentKind::Plan, ContentKind::Meeting],
        purpose: Purpose::Sip,
        valid_from: datetime!(2026-11-01 0:00 UTC),
        valid_until: datetime!(2027-05-01 0:00 UTC),
        subject: SubjectClass::Adult,
        grantors: vec![GrantorRole::Individual],
        custodial_guardians: None,
        child_view_heard: false,
        form: ConsentForm::Written,
        recorded_by: Party { principal: id.principal.clone(), user: id.hsa_id.clone() },
        supersedes: None,
    }
}

/// Asserts that a parsed value serialises, and that what it serialises to parses back to it.
fn assert_round_trip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = serde_json::to_vec(value).expect("a parsed value serialises");
    let back: T = serde_json::from_slice(&bytes).expect("a serialised value parses");
    assert_eq!(&back, value, "round trip through {}", String::from_utf8_lossy(&bytes));
}

fn sign(signer: &Signer, statement: &[u8]) -> Option<SignedStatement> {
    let signature = signer.sign_detached(statement, NOW).ok()?;
    Some(SignedStatement { statement: statement.to_vec(), signature })
}

// ---- envelope_header ----

/// What the relay checks on upload before any ciphertext arrives: [`read_signed_header`] on the
/// bytes. Input that is not an envelope is taken as a header's JSON, signed by the sender's
/// fixture certificate and framed, so the checks after the signature (JSON, version, sender,
/// recipients) run on fuzzed JSON.
pub fn envelope_header(data: &[u8]) {
    let f = &*FIXTURE;
    let _ = read_signed_header(&mut Cursor::new(data), &f.trust, NOW);
    if data.starts_with(MAGIC) {
        return;
    }
    if let Ok(signature) = f.kommun.sign_detached(data, NOW) {
        let framed = prefix(data, &signature);
        if let Ok(signed) = read_signed_header(&mut Cursor::new(&framed), &f.trust, NOW) {
            assert_eq!(signed.header_bytes, data);
            let _ = signed.header.recipient_principals();
        }
    }
    if let Ok(h) = serde_json::from_slice::<Header>(data) {
        assert_round_trip(&h);
    }
    if let Ok(m) = serde_json::from_slice::<Manifest>(data) {
        assert_round_trip(&m);
    }
}

// ---- envelope_open ----

/// What a recipient's client does with an envelope: [`open_to`] with the region's key. An input
/// that starts with the envelope magic is opened as it is (mutations of the preamble, lengths,
/// stanzas, chunks, truncation). Any other input is taken as the *plaintext* a malicious sender
/// encrypts (manifest length, manifest, document, document signature): the target seals it in a
/// valid envelope from the kommun to the region and opens that, so the manifest parser, the
/// header–manifest comparison, the document length and the document signature see fuzzed bytes.
pub fn envelope_open(data: &[u8]) {
    let f = &*FIXTURE;
    let keys = std::slice::from_ref(&f.recipient);
    if data.starts_with(MAGIC) {
        let _ = open_to(Cursor::new(data), keys, &f.trust, NOW, std::io::sink());
        return;
    }
    let Some(envelope) = seal_plaintext(f, data) else { return };
    let _ = open_to(Cursor::new(&envelope), keys, &f.trust, NOW, std::io::sink());
}

/// An envelope v1 (`docs/spec/envelope-v1.md`) around `plaintext`, built step by step as
/// `envelope::seal` does, but over plaintext bytes of the caller's choosing.
pub fn seal_plaintext(f: &Fixture, plaintext: &[u8]) -> Option<Vec<u8>> {
    let recipient_public = PublicKey::from(f.recipient.public_key());
    let (enc, sealed) = samordna_core::hpke::seal(
        &recipient_public,
        HPKE_INFO,
        f.envelope_id.as_str().as_bytes(),
        &CONTENT_KEY,
        &StaticSecret::from(EPHEMERAL_SECRET),
    )
    .ok()?;
    let sealed_key: [u8; SEALED_KEY_LEN] = sealed.try_into().ok()?;
    let mut ciphertext = Vec::new();
    let mut encryptor = StreamEncryptor::new(&payload_key(&f.envelope_id, &CONTENT_KEY), &mut ciphertext);
    encryptor.write_all(plaintext).ok()?;
    let (_, length) = encryptor.finish().ok()?;
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &ciphertext).as_ref());
    let sender = f.kommun.identity();
    let header = Header {
        header_type: HeaderType::EnvelopeHeader,
        version: VERSION,
        envelope_id: f.envelope_id.clone(),
        case_id: f.case_id.clone(),
        consent_id: f.consent_id.clone(),
        sender: Party { principal: sender.principal.clone(), user: sender.hsa_id.clone() },
        recipients: vec![Stanza {
            principal: f.region.identity().principal.clone(),
            key_id: f.recipient.key_id().clone(),
            enc,
            sealed_key,
        }],
        content_kind: ContentKind::Plan,
        created: NOW,
        ciphertext: samordna_core::envelope::CiphertextInfo { length, sha256 },
    };
    let header_bytes = serde_json::to_vec(&header).ok()?;
    let signature = f.kommun.sign_detached(&header_bytes, NOW).ok()?;
    let mut out = prefix(&header_bytes, &signature);
    out.extend_from_slice(&ciphertext);
    Some(out)
}

/// HKDF-SHA256(salt = envelope id, ikm = content key, info = [`PAYLOAD_KEY_INFO`]) (spec §6).
fn payload_key(envelope_id: &EnvelopeId, content_key: &[u8; 32]) -> [u8; 32] {
    struct Len32;
    impl ring::hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let mut out = [0u8; 32];
    let prk =
        ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, envelope_id.as_str().as_bytes()).extract(content_key);
    prk.expand(&[PAYLOAD_KEY_INFO], Len32).and_then(|okm| okm.fill(&mut out)).expect("32 bytes of HKDF");
    out
}

// ---- cms_signed_data ----

/// The one CMS SignedData verifier ([`verify_detached`]) on the bytes as a detached signature over
/// [`CMS_CONTENT`]: every signed record, envelope header and document goes through it.
pub fn cms_signed_data(data: &[u8]) {
    let f = &*FIXTURE;
    let _ = verify_detached(data, CMS_CONTENT, &f.trust, NOW);
}

// ---- certificate ----

/// What is done with a certificate a peer presents: the identity in its subject
/// ([`Identity::from_certificate`], as the relay reads the mTLS client certificate), the chain to
/// the root with the CRL ([`TrustStore::verify_signer`]); and PEM reading.
pub fn certificate(data: &[u8]) {
    let f = &*FIXTURE;
    let _ = Identity::from_certificate(data);
    let der = CertificateDer::from(data);
    if let Ok(verified) = f.trust.verify_signer(&der, &[], NOW) {
        assert_eq!(Identity::from_certificate(data).ok().as_ref(), Some(&verified.identity));
    }
    let _ = certificates_from_pem(data);
}

// ---- checkpoint ----

/// A signed checkpoint as a client or witness receives it from the relay: [`open_checkpoint`] with
/// the log key and a witness key, [`open_note`], [`parse_note`], [`Checkpoint::from_text`] (which
/// accepts only the canonical form, so it must give back the same text), a witness cosigning it,
/// and verifier keys. A checkpoint body that parses is also signed with the log key and must then
/// open.
pub fn checkpoint(data: &[u8]) {
    let f = &*FIXTURE;
    let Ok(text) = std::str::from_utf8(data) else { return };
    let log_key = f.log.verifier_key();
    let witness_key = f.witness.verifier_key();
    let _ = open_checkpoint(text, LOG_ORIGIN, &log_key, std::slice::from_ref(&witness_key));
    let _ = open_note(text, &[log_key.clone(), witness_key]);
    if let Ok(note) = parse_note(text) {
        for s in &note.signatures {
            let _ = s.to_line();
        }
        let _ = Checkpoint::from_text(note.text);
    }
    let _ = f.witness.witness(text, LOG_ORIGIN, &log_key, None, &[], 1_700_000_000);
    for line in text.lines() {
        let _ = VerifierKey::parse(line);
    }
    if let Ok(c) = Checkpoint::from_text(text) {
        assert_eq!(c.to_text(), text, "a parsed checkpoint re-encodes to its text");
        if text.len() < 4096 {
            let note = sign_checkpoint(&c, &f.log);
            let opened =
                open_checkpoint(&note, c.origin(), &log_key, &[]).expect("a signed checkpoint opens");
            assert_eq!(opened.checkpoint, c);
        }
    }
}

// ---- merkle_proof ----

/// The RFC 9162 proof verifiers an auditor runs on proofs from the relay: the input gives
/// sizes, an index, hashes and a proof ([`merkle::verify_inclusion`], [`merkle::verify_consistency`]).
/// Then, for a small tree the input sizes, proofs made by [`merkle::inclusion_proof`] and
/// [`merkle::consistency_proof`] must verify.
pub fn merkle_proof(data: &[u8]) {
    let u64_at = |i: usize| -> u64 {
        let mut b = [0u8; 8];
        for (k, v) in b.iter_mut().enumerate() {
            *v = data.get(i + k).copied().unwrap_or(0);
        }
        u64::from_be_bytes(b)
    };
    let (a, b, c) = (u64_at(0), u64_at(8), u64_at(16));
    let hashes: Vec<merkle::Hash> = data
        .get(24..)
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|h| {
            let mut out = [0u8; 32];
            out.copy_from_slice(h);
            out
        })
        .collect();
    let zero = [0u8; 32];
    let first = hashes.first().unwrap_or(&zero);
    let second = hashes.get(1).unwrap_or(&zero);
    let proof = hashes.get(2..).unwrap_or_default();
    let _ = merkle::verify_inclusion(first, a, b, proof, second);
    let _ = merkle::verify_consistency(a, b, first, second, proof);
    let _ = merkle::verify_consistency(c, a, first, second, proof);

    // Small sizes from the same bytes: proofs the code makes must verify.
    let size = b % 300 + 1;
    let leaves: Vec<merkle::Hash> = (0..size).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
    let root = merkle::root(&leaves);
    let index = a % size;
    let p = merkle::inclusion_proof(index, size, leaves.as_slice()).expect("inclusion proof");
    merkle::verify_inclusion(&leaves[index as usize], index, size, &p, &root).expect("inclusion verifies");
    let old = c % size + 1;
    let old_root = merkle::root(&leaves[..old as usize]);
    let p = merkle::consistency_proof(old, size, leaves.as_slice()).expect("consistency proof");
    merkle::verify_consistency(old, size, &old_root, &root, &p).expect("consistency verifies");
    let mut tree = merkle::Tree::new();
    for l in &leaves {
        tree.push(*l);
    }
    assert_eq!(tree.root(), root);
    assert_eq!(merkle::root_at(size, leaves.as_slice()).ok(), Some(root));
}

// ---- log_entry ----

/// An access-log entry as an auditor downloads it: [`LogEntry::decode`] accepts exactly what
/// `encode` produces, so whatever it accepts must re-encode to the same bytes.
pub fn log_entry(data: &[u8]) {
    if let Ok(entry) = LogEntry::decode(data) {
        assert_eq!(entry.encode(), data, "a decoded entry re-encodes to its bytes");
        let _ = entry.leaf_hash();
        let _ = entry.at();
    }
}

// ---- consent ----

/// Consent metadata: parsed as JSON (a round trip must give it back), every rule the relay and the
/// client apply to it, and the relay's path for `POST /v1/consents` on the bytes signed by the
/// kommun's recorder ([`SignedConsent::verify`], [`check_record`], [`rule_not_ended`]).
pub fn consent(data: &[u8]) {
    let f = &*FIXTURE;
    if let Ok(m) = serde_json::from_slice::<ConsentMetadata>(data) {
        assert_round_trip(&m);
        consent_rules(&m);
    }
    if let Some(statement) = sign(&f.kommun, data)
        && let Ok(m) = SignedConsent(statement).verify(&f.trust, NOW)
    {
        let _ = check_record(&m, &ConsentPolicy::default()).and_then(|()| rule_not_ended(&m, NOW));
    }
    if let Ok(change) = serde_json::from_slice::<ConsentChange>(data) {
        assert_round_trip(&change);
        let state = state_of(&f.consent);
        let _ = check_change(&state, &change.change, &change.by.principal);
    }
}

fn state_of(m: &ConsentMetadata) -> ConsentState<'_> {
    ConsentState {
        metadata: m,
        withdrawn_at: None,
        blocked_parties: &[],
        blocked_kinds: &[],
        superseded_by: None,
    }
}

/// Every rule on one consent, as each party in turn.
fn consent_rules(m: &ConsentMetadata) {
    for months in [0, 1, 12, 255] {
        let _ = check_record(m, &ConsentPolicy { max_validity_months: months });
        let _ = add_months(m.valid_from, months);
    }
    let _ = rule_not_ended(m, NOW);
    let recipients: Vec<&PrincipalId> = m.parties.iter().collect();
    for withdrawn_at in [None, Some(NOW)] {
        // Once as recorded; once withdrawn, blocked and superseded.
        let plain = state_of(m);
        let changed = ConsentState {
            metadata: m,
            withdrawn_at,
            blocked_parties: m.parties.get(..1).unwrap_or_default(),
            blocked_kinds: m.kinds.get(..1).unwrap_or_default(),
            superseded_by: m.supersedes.as_ref(),
        };
        for s in [&plain, &changed] {
            for p in &m.parties {
                for kind in m.kinds.iter().copied().chain([ContentKind::Consent]) {
                    let _ = check_send(s, &m.case_id, p, &recipients, kind, NOW);
                    let _ = check_fetch(s, p, &m.recorded_by.principal, kind, NOW);
                }
                let _ = check_change(s, &Change::BlockParty { party: p.clone() }, p);
                let _ = check_change(
                    s,
                    &Change::Withdraw { reason: samordna_core::consent::WithdrawalReason::Other },
                    p,
                );
            }
        }
    }
}

// ---- json_bodies ----

/// The relay's JSON request bodies. The first byte picks the body; the rest is the body, parsed as
/// the relay's `read_json` does and then checked as the route's handler does:
///
/// | byte % 12 | route | body | then |
/// |---|---|---|---|
/// | 0 | `POST /v1/cases` | `OpenCase` | – |
/// | 1 | `POST /v1/consents` | `SignedConsent` | `verify`, `check_record`, `rule_not_ended` |
/// | 2 | `POST /v1/consents/{id}/changes` | `SignedStatement` | `verify::<ConsentChange>`, `check_change` |
/// | 3 | `POST /v1/keys` | `KeyAttestation` | `verify` |
/// | 4 | `POST /v1/envelopes/{id}/receipt` | `DeliveryReceipt` | `verify` |
/// | 5 | `POST /v1/log/witnesses` | `SignedStatement` | `witness::verify` |
/// | 6 | `POST /v1/log/cosignatures` | `PostCosignature` | `open_checkpoint` with the line |
/// | 7–11 | as 1–5 | the *statement* inside, signed by a fixture certificate | as 1–5 |
pub fn json_bodies(data: &[u8]) {
    let f = &*FIXTURE;
    let Some((&selector, body)) = data.split_first() else { return };
    match selector % 12 {
        0 => {
            if let Ok(req) = serde_json::from_slice::<OpenCase>(body) {
                assert_round_trip(&req);
            }
        }
        1 => {
            if let Ok(record) = serde_json::from_slice::<SignedConsent>(body) {
                consent_record(f, &record);
            }
        }
        2 => {
            if let Ok(record) = serde_json::from_slice::<SignedStatement>(body) {
                consent_change(f, &record);
            }
        }
        3 => {
            if let Ok(att) = serde_json::from_slice::<KeyAttestation>(body) {
                key_attestation(f, &att);
            }
        }
        4 => {
            if let Ok(receipt) = serde_json::from_slice::<DeliveryReceipt>(body) {
                delivery_receipt(f, &receipt);
            }
        }
        5 => {
            if let Ok(att) = serde_json::from_slice::<SignedStatement>(body) {
                let _ = witness::verify(&att, &f.trust, NOW);
            }
        }
        6 => {
            if let Ok(post) = serde_json::from_slice::<PostCosignature>(body) {
                post_cosignature(f, &post);
            }
        }
        7 => {
            if let Some(s) = sign(&f.kommun, body) {
                consent_record(f, &SignedConsent(s));
            }
        }
        8 => {
            if let Some(s) = sign(&f.kommun, body) {
                consent_change(f, &s);
            }
        }
        9 => {
            if let Some(s) = sign(&f.region, body) {
                key_attestation(f, &KeyAttestation(s));
            }
        }
        10 => {
            if let Some(s) = sign(&f.region, body) {
                delivery_receipt(f, &DeliveryReceipt(s));
            }
        }
        _ => {
            if let Some(s) = sign(&f.region, body)
                && let Ok((statement, key)) = witness::verify(&s, &f.trust, NOW)
            {
                assert_eq!(VerifierKey::parse(&statement.vkey).ok(), Some(key));
            }
        }
    }
}

fn consent_record(f: &Fixture, record: &SignedConsent) {
    if let Ok(m) = record.verify(&f.trust, NOW) {
        let _ = check_record(&m, &ConsentPolicy::default()).and_then(|()| rule_not_ended(&m, NOW));
    }
    let _ = record.unverified_metadata();
}

fn consent_change(f: &Fixture, record: &SignedStatement) {
    if let Ok((change, _)) = record.verify::<ConsentChange>(&f.trust, NOW) {
        let _ = check_change(&state_of(&f.consent), &change.change, &change.by.principal);
    }
}

fn key_attestation(f: &Fixture, att: &KeyAttestation) {
    let _ = att.unverified_statement();
    if let Ok(key) = att.verify(&f.trust, NOW) {
        let _ = key.public_key();
        let _: &KeyStatement = &key.statement;
        assert_eq!(KeyId::for_x25519_public_key(&key.statement.public_key), key.statement.key_id);
    }
}

fn delivery_receipt(f: &Fixture, receipt: &DeliveryReceipt) {
    let header_sha256 = [0x5a; 32];
    let _ = receipt.verify(&f.trust, NOW, &f.envelope_id, &header_sha256);
    if let Ok(s) = receipt.0.unverified::<ReceiptStatement>() {
        // The same receipt checked against the envelope it names.
        let _ = receipt.verify(&f.trust, NOW, &s.envelope_id, &s.header_sha256);
    }
}

fn post_cosignature(f: &Fixture, post: &PostCosignature) {
    if post.size != COSIGNED_SIZE {
        return;
    }
    // As the relay's handler: the line, with a newline added, after the stored checkpoint.
    let line =
        if post.signature.ends_with('\n') { post.signature.clone() } else { format!("{}\n", post.signature) };
    let note = format!("{}{line}", f.checkpoint_note);
    let witness = [f.witness.verifier_key()];
    let _ = open_checkpoint(&note, LOG_ORIGIN, &f.log.verifier_key(), &witness);
}

// ---- plan ----

/// A SIP plan document as a recipient's client reads it from a decrypted envelope:
/// [`plan::check`] (the JSON reader, then the rules between fields).
pub fn plan(data: &[u8]) {
    let _ = plan::check(data, PLAN_DATE);
}
