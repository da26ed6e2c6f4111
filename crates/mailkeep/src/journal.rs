//! `mailkeep journal …`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use mailkeep_core::config::Config;
use mailkeep_core::embedded::{OpenOptions, Store};
use mailkeep_core::journal;

use crate::JournalCmd;

pub fn run(dir: &Path, cmd: JournalCmd) -> Result<()> {
    let config = Config::load(dir)?;
    let store = Store::open(dir, OpenOptions::default())?.acting(crate::admin());
    let signer = Arc::new(journal::load_signer(dir, &config.hostname)?);
    match cmd {
        JournalCmd::Checkpoint => {
            let cp = journal::checkpoint(&store, signer, &config.hostname, true)?
                .context("no checkpoint was written")?;
            print!("{}", cp.note);
        }
        JournalCmd::Pubkey => println!("{}", signer.verifier_key()),
        JournalCmd::Verify { from } => {
            let external = match &from {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let report = journal::verify(&store, &signer.verifier_key(), external.as_deref())?;
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
        } => {
            let acc = store
                .account(&account)?
                .with_context(|| format!("no such user: {account}"))?;
            let mb = store
                .mailbox(acc.id, &mailbox)?
                .with_context(|| format!("{account} has no mailbox {mailbox}"))?;
            let proof = journal::prove(&store, signer, &config.hostname, mb.id, uid)?
                .with_context(|| format!("no journal record of UID {uid} in {mailbox}"))?;
            print!("{}", proof.render());
        }
    }
    Ok(())
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `mailkeep audit`: the journal's events, filtered, as text or JSON lines.
pub fn audit(dir: &Path, account: Option<&str>, since: Option<&str>, json: bool) -> Result<()> {
    use mailkeep_core::store::journal::ActorKind;
    use mailkeep_core::time::{parse_time, rfc3339};
    let store = Store::open(dir, OpenOptions::default())?;
    let since = match since {
        Some(s) => Some(parse_time(s).with_context(|| {
            format!("--since {s}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix seconds")
        })?),
        None => None,
    };
    // An account name with no user and no event is almost always a typo: an empty answer
    // would read as "nothing happened".
    if let Some(a) = account
        && store.account(a)?.is_none()
        && !store
            .journal_events()?
            .iter()
            .any(|(_, e)| e.account.eq_ignore_ascii_case(a) || e.actor.eq_ignore_ascii_case(a))
    {
        bail!("no such account: {a} (no user of that name, and no journal event names it)");
    }
    for (idx, e) in store.journal_events()? {
        if since.is_some_and(|t| e.time < t) {
            continue;
        }
        if let Some(a) = account
            && !(e.account.eq_ignore_ascii_case(a) || e.actor.eq_ignore_ascii_case(a))
        {
            continue;
        }
        let kind = e.kind.map_or("?", |k| k.name());
        let actor_kind = match e.actor_kind {
            Some(ActorKind::System) | None => "system",
            Some(ActorKind::Account) => "account",
            Some(ActorKind::Admin) => "admin",
            Some(ActorKind::Peer) => "peer",
        };
        if json {
            println!(
                "{{\"leaf\":{idx},\"time\":{},\"kind\":{},\"actor_kind\":{},\"actor\":{},\"origin\":{},\"account\":{},\"mailbox\":{},\"uid\":{},\"mail_from\":{},\"recipients\":[{}],\"detail\":{}}}",
                json_str(&rfc3339(e.time)),
                json_str(kind),
                json_str(actor_kind),
                json_str(&e.actor),
                json_str(&e.origin),
                json_str(&e.account),
                json_str(&e.mailbox),
                e.uid,
                json_str(&e.mail_from),
                e.recipients
                    .iter()
                    .map(|r| json_str(r))
                    .collect::<Vec<_>>()
                    .join(","),
                json_str(&e.detail),
            );
        } else {
            let mut line = format!("{}  {kind:<17} {actor_kind}", rfc3339(e.time));
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
            println!("{line}");
        }
    }
    Ok(())
}
