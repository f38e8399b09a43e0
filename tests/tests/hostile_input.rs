//! Hostile request bodies, over mutual TLS as a valid, registered principal: every JSON route and
//! the envelope upload get bodies that are too large, nested too deep, huge, with unknown members,
//! wrong types, empty, not UTF-8, and with a wrong or missing `Content-Type`. Each must be a 4xx with
//! a stable code and a sentence, logged as a refusal of the route's action; never a 5xx; nothing
//! stored; and the relay keeps serving. On SQLite and on PostgreSQL.
//!
//! `curl` is the client, so the bytes on the wire are exactly the ones written here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, io::Cursor, process::Command};

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, PrincipalId, Signer,
    api::{ConsentView, ENVELOPE_MEDIA_TYPE, OpenCase},
    audit::{Action, Reason},
    consent::SignedConsent,
    envelope::{RecipientKey, SealParams, seal},
};
use samordna_tests::{
    api::{Api, adult_consent},
    relay::{Backend, TestRelay},
};
use time::{Duration, OffsetDateTime};

const KOMMUN: &str = "SE2120000449";
const REGION: &str = "SE2321000032";
/// The relay's JSON body limit (`server/src/http/mod.rs`, `MAX_JSON_BYTES`).
const MAX_JSON_BYTES: usize = 1024 * 1024;

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    b
}

fn p(s: &str) -> PrincipalId {
    PrincipalId::parse(s).unwrap()
}

/// An answer as curl saw it.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    log_index: Option<u64>,
    /// The response's header block as curl wrote it.
    headers: String,
}

/// `curl -X method` as the municipality's Karin Berg, with `body` and exactly the `Content-Type`
/// given (`None`: no such header at all; curl would otherwise add a form type). The body is sent
/// at once, without `Expect: 100-continue`, so a refusal that leaves it unread in the socket would
/// show as a reset (status 0) instead of an answer.
fn send(relay: &TestRelay, method: &str, path: &str, body: &[u8], content_type: Option<&str>) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let (input, out_body, out_headers) =
        (dir.path().join("input"), dir.path().join("body"), dir.path().join("headers"));
    std::fs::write(&input, body).unwrap();
    let profile = relay.profile("municipality");
    let mut c = Command::new("curl");
    c.args(["--silent", "--show-error", "--max-time", "60", "-X", method, "--cacert"])
        .arg(profile.join("root-ca.pem"))
        .arg("--cert")
        .arg(profile.join("cert.pem"))
        .arg("--key")
        .arg(profile.join("key.pem"))
        .arg("-o")
        .arg(&out_body)
        .arg("-D")
        .arg(&out_headers)
        .args(["-w", "%{http_code}", "-H", "Expect:", "-H"])
        .arg(match content_type {
            Some(t) => format!("Content-Type: {t}"),
            None => "Content-Type:".to_owned(),
        })
        .arg("--data-binary")
        .arg(format!("@{}", input.display()))
        .arg(format!("{}{path}", relay.url()));
    let out = c.output().expect("run curl");
    let headers = std::fs::read_to_string(&out_headers).unwrap_or_default();
    let log_index = headers
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("samordna-log-index:").map(|v| v.trim().to_owned()))
        .and_then(|v| v.parse().ok());
    let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
    // No answer at all: curl's own error is the clue.
    let body = if status == 0 { out.stderr } else { std::fs::read(&out_body).unwrap_or_default() };
    Answer { status, body, log_index, headers }
}

/// The answer is `status` with `{"error":{"code": reason, "message": <a sentence>}}`, and the
/// refusal is in the access log at the index the answer names, as `action` by the municipality.
fn assert_refused(relay: &TestRelay, what: &str, a: &Answer, status: u16, action: Action, reason: Reason) {
    assert_json_error(what, a, status, reason);
    let idx = a.log_index.unwrap_or_else(|| panic!("{what}: a refusal carries its log index"));
    let row = relay.access_log().into_iter().find(|r| r.idx == idx).expect("the logged entry");
    assert!(!row.allowed, "{what}: {row:?}");
    assert_eq!(Action::from_code(row.action), Some(action), "{what}: {row:?}");
    assert_eq!(Reason::from_code(row.reason), Some(reason), "{what}: {row:?}");
    assert_eq!(row.principal.as_deref(), Some(KOMMUN), "{what}: {row:?}");
}

/// The answer is `status` with `{"error":{"code": reason, "message": <a sentence>}}`.
fn assert_json_error(what: &str, a: &Answer, status: u16, reason: Reason) {
    let text = String::from_utf8_lossy(&a.body);
    assert_eq!(a.status, status, "{what}: {text}");
    let v: serde_json::Value =
        serde_json::from_slice(&a.body).unwrap_or_else(|_| panic!("{what}: not a JSON error: {text}"));
    assert_eq!(v["error"]["code"], reason.as_str(), "{what}: {text}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.len() >= 20 && message.contains(' ') && message.len() < 2000,
        "{what}: the message is a sentence of bounded length: {message:?}"
    );
}

/// Row counts of every table a request could write to (all but the log's own tables).
fn stored(relay: &TestRelay) -> BTreeMap<&'static str, String> {
    [
        "cases",
        "consents",
        "consent_parties",
        "consent_kinds",
        "consent_changes",
        "encryption_keys",
        "envelopes",
        "envelope_recipients",
        "envelope_chunks",
        "witness_keys",
        "log_cosignatures",
        "notices",
        "mail_outbox",
        "principals",
    ]
    .into_iter()
    .map(|t| (t, relay.query(&format!("SELECT COUNT(*) FROM {t}"))[0][0].clone().unwrap()))
    .collect()
}

fn consent(case: &CaseId, recorder: &Signer) -> SignedConsent {
    let now = OffsetDateTime::now_utc();
    let m = adult_consent(
        case,
        recorder,
        &[p(KOMMUN), p(REGION)],
        &[ContentKind::Plan],
        now - Duration::days(1),
        now + Duration::days(180),
    );
    SignedConsent::sign(&m, recorder, now).unwrap()
}

fn envelope(signer: &Signer, case: &CaseId, consent: &ConsentId, to: &RecipientKey) -> (EnvelopeId, Vec<u8>) {
    let params = SealParams {
        envelope_id: EnvelopeId::from_random_bytes(random16()),
        case_id: case.clone(),
        consent_id: consent.clone(),
        content_kind: ContentKind::Plan,
        recipients: vec![to.clone()],
        media_type: "application/json".into(),
        file_name: Some("sip-plan.json".into()),
        created: OffsetDateTime::now_utc(),
    };
    let doc = vec![b'x'; 40_000];
    let mut out = Vec::new();
    seal(&params, signer, doc.as_slice(), doc.len() as u64, Cursor::new(Vec::new()), &mut out).unwrap();
    (params.envelope_id, out)
}

/// A hostile JSON body and what the relay must answer.
struct Hostile {
    what: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    status: u16,
    reason: Reason,
    /// A phrase the message must contain (the parser's explanation reaches the client).
    says: &'static str,
}

/// The hostile bodies for a route whose request object has the members `fields` and of which
/// `plausible` is a well-formed example (the relay may refuse it for its content, but it parses).
fn hostile_bodies(fields: &[&str], plausible: &[u8]) -> Vec<Hostile> {
    let json = Some("application/json");
    let (first, last) = (fields[0], fields[fields.len() - 1]);
    let mut oversized = format!("{{\"{first}\":\"").into_bytes();
    oversized.resize(MAX_JSON_BYTES + 100, b'a');
    oversized.extend_from_slice(b"\"}");
    let mut huge_string = format!("{{\"{last}\":\"").into_bytes();
    huge_string.resize(MAX_JSON_BYTES - 1000, b'A');
    huge_string.extend_from_slice(b"\"}");
    let wrong_types = serde_json::to_vec(&serde_json::Value::Object(
        fields.iter().map(|f| ((*f).to_owned(), serde_json::json!([12345, {"x": true}]))).collect(),
    ))
    .unwrap();
    assert_eq!(plausible[0], b'{');
    let unknown = [b"{\"surplus_member\":\"x\",".as_slice(), &plausible[1..]].concat();
    let mut not_utf8 = format!("{{\"{last}\":\"").into_bytes();
    not_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28, 0x80]);
    not_utf8.extend_from_slice(b"\"}");
    vec![
        Hostile {
            what: "a body over the JSON limit",
            body: oversized,
            content_type: json,
            status: 413,
            reason: Reason::TooLarge,
            says: "at most",
        },
        Hostile {
            what: "100 000 nested arrays",
            body: vec![b'['; 100_000],
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "request body",
        },
        Hostile {
            what: "100 000 nested objects",
            body: b"{\"a\":".repeat(100_000),
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "request body",
        },
        Hostile {
            what: "a string of almost a megabyte",
            body: huge_string,
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "request body",
        },
        Hostile {
            what: "an unknown member",
            body: unknown,
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "surplus_member",
        },
        Hostile {
            what: "wrong types",
            body: wrong_types,
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "invalid type",
        },
        Hostile {
            what: "a JSON array instead of an object",
            body: b"[1,2,3]".to_vec(),
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "invalid type",
        },
        Hostile {
            what: "an empty body",
            body: Vec::new(),
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "empty",
        },
        Hostile {
            what: "invalid UTF-8",
            body: not_utf8,
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "UTF-8",
        },
        Hostile {
            what: "trailing garbage",
            body: [plausible, b" }{ \x00"].concat(),
            content_type: json,
            status: 400,
            reason: Reason::Malformed,
            says: "trailing",
        },
        Hostile {
            what: "Content-Type text/plain",
            body: plausible.to_vec(),
            content_type: Some("text/plain"),
            status: 415,
            reason: Reason::UnsupportedMediaType,
            says: "application/json",
        },
        Hostile {
            what: "a form Content-Type",
            body: plausible.to_vec(),
            content_type: Some("application/x-www-form-urlencoded"),
            status: 415,
            reason: Reason::UnsupportedMediaType,
            says: "application/json",
        },
        Hostile {
            what: "JSON in another charset",
            body: plausible.to_vec(),
            content_type: Some("application/json; charset=utf-16"),
            status: 415,
            reason: Reason::UnsupportedMediaType,
            says: "application/json",
        },
        Hostile {
            what: "no Content-Type",
            body: plausible.to_vec(),
            content_type: None,
            status: 415,
            reason: Reason::UnsupportedMediaType,
            says: "application/json",
        },
    ]
}

fn hostile_input_is_refused_with_a_code_and_nothing_stored(backend: Backend) {
    let Some(relay) = TestRelay::start(backend) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    // A case, a consent between municipality and region, and the region's key: enough for the
    // routes that name an existing object and for a real envelope.
    let kommun = Api::new(&relay, "municipality");
    let region = Api::new(&relay, "region");
    let (_, region_key) = region.publish_key();
    let case = CaseId::from_random_bytes(random16());
    let a = kommun.post("/v1/cases", &OpenCase { case_id: case.clone(), lead_principal: p(KOMMUN) });
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let a = kommun.post("/v1/consents", &consent(&case, &kommun.signer()));
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let consent_id = serde_json::from_slice::<ConsentView>(&a.body).unwrap().metadata().unwrap().consent_id;
    let before = stored(&relay);
    let log_before = relay.access_log().len();

    // Every route that takes a JSON body (server/src/http/mod.rs, docs/api.md), with the members
    // of its request object.
    let signed = &["statement", "signature"][..];
    let plausible_signed = br#"{"statement":"AAAA","signature":"AAAA"}"#.to_vec();
    let open_case = serde_json::to_vec(&OpenCase {
        case_id: CaseId::from_random_bytes(random16()),
        lead_principal: p(KOMMUN),
    })
    .unwrap();
    let envelope_id = EnvelopeId::from_random_bytes(random16());
    let routes: Vec<(String, Action, &[&str], Vec<u8>)> = vec![
        ("/v1/keys".into(), Action::KeyPublish, signed, plausible_signed.clone()),
        ("/v1/cases".into(), Action::CaseOpen, &["case_id", "lead_principal"][..], open_case),
        ("/v1/consents".into(), Action::ConsentRecord, signed, plausible_signed.clone()),
        (
            format!("/v1/consents/{consent_id}/changes"),
            Action::ConsentWithdraw,
            signed,
            plausible_signed.clone(),
        ),
        (
            format!("/v1/envelopes/{envelope_id}/receipt"),
            Action::ReceiptPost,
            signed,
            plausible_signed.clone(),
        ),
        ("/v1/log/witnesses".into(), Action::WitnessKeyPublish, signed, plausible_signed),
        (
            "/v1/log/cosignatures".into(),
            Action::LogCosign,
            &["size", "signature"][..],
            br#"{"size":1,"signature":"AAAA"}"#.to_vec(),
        ),
    ];
    let mut refusals = 0;
    for (path, action, fields, plausible) in &routes {
        for h in hostile_bodies(fields, plausible) {
            let what = format!("POST {path} with {}", h.what);
            let a = send(&relay, "POST", path, &h.body, h.content_type);
            assert_refused(&relay, &what, &a, h.status, *action, h.reason);
            let message = serde_json::from_slice::<serde_json::Value>(&a.body).unwrap()["error"]["message"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(message.contains(h.says), "{what}: {message:?} should say {:?}", h.says);
            refusals += 1;
        }
    }

    // The envelope upload: a real envelope, then broken versions of it.
    let (id, bytes) = envelope(&kommun.signer(), &case, &consent_id, &region_key);
    let path = format!("/v1/envelopes/{id}");
    let mut garbage = vec![0u8; 20_000];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut garbage).unwrap();
    let mut bad_magic = bytes.clone();
    bad_magic[0] ^= 0xff;
    let env = Some(ENVELOPE_MEDIA_TYPE);
    // (what, body, Content-Type, status, reason)
    type Upload<'a> = (&'a str, Vec<u8>, Option<&'a str>, u16, Reason);
    let uploads: Vec<Upload> = vec![
        ("random bytes", garbage, env, 400, Reason::Malformed),
        ("JSON instead of an envelope", b"{\"envelope\":true}".to_vec(), env, 400, Reason::Malformed),
        ("an empty body", Vec::new(), env, 400, Reason::Malformed),
        ("a wrong magic number", bad_magic, env, 400, Reason::Malformed),
        ("an envelope cut inside its header", bytes[..40].to_vec(), env, 400, Reason::Malformed),
        (
            "an envelope cut inside its ciphertext",
            bytes[..bytes.len() - 100].to_vec(),
            env,
            400,
            Reason::CiphertextMismatch,
        ),
        (
            "Content-Type application/json",
            bytes.clone(),
            Some("application/json"),
            415,
            Reason::UnsupportedMediaType,
        ),
        (
            "Content-Type application/octet-stream",
            bytes.clone(),
            Some("application/octet-stream"),
            415,
            Reason::UnsupportedMediaType,
        ),
        ("no Content-Type", bytes.clone(), None, 415, Reason::UnsupportedMediaType),
    ];
    for (what, body, content_type, status, reason) in uploads {
        let what = format!("PUT {path} with {what}");
        let a = send(&relay, "PUT", &path, &body, content_type);
        assert_refused(&relay, &what, &a, status, Action::EnvelopeUpload, reason);
        refusals += 1;
    }

    // Nothing was stored, every refusal was logged (and nothing else), and the log has no gaps.
    assert_eq!(stored(&relay), before, "hostile input stored something");
    let log = relay.access_log();
    assert_eq!(log.len(), log_before + refusals, "one access-log entry per refusal");
    assert!(log.iter().enumerate().all(|(i, r)| r.idx == i as u64), "{log:#?}");

    // Faults of the request line rather than the body, each with a body of 3 MB sent at once: the
    // same JSON error body, and an answer rather than a reset. A wrong method or an unknown route
    // touches no case, so it is in the relay's own log, not the access log; a malformed id in the
    // path of a POST is a refusal of that route's action and is in the access log.
    let big = vec![b' '; 3_000_000];
    let json = Some("application/json");
    let log_before = relay.access_log().len();
    let a = send(&relay, "DELETE", "/v1/cases", &big, json);
    assert_json_error("DELETE /v1/cases", &a, 405, Reason::MethodNotAllowed);
    let allow = a
        .headers
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("allow:").map(|v| v.trim().to_owned()));
    assert_eq!(allow.as_deref(), Some("post"), "405 names the methods the route takes: {}", a.headers);
    let a = send(&relay, "POST", "/v1/no-such-route", &big, json);
    assert_json_error("POST /v1/no-such-route", &a, 404, Reason::NotFound);
    let a = send(&relay, "GET", "/v1/cases/%FF%FE", b"", None);
    assert_json_error("GET /v1/cases/%FF%FE", &a, 400, Reason::Malformed);
    assert_eq!(relay.access_log().len(), log_before, "routing faults are not access-log entries");
    let a = send(&relay, "POST", "/v1/consents/not-a-consent-id/changes", &big, json);
    assert_refused(
        &relay,
        "POST /v1/consents/not-a-consent-id/changes",
        &a,
        400,
        Action::ConsentWithdraw,
        Reason::Malformed,
    );
    assert_eq!(stored(&relay), before, "a routing fault stored something");

    // The relay is still up and serves good requests: the directory, and the real envelope.
    let a = kommun.get("/v1/principals");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let a = kommun.put_envelope(id.as_str(), &bytes);
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(relay.query("SELECT COUNT(*) FROM envelopes")[0][0].as_deref(), Some("1"));
    let log = relay.log();
    assert!(!log.contains("panicked"), "the relay panicked:\n{log}");
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

on_both_backends!(hostile_input_is_refused_with_a_code_and_nothing_stored);
