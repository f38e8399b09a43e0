//! The HTTP API (`docs/api.md`): one module per resource, all behind mutual TLS.
//!
//! Every handler takes a [`Caller`] (a verified certificate of a registered, enabled principal),
//! and every decision, allow or deny, is appended to the access log: allowed actions in the same
//! transaction as the action, refusals on their own. Refusals are [`ApiError`]s: a stable code, a
//! sentence, and the log index.

mod cases;
mod consents;
mod directory;
mod drain;
mod envelopes;
mod ops;
mod transparency;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request},
    http::{HeaderValue, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use axum_server::tls::TlsInfo;
use samordna_core::{
    HsaId, Identity, PrincipalId, TrustStore,
    api::{ErrorBody, ErrorDetail, LOG_INDEX_HEADER, REQUEST_ID_HEADER},
    audit::{Action, Reason},
    cert::fingerprint,
    consent::ConsentPolicy,
};
use serde::{Serialize, de::DeserializeOwned};
use time::OffsetDateTime;

use crate::{
    clock::Clock,
    config::Limits,
    metrics::Metrics,
    store::{Store, StoreError, log::Entry, principals},
};

/// Largest JSON request body.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The federation's trust, for the signatures inside requests (envelope headers, consents,
    /// attestations, receipts). Replaced when the CA or CRL files change.
    pub trust: std::sync::RwLock<Arc<TrustStore>>,
    /// Request limits.
    pub limits: Limits,
    /// Consent rules.
    pub policy: ConsentPolicy,
    /// The relay's clock: every consent decision uses it.
    pub clock: Arc<dyn Clock>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The access log's origin and checkpoint signing key.
    pub log: Arc<crate::ledger::LogIdentity>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store).finish_non_exhaustive()
    }
}

impl AppState {
    /// The current federation trust.
    pub fn trust(&self) -> Arc<TrustStore> {
        match self.trust.read() {
            Ok(t) => t.clone(),
            // A panic while swapping cannot leave a half-written Arc; use what is there.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Shared state.
pub type State = Arc<AppState>;

/// The router with every route of `docs/api.md`.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/v1/principals", get(directory::list))
        .route("/v1/principals/{id}/keys", get(directory::keys))
        .route("/v1/keys", post(directory::publish_key))
        .route("/v1/cases", post(cases::open))
        .route("/v1/cases/{id}", get(cases::show))
        .route("/v1/cases/{id}/close", post(cases::close))
        .route("/v1/consents", post(consents::record))
        .route("/v1/consents/{id}", get(consents::show))
        .route("/v1/consents/{id}/changes", post(consents::change))
        .route("/v1/envelopes/{id}", put(envelopes::upload).get(envelopes::fetch))
        .route("/v1/envelopes/{id}/receipt", post(envelopes::receipt))
        .route("/v1/envelopes/{id}/status", get(envelopes::status))
        .route("/v1/inbox", get(envelopes::inbox))
        .route("/v1/log/key", get(transparency::key))
        .route("/v1/log/checkpoint", get(transparency::checkpoint))
        .route("/v1/log/checkpoints", get(transparency::checkpoints))
        .route("/v1/log/proof/consistency", get(transparency::consistency))
        .route("/v1/log/proof/inclusion", get(transparency::inclusion))
        .route("/v1/log/leaves", get(transparency::leaves))
        .route("/v1/log/entries", get(transparency::entries))
        .route("/v1/log/witnesses", get(transparency::witnesses).post(transparency::publish_witness))
        .route("/v1/log/cosignatures", post(transparency::cosign))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), request_context))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), drain::drain_unread))
        .with_state(state)
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id (empty outside a request).
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

fn new_request_id() -> String {
    let mut b = [0u8; 12];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    hex::encode(b)
}

/// Gives each request an id (header, error bodies, access log) and counts it for `/metrics`.
async fn request_context(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request,
    next: Next,
) -> Response {
    let id = new_request_id();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let method = req.method().clone();
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    state.metrics.request(method.as_str(), &route, response.status().as_u16(), started.elapsed());
    tracing::info!(request_id = %id, %method, %route, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    // Outside the routes' request_context, so logged here.
    tracing::info!(%method, path = uri.path(), status = 404, "request for no route");
    ApiError::new(Reason::NotFound, "there is no such route; see docs/api.md")
}

/// A route called with a method it does not take: `405` with an `Allow` header (added by axum) and
/// the usual error body.
async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        Reason::MethodNotAllowed,
        format!(
            "this route does not take {method}; the Allow header lists the methods it takes (docs/api.md)"
        ),
    )
}

/// A path parameter (an id), as text. Ids are checked by [`parse_id`] in the handler, which logs
/// the refusal; one that is not even UTF-8 once percent-decoded is refused here, as `malformed`
/// with the usual error body instead of axum's plain-text rejection.
#[derive(Debug)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) => Ok(PathId(id)),
            Err(e) => {
                let error = ApiError::new(
                    Reason::Malformed,
                    format!("the id in the path cannot be read: {}", e.body_text()),
                );
                tracing::info!(request_id = %request_id(), reason = %error.reason, message = %error.message, "refused");
                Err(error)
            }
        }
    }
}

/// A refusal: stable code, a sentence, and the access-log index of the refusal.
#[derive(Debug)]
pub struct ApiError {
    /// Why.
    pub reason: Reason,
    /// For people.
    pub message: String,
    /// The log entry that recorded the refusal.
    pub log_index: Option<u64>,
}

impl ApiError {
    /// A refusal not (yet) logged.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        ApiError { reason, message: message.into(), log_index: None }
    }

    /// The HTTP status for the reason (`docs/api.md`).
    pub fn status(&self) -> StatusCode {
        use Reason as R;
        match self.reason {
            R::Malformed | R::SignatureInvalid | R::CiphertextMismatch | R::TooManyRecipients => {
                StatusCode::BAD_REQUEST
            }
            R::NotFound => StatusCode::NOT_FOUND,
            R::Timeout => StatusCode::REQUEST_TIMEOUT,
            R::Conflict | R::CaseClosed => StatusCode::CONFLICT,
            R::Deleted => StatusCode::GONE,
            R::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            R::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            R::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            R::TooFewParties
            | R::RecorderNotAParty
            | R::AdultGrantorMissing
            | R::GuardianMissing
            | R::ChildViewNotHeard
            | R::ValidityInvalid
            | R::ValidityTooLong
            | R::NoKindsNamed
            | R::GrantorsInconsistent => StatusCode::UNPROCESSABLE_ENTITY,
            R::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => {
                ApiError::new(Reason::Conflict, "a different record with this id already exists")
            }
            StoreError::Full(detail) => {
                tracing::error!(request_id = %request_id(), error = %detail, "the database's disk is full");
                ApiError::new(
                    Reason::Unavailable,
                    "the relay's disk is full, so nothing was stored; the relay's operator must free space. \
                     Try again later",
                )
            }
            other => {
                tracing::error!(request_id = %request_id(), error = %other, "storage failure");
                ApiError::new(
                    Reason::Unavailable,
                    "the relay cannot reach its database right now; nothing was changed, try again in a minute",
                )
            }
        }
    }
}

impl From<samordna_core::consent::Denial> for ApiError {
    fn from(d: samordna_core::consent::Denial) -> Self {
        ApiError::new(d.reason, d.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let request_id = request_id();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.reason.as_str().to_owned(),
                message: self.message,
                request_id: (!request_id.is_empty()).then_some(request_id),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(idx) = self.log_index {
            response.headers_mut().insert(LOG_INDEX_HEADER, HeaderValue::from(idx));
        }
        response
    }
}

/// A successful answer: status, JSON body, and the index of the log entry it appended.
#[derive(Debug)]
pub struct Logged<T>(pub StatusCode, pub u64, pub T);

impl<T: Serialize> IntoResponse for Logged<T> {
    fn into_response(self) -> Response {
        let mut response = (self.0, axum::Json(self.2)).into_response();
        response.headers_mut().insert(LOG_INDEX_HEADER, HeaderValue::from(self.1));
        response
    }
}

/// The authenticated client: a verified federation certificate of a registered, enabled principal.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Its principal.
    pub principal: PrincipalId,
    /// The person or system.
    pub user: HsaId,
    /// The person's or system's name.
    pub name: String,
    /// SHA-256 of the certificate.
    pub fingerprint: String,
    /// The client's address.
    pub peer: Option<SocketAddr>,
}

impl Caller {
    /// A log entry for `action` by this caller in this request.
    pub fn entry(&self, action: Action, now: OffsetDateTime) -> Entry {
        Entry {
            at: Some(now),
            request_id: request_id(),
            actor_principal: Some(self.principal.as_str().to_owned()),
            actor_user: Some(self.user.as_str().to_owned()),
            cert_fingerprint: Some(self.fingerprint.clone()),
            action: Some(action),
            reason: Some(Reason::Ok),
            peer: self.peer.map(|p| p.to_string()),
            ..Entry::default()
        }
    }
}

/// Appends a refusal to the access log on its own and returns it as an [`ApiError`].
pub async fn deny(state: &AppState, mut entry: Entry, error: ApiError) -> ApiError {
    entry.reason = Some(error.reason);
    state.metrics.refusal(error.reason);
    tracing::info!(request_id = %entry.request_id, reason = %error.reason, message = %error.message, "refused");
    let logged = async {
        let mut tx = state.store.write().await?;
        let idx = crate::store::log::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(idx)
    }
    .await;
    match logged {
        Ok(idx) => ApiError { log_index: Some(idx), ..error },
        // Not even the refusal could be logged: say so rather than pretend it was.
        Err(e) => ApiError::from(e),
    }
}

/// The verified client certificate of the connection.
fn peer_certificate(parts: &Parts) -> Option<Vec<u8>> {
    parts.extensions.get::<Arc<TlsInfo>>().and_then(|tls| tls.peer_certificates.first().cloned())
}

impl FromRequestParts<State> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, ApiError> {
        let now = state.clock.now();
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let mut entry = Entry {
            at: Some(now),
            request_id: request_id(),
            action: Some(Action::Authenticate),
            peer: peer.map(|p| p.to_string()),
            ..Entry::default()
        };
        // The TLS layer only lets through certificates that chain to the root; without one there
        // is no connection at all, so this is a configuration fault (e.g. plain HTTP in a test).
        let Some(cert) = peer_certificate(parts) else {
            return Err(deny(
                state,
                entry,
                ApiError::new(Reason::NoClientCertificate, "present a federation client certificate"),
            )
            .await);
        };
        entry.cert_fingerprint = Some(fingerprint(&cert));
        let identity = match Identity::from_certificate(&cert) {
            Ok(id) => id,
            Err(e) => {
                let error = ApiError::new(
                    Reason::CertificateIdentity,
                    format!(
                        "your certificate does not name a principal and person as the federation requires: {e}"
                    ),
                );
                return Err(deny(state, entry, error).await);
            }
        };
        entry.actor_principal = Some(identity.principal.as_str().to_owned());
        entry.actor_user = Some(identity.hsa_id.as_str().to_owned());
        let registered = match state.store.read().await {
            Ok(mut conn) => principals::get(&mut conn, &identity.principal).await,
            Err(e) => Err(e),
        };
        match registered? {
            None => {
                let error = ApiError::new(
                    Reason::PrincipalUnknown,
                    format!(
                        "{} ({}) is not registered at this relay; ask the relay's operator to register it",
                        identity.organisation, identity.principal
                    ),
                );
                Err(deny(state, entry, error).await)
            }
            Some(p) if !p.enabled => {
                let error = ApiError::new(
                    Reason::PrincipalDisabled,
                    format!("{} ({}) is disabled at this relay; contact the relay's operator", p.name, p.id),
                );
                Err(deny(state, entry, error).await)
            }
            Some(_) => Ok(Caller {
                principal: identity.principal,
                user: identity.hsa_id,
                name: identity.name,
                fingerprint: entry.cert_fingerprint.unwrap_or_default(),
                peer,
            }),
        }
    }
}

/// How much of an over-long JSON body the relay reads before answering `too_large`, so that the
/// client (still sending) receives the answer instead of a reset connection.
const DRAIN_JSON_BEFORE_REFUSAL: usize = 4 * MAX_JSON_BYTES;

/// A JSON request body, not yet read; [`read_json`] checks and parses it. Extracting it never
/// fails, so the handler (which has the caller) decides, and logs, every refusal.
#[derive(Debug)]
pub struct JsonBody {
    content_type: Option<HeaderValue>,
    body: Body,
    /// How long the whole body may take to arrive.
    time_limit: Duration,
}

impl FromRequest<State> for JsonBody {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &State) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        Ok(JsonBody {
            content_type,
            body: req.into_body(),
            time_limit: Duration::from_secs(state.limits.idle_timeout_seconds),
        })
    }
}

/// Whether `value` is `essence` (e.g. `application/json`), with at most a `charset=utf-8` parameter.
pub fn is_media_type(value: Option<&HeaderValue>, essence: &str) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let type_matches = parts.next().is_some_and(|t| t.eq_ignore_ascii_case(essence));
    type_matches
        && parts.all(|p| {
            p.is_empty()
                || p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("charset")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
                })
        })
}

/// Reads and parses a JSON request body, refusing each fault with its own code:
/// `unsupported_media_type` (not `application/json`), `too_large` (over [`MAX_JSON_BYTES`]),
/// `timeout` (not all there within the idle timeout), `malformed` (empty, not UTF-8 JSON, nested
/// deeper than serde_json's limit of 128, unknown members, wrong types or values).
pub async fn read_json<T: DeserializeOwned>(body: JsonBody) -> Result<T, ApiError> {
    if !is_media_type(body.content_type.as_ref(), "application/json") {
        let given = body
            .content_type
            .as_ref()
            .map_or_else(|| "none".to_owned(), |v| format!("{:?}", String::from_utf8_lossy(v.as_bytes())));
        // The body is left unread: the drain layer reads it before the answer goes out.
        return Err(ApiError::new(
            Reason::UnsupportedMediaType,
            format!(
                "this request takes a JSON body with Content-Type: application/json (the request gave {given})"
            ),
        ));
    }
    let bytes = tokio::time::timeout(body.time_limit, read_limited(body.body)).await.map_err(|_| {
        ApiError::new(Reason::Timeout, "the request body did not arrive in time; send it again")
    })??;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(Reason::Malformed, "the request body is empty; it must be a JSON object"));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        use serde_json::error::Category;
        let message = match e.classify() {
            Category::Data => format!("the request body does not have the expected members and values: {e}"),
            Category::Syntax | Category::Eof | Category::Io => {
                format!("the request body is not valid UTF-8 JSON: {e}")
            }
        };
        ApiError::new(Reason::Malformed, message)
    })
}

/// The body, at most [`MAX_JSON_BYTES`]; a longer one is read on (up to a cap) and refused.
async fn read_limited(body: Body) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let too_large = || {
        ApiError::new(Reason::TooLarge, format!("a JSON request body may be at most {MAX_JSON_BYTES} bytes"))
    };
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| {
            ApiError::new(Reason::Malformed, format!("the request body could not be read: {e}"))
        })?;
        seen = seen.saturating_add(frame.len());
        if seen > DRAIN_JSON_BEFORE_REFUSAL {
            return Err(too_large());
        }
        if seen <= MAX_JSON_BYTES {
            bytes.extend_from_slice(&frame);
        }
    }
    if seen > MAX_JSON_BYTES { Err(too_large()) } else { Ok(bytes) }
}

/// Parses an id from the path, refusing a malformed one with the id's own explanation.
pub fn parse_id<T: std::str::FromStr<Err = samordna_core::IdError>>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|e: samordna_core::IdError| ApiError::new(Reason::Malformed, e.to_string()))
}
