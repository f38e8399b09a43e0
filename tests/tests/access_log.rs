//! The tamper-evident access log on the real relay (SQLite and PostgreSQL): checkpoints that an
//! independent Ed25519 implementation verifies, proofs that verify, tampering in the database
//! refused at start-up with the index named, two relay processes appending to one log, and
//! auditors who see only their own principal's entries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{io::Cursor, process::Command, time::Duration};

use samordna_core::{
    CaseId, ContentKind, EnvelopeId, PrincipalId, Signer,
    api::{ConsistencyProof, EntryList, InclusionProof, LogKey, OpenCase},
    audit::Action,
    consent::{ConsentMetadata, SignedConsent},
    envelope::{RecipientKey, SealParams, seal},
    log::{LogEntry, Tree, VerifierKey, merkle, open_checkpoint},
};
use samordna_tests::{
    api::{Api, adult_consent},
    relay::{Backend, TestRelay},
    run,
};
use time::OffsetDateTime;

const KOMMUN: &str = "SE2120000449";
const REGION: &str = "SE2321000032";
const SKOLA: &str = "SE5569875437";

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    b
}

fn p(s: &str) -> PrincipalId {
    PrincipalId::parse(s).unwrap()
}

fn start(backend: Backend) -> Option<TestRelay> {
    let r = TestRelay::start(backend);
    if r.is_none() {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
    }
    r
}

fn log_key(api: &Api<'_>) -> (String, VerifierKey) {
    let k: LogKey = serde_json::from_slice(&api.get("/v1/log/key").body).unwrap();
    (k.origin, VerifierKey::parse(&k.vkey).unwrap())
}

fn entries_in_db(relay: &TestRelay) -> u64 {
    relay.query("SELECT COUNT(*) FROM access_log")[0][0].as_deref().unwrap().parse().unwrap()
}

/// Waits until the relay has signed a checkpoint over every entry; returns its note.
fn settled_checkpoint(relay: &TestRelay, api: &Api<'_>) -> String {
    for _ in 0..100 {
        let n = entries_in_db(relay);
        let note = api.get("/v1/log/checkpoint");
        if note.status == 200 {
            let text = String::from_utf8(note.body).unwrap();
            if text.lines().nth(1) == Some(n.to_string().as_str()) && entries_in_db(relay) == n {
                return text;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the relay did not sign a checkpoint over all its entries within 10 s");
}

fn metadata(case: &CaseId, recorder: &Signer, parties: &[&str]) -> ConsentMetadata {
    let parties: Vec<PrincipalId> = parties.iter().map(|s| p(s)).collect();
    adult_consent(
        case,
        recorder,
        &parties,
        &[ContentKind::Plan],
        OffsetDateTime::now_utc() - time::Duration::hours(1),
        OffsetDateTime::now_utc() + time::Duration::days(60),
    )
}

/// A case led by `lead` with a consent between `parties`, and one plan sent from `lead` to `to`.
fn traffic(lead: &Api<'_>, to: &RecipientKey, parties: &[&str]) -> (CaseId, EnvelopeId) {
    let case = CaseId::from_random_bytes(random16());
    assert_eq!(
        lead.post(
            "/v1/cases",
            &OpenCase { case_id: case.clone(), lead_principal: lead.signer().identity().principal.clone() }
        )
        .status,
        201
    );
    let m = metadata(&case, &lead.signer(), parties);
    assert_eq!(
        lead.post(
            "/v1/consents",
            &SignedConsent::sign(&m, &lead.signer(), OffsetDateTime::now_utc()).unwrap()
        )
        .status,
        201
    );
    let params = SealParams {
        envelope_id: EnvelopeId::from_random_bytes(random16()),
        case_id: case.clone(),
        consent_id: m.consent_id.clone(),
        content_kind: ContentKind::Plan,
        recipients: vec![to.clone()],
        media_type: "application/json".into(),
        file_name: None,
        created: OffsetDateTime::now_utc(),
    };
    let mut out = Vec::new();
    seal(&params, &lead.signer(), &b"{}"[..], 2, Cursor::new(Vec::new()), &mut out).unwrap();
    assert_eq!(lead.put_envelope(params.envelope_id.as_str(), &out).status, 201);
    (case, params.envelope_id)
}

/// Verifies the relay's signature on a checkpoint with Python's `cryptography` (an independent
/// Ed25519 implementation), computing the key id from the verifier key as c2sp.org/signed-note says.
fn python_verifies(note: &str, vkey: &str) -> Option<Result<(), String>> {
    const SCRIPT: &str = r#"
import base64, hashlib, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
note, vkey = sys.stdin.read().split("\x00")
name, keyid_hex, key_b64 = vkey.strip().split("+", 2)
key = base64.b64decode(key_b64)
assert key[0] == 1 and len(key) == 33
keyid = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
assert keyid.hex() == keyid_hex, "key id"
text, sigs = note.rsplit("\n\n", 1)
text += "\n"
for line in sigs.splitlines():
    _, sname, sig = line.split(" ")
    raw = base64.b64decode(sig)
    if sname == name and raw[:4] == keyid:
        Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], text.encode())
        print("verified")
        sys.exit(0)
sys.exit(3)
"#;
    for python in ["/usr/bin/python3", "python3"] {
        let probe = Command::new(python).args(["-c", "import cryptography"]).output();
        if !probe.is_ok_and(|o| o.status.success()) {
            continue;
        }
        let mut child = Command::new(python)
            .args(["-c", SCRIPT])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(format!("{note}\0{vkey}").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let verified = out.status.success() && String::from_utf8_lossy(&out.stdout).contains("verified");
        return Some(if verified { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) });
    }
    None
}

fn checkpoints_and_proofs(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let (kommun, region) = (Api::new(&relay, "municipality"), Api::new(&relay, "region"));
    let (_, region_key) = region.publish_key();
    let (origin, vkey) = log_key(&kommun);
    assert_eq!(origin, "samordna.se/relay/dev");
    let profile_key = std::fs::read_to_string(relay.profile("municipality").join("profile.toml")).unwrap();
    assert!(profile_key.contains(&vkey.to_string()), "dev-federation gives profiles the relay's log key");

    let first = settled_checkpoint(&relay, &kommun);
    traffic(&kommun, &region_key, &[KOMMUN, REGION]);
    let second = settled_checkpoint(&relay, &kommun);

    // Our verifier, and an independent one, accept the relay's checkpoint.
    let old = open_checkpoint(&first, &origin, &vkey, &[]).unwrap().checkpoint;
    let new = open_checkpoint(&second, &origin, &vkey, &[]).unwrap().checkpoint;
    match python_verifies(&second, &vkey.to_string()) {
        Some(result) => result.expect("Python's cryptography verifies the relay's checkpoint"),
        None if std::env::var_os("SAMORDNA_REQUIRE_PYTHON").is_some() => {
            panic!("python3 with cryptography is required")
        }
        None => eprintln!("skipped the independent check: no python3 with the cryptography package"),
    }
    // …and refuse a changed byte, a wrong key and a wrong origin.
    let changed = second.replacen(&new.size().to_string(), &(new.size() + 1).to_string(), 1);
    assert!(open_checkpoint(&changed, &origin, &vkey, &[]).is_err());
    let other = samordna_core::log::NoteSigner::from_seed(&origin, &[9; 32]).unwrap().verifier_key();
    assert!(open_checkpoint(&second, &origin, &other, &[]).is_err());
    assert!(open_checkpoint(&second, "samordna.se/relay/other", &vkey, &[]).is_err());

    // The log only grew: a consistency proof from the first checkpoint to the second verifies.
    let proof: ConsistencyProof = serde_json::from_slice(
        &kommun.get(&format!("/v1/log/proof/consistency?old={}&new={}", old.size(), new.size())).body,
    )
    .unwrap();
    merkle::verify_consistency(old.size(), new.size(), old.root_hash(), new.root_hash(), &proof.proof)
        .unwrap();

    // Every upload's answer named its entry, and the entry is provably in the signed log.
    let upload_idx: u64 = relay
        .query(&format!("SELECT MAX(idx) FROM access_log WHERE action = {}", Action::EnvelopeUpload.code()))
        [0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    let proof: InclusionProof = serde_json::from_slice(
        &kommun.get(&format!("/v1/log/proof/inclusion?index={upload_idx}&size={}", new.size())).body,
    )
    .unwrap();
    let entry_hex =
        relay.query(&format!("SELECT entry FROM access_log WHERE idx = {upload_idx}"))[0][0].clone().unwrap();
    let entry = LogEntry::decode(&hex::decode(entry_hex).unwrap()).unwrap();
    assert_eq!(entry.action, Action::EnvelopeUpload);
    merkle::verify_inclusion(&entry.leaf_hash(), upload_idx, new.size(), &proof.proof, new.root_hash())
        .unwrap();
}

/// A relay with traffic, and a checkpoint signed after each of its last requests.
fn relay_with_history(backend: Backend) -> Option<(TestRelay, u64)> {
    let relay = start(backend)?;
    {
        let (kommun, region) = (Api::new(&relay, "municipality"), Api::new(&relay, "region"));
        let (_, region_key) = region.publish_key();
        traffic(&kommun, &region_key, &[KOMMUN, REGION]);
        for _ in 0..5 {
            assert_eq!(kommun.get("/v1/principals").status, 200);
            settled_checkpoint(&relay, &kommun);
        }
    }
    let size = entries_in_db(&relay);
    assert!(size >= 9, "{size}");
    Some((relay, size))
}

fn entry_at(relay: &TestRelay, idx: u64) -> LogEntry {
    let hex_entry =
        relay.query(&format!("SELECT entry FROM access_log WHERE idx = {idx}"))[0][0].clone().unwrap();
    LogEntry::decode(&hex::decode(hex_entry).unwrap()).unwrap()
}

/// The relay must refuse to start after `tamper`, naming `index` and telling the operator what to do.
fn refuses_to_start(relay: &mut TestRelay, what: &str, index: u64, tamper: impl FnOnce(&TestRelay)) {
    relay.stop();
    tamper(relay);
    let said = relay
        .start_expecting_refusal()
        .unwrap_or_else(|| panic!("{what}: the relay started on a tampered log"));
    assert!(
        said.contains(&format!("entry {index}:")),
        "{what}: expected entry {index} to be named in:\n{said}"
    );
    assert!(said.contains("restore the database from a backup"), "{what}: says what to do:\n{said}");
}

fn an_edited_entry_is_named(backend: Backend) {
    let Some((mut relay, _)) = relay_with_history(backend) else { return };
    refuses_to_start(&mut relay, "an edited entry", 2, |r| {
        // Someone else put in as the actor, in the hashed bytes and the columns alike.
        let mut e = entry_at(r, 2);
        e.actor_user = Some(samordna_core::HsaId::parse("SE2120000449-xx99").unwrap());
        r.execute(&format!(
            "UPDATE access_log SET entry = {}, actor_user = 'SE2120000449-xx99' WHERE idx = 2",
            r.blob(&e.encode())
        ));
    });
}

fn an_edited_column_is_named(backend: Backend) {
    let Some((mut relay, _)) = relay_with_history(backend) else { return };
    refuses_to_start(&mut relay, "an edited column", 3, |r| {
        r.execute("UPDATE access_log SET actor_principal = 'SE2321000032' WHERE idx = 3");
    });
}

fn a_deleted_entry_is_named(backend: Backend) {
    let Some((mut relay, _)) = relay_with_history(backend) else { return };
    refuses_to_start(&mut relay, "a deleted entry", 4, |r| r.execute("DELETE FROM access_log WHERE idx = 4"));
}

fn swapped_entries_are_named(backend: Backend) {
    let Some((mut relay, _)) = relay_with_history(backend) else { return };
    refuses_to_start(&mut relay, "two entries swapped", 3, |r| {
        let (a, b) = (entry_at(r, 3), entry_at(r, 5));
        for (idx, e) in [(3, &b), (5, &a)] {
            r.execute(&format!(
                "UPDATE access_log SET entry = {}, leaf_hash = {} WHERE idx = {idx}",
                r.blob(&e.encode()),
                r.blob(&e.leaf_hash())
            ));
        }
    });
}

fn a_log_cut_short_and_regrown_is_named(backend: Backend) {
    let Some((mut relay, size)) = relay_with_history(backend) else { return };
    let k = size - 3;
    // Cut at k: drop the later entries, and make the head and stored tree fit the shorter log.
    let leaves: Vec<merkle::Hash> = (0..k).map(|i| entry_at(&relay, i).leaf_hash()).collect();
    let mut tree = Tree::new();
    leaves.iter().for_each(|l| tree.push(*l));
    let cut = |r: &TestRelay| {
        r.execute(&format!(
            "DELETE FROM access_log WHERE idx >= {k}; DELETE FROM log_nodes; UPDATE log_head SET size = {k}, frontier = {} WHERE id = 1",
            r.blob(&tree.frontier().concat())
        ));
    };
    refuses_to_start(&mut relay, "a log cut short", k, cut);
    // Regrown: new entries at the same indices, hashed and stored just as the relay would.
    refuses_to_start(&mut relay, "a log cut short and regrown", k, |r| {
        let mut template = entry_at(r, k - 1);
        let mut regrown = tree.clone();
        for idx in k..size + 2 {
            template.index = idx;
            template.request_id = samordna_core::log::RequestId::parse(&format!("forged-{idx}")).unwrap();
            let leaf = template.leaf_hash();
            regrown.push(leaf);
            r.execute(&format!(
                "INSERT INTO access_log (idx, at, request_id, action, decision, reason, actor_principal, actor_user, entry, leaf_hash)
                 VALUES ({idx}, {}, 'forged-{idx}', {}, 1, 0, {}, {}, {}, {})",
                template.at_us,
                template.action.code(),
                template.actor_principal.as_ref().map_or("NULL".into(), |p| format!("'{p}'")),
                template.actor_user.as_ref().map_or("NULL".into(), |u| format!("'{u}'")),
                r.blob(&template.encode()),
                r.blob(&leaf)
            ));
        }
        r.execute(&format!(
            "UPDATE log_head SET size = {}, frontier = {} WHERE id = 1",
            size + 2,
            r.blob(&regrown.frontier().concat())
        ));
    });
}

fn two_relay_processes_keep_one_log(backend: Backend) {
    if backend != Backend::Postgres {
        return; // Several relay processes share a database only on PostgreSQL.
    }
    let Some(mut relay) = start(backend) else { return };
    let second = relay.start_another_process();
    let (kommun, region) = (Api::new(&relay, "municipality"), Api::new(&relay, "region"));
    let (_, region_key) = region.publish_key();
    let (case, _) = traffic(&kommun, &region_key, &[KOMMUN, REGION]);
    let first_url = relay.url();
    let second_url = format!("https://localhost:{second}");
    let per_thread = 15;
    std::thread::scope(|s| {
        for url in [&first_url, &second_url, &first_url, &second_url] {
            let profile = relay.profile("municipality");
            let case = case.clone();
            s.spawn(move || {
                for _ in 0..per_thread {
                    let out = Command::new("curl")
                        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
                        .arg(profile.join("root-ca.pem"))
                        .arg("--cert")
                        .arg(profile.join("cert.pem"))
                        .arg("--key")
                        .arg(profile.join("key.pem"))
                        .arg(format!("{url}/v1/cases/{case}"))
                        .output()
                        .unwrap();
                    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
                }
            });
        }
    });
    let log = relay.access_log();
    assert!(log.iter().enumerate().all(|(i, r)| r.idx == i as u64), "one gap-free sequence");
    assert!(log.iter().filter(|r| r.action == Action::CaseRead.code()).count() >= 4 * per_thread);
    settled_checkpoint(&relay, &kommun);
    relay.stop();
    let out = run(relay.relay_cmd().args(["log", "verify"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("match their"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn auditors_see_only_their_principals_entries(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let (kommun, region, skola) =
        (Api::new(&relay, "municipality"), Api::new(&relay, "region"), Api::new(&relay, "school"));
    let (_, region_key) = region.publish_key();
    let (_, skola_key) = skola.publish_key();
    // A case between municipality and region, and one between region and school only.
    let (shared, _) = traffic(&kommun, &region_key, &[KOMMUN, REGION]);
    let (region_only, _) = traffic(&region, &skola_key, &[REGION, SKOLA]);
    // Karin Berg of the municipality is made an auditor of the municipality for this test.
    let out = run(relay.relay_cmd().args([
        "auditor",
        "add",
        "--hsa-id",
        "SE2120000449-kb01",
        "--principal",
        KOMMUN,
    ]));
    assert!(out.status.success());

    let answer = kommun.get("/v1/log/entries?count=5000");
    let municipal: EntryList = serde_json::from_slice(&answer.body).unwrap_or_else(|_| {
        panic!("{}: {}\n{}", answer.status, String::from_utf8_lossy(&answer.body), relay.log())
    });
    let cases: Vec<Option<CaseId>> =
        municipal.entries.iter().map(|r| LogEntry::decode(&r.entry).unwrap().case_id).collect();
    assert!(cases.contains(&Some(shared.clone())), "the municipality's auditor sees the shared case");
    assert!(!cases.contains(&Some(region_only.clone())), "but not the region's case with the school");
    // Filtering on the region's case gives nothing, and the query itself is logged.
    let filtered = kommun.get(&format!("/v1/log/entries?case={region_only}"));
    let filtered_list: EntryList = serde_json::from_slice(&filtered.body)
        .unwrap_or_else(|_| panic!("{}: {}", filtered.status, String::from_utf8_lossy(&filtered.body)));
    assert!(filtered_list.entries.is_empty());
    let logged = relay.access_log().into_iter().find(|r| Some(r.idx) == filtered.log_index).unwrap();
    assert_eq!(logged.action, Action::LogRead.code());

    // The region's compliance officer (dev-federation's auditor) sees both.
    let auditor = Api::new(&relay, "auditor");
    let regional: EntryList =
        serde_json::from_slice(&auditor.get("/v1/log/entries?count=5000").body).unwrap();
    let cases: Vec<Option<CaseId>> =
        regional.entries.iter().map(|r| LogEntry::decode(&r.entry).unwrap().case_id).collect();
    assert!(cases.contains(&Some(shared)) && cases.contains(&Some(region_only)));
    // People who are not auditors get nothing.
    assert_eq!(skola.get("/v1/log/entries").status, 403);
    assert_eq!(region.get("/v1/log/entries").status, 403);
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(
    checkpoints_and_proofs,
    an_edited_entry_is_named,
    an_edited_column_is_named,
    a_deleted_entry_is_named,
    swapped_entries_are_named,
    a_log_cut_short_and_regrown_is_named,
    two_relay_processes_keep_one_log,
    auditors_see_only_their_principals_entries,
);
