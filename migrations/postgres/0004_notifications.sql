-- Content-free notifications by e-mail to principals' functional mailboxes (PostgreSQL).
-- Kept in step with ../sqlite/0004_notifications.sql.

-- Events worth a notice, written in the same transaction as the event itself.
CREATE TABLE notification_events (
    id            BIGSERIAL PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    kind          TEXT NOT NULL,
    case_id       TEXT,
    at            BIGINT NOT NULL,
    mail_id       BIGINT                       -- the mail that told of it, once batched
);
CREATE INDEX notification_events_pending ON notification_events(mail_id, principal_id);

-- The durable outbox: one message per principal per burst of events, rendered once, with a
-- Message-ID fixed at creation so a resend is recognisably the same message.
CREATE TABLE mail_outbox (
    id               BIGSERIAL PRIMARY KEY,
    principal_id     TEXT NOT NULL REFERENCES principals(id),
    mailbox          TEXT NOT NULL,
    message_id       TEXT NOT NULL UNIQUE,
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_html        TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    sent_at          BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox(sent_at, next_attempt_at);
