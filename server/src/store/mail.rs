//! The notification outbox: events worth a notice, and the mails that tell of them.

use samordna_core::{CaseId, PrincipalId};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{StoreError, StoreResult, exec, from_micros, micros, parse_stored};

/// What a principal is told about. Never the content, never a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// An envelope arrived for the principal.
    EnvelopeArrived,
    /// A consent the principal is a party to was withdrawn.
    ConsentWithdrawn,
    /// A block was put on such a consent.
    ConsentBlocked,
    /// An envelope the principal sent was deleted before every recipient fetched it.
    EnvelopeDeletedUnfetched,
}

impl EventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::EnvelopeArrived => "envelope_arrived",
            EventKind::ConsentWithdrawn => "consent_withdrawn",
            EventKind::ConsentBlocked => "consent_blocked",
            EventKind::EnvelopeDeletedUnfetched => "envelope_deleted_unfetched",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "envelope_arrived" => EventKind::EnvelopeArrived,
            "consent_withdrawn" => EventKind::ConsentWithdrawn,
            "consent_blocked" => EventKind::ConsentBlocked,
            "envelope_deleted_unfetched" => EventKind::EnvelopeDeletedUnfetched,
            other => return Err(StoreError::Corrupt(format!("notification kind {other:?}"))),
        })
    }
}

/// Queues an event for `principal`; call it in the transaction of the event itself.
pub async fn queue(
    conn: &mut AnyConnection,
    principal: &PrincipalId,
    kind: EventKind,
    case: Option<&CaseId>,
    at: OffsetDateTime,
) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query(
            "INSERT INTO notification_events (principal_id, kind, case_id, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(principal.as_str().to_owned())
        .bind(kind.as_str())
        .bind(case.map(|c| c.as_str().to_owned()))
        .bind(micros(at)),
    )
    .await?;
    Ok(())
}

/// Principals with events not yet mailed, the oldest of them at or before `before`.
pub async fn principals_due(
    conn: &mut AnyConnection,
    before: OffsetDateTime,
) -> StoreResult<Vec<PrincipalId>> {
    let rows = sqlx::query(
        "SELECT principal_id FROM notification_events WHERE mail_id IS NULL
         GROUP BY principal_id HAVING MIN(at) <= $1 ORDER BY principal_id",
    )
    .bind(micros(before))
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| parse_stored(&r.try_get::<String, _>("principal_id")?, "principal id")).collect()
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its row id.
    pub id: i64,
    /// What happened.
    pub kind: EventKind,
    /// In which case.
    pub case_id: Option<CaseId>,
    /// When.
    pub at: OffsetDateTime,
}

/// A principal's events not yet mailed, oldest first.
pub async fn pending_events(conn: &mut AnyConnection, principal: &PrincipalId) -> StoreResult<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, kind, case_id, at FROM notification_events WHERE principal_id = $1 AND mail_id IS NULL ORDER BY id",
    )
    .bind(principal.as_str().to_owned())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Event {
                id: r.try_get("id")?,
                kind: EventKind::parse(&r.try_get::<String, _>("kind")?)?,
                case_id: r
                    .try_get::<Option<String>, _>("case_id")?
                    .map(|c| parse_stored(&c, "case id"))
                    .transpose()?,
                at: from_micros(r.try_get("at")?),
            })
        })
        .collect()
}

/// A mail in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// Its row id.
    pub id: i64,
    /// To whom.
    pub principal: PrincipalId,
    /// The principal's functional mailbox.
    pub mailbox: String,
    /// Fixed at creation: a resend is recognisably the same message.
    pub message_id: String,
    /// Subject.
    pub subject: String,
    /// Plain-text part.
    pub body_text: String,
    /// HTML part.
    pub body_html: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When to try next.
    pub next_attempt_at: OffsetDateTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the SMTP server accepted it.
    pub sent_at: Option<OffsetDateTime>,
}

/// Puts a rendered mail in the outbox and marks the events up to `last_event` as told by it.
pub async fn create(conn: &mut AnyConnection, m: &Mail, last_event: i64) -> StoreResult<i64> {
    let id: i64 = sqlx::query(
        "INSERT INTO mail_outbox (principal_id, mailbox, message_id, subject, body_text, body_html, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(m.principal.as_str().to_owned())
    .bind(m.mailbox.clone())
    .bind(m.message_id.clone())
    .bind(m.subject.clone())
    .bind(m.body_text.clone())
    .bind(m.body_html.clone())
    .bind(micros(m.created_at))
    .bind(micros(m.next_attempt_at))
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?;
    exec(
        conn,
        sqlx::query("UPDATE notification_events SET mail_id = $1 WHERE principal_id = $2 AND mail_id IS NULL AND id <= $3")
            .bind(id)
            .bind(m.principal.as_str().to_owned())
            .bind(last_event),
    )
    .await?;
    Ok(id)
}

const MAIL_COLUMNS: &str = "id, principal_id, mailbox, message_id, subject, body_text, body_html, created_at, \
                            attempts, next_attempt_at, last_error, sent_at";

fn mail_from_row(r: &sqlx::any::AnyRow) -> StoreResult<Mail> {
    Ok(Mail {
        id: r.try_get("id")?,
        principal: parse_stored(&r.try_get::<String, _>("principal_id")?, "principal id")?,
        mailbox: r.try_get("mailbox")?,
        message_id: r.try_get("message_id")?,
        subject: r.try_get("subject")?,
        body_text: r.try_get("body_text")?,
        body_html: r.try_get("body_html")?,
        created_at: from_micros(r.try_get("created_at")?),
        attempts: r.try_get("attempts")?,
        next_attempt_at: from_micros(r.try_get("next_attempt_at")?),
        last_error: r.try_get("last_error")?,
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(from_micros),
    })
}

/// Unsent mails whose next attempt is due, oldest first.
pub async fn due(conn: &mut AnyConnection, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Mail>> {
    let sql = format!(
        "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await?;
    rows.iter().map(mail_from_row).collect()
}

/// Unsent mails first, then the most recently sent, at most `limit`.
pub async fn list(conn: &mut AnyConnection, limit: u32) -> StoreResult<Vec<Mail>> {
    let sql = format!(
        "SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY (sent_at IS NULL) DESC, COALESCE(sent_at, created_at) DESC, id DESC LIMIT $1"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(i64::from(limit)).fetch_all(conn).await?;
    rows.iter().map(mail_from_row).collect()
}

/// The SMTP server accepted the mail.
pub async fn mark_sent(conn: &mut AnyConnection, id: i64, now: OffsetDateTime) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query(
            "UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
        )
        .bind(micros(now))
        .bind(id),
    )
    .await?;
    Ok(())
}

/// An attempt failed; try again at `next`.
pub async fn mark_failed(
    conn: &mut AnyConnection,
    id: i64,
    next: OffsetDateTime,
    error: &str,
) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query("UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3")
            .bind(micros(next))
            .bind(error.chars().take(500).collect::<String>())
            .bind(id),
    )
    .await?;
    Ok(())
}
