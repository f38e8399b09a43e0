//! The published test vectors of `docs/spec/envelope-v1.md` §10 (`core/tests/vectors/envelope-v1/`).
//!
//! Each vector fixes every input: keys, the content key, the ephemeral keys, the time. ring's ECDSA
//! is randomised (hedged nonces), so the two signatures cannot be reproduced; the vectors record
//! them, the regeneration replays them, and then checks them like any other envelope. Everything
//! else — stanzas, manifest, payload key, ciphertext, header, the whole envelope — must come out
//! byte for byte.
//!
//! `SAMORDNA_WRITE_VECTORS=1 cargo test -p samordna-core vectors` writes fresh vectors (new
//! certificates, new signatures) instead of checking them.

use std::{cell::RefCell, collections::VecDeque, fmt::Write as _, fs, path::PathBuf};

use time::{OffsetDateTime, macros::datetime};

use super::seal::{EnvelopeSigner, Randomness, seal_with};
use super::*;
use crate::{
    cert::{Identity, TrustStore},
    devpki::{DevCa, PersonSpec, Usage},
    id::HsaId,
    signature::{SignError, Signer},
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/envelope-v1")
}

const CREATED: OffsetDateTime = datetime!(2026-11-23 09:30 UTC);

/// The fixed inputs of one vector.
struct Inputs {
    name: &'static str,
    description: &'static str,
    document: Vec<u8>,
    recipients: usize,
    file_name: Option<&'static str>,
}

fn inputs() -> Vec<Inputs> {
    vec![
        Inputs {
            name: "vector-1",
            description: "a short SIP plan to two recipient keys (one chunk)",
            document:
                br#"{"type":"sip-plan","note":"Testvektor for Samordna envelope v1. Inga personuppgifter."}"#
                    .to_vec(),
            recipients: 2,
            file_name: Some("sip-plan.json"),
        },
        Inputs {
            name: "vector-2",
            description: "70 000 bytes (byte i = i mod 251) to one recipient key (two chunks)",
            document: (0..70_000u32).map(|i| (i % 251) as u8).collect(),
            recipients: 1,
            file_name: None,
        },
    ]
}

/// Bytes `start, start+1, …` (mod 256): the fixed "randomness" and recipient secrets.
fn counting(start: u8) -> [u8; 32] {
    core::array::from_fn(|i| start.wrapping_add(i as u8))
}

fn recipient_secret(i: usize) -> [u8; 32] {
    counting(0x60 + 0x20 * i as u8)
}

fn content_key() -> [u8; 32] {
    counting(0x00)
}

fn ephemeral(i: usize) -> [u8; 32] {
    counting(0x20 + 0x20 * i as u8)
}

const REGION: &str = "SE2321000032";
const SKOLA: &str = "SE5569875437";

fn params(v: &Inputs, recipients: &[RecipientKey]) -> SealParams {
    SealParams {
        envelope_id: EnvelopeId::from_random_bytes([0xe1; 16]),
        case_id: CaseId::from_random_bytes([0xc1; 16]),
        consent_id: ConsentId::from_random_bytes([0xa1; 16]),
        content_kind: ContentKind::Plan,
        recipients: recipients.to_vec(),
        media_type: "application/json".into(),
        file_name: v.file_name.map(Into::into),
        created: CREATED,
    }
}

fn recipient_keys(n: usize) -> Vec<(RecipientSecret, RecipientKey)> {
    (0..n)
        .map(|i| {
            let secret = RecipientSecret::from_bytes(recipient_secret(i));
            let key = RecipientKey {
                principal: PrincipalId::parse(if i == 0 { REGION } else { SKOLA }).unwrap(),
                key_id: secret.key_id().clone(),
                public_key: secret.public_key(),
            };
            (secret, key)
        })
        .collect()
}

/// Hands out the fixed randomness in the order sealing draws it.
struct Sequence(RefCell<VecDeque<[u8; 32]>>);

impl Randomness for Sequence {
    fn fill(&self, dest: &mut [u8]) -> Result<(), SealError> {
        let next = self.0.borrow_mut().pop_front().expect("the vector provides enough randomness");
        dest.copy_from_slice(&next[..dest.len()]);
        Ok(())
    }
}

fn randomness(recipients: usize) -> Sequence {
    let mut q = VecDeque::from([content_key()]);
    q.extend((0..recipients).map(ephemeral));
    Sequence(RefCell::new(q))
}

/// Replays recorded signatures: the document's first, then the header's.
struct Replay {
    identity: Identity,
    signatures: RefCell<VecDeque<Vec<u8>>>,
}

impl EnvelopeSigner for Replay {
    fn identity(&self) -> &Identity {
        &self.identity
    }
    fn sign_sha256_digest(&self, _: &[u8; 32], _: OffsetDateTime) -> Result<Vec<u8>, SignError> {
        Ok(self.signatures.borrow_mut().pop_front().expect("two recorded signatures"))
    }
}

/// Records the signatures a real signer makes, to write them into a new vector.
struct Recording<'a> {
    signer: &'a Signer,
    made: RefCell<Vec<Vec<u8>>>,
}

impl EnvelopeSigner for Recording<'_> {
    fn identity(&self) -> &Identity {
        self.signer.identity()
    }
    fn sign_sha256_digest(&self, d: &[u8; 32], t: OffsetDateTime) -> Result<Vec<u8>, SignError> {
        let sig = self.signer.sign_sha256_digest(d, t)?;
        self.made.borrow_mut().push(sig.clone());
        Ok(sig)
    }
}

struct Outputs {
    sealed: SealedHeader,
    ciphertext: Vec<u8>,
}

fn seal_vector(v: &Inputs, signer: &dyn EnvelopeSigner) -> Outputs {
    let keys = recipient_keys(v.recipients);
    let recipients: Vec<RecipientKey> = keys.iter().map(|(_, k)| k.clone()).collect();
    let mut ciphertext = Vec::new();
    let sealed = seal_with(
        &params(v, &recipients),
        signer,
        &randomness(v.recipients),
        v.document.as_slice(),
        v.document.len() as u64,
        &mut ciphertext,
    )
    .unwrap();
    Outputs { sealed, ciphertext }
}

/// `key: value` lines.
fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

fn render(v: &Inputs, out: &Outputs, signatures: &[Vec<u8>]) -> String {
    let envelope = [out.sealed.prefix(), out.ciphertext.clone()].concat();
    let p = params(v, &[]);
    let mut s = String::new();
    let mut line = |k: &str, val: &str| {
        let _ = writeln!(s, "{k}: {val}");
    };
    line("# Samordna envelope v1 test vector", v.description);
    line("# Generated by", "SAMORDNA_WRITE_VECTORS=1 cargo test -p samordna-core vectors");
    line("envelope_id", p.envelope_id.as_str());
    line("case_id", p.case_id.as_str());
    line("consent_id", p.consent_id.as_str());
    line("content_kind", p.content_kind.as_str());
    line("media_type", &p.media_type);
    line("file_name", p.file_name.as_deref().unwrap_or("-"));
    line("created", &crate::encoding::rfc3339::format(CREATED));
    line("sender_certificate", "sender.pem");
    line("trust_root", "root-ca.pem");
    for i in 0..v.recipients {
        let secret = RecipientSecret::from_bytes(recipient_secret(i));
        line(&format!("recipient_{}_secret", i + 1), &hexs(&recipient_secret(i)));
        line(&format!("recipient_{}_public", i + 1), &hexs(&secret.public_key()));
        line(&format!("recipient_{}_key_id", i + 1), secret.key_id().as_str());
    }
    line("random_content_key", &hexs(&content_key()));
    for i in 0..v.recipients {
        line(&format!("random_ephemeral_{}", i + 1), &hexs(&ephemeral(i)));
    }
    line("document_sha256", &hexs(&crate::signature::sha256(&v.document)));
    line("payload_key", &hexs(payload_key(&p.envelope_id, &content_key()).as_ref()));
    line("recorded_document_signature", &hexs(&signatures[0]));
    line("recorded_header_signature", &hexs(&signatures[1]));
    line("header", &String::from_utf8_lossy(&out.sealed.header_bytes));
    line("ciphertext_sha256", &hexs(&out.sealed.header.ciphertext.sha256));
    line("envelope_length", &envelope.len().to_string());
    line("envelope_sha256", &hexs(&crate::signature::sha256(&envelope)));
    if envelope.len() < 16 * 1024 {
        line("envelope", &hexs(&envelope));
    }
    s
}

fn write_vectors() {
    let ca =
        DevCa::new("Samordna test vectors", datetime!(2026-01-01 0:00 UTC), datetime!(2046-01-01 0:00 UTC))
            .unwrap();
    let sender = ca
        .issue_person(&PersonSpec {
            principal: PrincipalId::parse("SE2120000449").unwrap(),
            organisation: "Linköpings kommun".into(),
            name: "Testvektor Avsändare".into(),
            hsa_id: HsaId::parse("SE2120000449-tv01").unwrap(),
            not_before: datetime!(2026-01-01 0:00 UTC),
            not_after: datetime!(2046-01-01 0:00 UTC),
            usage: Usage::ClientAndSigning,
        })
        .unwrap();
    let signer = Signer::from_pem(sender.cert_pem.as_bytes(), sender.key_pem.as_bytes()).unwrap();
    fs::create_dir_all(dir()).unwrap();
    fs::write(dir().join("root-ca.pem"), &ca.root().cert_pem).unwrap();
    fs::write(dir().join("sender.pem"), &sender.cert_pem).unwrap();
    for v in inputs() {
        let rec = Recording { signer: &signer, made: RefCell::new(Vec::new()) };
        let out = seal_vector(&v, &rec);
        let text = render(&v, &out, &rec.made.borrow());
        fs::write(dir().join(format!("{}.txt", v.name)), text).unwrap();
    }
}

#[test]
fn vectors_regenerate_byte_for_byte_and_open() {
    if std::env::var_os("SAMORDNA_WRITE_VECTORS").is_some() {
        write_vectors();
    }
    let root = fs::read(dir().join("root-ca.pem")).unwrap();
    let trust = TrustStore::from_pem(&root, &[]).unwrap();
    let sender_pem = fs::read(dir().join("sender.pem")).unwrap();
    let sender_der = crate::cert::certificates_from_pem(&sender_pem).unwrap().remove(0);
    let identity = Identity::from_certificate(&sender_der).unwrap();

    for v in inputs() {
        let text = fs::read_to_string(dir().join(format!("{}.txt", v.name))).unwrap();
        let fields = parse(&text);
        let get = |k: &str| {
            fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{k}"))
        };
        let replay = Replay {
            identity: identity.clone(),
            signatures: RefCell::new(VecDeque::from([
                hex::decode(get("recorded_document_signature")).unwrap(),
                hex::decode(get("recorded_header_signature")).unwrap(),
            ])),
        };
        let out = seal_vector(&v, &replay);
        let envelope = [out.sealed.prefix(), out.ciphertext.clone()].concat();

        // Inputs are what the text says they are.
        assert_eq!(get("document_sha256"), hexs(&crate::signature::sha256(&v.document)), "{}", v.name);
        for i in 0..v.recipients {
            let secret = RecipientSecret::from_bytes(recipient_secret(i));
            assert_eq!(get(&format!("recipient_{}_public", i + 1)), hexs(&secret.public_key()));
            assert_eq!(get(&format!("recipient_{}_key_id", i + 1)), secret.key_id().as_str());
        }
        // Outputs, byte for byte.
        let p = params(&v, &[]);
        assert_eq!(get("payload_key"), hexs(payload_key(&p.envelope_id, &content_key()).as_ref()));
        assert_eq!(get("header"), String::from_utf8(out.sealed.header_bytes.clone()).unwrap(), "{}", v.name);
        assert_eq!(get("ciphertext_sha256"), hexs(&out.sealed.header.ciphertext.sha256));
        assert_eq!(get("envelope_length"), envelope.len().to_string());
        assert_eq!(get("envelope_sha256"), hexs(&crate::signature::sha256(&envelope)), "{}", v.name);
        if let Some((_, hex_env)) = fields.iter().find(|(k, _)| k == "envelope") {
            assert_eq!(*hex_env, hexs(&envelope));
        }

        // And the vector opens, with both recorded signatures verified, for every recipient.
        for i in 0..v.recipients {
            let secret = RecipientSecret::from_bytes(recipient_secret(i));
            let mut doc = Vec::new();
            let verified = open_to(envelope.as_slice(), &[secret], &trust, CREATED, &mut doc).unwrap();
            assert_eq!(doc, v.document);
            assert_eq!(verified.author.signer.identity, identity);
            assert_eq!(verified.manifest.document.length, v.document.len() as u64);
        }
    }
}
