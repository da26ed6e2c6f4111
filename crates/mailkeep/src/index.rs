//! `mailkeep reindex`, and bringing the full-text index up to date before a command searches.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mailkeep_core::index::{IndexError, Indexer, MailIndex};
use mailkeep_core::store::Backend;

fn bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("indexing {bar:40} {pos}/{len} messages {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn catch_up(ix: &mut Indexer, store: &dyn Backend) -> Result<u64, IndexError> {
    let bar = bar();
    let n = ix.catch_up(store, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        true
    });
    bar.finish_and_clear();
    n
}

/// The index to search with: brought up to date first when no one else writes it (a running
/// server keeps it current itself, and a search reads what it has not reached yet). `None`
/// when it cannot be used; searches then read every body.
pub fn current(dir: &Path, store: &dyn Backend) -> Option<MailIndex> {
    match Indexer::open(dir) {
        Ok(mut ix) => {
            if let Err(e) = catch_up(&mut ix, store) {
                eprintln!("warning: {e}; bodies it has not reached are read instead");
            }
            Some(ix.index().clone())
        }
        Err(IndexError::Busy(_)) => MailIndex::open(dir).ok(),
        Err(e) => {
            eprintln!("warning: {e}; searching without it");
            None
        }
    }
}

/// Indexes what an import added; reports the rate.
pub fn after_import(dir: &Path, store: &dyn Backend) -> Result<()> {
    let mut ix = match Indexer::open(dir) {
        // The running server follows the store's bodies and indexes them itself.
        Err(IndexError::Busy(_)) => return Ok(()),
        other => other?,
    };
    let t = Instant::now();
    let n = catch_up(&mut ix, store)?;
    report(n, t, ix.index());
    Ok(())
}

fn report(n: u64, t: Instant, index: &MailIndex) {
    let secs = t.elapsed().as_secs_f64();
    println!(
        "indexed {n} message bodies in {secs:.1} s ({:.0}/s); the index takes {:.1} MiB",
        n as f64 / secs.max(1e-9),
        index.size_on_disk() as f64 / (1 << 20) as f64
    );
}

/// `mailkeep reindex`: rebuilds the index from the store.
pub fn reindex(dir: &Path) -> Result<()> {
    let (_, store) = crate::open_admin(dir)?;
    let store = &*store;
    let mut ix = match Indexer::open(dir) {
        Err(IndexError::Busy(_)) => bail!(
            "the server running on {} keeps the index; stop it to rebuild the index",
            dir.display()
        ),
        other => other?,
    };
    ix.clear()?;
    let t = Instant::now();
    let n = catch_up(&mut ix, store)?;
    report(n, t, ix.index());
    Ok(())
}
