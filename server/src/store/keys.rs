//! Published encryption keys (their attestations, verified before they are stored).

use samordna_core::{
    KeyId, PrincipalId, attestation::KeyAttestation, attestation::KeyStatement, signed::SignedStatement,
};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{StoreResult, exec, micros};

/// Stores a verified attestation. [`super::StoreError::Conflict`] if the key id is taken.
pub async fn insert(
    conn: &mut AnyConnection,
    statement: &KeyStatement,
    attestation: &KeyAttestation,
    published_by: &str,
    now: OffsetDateTime,
) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query(
            "INSERT INTO encryption_keys (key_id, principal_id, statement, signature, not_before, not_after, published_by, published_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(statement.key_id.as_str().to_owned())
        .bind(statement.principal.as_str().to_owned())
        .bind(attestation.0.statement.clone())
        .bind(attestation.0.signature.clone())
        .bind(micros(statement.not_before))
        .bind(micros(statement.not_after))
        .bind(published_by.to_owned())
        .bind(micros(now)),
    )
    .await?;
    Ok(())
}

fn attestation(r: &sqlx::any::AnyRow) -> StoreResult<KeyAttestation> {
    Ok(KeyAttestation(SignedStatement {
        statement: r.try_get("statement")?,
        signature: r.try_get("signature")?,
    }))
}

/// One key's attestation and owner.
pub async fn get(
    conn: &mut AnyConnection,
    key_id: &KeyId,
) -> StoreResult<Option<(PrincipalId, KeyAttestation)>> {
    let row = sqlx::query("SELECT principal_id, statement, signature FROM encryption_keys WHERE key_id = $1")
        .bind(key_id.as_str().to_owned())
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok((super::parse_stored(&r.try_get::<String, _>("principal_id")?, "principal id")?, attestation(&r)?))
    })
    .transpose()
}

/// A principal's keys whose validity has not ended at `now`, newest first.
pub async fn current(
    conn: &mut AnyConnection,
    principal: &PrincipalId,
    now: OffsetDateTime,
) -> StoreResult<Vec<KeyAttestation>> {
    let rows = sqlx::query(
        "SELECT statement, signature FROM encryption_keys WHERE principal_id = $1 AND not_after > $2
         ORDER BY not_before DESC, key_id",
    )
    .bind(principal.as_str().to_owned())
    .bind(micros(now))
    .fetch_all(conn)
    .await?;
    rows.iter().map(attestation).collect()
}
