//! Content-free notices to principals: withdrawals, blocks, documents deleted unfetched.

use samordna_core::{
    CaseId, ConsentId, EnvelopeId, PrincipalId,
    api::{Notice, NoticeKind},
};
use sqlx::{AnyConnection, Row};

use super::{StoreError, StoreResult, exec, from_micros, micros, parse_stored};

fn kind_str(k: NoticeKind) -> &'static str {
    match k {
        NoticeKind::ConsentWithdrawn => "consent_withdrawn",
        NoticeKind::ConsentBlocked => "consent_blocked",
        NoticeKind::EnvelopeDeletedUnfetched => "envelope_deleted_unfetched",
    }
}

fn parse_kind(s: &str) -> StoreResult<NoticeKind> {
    Ok(match s {
        "consent_withdrawn" => NoticeKind::ConsentWithdrawn,
        "consent_blocked" => NoticeKind::ConsentBlocked,
        "envelope_deleted_unfetched" => NoticeKind::EnvelopeDeletedUnfetched,
        other => return Err(StoreError::Corrupt(format!("notice kind {other:?}"))),
    })
}

/// Records a notice for `principal`.
pub async fn add(conn: &mut AnyConnection, principal: &PrincipalId, notice: &Notice) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query(
            "INSERT INTO notices (principal_id, kind, case_id, consent_id, envelope_id, by_principal, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(principal.as_str().to_owned())
        .bind(kind_str(notice.kind))
        .bind(notice.case_id.as_str().to_owned())
        .bind(notice.consent_id.as_ref().map(|c| c.as_str().to_owned()))
        .bind(notice.envelope_id.as_ref().map(|e| e.as_str().to_owned()))
        .bind(notice.by.as_ref().map(|p| p.as_str().to_owned()))
        .bind(micros(notice.at)),
    )
    .await?;
    Ok(())
}

/// A principal's notices, newest first, optionally for one case.
pub async fn list(
    conn: &mut AnyConnection,
    principal: &PrincipalId,
    case: Option<&CaseId>,
) -> StoreResult<Vec<Notice>> {
    let filter = if case.is_some() { "AND case_id = $2" } else { "" };
    let sql = format!(
        "SELECT kind, case_id, consent_id, envelope_id, by_principal, at FROM notices
         WHERE principal_id = $1 {filter} ORDER BY at DESC, id DESC LIMIT 500"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(principal.as_str().to_owned());
    if let Some(c) = case {
        q = q.bind(c.as_str().to_owned());
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(Notice {
                at: from_micros(r.try_get("at")?),
                kind: parse_kind(&r.try_get::<String, _>("kind")?)?,
                case_id: parse_stored::<CaseId>(&r.try_get::<String, _>("case_id")?, "case id")?,
                consent_id: r
                    .try_get::<Option<String>, _>("consent_id")?
                    .map(|c| parse_stored::<ConsentId>(&c, "consent id"))
                    .transpose()?,
                envelope_id: r
                    .try_get::<Option<String>, _>("envelope_id")?
                    .map(|e| parse_stored::<EnvelopeId>(&e, "envelope id"))
                    .transpose()?,
                by: r
                    .try_get::<Option<String>, _>("by_principal")?
                    .map(|p| parse_stored::<PrincipalId>(&p, "principal id"))
                    .transpose()?,
            })
        })
        .collect()
}
