//! Peak memory: each seal or open runs once in a child process of this binary (the hidden
//! `seal-once` and `open-once` subcommands), which prints its own high-water mark of resident memory
//! (`VmHWM` in `/proc/self/status`) before exiting. A fresh process per measurement, so nothing the
//! parent allocated (payload windows, earlier runs) is counted.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use time::OffsetDateTime;

use crate::{envelope, federation::Federation};

const MARKER: &str = "vmhwm_kib=";

/// Arguments of the hidden `seal-once` and `open-once` subcommands.
#[derive(Debug, Args)]
pub struct OnceArgs {
    /// The directory the parent wrote the federation to.
    #[arg(long)]
    fixture: PathBuf,
    /// The document (seal) or the envelope (open).
    #[arg(long)]
    input: PathBuf,
    /// The envelope (seal) or the document (open).
    #[arg(long)]
    output: PathBuf,
    /// Load the federation and stop: the process's own floor.
    #[arg(long)]
    setup_only: bool,
}

/// Which operation a child performs.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Seal,
    Open,
}

impl Op {
    fn subcommand(self) -> &'static str {
        match self {
            Op::Seal => "seal-once",
            Op::Open => "open-once",
        }
    }
}

/// The body of `seal-once` / `open-once`.
pub fn run_once(op: Op, args: &OnceArgs) -> Result<()> {
    let fed = Federation::load(&args.fixture, OffsetDateTime::now_utc())?;
    if !args.setup_only {
        match op {
            Op::Seal => {
                let spool_dir = args.output.parent().unwrap_or(Path::new("."));
                envelope::seal_file(&fed, &args.input, &args.output, spool_dir)?;
            }
            Op::Open => {
                envelope::open_file(&fed, &args.input, &args.output)?;
            }
        }
    }
    match vmhwm_kib() {
        Some(kib) => println!("{MARKER}{kib}"),
        None => println!("{MARKER}unknown"),
    }
    Ok(())
}

/// This process's peak resident set size in KiB, where Linux reports it.
fn vmhwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().strip_suffix("kB")?.trim().parse().ok()
}

/// Runs `op` once in a child process and returns its peak RSS in KiB (`None` where the platform
/// does not report it).
pub fn peak_rss(
    op: Op,
    fixture: &Path,
    input: &Path,
    output: &Path,
    setup_only: bool,
) -> Result<Option<u64>> {
    let exe = std::env::current_exe().context("finding this program to re-run it")?;
    let mut cmd = Command::new(exe);
    cmd.arg(op.subcommand())
        .arg("--fixture")
        .arg(fixture)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output);
    if setup_only {
        cmd.arg("--setup-only");
    }
    let out = cmd.output().with_context(|| format!("running {}", op.subcommand()))?;
    ensure!(
        out.status.success(),
        "{} failed ({}): {}",
        op.subcommand(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(value) = stdout.lines().find_map(|l| l.strip_prefix(MARKER)) else {
        bail!("{} did not report its memory use", op.subcommand());
    };
    Ok(value.parse().ok())
}
