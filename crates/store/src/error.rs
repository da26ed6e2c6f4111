use std::path::PathBuf;

/// Everything that can go wrong in the store, grouped by whose fault it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory has not been initialised (`mailkeep init`).
    #[error("{0} is not a mailkeep data directory (run `mailkeep init` first)")]
    NotInitialised(PathBuf),
    /// The directory was written by a newer mailkeep; it is left untouched.
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
    /// Another process holds the writer lock on the message segments.
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
    /// A stored blob does not match its hash or is missing: on-disk corruption.
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
    /// The writer thread is gone (store shut down).
    #[error("store is shut down")]
    Closed,
    /// Filesystem error.
    #[error("{context}: {cause}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// Database error.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, cause: std::io::Error) -> Self {
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
}

impl Error {
    /// True when the disk (or the database's file system) is full: SMTP says `452 4.3.1`
    /// (RFC 3463: mail system full) rather than a generic temporary failure.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Db(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            Error::Io { cause, .. } => {
                cause.kind() == std::io::ErrorKind::StorageFull || cause.raw_os_error() == Some(28)
            }
            Error::Poisoned(why) => why.starts_with(STORAGE_FULL),
            _ => false,
        }
    }
}

/// How the reason of a store poisoned by a full disk begins.
pub(crate) const STORAGE_FULL: &str = "storage full: ";

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
