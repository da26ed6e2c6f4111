//! The [`Store`] handle and its group-commit writer thread.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::segments::{self, Hash, Location, SegmentReader, SegmentWriter};
use crate::{Error, Result, format, schema};

/// Most writes committed together; bounds the latency a batch adds and its memory.
const MAX_BATCH: usize = 512;

type Work = Box<dyn FnOnce(&Connection, Option<&Hash>) -> Result<()> + Send>;
type Finish = Box<dyn FnOnce(Result<()>) + Send>;

struct Job {
    blob: Option<(Hash, Vec<u8>)>,
    work: Work,
    finish: Finish,
}

/// Options for [`Store::open`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Take the blob writer lock at once (the server does; admin commands that never write
    /// bodies don't, so they can run beside a serving process).
    pub exclusive: bool,
}

struct Inner {
    dir: PathBuf,
    jobs: Mutex<Option<Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    segments: SegmentReader,
}

/// A handle on an open data directory. Cheap to clone; all clones share one writer thread.
///
/// Every method blocks the calling thread (async callers use `spawn_blocking`).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("meta.sqlite")
}

fn blob_dir(dir: &Path) -> PathBuf {
    dir.join("blobs")
}

fn open_connection(dir: &Path) -> Result<Connection> {
    let conn = Connection::open(db_path(dir))?;
    schema::configure(&conn)?;
    Ok(conn)
}

impl Store {
    /// Creates a new, empty store in `dir` (created if missing).
    pub fn create(dir: &Path) -> Result<()> {
        if format::read(dir)?.is_some() {
            return Err(Error::AlreadyInitialised(dir.to_path_buf()));
        }
        std::fs::create_dir_all(blob_dir(dir))
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let mut conn = open_connection(dir)?;
        schema::migrate(&mut conn)?;
        drop(conn);
        format::sync_dir(&blob_dir(dir))?;
        format::write(dir, format::CURRENT)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            format::sync_dir(parent)?;
        }
        Ok(())
    }

    /// Opens an existing store, migrating it to the current format if it is older.
    pub fn open(dir: &Path, options: OpenOptions) -> Result<Store> {
        let found = format::read(dir)?.ok_or_else(|| Error::NotInitialised(dir.to_path_buf()))?;
        if found > format::CURRENT {
            return Err(Error::TooNew {
                found,
                supported: format::CURRENT,
            });
        }
        let mut conn = open_connection(dir)?;
        schema::migrate(&mut conn)?;
        if found < format::CURRENT {
            format::write(dir, format::CURRENT)?;
        }
        let segw = if options.exclusive {
            Some(open_segment_writer(dir, &conn)?)
        } else {
            None
        };
        let (tx, rx) = channel();
        let wdir = dir.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(wdir, conn, segw, rx))
            .map_err(|e| Error::io("spawning writer thread", e))?;
        Ok(Store {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                readers: Mutex::new(Vec::new()),
                segments: SegmentReader::new(&blob_dir(dir)),
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Stops the writer after the writes already queued have committed. Later writes fail
    /// with [`Error::Closed`].
    pub fn close(&self) {
        drop(lock(&self.inner.jobs).take());
        if let Some(h) = lock(&self.inner.writer).take() {
            let _ = h.join();
        }
    }

    /// Runs `work` in the next group-commit batch and returns its result once durable.
    /// With `blob`, the bytes are stored (deduplicated by SHA-256) before `work` runs and
    /// `work` receives their address.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        blob: Option<Vec<u8>>,
        work: impl FnOnce(&Connection, Option<&Hash>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done_tx, done_rx): (SyncSender<Result<T>>, Receiver<Result<T>>) = sync_channel(1);
        self.submit(blob, work, move |r| {
            let _ = done_tx.send(r);
        });
        done_rx.recv().map_err(|_| Error::Closed)?
    }

    /// Like [`Store::write`] without blocking: `done` runs on the writer thread once the
    /// batch is durable (or failed). It must be quick (e.g. send on a channel).
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        blob: Option<Vec<u8>>,
        work: impl FnOnce(&Connection, Option<&Hash>) -> Result<T> + Send + 'static,
        done: impl FnOnce(Result<T>) + Send + 'static,
    ) {
        let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let job = Job {
            blob: blob.map(|b| (segments::hash(&b), b)),
            work: Box::new(move |c, h| {
                let v = work(c, h)?;
                *lock(&out) = Some(v);
                Ok(())
            }),
            finish: Box::new(move |r| {
                done(r.and_then(|()| lock(&slot).take().ok_or(Error::Closed)));
            }),
        };
        let sent = match lock(&self.inner.jobs).as_ref() {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        };
        if let Err(job) = sent {
            (job.finish)(Err(Error::Closed));
        }
    }

    /// Runs `f` on a pooled read connection (sees the last committed state).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.inner.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_connection(&self.inner.dir)?,
        };
        let r = f(&conn);
        lock(&self.inner.readers).push(conn);
        r
    }

    /// Reads a blob's bytes, verified against its address.
    pub fn read_blob(&self, hash: &Hash) -> Result<Vec<u8>> {
        let loc = self.read(|c| blob_location(c, hash))?.ok_or_else(|| {
            Error::NotFound(format!("blob {} is not in the index", hex::encode(hash)))
        })?;
        self.inner.segments.read(hash, loc)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(lock(&self.jobs).take());
        if let Some(h) = lock(&self.writer).take() {
            let _ = h.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn blob_location(c: &Connection, hash: &Hash) -> Result<Option<Location>> {
    Ok(
        c.prepare_cached("SELECT segment, offset, length FROM blobs WHERE hash = ?1")?
            .query_row([&hash[..]], |r| {
                Ok(Location {
                    segment: r.get(0)?,
                    offset: r.get(1)?,
                    length: r.get(2)?,
                })
            })
            .optional()?,
    )
}

fn open_segment_writer(dir: &Path, conn: &Connection) -> Result<SegmentWriter> {
    SegmentWriter::open(&blob_dir(dir), |seg| {
        let end: Option<u64> = conn.query_row(
            "SELECT MAX(offset + length) FROM blobs WHERE segment = ?1",
            [seg],
            |r| r.get(0),
        )?;
        Ok(end.unwrap_or(0))
    })
}

fn writer_loop(
    dir: PathBuf,
    mut conn: Connection,
    mut segw: Option<SegmentWriter>,
    rx: Receiver<Job>,
) {
    let mut poisoned: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if let Some(why) = &poisoned {
            for job in batch {
                (job.finish)(Err(Error::Poisoned(why.clone())));
            }
            continue;
        }
        match commit_batch(&dir, &mut conn, &mut segw, &mut batch) {
            Ok(results) => {
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
                for job in batch {
                    (job.finish)(Err(if poison {
                        Error::Poisoned(why.clone())
                    } else {
                        Error::Io {
                            context: "storing message".into(),
                            cause: std::io::Error::other(why.clone()),
                        }
                    }));
                }
            }
        }
    }
}

/// Commits one batch. `Err((e, true))` means durability is in doubt and the store must be
/// poisoned; `Err((e, false))` failed before anything was promised.
fn commit_batch(
    dir: &Path,
    conn: &mut Connection,
    segw: &mut Option<SegmentWriter>,
    batch: &mut [Job],
) -> std::result::Result<Vec<Result<()>>, (Error, bool)> {
    // 1. Payload first: append every new body, one fsync for all.
    let mut appended: Vec<(Hash, Location)> = Vec::new();
    let mut seen: HashSet<Hash> = HashSet::new();
    for job in batch.iter() {
        let Some((hash, data)) = &job.blob else {
            continue;
        };
        if !seen.insert(*hash) {
            continue;
        }
        if blob_location(conn, hash).map_err(|e| (e, false))?.is_some() {
            continue;
        }
        if segw.is_none() {
            *segw = Some(open_segment_writer(dir, conn).map_err(|e| (e, false))?);
        }
        let w = segw.as_mut().ok_or((Error::Closed, false))?;
        let loc = w.append(hash, data).map_err(|e| (e, false))?;
        appended.push((*hash, loc));
    }
    if !appended.is_empty() {
        let w = segw.as_mut().ok_or((Error::Closed, false))?;
        w.sync().map_err(|e| (e, true))?;
    }
    // 2. Then the commit record: one transaction, one savepoint per job.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| (e.into(), false))?;
    for (hash, loc) in &appended {
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
    // Savepoint statements go through the statement cache: parsing them per job would cost
    // more than the job itself.
    let sql = |tx: &rusqlite::Transaction<'_>, s: &str| {
        tx.prepare_cached(s)
            .and_then(|mut st| st.execute([]))
            .map_err(|e| (Error::from(e), false))
    };
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
