//! Who may audit, and principals' witness keys.

use samordna_core::{HsaId, PrincipalId, signed::SignedStatement};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{StoreError, StoreResult, exec, micros, parse_stored};

/// What an auditor may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditScope {
    /// Entries where the auditor's principal acted or owns the objects.
    Principal,
    /// Every entry.
    Federation,
}

impl AuditScope {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditScope::Principal => "principal",
            AuditScope::Federation => "federation",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "principal" => Some(AuditScope::Principal),
            "federation" => Some(AuditScope::Federation),
            _ => None,
        }
    }
}

/// A registered auditor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auditor {
    /// The auditor's HSA-id.
    pub hsa_id: HsaId,
    /// Their principal.
    pub principal: PrincipalId,
    /// What they may see.
    pub scope: AuditScope,
}

fn auditor_from_row(r: &sqlx::any::AnyRow) -> StoreResult<Auditor> {
    let scope: String = r.try_get("scope")?;
    Ok(Auditor {
        hsa_id: parse_stored(&r.try_get::<String, _>("hsa_id")?, "HSA-id")?,
        principal: parse_stored(&r.try_get::<String, _>("principal_id")?, "principal id")?,
        scope: AuditScope::parse(&scope)
            .ok_or_else(|| StoreError::Corrupt(format!("audit scope {scope:?}")))?,
    })
}

/// Registers an auditor; [`StoreError::Conflict`] if the HSA-id is registered.
pub async fn add_auditor(conn: &mut AnyConnection, a: &Auditor, now: OffsetDateTime) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query("INSERT INTO auditors (hsa_id, principal_id, scope, added_at) VALUES ($1, $2, $3, $4)")
            .bind(a.hsa_id.as_str().to_owned())
            .bind(a.principal.as_str().to_owned())
            .bind(a.scope.as_str())
            .bind(micros(now)),
    )
    .await?;
    Ok(())
}

/// Removes an auditor; false if there was none.
pub async fn remove_auditor(conn: &mut AnyConnection, hsa_id: &HsaId) -> StoreResult<bool> {
    Ok(exec(conn, sqlx::query("DELETE FROM auditors WHERE hsa_id = $1").bind(hsa_id.as_str().to_owned()))
        .await?
        == 1)
}

/// The auditor with this HSA-id.
pub async fn auditor(conn: &mut AnyConnection, hsa_id: &HsaId) -> StoreResult<Option<Auditor>> {
    let row = sqlx::query("SELECT hsa_id, principal_id, scope FROM auditors WHERE hsa_id = $1")
        .bind(hsa_id.as_str().to_owned())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(auditor_from_row).transpose()
}

/// Every auditor.
pub async fn auditors(conn: &mut AnyConnection) -> StoreResult<Vec<Auditor>> {
    let rows = sqlx::query("SELECT hsa_id, principal_id, scope FROM auditors ORDER BY principal_id, hsa_id")
        .fetch_all(conn)
        .await?;
    rows.iter().map(auditor_from_row).collect()
}

/// A principal's witness key, as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessKey {
    /// The key's name (in cosignature lines).
    pub key_name: String,
    /// Whose witness.
    pub principal: PrincipalId,
    /// The verifier key text.
    pub vkey: String,
    /// The principal's signed statement vouching for it.
    pub attestation: SignedStatement,
}

/// Publishes a witness key; [`StoreError::Conflict`] if the name is taken.
pub async fn add_witness_key(
    conn: &mut AnyConnection,
    k: &WitnessKey,
    now: OffsetDateTime,
) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query(
            "INSERT INTO witness_keys (key_name, principal_id, vkey, statement, signature, published_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(k.key_name.clone())
        .bind(k.principal.as_str().to_owned())
        .bind(k.vkey.clone())
        .bind(k.attestation.statement.clone())
        .bind(k.attestation.signature.clone())
        .bind(micros(now)),
    )
    .await?;
    Ok(())
}

/// Every published witness key.
pub async fn witness_keys(conn: &mut AnyConnection) -> StoreResult<Vec<WitnessKey>> {
    let rows = sqlx::query(
        "SELECT key_name, principal_id, vkey, statement, signature FROM witness_keys ORDER BY key_name",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WitnessKey {
                key_name: r.try_get("key_name")?,
                principal: parse_stored(&r.try_get::<String, _>("principal_id")?, "principal id")?,
                vkey: r.try_get("vkey")?,
                attestation: SignedStatement {
                    statement: r.try_get("statement")?,
                    signature: r.try_get("signature")?,
                },
            })
        })
        .collect()
}
