//! The change feed (`changes`): one row per write, mailbox and kind of change, entered by the
//! committer before its `COMMIT`, under the write lock, so that positions follow commit order
//! on every node. The notes a write makes are kept on its [`crate::conn::W`] and entered only
//! if the write succeeded.

use mailkeep_store_api::{
    Change, ChangeFeed, ChangeKind, Changes, Result, decode_uids, encode_uids,
};
use postgres::Transaction;

use crate::PgStore;
use crate::conn::{Q, W};

/// Rows kept; older ones are pruned (a follower that far behind resynchronises).
const KEEP: i64 = 200_000;
/// Pruning runs when a position is a multiple of this.
const PRUNE_EVERY: i64 = 4096;

/// The kind of a change, as stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i16)]
pub(crate) enum What {
    Added = 1,
    Flags = 2,
    Expunged = 3,
    MailboxCreated = 4,
    MailboxRenamed = 5,
    MailboxDeleted = 6,
    AccountDeleted = 7,
}

/// One change a write made.
#[derive(Debug)]
pub(crate) struct Note {
    what: What,
    account_id: Option<i64>,
    mailbox_id: i64,
    modseq: i64,
    uids: Vec<u32>,
    name: String,
    old: String,
}

/// Joins `note` to the last note about the same mailbox when that is the same kind of
/// message change (a write touching many messages is one row).
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

impl W<'_, '_> {
    /// A message added, re-flagged or expunged, at `modseq`.
    pub(crate) fn note_message(&mut self, what: What, mailbox_id: i64, uid: u32, modseq: i64) {
        join(
            &mut self.notes,
            Note {
                what,
                account_id: None,
                mailbox_id,
                modseq,
                uids: vec![uid],
                name: String::new(),
                old: String::new(),
            },
        );
    }

    /// A mailbox created, renamed (`old` its former name) or deleted.
    pub(crate) fn note_mailbox(&mut self, what: What, mailbox_id: i64, name: &str, old: &str) {
        self.notes.push(Note {
            what,
            account_id: None,
            mailbox_id,
            modseq: 0,
            uids: Vec::new(),
            name: name.to_owned(),
            old: old.to_owned(),
        });
    }

    /// An account deleted.
    pub(crate) fn note_account_deleted(&mut self, account_id: i64) {
        self.notes.push(Note {
            what: What::AccountDeleted,
            account_id: Some(account_id),
            mailbox_id: 0,
            modseq: 0,
            uids: Vec::new(),
            name: String::new(),
            old: String::new(),
        });
    }
}

/// Enters a batch's notes, joined, before its commit.
pub(crate) fn enter(tx: &mut Transaction<'_>, notes: Vec<Note>) -> Result<()> {
    let mut joined = Vec::with_capacity(notes.len());
    for n in notes {
        join(&mut joined, n);
    }
    if joined.is_empty() {
        return Ok(());
    }
    let st = tx
        .prepare(
            "INSERT INTO changes (account_id, mailbox_id, modseq, kind, uids, name, old)
             SELECT coalesce($1::bigint, (SELECT account_id FROM mailboxes WHERE id = $2), 0),
                    $2::bigint,
                    CASE WHEN $3::bigint > 0 THEN $3::bigint
                         ELSE coalesce((SELECT highestmodseq FROM mailboxes WHERE id = $2), 0) END,
                    $4::smallint, $5::text, $6::text, $7::text
             RETURNING seq",
        )
        .q()?;
    for mut n in joined {
        n.uids.sort_unstable();
        n.uids.dedup();
        let seq: i64 = tx
            .query_one(
                &st,
                &[
                    &n.account_id,
                    &n.mailbox_id,
                    &n.modseq,
                    &(n.what as i16),
                    &encode_uids(&n.uids),
                    &n.name,
                    &n.old,
                ],
            )
            .q()?
            .get(0);
        if seq % PRUNE_EVERY == 0 && seq > KEEP {
            tx.execute("DELETE FROM changes WHERE seq <= $1", &[&(seq - KEEP)])
                .q()?;
        }
    }
    Ok(())
}

fn change(r: &postgres::Row) -> Change {
    let uids = || decode_uids(r.get::<_, &str>(5));
    let name = || r.get::<_, String>(6);
    let kind = match r.get::<_, i16>(4) {
        1 => ChangeKind::Added { uids: uids() },
        2 => ChangeKind::Flags { uids: uids() },
        3 => ChangeKind::Expunged { uids: uids() },
        4 => ChangeKind::MailboxCreated { name: name() },
        5 => ChangeKind::MailboxRenamed {
            from: r.get(7),
            to: name(),
        },
        6 => ChangeKind::MailboxDeleted { name: name() },
        _ => ChangeKind::AccountDeleted,
    };
    Change {
        seq: r.get::<_, i64>(0) as u64,
        account_id: r.get(1),
        mailbox_id: r.get(2),
        modseq: r.get::<_, i64>(3) as u64,
        kind,
    }
}

impl Changes for PgStore {
    fn changes_after(&self, after: u64, limit: usize) -> Result<ChangeFeed> {
        let (from, limit) = (after as i64, limit.min(i64::MAX as usize) as i64);
        self.reads().with(move |c| {
            let rows = c
                .query(
                    "SELECT seq, account_id, mailbox_id, modseq, kind, uids, name, old
                     FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&from, &limit],
                )
                .q()?;
            let changes: Vec<Change> = rows.iter().map(change).collect();
            let gap = changes.first().is_some_and(|ch| ch.seq > after + 1);
            let next = changes.last().map_or(after, |ch| ch.seq);
            Ok(ChangeFeed { changes, next, gap })
        })
    }

    fn change_head(&self) -> Result<u64> {
        self.reads().with(|c| {
            let head: i64 = c
                .query_one(
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM changes_seq_seq",
                    &[],
                )
                .q()?
                .get(0);
            Ok(head as u64)
        })
    }
}
