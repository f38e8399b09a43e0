//! The client's operations end to end against a stand-in relay over real mutual TLS: keys, case,
//! consent, send (consent chosen, keys verified, streamed upload, retry), inbox, fetch (verified,
//! saved, receipt), status (receipts verified), TLS failures as sentences, and the command line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{path::Path, process::Command, time::Duration};

use samordna_client::{
    ClientError, ConsentRequest, FetchRequest, ReceiptCheck, SendRequest, Session,
    profile::Profile,
    relay::{RelayError, TlsProblem},
};
use samordna_core::{
    CaseId, ContentKind,
    audit::Reason,
    consent::{ConsentForm, GrantorRole, SubjectClass},
    signature::verify_detached,
};
use support::*;
use time::Duration as TimeDuration;

struct World {
    fed: Federation,
    relay: MockRelay,
    kommun: std::path::PathBuf,
    region: std::path::PathBuf,
    skola: std::path::PathBuf,
}

fn world() -> World {
    let fed = Federation::new();
    let crl = fed.crl(&[]);
    let relay = MockRelay::start(&fed.server(), &fed.ca.root().cert_pem, &crl);
    let kommun = fed.person(KOMMUN, "Linköpings kommun", "Karin Berg", "SE2120000449-kb01");
    let region = fed.person(REGION, "Region Östergötland", "Anna Lind", "SE2321000032-al01");
    let skola = fed.person(SKOLA, "Stångåskolan AB", "Lars Ek", "SE5569875437-le01");
    World {
        kommun: fed.profile("kommun", &kommun, &relay.url, &crl),
        region: fed.profile("region", &region, &relay.url, &crl),
        skola: fed.profile("skola", &skola, &relay.url, &crl),
        fed,
        relay,
    }
}

fn session(dir: &Path) -> Session {
    Session::new(Profile::load(dir).unwrap()).unwrap().with_retry_delays(vec![Duration::from_millis(10); 3])
}

/// The SIP plan of the spec's example, for `case`: `send` checks a plan before it seals it.
fn sip_plan(case: &CaseId) -> Vec<u8> {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/spec/sip-plan-v1.example.json");
    let mut plan: serde_json::Value = serde_json::from_slice(&std::fs::read(example).unwrap()).unwrap();
    plan["case_id"] = case.as_str().into();
    serde_json::to_vec_pretty(&plan).unwrap()
}

fn adult_consent(case: &CaseId, parties: &[&str], kinds: &[ContentKind]) -> ConsentRequest {
    ConsentRequest {
        case_id: case.clone(),
        parties: parties.iter().map(|s| p(s)).collect(),
        kinds: kinds.to_vec(),
        valid_from: None,
        valid_until: time::OffsetDateTime::now_utc() + TimeDuration::days(90),
        subject: SubjectClass::Adult,
        grantors: vec![GrantorRole::Individual],
        custodial_guardians: None,
        child_view_heard: false,
        form: ConsentForm::Written,
        supersedes: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_goes_from_the_municipality_to_the_region_and_the_receipt_comes_back() {
    let w = world();
    let (kommun, region) = (session(&w.kommun), session(&w.region));

    let key = region.keys_init().await.unwrap();
    assert!(key.newly_published);
    assert!(w.region.join("keys").join(format!("{}.key", key.key_id)).exists());
    assert_eq!(key.relay.log_index, Some(1), "the log index header is read");
    assert!(key.relay.request_id.as_deref().is_some_and(|r| r.starts_with("req-")));
    let listed = region.keys_list(false).await.unwrap();
    assert_eq!(listed.keys.len(), 1);
    assert!(
        listed.keys[0].path.is_some() && listed.keys[0].published.as_ref().unwrap().attested_by.is_some()
    );

    let case = kommun.case_open(None).await.unwrap();
    assert_eq!(case.lead_principal.id, p(KOMMUN));
    assert_eq!(case.lead_principal.name.as_deref(), Some("Linköpings kommun"));
    let consent = kommun
        .consent_record(&adult_consent(&case.case_id, &[KOMMUN, REGION], &[ContentKind::Plan]))
        .await
        .unwrap();
    assert!(consent.consent.signature_verified);
    let shown = kommun.case_show(&case.case_id).await.unwrap();
    assert_eq!(shown.consents.len(), 1);

    let doc = w.fed.dir.path().join("sip-plan.json");
    std::fs::write(&doc, sip_plan(&case.case_id)).unwrap();
    let sent = kommun
        .send(&SendRequest {
            file: doc.clone(),
            case_id: case.case_id.clone(),
            to: vec![p(REGION)],
            kind: ContentKind::Plan,
            consent: None,
        })
        .await
        .unwrap();
    assert_eq!(sent.consent_id, consent.consent.consent_id, "the one fitting consent was chosen");
    assert_eq!(sent.recipients[0].key_ids, vec![key.key_id.clone()]);
    assert_eq!(sent.media_type, "application/json");
    assert!(!sent.duplicate);
    assert_eq!(
        sent.to_string(),
        format!(
            "Sent {} to Region Östergötland (SE2321000032) under consent {}",
            sent.envelope_id, sent.consent_id
        )
    );
    {
        let s = w.relay.state.lock().unwrap();
        let (ctype, len, chunked) = s.puts.last().unwrap().clone();
        assert_eq!(ctype.as_deref(), Some("application/vnd.samordna.envelope"));
        assert_eq!(len, Some(sent.envelope_bytes), "the upload announces its length");
        assert!(!chunked);
    }

    let inbox = region.inbox(Some(&case.case_id)).await.unwrap();
    assert_eq!(inbox.items.len(), 1);
    assert_eq!(inbox.items[0].envelope_id, sent.envelope_id);
    assert_eq!(inbox.items[0].sender.name.as_deref(), Some("Linköpings kommun"));
    let other_case = CaseId::from_random_bytes([9; 16]);
    assert!(region.inbox(Some(&other_case)).await.unwrap().items.is_empty(), "the case filter is sent");

    // Before the fetch, the sender sees no receipt.
    let before = kommun.status(&sent.envelope_id).await.unwrap();
    assert_eq!(before.recipients[0].receipt, ReceiptCheck::None);

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("plan.json");
    let sig = out_dir.path().join("plan.json.p7s");
    let fetched = region
        .fetch(&FetchRequest {
            envelope_id: sent.envelope_id.clone(),
            out: out.clone(),
            save_signature: Some(sig.clone()),
            overwrite: false,
        })
        .await
        .unwrap();
    assert_eq!(read(&out), read(&doc));
    assert_eq!(fetched.author.name, "Karin Berg");
    assert_eq!(fetched.manifest.file_name.as_deref(), Some("sip-plan.json"));
    assert!(fetched.receipt.posted, "{:?}", fetched.receipt);
    let first_line = fetched.to_string().lines().next().unwrap().to_owned();
    assert!(
        first_line.starts_with(
            "Verified signature: Karin Berg, Linköpings kommun (HSA-id SE2120000449-kb01), signed "
        ) && first_line.ends_with(" UTC"),
        "{first_line}"
    );
    // The saved signature is the author's detached CMS over the document.
    let trust = Profile::load(&w.region).unwrap();
    let v =
        verify_detached(&read(&sig), &read(&out), trust.trust(), time::OffsetDateTime::now_utc()).unwrap();
    assert_eq!(v.signer.identity.name, "Karin Berg");
    // So does openssl, as an archive would check it (where openssl is installed).
    let openssl = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-out", "/dev/null", "-in"])
        .arg(&sig)
        .arg("-content")
        .arg(&out)
        .arg("-CAfile")
        .arg(w.region.join("root-ca.pem"))
        .output();
    if let Ok(o) = openssl {
        assert!(o.status.success(), "openssl cms -verify: {}", String::from_utf8_lossy(&o.stderr));
    }
    // Nothing else was left in the output directory.
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 2);

    let status = kommun.status(&sent.envelope_id).await.unwrap();
    assert!(status.recipients[0].fetched_at.is_some());
    match &status.recipients[0].receipt {
        ReceiptCheck::Verified { by, .. } => assert_eq!(by.name, "Anna Lind"),
        other => panic!("{other:?}"),
    }
    assert!(!status.has_invalid_receipt());

    // A second fetch to the same file is refused before anything is downloaded.
    let again = region
        .fetch(&FetchRequest {
            envelope_id: sent.envelope_id.clone(),
            out: out.clone(),
            save_signature: None,
            overwrite: false,
        })
        .await
        .unwrap_err();
    assert_eq!(again.exit_code(), 2, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_consent_keys_and_refusals_are_explained() {
    let w = world();
    let (kommun, region) = (session(&w.kommun), session(&w.region));
    region.keys_init().await.unwrap();
    let case = kommun.case_open(None).await.unwrap();
    kommun
        .consent_record(&adult_consent(&case.case_id, &[KOMMUN, SKOLA], &[ContentKind::Plan]))
        .await
        .unwrap();
    let doc = w.fed.dir.path().join("plan.txt");
    std::fs::write(&doc, sip_plan(&case.case_id)).unwrap();
    let send = |to: &str| SendRequest {
        file: doc.clone(),
        case_id: case.case_id.clone(),
        to: vec![p(to)],
        kind: ContentKind::Plan,
        consent: None,
    };

    // The region is not a party: said by name, before anything is uploaded.
    let e = kommun.send(&send(REGION)).await.unwrap_err();
    assert_eq!((e.exit_code(), e.code().as_str()), (1, "recipient_not_a_party"));
    assert_eq!(
        e.to_string(),
        format!(
            "Region Östergötland (SE2321000032) is not a party to any active consent in case {}; record a new consent that names them",
            case.case_id
        )
    );
    // The school is a party but has no key.
    let e = kommun.send(&send(SKOLA)).await.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "Stångåskolan AB (SE5569875437) has not published an encryption key; ask them to run `samordna keys init`"
    );
    assert!(w.relay.state.lock().unwrap().puts.is_empty(), "nothing was uploaded");

    // A consent rule refuses locally, in the relay's words.
    let mut child = adult_consent(&case.case_id, &[KOMMUN, REGION], &[ContentKind::Plan]);
    child.subject = SubjectClass::Minor;
    child.grantors = vec![GrantorRole::Guardian1];
    child.custodial_guardians = Some(2);
    child.child_view_heard = true;
    let e = kommun.consent_record(&child).await.unwrap_err();
    assert_eq!(e.code(), Reason::GuardianMissing.as_str());
    assert!(e.to_string().contains("the second guardian with custody has not consented"), "{e}");

    // A relay refusal keeps its code and request id.
    let e = kommun.consent_show(&samordna_core::ConsentId::from_random_bytes([5; 16])).await.unwrap_err();
    match &e {
        ClientError::Relay(RelayError::Refused { status, code, request_id, .. }) => {
            assert_eq!(*status, 404);
            assert_eq!(code.reason(), Some(Reason::NotFound));
            assert_eq!(request_id.as_deref(), Some("mock-req"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_is_checked_before_anything_is_sent() {
    let w = world();
    let (kommun, region) = (session(&w.kommun), session(&w.region));
    region.keys_init().await.unwrap();
    let case = kommun.case_open(None).await.unwrap();
    kommun
        .consent_record(&adult_consent(&case.case_id, &[KOMMUN, REGION], &[ContentKind::Plan]))
        .await
        .unwrap();
    let doc = w.fed.dir.path().join("sip-plan.json");
    let send = SendRequest {
        file: doc.clone(),
        case_id: case.case_id.clone(),
        to: vec![p(REGION)],
        kind: ContentKind::Plan,
        consent: None,
    };

    // Another system's idea of a plan: refused as a usage error, the personnummer not repeated.
    std::fs::write(&doc, br#"{"type": "sip-plan", "person": {"personnummer": "19121212-1212"}}"#).unwrap();
    let e = kommun.send(&send).await.unwrap_err();
    assert_eq!((e.exit_code(), e.code().as_str()), (2, "plan_invalid"));
    assert!(
        e.to_string().contains("nothing was sent")
            && e.to_string().contains("\n  type: must be \"samordna-sip-plan\""),
        "{e}"
    );
    assert!(!e.to_string().contains("1212-1212"), "{e}");

    // An effort put on a principal that was not at the table: the field is named, in both languages.
    let mut plan: serde_json::Value = serde_json::from_slice(&sip_plan(&case.case_id)).unwrap();
    plan["efforts"][2]["responsible_principal"] = SKOLA.into();
    std::fs::write(&doc, serde_json::to_vec(&plan).unwrap()).unwrap();
    let e = kommun.send(&send).await.unwrap_err();
    assert_eq!((e.exit_code(), e.code().as_str()), (2, "plan_invalid"));
    let text = e.to_string();
    assert!(
        text.contains(
            "\n  efforts[2].responsible_principal: the responsible principal SE5569875437 is not among"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n    (sv) ansvarig huvudman SE5569875437 finns inte bland deltagarnas huvudmän"),
        "{text}"
    );

    // Another case's plan: perhaps another person's; refused.
    std::fs::write(&doc, sip_plan(&CaseId::from_random_bytes([7; 16]))).unwrap();
    let e = kommun.send(&send).await.unwrap_err();
    assert_eq!((e.exit_code(), e.code().as_str()), (2, "plan_case_mismatch"), "{e}");
    assert!(w.relay.state.lock().unwrap().puts.is_empty(), "nothing was uploaded");

    // The right plan goes, as JSON whatever the file is called, and arrives byte for byte.
    let renamed = w.fed.dir.path().join("plan.sip");
    let bytes = sip_plan(&case.case_id);
    std::fs::write(&renamed, &bytes).unwrap();
    let sent = kommun.send(&SendRequest { file: renamed, ..send }).await.unwrap();
    assert_eq!(sent.media_type, "application/json");
    assert_eq!(sent.document_bytes, bytes.len() as u64);
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("plan.json");
    region
        .fetch(&FetchRequest {
            envelope_id: sent.envelope_id,
            out: out.clone(),
            save_signature: None,
            overwrite: false,
        })
        .await
        .unwrap();
    assert_eq!(read(&out), bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_is_retried_with_the_same_envelope() {
    let w = world();
    let (kommun, region) = (session(&w.kommun), session(&w.region));
    region.keys_init().await.unwrap();
    let case = kommun.case_open(None).await.unwrap();
    kommun
        .consent_record(&adult_consent(&case.case_id, &[KOMMUN, REGION], &[ContentKind::Attachment]))
        .await
        .unwrap();
    // Over 4 MiB and several chunks: the upload streams from the spool file.
    let doc = w.fed.dir.path().join("bilaga.pdf");
    let big: Vec<u8> = (0..5 * 1024 * 1024 + 123).map(|i| (i % 251) as u8).collect();
    std::fs::write(&doc, &big).unwrap();
    w.relay.state.lock().unwrap().drop_after_storing_next_put = true;
    let sent = kommun
        .send(&SendRequest {
            file: doc.clone(),
            case_id: case.case_id.clone(),
            to: vec![p(REGION)],
            kind: ContentKind::Attachment,
            consent: None,
        })
        .await
        .unwrap();
    assert_eq!(sent.attempts, 2);
    assert!(sent.duplicate, "the retry was recognised as the same envelope");
    assert_eq!(sent.media_type, "application/pdf");
    assert_eq!(w.relay.state.lock().unwrap().envelopes.len(), 1);

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("bilaga.pdf");
    region
        .fetch(&FetchRequest {
            envelope_id: sent.envelope_id,
            out: out.clone(),
            save_signature: None,
            overwrite: false,
        })
        .await
        .unwrap();
    assert_eq!(read(&out), big);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_envelope_leaves_no_file() {
    let w = world();
    let (kommun, region) = (session(&w.kommun), session(&w.region));
    region.keys_init().await.unwrap();
    let case = kommun.case_open(None).await.unwrap();
    kommun
        .consent_record(&adult_consent(&case.case_id, &[KOMMUN, REGION], &[ContentKind::Attachment]))
        .await
        .unwrap();
    let doc = w.fed.dir.path().join("bilaga.bin");
    std::fs::write(&doc, vec![b'x'; 200_000]).unwrap();
    let sent = kommun
        .send(&SendRequest {
            file: doc,
            case_id: case.case_id,
            to: vec![p(REGION)],
            kind: ContentKind::Attachment,
            consent: None,
        })
        .await
        .unwrap();
    w.relay.state.lock().unwrap().tamper_downloads = true;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("plan.json");
    let e = region
        .fetch(&FetchRequest {
            envelope_id: sent.envelope_id.clone(),
            out: out.clone(),
            save_signature: None,
            overwrite: false,
        })
        .await
        .unwrap_err();
    assert_eq!((e.exit_code(), e.code().as_str()), (4, "envelope_invalid"), "{e}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0, "temporary files were left behind");
    let s = w.relay.state.lock().unwrap();
    assert!(s.envelopes[0].receipts.is_empty(), "no receipt for a document that did not verify");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_failures_become_sentences() {
    // The relay has a fresher CRL than the client's profile: it revoked Karin's certificate.
    let fed = Federation::new();
    let karin = fed.person(KOMMUN, "Linköpings kommun", "Karin Berg", "SE2120000449-kb01");
    let relay = MockRelay::start(&fed.server(), &fed.ca.root().cert_pem, &fed.crl(&[karin.serial]));
    let dir = fed.profile("karin", &karin, &relay.url, &fed.crl(&[]));
    let e = session(&dir).directory().await.unwrap_err();
    match &e {
        ClientError::Relay(RelayError::Tls(TlsProblem::OurCertificateRevoked)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(e.exit_code(), 3);
    assert_eq!(
        e.to_string(),
        "the relay refused your certificate: it has been revoked; ask your organisation's IT for a new one"
    );

    // A relay whose certificate comes from another CA.
    let other = Federation::new();
    let impostor = MockRelay::start(&other.server(), &fed.ca.root().cert_pem, &fed.crl(&[]));
    let anna = fed.person(REGION, "Region Östergötland", "Anna Lind", "SE2321000032-al01");
    let dir = fed.profile("anna", &anna, &impostor.url, &fed.crl(&[]));
    let e = session(&dir).directory().await.unwrap_err();
    assert_eq!(e.code(), "tls_relay_untrusted");
    assert_eq!(
        e.to_string(),
        "the relay's certificate is not issued by your federation's CA (check root_ca in profile.toml)"
    );

    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let dir = fed.profile("nobody", &anna, &url, &fed.crl(&[]));
    let e = session(&dir).directory().await.unwrap_err();
    assert_eq!((e.exit_code(), e.code().as_str()), (3, "unreachable"), "{e}");
    assert!(e.to_string().starts_with("cannot reach the relay at https://127.0.0.1:"), "{e}");
}

#[test]
fn the_command_line_prints_json_and_sentences_with_documented_exit_codes() {
    let w = world();
    let bin = env!("CARGO_BIN_EXE_samordna");
    let run = |profile: &Path, args: &[&str]| {
        Command::new(bin).arg("--profile").arg(profile).args(args).output().unwrap()
    };

    let out = run(&w.region, &["--json", "keys", "init"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["key_id"].as_str().unwrap().starts_with("N-"));

    let out = run(&w.kommun, &["--json", "case", "open"]);
    let case: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let case_id = case["case_id"].as_str().unwrap().to_owned();

    // A child's consent without the second guardian: refused here (exit 1), JSON error on stdout.
    let out = run(
        &w.kommun,
        &[
            "--json",
            "consent",
            "record",
            "--case",
            &case_id,
            "--party",
            KOMMUN,
            "--party",
            REGION,
            "--kind",
            "plan",
            "--until",
            &(time::OffsetDateTime::now_utc() + TimeDuration::days(60)).date().to_string(),
            "--subject",
            "minor",
            "--grantor",
            "guardian1",
            "--custodians",
            "2",
            "--child-view-heard",
            "--form",
            "written",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], "guardian_missing");

    let until = (time::OffsetDateTime::now_utc() + TimeDuration::days(60)).date().to_string();
    let out = run(
        &w.kommun,
        &[
            "consent",
            "record",
            "--case",
            &case_id,
            "--party",
            KOMMUN,
            "--party",
            REGION,
            "--kind",
            "plan",
            "--kind",
            "meeting",
            "--until",
            &until,
            "--subject",
            "adult",
            "--grantor",
            "individual",
            "--form",
            "oral",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Recorded consent K-"));

    let doc = w.fed.dir.path().join("plan.json");
    std::fs::write(&doc, sip_plan(&CaseId::parse(&case_id).unwrap())).unwrap();
    let out = run(
        &w.kommun,
        &["send", doc.to_str().unwrap(), "--case", &case_id, "--to", REGION, "--kind", "plan"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.starts_with("Sent E-")
            && text.contains(" to Region Östergötland (SE2321000032) under consent K-"),
        "{text}"
    );
    let envelope = text.split_whitespace().nth(1).unwrap().to_owned();

    let out_file = w.fed.dir.path().join("received.json");
    let out = run(&w.region, &["fetch", &envelope, "--out", out_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.starts_with(
            "Verified signature: Karin Berg, Linköpings kommun (HSA-id SE2120000449-kb01), signed "
        ),
        "{text}"
    );

    let out = run(&w.kommun, &["--json", "status", &envelope]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["recipients"][0]["receipt"]["state"], "verified");

    // Usage errors exit 2; with --json they are JSON too.
    let out = run(&w.kommun, &["--json", "case", "show", "not-a-case"]);
    assert_eq!(out.status.code(), Some(2));
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], "usage");
    let out = Command::new(bin).env_remove("SAMORDNA_PROFILE").args(["directory"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --profile DIR or set SAMORDNA_PROFILE"));

    // The directory by environment variable, and whoami's pinned line.
    let out = Command::new(bin).env("SAMORDNA_PROFILE", &w.skola).arg("whoami").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Lars Ek (SE5569875437-le01), Stångåskolan AB [SE5569875437]"
    );
}
