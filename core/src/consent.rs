//! Consent: what lifts *sekretess*. The metadata the relay enforces, and the rules as pure functions.
//!
//! A consent has public metadata, signed by the recording principal, that the relay stores and
//! enforces; the consent document itself (names, how it was given, a scanned form) travels to the
//! parties as an encrypted envelope of kind `consent`, and the relay never sees it.
//!
//! Every rule returns `Ok(())` or a [`Denial`] with a stable [`Reason`] and a sentence that says
//! what to do. The relay decides with these functions; the client runs the same ones before it asks,
//! so a social worker hears about a missing guardian before anything leaves the building.

use core::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

use crate::{
    audit::Reason,
    cert::TrustStore,
    encoding::rfc3339,
    envelope::Party,
    id::{CaseId, ConsentId, PrincipalId},
    kind::ContentKind,
    signature::{SignError, SignatureError, Signer},
    signed::{SignedStatement, StatementError},
};

/// The default longest validity of a consent, in months from its start.
pub const DEFAULT_MAX_VALIDITY_MONTHS: u8 = 12;

/// The `type` of consent metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentType {
    /// The only value.
    #[serde(rename = "samordna-consent")]
    Consent,
}

/// Why the information may be shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Drawing up and following a coordinated individual plan (2 kap. 7 § SoL, 16 kap. 4 § HSL).
    Sip,
}

/// Whom the consent is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectClass {
    /// 18 or older.
    Adult,
    /// Under 18: the guardians with custody consent, and the child is heard.
    Minor,
}

/// Who gave the consent, by role. No names: the names are in the encrypted consent document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantorRole {
    /// The person themself.
    Individual,
    /// The first guardian with custody (*vårdnadshavare 1*).
    Guardian1,
    /// The second guardian with custody (*vårdnadshavare 2*).
    Guardian2,
    /// A legal representative: *god man* or *förvaltare*.
    LegalRepresentative,
}

/// How the consent was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentForm {
    /// On paper, signed.
    Written,
    /// Orally, and documented by the staff member.
    OralDocumented,
    /// Digitally (e-service, e-signature).
    Digital,
}

/// The consent's public metadata: what the relay stores and enforces. Signed by the recorder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentMetadata {
    /// Always `samordna-consent`.
    #[serde(rename = "type")]
    pub record_type: ConsentType,
    /// Format version, 1.
    pub version: u8,
    /// Chosen by the recorder.
    pub consent_id: ConsentId,
    /// The SIP case it belongs to.
    pub case_id: CaseId,
    /// The principals that may exchange information with each other under it.
    pub parties: Vec<PrincipalId>,
    /// The kinds of information it covers. There is no blanket consent.
    pub kinds: Vec<ContentKind>,
    /// Why.
    pub purpose: Purpose,
    /// Start of validity.
    #[serde(with = "rfc3339")]
    pub valid_from: OffsetDateTime,
    /// End of validity: mandatory.
    #[serde(with = "rfc3339")]
    pub valid_until: OffsetDateTime,
    /// Adult or minor.
    pub subject: SubjectClass,
    /// Who consented, by role.
    pub grantors: Vec<GrantorRole>,
    /// For a minor: how many guardians have custody (1 or 2); every one of them must consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodial_guardians: Option<u8>,
    /// For a minor: that the child's own view was heard and recorded.
    #[serde(default)]
    pub child_view_heard: bool,
    /// How it was given.
    pub form: ConsentForm,
    /// Who recorded it.
    pub recorded_by: Party,
    /// The consent this one amends, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<ConsentId>,
}

/// A refusal: a stable reason and a sentence that says what happened and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The stable reason.
    pub reason: Reason,
    /// For people.
    pub message: String,
}

impl Denial {
    /// A denial with its message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Denial { reason, message: message.into() }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.reason)
    }
}

impl std::error::Error for Denial {}

/// The outcome of a rule.
pub type Decision = Result<(), Denial>;

/// Settings of the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentPolicy {
    /// Longest validity, in months from the start.
    pub max_validity_months: u8,
}

impl Default for ConsentPolicy {
    fn default() -> Self {
        ConsentPolicy { max_validity_months: DEFAULT_MAX_VALIDITY_MONTHS }
    }
}

// ---- Rules for recording a consent ----

/// Parties are at least two principals, without repeats, and include the recorder.
pub fn rule_parties(m: &ConsentMetadata) -> Decision {
    let distinct = m.parties.iter().enumerate().all(|(i, p)| !m.parties[..i].contains(p));
    if m.parties.len() < 2 || !distinct {
        return Err(Denial::new(
            Reason::TooFewParties,
            "a consent must name at least two different principals that may share information",
        ));
    }
    if !m.parties.contains(&m.recorded_by.principal) {
        return Err(Denial::new(
            Reason::RecorderNotAParty,
            format!(
                "the recording principal {} must itself be a party to the consent",
                m.recorded_by.principal
            ),
        ));
    }
    Ok(())
}

/// An adult's consent is given by the individual or a legal representative; a child's by every
/// guardian with custody, with the child's own view heard.
pub fn rule_grantors(m: &ConsentMetadata) -> Decision {
    let has = |r: GrantorRole| m.grantors.contains(&r);
    let guardians = has(GrantorRole::Guardian1) || has(GrantorRole::Guardian2);
    match m.subject {
        SubjectClass::Adult => {
            if guardians || m.custodial_guardians.is_some() {
                return Err(Denial::new(
                    Reason::GrantorsInconsistent,
                    "guardians do not consent for an adult; record the individual or their legal representative (god man or förvaltare)",
                ));
            }
            if !has(GrantorRole::Individual) && !has(GrantorRole::LegalRepresentative) {
                return Err(Denial::new(
                    Reason::AdultGrantorMissing,
                    "an adult's consent must be given by the person or by their legal representative (god man or förvaltare)",
                ));
            }
        }
        SubjectClass::Minor => {
            let custodians = match m.custodial_guardians {
                Some(n @ 1..=2) => n,
                _ => {
                    return Err(Denial::new(
                        Reason::GuardianMissing,
                        "for a child, state how many guardians have custody (1 or 2)",
                    ));
                }
            };
            if has(GrantorRole::LegalRepresentative) {
                return Err(Denial::new(
                    Reason::GrantorsInconsistent,
                    "a child's consent is given by the guardians with custody, not by a legal representative",
                ));
            }
            let needed = [GrantorRole::Guardian1, GrantorRole::Guardian2];
            if let Some(missing) = needed[..custodians as usize].iter().find(|g| !has(**g)) {
                let which = if *missing == GrantorRole::Guardian1 { "the first" } else { "the second" };
                return Err(Denial::new(
                    Reason::GuardianMissing,
                    format!(
                        "{which} guardian with custody has not consented; every guardian with custody must consent for a child"
                    ),
                ));
            }
            if custodians == 1 && has(GrantorRole::Guardian2) {
                return Err(Denial::new(
                    Reason::GrantorsInconsistent,
                    "a second guardian is recorded, but only one guardian has custody",
                ));
            }
            if !m.child_view_heard {
                return Err(Denial::new(
                    Reason::ChildViewNotHeard,
                    "record that the child's own view has been heard, as far as their age and maturity allow",
                ));
            }
        }
    }
    Ok(())
}

/// The end date is after the start, and at most `max_validity_months` after it.
pub fn rule_validity(m: &ConsentMetadata, policy: &ConsentPolicy) -> Decision {
    if m.valid_until <= m.valid_from {
        return Err(Denial::new(
            Reason::ValidityInvalid,
            "the consent's end date must be after its start date",
        ));
    }
    let limit = add_months(m.valid_from, policy.max_validity_months);
    if m.valid_until > limit {
        return Err(Denial::new(
            Reason::ValidityTooLong,
            format!(
                "a consent may run at most {} months; set an end date no later than {}",
                policy.max_validity_months,
                limit.date()
            ),
        ));
    }
    Ok(())
}

/// A consent is recorded to be used: its end date must still be ahead at `now`.
pub fn rule_not_ended(m: &ConsentMetadata, now: OffsetDateTime) -> Decision {
    if m.valid_until <= now {
        return Err(Denial::new(
            Reason::ValidityInvalid,
            format!(
                "the consent's end date {} has already passed; record the consent with a future end date",
                m.valid_until.date()
            ),
        ));
    }
    Ok(())
}

/// At least one kind of information, named; no repeats.
pub fn rule_kinds(m: &ConsentMetadata) -> Decision {
    let distinct = m.kinds.iter().enumerate().all(|(i, k)| !m.kinds[..i].contains(k));
    if m.kinds.is_empty() || !distinct {
        return Err(Denial::new(
            Reason::NoKindsNamed,
            "name the kinds of information the consent covers (plan, meeting, assessment, …); there is no blanket consent",
        ));
    }
    Ok(())
}

/// All rules for recording a consent, in a fixed order; the first refusal wins.
pub fn check_record(m: &ConsentMetadata, policy: &ConsentPolicy) -> Decision {
    if m.version != 1 {
        return Err(Denial::new(
            Reason::Malformed,
            format!("consent version {} is not supported", m.version),
        ));
    }
    rule_parties(m)?;
    rule_grantors(m)?;
    rule_validity(m, policy)?;
    rule_kinds(m)
}

/// `t` plus `months` calendar months; a day that does not exist in the target month becomes its last day.
pub fn add_months(t: OffsetDateTime, months: u8) -> OffsetDateTime {
    let total = t.month() as i32 - 1 + i32::from(months);
    let year = t.year() + total.div_euclid(12);
    let month = Month::try_from((total.rem_euclid(12) + 1) as u8).unwrap_or(Month::December);
    let day = t.day().min(month.length(year));
    match Date::from_calendar_date(year, month, day) {
        Ok(d) => t.replace_date(d),
        Err(_) => t,
    }
}

// ---- Rules for exchanging under a consent ----

/// A consent as the relay knows it at a moment: metadata and what has happened to it since.
#[derive(Clone, Debug)]
pub struct ConsentState<'a> {
    /// The recorded metadata.
    pub metadata: &'a ConsentMetadata,
    /// When it was withdrawn, if it was. Withdrawal is final.
    pub withdrawn_at: Option<OffsetDateTime>,
    /// Parties removed by a block (*spärr*).
    pub blocked_parties: &'a [PrincipalId],
    /// Kinds removed by a block.
    pub blocked_kinds: &'a [ContentKind],
    /// The consent that amended this one, if any.
    pub superseded_by: Option<&'a ConsentId>,
}

/// The consent is in force at `now`: not withdrawn, inside its validity, not superseded.
pub fn rule_in_force(s: &ConsentState<'_>, now: OffsetDateTime) -> Decision {
    let id = &s.metadata.consent_id;
    if let Some(at) = s.withdrawn_at.filter(|at| *at <= now) {
        return Err(Denial::new(
            Reason::ConsentWithdrawn,
            format!("consent {id} was withdrawn on {}; nothing may be shared under it", at.date()),
        ));
    }
    if now < s.metadata.valid_from {
        return Err(Denial::new(
            Reason::ConsentNotYetValid,
            format!("consent {id} is valid only from {}", s.metadata.valid_from.date()),
        ));
    }
    if now >= s.metadata.valid_until {
        return Err(Denial::new(
            Reason::ConsentExpired,
            format!(
                "consent {id} ended on {}; record a new consent to continue sharing",
                s.metadata.valid_until.date()
            ),
        ));
    }
    if let Some(newer) = s.superseded_by {
        return Err(Denial::new(
            Reason::ConsentSuperseded,
            format!("consent {id} has been replaced by consent {newer}; use that one"),
        ));
    }
    Ok(())
}

/// `principal` is a party, and no block removes it. `recipient` chooses the reason for outsiders.
fn rule_party(s: &ConsentState<'_>, principal: &PrincipalId, recipient: bool) -> Decision {
    let id = &s.metadata.consent_id;
    if !s.metadata.parties.contains(principal) {
        let reason = if recipient { Reason::RecipientNotAParty } else { Reason::NotAParty };
        return Err(Denial::new(
            reason,
            format!("{principal} is not a party to consent {id}; record a new consent that names them"),
        ));
    }
    if s.blocked_parties.contains(principal) {
        return Err(Denial::new(
            Reason::PartyBlocked,
            format!("a block (spärr) on consent {id} excludes {principal}"),
        ));
    }
    Ok(())
}

/// The consent covers `kind`, and no block removes it.
///
/// The consent's own document (kind `consent`: the names, how consent was given, a scanned form)
/// may always travel to the consent's parties: it is what the parties need to rely on the consent,
/// and no consent names it as a kind of information about the person.
pub fn rule_kind(s: &ConsentState<'_>, kind: ContentKind) -> Decision {
    let id = &s.metadata.consent_id;
    if kind == ContentKind::Consent {
        return Ok(());
    }
    if !s.metadata.kinds.contains(&kind) {
        return Err(Denial::new(
            Reason::KindNotCovered,
            format!(
                "consent {id} does not cover {kind} ({}); record a consent that names it",
                kind.swedish()
            ),
        ));
    }
    if s.blocked_kinds.contains(&kind) {
        return Err(Denial::new(
            Reason::KindBlocked,
            format!("a block (spärr) on consent {id} excludes {kind}"),
        ));
    }
    Ok(())
}

/// Sending: the consent belongs to the case and is in force, the sender and every recipient are
/// parties, and the kind is covered.
pub fn check_send(
    s: &ConsentState<'_>,
    case: &CaseId,
    sender: &PrincipalId,
    recipients: &[&PrincipalId],
    kind: ContentKind,
    now: OffsetDateTime,
) -> Decision {
    if s.metadata.case_id != *case {
        return Err(Denial::new(
            Reason::ConsentOtherCase,
            format!("consent {} belongs to another case than {case}", s.metadata.consent_id),
        ));
    }
    rule_in_force(s, now)?;
    rule_party(s, sender, false)?;
    for r in recipients {
        rule_party(s, r, true)?;
    }
    rule_kind(s, kind)
}

/// Fetching, checked again at fetch time: the consent is still in force (withdrawal takes effect at
/// once, for envelopes already stored too), the fetcher and the sender are still parties, and the
/// kind is still covered.
pub fn check_fetch(
    s: &ConsentState<'_>,
    fetcher: &PrincipalId,
    sender: &PrincipalId,
    kind: ContentKind,
    now: OffsetDateTime,
) -> Decision {
    rule_in_force(s, now)?;
    rule_party(s, fetcher, false)?;
    rule_party(s, sender, false)?;
    rule_kind(s, kind)
}

// ---- The signed record ----

/// Consent metadata as recorded: a [`SignedStatement`] by the recording person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignedConsent(pub SignedStatement);

/// Why a signed consent was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentRecordError {
    /// The metadata does not parse, or is not a consent.
    #[error("the consent metadata is malformed: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("the consent's signature is not valid: {0}")]
    Signature(#[from] SignatureError),
    /// Signed by someone other than the recorder it names.
    #[error("the consent names {claimed:?} as recorder but was signed by {signer}")]
    RecorderMismatch {
        /// The recorder named in the metadata.
        claimed: Box<Party>,
        /// Who signed.
        signer: Box<crate::cert::Identity>,
    },
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl From<StatementError> for ConsentRecordError {
    fn from(e: StatementError) -> Self {
        match e {
            StatementError::Signature(e) => ConsentRecordError::Signature(e),
            other => ConsentRecordError::Malformed(other.to_string()),
        }
    }
}

/// Why a consent was withdrawn. A code, not free text: the relay must hold nothing about the person,
/// and the circumstances belong in the case record at the principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalReason {
    /// The person withdrew it.
    Individual,
    /// A guardian withdrew it.
    Guardian,
    /// The legal representative (god man, förvaltare) withdrew it.
    LegalRepresentative,
    /// It was recorded in error.
    RecordedInError,
    /// Another reason, documented at the principal.
    Other,
}

impl WithdrawalReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalReason::Individual => "individual",
            WithdrawalReason::Guardian => "guardian",
            WithdrawalReason::LegalRepresentative => "legal_representative",
            WithdrawalReason::RecordedInError => "recorded_in_error",
            WithdrawalReason::Other => "other",
        }
    }

    /// From the wire name (hyphens accepted for the command line).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.replace('-', "_");
        [Self::Individual, Self::Guardian, Self::LegalRepresentative, Self::RecordedInError, Self::Other]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// What happens to a consent after it was recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// Withdrawal: final, effective at once, for documents already sent too.
    Withdraw {
        /// Why.
        reason: WithdrawalReason,
    },
    /// A block (*spärr*) that removes a party from the consent.
    BlockParty {
        /// The principal removed.
        party: PrincipalId,
    },
    /// A block that removes a kind of information from the consent.
    BlockKind {
        /// The kind removed.
        kind: ContentKind,
    },
}

/// The `type` of a consent change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeType {
    /// The only value.
    #[serde(rename = "samordna-consent-change")]
    ConsentChange,
}

/// A withdrawal or block, signed by the person who records it at one of the parties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// Always `samordna-consent-change`.
    #[serde(rename = "type")]
    pub change_type: ChangeType,
    /// Format version, 1.
    pub version: u8,
    /// The consent changed.
    pub consent_id: ConsentId,
    /// What happens: `{"action": "withdraw", "reason": …}`, `{"action": "block_party", "party": …}`
    /// or `{"action": "block_kind", "kind": …}`.
    pub change: Change,
    /// Who records it.
    pub by: Party,
    /// When (the recorder's clock; the relay's own time is what counts for enforcement).
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
}

/// Whether `by` may make `change` to the consent in `s`: any party may withdraw or block, a
/// withdrawal is final, and a block names a party or kind the consent has.
pub fn check_change(s: &ConsentState<'_>, change: &Change, by: &PrincipalId) -> Decision {
    let id = &s.metadata.consent_id;
    if !s.metadata.parties.contains(by) {
        return Err(Denial::new(
            Reason::NotAParty,
            format!("only a party to consent {id} may withdraw or block it; {by} is not one"),
        ));
    }
    if let Some(at) = s.withdrawn_at {
        return Err(Denial::new(
            Reason::ConsentWithdrawn,
            format!("consent {id} was already withdrawn on {}; a withdrawal is final", at.date()),
        ));
    }
    match change {
        Change::Withdraw { .. } => Ok(()),
        Change::BlockParty { party } if !s.metadata.parties.contains(party) => Err(Denial::new(
            Reason::RecipientNotAParty,
            format!("{party} is not a party to consent {id}, so there is nothing to block"),
        )),
        Change::BlockKind { kind } if !s.metadata.kinds.contains(kind) => Err(Denial::new(
            Reason::KindNotCovered,
            format!("consent {id} does not cover {kind}, so there is nothing to block"),
        )),
        _ => Ok(()),
    }
}

impl SignedConsent {
    /// Signs `metadata`; the signer must be the recorder it names.
    pub fn sign(
        metadata: &ConsentMetadata,
        signer: &Signer,
        at: OffsetDateTime,
    ) -> Result<Self, ConsentRecordError> {
        Ok(SignedConsent(SignedStatement::sign(metadata, signer, at)?))
    }

    /// The metadata, unverified (for display only).
    pub fn unverified_metadata(&self) -> Result<ConsentMetadata, ConsentRecordError> {
        Ok(self.0.unverified()?)
    }

    /// Verifies the signature at `at` and that the signer is the recorder named in the metadata.
    pub fn verify(
        &self,
        trust: &TrustStore,
        at: OffsetDateTime,
    ) -> Result<ConsentMetadata, ConsentRecordError> {
        let (m, verified): (ConsentMetadata, _) = self.0.verify(trust, at)?;
        let id = &verified.signer.identity;
        if id.principal != m.recorded_by.principal || id.hsa_id != m.recorded_by.user {
            return Err(ConsentRecordError::RecorderMismatch {
                claimed: Box::new(m.recorded_by.clone()),
                signer: Box::new(id.clone()),
            });
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::HsaId;
    use time::macros::datetime;

    fn p(s: &str) -> PrincipalId {
        PrincipalId::parse(s).unwrap()
    }

    const KOMMUN: &str = "SE2120000449";
    const REGION: &str = "SE2321000032";
    const SKOLA: &str = "SE5569875437";

    fn adult() -> ConsentMetadata {
        ConsentMetadata {
            record_type: ConsentType::Consent,
            version: 1,
            consent_id: ConsentId::from_random_bytes([1; 16]),
            case_id: CaseId::from_random_bytes([2; 16]),
            parties: vec![p(KOMMUN), p(REGION)],
            kinds: vec![ContentKind::Plan, ContentKind::Meeting],
            purpose: Purpose::Sip,
            valid_from: datetime!(2026-11-01 0:00 UTC),
            valid_until: datetime!(2027-05-01 0:00 UTC),
            subject: SubjectClass::Adult,
            grantors: vec![GrantorRole::Individual],
            custodial_guardians: None,
            child_view_heard: false,
            form: ConsentForm::Written,
            recorded_by: Party { principal: p(KOMMUN), user: HsaId::parse("SE2120000449-kb01").unwrap() },
            supersedes: None,
        }
    }

    fn child(custodians: u8, grantors: &[GrantorRole], heard: bool) -> ConsentMetadata {
        ConsentMetadata {
            subject: SubjectClass::Minor,
            custodial_guardians: Some(custodians),
            grantors: grantors.to_vec(),
            child_view_heard: heard,
            parties: vec![p(KOMMUN), p(REGION), p(SKOLA)],
            ..adult()
        }
    }

    fn reason(d: Decision) -> Reason {
        d.err().map_or(Reason::Ok, |d| d.reason)
    }

    #[test]
    fn recording_rules() {
        use GrantorRole::*;
        let policy = ConsentPolicy::default();
        let cases: Vec<(&str, ConsentMetadata, Reason)> = vec![
            ("adult, individual", adult(), Reason::Ok),
            (
                "adult, god man",
                ConsentMetadata { grantors: vec![LegalRepresentative], ..adult() },
                Reason::Ok,
            ),
            (
                "adult, no grantor",
                ConsentMetadata { grantors: vec![], ..adult() },
                Reason::AdultGrantorMissing,
            ),
            (
                "adult, guardian",
                ConsentMetadata { grantors: vec![Guardian1], ..adult() },
                Reason::GrantorsInconsistent,
            ),
            ("child, both of two guardians", child(2, &[Guardian1, Guardian2], true), Reason::Ok),
            ("child, one of two guardians", child(2, &[Guardian1], true), Reason::GuardianMissing),
            ("child, only the second of two", child(2, &[Guardian2], true), Reason::GuardianMissing),
            ("child, sole guardian", child(1, &[Guardian1], true), Reason::Ok),
            ("child, view not heard", child(1, &[Guardian1], false), Reason::ChildViewNotHeard),
            (
                "child, custody unstated",
                ConsentMetadata { custodial_guardians: None, ..child(1, &[Guardian1], true) },
                Reason::GuardianMissing,
            ),
            (
                "child, god man",
                child(1, &[Guardian1, LegalRepresentative], true),
                Reason::GrantorsInconsistent,
            ),
            ("one party", ConsentMetadata { parties: vec![p(KOMMUN)], ..adult() }, Reason::TooFewParties),
            (
                "same party twice",
                ConsentMetadata { parties: vec![p(KOMMUN), p(KOMMUN)], ..adult() },
                Reason::TooFewParties,
            ),
            (
                "recorder not a party",
                ConsentMetadata { parties: vec![p(REGION), p(SKOLA)], ..adult() },
                Reason::RecorderNotAParty,
            ),
            ("no kinds", ConsentMetadata { kinds: vec![], ..adult() }, Reason::NoKindsNamed),
            (
                "end before start",
                ConsentMetadata { valid_until: datetime!(2026-10-01 0:00 UTC), ..adult() },
                Reason::ValidityInvalid,
            ),
            (
                "exactly 12 months",
                ConsentMetadata { valid_until: datetime!(2027-11-01 0:00 UTC), ..adult() },
                Reason::Ok,
            ),
            (
                "12 months and a day",
                ConsentMetadata { valid_until: datetime!(2027-11-02 0:00 UTC), ..adult() },
                Reason::ValidityTooLong,
            ),
        ];
        for (name, m, expected) in cases {
            assert_eq!(reason(check_record(&m, &policy)), expected, "{name}");
        }
    }

    #[test]
    fn changes_by_parties_only_and_withdrawal_is_final() {
        let m = adult();
        let state = ConsentState {
            metadata: &m,
            withdrawn_at: None,
            blocked_parties: &[],
            blocked_kinds: &[],
            superseded_by: None,
        };
        let withdraw = Change::Withdraw { reason: WithdrawalReason::Individual };
        assert_eq!(reason(check_change(&state, &withdraw, &p(REGION))), Reason::Ok);
        assert_eq!(reason(check_change(&state, &withdraw, &p(SKOLA))), Reason::NotAParty);
        let block_school = Change::BlockParty { party: p(SKOLA) };
        assert_eq!(reason(check_change(&state, &block_school, &p(KOMMUN))), Reason::RecipientNotAParty);
        let block_kind = Change::BlockKind { kind: ContentKind::Assessment };
        assert_eq!(reason(check_change(&state, &block_kind, &p(KOMMUN))), Reason::KindNotCovered);
        let withdrawn = ConsentState { withdrawn_at: Some(datetime!(2026-11-20 0:00 UTC)), ..state.clone() };
        assert_eq!(reason(check_change(&withdrawn, &withdraw, &p(KOMMUN))), Reason::ConsentWithdrawn);
        // The consent's own document may travel to its parties whatever kinds it names.
        assert_eq!(reason(rule_kind(&state, ContentKind::Consent)), Reason::Ok);
        let json = serde_json::to_string(&ConsentChange {
            change_type: ChangeType::ConsentChange,
            version: 1,
            consent_id: m.consent_id.clone(),
            change: withdraw,
            by: m.recorded_by.clone(),
            at: datetime!(2026-11-23 10:00 UTC),
        })
        .unwrap();
        assert!(json.contains(r#""change":{"action":"withdraw","reason":"individual"}"#), "{json}");
    }

    #[test]
    fn a_consent_that_has_ended_cannot_be_recorded() {
        let m = adult();
        assert_eq!(reason(rule_not_ended(&m, datetime!(2026-12-01 0:00 UTC))), Reason::Ok);
        assert_eq!(reason(rule_not_ended(&m, datetime!(2027-05-01 0:00 UTC))), Reason::ValidityInvalid);
    }

    /// Issue 4's table: every rule, through the entry points the relay uses, each case asserting
    /// the decision and its reason code.
    #[test]
    fn the_rules_table() {
        use GrantorRole::*;
        let policy = ConsentPolicy::default();
        let now = datetime!(2026-12-01 0:00 UTC);
        let (k, r, s) = (p(KOMMUN), p(REGION), p(SKOLA));
        let newer = ConsentId::from_random_bytes([8; 16]);
        let other_case = CaseId::from_random_bytes([9; 16]);

        enum Op<'a> {
            Record,
            Send(&'a PrincipalId, Vec<&'a PrincipalId>, ContentKind),
            SendInCase(&'a CaseId),
            Fetch(&'a PrincipalId, &'a PrincipalId, ContentKind),
        }
        struct Case<'a> {
            name: &'a str,
            m: ConsentMetadata,
            withdrawn: Option<OffsetDateTime>,
            blocked_parties: Vec<PrincipalId>,
            blocked_kinds: Vec<ContentKind>,
            superseded: bool,
            at: OffsetDateTime,
            op: Op<'a>,
            expect: Reason,
        }
        let base = |name, m: ConsentMetadata, op, expect| Case {
            name,
            m,
            withdrawn: None,
            blocked_parties: vec![],
            blocked_kinds: vec![],
            superseded: false,
            at: now,
            op,
            expect,
        };
        let three = || ConsentMetadata { parties: vec![p(KOMMUN), p(REGION), p(SKOLA)], ..adult() };
        let send_plan = || Op::Send(&k, vec![&r], ContentKind::Plan);
        let cases = vec![
            base("adult, the individual consents", adult(), Op::Record, Reason::Ok),
            base(
                "adult, legal representative (god man)",
                ConsentMetadata { grantors: vec![LegalRepresentative], ..adult() },
                Op::Record,
                Reason::Ok,
            ),
            base(
                "adult, no grantor",
                ConsentMetadata { grantors: vec![], ..adult() },
                Op::Record,
                Reason::AdultGrantorMissing,
            ),
            base(
                "adult, a guardian instead of the individual",
                ConsentMetadata { grantors: vec![Guardian1], ..adult() },
                Op::Record,
                Reason::GrantorsInconsistent,
            ),
            base(
                "child, one guardian with custody consents",
                child(1, &[Guardian1], true),
                Op::Record,
                Reason::Ok,
            ),
            base(
                "child, both of two guardians consent",
                child(2, &[Guardian1, Guardian2], true),
                Op::Record,
                Reason::Ok,
            ),
            base(
                "child, only one of two guardians",
                child(2, &[Guardian1], true),
                Op::Record,
                Reason::GuardianMissing,
            ),
            base(
                "child, custody not stated",
                ConsentMetadata { custodial_guardians: None, ..child(1, &[Guardian1], true) },
                Op::Record,
                Reason::GuardianMissing,
            ),
            base(
                "child, own view not heard",
                child(2, &[Guardian1, Guardian2], false),
                Op::Record,
                Reason::ChildViewNotHeard,
            ),
            base(
                "child, legal representative",
                child(1, &[Guardian1, LegalRepresentative], true),
                Op::Record,
                Reason::GrantorsInconsistent,
            ),
            base(
                "only one party",
                ConsentMetadata { parties: vec![p(KOMMUN)], ..adult() },
                Op::Record,
                Reason::TooFewParties,
            ),
            base(
                "recorder not a party",
                ConsentMetadata { parties: vec![p(REGION), p(SKOLA)], ..adult() },
                Op::Record,
                Reason::RecorderNotAParty,
            ),
            base(
                "no kinds named (no blanket consent)",
                ConsentMetadata { kinds: vec![], ..adult() },
                Op::Record,
                Reason::NoKindsNamed,
            ),
            base(
                "end date before start",
                ConsentMetadata { valid_until: datetime!(2026-10-01 0:00 UTC), ..adult() },
                Op::Record,
                Reason::ValidityInvalid,
            ),
            base(
                "end date more than 12 months after start",
                ConsentMetadata { valid_until: datetime!(2027-11-02 0:00 UTC), ..adult() },
                Op::Record,
                Reason::ValidityTooLong,
            ),
            base("send within consent", adult(), send_plan(), Reason::Ok),
            base(
                "send to a recipient who is not a party",
                adult(),
                Op::Send(&k, vec![&r, &s], ContentKind::Plan),
                Reason::RecipientNotAParty,
            ),
            base(
                "send by a principal not a party",
                adult(),
                Op::Send(&s, vec![&r], ContentKind::Plan),
                Reason::NotAParty,
            ),
            base(
                "send a kind not covered",
                adult(),
                Op::Send(&k, vec![&r], ContentKind::Assessment),
                Reason::KindNotCovered,
            ),
            base(
                "send the consent document itself",
                adult(),
                Op::Send(&k, vec![&r], ContentKind::Consent),
                Reason::Ok,
            ),
            base(
                "send under another case's consent",
                adult(),
                Op::SendInCase(&other_case),
                Reason::ConsentOtherCase,
            ),
            Case {
                at: datetime!(2027-05-01 0:00 UTC),
                ..base("send after the end date (expired)", adult(), send_plan(), Reason::ConsentExpired)
            },
            Case {
                at: datetime!(2026-10-31 0:00 UTC),
                ..base(
                    "send before the start (not yet valid)",
                    adult(),
                    send_plan(),
                    Reason::ConsentNotYetValid,
                )
            },
            Case {
                withdrawn: Some(datetime!(2026-11-20 0:00 UTC)),
                ..base("send after withdrawal", adult(), send_plan(), Reason::ConsentWithdrawn)
            },
            Case {
                withdrawn: Some(datetime!(2026-11-20 0:00 UTC)),
                ..base(
                    "fetch after withdrawal of a document sent before",
                    adult(),
                    Op::Fetch(&r, &k, ContentKind::Plan),
                    Reason::ConsentWithdrawn,
                )
            },
            Case {
                withdrawn: Some(datetime!(2026-12-02 0:00 UTC)),
                ..base(
                    "a withdrawal recorded later does not act early",
                    adult(),
                    Op::Fetch(&r, &k, ContentKind::Plan),
                    Reason::Ok,
                )
            },
            Case {
                blocked_parties: vec![p(SKOLA)],
                ..base(
                    "fetch by a blocked party (the school)",
                    three(),
                    Op::Fetch(&s, &k, ContentKind::Plan),
                    Reason::PartyBlocked,
                )
            },
            Case {
                blocked_parties: vec![p(SKOLA)],
                ..base(
                    "fetch by an unblocked party while the school is blocked",
                    three(),
                    Op::Fetch(&r, &k, ContentKind::Plan),
                    Reason::Ok,
                )
            },
            Case {
                blocked_parties: vec![p(SKOLA)],
                ..base(
                    "send to a blocked party",
                    three(),
                    Op::Send(&k, vec![&r, &s], ContentKind::Plan),
                    Reason::PartyBlocked,
                )
            },
            Case {
                blocked_kinds: vec![ContentKind::Plan],
                ..base(
                    "fetch of a blocked kind",
                    adult(),
                    Op::Fetch(&r, &k, ContentKind::Plan),
                    Reason::KindBlocked,
                )
            },
            Case {
                blocked_kinds: vec![ContentKind::Plan],
                ..base(
                    "send of an unblocked kind while plans are blocked",
                    adult(),
                    Op::Send(&k, vec![&r], ContentKind::Meeting),
                    Reason::Ok,
                )
            },
            Case {
                superseded: true,
                ..base("send under a superseded consent", adult(), send_plan(), Reason::ConsentSuperseded)
            },
            base(
                "fetch by a principal that is not a party to the case's consent",
                adult(),
                Op::Fetch(&s, &k, ContentKind::Plan),
                Reason::NotAParty,
            ),
        ];
        assert!(cases.len() >= 25, "the table has {} cases", cases.len());
        for c in &cases {
            let state = ConsentState {
                metadata: &c.m,
                withdrawn_at: c.withdrawn,
                blocked_parties: &c.blocked_parties,
                blocked_kinds: &c.blocked_kinds,
                superseded_by: c.superseded.then_some(&newer),
            };
            let decision = match &c.op {
                Op::Record => check_record(&c.m, &policy),
                Op::Send(from, to, kind) => check_send(&state, &c.m.case_id, from, to, *kind, c.at),
                Op::SendInCase(case) => check_send(&state, case, &k, &[&r], ContentKind::Plan, c.at),
                Op::Fetch(by, sender, kind) => check_fetch(&state, by, sender, *kind, c.at),
            };
            assert_eq!(reason(decision.clone()), c.expect, "{}", c.name);
            if let Err(d) = decision {
                assert!(!d.message.is_empty() && d.message.len() > 20, "{}: a sentence, not a code", c.name);
            }
        }
    }

    #[test]
    fn months_are_calendar_months() {
        assert_eq!(add_months(datetime!(2026-01-31 10:00 UTC), 1), datetime!(2026-02-28 10:00 UTC));
        assert_eq!(add_months(datetime!(2026-11-23 0:00 UTC), 12), datetime!(2027-11-23 0:00 UTC));
        assert_eq!(add_months(datetime!(2027-02-28 0:00 UTC), 12), datetime!(2028-02-28 0:00 UTC));
    }

    #[test]
    fn exchange_rules() {
        let m = adult();
        let none: &[PrincipalId] = &[];
        let state = ConsentState {
            metadata: &m,
            withdrawn_at: None,
            blocked_parties: none,
            blocked_kinds: &[],
            superseded_by: None,
        };
        let now = datetime!(2026-12-01 0:00 UTC);
        let (k, r, s) = (p(KOMMUN), p(REGION), p(SKOLA));
        assert_eq!(reason(check_send(&state, &m.case_id, &k, &[&r], ContentKind::Plan, now)), Reason::Ok);
        assert_eq!(
            reason(check_send(&state, &m.case_id, &k, &[&r, &s], ContentKind::Plan, now)),
            Reason::RecipientNotAParty
        );
        assert_eq!(
            reason(check_send(&state, &m.case_id, &s, &[&r], ContentKind::Plan, now)),
            Reason::NotAParty
        );
        assert_eq!(
            reason(check_send(&state, &m.case_id, &k, &[&r], ContentKind::Assessment, now)),
            Reason::KindNotCovered
        );
        let other_case = CaseId::from_random_bytes([9; 16]);
        assert_eq!(
            reason(check_send(&state, &other_case, &k, &[&r], ContentKind::Plan, now)),
            Reason::ConsentOtherCase
        );
        assert_eq!(
            reason(check_send(
                &state,
                &m.case_id,
                &k,
                &[&r],
                ContentKind::Plan,
                datetime!(2027-05-01 0:00 UTC)
            )),
            Reason::ConsentExpired
        );
        assert_eq!(
            reason(check_send(
                &state,
                &m.case_id,
                &k,
                &[&r],
                ContentKind::Plan,
                datetime!(2026-10-31 23:59 UTC)
            )),
            Reason::ConsentNotYetValid
        );

        let withdrawn = ConsentState { withdrawn_at: Some(datetime!(2026-11-20 0:00 UTC)), ..state.clone() };
        assert_eq!(reason(check_fetch(&withdrawn, &r, &k, ContentKind::Plan, now)), Reason::ConsentWithdrawn);
        let blocked = [r.clone()];
        let party_blocked = ConsentState { blocked_parties: &blocked, ..state.clone() };
        assert_eq!(reason(check_fetch(&party_blocked, &r, &k, ContentKind::Plan, now)), Reason::PartyBlocked);
        let kind_blocked = ConsentState { blocked_kinds: &[ContentKind::Plan], ..state.clone() };
        assert_eq!(reason(check_fetch(&kind_blocked, &r, &k, ContentKind::Plan, now)), Reason::KindBlocked);
        let newer = ConsentId::from_random_bytes([7; 16]);
        let superseded = ConsentState { superseded_by: Some(&newer), ..state.clone() };
        assert_eq!(
            reason(check_send(&superseded, &m.case_id, &k, &[&r], ContentKind::Plan, now)),
            Reason::ConsentSuperseded
        );
    }

    #[test]
    fn denials_say_what_to_do() {
        let m = adult();
        let state = ConsentState {
            metadata: &m,
            withdrawn_at: None,
            blocked_parties: &[],
            blocked_kinds: &[],
            superseded_by: None,
        };
        let d = check_send(
            &state,
            &m.case_id,
            &p(KOMMUN),
            &[&p(SKOLA)],
            ContentKind::Plan,
            datetime!(2026-12-01 0:00 UTC),
        )
        .unwrap_err();
        assert!(d.message.contains("SE5569875437 is not a party to consent K-"), "{}", d.message);
        assert!(d.message.contains("record a new consent that names them"), "{}", d.message);
    }
}
