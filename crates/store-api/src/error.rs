//! The seam's one error type, grouped by whose fault a failure is. Backends convert their
//! engine's errors into it; nothing above the seam sees an engine type.

use std::path::PathBuf;

/// Everything that can go wrong in a backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory has not been initialised (`mailkeep init`).
    #[error("{0} is not a mailkeep data directory (run `mailkeep init` first)")]
    NotInitialised(PathBuf),
    /// The store was written by a newer mailkeep; it is left untouched.
    #[error(
        "data directory format {found} is newer than this binary supports ({supported}); upgrade mailkeep — nothing was modified"
    )]
    TooNew {
        /// Format found on disk.
        found: u32,
        /// Newest format this binary understands.
        supported: u32,
    },
    /// The data directory already holds a store.
    #[error("{0} is already initialised")]
    AlreadyInitialised(PathBuf),
    /// Another process holds the writer lock on the message bodies.
    #[error("another mailkeep process is already serving {0}")]
    Locked(PathBuf),
    /// A referenced thing does not exist (message shows which).
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with existing data (duplicate user, …).
    #[error("{0}")]
    Conflict(String),
    /// The bytes were purged past retention (the record of them stays in the journal).
    #[error("message body {hash} was purged at unix time {at} (retention)")]
    Purged {
        /// Hex SHA-256 of the body.
        hash: String,
        /// When.
        at: i64,
    },
    /// A stored body does not match its hash or is missing: corruption.
    #[error("corrupt blob {hash}: {reason}")]
    Corrupt {
        /// Hex SHA-256 of the blob.
        hash: String,
        /// What was wrong.
        reason: String,
    },
    /// An earlier fsync or commit failed; writes are refused until restart.
    #[error("store is poisoned after an I/O failure ({0}); restart to recover")]
    Poisoned(String),
    /// The backend is shut down.
    #[error("store is shut down")]
    Closed,
    /// File-system error.
    #[error("{context}: {cause}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The database engine failed.
    #[error("database: {0}")]
    Db(DbError),
}

/// A failure inside a database engine, described without the engine's types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    /// The engine's description.
    pub message: String,
    /// The engine ran out of space (SMTP answers `452 4.3.1`, not a generic 451).
    pub storage_full: bool,
}

/// How the reason of a store poisoned by a full disk begins.
pub const STORAGE_FULL: &str = "storage full: ";

impl Error {
    /// An I/O error with what we were doing.
    pub fn io(context: impl Into<String>, cause: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause,
        }
    }

    /// True when the failure is on our side and temporary (disk, database), so the
    /// protocol layer should answer with a 4xx / `NO [SERVERBUG]` rather than blame the client.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Poisoned(_) | Error::Closed | Error::Io { .. } | Error::Db(_) | Error::Locked(_)
        )
    }

    /// True when the disk (or the database's file system) is full: SMTP says `452 4.3.1`
    /// (RFC 3463: mail system full) rather than a generic temporary failure.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Db(e) => e.storage_full,
            Error::Io { cause, .. } => {
                cause.kind() == std::io::ErrorKind::StorageFull || cause.raw_os_error() == Some(28)
            }
            Error::Poisoned(why) => why.starts_with(STORAGE_FULL),
            _ => false,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        let storage_full = matches!(
            &e,
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull
        );
        Error::Db(DbError {
            message: e.to_string(),
            storage_full,
        })
    }
}

/// Result alias for backend operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
