//! `audit verify`: proves the relay's access log unaltered, as `docs/spec/access-log-v1.md` §6
//! describes, and names the first index where it is not.
//!
//! 1. **History**: the auditor's own last checkpoint is extended by the relay's newest
//!    ([`Session::check_log`]; a rewind or fork is kept as evidence).
//! 2. **Tree heads**: every checkpoint the relay ever signed verifies with `relay_log_key`, and
//!    every cosignature on it with the witness key its principal attested.
//! 3. **Completeness**: the roots recomputed from all leaf hashes equal the signed root at every
//!    checkpoint size (and at the auditor's own stored checkpoint).
//! 4. **Entries**: every entry the auditor may see decodes, holds the index it is served under,
//!    and hashes to the leaf at that index.
//!
//! A root that no longer matches names the first index after the last checkpoint that still
//! matched: the relay signs a checkpoint after almost every change, so that is usually the entry
//! itself. An entry that does not match its leaf is named exactly.

use std::fmt;

use samordna_core::log::{Checkpoint, Tree, VerifiedSignature, merkle, open_checkpoint};
use serde::Serialize;
use time::OffsetDateTime;

use super::{PAGE, auditor_error, decode_record, fetch_records};
use crate::{
    error::ClientError,
    input::human_time,
    logcheck::{LogCheckError, LogState, WitnessSeen, directory, log_key, published_witnesses, unique_keys},
    ops::{NamedPrincipal, Session},
    relay::{EntryFilter, RelayError},
};

/// The most leaf hashes the relay serves per page.
const LEAF_PAGE: u64 = 10_000;

/// Something wrong with the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// The first index that does not match, when the fault is an entry's.
    pub index: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "entry {i}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// One published witness and the newest checkpoint it cosigned.
#[derive(Clone, Debug, Serialize)]
pub struct WitnessSummary {
    /// Its principal.
    pub principal: NamedPrincipal,
    /// The key's name.
    pub key_name: String,
    /// The largest checkpoint carrying its cosignature.
    pub latest_cosigned_size: Option<u64>,
    /// When it cosigned that one (seconds since 1970).
    pub latest_cosigned_at: Option<i64>,
    /// Why its attestation does not verify (it is then not counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `audit verify`.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// The log.
    pub origin: String,
    /// Whether every check passed.
    pub ok: bool,
    /// The first bad index, if an entry is at fault.
    pub first_bad_index: Option<u64>,
    /// Everything found wrong, the first bad index first.
    pub damage: Vec<Damage>,
    /// Signed checkpoints verified (signature, cosignatures, and root recomputed).
    pub checkpoints_checked: usize,
    /// The newest signed checkpoint's size: the log size verified.
    pub log_size: u64,
    /// Its root hash (base64).
    pub root_hash: String,
    /// Leaf hashes read.
    pub leaves_checked: u64,
    /// Entries decoded and compared with their leaves.
    pub entries_checked: u64,
    /// Entries newer than the newest checkpoint (checked next time).
    pub entries_not_yet_signed: u64,
    /// The size of the checkpoint this profile had verified before, if any.
    pub previous_size: Option<u64>,
    /// Witnesses whose cosignature is on the newest checkpoint.
    pub newest_witnessed_by: Vec<WitnessSeen>,
    /// Every published witness and what it cosigned.
    pub witnesses: Vec<WitnessSummary>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok {
            writeln!(f, "The access log {} verifies.", self.origin)?;
        } else {
            writeln!(f, "THE ACCESS LOG {} DOES NOT VERIFY.", self.origin)?;
            for d in &self.damage {
                writeln!(f, "  {d}")?;
            }
        }
        writeln!(f, "  checkpoints checked: {}", self.checkpoints_checked)?;
        writeln!(f, "  log size:            {} entries (newest signed checkpoint)", self.log_size)?;
        writeln!(f, "  root hash:           {}", self.root_hash)?;
        writeln!(
            f,
            "  entries checked:     {} of those you may see ({} leaf hashes)",
            self.entries_checked, self.leaves_checked
        )?;
        match self.previous_size {
            Some(p) => writeln!(f, "  consistent with the checkpoint of {p} entries you verified before")?,
            None => writeln!(f, "  no earlier checkpoint of yours to compare with (kept for next time)")?,
        }
        if self.newest_witnessed_by.is_empty() {
            writeln!(f, "  newest checkpoint witnessed by: nobody yet")?;
        } else {
            writeln!(f, "  newest checkpoint witnessed by:")?;
            for w in &self.newest_witnessed_by {
                writeln!(f, "    {w}")?;
            }
        }
        if self.witnesses.is_empty() {
            write!(f, "  witnesses: none published")
        } else {
            write!(f, "  witnesses:")?;
            for w in &self.witnesses {
                write!(f, "\n    {} ({}): ", w.principal, w.key_name)?;
                match (&w.problem, w.latest_cosigned_size) {
                    (Some(p), _) => write!(f, "NOT COUNTED, its attestation does not verify: {p}")?,
                    (None, Some(size)) => {
                        write!(f, "cosigned up to {size} entries")?;
                        if let Some(t) =
                            w.latest_cosigned_at.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                        {
                            write!(f, ", {}", human_time(t))?;
                        }
                    }
                    (None, None) => write!(f, "has cosigned no checkpoint")?,
                }
            }
            Ok(())
        }
    }
}

fn root_base64(c: &Checkpoint) -> String {
    c.to_text().lines().nth(2).unwrap_or_default().to_owned()
}

impl Session {
    /// `audit verify`. Damage is reported in the result (`ok: false`), not as an error; errors are
    /// for what stopped the check (the relay cannot be reached, the caller is not an auditor).
    pub async fn audit_verify(&self) -> Result<VerifyReport, ClientError> {
        let key = log_key(self)?;
        let origin = key.name().to_owned();
        let mut damage: Vec<Damage> = Vec::new();

        // 1. History: our own last checkpoint.
        let previous_size = match self.check_log().await {
            Ok(check) => check.previous_size,
            Err(e) if e.is_failure() => {
                damage.push(Damage { index: None, what: e.to_string() });
                None
            }
            Err(LogCheckError::NoCheckpoint) => {
                return Err(LogCheckError::NoCheckpoint.into());
            }
            Err(e) => return Err(e.into()),
        };
        let stored = LogState::new(self.profile().dir()).load_verified(&origin, &key).ok().flatten();

        // 2. Tree heads and cosignatures.
        let now = OffsetDateTime::now_utc();
        let known = published_witnesses(self, now).await?;
        let vkeys = unique_keys(&known);
        let mut checkpoints: Vec<(Checkpoint, Vec<VerifiedSignature>)> = Vec::new();
        let mut from = 0u64;
        loop {
            let page = self.relay().log_checkpoints(from).await?.value.checkpoints;
            let Some(last) = page.last().map(|c| c.size) else { break };
            for c in &page {
                match open_checkpoint(&c.note, &origin, &key, &vkeys) {
                    Ok(v) if v.checkpoint.size() != c.size => damage.push(Damage {
                        index: None,
                        what: format!(
                            "the relay lists its checkpoint of {} entries as one of {}",
                            v.checkpoint.size(),
                            c.size
                        ),
                    }),
                    Ok(v) => {
                        if checkpoints.last().is_some_and(|(p, _)| p.size() >= v.checkpoint.size()) {
                            damage.push(Damage {
                                index: None,
                                what: format!("the checkpoint of {} entries is listed out of order", c.size),
                            });
                            continue;
                        }
                        checkpoints.push((v.checkpoint, v.cosignatures));
                    }
                    Err(e) => damage.push(Damage {
                        index: None,
                        what: format!("the signed checkpoint of {} entries does not verify: {e}", c.size),
                    }),
                }
            }
            if page.len() < 1000 || last < from {
                break;
            }
            from = last + 1;
        }
        let Some((newest, newest_cosigs)) = checkpoints.last().cloned() else {
            return Err(LogCheckError::NoCheckpoint.into());
        };
        let n = newest.size();

        // 3. Leaves and roots.
        let mut leaves: Vec<merkle::Hash> = Vec::new();
        while (leaves.len() as u64) < n {
            let start = leaves.len() as u64;
            let page =
                self.relay().log_leaves(start, LEAF_PAGE.min(n - start)).await.map_err(auditor_error)?.value;
            if page.start != start {
                return Err(ClientError::Relay(RelayError::Protocol {
                    status: None,
                    detail: format!("asked for leaf hashes from {start}, got them from {}", page.start),
                    request_id: None,
                }));
            }
            if page.leaves.is_empty() {
                damage.push(Damage {
                    index: Some(start),
                    what: format!(
                        "the relay serves only {start} leaf hashes but signed a checkpoint of {n} entries (entries are missing)"
                    ),
                });
                break;
            }
            let take = usize::try_from(n - start).unwrap_or(usize::MAX);
            leaves.extend(page.leaves.into_iter().take(take));
        }
        let mut targets: Vec<(u64, merkle::Hash, String)> = checkpoints
            .iter()
            .map(|(c, _)| {
                (c.size(), *c.root_hash(), format!("the root the relay signed at {} entries", c.size()))
            })
            .collect();
        if let Some((_, mine)) = &stored {
            targets.push((
                mine.size(),
                *mine.root_hash(),
                format!("the root of the checkpoint of {} entries you verified before", mine.size()),
            ));
        }
        targets.sort_by_key(|t| t.0);
        let mut tree = Tree::new();
        let mut last_good = 0u64;
        let mut next = targets.iter().peekable();
        'leaves: for leaf in &leaves {
            tree.push(*leaf);
            while let Some((size, root, what)) = next.next_if(|t| t.0 <= tree.size()) {
                if *size < tree.size() {
                    continue; // a size of 0: nothing to compare
                }
                if tree.root() != *root {
                    damage.push(Damage {
                        index: Some(last_good),
                        what: format!(
                            "the leaves from index {last_good} on do not hash to {what} (entries were changed, \
                             removed or reordered after they were signed)"
                        ),
                    });
                    break 'leaves;
                }
                last_good = *size;
            }
        }

        // 4. Entries.
        let filter = EntryFilter { count: Some(PAGE), ..EntryFilter::default() };
        let (records, _) = fetch_records(self, filter).await?;
        let (mut entries_checked, mut beyond) = (0u64, 0u64);
        for r in &records {
            if r.index >= n {
                beyond += 1;
                continue;
            }
            entries_checked += 1;
            if let Err(what) = decode_record(r) {
                damage.push(Damage { index: Some(r.index), what });
                continue;
            }
            let served = usize::try_from(r.index).ok().and_then(|i| leaves.get(i));
            if served.is_some_and(|l| *l != merkle::leaf_hash(&r.entry)) {
                damage.push(Damage {
                    index: Some(r.index),
                    what: "its bytes do not hash to the leaf the log holds at that index (the entry was changed)"
                        .into(),
                });
            }
        }

        // Witnesses.
        let dir = directory(self).await;
        let seen = |cosigs: &[VerifiedSignature]| -> Vec<WitnessSeen> {
            cosigs
                .iter()
                .filter_map(|c| {
                    known.iter().find(|w| w.key.as_ref() == Some(&c.key)).map(|w| WitnessSeen {
                        principal: NamedPrincipal::new(&dir, &w.principal),
                        key_name: w.key_name.clone(),
                        timestamp: c.timestamp.and_then(|t| i64::try_from(t).ok()),
                    })
                })
                .collect()
        };
        let newest_witnessed_by = seen(&newest_cosigs);
        let witnesses = known
            .iter()
            .map(|w| {
                let latest = w.key.as_ref().and_then(|k| {
                    checkpoints.iter().rev().find_map(|(c, cosigs)| {
                        cosigs.iter().find(|s| s.key == *k).map(|s| (c.size(), s.timestamp))
                    })
                });
                WitnessSummary {
                    principal: NamedPrincipal::new(&dir, &w.principal),
                    key_name: w.key_name.clone(),
                    latest_cosigned_size: latest.map(|l| l.0),
                    latest_cosigned_at: latest.and_then(|l| l.1).and_then(|t| i64::try_from(t).ok()),
                    problem: w.problem.clone(),
                }
            })
            .collect();

        damage.sort_by_key(|d| d.index.unwrap_or(u64::MAX));
        damage.dedup();
        Ok(VerifyReport {
            origin,
            ok: damage.is_empty(),
            first_bad_index: damage.iter().find_map(|d| d.index),
            damage,
            checkpoints_checked: checkpoints.len(),
            log_size: n,
            root_hash: root_base64(&newest),
            leaves_checked: leaves.len() as u64,
            entries_checked,
            entries_not_yet_signed: beyond,
            previous_size,
            newest_witnessed_by,
            witnesses,
        })
    }
}
