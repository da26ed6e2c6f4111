//! `mailkeep import`: an mbox, a Maildir or a tree of Maildirs into an account.
//!
//! Messages are read one at a time and handed to the store without waiting for each commit
//! (at most a fixed number in flight), so the store's group commit batches them, memory stays
//! bounded whatever the size of the source, and UIDs follow the source's order. Re-running is safe: a message already in its target mailbox (same bytes) is
//! skipped, which also makes an interrupted import resumable.

use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mailkeep_core::address::Address;
use mailkeep_core::embedded as store;
use mailkeep_core::import::{self, ImportError, Message, Source};
use mailkeep_core::time::now;

/// Writes in flight at once: enough for the store to batch them, few enough to bound memory.
const IN_FLIGHT: usize = 256;
/// Bytes of message data in flight at once (bounds memory for large messages).
const IN_FLIGHT_BYTES: u64 = 64 << 20;

fn closed(path: &Path) -> ImportError {
    ImportError::Io {
        path: path.to_path_buf(),
        cause: std::io::Error::other("the store stopped accepting writes"),
    }
}

pub fn run(dir: &Path, account: &str, mailbox: Option<&str>, path: &Path) -> Result<()> {
    let address = Address::parse(account)?.to_string();
    let source = import::detect(path)?;
    let config = crate::load_config(dir)?;
    let store = match crate::backend::open(dir, &config, true) {
        // Beside a running server: its sessions hear of the new mail through the change
        // feed; large bodies go into the database, as the server holds the segment files.
        Err(e) if matches!(e.downcast_ref(), Some(store::Error::Locked(_))) => {
            eprintln!(
                "the server is running on {}; importing beside it",
                dir.display()
            );
            crate::backend::open(dir, &config, false)?
        }
        other => other?,
    }
    .acting(crate::admin());
    let acc = store
        .account(&address)?
        .with_context(|| format!("no such user: {address}"))?;
    let base = mailbox.unwrap_or("INBOX").trim_matches('/').to_owned();
    let target = |folder: &str| -> String {
        if folder.is_empty() {
            base.clone()
        } else if base == "INBOX" {
            // A tree imported into INBOX keeps its folders at the top level.
            folder.to_owned()
        } else {
            format!("{base}/{folder}")
        }
    };

    let (total, is_bytes) = match &source {
        Source::Mbox(p) => (std::fs::metadata(p)?.len(), true),
        Source::Maildirs(dirs) => {
            let mut n = 0;
            for (_, d) in dirs {
                n += import::maildir_files(d)?.len() as u64;
            }
            (n, false)
        }
    };
    let bar = ProgressBar::new(total);
    let template = if is_bytes {
        "{bar:40} {bytes}/{total_bytes} {msg}"
    } else {
        "{bar:40} {pos}/{len} messages {msg}"
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    // Mailboxes first, in the order met, so that a folder exists before its messages.
    let mut folders = vec![String::new()];
    if let Source::Maildirs(dirs) = &source {
        folders.extend(dirs.iter().map(|(f, _)| f.clone()));
    }
    let existing: Vec<String> = store
        .mailboxes(acc.id)?
        .into_iter()
        .map(|m| m.name)
        .collect();
    // Folders whose name no IMAP client could CREATE are not imported: listed, not guessed at.
    let mut skipped_items: Vec<String> = Vec::new();
    let mut refused: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for f in &folders {
        let name = match import::mailbox_name(&target(f)) {
            Ok(name) => name,
            Err(why) => {
                skipped_items.push(format!("folder {:?}: {why}", target(f)));
                refused.insert(f.clone());
                continue;
            }
        };
        names.insert(f.clone(), name.clone());
        if !existing.contains(&name) {
            match store.create_mailbox(acc.id, &name, rand::random::<u32>().max(1)) {
                Ok(()) | Err(store::Error::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    // One submitter keeps the source's order (UIDs follow it); many writes in flight let the
    // store commit them in batches.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(store::Result<Option<u32>>, u64)>();
    let (mut in_flight, mut imported, mut skipped) = (0usize, 0u64, 0u64);
    let mut in_flight_bytes = 0u64;
    let mut unplaced = 0u64;
    let mut unreadable: Vec<String> = Vec::new();
    let mut settle = |r: store::Result<Option<u32>>| -> Result<()> {
        match r? {
            Some(_) => imported += 1,
            None => skipped += 1,
        }
        if !is_bytes {
            bar.inc(1);
        }
        Ok(())
    };
    let mut failure: Option<anyhow::Error> = None;
    let mut submit = |m: Message| -> Result<(), ImportError> {
        // When the window is full, let half of it drain before submitting again: writes
        // then arrive in bursts that the store commits together, not one by one.
        if in_flight >= IN_FLIGHT || in_flight_bytes >= IN_FLIGHT_BYTES {
            while in_flight > IN_FLIGHT / 2 || in_flight_bytes > IN_FLIGHT_BYTES / 2 {
                let (r, size) = done_rx.recv().map_err(|_| closed(path))?;
                in_flight -= 1;
                in_flight_bytes -= size;
                if let Err(e) = settle(r) {
                    failure.get_or_insert(e);
                    return Err(closed(path));
                }
            }
        }
        if refused.contains(&m.folder) {
            unplaced += 1;
            return Ok(());
        }
        let tx = done_tx.clone();
        let date = m.date.unwrap_or_else(now);
        let size = m.bytes.len() as u64;
        store.append_if_absent_then(
            acc.id,
            names
                .get(&m.folder)
                .map_or(target(&m.folder), Clone::clone)
                .as_str(),
            m.bytes,
            m.flags,
            date,
            Box::new(move |r| {
                let _ = tx.send((r, size));
            }),
        );
        in_flight += 1;
        in_flight_bytes += size;
        Ok(())
    };
    let read_result = match &source {
        Source::Mbox(p) => import::read_mbox(p, |m, pos| {
            bar.set_position(pos);
            submit(m)
        }),
        Source::Maildirs(dirs) => (|| {
            for (folder, d) in dirs {
                for file in import::maildir_files(d)? {
                    match import::read_maildir_message(&file, folder) {
                        Ok(m) => submit(m)?,
                        Err(e) => unreadable.push(e.to_string()),
                    }
                }
            }
            Ok(())
        })(),
    };
    while in_flight > 0 {
        let (r, _) = done_rx.recv().map_err(|_| closed(path))?;
        in_flight -= 1;
        if let Err(e) = settle(r) {
            failure.get_or_insert(e);
        }
    }
    if let Some(e) = failure {
        return Err(e.context("import stopped; re-run it to continue where it stopped"));
    }
    bar.finish_and_clear();
    read_result?;
    println!("imported {imported} messages into {address} ({skipped} already there, skipped)");
    crate::index::after_import(dir, &*store)?;
    store.close();
    skipped_items.extend(unreadable.iter().map(|e| format!("unreadable: {e}")));
    if unplaced > 0 {
        skipped_items.push(format!(
            "{unplaced} message(s) in the folders refused above"
        ));
    }
    for s in &skipped_items {
        println!("NOT IMPORTED: {s}");
    }
    if !skipped_items.is_empty() {
        bail!(
            "{} unreadable file(s), {} folder(s) with a name IMAP CREATE refuses ({unplaced} message(s)) not imported; see NOT IMPORTED above",
            unreadable.len(),
            refused.len()
        );
    }
    Ok(())
}
