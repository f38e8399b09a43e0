//! `samordna-relay dev-federation --out DIR`: a complete development federation in one directory.
//!
//! Everything here is for development and tests: the root key sits on disk next to the rest. An
//! operator running Samordna for real makes the same files from their own CA (`certs/README.md`).
//!
//! ```text
//! DIR/
//!   README.txt                  what this is
//!   ca/root-ca.pem              the federation root (trust anchor)
//!   ca/root-ca.key              its private key (0600; development only)
//!   ca/crl.pem                  the root's CRL (empty)
//!   relay/relay.toml, relay.db   the relay's configuration and SQLite database
//!   relay/server.pem, server.key (0600), root-ca.pem, crl.pem
//!   relay/log-signing.key (0600), log-verifier.txt   the access log's checkpoint key
//!   profiles/<name>/profile.toml, cert.pem, key.pem (0600), root-ca.pem, crl.pem
//! ```

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use samordna_core::{
    api::PrincipalKind,
    devpki::{DevCa, PersonSpec, Usage},
    id::{HsaId, PrincipalId},
    profile::{PROFILE_FILE, ProfileConfig},
};

use crate::{
    config::{ConsentSettings, Limits, LogSettings, RelayConfig, Retention, TlsConfig},
    store::{
        StoreError, principals,
        registry::{self, AuditScope, Auditor},
    },
};
use time::{Duration, OffsetDateTime};

/// One ready-to-use client profile of the development federation.
#[derive(Clone, Debug)]
pub struct DevProfile {
    /// Directory name under `profiles/`.
    pub dir: &'static str,
    /// The principal.
    pub principal: &'static str,
    /// The organisation's name.
    pub organisation: &'static str,
    /// The principal's kind.
    pub kind: PrincipalKind,
    /// The person.
    pub person: &'static str,
    /// Their HSA-id.
    pub hsa_id: &'static str,
    /// Their role, for people reading the README.
    pub role: &'static str,
    /// The principal's functional mailbox (for notifications).
    pub mailbox: &'static str,
}

/// The profiles `dev-federation` writes. The people are fictional; the region's and municipality's
/// organisation numbers are those of Region Östergötland and Linköpings kommun, the school's is made up.
pub const PROFILES: &[DevProfile] = &[
    DevProfile {
        dir: "region",
        principal: "SE2321000032",
        organisation: "Region Östergötland",
        kind: PrincipalKind::Region,
        person: "Anna Lind",
        hsa_id: "SE2321000032-al01",
        role: "sjuksköterska, vårdcentral",
        mailbox: "sip@regionostergotland.example",
    },
    DevProfile {
        dir: "municipality",
        principal: "SE2120000449",
        organisation: "Linköpings kommun",
        kind: PrincipalKind::Municipality,
        person: "Karin Berg",
        hsa_id: "SE2120000449-kb01",
        role: "socialsekreterare",
        mailbox: "sip@linkoping.example",
    },
    DevProfile {
        dir: "school",
        principal: "SE5569875437",
        organisation: "Stångåskolan AB",
        kind: PrincipalKind::School,
        person: "Lars Ek",
        hsa_id: "SE5569875437-le01",
        role: "skolkurator",
        mailbox: "elevhalsan@stangaskolan.example",
    },
    DevProfile {
        dir: "auditor",
        principal: "SE2321000032",
        organisation: "Region Östergötland",
        kind: PrincipalKind::Region,
        person: "Maria Gran",
        hsa_id: "SE2321000032-mg01",
        role: "logggranskare (compliance officer)",
        mailbox: "sip@regionostergotland.example",
    },
];

/// Where the relay listens in the development federation.
pub const DEV_RELAY_URL: &str = "https://localhost:8443";
/// The development relay's instance name: its log's origin is `samordna.se/relay/dev`.
pub const DEV_LOG_INSTANCE: &str = "dev";
/// The development federation's compliance officer (an auditor of the region).
pub const DEV_AUDITOR: &str = "SE2321000032-mg01";

/// The relay's listen address in the development federation.
pub const DEV_LISTEN: &str = "127.0.0.1:8443";

/// What was written.
#[derive(Debug)]
pub struct Written {
    /// The output directory.
    pub out: PathBuf,
    /// The relay's configuration file.
    pub relay_config: PathBuf,
    /// One directory per profile.
    pub profiles: Vec<PathBuf>,
}

/// Writes the development federation into `out`, which must not exist or be empty.
pub fn write(out: &Path, relay_url: &str, now: OffsetDateTime) -> Result<Written> {
    if out.exists()
        && fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?.next().is_some()
    {
        bail!(
            "{} is not empty; choose a new directory (dev-federation never overwrites keys)",
            out.display()
        );
    }
    let not_before = now - Duration::hours(1);
    let not_after = now + Duration::days(2 * 365);

    let ca = DevCa::new("Samordna utvecklingsfederation", not_before, now + Duration::days(10 * 365))?;
    let crl = ca.crl(1, &[], not_before, now + Duration::days(365))?;
    let root = &ca.root().cert_pem;

    write_file(&out.join("ca/root-ca.pem"), root.as_bytes(), false)?;
    write_file(&out.join("ca/root-ca.key"), ca.root().key_pem.as_bytes(), true)?;
    write_file(&out.join("ca/crl.pem"), crl.as_bytes(), false)?;

    let server = ca.issue_server(&["localhost", "127.0.0.1"], not_before, not_after)?;
    let relay = out.join("relay");
    write_file(&relay.join("server.pem"), server.cert_pem.as_bytes(), false)?;
    write_file(&relay.join("server.key"), server.key_pem.as_bytes(), true)?;
    write_file(&relay.join("root-ca.pem"), root.as_bytes(), false)?;
    write_file(&relay.join("crl.pem"), crl.as_bytes(), false)?;
    // The access log's checkpoint signing key: secret, next to the relay's TLS key.
    let origin = samordna_core::log::note::relay_origin(DEV_LOG_INSTANCE)?;
    let (log_key, log_vkey) =
        samordna_core::log::NoteSigner::generate(&origin, &ring::rand::SystemRandom::new())?;
    write_file(&relay.join("log-signing.key"), format!("{}\n", log_key.as_str()).as_bytes(), true)?;
    write_file(&relay.join("log-verifier.txt"), format!("{log_vkey}\n").as_bytes(), false)?;
    let relay_config = RelayConfig {
        listen: DEV_LISTEN.parse()?,
        database: "sqlite:relay.db".into(),
        tls: TlsConfig {
            certificate: "server.pem".into(),
            private_key: "server.key".into(),
            client_ca: "root-ca.pem".into(),
            crl: vec!["crl.pem".into()],
            dangerous_allow_no_crl: false,
        },
        limits: Limits::default(),
        consent: ConsentSettings::default(),
        retention: Retention::default(),
        log: LogSettings {
            instance: DEV_LOG_INSTANCE.into(),
            signing_key: "log-signing.key".into(),
            checkpoint_poll_ms: 250,
        },
        smtp: None,
    };
    let relay_text = format!(
        "# Samordna relay configuration, made by `samordna-relay dev-federation` for development only.\n\
         # Every key is described in docs/operations.md.\n{}",
        toml::to_string(&relay_config)?
    );
    write_file(&relay.join("relay.toml"), relay_text.as_bytes(), false)?;

    let mut profiles = Vec::new();
    for p in PROFILES {
        let issued = ca.issue_person(&PersonSpec {
            principal: PrincipalId::parse(p.principal)?,
            organisation: p.organisation.into(),
            name: p.person.into(),
            hsa_id: HsaId::parse(p.hsa_id)?,
            not_before,
            not_after,
            usage: Usage::ClientAndSigning,
        })?;
        let dir = out.join("profiles").join(p.dir);
        write_file(&dir.join("cert.pem"), issued.cert_pem.as_bytes(), false)?;
        write_file(&dir.join("key.pem"), issued.key_pem.as_bytes(), true)?;
        write_file(&dir.join("root-ca.pem"), root.as_bytes(), false)?;
        write_file(&dir.join("crl.pem"), crl.as_bytes(), false)?;
        let config = ProfileConfig {
            relay_url: relay_url.to_owned(),
            certificate: "cert.pem".into(),
            private_key: "key.pem".into(),
            root_ca: "root-ca.pem".into(),
            crl: vec!["crl.pem".into()],
            relay_log_key: Some(log_vkey.to_string()),
        };
        let text = format!(
            "# Samordna client profile: {} ({}), {}, {}.\n# Made by `samordna-relay dev-federation` for development only.\n{}",
            p.person,
            p.role,
            p.organisation,
            p.hsa_id,
            toml::to_string(&config)?
        );
        write_file(&dir.join(PROFILE_FILE), text.as_bytes(), false)?;
        profiles.push(dir);
    }
    write_file(&out.join("README.txt"), readme(relay_url).as_bytes(), false)?;
    Ok(Written { out: out.to_owned(), relay_config: relay.join("relay.toml"), profiles })
}

/// Creates the relay's database and registers the federation's principals in it.
pub async fn register(written: &Written) -> Result<()> {
    let loaded = RelayConfig::load(&written.relay_config)?;
    let store = crate::serve::open_store(&loaded).await?;
    let mut tx = store.write().await?;
    let now = OffsetDateTime::now_utc();
    let mut seen = std::collections::HashSet::new();
    // The auditor's principal is the region's: registered once. (Skipped here rather than by
    // catching the conflict, which on PostgreSQL would abort the whole transaction.)
    for p in PROFILES.iter().filter(|p| seen.insert(p.principal)) {
        let principal = principals::Principal {
            id: PrincipalId::parse(p.principal)?,
            name: p.organisation.into(),
            kind: p.kind,
            mailbox: p.mailbox.into(),
            enabled: true,
            created_at: now,
        };
        // Already there from an earlier run against the same database: keep it.
        if principals::get(&mut tx, &principal.id).await?.is_none() {
            principals::add(&mut tx, &principal).await?;
        }
    }
    let auditor = Auditor {
        hsa_id: HsaId::parse(DEV_AUDITOR)?,
        principal: PrincipalId::parse("SE2321000032")?,
        scope: AuditScope::Principal,
    };
    match registry::add_auditor(&mut tx, &auditor, now).await {
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    store.close().await;
    Ok(())
}

fn readme(relay_url: &str) -> String {
    let mut s = String::from(
        "Samordna development federation -- FOR DEVELOPMENT AND TESTS ONLY.\n\
         The root CA's private key is in ca/root-ca.key: anyone with this directory can issue\n\
         certificates that this federation trusts. Never use it for real data.\n\n",
    );
    s.push_str(&format!("Relay URL in the profiles: {relay_url}\n\nProfiles:\n"));
    for p in PROFILES {
        s.push_str(&format!(
            "  profiles/{:<13} {}, {} ({}), HSA-id {}\n",
            p.dir, p.organisation, p.person, p.role, p.hsa_id
        ));
    }
    s
}

/// Creates `path` (and its directory); secrets get mode 0600 from the start, never wider.
fn write_file(path: &Path, data: &[u8], secret: bool) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mode = if secret { 0o600 } else { 0o644 };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data).with_context(|| format!("writing {}", path.display()))?;
    // The process umask may have narrowed the mode further; secrets must still be exactly 0600.
    if secret {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use samordna_core::{Identity, Signer, TrustStore};

    #[test]
    fn writes_a_federation_whose_profiles_verify() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("fed");
        let now = OffsetDateTime::now_utc();
        let written = write(&out, DEV_RELAY_URL, now).unwrap();
        assert_eq!(written.profiles.len(), PROFILES.len());

        let root = fs::read(out.join("ca/root-ca.pem")).unwrap();
        let crl = fs::read(out.join("ca/crl.pem")).unwrap();
        let trust = TrustStore::from_pem(&root, &[&crl]).unwrap();
        for (p, d) in PROFILES.iter().zip(&written.profiles) {
            let key_mode = fs::metadata(d.join("key.pem")).unwrap().permissions().mode() & 0o777;
            assert_eq!(key_mode, 0o600, "{}", p.dir);
            let cfg: ProfileConfig =
                toml::from_str(&fs::read_to_string(d.join(PROFILE_FILE)).unwrap()).unwrap();
            let signer = Signer::from_pem(
                &fs::read(d.join(&cfg.certificate)).unwrap(),
                &fs::read(d.join(&cfg.private_key)).unwrap(),
            )
            .unwrap();
            let verified = trust.verify_signer(signer.certificate(), &[], now).unwrap();
            let Identity { principal, organisation, name, hsa_id } = verified.identity;
            assert_eq!(
                (principal.as_str(), organisation.as_str(), name.as_str(), hsa_id.as_str()),
                (p.principal, p.organisation, p.person, p.hsa_id)
            );
        }
        assert_eq!(fs::metadata(out.join("relay/server.key")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(out.join("ca/root-ca.key")).unwrap().permissions().mode() & 0o777, 0o600);
        // Never overwrites.
        assert!(write(&out, DEV_RELAY_URL, now).is_err());
    }
}
