//! Loading a profile directory: `profile.toml`, the certificate and key, the federation's trust.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use samordna_core::{
    Identity, PrincipalId, Signer, TrustStore,
    profile::{PROFILE_FILE, ProfileConfig},
    signature::SignerError,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The directory inside a profile that holds the principal's encryption keys.
pub const KEYS_DIR: &str = "keys";

/// How the SMTP connection is secured. There is no plain-text mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// STARTTLS, required: the message is never sent if the server does not offer it (port 587).
    #[default]
    Starttls,
    /// Implicit TLS from the first byte (port 465).
    Tls,
}

/// The optional `[smtp]` section of profile.toml: the principal's own mail server, for meeting
/// invitations (`docs/invitations.md`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The server's host name, as its certificate names it.
    pub host: String,
    /// The port; 587 for `starttls`, 465 for `tls` when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (the default) or `tls`.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// The sender, e.g. `"SIP-samordnare Linköpings kommun <sip@linkoping.example>"`; also the
    /// invitations' ORGANIZER.
    pub from: String,
    /// The user name for SMTP authentication (with `password_file`).
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the SMTP password (readable by its owner only).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for the server instead of the system's CA store.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// How to reach the organiser, printed in every invitation (a phone number, say); the `from`
    /// address when absent.
    #[serde(default)]
    pub contact: Option<String>,
}

/// Why a profile could not be loaded. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// profile.toml is not valid.
    #[error("{path} is not a valid profile: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The private key is readable by others than its owner.
    #[error("the private key {0} can be read by other users; run `chmod 600 {0}`")]
    KeyPermissions(PathBuf),
    /// The certificate and key do not load.
    #[error("the certificate or key in {dir} is not usable: {source}")]
    Signer {
        /// The profile directory.
        dir: PathBuf,
        /// Why.
        source: SignerError,
    },
    /// The trust files do not load, or our own certificate does not chain to them.
    #[error("{0}")]
    Trust(String),
}

/// A loaded profile: who we are, and whom we trust.
pub struct Profile {
    dir: PathBuf,
    config: ProfileConfig,
    smtp: Option<SmtpConfig>,
    signer: Signer,
    trust: TrustStore,
    /// The certificate chain and key again, for TLS client authentication (the [`Signer`] keeps its
    /// key to itself).
    tls_chain: Vec<CertificateDer<'static>>,
    tls_key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Profile {
    // By hand, so that no key material can reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("dir", &self.dir)
            .field("identity", self.signer.identity())
            .field("relay_url", &self.config.relay_url)
            .finish_non_exhaustive()
    }
}

impl Profile {
    /// Loads and checks a profile directory: the key is private, the certificate is the key's,
    /// and it chains to the federation root now.
    pub fn load(dir: &Path) -> Result<Self, ProfileError> {
        let config_path = dir.join(PROFILE_FILE);
        let text = fs::read_to_string(&config_path)
            .map_err(|source| ProfileError::Read { path: config_path.clone(), source })?;
        let config_error = |message: String| ProfileError::Config { path: config_path.clone(), message };
        // `[smtp]` is the client's own section; the rest is core's ProfileConfig, which refuses
        // unknown keys, so the section is taken out before the rest is read.
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| config_error(e.message().to_owned()))?;
        let smtp = match table.remove("smtp") {
            None => None,
            Some(v) => Some(
                v.try_into::<SmtpConfig>().map_err(|e| config_error(format!("[smtp]: {}", e.message())))?,
            ),
        };
        let config: ProfileConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| config_error(e.message().to_owned()))?;
        let path = |p: &Path| if p.is_absolute() { p.to_owned() } else { dir.join(p) };
        let read = |p: &Path| {
            let p = path(p);
            fs::read(&p).map_err(|source| ProfileError::Read { path: p, source })
        };

        let key_path = path(&config.private_key);
        let mode = fs::metadata(&key_path)
            .map_err(|source| ProfileError::Read { path: key_path.clone(), source })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(ProfileError::KeyPermissions(key_path));
        }
        let chain_pem = read(&config.certificate)?;
        let key_pem = Zeroizing::new(read(&config.private_key)?);
        let signer = Signer::from_pem(&chain_pem, &key_pem)
            .map_err(|source| ProfileError::Signer { dir: dir.to_owned(), source })?;
        // Signer::from_pem accepted both, so they parse; errors here are only defensive.
        let signer_err = |source: SignerError| ProfileError::Signer { dir: dir.to_owned(), source };
        let tls_chain = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| signer_err(samordna_core::CertError::Malformed(format!("PEM: {e}")).into()))?;
        let tls_key =
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| signer_err(SignerError::NotPkcs8))?;

        let roots = read(&config.root_ca)?;
        let crls = config.crl.iter().map(|c| read(c)).collect::<Result<Vec<_>, _>>()?;
        let crl_refs: Vec<&[u8]> = crls.iter().map(Vec::as_slice).collect();
        let trust = TrustStore::from_pem(&roots, &crl_refs).map_err(|e| {
            ProfileError::Trust(format!("the trust files of {} are not usable: {e}", dir.display()))
        })?;
        trust.verify_signer(signer.certificate(), &[], OffsetDateTime::now_utc()).map_err(|e| {
            ProfileError::Trust(format!(
                "this profile's own certificate is not accepted by its federation: {e}"
            ))
        })?;
        Ok(Profile { dir: dir.to_owned(), config, smtp, signer, trust, tls_chain, tls_key })
    }

    /// The profile directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed profile.toml.
    pub fn config(&self) -> &ProfileConfig {
        &self.config
    }

    /// The `[smtp]` section, when the profile has one.
    pub fn smtp(&self) -> Option<&SmtpConfig> {
        self.smtp.as_ref()
    }

    /// Our signing key and certificate.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The federation's trust anchors and CRLs.
    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// Who this profile acts as (from its certificate).
    pub fn identity(&self) -> &Identity {
        self.signer.identity()
    }

    /// Our principal.
    pub fn principal(&self) -> &PrincipalId {
        &self.signer.identity().principal
    }

    /// Where the principal's encryption keys live: `PROFILE/keys/`.
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join(KEYS_DIR)
    }

    /// The certificate chain (ours first) and private key for TLS client authentication.
    pub fn tls_client_auth(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.tls_chain.clone(), self.tls_key.clone_key())
    }
}
