//! The relay's configuration file (`relay.toml`). Every key is documented here and in
//! `docs/operations.md`; unknown keys are refused; relative paths are relative to the file.
//!
//! ```toml
//! listen = "127.0.0.1:8443"
//! database = "sqlite:relay.db"            # or "postgres://user@host/db"
//!
//! [tls]
//! certificate = "server.pem"
//! private_key = "server.key"
//! client_ca = "root-ca.pem"
//! crl = ["crl.pem"]
//!
//! [limits]
//! max_envelope_bytes = 1073741824
//! max_recipients = 16
//! request_timeout_seconds = 300
//! idle_timeout_seconds = 30
//!
//! [consent]
//! max_validity_months = 12
//!
//! [log]
//! instance = "ostergotland"             # origin samordna.se/relay/ostergotland
//! signing_key = "log-signing.key"
//!
//! [retention]
//! keep_after_fetch_days = 30
//! delete_unfetched_after_days = 90
//! sweep_interval_seconds = 600
//! ```

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// `relay.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Address and port to listen on for HTTPS with mutual TLS.
    pub listen: SocketAddr,
    /// `sqlite:PATH` (the embedded default; PATH relative to this file) or `postgres://…`.
    pub database: String,
    /// TLS: the relay's certificate and the federation's trust.
    pub tls: TlsConfig,
    /// Limits on requests.
    #[serde(default)]
    pub limits: Limits,
    /// Consent rules.
    #[serde(default)]
    pub consent: ConsentSettings,
    /// How long ciphertext is kept: the relay is store-and-forward, not an archive.
    #[serde(default)]
    pub retention: Retention,
    /// The tamper-evident access log.
    pub log: LogSettings,
    /// Where notices to principals' functional mailboxes go. Without it, notices are kept in the
    /// outbox (and shown in the principals' inboxes) but not mailed.
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
}

/// How the relay talks to its SMTP server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (default; port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[smtp]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// The SMTP server's host name (its TLS certificate must name it).
    pub host: String,
    /// Port; default 587 for `starttls`, 465 for `tls`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default) or `tls`. There is no plaintext mode.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// User name, if the server requires authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (mode 0600), with `username`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. `Samordna <noreply@samordna.example.se>`.
    pub from: String,
    /// CA certificate(s) (PEM) to trust for the SMTP server instead of the system's CA store.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Seconds to collect a principal's events before mailing one notice about all of them. Default 60.
    #[serde(default = "default_batch_seconds")]
    pub batch_seconds: u64,
    /// Seconds before the first retry of a failed delivery; doubles each time. Default 30.
    #[serde(default = "default_retry_base")]
    pub retry_base_seconds: u64,
    /// Longest wait between retries, in seconds. Default 3600.
    #[serde(default = "default_retry_max")]
    pub retry_max_seconds: u64,
    /// Directory with `notice.txt` and `notice.html` to use instead of the built-in Swedish texts.
    #[serde(default)]
    pub templates: Option<PathBuf>,
}

fn default_batch_seconds() -> u64 {
    60
}

fn default_retry_base() -> u64 {
    30
}

fn default_retry_max() -> u64 {
    3600
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// This relay's name in the federation: the log's origin is `samordna.se/relay/<instance>`.
    /// Relay processes that share one database share one instance name and one key.
    pub instance: String,
    /// The checkpoint signing key (a note signer key, `PRIVATE+KEY+…`), readable only by the
    /// relay's user. `samordna-relay log keygen` makes one.
    pub signing_key: PathBuf,
    /// How often the relay looks for new entries to sign a checkpoint over, in milliseconds.
    /// Default 250.
    #[serde(default = "default_checkpoint_poll_ms")]
    pub checkpoint_poll_ms: u64,
}

fn default_checkpoint_poll_ms() -> u64 {
    250
}

/// `[retention]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Days an envelope's ciphertext is kept after every recipient has fetched it. Default 30.
    pub keep_after_fetch_days: u32,
    /// Days after which ciphertext not fetched by every recipient is deleted, and the sender told.
    /// Default 90.
    pub delete_unfetched_after_days: u32,
    /// How often the relay looks for ciphertext to delete, in seconds. Default 600.
    pub sweep_interval_seconds: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { keep_after_fetch_days: 30, delete_unfetched_after_days: 90, sweep_interval_seconds: 600 }
    }
}

/// `[tls]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The relay's server certificate (PEM), followed by any intermediates.
    pub certificate: PathBuf,
    /// Its private key (PEM, PKCS#8 or SEC1), readable by the relay's user only.
    pub private_key: PathBuf,
    /// The federation root certificate(s) (PEM) that client certificates must chain to.
    pub client_ca: PathBuf,
    /// CRLs of the federation CA(s) (PEM). At least one is required: every client certificate's
    /// issuer must be covered, and an expired CRL stops all logins until a fresh one is installed.
    #[serde(default)]
    pub crl: Vec<PathBuf>,
    /// Start without any CRL, so that revoked certificates are accepted. For isolated test set-ups
    /// only; the relay logs a warning at start-up.
    #[serde(default)]
    pub dangerous_allow_no_crl: bool,
}

/// `[limits]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest envelope accepted, in bytes (header and ciphertext). Default 1 GiB.
    pub max_envelope_bytes: u64,
    /// Most recipient keys in one envelope. Default 16.
    pub max_recipients: usize,
    /// Longest a request may take, in seconds (large uploads and downloads included). Default 300.
    pub request_timeout_seconds: u64,
    /// Longest a client may leave a request body or a TLS handshake idle, in seconds. Default 30.
    pub idle_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_envelope_bytes: 1 << 30,
            max_recipients: 16,
            request_timeout_seconds: 300,
            idle_timeout_seconds: 30,
        }
    }
}

/// `[consent]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentSettings {
    /// Longest validity of a consent, in months from its start. Default 12.
    pub max_validity_months: u8,
}

impl Default for ConsentSettings {
    fn default() -> Self {
        ConsentSettings { max_validity_months: samordna_core::consent::DEFAULT_MAX_VALIDITY_MONTHS }
    }
}

/// A loaded configuration with paths resolved.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration, paths made absolute.
    pub config: RelayConfig,
    /// The database URL for sqlx.
    pub database_url: String,
}

impl RelayConfig {
    /// Reads, parses and checks `path`; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Loaded> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the relay configuration {}", path.display()))?;
        let mut config: RelayConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let base = if base.as_os_str().is_empty() { Path::new(".") } else { base };
        let abs = |p: &Path| if p.is_absolute() { p.to_owned() } else { base.join(p) };
        config.tls.certificate = abs(&config.tls.certificate);
        config.tls.private_key = abs(&config.tls.private_key);
        config.tls.client_ca = abs(&config.tls.client_ca);
        config.tls.crl = config.tls.crl.iter().map(|p| abs(p)).collect();
        config.log.signing_key = abs(&config.log.signing_key);
        if let Some(smtp) = config.smtp.as_mut() {
            smtp.password_file = smtp.password_file.as_deref().map(abs);
            smtp.ca = smtp.ca.as_deref().map(abs);
            smtp.templates = smtp.templates.as_deref().map(abs);
        }
        config.check().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let database_url = database_url(&config.database, base)?;
        Ok(Loaded { config, database_url })
    }

    fn check(&self) -> Result<()> {
        if self.tls.crl.is_empty() && !self.tls.dangerous_allow_no_crl {
            bail!(
                "tls.crl is empty: the relay needs the federation CA's CRL to refuse revoked certificates \
                 (set tls.dangerous_allow_no_crl = true only for an isolated test set-up)"
            );
        }
        if self.limits.max_recipients == 0
            || self.limits.max_recipients > samordna_core::envelope::MAX_RECIPIENTS
        {
            bail!("limits.max_recipients must be between 1 and {}", samordna_core::envelope::MAX_RECIPIENTS);
        }
        if self.limits.max_envelope_bytes < 1024 {
            bail!("limits.max_envelope_bytes must be at least 1024");
        }
        if self.limits.request_timeout_seconds == 0 || self.limits.idle_timeout_seconds == 0 {
            bail!("limits.request_timeout_seconds and limits.idle_timeout_seconds must be positive");
        }
        if self.retention.sweep_interval_seconds == 0 || self.retention.delete_unfetched_after_days == 0 {
            bail!(
                "retention.sweep_interval_seconds and retention.delete_unfetched_after_days must be positive"
            );
        }
        if self.log.checkpoint_poll_ms == 0 || self.log.checkpoint_poll_ms > 10_000 {
            bail!("log.checkpoint_poll_ms must be between 1 and 10000");
        }
        if let Some(smtp) = &self.smtp {
            if smtp.username.is_some() != smtp.password_file.is_some() {
                bail!("smtp.username and smtp.password_file go together");
            }
            if smtp.retry_base_seconds == 0 || smtp.retry_max_seconds < smtp.retry_base_seconds {
                bail!("smtp.retry_base_seconds must be positive and at most smtp.retry_max_seconds");
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                bail!("smtp.from {:?} is not an e-mail address", smtp.from);
            }
        }
        if self.consent.max_validity_months == 0 {
            bail!("consent.max_validity_months must be at least 1");
        }
        Ok(())
    }
}

/// `sqlite:relay.db` → an absolute sqlx URL that creates the file; `postgres://…` unchanged.
pub fn database_url(database: &str, base: &Path) -> Result<String> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        return Ok(database.to_owned());
    }
    let Some(path) = database.strip_prefix("sqlite://").or_else(|| database.strip_prefix("sqlite:")) else {
        bail!("database must be \"sqlite:PATH\" or \"postgres://…\", not {database:?}");
    };
    if path.is_empty() || path.contains('?') {
        bail!("database: give a plain file path after \"sqlite:\" (options are set by the relay)");
    }
    let path = Path::new(path);
    let path = if path.is_absolute() { path.to_owned() } else { base.join(path) };
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("relay.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = r#"
listen = "127.0.0.1:8443"
database = "sqlite:relay.db"
[tls]
certificate = "server.pem"
private_key = "server.key"
client_ca = "root-ca.pem"
crl = ["crl.pem"]
[log]
instance = "test"
signing_key = "log.key"
"#;

    #[test]
    fn loads_and_resolves_paths() {
        let d = tempfile::tempdir().unwrap();
        let loaded = RelayConfig::load(&write(d.path(), GOOD)).unwrap();
        assert_eq!(loaded.config.tls.certificate, d.path().join("server.pem"));
        assert_eq!(loaded.database_url, format!("sqlite://{}?mode=rwc", d.path().join("relay.db").display()));
        assert_eq!(loaded.config.limits, Limits::default());
    }

    #[test]
    fn errors_name_the_key() {
        let d = tempfile::tempdir().unwrap();
        let typo = GOOD.replace("max_recipients", "x").replace("[tls]", "[tls]\ncrl_file = \"x\"");
        let e = RelayConfig::load(&write(d.path(), &typo)).unwrap_err().to_string();
        assert!(e.contains("crl_file"), "{e}");
        let no_crl = GOOD.replace("crl = [\"crl.pem\"]", "");
        let e = RelayConfig::load(&write(d.path(), &no_crl)).unwrap_err().to_string();
        assert!(e.contains("tls.crl"), "{e}");
        let bad_db = GOOD.replace("sqlite:relay.db", "mysql://x");
        let e = RelayConfig::load(&write(d.path(), &bad_db)).unwrap_err().to_string();
        assert!(e.contains("database"), "{e}");
    }
}
