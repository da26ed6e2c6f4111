//! The change feed: each write notes what it changed, and the committer enters the notes in
//! the `changes` table in the same transaction, one row per mailbox and kind of change.
//!
//! Notes are kept per thread: every write runs on the committer thread, which keeps the notes
//! of each job that succeeded (dropping those of one that failed) and enters them once per
//! group commit, in the batch's transaction. A row names its messages as a UID set, and
//! notes of one kind for one mailbox join while nothing else happened to that mailbox in
//! between, so a STORE over a whole mailbox, or a batch of deliveries to one INBOX, costs the
//! feed one short row.

use mailkeep_store_api::prelude::*;
use std::cell::RefCell;

use rusqlite::{Connection, params};

use crate::model::{Change, ChangeFeed, ChangeKind, decode_uids, encode_uids};
use crate::ops::exec;
use crate::{Result, Store};

/// Rows kept: a follower further behind than this resyncs from MODSEQs.
const KEEP: u64 = if cfg!(test) { 50 } else { 200_000 };
/// Pruning runs when a row's position is a multiple of this.
const PRUNE_EVERY: u64 = if cfg!(test) { 100 } else { 4096 };

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum What {
    Added = 1,
    Flags = 2,
    Expunged = 3,
    MailboxCreated = 4,
    MailboxRenamed = 5,
    MailboxDeleted = 6,
    AccountDeleted = 7,
}

struct Note {
    what: What,
    account_id: Option<i64>,
    mailbox_id: i64,
    modseq: u64,
    uids: Vec<u32>,
    name: String,
    old: String,
}

thread_local! {
    /// The running job's notes.
    static NOTES: RefCell<Vec<Note>> = const { RefCell::new(Vec::new()) };
    /// Notes of the batch's jobs that succeeded, to enter at its commit.
    static BATCH: RefCell<Vec<Note>> = const { RefCell::new(Vec::new()) };
}

/// Adds `note` to `notes`, joining the last note about its mailbox when that is of the same
/// kind: a mailbox's rows stay in the order its changes happened.
fn join(notes: &mut Vec<Note>, note: Note) {
    if matches!(note.what, What::Added | What::Flags | What::Expunged)
        && let Some(last) = notes
            .iter_mut()
            .rev()
            .find(|l| l.mailbox_id == note.mailbox_id)
            .filter(|l| l.what == note.what)
    {
        last.uids.extend(note.uids);
        last.modseq = last.modseq.max(note.modseq);
        last.account_id = last.account_id.or(note.account_id);
        return;
    }
    notes.push(note);
}

fn push(note: Note) {
    NOTES.with(|n| join(&mut n.borrow_mut(), note));
}

/// The job that just ran succeeded: its notes wait for the batch's commit.
pub(crate) fn keep() {
    let notes = NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()));
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        for note in notes {
            join(&mut b, note);
        }
    });
}

/// Forgets every note: a batch starts (or runs again, job by job).
pub(crate) fn reset() {
    NOTES.with(|n| n.borrow_mut().clear());
    BATCH.with(|b| b.borrow_mut().clear());
}

/// A message of `mailbox_id` was added, had its flags changed or was expunged at `modseq`.
pub(crate) fn message(what: What, mailbox_id: i64, uid: u32, modseq: u64) {
    message_of(what, None, mailbox_id, uid, modseq);
}

/// [`message`] where the writer knows the mailbox's account (saves a lookup per row).
pub(crate) fn message_of(
    what: What,
    account_id: Option<i64>,
    mailbox_id: i64,
    uid: u32,
    modseq: u64,
) {
    push(Note {
        what,
        account_id,
        mailbox_id,
        modseq,
        uids: vec![uid],
        name: String::new(),
        old: String::new(),
    });
}

/// A mailbox was created, renamed (`old` is its former name) or deleted.
pub(crate) fn mailbox(what: What, mailbox_id: i64, name: &str, old: &str) {
    push(Note {
        what,
        account_id: None,
        mailbox_id,
        modseq: 0,
        uids: Vec::new(),
        name: name.to_owned(),
        old: old.to_owned(),
    });
}

/// An account was deleted.
pub(crate) fn account_deleted(account_id: i64) {
    push(Note {
        what: What::AccountDeleted,
        account_id: Some(account_id),
        mailbox_id: 0,
        modseq: 0,
        uids: Vec::new(),
        name: String::new(),
        old: String::new(),
    });
}

/// Drops the notes of a job that failed.
pub(crate) fn discard() {
    NOTES.with(|n| n.borrow_mut().clear());
}

/// Enters the batch's notes in its transaction, just before it commits.
pub(crate) fn enter(c: &Connection) -> Result<()> {
    let notes = BATCH.with(|b| std::mem::take(&mut *b.borrow_mut()));
    for mut note in notes {
        note.uids.sort_unstable();
        note.uids.dedup();
        // A message row carries the highest MODSEQ its writes gave those messages (not the
        // mailbox's at the batch's end, which a later job of another kind may have raised); a
        // mailbox row the mailbox's MODSEQ as committed. The account is looked up when the writer did
        // not know it (one row per delivery is the common case and knows it).
        let known = note.account_id.is_some() && note.modseq > 0;
        let sql = if known {
            "INSERT INTO changes (account_id, mailbox_id, modseq, kind, uids, name, old)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING seq"
        } else {
            "INSERT INTO changes (account_id, mailbox_id, modseq, kind, uids, name, old)
             SELECT coalesce(?1, (SELECT account_id FROM mailboxes WHERE id = ?2)), ?2,
                    CASE WHEN ?3 > 0 THEN ?3
                         ELSE coalesce((SELECT highestmodseq FROM mailboxes WHERE id = ?2), 0) END,
                    ?4, ?5, ?6, ?7
             RETURNING seq"
        };
        let seq: u64 = c.prepare_cached(sql)?.query_row(
            params![
                note.account_id,
                note.mailbox_id,
                note.modseq,
                note.what as u8,
                encode_uids(&note.uids),
                note.name,
                note.old
            ],
            |r| r.get(0),
        )?;
        if seq.is_multiple_of(PRUNE_EVERY) && seq > KEEP {
            exec(c, "DELETE FROM changes WHERE seq <= ?1", [seq - KEEP])?;
        }
    }
    Ok(())
}

fn change(r: &rusqlite::Row<'_>) -> rusqlite::Result<Change> {
    let uids = || decode_uids(&r.get::<_, String>(5).unwrap_or_default());
    let name = || r.get::<_, String>(6).unwrap_or_default();
    let kind = match r.get::<_, u8>(4)? {
        1 => ChangeKind::Added { uids: uids() },
        2 => ChangeKind::Flags { uids: uids() },
        3 => ChangeKind::Expunged { uids: uids() },
        4 => ChangeKind::MailboxCreated { name: name() },
        5 => ChangeKind::MailboxRenamed {
            from: r.get(7)?,
            to: name(),
        },
        6 => ChangeKind::MailboxDeleted { name: name() },
        _ => ChangeKind::AccountDeleted,
    };
    Ok(Change {
        seq: r.get(0)?,
        account_id: r.get(1)?,
        mailbox_id: r.get(2)?,
        modseq: r.get(3)?,
        kind,
    })
}

impl Changes for Store {
    /// Up to `limit` changes after feed position `after`.
    fn changes_after(&self, after: u64, limit: usize) -> Result<ChangeFeed> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT seq, account_id, mailbox_id, modseq, kind, uids, name, old
                 FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let changes: Vec<Change> = st
                .query_map(params![after, limit as i64], change)?
                .collect::<rusqlite::Result<_>>()?;
            // Positions are consecutive (a rolled-back write takes none) and rows are only
            // pruned from the front, always keeping the newest: a first row past `after + 1`
            // means the ones between are gone, and no row at all means none came.
            let gap = changes.first().is_some_and(|ch| ch.seq > after + 1);
            let next = changes.last().map_or(after, |ch| ch.seq);
            Ok(ChangeFeed { changes, next, gap })
        })
    }

    /// The position of the last committed change.
    fn change_head(&self) -> Result<u64> {
        self.read(|c| {
            // AUTOINCREMENT keeps the last position used even when pruning emptied the table.
            let seq: Option<u64> = c
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'changes'",
                    [],
                    |r| r.get(0),
                )
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            Ok(seq.unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OpenOptions;

    #[test]
    fn a_follower_behind_what_is_kept_is_told_of_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        Store::create(dir.path()).unwrap();
        let store = Store::open(dir.path(), OpenOptions::exclusive()).unwrap();
        store.add_domain("example.org", 0).unwrap();
        let a = store
            .add_account("u@example.org", "example.org", "h", 0, 1)
            .unwrap();
        let mb = store.mailbox(a, "INBOX").unwrap().unwrap().id;
        let n = PRUNE_EVERY + 10;
        for i in 0..n {
            store
                .append(
                    a,
                    "INBOX",
                    format!("Subject: {i}\r\n\r\n").into_bytes(),
                    vec![],
                    0,
                )
                .unwrap();
        }
        assert_eq!(store.change_head().unwrap(), n);
        let kept = store.changes_after(0, 10).unwrap();
        assert!(kept.gap, "rows up to {} were pruned", PRUNE_EVERY - KEEP);
        assert_eq!(kept.changes[0].seq, PRUNE_EVERY - KEEP + 1);
        assert_eq!(kept.changes[0].mailbox_id, mb);
        let recent = store.changes_after(n - 1, 10).unwrap();
        assert!(!recent.gap);
        assert_eq!(recent.changes.len(), 1);
        assert_eq!(recent.next, n);
    }
}
