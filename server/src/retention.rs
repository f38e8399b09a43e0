//! Retention: the relay is store-and-forward, not an archive. Ciphertext is deleted once every
//! recipient has fetched it and `keep_after_fetch_days` have passed, or `delete_unfetched_after_days`
//! after it arrived if some recipient never fetched it (the sender is then told). Headers and
//! delivery records stay, so the sender's status and the access log keep their meaning; each
//! deletion is an access-log entry of its own.

use std::{sync::Arc, time::Duration};

use samordna_core::{
    api::{Notice, NoticeKind},
    audit::{Action, Reason},
};

use crate::{
    clock::Clock,
    config::Retention,
    store::{Store, StoreResult, envelopes, log, mail, notices},
};

/// Sweeps at start-up and then every `sweep_interval_seconds`.
pub async fn run(store: Store, clock: Arc<dyn Clock>, settings: Retention) {
    let mut tick = tokio::time::interval(Duration::from_secs(settings.sweep_interval_seconds));
    loop {
        tick.tick().await;
        match sweep(&store, clock.as_ref(), &settings).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "retention: deleted ciphertext"),
            Err(e) => tracing::error!(error = %e, "retention sweep failed; will try again"),
        }
    }
}

/// One sweep; returns how many envelopes' ciphertext was deleted.
pub async fn sweep(store: &Store, clock: &dyn Clock, settings: &Retention) -> StoreResult<usize> {
    let now = clock.now();
    let fetched_before = now - time::Duration::days(i64::from(settings.keep_after_fetch_days));
    let stored_before = now - time::Duration::days(i64::from(settings.delete_unfetched_after_days));
    let due = {
        let mut conn = store.read().await?;
        envelopes::due_for_deletion(&mut conn, fetched_before, stored_before).await?
    };
    let mut deleted = 0;
    for e in due {
        let mut tx = store.write().await?;
        if !envelopes::delete_ciphertext(&mut tx, &e.id, now).await? {
            continue; // another relay process got there first
        }
        if e.unfetched {
            let notice = Notice {
                at: now,
                kind: NoticeKind::EnvelopeDeletedUnfetched,
                case_id: e.case_id.clone(),
                consent_id: Some(e.consent_id.clone()),
                envelope_id: Some(e.id.clone()),
                by: None,
            };
            notices::add(&mut tx, &e.sender, &notice).await?;
            mail::queue(&mut tx, &e.sender, mail::EventKind::EnvelopeDeletedUnfetched, Some(&e.case_id), now)
                .await?;
        }
        let entry = log::Entry {
            at: Some(now),
            request_id: format!("retention-{}", e.id),
            action: Some(Action::EnvelopeDelete),
            reason: Some(Reason::Ok),
            case_id: Some(e.case_id.as_str().to_owned()),
            consent_id: Some(e.consent_id.as_str().to_owned()),
            envelope_id: Some(e.id.as_str().to_owned()),
            object: Some(if e.unfetched { "unfetched" } else { "fetched" }.to_owned()),
            ..log::Entry::default()
        };
        log::append(&mut tx, &entry).await?;
        tx.commit().await?;
        deleted += 1;
    }
    Ok(deleted)
}
