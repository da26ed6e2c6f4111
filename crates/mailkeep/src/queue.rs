//! `mailkeep queue …`: the admin's view of the outbound queue.

use std::path::Path;

use anyhow::{Result, bail};
use mailkeep_core::admin::Queued;
use mailkeep_core::time::{now, rfc5322};

use crate::QueueCmd;

fn summary(e: &Queued) -> String {
    let waiting = e.recipients.iter().filter(|r| r.state == "queued").count();
    format!(
        "{id}  {size:>9} B  {when}  from <{from}>  {waiting}/{total} recipients waiting",
        id = e.queue_id,
        size = e.size,
        when = e.created,
        from = e.sender,
        total = e.recipients.len(),
    )
}

pub fn run(dir: &Path, cmd: QueueCmd) -> Result<()> {
    let (_, store) = crate::open_admin(dir)?;
    let store = &*store;
    match cmd {
        QueueCmd::List { all, json } => {
            let entries = mailkeep_core::admin::queue(store, all)?;
            if entries.is_empty() && !json {
                println!("the queue is empty");
            }
            crate::print_each(&entries, json, summary);
        }
        QueueCmd::Show { id } => {
            let Some(e) = store.queue_entry(&id)? else {
                bail!("no queue entry {id}");
            };
            let next = e
                .recipients
                .iter()
                .map(|r| r.next_attempt)
                .collect::<Vec<_>>();
            let e = Queued::from(e);
            println!("{}", summary(&e));
            for (r, at) in e.recipients.iter().zip(next) {
                let next = if r.state == "queued" {
                    format!(", next attempt {}", rfc5322(at))
                } else {
                    String::new()
                };
                println!(
                    "  <{}>  {}  after {} attempt(s){next}",
                    r.address, r.state, r.attempts
                );
                if let Some(err) = &r.last_error {
                    println!("    last: {err}");
                }
            }
        }
        QueueCmd::Retry { id } => match store.queue_retry(&id, now())? {
            0 => bail!("no waiting recipients in queue entry {id}"),
            n => println!(
                "{n} recipient(s) of {id} will be tried at once (within a minute if the server is idle)"
            ),
        },
        QueueCmd::Drop { id } => match store.queue_drop(&id, now())? {
            0 => bail!("no waiting recipients in queue entry {id}"),
            n => println!("dropped {n} waiting recipient(s) of {id}; the record is kept"),
        },
    }
    Ok(())
}
