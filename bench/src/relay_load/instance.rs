//! The real relay: a `samordna-relay serve` child process on a loopback port, on its own fresh
//! database (an SQLite file in the working directory, or a PostgreSQL database made for the run
//! and dropped after it), with the federation's principals registered.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use samordna_core::PrincipalId;
use samordna_relay::{config::RelayConfig, dev_federation::PROFILES, store::principals};
use sqlx::any::AnyPoolOptions;

/// Which database the relay runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Backend {
    /// An SQLite file (WAL, `synchronous = FULL`), the embedded default.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `--postgres-url`.
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// The relay binary: `--relay-bin`, else `samordna-relay` beside this executable (cargo puts
/// both in the same profile directory).
pub fn relay_binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    let me = std::env::current_exe().context("cannot find this executable's path")?;
    let candidate = me.with_file_name("samordna-relay");
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "no samordna-relay beside {}; build it with the same profile (e.g. `cargo build --release -p samordna-relay`) \
         or name it with --relay-bin",
        me.display()
    )
}

/// `postgres://user@host:port/db?params` with the database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, params) = url.split_once('?').map_or((url, None), |(b, p)| (b, Some(p)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let prefix = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match params {
        Some(p) => format!("{prefix}/{name}?{p}"),
        None => format!("{prefix}/{name}"),
    }
}

async fn postgres(base_url: &str, sql: String) -> Result<()> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(base_url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {base_url}"))?;
    let result = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&pool).await;
    pool.close().await;
    result.with_context(|| format!("PostgreSQL refused {sql}"))?;
    Ok(())
}

/// One relay: its configuration, database and (while running) process.
#[derive(Debug)]
pub struct Relay {
    /// Its configuration file (in the federation's `relay/` directory, beside the certificates).
    pub config: PathBuf,
    /// The sqlx URL of its database.
    pub db_url: String,
    /// Its port while running.
    pub port: u16,
    /// Where its standard error goes.
    pub log: PathBuf,
    child: Option<Child>,
    /// The PostgreSQL server URL and the database made for this relay, dropped at the end.
    pg: Option<(String, String)>,
}

impl Relay {
    /// Writes `relay/NAME.toml` (a copy of the federation's configuration on a new database, on
    /// a free loopback port, with `max_envelope_bytes`), creates the database, applies the
    /// migrations and registers the federation's principals.
    pub async fn create(
        fed: &Path,
        name: &str,
        backend: Backend,
        postgres_url: &str,
        max_envelope_bytes: u64,
    ) -> Result<Relay> {
        let relay_dir = fed.join("relay");
        let base = relay_dir.join("relay.toml");
        let text = fs::read_to_string(&base).with_context(|| format!("reading {}", base.display()))?;
        let mut config: RelayConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", base.display()))?;
        config.listen = "127.0.0.1:0".parse()?;
        config.limits.max_envelope_bytes = max_envelope_bytes;
        let mut pg = None;
        config.database = match backend {
            Backend::Sqlite => format!("sqlite:{name}.db"),
            Backend::Postgres => {
                let mut random = [0u8; 6];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
                    .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
                let db = format!("samordna_bench_{}", hex::encode(random));
                postgres(postgres_url, format!("CREATE DATABASE {db}")).await?;
                pg = Some((postgres_url.to_owned(), db.clone()));
                with_database(postgres_url, &db)
            }
        };
        let path = relay_dir.join(format!("{name}.toml"));
        fs::write(&path, toml::to_string(&config)?).with_context(|| format!("writing {}", path.display()))?;
        let loaded = RelayConfig::load(&path)?;
        let db_url = loaded.database_url.clone();
        let relay =
            Relay { config: path, db_url, port: 0, log: fed.join(format!("{name}.log")), child: None, pg };
        register(&loaded).await.context("creating the relay's database")?;
        Ok(relay)
    }

    /// Starts `samordna-relay serve` and waits for the line that names its port. Its temporary
    /// files (the spool of large uploads) go to `tmp`.
    pub fn start(&mut self, binary: &Path, tmp: &Path) -> Result<()> {
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("TMPDIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("the relay's standard output")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the relay did not start; the end of its log ({}):\n{}",
                    self.log.display(),
                    tail(&self.log)
                );
            }
        };
        self.port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("the relay's first line does not name a port: {line:?}"))?;
        self.child = Some(child);
        Ok(())
    }

    /// The running relay's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Stops the relay as an operator would (SIGTERM), killing it if it has not exited in 10 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            for _ in 0..200 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the relay and drops its PostgreSQL database.
    pub async fn remove(mut self) -> Result<()> {
        self.stop();
        if let Some((url, db)) = self.pg.take() {
            postgres(&url, format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await?;
        }
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
        // On an early return the database is still there: drop it from a thread of its own,
        // since this may run inside the benchmark's runtime.
        if let Some((url, db)) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(postgres(&url, format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))).ok()
            })
            .join();
        }
    }
}

/// Creates the schema and registers the development federation's principals, each once.
async fn register(loaded: &samordna_relay::config::Loaded) -> Result<()> {
    let store = samordna_relay::serve::open_store(loaded).await?;
    let mut tx = store.write().await?;
    let now = time::OffsetDateTime::now_utc();
    let mut seen = Vec::new();
    for p in PROFILES {
        if seen.contains(&p.principal) {
            continue;
        }
        seen.push(p.principal);
        let principal = principals::Principal {
            id: PrincipalId::parse(p.principal)?,
            name: p.organisation.into(),
            kind: p.kind,
            mailbox: p.mailbox.into(),
            enabled: true,
            created_at: now,
        };
        principals::add(&mut tx, &principal).await?;
    }
    tx.commit().await?;
    store.close().await;
    Ok(())
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Whether the PostgreSQL server answers, and its durability settings.
pub async fn postgres_settings(url: &str) -> Result<String> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {url}"))?;
    let mut out = Vec::new();
    for setting in ["server_version", "fsync", "synchronous_commit", "wal_sync_method"] {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SHOW {setting}"))).fetch_one(&pool).await?;
        out.push(format!("{setting} = {}", row.try_get::<String, _>(0)?));
    }
    pool.close().await;
    Ok(out.join(", "))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(with_database("postgres://p@h:1/postgres", "b"), "postgres://p@h:1/b");
        assert_eq!(
            with_database("postgres://p@h/x?sslmode=disable", "b"),
            "postgres://p@h/b?sslmode=disable"
        );
    }
}
