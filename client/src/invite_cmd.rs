//! `samordna invite|outbox`: SIP meeting invitations, over [`samordna_client::invite`].

use std::path::PathBuf;

use clap::Subcommand;
use samordna_client::{
    ClientError,
    invite::{self, Change, Recipient, SendInvitation},
};
use samordna_core::CaseId;
use time::PrimitiveDateTime;

use super::{Output, load_profile, session};

/// `samordna invite …`
#[derive(Debug, Subcommand)]
pub(crate) enum InviteCommand {
    /// Invite to a SIP meeting: an encrypted envelope to each principal, a mail with a calendar
    /// file to each address.
    Send {
        /// The case (S-…).
        #[arg(long)]
        case: CaseId,
        /// Start, Swedish time: 2026-12-03T13:00.
        #[arg(long, value_parser = invite::parse_start)]
        start: PrimitiveDateTime,
        /// Length: 90m, 1h30m, 2h.
        #[arg(long, value_parser = invite::parse_duration)]
        duration: u32,
        /// Where (an address and room; never the person's name).
        #[arg(long)]
        location: String,
        /// A link to a video meeting.
        #[arg(long)]
        video_link: Option<String>,
        /// principal:SE… or email:ADDRESS; repeat for several.
        #[arg(long = "to", required = true)]
        to: Vec<Recipient>,
    },
    /// Change a meeting: the same invitees get it again with a higher SEQUENCE.
    Update {
        /// The invitation (M-…).
        id: String,
        /// New start, Swedish time.
        #[arg(long, value_parser = invite::parse_start)]
        start: Option<PrimitiveDateTime>,
        /// New length.
        #[arg(long, value_parser = invite::parse_duration)]
        duration: Option<u32>,
        /// New place.
        #[arg(long)]
        location: Option<String>,
        /// New video link ("" removes it).
        #[arg(long)]
        video_link: Option<String>,
    },
    /// Cancel a meeting (METHOD:CANCEL to the same invitees).
    Cancel {
        /// The invitation (M-…).
        id: String,
    },
    /// The invitations this profile has sent.
    List,
}

/// `samordna outbox …`
#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
    /// What mail waits to be sent, and why.
    List,
    /// Try to send what waits now.
    Flush,
}

pub(crate) async fn invite(command: InviteCommand, profile: Option<PathBuf>) -> Result<Output, ClientError> {
    match command {
        InviteCommand::Send { case, start, duration, location, video_link, to } => {
            let req =
                SendInvitation { case_id: case, start, duration_minutes: duration, location, video_link, to };
            Output::of(&invite::send(&session(profile)?, req).await?)
        }
        InviteCommand::Update { id, start, duration, location, video_link } => {
            let change = Change { start, duration_minutes: duration, location, video_link };
            Output::of(&invite::update(&session(profile)?, &id, change).await?)
        }
        InviteCommand::Cancel { id } => Output::of(&invite::cancel(&session(profile)?, &id).await?),
        InviteCommand::List => {
            let p = load_profile(profile)?;
            Output::of(&invite::InvitationList { invitations: invite::Invitation::list(p.dir())? })
        }
    }
}

pub(crate) async fn outbox(command: OutboxCommand, profile: Option<PathBuf>) -> Result<Output, ClientError> {
    let profile = load_profile(profile)?;
    match command {
        OutboxCommand::List => Output::of(&invite::outbox_list(&profile)?),
        OutboxCommand::Flush => Output::of(&invite::outbox_flush(&profile).await?),
    }
}
