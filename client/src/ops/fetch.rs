//! `fetch` (download, open, verify, save, receipt) and `status` (the sender's view of delivery).

use std::{
    fmt,
    fs::File,
    io::{BufReader, BufWriter, Write},
    path::{Path, PathBuf},
};

use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, HsaId, Identity, PrincipalId,
    encoding::{hex32, rfc3339},
    envelope::{OpenError, RecipientSecret, VerifiedEnvelope, open_to},
    receipt::DeliveryReceipt,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::{NamedPrincipal, Session, cases::human_size, now};
use crate::{
    error::ClientError,
    input::human_time,
    keystore::KeyStore,
    relay::RelayMeta,
    transfer::{ProgressReader, WriteError, parent_dir, write_verified},
};

/// What to fetch, for [`Session::fetch`].
#[derive(Clone, Debug)]
pub struct FetchRequest {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// Where the verified document goes.
    pub out: PathBuf,
    /// Where to save the document's detached CMS signature (`.p7s`), if anywhere.
    pub save_signature: Option<PathBuf>,
    /// Replace existing files at `out` and the signature path.
    pub overwrite: bool,
}

/// A person or system as their certificate names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Author {
    /// The person or system.
    pub name: String,
    /// The organisation.
    pub organisation: String,
    /// The principal.
    pub principal: PrincipalId,
    /// The HSA-id.
    pub hsa_id: HsaId,
}

impl From<&Identity> for Author {
    fn from(i: &Identity) -> Self {
        Author {
            name: i.name.clone(),
            organisation: i.organisation.clone(),
            principal: i.principal.clone(),
            hsa_id: i.hsa_id.clone(),
        }
    }
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {} (HSA-id {})", self.name, self.organisation, self.hsa_id)
    }
}

/// Whether the delivery receipt was posted.
#[derive(Clone, Debug, Serialize)]
pub struct ReceiptOutcome {
    /// It was.
    pub posted: bool,
    /// Why not, if not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The manifest, as verified.
#[derive(Clone, Debug, Serialize)]
pub struct DocumentManifest {
    /// Its media type.
    pub media_type: String,
    /// The file name the sender gave it.
    pub file_name: Option<String>,
    /// Its length.
    pub length: u64,
}

/// `fetch`.
#[derive(Clone, Debug, Serialize)]
pub struct FetchResult {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// Its case.
    pub case_id: CaseId,
    /// The consent it was sent under.
    pub consent_id: ConsentId,
    /// What kind of information.
    pub content_kind: ContentKind,
    /// Who signed the document, chained to the federation root.
    pub author: Author,
    /// When they signed it (their claim, from the signature).
    #[serde(with = "rfc3339::option")]
    pub signed_at: Option<OffsetDateTime>,
    /// Who sent the envelope (signed the header).
    pub sender: Author,
    /// The sending principal, with its name.
    pub sender_principal: NamedPrincipal,
    /// The document.
    pub manifest: DocumentManifest,
    /// SHA-256 of the envelope header, as the receipt names it.
    #[serde(with = "hex32")]
    pub header_sha256: [u8; 32],
    /// Where the document was saved.
    pub out: PathBuf,
    /// Where its signature was saved.
    pub signature: Option<PathBuf>,
    /// The delivery receipt.
    pub receipt: ReceiptOutcome,
    /// The relay's request id and log index of the download.
    pub relay: RelayMeta,
}

impl fmt::Display for FetchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verified signature: {}", self.author)?;
        if let Some(t) = self.signed_at {
            write!(f, ", signed {}", human_time(t))?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Saved {} ({}) from {} to {} ({}, {})",
            self.content_kind,
            self.content_kind.swedish(),
            self.sender_principal,
            self.out.display(),
            human_size(self.manifest.length),
            self.manifest.media_type
        )?;
        if let Some(sig) = &self.signature {
            writeln!(f, "Signature saved to {}", sig.display())?;
        }
        match (&self.receipt.posted, &self.receipt.error) {
            (true, _) => write!(f, "Delivery receipt sent."),
            (false, e) => write!(
                f,
                "WARNING: the delivery receipt could not be sent ({}); the sender will not see that you received it",
                e.as_deref().unwrap_or("unknown reason")
            ),
        }
    }
}

/// A recipient's receipt, as checked by the sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReceiptCheck {
    /// No receipt posted yet.
    None,
    /// The receipt verified.
    Verified {
        /// Who signed it.
        by: Author,
        /// When they say they received it.
        #[serde(with = "rfc3339")]
        received_at: OffsetDateTime,
    },
    /// A receipt is there but does not verify.
    Invalid {
        /// Why.
        reason: String,
    },
}

/// Delivery to one recipient principal.
#[derive(Clone, Debug, Serialize)]
pub struct RecipientDelivery {
    /// The recipient.
    pub principal: NamedPrincipal,
    /// When it first fetched the envelope.
    #[serde(with = "rfc3339::option")]
    pub fetched_at: Option<OffsetDateTime>,
    /// Its receipt.
    pub receipt: ReceiptCheck,
}

/// `status`.
#[derive(Clone, Debug, Serialize)]
pub struct StatusResult {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// SHA-256 of its header.
    #[serde(with = "hex32")]
    pub header_sha256: [u8; 32],
    /// Per recipient principal.
    pub recipients: Vec<RecipientDelivery>,
    /// When the ciphertext was deleted under the retention rules.
    #[serde(with = "rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
}

impl StatusResult {
    /// Whether any receipt failed to verify (the command then exits with 4).
    pub fn has_invalid_receipt(&self) -> bool {
        self.recipients.iter().any(|r| matches!(r.receipt, ReceiptCheck::Invalid { .. }))
    }
}

impl fmt::Display for StatusResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Envelope {}", self.envelope_id)?;
        if let Some(at) = self.deleted_at {
            write!(f, " (deleted under the retention rules on {})", human_time(at))?;
        }
        for r in &self.recipients {
            let fetched =
                r.fetched_at.map_or("not fetched yet".to_owned(), |t| format!("fetched {}", human_time(t)));
            let receipt = match &r.receipt {
                ReceiptCheck::None => "no receipt yet".to_owned(),
                ReceiptCheck::Verified { by, received_at } => {
                    format!("receipt verified: {by}, {}", human_time(*received_at))
                }
                ReceiptCheck::Invalid { reason } => {
                    format!("RECEIPT INVALID: {reason}; do not rely on it, and tell the relay's operator")
                }
            };
            write!(f, "\n  {}: {fetched}; {receipt}", r.principal)?;
        }
        Ok(())
    }
}

/// Opens the envelope in `envelope` with `keys` and writes the verified document to `req.out` (and
/// the signature to `req.save_signature`), never leaving an unverified file at either path.
fn open_into_place(
    envelope: File,
    keys: &[RecipientSecret],
    session_trust: &samordna_core::TrustStore,
    req: &FetchRequest,
    progress: bool,
) -> Result<VerifiedEnvelope, ClientError> {
    let (expected, out, overwrite) = (&req.envelope_id, req.out.as_path(), req.overwrite);
    let at = now();
    let len = envelope.metadata().map(|m| m.len()).unwrap_or(0);
    let envelope =
        ProgressReader::new(BufReader::with_capacity(256 * 1024, envelope), progress, len, "verifying");
    let verified = write_verified(out, overwrite, |file| -> Result<VerifiedEnvelope, ClientError> {
        let mut writer = BufWriter::with_capacity(256 * 1024, file);
        let v = open_to(envelope, keys, session_trust, at, &mut writer)
            .map_err(|e| open_error(e, out))?;
        writer.flush().map_err(ClientError::io("cannot write the document next to", out))?;
        // The relay must serve the envelope that was asked for, not another one addressed to us.
        if v.header.header.envelope_id != *expected {
            return Err(ClientError::verification(
                "envelope_mismatch",
                format!(
                    "the relay served envelope {} when {expected} was asked for; nothing was saved; tell the relay's operator",
                    v.header.header.envelope_id
                ),
            ));
        }
        Ok(v)
    })
    .map_err(|e| match e {
        WriteError::Fill(e) => e,
        WriteError::Io(e) => ClientError::io("cannot save the document to", out)(e),
    })?;
    if let Some(sig) = &req.save_signature {
        write_verified(sig, overwrite, |f| f.write_all(&verified.document_signature)).map_err(|e| {
            let (WriteError::Fill(e) | WriteError::Io(e)) = e;
            ClientError::io("the document was saved, but its signature could not be saved to", sig)(e)
        })?;
    }
    Ok(verified)
}

fn open_error(e: OpenError, out: &Path) -> ClientError {
    match e {
        OpenError::Io(e) => ClientError::io("cannot read the download or write the document next to", out)(e),
        OpenError::NotARecipient => ClientError::verification(
            "not_a_recipient",
            "this envelope is not addressed to any encryption key in this profile's keys/ directory; \
             if the key was replaced, restore the old key file",
        ),
        other => ClientError::verification(
            "envelope_invalid",
            format!("the envelope did not verify and nothing was saved: {other}"),
        ),
    }
}

impl Session {
    /// Downloads an envelope, opens it with every key of this profile, saves the document to
    /// `out` only once everything verified, and posts a signed delivery receipt.
    pub async fn fetch(&self, req: &FetchRequest) -> Result<FetchResult, ClientError> {
        let out = req.out.clone();
        let dir = parent_dir(&out);
        if !tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
            return Err(ClientError::usage(
                "file",
                format!("the directory {} does not exist", dir.display()),
            ));
        }
        for p in std::iter::once(&out).chain(req.save_signature.as_ref()) {
            if !req.overwrite && tokio::fs::symlink_metadata(p).await.is_ok() {
                return Err(ClientError::usage(
                    "file",
                    format!(
                        "{} already exists; choose another file, or pass --force to replace it",
                        p.display()
                    ),
                ));
            }
        }
        let store = KeyStore::new(self.profile.keys_dir());
        let keys = store.load_all()?;
        if keys.is_empty() {
            return Err(ClientError::usage(
                "no_encryption_key",
                format!(
                    "this profile has no encryption keys in {}; run `samordna keys init` (documents sent before that cannot be opened here)",
                    store.dir().display()
                ),
            ));
        }

        // The envelope goes to a temporary file next to `out`: same file system, removed on drop.
        let download = tempfile::Builder::new()
            .prefix(".samordna-")
            .suffix(".envelope")
            .tempfile_in(&dir)
            .map_err(ClientError::io("cannot make a temporary file in", &dir))?;
        let mut dest = tokio::fs::File::from_std(
            download.reopen().map_err(ClientError::io("cannot use a temporary file in", &dir))?,
        );
        let answer = self
            .relay
            .get_envelope(&req.envelope_id, &mut dest, download.path())
            .await
            .map_err(|e| super::lifecycle::explain_fetch_refusal(e, &req.envelope_id))?;
        drop(dest);

        let envelope = download.reopen().map_err(ClientError::io("cannot read the download in", &dir))?;
        let verified = {
            let profile = self.profile.clone();
            let req = req.clone();
            let progress = self.relay.shows_progress();
            tokio::task::spawn_blocking(move || {
                let secrets: Vec<RecipientSecret> = keys.into_iter().map(|k| k.secret).collect();
                open_into_place(envelope, &secrets, profile.trust(), &req, progress)
            })
            .await??
        };
        drop(download);

        // The document is saved and verified; a receipt that cannot be posted does not undo that.
        let receipt = match DeliveryReceipt::create(
            self.profile.signer(),
            &req.envelope_id,
            verified.header.header_sha256(),
            now(),
        ) {
            Ok(r) => match self.relay.post_receipt(&req.envelope_id, &r).await {
                Ok(_) => ReceiptOutcome { posted: true, error: None },
                Err(e) => ReceiptOutcome { posted: false, error: Some(e.to_string()) },
            },
            Err(e) => ReceiptOutcome { posted: false, error: Some(e.to_string()) },
        };

        let directory = self.directory_or_empty().await;
        let h = &verified.header.header;
        Ok(FetchResult {
            envelope_id: h.envelope_id.clone(),
            case_id: h.case_id.clone(),
            consent_id: h.consent_id.clone(),
            content_kind: h.content_kind,
            author: Author::from(&verified.author.signer.identity),
            signed_at: verified.author.signing_time,
            sender: Author::from(&verified.header.signer.signer.identity),
            sender_principal: NamedPrincipal::new(&directory, &h.sender.principal),
            manifest: DocumentManifest {
                media_type: verified.manifest.document.media_type.clone(),
                file_name: verified.manifest.document.file_name.clone(),
                length: verified.manifest.document.length,
            },
            header_sha256: verified.header.header_sha256(),
            out,
            signature: req.save_signature.clone(),
            receipt,
            relay: answer.meta,
        })
    }

    /// The delivery status of an envelope we sent, each recipient's receipt verified here.
    pub async fn status(&self, id: &EnvelopeId) -> Result<StatusResult, ClientError> {
        let answer = self.relay.status(id).await?;
        let status = answer.value;
        let directory = self.directory_or_empty().await;
        let at = now();
        let recipients = status
            .recipients
            .iter()
            .map(|r| RecipientDelivery {
                principal: NamedPrincipal::new(&directory, &r.principal),
                fetched_at: r.fetched_at,
                receipt: check_receipt(
                    r.receipt.as_ref(),
                    &r.principal,
                    self.profile.trust(),
                    at,
                    id,
                    &status.header_sha256,
                ),
            })
            .collect();
        Ok(StatusResult {
            envelope_id: status.envelope_id,
            header_sha256: status.header_sha256,
            recipients,
            deleted_at: status.deleted_at,
            relay: answer.meta,
        })
    }
}

/// Verifies one recipient's receipt: signature and chain, this envelope and header, and signed by
/// a person of the recipient principal it is listed under.
pub fn check_receipt(
    receipt: Option<&DeliveryReceipt>,
    principal: &PrincipalId,
    trust: &samordna_core::TrustStore,
    at: OffsetDateTime,
    id: &EnvelopeId,
    header_sha256: &[u8; 32],
) -> ReceiptCheck {
    let Some(receipt) = receipt else { return ReceiptCheck::None };
    match receipt.verify(trust, at, id, header_sha256) {
        Ok(v) if v.signer.principal == *principal => {
            ReceiptCheck::Verified { by: Author::from(&v.signer), received_at: v.statement.received_at }
        }
        Ok(v) => ReceiptCheck::Invalid {
            reason: format!(
                "it was signed by {} of {}, not by {principal}",
                v.signer.name, v.signer.principal
            ),
        },
        Err(e) => ReceiptCheck::Invalid { reason: e.to_string() },
    }
}
