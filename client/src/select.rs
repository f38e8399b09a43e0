//! Choosing the consent to send under, and saying in plain words what is missing when there is none.
//!
//! Pure: a function of the case as the relay shows it and the directory. The relay decides again
//! on upload; this only spares a social worker a round trip and names people's organisations.

use samordna_core::{
    CaseId, ConsentId, ContentKind, PrincipalId,
    api::{CaseView, ConsentStatus, ConsentView, Directory},
    audit::Reason,
    consent::ConsentMetadata,
};

use crate::{error::ClientError, input::human_date};

/// Why no consent could be chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectError {
    /// No consent allows this exchange. `reason` is the code the relay would answer with.
    None {
        /// The stable reason.
        reason: Reason,
        /// What is missing, naming organisations.
        message: String,
    },
    /// More than one consent allows it: the sender must choose.
    Several {
        /// The candidates.
        candidates: Vec<ConsentId>,
        /// What to do.
        message: String,
    },
}

impl From<SelectError> for ClientError {
    fn from(e: SelectError) -> Self {
        match e {
            SelectError::None { reason, message } => ClientError::policy(reason, message),
            SelectError::Several { message, .. } => ClientError::usage("consent_ambiguous", message),
        }
    }
}

/// "Region Östergötland (SE2321000032)", or the bare id for a principal the directory lacks.
pub fn name_of(directory: &Directory, principal: &PrincipalId) -> String {
    directory
        .principals
        .iter()
        .find(|p| p.id == *principal)
        .map_or_else(|| principal.to_string(), |p| format!("{} ({})", p.name, p.id))
}

/// A party that no block removes.
fn is_party(view: &ConsentView, m: &ConsentMetadata, p: &PrincipalId) -> bool {
    m.parties.contains(p) && !view.blocked_parties.contains(p)
}

fn covers(view: &ConsentView, m: &ConsentMetadata, kind: ContentKind) -> bool {
    m.kinds.contains(&kind) && !view.blocked_kinds.contains(&kind)
}

fn status_word(s: ConsentStatus) -> &'static str {
    match s {
        ConsentStatus::Active => "active",
        ConsentStatus::NotYetValid => "not yet valid",
        ConsentStatus::Expired => "expired",
        ConsentStatus::Withdrawn => "withdrawn",
        ConsentStatus::Superseded => "superseded",
    }
}

/// Chooses the consent for sending `kind` from `sender` to `recipients` in `case`: the one active
/// consent whose parties include the sender and every recipient and which covers the kind.
pub fn select_consent<'a>(
    case: &'a CaseView,
    directory: &Directory,
    sender: &PrincipalId,
    recipients: &[PrincipalId],
    kind: ContentKind,
) -> Result<&'a ConsentView, SelectError> {
    let case_id = &case.case_id;
    let active: Vec<(&ConsentView, ConsentMetadata)> = case
        .consents
        .iter()
        .filter(|v| v.status == ConsentStatus::Active)
        .filter_map(|v| v.metadata().filter(|m| m.case_id == *case_id).map(|m| (v, m)))
        .collect();
    let everyone: Vec<&PrincipalId> = std::iter::once(sender).chain(recipients).collect();
    let fits: Vec<&ConsentView> = active
        .iter()
        .filter(|(v, m)| covers(v, m, kind) && everyone.iter().all(|p| is_party(v, m, p)))
        .map(|(v, _)| *v)
        .collect();

    match fits.as_slice() {
        [one] => Ok(one),
        [] => Err(explain_none(case, &active, directory, &everyone, kind)),
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|v| match v.metadata() {
                    Some(m) => format!("{} (until {})", m.consent_id, human_date(m.valid_until)),
                    None => "(unreadable consent)".into(),
                })
                .collect();
            Err(SelectError::Several {
                candidates: several.iter().filter_map(|v| v.metadata().map(|m| m.consent_id)).collect(),
                message: format!(
                    "several active consents in case {case_id} allow this: {}; choose one with --consent",
                    list.join(", ")
                ),
            })
        }
    }
}

fn explain_none(
    case: &CaseView,
    active: &[(&ConsentView, ConsentMetadata)],
    directory: &Directory,
    everyone: &[&PrincipalId],
    kind: ContentKind,
) -> SelectError {
    let case_id: &CaseId = &case.case_id;
    let none = |reason, message: String| SelectError::None { reason, message };
    if case.consents.is_empty() {
        return none(
            Reason::NoConsent,
            format!("case {case_id} has no consent yet; record one with `samordna consent record`"),
        );
    }
    if active.is_empty() {
        let states: Vec<String> = case
            .consents
            .iter()
            .filter_map(|v| v.metadata().map(|m| format!("{} {}", m.consent_id, status_word(v.status))))
            .collect();
        return none(
            Reason::NoConsent,
            format!(
                "no consent in case {case_id} is in force ({}); record a new consent with `samordna consent record`",
                states.join(", ")
            ),
        );
    }
    let covering: Vec<&(&ConsentView, ConsentMetadata)> =
        active.iter().filter(|(v, m)| covers(v, m, kind)).collect();
    if covering.is_empty() {
        return none(
            Reason::KindNotCovered,
            format!(
                "no active consent in case {case_id} covers {kind} ({}); record a consent that names it",
                kind.swedish()
            ),
        );
    }
    let sender = everyone.first().copied();
    for p in everyone {
        if covering.iter().any(|(v, m)| is_party(v, m, p)) {
            continue;
        }
        let who = name_of(directory, p);
        let (reason, who) = if Some(*p) == sender {
            (Reason::NotAParty, format!("your organisation, {who},"))
        } else {
            (Reason::RecipientNotAParty, who)
        };
        let message = if active.iter().any(|(v, m)| is_party(v, m, p)) {
            format!(
                "{who} is not a party to any active consent in case {case_id} that covers {kind} ({}); record a new consent that names them",
                kind.swedish()
            )
        } else if active.iter().any(|(_, m)| m.parties.contains(p)) {
            return none(
                Reason::PartyBlocked,
                format!("a block (spärr) excludes {who} from every active consent in case {case_id}"),
            );
        } else {
            format!(
                "{who} is not a party to any active consent in case {case_id}; record a new consent that names them"
            )
        };
        return none(reason, message);
    }
    let names: Vec<String> = everyone.iter().map(|p| name_of(directory, p)).collect();
    none(
        Reason::NoConsent,
        format!(
            "no single active consent in case {case_id} names all of {} for {kind} ({}); record a consent that names all of them",
            names.join(", "),
            kind.swedish()
        ),
    )
}

#[cfg(test)]
mod tests {
    use samordna_core::{
        HsaId,
        api::{CaseStatus, PrincipalEntry, PrincipalKind},
        consent::{ConsentForm, ConsentType, GrantorRole, Purpose, SignedConsent, SubjectClass},
        envelope::Party,
        signed::SignedStatement,
    };
    use time::macros::datetime;

    use super::*;

    const KOMMUN: &str = "SE2120000449";
    const REGION: &str = "SE2321000032";
    const SKOLA: &str = "SE5569875437";

    fn p(s: &str) -> PrincipalId {
        PrincipalId::parse(s).unwrap()
    }

    fn directory() -> Directory {
        let e =
            |id: &str, name: &str, kind| PrincipalEntry { id: p(id), name: name.into(), kind, enabled: true };
        Directory {
            principals: vec![
                e(KOMMUN, "Linköpings kommun", PrincipalKind::Municipality),
                e(REGION, "Region Östergötland", PrincipalKind::Region),
                e(SKOLA, "Stångåskolan AB", PrincipalKind::School),
            ],
        }
    }

    fn case_id() -> CaseId {
        CaseId::from_random_bytes([2; 16])
    }

    /// A consent view as the relay shows it. The signature is not looked at by selection.
    fn consent(n: u8, parties: &[&str], kinds: &[ContentKind], status: ConsentStatus) -> ConsentView {
        let m = ConsentMetadata {
            record_type: ConsentType::Consent,
            version: 1,
            consent_id: ConsentId::from_random_bytes([n; 16]),
            case_id: case_id(),
            parties: parties.iter().map(|s| p(s)).collect(),
            kinds: kinds.to_vec(),
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
        };
        ConsentView {
            record: SignedConsent(SignedStatement {
                statement: serde_json::to_vec(&m).unwrap(),
                signature: vec![0],
            }),
            status,
            recorded_at: datetime!(2026-11-01 0:00 UTC),
            withdrawn_at: None,
            blocked_parties: vec![],
            blocked_kinds: vec![],
            superseded_by: None,
            changes: vec![],
        }
    }

    fn case(consents: Vec<ConsentView>) -> CaseView {
        CaseView {
            case_id: case_id(),
            lead_principal: p(KOMMUN),
            status: CaseStatus::Open,
            opened_by: Party { principal: p(KOMMUN), user: HsaId::parse("SE2120000449-kb01").unwrap() },
            opened_at: datetime!(2026-11-01 0:00 UTC),
            participants: vec![p(KOMMUN), p(REGION)],
            consents,
            closed_at: None,
            history: vec![],
        }
    }

    fn select(c: &CaseView, to: &[&str], kind: ContentKind) -> Result<ConsentId, SelectError> {
        let to: Vec<PrincipalId> = to.iter().map(|s| p(s)).collect();
        select_consent(c, &directory(), &p(KOMMUN), &to, kind).map(|v| v.metadata().unwrap().consent_id)
    }

    fn none_message(r: Result<ConsentId, SelectError>) -> (Reason, String) {
        match r {
            Err(SelectError::None { reason, message }) => (reason, message),
            other => panic!("{other:?}"),
        }
    }

    use ContentKind::*;

    #[test]
    fn exactly_one_fitting_consent_is_chosen() {
        let c = case(vec![
            consent(1, &[KOMMUN, REGION], &[Plan], ConsentStatus::Expired),
            consent(2, &[KOMMUN, REGION], &[Plan, Meeting], ConsentStatus::Active),
            consent(3, &[KOMMUN, SKOLA], &[Plan], ConsentStatus::Active),
            consent(4, &[KOMMUN, REGION], &[Assessment], ConsentStatus::Active),
        ]);
        assert_eq!(select(&c, &[REGION], Plan).unwrap(), ConsentId::from_random_bytes([2; 16]));
        assert_eq!(select(&c, &[SKOLA], Plan).unwrap(), ConsentId::from_random_bytes([3; 16]));
        assert_eq!(select(&c, &[REGION], Assessment).unwrap(), ConsentId::from_random_bytes([4; 16]));
    }

    #[test]
    fn a_missing_party_is_named_by_name() {
        let c = case(vec![consent(1, &[KOMMUN, SKOLA], &[Plan], ConsentStatus::Active)]);
        let (reason, message) = none_message(select(&c, &[REGION], Plan));
        assert_eq!(reason, Reason::RecipientNotAParty);
        assert_eq!(
            message,
            format!(
                "Region Östergötland (SE2321000032) is not a party to any active consent in case {}; record a new consent that names them",
                case_id()
            )
        );
    }

    #[test]
    fn a_party_only_under_another_kind_is_told_so() {
        let c = case(vec![
            consent(1, &[KOMMUN, SKOLA], &[Plan], ConsentStatus::Active),
            consent(2, &[KOMMUN, REGION], &[Meeting], ConsentStatus::Active),
        ]);
        let (reason, message) = none_message(select(&c, &[REGION], Plan));
        assert_eq!(reason, Reason::RecipientNotAParty);
        assert!(
            message
                .contains("Region Östergötland (SE2321000032) is not a party to any active consent in case")
        );
        assert!(message.contains("that covers plan (SIP-plan)"), "{message}");
    }

    #[test]
    fn no_consent_at_all_or_none_in_force() {
        let (reason, message) = none_message(select(&case(vec![]), &[REGION], Plan));
        assert_eq!(reason, Reason::NoConsent);
        assert!(message.contains("has no consent yet"), "{message}");

        let c = case(vec![consent(1, &[KOMMUN, REGION], &[Plan], ConsentStatus::Withdrawn)]);
        let (reason, message) = none_message(select(&c, &[REGION], Plan));
        assert_eq!(reason, Reason::NoConsent);
        assert!(message.contains("withdrawn"), "{message}");
    }

    #[test]
    fn an_uncovered_kind_is_named() {
        let c = case(vec![consent(1, &[KOMMUN, REGION], &[Plan], ConsentStatus::Active)]);
        let (reason, message) = none_message(select(&c, &[REGION], Assessment));
        assert_eq!(reason, Reason::KindNotCovered);
        assert!(message.contains("covers assessment (bedömning)"), "{message}");
    }

    #[test]
    fn no_single_consent_for_everyone() {
        let c = case(vec![
            consent(1, &[KOMMUN, REGION], &[Plan], ConsentStatus::Active),
            consent(2, &[KOMMUN, SKOLA], &[Plan], ConsentStatus::Active),
        ]);
        let (reason, message) = none_message(select(&c, &[REGION, SKOLA], Plan));
        assert_eq!(reason, Reason::NoConsent);
        assert!(message.contains("Region Östergötland (SE2321000032)"), "{message}");
        assert!(message.contains("Stångåskolan AB (SE5569875437)"), "{message}");
    }

    #[test]
    fn blocks_count_as_absence() {
        let mut v = consent(1, &[KOMMUN, REGION], &[Plan], ConsentStatus::Active);
        v.blocked_parties = vec![p(REGION)];
        let (reason, message) = none_message(select(&case(vec![v]), &[REGION], Plan));
        assert_eq!(reason, Reason::PartyBlocked);
        assert!(message.contains("Region Östergötland"), "{message}");

        let mut v = consent(1, &[KOMMUN, REGION], &[Plan], ConsentStatus::Active);
        v.blocked_kinds = vec![Plan];
        assert_eq!(none_message(select(&case(vec![v]), &[REGION], Plan)).0, Reason::KindNotCovered);
    }

    #[test]
    fn the_sender_itself_missing_is_said_plainly() {
        let c = case(vec![consent(1, &[REGION, SKOLA], &[Plan], ConsentStatus::Active)]);
        let (reason, message) = none_message(select(&c, &[REGION], Plan));
        assert_eq!(reason, Reason::NotAParty);
        assert!(message.starts_with("your organisation, Linköpings kommun (SE2120000449),"), "{message}");
    }

    #[test]
    fn several_fitting_consents_ask_for_a_choice() {
        let c = case(vec![
            consent(1, &[KOMMUN, REGION], &[Plan], ConsentStatus::Active),
            consent(2, &[KOMMUN, REGION, SKOLA], &[Plan, Meeting], ConsentStatus::Active),
        ]);
        match select(&c, &[REGION], Plan) {
            Err(SelectError::Several { candidates, message }) => {
                assert_eq!(candidates.len(), 2);
                assert!(message.contains("--consent"), "{message}");
                assert!(message.contains(&ConsentId::from_random_bytes([1; 16]).to_string()));
            }
            other => panic!("{other:?}"),
        }
        // Adding the school narrows it to one.
        assert_eq!(select(&c, &[REGION, SKOLA], Plan).unwrap(), ConsentId::from_random_bytes([2; 16]));
    }

    #[test]
    fn unknown_principals_are_shown_by_id() {
        assert_eq!(name_of(&Directory { principals: vec![] }, &p(REGION)), REGION);
    }
}
