//! The storage baseline: the rows the relay writes for one accepted upload — the envelope and its
//! recipients, its ciphertext chunks, the mail-queue event per recipient principal and the
//! access-log entry — written with the relay's own store functions into the same kind of database
//! with the same settings (`Store::connect_with`: SQLite in WAL mode, or PostgreSQL), one
//! transaction and one durable commit per upload, from N concurrent writers. No TLS, no HTTP, no
//! signature checks, no consent reads: the rate at which the database alone can make uploads
//! durable. On SQLite it runs twice: with one `fsync` per commit inside SQLite (`synchronous =
//! FULL`, [`Durability::PerCommit`], the baseline of the aims), and with the relay's own group
//! commit ([`Durability::Group`]), which shows how much of the relay's time is the database's.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use samordna_core::{
    EnvelopeId,
    audit::{Action, Reason},
};
use samordna_relay::store::{
    Durability, Store, StoreError,
    envelopes::{self, CHUNK_BYTES},
    log, mail,
};
use time::OffsetDateTime;

use super::load::{Phase, Sealed};

/// Who the access-log entries name: the sender as the relay would see them.
#[derive(Clone, Debug)]
pub struct Actor {
    pub principal: String,
    pub user: String,
    pub cert_fingerprint: String,
}

fn random16() -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
    Ok(b)
}

/// Writes the rows of each envelope in `pool` (under a fresh id, since the relay already stored
/// these) with `writers` concurrent tasks, one durable transaction per envelope, until the pool
/// is done or `limit` has passed.
pub async fn run(
    url: &str,
    durability: Durability,
    pool: &Arc<Vec<Sealed>>,
    actor: &Actor,
    writers: usize,
    limit: Duration,
) -> Result<Phase> {
    let store = Store::connect_with(url, durability).await.with_context(|| format!("cannot open {url}"))?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (store, pool, next, actor) = (store.clone(), pool.clone(), next.clone(), actor.clone());
            tokio::spawn(async move {
                let mut phase = Phase::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(env) = pool.get(i) else { break };
                    if start.elapsed() >= limit {
                        break;
                    }
                    let t = Instant::now();
                    match write_one(&store, env, &actor).await {
                        Ok(()) => {
                            phase.latencies.push(t.elapsed());
                            phase.ok += 1;
                            phase.bytes += env.bytes.len() as u64;
                        }
                        Err(e) => {
                            phase.errors += 1;
                            phase.first_error.get_or_insert(format!("{e:#}"));
                        }
                    }
                }
                phase
            })
        })
        .collect();
    let mut total = Phase::default();
    for t in tasks {
        let p = t.await.context("a writer task failed")?;
        total.ok += p.ok;
        total.errors += p.errors;
        total.bytes += p.bytes;
        total.latencies.extend(p.latencies);
        if total.first_error.is_none() {
            total.first_error = p.first_error;
        }
    }
    total.elapsed = start.elapsed();
    total.timed_out = next.load(Ordering::Relaxed) < pool.len();
    total.latencies.sort();
    store.close().await;
    Ok(total)
}

/// The transaction `upload_inner` commits for an accepted envelope, minus its reads.
async fn write_one(store: &Store, env: &Sealed, actor: &Actor) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    let mut header = env.header.header.clone();
    header.envelope_id =
        EnvelopeId::from_random_bytes(random16().map_err(|e| StoreError::Other(e.to_string()))?);
    let ciphertext = env.ciphertext();
    let chunk_count = (ciphertext.len() as u64).div_ceil(CHUNK_BYTES as u64).max(1);
    let entry = log::Entry {
        at: Some(now),
        // As the relay makes them: 12 random bytes in hex.
        request_id: hex::encode(&random16().map_err(|e| StoreError::Other(e.to_string()))?[..12]),
        actor_principal: Some(actor.principal.clone()),
        actor_user: Some(actor.user.clone()),
        cert_fingerprint: Some(actor.cert_fingerprint.clone()),
        action: Some(Action::EnvelopeUpload),
        reason: Some(Reason::Ok),
        case_id: Some(header.case_id.as_str().to_owned()),
        consent_id: Some(header.consent_id.as_str().to_owned()),
        envelope_id: Some(header.envelope_id.as_str().to_owned()),
        object: Some(header.content_kind.as_str().to_owned()),
        peer: Some("127.0.0.1:50000".into()),
    };

    let mut tx = store.write().await?;
    envelopes::insert(
        &mut tx,
        &header,
        &env.header.header_bytes,
        &env.header.signature,
        &env.header.header_sha256(),
        chunk_count,
        now,
    )
    .await?;
    if ciphertext.is_empty() {
        envelopes::insert_chunk(&mut tx, &header.envelope_id, 0, Vec::new()).await?;
    }
    for (seq, chunk) in ciphertext.chunks(CHUNK_BYTES).enumerate() {
        envelopes::insert_chunk(&mut tx, &header.envelope_id, seq as u64, chunk.to_vec()).await?;
    }
    for p in header.recipient_principals() {
        mail::queue(&mut tx, p, mail::EventKind::EnvelopeArrived, Some(&header.case_id), now).await?;
    }
    log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(())
}
