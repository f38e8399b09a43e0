-- Consent lifecycle (withdrawal, blocks), case closing, and notices (PostgreSQL).
-- Kept in step with ../sqlite/0002_consent_lifecycle.sql.

-- Withdrawals and blocks, each as signed by the person who recorded it. Enforced from `at`.
CREATE TABLE consent_changes (
    id            BIGSERIAL PRIMARY KEY,
    consent_id    TEXT NOT NULL REFERENCES consents(id),
    action        TEXT NOT NULL CHECK (action IN ('withdraw', 'block_party', 'block_kind')),
    party         TEXT REFERENCES principals(id),
    kind          TEXT,
    reason        TEXT,
    statement     BYTEA NOT NULL,
    signature     BYTEA NOT NULL,
    by_principal  TEXT NOT NULL REFERENCES principals(id),
    by_user       TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX consent_changes_by_consent ON consent_changes(consent_id);

ALTER TABLE cases ADD COLUMN closed_by_principal TEXT;
ALTER TABLE cases ADD COLUMN closed_by_user TEXT;

-- Content-free notices to principals: shown in their inbox, and mailed to their functional mailbox.
CREATE TABLE notices (
    id            BIGSERIAL PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    kind          TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    consent_id    TEXT,
    envelope_id   TEXT,
    by_principal  TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX notices_by_principal ON notices(principal_id, at);
