//! `send`: check a plan, choose the consent, verify the recipients' keys, seal, upload.

use std::{
    fmt,
    fs::File,
    io::{BufReader, BufWriter, Write},
    path::{Path, PathBuf},
};

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, KeyId, PrincipalId, TrustStore,
    api::{Directory, KeyList},
    audit::Reason,
    consent::{ConsentState, check_send},
    encoding::{hex32, rfc3339},
    envelope::{RecipientKey, SealError, SealParams, seal_to_parts},
    plan::check,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::{NamedPrincipal, Session, cases::check_case_open, join_names, now, random_128, with_retries};
use crate::{
    error::ClientError,
    input::media_type_for,
    plan::{invalid, read_file, today},
    relay::{RelayError, RelayMeta, Upload},
    select::{name_of, select_consent},
    transfer::ProgressReader,
};

/// What to send, for [`Session::send`].
#[derive(Clone, Debug)]
pub struct SendRequest {
    /// The document.
    pub file: PathBuf,
    /// The case.
    pub case_id: CaseId,
    /// The recipient principals.
    pub to: Vec<PrincipalId>,
    /// What kind of information it is.
    pub kind: ContentKind,
    /// The consent to rely on; chosen from the case when absent.
    pub consent: Option<ConsentId>,
}

/// A recipient and the keys the envelope was sealed to.
#[derive(Clone, Debug, Serialize)]
pub struct SentRecipient {
    /// The principal.
    pub principal: NamedPrincipal,
    /// Its keys the content key was sealed to.
    pub key_ids: Vec<KeyId>,
}

/// A published key that was not used, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedKey {
    /// Whose key list it came from.
    pub principal: PrincipalId,
    /// The key, if its statement could be read.
    pub key_id: Option<KeyId>,
    /// Why it was not used.
    pub reason: String,
}

/// `send`.
#[derive(Clone, Debug, Serialize)]
pub struct SendResult {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// The case.
    pub case_id: CaseId,
    /// The consent relied on.
    pub consent_id: ConsentId,
    /// What kind of information.
    pub content_kind: ContentKind,
    /// The recipients.
    pub recipients: Vec<SentRecipient>,
    /// The document sent.
    pub file: PathBuf,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub document_bytes: u64,
    /// The envelope's size.
    pub envelope_bytes: u64,
    /// SHA-256 of the signed header: what the recipients' receipts will name.
    #[serde(with = "hex32")]
    pub header_sha256: [u8; 32],
    /// When the relay stored it.
    #[serde(with = "rfc3339")]
    pub stored_at: OffsetDateTime,
    /// True when a retried upload found the envelope already stored.
    pub duplicate: bool,
    /// Upload attempts made.
    pub attempts: u32,
    /// Published keys that were not used (their attestation did not verify).
    pub skipped_keys: Vec<SkippedKey>,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
}

impl fmt::Display for SendResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to: Vec<&NamedPrincipal> = self.recipients.iter().map(|r| &r.principal).collect();
        write!(f, "Sent {} to {} under consent {}", self.envelope_id, join_names(&to), self.consent_id)?;
        if self.duplicate {
            write!(f, " (the relay already had it)")?;
        }
        Ok(())
    }
}

/// The keys of `principal` in `list` that may be encrypted to at `at`: each attestation verifies
/// against `trust` and is for that principal (the relay could otherwise list one principal's valid
/// key under another). Returns the usable keys and those skipped, with why.
pub fn usable_keys(
    list: &KeyList,
    principal: &PrincipalId,
    trust: &TrustStore,
    at: OffsetDateTime,
) -> (Vec<RecipientKey>, Vec<SkippedKey>) {
    let mut usable: Vec<RecipientKey> = Vec::new();
    let mut skipped = Vec::new();
    for att in &list.keys {
        let key_id = att.unverified_statement().ok().map(|s| s.key_id);
        let skip =
            |reason: String| SkippedKey { principal: principal.clone(), key_id: key_id.clone(), reason };
        match att.verify(trust, at) {
            Ok(k) if k.statement.principal != *principal || list.principal != *principal => skipped.push(
                skip(format!("the relay listed a key of {} as a key of {principal}", k.statement.principal)),
            ),
            Ok(k) => {
                let key = RecipientKey::from(&k);
                if !usable.iter().any(|u| u.key_id == key.key_id) {
                    usable.push(key);
                }
            }
            Err(e) => skipped.push(skip(e.to_string())),
        }
    }
    (usable, skipped)
}

impl Session {
    /// Sends a document: chooses (or checks) the consent, verifies every recipient key's
    /// attestation, seals to every current key of every recipient, and uploads, retrying with the
    /// same envelope id when the relay cannot be reached.
    pub async fn send(&self, req: &SendRequest) -> Result<SendResult, ClientError> {
        let file = req.file.clone();
        let meta = tokio::fs::metadata(&file).await.map_err(|e| {
            ClientError::usage("file", format!("cannot read the document {}: {e}", file.display()))
        })?;
        if !meta.is_file() {
            return Err(ClientError::usage("file", format!("{} is not a file", file.display())));
        }
        // A plan is checked here, before anything is asked of the relay, and the bytes that were
        // checked are the bytes that are sealed: the file cannot change in between.
        let plan = match req.kind {
            ContentKind::Plan => Some(read_plan_to_send(&file, &req.case_id)?),
            _ => None,
        };
        let mut to: Vec<PrincipalId> = Vec::new();
        for p in &req.to {
            if !to.contains(p) {
                to.push(p.clone());
            }
        }
        if to.is_empty() {
            return Err(ClientError::usage("usage", "name at least one recipient with --to"));
        }

        let sender = self.profile.principal().clone();
        let case = self.relay.case(&req.case_id).await?.value;
        check_case_open(&case)?;
        let directory = self.relay.directory().await?.value;
        check_recipients_registered(&directory, &to)?;

        let view = match &req.consent {
            Some(id) => {
                case.consents.iter().find(|v| v.metadata().is_some_and(|m| m.consent_id == *id)).ok_or_else(
                    || {
                        ClientError::policy(
                            Reason::ConsentOtherCase,
                            format!(
                                "consent {id} is not a consent of case {}; see `samordna case show {}`",
                                case.case_id, case.case_id
                            ),
                        )
                    },
                )?
            }
            None => select_consent(&case, &directory, &sender, &to, req.kind)?,
        };
        let metadata = view.metadata().ok_or_else(|| {
            ClientError::Relay(RelayError::Protocol {
                status: None,
                detail: "a consent record of the case cannot be read".into(),
                request_id: None,
            })
        })?;
        let at = now();
        let state = ConsentState {
            metadata: &metadata,
            withdrawn_at: view.withdrawn_at,
            blocked_parties: &view.blocked_parties,
            blocked_kinds: &view.blocked_kinds,
            superseded_by: view.superseded_by.as_ref(),
        };
        let recipient_refs: Vec<&PrincipalId> = to.iter().collect();
        check_send(&state, &case.case_id, &sender, &recipient_refs, req.kind, at)?;

        let mut keys: Vec<RecipientKey> = Vec::new();
        let mut recipients = Vec::new();
        let mut skipped_keys = Vec::new();
        for p in &to {
            let list = self.relay.principal_keys(p).await?.value;
            let (usable, skipped) = usable_keys(&list, p, self.profile.trust(), at);
            for s in &skipped {
                tracing::warn!("not using key {:?} of {}: {}", s.key_id, name_of(&directory, p), s.reason);
            }
            if usable.is_empty() {
                return Err(no_usable_key(&directory, p, &skipped));
            }
            recipients.push(SentRecipient {
                principal: NamedPrincipal::new(&directory, p),
                key_ids: usable.iter().map(|k| k.key_id.clone()).collect(),
            });
            keys.extend(usable);
            skipped_keys.extend(skipped);
        }

        let params = SealParams {
            envelope_id: EnvelopeId::from_random_bytes(random_128()?),
            case_id: case.case_id.clone(),
            consent_id: metadata.consent_id.clone(),
            content_kind: req.kind,
            recipients: keys,
            // A plan has been read as JSON, whatever its file is called.
            media_type: if plan.is_some() { "application/json" } else { media_type_for(&file) }.to_owned(),
            file_name: file.file_name().map(|n| n.to_string_lossy().into_owned()),
            created: at,
        };
        let document_bytes = plan.as_ref().map_or(meta.len(), |bytes| bytes.len() as u64);
        let (sealed, spool) = {
            let profile = self.profile.clone();
            let (params, file) = (params.clone(), file.clone());
            let progress = self.relay.shows_progress();
            tokio::task::spawn_blocking(move || seal_file(&params, &profile, &file, plan, progress)).await??
        };
        let upload = Upload {
            prefix: sealed.prefix(),
            ciphertext: spool,
            ciphertext_len: sealed.header.ciphertext.length,
        };
        let (stored, attempts) =
            with_retries(&self.retry_delays, || self.relay.put_envelope(&params.envelope_id, &upload)).await;
        let stored = stored?;
        if stored.value.envelope_id != params.envelope_id
            || stored.value.header_sha256 != sealed.header_sha256()
        {
            return Err(ClientError::Relay(RelayError::Protocol {
                status: Some(stored.status),
                detail: "the relay acknowledged another envelope than the one sent".into(),
                request_id: stored.meta.request_id,
            }));
        }
        Ok(SendResult {
            envelope_id: params.envelope_id,
            case_id: params.case_id,
            consent_id: params.consent_id,
            content_kind: req.kind,
            recipients,
            file,
            media_type: params.media_type,
            document_bytes,
            envelope_bytes: upload.len(),
            header_sha256: sealed.header_sha256(),
            stored_at: stored.value.stored_at,
            duplicate: stored.value.duplicate,
            attempts,
            skipped_keys,
            relay: stored.meta,
        })
    }
}

/// Reads and checks a plan before it is sent: valid on today's date, and for this case if it names
/// one. Returns the exact bytes that were checked.
fn read_plan_to_send(path: &Path, case: &CaseId) -> Result<Vec<u8>, ClientError> {
    let bytes = read_file(path)?;
    let plan = check(&bytes, today()).map_err(|errors| invalid(path, &errors, "; nothing was sent"))?;
    if let Some(own) = plan.case_id.as_ref().filter(|own| *own != case) {
        return Err(ClientError::usage(
            "plan_case_mismatch",
            format!(
                "{} is the plan of case {own}, not of case {case}; nothing was sent; check that it is the right \
                 person's plan: if it is, send it in its own case (--case {own}) or correct its case_id",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}

/// Seals the document (the file, or `bytes` already read from it) into an anonymous temporary
/// file holding the ciphertext; the header comes back. Synchronous and CPU-bound: runs on the
/// blocking pool.
fn seal_file(
    params: &SealParams,
    profile: &crate::profile::Profile,
    path: &Path,
    bytes: Option<Vec<u8>>,
    progress: bool,
) -> Result<(samordna_core::envelope::SealedHeader, File), ClientError> {
    let (doc, len): (Box<dyn std::io::Read>, u64) = match bytes {
        Some(bytes) => {
            let len = bytes.len() as u64;
            (Box::new(std::io::Cursor::new(bytes)), len)
        }
        None => {
            let doc = File::open(path).map_err(ClientError::io("cannot read", path))?;
            let len = doc.metadata().map_err(ClientError::io("cannot read", path))?.len();
            (Box::new(doc), len)
        }
    };
    let spool_dir = std::env::temp_dir();
    let mut spool =
        tempfile::tempfile().map_err(ClientError::io("cannot make a temporary file in", &spool_dir))?;
    let mut out = BufWriter::with_capacity(256 * 1024, &mut spool);
    let doc = ProgressReader::new(BufReader::with_capacity(256 * 1024, doc), progress, len, "encrypting");
    let sealed = seal_to_parts(params, profile.signer(), doc, len, &mut out).map_err(|e| match e {
        SealError::TooManyRecipients => ClientError::policy(
            Reason::TooManyRecipients,
            format!("{e}; send to fewer organisations at a time, or ask them to retire old keys"),
        ),
        SealError::DocumentLength { .. } => ClientError::usage(
            "file",
            format!(
                "{} changed while it was being sent ({e}); send it again once it is saved",
                path.display()
            ),
        ),
        SealError::Io(source) => {
            ClientError::Io { what: "cannot read or encrypt", path: path.to_owned(), source }
        }
        other => ClientError::Internal(format!("the document could not be sealed: {other}")),
    })?;
    out.flush().map_err(ClientError::io("cannot write a temporary file in", &spool_dir))?;
    drop(out);
    Ok((sealed, spool))
}

/// Every recipient is a registered, enabled principal (the relay would say `recipient_unknown`).
fn check_recipients_registered(directory: &Directory, to: &[PrincipalId]) -> Result<(), ClientError> {
    for p in to {
        match directory.principals.iter().find(|e| e.id == *p) {
            None => {
                return Err(ClientError::policy(
                    Reason::RecipientUnknown,
                    format!("{p} is not registered at the relay; check the id with `samordna directory`"),
                ));
            }
            Some(e) if !e.enabled => {
                return Err(ClientError::policy(
                    Reason::RecipientUnknown,
                    format!("{} ({p}) is disabled at the relay and cannot receive documents", e.name),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn no_usable_key(directory: &Directory, p: &PrincipalId, skipped: &[SkippedKey]) -> ClientError {
    let who = name_of(directory, p);
    if skipped.is_empty() {
        ClientError::Policy {
            code: "no_encryption_key".into(),
            message: format!(
                "{who} has not published an encryption key; ask them to run `samordna keys init`"
            ),
        }
    } else {
        let why: Vec<&str> = skipped.iter().map(|s| s.reason.as_str()).collect();
        ClientError::verification(
            "attestation_invalid",
            format!(
                "none of the encryption keys the relay lists for {who} is validly attested ({}); nothing was sent; \
                 ask them to run `samordna keys init`, and tell the relay's operator",
                why.join("; ")
            ),
        )
    }
}
