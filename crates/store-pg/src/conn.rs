//! Connections. Reads run on the caller's thread with a pooled connection; every write goes
//! through this node's committer thread, which runs all writes waiting at that moment in one
//! transaction (a savepoint each, so that one failing write does not fail its neighbours) and
//! answers them after `COMMIT` returned: group commit, as the embedded backend does.
//!
//! Writes of all nodes are serialised by one transaction-scoped advisory lock, taken first
//! in every write transaction. That is what makes the journal one gap-free ordered log and
//! the change feed's positions commit-ordered across nodes: a position or leaf index is
//! allocated and committed while the lock is held, so no later-committing transaction can
//! hold a lower one. UIDs and MODSEQs come from `UPDATE … RETURNING` on the mailbox row.
//!
//! The `postgres` client runs its own small runtime and must not be entered from async code,
//! so every call runs on one of this node's threads: readers and the committer.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use mailkeep_store_api::{Clock, DbError, Done, Error, Result};
use postgres::error::SqlState;
use postgres::{Client, Config, IsolationLevel, NoTls, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::changes::Note;

/// Where the database is and how connections reach it: plain TCP, or TLS with the server's
/// certificate verified (`PgStore::open` requires TLS then, so no connection falls back).
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) config: Config,
    pub(crate) tls: Option<MakeRustlsConnect>,
}

impl Db {
    pub(crate) fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        let mut c = match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(NoTls)?,
        };
        insist_on_durable_commits(&mut c)?;
        Ok(c)
    }
}

/// A commit must wait for its WAL on disk and for a synchronous standby when one is
/// configured: `synchronous_commit` `on` or `remote_apply`. A server, database or role
/// default that weakens it (`off`, `local`, `remote_write`) is raised to `on` for mailkeep's
/// sessions, since a `250` must not depend on how the database happens to be tuned.
fn insist_on_durable_commits(c: &mut Client) -> std::result::Result<(), postgres::Error> {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let level: String = c.query_one("SHOW synchronous_commit", &[])?.get(0);
    if !matches!(level.as_str(), "on" | "remote_apply") {
        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                %level,
                "the database's synchronous_commit would acknowledge commits a crash or failover \
                 can lose; mailkeep's sessions use `on`"
            );
        }
        c.batch_execute("SET synchronous_commit = on")?;
    }
    Ok(())
}

/// The advisory lock every write transaction takes (an arbitrary constant: "mk" + 1).
const WRITE_LOCK: i64 = 0x6d6b_0001;

/// Reader threads (and connections) per node.
const READERS: usize = 8;

/// Writes run in one transaction at most.
const MAX_BATCH: usize = 256;

/// The seam's error for a database failure.
pub(crate) fn db(e: postgres::Error) -> Error {
    db_copy(&e)
}

/// What went wrong, with its causes: the driver's own text alone is often just "db error" or
/// "error performing TLS handshake"; the reason an operator needs is further down its chain.
fn describe(e: &postgres::Error) -> String {
    if let Some(d) = e.as_db_error() {
        return format!("{}: {}", d.code().code(), d.message());
    }
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message = format!("{message}: {c}");
        cause = c.source();
    }
    message
}

/// `?` for database results.
pub(crate) trait Q<T> {
    /// The result with the seam's error.
    fn q(self) -> Result<T>;
}

impl<T> Q<T> for std::result::Result<T, postgres::Error> {
    fn q(self) -> Result<T> {
        self.map_err(db)
    }
}

/// A unique violation as `Conflict(what)`, anything else as a database error.
pub(crate) fn conflict_on_unique(e: postgres::Error, what: String) -> Error {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        Error::Conflict(what)
    } else {
        db(e)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent, also when it panics.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A read, run by a reader thread with its connection (or the reason it has none).
type ReadJob = Box<dyn FnOnce(Result<&mut Client>) + Send>;

/// Reader threads, each with its own connection. Reads run there rather than on the
/// caller's thread because the blocking client may not be entered from async code, and a
/// caller cannot tell whether it is in some (the server's blocking pool is not).
pub(crate) struct Readers {
    jobs: Mutex<Option<std::sync::mpsc::Sender<ReadJob>>>,
}

impl Readers {
    pub(crate) fn start(db: Db) -> Result<Readers> {
        let (tx, rx) = std::sync::mpsc::channel::<ReadJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..READERS {
            let (rx, db) = (rx.clone(), db.clone());
            std::thread::Builder::new()
                .name(format!("store-pg-read-{i}"))
                .spawn(move || reader(db, rx))
                .map_err(|e| Error::io("spawning a reader", e))?;
        }
        Ok(Readers {
            jobs: Mutex::new(Some(tx)),
        })
    }

    /// Runs `f` with a connection (statements autocommit: one snapshot each).
    pub(crate) fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: ReadJob = Box::new(move |c| {
            let _ = tx.send(c.and_then(f));
        });
        match &*lock(&self.jobs) {
            Some(jobs) => jobs.send(job).map_err(|_| Error::Closed)?,
            None => return Err(Error::Closed),
        }
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// Stops the reader threads once the reads queued are done.
    pub(crate) fn close(&self) {
        lock(&self.jobs).take();
    }

    /// Runs `f` in a read-only transaction that sees one snapshot.
    pub(crate) fn snapshot<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.with(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .q()?;
            let r = f(&mut tx)?;
            tx.commit().q()?;
            Ok(r)
        })
    }
}

/// A reader thread: keeps a connection, makes a new one when it broke.
fn reader(db: Db, jobs: Arc<Mutex<std::sync::mpsc::Receiver<ReadJob>>>) {
    let mut client: Option<Client> = None;
    loop {
        let job = match lock(&jobs).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = None;
            match db.connect() {
                Ok(c) => client = Some(c),
                Err(e) => {
                    job(Err(unavailable(&e)));
                    continue;
                }
            }
        }
        match client.as_mut() {
            Some(c) => job(Ok(c)),
            None => job(Err(Error::Closed)),
        }
    }
}

/// What a write sees: its savepoint inside the batch's transaction, the time, and the
/// change notes it makes (entered in the feed only if it succeeds).
pub(crate) struct W<'a, 'b> {
    pub(crate) tx: &'a mut Transaction<'b>,
    pub(crate) now: i64,
    pub(crate) notes: Vec<Note>,
}

/// Answers a write once its transaction's fate is known.
type Finish = Box<dyn FnOnce(Result<()>) + Send>;

/// One write waiting for the committer.
trait Job: Send {
    /// Runs in the batch's transaction: whether it succeeded, and how to answer it.
    fn run(self: Box<Self>, w: &mut W<'_, '_>) -> (bool, Finish);
    /// Answers it without running it.
    fn fail(self: Box<Self>, e: Error);
}

struct Typed<T, F> {
    work: F,
    done: Done<T>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send + 'static,
    F: for<'a, 'b> FnOnce(&mut W<'a, 'b>) -> Result<T> + Send,
{
    fn run(self: Box<Self>, w: &mut W<'_, '_>) -> (bool, Finish) {
        let Typed { work, done } = *self;
        let r = work(w);
        let ok = r.is_ok();
        let finish: Finish = Box::new(move |commit| {
            done(match (r, commit) {
                (Ok(v), Ok(())) => Ok(v),
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            })
        });
        (ok, finish)
    }

    fn fail(self: Box<Self>, e: Error) {
        (self.done)(Err(e))
    }
}

#[derive(Default)]
struct QueueState {
    jobs: Vec<Box<dyn Job>>,
    closed: bool,
}

#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    wake: Condvar,
}

/// The node's committer.
pub(crate) struct Writer {
    queue: Arc<Queue>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(db: Db, clock: Arc<dyn Clock>) -> Result<Writer> {
        let queue = Arc::new(Queue::default());
        let q = queue.clone();
        let thread = std::thread::Builder::new()
            .name("store-pg-commit".into())
            .spawn(move || committer(db, clock, q))
            .map_err(|e| Error::io("spawning the committer", e))?;
        Ok(Writer {
            queue,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `work` in the next batch; `done` gets its result once committed.
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        work: impl for<'a, 'b> FnOnce(&mut W<'a, 'b>) -> Result<T> + Send + 'static,
        done: Done<T>,
    ) {
        let job = Box::new(Typed { work, done });
        let mut st = lock(&self.queue.state);
        if st.closed {
            drop(st);
            return job.fail(Error::Closed);
        }
        st.jobs.push(job);
        drop(st);
        self.queue.wake.notify_all();
    }

    /// Runs `work` in the next batch and waits until it is committed.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        work: impl for<'a, 'b> FnOnce(&mut W<'a, 'b>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(
            work,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// No more writes; waits for those queued.
    pub(crate) fn close(&self) {
        lock(&self.queue.state).closed = true;
        self.queue.wake.notify_all();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

fn take_jobs(queue: &Queue) -> Option<Vec<Box<dyn Job>>> {
    let mut st = lock(&queue.state);
    loop {
        if !st.jobs.is_empty() {
            let n = st.jobs.len().min(MAX_BATCH);
            return Some(st.jobs.drain(..n).collect());
        }
        if st.closed {
            return None;
        }
        st = queue.wake.wait(st).unwrap_or_else(|p| p.into_inner());
    }
}

fn committer(db: Db, clock: Arc<dyn Clock>, queue: Arc<Queue>) {
    let mut client: Option<Client> = None;
    while let Some(jobs) = take_jobs(&queue) {
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            match db.connect() {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "the database is unreachable; writes fail until it returns");
                    for job in jobs {
                        job.fail(unavailable(&e));
                    }
                    // Not a busy loop while the database is away.
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };
        run_batch(c, jobs, &*clock);
    }
}

fn unavailable(e: &postgres::Error) -> Error {
    Error::Db(DbError {
        message: format!("database unavailable: {}", describe(e)),
        storage_full: false,
    })
}

/// Runs jobs in one transaction, each in a savepoint, and answers them after the commit.
/// A commit whose outcome is unknown (the connection broke during it) fails every job: the
/// caller retries, which may store a message twice, never loses one.
fn run_batch(c: &mut Client, jobs: Vec<Box<dyn Job>>, clock: &dyn Clock) {
    let mut tx = match c.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            for job in jobs {
                job.fail(db_copy(&e));
            }
            return;
        }
    };
    if let Err(e) = tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]) {
        for job in jobs {
            job.fail(db_copy(&e));
        }
        return;
    }
    let mut finishes = Vec::with_capacity(jobs.len());
    let mut notes = Vec::new();
    let mut broken: Option<Error> = None;
    for job in jobs {
        if let Some(e) = &broken {
            job.fail(copy(e));
            continue;
        }
        let mut sp = match tx.savepoint("job") {
            Ok(sp) => sp,
            Err(e) => {
                broken = Some(db(e));
                job.fail(copy(broken.as_ref().expect("just set")));
                continue;
            }
        };
        let mut w = W {
            tx: &mut sp,
            now: clock.now(),
            notes: Vec::new(),
        };
        let (ok, finish) = job.run(&mut w);
        let job_notes = std::mem::take(&mut w.notes);
        if ok {
            match sp.commit() {
                Ok(()) => notes.extend(job_notes),
                Err(e) => broken = Some(db(e)),
            }
        }
        // A failed job's savepoint rolls back when dropped.
        finishes.push(finish);
    }
    let result = match broken {
        Some(e) => Err(e),
        None => crate::changes::enter(&mut tx, notes).and_then(|()| tx.commit().q()),
    };
    for finish in finishes {
        finish(match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(copy(e)),
        });
    }
}

fn db_copy(e: &postgres::Error) -> Error {
    Error::Db(DbError {
        message: describe(e),
        storage_full: e.code() == Some(&SqlState::DISK_FULL),
    })
}

/// The same failure for another job (the seam's error is not `Clone`: it may hold an OS error).
fn copy(e: &Error) -> Error {
    match e {
        Error::Db(d) => Error::Db(d.clone()),
        Error::Conflict(m) => Error::Conflict(m.clone()),
        Error::NotFound(m) => Error::NotFound(m.clone()),
        Error::Closed => Error::Closed,
        other => Error::Db(DbError {
            message: other.to_string(),
            storage_full: other.is_storage_full(),
        }),
    }
}
