//! `audit extract`: a person's log extract (*loggutdrag*) for one SIP case, in Swedish: which
//! organisation and which person (HSA-id) accessed what, when, on which consent, and whether it was
//! allowed. Every entry is proven to be in the log the relay signed (an inclusion proof against a
//! checkpoint verified with `relay_log_key` and consistent with the auditor's earlier ones), and the
//! extract names that checkpoint, so that the answer can be shown not to have been edited since.
//!
//! The document is laid out by the SIP plan's renderers (`crate::plan`): text, HTML and PDF say
//! the same in the same order; CSV has one line per access.

use std::{collections::BTreeMap, fmt, time::Duration};

use samordna_core::{CaseId, log::merkle};
use serde::Serialize;

use super::{
    AuditEntry, AuditQuery, csv, fetch_entries, human_time,
    names::{action_sv, outcome_sv},
};
use crate::{
    error::ClientError,
    input::human_time as human_minute,
    logcheck::{LogCheck, directory},
    ops::{Session, now},
    plan::{
        PdfFonts,
        document::{Block, Cell, Document, Section},
        html, pdf, text,
    },
};

/// What to write an extract as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtractFormat {
    /// Plain text.
    Text,
    /// RFC 4180 CSV, one line per access.
    Csv,
    /// One self-contained HTML page.
    Html,
    /// A PDF on A4.
    Pdf,
}

impl ExtractFormat {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExtractFormat::Text => "txt",
            ExtractFormat::Csv => "csv",
            ExtractFormat::Html => "html",
            ExtractFormat::Pdf => "pdf",
        }
    }
}

/// The checkpoint an extract was verified against.
#[derive(Clone, Debug, Serialize)]
pub struct VerifiedAgainst {
    /// The log.
    pub origin: String,
    /// Its size.
    pub size: u64,
    /// Its root hash (base64).
    pub root_hash: String,
    /// The signed note, as the relay served it.
    pub note: String,
}

/// Who made the extract.
#[derive(Clone, Debug, Serialize)]
pub struct Auditor {
    /// Name.
    pub name: String,
    /// HSA-id.
    pub hsa_id: String,
    /// Organisation.
    pub organisation: String,
}

/// A log extract.
#[derive(Clone, Debug, Serialize)]
pub struct Extract {
    /// The case.
    pub case_id: CaseId,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// By whom.
    pub generated_by: Auditor,
    /// The checkpoint every entry was proven against.
    pub verified_against: VerifiedAgainst,
    /// The accesses, oldest first.
    pub entries: Vec<AuditEntry>,
}

const TITLE: &str = "Loggutdrag för SIP-ärende";
const CLOSING: &str = "Utdraget är framställt ur Samordnas åtkomstlogg. Loggen innehåller inga personnummer och inget \
     innehåll ur handlingarna, bara vem som gjorde vad och när. Den som har frågor om utdraget, eller vill att någon \
     åtkomst utreds, kan vända sig till den organisation som lämnade ut det.";

impl Extract {
    /// The extract as a document for people, in Swedish.
    pub fn document(&self) -> Document {
        let first = self.entries.first().map(|e| human_time(e.entry.at_us));
        let last = self.entries.last().map(|e| human_time(e.entry.at_us));
        let period = match (first, last) {
            (Some(a), Some(b)) => format!("{a} – {b} (UTC)"),
            _ => "Inga registrerade åtkomster".into(),
        };
        let refused = self.entries.iter().filter(|e| !e.reason.is_ok()).count();
        let summary = vec![
            ("Ärende", self.case_id.to_string()),
            ("Antal åtkomster", format!("{} (varav {refused} nekade)", self.entries.len())),
            ("Tidsperiod", period),
            ("Framställt", self.generated_at.clone()),
            (
                "Framställt av",
                format!(
                    "{}, {} (HSA-id {})",
                    self.generated_by.name, self.generated_by.organisation, self.generated_by.hsa_id
                ),
            ),
        ];

        let rows: Vec<Vec<Cell>> = self
            .entries
            .iter()
            .map(|e| {
                let org = Cell {
                    main: e.organisation.clone().unwrap_or_else(|| "Okänd organisation".into()),
                    extra: e.principal.iter().map(|p| format!("org.nr {p}")).collect(),
                };
                let person = Cell {
                    main: e.user.as_ref().map_or_else(|| "—".into(), ToString::to_string),
                    extra: Vec::new(),
                };
                let what = Cell {
                    main: action_sv(e.action, e.marker()),
                    extra: e.envelope_id.iter().map(|id| format!("handling {id}")).collect(),
                };
                let consent = Cell {
                    main: e.consent_id.as_ref().map_or_else(|| "—".into(), ToString::to_string),
                    extra: Vec::new(),
                };
                vec![
                    Cell { main: human_time(e.entry.at_us), extra: vec![format!("loggpost {}", e.index)] },
                    org,
                    person,
                    what,
                    consent,
                    Cell { main: outcome_sv(e.reason), extra: Vec::new() },
                ]
            })
            .collect();
        let mut accesses = Section { heading: "Åtkomster", blocks: Vec::new() };
        if rows.is_empty() {
            accesses.blocks.push(Block::Paragraph("Ingen åtkomst till ärendet finns registrerad.".into()));
        } else {
            accesses.blocks.push(Block::Table {
                columns: vec!["Tid (UTC)", "Organisation", "Person (HSA-id)", "Vad", "Samtycke", "Utfall"],
                widths: vec![1.25, 1.5, 1.35, 1.7, 1.5, 1.2],
                rows,
            });
        }

        let mut per_org: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for e in &self.entries {
            let counts = per_org.entry(e.organisation_label()).or_default();
            counts.0 += 1;
            if !e.reason.is_ok() {
                counts.1 += 1;
            }
        }
        let per_org_rows = per_org
            .into_iter()
            .map(|(org, (all, denied))| {
                vec![
                    Cell { main: org, extra: Vec::new() },
                    Cell { main: all.to_string(), extra: Vec::new() },
                    Cell { main: denied.to_string(), extra: Vec::new() },
                ]
            })
            .collect::<Vec<_>>();
        let mut orgs = Section { heading: "Per organisation", blocks: Vec::new() };
        if !per_org_rows.is_empty() {
            orgs.blocks.push(Block::Table {
                columns: vec!["Organisation", "Åtkomster", "Varav nekade"],
                widths: vec![3.0, 1.0, 1.0],
                rows: per_org_rows,
            });
        }

        let v = &self.verified_against;
        let control = Section {
            heading: "Kontroll av loggen",
            blocks: vec![
                Block::Paragraph(
                    "Varje rad ovan har kontrollerats mot åtkomstloggens signerade kontrollpunkt nedan: raden ingår \
                     i loggen som den såg ut när kontrollpunkten signerades, och loggen har bara vuxit sedan de \
                     kontrollpunkter den granskande organisationen kontrollerat tidigare. En ändring i efterhand, \
                     också av den som driver tjänsten, skulle upptäckas."
                        .into(),
                ),
                Block::Fields(vec![
                    ("Logg", v.origin.clone()),
                    ("Kontrollpunkt", format!("{} loggposter", v.size)),
                    ("Rothash", v.root_hash.clone()),
                ]),
            ],
        };
        let about = Section {
            heading: "Om utdraget",
            blocks: vec![
                Block::Paragraph(
                    "Utdraget visar vilka organisationer och personer (med HSA-id) som har tagit del av, skickat \
                     eller försökt ta del av uppgifter i ärendet genom Samordna, när det skedde, vilket samtycke \
                     som gällde och om åtkomsten tilläts eller nekades. En nekad åtkomst betyder att inga uppgifter \
                     lämnades ut."
                        .into(),
                ),
                Block::List(vec![
                    "Hämtade och läste en handling: organisationen hämtade en krypterad handling och kunde läsa den."
                        .into(),
                    "Skickade handling: organisationen skickade en handling i ärendet, till exempel en SIP-plan \
                     eller en kallelse."
                        .into(),
                    "Granskade åtkomstloggen: en loggranskare tog fram uppgifter ur loggen om ärendet.".into(),
                ]),
            ],
        };
        Document {
            title: TITLE,
            summary,
            sections: vec![accesses, orgs, control, about],
            running_footer: format!(
                "Loggutdrag, SIP-ärende {}, kontrollerat mot {} vid {} loggposter",
                self.case_id, v.origin, v.size
            ),
            closing: CLOSING,
        }
    }

    /// RFC 4180 CSV with Swedish column names, one line per access.
    pub fn to_csv(&self) -> String {
        let mut rows = vec![
            [
                "loggpost",
                "tid_utc",
                "organisation",
                "organisationsnummer",
                "hsa_id",
                "vad",
                "atgard",
                "samtycke",
                "handling",
                "utfall",
                "skal",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        let opt = |v: Option<String>| v.unwrap_or_default();
        for e in &self.entries {
            rows.push(vec![
                e.index.to_string(),
                e.time.clone(),
                opt(e.organisation.clone()),
                opt(e.principal.as_ref().map(ToString::to_string)),
                opt(e.user.as_ref().map(ToString::to_string)),
                action_sv(e.action, e.marker()),
                e.action.to_string(),
                opt(e.consent_id.as_ref().map(ToString::to_string)),
                opt(e.envelope_id.as_ref().map(ToString::to_string)),
                if e.reason.is_ok() { "tillåten".into() } else { "nekad".into() },
                e.reason.to_string(),
            ]);
        }
        csv(&rows)
    }

    /// The extract as bytes of `format`. PDF needs fonts; they are looked for when `fonts` is `None`.
    pub fn render(&self, format: ExtractFormat, fonts: Option<&PdfFonts>) -> Result<Vec<u8>, ClientError> {
        Ok(match format {
            ExtractFormat::Csv => self.to_csv().into_bytes(),
            ExtractFormat::Text => text::render(&self.document()).into_bytes(),
            ExtractFormat::Html => html::render(&self.document()).into_bytes(),
            ExtractFormat::Pdf => match fonts {
                Some(f) => pdf::render(&self.document(), f)?,
                None => pdf::render(&self.document(), &PdfFonts::find()?)?,
            },
        })
    }
}

impl fmt::Display for Extract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&text::render(&self.document()))
    }
}

impl Session {
    /// `audit extract`: the accesses to `case`, each proven to be in a checkpoint verified now.
    pub async fn audit_extract(&self, case: &CaseId) -> Result<Extract, ClientError> {
        let query = AuditQuery { case: Some(case.clone()), ..AuditQuery::default() };
        let (entries, _) = fetch_entries(self, &query).await?;
        let needed = entries.iter().map(|e| e.index + 1).max().unwrap_or(0);
        let check = self.covering_checkpoint(needed).await?;
        let root = check
            .checkpoint
            .as_ref()
            .map(|c| *c.root_hash())
            .ok_or_else(|| ClientError::Internal("the verified checkpoint was not kept".into()))?;
        for e in &entries {
            let proof = self.relay().log_inclusion(e.index, check.size).await?.value;
            merkle::verify_inclusion(&e.leaf_hash(), e.index, check.size, &proof.proof, &root).map_err(|err| {
                ClientError::verification(
                    "log_entry_invalid",
                    format!(
                        "entry {}: it is not in the log the relay signed at {} entries ({err}); the log was changed: \
                         run `samordna audit verify` and tell the relay's operator",
                        e.index, check.size
                    ),
                )
            })?;
        }
        let dir = directory(self).await;
        let id = self.profile().identity();
        Ok(Extract {
            case_id: case.clone(),
            generated_at: human_minute(now()),
            generated_by: Auditor {
                name: id.name.clone(),
                hsa_id: id.hsa_id.to_string(),
                organisation: id.organisation.clone(),
            },
            verified_against: VerifiedAgainst {
                origin: check.origin.clone(),
                size: check.size,
                root_hash: check.root_hash.clone(),
                note: check.note.clone(),
            },
            entries: entries.into_iter().map(|e| AuditEntry::new(e, &dir)).collect(),
        })
    }

    /// A checkpoint of at least `needed` entries, verified and consistent with the profile's last
    /// one. The relay signs within a moment of every change, so this waits a few seconds at most.
    pub(crate) async fn covering_checkpoint(&self, needed: u64) -> Result<LogCheck, ClientError> {
        let mut attempts = 0;
        loop {
            let check = self.check_log().await?;
            if check.size >= needed {
                return Ok(check);
            }
            attempts += 1;
            if attempts >= 40 {
                return Err(ClientError::verification(
                    "log_not_signed",
                    format!(
                        "the relay has served entries up to index {} but signed no checkpoint covering them \
                         (its newest has {} entries); try again in a minute, and tell the relay's operator if \
                         this persists",
                        needed.saturating_sub(1),
                        check.size
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
