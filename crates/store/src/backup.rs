//! Online backup and restore of a data directory.
//!
//! A backup is a snapshot of the database taken in one read transaction (so at one journal
//! size), a signed checkpoint of that size, and the segment files. Segments are append-only
//! and every byte the snapshot references was fsynced before the snapshot's commit, so
//! copying them after the snapshot is consistent; a later backup into the same directory
//! copies only what was appended (incremental), and re-zeroes bodies purged meanwhile.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::api::Signer;
use crate::api::prelude::*;
use crate::{Store, segments};

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// A file could not be copied.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// OS error.
        cause: std::io::Error,
    },
    /// The request does not make sense.
    #[error("{0}")]
    Refused(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |cause| BackupError::Io { what, cause }
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))
}

fn copy_file(from: &Path, to: &Path) -> Result<(), BackupError> {
    crate::private::copy(from, to).map_err(io(format!("copying {}", from.display())))?;
    fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", to.display())))
}

/// Appends to `to` what `from` has beyond `to`'s length; copies whole if `to` is longer.
fn copy_tail(from: &Path, to: &Path) -> Result<u64, BackupError> {
    let have = fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    let total = fs::metadata(from)
        .map_err(io(format!("reading {}", from.display())))?
        .len();
    if have > total {
        copy_file(from, to)?;
        return Ok(total);
    }
    let mut src = fs::File::open(from).map_err(io(format!("opening {}", from.display())))?;
    src.seek(SeekFrom::Start(have))
        .map_err(io(format!("reading {}", from.display())))?;
    let mut dst =
        crate::private::append_file(to).map_err(io(format!("writing {}", to.display())))?;
    let copied = std::io::copy(&mut Read::by_ref(&mut src).take(total - have), &mut dst)
        .map_err(io(format!("copying {}", from.display())))?;
    dst.sync_all()
        .map_err(io(format!("syncing {}", to.display())))?;
    Ok(copied)
}

/// What a backup did.
#[derive(Debug)]
pub struct Done {
    /// Journal size the backup is consistent at.
    pub journal_size: u64,
    /// Segment bytes copied this time.
    pub copied: u64,
}

/// Backs up the data directory `dir` (served or not) into `out`; `sign` signs the checkpoint
/// the copy is consistent at (the journal key is the caller's, not the store's).
pub fn backup(store: &Store, dir: &Path, sign: Signer, out: &Path) -> Result<Done, BackupError> {
    for d in [out, &out.join("blobs"), &out.join("keys")] {
        crate::private::create_dir(d).map_err(io(format!("creating {}", d.display())))?;
    }
    // 1. A signed checkpoint, then the snapshot (which contains it and possibly more).
    let cp = store
        .checkpoint(true, sign)?
        .ok_or_else(|| BackupError::Refused("no checkpoint could be written".into()))?;
    let tmp = out.join("meta.sqlite.new");
    let _ = fs::remove_file(&tmp);
    store.snapshot_db(&tmp)?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io("syncing the database copy"))?;
    fs::rename(&tmp, out.join("meta.sqlite")).map_err(io("placing the database copy"))?;
    // 2. Segments: what was appended since the last backup.
    let mut copied = 0;
    for id in segments::list(&dir.join("blobs"))? {
        let name = format!("{id:08}.seg");
        copied += copy_tail(
            &dir.join("blobs").join(&name),
            &out.join("blobs").join(&name),
        )?;
    }
    // 3. Purges since an earlier backup must not survive in it.
    for loc in store.purged_locations()? {
        let path = out.join("blobs").join(format!("{:08}.seg", loc.segment));
        if let Ok(f) = fs::OpenOptions::new().write(true).open(&path) {
            use std::os::unix::fs::FileExt;
            let zeros = vec![0u8; loc.length as usize];
            f.write_all_at(&zeros, loc.offset)
                .and_then(|()| f.sync_data())
                .map_err(io(format!("shredding in {}", path.display())))?;
        }
    }
    // 4. Configuration, keys, format, and the checkpoint this copy verifies against.
    for f in ["mailkeep.toml", "FORMAT"] {
        copy_file(&dir.join(f), &out.join(f))?;
    }
    for entry in fs::read_dir(dir.join("keys")).map_err(io("listing keys"))? {
        let entry = entry.map_err(io("listing keys"))?;
        copy_file(&entry.path(), &out.join("keys").join(entry.file_name()))?;
    }
    let mut f = crate::private::create_file(&out.join("checkpoint.txt"))
        .map_err(io("writing checkpoint.txt"))?;
    f.write_all(cp.note.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io("writing checkpoint.txt"))?;
    sync_dir(&out.join("blobs"))?;
    sync_dir(&out.join("keys"))?;
    sync_dir(out)?;
    Ok(Done {
        journal_size: cp.size,
        copied,
    })
}

/// Restores a backup into a new data directory.
pub fn restore(from: &Path, to: &Path) -> Result<PathBuf, BackupError> {
    if !from.join("meta.sqlite").exists() || !from.join("checkpoint.txt").exists() {
        return Err(BackupError::Refused(format!(
            "{} is not a mailkeep backup (no meta.sqlite and checkpoint.txt)",
            from.display()
        )));
    }
    if to.exists()
        && fs::read_dir(to)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(BackupError::Refused(format!(
            "{} exists and is not empty; restore into a new directory",
            to.display()
        )));
    }
    crate::private::create_dir(to).map_err(io(format!("creating {}", to.display())))?;
    for sub in ["blobs", "keys"] {
        crate::private::create_dir(&to.join(sub))
            .map_err(io(format!("creating {}", to.display())))?;
        for entry in fs::read_dir(from.join(sub)).map_err(io(format!("listing {sub}")))? {
            let entry = entry.map_err(io(format!("listing {sub}")))?;
            copy_file(&entry.path(), &to.join(sub).join(entry.file_name()))?;
        }
        sync_dir(&to.join(sub))?;
    }
    for f in ["meta.sqlite", "mailkeep.toml", "FORMAT", "checkpoint.txt"] {
        copy_file(&from.join(f), &to.join(f))?;
    }
    sync_dir(to)?;
    Ok(to.join("checkpoint.txt"))
}
