//! The outbound queue: durable entries for remote recipients, claimed by delivery workers,
//! with the outcome of every attempt recorded.
//!
//! A claim leases a recipient to one worker (`claimed_until`). A worker that dies
//! mid-delivery leaves the lease to expire — or, on a single node, the next start releases
//! every lease — and the recipient becomes due again: at-least-once delivery, the most SMTP
//! allows when a crash falls between the peer's `250` and our record of it.

use mailkeep_store_api::Done;
use mailkeep_store_api::prelude::*;
use rusqlite::{Connection, OptionalExtension, params};

use crate::journal_ops::record_transfer;
use crate::model::*;
use crate::model::{Hash, Placed};
use crate::ops::{exec, hash_from, row};
use crate::{Error, Result, Store};
use mailkeep_journal::Kind;

use mailkeep_store_api::flags::domain_of;

pub(crate) fn insert_outbound(
    c: &Connection,
    actor: &Actor,
    out: &NewOutbound,
    hash: &Hash,
    size: u64,
    now: i64,
) -> Result<()> {
    let id: i64 = row(
        c,
        "INSERT INTO outbound (queue_id, account_id, sender, blob_hash, size, smtputf8, body_8bit,
                               requiretls, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            out.queue_id,
            out.account_id,
            out.sender,
            &hash[..],
            size,
            out.smtputf8,
            out.body_8bit,
            out.requiretls,
            now
        ],
        |r| r.get(0),
    )?;
    for rcpt in &out.recipients {
        exec(
            c,
            "INSERT INTO outbound_rcpts (outbound_id, address, domain, next_attempt)
             VALUES (?1, ?2, ?3, ?4)",
            params![id, rcpt, domain_of(rcpt), now],
        )?;
    }
    let account: String = match out.account_id {
        Some(a) => row(c, "SELECT address FROM accounts WHERE id = ?1", [a], |r| {
            r.get(0)
        })?,
        None => String::new(),
    };
    record_transfer(
        c,
        actor,
        Kind::Submitted,
        &account,
        hash,
        (&out.sender, &out.recipients),
        &out.queue_id,
    )?;
    Ok(())
}

/// Journals the outcome of one recipient's delivery.
fn record_outcome(
    c: &Connection,
    actor: &Actor,
    rcpt_id: i64,
    kind: Kind,
    detail: &str,
) -> Result<()> {
    let (sender, blob, address, account, queue_id): (
        String,
        Vec<u8>,
        String,
        Option<String>,
        String,
    ) = row(
        c,
        "SELECT o.sender, o.blob_hash, r.address, a.address, o.queue_id
         FROM outbound_rcpts r JOIN outbound o ON o.id = r.outbound_id
         LEFT JOIN accounts a ON a.id = o.account_id WHERE r.id = ?1",
        [rcpt_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    record_transfer(
        c,
        actor,
        kind,
        &account.unwrap_or_default(),
        &hash_from(blob)?,
        (&sender, &[address]),
        &format!("{queue_id}: {detail}"),
    )?;
    Ok(())
}

fn entry_rcpts(c: &Connection, outbound_id: i64) -> Result<Vec<QueueRcpt>> {
    let mut stmt = c.prepare_cached(
        "SELECT address, state, attempts, next_attempt, last_error FROM outbound_rcpts
         WHERE outbound_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([outbound_id], |r| {
        Ok(QueueRcpt {
            address: r.get(0)?,
            state: r.get(1)?,
            attempts: r.get(2)?,
            next_attempt: r.get(3)?,
            last_error: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn entries(c: &Connection, filter: &str, arg: Option<&str>) -> Result<Vec<QueueEntry>> {
    let sql = format!(
        "SELECT id, queue_id, sender, size, created_at, blob_hash FROM outbound {filter} ORDER BY id"
    );
    let mut stmt = c.prepare(&sql)?;
    let heads: Vec<(i64, QueueEntry)> = match arg {
        None => stmt.query_map([], head)?.collect::<rusqlite::Result<_>>()?,
        Some(a) => stmt
            .query_map([a], head)?
            .collect::<rusqlite::Result<_>>()?,
    };
    heads
        .into_iter()
        .map(|(id, mut e)| {
            e.recipients = entry_rcpts(c, id)?;
            Ok(e)
        })
        .collect()
}

fn head(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, QueueEntry)> {
    Ok((
        r.get(0)?,
        QueueEntry {
            queue_id: r.get(1)?,
            sender: r.get(2)?,
            size: r.get(3)?,
            created_at: r.get(4)?,
            blob: hash_from(r.get(5)?)?,
            recipients: Vec::new(),
        },
    ))
}

impl Store {
    fn claim(
        &self,
        only: Option<(String, String)>,
        due_by: i64,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>> {
        let (domain, tried) = only.unzip();
        self.write(None, move |c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT r.id, o.queue_id, o.account_id, o.sender, r.address, r.domain, r.attempts,
                        o.blob_hash, o.created_at, o.smtputf8, o.body_8bit, o.requiretls, r.warned
                 FROM outbound_rcpts r JOIN outbound o ON o.id = r.outbound_id
                 WHERE r.state = 'queued' AND r.next_attempt <= ?1
                   AND (r.claimed_until IS NULL OR r.claimed_until <= ?2)
                   AND (?4 IS NULL OR (r.domain = ?4
                        AND r.id NOT IN (SELECT value FROM json_each(?5))))
                 ORDER BY r.next_attempt, r.id LIMIT ?3",
            )?;
            let claimed: Vec<Claimed> = stmt
                .query_map(params![due_by, now, limit as i64, domain, tried], |r| {
                    Ok(Claimed {
                        rcpt_id: r.get(0)?,
                        queue_id: r.get(1)?,
                        account_id: r.get(2)?,
                        sender: r.get(3)?,
                        address: r.get(4)?,
                        domain: r.get(5)?,
                        attempts: r.get(6)?,
                        blob: hash_from(r.get(7)?)?,
                        created_at: r.get(8)?,
                        smtputf8: r.get(9)?,
                        body_8bit: r.get(10)?,
                        requiretls: r.get(11)?,
                        warned: r.get(12)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            for c2 in &claimed {
                exec(
                    c,
                    "UPDATE outbound_rcpts SET claimed_until = ?2 WHERE id = ?1",
                    params![c2.rcpt_id, now + lease],
                )?;
            }
            Ok(claimed)
        })
    }
}

impl Queue for Store {
    /// Stores `bytes` once, enters it in each local `(account_id, mailbox)` target and, with
    /// `outbound`, queues it for remote recipients — all in one durable transaction, journaled
    /// with the SMTP `envelope` (sender, every recipient).
    #[allow(clippy::too_many_arguments)]
    fn accept_then(
        &self,
        bytes: Vec<u8>,
        targets: Vec<Target>,
        outbound: Option<NewOutbound>,
        envelope: (String, Vec<String>),
        now: i64,
        delivery_id: &str,
        done: Done<Vec<Placed>>,
    ) {
        let size = bytes.len() as u64;
        let delivery_id = delivery_id.to_owned();
        let actor = self.actor.clone();
        let work = move |c: &Connection, hash: Option<&Hash>| {
            let hash = hash.ok_or(Error::Closed)?;
            let (from, rcpts) = &envelope;
            let placed = crate::ops::place(
                c,
                &actor,
                (from, rcpts),
                &targets,
                hash,
                size,
                now,
                &delivery_id,
            )?;
            if let Some(out) = &outbound {
                insert_outbound(c, &actor, out, hash, size, now)?;
            }
            Ok(placed)
        };
        self.submit(Some(bytes), work, done);
    }

    /// Takes up to `limit` due recipients (oldest first) and leases them for `lease` seconds.
    fn queue_claim(&self, now: i64, lease: i64, limit: usize) -> Result<Vec<Claimed>> {
        self.claim(None, now, now, lease, limit)
    }

    /// Takes up to `limit` recipients at `domain` that are due by `due_by` (which may lie
    /// ahead of `now`), except those in `tried`: for a connection to that domain that is
    /// already open, so that mail which would have needed a new connection a moment later goes
    /// over this one, while a recipient it has just deferred is not tried again on it.
    fn queue_claim_domain(
        &self,
        domain: &str,
        tried: &[i64],
        due_by: i64,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>> {
        let ids: Vec<String> = tried.iter().map(i64::to_string).collect();
        let tried = format!("[{}]", ids.join(","));
        self.claim(Some((domain.to_owned(), tried)), due_by, now, lease, limit)
    }

    /// Records the outcome of one attempt per recipient.
    fn queue_record(&self, outcomes: Vec<(i64, Outcome)>, now: i64) -> Result<()> {
        let actor = self.actor.clone();
        self.write(None, move |c, _| {
            for (id, outcome) in &outcomes {
                match outcome {
                    Outcome::Sent { reply } => {
                        let n = exec(
                            c,
                            "UPDATE outbound_rcpts SET state = 'sent', attempts = attempts + 1, claimed_until = NULL,
                             last_error = ?2, finished_at = ?3 WHERE id = ?1 AND state = 'queued'",
                            params![id, reply, now],
                        )?;
                        if n > 0 {
                            record_outcome(c, &actor, *id, Kind::Sent, reply)?;
                        }
                        n
                    }
                    Outcome::Deferred {
                        error,
                        next_attempt,
                        warned,
                    } => exec(
                        c,
                        "UPDATE outbound_rcpts SET attempts = attempts + 1, last_error = ?2, claimed_until = NULL,
                         next_attempt = ?3, warned = warned OR ?4 WHERE id = ?1 AND state = 'queued'",
                        params![id, error, next_attempt, warned],
                    )?,
                    Outcome::Failed { error } => {
                        let n = exec(
                            c,
                            "UPDATE outbound_rcpts SET state = 'failed', attempts = attempts + 1, claimed_until = NULL,
                             last_error = ?2, finished_at = ?3 WHERE id = ?1 AND state = 'queued'",
                            params![id, error, now],
                        )?;
                        if n > 0 {
                            record_outcome(c, &actor, *id, Kind::Bounced, error)?;
                        }
                        n
                    }
                };
            }
            Ok(())
        })
    }

    /// Every queue entry with a recipient still queued (`all`: every entry ever queued).
    fn queue_list(&self, all: bool) -> Result<Vec<QueueEntry>> {
        self.read(|c| {
            if all {
                entries(c, "", None)
            } else {
                entries(
                    c,
                    "WHERE id IN (SELECT outbound_id FROM outbound_rcpts WHERE state = 'queued')",
                    None,
                )
            }
        })
    }

    /// One queue entry by id.
    fn queue_entry(&self, queue_id: &str) -> Result<Option<QueueEntry>> {
        self.read(|c| {
            Ok(entries(c, "WHERE queue_id = ?1", Some(queue_id))?
                .into_iter()
                .next())
        })
    }

    /// Makes the queued recipients of an entry due now; returns how many. One a worker is
    /// sending right now keeps its lease, so that it is not sent a second time in parallel.
    fn queue_retry(&self, queue_id: &str, now: i64) -> Result<usize> {
        let queue_id = queue_id.to_owned();
        self.write(None, move |c, _| {
            Ok(exec(
                c,
                "UPDATE outbound_rcpts SET next_attempt = ?2
                 WHERE state = 'queued' AND outbound_id = (SELECT id FROM outbound WHERE queue_id = ?1)",
                params![queue_id, now],
            )?)
        })
    }

    /// Stops delivery of an entry's queued recipients (the record stays); returns how many.
    fn queue_drop(&self, queue_id: &str, now: i64) -> Result<usize> {
        let queue_id = queue_id.to_owned();
        let actor = self.actor.clone();
        self.write(None, move |c, _| {
            let mut st = c.prepare_cached(
                "UPDATE outbound_rcpts SET state = 'dropped', finished_at = ?2,
                 last_error = 'dropped by the administrator'
                 WHERE state = 'queued' AND outbound_id = (SELECT id FROM outbound WHERE queue_id = ?1)
                 RETURNING id",
            )?;
            let ids: Vec<i64> = st
                .query_map(params![queue_id, now], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in &ids {
                record_outcome(c, &actor, *id, Kind::Dropped, "dropped by the administrator")?;
            }
            Ok(ids.len())
        })
    }

    /// Releases every lease: at start, before any worker runs, every lease is stale.
    fn queue_release_claims(&self) -> Result<usize> {
        self.write(None, |c, _| {
            Ok(exec(
                c,
                "UPDATE outbound_rcpts SET claimed_until = NULL WHERE claimed_until IS NOT NULL",
                [],
            )?)
        })
    }

    /// The earliest time a queued recipient is due, if any.
    fn queue_next_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT MIN(next_attempt) FROM outbound_rcpts WHERE state = 'queued'",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
        })
    }
}
