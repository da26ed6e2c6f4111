//! Where log lines go: stderr, through a bounded queue and a thread of its own, so that a
//! reader that stopped reading (a full pipe) or went away (a closed pipe, a restarted log
//! collector) costs log lines, never the server. Lines that cannot be queued or written are
//! dropped and counted; nothing here panics or blocks the caller.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Lines queued for stderr at most; beyond that they are dropped, not waited for.
const QUEUE_LINES: usize = 4096;

enum Item {
    Line(Vec<u8>),
    /// Answered once every line queued before it has been written (or dropped).
    Flush(SyncSender<()>),
}

struct Shared {
    tx: Mutex<SyncSender<Item>>,
    dropped: AtomicU64,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_LINES);
        let _ = std::thread::Builder::new()
            .name("log".into())
            .spawn(move || pump(rx));
        Shared {
            tx: Mutex::new(tx),
            dropped: AtomicU64::new(0),
        }
    })
}

fn pump(rx: Receiver<Item>) {
    let mut err = std::io::stderr();
    for item in rx {
        match item {
            Item::Line(line) => {
                if err.write_all(&line).is_err() {
                    shared().dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Item::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Log lines lost so far (queue full, or stderr refused them).
pub(crate) fn dropped() -> u64 {
    shared().dropped.load(Ordering::Relaxed)
}

/// Waits (a bounded time) until the lines logged so far have reached stderr: before exit.
pub(crate) fn flush() {
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
    if queue(Item::Flush(done_tx)) {
        let _ = done_rx.recv_timeout(Duration::from_secs(2));
    }
}

fn queue(item: Item) -> bool {
    let s = shared();
    let Ok(tx) = s.tx.lock() else { return false };
    match tx.try_send(item) {
        Ok(()) => true,
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

/// One event's bytes, handed to the queue whole when the formatter is done with it.
#[derive(Default)]
pub(crate) struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            queue(Item::Line(std::mem::take(&mut self.0)));
        }
    }
}

/// The `MakeWriter` for tracing-subscriber.
pub(crate) fn make() -> LogLine {
    LogLine::default()
}
