//! Granskning: the compliance officer's pages, over the same library calls as `samordna audit`:
//! the log search ([`Session::audit_log`], and its CSV), "Verifiera loggen"
//! ([`Session::audit_verify`]), a case's log extract as PDF ([`Session::audit_extract`] rendered
//! as [`ExtractFormat::Pdf`]), and the yearly statistics ([`Session::audit_stats`]) with SVG charts.
//!
//! Only profiles the relay accepts as auditors see these pages (the relay decides, and refuses
//! anyone else's reads of the log anyway); others get a 403 page saying so. Times in the log are
//! shown in UTC, as the log extract and the CSV give them.

use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use maud::{Markup, html};
use samordna_core::{CaseId, HsaId, PrincipalId, audit::Action, log::Decision};
use time::{Date, Duration, Month, OffsetDateTime};

use super::{
    AppState, FlashKind, FormData, Nav, WebError,
    charts::{self, Labels, Series},
    layout, url_encode,
};
use crate::{
    audit::{
        AuditQuery,
        extract::ExtractFormat,
        human_time,
        log::AuditLog,
        names::{action_sv, outcome_sv, reason_sv},
        stats::Stats,
        verify::VerifyReport,
    },
    error::ClientError,
    input::{human_time as human_minute, parse_time},
    plan::PdfFonts,
};

/// What a case id looks like, said as a hint.
const CASE_HINT: &str = "Ärendets id, till exempel S-01JDQ7Z5W6V8T9R0S1N2M3K4H5.";
/// A case id that is not one.
const CASE_ERROR: &str =
    "Ärendets id ska börja med S- följt av 26 tecken, till exempel S-01JDQ7Z5W6V8T9R0S1N2M3K4H5.";

/// At most this many rows are shown on the page; the CSV has them all.
const SHOWN: usize = 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/granskning", get(search))
        .route("/granskning/logg.csv", get(search_csv))
        .route("/granskning/verifiera", post(verify))
        .route("/granskning/utdrag", get(extract_form))
        .route("/granskning/utdrag/{file}", get(extract_pdf))
        .route("/granskning/statistik", get(statistics))
}

/// Only auditors: the relay refuses anyone else's reads of its log, so say so before asking it.
fn require_auditor(state: &AppState) -> Result<(), WebError> {
    if state.is_auditor() { Ok(()) } else { Err(not_an_auditor()) }
}

fn not_an_auditor() -> WebError {
    WebError::new(
        StatusCode::FORBIDDEN,
        "Granskning är bara för loggranskare",
        "Den här profilen är inte registrerad som loggranskare hos reläet, så den kan inte läsa åtkomstloggen. \
         Om du ska granska loggen behöver reläets operatör registrera dig som loggranskare; kontakta er \
         informationssäkerhetsansvarige.",
    )
}

/// A library error from an auditor's call: a refusal of the log is the "not an auditor" page.
fn audit_error(e: ClientError) -> WebError {
    if e.code() == "forbidden" {
        let mut err = not_an_auditor();
        err.detail = Some(e.to_string());
        return err;
    }
    WebError::from(e)
}

// ---------------------------------------------------------------------------------------------
// The search form.

/// The search form's values as typed, and what they mean.
#[derive(Clone, Debug, Default)]
struct Filters {
    case: String,
    principal: String,
    user: String,
    action: String,
    decision: String,
    from: String,
    to: String,
    /// Whether to search at all (the form was sent, or a filter is in the address).
    wanted: bool,
}

/// A field's error, by the field's id.
type FieldErrors = Vec<(&'static str, String)>;

impl Filters {
    fn from_query(q: &FormData) -> Self {
        let v = |k: &str| q.get(k).unwrap_or_default().to_owned();
        let f = Filters {
            case: v("case"),
            principal: v("principal"),
            user: v("user"),
            action: v("action"),
            decision: v("decision"),
            from: v("from"),
            to: v("to"),
            wanted: q.has("sok"),
        };
        let any = [&f.case, &f.principal, &f.user, &f.action, &f.decision, &f.from, &f.to]
            .iter()
            .any(|s| !s.is_empty());
        Filters { wanted: f.wanted || any, ..f }
    }

    /// The library's query, or the errors of the fields that cannot be used.
    fn query(&self) -> Result<AuditQuery, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        let mut q = AuditQuery::default();
        if !self.case.is_empty() {
            match CaseId::parse(&self.case.to_ascii_uppercase()) {
                Ok(c) => q.case = Some(c),
                Err(_) => errors.push(("sok-arende", CASE_ERROR.into())),
            }
        }
        if !self.principal.is_empty() {
            match PrincipalId::parse(&self.principal.to_ascii_uppercase()) {
                Ok(p) => q.principal = Some(p),
                Err(_) => errors.push((
                    "sok-huvudman",
                    "Skriv organisationens id som SE följt av organisationsnumret, till exempel SE2321000032.".into(),
                )),
            }
        }
        if !self.user.is_empty() {
            match HsaId::parse(&self.user) {
                Ok(u) => q.user = Some(u),
                Err(_) => errors
                    .push(("sok-person", "Skriv personens HSA-id, till exempel SE2321000032-al01.".into())),
            }
        }
        if !self.action.is_empty() {
            match Action::parse(&self.action) {
                Some(a) => q.action = Some(a),
                None => errors.push(("sok-atgard", "Välj en åtgärd i listan.".into())),
            }
        }
        match self.decision.as_str() {
            "" => {}
            "allow" => q.decision = Some(Decision::Allow),
            "deny" => q.decision = Some(Decision::Deny),
            _ => errors.push(("sok-utfall", "Välj ett utfall i listan.".into())),
        }
        if !self.from.is_empty() {
            match parse_time(&self.from) {
                Ok(t) => q.from = Some(t),
                Err(_) => errors.push(("sok-fran", "Skriv datumet som 2026-11-29.".into())),
            }
        }
        if !self.to.is_empty() {
            match parse_time(&self.to) {
                // "Till och med" a day: before the next day begins, as the library counts `to`.
                Ok(t) if is_date(&self.to) => q.to = Some(t + Duration::days(1)),
                Ok(t) => q.to = Some(t),
                Err(_) => errors.push(("sok-till", "Skriv datumet som 2026-11-29.".into())),
            }
        }
        if let (Some(f), Some(t)) = (q.from, q.to)
            && t <= f
        {
            errors.push(("sok-till", "Slutdatumet kan inte ligga före startdatumet.".into()));
        }
        if errors.is_empty() { Ok(q) } else { Err(errors) }
    }

    /// The same search as a query string, for the CSV link.
    fn query_string(&self) -> String {
        let pairs = [
            ("case", &self.case),
            ("principal", &self.principal),
            ("user", &self.user),
            ("action", &self.action),
            ("decision", &self.decision),
            ("from", &self.from),
            ("to", &self.to),
        ];
        let mut out = vec!["sok=1".to_owned()];
        out.extend(
            pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", url_encode(v))),
        );
        out.join("&")
    }
}

fn is_date(s: &str) -> bool {
    s.trim().len() == 10
}

fn error_for<'a>(errors: &'a FieldErrors, id: &str) -> Option<&'a str> {
    errors.iter().find(|(f, _)| *f == id).map(|(_, m)| m.as_str())
}

/// The attributes of a field that may have a hint and an error.
fn described_by(id: &str, hint: bool, error: bool) -> Option<String> {
    let mut ids = Vec::new();
    if hint {
        ids.push(format!("{id}-hjalp"));
    }
    if error {
        ids.push(format!("{id}-fel"));
    }
    if ids.is_empty() { None } else { Some(ids.join(" ")) }
}

/// A labelled text field with an optional hint and error.
fn text_field(
    id: &str,
    name: &str,
    label: &str,
    value: &str,
    hint: Option<&str>,
    errors: &FieldErrors,
) -> Markup {
    let error = error_for(errors, id);
    html! {
        label for=(id) { (label) }
        @if let Some(h) = hint {
            p.hjalp id=(format!("{id}-hjalp")) { (h) }
        }
        (layout::field_error(id, error))
        input type="text" id=(id) name=(name) value=(value) autocomplete="off" spellcheck="false"
            aria-describedby=[described_by(id, hint.is_some(), error.is_some())]
            aria-invalid=[error.map(|_| "true")];
    }
}

fn date_field(id: &str, name: &str, label: &str, value: &str, hint: &str, errors: &FieldErrors) -> Markup {
    let error = error_for(errors, id);
    html! {
        label for=(id) { (label) }
        p.hjalp id=(format!("{id}-hjalp")) { (hint) }
        (layout::field_error(id, error))
        input type="date" id=(id) name=(name) value=(value)
            aria-describedby=[described_by(id, true, error.is_some())]
            aria-invalid=[error.map(|_| "true")];
    }
}

fn search_form(f: &Filters, errors: &FieldErrors) -> Markup {
    let action_error = error_for(errors, "sok-atgard");
    let decision_error = error_for(errors, "sok-utfall");
    html! {
        form method="get" action="/granskning" {
            fieldset {
                legend { "Sökvillkor" }
                p.hjalp { "Fyll i de villkor du vill söka på. Tomma fält betyder alla." }
                (text_field("sok-arende", "case", "Ärende", &f.case, Some(CASE_HINT), errors))
                (text_field("sok-huvudman", "principal", "Huvudman (organisation som agerade)", &f.principal,
                    Some("SE följt av organisationsnumret, till exempel SE2321000032."), errors))
                (text_field("sok-person", "user", "Person eller system (HSA-id)", &f.user,
                    Some("Till exempel SE2321000032-al01."), errors))
                label for="sok-atgard" { "Åtgärd" }
                (layout::field_error("sok-atgard", action_error))
                select id="sok-atgard" name="action"
                    aria-describedby=[described_by("sok-atgard", false, action_error.is_some())]
                    aria-invalid=[action_error.map(|_| "true")] {
                    option value="" selected[f.action.is_empty()] { "Alla åtgärder" }
                    @for a in Action::ALL {
                        option value=(a.as_str()) selected[f.action == a.as_str()] {
                            (action_sv(*a, None)) " (" (a.as_str()) ")"
                        }
                    }
                }
                label for="sok-utfall" { "Utfall" }
                (layout::field_error("sok-utfall", decision_error))
                select id="sok-utfall" name="decision"
                    aria-describedby=[described_by("sok-utfall", false, decision_error.is_some())]
                    aria-invalid=[decision_error.map(|_| "true")] {
                    option value="" selected[f.decision.is_empty()] { "Alla, tillåtna och nekade" }
                    option value="allow" selected[f.decision == "allow"] { "Tillåtna" }
                    option value="deny" selected[f.decision == "deny"] { "Nekade" }
                }
                (date_field("sok-fran", "from", "Från och med", &f.from,
                    "Datum (UTC), till exempel 2026-11-01.", errors))
                (date_field("sok-till", "to", "Till och med", &f.to,
                    "Datum (UTC), till exempel 2026-11-30.", errors))
                div.knappar {
                    button type="submit" name="sok" value="1" { "Sök i loggen" }
                    a.knapp.sekundar href="/granskning" { "Rensa" }
                }
            }
        }
    }
}

fn results(f: &Filters, log: &AuditLog) -> Markup {
    let shown = log.entries.len();
    html! {
        h3 id="resultat-rubrik" { "Sökresultat" }
        @if shown == 0 {
            p role="status" { "Inga loggposter matchar sökningen (loggen har " (log.log_size) " poster)." }
        } @else {
            p role="status" {
                (count(shown as u64, "loggpost", "loggposter")) " matchar, av "
                (log.log_size) " i loggen."
                @if shown > SHOWN { " Här visas de " (SHOWN) " senaste; CSV-filen har alla." }
            }
            p {
                a href=(format!("/granskning/logg.csv?{}", f.query_string())) download="atkomstlogg.csv" {
                    "Ladda ner sökresultatet som CSV"
                }
            }
            table aria-describedby="resultat-rubrik" {
                caption { "Loggposter, nyast först. Tider i UTC." }
                thead {
                    tr {
                        th scope="col" { "Nr" }
                        th scope="col" { "Tid (UTC)" }
                        th scope="col" { "Organisation" }
                        th scope="col" { "Person (HSA-id)" }
                        th scope="col" { "Åtgärd" }
                        th scope="col" { "Ärende" }
                        th scope="col" { "Samtycke" }
                        th scope="col" { "Utfall" }
                    }
                }
                tbody {
                    @for e in log.entries.iter().rev().take(SHOWN) {
                        tr {
                            th scope="row" { (e.index) }
                            td { (human_time(e.entry.at_us)) }
                            td { (e.organisation_label()) }
                            td { @if let Some(u) = &e.user { code { (u) } } @else { "—" } }
                            td { (action_sv(e.action, e.marker())) }
                            td {
                                @if let Some(c) = &e.case_id {
                                    a href=(format!("/granskning?case={}", url_encode(c.as_str())))
                                        title="Sök på det här ärendet" { code { (c) } }
                                } @else { "—" }
                            }
                            td { @if let Some(c) = &e.consent_id { code { (c) } } @else { "—" } }
                            td { (outcome_sv(e.reason)) }
                        }
                    }
                }
            }
        }
    }
}

/// What the main page shows besides its forms.
#[derive(Default)]
struct Main {
    filters: Filters,
    errors: FieldErrors,
    log: Option<AuditLog>,
    /// The verification's result section, after "Verifiera loggen".
    verification: Option<Markup>,
    /// The extract form's value and error.
    extract_case: String,
    extract_error: Option<String>,
}

fn main_page(state: &AppState, m: &Main) -> Markup {
    let year = OffsetDateTime::now_utc().year();
    let body = html! {
        h1 { "Granskning av åtkomstloggen" }
        p.ledtext {
            "Här söker du i åtkomstloggen, kontrollerar att den inte har ändrats, tar fram loggutdrag för ett \
             ärende och ser statistik för årsuppföljningen. Du ser de loggposter som reläet låter din \
             organisation se. Tider anges i UTC."
        }
        @if let Some(v) = &m.verification { (v) }
        section aria-labelledby="kontroll-rubrik" {
            h2 id="kontroll-rubrik" { "Kontrollera loggen" }
            p {
                "Verifieringen hämtar reläets signerade kontrollpunkter och alla loggposter, räknar om varje \
                 kontrollsumma och jämför med den kontrollpunkt den här profilen har sett tidigare. Den visar \
                 också vilka organisationer som har bestyrkt loggen som vittnen."
            }
            form method="post" action="/granskning/verifiera" {
                button type="submit" { "Verifiera loggen" }
            }
        }
        section aria-labelledby="sok-rubrik" {
            h2 id="sok-rubrik" { "Sök i loggen" }
            @if !m.errors.is_empty() {
                (layout::flash(FlashKind::Error, "Några sökvillkor kunde inte användas. Rätta de markerade fälten."))
            }
            (search_form(&m.filters, &m.errors))
            @if let Some(log) = &m.log { (results(&m.filters, log)) }
        }
        section aria-labelledby="utdrag-rubrik" {
            h2 id="utdrag-rubrik" { "Loggutdrag för ett ärende" }
            p {
                "Loggutdraget visar vilka organisationer och personer som har tagit del av uppgifter i ärendet, \
                 när och på vilket samtycke. Varje rad kontrolleras mot loggens signerade kontrollpunkt. Det är \
                 det utdrag den enskilde har rätt att få."
            }
            form method="get" action="/granskning/utdrag" {
                (text_field("utdrag-arende", "case", "Ärende", &m.extract_case,
                    Some(CASE_HINT),
                    &m.extract_error.iter().map(|e| ("utdrag-arende", e.clone())).collect()))
                div.knappar { button type="submit" { "Ladda ner loggutdrag (PDF)" } }
            }
        }
        section aria-labelledby="statistik-rubrik" {
            h2 id="statistik-rubrik" { "Statistik" }
            p {
                "Årsuppföljningen: öppnade ärenden, samtycken, återkallelser och nekade förfrågningar per \
                 huvudman, och hur länge det dröjde till första SIP-mötet. "
                a href=(format!("/granskning/statistik?year={year}")) { "Visa statistik för " (year) }
            }
        }
    };
    layout::page(state, "Granskning", Nav::Audit, body)
}

async fn search(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, WebError> {
    require_auditor(&state)?;
    let filters = Filters::from_query(&FormData::parse(raw.unwrap_or_default().as_bytes()));
    let mut m = Main { filters, ..Main::default() };
    if m.filters.wanted {
        match m.filters.query() {
            Ok(q) => m.log = Some(state.session().audit_log(&q).await.map_err(audit_error)?),
            Err(errors) => m.errors = errors,
        }
    }
    let status = if m.errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Ok((status, main_page(&state, &m)).into_response())
}

async fn search_csv(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, WebError> {
    require_auditor(&state)?;
    let filters = Filters::from_query(&FormData::parse(raw.unwrap_or_default().as_bytes()));
    let Ok(q) = filters.query() else {
        return Err(WebError::bad_request(
            "Sökvillkoren kunde inte användas. Gå tillbaka till sökningen och rätta de markerade fälten.",
        ));
    };
    let log = state.session().audit_log(&q).await.map_err(audit_error)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"atkomstlogg.csv\""),
        ],
        log.to_csv(),
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// Verification.

/// A time of the log's, in UTC as every time on these pages: "2026-11-23 14:05 UTC".
fn unix_time(secs: Option<i64>) -> Option<String> {
    secs.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()).map(human_minute)
}

/// "1 loggpost", "3 loggposter".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn verification(report: &VerifyReport, checked_at: OffsetDateTime) -> Markup {
    html! {
        section id="verifiering" aria-labelledby="verifiering-rubrik" {
            h2 id="verifiering-rubrik" { "Resultat av verifieringen" }
            @if report.ok {
                (layout::flash(FlashKind::Success, &format!(
                    "Åtkomstloggen är hel och oförändrad. Alla {} loggposter i den senaste signerade kontrollpunkten \
                     stämmer.", report.log_size)))
            } @else {
                div.meddelande.fel role="alert" {
                    p { strong { "Fel:" } " Åtkomstloggen stämmer inte. Poster har ändrats, tagits bort eller \
                        flyttats efter att de signerades, eller så visar reläet en annan logg än tidigare." }
                    @if let Some(i) = report.first_bad_index { p { "Första felaktiga loggpost: " strong { (i) } "." } }
                    ul { @for d in &report.damage {
                        li { @if let Some(i) = d.index { "Loggpost " (i) ": " } span lang="en" { (d.what) } }
                    } }
                    p { "Spara den här sidan. Kontakta er informationssäkerhetsansvarige och reläets operatör." }
                }
            }
            h3 { "Kontrollpunkt" }
            dl.uppgifter {
                dt { "Logg" } dd { code { (report.origin) } }
                dt { "Trädstorlek" } dd { (report.log_size) " loggposter" }
                dt { "Rothash" } dd { code { (report.root_hash) } }
                dt { "Verifierad" } dd { (human_minute(checked_at)) }
                dt { "Jämfört med tidigare" }
                dd {
                    @match (report.previous_size, report.ok) {
                        (Some(p), true) => {
                            "Stämmer med kontrollpunkten på " (p) " loggposter som den här profilen har kontrollerat \
                             tidigare: loggen har bara vuxit."
                        }
                        (Some(p), false) => {
                            "Den här profilen har tidigare kontrollerat en kontrollpunkt på " (p)
                            " loggposter; se felen ovan."
                        }
                        (None, _) => {
                            "Profilen har ingen tidigare kontrollpunkt att jämföra med. Den här sparas och jämförs \
                             nästa gång."
                        }
                    }
                }
                dt { "Kontrollerat" }
                dd {
                    (count(report.checkpoints_checked as u64, "signerad kontrollpunkt", "signerade kontrollpunkter"))
                    ", " (count(report.leaves_checked, "kontrollsumma", "kontrollsummor")) " och "
                    (count(report.entries_checked, "loggpost", "loggposter")) " som du får se"
                    @if report.entries_not_yet_signed > 0 {
                        " (" (count(report.entries_not_yet_signed, "nyare post", "nyare poster"))
                        " har inte signerats än och kontrolleras nästa gång)"
                    }
                    "."
                }
            }
            h3 { "Bestyrkt av (vittnen)" }
            @if report.newest_witnessed_by.is_empty() {
                p { "Ingen organisation har bestyrkt den senaste kontrollpunkten ännu." }
            } @else {
                p { "Den senaste kontrollpunkten är bestyrkt (medsignerad) av:" }
                ul {
                    @for w in &report.newest_witnessed_by {
                        li {
                            (w.principal.to_string()) " med nyckeln " code { (w.key_name) }
                            @if let Some(t) = unix_time(w.timestamp) { ", " (t) }
                        }
                    }
                }
            }
            @if !report.witnesses.is_empty() {
                table {
                    caption { "Alla publicerade vittnen" }
                    thead { tr {
                        th scope="col" { "Organisation" }
                        th scope="col" { "Nyckel" }
                        th scope="col" { "Senast bestyrkt" }
                        th scope="col" { "Tid" }
                    } }
                    tbody {
                        @for w in &report.witnesses {
                            tr {
                                th scope="row" { (w.principal.to_string()) }
                                td { code { (w.key_name) } }
                                td {
                                    @match (&w.problem, w.latest_cosigned_size) {
                                        (Some(p), _) => {
                                            strong { "Räknas inte:" } " nyckelns intyg stämmer inte ("
                                            span lang="en" { (p) } ")"
                                        }
                                        (None, Some(size)) => { "Kontrollpunkten på " (size) " loggposter" }
                                        (None, None) => { "Har inte bestyrkt någon kontrollpunkt" }
                                    }
                                }
                                td { (unix_time(w.latest_cosigned_at).unwrap_or_else(|| "—".into())) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn verification_failed(e: &WebError) -> Markup {
    html! {
        section id="verifiering" aria-labelledby="verifiering-rubrik" {
            h2 id="verifiering-rubrik" { "Resultat av verifieringen" }
            div.meddelande.fel role="alert" {
                p { strong { "Fel:" } " Loggen kunde inte verifieras. " (e.message) }
                @if let Some(d) = &e.detail { p { "Besked: " span lang="en" { (d) } } }
                @if let Some(c) = &e.code { p { "Felkod: " code { (c) } } }
            }
        }
    }
}

async fn verify(State(state): State<AppState>) -> Result<Response, WebError> {
    require_auditor(&state)?;
    let (status, section) = match state.session().audit_verify().await {
        Ok(report) => (StatusCode::OK, verification(&report, OffsetDateTime::now_utc())),
        Err(e) => {
            let e = audit_error(e);
            if e.status == StatusCode::FORBIDDEN {
                return Err(e);
            }
            (e.status, verification_failed(&e))
        }
    };
    let m = Main { verification: Some(section), ..Main::default() };
    Ok((status, main_page(&state, &m)).into_response())
}

// ---------------------------------------------------------------------------------------------
// The log extract.

fn parse_case(s: &str) -> Option<CaseId> {
    CaseId::parse(&s.trim().to_ascii_uppercase()).ok()
}

async fn extract_form(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, WebError> {
    require_auditor(&state)?;
    let q = FormData::parse(raw.unwrap_or_default().as_bytes());
    let typed = q.get("case").unwrap_or_default();
    match parse_case(typed) {
        Some(case) => Ok(Redirect::to(&format!("/granskning/utdrag/{case}.pdf")).into_response()),
        None => {
            let error = if typed.is_empty() { "Skriv ärendets id." } else { CASE_ERROR };
            let m =
                Main { extract_case: typed.to_owned(), extract_error: Some(error.into()), ..Main::default() };
            Ok((StatusCode::BAD_REQUEST, main_page(&state, &m)).into_response())
        }
    }
}

async fn extract_pdf(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, WebError> {
    require_auditor(&state)?;
    let Some(case) = file.strip_suffix(".pdf").and_then(parse_case) else {
        return Err(WebError::not_found(
            "Det finns inget loggutdrag på den adressen. Ärendets id ska börja med S- följt av 26 tecken.",
        ));
    };
    let extract = state.session().audit_extract(&case).await.map_err(extract_error)?;
    let fonts = PdfFonts::find().map_err(pdf_error)?;
    // Laying out the PDF is CPU work: off the async threads.
    let bytes = tokio::task::spawn_blocking(move || extract.render(ExtractFormat::Pdf, Some(&fonts)))
        .await
        .map_err(|e| WebError::from(ClientError::Internal(format!("the PDF could not be made: {e}"))))?
        .map_err(pdf_error)?;
    let disposition = format!("attachment; filename=\"loggutdrag-{case}.pdf\"");
    Ok((
        [(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}

/// An extract whose entries do not prove to be in the signed log is not given out: say why.
fn extract_error(e: ClientError) -> WebError {
    let unproven = matches!(e, ClientError::Verification { .. });
    let mut err = audit_error(e);
    if unproven {
        err.title = "Loggutdraget kunde inte tas fram".into();
        err.message =
            "En loggpost i ärendet stämmer inte med loggens signerade kontrollpunkt, så loggen kan ha \
                       ändrats. Inget utdrag lämnas ut. Verifiera loggen på granskningssidan och kontakta er \
                       informationssäkerhetsansvarige och reläets operatör."
                .into();
    }
    err
}

fn pdf_error(e: ClientError) -> WebError {
    let mut err = WebError::from(e);
    err.title = "Loggutdraget kunde inte göras som PDF".into();
    err.message =
        "PDF-filen kunde inte skapas, oftast för att typsnitt saknas på datorn. Be er IT-avdelning \
                   installera DejaVu- eller Liberation-typsnitten, eller ange ett typsnitt med \
                   SAMORDNA_PDF_FONT."
            .into();
    err.status = StatusCode::INTERNAL_SERVER_ERROR;
    err
}

// ---------------------------------------------------------------------------------------------
// The yearly statistics.

const MONTHS: [(&str, &str); 12] = [
    ("jan", "januari"),
    ("feb", "februari"),
    ("mar", "mars"),
    ("apr", "april"),
    ("maj", "maj"),
    ("jun", "juni"),
    ("jul", "juli"),
    ("aug", "augusti"),
    ("sep", "september"),
    ("okt", "oktober"),
    ("nov", "november"),
    ("dec", "december"),
];

/// Waiting times, in whole days rounded up: (the highest day in the group, short label, label).
const WAITS: [(u64, &str, &str); 6] = [
    (7, "0–7", "0–7 dagar"),
    (14, "8–14", "8–14 dagar"),
    (30, "15–30", "15–30 dagar"),
    (60, "31–60", "31–60 dagar"),
    (90, "61–90", "61–90 dagar"),
    (u64::MAX, "över 90", "Över 90 dagar"),
];

fn wait_group(days: f64) -> usize {
    let whole = days.max(0.0).ceil() as u64;
    WAITS.iter().position(|(max, _, _)| whole <= *max).unwrap_or(WAITS.len() - 1)
}

/// The year asked for, or the error of the year field.
fn parse_year(q: &FormData) -> Result<i32, (String, String)> {
    let Some(s) = q.get("year") else { return Ok(OffsetDateTime::now_utc().year()) };
    match s.parse::<i32>() {
        Ok(y) if (2000..=9998).contains(&y) => Ok(y),
        _ => Err((s.to_owned(), "Skriv året med fyra siffror, till exempel 2026.".into())),
    }
}

fn year_form(value: &str, error: Option<&str>) -> Markup {
    html! {
        form method="get" action="/granskning/statistik" {
            label for="statistik-ar" { "År" }
            (layout::field_error("statistik-ar", error))
            input type="number" id="statistik-ar" name="year" value=(value) min="2000" max="9998" step="1"
                inputmode="numeric" aria-describedby=[error.map(|_| "statistik-ar-fel")]
                aria-invalid=[error.map(|_| "true")];
            " "
            button type="submit" { "Visa statistik" }
        }
    }
}

fn figure(svg: Markup, caption: &str) -> Markup {
    html! {
        figure.diagram {
            (svg)
            figcaption { (caption) " Samma siffror finns i tabellen under diagrammet." }
        }
    }
}

fn stats_body(year: i32, stats: &Stats) -> Markup {
    let t = &stats.total;
    let m = &stats.time_to_first_meeting;
    let principals: Vec<String> = stats.per_principal.iter().map(|p| p.principal.to_string()).collect();
    let per_principal = [
        ("Öppnade ärenden", stats.per_principal.iter().map(|p| p.counts.cases_opened).collect::<Vec<_>>()),
        ("Registrerade samtycken", stats.per_principal.iter().map(|p| p.counts.consents_recorded).collect()),
        ("Återkallade samtycken", stats.per_principal.iter().map(|p| p.counts.consents_withdrawn).collect()),
        ("Spärrar", stats.per_principal.iter().map(|p| p.counts.consents_blocked).collect()),
        ("Nekade förfrågningar", stats.per_principal.iter().map(|p| p.counts.refusals).collect()),
    ]
    .map(|(name, values)| Series { name: name.into(), values })
    .to_vec();

    let mut recorded = [0u64; 12];
    let mut withdrawn = [0u64; 12];
    for mc in &stats.per_month {
        let Some((y, mo)) = mc.month.split_once('-') else { continue };
        if y.parse::<i32>().ok() != Some(year) {
            continue;
        }
        if let Some(i) = mo.parse::<usize>().ok().and_then(|m| m.checked_sub(1)).filter(|i| *i < 12) {
            recorded[i] += mc.consents_recorded;
            withdrawn[i] += mc.consents_withdrawn;
        }
    }
    let month_series = vec![
        Series { name: "Registrerade samtycken".into(), values: recorded.to_vec() },
        Series { name: "Återkallade samtycken".into(), values: withdrawn.to_vec() },
    ];
    let month_names: Vec<String> = MONTHS.iter().map(|(short, _)| (*short).to_owned()).collect();

    let mut groups = [0u64; WAITS.len()];
    for w in &stats.first_meeting_waits {
        groups[wait_group(w.days)] += 1;
    }
    let wait_series = vec![Series { name: "Ärenden".into(), values: groups.to_vec() }];
    let wait_names: Vec<String> = WAITS.iter().map(|(_, short, _)| (*short).to_owned()).collect();
    let not_invited = m.cases.saturating_sub(m.with_invitation);

    html! {
        section aria-labelledby="summering-rubrik" {
            h2 id="summering-rubrik" { "Sammanfattning" }
            p {
                "Från " (stats.from) " till " (stats.to) " (UTC, slutdagen ej inräknad), "
                (count(stats.entries, "loggpost", "loggposter")) "."
            }
            dl.uppgifter {
                dt { "Öppnade SIP-ärenden" } dd { (t.cases_opened) }
                dt { "Registrerade samtycken" } dd { (t.consents_recorded) }
                dt { "Återkallade samtycken" } dd { (t.consents_withdrawn) }
                dt { "Spärrar" } dd { (t.consents_blocked) }
                dt { "Nekade förfrågningar" } dd { (t.refusals) }
                dt { "Dagar till första kallelse (median)" }
                dd {
                    @match m.median_days {
                        Some(d) => {
                            (format!("{d:.1}").replace('.', ",")) " dagar (" (m.with_invitation) " av " (m.cases)
                            " ärenden fick en kallelse)"
                        }
                        None => { "Ingen kallelse i de " (m.cases) " ärenden som öppnades" }
                    }
                }
            }
        }
        section aria-labelledby="huvudman-rubrik" {
            h2 id="huvudman-rubrik" { "Per huvudman" }
            @if principals.is_empty() {
                p { "Inga händelser under " (year) "." }
            } @else {
                (figure(charts::horizontal_bars(Labels {
                    id: "diagram-huvudman",
                    title: &format!("Händelser per huvudman {year}"),
                    description: "Staplar per huvudman: öppnade ärenden, registrerade och återkallade samtycken, \
                        spärrar och nekade förfrågningar. Varje stapel har sitt antal utskrivet.",
                }, &principals, &per_principal), "Händelser per huvudman."))
                table {
                    caption { "Händelser per huvudman " (year) }
                    thead { tr {
                        th scope="col" { "Huvudman" }
                        @for s in &per_principal { th scope="col" { (s.name) } }
                    } }
                    tbody {
                        @for (i, p) in principals.iter().enumerate() {
                            tr {
                                th scope="row" { (p) }
                                @for s in &per_principal { td { (s.values.get(i).copied().unwrap_or(0)) } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="manad-rubrik" {
            h2 id="manad-rubrik" { "Samtycken per månad" }
            (figure(charts::vertical_bars(Labels {
                id: "diagram-manad",
                title: &format!("Registrerade och återkallade samtycken per månad {year}"),
                description: "Två staplar per månad: registrerade samtycken (hel fyllning) och återkallade \
                    samtycken (randig fyllning), med antalet över varje stapel.",
            }, &month_names, &month_series), "Registrerade och återkallade samtycken per månad (UTC)."))
            table {
                caption { "Samtycken per månad " (year) }
                thead { tr {
                    th scope="col" { "Månad" }
                    th scope="col" { "Registrerade samtycken" }
                    th scope="col" { "Återkallade samtycken" }
                } }
                tbody {
                    @for (i, (_, name)) in MONTHS.iter().enumerate() {
                        tr { th scope="row" { (name) } td { (recorded[i]) } td { (withdrawn[i]) } }
                    }
                }
            }
        }
        section aria-labelledby="mote-rubrik" {
            h2 id="mote-rubrik" { "Dagar till första SIP-mötet" }
            p {
                "Tiden från att ett ärende öppnades till den första kallelsen till SIP-möte, för ärenden som \
                 öppnades under året. Räknat i hela dagar, avrundat uppåt."
                @if not_invited > 0 {
                    " " (not_invited) " av " (m.cases) " ärenden har ingen kallelse ännu och ingår inte."
                }
            }
            @if stats.first_meeting_waits.is_empty() {
                p { "Inget ärende som öppnades under " (year) " har fått en kallelse." }
            } @else {
                (figure(charts::vertical_bars(Labels {
                    id: "diagram-mote",
                    title: &format!("Dagar från öppnat ärende till första kallelsen {year}"),
                    description: "Antal ärenden per väntetid i dagar, med antalet över varje stapel.",
                }, &wait_names, &wait_series), "Antal ärenden per väntetid till första kallelsen, i dagar."))
                table {
                    caption { "Väntetid till första kallelsen " (year) }
                    thead { tr { th scope="col" { "Väntetid" } th scope="col" { "Antal ärenden" } } }
                    tbody {
                        @for (i, (_, _, label)) in WAITS.iter().enumerate() {
                            tr { th scope="row" { (label) } td { (groups[i]) } }
                        }
                    }
                }
                details {
                    summary { "Väntetid per ärende" }
                    table {
                        caption { "Dagar till första kallelsen, per ärende" }
                        thead { tr { th scope="col" { "Ärende" } th scope="col" { "Dagar" } } }
                        tbody {
                            @for w in &stats.first_meeting_waits {
                                tr {
                                    th scope="row" {
                                        a href=(format!("/granskning?case={}", url_encode(w.case_id.as_str()))) {
                                            code { (w.case_id) }
                                        }
                                    }
                                    td { (format!("{:.1}", w.days).replace('.', ",")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !stats.refusals_by_reason.is_empty() {
            section aria-labelledby="orsak-rubrik" {
                h2 id="orsak-rubrik" { "Nekade förfrågningar per orsak" }
                table {
                    caption { "Nekade förfrågningar per orsak " (year) }
                    thead { tr { th scope="col" { "Orsak" } th scope="col" { "Kod" } th scope="col" { "Antal" } } }
                    tbody {
                        @for r in &stats.refusals_by_reason {
                            tr { th scope="row" { (reason_sv(r.reason)) } td { code { (r.reason) } } td { (r.count) } }
                        }
                    }
                }
            }
        }
    }
}

async fn statistics(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, WebError> {
    require_auditor(&state)?;
    let q = FormData::parse(raw.unwrap_or_default().as_bytes());
    let (status, title, body) = match parse_year(&q) {
        Ok(year) => {
            let start = |y: i32| {
                Date::from_calendar_date(y, Month::January, 1)
                    .map(|d| d.midnight().assume_utc())
                    .map_err(|_| WebError::bad_request("Året kan inte användas."))
            };
            let stats =
                state.session().audit_stats(start(year)?, start(year + 1)?).await.map_err(audit_error)?;
            let title = format!("Statistik {year}");
            let body = html! {
                h1 { "Statistik för årsuppföljningen " (year) }
                p { a href="/granskning" { "Tillbaka till granskningen" } }
                (year_form(&year.to_string(), None))
                (stats_body(year, &stats))
            };
            (StatusCode::OK, title, body)
        }
        Err((typed, error)) => {
            let body = html! {
                h1 { "Statistik för årsuppföljningen" }
                p { a href="/granskning" { "Tillbaka till granskningen" } }
                (year_form(&typed, Some(&error)))
            };
            (StatusCode::BAD_REQUEST, "Statistik".to_owned(), body)
        }
    };
    Ok((status, layout::page(&state, &title, Nav::Audit, body)).into_response())
}

#[cfg(test)]
mod tests {
    use samordna_core::{PrincipalId, audit::Reason};

    use super::*;
    use crate::{
        audit::{
            stats::{CaseWait, Counts, MonthCounts, PrincipalCounts, ReasonCount, TimeToMeeting},
            verify::{Damage, WitnessSummary},
        },
        logcheck::WitnessSeen,
        ops::NamedPrincipal,
    };

    const CASE: &str = "S-01JDQ7Z5W6V8T9R0S1N2M3K4H5";

    fn q(s: &str) -> Filters {
        Filters::from_query(&FormData::parse(s.as_bytes()))
    }

    #[test]
    fn filters_become_the_librarys_query() {
        assert!(!q("").wanted);
        assert!(q("sok=1").wanted);
        let f = q(&format!(
            "case={}&decision=deny&action=envelope_fetch&from=2026-11-01&to=2026-11-30",
            CASE.to_lowercase()
        ));
        assert!(f.wanted);
        let query = f.query().unwrap();
        assert_eq!(query.case.unwrap().as_str(), CASE);
        assert_eq!(query.decision, Some(Decision::Deny));
        assert_eq!(query.action, Some(Action::EnvelopeFetch));
        assert_eq!(query.from, Some(parse_time("2026-11-01").unwrap()));
        // "Till och med" the 30th: before the 1st of December begins.
        assert_eq!(query.to, Some(parse_time("2026-12-01").unwrap()));
        assert_eq!(
            f.query_string(),
            format!(
                "sok=1&case={}&action=envelope_fetch&decision=deny&from=2026-11-01&to=2026-11-30",
                CASE.to_lowercase()
            )
        );
    }

    #[test]
    fn bad_filters_name_their_fields() {
        let errors = q("case=S-1&principal=x&user=%3F&action=dance&decision=maybe&from=igår&to=2026-13-01")
            .query()
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            ["sok-arende", "sok-huvudman", "sok-person", "sok-atgard", "sok-utfall", "sok-fran", "sok-till"]
        );
        let errors = q("from=2026-11-30&to=2026-11-01").query().unwrap_err();
        assert_eq!(errors[0].0, "sok-till");
        let form = search_form(&q("case=S-1"), &q("case=S-1").query().unwrap_err()).into_string();
        assert!(form.contains("<p id=\"sok-arende-fel\" class=\"fel\">"));
        assert!(form.contains("aria-describedby=\"sok-arende-hjalp sok-arende-fel\" aria-invalid=\"true\""));
        assert!(form.contains("<label for=\"sok-utfall\">"));
    }

    fn principal(id: &str, name: &str) -> NamedPrincipal {
        NamedPrincipal { id: PrincipalId::parse(id).unwrap(), name: Some(name.into()) }
    }

    #[test]
    fn verification_shows_size_root_and_witnesses() {
        let mut report = VerifyReport {
            origin: "samordna.se/relay/dev".into(),
            ok: true,
            first_bad_index: None,
            damage: Vec::new(),
            checkpoints_checked: 9,
            log_size: 137,
            root_hash: "q1w2e3r4t5y6u7i8o9p0=".into(),
            leaves_checked: 137,
            entries_checked: 120,
            entries_not_yet_signed: 2,
            previous_size: Some(101),
            newest_witnessed_by: vec![WitnessSeen {
                principal: principal("SE2120000449", "Linköpings kommun"),
                key_name: "witness-kommun".into(),
                timestamp: Some(1_795_426_200),
            }],
            witnesses: vec![WitnessSummary {
                principal: principal("SE2120000449", "Linköpings kommun"),
                key_name: "witness-kommun".into(),
                latest_cosigned_size: Some(137),
                latest_cosigned_at: Some(1_795_426_200),
                problem: None,
            }],
        };
        let at = OffsetDateTime::from_unix_timestamp(1_795_426_300).unwrap();
        let html = verification(&report, at).into_string();
        assert!(html.starts_with("<section id=\"verifiering\""));
        assert!(html.contains("<dd>137 loggposter</dd>"), "{html}");
        assert!(html.contains("q1w2e3r4t5y6u7i8o9p0="));
        assert!(html.contains("Stämmer med kontrollpunkten på 101 loggposter"));
        assert!(html.contains("Linköpings kommun (SE2120000449) med nyckeln"));
        assert!(html.contains("role=\"status\"") && !html.contains("role=\"alert\""));

        report.ok = false;
        report.first_bad_index = Some(42);
        report.damage = vec![Damage { index: Some(42), what: "its bytes do not hash".into() }];
        let html = verification(&report, at).into_string();
        assert!(html.contains("role=\"alert\""));
        assert!(html.contains("Första felaktiga loggpost: <strong>42</strong>"));
        assert!(html.contains("Loggpost 42: <span lang=\"en\">its bytes do not hash</span>"));
    }

    #[test]
    fn statistics_draw_charts_with_tables_beneath() {
        let counts = Counts {
            cases_opened: 4,
            consents_recorded: 3,
            consents_withdrawn: 1,
            consents_blocked: 0,
            refusals: 2,
        };
        let stats = Stats {
            from: "2026-01-01".into(),
            to: "2027-01-01".into(),
            entries: 40,
            total: counts.clone(),
            refusals_by_reason: vec![ReasonCount { reason: Reason::ConsentWithdrawn, count: 2 }],
            per_principal: vec![PrincipalCounts {
                principal: principal("SE2321000032", "Region Östergötland"),
                counts,
            }],
            time_to_first_meeting: TimeToMeeting { cases: 4, with_invitation: 2, median_days: Some(10.5) },
            per_month: vec![
                MonthCounts { month: "2026-03".into(), consents_recorded: 2, consents_withdrawn: 0 },
                MonthCounts { month: "2026-11".into(), consents_recorded: 1, consents_withdrawn: 1 },
                MonthCounts { month: "2025-12".into(), consents_recorded: 9, consents_withdrawn: 9 },
            ],
            first_meeting_waits: vec![
                CaseWait { case_id: CaseId::parse(CASE).unwrap(), days: 6.2 },
                CaseWait { case_id: CaseId::parse(CASE).unwrap(), days: 14.8 },
            ],
        };
        let html = stats_body(2026, &stats).into_string();
        assert_eq!(html.matches("<svg ").count(), 3, "three charts");
        assert_eq!(html.matches("role=\"img\"").count(), 3);
        for title in ["Händelser per huvudman 2026", "Registrerade och återkallade samtycken per månad 2026"]
        {
            assert!(html.contains(&format!(">{title}</title>")), "{title}");
        }
        assert!(html.contains("<th scope=\"row\">mars</th><td>2</td><td>0</td>"), "{html}");
        assert!(html.contains("<th scope=\"row\">november</th><td>1</td><td>1</td>"));
        // December of the year before is not this year's.
        assert!(html.contains("<th scope=\"row\">december</th><td>0</td><td>0</td>"));
        assert!(html.contains("<th scope=\"row\">0–7 dagar</th><td>1</td>"));
        assert!(html.contains("<th scope=\"row\">15–30 dagar</th><td>1</td>"));
        assert!(html.contains("10,5 dagar (2 av 4 ärenden fick en kallelse)"));
        assert!(html.contains("samtycket är återkallat"));
        assert!(!html.contains("style="));
    }

    #[test]
    fn waits_group_by_whole_days() {
        assert_eq!(wait_group(0.0), 0);
        assert_eq!(wait_group(7.0), 0);
        assert_eq!(wait_group(7.1), 1);
        assert_eq!(wait_group(90.0), 4);
        assert_eq!(wait_group(400.0), 5);
        assert!(parse_year(&FormData::parse(b"year=26")).is_err());
        assert_eq!(parse_year(&FormData::parse(b"year=2026")), Ok(2026));
    }
}
