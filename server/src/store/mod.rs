//! Storage: the only module that speaks SQL. One query text serves SQLite and PostgreSQL through
//! sqlx's `Any` driver (`$1`-style parameters, which SQLite also accepts).
//!
//! SQLite runs in WAL mode with foreign keys on, and writers start with `BEGIN IMMEDIATE` so that
//! two writers never deadlock on a lock upgrade. A commit is on disk when [`Tx::commit`] returns:
//! by default through group commit ([`durable`]: one shared `fsync` for every commit that finished
//! before it), or with [`Durability::PerCommit`] by SQLite itself (`synchronous = FULL`).
//! Storage errors are mapped to [`StoreError`] here, once: a unique-constraint violation becomes
//! [`StoreError::Conflict`], a database that does not answer [`StoreError::Unavailable`].

pub mod batch;
pub mod cases;
pub mod durable;
pub mod envelopes;
pub mod keys;
pub mod log;
pub mod mail;
pub mod notices;
pub mod principals;
pub mod registry;

use std::{
    ops::{Deref, DerefMut},
    sync::Arc,
    time::Duration,
};

use sqlx::{
    AnyConnection, AnyPool, Connection, Executor,
    any::{AnyPoolOptions, install_default_drivers},
};
use time::OffsetDateTime;

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// For scale-out: several relays share one database.
    Postgres,
}

/// A storage failure, mapped once from sqlx.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same key exists.
    #[error("a record with this id already exists")]
    Conflict,
    /// The database cannot be reached or is overloaded; the request may be retried.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The disk holding the database is full (SQLITE_FULL, ENOSPC): nothing was written; writes
    /// succeed again once the operator frees space.
    #[error("the database's disk is full: {0}")]
    Full(String),
    /// A stored value does not parse: the database was changed outside the relay.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict,
            // SQLITE_FULL; PostgreSQL disk_full (53100).
            sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("13" | "53100")) => {
                StoreError::Full(d.message().to_owned())
            }
            // SQLITE_BUSY / SQLITE_IOERR and PostgreSQL admin shutdown: retryable.
            sqlx::Error::Database(d)
                if matches!(d.code().as_deref(), Some("5" | "10" | "517" | "57P01" | "57P02" | "57P03")) =>
            {
                StoreError::Unavailable(d.message().to_owned())
            }
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                StoreError::Full(e.to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Other(e.to_string()),
        }
    }
}

/// Result of storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// A write transaction. It derefs to the connection; [`Tx::commit`] returns once the commit is
/// durable.
#[derive(Debug)]
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    group: Option<Arc<durable::GroupSync>>,
    /// SQLite: this process's one writer turn, held until the commit returns.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// SQLite: the log's right edge as this process last wrote it ([`log::append`]).
    log_head: Option<Arc<log::HeadCache>>,
}

impl Tx {
    /// Commits, and returns when the commit is on disk.
    pub async fn commit(self) -> StoreResult<()> {
        let Tx { inner, group, _turn: turn, log_head: _ } = self;
        inner.commit().await?;
        // The next writer may start while this commit waits for the disk.
        drop(turn);
        if let Some(group) = group {
            let ticket = group.ticket();
            group.wait(ticket).await?;
        }
        Ok(())
    }

    /// Rolls back (dropping a `Tx` does too).
    pub async fn rollback(self) -> StoreResult<()> {
        Ok(self.inner.rollback().await?)
    }

    /// The log's right edge as this process last wrote it, where the relay keeps one (SQLite).
    pub(crate) fn log_head(&self) -> Option<&Arc<log::HeadCache>> {
        self.log_head.as_ref()
    }
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// How SQLite commits reach the disk (PostgreSQL always syncs each commit's WAL, and groups
/// concurrent commits into one flush by itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Commits are acknowledged after one `fsync` shared with every commit before it (the relay).
    Group,
    /// Every commit syncs by itself, inside SQLite (`synchronous = FULL`): one `fsync` per
    /// transaction, the baseline the benchmarks compare against.
    PerCommit,
}

/// The relay's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    group: Option<Arc<durable::GroupSync>>,
    /// SQLite has one writer at a time. Writers of this process take turns here, in order, instead
    /// of meeting at the file lock, where SQLite's busy handler would make them sleep and retry.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// SQLite: the log's right edge, so an append needs one conditional UPDATE instead of a read
    /// and a write of `log_head` (checked against the row, so other processes' appends are seen).
    log_head: Option<Arc<log::HeadCache>>,
    /// The writer that commits several requests' small writes in one transaction ([`batch`]);
    /// `None` in the writer's own copy.
    batch: Option<batch::Batcher>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) with group commit.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        Store::connect_with(url, Durability::Group).await
    }

    /// Connects to `url`, choosing how SQLite commits reach the disk.
    pub async fn connect_with(url: &str, durability: Durability) -> StoreResult<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        // A request waits at most this long for a connection. While PostgreSQL is down the pool
        // keeps retrying until then, so this is how soon clients hear 503 `unavailable`; SQLite's
        // writers queue on the file lock (busy_timeout) inside the pool, so it waits longer.
        let acquire = match backend {
            Backend::Sqlite => Duration::from_secs(10),
            Backend::Postgres => Duration::from_secs(5),
        };
        let options = AnyPoolOptions::new().acquire_timeout(acquire);
        let options = match backend {
            Backend::Sqlite => options
                .max_connections(8)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        // WAL persists in the file; synchronous and the rest are per connection.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute(match durability {
                            // Tx::commit syncs the WAL itself, shared between concurrent commits.
                            Durability::Group => "PRAGMA synchronous = NORMAL",
                            Durability::PerCommit => "PRAGMA synchronous = FULL",
                        })
                        .await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        Ok(())
                    })
                })
                // After SQLITE_FULL or an I/O error SQLite may roll the transaction back by itself;
                // sqlx's own ROLLBACK then fails and it keeps counting the transaction as open, so
                // that connection would refuse every later BEGIN. Such a connection is closed on
                // release (the ping first lets sqlx finish a queued rollback) and the pool opens a
                // fresh one: the relay recovers once the disk has room again.
                // A connection whose transaction ended normally goes straight back: the ping (a
                // round trip to sqlx's worker thread) is only for the rare one that still counts a
                // transaction as open.
                .after_release(|conn, _| {
                    Box::pin(async move {
                        if !conn.is_in_transaction() {
                            return Ok(true);
                        }
                        conn.ping().await?;
                        Ok(!conn.is_in_transaction())
                    })
                })
                // A file on the local disk does not go stale the way a network connection does;
                // a broken one fails its next statement, which is mapped to a clear error.
                .test_before_acquire(false),
            Backend::Postgres => options.max_connections(16),
        };
        let pool = options.connect(url).await?;
        let group = match (backend, durability) {
            (Backend::Sqlite, Durability::Group) => {
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&pool)
                        .await?;
                if file.is_empty() {
                    // An in-memory database: nothing to sync.
                    None
                } else {
                    Some(durable::GroupSync::new(std::path::Path::new(&file)))
                }
            }
            _ => None,
        };
        let log_head = (backend == Backend::Sqlite).then(|| Arc::new(log::HeadCache::default()));
        let mut store = Store {
            pool,
            backend,
            group,
            writer: Arc::new(tokio::sync::Mutex::new(())),
            log_head,
            batch: None,
        };
        store.batch = Some(batch::Batcher::start(store.clone())?);
        Ok(store)
    }

    /// The writer that runs jobs in a transaction shared with other requests' ([`batch`]).
    pub fn batcher(&self) -> Option<&batch::Batcher> {
        self.batch.as_ref()
    }

    /// How many shared `fsync` calls group commit has made (0 without group commit).
    pub fn group_syncs(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.syncs())
    }

    /// Applies the migrations in `migrations/sqlite` or `migrations/postgres`.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| StoreError::Other(format!("migration failed: {e}")))
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction.
    pub async fn write(&self) -> StoreResult<Tx> {
        let (inner, turn) = match self.backend {
            Backend::Sqlite => {
                // Connection first, then the turn: whoever holds the turn has all it needs, so a
                // pool emptied by waiting writers cannot stall it.
                let conn = self.pool.acquire().await?;
                let turn = self.writer.clone().lock_owned().await;
                let begin = sqlx::SqlSafeStr::into_sql_str("BEGIN IMMEDIATE");
                (sqlx::Transaction::begin(conn, Some(begin)).await?, Some(turn))
            }
            Backend::Postgres => (self.pool.begin().await?, None),
        };
        Ok(Tx { inner, group: self.group.clone(), _turn: turn, log_head: self.log_head.clone() })
    }

    /// The counter that every change to an upload decision's inputs moves forward
    /// (`migrations/*/0005_policy_version.sql`).
    pub async fn policy_version(&self, conn: &mut AnyConnection) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT version FROM policy_version WHERE id = 1").fetch_one(conn).await?)
    }

    /// The policy counter as a write transaction sees it, and held there: no change to a decision's
    /// inputs commits before `tx` does. SQLite's `BEGIN IMMEDIATE` already excludes every other
    /// writer; PostgreSQL takes a share lock on the counter's row, which each such change updates.
    pub async fn policy_version_held(&self, tx: &mut Tx) -> StoreResult<i64> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT version FROM policy_version WHERE id = 1",
            Backend::Postgres => "SELECT version FROM policy_version WHERE id = 1 FOR SHARE",
        };
        Ok(sqlx::query_scalar(sql).fetch_one(&mut **tx).await?)
    }

    /// A connection for reads.
    pub async fn read(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        match self.pool.acquire().await {
            Ok(mut c) => c.ping().await.is_ok(),
            Err(_) => false,
        }
    }

    /// Closes the pool (at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Microseconds since 1970, as stored.
pub fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// From stored microseconds.
pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Parses a stored identifier; a failure means the database was changed outside the relay.
pub fn parse_stored<T: std::str::FromStr>(s: &str, what: &str) -> StoreResult<T> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("stored {what} {s:?} does not parse")))
}

/// Runs a statement on a connection (short form for the submodules).
pub(crate) async fn exec(
    conn: &mut AnyConnection,
    q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
) -> StoreResult<u64> {
    Ok(q.execute(conn).await?.rows_affected())
}
