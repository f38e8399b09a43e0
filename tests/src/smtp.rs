//! A real SMTP server for tests: Debian's `python3-aiosmtpd` (run with `/usr/bin/python3`, which
//! sees Debian's packages), requiring STARTTLS with a certificate from a test CA, delivering into a
//! Maildir the test reads.

use std::{
    fs,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use samordna_core::devpki::DevCa;

/// A running aiosmtpd.
#[derive(Debug)]
pub struct SmtpServer {
    dir: tempfile::TempDir,
    /// The port it listens on (kept across restarts).
    pub port: u16,
    child: Option<Child>,
}

/// Whether Debian's aiosmtpd is usable here.
pub fn available() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl SmtpServer {
    /// Starts a server on a free loopback port, or returns `None` when aiosmtpd is missing (fails
    /// instead when `SAMORDNA_REQUIRE_TEST_TOOLS` is set).
    pub fn start() -> Option<SmtpServer> {
        if !available() {
            assert!(
                std::env::var_os("SAMORDNA_REQUIRE_TEST_TOOLS").is_none(),
                "python3-aiosmtpd is required (apt-get install python3-aiosmtpd)"
            );
            eprintln!("skipped: /usr/bin/python3 has no aiosmtpd (apt-get install python3-aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let now = time::OffsetDateTime::now_utc();
        let ca = DevCa::new("SMTP test CA", now - time::Duration::days(1), now + time::Duration::days(30))
            .expect("ca");
        let cert = ca
            .issue_server(
                &["localhost", "127.0.0.1"],
                now - time::Duration::days(1),
                now + time::Duration::days(30),
            )
            .expect("cert");
        fs::write(dir.path().join("ca.pem"), &ca.root().cert_pem).expect("ca");
        fs::write(dir.path().join("cert.pem"), &cert.cert_pem).expect("cert");
        fs::write(dir.path().join("key.pem"), &cert.key_pem).expect("key");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut server = SmtpServer { dir, port, child: None };
        server.launch();
        Some(server)
    }

    fn launch(&mut self) {
        let d = self.dir.path();
        let log = fs::OpenOptions::new().create(true).append(true).open(d.join("aiosmtpd.log")).expect("log");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--tlscert")
            .arg(d.join("cert.pem"))
            .arg("--tlskey")
            .arg(d.join("key.pem"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(d.join("maildir"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start: {}",
                fs::read_to_string(d.join("aiosmtpd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The CA that issued the server's certificate (for the relay's `smtp.ca`).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The `[smtp]` section for a relay configuration (small batch and retry times for tests).
    pub fn relay_config(&self) -> String {
        format!(
            "\n[smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"starttls\"\nfrom = \"Samordna <noreply@samordna.example>\"\nca = \"{}\"\nbatch_seconds = 1\nretry_base_seconds = 1\nretry_max_seconds = 2\n",
            self.port,
            self.ca().display()
        )
    }

    /// Stops the server; mail sent meanwhile fails to connect.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts it again on the same port, with the same Maildir.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Every message delivered so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let md = self.dir.path().join("maildir");
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = fs::read_dir(md.join(sub)) {
                for e in entries.flatten() {
                    if let Ok(text) = fs::read_to_string(e.path()) {
                        out.push(text);
                    }
                }
            }
        }
        out
    }

    /// Waits until at least `n` messages arrived (up to `limit`), then returns them all.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A header's value in a raw message (unfolded), if present.
pub fn header(message: &str, name: &str) -> Option<String> {
    let mut lines = message.split("\r\n").flat_map(|l| l.split('\n'));
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut value: Option<String> = None;
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = value.as_mut() {
            if line.starts_with(' ') || line.starts_with('\t') {
                v.push_str(line.trim_start());
                continue;
            }
            return value;
        }
        if line.to_ascii_lowercase().starts_with(&prefix) {
            value = Some(line[prefix.len()..].trim().to_owned());
        }
    }
    value
}
