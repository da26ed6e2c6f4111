//! Salvage of a damaged database: every row that can still be read is copied into a new
//! database of the same format, and the damaged one is kept beside it.
//!
//! SQLite stops a query at the first page it cannot read, so rows are copied in key order a
//! chunk at a time; where a chunk fails, the rows of that chunk are read one by one, and past
//! a run of unreadable keys the copy probes further and further ahead until it finds rows
//! again. What could not be read is reported as key ranges per table. Row ids are kept, so
//! every reference between rows (and the body sequence the full-text index follows) stays
//! valid. Rows left pointing at a lost parent (a mailbox entry whose mailbox row is gone) are
//! dropped and counted; entries whose body row is lost are kept, for `fsck` to relink from
//! the segment files.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use crate::{Error, Result, format, schema};

/// What a salvage copied and lost.
#[derive(Debug, Default)]
pub struct Salvage {
    /// Rows copied, per table.
    pub copied: Vec<(String, u64)>,
    /// What could not be read: one sentence each.
    pub lost: Vec<String>,
    /// Where the damaged database was moved.
    pub damaged: PathBuf,
}

/// Rows per query.
const CHUNK: i64 = 512;
/// How far ahead the copy probes past unreadable keys before giving up on a table.
const MAX_SKIP: i64 = 1 << 40;

struct Table {
    name: String,
    columns: Vec<String>,
    /// `rowid`, or the primary key columns of a WITHOUT ROWID table.
    key: Vec<String>,
}

fn tables(dst: &Connection) -> Result<Vec<Table>> {
    let mut st = dst.prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         ORDER BY rootpage",
    )?;
    let names: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (name, sql) in names {
        let mut info = dst.prepare(&format!("PRAGMA table_info(\"{name}\")"))?;
        let cols: Vec<(String, i64)> = info
            .query_map([], |r| Ok((r.get(1)?, r.get(5)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let without_rowid = sql.to_ascii_uppercase().contains("WITHOUT ROWID");
        let mut pk: Vec<(i64, String)> = cols
            .iter()
            .filter(|(_, p)| *p > 0)
            .map(|(n, p)| (*p, n.clone()))
            .collect();
        pk.sort();
        out.push(Table {
            key: if without_rowid {
                pk.into_iter().map(|(_, n)| n).collect()
            } else {
                vec!["rowid".into()]
            },
            columns: cols.into_iter().map(|(n, _)| n).collect(),
            name,
        });
    }
    Ok(out)
}

/// Copies what can be read of one table; returns rows copied.
fn copy_table(src: &Connection, dst: &Connection, t: &Table, lost: &mut Vec<String>) -> u64 {
    let rowid = t.key == ["rowid"];
    let key = t.key.join(", ");
    let mut select_cols = t.key.clone();
    if rowid {
        select_cols.extend(t.columns.iter().cloned());
    } else {
        select_cols.extend(t.columns.iter().filter(|c| !t.key.contains(c)).cloned());
    }
    let list = select_cols.join(", ");
    let marks = vec!["?"; t.key.len()].join(", ");
    let after = format!(
        "SELECT {list} FROM \"{}\" WHERE ({key}) > ({marks}) ORDER BY {key} LIMIT ?",
        t.name
    );
    let first = format!("SELECT {list} FROM \"{}\" ORDER BY {key} LIMIT ?", t.name);
    let insert = format!(
        "INSERT OR IGNORE INTO \"{}\" ({list}) VALUES ({})",
        t.name,
        vec!["?"; select_cols.len()].join(", ")
    );
    let fetch = |last: Option<&[Value]>, limit: i64| -> rusqlite::Result<Vec<Vec<Value>>> {
        let (sql, mut args): (&str, Vec<Value>) = match last {
            Some(k) => (&after, k.to_vec()),
            None => (&first, Vec::new()),
        };
        args.push(Value::Integer(limit));
        let mut st = src.prepare(sql)?;
        let n = select_cols.len();
        let rows = st.query_map(params_from_iter(args), |r| {
            (0..n).map(|i| r.get::<_, Value>(i)).collect()
        })?;
        rows.collect()
    };
    let (mut copied, mut last): (u64, Option<Vec<Value>>) = (0, None);
    let mut put = |row: &[Value]| {
        if dst.execute(&insert, params_from_iter(row.iter())).is_ok() {
            copied += 1;
        }
    };
    // A chunk that fails is read again row by row; after a run of good rows, chunks resume.
    let (mut limit, mut good) = (CHUNK, 0);
    loop {
        match fetch(last.as_deref(), limit) {
            Ok(rows) if rows.is_empty() => break,
            Ok(rows) => {
                for r in &rows {
                    put(r);
                }
                last = rows.last().map(|r| r[..t.key.len()].to_vec());
                good += rows.len();
                if limit == 1 && good > 64 {
                    limit = CHUNK;
                }
            }
            Err(_) if limit > 1 => (limit, good) = (1, 0),
            Err(e) if rowid => {
                // Past the damage: probe one key further at a time, then ever further.
                let from = match last.as_deref() {
                    Some([Value::Integer(i)]) => *i,
                    _ => 0,
                };
                let mut step = 1;
                let resumed = loop {
                    if step > MAX_SKIP {
                        break None;
                    }
                    let probe = [Value::Integer(from + step)];
                    match fetch(Some(&probe), 1) {
                        Ok(rows) => break Some(rows),
                        Err(_) => step = if step < 256 { step + 1 } else { step * 2 },
                    }
                };
                let next = resumed.as_ref().and_then(|rows| match rows.first()?[0] {
                    Value::Integer(i) => Some(i),
                    _ => None,
                });
                lost.push(match next {
                    Some(n) => format!(
                        "{}: rows with row ids {} to {} could not be read ({e})",
                        t.name,
                        from + 1,
                        n - 1
                    ),
                    None => format!(
                        "{}: every row after row id {from} could not be read ({e})",
                        t.name
                    ),
                });
                let Some(rows) = resumed.filter(|r| !r.is_empty()) else {
                    break;
                };
                for r in &rows {
                    put(r);
                }
                last = rows.last().map(|r| r[..1].to_vec());
                good = 0;
            }
            Err(e) => {
                lost.push(format!(
                    "{}: rows after key {:?} could not be read ({e})",
                    t.name,
                    last.as_deref().unwrap_or_default()
                ));
                break;
            }
        }
    }
    copied
}

/// Drops rows whose parent row was lost, except mailbox entries whose body row was lost
/// (`fsck` relinks those from the segment files). Returns one sentence per table.
fn drop_orphans(dst: &Connection) -> Result<Vec<String>> {
    let mut st = dst.prepare("PRAGMA foreign_key_check")?;
    let rows: Vec<(String, Option<i64>, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut by_table: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for (table, rowid, parent) in rows {
        if parent == "blobs" {
            continue;
        }
        if let Some(id) = rowid {
            by_table.entry(table).or_default().push(id);
        }
    }
    let mut out = Vec::new();
    for (table, ids) in by_table {
        for id in &ids {
            dst.execute(&format!("DELETE FROM \"{table}\" WHERE rowid = ?1"), [id])?;
        }
        out.push(format!(
            "{table}: {} row(s) dropped because the row they belong to was lost",
            ids.len()
        ));
    }
    Ok(out)
}

/// Copies every readable row of `dir`'s database into a new one and puts it in its place;
/// the damaged file is kept as `meta.sqlite.damaged-<unix time>`. The server must not run.
pub fn salvage(dir: &Path) -> Result<Salvage> {
    let db = crate::writer::db_path(dir);
    // Read-only, so the damaged file is kept exactly as found (its log is still read).
    let src = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let found = schema::version(&src)?;
    if found != format::CURRENT {
        return Err(Error::Conflict(format!(
            "the damaged database is at format {found}; this binary salvages format {} only",
            format::CURRENT
        )));
    }
    let fresh = dir.join("meta.sqlite.salvage");
    for stale in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{stale}", fresh.display()));
    }
    let mut dst = Connection::open(&fresh)?;
    schema::migrate(&mut dst)?;
    dst.execute_batch("PRAGMA foreign_keys = OFF; PRAGMA synchronous = FULL; BEGIN;")?;
    let mut report = Salvage::default();
    for t in tables(&dst)? {
        let n = copy_table(&src, &dst, &t, &mut report.lost);
        report.copied.push((t.name, n));
    }
    report.lost.extend(drop_orphans(&dst)?);
    dst.execute_batch("COMMIT;")?;
    let problems: Vec<String> = dst
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    if problems != ["ok"] {
        return Err(Error::Conflict(format!(
            "the salvaged copy does not check out: {}",
            problems.join("; ")
        )));
    }
    dst.execute_batch("PRAGMA journal_mode = DELETE;")?;
    drop(dst);
    drop(src);
    std::fs::File::open(&fresh)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(format!("fsync {}", fresh.display()), e))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    report.damaged = dir.join(format!("meta.sqlite.damaged-{stamp}"));
    let mv = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(|e| Error::io(format!("moving {}", from.display()), e))
    };
    mv(&db, &report.damaged)?;
    for side in ["-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{side}", db.display()));
        if p.exists() {
            mv(
                &p,
                &PathBuf::from(format!("{}{side}", report.damaged.display())),
            )?;
        }
    }
    mv(&fresh, &db)?;
    format::sync_dir(dir)?;
    Ok(report)
}
