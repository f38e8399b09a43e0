//! What the `samordna` command does, as library calls: one method of [`Session`] per operation,
//! each returning a result struct that serialises to the command's `--json` output and displays as
//! its human output.

mod cases;
mod fetch;
mod keys;
mod lifecycle;
mod send;

use std::{fmt, sync::Arc, time::Duration};

use ring::rand::{SecureRandom, SystemRandom};
use samordna_core::{PrincipalId, api::Directory};
use serde::Serialize;
use time::OffsetDateTime;

pub use cases::{
    CaseInfo, ConsentInfo, ConsentRequest, ConsentResult, DirectoryResult, InboxEntry, InboxResult,
};
pub use fetch::{
    Author, DocumentManifest, FetchRequest, FetchResult, ReceiptCheck, ReceiptOutcome, RecipientDelivery,
    StatusResult, check_receipt,
};
pub use keys::{KeyInfo, KeysInitResult, KeysListResult, PublishedKey};
pub use lifecycle::{
    Block, CaseCloseResult, CaseEventInfo, ChainLink, ChangeInfo, ChangeSignature, ConsentBlocksResult,
    ConsentChangeResult, ConsentDocument, NoticeInfo, RecordedWithDocument, amendment_chain, reason_words,
    unsupported_state, verify_change,
};
pub use send::{SendRequest, SendResult, SentRecipient, SkippedKey, usable_keys};

use crate::{
    error::ClientError,
    profile::Profile,
    relay::{RelayClient, RelayError},
};

/// A profile and its relay: the context every operation runs in.
#[derive(Clone, Debug)]
pub struct Session {
    profile: Arc<Profile>,
    relay: RelayClient,
    retry_delays: Vec<Duration>,
}

impl Session {
    /// A session for `profile`, talking to its `relay_url`.
    pub fn new(profile: Profile) -> Result<Self, ClientError> {
        let relay = RelayClient::new(&profile)?;
        Ok(Self::with_relay(Arc::new(profile), relay))
    }

    /// A session with a relay client made elsewhere.
    pub fn with_relay(profile: Arc<Profile>, relay: RelayClient) -> Self {
        Session {
            profile,
            relay,
            retry_delays: vec![Duration::from_secs(1), Duration::from_secs(3), Duration::from_secs(9)],
        }
    }

    /// Shows progress bars on large transfers when stderr is a terminal.
    pub fn with_progress(mut self, on: bool) -> Self {
        self.relay = self.relay.with_progress(on);
        self
    }

    /// The pauses before each retry of an upload that could not reach the relay.
    pub fn with_retry_delays(mut self, delays: Vec<Duration>) -> Self {
        self.retry_delays = delays;
        self
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The relay client.
    pub fn relay(&self) -> &RelayClient {
        &self.relay
    }

    async fn directory_or_empty(&self) -> Directory {
        // Names are a courtesy: an operation does not fail because the directory could not be read.
        self.relay.directory().await.map(|a| a.value).unwrap_or(Directory { principals: Vec::new() })
    }
}

/// 128 random bits for a new identifier.
pub(crate) fn random_128() -> Result<[u8; 16], ClientError> {
    let mut b = [0u8; 16];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ClientError::Internal("the system's random source failed".into()))?;
    Ok(b)
}

/// Now, in whole seconds (what every signed time and header carries).
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// A principal with its name from the directory, when the directory knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedPrincipal {
    /// The principal id.
    pub id: PrincipalId,
    /// The organisation's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl NamedPrincipal {
    /// Looks the name up in `directory`.
    pub fn new(directory: &Directory, id: &PrincipalId) -> Self {
        NamedPrincipal {
            id: id.clone(),
            name: directory.principals.iter().find(|p| p.id == *id).map(|p| p.name.clone()),
        }
    }
}

impl fmt::Display for NamedPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} ({})", self.id),
            None => write!(f, "{}", self.id),
        }
    }
}

/// "A", "A and B", "A, B and C".
pub(crate) fn join_names<T: fmt::Display>(items: &[T]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => {
            format!("{} and {last}", init.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
        }
    }
}

/// Tries `attempt` again after each delay while the relay cannot be reached.
pub(crate) async fn with_retries<T, F, Fut>(
    delays: &[Duration],
    mut attempt: F,
) -> (Result<T, RelayError>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RelayError>>,
{
    let mut tries = 0;
    let mut delays = delays.iter();
    loop {
        tries += 1;
        match attempt().await {
            Err(e) if e.is_retryable() => match delays.next() {
                Some(d) => {
                    tracing::warn!("the relay could not be reached ({e}); trying again in {d:?}");
                    tokio::time::sleep(*d).await;
                }
                None => return (Err(e), tries),
            },
            other => return (other, tries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_joined_for_sentences() {
        assert_eq!(join_names::<&str>(&[]), "");
        assert_eq!(join_names(&["A"]), "A");
        assert_eq!(join_names(&["A", "B"]), "A and B");
        assert_eq!(join_names(&["A", "B", "C"]), "A, B and C");
    }

    #[tokio::test]
    async fn only_unreachable_relays_are_retried() {
        let unreachable = || RelayError::Unreachable { url: "https://r".into(), detail: "refused".into() };
        let delays = [Duration::from_millis(1), Duration::from_millis(1)];
        let mut n = 0;
        let (r, tries) = with_retries(&delays, || {
            n += 1;
            let fail = n < 3;
            async move { if fail { Err(unreachable()) } else { Ok(n) } }
        })
        .await;
        assert_eq!((r.unwrap(), tries), (3, 3));

        let (r, tries) = with_retries(&delays, || async { Err::<(), _>(unreachable()) }).await;
        assert!(r.is_err());
        assert_eq!(tries, 3, "one attempt and one per delay");

        let refused =
            || crate::relay::refusal(403, br#"{"error":{"code":"no_consent","message":"m"}}"#, None);
        let (r, tries) = with_retries(&delays, || async { Err::<(), _>(refused()) }).await;
        assert!(r.is_err());
        assert_eq!(tries, 1, "a refusal is final");
    }
}
