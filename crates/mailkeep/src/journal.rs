//! `mailkeep journal …`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use mailkeep_core::config::Config;
use mailkeep_core::{admin, journal};

use crate::JournalCmd;

pub fn run(dir: &Path, cmd: JournalCmd) -> Result<()> {
    let config = Config::load(dir)?;
    let (_, store) = crate::open_admin(dir)?;
    let store = &*store;
    let signer = Arc::new(journal::load_signer(dir, &config.hostname)?);
    match cmd {
        JournalCmd::Checkpoint { json } => {
            let cp = admin::checkpoint(store, signer, &config.hostname)?;
            if json {
                println!("{}", serde_json::to_string(&cp)?);
            } else {
                print!("{}", cp.note);
            }
        }
        JournalCmd::Pubkey => println!("{}", signer.verifier_key()),
        JournalCmd::Verify { from, json } => {
            let external = match &from {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let report = journal::verify(store, &signer.verifier_key(), external.as_deref())?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
                if report.problems.is_empty() {
                    return Ok(());
                }
                bail!(
                    "journal verification failed: {} problem(s)",
                    report.problems.len()
                );
            }
            println!(
                "checked {} journal leaves, {} signed checkpoints, {} mailbox entries, {} message bodies",
                report.leaves, report.checkpoints, report.entries, report.bodies
            );
            if report.problems.is_empty() {
                println!("journal verified: nothing is missing or altered");
            } else {
                for p in &report.problems {
                    println!("PROBLEM: {p}");
                }
                bail!(
                    "journal verification failed: {} problem(s)",
                    report.problems.len()
                );
            }
        }
        JournalCmd::Prove {
            account,
            mailbox,
            uid,
            json,
        } => {
            let proof = admin::prove(store, signer, &config.hostname, &account, &mailbox, uid)?;
            if json {
                println!("{}", serde_json::to_string(&proof)?);
            } else {
                print!("{}", proof.render());
            }
        }
    }
    Ok(())
}

/// `mailkeep audit`: the journal's events, filtered, as text or JSON lines.
pub fn audit(dir: &Path, account: Option<&str>, since: Option<&str>, json: bool) -> Result<()> {
    use mailkeep_core::time::parse_time;
    let (_, store) = crate::open_admin(dir)?;
    let store = &*store;
    let since = match since {
        Some(s) => Some(parse_time(s).with_context(|| {
            format!("--since {s}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix seconds")
        })?),
        None => None,
    };
    let events = admin::audit(store, account, since)?;
    crate::print_each(&events, json, |e| {
        let mut line = format!("{}  {:<17} {}", e.time, e.kind, e.actor_kind);
        if !e.actor.is_empty() {
            line.push_str(&format!(" {}", e.actor));
        }
        if !e.origin.is_empty() {
            line.push_str(&format!(" from {}", e.origin));
        }
        if !e.account.is_empty() {
            line.push_str(&format!("  account {}", e.account));
        }
        if !e.mailbox.is_empty() {
            line.push_str(&format!("  {} UID {}", e.mailbox, e.uid));
        }
        if !e.detail.is_empty() {
            line.push_str(&format!("  ({})", e.detail.replace(['\r', '\n'], " ")));
        }
        line
    });
    Ok(())
}
