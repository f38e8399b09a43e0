//! The `samordna-relay` command line.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use samordna_core::{PrincipalId, api::PrincipalKind};
use time::OffsetDateTime;

use crate::{
    config::RelayConfig,
    dev_federation, serve,
    store::{StoreError, principals},
};

/// Samordna's central relay.
#[derive(Debug, Parser)]
#[command(name = "samordna-relay", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relay (HTTPS with mutual TLS) until SIGTERM or Ctrl-C.
    Serve {
        /// The relay configuration file.
        #[arg(long, env = "SAMORDNA_RELAY_CONFIG")]
        config: PathBuf,
    },
    /// Create or update the database schema.
    Migrate {
        /// The relay configuration file.
        #[arg(long, env = "SAMORDNA_RELAY_CONFIG")]
        config: PathBuf,
    },
    /// Register, list, disable and enable principals.
    Principal {
        /// The relay configuration file.
        #[arg(long, env = "SAMORDNA_RELAY_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: PrincipalCommand,
    },
    /// The tamper-evident access log: make its signing key, check it, show its verifier key.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// The notice outbox: what is waiting to be mailed to principals, and why.
    Outbox {
        /// The relay configuration file.
        #[arg(long, env = "SAMORDNA_RELAY_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Register, list and remove compliance officers (auditors).
    Auditor {
        /// The relay configuration file.
        #[arg(long, env = "SAMORDNA_RELAY_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: AuditorCommand,
    },
    /// Write a development federation: a root CA, a CRL, the relay's TLS certificate, a relay
    /// configuration with its SQLite database and registered principals, and ready-to-use client
    /// profiles. For development and tests only.
    DevFederation {
        /// Directory to create (must not exist, or be empty).
        #[arg(long)]
        out: PathBuf,
        /// The relay URL written into the client profiles.
        #[arg(long, default_value = dev_federation::DEV_RELAY_URL)]
        relay_url: String,
    },
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Make a checkpoint signing key for this relay instance (written with mode 0600; prints the
    /// verifier key to give to principals and auditors).
    Keygen {
        /// The instance name: the log's origin becomes samordna.se/relay/INSTANCE.
        #[arg(long)]
        instance: String,
        /// Where to write the key (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Recompute the whole log and check it against every signed checkpoint (as `serve` does at start-up).
    Verify {
        /// The relay configuration file.
        #[arg(long, env = "SAMORDNA_RELAY_CONFIG")]
        config: PathBuf,
    },
    /// Print the log's origin and verifier key.
    Key {
        /// The relay configuration file.
        #[arg(long, env = "SAMORDNA_RELAY_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Mails not yet accepted by the SMTP server (with their attempts and last error), then the
    /// most recently sent.
    List,
}

#[derive(Debug, Subcommand)]
enum AuditorCommand {
    /// Register a compliance officer by HSA-id.
    Add {
        /// The auditor's HSA-id (the serialNumber of their certificate).
        #[arg(long)]
        hsa_id: String,
        /// Their principal.
        #[arg(long)]
        principal: String,
        /// principal (their principal's entries) or federation (every entry).
        #[arg(long, default_value = "principal")]
        scope: String,
    },
    /// List auditors.
    List,
    /// Remove an auditor.
    Remove {
        /// The auditor's HSA-id.
        #[arg(long)]
        hsa_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum PrincipalCommand {
    /// Register a principal.
    Add {
        /// `SE` and the organisation number, e.g. SE2321000032.
        #[arg(long)]
        id: String,
        /// The organisation's name.
        #[arg(long)]
        name: String,
        /// region, municipality, school, care_provider or agency.
        #[arg(long)]
        kind: String,
        /// Functional mailbox for notifications (no personal mailboxes).
        #[arg(long)]
        mailbox: String,
    },
    /// List registered principals.
    List,
    /// Stop a principal from sending, receiving and reading.
    Disable {
        /// The principal id.
        #[arg(long)]
        id: String,
    },
    /// Let a disabled principal back in.
    Enable {
        /// The principal id.
        #[arg(long)]
        id: String,
    },
}

/// Runs the command line; errors are printed as one plain sentence with their causes.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samordna-relay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SAMORDNA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("SAMORDNA_LOG_FORMAT").is_ok_and(|f| f == "json") {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { config } => runtime()?.block_on(serve::serve(config)),
        Command::Migrate { config } => runtime()?.block_on(async {
            let loaded = RelayConfig::load(&config)?;
            serve::open_store(&loaded).await?;
            println!("The database schema is up to date.");
            Ok(())
        }),
        Command::Principal { config, command } => {
            let config = config.context("--config is required (or set SAMORDNA_RELAY_CONFIG)")?;
            runtime()?.block_on(principal(config, command))
        }
        Command::Log { command } => runtime()?.block_on(log_command(command)),
        Command::Outbox { config, command: OutboxCommand::List } => {
            let config = config.context("--config is required (or set SAMORDNA_RELAY_CONFIG)")?;
            runtime()?.block_on(outbox_list(config))
        }
        Command::Auditor { config, command } => {
            let config = config.context("--config is required (or set SAMORDNA_RELAY_CONFIG)")?;
            runtime()?.block_on(auditor(config, command))
        }
        Command::DevFederation { out, relay_url } => {
            let written = dev_federation::write(&out, &relay_url, OffsetDateTime::now_utc())?;
            runtime()?.block_on(dev_federation::register(&written))?;
            println!("Wrote a development federation to {}", written.out.display());
            println!("  relay config {}", written.relay_config.display());
            for p in &written.profiles {
                println!("  profile {}", p.display());
            }
            println!("Start the relay: samordna-relay serve --config {}", written.relay_config.display());
            println!(
                "For development only: the root CA's private key is in {}.",
                out.join("ca/root-ca.key").display()
            );
            Ok(())
        }
    }
}

async fn principal(config: PathBuf, command: PrincipalCommand) -> Result<()> {
    let loaded = RelayConfig::load(&config)?;
    let store = serve::open_store(&loaded).await?;
    let mut tx = store.write().await?;
    match command {
        PrincipalCommand::Add { id, name, kind, mailbox } => {
            let id = PrincipalId::parse(&id)?;
            let Some(kind) = PrincipalKind::parse(&kind) else {
                bail!("--kind must be one of region, municipality, school, care_provider, agency");
            };
            if !mailbox.contains('@') {
                bail!("--mailbox must be an email address (a functional mailbox, not a person's)");
            }
            let p = principals::Principal {
                id: id.clone(),
                name,
                kind,
                mailbox,
                enabled: true,
                created_at: OffsetDateTime::now_utc(),
            };
            match principals::add(&mut tx, &p).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => bail!("{id} is already registered"),
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            println!("Registered {} ({}) as a {}.", p.name, p.id, p.kind.as_str());
        }
        PrincipalCommand::List => {
            for p in principals::list(&mut tx).await? {
                println!(
                    "{}  {:<13} {:<9} {}  <{}>",
                    p.id,
                    p.kind.as_str(),
                    if p.enabled { "enabled" } else { "DISABLED" },
                    p.name,
                    p.mailbox
                );
            }
        }
        PrincipalCommand::Disable { id } | PrincipalCommand::Enable { id }
            if PrincipalId::parse(&id).is_err() =>
        {
            PrincipalId::parse(&id)?;
        }
        PrincipalCommand::Disable { id } => set_enabled(tx, &id, false).await?,
        PrincipalCommand::Enable { id } => set_enabled(tx, &id, true).await?,
    }
    store.close().await;
    Ok(())
}

async fn set_enabled(mut tx: crate::store::Tx, id: &str, enabled: bool) -> Result<()> {
    let id = PrincipalId::parse(id)?;
    if !principals::set_enabled(&mut tx, &id, enabled).await? {
        bail!("{id} is not registered");
    }
    tx.commit().await?;
    println!("{id} is now {}.", if enabled { "enabled" } else { "disabled" });
    Ok(())
}

async fn log_command(command: LogCommand) -> Result<()> {
    match command {
        LogCommand::Keygen { instance, out } => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let origin = samordna_core::log::note::relay_origin(&instance)?;
            let (secret, vkey) =
                samordna_core::log::NoteSigner::generate(&origin, &ring::rand::SystemRandom::new())?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&out)
                .with_context(|| format!("cannot create {} (it must not exist)", out.display()))?;
            f.write_all(format!("{}\n", secret.as_str()).as_bytes())?;
            println!(
                "Wrote the checkpoint signing key for {origin} to {} (keep it secret, and back it up).",
                out.display()
            );
            println!("Verifier key, for principals' profiles (relay_log_key) and auditors:\n{vkey}");
        }
        LogCommand::Verify { config } => {
            let loaded = RelayConfig::load(&config)?;
            let store = serve::open_store(&loaded).await?;
            let identity = crate::ledger::LogIdentity::load(&loaded.config.log)?;
            let v = serve::check_log(&store, &identity).await?;
            println!("The access log's {} entries match their {} signed checkpoints.", v.size, v.checkpoints);
        }
        LogCommand::Key { config } => {
            let loaded = RelayConfig::load(&config)?;
            let identity = crate::ledger::LogIdentity::load(&loaded.config.log)?;
            println!("origin: {}\nverifier key: {}", identity.origin, identity.verifier_key());
        }
    }
    Ok(())
}

async fn auditor(config: PathBuf, command: AuditorCommand) -> Result<()> {
    use crate::store::registry::{self, AuditScope, Auditor};
    let loaded = RelayConfig::load(&config)?;
    let store = serve::open_store(&loaded).await?;
    let mut tx = store.write().await?;
    match command {
        AuditorCommand::Add { hsa_id, principal, scope } => {
            let Some(scope) = AuditScope::parse(&scope) else {
                bail!("--scope must be principal or federation")
            };
            let a = Auditor {
                hsa_id: samordna_core::HsaId::parse(&hsa_id)?,
                principal: PrincipalId::parse(&principal)?,
                scope,
            };
            if principals::get(&mut tx, &a.principal).await?.is_none() {
                bail!("{} is not a registered principal", a.principal);
            }
            match registry::add_auditor(&mut tx, &a, OffsetDateTime::now_utc()).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => bail!("{} is already an auditor", a.hsa_id),
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            println!("{} is now an auditor of {} (scope: {}).", a.hsa_id, a.principal, a.scope.as_str());
        }
        AuditorCommand::List => {
            for a in registry::auditors(&mut tx).await? {
                println!("{}  {}  {}", a.hsa_id, a.principal, a.scope.as_str());
            }
        }
        AuditorCommand::Remove { hsa_id } => {
            let hsa = samordna_core::HsaId::parse(&hsa_id)?;
            if !registry::remove_auditor(&mut tx, &hsa).await? {
                bail!("{hsa} is not an auditor");
            }
            tx.commit().await?;
            println!("{hsa} is no longer an auditor.");
        }
    }
    store.close().await;
    Ok(())
}

async fn outbox_list(config: PathBuf) -> Result<()> {
    let loaded = RelayConfig::load(&config)?;
    let store = serve::open_store(&loaded).await?;
    let mails = crate::notify::list(&store).await?;
    if loaded.config.smtp.is_none() {
        println!("No [smtp] is configured: these notices are kept, not mailed.");
    }
    if mails.is_empty() {
        println!("The outbox is empty.");
    }
    let fmt = |t: time::OffsetDateTime| samordna_core::encoding::rfc3339::format(t);
    for m in mails {
        match m.sent_at {
            Some(at) => println!(
                "sent     {}  {} <{}>  {:?}  (attempts {})",
                fmt(at),
                m.principal,
                m.mailbox,
                m.subject,
                m.attempts
            ),
            None => println!(
                "PENDING  since {}  {} <{}>  attempts {}, next {}{}",
                fmt(m.created_at),
                m.principal,
                m.mailbox,
                m.attempts,
                fmt(m.next_attempt_at),
                m.last_error.map(|e| format!(", last error: {e}")).unwrap_or_default()
            ),
        }
    }
    store.close().await;
    Ok(())
}
