//! This profile as a witness of the relay's access log (`docs/spec/access-log-v1.md` §5).
//!
//! `samordna witness init` makes a `cosignature/v1` key, stores it as `PROFILE/witness.key` (mode
//! 0600), has the profile's certificate vouch for it and publishes it at the relay. From then on,
//! every log check that finds the relay's new checkpoint consistent with the last one this profile
//! saw also cosigns it ([`crate::logcheck`]), so that the relay cannot show one history to this
//! principal and another to anyone else without one of them holding a signed contradiction.
//!
//! The key is per profile (per person or system), not per principal: a cosignature states what
//! *this* client saw, and the relay refuses a second key under a name already taken.

use std::{
    fmt, fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use ring::rand::SystemRandom;
use samordna_core::{
    Identity,
    log::{Cosigner, VerifierKey, note::is_valid_key_name, witness},
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{
    error::ClientError,
    ops::{Session, now},
    relay::RelayMeta,
};

/// The witness key's file inside a profile directory.
pub const WITNESS_KEY_FILE: &str = "witness.key";

/// Where a profile keeps its witness key.
pub fn key_path(profile_dir: &Path) -> PathBuf {
    profile_dir.join(WITNESS_KEY_FILE)
}

/// The name of a profile's witness key: `witness.<HSA-id>.samordna`. The HSA-id names the person
/// or system (and, in its first part, the organisation), so two profiles never share a name.
pub fn key_name(identity: &Identity) -> String {
    format!("witness.{}.samordna", identity.hsa_id)
}

/// Loads the witness key of a profile, if it has one. A key file that others can read, or that
/// does not hold a cosigner key, is an error that says what to do.
pub fn load(profile_dir: &Path) -> Result<Option<Cosigner>, ClientError> {
    let path = key_path(profile_dir);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClientError::io("cannot read the witness key", &path)(e)),
    };
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ClientError::usage(
            "witness_key_permissions",
            format!("the witness key {0} can be read by other users; run `chmod 600 {0}`", path.display()),
        ));
    }
    let text = Zeroizing::new(
        fs::read_to_string(&path).map_err(ClientError::io("cannot read the witness key", &path))?,
    );
    let cosigner = Cosigner::from_signer_key(text.trim()).map_err(|e| {
        ClientError::usage(
            "witness_key_invalid",
            format!(
                "{} is not a witness key ({e}); move it away and run `samordna witness init` to make a new one",
                path.display()
            ),
        )
    })?;
    Ok(Some(cosigner))
}

/// Writes a new signer key to `path`, mode 0600 from the start, never replacing a file.
fn store(path: &Path, skey: &str) -> Result<(), ClientError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(ClientError::io("cannot create the witness key", path))?;
    let mut text = Zeroizing::new(skey.to_owned());
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(ClientError::io("cannot write the witness key", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(ClientError::io("cannot protect the witness key", path))?;
    Ok(())
}

/// `witness init`.
#[derive(Clone, Debug, Serialize)]
pub struct WitnessInitResult {
    /// The key's name.
    pub key_name: String,
    /// Its verifier key (public): what auditors count this witness by.
    pub vkey: String,
    /// The secret's file.
    pub path: PathBuf,
    /// False when the profile already had a witness key (it was published again).
    pub newly_created: bool,
    /// False when the relay already had this key.
    pub newly_published: bool,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
}

impl fmt::Display for WitnessInitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} witness key {}{}.",
            if self.newly_created { "Made and published the" } else { "Published the existing" },
            self.key_name,
            if self.newly_published { "" } else { " (the relay already had it)" }
        )?;
        writeln!(f, "Verifier key, for auditors who count this witness:\n  {}", self.vkey)?;
        write!(
            f,
            "The secret is in {}. From now on every command that reaches the relay checks its access log \
             and cosigns the new checkpoint.",
            self.path.display()
        )
    }
}

impl Session {
    /// `witness init`: makes (or reuses) this profile's witness key, attests it with the profile's
    /// certificate and publishes it at the relay.
    pub async fn witness_init(&self) -> Result<WitnessInitResult, ClientError> {
        let profile = self.profile();
        let path = key_path(profile.dir());
        let (cosigner, newly_created) = match load(profile.dir())? {
            Some(c) => (c, false),
            None => {
                let name = key_name(profile.identity());
                if !is_valid_key_name(&name) {
                    return Err(ClientError::Internal(format!("{name:?} cannot be a key name")));
                }
                let (skey, _) = Cosigner::generate(&name, &SystemRandom::new())
                    .map_err(|e| ClientError::Internal(format!("no witness key could be made: {e}")))?;
                store(&path, &skey)?;
                let cosigner = Cosigner::from_signer_key(&skey)
                    .map_err(|e| ClientError::Internal(format!("the new witness key does not load: {e}")))?;
                (cosigner, true)
            }
        };
        let vkey: VerifierKey = cosigner.verifier_key();
        let attestation = witness::attest(profile.signer(), &vkey, now())
            .map_err(|e| ClientError::Internal(format!("the witness key could not be attested: {e}")))?;
        // A failure leaves the key stored: `witness init` again publishes the same key.
        let answer = self.relay().publish_witness(&attestation).await?;
        Ok(WitnessInitResult {
            key_name: cosigner.name().to_owned(),
            vkey: vkey.to_string(),
            path,
            newly_created,
            newly_published: answer.status == 201,
            relay: answer.meta,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_witness_key_is_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let (skey, vkey) =
            Cosigner::generate("witness.SE2120000449-kb01.samordna", &SystemRandom::new()).unwrap();
        store(&key_path(dir.path()), &skey).unwrap();
        let mode = fs::metadata(key_path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load(dir.path()).unwrap().unwrap().verifier_key(), vkey);
        // Never replaced.
        assert!(store(&key_path(dir.path()), &skey).is_err());
        // Readable by others: refused, saying what to do.
        fs::set_permissions(key_path(dir.path()), fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("chmod 600"), "{e}");
        fs::set_permissions(key_path(dir.path()), fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(key_path(dir.path()), "not a key\n").unwrap();
        assert_eq!(load(dir.path()).unwrap_err().code(), "witness_key_invalid");
    }

    #[test]
    fn key_names_are_valid_and_per_person() {
        let name = format!("witness.{}.samordna", "SE2120000449-kb01");
        assert!(is_valid_key_name(&name));
    }
}
