//! A real relay for a test: its own development federation, its own database (an SQLite file, or a
//! fresh PostgreSQL database when `SAMORDNA_TEST_POSTGRES_URL` is set), the real `samordna-relay`
//! binary on a loopback port, and direct access to the database to check what was stored.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use samordna_core::devpki::{DevCa, PersonSpec, Usage};
use samordna_core::id::{HsaId, PrincipalId};
use sqlx::{Row, any::AnyPoolOptions};
use time::OffsetDateTime;

use crate::{binaries, run};

/// Which database the relay runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// PostgreSQL, at `SAMORDNA_TEST_POSTGRES_URL`.
    Postgres,
}

/// The PostgreSQL server for tests, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("SAMORDNA_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty())
}

/// Extra people, beyond the four dev-federation profiles, made for refusal tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// A municipality person whose certificate has expired.
    Expired,
    /// A municipality person whose certificate is valid only from next year.
    NotYetValid,
    /// A municipality person whose certificate is on the CRL.
    Revoked,
    /// A person of a principal the relay has never registered.
    Unregistered,
    /// A person of a principal that is registered but disabled.
    Disabled,
    /// A certificate from another CA altogether.
    ForeignCa,
    /// A municipality person's certificate that is its own issuer (no CA at all).
    SelfSigned,
    /// Issued by the federation CA, but for servers (extended key usage serverAuth, no clientAuth).
    ServerUsage,
    /// Issued by the federation CA with clientAuth, but key usage keyEncipherment only (no
    /// digitalSignature: the key may not sign the TLS handshake).
    NoDigitalSignature,
}

impl Extra {
    /// The profile directory name.
    pub fn dir(self) -> &'static str {
        match self {
            Extra::Expired => "expired",
            Extra::NotYetValid => "not-yet-valid",
            Extra::Revoked => "revoked",
            Extra::Unregistered => "unregistered",
            Extra::Disabled => "disabled",
            Extra::ForeignCa => "foreign-ca",
            Extra::SelfSigned => "self-signed",
            Extra::ServerUsage => "server-usage",
            Extra::NoDigitalSignature => "no-digital-signature",
        }
    }
    const ALL: [Extra; 9] = [
        Extra::Expired,
        Extra::NotYetValid,
        Extra::Revoked,
        Extra::Unregistered,
        Extra::Disabled,
        Extra::ForeignCa,
        Extra::SelfSigned,
        Extra::ServerUsage,
        Extra::NoDigitalSignature,
    ];
}

/// Motala kommun: registered for the tests, then disabled.
pub const DISABLED_PRINCIPAL: &str = "SE2120000530";
/// Not registered at the relay.
pub const UNREGISTERED_PRINCIPAL: &str = "SE2120000589";

/// A running relay.
#[derive(Debug)]
pub struct TestRelay {
    /// Keeps the federation directory alive.
    _dir: tempfile::TempDir,
    /// The federation directory (`ca/`, `relay/`, `profiles/`).
    pub fed: PathBuf,
    /// The database.
    pub backend: Backend,
    /// sqlx URL of the relay's database.
    pub db_url: String,
    /// The port the relay listens on.
    pub port: u16,
    /// Where the relay writes its log.
    pub stderr: PathBuf,
    child: Option<Child>,
    others: Vec<Child>,
    pg_database: Option<String>,
    /// The PostgreSQL server the database was made on (to drop it afterwards).
    pg_base: Option<String>,
    /// Extra environment for the relay process (e.g. `TMPDIR` for its spool files).
    pub env: Vec<(String, String)>,
}

/// `text` with the line `key = …` set to `key = value` (the first such line in each section).
pub fn set_key(text: &str, key: &str, value: &str) -> String {
    text.lines()
        .map(|l| if l.starts_with(&format!("{key} =")) { format!("{key} = {value}") } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn db<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(f)
}

impl TestRelay {
    /// Makes a federation, the extra refusal-test profiles and the database, and starts the relay.
    /// Returns `None` for PostgreSQL when no test server is configured.
    pub fn start(backend: Backend) -> Option<TestRelay> {
        Self::start_with(backend, |_| {})
    }

    /// As [`TestRelay::start`], after `edit` has changed the text of `relay.toml` (e.g. its limits).
    pub fn start_with(backend: Backend, edit: impl FnOnce(&mut String)) -> Option<TestRelay> {
        let pg = match backend {
            Backend::Postgres => Some(postgres_url()?),
            Backend::Sqlite => None,
        };
        Some(Self::start_on(pg, edit))
    }

    /// As [`TestRelay::start_with`], on the PostgreSQL server at `pg` (a fresh database is made
    /// there), or on SQLite when `pg` is `None`.
    pub fn start_on(pg: Option<String>, edit: impl FnOnce(&mut String)) -> TestRelay {
        let backend = if pg.is_some() { Backend::Postgres } else { Backend::Sqlite };
        let pg_base = pg.clone();
        let bins = binaries();
        let dir = tempfile::tempdir().expect("tempdir");
        let fed = dir.path().join("fed");
        assert!(run(Command::new(&bins.relay).arg("dev-federation").arg("--out").arg(&fed)).status.success());
        let config = fed.join("relay/relay.toml");
        let mut text = fs::read_to_string(&config).expect("relay.toml");
        text = set_key(&text, "listen", "\"127.0.0.1:0\"");
        edit(&mut text);

        let (db_url, pg_database) = match pg {
            Some(base) => {
                let name = format!("samordna_t_{}", hex::encode(random::<8>()));
                db(async {
                    sqlx::any::install_default_drivers();
                    let pool = AnyPoolOptions::new()
                        .max_connections(1)
                        .connect(&base)
                        .await
                        .expect("connect to PostgreSQL");
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .execute(&pool)
                        .await
                        .expect("create database");
                    pool.close().await;
                });
                let url = replace_database(&base, &name);
                text = set_key(&text, "database", &format!("\"{url}\""));
                (url, Some(name))
            }
            None => (format!("sqlite://{}", fed.join("relay/relay.db").display()), None),
        };
        fs::write(&config, text).expect("write relay.toml");

        let relay = TestRelay {
            _dir: dir,
            fed,
            backend,
            db_url,
            port: 0,
            stderr: PathBuf::new(),
            child: None,
            others: Vec::new(),
            pg_database,
            pg_base,
            env: Vec::new(),
        };
        if backend == Backend::Postgres {
            assert!(run(relay.relay_cmd().arg("migrate")).status.success());
            for (id, name, kind, mailbox) in [
                ("SE2321000032", "Region Östergötland", "region", "sip@regionostergotland.example"),
                ("SE2120000449", "Linköpings kommun", "municipality", "sip@linkoping.example"),
                ("SE5569875437", "Stångåskolan AB", "school", "elevhalsan@stangaskolan.example"),
            ] {
                relay.register(id, name, kind, mailbox);
            }
            // dev-federation registers its compliance officer in the SQLite database it makes.
            let auditor = ["auditor", "add", "--hsa-id", "SE2321000032-mg01", "--principal", "SE2321000032"];
            assert!(run(relay.relay_cmd().args(auditor)).status.success());
        }
        relay.register(DISABLED_PRINCIPAL, "Motala kommun", "municipality", "sip@motala.example");
        assert!(
            run(relay.relay_cmd().args(["principal", "disable", "--id", DISABLED_PRINCIPAL]))
                .status
                .success()
        );
        relay.make_extras();
        let mut relay = relay;
        relay.launch(None);
        relay
    }

    /// The relay process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the relay with SIGKILL, as a crash or power cut would: no shutdown of any kind.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the relay and starts it again, its clock shifted by `clock_offset_seconds` (the
    /// relay's test-only `SAMORDNA_DANGEROUS_CLOCK_OFFSET_SECONDS`).
    pub fn restart(&mut self, clock_offset_seconds: Option<i64>) {
        self.stop();
        self.launch(clock_offset_seconds);
    }

    fn register(&self, id: &str, name: &str, kind: &str, mailbox: &str) {
        let out = run(self.relay_cmd().args([
            "principal",
            "add",
            "--id",
            id,
            "--name",
            name,
            "--kind",
            kind,
            "--mailbox",
            mailbox,
        ]));
        assert!(out.status.success());
    }

    /// Profiles for the certificate faults, and a CRL that revokes one of them.
    fn make_extras(&self) {
        let root = fs::read_to_string(self.fed.join("ca/root-ca.pem")).expect("root");
        let key = fs::read_to_string(self.fed.join("ca/root-ca.key")).expect("root key");
        let ca = DevCa::load(&root, &key).expect("load the dev root");
        let now = OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        let spec = |principal: &str, org: &str, name: &str, hsa: &str| PersonSpec {
            principal: PrincipalId::parse(principal).expect("principal"),
            organisation: org.into(),
            name: name.into(),
            hsa_id: HsaId::parse(hsa).expect("hsa"),
            not_before: now - day,
            not_after: now + 365 * day,
            usage: Usage::ClientAndSigning,
        };
        let mut revoked = Vec::new();
        for extra in Extra::ALL {
            let (issuer, spec) = match extra {
                Extra::Expired => (
                    &ca,
                    PersonSpec {
                        not_before: now - 400 * day,
                        not_after: now - 30 * day,
                        ..spec("SE2120000449", "Linköpings kommun", "Eva Gammal", "SE2120000449-eg03")
                    },
                ),
                Extra::NotYetValid => (
                    &ca,
                    PersonSpec {
                        not_before: now + 300 * day,
                        not_after: now + 700 * day,
                        ..spec("SE2120000449", "Linköpings kommun", "Nils Tidig", "SE2120000449-nt04")
                    },
                ),
                Extra::Revoked => {
                    (&ca, spec("SE2120000449", "Linköpings kommun", "Rolf Spärrad", "SE2120000449-rs05"))
                }
                Extra::Unregistered => (
                    &ca,
                    spec(UNREGISTERED_PRINCIPAL, "Norrköpings kommun", "Olle Okänd", "SE2120000589-oo01"),
                ),
                Extra::Disabled => {
                    (&ca, spec(DISABLED_PRINCIPAL, "Motala kommun", "Dora Avstängd", "SE2120000530-da01"))
                }
                Extra::ServerUsage => (
                    &ca,
                    PersonSpec {
                        usage: Usage::ServerOnly,
                        ..spec("SE2120000449", "Linköpings kommun", "Sven Server", "SE2120000449-ss07")
                    },
                ),
                Extra::NoDigitalSignature => (
                    &ca,
                    PersonSpec {
                        usage: Usage::NoDigitalSignature,
                        ..spec("SE2120000449", "Linköpings kommun", "Kim Chiffer", "SE2120000449-kc08")
                    },
                ),
                Extra::ForeignCa | Extra::SelfSigned => continue,
            };
            let issued = issuer.issue_person(&spec).expect("issue");
            if extra == Extra::Revoked {
                revoked.push(issued.serial);
            }
            self.write_profile(extra.dir(), &issued.cert_pem, &issued.key_pem);
        }
        let foreign = DevCa::new("Någon annan CA", now - day, now + 365 * day).expect("foreign CA");
        let issued = foreign
            .issue_person(&spec("SE2120000449", "Linköpings kommun", "Falsk Person", "SE2120000449-fp06"))
            .expect("issue");
        self.write_profile(Extra::ForeignCa.dir(), &issued.cert_pem, &issued.key_pem);
        let issued = samordna_core::devpki::self_signed_person(&spec(
            "SE2120000449",
            "Linköpings kommun",
            "Egon Egen",
            "SE2120000449-ee09",
        ))
        .expect("self-signed");
        self.write_profile(Extra::SelfSigned.dir(), &issued.cert_pem, &issued.key_pem);

        let crl = ca.crl(2, &revoked, now - day, now + 30 * day).expect("crl");
        for path in ["ca/crl.pem", "relay/crl.pem"] {
            fs::write(self.fed.join(path), &crl).expect("write crl");
        }
        for entry in fs::read_dir(self.fed.join("profiles")).expect("profiles").flatten() {
            fs::write(entry.path().join("crl.pem"), &crl).expect("write crl");
        }
    }

    fn write_profile(&self, name: &str, cert: &str, key: &str) {
        use std::os::unix::fs::PermissionsExt;
        let src = self.fed.join("profiles/municipality");
        let dst = self.fed.join("profiles").join(name);
        fs::create_dir_all(&dst).expect("profile dir");
        for f in ["profile.toml", "root-ca.pem", "crl.pem"] {
            fs::copy(src.join(f), dst.join(f)).expect("copy");
        }
        fs::write(dst.join("cert.pem"), cert).expect("cert");
        fs::write(dst.join("key.pem"), key).expect("key");
        fs::set_permissions(dst.join("key.pem"), fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    fn launch(&mut self, clock_offset_seconds: Option<i64>) {
        let bins = binaries();
        self.stderr = self.fed.join("relay/relay.log");
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.stderr).expect("relay log");
        let mut cmd = Command::new(&bins.relay);
        if let Some(offset) = clock_offset_seconds {
            cmd.env("SAMORDNA_DANGEROUS_CLOCK_OFFSET_SECONDS", offset.to_string());
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .arg("serve")
            .arg("--config")
            .arg(self.fed.join("relay/relay.toml"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start the relay");
        let stdout = child.stdout.take().expect("relay stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {} // keep draining
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "the relay did not start; its log:\n{}",
                fs::read_to_string(&self.stderr).unwrap_or_default()
            )
        });
        self.port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        self.child = Some(child);
        let url = format!("\"https://localhost:{}\"", self.port);
        for entry in fs::read_dir(self.fed.join("profiles")).expect("profiles").flatten() {
            let p = entry.path().join("profile.toml");
            let text = fs::read_to_string(&p).expect("profile.toml");
            fs::write(&p, set_key(&text, "relay_url", &url)).expect("write profile.toml");
        }
    }

    /// Starts another `samordna-relay serve` on the same configuration and database (as a second
    /// instance behind a load balancer would run), and returns its port; it stops when `self` drops.
    pub fn start_another_process(&mut self) -> u16 {
        let bins = binaries();
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.stderr).expect("relay log");
        let mut child = Command::new(&bins.relay)
            .arg("serve")
            .arg("--config")
            .arg(self.fed.join("relay/relay.toml"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start a second relay");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the second relay did not start");
        let port = line.rsplit(':').next().and_then(|p| p.trim().parse().ok()).expect("port");
        self.others.push(child);
        port
    }

    /// Tries to start the relay and returns what it said if it refused to start (or `None` if it
    /// started, in which case it keeps running as this relay).
    pub fn start_expecting_refusal(&mut self) -> Option<String> {
        self.stop();
        let out = Command::new(&binaries().relay)
            .arg("serve")
            .arg("--config")
            .arg(self.fed.join("relay/relay.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                // A relay that starts keeps running: give it a few seconds, then treat it as started.
                for _ in 0..100 {
                    if let Some(_status) = c.try_wait()? {
                        return c.wait_with_output().map(Some);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = c.kill();
                let _ = c.wait();
                Ok(None)
            })
            .expect("run the relay");
        out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
    }

    /// The relay's base URL.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// Starts the relay again after [`TestRelay::start_expecting_refusal`] or [`TestRelay::stop`].
    pub fn start_again(&mut self) {
        self.launch(None);
    }

    /// Runs a statement (or several, `;`-separated) against the relay's database.
    pub fn execute(&self, sql: &str) {
        let url = self.db_url.clone();
        let sql = sql.to_owned();
        db(async move {
            sqlx::any::install_default_drivers();
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .expect("connect to the relay database");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("execute");
            pool.close().await;
        })
    }

    /// A byte string as an SQL literal for this backend.
    pub fn blob(&self, bytes: &[u8]) -> String {
        match self.backend {
            Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
            Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
        }
    }

    /// A profile directory.
    pub fn profile(&self, name: &str) -> PathBuf {
        self.fed.join("profiles").join(name)
    }

    /// `samordna --profile …` for a profile (dev-federation names or [`Extra::dir`]).
    pub fn client(&self, profile: &str) -> Command {
        let mut c = Command::new(&binaries().client);
        c.arg("--profile").arg(self.profile(profile));
        c
    }

    /// `samordna-relay` with `--config` set through the environment.
    pub fn relay_cmd(&self) -> Command {
        let mut c = Command::new(&binaries().relay);
        c.env("SAMORDNA_RELAY_CONFIG", self.fed.join("relay/relay.toml"));
        c
    }

    /// The relay's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Runs a query against the relay's database and returns the rows, each column as text.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let url = self.db_url.clone();
        let sql = sql.to_owned();
        db(async move {
            sqlx::any::install_default_drivers();
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .expect("connect to the relay database");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&pool).await.expect("query");
            let out = rows
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| {
                            r.try_get::<Option<String>, _>(i)
                                .or_else(|_| r.try_get::<Option<i64>, _>(i).map(|v| v.map(|v| v.to_string())))
                                .or_else(|_| r.try_get::<Option<Vec<u8>>, _>(i).map(|v| v.map(hex::encode)))
                                .unwrap_or(None)
                        })
                        .collect()
                })
                .collect();
            pool.close().await;
            out
        })
    }

    /// The access log: (index, action code, decision, reason code, actor principal, case, consent, envelope).
    pub fn access_log(&self) -> Vec<LogRow> {
        self.query(
            "SELECT idx, action, decision, reason, actor_principal, actor_user, case_id, consent_id, envelope_id, cert_fingerprint
             FROM access_log ORDER BY idx",
        )
        .into_iter()
        .map(|r| LogRow {
            idx: r[0].as_deref().and_then(|v| v.parse().ok()).unwrap_or(u64::MAX),
            action: r[1].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0),
            allowed: r[2].as_deref() == Some("1"),
            reason: r[3].as_deref().and_then(|v| v.parse().ok()).unwrap_or(u16::MAX),
            principal: r[4].clone(),
            user: r[5].clone(),
            case_id: r[6].clone(),
            consent_id: r[7].clone(),
            envelope_id: r[8].clone(),
            fingerprint: r[9].clone(),
        })
        .collect()
    }

    /// Where `needle` occurs in the stored data: for SQLite the raw database and WAL files (free
    /// pages included), for PostgreSQL every row of every table rendered as text (bytea as hex).
    pub fn find_in_database(&self, needle: &[u8]) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => {
                let db = self.fed.join("relay/relay.db");
                [db.clone(), PathBuf::from(format!("{}-wal", db.display()))]
                    .iter()
                    .filter_map(|p| fs::read(p).ok().map(|bytes| (p.clone(), bytes)))
                    .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
                    .map(|(p, _)| p.display().to_string())
                    .collect()
            }
            Backend::Postgres => {
                let tables = self.query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'");
                let as_hex = hex::encode(needle);
                let as_text = String::from_utf8_lossy(needle).into_owned();
                let mut found = Vec::new();
                for t in tables.into_iter().filter_map(|r| r[0].clone()) {
                    for row in self.query(&format!("SELECT t::text FROM {t} t")) {
                        let text = row[0].clone().unwrap_or_default();
                        if text.contains(&as_text) || text.contains(&as_hex) {
                            found.push(t.clone());
                        }
                    }
                }
                found
            }
        }
    }

    /// Stops the relay (SIGTERM, then waits).
    pub fn stop(&mut self) {
        for mut other in self.others.drain(..) {
            let _ = Command::new("kill").arg("-TERM").arg(other.id().to_string()).status();
            let _ = other.wait();
        }
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One access-log row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRow {
    /// Index.
    pub idx: u64,
    /// `Action` code.
    pub action: u16,
    /// Allowed?
    pub allowed: bool,
    /// `Reason` code.
    pub reason: u16,
    /// Acting principal.
    pub principal: Option<String>,
    /// Acting user.
    pub user: Option<String>,
    /// Case.
    pub case_id: Option<String>,
    /// Consent.
    pub consent_id: Option<String>,
    /// Envelope.
    pub envelope_id: Option<String>,
    /// Certificate fingerprint.
    pub fingerprint: Option<String>,
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.stop();
        if let (Some(name), Some(base)) = (self.pg_database.take(), self.pg_base.take()) {
            db(async move {
                sqlx::any::install_default_drivers();
                if let Ok(pool) = AnyPoolOptions::new().max_connections(1).connect(&base).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    // postgres://user@host:port/db?params → …/name?params
    let (base, params) = url.split_once('?').map_or((url, None), |(b, p)| (b, Some(p)));
    let prefix = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match params {
        Some(p) => format!("{prefix}/{name}?{p}"),
        None => format!("{prefix}/{name}"),
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    b
}

/// Reads a file the test wrote.
pub fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}
