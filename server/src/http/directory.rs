//! The principal directory and published encryption keys.

use axum::{extract::State as StateExt, http::StatusCode};
use samordna_core::{
    PrincipalId,
    api::{Directory, KeyList, KeyPublished, PrincipalEntry},
    attestation::{AttestationError, KeyAttestation},
    audit::{Action, Reason},
};

use super::{ApiError, Caller, JsonBody, Logged, PathId, State, deny, parse_id, read_json};
use crate::store::{keys, log, principals};

/// `GET /v1/principals`.
pub async fn list(StateExt(state): StateExt<State>, caller: Caller) -> Result<Logged<Directory>, ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.write().await?;
    let principals = principals::list(&mut tx).await?;
    let idx = log::append(&mut tx, &caller.entry(Action::DirectoryRead, now)).await?;
    tx.commit().await?;
    let principals = principals
        .into_iter()
        .map(|p| PrincipalEntry { id: p.id, name: p.name, kind: p.kind, enabled: p.enabled })
        .collect();
    Ok(Logged(StatusCode::OK, idx, Directory { principals }))
}

/// `GET /v1/principals/{id}/keys`.
pub async fn keys(
    StateExt(state): StateExt<State>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Logged<KeyList>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::KeyRead, now);
    entry.object = Some(id.clone());
    let principal: PrincipalId = match parse_id(&id) {
        Ok(p) => p,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let mut tx = state.store.write().await?;
    if principals::get(&mut tx, &principal).await?.is_none() {
        drop(tx);
        return Err(deny(
            &state,
            entry,
            ApiError::new(Reason::NotFound, format!("{principal} is not registered")),
        )
        .await);
    }
    let keys = keys::current(&mut tx, &principal, now).await?;
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(StatusCode::OK, idx, KeyList { principal, keys }))
}

/// `POST /v1/keys`: a principal publishes one of its own encryption keys.
pub async fn publish_key(
    StateExt(state): StateExt<State>,
    caller: Caller,
    body: JsonBody,
) -> Result<Logged<KeyPublished>, ApiError> {
    let now = state.clock.now();
    let mut entry = caller.entry(Action::KeyPublish, now);
    let attestation: KeyAttestation = match read_json(body).await {
        Ok(a) => a,
        Err(e) => return Err(deny(&state, entry, e).await),
    };
    let verified = match attestation.verify(&state.trust(), now) {
        Ok(v) => v,
        Err(e) => {
            let reason = match e {
                AttestationError::Signature(_) => Reason::SignatureInvalid,
                _ => Reason::Malformed,
            };
            return Err(deny(
                &state,
                entry,
                ApiError::new(reason, format!("the key attestation is not valid: {e}")),
            )
            .await);
        }
    };
    let statement = verified.statement;
    entry.object = Some(statement.key_id.as_str().to_owned());
    if statement.principal != caller.principal {
        let error = ApiError::new(
            Reason::Forbidden,
            format!(
                "{} may publish only its own keys, not keys of {}",
                caller.principal, statement.principal
            ),
        );
        return Err(deny(&state, entry, error).await);
    }
    let mut tx = state.store.write().await?;
    let status = match keys::get(&mut tx, &statement.key_id).await? {
        Some((_, existing)) if existing == attestation => StatusCode::OK,
        Some(_) => {
            drop(tx);
            let error =
                ApiError::new(Reason::Conflict, "this key is already published with another attestation");
            return Err(deny(&state, entry, error).await);
        }
        None => {
            keys::insert(&mut tx, &statement, &attestation, caller.user.as_str(), now).await?;
            StatusCode::CREATED
        }
    };
    let idx = log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Logged(status, idx, KeyPublished { key_id: statement.key_id }))
}
