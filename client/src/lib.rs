//! The Samordna client library: what the `samordna` command does, for case-management systems to
//! link against.
//!
//! ```no_run
//! # async fn example() -> Result<(), samordna_client::ClientError> {
//! use samordna_client::{Session, SendRequest, profile::Profile};
//! use samordna_core::{CaseId, ContentKind, PrincipalId};
//!
//! let session = Session::new(Profile::load("/etc/samordna/kommun".as_ref())?)?;
//! let sent = session
//!     .send(&SendRequest {
//!         file: "sip-plan.json".into(),
//!         case_id: CaseId::parse("S-01JDQ7K9X2M4N6P8R0T2V4W6Y8")?,
//!         to: vec![PrincipalId::parse("SE2321000032")?],
//!         kind: ContentKind::Plan,
//!         consent: None,
//!     })
//!     .await?;
//! println!("{sent}"); // "Sent E-… to Region Östergötland (SE2321000032) under consent K-…"
//! # Ok(()) }
//! ```
//!
//! - [`profile`]: the profile directory (profile.toml, certificate, trust, `keys/`).
//! - [`keystore`]: the principal's encryption secrets.
//! - [`relay`]: the relay's HTTP API over mutual TLS, one method per route.
//! - [`Session`]: the operations, each returning a result that serialises to the command's `--json`
//!   output and displays as its human output.
//! - [`ClientError`]: one error type with stable codes and the command's exit codes.
//! - [`plan`]: SIP plans: a skeleton, validation, and rendering as HTML, text or PDF.
//! - [`logcheck`]: the relay's access log checked after every command (rewinds and forks caught).
//! - [`witness`]: this profile as a witness that cosigns the checkpoints it checked.
//! - [`audit`]: compliance officers' tools: the log, its verification, extracts, FHIR, statistics.
//! - [`web`]: `samordna web`, the browser interface for staff and compliance officers.

pub mod audit;
pub mod error;
pub mod input;
pub mod invite;
pub mod keystore;
pub mod logcheck;
mod ops;
pub mod plan;
pub mod profile;
pub mod relay;
pub mod select;
pub mod transfer;
pub mod web;
pub mod witness;

pub use error::{ClientError, exit};
pub use ops::*;
