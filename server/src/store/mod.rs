//! Storage: the only module that speaks SQL. One query text serves SQLite and PostgreSQL through
//! sqlx's `Any` driver (`$1`-style parameters, which SQLite also accepts).
//!
//! SQLite runs in WAL mode with `synchronous = FULL` (a commit is on disk when it returns), foreign
//! keys on, and writers start with `BEGIN IMMEDIATE` so that two writers never deadlock on a lock
//! upgrade. Storage errors are mapped to [`StoreError`] here, once: a unique-constraint violation
//! becomes [`StoreError::Conflict`], a database that does not answer [`StoreError::Unavailable`].

pub mod cases;
pub mod envelopes;
pub mod keys;
pub mod log;
pub mod mail;
pub mod notices;
pub mod principals;
pub mod registry;

use std::time::Duration;

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
            // SQLITE_BUSY / SQLITE_FULL / SQLITE_IOERR and PostgreSQL admin shutdown: retryable.
            sqlx::Error::Database(d)
                if matches!(
                    d.code().as_deref(),
                    Some("5" | "13" | "10" | "517" | "57P01" | "57P02" | "57P03")
                ) =>
            {
                StoreError::Unavailable(d.message().to_owned())
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

/// A write transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The relay's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(url: &str) -> StoreResult<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let options = match backend {
            Backend::Sqlite => options.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL persists in the file; synchronous and the rest are per connection.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(16),
        };
        let pool = options.connect(url).await?;
        Ok(Store { pool, backend })
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
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
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
