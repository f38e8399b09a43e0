//! Staff pages: the inbox, cases, a case's timeline, opening a case, recording and withdrawing
//! consent, and reading a document with its verified signature. Every action is the same
//! [`Session`](crate::Session) call the `samordna` command makes.
//!
//! # Routes
//!
//! | route | what |
//! |---|---|
//! | `GET /` | 303 to `/inkorg` |
//! | `GET /inkorg` | documents waiting, notices, and the delivery of documents we sent |
//! | `GET /arenden` | the cases this app knows; `?arende=S-…` opens one by id |
//! | `GET, POST /arende/ny` | open a case (`lead`) |
//! | `GET /arende/{case}` | the case's timeline; `?klart=oppnat|samtycke|aterkallat` shows a confirmation |
//! | `GET, POST /arende/{case}/samtycke` | the consent form; POST records it |
//! | `POST /arende/{case}/samtycke/kontroll` | the form again with the rules applied; nothing recorded |
//! | `POST /samtycke/{consent}/aterkalla` | withdraw (`reason`) |
//! | `GET /dokument/{envelope}` | fetch, verify and show a document (`#signatur`, or `#undanhallen`) |
//! | `GET /dokument/{envelope}/fil` | the verified document's bytes, as a download |
//!
//! # Form fields (stable: the browser tests use them)
//!
//! Open a case (`/arende/ny`): `lead` = a principal id, or empty for our own organisation.
//! Go to a case (`/arenden`, GET): `arende` = a case id.
//!
//! Consent (`/arende/{case}/samtycke`, and `/kontroll`):
//! - `subject_kind`: `vuxen` | `barn` (radio; ids `subject_kind-vuxen`, `subject_kind-barn`)
//! - `grantor` (repeated checkbox): `individual` | `legal_representative` | `guardian1` | `guardian2`
//!   (ids `grantor-{value}`)
//! - `custodians`: `` | `1` | `2`, guardians with custody of a child (select, id `custodians`)
//! - `childs_view`: present when the child's own view was heard (checkbox, id `childs_view`)
//! - `party` (repeated checkbox): principal ids (ids `party-{id}`)
//! - `kind` (repeated checkbox): `plan` | `meeting` | `assessment` | `attachment` | `message` |
//!   `consent` (ids `kind-{value}`)
//! - `valid_from`: optional date `YYYY-MM-DD` (id `valid_from`); `valid_until`: date (id `valid_until`)
//! - `given_as`: `written` | `oral_documented` | `digital` (radio; ids `given_as-{value}`)
//! - `supersedes`: optional consent id it replaces (id `supersedes`)
//! - buttons: `#kontrollera` (posts to `/kontroll`) and `#registrera`
//!
//! Each rule's explanation is in `#{field}-forklaring`; when a field is refused it holds
//! `#{field}-fel`, and the field's `aria-describedby` points at it. `#kontroll-resultat` sums up.
//!
//! Withdraw (`/samtycke/{consent}/aterkalla`): `reason` = `individual` | `guardian` |
//! `legal_representative` | `recorded_in_error` | `other`.

use std::collections::BTreeMap;

use axum::{
    Router,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use futures_util::future::join_all;
use maud::{Markup, html};
use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, Identity, PrincipalId,
    api::{CaseEventKind, CaseStatus, ConsentStatus, NoticeKind, PrincipalEntry, PrincipalKind},
    audit::Reason,
    consent::{
        ConsentForm, ConsentPolicy, GrantorRole, SubjectClass, WithdrawalReason, add_months, rule_grantors,
        rule_kinds, rule_not_ended, rule_parties, rule_validity,
    },
    envelope::Party,
    plan::Plan,
};
use time::OffsetDateTime;

use super::{AppState, FlashKind, FormData, Nav, WebError, layout, url_encode};
use crate::{
    CaseInfo, ConsentInfo, ConsentRequest, FetchRequest, FetchResult, InboxResult, NamedPrincipal,
    NoticeInfo, ReceiptCheck, StatusResult,
    error::ClientError,
    input::parse_time,
    invite::Invitation,
    plan::document::{self, Block, Document},
    relay::RelayError,
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inkorg") }))
        .route("/inkorg", get(inbox))
        .route("/arenden", get(cases))
        .route("/arende/ny", get(new_case_form).post(new_case))
        .route("/arende/{case}", get(case_page))
        .route("/arende/{case}/samtycke", get(consent_form).post(consent_record))
        .route("/arende/{case}/samtycke/kontroll", post(consent_check))
        .route("/samtycke/{consent}/aterkalla", post(consent_withdraw))
        .route("/dokument/{envelope}", get(document_page))
        .route("/dokument/{envelope}/fil", get(document_file))
}

// ---- Words ----

pub(crate) fn kind_label(k: ContentKind) -> &'static str {
    match k {
        ContentKind::Plan => "SIP-plan",
        ContentKind::Meeting => "Kallelse till SIP-möte",
        ContentKind::Assessment => "Bedömning",
        ContentKind::Attachment => "Bilaga",
        ContentKind::Message => "Meddelande",
        ContentKind::Consent => "Samtyckeshandling",
    }
}

fn principal_kind_word(k: PrincipalKind) -> &'static str {
    match k {
        PrincipalKind::Region => "region",
        PrincipalKind::Municipality => "kommun",
        PrincipalKind::School => "skola",
        PrincipalKind::CareProvider => "vårdgivare",
        PrincipalKind::Agency => "myndighet",
    }
}

fn grantor_label(g: GrantorRole) -> &'static str {
    match g {
        GrantorRole::Individual => "Personen själv",
        GrantorRole::LegalRepresentative => "God man eller förvaltare",
        GrantorRole::Guardian1 => "Vårdnadshavare 1",
        GrantorRole::Guardian2 => "Vårdnadshavare 2",
    }
}

fn grantor_value(g: GrantorRole) -> &'static str {
    match g {
        GrantorRole::Individual => "individual",
        GrantorRole::LegalRepresentative => "legal_representative",
        GrantorRole::Guardian1 => "guardian1",
        GrantorRole::Guardian2 => "guardian2",
    }
}

const GRANTORS: [GrantorRole; 4] = [
    GrantorRole::Individual,
    GrantorRole::LegalRepresentative,
    GrantorRole::Guardian1,
    GrantorRole::Guardian2,
];

fn form_value(f: ConsentForm) -> &'static str {
    match f {
        ConsentForm::Written => "written",
        ConsentForm::OralDocumented => "oral_documented",
        ConsentForm::Digital => "digital",
    }
}

fn form_label(f: ConsentForm) -> &'static str {
    match f {
        ConsentForm::Written => "Skriftligt",
        ConsentForm::OralDocumented => "Muntligt, och dokumenterat av dig",
        ConsentForm::Digital => "Digitalt (e-tjänst eller e-underskrift)",
    }
}

fn form_word(f: ConsentForm) -> &'static str {
    match f {
        ConsentForm::Written => "skriftligt",
        ConsentForm::OralDocumented => "muntligt och dokumenterat",
        ConsentForm::Digital => "digitalt",
    }
}

const FORMS: [ConsentForm; 3] = [ConsentForm::Written, ConsentForm::OralDocumented, ConsentForm::Digital];

const WITHDRAWAL_REASONS: [WithdrawalReason; 5] = [
    WithdrawalReason::Individual,
    WithdrawalReason::Guardian,
    WithdrawalReason::LegalRepresentative,
    WithdrawalReason::RecordedInError,
    WithdrawalReason::Other,
];

fn withdrawal_label(r: WithdrawalReason) -> &'static str {
    match r {
        WithdrawalReason::Individual => "Personen har återkallat samtycket",
        WithdrawalReason::Guardian => "En vårdnadshavare har återkallat samtycket",
        WithdrawalReason::LegalRepresentative => "God man eller förvaltare har återkallat samtycket",
        WithdrawalReason::RecordedInError => "Samtycket registrerades av misstag",
        WithdrawalReason::Other => "Annat skäl, dokumenterat i akten",
    }
}

/// A consent's state in words, with a class for its badge. Blocks are named separately.
fn consent_state(c: &ConsentInfo) -> (&'static str, &'static str) {
    let blocked = !c.blocked_parties.is_empty() || !c.blocked_kinds.is_empty();
    match c.status {
        ConsentStatus::Active if blocked => ("Gäller, med spärr", "sparrat"),
        ConsentStatus::Active => ("Gäller", "aktivt"),
        ConsentStatus::NotYetValid => ("Gäller inte ännu", "utgatt"),
        ConsentStatus::Expired => ("Har upphört (slutdatum passerat)", "utgatt"),
        ConsentStatus::Withdrawn => ("Återkallat", "aterkallat"),
        ConsentStatus::Superseded => ("Ersatt av ett nyare samtycke", "utgatt"),
    }
}

fn named(p: &NamedPrincipal) -> String {
    match &p.name {
        Some(name) => format!("{name} ({})", p.id),
        None => p.id.to_string(),
    }
}

fn case_link(id: &CaseId) -> Markup {
    html! { a href=(format!("/arende/{}", url_encode(id.as_str()))) { code { (id) } } }
}

fn parse_case(s: &str) -> Result<CaseId, WebError> {
    CaseId::parse(s).map_err(|_| WebError::not_found(format!("”{s}” är inte ett ärendenummer (S-…).")))
}

/// A confirmation after a redirect (`?klart=…`).
#[derive(serde::Deserialize)]
struct Done {
    klart: Option<String>,
}

// ---- Inbox ----

async fn inbox(State(state): State<AppState>) -> Result<Markup, WebError> {
    let session = state.session();
    let inbox = session.inbox(None).await?;
    let known = known_cases(&state, Some(&inbox));
    let sent = sent_documents(&state, &known).await;
    let body = html! {
        h1 { "Inkorg" }
        p.ledtext { "Dokument som väntar på din organisation, meddelanden om samtycken, och hur det gick med det ni har skickat." }
        (notices_section(&inbox.notices, true))
        h2 id="vantar" { "Dokument till er" }
        @if inbox.items.is_empty() {
            p { "Inga dokument väntar." }
        } @else {
            table aria-labelledby="vantar" {
                thead { tr {
                    th scope="col" { "Dokument" }
                    th scope="col" { "Avsändare" }
                    th scope="col" { "Ärende" }
                    th scope="col" { "Slag" }
                    th scope="col" { "Mottaget" }
                    th scope="col" { "Läst" }
                } }
                tbody {
                    @for i in &inbox.items {
                        tr {
                            td { a href=(format!("/dokument/{}", url_encode(i.envelope_id.as_str()))) {
                                "Öppna " span.visually-hidden { (kind_label(i.content_kind)) " " } code { (i.envelope_id) }
                            } }
                            td { (named(&i.sender)) br; span.hjalp { "HSA-id " (i.sender_user) } }
                            td { (case_link(&i.case_id)) }
                            td { (kind_label(i.content_kind)) }
                            td { (layout::time(i.received_at)) }
                            td {
                                @match i.fetched_at {
                                    None => "Ny, inte hämtad",
                                    Some(at) => { "Hämtad " (layout::time(at)) @if i.receipt_posted { ", kvitto skickat" } @else { ", inget kvitto ännu" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        (sent_section(&sent))
    };
    Ok(layout::page(&state, "Inkorg", Nav::Inbox, body))
}

fn notices_section(notices: &[NoticeInfo], with_case: bool) -> Markup {
    html! {
        @if !notices.is_empty() {
            h2 id="meddelanden" { "Meddelanden" }
            ul.tidslinje aria-labelledby="meddelanden" {
                @for n in notices {
                    li {
                        time datetime=(layout::iso(n.at)) { (layout::time(n.at)) } " "
                        (notice_text(n))
                        @if with_case { " Ärende " (case_link(&n.case_id)) "." }
                    }
                }
            }
        }
    }
}

fn notice_text(n: &NoticeInfo) -> String {
    let by = n.by.as_ref().map(|b| format!(" av {}", named(b))).unwrap_or_default();
    let consent = n.consent_id.as_ref().map_or("Ett samtycke".to_owned(), |c| format!("Samtycke {c}"));
    match n.kind {
        NoticeKind::ConsentWithdrawn => format!(
            "{consent} har återkallats{by}. Inget får längre delas med stöd av det, inte heller det som redan skickats."
        ),
        NoticeKind::ConsentBlocked => format!("{consent} har fått en spärr{by}."),
        NoticeKind::EnvelopeDeletedUnfetched => format!(
            "Dokument {} som ni skickade gallrades innan alla mottagare hade hämtat det.",
            n.envelope_id.as_ref().map_or("(okänt)".to_owned(), ToString::to_string)
        ),
    }
}

/// The cases this app can name: from the inbox and its notices, this profile's invitations, and the
/// cases opened or looked at since start-up. The relay has no list of a principal's cases.
fn known_cases(state: &AppState, inbox: Option<&InboxResult>) -> Vec<CaseId> {
    let mut out: Vec<CaseId> = state.seen_cases();
    let mut add = |id: &CaseId| {
        if !out.contains(id) {
            out.push(id.clone());
        }
    };
    if let Some(inbox) = inbox {
        inbox.items.iter().for_each(|i| add(&i.case_id));
        inbox.notices.iter().for_each(|n| add(&n.case_id));
    }
    if let Ok(invitations) = Invitation::list(state.profile_dir()) {
        invitations.iter().for_each(|i| add(&i.case_id));
    }
    out
}

/// A document our organisation sent, with its delivery.
struct Sent {
    case_id: CaseId,
    at: OffsetDateTime,
    status: Result<StatusResult, WebError>,
}

/// The documents our organisation sent in `cases`, newest first, each with its delivery status.
/// There is no local record of sent envelopes: the cases' history at the relay says which were ours.
async fn sent_documents(state: &AppState, cases: &[CaseId]) -> Vec<Sent> {
    let session = state.session();
    let me = session.profile().principal();
    let shown = join_all(cases.iter().map(|c| session.case_show(c))).await;
    let mut sent: Vec<(CaseId, OffsetDateTime, EnvelopeId)> = shown
        .into_iter()
        .flatten()
        .flat_map(|case| {
            let id = case.case_id.clone();
            case.history
                .into_iter()
                .filter(|e| e.kind == CaseEventKind::DocumentSent)
                .filter(|e| e.by.as_ref().is_some_and(|b| b.id == *me))
                .filter_map(|e| e.envelope_id.map(|env| (id.clone(), e.at, env)))
                .collect::<Vec<_>>()
        })
        .collect();
    sent.sort_by_key(|s| std::cmp::Reverse(s.1));
    sent.truncate(30);
    let statuses = join_all(sent.iter().map(|(_, _, env)| session.status(env))).await;
    sent.into_iter()
        .zip(statuses)
        .map(|((case_id, at, _), status)| Sent { case_id, at, status: status.map_err(WebError::from) })
        .collect()
}

fn sent_section(sent: &[Sent]) -> Markup {
    html! {
        h2 id="skickat" { "Skickat av er organisation" }
        @if sent.is_empty() {
            p { "Inga skickade dokument i de ärenden som visas här." }
        } @else {
            table aria-labelledby="skickat" {
                thead { tr {
                    th scope="col" { "Dokument" }
                    th scope="col" { "Ärende" }
                    th scope="col" { "Skickat" }
                    th scope="col" { "Leverans" }
                } }
                tbody {
                    @for s in sent {
                        tr {
                            td { @match &s.status { Ok(st) => code { (st.envelope_id) }, Err(_) => "–" } }
                            td { (case_link(&s.case_id)) }
                            td { (layout::time(s.at)) }
                            td { (delivery(&s.status)) }
                        }
                    }
                }
            }
        }
        p.hjalp { "Samordna sparar ingen egen lista över skickade dokument; listan bygger på ärendenas historik hos reläet, för de ärenden som syns i inkorgen, i era kallelser eller som du har öppnat." }
    }
}

fn delivery(status: &Result<StatusResult, WebError>) -> Markup {
    match status {
        Err(e) => html! { "Leveransstatus kunde inte läsas: " (e.message) },
        Ok(st) => html! {
            @if let Some(at) = st.deleted_at { p { "Gallrat " (layout::time(at)) "." } }
            ul {
                @for r in &st.recipients {
                    li {
                        (named(&r.principal)) ": "
                        @match r.fetched_at { None => "inte hämtat ännu", Some(t) => { "hämtat " (layout::time(t)) } }
                        "; "
                        @match &r.receipt {
                            ReceiptCheck::None => "inget kvitto ännu",
                            ReceiptCheck::Verified { by, received_at } => {
                                "kvitto verifierat (" (by.name) ", " (layout::time(*received_at)) ")"
                            }
                            ReceiptCheck::Invalid { reason } => {
                                strong { "Varning: kvittot går inte att verifiera" } " (" span lang="en" { (reason) } "). Lita inte på det."
                            }
                        }
                    }
                }
            }
        },
    }
}

// ---- Cases ----

#[derive(serde::Deserialize)]
struct GoTo {
    arende: Option<String>,
}

async fn cases(State(state): State<AppState>, Query(go): Query<GoTo>) -> Result<Response, WebError> {
    if let Some(id) = go.arende.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let id = CaseId::parse(id).map_err(|_| {
            WebError::bad_request(format!("”{id}” är inte ett ärendenummer. Ett ärendenummer börjar med S-."))
        })?;
        return Ok(Redirect::to(&format!("/arende/{}", url_encode(id.as_str()))).into_response());
    }
    let session = state.session();
    // The inbox is a courtesy here: the page still lists what else is known without it.
    let inbox = session.inbox(None).await.ok();
    let known = known_cases(&state, inbox.as_ref());
    let shown: Vec<Result<CaseInfo, ClientError>> =
        join_all(known.iter().map(|c| session.case_show(c))).await;
    let body = html! {
        h1 { "Ärenden" }
        form method="get" action="/arenden" {
            label for="arende" { "Gå till ärende" }
            p.hjalp id="arende-hjalp" { "Skriv ärendenumret, till exempel S-01JDQ7K9X2M4N6P8R0T2V4W6Y8." }
            input type="text" id="arende" name="arende" aria-describedby="arende-hjalp" autocomplete="off" spellcheck="false";
            " "
            button type="submit" { "Visa ärendet" }
        }
        p { a.knapp href="/arende/ny" { "Öppna ett nytt ärende" } }
        h2 id="kanda" { "Ärenden som syns här" }
        p.hjalp { "Reläet har ingen förteckning över en organisations ärenden. Här visas ärenden med dokument eller meddelanden i inkorgen, ärenden ni har kallat till möte i, och ärenden du har öppnat sedan Samordna web startades." }
        @if known.is_empty() {
            p { "Inga ärenden ännu." }
        } @else {
            table aria-labelledby="kanda" {
                thead { tr {
                    th scope="col" { "Ärende" }
                    th scope="col" { "Huvudansvar" }
                    th scope="col" { "Status" }
                    th scope="col" { "Samtycken" }
                    th scope="col" { "Öppnat" }
                } }
                tbody {
                    @for (id, case) in known.iter().zip(&shown) {
                        tr {
                            td { (case_link(id)) }
                            @match case {
                                Ok(c) => {
                                    td { (named(&c.lead_principal)) }
                                    td { (case_status(c)) }
                                    td { (consent_summary(c)) }
                                    td { (layout::time(c.opened_at)) }
                                }
                                Err(e) => { td colspan="4" { "Kunde inte läsas: " (short_error(e)) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&state, "Ärenden", Nav::Cases, body).into_response())
}

fn case_status(c: &CaseInfo) -> String {
    match (c.status, c.closed_at) {
        (CaseStatus::Open, _) => "Öppet".into(),
        (CaseStatus::Closed, Some(at)) => format!("Avslutat {}", layout::time(at)),
        (CaseStatus::Closed, None) => "Avslutat".into(),
    }
}

fn consent_summary(c: &CaseInfo) -> String {
    let active = c.consents.iter().filter(|k| k.status == ConsentStatus::Active).count();
    match (c.consents.len(), active) {
        (0, _) => "Inget samtycke".into(),
        (n, a) => format!("{n} totalt, {a} gäller"),
    }
}

/// A library error in a few words, for a table cell.
fn short_error(e: &ClientError) -> String {
    let words = match e {
        ClientError::Relay(RelayError::Refused { status: 404, .. }) => "reläet känner inte till ärendet",
        ClientError::Relay(RelayError::Refused { .. }) => "reläet sa nej",
        ClientError::Relay(_) => "reläet kunde inte nås",
        _ => "något gick fel",
    };
    format!("{words} ({})", e.code())
}

async fn directory_entries(state: &AppState) -> Result<Vec<PrincipalEntry>, WebError> {
    Ok(state.session().directory().await?.principals)
}

async fn new_case_form(State(state): State<AppState>) -> Result<Markup, WebError> {
    let directory = directory_entries(&state).await?;
    Ok(new_case_page(&state, &directory, None))
}

fn new_case_page(state: &AppState, directory: &[PrincipalEntry], error: Option<&str>) -> Markup {
    let me = state.session().profile().principal();
    let my_name = &state.session().profile().identity().organisation;
    let body = html! {
        h1 { "Nytt ärende" }
        @if let Some(e) = error { (layout::flash(FlashKind::Error, e)) }
        p { "Ett SIP-ärende får ett slumpat ärendenummer. Reläet vet inget om personen; namn och personnummer hör hemma i er egen akt och i den krypterade planen." }
        form method="post" action="/arende/ny" {
            label for="lead" { "Huvudansvar (den huvudman som har det övergripande ansvaret)" }
            p.hjalp id="lead-hjalp" { "Oftast er egen organisation. Bara huvudansvarig kan avsluta ärendet." }
            select id="lead" name="lead" aria-describedby="lead-hjalp" {
                option value="" selected { (my_name) " (er organisation)" }
                @for p in directory.iter().filter(|p| p.enabled && p.id != *me) {
                    option value=(p.id) { (p.name) " (" (principal_kind_word(p.kind)) ", " (p.id) ")" }
                }
            }
            div.knappar { button type="submit" id="oppna" { "Öppna ärendet" } }
        }
    };
    layout::page(state, "Nytt ärende", Nav::NewCase, body)
}

async fn new_case(State(state): State<AppState>, form: FormData) -> Result<Response, WebError> {
    let lead = match form.get("lead") {
        None => None,
        Some(s) => match PrincipalId::parse(s) {
            Ok(p) => Some(p),
            Err(_) => {
                let directory = directory_entries(&state).await?;
                let page = new_case_page(&state, &directory, Some("Välj huvudansvarig i listan."));
                return Ok((StatusCode::BAD_REQUEST, page).into_response());
            }
        },
    };
    let case = state.session().case_open(lead).await?;
    state.remember_case(&case.case_id);
    Ok(Redirect::to(&format!("/arende/{}?klart=oppnat", url_encode(case.case_id.as_str()))).into_response())
}

// ---- A case ----

async fn case_page(
    State(state): State<AppState>,
    Path(case): Path<String>,
    Query(done): Query<Done>,
) -> Result<Markup, WebError> {
    let id = parse_case(&case)?;
    let session = state.session();
    let (case, inbox) = tokio::join!(session.case_show(&id), session.inbox(Some(&id)));
    let case = case?;
    state.remember_case(&id);
    // The inbox is a courtesy on this page: the case is shown without it.
    let inbox = inbox.ok();
    let me = session.profile().principal().clone();
    let invitations: Vec<Invitation> = Invitation::list(state.profile_dir())
        .map(|all| all.into_iter().filter(|i| i.case_id == id).collect())
        .unwrap_or_default();
    let confirmation = match done.klart.as_deref() {
        Some("oppnat") => Some("Ärendet är öppnat. Registrera samtycket innan något delas."),
        Some("samtycke") => Some("Samtycket är registrerat och signerat."),
        Some("aterkallat") => Some(
            "Samtycket är återkallat. Det gäller direkt, också för dokument som redan skickats, och de andra parterna har meddelats.",
        ),
        Some("plan") => Some("Planen är skickad."),
        Some("kallelse") => Some("Kallelsen är skickad."),
        Some(_) => Some("Klart."),
        None => None,
    };
    let open = case.status == CaseStatus::Open;
    let enc = url_encode(id.as_str());
    let body = html! {
        h1 { "Ärende " code { (id) } }
        @if let Some(text) = confirmation { (layout::flash(FlashKind::Success, text)) }
        @if case.verification_failed() {
            (layout::flash(FlashKind::Warning, "Något i ärendet gick inte att verifiera (en signatur på ett samtycke eller en ändring). Lita inte på de uppgifter som är markerade nedan, och kontakta reläets förvaltare."))
        }
        dl.uppgifter {
            dt { "Status" } dd { (case_status(&case)) }
            dt { "Huvudansvar" } dd { (named(&case.lead_principal)) }
            dt { "Öppnat" } dd { (layout::time(case.opened_at)) " av " (named(&case.opened_by.principal)) " (HSA-id " (case.opened_by.user) ")" }
            dt { "Deltar" } dd { (case.participants.iter().map(named).collect::<Vec<_>>().join(", ")) }
        }
        @if open {
            div.knappar {
                a.knapp href=(format!("/arende/{enc}/samtycke")) { "Registrera samtycke" }
                a.knapp href=(format!("/arende/{enc}/plan")) { "Skriv SIP-plan" }
                a.knapp href=(format!("/arende/{enc}/kallelse")) { "Kalla till SIP-möte" }
            }
        }

        h2 id="samtycken" { "Samtycken" }
        @if case.consents.is_empty() {
            p { "Inget samtycke är registrerat. Inget får delas mellan organisationerna förrän personen, eller för ett barn vårdnadshavarna, har samtyckt." }
        }
        @for c in &case.consents { (consent_panel(c, &me)) }

        h2 id="dokument" { "Dokument" }
        (documents_section(&case, inbox.as_ref(), &me))

        h2 id="moten" { "Möten" }
        @if invitations.is_empty() {
            p { "Ni har inte kallat till något möte i ärendet." }
        } @else {
            ul {
                @for i in &invitations {
                    li {
                        a href=(format!("/kallelse/{}", url_encode(&i.id))) { "Möte " (i.start.replace('T', " ")) }
                        ", " (i.location)
                        @if i.cancelled { " – " strong { "inställt" } }
                    }
                }
            }
        }
        @if let Some(inbox) = &inbox { (notices_section(&inbox.notices, false)) }

        h2 id="historik" { "Händelser" }
        ol.tidslinje aria-labelledby="historik" {
            @for e in &case.history {
                li { time datetime=(layout::iso(e.at)) { (layout::time(e.at)) } " " (event_text(e)) }
            }
        }
    };
    Ok(layout::page(&state, &format!("Ärende {id}"), Nav::Cases, body))
}

fn event_text(e: &crate::CaseEventInfo) -> Markup {
    let by = e.by.as_ref().map(|b| format!(" av {}", named(b))).unwrap_or_default();
    let consent = e.consent_id.as_ref().map_or("Ett samtycke".to_owned(), |c| format!("Samtycke {c}"));
    html! {
        @match e.kind {
            CaseEventKind::Opened => { "Ärendet öppnades" (by) "." }
            CaseEventKind::ConsentRecorded => { (consent) " registrerades" (by) "." }
            CaseEventKind::ConsentSuperseded => { (consent) " ersattes av ett ändrat samtycke" (by) "." }
            CaseEventKind::ConsentWithdrawn => { (consent) " återkallades" (by) "." }
            CaseEventKind::PartyBlocked => {
                (e.party.as_ref().map_or("En part".to_owned(), named)) " spärrades i " (consent.to_lowercase()) (by) "."
            }
            CaseEventKind::KindBlocked => {
                (e.content_kind.map_or("Ett slags uppgifter", kind_label)) " spärrades i " (consent.to_lowercase()) (by) "."
            }
            CaseEventKind::DocumentSent => {
                "Dokument "
                @if let Some(env) = &e.envelope_id { code { (env) } " " }
                "skickades" (by) "."
            }
            CaseEventKind::DocumentDeleted => { "Ett dokument gallrades enligt reglerna för bevarande." }
            CaseEventKind::Closed => { "Ärendet avslutades" (by) "." }
        }
    }
}

fn consent_panel(c: &ConsentInfo, me: &PrincipalId) -> Markup {
    let (state_word, class) = consent_state(c);
    let is_party = c.parties.iter().any(|p| p.id == *me);
    let withdrawable = is_party && matches!(c.status, ConsentStatus::Active | ConsentStatus::NotYetValid);
    let heading_id = format!("samtycke-{}", c.consent_id);
    let subject = match c.subject {
        SubjectClass::Adult => "En vuxen".to_owned(),
        SubjectClass::Minor => format!(
            "Ett barn; {} vårdnadshavare med vårdnad; barnets uppfattning {}",
            c.custodial_guardians.map_or("?".into(), |n| n.to_string()),
            if c.child_view_heard { "har hörts" } else { "är inte registrerad som hörd" }
        ),
    };
    html! {
        section.panel aria-labelledby=(heading_id) {
            h3 id=(heading_id) { "Samtycke " code { (c.consent_id) } " " span class=(format!("status {class}")) { (state_word) } }
            dl.uppgifter {
                dt { "Parter" } dd { (c.parties.iter().map(named).collect::<Vec<_>>().join(", ")) }
                dt { "Uppgifter" } dd { (c.kinds.iter().map(|k| kind_label(*k)).collect::<Vec<_>>().join(", ")) }
                dt { "Giltigt" } dd { "från " (layout::date(c.valid_from)) " till " (layout::date(c.valid_until)) }
                dt { "Avser" } dd { (subject) }
                dt { "Lämnat av" } dd { (c.grantors.iter().map(|g| grantor_label(*g)).collect::<Vec<_>>().join(", ")) ", " (form_word(c.form)) }
                dt { "Registrerat" } dd { (layout::time(c.recorded_at)) " av " (named(&c.recorded_by.principal)) " (HSA-id " (c.recorded_by.user) ")" }
                @if let Some(at) = c.withdrawn_at { dt { "Återkallat" } dd { (layout::time(at)) } }
                @if !c.blocked_parties.is_empty() || !c.blocked_kinds.is_empty() {
                    dt { "Spärr" }
                    dd {
                        "Gäller inte längre för: "
                        (c.blocked_parties.iter().map(ToString::to_string)
                            .chain(c.blocked_kinds.iter().map(|k| kind_label(*k).to_owned()))
                            .collect::<Vec<_>>().join(", "))
                    }
                }
                @if let Some(newer) = &c.superseded_by { dt { "Ersatt av" } dd { code { (newer) } } }
                @if let Some(older) = &c.supersedes { dt { "Ersätter" } dd { code { (older) } } }
                dt { "Signatur" }
                dd {
                    @if c.verification_failed() {
                        strong { "Varning: går inte att verifiera." }
                        @if let Some(e) = &c.signature_error { " " span lang="en" { (e) } }
                        @for u in &c.unsupported { " " span lang="en" { (u) } }
                    } @else { "Verifierad" }
                }
            }
            @if withdrawable {
                form method="post" action=(format!("/samtycke/{}/aterkalla", url_encode(c.consent_id.as_str()))) {
                    @let sel = format!("reason-{}", c.consent_id);
                    label for=(sel) { "Skäl till återkallelse" }
                    p.hjalp id=(format!("{sel}-hjalp")) { "En återkallelse gäller direkt och kan inte ångras. Dokument som redan skickats med stöd av samtycket kan inte längre hämtas." }
                    select id=(sel) name="reason" aria-describedby=(format!("{sel}-hjalp")) {
                        @for r in WITHDRAWAL_REASONS { option value=(r.as_str()) { (withdrawal_label(r)) } }
                    }
                    " "
                    button.fara type="submit" { "Återkalla samtycke " (c.consent_id) }
                }
            }
        }
    }
}

fn documents_section(case: &CaseInfo, inbox: Option<&InboxResult>, me: &PrincipalId) -> Markup {
    let ours: Vec<&crate::CaseEventInfo> = case
        .history
        .iter()
        .filter(|e| e.kind == CaseEventKind::DocumentSent && e.by.as_ref().is_some_and(|b| b.id == *me))
        .collect();
    html! {
        h3 { "Till er" }
        @match inbox {
            None => p { "Inkorgen kunde inte läsas just nu." },
            Some(inbox) if inbox.items.is_empty() => p { "Inga dokument till er i ärendet." },
            Some(inbox) => ul {
                @for i in &inbox.items {
                    li {
                        a href=(format!("/dokument/{}", url_encode(i.envelope_id.as_str()))) { (kind_label(i.content_kind)) " från " (named(&i.sender)) }
                        ", mottaget " (layout::time(i.received_at))
                        @if i.fetched_at.is_none() { " (ny)" }
                    }
                }
            },
        }
        h3 { "Från er" }
        @if ours.is_empty() {
            p { "Ni har inte skickat något i ärendet." }
        } @else {
            ul { @for e in ours { li {
                @if let Some(env) = &e.envelope_id { code { (env) } } " skickat " (layout::time(e.at))
            } } }
            p.hjalp { "Leveransstatus för det ni skickat finns i " a href="/inkorg#skickat" { "inkorgen" } "." }
        }
    }
}

// ---- Consent ----

/// What the consent form holds, as typed, and each field's explanation.
#[derive(Default)]
struct ConsentFormState {
    form: FormData,
    /// Field name → the explanation of its refusal.
    errors: BTreeMap<&'static str, String>,
    /// Whether the rules were applied (the form was checked or posted).
    checked: bool,
    /// A refusal from the relay or the library when recording.
    failure: Option<WebError>,
}

impl ConsentFormState {
    fn value(&self, name: &str) -> Option<&str> {
        self.form.get(name)
    }

    fn has_value(&self, name: &str, value: &str) -> bool {
        self.form.all(name).contains(&value)
    }
}

/// Reads the form into a request and applies the consent rules, each one on its own so that every
/// refusal is explained next to its field. The rules are core's, as [`crate::Session::consent_record`]
/// and the relay apply them.
fn check_consent(
    me: &Identity,
    case_id: &CaseId,
    form: FormData,
) -> (ConsentFormState, Option<ConsentRequest>) {
    let mut errors: BTreeMap<&'static str, String> = BTreeMap::new();
    let subject = match form.get("subject_kind") {
        Some("vuxen") => Some(SubjectClass::Adult),
        Some("barn") => Some(SubjectClass::Minor),
        _ => {
            errors.insert("subject_kind", "Välj om samtycket gäller en vuxen eller ett barn.".into());
            None
        }
    };
    let grantors: Vec<GrantorRole> = form
        .all("grantor")
        .into_iter()
        .filter_map(|v| GRANTORS.into_iter().find(|g| grantor_value(*g) == v))
        .collect();
    let custodial_guardians = match form.get("custodians") {
        None => None,
        Some(s) => match s.parse::<u8>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.insert("custodians", "Välj 1 eller 2 vårdnadshavare.".into());
                None
            }
        },
    };
    let mut parties = Vec::new();
    for p in form.all("party") {
        match PrincipalId::parse(p) {
            Ok(p) => parties.push(p),
            Err(_) => {
                errors.insert("party", format!("”{p}” är inte en organisation i katalogen."));
            }
        }
    }
    let mut kinds = Vec::new();
    for k in form.all("kind") {
        match k.parse::<ContentKind>() {
            Ok(k) => kinds.push(k),
            Err(_) => {
                errors.insert("kind", format!("”{k}” är inte ett slags uppgifter som Samordna känner till."));
            }
        }
    }
    let date = |name: &'static str, errors: &mut BTreeMap<&'static str, String>| match form.get(name) {
        None => None,
        Some(s) => match parse_time(s) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.insert(name, format!("”{s}” är inget datum. Skriv det som 2027-05-01."));
                None
            }
        },
    };
    let valid_from = date("valid_from", &mut errors);
    let valid_until = date("valid_until", &mut errors);
    if form.get("valid_until").is_none() {
        errors
            .insert("valid_until", "Ange ett slutdatum. Ett samtycke måste alltid ha ett slutdatum.".into());
    }
    let given = match form.get("given_as") {
        Some(v) => FORMS.into_iter().find(|f| form_value(*f) == v),
        None => None,
    };
    if given.is_none() {
        errors.insert("given_as", "Välj hur samtycket lämnades.".into());
    }
    let supersedes = match form.get("supersedes") {
        None => None,
        Some(s) => match ConsentId::parse(s) {
            Ok(c) => Some(c),
            Err(_) => {
                errors.insert("supersedes", format!("”{s}” är inte ett samtyckesnummer (K-…)."));
                None
            }
        },
    };
    // Without an end date the other rules are still applied, on a stand-in date that is never
    // recorded (the missing date is itself a refusal).
    let request = subject.map(|subject| ConsentRequest {
        case_id: case_id.clone(),
        parties,
        kinds,
        valid_from,
        valid_until: valid_until.unwrap_or_else(OffsetDateTime::now_utc),
        subject,
        grantors,
        custodial_guardians,
        child_view_heard: form.has("childs_view"),
        form: given.unwrap_or(ConsentForm::Written),
        supersedes,
    });
    if let Some(req) = &request {
        apply_rules(me, req, &mut errors);
    }
    let ok = errors.is_empty() && given.is_some();
    let fs = ConsentFormState { form, errors, checked: true, failure: None };
    (fs, if ok { request } else { None })
}

fn apply_rules(id: &Identity, req: &ConsentRequest, errors: &mut BTreeMap<&'static str, String>) {
    let recorder = Party { principal: id.principal.clone(), user: id.hsa_id.clone() };
    let now = OffsetDateTime::now_utc();
    // The id is not recorded: the metadata is only checked here.
    let m = req.metadata(ConsentId::from_random_bytes([0; 16]), recorder, now);
    let policy = ConsentPolicy::default();
    if let Err(d) = rule_parties(&m) {
        let text = match d.reason {
            Reason::RecorderNotAParty => format!(
                "Er egen organisation, {}, måste vara en av parterna, eftersom det är ni som registrerar samtycket.",
                id.organisation
            ),
            Reason::TooFewParties => {
                "Välj minst två olika organisationer som får dela uppgifter med varandra.".to_owned()
            }
            _ => d.message,
        };
        errors.entry("party").or_insert(text);
    }
    if let Err(d) = rule_grantors(&m) {
        let has = |g: GrantorRole| m.grantors.contains(&g);
        let (field, text): (&'static str, String) = match d.reason {
            Reason::AdultGrantorMissing => (
                "grantor",
                "En vuxens samtycke lämnas av personen själv, eller av en god man eller förvaltare. Kryssa i vem som lämnade det.".into(),
            ),
            Reason::GrantorsInconsistent if m.subject == SubjectClass::Adult => (
                if has(GrantorRole::Guardian1) || has(GrantorRole::Guardian2) { "grantor" } else { "custodians" },
                "Vårdnadshavare lämnar inte samtycke för en vuxen. Ange personen själv eller en god man eller förvaltare, och lämna antalet vårdnadshavare tomt.".into(),
            ),
            Reason::GrantorsInconsistent if has(GrantorRole::LegalRepresentative) => (
                "grantor",
                "För ett barn lämnas samtycket av vårdnadshavarna, inte av en god man eller förvaltare.".into(),
            ),
            Reason::GrantorsInconsistent => (
                "grantor",
                "Vårdnadshavare 2 är ikryssad, men bara en vårdnadshavare har vårdnaden om barnet.".into(),
            ),
            Reason::GuardianMissing if !matches!(m.custodial_guardians, Some(1..=2)) => (
                "custodians",
                "Ange hur många vårdnadshavare som har vårdnaden om barnet (1 eller 2). Alla som har vårdnaden måste samtycka.".into(),
            ),
            Reason::GuardianMissing => {
                let which = if has(GrantorRole::Guardian1) { "Vårdnadshavare 2" } else { "Vårdnadshavare 1" };
                (
                    "grantor",
                    format!("{which} har inte samtyckt. För ett barn måste alla vårdnadshavare som har vårdnaden samtycka."),
                )
            }
            Reason::ChildViewNotHeard => (
                "childs_view",
                "Barnets egen uppfattning ska ha hörts, så långt barnets ålder och mognad tillåter. Kryssa i rutan när det är gjort.".into(),
            ),
            _ => ("grantor", d.message),
        };
        errors.entry(field).or_insert(text);
    }
    let validity = rule_validity(&m, &policy).map_err(|d| match d.reason {
        Reason::ValidityTooLong => format!(
            "Ett samtycke får gälla högst {} månader. Välj ett slutdatum senast {}.",
            policy.max_validity_months,
            layout::date(add_months(m.valid_from, policy.max_validity_months))
        ),
        Reason::ValidityInvalid => "Slutdatumet måste vara efter startdatumet.".to_owned(),
        _ => d.message,
    });
    let validity = validity.and_then(|()| {
        rule_not_ended(&m, now)
            .map_err(|_| "Slutdatumet har redan passerat. Välj ett datum längre fram.".to_owned())
    });
    if let Err(text) = validity {
        errors.entry("valid_until").or_insert(text);
    }
    if let Err(d) = rule_kinds(&m) {
        let text = match d.reason {
            Reason::NoKindsNamed => {
                "Kryssa i vilka slags uppgifter samtycket gäller. Det finns inget samtycke till allt."
                    .to_owned()
            }
            _ => d.message,
        };
        errors.entry("kind").or_insert(text);
    }
}

async fn consent_form(State(state): State<AppState>, Path(case): Path<String>) -> Result<Markup, WebError> {
    let id = parse_case(&case)?;
    let me = state.session().profile().principal().as_str().to_owned();
    // A fresh form: our organisation a party, an adult who consented in writing.
    let form = FormData(vec![
        ("subject_kind".into(), "vuxen".into()),
        ("grantor".into(), "individual".into()),
        ("given_as".into(), "written".into()),
        ("party".into(), me),
    ]);
    let fs = ConsentFormState { form, ..ConsentFormState::default() };
    consent_page(&state, &id, &fs).await.map(|(_, m)| m)
}

async fn consent_check(
    State(state): State<AppState>,
    Path(case): Path<String>,
    form: FormData,
) -> Result<Markup, WebError> {
    let id = parse_case(&case)?;
    let (fs, _) = check_consent(state.session().profile().identity(), &id, form);
    consent_page(&state, &id, &fs).await.map(|(_, m)| m)
}

async fn consent_record(
    State(state): State<AppState>,
    Path(case): Path<String>,
    form: FormData,
) -> Result<Response, WebError> {
    let id = parse_case(&case)?;
    let (mut fs, request) = check_consent(state.session().profile().identity(), &id, form);
    let Some(request) = request else {
        let (_, page) = consent_page(&state, &id, &fs).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    match state.session().consent_record(&request).await {
        Ok(_) => {
            state.remember_case(&id);
            Ok(Redirect::to(&format!("/arende/{}?klart=samtycke", url_encode(id.as_str()))).into_response())
        }
        Err(e) => {
            let err = WebError::from(e);
            let status = err.status;
            fs.failure = Some(err);
            let (_, page) = consent_page(&state, &id, &fs).await?;
            Ok((status, page).into_response())
        }
    }
}

/// A field's `aria-describedby` and `aria-invalid` when it is refused.
fn described(fs: &ConsentFormState, field: &str) -> (Option<String>, Option<&'static str>) {
    if fs.errors.contains_key(field) { (Some(format!("{field}-fel")), Some("true")) } else { (None, None) }
}

fn explanation(fs: &ConsentFormState, field: &str) -> Markup {
    html! {
        div id=(format!("{field}-forklaring")) data-forklaring aria-live="polite" {
            (layout::field_error(field, fs.errors.get(field).map(String::as_str)))
        }
    }
}

/// The form's fields in the order they appear, with their names for the summary of refusals.
const FIELD_NAMES: [(&str, &str); 10] = [
    ("subject_kind", "Vem samtycket gäller"),
    ("grantor", "Vem som lämnade samtycket"),
    ("custodians", "Vårdnadshavare med vårdnad"),
    ("childs_view", "Barnets uppfattning"),
    ("party", "Parter"),
    ("kind", "Uppgifter"),
    ("valid_from", "Startdatum"),
    ("valid_until", "Slutdatum"),
    ("given_as", "Hur samtycket lämnades"),
    ("supersedes", "Ersätter samtycke"),
];

/// Where the summary's link for a field goes: the field itself, or its group's first box.
fn anchor(field: &str) -> &'static str {
    match field {
        "subject_kind" => "subject_kind-vuxen",
        "grantor" => "grantor-individual",
        "custodians" => "custodians",
        "childs_view" => "childs_view",
        "party" => "parter",
        "kind" => "kind-plan",
        "valid_from" => "valid_from",
        "valid_until" => "valid_until",
        "given_as" => "given_as-written",
        _ => "supersedes",
    }
}

async fn consent_page(
    state: &AppState,
    id: &CaseId,
    fs: &ConsentFormState,
) -> Result<(StatusCode, Markup), WebError> {
    let directory = directory_entries(state).await?;
    let me = state.session().profile().principal();
    let today = OffsetDateTime::now_utc();
    let latest = layout::date(add_months(today, ConsentPolicy::default().max_validity_months));
    let enc = url_encode(id.as_str());
    let action = format!("/arende/{enc}/samtycke");
    let check = format!("{action}/kontroll");
    let child = fs.value("subject_kind") == Some("barn");
    let (d_subject, i_subject) = described(fs, "subject_kind");
    let (d_grantor, i_grantor) = described(fs, "grantor");
    let (d_cust, i_cust) = described(fs, "custodians");
    let (d_view, i_view) = described(fs, "childs_view");
    let (d_party, i_party) = described(fs, "party");
    let (d_kind, i_kind) = described(fs, "kind");
    let (d_from, i_from) = described(fs, "valid_from");
    let (d_until, i_until) = described(fs, "valid_until");
    let (d_given, i_given) = described(fs, "given_as");
    let (d_sup, i_sup) = described(fs, "supersedes");
    let join = |a: &str, b: Option<String>| match b {
        Some(b) => format!("{a} {b}"),
        None => a.to_owned(),
    };
    let body = html! {
        h1 { "Registrera samtycke" }
        p { "Ärende " (case_link(id)) ". Samtycket är det som gör att uppgifterna får delas mellan organisationerna. Reläet får bara veta roller och datum, inga namn." }
        @if let Some(f) = &fs.failure {
            (layout::flash(FlashKind::Error, &format!("Samtycket registrerades inte. {}", f.message)))
            @if let Some(d) = &f.detail { p { "Besked: " span lang="en" { (d) } @if let Some(c) = &f.code { " (" code { (c) } ")" } } }
        }
        div id="kontroll-resultat" data-forklaring {
            @if fs.checked && fs.errors.is_empty() && fs.failure.is_none() {
                (layout::flash(FlashKind::Success, "Uppgifterna följer samtyckesreglerna. Inget är registrerat ännu: tryck på Registrera samtycke."))
            } @else if !fs.errors.is_empty() {
                div.meddelande.fel role="alert" {
                    p { strong { "Fel:" } " " (fs.errors.len()) " sak" @if fs.errors.len() > 1 { "er" } " behöver rättas innan samtycket kan registreras:" }
                    ul {
                        @for (field, label) in FIELD_NAMES {
                            @if let Some(text) = fs.errors.get(field) {
                                li { a href=(format!("#{}", anchor(field))) { (label) } ": " (text) }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action=(action) data-kontroll=(check) novalidate {
            fieldset id="subject_kind-grupp" aria-describedby=[d_subject] {
                legend { "Vem gäller samtycket?" }
                label.val for="subject_kind-vuxen" {
                    input type="radio" id="subject_kind-vuxen" name="subject_kind" value="vuxen" checked[fs.has_value("subject_kind", "vuxen")] aria-invalid=[i_subject];
                    "En vuxen (18 år eller äldre)"
                }
                label.val for="subject_kind-barn" {
                    input type="radio" id="subject_kind-barn" name="subject_kind" value="barn" checked[child] aria-invalid=[i_subject];
                    "Ett barn (under 18 år)"
                }
                (explanation(fs, "subject_kind"))
            }
            fieldset id="grantor-grupp" aria-describedby=(join("grantor-hjalp", d_grantor)) {
                legend { "Vem lämnade samtycket?" }
                p.hjalp id="grantor-hjalp" { "För en vuxen: personen själv, eller en god man eller förvaltare. För ett barn: alla vårdnadshavare som har vårdnaden." }
                @for g in GRANTORS {
                    label.val for=(format!("grantor-{}", grantor_value(g))) {
                        input type="checkbox" id=(format!("grantor-{}", grantor_value(g))) name="grantor" value=(grantor_value(g)) checked[fs.has_value("grantor", grantor_value(g))] aria-invalid=[i_grantor];
                        (grantor_label(g))
                    }
                }
                (explanation(fs, "grantor"))
            }
            fieldset id="barn-grupp" {
                legend { "Bara för ett barn" }
                label for="custodians" { "Hur många vårdnadshavare har vårdnaden?" }
                select id="custodians" name="custodians" aria-describedby=[d_cust] aria-invalid=[i_cust] {
                    option value="" selected[fs.value("custodians").is_none()] { "Inte aktuellt (vuxen)" }
                    option value="1" selected[fs.value("custodians") == Some("1")] { "En" }
                    option value="2" selected[fs.value("custodians") == Some("2")] { "Två" }
                }
                (explanation(fs, "custodians"))
                label.val for="childs_view" {
                    input type="checkbox" id="childs_view" name="childs_view" value="ja" checked[fs.form.has("childs_view")] aria-describedby=[d_view] aria-invalid=[i_view];
                    "Barnets egen uppfattning har hörts, så långt ålder och mognad tillåter"
                }
                (explanation(fs, "childs_view"))
            }
            fieldset id="parter" aria-describedby=(join("party-hjalp", d_party)) {
                legend { "Vilka organisationer får dela uppgifter med varandra?" }
                p.hjalp id="party-hjalp" { "Minst två, och er egen organisation måste vara med." }
                @for p in directory.iter().filter(|p| p.enabled || fs.has_value("party", p.id.as_str())) {
                    @let pid = format!("party-{}", p.id);
                    label.val for=(pid) {
                        input type="checkbox" id=(pid) name="party" value=(p.id) checked[fs.has_value("party", p.id.as_str())] aria-invalid=[i_party];
                        (p.name) " (" (principal_kind_word(p.kind)) ", " (p.id) ")"
                        @if p.id == *me { " – er organisation" }
                    }
                }
                (explanation(fs, "party"))
            }
            fieldset id="uppgifter" aria-describedby=(join("kind-hjalp", d_kind)) {
                legend { "Vilka slags uppgifter gäller samtycket?" }
                p.hjalp id="kind-hjalp" { "Det finns inget samtycke till allt: kryssa i det som personen har samtyckt till." }
                @for k in ContentKind::ALL {
                    label.val for=(format!("kind-{}", k.as_str())) {
                        input type="checkbox" id=(format!("kind-{}", k.as_str())) name="kind" value=(k.as_str()) checked[fs.has_value("kind", k.as_str())] aria-invalid=[i_kind];
                        (kind_label(k))
                    }
                }
                (explanation(fs, "kind"))
            }
            fieldset id="giltighet" {
                legend { "Hur länge gäller samtycket?" }
                label for="valid_from" { "Startdatum (frivilligt)" }
                p.hjalp id="valid_from-hjalp" { "Lämna tomt för att samtycket ska gälla från och med nu." }
                input type="date" id="valid_from" name="valid_from" value=[fs.value("valid_from")] aria-describedby=(join("valid_from-hjalp", d_from)) aria-invalid=[i_from];
                (explanation(fs, "valid_from"))
                label for="valid_until" { "Slutdatum" }
                p.hjalp id="valid_until-hjalp" { "Samtycket upphör när dagen börjar. Högst 12 månader; från i dag senast " (latest) "." }
                input type="date" id="valid_until" name="valid_until" required value=[fs.value("valid_until")] aria-describedby=(join("valid_until-hjalp", d_until)) aria-invalid=[i_until];
                (explanation(fs, "valid_until"))
            }
            fieldset id="given_as-grupp" aria-describedby=[d_given] {
                legend { "Hur lämnades samtycket?" }
                @for f in FORMS {
                    label.val for=(format!("given_as-{}", form_value(f))) {
                        input type="radio" id=(format!("given_as-{}", form_value(f))) name="given_as" value=(form_value(f)) checked[fs.has_value("given_as", form_value(f))] aria-invalid=[i_given];
                        (form_label(f))
                    }
                }
                (explanation(fs, "given_as"))
            }
            label for="supersedes" { "Ersätter samtycke (frivilligt)" }
            p.hjalp id="supersedes-hjalp" { "Om samtycket ändrar ett tidigare, skriv det tidigare samtyckets nummer (K-…)." }
            input type="text" id="supersedes" name="supersedes" value=[fs.value("supersedes")] autocomplete="off" spellcheck="false" aria-describedby=(join("supersedes-hjalp", d_sup)) aria-invalid=[i_sup];
            (explanation(fs, "supersedes"))
            div.knappar {
                button.sekundar type="submit" id="kontrollera" formaction=(check) { "Kontrollera" }
                button type="submit" id="registrera" { "Registrera samtycke" }
            }
        }
    };
    Ok((StatusCode::OK, layout::page(state, "Registrera samtycke", Nav::Cases, body)))
}

async fn consent_withdraw(
    State(state): State<AppState>,
    Path(consent): Path<String>,
    form: FormData,
) -> Result<Response, WebError> {
    let id = ConsentId::parse(&consent)
        .map_err(|_| WebError::not_found(format!("”{consent}” är inte ett samtyckesnummer (K-…).")))?;
    let reason = form
        .get("reason")
        .and_then(WithdrawalReason::parse)
        .ok_or_else(|| WebError::bad_request("Välj ett skäl till återkallelsen i listan."))?;
    let result = state.session().consent_withdraw(&id, reason).await?;
    Ok(Redirect::to(&format!("/arende/{}?klart=aterkallat", url_encode(result.case_id.as_str())))
        .into_response())
}

// ---- Documents ----

/// A fetched, verified document and its bytes.
struct Fetched {
    result: FetchResult,
    bytes: Vec<u8>,
}

/// Fetches into a private temporary directory (removed at once), as `samordna fetch` does: the
/// relay checks consent again at every fetch, so a withdrawal shows here at the next view.
async fn fetch(state: &AppState, id: &EnvelopeId) -> Result<Fetched, ClientError> {
    let dir = tempfile::Builder::new()
        .prefix("samordna-web-")
        .tempdir()
        .map_err(ClientError::io("cannot make a temporary directory in", std::env::temp_dir()))?;
    let out = dir.path().join("dokument");
    let req =
        FetchRequest { envelope_id: id.clone(), out: out.clone(), save_signature: None, overwrite: false };
    let result = state.session().fetch(&req).await?;
    let bytes = tokio::fs::read(&out).await.map_err(ClientError::io("cannot read the document in", &out))?;
    Ok(Fetched { result, bytes })
}

fn parse_envelope(s: &str) -> Result<EnvelopeId, WebError> {
    EnvelopeId::parse(s).map_err(|_| WebError::not_found(format!("”{s}” är inte ett dokumentnummer (E-…).")))
}

/// Why the relay withholds a document, in words, when it is a consent answer.
fn withheld_reason(e: &ClientError) -> Option<(Reason, &str, &'static str)> {
    let ClientError::Relay(RelayError::Refused { code, message, .. }) = e else { return None };
    let reason = code.reason()?;
    let words = match reason {
        Reason::ConsentWithdrawn => {
            "Samtycket som dokumentet skickades med stöd av har återkallats. En återkallelse gäller direkt, också för dokument som redan skickats. Behövs dokumentet fortfarande krävs ett nytt samtycke."
        }
        Reason::PartyBlocked => {
            "En spärr tar bort er organisation från samtycket. En spärr gäller också dokument som redan skickats och kan inte hävas."
        }
        Reason::KindBlocked => {
            "En spärr tar bort det här slaget av uppgifter från samtycket. En spärr gäller också dokument som redan skickats och kan inte hävas."
        }
        Reason::ConsentExpired => {
            "Samtyckets slutdatum har passerat. Ett nytt samtycke behövs för att dela dokumentet."
        }
        Reason::ConsentSuperseded => "Samtycket har ersatts av ett nyare samtycke.",
        Reason::NotAParty | Reason::NoConsent => {
            "Er organisation är inte part i något samtycke som gäller i ärendet nu."
        }
        Reason::Deleted => {
            "Dokumentet har gallrats enligt reglerna för bevarande. Be avsändaren skicka det igen om det fortfarande behövs."
        }
        _ => return None,
    };
    Some((reason, message.as_str(), words))
}

async fn document_page(
    State(state): State<AppState>,
    Path(envelope): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_envelope(&envelope)?;
    let title = format!("Dokument {id}");
    let fetched = match fetch(&state, &id).await {
        Ok(f) => f,
        Err(e) => {
            if let Some((reason, relay_said, words)) = withheld_reason(&e) {
                let body = html! {
                    h1 { (title) }
                    div.panel.undanhallen id="undanhallen" role="alert" {
                        h2 { "Dokumentet hålls inne" }
                        p { strong { "Dokumentet kan inte visas." } " Reläet lämnar inte ut det: " (words) }
                        p { "Reläets kod: " code { (reason.as_str()) } "." }
                        p { "Reläets besked: " span lang="en" { (relay_said) } }
                    }
                    p { "Inget har sparats på den här datorn." }
                    p { a href="/inkorg" { "Till inkorgen" } }
                };
                return Ok(
                    (StatusCode::FORBIDDEN, layout::page(&state, &title, Nav::Other, body)).into_response()
                );
            }
            if let ClientError::Verification { code, message } = &e {
                let body = html! {
                    h1 { (title) }
                    div.panel.ej-verifierad id="signatur" role="alert" {
                        h2 { "Varning: dokumentet gick inte att verifiera" }
                        p { strong { "Signaturen eller kuvertet stämmer inte." } " Dokumentet kan ha ändrats eller kommer inte från den det utger sig för. Det visas inte och har inte sparats." }
                        p { "Kod: " code { (code) } ". " span lang="en" { (message) } }
                        p { "Kontakta avsändaren och reläets förvaltare." }
                    }
                };
                return Ok(
                    (StatusCode::BAD_GATEWAY, layout::page(&state, &title, Nav::Other, body)).into_response()
                );
            }
            return Err(e.into());
        }
    };
    let r = &fetched.result;
    state.remember_case(&r.case_id);
    let text = std::str::from_utf8(&fetched.bytes).ok();
    let plan = match r.content_kind {
        ContentKind::Plan => Plan::from_json(&fetched.bytes).ok().map(|p| document::build(&p)),
        _ => None,
    };
    let textual = r.manifest.media_type.starts_with("text/")
        || r.manifest.media_type == "application/json"
        || r.manifest.media_type == "text/calendar";
    let body = html! {
        h1 { (kind_label(r.content_kind)) " från " (named(&r.sender_principal)) }
        section.panel.verifierad id="signatur" aria-labelledby="signatur-rubrik" {
            h2 id="signatur-rubrik" { "Signaturen är verifierad" }
            p { "Dokumentet är signerat av personen nedan, med ett certifikat från federationen, och har inte ändrats sedan det signerades." }
            dl.uppgifter {
                dt { "Organisation" } dd.organisation { (r.author.organisation) }
                dt { "Person" } dd.person { (r.author.name) }
                dt { "HSA-id" } dd.hsa { (r.author.hsa_id) }
                dt { "Signerat" } dd.tid { @match r.signed_at { Some(t) => (layout::time(t)), None => "tid saknas i signaturen" } }
                @if r.sender.hsa_id != r.author.hsa_id {
                    dt { "Skickat av" } dd { (r.sender.name) ", " (r.sender.organisation) " (HSA-id " (r.sender.hsa_id) ")" }
                }
            }
        }
        @if !r.receipt.posted {
            (layout::flash(FlashKind::Warning, "Mottagningskvittot kunde inte skickas, så avsändaren ser inte att ni har tagit emot dokumentet."))
        }
        dl.uppgifter {
            dt { "Dokument" } dd { code { (r.envelope_id) } }
            dt { "Ärende" } dd { (case_link(&r.case_id)) }
            dt { "Samtycke" } dd { code { (r.consent_id) } }
            dt { "Slag" } dd { (kind_label(r.content_kind)) }
            dt { "Fil" } dd { (r.manifest.file_name.as_deref().unwrap_or("(utan namn)")) ", " (r.manifest.media_type) ", " (r.manifest.length) " byte" }
        }
        p { a.knapp href=(format!("/dokument/{}/fil", url_encode(id.as_str()))) download { "Ladda ner dokumentet" } }
        h2 { "Innehåll" }
        @if let Some(doc) = &plan {
            (plan_view(doc))
        } @else if let (true, Some(text)) = (textual, text) {
            pre.dokument { (text) }
        } @else {
            p { "Dokumentet är en fil av typen " code { (r.manifest.media_type) } " som inte kan visas här. Ladda ner det för att öppna det." }
        }
    };
    Ok(layout::page(&state, &title, Nav::Other, body).into_response())
}

/// A plan as part of a page: the plan's own headings one level down.
pub(crate) fn plan_view(doc: &Document) -> Markup {
    html! {
        article.plan-dokument aria-label=(doc.title) {
            h2 { (doc.title) }
            dl.uppgifter { @for (k, v) in &doc.summary { dt { (k) } dd { (v) } } }
            @for s in &doc.sections {
                section {
                    h3 { (s.heading) }
                    @for b in &s.blocks {
                        @match b {
                            Block::Fields(items) => dl.uppgifter { @for (k, v) in items { dt { (k) } dd { (v) } } },
                            Block::Paragraph(t) => p { (t) },
                            Block::Subheading(t) => h4 { (t) },
                            Block::List(items) => ul { @for i in items { li { (i) } } },
                            Block::Table { columns, rows, .. } => table {
                                thead { tr { @for c in columns { th scope="col" { (c) } } } }
                                tbody { @for row in rows { tr { @for c in row {
                                    td { (c.main) @for e in &c.extra { br; span.hjalp { (e) } } }
                                } } } }
                            },
                        }
                    }
                }
            }
            p.hjalp { (doc.running_footer) }
            p.hjalp { (doc.closing) }
        }
    }
}

/// A file name safe for `Content-Disposition`: letters, digits and `.-_` only.
fn safe_file_name(name: Option<&str>, id: &EnvelopeId) -> String {
    let cleaned: String = name
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() { format!("{id}.bin") } else { cleaned.to_owned() }
}

async fn document_file(
    State(state): State<AppState>,
    Path(envelope): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_envelope(&envelope)?;
    let fetched = fetch(&state, &id).await?;
    let m = &fetched.result.manifest;
    // Always a download, never shown in the app's own origin; the type is passed on only when it
    // is a plain `type/subtype`.
    let plain = m.media_type.split_once('/').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && m.media_type.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '+' | '-'))
    });
    let media = if plain { m.media_type.as_str() } else { "application/octet-stream" };
    let name = safe_file_name(m.file_name.as_deref(), &id);
    let mut resp = fetched.bytes.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(media) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use samordna_core::HsaId;

    use super::*;

    fn me() -> Identity {
        Identity {
            principal: PrincipalId::parse("SE2120000449").unwrap(),
            organisation: "Linköpings kommun".into(),
            name: "Karin Berg".into(),
            hsa_id: HsaId::parse("SE2120000449-kb01").unwrap(),
        }
    }

    fn check(body: &str) -> (BTreeMap<&'static str, String>, bool) {
        let case = CaseId::from_random_bytes([1; 16]);
        let (fs, req) = check_consent(&me(), &case, FormData::parse(body.as_bytes()));
        (fs.errors, req.is_some())
    }

    fn until() -> String {
        layout::date(OffsetDateTime::now_utc() + time::Duration::days(90))
    }

    #[test]
    fn a_consent_that_follows_the_rules_is_ready_to_record() {
        let body = format!(
            "subject_kind=barn&grantor=guardian1&grantor=guardian2&custodians=2&childs_view=ja\
             &party=SE2120000449&party=SE2321000032&kind=plan&valid_until={}&given_as=written",
            until()
        );
        let (errors, ready) = check(&body);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(ready);
    }

    #[test]
    fn each_refusal_is_told_at_its_field() {
        let (errors, ready) = check("subject_kind=barn&party=SE2120000449&given_as=written");
        assert!(!ready);
        assert!(errors["custodians"].contains("vårdnadshavare"), "{errors:?}");
        assert!(errors["valid_until"].contains("slutdatum"));
        // Rules that need the end date are applied once it is there.
        let body = format!(
            "subject_kind=barn&custodians=2&grantor=guardian1&party=SE2120000449&valid_until={}&given_as=written",
            until()
        );
        let (errors, _) = check(&body);
        assert!(errors["grantor"].starts_with("Vårdnadshavare 2"), "{errors:?}");
        assert!(errors["party"].contains("minst två"));
        assert!(errors["kind"].contains("Kryssa i"));
        let body = format!(
            "subject_kind=barn&custodians=1&grantor=guardian1&party=SE2120000449&party=SE2321000032&kind=plan\
             &valid_until={}&given_as=written",
            until()
        );
        assert!(check(&body).0["childs_view"].contains("Barnets egen uppfattning"));
        let body = "subject_kind=vuxen&grantor=individual&party=SE2321000032&party=SE5569875437&kind=plan\
                    &valid_until=2099-01-01&given_as=written";
        let (errors, _) = check(body);
        assert!(errors["party"].contains("Linköpings kommun"), "{errors:?}");
        assert!(errors["valid_until"].contains("högst 12 månader"));
    }
}
