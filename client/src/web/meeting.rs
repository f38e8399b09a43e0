//! Invitations to SIP meetings (*kallelse*): a new invitation for a case, the case's invitations,
//! changing one and cancelling one. Each form calls what `samordna invite send|update|cancel` calls
//! ([`crate::invite`]): an encrypted invitation to the invited principals through the relay, and
//! e-mail with a calendar file through the profile's SMTP server. Mail that the SMTP server did not
//! take waits in the outbox, and the page says so.
//!
//! # Routes and field names (stable: tests use them)
//!
//! - `GET /arende/{case}/kallelse`: the form and the case's invitations.
//! - `POST /arende/{case}/kallelse`: `datum` (`2026-12-03`), `tid` (`13:00`), `langd` (minutes,
//!   `90`, or `1h30m`), `plats`, `videolank` (optional), `huvudman` (checkboxes, one principal id
//!   each), `epost` (addresses, one per line or separated by commas). `action=utkorg` instead tries
//!   to send what waits in the outbox.
//! - `GET /kallelse/{id}`: one invitation, with a form to change it.
//! - `POST /kallelse/{id}`: `datum`, `tid`, `langd`, `plats`, `videolank` (empty removes it); what
//!   differs from the invitation is sent as the change.
//! - `POST /kallelse/{id}/stall-in`: without `bekrafta=ja` a page that asks to confirm; with it, the
//!   meeting is cancelled.
//!
//! Inputs have `id="k-{name}"`; an error is `<p id="k-{name}-fel">`.

use std::collections::BTreeMap;

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use maud::{Markup, html};
use samordna_core::{CaseId, PrincipalId};
use time::{Date, PrimitiveDateTime, Time, macros::format_description};

use super::{
    AppState, FormData, WebError,
    layout::{self, FlashKind, Nav},
    plan_pages::explain,
};
use crate::{
    error::ClientError,
    invite::{self, Change, Invitation, InviteResult, Recipient, SendInvitation, ics::Method},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/arende/{case}/kallelse", get(show).post(submit))
        .route("/kallelse/{id}", get(show_one).post(update))
        .route("/kallelse/{id}/stall-in", post(cancel))
}

fn parse_case(case: &str) -> Result<CaseId, WebError> {
    CaseId::parse(case).map_err(|_| {
        WebError::not_found("Det finns inget ärende med det id:t. Ett ärende-id börjar med \"S-\".")
    })
}

fn load(state: &AppState, id: &str) -> Result<Invitation, WebError> {
    Invitation::load(state.profile_dir(), id).map_err(|e| match e.code().as_str() {
        "invitation_not_found" | "usage" => {
            WebError::not_found("Den här profilen har inte skickat någon kallelse med det id:t.")
        }
        _ => WebError::from(e),
    })
}

/// `2026-12-03T13:00` as people read it: `2026-12-03 13:00`.
fn when(start: &str) -> String {
    start.replacen('T', " ", 1)
}

// ---------------------------------------------------------------------------------------------
// The form.

/// What the meeting form holds, and the problems with it by field.
#[derive(Debug, Default)]
struct MeetingForm {
    datum: String,
    tid: String,
    langd: String,
    plats: String,
    videolank: String,
    /// Ticked principals.
    huvudman: Vec<String>,
    epost: String,
    errors: BTreeMap<&'static str, String>,
}

impl MeetingForm {
    fn from_form(form: &FormData) -> Self {
        let get = |k: &str| form.get(k).unwrap_or("").to_owned();
        MeetingForm {
            datum: get("datum"),
            tid: get("tid"),
            langd: get("langd"),
            plats: get("plats"),
            videolank: get("videolank"),
            huvudman: form.all("huvudman").into_iter().map(str::to_owned).collect(),
            epost: get("epost"),
            errors: BTreeMap::new(),
        }
    }

    fn of(inv: &Invitation) -> Self {
        let (datum, tid) = inv.start.split_once('T').unwrap_or((&inv.start, ""));
        MeetingForm {
            datum: datum.to_owned(),
            tid: tid.to_owned(),
            langd: inv.duration_minutes.to_string(),
            plats: inv.location.clone(),
            videolank: inv.video_link.clone().unwrap_or_default(),
            ..MeetingForm::default()
        }
    }

    fn error(&mut self, field: &'static str, text: impl Into<String>) {
        self.errors.entry(field).or_insert_with(|| text.into());
    }

    /// The start, read with the library's parser; problems are noted by field.
    fn start(&mut self) -> Option<PrimitiveDateTime> {
        let date = match Date::parse(&self.datum, format_description!("[year]-[month]-[day]")) {
            Ok(d) => Some(d),
            Err(_) if self.datum.is_empty() => {
                self.error("datum", "Skriv vilken dag mötet är, som 2026-12-03.");
                None
            }
            Err(_) => {
                self.error("datum", "Det är inget datum i kalendern. Skriv det som 2026-12-03.");
                None
            }
        };
        // 13.00 is as Swedish as 13:00.
        let mut tid = self.tid.replace('.', ":");
        // And 9:30 as 09:30.
        if tid.find(':') == Some(1) {
            tid.insert(0, '0');
        }
        let time = match Time::parse(&tid, format_description!("[hour]:[minute]")) {
            Ok(t) => Some(t),
            Err(_) if tid.is_empty() => {
                self.error("tid", "Skriv när mötet börjar, som 13:00.");
                None
            }
            Err(_) => {
                self.error("tid", "Det är ingen tid på dygnet. Skriv den som 13:00.");
                None
            }
        };
        let (date, time) = (date?, time?);
        let text = format!("{}T{:02}:{:02}", date, time.hour(), time.minute());
        match invite::parse_start(&text) {
            Ok(t) => Some(t),
            Err(_) => {
                self.error("datum", "Tiden kunde inte läsas. Skriv dag som 2026-12-03 och tid som 13:00.");
                None
            }
        }
    }

    fn duration(&mut self) -> Option<u32> {
        if self.langd.is_empty() {
            self.error("langd", "Skriv hur länge mötet pågår, i minuter (t.ex. 90) eller som 1h30m.");
            return None;
        }
        match invite::parse_duration(&self.langd) {
            Ok(m) => Some(m),
            Err(_) => {
                self.error(
                    "langd",
                    "Skriv längden i minuter (t.ex. 90) eller som 1h30m. Ett möte är mellan 1 minut och 24 timmar.",
                );
                None
            }
        }
    }

    fn location(&mut self) -> Option<String> {
        if self.plats.is_empty() {
            self.error("plats", "Skriv var mötet hålls, t.ex. adress och rum.");
            return None;
        }
        Some(self.plats.clone())
    }

    /// The invitees: ticked principals and written addresses, each parsed as the command does.
    fn recipients(&mut self) -> Vec<Recipient> {
        let mut to = Vec::new();
        for p in self.huvudman.clone() {
            match format!("principal:{p}").parse::<Recipient>() {
                Ok(r) => to.push(r),
                Err(_) => self.error("huvudman", "En vald huvudman har inget giltigt id."),
            }
        }
        let addresses: Vec<String> = self
            .epost
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        let mut bad = Vec::new();
        for a in addresses {
            match format!("email:{a}").parse::<Recipient>() {
                Ok(r) => to.push(r),
                Err(_) => bad.push(a),
            }
        }
        if !bad.is_empty() {
            self.error(
                "epost",
                format!(
                    "Det här är inga e-postadresser: {}. Skriv som namn@exempel.se, en per rad.",
                    bad.join(", ")
                ),
            );
        }
        if to.is_empty() && !self.errors.contains_key("epost") && !self.errors.contains_key("huvudman") {
            self.error("huvudman", "Välj minst en huvudman eller skriv minst en e-postadress.");
        }
        to
    }

    /// Puts a refusal of the library on the field it is about; `true` if it had one.
    fn place_library_error(&mut self, e: &ClientError) -> bool {
        match e.code().as_str() {
            "sensitive_content" => {
                let text = "Texten ser ut att innehålla ett personnummer. E-post och kalendrar får bara \
                            innehålla ärendets referens, tid, plats och kontaktuppgifter.";
                if e.to_string().starts_with("--video-link") {
                    self.error("videolank", text);
                } else {
                    self.error("plats", text);
                }
                true
            }
            "smtp_not_configured" => {
                self.error(
                    "epost",
                    "Den här profilen kan inte skicka e-post: profile.toml saknar avsnittet [smtp]. Be er \
                     IT-avdelning lägga till det (se docs/invitations.md), eller bjud bara in huvudmän.",
                );
                true
            }
            _ => false,
        }
    }
}

fn field(
    form: &MeetingForm,
    name: &'static str,
    label: &str,
    value: &str,
    hint: Option<&str>,
    multiline: bool,
) -> Markup {
    let id = format!("k-{name}");
    let error = form.errors.get(name).map(String::as_str);
    let mut described = Vec::new();
    if hint.is_some() {
        described.push(format!("{id}-hjalp"));
    }
    if error.is_some() {
        described.push(format!("{id}-fel"));
    }
    let described = (!described.is_empty()).then(|| described.join(" "));
    let invalid = error.map(|_| "true");
    html! {
        div.falt {
            label for=(id) { (label) }
            @if let Some(h) = hint { p.hjalp id=(format!("{id}-hjalp")) { (h) } }
            (layout::field_error(&id, error))
            @if multiline {
                textarea id=(id) name=(name) rows="3" autocomplete="off"
                    aria-describedby=[described.as_deref()] aria-invalid=[invalid] { (value) }
            } @else {
                input type="text" id=(id) name=(name) value=(value) autocomplete="off"
                    aria-describedby=[described.as_deref()] aria-invalid=[invalid];
            }
        }
    }
}

/// Time, length, place and video link: the same for a new invitation and a change.
fn meeting_fields(form: &MeetingForm) -> Markup {
    html! {
        fieldset {
            legend { "Tid och plats" }
            (field(form, "datum", "Dag", &form.datum, Some("Skriv som 2026-12-03."), false))
            (field(form, "tid", "Starttid", &form.tid, Some("Svensk tid, skriv som 13:00."), false))
            (field(form, "langd", "Längd", &form.langd, Some("I minuter, t.ex. 90, eller som 1h30m."), false))
            (field(form, "plats", "Plats", &form.plats,
                Some("Adress och rum. Skriv aldrig personens namn eller personnummer: platsen står i e-post och kalendrar."),
                false))
            (field(form, "videolank", "Videolänk (om mötet kan följas på video)", &form.videolank, None, false))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The case's page: a new invitation and the list.

/// Names of principals, for showing invitations.
type Names = BTreeMap<String, String>;

struct CasePage {
    /// The case's principals but ours: (id, name).
    principals: Vec<(PrincipalId, String)>,
    names: Names,
    unavailable: Option<WebError>,
}

async fn case_page(state: &AppState, case: &CaseId) -> CasePage {
    let own = state.session().profile().principal().clone();
    let mut page = CasePage { principals: Vec::new(), names: Names::new(), unavailable: None };
    match state.session().case_show(case).await {
        Ok(info) => {
            for p in info.participants {
                let name = p.name.clone().unwrap_or_else(|| p.id.to_string());
                page.names.insert(p.id.to_string(), name.clone());
                if p.id != own {
                    page.principals.push((p.id, name));
                }
            }
        }
        Err(e) => page.unavailable = Some(WebError::from(e)),
    }
    page
}

async fn show(State(state): State<AppState>, Path(case): Path<String>) -> Result<Response, WebError> {
    let case = parse_case(&case)?;
    let mut cp = case_page(&state, &case).await;
    if let Some(e) = cp.unavailable.take_if(|e| e.status == StatusCode::NOT_FOUND) {
        return Err(e);
    }
    let form = MeetingForm {
        langd: "90".into(),
        huvudman: cp.principals.iter().map(|(p, _)| p.to_string()).collect(),
        ..MeetingForm::default()
    };
    Ok(render_case_page(&state, &case, &cp, &form, Vec::new(), None).into_response())
}

async fn submit(
    State(state): State<AppState>,
    Path(case): Path<String>,
    data: FormData,
) -> Result<Response, WebError> {
    let case = parse_case(&case)?;
    let mut form = MeetingForm::from_form(&data);
    let mut flashes: Vec<(FlashKind, String)> = Vec::new();
    let mut error = None;

    if data.get("action") == Some("utkorg") {
        match invite::outbox_flush(state.session().profile()).await {
            Ok(done) => {
                let sent = done.mail.iter().filter(|d| d.sent).count();
                flashes
                    .push((FlashKind::Info, format!("{sent} e-postmeddelande(n) skickades från utkorgen.")));
                if done.pending > 0 {
                    flashes.push((FlashKind::Warning, pending_text(done.pending)));
                }
            }
            Err(e) => {
                let (text, web) = explain(e);
                flashes.push((FlashKind::Error, text));
                error = Some(web);
            }
        }
        let cp = case_page(&state, &case).await;
        let form = MeetingForm { langd: "90".into(), ..MeetingForm::default() };
        return Ok(render_case_page(&state, &case, &cp, &form, flashes, error).into_response());
    }

    let start = form.start();
    let duration = form.duration();
    let location = form.location();
    let to = form.recipients();
    if let (Some(start), Some(duration_minutes), Some(location), true) =
        (start, duration, location, form.errors.is_empty())
    {
        let video_link = (!form.videolank.is_empty()).then(|| form.videolank.clone());
        let req = SendInvitation { case_id: case.clone(), start, duration_minutes, location, video_link, to };
        match invite::send(state.session(), req).await {
            Ok(result) => return Ok(result_page(&state, &result).into_response()),
            Err(e) => {
                if form.place_library_error(&e) {
                    flashes.push((
                        FlashKind::Error,
                        "Kallelsen skickades inte. Rätta det som står vid fälten.".into(),
                    ));
                } else {
                    let (text, web) = explain(e);
                    flashes.push((FlashKind::Error, format!("Kallelsen skickades inte. {text}")));
                    error = Some(web);
                }
            }
        }
    } else {
        flashes.push((FlashKind::Error, "Kallelsen skickades inte. Rätta det som står vid fälten.".into()));
    }
    let cp = case_page(&state, &case).await;
    Ok(render_case_page(&state, &case, &cp, &form, flashes, error).into_response())
}

fn pending_text(n: usize) -> String {
    format!(
        "{n} e-postmeddelande(n) väntar i utkorgen eftersom e-postservern inte tog emot dem. Inget har gått \
         förlorat: de skickas när servern svarar. Tryck på \u{201d}Försök skicka igen\u{201d} på sidan Kallelse, \
         eller kör samordna outbox flush."
    )
}

fn error_details(error: Option<&WebError>) -> Markup {
    html! {
        @if let Some(e) = error {
            @if let Some(d) = &e.detail { p { "Besked: " span lang="en" { (d) } } }
            @if let Some(c) = &e.code { p { "Felkod: " code { (c) } } }
        }
    }
}

fn render_case_page(
    state: &AppState,
    case: &CaseId,
    cp: &CasePage,
    form: &MeetingForm,
    flashes: Vec<(FlashKind, String)>,
    error: Option<WebError>,
) -> Markup {
    let invitations = Invitation::list(state.profile_dir());
    let pending = invite::outbox_list(state.session().profile()).map(|o| o.pending.len()).unwrap_or(0);
    let action = format!("/arende/{case}/kallelse");
    let body = html! {
        h1 { "Kallelse till SIP-möte" }
        p.ledtext { "Ärende " code { (case) } ". " a href=(format!("/arende/{case}")) { "Tillbaka till ärendet" } }
        @for (kind, text) in &flashes { (layout::flash(*kind, text)) }
        (error_details(error.as_ref()))
        @if let Some(e) = &cp.unavailable {
            (layout::flash(FlashKind::Warning, &format!(
                "Ärendet kunde inte läsas från reläet, så huvudmännen saknas i formuläret. {}", e.message
            )))
        }
        section aria-labelledby="ny-kallelse" {
            h2 id="ny-kallelse" { "Ny kallelse" }
            p.hjalp {
                "Huvudmännen får en krypterad kallelse genom reläet (samtycket måste omfatta möten). "
                "E-postadresserna får ett e-postmeddelande med en kalenderfil. E-post och kalendrar innehåller "
                "bara ärendets referens, tid, plats och kontakt."
            }
            form method="post" action=(action) novalidate {
                (meeting_fields(form))
                fieldset id="k-huvudman" aria-describedby=[form.errors.get("huvudman").map(|_| "k-huvudman-fel")] {
                    legend { "Huvudmän som kallas" }
                    (layout::field_error("k-huvudman", form.errors.get("huvudman").map(String::as_str)))
                    @if cp.principals.is_empty() {
                        p { "Det finns inga andra huvudmän i ärendet." }
                    }
                    @for (n, (p, name)) in cp.principals.iter().enumerate() {
                        @let id = format!("k-huvudman-{n}");
                        label.val for=(id) {
                            input type="checkbox" id=(id) name="huvudman" value=(p)
                                checked[form.huvudman.iter().any(|h| h == p.as_str())];
                            (name) " (" (p) ")"
                        }
                    }
                }
                (field(form, "epost", "E-postadresser till deltagare", &form.epost,
                    Some("En per rad, t.ex. den enskilde, närstående eller personal utan Samordna."), true))
                div.knappar {
                    button type="submit" name="action" value="skicka" { "Skicka kallelse" }
                }
            }
        }
        section aria-labelledby="kallelser" {
            h2 id="kallelser" { "Kallelser i ärendet" }
            @match &invitations {
                Err(e) => { (layout::flash(FlashKind::Error, &format!("Kallelserna kunde inte läsas: {e}"))) }
                Ok(all) => {
                    @let mine: Vec<&Invitation> = all.iter().filter(|i| i.case_id == *case).collect();
                    @if mine.is_empty() {
                        p { "Inga kallelser är skickade i ärendet från den här profilen." }
                    } @else {
                        (invitation_table(&mine, &cp.names))
                    }
                }
            }
        }
        @if pending > 0 {
            section aria-labelledby="utkorg" {
                h2 id="utkorg" { "Utkorgen" }
                (layout::flash(FlashKind::Warning, &pending_text(pending)))
                form method="post" action=(action) {
                    button.sekundar type="submit" name="action" value="utkorg" { "Försök skicka igen" }
                }
            }
        }
    };
    layout::page(state, "Kallelse till SIP-möte", Nav::Cases, body)
}

fn invited(inv: &Invitation, names: &Names) -> String {
    let mut who: Vec<String> = inv
        .principals
        .iter()
        .map(|p| names.get(p.as_str()).map_or_else(|| p.to_string(), |n| format!("{n} ({p})")))
        .collect();
    who.extend(inv.emails.iter().cloned());
    who.join(", ")
}

fn invitation_table(invitations: &[&Invitation], names: &Names) -> Markup {
    html! {
        table {
            caption { "Kallelser, tidigaste mötet först" }
            thead {
                tr {
                    th scope="col" { "Tid" }
                    th scope="col" { "Längd" }
                    th scope="col" { "Plats" }
                    th scope="col" { "Kallade" }
                    th scope="col" { "Läge" }
                    th scope="col" { "Åtgärd" }
                }
            }
            tbody {
                @for inv in invitations {
                    tr {
                        th scope="row" { a href=(format!("/kallelse/{}", inv.id)) { (when(&inv.start)) } }
                        td { (inv.duration_minutes) " min" }
                        td {
                            (inv.location)
                            @if let Some(v) = &inv.video_link { br; "Video: " (v) }
                        }
                        td { (invited(inv, names)) }
                        td {
                            @if inv.cancelled { span.status.aterkallat { "Inställt" } }
                            @else if inv.sequence > 0 { span.status.aktivt { "Ändrat" } }
                            @else { span.status.aktivt { "Kallat" } }
                        }
                        td {
                            @if !inv.cancelled {
                                a href=(format!("/kallelse/{}", inv.id)) aria-label=(format!("Ändra mötet {}", when(&inv.start))) { "Ändra" }
                                form method="post" action=(format!("/kallelse/{}/stall-in", inv.id)) {
                                    button.sekundar type="submit" aria-label=(format!("Ställ in mötet {}", when(&inv.start))) { "Ställ in" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One invitation: change and cancel.

fn details(inv: &Invitation, names: &Names) -> Markup {
    html! {
        dl.uppgifter {
            dt { "Kallelse" } dd { code { (inv.id) } }
            dt { "Ärende" } dd { a href=(format!("/arende/{}", inv.case_id)) { code { (inv.case_id) } } }
            dt { "Tid" } dd { (when(&inv.start)) ", " (inv.duration_minutes) " minuter (svensk tid)" }
            dt { "Plats" } dd { (inv.location) }
            @if let Some(v) = &inv.video_link { dt { "Videolänk" } dd { (v) } }
            dt { "Kallade" } dd { (invited(inv, names)) }
            dt { "Läge" } dd {
                @if inv.cancelled { "Inställt" }
                @else if inv.sequence > 0 { "Ändrat " (inv.sequence) " gång(er)" }
                @else { "Kallat" }
            }
        }
    }
}

async fn names_for(state: &AppState, case: &CaseId) -> Names {
    case_page(state, case).await.names
}

async fn show_one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, WebError> {
    let inv = load(&state, &id)?;
    let names = names_for(&state, &inv.case_id).await;
    let form = MeetingForm::of(&inv);
    Ok(render_one(&state, &inv, &names, &form, Vec::new(), None).into_response())
}

fn render_one(
    state: &AppState,
    inv: &Invitation,
    names: &Names,
    form: &MeetingForm,
    flashes: Vec<(FlashKind, String)>,
    error: Option<WebError>,
) -> Markup {
    let body = html! {
        h1 { "SIP-möte " (when(&inv.start)) }
        p.ledtext { a href=(format!("/arende/{}/kallelse", inv.case_id)) { "Tillbaka till ärendets kallelser" } }
        @for (kind, text) in &flashes { (layout::flash(*kind, text)) }
        (error_details(error.as_ref()))
        (details(inv, names))
        @if inv.cancelled {
            (layout::flash(FlashKind::Info, "Mötet är inställt. Skicka en ny kallelse om ni ska ses ändå."))
        } @else {
            section aria-labelledby="andra" {
                h2 id="andra" { "Ändra tid eller plats" }
                p.hjalp { "De som är kallade får den ändrade kallelsen, med ny kalenderfil." }
                form method="post" action=(format!("/kallelse/{}", inv.id)) novalidate {
                    (meeting_fields(form))
                    div.knappar { button type="submit" { "Skicka ändrad kallelse" } }
                }
            }
            section aria-labelledby="stall-in" {
                h2 id="stall-in" { "Ställ in mötet" }
                form method="post" action=(format!("/kallelse/{}/stall-in", inv.id)) {
                    button.sekundar type="submit" { "Ställ in mötet" }
                }
            }
        }
    };
    layout::page(state, "SIP-möte", Nav::Cases, body)
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    data: FormData,
) -> Result<Response, WebError> {
    let inv = load(&state, &id)?;
    let names = names_for(&state, &inv.case_id).await;
    let mut form = MeetingForm::from_form(&data);
    let start = form.start();
    let duration = form.duration();
    let location = form.location();
    let mut flashes = Vec::new();
    let mut error = None;
    if let (Some(start), Some(duration), Some(location), true) =
        (start, duration, location, form.errors.is_empty())
    {
        let current = MeetingForm::of(&inv);
        let new_start = format!("{}T{:02}:{:02}", start.date(), start.hour(), start.minute());
        let change = Change {
            start: (new_start != inv.start).then_some(start),
            duration_minutes: (duration != inv.duration_minutes).then_some(duration),
            location: (location != inv.location).then_some(location),
            video_link: (form.videolank != current.videolank).then(|| form.videolank.clone()),
        };
        if change.start.is_none()
            && change.duration_minutes.is_none()
            && change.location.is_none()
            && change.video_link.is_none()
        {
            flashes.push((
                FlashKind::Info,
                "Ingenting är ändrat. Ändra tid, längd, plats eller videolänk och skicka igen.".to_owned(),
            ));
        } else {
            match invite::update(state.session(), &inv.id, change).await {
                Ok(result) => return Ok(result_page(&state, &result).into_response()),
                Err(e) => {
                    if form.place_library_error(&e) {
                        flashes.push((
                            FlashKind::Error,
                            "Den ändrade kallelsen skickades inte. Rätta det som står vid fälten.".into(),
                        ));
                    } else {
                        let (text, web) = explain(e);
                        flashes.push((
                            FlashKind::Error,
                            format!("Den ändrade kallelsen skickades inte. {text}"),
                        ));
                        error = Some(web);
                    }
                }
            }
        }
    } else {
        flashes.push((
            FlashKind::Error,
            "Den ändrade kallelsen skickades inte. Rätta det som står vid fälten.".into(),
        ));
    }
    Ok(render_one(&state, &inv, &names, &form, flashes, error).into_response())
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    data: FormData,
) -> Result<Response, WebError> {
    let inv = load(&state, &id)?;
    if data.get("bekrafta") == Some("ja") {
        match invite::cancel(state.session(), &inv.id).await {
            Ok(result) => return Ok(result_page(&state, &result).into_response()),
            Err(e) => {
                let names = names_for(&state, &inv.case_id).await;
                let (text, web) = explain(e);
                let flashes = vec![(FlashKind::Error, format!("Mötet ställdes inte in. {text}"))];
                let form = MeetingForm::of(&inv);
                return Ok(render_one(&state, &inv, &names, &form, flashes, Some(web)).into_response());
            }
        }
    }
    let names = names_for(&state, &inv.case_id).await;
    let body = html! {
        h1 { "Ställa in SIP-mötet?" }
        @if inv.cancelled {
            (layout::flash(FlashKind::Info, "Mötet är redan inställt."))
            p { a href=(format!("/kallelse/{}", inv.id)) { "Tillbaka till kallelsen" } }
        } @else {
            p { "Alla som är kallade får besked om att mötet är inställt. Det går inte att ångra; "
                "skicka en ny kallelse om ni ska ses ändå." }
            (details(&inv, &names))
            form method="post" action=(format!("/kallelse/{}/stall-in", inv.id)) {
                input type="hidden" name="bekrafta" value="ja";
                div.knappar {
                    button.fara type="submit" { "Ja, ställ in mötet" }
                    a.knapp.sekundar href=(format!("/kallelse/{}", inv.id)) { "Nej, gå tillbaka" }
                }
            }
        }
    };
    Ok(layout::page(&state, "Ställa in SIP-mötet?", Nav::Cases, body).into_response())
}

// ---------------------------------------------------------------------------------------------
// The answer after sending.

fn result_page(state: &AppState, r: &InviteResult) -> Markup {
    let (title, text) = match (r.method, r.sequence) {
        (Method::Cancel, _) => ("Mötet är inställt", "Besked om att mötet är inställt är skickat."),
        (Method::Request, 0) => ("Kallelsen är skickad", "Kallelsen är skickad."),
        (Method::Request, _) => ("Kallelsen är ändrad", "Den ändrade kallelsen är skickad."),
    };
    let body = html! {
        h1 { (title) }
        (layout::flash(FlashKind::Success, text))
        dl.uppgifter {
            dt { "Kallelse" } dd { a href=(format!("/kallelse/{}", r.invitation)) { code { (r.invitation) } } }
            dt { "Ärende" } dd { code { (r.case_id) } }
            dt { "Tid" } dd { (when(&r.start)) " – " (when(&r.end)) " (svensk tid)" }
            @if let Some(e) = &r.envelope_id {
                dt { "Till huvudmännen" } dd { "Krypterad kallelse " code { (e) } " skickad genom reläet." }
            }
        }
        @if !r.mail.is_empty() {
            h2 { "E-post" }
            ul {
                @for d in &r.mail {
                    li {
                        @if d.sent {
                            "Skickat till " (d.to) "."
                        } @else {
                            strong { "Väntar i utkorgen: " } (d.to) ". E-postservern tog inte emot meddelandet"
                            @if let Some(err) = &d.error { " (" span lang="en" { (err) } ")" }
                            "."
                        }
                    }
                }
            }
        }
        @if r.pending > 0 {
            (layout::flash(FlashKind::Warning, &pending_text(r.pending)))
        }
        p { a href=(format!("/arende/{}/kallelse", r.case_id)) { "Tillbaka till ärendets kallelser" } }
        p { a href=(format!("/arende/{}", r.case_id)) { "Till ärendet" } }
    };
    layout::page(state, title, Nav::Cases, body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn form(pairs: &[(&str, &str)]) -> MeetingForm {
        let data = FormData(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        MeetingForm::from_form(&data)
    }

    #[test]
    fn times_lengths_and_invitees_are_read_as_the_command_reads_them() {
        let mut f = form(&[
            ("datum", "2026-12-03"),
            ("tid", "9.05"),
            ("langd", "1h30m"),
            ("plats", "Storgatan 1, rum 12"),
            ("huvudman", "SE2321000032"),
            ("epost", "a@b.se\nc@d.se, e@f.se"),
        ]);
        assert_eq!(f.start(), Some(time::macros::datetime!(2026-12-03 09:05)));
        assert_eq!(f.duration(), Some(90));
        assert_eq!(f.recipients().len(), 4);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
    }

    #[test]
    fn each_problem_is_put_by_its_field() {
        let mut f = form(&[("datum", "2026-02-30"), ("tid", "25:00"), ("langd", "25h"), ("epost", "nej")]);
        assert_eq!(f.start(), None);
        assert_eq!(f.duration(), None);
        assert_eq!(f.location(), None);
        f.recipients();
        for k in ["datum", "tid", "langd", "plats", "epost"] {
            assert!(f.errors.contains_key(k), "{k}: {:?}", f.errors);
        }
        assert!(f.errors["epost"].contains("nej"));
        let mut f = form(&[]);
        f.recipients();
        assert!(f.errors["huvudman"].starts_with("Välj minst en"));

        let mut f = form(&[]);
        let e = ClientError::usage("sensitive_content", "--video-link looks like it contains a personnummer");
        assert!(f.place_library_error(&e));
        assert!(f.errors.contains_key("videolank"));
    }

    #[test]
    fn the_form_has_labels_and_errors_tied_to_fields() {
        let mut f = form(&[("datum", "x")]);
        f.start();
        let html = meeting_fields(&f).into_string();
        assert!(html.contains(r#"<label for="k-datum">Dag</label>"#));
        assert!(
            html.contains(r#"aria-describedby="k-datum-hjalp k-datum-fel" aria-invalid="true""#),
            "{html}"
        );
        assert!(html.contains(r#"<p id="k-datum-fel" class="fel">"#));
        assert!(html.contains(r#"<label for="k-videolank">"#));
    }
}
