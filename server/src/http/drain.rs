//! A refusal is heard, not reset.
//!
//! When a handler answers before it has read the request body (a wrong method, an unknown route, a
//! malformed id in the path, an unregistered principal, a refused upload), the unread bytes are
//! still in the socket. Closing a TCP connection with unread data makes the kernel send a reset,
//! which can overtake the answer: the client sees "connection reset" instead of the code and the
//! sentence. This layer keeps the request body where it can be reached after the handler is done
//! and reads what is left of it (at most [`DRAIN_CAP`] bytes, for at most the idle timeout) before
//! the answer goes out. Most answers find nothing left: the handler read the body, or there was
//! none. The retry of a stored envelope is answered `200` without reading it, so this is not only
//! for errors.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    middleware::Next,
    response::Response,
};
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};

use super::State;

/// The most of an unread body read before an error answer. A client sending more than this after
/// being refused is cut off (and may see a reset): the relay does not read gigabytes for nothing.
pub const DRAIN_CAP: usize = 4 * 1024 * 1024;

/// The request body, shared between the handler (which reads it as usual) and this layer.
#[derive(Clone)]
struct Kept(Arc<Mutex<Option<Body>>>);

impl HttpBody for Kept {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        // A poisoned lock means a panic while polling: end the body rather than panic again.
        let Ok(mut slot) = self.0.lock() else { return Poll::Ready(None) };
        match slot.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().map(|slot| slot.as_ref().is_none_or(HttpBody::is_end_stream)).unwrap_or(true)
    }

    fn size_hint(&self) -> SizeHint {
        self.0.lock().ok().and_then(|slot| slot.as_ref().map(HttpBody::size_hint)).unwrap_or_default()
    }
}

/// The layer: runs the request with its body kept, and drains what the handler left unread.
pub async fn drain_unread(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let kept = Kept(Arc::new(Mutex::new(Some(body))));
    let response = next.run(Request::from_parts(parts, Body::new(kept.clone()))).await;
    let rest = kept.0.lock().ok().and_then(|mut slot| slot.take());
    if let Some(rest) = rest.filter(|b| !b.is_end_stream()) {
        let idle = Duration::from_secs(state.limits.idle_timeout_seconds);
        let _ = tokio::time::timeout(idle, drain(rest)).await;
    }
    response
}

async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while seen <= DRAIN_CAP {
        match stream.next().await {
            Some(Ok(frame)) => seen = seen.saturating_add(frame.len()),
            _ => return,
        }
    }
}
