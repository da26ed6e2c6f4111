//! `mailkeep migrate-store`: moves a stopped node's embedded store into PostgreSQL, then
//! proves the copy with the journal.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mailkeep_core::embedded::{OpenOptions, Store};
use mailkeep_core::journal;
use mailkeep_core::store::prelude::*;
use mailkeep_store_pg::{Options, PgStore, migrate};

/// Where the copy goes.
pub struct Target<'a> {
    pub url: &'a str,
    pub password: Option<String>,
    pub objects: Option<mailkeep_store_pg::S3Options>,
    pub tls: Option<rustls::ClientConfig>,
}

pub fn run(dir: &Path, to: Target<'_>) -> Result<()> {
    let config = crate::load_config(dir)?;
    crate::backend::embedded_only(&config, "migrate-store")?;
    let signer = Arc::new(journal::load_signer(dir, &config.hostname)?);
    // 1. A signed checkpoint of the source, kept outside both stores: what the copy must
    //    prove it holds, leaf for leaf.
    let source = Store::open(dir, OpenOptions::exclusive())
        .context("the source must not be served while it is copied (stop the server)")?
        .acting(crate::admin());
    let kept = journal::checkpoint(&source, signer.clone(), &config.hostname, true)?
        .context("no checkpoint could be written")?;
    source.close();
    drop(source);
    let kept_path = dir.join("migrated-checkpoint.txt");
    crate::files::write_durable(&kept_path, kept.note.as_bytes(), 0o600)?;
    // 2. The copy.
    let target = PgStore::open(Options {
        url: to.url.to_owned(),
        password: to.password,
        clock: None,
        objects: to.objects,
        tls: to.tls,
    })
    .context("opening the target database")?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} {bar:40} {pos}/{len} rows")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let copied = migrate::from_embedded(dir, &target, &mut |p| {
        bar.set_message(p.table.to_owned());
        bar.set_length(p.total);
        bar.set_position(p.done);
    })?;
    bar.finish_and_clear();
    println!(
        "copied {} rows ({} message bodies); the copy's journal has the source's {} leaves and tree head {}",
        copied.rows,
        copied.bodies,
        copied.journal_size,
        copied
            .root
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    // 3. The proof: the target's journal against the kept checkpoint, every mailbox entry
    //    and every body's bytes.
    let report = journal::verify(&target, &signer.verifier_key(), Some(&kept.note))?;
    if !report.problems.is_empty() {
        for p in &report.problems {
            println!("PROBLEM: {p}");
        }
        bail!(
            "the copy does not verify: {} problem(s)",
            report.problems.len()
        );
    }
    println!(
        "verified: {} leaves, {} signed checkpoints, {} mailbox entries, {} bodies; the checkpoint \
         it was proved against is in {}",
        report.leaves,
        report.checkpoints,
        report.entries,
        report.bodies,
        kept_path.display()
    );
    println!(
        "to serve from the database, add to each node's mailkeep.toml:\n\n[store]\nbackend = \"postgres\"\nurl = \"{}\"",
        to.url
    );
    target.close();
    Ok(())
}
