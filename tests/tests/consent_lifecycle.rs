//! Consent as Swedish practice needs it, end to end on the real relay (SQLite and PostgreSQL):
//! a child's consent needs every guardian with custody; a withdrawal stops even documents sent
//! before it; a block (*spärr*) on the school stops the school while region and municipality go
//! on; amendments replace a consent; a closed case takes no new documents; retention deletes
//! ciphertext and tells the sender when it was never fetched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, PrincipalId, Signer,
    api::{CaseEventKind, CaseView, ConsentStatus, ConsentView, DeliveryStatus, Inbox, NoticeKind, OpenCase},
    audit::{Action, Reason},
    consent::{
        Change, ChangeType, ConsentChange, ConsentForm, ConsentMetadata, ConsentType, GrantorRole, Purpose,
        SignedConsent, SubjectClass, WithdrawalReason,
    },
    envelope::{Party, RecipientKey, SealParams, seal},
    signed::SignedStatement,
};
use samordna_tests::{
    api::{Answer, Api},
    relay::{Backend, TestRelay, set_key},
};
use time::{Duration, OffsetDateTime};

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

fn metadata(case: &CaseId, recorder: &Signer, parties: &[&str], until: OffsetDateTime) -> ConsentMetadata {
    let id = recorder.identity();
    ConsentMetadata {
        record_type: ConsentType::Consent,
        version: 1,
        consent_id: ConsentId::from_random_bytes(random16()),
        case_id: case.clone(),
        parties: parties.iter().map(|s| p(s)).collect(),
        kinds: vec![ContentKind::Plan, ContentKind::Meeting],
        purpose: Purpose::Sip,
        valid_from: OffsetDateTime::now_utc() - Duration::hours(1),
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

fn record(api: &Api<'_>, m: &ConsentMetadata) -> Answer {
    api.post("/v1/consents", &SignedConsent::sign(m, &api.signer(), OffsetDateTime::now_utc()).unwrap())
}

fn change(api: &Api<'_>, consent: &ConsentId, change: Change) -> Answer {
    let signer = api.signer();
    let id = signer.identity();
    let c = ConsentChange {
        change_type: ChangeType::ConsentChange,
        version: 1,
        consent_id: consent.clone(),
        change,
        by: Party { principal: id.principal.clone(), user: id.hsa_id.clone() },
        at: OffsetDateTime::now_utc(),
    };
    api.post(
        &format!("/v1/consents/{consent}/changes"),
        &SignedStatement::sign(&c, &signer, OffsetDateTime::now_utc()).unwrap(),
    )
}

fn send(api: &Api<'_>, case: &CaseId, consent: &ConsentId, to: &[RecipientKey]) -> (EnvelopeId, Answer) {
    let params = SealParams {
        envelope_id: EnvelopeId::from_random_bytes(random16()),
        case_id: case.clone(),
        consent_id: consent.clone(),
        content_kind: ContentKind::Plan,
        recipients: to.to_vec(),
        media_type: "application/json".into(),
        file_name: None,
        created: OffsetDateTime::now_utc(),
    };
    let doc = b"{\"sip\": \"plan\"}";
    let mut out = Vec::new();
    seal(&params, &api.signer(), &doc[..], doc.len() as u64, Cursor::new(Vec::new()), &mut out).unwrap();
    let answer = api.put_envelope(params.envelope_id.as_str(), &out);
    (params.envelope_id, answer)
}

fn open_case(api: &Api<'_>) -> CaseId {
    let case = CaseId::from_random_bytes(random16());
    let a = api.post(
        "/v1/cases",
        &OpenCase { case_id: case.clone(), lead_principal: api.signer().identity().principal.clone() },
    );
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    case
}

fn assert_refused(relay: &TestRelay, a: &Answer, status: u16, action: Action, reason: Reason) {
    assert_eq!(
        (a.status, a.code()),
        (status, reason.as_str().to_owned()),
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let idx = a.log_index.expect("refusals carry their log index");
    let row = relay.access_log().into_iter().find(|r| r.idx == idx).unwrap();
    assert_eq!((row.action, row.allowed, row.reason), (action.code(), false, reason.code()), "{row:?}");
}

fn start(backend: Backend) -> Option<TestRelay> {
    let relay = TestRelay::start(backend);
    if relay.is_none() {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
    }
    relay
}

fn a_childs_consent_needs_both_guardians(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let kommun = Api::new(&relay, "municipality");
    let case = open_case(&kommun);
    let child = |grantors: Vec<GrantorRole>| ConsentMetadata {
        subject: SubjectClass::Minor,
        custodial_guardians: Some(2),
        grantors,
        child_view_heard: true,
        ..metadata(
            &case,
            &kommun.signer(),
            &[KOMMUN, REGION, SKOLA],
            OffsetDateTime::now_utc() + Duration::days(60),
        )
    };
    let one = record(&kommun, &child(vec![GrantorRole::Guardian1]));
    assert_refused(&relay, &one, 422, Action::ConsentRecord, Reason::GuardianMissing);
    assert!(one.json()["error"]["message"].as_str().unwrap().contains("second guardian"));
    assert_eq!(relay.query("SELECT COUNT(*) FROM consents")[0][0].as_deref(), Some("0"));
    let both = record(&kommun, &child(vec![GrantorRole::Guardian1, GrantorRole::Guardian2]));
    assert_eq!(both.status, 201, "{}", String::from_utf8_lossy(&both.body));
    // Without the child's own view recorded, it is refused too.
    let unheard = ConsentMetadata {
        child_view_heard: false,
        ..child(vec![GrantorRole::Guardian1, GrantorRole::Guardian2])
    };
    assert_refused(&relay, &record(&kommun, &unheard), 422, Action::ConsentRecord, Reason::ChildViewNotHeard);
}

fn a_withdrawal_stops_even_documents_sent_before_it(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let (kommun, region) = (Api::new(&relay, "municipality"), Api::new(&relay, "region"));
    let (_, region_key) = region.publish_key();
    let case = open_case(&kommun);
    let m =
        metadata(&case, &kommun.signer(), &[KOMMUN, REGION], OffsetDateTime::now_utc() + Duration::days(60));
    assert_eq!(record(&kommun, &m).status, 201);
    let (before, a) = send(&kommun, &case, &m.consent_id, std::slice::from_ref(&region_key));
    assert_eq!(a.status, 201);
    let (fetched_before, a) = send(&kommun, &case, &m.consent_id, std::slice::from_ref(&region_key));
    assert_eq!(a.status, 201);
    assert_eq!(region.get(&format!("/v1/envelopes/{fetched_before}")).status, 200);

    // The person withdraws; the municipality records it.
    let w = change(&kommun, &m.consent_id, Change::Withdraw { reason: WithdrawalReason::Individual });
    assert_eq!(w.status, 201, "{}", String::from_utf8_lossy(&w.body));
    let view: ConsentView = serde_json::from_slice(&w.body).unwrap();
    assert_eq!(view.status, ConsentStatus::Withdrawn);
    assert_eq!(view.changes.len(), 1);

    // At once: the region can no longer fetch what was sent before — fetched or not.
    assert_refused(
        &relay,
        &region.get(&format!("/v1/envelopes/{before}")),
        403,
        Action::EnvelopeFetch,
        Reason::ConsentWithdrawn,
    );
    assert_refused(
        &relay,
        &region.get(&format!("/v1/envelopes/{fetched_before}")),
        403,
        Action::EnvelopeFetch,
        Reason::ConsentWithdrawn,
    );
    // Nothing new can be sent under it.
    let (_, a) = send(&kommun, &case, &m.consent_id, std::slice::from_ref(&region_key));
    assert_refused(&relay, &a, 403, Action::EnvelopeUpload, Reason::ConsentWithdrawn);
    // It is final.
    let again = change(&region, &m.consent_id, Change::Withdraw { reason: WithdrawalReason::Other });
    assert_refused(&relay, &again, 403, Action::ConsentWithdraw, Reason::ConsentWithdrawn);
    // The region was told, in its inbox; the municipality, who withdrew, was not.
    let inbox: Inbox = serde_json::from_slice(&region.get("/v1/inbox").body).unwrap();
    assert!(inbox.notices.iter().any(|n| n.kind == NoticeKind::ConsentWithdrawn
        && n.consent_id.as_ref() == Some(&m.consent_id)
        && n.by == Some(p(KOMMUN))));
    let inbox: Inbox = serde_json::from_slice(&kommun.get("/v1/inbox").body).unwrap();
    assert!(inbox.notices.is_empty());
    // The case history shows it.
    let view: CaseView = serde_json::from_slice(&kommun.get(&format!("/v1/cases/{case}")).body).unwrap();
    assert!(view.history.iter().any(|e| e.kind == CaseEventKind::ConsentWithdrawn));
}

fn a_block_on_the_school_stops_only_the_school(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let (kommun, region, skola) =
        (Api::new(&relay, "municipality"), Api::new(&relay, "region"), Api::new(&relay, "school"));
    let (_, region_key) = region.publish_key();
    let (_, skola_key) = skola.publish_key();
    let (_, kommun_key) = kommun.publish_key();
    let case = open_case(&kommun);
    let m = metadata(
        &case,
        &kommun.signer(),
        &[KOMMUN, REGION, SKOLA],
        OffsetDateTime::now_utc() + Duration::days(60),
    );
    assert_eq!(record(&kommun, &m).status, 201);
    let (to_both, a) = send(&kommun, &case, &m.consent_id, &[region_key.clone(), skola_key.clone()]);
    assert_eq!(a.status, 201);

    // The guardians ask that the school be left out: the region records the block.
    let b = change(&region, &m.consent_id, Change::BlockParty { party: p(SKOLA) });
    assert_eq!(b.status, 201, "{}", String::from_utf8_lossy(&b.body));

    assert_refused(
        &relay,
        &skola.get(&format!("/v1/envelopes/{to_both}")),
        403,
        Action::EnvelopeFetch,
        Reason::PartyBlocked,
    );
    assert_eq!(region.get(&format!("/v1/envelopes/{to_both}")).status, 200, "the region goes on");
    let (_, a) = send(&region, &case, &m.consent_id, std::slice::from_ref(&kommun_key));
    assert_eq!(a.status, 201, "region and municipality go on: {}", String::from_utf8_lossy(&a.body));
    let (_, a) = send(&kommun, &case, &m.consent_id, &[region_key, skola_key]);
    assert_refused(&relay, &a, 403, Action::EnvelopeUpload, Reason::PartyBlocked);
    // The school itself may not lift it by withdrawing the block — a block is undone only by a new consent —
    // but it is told.
    let inbox: Inbox = serde_json::from_slice(&skola.get("/v1/inbox").body).unwrap();
    assert!(inbox.notices.iter().any(|n| n.kind == NoticeKind::ConsentBlocked));
    // Blocking a kind works the same way.
    let k = change(&kommun, &m.consent_id, Change::BlockKind { kind: ContentKind::Plan });
    assert_eq!(k.status, 201);
    assert_refused(
        &relay,
        &region.get(&format!("/v1/envelopes/{to_both}")),
        403,
        Action::EnvelopeFetch,
        Reason::KindBlocked,
    );
    // Only parties may change a consent: blocks by an outsider are refused.
    let cv: ConsentView =
        serde_json::from_slice(&kommun.get(&format!("/v1/consents/{}", m.consent_id)).body).unwrap();
    assert_eq!(cv.blocked_parties, vec![p(SKOLA)]);
    assert_eq!(cv.blocked_kinds, vec![ContentKind::Plan]);
}

fn amendments_and_closing(backend: Backend) {
    let Some(relay) = start(backend) else { return };
    let (kommun, region, skola) =
        (Api::new(&relay, "municipality"), Api::new(&relay, "region"), Api::new(&relay, "school"));
    let (_, region_key) = region.publish_key();
    let case = open_case(&kommun);
    let until = OffsetDateTime::now_utc() + Duration::days(60);
    let old = metadata(&case, &kommun.signer(), &[KOMMUN, REGION], until);
    assert_eq!(record(&kommun, &old).status, 201);
    let (sent_under_old, a) = send(&kommun, &case, &old.consent_id, std::slice::from_ref(&region_key));
    assert_eq!(a.status, 201);

    // An amendment that adds the school keeps the region: the region still fetches.
    let new = ConsentMetadata {
        supersedes: Some(old.consent_id.clone()),
        ..metadata(&case, &kommun.signer(), &[KOMMUN, REGION, SKOLA], until)
    };
    assert_eq!(record(&kommun, &new).status, 201);
    let (_, a) = send(&kommun, &case, &old.consent_id, std::slice::from_ref(&region_key));
    assert_refused(&relay, &a, 403, Action::EnvelopeUpload, Reason::ConsentSuperseded);
    let a = region.get(&format!("/v1/envelopes/{sent_under_old}"));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let log = relay.access_log();
    assert_eq!(
        log.last().unwrap().consent_id.as_deref(),
        Some(new.consent_id.as_str()),
        "the fetch relied on the amendment"
    );

    // A second amendment that drops the region: the region can no longer fetch what was sent before.
    let newer = ConsentMetadata {
        supersedes: Some(new.consent_id.clone()),
        ..metadata(&case, &kommun.signer(), &[KOMMUN, SKOLA], until)
    };
    assert_eq!(record(&kommun, &newer).status, 201);
    assert_refused(
        &relay,
        &region.get(&format!("/v1/envelopes/{sent_under_old}")),
        403,
        Action::EnvelopeFetch,
        Reason::NotAParty,
    );
    // History is kept: every version is still there, with its place in the chain.
    let view: CaseView = serde_json::from_slice(&kommun.get(&format!("/v1/cases/{case}")).body).unwrap();
    let statuses: Vec<ConsentStatus> = view.consents.iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![ConsentStatus::Superseded, ConsentStatus::Superseded, ConsentStatus::Active]);
    assert_eq!(view.consents[0].superseded_by.as_ref(), Some(&new.consent_id));

    // Only the lead closes the case; then nothing new is sent, while fetches still follow consent.
    let (_, skola_key) = skola.publish_key();
    let (to_school, a) = send(&kommun, &case, &newer.consent_id, std::slice::from_ref(&skola_key));
    assert_eq!(a.status, 201);
    // The region took part under the earlier versions, so it sees the case, but it is not the lead.
    assert_refused(
        &relay,
        &region.post(&format!("/v1/cases/{case}/close"), &()),
        403,
        Action::CaseClose,
        Reason::Forbidden,
    );
    assert_refused(
        &relay,
        &skola.post(&format!("/v1/cases/{case}/close"), &()),
        403,
        Action::CaseClose,
        Reason::Forbidden,
    );
    let closed = kommun.post(&format!("/v1/cases/{case}/close"), &());
    assert_eq!(closed.status, 200, "{}", String::from_utf8_lossy(&closed.body));
    let (_, a) = send(&kommun, &case, &newer.consent_id, std::slice::from_ref(&skola_key));
    assert_refused(&relay, &a, 409, Action::EnvelopeUpload, Reason::CaseClosed);
    assert_eq!(skola.get(&format!("/v1/envelopes/{to_school}")).status, 200);
    let view: CaseView = serde_json::from_slice(&kommun.get(&format!("/v1/cases/{case}")).body).unwrap();
    assert!(view.closed_at.is_some());
    assert_eq!(view.history.last().unwrap().kind, CaseEventKind::Closed);
}

fn expiry_and_retention_follow_the_relays_clock(backend: Backend) {
    let Some(mut relay) = TestRelay::start_with(backend, |t| {
        *t = set_key(t, "keep_after_fetch_days", "10");
        *t = set_key(t, "delete_unfetched_after_days", "20");
    }) else {
        eprintln!("skipped: SAMORDNA_TEST_POSTGRES_URL is not set");
        return;
    };
    let (kommun, region) = (Api::new(&relay, "municipality"), Api::new(&relay, "region"));
    let (_, region_key) = region.publish_key();
    let case = open_case(&kommun);
    let m =
        metadata(&case, &kommun.signer(), &[KOMMUN, REGION], OffsetDateTime::now_utc() + Duration::days(5));
    assert_eq!(record(&kommun, &m).status, 201);
    let (fetched, _) = send(&kommun, &case, &m.consent_id, std::slice::from_ref(&region_key));
    let (unfetched, _) = send(&kommun, &case, &m.consent_id, std::slice::from_ref(&region_key));
    assert_eq!(region.get(&format!("/v1/envelopes/{fetched}")).status, 200);

    // Six days on the consent has ended: even the envelope not yet fetched is withheld.
    relay.restart(Some(6 * 86_400));
    let region = Api::new(&relay, "region");
    assert_refused(
        &relay,
        &region.get(&format!("/v1/envelopes/{unfetched}")),
        403,
        Action::EnvelopeFetch,
        Reason::ConsentExpired,
    );
    assert_eq!(
        relay.query("SELECT COUNT(*) FROM envelope_chunks")[0][0].as_deref(),
        Some("2"),
        "nothing deleted yet"
    );

    // Eleven days on, the fetched envelope's ciphertext is gone (ten days after its fetch).
    relay.restart(Some(11 * 86_400));
    let (kommun, region) = (Api::new(&relay, "municipality"), Api::new(&relay, "region"));
    wait_for(|| relay.query("SELECT COUNT(*) FROM envelope_chunks")[0][0].as_deref() == Some("1"));
    let a = region.get(&format!("/v1/envelopes/{fetched}"));
    assert_eq!(a.status, 410, "{}", String::from_utf8_lossy(&a.body));
    let status: DeliveryStatus =
        serde_json::from_slice(&kommun.get(&format!("/v1/envelopes/{fetched}/status")).body).unwrap();
    assert!(status.deleted_at.is_some(), "the sender sees the deletion");

    // Twenty-one days on, the unfetched one goes too, and the sender is told.
    relay.restart(Some(21 * 86_400));
    wait_for(|| relay.query("SELECT COUNT(*) FROM envelope_chunks")[0][0].as_deref() == Some("0"));
    let kommun = Api::new(&relay, "municipality");
    let inbox: Inbox = serde_json::from_slice(&kommun.get("/v1/inbox").body).unwrap();
    assert!(inbox.notices.iter().any(
        |n| n.kind == NoticeKind::EnvelopeDeletedUnfetched && n.envelope_id.as_ref() == Some(&unfetched)
    ));
    let deletions = relay
        .access_log()
        .into_iter()
        .filter(|r| r.action == Action::EnvelopeDelete.code() && r.allowed)
        .count();
    assert_eq!(deletions, 2, "each deletion is logged");
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
    a_childs_consent_needs_both_guardians,
    a_withdrawal_stops_even_documents_sent_before_it,
    a_block_on_the_school_stops_only_the_school,
    amendments_and_closing,
    expiry_and_retention_follow_the_relays_clock,
);
