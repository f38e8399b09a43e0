-- A counter that every change to what an upload's consent decision reads moves forward, as on
-- SQLite (migrations/sqlite/0005_policy_version.sql, which says "SQLite only": it was written
-- before PostgreSQL had one).
--
-- The relay decides a small upload (recipients registered and enabled, their keys published, the
-- case open and visible, the consent in force for these parties and this kind) on a read
-- connection and notes this counter. The batch writer (server/src/store/batch.rs) then reads the
-- counter once per shared transaction with FOR SHARE: unchanged means no committed write touched an
-- input of the decision since, and while the share lock is held none can commit (each such write
-- moves the counter, so it waits for the batch); changed means the upload is decided again in a
-- transaction of its own. The triggers run in the writing transaction itself, so no change can be
-- committed without moving the counter.
CREATE TABLE policy_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO policy_version (id, version) VALUES (1, 0);

CREATE FUNCTION policy_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE policy_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER policy_version_principals AFTER INSERT OR UPDATE OR DELETE ON principals
    FOR EACH STATEMENT EXECUTE FUNCTION policy_version_bump();
CREATE TRIGGER policy_version_encryption_keys AFTER INSERT OR UPDATE OR DELETE ON encryption_keys
    FOR EACH STATEMENT EXECUTE FUNCTION policy_version_bump();
CREATE TRIGGER policy_version_cases AFTER INSERT OR UPDATE OR DELETE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION policy_version_bump();
CREATE TRIGGER policy_version_consents AFTER INSERT OR UPDATE OR DELETE ON consents
    FOR EACH STATEMENT EXECUTE FUNCTION policy_version_bump();
CREATE TRIGGER policy_version_consent_parties AFTER INSERT OR UPDATE OR DELETE ON consent_parties
    FOR EACH STATEMENT EXECUTE FUNCTION policy_version_bump();
CREATE TRIGGER policy_version_consent_changes AFTER INSERT OR UPDATE OR DELETE ON consent_changes
    FOR EACH STATEMENT EXECUTE FUNCTION policy_version_bump();
