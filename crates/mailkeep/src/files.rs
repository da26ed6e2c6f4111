//! Durable file writes for `init`: temp file, fsync, rename, fsync of the directory.

use std::fs;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` atomically and durably with the given Unix mode.
pub fn write_durable(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    mailkeep_core::private::write_durable(path, bytes, mode)
        .with_context(|| format!("writing {}", path.display()))
}

/// Fsyncs a directory.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync {}", dir.display()))
}

/// Creates a directory with a mode (and its parents).
pub fn create_dir(path: &Path, mode: u32) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}
