//! Loaded with `LD_PRELOAD`, makes every `fsync` and `fdatasync` of the process take
//! `MAILKEEP_FLUSH_MS` milliseconds longer, one at a time: the real call, then the wait. That
//! is a disk whose cache flushes are slow (a 7,200 rpm disk, a network volume) in front of this
//! machine's fast one, so that `bench/run-slowdisk.sh` can show what group commit does where
//! fsyncs dominate, with the same probe and load as `bench/run.sh`. Nothing else changes: the
//! data still goes to the real disk and is really fsynced.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use libc::c_int;

type SyncFn = unsafe extern "C" fn(c_int) -> c_int;

/// One flush at a time, as a disk's cache flushes are.
static TURN: Mutex<()> = Mutex::new(());

fn delay() -> Duration {
    static DELAY: OnceLock<Duration> = OnceLock::new();
    *DELAY.get_or_init(|| {
        let ms = std::env::var("MAILKEEP_FLUSH_MS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .unwrap_or(0.0);
        Duration::from_secs_f64(ms / 1000.0)
    })
}

/// The definition this library hides (libc's), looked up once.
fn next(name: &'static [u8], slot: &'static OnceLock<Option<SyncFn>>) -> Option<SyncFn> {
    *slot.get_or_init(|| {
        // SAFETY: `name` is a NUL-terminated symbol name with static lifetime, and RTLD_NEXT
        // is a valid pseudo-handle for dlsym in a shared object.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
        if p.is_null() {
            None
        } else {
            // SAFETY: the symbols looked up are libc's `fsync` and `fdatasync`, both
            // `int f(int)` in the C ABI, which is exactly `SyncFn`.
            Some(unsafe { std::mem::transmute::<*mut libc::c_void, SyncFn>(p) })
        }
    })
}

fn slow(real: Option<SyncFn>, fd: c_int) -> c_int {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let r = match real {
        // SAFETY: `f` is libc's function of this signature (see `next`); `fd` is passed on
        // unchanged, as the caller gave it.
        Some(f) => unsafe { f(fd) },
        None => {
            // SAFETY: __errno_location returns this thread's errno, valid to write.
            unsafe { *libc::__errno_location() = libc::ENOSYS };
            -1
        }
    };
    std::thread::sleep(delay());
    r
}

/// `fsync(2)`, slowed.
#[unsafe(no_mangle)]
pub extern "C" fn fsync(fd: c_int) -> c_int {
    static REAL: OnceLock<Option<SyncFn>> = OnceLock::new();
    slow(next(b"fsync\0", &REAL), fd)
}

/// `fdatasync(2)`, slowed.
#[unsafe(no_mangle)]
pub extern "C" fn fdatasync(fd: c_int) -> c_int {
    static REAL: OnceLock<Option<SyncFn>> = OnceLock::new();
    slow(next(b"fdatasync\0", &REAL), fd)
}
