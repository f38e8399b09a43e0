//! Helpers shared by the integration tests: the real binaries, built once per test process, and
//! external commands (such as `openssl`) run with a time limit.

pub mod api;
pub mod browser;
pub mod cli;
pub mod faults;
pub mod pgcluster;
pub mod relay;
pub mod smtp;
pub mod web;

use std::{
    ffi::OsStr,
    io::Read,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
    thread,
    time::{Duration, Instant},
};

/// Paths of the real `samordna-relay` and `samordna` binaries.
#[derive(Debug)]
pub struct Binaries {
    /// `samordna-relay`.
    pub relay: PathBuf,
    /// `samordna`.
    pub client: PathBuf,
}

/// Builds the workspace's binaries (once per test process) and returns their paths.
///
/// Integration tests live in their own package, so Cargo does not hand them the binaries'
/// paths; building them here makes `cargo test` alone enough, and never runs a stale binary.
pub fn binaries() -> &'static Binaries {
    static BINS: OnceLock<Binaries> = OnceLock::new();
    BINS.get_or_init(|| {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--bins", "-p", "samordna-relay", "-p", "samordna"])
            .current_dir(&workspace)
            .status()
            .expect("run cargo build for the binaries");
        assert!(status.success(), "cargo build of the binaries failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let dir = target.join("debug");
        Binaries { relay: dir.join("samordna-relay"), client: dir.join("samordna") }
    })
}

/// Runs a command and returns its output, printing it when it fails so test logs explain why.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    report_failure(cmd, &out);
    out
}

/// How long one external command of a test may take before it is killed. Generous: the slowest
/// (a bash script making a whole federation, RSA key generation) take a second or two.
pub const COMMAND_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Like [`run`], but with no standard input (so a command that would prompt fails instead of
/// waiting), and bounded in time: after `limit` the command and everything it started are killed
/// and the test panics.
pub fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    // Its own process group, so that a timeout also kills what a shell script started.
    cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                // A read error only shortens the diagnostic output.
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmd:?} did not finish within {limit:?} and was killed");
            }
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
    };
    let out = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    report_failure(cmd, &out);
    out
}

/// Runs `openssl ARGS` in `dir` with [`run_within`] and [`COMMAND_TIME_LIMIT`].
pub fn openssl<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_within(Command::new("openssl").args(args).current_dir(dir), COMMAND_TIME_LIMIT)
}

fn report_failure(cmd: &Command, out: &Output) {
    if !out.status.success() {
        eprintln!(
            "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
