//! Registered principals (*huvudmän*).

use samordna_core::{PrincipalId, api::PrincipalKind};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{StoreError, StoreResult, exec, from_micros, micros, parse_stored};

/// A principal as registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Its id.
    pub id: PrincipalId,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: PrincipalKind,
    /// Functional mailbox for notifications.
    pub mailbox: String,
    /// Whether it may send and receive.
    pub enabled: bool,
    /// When it was registered.
    pub created_at: OffsetDateTime,
}

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<Principal> {
    let kind: String = r.try_get("kind")?;
    Ok(Principal {
        id: parse_stored(&r.try_get::<String, _>("id")?, "principal id")?,
        name: r.try_get("name")?,
        kind: PrincipalKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("principal kind {kind:?}")))?,
        mailbox: r.try_get("mailbox")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        created_at: from_micros(r.try_get("created_at")?),
    })
}

/// Registers a principal; [`StoreError::Conflict`] if the id is taken.
pub async fn add(conn: &mut AnyConnection, p: &Principal) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query("INSERT INTO principals (id, name, kind, mailbox, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(p.id.as_str().to_owned())
            .bind(p.name.clone())
            .bind(p.kind.as_str())
            .bind(p.mailbox.clone())
            .bind(i64::from(p.enabled))
            .bind(micros(p.created_at)),
    )
    .await?;
    Ok(())
}

/// One principal.
pub async fn get(conn: &mut AnyConnection, id: &PrincipalId) -> StoreResult<Option<Principal>> {
    let row =
        sqlx::query("SELECT id, name, kind, mailbox, enabled, created_at FROM principals WHERE id = $1")
            .bind(id.as_str().to_owned())
            .fetch_optional(conn)
            .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every principal, by id.
pub async fn list(conn: &mut AnyConnection) -> StoreResult<Vec<Principal>> {
    let rows = sqlx::query("SELECT id, name, kind, mailbox, enabled, created_at FROM principals ORDER BY id")
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Enables or disables a principal; false if there is no such principal.
pub async fn set_enabled(conn: &mut AnyConnection, id: &PrincipalId, enabled: bool) -> StoreResult<bool> {
    let n = exec(
        conn,
        sqlx::query("UPDATE principals SET enabled = $1 WHERE id = $2")
            .bind(i64::from(enabled))
            .bind(id.as_str().to_owned()),
    )
    .await?;
    Ok(n == 1)
}
