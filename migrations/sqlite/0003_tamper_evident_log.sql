-- The tamper-evident access log (SQLite): each entry's canonical bytes and leaf hash, stored
-- subtree hashes, signed checkpoints and witnesses' cosignatures, auditors and witness keys.
-- Kept in step with ../postgres/0003_tamper_evident_log.sql. docs/spec/access-log-v1.md.

-- The canonical encoding of the entry (what is hashed) and its leaf hash. Entries written before
-- this migration are filled in by the relay at start-up, in index order.
ALTER TABLE access_log ADD COLUMN entry BLOB;
ALTER TABLE access_log ADD COLUMN leaf_hash BLOB;

-- The right edge of the tree (the hashes of its complete subtrees, largest first), kept with the
-- size under the same row lock, so that appends need no other read.
ALTER TABLE log_head ADD COLUMN frontier BLOB;

-- Hashes of complete subtrees (level >= 1; a node at level L and index I covers leaves
-- I*2^L .. (I+1)*2^L - 1), so proofs take O(log n) reads.
CREATE TABLE log_nodes (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Every checkpoint the relay signed.
CREATE TABLE log_checkpoints (
    size       INTEGER PRIMARY KEY,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    signed_at  INTEGER NOT NULL
);

-- Cosignatures by witnesses (principals' clients), one signature line each.
CREATE TABLE log_cosignatures (
    size          INTEGER NOT NULL REFERENCES log_checkpoints(size),
    key_name      TEXT NOT NULL,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    line          TEXT NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (size, key_name)
);

-- Principals' witness keys, each attested by a certificate of the principal.
CREATE TABLE witness_keys (
    key_name      TEXT PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    vkey          TEXT NOT NULL,
    statement     BLOB NOT NULL,
    signature     BLOB NOT NULL,
    published_at  INTEGER NOT NULL
);

-- Compliance officers: an auditor of a principal sees that principal's entries; a federation
-- auditor sees all.
CREATE TABLE auditors (
    hsa_id        TEXT PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals(id),
    scope         TEXT NOT NULL CHECK (scope IN ('principal', 'federation')),
    added_at      INTEGER NOT NULL
);
