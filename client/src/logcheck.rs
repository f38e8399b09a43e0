//! Keeping the relay honest about its access log: after every command that talks to the relay the
//! client fetches the newest signed checkpoint, verifies it with the profile's `relay_log_key`, and
//! checks with a consistency proof that it extends the last checkpoint this profile verified
//! (`docs/spec/access-log-v1.md` §3.3, §4.5, §5). A relay that shows a shorter log (rewound) or one
//! that does not extend the old one (forked, rewritten) is caught: both signed checkpoints are kept
//! as evidence and the stored checkpoint is not replaced, so every later command says so again.
//!
//! State kept in the profile:
//!
//! - `PROFILE/state/log/<origin>.checkpoint`: the last checkpoint verified for the log `origin`
//!   (`/` and other characters outside `A-Za-z0-9.-` written as `_`), a signed note as the relay
//!   served it; replaced atomically.
//! - `PROFILE/state/log/evidence/<origin>-<rewound|forked>-<old size>-<new size>-<id>/`: the two
//!   signed checkpoints that contradict each other (and the proof that failed, if any).
//!
//! With a witness key (`crate::witness`) every successful check also cosigns the new checkpoint.
//! The check costs one checkpoint fetch and, when the log grew, one consistency proof.

use std::{
    fmt, fs,
    io::Write,
    path::{Path, PathBuf},
};

use samordna_core::{
    PrincipalId,
    api::{PostCosignature, WitnessEntry},
    audit::Reason,
    log::{
        Checkpoint, CheckpointError, KeyType, VerifierKey, merkle, open_checkpoint, witness as witness_key,
    },
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    error::ClientError,
    input::human_time,
    ops::{NamedPrincipal, Session, now},
    relay::RelayError,
};

/// Where the log state lives inside a profile directory.
pub const STATE_DIR: &str = "state/log";
/// The evidence folder inside [`STATE_DIR`].
pub const EVIDENCE_DIR: &str = "evidence";

/// A log origin as a file name: `samordna.se/relay/dev` → `samordna.se_relay_dev`.
pub fn sanitize_origin(origin: &str) -> String {
    origin.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// Why the log could not be checked, or what the check found wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogCheckError {
    /// The profile has no `relay_log_key`: nothing can be verified.
    #[error(
        "the relay's access log cannot be checked: {} has no relay_log_key; ask the relay's operator for the \
         log's verifier key and add it as relay_log_key = \"samordna.se/relay/…+…+…\" (`samordna log check` \
         shows the key the relay claims, to compare with the operator's)",
        .0.display()
    )]
    NoLogKey(PathBuf),
    /// `relay_log_key` is not a usable key.
    #[error(
        "relay_log_key in profile.toml is not a usable access-log key: {0}; copy it again exactly as the relay's operator publishes it"
    )]
    BadLogKey(String),
    /// The relay could not be asked.
    #[error("the relay's access log could not be checked: {0}")]
    Relay(#[source] RelayError),
    /// The relay has signed no checkpoint yet.
    #[error(
        "the relay has not signed a checkpoint of its access log yet; it will be checked on the next command"
    )]
    NoCheckpoint,
    /// The relay's checkpoint does not verify with `relay_log_key`.
    #[error(
        "the relay's access-log checkpoint does not verify with relay_log_key ({0}); either relay_log_key in \
         profile.toml is not this relay's key, or the relay is not showing its real log: compare the key with \
         the one the relay's operator published, and tell the operator"
    )]
    CheckpointInvalid(CheckpointError),
    /// The checkpoint stored in the profile does not verify.
    #[error(
        "the checkpoint stored in {} does not verify with relay_log_key ({detail}); if the relay's operator \
         has announced a new log key, move that file away to start following the new log, otherwise tell your \
         information security officer",
        path.display()
    )]
    StoredInvalid {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: CheckpointError,
    },
    /// The relay shows a smaller log than it signed before.
    #[error(
        "THE RELAY'S ACCESS LOG WAS REWOUND: it now shows a log of {new_size} entries, but it signed a log of \
         {old_size} entries before; entries were removed. Both signed checkpoints are kept as evidence in {}. \
         Tell your information security officer and the relay's operator, and keep the files. This profile \
         keeps the larger checkpoint, so every command will report this until it is resolved",
        evidence.display()
    )]
    Rewound {
        /// The checkpoint this profile verified before.
        old_size: u64,
        /// The one the relay shows now.
        new_size: u64,
        /// Where the evidence is.
        evidence: PathBuf,
    },
    /// The new checkpoint does not extend the old one.
    #[error(
        "THE RELAY'S ACCESS LOG WAS REWRITTEN: its checkpoint of {new_size} entries is not an extension of the \
         checkpoint of {old_size} entries it signed before ({detail}); entries were changed, removed or \
         reordered, or the relay shows different logs to different parties. Both signed checkpoints are kept \
         as evidence in {}. Tell your information security officer and the relay's operator, and keep the \
         files. This profile keeps the old checkpoint, so every command will report this until it is resolved",
        evidence.display()
    )]
    Forked {
        /// The checkpoint this profile verified before.
        old_size: u64,
        /// The one the relay shows now.
        new_size: u64,
        /// What failed.
        detail: String,
        /// Where the evidence is.
        evidence: PathBuf,
    },
    /// The profile's state folder could not be used.
    #[error("cannot use {}: {source}", path.display())]
    State {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl LogCheckError {
    /// A stable code for `--json`.
    pub fn code(&self) -> String {
        match self {
            LogCheckError::NoLogKey(_) => "log_key_missing".into(),
            LogCheckError::BadLogKey(_) => "log_key_invalid".into(),
            LogCheckError::Relay(e) => relay_code(e),
            LogCheckError::NoCheckpoint => "log_no_checkpoint".into(),
            LogCheckError::CheckpointInvalid(_) => "log_checkpoint_invalid".into(),
            LogCheckError::StoredInvalid { .. } => "log_state_invalid".into(),
            LogCheckError::Rewound { .. } => "log_rewound".into(),
            LogCheckError::Forked { .. } => "log_forked".into(),
            LogCheckError::State { .. } => "io".into(),
        }
    }

    /// Whether this is a verification failure that must fail the command (exit 4): the relay
    /// rewound or forked its log, or showed a checkpoint that does not verify. Anything else (the
    /// relay cannot be reached, no key configured) is only a warning after another command.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            LogCheckError::Rewound { .. }
                | LogCheckError::Forked { .. }
                | LogCheckError::CheckpointInvalid(_)
                | LogCheckError::StoredInvalid { .. }
        )
    }

    /// Where the evidence was kept, for a rewound or forked log.
    pub fn evidence(&self) -> Option<&Path> {
        match self {
            LogCheckError::Rewound { evidence, .. } | LogCheckError::Forked { evidence, .. } => {
                Some(evidence)
            }
            _ => None,
        }
    }
}

/// The client code of a relay error, as [`ClientError::code`] gives it.
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

impl From<LogCheckError> for ClientError {
    fn from(e: LogCheckError) -> Self {
        let message = e.to_string();
        match e {
            LogCheckError::NoLogKey(_) => ClientError::usage("log_key_missing", message),
            LogCheckError::BadLogKey(_) => ClientError::usage("log_key_invalid", message),
            LogCheckError::Relay(e) => ClientError::Relay(e),
            LogCheckError::NoCheckpoint => ClientError::Policy { code: "log_no_checkpoint".into(), message },
            LogCheckError::CheckpointInvalid(_) => {
                ClientError::verification("log_checkpoint_invalid", message)
            }
            LogCheckError::StoredInvalid { .. } => ClientError::verification("log_state_invalid", message),
            LogCheckError::Rewound { .. } => ClientError::verification("log_rewound", message),
            LogCheckError::Forked { .. } => ClientError::verification("log_forked", message),
            LogCheckError::State { path, source } => {
                ClientError::Io { what: "cannot use the access-log state", path, source }
            }
        }
    }
}

/// The log state of one profile: `PROFILE/state/log/`.
#[derive(Clone, Debug)]
pub struct LogState {
    dir: PathBuf,
}

impl LogState {
    /// The state of the profile in `profile_dir`. Nothing is read yet.
    pub fn new(profile_dir: &Path) -> Self {
        LogState { dir: profile_dir.join(STATE_DIR) }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding the last verified checkpoint of `origin`.
    pub fn checkpoint_path(&self, origin: &str) -> PathBuf {
        self.dir.join(format!("{}.checkpoint", sanitize_origin(origin)))
    }

    /// The evidence folder.
    pub fn evidence_dir(&self) -> PathBuf {
        self.dir.join(EVIDENCE_DIR)
    }

    /// The stored signed note of `origin`, if there is one.
    pub fn load(&self, origin: &str) -> Result<Option<String>, LogCheckError> {
        let path = self.checkpoint_path(origin);
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LogCheckError::State { path, source }),
        }
    }

    /// The stored checkpoint of `origin`, verified with `key`.
    pub fn load_verified(
        &self,
        origin: &str,
        key: &VerifierKey,
    ) -> Result<Option<(String, Checkpoint)>, LogCheckError> {
        let Some(note) = self.load(origin)? else { return Ok(None) };
        let checkpoint = open_checkpoint(&note, origin, key, &[])
            .map_err(|detail| LogCheckError::StoredInvalid { path: self.checkpoint_path(origin), detail })?
            .checkpoint;
        Ok(Some((note, checkpoint)))
    }

    /// Stores `note` (a verified checkpoint of `size` entries) as the one to compare with next
    /// time, atomically. If another command of this profile stored a larger verified checkpoint
    /// meanwhile, that one is kept.
    pub fn store(
        &self,
        origin: &str,
        key: &VerifierKey,
        note: &str,
        size: u64,
    ) -> Result<PathBuf, LogCheckError> {
        let path = self.checkpoint_path(origin);
        if let Ok(Some((_, existing))) = self.load_verified(origin, key)
            && existing.size() > size
        {
            return Ok(path);
        }
        write_atomically(&self.dir, &path, note.as_bytes())?;
        Ok(path)
    }

    /// Keeps two contradicting checkpoints (and the proof that failed) as evidence; returns the
    /// folder. Writing the same evidence again leaves the folder as it is.
    pub fn keep_evidence(&self, evidence: &Evidence<'_>) -> Result<PathBuf, LogCheckError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, evidence.current.as_bytes());
        let name = format!(
            "{}-{}-{}-{}-{}",
            sanitize_origin(evidence.origin),
            evidence.kind,
            evidence.old_size,
            evidence.new_size,
            hex::encode(&digest.as_ref()[..4])
        );
        let dir = self.evidence_dir().join(name);
        if dir.join("current.checkpoint").exists() {
            return Ok(dir);
        }
        let state_err = |path: &Path| {
            let path = path.to_owned();
            move |source| LogCheckError::State { path, source }
        };
        fs::create_dir_all(&dir).map_err(state_err(&dir))?;
        let readme = format!(
            "Evidence that the access log of {origin} was {what}.\n\n\
             Found {at} by the Samordna client of the profile in {profile},\n\
             talking to the relay at {url}.\n\n\
             previous.checkpoint  the checkpoint of {old} entries, signed by the relay, that this profile verified before\n\
             current.checkpoint   the checkpoint of {new} entries, signed by the same key, that the relay showed now\n\
             {proof_line}\n\
             Both verify with the log key {key}.\n\
             No relay may sign both: together they prove the log was changed after it was signed.\n\
             Check them with `samordna audit verify`, or any C2SP checkpoint verifier. Keep these files.\n",
            origin = evidence.origin,
            what = if evidence.kind == "rewound" { "rewound (made shorter)" } else { "rewritten or forked" },
            at = human_time(OffsetDateTime::now_utc()),
            profile = self.dir.parent().and_then(Path::parent).unwrap_or(&self.dir).display(),
            url = evidence.relay_url,
            old = evidence.old_size,
            new = evidence.new_size,
            proof_line = if evidence.proof.is_some() {
                "consistency-proof.json  the relay's consistency proof between them, which does not verify\n"
            } else {
                ""
            },
            key = evidence.key,
        );
        let mut files: Vec<(&str, Vec<u8>)> = vec![
            ("previous.checkpoint", evidence.previous.as_bytes().to_vec()),
            ("current.checkpoint", evidence.current.as_bytes().to_vec()),
            ("README.txt", readme.into_bytes()),
        ];
        if let Some(proof) = evidence.proof {
            let hexes: Vec<String> = proof.iter().map(hex::encode).collect();
            let json = serde_json::json!({
                "old": evidence.old_size, "new": evidence.new_size, "proof_hex": hexes
            });
            files.push(("consistency-proof.json", format!("{json:#}\n").into_bytes()));
        }
        // The current checkpoint last: its presence marks complete evidence.
        files.rotate_left(2);
        for (name, bytes) in files {
            let path = dir.join(name);
            write_atomically(&dir, &path, &bytes)?;
        }
        Ok(dir)
    }
}

/// Two contradicting checkpoints.
#[derive(Clone, Copy, Debug)]
pub struct Evidence<'a> {
    /// The log.
    pub origin: &'a str,
    /// `rewound` or `forked`.
    pub kind: &'static str,
    /// The stored (earlier) checkpoint's size.
    pub old_size: u64,
    /// The new one's size.
    pub new_size: u64,
    /// The stored signed note.
    pub previous: &'a str,
    /// The new signed note.
    pub current: &'a str,
    /// The consistency proof that failed, if one was given.
    pub proof: Option<&'a [merkle::Hash]>,
    /// The relay's URL.
    pub relay_url: &'a str,
    /// The log key both verify with.
    pub key: &'a VerifierKey,
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), LogCheckError> {
    let state_err = |p: &Path| {
        let p = p.to_owned();
        move |source| LogCheckError::State { path: p, source }
    };
    fs::create_dir_all(dir).map_err(state_err(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(state_err(dir))?;
    tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all()).map_err(state_err(path))?;
    tmp.persist(path).map_err(|e| LogCheckError::State { path: path.to_owned(), source: e.error })?;
    Ok(())
}

/// The outcome of cosigning as a witness.
#[derive(Clone, Debug, Serialize)]
pub struct Cosigned {
    /// Our witness key's name.
    pub key_name: String,
    /// The checkpoint cosigned.
    pub size: u64,
    /// False when the checkpoint already carried our cosignature.
    pub posted: bool,
}

/// A log check that passed.
#[derive(Clone, Debug, Serialize)]
pub struct LogCheck {
    /// The relay.
    pub relay_url: String,
    /// The log's origin.
    pub origin: String,
    /// The size of the checkpoint verified now.
    pub size: u64,
    /// Its root hash (base64, as in the checkpoint).
    pub root_hash: String,
    /// The size of the checkpoint this profile had verified before, if any.
    pub previous_size: Option<u64>,
    /// Where the checkpoint is kept for the next check.
    pub stored: PathBuf,
    /// Our cosignature, when this profile is a witness.
    pub cosigned: Option<Cosigned>,
    /// Things that did not work but do not make the log suspect (a cosignature not posted…).
    pub warnings: Vec<String>,
    /// The signed note verified (with the cosignatures it had when fetched).
    #[serde(skip)]
    pub note: String,
    /// The checkpoint verified.
    #[serde(skip)]
    pub checkpoint: Option<Checkpoint>,
}

fn root_base64(c: &Checkpoint) -> String {
    c.to_text().lines().nth(2).unwrap_or_default().to_owned()
}

/// The profile's `relay_log_key`, parsed.
pub fn log_key(session: &Session) -> Result<VerifierKey, LogCheckError> {
    let profile = session.profile();
    let text = profile
        .config()
        .relay_log_key
        .as_deref()
        .ok_or_else(|| LogCheckError::NoLogKey(profile.dir().join("profile.toml")))?;
    let key = VerifierKey::parse(text.trim()).map_err(|e| LogCheckError::BadLogKey(e.to_string()))?;
    if key.key_type() != KeyType::Ed25519 {
        return Err(LogCheckError::BadLogKey("it is not an Ed25519 note key (type 01)".into()));
    }
    Ok(key)
}

fn relay_error(e: RelayError) -> LogCheckError {
    match e.code().and_then(|c| c.reason()) {
        Some(Reason::NotFound) => LogCheckError::NoCheckpoint,
        _ => LogCheckError::Relay(e),
    }
}

impl Session {
    /// Checks the relay's access log: the newest checkpoint verifies with `relay_log_key` and
    /// extends the last one this profile verified; stores it for next time; cosigns it if this
    /// profile has a witness key. See the module documentation.
    pub async fn check_log(&self) -> Result<LogCheck, LogCheckError> {
        let key = log_key(self)?;
        let origin = key.name().to_owned();
        let relay_url = self.relay().base_url().as_str().trim_end_matches('/').to_owned();
        let state = LogState::new(self.profile().dir());
        // Read what we stored before asking the relay, so that another command of this profile
        // storing a newer checkpoint meanwhile cannot look like a rewind.
        let previous = state.load_verified(&origin, &key)?;
        let note = self.relay().log_checkpoint().await.map_err(relay_error)?.value;
        let current =
            open_checkpoint(&note, &origin, &key, &[]).map_err(LogCheckError::CheckpointInvalid)?.checkpoint;
        let mut proof = Vec::new();
        if let Some((previous_note, prev)) = &previous {
            let evidence = Evidence {
                origin: &origin,
                kind: "rewound",
                old_size: prev.size(),
                new_size: current.size(),
                previous: previous_note,
                current: &note,
                proof: None,
                relay_url: &relay_url,
                key: &key,
            };
            if current.size() < prev.size() {
                let evidence = state.keep_evidence(&evidence)?;
                return Err(LogCheckError::Rewound {
                    old_size: prev.size(),
                    new_size: current.size(),
                    evidence,
                });
            }
            if current.size() > prev.size() {
                let answer = self
                    .relay()
                    .log_consistency(prev.size(), current.size())
                    .await
                    .map_err(relay_error)?
                    .value;
                if answer.old != prev.size() || answer.new != current.size() {
                    return Err(LogCheckError::Relay(RelayError::Protocol {
                        status: None,
                        detail: format!(
                            "asked for a consistency proof from {} to {} entries, got one from {} to {}",
                            prev.size(),
                            current.size(),
                            answer.old,
                            answer.new
                        ),
                        request_id: None,
                    }));
                }
                proof = answer.proof;
            }
            if let Err(e) = merkle::verify_consistency(
                prev.size(),
                current.size(),
                prev.root_hash(),
                current.root_hash(),
                &proof,
            ) {
                let detail = if prev.size() == current.size() {
                    "the same size with a different root hash".to_owned()
                } else {
                    format!("the consistency proof does not verify: {e}")
                };
                let with_proof = (!proof.is_empty()).then_some(proof.as_slice());
                let evidence =
                    state.keep_evidence(&Evidence { kind: "forked", proof: with_proof, ..evidence })?;
                return Err(LogCheckError::Forked {
                    old_size: prev.size(),
                    new_size: current.size(),
                    detail,
                    evidence,
                });
            }
        }
        let stored = state.store(&origin, &key, &note, current.size())?;
        let mut check = LogCheck {
            relay_url,
            origin: origin.clone(),
            size: current.size(),
            root_hash: root_base64(&current),
            previous_size: previous.as_ref().map(|(_, p)| p.size()),
            stored,
            cosigned: None,
            warnings: Vec::new(),
            note: note.clone(),
            checkpoint: Some(current),
        };
        self.cosign(&mut check, &key, previous.as_ref().map(|(_, p)| p), &proof).await;
        Ok(check)
    }

    /// Cosigns the checkpoint just verified, if this profile is a witness; problems become warnings.
    async fn cosign(
        &self,
        check: &mut LogCheck,
        key: &VerifierKey,
        previous: Option<&Checkpoint>,
        proof: &[merkle::Hash],
    ) {
        let cosigner = match crate::witness::load(self.profile().dir()) {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                check.warnings.push(format!("not cosigning the access log as a witness: {e}"));
                return;
            }
        };
        let mine = [cosigner.verifier_key()];
        let already = open_checkpoint(&check.note, &check.origin, key, &mine)
            .map(|v| !v.cosignatures.is_empty())
            .unwrap_or(false);
        let outcome = Cosigned { key_name: cosigner.name().to_owned(), size: check.size, posted: false };
        if already {
            check.cosigned = Some(outcome);
            return;
        }
        let timestamp = u64::try_from(now().unix_timestamp()).unwrap_or(0);
        let witnessed = match cosigner.witness(&check.note, &check.origin, key, previous, proof, timestamp) {
            Ok(w) => w,
            Err(e) => {
                check.warnings.push(format!("did not cosign the access log: {e}"));
                return;
            }
        };
        let Some(line) = witnessed.note.lines().last() else { return };
        let post = PostCosignature { size: check.size, signature: format!("{line}\n") };
        match self.relay().post_cosignature(&post).await {
            Ok(_) => check.cosigned = Some(Cosigned { posted: true, ..outcome }),
            Err(e) => check.warnings.push(format!(
                "the cosignature of the checkpoint of {} entries could not be posted: {e}; it is posted with \
                 the next check (if the relay says the key is unknown, run `samordna witness init`)",
                check.size
            )),
        }
    }

    /// `log check`: [`Session::check_log`], and which published witnesses cosigned the checkpoint.
    pub async fn log_check(&self) -> Result<LogCheckReport, ClientError> {
        let check = self.check_log().await?;
        let key = log_key(self)?;
        let directory = directory(self).await;
        let known = published_witnesses(self, OffsetDateTime::now_utc()).await?;
        let vkeys: Vec<VerifierKey> = unique_keys(&known);
        let mut witnesses = Vec::new();
        if let Ok(v) = open_checkpoint(&check.note, &check.origin, &key, &vkeys) {
            for c in v.cosignatures {
                if let Some(w) = known.iter().find(|w| w.key.as_ref() == Some(&c.key)) {
                    witnesses.push(WitnessSeen {
                        principal: NamedPrincipal::new(&directory, &w.principal),
                        key_name: w.key_name.clone(),
                        timestamp: c.timestamp.and_then(|t| i64::try_from(t).ok()),
                    });
                }
            }
        }
        let relay_key = self.relay().log_key().await.ok().map(|a| a.value.vkey);
        Ok(LogCheckReport { check, witnesses, relay_claims_key: relay_key, key: key.to_string() })
    }
}

/// The relay's directory, or an empty one: names are a courtesy, never a reason to fail.
pub(crate) async fn directory(session: &Session) -> samordna_core::api::Directory {
    session
        .relay()
        .directory()
        .await
        .map(|a| a.value)
        .unwrap_or(samordna_core::api::Directory { principals: Vec::new() })
}

/// A witness key the relay publishes, with its attestation checked.
#[derive(Clone, Debug)]
pub struct KnownWitness {
    /// Whose.
    pub principal: PrincipalId,
    /// The key's name.
    pub key_name: String,
    /// The key, when its attestation verified.
    pub key: Option<VerifierKey>,
    /// Why the attestation did not verify, when it did not.
    pub problem: Option<String>,
}

/// Every witness key the relay publishes, each attestation verified with the profile's trust store
/// at `at` (a key whose attestation does not verify has `key: None` and is not counted).
pub async fn published_witnesses(
    session: &Session,
    at: OffsetDateTime,
) -> Result<Vec<KnownWitness>, ClientError> {
    let list = session.relay().log_witnesses().await?.value;
    Ok(list.witnesses.iter().map(|w| known_witness(w, session, at)).collect())
}

fn known_witness(w: &WitnessEntry, session: &Session, at: OffsetDateTime) -> KnownWitness {
    let verified = witness_key::verify(&w.attestation, session.profile().trust(), at)
        .map_err(|e| e.to_string())
        .and_then(|(statement, key)| {
            if statement.principal != w.principal || key.to_string() != w.vkey || key.name() != w.key_name {
                Err("the relay lists the key under another principal or name than its attestation".into())
            } else {
                Ok(key)
            }
        });
    match verified {
        Ok(key) => KnownWitness {
            principal: w.principal.clone(),
            key_name: w.key_name.clone(),
            key: Some(key),
            problem: None,
        },
        Err(problem) => KnownWitness {
            principal: w.principal.clone(),
            key_name: w.key_name.clone(),
            key: None,
            problem: Some(problem),
        },
    }
}

/// The verified keys, each once (two equal keys would make checkpoint opening ambiguous).
pub fn unique_keys(known: &[KnownWitness]) -> Vec<VerifierKey> {
    let mut keys: Vec<VerifierKey> = Vec::new();
    for k in known.iter().filter_map(|w| w.key.clone()) {
        if !keys.iter().any(|x| x.name() == k.name() && x.key_id() == k.key_id()) {
            keys.push(k);
        }
    }
    keys
}

/// A witness that cosigned a checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct WitnessSeen {
    /// The witness's principal.
    pub principal: NamedPrincipal,
    /// Its key's name.
    pub key_name: String,
    /// When it cosigned (seconds since 1970).
    pub timestamp: Option<i64>,
}

impl fmt::Display for WitnessSeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} with {}", self.principal, self.key_name)?;
        if let Some(t) = self.timestamp.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()) {
            write!(f, " at {}", human_time(t))?;
        }
        Ok(())
    }
}

/// `log check`.
#[derive(Clone, Debug, Serialize)]
pub struct LogCheckReport {
    /// The check.
    #[serde(flatten)]
    pub check: LogCheck,
    /// The published witnesses whose cosignature is on the checkpoint.
    pub witnesses: Vec<WitnessSeen>,
    /// The key the profile verifies with (`relay_log_key`).
    pub key: String,
    /// The key the relay says it signs with (`GET /v1/log/key`), for comparison.
    pub relay_claims_key: Option<String>,
}

impl fmt::Display for LogCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.check;
        writeln!(f, "Access log {} at {}", c.origin, c.relay_url)?;
        writeln!(f, "  size:      {} entries", c.size)?;
        writeln!(f, "  root hash: {}", c.root_hash)?;
        match c.previous_size {
            Some(p) if p == c.size => writeln!(f, "  unchanged since the last check; consistent")?,
            Some(p) => {
                writeln!(f, "  consistent with the checkpoint of {p} entries this profile verified before")?
            }
            None => writeln!(
                f,
                "  first check from this profile: stored as the checkpoint to compare with from now on"
            )?,
        }
        if self.witnesses.is_empty() {
            writeln!(f, "  witnesses: none yet on this checkpoint")?;
        } else {
            writeln!(f, "  witnesses:")?;
            for w in &self.witnesses {
                writeln!(f, "    {w}")?;
            }
        }
        if let Some(cosigned) = &c.cosigned {
            writeln!(
                f,
                "  cosigned by this profile as witness {}{}",
                cosigned.key_name,
                if cosigned.posted { "" } else { " (already)" }
            )?;
        }
        if let Some(k) = &self.relay_claims_key
            && *k != self.key
        {
            writeln!(f, "  NOTE: the relay says it signs with {k}, not with relay_log_key {}", self.key)?;
        }
        write!(f, "  kept in {}", c.stored.display())
    }
}

#[cfg(test)]
mod tests {
    use samordna_core::log::{NoteSigner, sign_checkpoint};

    use super::*;

    const ORIGIN: &str = "samordna.se/relay/test";

    fn signer() -> NoteSigner {
        NoteSigner::from_seed(ORIGIN, &[3; 32]).unwrap()
    }

    fn note(size: u64, root: [u8; 32]) -> String {
        sign_checkpoint(&Checkpoint::new(ORIGIN, size, root).unwrap(), &signer())
    }

    #[test]
    fn origins_become_file_names() {
        assert_eq!(sanitize_origin("samordna.se/relay/prod-1"), "samordna.se_relay_prod-1");
        assert_eq!(sanitize_origin("../x y"), ".._x_y");
    }

    #[test]
    fn the_larger_checkpoint_is_kept_and_files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let state = LogState::new(dir.path());
        let key = signer().verifier_key();
        assert!(state.load_verified(ORIGIN, &key).unwrap().is_none());
        state.store(ORIGIN, &key, &note(5, [1; 32]), 5).unwrap();
        state.store(ORIGIN, &key, &note(3, [2; 32]), 3).unwrap();
        let (_, kept) = state.load_verified(ORIGIN, &key).unwrap().unwrap();
        assert_eq!(kept.size(), 5, "another command's larger checkpoint is not replaced by a smaller one");
        state.store(ORIGIN, &key, &note(9, [3; 32]), 9).unwrap();
        assert_eq!(state.load_verified(ORIGIN, &key).unwrap().unwrap().1.size(), 9);
        assert!(state.checkpoint_path(ORIGIN).ends_with("state/log/samordna.se_relay_test.checkpoint"));
        // A stored checkpoint that no longer verifies is reported, not silently replaced.
        fs::write(state.checkpoint_path(ORIGIN), note(9, [3; 32]).replace("9\n", "8\n")).unwrap();
        let e = state.load_verified(ORIGIN, &key).unwrap_err();
        assert!(e.is_failure());
        assert_eq!(e.code(), "log_state_invalid");
    }

    #[test]
    fn evidence_is_kept_once_with_both_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let state = LogState::new(dir.path());
        let key = signer().verifier_key();
        let (old, new) = (note(7, [1; 32]), note(4, [2; 32]));
        let ev = Evidence {
            origin: ORIGIN,
            kind: "rewound",
            old_size: 7,
            new_size: 4,
            previous: &old,
            current: &new,
            proof: None,
            relay_url: "https://relay.example",
            key: &key,
        };
        let folder = state.keep_evidence(&ev).unwrap();
        assert!(folder.starts_with(state.evidence_dir()));
        assert_eq!(fs::read_to_string(folder.join("previous.checkpoint")).unwrap(), old);
        assert_eq!(fs::read_to_string(folder.join("current.checkpoint")).unwrap(), new);
        assert!(fs::read_to_string(folder.join("README.txt")).unwrap().contains("rewound"));
        assert_eq!(state.keep_evidence(&ev).unwrap(), folder);
        let proof = [[9u8; 32]];
        let forked = state
            .keep_evidence(&Evidence { kind: "forked", new_size: 9, proof: Some(&proof), ..ev })
            .unwrap();
        assert_ne!(forked, folder);
        assert!(
            fs::read_to_string(forked.join("consistency-proof.json")).unwrap().contains(&"09".repeat(32))
        );
    }

    #[test]
    fn only_evidence_and_bad_signatures_fail_a_command() {
        let rewound = LogCheckError::Rewound { old_size: 5, new_size: 3, evidence: "e".into() };
        assert!(rewound.is_failure());
        let e = ClientError::from(rewound);
        assert_eq!((e.exit_code(), e.code().as_str()), (4, "log_rewound"));
        let forked =
            LogCheckError::Forked { old_size: 5, new_size: 6, detail: "x".into(), evidence: "e".into() };
        assert_eq!(ClientError::from(forked).code(), "log_forked");
        let unreachable = LogCheckError::Relay(RelayError::Unreachable {
            url: "https://r".into(),
            detail: "refused".into(),
        });
        assert!(!unreachable.is_failure());
        assert_eq!(unreachable.code(), "unreachable");
        assert!(!LogCheckError::NoLogKey("p".into()).is_failure());
        assert!(LogCheckError::NoLogKey("p".into()).to_string().contains("relay_log_key"));
        assert!(LogCheckError::CheckpointInvalid(CheckpointError::Malformed("x")).is_failure());
    }
}
