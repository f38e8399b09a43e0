//! The Samordna relay: stores only encrypted envelopes, lets nothing through that documented,
//! unwithdrawn consent does not cover, and logs every access.
//!
//! The binary `samordna-relay` is a thin shell over [`cli::run`].

pub mod cli;
pub mod clock;
pub mod config;
pub mod dev_federation;
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod notify;
pub mod retention;
pub mod serve;
pub mod stall;
pub mod store;
pub mod tls;
