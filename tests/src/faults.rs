//! Shared pieces of the fault tests (`tests/faults_*.rs`): a case with a consent to send plans
//! under, envelopes sealed for it, tools that may be missing, and the checks run after a fault
//! (every stored envelope whole, the access log verified).

use std::{
    io::Cursor,
    path::Path,
    time::{Duration, Instant},
};

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, PrincipalId, Signer,
    api::{ConsentView, OpenCase},
    consent::SignedConsent,
    envelope::{RecipientKey, SealParams, seal},
};
use time::OffsetDateTime;

use crate::{api::Api, cli, relay::TestRelay, run};

/// Linköpings kommun.
pub const KOMMUN: &str = "SE2120000449";
/// Region Östergötland.
pub const REGION: &str = "SE2321000032";

/// Whether CI asked for every external tool to be there (`SAMORDNA_REQUIRE_TEST_TOOLS=1`).
pub fn require_tools() -> bool {
    std::env::var("SAMORDNA_REQUIRE_TEST_TOOLS").is_ok_and(|v| v == "1")
}

/// A test that cannot run here says why, or fails when CI requires the tools.
pub fn skip(why: &str) {
    assert!(!require_tools(), "{why}, but SAMORDNA_REQUIRE_TEST_TOOLS=1");
    eprintln!("skipped: {why}");
}

/// 16 random bytes.
pub fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    b
}

fn principal(s: &str) -> PrincipalId {
    PrincipalId::parse(s).expect("principal id")
}

/// A case led by the municipality and a consent (plans, municipality and region) to send under.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The case.
    pub case: CaseId,
    /// The consent.
    pub consent: ConsentId,
    /// The region's encryption key.
    pub region_key: RecipientKey,
    /// The municipality's encryption key.
    pub kommun_key: RecipientKey,
}

impl Fixture {
    /// Publishes keys for the municipality and the region, opens a case and records the consent.
    pub fn new(relay: &TestRelay) -> Fixture {
        let kommun = Api::new(relay, "municipality");
        let region = Api::new(relay, "region");
        let (_, region_key) = region.publish_key();
        let (_, kommun_key) = kommun.publish_key();
        let case = CaseId::from_random_bytes(random16());
        let a =
            kommun.post("/v1/cases", &OpenCase { case_id: case.clone(), lead_principal: principal(KOMMUN) });
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
        let signer = kommun.signer();
        let now = OffsetDateTime::now_utc();
        let m = crate::api::adult_consent(
            &case,
            &signer,
            &[principal(KOMMUN), principal(REGION)],
            &[ContentKind::Plan],
            now - time::Duration::days(1),
            now + time::Duration::days(180),
        );
        let signed = SignedConsent::sign(&m, &signer, now).expect("sign consent");
        let a = kommun.post("/v1/consents", &signed);
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
        let view: ConsentView = serde_json::from_slice(&a.body).expect("consent view");
        let consent = view.metadata().expect("metadata").consent_id;
        Fixture { case, consent, region_key, kommun_key }
    }

    /// A plan of `size` bytes from `signer` to `to`, sealed for this case and consent.
    pub fn envelope(&self, signer: &Signer, to: &RecipientKey, size: usize) -> (EnvelopeId, Vec<u8>) {
        let envelope_id = EnvelopeId::from_random_bytes(random16());
        // Content that differs per envelope, so a chunk swapped between envelopes would show.
        let doc: Vec<u8> = envelope_id.as_str().bytes().cycle().take(size).collect();
        let params = SealParams {
            envelope_id: envelope_id.clone(),
            case_id: self.case.clone(),
            consent_id: self.consent.clone(),
            content_kind: ContentKind::Plan,
            recipients: vec![to.clone()],
            media_type: "application/octet-stream".into(),
            file_name: None,
            created: OffsetDateTime::now_utc(),
        };
        let mut out = Vec::new();
        seal(&params, signer, doc.as_slice(), size as u64, Cursor::new(Vec::new()), &mut out).expect("seal");
        (envelope_id, out)
    }
}

/// Every stored envelope is whole: it has all its chunks, numbered 0…n-1, and their lengths add up
/// to the ciphertext length. Returns the number of envelopes.
pub fn assert_no_envelope_half_stored(relay: &TestRelay) -> usize {
    let rows = relay.query(
        "SELECT e.id, e.chunk_count, e.ciphertext_length,
                (SELECT COUNT(*) FROM envelope_chunks c WHERE c.envelope_id = e.id),
                (SELECT COALESCE(SUM(LENGTH(c.data)), 0) FROM envelope_chunks c WHERE c.envelope_id = e.id),
                (SELECT COALESCE(MAX(c.seq), -1) FROM envelope_chunks c WHERE c.envelope_id = e.id)
         FROM envelopes e",
    );
    for r in &rows {
        let n = |i: usize| r[i].as_deref().and_then(|v| v.parse::<i64>().ok()).unwrap_or(-2);
        assert_eq!(n(1), n(3), "envelope {:?} has {} of its {} chunks", r[0], n(3), n(1));
        assert_eq!(n(2), n(4), "envelope {:?}: chunks hold {} of its {} bytes", r[0], n(4), n(2));
        assert_eq!(n(5), n(1) - 1, "envelope {:?}: chunks are not numbered 0…{}", r[0], n(1) - 1);
    }
    let orphans = relay.query(
        "SELECT COUNT(*) FROM envelope_chunks c WHERE NOT EXISTS (SELECT 1 FROM envelopes e WHERE e.id = c.envelope_id)",
    );
    assert_eq!(orphans[0][0].as_deref(), Some("0"), "chunks without an envelope");
    rows.len()
}

/// The access log verifies: the relay's own full recomputation against every signed checkpoint
/// (`samordna-relay log verify`), and, once a checkpoint covers every entry, the compliance
/// officer's independent `samordna audit verify`.
pub fn assert_log_verifies(relay: &TestRelay) {
    let out = run(relay.relay_cmd().args(["log", "verify"]));
    assert!(
        out.status.success(),
        "samordna-relay log verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_checkpoint(relay, Duration::from_secs(15));
    let report = cli::ok(relay, "auditor", &["audit", "verify"]);
    assert_eq!(report["ok"], true, "{report}");
}

/// Waits until the relay has signed a checkpoint over every access-log entry.
pub fn wait_for_checkpoint(relay: &TestRelay, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let n = relay.query("SELECT COUNT(*) FROM access_log")[0][0].clone();
        let signed = relay.query("SELECT MAX(size) FROM log_checkpoints")[0][0].clone();
        if signed.is_some() && signed == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the relay signed no checkpoint over all its entries within {limit:?}; its log:\n{}", relay.log());
}

/// Fetches `id` as `api` and checks the bytes are exactly `bytes`.
pub fn assert_fetches_intact(api: &Api<'_>, id: &EnvelopeId, bytes: &[u8]) {
    let a = api.get(&format!("/v1/envelopes/{id}"));
    assert_eq!(a.status, 200, "fetch {id}: {}", String::from_utf8_lossy(&a.body));
    assert!(
        a.body == bytes,
        "{id}: the relay returned {} bytes that differ from the {} sent",
        a.body.len(),
        bytes.len()
    );
}

/// Whether `path` exists and is executable.
pub fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
