//! Files and directories only their owner may read: everything under a data directory, every
//! backup and every export holds mail or keys. Modes are set explicitly (not left to the
//! umask, which a caller may have opened up), and `fs::copy`'s habit of copying the source's
//! mode is undone.

use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of private directories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of private files.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` (and missing parents) and makes `path` itself owner-only.
pub fn create_dir(path: &Path) -> io::Result<()> {
    fs::create_dir_all(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE))
}

/// Opens `path` for writing (created or truncated), owner-only.
pub fn create_file(path: &Path) -> io::Result<fs::File> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    // `mode` applies only when the file is new.
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Replaces `path` with `bytes` durably and atomically: a temporary file written, fsynced and
/// renamed over it, then the directory fsynced; the file gets `mode`.
pub fn write_durable(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent directory"))?;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

/// Opens `path` for appending (created if missing), owner-only.
pub fn append_file(path: &Path) -> io::Result<fs::File> {
    let f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    Ok(f)
}

/// Copies `from` to `to`, leaving `to` owner-only whatever `from`'s mode.
pub fn copy(from: &Path, to: &Path) -> io::Result<u64> {
    let mut src = fs::File::open(from)?;
    let mut dst = create_file(to)?;
    io::copy(&mut src, &mut dst)
}

/// Everything under `root` (itself included) that group or others may read, write or enter,
/// with its mode; symbolic links are not followed.
pub fn too_open(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            found.push((path.clone(), mode));
        }
        if meta.is_dir()
            && let Ok(entries) = fs::read_dir(&path)
        {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_private_whatever_the_source_mode() {
        let tmp = std::env::temp_dir().join(format!("mk-private-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        create_dir(&tmp.join("a/b")).unwrap();
        let src = tmp.join("src");
        fs::write(&src, b"x").unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o666)).unwrap();
        copy(&src, &tmp.join("a/b/copy")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&tmp.join("a/b")), 0o700);
        assert_eq!(mode(&tmp.join("a/b/copy")), 0o600);
        let loose: Vec<_> = too_open(&tmp).into_iter().map(|(p, _)| p).collect();
        assert!(loose.contains(&src));
        assert!(!loose.contains(&tmp.join("a/b/copy")));
        fs::remove_dir_all(&tmp).unwrap();
    }
}
