//! A deliberately plain HTTP client for relay tests: `curl` with a profile's certificate. It sends
//! whatever bytes a test gives it, so tests can play a misbehaving client as easily as a good one.

use std::{path::Path, process::Command};

use samordna_core::{
    CaseId, ConsentId, ContentKind, PrincipalId, Signer, TrustStore,
    attestation::KeyAttestation,
    consent::{ConsentForm, ConsentMetadata, ConsentType, GrantorRole, Purpose, SubjectClass},
    envelope::{Party, RecipientKey, RecipientSecret},
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::relay::TestRelay;

/// An answer: status code, body, and the two Samordna headers.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status (0 if the connection failed).
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// `Samordna-Log-Index`.
    pub log_index: Option<u64>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    /// The error code of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().map(str::to_owned).unwrap_or_default()
    }
}

/// A client acting as one profile of a test relay.
#[derive(Debug)]
pub struct Api<'a> {
    relay: &'a TestRelay,
    profile: String,
}

impl<'a> Api<'a> {
    /// Acts as `profile`.
    pub fn new(relay: &'a TestRelay, profile: &str) -> Self {
        Api { relay, profile: profile.to_owned() }
    }

    /// The profile's signer (certificate and key).
    pub fn signer(&self) -> Signer {
        let dir = self.relay.profile(&self.profile);
        Signer::from_pem(
            &crate::relay::read(&dir.join("cert.pem")),
            &crate::relay::read(&dir.join("key.pem")),
        )
        .expect("profile signer")
    }

    /// The federation's trust.
    pub fn trust(&self) -> TrustStore {
        let dir = self.relay.profile(&self.profile);
        TrustStore::from_pem(
            &crate::relay::read(&dir.join("root-ca.pem")),
            &[&crate::relay::read(&dir.join("crl.pem"))],
        )
        .expect("trust")
    }

    fn curl(&self, method: &str, path: &str, body: Option<(&[u8], &str)>) -> Answer {
        let dir = tempfile::tempdir().expect("tempdir");
        let out_body = dir.path().join("body");
        let out_headers = dir.path().join("headers");
        let profile = self.relay.profile(&self.profile);
        let mut c = Command::new("curl");
        c.args(["--silent", "--max-time", "60", "-X", method, "--cacert"])
            .arg(profile.join("root-ca.pem"))
            .arg("--cert")
            .arg(profile.join("cert.pem"))
            .arg("--key")
            .arg(profile.join("key.pem"))
            .arg("-o")
            .arg(&out_body)
            .arg("-D")
            .arg(&out_headers)
            .args(["-w", "%{http_code}"]);
        if let Some((bytes, content_type)) = body {
            let input = dir.path().join("input");
            std::fs::write(&input, bytes).expect("write body");
            c.arg("-H")
                .arg(format!("content-type: {content_type}"))
                .arg("--data-binary")
                .arg(format!("@{}", input.display()));
        }
        c.arg(format!("{}{path}", self.relay.url()));
        let out = c.output().expect("run curl");
        let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        let headers = std::fs::read_to_string(&out_headers).unwrap_or_default();
        let log_index = headers
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("samordna-log-index:").map(|v| v.trim().to_owned())
            })
            .and_then(|v| v.parse().ok());
        Answer { status, body: std::fs::read(&out_body).unwrap_or_default(), log_index }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Answer {
        self.curl("GET", path, None)
    }

    /// `POST path` with a JSON body.
    pub fn post<T: Serialize>(&self, path: &str, value: &T) -> Answer {
        self.curl("POST", path, Some((&serde_json::to_vec(value).expect("json"), "application/json")))
    }

    /// `PUT /v1/envelopes/{id}` with envelope bytes.
    pub fn put_envelope(&self, id: &str, bytes: &[u8]) -> Answer {
        self.curl("PUT", &format!("/v1/envelopes/{id}"), Some((bytes, "application/vnd.samordna.envelope")))
    }

    /// Makes, attests and publishes a fresh encryption key; returns it with its recipient form.
    pub fn publish_key(&self) -> (RecipientSecret, RecipientKey) {
        let mut seed = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).expect("random");
        let secret = RecipientSecret::from_bytes(seed);
        let now = OffsetDateTime::now_utc();
        let att = KeyAttestation::create(
            &self.signer(),
            &secret.public_key(),
            now - time::Duration::hours(1),
            now + time::Duration::days(365),
            now,
        )
        .expect("attest");
        let answer = self.post("/v1/keys", &att);
        assert!(
            matches!(answer.status, 200 | 201),
            "publish key: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        let key = RecipientKey::from(&att.verify(&self.trust(), now).expect("verify own attestation"));
        (secret, key)
    }
}

/// Reads a whole file.
pub fn file(p: &Path) -> Vec<u8> {
    crate::relay::read(p)
}

/// The consent most relay tests need: an adult's own written consent to SIP sharing of `kinds`
/// between `parties`, valid from `from` to `until`, recorded by `recorder`, under a fresh id.
pub fn adult_consent(
    case: &CaseId,
    recorder: &Signer,
    parties: &[PrincipalId],
    kinds: &[ContentKind],
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> ConsentMetadata {
    let id = recorder.identity();
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("system randomness");
    ConsentMetadata {
        record_type: ConsentType::Consent,
        version: 1,
        consent_id: ConsentId::from_random_bytes(b),
        case_id: case.clone(),
        parties: parties.to_vec(),
        kinds: kinds.to_vec(),
        purpose: Purpose::Sip,
        valid_from: from,
        valid_until: until,
        subject: SubjectClass::Adult,
        grantors: vec![GrantorRole::Individual],
        custodial_guardians: None,
        child_view_heard: false,
        form: ConsentForm::Written,
        recorded_by: Party { principal: id.principal.clone(), user: id.hsa_id.clone() },
        supersedes: None,
    }
}
