//! `mailkeep discover …` and `mailkeep verify-export`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use mailkeep_core::admin::{Exported, Found};
use mailkeep_core::config::Config;
use mailkeep_core::discover::{self, Format, Query};

use crate::{DiscoverCmd, HoldCmd};

pub fn run(dir: &Path, cmd: DiscoverCmd) -> Result<()> {
    let (_, store) = crate::open_admin(dir)?;
    let store = &*store;
    let index = match cmd {
        DiscoverCmd::Search { no_index: true, .. } => None,
        _ => crate::index::current(dir, store),
    };
    match cmd {
        DiscoverCmd::Search {
            query,
            include_deleted,
            json,
            ..
        } => {
            let q = Query::parse(&query).map_err(anyhow::Error::msg)?;
            let found = discover::search(store, index.as_ref(), &q, include_deleted)?;
            let hits: Vec<Found> = found.hits.iter().map(Found::from).collect();
            crate::print_each(&hits, json, |h| {
                let mut line = format!(
                    "{} {} UID {}  {}  {}  \"{}\"",
                    h.account, h.mailbox, h.uid, h.received, h.from, h.subject
                );
                if let (Some(at), Some(by)) = (&h.deleted_at, &h.deleted_by) {
                    line.push_str(&format!("  DELETED {at} by {by}"));
                }
                line
            });
            eprintln!(
                "{} hit(s) in {} message(s) examined{}",
                found.hits.len(),
                found.examined,
                if include_deleted {
                    ", deleted included"
                } else {
                    ""
                }
            );
            for p in &found.purged {
                eprintln!("not searchable, bytes purged by retention: {p}");
            }
            for u in &found.unreadable {
                eprintln!("NOT SEARCHED (bytes unreadable): {u}");
            }
            if !found.unreadable.is_empty() {
                bail!(
                    "{} message(s) could not be searched",
                    found.unreadable.len()
                );
            }
        }
        DiscoverCmd::Export {
            query,
            out,
            format,
            include_deleted,
            json,
        } => {
            let format = match format.as_str() {
                "eml" => Format::Eml,
                "mbox" => Format::Mbox,
                other => bail!("--format {other}: expected eml or mbox"),
            };
            if out.exists() && std::fs::read_dir(&out).map(|mut d| d.next().is_some())? {
                bail!("{} exists and is not empty", out.display());
            }
            let config = Config::load(dir)?;
            let signer = Arc::new(mailkeep_core::journal::load_signer(dir, &config.hostname)?);
            let m = discover::export(
                store,
                index.as_ref(),
                signer,
                &config.hostname,
                &query,
                include_deleted,
                &out,
                format,
            )?;
            let done = Exported::new(&out, &m);
            if json {
                println!("{}", serde_json::to_string(&done)?);
            } else {
                println!(
                    "exported {} message(s) to {} with manifest.json; check it with `mailkeep verify-export {} --pubkey FILE`",
                    done.messages, done.directory, done.directory
                );
            }
        }
        DiscoverCmd::Status => {
            let found = discover::search(store, index.as_ref(), &Query::default(), true)?;
            println!(
                "{} message(s), deleted included; {} not parseable as MIME (searched as raw text); {} unreadable; {} purged",
                found.examined,
                found.unparsed,
                found.unreadable.len(),
                found.purged.len()
            );
            for h in found.hits.iter().filter(|h| h.unparsed) {
                println!(
                    "unparsed: {} {} UID {}",
                    h.entry.account, h.entry.mailbox, h.entry.uid
                );
            }
            for u in &found.unreadable {
                println!("unreadable: {u}");
            }
            match &index {
                Some(index) => {
                    let snap = index.snapshot()?;
                    println!(
                        "full-text index: {} message bodies indexed, {} not yet; {:.1} MiB",
                        index.matching(&snap, None)?.len(),
                        store.blobs_count_after(snap.seq)?,
                        index.size_on_disk() as f64 / (1 << 20) as f64
                    );
                }
                None => println!("full-text index: unusable; searches read every body"),
            }
        }
    }
    Ok(())
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn verify_export(bundle: &Path, pubkey: &Path, json: bool) -> Result<()> {
    let key =
        std::fs::read_to_string(pubkey).with_context(|| format!("reading {}", pubkey.display()))?;
    let check = mailkeep_core::admin::verify_export(bundle, key.trim());
    if json {
        println!("{}", serde_json::to_string(&check)?);
    } else if check.problems.is_empty() {
        println!(
            "export verified: {} message(s), every hash and journal proof checks against the signed checkpoint",
            check.messages
        );
    } else {
        for p in &check.problems {
            println!("PROBLEM: {p}");
        }
    }
    if !check.problems.is_empty() {
        bail!(
            "export verification failed: {} problem(s)",
            check.problems.len()
        );
    }
    Ok(())
}

pub fn hold(dir: &Path, cmd: HoldCmd) -> Result<()> {
    let (_, store) = crate::open_admin(dir)?;
    let store = &*store;
    match cmd {
        HoldCmd::Add {
            account,
            all: _,
            query,
            reason,
        } => {
            if reason.trim().is_empty() {
                bail!("--reason must say why the hold is placed");
            }
            Query::parse(&query).map_err(|e| anyhow::anyhow!("--query: {e}"))?;
            let id = store.add_hold(account.as_deref(), &query, &reason)?;
            println!(
                "hold {id} placed on {}{}",
                account.as_deref().unwrap_or("every account"),
                if query.is_empty() {
                    String::new()
                } else {
                    format!(" for '{query}'")
                }
            );
        }
        HoldCmd::List { json } => {
            let holds = mailkeep_core::admin::holds(store)?;
            if holds.is_empty() && !json {
                println!("no holds");
            }
            crate::print_each(&holds, json, |h| {
                format!(
                    "{}  {}  {}  {}  by {}  {}{}",
                    h.id,
                    if h.released.is_some() {
                        "released"
                    } else {
                        "ACTIVE"
                    },
                    h.created,
                    h.account.as_deref().unwrap_or("every account"),
                    h.created_by,
                    h.reason,
                    if h.query.is_empty() {
                        String::new()
                    } else {
                        format!("  query: {}", h.query)
                    }
                )
            });
        }
        HoldCmd::Release { id } => {
            store.release_hold(id)?;
            println!("hold {id} released");
        }
    }
    Ok(())
}

pub fn purge(dir: &Path, dry_run: bool) -> Result<()> {
    let config = Config::load(dir)?;
    let (_, store) = crate::open_admin(dir)?;
    let store = &*store;
    if !dry_run {
        store.note_retention(&config.retention.describe())?;
    }
    let index = crate::index::current(dir, store);
    let plan = mailkeep_core::retention::plan(
        store,
        index.as_ref(),
        &config.retention,
        mailkeep_core::time::now(),
    )?;
    for (blob, entries) in &plan.purge {
        let where_: Vec<String> = entries
            .iter()
            .map(|e| format!("{} {} UID {}", e.account, e.mailbox, e.uid))
            .collect();
        if dry_run {
            println!("would purge {} ({})", hex_of(blob), where_.join(", "));
        } else {
            store.purge_blob(*blob, &format!("retention {}", config.retention.keep))?;
            println!("purged {} ({})", hex_of(blob), where_.join(", "));
        }
    }
    println!(
        "{} {} bod(ies); kept {} under hold and {} within retention",
        if dry_run { "would purge" } else { "purged" },
        plan.purge.len(),
        plan.held,
        plan.young
    );
    Ok(())
}
