//! Message bodies, content-addressed by SHA-256 and checked against it on every read, and
//! what is derived from them once (parsed records). `blobs.seq` orders them as first stored:
//! rows are allocated under the write lock and never deleted, so everything up to the last
//! sequence number a follower has seen is what it has seen.

use std::collections::HashMap;

use mailkeep_store_api::{Bodies, Error, FedBlob, Hash, Result};

use crate::PgStore;
use crate::conn::Q;
use crate::journal::hash32;

fn fed_blob(r: &postgres::Row) -> Result<FedBlob> {
    Ok(FedBlob {
        seq: r.get::<_, i64>(0) as u64,
        hash: hash32(r.get(1))?,
        length: r.get::<_, i64>(2).max(0) as u64,
    })
}

fn seq(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

impl Bodies for PgStore {
    fn read_blob(&self, hash: &Hash) -> Result<Vec<u8>> {
        // Counted by tests and benchmarks that show an operation reads no body.
        tracing::trace!(target: "mailkeep::body_read", blob = %hex::encode(hash), "body read");
        let h = *hash;
        let row = self.reads().with(move |c| {
            c.query_opt(
                "SELECT purged_at, data FROM blobs WHERE hash = $1",
                &[&&h[..]],
            )
            .q()
        })?;
        let not_found = || Error::NotFound(format!("blob {} is not stored", hex::encode(hash)));
        let row = row.ok_or_else(not_found)?;
        if let Some(at) = row.get::<_, Option<i64>>(0) {
            return Err(Error::Purged {
                hash: hex::encode(hash),
                at,
            });
        }
        let data: Vec<u8> = row.get::<_, Option<Vec<u8>>>(1).ok_or_else(not_found)?;
        if &mailkeep_store_api::hash(&data) != hash {
            return Err(Error::Corrupt {
                hash: hex::encode(hash),
                reason: "content does not match its SHA-256".into(),
            });
        }
        Ok(data)
    }

    fn blobs_after(&self, after: u64, limit: usize) -> Result<Vec<FedBlob>> {
        let (after, limit) = (seq(after), seq(limit as u64));
        self.reads().with(move |c| {
            c.query(
                "SELECT seq, hash, length FROM blobs WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit],
            )
            .q()?
            .iter()
            .map(fed_blob)
            .collect()
        })
    }

    fn unparsed_blobs(&self, after: u64, limit: usize) -> Result<Vec<FedBlob>> {
        let (after, limit) = (seq(after), seq(limit as u64));
        self.reads().with(move |c| {
            c.query(
                "SELECT b.seq, b.hash, b.length FROM blobs b
                 WHERE b.seq > $1 AND b.purged_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM parsed p WHERE p.blob_hash = b.hash)
                 ORDER BY b.seq LIMIT $2",
                &[&after, &limit],
            )
            .q()?
            .iter()
            .map(fed_blob)
            .collect()
        })
    }

    fn parsed(&self, hashes: &[Hash]) -> Result<HashMap<Hash, Vec<u8>>> {
        let keys: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
        self.reads().with(move |c| {
            c.query(
                "SELECT blob_hash, data FROM parsed WHERE blob_hash = ANY($1)",
                &[&keys],
            )
            .q()?
            .iter()
            .map(|r| Ok((hash32(r.get(0))?, r.get(1))))
            .collect()
        })
    }

    fn put_parsed(&self, records: Vec<(Hash, Vec<u8>)>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.writer().write(move |w| {
            let st =
                w.tx.prepare(
                    "INSERT INTO parsed (blob_hash, data)
                     SELECT $1, $2 WHERE EXISTS
                       (SELECT 1 FROM blobs WHERE hash = $1 AND purged_at IS NULL)
                     ON CONFLICT (blob_hash) DO UPDATE SET data = EXCLUDED.data",
                )
                .q()?;
            for (h, d) in &records {
                w.tx.execute(&st, &[&&h[..], d]).q()?;
            }
            Ok(())
        })
    }

    fn blobs_count_after(&self, after: u64) -> Result<u64> {
        let after = seq(after);
        self.reads().with(move |c| {
            let n: i64 = c
                .query_one("SELECT COUNT(*) FROM blobs WHERE seq > $1", &[&after])
                .q()?
                .get(0);
            Ok(n as u64)
        })
    }

    fn last_blob_seq(&self) -> Result<u64> {
        self.reads().with(|c| {
            let n: i64 = c
                .query_one("SELECT COALESCE(MAX(seq), 0) FROM blobs", &[])
                .q()?
                .get(0);
            Ok(n as u64)
        })
    }

    fn blob_at(&self, at: u64) -> Result<Option<Hash>> {
        let at = seq(at);
        self.reads().with(move |c| {
            c.query_opt("SELECT hash FROM blobs WHERE seq = $1", &[&at])
                .q()?
                .map(|r| hash32(r.get(0)))
                .transpose()
        })
    }

    fn purged_blobs(&self) -> Result<Vec<Hash>> {
        self.reads().with(|c| {
            c.query("SELECT hash FROM blobs WHERE purged_at IS NOT NULL", &[])
                .q()?
                .iter()
                .map(|r| hash32(r.get(0)))
                .collect()
        })
    }

    fn purged_count(&self) -> Result<u64> {
        self.reads().with(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM blobs WHERE purged_at IS NOT NULL",
                    &[],
                )
                .q()?
                .get(0);
            Ok(n as u64)
        })
    }
}
