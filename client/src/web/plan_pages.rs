//! The SIP plan form (`/arende/{case}/plan`): fill in the plan template, check it against the
//! library's rules, preview it, download it as PDF, and send it. The form is the plan's JSON
//! (`docs/spec/sip-plan-v1.md`) field by field: the library reads, checks, renders and sends it
//! exactly as `samordna plan validate|render` and `samordna send --kind plan` do.
//!
//! # Field names (stable: tests and integrations use them)
//!
//! Every input is named by the plan's own JSON path, so an error the library reports for
//! `efforts[2].responsible_principal` lands on the input of that name:
//!
//! - `consent_id`, `revision`, `meeting.date`, `meeting.place`;
//! - `person.name`, `person.personnummer`, `person.address`, `person.phone`, `person.email`;
//! - `guardians[i].name|relation|custody|address|phone|email` (`custody` is a checkbox, value `ja`);
//! - `principals[i].id|name`;
//! - `participants[i].name|role|principal|unit|hsa_id|phone|email|present` (`present`: checkbox);
//! - `background`, `wishes`, `child_view`; `needs[i]`, `goals[i]`;
//! - `efforts[i].what|goal|responsible_principal|unit|from|until`,
//!   `efforts[i].contact.name|role|phone|email|hsa_id`;
//! - `other_measures[i].what|by|from|until`, `other_measures[i].contact.name|role|phone|email`;
//! - `lead_principal`, `coordinator.name|role|principal|phone|email|hsa_id`;
//! - `follow_up.date|how|evaluation`;
//! - `history[i].revision|date|by|principal|summary`;
//! - `till`: the recipients to send to (checkboxes, one principal id each);
//! - `action`: the button: `kontrollera`, `forhandsgranska`, `pdf`, `skicka`, or `rad:LIST` (one
//!   more blank row of LIST, e.g. `rad:efforts`).
//!
//! Dates are written `2026-11-23`. Rows left entirely blank are not part of the plan, so a list may
//! be shown with spare rows. An input's `id` is `f-` and its name with `.`, `[` turned into `-` and
//! `]` dropped (`f-efforts-2-contact-name`); its error is `<p id="{id}-fel">`.
//!
//! `POST /arende/{case}/plan/kontroll` answers the same page with the rule explanations for what is
//! filled in so far (empty fields are not yet called errors): `static/app.js` uses it to check the
//! form as it is filled in.

use std::collections::{BTreeMap, HashMap};

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use maud::{Markup, html};
use samordna_core::{
    CaseId, ContentKind, PrincipalId,
    api::ConsentStatus,
    plan::{PLAN_TYPE, PLAN_VERSION, Plan, PlanError, PlanErrorCode, check},
};
use serde_json::{Map, Value};

use super::{
    AppState, FormData, WebError,
    layout::{self, FlashKind, Nav},
};
use crate::{
    CaseInfo, SendRequest, SendResult,
    error::ClientError,
    plan::{
        self, Format,
        document::{self, Block, Cell},
    },
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/arende/{case}/plan", get(show).post(submit))
        .route("/arende/{case}/plan/kontroll", post(live_check))
        .route("/arende/{case}/plan/skickat/{envelope}", get(sent))
}

/// `GET /arende/{case}/plan/skickat/{envelope}`: what a send from this app did.
async fn sent(
    State(state): State<AppState>,
    Path((case, envelope)): Path<(String, String)>,
) -> Result<Markup, WebError> {
    let case = CaseId::parse(&case).map_err(|_| WebError::not_found("Ärendet finns inte."))?;
    let result = samordna_core::EnvelopeId::parse(&envelope)
        .ok()
        .and_then(|id| state.sent(&id))
        .filter(|s| s.case_id == case)
        .ok_or_else(|| {
            WebError::not_found(
                "Det här programmet har inte skickat något sådant dokument sedan det startades. Ärendets \
                 sida visar vad som har skickats.",
            )
        })?;
    Ok(sent_page(&state, &case, &result))
}

// ---------------------------------------------------------------------------------------------
// The template: which inputs make up the plan.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// One line of text.
    Text,
    /// Several lines.
    Area,
    /// `2026-11-23`.
    Date,
    /// A whole number.
    Number,
    /// A checkbox (`true` when ticked).
    Check,
    /// A principal id, with the known principals offered.
    Principal,
    /// The consent, chosen among the case's.
    Consent,
}

#[derive(Debug)]
struct Field {
    key: &'static str,
    label: &'static str,
    kind: Kind,
    hint: Option<&'static str>,
}

const fn f(key: &'static str, label: &'static str, kind: Kind) -> Field {
    Field { key, label, kind, hint: None }
}

const fn fh(key: &'static str, label: &'static str, kind: Kind, hint: &'static str) -> Field {
    Field { key, label, kind, hint: Some(hint) }
}

const DATE_HINT: &str = "Skriv som 2026-11-23.";
const PRINCIPAL_HINT: &str = "\"SE\" och organisationsnumret, t.ex. SE2321000032.";

/// A group of single fields, shown as one fieldset; `key` is where errors about the group as a
/// whole land (`person`: no way to reach the person).
#[derive(Debug)]
struct Group {
    key: &'static str,
    legend: &'static str,
    /// How an error names the group in the summary.
    short: &'static str,
    fields: &'static [Field],
}

/// A list of rows. `fields` empty: each row is one text (`needs[i]`).
#[derive(Debug)]
struct List {
    key: &'static str,
    legend: &'static str,
    /// One row's name: "Insats" (rows are "Insats 1", "Insats 2"…).
    item: &'static str,
    hint: Option<&'static str>,
    fields: &'static [Field],
    /// Rows shown at least.
    min_rows: usize,
}

const MEETING: Group = Group {
    key: "meeting",
    legend: "Möte, samtycke och version",
    short: "Mötet",
    fields: &[
        fh(
            "consent_id",
            "Samtycke som planen delas under",
            Kind::Consent,
            "Samtycket ska omfatta SIP-planer och de huvudmän planen skickas till.",
        ),
        fh("revision", "Planens version", Kind::Number, "1 för en ny plan."),
        fh("meeting.date", "Datum för SIP-mötet", Kind::Date, DATE_HINT),
        f("meeting.place", "Plats för mötet", Kind::Text),
    ],
};

const PERSON: Group = Group {
    key: "person",
    legend: "Personen som planen gäller",
    short: "Personen",
    fields: &[
        f("person.name", "Namn", Kind::Text),
        fh("person.personnummer", "Personnummer", Kind::Text, "Skriv som ÅÅÅÅMMDD-NNNN."),
        f("person.address", "Adress", Kind::Text),
        f("person.phone", "Telefon", Kind::Text),
        f("person.email", "E-post", Kind::Text),
    ],
};

const BACKGROUND: Group = Group {
    key: "background_group",
    legend: "Bakgrund och den enskildes egna ord",
    short: "Bakgrund",
    fields: &[
        f("background", "Bakgrund och nuläge", Kind::Area),
        f("wishes", "Önskemål och synpunkter", Kind::Area),
        fh("child_view", "Barnets egen uppfattning", Kind::Area, "Ska fyllas i när personen är under 18 år."),
    ],
};

const RESPONSIBILITY: Group = Group {
    key: "coordinator",
    legend: "Övergripande ansvar och samordnande kontaktperson",
    short: "Ansvar",
    fields: &[
        fh(
            "lead_principal",
            "Huvudman med övergripande ansvar",
            Kind::Principal,
            "En region eller kommun som deltar, t.ex. SE2321000032.",
        ),
        f("coordinator.name", "Kontaktpersonens namn", Kind::Text),
        f("coordinator.role", "Kontaktpersonens roll", Kind::Text),
        fh("coordinator.principal", "Kontaktpersonens huvudman", Kind::Principal, PRINCIPAL_HINT),
        f("coordinator.phone", "Kontaktpersonens telefon", Kind::Text),
        f("coordinator.email", "Kontaktpersonens e-post", Kind::Text),
        f("coordinator.hsa_id", "Kontaktpersonens HSA-id", Kind::Text),
    ],
};

const FOLLOW_UP: Group = Group {
    key: "follow_up",
    legend: "Uppföljning",
    short: "Uppföljning",
    fields: &[
        fh("follow_up.date", "Datum för uppföljning", Kind::Date, "Efter mötet. Skriv som 2027-02-23."),
        f("follow_up.how", "Hur planen följs upp", Kind::Area),
        f("follow_up.evaluation", "Hur resultatet utvärderas", Kind::Area),
    ],
};

const GUARDIANS: List = List {
    key: "guardians",
    legend: "Vårdnadshavare",
    item: "Vårdnadshavare",
    hint: Some("Bara för barn under 18 år. Lämna raderna tomma för en vuxen."),
    fields: &[
        f("name", "Namn", Kind::Text),
        fh("relation", "Relation", Kind::Text, "T.ex. mamma, pappa, särskilt förordnad vårdnadshavare."),
        f("custody", "Har vårdnad", Kind::Check),
        f("address", "Adress", Kind::Text),
        f("phone", "Telefon", Kind::Text),
        f("email", "E-post", Kind::Text),
    ],
    min_rows: 2,
};

const PRINCIPALS: List = List {
    key: "principals",
    legend: "Huvudmän som deltar",
    item: "Huvudman",
    hint: Some("Minst två, t.ex. region och kommun. Var och en ska ha en deltagare."),
    fields: &[fh("id", "Id", Kind::Principal, PRINCIPAL_HINT), f("name", "Namn", Kind::Text)],
    min_rows: 3,
};

const PARTICIPANTS: List = List {
    key: "participants",
    legend: "Deltagare",
    item: "Deltagare",
    hint: Some("Alla som var med och tog fram planen, också den enskilde och närstående."),
    fields: &[
        f("name", "Namn", Kind::Text),
        fh("role", "Roll", Kind::Text, "T.ex. den enskilde, biståndshandläggare, sjuksköterska."),
        fh(
            "principal",
            "Huvudman",
            Kind::Principal,
            "Lämna tomt för den enskilde, närstående och andra som inte företräder en huvudman.",
        ),
        f("unit", "Enhet", Kind::Text),
        f("hsa_id", "HSA-id", Kind::Text),
        f("phone", "Telefon", Kind::Text),
        f("email", "E-post", Kind::Text),
        f("present", "Närvarande vid mötet", Kind::Check),
    ],
    min_rows: 4,
};

const NEEDS: List =
    List { key: "needs", legend: "Behov", item: "Behov", hint: Some("Minst ett."), fields: &[], min_rows: 3 };

const GOALS: List = List {
    key: "goals",
    legend: "Mål, med den enskildes egna ord",
    item: "Mål",
    hint: Some("Minst ett."),
    fields: &[],
    min_rows: 3,
};

const EFFORTS: List = List {
    key: "efforts",
    legend: "Insatser",
    item: "Insats",
    hint: Some("Minst en. Ansvarig huvudman ska vara en av deltagarnas huvudmän."),
    fields: &[
        f("what", "Insats", Kind::Text),
        f("goal", "Mål med insatsen", Kind::Text),
        fh("responsible_principal", "Ansvarig huvudman", Kind::Principal, PRINCIPAL_HINT),
        f("unit", "Utförande enhet", Kind::Text),
        fh("from", "Från", Kind::Date, DATE_HINT),
        fh("until", "Till", Kind::Date, "Lämna tomt om insatsen inte har något slutdatum."),
        f("contact.name", "Kontaktperson", Kind::Text),
        f("contact.role", "Kontaktpersonens roll", Kind::Text),
        f("contact.phone", "Kontaktpersonens telefon", Kind::Text),
        f("contact.email", "Kontaktpersonens e-post", Kind::Text),
        f("contact.hsa_id", "Kontaktpersonens HSA-id", Kind::Text),
    ],
    min_rows: 3,
};

const OTHER_MEASURES: List = List {
    key: "other_measures",
    legend: "Åtgärder av andra än region och kommun",
    item: "Åtgärd",
    hint: Some("T.ex. Försäkringskassan, en förening eller en närstående. Kan lämnas tomt."),
    fields: &[
        f("what", "Åtgärd", Kind::Text),
        f("by", "Av vem", Kind::Text),
        fh("from", "Från", Kind::Date, DATE_HINT),
        fh("until", "Till", Kind::Date, DATE_HINT),
        f("contact.name", "Kontaktperson", Kind::Text),
        f("contact.role", "Kontaktpersonens roll", Kind::Text),
        f("contact.phone", "Kontaktpersonens telefon", Kind::Text),
        f("contact.email", "Kontaktpersonens e-post", Kind::Text),
    ],
    min_rows: 2,
};

const HISTORY: List = List {
    key: "history",
    legend: "Versioner och ändringar",
    item: "Version",
    hint: Some(
        "En rad per version, äldst först. Den sista radens version ska vara samma som planens version.",
    ),
    fields: &[
        f("revision", "Version", Kind::Number),
        fh("date", "Datum", Kind::Date, DATE_HINT),
        f("by", "Av", Kind::Text),
        fh("principal", "Huvudman", Kind::Principal, PRINCIPAL_HINT),
        f("summary", "Ändring", Kind::Text),
    ],
    min_rows: 1,
};

const GROUPS: [&Group; 5] = [&MEETING, &PERSON, &BACKGROUND, &RESPONSIBILITY, &FOLLOW_UP];
const LISTS: [&List; 8] =
    [&GUARDIANS, &PRINCIPALS, &PARTICIPANTS, &NEEDS, &GOALS, &EFFORTS, &OTHER_MEASURES, &HISTORY];

/// No list is shown with more rows than this: a form asking for `efforts[100000]` gets 40.
const MAX_ROWS: usize = 40;

/// The order of the form: groups and lists as the rendered plan orders its sections.
#[derive(Clone, Copy, Debug)]
enum Part {
    Group(&'static Group),
    List(&'static List),
}

const FORM: [Part; 13] = [
    Part::Group(&MEETING),
    Part::Group(&PERSON),
    Part::List(&GUARDIANS),
    Part::List(&PRINCIPALS),
    Part::List(&PARTICIPANTS),
    Part::Group(&BACKGROUND),
    Part::List(&NEEDS),
    Part::List(&GOALS),
    Part::List(&EFFORTS),
    Part::List(&OTHER_MEASURES),
    Part::Group(&RESPONSIBILITY),
    Part::Group(&FOLLOW_UP),
    Part::List(&HISTORY),
];

fn list_named(key: &str) -> Option<&'static List> {
    LISTS.into_iter().find(|l| l.key == key)
}

/// `efforts[2].contact.name` → `f-efforts-2-contact-name`.
fn dom_id(key: &str) -> String {
    let mut id = String::with_capacity(key.len() + 2);
    id.push_str("f-");
    for c in key.chars() {
        match c {
            '.' | '[' | '_' => id.push('-'),
            ']' => {}
            c => id.push(c),
        }
    }
    id
}

// ---------------------------------------------------------------------------------------------
// The form's values, and the plan they make.

/// What the form holds: input name → value (trimmed). A ticked checkbox is present.
#[derive(Clone, Debug, Default)]
struct Values(BTreeMap<String, String>);

impl Values {
    fn from_form(form: &FormData) -> Self {
        let mut map = BTreeMap::new();
        for (k, v) in &form.0 {
            if k == "till" || k == "action" {
                continue;
            }
            map.entry(k.clone()).or_insert_with(|| v.trim().to_owned());
        }
        Values(map)
    }

    fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }

    fn ticked(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// How many rows of `list` the form has: one more than the highest index seen, at most
    /// [`MAX_ROWS`].
    fn rows(&self, list: &List) -> usize {
        let prefix = format!("{}[", list.key);
        self.0
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                let rest = &k[prefix.len()..];
                rest.split_once(']').and_then(|(n, _)| n.parse::<usize>().ok())
            })
            .filter(|&i| i < MAX_ROWS)
            .map(|i| i + 1)
            .max()
            .unwrap_or(0)
    }

    /// Sets the defaults of a new blank row.
    fn blank_row(&mut self, list: &List, i: usize) {
        for field in list.fields {
            if field.kind == Kind::Check {
                self.set(format!("{}[{i}].{}", list.key, field.key), "ja");
            }
        }
        // Rows are counted by their inputs: a row of a list without checkboxes needs one.
        let first = row_key(list, i, list.fields.first());
        self.0.entry(first).or_default();
    }

    /// Flattens a plan's JSON (the library's skeleton) into input values.
    fn from_json(v: &Value) -> Self {
        fn walk(out: &mut BTreeMap<String, String>, path: String, v: &Value) {
            match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                        walk(out, p, v);
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(out, format!("{path}[{i}]"), v);
                    }
                }
                Value::String(s) => {
                    out.insert(path, s.clone());
                }
                Value::Number(n) => {
                    out.insert(path, n.to_string());
                }
                Value::Bool(true) => {
                    out.insert(path, "ja".into());
                }
                Value::Bool(false) | Value::Null => {}
            }
        }
        let mut out = BTreeMap::new();
        walk(&mut out, String::new(), v);
        Values(out)
    }

    /// Gives every list at least its minimum of rows, the new ones blank.
    fn pad_rows(&mut self) {
        for list in LISTS {
            for i in self.rows(list)..list.min_rows {
                self.blank_row(list, i);
            }
        }
    }
}

fn row_key(list: &List, i: usize, field: Option<&Field>) -> String {
    match field {
        Some(field) => format!("{}[{i}].{}", list.key, field.key),
        None => format!("{}[{i}]", list.key),
    }
}

/// For each list, which form row each entry of the plan's list came from (blank rows are left out).
type RowMap = HashMap<&'static str, Vec<usize>>;

fn json_value(kind: Kind, values: &Values, key: &str) -> Value {
    match kind {
        Kind::Check => Value::Bool(values.ticked(key)),
        Kind::Number => {
            let s = values.get(key);
            // A number that does not parse is passed on as text: the library says what is wrong.
            s.parse::<u32>().map_or_else(|_| Value::String(s.to_owned()), Value::from)
        }
        _ => Value::String(values.get(key).to_owned()),
    }
}

/// Sets `path` (`coordinator.name`) in `obj`, making the objects on the way.
fn set_path(obj: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            obj.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = obj.entry(head.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                set_path(inner, rest, value);
            }
        }
    }
}

/// The plan's JSON as the form says it, for case `case`; and where each list entry came from.
fn plan_json(values: &Values, case: &CaseId) -> (Value, RowMap) {
    let mut root = Map::new();
    root.insert("type".into(), PLAN_TYPE.into());
    root.insert("version".into(), PLAN_VERSION.into());
    root.insert("case_id".into(), case.to_string().into());
    for group in GROUPS {
        for field in group.fields {
            set_path(&mut root, field.key, json_value(field.kind, values, field.key));
        }
    }
    let mut rows = RowMap::new();
    for list in LISTS {
        let mut items = Vec::new();
        let mut kept = Vec::new();
        for i in 0..values.rows(list) {
            if list.fields.is_empty() {
                let v = values.get(&row_key(list, i, None));
                if !v.is_empty() {
                    items.push(Value::String(v.to_owned()));
                    kept.push(i);
                }
                continue;
            }
            let blank = list
                .fields
                .iter()
                .filter(|f| f.kind != Kind::Check)
                .all(|f| values.get(&row_key(list, i, Some(f))).is_empty());
            if blank {
                continue;
            }
            let mut item = Map::new();
            for field in list.fields {
                let key = row_key(list, i, Some(field));
                set_path(&mut item, field.key, json_value(field.kind, values, &key));
            }
            // A measure by others may have no contact at all; an effort always has one.
            if list.key == OTHER_MEASURES.key
                && let Some(Value::Object(contact)) = item.get("contact")
                && contact.values().all(|v| v.as_str().is_some_and(str::is_empty))
            {
                item.remove("contact");
            }
            items.push(Value::Object(item));
            kept.push(i);
        }
        root.insert(list.key.into(), Value::Array(items));
        rows.insert(list.key, kept);
    }
    (Value::Object(root), rows)
}

/// The form's key for a field the library names: list indices are the form's rows.
fn form_key(field: &str, rows: &RowMap) -> String {
    if let Some((list, rest)) = field.split_once('[')
        && let Some((n, tail)) = rest.split_once(']')
        && let Ok(n) = n.parse::<usize>()
        && let Some(kept) = rows.get(list)
    {
        let row = kept.get(n).copied().unwrap_or(n);
        return format!("{list}[{row}]{tail}");
    }
    field.to_owned()
}

/// Where an input or a container of the form is, for people: "Insats 2: Kontaktperson".
fn describe_key(key: &str) -> Option<(String, &'static str)> {
    for group in GROUPS {
        if key == group.key {
            return Some((group.short.to_owned(), group.legend));
        }
        if let Some(field) = group.fields.iter().find(|f| f.key == key) {
            return Some((group.short.to_owned(), field.label));
        }
    }
    let (list_key, rest) = key.split_once('[').unwrap_or((key, ""));
    let list = list_named(list_key)?;
    if rest.is_empty() {
        return Some((list.legend.to_owned(), list.legend));
    }
    let (n, tail) = rest.split_once(']')?;
    let n: usize = n.parse().ok()?;
    let place = format!("{} {}", list.item, n + 1);
    match tail.strip_prefix('.') {
        None if tail.is_empty() => Some((place, list.item)),
        None => None,
        Some(sub) => list.fields.iter().find(|f| f.key == sub).map(|f| (place, f.label)),
    }
}

/// The library's Swedish sentence about `label`: "Namn är tomt; fyll i det."
fn sentence(label: &str, sv: &str) -> String {
    let starts_with_verb = ["är ", "ska ", "saknas", "ger ", "ligger "].iter().any(|v| sv.starts_with(v));
    let mut s = if starts_with_verb {
        format!("{label} {sv}")
    } else {
        let mut c = sv.chars();
        c.next().map(|first| first.to_uppercase().chain(c).collect()).unwrap_or_default()
    };
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// The problems of a plan, by the form key they belong to, in the library's order.
#[derive(Debug, Default)]
struct Problems {
    by_key: BTreeMap<String, Vec<String>>,
    /// (form key, "where: what") in the library's order, for the summary.
    summary: Vec<(String, String)>,
}

impl Problems {
    fn new(errors: &[PlanError], rows: &RowMap, live: bool) -> Self {
        let mut p = Problems::default();
        for e in errors {
            // Filled in as one goes: what is still empty is not yet a mistake.
            if live && matches!(e.code, PlanErrorCode::Empty | PlanErrorCode::Missing) {
                continue;
            }
            let key = form_key(&e.field, rows);
            let (place, label) = describe_key(&key).unwrap_or_else(|| ("Planen".to_owned(), "Planen"));
            let text = sentence(label, &e.sv);
            p.summary.push((key.clone(), format!("{place}: {text}")));
            p.by_key.entry(key).or_default().push(text);
        }
        p
    }

    fn add(&mut self, key: &str, place: &str, text: &str) {
        self.summary.push((key.to_owned(), format!("{place}: {text}")));
        self.by_key.entry(key.to_owned()).or_default().push(text.to_owned());
    }

    fn at(&self, key: &str) -> Option<String> {
        self.by_key.get(key).map(|m| m.join(" "))
    }

    fn is_empty(&self) -> bool {
        self.summary.is_empty()
    }
}

/// Reads and checks the plan the form makes, with the library's rules on today's date.
fn check_form(values: &Values, case: &CaseId, live: bool) -> (Result<Plan, Problems>, Vec<u8>) {
    let (json, rows) = plan_json(values, case);
    let bytes = serde_json::to_vec_pretty(&json).unwrap_or_default();
    match check(&bytes, plan::today()) {
        Ok(plan) => (Ok(plan), bytes),
        Err(errors) => (Err(Problems::new(&errors, &rows, live)), bytes),
    }
}

// ---------------------------------------------------------------------------------------------
// What the page knows about the case.

/// The case's principals and consents, for choices in the form; empty when the relay could not
/// be asked (the page says so).
#[derive(Debug, Default)]
struct CaseContext {
    /// Known principals (id, name): ours, then the case's participants.
    principals: Vec<(PrincipalId, String)>,
    /// Whom the plan can be sent to: the case's participants but us.
    recipients: Vec<(PrincipalId, String)>,
    /// The consents: (id, description, covers plans and is in force).
    consents: Vec<(String, String, bool)>,
    /// Why the case could not be read.
    unavailable: Option<WebError>,
}

fn kind_word(k: ContentKind) -> &'static str {
    match k {
        ContentKind::Plan => "SIP-plan",
        ContentKind::Meeting => "möte",
        ContentKind::Assessment => "bedömning",
        ContentKind::Attachment => "bilaga",
        ContentKind::Message => "meddelande",
        ContentKind::Consent => "samtycke",
    }
}

fn status_word(s: ConsentStatus) -> &'static str {
    match s {
        ConsentStatus::Active => "gäller",
        ConsentStatus::NotYetValid => "gäller inte än",
        ConsentStatus::Expired => "har gått ut",
        ConsentStatus::Withdrawn => "återkallat",
        ConsentStatus::Superseded => "ersatt av ett nyare",
    }
}

impl CaseContext {
    fn new(state: &AppState, case: Result<CaseInfo, ClientError>) -> Self {
        let id = state.session().profile().identity();
        let mut ctx = CaseContext {
            principals: vec![(id.principal.clone(), id.organisation.clone())],
            ..CaseContext::default()
        };
        let case = match case {
            Ok(c) => c,
            Err(e) => {
                ctx.unavailable = Some(WebError::from(e));
                return ctx;
            }
        };
        for p in &case.participants {
            let name = p.name.clone().unwrap_or_else(|| p.id.to_string());
            if p.id != id.principal {
                ctx.recipients.push((p.id.clone(), name.clone()));
                ctx.principals.push((p.id.clone(), name));
            }
        }
        for c in &case.consents {
            let in_force = c.status == ConsentStatus::Active
                && c.kinds.contains(&ContentKind::Plan)
                && !c.blocked_kinds.contains(&ContentKind::Plan);
            let kinds: Vec<&str> = c.kinds.iter().map(|k| kind_word(*k)).collect();
            let text = format!(
                "{} ({}; omfattar {}; till {})",
                c.consent_id,
                status_word(c.status),
                kinds.join(", "),
                layout::date(c.valid_until)
            );
            ctx.consents.push((c.consent_id.to_string(), text, in_force));
        }
        ctx
    }

    /// The consent a new plan is shared under: the one in force that covers plans, if only one does.
    fn default_consent(&self) -> Option<&str> {
        let mut usable = self.consents.iter().filter(|c| c.2);
        match (usable.next(), usable.next()) {
            (Some(c), None) => Some(&c.0),
            _ => None,
        }
    }
}

async fn case_context(state: &AppState, case: &CaseId) -> CaseContext {
    let info = state.session().case_show(case).await;
    CaseContext::new(state, info)
}

fn parse_case(case: &str) -> Result<CaseId, WebError> {
    CaseId::parse(case).map_err(|_| {
        WebError::not_found("Det finns inget ärende med det id:t. Ett ärende-id börjar med \"S-\".")
    })
}

// ---------------------------------------------------------------------------------------------
// Handlers.

/// What to show above the form.
#[derive(Debug, Default)]
struct Outcome {
    flashes: Vec<(FlashKind, String)>,
    /// A library error, in full.
    error: Option<WebError>,
    problems: Problems,
    /// The plan, previewed.
    preview: Option<Markup>,
}

async fn show(State(state): State<AppState>, Path(case): Path<String>) -> Result<Response, WebError> {
    let case = parse_case(&case)?;
    let mut ctx = case_context(&state, &case).await;
    if let Some(e) = ctx.unavailable.take_if(|e| e.status == StatusCode::NOT_FOUND) {
        return Err(e);
    }
    let id = state.session().profile().identity();
    let consent = ctx.default_consent().and_then(|c| samordna_core::ConsentId::parse(c).ok());
    let skeleton = plan::skeleton(plan::today(), Some(id), Some(&case), consent.as_ref());
    let mut values = Values::from_json(&skeleton);
    // The case's other principals are the plan's other principals, most likely.
    for (row, (p, name)) in ctx.principals.iter().enumerate().skip(1) {
        values.set(format!("principals[{row}].id"), p.to_string());
        values.set(format!("principals[{row}].name"), name.clone());
    }
    values.pad_rows();
    let checked: Vec<String> = ctx.recipients.iter().map(|(p, _)| p.to_string()).collect();
    let mut outcome = Outcome::default();
    if ctx.consents.is_empty() && ctx.unavailable.is_none() {
        outcome.flashes.push((
            FlashKind::Warning,
            "Ärendet har inget samtycke än. Planen kan fyllas i, men den kan inte skickas förrän ett samtycke \
             som omfattar SIP-planer är registrerat."
                .into(),
        ));
    }
    Ok(page(&state, &case, &ctx, &values, &checked, outcome).into_response())
}

async fn live_check(
    State(state): State<AppState>,
    Path(case): Path<String>,
    form: FormData,
) -> Result<Response, WebError> {
    let case = parse_case(&case)?;
    let values = Values::from_form(&form);
    let checked: Vec<String> = form.all("till").into_iter().map(str::to_owned).collect();
    let (result, _) = check_form(&values, &case, true);
    let mut outcome = Outcome::default();
    if let Err(problems) = result {
        outcome.problems = problems;
    }
    // No relay round trip for a check as one types: the choices come from the form itself.
    let ctx = CaseContext::default();
    Ok(page(&state, &case, &ctx, &values, &checked, outcome).into_response())
}

async fn submit(
    State(state): State<AppState>,
    Path(case): Path<String>,
    form: FormData,
) -> Result<Response, WebError> {
    let case = parse_case(&case)?;
    let mut values = Values::from_form(&form);
    let checked: Vec<String> = form.all("till").into_iter().map(str::to_owned).collect();
    let action = form.get("action").unwrap_or("kontrollera");
    let mut outcome = Outcome::default();

    if let Some(list) = action.strip_prefix("rad:").and_then(list_named) {
        let n = values.rows(list);
        if n < MAX_ROWS {
            values.blank_row(list, n);
        } else {
            outcome
                .flashes
                .push((FlashKind::Info, format!("{} kan ha högst {MAX_ROWS} rader.", list.legend)));
        }
        let ctx = case_context(&state, &case).await;
        return Ok(page(&state, &case, &ctx, &values, &checked, outcome).into_response());
    }

    let (result, _) = check_form(&values, &case, false);
    let plan = match result {
        Ok(plan) => plan,
        Err(problems) => {
            outcome.problems = problems;
            let n = outcome.problems.summary.len();
            let what = match action {
                "forhandsgranska" => "Planen kan förhandsgranskas när felen är rättade.",
                "pdf" => "En PDF kan göras när felen är rättade.",
                "skicka" => "Ingenting skickades. Rätta felen och skicka igen.",
                _ => "Rätta felen och kontrollera igen.",
            };
            let count = if n == 1 { "ett fel".to_owned() } else { format!("{n} fel") };
            outcome.flashes.push((FlashKind::Error, format!("Planen har {count}. {what}")));
            let ctx = case_context(&state, &case).await;
            return Ok(page(&state, &case, &ctx, &values, &checked, outcome).into_response());
        }
    };

    match action {
        "pdf" => {
            let rendered = tokio::task::spawn_blocking(move || plan::render(&plan, Format::Pdf, None)).await;
            match rendered.map_err(ClientError::from).and_then(|r| r) {
                Ok(bytes) => {
                    let disposition = format!("attachment; filename=\"sip-plan-{case}.pdf\"");
                    return Ok((
                        [
                            (header::CONTENT_TYPE, "application/pdf".to_owned()),
                            (header::CONTENT_DISPOSITION, disposition),
                        ],
                        bytes,
                    )
                        .into_response());
                }
                Err(e) => {
                    outcome.flashes.push((FlashKind::Error, "PDF:en kunde inte göras.".into()));
                    outcome.error = Some(WebError::from(e));
                }
            }
        }
        "forhandsgranska" => {
            outcome.flashes.push((
                FlashKind::Success,
                "Planen är giltig. Så här ser den ut för dem som får den.".into(),
            ));
            outcome.preview = Some(preview(&document::build(&plan)));
        }
        "skicka" => {
            let to: Result<Vec<PrincipalId>, _> = checked.iter().map(|p| PrincipalId::parse(p)).collect();
            match to {
                Ok(to) if !to.is_empty() => match send(&state, &case, &plan, to).await {
                    Ok(sent) => {
                        // Post/redirect/get: reloading the result page must not send the plan again.
                        let to = format!("/arende/{}/plan/skickat/{}", case, sent.envelope_id);
                        state.remember_sent(sent);
                        return Ok(Redirect::to(&to).into_response());
                    }
                    Err(e) => {
                        let (text, web) = explain(e);
                        outcome.flashes.push((FlashKind::Error, text));
                        outcome.error = Some(web);
                    }
                },
                Ok(_) => {
                    outcome.problems.add(
                        "till",
                        "Skicka till",
                        "Välj minst en huvudman att skicka planen till.",
                    );
                    outcome.flashes.push((FlashKind::Error, "Ingenting skickades.".into()));
                }
                Err(_) => {
                    outcome.problems.add(
                        "till",
                        "Skicka till",
                        "En mottagare är inget giltigt huvudmans-id.",
                    );
                    outcome.flashes.push((FlashKind::Error, "Ingenting skickades.".into()));
                }
            }
        }
        _ => {
            outcome.flashes.push((
                FlashKind::Success,
                format!("Planen är giltig (kontrollerad {}).", document::date(plan::today())),
            ));
        }
    }
    let ctx = case_context(&state, &case).await;
    Ok(page(&state, &case, &ctx, &values, &checked, outcome).into_response())
}

/// Sends the checked plan as `samordna send --kind plan` does: from a file, under the consent the
/// plan names.
async fn send(
    state: &AppState,
    case: &CaseId,
    plan: &Plan,
    to: Vec<PrincipalId>,
) -> Result<SendResult, ClientError> {
    let dir = tempfile::tempdir()
        .map_err(|e| ClientError::Internal(format!("no temporary directory for the plan: {e}")))?;
    let file = dir.path().join("sip-plan.json");
    let bytes = serde_json::to_vec_pretty(plan)
        .map_err(|e| ClientError::Internal(format!("the plan could not be written as JSON: {e}")))?;
    plan::write_output(&file, &bytes, false)?;
    let req = SendRequest {
        file,
        case_id: case.clone(),
        to,
        kind: ContentKind::Plan,
        consent: Some(plan.consent_id.clone()),
    };
    state.session().send(&req).await
}

/// A refusal in plain Swedish, by the library's stable code, when there is one to say.
pub(crate) fn refusal_text(e: &ClientError) -> Option<&'static str> {
    Some(match e.code().as_str() {
        "no_consent" => "Inget gällande samtycke i ärendet tillåter detta utbyte. Ingenting skickades.",
        "consent_withdrawn" => "Samtycket är återkallat. Ingenting skickades.",
        "consent_expired" => {
            "Samtycket har gått ut. Ingenting skickades; registrera ett nytt samtycke först."
        }
        "consent_not_yet_valid" => "Samtycket gäller inte än. Ingenting skickades.",
        "consent_superseded" => {
            "Samtycket är ersatt av ett nyare. Ingenting skickades; välj det nya samtycket."
        }
        "consent_other_case" => "Samtycket hör till ett annat ärende. Ingenting skickades.",
        "recipient_not_a_party" => "En mottagare omfattas inte av samtycket. Ingenting skickades.",
        "not_a_party" => "Din organisation omfattas inte av samtycket. Ingenting skickades.",
        "kind_not_covered" => "Samtycket omfattar inte den här sortens uppgifter. Ingenting skickades.",
        "party_blocked" => "En spärr hindrar utbyte med en av mottagarna. Ingenting skickades.",
        "kind_blocked" => "En spärr hindrar utbyte av den här sortens uppgifter. Ingenting skickades.",
        "case_closed" => "Ärendet är stängt för nya dokument. Ingenting skickades.",
        "recipient_unknown" => {
            "En mottagare är inte registrerad hos reläet, eller är avstängd. Ingenting skickades."
        }
        "no_encryption_key" => {
            "En mottagare har ingen krypteringsnyckel än. Ingenting skickades; be dem skapa en."
        }
        "attestation_invalid" => {
            "En mottagares krypteringsnyckel kunde inte verifieras. Ingenting skickades; kontakta reläets \
             operatör."
        }
        "consent_ambiguous" => "Flera samtycken passar. Välj vilket samtycke som ska gälla.",
        "plan_invalid" | "plan_case_mismatch" => "Planen godtogs inte. Ingenting skickades.",
        "unreachable" | "timeout" => "Reläet kunde inte nås. Ingenting skickades; försök igen om en stund.",
        _ => return None,
    })
}

/// The flash text and the full error for a library error.
pub(crate) fn explain(e: ClientError) -> (String, WebError) {
    let text = refusal_text(&e).map(str::to_owned);
    let web = WebError::from(e);
    (text.unwrap_or_else(|| web.message.clone()), web)
}

// ---------------------------------------------------------------------------------------------
// Rendering.

fn page(
    state: &AppState,
    case: &CaseId,
    ctx: &CaseContext,
    values: &Values,
    checked: &[String],
    outcome: Outcome,
) -> Markup {
    layout::page(state, "SIP-plan", Nav::Cases, body(case, ctx, values, checked, &outcome))
}

fn body(case: &CaseId, ctx: &CaseContext, values: &Values, checked: &[String], outcome: &Outcome) -> Markup {
    let base = format!("/arende/{case}/plan");
    let back = format!("/arende/{case}");
    html! {
        h1 { "SIP-plan" }
        p.ledtext {
            "Ärende " code { (case) } ". "
            a href=(back) { "Tillbaka till ärendet" }
        }
        @if let Some(e) = &ctx.unavailable {
            (layout::flash(FlashKind::Warning, &format!(
                "Ärendet kunde inte läsas från reläet, så samtycken och mottagare saknas i formuläret. {}",
                e.message
            )))
        }
        @if let Some(doc) = &outcome.preview {
            section.forhandsgranskning id="forhandsgranskning" aria-labelledby="forhandsgranskning-rubrik" {
                h2 id="forhandsgranskning-rubrik" { "Förhandsgranskning" }
                (doc)
            }
        }
        form method="post" action=(base) data-kontroll=(format!("{base}/kontroll")) novalidate {
            // Enter in a field checks the plan: the first submit button is the form's default.
            button type="submit" name="action" value="kontrollera" hidden tabindex="-1" { "Kontrollera" }
            div id="f-sammanfattning-forklaring" data-forklaring {
                @for (kind, text) in &outcome.flashes {
                    (layout::flash(*kind, text))
                }
                @if let Some(e) = &outcome.error {
                    p { "Besked: " span lang="en" { (e.detail.as_deref().unwrap_or("")) } }
                    @if let Some(code) = &e.code { p { "Felkod: " code { (code) } } }
                }
                @if !outcome.problems.is_empty() {
                    div.panel role="region" aria-labelledby="fel-rubrik" {
                        h2 id="fel-rubrik" { "Det här behöver rättas" }
                        ul {
                            @for (key, text) in &outcome.problems.summary {
                                @if describe_key(key).is_some() || key == "till" {
                                    li { a href=(format!("#{}", dom_id(key))) { (text) } }
                                } @else {
                                    li { (text) }
                                }
                            }
                        }
                    }
                }
            }
            datalist id="huvudman-lista" {
                @for (p, name) in &ctx.principals {
                    option value=(p) { (name) }
                }
            }
            @for part in FORM {
                @match part {
                    Part::Group(g) => (group(g, ctx, values, &outcome.problems)),
                    Part::List(l) => (list(l, &base, values, &outcome.problems)),
                }
            }
            (recipients(ctx, checked, &outcome.problems))
            div.knappar {
                button type="submit" name="action" value="kontrollera" { "Kontrollera" }
                button.sekundar type="submit" name="action" value="forhandsgranska"
                    formaction=(format!("{base}#forhandsgranskning")) { "Förhandsgranska" }
                button.sekundar type="submit" name="action" value="pdf" { "Ladda ner PDF" }
                button type="submit" name="action" value="skicka" { "Skicka" }
            }
        }
    }
}

/// The slot for the errors of `key`: always there, so the live check can fill it.
fn error_slot(key: &str, problems: &Problems) -> Markup {
    let id = dom_id(key);
    html! {
        div id=(format!("{id}-forklaring")) data-forklaring {
            (layout::field_error(&id, problems.at(key).as_deref()))
        }
    }
}

fn group(g: &Group, ctx: &CaseContext, values: &Values, problems: &Problems) -> Markup {
    html! {
        fieldset id=(dom_id(g.key)) {
            legend { h2 { (g.legend) } }
            (error_slot(g.key, problems))
            @for field in g.fields {
                (input(field.key, field, ctx, values, problems))
            }
        }
    }
}

fn list(l: &List, base: &str, values: &Values, problems: &Problems) -> Markup {
    let rows = values.rows(l).max(1);
    let none = CaseContext::default();
    html! {
        fieldset id=(dom_id(l.key)) {
            legend { h2 { (l.legend) } }
            @if let Some(h) = l.hint { p.hjalp { (h) } }
            (error_slot(l.key, problems))
            @for i in 0..rows {
                @if l.fields.is_empty() {
                    @let key = row_key(l, i, None);
                    @let field = Field { key: "", label: l.item, kind: Kind::Text, hint: None };
                    (input(&key, &field, &none, values, problems))
                } @else {
                    @let row = row_key(l, i, None);
                    fieldset.rad id=(dom_id(&row)) {
                        legend { (l.item) " " (i + 1) }
                        (error_slot(&row, problems))
                        @for field in l.fields {
                            (input(&row_key(l, i, Some(field)), field, &none, values, problems))
                        }
                    }
                }
            }
            button.sekundar type="submit" name="action" value=(format!("rad:{}", l.key))
                formaction=(format!("{base}#{}", dom_id(l.key)))
                aria-label=(format!("Lägg till rad i {}", l.legend.to_lowercase())) { "Lägg till rad" }
        }
    }
}

/// One input with its label, hint and error.
fn input(key: &str, field: &Field, ctx: &CaseContext, values: &Values, problems: &Problems) -> Markup {
    let id = dom_id(key);
    let error = problems.at(key);
    let hint_id = format!("{id}-hjalp");
    // The error slot is always there (the live check fills it), so the field always points at it.
    let described = match field.hint {
        Some(_) => format!("{hint_id} {id}-forklaring"),
        None => format!("{id}-forklaring"),
    };
    let described = Some(described);
    let invalid = error.as_ref().map(|_| "true");
    let label = match key.split_once('[') {
        // A row of a one-text list: "Behov 2".
        Some((_, rest)) if field.key.is_empty() => {
            let n = rest.split_once(']').and_then(|(n, _)| n.parse::<usize>().ok()).unwrap_or(0);
            format!("{} {}", field.label, n + 1)
        }
        _ => field.label.to_owned(),
    };
    let value = values.get(key);
    html! {
        div.falt {
            @if field.kind == Kind::Check {
                label.val for=(id) {
                    input type="checkbox" id=(id) name=(key) value="ja" checked[values.ticked(key)]
                        aria-describedby=[described.as_deref()] aria-invalid=[invalid];
                    (label)
                }
            } @else {
                label for=(id) { (label) }
            }
            @if let Some(h) = field.hint {
                p.hjalp id=(hint_id) { (h) }
            }
            div id=(format!("{id}-forklaring")) data-forklaring {
                (layout::field_error(&id, error.as_deref()))
            }
            @match field.kind {
                Kind::Check => {}
                Kind::Area => {
                    textarea id=(id) name=(key) rows="4" aria-describedby=[described.as_deref()]
                        aria-invalid=[invalid] { (value) }
                }
                Kind::Consent if !ctx.consents.is_empty() => {
                    select id=(id) name=(key) aria-describedby=[described.as_deref()] aria-invalid=[invalid] {
                        option value="" selected[value.is_empty()] { "Välj samtycke" }
                        @if !value.is_empty() && !ctx.consents.iter().any(|c| c.0 == value) {
                            option value=(value) selected { (value) }
                        }
                        @for (cid, text, _) in &ctx.consents {
                            option value=(cid) selected[cid == value] { (text) }
                        }
                    }
                }
                Kind::Principal => {
                    input type="text" id=(id) name=(key) value=(value) list="huvudman-lista" autocomplete="off"
                        spellcheck="false" aria-describedby=[described.as_deref()] aria-invalid=[invalid];
                }
                Kind::Number => {
                    input type="text" inputmode="numeric" id=(id) name=(key) value=(value) autocomplete="off"
                        aria-describedby=[described.as_deref()] aria-invalid=[invalid];
                }
                _ => {
                    input type="text" id=(id) name=(key) value=(value) autocomplete="off"
                        aria-describedby=[described.as_deref()] aria-invalid=[invalid];
                }
            }
        }
    }
}

fn recipients(ctx: &CaseContext, checked: &[String], problems: &Problems) -> Markup {
    html! {
        fieldset id=(dom_id("till")) {
            legend { h2 { "Skicka planen" } }
            p.hjalp id="f-till-hjalp" {
                "Planen signeras, krypteras och skickas bara till de huvudmän du väljer. "
                "Samtycket som planen anger måste omfatta dem och SIP-planer."
            }
            (error_slot("till", problems))
            @if ctx.recipients.is_empty() {
                p { "Det finns inga andra huvudmän i ärendet att skicka till." }
            }
            @for (n, (p, name)) in ctx.recipients.iter().enumerate() {
                @let id = format!("f-till-{n}");
                label.val for=(id) {
                    input type="checkbox" id=(id) name="till" value=(p)
                        checked[checked.iter().any(|c| *c == p.as_str())]
                        aria-describedby="f-till-hjalp";
                    (name) " (" (p) ")"
                }
            }
            @if ctx.recipients.is_empty() {
                // Keep what was ticked when the case could not be read.
                @for p in checked {
                    input type="hidden" name="till" value=(p);
                }
            }
        }
    }
}

/// The plan as its recipients will read it: the library's document, laid out here (the page's
/// own headings continue below its `<h1>`). Every text is escaped by the template.
fn preview(doc: &document::Document) -> Markup {
    let cell = |c: &Cell| {
        html! {
            (c.main)
            @for e in &c.extra { br; span.hjalp { (e) } }
        }
    };
    html! {
        div.plan-dokument {
            h3 { (doc.title) }
            dl.uppgifter {
                @for (label, value) in &doc.summary { dt { (label) } dd { (value) } }
            }
            @for section in &doc.sections {
                h4 { (section.heading) }
                @for block in &section.blocks {
                    @match block {
                        Block::Fields(items) => {
                            dl.uppgifter {
                                @for (label, value) in items { dt { (label) } dd { (value) } }
                            }
                        }
                        Block::Paragraph(text) => p { (text) },
                        Block::Subheading(text) => h5 { (text) },
                        Block::List(items) => ul { @for item in items { li { (item) } } },
                        Block::Table { columns, rows, .. } => {
                            table {
                                thead { tr { @for c in columns { th scope="col" { (c) } } } }
                                tbody {
                                    @for row in rows { tr { @for c in row { td { (cell(c)) } } } }
                                }
                            }
                        }
                    }
                }
            }
            p.hjalp { (doc.running_footer) }
            p.hjalp { (doc.closing) }
        }
    }
}

fn sent_page(state: &AppState, case: &CaseId, sent: &SendResult) -> Markup {
    let to: Vec<String> = sent.recipients.iter().map(|r| r.principal.to_string()).collect();
    let text = format!(
        "Skickat {} till {} under samtycke {}.{}",
        sent.envelope_id,
        to.join(" och "),
        sent.consent_id,
        if sent.duplicate { " Reläet hade redan tagit emot det." } else { "" }
    );
    let body = html! {
        h1 { "Planen är skickad" }
        (layout::flash(FlashKind::Success, &text))
        dl.uppgifter {
            dt { "Kuvert" } dd { code { (sent.envelope_id) } }
            dt { "Ärende" } dd { code { (sent.case_id) } }
            dt { "Samtycke" } dd { code { (sent.consent_id) } }
            dt { "Mottagare" } dd { (to.join(", ")) }
            dt { "Lagrat hos reläet" } dd { (layout::time(sent.stored_at)) }
        }
        @for s in &sent.skipped_keys {
            (layout::flash(FlashKind::Warning, &format!(
                "En nyckel för {} användes inte eftersom den inte kunde verifieras ({}).", s.principal, s.reason
            )))
        }
        p { a href=(format!("/arende/{case}")) { "Tillbaka till ärendet" } }
    };
    layout::page(state, "Planen är skickad", Nav::Cases, body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use samordna_core::plan::validate;

    use super::*;

    const CASE: &str = "S-01JDQ7K9X2M4N6P8R0T2V4W6Y8";

    fn case() -> CaseId {
        CaseId::parse(CASE).unwrap()
    }

    /// A form filled in as a person would, with spare blank rows left blank.
    fn filled() -> Values {
        let today = document::date(plan::today());
        let follow = document::date(plan::today() + time::Duration::days(90));
        let mut v = Values::default();
        for (k, val) in [
            ("consent_id", "K-7F45WHC15KAWSY758K8084K3B5"),
            ("revision", "1"),
            ("meeting.date", today.as_str()),
            ("person.name", "Tolvan Tolvansson"),
            ("person.personnummer", "19121212-1212"),
            ("person.phone", "013-12 12 12"),
            ("principals[0].id", "SE2120000449"),
            ("principals[0].name", "Linköpings kommun"),
            ("principals[1].id", ""),
            ("principals[2].id", "SE2321000032"),
            ("principals[2].name", "Region Östergötland"),
            ("participants[0].name", "Tolvan Tolvansson"),
            ("participants[0].role", "Den enskilde"),
            ("participants[0].present", "ja"),
            ("participants[1].name", "Karin Berg"),
            ("participants[1].role", "Biståndshandläggare"),
            ("participants[1].principal", "SE2120000449"),
            ("participants[2].name", "Anna Lind"),
            ("participants[2].role", "Sjuksköterska"),
            ("participants[2].principal", "SE2321000032"),
            ("participants[3].present", "ja"),
            ("background", "Bakgrund."),
            ("needs[0]", ""),
            ("needs[1]", "Hjälp hemma"),
            ("goals[0]", "Bo kvar hemma"),
            ("efforts[0].what", "Hemtjänst"),
            ("efforts[0].responsible_principal", "SE2120000449"),
            ("efforts[0].from", today.as_str()),
            ("efforts[0].contact.name", "Karin Berg"),
            ("efforts[1].what", ""),
            ("other_measures[0].what", "Aktivitetsersättning"),
            ("other_measures[0].by", "Försäkringskassan"),
            ("lead_principal", "SE2120000449"),
            ("coordinator.name", "Karin Berg"),
            ("coordinator.principal", "SE2120000449"),
            ("follow_up.date", follow.as_str()),
            ("follow_up.how", "Nytt möte"),
            ("follow_up.evaluation", "Vi går igenom målen."),
            ("history[0].revision", "1"),
            ("history[0].date", today.as_str()),
            ("history[0].by", "Karin Berg"),
            ("history[0].summary", "Planen upprättad."),
        ] {
            v.set(k, val);
        }
        v
    }

    #[test]
    fn a_filled_in_form_is_a_valid_plan_without_its_blank_rows() {
        let (json, rows) = plan_json(&filled(), &case());
        let plan = Plan::from_value(&json).unwrap_or_else(|e| panic!("{e:#?}"));
        validate(&plan, plan::today()).unwrap();
        assert_eq!(plan.needs, ["Hjälp hemma"]);
        assert_eq!(plan.principals.len(), 2);
        assert_eq!(plan.participants.len(), 3, "the blank fourth row is not a participant");
        assert!(plan.other_measures[0].contact.is_none(), "an empty contact is no contact");
        assert_eq!(plan.case_id, Some(case()));
        assert_eq!(rows["principals"], [0, 2]);
        // What `send` writes is a plan the library reads back the same.
        let again = serde_json::to_vec(&plan).unwrap();
        assert_eq!(check(&again, plan::today()).unwrap(), plan);
    }

    #[test]
    fn errors_land_on_the_rows_of_the_form() {
        let mut v = filled();
        v.set("principals[2].id", "SE123");
        v.set("efforts[3].what", "Stöd i skolan");
        let (result, _) = check_form(&v, &case(), false);
        let problems = result.unwrap_err();
        // principals[1] of the plan is row 2 of the form; efforts[1] is row 3.
        assert!(problems.at("principals[2].id").is_some(), "{problems:#?}");
        assert!(problems.at("efforts[3].responsible_principal").is_some(), "{problems:#?}");
        assert!(problems.at("efforts[1].responsible_principal").is_none());
        let (_, text) = problems.summary.iter().find(|(k, _)| k == "efforts[3].from").unwrap();
        assert!(text.starts_with("Insats 4: Från är tomt"), "{text}");
        // The personnummer is never repeated in a message.
        let mut v = filled();
        v.set("person.personnummer", "19121212-1213");
        let problems = check_form(&v, &case(), false).0.unwrap_err();
        assert!(problems.summary.iter().all(|(_, t)| !t.contains("1212")), "{problems:#?}");
        let msg = problems.at("person.personnummer").unwrap();
        assert!(msg.contains("Kontrollsiffran"), "{msg}");
    }

    #[test]
    fn the_live_check_does_not_call_empty_fields_wrong() {
        let mut v = Values::default();
        v.set("person.email", "inte en adress");
        let problems = check_form(&v, &case(), true).0.unwrap_err();
        assert!(problems.at("person.email").is_some());
        assert!(problems.at("person.name").is_none());
        let all = check_form(&v, &case(), false).0.unwrap_err();
        assert!(all.at("person.name").unwrap().starts_with("Namn är tomt"));
    }

    #[test]
    fn the_skeleton_fills_the_form_and_rows_are_counted_and_capped() {
        let skeleton = plan::skeleton(plan::today(), None, Some(&case()), None);
        let mut v = Values::from_json(&skeleton);
        assert_eq!(v.get("participants[0].role"), "Den enskilde");
        assert!(v.ticked("participants[0].present"));
        assert_eq!(v.rows(&PARTICIPANTS), 3);
        assert_eq!(v.rows(&GUARDIANS), 0);
        v.pad_rows();
        assert_eq!(v.rows(&GUARDIANS), 2);
        assert_eq!(v.rows(&NEEDS), 3);
        assert!(v.ticked("guardians[1].custody"));
        v.set("efforts[99999].what", "x");
        assert_eq!(v.rows(&EFFORTS), 3);
        assert_eq!(
            form_key("efforts[1].contact.name", &HashMap::from([("efforts", vec![0, 4])])),
            "efforts[4].contact.name"
        );
        assert_eq!(dom_id("efforts[2].contact.hsa_id"), "f-efforts-2-contact-hsa-id");
    }

    #[test]
    fn fields_carry_labels_hints_and_errors() {
        let mut v = filled();
        v.set("person.email", "fel");
        let problems = check_form(&v, &case(), false).0.unwrap_err();
        let html =
            body(&case(), &CaseContext::default(), &v, &[], &Outcome { problems, ..Outcome::default() })
                .into_string();
        assert_eq!(html.matches("<h1>").count(), 1);
        assert!(html.contains(r#"<label for="f-person-email">E-post</label>"#), "{html}");
        assert!(
            html.contains(r#"aria-describedby="f-person-email-forklaring" aria-invalid="true""#),
            "{html}"
        );
        assert!(html.contains(r#"<p id="f-person-email-fel" class="fel">"#));
        assert!(html.contains(r##"href="#f-person-email""##));
        assert!(html.contains(r#"name="efforts[1].contact.name""#));
        assert!(html.contains(r#"value="rad:efforts""#));
        for input in html.split("<input").skip(1) {
            let id = input.split("id=\"").nth(1).and_then(|s| s.split('"').next());
            if let Some(id) = id.filter(|_| !input.contains("type=\"hidden\"")) {
                assert!(html.contains(&format!("for=\"{id}\"")), "no label for {id}");
            }
        }
    }

    #[test]
    fn the_preview_escapes_what_was_written() {
        let mut v = filled();
        v.set("background", "<script>alert(1)</script>");
        let plan = check_form(&v, &case(), false).0.unwrap();
        let html = preview(&document::build(&plan)).into_string();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<h1"), "the page has the only h1");
    }
}
