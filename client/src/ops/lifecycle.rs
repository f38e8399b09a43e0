//! What happens to a consent and a case after they are recorded: withdrawal and blocks (*spärr*),
//! each signed by the person who records it and checked here against the consent rules first; the
//! signed record of every change, verified when a consent is shown; the consent document that
//! travels with a new consent; a case's history and its closing; notices in the inbox.
//!
//! The relay enforces all of it (`docs/api.md`, `POST /v1/consents/{id}/changes`,
//! `POST /v1/cases/{id}/close`); the client checks first so that a refusal is told in the relay's
//! words without a round trip, and verifies what the relay shows so that it cannot invent or hide
//! a change.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, PrincipalId, TrustStore,
    api::{
        CaseEvent, CaseEventKind, CaseStatus, ConsentChangeRecord, ConsentView, Directory, Notice, NoticeKind,
    },
    audit::Reason,
    consent::{
        Change, ChangeType, ConsentChange, ConsentMetadata, ConsentPolicy, ConsentState, WithdrawalReason,
        check_change, check_record,
    },
    encoding::rfc3339,
    envelope::Party,
    signed::SignedStatement,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::{
    Author, CaseInfo, ConsentInfo, ConsentRequest, ConsentResult, NamedPrincipal, SendRequest, SendResult,
    Session,
    cases::{NamedParty, status_word},
    join_names, now, usable_keys,
};
use crate::{
    error::ClientError,
    input::human_time,
    relay::{RelayError, RelayMeta},
    select::name_of,
};

// ---- Words ----

/// Why a consent was withdrawn, for people.
pub fn reason_words(r: WithdrawalReason) -> &'static str {
    match r {
        WithdrawalReason::Individual => "the person withdrew it",
        WithdrawalReason::Guardian => "a guardian withdrew it",
        WithdrawalReason::LegalRepresentative => {
            "the legal representative (god man or förvaltare) withdrew it"
        }
        WithdrawalReason::RecordedInError => "it was recorded in error",
        WithdrawalReason::Other => "another reason, documented in the case record",
    }
}

fn kind_words(k: ContentKind) -> String {
    format!("{k} ({})", k.swedish())
}

/// A change in a few words: "withdrawn (the person withdrew it)", "blocked Stångåskolan AB (SE…)".
fn change_words(change: &Change, directory: &Directory) -> String {
    match change {
        Change::Withdraw { reason } => format!("withdrawn ({})", reason_words(*reason)),
        Change::BlockParty { party } => format!("blocked {} (spärr)", name_of(directory, party)),
        Change::BlockKind { kind } => format!("blocked {} (spärr)", kind_words(*kind)),
    }
}

// ---- Verifying the changes the relay shows ----

/// Whether a change's signature verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChangeSignature {
    /// It verified: signature and chain at the time the relay recorded it, for this consent, signed
    /// by the person it names, of a party to the consent.
    Verified {
        /// Who signed it, as their certificate names them.
        signer: Author,
    },
    /// It did not: do not rely on the change.
    Invalid {
        /// Why.
        reason: String,
    },
}

/// One withdrawal or block of a consent, as signed and as the relay recorded it.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeInfo {
    /// What the signed statement says (`{"action": "withdraw", "reason": …}`, …); absent when it
    /// cannot be read at all.
    pub change: Option<Change>,
    /// Who it says made it.
    pub by: Option<NamedParty>,
    /// When they signed it (their clock).
    #[serde(with = "rfc3339::option")]
    pub signed_at: Option<OffsetDateTime>,
    /// When the relay recorded it: from then on it is enforced.
    #[serde(with = "rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// The signature, checked here.
    pub signature: ChangeSignature,
}

impl ChangeInfo {
    /// Whether the signature verified.
    pub fn is_verified(&self) -> bool {
        matches!(self.signature, ChangeSignature::Verified { .. })
    }
}

/// Verifies one change of the consent `m`: the signature and its chain at the time the relay
/// recorded it, that it is a change of this consent, that the signer is the person it names, and
/// that they are of a party to the consent.
pub fn verify_change(
    record: &ConsentChangeRecord,
    m: &ConsentMetadata,
    trust: &TrustStore,
    directory: &Directory,
) -> ChangeInfo {
    let claimed: Option<ConsentChange> = record.record.unverified().ok();
    let signature = match record.record.verify::<ConsentChange>(trust, record.recorded_at) {
        Err(e) => ChangeSignature::Invalid { reason: e.to_string() },
        Ok((c, v)) => {
            let signer = &v.signer.identity;
            if c.consent_id != m.consent_id {
                ChangeSignature::Invalid {
                    reason: format!("it is a change of consent {}, not of {}", c.consent_id, m.consent_id),
                }
            } else if c.change_type != ChangeType::ConsentChange || c.version != 1 {
                ChangeSignature::Invalid { reason: format!("change version {} is not supported", c.version) }
            } else if signer.principal != c.by.principal || signer.hsa_id != c.by.user {
                ChangeSignature::Invalid {
                    reason: format!(
                        "it names {} at {} but was signed by {} ({}) of {}",
                        c.by.user, c.by.principal, signer.name, signer.hsa_id, signer.principal
                    ),
                }
            } else if !m.parties.contains(&c.by.principal) {
                ChangeSignature::Invalid {
                    reason: format!("{} is not a party to the consent and may not change it", c.by.principal),
                }
            } else {
                ChangeSignature::Verified { signer: Author::from(signer) }
            }
        }
    };
    ChangeInfo {
        change: claimed.as_ref().map(|c| c.change.clone()),
        by: claimed.as_ref().map(|c| NamedParty::new(directory, &c.by)),
        signed_at: claimed.as_ref().map(|c| c.at),
        recorded_at: record.recorded_at,
        signature,
    }
}

/// What the relay says about a consent's state that no verified change supports, or a verified
/// change it does not enforce: either is a relay that cannot be trusted on this consent.
pub fn unsupported_state(view: &ConsentView, changes: &[ChangeInfo]) -> Vec<String> {
    let verified: Vec<&Change> =
        changes.iter().filter(|c| c.is_verified()).filter_map(|c| c.change.as_ref()).collect();
    let withdrawn_signed = verified.iter().any(|c| matches!(c, Change::Withdraw { .. }));
    let withdrawn_shown = view.withdrawn_at.is_some();
    let mut out = Vec::new();
    if withdrawn_shown && !withdrawn_signed {
        out.push(
            "the relay shows the consent as withdrawn, but shows no withdrawal signed by a party".into(),
        );
    }
    if withdrawn_signed && !withdrawn_shown {
        out.push(
            "a party's signed withdrawal is shown, but the relay does not show the consent as withdrawn"
                .into(),
        );
    }
    for party in &view.blocked_parties {
        if !verified.iter().any(|c| matches!(c, Change::BlockParty { party: p } if p == party)) {
            out.push(format!("the relay shows a block on {party}, but no such block signed by a party"));
        }
    }
    for kind in &view.blocked_kinds {
        if !verified.iter().any(|c| matches!(c, Change::BlockKind { kind: k } if k == kind)) {
            out.push(format!("the relay shows a block on {kind}, but no such block signed by a party"));
        }
    }
    for c in &verified {
        match c {
            Change::BlockParty { party } if !view.blocked_parties.contains(party) => out.push(format!(
                "a party's signed block on {party} is shown, but the relay does not list it as blocked"
            )),
            Change::BlockKind { kind } if !view.blocked_kinds.contains(kind) => out.push(format!(
                "a party's signed block on {kind} is shown, but the relay does not list it as blocked"
            )),
            _ => {}
        }
    }
    out
}

pub(crate) fn fmt_changes(
    f: &mut fmt::Formatter<'_>,
    changes: &[ChangeInfo],
    directory: &Directory,
) -> fmt::Result {
    if changes.is_empty() {
        return Ok(());
    }
    write!(f, "\n  Changes (oldest first):")?;
    for c in changes {
        let what =
            c.change.as_ref().map_or("an unreadable change".to_owned(), |ch| change_words(ch, directory));
        let by = c.by.as_ref().map_or("(unknown)".to_owned(), ToString::to_string);
        let signed = c.signed_at.map_or("?".to_owned(), human_time);
        write!(
            f,
            "\n    {what}, by {by}; signed {signed}, recorded by the relay {}",
            human_time(c.recorded_at)
        )?;
        match &c.signature {
            ChangeSignature::Verified { signer } => write!(f, "\n      signature verified: {signer}")?,
            ChangeSignature::Invalid { reason } => write!(
                f,
                "\n      WARNING: THIS CHANGE'S SIGNATURE DOES NOT VERIFY: {reason}; do not rely on it, and tell the relay's operator"
            )?,
        }
    }
    Ok(())
}

// ---- The amendment chain ----

/// One consent of an amendment chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    /// The consent.
    pub consent_id: ConsentId,
    /// Its state at the relay.
    pub status: samordna_core::api::ConsentStatus,
    /// When the relay recorded it.
    #[serde(with = "rfc3339")]
    pub recorded_at: OffsetDateTime,
}

/// The amendment chain `id` belongs to, oldest first, from the consents of its case. Empty when
/// the consent was never amended and amends nothing.
pub fn amendment_chain(id: &ConsentId, consents: &[ConsentView]) -> Vec<ChainLink> {
    let meta: Vec<(&ConsentView, ConsentMetadata)> =
        consents.iter().filter_map(|v| v.metadata().map(|m| (v, m))).collect();
    let find = |id: &ConsentId| meta.iter().find(|(_, m)| m.consent_id == *id);
    let link = |(v, m): &(&ConsentView, ConsentMetadata)| ChainLink {
        consent_id: m.consent_id.clone(),
        status: v.status,
        recorded_at: v.recorded_at,
    };
    let Some(start) = find(id) else { return Vec::new() };
    let mut back = vec![link(start)];
    let mut cur = start;
    // Bounded by the number of consents, so that a relay answer with a cycle cannot loop.
    while let Some(older) = cur.1.supersedes.as_ref().and_then(&find) {
        if back.len() > meta.len() || back.iter().any(|l| l.consent_id == older.1.consent_id) {
            break;
        }
        back.push(link(older));
        cur = older;
    }
    back.reverse();
    let mut cur = start;
    while let Some(newer) = cur.0.superseded_by.as_ref().and_then(&find) {
        if back.len() > meta.len() || back.iter().any(|l| l.consent_id == newer.1.consent_id) {
            break;
        }
        back.push(link(newer));
        cur = newer;
    }
    if back.len() < 2 { Vec::new() } else { back }
}

pub(crate) fn fmt_chain(f: &mut fmt::Formatter<'_>, this: &ConsentId, chain: &[ChainLink]) -> fmt::Result {
    if chain.is_empty() {
        return Ok(());
    }
    let links: Vec<String> = chain
        .iter()
        .map(|l| {
            let me = if l.consent_id == *this { "this one, " } else { "" };
            format!("{} ({me}{})", l.consent_id, status_word(l.status))
        })
        .collect();
    write!(f, "\n  Amendment chain (oldest first): {}", links.join(" → "))
}

// ---- Withdrawal and blocks ----

/// What a block removes from a consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A party: it may neither send nor receive under the consent, nor fetch what was sent.
    Party(PrincipalId),
    /// A kind of information.
    Kind(ContentKind),
}

/// `consent withdraw` and `consent block`.
#[derive(Clone, Debug, Serialize)]
pub struct ConsentChangeResult {
    /// The consent.
    pub consent_id: ConsentId,
    /// Its case.
    pub case_id: CaseId,
    /// The change, as signed.
    pub change: Change,
    /// False when nothing was sent because the block was already in place.
    pub recorded: bool,
    /// Who made it.
    pub by: NamedParty,
    /// When it was signed.
    #[serde(with = "rfc3339")]
    pub signed_at: OffsetDateTime,
    /// When the relay recorded it: from then on it is enforced.
    #[serde(with = "rfc3339::option")]
    pub recorded_at: Option<OffsetDateTime>,
    /// The other parties, whom the relay tells (inbox notice, and e-mail where configured).
    pub notified: Vec<NamedPrincipal>,
    /// The consent as it now stands.
    pub consent: ConsentInfo,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
    #[serde(skip)]
    directory: Directory,
}

impl fmt::Display for ConsentChangeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.consent_id;
        let when = self
            .recorded_at
            .map(|t| format!(", recorded by the relay {}", human_time(t)))
            .unwrap_or_default();
        match &self.change {
            Change::BlockParty { party } if !self.recorded => {
                return write!(
                    f,
                    "{} was already blocked from consent {id}; nothing was changed.",
                    name_of(&self.directory, party)
                );
            }
            Change::BlockKind { kind } if !self.recorded => {
                return write!(
                    f,
                    "{} was already blocked under consent {id}; nothing was changed.",
                    kind_words(*kind)
                );
            }
            Change::Withdraw { reason } => {
                writeln!(
                    f,
                    "Withdrew consent {id} in case {} ({}){when}.",
                    self.case_id,
                    reason_words(*reason)
                )?;
                writeln!(
                    f,
                    "The withdrawal is final and took effect at once: nothing more may be sent under this consent, \
                     and documents already sent under it can no longer be fetched, also those sent before now."
                )?;
            }
            Change::BlockParty { party } => {
                let who = name_of(&self.directory, party);
                writeln!(f, "Blocked {who} from consent {id} in case {} (spärr){when}.", self.case_id)?;
                writeln!(
                    f,
                    "It took effect at once: {who} may no longer send or receive under this consent, and cannot fetch \
                     documents already sent to it; the other parties go on as before."
                )?;
                writeln!(
                    f,
                    "A block cannot be lifted. If it is wrong, record a new consent (`samordna consent record … --supersedes {id}`)."
                )?;
            }
            Change::BlockKind { kind } => {
                let what = kind_words(*kind);
                writeln!(f, "Blocked {what} under consent {id} in case {} (spärr){when}.", self.case_id)?;
                writeln!(
                    f,
                    "It took effect at once: no {kind} may be sent or fetched under this consent, also those already \
                     sent; other kinds of information go on as before."
                )?;
                writeln!(
                    f,
                    "A block cannot be lifted. If it is wrong, record a new consent (`samordna consent record … --supersedes {id}`)."
                )?;
            }
        }
        if self.notified.is_empty() {
            write!(f, "There is no other party to tell.")
        } else {
            write!(
                f,
                "The relay tells {} (a notice in their inbox, and e-mail where the relay sends e-mail).",
                join_names(&self.notified)
            )
        }
    }
}

fn state_of<'a>(view: &'a ConsentView, m: &'a ConsentMetadata) -> ConsentState<'a> {
    ConsentState {
        metadata: m,
        withdrawn_at: view.withdrawn_at,
        blocked_parties: &view.blocked_parties,
        blocked_kinds: &view.blocked_kinds,
        superseded_by: view.superseded_by.as_ref(),
    }
}

fn unreadable(what: &str, request_id: Option<String>) -> ClientError {
    ClientError::Relay(RelayError::Protocol { status: None, detail: what.to_owned(), request_id })
}

impl Session {
    /// Withdraws a consent: final, effective at once (for documents already sent too); the other
    /// parties are told.
    pub async fn consent_withdraw(
        &self,
        id: &ConsentId,
        reason: WithdrawalReason,
    ) -> Result<ConsentChangeResult, ClientError> {
        self.consent_change(id, Change::Withdraw { reason }).await
    }

    /// Blocks (*spärr*) a party or a kind of information on a consent. A block cannot be lifted.
    pub async fn consent_block(
        &self,
        id: &ConsentId,
        block: Block,
    ) -> Result<ConsentChangeResult, ClientError> {
        let change = match block {
            Block::Party(party) => Change::BlockParty { party },
            Block::Kind(kind) => Change::BlockKind { kind },
        };
        self.consent_change(id, change).await
    }

    /// Records a change of a consent: reads the consent as the relay holds it, checks the change
    /// against the consent rules here (the relay's words, no round trip), signs it as this
    /// profile's person and posts it. A block already in place is not sent again.
    pub async fn consent_change(
        &self,
        id: &ConsentId,
        change: Change,
    ) -> Result<ConsentChangeResult, ClientError> {
        let current = self.relay.consent(id).await?;
        let view = current.value;
        let m = view.metadata().filter(|m| m.consent_id == *id).ok_or_else(|| {
            unreadable(
                "the consent the relay showed cannot be read, or is another consent",
                current.meta.request_id.clone(),
            )
        })?;
        let me = self.profile.principal().clone();
        check_change(&state_of(&view, &m), &change, &me)?;
        if let Some(newer) = &view.superseded_by {
            return Err(ClientError::policy(
                Reason::ConsentSuperseded,
                format!(
                    "consent {id} has been replaced by consent {newer}, and the newest consent of the chain is what \
                     decides what may be shared; withdraw or block {newer} instead (see `samordna consent show {newer}`)"
                ),
            ));
        }
        let directory = self.directory_or_empty().await;
        let identity = self.profile.identity();
        let by = Party { principal: me.clone(), user: identity.hsa_id.clone() };
        let notified: Vec<NamedPrincipal> =
            m.parties.iter().filter(|p| **p != me).map(|p| NamedPrincipal::new(&directory, p)).collect();
        let already = match &change {
            Change::BlockParty { party } => view.blocked_parties.contains(party),
            Change::BlockKind { kind } => view.blocked_kinds.contains(kind),
            Change::Withdraw { .. } => false,
        };
        let at = now();
        if already {
            return Ok(ConsentChangeResult {
                consent_id: id.clone(),
                case_id: m.case_id.clone(),
                change,
                recorded: false,
                by: NamedParty::new(&directory, &by),
                signed_at: at,
                recorded_at: None,
                notified: Vec::new(),
                consent: ConsentInfo::new(&view, &directory, self)?,
                relay: current.meta,
                directory,
            });
        }
        let statement = ConsentChange {
            change_type: ChangeType::ConsentChange,
            version: 1,
            consent_id: id.clone(),
            change: change.clone(),
            by: by.clone(),
            at,
        };
        let signed = SignedStatement::sign(&statement, self.profile.signer(), at)
            .map_err(|e| ClientError::Internal(format!("the change could not be signed: {e}")))?;
        let answer = self.relay.consent_change(id, &signed).await?;
        let recorded_at = answer.value.changes.iter().find(|c| c.record == signed).map(|c| c.recorded_at);
        Ok(ConsentChangeResult {
            consent_id: id.clone(),
            case_id: m.case_id.clone(),
            change,
            recorded: true,
            by: NamedParty::new(&directory, &by),
            signed_at: at,
            recorded_at,
            notified,
            consent: ConsentInfo::new(&answer.value, &directory, self)?,
            relay: answer.meta,
            directory,
        })
    }
}

/// `consent block`: one or more blocks on one consent, in the order given.
#[derive(Clone, Debug, Serialize)]
pub struct ConsentBlocksResult {
    /// The consent.
    pub consent_id: ConsentId,
    /// Each block, as recorded (or found already in place).
    pub blocks: Vec<ConsentChangeResult>,
}

impl fmt::Display for ConsentBlocksResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.blocks.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join("\n\n"))
    }
}

impl Session {
    /// Records several blocks on one consent, one after the other. Each is checked against the
    /// consent as it then stands; when one fails after others were recorded, the error says which
    /// took effect (they stay: a block cannot be lifted).
    pub async fn consent_blocks(
        &self,
        id: &ConsentId,
        blocks: Vec<Block>,
    ) -> Result<ConsentBlocksResult, ClientError> {
        if blocks.is_empty() {
            return Err(ClientError::usage("usage", "name what to block with --party or --kind"));
        }
        let mut done: Vec<ConsentChangeResult> = Vec::with_capacity(blocks.len());
        for block in blocks {
            match self.consent_block(id, block).await {
                Ok(r) => done.push(r),
                Err(e) if done.iter().any(|r| r.recorded) => {
                    let recorded: Vec<String> = done
                        .iter()
                        .filter(|r| r.recorded)
                        .map(|r| change_words(&r.change, &r.directory))
                        .collect();
                    return Err(ClientError::Policy {
                        code: e.code().into(),
                        message: format!(
                            "consent {id} was {} (that took effect and stays), but the next block was not \
                             recorded: {e}",
                            join_names(&recorded)
                        ),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(ConsentBlocksResult { consent_id: id.clone(), blocks: done })
    }
}

// ---- Recording a consent with its document ----

/// What became of the consent document.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConsentDocument {
    /// Sent, encrypted, to every other party.
    Sent(Box<SendResult>),
    /// Not sent: the consent is recorded, but its document still has to be sent.
    NotSent {
        /// The document.
        file: PathBuf,
        /// The error's stable code.
        code: String,
        /// What happened and what to do.
        message: String,
        /// The command's exit code for the error.
        exit_code: u8,
    },
}

/// `consent record --document FILE`.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedWithDocument {
    /// The consent as recorded.
    #[serde(flatten)]
    pub recorded: ConsentResult,
    /// Its document.
    pub document: ConsentDocument,
}

impl RecordedWithDocument {
    /// 0 when the document was sent, else the exit code of why it was not.
    pub fn exit_code(&self) -> u8 {
        match &self.document {
            ConsentDocument::Sent(_) => crate::exit::OK,
            ConsentDocument::NotSent { exit_code, .. } => *exit_code,
        }
    }
}

impl fmt::Display for RecordedWithDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.recorded)?;
        match &self.document {
            ConsentDocument::Sent(sent) => {
                let to: Vec<&NamedPrincipal> = sent.recipients.iter().map(|r| &r.principal).collect();
                write!(
                    f,
                    "Sent the consent document {} to {} as {} (encrypted; the relay holds only the consent's metadata).",
                    sent.file.display(),
                    join_names(&to),
                    sent.envelope_id
                )
            }
            ConsentDocument::NotSent { message, .. } => write!(f, "WARNING: {message}"),
        }
    }
}

impl Session {
    /// Records a consent and sends its document (names, how consent was given, a scanned form) as
    /// an envelope of kind `consent` to every other party. Before recording, checks the consent
    /// rules, that the document can be read and that every other party has a usable encryption
    /// key, so that a consent is not left recorded without its document for a reason known in
    /// advance.
    pub async fn consent_record_with_document(
        &self,
        req: &ConsentRequest,
        document: &Path,
    ) -> Result<RecordedWithDocument, ClientError> {
        let identity = self.profile.identity();
        let me = identity.principal.clone();
        let probe = req.metadata(
            ConsentId::from_random_bytes([0; 16]),
            Party { principal: me.clone(), user: identity.hsa_id.clone() },
            now(),
        );
        check_record(&probe, &ConsentPolicy::default())?;
        match tokio::fs::metadata(document).await {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(ClientError::usage(
                    "file",
                    format!("{} is not a file; nothing was recorded", document.display()),
                ));
            }
            Err(e) => {
                return Err(ClientError::usage(
                    "file",
                    format!(
                        "cannot read the consent document {}: {e}; nothing was recorded",
                        document.display()
                    ),
                ));
            }
        }
        tokio::fs::File::open(document).await.map_err(|e| {
            ClientError::usage(
                "file",
                format!("cannot read the consent document {}: {e}; nothing was recorded", document.display()),
            )
        })?;
        let others: Vec<PrincipalId> = probe.parties.iter().filter(|p| **p != me).cloned().collect();
        let directory = self.directory_or_empty().await;
        let at = now();
        for p in &others {
            let list = self.relay.principal_keys(p).await?.value;
            let (usable, skipped) = usable_keys(&list, p, self.profile.trust(), at);
            if !usable.is_empty() {
                continue;
            }
            let who = name_of(&directory, p);
            let later = "or record the consent without --document and send the document later with \
                         `samordna send FILE --kind consent --consent K-…`";
            return Err(if skipped.is_empty() {
                ClientError::Policy {
                    code: "no_encryption_key".into(),
                    message: format!(
                        "{who} has not published an encryption key, so the consent document cannot be sent to them; \
                         nothing was recorded; ask them to run `samordna keys init`, {later}"
                    ),
                }
            } else {
                ClientError::verification(
                    "attestation_invalid",
                    format!(
                        "none of the encryption keys the relay lists for {who} is validly attested, so the consent \
                         document cannot be sent to them; nothing was recorded; tell the relay's operator, {later}"
                    ),
                )
            });
        }

        let recorded = self.consent_record(req).await?;
        let consent_id = recorded.consent.consent_id.clone();
        let sent = self
            .send(&SendRequest {
                file: document.to_owned(),
                case_id: req.case_id.clone(),
                to: others.clone(),
                kind: ContentKind::Consent,
                consent: Some(consent_id.clone()),
            })
            .await;
        let document = match sent {
            Ok(sent) => ConsentDocument::Sent(Box::new(sent)),
            Err(e) => {
                let to: Vec<String> = others.iter().map(|p| format!("--to {p}")).collect();
                ConsentDocument::NotSent {
                    file: document.to_owned(),
                    code: e.code(),
                    message: format!(
                        "consent {consent_id} is recorded, but its document was not sent: {e}; send it with \
                         `samordna send {} --case {} {} --kind consent --consent {consent_id}`",
                        document.display(),
                        req.case_id,
                        to.join(" ")
                    ),
                    exit_code: e.exit_code(),
                }
            }
        };
        Ok(RecordedWithDocument { recorded, document })
    }
}

// ---- A case's history, and closing it ----

/// One event of a case's history, with names and the object taken apart.
#[derive(Clone, Debug, Serialize)]
pub struct CaseEventInfo {
    /// When.
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
    /// What.
    pub kind: CaseEventKind,
    /// The principal that did it (none for the relay's own retention).
    pub by: Option<NamedPrincipal>,
    /// The object as the relay gave it.
    pub object: Option<String>,
    /// The consent concerned.
    pub consent_id: Option<ConsentId>,
    /// The envelope concerned.
    pub envelope_id: Option<EnvelopeId>,
    /// The party a block removed.
    pub party: Option<NamedPrincipal>,
    /// The kind a block removed.
    pub content_kind: Option<ContentKind>,
}

impl CaseEventInfo {
    /// Reads the event's object (`K-…`, `K-… SE…`, `K-… plan`, `E-…`).
    pub fn new(e: &CaseEvent, directory: &Directory) -> Self {
        let words: Vec<&str> =
            e.object.as_deref().map(|o| o.split_whitespace().collect()).unwrap_or_default();
        CaseEventInfo {
            at: e.at,
            kind: e.kind,
            by: e.by.as_ref().map(|p| NamedPrincipal::new(directory, p)),
            object: e.object.clone(),
            consent_id: words.iter().find_map(|w| ConsentId::parse(w).ok()),
            envelope_id: words.iter().find_map(|w| EnvelopeId::parse(w).ok()),
            party: words
                .iter()
                .find_map(|w| PrincipalId::parse(w).ok())
                .map(|p| NamedPrincipal::new(directory, &p)),
            content_kind: words.iter().find_map(|w| w.parse::<ContentKind>().ok()),
        }
    }
}

impl fmt::Display for CaseEventInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = self.by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default();
        let consent = self.consent_id.as_ref().map_or("a consent".to_owned(), |c| format!("consent {c}"));
        let document = self.envelope_id.as_ref().map_or("a document".to_owned(), |e| format!("document {e}"));
        write!(f, "{}  ", human_time(self.at))?;
        match self.kind {
            CaseEventKind::Opened => write!(f, "case opened{by}"),
            CaseEventKind::ConsentRecorded => write!(f, "{consent} recorded{by}"),
            CaseEventKind::ConsentSuperseded => write!(f, "{consent} replaced by an amendment{by}"),
            CaseEventKind::ConsentWithdrawn => write!(f, "{consent} withdrawn{by}"),
            CaseEventKind::PartyBlocked => {
                let who = self.party.as_ref().map_or("a party".to_owned(), ToString::to_string);
                write!(f, "{who} blocked from {consent} (spärr){by}")
            }
            CaseEventKind::KindBlocked => {
                let what = self.content_kind.map_or("a kind of information".to_owned(), kind_words);
                write!(f, "{what} blocked under {consent} (spärr){by}")
            }
            CaseEventKind::DocumentSent => write!(f, "{document} sent{by}"),
            CaseEventKind::DocumentDeleted => write!(f, "{document} deleted under the retention rules"),
            CaseEventKind::Closed => write!(f, "case closed{by}"),
        }
    }
}

/// `case close`.
#[derive(Clone, Debug, Serialize)]
pub struct CaseCloseResult {
    /// True when the case was closed before this command (nothing was sent to the relay).
    pub already_closed: bool,
    /// The case as it now stands.
    #[serde(flatten)]
    pub case: CaseInfo,
}

impl fmt::Display for CaseCloseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = self.case.closed_at.map(|t| format!(" on {}", human_time(t))).unwrap_or_default();
        if self.already_closed {
            writeln!(f, "Case {} was already closed{when}; nothing was changed.", self.case.case_id)?;
        } else {
            writeln!(
                f,
                "Closed case {}{when}. No new documents can be sent in it; documents already sent can still be \
                 fetched by their recipients while their consent holds.",
                self.case.case_id
            )?;
        }
        write!(f, "{}", self.case)
    }
}

impl Session {
    /// Closes a case to new documents. Only the lead principal (*huvudansvar*) may; said here
    /// before anything is asked of the relay. A closed case is reported as it is.
    pub async fn case_close(&self, id: &CaseId) -> Result<CaseCloseResult, ClientError> {
        let current = self.relay.case(id).await?;
        if current.value.status == CaseStatus::Closed {
            let case = self.case_info(&current.value, current.meta).await?;
            return Ok(CaseCloseResult { already_closed: true, case });
        }
        let me = self.profile.principal();
        if current.value.lead_principal != *me {
            let directory = self.directory_or_empty().await;
            return Err(ClientError::policy(
                Reason::Forbidden,
                format!(
                    "only the lead principal (huvudansvar) of case {id}, {}, may close it; your organisation, {}, \
                     is not the lead; ask them to close it",
                    name_of(&directory, &current.value.lead_principal),
                    name_of(&directory, me)
                ),
            ));
        }
        let answer = self.relay.close_case(id).await?;
        let case = self.case_info(&answer.value, answer.meta).await?;
        Ok(CaseCloseResult { already_closed: false, case })
    }
}

// ---- Notices ----

/// A notice for our principal, with names.
#[derive(Clone, Debug, Serialize)]
pub struct NoticeInfo {
    /// When.
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
    /// What about.
    pub kind: NoticeKind,
    /// The case.
    pub case_id: CaseId,
    /// The consent concerned.
    pub consent_id: Option<ConsentId>,
    /// The envelope concerned.
    pub envelope_id: Option<EnvelopeId>,
    /// The principal that caused it.
    pub by: Option<NamedPrincipal>,
}

impl NoticeInfo {
    /// Names the principal.
    pub fn new(n: &Notice, directory: &Directory) -> Self {
        NoticeInfo {
            at: n.at,
            kind: n.kind,
            case_id: n.case_id.clone(),
            consent_id: n.consent_id.clone(),
            envelope_id: n.envelope_id.clone(),
            by: n.by.as_ref().map(|p| NamedPrincipal::new(directory, p)),
        }
    }
}

impl fmt::Display for NoticeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = self.by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default();
        let consent = self.consent_id.as_ref().map_or("a consent".to_owned(), |c| format!("consent {c}"));
        let case = &self.case_id;
        write!(f, "{}  ", human_time(self.at))?;
        match self.kind {
            NoticeKind::ConsentWithdrawn => write!(
                f,
                "{consent} in case {case} was withdrawn{by}: nothing may be shared under it any more, \
                 also documents sent before"
            ),
            NoticeKind::ConsentBlocked => {
                let show = self
                    .consent_id
                    .as_ref()
                    .map(|c| format!("; see `samordna consent show {c}`"))
                    .unwrap_or_default();
                write!(f, "a block (spärr) was put on {consent} in case {case}{by}{show}")
            }
            NoticeKind::EnvelopeDeletedUnfetched => {
                let doc =
                    self.envelope_id.as_ref().map_or("a document".to_owned(), |e| format!("document {e}"));
                let status = self
                    .envelope_id
                    .as_ref()
                    .map(|e| format!("; see `samordna status {e}`"))
                    .unwrap_or_default();
                write!(
                    f,
                    "{doc} you sent in case {case} was deleted under the retention rules before every recipient \
                     fetched it{status}"
                )
            }
        }
    }
}

/// Newest first, whatever order they came in.
pub(crate) fn notices(list: &[Notice], directory: &Directory) -> Vec<NoticeInfo> {
    let mut out: Vec<NoticeInfo> = list.iter().map(|n| NoticeInfo::new(n, directory)).collect();
    out.sort_by_key(|n| std::cmp::Reverse(n.at));
    out
}

// ---- Fetch refusals ----

/// A fetch the relay refused on consent grounds, said with what it means for the document.
pub(crate) fn explain_fetch_refusal(e: RelayError, id: &EnvelopeId) -> RelayError {
    let RelayError::Refused { status, code, message, request_id } = e else { return e };
    let advice = match code.reason() {
        Some(Reason::ConsentWithdrawn) => {
            "A withdrawal also stops documents sent before it; if your organisation still needs the document, \
             a new consent is needed"
        }
        Some(Reason::PartyBlocked | Reason::KindBlocked) => {
            "A block (spärr) also stops documents sent before it and cannot be lifted; if the document is still \
             needed, a new consent is needed"
        }
        Some(Reason::ConsentExpired) => {
            "The consent has ended; a new consent is needed to share the document"
        }
        Some(Reason::NotAParty) => {
            "Your organisation is not a party to the consent that now holds in the case"
        }
        Some(Reason::Deleted) => "Ask the sender to send it again if it is still needed",
        _ => return RelayError::Refused { status, code, message, request_id },
    };
    RelayError::Refused {
        status,
        message: format!("{id} was not fetched, and nothing was saved: {message}. {advice}"),
        code,
        request_id,
    }
}

#[cfg(test)]
mod tests {
    use samordna_core::{
        HsaId,
        api::ConsentStatus,
        consent::{ConsentForm, ConsentType, GrantorRole, Purpose, SignedConsent, SubjectClass},
    };
    use time::macros::datetime;

    use super::*;

    fn p(s: &str) -> PrincipalId {
        PrincipalId::parse(s).unwrap()
    }

    fn view(n: u8, supersedes: Option<u8>, superseded_by: Option<u8>) -> ConsentView {
        let id = |n: u8| ConsentId::from_random_bytes([n; 16]);
        let m = ConsentMetadata {
            record_type: ConsentType::Consent,
            version: 1,
            consent_id: id(n),
            case_id: CaseId::from_random_bytes([2; 16]),
            parties: vec![p("SE2120000449"), p("SE2321000032")],
            kinds: vec![ContentKind::Plan],
            purpose: Purpose::Sip,
            valid_from: datetime!(2026-11-01 0:00 UTC),
            valid_until: datetime!(2027-05-01 0:00 UTC),
            subject: SubjectClass::Adult,
            grantors: vec![GrantorRole::Individual],
            custodial_guardians: None,
            child_view_heard: false,
            form: ConsentForm::Written,
            recorded_by: Party {
                principal: p("SE2120000449"),
                user: HsaId::parse("SE2120000449-kb01").unwrap(),
            },
            supersedes: supersedes.map(id),
        };
        ConsentView {
            record: SignedConsent(SignedStatement {
                statement: serde_json::to_vec(&m).unwrap(),
                signature: vec![0],
            }),
            status: if superseded_by.is_some() { ConsentStatus::Superseded } else { ConsentStatus::Active },
            recorded_at: datetime!(2026-11-01 0:00 UTC),
            withdrawn_at: None,
            blocked_parties: vec![],
            blocked_kinds: vec![],
            superseded_by: superseded_by.map(id),
            changes: vec![],
        }
    }

    #[test]
    fn the_amendment_chain_is_followed_both_ways() {
        let consents = vec![
            view(1, None, Some(2)),
            view(9, None, None),
            view(2, Some(1), Some(3)),
            view(3, Some(2), None),
        ];
        let ids = |c: Vec<ChainLink>| c.into_iter().map(|l| l.consent_id).collect::<Vec<_>>();
        let expect: Vec<ConsentId> =
            [1u8, 2, 3].iter().map(|n| ConsentId::from_random_bytes([*n; 16])).collect();
        for n in [1u8, 2, 3] {
            assert_eq!(
                ids(amendment_chain(&ConsentId::from_random_bytes([n; 16]), &consents)),
                expect,
                "from {n}"
            );
        }
        assert!(amendment_chain(&ConsentId::from_random_bytes([9; 16]), &consents).is_empty(), "no chain");
        // A relay answer with a cycle does not hang the client.
        let cycle = vec![view(1, Some(2), Some(2)), view(2, Some(1), Some(1))];
        assert!(amendment_chain(&ConsentId::from_random_bytes([1; 16]), &cycle).len() <= 2);
    }

    #[test]
    fn a_relays_claims_without_signed_changes_are_found() {
        let mut v = view(1, None, None);
        v.withdrawn_at = Some(datetime!(2026-11-20 0:00 UTC));
        v.blocked_parties = vec![p("SE2321000032")];
        v.blocked_kinds = vec![ContentKind::Plan];
        let problems = unsupported_state(&v, &[]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("withdrawn"), "{problems:?}");
        assert!(unsupported_state(&view(1, None, None), &[]).is_empty());
    }

    #[test]
    fn history_objects_are_taken_apart() {
        let directory = Directory { principals: vec![] };
        let consent = ConsentId::from_random_bytes([1; 16]);
        let e = CaseEvent {
            at: datetime!(2026-11-23 14:05 UTC),
            kind: CaseEventKind::PartyBlocked,
            by: Some(p("SE2321000032")),
            object: Some(format!("{consent} SE5569875437")),
        };
        let info = CaseEventInfo::new(&e, &directory);
        assert_eq!(info.consent_id.as_ref(), Some(&consent));
        assert_eq!(info.party.as_ref().map(|p| p.id.as_str()), Some("SE5569875437"));
        assert_eq!(
            info.to_string(),
            format!(
                "2026-11-23 14:05 UTC  SE5569875437 blocked from consent {consent} (spärr) by SE2321000032"
            )
        );
        let e = CaseEvent { kind: CaseEventKind::KindBlocked, object: Some(format!("{consent} plan")), ..e };
        assert_eq!(CaseEventInfo::new(&e, &directory).content_kind, Some(ContentKind::Plan));
    }

    #[test]
    fn a_withdrawn_fetch_says_what_it_means() {
        let id = EnvelopeId::from_random_bytes([3; 16]);
        let e = crate::relay::refusal(
            403,
            br#"{"error":{"code":"consent_withdrawn","message":"consent K-1 was withdrawn on 2026-11-23; nothing may be shared under it"}}"#,
            Some("r".into()),
        );
        let e = explain_fetch_refusal(e, &id);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "{id} was not fetched, and nothing was saved: consent K-1 was withdrawn"
            )),
            "{text}"
        );
        assert!(text.contains("also stops documents sent before it"), "{text}");
        assert_eq!(e.code().map(|c| c.as_str()), Some("consent_withdrawn"), "the code is kept");
        let other = crate::relay::refusal(404, br#"{"error":{"code":"not_found","message":"m"}}"#, None);
        assert_eq!(explain_fetch_refusal(other, &id).to_string(), "m (not_found)");
    }
}
