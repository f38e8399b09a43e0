-- A counter that every change to what an upload's consent decision reads moves forward (SQLite only).
--
-- The relay decides whether an upload is allowed (recipients registered and enabled, their keys
-- published, the case open and visible, the consent in force for these parties and this kind)
-- on a read connection, outside the one-writer turn, and reads this counter first. Inside the write
-- transaction it reads the counter again: unchanged means no committed write touched any input of
-- the decision in between, so the decision stands; changed means it is made again inside the
-- transaction. The triggers run in the writing transaction itself, so no change can be committed
-- without moving the counter. PostgreSQL has no such table: there, concurrent writers decide inside
-- their own transactions (server/src/http/envelopes.rs).
CREATE TABLE policy_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO policy_version (id, version) VALUES (1, 0);

CREATE TRIGGER policy_version_principals_ins AFTER INSERT ON principals
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_principals_upd AFTER UPDATE ON principals
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_principals_del AFTER DELETE ON principals
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_encryption_keys_ins AFTER INSERT ON encryption_keys
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_encryption_keys_upd AFTER UPDATE ON encryption_keys
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_encryption_keys_del AFTER DELETE ON encryption_keys
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_cases_ins AFTER INSERT ON cases
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_cases_upd AFTER UPDATE ON cases
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_cases_del AFTER DELETE ON cases
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consents_ins AFTER INSERT ON consents
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consents_upd AFTER UPDATE ON consents
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consents_del AFTER DELETE ON consents
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consent_parties_ins AFTER INSERT ON consent_parties
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consent_parties_upd AFTER UPDATE ON consent_parties
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consent_parties_del AFTER DELETE ON consent_parties
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consent_changes_ins AFTER INSERT ON consent_changes
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consent_changes_upd AFTER UPDATE ON consent_changes
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER policy_version_consent_changes_del AFTER DELETE ON consent_changes
    BEGIN UPDATE policy_version SET version = version + 1 WHERE id = 1; END;
