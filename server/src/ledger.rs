//! The tamper-evident side of the access log: the checkpoint signing key, the task that signs
//! checkpoints while there is traffic, and the verification the relay runs before it serves.
//!
//! At start-up the relay recomputes every leaf from the stored entry bytes and the root at every
//! signed checkpoint. If anything disagrees — an entry edited, deleted, swapped, or the log cut
//! short and regrown — it refuses to serve and names the first index that no longer matches, so
//! that nothing is added to a damaged log.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result, bail};
use samordna_core::log::{
    LogEntry, NoteSigner, Tree, VerifierKey, merkle::Hash, open_checkpoint, sign_checkpoint,
};
use sqlx::Row;

use crate::{
    clock::Clock,
    config::LogSettings,
    store::{
        Store, StoreError, StoreResult, exec,
        log::{self, StoredCheckpoint},
    },
};

/// The relay's log identity: origin and signing key.
#[derive(Debug)]
pub struct LogIdentity {
    /// `samordna.se/relay/<instance>`.
    pub origin: String,
    /// The checkpoint signing key.
    pub signer: NoteSigner,
}

impl LogIdentity {
    /// Loads the signing key named in `[log]`; its name must be the origin.
    pub fn load(settings: &LogSettings) -> Result<Self> {
        let origin = samordna_core::log::note::relay_origin(&settings.instance)
            .map_err(|e| anyhow::anyhow!("log.instance {:?} is not usable: {e}", settings.instance))?;
        let path = &settings.signing_key;
        check_private(path)?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read log.signing_key {}", path.display()))?;
        let signer = NoteSigner::from_signer_key(text.trim()).map_err(|e| {
            anyhow::anyhow!("log.signing_key {} is not a note signer key: {e}", path.display())
        })?;
        if signer.name() != origin {
            bail!(
                "log.signing_key {} is named {:?}, but the log's origin is {origin:?}; \
                 generate a key for this instance with `samordna-relay log keygen --instance {}`",
                path.display(),
                signer.name(),
                settings.instance
            );
        }
        Ok(LogIdentity { origin, signer })
    }

    /// The key auditors and witnesses verify checkpoints with.
    pub fn verifier_key(&self) -> VerifierKey {
        self.signer.verifier_key()
    }
}

fn check_private(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read log.signing_key {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "log.signing_key {} can be read by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// Signs a checkpoint whenever the log has grown: polled often enough to follow each batch of
/// appends, across every relay process that shares the database.
pub async fn sign_checkpoints(
    store: Store,
    identity: Arc<LogIdentity>,
    clock: Arc<dyn Clock>,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_signed = 0u64;
    loop {
        tick.tick().await;
        match sign_if_grown(&store, &identity, clock.as_ref(), last_signed).await {
            Ok(Some(size)) => last_signed = size,
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot sign a checkpoint; will try again"),
        }
    }
}

/// Signs the current tree head if it is larger than `last_signed`; returns the size signed.
pub async fn sign_if_grown(
    store: &Store,
    identity: &LogIdentity,
    clock: &dyn Clock,
    last_signed: u64,
) -> StoreResult<Option<u64>> {
    let mut conn = store.read().await?;
    let tree = log::head(&mut conn).await?;
    if tree.size() == 0 || tree.size() <= last_signed {
        return Ok(None);
    }
    if let Some(latest) = log::latest_checkpoint(&mut conn).await?.filter(|l| l.size >= tree.size()) {
        return Ok(Some(latest.size));
    }
    let checkpoint = samordna_core::log::Checkpoint::new(&identity.origin, tree.size(), tree.root())
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let stored = StoredCheckpoint {
        size: tree.size(),
        root: tree.root(),
        note: sign_checkpoint(&checkpoint, &identity.signer),
    };
    log::insert_checkpoint(&mut conn, &stored, clock.now()).await?;
    Ok(Some(tree.size()))
}

/// What start-up verification found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub size: u64,
    /// Signed checkpoints whose root was recomputed and matched.
    pub checkpoints: usize,
    /// Entries written before the log was tamper-evident, encoded and hashed now.
    pub backfilled: u64,
}

/// The first place where the stored log disagrees with itself or with its signed history.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("entry {index}: {what}")]
pub struct Damage {
    /// The first index that does not match.
    pub index: u64,
    /// What is wrong.
    pub what: String,
}

/// Why start-up verification stopped.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The log is damaged.
    #[error(transparent)]
    Damaged(#[from] Damage),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

const BATCH: u32 = 10_000;

/// Recomputes the log from its stored entries and checks it against every signed checkpoint.
/// Entries written before migration 0003 (without stored bytes) are encoded and hashed first.
pub async fn verify(store: &Store, identity: &LogIdentity) -> Result<Verified, VerifyError> {
    let backfilled = backfill(store).await?;
    let mut conn = store.read().await?;
    let head = log::head(&mut conn).await?;
    let size = head.size();
    let checkpoints = log::checkpoints_from(&mut conn, 0, u32::MAX).await?;
    let vkey = identity.verifier_key();
    let mut next_checkpoint = checkpoints.iter().peekable();
    let mut checked = 0usize;
    let mut last_good = 0u64;
    let mut tree = Tree::new();
    // A checkpoint at size 0 cannot exist; one above the log's size means entries are missing at the end.
    if let Some(c) = checkpoints.last().filter(|c| c.size > size) {
        return Err(Damage {
            index: size,
            what: format!("the log has {size} entries but the relay signed a checkpoint of {} entries; entries from index {size} are missing", c.size),
        }
        .into());
    }
    while tree.size() < size {
        let rows = log::raw_range(&mut conn, tree.size(), BATCH).await?;
        if rows.is_empty() {
            return Err(Damage { index: tree.size(), what: "the entry is missing".into() }.into());
        }
        for (idx, bytes, stored_leaf) in rows {
            let expected = tree.size();
            if idx >= size {
                break;
            }
            if idx != expected {
                return Err(Damage { index: expected, what: "the entry is missing".into() }.into());
            }
            let bytes =
                bytes.ok_or_else(|| Damage { index: idx, what: "its stored bytes are missing".into() })?;
            let entry = LogEntry::decode(&bytes).map_err(|e| Damage {
                index: idx,
                what: format!("its stored bytes are not a valid entry ({e})"),
            })?;
            if entry.index != idx {
                return Err(Damage {
                    index: idx,
                    what: format!("it holds the entry of index {} (entries were moved)", entry.index),
                }
                .into());
            }
            let leaf = entry.leaf_hash();
            if stored_leaf.as_deref() != Some(leaf.as_slice()) {
                return Err(Damage {
                    index: idx,
                    what: "its stored leaf hash is not the hash of its bytes (the entry was changed)".into(),
                }
                .into());
            }
            tree.push(leaf);
            while let Some(c) = next_checkpoint.next_if(|c| c.size <= tree.size()) {
                check_checkpoint(c, &tree, &identity.origin, &vkey, last_good)?;
                last_good = c.size;
                checked += 1;
            }
        }
    }
    check_columns(store).await?;
    if tree.frontier() != head.frontier() {
        return Err(Damage {
            index: size.saturating_sub(1),
            what: "the stored edge of the tree does not match the entries".into(),
        }
        .into());
    }
    Ok(Verified { size, checkpoints: checked, backfilled })
}

fn check_checkpoint(
    c: &StoredCheckpoint,
    tree: &Tree,
    origin: &str,
    vkey: &VerifierKey,
    last_good: u64,
) -> Result<(), Damage> {
    let opened = open_checkpoint(&c.note, origin, vkey, &[]).map_err(|e| Damage {
        index: c.size.saturating_sub(1),
        what: format!(
            "the stored checkpoint of {} entries does not verify with the relay's key ({e})",
            c.size
        ),
    })?;
    if opened.checkpoint.size() != c.size || opened.checkpoint.root_hash() != &c.root {
        return Err(Damage {
            index: last_good,
            what: format!("the stored checkpoint of {} entries was changed", c.size),
        });
    }
    if tree.size() == c.size && tree.root() != c.root {
        return Err(Damage {
            index: last_good,
            what: format!(
                "the entries from index {last_good} on do not hash to the checkpoint the relay signed at {} entries \
                 (entries were changed, removed, or the log was cut short and regrown)",
                c.size
            ),
        });
    }
    Ok(())
}

/// The queryable columns must say what the hashed bytes say: an edit to a column alone would hide
/// an entry from filtered audit queries.
async fn check_columns(store: &Store) -> Result<(), VerifyError> {
    let mut conn = store.read().await?;
    let mut from = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT idx, entry, actor_principal, actor_user, action, decision, reason, case_id, consent_id, envelope_id
             FROM access_log WHERE idx >= $1 ORDER BY idx LIMIT $2",
        )
        .bind(from)
        .bind(i64::from(BATCH))
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::from)?;
        if rows.is_empty() {
            return Ok(());
        }
        for r in &rows {
            let idx: i64 = r.try_get("idx").map_err(StoreError::from)?;
            from = idx + 1;
            let Some(bytes) = r.try_get::<Option<Vec<u8>>, _>("entry").map_err(StoreError::from)? else {
                continue;
            };
            let Ok(e) = LogEntry::decode(&bytes) else { continue };
            let text = |k: &str| r.try_get::<Option<String>, _>(k).ok().flatten();
            let int = |k: &str| r.try_get::<i64, _>(k).ok();
            let same = text("actor_principal") == e.actor_principal.as_ref().map(|p| p.as_str().to_owned())
                && text("actor_user") == e.actor_user.as_ref().map(|p| p.as_str().to_owned())
                && int("action") == Some(i64::from(e.action.code()))
                && int("decision") == Some(i64::from(e.reason.is_ok()))
                && int("reason") == Some(i64::from(e.reason.code()))
                && text("case_id") == e.case_id.as_ref().map(|p| p.as_str().to_owned())
                && text("consent_id") == e.consent_id.as_ref().map(|p| p.as_str().to_owned())
                && text("envelope_id") == e.envelope_id.as_ref().map(|p| p.as_str().to_owned());
            if !same {
                let index = u64::try_from(idx).unwrap_or(0);
                return Err(Damage {
                    index,
                    what: "its columns say something else than its hashed bytes (a column was changed)"
                        .into(),
                }
                .into());
            }
        }
    }
}

/// Encodes and hashes entries written before the log was tamper-evident, rebuilding the tree's
/// stored edge and subtree hashes. Runs only when such entries exist.
async fn backfill(store: &Store) -> Result<u64, VerifyError> {
    let mut conn = store.read().await?;
    let pending: i64 = sqlx::query("SELECT COUNT(*) AS n FROM access_log WHERE entry IS NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::from)?
        .try_get("n")
        .map_err(StoreError::from)?;
    drop(conn);
    if pending == 0 {
        return Ok(0);
    }
    let mut tx = store.write().await?;
    let rows = log::legacy_entries(&mut tx).await?;
    let mut tree = Tree::new();
    exec(&mut tx, sqlx::query("DELETE FROM log_nodes")).await?;
    for (idx, entry) in rows {
        if idx != tree.size() {
            return Err(Damage { index: tree.size(), what: "the entry is missing".into() }.into());
        }
        let typed = entry.typed(idx)?;
        let leaf = typed.leaf_hash();
        let mut nodes: Vec<(samordna_core::log::NodeId, Hash)> = Vec::new();
        tree.push_with(leaf, |n, h| {
            if n.level > 0 {
                nodes.push((n, *h));
            }
        });
        log::set_entry_bytes(&mut tx, &typed, &leaf).await?;
        for (n, h) in nodes {
            log::put_node(&mut tx, n, &h).await?;
        }
    }
    exec(
        &mut tx,
        sqlx::query("UPDATE log_head SET frontier = $1 WHERE id = 1").bind(tree.frontier().concat()),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        entries = pending,
        "encoded and hashed access-log entries written before the log was tamper-evident"
    );
    Ok(u64::try_from(pending).unwrap_or(0))
}
