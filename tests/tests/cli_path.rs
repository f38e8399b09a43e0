//! The product's first complete path, as staff would run it: a social worker in Linköpings kommun
//! sends a signed, encrypted SIP plan to Region Östergötland through the real relay; the region
//! fetches it, decrypts it and sees who signed it; openssl accepts the saved signature; and the
//! relay's database holds neither the plan's text nor the person's personnummer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use samordna_core::audit::Action;
use samordna_tests::{
    cli::{ok, samordna, string},
    openssl,
    relay::{Backend, TestRelay},
    run,
};

/// The spec's example plan (fictional person, Skatteverket's test personnummer), for this case.
fn plan_for(case: &str) -> String {
    include_str!("../../docs/spec/sip-plan-v1.example.json").replace("S-3QQFC4FRDNN806FQVPN62MBSZF", case)
}

fn the_whole_path(backend: Backend) {
    let Some(relay) = TestRelay::start(backend) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    let work = tempfile::tempdir().unwrap();

    ok(&relay, "region", &["keys", "init"]);
    ok(&relay, "municipality", &["keys", "init"]);
    let case = string(&ok(&relay, "municipality", &["case", "open"]), "case_id");
    let consent = ok(
        &relay,
        "municipality",
        &[
            "consent",
            "record",
            "--case",
            &case,
            "--party",
            "SE2120000449",
            "--party",
            "SE2321000032",
            "--kind",
            "plan",
            "--until",
            &(time::OffsetDateTime::now_utc() + time::Duration::days(90)).date().to_string(),
            "--subject",
            "adult",
            "--grantor",
            "individual",
            "--form",
            "written",
        ],
    );
    let consent_id = consent.to_string();
    assert!(consent_id.contains("K-"), "{consent}");

    let plan = work.path().join("sip-plan.json");
    let plan_text = plan_for(&case);
    std::fs::write(&plan, &plan_text).unwrap();
    let sent = ok(
        &relay,
        "municipality",
        &["send", plan.to_str().unwrap(), "--case", &case, "--to", "SE2321000032", "--kind", "plan"],
    );
    let envelope = string(&sent, "envelope_id");

    // The region sees it waiting, fetches it, and sees who signed it.
    let inbox = ok(&relay, "region", &["inbox"]);
    assert!(inbox.to_string().contains(&envelope), "{inbox}");
    let received = work.path().join("received.json");
    let p7s = work.path().join("received.json.p7s");
    let out = run(relay
        .client("region")
        .args(["fetch", &envelope, "--out"])
        .arg(&received)
        .arg("--save-signature")
        .arg(&p7s));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Verified signature: Karin Berg, Linköpings kommun (HSA-id SE2120000449-kb01)"),
        "{said}"
    );
    assert_eq!(std::fs::read_to_string(&received).unwrap(), plan_text);

    // The saved signature stands on its own: openssl verifies it against the document and the root.
    let root = relay.fed.join("ca/root-ca.pem");
    let verify = openssl(
        work.path(),
        [
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            p7s.to_str().unwrap(),
            "-content",
            received.to_str().unwrap(),
            "-CAfile",
            root.to_str().unwrap(),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    );
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));

    // The sender sees the delivery, with the region's signed receipt verified.
    let status = ok(&relay, "municipality", &["status", &envelope]);
    let text = status.to_string();
    assert!(text.contains("SE2321000032"), "{status}");
    assert!(text.contains("verified"), "the receipt was verified: {status}");

    // A second fetch of the same envelope still works and does not duplicate anything.
    let again = work.path().join("again.json");
    assert!(run(relay.client("region").args(["fetch", &envelope, "--out"]).arg(&again)).status.success());

    // Every step is in the access log, all allowed, with the consent named where one was relied on.
    let log = relay.access_log();
    for action in [
        Action::KeyPublish,
        Action::CaseOpen,
        Action::ConsentRecord,
        Action::EnvelopeUpload,
        Action::InboxRead,
        Action::EnvelopeFetch,
        Action::ReceiptPost,
        Action::StatusRead,
    ] {
        assert!(
            log.iter().any(|r| r.action == action.code() && r.allowed),
            "no allowed {action} in {log:#?}"
        );
    }
    let upload = log.iter().find(|r| r.action == Action::EnvelopeUpload.code()).unwrap();
    assert_eq!(upload.envelope_id.as_deref(), Some(envelope.as_str()));
    assert!(upload.consent_id.as_deref().is_some_and(|c| consent_id.contains(c)));
    assert_eq!(upload.user.as_deref(), Some("SE2120000449-kb01"));
    assert_eq!(relay.query("SELECT COUNT(*) FROM envelopes")[0][0].as_deref(), Some("1"));

    // What the relay stored: neither the plan's text nor the person (each needle is in the plan).
    for needle in ["Tolvan Tolvansson", "19121212-1212", "bröt höften", "Hemtjänst morgon och kväll"] {
        assert!(
            plan_text.contains(needle),
            "{needle:?} is not in the plan, so finding nothing proves nothing"
        );
        let found = relay.find_in_database(needle.as_bytes());
        assert!(found.is_empty(), "{needle:?} is stored in {found:?}");
    }
    // …while the same scan does find what the relay is meant to keep (so the scan itself works).
    assert!(!relay.find_in_database(envelope.as_bytes()).is_empty());
}

#[test]
fn the_whole_path_on_sqlite() {
    the_whole_path(Backend::Sqlite);
}

#[test]
fn the_whole_path_on_postgres() {
    the_whole_path(Backend::Postgres);
}

#[test]
fn a_missing_consent_is_explained_before_anything_is_sent() {
    let relay = TestRelay::start(Backend::Sqlite).expect("sqlite");
    ok(&relay, "school", &["keys", "init"]);
    let case = string(&ok(&relay, "municipality", &["case", "open"]), "case_id");
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).date().to_string();
    // No consent at all: the client says so and how to record one.
    let plan = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(plan.path(), plan_for(&case)).unwrap();
    let (code, json) = samordna(
        &relay,
        "municipality",
        &["send", plan.path().to_str().unwrap(), "--case", &case, "--to", "SE5569875437", "--kind", "plan"],
    );
    assert_eq!((code, json["error"]["code"].as_str()), (1, Some("no_consent")), "{json}");
    // A consent between municipality and region only: the school is named as the missing party.
    ok(
        &relay,
        "municipality",
        &[
            "consent",
            "record",
            "--case",
            &case,
            "--party",
            "SE2120000449",
            "--party",
            "SE2321000032",
            "--kind",
            "plan",
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
    let (code, json) = samordna(
        &relay,
        "municipality",
        &["send", plan.path().to_str().unwrap(), "--case", &case, "--to", "SE5569875437", "--kind", "plan"],
    );
    assert_eq!(code, 1, "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("Stångåskolan AB (SE5569875437)") && message.contains("record"), "{message}");
    assert_eq!(relay.query("SELECT COUNT(*) FROM envelopes")[0][0].as_deref(), Some("0"));
}
