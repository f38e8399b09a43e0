//! The SIP plan document, format v1: the model, its parser and its rules.
//!
//! The normative description, field by field, is `docs/spec/sip-plan-v1.md`; the JSON Schema
//! `docs/spec/sip-plan-v1.schema.json` describes the same shape for other systems. The content
//! follows what the law asks of a plan (16 kap. 4 § HSL and the corresponding provision of the
//! Social Services Act: the efforts needed, which principal answers for which, measures by others
//! than region and municipality, which principal has the overall responsibility) and the common
//! SIP template (the person, guardians, participants, background, needs, the person's own goals,
//! the coordinating contact, follow-up, consent, version).
//!
//! Two steps, both pure:
//!
//! 1. [`Plan::from_json`] reads the document: every required field present, no unknown field,
//!    every value of the right type and form (identifiers, dates, the personnummer). It reports
//!    **every** problem at once, each naming its field (`efforts[2].responsible_principal`) in
//!    English and Swedish, and never repeats what was written there. `Deserialize` goes through
//!    the same reader, so there is one parser: unknown fields are refused as `deny_unknown_fields`
//!    would, with better messages.
//! 2. [`validate`] checks the rules between fields against a reference date the caller passes
//!    (core has no clock): a child has guardians, principals named are participants, dates are in
//!    order.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use time::Date;

use crate::{
    id::{CaseId, ConsentId, HsaId, IdError, PrincipalId},
    personnummer::Personnummer,
};

/// The `type` of every plan document.
pub const PLAN_TYPE: &str = "samordna-sip-plan";
/// The format version this code reads and writes.
pub const PLAN_VERSION: u8 = 1;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// `YYYY-MM-DD`, the only way a plan writes a date.
const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// The `type` of a plan: always `samordna-sip-plan`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum PlanType {
    /// The only value.
    #[default]
    #[serde(rename = "samordna-sip-plan")]
    SipPlan,
}

/// A coordinated individual plan (*samordnad individuell plan*).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Always `samordna-sip-plan`.
    #[serde(rename = "type")]
    pub plan_type: PlanType,
    /// Format version, 1.
    pub version: u8,
    /// The Samordna case the plan belongs to; `send` refuses to send it in another case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<CaseId>,
    /// The consent under which the plan is shared (*samtycke*).
    pub consent_id: ConsentId,
    /// The plan's own version, 1 for the first; the last entry of `history` has the same number.
    pub revision: u32,
    /// The SIP meeting at which the plan was drawn up.
    pub meeting: Meeting,
    /// The person the plan is for.
    pub person: Person,
    /// For a child: the guardians (*vårdnadshavare*).
    pub guardians: Vec<Guardian>,
    /// The principals (*huvudmän*) taking part, with their names.
    pub principals: Vec<Principal>,
    /// Who took part in drawing up the plan, with their roles.
    pub participants: Vec<Participant>,
    /// Background and present situation (*bakgrund och nuläge*).
    pub background: String,
    /// The needs the plan answers (*behov*).
    pub needs: Vec<String>,
    /// The person's own goals, in their words (*den enskildes mål*).
    pub goals: Vec<String>,
    /// The person's wishes and views (*önskemål och synpunkter*).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wishes: Option<String>,
    /// For a child: the child's own view (*barnets egen uppfattning*).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_view: Option<String>,
    /// The efforts (*insatser*) and who answers for each.
    pub efforts: Vec<Effort>,
    /// Measures by others than the region and the municipality (*åtgärder av andra*).
    pub other_measures: Vec<OtherMeasure>,
    /// The principal with the overall responsibility for the plan (*övergripande ansvar*).
    pub lead_principal: PrincipalId,
    /// The coordinating contact person (*samordnande kontaktperson*).
    pub coordinator: Coordinator,
    /// When and how the plan is followed up.
    pub follow_up: FollowUp,
    /// The plan's versions, oldest first (*versioner och ändringar*).
    pub history: Vec<Change>,
}

/// The SIP meeting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Meeting {
    /// The day of the meeting.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// Where it was held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
}

/// The person the plan is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Person {
    /// Full name.
    pub name: String,
    /// Personnummer or samordningsnummer, `YYYYMMDD-NNNN`.
    pub personnummer: Personnummer,
    /// Postal address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Telephone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A guardian of a child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Guardian {
    /// Full name.
    pub name: String,
    /// How they are related (*mamma*, *pappa*, *särskilt förordnad vårdnadshavare*…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// Has custody (*vårdnad*): acts for the child and must consent.
    pub custody: bool,
    /// Postal address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Telephone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A principal taking part, and its name for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The principal id (`SE` + organisation number).
    pub id: PrincipalId,
    /// Its name (*Region Östergötland*).
    pub name: String,
}

/// Someone who took part in drawing up the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Full name.
    pub name: String,
    /// Role (*socialsekreterare*, *distriktssköterska*, *den enskilde*, *mamma*…).
    pub role: String,
    /// The principal they represent; absent for the person, relatives and others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<PrincipalId>,
    /// Their unit (*Vårdcentralen Ekholmen*).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// HSA-id, for staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hsa_id: Option<HsaId>,
    /// Telephone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Was at the meeting (default true).
    pub present: bool,
}

/// A contact person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// Full name.
    pub name: String,
    /// Role or title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Telephone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// HSA-id, for staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hsa_id: Option<HsaId>,
}

/// An effort (*insats*) by one of the principals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Effort {
    /// What is done.
    pub what: String,
    /// What it aims at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// The principal that answers for it: one of the participants' principals.
    pub responsible_principal: PrincipalId,
    /// The unit that carries it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// From when.
    #[serde(with = "iso_date")]
    pub from: Date,
    /// Until when, if it ends.
    #[serde(with = "iso_date::option", skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// Whom to ask about it.
    pub contact: Contact,
}

/// A measure by someone other than the region and the municipality (an agency, a relative, an
/// association…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OtherMeasure {
    /// What is done.
    pub what: String,
    /// By whom (*Försäkringskassan*, *mamma*…).
    pub by: String,
    /// From when.
    #[serde(with = "iso_date::option", skip_serializing_if = "Option::is_none")]
    pub from: Option<Date>,
    /// Until when.
    #[serde(with = "iso_date::option", skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// Whom to ask about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
}

/// The coordinating contact person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coordinator {
    /// Full name.
    pub name: String,
    /// Role or title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The principal they work for: one of the participants' principals.
    pub principal: PrincipalId,
    /// Telephone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// HSA-id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hsa_id: Option<HsaId>,
}

/// Follow-up (*uppföljning*).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    /// When: after the meeting.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// How (a new SIP meeting, a call…).
    pub how: String,
    /// How the results are evaluated.
    pub evaluation: String,
}

/// One version of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The plan's revision this entry made.
    pub revision: u32,
    /// When.
    #[serde(with = "iso_date")]
    pub date: Date,
    /// By whom (name).
    pub by: String,
    /// For which principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<PrincipalId>,
    /// What was changed.
    pub summary: String,
}

impl Plan {
    /// Reads a plan document: every problem of form, each naming its field, or the plan.
    /// The rules between fields are [`validate`]'s.
    pub fn from_json(bytes: &[u8]) -> Result<Plan, Vec<PlanError>> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            // serde_json's syntax errors name a position, never the text.
            let (line, column) = (e.line(), e.column());
            vec![PlanError::new(
                "",
                PlanErrorCode::Syntax,
                format!("the file is not valid JSON (line {line}, column {column})"),
                format!("filen är inte giltig JSON (rad {line}, kolumn {column})"),
            )]
        })?;
        Self::from_value(&value)
    }

    /// Like [`Plan::from_json`], from a parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Plan, Vec<PlanError>> {
        let mut r = Reader::default();
        match read_plan(&mut r, value) {
            Some(plan) if r.errors.is_empty() => Ok(plan),
            _ => Err(r.errors),
        }
    }

    /// The name of a principal of the plan, if `principals` lists it.
    pub fn principal_name(&self, id: &PrincipalId) -> Option<&str> {
        self.principals.iter().find(|p| p.id == *id).map(|p| p.name.as_str())
    }

    /// Whether the person is a child (under 18) on `date`.
    pub fn is_child_on(&self, date: Date) -> bool {
        self.person.personnummer.is_child_on(date)
    }
}

impl<'de> Deserialize<'de> for Plan {
    /// Through [`Plan::from_value`]: the first problem becomes the error.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Plan::from_value(&value).map_err(|errors| {
            let more = errors.len().saturating_sub(1);
            let first = errors.first().map_or_else(String::new, ToString::to_string);
            if more == 0 {
                serde::de::Error::custom(first)
            } else {
                serde::de::Error::custom(format!("{first} (and {more} more)"))
            }
        })
    }
}

/// What kind of problem a [`PlanError`] is. Stable codes, for programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanErrorCode {
    /// The file is not JSON.
    Syntax,
    /// The document is not a Samordna SIP plan (`type`).
    NotAPlan,
    /// A format version this code does not read.
    Version,
    /// A required field is absent.
    Missing,
    /// A field the format does not have.
    UnknownField,
    /// A value of the wrong JSON type.
    WrongType,
    /// A required text or list is empty.
    Empty,
    /// A value of the wrong form: an identifier, a date, a personnummer, an e-mail address.
    Invalid,
    /// A principal listed twice.
    Duplicate,
    /// A participant's principal is not in `principals`.
    UnknownPrincipal,
    /// A principal in `principals` without a participant.
    PrincipalWithoutParticipant,
    /// Fewer than two principals take part.
    TooFewPrincipals,
    /// A principal named as responsible, lead or coordinator is not among the participants.
    NotAParticipant,
    /// The lead principal is neither a region nor a municipality.
    LeadNotRegionOrMunicipality,
    /// A child without a guardian with custody.
    GuardianMissing,
    /// A child whose own view is not recorded.
    ChildViewMissing,
    /// Guardians listed for an adult.
    GuardiansOfAdult,
    /// Nobody can be reached: no address, telephone or e-mail.
    NoContact,
    /// Dates in the wrong order.
    DateOrder,
    /// A date after the reference date where only the past makes sense.
    DateInFuture,
    /// The change history does not match the revision.
    History,
}

impl PlanErrorCode {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanErrorCode::Syntax => "syntax",
            PlanErrorCode::NotAPlan => "not_a_plan",
            PlanErrorCode::Version => "version",
            PlanErrorCode::Missing => "missing",
            PlanErrorCode::UnknownField => "unknown_field",
            PlanErrorCode::WrongType => "wrong_type",
            PlanErrorCode::Empty => "empty",
            PlanErrorCode::Invalid => "invalid",
            PlanErrorCode::Duplicate => "duplicate",
            PlanErrorCode::UnknownPrincipal => "unknown_principal",
            PlanErrorCode::PrincipalWithoutParticipant => "principal_without_participant",
            PlanErrorCode::TooFewPrincipals => "too_few_principals",
            PlanErrorCode::NotAParticipant => "not_a_participant",
            PlanErrorCode::LeadNotRegionOrMunicipality => "lead_not_region_or_municipality",
            PlanErrorCode::GuardianMissing => "guardian_missing",
            PlanErrorCode::ChildViewMissing => "child_view_missing",
            PlanErrorCode::GuardiansOfAdult => "guardians_of_adult",
            PlanErrorCode::NoContact => "no_contact",
            PlanErrorCode::DateOrder => "date_order",
            PlanErrorCode::DateInFuture => "date_in_future",
            PlanErrorCode::History => "history",
        }
    }
}

impl fmt::Display for PlanErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with a plan: the field, a stable code, and what is wrong in English and Swedish.
/// Never contains what was written in a field (it may be a personnummer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanError {
    /// The field's path, `efforts[2].responsible_principal`; empty for the document as a whole.
    pub field: String,
    /// What kind of problem.
    pub code: PlanErrorCode,
    /// What is wrong and what to do, in English.
    pub en: String,
    /// The same in Swedish.
    pub sv: String,
}

impl PlanError {
    fn new(
        field: impl Into<String>,
        code: PlanErrorCode,
        en: impl Into<String>,
        sv: impl Into<String>,
    ) -> Self {
        PlanError { field: field.into(), code, en: en.into(), sv: sv.into() }
    }

    /// The field as people read it: the path, or "the plan" for the document.
    pub fn field_or_document(&self) -> &str {
        if self.field.is_empty() { "(plan)" } else { &self.field }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field_or_document(), self.en)
    }
}

impl std::error::Error for PlanError {}

// ---------------------------------------------------------------------------------------------
// Reading: one pass over the JSON value that collects every problem with its path.

const PLAN_KEYS: &[&str] = &[
    "type",
    "version",
    "case_id",
    "consent_id",
    "revision",
    "meeting",
    "person",
    "guardians",
    "principals",
    "participants",
    "background",
    "needs",
    "goals",
    "wishes",
    "child_view",
    "efforts",
    "other_measures",
    "lead_principal",
    "coordinator",
    "follow_up",
    "history",
];
const MEETING_KEYS: &[&str] = &["date", "place"];
const PERSON_KEYS: &[&str] = &["name", "personnummer", "address", "phone", "email"];
const GUARDIAN_KEYS: &[&str] = &["name", "relation", "custody", "address", "phone", "email"];
const PRINCIPAL_KEYS: &[&str] = &["id", "name"];
const PARTICIPANT_KEYS: &[&str] =
    &["name", "role", "principal", "unit", "hsa_id", "phone", "email", "present"];
const CONTACT_KEYS: &[&str] = &["name", "role", "phone", "email", "hsa_id"];
const EFFORT_KEYS: &[&str] = &["what", "goal", "responsible_principal", "unit", "from", "until", "contact"];
const OTHER_KEYS: &[&str] = &["what", "by", "from", "until", "contact"];
const COORDINATOR_KEYS: &[&str] = &["name", "role", "principal", "phone", "email", "hsa_id"];
const FOLLOW_UP_KEYS: &[&str] = &["date", "how", "evaluation"];
const CHANGE_KEYS: &[&str] = &["revision", "date", "by", "principal", "summary"];

/// The identifiers a plan holds, with what a well-formed one looks like in Swedish (the English is
/// the parser's own [`IdError`]).
#[derive(Clone, Copy)]
enum IdKind {
    Principal,
    Case,
    Consent,
    Hsa,
}

impl IdKind {
    fn swedish(self) -> &'static str {
        match self {
            IdKind::Principal => {
                "ska vara \"SE\" följt av ett tiosiffrigt organisationsnummer med giltig kontrollsiffra, t.ex. SE2321000032"
            }
            IdKind::Case => {
                "ska vara \"S-\" följt av 26 tecken i Crockfords base32 (0-9, A-Z utom I, L, O, U), som `samordna case open` skriver"
            }
            IdKind::Consent => {
                "ska vara \"K-\" följt av 26 tecken i Crockfords base32 (0-9, A-Z utom I, L, O, U), som `samordna consent record` skriver"
            }
            IdKind::Hsa => {
                "ska vara \"SE\", 10 till 12 siffror, \"-\" och sedan bokstäver eller siffror, högst 31 tecken, t.ex. SE2321000032-abc1"
            }
        }
    }
}

#[derive(Default)]
struct Reader {
    errors: Vec<PlanError>,
}

/// An object being read, and its path.
struct Obj<'v> {
    path: String,
    map: &'v Map<String, Value>,
}

impl Obj<'_> {
    fn at(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }
}

/// A key as it may appear in a message: field names only, never arbitrary text.
fn printable_key(key: &str) -> &str {
    let plain = !key.is_empty()
        && key.len() <= 40
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain { key } else { "(a field with an unexpected name)" }
}

fn json_type_sv(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "ett sanningsvärde",
        Value::Number(_) => "ett tal",
        Value::String(_) => "en text",
        Value::Array(_) => "en lista",
        Value::Object(_) => "ett objekt",
    }
}

fn json_type_en(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Reader {
    fn err(
        &mut self,
        field: impl Into<String>,
        code: PlanErrorCode,
        en: impl Into<String>,
        sv: impl Into<String>,
    ) {
        self.errors.push(PlanError::new(field, code, en, sv));
    }

    fn wrong_type(&mut self, field: String, want_en: &str, want_sv: &str, got: &Value) {
        self.err(
            field,
            PlanErrorCode::WrongType,
            format!("must be {want_en}, not {}", json_type_en(got)),
            format!("ska vara {want_sv}, inte {}", json_type_sv(got)),
        );
    }

    fn missing(&mut self, field: String) {
        self.err(
            field,
            PlanErrorCode::Missing,
            "is missing; it is required",
            "saknas; fältet är obligatoriskt",
        );
    }

    /// `v` as an object with only `keys`.
    fn object<'v>(&mut self, path: String, v: &'v Value, keys: &[&str]) -> Option<Obj<'v>> {
        let Some(map) = v.as_object() else {
            self.wrong_type(path, "an object { … }", "ett objekt { … }", v);
            return None;
        };
        let obj = Obj { path, map };
        for key in map.keys().filter(|k| !keys.contains(&k.as_str())) {
            let en =
                format!("is not a field of a SIP plan (version 1); the fields here are {}", keys.join(", "));
            let sv = format!("är inget fält i en SIP-plan (version 1); fälten här är {}", keys.join(", "));
            self.err(obj.at(printable_key(key)), PlanErrorCode::UnknownField, en, sv);
        }
        Some(obj)
    }

    /// A required member object.
    fn child<'v>(&mut self, o: &Obj<'v>, key: &str, keys: &[&str]) -> Option<Obj<'v>> {
        match o.map.get(key) {
            None => {
                self.missing(o.at(key));
                None
            }
            Some(v) => self.object(o.at(key), v, keys),
        }
    }

    /// A string member: `None` if absent (not an error here), `Some(Err)` reported already.
    fn string<'v>(&mut self, o: &Obj<'v>, key: &str) -> Option<Result<&'v str, ()>> {
        match o.map.get(key)? {
            Value::String(s) => Some(Ok(s)),
            other => {
                self.wrong_type(o.at(key), "a text in quotes", "en text inom citattecken", other);
                Some(Err(()))
            }
        }
    }

    /// A required, non-empty text (surrounding white space is taken off).
    fn text(&mut self, o: &Obj<'_>, key: &str) -> Option<String> {
        match self.string(o, key) {
            None => {
                self.missing(o.at(key));
                None
            }
            Some(Err(())) => None,
            Some(Ok(s)) if s.trim().is_empty() => {
                self.err(o.at(key), PlanErrorCode::Empty, "is empty; write it in", "är tomt; fyll i det");
                None
            }
            Some(Ok(s)) => Some(s.trim().to_owned()),
        }
    }

    /// An optional text: absent or empty is `None`.
    fn opt_text(&mut self, o: &Obj<'_>, key: &str) -> Option<String> {
        match self.string(o, key) {
            Some(Ok(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        }
    }

    /// An optional e-mail address, something@somewhere, without spaces; absent or "" is `None`.
    fn opt_email(&mut self, o: &Obj<'_>, key: &str) -> Option<String> {
        let email = match self.string(o, key) {
            Some(Ok(s)) if !s.is_empty() => s,
            _ => return None,
        };
        let ok = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
            && !email.chars().any(char::is_whitespace);
        if ok {
            Some(email.to_owned())
        } else {
            self.err(
                o.at(key),
                PlanErrorCode::Invalid,
                "is not an e-mail address (name@example.se)",
                "är ingen e-postadress (namn@exempel.se)",
            );
            None
        }
    }

    /// Parses a required (`required`) or optional identifier; optional ones may be absent or "".
    fn id<T>(
        &mut self,
        o: &Obj<'_>,
        key: &str,
        required: bool,
        kind: IdKind,
        parse: fn(&str) -> Result<T, IdError>,
    ) -> Option<T> {
        let s = match self.string(o, key) {
            None if required => {
                self.missing(o.at(key));
                return None;
            }
            None | Some(Err(())) => return None,
            Some(Ok(s)) => s,
        };
        if s.is_empty() {
            if required {
                self.err(o.at(key), PlanErrorCode::Empty, "is empty; write it in", "är tomt; fyll i det");
            }
            return None;
        }
        match parse(s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(o.at(key), PlanErrorCode::Invalid, e.expected, kind.swedish());
                None
            }
        }
    }

    /// A date `YYYY-MM-DD`, required or optional (absent or "").
    fn date(&mut self, o: &Obj<'_>, key: &str, required: bool) -> Option<Date> {
        let s = match self.string(o, key) {
            None if required => {
                self.missing(o.at(key));
                return None;
            }
            None | Some(Err(())) => return None,
            Some(Ok(s)) => s,
        };
        if s.is_empty() {
            if required {
                self.err(
                    o.at(key),
                    PlanErrorCode::Empty,
                    "is empty; write a date as 2026-11-23",
                    "är tomt; skriv ett datum som 2026-11-23",
                );
            }
            return None;
        }
        match Date::parse(s, DATE_FORMAT) {
            Ok(d) => Some(d),
            Err(_) => {
                self.err(
                    o.at(key),
                    PlanErrorCode::Invalid,
                    "is not a date in the calendar written as YYYY-MM-DD (2026-11-23)",
                    "är inget datum i kalendern skrivet som ÅÅÅÅ-MM-DD (2026-11-23)",
                );
                None
            }
        }
    }

    /// A required whole number of at least 1.
    fn positive(&mut self, o: &Obj<'_>, key: &str) -> Option<u32> {
        match o.map.get(key) {
            None => {
                self.missing(o.at(key));
                None
            }
            Some(Value::Number(n)) => {
                match n.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|&n| n >= 1) {
                    Some(n) => Some(n),
                    None => {
                        self.err(
                            o.at(key),
                            PlanErrorCode::Invalid,
                            "must be a whole number, 1 or more",
                            "ska vara ett heltal, 1 eller större",
                        );
                        None
                    }
                }
            }
            Some(other) => {
                self.wrong_type(o.at(key), "a whole number", "ett heltal", other);
                None
            }
        }
    }

    /// A boolean, required or with a default.
    fn boolean(&mut self, o: &Obj<'_>, key: &str, default: Option<bool>) -> Option<bool> {
        match (o.map.get(key), default) {
            (Some(Value::Bool(b)), _) => Some(*b),
            (None, Some(d)) => Some(d),
            (None, None) => {
                self.missing(o.at(key));
                None
            }
            (Some(other), _) => {
                self.wrong_type(o.at(key), "true or false", "true eller false", other);
                None
            }
        }
    }

    /// The items of a list with their paths. A required list must have at least one item; an
    /// optional one may be absent.
    fn list<'v>(&mut self, o: &Obj<'v>, key: &str, required: bool) -> Vec<(String, &'v Value)> {
        match o.map.get(key) {
            None => {
                if required {
                    self.missing(o.at(key));
                }
                Vec::new()
            }
            Some(Value::Array(items)) => {
                if required && items.is_empty() {
                    self.err(
                        o.at(key),
                        PlanErrorCode::Empty,
                        "is empty; it needs at least one entry",
                        "är tom; den ska ha minst en post",
                    );
                }
                items.iter().enumerate().map(|(i, v)| (format!("{}[{i}]", o.at(key)), v)).collect()
            }
            Some(other) => {
                self.wrong_type(o.at(key), "a list [ … ]", "en lista [ … ]", other);
                Vec::new()
            }
        }
    }

    /// A required list of non-empty texts.
    fn texts(&mut self, o: &Obj<'_>, key: &str) -> Option<Vec<String>> {
        let items = self.list(o, key, true);
        let before = self.errors.len();
        let mut out = Vec::with_capacity(items.len());
        for (path, v) in items {
            match v {
                Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
                Value::String(_) => self.err(
                    path,
                    PlanErrorCode::Empty,
                    "is empty; write it in or remove it",
                    "är tom; fyll i eller ta bort",
                ),
                other => self.wrong_type(path, "a text in quotes", "en text inom citattecken", other),
            }
        }
        (self.errors.len() == before && !out.is_empty()).then_some(out)
    }

    /// `Some(())` if no problem was found since the count was `before`: a struct with an optional
    /// field that was written but not readable is not made.
    fn clean_since(&self, before: usize) -> Option<()> {
        (self.errors.len() == before).then_some(())
    }

    /// Reads each item of a list with `read`; `None` if any failed.
    fn each<T>(
        &mut self,
        items: Vec<(String, &Value)>,
        read: fn(&mut Reader, String, &Value) -> Option<T>,
    ) -> Option<Vec<T>> {
        let read: Vec<Option<T>> = items.into_iter().map(|(path, v)| read(self, path, v)).collect();
        read.into_iter().collect()
    }
}

fn read_plan(r: &mut Reader, v: &Value) -> Option<Plan> {
    let o = r.object(String::new(), v, PLAN_KEYS)?;
    // A document of another type or version is not read further: its fields mean other things.
    match o.map.get("type") {
        Some(Value::String(t)) if t == PLAN_TYPE => {}
        None => {
            r.err(
                "type",
                PlanErrorCode::NotAPlan,
                "is missing: a SIP plan starts with \"type\": \"samordna-sip-plan\"",
                "saknas: en SIP-plan börjar med \"type\": \"samordna-sip-plan\"",
            );
            return None;
        }
        Some(_) => {
            r.err(
                "type",
                PlanErrorCode::NotAPlan,
                "must be \"samordna-sip-plan\": this document is not a Samordna SIP plan",
                "ska vara \"samordna-sip-plan\": dokumentet är ingen SIP-plan för Samordna",
            );
            return None;
        }
    }
    match o.map.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(PLAN_VERSION)) => {}
        None => {
            r.missing("version".into());
            return None;
        }
        Some(_) => {
            r.err(
                "version",
                PlanErrorCode::Version,
                "must be 1: this program reads version 1 of the plan format; update Samordna to read a newer one",
                "ska vara 1: programmet läser version 1 av planformatet; uppdatera Samordna för att läsa en nyare",
            );
            return None;
        }
    }

    let case_id = r.id(&o, "case_id", false, IdKind::Case, CaseId::parse);
    let consent_id = r.id(&o, "consent_id", true, IdKind::Consent, ConsentId::parse);
    let revision = r.positive(&o, "revision");
    let meeting = r.child(&o, "meeting", MEETING_KEYS).and_then(|m| {
        let date = r.date(&m, "date", true);
        let place = r.opt_text(&m, "place");
        Some(Meeting { date: date?, place })
    });
    let person = r.child(&o, "person", PERSON_KEYS).and_then(|p| read_person(r, &p));
    let guardians = r.list(&o, "guardians", false);
    let guardians = r.each(guardians, read_guardian);
    let principals = r.list(&o, "principals", true);
    let principals = r.each(principals, read_principal);
    let participants = r.list(&o, "participants", true);
    let participants = r.each(participants, read_participant);
    let background = r.text(&o, "background");
    let needs = r.texts(&o, "needs");
    let goals = r.texts(&o, "goals");
    let wishes = r.opt_text(&o, "wishes");
    let child_view = r.opt_text(&o, "child_view");
    let efforts = r.list(&o, "efforts", true);
    let efforts = r.each(efforts, read_effort);
    let other_measures = r.list(&o, "other_measures", false);
    let other_measures = r.each(other_measures, read_other_measure);
    let lead_principal = r.id(&o, "lead_principal", true, IdKind::Principal, PrincipalId::parse);
    let coordinator = r.child(&o, "coordinator", COORDINATOR_KEYS).and_then(|c| {
        let before = r.errors.len();
        let name = r.text(&c, "name");
        let role = r.opt_text(&c, "role");
        let principal = r.id(&c, "principal", true, IdKind::Principal, PrincipalId::parse);
        let phone = r.opt_text(&c, "phone");
        let email = r.opt_email(&c, "email");
        let hsa_id = r.id(&c, "hsa_id", false, IdKind::Hsa, HsaId::parse);
        r.clean_since(before)?;
        Some(Coordinator { name: name?, role, principal: principal?, phone, email, hsa_id })
    });
    let follow_up = r.child(&o, "follow_up", FOLLOW_UP_KEYS).and_then(|f| {
        let date = r.date(&f, "date", true);
        let how = r.text(&f, "how");
        let evaluation = r.text(&f, "evaluation");
        Some(FollowUp { date: date?, how: how?, evaluation: evaluation? })
    });
    let history = r.list(&o, "history", true);
    let history = r.each(history, read_change);

    Some(Plan {
        plan_type: PlanType::SipPlan,
        version: PLAN_VERSION,
        case_id,
        consent_id: consent_id?,
        revision: revision?,
        meeting: meeting?,
        person: person?,
        guardians: guardians?,
        principals: principals?,
        participants: participants?,
        background: background?,
        needs: needs?,
        goals: goals?,
        wishes,
        child_view,
        efforts: efforts?,
        other_measures: other_measures?,
        lead_principal: lead_principal?,
        coordinator: coordinator?,
        follow_up: follow_up?,
        history: history?,
    })
}

fn read_person(r: &mut Reader, p: &Obj<'_>) -> Option<Person> {
    let before = r.errors.len();
    let name = r.text(p, "name");
    let personnummer = match r.string(p, "personnummer") {
        None => {
            r.missing(p.at("personnummer"));
            None
        }
        Some(Err(())) => None,
        Some(Ok("")) => {
            r.err(
                p.at("personnummer"),
                PlanErrorCode::Empty,
                "is empty; write the personnummer or samordningsnummer as YYYYMMDD-NNNN",
                "är tomt; skriv personnumret eller samordningsnumret som ÅÅÅÅMMDD-NNNN",
            );
            None
        }
        Some(Ok(s)) => match Personnummer::parse_canonical(s) {
            Ok(pnr) => Some(pnr),
            Err(e) => {
                let (en, sv) = match e {
                    crate::personnummer::PersonnummerError::Format => (
                        "must be written as YYYYMMDD-NNNN (12 digits, a hyphen before the last four)",
                        "ska skrivas som ÅÅÅÅMMDD-NNNN (12 siffror, bindestreck före de fyra sista)",
                    ),
                    other => (other.english(), other.swedish()),
                };
                r.err(p.at("personnummer"), PlanErrorCode::Invalid, en, sv);
                None
            }
        },
    };
    let address = r.opt_text(p, "address");
    let phone = r.opt_text(p, "phone");
    let email = r.opt_email(p, "email");
    r.clean_since(before)?;
    Some(Person { name: name?, personnummer: personnummer?, address, phone, email })
}

fn read_guardian(r: &mut Reader, path: String, v: &Value) -> Option<Guardian> {
    let before = r.errors.len();
    let g = r.object(path, v, GUARDIAN_KEYS)?;
    let name = r.text(&g, "name");
    let relation = r.opt_text(&g, "relation");
    let custody = r.boolean(&g, "custody", None);
    let address = r.opt_text(&g, "address");
    let phone = r.opt_text(&g, "phone");
    let email = r.opt_email(&g, "email");
    r.clean_since(before)?;
    Some(Guardian { name: name?, relation, custody: custody?, address, phone, email })
}

fn read_principal(r: &mut Reader, path: String, v: &Value) -> Option<Principal> {
    let p = r.object(path, v, PRINCIPAL_KEYS)?;
    let id = r.id(&p, "id", true, IdKind::Principal, PrincipalId::parse);
    let name = r.text(&p, "name");
    Some(Principal { id: id?, name: name? })
}

fn read_participant(r: &mut Reader, path: String, v: &Value) -> Option<Participant> {
    let before = r.errors.len();
    let p = r.object(path, v, PARTICIPANT_KEYS)?;
    let name = r.text(&p, "name");
    let role = r.text(&p, "role");
    let principal = r.id(&p, "principal", false, IdKind::Principal, PrincipalId::parse);
    let unit = r.opt_text(&p, "unit");
    let hsa_id = r.id(&p, "hsa_id", false, IdKind::Hsa, HsaId::parse);
    let phone = r.opt_text(&p, "phone");
    let email = r.opt_email(&p, "email");
    let present = r.boolean(&p, "present", Some(true));
    r.clean_since(before)?;
    Some(Participant { name: name?, role: role?, principal, unit, hsa_id, phone, email, present: present? })
}

fn read_contact(r: &mut Reader, path: String, v: &Value) -> Option<Contact> {
    let before = r.errors.len();
    let c = r.object(path, v, CONTACT_KEYS)?;
    let name = r.text(&c, "name");
    let role = r.opt_text(&c, "role");
    let phone = r.opt_text(&c, "phone");
    let email = r.opt_email(&c, "email");
    let hsa_id = r.id(&c, "hsa_id", false, IdKind::Hsa, HsaId::parse);
    r.clean_since(before)?;
    Some(Contact { name: name?, role, phone, email, hsa_id })
}

fn read_effort(r: &mut Reader, path: String, v: &Value) -> Option<Effort> {
    let before = r.errors.len();
    let e = r.object(path, v, EFFORT_KEYS)?;
    let what = r.text(&e, "what");
    let goal = r.opt_text(&e, "goal");
    let responsible_principal =
        r.id(&e, "responsible_principal", true, IdKind::Principal, PrincipalId::parse);
    let unit = r.opt_text(&e, "unit");
    let from = r.date(&e, "from", true);
    let until = r.date(&e, "until", false);
    let contact = match e.map.get("contact") {
        None => {
            r.missing(e.at("contact"));
            None
        }
        Some(v) => read_contact(r, e.at("contact"), v),
    };
    r.clean_since(before)?;
    Some(Effort {
        what: what?,
        goal,
        responsible_principal: responsible_principal?,
        unit,
        from: from?,
        until,
        contact: contact?,
    })
}

fn read_other_measure(r: &mut Reader, path: String, v: &Value) -> Option<OtherMeasure> {
    let before = r.errors.len();
    let m = r.object(path, v, OTHER_KEYS)?;
    let what = r.text(&m, "what");
    let by = r.text(&m, "by");
    let from = r.date(&m, "from", false);
    let until = r.date(&m, "until", false);
    let contact = m.map.get("contact").and_then(|v| read_contact(r, m.at("contact"), v));
    r.clean_since(before)?;
    Some(OtherMeasure { what: what?, by: by?, from, until, contact })
}

fn read_change(r: &mut Reader, path: String, v: &Value) -> Option<Change> {
    let before = r.errors.len();
    let c = r.object(path, v, CHANGE_KEYS)?;
    let revision = r.positive(&c, "revision");
    let date = r.date(&c, "date", true);
    let by = r.text(&c, "by");
    let principal = r.id(&c, "principal", false, IdKind::Principal, PrincipalId::parse);
    let summary = r.text(&c, "summary");
    r.clean_since(before)?;
    Some(Change { revision: revision?, date: date?, by: by?, principal, summary: summary? })
}

// ---------------------------------------------------------------------------------------------
// The rules between fields.

/// Whether an organisation number is a region's (`232100-…`) or a municipality's (`212000-…`):
/// the two kinds of principal the law makes responsible for a SIP.
fn is_region_or_municipality(id: &PrincipalId) -> bool {
    let digits = id.as_str().get(2..8);
    matches!(digits, Some("232100" | "212000"))
}

/// Checks the rules between the fields of `plan`, on `reference` (today, from the caller):
///
/// - the person's birth date (from the personnummer) is not after the reference date nor the
///   meeting; someone under 18 on the reference date is a child: a child has at least one guardian
///   with custody and their own view recorded (`child_view`); an adult has no guardians;
/// - the person and every guardian can be reached (address, telephone or e-mail);
/// - `principals` lists each principal once, at least two, each with a participant; each
///   participant's principal is listed;
/// - every effort's `responsible_principal`, the `lead_principal` and the coordinator's principal
///   are among the participants' principals; the lead is a region or a municipality;
/// - an effort or measure ends (`until`) on or after it starts (`from`); the follow-up is after
///   the meeting;
/// - `history` has strictly increasing revisions ending at `revision`, dates in order and none
///   after the reference date.
pub fn validate(plan: &Plan, reference: Date) -> Result<(), Vec<PlanError>> {
    let mut e = Vec::new();
    rule_person(plan, reference, &mut e);
    rule_principals(plan, &mut e);
    rule_dates(plan, &mut e);
    rule_history(plan, reference, &mut e);
    if e.is_empty() { Ok(()) } else { Err(e) }
}

fn push(
    e: &mut Vec<PlanError>,
    field: impl Into<String>,
    code: PlanErrorCode,
    en: impl Into<String>,
    sv: impl Into<String>,
) {
    e.push(PlanError::new(field, code, en, sv));
}

/// The person: birth date, child or adult, reachable.
fn rule_person(plan: &Plan, reference: Date, e: &mut Vec<PlanError>) {
    let pnr = &plan.person.personnummer;
    let born = pnr.birth_date();
    if born > reference {
        push(
            e,
            "person.personnummer",
            PlanErrorCode::DateInFuture,
            "gives a date of birth after today; check the number",
            "ger ett födelsedatum efter dagens datum; kontrollera numret",
        );
    } else if born > plan.meeting.date {
        push(
            e,
            "meeting.date",
            PlanErrorCode::DateOrder,
            "is before the person's date of birth",
            "ligger före personens födelsedatum",
        );
    }
    if pnr.is_child_on(reference) {
        if !plan.guardians.iter().any(|g| g.custody) {
            push(
                e,
                "guardians",
                PlanErrorCode::GuardianMissing,
                "the person is under 18: name at least one guardian with custody (\"custody\": true)",
                "personen är under 18 år: ange minst en vårdnadshavare med vårdnad (\"custody\": true)",
            );
        }
        if plan.child_view.is_none() {
            push(
                e,
                "child_view",
                PlanErrorCode::ChildViewMissing,
                "the person is under 18: write down the child's own view of the plan",
                "personen är under 18 år: skriv in barnets egen uppfattning om planen",
            );
        }
    } else if !plan.guardians.is_empty() {
        push(
            e,
            "guardians",
            PlanErrorCode::GuardiansOfAdult,
            "the person is 18 or older and has no guardians; list relatives or a legal representative \
             (god man, förvaltare) as participants instead",
            "personen är 18 år eller äldre och har inga vårdnadshavare; ange närstående eller ställföreträdare \
             (god man, förvaltare) som deltagare i stället",
        );
    }
    let reachable = |a: &Option<String>, p: &Option<String>, m: &Option<String>| {
        a.is_some() || p.is_some() || m.is_some()
    };
    if !reachable(&plan.person.address, &plan.person.phone, &plan.person.email) {
        push(
            e,
            "person",
            PlanErrorCode::NoContact,
            "give at least one way to reach the person: address, phone or email",
            "ange minst ett sätt att nå personen: adress (address), telefon (phone) eller e-post (email)",
        );
    }
    for (i, g) in plan.guardians.iter().enumerate() {
        if !reachable(&g.address, &g.phone, &g.email) {
            push(
                e,
                format!("guardians[{i}]"),
                PlanErrorCode::NoContact,
                "give at least one way to reach the guardian: address, phone or email",
                "ange minst ett sätt att nå vårdnadshavaren: adress (address), telefon (phone) eller e-post (email)",
            );
        }
    }
}

/// Principals and participants: who is named as responsible must have taken part.
fn rule_principals(plan: &Plan, e: &mut Vec<PlanError>) {
    for (i, p) in plan.principals.iter().enumerate() {
        if plan.principals[..i].iter().any(|q| q.id == p.id) {
            push(
                e,
                format!("principals[{i}].id"),
                PlanErrorCode::Duplicate,
                format!("{} is listed twice; list each principal once", p.id),
                format!("{} står två gånger; ange varje huvudman en gång", p.id),
            );
        }
    }
    for (i, p) in plan.participants.iter().enumerate() {
        if let Some(id) = &p.principal
            && plan.principal_name(id).is_none()
        {
            push(
                e,
                format!("participants[{i}].principal"),
                PlanErrorCode::UnknownPrincipal,
                format!("{id} is not in \"principals\"; add it there with its name"),
                format!("{id} finns inte under \"principals\"; lägg till huvudmannen där med namn"),
            );
        }
    }
    let participating = |id: &PrincipalId| plan.participants.iter().any(|p| p.principal.as_ref() == Some(id));
    for (i, p) in plan.principals.iter().enumerate() {
        if !participating(&p.id) {
            push(
                e,
                format!("principals[{i}]"),
                PlanErrorCode::PrincipalWithoutParticipant,
                format!(
                    "no participant represents {} ({}); add who took part for it, or remove it",
                    p.name, p.id
                ),
                format!(
                    "ingen deltagare företräder {} ({}); lägg till vem som deltog för huvudmannen, eller ta bort den",
                    p.name, p.id
                ),
            );
        }
    }
    let mut distinct: Vec<&PrincipalId> =
        plan.participants.iter().filter_map(|p| p.principal.as_ref()).collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < 2 {
        push(
            e,
            "participants",
            PlanErrorCode::TooFewPrincipals,
            "a SIP is drawn up by at least two principals (a region and a municipality); name the participants of each",
            "en SIP upprättas av minst två huvudmän (region och kommun); ange deltagarna från var och en",
        );
    }
    let mut must_participate = |field: String, id: &PrincipalId, who_en: &str, who_sv: &str| {
        if !participating(id) {
            push(
                e,
                field,
                PlanErrorCode::NotAParticipant,
                format!(
                    "{who_en} {id} is not among the participants' principals; add a participant from {id}, or name another principal"
                ),
                format!(
                    "{who_sv} {id} finns inte bland deltagarnas huvudmän; lägg till en deltagare från {id} eller ange en annan huvudman"
                ),
            );
            false
        } else {
            true
        }
    };
    for (i, effort) in plan.efforts.iter().enumerate() {
        must_participate(
            format!("efforts[{i}].responsible_principal"),
            &effort.responsible_principal,
            "the responsible principal",
            "ansvarig huvudman",
        );
    }
    let lead = &plan.lead_principal;
    let lead_participates = must_participate(
        "lead_principal".into(),
        lead,
        "the lead principal",
        "huvudmannen med övergripande ansvar",
    );
    must_participate(
        "coordinator.principal".into(),
        &plan.coordinator.principal,
        "the coordinator's principal",
        "kontaktpersonens huvudman",
    );
    if lead_participates && !is_region_or_municipality(lead) {
        push(
            e,
            "lead_principal",
            PlanErrorCode::LeadNotRegionOrMunicipality,
            format!(
                "{lead} is neither a region nor a municipality; the overall responsibility lies with one of them"
            ),
            format!(
                "{lead} är varken en region eller en kommun; det övergripande ansvaret ligger hos någon av dem"
            ),
        );
    }
}

/// Things end after they start; the follow-up comes after the meeting.
fn rule_dates(plan: &Plan, e: &mut Vec<PlanError>) {
    for (i, effort) in plan.efforts.iter().enumerate() {
        if effort.until.is_some_and(|u| u < effort.from) {
            push(
                e,
                format!("efforts[{i}].until"),
                PlanErrorCode::DateOrder,
                "is before \"from\"; an effort ends after it starts",
                "ligger före \"from\"; en insats slutar efter att den börjat",
            );
        }
    }
    for (i, m) in plan.other_measures.iter().enumerate() {
        if let (Some(from), Some(until)) = (m.from, m.until)
            && until < from
        {
            push(
                e,
                format!("other_measures[{i}].until"),
                PlanErrorCode::DateOrder,
                "is before \"from\"; a measure ends after it starts",
                "ligger före \"from\"; en åtgärd slutar efter att den börjat",
            );
        }
    }
    if plan.follow_up.date <= plan.meeting.date {
        push(
            e,
            "follow_up.date",
            PlanErrorCode::DateOrder,
            "must be after the meeting (meeting.date)",
            "ska ligga efter mötet (meeting.date)",
        );
    }
}

/// The versions: increasing, in date order, none in the future, the last one is `revision`.
fn rule_history(plan: &Plan, reference: Date, e: &mut Vec<PlanError>) {
    for (i, c) in plan.history.iter().enumerate() {
        if let Some(p) = i.checked_sub(1).and_then(|j| plan.history.get(j)) {
            if c.revision <= p.revision {
                push(
                    e,
                    format!("history[{i}].revision"),
                    PlanErrorCode::History,
                    "must be higher than the revision before it; list the versions oldest first",
                    "ska vara högre än versionen före; ange versionerna äldst först",
                );
            }
            if c.date < p.date {
                push(
                    e,
                    format!("history[{i}].date"),
                    PlanErrorCode::DateOrder,
                    "is before the date of the version before it; list the versions oldest first",
                    "ligger före datumet för versionen före; ange versionerna äldst först",
                );
            }
        }
        if c.date > reference {
            push(
                e,
                format!("history[{i}].date"),
                PlanErrorCode::DateInFuture,
                "is after today; a change is recorded when it is made",
                "ligger efter dagens datum; en ändring antecknas när den görs",
            );
        }
    }
    if plan.history.last().is_some_and(|last| last.revision != plan.revision) {
        push(
            e,
            "revision",
            PlanErrorCode::History,
            "must equal the revision of the last entry in \"history\"; record each new version there",
            "ska vara samma som versionen i sista posten under \"history\"; anteckna varje ny version där",
        );
    }
}

/// Reads and validates a plan document: [`Plan::from_json`], then [`validate`].
pub fn check(bytes: &[u8], reference: Date) -> Result<Plan, Vec<PlanError>> {
    let plan = Plan::from_json(bytes)?;
    validate(&plan, reference)?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;

    use super::*;

    const EXAMPLE: &str = include_str!("../../docs/spec/sip-plan-v1.example.json");
    const CHILD_EXAMPLE: &str = include_str!("../../docs/spec/sip-plan-v1.child-example.json");
    const TODAY: Date = date!(2026 - 11 - 23);

    fn example() -> Value {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    fn child_example() -> Value {
        serde_json::from_str(CHILD_EXAMPLE).unwrap()
    }

    /// The problems with `doc` on `TODAY`, reading and rules together.
    fn problems(doc: &Value) -> Vec<PlanError> {
        match Plan::from_value(doc) {
            Ok(plan) => validate(&plan, TODAY).err().unwrap_or_default(),
            Err(e) => e,
        }
    }

    /// The example changed by `f`, and its problems.
    fn broken(f: impl FnOnce(&mut Value)) -> Vec<PlanError> {
        let mut doc = example();
        f(&mut doc);
        problems(&doc)
    }

    /// Exactly one problem, at `field`, with `code`; both sentences present.
    #[track_caller]
    fn only(errors: &[PlanError], field: &str, code: PlanErrorCode) {
        assert_eq!(errors.len(), 1, "{errors:#?}");
        let e = &errors[0];
        assert_eq!((e.field.as_str(), e.code), (field, code), "{e:#?}");
        assert!(!e.en.is_empty() && !e.sv.is_empty() && e.en != e.sv, "{e:#?}");
        assert!(e.to_string().starts_with(&format!("{}: ", e.field_or_document())));
    }

    #[test]
    fn the_examples_are_valid_and_round_trip() {
        let plan = check(EXAMPLE.as_bytes(), TODAY).unwrap();
        assert_eq!(plan.person.name, "Tolvan Tolvansson");
        assert_eq!(plan.efforts.len(), 5);
        assert_eq!(plan.principal_name(&plan.lead_principal), Some("Linköpings kommun"));
        assert!(!plan.is_child_on(TODAY));
        // Written back, it is the same document.
        assert_eq!(serde_json::to_value(&plan).unwrap(), example());
        let again: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(again, plan);

        let child = check(CHILD_EXAMPLE.as_bytes(), TODAY).unwrap();
        assert!(child.is_child_on(TODAY));
        assert_eq!(child.guardians.len(), 2);
        assert!(child.participants.iter().all(|p| p.present), "present defaults to true");
        // A year on the example still validates: nothing in it depends on the day it is checked.
        check(EXAMPLE.as_bytes(), date!(2027 - 11 - 23)).unwrap();
    }

    #[test]
    fn other_documents_and_versions_are_refused_first() {
        only(&broken(|d| d["type"] = json!("sip-plan")), "type", PlanErrorCode::NotAPlan);
        only(&broken(|d| d["version"] = json!(2)), "version", PlanErrorCode::Version);
        let e = broken(|d| {
            d.as_object_mut().unwrap().remove("type");
        });
        only(&e, "type", PlanErrorCode::NotAPlan);
        let e = Plan::from_json(b"{\"type\": \"samordna-sip-plan\",").unwrap_err();
        only(&e, "", PlanErrorCode::Syntax);
        assert!(e[0].en.contains("line 1") && e[0].sv.contains("rad 1"), "{e:?}");
        only(&problems(&json!([1, 2])), "", PlanErrorCode::WrongType);
    }

    #[test]
    fn form_errors_name_the_field() {
        only(
            &broken(|d| {
                d["person"].as_object_mut().unwrap().remove("name");
            }),
            "person.name",
            PlanErrorCode::Missing,
        );
        only(
            &broken(|d| d["efforts"][1]["colour"] = json!("blue")),
            "efforts[1].colour",
            PlanErrorCode::UnknownField,
        );
        only(&broken(|d| d["efforts"][2]["what"] = json!("  ")), "efforts[2].what", PlanErrorCode::Empty);
        only(&broken(|d| d["revision"] = json!("2")), "revision", PlanErrorCode::WrongType);
        only(&broken(|d| d["revision"] = json!(0)), "revision", PlanErrorCode::Invalid);
        only(&broken(|d| d["needs"] = json!([])), "needs", PlanErrorCode::Empty);
        only(&broken(|d| d["goals"][1] = json!(7)), "goals[1]", PlanErrorCode::WrongType);
        only(
            &broken(|d| d["participants"][2]["present"] = json!("yes")),
            "participants[2].present",
            PlanErrorCode::WrongType,
        );
        only(
            &broken(|d| d["follow_up"]["date"] = json!("2027-02-30")),
            "follow_up.date",
            PlanErrorCode::Invalid,
        );
        only(
            &broken(|d| d["efforts"][3]["until"] = json!("31/3/2027")),
            "efforts[3].until",
            PlanErrorCode::Invalid,
        );
        only(
            &broken(|d| d["coordinator"]["email"] = json!("karin.berg")),
            "coordinator.email",
            PlanErrorCode::Invalid,
        );
        only(&broken(|d| d["case_id"] = json!("S-123")), "case_id", PlanErrorCode::Invalid);
        only(
            &broken(|d| d["participants"][4]["hsa_id"] = json!("anna")),
            "participants[4].hsa_id",
            PlanErrorCode::Invalid,
        );
        let e = broken(|d| d["efforts"][2]["responsible_principal"] = json!("SE2120000448"));
        only(&e, "efforts[2].responsible_principal", PlanErrorCode::Invalid);
        assert!(e[0].en.contains("organisation number") && e[0].sv.contains("organisationsnummer"), "{e:?}");
        // Optional fields may be left empty, as `plan new` writes them.
        assert!(
            broken(|d| {
                d["case_id"] = json!("");
                d["wishes"] = json!("");
                d["efforts"][0]["until"] = json!("");
                d["participants"][0]["principal"] = json!("");
            })
            .is_empty()
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = broken(|d| {
            d["person"]["personnummer"] = json!("19121212-1213");
            d["efforts"][0]["from"] = json!("");
            d["history"][1]["summary"] = json!(null);
            d["lead_principal"] = json!(12);
        });
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["person.personnummer", "efforts[0].from", "lead_principal", "history[1].summary"],
            "{e:#?}"
        );
    }

    #[test]
    fn personnummer_problems_are_named_without_the_number() {
        for (written, code) in [
            ("19121212-1213", PlanErrorCode::Invalid),
            ("19900230-1233", PlanErrorCode::Invalid),
            ("121212-1212", PlanErrorCode::Invalid),
            ("191212121212", PlanErrorCode::Invalid),
            ("", PlanErrorCode::Empty),
        ] {
            let e = broken(|d| d["person"]["personnummer"] = json!(written));
            only(&e, "person.personnummer", code);
            let all = format!("{} {} {}", e[0], e[0].en, e[0].sv);
            assert!(written.is_empty() || !all.contains(&written[2..8]), "{all}");
        }
        let e = broken(|d| d["person"]["personnummer"] = json!("19121212-1213"));
        assert!(e[0].en.contains("check digit") && e[0].sv.contains("kontrollsiffran"));
        // A personnummer typed where a principal goes is not repeated either.
        let e = broken(|d| d["lead_principal"] = json!("19121212-1212"));
        assert!(!format!("{e:?}").contains("1212-1212"), "{e:?}");
        let e = broken(|d| d["extra"] = json!("19121212-1212"));
        assert!(!format!("{e:?}").contains("1212-1212"), "{e:?}");
        let e = broken(|d| d["19121212-1212"] = json!(true));
        assert_eq!(e[0].field, "(a field with an unexpected name)");
    }

    #[test]
    fn a_child_needs_guardians_with_custody_and_their_own_view() {
        let mut doc = child_example();
        doc["guardians"] = json!([]);
        only(&problems(&doc), "guardians", PlanErrorCode::GuardianMissing);
        let mut doc = child_example();
        doc["guardians"][0]["custody"] = json!(false);
        doc["guardians"][1]["custody"] = json!(false);
        only(&problems(&doc), "guardians", PlanErrorCode::GuardianMissing);
        let mut doc = child_example();
        doc.as_object_mut().unwrap().remove("child_view");
        only(&problems(&doc), "child_view", PlanErrorCode::ChildViewMissing);
        let mut doc = child_example();
        doc["guardians"][1].as_object_mut().unwrap().remove("phone");
        only(&problems(&doc), "guardians[1]", PlanErrorCode::NoContact);
        // On her eighteenth birthday she is an adult: the guardians no longer act for her.
        let plan = Plan::from_value(&child_example()).unwrap();
        let e = validate(&plan, date!(2032 - 03 - 15)).unwrap_err();
        only(&e, "guardians", PlanErrorCode::GuardiansOfAdult);
        assert!(validate(&plan, date!(2032 - 03 - 14)).is_ok());
    }

    #[test]
    fn an_adult_has_no_guardians_and_can_be_reached() {
        let e = broken(|d| {
            d["guardians"] = json!([{"name": "Maja Tolvansson", "custody": true, "phone": "070"}])
        });
        only(&e, "guardians", PlanErrorCode::GuardiansOfAdult);
        let e = broken(|d| {
            let p = d["person"].as_object_mut().unwrap();
            p.remove("address");
            p.insert("phone".into(), json!(""));
        });
        only(&e, "person", PlanErrorCode::NoContact);
    }

    #[test]
    fn responsible_principals_are_participants() {
        // The school is not at the table: an effort cannot be put on it.
        let e = broken(|d| d["efforts"][2]["responsible_principal"] = json!("SE5569875437"));
        only(&e, "efforts[2].responsible_principal", PlanErrorCode::NotAParticipant);
        assert!(e[0].en.contains("SE5569875437") && e[0].sv.contains("deltagarnas huvudmän"), "{e:?}");
        let e = broken(|d| d["lead_principal"] = json!("SE5569875437"));
        only(&e, "lead_principal", PlanErrorCode::NotAParticipant);
        let e = broken(|d| d["coordinator"]["principal"] = json!("SE5569875437"));
        only(&e, "coordinator.principal", PlanErrorCode::NotAParticipant);
        // The school takes part, but the overall responsibility is a region's or a municipality's.
        let mut doc = child_example();
        doc["lead_principal"] = json!("SE5569875437");
        only(&problems(&doc), "lead_principal", PlanErrorCode::LeadNotRegionOrMunicipality);
        let mut doc = child_example();
        doc["lead_principal"] = json!("SE2321000032");
        assert!(problems(&doc).is_empty(), "the region may lead");
    }

    #[test]
    fn principals_and_participants_agree() {
        let e = broken(|d| d["principals"][1]["id"] = json!("SE2120000449"));
        let codes: Vec<(&str, PlanErrorCode)> = e.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert!(codes.contains(&("principals[1].id", PlanErrorCode::Duplicate)), "{codes:?}");
        assert!(codes.contains(&("participants[4].principal", PlanErrorCode::UnknownPrincipal)), "{codes:?}");
        let e = broken(|d| {
            d["principals"]
                .as_array_mut()
                .unwrap()
                .push(json!({"id": "SE5569875437", "name": "Stångåskolan AB"}))
        });
        only(&e, "principals[2]", PlanErrorCode::PrincipalWithoutParticipant);
        assert!(e[0].sv.contains("Stångåskolan AB"), "{e:?}");
        // Only the municipality left at the table.
        let e = broken(|d| {
            d["principals"].as_array_mut().unwrap().pop();
            d["participants"].as_array_mut().unwrap().truncate(4);
            d["efforts"].as_array_mut().unwrap().remove(3);
        });
        only(&e, "participants", PlanErrorCode::TooFewPrincipals);
    }

    #[test]
    fn dates_are_in_order() {
        only(
            &broken(|d| d["efforts"][4]["until"] = json!("2026-11-15")),
            "efforts[4].until",
            PlanErrorCode::DateOrder,
        );
        only(
            &broken(|d| d["other_measures"][0]["until"] = json!("2026-11-13")),
            "other_measures[0].until",
            PlanErrorCode::DateOrder,
        );
        only(
            &broken(|d| d["follow_up"]["date"] = json!("2026-11-10")),
            "follow_up.date",
            PlanErrorCode::DateOrder,
        );
        only(
            &broken(|d| d["follow_up"]["date"] = json!("2026-11-01")),
            "follow_up.date",
            PlanErrorCode::DateOrder,
        );
        only(
            &broken(|d| d["meeting"]["date"] = json!("1912-12-11")),
            "meeting.date",
            PlanErrorCode::DateOrder,
        );
        // Born after today: a typing error in the century.
        let mut doc = child_example();
        doc["person"]["personnummer"] = json!("20270315-9828");
        let e = problems(&doc);
        assert_eq!(e[0].field, "person.personnummer");
        assert_eq!(e[0].code, PlanErrorCode::DateInFuture);
    }

    #[test]
    fn the_history_ends_at_the_revision() {
        only(&broken(|d| d["revision"] = json!(3)), "revision", PlanErrorCode::History);
        only(
            &broken(|d| d["history"][0]["revision"] = json!(2)),
            "history[1].revision",
            PlanErrorCode::History,
        );
        only(
            &broken(|d| d["history"][1]["date"] = json!("2026-11-09")),
            "history[1].date",
            PlanErrorCode::DateOrder,
        );
        only(
            &broken(|d| d["history"][1]["date"] = json!("2026-11-24")),
            "history[1].date",
            PlanErrorCode::DateInFuture,
        );
        only(&broken(|d| d["history"] = json!([])), "history", PlanErrorCode::Empty);
    }

    #[test]
    fn serde_goes_through_the_same_reader() {
        let plan: Plan = serde_json::from_str(EXAMPLE).unwrap();
        assert_eq!(plan, Plan::from_json(EXAMPLE.as_bytes()).unwrap());
        let mut doc = example();
        doc["efforts"][0]["colour"] = json!("blue");
        doc["needs"] = json!([]);
        let e = serde_json::from_value::<Plan>(doc).unwrap_err().to_string();
        assert!(e.starts_with("needs: ") || e.starts_with("efforts[0].colour: "), "{e}");
        assert!(e.contains("(and 1 more)"), "{e}");
        // Debug of a plan does not print the personnummer in full.
        assert!(!format!("{plan:?}").contains("19121212-1212"));
    }

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(PlanErrorCode::NotAParticipant.as_str(), "not_a_participant");
        assert_eq!(serde_json::to_value(PlanErrorCode::GuardianMissing).unwrap(), json!("guardian_missing"));
        let e = PlanError::new("a.b", PlanErrorCode::Missing, "en", "sv");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"field": "a.b", "code": "missing", "en": "en", "sv": "sv"})
        );
    }
}
