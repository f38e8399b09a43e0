//! The relay's JSON API, as types: the relay serialises them, the client deserialises them, so the
//! two cannot drift. `docs/api.md` describes each route.
//!
//! Conventions: JSON bodies, unknown members refused in requests; timestamps RFC 3339 in UTC; every
//! refusal is `{"error": {"code", "message", "request_id"}}` with a stable code from
//! [`crate::audit::Reason`]; every answer that appended to the access log carries its index in the
//! `Samordna-Log-Index` response header.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    attestation::KeyAttestation,
    consent::{ConsentMetadata, SignedConsent},
    encoding::{b64_hashes, b64_vec, hex32, rfc3339},
    envelope::Party,
    id::{CaseId, ConsentId, EnvelopeId, KeyId, PrincipalId},
    kind::ContentKind,
    receipt::DeliveryReceipt,
    signed::SignedStatement,
};

/// Response header with the access-log index of the entry the request appended.
pub const LOG_INDEX_HEADER: &str = "samordna-log-index";
/// Response header with the relay's id for the request (also in error bodies and the access log).
pub const REQUEST_ID_HEADER: &str = "samordna-request-id";
/// Media type of envelope bodies.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.samordna.envelope";

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine code (`no_consent`, `certificate_revoked`, …).
    pub code: String,
    /// A sentence for people: what happened and what to do.
    pub message: String,
    /// The relay's id for the request, to quote to the relay's operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What kind of organisation a principal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A region (health care).
    Region,
    /// A municipality (social services, schools).
    Municipality,
    /// A school with its own organisation (friskola).
    School,
    /// A private care provider.
    CareProvider,
    /// A state agency (Försäkringskassan, Arbetsförmedlingen, …).
    Agency,
}

impl PrincipalKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Region => "region",
            PrincipalKind::Municipality => "municipality",
            PrincipalKind::School => "school",
            PrincipalKind::CareProvider => "care_provider",
            PrincipalKind::Agency => "agency",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Region, Self::Municipality, Self::School, Self::CareProvider, Self::Agency]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// `GET /v1/principals`: one entry of the directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalEntry {
    /// The principal id.
    pub id: PrincipalId,
    /// The organisation's name.
    pub name: String,
    /// Its kind.
    pub kind: PrincipalKind,
    /// Disabled principals can neither send nor receive.
    pub enabled: bool,
}

/// `GET /v1/principals`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// Every registered principal.
    pub principals: Vec<PrincipalEntry>,
}

/// `GET /v1/principals/{id}/keys`: a principal's published keys. Verify each attestation before use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyList {
    /// Whose keys.
    pub principal: PrincipalId,
    /// Attestations, newest first.
    pub keys: Vec<KeyAttestation>,
}

/// `POST /v1/keys` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPublished {
    /// The key's id.
    pub key_id: KeyId,
}

/// `POST /v1/cases`: open a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenCase {
    /// Chosen by the client (random); a retry with the same id and lead is the same request.
    pub case_id: CaseId,
    /// The principal with overall responsibility (*huvudansvar*).
    pub lead_principal: PrincipalId,
}

/// Open or closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Documents may be sent.
    Open,
    /// No new documents; fetches of what was sent still follow consent.
    Closed,
}

/// The state of a consent at the relay's current time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// In force.
    Active,
    /// Not valid yet.
    NotYetValid,
    /// Past its end date.
    Expired,
    /// Withdrawn (final).
    Withdrawn,
    /// Replaced by a newer consent.
    Superseded,
}

/// A consent as the relay holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentView {
    /// The signed metadata, as recorded (verify it yourself if you rely on it).
    pub record: SignedConsent,
    /// Its state now.
    pub status: ConsentStatus,
    /// When the relay recorded it.
    #[serde(with = "rfc3339")]
    pub recorded_at: OffsetDateTime,
    /// When it was withdrawn, if it was.
    #[serde(default, with = "rfc3339::option")]
    pub withdrawn_at: Option<OffsetDateTime>,
    /// Parties removed by blocks.
    #[serde(default)]
    pub blocked_parties: Vec<PrincipalId>,
    /// Kinds removed by blocks.
    #[serde(default)]
    pub blocked_kinds: Vec<ContentKind>,
    /// The consent that replaced it, if any.
    #[serde(default)]
    pub superseded_by: Option<ConsentId>,
    /// Withdrawals and blocks, oldest first, each as signed by the person who recorded it.
    #[serde(default)]
    pub changes: Vec<ConsentChangeRecord>,
}

/// A withdrawal or block as the relay holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChangeRecord {
    /// The signed `ConsentChange` (`core/src/consent.rs`).
    pub record: SignedStatement,
    /// When the relay recorded it: from this moment it is enforced.
    #[serde(with = "rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl ConsentView {
    /// The metadata without verifying the signature (the relay verified it when recording).
    pub fn metadata(&self) -> Option<ConsentMetadata> {
        self.record.unverified_metadata().ok()
    }
}

/// `GET /v1/cases/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseView {
    /// The case.
    pub case_id: CaseId,
    /// Overall responsibility.
    pub lead_principal: PrincipalId,
    /// Open or closed.
    pub status: CaseStatus,
    /// Who opened it.
    pub opened_by: Party,
    /// When.
    #[serde(with = "rfc3339")]
    pub opened_at: OffsetDateTime,
    /// The lead and every party of the case's consents.
    pub participants: Vec<PrincipalId>,
    /// The case's consents, oldest first.
    pub consents: Vec<ConsentView>,
    /// When it was closed, if it is.
    #[serde(default, with = "rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// What has happened in the case, oldest first.
    #[serde(default)]
    pub history: Vec<CaseEvent>,
}

/// Something that happened in a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseEventKind {
    /// The case was opened.
    Opened,
    /// A consent was recorded.
    ConsentRecorded,
    /// A consent was replaced by a newer one.
    ConsentSuperseded,
    /// A consent was withdrawn.
    ConsentWithdrawn,
    /// A block removed a party from a consent.
    PartyBlocked,
    /// A block removed a kind of information from a consent.
    KindBlocked,
    /// A document was sent.
    DocumentSent,
    /// A document's ciphertext was deleted under the retention rules.
    DocumentDeleted,
    /// The case was closed.
    Closed,
}

/// One event of a case's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    /// When.
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
    /// What.
    pub kind: CaseEventKind,
    /// The principal that did it (none for the relay's own retention).
    #[serde(default)]
    pub by: Option<PrincipalId>,
    /// The consent, envelope, party or kind concerned.
    #[serde(default)]
    pub object: Option<String>,
}

/// What a notice is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A consent the principal is a party to was withdrawn.
    ConsentWithdrawn,
    /// A block was put on a consent the principal is a party to.
    ConsentBlocked,
    /// A document the principal sent was deleted before every recipient fetched it.
    EnvelopeDeletedUnfetched,
}

/// A content-free notice to a principal (also what the relay e-mails to its functional mailbox).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// When.
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
    /// What about.
    pub kind: NoticeKind,
    /// The case.
    pub case_id: CaseId,
    /// The consent, if one is concerned.
    #[serde(default)]
    pub consent_id: Option<ConsentId>,
    /// The envelope, if one is concerned.
    #[serde(default)]
    pub envelope_id: Option<EnvelopeId>,
    /// The principal that caused it, if any.
    #[serde(default)]
    pub by: Option<PrincipalId>,
}

/// `PUT /v1/envelopes/{id}` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeStored {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// SHA-256 of the stored header: what receipts will name.
    #[serde(with = "hex32")]
    pub header_sha256: [u8; 32],
    /// When the relay first stored it.
    #[serde(with = "rfc3339")]
    pub stored_at: OffsetDateTime,
    /// True when this upload was a retry of one already stored (nothing new was stored).
    pub duplicate: bool,
}

/// One envelope waiting for (or fetched by) the caller's principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// Its case.
    pub case_id: CaseId,
    /// The consent it was sent under.
    pub consent_id: ConsentId,
    /// Who sent it (as the signed header says; verified by the relay against the sender's TLS certificate).
    pub sender: Party,
    /// What kind of information.
    pub content_kind: ContentKind,
    /// When the sender sealed it.
    #[serde(with = "rfc3339")]
    pub created: OffsetDateTime,
    /// When the relay stored it.
    #[serde(with = "rfc3339")]
    pub received_at: OffsetDateTime,
    /// Envelope size in bytes.
    pub size: u64,
    /// When the caller's principal first fetched it, if it has.
    #[serde(default, with = "rfc3339::option")]
    pub fetched_at: Option<OffsetDateTime>,
    /// Whether a delivery receipt has been posted for the caller's principal.
    pub receipt_posted: bool,
}

/// `GET /v1/inbox`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    /// Newest first.
    pub items: Vec<InboxItem>,
    /// Notices for the caller's principal (withdrawals, blocks, deletions), newest first.
    #[serde(default)]
    pub notices: Vec<Notice>,
}

/// The delivery of one envelope to one recipient principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientStatus {
    /// The recipient.
    pub principal: PrincipalId,
    /// When it first fetched the envelope.
    #[serde(default, with = "rfc3339::option")]
    pub fetched_at: Option<OffsetDateTime>,
    /// Its signed receipt, if posted. Verify it: the relay cannot forge one, but it could omit one.
    #[serde(default)]
    pub receipt: Option<DeliveryReceipt>,
}

/// `GET /v1/envelopes/{id}/status`: for the sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// SHA-256 of its header.
    #[serde(with = "hex32")]
    pub header_sha256: [u8; 32],
    /// Per recipient principal.
    pub recipients: Vec<RecipientStatus>,
    /// When the ciphertext was deleted under the retention rules, if it was.
    #[serde(default, with = "rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
    /// The relay's version.
    pub version: String,
}

/// `GET /v1/log/key`: the relay's log origin and checkpoint verifier key. Get the key from the
/// relay's operator too and compare: a relay could show a key of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogKey {
    /// `samordna.se/relay/<instance>`.
    pub origin: String,
    /// The verifier key (`<origin>+<key id>+<key>`).
    pub vkey: String,
}

/// One signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// The signed note, with every witness's cosignature line.
    pub note: String,
}

/// `GET /v1/log/checkpoints?from=N`: signed checkpoints of at least `from` entries, smallest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointList {
    /// At most 1000.
    pub checkpoints: Vec<SignedCheckpoint>,
}

/// `GET /v1/log/proof/consistency?old=&new=`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// Older size.
    pub old: u64,
    /// Newer size.
    pub new: u64,
    /// RFC 9162 §2.1.4 consistency proof.
    #[serde(with = "b64_hashes")]
    pub proof: Vec<[u8; 32]>,
}

/// `GET /v1/log/proof/inclusion?index=&size=`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The entry.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// RFC 9162 §2.1.3 inclusion proof.
    #[serde(with = "b64_hashes")]
    pub proof: Vec<[u8; 32]>,
}

/// `GET /v1/log/leaves?start=&count=`: leaf hashes only (no content), for auditors to recompute roots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaves {
    /// Index of the first.
    pub start: u64,
    /// At most 10 000.
    #[serde(with = "b64_hashes")]
    pub leaves: Vec<[u8; 32]>,
}

/// One entry as stored: its index and its canonical bytes (`docs/spec/access-log-v1.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    /// Its index (leaf index).
    pub index: u64,
    /// Its canonical encoding; SHA-256(0x00 || entry) is its leaf hash.
    #[serde(with = "b64_vec")]
    pub entry: Vec<u8>,
}

/// `GET /v1/log/entries?…`: the entries the auditor may see, in index order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryList {
    /// At most `count`.
    pub entries: Vec<EntryRecord>,
    /// Where to continue (`start` of the next page), if there may be more.
    #[serde(default)]
    pub next: Option<u64>,
    /// The log's size when the query ran.
    pub size: u64,
}

/// `POST /v1/log/cosignatures`: a witness's cosignature of the checkpoint of `size` entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostCosignature {
    /// Which checkpoint.
    pub size: u64,
    /// The cosignature line (`— <name> <base64>`), as `cosignature/v1` makes it.
    pub signature: String,
}

/// A principal's published witness key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessEntry {
    /// The key's name.
    pub key_name: String,
    /// Whose.
    pub principal: PrincipalId,
    /// The verifier key.
    pub vkey: String,
    /// The principal's signed statement about it (verify it).
    pub attestation: SignedStatement,
}

/// `GET /v1/log/witnesses`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessList {
    /// Every published witness key.
    pub witnesses: Vec<WitnessEntry>,
}
