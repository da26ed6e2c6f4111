//! The data directory's format version.
//!
//! `DIR/FORMAT` holds one line, `mailkeep-data <N>`. The SQLite schema carries the same number
//! in `PRAGMA user_version`; [`crate::schema`] migrates from any older N to [`CURRENT`]. A
//! directory with a newer N is refused before anything in it is opened for writing.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// The format this binary writes.
pub const CURRENT: u32 = 13;

const FILE: &str = "FORMAT";
const PREFIX: &str = "mailkeep-data ";

/// Reads the format version of `dir`, or `None` if the directory holds no mailkeep data.
pub fn read(dir: &Path) -> Result<Option<u32>> {
    let path = dir.join(FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(Error::io(
                format!(
                    "{} is not this user's to read: run mailkeep as the user that owns it",
                    dir.display()
                ),
                e,
            ));
        }
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let n = text
        .trim()
        .strip_prefix(PREFIX)
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| Error::Corrupt {
            hash: FILE.into(),
            reason: format!("unrecognised content {:?}", text.trim()),
        })?;
    Ok(Some(n))
}

/// Writes `FORMAT` atomically and durably (temp file, fsync, rename, fsync directory).
pub fn write(dir: &Path, version: u32) -> Result<()> {
    let tmp = dir.join("FORMAT.tmp");
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
    }
    .map_err(|e| Error::io("creating FORMAT.tmp", e))?;
    writeln!(f, "{PREFIX}{version}").map_err(|e| Error::io("writing FORMAT.tmp", e))?;
    f.sync_all().map_err(|e| Error::io("fsync FORMAT.tmp", e))?;
    fs::rename(&tmp, dir.join(FILE)).map_err(|e| Error::io("renaming FORMAT", e))?;
    sync_dir(dir)
}

/// Fsyncs a directory so that entries created or renamed in it survive power loss.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("fsync directory {}", dir.display()), e))
}
