//! Typed operations: the store's whole surface towards `core`. SQL stays in this file.

use mailkeep_store_api::prelude::*;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::{Arc, Mutex};

use crate::Actor;
use crate::change_ops::{self, What};
use crate::journal_ops::{Entry, record_entry, record_event};
use crate::model::*;
use crate::{Error, Result, Store};
use mailkeep_journal::Kind;

fn conflict_on_unique(e: rusqlite::Error, what: String) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Error::Conflict(what)
        }
        _ => e.into(),
    }
}

/// `query_row` through the connection's statement cache: parsing SQL costs more than running
/// these small statements.
pub(crate) fn row<T, P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    p: P,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(p, f)
}

/// `execute` through the statement cache.
pub(crate) fn exec<P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    p: P,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

pub(crate) use mailkeep_store_api::flags::split as split_flags;

/// A [`MessageEntry`] from a `uid, modseq, flags, blob_hash, size, internal_date` row.
pub(crate) fn message_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageEntry> {
    Ok(MessageEntry {
        uid: r.get(0)?,
        modseq: r.get(1)?,
        flags: split_flags(&r.get::<_, String>(2)?),
        hash: hash_from(r.get(3)?)?,
        size: r.get(4)?,
        internal_date: r.get(5)?,
    })
}

pub(crate) fn hash_from(v: Vec<u8>) -> rusqlite::Result<Hash> {
    v.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "blob hash is not 32 bytes".into(),
        )
    })
}

fn domain_id(c: &Connection, name: &str) -> Result<Option<i64>> {
    Ok(row(
        c,
        "SELECT id FROM domains WHERE name = ?1 AND deleted_at IS NULL",
        [name],
        |r| r.get(0),
    )
    .optional()?)
}

pub(crate) fn live_account_id(c: &Connection, address: &str) -> Result<i64> {
    row(
        c,
        "SELECT id FROM accounts WHERE address = ?1 AND deleted_at IS NULL",
        [address],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no such user: {address}")))
}

pub(crate) fn mailbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Mailbox> {
    Ok(Mailbox {
        id: r.get(0)?,
        account_id: r.get(1)?,
        name: r.get(2)?,
        special_use: r.get(3)?,
        uidvalidity: r.get(4)?,
        uidnext: r.get(5)?,
        highestmodseq: r.get(6)?,
        subscribed: r.get(7)?,
    })
}

pub(crate) const MAILBOX_COLS: &str =
    "id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq, subscribed";

/// Enters a stored body in each `(account_id, mailbox name)` target: next UID, next MODSEQ.
#[allow(clippy::too_many_arguments)]
pub(crate) fn place(
    c: &Connection,
    actor: &Actor,
    envelope: (&str, &[String]),
    targets: &[Target],
    hash: &Hash,
    size: u64,
    internal_date: i64,
    delivery_id: &str,
) -> Result<Vec<Placed>> {
    let mut placed = Vec::with_capacity(targets.len());
    for Target {
        account_id,
        mailbox: name,
        flags,
    } in targets
    {
        let (mailbox_id, uid, modseq, account): (i64, u32, u64, String) = row(
            c,
            "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1
             WHERE account_id = ?1 AND name = ?2 AND deleted_at IS NULL
             RETURNING id, uidnext - 1, highestmodseq,
                       (SELECT address FROM accounts WHERE id = account_id)",
            params![account_id, name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("mailbox {name} of account {account_id}")))?;
        exec(
            c,
            "INSERT INTO messages (mailbox_id, uid, modseq, flags, blob_hash, size, internal_date, delivery_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![mailbox_id, uid, modseq, flags.join(" "), &hash[..], size, internal_date, delivery_id],
        )?;
        change_ops::message_of(What::Added, Some(*account_id), mailbox_id, uid, modseq);
        let entry = Entry {
            account,
            mailbox: name.clone(),
            mailbox_id,
            uid,
        };
        record_entry(
            c,
            actor,
            Kind::Delivered,
            entry,
            hash,
            Some(envelope),
            delivery_id,
        )?;
        placed.push(Placed {
            account_id: *account_id,
            mailbox_id,
            uid,
        });
    }
    Ok(placed)
}

/// File whose content changes whenever domains, accounts or aliases change, in any process.
const DIRECTORY_STAMP: &str = "directory.stamp";

/// Bytes of the stamp compared; a stamp is written as fewer.
const STAMP_LEN: usize = 64;

/// How long the server reads the stamp through one open handle before opening it by name
/// again (a stamp file replaced by other means is noticed within this time).
const STAMP_REOPEN: std::time::Duration = std::time::Duration::from_secs(1);

/// The stamp file kept open: every RCPT reads it, and one `pread` costs a fraction of
/// opening, reading and closing it by name.
#[derive(Default)]
pub(crate) struct StampReader {
    open: Mutex<Option<(Arc<std::fs::File>, std::time::Instant)>>,
}

impl Store {
    fn directory_changed<T>(&self, result: &Result<T>) {
        if result.is_err() {
            return;
        }
        // Rewritten in place, not replaced, so that readers holding it open see the change.
        // A reader that catches the write half done sees a token that is neither the old nor
        // the new one: it reloads once more than needed, never less. Not fsynced: the stamp
        // only invalidates in-memory caches, which a restart empties.
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let token = format!("{:032x}", rand::random::<u128>());
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir().join(DIRECTORY_STAMP))
            .and_then(|f| f.write_all_at(token.as_bytes(), 0));
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot update directory.stamp; caches may be stale");
        }
    }

    /// Checks the database's own integrity (`PRAGMA integrity_check`); returns problems found.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached("PRAGMA integrity_check")?;
            let rows: Vec<String> = st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows.into_iter().filter(|r| r != "ok").collect())
        })
    }
}

impl Directory for Store {
    /// A token that changes whenever domains, accounts or aliases change — also when another
    /// process (the CLI) changed them. Read it *before* a lookup that is cached under it.
    fn directory_stamp(&self) -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let file = {
            let mut open = self
                .inner
                .stamp
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match &*open {
                Some((f, at)) if at.elapsed() < STAMP_REOPEN => Some(f.clone()),
                _ => {
                    *open = std::fs::File::open(self.dir().join(DIRECTORY_STAMP))
                        .ok()
                        .map(|f| (Arc::new(f), std::time::Instant::now()));
                    open.as_ref().map(|(f, _)| f.clone())
                }
            }
        };
        let mut buf = [0u8; STAMP_LEN];
        match file.map(|f| f.read_at(&mut buf, 0)) {
            Some(Ok(n)) => buf[..n].to_vec(),
            _ => Vec::new(),
        }
    }

    // ---- domains ----

    /// Adds a domain. `Conflict` if it exists.
    fn add_domain(&self, name: &str, now: i64) -> Result<()> {
        let name = name.to_owned();
        let actor = self.actor.clone();
        let r = self.write(None, move |c, _| {
            // A deleted domain added again gets its old row back: its deleted accounts
            // still refer to it.
            let revived = exec(
                c,
                "UPDATE domains SET deleted_at = NULL WHERE name = ?1 AND deleted_at IS NOT NULL",
                [&name],
            )?;
            if revived == 0 {
                exec(
                    c,
                    "INSERT INTO domains (name, created_at) VALUES (?1, ?2)",
                    params![name, now],
                )
                .map_err(|e| conflict_on_unique(e, format!("domain {name} already exists")))?;
            }
            record_event(c, &actor, Kind::DomainCreated, "", &name)?;
            Ok(())
        });
        self.directory_changed(&r);
        r
    }

    /// All domains, by name.
    fn domains(&self) -> Result<Vec<Domain>> {
        crate::failing_reads::check("domains")?;
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, name FROM domains WHERE deleted_at IS NULL ORDER BY name",
            )?;
            let rows = st.query_map([], |r| {
                Ok(Domain {
                    id: r.get(0)?,
                    name: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Deletes a domain. Refused (`Conflict`) while it has users, unless `force`: then they
    /// are deleted too, as `user del` does (their mail stays, under retention). The domain's
    /// aliases and catch-all go with it. Everything is journaled, in one transaction.
    fn delete_domain(&self, name: &str, force: bool, now: i64) -> Result<DomainDeleted> {
        let name = name.to_owned();
        let actor = self.actor.clone();
        let r = self.write(None, move |c, _| {
            let id = domain_id(c, &name)?
                .ok_or_else(|| Error::NotFound(format!("no domain {name}")))?;
            let users: Vec<(i64, String)> = {
                let mut st = c.prepare_cached(
                    "SELECT id, address FROM accounts
                     WHERE domain_id = ?1 AND deleted_at IS NULL ORDER BY address",
                )?;
                st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            if !users.is_empty() && !force {
                let names: Vec<&str> = users.iter().take(5).map(|(_, a)| a.as_str()).collect();
                return Err(Error::Conflict(format!(
                    "{name} still has {} users ({}{}): delete them first, or use --force to \
                     delete them with it (their mail stays until retention allows a purge)",
                    users.len(),
                    names.join(", "),
                    if users.len() > 5 { ", …" } else { "" }
                )));
            }
            let aliases: Vec<(String, String)> = {
                let mut st = c.prepare_cached(
                    "SELECT s.source, a.address FROM aliases s JOIN accounts a ON a.id = s.account_id
                     WHERE s.source = '@' || ?1
                        OR substr(s.source, length(s.source) - length(?1)) = '@' || ?1
                     ORDER BY s.source",
                )?;
                st.query_map([&name], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for (source, target) in &aliases {
                exec(c, "DELETE FROM aliases WHERE source = ?1", [source])?;
                let what = format!("{source} -> {target}; domain {name} deleted");
                record_event(c, &actor, Kind::AliasDeleted, target, &what)?;
            }
            for (account, address) in &users {
                record_event(c, &actor, Kind::AccountDeleted, address, "domain deleted")?;
                change_ops::account_deleted(*account);
                exec(c, "DELETE FROM aliases WHERE account_id = ?1", [account])?;
                exec(
                    c,
                    "UPDATE accounts SET deleted_at = ?1 WHERE id = ?2",
                    params![now, account],
                )?;
            }
            exec(
                c,
                "UPDATE domains SET deleted_at = ?1 WHERE id = ?2",
                params![now, id],
            )?;
            record_event(c, &actor, Kind::DomainDeleted, "", &name)?;
            Ok(DomainDeleted {
                users: users.into_iter().map(|(_, a)| a).collect(),
                aliases: aliases.into_iter().map(|(s, _)| s).collect(),
            })
        });
        self.directory_changed(&r);
        r
    }

    /// Whether `name` is one of our domains.
    fn has_domain(&self, name: &str) -> Result<bool> {
        self.read(|c| Ok(domain_id(c, name)?.is_some()))
    }

    // ---- accounts ----

    /// Creates an account with the default mailboxes. `uidvalidity` seeds the mailboxes'
    /// UIDVALIDITY. `NotFound` for an unknown domain, `Conflict` for a duplicate.
    fn add_account(
        &self,
        address: &str,
        domain: &str,
        password_hash: &str,
        now: i64,
        uidvalidity: u32,
    ) -> Result<i64> {
        let (address, domain, hash) = (
            address.to_owned(),
            domain.to_owned(),
            password_hash.to_owned(),
        );
        let actor = self.actor.clone();
        let r = self.write(None, move |c, _| {
            let dom = domain_id(c, &domain)?
                .ok_or_else(|| Error::NotFound(format!("unknown domain {domain} (add it with `mailkeep domain add {domain}`)")))?;
            let taken: bool = row(c,
                "SELECT EXISTS(SELECT 1 FROM aliases WHERE source = ?1)",
                [&address],
                |r| r.get(0),
            )?;
            if taken {
                return Err(Error::Conflict(format!("{address} is already an alias")));
            }
            exec(c,
                "INSERT INTO accounts (address, domain_id, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![address, dom, hash, now],
            )
            .map_err(|e| conflict_on_unique(e, format!("user {address} already exists")))?;
            let id = c.last_insert_rowid();
            record_event(c, &actor, Kind::AccountCreated, &address, "")?;
            for (name, special) in DEFAULT_MAILBOXES {
                exec(c,
                    "INSERT INTO mailboxes (account_id, name, special_use, uidvalidity) VALUES (?1, ?2, ?3, ?4)",
                    params![id, name, special, uidvalidity],
                )?;
            }
            Ok(id)
        });
        self.directory_changed(&r);
        r
    }

    /// Replaces an account's password hash.
    fn set_password(&self, address: &str, password_hash: &str) -> Result<()> {
        let (address, hash) = (address.to_owned(), password_hash.to_owned());
        let actor = self.actor.clone();
        let r = self.write(None, move |c, _| {
            let id = live_account_id(c, &address)?;
            exec(
                c,
                "UPDATE accounts SET password_hash = ?1 WHERE id = ?2",
                params![hash, id],
            )?;
            record_event(c, &actor, Kind::Audit, &address, "password changed")?;
            Ok(())
        });
        self.directory_changed(&r);
        r
    }

    /// Deletes an account: it can no longer log in or receive mail, and its aliases go. Its
    /// mailboxes and messages are kept (retention decides when bytes may go, DESIGN §3).
    fn delete_account(&self, address: &str, now: i64) -> Result<()> {
        let address = address.to_owned();
        let actor = self.actor.clone();
        let r = self.write(None, move |c, _| {
            let id = live_account_id(c, &address)?;
            record_event(c, &actor, Kind::AccountDeleted, &address, "")?;
            change_ops::account_deleted(id);
            exec(c, "DELETE FROM aliases WHERE account_id = ?1", [id])?;
            exec(
                c,
                "UPDATE accounts SET deleted_at = ?1 WHERE id = ?2",
                params![now, id],
            )?;
            Ok(())
        });
        self.directory_changed(&r);
        r
    }

    /// A live account by address.
    fn account(&self, address: &str) -> Result<Option<Account>> {
        self.read(|c| {
            Ok(row(c,
                "SELECT id, address, password_hash, created_at FROM accounts WHERE address = ?1 AND deleted_at IS NULL",
                [address],
                |r| Ok(Account { id: r.get(0)?, address: r.get(1)?, password_hash: r.get(2)?, created_at: r.get(3)? }),
            )
            .optional()?)
        })
    }

    /// All live accounts, by address.
    fn accounts(&self) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, address, password_hash, created_at FROM accounts WHERE deleted_at IS NULL ORDER BY address",
            )?;
            let rows = st.query_map([], |r| {
                Ok(Account { id: r.get(0)?, address: r.get(1)?, password_hash: r.get(2)?, created_at: r.get(3)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    // ---- aliases ----

    /// Adds an alias from `source` to the live account `target`.
    fn add_alias(&self, source: &str, source_domain: &str, target: &str, now: i64) -> Result<()> {
        let (source, dom, target) = (
            source.to_owned(),
            source_domain.to_owned(),
            target.to_owned(),
        );
        let actor = self.actor.clone();
        let r = self.write(None, move |c, _| {
            domain_id(c, &dom)?.ok_or_else(|| Error::NotFound(format!("unknown domain {dom}")))?;
            let id = live_account_id(c, &target)?;
            let is_account: bool = row(
                c,
                "SELECT EXISTS(SELECT 1 FROM accounts WHERE address = ?1 AND deleted_at IS NULL)",
                [&source],
                |r| r.get(0),
            )?;
            if is_account {
                return Err(Error::Conflict(format!("{source} is already a user")));
            }
            exec(
                c,
                "INSERT INTO aliases (source, account_id, created_at) VALUES (?1, ?2, ?3)",
                params![source, id, now],
            )
            .map_err(|e| conflict_on_unique(e, format!("alias {source} already exists")))?;
            record_event(
                c,
                &actor,
                Kind::AliasCreated,
                &target,
                &format!("{source} -> {target}"),
            )?;
            Ok(())
        });
        self.directory_changed(&r);
        r
    }

    /// Deletes the alias `source` (journaled). Only the directory entry goes: mail it
    /// delivered stays in its account, under retention. `NotFound` if there is none.
    fn delete_alias(&self, source: &str) -> Result<String> {
        let source = source.to_owned();
        let actor = self.actor.clone();
        let r = self.write(None, move |c, _| {
            let target: String = row(
                c,
                "SELECT a.address FROM aliases s JOIN accounts a ON a.id = s.account_id WHERE s.source = ?1",
                [&source],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("no alias {source}")))?;
            exec(c, "DELETE FROM aliases WHERE source = ?1", [&source])?;
            record_event(
                c,
                &actor,
                Kind::AliasDeleted,
                &target,
                &format!("{source} -> {target}"),
            )?;
            Ok(target)
        });
        self.directory_changed(&r);
        r
    }

    /// The account address an alias source points at.
    fn alias_target(&self, source: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(row(c,
                "SELECT a.address FROM aliases s JOIN accounts a ON a.id = s.account_id WHERE s.source = ?1 AND a.deleted_at IS NULL",
                [source],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Resolves an envelope recipient in one read: unless `domain` is ours, `NotOurDomain`;
    /// otherwise the first of `candidates` that is a live account or an alias of one (a
    /// source of `@domain` being the catch-all).
    fn lookup_recipient(&self, domain: &str, candidates: &[String]) -> Result<Lookup> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            if domain_id(&tx, domain)?.is_none() {
                return Ok(Lookup::NotOurDomain);
            }
            for cand in candidates {
                let found = row(
                    &tx,
                    "SELECT id, address, password_hash, created_at FROM accounts
                     WHERE deleted_at IS NULL AND (address = ?1 OR id = (
                        SELECT s.account_id FROM aliases s WHERE s.source = ?1))
                     ORDER BY address = ?1 DESC LIMIT 1",
                    [cand],
                    |r| {
                        Ok(Account {
                            id: r.get(0)?,
                            address: r.get(1)?,
                            password_hash: r.get(2)?,
                            created_at: r.get(3)?,
                        })
                    },
                )
                .optional()?;
                if let Some(acc) = found {
                    return Ok(Lookup::Found(acc));
                }
            }
            Ok(Lookup::NotFound)
        })
    }

    /// All aliases, by source.
    fn aliases(&self) -> Result<Vec<Alias>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT s.source, a.address FROM aliases s JOIN accounts a ON a.id = s.account_id ORDER BY s.source",
            )?;
            let rows = st.query_map([], |r| Ok(Alias { source: r.get(0)?, target: r.get(1)? }))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Adds an app password called `name` to the account at `address`.
    fn add_app_password(
        &self,
        address: &str,
        name: &str,
        hash: Vec<u8>,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        let (address, name, scope) = (address.to_owned(), name.to_owned(), scope.to_owned());
        let actor = self.actor.clone();
        self.write(None, move |c, _| {
            let id = live_account_id(c, &address)?;
            let taken: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM app_passwords
                 WHERE account_id = ?1 AND name = ?2 AND revoked_at IS NULL)",
                params![id, name],
                |r| r.get(0),
            )?;
            if taken {
                return Err(Error::Conflict(format!(
                    "{address} already has an app password called {name:?}"
                )));
            }
            exec(
                c,
                "INSERT INTO app_passwords (account_id, name, hash, scope, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, name, hash, scope, now],
            )?;
            record_event(
                c,
                &actor,
                Kind::Audit,
                &address,
                &format!("app password {name:?} added ({scope})"),
            )?;
            Ok(())
        })
    }

    /// The live app passwords of an account.
    fn app_passwords(&self, account_id: i64) -> Result<Vec<AppPassword>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, hash, scope, created_at FROM app_passwords
                 WHERE account_id = ?1 AND revoked_at IS NULL ORDER BY name",
            )?;
            let rows = st.query_map([account_id], |r| {
                Ok(AppPassword {
                    name: r.get(0)?,
                    hash: r.get(1)?,
                    scope: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Revokes the app password called `name`: it stops working at once.
    fn revoke_app_password(&self, address: &str, name: &str, now: i64) -> Result<()> {
        let (address, name) = (address.to_owned(), name.to_owned());
        let actor = self.actor.clone();
        self.write(None, move |c, _| {
            let id = live_account_id(c, &address)?;
            let n = c.execute(
                "UPDATE app_passwords SET revoked_at = ?3
                 WHERE account_id = ?1 AND name = ?2 AND revoked_at IS NULL",
                params![id, name, now],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!(
                    "{address} has no app password called {name:?}"
                )));
            }
            record_event(
                c,
                &actor,
                Kind::Audit,
                &address,
                &format!("app password {name:?} revoked"),
            )?;
            Ok(())
        })
    }
}
