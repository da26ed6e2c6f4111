//! mailkeep's storage layer: metadata, message bodies and their durability.
//!
//! This crate owns the data directory's on-disk format and nothing else: it knows no protocol
//! (no SMTP, no IMAP) and no network. Everything above it sees typed operations
//! — the traits of `mailkeep-store-api` ([`Mailboxes::deliver`], [`Directory::add_account`],
//! [`Mailboxes::messages`], …), implemented next to their SQL in the `*_ops` modules — never
//! SQL, so that a second backend (PostgreSQL plus an object store, DESIGN §5) implements the
//! same surface and passes the same conformance suite (`tests/conformance.rs`).
//!
//! # Durability contract
//! A write method returns `Ok` only after everything it changed is durable. Message bodies of
//! up to [`segments::INLINE_MAX`] bytes are stored inside the SQLite transaction that enters
//! them in mailboxes; larger ones are appended to a segment file that is fsynced (and its
//! directory, when the segment is new) *before* the transaction that references them commits.
//! SQLite runs in WAL mode with `synchronous=FULL`, so every commit is fsynced. Callers reply
//! `250`/`OK` only after the method returns.
//!
//! # Group commit
//! All writes go through a pipeline (`pipeline`): an appender takes every write that is
//! waiting, appends the large bodies to a segment and fsyncs once; a committer runs everything
//! synced so far in one SQLite transaction and commits once. The stages overlap, and the
//! committer takes all that is ready the moment it is idle, so a lone write is never delayed
//! and a busy server commits many writes per fsync. One failing write does not fail its
//! neighbours (the batch is rerun with a savepoint per write).
//!
//! An fsync or commit failure poisons the store: every later write fails with
//! [`Error::Poisoned`] until the process restarts and recovery runs (retrying an fsync after it
//! failed can report success for data the kernel already dropped).
//!
//! # Layout of a data directory
//! - `FORMAT`: the on-disk format version (see [`mod@format`]).
//! - `meta.sqlite` (+ `-wal`, `-shm`): metadata and small bodies (schema in [`schema`]).
//! - `blobs/NNNNNNNN.seg`: append-only segment files of large bodies ([`segments`]).
//! - `directory.stamp`: rewritten on every change of domains, accounts or aliases, so that
//!   caches in a running server notice changes made by the CLI.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
pub mod backup;
mod change_ops;
mod failing_reads;
#[cfg(feature = "fault-injection")]
pub mod faults;
mod feed_ops;
pub mod format;
pub mod fsck;
mod hold_ops;
mod journal_ops;
mod mailbox_ops;
mod model;
mod ops;
mod pipeline;
pub mod private;
mod protection_ops;
mod queue_ops;
pub mod salvage;
pub mod schema;
pub mod segments;
mod throttle_ops;
mod writer;

pub use hold_ops::BlobRecord;
pub use mailkeep_journal as journal;
pub use mailkeep_store_api as api;
pub use mailkeep_store_api::{
    Backend, Bodies, Changes, Clock, Directory, Error, Holds, Journal, Mailboxes, Queue, Result,
    SystemClock, Throttle,
};
pub use model::*;
pub use writer::Store;
