//! The feed the full-text index follows: message bodies in the order they were first stored.
//!
//! A body's row in `blobs` is written once, in the transaction that first stores it, and rows
//! are never deleted (a purge clears the bytes and keeps the row), so the rowid is a sequence
//! number: everything up to the last one an index has seen is in that index. A copy made by
//! `VACUUM INTO` may renumber rows; an index checks the hash at its sequence number and
//! rebuilds when it no longer matches.

use crate::Error;
use crate::segments;
use crate::segments::Location;
use mailkeep_store_api::prelude::*;
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;

use crate::model::*;
use crate::ops::{hash_from, row};
use crate::{Result, Store};

/// A [`FedBlob`] from a `rowid, hash, length` row.
fn fed_blob(r: &rusqlite::Row<'_>) -> rusqlite::Result<FedBlob> {
    Ok(FedBlob {
        seq: r.get::<_, i64>(0)? as u64,
        hash: hash_from(r.get(1)?)?,
        length: r.get::<_, i64>(2)?.max(0) as u64,
    })
}

impl Bodies for Store {
    /// Up to `limit` bodies after sequence number `seq`, in order. Only the first column of
    /// each row is read: the rest of a row may hold up to 64 KiB of body.
    fn blobs_after(&self, seq: u64, limit: usize) -> Result<Vec<FedBlob>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT rowid, hash, length FROM blobs WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
            )?;
            let rows = st.query_map(params![seq as i64, limit], fed_blob)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Up to `limit` live (not purged) bodies after `seq` that have no parsed record, in
    /// order: what the background fill works through.
    fn unparsed_blobs(&self, seq: u64, limit: usize) -> Result<Vec<FedBlob>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT b.rowid, b.hash, b.length FROM blobs b
                 WHERE b.rowid > ?1 AND b.purged_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM parsed p WHERE p.blob_hash = b.hash)
                 ORDER BY b.rowid LIMIT ?2",
            )?;
            let rows = st.query_map(params![seq as i64, limit], fed_blob)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The parsed records (what IMAP needs from a body, opaque here) of those `hashes`
    /// that have one.
    fn parsed(&self, hashes: &[Hash]) -> Result<HashMap<Hash, Vec<u8>>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT data FROM parsed WHERE blob_hash = ?1")?;
            let mut found = std::collections::HashMap::new();
            for h in hashes {
                if let Some(d) = st.query_row([&h[..]], |r| r.get(0)).optional()? {
                    found.insert(*h, d);
                }
            }
            Ok(found)
        })
    }

    /// Stores parsed records, in one transaction; a body purged meanwhile gets none.
    fn put_parsed(&self, records: Vec<(Hash, Vec<u8>)>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(None, move |c, _| {
            let mut st = c.prepare_cached(
                "INSERT OR REPLACE INTO parsed (blob_hash, data)
                 SELECT ?1, ?2 WHERE EXISTS
                   (SELECT 1 FROM blobs WHERE hash = ?1 AND purged_at IS NULL)",
            )?;
            for (h, d) in &records {
                st.execute(params![&h[..], d])?;
            }
            Ok(())
        })
    }

    /// How many bodies come after `seq`.
    fn blobs_count_after(&self, seq: u64) -> Result<u64> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT COUNT(*) FROM blobs WHERE rowid > ?1",
                [seq as i64],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    /// The last sequence number given out (0 before the first body): cheap to ask often.
    fn last_blob_seq(&self) -> Result<u64> {
        self.read(|c| {
            Ok(
                row(c, "SELECT COALESCE(MAX(rowid), 0) FROM blobs", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64,
            )
        })
    }

    /// The body at sequence number `seq`, if there is one.
    fn blob_at(&self, seq: u64) -> Result<Option<Hash>> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT hash FROM blobs WHERE rowid = ?1",
                [seq as i64],
                |r| hash_from(r.get(0)?),
            )
            .optional()?)
        })
    }

    /// Every purged body, for an index to forget.
    fn purged_blobs(&self) -> Result<Vec<Hash>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT hash FROM blobs WHERE purged_at IS NOT NULL")?;
            let rows = st.query_map([], |r| hash_from(r.get(0)?))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// How many bodies were purged.
    fn purged_count(&self) -> Result<u64> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT COUNT(*) FROM blobs WHERE purged_at IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    /// Reads a blob's bytes, verified against its address. One statement: `purged_at` is
    /// stored after an inline body, so asking for it apart would read the body twice.
    fn read_blob(&self, hash: &Hash) -> Result<Vec<u8>> {
        // Counted by tests and benchmarks that show an operation reads no body.
        tracing::trace!(target: "mailkeep::body_read", blob = %hex::encode(hash), "body read");
        let not_found =
            || Error::NotFound(format!("blob {} is not in the index", hex::encode(hash)));
        let (loc, purged, data) = self
            .read(|c| {
                Ok(c.prepare_cached(
                    "SELECT segment, offset, length, purged_at, data FROM blobs WHERE hash = ?1",
                )?
                .query_row([&hash[..]], |r| {
                    Ok((
                        Location {
                            segment: r.get(0)?,
                            offset: r.get(1)?,
                            length: r.get(2)?,
                        },
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                })
                .optional()?)
            })?
            .ok_or_else(not_found)?;
        if let Some(at) = purged {
            return Err(Error::Purged {
                hash: hex::encode(hash),
                at,
            });
        }
        if loc.segment != segments::INLINE {
            return self.inner.segments.read(hash, loc);
        }
        let data = data.ok_or_else(not_found)?;
        if &segments::hash(&data) != hash {
            return Err(Error::Corrupt {
                hash: hex::encode(hash),
                reason: "inline content does not match its SHA-256".into(),
            });
        }
        Ok(data)
    }
}
