//! Retention and legal hold: which bodies `mailkeep purge` may delete.
//!
//! A body may go only when every mailbox entry showing it was expunged, every entry is past
//! its domain's retention (counted from arrival), no active hold covers any entry, and the
//! outbound queue no longer needs it. Purging is journaled per entry.

use std::collections::{BTreeMap, HashSet};

use crate::config::Retention;
use crate::discover::{Query, search};
use crate::store::{self, Backend, EntryRecord, Hash};

/// What a purge would do.
#[derive(Debug, Default)]
pub struct Plan {
    /// Bodies to purge, with the entries that showed them.
    pub purge: Vec<(Hash, Vec<EntryRecord>)>,
    /// Expunged bodies kept because a hold covers them.
    pub held: usize,
    /// Expunged bodies kept because retention has not run out.
    pub young: usize,
}

fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Works out what may be purged at `now`.
pub fn plan(
    store: &dyn Backend,
    index: Option<&crate::index::MailIndex>,
    retention: &Retention,
    now: i64,
) -> Result<Plan, store::Error> {
    // Entries under an active hold.
    let mut held: HashSet<(i64, u32)> = HashSet::new();
    let mut held_accounts: HashSet<Option<String>> = HashSet::new();
    for h in store
        .holds()?
        .into_iter()
        .filter(|h| h.released_at.is_none())
    {
        if h.query.trim().is_empty() {
            held_accounts.insert(h.account.clone());
            continue;
        }
        let q = Query::parse(&h.query).map_err(store::Error::Conflict)?;
        for hit in search(store, index, &q, true)?.hits {
            if h.account
                .as_ref()
                .is_none_or(|a| a.eq_ignore_ascii_case(&hit.entry.account))
            {
                held.insert((hit.entry.mailbox_id, hit.entry.uid));
            }
        }
    }
    let covered = |e: &EntryRecord| {
        held_accounts.contains(&None)
            || held_accounts.contains(&Some(e.account.clone()))
            || held.contains(&(e.mailbox_id, e.uid))
    };
    let mut by_blob: BTreeMap<Hash, Vec<EntryRecord>> = BTreeMap::new();
    for e in store.all_entries()? {
        by_blob.entry(e.blob).or_default().push(e);
    }
    let mut plan = Plan::default();
    for (blob, entries) in by_blob {
        if entries.iter().any(|e| e.expunged_at.is_none()) || store.purged_at(&blob)?.is_some() {
            continue;
        }
        let expired = entries.iter().all(|e| {
            retention
                .for_domain(domain(&e.account))
                .is_some_and(|keep| e.internal_date + keep <= now)
        });
        if !expired {
            plan.young += 1;
        } else if entries.iter().any(covered) {
            plan.held += 1;
        } else if !store.blob_queued(&blob)? {
            plan.purge.push((blob, entries));
        }
    }
    Ok(plan)
}
