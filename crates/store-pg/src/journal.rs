//! The journal: one leaf per state change, appended in the same transaction as the change
//! with the Merkle nodes it completes (kept by `merkle::tree_position`). Every write holds the
//! write lock (see [`crate::conn`]), so leaf indexes are gap-free and in commit order however
//! many nodes write.

use std::cell::RefCell;
use std::collections::HashMap;

use mailkeep_journal::merkle::{self, Nodes};
use mailkeep_journal::{Event, Kind};
use mailkeep_store_api::{
    Actor, EntryFilter, EntryRecord, Error, Hash, Journal, Result, Signer, StoredCheckpoint,
    StoredLeaf,
};
use postgres::GenericClient;

use crate::PgStore;
use crate::conn::{Q, W};

/// A 32-byte value from a `bytea` column.
pub(crate) fn hash32(v: &[u8]) -> Result<Hash> {
    v.try_into().map_err(|_| Error::Corrupt {
        hash: hex::encode(v),
        reason: "a stored hash is not 32 bytes".into(),
    })
}

/// Tree nodes read through a transaction (or a plain connection).
struct DbNodes<'a, C: GenericClient>(RefCell<&'a mut C>);

impl<C: GenericClient> Nodes for DbNodes<'_, C> {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        let pos = merkle::tree_position(level, index)?;
        let row = self
            .0
            .borrow_mut()
            .query_opt("SELECT hash FROM journal_tree WHERE pos = $1", &[&pos])
            .ok()??;
        row.get::<_, &[u8]>(0).try_into().ok()
    }
}

fn size(c: &mut impl GenericClient) -> Result<u64> {
    let n: i64 = c
        .query_one("SELECT COALESCE(MAX(idx) + 1, 0) FROM journal", &[])
        .q()?
        .get(0);
    Ok(n as u64)
}

/// A mailbox entry by name and number, as a leaf records it.
pub(crate) struct Entry {
    pub account: String,
    pub mailbox: String,
    pub mailbox_id: i64,
    pub uid: u32,
}

impl W<'_, '_> {
    /// An event by `actor`, now, about `account`: the fields every leaf has.
    fn event(&self, actor: &Actor, kind: Kind, account: String, detail: &str) -> Event {
        Event {
            kind: Some(kind),
            time: self.now,
            actor_kind: Some(actor.kind),
            actor: actor.name.clone(),
            origin: actor.origin.clone(),
            account,
            detail: detail.to_owned(),
            ..Event::default()
        }
    }

    /// Appends one leaf and the nodes it completes; returns its index.
    pub(crate) fn append_leaf(&mut self, ev: &Event) -> Result<u64> {
        let idx = size(self.tx)?;
        let leaf = ev.encode();
        self.tx
            .execute(
                "INSERT INTO journal (idx, leaf, kind, time, mailbox_id, uid)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &(idx as i64),
                    &leaf,
                    &ev.kind.map_or(0, |k| k as i16),
                    &ev.time,
                    &(ev.mailbox_id != 0).then_some(ev.mailbox_id),
                    &(ev.uid != 0).then_some(i64::from(ev.uid)),
                ],
            )
            .q()?;
        let added = merkle::appended(
            &DbNodes(RefCell::new(&mut *self.tx)),
            idx,
            merkle::leaf_hash(&leaf),
        )
        .map_err(|e| Error::Corrupt {
            hash: format!("journal leaf {idx}"),
            reason: format!("cannot extend the tree: {e:?}"),
        })?;
        let st = self
            .tx
            .prepare("INSERT INTO journal_tree (pos, hash) VALUES ($1, $2)")
            .q()?;
        for (pos, h) in added {
            self.tx.execute(&st, &[&pos, &&h[..]]).q()?;
        }
        Ok(idx)
    }

    /// The message's secret, created on first use.
    fn secret(&mut self, blob: &Hash) -> Result<[u8; 32]> {
        let found = self
            .tx
            .query_opt("SELECT secret FROM blobs WHERE hash = $1", &[&&blob[..]])
            .q()?
            .and_then(|r| r.get::<_, Option<Vec<u8>>>(0))
            .and_then(|s| <[u8; 32]>::try_from(s).ok());
        if let Some(s) = found {
            return Ok(s);
        }
        let s: [u8; 32] = rand::random();
        self.tx
            .execute(
                "UPDATE blobs SET secret = $2 WHERE hash = $1",
                &[&&blob[..], &&s[..]],
            )
            .q()?;
        Ok(s)
    }

    /// Journals an event about one mailbox entry whose names the caller has.
    pub(crate) fn record_entry(
        &mut self,
        actor: &Actor,
        kind: Kind,
        entry: Entry,
        blob: &Hash,
        envelope: Option<(&str, &[String])>,
        detail: &str,
    ) -> Result<u64> {
        let secret = self.secret(blob)?;
        let (mail_from, recipients) = envelope.map_or((String::new(), Vec::new()), |(f, r)| {
            (f.to_owned(), r.to_vec())
        });
        let ev = Event {
            mailbox: entry.mailbox,
            mailbox_id: entry.mailbox_id,
            uid: entry.uid,
            mail_from,
            recipients,
            commitment: Some(mailkeep_journal::leaf::commitment(&secret, blob)),
            ..self.event(actor, kind, entry.account, detail)
        };
        self.append_leaf(&ev)
    }

    /// Journals an event about one mailbox entry.
    pub(crate) fn record_message(
        &mut self,
        actor: &Actor,
        kind: Kind,
        mailbox_id: i64,
        uid: u32,
        blob: &Hash,
        detail: &str,
    ) -> Result<u64> {
        let r = self
            .tx
            .query_one(
                "SELECT (SELECT address FROM accounts WHERE id = b.account_id), b.name
                 FROM mailboxes AS b WHERE b.id = $1",
                &[&mailbox_id],
            )
            .q()?;
        let entry = Entry {
            account: r.get(0),
            mailbox: r.get(1),
            mailbox_id,
            uid,
        };
        self.record_entry(actor, kind, entry, blob, None, detail)
    }

    /// Journals an event about a message that is not in a mailbox (submitted, sent, bounced).
    pub(crate) fn record_transfer(
        &mut self,
        actor: &Actor,
        kind: Kind,
        account: &str,
        blob: &Hash,
        envelope: (&str, &[String]),
        detail: &str,
    ) -> Result<u64> {
        let secret = self.secret(blob)?;
        let ev = Event {
            mail_from: envelope.0.to_owned(),
            recipients: envelope.1.to_vec(),
            commitment: Some(mailkeep_journal::leaf::commitment(&secret, blob)),
            ..self.event(actor, kind, account.to_owned(), detail)
        };
        self.append_leaf(&ev)
    }

    /// Journals an event without a message (accounts, domains, holds, audit).
    pub(crate) fn record_event(
        &mut self,
        actor: &Actor,
        kind: Kind,
        account: &str,
        detail: &str,
    ) -> Result<u64> {
        let ev = self.event(actor, kind, account.to_owned(), detail);
        self.append_leaf(&ev)
    }
}

fn tree_error(e: merkle::TreeError) -> Error {
    Error::NotFound(format!("journal tree: {e:?}"))
}

impl Journal for PgStore {
    fn journal_size(&self) -> Result<u64> {
        self.reads().with(size)
    }

    fn journal_root(&self, n: u64) -> Result<Hash> {
        self.reads()
            .snapshot(move |tx| merkle::root(&DbNodes(RefCell::new(tx)), n).map_err(tree_error))
    }

    fn journal_inclusion(&self, idx: u64, n: u64) -> Result<Vec<Hash>> {
        self.reads().snapshot(move |tx| {
            merkle::inclusion_proof(&DbNodes(RefCell::new(tx)), idx, n).map_err(tree_error)
        })
    }

    fn journal_leaves(&self, from: u64, to: u64) -> Result<Vec<StoredLeaf>> {
        if from >= to {
            return Ok(Vec::new());
        }
        let (from, to) = (
            from.min(i64::MAX as u64) as i64,
            to.min(i64::MAX as u64) as i64,
        );
        let first = merkle::tree_position(0, from as u64).unwrap_or(i64::MAX);
        let last = merkle::tree_position(0, to as u64 - 1).unwrap_or(i64::MAX);
        self.reads().snapshot(move |tx| {
            let leaves = tx
                .query(
                    "SELECT idx, leaf FROM journal WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                    &[&from, &to],
                )
                .q()?;
            // The position range holds the inner nodes between these leaves too; both lists
            // ascend, so one pass pairs each leaf with its own row.
            let nodes: HashMap<i64, Vec<u8>> = tx
                .query(
                    "SELECT pos, hash FROM journal_tree WHERE pos >= $1 AND pos <= $2",
                    &[&first, &last],
                )
                .q()?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            Ok(leaves
                .iter()
                .map(|r| {
                    let idx = r.get::<_, i64>(0) as u64;
                    let node = merkle::tree_position(0, idx)
                        .and_then(|p| nodes.get(&p))
                        .and_then(|h| h.as_slice().try_into().ok());
                    StoredLeaf {
                        idx,
                        leaf: r.get(1),
                        node,
                    }
                })
                .collect())
        })
    }

    fn journal_leaves_of(&self, mailbox_id: i64, uid: u32) -> Result<Vec<u64>> {
        self.reads().with(move |c| {
            let rows = c
                .query(
                    "SELECT idx FROM journal WHERE mailbox_id = $1 AND uid = $2 ORDER BY idx",
                    &[&mailbox_id, &i64::from(uid)],
                )
                .q()?;
            Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
        })
    }

    fn message_secret(&self, blob: &Hash) -> Result<Option<[u8; 32]>> {
        let blob = *blob;
        self.reads().with(move |c| {
            Ok(
                c.query_opt("SELECT secret FROM blobs WHERE hash = $1", &[&&blob[..]])
                    .q()?
                    .and_then(|r| r.get::<_, Option<Vec<u8>>>(0))
                    .and_then(|v| v.try_into().ok()),
            )
        })
    }

    fn for_each_live_blob(&self, f: &mut dyn FnMut(Hash, Option<[u8; 32]>)) -> Result<()> {
        // Row by row through a cursor, so that `journal verify` stays bounded.
        let mut after: Vec<u8> = Vec::new();
        loop {
            let from = after.clone();
            let chunk: Vec<(Vec<u8>, Option<Vec<u8>>)> = self.reads().with(move |c| {
                Ok(c.query(
                    "SELECT hash, secret FROM blobs WHERE purged_at IS NULL AND hash > $1
                     ORDER BY hash LIMIT 4096",
                    &[&from],
                )
                .q()?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
            })?;
            let Some(last) = chunk.last() else { break };
            after = last.0.clone();
            for (h, s) in chunk {
                f(hash32(&h)?, s.and_then(|v| v.try_into().ok()));
            }
        }
        Ok(())
    }

    fn checkpoint(&self, force: bool, sign: Signer) -> Result<Option<StoredCheckpoint>> {
        self.writer().write(move |w| {
            let n = size(w.tx)?;
            let last: Option<i64> =
                w.tx.query_one("SELECT MAX(size) FROM checkpoints", &[])
                    .q()?
                    .get(0);
            if !force && last.is_some_and(|l| l as u64 == n) {
                return Ok(None);
            }
            let root = merkle::root(&DbNodes(RefCell::new(&mut *w.tx)), n).map_err(|e| {
                Error::Corrupt {
                    hash: "journal".into(),
                    reason: format!("cannot compute the tree head: {e:?}"),
                }
            })?;
            let time = w.now;
            let note = sign(n, root, time);
            w.tx.execute(
                "INSERT INTO checkpoints (size, root, time, note) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (size) DO UPDATE SET root = $2, time = $3, note = $4",
                &[&(n as i64), &&root[..], &time, &note],
            )
            .q()?;
            Ok(Some(StoredCheckpoint {
                size: n,
                root,
                time,
                note,
            }))
        })
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        self.reads().with(|c| {
            let rows = c
                .query(
                    "SELECT size, root, time, note FROM checkpoints ORDER BY size",
                    &[],
                )
                .q()?;
            Ok(rows
                .iter()
                .map(|r| StoredCheckpoint {
                    size: r.get::<_, i64>(0) as u64,
                    root: r.get::<_, &[u8]>(1).try_into().unwrap_or([0; 32]),
                    time: r.get(2),
                    note: r.get(3),
                })
                .collect())
        })
    }

    fn all_entries(&self) -> Result<Vec<EntryRecord>> {
        self.entries(&EntryFilter::default())
    }

    fn entries(&self, filter: &EntryFilter) -> Result<Vec<EntryRecord>> {
        let filter = filter.clone();
        self.reads().snapshot(move |tx| {
            let names: HashMap<i64, (String, String)> = tx
                .query(
                    "SELECT b.id, a.address, b.name FROM mailboxes b
                     JOIN accounts a ON a.id = b.account_id",
                    &[],
                )
                .q()?
                .iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2))))
                .collect();
            let admitted = |id: i64| {
                names.get(&id).is_some_and(|(account, mailbox)| {
                    filter
                        .account
                        .as_ref()
                        .is_none_or(|a| account.eq_ignore_ascii_case(a))
                        && filter.mailbox.as_ref().is_none_or(|m| m == mailbox)
                })
            };
            let mut ids: Vec<i64> = names.keys().copied().filter(|&id| admitted(id)).collect();
            ids.sort_unstable();
            let blobs: Option<Vec<Vec<u8>>> = filter
                .blobs
                .as_ref()
                .map(|b| b.iter().map(|h| h.to_vec()).collect());
            // Time, state and body filters run in the database, over the admitted mailboxes.
            let rows = tx
                .query(
                    "SELECT mailbox_id, uid, blob_hash, expunged_at, internal_date, size
                     FROM messages
                     WHERE mailbox_id = ANY($1)
                       AND ($2::bigint IS NULL OR internal_date >= $2)
                       AND ($3::bigint IS NULL OR internal_date < $3)
                       AND ($4::boolean IS NULL OR (expunged_at IS NOT NULL) = $4)
                       AND ($5::bytea[] IS NULL OR blob_hash = ANY($5))
                     ORDER BY mailbox_id, uid",
                    &[&ids, &filter.since, &filter.before, &filter.deleted, &blobs],
                )
                .q()?;
            rows.iter()
                .map(|r| {
                    let mailbox_id: i64 = r.get(0);
                    let (account, mailbox) = names.get(&mailbox_id).cloned().unwrap_or_default();
                    Ok(EntryRecord {
                        mailbox_id,
                        account,
                        mailbox,
                        uid: r.get::<_, i64>(1) as u32,
                        blob: hash32(r.get(2))?,
                        expunged_at: r.get(3),
                        internal_date: r.get(4),
                        size: r.get::<_, i64>(5) as u64,
                    })
                })
                .collect()
        })
    }

    fn entry_events(&self, mailbox_id: i64, uid: u32) -> Result<Vec<(u64, Event)>> {
        self.reads().with(move |c| {
            let rows = c
                .query(
                    "SELECT idx, leaf FROM journal WHERE mailbox_id = $1 AND uid = $2 ORDER BY idx",
                    &[&mailbox_id, &i64::from(uid)],
                )
                .q()?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    Event::decode(r.get::<_, &[u8]>(1)).map(|e| (r.get::<_, i64>(0) as u64, e))
                })
                .collect())
        })
    }

    fn audit(&self, account: &str, detail: &str) -> Result<()> {
        let actor = self.actor.clone();
        // What a client typed as a user name is stored, bounded.
        let account: String = account.chars().take(256).collect();
        let detail = detail.to_owned();
        self.writer().write(move |w| {
            w.record_event(&actor, Kind::Audit, &account, &detail)?;
            Ok(())
        })
    }

    fn journal_events(&self) -> Result<Vec<(u64, Event)>> {
        let n = self.journal_size()?;
        Ok(self
            .journal_leaves(0, n)?
            .into_iter()
            .filter_map(|l| Event::decode(&l.leaf).map(|e| (l.idx, e)))
            .collect())
    }

    fn last_event_of(&self, kind: Kind) -> Result<Option<Event>> {
        self.reads().with(move |c| {
            Ok(c.query_opt(
                "SELECT leaf FROM journal WHERE kind = $1 ORDER BY idx DESC LIMIT 1",
                &[&(kind as i16)],
            )
            .q()?
            .and_then(|r| Event::decode(r.get::<_, &[u8]>(0))))
        })
    }

    fn note_retention(&self, policy: &str) -> Result<bool> {
        if self
            .last_event_of(Kind::RetentionChanged)?
            .is_some_and(|e| e.detail == policy)
        {
            return Ok(false);
        }
        let actor = self.actor.clone();
        let policy = policy.to_owned();
        self.writer().write(move |w| {
            w.record_event(&actor, Kind::RetentionChanged, "", &policy)?;
            Ok(true)
        })
    }
}
