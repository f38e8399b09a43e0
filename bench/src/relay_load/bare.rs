//! The transport baseline: a bare mTLS endpoint with the relay's own rustls configuration (same
//! certificate and key, same client-certificate verifier against the same root and CRL, TLS 1.3
//! and 1.2, ALPN h2 and http/1.1) and the same server stack (axum on axum-server and hyper). It
//! reads and discards an uploaded envelope and answers 201 with a small JSON body; it answers a
//! fetch with the envelope's bytes from memory. No database, no checks: what the machine can do
//! with TLS and HTTP alone. Its sockets have `TCP_NODELAY` set, so that small answers written in
//! more than one piece are not held back by Nagle's algorithm.

use std::{collections::HashMap, net::SocketAddr, path::Path, sync::Arc};

use anyhow::{Context, Result};
use axum::{
    Json, Router,
    body::Body,
    extract::{Path as UrlPath, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use futures_util::StreamExt;
use samordna_core::api::ENVELOPE_MEDIA_TYPE;
use samordna_relay::config::RelayConfig;

/// Name of the server's threads, so their CPU time can be told from the load generator's.
pub const THREAD_NAME: &str = "bare-mtls";

type Envelopes = Arc<HashMap<String, Bytes>>;

/// A running bare endpoint on its own runtime (its own threads, as the relay has its own process).
#[derive(Debug)]
pub struct BareServer {
    pub port: u16,
    handle: axum_server::Handle<SocketAddr>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl BareServer {
    /// Serves on a loopback port with the TLS settings of the relay configuration `config`;
    /// `GET` answers the envelopes in `envelopes` by id.
    pub async fn start(config: &Path, envelopes: HashMap<String, Bytes>) -> Result<BareServer> {
        let loaded = RelayConfig::load(config)?;
        let tls = samordna_relay::tls::server_config(&loaded.config.tls)?;
        let rustls = axum_server::tls_rustls::RustlsConfig::from_config(tls);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(THREAD_NAME)
            .build()
            .context("starting the bare endpoint's runtime")?;
        let handle = axum_server::Handle::new();
        let app = Router::new()
            .route("/healthz", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
            .route("/v1/envelopes/{id}", get(fetch).put(upload))
            .with_state(Arc::new(envelopes));
        // TCP_NODELAY: the limit of the transport, not of Nagle's algorithm meeting delayed ACKs.
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
        let server = axum_server::bind("127.0.0.1:0".parse()?).acceptor(acceptor).handle(handle.clone());
        let mut bare = BareServer { port: 0, handle: handle.clone(), runtime: Some(runtime) };
        let runtime = bare.runtime.as_ref().context("the bare endpoint's runtime")?;
        runtime.spawn(async move {
            if let Err(e) = server.serve(app.into_make_service()).await {
                eprintln!("samordna-bench: the bare mTLS endpoint stopped: {e}");
            }
        });
        let listening = handle.clone();
        let addr = runtime
            .spawn(async move { listening.listening().await })
            .await?
            .context("the bare mTLS endpoint did not start")?;
        bare.port = addr.port();
        Ok(bare)
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn upload(UrlPath(id): UrlPath<String>, body: Body) -> Response {
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => received += b.len() as u64,
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    }
    (StatusCode::CREATED, Json(serde_json::json!({ "envelope_id": id, "received": received })))
        .into_response()
}

async fn fetch(State(envelopes): State<Envelopes>, UrlPath(id): UrlPath<String>) -> Response {
    match envelopes.get(&id) {
        Some(bytes) => ([(header::CONTENT_TYPE, ENVELOPE_MEDIA_TYPE)], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
