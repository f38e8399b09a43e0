//! The access log for clients, witnesses and auditors (`docs/api.md`, "The access log").
//!
//! Checkpoints, proofs, leaf hashes and keys carry no content and are served to every registered
//! principal without a log entry of their own (every client checks the log's consistency after
//! its commands; logging those reads would double the log for nothing). Entries — the content of
//! the log — are served to auditors only, each query itself logged.

use std::collections::HashMap;

use axum::{
    extract::{Query, State as StateExt},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use samordna_core::{
    CaseId, HsaId, PrincipalId,
    api::{
        CheckpointList, ConsistencyProof, EntryList, EntryRecord, InclusionProof, Leaves, LogKey,
        PostCosignature, SignedCheckpoint, WitnessEntry, WitnessList,
    },
    audit::{Action, Reason},
    log::{merkle, open_checkpoint, witness},
    signed::SignedStatement,
};
use sqlx::Row;

use super::{ApiError, Caller, JsonBody, Logged, State, deny, read_json};
use crate::store::{
    StoreError, log,
    log::{Cosignature, DbHashReader},
    registry::{self, AuditScope, Auditor, WitnessKey},
};

fn param(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::new(Reason::Malformed, format!("{name} must be a whole number")))
        })
        .transpose()
}

fn required(q: &HashMap<String, String>, name: &str) -> Result<u64, ApiError> {
    param(q, name)?
        .ok_or_else(|| ApiError::new(Reason::Malformed, format!("the query parameter {name} is required")))
}

/// Only the named query parameters.
fn only(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::new(
            Reason::Malformed,
            format!("unknown query parameter {k:?}; accepted: {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// The note with every witness's cosignature line appended.
async fn with_cosignatures(
    conn: &mut sqlx::AnyConnection,
    size: u64,
    note: &str,
) -> Result<String, StoreError> {
    let mut out = note.to_owned();
    for c in log::cosignatures(conn, size).await? {
        out.push_str(&c.line);
    }
    Ok(out)
}

/// `GET /v1/log/key`.
pub async fn key(StateExt(state): StateExt<State>, _caller: Caller) -> axum::Json<LogKey> {
    axum::Json(LogKey { origin: state.log.origin.clone(), vkey: state.log.verifier_key().to_string() })
}

/// `GET /v1/log/checkpoint`: the newest signed checkpoint, as a signed note (`text/plain`).
pub async fn checkpoint(StateExt(state): StateExt<State>, _caller: Caller) -> Result<Response, ApiError> {
    let mut conn = state.store.read().await?;
    let Some(latest) = log::latest_checkpoint(&mut conn).await? else {
        return Err(ApiError::new(
            Reason::NotFound,
            "the relay has not signed a checkpoint yet; try again in a second",
        ));
    };
    let note = with_cosignatures(&mut conn, latest.size, &latest.note).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// `GET /v1/log/checkpoints?from=N`.
pub async fn checkpoints(
    StateExt(state): StateExt<State>,
    _caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<CheckpointList>, ApiError> {
    only(&q, &["from"])?;
    let from = param(&q, "from")?.unwrap_or(0);
    let mut conn = state.store.read().await?;
    let mut checkpoints = Vec::new();
    for c in log::checkpoints_from(&mut conn, from, 1000).await? {
        let note = with_cosignatures(&mut conn, c.size, &c.note).await?;
        checkpoints.push(SignedCheckpoint { size: c.size, note });
    }
    Ok(axum::Json(CheckpointList { checkpoints }))
}

/// `GET /v1/log/proof/consistency?old=&new=`.
pub async fn consistency(
    StateExt(state): StateExt<State>,
    _caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<ConsistencyProof>, ApiError> {
    only(&q, &["old", "new"])?;
    let (old, new) = (required(&q, "old")?, required(&q, "new")?);
    let mut conn = state.store.read().await?;
    let size = log::head(&mut conn).await?.size();
    if old > new || new > size {
        return Err(ApiError::new(Reason::Malformed, format!("need old <= new <= {size} (the log's size)")));
    }
    let reader = DbHashReader::new(&mut conn);
    let proof = merkle::consistency_proof(old, new, &reader)
        .map_err(|e| ApiError::new(Reason::Unavailable, format!("cannot build the proof: {e}")))?;
    Ok(axum::Json(ConsistencyProof { old, new, proof }))
}

/// `GET /v1/log/proof/inclusion?index=&size=`.
pub async fn inclusion(
    StateExt(state): StateExt<State>,
    _caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<InclusionProof>, ApiError> {
    only(&q, &["index", "size"])?;
    let (index, size) = (required(&q, "index")?, required(&q, "size")?);
    let mut conn = state.store.read().await?;
    let current = log::head(&mut conn).await?.size();
    if index >= size || size > current {
        return Err(ApiError::new(
            Reason::Malformed,
            format!("need index < size <= {current} (the log's size)"),
        ));
    }
    let reader = DbHashReader::new(&mut conn);
    let proof = merkle::inclusion_proof(index, size, &reader)
        .map_err(|e| ApiError::new(Reason::Unavailable, format!("cannot build the proof: {e}")))?;
    Ok(axum::Json(InclusionProof { index, size, proof }))
}

/// The caller as an auditor, or a logged refusal.
async fn auditor(state: &State, caller: &Caller, entry: &log::Entry) -> Result<Auditor, ApiError> {
    let mut conn = state.store.read().await?;
    match registry::auditor(&mut conn, &caller.user).await? {
        Some(a) if a.principal == caller.principal => Ok(a),
        _ => {
            drop(conn);
            let error = ApiError::new(
                Reason::Forbidden,
                format!(
                    "{} ({}) is not registered as an auditor at this relay; ask the relay's operator (samordna-relay auditor add)",
                    caller.name, caller.user
                ),
            );
            Err(deny(state, entry.clone(), error).await)
        }
    }
}

/// `GET /v1/log/leaves?start=&count=` (auditors).
pub async fn leaves(
    StateExt(state): StateExt<State>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Logged<Leaves>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::LogRead, now);
    entry.object = Some("leaves".into());
    auditor(&state, &caller, &entry).await?;
    let parsed = only(&q, &["start", "count"])
        .and_then(|()| Ok((param(&q, "start")?.unwrap_or(0), param(&q, "count")?.unwrap_or(10_000))));
    let (start, count) = match parsed {
        Ok(v) => v,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let count = u32::try_from(count.min(10_000)).unwrap_or(10_000);
    let mut tx = state.store.write().await?;
    let rows = log::raw_range(&mut tx, start, count).await?;
    let mut leaves = Vec::with_capacity(rows.len());
    for (idx, _, leaf) in rows {
        let leaf = leaf.ok_or_else(|| StoreError::Corrupt(format!("entry {idx} has no leaf hash")))?;
        leaves.push(leaf.try_into().map_err(|_| StoreError::Corrupt(format!("leaf hash {idx}")))?);
    }
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(StatusCode::OK, idx, Leaves { start, leaves }))
}

/// `GET /v1/log/entries?start=&count=&case=&principal=&user=&action=&decision=&from=&to=` (auditors).
///
/// An auditor of a principal sees the entries where the principal acted, or that concern a case it
/// takes part in (lead, opener, consent party) or an envelope it sent or received. A federation
/// auditor sees all. Times are microseconds since 1970 (UTC).
pub async fn entries(
    StateExt(state): StateExt<State>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Logged<EntryList>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::LogRead, now);
    entry.object = Some("entries".into());
    entry.case_id = q.get("case").cloned();
    let auditor = auditor(&state, &caller, &entry).await?;
    let query = match EntryQuery::parse(&q) {
        Ok(x) => x,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let mut tx = state.store.write().await?;
    let size = log::head(&mut tx).await?.size();
    let (sql, binds) = query.sql(&auditor, size);
    let mut qb = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        qb = match b {
            Bind::Int(i) => qb.bind(i),
            Bind::Text(t) => qb.bind(t),
        };
    }
    let rows = qb.fetch_all(&mut *tx).await.map_err(StoreError::from)?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let index = u64::try_from(r.try_get::<i64, _>("idx").map_err(StoreError::from)?).unwrap_or(0);
        let bytes: Option<Vec<u8>> = r.try_get("entry").map_err(StoreError::from)?;
        entries.push(EntryRecord {
            index,
            entry: bytes.ok_or_else(|| StoreError::Corrupt(format!("entry {index} has no bytes")))?,
        });
    }
    let next =
        (entries.len() as u64 == query.count).then(|| entries.last().map_or(query.start, |e| e.index + 1));
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(StatusCode::OK, idx, EntryList { entries, next, size }))
}

enum Bind {
    Int(i64),
    Text(String),
}

/// The filters of an entries query, parsed.
struct EntryQuery {
    start: u64,
    count: u64,
    case: Option<CaseId>,
    principal: Option<PrincipalId>,
    user: Option<HsaId>,
    action: Option<Action>,
    allowed: Option<bool>,
    from_us: Option<i64>,
    to_us: Option<i64>,
}

impl EntryQuery {
    fn parse(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        only(q, &["start", "count", "case", "principal", "user", "action", "decision", "from", "to"])?;
        let bad = |what: &str| ApiError::new(Reason::Malformed, format!("the {what} filter is not valid"));
        let int = |name: &str| -> Result<Option<i64>, ApiError> {
            q.get(name).map(|v| v.parse::<i64>().map_err(|_| bad(name))).transpose()
        };
        Ok(EntryQuery {
            start: param(q, "start")?.unwrap_or(0),
            count: param(q, "count")?.unwrap_or(1000).clamp(1, 5000),
            case: q.get("case").map(|c| c.parse().map_err(|_| bad("case"))).transpose()?,
            principal: q.get("principal").map(|c| c.parse().map_err(|_| bad("principal"))).transpose()?,
            user: q.get("user").map(|c| c.parse().map_err(|_| bad("user"))).transpose()?,
            action: q.get("action").map(|a| Action::parse(a).ok_or_else(|| bad("action"))).transpose()?,
            allowed: match q.get("decision").map(String::as_str) {
                None => None,
                Some("allow") => Some(true),
                Some("deny") => Some(false),
                Some(_) => return Err(bad("decision (allow or deny)")),
            },
            from_us: int("from")?,
            to_us: int("to")?,
        })
    }

    /// SQL with `$n` parameters numbered in order of first use (SQLite binds them by number).
    fn sql(&self, auditor: &Auditor, size: u64) -> (String, Vec<Bind>) {
        let mut binds = vec![
            Bind::Int(i64::try_from(self.start).unwrap_or(i64::MAX)),
            Bind::Int(i64::try_from(size).unwrap_or(i64::MAX)),
        ];
        let mut sql = String::from("SELECT idx, entry FROM access_log WHERE idx >= $1 AND idx < $2");
        let mut push = |clause: &str, b: Bind, sql: &mut String| {
            binds.push(b);
            sql.push_str(&clause.replace("$?", &format!("${}", binds.len())));
        };
        if auditor.scope == AuditScope::Principal {
            push(
                " AND (actor_principal = $?
                   OR case_id IN (SELECT id FROM cases WHERE lead_principal = $? OR opened_by_principal = $?
                                  UNION SELECT c.case_id FROM consents c JOIN consent_parties p ON p.consent_id = c.id
                                        WHERE p.principal_id = $?)
                   OR envelope_id IN (SELECT envelope_id FROM envelope_recipients WHERE principal_id = $?
                                      UNION SELECT id FROM envelopes WHERE sender_principal = $?))",
                Bind::Text(auditor.principal.as_str().to_owned()),
                &mut sql,
            );
        }
        if let Some(c) = &self.case {
            push(" AND case_id = $?", Bind::Text(c.as_str().to_owned()), &mut sql);
        }
        if let Some(p) = &self.principal {
            push(" AND actor_principal = $?", Bind::Text(p.as_str().to_owned()), &mut sql);
        }
        if let Some(u) = &self.user {
            push(" AND actor_user = $?", Bind::Text(u.as_str().to_owned()), &mut sql);
        }
        if let Some(a) = self.action {
            push(" AND action = $?", Bind::Int(i64::from(a.code())), &mut sql);
        }
        if let Some(allowed) = self.allowed {
            push(" AND decision = $?", Bind::Int(i64::from(allowed)), &mut sql);
        }
        if let Some(f) = self.from_us {
            push(" AND at >= $?", Bind::Int(f), &mut sql);
        }
        if let Some(t) = self.to_us {
            push(" AND at < $?", Bind::Int(t), &mut sql);
        }
        let count = i64::try_from(self.count).unwrap_or(1000);
        binds.push(Bind::Int(count));
        sql.push_str(&format!(" ORDER BY idx LIMIT ${}", binds.len()));
        (sql, binds)
    }
}

/// `GET /v1/log/witnesses`.
pub async fn witnesses(
    StateExt(state): StateExt<State>,
    _caller: Caller,
) -> Result<axum::Json<WitnessList>, ApiError> {
    let mut conn = state.store.read().await?;
    let witnesses = registry::witness_keys(&mut conn)
        .await?
        .into_iter()
        .map(|k| WitnessEntry {
            key_name: k.key_name,
            principal: k.principal,
            vkey: k.vkey,
            attestation: k.attestation,
        })
        .collect();
    Ok(axum::Json(WitnessList { witnesses }))
}

/// `POST /v1/log/witnesses`: a principal publishes its witness key.
pub async fn publish_witness(
    StateExt(state): StateExt<State>,
    caller: Caller,
    body: JsonBody,
) -> Result<Logged<WitnessEntry>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::WitnessKeyPublish, now);
    let decided = async {
        let attestation: SignedStatement = read_json(body).await?;
        let (statement, key) = witness::verify(&attestation, &state.trust(), now)
            .map_err(|e| ApiError::new(Reason::SignatureInvalid, e.to_string()))?;
        if statement.principal != caller.principal {
            return Err(ApiError::new(Reason::Forbidden, "a principal publishes only its own witness keys"));
        }
        Ok(WitnessKey {
            key_name: key.name().to_owned(),
            principal: statement.principal,
            vkey: key.to_string(),
            attestation,
        })
    }
    .await;
    let key = match decided {
        Ok(k) => k,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    entry.object = Some(caller.principal.as_str().to_owned());
    let mut tx = state.store.write().await?;
    let status = match registry::add_witness_key(&mut tx, &key, now).await {
        Ok(()) => StatusCode::CREATED,
        Err(StoreError::Conflict) => {
            let existing =
                registry::witness_keys(&mut tx).await?.into_iter().find(|k| k.key_name == key.key_name);
            if existing.is_some_and(|e| e.vkey == key.vkey && e.principal == key.principal) {
                StatusCode::OK
            } else {
                drop(tx);
                let e = ApiError::new(
                    Reason::Conflict,
                    format!("the witness key name {} is taken", key.key_name),
                );
                return Err(deny(&state, entry, e).await);
            }
        }
        Err(e) => return Err(e.into()),
    };
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(
        status,
        idx,
        WitnessEntry {
            key_name: key.key_name,
            principal: key.principal,
            vkey: key.vkey,
            attestation: key.attestation,
        },
    ))
}

/// `POST /v1/log/cosignatures`: a witness cosigns a checkpoint it verified.
pub async fn cosign(
    StateExt(state): StateExt<State>,
    caller: Caller,
    body: JsonBody,
) -> Result<Logged<SignedCheckpoint>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::LogCosign, now);
    // The body first: no database connection waits on a slow client.
    let post: PostCosignature = match read_json(body).await {
        Ok(p) => p,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let mut conn = state.store.read().await?;
    let decided = async {
        let checkpoint = log::checkpoint_at(&mut conn, post.size).await?.ok_or_else(|| {
            ApiError::new(Reason::NotFound, format!("there is no signed checkpoint of {} entries", post.size))
        })?;
        let keys: Vec<WitnessKey> = registry::witness_keys(&mut conn)
            .await?
            .into_iter()
            .filter(|k| k.principal == caller.principal)
            .collect();
        let line = if post.signature.ends_with('\n') {
            post.signature.clone()
        } else {
            format!("{}\n", post.signature)
        };
        let vkeys: Vec<_> =
            keys.iter().filter_map(|k| samordna_core::log::VerifierKey::parse(&k.vkey).ok()).collect();
        let note = format!("{}{line}", checkpoint.note);
        let opened =
            open_checkpoint(&note, &state.log.origin, &state.log.verifier_key(), &vkeys).map_err(|e| {
                ApiError::new(Reason::SignatureInvalid, format!("the cosignature does not verify: {e}"))
            })?;
        let Some(signed) = opened.cosignatures.first() else {
            return Err(ApiError::new(
                Reason::SignatureInvalid,
                format!("the cosignature is not by a published witness key of {}", caller.principal),
            ));
        };
        Ok::<_, ApiError>((
            post.size,
            Cosignature { key_name: signed.key.name().to_owned(), principal: caller.principal.clone(), line },
        ))
    }
    .await;
    drop(conn);
    let (size, cosignature) = match decided {
        Ok(v) => v,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    entry.object = Some(caller.principal.as_str().to_owned());
    let mut tx = state.store.write().await?;
    log::put_cosignature(&mut tx, size, &cosignature, now).await?;
    let checkpoint = log::checkpoint_at(&mut tx, size)
        .await?
        .ok_or_else(|| StoreError::Other("checkpoint vanished".into()))?;
    let note = with_cosignatures(&mut tx, size, &checkpoint.note).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(StatusCode::CREATED, idx, SignedCheckpoint { size, note }))
}
