//! SIP meeting invitations as staff would send them: the real `samordna` command, the real relay,
//! and a real SMTP server (aiosmtpd, STARTTLS required). Each address gets a mail with both parts
//! and an `.ics` that Python's `icalendar` reads back with the right Stockholm times on both sides
//! of a daylight-saving change; updates raise SEQUENCE, a cancellation is METHOD:CANCEL; an SMTP
//! outage keeps the mail in the outbox and a flush delivers it exactly once; and no message holds
//! the person's name or personnummer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{io::Write, process::Command, time::Duration};

use samordna_tests::{
    cli::{ok, samordna, string},
    relay::{Backend, TestRelay},
    run,
    smtp::{SmtpServer, header},
};
use serde_json::Value;

const PERSON: &str = "Tolvan Tolvansson";
const NEEDLES: [&str; 4] = [PERSON, "19121212-1212", "191212-1212", "121212-1212"];
const FROM: &str = "sip@linkoping.example";
const A: &str = "forskola.larare@linkoping.example";
const B: &str = "handlaggare@fk.example";

/// The municipality's profile gets an `[smtp]` section for the test server.
fn configure_smtp(relay: &TestRelay, smtp: &SmtpServer) {
    let path = relay.profile("municipality").join("profile.toml");
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    write!(
        f,
        "\n[smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"starttls\"\nfrom = \"SIP-samordnare Linköpings kommun <{FROM}>\"\nca = \"{}\"\ncontact = \"013-20 60 00\"\n",
        smtp.port,
        smtp.ca().display()
    )
    .unwrap();
}

/// A case with a consent that covers meetings between the municipality and the region.
fn case_with_consent(relay: &TestRelay) -> String {
    ok(relay, "region", &["keys", "init"]);
    ok(relay, "municipality", &["keys", "init"]);
    let case = string(&ok(relay, "municipality", &["case", "open"]), "case_id");
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(300)).date().to_string();
    ok(
        relay,
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
            "meeting",
            "--until",
            &until,
            "--subject",
            "adult",
            "--grantor",
            "individual",
            "--form",
            "written",
        ],
    );
    case
}

/// Headers, both text parts and the calendar, decoded by Python's e-mail parser and `icalendar`.
fn decode(message: &str) -> Value {
    const SCRIPT: &str = r#"
import email, email.policy, json, sys
import icalendar
m = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
out = {"subject": str(m["subject"]), "to": str(m["to"]), "from": str(m["from"]),
       "message_id": str(m["message-id"]), "content_type": m.get_content_type(), "parts": {},
       "calendar": None, "ics": None, "attachment": None}
for part in m.walk():
    ct = part.get_content_type()
    if ct == "text/calendar":
        text = part.get_content()
        out["ics"] = text
        out["attachment"] = part.get_filename()
        out["calendar_method_param"] = part.get_param("method")
        cal = icalendar.Calendar.from_ical(text)
        events = []
        for ev in cal.walk("VEVENT"):
            start = ev.decoded("dtstart")
            end = ev.decoded("dtend")
            att = ev.get("attendee")
            att = att if isinstance(att, list) else [att]
            events.append({
                "uid": str(ev["uid"]), "sequence": int(ev["sequence"]), "status": str(ev.get("status")),
                "start": start.isoformat(), "end": end.isoformat(), "tz": str(start.tzinfo),
                "start_utc": start.astimezone(__import__("datetime").timezone.utc).isoformat(),
                "organizer": str(ev["organizer"]), "attendees": [str(a) for a in att],
                "summary": str(ev["summary"]), "location": str(ev["location"]),
                "description": str(ev["description"]), "dtstamp": ev.decoded("dtstamp").isoformat(),
            })
        tzids = [str(t["tzid"]) for t in cal.walk("VTIMEZONE")]
        out["calendar"] = {"method": str(cal["method"]), "events": events, "vtimezones": tzids}
    elif part.get_content_maintype() == "text":
        out["parts"][ct] = part.get_content()
print(json.dumps(out))
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!("python could not parse:\n{message}\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

/// The needles found in a message: raw, and decoded (headers, both parts, the calendar).
fn sensitive(message: &str) -> Vec<&'static str> {
    let d = decode(message).to_string();
    NEEDLES.into_iter().filter(|n| message.contains(n) || d.contains(n)).collect()
}

fn to(messages: &[String], address: &str) -> Vec<String> {
    messages.iter().filter(|m| header(m, "To").is_some_and(|t| t.contains(address))).cloned().collect()
}

/// One decoded message to `address` whose calendar has `sequence`.
fn find(messages: &[String], address: &str, sequence: u64) -> Value {
    let found: Vec<Value> = to(messages, address)
        .iter()
        .map(|m| decode(m))
        .filter(|d| d["calendar"]["events"][0]["sequence"] == sequence)
        .collect();
    assert_eq!(found.len(), 1, "one message to {address} with sequence {sequence}: {found:#?}");
    found.into_iter().next().unwrap()
}

fn check_invitation(d: &Value, case: &str, method: &str, start: &str, end: &str, start_utc: &str) {
    assert_eq!(d["content_type"], "multipart/mixed", "{d:#}");
    assert_eq!(d["from"], format!("SIP-samordnare Linköpings kommun <{FROM}>"));
    assert!(d["message_id"].as_str().unwrap().ends_with("@linkoping.example>"), "{d:#}");
    let subject = d["subject"].as_str().unwrap();
    assert!(subject.contains(case) && subject.contains("SIP-möte"), "{subject}");
    let text = d["parts"]["text/plain"].as_str().unwrap();
    let html = d["parts"]["text/html"].as_str().unwrap();
    for part in [text, html] {
        assert!(
            part.contains(case) && part.contains("013-20 60 00") && part.contains("Kommunhuset"),
            "{part}"
        );
    }
    assert!(html.contains("lang=\"sv\""), "{html}");
    assert_eq!(d["attachment"], "kallelse.ics");
    assert_eq!(d["calendar_method_param"], method);
    let cal = &d["calendar"];
    assert_eq!(cal["method"], method);
    assert_eq!(cal["vtimezones"], serde_json::json!(["Europe/Stockholm"]));
    let ev = &cal["events"][0];
    assert_eq!(ev["start"], start, "{ev:#}");
    assert_eq!(ev["end"], end, "{ev:#}");
    assert_eq!(ev["start_utc"], start_utc, "{ev:#}");
    assert_eq!(ev["tz"], "Europe/Stockholm");
    assert_eq!(ev["organizer"], format!("mailto:{FROM}"));
    let attendees = ev["attendees"].to_string();
    assert!(
        attendees.contains(&format!("mailto:{A}")) && attendees.contains(&format!("mailto:{B}")),
        "{ev:#}"
    );
    assert!(ev["dtstamp"].as_str().unwrap().ends_with("+00:00"), "{ev:#}");
    assert!(ev["summary"].as_str().unwrap().contains(case), "{ev:#}");
    let status = if method == "CANCEL" { "CANCELLED" } else { "CONFIRMED" };
    assert_eq!(ev["status"], status);
}

fn invitations_updates_and_cancellations_across_a_clock_change(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else { return };
    let Some(relay) = TestRelay::start(backend) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    configure_smtp(&relay, &smtp);
    let case = case_with_consent(&relay);
    let location = "Kommunhuset, Drottninggatan 45, rum 3";

    // Monday after the spring change (CEST, +02:00), to a principal and two addresses.
    let sent = ok(
        &relay,
        "municipality",
        &[
            "invite",
            "send",
            "--case",
            &case,
            "--start",
            "2027-03-29T13:00",
            "--duration",
            "90m",
            "--location",
            location,
            "--video-link",
            "https://video.example/sip-42",
            "--to",
            "principal:SE2321000032",
            "--to",
            &format!("email:{A}"),
            "--to",
            &format!("email:{B}"),
        ],
    );
    assert_eq!(sent["pending"], 0, "{sent:#}");
    assert_eq!(sent["sequence"], 0);
    let id = string(&sent, "invitation");
    let uid = string(&sent, "uid");
    let envelope = string(&sent, "envelope_id");
    let messages = smtp.wait_for(2, Duration::from_secs(20));
    assert_eq!(messages.len(), 2, "one mail per address: {messages:#?}");
    for address in [A, B] {
        let d = find(&messages, address, 0);
        check_invitation(
            &d,
            &case,
            "REQUEST",
            "2027-03-29T13:00:00+02:00",
            "2027-03-29T14:30:00+02:00",
            "2027-03-29T11:00:00+00:00",
        );
        assert_eq!(d["calendar"]["events"][0]["uid"], uid.as_str());
        assert!(
            d["parts"]["text/plain"].as_str().unwrap().contains("måndag 29 mars 2027 kl. 13:00–14:30"),
            "{d:#}"
        );
        assert!(d["parts"]["text/html"].as_str().unwrap().contains("https://video.example/sip-42"), "{d:#}");
    }
    // The region has the encrypted invitation, of kind meeting.
    let inbox = ok(&relay, "region", &["inbox"]).to_string();
    assert!(inbox.contains(&envelope) && inbox.contains("meeting"), "{inbox}");

    // Winter time (CET, +01:00), mail only.
    let winter = ok(
        &relay,
        "municipality",
        &[
            "invite",
            "send",
            "--case",
            &case,
            "--start",
            "2026-12-03T13:00",
            "--duration",
            "1h30m",
            "--location",
            location,
            "--to",
            &format!("email:{A}"),
            "--to",
            &format!("email:{B}"),
        ],
    );
    assert!(winter["envelope_id"].is_null(), "{winter:#}");
    let messages = smtp.wait_for(4, Duration::from_secs(20));
    let winter_uid = string(&winter, "uid");
    let d = to(&messages, A)
        .iter()
        .map(|m| decode(m))
        .find(|d| d["calendar"]["events"][0]["uid"] == winter_uid.as_str())
        .unwrap();
    check_invitation(
        &d,
        &case,
        "REQUEST",
        "2026-12-03T13:00:00+01:00",
        "2026-12-03T14:30:00+01:00",
        "2026-12-03T12:00:00+00:00",
    );

    // Moved an hour later: the same UID, SEQUENCE 1, to the same people.
    let updated = ok(&relay, "municipality", &["invite", "update", &id, "--start", "2027-03-29T14:00"]);
    assert_eq!(updated["sequence"], 1);
    let messages = smtp.wait_for(6, Duration::from_secs(20));
    for address in [A, B] {
        let d = find(&messages, address, 1);
        check_invitation(
            &d,
            &case,
            "REQUEST",
            "2027-03-29T14:00:00+02:00",
            "2027-03-29T15:30:00+02:00",
            "2027-03-29T12:00:00+00:00",
        );
        assert_eq!(d["calendar"]["events"][0]["uid"], uid.as_str());
        assert!(d["subject"].as_str().unwrap().starts_with("Ändrad kallelse"), "{d:#}");
    }

    // Cancelled: METHOD:CANCEL, SEQUENCE 2, same UID.
    let cancelled = ok(&relay, "municipality", &["invite", "cancel", &id]);
    assert_eq!(cancelled["method"], "CANCEL");
    let messages = smtp.wait_for(8, Duration::from_secs(20));
    assert_eq!(messages.len(), 8, "{messages:#?}");
    for address in [A, B] {
        let d = find(&messages, address, 2);
        check_invitation(
            &d,
            &case,
            "CANCEL",
            "2027-03-29T14:00:00+02:00",
            "2027-03-29T15:30:00+02:00",
            "2027-03-29T12:00:00+00:00",
        );
        assert_eq!(d["calendar"]["events"][0]["uid"], uid.as_str());
        assert!(d["subject"].as_str().unwrap().starts_with("Inställt"), "{d:#}");
    }
    let (code, again) = samordna(&relay, "municipality", &["invite", "cancel", &id]);
    assert_eq!((code, again["error"]["code"].as_str()), (2, Some("invitation_cancelled")), "{again}");

    // A personnummer in the place is refused before anything is sent.
    let (code, refused) = samordna(
        &relay,
        "municipality",
        &[
            "invite",
            "send",
            "--case",
            &case,
            "--start",
            "2027-01-10T10:00",
            "--duration",
            "1h",
            "--location",
            "hemma hos 19121212-1212",
            "--to",
            &format!("email:{A}"),
        ],
    );
    assert_eq!((code, refused["error"]["code"].as_str()), (2, Some("sensitive_content")), "{refused}");

    // Nothing about the person anywhere; the scan itself does find a name that is there.
    std::thread::sleep(Duration::from_secs(1));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 8, "the refused invitation sent nothing");
    for m in &messages {
        assert!(sensitive(m).is_empty(), "{:?} in\n{m}", sensitive(m));
    }
    let planted = messages[0].replacen("Kommunhuset", &format!("{PERSON} 19121212-1212"), 1);
    let found = sensitive(&planted);
    assert!(
        found.contains(&PERSON) && found.contains(&"19121212-1212"),
        "the scan finds what is there: {found:?}"
    );
}

fn an_unreachable_smtp_server_delays_mail_and_a_flush_sends_it_once(backend: Backend) {
    let Some(mut smtp) = SmtpServer::start() else { return };
    let Some(relay) = TestRelay::start(backend) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    configure_smtp(&relay, &smtp);
    let case = case_with_consent(&relay);
    smtp.stop();
    let sent = ok(
        &relay,
        "municipality",
        &[
            "invite",
            "send",
            "--case",
            &case,
            "--start",
            "2027-03-29T13:00",
            "--duration",
            "90m",
            "--location",
            "Kommunhuset, rum 3",
            "--to",
            &format!("email:{A}"),
        ],
    );
    assert_eq!(sent["pending"], 1, "{sent:#}");
    assert!(sent["mail"][0]["error"].is_string(), "{sent:#}");

    // It waits, with the reason.
    let listed = ok(&relay, "municipality", &["outbox", "list"]);
    let pending = listed["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{listed:#}");
    assert_eq!(pending[0]["to"], A);
    assert!(pending[0]["last_error"].is_string(), "{listed:#}");
    let message_id = string(&pending[0], "message_id");
    let human = run(relay.client("municipality").args(["outbox", "list"]));
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("PENDING") && human.contains("last error"), "{human}");

    // Still down: a flush keeps it.
    let flushed = ok(&relay, "municipality", &["outbox", "flush"]);
    assert_eq!(flushed["pending"], 1, "{flushed:#}");

    smtp.restart();
    let flushed = ok(&relay, "municipality", &["outbox", "flush"]);
    assert_eq!(flushed["pending"], 0, "{flushed:#}");
    let again = ok(&relay, "municipality", &["outbox", "flush"]);
    assert_eq!(again["mail"].as_array().map(Vec::len), Some(0), "{again:#}");
    let messages = smtp.wait_for(1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let messages = if messages.len() == 1 { smtp.messages() } else { messages };
    assert_eq!(messages.len(), 1, "exactly once: {messages:#?}");
    assert_eq!(header(&messages[0], "Message-ID").as_deref(), Some(message_id.as_str()));
    let d = decode(&messages[0]);
    assert_eq!(d["calendar"]["events"][0]["start"], "2027-03-29T13:00:00+02:00");
    assert!(sensitive(&messages[0]).is_empty());
    assert_eq!(ok(&relay, "municipality", &["outbox", "list"])["pending"], serde_json::json!([]));
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
    invitations_updates_and_cancellations_across_a_clock_change,
    an_unreachable_smtp_server_delays_mail_and_a_flush_sends_it_once,
);
