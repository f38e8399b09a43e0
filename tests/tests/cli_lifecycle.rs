//! The consent lifecycle as staff run it, with the real `samordna` binary against the real relay
//! (SQLite and PostgreSQL): a child's consent is refused by the client until both guardians with
//! custody have consented; a withdrawal stops the fetch of a document sent before it, and the other
//! party finds the notice in its inbox; a block (*spärr*) on the school stops the school while the
//! region and the municipality go on; an amendment keeps its history; a closed case takes no new
//! documents; `status` and `inbox` tell the sender when the relay deleted what it sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use samordna_core::audit::{Action, Reason};
use samordna_tests::{
    cli::{ok, samordna, string},
    relay::{Backend, TestRelay, set_key},
    run,
};
use serde_json::Value;

const KOMMUN: &str = "SE2120000449";
const REGION: &str = "SE2321000032";
const SKOLA: &str = "SE5569875437";

/// Runs `samordna …` (no `--json`) and returns (exit code, stdout, stderr).
fn samordna_text(relay: &TestRelay, profile: &str, args: &[&str]) -> (i32, String, String) {
    let out = run(relay.client(profile).args(args));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a refusal: the exit code, the stable error code, and returns the message.
fn refused(relay: &TestRelay, profile: &str, args: &[&str], exit: i32, code: &str) -> String {
    let (got, json) = samordna(relay, profile, args);
    assert_eq!((got, json["error"]["code"].as_str()), (exit, Some(code)), "{profile} {args:?}: {json}");
    json["error"]["message"].as_str().expect("a message").to_owned()
}

fn count(relay: &TestRelay, sql: &str) -> i64 {
    relay.query(sql)[0][0].as_deref().and_then(|v| v.parse().ok()).expect("a count")
}

fn until() -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(90)).date().to_string()
}

/// `consent record` for an adult, by the municipality, with `extra` arguments.
fn record_adult(relay: &TestRelay, case: &str, parties: &[&str], extra: &[&str]) -> Value {
    let until = until();
    let mut args = vec!["consent", "record", "--case", case];
    for p in parties {
        args.extend(["--party", p]);
    }
    args.extend([
        "--kind",
        "message",
        "--kind",
        "meeting",
        "--until",
        &until,
        "--subject",
        "adult",
        "--grantor",
        "individual",
        "--form",
        "written",
    ]);
    args.extend(extra);
    ok(relay, "municipality", &args)
}

fn send(relay: &TestRelay, profile: &str, file: &Path, case: &str, to: &[&str]) -> (i32, Value) {
    let mut args = vec!["send", file.to_str().unwrap(), "--case", case, "--kind", "message"];
    for p in to {
        args.extend(["--to", p]);
    }
    samordna(relay, profile, &args)
}

fn start(backend: Backend) -> Option<TestRelay> {
    let relay = TestRelay::start(backend);
    if relay.is_none() {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
    }
    relay
}

fn a_childs_consent_then_its_withdrawal(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let work = tempfile::tempdir().unwrap();
    ok(&relay, "region", &["keys", "init"]);
    ok(&relay, "municipality", &["keys", "init"]);
    let case = string(&ok(&relay, "municipality", &["case", "open"]), "case_id");
    let until = until();
    let child = |grantors: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "consent",
            "record",
            "--case",
            &case,
            "--party",
            KOMMUN,
            "--party",
            REGION,
            "--kind",
            "message",
            "--until",
            &until,
            "--subject",
            "minor",
            "--custodians",
            "2",
            "--child-view-heard",
            "--form",
            "written",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for g in grantors {
            a.extend(["--grantor".to_owned(), (*g).to_owned()]);
        }
        a
    };
    let document = work.path().join("samtycke.txt");
    std::fs::write(&document, "Samtycke till SIP, givet skriftligt av båda vårdnadshavarna.\n").unwrap();

    // One of two custodial guardians: the client refuses, before anything reaches the relay.
    let one = child(&["guardian1"]);
    let one: Vec<&str> = one.iter().map(String::as_str).collect();
    let message = refused(&relay, "municipality", &one, 1, Reason::GuardianMissing.as_str());
    assert!(message.contains("guardian"), "{message}");
    let (code, _, stderr) = samordna_text(&relay, "municipality", &one);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("samordna: ") && stderr.contains("guardian"), "{stderr}");
    assert_eq!(count(&relay, "SELECT COUNT(*) FROM consents"), 0);
    assert!(
        !relay.access_log().iter().any(|r| r.action == Action::ConsentRecord.code()),
        "the refusal was the client's: the relay was not asked"
    );

    // Both: recorded, and the consent document goes encrypted to the region.
    let mut both = child(&["guardian1", "guardian2"]);
    both.extend(["--document".to_owned(), document.to_str().unwrap().to_owned()]);
    let both: Vec<&str> = both.iter().map(String::as_str).collect();
    let recorded = ok(&relay, "municipality", &both);
    let consent = string(&recorded, "consent_id");
    assert_eq!(recorded["status"], "active", "{recorded}");
    assert_eq!(recorded["document"]["state"], "sent", "{recorded}");
    let consent_document = string(&recorded["document"], "envelope_id");
    assert_eq!(count(&relay, &format!("SELECT COUNT(*) FROM envelopes WHERE id = '{consent_document}'")), 1);
    assert_eq!(count(&relay, &format!("SELECT COUNT(*) FROM consents WHERE id = '{consent}'")), 1);
    // The relay holds the document's ciphertext only.
    assert!(relay.find_in_database("vårdnadshavarna".as_bytes()).is_empty());

    // A document sent under it, before the withdrawal.
    let letter = work.path().join("brev.txt");
    std::fs::write(&letter, "Kallelse till SIP-möte.\n").unwrap();
    let (code, sent) = send(&relay, "municipality", &letter, &case, &[REGION]);
    assert_eq!(code, 0, "{sent}");
    let before = string(&sent, "envelope_id");

    // A guardian withdraws; the municipality records it.
    let withdrawn = ok(&relay, "municipality", &["consent", "withdraw", &consent, "--reason", "guardian"]);
    assert_eq!(withdrawn["consent"]["status"], "withdrawn", "{withdrawn}");
    assert_eq!(withdrawn["change"]["action"], "withdraw", "{withdrawn}");
    assert_eq!(withdrawn["change"]["reason"], "guardian", "{withdrawn}");
    assert_eq!(withdrawn["notified"][0]["id"], REGION, "{withdrawn}");
    assert_eq!(
        relay.query(&format!("SELECT action, reason FROM consent_changes WHERE consent_id = '{consent}'")),
        vec![vec![Some("withdraw".to_owned()), Some("guardian".to_owned())]]
    );
    // A withdrawal is final: a second one is refused with its code.
    refused(
        &relay,
        "region",
        &["consent", "withdraw", &consent, "--reason", "individual"],
        1,
        Reason::ConsentWithdrawn.as_str(),
    );

    // The region can no longer fetch what was sent before, and nothing is written.
    let out = work.path().join("received.txt");
    let message = refused(
        &relay,
        "region",
        &["fetch", &before, "--out", out.to_str().unwrap()],
        1,
        Reason::ConsentWithdrawn.as_str(),
    );
    assert!(message.contains("was not fetched") && message.contains("withdrawn"), "{message}");
    assert!(!out.exists(), "nothing is written for a refused fetch");
    let fetch_refusals = relay
        .access_log()
        .into_iter()
        .filter(|r| {
            r.action == Action::EnvelopeFetch.code()
                && !r.allowed
                && r.reason == Reason::ConsentWithdrawn.code()
                && r.envelope_id.as_deref() == Some(before.as_str())
        })
        .count();
    assert_eq!(fetch_refusals, 1, "the relay refused it, and logged it");
    // Nothing new can be sent under it: named, it is refused as withdrawn; left to the client to
    // choose, there is no consent in force, and the message says why.
    let envelopes = count(&relay, "SELECT COUNT(*) FROM envelopes");
    let letter_path = letter.to_str().unwrap();
    let args =
        ["send", letter_path, "--case", &case, "--to", REGION, "--kind", "message", "--consent", &consent];
    refused(&relay, "municipality", &args, 1, Reason::ConsentWithdrawn.as_str());
    let message = refused(&relay, "municipality", &args[..8], 1, Reason::NoConsent.as_str());
    assert!(message.contains(&format!("{consent} withdrawn")), "{message}");
    assert_eq!(count(&relay, "SELECT COUNT(*) FROM envelopes"), envelopes, "nothing was stored");

    // The region is told in its inbox; the municipality, who withdrew, is not.
    let inbox = ok(&relay, "region", &["inbox"]);
    let notices = inbox["notices"].as_array().unwrap();
    assert!(
        notices.iter().any(|n| n["kind"] == "consent_withdrawn"
            && n["consent_id"] == consent.as_str()
            && n["by"]["id"] == KOMMUN),
        "{inbox}"
    );
    let (code, text, _) = samordna_text(&relay, "region", &["inbox"]);
    assert_eq!(code, 0);
    assert!(text.contains(&format!("consent {consent} in case {case} was withdrawn by")), "{text}");
    assert!(text.contains(&before), "the documents are listed too: {text}");
    let inbox = ok(&relay, "municipality", &["inbox"]);
    assert_eq!(inbox["notices"].as_array().map(Vec::len), Some(0), "{inbox}");

    // `consent show` gives the state and the verified withdrawal; `case show` the history.
    let shown = ok(&relay, "region", &["consent", "show", &consent]);
    assert_eq!(shown["status"], "withdrawn");
    assert_eq!(shown["changes"][0]["signature"]["state"], "verified", "{shown}");
    let (code, text, _) = samordna_text(&relay, "region", &["consent", "show", &consent]);
    assert_eq!(code, 0);
    assert!(text.contains(&format!("Consent {consent} (withdrawn)")), "{text}");
    assert!(text.contains("a guardian withdrew it"), "{text}");
    let (code, text, _) = samordna_text(&relay, "municipality", &["case", "show", &case]);
    assert_eq!(code, 0);
    assert!(text.contains("History (oldest first):"), "{text}");
    assert!(text.contains(&format!("consent {consent} withdrawn by")), "{text}");
}

fn a_block_on_the_school_stops_only_the_school(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let work = tempfile::tempdir().unwrap();
    for p in ["region", "municipality", "school"] {
        ok(&relay, p, &["keys", "init"]);
    }
    let case = string(&ok(&relay, "municipality", &["case", "open"]), "case_id");
    let consent = string(&record_adult(&relay, &case, &[KOMMUN, REGION, SKOLA], &[]), "consent_id");
    let letter = work.path().join("brev.txt");
    std::fs::write(&letter, "Underlag inför SIP-mötet.\n").unwrap();
    let (code, sent) = send(&relay, "municipality", &letter, &case, &[REGION, SKOLA]);
    assert_eq!(code, 0, "{sent}");
    let to_both = string(&sent, "envelope_id");

    // The guardians ask that the school be left out: the region records the block.
    let blocked = ok(&relay, "region", &["consent", "block", &consent, "--party", SKOLA]);
    assert_eq!(blocked["blocks"][0]["recorded"], true, "{blocked}");
    assert_eq!(blocked["blocks"][0]["consent"]["blocked_parties"][0], SKOLA, "{blocked}");
    assert_eq!(
        count(
            &relay,
            &format!(
                "SELECT COUNT(*) FROM consent_changes WHERE consent_id = '{consent}' AND action = 'block_party' AND party = '{SKOLA}'"
            )
        ),
        1
    );
    // Blocking again changes nothing, and says so.
    let again = ok(&relay, "municipality", &["consent", "block", &consent, "--party", SKOLA]);
    assert_eq!(again["blocks"][0]["recorded"], false, "{again}");
    assert_eq!(count(&relay, "SELECT COUNT(*) FROM consent_changes"), 1);
    // Naming nothing to block is a usage error.
    let (code, json) = samordna(&relay, "region", &["consent", "block", &consent]);
    assert_eq!((code, json["error"]["code"].as_str()), (2, Some("usage")), "{json}");

    // The school's fetch is refused and nothing is written…
    let school_out = work.path().join("school.txt");
    let message = refused(
        &relay,
        "school",
        &["fetch", &to_both, "--out", school_out.to_str().unwrap()],
        1,
        Reason::PartyBlocked.as_str(),
    );
    assert!(message.contains("spärr"), "{message}");
    assert!(!school_out.exists());
    // …while the region fetches the same envelope, and region and municipality go on exchanging.
    let region_out = work.path().join("region.txt");
    ok(&relay, "region", &["fetch", &to_both, "--out", region_out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&region_out).unwrap(), "Underlag inför SIP-mötet.\n");
    let (code, reply) = send(&relay, "region", &letter, &case, &[KOMMUN]);
    assert_eq!(code, 0, "{reply}");
    let reply = string(&reply, "envelope_id");
    let kommun_out = work.path().join("kommun.txt");
    ok(&relay, "municipality", &["fetch", &reply, "--out", kommun_out.to_str().unwrap()]);
    // Sending to the school is refused.
    let (code, json) = send(&relay, "municipality", &letter, &case, &[SKOLA]);
    assert_eq!((code, json["error"]["code"].as_str()), (1, Some("party_blocked")), "{json}");

    // The school is told; `consent show` names what was blocked.
    let inbox = ok(&relay, "school", &["inbox"]);
    assert!(inbox["notices"].as_array().unwrap().iter().any(|n| n["kind"] == "consent_blocked"), "{inbox}");
    let (code, text, _) = samordna_text(&relay, "municipality", &["consent", "show", &consent]);
    assert_eq!(code, 0);
    assert!(text.contains("(active, with blocks (spärr))"), "{text}");
    assert!(text.contains("Stångåskolan AB (SE5569875437)"), "{text}");
    assert!(text.contains("signature verified"), "{text}");

    // A kind can be blocked too: then the region cannot fetch messages any more.
    let kind =
        ok(&relay, "municipality", &["consent", "block", &consent, "--kind", "message", "--kind", "meeting"]);
    assert_eq!(kind["blocks"].as_array().map(Vec::len), Some(2), "one result per block: {kind}");
    assert_eq!(kind["blocks"][1]["consent"]["blocked_kinds"], serde_json::json!(["message", "meeting"]));
    assert_eq!(
        count(
            &relay,
            &format!(
                "SELECT COUNT(*) FROM consent_changes WHERE consent_id = '{consent}' AND action = 'block_kind'"
            )
        ),
        2
    );
    refused(
        &relay,
        "region",
        &["fetch", &to_both, "--out", work.path().join("again.txt").to_str().unwrap()],
        1,
        Reason::KindBlocked.as_str(),
    );
}

fn an_amendment_and_a_closed_case(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let work = tempfile::tempdir().unwrap();
    ok(&relay, "region", &["keys", "init"]);
    ok(&relay, "municipality", &["keys", "init"]);
    let case = string(&ok(&relay, "municipality", &["case", "open"]), "case_id");
    let old = string(&record_adult(&relay, &case, &[KOMMUN, REGION], &[]), "consent_id");
    let new = string(&record_adult(&relay, &case, &[KOMMUN, REGION], &["--supersedes", &old]), "consent_id");

    // `consent show` prints the amendment history.
    let shown = ok(&relay, "municipality", &["consent", "show", &old]);
    assert_eq!(shown["status"], "superseded");
    let chain: Vec<(&str, &str)> = shown["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["consent_id"].as_str().unwrap(), l["status"].as_str().unwrap()))
        .collect();
    assert_eq!(chain, vec![(old.as_str(), "superseded"), (new.as_str(), "active")]);
    let (code, text, _) = samordna_text(&relay, "region", &["consent", "show", &new]);
    assert_eq!(code, 0);
    assert!(
        text.contains(&format!(
            "Amendment chain (oldest first): {old} (superseded) → {new} (this one, active)"
        )),
        "{text}"
    );
    assert_eq!(
        relay.query(&format!("SELECT superseded_by FROM consents WHERE id = '{old}'")),
        vec![vec![Some(new.clone())]]
    );
    // A replaced consent is not the one to withdraw: the client says which is.
    let message = refused(
        &relay,
        "municipality",
        &["consent", "withdraw", &old, "--reason", "individual"],
        1,
        Reason::ConsentSuperseded.as_str(),
    );
    assert!(message.contains(&new), "{message}");

    let letter = work.path().join("brev.txt");
    std::fs::write(&letter, "Uppföljning.\n").unwrap();
    let (code, sent) = send(&relay, "municipality", &letter, &case, &[REGION]);
    assert_eq!(code, 0, "{sent}");
    let before_close = string(&sent, "envelope_id");

    // Only the lead closes the case.
    let message = refused(&relay, "region", &["case", "close", &case], 1, Reason::Forbidden.as_str());
    assert!(message.contains("lead principal"), "{message}");
    assert!(
        !relay.access_log().iter().any(|r| r.action == Action::CaseClose.code()),
        "the client refused before asking the relay"
    );
    let closed = ok(&relay, "municipality", &["case", "close", &case]);
    assert_eq!(
        (closed["already_closed"].as_bool(), closed["status"].as_str()),
        (Some(false), Some("closed"))
    );
    let again = ok(&relay, "municipality", &["case", "close", &case]);
    assert_eq!(again["already_closed"], true, "{again}");
    assert_eq!(
        relay.query(&format!("SELECT status FROM cases WHERE id = '{case}'")),
        vec![vec![Some("closed".to_owned())]]
    );

    // No new sends; what was sent can still be fetched under the consent.
    let envelopes = count(&relay, "SELECT COUNT(*) FROM envelopes");
    let (code, json) = send(&relay, "municipality", &letter, &case, &[REGION]);
    assert_eq!((code, json["error"]["code"].as_str()), (1, Some("case_closed")), "{json}");
    assert_eq!(count(&relay, "SELECT COUNT(*) FROM envelopes"), envelopes, "nothing was stored");
    ok(&relay, "region", &["fetch", &before_close, "--out", work.path().join("r.txt").to_str().unwrap()]);

    // `case show` has the whole history.
    let (code, text, _) = samordna_text(&relay, "municipality", &["case", "show", &case]);
    assert_eq!(code, 0);
    for needle in [
        "(closed ".to_owned(),
        "case opened by".to_owned(),
        format!("consent {old} replaced by an amendment"),
        format!("document {before_close} sent by"),
        "case closed by".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle:?} not in:\n{text}");
    }
}

fn status_and_inbox_show_deletions(backend: Backend) {
    let Some(mut relay) = TestRelay::start_with(backend, |t| {
        *t = set_key(t, "keep_after_fetch_days", "10");
        *t = set_key(t, "delete_unfetched_after_days", "20");
    }) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    ok(&relay, "region", &["keys", "init"]);
    ok(&relay, "municipality", &["keys", "init"]);
    let case = string(&ok(&relay, "municipality", &["case", "open"]), "case_id");
    record_adult(&relay, &case, &[KOMMUN, REGION], &[]);
    let letter = work.path().join("brev.txt");
    std::fs::write(&letter, "Minnesanteckningar.\n").unwrap();
    let (_, sent) = send(&relay, "municipality", &letter, &case, &[REGION]);
    let fetched = string(&sent, "envelope_id");
    let (_, sent) = send(&relay, "municipality", &letter, &case, &[REGION]);
    let unfetched = string(&sent, "envelope_id");
    ok(&relay, "region", &["fetch", &fetched, "--out", work.path().join("r.txt").to_str().unwrap()]);
    let status = ok(&relay, "municipality", &["status", &fetched]);
    assert!(status["deleted_at"].is_null(), "not deleted yet: {status}");

    // Eleven days on (the relay's clock), the fetched envelope's ciphertext is gone: `status` says so.
    relay.restart(Some(11 * 86_400));
    wait_for(|| count(&relay, "SELECT COUNT(*) FROM envelope_chunks") == 1);
    let status = ok(&relay, "municipality", &["status", &fetched]);
    assert!(status["deleted_at"].is_string(), "{status}");
    let (code, text, _) = samordna_text(&relay, "municipality", &["status", &fetched]);
    assert_eq!(code, 0);
    assert!(text.contains("deleted under the retention rules on"), "{text}");

    // Twenty-one days on, the unfetched one goes too, and the sender finds a notice in its inbox.
    relay.restart(Some(21 * 86_400));
    wait_for(|| count(&relay, "SELECT COUNT(*) FROM envelope_chunks") == 0);
    let inbox = ok(&relay, "municipality", &["inbox"]);
    assert!(
        inbox["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "envelope_deleted_unfetched" && n["envelope_id"] == unfetched.as_str()),
        "{inbox}"
    );
    let (code, text, _) = samordna_text(&relay, "municipality", &["inbox"]);
    assert_eq!(code, 0);
    assert!(
        text.contains(&format!(
            "document {unfetched} you sent in case {case} was deleted under the retention rules"
        )),
        "{text}"
    );
    let (_, text, _) = samordna_text(&relay, "municipality", &["case", "show", &case]);
    assert!(text.contains(&format!("document {unfetched} deleted under the retention rules")), "{text}");
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..100 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("condition not reached within 10 s");
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
    a_childs_consent_then_its_withdrawal,
    a_block_on_the_school_stops_only_the_school,
    an_amendment_and_a_closed_case,
    status_and_inbox_show_deletions,
);
