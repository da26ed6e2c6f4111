//! Store reads made to fail on demand, in debug builds only, so that end-to-end tests can
//! show that the server refuses rather than allows when a read behind a security or limit
//! decision fails. The store's own `fault-injection` feature cannot reach a running server
//! binary; this can: `MAILKEEP_DEBUG_FAIL_READS` names the reads that fail, comma-separated
//! (`domains`, `usage`). Release builds ignore the variable.

use crate::Result;

/// `Err` when `read` is named in `MAILKEEP_DEBUG_FAIL_READS` (debug builds).
pub(crate) fn check(read: &str) -> Result<()> {
    #[cfg(debug_assertions)]
    {
        static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let names = NAMES.get_or_init(|| {
            std::env::var("MAILKEEP_DEBUG_FAIL_READS")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        });
        if names.iter().any(|n| n == read) {
            return Err(crate::Error::io(
                format!("reading {read}"),
                std::io::Error::other("failure injected by MAILKEEP_DEBUG_FAIL_READS"),
            ));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = read;
    Ok(())
}
