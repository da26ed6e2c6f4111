//! Message content on its way in, and the memory it may take.
//!
//! A connection sending a message keeps at most [`IN_MEMORY`] bytes of it in memory; the
//! rest goes to an unnamed temporary file under the data directory (never fsynced: nothing
//! is acknowledged from it, the store makes the message durable). Only when the message is
//! complete and about to be checked and stored is it read back, and only within the
//! server-wide [`MemoryBudget`], so that however many clients send however large messages,
//! the bytes in memory stay bounded.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Content a connection holds in memory before it spools to a file.
pub(crate) const IN_MEMORY: usize = 64 * 1024;

/// Room kept in front of a message read back, for the header fields delivery prepends.
pub(crate) const HEADROOM: usize = 16 * 1024;

/// The content of the message a connection is receiving.
pub(crate) struct Spool {
    dir: PathBuf,
    /// Which message (the session's content id) the bytes belong to.
    id: u64,
    mem: Vec<u8>,
    file: Option<tokio::fs::File>,
    len: u64,
    /// Writing the file failed: the message cannot be accepted.
    failed: Option<io::ErrorKind>,
}

impl Spool {
    pub fn new(dir: PathBuf) -> Spool {
        Spool {
            dir,
            id: 0,
            mem: Vec::new(),
            file: None,
            len: 0,
            failed: None,
        }
    }

    fn reset(&mut self, id: u64) {
        self.id = id;
        self.mem = Vec::new();
        self.file = None;
        self.len = 0;
        self.failed = None;
    }

    /// Drops whatever is held.
    pub fn clear(&mut self) {
        if self.len > 0 || self.failed.is_some() {
            self.reset(0);
        }
    }

    /// Adds content of message `id`; content of an earlier message is dropped first.
    pub async fn append(&mut self, id: u64, bytes: Vec<u8>) {
        if id != self.id {
            self.reset(id);
        }
        if bytes.is_empty() || self.failed.is_some() {
            return;
        }
        self.len += bytes.len() as u64;
        if self.file.is_none() && self.mem.len() + bytes.len() <= IN_MEMORY {
            if self.mem.is_empty() {
                self.mem = bytes;
            } else {
                self.mem.extend_from_slice(&bytes);
            }
            return;
        }
        if let Err(e) = self.write(&bytes).await {
            tracing::warn!(error = %e, "spooling message content failed");
            self.failed = Some(e.kind());
            self.file = None;
            self.mem = Vec::new();
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            let dir = self.dir.clone();
            let file = tokio::task::spawn_blocking(move || tempfile::tempfile_in(dir))
                .await
                .map_err(io::Error::other)??;
            let mut file = tokio::fs::File::from_std(file);
            file.write_all(&std::mem::take(&mut self.mem)).await?;
            self.file = Some(file);
        }
        match &mut self.file {
            Some(f) => f.write_all(bytes).await,
            None => Ok(()),
        }
    }

    /// Bytes of message `id` with `tail` (what the session did not hand over yet).
    pub fn size(&self, id: u64, tail: usize) -> u64 {
        let held = if id == self.id { self.len } else { 0 };
        held + tail as u64
    }

    /// The whole of message `id`: what was spooled and then `tail`, with [`HEADROOM`]
    /// spare capacity. The spool is empty afterwards.
    pub async fn finish(&mut self, id: u64, tail: Vec<u8>) -> io::Result<Vec<u8>> {
        if id != self.id {
            self.reset(id);
        }
        if let Some(kind) = self.failed {
            self.reset(0);
            return Err(kind.into());
        }
        let len = self.len;
        let (mem, file) = (std::mem::take(&mut self.mem), self.file.take());
        self.reset(0);
        let Some(mut file) = file else {
            if mem.is_empty() {
                return Ok(tail);
            }
            let mut whole = mem;
            whole.extend_from_slice(&tail);
            return Ok(whole);
        };
        let size = usize::try_from(len)
            .map_err(io::Error::other)?
            .saturating_add(tail.len());
        let mut whole = Vec::with_capacity(size.saturating_add(HEADROOM));
        file.flush().await?;
        file.seek(io::SeekFrom::Start(0)).await?;
        file.read_to_end(&mut whole).await?;
        if whole.len() as u64 != len {
            return Err(io::Error::other("spool file changed size"));
        }
        whole.extend_from_slice(&tail);
        Ok(whole)
    }
}

/// Bytes of complete messages held in memory server-wide while they are checked and stored.
#[derive(Clone)]
pub(crate) struct MemoryBudget {
    permits: Arc<Semaphore>,
    /// Permits in total; one permit is one KiB.
    total: u32,
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> MemoryBudget {
        let total = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Takes `bytes` from the budget, waiting up to `wait` for others to give theirs back.
    /// `None`: the budget stayed exhausted, and the caller answers "try again later".
    pub async fn reserve(&self, bytes: u64, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let want = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .min(self.total);
        let take = self.permits.clone().acquire_many_owned(want);
        match tokio::time::timeout(wait, take).await {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_spills_to_a_file_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_owned());
        let mut expected = Vec::new();
        for i in 0..40u8 {
            let piece = vec![i; 5000];
            expected.extend_from_slice(&piece);
            spool.append(3, piece).await;
        }
        assert!(spool.file.is_some(), "200 KB must not stay in memory");
        assert!(spool.mem.is_empty());
        assert_eq!(spool.size(3, 4), expected.len() as u64 + 4);
        let whole = spool.finish(3, b"tail".to_vec()).await.unwrap();
        expected.extend_from_slice(b"tail");
        assert_eq!(whole, expected);
        assert!(whole.capacity() >= whole.len() + HEADROOM - 4);
        // The unnamed file leaves nothing behind in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_new_message_drops_the_abandoned_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_owned());
        spool.append(1, vec![b'x'; 100_000]).await;
        spool.append(2, b"new".to_vec()).await;
        assert_eq!(spool.finish(2, b"!".to_vec()).await.unwrap(), b"new!");
        assert_eq!(spool.finish(5, b"only".to_vec()).await.unwrap(), b"only");
    }

    #[tokio::test]
    async fn the_budget_refuses_when_exhausted_and_refills() {
        let budget = MemoryBudget::new(100 * 1024);
        let a = budget.reserve(80 * 1024, Duration::ZERO).await.unwrap();
        assert!(
            budget
                .reserve(40 * 1024, Duration::from_millis(10))
                .await
                .is_none()
        );
        drop(a);
        assert!(budget.reserve(40 * 1024, Duration::ZERO).await.is_some());
        // More than the whole budget waits for all of it rather than never.
        assert!(budget.reserve(10 << 30, Duration::ZERO).await.is_some());
    }
}
