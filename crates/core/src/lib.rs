//! mailkeep's domain logic: configuration, accounts and authentication, address resolution
//! and local delivery.
//!
//! `core` sits between the protocol crates and the store. It must never import tokio, sockets or
//! protocol parsers: the server crate calls it with typed values and maps its errors onto reply
//! codes. Time and randomness come in as arguments where tests need to control them.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod accounts;
pub mod address;
pub mod admin;
pub mod config;
pub mod delivery;
pub mod discover;
pub mod import;
pub mod inbound_policy;
pub mod index;
pub mod journal;
pub mod login_cache;
pub mod mail;
pub mod mta_sts;
pub mod outbound;
pub mod retention;
pub mod submission;
pub mod time;

/// The embedded backend (SQLite + segment files), opened by the binary; its files' backup,
/// restore, fsck and salvage live inside it.
pub use mailkeep_store as embedded;
/// Files only their owner may read (shared with the embedded backend).
pub use mailkeep_store::private;
/// The storage seam every module here works through.
pub use mailkeep_store_api as store;
