-- Samordna relay, initial schema (SQLite). Kept in step with ../postgres/0001_initial.sql.
-- Times are microseconds since 1970-01-01 UTC. The relay stores ciphertext and the metadata it
-- needs to enforce consent: no document content, no names of people, no personal identity numbers.

CREATE TABLE principals (
    id          TEXT PRIMARY KEY,              -- SE + organisation number
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    mailbox     TEXT NOT NULL,                 -- functional mailbox for notifications
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);

CREATE TABLE encryption_keys (
    key_id        TEXT PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    statement     BLOB NOT NULL,               -- the signed key statement, as published
    signature     BLOB NOT NULL,
    not_before    INTEGER NOT NULL,
    not_after     INTEGER NOT NULL,
    published_by  TEXT NOT NULL,               -- HSA-id
    published_at  INTEGER NOT NULL
);
CREATE INDEX encryption_keys_by_principal ON encryption_keys(principal_id, not_after);

CREATE TABLE cases (
    id                   TEXT PRIMARY KEY,
    lead_principal       TEXT NOT NULL REFERENCES principals(id),
    status               TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_by_principal  TEXT NOT NULL REFERENCES principals(id),
    opened_by_user       TEXT NOT NULL,
    opened_at            INTEGER NOT NULL,
    closed_at            INTEGER
);

CREATE TABLE consents (
    id                     TEXT PRIMARY KEY,
    case_id                TEXT NOT NULL REFERENCES cases(id),
    statement              BLOB NOT NULL,      -- the signed metadata, as recorded
    signature              BLOB NOT NULL,
    valid_from             INTEGER NOT NULL,
    valid_until            INTEGER NOT NULL,
    recorded_by_principal  TEXT NOT NULL REFERENCES principals(id),
    recorded_by_user       TEXT NOT NULL,
    recorded_at            INTEGER NOT NULL,
    supersedes             TEXT REFERENCES consents(id),
    superseded_by          TEXT REFERENCES consents(id),
    withdrawn_at           INTEGER,
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
    created            INTEGER NOT NULL,
    header             BLOB NOT NULL,          -- the signed header bytes
    header_signature   BLOB NOT NULL,
    header_sha256      BLOB NOT NULL,
    ciphertext_length  INTEGER NOT NULL,
    ciphertext_sha256  BLOB NOT NULL,
    chunk_count        INTEGER NOT NULL,
    stored_at          INTEGER NOT NULL,
    deleted_at         INTEGER
);
CREATE INDEX envelopes_by_case ON envelopes(case_id);

CREATE TABLE envelope_recipients (
    envelope_id        TEXT NOT NULL REFERENCES envelopes(id),
    principal_id       TEXT NOT NULL REFERENCES principals(id),
    first_fetched_at   INTEGER,
    receipt_statement  BLOB,
    receipt_signature  BLOB,
    receipt_at         INTEGER,
    PRIMARY KEY (envelope_id, principal_id)
);
CREATE INDEX envelope_recipients_by_principal ON envelope_recipients(principal_id, envelope_id);

-- Ciphertext in chunks, so neither side holds a whole envelope in memory.
CREATE TABLE envelope_chunks (
    envelope_id  TEXT NOT NULL REFERENCES envelopes(id),
    seq          INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (envelope_id, seq)
);

-- The access log. `idx` is gap-free and in commit order: it is taken from log_head in the same
-- transaction as the action (the row lock serialises appenders, also across relay processes).
CREATE TABLE log_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  INTEGER NOT NULL
);
INSERT INTO log_head (id, size) VALUES (1, 0);

CREATE TABLE access_log (
    idx               INTEGER PRIMARY KEY,
    at                INTEGER NOT NULL,
    request_id        TEXT NOT NULL,
    actor_principal   TEXT,
    actor_user        TEXT,
    cert_fingerprint  TEXT,
    action            INTEGER NOT NULL,        -- core/src/audit.rs Action
    decision          INTEGER NOT NULL,        -- 1 allow, 0 deny
    reason            INTEGER NOT NULL,        -- core/src/audit.rs Reason
    case_id           TEXT,
    consent_id        TEXT,
    envelope_id       TEXT,
    object            TEXT,                    -- another object: a principal or key id
    peer              TEXT                     -- the client's address
);
CREATE INDEX access_log_by_case ON access_log(case_id);
