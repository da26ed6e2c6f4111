//! The group-commit writer: one thread that turns every waiting write into one batch.
//!
//! ```text
//!  jobs ──▶ take all waiting jobs ──▶ append large new bodies to a segment, fdatasync
//!        ──▶ one SQLite transaction: small new bodies inline, a savepoint per job ──▶ COMMIT
//!        ──▶ answer every job
//! ```
//!
//! Ordering that the durability contract rests on: segment bytes are durable before the
//! transaction that references them commits, and a job is answered only after the commit.
//! Bodies up to [`INLINE_MAX`] travel inside the transaction, so a batch of ordinary mail
//! costs a single fsync (the WAL's). Jobs that arrive while a batch commits form the next
//! batch; a lone job is never delayed.
//!
//! A second thread checkpoints the WAL into the database so that a commit never waits for it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior};

use crate::segments::{Hash, INLINE_MAX, Location, SegmentWriter};
use crate::writer::{blob_location, open_connection, open_segment_writer};
use crate::{Error, Result};

/// Most writes committed together; bounds the latency a batch adds and its memory.
const MAX_BATCH: usize = 512;

/// The SQL part of a write. It may run twice: see [`commit`].
pub(crate) type Work = Box<dyn FnMut(&Connection, Option<&Hash>) -> Result<()> + Send>;
pub(crate) type Finish = Box<dyn FnOnce(Result<()>) + Send>;

/// One write: optional body bytes, the SQL work, and who to tell.
pub(crate) struct Job {
    pub blob: Option<(Hash, Vec<u8>)>,
    pub work: Work,
    pub finish: Finish,
}

fn fail_all(jobs: Vec<Job>, err: impl Fn() -> Error) {
    for job in jobs {
        (job.finish)(Err(err()));
    }
}

/// A failure and whether durability is in doubt (which poisons the store: retrying an fsync
/// after it failed can report success for data the kernel already dropped).
type StageError = (Error, bool);

/// Starts the writer and the checkpointer; `conn` becomes the writer's connection.
pub(crate) fn start(
    dir: &Path,
    conn: Connection,
    segw: Option<SegmentWriter>,
    jobs: Receiver<Job>,
) -> Result<Vec<JoinHandle<()>>> {
    // Checkpoints run beside the writer so that copying WAL pages into the database never
    // stalls a commit; the writer's own auto-checkpoint is only a backstop.
    conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    let (committed_tx, committed_rx) = sync_channel::<()>(1);
    let ckpt_conn = open_connection(dir)?;
    let wdir = dir.to_path_buf();
    let writer = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer(wdir, conn, segw, jobs, committed_tx))
        .map_err(|e| Error::io("spawning store thread", e))?;
    let checkpointer = std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || checkpointer(ckpt_conn, committed_rx))
        .map_err(|e| Error::io("spawning store thread", e))?;
    Ok(vec![writer, checkpointer])
}

/// Copies committed WAL frames into the database after commits, without blocking writers
/// (PASSIVE). Ends when the committer does.
fn checkpointer(conn: Connection, committed: Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::{Duration, Instant};
    const EVERY: Duration = Duration::from_millis(200);
    let mut dirty = false;
    let mut last = Instant::now();
    loop {
        match committed.recv_timeout(EVERY) {
            Ok(()) => dirty = true,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if dirty && last.elapsed() >= EVERY {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            dirty = false;
            last = Instant::now();
        }
    }
}

fn writer(
    dir: PathBuf,
    mut conn: Connection,
    mut segw: Option<SegmentWriter>,
    jobs: Receiver<Job>,
    committed: SyncSender<()>,
) {
    let mut poisoned: Option<String> = None;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if let Some(why) = &poisoned {
            fail_all(batch, || Error::Poisoned(why.clone()));
            continue;
        }
        let started = std::time::Instant::now();
        let outcome = append_and_sync(&dir, &conn, &mut segw, &batch)
            .and_then(|(appended, inline)| commit(&mut conn, &mut batch, &appended, &inline));
        tracing::debug!(
            jobs = batch.len(),
            micros = started.elapsed().as_micros() as u64,
            "batch committed"
        );
        match outcome {
            Ok(results) => {
                let _ = committed.try_send(());
                for (job, r) in batch.into_iter().zip(results) {
                    (job.finish)(r);
                }
            }
            Err((err, poison)) => {
                tracing::error!(error = %err, poison, "group commit failed");
                let why = err.to_string();
                if poison {
                    poisoned = Some(why.clone());
                }
                fail_all(batch, || stage_error(&why, poison));
            }
        }
    }
}

fn stage_error(why: &str, poison: bool) -> Error {
    if poison {
        Error::Poisoned(why.to_owned())
    } else {
        Error::Io {
            context: "storing message".into(),
            cause: std::io::Error::other(why.to_owned()),
        }
    }
}

/// Payload first: appends every large body not yet stored or in flight, then one fsync for
/// all. Small new bodies are only marked for inline storage.
#[allow(clippy::type_complexity)]
fn append_and_sync(
    dir: &Path,
    lookup: &Connection,
    segw: &mut Option<SegmentWriter>,
    batch: &[Job],
) -> std::result::Result<(Vec<(Hash, Location)>, Vec<usize>), StageError> {
    let mut appended: Vec<(Hash, Location)> = Vec::new();
    let mut inline: Vec<usize> = Vec::new();
    let mut seen: HashSet<Hash> = HashSet::new();
    let result = (|| {
        for (i, job) in batch.iter().enumerate() {
            let Some((hash, data)) = &job.blob else {
                continue;
            };
            if !seen.insert(*hash) {
                continue;
            }
            if blob_location(lookup, hash)
                .map_err(|e| (e, false))?
                .is_some()
            {
                continue;
            }
            if data.len() <= INLINE_MAX {
                inline.push(i);
                continue;
            }
            if segw.is_none() {
                *segw = Some(open_segment_writer(dir, lookup).map_err(|e| (e, false))?);
            }
            let w = segw.as_mut().ok_or((Error::Closed, false))?;
            let loc = w.append(hash, data).map_err(|e| (e, false))?;
            appended.push((*hash, loc));
        }
        if let Some(w) = segw.as_mut().filter(|_| !appended.is_empty()) {
            w.sync().map_err(|e| (e, true))?;
        }
        Ok(())
    })();
    result?;
    Ok((appended, inline))
}

/// Starts the batch's transaction and enters its new bodies: small ones inline, large ones
/// by their (already durable) segment location.
fn begin<'c>(
    conn: &'c mut Connection,
    batch: &[Job],
    appended: &[(Hash, Location)],
    inline: &[usize],
) -> std::result::Result<rusqlite::Transaction<'c>, StageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| (e.into(), false))?;
    // Statements go through the statement cache: parsing them per job would cost more than
    // running them.
    for &i in inline {
        let Some((hash, data)) = batch.get(i).and_then(|j| j.blob.as_ref()) else {
            continue;
        };
        tx.prepare_cached(
            "INSERT INTO blobs (hash, segment, offset, length, data) VALUES (?1, 0, 0, ?2, ?3)",
        )
        .and_then(|mut st| st.execute(rusqlite::params![&hash[..], data.len() as u64, data]))
        .map_err(|e| (e.into(), false))?;
    }
    for (hash, loc) in appended {
        tx.prepare_cached(
            "INSERT INTO blobs (hash, segment, offset, length) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut st| {
            st.execute(rusqlite::params![
                &hash[..],
                loc.segment,
                loc.offset,
                loc.length
            ])
        })
        .map_err(|e| (e.into(), false))?;
    }
    Ok(tx)
}

/// Then the commit record: one transaction for the whole batch.
fn commit(
    conn: &mut Connection,
    batch: &mut [Job],
    appended: &[(Hash, Location)],
    inline: &[usize],
) -> std::result::Result<Vec<Result<()>>, StageError> {
    let tx = begin(conn, batch, appended, inline)?;
    // Optimistically run every job straight in the transaction; only if one fails is the
    // batch run again with a savepoint around each job, so that the failure undoes just
    // that job. Savepoints on every job would cost more than the jobs themselves.
    let mut results: Vec<Result<()>> = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let hash = job.blob.as_ref().map(|(h, _)| *h);
        results.push((job.work)(&tx, hash.as_ref()));
    }
    if results.iter().any(Result::is_err) {
        drop(tx); // rolls back
        return commit_isolated(conn, batch, appended, inline);
    }
    tx.commit().map_err(|e| (e.into(), true))?;
    Ok(results)
}

/// [`commit`] for a batch in which some job fails: each job in its own savepoint.
fn commit_isolated(
    conn: &mut Connection,
    batch: &mut [Job],
    appended: &[(Hash, Location)],
    inline: &[usize],
) -> std::result::Result<Vec<Result<()>>, StageError> {
    let tx = begin(conn, batch, appended, inline)?;
    let sql = |tx: &rusqlite::Transaction<'_>, s: &str| {
        tx.prepare_cached(s)
            .and_then(|mut st| st.execute([]))
            .map_err(|e| (Error::from(e), false))
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let hash = job.blob.as_ref().map(|(h, _)| *h);
        sql(&tx, "SAVEPOINT job")?;
        let r = (job.work)(&tx, hash.as_ref());
        if r.is_err() {
            sql(&tx, "ROLLBACK TO job")?; // undoes this job only
        }
        sql(&tx, "RELEASE job")?;
        results.push(r);
    }
    tx.commit().map_err(|e| (e.into(), true))?;
    Ok(results)
}
