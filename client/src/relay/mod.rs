//! The relay's HTTP API (`docs/api.md`), one typed method per route, over mutual TLS.
//!
//! Every method returns the decoded answer together with the relay's request id and access-log
//! index ([`Answer`]), or one [`RelayError`]. Envelopes stream in both directions: neither upload
//! nor download holds an envelope in memory.

mod error;
mod log;
pub mod tls;

use std::{fs::File, io, path::PathBuf, time::Duration};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::{Method, StatusCode, Url, header};
use samordna_core::{
    CaseId, ConsentId, EnvelopeId, PrincipalId,
    api::{
        CaseView, ConsentView, DeliveryStatus, Directory, ENVELOPE_MEDIA_TYPE, EnvelopeStored, Health, Inbox,
        KeyList, KeyPublished, LOG_INDEX_HEADER, OpenCase, REQUEST_ID_HEADER,
    },
    attestation::KeyAttestation,
    consent::SignedConsent,
    receipt::DeliveryReceipt,
    signed::SignedStatement,
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

pub use error::{ErrorCode, RelayError, refusal};
pub use log::EntryFilter;
pub use tls::TlsProblem;

use crate::{profile::Profile, transfer};

/// Largest JSON answer read (the relay limits its JSON to 1 MiB; a directory or inbox listing may
/// be longer, but not without bound).
const MAX_JSON_ANSWER: usize = 16 * 1024 * 1024;
/// Largest error body read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What the relay says about a request besides its answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelayMeta {
    /// The relay's id for the request (`Samordna-Request-Id`).
    pub request_id: Option<String>,
    /// The index of the access-log entry the request appended (`Samordna-Log-Index`).
    pub log_index: Option<u64>,
}

impl RelayMeta {
    fn from_headers(h: &header::HeaderMap) -> Self {
        let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        RelayMeta {
            request_id: text(REQUEST_ID_HEADER),
            log_index: text(LOG_INDEX_HEADER).and_then(|v| v.trim().parse().ok()),
        }
    }
}

/// A successful answer.
#[derive(Clone, Debug)]
pub struct Answer<T> {
    /// The decoded body.
    pub value: T,
    /// The HTTP status (`200` for a repeated request, `201` for a new object).
    pub status: u16,
    /// Request id and log index.
    pub meta: RelayMeta,
}

/// An envelope ready to upload: the bytes before the ciphertext, and the ciphertext in a file.
#[derive(Debug)]
pub struct Upload {
    /// Magic, version, header and header signature ([`samordna_core::envelope::SealedHeader::prefix`]).
    pub prefix: Vec<u8>,
    /// The ciphertext, read from its start on every attempt.
    pub ciphertext: File,
    /// Its length.
    pub ciphertext_len: u64,
}

impl Upload {
    /// Total bytes on the wire.
    pub fn len(&self) -> u64 {
        self.prefix.len() as u64 + self.ciphertext_len
    }

    /// Never empty: there is always a header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// An HTTP client for one relay, authenticated as one profile.
#[derive(Clone, Debug)]
pub struct RelayClient {
    http: reqwest::Client,
    base: Url,
    progress: bool,
}

impl RelayClient {
    /// A client for the profile's relay (`relay_url`), with its certificate for TLS.
    pub fn new(profile: &Profile) -> Result<Self, RelayError> {
        let (chain, key) = profile.tls_client_auth();
        let tls = tls::client_config(profile.trust(), chain, key).map_err(|e| {
            RelayError::Config(format!(
                "the certificate, key or trust files of {} cannot be used for TLS: {e}",
                profile.dir().display()
            ))
        })?;
        Self::with_tls(&profile.config().relay_url, tls)
    }

    /// A client for `relay_url` with a ready TLS configuration.
    pub fn with_tls(relay_url: &str, tls: rustls::ClientConfig) -> Result<Self, RelayError> {
        let bad = |why: &str| RelayError::Config(format!("relay_url in profile.toml is not usable: {why}"));
        let mut base = Url::parse(relay_url).map_err(|e| bad(&e.to_string()))?;
        if base.scheme() != "https" {
            return Err(bad("it must start with https://"));
        }
        if base.host().is_none() {
            return Err(bad("it names no host"));
        }
        // Routes are joined onto the base, so a base with a path prefix must end in a slash.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .connect_timeout(Duration::from_secs(20))
            // Per read, not per request: a large upload or download may take long, a stall may not.
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("samordna/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RelayError::Config(format!("the HTTP client could not be set up: {e}")))?;
        Ok(RelayClient { http, base, progress: false })
    }

    /// Shows progress bars for large transfers (on a terminal only).
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Whether progress bars were asked for.
    pub fn shows_progress(&self) -> bool {
        self.progress
    }

    /// The relay's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, RelayError> {
        self.base.join(path).map_err(|e| RelayError::Config(format!("bad route {path}: {e}")))
    }

    fn base_str(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, RelayError> {
        let resp = req.send().await.map_err(|e| RelayError::from_reqwest(&self.base_str(), e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let meta = RelayMeta::from_headers(resp.headers());
        let body = self.read_limited(resp, MAX_ERROR_BODY).await.unwrap_or_default();
        Err(refusal(status, &body, meta.request_id))
    }

    async fn read_limited(&self, mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, RelayError> {
        let mut body = Vec::new();
        while let Some(chunk) =
            resp.chunk().await.map_err(|e| RelayError::from_reqwest(&self.base_str(), e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(RelayError::Protocol {
                    status: None,
                    detail: format!("the answer is longer than {limit} bytes"),
                    request_id: None,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn json<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<Answer<T>, RelayError> {
        let resp = self.send(req).await?;
        let status = resp.status().as_u16();
        let meta = RelayMeta::from_headers(resp.headers());
        let body = self.read_limited(resp, MAX_JSON_ANSWER).await?;
        let value = serde_json::from_slice(&body).map_err(|e| RelayError::Protocol {
            status: Some(status),
            detail: format!("the answer does not match the API: {e}"),
            request_id: meta.request_id.clone(),
        })?;
        Ok(Answer { value, status, meta })
    }

    fn get(&self, path: &str) -> Result<reqwest::RequestBuilder, RelayError> {
        Ok(self.http.get(self.url(path)?))
    }

    fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<reqwest::RequestBuilder, RelayError> {
        Ok(self.http.request(Method::POST, self.url(path)?).json(body))
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Answer<Health>, RelayError> {
        self.json(self.get("healthz")?).await
    }

    /// `GET /v1/principals`: the directory.
    pub async fn directory(&self) -> Result<Answer<Directory>, RelayError> {
        self.json(self.get("v1/principals")?).await
    }

    /// `GET /v1/principals/{id}/keys`: a principal's published keys. Verify every attestation.
    pub async fn principal_keys(&self, principal: &PrincipalId) -> Result<Answer<KeyList>, RelayError> {
        self.json(self.get(&format!("v1/principals/{principal}/keys"))?).await
    }

    /// `POST /v1/keys`: publishes one of our keys.
    pub async fn publish_key(
        &self,
        attestation: &KeyAttestation,
    ) -> Result<Answer<KeyPublished>, RelayError> {
        self.json(self.post("v1/keys", attestation)?).await
    }

    /// `POST /v1/cases`: opens a case.
    pub async fn open_case(&self, req: &OpenCase) -> Result<Answer<CaseView>, RelayError> {
        self.json(self.post("v1/cases", req)?).await
    }

    /// `GET /v1/cases/{id}`.
    pub async fn case(&self, id: &CaseId) -> Result<Answer<CaseView>, RelayError> {
        self.json(self.get(&format!("v1/cases/{id}"))?).await
    }

    /// `POST /v1/consents`: records signed consent metadata.
    pub async fn record_consent(&self, consent: &SignedConsent) -> Result<Answer<ConsentView>, RelayError> {
        self.json(self.post("v1/consents", consent)?).await
    }

    /// `GET /v1/consents/{id}`.
    pub async fn consent(&self, id: &ConsentId) -> Result<Answer<ConsentView>, RelayError> {
        self.json(self.get(&format!("v1/consents/{id}"))?).await
    }

    /// `POST /v1/consents/{id}/changes`: a signed `ConsentChange` (withdrawal or block). The answer
    /// is the consent as it now stands.
    pub async fn consent_change(
        &self,
        id: &ConsentId,
        change: &SignedStatement,
    ) -> Result<Answer<ConsentView>, RelayError> {
        self.json(self.post(&format!("v1/consents/{id}/changes"), change)?).await
    }

    /// `POST /v1/cases/{id}/close`: the lead principal closes the case to new documents. No body.
    pub async fn close_case(&self, id: &CaseId) -> Result<Answer<CaseView>, RelayError> {
        self.json(self.http.request(Method::POST, self.url(&format!("v1/cases/{id}/close"))?)).await
    }

    /// `GET /v1/inbox[?case=…]`.
    pub async fn inbox(&self, case: Option<&CaseId>) -> Result<Answer<Inbox>, RelayError> {
        let mut url = self.url("v1/inbox")?;
        if let Some(case) = case {
            url.query_pairs_mut().append_pair("case", case.as_str());
        }
        self.json(self.http.get(url)).await
    }

    /// `POST /v1/envelopes/{id}/receipt`: our signed delivery receipt. The answer has no body we need.
    pub async fn post_receipt(
        &self,
        id: &EnvelopeId,
        receipt: &DeliveryReceipt,
    ) -> Result<Answer<()>, RelayError> {
        let resp = self.send(self.post(&format!("v1/envelopes/{id}/receipt"), receipt)?).await?;
        let status = resp.status().as_u16();
        let meta = RelayMeta::from_headers(resp.headers());
        // Drain the body so the connection can be reused; its content does not matter.
        let _ = self.read_limited(resp, MAX_ERROR_BODY).await;
        Ok(Answer { value: (), status, meta })
    }

    /// `GET /v1/envelopes/{id}/status`: delivery status, for the sender. Verify every receipt.
    pub async fn status(&self, id: &EnvelopeId) -> Result<Answer<DeliveryStatus>, RelayError> {
        self.json(self.get(&format!("v1/envelopes/{id}/status"))?).await
    }

    /// `PUT /v1/envelopes/{id}`: one upload attempt, streaming the prefix and then the ciphertext
    /// from its file. Retrying is the caller's choice ([`RelayError::is_retryable`]); the same
    /// bytes under the same id are answered `duplicate: true`.
    pub async fn put_envelope(
        &self,
        id: &EnvelopeId,
        upload: &Upload,
    ) -> Result<Answer<EnvelopeStored>, RelayError> {
        let io_err = |source| RelayError::Io { path: PathBuf::from("(envelope spool file)"), source };
        let mut file = tokio::fs::File::from_std(upload.ciphertext.try_clone().map_err(io_err)?);
        file.seek(io::SeekFrom::Start(0)).await.map_err(io_err)?;
        let total = upload.len();
        let bar = transfer::progress_bar(self.progress, total, "uploading");
        let bar_in_stream = bar.clone();
        let prefix = Bytes::from(upload.prefix.clone());
        let body = stream::once(async move { Ok::<Bytes, io::Error>(prefix) })
            .chain(ReaderStream::with_capacity(file, 64 * 1024))
            .inspect_ok(move |chunk| {
                if let Some(b) = &bar_in_stream {
                    b.inc(chunk.len() as u64);
                }
            });
        let req = self
            .http
            .put(self.url(&format!("v1/envelopes/{id}"))?)
            .header(header::CONTENT_TYPE, ENVELOPE_MEDIA_TYPE)
            .header(header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(body));
        let result = self.json(req).await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        result
    }

    /// `GET /v1/envelopes/{id}`: streams the envelope into `dest`, returning the bytes written.
    pub async fn get_envelope(
        &self,
        id: &EnvelopeId,
        dest: &mut tokio::fs::File,
        dest_path: &std::path::Path,
    ) -> Result<Answer<u64>, RelayError> {
        let resp = self.send(self.get(&format!("v1/envelopes/{id}"))?).await?;
        let status = resp.status().as_u16();
        let meta = RelayMeta::from_headers(resp.headers());
        if resp.status() != StatusCode::OK {
            return Err(RelayError::Protocol {
                status: Some(status),
                detail: "expected 200 with the envelope".into(),
                request_id: meta.request_id,
            });
        }
        let bar = transfer::progress_bar(self.progress, resp.content_length().unwrap_or(0), "downloading");
        let io_err = |source| RelayError::Io { path: dest_path.to_owned(), source };
        let mut body = resp.bytes_stream();
        let mut written = 0u64;
        let outcome = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| RelayError::from_reqwest(&self.base_str(), e))?;
                dest.write_all(&chunk).await.map_err(io_err)?;
                written += chunk.len() as u64;
                if let Some(b) = &bar {
                    b.inc(chunk.len() as u64);
                }
            }
            dest.flush().await.map_err(io_err)?;
            dest.sync_all().await.map_err(io_err)
        }
        .await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        outcome?;
        Ok(Answer { value: written, status, meta })
    }
}
