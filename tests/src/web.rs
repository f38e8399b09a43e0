//! `samordna web` for a test: the real binary on a loopback port, acting with a profile of the
//! test's federation, and the one-time login link it prints.

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use crate::{binaries, browser::free_port};

/// How long `samordna web` may take to print its link.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A running `samordna web`; killed on drop.
#[derive(Debug)]
pub struct TestWeb {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The one-time link the command printed (`…/?token=HEX`).
    pub login_url: String,
    /// The token in it.
    pub token: String,
    /// Where its standard output and error go (for the test's failure messages).
    pub log_path: PathBuf,
    child: Child,
}

impl TestWeb {
    /// Starts `samordna web --profile PROFILE --listen 127.0.0.1:PORT` on a free port and waits
    /// for its first line, `Samordna web: öppna http://127.0.0.1:PORT/?token=HEX`.
    pub fn start(profile: &Path) -> TestWeb {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let name = profile.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let log_path = profile.with_file_name(format!("{name}-web-{port}.log"));
        let stderr = fs::File::create(&log_path).expect("web log file");
        let mut child = Command::new(&binaries().client)
            .arg("web")
            .arg("--profile")
            .arg(profile)
            .arg("--listen")
            .arg(&listen)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start samordna web");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let copy_to = log_path.clone();
        // Reads the first line for the test, then keeps the pipe drained into the log.
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first.and_then(Result::ok));
            let mut log = fs::OpenOptions::new().append(true).open(copy_to).ok();
            for line in lines.map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        let mut web = TestWeb {
            origin: format!("http://{listen}"),
            login_url: String::new(),
            token: String::new(),
            log_path,
            child,
        };
        let line = match rx.recv_timeout(START_LIMIT) {
            Ok(Some(line)) => line,
            Ok(None) => panic!("`samordna web` printed nothing and exited:\n{}", web.log()),
            Err(_) => panic!("`samordna web` printed no link within {START_LIMIT:?}:\n{}", web.log()),
        };
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no link in the first line of `samordna web`: {line:?}"));
        assert!(
            line.starts_with("Samordna web: öppna ") && url.starts_with(&format!("{}/?token=", web.origin)),
            "unexpected first line of `samordna web`: {line:?}"
        );
        let token = url.rsplit_once("token=").map(|(_, t)| t.to_owned()).unwrap_or_default();
        assert!(
            token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
            "the token is not 32 random bytes in hex: {token:?}"
        );
        web.login_url = url.to_owned();
        web.token = token;
        web
    }

    /// `origin` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// What the command wrote so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A plain HTTP/1.1 GET of `path` with no cookie: (status code, response head and body).
    pub fn get_without_cookie(&self, path: &str) -> (u16, String) {
        let addr = self.origin.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect to samordna web");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("read timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
        let mut response = Vec::new();
        s.read_to_end(&mut response).expect("read the response");
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
        (status, text)
    }
}

impl Drop for TestWeb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
