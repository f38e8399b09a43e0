//! The plan as a document for people, in Swedish: sections with headings, fields, lists and
//! tables. Built once from a [`Plan`]; the HTML, text and PDF writers only lay it out, so the three
//! say the same thing in the same order.

use samordna_core::plan::{Contact, Plan};
use time::Date;

/// The title of every rendered plan.
pub const TITLE: &str = "Samordnad individuell plan (SIP)";

/// The section headings, in order. A section with nothing to say (guardians of an adult) is left out.
pub mod heading {
    /// The person.
    pub const PERSON: &str = "Personuppgifter";
    /// Guardians of a child.
    pub const GUARDIANS: &str = "Vårdnadshavare";
    /// Who took part.
    pub const PARTICIPANTS: &str = "Deltagare";
    /// Background and present situation.
    pub const BACKGROUND: &str = "Bakgrund och nuläge";
    /// Needs.
    pub const NEEDS: &str = "Behov";
    /// The person's goals and wishes.
    pub const GOALS: &str = "Mål och önskemål";
    /// The efforts.
    pub const EFFORTS: &str = "Insatser";
    /// Measures by others.
    pub const OTHERS: &str = "Åtgärder av andra än region och kommun";
    /// Overall responsibility.
    pub const LEAD: &str = "Övergripande ansvar";
    /// The coordinating contact.
    pub const COORDINATOR: &str = "Samordnande kontaktperson";
    /// Follow-up.
    pub const FOLLOW_UP: &str = "Uppföljning";
    /// Consent.
    pub const CONSENT: &str = "Samtycke";
    /// Versions.
    pub const HISTORY: &str = "Versioner och ändringar";
}

/// The columns of the efforts table.
pub const EFFORT_COLUMNS: [&str; 4] = ["Insats", "Ansvarig huvudman", "Från", "Kontaktperson"];

/// A rendered plan.
#[derive(Debug)]
pub struct Document {
    /// The document title.
    pub title: &'static str,
    /// Lines under the title: whom it is for, the meeting, the version.
    pub summary: Vec<(&'static str, String)>,
    /// The sections.
    pub sections: Vec<Section>,
    /// A line for the foot of each page: whom the plan is for, and its version.
    pub running_footer: String,
    /// The closing note: on what grounds the plan is made.
    pub closing: &'static str,
}

/// A section with a heading.
#[derive(Debug)]
pub struct Section {
    /// The heading.
    pub heading: &'static str,
    /// Its content.
    pub blocks: Vec<Block>,
}

/// A piece of a section.
#[derive(Debug)]
pub enum Block {
    /// Label and value pairs.
    Fields(Vec<(&'static str, String)>),
    /// A paragraph.
    Paragraph(String),
    /// A small heading inside a section.
    Subheading(&'static str),
    /// A bulleted list.
    List(Vec<String>),
    /// A table; `widths` are the columns' relative widths.
    Table {
        /// Column headings.
        columns: Vec<&'static str>,
        /// Relative widths, one per column.
        widths: Vec<f32>,
        /// Rows of cells.
        rows: Vec<Vec<Cell>>,
    },
}

/// A table cell: a main line and smaller lines under it.
#[derive(Debug, Default)]
pub struct Cell {
    /// The main text.
    pub main: String,
    /// Further details, shown smaller.
    pub extra: Vec<String>,
}

impl Cell {
    fn new(main: impl Into<String>) -> Self {
        Cell { main: main.into(), extra: Vec::new() }
    }

    fn with(mut self, extra: impl IntoIterator<Item = Option<String>>) -> Self {
        self.extra.extend(extra.into_iter().flatten());
        self
    }
}

/// `2026-11-23`: the Swedish standard way of writing a date.
pub fn date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn yes_no(b: bool) -> String {
    if b { "Ja".into() } else { "Nej".into() }
}

/// Telephone and e-mail on one line, whichever are given.
fn reach(phone: &Option<String>, email: &Option<String>) -> Option<String> {
    let parts: Vec<&str> = [phone, email].into_iter().flatten().map(String::as_str).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn contact_cell(c: &Contact) -> Cell {
    Cell::new(&c.name).with([c.role.clone(), c.phone.clone(), c.email.clone()])
}

/// Lays the plan out as a document.
pub fn build(plan: &Plan) -> Document {
    let name_of = |id: &samordna_core::PrincipalId| {
        plan.principal_name(id).map_or_else(|| id.to_string(), str::to_owned)
    };
    let pnr = &plan.person.personnummer;
    let number_label = if pnr.is_samordningsnummer() { "Samordningsnummer" } else { "Personnummer" };
    let last_change = plan.history.last().map(|c| c.date).unwrap_or(plan.meeting.date);

    let mut summary = vec![
        ("Planen gäller", format!("{}, {}", plan.person.name, pnr.as_str())),
        (
            "SIP-möte",
            match &plan.meeting.place {
                Some(place) => format!("{}, {place}", date(plan.meeting.date)),
                None => date(plan.meeting.date),
            },
        ),
        ("Version", format!("{}, senast ändrad {}", plan.revision, date(last_change))),
    ];
    if let Some(case) = &plan.case_id {
        summary.push(("Ärende", case.to_string()));
    }

    let mut sections = Vec::new();

    let p = &plan.person;
    let mut fields = vec![("Namn", p.name.clone()), (number_label, pnr.as_str().to_owned())];
    fields.extend(p.address.clone().map(|a| ("Adress", a)));
    fields.extend(p.phone.clone().map(|t| ("Telefon", t)));
    fields.extend(p.email.clone().map(|m| ("E-post", m)));
    sections.push(Section { heading: heading::PERSON, blocks: vec![Block::Fields(fields)] });

    if !plan.guardians.is_empty() {
        let rows = plan
            .guardians
            .iter()
            .map(|g| {
                vec![
                    Cell::new(&g.name),
                    Cell::new(g.relation.clone().unwrap_or_default()),
                    Cell::new(yes_no(g.custody)),
                    Cell::new(reach(&g.phone, &g.email).unwrap_or_default()).with([g.address.clone()]),
                ]
            })
            .collect();
        sections.push(Section {
            heading: heading::GUARDIANS,
            blocks: vec![Block::Table {
                columns: vec!["Namn", "Relation", "Vårdnad", "Kontakt"],
                widths: vec![3.0, 2.0, 1.2, 4.0],
                rows,
            }],
        });
    }

    let rows = plan
        .participants
        .iter()
        .map(|p| {
            let org = p.principal.as_ref().map(|id| Cell::new(name_of(id))).unwrap_or_default();
            vec![
                Cell::new(&p.name),
                Cell::new(&p.role),
                org.with([p.unit.clone()]),
                match (&p.phone, &p.email) {
                    (Some(phone), email) => Cell::new(phone).with([email.clone()]),
                    (None, Some(email)) => Cell::new(email),
                    (None, None) => Cell::default(),
                },
                Cell::new(yes_no(p.present)),
            ]
        })
        .collect();
    sections.push(Section {
        heading: heading::PARTICIPANTS,
        blocks: vec![Block::Table {
            columns: vec!["Namn", "Roll", "Huvudman", "Kontakt", "Närvarande"],
            widths: vec![2.4, 2.9, 3.0, 3.2, 1.9],
            rows,
        }],
    });

    sections.push(Section {
        heading: heading::BACKGROUND,
        blocks: vec![Block::Paragraph(plan.background.clone())],
    });
    sections.push(Section { heading: heading::NEEDS, blocks: vec![Block::List(plan.needs.clone())] });

    let mut goals =
        vec![Block::Subheading("Mål, med den enskildes egna ord"), Block::List(plan.goals.clone())];
    if let Some(w) = &plan.wishes {
        goals.extend([Block::Subheading("Önskemål och synpunkter"), Block::Paragraph(w.clone())]);
    }
    if let Some(v) = &plan.child_view {
        goals.extend([Block::Subheading("Barnets egen uppfattning"), Block::Paragraph(v.clone())]);
    }
    sections.push(Section { heading: heading::GOALS, blocks: goals });

    let rows = plan
        .efforts
        .iter()
        .map(|e| {
            vec![
                Cell::new(&e.what).with([e.goal.as_ref().map(|g| format!("Mål: {g}"))]),
                Cell::new(name_of(&e.responsible_principal)).with([e.unit.clone()]),
                Cell::new(date(e.from)).with([e.until.map(|u| format!("till {}", date(u)))]),
                contact_cell(&e.contact),
            ]
        })
        .collect();
    sections.push(Section {
        heading: heading::EFFORTS,
        blocks: vec![Block::Table {
            columns: EFFORT_COLUMNS.to_vec(),
            widths: vec![4.6, 2.8, 1.6, 3.0],
            rows,
        }],
    });

    let others = if plan.other_measures.is_empty() {
        Block::Paragraph("Inga åtgärder av andra är planerade.".into())
    } else {
        let rows = plan
            .other_measures
            .iter()
            .map(|m| {
                let when = match (m.from, m.until) {
                    (Some(f), Some(u)) => Cell::new(date(f)).with([Some(format!("till {}", date(u)))]),
                    (Some(f), None) => Cell::new(date(f)),
                    (None, Some(u)) => Cell::new(format!("till {}", date(u))),
                    (None, None) => Cell::default(),
                };
                vec![
                    Cell::new(&m.what),
                    Cell::new(&m.by),
                    when,
                    m.contact.as_ref().map(contact_cell).unwrap_or_default(),
                ]
            })
            .collect();
        Block::Table {
            columns: vec!["Åtgärd", "Av vem", "Från", "Kontakt"],
            widths: vec![4.6, 2.8, 1.6, 3.0],
            rows,
        }
    };
    sections.push(Section { heading: heading::OTHERS, blocks: vec![others] });

    sections.push(Section {
        heading: heading::LEAD,
        blocks: vec![Block::Paragraph(format!(
            "{} (organisationsnummer {}) har det övergripande ansvaret för planen.",
            name_of(&plan.lead_principal),
            plan.lead_principal.organisation_number()
        ))],
    });

    let c = &plan.coordinator;
    let mut fields = vec![("Namn", c.name.clone())];
    fields.extend(c.role.clone().map(|r| ("Roll", r)));
    fields.push(("Huvudman", name_of(&c.principal)));
    fields.extend(c.phone.clone().map(|t| ("Telefon", t)));
    fields.extend(c.email.clone().map(|m| ("E-post", m)));
    sections.push(Section { heading: heading::COORDINATOR, blocks: vec![Block::Fields(fields)] });

    let f = &plan.follow_up;
    sections.push(Section {
        heading: heading::FOLLOW_UP,
        blocks: vec![Block::Fields(vec![
            ("När", date(f.date)),
            ("Hur", f.how.clone()),
            ("Utvärdering", f.evaluation.clone()),
        ])],
    });

    let who = if plan.guardians.iter().any(|g| g.custody) { "vårdnadshavarna" } else { "den enskilde" };
    sections.push(Section {
        heading: heading::CONSENT,
        blocks: vec![Block::Paragraph(format!(
            "Planen delas mellan huvudmännen med samtycke från {who} (samtycke {}). Samtycket kan återkallas när som helst; \
             säg då till den samordnande kontaktpersonen.",
            plan.consent_id
        ))],
    });

    let rows = plan
        .history
        .iter()
        .map(|h| {
            vec![
                Cell::new(h.revision.to_string()),
                Cell::new(date(h.date)),
                Cell::new(&h.by).with([h.principal.as_ref().map(name_of)]),
                Cell::new(&h.summary),
            ]
        })
        .collect();
    sections.push(Section {
        heading: heading::HISTORY,
        blocks: vec![Block::Table {
            columns: vec!["Version", "Datum", "Av", "Ändring"],
            widths: vec![1.3, 1.8, 3.0, 6.0],
            rows,
        }],
    });

    Document {
        title: TITLE,
        summary,
        sections,
        running_footer: format!("SIP för {}, {}, version {}", plan.person.name, pnr.as_str(), plan.revision),
        closing: "Samordnad individuell plan enligt 16 kap. 4 § hälso- och sjukvårdslagen och socialtjänstlagens \
                  bestämmelse om samordnad individuell plan.",
    }
}
