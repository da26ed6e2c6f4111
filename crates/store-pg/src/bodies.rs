//! Message bodies, content-addressed by SHA-256 and checked against it on every read, and
//! what is derived from them once (parsed records). `blobs.seq` orders them as first stored:
//! rows are allocated under the write lock and never deleted, so everything up to the last
//! sequence number a follower has seen is what it has seen.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mailkeep_store_api::{Bodies, Error, FedBlob, Hash, Result};

use crate::PgStore;
use crate::conn::Q;
use crate::journal::hash32;

/// How long a writer may take from an object's PUT to its commit; a slower one fails (the
/// client retries) rather than commit a key the collector may already judge an orphan
/// (see `objects`).
pub(crate) const WRITE_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// A body ready to enter the database: its bytes (for `blobs.data`), or the key of the
/// object an S3 store has acknowledged.
pub(crate) enum Staged {
    Inline(Vec<u8>),
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    Object {
        key: String,
        length: u64,
        at: Instant,
    },
}

impl Staged {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Staged::Inline(b) => b.len() as u64,
            Staged::Object { length, .. } => *length,
        }
    }
}

impl PgStore {
    /// Puts a body where bodies go; with an object store, waits for its acknowledgement.
    pub(crate) fn stage(&self, hash: &Hash, bytes: Vec<u8>) -> Result<Staged> {
        #[cfg(feature = "s3")]
        if let Some(o) = &self.inner.objects {
            let (length, at) = (bytes.len() as u64, Instant::now());
            let key = o.put_blocking(hash, bytes)?;
            return Ok(Staged::Object { key, length, at });
        }
        let _ = hash;
        Ok(Staged::Inline(bytes))
    }

    /// [`PgStore::stage`] for many bodies, in order; with an object store, up to
    /// [`OBJECT_WRITES_IN_FLIGHT`] uploads overlap (a bulk copy would otherwise wait for
    /// each PUT's replication in turn).
    #[cfg(feature = "migrate")]
    pub(crate) fn stage_all(&self, bodies: Vec<(Hash, Vec<u8>)>) -> Result<Vec<Staged>> {
        #[cfg(feature = "s3")]
        if let Some(o) = &self.inner.objects {
            let at = Instant::now();
            let lengths: Vec<u64> = bodies.iter().map(|(_, b)| b.len() as u64).collect();
            let keys = o.put_all(bodies, OBJECT_WRITES_IN_FLIGHT)?;
            return Ok(keys
                .into_iter()
                .zip(lengths)
                .map(|(key, length)| Staged::Object { key, length, at })
                .collect());
        }
        Ok(bodies
            .into_iter()
            .map(|(_, bytes)| Staged::Inline(bytes))
            .collect())
    }

    /// [`PgStore::stage`] without blocking the caller: `then` runs once the body is
    /// acknowledged (on the S3 client's runtime), or at once when it goes in the database.
    pub(crate) fn stage_then(
        &self,
        hash: &Hash,
        bytes: Vec<u8>,
        then: impl FnOnce(Result<Staged>) + Send + 'static,
    ) {
        #[cfg(feature = "s3")]
        if let Some(o) = &self.inner.objects {
            let (length, at) = (bytes.len() as u64, Instant::now());
            return o.put_then(hash, bytes, move |r| {
                then(r.map(|key| Staged::Object { key, length, at }))
            });
        }
        let _ = hash;
        then(Ok(Staged::Inline(bytes)))
    }

    /// The bytes of an object, checked against the hash the row names.
    #[cfg_attr(not(feature = "s3"), allow(clippy::unused_self))]
    fn object_bytes(&self, hash: &Hash, key: &str) -> Result<Vec<u8>> {
        #[cfg(feature = "s3")]
        if let Some(o) = &self.inner.objects {
            return o.get(key)?.ok_or_else(|| missing_object(hash, key));
        }
        Err(Error::Conflict(format!(
            "body {} is in an object store ({key}), which this node is not configured for",
            hex::encode(hash)
        )))
    }

    /// The object keys of those of `hashes` whose live bytes are in the object store.
    #[cfg(feature = "s3")]
    fn object_keys(&self, hashes: &[Hash]) -> Result<Vec<(Hash, String)>> {
        let wanted: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
        self.reads().with(move |c| {
            c.query(
                "SELECT hash, object_key FROM blobs WHERE hash = ANY($1)
                   AND purged_at IS NULL AND data IS NULL AND object_key IS NOT NULL",
                &[&wanted],
            )
            .q()?
            .iter()
            .map(|r| Ok((hash32(r.get(0))?, r.get::<_, String>(1))))
            .collect()
        })
    }

    /// Reads those of `hashes` whose bytes are in the object store, many at a time, into
    /// `out` (by position); the others (inline, purged, unknown) are left `None`.
    #[cfg(feature = "s3")]
    fn read_objects(&self, hashes: &[Hash], out: &mut [Option<Result<Vec<u8>>>]) {
        let Some(o) = &self.inner.objects else {
            return;
        };
        // The database failing here fails each read after with its own error.
        let keys: HashMap<Hash, String> = self
            .object_keys(hashes)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let wanted: Vec<(usize, String)> = hashes
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((i, keys.get(h)?.clone())))
            .collect();
        let got = o.get_all(
            wanted.iter().map(|(_, k)| k.clone()).collect(),
            OBJECT_READS_IN_FLIGHT,
        );
        let Ok(got) = got else {
            return;
        };
        for ((i, key), got) in wanted.into_iter().zip(got) {
            let hash = &hashes[i];
            tracing::trace!(target: "mailkeep::body_read", blob = %hex::encode(hash), "body read");
            out[i] =
                Some(got.and_then(|data| {
                    checked(hash, data.ok_or_else(|| missing_object(hash, &key))?)
                }));
        }
    }

    /// Checks those of `hashes` whose bytes are in the object store, many reads at a time;
    /// returns the others (inline, purged, unknown), which the caller reads one by one.
    #[cfg(feature = "s3")]
    fn check_objects(&self, hashes: &[Hash], each: &mut dyn FnMut(&Hash, Result<()>)) -> Vec<Hash> {
        let Some(o) = &self.inner.objects else {
            return hashes.to_vec();
        };
        // The database failing here fails each read below with its own error.
        let keys = self.object_keys(hashes).unwrap_or_default();
        let in_objects: std::collections::HashSet<Hash> = keys.iter().map(|(h, _)| *h).collect();
        let others = hashes
            .iter()
            .filter(|h| !in_objects.contains(*h))
            .copied()
            .collect();
        o.hash_each(keys, OBJECT_READS_IN_FLIGHT, &mut |(hash, key, got)| {
            let corrupt = |reason: String| Error::Corrupt {
                hash: hex::encode(hash),
                reason,
            };
            each(
                &hash,
                match got {
                    Ok(Some(h)) if h == hash => Ok(()),
                    Ok(Some(_)) => Err(corrupt("content does not match its SHA-256".into())),
                    Ok(None) => Err(missing_object(&hash, &key)),
                    Err(e) => Err(e),
                },
            )
        });
        others
    }

    /// Deletes the objects of purged bodies; one left behind is collected later.
    pub(crate) fn drop_objects(&self, keys: Vec<String>) {
        #[cfg(feature = "s3")]
        if let (Some(o), false) = (&self.inner.objects, keys.is_empty())
            && let Err(e) = o.delete(keys)
        {
            tracing::warn!("purged bodies stay in the object store until collected: {e}");
        }
        #[cfg(not(feature = "s3"))]
        let _ = keys;
    }

    /// Removes objects no live row names and older than `grace` (bodies of deliveries that
    /// never committed, and of purges whose delete failed); returns (seen, deleted). Below
    /// [`crate::GC_GRACE`], a body being delivered right now may be taken for an orphan.
    #[cfg(feature = "s3")]
    pub fn collect_garbage(&self, grace: Duration) -> Result<(u64, u64)> {
        let Some(o) = &self.inner.objects else {
            return Ok((0, 0));
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        o.collect(grace, now, |keys| {
            let keys = keys.to_vec();
            self.reads().with(move |c| {
                Ok(c.query(
                    "SELECT object_key FROM blobs
                     WHERE object_key = ANY($1) AND purged_at IS NULL",
                    &[&keys],
                )
                .q()?
                .iter()
                .map(|r| r.get(0))
                .collect())
            })
        })
    }
}

/// A row names an object the store does not have.
#[cfg(feature = "s3")]
fn missing_object(hash: &Hash, key: &str) -> Error {
    Error::Corrupt {
        hash: hex::encode(hash),
        reason: format!("object {key} is missing from the object store"),
    }
}

/// `data`, when it is the body `hash` names.
fn checked(hash: &Hash, data: Vec<u8>) -> Result<Vec<u8>> {
    if &mailkeep_store_api::hash(&data) != hash {
        return Err(Error::Corrupt {
            hash: hex::encode(hash),
            reason: "content does not match its SHA-256".into(),
        });
    }
    Ok(data)
}

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

/// Object reads [`Bodies::check_blobs`] keeps waiting at once: enough to hide a store's
/// latency, few enough that their bodies fit in memory.
#[cfg(feature = "s3")]
const OBJECT_READS_IN_FLIGHT: usize = 16;
/// Uploads [`PgStore::stage_all`] keeps waiting at once.
#[cfg(all(feature = "s3", feature = "migrate"))]
const OBJECT_WRITES_IN_FLIGHT: usize = 16;

impl Bodies for PgStore {
    fn read_blob(&self, hash: &Hash) -> Result<Vec<u8>> {
        // Counted by tests and benchmarks that show an operation reads no body.
        tracing::trace!(target: "mailkeep::body_read", blob = %hex::encode(hash), "body read");
        let h = *hash;
        let row = self.reads().with(move |c| {
            c.query_opt(
                "SELECT purged_at, data, object_key FROM blobs WHERE hash = $1",
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
        let data: Vec<u8> = match (row.get(1), row.get::<_, Option<String>>(2)) {
            (Some(data), _) => data,
            (None, Some(key)) => self.object_bytes(hash, &key)?,
            (None, None) => return Err(not_found()),
        };
        checked(hash, data)
    }

    fn read_blobs(&self, hashes: &[Hash]) -> Vec<Result<Vec<u8>>> {
        #[cfg_attr(not(feature = "s3"), allow(unused_mut))]
        let mut out: Vec<Option<Result<Vec<u8>>>> = hashes.iter().map(|_| None).collect();
        #[cfg(feature = "s3")]
        if hashes.len() > 1 {
            self.read_objects(hashes, &mut out);
        }
        out.into_iter()
            .zip(hashes)
            .map(|(got, hash)| got.unwrap_or_else(|| self.read_blob(hash)))
            .collect()
    }

    fn check_blobs(&self, hashes: &[Hash], each: &mut dyn FnMut(&Hash, Result<()>)) {
        #[cfg(feature = "s3")]
        let hashes = &self.check_objects(hashes, each)[..];
        for hash in hashes {
            each(hash, self.read_blob(hash).map(drop));
        }
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
