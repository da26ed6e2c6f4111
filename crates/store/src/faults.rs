//! Injected I/O failures, for tests of what the store does when the disk fails it: an fsync
//! or a write of a segment file that reports an error. Compiled only with the
//! `fault-injection` feature, which the store's own integration tests turn on; a server binary
//! never has it.

use std::sync::atomic::{AtomicU8, Ordering};

/// A failure to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Nothing armed.
    None = 0,
    /// The next fsync of a segment file fails (EIO).
    SegmentSync = 1,
    /// The next write to a segment file fails (EIO).
    SegmentWrite = 2,
}

static ARMED: AtomicU8 = AtomicU8::new(Fault::None as u8);

/// Makes the next operation of that kind fail, once.
pub fn arm(f: Fault) {
    ARMED.store(f as u8, Ordering::SeqCst);
}

/// Whether `f` is armed; disarms it when it is.
pub(crate) fn fire(f: Fault) -> bool {
    ARMED
        .compare_exchange(
            f as u8,
            Fault::None as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_ok()
}
