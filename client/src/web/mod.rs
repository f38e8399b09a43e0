//! `samordna web`: a local web application for staff and compliance officers, over the same
//! library calls as the `samordna` command (issue 8). Server-rendered HTML (maud); every page works
//! without JavaScript.
//!
//! Access: the command prints a one-time link with a random token (as Jupyter does). Opening it sets
//! an `HttpOnly`, `SameSite=Strict` cookie; every other request without that cookie gets 401. A POST
//! must also come from the application's own origin (`Origin`, else `Referer`), else 403. It listens
//! on loopback by default; any other address needs TLS (`--tls-cert`, `--tls-key`).
//!
//! Modules: [`layout`] (the page frame and small shared pieces), `staff` (inbox, cases, consent,
//! documents), `plan_pages` (the SIP plan form), `meeting` (invitations), `audit` (granskning).

mod audit;
mod charts;
mod layout;
mod meeting;
mod plan_pages;
mod staff;

use std::{
    fmt::Write as _,
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{FromRequest, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use maud::{Markup, html};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use crate::{
    Session,
    error::ClientError,
    profile::Profile,
    relay::{EntryFilter, RelayError},
};

pub(crate) use layout::{FlashKind, Nav};

/// The cookie that carries the access token.
const COOKIE: &str = "samordna_web";

/// How `samordna web` is started.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// The profile directory to act as.
    pub profile_dir: PathBuf,
    /// Where to listen; loopback unless TLS is configured.
    pub listen: SocketAddr,
    /// A PEM certificate chain for HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// Its PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Open the link in the desktop's browser (`xdg-open`).
    pub open_browser: bool,
}

struct Inner {
    session: Session,
    profile_dir: PathBuf,
    is_auditor: bool,
    token: String,
    tls: bool,
    listen: SocketAddr,
    /// Cases opened or looked at since start-up, newest first: the relay has no list of a
    /// principal's cases, so the cases page adds these to those the inbox and invitations name.
    seen_cases: std::sync::Mutex<Vec<samordna_core::CaseId>>,
    /// Documents sent from this app since start-up, newest first: the page a send redirects to
    /// shows the result from here, so reloading it never sends again.
    sent: std::sync::Mutex<Vec<crate::SendResult>>,
}

/// What every handler can reach: the session, the profile, whether it may audit.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("AppState").field("profile_dir", &self.0.profile_dir).finish_non_exhaustive()
    }
}

impl AppState {
    /// The profile's session with its relay.
    pub(crate) fn session(&self) -> &Session {
        &self.0.session
    }

    /// The profile directory.
    pub(crate) fn profile_dir(&self) -> &Path {
        &self.0.profile_dir
    }

    /// Whether the relay lets this profile read the access log (a registered auditor).
    pub(crate) fn is_auditor(&self) -> bool {
        self.0.is_auditor
    }

    /// Remembers a case opened or looked at, for the cases page.
    pub(crate) fn remember_case(&self, id: &samordna_core::CaseId) {
        let mut seen = self.0.seen_cases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|c| c != id);
        seen.insert(0, id.clone());
        seen.truncate(200);
    }

    /// The cases opened or looked at since start-up, newest first.
    pub(crate) fn seen_cases(&self) -> Vec<samordna_core::CaseId> {
        self.0.seen_cases.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Keeps the result of a send for the page that shows it.
    pub(crate) fn remember_sent(&self, sent: crate::SendResult) {
        let mut list = self.0.sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        list.retain(|s| s.envelope_id != sent.envelope_id);
        list.insert(0, sent);
        list.truncate(200);
    }

    /// The result of a send from this app, if it is still kept.
    pub(crate) fn sent(&self, id: &samordna_core::EnvelopeId) -> Option<crate::SendResult> {
        let list = self.0.sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        list.iter().find(|s| &s.envelope_id == id).cloned()
    }

    fn scheme(&self) -> &'static str {
        if self.0.tls { "https" } else { "http" }
    }
}

/// Starts the web application and serves until the process ends.
pub async fn serve(opts: WebOptions) -> Result<(), ClientError> {
    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        (None, None) => None,
        _ => {
            return Err(ClientError::usage(
                "usage",
                "give both --tls-cert and --tls-key for HTTPS, or neither for plain HTTP on loopback",
            ));
        }
    };
    if tls.is_none() && !opts.listen.ip().is_loopback() {
        return Err(ClientError::usage(
            "insecure_listen",
            format!(
                "refusing to serve on {} without TLS: anyone on the network could see the pages. Listen on \
                 127.0.0.1, or give --tls-cert and --tls-key",
                opts.listen
            ),
        ));
    }
    let profile = Profile::load(&opts.profile_dir)?;
    let session = Session::new(profile)?;
    let is_auditor = probe_auditor(&session).await;
    let token = random_token()?;

    let listener = std::net::TcpListener::bind(opts.listen)
        .map_err(ClientError::io("cannot listen on", opts.listen.to_string()))?;
    let listen =
        listener.local_addr().map_err(ClientError::io("cannot listen on", opts.listen.to_string()))?;
    let state = AppState(Arc::new(Inner {
        session,
        profile_dir: opts.profile_dir.clone(),
        is_auditor,
        token,
        tls: tls.is_some(),
        listen,
        seen_cases: std::sync::Mutex::new(Vec::new()),
        sent: std::sync::Mutex::new(Vec::new()),
    }));
    let host = if listen.ip().is_unspecified() {
        format!("127.0.0.1:{}", listen.port())
    } else {
        listen.to_string()
    };
    let link = format!("{}://{host}/?token={}", state.scheme(), state.0.token);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "Samordna web: öppna {link}").and_then(|()| stdout.flush());
    drop(stdout);
    if opts.open_browser {
        // A courtesy: the link is printed either way.
        let _ = std::process::Command::new("xdg-open").arg(&link).spawn();
    }

    let app = router(state);
    let io_err = |e: std::io::Error| ClientError::Internal(format!("the web server stopped: {e}"));
    match tls {
        Some(config) => {
            axum_server::from_tcp_rustls(listener, axum_server::tls_rustls::RustlsConfig::from_config(config))
                .map_err(io_err)?
                .serve(app.into_make_service())
                .await
                .map_err(io_err)
        }
        None => {
            listener.set_nonblocking(true).map_err(io_err)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(io_err)?;
            axum::serve(listener, app).await.map_err(io_err)
        }
    }
}

/// The application: every page module's routes behind the token, origin and header layers.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .merge(staff::routes())
        .merge(plan_pages::routes())
        .merge(meeting::routes())
        .merge(audit::routes())
        .route("/static/app.css", get(app_css))
        .route("/static/app.js", get(app_js))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), render_errors))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn app_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("static/app.css")).into_response()
}

async fn app_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("static/app.js"))
        .into_response()
}

async fn not_found() -> WebError {
    WebError::new(StatusCode::NOT_FOUND, "Sidan finns inte", "Det finns ingen sida på den adressen.")
}

/// Whether the relay lets this profile read its access log: the relay alone decides who is an
/// auditor, so ask it once at start-up (one small page; the answer, allow or refuse, is logged there).
async fn probe_auditor(session: &Session) -> bool {
    let filter = EntryFilter { count: Some(1), ..EntryFilter::default() };
    match session.relay().log_entries(&filter).await {
        Ok(_) => true,
        Err(RelayError::Refused { .. }) => false,
        Err(e) => {
            tracing::warn!("could not ask the relay whether this profile is an auditor: {e}");
            false
        }
    }
}

fn random_token() -> Result<String, ClientError> {
    let mut b = [0u8; 32];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ClientError::Internal("the system's random source failed".into()))?;
    Ok(hex::encode(b))
}

fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ClientError> {
    let bad = |path: &Path, what: &str| {
        ClientError::usage("tls", format!("{} is not a usable PEM {what}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|_| bad(cert, "certificate chain"))?;
    if chain.is_empty() {
        return Err(bad(cert, "certificate chain"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|_| bad(key, "private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Internal(format!("TLS cannot be set up: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| ClientError::usage("tls", format!("the TLS certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Compares without leaking where two tokens differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The token check, the one-time link, and the same-origin check for POSTs.
async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/static/") {
        return next.run(req).await;
    }
    let token = state.0.token.as_bytes();
    if req.method() == Method::GET {
        let from_link = req
            .uri()
            .query()
            .into_iter()
            .flat_map(|q| parse_pairs(q.as_bytes()))
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v);
        if let Some(given) = from_link {
            if same_secret(given.as_bytes(), token) {
                let secure = if state.0.tls { "; Secure" } else { "" };
                let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{secure}", state.0.token);
                let mut resp = Redirect::to(req.uri().path()).into_response();
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
                return resp;
            }
            return unauthorised(
                "Länken gäller inte. Använd länken som kommandot samordna web skrev ut senast.",
            );
        }
    }
    match cookie_token(req.headers()) {
        Some(given) if same_secret(given.as_bytes(), token) => {}
        _ => {
            return unauthorised(
                "Öppna länken som kommandot samordna web skrev ut i terminalen. Den ger den här webbläsaren \
                 tillgång till tjänsten.",
            );
        }
    }
    if req.method() != Method::GET
        && req.method() != Method::HEAD
        && !same_origin(&state, req.headers(), req.uri())
    {
        return (
            StatusCode::FORBIDDEN,
            layout::bare_page(
                "Förfrågan stoppades",
                html! {
                    p { "Formuläret skickades inte från Samordna web själv, så det togs inte emot. \
                         Gå tillbaka, ladda om sidan och försök igen." }
                },
            ),
        )
            .into_response();
    }
    next.run(req).await
}

fn unauthorised(text: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        layout::bare_page(
            "Inloggning krävs",
            html! {
                p { (text) }
                p { "Länken ser ut så här: " code { "http://127.0.0.1:8080/?token=…" } }
            },
        ),
    )
        .into_response()
}

/// Whether a POST comes from a page of this application: its `Origin` (or else `Sec-Fetch-Site`,
/// or else `Referer`) names `scheme://host` of the request, and that host is one this server
/// answers as.
fn same_origin(state: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    // HTTP/2 names the host in `:authority`, which arrives in the URI, not as `Host`.
    let host =
        headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let listen = state.0.listen;
    // On loopback, only the names of loopback (a page of another site that resolves to 127.0.0.1
    // is not us); elsewhere, TLS and the token carry the check.
    let port = listen.port();
    let known_host = !listen.ip().is_loopback()
        || [
            listen.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]
        .contains(&host.to_owned());
    if !known_host {
        return false;
    }
    let origin = format!("{}://{host}", state.scheme());
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::ORIGIN) == Some(origin.as_str()) {
        return true;
    }
    // Browsers send `Origin: null` for some same-origin requests (a page whose referrer policy is
    // `no-referrer`); their `Sec-Fetch-Site`, which no script can set, then tells.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    match text(header::ORIGIN) {
        Some(o) if o != "null" => false,
        _ => text(header::REFERER).is_some_and(|r| r == origin || r.starts_with(&format!("{origin}/"))),
    }
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // `same-origin` rather than `no-referrer`: nothing leaves for other sites, and the app's own
    // form posts keep their `Origin`, which the CSRF check needs (with `no-referrer` browsers send
    // `Origin: null`).
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Renders a [`WebError`] with the full page frame (the error itself has no state to do it).
async fn render_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if let Some(err) = resp.extensions_mut().remove::<WebError>() {
        let status = err.status;
        let body = layout::page(&state, &err.title, Nav::Other, err.body());
        return (status, body).into_response();
    }
    resp
}

/// A page that could not be shown: its status, a title and a message for people.
#[derive(Clone, Debug)]
pub(crate) struct WebError {
    pub(crate) status: StatusCode,
    pub(crate) title: String,
    pub(crate) message: String,
    /// The library's stable code, when there is one.
    pub(crate) code: Option<String>,
    /// More detail, e.g. the library's own message (English).
    pub(crate) detail: Option<String>,
}

impl WebError {
    pub(crate) fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        WebError { status, title: title.into(), message: message.into(), code: None, detail: None }
    }

    /// A 400 for a form value that cannot be used.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Uppgifterna kunde inte användas", message)
    }

    /// A 404.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Hittades inte", message)
    }

    fn body(&self) -> Markup {
        html! {
            h1 { (self.title) }
            (layout::flash(FlashKind::Error, &self.message))
            @if let Some(detail) = &self.detail {
                p { "Besked: " span lang="en" { (detail) } }
            }
            @if let Some(code) = &self.code {
                p { "Felkod: " code { (code) } }
            }
            p { a href="/inkorg" { "Till inkorgen" } }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        // The body is rendered by `render_errors`, which has the state for the page frame; a plain
        // fallback is kept for when the layer is not there (unit tests of single handlers).
        let fallback = layout::bare_page(&self.title, self.body());
        let mut resp = (self.status, fallback).into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

impl From<ClientError> for WebError {
    fn from(e: ClientError) -> Self {
        let (status, title, message) = match &e {
            ClientError::Usage { .. } => (
                StatusCode::BAD_REQUEST,
                "Uppgifterna kunde inte användas",
                "Något i uppgifterna kunde inte användas. Rätta det och försök igen.",
            ),
            ClientError::Policy { .. } => (
                StatusCode::FORBIDDEN,
                "Samtyckesreglerna tillåter inte detta",
                "Det du försökte göra stöds inte av något gällande samtycke, eller av reglerna för samtycke.",
            ),
            ClientError::Verification { .. } => (
                StatusCode::BAD_GATEWAY,
                "Kontrollen misslyckades",
                "En signatur, ett kuvert eller ett kvitto gick inte att verifiera. Lita inte på innehållet.",
            ),
            ClientError::Relay(r) => relay_status(r),
            ClientError::KeyNotPublished { source, .. } => relay_status(source),
            ClientError::Profile(_) | ClientError::KeyStore(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Profilen kan inte användas",
                "Profilen eller nyckellagret kunde inte användas. Kontakta er IT-avdelning.",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Något gick fel",
                "Något oväntat gick fel. Försök igen; om det inte hjälper, kontakta er IT-avdelning.",
            ),
        };
        WebError {
            status,
            title: title.into(),
            message: message.into(),
            code: Some(e.code()),
            detail: Some(e.to_string()),
        }
    }
}

fn relay_status(r: &RelayError) -> (StatusCode, &'static str, &'static str) {
    match r {
        RelayError::Refused { status, .. } => match *status {
            404 => (StatusCode::NOT_FOUND, "Hittades inte", "Reläet känner inte till det du bad om."),
            409 => (
                StatusCode::CONFLICT,
                "Det går inte just nu",
                "Det du bad om krockar med något som redan är registrerat.",
            ),
            401 | 403 => (StatusCode::FORBIDDEN, "Reläet sa nej", "Reläet tillät inte detta."),
            400..=499 => (StatusCode::BAD_REQUEST, "Reläet sa nej", "Reläet kunde inte ta emot uppgifterna."),
            _ => (
                StatusCode::BAD_GATEWAY,
                "Reläet kan inte svara just nu",
                "Reläet kunde inte utföra detta just nu. Försök igen om en stund.",
            ),
        },
        _ => (
            StatusCode::BAD_GATEWAY,
            "Reläet kan inte nås",
            "Reläet (förmedlingstjänsten) kunde inte nås. Kontrollera nätverket och försök igen om en stund.",
        ),
    }
}

/// The fields of a submitted form (`application/x-www-form-urlencoded`), in order; a field can
/// repeat (checkboxes).
#[derive(Clone, Debug, Default)]
pub(crate) struct FormData(pub(crate) Vec<(String, String)>);

impl FormData {
    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`, trimmed.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
    }

    /// Whether a checkbox `name` was ticked (any value present).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Parses a query string or form body.
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        FormData(parse_pairs(bytes))
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = WebError;

    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| WebError::bad_request("Formuläret kunde inte läsas (för stort eller avbrutet)."))?;
        Ok(FormData::parse(&bytes))
    }
}

/// `application/x-www-form-urlencoded` (WHATWG URL §5.1): `&`-separated `name=value`, `+` for space,
/// `%XX` escapes; invalid UTF-8 is replaced.
fn parse_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    bytes
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|b| *b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &p[..0]),
            };
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &[u8]) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (s.get(i + 1).copied().and_then(hex), s.get(i + 2).copied().and_then(hex)) {
                    (Some(h), Some(l)) => {
                        // Two hex digits make one byte; `h * 16 + l` is at most 255.
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a value for a URL query or path segment.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_as_browsers_encode() {
        let f = FormData::parse(b"party=SE1&party=SE2&name=Anna+%C3%85berg&empty=&flag&bad=%zz%4");
        assert_eq!(f.all("party"), ["SE1", "SE2"]);
        assert_eq!(f.get("name"), Some("Anna Åberg"));
        assert_eq!(f.get("empty"), None);
        assert!(f.has("flag"));
        assert_eq!(f.get("bad"), Some("%zz%4"));
        assert_eq!(url_encode("S-1 å"), "S-1%20%C3%A5");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }
}
