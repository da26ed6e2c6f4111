//! Append-only segment files holding message bodies.
//!
//! One file per message would cost a file fsync plus a directory fsync per message; appending
//! every body of a group-commit batch to one shared segment costs one `fdatasync` per batch
//! (DESIGN §2). Each record is self-describing so that a damaged index can be rebuilt by
//! scanning the segments:
//!
//! ```text
//! "MKB1" | length: u64 LE | sha256: [u8; 32] | data: [u8; length]
//! ```
//!
//! The index (`blobs` table) stores the offset of `data`. Bytes past the last committed record
//! (a batch that was appended but whose transaction never committed) are garbage that the
//! writer truncates away when it reopens the segment.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::format::sync_dir;
use crate::{Error, Result};

/// Record magic.
pub const MAGIC: &[u8; 4] = b"MKB1";
/// Bytes of record header before the data.
pub const HEADER_LEN: u64 = 4 + 8 + 32;
/// A segment is closed and a new one started once it grows past this.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

pub use mailkeep_store_api::{Hash, hash};

fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.seg"))
}

/// Lists the segment ids present in `dir`, ascending.
pub fn list(dir: &Path) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("listing blobs", e))?;
        let name = entry.file_name();
        if let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Bodies up to this size are stored inline in the database: they then cost no fsync of
/// their own, since the transaction's WAL fsync covers them (DESIGN §2).
pub const INLINE_MAX: usize = 64 * 1024;

/// The `segment` value of an inline blob.
pub const INLINE: u32 = 0;

/// Where a blob lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Segment id.
    pub segment: u32,
    /// Offset of the first data byte.
    pub offset: u64,
    /// Data length.
    pub length: u64,
}

/// The single appender. Holds the directory's writer lock for as long as it lives.
pub struct SegmentWriter {
    dir: PathBuf,
    _lock: File,
    id: u32,
    file: File,
    len: u64,
    /// Files written since the last [`SegmentWriter::sync`], and whether a new one was created.
    unsynced: Vec<File>,
    dirty_dir: bool,
}

impl SegmentWriter {
    /// Opens the newest segment for appending, truncated to `committed_end(id)` (the end of the
    /// last record the index references), or creates the first one.
    pub fn open(dir: &Path, committed_end: impl Fn(u32) -> Result<u64>) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join("writer.lock"))
            .map_err(|e| Error::io("opening blobs/writer.lock", e))?;
        if lock.try_lock().is_err() {
            return Err(Error::Locked(dir.to_path_buf()));
        }
        let id = list(dir)?.last().copied().unwrap_or(1);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(segment_path(dir, id))
            .map_err(|e| Error::io("opening segment", e))?;
        let on_disk = file
            .metadata()
            .map_err(|e| Error::io("stat segment", e))?
            .len();
        let end = committed_end(id)?;
        if end > on_disk {
            return Err(Error::Corrupt {
                hash: format!("segment {id:08}"),
                reason: format!("index references {end} bytes but the file holds {on_disk}"),
            });
        }
        if on_disk > end {
            tracing::info!(
                segment = id,
                bytes = on_disk - end,
                "dropping uncommitted tail of segment"
            );
            file.set_len(end)
                .and_then(|_| file.sync_all())
                .map_err(|e| Error::io("truncating segment tail", e))?;
        }
        let mut w = SegmentWriter {
            dir: dir.to_path_buf(),
            _lock: lock,
            id,
            file,
            len: end,
            unsynced: Vec::new(),
            // Always: the newest segment may have been created by a rotation just before a
            // crash, with its directory entry never synced.
            dirty_dir: true,
        };
        w.sync()?;
        Ok(w)
    }

    /// Appends one record; the bytes are durable only after [`SegmentWriter::sync`].
    pub fn append(&mut self, hash: &Hash, data: &[u8]) -> Result<Location> {
        if self.len > 0 && self.len + HEADER_LEN + data.len() as u64 > MAX_SEGMENT_BYTES {
            self.rotate()?;
        }
        let mut record = Vec::with_capacity(HEADER_LEN as usize + data.len());
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&(data.len() as u64).to_le_bytes());
        record.extend_from_slice(hash);
        record.extend_from_slice(data);
        #[cfg(feature = "fault-injection")]
        if crate::faults::fire(crate::faults::Fault::SegmentWrite) {
            return Err(Error::io(
                "appending to segment",
                std::io::Error::from_raw_os_error(5),
            ));
        }
        self.file
            .write_all_at(&record, self.len)
            .map_err(|e| Error::io("appending to segment", e))?;
        let loc = Location {
            segment: self.id,
            offset: self.len + HEADER_LEN,
            length: data.len() as u64,
        };
        self.len += record.len() as u64;
        if self.unsynced.is_empty() {
            let clone = self
                .file
                .try_clone()
                .map_err(|e| Error::io("dup segment handle", e))?;
            self.unsynced.push(clone);
        }
        Ok(loc)
    }

    fn rotate(&mut self) -> Result<()> {
        let next = self.id + 1;
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(segment_path(&self.dir, next))
            .map_err(|e| Error::io("creating segment", e))?;
        let old = std::mem::replace(&mut self.file, file);
        if self.unsynced.is_empty() {
            self.unsynced.push(old);
        }
        self.unsynced.push(
            self.file
                .try_clone()
                .map_err(|e| Error::io("dup segment handle", e))?,
        );
        self.id = next;
        self.len = 0;
        self.dirty_dir = true;
        Ok(())
    }

    /// Makes every appended record durable: data of each touched file, then the directory if
    /// a segment was created.
    pub fn sync(&mut self) -> Result<()> {
        for f in self.unsynced.drain(..) {
            #[cfg(feature = "fault-injection")]
            if crate::faults::fire(crate::faults::Fault::SegmentSync) {
                return Err(Error::io(
                    "fsync segment",
                    std::io::Error::from_raw_os_error(5),
                ));
            }
            f.sync_data().map_err(|e| Error::io("fsync segment", e))?;
        }
        if self.dirty_dir {
            sync_dir(&self.dir)?;
            self.dirty_dir = false;
        }
        Ok(())
    }
}

/// Reads records; cheap to share between threads.
pub struct SegmentReader {
    dir: PathBuf,
    open: Mutex<HashMap<u32, Arc<File>>>,
}

impl SegmentReader {
    /// A reader over `dir`.
    pub fn new(dir: &Path) -> Self {
        SegmentReader {
            dir: dir.to_path_buf(),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, id: u32) -> Result<Arc<File>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = open.get(&id) {
            return Ok(f.clone());
        }
        let f = Arc::new(
            File::open(segment_path(&self.dir, id))
                .map_err(|e| Error::io(format!("opening segment {id:08}"), e))?,
        );
        open.insert(id, f.clone());
        Ok(f)
    }

    /// Overwrites a purged blob's bytes with zeros and syncs the segment, so that purged
    /// bytes really go (the segment stays append-only for everything else).
    pub fn shred(&self, loc: Location) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let path = segment_path(&self.dir, loc.segment);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {} to shred", path.display()), e))?;
        let zeros = vec![0u8; 64 * 1024];
        let mut done = 0u64;
        while done < loc.length {
            let n = (loc.length - done).min(zeros.len() as u64) as usize;
            f.write_all_at(&zeros[..n], loc.offset + done)
                .map_err(|e| Error::io(format!("shredding {}", path.display()), e))?;
            done += n as u64;
        }
        f.sync_data()
            .map_err(|e| Error::io(format!("syncing {}", path.display()), e))
    }

    /// Reads a blob and checks it against its address.
    pub fn read(&self, expected: &Hash, loc: Location) -> Result<Vec<u8>> {
        let corrupt = |reason: String| Error::Corrupt {
            hash: hex::encode(expected),
            reason,
        };
        let len = usize::try_from(loc.length).map_err(|_| corrupt("length overflows".into()))?;
        let mut buf = vec![0u8; len];
        self.file(loc.segment)?
            .read_exact_at(&mut buf, loc.offset)
            .map_err(|e| corrupt(format!("reading segment {:08}: {e}", loc.segment)))?;
        if &hash(&buf) != expected {
            return Err(corrupt("content does not match its SHA-256".into()));
        }
        Ok(buf)
    }
}

/// One record found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The address recorded in the header.
    pub hash: Hash,
    /// Where its data is.
    pub loc: Location,
    /// The data matches the address.
    pub intact: bool,
}

/// Reads every record of every segment in `dir`, skipping over damage: after a bad header it
/// searches for the next record magic. Never fails on content; only listing/reading errors.
pub fn scan(dir: &Path) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    for id in list(dir)? {
        let path = segment_path(dir, id);
        let bytes =
            fs::read(&path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let mut pos = 0usize;
        let header = HEADER_LEN as usize;
        while pos + header <= bytes.len() {
            if &bytes[pos..pos + 4] != MAGIC {
                match bytes[pos + 1..].windows(4).position(|w| w == MAGIC) {
                    Some(i) => {
                        pos += 1 + i;
                        continue;
                    }
                    None => break,
                }
            }
            let len = u64::from_le_bytes(bytes[pos + 4..pos + 12].try_into().unwrap_or([0; 8]));
            let mut h = [0u8; 32];
            h.copy_from_slice(&bytes[pos + 12..pos + header]);
            let start = pos + header;
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&e| e <= bytes.len());
            let Some(end) = end else {
                // A length past the end: a torn tail or a damaged header; look further.
                pos += 1;
                continue;
            };
            out.push(Found {
                hash: h,
                loc: Location {
                    segment: id,
                    offset: start as u64,
                    length: len,
                },
                intact: hash(&bytes[start..end]) == h,
            });
            pos = end;
        }
    }
    Ok(out)
}
