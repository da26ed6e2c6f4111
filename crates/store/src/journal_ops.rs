//! Journaling: every state change that matters appends a leaf (`mailkeep-journal`'s
//! encoding) in the same transaction as the change, with the Merkle nodes it completes.
//! Reading the tree back: heads, proofs, leaves, checkpoints.

use mailkeep_store_api::Signer;
use mailkeep_store_api::prelude::*;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

use mailkeep_journal::merkle::{self, Nodes};
use mailkeep_journal::{Event, Kind};

use crate::ops::{exec, row};
use crate::segments::Hash;
use crate::{
    Actor, Clock, EntryFilter, EntryRecord, Error, Result, Store, StoredCheckpoint, StoredLeaf,
    SystemClock,
};

thread_local! {
    /// The clock of the store whose committer runs on this thread (`pipeline::start` sets
    /// it): every write runs there, so this is where journal leaves, holds and purges take
    /// their time from.
    static CLOCK: std::cell::RefCell<Option<std::sync::Arc<dyn Clock>>> =
        const { std::cell::RefCell::new(None) };
}

/// Makes `clock` the time source of writes run on this thread.
pub(crate) fn use_clock(clock: std::sync::Arc<dyn Clock>) {
    CLOCK.with(|c| *c.borrow_mut() = Some(clock));
}

/// Now, by the clock of the store whose writes run on this thread (else the system's).
pub(crate) fn now() -> i64 {
    CLOCK
        .with(|c| c.borrow().as_ref().map(|c| c.now()))
        .unwrap_or_else(|| SystemClock.now())
}

pub(crate) use mailkeep_journal::merkle::tree_position;

/// Complete-subtree hashes as stored.
pub(crate) struct DbNodes<'a>(pub &'a Connection);

impl Nodes for DbNodes<'_> {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        row(
            self.0,
            "SELECT hash FROM journal_tree WHERE pos = ?1",
            [tree_position(level, index)?],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .optional()
        .ok()
        .flatten()
        .and_then(|v| v.try_into().ok())
    }
}

pub(crate) fn size(c: &Connection) -> Result<u64> {
    Ok(row(
        c,
        "SELECT COALESCE(MAX(idx) + 1, 0) FROM journal",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// Appends one leaf and the nodes it completes; returns its index.
pub(crate) fn append_leaf(c: &Connection, ev: &Event) -> Result<u64> {
    let idx = size(c)?;
    let leaf = ev.encode();
    let hash = merkle::leaf_hash(&leaf);
    exec(
        c,
        "INSERT INTO journal (idx, leaf, kind, time, mailbox_id, uid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            idx as i64,
            leaf,
            ev.kind.map_or(0, |k| k as u8),
            ev.time,
            (ev.mailbox_id != 0).then_some(ev.mailbox_id),
            (ev.uid != 0).then_some(ev.uid),
        ],
    )?;
    // `journal_tree` is keyed by the order appends create nodes in, so that one commit's
    // nodes share the table's last page.
    let added = merkle::appended(&DbNodes(c), idx, hash).map_err(|e| Error::Corrupt {
        hash: format!("journal leaf {idx}"),
        reason: format!("cannot extend the tree: {e:?}"),
    })?;
    for (pos, h) in added {
        exec(
            c,
            "INSERT INTO journal_tree (pos, hash) VALUES (?1, ?2)",
            params![pos, &h[..]],
        )?;
    }
    Ok(idx)
}

/// Leaves `from .. to` in index order, each with the leaf hash stored in the tree.
fn leaves(c: &Connection, from: u64, to: u64) -> Result<Vec<StoredLeaf>> {
    if from >= to {
        return Ok(Vec::new());
    }
    let Some(first) = tree_position(0, from) else {
        return Ok(Vec::new()); // beyond any journal there can be
    };
    let last = tree_position(0, to - 1).unwrap_or(i64::MAX);
    let mut st = c.prepare_cached(
        "SELECT idx, leaf FROM journal WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
    )?;
    let leaves = st
        .query_map(params![from as i64, to.min(i64::MAX as u64) as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // The range holds the inner nodes between these leaves too; both lists ascend, so one
    // pass pairs each leaf with its own row.
    let mut st = c.prepare_cached(
        "SELECT pos, hash FROM journal_tree WHERE pos >= ?1 AND pos <= ?2 ORDER BY pos",
    )?;
    let mut nodes = st
        .query_map(params![first, last], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .peekable();
    let mut out = Vec::with_capacity(leaves.len());
    for (idx, leaf) in leaves {
        let want = tree_position(0, idx).unwrap_or(i64::MAX);
        while nodes
            .next_if(|n| n.as_ref().is_ok_and(|(pos, _)| *pos < want))
            .is_some()
        {}
        // The leaf's own row, or an error to report; anything else belongs to a later leaf.
        let node = match nodes.next_if(|n| !n.as_ref().is_ok_and(|(pos, _)| *pos != want)) {
            Some(row) => row?.1.try_into().ok(),
            None => None,
        };
        out.push(StoredLeaf { idx, leaf, node });
    }
    Ok(out)
}

/// The message's secret, created on first use (messages stored before the journal existed).
fn secret(c: &Connection, blob: &Hash) -> Result<[u8; 32]> {
    let found: Option<Vec<u8>> = row(
        c,
        "SELECT secret FROM blobs WHERE hash = ?1",
        [&blob[..]],
        |r| r.get(0),
    )
    .optional()?
    .flatten();
    if let Some(s) = found.and_then(|s| <[u8; 32]>::try_from(s).ok()) {
        return Ok(s);
    }
    let s: [u8; 32] = rand::random();
    exec(
        c,
        "UPDATE blobs SET secret = ?2 WHERE hash = ?1",
        params![&blob[..], &s[..]],
    )?;
    Ok(s)
}

/// An event by `actor`, now, about `account`: the fields every leaf has.
fn event(actor: &Actor, kind: Kind, account: String, detail: &str) -> Event {
    Event {
        kind: Some(kind),
        time: now(),
        actor_kind: Some(actor.kind),
        actor: actor.name.clone(),
        origin: actor.origin.clone(),
        account,
        detail: detail.to_owned(),
        ..Event::default()
    }
}

/// The account address and mailbox name a leaf about a mailbox entry records.
const ENTRY_NAMES: &str = "SELECT (SELECT address FROM accounts WHERE id = b.account_id), b.name
     FROM mailboxes AS b WHERE b.id = ?1";

/// Journals an event about one mailbox entry.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_message(
    c: &Connection,
    actor: &Actor,
    kind: Kind,
    mailbox_id: i64,
    uid: u32,
    blob: &Hash,
    envelope: Option<(&str, &[String])>,
    detail: &str,
) -> Result<u64> {
    // A subquery, not a JOIN: SQLite compiles the JOIN form again on every run (its plan
    // depends on the bound value), which costs more than running it.
    let (account, mailbox): (String, String) =
        row(c, ENTRY_NAMES, [mailbox_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let entry = Entry {
        account,
        mailbox,
        mailbox_id,
        uid,
    };
    record_entry(c, actor, kind, entry, blob, envelope, detail)
}

/// A mailbox entry by name and number, as a leaf records it.
pub(crate) struct Entry {
    pub account: String,
    pub mailbox: String,
    pub mailbox_id: i64,
    pub uid: u32,
}

/// [`record_message`] when the caller already has the names (delivery does).
pub(crate) fn record_entry(
    c: &Connection,
    actor: &Actor,
    kind: Kind,
    entry: Entry,
    blob: &Hash,
    envelope: Option<(&str, &[String])>,
    detail: &str,
) -> Result<u64> {
    let secret = secret(c, blob)?;
    let (mail_from, recipients) = envelope.map_or((String::new(), Vec::new()), |(f, r)| {
        (f.to_owned(), r.to_vec())
    });
    append_leaf(
        c,
        &Event {
            mailbox: entry.mailbox,
            mailbox_id: entry.mailbox_id,
            uid: entry.uid,
            mail_from,
            recipients,
            commitment: Some(mailkeep_journal::leaf::commitment(&secret, blob)),
            ..event(actor, kind, entry.account, detail)
        },
    )
}

/// Journals an event about a message that is not in a mailbox (submitted, sent, bounced).
pub(crate) fn record_transfer(
    c: &Connection,
    actor: &Actor,
    kind: Kind,
    account: &str,
    blob: &Hash,
    envelope: (&str, &[String]),
    detail: &str,
) -> Result<u64> {
    let secret = secret(c, blob)?;
    append_leaf(
        c,
        &Event {
            mail_from: envelope.0.to_owned(),
            recipients: envelope.1.to_vec(),
            commitment: Some(mailkeep_journal::leaf::commitment(&secret, blob)),
            ..event(actor, kind, account.to_owned(), detail)
        },
    )
}

/// Journals an event without a message (accounts, domains, holds, audit).
pub(crate) fn record_event(
    c: &Connection,
    actor: &Actor,
    kind: Kind,
    account: &str,
    detail: &str,
) -> Result<u64> {
    append_leaf(c, &event(actor, kind, account.to_owned(), detail))
}

impl Store {
    /// The same store, recording `actor` in the journal for the writes made through it.
    pub fn acting(&self, actor: Actor) -> Store {
        Store {
            inner: self.inner.clone(),
            actor: std::sync::Arc::new(actor),
        }
    }
}

/// Journals what a store upgraded to format 4 already holds: accounts, domains, aliases,
/// and every message (with its expunge, if it was expunged), in id order.
pub(crate) fn journal_existing(c: &Connection) -> Result<()> {
    let system = Actor::system();
    const EARLIER: &str = "present before the journal existed";
    let mut st = c.prepare("SELECT name FROM domains ORDER BY id")?;
    let domains: Vec<String> = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for d in domains {
        record_event(
            c,
            &system,
            Kind::DomainCreated,
            "",
            &format!("{d}; {EARLIER}"),
        )?;
    }
    let mut st = c.prepare("SELECT address FROM accounts ORDER BY id")?;
    let accounts: Vec<String> = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for a in accounts {
        record_event(c, &system, Kind::AccountCreated, &a, EARLIER)?;
    }
    let mut st = c.prepare(
        "SELECT s.source, a.address FROM aliases s JOIN accounts a ON a.id = s.account_id
         ORDER BY s.id",
    )?;
    let aliases: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (source, target) in aliases {
        record_event(
            c,
            &system,
            Kind::AliasCreated,
            &target,
            &format!("{source} -> {target}; {EARLIER}"),
        )?;
    }
    let mut st =
        c.prepare("SELECT mailbox_id, uid, blob_hash, expunged_at FROM messages ORDER BY id")?;
    let messages: Vec<(i64, u32, Vec<u8>, Option<i64>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (mailbox_id, uid, blob, expunged) in messages {
        let Ok(blob) = <Hash>::try_from(blob) else {
            continue;
        };
        record_message(
            c,
            &system,
            Kind::Appended,
            mailbox_id,
            uid,
            &blob,
            None,
            EARLIER,
        )?;
        if expunged.is_some() {
            record_message(
                c,
                &system,
                Kind::Expunged,
                mailbox_id,
                uid,
                &blob,
                None,
                EARLIER,
            )?;
        }
    }
    Ok(())
}

impl Journal for Store {
    /// Number of leaves.
    fn journal_size(&self) -> Result<u64> {
        self.read(size)
    }

    /// The tree head at `size` from the stored nodes.
    fn journal_root(&self, size: u64) -> Result<Hash> {
        self.read(|c| {
            merkle::root(&DbNodes(c), size)
                .map_err(|e| Error::NotFound(format!("journal tree: {e:?}")))
        })
    }

    /// The inclusion proof of leaf `idx` in the tree of `size`.
    fn journal_inclusion(&self, idx: u64, size: u64) -> Result<Vec<Hash>> {
        self.read(|c| {
            merkle::inclusion_proof(&DbNodes(c), idx, size)
                .map_err(|e| Error::NotFound(format!("journal tree: {e:?}")))
        })
    }

    /// Leaves `from .. to` in index order, each with the leaf hash stored in the tree.
    fn journal_leaves(&self, from: u64, to: u64) -> Result<Vec<StoredLeaf>> {
        self.read(|c| leaves(c, from, to))
    }

    /// Indexes of the leaves about one mailbox entry, oldest first.
    fn journal_leaves_of(&self, mailbox_id: i64, uid: u32) -> Result<Vec<u64>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT idx FROM journal WHERE mailbox_id = ?1 AND uid = ?2 ORDER BY idx",
            )?;
            let rows =
                st.query_map(params![mailbox_id, uid], |r| Ok(r.get::<_, i64>(0)? as u64))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The secret of a message (for export), if its bytes were not purged.
    fn message_secret(&self, blob: &Hash) -> Result<Option<[u8; 32]>> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT secret FROM blobs WHERE hash = ?1",
                [&blob[..]],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()?
            .flatten()
            .and_then(|v| v.try_into().ok()))
        })
    }

    /// Calls `f` with every body row that was not purged: its hash and its secret (`None`
    /// when the row has none). One scan, row by row, so that `journal verify` stays bounded
    /// however many bodies there are.
    fn for_each_live_blob(&self, f: &mut dyn FnMut(Hash, Option<[u8; 32]>)) -> Result<()> {
        self.read(|c| {
            let mut st = c.prepare("SELECT hash, secret FROM blobs WHERE purged_at IS NULL")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let hash = crate::ops::hash_from(r.get(0)?)?;
                let secret = r
                    .get::<_, Option<Vec<u8>>>(1)?
                    .and_then(|v| v.try_into().ok());
                f(hash, secret);
            }
            Ok(())
        })
    }

    /// Writes a checkpoint of the tree as it is at the moment of the write: `sign` gets the
    /// size and root and returns the signed note. `None` if the tree has not grown since the
    /// last checkpoint (unless `force`).
    fn checkpoint(&self, force: bool, sign: Signer) -> Result<Option<StoredCheckpoint>> {
        let mut sign = Some(sign);
        self.write(None, move |c, _| {
            let n = size(c)?;
            let last: Option<i64> =
                row(c, "SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))?;
            if !force && last.is_some_and(|l| l as u64 == n) {
                return Ok(None);
            }
            let root = merkle::root(&DbNodes(c), n).map_err(|e| Error::Corrupt {
                hash: "journal".into(),
                reason: format!("cannot compute the tree head: {e:?}"),
            })?;
            let time = now();
            let Some(sign) = sign.take() else {
                return Ok(None);
            };
            let note = sign(n, root, time);
            exec(
                c,
                "INSERT OR REPLACE INTO checkpoints (size, root, time, note) VALUES (?1, ?2, ?3, ?4)",
                params![n as i64, &root[..], time, note],
            )?;
            Ok(Some(StoredCheckpoint {
                size: n,
                root,
                time,
                note,
            }))
        })
    }

    /// Every stored checkpoint, oldest first.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT size, root, time, note FROM checkpoints ORDER BY size")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (size, root, time, note) = row?;
                out.push(StoredCheckpoint {
                    size: size as u64,
                    root: root.try_into().unwrap_or([0; 32]),
                    time,
                    note,
                });
            }
            Ok(out)
        })
    }

    /// Every mailbox entry ever made (expunged ones included), by mailbox and UID.
    fn all_entries(&self) -> Result<Vec<EntryRecord>> {
        self.entries(&EntryFilter::default())
    }

    /// The mailbox entries `filter` admits, by mailbox and UID: a few bodies are looked up
    /// by hash, otherwise only the admitted mailboxes are read, each by its primary key.
    fn entries(&self, filter: &EntryFilter) -> Result<Vec<EntryRecord>> {
        /// Up to this many bodies are looked up one by one; more, and mailboxes are scanned.
        const LOOKUPS: usize = 20_000;
        self.read(|c| {
            // Names come from a small map rather than a join per row: on 100,000 entries the
            // join costs more than the scan.
            let mut st = c.prepare_cached(
                "SELECT b.id, a.address, b.name FROM mailboxes b JOIN accounts a ON a.id = b.account_id",
            )?;
            let names: HashMap<i64, (String, String)> = st
                .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
                .collect::<rusqlite::Result<_>>()?;
            let admitted = |id: i64| {
                names.get(&id).is_some_and(|(account, mailbox)| {
                    filter
                        .account
                        .as_ref()
                        .is_none_or(|a| account.eq_ignore_ascii_case(a))
                        && filter.mailbox.as_ref().is_none_or(|m| m == mailbox)
                })
            };
            let row_ok = |e: &EntryRecord| {
                filter.since.is_none_or(|t| e.internal_date >= t)
                    && filter.before.is_none_or(|t| e.internal_date < t)
                    && filter.deleted.is_none_or(|d| e.expunged_at.is_some() == d)
            };
            let record = |r: &rusqlite::Row<'_>| -> rusqlite::Result<EntryRecord> {
                let mailbox_id: i64 = r.get(0)?;
                let (account, mailbox) = names.get(&mailbox_id).cloned().unwrap_or_default();
                Ok(EntryRecord {
                    mailbox_id,
                    account,
                    mailbox,
                    uid: r.get(1)?,
                    blob: crate::ops::hash_from(r.get(2)?)?,
                    expunged_at: r.get(3)?,
                    internal_date: r.get(4)?,
                    size: r.get(5)?,
                })
            };
            let mut out = Vec::new();
            match &filter.blobs {
                Some(blobs) if blobs.len() <= LOOKUPS => {
                    let mut st = c.prepare_cached(
                        "SELECT mailbox_id, uid, blob_hash, expunged_at, internal_date, size
                         FROM messages WHERE blob_hash = ?1",
                    )?;
                    for h in blobs {
                        for e in st.query_map([&h[..]], record)? {
                            let e = e?;
                            if admitted(e.mailbox_id) && row_ok(&e) {
                                out.push(e);
                            }
                        }
                    }
                    out.sort_by_key(|e| (e.mailbox_id, e.uid));
                    out.dedup_by_key(|e| (e.mailbox_id, e.uid));
                }
                blobs => {
                    let wanted: Option<std::collections::HashSet<&Hash>> =
                        blobs.as_ref().map(|b| b.iter().collect());
                    let mut ids: Vec<i64> = names.keys().copied().filter(|&id| admitted(id)).collect();
                    ids.sort_unstable();
                    let mut st = c.prepare_cached(
                        "SELECT mailbox_id, uid, blob_hash, expunged_at, internal_date, size
                         FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
                    )?;
                    for id in ids {
                        for e in st.query_map([id], record)? {
                            let e = e?;
                            if row_ok(&e) && wanted.as_ref().is_none_or(|w| w.contains(&e.blob)) {
                                out.push(e);
                            }
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    /// The journal events about one mailbox entry, oldest first, with their indexes.
    fn entry_events(&self, mailbox_id: i64, uid: u32) -> Result<Vec<(u64, Event)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT idx, leaf FROM journal WHERE mailbox_id = ?1 AND uid = ?2 ORDER BY idx",
            )?;
            let rows = st.query_map(params![mailbox_id, uid], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })?;
            Ok(rows
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter_map(|(i, l)| Event::decode(&l).map(|e| (i, e)))
                .collect())
        })
    }

    /// Journals an audit event (a login, a password change, an admin action) by this
    /// handle's actor about `account`.
    fn audit(&self, account: &str, detail: &str) -> Result<()> {
        let actor = self.actor.clone();
        // What a client typed as a user name is stored, bounded.
        let account: String = account.chars().take(256).collect();
        let detail = detail.to_owned();
        self.write(None, move |c, _| {
            record_event(c, &actor, Kind::Audit, &account, &detail)?;
            Ok(())
        })
    }

    /// Every journal event decoded, oldest first, with its index.
    fn journal_events(&self) -> Result<Vec<(u64, Event)>> {
        let size = self.journal_size()?;
        Ok(self
            .journal_leaves(0, size)?
            .into_iter()
            .filter_map(|l| Event::decode(&l.leaf).map(|e| (l.idx, e)))
            .collect())
    }

    /// The newest leaf of a kind, decoded.
    fn last_event_of(&self, kind: Kind) -> Result<Option<Event>> {
        self.read(|c| {
            let leaf: Option<Vec<u8>> = row(
                c,
                "SELECT leaf FROM journal WHERE kind = ?1 ORDER BY idx DESC LIMIT 1",
                [kind as u8],
                |r| r.get(0),
            )
            .optional()?;
            Ok(leaf.and_then(|l| Event::decode(&l)))
        })
    }

    /// Journals that the retention policy is now `policy`, unless that is already the
    /// newest record of it. Returns whether a leaf was written.
    fn note_retention(&self, policy: &str) -> Result<bool> {
        if self
            .last_event_of(Kind::RetentionChanged)?
            .is_some_and(|e| e.detail == policy)
        {
            return Ok(false);
        }
        let actor = self.actor.clone();
        let policy = policy.to_owned();
        self.write(None, move |c, _| {
            record_event(c, &actor, Kind::RetentionChanged, "", &policy)?;
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_reads_back_its_nodes_and_leaves() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut c).unwrap();
        let events: Vec<Event> = (0..77)
            .map(|i| Event {
                detail: format!("event {i}"),
                ..Event::default()
            })
            .collect();
        for ev in &events {
            append_leaf(&c, ev).unwrap();
        }
        let hashes: Vec<Hash> = events
            .iter()
            .map(|e| merkle::leaf_hash(&e.encode()))
            .collect();
        let memory = merkle::InMemory::new(hashes.clone());
        for size in [1, 2, 3, 31, 32, 33, 64, 77] {
            assert_eq!(
                merkle::root(&DbNodes(&c), size).unwrap(),
                merkle::root(&memory, size).unwrap()
            );
        }
        assert_eq!(leaves(&c, 70, u64::MAX).unwrap().len(), 7);
        let stored = leaves(&c, 5, 70).unwrap();
        assert_eq!(stored.len(), 65);
        for l in stored {
            assert_eq!(l.node, Some(hashes[l.idx as usize]), "leaf {}", l.idx);
        }
    }

    #[test]
    fn naming_an_entry_is_compiled_once() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO domains (id, name, created_at) VALUES (1, 'example.org', 0);
             INSERT INTO accounts (id, address, domain_id, password_hash, created_at)
                 VALUES (1, 'a@example.org', 1, 'x', 0);
             INSERT INTO mailboxes (id, account_id, name, uidvalidity) VALUES (1, 1, 'INBOX', 1);
             INSERT INTO mailboxes (id, account_id, name, uidvalidity) VALUES (2, 1, 'Sent', 1);",
        )
        .unwrap();
        let blob = [7u8; 32];
        for (mailbox, uid) in [(1, 1), (2, 1), (1, 2), (2, 2)] {
            record_message(
                &c,
                &Actor::system(),
                Kind::Expunged,
                mailbox,
                uid,
                &blob,
                None,
                "",
            )
            .unwrap();
        }
        let leaves: Vec<String> = c
            .prepare("SELECT leaf FROM journal ORDER BY idx")
            .unwrap()
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|l| String::from_utf8_lossy(&l.unwrap()).into_owned())
            .collect();
        assert!(leaves[1].contains("Sent") && leaves[2].contains("INBOX"));
        // A statement that depends on its bound values is compiled again on every run; on
        // the delivery path that cost more than running it.
        let st = c.prepare_cached(ENTRY_NAMES).unwrap();
        assert_eq!(st.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
