//! Group commit for SQLite: many requests' commits made durable by one shared `fsync`.
//!
//! With `synchronous = FULL` every SQLite commit calls `fsync` on the WAL while it holds the
//! database's single write lock, so a relay could never commit faster than the disk can sync once
//! (about 1,000 per second here), however many clients are waiting. Instead the connections run
//! with `synchronous = NORMAL`: a commit writes its WAL frames into the page cache and releases the
//! write lock at once. The relay answers no request whose transaction is not yet on disk: after
//! committing, the request calls [`GroupSync::wait`] with the ticket it drew at commit, and one
//! `fsync` of the WAL file covers every commit that finished before that `fsync` began.
//!
//! The guarantee a client sees is the same as with `FULL`: an acknowledged request survives a crash
//! of the process or of the machine. What changes is that a commit can be *visible* to another
//! request a millisecond before it is *durable*, as in PostgreSQL; the later request's own
//! acknowledgement then waits for a later `fsync`, which covers the earlier commit too, so no
//! acknowledged answer can depend on a write that a power cut could take back.
//!
//! Checkpoints stay safe without us: in WAL mode with `NORMAL`, SQLite syncs the WAL before it
//! copies frames into the database file and syncs the database file before it reuses the WAL.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::{Mutex, watch};

use super::{StoreError, StoreResult};

/// Shared by every connection of one SQLite store.
#[derive(Debug)]
pub struct GroupSync {
    wal: PathBuf,
    /// Tickets drawn by finished commits; a ticket is durable when `synced >= ticket`.
    committed: AtomicU64,
    synced: watch::Sender<u64>,
    /// Held by the one task running an `fsync`; the others queue here and mostly find their
    /// ticket covered when they get it.
    leader: Mutex<WalIdentity>,
    syncs: AtomicU64,
}

/// Which WAL file was synced last, so that a new one also gets its directory entry synced.
#[derive(Debug, Default)]
struct WalIdentity(Option<(u64, u64)>);

impl GroupSync {
    /// For the database file `db` (its WAL is `db` + `-wal`).
    pub fn new(db: &Path) -> Arc<GroupSync> {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        Arc::new(GroupSync {
            wal: PathBuf::from(wal),
            committed: AtomicU64::new(0),
            synced: watch::channel(0).0,
            leader: Mutex::new(WalIdentity::default()),
            syncs: AtomicU64::new(0),
        })
    }

    /// Draws the ticket of a commit that has just returned.
    pub fn ticket(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// How many `fsync` calls have been made (for metrics and benchmarks).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Returns when the commit with `ticket` is on disk.
    pub async fn wait(&self, ticket: u64) -> StoreResult<()> {
        if *self.synced.borrow() >= ticket {
            return Ok(());
        }
        let mut identity = self.leader.lock().await;
        // Whoever held the lock before us may have synced our commit already.
        if *self.synced.borrow() >= ticket {
            return Ok(());
        }
        // Every commit that has drawn a ticket by now has written its frames: one sync covers all.
        let target = self.committed.load(Ordering::SeqCst);
        let wal = self.wal.clone();
        let previous = identity.0;
        let synced = tokio::task::spawn_blocking(move || sync_wal(&wal, previous))
            .await
            .map_err(|e| StoreError::Unavailable(format!("the disk sync task failed: {e}")))?;
        match synced {
            Ok(current) => {
                identity.0 = current;
                self.syncs.fetch_add(1, Ordering::Relaxed);
                self.synced.send_modify(|s| *s = (*s).max(target));
                Ok(())
            }
            Err(e) => {
                tracing::error!(wal = %self.wal.display(), error = %e, "cannot sync the database's write-ahead log");
                Err(StoreError::Unavailable(format!("cannot make the commit durable: {e}")))
            }
        }
    }
}

/// `fdatasync` of the WAL file; when the file is new since the last sync, its directory too.
fn sync_wal(wal: &Path, previous: Option<(u64, u64)>) -> std::io::Result<Option<(u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    let file = match std::fs::File::open(wal) {
        Ok(f) => f,
        // No WAL: the last connection closed and checkpointed it into the database file, which
        // SQLite synced before deleting the WAL. Nothing is pending.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    file.sync_data()?;
    let meta = file.metadata()?;
    let current = Some((meta.dev(), meta.ino()));
    if current != previous
        && let Some(dir) = wal.parent()
    {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_sync_covers_every_commit_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("relay.db");
        std::fs::write(dir.path().join("relay.db-wal"), b"frames").unwrap();
        let g = GroupSync::new(&db);
        let tickets: Vec<u64> = (0..5).map(|_| g.ticket()).collect();
        assert_eq!(tickets, [1, 2, 3, 4, 5]);
        g.wait(3).await.unwrap();
        assert_eq!(g.syncs(), 1);
        // 4 and 5 had committed before that sync began: already durable, no second sync.
        g.wait(5).await.unwrap();
        assert_eq!(g.syncs(), 1);
        let t = g.ticket();
        g.wait(t).await.unwrap();
        assert_eq!(g.syncs(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_share_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("relay.db");
        std::fs::write(dir.path().join("relay.db-wal"), b"frames").unwrap();
        let g = GroupSync::new(&db);
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let g = g.clone();
            tasks.push(tokio::spawn(async move {
                let t = g.ticket();
                g.wait(t).await.unwrap();
                t
            }));
        }
        for t in tasks {
            let ticket = t.await.unwrap();
            assert!(*g.synced.borrow() >= ticket);
        }
        assert!(g.syncs() >= 1 && g.syncs() <= 64, "{}", g.syncs());
    }

    #[tokio::test]
    async fn a_missing_wal_is_nothing_to_sync() {
        let dir = tempfile::tempdir().unwrap();
        let g = GroupSync::new(&dir.path().join("relay.db"));
        let t = g.ticket();
        g.wait(t).await.unwrap();
    }
}
