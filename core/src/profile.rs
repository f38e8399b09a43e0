//! The client profile file, `profile.toml`: what a `samordna --profile DIR` needs to act as one
//! person or system of one principal. The client reads it; `samordna-relay dev-federation` writes
//! it. Paths are relative to the profile directory unless absolute.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The name of the profile file inside a profile directory.
pub const PROFILE_FILE: &str = "profile.toml";

/// `profile.toml`. Unknown keys are refused, so a misspelt key is an error, not a silent default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Base URL of the relay, `https://host:port`.
    pub relay_url: String,
    /// The person's or system's certificate (PEM), optionally followed by intermediate CA certificates.
    pub certificate: PathBuf,
    /// The certificate's private key: PKCS#8 PEM, readable by its owner only (mode 0600).
    pub private_key: PathBuf,
    /// The federation root certificate(s) (PEM): trusted for the relay's TLS certificate and for
    /// every signature the client checks.
    pub root_ca: PathBuf,
    /// Certificate revocation lists of the federation CA(s) (PEM). Without any, revocation is not checked.
    #[serde(default)]
    pub crl: Vec<PathBuf>,
    /// The relay's access-log verifier key (`samordna.se/relay/<instance>+<key id>+<key>`), as the
    /// relay's operator publishes it. With it, the client checks every checkpoint the relay shows
    /// it, and that the log only ever grows (`docs/spec/access-log-v1.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_log_key: Option<String>,
}
