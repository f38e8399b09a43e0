-- Samordna relay, initial schema (PostgreSQL). Kept in step with ../sqlite/0001_initial.sql.
-- Times are microseconds since 1970-01-01 UTC. The relay stores ciphertext and the metadata it
-- needs to enforce consent: no document content, no names of people, no personal identity numbers.

CREATE TABLE principals (
    id          TEXT PRIMARY KEY,              -- SE + organisation number
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    mailbox     TEXT NOT NULL,                 -- functional mailbox for notifications
    enabled     BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL
);

CREATE TABLE encryption_keys (
    key_id        TEXT PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    statement     BYTEA NOT NULL,               -- the signed key statement, as published
    signature     BYTEA NOT NULL,
    not_before    BIGINT NOT NULL,
    not_after     BIGINT NOT NULL,
    published_by  TEXT NOT NULL,               -- HSA-id
    published_at  BIGINT NOT NULL
);
CREATE INDEX encryption_keys_by_principal ON encryption_keys(principal_id, not_after);

CREATE TABLE cases (
    id                   TEXT PRIMARY KEY,
    lead_principal       TEXT NOT NULL REFERENCES principals(id),
    status               TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_by_principal  TEXT NOT NULL REFERENCES principals(id),
    opened_by_user       TEXT NOT NULL,
    opened_at            BIGINT NOT NULL,
    closed_at            BIGINT
);

CREATE TABLE consents (
    id                     TEXT PRIMARY KEY,
    case_id                TEXT NOT NULL REFERENCES cases(id),
    statement              BYTEA NOT NULL,      -- the signed metadata, as recorded
    signature              BYTEA NOT NULL,
    valid_from             BIGINT NOT NULL,
    valid_until            BIGINT NOT NULL,
    recorded_by_principal  TEXT NOT NULL REFERENCES principals(id),
    recorded_by_user       TEXT NOT NULL,
    recorded_at            BIGINT NOT NULL,
    supersedes             TEXT REFERENCES consents(id),
    superseded_by          TEXT REFERENCES consents(id),
    withdrawn_at           BIGINT,
    withdrawn_by_principal TEXT,
    withdrawn_by_user      TEXT
);
CREATE INDEX consents_by_case ON consents(case_id);

CREATE TABLE consent_parties (
    consent_id    TEXT NOT NULL REFERENCES consents(id),
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    PRIMARY KEY (consent_id, principal_id)
);
CREATE INDEX consent_parties_by_principal ON consent_parties(principal_id);

CREATE TABLE consent_kinds (
    consent_id  TEXT NOT NULL REFERENCES consents(id),
    kind        TEXT NOT NULL,
    PRIMARY KEY (consent_id, kind)
);

CREATE TABLE envelopes (
    id                 TEXT PRIMARY KEY,
    case_id            TEXT NOT NULL REFERENCES cases(id),
    consent_id         TEXT NOT NULL REFERENCES consents(id),
    sender_principal   TEXT NOT NULL REFERENCES principals(id),
    sender_user        TEXT NOT NULL,
    content_kind       TEXT NOT NULL,
    created            BIGINT NOT NULL,
    header             BYTEA NOT NULL,          -- the signed header bytes
    header_signature   BYTEA NOT NULL,
    header_sha256      BYTEA NOT NULL,
    ciphertext_length  BIGINT NOT NULL,
    ciphertext_sha256  BYTEA NOT NULL,
    chunk_count        BIGINT NOT NULL,
    stored_at          BIGINT NOT NULL,
    deleted_at         BIGINT
);
CREATE INDEX envelopes_by_case ON envelopes(case_id);

CREATE TABLE envelope_recipients (
    envelope_id        TEXT NOT NULL REFERENCES envelopes(id),
    principal_id       TEXT NOT NULL REFERENCES principals(id),
    first_fetched_at   BIGINT,
    receipt_statement  BYTEA,
    receipt_signature  BYTEA,
    receipt_at         BIGINT,
    PRIMARY KEY (envelope_id, principal_id)
);
CREATE INDEX envelope_recipients_by_principal ON envelope_recipients(principal_id, envelope_id);

-- Ciphertext in chunks, so neither side holds a whole envelope in memory.
CREATE TABLE envelope_chunks (
    envelope_id  TEXT NOT NULL REFERENCES envelopes(id),
    seq          BIGINT NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (envelope_id, seq)
);

-- The access log. `idx` is gap-free and in commit order: it is taken from log_head in the same
-- transaction as the action (the row lock serialises appenders, also across relay processes).
CREATE TABLE log_head (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    size  BIGINT NOT NULL
);
INSERT INTO log_head (id, size) VALUES (1, 0);

CREATE TABLE access_log (
    idx               BIGINT PRIMARY KEY,
    at                BIGINT NOT NULL,
    request_id        TEXT NOT NULL,
    actor_principal   TEXT,
    actor_user        TEXT,
    cert_fingerprint  TEXT,
    action            BIGINT NOT NULL,        -- core/src/audit.rs Action
    decision          BIGINT NOT NULL,        -- 1 allow, 0 deny
    reason            BIGINT NOT NULL,        -- core/src/audit.rs Reason
    case_id           TEXT,
    consent_id        TEXT,
    envelope_id       TEXT,
    object            TEXT,                    -- another object: a principal or key id
    peer              TEXT                     -- the client's address
);
CREATE INDEX access_log_by_case ON access_log(case_id);
