//! Envelopes: upload, inbox, fetch, receipts and delivery status.

use std::{collections::HashMap, io::Cursor, time::Duration};

use axum::{
    body::{Body, BodyDataStream},
    extract::{Query, State as StateExt},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::{StreamExt, future::BoxFuture};
use samordna_core::{
    CaseId, EnvelopeId,
    api::{
        DeliveryStatus, ENVELOPE_MEDIA_TYPE, EnvelopeStored, Inbox, InboxItem, LOG_INDEX_HEADER,
        RecipientStatus,
    },
    audit::{Action, Reason},
    consent::{check_fetch, check_send},
    envelope::{MAX_HEADER_LEN, OpenError, SignedHeader, read_signed_header},
    receipt::{DeliveryReceipt, ReceiptError},
    signature::MAX_SIGNATURE_LEN,
};
use sqlx::AnyConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ApiError, AppState, Caller, JsonBody, Logged, PathId, State, deny, parse_id, read_json};
use crate::store::{
    StoreError, StoreResult, Tx,
    batch::BatchJob,
    cases,
    envelopes::{self, CHUNK_BYTES, Envelope},
    keys, log, principals,
};

/// Reads a request body frame by frame, refusing a client that goes quiet.
struct BodyReader {
    stream: BodyDataStream,
    pending: Bytes,
    idle: Duration,
}

impl BodyReader {
    fn new(body: Body, idle: Duration) -> Self {
        BodyReader { stream: body.into_data_stream(), pending: Bytes::new(), idle }
    }

    /// The next bytes, or `None` at the end of the body.
    async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        match tokio::time::timeout(self.idle, self.stream.next()).await {
            Err(_) => Err(ApiError::new(Reason::Timeout, "the upload stalled; send the envelope again")),
            Ok(None) => Ok(None),
            Ok(Some(Err(e))) => {
                Err(ApiError::new(Reason::Malformed, format!("the request body could not be read: {e}")))
            }
            Ok(Some(Ok(b))) => Ok(Some(b)),
        }
    }

    /// Exactly `n` bytes.
    async fn exact(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), ApiError> {
        while n > 0 && out.len() < n {
            let Some(mut b) = self.next().await? else {
                return Err(ApiError::new(Reason::Malformed, "the envelope ends inside its header"));
            };
            let want = n - out.len();
            if b.len() > want {
                self.pending = b.split_off(want);
            }
            out.extend_from_slice(&b);
        }
        Ok(())
    }
}

/// Reads the bytes before the ciphertext: magic, version, header and signature blocks.
async fn read_prefix(reader: &mut BodyReader) -> Result<Vec<u8>, ApiError> {
    let mut prefix = Vec::new();
    reader.exact(13, &mut prefix).await?;
    let header_len = u32::from_be_bytes([prefix[9], prefix[10], prefix[11], prefix[12]]) as usize;
    if header_len > MAX_HEADER_LEN {
        // Let the core parser name the fault (wrong magic, version, length) from what we have.
        return Ok(prefix);
    }
    reader.exact(13 + header_len + 4, &mut prefix).await?;
    let at = 13 + header_len;
    let sig_len = u32::from_be_bytes([prefix[at], prefix[at + 1], prefix[at + 2], prefix[at + 3]]) as usize;
    if sig_len <= MAX_SIGNATURE_LEN {
        reader.exact(at + 4 + sig_len, &mut prefix).await?;
    }
    Ok(prefix)
}

fn header_error(e: OpenError) -> ApiError {
    match e {
        OpenError::HeaderSignature(s) => ApiError::new(
            Reason::SignatureInvalid,
            format!("the envelope header's signature is not valid: {s}"),
        ),
        OpenError::SenderMismatch { .. } => ApiError::new(Reason::SenderMismatch, e.to_string()),
        other => ApiError::new(Reason::Malformed, format!("not an acceptable envelope: {other}")),
    }
}

/// Everything about an upload that can be decided before the ciphertext arrives.
async fn check_upload(
    conn: &mut AnyConnection,
    state: &AppState,
    signed: &SignedHeader,
    caller: &Caller,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let h = &signed.header;
    if h.recipients.len() > state.limits.max_recipients {
        return Err(ApiError::new(
            Reason::TooManyRecipients,
            format!("an envelope may have at most {} recipient keys here", state.limits.max_recipients),
        ));
    }
    for stanza in &h.recipients {
        match principals::get(&mut *conn, &stanza.principal).await? {
            Some(p) if p.enabled => {}
            _ => {
                return Err(ApiError::new(
                    Reason::RecipientUnknown,
                    format!(
                        "the recipient {} is not registered (or is disabled) at this relay",
                        stanza.principal
                    ),
                ));
            }
        }
        match keys::get(&mut *conn, &stanza.key_id).await? {
            Some((owner, _)) if owner == stanza.principal => {}
            _ => {
                return Err(ApiError::new(
                    Reason::KeyUnknown,
                    format!("{} is not a published key of {}", stanza.key_id, stanza.principal),
                ));
            }
        }
    }
    let case = super::cases::visible_case(&mut *conn, &h.case_id, caller).await?;
    if case.status == samordna_core::api::CaseStatus::Closed {
        return Err(ApiError::new(
            Reason::CaseClosed,
            format!("case {} is closed; no new documents can be sent", case.id),
        ));
    }
    let consent = cases::get_consent(&mut *conn, &h.consent_id).await?.ok_or_else(|| {
        ApiError::new(
            Reason::NoConsent,
            format!("there is no consent {} at this relay; record the person's consent first", h.consent_id),
        )
    })?;
    let recipients = h.recipient_principals();
    check_send(&consent.state(), &h.case_id, &caller.principal, &recipients, h.content_kind, now)?;
    Ok(())
}

/// Where an upload's ciphertext waits until it is checked: memory for small envelopes, a
/// temporary file for large ones, so memory does not grow with the envelope.
enum Spool {
    Memory(Vec<u8>),
    File(tokio::fs::File),
}

/// Receives exactly `length` bytes of ciphertext whose SHA-256 must be `expected` (the signed
/// header's), hashing as it goes; a file spool is left positioned at its start.
async fn receive_ciphertext(
    reader: &mut BodyReader,
    length: u64,
    expected: &[u8; 32],
    metrics: &crate::metrics::Metrics,
) -> Result<Spool, ApiError> {
    let spool_error = |e: std::io::Error| {
        tracing::error!(error = %e, "cannot use the spool file");
        if e.kind() == std::io::ErrorKind::StorageFull {
            crate::store::StoreError::Full(e.to_string()).into()
        } else {
            ApiError::new(Reason::Unavailable, "the relay cannot store uploads right now; try again later")
        }
    };
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut spool = if length <= CHUNK_BYTES as u64 {
        Spool::Memory(Vec::with_capacity(length as usize))
    } else {
        Spool::File(tokio::fs::File::from_std(tempfile::tempfile().map_err(spool_error)?))
    };
    let mut received = 0u64;
    while let Some(bytes) = reader.next().await? {
        received += bytes.len() as u64;
        if received > length {
            return Err(ApiError::new(
                Reason::CiphertextMismatch,
                "more bytes follow the ciphertext than the signed header announces",
            ));
        }
        digest.update(&bytes);
        match &mut spool {
            Spool::Memory(v) => v.extend_from_slice(&bytes),
            Spool::File(f) => f.write_all(&bytes).await.map_err(spool_error)?,
        }
    }
    metrics.bytes_in(received);
    if received != length {
        return Err(ApiError::new(
            Reason::CiphertextMismatch,
            "the ciphertext is shorter than the signed header announces",
        ));
    }
    if digest.finish().as_ref() != expected {
        return Err(ApiError::new(
            Reason::CiphertextMismatch,
            "the ciphertext does not match the digest in the signed header; it was damaged on the way, send it again",
        ));
    }
    if let Spool::File(f) = &mut spool {
        use tokio::io::AsyncSeekExt;
        f.flush().await.map_err(spool_error)?;
        f.seek(std::io::SeekFrom::Start(0)).await.map_err(spool_error)?;
    }
    Ok(spool)
}

/// `PUT /v1/envelopes/{id}`.
pub async fn upload(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(raw_id): PathId,
    headers: HeaderMap,
    body: Body,
) -> Result<Logged<EnvelopeStored>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::EnvelopeUpload, now);
    entry.envelope_id = Some(raw_id.clone());
    let limit = Duration::from_secs(state.limits.request_timeout_seconds);
    let mut reader = BodyReader::new(body, Duration::from_secs(state.limits.idle_timeout_seconds));
    let outcome = tokio::time::timeout(
        limit,
        upload_inner(&state, &caller, &raw_id, &headers, &mut reader, now, &mut entry),
    )
    .await;
    let result = match outcome {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(Reason::Timeout, "the upload took too long; send the envelope again")),
    };
    // A refusal, and the answer to a retry of a stored envelope, come before the body is read:
    // the drain layer (super::drain) reads what is left before the answer goes out.
    match result {
        Ok(ok) => Ok(ok),
        Err(e) if e.log_index.is_some() => Err(e),
        Err(e) => Err(deny(&state, entry, e).await),
    }
}

async fn upload_inner(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
    headers: &HeaderMap,
    reader: &mut BodyReader,
    now: time::OffsetDateTime,
    entry: &mut log::Entry,
) -> Result<Logged<EnvelopeStored>, ApiError> {
    let id: EnvelopeId = parse_id(raw_id)?;
    if !super::is_media_type(headers.get(header::CONTENT_TYPE), ENVELOPE_MEDIA_TYPE) {
        return Err(ApiError::new(
            Reason::UnsupportedMediaType,
            format!("an envelope is uploaded with Content-Type: {ENVELOPE_MEDIA_TYPE}"),
        ));
    }
    let announced =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > state.limits.max_envelope_bytes) {
        return Err(too_large(state));
    }
    let prefix = read_prefix(reader).await?;
    let signed = read_signed_header(&mut Cursor::new(&prefix), &state.trust(), now).map_err(header_error)?;
    let h = &signed.header;
    entry.case_id = Some(h.case_id.as_str().to_owned());
    entry.consent_id = Some(h.consent_id.as_str().to_owned());
    // The kind of information (a word, no content): the yearly statistics count meeting invitations.
    entry.object = Some(h.content_kind.as_str().to_owned());
    if h.envelope_id != id {
        return Err(ApiError::new(
            Reason::Malformed,
            format!("the header is for envelope {}, not {id}", h.envelope_id),
        ));
    }
    let signer = &signed.signer.signer.identity;
    if signer.principal != caller.principal || signer.hsa_id != caller.user {
        return Err(ApiError::new(
            Reason::SenderMismatch,
            format!(
                "the envelope is signed by {} ({}) but sent by {} ({}); the sender must sign their own envelopes",
                signer.name, signer.hsa_id, caller.name, caller.user
            ),
        ));
    }
    if prefix.len() as u64 + h.ciphertext.length > state.limits.max_envelope_bytes {
        return Err(too_large(state));
    }
    let header_sha256 = signed.header_sha256();

    // A retry of an envelope already stored is answered as the first upload was. The decision
    // (recipients, keys, case, consent) is made on a read connection before the ciphertext is
    // received, so a refused envelope is never spooled and the write below stays short. The policy
    // counter (migrations/*/0005_policy_version.sql) read first says, inside the write
    // transaction, whether any input of the decision has changed since; if one has, or where the
    // counter cannot be held for the whole write, the decision is made again in that transaction.
    let mut decided_at = {
        let mut conn = state.store.read().await?;
        let version = state.store.policy_version(&mut conn).await?;
        if let Some(existing) = envelopes::get(&mut conn, &id).await? {
            drop(conn);
            return duplicate(state, existing, header_sha256, entry).await;
        }
        check_upload(&mut conn, state, &signed, caller, now).await?;
        Some(version)
    };

    let spool = receive_ciphertext(reader, h.ciphertext.length, &h.ciphertext.sha256, &state.metrics).await?;

    // A small envelope joins the batch writer's next transaction (crate::store::batch), shared
    // with the other uploads that are waiting.
    let spool = match (state.store.batcher(), spool, decided_at) {
        (Some(batcher), Spool::Memory(data), Some(at)) => {
            let ciphertext = Bytes::from(data);
            let job = SmallUpload {
                header: h.clone(),
                header_bytes: signed.header_bytes.clone(),
                signature: signed.signature.clone(),
                header_sha256,
                ciphertext: ciphertext.clone(),
                now,
                entry: entry.clone(),
                decided_at: at,
            };
            match batcher.submit(job).await {
                Ok(Some(idx)) => return Ok(stored(state, h, header_sha256, now, idx)),
                // Consent, keys or principals changed since the decision: decided again below.
                Ok(None) => {
                    decided_at = None;
                    Spool::Memory(ciphertext.to_vec())
                }
                Err(StoreError::Conflict) => return stored_meanwhile(state, &id, header_sha256, entry).await,
                Err(e) => return Err(e.into()),
            }
        }
        (_, spool, _) => spool,
    };

    let chunk_count = h.ciphertext.length.div_ceil(CHUNK_BYTES as u64).max(1);
    let mut tx = state.store.write().await?;
    // On PostgreSQL this transaction does not hold the counter (a large upload's transaction
    // would block consent changes for as long as its chunks take), so it decides again.
    let still_decided = match decided_at {
        Some(v) if state.store.backend() == crate::store::Backend::Sqlite => {
            state.store.policy_version_held(&mut tx).await? == v
        }
        _ => false,
    };
    // Consent may have changed while the ciphertext was arriving: decide again, inside the transaction.
    if !still_decided && let Err(e) = check_upload(&mut tx, state, &signed, caller, now).await {
        drop(tx);
        return Err(e);
    }
    match envelopes::insert(
        &mut tx,
        h,
        &signed.header_bytes,
        &signed.signature,
        &header_sha256,
        chunk_count,
        now,
    )
    .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            drop(tx);
            return stored_meanwhile(state, &id, header_sha256, entry).await;
        }
        Err(e) => return Err(e.into()),
    }
    store_chunks(&mut tx, &id, spool, h.ciphertext.length).await?;
    announce(&mut tx, h, now).await?;
    let idx = log::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(stored(state, h, header_sha256, now, idx))
}

/// A small upload's writes, run by the batch writer in a transaction shared with other uploads.
/// The upload was decided on a read connection when the policy counter stood at `decided_at`;
/// if the transaction sees another value, nothing is written and the job answers `None`.
struct SmallUpload {
    header: samordna_core::envelope::Header,
    header_bytes: Vec<u8>,
    signature: Vec<u8>,
    header_sha256: [u8; 32],
    ciphertext: Bytes,
    now: time::OffsetDateTime,
    entry: log::Entry,
    decided_at: i64,
}

impl BatchJob for SmallUpload {
    /// The upload's log index, or `None` when its decision is stale.
    type Output = Option<u64>;

    fn write<'a>(
        &'a mut self,
        tx: &'a mut Tx,
        policy: i64,
    ) -> BoxFuture<'a, StoreResult<Option<log::Entry>>> {
        Box::pin(async move {
            if policy != self.decided_at {
                return Ok(None);
            }
            let h = &self.header;
            envelopes::insert(
                &mut *tx,
                h,
                &self.header_bytes,
                &self.signature,
                &self.header_sha256,
                1,
                self.now,
            )
            .await?;
            envelopes::insert_chunk(&mut *tx, &h.envelope_id, 0, self.ciphertext.to_vec()).await?;
            announce(tx, h, self.now).await?;
            Ok(Some(self.entry.clone()))
        })
    }

    fn output(self, index: Option<u64>) -> Option<u64> {
        index
    }
}

/// Each recipient principal's functional mailbox hears of a stored envelope (batched, content-free).
async fn announce(
    tx: &mut Tx,
    h: &samordna_core::envelope::Header,
    now: time::OffsetDateTime,
) -> StoreResult<()> {
    for p in h.recipient_principals() {
        crate::store::mail::queue(
            &mut *tx,
            p,
            crate::store::mail::EventKind::EnvelopeArrived,
            Some(&h.case_id),
            now,
        )
        .await?;
    }
    Ok(())
}

/// The answer to a stored envelope (after its commit is durable).
fn stored(
    state: &AppState,
    h: &samordna_core::envelope::Header,
    header_sha256: [u8; 32],
    now: time::OffsetDateTime,
    idx: u64,
) -> Logged<EnvelopeStored> {
    state.metrics.envelope_stored();
    tracing::info!(envelope = %h.envelope_id, bytes = h.ciphertext.length, "envelope stored");
    Logged(
        StatusCode::CREATED,
        idx,
        EnvelopeStored {
            envelope_id: h.envelope_id.clone(),
            header_sha256,
            stored_at: now,
            duplicate: false,
        },
    )
}

/// Another upload of the same id committed first: answered as a retry of that one.
async fn stored_meanwhile(
    state: &AppState,
    id: &EnvelopeId,
    header_sha256: [u8; 32],
    entry: &mut log::Entry,
) -> Result<Logged<EnvelopeStored>, ApiError> {
    let mut conn = state.store.read().await?;
    let existing = envelopes::get(&mut conn, id).await?.ok_or(StoreError::Conflict)?;
    drop(conn);
    duplicate(state, existing, header_sha256, entry).await
}

fn too_large(state: &AppState) -> ApiError {
    ApiError::new(
        Reason::TooLarge,
        format!("this relay accepts envelopes of at most {} bytes", state.limits.max_envelope_bytes),
    )
}

async fn store_chunks(
    tx: &mut AnyConnection,
    id: &EnvelopeId,
    spool: Spool,
    length: u64,
) -> Result<(), ApiError> {
    match spool {
        Spool::Memory(v) => envelopes::insert_chunk(tx, id, 0, v).await?,
        Spool::File(mut f) => {
            let mut remaining = length;
            let mut seq = 0u64;
            while remaining > 0 {
                let n = remaining.min(CHUNK_BYTES as u64) as usize;
                let mut buf = vec![0u8; n];
                f.read_exact(&mut buf).await.map_err(|e| {
                    tracing::error!(error = %e, "cannot read the spool file");
                    ApiError::new(
                        Reason::Unavailable,
                        "the relay cannot store uploads right now; try again later",
                    )
                })?;
                envelopes::insert_chunk(&mut *tx, id, seq, buf).await?;
                remaining -= n as u64;
                seq += 1;
            }
        }
    }
    Ok(())
}

/// The answer to a second upload under a stored id: the same answer if it is the same envelope.
async fn duplicate(
    state: &AppState,
    existing: Envelope,
    header_sha256: [u8; 32],
    entry: &mut log::Entry,
) -> Result<Logged<EnvelopeStored>, ApiError> {
    if existing.header_sha256 != header_sha256 {
        return Err(ApiError::new(
            Reason::Conflict,
            format!("another envelope is already stored as {}", existing.id),
        ));
    }
    entry.object = Some("duplicate".into());
    let mut tx = state.store.write().await?;
    let idx = log::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(Logged(
        StatusCode::OK,
        idx,
        EnvelopeStored {
            envelope_id: existing.id,
            header_sha256,
            stored_at: existing.stored_at,
            duplicate: true,
        },
    ))
}

/// Loads an envelope addressed to the caller's principal; anything else is "not found".
async fn addressed_envelope(
    conn: &mut AnyConnection,
    raw_id: &str,
    caller: &Caller,
) -> Result<(Envelope, envelopes::Delivery), ApiError> {
    let id: EnvelopeId = parse_id(raw_id)?;
    let not_found = || {
        ApiError::new(
            Reason::NotFound,
            format!("there is no envelope {id} addressed to {}", caller.principal),
        )
    };
    let envelope = envelopes::get(&mut *conn, &id).await?.ok_or_else(not_found)?;
    let delivery = envelopes::delivery(conn, &id, &caller.principal).await?.ok_or_else(not_found)?;
    Ok((envelope, delivery))
}

/// `GET /v1/envelopes/{id}`: streamed, after consent is checked again.
pub async fn fetch(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(raw_id): PathId,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::EnvelopeFetch, now);
    entry.envelope_id = Some(raw_id.clone());
    let mut tx = state.store.write().await?;
    let decided = async {
        let (envelope, _) = addressed_envelope(&mut tx, &raw_id, &caller).await?;
        entry.case_id = Some(envelope.case_id.as_str().to_owned());
        entry.consent_id = Some(envelope.consent_id.as_str().to_owned());
        if let Some(at) = envelope.deleted_at {
            return Err(ApiError::new(
                Reason::Deleted,
                format!("the envelope was deleted on {} under the retention rules", at.date()),
            ));
        }
        // An amended consent is followed to its newest version: that is what holds now.
        let consent = cases::current_consent(&mut tx, &envelope.consent_id).await?.ok_or_else(|| {
            ApiError::new(Reason::NoConsent, format!("the consent {} is not known", envelope.consent_id))
        })?;
        entry.consent_id = Some(consent.metadata.consent_id.as_str().to_owned());
        check_fetch(&consent.state(), &caller.principal, &envelope.sender.principal, envelope.kind, now)?;
        Ok(envelope)
    }
    .await;
    let envelope = match decided {
        Ok(e) => e,
        Err(e) => {
            drop(tx);
            return Err(deny(&state, entry, e).await);
        }
    };
    envelopes::mark_fetched(&mut tx, &envelope.id, &caller.principal, now).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;

    let size = envelope.size();
    state.metrics.bytes_out(size);
    let prefix = Bytes::from(envelope.prefix());
    let store = state.store.clone();
    let id = envelope.id.clone();
    let chunks = envelope.chunk_count;
    let body = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(prefix) }).chain(
        futures_util::stream::unfold(0u64, move |seq| {
            let store = store.clone();
            let id = id.clone();
            async move {
                if seq >= chunks {
                    return None;
                }
                let chunk = async {
                    let mut conn = store.read().await?;
                    envelopes::chunk(&mut conn, &id, seq).await
                }
                .await;
                Some(match chunk {
                    Ok(Some(data)) => (Ok(Bytes::from(data)), seq + 1),
                    Ok(None) => {
                        (Err(std::io::Error::other(format!("chunk {seq} of {id} is missing"))), chunks)
                    }
                    Err(e) => (Err(std::io::Error::other(e.to_string())), chunks),
                })
            }
        }),
    );
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ENVELOPE_MEDIA_TYPE));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(LOG_INDEX_HEADER, HeaderValue::from(idx));
    Ok(response)
}

/// `POST /v1/envelopes/{id}/receipt`.
pub async fn receipt(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(raw_id): PathId,
    body: JsonBody,
) -> Result<Logged<serde_json::Value>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::ReceiptPost, now);
    entry.envelope_id = Some(raw_id.clone());
    let decided = async {
        let receipt: DeliveryReceipt = read_json(body).await?;
        let mut conn = state.store.read().await?;
        let (envelope, _) = addressed_envelope(&mut conn, &raw_id, &caller).await?;
        entry.case_id = Some(envelope.case_id.as_str().to_owned());
        let verified = receipt.verify(&state.trust(), now, &envelope.id, &envelope.header_sha256).map_err(
            |e| match e {
                ReceiptError::Signature(_) => ApiError::new(Reason::SignatureInvalid, e.to_string()),
                ReceiptError::WrongEnvelope => ApiError::new(Reason::Malformed, e.to_string()),
                _ => ApiError::new(Reason::Forbidden, e.to_string()),
            },
        )?;
        if verified.signer.principal != caller.principal {
            return Err(ApiError::new(
                Reason::Forbidden,
                "a receipt is signed by a person of the receiving principal",
            ));
        }
        Ok((envelope, receipt))
    }
    .await;
    let (envelope, receipt) = match decided {
        Ok(v) => v,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let mut tx = state.store.write().await?;
    let stored = envelopes::set_receipt(&mut tx, &envelope.id, &caller.principal, &receipt, now).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    let status = if stored { StatusCode::CREATED } else { StatusCode::OK };
    Ok(Logged(status, idx, serde_json::json!({ "envelope_id": envelope.id, "stored": stored })))
}

/// `GET /v1/envelopes/{id}/status`: for the sending principal.
pub async fn status(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(raw_id): PathId,
) -> Result<Logged<DeliveryStatus>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::StatusRead, now);
    entry.envelope_id = Some(raw_id.clone());
    let mut tx = state.store.write().await?;
    let found = async {
        let id: EnvelopeId = parse_id(&raw_id)?;
        match envelopes::get(&mut tx, &id).await? {
            Some(e) if e.sender.principal == caller.principal => Ok(e),
            _ => Err(ApiError::new(
                Reason::NotFound,
                format!("there is no envelope {id} sent by {}", caller.principal),
            )),
        }
    }
    .await;
    let envelope = match found {
        Ok(e) => e,
        Err(e) => {
            drop(tx);
            return Err(deny(&state, entry, e).await);
        }
    };
    entry.case_id = Some(envelope.case_id.as_str().to_owned());
    let deliveries = envelopes::deliveries(&mut tx, &envelope.id).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(
        StatusCode::OK,
        idx,
        DeliveryStatus {
            envelope_id: envelope.id,
            header_sha256: envelope.header_sha256,
            recipients: deliveries
                .into_iter()
                .map(|d| RecipientStatus {
                    principal: d.principal,
                    fetched_at: d.first_fetched_at,
                    receipt: d.receipt,
                })
                .collect(),
            deleted_at: envelope.deleted_at,
        },
    ))
}

/// `GET /v1/inbox[?case=S-…]`.
pub async fn inbox(
    StateExt(state): StateExt<State>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Logged<Inbox>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::InboxRead, now);
    let case: Option<CaseId> = match query.get("case").map(|c| parse_id::<CaseId>(c)).transpose() {
        Ok(c) => c,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    if let Some(unknown) = query.keys().find(|k| k.as_str() != "case") {
        let e = ApiError::new(
            Reason::Malformed,
            format!("unknown query parameter {unknown:?}; only \"case\" is accepted"),
        );
        return Err(deny(&state, entry, e).await);
    }
    entry.case_id = case.as_ref().map(|c| c.as_str().to_owned());
    let mut tx = state.store.write().await?;
    let rows = envelopes::inbox(&mut tx, &caller.principal, case.as_ref()).await?;
    let notices = crate::store::notices::list(&mut tx, &caller.principal, case.as_ref()).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    let items = rows
        .into_iter()
        .map(|(e, d)| InboxItem {
            size: e.size(),
            envelope_id: e.id,
            case_id: e.case_id,
            consent_id: e.consent_id,
            sender: e.sender,
            content_kind: e.kind,
            created: e.created,
            received_at: e.stored_at,
            fetched_at: d.first_fetched_at,
            receipt_posted: d.receipt.is_some(),
        })
        .collect();
    Ok(Logged(StatusCode::OK, idx, Inbox { items, notices }))
}
