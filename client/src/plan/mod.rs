//! SIP plans on the client: a skeleton to fill in, validation with errors in Swedish and English,
//! and the plan rendered for people as HTML, text or PDF. The format and its rules are
//! `samordna_core::plan` (`docs/spec/sip-plan-v1.md`); this module reads files and writes documents.
//!
//! The plan holds the person's personnummer. It stays on this computer in clear: `send` seals it in
//! an envelope only the recipients can open, messages here never repeat it, and the rendered
//! documents are written only where the user asks.

pub mod document;
pub mod html;
pub mod pdf;
pub mod text;

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
};

use samordna_core::{
    CaseId, ConsentId, Identity,
    plan::{PLAN_TYPE, PLAN_VERSION, Plan, PlanError, check},
};
use serde::Serialize;
use serde_json::{Value, json};
use time::Date;

pub use pdf::PdfFonts;

use crate::error::ClientError;

/// A plan file larger than this is not a plan: it is refused before it is read.
pub const MAX_PLAN_BYTES: u64 = 4 * 1024 * 1024;

/// Today's date in UTC, the reference date for the rules when none is given.
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// Reads a plan file (at most [`MAX_PLAN_BYTES`]).
pub fn read_file(path: &Path) -> Result<Vec<u8>, ClientError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ClientError::usage("file", format!("cannot read the plan {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ClientError::usage("file", format!("cannot read the plan {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(ClientError::usage(
            "plan_invalid",
            format!(
                "{} is larger than {} MiB: not a SIP plan; send documents of other kinds with --kind attachment",
                path.display(),
                MAX_PLAN_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// The problems of a plan as lines for people: the field, then English, then Swedish.
pub fn describe(errors: &[PlanError]) -> String {
    let mut out = String::new();
    for e in errors {
        out.push_str(&format!("\n  {}: {}\n    (sv) {}", e.field_or_document(), e.en, e.sv));
    }
    out
}

/// The error for a plan that is not valid: code `plan_invalid`, exit code 2, each problem listed.
pub fn invalid(path: &Path, errors: &[PlanError], consequence: &str) -> ClientError {
    let n = errors.len();
    let problems = if n == 1 { "1 problem".to_owned() } else { format!("{n} problems") };
    ClientError::usage(
        "plan_invalid",
        format!(
            "{} is not a valid SIP plan ({problems}){consequence}; fix the fields named below and check with \
             `samordna plan validate`:{}",
            path.display(),
            describe(errors)
        ),
    )
}

/// Reads and validates a plan file on `reference`.
pub fn load(path: &Path, reference: Date) -> Result<Plan, ClientError> {
    let bytes = read_file(path)?;
    check(&bytes, reference).map_err(|errors| invalid(path, &errors, ""))
}

/// `plan validate`.
#[derive(Clone, Debug, Serialize)]
pub struct ValidateResult {
    /// The file.
    pub file: PathBuf,
    /// Whether it is a valid plan.
    pub valid: bool,
    /// The reference date the rules were checked on.
    #[serde(serialize_with = "iso_date")]
    pub date: Date,
    /// Each problem, with its field, code, and sentences in English (`en`) and Swedish (`sv`).
    pub errors: Vec<PlanError>,
    /// For a valid plan: its revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
}

fn iso_date<S: serde::Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&document::date(*d))
}

impl fmt::Display for ValidateResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.valid {
            write!(
                f,
                "{} is a valid SIP plan, revision {} (checked on {}).\n{} är en giltig SIP-plan.",
                self.file.display(),
                self.revision.unwrap_or_default(),
                document::date(self.date),
                self.file.display()
            )
        } else {
            let n = self.errors.len();
            write!(
                f,
                "{} is not a valid SIP plan: {n} {} (checked on {}).\n{} är ingen giltig SIP-plan.{}",
                self.file.display(),
                if n == 1 { "problem" } else { "problems" },
                document::date(self.date),
                self.file.display(),
                describe(&self.errors)
            )
        }
    }
}

/// Checks a plan file: its form, then its rules on `reference`. A file that cannot be read is an
/// error; a plan that is not valid is a result with `valid: false`.
pub fn validate_file(path: &Path, reference: Date) -> Result<ValidateResult, ClientError> {
    let bytes = read_file(path)?;
    let (errors, revision) = match check(&bytes, reference) {
        Ok(plan) => (Vec::new(), Some(plan.revision)),
        Err(errors) => (errors, None),
    };
    Ok(ValidateResult { file: path.to_owned(), valid: errors.is_empty(), date: reference, errors, revision })
}

/// A new plan to fill in: every field present, optional ones empty, the dates and what is known
/// filled in. `who` (from the profile) becomes the lead principal, a participant, the coordinator
/// and the author of revision 1.
pub fn skeleton(
    today: Date,
    who: Option<&Identity>,
    case: Option<&CaseId>,
    consent: Option<&ConsentId>,
) -> Value {
    let day = document::date(today);
    let (principal, organisation, name, hsa) = match who {
        Some(id) => {
            (id.principal.to_string(), id.organisation.clone(), id.name.clone(), id.hsa_id.to_string())
        }
        None => Default::default(),
    };
    json!({
        "type": PLAN_TYPE,
        "version": PLAN_VERSION,
        "case_id": case.map(ToString::to_string).unwrap_or_default(),
        "consent_id": consent.map(ToString::to_string).unwrap_or_default(),
        "revision": 1,
        "meeting": { "date": day, "place": "" },
        "person": { "name": "", "personnummer": "", "address": "", "phone": "", "email": "" },
        "guardians": [],
        "principals": [
            { "id": principal, "name": organisation },
            { "id": "", "name": "" }
        ],
        "participants": [
            { "name": "", "role": "Den enskilde", "present": true },
            {
                "name": name, "role": "", "principal": principal, "unit": "", "hsa_id": hsa,
                "phone": "", "email": "", "present": true
            },
            { "name": "", "role": "", "principal": "", "unit": "", "hsa_id": "", "phone": "", "email": "", "present": true }
        ],
        "background": "",
        "needs": [""],
        "goals": [""],
        "wishes": "",
        "child_view": "",
        "efforts": [
            {
                "what": "", "goal": "", "responsible_principal": "", "unit": "", "from": day, "until": "",
                "contact": { "name": "", "role": "", "phone": "", "email": "" }
            }
        ],
        "other_measures": [],
        "lead_principal": principal,
        "coordinator": { "name": name, "role": "", "principal": principal, "phone": "", "email": "", "hsa_id": hsa },
        "follow_up": { "date": "", "how": "", "evaluation": "" },
        "history": [
            { "revision": 1, "date": day, "by": name, "principal": principal, "summary": "Planen upprättad vid SIP-möte." }
        ]
    })
}

/// Writes `bytes` to `out` (mode 0600: a plan holds personal data), all or nothing; an existing
/// file is replaced only with `overwrite`.
pub fn write_output(out: &Path, bytes: &[u8], overwrite: bool) -> Result<(), ClientError> {
    crate::transfer::write_verified(out, overwrite, |f| std::io::Write::write_all(f, bytes)).map_err(|e| {
        let (crate::transfer::WriteError::Fill(e) | crate::transfer::WriteError::Io(e)) = e;
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ClientError::usage(
                "usage",
                format!(
                    "{} already exists; choose another file, or pass --force to replace it",
                    out.display()
                ),
            )
        } else {
            ClientError::io("cannot write", out)(e)
        }
    })
}

/// What to render a plan as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One self-contained HTML page.
    Html,
    /// A PDF on A4 (needs a font: [`PdfFonts`]).
    Pdf,
    /// Plain text.
    Text,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Text => "txt",
        }
    }
}

/// Renders a (valid) plan. PDF needs fonts; they are looked for when `fonts` is `None`.
pub fn render(plan: &Plan, format: Format, fonts: Option<&PdfFonts>) -> Result<Vec<u8>, ClientError> {
    let doc = document::build(plan);
    Ok(match format {
        Format::Html => html::render(&doc).into_bytes(),
        Format::Text => text::render(&doc).into_bytes(),
        Format::Pdf => match fonts {
            Some(f) => pdf::render(&doc, f)?,
            None => pdf::render(&doc, &PdfFonts::find()?)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use samordna_core::plan::{PlanErrorCode, validate};
    use time::macros::date;

    use super::*;

    #[test]
    fn the_skeleton_is_a_plan_to_fill_in() {
        let s = skeleton(date!(2026 - 11 - 23), None, None, None);
        // Every field is there, so the reader does not stumble on its shape: only on what is empty.
        let errors = Plan::from_value(&s).unwrap_err();
        assert!(errors.iter().all(|e| matches!(e.code, PlanErrorCode::Empty)), "{errors:#?}");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "consent_id",
            "person.name",
            "person.personnummer",
            "needs[0]",
            "follow_up.date",
            "lead_principal",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        assert_eq!(s["meeting"]["date"], "2026-11-23");
        assert_eq!(s["history"][0]["date"], "2026-11-23");
    }

    #[test]
    fn a_filled_in_skeleton_validates() {
        let mut s = skeleton(date!(2026 - 11 - 23), None, None, None);
        s["consent_id"] = json!("K-7F45WHC15KAWSY758K8084K3B5");
        s["person"] =
            json!({"name": "Tolvan Tolvansson", "personnummer": "19121212-1212", "phone": "013-12 12 12"});
        s["principals"] = json!([{"id": "SE2120000449", "name": "Linköpings kommun"}, {"id": "SE2321000032", "name": "Region Östergötland"}]);
        s["participants"][0]["name"] = json!("Tolvan Tolvansson");
        s["participants"][1] =
            json!({"name": "Karin Berg", "role": "Biståndshandläggare", "principal": "SE2120000449"});
        s["participants"][2] =
            json!({"name": "Anna Lind", "role": "Sjuksköterska", "principal": "SE2321000032"});
        s["background"] = json!("Bakgrund.");
        s["needs"] = json!(["Hjälp hemma"]);
        s["goals"] = json!(["Bo kvar hemma"]);
        s["efforts"][0]["what"] = json!("Hemtjänst");
        s["efforts"][0]["responsible_principal"] = json!("SE2120000449");
        s["efforts"][0]["contact"]["name"] = json!("Karin Berg");
        s["lead_principal"] = json!("SE2120000449");
        s["coordinator"]["name"] = json!("Karin Berg");
        s["coordinator"]["principal"] = json!("SE2120000449");
        s["follow_up"] =
            json!({"date": "2027-02-23", "how": "Nytt möte", "evaluation": "Vi går igenom målen."});
        s["history"][0]["by"] = json!("Karin Berg");
        s["history"][0]["principal"] = json!("SE2120000449");
        let plan = Plan::from_value(&s).unwrap();
        validate(&plan, date!(2026 - 11 - 23)).unwrap();
    }

    #[test]
    fn problems_are_listed_in_both_languages() {
        let e = vec![PlanError {
            field: "efforts[2].responsible_principal".into(),
            code: PlanErrorCode::NotAParticipant,
            en: "the responsible principal is not a participant".into(),
            sv: "ansvarig huvudman är inte deltagare".into(),
        }];
        let err = invalid(Path::new("plan.json"), &e, "; nothing was sent");
        assert_eq!(err.exit_code(), 2);
        assert_eq!(err.code(), "plan_invalid");
        let text = err.to_string();
        assert!(
            text.starts_with("plan.json is not a valid SIP plan (1 problem); nothing was sent;"),
            "{text}"
        );
        assert!(text.contains(
            "\n  efforts[2].responsible_principal: the responsible principal is not a participant"
        ));
        assert!(text.contains("\n    (sv) ansvarig huvudman är inte deltagare"));
    }
}
