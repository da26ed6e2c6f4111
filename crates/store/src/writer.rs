//! The [`Store`] handle: opening, reads, and handing writes to the commit pipeline.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OptionalExtension};

use crate::pipeline::{self, Job, Queue};
use crate::segments::{self, Hash, Location, SegmentReader, SegmentWriter};
use crate::{Error, Result, format, schema};

/// Options for [`Store::open`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Take the blob writer lock at once (the server does; admin commands that never write
    /// bodies don't, so they can run beside a serving process).
    pub exclusive: bool,
    /// Where writes take their time from (the system clock when `None`).
    pub clock: Option<Arc<dyn crate::Clock>>,
}

impl OpenOptions {
    /// Options of the process that serves the directory (takes the blob writer lock).
    pub fn exclusive() -> OpenOptions {
        OpenOptions {
            exclusive: true,
            clock: None,
        }
    }
}

pub(crate) struct Inner {
    dir: PathBuf,
    queue: Arc<Queue>,
    writer: Mutex<Vec<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    pub(crate) segments: SegmentReader,
    pub(crate) stamp: crate::ops::StampReader,
}

/// A handle on an open data directory. Cheap to clone; all clones share one writer thread.
///
/// Every method blocks the calling thread (async callers use `spawn_blocking`).
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    /// Recorded in the journal for writes through this handle ([`Store::acting`]).
    pub(crate) actor: Arc<crate::Actor>,
}

/// The data directory holds every account's mail and password hash: only its owner may
/// enter it. Made so at creation, and put back (with a warning) when the server opens one
/// that lets others in.
fn owner_only(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        if format::read(dir).ok().flatten().is_some() {
            tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "the data directory was open to other users; now 700");
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("restricting {} to its owner", dir.display()), e))?;
    }
    Ok(())
}

pub(crate) fn db_path(dir: &Path) -> PathBuf {
    dir.join("meta.sqlite")
}

fn blob_dir(dir: &Path) -> PathBuf {
    dir.join("blobs")
}

pub(crate) fn open_connection(dir: &Path) -> Result<Connection> {
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
        owner_only(dir)?;
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
        if options.exclusive {
            owner_only(dir)?;
        }
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
        let queue = Arc::new(Queue::default());
        let clock = options
            .clock
            .unwrap_or_else(|| Arc::new(crate::SystemClock));
        let handles = pipeline::start(dir, conn, segw, queue.clone(), clock)?;
        Ok(Store {
            actor: Arc::new(crate::Actor::system()),
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                queue,
                writer: Mutex::new(handles),
                readers: Mutex::new(Vec::new()),
                segments: SegmentReader::new(&blob_dir(dir)),
                stamp: crate::ops::StampReader::default(),
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
        self.inner.queue.close();
        for h in std::mem::take(&mut *lock(&self.inner.writer)) {
            let _ = h.join();
        }
    }

    /// Runs `work` in the next group-commit batch and returns its result once durable.
    /// With `blob`, the bytes are stored (deduplicated by SHA-256) before `work` runs and
    /// `work` receives their address.
    pub(crate) fn write<T: Send + 'static>(
        &self,
        blob: Option<Vec<u8>>,
        work: impl FnMut(&Connection, Option<&Hash>) -> Result<T> + Send + 'static,
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
        work: impl FnMut(&Connection, Option<&Hash>) -> Result<T> + Send + 'static,
        done: impl FnOnce(Result<T>) + Send + 'static,
    ) {
        let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let mut work = work;
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
        self.inner.queue.push(job);
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
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.queue.close();
        for h in std::mem::take(&mut *lock(&self.writer)) {
            let _ = h.join();
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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

pub(crate) fn open_segment_writer(dir: &Path, conn: &Connection) -> Result<SegmentWriter> {
    SegmentWriter::open(&blob_dir(dir), |seg| {
        let end: Option<u64> = conn.query_row(
            "SELECT MAX(offset + length) FROM blobs WHERE segment = ?1 AND segment != 0",
            [seg],
            |r| r.get(0),
        )?;
        Ok(end.unwrap_or(0))
    })
}
