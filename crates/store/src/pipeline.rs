//! The group-commit pipeline: an appender thread and a committer thread.
//!
//! ```text
//!  submit ──▶ queue ──▶ appender: append new bodies to a segment, fdatasync ──▶ synced
//!  synced ──(whenever the committer is idle)──▶ committer: one SQLite transaction, COMMIT,
//!                                                answer every job
//! ```
//!
//! Ordering that the durability contract rests on: a body is durable (segment fsynced, or
//! inline in the transaction itself) before the transaction that references it commits, and a
//! job is answered only after its transaction committed.
//!
//! The stages overlap: while the committer commits one batch, the appender makes the next
//! jobs' bodies durable, and hands everything it has synced to the committer the moment it is
//! idle. So a delivery waits for about one body fsync and one commit, not for a queue of them,
//! and a lone job is never delayed. Bodies of at most [`INLINE_MAX`] bytes skip the segment
//! and ride in the transaction.
//!
//! Deduplication: a small body is entered with INSERT OR IGNORE; a large body appended but
//! not yet committed is "in flight", and a later job with the same hash reuses it. Should the
//! earlier batch fail to commit, the later job fails too (its blob row is missing), never
//! silently.
//!
//! A third thread checkpoints the WAL into the database so that a commit never waits for it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior};

use crate::segments::{Hash, INLINE_MAX, Location, SegmentWriter};
use crate::writer::{blob_location, lock, open_connection, open_segment_writer};
use crate::{Error, Result};

/// Most jobs taken from the queue at once; bounds the work between two hand-overs.
const MAX_TAKE: usize = 512;

/// The SQL part of a write. It may run twice: see [`commit`].
pub(crate) type Work = Box<dyn FnMut(&Connection, Option<&Hash>) -> Result<()> + Send>;
pub(crate) type Finish = Box<dyn FnOnce(Result<()>) + Send>;

/// One write: optional body bytes, the SQL work, and who to tell.
pub(crate) struct Job {
    pub blob: Option<(Hash, Vec<u8>)>,
    pub work: Work,
    pub finish: Finish,
}

/// What the transaction must record about a job's body.
enum NewBody {
    /// No body, or one already stored (or in flight).
    Known,
    /// A small body, stored inline by the transaction unless already there.
    Inline,
    /// A new body already durable in a segment.
    Segment(Location),
}

/// Jobs whose bodies are durable, with what their transaction must enter.
#[derive(Default)]
struct Batch {
    jobs: Vec<Job>,
    bodies: Vec<NewBody>,
}

impl Batch {
    fn new_hashes(&self) -> impl Iterator<Item = Hash> + '_ {
        self.jobs
            .iter()
            .zip(&self.bodies)
            .filter(|(_, b)| matches!(b, NewBody::Segment(_)))
            .filter_map(|(j, _)| j.blob.as_ref().map(|(h, _)| *h))
    }
}

#[derive(Default)]
struct QueueState {
    jobs: Vec<Job>,
    closed: bool,
    committer_idle: bool,
}

/// Where writes wait for the appender. Also carries the committer's "idle" signal, so the
/// appender can wait for either with one condition variable.
#[derive(Default)]
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    wake: Condvar,
}

impl Queue {
    /// Enqueues a write, or fails it at once if the store is closed.
    pub fn push(&self, job: Job) {
        let mut st = lock(&self.state);
        if st.closed {
            drop(st);
            (job.finish)(Err(Error::Closed));
            return;
        }
        st.jobs.push(job);
        drop(st);
        self.wake.notify_all();
    }

    /// No more writes; those queued still complete.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.wake.notify_all();
    }

    fn set_committer_idle(&self) {
        lock(&self.state).committer_idle = true;
        self.wake.notify_all();
    }
}

#[derive(Default)]
struct Shared {
    /// Set after an fsync or commit failure; every later write fails until restart.
    poisoned: Mutex<Option<String>>,
    /// Bodies made durable (or marked inline) but not yet committed.
    in_flight: Mutex<HashSet<Hash>>,
}

impl Shared {
    fn poisoned(&self) -> Option<String> {
        lock(&self.poisoned).clone()
    }

    fn poison(&self, why: &str) {
        lock(&self.poisoned).get_or_insert_with(|| why.to_owned());
    }
}

fn fail_all(jobs: Vec<Job>, err: impl Fn() -> Error) {
    for job in jobs {
        (job.finish)(Err(err()));
    }
}

/// A failure and whether durability is in doubt (which poisons the store: retrying an fsync
/// after it failed can report success for data the kernel already dropped).
type StageError = (Error, bool);

/// A failure's reason as the jobs it fails are told, marked when the disk is full.
fn reason(err: &Error) -> String {
    if err.is_storage_full() {
        format!("{}{err}", mailkeep_store_api::STORAGE_FULL)
    } else {
        err.to_string()
    }
}

fn stage_error(why: &str, poison: bool) -> Error {
    if poison {
        Error::Poisoned(why.to_owned())
    } else {
        let kind = if why.starts_with(mailkeep_store_api::STORAGE_FULL) {
            std::io::ErrorKind::StorageFull
        } else {
            std::io::ErrorKind::Other
        };
        Error::Io {
            context: "storing message".into(),
            cause: std::io::Error::new(kind, why.to_owned()),
        }
    }
}

/// Starts the appender, the committer and the checkpointer; `conn` becomes the committer's.
pub(crate) fn start(
    dir: &Path,
    conn: Connection,
    segw: Option<SegmentWriter>,
    queue: Arc<Queue>,
    clock: Arc<dyn crate::Clock>,
) -> Result<Vec<JoinHandle<()>>> {
    // Checkpoints run on their own thread so that copying WAL pages into the database never
    // stalls a commit; the committer's own auto-checkpoint is only a backstop.
    conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    let shared = Arc::new(Shared::default());
    lock(&queue.state).committer_idle = true;
    let (batch_tx, batch_rx) = sync_channel::<Batch>(1);
    let (committed_tx, committed_rx) = sync_channel::<()>(1);
    let lookup = open_connection(dir)?;
    let ckpt_conn = open_connection(dir)?;
    let wdir = dir.to_path_buf();
    let (s1, s2, q1, q2) = (shared.clone(), shared, queue.clone(), queue);
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(|e| Error::io("spawning store thread", e))
    };
    Ok(vec![
        spawn(
            "store-append",
            Box::new(move || appender(wdir, lookup, segw, q1, batch_tx, s1)),
        )?,
        spawn(
            "store-commit",
            Box::new(move || {
                crate::journal_ops::use_clock(clock);
                committer(conn, batch_rx, q2, s2, committed_tx)
            }),
        )?,
        spawn(
            "store-checkpoint",
            Box::new(move || checkpointer(ckpt_conn, committed_rx)),
        )?,
    ])
}

/// Copies committed WAL frames into the database, without blocking writers (PASSIVE), at
/// most every 200 ms while commits happen. Ends when the committer does.
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

fn appender(
    dir: PathBuf,
    lookup: Connection,
    mut segw: Option<SegmentWriter>,
    queue: Arc<Queue>,
    to_committer: SyncSender<Batch>,
    shared: Arc<Shared>,
) {
    let mut synced = Batch::default();
    loop {
        // Wait for new jobs, or for the committer to be ready for what is already synced.
        let (jobs, hand_over) = {
            let mut st = lock(&queue.state);
            loop {
                let can_hand_over = st.committer_idle && !synced.jobs.is_empty();
                if !st.jobs.is_empty() || can_hand_over {
                    break;
                }
                if st.closed && synced.jobs.is_empty() {
                    return; // dropping `to_committer` ends the committer after its last batch
                }
                st = queue.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            let n = st.jobs.len().min(MAX_TAKE);
            let jobs: Vec<Job> = st.jobs.drain(..n).collect();
            // With new jobs to sync first, hand over only afterwards: they may join.
            let hand_over = jobs.is_empty();
            if hand_over {
                st.committer_idle = false;
            }
            (jobs, hand_over)
        };
        if hand_over {
            let batch = std::mem::take(&mut synced);
            if let Err(e) = to_committer.send(batch) {
                fail_all(e.0.jobs, || Error::Closed);
            }
            continue;
        }
        if let Some(why) = shared.poisoned() {
            fail_all(jobs, || Error::Poisoned(why.clone()));
            continue;
        }
        let started = std::time::Instant::now();
        match make_durable(&dir, &lookup, &mut segw, &jobs, &shared) {
            Ok(bodies) => {
                tracing::trace!(
                    jobs = jobs.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "bodies durable"
                );
                synced.jobs.extend(jobs);
                synced.bodies.extend(bodies);
            }
            Err((err, poison)) => {
                tracing::error!(error = %err, poison, "storing message bodies failed");
                let why = reason(&err);
                if poison {
                    shared.poison(&why);
                }
                fail_all(jobs, || stage_error(&why, poison));
            }
        }
        // Hand over at once if the committer is idle.
        let idle = {
            let mut st = lock(&queue.state);
            let idle = st.committer_idle && !synced.jobs.is_empty();
            if idle {
                st.committer_idle = false;
            }
            idle
        };
        if idle && let Err(e) = to_committer.send(std::mem::take(&mut synced)) {
            fail_all(e.0.jobs, || Error::Closed);
        }
    }
}

/// Payload first: appends every new body too large to inline, then one fsync for all.
fn make_durable(
    dir: &Path,
    lookup: &Connection,
    segw: &mut Option<SegmentWriter>,
    jobs: &[Job],
    shared: &Shared,
) -> std::result::Result<Vec<NewBody>, StageError> {
    let mut bodies = Vec::with_capacity(jobs.len());
    let mut seen: HashSet<Hash> = HashSet::new();
    let mut appended = false;
    for job in jobs {
        let Some((hash, data)) = &job.blob else {
            bodies.push(NewBody::Known);
            continue;
        };
        // Small bodies need no lookup: the transaction enters them with INSERT OR IGNORE.
        if data.len() <= INLINE_MAX {
            bodies.push(NewBody::Inline);
            continue;
        }
        let known = !seen.insert(*hash)
            || lock(&shared.in_flight).contains(hash)
            || blob_location(lookup, hash)
                .map_err(|e| (e, false))?
                .is_some();
        if known {
            bodies.push(NewBody::Known);
        } else {
            if segw.is_none() {
                match open_segment_writer(dir, lookup) {
                    Ok(w) => *segw = Some(w),
                    // The server holds the segment files: a process beside it (the CLI's
                    // import) stores large bodies in the database, durable by its commit.
                    Err(Error::Locked(_)) => {
                        bodies.push(NewBody::Inline);
                        continue;
                    }
                    Err(e) => return Err((e, false)),
                }
            }
            let w = segw.as_mut().ok_or((Error::Closed, false))?;
            bodies.push(NewBody::Segment(
                w.append(hash, data).map_err(|e| (e, false))?,
            ));
            appended = true;
        }
    }
    if appended && let Some(w) = segw.as_mut() {
        w.sync().map_err(|e| (e, true))?;
    }
    let mut in_flight = lock(&shared.in_flight);
    for (job, body) in jobs.iter().zip(&bodies) {
        if let (Some((h, _)), NewBody::Segment(_)) = (&job.blob, body) {
            in_flight.insert(*h);
        }
    }
    Ok(bodies)
}

fn committer(
    mut conn: Connection,
    batches: Receiver<Batch>,
    queue: Arc<Queue>,
    shared: Arc<Shared>,
    committed: SyncSender<()>,
) {
    while let Ok(mut batch) = batches.recv() {
        let started = std::time::Instant::now();
        let outcome = match shared.poisoned() {
            Some(why) => Err((Error::Poisoned(why), true)),
            None => commit(&mut conn, &mut batch),
        };
        tracing::debug!(
            jobs = batch.jobs.len(),
            micros = started.elapsed().as_micros() as u64,
            "batch committed"
        );
        // Only now may the appender find these bodies in the database instead.
        {
            let mut in_flight = lock(&shared.in_flight);
            for h in batch.new_hashes() {
                in_flight.remove(&h);
            }
        }
        queue.set_committer_idle();
        match outcome {
            Ok(results) => {
                let _ = committed.try_send(());
                for (job, r) in batch.jobs.into_iter().zip(results) {
                    (job.finish)(r);
                }
            }
            Err((err, poison)) => {
                tracing::error!(error = %err, poison, "group commit failed");
                let why = reason(&err);
                if poison {
                    shared.poison(&why);
                }
                fail_all(batch.jobs, || stage_error(&why, poison));
            }
        }
    }
}

/// Starts the batch's transaction and enters its new bodies: small ones inline, large ones
/// by their (already durable) segment location.
fn begin<'c>(
    conn: &'c mut Connection,
    batch: &Batch,
) -> std::result::Result<rusqlite::Transaction<'c>, StageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| (e.into(), false))?;
    // Statements go through the statement cache: parsing them per job would cost more than
    // running them.
    for (job, body) in batch.jobs.iter().zip(&batch.bodies) {
        let Some((hash, data)) = &job.blob else {
            continue;
        };
        let r = match body {
            NewBody::Known => continue,
            NewBody::Inline => tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO blobs (hash, segment, offset, length, data, secret)
                     VALUES (?1, 0, 0, ?2, ?3, ?4)",
                )
                .and_then(|mut st| {
                    let secret: [u8; 32] = rand::random();
                    st.execute(rusqlite::params![
                        &hash[..],
                        data.len() as u64,
                        data,
                        &secret[..]
                    ])
                }),
            NewBody::Segment(loc) => tx
                .prepare_cached(
                    "INSERT INTO blobs (hash, segment, offset, length, secret)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut st| {
                    let secret: [u8; 32] = rand::random();
                    st.execute(rusqlite::params![
                        &hash[..],
                        loc.segment,
                        loc.offset,
                        loc.length,
                        &secret[..]
                    ])
                }),
        };
        r.map_err(|e| (e.into(), false))?;
    }
    Ok(tx)
}

/// Then the commit record: one transaction for the whole batch.
fn commit(
    conn: &mut Connection,
    batch: &mut Batch,
) -> std::result::Result<Vec<Result<()>>, StageError> {
    crate::change_ops::reset();
    let tx = begin(conn, batch)?;
    // Optimistically run every job straight in the transaction; only if one fails is the
    // batch run again with a savepoint around each job, so that the failure undoes just
    // that job. Savepoints on every job would cost more than the jobs themselves.
    let mut results: Vec<Result<()>> = Vec::with_capacity(batch.jobs.len());
    for job in batch.jobs.iter_mut() {
        let hash = job.blob.as_ref().map(|(h, _)| *h);
        let r = kept((job.work)(&tx, hash.as_ref()));
        abandoned(&tx, &r)?;
        results.push(r);
    }
    if results.iter().any(Result::is_err) {
        drop(tx); // rolls back
        return commit_isolated(conn, batch);
    }
    enter_changes(&tx)?;
    tx.commit().map_err(|e| (e.into(), true))?;
    Ok(results)
}

/// A job's changes are kept for the batch's commit; a failed job's are dropped.
fn kept(r: Result<()>) -> Result<()> {
    match r {
        Ok(()) => {
            crate::change_ops::keep();
            Ok(())
        }
        Err(e) => {
            crate::change_ops::discard();
            Err(e)
        }
    }
}

/// Enters the batch's changes in the feed: part of the commit, so a failure fails the batch.
fn enter_changes(tx: &rusqlite::Transaction<'_>) -> std::result::Result<(), StageError> {
    crate::change_ops::enter(tx).map_err(|e| (e, false))
}

/// On some errors (disk full, I/O error, out of memory) SQLite rolls the whole transaction
/// back by itself. Running further jobs would then commit each on its own, so stop and
/// poison instead: what was durable is in doubt.
fn abandoned(
    tx: &rusqlite::Transaction<'_>,
    r: &Result<()>,
) -> std::result::Result<(), StageError> {
    match r {
        Err(e) if tx.is_autocommit() => Err((
            Error::Poisoned(format!("SQLite abandoned the transaction: {e}")),
            true,
        )),
        _ => Ok(()),
    }
}

/// [`commit`] for a batch in which some job fails: each job in its own savepoint.
fn commit_isolated(
    conn: &mut Connection,
    batch: &mut Batch,
) -> std::result::Result<Vec<Result<()>>, StageError> {
    crate::change_ops::reset();
    let tx = begin(conn, batch)?;
    let sql = |tx: &rusqlite::Transaction<'_>, s: &str| {
        tx.prepare_cached(s)
            .and_then(|mut st| st.execute([]))
            .map_err(|e| (Error::from(e), false))
    };
    let mut results = Vec::with_capacity(batch.jobs.len());
    for job in batch.jobs.iter_mut() {
        let hash = job.blob.as_ref().map(|(h, _)| *h);
        sql(&tx, "SAVEPOINT job")?;
        let r = kept((job.work)(&tx, hash.as_ref()));
        abandoned(&tx, &r)?;
        if r.is_err() {
            sql(&tx, "ROLLBACK TO job")?; // undoes this job only
        }
        sql(&tx, "RELEASE job")?;
        results.push(r);
    }
    enter_changes(&tx)?;
    tx.commit().map_err(|e| (e.into(), true))?;
    Ok(results)
}
