//! The relay refuses every client certificate fault, each with its own reason in the access log,
//! on SQLite and on PostgreSQL. `curl` is the TLS client: an independent implementation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{process::Command, time::Duration};

use samordna_core::{
    audit::{Action, Reason},
    cert::{certificates_from_pem, fingerprint},
};
use samordna_tests::relay::{Backend, Extra, TestRelay};

/// `curl` against the relay with a profile's certificate (or none); returns (exit code, body).
fn curl(relay: &TestRelay, profile: Option<&str>, path: &str) -> (i32, String) {
    let mut c = Command::new("curl");
    c.args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(relay.fed.join("ca/root-ca.pem"));
    if let Some(p) = profile {
        c.arg("--cert")
            .arg(relay.profile(p).join("cert.pem"))
            .arg("--key")
            .arg(relay.profile(p).join("key.pem"));
    }
    c.arg(format!("{}{path}", relay.url()));
    let out = c.output().expect("run curl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn certificate_faults_are_refused_and_logged(backend: Backend) {
    let Some(relay) = TestRelay::start(backend) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };

    // A valid certificate of a registered principal gets in.
    let (code, body) = curl(&relay, Some("municipality"), "/v1/principals");
    assert_eq!(code, 0, "{body}");
    assert!(body.contains("Region Östergötland"), "{body}");

    // Faults the TLS handshake refuses: no connection at all.
    let tls_faults = [
        (None, Reason::NoClientCertificate),
        (Some(Extra::Expired), Reason::CertificateExpired),
        (Some(Extra::NotYetValid), Reason::CertificateNotYetValid),
        (Some(Extra::Revoked), Reason::CertificateRevoked),
        (Some(Extra::ForeignCa), Reason::CertificateUnknownIssuer),
        (Some(Extra::SelfSigned), Reason::CertificateSelfSigned),
        (Some(Extra::ServerUsage), Reason::CertificateWrongUsage),
        (Some(Extra::NoDigitalSignature), Reason::CertificateWrongUsage),
    ];
    for (extra, _) in tls_faults {
        let (code, body) = curl(&relay, extra.map(Extra::dir), "/v1/principals");
        assert_ne!(code, 0, "{extra:?} got through: {body}");
        assert!(!body.contains("Region"), "{extra:?}: {body}");
    }

    // Faults the relay's registry refuses: a JSON error with its code.
    for (extra, reason) in
        [(Extra::Unregistered, Reason::PrincipalUnknown), (Extra::Disabled, Reason::PrincipalDisabled)]
    {
        let (code, body) = curl(&relay, Some(extra.dir()), "/v1/principals");
        assert_eq!(code, 0, "{extra:?}");
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("{extra:?}: {body}"));
        assert_eq!(v["error"]["code"], reason.as_str(), "{body}");
        assert!(v["error"]["message"].as_str().unwrap().contains("relay"), "{body}");
    }

    // Every refusal is in the access log with its reason. Handshake refusals are written by a
    // background task, so allow them a moment to arrive.
    let expected: Vec<(Option<Extra>, Reason)> = tls_faults
        .iter()
        .copied()
        .chain([
            (Some(Extra::Unregistered), Reason::PrincipalUnknown),
            (Some(Extra::Disabled), Reason::PrincipalDisabled),
        ])
        .collect();
    let mut log = relay.access_log();
    for _ in 0..50 {
        let refused = log.iter().filter(|r| !r.allowed && r.action == Action::Authenticate.code()).count();
        if refused >= expected.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        log = relay.access_log();
    }
    let refusals: Vec<_> =
        log.iter().filter(|r| !r.allowed && r.action == Action::Authenticate.code()).collect();
    assert_eq!(refusals.len(), expected.len(), "one refusal per attempt: {refusals:#?}");
    for (extra, reason) in &expected {
        // Each refused certificate is found by its fingerprint, and carries its own reason.
        let row = match extra {
            None => refusals.iter().find(|r| r.fingerprint.is_none()),
            Some(extra) => {
                let pem = std::fs::read(relay.profile(extra.dir()).join("cert.pem")).unwrap();
                let der = certificates_from_pem(&pem).unwrap().remove(0);
                let fp = fingerprint(&der);
                refusals.iter().find(|r| r.fingerprint.as_deref() == Some(fp.as_str()))
            }
        }
        .unwrap_or_else(|| panic!("no access-log entry for {extra:?}: {log:#?}\n{}", relay.log()));
        assert_eq!(
            Reason::from_code(row.reason),
            Some(*reason),
            "{extra:?} is logged with its own reason: {row:?}"
        );
        if extra.is_some() {
            assert!(
                row.user.is_some(),
                "{reason}: the refused certificate's claimed HSA-id is logged: {row:?}"
            );
        }
    }
    // The one allowed request was logged too, and the indices are gap-free.
    assert!(log.iter().any(|r| r.allowed && r.action == Action::DirectoryRead.code()));
    assert!(log.iter().enumerate().all(|(i, r)| r.idx == i as u64), "{log:#?}");

    // Nothing else was stored.
    for table in ["cases", "consents", "envelopes", "envelope_chunks", "encryption_keys"] {
        assert_eq!(
            relay.query(&format!("SELECT COUNT(*) FROM {table}"))[0][0].as_deref(),
            Some("0"),
            "{table}"
        );
    }
}

#[test]
fn certificate_faults_are_refused_and_logged_on_sqlite() {
    certificate_faults_are_refused_and_logged(Backend::Sqlite);
}

#[test]
fn certificate_faults_are_refused_and_logged_on_postgres() {
    certificate_faults_are_refused_and_logged(Backend::Postgres);
}
