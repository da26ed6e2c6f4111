//! Mailbox operations for IMAP: create, delete, rename, subscribe, flags, expunge, append,
//! copy and move. Like every write, each returns only once it is durable.
//!
//! Nothing here destroys message bytes: DELETE and EXPUNGE take messages out of the mailbox
//! view (`expunged_at`, with a new modseq so that CONDSTORE/QRESYNC clients learn of it), and
//! the bodies stay until retention decides otherwise (DESIGN §3).

use crate::ops::MAILBOX_COLS;
use crate::ops::mailbox_row;
use crate::ops::message_entry;
use mailkeep_store_api::Done;
use mailkeep_store_api::prelude::*;
use rusqlite::{Connection, OptionalExtension, params};

use crate::change_ops::{self, What};
use crate::journal_ops::record_message;
use crate::model::*;
use crate::ops::{exec, row};
use crate::{Error, Result, Store};
use mailkeep_journal::Kind;
use mailkeep_store_api::flags::{normalise, split as split_flags};

fn live_mailbox_id(c: &Connection, account_id: i64, name: &str) -> Result<i64> {
    row(
        c,
        "SELECT id FROM mailboxes WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL",
        params![account_id, name],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no mailbox {name}")))
}

fn exists(c: &Connection, account_id: i64, name: &str) -> Result<bool> {
    Ok(row(
        c,
        "SELECT EXISTS(SELECT 1 FROM mailboxes
                       WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL)",
        params![account_id, name],
        |r| r.get(0),
    )?)
}

/// Takes the next UID and modseq of a mailbox.
fn next_uid(c: &Connection, mailbox_id: i64) -> Result<(u32, u64)> {
    Ok(row(
        c,
        "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
         WHERE id = ?1 RETURNING uidnext - 1, highestmodseq",
        [mailbox_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

fn next_modseq(c: &Connection, mailbox_id: i64) -> Result<u64> {
    Ok(row(
        c,
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1
         RETURNING highestmodseq",
        [mailbox_id],
        |r| r.get(0),
    )?)
}

fn uidvalidity(c: &Connection, mailbox_id: i64) -> Result<u32> {
    Ok(row(
        c,
        "SELECT uidvalidity FROM mailboxes WHERE id = ?1",
        [mailbox_id],
        |r| r.get(0),
    )?)
}

/// Enters a stored body in a mailbox under the next UID; returns the UID.
fn insert_message(
    c: &Connection,
    actor: &Actor,
    mailbox_id: i64,
    flags: &str,
    hash: &crate::Hash,
    size: u64,
    internal_date: i64,
) -> Result<u32> {
    let (uid, modseq) = next_uid(c, mailbox_id)?;
    exec(
        c,
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, blob_hash, size, internal_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            mailbox_id,
            uid,
            modseq,
            flags,
            &hash[..],
            size,
            internal_date
        ],
    )?;
    record_message(c, actor, Kind::Appended, mailbox_id, uid, hash, None, "")?;
    change_ops::message(What::Added, mailbox_id, uid, modseq);
    Ok(uid)
}

fn insert_mailbox(c: &Connection, account_id: i64, name: &str, uidvalidity: u32) -> Result<()> {
    exec(
        c,
        "INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES (?1, ?2, ?3)",
        params![account_id, name, uidvalidity],
    )?;
    change_ops::mailbox(What::MailboxCreated, c.last_insert_rowid(), name, "");
    Ok(())
}

/// Marks live messages expunged; returns their UIDs.
fn expunge_where(
    c: &Connection,
    actor: &Actor,
    mailbox_id: i64,
    uids: &[u32],
    now: i64,
) -> Result<Vec<u32>> {
    let mut done = Vec::with_capacity(uids.len());
    for &uid in uids {
        let modseq = next_modseq(c, mailbox_id)?;
        let blob: Option<Vec<u8>> = row(
            c,
            "UPDATE messages SET expunged_at = ?1, modseq = ?2
             WHERE mailbox_id = ?3 AND uid = ?4 AND expunged_at IS NULL RETURNING blob_hash",
            params![now, modseq, mailbox_id, uid],
            |r| r.get(0),
        )
        .optional()?;
        if let Some(blob) = blob {
            let blob = crate::ops::hash_from(blob)?;
            record_message(c, actor, Kind::Expunged, mailbox_id, uid, &blob, None, "")?;
            change_ops::message(What::Expunged, mailbox_id, uid, modseq);
            done.push(uid);
        }
    }
    Ok(done)
}

fn live_uids(c: &Connection, mailbox_id: i64) -> Result<Vec<u32>> {
    let mut st = c.prepare_cached(
        "SELECT uid FROM messages WHERE mailbox_id = ?1 AND expunged_at IS NULL ORDER BY uid",
    )?;
    let uids = st
        .query_map([mailbox_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(uids)
}

/// Copies live messages (by UID, ascending) into `to`; returns the UID pairs.
fn copy_into(
    c: &Connection,
    actor: &Actor,
    kind: Kind,
    from: i64,
    uids: &[u32],
    to: i64,
) -> Result<Vec<(u32, u32)>> {
    let mut pairs = Vec::with_capacity(uids.len());
    for &uid in uids {
        let src: Option<(String, Vec<u8>, u64, i64)> = row(
            c,
            "SELECT flags, blob_hash, size, internal_date FROM messages
             WHERE mailbox_id = ?1 AND uid = ?2 AND expunged_at IS NULL",
            params![from, uid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
        let Some((flags, hash, size, date)) = src else {
            continue;
        };
        let (new_uid, modseq) = next_uid(c, to)?;
        exec(
            c,
            "INSERT INTO messages (mailbox_id, uid, modseq, flags, blob_hash, size, internal_date)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![to, new_uid, modseq, flags, hash, size, date],
        )?;
        let blob = crate::ops::hash_from(hash)?;
        let detail = format!("from mailbox {from} uid {uid}");
        record_message(c, actor, kind, to, new_uid, &blob, None, &detail)?;
        change_ops::message(What::Added, to, new_uid, modseq);
        pairs.push((uid, new_uid));
    }
    Ok(pairs)
}

impl Mailboxes for Store {
    /// Creates a mailbox and any missing parents (`a/b/c` creates `a` and `a/b`).
    /// `Conflict` if it exists.
    fn create_mailbox(&self, account_id: i64, name: &str, uidvalidity: u32) -> Result<()> {
        let name = name.to_owned();
        self.write(None, move |c, _| {
            if exists(c, account_id, &name)? {
                return Err(Error::Conflict(format!("mailbox {name} already exists")));
            }
            let mut prefix = String::new();
            for part in name.split('/') {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                if !exists(c, account_id, &prefix)? {
                    insert_mailbox(c, account_id, &prefix, uidvalidity)?;
                }
            }
            Ok(())
        })
    }

    /// Deletes a mailbox: its messages leave the view (kept in the store), its name becomes
    /// free. INBOX cannot be deleted.
    fn delete_mailbox(&self, account_id: i64, name: &str, now: i64) -> Result<()> {
        let actor = self.actor.clone();
        let name = name.to_owned();
        self.write(None, move |c, _| {
            if name == "INBOX" {
                return Err(Error::Conflict("INBOX cannot be deleted".into()));
            }
            let id = live_mailbox_id(c, account_id, &name)?;
            let uids = live_uids(c, id)?;
            expunge_where(c, &actor, id, &uids, now)?;
            exec(
                c,
                "UPDATE mailboxes SET deleted_at = ?1 WHERE id = ?2",
                params![now, id],
            )?;
            change_ops::mailbox(What::MailboxDeleted, id, &name, "");
            Ok(())
        })
    }

    /// Renames a mailbox and its children. Renaming INBOX moves its messages into a new
    /// mailbox `to` and leaves INBOX empty (RFC 9051 §6.3.6).
    fn rename_mailbox(
        &self,
        account_id: i64,
        from: &str,
        to: &str,
        uidvalidity: u32,
        now: i64,
    ) -> Result<()> {
        let actor = self.actor.clone();
        let (from, to) = (from.to_owned(), to.to_owned());
        self.write(None, move |c, _| {
            let id = live_mailbox_id(c, account_id, &from)?;
            if exists(c, account_id, &to)? {
                return Err(Error::Conflict(format!("mailbox {to} already exists")));
            }
            if from == "INBOX" {
                insert_mailbox(c, account_id, &to, uidvalidity)?;
                let target = live_mailbox_id(c, account_id, &to)?;
                let uids = live_uids(c, id)?;
                copy_into(c, &actor, Kind::Moved, id, &uids, target)?;
                expunge_where(c, &actor, id, &uids, now)?;
                return Ok(());
            }
            // Children first would collide with nothing: names under `to/` are free since
            // `to` itself is.
            let mut st = c.prepare_cached(
                "SELECT id, name FROM mailboxes
                 WHERE account_id = ?1 AND deleted_at IS NULL AND substr(name, 1, ?2) = ?3",
            )?;
            let child_prefix = format!("{from}/");
            let children: Vec<(i64, String)> = st
                .query_map(
                    params![account_id, child_prefix.len() as i64, child_prefix],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            exec(
                c,
                "UPDATE mailboxes SET name = ?1 WHERE id = ?2",
                params![to, id],
            )?;
            change_ops::mailbox(What::MailboxRenamed, id, &to, &from);
            for (cid, cname) in children {
                let renamed = format!("{to}/{}", &cname[child_prefix.len()..]);
                exec(
                    c,
                    "UPDATE mailboxes SET name = ?1 WHERE id = ?2",
                    params![renamed, cid],
                )?;
                change_ops::mailbox(What::MailboxRenamed, cid, &renamed, &cname);
            }
            Ok(())
        })
    }

    /// SUBSCRIBE / UNSUBSCRIBE.
    fn set_subscribed(&self, account_id: i64, name: &str, subscribed: bool) -> Result<()> {
        let name = name.to_owned();
        self.write(None, move |c, _| {
            let id = live_mailbox_id(c, account_id, &name)?;
            exec(
                c,
                "UPDATE mailboxes SET subscribed = ?1 WHERE id = ?2",
                params![subscribed, id],
            )?;
            Ok(())
        })
    }

    /// STORE: changes flags of live messages. With `unchanged_since`, messages modified
    /// after it are left alone and returned as the second list (CONDSTORE `[MODIFIED]`).
    fn store_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        mode: FlagMode,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<FlagChange>, Vec<u32>)> {
        let flags = normalise(&flags);
        self.write(None, move |c, _| {
            let mut changed = Vec::new();
            let mut modified = Vec::new();
            for &uid in &uids {
                let cur: Option<(String, u64)> = row(
                    c,
                    "SELECT flags, modseq FROM messages
                     WHERE mailbox_id = ?1 AND uid = ?2 AND expunged_at IS NULL",
                    params![mailbox_id, uid],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
                let Some((cur, modseq)) = cur else { continue };
                if unchanged_since.is_some_and(|since| modseq > since) {
                    modified.push(uid);
                    continue;
                }
                let Some(new) = mode.apply(&split_flags(&cur), &flags) else {
                    continue;
                };
                let modseq = next_modseq(c, mailbox_id)?;
                exec(
                    c,
                    "UPDATE messages SET flags = ?1, modseq = ?2 WHERE mailbox_id = ?3 AND uid = ?4",
                    params![new.join(" "), modseq, mailbox_id, uid],
                )?;
                change_ops::message(What::Flags, mailbox_id, uid, modseq);
                changed.push(FlagChange {
                    uid,
                    modseq,
                    flags: new,
                });
            }
            Ok((changed, modified))
        })
    }

    /// EXPUNGE: removes the live messages flagged `\Deleted` (only those in `only`, if
    /// given) from the view. Returns their UIDs, ascending.
    fn expunge(&self, mailbox_id: i64, only: Option<Vec<u32>>, now: i64) -> Result<Vec<u32>> {
        let actor = self.actor.clone();
        self.write(None, move |c, _| {
            let mut st = c.prepare_cached(
                "SELECT uid, flags FROM messages
                 WHERE mailbox_id = ?1 AND expunged_at IS NULL ORDER BY uid",
            )?;
            let deleted: Vec<u32> = st
                .query_map([mailbox_id], |r| {
                    Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter(|(_, f)| {
                    f.split_ascii_whitespace()
                        .any(|x| x.eq_ignore_ascii_case("\\Deleted"))
                })
                .map(|(u, _)| u)
                .filter(|u| only.as_ref().is_none_or(|o| o.contains(u)))
                .collect();
            expunge_where(c, &actor, mailbox_id, &deleted, now)
        })
    }

    /// APPEND: stores a message in a mailbox of the account.
    fn append(
        &self,
        account_id: i64,
        mailbox: &str,
        bytes: Vec<u8>,
        flags: Vec<String>,
        internal_date: i64,
    ) -> Result<Copied> {
        let actor = self.actor.clone();
        let size = bytes.len() as u64;
        let mailbox = mailbox.to_owned();
        let flags = normalise(&flags).join(" ");
        self.write(Some(bytes), move |c, hash| {
            let hash = hash.ok_or(Error::Closed)?;
            let id = live_mailbox_id(c, account_id, &mailbox)?;
            let uid = insert_message(c, &actor, id, &flags, hash, size, internal_date)?;
            Ok(Copied {
                uidvalidity: uidvalidity(c, id)?,
                uids: vec![(0, uid)],
                mailbox_id: id,
            })
        })
    }

    /// APPEND for importers: does nothing (gives `None`) when the mailbox already holds a
    /// live message with exactly these bytes, so that re-running an import adds nothing.
    /// Does not block: `done` gets the outcome once durable. Writes submitted one after the
    /// other from one thread commit in that order, so UIDs follow the source's order.
    fn append_if_absent_then(
        &self,
        account_id: i64,
        mailbox: &str,
        bytes: Vec<u8>,
        flags: Vec<String>,
        internal_date: i64,
        done: Done<Option<u32>>,
    ) {
        let actor = self.actor.clone();
        let size = bytes.len() as u64;
        let mailbox = mailbox.to_owned();
        let flags = normalise(&flags).join(" ");
        let work = move |c: &Connection, hash: Option<&crate::Hash>| {
            let hash = hash.ok_or(Error::Closed)?;
            let id = live_mailbox_id(c, account_id, &mailbox)?;
            let present: bool = row(
                c,
                "SELECT EXISTS(SELECT 1 FROM messages
                 WHERE mailbox_id = ?1 AND blob_hash = ?2 AND expunged_at IS NULL)",
                params![id, &hash[..]],
                |r| r.get(0),
            )?;
            if present {
                return Ok(None);
            }
            Ok(Some(insert_message(
                c,
                &actor,
                id,
                &flags,
                hash,
                size,
                internal_date,
            )?))
        };
        self.submit(Some(bytes), work, done);
    }

    /// COPY, or MOVE (`expunge_source`), of live messages into another mailbox of the same
    /// account, in one transaction.
    fn copy_messages(
        &self,
        account_id: i64,
        from_mailbox_id: i64,
        uids: Vec<u32>,
        to: &str,
        expunge_source: bool,
        now: i64,
    ) -> Result<Copied> {
        let actor = self.actor.clone();
        let to = to.to_owned();
        self.write(None, move |c, _| {
            let target = live_mailbox_id(c, account_id, &to)?;
            let owner: i64 = row(
                c,
                "SELECT account_id FROM mailboxes WHERE id = ?1",
                [from_mailbox_id],
                |r| r.get(0),
            )?;
            if owner != account_id {
                return Err(Error::NotFound("no such source mailbox".into()));
            }
            let kind = if expunge_source {
                Kind::Moved
            } else {
                Kind::Copied
            };
            let pairs = copy_into(c, &actor, kind, from_mailbox_id, &uids, target)?;
            if expunge_source {
                let moved: Vec<u32> = pairs.iter().map(|(s, _)| *s).collect();
                expunge_where(c, &actor, from_mailbox_id, &moved, now)?;
            }
            Ok(Copied {
                uidvalidity: uidvalidity(c, target)?,
                uids: pairs,
                mailbox_id: target,
            })
        })
    }

    /// Bytes of live messages in the account's live mailboxes (IMAP QUOTA STORAGE).
    fn account_usage(&self, account_id: i64) -> Result<u64> {
        crate::failing_reads::check("usage")?;
        self.read(|c| {
            Ok(row(
                c,
                "SELECT COALESCE(SUM(m.size), 0) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
                 WHERE b.account_id = ?1 AND b.deleted_at IS NULL AND m.expunged_at IS NULL",
                [account_id],
                |r| r.get(0),
            )?)
        })
    }

    /// Messages of a mailbox expunged after `modseq`, by UID (QRESYNC VANISHED).
    fn expunged_since(&self, mailbox_id: i64, modseq: u64) -> Result<Vec<u32>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT uid FROM messages WHERE mailbox_id = ?1 AND expunged_at IS NOT NULL
                 AND modseq > ?2 ORDER BY uid",
            )?;
            let uids = st
                .query_map(params![mailbox_id, modseq], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(uids)
        })
    }

    /// IMAP4rev1 `\Recent`: makes the UIDs up to `upto` non-recent for every later session
    /// and returns the previous mark, so the caller's session alone sees UIDs above it as
    /// recent (RFC 3501 §2.3.2).
    fn claim_recent(&self, mailbox_id: i64, upto: u32) -> Result<u32> {
        self.write(None, move |c, _| {
            let old: u32 = row(
                c,
                "SELECT recent_uid FROM mailboxes WHERE id = ?1",
                [mailbox_id],
                |r| r.get(0),
            )?;
            if upto > old {
                exec(
                    c,
                    "UPDATE mailboxes SET recent_uid = ?2 WHERE id = ?1",
                    params![mailbox_id, upto],
                )?;
            }
            Ok(old)
        })
    }

    /// The `\Recent` mark without claiming (EXAMINE, STATUS).
    fn recent_mark(&self, mailbox_id: i64) -> Result<u32> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT recent_uid FROM mailboxes WHERE id = ?1",
                [mailbox_id],
                |r| r.get(0),
            )?)
        })
    }

    // ---- mailboxes and messages ----

    /// An account's mailboxes, by name.
    fn mailboxes(&self, account_id: i64) -> Result<Vec<Mailbox>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {MAILBOX_COLS} FROM mailboxes WHERE account_id = ?1 AND deleted_at IS NULL ORDER BY name"
            ))?;
            let rows = st.query_map([account_id], mailbox_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// One mailbox of an account by exact name.
    fn mailbox(&self, account_id: i64, name: &str) -> Result<Option<Mailbox>> {
        self.read(|c| {
            Ok(row(
                c,
                &format!(
                    "SELECT {MAILBOX_COLS} FROM mailboxes WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL"
                ),
                params![account_id, name],
                mailbox_row,
            )
            .optional()?)
        })
    }

    /// What changed in a mailbox after mod-sequence `since`: its highest mod-sequence now,
    /// live messages changed or added (by UID) and messages expunged (UIDs, ascending). With
    /// nothing new this is one primary-key read, so an IMAP NOOP costs the same on a mailbox
    /// of ten messages or a million.
    fn mailbox_changes(&self, mailbox_id: i64, since: u64) -> Result<MailboxChanges> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let highestmodseq: u64 = row(
                &tx,
                "SELECT highestmodseq FROM mailboxes WHERE id = ?1",
                [mailbox_id],
                |r| r.get(0),
            )?;
            let mut changes = MailboxChanges {
                highestmodseq,
                changed: Vec::new(),
                expunged: Vec::new(),
            };
            if highestmodseq <= since {
                return Ok(changes);
            }
            let mut st = tx.prepare_cached(
                "SELECT uid, modseq, flags, blob_hash, size, internal_date, expunged_at
                 FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
            )?;
            let mut rows = st.query(params![mailbox_id, since])?;
            while let Some(r) = rows.next()? {
                if r.get::<_, Option<i64>>(6)?.is_some() {
                    changes.expunged.push(r.get(0)?);
                    continue;
                }
                changes.changed.push(message_entry(r)?);
            }
            Ok(changes)
        })
    }

    /// The live (not expunged) messages of a mailbox, by UID.
    fn messages(&self, mailbox_id: i64) -> Result<Vec<MessageEntry>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT uid, modseq, flags, blob_hash, size, internal_date FROM messages
                 WHERE mailbox_id = ?1 AND expunged_at IS NULL ORDER BY uid",
            )?;
            let rows = st.query_map([mailbox_id], message_entry)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Stores `bytes` once and enters it in each `(account_id, mailbox name)` target, in one
    /// durable transaction. Returns where each copy went, in target order.
    fn deliver(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        internal_date: i64,
        delivery_id: &str,
    ) -> Result<Vec<Placed>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.deliver_then(
            bytes,
            targets,
            internal_date,
            delivery_id,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// [`Mailboxes::deliver`] without blocking the caller: `done` gets the outcome once durable.
    fn deliver_then(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        internal_date: i64,
        delivery_id: &str,
        done: Done<Vec<Placed>>,
    ) {
        let envelope = (String::new(), Vec::new());
        self.accept_then(
            bytes,
            targets,
            None,
            envelope,
            internal_date,
            delivery_id,
            done,
        );
    }

    /// Adds flags to messages (e.g. `\Seen` after a non-peek FETCH) in one transaction;
    /// returns the new modseq of each message that changed. All of them get the same modseq:
    /// one change, one mod-sequence (RFC 7162 requires only that it be higher than before).
    fn add_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        flags: Vec<String>,
    ) -> Result<Vec<(u32, u64)>> {
        self.write(None, move |c, _| {
            let mut changed = Vec::new();
            let mut modseq = None;
            for &uid in &uids {
                let cur: Option<String> = c
                    .query_row(
                        "SELECT flags FROM messages WHERE mailbox_id = ?1 AND uid = ?2 AND expunged_at IS NULL",
                        params![mailbox_id, uid],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(cur) = cur else { continue };
                let Some(set) = FlagMode::Add.apply(&split_flags(&cur), &flags) else {
                    continue;
                };
                let modseq = match modseq {
                    Some(m) => m,
                    None => *modseq.insert(row(c,
                        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq",
                        [mailbox_id],
                        |r| r.get::<_, u64>(0),
                    )?),
                };
                exec(c,
                    "UPDATE messages SET flags = ?1, modseq = ?2 WHERE mailbox_id = ?3 AND uid = ?4",
                    params![set.join(" "), modseq, mailbox_id, uid],
                )?;
                change_ops::message(What::Flags, mailbox_id, uid, modseq);
                changed.push((uid, modseq));
            }
            Ok(changed)
        })
    }
}
