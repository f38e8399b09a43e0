//! `samordna-bench relay`: the real relay under load, with the two baselines that bound it.
//!
//! N concurrent clients, each on its own keep-alive mTLS connection, upload envelopes sealed
//! before timing and then fetch them as the recipient, through the real `samordna-relay` binary
//! on SQLite and on PostgreSQL. In the same run:
//!
//! - the transport limit: a bare mTLS endpoint with the relay's own TLS configuration that reads
//!   and discards the same bytes ([`bare`]);
//! - the storage limit: the rows the relay writes for each upload, one durable transaction each,
//!   from as many writers, with the relay's own store code ([`storage`]).
//!
//! One large envelope (1 GiB) goes through the relay on SQLite for time and peak memory
//! ([`large`]). See `docs/benchmarks.md`, "Benchmarks: the relay under load".

mod bare;
mod instance;
mod large;
mod load;
mod procfs;
mod storage;

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use samordna_client::{
    profile::Profile,
    relay::{RelayClient, tls::client_config},
};
use samordna_core::{
    CaseId, ConsentId, ContentKind,
    api::OpenCase,
    attestation::KeyAttestation,
    consent::{ConsentForm, ConsentMetadata, ConsentType, GrantorRole, Purpose, SignedConsent, SubjectClass},
    envelope::{Party, RecipientKey, RecipientSecret},
};
use samordna_relay::store::Durability;
use time::OffsetDateTime;

use self::{
    bare::BareServer,
    instance::{Backend, Relay},
    load::{Op, Phase, SealFor, Sealed},
};
use crate::{
    report::{Align, Table, mem, ratio},
    size::{ByteSize, GIB, KIB, MIB},
};

/// What to run.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    /// Concurrent clients, each with its own keep-alive mTLS connection (and, for the storage
    /// baseline, as many concurrent writers).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    clients: u32,
    /// Longest each timed phase runs, in seconds; a phase also ends when its envelopes run out.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Payload sizes of the envelopes, comma-separated.
    #[arg(long, value_delimiter = ',', default_values = ["4KiB", "64KiB", "4MiB"])]
    sizes: Vec<ByteSize>,
    /// Databases to run the relay on, comma-separated.
    #[arg(long, value_delimiter = ',', default_values = ["sqlite", "postgres"])]
    backends: Vec<Backend>,
    /// The PostgreSQL server; a database is created on it for the run and dropped afterwards.
    #[arg(
        long,
        env = "SAMORDNA_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Payload of the single large envelope sent through the relay on SQLite.
    #[arg(long, default_value = "1GiB")]
    large: ByteSize,
    /// Skip the large envelope (it needs about five times its size of free disk).
    #[arg(long)]
    no_large: bool,
    /// A smoke run: 2-second phases, at most 8 clients, 4 KiB envelopes only, an 8 MiB large envelope.
    #[arg(long)]
    quick: bool,
    /// Print Markdown tables instead of aligned text.
    #[arg(long)]
    markdown: bool,
    /// The `samordna-relay` binary (default: the one beside this executable).
    #[arg(long, value_name = "PATH")]
    relay_bin: Option<PathBuf>,
    /// Where to put the federation, the SQLite databases and the large envelope (default: the
    /// system's temporary directory). Its disk is the one measured.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The run's settings after `--quick`.
#[derive(Debug)]
struct Settings {
    clients: usize,
    limit: Duration,
    sizes: Vec<ByteSize>,
    backends: Vec<Backend>,
    large: Option<u64>,
    /// Envelopes sealed per second of phase, at most.
    rate_cap: u64,
}

impl Settings {
    fn new(args: &RelayArgs) -> Self {
        let mut sizes = args.sizes.clone();
        let mut backends = args.backends.clone();
        backends.sort();
        backends.dedup();
        let mut s = Settings {
            clients: args.clients as usize,
            limit: Duration::from_secs(args.seconds),
            sizes: Vec::new(),
            backends,
            large: (!args.no_large).then_some(args.large.0),
            rate_cap: 2500,
        };
        if args.quick {
            s.clients = s.clients.min(8);
            s.limit = s.limit.min(Duration::from_secs(2));
            sizes = vec![ByteSize(4 * KIB)];
            s.large = s.large.map(|l| l.min(8 * MIB));
            s.rate_cap = 500;
        }
        sizes.sort();
        sizes.dedup();
        s.sizes = sizes;
        s
    }

    /// Envelopes to seal for one size: enough for the phase at the rate cap, within 320 MiB of
    /// memory, and at least two per client.
    fn pool_size(&self, size: ByteSize) -> usize {
        let by_time = self.rate_cap * self.limit.as_secs();
        let by_memory = 320 * MIB / (size.0 + 4 * KIB);
        usize::try_from(by_time.min(by_memory)).unwrap_or(usize::MAX).max(2 * self.clients)
    }
}

fn say(msg: impl std::fmt::Display) {
    eprintln!("samordna-bench relay: {msg}");
}

/// Runs the benchmark and prints its report.
pub fn run(args: &RelayArgs) -> Result<()> {
    let settings = Settings::new(args);
    if settings.sizes.is_empty() {
        bail!("--sizes names no size");
    }
    let relay_bin = instance::relay_binary(args.relay_bin.as_deref())?;
    let mut builder = tempfile::Builder::new();
    builder.prefix("samordna-bench-relay-");
    // The federation's private keys are throwaway, but still nobody else's business.
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = builder
        .tempdir_in(&base)
        .with_context(|| format!("creating a working directory in {}", base.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(run_async(&settings, &args.postgres_url, &relay_bin, work.path()))?;
    print!("{}", report.render(&settings, args.markdown));
    let errors = report.errors();
    if errors > 0 {
        bail!("{errors} requests or transactions failed; the figures above are not valid");
    }
    Ok(())
}

/// The people, keys, case and consent every relay of the run is set up with.
struct World {
    sender: Profile,
    recipient: Profile,
    attestation: KeyAttestation,
    recipient_key: RecipientKey,
    case_id: CaseId,
    consent: SignedConsent,
    consent_id: ConsentId,
}

fn random16() -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
    Ok(b)
}

impl World {
    fn new(fed: &Path) -> Result<World> {
        let sender = Profile::load(&fed.join("profiles/municipality"))?;
        let recipient = Profile::load(&fed.join("profiles/region"))?;
        let now = OffsetDateTime::now_utc();
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(&random16()?);
        seed[16..].copy_from_slice(&random16()?);
        let secret = RecipientSecret::from_bytes(seed);
        let day = time::Duration::days(1);
        let attestation =
            KeyAttestation::create(recipient.signer(), &secret.public_key(), now - day, now + 30 * day, now)?;
        let recipient_key = RecipientKey::from(&attestation.verify(recipient.trust(), now)?);
        let case_id = CaseId::from_random_bytes(random16()?);
        let consent_id = ConsentId::from_random_bytes(random16()?);
        let me = sender.identity();
        let metadata = ConsentMetadata {
            record_type: ConsentType::Consent,
            version: 1,
            consent_id: consent_id.clone(),
            case_id: case_id.clone(),
            parties: vec![sender.principal().clone(), recipient.principal().clone()],
            kinds: vec![ContentKind::Plan, ContentKind::Attachment],
            purpose: Purpose::Sip,
            valid_from: now - day,
            valid_until: now + 180 * day,
            subject: SubjectClass::Adult,
            grantors: vec![GrantorRole::Individual],
            custodial_guardians: None,
            child_view_heard: false,
            form: ConsentForm::Written,
            recorded_by: Party { principal: me.principal.clone(), user: me.hsa_id.clone() },
            supersedes: None,
        };
        let consent = SignedConsent::sign(&metadata, sender.signer(), now)?;
        Ok(World { sender, recipient, attestation, recipient_key, case_id, consent, consent_id })
    }

    fn seal_for(&self) -> SealFor<'_> {
        SealFor {
            signer: self.sender.signer(),
            recipient: self.recipient_key.clone(),
            case_id: self.case_id.clone(),
            consent_id: self.consent_id.clone(),
        }
    }

    fn tls(profile: &Profile) -> Result<rustls::ClientConfig> {
        let (chain, key) = profile.tls_client_auth();
        Ok(client_config(profile.trust(), chain, key)?)
    }

    /// The recipient's key published, the case opened and the consent recorded, through the API.
    async fn set_up(&self, url: &str) -> Result<(RelayClient, RelayClient)> {
        let sender = RelayClient::with_tls(url, Self::tls(&self.sender)?)?;
        let recipient = RelayClient::with_tls(url, Self::tls(&self.recipient)?)?;
        recipient.publish_key(&self.attestation).await.context("publishing the recipient's key")?;
        let open =
            OpenCase { case_id: self.case_id.clone(), lead_principal: self.sender.principal().clone() };
        sender.open_case(&open).await.context("opening the case")?;
        sender.record_consent(&self.consent).await.context("recording the consent")?;
        Ok((sender, recipient))
    }
}

/// Upload and fetch through one server, at one size.
#[derive(Debug)]
struct Pair {
    upload: Phase,
    fetch: Phase,
}

/// Everything measured on one backend.
#[derive(Debug)]
struct BackendResult {
    backend: Backend,
    relay: Vec<(ByteSize, Pair)>,
    /// One `fsync` per transaction: the baseline.
    storage: Vec<(ByteSize, Phase)>,
    /// SQLite only: the relay's group commit, for comparison.
    storage_group: Vec<(ByteSize, Phase)>,
}

#[derive(Debug)]
struct Report {
    machine: Vec<String>,
    notes: Vec<String>,
    bare: Vec<(ByteSize, Pair)>,
    backends: Vec<BackendResult>,
    large: Option<large::Large>,
    pools: Vec<(ByteSize, usize, u64)>,
    elapsed: Duration,
}

async fn run_async(s: &Settings, postgres_url: &str, relay_bin: &Path, work: &Path) -> Result<Report> {
    let started = Instant::now();
    let mut notes = Vec::new();
    let fed = work.join("fed");
    samordna_relay::dev_federation::write(
        &fed,
        samordna_relay::dev_federation::DEV_RELAY_URL,
        OffsetDateTime::now_utc(),
    )?;
    let world = World::new(&fed)?;
    let machine = machine(work, relay_bin);

    let mut backends = s.backends.clone();
    if backends.contains(&Backend::Postgres) {
        match instance::postgres_settings(postgres_url).await {
            Ok(settings) => notes.push(format!("PostgreSQL: {settings}")),
            Err(e) => {
                say(format!("PostgreSQL is skipped: {e:#}"));
                notes.push(format!("PostgreSQL NOT MEASURED: {e:#}"));
                backends.retain(|b| *b != Backend::Postgres);
            }
        }
    }

    // The large envelope first, while this process holds nothing else large: its peak memory is
    // the client's.
    let mut large_result = None;
    if let Some(payload) = s.large {
        let need = 5 * payload + GIB;
        match free_kib(work) {
            Some(free) if free * KIB < need => {
                let msg = format!(
                    "the large envelope is skipped: {} free in {}, {} needed",
                    mem(free),
                    work.display(),
                    mem(need / KIB)
                );
                say(&msg);
                notes.push(msg);
            }
            _ => {
                say(format!("large envelope: {} through the relay on SQLite", ByteSize(payload)));
                let mut relay =
                    Relay::create(&fed, "large", Backend::Sqlite, postgres_url, payload + 64 * MIB).await?;
                relay.start(relay_bin, work)?;
                let (sender, recipient) = world.set_up(&relay.url()).await?;
                let pid = relay.pid().context("the relay's process id")?;
                let seal_for = world.seal_for();
                let result = large::run(&seal_for, &sender, &recipient, pid, payload, work).await?;
                relay.remove().await?;
                let _ = fs::remove_file(fed.join("relay/large.db"));
                let _ = fs::remove_file(fed.join("relay/large.db-wal"));
                large_result = Some(result);
            }
        }
    }

    let mut pools = Vec::new();
    let mut sealed: Vec<(ByteSize, Arc<Vec<Sealed>>)> = Vec::new();
    for &size in &s.sizes {
        let n = s.pool_size(size);
        say(format!("sealing {n} envelopes of {size} (untimed)"));
        let t = Instant::now();
        let pool = tokio::task::block_in_place(|| load::seal_pool(&world.seal_for(), size, n))?;
        let bytes = pool.first().map_or(0, |e| e.bytes.len() as u64);
        say(format!("  {:.1} s", t.elapsed().as_secs_f64()));
        pools.push((size, n, bytes));
        sealed.push((size, Arc::new(pool)));
    }

    // The transport baseline.
    let mut bare_results = Vec::new();
    {
        let by_id: HashMap<String, bytes::Bytes> = sealed
            .iter()
            .flat_map(|(_, pool)| pool.iter().map(|e| (e.id.as_str().to_owned(), e.bytes.clone())))
            .collect();
        let server = BareServer::start(&fed.join("relay/relay.toml"), by_id).await?;
        let url = server.url();
        let senders = load::connect_clients(&World::tls(&world.sender)?, &url, s.clients).await?;
        let recipients = load::connect_clients(&World::tls(&world.recipient)?, &url, s.clients).await?;
        for (size, pool) in &sealed {
            say(format!("bare mTLS: {size}"));
            let cpu = || procfs::own_threads_ticks(bare::THREAD_NAME);
            let all: Vec<usize> = (0..pool.len()).collect();
            let c0 = cpu();
            let mut upload = load::drive(&senders, &url, pool, all, Op::Upload, s.limit).await;
            upload.cpu_cores = cores(c0, cpu(), upload.elapsed);
            let c0 = cpu();
            let mut fetch =
                load::drive(&recipients, &url, pool, upload.done.clone(), Op::Fetch, s.limit).await;
            fetch.cpu_cores = cores(c0, cpu(), fetch.elapsed);
            bare_results.push((*size, Pair { upload, fetch }));
        }
    }

    let mut backend_results = Vec::new();
    for &backend in &backends {
        let name = backend.name();
        let mut relay =
            Relay::create(&fed, &name.to_ascii_lowercase(), backend, postgres_url, 1 << 30).await?;
        relay.start(relay_bin, work)?;
        let url = relay.url();
        world.set_up(&url).await?;
        let pid = relay.pid().context("the relay's process id")?;
        let senders = load::connect_clients(&World::tls(&world.sender)?, &url, s.clients).await?;
        let recipients = load::connect_clients(&World::tls(&world.recipient)?, &url, s.clients).await?;
        let mut result =
            BackendResult { backend, relay: Vec::new(), storage: Vec::new(), storage_group: Vec::new() };
        for (size, pool) in &sealed {
            say(format!("relay on {name}: {size}"));
            let all: Vec<usize> = (0..pool.len()).collect();
            let upload = measured(pid, load::drive(&senders, &url, pool, all, Op::Upload, s.limit)).await;
            let fetch =
                measured(pid, load::drive(&recipients, &url, pool, upload.done.clone(), Op::Fetch, s.limit))
                    .await;
            result.relay.push((*size, Pair { upload, fetch }));
        }
        drop((senders, recipients));
        relay.stop();
        let actor = storage::Actor {
            principal: world.sender.principal().as_str().to_owned(),
            user: world.sender.identity().hsa_id.as_str().to_owned(),
            cert_fingerprint: world
                .sender
                .tls_client_auth()
                .0
                .first()
                .map(|c| samordna_core::cert::fingerprint(c))
                .context("the sender's profile has no certificate")?,
        };
        for (size, pool) in &sealed {
            say(format!("storage baseline on {name}: {size}"));
            let phase =
                storage::run(&relay.db_url, Durability::PerCommit, pool, &actor, s.clients, s.limit).await?;
            result.storage.push((*size, phase));
            if backend == Backend::Sqlite {
                let phase =
                    storage::run(&relay.db_url, Durability::Group, pool, &actor, s.clients, s.limit).await?;
                result.storage_group.push((*size, phase));
            }
        }
        relay.remove().await?;
        backend_results.push(result);
    }

    Ok(Report {
        machine,
        notes,
        bare: bare_results,
        backends: backend_results,
        large: large_result,
        pools,
        elapsed: started.elapsed(),
    })
}

/// Runs a phase against the relay process `pid`, adding its CPU use and peak memory.
async fn measured(pid: u32, phase: impl std::future::Future<Output = Phase>) -> Phase {
    let who = pid.to_string();
    let reset = procfs::reset_peak_rss(&who);
    let c0 = procfs::cpu_ticks(pid);
    let mut p = phase.await;
    p.cpu_cores = cores(c0, procfs::cpu_ticks(pid), p.elapsed);
    // Without a reset the peak is the process's since it started; the report says which.
    p.peak_rss_kib = procfs::peak_rss_kib(&who).map(|k| if reset { k } else { k | PEAK_SINCE_START });
    p
}

/// Marks a peak that could not be reset (never a real KiB figure: 2^62 KiB).
const PEAK_SINCE_START: u64 = 1 << 62;

fn cores(before: Option<u64>, after: Option<u64>, elapsed: Duration) -> Option<f64> {
    let ticks = after?.checked_sub(before?)?;
    Some(ticks as f64 / procfs::clock_ticks() / elapsed.as_secs_f64())
}

/// Free space in KiB on the file system holding `dir`.
fn free_kib(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

/// What the figures were measured on.
fn machine(work: &Path, relay_bin: &Path) -> Vec<String> {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.trim() == "model name").map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let load = read("/proc/loadavg").split_whitespace().next().unwrap_or("n/a").to_owned();
    // The mount holding the working directory: its device and file system type.
    let mounts = read("/proc/self/mounts");
    let work = fs::canonicalize(work).unwrap_or_else(|_| work.to_owned());
    let mount = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && work.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} ({}) at {}", f[0], f[2], f[1])))
        })
        .max_by_key(|(n, _)| *n)
        .map_or_else(|| "unknown".into(), |(_, d)| d);
    vec![
        format!("machine: {model}, {cpus} CPUs online, {memory} memory, Linux {kernel}"),
        format!("1-minute load average at start: {load}"),
        format!("working directory (SQLite files, spool): {} on {mount}", work.display()),
        format!(
            "build: {}; relay binary {}",
            if cfg!(debug_assertions) { "DEBUG (numbers are meaningless; use --release)" } else { "release" },
            relay_bin.display()
        ),
    ]
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".into(), |d| format!("{:.1}", d.as_secs_f64() * 1000.0))
}

fn per_s(x: f64) -> String {
    if x >= 100.0 { format!("{x:.0}") } else { format!("{x:.1}") }
}

fn peak(kib: Option<u64>) -> String {
    match kib {
        None => "n/a".into(),
        Some(k) if k & PEAK_SINCE_START != 0 => format!("{} (since start)", mem(k & !PEAK_SINCE_START)),
        Some(k) => mem(k),
    }
}

impl Report {
    fn errors(&self) -> usize {
        let pairs = self
            .bare
            .iter()
            .map(|(_, p)| p)
            .chain(self.backends.iter().flat_map(|b| b.relay.iter().map(|(_, p)| p)));
        pairs.map(|p| p.upload.errors + p.fetch.errors).sum::<usize>()
            + self
                .backends
                .iter()
                .flat_map(|b| b.storage.iter().chain(&b.storage_group))
                .map(|(_, p)| p.errors)
                .sum::<usize>()
    }

    fn render(&self, s: &Settings, markdown: bool) -> String {
        let mut notes = self.machine.clone();
        notes.push(format!(
            "{} clients, each its own keep-alive mTLS connection; each phase runs for at most {} s or until its \
             envelopes are used up; latency is per request, from sending it to the end of the answer",
            s.clients,
            s.limit.as_secs()
        ));
        for (size, n, bytes) in &self.pools {
            notes.push(format!("{size}: {n} envelopes sealed before timing, {bytes} bytes each on the wire"));
        }
        notes.extend(self.notes.iter().cloned());
        notes.push(format!("total run time: {:.0} s", self.elapsed.as_secs_f64()));

        let mut main = Table::new(
            "Requests per second through the relay and the two baselines",
            &[
                ("server", Align::Left),
                ("size", Align::Left),
                ("measurement", Align::Left),
                ("done", Align::Right),
                ("per s", Align::Right),
                ("MiB/s", Align::Right),
                ("p50 ms", Align::Right),
                ("p99 ms", Align::Right),
                ("max ms", Align::Right),
                ("CPU cores", Align::Right),
                ("peak RSS", Align::Right),
                ("errors", Align::Right),
            ],
        );
        let mut row = |server: &str, size: ByteSize, what: &str, p: &Phase| {
            let done = if p.timed_out { format!("{} (time)", p.ok) } else { p.ok.to_string() };
            main.row(vec![
                server.to_owned(),
                size.to_string(),
                what.to_owned(),
                done,
                per_s(p.per_second()),
                per_s(p.mib_per_second()),
                ms(p.quantile(0.5)),
                ms(p.quantile(0.99)),
                ms(p.max()),
                p.cpu_cores.map_or_else(|| "—".into(), |c| format!("{c:.2}")),
                peak(p.peak_rss_kib),
                p.errors.to_string(),
            ]);
        };
        for (size, pair) in &self.bare {
            row("bare mTLS", *size, "PUT, read and discard", &pair.upload);
            row("bare mTLS", *size, "GET from memory", &pair.fetch);
        }
        for b in &self.backends {
            for (size, pair) in &b.relay {
                row(&format!("relay, {}", b.backend.name()), *size, "upload (PUT)", &pair.upload);
                row(&format!("relay, {}", b.backend.name()), *size, "fetch (GET)", &pair.fetch);
            }
            for (size, p) in &b.storage {
                row(b.backend.name(), *size, "storage: 1 durable tx per upload", p);
            }
            for (size, p) in &b.storage_group {
                row(b.backend.name(), *size, "storage, group commit (as the relay)", p);
            }
        }

        let mut ratios = Table::new(
            "The relay as a ratio of each baseline (per second)",
            &[
                ("backend", Align::Left),
                ("size", Align::Left),
                ("uploads/s", Align::Right),
                ("÷ bare PUT/s", Align::Right),
                ("÷ storage tx/s", Align::Right),
                ("fetches/s", Align::Right),
                ("÷ bare GET/s", Align::Right),
            ],
        );
        let bare = |size: ByteSize| self.bare.iter().find(|(s, _)| *s == size).map(|(_, p)| p);
        for b in &self.backends {
            for (size, pair) in &b.relay {
                let up = pair.upload.per_second();
                let down = pair.fetch.per_second();
                let storage = b.storage.iter().find(|(s, _)| s == size).map(|(_, p)| p.per_second());
                ratios.row(vec![
                    b.backend.name().to_owned(),
                    size.to_string(),
                    per_s(up),
                    bare(*size).map_or_else(|| "—".into(), |p| ratio(up, p.upload.per_second())),
                    storage.map_or_else(|| "—".into(), |st| ratio(up, st)),
                    per_s(down),
                    bare(*size).map_or_else(|| "—".into(), |p| ratio(down, p.fetch.per_second())),
                ]);
            }
        }

        let mut large_table = None;
        if let Some(l) = &self.large {
            let mut t = Table::new(
                format!(
                    "One envelope of {} through the relay on SQLite (client library, streaming)",
                    ByteSize(l.payload)
                ),
                &[
                    ("measurement", Align::Left),
                    ("seconds", Align::Right),
                    ("MiB/s", Align::Right),
                    ("relay peak RSS", Align::Right),
                    ("client peak RSS", Align::Right),
                ],
            );
            let mib = |b: u64, d: Duration| per_s(b as f64 / MIB as f64 / d.as_secs_f64());
            t.row(vec![
                "seal to a file (untimed for the relay)".into(),
                format!("{:.1}", l.seal.as_secs_f64()),
                mib(l.payload, l.seal),
                "—".into(),
                "—".into(),
            ]);
            for (what, x) in [("upload (PUT)", &l.upload), ("fetch (GET) to a file", &l.fetch)] {
                let since = |k: Option<u64>| if l.peaks_reset { k } else { k.map(|k| k | PEAK_SINCE_START) };
                t.row(vec![
                    what.into(),
                    format!("{:.1}", x.elapsed.as_secs_f64()),
                    mib(x.bytes, x.elapsed),
                    peak(since(x.relay_peak_kib)),
                    peak(since(x.client_peak_kib)),
                ]);
            }
            large_table = Some(t);
        }

        let aims = self.aims(s);
        let mut out = String::new();
        let bullet = if markdown { "- " } else { "" };
        for n in &notes {
            out += &format!("{bullet}{n}\n");
        }
        out.push('\n');
        let tables = [Some(&main), Some(&ratios), large_table.as_ref()];
        for t in tables.into_iter().flatten() {
            out += &if markdown { t.markdown() } else { t.text() };
            out.push('\n');
        }
        out += if markdown { "**Against the aims**\n\n" } else { "Against the aims\n" };
        for a in aims {
            out += &format!("{bullet}{a}\n");
        }
        for (what, p) in self.failures() {
            out += &format!(
                "{bullet}ERRORS in {what}: {} failed; first: {}\n",
                p.errors,
                p.first_error.as_deref().unwrap_or("?")
            );
        }
        out
    }

    fn failures(&self) -> Vec<(String, &Phase)> {
        let mut out = Vec::new();
        for (size, pair) in &self.bare {
            out.push((format!("bare mTLS {size} PUT"), &pair.upload));
            out.push((format!("bare mTLS {size} GET"), &pair.fetch));
        }
        for b in &self.backends {
            for (size, pair) in &b.relay {
                out.push((format!("relay {} {size} upload", b.backend.name()), &pair.upload));
                out.push((format!("relay {} {size} fetch", b.backend.name()), &pair.fetch));
            }
            for (size, p) in b.storage.iter().chain(&b.storage_group) {
                out.push((format!("storage {} {size}", b.backend.name()), p));
            }
        }
        out.retain(|(_, p)| p.errors > 0);
        out
    }

    fn aims(&self, s: &Settings) -> Vec<String> {
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let mut out = Vec::new();
        let small = ByteSize(4 * KIB);
        for b in &self.backends {
            let Some((_, pair)) = b.relay.iter().find(|(size, _)| *size == small) else { continue };
            let up = &pair.upload;
            let p99 = up.quantile(0.99).unwrap_or(Duration::MAX);
            if b.backend == Backend::Sqlite {
                let clients = if s.clients == 32 {
                    String::new()
                } else {
                    format!(" (the aim is for 32 clients; this run had {})", s.clients)
                };
                out.push(format!(
                    "SQLite, 4 KiB uploads: {} per s (aim ≥ 1,000): {}; p99 {} ms (aim ≤ 100 ms): {}{clients}",
                    per_s(up.per_second()),
                    verdict(up.per_second() >= 1000.0),
                    ms(Some(p99)),
                    verdict(p99 <= Duration::from_millis(100)),
                ));
            }
            if let Some((_, st)) = b.storage.iter().find(|(size, _)| *size == small) {
                out.push(format!(
                    "{}, 4 KiB: relay uploads ÷ storage baseline (one transaction per upload) = {} (aim ≥ 1): {}",
                    b.backend.name(),
                    ratio(up.per_second(), st.per_second()),
                    verdict(up.per_second() >= st.per_second()),
                ));
            }
        }
        if let Some(l) = &self.large {
            let limit = 64 * 1024;
            let worst = |f: fn(&large::Transfer) -> Option<u64>| {
                [f(&l.upload), f(&l.fetch)].into_iter().flatten().max()
            };
            let relay = worst(|t| t.relay_peak_kib);
            let client = worst(|t| t.client_peak_kib);
            out.push(format!(
                "{} envelope: relay peak {}, client peak {} (aim ≤ 64 MiB each): {}{}",
                ByteSize(l.payload),
                relay.map_or_else(|| "n/a".into(), mem),
                client.map_or_else(|| "n/a".into(), mem),
                verdict(relay.is_some_and(|r| r <= limit) && client.is_some_and(|c| c <= limit)),
                if l.payload < GIB { " (the aim is for 1 GiB)" } else { "" },
            ));
        }
        out
    }
}
