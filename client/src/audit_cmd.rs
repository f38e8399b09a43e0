//! `samordna audit|log|witness`: the compliance officer's tools and this profile's view of the relay's
//! access log, over [`samordna_client::audit`], [`samordna_client::logcheck`] and
//! [`samordna_client::witness`].

use std::path::PathBuf;

use clap::Subcommand;
use samordna_client::ClientError;

use super::{Output, session};

/// `samordna log …`
#[derive(Debug, Subcommand)]
pub(crate) enum LogCommand {
    /// Check the relay's latest checkpoint against the last one this profile verified.
    Check,
}

/// `samordna witness …`
#[derive(Debug, Subcommand)]
pub(crate) enum WitnessCommand {
    /// Make this profile a witness: a cosigning key, registered with the relay.
    Init,
}

/// `samordna audit …` (auditor certificates only)
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Fetch the log and its checkpoints; recompute and check every proof and signature.
    Verify,
}

pub(crate) async fn log(command: LogCommand, profile: Option<PathBuf>) -> Result<Output, ClientError> {
    match command {
        LogCommand::Check => Output::of(&session(profile)?.log_check().await?),
    }
}

pub(crate) async fn witness(
    command: WitnessCommand,
    profile: Option<PathBuf>,
) -> Result<Output, ClientError> {
    match command {
        WitnessCommand::Init => Output::of(&session(profile)?.witness_init().await?),
    }
}

pub(crate) async fn audit(command: AuditCommand, profile: Option<PathBuf>) -> Result<Output, ClientError> {
    match command {
        AuditCommand::Verify => Output::of(&session(profile)?.audit_verify().await?),
    }
}
