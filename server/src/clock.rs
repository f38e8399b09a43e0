//! The relay's clock. Every consent decision and certificate check uses it, so tests can move time.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock, optionally shifted by a fixed number of seconds.
///
/// The shift exists so that integration tests can run the real relay binary "in the future" (past
/// a consent's end date). It is set only through the `SAMORDNA_DANGEROUS_CLOCK_OFFSET_SECONDS`
/// environment variable, and the relay logs a warning at start-up when it is.
#[derive(Debug, Default)]
pub struct SystemClock {
    offset_seconds: AtomicI64,
}

impl SystemClock {
    /// The system clock shifted by `offset_seconds`.
    pub fn with_offset(offset_seconds: i64) -> Self {
        SystemClock { offset_seconds: AtomicI64::new(offset_seconds) }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_seconds.load(Ordering::Relaxed))
    }
}
