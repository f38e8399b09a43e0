//! `keys init`, `keys publish`, `keys list`: the principal's encryption keys.

use std::{fmt, path::PathBuf};

use samordna_core::{
    KeyId, PrincipalId, attestation::KeyAttestation, consent::add_months, encoding::rfc3339,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::{Session, now};
use crate::{
    error::ClientError,
    input::human_date,
    keystore::{KeyStore, StoredKey},
    relay::RelayMeta,
};

/// How long a new key's attestation lets senders encrypt to it.
const KEY_VALIDITY_MONTHS: u8 = 12;

/// `keys init` / `keys publish`.
#[derive(Clone, Debug, Serialize)]
pub struct KeysInitResult {
    /// The key.
    pub key_id: KeyId,
    /// Its secret's file.
    pub path: PathBuf,
    /// Senders may encrypt to it from…
    #[serde(with = "rfc3339")]
    pub not_before: OffsetDateTime,
    /// …until.
    #[serde(with = "rfc3339")]
    pub not_after: OffsetDateTime,
    /// False when the relay already had this attestation.
    pub newly_published: bool,
    /// The relay's request id and log index.
    pub relay: RelayMeta,
}

impl fmt::Display for KeysInitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Published encryption key {}, valid until {}{}.",
            self.key_id,
            human_date(self.not_after),
            if self.newly_published { "" } else { " (the relay already had it)" }
        )?;
        write!(
            f,
            "The secret is in {} (keep it, and back it up: old keys open old documents).",
            self.path.display()
        )
    }
}

/// One of the principal's keys as the relay publishes it.
#[derive(Clone, Debug, Serialize)]
pub struct PublishedKey {
    /// Senders may encrypt to it from…
    #[serde(with = "rfc3339")]
    pub not_before: OffsetDateTime,
    /// …until.
    #[serde(with = "rfc3339")]
    pub not_after: OffsetDateTime,
    /// Who attested it ("Name, Organisation (HSA-id …)"), when the attestation verifies.
    pub attested_by: Option<String>,
    /// Why the attestation does not verify, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation_error: Option<String>,
}

/// A key: held here, published, or both.
#[derive(Clone, Debug, Serialize)]
pub struct KeyInfo {
    /// The key.
    pub key_id: KeyId,
    /// Its secret's file, when this profile holds it.
    pub path: Option<PathBuf>,
    /// When the file was written.
    #[serde(with = "rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    /// How the relay publishes it, if it does.
    pub published: Option<PublishedKey>,
}

/// `keys list`.
#[derive(Clone, Debug, Serialize)]
pub struct KeysListResult {
    /// Our principal.
    pub principal: PrincipalId,
    /// Every key held here or published, held ones first (newest first).
    pub keys: Vec<KeyInfo>,
    /// Whether the relay was asked (`keys list --local` does not).
    pub relay_checked: bool,
}

impl fmt::Display for KeysListResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.keys.is_empty() {
            return write!(f, "No encryption keys yet; run `samordna keys init`.");
        }
        let mut lines = Vec::new();
        for k in &self.keys {
            let held = if k.path.is_some() { "held here" } else { "not held here" };
            let published = match (&k.published, self.relay_checked) {
                (Some(p), _) => match (&p.attested_by, &p.attestation_error) {
                    (Some(by), _) => format!("published until {}, attested by {by}", human_date(p.not_after)),
                    (None, why) => format!(
                        "published, but its attestation does not verify: {}",
                        why.as_deref().unwrap_or("unknown reason")
                    ),
                },
                (None, true) => "not published (or no longer valid)".to_owned(),
                (None, false) => "publication not checked".to_owned(),
            };
            lines.push(format!("{}  {held}; {published}", k.key_id));
        }
        write!(f, "{}", lines.join("\n"))
    }
}

impl Session {
    fn key_store(&self) -> KeyStore {
        KeyStore::new(self.profile.keys_dir())
    }

    /// Makes a new encryption key, stores it (mode 0600), attests it for a year and publishes it.
    /// The key is stored before it is published, so that a published key can always be opened.
    pub async fn keys_init(&self) -> Result<KeysInitResult, ClientError> {
        let stored = self.key_store().generate()?;
        let (key_id, path) = (stored.secret.key_id().clone(), stored.path.clone());
        self.publish_stored(stored).await.map_err(|e| match e {
            ClientError::Relay(source) => {
                ClientError::KeyNotPublished { key_id, path, source: Box::new(source) }
            }
            other => other,
        })
    }

    /// Attests and publishes a key already in the store (after `keys init` could not reach the
    /// relay, or to extend a key for another year).
    pub async fn keys_publish(&self, key_id: &KeyId) -> Result<KeysInitResult, ClientError> {
        let stored = self.key_store().load(key_id)?;
        self.publish_stored(stored).await
    }

    async fn publish_stored(&self, stored: StoredKey) -> Result<KeysInitResult, ClientError> {
        let not_before = now();
        let not_after = add_months(not_before, KEY_VALIDITY_MONTHS);
        let attestation = KeyAttestation::create(
            self.profile.signer(),
            &stored.secret.public_key(),
            not_before,
            not_after,
            not_before,
        )
        .map_err(|e| ClientError::Internal(format!("the key could not be attested: {e}")))?;
        let answer = self.relay.publish_key(&attestation).await?;
        if answer.value.key_id != *stored.secret.key_id() {
            return Err(ClientError::Relay(crate::relay::RelayError::Protocol {
                status: Some(answer.status),
                detail: format!(
                    "it published key {} when {} was sent",
                    answer.value.key_id,
                    stored.secret.key_id()
                ),
                request_id: answer.meta.request_id,
            }));
        }
        Ok(KeysInitResult {
            key_id: answer.value.key_id,
            path: stored.path,
            not_before,
            not_after,
            newly_published: answer.status == 201,
            relay: answer.meta,
        })
    }

    /// The keys held in this profile, and (unless `local_only`) how the relay publishes our
    /// principal's keys, each attestation verified.
    pub async fn keys_list(&self, local_only: bool) -> Result<KeysListResult, ClientError> {
        let held = self.key_store().load_all()?;
        let principal = self.profile.principal().clone();
        let mut keys: Vec<KeyInfo> = held
            .iter()
            .map(|k| KeyInfo {
                key_id: k.secret.key_id().clone(),
                path: Some(k.path.clone()),
                created: k.created,
                published: None,
            })
            .collect();
        if !local_only {
            let list = self.relay.principal_keys(&principal).await?.value;
            let at = now();
            for att in &list.keys {
                let Ok(statement) = att.unverified_statement() else { continue };
                let verified = match att.verify(self.profile.trust(), at) {
                    Ok(k) if k.statement.principal == principal => Ok(k.attested_by.to_string()),
                    Ok(k) => Err(format!("it is for {}, not for us", k.statement.principal)),
                    Err(e) => Err(e.to_string()),
                };
                let published = PublishedKey {
                    not_before: statement.not_before,
                    not_after: statement.not_after,
                    attested_by: verified.as_ref().ok().cloned(),
                    attestation_error: verified.err(),
                };
                match keys.iter_mut().find(|k| k.key_id == statement.key_id) {
                    Some(k) => k.published = Some(published),
                    None => keys.push(KeyInfo {
                        key_id: statement.key_id,
                        path: None,
                        created: None,
                        published: Some(published),
                    }),
                }
            }
        }
        Ok(KeysListResult { principal, keys, relay_checked: !local_only })
    }
}
