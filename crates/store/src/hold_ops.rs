//! Legal holds and purging: what keeps bytes, and the journaled step that deletes them.

use mailkeep_store_api::prelude::*;
use rusqlite::{OptionalExtension, params};

use mailkeep_journal::Kind;

use crate::journal_ops::{now, record_event, record_message};
use crate::model::*;
use crate::ops::{exec, row};
use crate::segments::{self, Hash};
use crate::{Error, Result, Store};

impl Store {
    /// Writes a consistent copy of the database as of now to `path` (SQLite `VACUUM INTO`:
    /// one read transaction, so one journal size), while writers go on.
    pub fn snapshot_db(&self, path: &std::path::Path) -> Result<()> {
        let target = path.to_string_lossy().into_owned();
        self.read(|c| {
            c.execute("VACUUM INTO ?1", [&target])?;
            Ok(())
        })
    }

    /// Locations in segment files of purged bodies (to shred them in copies too).
    pub fn purged_locations(&self) -> Result<Vec<segments::Location>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT segment, offset, length FROM blobs WHERE purged_at IS NOT NULL AND segment != 0",
            )?;
            let rows = st.query_map([], |r| {
                Ok(segments::Location {
                    segment: r.get(0)?,
                    offset: r.get(1)?,
                    length: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

/// A blob's index entry, for checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    /// Address.
    pub hash: Hash,
    /// Where the index says it is (segment 0: inline).
    pub loc: segments::Location,
    /// Purged bodies have no bytes to check.
    pub purged: bool,
}

impl Store {
    /// Every blob index entry.
    pub fn all_blobs(&self) -> Result<Vec<BlobRecord>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT hash, segment, offset, length, purged_at FROM blobs ORDER BY hash",
            )?;
            let rows = st.query_map([], |r| {
                Ok(BlobRecord {
                    hash: crate::ops::hash_from(r.get(0)?)?,
                    loc: segments::Location {
                        segment: r.get(1)?,
                        offset: r.get(2)?,
                        length: r.get(3)?,
                    },
                    purged: r.get::<_, Option<i64>>(4)?.is_some(),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Message entries whose blob has no index entry: (mailbox id, uid, blob).
    pub fn entries_without_blob(&self) -> Result<Vec<(i64, u32, Hash)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT m.mailbox_id, m.uid, m.blob_hash FROM messages m
                 LEFT JOIN blobs b ON b.hash = m.blob_hash WHERE b.hash IS NULL",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, crate::ops::hash_from(r.get(2)?)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Points a blob's index entry at an intact copy in a segment (creating the entry if it
    /// was lost). Used by `fsck --repair`.
    pub fn relocate_blob(&self, blob: Hash, loc: segments::Location) -> Result<()> {
        self.write(None, move |c, _| {
            exec(
                c,
                "INSERT INTO blobs (hash, segment, offset, length, data, secret)
                 VALUES (?1, ?2, ?3, ?4, NULL, NULL)
                 ON CONFLICT (hash) DO UPDATE SET segment = ?2, offset = ?3, length = ?4, data = NULL",
                params![&blob[..], loc.segment, loc.offset, loc.length],
            )?;
            Ok(())
        })
    }
}

impl Holds for Store {
    /// Sets a hold; returns its id. Journaled.
    fn add_hold(&self, account: Option<&str>, query: &str, reason: &str) -> Result<i64> {
        let actor = self.actor.clone();
        let (account, query, reason) = (
            account.map(str::to_owned),
            query.to_owned(),
            reason.to_owned(),
        );
        self.write(None, move |c, _| {
            let account_id: Option<i64> = match &account {
                Some(a) => Some(
                    row(
                        c,
                        "SELECT id FROM accounts WHERE address = ?1 AND deleted_at IS NULL",
                        [a],
                        |r| r.get(0),
                    )
                    .optional()?
                    .ok_or_else(|| Error::NotFound(format!("no such user: {a}")))?,
                ),
                None => None,
            };
            let id: i64 = row(
                c,
                "INSERT INTO holds (account_id, query, reason, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                params![account_id, query, reason, now(), actor.name],
                |r| r.get(0),
            )?;
            record_event(
                c,
                &actor,
                Kind::HoldSet,
                account.as_deref().unwrap_or(""),
                &format!("hold {id}: {reason}; query: {query}"),
            )?;
            Ok(id)
        })
    }

    /// Releases a hold. Journaled. `NotFound` if there is no such active hold.
    fn release_hold(&self, id: i64) -> Result<()> {
        let actor = self.actor.clone();
        self.write(None, move |c, _| {
            let n = exec(
                c,
                "UPDATE holds SET released_at = ?2, released_by = ?3
                 WHERE id = ?1 AND released_at IS NULL",
                params![id, now(), actor.name],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!("no active hold {id}")));
            }
            record_event(c, &actor, Kind::HoldReleased, "", &format!("hold {id}"))?;
            Ok(())
        })
    }

    /// Every hold, active and released.
    fn holds(&self) -> Result<Vec<Hold>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT h.id, a.address, h.query, h.reason, h.created_at, h.created_by, h.released_at
                 FROM holds h LEFT JOIN accounts a ON a.id = h.account_id ORDER BY h.id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(Hold {
                    id: r.get(0)?,
                    account: r.get(1)?,
                    query: r.get(2)?,
                    reason: r.get(3)?,
                    created_at: r.get(4)?,
                    created_by: r.get(5)?,
                    released_at: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Whether a blob is still needed by the outbound queue.
    fn blob_queued(&self, blob: &Hash) -> Result<bool> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT EXISTS(SELECT 1 FROM outbound o JOIN outbound_rcpts r ON r.outbound_id = o.id
                 WHERE o.blob_hash = ?1 AND r.state = 'queued')",
                [&blob[..]],
                |r| r.get(0),
            )?)
        })
    }

    /// Purges a body: journals a `purged` leaf for each of its (expunged) mailbox entries,
    /// forgets its secret and its inline bytes, and zeroes them in their segment. Refuses a
    /// body that a live entry still shows. The caller decides retention and holds.
    fn purge_blob(&self, blob: Hash, reason: &str) -> Result<usize> {
        let actor = self.actor.clone();
        let reason = reason.to_owned();
        let loc = self.write(None, move |c, _| {
            let live: bool = row(
                c,
                "SELECT EXISTS(SELECT 1 FROM messages WHERE blob_hash = ?1 AND expunged_at IS NULL)",
                [&blob[..]],
                |r| r.get(0),
            )?;
            if live {
                return Err(Error::Conflict(format!(
                    "body {} is still shown in a mailbox",
                    hex::encode(blob)
                )));
            }
            let mut st = c.prepare_cached(
                "SELECT mailbox_id, uid FROM messages WHERE blob_hash = ?1 ORDER BY id",
            )?;
            let entries: Vec<(i64, u32)> = st
                .query_map([&blob[..]], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (mailbox_id, uid) in &entries {
                record_message(c, &actor, Kind::Purged, *mailbox_id, *uid, &blob, None, &reason)?;
            }
            let loc = crate::writer::blob_location(c, &blob)?;
            exec(
                c,
                "UPDATE blobs SET data = NULL, secret = NULL, purged_at = ?2 WHERE hash = ?1",
                params![&blob[..], now()],
            )?;
            exec(c, "DELETE FROM parsed WHERE blob_hash = ?1", [&blob[..]])?;
            Ok((entries.len(), loc))
        })?;
        let (n, loc) = loc;
        if let Some(loc) = loc.filter(|l| l.segment != segments::INLINE) {
            self.inner.segments.shred(loc)?;
        }
        Ok(n)
    }

    /// When a body was purged, if it was.
    fn purged_at(&self, blob: &Hash) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT purged_at FROM blobs WHERE hash = ?1",
                [&blob[..]],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
        })
    }
}
