//! Content-free notices to principals' functional mailboxes: "a document is waiting", "a consent
//! was withdrawn". Events are queued in the relay's database in the transaction of the event; this
//! worker gathers each principal's events for `batch_seconds` into one mail, renders it once with a
//! Message-ID fixed at that moment, and sends it, retrying with exponential backoff. A restart
//! loses nothing and does not send a mail twice (unless it stops between the SMTP server's
//! acceptance and the relay's note of it; the resend then carries the same Message-ID).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, CertificateStore, Tls, TlsParameters},
    },
};
use samordna_core::CaseId;

use crate::{
    clock::Clock,
    config::{SmtpSecurity, SmtpSettings},
    metrics::Metrics,
    store::{
        Store, StoreResult,
        mail::{self, Event, EventKind, Mail},
        principals,
    },
};

const BUILT_IN_TEXT: &str = include_str!("../templates/notice.txt");
const BUILT_IN_HTML: &str = include_str!("../templates/notice.html");

/// The notice texts: built in (Swedish), or the operator's own.
#[derive(Clone, Debug)]
pub struct Templates {
    text: String,
    html: String,
}

impl Templates {
    /// The operator's templates from `dir` (both files required), or the built-in ones.
    pub fn load(dir: Option<&std::path::Path>) -> Result<Self> {
        let Some(dir) = dir else {
            return Ok(Templates { text: BUILT_IN_TEXT.into(), html: BUILT_IN_HTML.into() });
        };
        let read = |f: &str| {
            let p = dir.join(f);
            std::fs::read_to_string(&p)
                .with_context(|| format!("smtp.templates: cannot read {}", p.display()))
        };
        let t = Templates { text: read("notice.txt")?, html: read("notice.html")? };
        for (name, body) in [("notice.txt", &t.text), ("notice.html", &t.html)] {
            if !body.contains("{{summary}}") {
                anyhow::bail!("smtp.templates: {name} must contain {{{{summary}}}}, where the notices go");
            }
        }
        Ok(t)
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The lines of a notice: counts and opaque case ids only.
pub fn summary_lines(events: &[Event]) -> Vec<String> {
    let mut by_kind: BTreeMap<EventKind, Vec<&Option<CaseId>>> = BTreeMap::new();
    for e in events {
        by_kind.entry(e.kind).or_default().push(&e.case_id);
    }
    let cases = |cs: &[&Option<CaseId>]| {
        let mut ids: Vec<&str> = cs.iter().filter_map(|c| c.as_ref().map(CaseId::as_str)).collect();
        ids.sort_unstable();
        ids.dedup();
        match ids.len() {
            0 => String::new(),
            1 => format!(" (ärende {})", ids[0]),
            _ => format!(" (ärendena {})", ids.join(", ")),
        }
    };
    by_kind
        .iter()
        .map(|(kind, cs)| {
            let n = cs.len();
            let c = cases(cs);
            match kind {
                EventKind::EnvelopeArrived if n == 1 => format!("En ny handling väntar i er inkorg{c}."),
                EventKind::EnvelopeArrived => format!("{n} nya handlingar väntar i er inkorg{c}."),
                EventKind::ConsentWithdrawn if n == 1 => format!(
                    "Ett samtycke har återkallats{c}. Det gäller från nu, också för handlingar som redan skickats."
                ),
                EventKind::ConsentWithdrawn => format!(
                    "{n} samtycken har återkallats{c}. Det gäller från nu, också för handlingar som redan skickats."
                ),
                EventKind::ConsentBlocked if n == 1 => format!("En spärr har lagts på ett samtycke{c}."),
                EventKind::ConsentBlocked => format!("{n} spärrar har lagts på samtycken{c}."),
                EventKind::EnvelopeDeletedUnfetched if n == 1 => {
                    format!("En handling som ni skickat raderades innan alla mottagare hämtat den{c}.")
                }
                EventKind::EnvelopeDeletedUnfetched => {
                    format!("{n} handlingar som ni skickat raderades innan alla mottagare hämtat dem{c}.")
                }
            }
        })
        .collect()
}

/// Subject, text and HTML of a notice to `organisation` about `events`.
pub fn render(templates: &Templates, organisation: &str, events: &[Event]) -> (String, String, String) {
    let lines = summary_lines(events);
    let subject = if events.iter().any(|e| e.kind == EventKind::EnvelopeArrived) {
        "Samordna: nya handlingar väntar".to_owned()
    } else {
        "Samordna: meddelande om samtycke eller handling".to_owned()
    };
    let text = templates
        .text
        .replace("{{organisation}}", organisation)
        .replace("{{summary}}", &lines.iter().map(|l| format!("- {l}")).collect::<Vec<_>>().join("\n"));
    let html = templates.html.replace("{{organisation}}", &escape_html(organisation)).replace(
        "{{summary}}",
        &lines.iter().map(|l| format!("<li>{}</li>", escape_html(l))).collect::<Vec<_>>().join("\n"),
    );
    (subject, text, html)
}

/// Sends notices for the relay.
pub struct Notifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    settings: SmtpSettings,
    templates: Templates,
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("host", &self.settings.host).finish_non_exhaustive()
    }
}

/// The SMTP transport for `settings`: STARTTLS required or implicit TLS, rustls on ring.
pub fn transport(settings: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    let mut tls = TlsParameters::builder(settings.host.clone());
    if let Some(ca) = &settings.ca {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read smtp.ca {}", ca.display()))?;
        tls = tls.certificate_store(CertificateStore::None).add_root_certificate(
            Certificate::from_pem(&pem).with_context(|| format!("smtp.ca {} is not PEM", ca.display()))?,
        );
    }
    let tls = tls.build_rustls().context("cannot set up TLS for SMTP")?;
    let (security, port) = match settings.security {
        SmtpSecurity::Starttls => (Tls::Required(tls), settings.port.unwrap_or(587)),
        SmtpSecurity::Tls => (Tls::Wrapper(tls), settings.port.unwrap_or(465)),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
        .port(port)
        .tls(security)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(file)) = (&settings.username, &settings.password_file) {
        let password = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read smtp.password_file {}", file.display()))?;
        builder = builder.credentials(Credentials::new(user.clone(), password.trim_end().to_owned()));
    }
    Ok(builder.build())
}

impl Notifier {
    /// A notifier for `settings`.
    pub fn new(
        settings: SmtpSettings,
        store: Store,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let from: Mailbox =
            settings.from.parse().with_context(|| format!("smtp.from {:?}", settings.from))?;
        Ok(Notifier {
            transport: transport(&settings)?,
            templates: Templates::load(settings.templates.as_deref())?,
            from,
            settings,
            store,
            clock,
            metrics,
        })
    }

    /// Batches and sends, once a second, for as long as the relay runs.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.batch().await {
                tracing::error!(error = %e, "cannot gather notices; will try again");
            }
            if let Err(e) = self.send_due().await {
                tracing::error!(error = %e, "cannot read the outbox; will try again");
            }
        }
    }

    /// Turns each principal's events, once the oldest is `batch_seconds` old, into one mail.
    pub async fn batch(&self) -> StoreResult<usize> {
        let now = self.clock.now();
        let before =
            now - time::Duration::seconds(i64::try_from(self.settings.batch_seconds).unwrap_or(i64::MAX));
        let due = {
            let mut conn = self.store.read().await?;
            mail::principals_due(&mut conn, before).await?
        };
        let mut made = 0;
        for principal in due {
            let mut tx = self.store.write().await?;
            let events = mail::pending_events(&mut tx, &principal).await?;
            let (Some(last), Some(p)) = (events.last(), principals::get(&mut tx, &principal).await?) else {
                continue;
            };
            let (subject, body_text, body_html) = render(&self.templates, &p.name, &events);
            let m = Mail {
                id: 0,
                principal: principal.clone(),
                mailbox: p.mailbox.clone(),
                message_id: message_id(&self.from),
                subject,
                body_text,
                body_html,
                created_at: now,
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                sent_at: None,
            };
            mail::create(&mut tx, &m, last.id).await?;
            tx.commit().await?;
            made += 1;
        }
        Ok(made)
    }

    /// Sends the mails that are due; a failure is retried later, with a growing wait.
    pub async fn send_due(&self) -> StoreResult<usize> {
        let now = self.clock.now();
        let due = {
            let mut conn = self.store.read().await?;
            mail::due(&mut conn, now, 20).await?
        };
        let mut sent = 0;
        for m in due {
            let result = match self.message(&m) {
                Ok(msg) => self.transport.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let mut tx = self.store.write().await?;
            match result {
                Ok(()) => {
                    mail::mark_sent(&mut tx, m.id, self.clock.now()).await?;
                    self.metrics.mail(true);
                    tracing::info!(mail = m.id, principal = %m.principal, "notice sent");
                    sent += 1;
                }
                Err(e) => {
                    let wait = backoff(&self.settings, m.attempts + 1);
                    mail::mark_failed(&mut tx, m.id, self.clock.now() + wait, &e).await?;
                    self.metrics.mail(false);
                    tracing::warn!(mail = m.id, principal = %m.principal, error = %e, retry_in_s = wait.whole_seconds(), "notice not sent; will retry");
                }
            }
            tx.commit().await?;
        }
        Ok(sent)
    }

    fn message(&self, m: &Mail) -> Result<Message> {
        let to: Mailbox = m
            .mailbox
            .parse()
            .with_context(|| format!("the mailbox {:?} of {} is not an address", m.mailbox, m.principal))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .message_id(Some(m.message_id.clone()))
            .date_now()
            .multipart(MultiPart::alternative_plain_html(m.body_text.clone(), m.body_html.clone()))
            .context("cannot build the message")
    }
}

/// The wait before attempt `attempt + 1`: base · 2^(attempt − 1), at most the maximum.
pub fn backoff(settings: &SmtpSettings, attempt: i64) -> time::Duration {
    let exp = u32::try_from((attempt - 1).clamp(0, 30)).unwrap_or(30);
    let secs = settings.retry_base_seconds.saturating_mul(1u64 << exp).min(settings.retry_max_seconds);
    time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// A globally unique Message-ID in the sender's domain.
fn message_id(from: &Mailbox) -> String {
    let mut b = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    format!("<{}.notice@{}>", hex::encode(b), from.email.domain())
}

/// What the outbox holds, for `samordna-relay outbox list`.
pub async fn list(store: &Store) -> StoreResult<Vec<Mail>> {
    let mut conn = store.read().await?;
    mail::list(&mut conn, 200).await
}
