//! A private PostgreSQL server for one test, which the test may stop and start at will without
//! disturbing the shared test server other tests use. Made with the distribution's `initdb` and
//! `pg_ctl` (Debian's `postgresql` package), run as the `postgres` user when the tests run as root.

use std::{
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{faults::executable, run_within};

/// How long one `initdb` or `pg_ctl` may take.
const PG_COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// A PostgreSQL server in a temporary directory, on a free loopback port, with trust
/// authentication; stopped and removed when dropped.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    running: bool,
}

/// The directory with `initdb` and `pg_ctl`, if PostgreSQL is installed.
pub fn pg_bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| executable(&b.join("initdb")) && executable(&b.join("pg_ctl")))
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    // The tests crate has no libc binding; `id -u` answers the same question.
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgCluster {
    /// Makes and starts a server, or says why it cannot (no PostgreSQL binaries, no `postgres`
    /// user to run them as root).
    pub fn start() -> Result<PgCluster, String> {
        let bin = pg_bin_dir()
            .ok_or("PostgreSQL's initdb and pg_ctl are not installed under /usr/lib/postgresql")?;
        let root = is_root();
        if root && !Command::new("id").arg("postgres").output().is_ok_and(|o| o.status.success()) {
            return Err("running as root, and there is no postgres user to run PostgreSQL as".into());
        }
        let dir = tempfile::Builder::new().prefix("samordna-pg-").tempdir().map_err(|e| e.to_string())?;
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err("cannot hand the cluster directory to the postgres user".into());
            }
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        let port = free_port();
        let mut cluster = PgCluster { dir, bin, port, running: false };
        let out = run_within(
            cluster
                .as_postgres(&cluster.bin.join("initdb"))
                .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D"])
                .arg(cluster.data()),
            PG_COMMAND_LIMIT,
        );
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        cluster.start_server()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// The URL of the `postgres` database (tests make their own databases there).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_server(&mut self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        let out = run_within(
            self.as_postgres(&self.bin.join("pg_ctl"))
                .args(["-w", "-t", "30", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .args(["-o", &options, "start"]),
            PG_COMMAND_LIMIT,
        );
        if !out.status.success() {
            return Err(format!(
                "pg_ctl start failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.server_log()
            ));
        }
        self.running = true;
        Ok(())
    }

    /// `pg_ctl stop` in `mode` (`fast`: connections are ended; `immediate`: as a crash).
    pub fn stop_server(&mut self, mode: &str) {
        let out = run_within(
            self.as_postgres(&self.bin.join("pg_ctl"))
                .args(["-w", "-t", "30", "-m", mode, "-D"])
                .arg(self.data())
                .arg("stop"),
            PG_COMMAND_LIMIT,
        );
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
        self.running = false;
    }

    /// The server's own log.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = run_within(
                self.as_postgres(&self.bin.join("pg_ctl"))
                    .args(["-w", "-t", "30", "-m", "immediate", "-D"])
                    .arg(self.data())
                    .arg("stop"),
                PG_COMMAND_LIMIT,
            );
        }
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}
