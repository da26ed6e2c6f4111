//! Mailboxes and the messages in them. UIDs and MODSEQs come from `UPDATE … RETURNING` on the
//! mailbox row, which locks it until the commit: concurrent writers on any node get
//! distinct, ascending values. Nothing here destroys bytes: DELETE and EXPUNGE take messages
//! out of the view (`expunged_at`, with a new MODSEQ), retention decides about the bodies.

use std::collections::HashMap;

use mailkeep_journal::Kind;
use mailkeep_store_api::{
    Copied, Done, Error, FlagChange, FlagMode, Hash, Mailbox, MailboxChanges, Mailboxes,
    MessageEntry, Placed, Result, Target,
};
use postgres::GenericClient;

use crate::PgStore;
use crate::bodies::{Staged, WRITE_DEADLINE};
use crate::changes::What;
use crate::conn::{Q, W};
use crate::journal::hash32;

pub(crate) const MAILBOX_COLS: &str =
    "id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq, subscribed";

pub(crate) fn mailbox_row(r: &postgres::Row) -> Mailbox {
    Mailbox {
        id: r.get(0),
        account_id: r.get(1),
        name: r.get(2),
        special_use: r.get(3),
        uidvalidity: r.get::<_, i64>(4) as u32,
        uidnext: r.get::<_, i64>(5) as u32,
        highestmodseq: r.get::<_, i64>(6) as u64,
        subscribed: r.get(7),
    }
}

use mailkeep_store_api::flags::{normalise, split as split_flags};

/// A [`MessageEntry`] from a `uid, modseq, flags, blob_hash, size, internal_date` row.
fn message_entry(r: &postgres::Row) -> Result<MessageEntry> {
    Ok(MessageEntry {
        uid: r.get::<_, i64>(0) as u32,
        modseq: r.get::<_, i64>(1) as u64,
        flags: split_flags(r.get(2)),
        hash: hash32(r.get(3))?,
        size: r.get::<_, i64>(4) as u64,
        internal_date: r.get(5),
    })
}

fn live_mailbox_id(c: &mut impl GenericClient, account_id: i64, name: &str) -> Result<i64> {
    c.query_opt(
        "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2 AND deleted_at IS NULL",
        &[&account_id, &name],
    )
    .q()?
    .map(|r| r.get(0))
    .ok_or_else(|| Error::NotFound(format!("no mailbox {name}")))
}

fn exists(c: &mut impl GenericClient, account_id: i64, name: &str) -> Result<bool> {
    Ok(c.query_one(
        "SELECT EXISTS(SELECT 1 FROM mailboxes
                       WHERE account_id = $1 AND name = $2 AND deleted_at IS NULL)",
        &[&account_id, &name],
    )
    .q()?
    .get(0))
}

fn uidvalidity(c: &mut impl GenericClient, mailbox_id: i64) -> Result<u32> {
    let v: i64 = c
        .query_one(
            "SELECT uidvalidity FROM mailboxes WHERE id = $1",
            &[&mailbox_id],
        )
        .q()?
        .get(0);
    Ok(v as u32)
}

fn live_uids(c: &mut impl GenericClient, mailbox_id: i64) -> Result<Vec<u32>> {
    Ok(c.query(
        "SELECT uid FROM messages WHERE mailbox_id = $1 AND expunged_at IS NULL ORDER BY uid",
        &[&mailbox_id],
    )
    .q()?
    .iter()
    .map(|r| r.get::<_, i64>(0) as u32)
    .collect())
}

impl W<'_, '_> {
    /// Takes the next UID and MODSEQ of a mailbox.
    fn next_uid(&mut self, mailbox_id: i64) -> Result<(u32, i64)> {
        let r = self
            .tx
            .query_one(
                "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
                 WHERE id = $1 RETURNING uidnext - 1, highestmodseq",
                &[&mailbox_id],
            )
            .q()?;
        Ok((r.get::<_, i64>(0) as u32, r.get(1)))
    }

    /// The flags and MODSEQ of those of `uids` that are live in the mailbox, in one query.
    fn current_flags(
        &mut self,
        mailbox_id: i64,
        uids: &[u32],
    ) -> Result<HashMap<u32, (String, u64)>> {
        let wanted: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
        Ok(self
            .tx
            .query(
                "SELECT uid, flags, modseq FROM messages
                 WHERE mailbox_id = $1 AND uid = ANY($2) AND expunged_at IS NULL",
                &[&mailbox_id, &wanted],
            )
            .q()?
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0) as u32,
                    (r.get(1), r.get::<_, i64>(2) as u64),
                )
            })
            .collect())
    }

    /// Raises the mailbox's MODSEQ by `n`; returns the new highest (the last of the `n`).
    /// Called only with something to change: a no-op STORE or \Seen must not write (or lock)
    /// the mailbox row.
    fn take_modseqs(&mut self, mailbox_id: i64, n: usize) -> Result<i64> {
        debug_assert!(n > 0);
        Ok(self
            .tx
            .query_one(
                "UPDATE mailboxes SET highestmodseq = highestmodseq + $2 WHERE id = $1
                 RETURNING highestmodseq",
                &[&mailbox_id, &(n as i64)],
            )
            .q()?
            .get(0))
    }

    /// Writes the new flags and MODSEQs of `changes` in one statement, and notes them.
    fn set_flags(&mut self, mailbox_id: i64, changes: &[FlagChange]) -> Result<()> {
        let uids: Vec<i64> = changes.iter().map(|c| i64::from(c.uid)).collect();
        let flags: Vec<String> = changes.iter().map(|c| c.flags.join(" ")).collect();
        let modseqs: Vec<i64> = changes.iter().map(|c| c.modseq as i64).collect();
        self.tx
            .execute(
                "UPDATE messages AS m SET flags = v.flags, modseq = v.modseq
                 FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS v(uid, flags, modseq)
                 WHERE m.mailbox_id = $1 AND m.uid = v.uid",
                &[&mailbox_id, &uids, &flags, &modseqs],
            )
            .q()?;
        for c in changes {
            self.note_message(What::Flags, mailbox_id, c.uid, c.modseq as i64);
        }
        Ok(())
    }

    fn next_modseq(&mut self, mailbox_id: i64) -> Result<i64> {
        Ok(self
            .tx
            .query_one(
                "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = $1
                 RETURNING highestmodseq",
                &[&mailbox_id],
            )
            .q()?
            .get(0))
    }

    /// Stores a body unless it is there already (content-addressed: one row per body).
    pub(crate) fn put_blob(&mut self, hash: &Hash, body: &Staged) -> Result<()> {
        let (data, key): (Option<&[u8]>, Option<&str>) = match body {
            Staged::Inline(bytes) => (Some(bytes), None),
            Staged::Object { key, at, .. } => {
                if at.elapsed() > WRITE_DEADLINE {
                    return Err(Error::io(
                        "committing a body stored in the object store",
                        std::io::Error::from(std::io::ErrorKind::TimedOut),
                    ));
                }
                (None, Some(key))
            }
        };
        self.tx
            .execute(
                "INSERT INTO blobs (hash, length, data, object_key) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (hash) DO NOTHING",
                &[&&hash[..], &(body.len() as i64), &data, &key],
            )
            .q()?;
        Ok(())
    }

    /// Enters a stored body in a mailbox under the next UID; returns the UID.
    #[allow(clippy::too_many_arguments)]
    fn insert_message(
        &mut self,
        actor: &mailkeep_store_api::Actor,
        mailbox_id: i64,
        flags: &str,
        hash: &Hash,
        size: u64,
        internal_date: i64,
    ) -> Result<u32> {
        let (uid, modseq) = self.next_uid(mailbox_id)?;
        self.tx
            .execute(
                "INSERT INTO messages (mailbox_id, uid, modseq, flags, blob_hash, size, internal_date)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &mailbox_id,
                    &i64::from(uid),
                    &modseq,
                    &flags,
                    &&hash[..],
                    &(size as i64),
                    &internal_date,
                ],
            )
            .q()?;
        self.record_message(actor, Kind::Appended, mailbox_id, uid, hash, "")?;
        self.note_message(What::Added, mailbox_id, uid, modseq);
        Ok(uid)
    }

    fn insert_mailbox(&mut self, account_id: i64, name: &str, uidvalidity: u32) -> Result<i64> {
        let id: i64 = self
            .tx
            .query_one(
                "INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES ($1, $2, $3)
                 RETURNING id",
                &[&account_id, &name, &i64::from(uidvalidity)],
            )
            .q()?
            .get(0);
        self.note_mailbox(What::MailboxCreated, id, name, "");
        Ok(id)
    }

    /// Marks live messages expunged; returns their UIDs.
    pub(crate) fn expunge_where(
        &mut self,
        actor: &mailkeep_store_api::Actor,
        mailbox_id: i64,
        uids: &[u32],
        now: i64,
    ) -> Result<Vec<u32>> {
        let mut done = Vec::with_capacity(uids.len());
        for &uid in uids {
            let modseq = self.next_modseq(mailbox_id)?;
            let blob = self
                .tx
                .query_opt(
                    "UPDATE messages SET expunged_at = $1, modseq = $2
                     WHERE mailbox_id = $3 AND uid = $4 AND expunged_at IS NULL
                     RETURNING blob_hash",
                    &[&now, &modseq, &mailbox_id, &i64::from(uid)],
                )
                .q()?;
            if let Some(r) = blob {
                let blob = hash32(r.get(0))?;
                self.record_message(actor, Kind::Expunged, mailbox_id, uid, &blob, "")?;
                self.note_message(What::Expunged, mailbox_id, uid, modseq);
                done.push(uid);
            }
        }
        Ok(done)
    }

    /// Copies live messages (by UID, ascending) into `to`; returns the UID pairs.
    fn copy_into(
        &mut self,
        actor: &mailkeep_store_api::Actor,
        kind: Kind,
        from: i64,
        uids: &[u32],
        to: i64,
    ) -> Result<Vec<(u32, u32)>> {
        let mut pairs = Vec::with_capacity(uids.len());
        for &uid in uids {
            let src = self
                .tx
                .query_opt(
                    "SELECT flags, blob_hash, size, internal_date FROM messages
                     WHERE mailbox_id = $1 AND uid = $2 AND expunged_at IS NULL",
                    &[&from, &i64::from(uid)],
                )
                .q()?;
            let Some(src) = src else { continue };
            let (flags, hash, size, date): (String, Vec<u8>, i64, i64) =
                (src.get(0), src.get(1), src.get(2), src.get(3));
            let (new_uid, modseq) = self.next_uid(to)?;
            self.tx
                .execute(
                    "INSERT INTO messages (mailbox_id, uid, modseq, flags, blob_hash, size, internal_date)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[&to, &i64::from(new_uid), &modseq, &flags, &hash, &size, &date],
                )
                .q()?;
            let blob = hash32(&hash)?;
            let detail = format!("from mailbox {from} uid {uid}");
            self.record_message(actor, kind, to, new_uid, &blob, &detail)?;
            self.note_message(What::Added, to, new_uid, modseq);
            pairs.push((uid, new_uid));
        }
        Ok(pairs)
    }

    /// Enters a stored body in each target: next UID, next MODSEQ, a delivery leaf each.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn place(
        &mut self,
        actor: &mailkeep_store_api::Actor,
        envelope: (&str, &[String]),
        targets: &[Target],
        hash: &Hash,
        size: u64,
        internal_date: i64,
        delivery_id: &str,
    ) -> Result<Vec<Placed>> {
        let mut placed = Vec::with_capacity(targets.len());
        for t in targets {
            let r = self
                .tx
                .query_opt(
                    "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
                     WHERE account_id = $1 AND name = $2 AND deleted_at IS NULL
                     RETURNING id, uidnext - 1, highestmodseq,
                               (SELECT address FROM accounts WHERE id = account_id)",
                    &[&t.account_id, &t.mailbox],
                )
                .q()?
                .ok_or_else(|| {
                    Error::NotFound(format!("mailbox {} of account {}", t.mailbox, t.account_id))
                })?;
            let (mailbox_id, uid, modseq, account): (i64, u32, i64, String) =
                (r.get(0), r.get::<_, i64>(1) as u32, r.get(2), r.get(3));
            self.tx
                .execute(
                    "INSERT INTO messages (mailbox_id, uid, modseq, flags, blob_hash, size,
                                           internal_date, delivery_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &mailbox_id,
                        &i64::from(uid),
                        &modseq,
                        &t.flags.join(" "),
                        &&hash[..],
                        &(size as i64),
                        &internal_date,
                        &delivery_id,
                    ],
                )
                .q()?;
            self.note_message(What::Added, mailbox_id, uid, modseq);
            let entry = crate::journal::Entry {
                account,
                mailbox: t.mailbox.clone(),
                mailbox_id,
                uid,
            };
            self.record_entry(
                actor,
                Kind::Delivered,
                entry,
                hash,
                Some(envelope),
                delivery_id,
            )?;
            placed.push(Placed {
                account_id: t.account_id,
                mailbox_id,
                uid,
            });
        }
        Ok(placed)
    }
}

impl Mailboxes for PgStore {
    fn mailboxes(&self, account_id: i64) -> Result<Vec<Mailbox>> {
        self.reads().with(move |c| {
            Ok(c.query(
                &format!(
                    "SELECT {MAILBOX_COLS} FROM mailboxes
                     WHERE account_id = $1 AND deleted_at IS NULL ORDER BY name"
                ),
                &[&account_id],
            )
            .q()?
            .iter()
            .map(mailbox_row)
            .collect())
        })
    }

    fn mailbox(&self, account_id: i64, name: &str) -> Result<Option<Mailbox>> {
        let name = name.to_owned();
        self.reads().with(move |c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {MAILBOX_COLS} FROM mailboxes
                     WHERE account_id = $1 AND name = $2 AND deleted_at IS NULL"
                ),
                &[&account_id, &name],
            )
            .q()?
            .map(|r| mailbox_row(&r)))
        })
    }

    fn messages(&self, mailbox_id: i64) -> Result<Vec<MessageEntry>> {
        self.reads().with(move |c| {
            c.query(
                "SELECT uid, modseq, flags, blob_hash, size, internal_date FROM messages
                 WHERE mailbox_id = $1 AND expunged_at IS NULL ORDER BY uid",
                &[&mailbox_id],
            )
            .q()?
            .iter()
            .map(message_entry)
            .collect()
        })
    }

    fn mailbox_changes(&self, mailbox_id: i64, since: u64) -> Result<MailboxChanges> {
        let since = since.min(i64::MAX as u64) as i64;
        self.reads().snapshot(move |tx| {
            let highest: i64 = tx
                .query_one(
                    "SELECT highestmodseq FROM mailboxes WHERE id = $1",
                    &[&mailbox_id],
                )
                .q()?
                .get(0);
            let mut changes = MailboxChanges {
                highestmodseq: highest as u64,
                changed: Vec::new(),
                expunged: Vec::new(),
            };
            if highest <= since {
                return Ok(changes);
            }
            for r in tx
                .query(
                    "SELECT uid, modseq, flags, blob_hash, size, internal_date, expunged_at
                     FROM messages WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
                    &[&mailbox_id, &since],
                )
                .q()?
            {
                if r.get::<_, Option<i64>>(6).is_some() {
                    changes.expunged.push(r.get::<_, i64>(0) as u32);
                } else {
                    changes.changed.push(message_entry(&r)?);
                }
            }
            Ok(changes)
        })
    }

    fn expunged_since(&self, mailbox_id: i64, modseq: u64) -> Result<Vec<u32>> {
        let modseq = modseq.min(i64::MAX as u64) as i64;
        self.reads().with(move |c| {
            Ok(c.query(
                "SELECT uid FROM messages WHERE mailbox_id = $1 AND expunged_at IS NOT NULL
                 AND modseq > $2 ORDER BY uid",
                &[&mailbox_id, &modseq],
            )
            .q()?
            .iter()
            .map(|r| r.get::<_, i64>(0) as u32)
            .collect())
        })
    }

    fn create_mailbox(&self, account_id: i64, name: &str, uidvalidity: u32) -> Result<()> {
        let name = name.to_owned();
        self.writer().write(move |w| {
            if exists(w.tx, account_id, &name)? {
                return Err(Error::Conflict(format!("mailbox {name} already exists")));
            }
            let mut prefix = String::new();
            for part in name.split('/') {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                if !exists(w.tx, account_id, &prefix)? {
                    w.insert_mailbox(account_id, &prefix, uidvalidity)?;
                }
            }
            Ok(())
        })
    }

    fn delete_mailbox(&self, account_id: i64, name: &str, now: i64) -> Result<()> {
        let actor = self.actor.clone();
        let name = name.to_owned();
        self.writer().write(move |w| {
            if name == "INBOX" {
                return Err(Error::Conflict("INBOX cannot be deleted".into()));
            }
            let id = live_mailbox_id(w.tx, account_id, &name)?;
            let uids = live_uids(w.tx, id)?;
            w.expunge_where(&actor, id, &uids, now)?;
            w.tx.execute(
                "UPDATE mailboxes SET deleted_at = $1 WHERE id = $2",
                &[&now, &id],
            )
            .q()?;
            w.note_mailbox(What::MailboxDeleted, id, &name, "");
            Ok(())
        })
    }

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
        self.writer().write(move |w| {
            let id = live_mailbox_id(w.tx, account_id, &from)?;
            if exists(w.tx, account_id, &to)? {
                return Err(Error::Conflict(format!("mailbox {to} already exists")));
            }
            if from == "INBOX" {
                let target = w.insert_mailbox(account_id, &to, uidvalidity)?;
                let uids = live_uids(w.tx, id)?;
                w.copy_into(&actor, Kind::Moved, id, &uids, target)?;
                w.expunge_where(&actor, id, &uids, now)?;
                return Ok(());
            }
            let child_prefix = format!("{from}/");
            let children: Vec<(i64, String)> =
                w.tx.query(
                    "SELECT id, name FROM mailboxes
                     WHERE account_id = $1 AND deleted_at IS NULL AND left(name, $2) = $3",
                    &[
                        &account_id,
                        &(child_prefix.chars().count() as i32),
                        &child_prefix,
                    ],
                )
                .q()?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            w.tx.execute("UPDATE mailboxes SET name = $1 WHERE id = $2", &[&to, &id])
                .q()?;
            w.note_mailbox(What::MailboxRenamed, id, &to, &from);
            for (cid, cname) in children {
                let renamed = format!("{to}/{}", &cname[child_prefix.len()..]);
                w.tx.execute(
                    "UPDATE mailboxes SET name = $1 WHERE id = $2",
                    &[&renamed, &cid],
                )
                .q()?;
                w.note_mailbox(What::MailboxRenamed, cid, &renamed, &cname);
            }
            Ok(())
        })
    }

    fn set_subscribed(&self, account_id: i64, name: &str, subscribed: bool) -> Result<()> {
        let name = name.to_owned();
        self.writer().write(move |w| {
            let id = live_mailbox_id(w.tx, account_id, &name)?;
            w.tx.execute(
                "UPDATE mailboxes SET subscribed = $1 WHERE id = $2",
                &[&subscribed, &id],
            )
            .q()?;
            Ok(())
        })
    }

    fn store_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        mode: FlagMode,
        flags: Vec<String>,
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<FlagChange>, Vec<u32>)> {
        let flags = normalise(&flags);
        self.writer().write(move |w| {
            let mut current = w.current_flags(mailbox_id, &uids)?;
            let (mut updates, mut modified) = (Vec::new(), Vec::new());
            for uid in uids {
                let Some((now, modseq)) = current.remove(&uid) else {
                    continue;
                };
                if unchanged_since.is_some_and(|since| modseq > since) {
                    modified.push(uid);
                } else if let Some(new) = mode.apply(&split_flags(&now), &flags) {
                    updates.push((uid, new));
                }
            }
            if updates.is_empty() {
                return Ok((Vec::new(), modified));
            }
            // A MODSEQ of its own for every message changed, allocated in one step.
            let last = w.take_modseqs(mailbox_id, updates.len())?;
            let first = last - updates.len() as i64 + 1;
            let changed: Vec<FlagChange> = updates
                .into_iter()
                .zip(first..)
                .map(|((uid, flags), modseq)| FlagChange {
                    uid,
                    modseq: modseq as u64,
                    flags,
                })
                .collect();
            w.set_flags(mailbox_id, &changed)?;
            Ok((changed, modified))
        })
    }

    fn add_flags(
        &self,
        mailbox_id: i64,
        uids: Vec<u32>,
        flags: Vec<String>,
    ) -> Result<Vec<(u32, u64)>> {
        self.writer().write(move |w| {
            let mut current = w.current_flags(mailbox_id, &uids)?;
            let updates: Vec<(u32, Vec<String>)> = uids
                .into_iter()
                .filter_map(|uid| {
                    let (now, _) = current.remove(&uid)?;
                    Some((uid, FlagMode::Add.apply(&split_flags(&now), &flags)?))
                })
                .collect();
            if updates.is_empty() {
                return Ok(Vec::new());
            }
            // One change, one MODSEQ for every message it touches (RFC 7162 asks only
            // that it be higher than before).
            let modseq = w.take_modseqs(mailbox_id, 1)?;
            let changed: Vec<FlagChange> = updates
                .into_iter()
                .map(|(uid, flags)| FlagChange {
                    uid,
                    modseq: modseq as u64,
                    flags,
                })
                .collect();
            w.set_flags(mailbox_id, &changed)?;
            Ok(changed.iter().map(|c| (c.uid, c.modseq)).collect())
        })
    }

    fn expunge(&self, mailbox_id: i64, only: Option<Vec<u32>>, now: i64) -> Result<Vec<u32>> {
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let deleted: Vec<u32> =
                w.tx.query(
                    "SELECT uid, flags FROM messages
                     WHERE mailbox_id = $1 AND expunged_at IS NULL ORDER BY uid",
                    &[&mailbox_id],
                )
                .q()?
                .iter()
                .filter(|r| {
                    r.get::<_, &str>(1)
                        .split_ascii_whitespace()
                        .any(|x| x.eq_ignore_ascii_case("\\Deleted"))
                })
                .map(|r| r.get::<_, i64>(0) as u32)
                .filter(|u| only.as_ref().is_none_or(|o| o.contains(u)))
                .collect();
            w.expunge_where(&actor, mailbox_id, &deleted, now)
        })
    }

    fn append(
        &self,
        account_id: i64,
        mailbox: &str,
        bytes: Vec<u8>,
        flags: Vec<String>,
        internal_date: i64,
    ) -> Result<Copied> {
        let actor = self.actor.clone();
        let mailbox = mailbox.to_owned();
        let flags = normalise(&flags).join(" ");
        let hash = mailkeep_store_api::hash(&bytes);
        let body = self.stage(&hash, bytes)?;
        self.writer().write(move |w| {
            let id = live_mailbox_id(w.tx, account_id, &mailbox)?;
            w.put_blob(&hash, &body)?;
            let size = body.len();
            let uid = w.insert_message(&actor, id, &flags, &hash, size, internal_date)?;
            Ok(Copied {
                uidvalidity: uidvalidity(w.tx, id)?,
                uids: vec![(0, uid)],
                mailbox_id: id,
            })
        })
    }

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
        let mailbox = mailbox.to_owned();
        let flags = normalise(&flags).join(" ");
        let hash = mailkeep_store_api::hash(&bytes);
        let store = self.clone();
        // An upload of bytes the mailbox already holds is wasted, and collected as garbage.
        self.stage_then(&hash, bytes, move |staged| {
            let body = match staged {
                Ok(body) => body,
                Err(e) => return done(Err(e)),
            };
            store.writer().submit(
                move |w| {
                    let id = live_mailbox_id(w.tx, account_id, &mailbox)?;
                    let present: bool =
                        w.tx.query_one(
                            "SELECT EXISTS(SELECT 1 FROM messages
                         WHERE mailbox_id = $1 AND blob_hash = $2 AND expunged_at IS NULL)",
                            &[&id, &&hash[..]],
                        )
                        .q()?
                        .get(0);
                    if present {
                        return Ok(None);
                    }
                    w.put_blob(&hash, &body)?;
                    let size = body.len();
                    Ok(Some(w.insert_message(
                        &actor,
                        id,
                        &flags,
                        &hash,
                        size,
                        internal_date,
                    )?))
                },
                done,
            );
        });
    }

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
        self.writer().write(move |w| {
            let target = live_mailbox_id(w.tx, account_id, &to)?;
            let owner: Option<i64> =
                w.tx.query_opt(
                    "SELECT account_id FROM mailboxes WHERE id = $1",
                    &[&from_mailbox_id],
                )
                .q()?
                .map(|r| r.get(0));
            if owner != Some(account_id) {
                return Err(Error::NotFound("no such source mailbox".into()));
            }
            let kind = if expunge_source {
                Kind::Moved
            } else {
                Kind::Copied
            };
            let pairs = w.copy_into(&actor, kind, from_mailbox_id, &uids, target)?;
            if expunge_source {
                let moved: Vec<u32> = pairs.iter().map(|(s, _)| *s).collect();
                w.expunge_where(&actor, from_mailbox_id, &moved, now)?;
            }
            Ok(Copied {
                uidvalidity: uidvalidity(w.tx, target)?,
                uids: pairs,
                mailbox_id: target,
            })
        })
    }

    fn account_usage(&self, account_id: i64) -> Result<u64> {
        self.reads().with(move |c| {
            let n: i64 = c
                .query_one(
                    "SELECT COALESCE(SUM(m.size), 0)::bigint FROM messages m
                     JOIN mailboxes b ON b.id = m.mailbox_id
                     WHERE b.account_id = $1 AND b.deleted_at IS NULL AND m.expunged_at IS NULL",
                    &[&account_id],
                )
                .q()?
                .get(0);
            Ok(n as u64)
        })
    }

    fn claim_recent(&self, mailbox_id: i64, upto: u32) -> Result<u32> {
        self.writer().write(move |w| {
            let old: i64 =
                w.tx.query_one(
                    "SELECT recent_uid FROM mailboxes WHERE id = $1 FOR UPDATE",
                    &[&mailbox_id],
                )
                .q()?
                .get(0);
            if i64::from(upto) > old {
                w.tx.execute(
                    "UPDATE mailboxes SET recent_uid = $2 WHERE id = $1",
                    &[&mailbox_id, &i64::from(upto)],
                )
                .q()?;
            }
            Ok(old as u32)
        })
    }

    fn recent_mark(&self, mailbox_id: i64) -> Result<u32> {
        self.reads().with(move |c| {
            let v: i64 = c
                .query_one(
                    "SELECT recent_uid FROM mailboxes WHERE id = $1",
                    &[&mailbox_id],
                )
                .q()?
                .get(0);
            Ok(v as u32)
        })
    }

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

    fn deliver_then(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        internal_date: i64,
        delivery_id: &str,
        done: Done<Vec<Placed>>,
    ) {
        use mailkeep_store_api::Queue;
        self.accept_then(
            bytes,
            targets,
            None,
            (String::new(), Vec::new()),
            internal_date,
            delivery_id,
            done,
        );
    }
}
