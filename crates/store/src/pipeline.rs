//! The group-commit pipeline: an appender thread and a committer thread.
//!
//! ```text
//!  jobs ──▶ appender: take all waiting jobs, append new bodies, fdatasync ──▶ sealed batch
//!  sealed batch ──▶ committer: one SQLite transaction (a savepoint per job), COMMIT, reply
//! ```
//!
//! Ordering that the durability contract rests on: a batch reaches the committer only after
//! its bodies are durable, and a job is answered only after its transaction committed. The
//! stages overlap (the appender may seal batch N+1 while batch N commits), which halves the
//! time a delivery waits for fsyncs.
//!
//! Deduplication across the two stages: a body appended but not yet committed is "in flight";
//! a later job with the same hash reuses it instead of appending it again. Should the earlier
//! batch fail to commit, the later job fails too (its blob row is missing), never silently.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior};

use crate::segments::{Hash, Location, SegmentWriter};
use crate::writer::{blob_location, lock, open_connection, open_segment_writer};
use crate::{Error, Result};

/// Most writes committed together; bounds the latency a batch adds and its memory.
const MAX_BATCH: usize = 512;

pub(crate) type Work = Box<dyn FnOnce(&Connection, Option<&Hash>) -> Result<()> + Send>;
pub(crate) type Finish = Box<dyn FnOnce(Result<()>) + Send>;

/// One write: optional body bytes, the SQL work, and who to tell.
pub(crate) struct Job {
    pub blob: Option<(Hash, Vec<u8>)>,
    pub work: Work,
    pub finish: Finish,
}

/// A batch whose bodies are durable, on its way to the committer.
struct Sealed {
    jobs: Vec<Job>,
    appended: Vec<(Hash, Location)>,
}

#[derive(Default)]
struct Shared {
    /// Set after an fsync or commit failure; every later write fails until restart.
    poisoned: Mutex<Option<String>>,
    /// Bodies appended and synced but not yet committed.
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

/// A failure and whether durability is in doubt (which poisons the store).
type StageError = (Error, bool);

/// Starts both stages; `conn` becomes the committer's connection.
pub(crate) fn start(
    dir: &Path,
    conn: Connection,
    segw: Option<SegmentWriter>,
    jobs: Receiver<Job>,
) -> Result<Vec<JoinHandle<()>>> {
    let shared = Arc::new(Shared::default());
    let (sealed_tx, sealed_rx) = sync_channel::<Sealed>(1);
    let lookup = open_connection(dir)?;
    let (s1, s2) = (shared.clone(), shared);
    let wdir = dir.to_path_buf();
    let appender = std::thread::Builder::new()
        .name("store-append".into())
        .spawn(move || appender(wdir, lookup, segw, jobs, sealed_tx, s1))
        .map_err(|e| Error::io("spawning store thread", e))?;
    let committer = std::thread::Builder::new()
        .name("store-commit".into())
        .spawn(move || committer(conn, sealed_rx, s2))
        .map_err(|e| Error::io("spawning store thread", e))?;
    Ok(vec![appender, committer])
}

fn appender(
    dir: PathBuf,
    lookup: Connection,
    mut segw: Option<SegmentWriter>,
    jobs: Receiver<Job>,
    sealed: SyncSender<Sealed>,
    shared: Arc<Shared>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if let Some(why) = shared.poisoned() {
            fail_all(batch, || Error::Poisoned(why.clone()));
            continue;
        }
        let started = std::time::Instant::now();
        match append_and_sync(&dir, &lookup, &mut segw, &batch, &shared) {
            Ok(appended) => {
                tracing::debug!(
                    jobs = batch.len(),
                    bodies = appended.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "bodies durable"
                );
                if let Err(e) = sealed.send(Sealed {
                    jobs: batch,
                    appended,
                }) {
                    fail_all(e.0.jobs, || Error::Closed);
                }
            }
            Err((err, poison)) => {
                tracing::error!(error = %err, poison, "storing message bodies failed");
                let why = err.to_string();
                if poison {
                    shared.poison(&why);
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

/// Payload first: appends every body not yet stored or in flight, then one fsync for all.
fn append_and_sync(
    dir: &Path,
    lookup: &Connection,
    segw: &mut Option<SegmentWriter>,
    batch: &[Job],
    shared: &Shared,
) -> std::result::Result<Vec<(Hash, Location)>, StageError> {
    let mut appended: Vec<(Hash, Location)> = Vec::new();
    let mut seen: HashSet<Hash> = HashSet::new();
    let result = (|| {
        for job in batch {
            let Some((hash, data)) = &job.blob else {
                continue;
            };
            if !seen.insert(*hash) || lock(&shared.in_flight).contains(hash) {
                continue;
            }
            if blob_location(lookup, hash)
                .map_err(|e| (e, false))?
                .is_some()
            {
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
    match result {
        Ok(()) => {
            lock(&shared.in_flight).extend(appended.iter().map(|(h, _)| *h));
            Ok(appended)
        }
        Err(e) => Err(e),
    }
}

fn committer(mut conn: Connection, sealed: Receiver<Sealed>, shared: Arc<Shared>) {
    while let Ok(Sealed { mut jobs, appended }) = sealed.recv() {
        let started = std::time::Instant::now();
        let outcome = match shared.poisoned() {
            Some(why) => Err((Error::Poisoned(why), true)),
            None => commit(&mut conn, &mut jobs, &appended),
        };
        tracing::debug!(
            jobs = jobs.len(),
            micros = started.elapsed().as_micros() as u64,
            "batch committed"
        );
        // Only now may the appender find these bodies in the database instead.
        {
            let mut in_flight = lock(&shared.in_flight);
            for (h, _) in &appended {
                in_flight.remove(h);
            }
        }
        match outcome {
            Ok(results) => {
                for (job, r) in jobs.into_iter().zip(results) {
                    (job.finish)(r);
                }
            }
            Err((err, poison)) => {
                tracing::error!(error = %err, poison, "group commit failed");
                let why = err.to_string();
                if poison {
                    shared.poison(&why);
                }
                fail_all(jobs, || stage_error(&why, poison));
            }
        }
    }
}

/// Then the commit record: one transaction, one savepoint per job.
fn commit(
    conn: &mut Connection,
    batch: &mut [Job],
    appended: &[(Hash, Location)],
) -> std::result::Result<Vec<Result<()>>, StageError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| (e.into(), false))?;
    // Statements go through the statement cache: parsing them per job would cost more than
    // running them.
    let sql = |tx: &rusqlite::Transaction<'_>, s: &str| {
        tx.prepare_cached(s)
            .and_then(|mut st| st.execute([]))
            .map_err(|e| (Error::from(e), false))
    };
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
    let mut results = Vec::with_capacity(batch.len());
    for job in batch.iter_mut() {
        let work = std::mem::replace(&mut job.work, Box::new(|_, _| Ok(())));
        let hash = job.blob.as_ref().map(|(h, _)| *h);
        sql(&tx, "SAVEPOINT job")?;
        let r = work(&tx, hash.as_ref());
        if r.is_err() {
            sql(&tx, "ROLLBACK TO job")?; // undoes this job only
        }
        sql(&tx, "RELEASE job")?;
        results.push(r);
    }
    tx.commit().map_err(|e| (e.into(), true))?;
    Ok(results)
}
