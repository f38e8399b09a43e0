//! The access log's math against values made elsewhere: the vectors of
//! `core/tests/vectors/access-log/generate.py` (the RFC 6962 recursion in Python), published
//! certificate-transparency and Go `sumdb/note` values, and Python's `cryptography` package as an
//! independent Ed25519 verifier. Normative text: `docs/spec/access-log-v1.md`.
//!
//! Tests that need Python print "skipped: …" when it is missing; set `SAMORDNA_REQUIRE_PYTHON=1`
//! (CI does) to make a missing interpreter or package a failure instead.

// A test crate: helpers outside #[test] functions unwrap too (as in tests/tests/*.rs).
#![allow(clippy::unwrap_used)]

use std::{
    cell::Cell,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as STANDARD_B64};
use samordna_core::{
    audit::{Action, Reason},
    id::{CaseId, ConsentId, EnvelopeId, HsaId, KeyId, PrincipalId},
    log::{
        Checkpoint, CheckpointError, Cosigner, KeyType, LogEntry, Marker, NoteSigner, ObjectRef, Peer,
        RequestId, VerifierKey,
        merkle::{self, Hash, HashReader, NodeId, ReadError, Tree},
        note::{open_note, parse_note},
        open_checkpoint, sign_checkpoint,
    },
};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/access-log")
}

fn load(name: &str) -> Value {
    let text = fs::read_to_string(vectors_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn h(v: &Value) -> Hash {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(h).collect()
}

fn require_python() -> bool {
    std::env::var("SAMORDNA_REQUIRE_PYTHON").is_ok_and(|v| v == "1")
}

/// The first interpreter of `/usr/bin/python3`, `python3` that can run `probe`.
fn python(probe: &str) -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", probe])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn skip(what: &str) {
    assert!(!require_python(), "SAMORDNA_REQUIRE_PYTHON=1 but {what}");
    println!("skipped: {what}");
    eprintln!("skipped: {what}");
}

/// The leaf inputs of a leaf set of `merkle.json`.
fn leaf_inputs(vectors: &Value, set: &str, n: usize) -> Vec<Vec<u8>> {
    let sets = &vectors["leaf_sets"];
    match set {
        "rfc6962" => sets["rfc6962"].as_array().unwrap()[..n]
            .iter()
            .map(|v| hex::decode(v.as_str().unwrap()).unwrap())
            .collect(),
        "generated" => {
            let pattern = sets["generated"]["pattern"].as_str().unwrap();
            (0..n).map(|i| pattern.replace("{i}", &i.to_string()).into_bytes()).collect()
        }
        other => panic!("unknown leaf set {other}"),
    }
}

#[test]
fn merkle_vectors_match_and_verify() {
    let v = load("merkle.json");
    assert_eq!(h(&v["empty_root"]), merkle::EMPTY_ROOT);
    let trees = v["trees"].as_array().unwrap();
    let sizes: Vec<u64> = trees.iter().map(|t| t["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [1, 2, 3, 4, 5, 6, 7, 8, 13, 64, 1000]);
    let (mut inclusions, mut consistencies) = (0, 0);
    for t in trees {
        let size = t["size"].as_u64().unwrap();
        let inputs = leaf_inputs(&v, t["leaf_set"].as_str().unwrap(), size as usize);
        let leaves: Vec<Hash> = inputs.iter().map(|d| merkle::leaf_hash(d)).collect();
        let root = h(&t["root"]);
        assert_eq!(merkle::root(&leaves), root, "root of {size}");
        assert_eq!(merkle::root_at(size, leaves.as_slice()).unwrap(), root);
        for p in t["inclusion"].as_array().unwrap() {
            let index = p["index"].as_u64().unwrap();
            let path = hashes(&p["path"]);
            let leaf = leaves[index as usize];
            assert_eq!(leaf, h(&p["leaf_hash"]));
            assert_eq!(
                merkle::inclusion_proof(index, size, leaves.as_slice()).unwrap(),
                path,
                "{index}/{size}"
            );
            merkle::verify_inclusion(&leaf, index, size, &path, &root).unwrap();
            // The proof does not verify for another leaf, index, size or root.
            let other_leaf = merkle::leaf_hash(b"not in the log");
            assert!(merkle::verify_inclusion(&other_leaf, index, size, &path, &root).is_err());
            if size > 1 {
                assert!(merkle::verify_inclusion(&leaf, (index + 1) % size, size, &path, &root).is_err());
            }
            // (Not size + 1: index 0 has the same path shape in trees of 5 and 6 leaves. The size is
            // bound by the signed checkpoint, not by the proof.)
            assert!(merkle::verify_inclusion(&leaf, index, size * 2, &path, &root).is_err());
            assert!(merkle::verify_inclusion(&leaf, index, size, &path, &merkle::EMPTY_ROOT).is_err());
            inclusions += 1;
        }
        for p in t["consistency"].as_array().unwrap() {
            let old = p["old_size"].as_u64().unwrap();
            let old_root = h(&p["old_root"]);
            let path = hashes(&p["path"]);
            assert_eq!(merkle::root(&leaves[..old as usize]), old_root);
            assert_eq!(
                merkle::consistency_proof(old, size, leaves.as_slice()).unwrap(),
                path,
                "{old}->{size}"
            );
            merkle::verify_consistency(old, size, &old_root, &root, &path).unwrap();
            if old < size {
                assert!(merkle::verify_consistency(old, size, &root, &old_root, &path).is_err());
                assert!(
                    merkle::verify_consistency(old, size, &old_root, &merkle::EMPTY_ROOT, &path).is_err()
                );
                assert!(merkle::verify_consistency(old + 1, size, &old_root, &root, &path).is_err());
            }
            consistencies += 1;
        }
    }
    // Every proof of the small trees, and samples of the 1000-leaf tree.
    assert_eq!(inclusions, 36 + 13 + 64 + 17);
    assert_eq!(consistencies, 36 + 13 + 64 + 17);
}

/// Values published with certificate-transparency's and Trillian's tests (the same 8 leaves).
#[test]
fn published_rfc6962_values() {
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let inputs =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    let leaves: Vec<Hash> = inputs.iter().map(|x| merkle::leaf_hash(&hex::decode(x).unwrap())).collect();
    let mut tree = Tree::new();
    for (n, want) in ROOTS.iter().enumerate() {
        tree.push(leaves[n]);
        assert_eq!(hex::encode(tree.root()), *want, "size {}", n + 1);
    }
    let hx =
        |s: &[&str]| s.iter().map(|x| hex::decode(x).unwrap().try_into().unwrap()).collect::<Vec<Hash>>();
    // (leaf index, tree size, path)
    let inclusion = [
        (
            0,
            8,
            vec![
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            vec![
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            vec![
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, path) in inclusion {
        let d = &leaves[..size as usize];
        assert_eq!(merkle::inclusion_proof(index, size, d).unwrap(), hx(&path));
        let root = h(&Value::from(ROOTS[size as usize - 1]));
        merkle::verify_inclusion(&leaves[index as usize], index, size, &hx(&path), &root).unwrap();
    }
    // (old size, new size, path)
    let consistency = [
        (
            1,
            8,
            vec![
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            vec![
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            vec![
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, path) in consistency {
        assert_eq!(merkle::consistency_proof(old, new, &leaves[..new as usize]).unwrap(), hx(&path));
        let old_root = h(&Value::from(ROOTS[old as usize - 1]));
        let new_root = h(&Value::from(ROOTS[new as usize - 1]));
        merkle::verify_consistency(old, new, &old_root, &new_root, &hx(&path)).unwrap();
    }
}

#[test]
fn vectors_regenerate_identically() {
    let Some(py) = python("import hashlib, json, ipaddress") else {
        return skip("python3 not found; the committed vectors were not regenerated");
    };
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(py).arg(vectors_dir().join("generate.py")).arg(out.path()).status().unwrap();
    assert!(status.success(), "generate.py failed");
    for name in ["merkle.json", "entries.json"] {
        let fresh = fs::read(out.path().join(name)).unwrap();
        let committed = fs::read(vectors_dir().join(name)).unwrap();
        assert!(
            fresh == committed,
            "{name} differs from what generate.py writes; rerun it and review the diff"
        );
    }
    println!("regenerated with {py}: merkle.json and entries.json unchanged");
}

fn opt_str<T>(v: &Value, parse: impl Fn(&str) -> T) -> Option<T> {
    v.as_str().map(parse)
}

fn entry_from_json(e: &Value) -> LogEntry {
    LogEntry {
        index: e["index"].as_u64().unwrap(),
        at_us: e["at_us"].as_i64().unwrap(),
        request_id: RequestId::parse(e["request_id"].as_str().unwrap()).unwrap(),
        actor_principal: opt_str(&e["actor_principal"], |s| PrincipalId::parse(s).unwrap()),
        actor_user: opt_str(&e["actor_user"], |s| HsaId::parse(s).unwrap()),
        cert_fingerprint: e["cert_fingerprint"].as_str().map(|_| h(&e["cert_fingerprint"])),
        action: Action::from_code(e["action"].as_u64().unwrap() as u16).unwrap(),
        reason: Reason::from_code(e["reason"].as_u64().unwrap() as u16).unwrap(),
        case_id: opt_str(&e["case_id"], |s| CaseId::parse(s).unwrap()),
        consent_id: opt_str(&e["consent_id"], |s| ConsentId::parse(s).unwrap()),
        envelope_id: opt_str(&e["envelope_id"], |s| EnvelopeId::parse(s).unwrap()),
        object: e["object"].as_object().map(|o| {
            let value = o["value"].as_str().unwrap();
            match o["kind"].as_u64().unwrap() {
                1 => ObjectRef::Principal(PrincipalId::parse(value).unwrap()),
                2 => ObjectRef::Key(KeyId::parse(value).unwrap()),
                3 => ObjectRef::Marker(Marker::parse(value).unwrap()),
                k => panic!("object kind {k}"),
            }
        }),
        peer: e["peer"].as_object().map(|p| Peer {
            ip: p["ip"].as_str().unwrap().parse().unwrap(),
            port: p["port"].as_u64().unwrap() as u16,
        }),
    }
}

fn example_entries() -> Vec<LogEntry> {
    load("entries.json")["entries"].as_array().unwrap().iter().map(entry_from_json).collect()
}

#[test]
fn entry_vectors_encode_byte_for_byte() {
    let v = load("entries.json");
    let mut leaves = Vec::new();
    for (e, json) in example_entries().iter().zip(v["entries"].as_array().unwrap()) {
        let bytes = e.encode();
        assert_eq!(hex::encode(&bytes), json["encoding"].as_str().unwrap(), "entry {}", e.index);
        assert_eq!(&LogEntry::decode(&bytes).unwrap(), e);
        assert_eq!(e.leaf_hash(), h(&json["leaf_hash"]));
        leaves.push(e.leaf_hash());
    }
    for r in v["roots"].as_array().unwrap() {
        let k = r["size"].as_u64().unwrap() as usize;
        assert_eq!(merkle::root(&leaves[..k]), h(&r["root"]));
    }
}

/// The fixed keys of the spec's examples (test keys: never use them for a real log).
const EXAMPLE_ORIGIN: &str = "samordna.se/relay/example";
const EXAMPLE_WITNESS: &str = "witness.example/region-vastra";
const EXAMPLE_TIMESTAMP: u64 = 1_795_427_000;

fn example_log_key() -> NoteSigner {
    let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
    NoteSigner::from_seed(EXAMPLE_ORIGIN, &seed).unwrap()
}

fn example_witness() -> Cosigner {
    let seed: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
    Cosigner::from_seed(EXAMPLE_WITNESS, &seed).unwrap()
}

/// The spec's sample checkpoint: the first three example entries, signed and cosigned.
fn example_note() -> (Checkpoint, String) {
    let leaves: Vec<Hash> = example_entries()[..3].iter().map(LogEntry::leaf_hash).collect();
    let cp = Checkpoint::new(EXAMPLE_ORIGIN, 3, merkle::root(&leaves)).unwrap();
    let note = sign_checkpoint(&cp, &example_log_key());
    let cosigned = format!("{note}{}", example_witness().cosign(&cp, EXAMPLE_TIMESTAMP).unwrap());
    (cp, cosigned)
}

#[test]
fn spec_examples_are_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/spec/access-log-v1.md");
    let spec = fs::read_to_string(path).unwrap_or_default();
    let flat: String = spec.split_whitespace().collect();
    let e = &example_entries()[0];
    let v = load("entries.json");
    let (_, note) = example_note();
    let wanted = [
        hex::encode(e.encode()),
        hex::encode(e.leaf_hash()),
        v["roots"][2]["root"].as_str().unwrap().to_owned(),
        example_log_key().verifier_key().to_string(),
        example_witness().verifier_key().to_string(),
    ];
    let missing: Vec<&String> = wanted.iter().filter(|w| !flat.contains(w.as_str())).collect();
    let note_missing = !spec.contains(&note);
    assert!(
        missing.is_empty() && !note_missing,
        "docs/spec/access-log-v1.md is out of date; it lacks {missing:#?}{}",
        if note_missing { format!(" and the sample checkpoint:\n{note}") } else { String::new() }
    );
}

/// Go's `golang.org/x/mod/sumdb/note` documentation example. Ed25519 is deterministic, so our
/// signer must reproduce Go's note byte for byte, and our verifier must open it.
#[test]
fn go_sumdb_note_known_answers() {
    const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const PETER: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const ENOCH: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    let signer = NoteSigner::from_signer_key(SKEY).unwrap();
    assert_eq!(signer.verifier_key().to_string(), VKEY);
    assert_eq!(signer.key_id(), 0xc74f20a3);
    let note = signer.sign(TEXT).unwrap();
    assert_eq!(note, format!("{TEXT}\n{PETER}"));

    let peter = VerifierKey::parse(VKEY).unwrap();
    let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
    let opened = open_note(&note, std::slice::from_ref(&peter)).unwrap();
    assert_eq!(opened.text, TEXT);
    let both = format!("{TEXT}\n{PETER}{ENOCH}");
    let opened = open_note(&both, &[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(opened.verified.len(), 2);
    // Changing one character of the text breaks both.
    assert!(open_note(&both.replace("cryptography", "cryptographY"), &[enoch]).is_err());
}

/// Verifier keys published in transparency-dev/formats' tests: a type 0x04 cosigner key, and a
/// type 0x01 key whose base64 contains a '+'.
#[test]
fn published_verifier_keys_parse() {
    let k =
        VerifierKey::parse("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2").unwrap();
    assert_eq!((k.key_type(), k.key_id()), (KeyType::CosignatureV1, 0xda77ade7));
    let k = VerifierKey::parse("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6").unwrap();
    assert_eq!((k.key_type(), k.key_id()), (KeyType::Ed25519, 0x7997405c));
}

const PYTHON_VERIFIER: &str = r#"
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

d = json.load(sys.stdin)
note = d["note"].encode("utf-8")
split = note.rindex(b"\n\n")
text, sigs = note[: split + 1], note[split + 2 :]
assert sigs.endswith(b"\n")
dash = "\u2014 ".encode("utf-8")
found = {}
for line in sigs[:-1].split(b"\n"):
    assert line.startswith(dash), line
    name, b64 = line[len(dash):].decode("utf-8").split(" ")
    raw = base64.b64decode(b64, validate=True)
    found[(name, raw[:4])] = raw[4:]

def vkey(v):
    name, key_id, key = v.split("+", 2)
    raw = base64.b64decode(key, validate=True)
    return name, bytes.fromhex(key_id), raw[0], raw[1:]

def key_id(name, kind, public):
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]

name, kid, kind, public = vkey(d["log_vkey"])
assert kind == 1 and len(public) == 32 and key_id(name, 1, public) == kid
Ed25519PublicKey.from_public_bytes(public).verify(found[(name, kid)], text)

origin, size, root = text.decode("utf-8").split("\n")[:3]
assert origin == d["origin"] and size == str(d["size"]), (origin, size)
assert base64.b64decode(root, validate=True).hex() == d["root"]

name, kid, kind, public = vkey(d["cosigner_vkey"])
assert kind == 4 and key_id(name, 4, public) == kid
raw = found[(name, kid)]
assert len(raw) == 8 + 64
timestamp = int.from_bytes(raw[:8], "big")
assert timestamp == d["timestamp"]
message = b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + text
Ed25519PublicKey.from_public_bytes(public).verify(raw[8:], message)
print("ok")
"#;

fn run_python_verifier(py: &str, input: &Value) -> (bool, String) {
    let mut child = Command::new(py)
        .args(["-c", PYTHON_VERIFIER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && text.trim() == "ok", text)
}

/// A checkpoint signed and cosigned by our code verifies with Python's `cryptography` (OpenSSL's
/// Ed25519), which also rebuilds key ids and the cosignature message from the C2SP texts; and the
/// same script rejects a changed byte, so a pass is not vacuous.
#[test]
fn checkpoint_verifies_with_python_cryptography() {
    let probe = "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey";
    let Some(py) = python(probe) else {
        return skip("no python3 with the `cryptography` package; Ed25519 not cross-checked");
    };
    let (cp, note) = example_note();
    let input = |note: &str| {
        serde_json::json!({
            "note": note,
            "origin": cp.origin(),
            "size": cp.size(),
            "root": hex::encode(cp.root_hash()),
            "log_vkey": example_log_key().verifier_key().to_string(),
            "cosigner_vkey": example_witness().verifier_key().to_string(),
            "timestamp": EXAMPLE_TIMESTAMP,
        })
    };
    let (ok, out) = run_python_verifier(py, &input(&note));
    assert!(ok, "{py} rejected our checkpoint:\n{note}\n{out}");
    // A random key and a fresh checkpoint, too.
    let rng = ring::rand::SystemRandom::new();
    let (skey, _) = NoteSigner::generate(EXAMPLE_ORIGIN, &rng).unwrap();
    let fresh = NoteSigner::from_signer_key(&skey).unwrap();
    let fresh_note = format!(
        "{}{}",
        sign_checkpoint(&cp, &fresh),
        example_witness().cosign(&cp, EXAMPLE_TIMESTAMP).unwrap()
    );
    let mut fresh_input = input(&fresh_note);
    fresh_input["log_vkey"] = fresh.verifier_key().to_string().into();
    let (ok, out) = run_python_verifier(py, &fresh_input);
    assert!(ok, "{py} rejected a checkpoint signed with a generated key:\n{out}");
    // The size changed from 3 to 4 (and told to Python as 4): the signature no longer verifies.
    let tampered = note.replacen("\n3\n", "\n4\n", 1);
    let mut tampered_input = input(&tampered);
    tampered_input["size"] = 4.into();
    let (ok, out) = run_python_verifier(py, &tampered_input);
    assert!(!ok && out.contains("InvalidSignature"), "{py} accepted a changed checkpoint:\n{out}");
    println!("Ed25519 signature and cosignature verified with {py} (cryptography)");
}

#[test]
fn open_checkpoint_rejects_changes_wrong_keys_and_wrong_origins() {
    let (cp, note) = example_note();
    let log_key = example_log_key().verifier_key();
    let witness = example_witness().verifier_key();
    let ok = open_checkpoint(&note, EXAMPLE_ORIGIN, &log_key, std::slice::from_ref(&witness)).unwrap();
    assert_eq!(ok.checkpoint, cp);
    assert_eq!(ok.cosignatures.len(), 1);
    assert_eq!(ok.cosignatures[0].timestamp, Some(EXAMPLE_TIMESTAMP));

    // Every single-byte change to the checkpoint text (ASCII to another ASCII letter or digit) is caught.
    let text_len = cp.to_text().len();
    for i in 0..text_len {
        let mut bytes = note.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        let err = open_checkpoint(&changed, EXAMPLE_ORIGIN, &log_key, &[]).unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::BadSignature { .. }
                    | CheckpointError::WrongOrigin { .. }
                    | CheckpointError::BadTreeHead(_)
                    | CheckpointError::Malformed(_)
            ),
            "byte {i}: {err:?}"
        );
    }
    // A changed byte in the root hash: a bad signature by the log key.
    let root_line = STANDARD_B64.encode(cp.root_hash());
    let flipped = if root_line.starts_with('A') { "B" } else { "A" };
    let changed = note.replacen(&root_line, &format!("{flipped}{}", &root_line[1..]), 1);
    assert_eq!(
        open_checkpoint(&changed, EXAMPLE_ORIGIN, &log_key, &[]),
        Err(CheckpointError::BadSignature { name: EXAMPLE_ORIGIN.into(), key_id: log_key.key_id() })
    );
    // A changed byte in the log's signature.
    let parsed = parse_note(&note).unwrap();
    let mut sig = parsed.signatures[0].clone();
    sig.signature[10] ^= 0x01;
    let forged = format!("{}\n{}", parsed.text, sig.to_line());
    assert!(matches!(
        open_checkpoint(&forged, EXAMPLE_ORIGIN, &log_key, &[]),
        Err(CheckpointError::BadSignature { .. })
    ));
    // A changed byte in the cosignature, when the witness is known.
    let mut cosig = parsed.signatures[1].clone();
    cosig.signature[20] ^= 0x01;
    let forged = format!("{}\n{}{}", parsed.text, parsed.signatures[0].to_line(), cosig.to_line());
    assert!(matches!(
        open_checkpoint(&forged, EXAMPLE_ORIGIN, &log_key, std::slice::from_ref(&witness)),
        Err(CheckpointError::BadSignature { .. })
    ));
    // The wrong key: another key under the same name, and the witness's key as if it were the log's.
    let impostor = NoteSigner::from_seed(EXAMPLE_ORIGIN, &[0x55; 32]).unwrap().verifier_key();
    assert!(matches!(
        open_checkpoint(&note, EXAMPLE_ORIGIN, &impostor, &[]),
        Err(CheckpointError::NotSignedByLog { .. })
    ));
    assert!(matches!(
        open_checkpoint(&note, EXAMPLE_ORIGIN, &witness, &[]),
        Err(CheckpointError::LogKeyType(KeyType::CosignatureV1))
    ));
    // The right key but the wrong origin, and a checkpoint re-signed for another origin.
    assert_eq!(
        open_checkpoint(&note, "samordna.se/relay/other", &log_key, &[]),
        Err(CheckpointError::WrongOrigin {
            expected: "samordna.se/relay/other".into(),
            found: EXAMPLE_ORIGIN.into()
        })
    );
    let other = Checkpoint::new("samordna.se/relay/other", cp.size(), *cp.root_hash()).unwrap();
    let resigned = sign_checkpoint(&other, &example_log_key());
    assert!(matches!(
        open_checkpoint(&resigned, EXAMPLE_ORIGIN, &log_key, &[]),
        Err(CheckpointError::WrongOrigin { .. })
    ));
}

/// Every perfect subtree by level, as the relay would store it, counting reads.
struct Levels {
    levels: Vec<Vec<Hash>>,
    reads: Cell<u64>,
}

impl HashReader for Levels {
    fn leaf_hash(&self, index: u64) -> Result<Hash, ReadError> {
        self.reads.set(self.reads.get() + 1);
        self.levels[0].get(index as usize).copied().ok_or_else(|| "no such leaf".into())
    }
    fn subtree_hash(&self, node: NodeId) -> Result<Option<Hash>, ReadError> {
        self.reads.set(self.reads.get() + 1);
        Ok(self.levels.get(node.level as usize).and_then(|l| l.get(node.index as usize)).copied())
    }
}

#[test]
fn a_million_entries() {
    const N: u64 = 1_000_000;
    let leaves: Vec<Hash> = (0..N).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();

    let t = Instant::now();
    let root = merkle::root(&leaves);
    let root_time = t.elapsed();

    let mut tree = Tree::new();
    let mut levels = Levels { levels: vec![Vec::new(); 21], reads: Cell::new(0) };
    let t = Instant::now();
    for leaf in &leaves {
        tree.push_with(*leaf, |node, h| {
            let level = &mut levels.levels[node.level as usize];
            assert_eq!(level.len() as u64, node.index);
            level.push(*h);
        });
    }
    let append_time = t.elapsed();
    assert_eq!(tree.root(), root);
    assert_eq!(merkle::root_at(N, &levels).unwrap(), root);

    let (mut max_reads, mut proofs) = (0, 0);
    let t = Instant::now();
    for k in 0..1000u64 {
        let index = k * 997 % N;
        levels.reads.set(0);
        let proof = merkle::inclusion_proof(index, N, &levels).unwrap();
        max_reads = max_reads.max(levels.reads.get());
        merkle::verify_inclusion(&leaves[index as usize], index, N, &proof, &root).unwrap();
        let old = 1 + k * 999;
        levels.reads.set(0);
        let proof = merkle::consistency_proof(old, N, &levels).unwrap();
        max_reads = max_reads.max(levels.reads.get());
        let old_root = merkle::root_at(old, &levels).unwrap();
        merkle::verify_consistency(old, N, &old_root, &root, &proof).unwrap();
        proofs += 2;
    }
    let proof_time = t.elapsed() / proofs;

    // Without stored subtrees a proof reads every leaf of its siblings: O(n), but still correct.
    let t = Instant::now();
    let slow = merkle::inclusion_proof(N / 3, N, leaves.as_slice()).unwrap();
    let slow_time = t.elapsed();
    merkle::verify_inclusion(&leaves[(N / 3) as usize], N / 3, N, &slow, &root).unwrap();

    println!(
        "1M leaves: root {root_time:?}, appending with subtree storage {append_time:?}, \
         proof + verification {proof_time:?} each ({max_reads} hash reads at most), \
         inclusion proof from leaves only {slow_time:?}"
    );
    // log2(1M) = 20 levels: a proof reads about one hash per level, plus the right edge.
    assert!(max_reads <= 2 * 21, "{max_reads} reads");
    // Generous bounds (the test profile optimises this crate at level 1 only; CI machines vary).
    assert!(root_time < Duration::from_secs(3), "root over 1M leaves took {root_time:?}");
    assert!(proof_time < Duration::from_millis(5), "a proof took {proof_time:?}");
}
