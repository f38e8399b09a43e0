//! Cases and their consents.

use samordna_core::{
    CaseId, ConsentId, ContentKind, HsaId, PrincipalId,
    api::{CaseEvent, CaseEventKind, CaseStatus, ConsentChangeRecord},
    consent::{Change, ConsentChange, ConsentMetadata, SignedConsent},
    envelope::Party,
    signed::SignedStatement,
};
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{StoreError, StoreResult, exec, from_micros, micros, parse_stored};

/// A case as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// Its id.
    pub id: CaseId,
    /// Overall responsibility.
    pub lead: PrincipalId,
    /// Open or closed.
    pub status: CaseStatus,
    /// Who opened it.
    pub opened_by: Party,
    /// When.
    pub opened_at: OffsetDateTime,
}

/// Stores a new case; [`StoreError::Conflict`] if the id is taken.
pub async fn insert(conn: &mut AnyConnection, c: &Case) -> StoreResult<()> {
    exec(
        conn,
        sqlx::query(
            "INSERT INTO cases (id, lead_principal, status, opened_by_principal, opened_by_user, opened_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id.as_str().to_owned())
        .bind(c.lead.as_str().to_owned())
        .bind(status_str(c.status))
        .bind(c.opened_by.principal.as_str().to_owned())
        .bind(c.opened_by.user.as_str().to_owned())
        .bind(micros(c.opened_at)),
    )
    .await?;
    Ok(())
}

fn status_str(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::Open => "open",
        CaseStatus::Closed => "closed",
    }
}

/// One case.
pub async fn get(conn: &mut AnyConnection, id: &CaseId) -> StoreResult<Option<Case>> {
    let row = sqlx::query(
        "SELECT id, lead_principal, status, opened_by_principal, opened_by_user, opened_at FROM cases WHERE id = $1",
    )
    .bind(id.as_str().to_owned())
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let status: String = r.try_get("status")?;
        Ok(Case {
            id: parse_stored(&r.try_get::<String, _>("id")?, "case id")?,
            lead: parse_stored(&r.try_get::<String, _>("lead_principal")?, "principal id")?,
            status: match status.as_str() {
                "open" => CaseStatus::Open,
                "closed" => CaseStatus::Closed,
                other => return Err(StoreError::Corrupt(format!("case status {other:?}"))),
            },
            opened_by: Party {
                principal: parse_stored(&r.try_get::<String, _>("opened_by_principal")?, "principal id")?,
                user: parse_stored::<HsaId>(&r.try_get::<String, _>("opened_by_user")?, "HSA-id")?,
            },
            opened_at: from_micros(r.try_get("opened_at")?),
        })
    })
    .transpose()
}

/// The lead and every party of the case's consents, without repeats, lead first.
pub async fn participants(conn: &mut AnyConnection, case: &Case) -> StoreResult<Vec<PrincipalId>> {
    let rows = sqlx::query(
        "SELECT DISTINCT p.principal_id FROM consent_parties p JOIN consents c ON c.id = p.consent_id
         WHERE c.case_id = $1 ORDER BY p.principal_id",
    )
    .bind(case.id.as_str().to_owned())
    .fetch_all(conn)
    .await?;
    let mut out = vec![case.lead.clone()];
    for r in rows {
        let p: PrincipalId = parse_stored(&r.try_get::<String, _>("principal_id")?, "principal id")?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Whether `principal` may see the case: its lead, the principal that opened it, or a party of one
/// of its consents.
pub async fn may_see(conn: &mut AnyConnection, case: &Case, principal: &PrincipalId) -> StoreResult<bool> {
    if case.lead == *principal || case.opened_by.principal == *principal {
        return Ok(true);
    }
    let row = sqlx::query(
        "SELECT 1 AS one FROM consent_parties p JOIN consents c ON c.id = p.consent_id
         WHERE c.case_id = $1 AND p.principal_id = $2 LIMIT 1",
    )
    .bind(case.id.as_str().to_owned())
    .bind(principal.as_str().to_owned())
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// A consent as stored, with what has happened to it since.
#[derive(Clone, Debug)]
pub struct Consent {
    /// The signed record as recorded.
    pub record: SignedConsent,
    /// Its metadata (verified when recorded).
    pub metadata: ConsentMetadata,
    /// When the relay recorded it.
    pub recorded_at: OffsetDateTime,
    /// When it was withdrawn.
    pub withdrawn_at: Option<OffsetDateTime>,
    /// The consent that replaced it.
    pub superseded_by: Option<ConsentId>,
    /// Parties removed by blocks.
    pub blocked_parties: Vec<PrincipalId>,
    /// Kinds removed by blocks.
    pub blocked_kinds: Vec<ContentKind>,
    /// Withdrawals and blocks, oldest first.
    pub changes: Vec<ConsentChangeRecord>,
}

impl Consent {
    /// The state the consent rules decide on.
    pub fn state(&self) -> samordna_core::consent::ConsentState<'_> {
        samordna_core::consent::ConsentState {
            metadata: &self.metadata,
            withdrawn_at: self.withdrawn_at,
            blocked_parties: &self.blocked_parties,
            blocked_kinds: &self.blocked_kinds,
            superseded_by: self.superseded_by.as_ref(),
        }
    }
}

/// Stores a verified consent with its parties and kinds.
pub async fn insert_consent(
    conn: &mut AnyConnection,
    m: &ConsentMetadata,
    record: &SignedConsent,
    now: OffsetDateTime,
) -> StoreResult<()> {
    exec(
        &mut *conn,
        sqlx::query(
            "INSERT INTO consents (id, case_id, statement, signature, valid_from, valid_until,
                                   recorded_by_principal, recorded_by_user, recorded_at, supersedes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(m.consent_id.as_str().to_owned())
        .bind(m.case_id.as_str().to_owned())
        .bind(record.0.statement.clone())
        .bind(record.0.signature.clone())
        .bind(micros(m.valid_from))
        .bind(micros(m.valid_until))
        .bind(m.recorded_by.principal.as_str().to_owned())
        .bind(m.recorded_by.user.as_str().to_owned())
        .bind(micros(now))
        .bind(m.supersedes.as_ref().map(|s| s.as_str().to_owned())),
    )
    .await?;
    for p in &m.parties {
        exec(
            &mut *conn,
            sqlx::query("INSERT INTO consent_parties (consent_id, principal_id) VALUES ($1, $2)")
                .bind(m.consent_id.as_str().to_owned())
                .bind(p.as_str().to_owned()),
        )
        .await?;
    }
    for k in &m.kinds {
        exec(
            &mut *conn,
            sqlx::query("INSERT INTO consent_kinds (consent_id, kind) VALUES ($1, $2)")
                .bind(m.consent_id.as_str().to_owned())
                .bind(k.as_str()),
        )
        .await?;
    }
    Ok(())
}

const CONSENT_COLUMNS: &str = "id, statement, signature, recorded_at, withdrawn_at, superseded_by";

fn consent_from_row(r: &sqlx::any::AnyRow) -> StoreResult<Consent> {
    let record = SignedConsent(SignedStatement {
        statement: r.try_get("statement")?,
        signature: r.try_get("signature")?,
    });
    let metadata = record.unverified_metadata().map_err(|e| StoreError::Corrupt(format!("consent: {e}")))?;
    let superseded_by: Option<String> = r.try_get("superseded_by")?;
    Ok(Consent {
        metadata,
        record,
        recorded_at: from_micros(r.try_get("recorded_at")?),
        withdrawn_at: r.try_get::<Option<i64>, _>("withdrawn_at")?.map(from_micros),
        superseded_by: superseded_by.map(|s| parse_stored(&s, "consent id")).transpose()?,
        blocked_parties: Vec::new(),
        blocked_kinds: Vec::new(),
        changes: Vec::new(),
    })
}

/// Fills in a consent's withdrawals and blocks.
async fn with_changes(conn: &mut AnyConnection, mut c: Consent) -> StoreResult<Consent> {
    let rows = sqlx::query(
        "SELECT action, party, kind, statement, signature, at FROM consent_changes WHERE consent_id = $1 ORDER BY at, id",
    )
    .bind(c.metadata.consent_id.as_str().to_owned())
    .fetch_all(conn)
    .await?;
    for r in rows {
        let action: String = r.try_get("action")?;
        match action.as_str() {
            "block_party" => {
                let party: String = r.try_get::<Option<String>, _>("party")?.unwrap_or_default();
                c.blocked_parties.push(parse_stored(&party, "principal id")?);
            }
            "block_kind" => {
                let kind: String = r.try_get::<Option<String>, _>("kind")?.unwrap_or_default();
                c.blocked_kinds.push(parse_stored(&kind, "content kind")?);
            }
            _ => {}
        }
        c.changes.push(ConsentChangeRecord {
            record: SignedStatement {
                statement: r.try_get("statement")?,
                signature: r.try_get("signature")?,
            },
            recorded_at: from_micros(r.try_get("at")?),
        });
    }
    Ok(c)
}

/// One consent, with its withdrawals and blocks.
pub async fn get_consent(conn: &mut AnyConnection, id: &ConsentId) -> StoreResult<Option<Consent>> {
    let sql = format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = $1");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str().to_owned()).fetch_optional(&mut *conn).await?;
    match row.as_ref().map(consent_from_row).transpose()? {
        Some(c) => Ok(Some(with_changes(conn, c).await?)),
        None => Ok(None),
    }
}

/// The consent in force for what was agreed under `id`: `id` itself, or the newest consent that
/// (through amendments) replaced it. Fetches of documents sent under an amended consent follow the
/// amendment: a party the new consent drops can no longer fetch them.
pub async fn current_consent(conn: &mut AnyConnection, id: &ConsentId) -> StoreResult<Option<Consent>> {
    let mut current = match get_consent(&mut *conn, id).await? {
        Some(c) => c,
        None => return Ok(None),
    };
    // Amendment chains are short; the bound only guards against a cycle made outside the relay.
    for _ in 0..32 {
        let Some(next) = current.superseded_by.clone() else { return Ok(Some(current)) };
        match get_consent(&mut *conn, &next).await? {
            Some(c) => current = c,
            None => {
                return Err(StoreError::Corrupt(format!(
                    "consent {next} named as an amendment does not exist"
                )));
            }
        }
    }
    Err(StoreError::Corrupt(format!("the amendments of consent {id} form a cycle")))
}

/// A case's consents, oldest first, with their withdrawals and blocks.
pub async fn consents_of_case(conn: &mut AnyConnection, case: &CaseId) -> StoreResult<Vec<Consent>> {
    let sql = format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE case_id = $1 ORDER BY recorded_at, id");
    let rows =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(case.as_str().to_owned()).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(with_changes(&mut *conn, consent_from_row(r)?).await?);
    }
    Ok(out)
}

/// Marks `old` as replaced by `new`; false if `old` was already replaced.
pub async fn supersede(conn: &mut AnyConnection, old: &ConsentId, new: &ConsentId) -> StoreResult<bool> {
    let n = exec(
        conn,
        sqlx::query("UPDATE consents SET superseded_by = $1 WHERE id = $2 AND superseded_by IS NULL")
            .bind(new.as_str().to_owned())
            .bind(old.as_str().to_owned()),
    )
    .await?;
    Ok(n == 1)
}

/// Records a withdrawal or block (verified and allowed by the caller).
pub async fn insert_change(
    conn: &mut AnyConnection,
    change: &ConsentChange,
    record: &SignedStatement,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let (action, party, kind, reason) = match &change.change {
        Change::Withdraw { reason } => ("withdraw", None, None, Some(reason.as_str())),
        Change::BlockParty { party } => ("block_party", Some(party.as_str().to_owned()), None, None),
        Change::BlockKind { kind } => ("block_kind", None, Some(kind.as_str()), None),
    };
    exec(
        &mut *conn,
        sqlx::query(
            "INSERT INTO consent_changes (consent_id, action, party, kind, reason, statement, signature, by_principal, by_user, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(change.consent_id.as_str().to_owned())
        .bind(action)
        .bind(party)
        .bind(kind)
        .bind(reason)
        .bind(record.statement.clone())
        .bind(record.signature.clone())
        .bind(change.by.principal.as_str().to_owned())
        .bind(change.by.user.as_str().to_owned())
        .bind(micros(now)),
    )
    .await?;
    if matches!(change.change, Change::Withdraw { .. }) {
        exec(
            conn,
            sqlx::query(
                "UPDATE consents SET withdrawn_at = $1, withdrawn_by_principal = $2, withdrawn_by_user = $3
                 WHERE id = $4 AND withdrawn_at IS NULL",
            )
            .bind(micros(now))
            .bind(change.by.principal.as_str().to_owned())
            .bind(change.by.user.as_str().to_owned())
            .bind(change.consent_id.as_str().to_owned()),
        )
        .await?;
    }
    Ok(())
}

/// Closes a case; false if it was already closed.
pub async fn close(
    conn: &mut AnyConnection,
    case: &CaseId,
    by: &Party,
    now: OffsetDateTime,
) -> StoreResult<bool> {
    let n = exec(
        conn,
        sqlx::query(
            "UPDATE cases SET status = 'closed', closed_at = $1, closed_by_principal = $2, closed_by_user = $3
             WHERE id = $4 AND status = 'open'",
        )
        .bind(micros(now))
        .bind(by.principal.as_str().to_owned())
        .bind(by.user.as_str().to_owned())
        .bind(case.as_str().to_owned()),
    )
    .await?;
    Ok(n == 1)
}

/// When the case was closed.
pub async fn closed_at(conn: &mut AnyConnection, case: &CaseId) -> StoreResult<Option<OffsetDateTime>> {
    let row = sqlx::query("SELECT closed_at FROM cases WHERE id = $1")
        .bind(case.as_str().to_owned())
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<i64>, _>("closed_at")?.map(from_micros),
        None => None,
    })
}

/// A case's history, oldest first, from what the relay stores about it.
pub async fn history(
    conn: &mut AnyConnection,
    case: &Case,
    consents: &[Consent],
) -> StoreResult<Vec<CaseEvent>> {
    let event =
        |at, kind, by: Option<PrincipalId>, object: Option<String>| CaseEvent { at, kind, by, object };
    let mut events =
        vec![event(case.opened_at, CaseEventKind::Opened, Some(case.opened_by.principal.clone()), None)];
    for c in consents {
        let m = &c.metadata;
        let id = Some(m.consent_id.as_str().to_owned());
        events.push(event(
            c.recorded_at,
            CaseEventKind::ConsentRecorded,
            Some(m.recorded_by.principal.clone()),
            id.clone(),
        ));
        if let Some(old) = &m.supersedes {
            events.push(event(
                c.recorded_at,
                CaseEventKind::ConsentSuperseded,
                Some(m.recorded_by.principal.clone()),
                Some(old.as_str().to_owned()),
            ));
        }
        for ch in &c.changes {
            let Ok(change) = serde_json::from_slice::<ConsentChange>(&ch.record.statement) else { continue };
            let (kind, object) = match change.change {
                Change::Withdraw { .. } => {
                    (CaseEventKind::ConsentWithdrawn, m.consent_id.as_str().to_owned())
                }
                Change::BlockParty { party } => {
                    (CaseEventKind::PartyBlocked, format!("{} {party}", m.consent_id))
                }
                Change::BlockKind { kind } => {
                    (CaseEventKind::KindBlocked, format!("{} {kind}", m.consent_id))
                }
            };
            events.push(event(ch.recorded_at, kind, Some(change.by.principal), Some(object)));
        }
    }
    let rows =
        sqlx::query("SELECT id, sender_principal, stored_at, deleted_at FROM envelopes WHERE case_id = $1")
            .bind(case.id.as_str().to_owned())
            .fetch_all(&mut *conn)
            .await?;
    for r in rows {
        let id: String = r.try_get("id")?;
        let sender: PrincipalId = parse_stored(&r.try_get::<String, _>("sender_principal")?, "principal id")?;
        events.push(event(
            from_micros(r.try_get("stored_at")?),
            CaseEventKind::DocumentSent,
            Some(sender),
            Some(id.clone()),
        ));
        if let Some(at) = r.try_get::<Option<i64>, _>("deleted_at")? {
            events.push(event(from_micros(at), CaseEventKind::DocumentDeleted, None, Some(id)));
        }
    }
    let row = sqlx::query("SELECT closed_at, closed_by_principal FROM cases WHERE id = $1")
        .bind(case.id.as_str().to_owned())
        .fetch_one(conn)
        .await?;
    if let Some(at) = row.try_get::<Option<i64>, _>("closed_at")? {
        let by = row
            .try_get::<Option<String>, _>("closed_by_principal")?
            .map(|p| parse_stored(&p, "principal id"))
            .transpose()?;
        events.push(event(from_micros(at), CaseEventKind::Closed, by, None));
    }
    events.sort_by_key(|e| e.at);
    Ok(events)
}
