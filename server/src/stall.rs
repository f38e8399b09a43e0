//! A write-stall timeout for client connections.
//!
//! hyper bounds how long a client may take to send its request headers, and the upload handler
//! bounds a quiet request body, but nothing bounds a client that stops *reading*: a download to a
//! client that never reads waits forever on a full TCP send buffer, keeping its task, its memory and
//! a connection slot. [`StallAcceptor`] wraps every accepted stream so that a write (or flush, or
//! shutdown) that makes no progress for `limit` fails with [`io::ErrorKind::TimedOut`]; hyper then
//! closes the connection. Any progress starts the clock again, so a slow but live client is not cut
//! off by this (the request time limit is the handlers' business).

use std::{
    fmt,
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum_server::accept::Accept;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Wraps the streams of an inner acceptor in [`Stall`].
#[derive(Clone, Debug)]
pub struct StallAcceptor<A> {
    inner: A,
    limit: Duration,
}

impl<A> StallAcceptor<A> {
    /// A write that makes no progress for `limit` fails the connection.
    pub fn new(inner: A, limit: Duration) -> Self {
        StallAcceptor { inner, limit }
    }
}

impl<A, I, S> Accept<I, S> for StallAcceptor<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Stall<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.inner.accept(stream, service);
        let limit = self.limit;
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((Stall::new(stream, limit), service))
        })
    }
}

/// A stream whose writes fail when they make no progress for a while.
pub struct Stall<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write is pending; dropped when one makes progress.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> fmt::Debug for Stall<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stall").field("limit", &self.limit).finish_non_exhaustive()
    }
}

impl<S> Stall<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, limit: Duration) -> Self {
        Stall { inner, limit, timer: None }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Passes on a ready result (and disarms the timer); on `Pending`, arms the timer if needed
    /// and fails once it has run out.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.timer = None;
                        tracing::info!(
                            limit_seconds = limit.as_secs(),
                            "a client stopped reading; its connection is closed"
                        );
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client has not read what the relay sent for too long",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Stall<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stall<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_reader_that_stops_fails_the_writer_and_a_reading_one_does_not() {
        // A small pipe: the writer blocks as soon as the reader stops.
        let (a, _b) = tokio::io::duplex(1024);
        let mut w = Stall::new(a, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = loop {
            if let Err(e) = w.write_all(&[0u8; 4096]).await {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));

        // A slow reader that keeps reading is not cut off, though the whole takes longer than the limit.
        let (a, c) = tokio::io::duplex(1024);
        let mut w = Stall::new(a, Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut c = c;
            let mut total = 0;
            let mut buf = [0u8; 512];
            while total < 16 * 1024 {
                tokio::time::sleep(Duration::from_millis(30)).await;
                total += c.read(&mut buf).await.unwrap();
            }
            total
        });
        w.write_all(&[1u8; 16 * 1024]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 16 * 1024);
    }
}
