//! `samordna-bench`: how fast envelopes seal and open, against what the machine and `openssl cms`
//! can do with the same bytes, and how much memory it takes. See `docs/benchmarks.md`.
//!
//! Everything runs on a throwaway federation in a temporary directory; nothing is sent anywhere.

mod child;
mod envelope;
mod federation;
mod log;
mod measure;
mod openssl;
mod primitives;
mod relay_load;
mod report;
mod size;

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use clap::{Args, Parser, Subcommand};
use time::OffsetDateTime;

use crate::{
    child::{OnceArgs, Op},
    federation::Federation,
    measure::Throughput,
    openssl::{Openssl, PipelineRss, Speed},
    report::{Align, Table, mem, rate, ratio},
    size::ByteSize,
};

#[derive(Debug, Parser)]
#[command(name = "samordna-bench", version, about = "Benchmarks Samordna's envelope format.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Time sealing and opening envelopes of each size, with baselines and peak memory.
    Envelope(EnvelopeArgs),
    /// The access log at scale: appends, proofs, and the full recomputation over a million entries.
    Log(log::LogArgs),
    /// The relay under load: N mTLS clients upload and fetch, against bare mTLS and bare storage.
    Relay(relay_load::RelayArgs),
    /// Seal one file and print peak memory (used by `envelope`).
    #[command(hide = true)]
    SealOnce(OnceArgs),
    /// Open one envelope and print peak memory (used by `envelope`).
    #[command(hide = true)]
    OpenOnce(OnceArgs),
}

#[derive(Debug, Args)]
struct EnvelopeArgs {
    /// Payload size, e.g. 1MiB, 100MiB, 1GiB; repeat the option for several sizes.
    #[arg(long = "size", value_name = "SIZE", default_values = ["1MiB", "100MiB"])]
    sizes: Vec<ByteSize>,
    /// Timed repetitions of each measurement; best and median are reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    reps: u32,
    /// Print Markdown tables instead of aligned text.
    #[arg(long)]
    markdown: bool,
    /// Where to put payloads, envelopes and spool files (default: the system's temporary directory).
    /// Needs room for about four times the largest size.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Skip the `openssl cms` baseline even if `openssl` is installed.
    #[arg(long)]
    no_openssl: bool,
    /// Keep the working directory (the federation) for profiling a single run with the hidden
    /// `seal-once` and `open-once` subcommands; its path is printed on standard error.
    #[arg(long)]
    keep: bool,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Envelope(args) => envelope_bench(&args),
        Command::Log(args) => {
            let work = tempfile::Builder::new().prefix("samordna-bench-log-").tempdir()?;
            log::run(&args, work.path(), args.markdown)
        }
        Command::Relay(args) => relay_load::run(&args),
        Command::SealOnce(args) => child::run_once(Op::Seal, &args),
        Command::OpenOnce(args) => child::run_once(Op::Open, &args),
    }
}

/// The openssl figures for one size.
#[derive(Debug)]
struct OpensslResult {
    seal: Throughput,
    open: Throughput,
    seal_rss: Option<PipelineRss>,
    open_rss: Option<PipelineRss>,
}

/// Everything measured at one payload size.
#[derive(Debug)]
struct SizeResult {
    size: ByteSize,
    seal: Throughput,
    open: Throughput,
    copy: Throughput,
    seal_rss: Option<u64>,
    open_rss: Option<u64>,
    openssl: Option<OpensslResult>,
}

macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("samordna-bench: {}", format_args!($($arg)*)) };
}

fn timed(reps: u32, mut f: impl FnMut(u32) -> Result<Duration>) -> Result<Vec<Duration>> {
    (0..reps).map(&mut f).collect()
}

fn envelope_bench(args: &EnvelopeArgs) -> Result<()> {
    let started = Instant::now();
    let machine = Machine::probe();
    let mut builder = tempfile::Builder::new();
    builder.prefix("samordna-bench-");
    // The federation's private keys are throwaway, but still nobody else's business.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = builder
        .tempdir_in(&base)
        .with_context(|| format!("creating a working directory in {}", base.display()))?;
    let fixture = work.path().join("fixture");
    fs::create_dir(&fixture)?;
    let now = OffsetDateTime::now_utc();
    federation::generate(&fixture, now)?;
    let fed = Federation::load(&fixture, now)?;
    let ossl = if args.no_openssl { None } else { Openssl::detect(&fixture)? };
    if ossl.is_none() && !args.no_openssl {
        progress!("no `openssl` command found; the openssl baseline is skipped");
    }

    let mut sizes = args.sizes.clone();
    sizes.sort();
    sizes.dedup();
    let largest = sizes.last().context("no size given")?.0;
    // The primitives are measured before and after the file runs and the rounds pooled, so that
    // a burst of other work on the machine does not set the limit the envelope is compared with.
    progress!("primitives: ring AES-256-GCM and SHA-256 on one core (first round)");
    let mut primitive_samples = primitives::Samples::default();
    primitives::measure(largest, args.reps, &mut primitive_samples)?;
    let floor =
        child::peak_rss(Op::Seal, &fixture, Path::new("/nonexistent"), Path::new("/nonexistent"), true)?;

    let mut results = Vec::new();
    for &size in &sizes {
        let dir = work.path().join(format!("size-{}", size.0));
        fs::create_dir(&dir)?;
        results.push(bench_size(&fed, &fixture, ossl.as_ref(), &dir, size, args.reps)?);
        fs::remove_dir_all(&dir)?;
    }
    progress!("primitives: ring AES-256-GCM and SHA-256 on one core (second round)");
    primitives::measure(largest, args.reps, &mut primitive_samples)?;
    let limits = primitive_samples.limits();
    let speed = match &ossl {
        Some(_) => {
            progress!("openssl speed -evp sha256 and aes-256-gcm, one core");
            Some(openssl::speed()?)
        }
        None => None,
    };

    let out = render(args, &machine, ossl.as_ref(), floor, &limits, speed, &results, started.elapsed());
    print!("{out}");
    if args.keep {
        progress!("kept the working directory {}", work.keep().display());
    }
    Ok(())
}

fn bench_size(
    fed: &Federation,
    fixture: &Path,
    ossl: Option<&Openssl>,
    dir: &Path,
    size: ByteSize,
    reps: u32,
) -> Result<SizeResult> {
    let payload = dir.join("payload.bin");
    progress!("{size}: writing the payload");
    let payload_sha256 = measure::write_payload(&payload, size.0)?;

    progress!("{size}: file copy ×{reps}");
    let copy = timed(reps, |_| {
        let dst = dir.join("copy.bin");
        let t = measure::copy_file(&payload, &dst)?;
        fs::remove_file(dst)?;
        Ok(t)
    })?;

    progress!("{size}: seal ×{reps}");
    let envelope = dir.join("envelope.bin");
    let seal = timed(reps, |_| {
        if envelope.exists() {
            fs::remove_file(&envelope)?;
        }
        envelope::seal_file(fed, &payload, &envelope, dir)
    })?;

    progress!("{size}: open ×{reps}");
    let opened = dir.join("opened.bin");
    let open = timed(reps, |rep| {
        let (t, len) = envelope::open_file(fed, &envelope, &opened)?;
        ensure!(len == size.0, "the envelope's manifest says {len} bytes, not {}", size.0);
        if rep == 0 {
            ensure!(
                measure::file_sha256(&opened)? == payload_sha256,
                "the opened document differs from the payload"
            );
        }
        fs::remove_file(&opened)?;
        Ok(t)
    })?;

    progress!("{size}: peak memory of seal and open in child processes");
    let child_envelope = dir.join("child-envelope.bin");
    let seal_rss = child::peak_rss(Op::Seal, fixture, &payload, &child_envelope, false)?;
    fs::remove_file(&child_envelope)?;
    let open_rss = child::peak_rss(Op::Open, fixture, &envelope, &opened, false)?;
    fs::remove_file(&opened)?;
    fs::remove_file(&envelope)?;

    let openssl = match ossl {
        None => None,
        Some(o) => Some(bench_openssl(o, dir, &payload, payload_sha256, size, reps)?),
    };

    Ok(SizeResult {
        size,
        seal: Throughput::from_samples(size.0, &seal),
        open: Throughput::from_samples(size.0, &open),
        copy: Throughput::from_samples(size.0, &copy),
        seal_rss,
        open_rss,
        openssl,
    })
}

fn bench_openssl(
    o: &Openssl,
    dir: &Path,
    payload: &Path,
    payload_sha256: [u8; 32],
    size: ByteSize,
    reps: u32,
) -> Result<OpensslResult> {
    let p7m = dir.join("openssl.p7m");
    let opened = dir.join("openssl-opened.bin");
    progress!("{size}: openssl sign | encrypt ×{reps}");
    let seal = timed(reps, |_| {
        if p7m.exists() {
            fs::remove_file(&p7m)?;
        }
        o.seal(payload, &p7m, dir)
    })?;
    progress!("{size}: openssl decrypt | verify ×{reps}");
    let open = timed(reps, |rep| {
        let t = o.open(&p7m, &opened, dir)?;
        if rep == 0 {
            ensure!(measure::file_sha256(&opened)? == payload_sha256, "openssl's opened document differs");
        }
        fs::remove_file(&opened)?;
        Ok(t)
    })?;
    progress!("{size}: openssl peak memory");
    let scratch = dir.join("openssl-rss.p7m");
    let seal_rss = o.seal_rss(payload, &scratch, dir)?;
    fs::remove_file(&scratch)?;
    let open_rss = o.open_rss(&p7m, &opened, dir)?;
    fs::remove_file(&opened)?;
    fs::remove_file(&p7m)?;
    Ok(OpensslResult {
        seal: Throughput::from_samples(size.0, &seal),
        open: Throughput::from_samples(size.0, &open),
        seal_rss,
        open_rss,
    })
}

/// What the results were measured on.
#[derive(Debug)]
struct Machine {
    cpus: usize,
    model: String,
    flags: Vec<(&'static str, bool)>,
    /// The 1-minute load average when the run started: other work on the machine skews the figures.
    load: Option<String>,
}

impl Machine {
    fn probe() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
        };
        let model = field("model name").unwrap_or_else(|| "unknown CPU".into());
        let present = field("flags").unwrap_or_default();
        let present: Vec<&str> = present.split_whitespace().collect();
        // The ones ring's AES-GCM and SHA-256 (and openssl's) pick their code paths by.
        let flags = ["aes", "pclmulqdq", "vaes", "vpclmulqdq", "avx2", "avx512f", "sha_ni"]
            .into_iter()
            .map(|f| (f, present.contains(&f)))
            .collect();
        let load = fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned));
        Machine { cpus, model, flags, load }
    }

    fn describe(&self) -> String {
        let flags: Vec<String> =
            self.flags.iter().map(|(f, on)| if *on { f.to_string() } else { format!("no {f}") }).collect();
        format!(
            "{} ({} CPUs online); flags: {}; 1-minute load average at start: {}",
            self.model,
            self.cpus,
            flags.join(", "),
            self.load.as_deref().unwrap_or("n/a")
        )
    }
}

fn rss_pair(r: Option<PipelineRss>) -> String {
    r.map_or_else(|| "n/a".into(), |r| format!("{} + {}", mem(r.first), mem(r.second)))
}

#[allow(clippy::too_many_arguments)]
fn render(
    args: &EnvelopeArgs,
    machine: &Machine,
    ossl: Option<&Openssl>,
    floor: Option<u64>,
    limits: &primitives::Limits,
    speed: Option<Speed>,
    results: &[SizeResult],
    elapsed: Duration,
) -> String {
    let reps = args.reps;
    let mut notes = vec![
        format!("machine: {}", machine.describe()),
        format!(
            "build: {}; timed repetitions of each measurement: {}; files in the page cache, not flushed",
            if cfg!(debug_assertions) { "DEBUG (numbers are meaningless; use --release)" } else { "release" },
            reps
        ),
        format!("openssl: {}", ossl.map_or("not measured", |o| o.version.as_str())),
        format!(
            "peak RSS of a child process that loads the federation and does nothing else: {}",
            floor.map_or_else(|| "n/a".into(), mem)
        ),
        format!(
            "primitives: the payload's first {} in memory, {} pushed through per repetition in 64 KiB chunks, \
             one core, {} repetitions (half before the file runs, half after)",
            ByteSize(limits.window),
            ByteSize(limits.total),
            limits.reps
        ),
        format!("total run time: {:.1} s", elapsed.as_secs_f64()),
    ];
    if cfg!(debug_assertions) {
        notes.insert(0, "WARNING: debug build".into());
    }

    let mut main = Table::new(
        format!("Throughput in MiB/s of document (best and median of {reps}); peak resident memory"),
        &[
            ("size", Align::Left),
            ("measurement", Align::Left),
            ("best MiB/s", Align::Right),
            ("median MiB/s", Align::Right),
            ("peak RSS", Align::Right),
        ],
    );
    let na = || "n/a".to_owned();
    for r in results {
        let s = r.size.to_string();
        main.row(vec![
            s.clone(),
            "Samordna seal".into(),
            rate(r.seal.best),
            rate(r.seal.median),
            r.seal_rss.map_or_else(na, mem),
        ]);
        main.row(vec![
            s.clone(),
            "Samordna open".into(),
            rate(r.open.best),
            rate(r.open.median),
            r.open_rss.map_or_else(na, mem),
        ]);
        main.row(vec![
            s.clone(),
            "file copy, 64 KiB read/write".into(),
            rate(r.copy.best),
            rate(r.copy.median),
            "—".into(),
        ]);
        if let Some(o) = &r.openssl {
            main.row(vec![
                s.clone(),
                "openssl cms -sign | -encrypt".into(),
                rate(o.seal.best),
                rate(o.seal.median),
                rss_pair(o.seal_rss),
            ]);
            main.row(vec![
                s,
                "openssl cms -decrypt | -verify".into(),
                rate(o.open.best),
                rate(o.open.median),
                rss_pair(o.open_rss),
            ]);
        }
    }
    for (name, t) in [
        ("ring AES-256-GCM seal", limits.aes_gcm_seal),
        ("ring SHA-256", limits.sha256),
        ("seal path: SHA-256 + AES-GCM + SHA-256", limits.seal_path),
        ("open path: SHA-256 + AES-GCM open + SHA-256", limits.open_path),
    ] {
        main.row(vec!["any".into(), format!("{name}, 1 core"), rate(t.best), rate(t.median), "—".into()]);
    }
    if let Some(s) = speed {
        for (name, v) in [
            ("openssl speed -evp sha256", s.sha256),
            ("openssl speed -evp aes-256-gcm", s.aes_gcm),
            ("openssl speed path: 2 × SHA-256 + AES-GCM", s.path()),
        ] {
            main.row(vec!["any".into(), format!("{name}, 1 core"), rate(v), "—".into(), "—".into()]);
        }
    }

    let mut ratios = Table::new(
        "Samordna's best MiB/s as a ratio of each baseline's best",
        &[
            ("size", Align::Left),
            ("operation", Align::Left),
            ("MiB/s", Align::Right),
            ("÷ primitive path", Align::Right),
            ("÷ file copy", Align::Right),
            ("÷ openssl cms", Align::Right),
            ("÷ openssl speed path", Align::Right),
        ],
    );
    for r in results {
        for (op, ours, limit, theirs) in [
            ("seal", r.seal.best, limits.seal_path.best, r.openssl.as_ref().map(|o| o.seal.best)),
            ("open", r.open.best, limits.open_path.best, r.openssl.as_ref().map(|o| o.open.best)),
        ] {
            ratios.row(vec![
                r.size.to_string(),
                op.into(),
                rate(ours),
                ratio(ours, limit),
                ratio(ours, r.copy.best),
                theirs.map_or_else(na, |t| ratio(ours, t)),
                speed.map_or_else(na, |s| ratio(ours, s.path())),
            ]);
        }
    }

    if args.markdown {
        let mut out: String = notes.iter().map(|n| format!("- {n}\n")).collect();
        out += &format!("\n{}\n{}", main.markdown(), ratios.markdown());
        out
    } else {
        let mut out: String = notes.iter().map(|n| format!("{n}\n")).collect();
        out += &format!("\n{}\n{}", main.text(), ratios.text());
        out
    }
}
