//! `/healthz` and `/metrics`: for any client with a valid federation certificate.

use axum::{extract::State as StateExt, http::StatusCode, response::IntoResponse};
use samordna_core::api::Health;

use super::State;

/// `GET /healthz`.
pub async fn healthz(StateExt(state): StateExt<State>) -> impl IntoResponse {
    let ok = state.store.ping().await;
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Health {
        status: if ok { "ok" } else { "database unavailable" }.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    (status, axum::Json(body))
}

/// `GET /metrics`.
pub async fn metrics(StateExt(state): StateExt<State>) -> impl IntoResponse {
    let mut text = state.metrics.render();
    text.push_str(&crate::metrics::render_store(&state.store));
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
