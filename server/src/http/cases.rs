//! SIP cases.

use axum::{extract::State as StateExt, http::StatusCode};
use samordna_core::{
    CaseId,
    api::{CaseStatus, CaseView, ConsentStatus, ConsentView, OpenCase},
    audit::{Action, Reason},
    envelope::Party,
};
use sqlx::AnyConnection;
use time::OffsetDateTime;

use super::{ApiError, Caller, JsonBody, Logged, PathId, State, deny, parse_id, read_json};
use crate::store::{
    StoreError, StoreResult,
    cases::{self, Case, Consent},
    log, principals,
};

/// A consent's state at `now`, as the API reports it.
pub fn consent_view(c: &Consent, now: OffsetDateTime) -> ConsentView {
    let m = &c.metadata;
    let status = if c.withdrawn_at.is_some_and(|t| t <= now) {
        ConsentStatus::Withdrawn
    } else if c.superseded_by.is_some() {
        ConsentStatus::Superseded
    } else if now < m.valid_from {
        ConsentStatus::NotYetValid
    } else if now >= m.valid_until {
        ConsentStatus::Expired
    } else {
        ConsentStatus::Active
    };
    ConsentView {
        record: c.record.clone(),
        status,
        recorded_at: c.recorded_at,
        withdrawn_at: c.withdrawn_at,
        blocked_parties: c.blocked_parties.clone(),
        blocked_kinds: c.blocked_kinds.clone(),
        superseded_by: c.superseded_by.clone(),
        changes: c.changes.clone(),
    }
}

/// The case as the API shows it.
pub async fn case_view(conn: &mut AnyConnection, case: &Case, now: OffsetDateTime) -> StoreResult<CaseView> {
    let participants = cases::participants(&mut *conn, case).await?;
    let consents = cases::consents_of_case(&mut *conn, &case.id).await?;
    let history = cases::history(&mut *conn, case, &consents).await?;
    Ok(CaseView {
        case_id: case.id.clone(),
        lead_principal: case.lead.clone(),
        status: case.status,
        opened_by: case.opened_by.clone(),
        opened_at: case.opened_at,
        participants,
        consents: consents.iter().map(|c| consent_view(c, now)).collect(),
        closed_at: cases::closed_at(&mut *conn, &case.id).await?,
        history,
    })
}

/// `POST /v1/cases`.
pub async fn open(
    StateExt(state): StateExt<State>,
    caller: Caller,
    body: JsonBody,
) -> Result<Logged<CaseView>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::CaseOpen, now);
    let req: OpenCase = match read_json(body).await {
        Ok(r) => r,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    entry.case_id = Some(req.case_id.as_str().to_owned());
    entry.object = Some(req.lead_principal.as_str().to_owned());
    let mut tx = state.store.write().await?;
    match principals::get(&mut tx, &req.lead_principal).await? {
        Some(p) if p.enabled => {}
        _ => {
            drop(tx);
            let error = ApiError::new(
                Reason::RecipientUnknown,
                format!(
                    "the lead principal {} is not registered (or is disabled) at this relay",
                    req.lead_principal
                ),
            );
            return Err(deny(&state, entry, error).await);
        }
    }
    let case = Case {
        id: req.case_id.clone(),
        lead: req.lead_principal.clone(),
        status: CaseStatus::Open,
        opened_by: Party { principal: caller.principal.clone(), user: caller.user.clone() },
        opened_at: now,
    };
    let (status, stored) = match cases::get(&mut tx, &case.id).await? {
        // A retry of the same request answers as the first did.
        Some(existing)
            if existing.lead == case.lead && existing.opened_by.principal == case.opened_by.principal =>
        {
            (StatusCode::OK, existing)
        }
        Some(_) => {
            drop(tx);
            return Err(deny(
                &state,
                entry,
                ApiError::new(Reason::Conflict, "this case id is already taken"),
            )
            .await);
        }
        None => {
            cases::insert(&mut tx, &case).await?;
            (StatusCode::CREATED, case)
        }
    };
    let view = case_view(&mut tx, &stored, now).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(status, idx, view))
}

/// Loads a case the caller may see; anything else is "not found", so that existence is not confirmed.
pub async fn visible_case(conn: &mut AnyConnection, id: &CaseId, caller: &Caller) -> Result<Case, ApiError> {
    match cases::get(&mut *conn, id).await? {
        Some(case) if cases::may_see(conn, &case, &caller.principal).await? => Ok(case),
        _ => Err(ApiError::new(
            Reason::NotFound,
            format!("there is no case {id} that {} takes part in", caller.principal),
        )),
    }
}

/// `GET /v1/cases/{id}`.
pub async fn show(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Logged<CaseView>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::CaseRead, now);
    entry.case_id = Some(id.clone());
    let id: CaseId = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let mut tx = state.store.write().await?;
    let case = match visible_case(&mut tx, &id, &caller).await {
        Ok(c) => c,
        Err(e) => {
            drop(tx);
            return Err(deny(&state, entry, e).await);
        }
    };
    let view = case_view(&mut tx, &case, now).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(StatusCode::OK, idx, view))
}

/// `POST /v1/cases/{id}/close`: the lead principal closes the case to new documents. Fetches of
/// documents already sent still follow consent.
pub async fn close(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Logged<CaseView>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::CaseClose, now);
    entry.case_id = Some(id.clone());
    let mut tx = state.store.write().await?;
    let decided = async {
        let id: CaseId = parse_id(&id)?;
        let case = visible_case(&mut tx, &id, &caller).await?;
        if case.lead != caller.principal {
            return Err(ApiError::new(
                Reason::Forbidden,
                format!("only the lead principal ({}) may close case {id}", case.lead),
            ));
        }
        Ok(case)
    }
    .await;
    let case = match decided {
        Ok(c) => c,
        Err(e) => {
            drop(tx);
            return Err(deny(&state, entry, e).await);
        }
    };
    let by = Party { principal: caller.principal.clone(), user: caller.user.clone() };
    // Closing a closed case again is answered like the first close (a retry).
    cases::close(&mut tx, &case.id, &by, now).await?;
    let case =
        cases::get(&mut tx, &case.id).await?.ok_or_else(|| StoreError::Other("case vanished".into()))?;
    let view = case_view(&mut tx, &case, now).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(StatusCode::OK, idx, view))
}
