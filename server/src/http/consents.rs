//! Consents: recorded with their signed metadata, shown to the case's participants.

use axum::{extract::State as StateExt, http::StatusCode};
use samordna_core::{
    ConsentId,
    api::{CaseStatus, ConsentView, Notice, NoticeKind},
    audit::{Action, Reason},
    consent::{
        Change, ConsentChange, ConsentRecordError, SignedConsent, check_change, check_record, rule_not_ended,
    },
    signed::{SignedStatement, StatementError},
};

use super::{
    ApiError, Caller, JsonBody, Logged, PathId, State,
    cases::{consent_view, visible_case},
    deny, parse_id, read_json,
};
use crate::store::{StoreError, cases, log, mail, notices, principals};

/// `POST /v1/consents`.
pub async fn record(
    StateExt(state): StateExt<State>,
    caller: Caller,
    body: JsonBody,
) -> Result<Logged<ConsentView>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::ConsentRecord, now);
    let record: SignedConsent = match read_json(body).await {
        Ok(r) => r,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let m = match record.verify(&state.trust(), now) {
        Ok(m) => m,
        Err(e) => {
            let reason = match e {
                ConsentRecordError::Signature(_) => Reason::SignatureInvalid,
                ConsentRecordError::RecorderMismatch { .. } => Reason::Forbidden,
                _ => Reason::Malformed,
            };
            return Err(deny(&state, entry, ApiError::new(reason, format!("{e}"))).await);
        }
    };
    entry.case_id = Some(m.case_id.as_str().to_owned());
    entry.consent_id = Some(m.consent_id.as_str().to_owned());
    if m.recorded_by.principal != caller.principal || m.recorded_by.user != caller.user {
        let error = ApiError::new(
            Reason::Forbidden,
            "a consent is posted by the person who recorded and signed it, from their own certificate",
        );
        return Err(deny(&state, entry, error).await);
    }
    if let Err(d) = check_record(&m, &state.policy).and_then(|()| rule_not_ended(&m, now)) {
        return Err(deny(&state, entry, d.into()).await);
    }

    let mut tx = state.store.write().await?;
    let refusal = async {
        let case = visible_case(&mut tx, &m.case_id, &caller).await?;
        if case.status == CaseStatus::Closed {
            return Err(ApiError::new(Reason::CaseClosed, format!("case {} is closed", case.id)));
        }
        for p in &m.parties {
            match principals::get(&mut tx, p).await? {
                Some(found) if found.enabled => {}
                _ => {
                    return Err(ApiError::new(
                        Reason::RecipientUnknown,
                        format!("the party {p} is not registered (or is disabled) at this relay"),
                    ));
                }
            }
        }
        if let Some(old) = &m.supersedes {
            let old_consent = match cases::get_consent(&mut tx, old).await? {
                Some(c) if c.metadata.case_id == m.case_id => c,
                _ => {
                    return Err(ApiError::new(
                        Reason::NotFound,
                        format!("consent {old} to amend is not in this case"),
                    ));
                }
            };
            if !old_consent.metadata.parties.contains(&caller.principal) {
                return Err(ApiError::new(
                    Reason::NotAParty,
                    format!("only a party to consent {old} may record an amendment of it"),
                ));
            }
            if let Some(at) = old_consent.withdrawn_at {
                return Err(ApiError::new(
                    Reason::ConsentWithdrawn,
                    format!(
                        "consent {old} was withdrawn on {}; record a new consent instead of amending it",
                        at.date()
                    ),
                ));
            }
            if let Some(newer) = old_consent.superseded_by.as_ref().filter(|n| **n != m.consent_id) {
                return Err(ApiError::new(
                    Reason::ConsentSuperseded,
                    format!("consent {old} has already been amended by {newer}; amend that one"),
                ));
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = refusal {
        drop(tx);
        return Err(deny(&state, entry, e).await);
    }
    let status = match cases::get_consent(&mut tx, &m.consent_id).await? {
        Some(existing) if existing.record == record => StatusCode::OK,
        Some(_) => {
            drop(tx);
            return Err(deny(
                &state,
                entry,
                ApiError::new(Reason::Conflict, "this consent id is already taken"),
            )
            .await);
        }
        None => {
            cases::insert_consent(&mut tx, &m, &record, now).await?;
            if let Some(old) = &m.supersedes {
                cases::supersede(&mut tx, old, &m.consent_id).await?;
            }
            StatusCode::CREATED
        }
    };
    let stored = cases::get_consent(&mut tx, &m.consent_id)
        .await?
        .ok_or_else(|| StoreError::Other("consent vanished inside its transaction".into()))?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(status, idx, consent_view(&stored, now)))
}

/// `GET /v1/consents/{id}`.
pub async fn show(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Logged<ConsentView>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::ConsentRead, now);
    entry.consent_id = Some(id.clone());
    let id: ConsentId = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let mut tx = state.store.write().await?;
    let found = async {
        let not_found = || {
            ApiError::new(Reason::NotFound, format!("there is no consent {id} in a case you take part in"))
        };
        let consent = cases::get_consent(&mut tx, &id).await?.ok_or_else(not_found)?;
        visible_case(&mut tx, &consent.metadata.case_id, &caller).await.map_err(|_| not_found())?;
        Ok::<_, ApiError>(consent)
    }
    .await;
    let consent = match found {
        Ok(c) => c,
        Err(e) => {
            drop(tx);
            return Err(deny(&state, entry, e).await);
        }
    };
    entry.case_id = Some(consent.metadata.case_id.as_str().to_owned());
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(StatusCode::OK, idx, consent_view(&consent, now)))
}

/// `POST /v1/consents/{id}/changes`: a party withdraws the consent, or blocks (*spärr*) a party or a
/// kind of information. Signed by the person recording it; enforced from this moment, for
/// documents already stored too; the other parties get a notice.
pub async fn change(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(id): PathId,
    body: JsonBody,
) -> Result<Logged<ConsentView>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::ConsentWithdraw, now);
    entry.consent_id = Some(id.clone());
    let decided = async {
        let id: ConsentId = parse_id(&id)?;
        let record: SignedStatement = read_json(body).await?;
        let (change, verified): (ConsentChange, _) =
            record.verify(&state.trust(), now).map_err(|e| match e {
                StatementError::Signature(_) => ApiError::new(Reason::SignatureInvalid, e.to_string()),
                _ => ApiError::new(Reason::Malformed, format!("not a consent change: {e}")),
            })?;
        if !matches!(change.change, Change::Withdraw { .. }) {
            entry.action = Some(Action::ConsentBlock);
        }
        let signer = &verified.signer.identity;
        if signer.principal != caller.principal
            || signer.hsa_id != caller.user
            || change.by.principal != caller.principal
            || change.by.user != caller.user
        {
            return Err(ApiError::new(
                Reason::Forbidden,
                "a withdrawal or block is posted by the person who signed it, from their own certificate",
            ));
        }
        if change.consent_id != id || change.version != 1 {
            return Err(ApiError::new(
                Reason::Malformed,
                format!("the signed change is not for consent {id}"),
            ));
        }
        Ok((change, record))
    }
    .await;
    let (change, record) = match decided {
        Ok(v) => v,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let mut tx = state.store.write().await?;
    let allowed = async {
        let not_found = || {
            ApiError::new(
                Reason::NotFound,
                format!("there is no consent {} in a case you take part in", change.consent_id),
            )
        };
        let consent = cases::get_consent(&mut tx, &change.consent_id).await?.ok_or_else(not_found)?;
        visible_case(&mut tx, &consent.metadata.case_id, &caller).await.map_err(|_| not_found())?;
        check_change(&consent.state(), &change.change, &caller.principal)?;
        Ok::<_, ApiError>(consent)
    }
    .await;
    let consent = match allowed {
        Ok(c) => c,
        Err(e) => {
            drop(tx);
            return Err(deny(&state, entry, e).await);
        }
    };
    entry.case_id = Some(consent.metadata.case_id.as_str().to_owned());
    entry.object = Some(match &change.change {
        Change::Withdraw { reason } => reason.as_str().to_owned(),
        Change::BlockParty { party } => party.as_str().to_owned(),
        Change::BlockKind { kind } => kind.as_str().to_owned(),
    });
    cases::insert_change(&mut tx, &change, &record, now).await?;
    let kind = match change.change {
        Change::Withdraw { .. } => NoticeKind::ConsentWithdrawn,
        _ => NoticeKind::ConsentBlocked,
    };
    for party in consent.metadata.parties.iter().filter(|p| **p != caller.principal) {
        let notice = Notice {
            at: now,
            kind,
            case_id: consent.metadata.case_id.clone(),
            consent_id: Some(consent.metadata.consent_id.clone()),
            envelope_id: None,
            by: Some(caller.principal.clone()),
        };
        notices::add(&mut tx, party, &notice).await?;
        let event = match kind {
            NoticeKind::ConsentWithdrawn => mail::EventKind::ConsentWithdrawn,
            _ => mail::EventKind::ConsentBlocked,
        };
        mail::queue(&mut tx, party, event, Some(&consent.metadata.case_id), now).await?;
    }
    let stored = cases::get_consent(&mut tx, &change.consent_id)
        .await?
        .ok_or_else(|| StoreError::Other("consent vanished inside its transaction".into()))?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(consent = %change.consent_id, change = ?change.change, "consent changed");
    Ok(Logged(StatusCode::CREATED, idx, consent_view(&stored, now)))
}
