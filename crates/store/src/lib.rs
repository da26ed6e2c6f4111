//! mailkeep's storage layer: metadata, message bodies and their durability.
//!
//! This crate owns the data directory's on-disk format and nothing else: it knows no protocol
//! (no SMTP, no IMAP) and no network. Everything above it sees typed operations
//! ([`Store::deliver`], [`Store::add_account`], [`Store::messages`], …), never SQL, so that a
//! second backend (PostgreSQL plus an object store, DESIGN §5) can implement the same surface.
//!
//! # Durability contract
//! A write method returns `Ok` only after everything it changed is durable:
//! message bytes are appended to a segment file that is fsynced (and its directory, when the
//! segment is new) *before* the SQLite transaction that references them commits, and SQLite runs
//! in WAL mode with `synchronous=FULL`, so the commit itself is fsynced. Callers reply `250`/`OK`
//! only after the method returns.
//!
//! # Group commit
//! All writes go through a two-stage pipeline (`pipeline`). The appender takes every write
//! that is waiting, appends their bodies to the segment and fsyncs once; the committer runs
//! the batch in one SQLite transaction (each write in its own savepoint, so one failing write
//! does not fail its neighbours) and commits once. The stages overlap: while one batch's
//! transaction commits, the next batch's bodies are being made durable. A lone write is not
//! delayed: a batch is simply whatever queued up while the previous fsync ran.
//!
//! An fsync or commit failure poisons the store: every later write fails with
//! [`Error::Poisoned`] until the process restarts and recovery runs (retrying an fsync after it
//! failed can report success for data the kernel already dropped).
//!
//! # Layout of a data directory
//! - `FORMAT`: the on-disk format version (see [`format`]).
//! - `meta.sqlite`: metadata (schema in [`schema`]).
//! - `blobs/NNNNNNNN.seg`: append-only segment files of message bodies ([`segments`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod format;
mod model;
mod ops;
mod pipeline;
pub mod schema;
pub mod segments;
mod writer;

pub use error::{Error, Result};
pub use model::*;
pub use writer::Store;
