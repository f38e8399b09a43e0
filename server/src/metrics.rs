//! Counters for `/metrics`, in the Prometheus text format (no exporter crate needed for a handful).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use samordna_core::audit::Reason;

/// (method, route, status) → (count, seconds).
type RequestCounters = BTreeMap<(String, String, u16), (u64, f64)>;

/// The relay's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<RequestCounters>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    envelopes_stored: AtomicU64,
    tls_refusals: AtomicU64,
    mail_sent: AtomicU64,
    mail_failed: AtomicU64,
}

impl Metrics {
    /// One request finished.
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            let e = m.entry((method.to_owned(), route.to_owned(), status)).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += elapsed.as_secs_f64();
        }
    }

    /// One refusal, by reason.
    pub fn refusal(&self, reason: Reason) {
        if let Ok(mut m) = self.refusals.lock() {
            *m.entry(reason.as_str()).or_insert(0) += 1;
        }
    }

    /// A refused TLS handshake.
    pub fn tls_refusal(&self, reason: Reason) {
        self.tls_refusals.fetch_add(1, Ordering::Relaxed);
        self.refusal(reason);
    }

    /// Envelope bytes received.
    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Envelope bytes served.
    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// One envelope stored.
    pub fn envelope_stored(&self) {
        self.envelopes_stored.fetch_add(1, Ordering::Relaxed);
    }

    /// A notice mail was accepted by the SMTP server (or an attempt failed).
    pub fn mail(&self, sent: bool) {
        if sent { &self.mail_sent } else { &self.mail_failed }.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP samordna_requests_total HTTP requests by method, route and status.\n");
        s.push_str("# TYPE samordna_requests_total counter\n");
        let mut secs = String::new();
        secs.push_str(
            "# HELP samordna_request_seconds_total Time spent in requests by method, route and status.\n",
        );
        secs.push_str("# TYPE samordna_request_seconds_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), (n, t)) in m.iter() {
                let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
                let _ = writeln!(s, "samordna_requests_total{{{labels}}} {n}");
                let _ = writeln!(secs, "samordna_request_seconds_total{{{labels}}} {t:.6}");
            }
        }
        s.push_str(&secs);
        s.push_str("# HELP samordna_refusals_total Refused requests and handshakes by reason.\n");
        s.push_str("# TYPE samordna_refusals_total counter\n");
        if let Ok(m) = self.refusals.lock() {
            for (reason, n) in m.iter() {
                let _ = writeln!(s, "samordna_refusals_total{{reason=\"{reason}\"}} {n}");
            }
        }
        for (name, help, v) in [
            ("samordna_tls_refusals_total", "Refused TLS handshakes.", &self.tls_refusals),
            ("samordna_envelope_bytes_received_total", "Envelope bytes received.", &self.bytes_in),
            ("samordna_envelope_bytes_served_total", "Envelope bytes served.", &self.bytes_out),
            ("samordna_envelopes_stored_total", "Envelopes stored.", &self.envelopes_stored),
            (
                "samordna_notice_mails_sent_total",
                "Notice mails accepted by the SMTP server.",
                &self.mail_sent,
            ),
            (
                "samordna_notice_mail_failures_total",
                "Failed attempts to send notice mails.",
                &self.mail_failed,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        s
    }
}

/// The storage layer's counters in the Prometheus text exposition: batched commits and shared
/// `fsync` calls (crate::store::batch, crate::store::durable).
pub fn render_store(store: &crate::store::Store) -> String {
    let mut s = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
    };
    if let Some(b) = store.batcher() {
        let c = b.counts();
        counter(
            "samordna_store_batch_commits_total",
            "Shared write transactions committed by the batch writer.",
            c.commits.load(Ordering::Relaxed),
        );
        counter(
            "samordna_store_batch_jobs_total",
            "Requests' writes committed in shared transactions.",
            c.jobs.load(Ordering::Relaxed),
        );
        counter(
            "samordna_store_batch_rollbacks_total",
            "Shared transactions rolled back because one request's writes failed (the others were written again).",
            c.rollbacks.load(Ordering::Relaxed),
        );
    }
    counter(
        "samordna_store_group_syncs_total",
        "Shared fsync calls of SQLite group commit (0 on PostgreSQL).",
        store.group_syncs(),
    );
    s
}
