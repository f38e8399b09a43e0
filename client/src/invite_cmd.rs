//! `samordna invite|outbox`: SIP meeting invitations (placeholder until the invitations land).

use std::path::PathBuf;

use clap::Subcommand;
use samordna_client::ClientError;

use super::Output;

/// `samordna invite …`
#[derive(Debug, Subcommand)]
pub(crate) enum InviteCommand {
    /// Invite to a SIP meeting (not available yet).
    Send,
}

/// `samordna outbox …`
#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
    /// What waits to be sent (not available yet).
    List,
}

pub(crate) async fn invite(command: InviteCommand, _profile: Option<PathBuf>) -> Result<Output, ClientError> {
    match command {
        InviteCommand::Send => Err(ClientError::usage("usage", "meeting invitations are not available yet")),
    }
}

pub(crate) async fn outbox(command: OutboxCommand, _profile: Option<PathBuf>) -> Result<Output, ClientError> {
    match command {
        OutboxCommand::List => Err(ClientError::usage("usage", "meeting invitations are not available yet")),
    }
}
