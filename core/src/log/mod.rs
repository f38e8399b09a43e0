//! The access log's math: canonical entries, the RFC 6962 Merkle tree, signed checkpoints and
//! witness cosignatures. Pure: storage is behind [`merkle::HashReader`], time is passed in.
//! Normative text: `docs/spec/access-log-v1.md`.
//!
//! - [`entry`]: [`LogEntry`] and its versioned binary encoding, the leaf data of the tree.
//! - [`merkle`]: leaf and node hashes, the append-only [`Tree`], inclusion and consistency
//!   proofs (RFC 9162 §2.1) and their verifiers.
//! - [`note`]: C2SP signed notes and checkpoints; [`open_checkpoint`] verifies everything.
//! - [`cosign`]: C2SP `cosignature/v1`; [`Cosigner::witness`] checks consistency, then cosigns.
//!
//! An auditor holding a checkpoint and an entry checks, offline:
//!
//! ```
//! use samordna_core::log::{merkle, open_checkpoint, sign_checkpoint, Checkpoint, NoteSigner};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let relay = NoteSigner::from_seed("samordna.se/relay/demo", &[7; 32])?;
//! # let leaves: Vec<merkle::Hash> = (0u8..3).map(|i| merkle::leaf_hash(&[i])).collect();
//! # let note = sign_checkpoint(&Checkpoint::new("samordna.se/relay/demo", 3, merkle::root(&leaves))?, &relay);
//! # let proof = merkle::inclusion_proof(1, 3, leaves.as_slice())?;
//! # let log_key = relay.verifier_key();
//! // `note`, `proof` and the entry's bytes come from the relay; `log_key` from configuration.
//! let head = open_checkpoint(&note, "samordna.se/relay/demo", &log_key, &[])?.checkpoint;
//! merkle::verify_inclusion(&merkle::leaf_hash(&[1]), 1, head.size(), &proof, head.root_hash())?;
//! # Ok(())
//! # }
//! ```

pub mod cosign;
pub mod entry;
pub mod merkle;
pub mod note;
pub mod witness;

pub use cosign::{CosignError, Cosigner, Witnessed};
pub use entry::{Decision, EntryError, LogEntry, Marker, ObjectRef, Peer, RequestId};
pub use merkle::{Hash, HashReader, NodeId, ProofError, Tree, VerifyError};
pub use note::{
    Checkpoint, CheckpointError, KeyError, KeyType, NoteSigner, VerifiedCheckpoint, VerifiedSignature,
    VerifierKey, open_checkpoint, sign_checkpoint,
};
