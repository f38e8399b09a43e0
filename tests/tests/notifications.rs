//! Content-free notices from the relay to principals' functional mailboxes, through a real SMTP
//! server (aiosmtpd, STARTTLS required), on SQLite and PostgreSQL: one mail per principal per burst,
//! both parts, nothing about the person; an SMTP outage and a relay restart lose nothing and send
//! nothing twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{io::Cursor, process::Command, time::Duration};

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, PrincipalId, Signer,
    api::OpenCase,
    consent::{Change, ChangeType, ConsentChange, SignedConsent, WithdrawalReason},
    envelope::{Party, RecipientKey, SealParams, seal},
    signed::SignedStatement,
};
use samordna_tests::{
    api::{Api, adult_consent},
    relay::{Backend, TestRelay},
    run,
    smtp::{SmtpServer, header},
};
use serde_json::Value;
use time::OffsetDateTime;

const KOMMUN: &str = "SE2120000449";
const REGION: &str = "SE2321000032";
const PERSON: &str = "Tolvan Tolvansson";
const PERSONNUMMER: &str = "19121212-1212";

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    b
}

fn p(s: &str) -> PrincipalId {
    PrincipalId::parse(s).unwrap()
}

/// Subject, text part and HTML part, decoded by Python's own e-mail parser.
fn decode(message: &str) -> Value {
    const SCRIPT: &str = r#"
import email, email.policy, json, sys
m = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
out = {"subject": str(m["subject"]), "content_type": m.get_content_type(), "parts": {}}
for part in m.walk():
    if part.get_content_maintype() == "text":
        out["parts"][part.get_content_type()] = part.get_content()
print(json.dumps(out))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("python could not parse:\n{message}"))
}

/// Nothing about the person, in any part or header, decoded.
fn assert_content_free(message: &str) {
    let d = decode(message).to_string();
    for needle in [PERSON, PERSONNUMMER, "Insatser", "höften"] {
        assert!(!message.contains(needle) && !d.contains(needle), "{needle:?} is in a notice:\n{d}");
    }
}

struct Scene<'a> {
    kommun: Api<'a>,
    region_key: RecipientKey,
    case: CaseId,
    consent: ConsentId,
}

fn scene(relay: &TestRelay) -> Scene<'_> {
    let (kommun, region) = (Api::new(relay, "municipality"), Api::new(relay, "region"));
    let (_, region_key) = region.publish_key();
    let case = CaseId::from_random_bytes(random16());
    assert_eq!(
        kommun.post("/v1/cases", &OpenCase { case_id: case.clone(), lead_principal: p(KOMMUN) }).status,
        201
    );
    let signer = kommun.signer();
    let m = adult_consent(
        &case,
        &signer,
        &[p(KOMMUN), p(REGION)],
        &[ContentKind::Plan],
        OffsetDateTime::now_utc() - time::Duration::hours(1),
        OffsetDateTime::now_utc() + time::Duration::days(60),
    );
    assert_eq!(
        kommun
            .post("/v1/consents", &SignedConsent::sign(&m, &signer, OffsetDateTime::now_utc()).unwrap())
            .status,
        201
    );
    Scene { kommun, region_key, case, consent: m.consent_id }
}

fn send(s: &Scene<'_>, signer: &Signer) {
    let params = SealParams {
        envelope_id: EnvelopeId::from_random_bytes(random16()),
        case_id: s.case.clone(),
        consent_id: s.consent.clone(),
        content_kind: ContentKind::Plan,
        recipients: vec![s.region_key.clone()],
        media_type: "application/json".into(),
        file_name: Some(format!("SIP-plan {PERSON}.json")),
        created: OffsetDateTime::now_utc(),
    };
    let doc = format!(
        "{{\"person\": \"{PERSON}\", \"personnummer\": \"{PERSONNUMMER}\", \"needs\": \"bröt höften\"}}"
    );
    let mut out = Vec::new();
    seal(&params, signer, doc.as_bytes(), doc.len() as u64, Cursor::new(Vec::new()), &mut out).unwrap();
    assert_eq!(s.kommun.put_envelope(params.envelope_id.as_str(), &out).status, 201);
}

fn to_mailbox(messages: &[String], mailbox: &str) -> Vec<String> {
    messages.iter().filter(|m| header(m, "To").is_some_and(|t| t.contains(mailbox))).cloned().collect()
}

fn one_notice_per_burst_with_both_parts_and_nothing_about_the_person(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else { return };
    let Some(relay) = TestRelay::start_with(backend, |t| t.push_str(&smtp.relay_config())) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    let s = scene(&relay);
    let signer = s.kommun.signer();
    for _ in 0..3 {
        send(&s, &signer);
    }
    let _first = smtp.wait_for(1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3)); // nothing more should come for this burst
    let messages = smtp.messages();
    let region = to_mailbox(&messages, "sip@regionostergotland.example");
    assert_eq!(region.len(), 1, "one notice for three documents: {messages:#?}\n{}", relay.log());
    let m = &region[0];
    assert_eq!(header(m, "From").unwrap(), "Samordna <noreply@samordna.example>");
    assert!(header(m, "Message-ID").is_some_and(|id| id.ends_with("@samordna.example>")), "{m}");
    let d = decode(m);
    assert_eq!(d["content_type"], "multipart/alternative");
    assert_eq!(d["subject"], "Samordna: nya handlingar väntar");
    let text = d["parts"]["text/plain"].as_str().unwrap();
    let html = d["parts"]["text/html"].as_str().unwrap();
    assert!(text.contains("3 nya handlingar väntar i er inkorg") && text.contains(s.case.as_str()), "{text}");
    assert!(text.contains("Region Östergötland"), "{text}");
    assert!(html.contains("<li>3 nya handlingar väntar") && html.contains("lang=\"sv\""), "{html}");
    assert_content_free(m);
    assert!(
        to_mailbox(&messages, "sip@linkoping.example").is_empty(),
        "the sender is not notified of its own sends"
    );

    // A withdrawal: the other party is told, in its own mail.
    let signer = s.kommun.signer();
    let change = ConsentChange {
        change_type: ChangeType::ConsentChange,
        version: 1,
        consent_id: s.consent.clone(),
        change: Change::Withdraw { reason: WithdrawalReason::Individual },
        by: Party { principal: signer.identity().principal.clone(), user: signer.identity().hsa_id.clone() },
        at: OffsetDateTime::now_utc(),
    };
    let body = SignedStatement::sign(&change, &signer, OffsetDateTime::now_utc()).unwrap();
    assert_eq!(s.kommun.post(&format!("/v1/consents/{}/changes", s.consent), &body).status, 201);
    let messages = smtp.wait_for(2, Duration::from_secs(20));
    let region = to_mailbox(&messages, "sip@regionostergotland.example");
    assert_eq!(region.len(), 2, "{messages:#?}");
    let withdrawn = region
        .iter()
        .find(|m| decode(m)["parts"]["text/plain"].as_str().unwrap().contains("återkallats"))
        .unwrap();
    assert_content_free(withdrawn);
    for m in &messages {
        assert_content_free(m);
    }
}

fn an_smtp_outage_and_a_restart_lose_nothing_and_send_nothing_twice(backend: Backend) {
    let Some(mut smtp) = SmtpServer::start() else { return };
    let Some(mut relay) = TestRelay::start_with(backend, |t| t.push_str(&smtp.relay_config())) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    smtp.stop();
    let s = scene(&relay);
    send(&s, &s.kommun.signer());
    // The notice waits in the outbox, with the reason it could not go.
    let mut listed = String::new();
    for _ in 0..50 {
        let out = run(relay.relay_cmd().args(["outbox", "list"]));
        listed = String::from_utf8_lossy(&out.stdout).into_owned();
        if listed.contains("PENDING") && listed.contains("last error") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(listed.contains("PENDING") && listed.contains("sip@regionostergotland.example"), "{listed}");
    assert!(listed.contains("last error"), "{listed}");
    let stored_id = relay.query("SELECT message_id FROM mail_outbox")[0][0].clone().unwrap();

    // The relay restarts while the SMTP server is still down; then the server comes back.
    relay.restart(None);
    std::thread::sleep(Duration::from_secs(2));
    smtp.restart();
    let messages = smtp.wait_for(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(4));
    let messages = if messages.len() == 1 { smtp.messages() } else { messages };
    assert_eq!(messages.len(), 1, "exactly once: {messages:#?}\n{}", relay.log());
    assert_eq!(
        header(&messages[0], "Message-ID").as_deref(),
        Some(stored_id.as_str()),
        "the Message-ID fixed in the outbox"
    );
    assert_content_free(&messages[0]);
    let out = run(relay.relay_cmd().args(["outbox", "list"]));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("PENDING"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
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
    one_notice_per_burst_with_both_parts_and_nothing_about_the_person,
    an_smtp_outage_and_a_restart_lose_nothing_and_send_nothing_twice,
);
