//! Copying an embedded store (a stopped node's data directory) into PostgreSQL, row for row:
//! the same ids, UIDs, MODSEQs and journal leaves, so that the copy's journal has the same tree
//! head as the source's and every proof made before the move still holds.
//!
//! Resumable: every row goes in with `ON CONFLICT DO NOTHING`, in batches that each commit, so
//! running it again after an interruption continues where it stopped. Memory is bounded by a
//! batch (and one body at a time for bodies kept in segment files).

use std::path::Path;

use mailkeep_store_api::prelude::*;
use mailkeep_store_api::{Error, Hash, Result};
use postgres::types::ToSql;
use rusqlite::types::Value;

use crate::PgStore;
use crate::bodies::Staged;
use crate::conn::Q;

/// Rows per committed batch.
const BATCH: usize = 500;
/// Body bytes per committed batch (they are all in memory while it is stored).
const BATCH_BYTES: usize = 32 << 20;

/// How a column crosses over.
#[derive(Clone, Copy)]
enum Col {
    Int,
    Small,
    Bool,
    Text,
    Bytes,
}

/// Tables in the order their references need, with the columns both schemas share.
const TABLES: &[(&str, &[(&str, Col)])] = &[
    (
        "domains",
        &[
            ("id", Col::Int),
            ("name", Col::Text),
            ("created_at", Col::Int),
            ("deleted_at", Col::Int),
        ],
    ),
    (
        "accounts",
        &[
            ("id", Col::Int),
            ("address", Col::Text),
            ("domain_id", Col::Int),
            ("password_hash", Col::Text),
            ("created_at", Col::Int),
            ("deleted_at", Col::Int),
        ],
    ),
    (
        "aliases",
        &[
            ("id", Col::Int),
            ("source", Col::Text),
            ("account_id", Col::Int),
            ("created_at", Col::Int),
        ],
    ),
    (
        "app_passwords",
        &[
            ("id", Col::Int),
            ("account_id", Col::Int),
            ("name", Col::Text),
            ("hash", Col::Bytes),
            ("scope", Col::Text),
            ("created_at", Col::Int),
            ("revoked_at", Col::Int),
        ],
    ),
    (
        "mailboxes",
        &[
            ("id", Col::Int),
            ("account_id", Col::Int),
            ("name", Col::Text),
            ("special_use", Col::Text),
            ("uidvalidity", Col::Int),
            ("uidnext", Col::Int),
            ("highestmodseq", Col::Int),
            ("subscribed", Col::Bool),
            ("recent_uid", Col::Int),
            ("deleted_at", Col::Int),
        ],
    ),
    // `blobs` is copied apart (its bytes may be in segment files).
    ("parsed", &[("blob_hash", Col::Bytes), ("data", Col::Bytes)]),
    (
        "messages",
        &[
            ("id", Col::Int),
            ("mailbox_id", Col::Int),
            ("uid", Col::Int),
            ("modseq", Col::Int),
            ("flags", Col::Text),
            ("blob_hash", Col::Bytes),
            ("size", Col::Int),
            ("internal_date", Col::Int),
            ("delivery_id", Col::Text),
            ("expunged_at", Col::Int),
        ],
    ),
    (
        "outbound",
        &[
            ("id", Col::Int),
            ("queue_id", Col::Text),
            ("account_id", Col::Int),
            ("sender", Col::Text),
            ("blob_hash", Col::Bytes),
            ("size", Col::Int),
            ("smtputf8", Col::Bool),
            ("body_8bit", Col::Bool),
            ("requiretls", Col::Bool),
            ("created_at", Col::Int),
        ],
    ),
    (
        "outbound_rcpts",
        &[
            ("id", Col::Int),
            ("outbound_id", Col::Int),
            ("address", Col::Text),
            ("domain", Col::Text),
            ("state", Col::Text),
            ("attempts", Col::Int),
            ("next_attempt", Col::Int),
            ("claimed_until", Col::Int),
            ("last_error", Col::Text),
            ("warned", Col::Bool),
            ("finished_at", Col::Int),
        ],
    ),
    (
        "journal",
        &[
            ("idx", Col::Int),
            ("leaf", Col::Bytes),
            ("kind", Col::Small),
            ("time", Col::Int),
            ("mailbox_id", Col::Int),
            ("uid", Col::Int),
        ],
    ),
    ("journal_tree", &[("pos", Col::Int), ("hash", Col::Bytes)]),
    (
        "checkpoints",
        &[
            ("size", Col::Int),
            ("root", Col::Bytes),
            ("time", Col::Int),
            ("note", Col::Text),
        ],
    ),
    (
        "holds",
        &[
            ("id", Col::Int),
            ("account_id", Col::Int),
            ("query", Col::Text),
            ("reason", Col::Text),
            ("created_at", Col::Int),
            ("created_by", Col::Text),
            ("released_at", Col::Int),
            ("released_by", Col::Text),
        ],
    ),
    // Not `submissions`: an hour's counts, and rows without a key a resumed copy would
    // double.
    (
        "sts_policies",
        &[
            ("domain", Col::Text),
            ("id", Col::Text),
            ("text", Col::Text),
            ("expires_at", Col::Int),
        ],
    ),
    (
        "auth_failures",
        &[
            ("id", Col::Int),
            ("at", Col::Int),
            ("ip", Col::Text),
            ("name", Col::Text),
            ("protocol", Col::Text),
        ],
    ),
];

/// Sequences to move past the copied ids: `(table, column)`.
const SERIALS: &[(&str, &str)] = &[
    ("domains", "id"),
    ("accounts", "id"),
    ("aliases", "id"),
    ("app_passwords", "id"),
    ("mailboxes", "id"),
    ("blobs", "seq"),
    ("messages", "id"),
    ("outbound", "id"),
    ("outbound_rcpts", "id"),
    ("holds", "id"),
    ("auth_failures", "id"),
];

/// The PostgreSQL parameter for one SQLite value of a column (typed also when NULL).
fn param(v: Value, col: Col) -> Box<dyn ToSql + Sync + Send> {
    match (col, v) {
        (Col::Int, Value::Integer(i)) => Box::new(Some(i)),
        (Col::Int, _) => Box::new(None::<i64>),
        (Col::Small, Value::Integer(i)) => Box::new(Some(i as i16)),
        (Col::Small, _) => Box::new(None::<i16>),
        (Col::Bool, Value::Integer(i)) => Box::new(Some(i != 0)),
        (Col::Bool, _) => Box::new(None::<bool>),
        (Col::Text, Value::Text(t)) => Box::new(Some(t)),
        (Col::Text, _) => Box::new(None::<String>),
        (Col::Bytes, Value::Blob(b)) => Box::new(Some(b)),
        (Col::Bytes, _) => Box::new(None::<Vec<u8>>),
    }
}

/// Where a copy stands, for a progress display.
pub struct Progress<'a> {
    /// The table being copied.
    pub table: &'a str,
    /// Rows of it copied so far.
    pub done: u64,
    /// Rows it has.
    pub total: u64,
}

/// What a copy did and how it was proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Rows copied (or found already there), all tables.
    pub rows: u64,
    /// Message bodies.
    pub bodies: u64,
    /// Journal leaves in both.
    pub journal_size: u64,
    /// The tree head both have at that size.
    pub root: Hash,
}

fn db(e: rusqlite::Error) -> Error {
    Error::Db(mailkeep_store_api::DbError {
        message: format!("reading the source: {e}"),
        storage_full: false,
    })
}

/// Copies the embedded store in `dir` (not served: it is opened exclusively) into `target`,
/// then checks that the target's journal has the same size and tree head as the source's.
pub fn from_embedded(
    dir: &Path,
    target: &PgStore,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Copied> {
    let source = mailkeep_store::Store::open(dir, mailkeep_store::OpenOptions::exclusive())?;
    let size = source.journal_size()?;
    let root = source.journal_root(size)?;
    let sqlite = rusqlite::Connection::open_with_flags(
        dir.join("meta.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(db)?;
    let mut rows = 0;
    let mut bodies = 0;
    let mut pg = target.connect()?;
    for (i, (table, cols)) in TABLES.iter().enumerate() {
        if i == 5 {
            bodies = copy_blobs(&sqlite, &source, target, &mut pg, progress)?;
            rows += bodies;
        }
        rows += copy_table(&sqlite, &mut pg, table, cols, progress)?;
    }
    let mut tx = pg.transaction().q()?;
    for (table, col) in SERIALS {
        tx.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{col}'),
                           GREATEST((SELECT MAX({col}) FROM {table}), 1))"
        ))
        .q()?;
    }
    tx.execute("UPDATE directory_version SET version = version + 1", &[])
        .q()?;
    tx.commit().q()?;
    source.close();
    let (got_size, got_root) = (target.journal_size()?, target.journal_root(size)?);
    if got_size != size || got_root != root {
        return Err(Error::Conflict(format!(
            "the copy's journal ({got_size} leaves, head {}) is not the source's ({size} leaves, head {}): \
             was the target used before?",
            hex::encode(got_root),
            hex::encode(root)
        )));
    }
    Ok(Copied {
        rows,
        bodies,
        journal_size: size,
        root,
    })
}

fn count(sqlite: &rusqlite::Connection, table: &str) -> Result<u64> {
    sqlite
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
        .map_err(db)
}

fn copy_table(
    sqlite: &rusqlite::Connection,
    pg: &mut postgres::Client,
    table: &str,
    cols: &[(&str, Col)],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<u64> {
    let total = count(sqlite, table)?;
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
        names.join(", "),
        placeholders.join(", ")
    );
    let mut st = sqlite
        .prepare(&format!(
            "SELECT {} FROM {table} ORDER BY {}",
            names.join(", "),
            names[0]
        ))
        .map_err(db)?;
    let mut src = st.query([]).map_err(db)?;
    let mut done = 0u64;
    let mut batch: Vec<Vec<Box<dyn ToSql + Sync + Send>>> = Vec::with_capacity(BATCH);
    while let Some(r) = src.next().map_err(db)? {
        let mut values = Vec::with_capacity(cols.len());
        for (i, (_, col)) in cols.iter().enumerate() {
            values.push(param(r.get::<_, Value>(i).map_err(db)?, *col));
        }
        batch.push(values);
        if batch.len() == BATCH {
            done += insert_batch(pg, &insert, &mut batch)?;
            progress(Progress { table, done, total });
        }
    }
    done += insert_batch(pg, &insert, &mut batch)?;
    progress(Progress { table, done, total });
    Ok(done)
}

/// Inserts (or finds already there) a batch of rows in one transaction.
fn insert_batch(
    pg: &mut postgres::Client,
    insert: &str,
    batch: &mut Vec<Vec<Box<dyn ToSql + Sync + Send>>>,
) -> Result<u64> {
    let mut tx = pg.transaction().q()?;
    let stmt = tx.prepare(insert).q()?;
    let n = batch.len() as u64;
    for values in batch.drain(..) {
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
        tx.execute(&stmt, &refs).q()?;
    }
    tx.commit().q()?;
    Ok(n)
}

/// Bodies, in the order they were first stored (their sequence numbers are kept); bytes kept
/// in segment files are read through the source store, which checks each against its hash.
/// With an object store, each body is uploaded before its row commits, as in delivery, and
/// one already copied is not uploaded again.
fn copy_blobs(
    sqlite: &rusqlite::Connection,
    source: &mailkeep_store::Store,
    target: &PgStore,
    pg: &mut postgres::Client,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<u64> {
    let total = count(sqlite, "blobs")?;
    let mut st = sqlite
        .prepare(
            "SELECT rowid, hash, segment, length, data, secret, purged_at FROM blobs ORDER BY rowid",
        )
        .map_err(db)?;
    let mut src = st.query([]).map_err(db)?;
    let mut done = 0u64;
    let (mut batch, mut bytes) = (Vec::new(), 0usize);
    while let Some(r) = src.next().map_err(db)? {
        let hash: Vec<u8> = r.get(1).map_err(db)?;
        let segment: i64 = r.get(2).map_err(db)?;
        let inline: Option<Vec<u8>> = r.get(4).map_err(db)?;
        let purged_at: Option<i64> = r.get(6).map_err(db)?;
        let copied = pg
            .query_opt("SELECT 1 FROM blobs WHERE hash = $1", &[&hash])
            .q()?
            .is_some();
        let data = match (copied, purged_at, segment, inline) {
            (true, ..) | (false, Some(_), _, _) => None,
            (false, None, 0, Some(d)) => Some(d),
            (false, None, _, _) => {
                let h = crate::journal::hash32(&hash)?;
                Some(source.read_blob(&h)?)
            }
        };
        bytes += data.as_ref().map_or(0, Vec::len);
        batch.push(BlobRow {
            seq: r.get(0).map_err(db)?,
            hash,
            length: r.get(3).map_err(db)?,
            data,
            secret: r.get(5).map_err(db)?,
            purged_at,
        });
        if batch.len() == BATCH || bytes > BATCH_BYTES {
            done += insert_blobs(target, pg, std::mem::take(&mut batch))?;
            bytes = 0;
            progress(Progress {
                table: "blobs",
                done,
                total,
            });
        }
    }
    done += insert_blobs(target, pg, batch)?;
    progress(Progress {
        table: "blobs",
        done,
        total,
    });
    Ok(done)
}

/// A body's row on its way over (`data`: the bytes still to store, `None` when there are none
/// to copy: purged, or copied by an earlier run).
struct BlobRow {
    seq: i64,
    hash: Vec<u8>,
    length: i64,
    data: Option<Vec<u8>>,
    secret: Option<Vec<u8>>,
    purged_at: Option<i64>,
}

/// Stores a batch's bytes (uploads overlapping, with an object store), then its rows in one
/// transaction; a row that is already there is kept.
fn insert_blobs(
    target: &PgStore,
    pg: &mut postgres::Client,
    mut rows: Vec<BlobRow>,
) -> Result<u64> {
    let (mut bodies, mut has_bytes) = (Vec::new(), Vec::new());
    for row in &mut rows {
        has_bytes.push(row.data.is_some());
        if let Some(data) = row.data.take() {
            bodies.push((crate::journal::hash32(&row.hash)?, data));
        }
    }
    let mut staged = target.stage_all(bodies)?.into_iter();
    let mut tx = pg.transaction().q()?;
    for (row, has_bytes) in rows.iter().zip(has_bytes) {
        let (data, key) = match has_bytes.then(|| staged.next()).flatten() {
            Some(Staged::Inline(bytes)) => (Some(bytes), None),
            Some(Staged::Object { key, .. }) => (None, Some(key)),
            None => (None, None),
        };
        tx.execute(
            "INSERT INTO blobs (hash, seq, length, data, secret, purged_at, object_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[
                &row.hash,
                &row.seq,
                &row.length,
                &data,
                &row.secret,
                &row.purged_at,
                &key,
            ],
        )
        .q()?;
    }
    tx.commit().q()?;
    Ok(rows.len() as u64)
}
