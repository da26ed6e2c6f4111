//! mailkeep's storage seam: every operation the mail layer asks of storage, as typed methods
//! grouped by area, with the data types and the one error type they share.
//!
//! A backend implements every area trait; [`Backend`] is all of them together, and the rest
//! of mailkeep holds an `Arc<dyn Backend>`. The embedded backend (`mailkeep-store`: SQLite
//! plus segment files in one data directory) is the first; a PostgreSQL + object-store
//! backend implements the same traits and passes the same [`conformance`] suite.
//!
//! # Why traits, and why blocking methods
//! Traits rather than an enum of backends, so that a backend lives in its own crate with its
//! own dependencies (no PostgreSQL client in a single-machine build) and tests can wrap one.
//! Methods block the calling thread: async callers run them on the blocking pool, as they do
//! today. SQLite is synchronous, and boxing a future for each of the embedded backend's calls
//! would cost every call on the common path; a network backend blocks on its own runtime
//! handle inside the call.
//!
//! # Contracts every backend keeps
//! - **Durability**: a write returns `Ok` only once everything it changed is durable; callers
//!   reply `250`/`OK` only after that.
//! - **Identity**: within a mailbox, UIDs are allocated strictly ascending and never reused
//!   (also across rename and delete/re-create under the same UIDVALIDITY); every change of a
//!   message takes a MODSEQ above every earlier one in its mailbox.
//! - **Journal**: each change that matters appends its leaf in the same transaction as the
//!   change; the log is gap-free and ordered.
//! - **Poisoning**: after a failed fsync or commit, writes fail with [`Error::Poisoned`] until
//!   restart.
//! - **Changes**: each write's typed changes enter the feed ([`Changes::changes_after`]) in the
//!   transaction of the write, in commit order; an observer that fell behind what the feed
//!   keeps is told so and resyncs from MODSEQs ([`Mailboxes::mailbox_changes`]). Nothing is
//!   lost either way.
//! - **Time** comes from the [`Clock`] the backend was opened with.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clock;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod flags;
pub mod model;

use std::collections::HashMap;
use std::sync::Arc;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{DbError, Error, Result, STORAGE_FULL};
pub use mailkeep_journal as journal;
pub use model::*;

use mailkeep_journal::{Event, Kind};

/// The area traits, for `use mailkeep_store_api::prelude::*` where an `Arc<dyn Backend>`'s
/// methods are called.
pub mod prelude {
    pub use crate::{
        Backend, Bodies, Changes, Directory, Holds, Journal, Mailboxes, Protection, Queue, Throttle,
    };
}

/// Called with the outcome of a write handed over without waiting ([`Mailboxes::deliver_then`]).
pub type Done<T> = Box<dyn FnOnce(Result<T>) + Send + 'static>;

/// Signs a checkpoint: `(tree size, root, time) -> signed note`.
pub type Signer = Box<dyn FnOnce(u64, Hash, i64) -> String + Send + 'static>;

/// Domains, accounts, aliases and app passwords.
pub trait Directory {
    /// A token that changes whenever domains, accounts or aliases change — also when another
    /// process changed them. Read it *before* a lookup that is cached under it.
    fn directory_stamp(&self) -> Vec<u8>;
    /// Adds a domain (its name in A-label form).
    fn add_domain(&self, name: &str, now: i64) -> Result<()>;
    /// Every domain.
    fn domains(&self) -> Result<Vec<Domain>>;
    /// Deletes a domain; with `force`, its users and aliases too (else `Conflict`).
    fn delete_domain(&self, name: &str, force: bool, now: i64) -> Result<DomainDeleted>;
    /// Whether the domain is ours.
    fn has_domain(&self, name: &str) -> Result<bool>;
    /// Adds an account with the default mailboxes; returns its id.
    fn add_account(
        &self,
        address: &str,
        domain: &str,
        password_hash: &str,
        now: i64,
        uidvalidity: u32,
    ) -> Result<i64>;
    /// Replaces an account's password hash.
    fn set_password(&self, address: &str, password_hash: &str) -> Result<()>;
    /// Deletes an account (its mail stays under retention).
    fn delete_account(&self, address: &str, now: i64) -> Result<()>;
    /// A live account by address.
    fn account(&self, address: &str) -> Result<Option<Account>>;
    /// Every live account.
    fn accounts(&self) -> Result<Vec<Account>>;
    /// Adds an alias `source` → `target`.
    fn add_alias(&self, source: &str, source_domain: &str, target: &str, now: i64) -> Result<()>;
    /// Deletes an alias; returns its target.
    fn delete_alias(&self, source: &str) -> Result<String>;
    /// The target of an alias.
    fn alias_target(&self, source: &str) -> Result<Option<String>>;
    /// Resolves a recipient: the first candidate that is an account or alias of `domain`.
    fn lookup_recipient(&self, domain: &str, candidates: &[String]) -> Result<Lookup>;
    /// Every alias.
    fn aliases(&self) -> Result<Vec<Alias>>;
    /// Adds an app password (`hash` is the SHA-256 of its secret).
    fn add_app_password(
        &self,
        address: &str,
        name: &str,
        hash: Vec<u8>,
        scope: &str,
        now: i64,
    ) -> Result<()>;
    /// An account's live app passwords.
    fn app_passwords(&self, account_id: i64) -> Result<Vec<AppPassword>>;
    /// Revokes one app password.
    fn revoke_app_password(&self, address: &str, name: &str, now: i64) -> Result<()>;
}

/// Mailboxes and the messages in them.
pub trait Mailboxes {
    /// An account's mailboxes.
    fn mailboxes(&self, account_id: i64) -> Result<Vec<Mailbox>>;
    /// One mailbox by name.
    fn mailbox(&self, account_id: i64, name: &str) -> Result<Option<Mailbox>>;
    /// The live messages of a mailbox, by UID.
    fn messages(&self, mailbox_id: i64) -> Result<Vec<MessageEntry>>;
    /// What changed in a mailbox after `since` (a MODSEQ): live messages whose MODSEQ is
    /// above it and UIDs expunged above it. Costs what changed, not the mailbox's size.
    fn mailbox_changes(&self, mailbox_id: i64, since: u64) -> Result<MailboxChanges>;
    /// UIDs expunged with a MODSEQ above `modseq`.
    fn expunged_since(&self, mailbox_id: i64, modseq: u64) -> Result<Vec<u32>>;
    /// Creates a mailbox.
    fn create_mailbox(&self, account_id: i64, name: &str, uidvalidity: u32) -> Result<()>;
    /// Deletes a mailbox (its messages count as expunged).
    fn delete_mailbox(&self, account_id: i64, name: &str, now: i64) -> Result<()>;
    /// Renames a mailbox (and its children); INBOX moves its messages instead.
    fn rename_mailbox(
        &self,
        account_id: i64,
        from: &str,
        to: &str,
        uidvalidity: u32,
        now: i64,
    ) -> Result<()>;
    /// Subscribes or unsubscribes.
    fn set_subscribed(&self, account_id: i64, name: &str, subscribed: bool) -> Result<()>;
    /// STORE: changes flags of `uids` in one commit. With `unchanged_since`
    /// (CONDSTORE), messages changed after it are left alone and returned second.
    fn store_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        mode: FlagMode,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<FlagChange>, Vec<u32>)>;
    /// Adds flags to `uids` in one commit (`\Seen` on FETCH); returns `(uid, modseq)` of the
    /// messages it changed.
    fn add_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        flags: Vec<String>,
    ) -> Result<Vec<(u32, u64)>>;
    /// Expunges `\Deleted` messages (only those in `only`, when given); returns their UIDs.
    fn expunge(&self, mailbox_id: i64, only: Option<Vec<u32>>, now: i64) -> Result<Vec<u32>>;
    /// APPEND.
    fn append(
        &self,
        account_id: i64,
        mailbox: &str,
        bytes: Vec<u8>,
        flags: Vec<String>,
        internal_date: i64,
    ) -> Result<Copied>;
    /// APPEND unless the mailbox already holds these bytes (idempotent import); `done` gets
    /// the new UID, or `None` when it was there.
    fn append_if_absent_then(
        &self,
        account_id: i64,
        mailbox: &str,
        bytes: Vec<u8>,
        flags: Vec<String>,
        internal_date: i64,
        done: Done<Option<u32>>,
    );
    /// COPY, or MOVE with `expunge_source`.
    fn copy_messages(
        &self,
        account_id: i64,
        from_mailbox_id: i64,
        uids: Vec<u32>,
        to: &str,
        expunge_source: bool,
        now: i64,
    ) -> Result<Copied>;
    /// Bytes stored in an account's live messages.
    fn account_usage(&self, account_id: i64) -> Result<u64>;
    /// Claims `\Recent` for UIDs up to `upto`; returns the previous mark.
    fn claim_recent(&self, mailbox_id: i64, upto: u32) -> Result<u32>;
    /// The highest UID whose `\Recent` was claimed.
    fn recent_mark(&self, mailbox_id: i64) -> Result<u32>;
    /// Local delivery of one message to `(account, mailbox)` targets, journaled as one
    /// delivery under `delivery_id` (SMTP delivery is at least once: a repeat is a second
    /// message sharing the body).
    fn deliver(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        internal_date: i64,
        delivery_id: &str,
    ) -> Result<Vec<Placed>>;
    /// [`Mailboxes::deliver`] without waiting: `done` runs once it is durable.
    fn deliver_then(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        internal_date: i64,
        delivery_id: &str,
        done: Done<Vec<Placed>>,
    );
}

/// Message bodies and what is derived from them once.
pub trait Bodies {
    /// A body's bytes, checked against its address.
    fn read_blob(&self, hash: &Hash) -> Result<Vec<u8>>;
    /// [`Bodies::read_blob`] for each of `hashes`, in their order. A store whose reads wait
    /// on a network (an object store) overlaps them; the default reads one at a time. The
    /// caller bounds memory by how many it asks for at once.
    fn read_blobs(&self, hashes: &[Hash]) -> Vec<Result<Vec<u8>>> {
        hashes.iter().map(|h| self.read_blob(h)).collect()
    }
    /// Reads and checks each of `hashes` as [`Bodies::read_blob`] does, handing each
    /// outcome to `each`, in any order. A store whose reads wait on a network (an object
    /// store) overlaps them; the default reads one at a time.
    fn check_blobs(&self, hashes: &[Hash], each: &mut dyn FnMut(&Hash, Result<()>)) {
        for hash in hashes {
            each(hash, self.read_blob(hash).map(drop));
        }
    }
    /// Bodies in the order they were first stored, after sequence number `seq`.
    fn blobs_after(&self, seq: u64, limit: usize) -> Result<Vec<FedBlob>>;
    /// Bodies after `seq` that have no parsed record yet.
    fn unparsed_blobs(&self, seq: u64, limit: usize) -> Result<Vec<FedBlob>>;
    /// The parsed records of those of `hashes` that have one.
    fn parsed(&self, hashes: &[Hash]) -> Result<HashMap<Hash, Vec<u8>>>;
    /// Stores parsed records (derived data: rewriting one is harmless).
    fn put_parsed(&self, records: Vec<(Hash, Vec<u8>)>) -> Result<()>;
    /// How many bodies come after `seq`.
    fn blobs_count_after(&self, seq: u64) -> Result<u64>;
    /// The last body's sequence number.
    fn last_blob_seq(&self) -> Result<u64>;
    /// The body at sequence number `seq`.
    fn blob_at(&self, seq: u64) -> Result<Option<Hash>>;
    /// Every purged body.
    fn purged_blobs(&self) -> Result<Vec<Hash>>;
    /// How many bodies were purged.
    fn purged_count(&self) -> Result<u64>;
}

/// The tamper-evident journal.
pub trait Journal {
    /// Number of leaves.
    fn journal_size(&self) -> Result<u64>;
    /// Root of the tree of the first `size` leaves.
    fn journal_root(&self, size: u64) -> Result<Hash>;
    /// Inclusion proof of leaf `idx` in the tree of `size` leaves.
    fn journal_inclusion(&self, idx: u64, size: u64) -> Result<Vec<Hash>>;
    /// Leaves `from..to`.
    fn journal_leaves(&self, from: u64, to: u64) -> Result<Vec<StoredLeaf>>;
    /// Indexes of the leaves about one mailbox entry.
    fn journal_leaves_of(&self, mailbox_id: i64, uid: u32) -> Result<Vec<u64>>;
    /// The per-message secret that blinds a body's hash in the journal.
    fn message_secret(&self, blob: &Hash) -> Result<Option<[u8; 32]>>;
    /// Calls `f` with every body not purged and its secret.
    fn for_each_live_blob(&self, f: &mut dyn FnMut(Hash, Option<[u8; 32]>)) -> Result<()>;
    /// Signs and stores a checkpoint of the current tree (unless nothing changed and not
    /// `force`).
    fn checkpoint(&self, force: bool, sign: Signer) -> Result<Option<StoredCheckpoint>>;
    /// Every stored checkpoint.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>>;
    /// Every mailbox entry ever made, expunged ones included.
    fn all_entries(&self) -> Result<Vec<EntryRecord>>;
    /// The mailbox entries `filter` admits, by mailbox and UID.
    fn entries(&self, filter: &EntryFilter) -> Result<Vec<EntryRecord>>;
    /// The decoded leaves about one mailbox entry.
    fn entry_events(&self, mailbox_id: i64, uid: u32) -> Result<Vec<(u64, Event)>>;
    /// Journals an audit event (discovery, export) by the acting admin.
    fn audit(&self, account: &str, detail: &str) -> Result<()>;
    /// Every leaf, decoded.
    fn journal_events(&self) -> Result<Vec<(u64, Event)>>;
    /// The last event of a kind.
    fn last_event_of(&self, kind: Kind) -> Result<Option<Event>>;
    /// Journals the retention policy when it differs from the last one journaled.
    fn note_retention(&self, policy: &str) -> Result<bool>;
}

/// The outbound queue.
pub trait Queue {
    /// Accepts a message: local copies and the queue entry for remote recipients in one
    /// transaction; `done` runs once it is durable.
    #[allow(clippy::too_many_arguments)]
    fn accept_then(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        outbound: Option<NewOutbound>,
        envelope: (String, Vec<String>),
        now: i64,
        delivery_id: &str,
        done: Done<Vec<Placed>>,
    );
    /// Leases up to `limit` due recipients for `lease` seconds.
    fn queue_claim(&self, now: i64, lease: i64, limit: usize) -> Result<Vec<Claimed>>;
    /// Leases due recipients of one domain (to reuse a connection).
    fn queue_claim_domain(
        &self,
        domain: &str,
        tried: &[i64],
        due_by: i64,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>>;
    /// Records attempts' outcomes and releases their leases.
    fn queue_record(&self, outcomes: Vec<(i64, Outcome)>, now: i64) -> Result<()>;
    /// Queue entries (only those with queued recipients unless `all`).
    fn queue_list(&self, all: bool) -> Result<Vec<QueueEntry>>;
    /// One queue entry.
    fn queue_entry(&self, queue_id: &str) -> Result<Option<QueueEntry>>;
    /// Makes an entry's queued recipients due now.
    fn queue_retry(&self, queue_id: &str, now: i64) -> Result<usize>;
    /// Drops an entry's queued recipients.
    fn queue_drop(&self, queue_id: &str, now: i64) -> Result<usize>;
    /// Releases every lease (a single node at start).
    fn queue_release_claims(&self) -> Result<usize>;
    /// When the next recipient is due.
    fn queue_next_due(&self) -> Result<Option<i64>>;
}

/// Legal holds and purging.
pub trait Holds {
    /// Sets a hold; returns its id.
    fn add_hold(&self, account: Option<&str>, query: &str, reason: &str) -> Result<i64>;
    /// Releases a hold.
    fn release_hold(&self, id: i64) -> Result<()>;
    /// Every hold, released ones included.
    fn holds(&self) -> Result<Vec<Hold>>;
    /// Whether a queued message still needs the body.
    fn blob_queued(&self, blob: &Hash) -> Result<bool>;
    /// Deletes a body's bytes, journaled per entry; returns how many entries it had.
    fn purge_blob(&self, blob: Hash, reason: &str) -> Result<usize>;
    /// When a body was purged.
    fn purged_at(&self, blob: &Hash) -> Result<Option<i64>>;
}

/// Protection state that must not be per process: every node counts the same submissions
/// and trusts the same MTA-STS policies, and a restart resets neither.
pub trait Protection {
    /// Records that `account_id` submitted a message at `at`, forgetting records before
    /// `forget_before`.
    fn record_submission(&self, account_id: i64, at: i64, forget_before: i64) -> Result<()>;
    /// How many messages `account_id` submitted at or after `since`.
    fn submissions_since(&self, account_id: i64, since: i64) -> Result<u64>;
    /// The MTA-STS policy last fetched for `domain` (expired ones too: the caller decides).
    fn sts_policy(&self, domain: &str) -> Result<Option<StsPolicy>>;
    /// Stores the policy fetched for `domain`, replacing the one before.
    fn put_sts_policy(&self, domain: &str, policy: &StsPolicy) -> Result<()>;
}

/// Login throttling state.
pub trait Throttle {
    /// Records a failed login (journaled), forgetting failures before `forget_before`.
    fn record_auth_failure(
        &self,
        failure: AuthFailure,
        tried: &str,
        detail: &str,
        forget_before: i64,
    ) -> Result<()>;
    /// Failures since `since`, by address and/or name.
    fn auth_failures(
        &self,
        since: i64,
        ip: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<AuthFailure>>;
    /// Forgets failures by address and/or name.
    fn clear_auth_failures(&self, ip: Option<&str>, name: Option<&str>) -> Result<usize>;
}

/// The change feed: every write's typed changes, in commit order, for observers in this
/// process, in another process on the same store (the CLI) or on another node.
pub trait Changes {
    /// Up to `limit` changes after feed position `after` (0: from the start), oldest first.
    /// Changes of one write come together, each mailbox's with the MODSEQ it committed at.
    fn changes_after(&self, after: u64, limit: usize) -> Result<ChangeFeed>;
    /// The feed position of the last committed change: where a new observer starts.
    fn change_head(&self) -> Result<u64>;
}

/// A whole backend: every area, plus who is acting.
pub trait Backend:
    Directory
    + Mailboxes
    + Bodies
    + Journal
    + Queue
    + Holds
    + Throttle
    + Protection
    + Changes
    + Send
    + Sync
{
    /// The same backend, recording `actor` in the journal for writes made through it.
    fn acting(&self, actor: Actor) -> Arc<dyn Backend>;
    /// Stops background work and waits for pending writes.
    fn close(&self);
}
