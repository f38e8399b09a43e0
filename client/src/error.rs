//! The client's one error type, its stable codes and the command's exit codes.

use std::{borrow::Cow, io, path::PathBuf};

use samordna_core::{audit::Reason, consent::Denial};

use crate::{keystore::KeyStoreError, profile::ProfileError, relay::RelayError};

/// Exit codes of the `samordna` command (`docs/client.md`).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Refused by the relay or by a local consent rule: a policy answer.
    pub const REFUSED: u8 = 1;
    /// Usage or profile error.
    pub const USAGE: u8 = 2;
    /// The relay cannot be reached, or TLS failed.
    pub const UNREACHABLE: u8 = 3;
    /// A signature, an envelope or a receipt did not verify.
    pub const VERIFICATION: u8 = 4;
    /// Anything else.
    pub const OTHER: u8 = 5;
}

/// Why an operation did not succeed. Every message says what happened and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The profile could not be loaded.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The key store could not be used.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// A command-line value or an input file is not usable.
    #[error("{message}")]
    Usage {
        /// A stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// The relay refused, or could not be reached.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// A consent rule (checked here, as the relay would) or another policy answer refuses this.
    #[error("{message}")]
    Policy {
        /// A [`Reason`] code, or a client code such as `no_encryption_key`.
        code: Cow<'static, str>,
        /// For people.
        message: String,
    },
    /// Something that must verify did not: an envelope, a key attestation, a receipt.
    #[error("{message}")]
    Verification {
        /// A stable code.
        code: &'static str,
        /// For people.
        message: String,
    },
    /// A new key was stored but could not be published.
    #[error(
        "the new encryption key {key_id} is stored in {} but was not published: {source}; run `samordna keys publish {key_id}` when this is fixed",
        path.display()
    )]
    KeyNotPublished {
        /// The key.
        key_id: samordna_core::KeyId,
        /// Its file.
        path: PathBuf,
        /// Why publishing failed.
        source: Box<RelayError>,
    },
    /// A local file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Anything else (sealing or signing failed, a background task failed).
    #[error("{0}")]
    Internal(String),
}

impl ClientError {
    /// A usage error.
    pub fn usage(code: &'static str, message: impl Into<String>) -> Self {
        ClientError::Usage { code, message: message.into() }
    }

    /// A policy refusal with a [`Reason`].
    pub fn policy(reason: Reason, message: impl Into<String>) -> Self {
        ClientError::Policy { code: Cow::Borrowed(reason.as_str()), message: message.into() }
    }

    /// A verification failure.
    pub fn verification(code: &'static str, message: impl Into<String>) -> Self {
        ClientError::Verification { code, message: message.into() }
    }

    /// A file error.
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| ClientError::Io { what, path, source }
    }

    /// The exit code of the `samordna` command for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Profile(_) | ClientError::Usage { .. } => exit::USAGE,
            ClientError::KeyStore(KeyStoreError::Io { .. } | KeyStoreError::Random) => exit::OTHER,
            ClientError::KeyStore(_) => exit::USAGE,
            ClientError::KeyNotPublished { source, .. } => relay_exit_code(source),
            ClientError::Relay(e) => relay_exit_code(e),
            ClientError::Policy { .. } => exit::REFUSED,
            ClientError::Verification { .. } => exit::VERIFICATION,
            ClientError::Io { .. } | ClientError::Internal(_) => exit::OTHER,
        }
    }
}

fn relay_exit_code(e: &RelayError) -> u8 {
    match e {
        // The relay is there but cannot serve now: like not reaching it.
        RelayError::Refused { code, .. }
            if matches!(code.reason(), Some(Reason::Unavailable | Reason::Timeout)) =>
        {
            exit::UNREACHABLE
        }
        RelayError::Refused { .. } => exit::REFUSED,
        RelayError::Tls(_) | RelayError::Unreachable { .. } | RelayError::Timeout { .. } => exit::UNREACHABLE,
        RelayError::Config(_) => exit::USAGE,
        _ => exit::OTHER,
    }
}

impl ClientError {
    /// The relay's id for the request that failed, to quote to the relay's operator.
    pub fn request_id(&self) -> Option<&str> {
        let relay = match self {
            ClientError::Relay(e) => e,
            ClientError::KeyNotPublished { source, .. } => source,
            _ => return None,
        };
        match relay {
            RelayError::Refused { request_id, .. } | RelayError::Protocol { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// A stable machine code for `--json` output: the relay's code for its refusals, the
    /// [`Reason`] for local consent rules, else a client code.
    pub fn code(&self) -> String {
        match self {
            ClientError::Profile(_) => "profile".into(),
            ClientError::KeyStore(_) => "key_store".into(),
            ClientError::Usage { code, .. } => (*code).into(),
            ClientError::KeyNotPublished { source, .. } => relay_code(source),
            ClientError::Relay(e) => relay_code(e),
            ClientError::Policy { code, .. } => code.to_string(),
            ClientError::Verification { code, .. } => (*code).into(),
            ClientError::Io { .. } => "io".into(),
            ClientError::Internal(_) => "internal".into(),
        }
    }
}

fn relay_code(e: &RelayError) -> String {
    match e {
        RelayError::Refused { code, .. } => code.as_str().into(),
        RelayError::Tls(p) => p.code().into(),
        RelayError::Unreachable { .. } => "unreachable".into(),
        RelayError::Timeout { .. } => "timeout".into(),
        RelayError::Protocol { .. } => "protocol".into(),
        RelayError::Config(_) => "profile".into(),
        _ => "transfer".into(),
    }
}

impl From<Denial> for ClientError {
    fn from(d: Denial) -> Self {
        ClientError::policy(d.reason, d.message)
    }
}

impl From<samordna_core::IdError> for ClientError {
    /// An identifier typed by a person (or passed by a calling system) that does not parse.
    fn from(e: samordna_core::IdError) -> Self {
        ClientError::usage("usage", e.to_string())
    }
}

impl From<tokio::task::JoinError> for ClientError {
    fn from(e: tokio::task::JoinError) -> Self {
        ClientError::Internal(format!("a background task failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::refusal;

    #[test]
    fn exit_codes_follow_the_documented_classes() {
        let refused =
            ClientError::from(refusal(403, br#"{"error":{"code":"no_consent","message":"m"}}"#, None));
        assert_eq!((refused.exit_code(), refused.code().as_str()), (1, "no_consent"));
        let busy =
            ClientError::from(refusal(503, br#"{"error":{"code":"unavailable","message":"m"}}"#, None));
        assert_eq!(busy.exit_code(), 3);
        let local = ClientError::from(Denial::new(Reason::GuardianMissing, "m"));
        assert_eq!((local.exit_code(), local.code().as_str()), (1, "guardian_missing"));
        assert_eq!(ClientError::usage("usage", "m").exit_code(), 2);
        assert_eq!(ClientError::verification("envelope_invalid", "m").exit_code(), 4);
        let tls = ClientError::from(RelayError::Tls(crate::relay::TlsProblem::OurCertificateRevoked));
        assert_eq!((tls.exit_code(), tls.code().as_str()), (3, "tls_certificate_revoked"));
        assert_eq!(ClientError::Internal("x".into()).exit_code(), 5);
    }
}
