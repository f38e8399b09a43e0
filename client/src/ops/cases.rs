//! Cases, consents, the directory and the inbox.

use std::fmt;

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, HsaId, PrincipalId,
    api::{CaseStatus, CaseView, ConsentStatus, ConsentView, Directory, OpenCase, PrincipalEntry},
    audit::Reason,
    consent::{
        ConsentForm, ConsentMetadata, ConsentPolicy, ConsentType, GrantorRole, Purpose, SignedConsent,
        SubjectClass, check_record,
    },
    encoding::rfc3339,
    envelope::Party,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::{
    NamedPrincipal, Session, join_names,
    lifecycle::{
        CaseEventInfo, ChainLink, ChangeInfo, NoticeInfo, amendment_chain, fmt_chain, fmt_changes, notices,
        unsupported_state, verify_change,
    },
    now, random_128,
};
use crate::{
    error::ClientError,
    input::{human_date, human_time},
    relay::{RelayError, RelayMeta},
};

/// A consent, decoded, with names.
#[derive(Clone, Debug, Serialize)]
pub struct ConsentInfo {
    /// The consent.
    pub consent_id: ConsentId,
    /// Its case.
    pub case_id: CaseId,
    /// Its state at the relay now.
    pub status: ConsentStatus,
    /// The principals that may exchange under it.
    pub parties: Vec<NamedPrincipal>,
    /// The kinds of information it covers.
    pub kinds: Vec<ContentKind>,
    /// Start of validity.
    #[serde(with = "rfc3339")]
    pub valid_from: OffsetDateTime,
    /// End of validity.
    #[serde(with = "rfc3339")]
    pub valid_until: OffsetDateTime,
    /// Adult or minor.
    pub subject: SubjectClass,
    /// Who consented, by role.
    pub grantors: Vec<GrantorRole>,
    /// For a minor: guardians with custody.
    pub custodial_guardians: Option<u8>,
    /// For a minor: the child's view was heard.
    pub child_view_heard: bool,
    /// How it was given.
    pub form: ConsentForm,
    /// Who recorded it.
    pub recorded_by: NamedParty,
    /// When the relay recorded it.
    #[serde(with = "rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// When it was withdrawn.
    #[serde(with = "rfc3339::option")]
    pub withdrawn_at: Option<OffsetDateTime>,
    /// Parties removed by blocks.
    pub blocked_parties: Vec<PrincipalId>,
    /// Kinds removed by blocks.
    pub blocked_kinds: Vec<ContentKind>,
    /// The consent that replaced it.
    pub superseded_by: Option<ConsentId>,
    /// The consent it replaces.
    pub supersedes: Option<ConsentId>,
    /// Whether the recorder's signature verified (at the time the relay recorded it).
    pub signature_verified: bool,
    /// Why it did not, if it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_error: Option<String>,
    /// Its withdrawals and blocks, oldest first, each signature verified here.
    pub changes: Vec<ChangeInfo>,
    /// What the relay shows that no verified change supports (or a verified change it does not
    /// enforce): a reason not to trust the relay's account of this consent.
    pub unsupported: Vec<String>,
    /// The amendment chain it belongs to, oldest first (empty when it was never amended and
    /// amends nothing, or when the case could not be read).
    pub chain: Vec<ChainLink>,
    #[serde(skip)]
    directory: Directory,
}

impl ConsentInfo {
    pub(crate) fn new(
        view: &ConsentView,
        directory: &Directory,
        session: &Session,
    ) -> Result<Self, ClientError> {
        let m = view.record.unverified_metadata().map_err(|e| {
            ClientError::Relay(RelayError::Protocol {
                status: None,
                detail: format!("a consent record cannot be read: {e}"),
                request_id: None,
            })
        })?;
        let verified = view.record.verify(session.profile.trust(), view.recorded_at);
        let changes: Vec<ChangeInfo> =
            view.changes.iter().map(|c| verify_change(c, &m, session.profile.trust(), directory)).collect();
        let unsupported = unsupported_state(view, &changes);
        Ok(ConsentInfo {
            consent_id: m.consent_id,
            case_id: m.case_id,
            status: view.status,
            parties: m.parties.iter().map(|p| NamedPrincipal::new(directory, p)).collect(),
            kinds: m.kinds,
            valid_from: m.valid_from,
            valid_until: m.valid_until,
            subject: m.subject,
            grantors: m.grantors,
            custodial_guardians: m.custodial_guardians,
            child_view_heard: m.child_view_heard,
            form: m.form,
            recorded_by: NamedParty::new(directory, &m.recorded_by),
            recorded_at: view.recorded_at,
            withdrawn_at: view.withdrawn_at,
            blocked_parties: view.blocked_parties.clone(),
            blocked_kinds: view.blocked_kinds.clone(),
            superseded_by: view.superseded_by.clone(),
            supersedes: m.supersedes,
            signature_verified: verified.is_ok(),
            signature_error: verified.err().map(|e| e.to_string()),
            changes,
            unsupported,
            chain: Vec::new(),
            directory: directory.clone(),
        })
    }

    /// Whether anything that must verify did not: the recorder's signature, a change's signature,
    /// or the relay's account of withdrawals and blocks (the command then exits with 4).
    pub fn verification_failed(&self) -> bool {
        !self.signature_verified
            || self.changes.iter().any(|c| !c.is_verified())
            || !self.unsupported.is_empty()
    }
}

pub(crate) fn status_word(s: ConsentStatus) -> &'static str {
    match s {
        ConsentStatus::Active => "active",
        ConsentStatus::NotYetValid => "not yet valid",
        ConsentStatus::Expired => "expired",
        ConsentStatus::Withdrawn => "withdrawn",
        ConsentStatus::Superseded => "superseded",
    }
}

fn kinds_text(kinds: &[ContentKind]) -> String {
    kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

fn grantor_word(g: GrantorRole) -> &'static str {
    match g {
        GrantorRole::Individual => "the individual",
        GrantorRole::Guardian1 => "guardian 1",
        GrantorRole::Guardian2 => "guardian 2",
        GrantorRole::LegalRepresentative => "the legal representative",
    }
}

impl fmt::Display for ConsentInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let blocked = !self.blocked_parties.is_empty() || !self.blocked_kinds.is_empty();
        let state = match (self.status, blocked) {
            (ConsentStatus::Active, true) => "active, with blocks (spärr)",
            (s, _) => status_word(s),
        };
        writeln!(f, "Consent {} ({state}) in case {}", self.consent_id, self.case_id)?;
        writeln!(f, "  Parties: {}", join_names(&self.parties))?;
        writeln!(f, "  Covers: {}", kinds_text(&self.kinds))?;
        writeln!(f, "  Valid from {} until {}", human_time(self.valid_from), human_time(self.valid_until))?;
        let subject = match self.subject {
            SubjectClass::Adult => "an adult".to_owned(),
            SubjectClass::Minor => format!(
                "a child ({} guardian(s) with custody; child's view {})",
                self.custodial_guardians.map_or("?".into(), |n| n.to_string()),
                if self.child_view_heard { "heard" } else { "not recorded as heard" }
            ),
        };
        let grantors: Vec<&str> = self.grantors.iter().map(|g| grantor_word(*g)).collect();
        let form = match self.form {
            ConsentForm::Written => "in writing",
            ConsentForm::OralDocumented => "orally, documented",
            ConsentForm::Digital => "digitally",
        };
        writeln!(f, "  Given by {} {form}, about {subject}", join_names(&grantors))?;
        write!(f, "  Recorded by {} on {}", self.recorded_by, human_time(self.recorded_at))?;
        if let Some(at) = self.withdrawn_at {
            write!(f, "\n  Withdrawn on {}", human_time(at))?;
        }
        if blocked {
            let parties =
                self.blocked_parties.iter().map(|p| NamedPrincipal::new(&self.directory, p).to_string());
            let kinds = self.blocked_kinds.iter().map(ToString::to_string);
            let all: Vec<String> = parties.chain(kinds).collect();
            write!(f, "\n  Blocked (spärr), no longer covered: {}", join_names(&all))?;
        }
        if let Some(newer) = &self.superseded_by {
            write!(f, "\n  Replaced by consent {newer}")?;
        }
        if let Some(older) = &self.supersedes {
            write!(f, "\n  Replaces consent {older}")?;
        }
        fmt_chain(f, &self.consent_id, &self.chain)?;
        fmt_changes(f, &self.changes, &self.directory)?;
        if let Some(e) = &self.signature_error {
            write!(f, "\n  WARNING: the recorder's signature does not verify: {e}")?;
        }
        for problem in &self.unsupported {
            write!(
                f,
                "\n  WARNING: {problem}; do not rely on the relay's account of this consent, and tell the relay's operator"
            )?;
        }
        Ok(())
    }
}

/// `consent record` and `consent show`.
#[derive(Clone, Debug, Serialize)]
pub struct ConsentResult {
    /// The consent.
    #[serde(flatten)]
    pub consent: ConsentInfo,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
}

impl fmt::Display for ConsentResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.consent.fmt(f)
    }
}

/// A case, decoded, with names.
#[derive(Clone, Debug, Serialize)]
pub struct CaseInfo {
    /// The case.
    pub case_id: CaseId,
    /// Overall responsibility.
    pub lead_principal: NamedPrincipal,
    /// Open or closed.
    pub status: CaseStatus,
    /// Who opened it.
    pub opened_by: NamedParty,
    /// When.
    #[serde(with = "rfc3339")]
    pub opened_at: OffsetDateTime,
    /// The lead and every party of its consents.
    pub participants: Vec<NamedPrincipal>,
    /// Its consents, oldest first.
    pub consents: Vec<ConsentInfo>,
    /// When it was closed, if it is.
    #[serde(with = "rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// What has happened in it, oldest first.
    pub history: Vec<CaseEventInfo>,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
}

impl CaseInfo {
    /// Whether a consent's or a change's signature, or the relay's account of a consent, did not
    /// verify (the command then exits with 4).
    pub fn verification_failed(&self) -> bool {
        self.consents.iter().any(ConsentInfo::verification_failed)
    }
}

impl fmt::Display for CaseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match (self.status, self.closed_at) {
            (CaseStatus::Open, _) => "open".to_owned(),
            (CaseStatus::Closed, Some(at)) => format!("closed {}", human_time(at)),
            (CaseStatus::Closed, None) => "closed".to_owned(),
        };
        writeln!(f, "Case {} ({status}), lead {}", self.case_id, self.lead_principal)?;
        writeln!(f, "Opened by {} on {}", self.opened_by, human_time(self.opened_at))?;
        write!(f, "Participants: {}", join_names(&self.participants))?;
        if self.consents.is_empty() {
            write!(
                f,
                "\nNo consent yet; record one with `samordna consent record --case {}`.",
                self.case_id
            )?;
        }
        for c in &self.consents {
            write!(
                f,
                "\n  {} {}: {} for {}, until {}",
                c.consent_id,
                status_word(c.status),
                kinds_text(&c.kinds),
                join_names(&c.parties),
                human_date(c.valid_until)
            )?;
            if let Some(at) = c.withdrawn_at {
                write!(f, "; withdrawn {}", human_time(at))?;
            }
            if !c.blocked_parties.is_empty() || !c.blocked_kinds.is_empty() {
                let parties: Vec<String> = c
                    .blocked_parties
                    .iter()
                    .map(|p| NamedPrincipal::new(&c.directory, p).to_string())
                    .collect();
                let kinds: Vec<String> = c.blocked_kinds.iter().map(ToString::to_string).collect();
                write!(f, "; blocked (spärr): {}", join_names(&[parties, kinds].concat()))?;
            }
            if let Some(newer) = &c.superseded_by {
                write!(f, "; replaced by {newer}")?;
            }
            if c.verification_failed() {
                write!(f, "; WARNING: DOES NOT VERIFY, see `samordna consent show {}`", c.consent_id)?;
            }
        }
        if !self.history.is_empty() {
            write!(f, "\nHistory (oldest first):")?;
            for e in &self.history {
                write!(f, "\n  {e}")?;
            }
        }
        Ok(())
    }
}

/// What a consent says, for [`Session::consent_record`].
#[derive(Clone, Debug)]
pub struct ConsentRequest {
    /// The case.
    pub case_id: CaseId,
    /// The principals that may exchange information (ours among them).
    pub parties: Vec<PrincipalId>,
    /// The kinds of information covered.
    pub kinds: Vec<ContentKind>,
    /// Start of validity; now when absent.
    pub valid_from: Option<OffsetDateTime>,
    /// End of validity.
    pub valid_until: OffsetDateTime,
    /// Adult or minor.
    pub subject: SubjectClass,
    /// Who consented, by role.
    pub grantors: Vec<GrantorRole>,
    /// For a minor: how many guardians have custody.
    pub custodial_guardians: Option<u8>,
    /// For a minor: the child's view was heard.
    pub child_view_heard: bool,
    /// How consent was given.
    pub form: ConsentForm,
    /// The consent this one replaces.
    pub supersedes: Option<ConsentId>,
}

fn dedup<T: PartialEq + Clone>(v: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

impl ConsentRequest {
    /// The metadata this request describes, recorded by `recorder`, given `now` as the default start.
    pub fn metadata(&self, consent_id: ConsentId, recorder: Party, now: OffsetDateTime) -> ConsentMetadata {
        ConsentMetadata {
            record_type: ConsentType::Consent,
            version: 1,
            consent_id,
            case_id: self.case_id.clone(),
            // Repeating a flag is not an error worth refusing a consent over.
            parties: dedup(&self.parties),
            kinds: dedup(&self.kinds),
            purpose: Purpose::Sip,
            valid_from: self.valid_from.unwrap_or(now),
            valid_until: self.valid_until,
            subject: self.subject,
            grantors: dedup(&self.grantors),
            custodial_guardians: self.custodial_guardians,
            child_view_heard: self.child_view_heard,
            form: self.form,
            recorded_by: recorder,
            supersedes: self.supersedes.clone(),
        }
    }
}

/// A person or system (HSA-id) at a principal, with the principal's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedParty {
    /// The principal.
    pub principal: NamedPrincipal,
    /// The person or system.
    pub user: HsaId,
}

impl NamedParty {
    pub(crate) fn new(directory: &Directory, party: &Party) -> Self {
        NamedParty { principal: NamedPrincipal::new(directory, &party.principal), user: party.user.clone() }
    }
}

impl fmt::Display for NamedParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.user, self.principal)
    }
}

/// One envelope in the inbox.
#[derive(Clone, Debug, Serialize)]
pub struct InboxEntry {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// Its case.
    pub case_id: CaseId,
    /// The consent it was sent under.
    pub consent_id: ConsentId,
    /// The sending principal.
    pub sender: NamedPrincipal,
    /// The sending person or system.
    pub sender_user: HsaId,
    /// What kind of information.
    pub content_kind: ContentKind,
    /// When it was sealed.
    #[serde(with = "rfc3339")]
    pub created: OffsetDateTime,
    /// When the relay stored it.
    #[serde(with = "rfc3339")]
    pub received_at: OffsetDateTime,
    /// Envelope bytes.
    pub size: u64,
    /// When our principal first fetched it.
    #[serde(with = "rfc3339::option")]
    pub fetched_at: Option<OffsetDateTime>,
    /// Whether our principal's receipt has been posted.
    pub receipt_posted: bool,
}

/// `inbox`.
#[derive(Clone, Debug, Serialize)]
pub struct InboxResult {
    /// Newest first.
    pub items: Vec<InboxEntry>,
    /// Notices for our principal (withdrawals, blocks, deletions before every recipient fetched),
    /// newest first.
    pub notices: Vec<NoticeInfo>,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
}

/// Bytes for people.
pub(crate) fn human_size(n: u64) -> String {
    const KIB: u64 = 1024;
    match n {
        n if n < KIB => format!("{n} bytes"),
        n if n < KIB * KIB => format!("{:.1} KiB", n as f64 / KIB as f64),
        n if n < KIB * KIB * KIB => format!("{:.1} MiB", n as f64 / (KIB * KIB) as f64),
        n => format!("{:.1} GiB", n as f64 / (KIB * KIB * KIB) as f64),
    }
}

impl fmt::Display for InboxResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.notices.is_empty() {
            writeln!(f, "Notices (newest first):")?;
            for n in &self.notices {
                writeln!(f, "  {n}")?;
            }
            if self.items.is_empty() {
                return write!(f, "No documents are waiting.");
            }
            writeln!(f, "Documents:")?;
        }
        if self.items.is_empty() {
            return write!(f, "The inbox is empty.");
        }
        let lines: Vec<String> = self
            .items
            .iter()
            .map(|i| {
                let state = match (i.fetched_at, i.receipt_posted) {
                    (None, _) => "new".to_owned(),
                    (Some(at), true) => format!("fetched {}, receipt sent", human_time(at)),
                    (Some(at), false) => format!("fetched {}, no receipt yet", human_time(at)),
                };
                format!(
                    "{}  {} ({}) from {}, sent by {}, case {}, received {}, {}; {state}",
                    i.envelope_id,
                    i.content_kind,
                    i.content_kind.swedish(),
                    i.sender,
                    i.sender_user,
                    i.case_id,
                    human_time(i.received_at),
                    human_size(i.size)
                )
            })
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}

/// `directory`.
#[derive(Clone, Debug, Serialize)]
pub struct DirectoryResult {
    /// Every registered principal.
    pub principals: Vec<PrincipalEntry>,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
}

impl fmt::Display for DirectoryResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .principals
            .iter()
            .map(|p| {
                format!(
                    "{}  {} ({}){}",
                    p.id,
                    p.name,
                    p.kind.as_str().replace('_', " "),
                    if p.enabled { "" } else { ", disabled" }
                )
            })
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}

impl Session {
    pub(crate) async fn case_info(&self, view: &CaseView, relay: RelayMeta) -> Result<CaseInfo, ClientError> {
        let directory = self.directory_or_empty().await;
        let mut consents: Vec<ConsentInfo> =
            view.consents.iter().map(|c| ConsentInfo::new(c, &directory, self)).collect::<Result<_, _>>()?;
        for c in &mut consents {
            c.chain = amendment_chain(&c.consent_id, &view.consents);
        }
        Ok(CaseInfo {
            case_id: view.case_id.clone(),
            lead_principal: NamedPrincipal::new(&directory, &view.lead_principal),
            status: view.status,
            opened_by: NamedParty::new(&directory, &view.opened_by),
            opened_at: view.opened_at,
            participants: view.participants.iter().map(|p| NamedPrincipal::new(&directory, p)).collect(),
            consents,
            closed_at: view.closed_at,
            history: view.history.iter().map(|e| CaseEventInfo::new(e, &directory)).collect(),
            relay,
        })
    }

    /// Opens a case with a new random id; the lead is our principal unless another is named.
    pub async fn case_open(&self, lead: Option<PrincipalId>) -> Result<CaseInfo, ClientError> {
        let req = OpenCase {
            case_id: CaseId::from_random_bytes(random_128()?),
            lead_principal: lead.unwrap_or_else(|| self.profile.principal().clone()),
        };
        let answer = self.relay.open_case(&req).await?;
        self.case_info(&answer.value, answer.meta).await
    }

    /// A case with its consents.
    pub async fn case_show(&self, id: &CaseId) -> Result<CaseInfo, ClientError> {
        let answer = self.relay.case(id).await?;
        self.case_info(&answer.value, answer.meta).await
    }

    /// Records a consent: checks the consent rules here first (so that a missing guardian is told
    /// before anything leaves this computer), signs the metadata and sends it to the relay.
    pub async fn consent_record(&self, req: &ConsentRequest) -> Result<ConsentResult, ClientError> {
        let id = self.profile.identity();
        let recorder = Party { principal: id.principal.clone(), user: id.hsa_id.clone() };
        let at = now();
        let metadata = req.metadata(ConsentId::from_random_bytes(random_128()?), recorder, at);
        check_record(&metadata, &ConsentPolicy::default())?;
        let signed = SignedConsent::sign(&metadata, self.profile.signer(), at)
            .map_err(|e| ClientError::Internal(format!("the consent could not be signed: {e}")))?;
        let answer = self.relay.record_consent(&signed).await?;
        let directory = self.directory_or_empty().await;
        Ok(ConsentResult { consent: ConsentInfo::new(&answer.value, &directory, self)?, relay: answer.meta })
    }

    /// A consent, with its recorder's signature and every change's signature verified, and its
    /// amendment chain when it has one.
    pub async fn consent_show(&self, id: &ConsentId) -> Result<ConsentResult, ClientError> {
        let answer = self.relay.consent(id).await?;
        let directory = self.directory_or_empty().await;
        let mut consent = ConsentInfo::new(&answer.value, &directory, self)?;
        if consent.supersedes.is_some() || consent.superseded_by.is_some() {
            // The chain is a courtesy: the consent is shown without it if the case cannot be read.
            if let Ok(case) = self.relay.case(&consent.case_id).await {
                consent.chain = amendment_chain(id, &case.value.consents);
            }
        }
        Ok(ConsentResult { consent, relay: answer.meta })
    }

    /// The relay's directory of principals.
    pub async fn directory(&self) -> Result<DirectoryResult, ClientError> {
        let answer = self.relay.directory().await?;
        Ok(DirectoryResult { principals: answer.value.principals, relay: answer.meta })
    }

    /// Envelopes addressed to our principal, newest first, optionally of one case.
    pub async fn inbox(&self, case: Option<&CaseId>) -> Result<InboxResult, ClientError> {
        let answer = self.relay.inbox(case).await?;
        let directory = self.directory_or_empty().await;
        let notices = notices(&answer.value.notices, &directory);
        let items = answer
            .value
            .items
            .into_iter()
            .map(|i| InboxEntry {
                sender: NamedPrincipal::new(&directory, &i.sender.principal),
                sender_user: i.sender.user,
                envelope_id: i.envelope_id,
                case_id: i.case_id,
                consent_id: i.consent_id,
                content_kind: i.content_kind,
                created: i.created,
                received_at: i.received_at,
                size: i.size,
                fetched_at: i.fetched_at,
                receipt_posted: i.receipt_posted,
            })
            .collect();
        Ok(InboxResult { items, notices, relay: answer.meta })
    }
}

/// A closed case refuses new documents; said before sealing anything.
pub(crate) fn check_case_open(case: &CaseView) -> Result<(), ClientError> {
    match case.status {
        CaseStatus::Open => Ok(()),
        CaseStatus::Closed => Err(ClientError::policy(
            Reason::CaseClosed,
            format!(
                "case {} was closed{} by its lead principal; no new documents may be sent in it, and nothing was sent",
                case.case_id,
                case.closed_at.map(|t| format!(" on {}", human_time(t))).unwrap_or_default()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn repeated_flags_are_recorded_once() {
        let kommun = PrincipalId::parse("SE2120000449").unwrap();
        let region = PrincipalId::parse("SE2321000032").unwrap();
        let req = ConsentRequest {
            case_id: CaseId::from_random_bytes([1; 16]),
            parties: vec![kommun.clone(), region.clone(), kommun.clone()],
            kinds: vec![ContentKind::Plan, ContentKind::Plan],
            valid_from: None,
            valid_until: time::macros::datetime!(2027-05-01 0:00 UTC),
            subject: SubjectClass::Adult,
            grantors: vec![GrantorRole::Individual, GrantorRole::Individual],
            custodial_guardians: None,
            child_view_heard: false,
            form: ConsentForm::Written,
            supersedes: None,
        };
        let recorder = Party { principal: kommun.clone(), user: HsaId::parse("SE2120000449-kb01").unwrap() };
        let at = time::macros::datetime!(2026-11-23 14:05 UTC);
        let m = req.metadata(ConsentId::from_random_bytes([2; 16]), recorder, at);
        assert_eq!(m.parties, vec![kommun, region]);
        assert_eq!(m.kinds, vec![ContentKind::Plan]);
        assert_eq!(m.grantors, vec![GrantorRole::Individual]);
        assert_eq!(m.valid_from, at, "the start defaults to now");
        assert!(check_record(&m, &ConsentPolicy::default()).is_ok());
    }
}
