//! The outbound queue, worked by every node. A claim leases a recipient (`claimed_until`)
//! inside a write transaction, under the write lock, so two nodes never hold the same one; a
//! node that dies mid-delivery leaves its lease to expire and the recipient becomes due again
//! (at least once, the most SMTP allows).

use mailkeep_journal::Kind;
use mailkeep_store_api::{
    Actor, Claimed, Done, Hash, NewOutbound, Outcome, Placed, Queue, QueueEntry, QueueRcpt, Result,
    Target,
};
use postgres::GenericClient;

use crate::PgStore;
use crate::conn::{Q, W};
use crate::journal::hash32;

use mailkeep_store_api::flags::domain_of;

impl W<'_, '_> {
    fn insert_outbound(
        &mut self,
        actor: &Actor,
        out: &NewOutbound,
        hash: &Hash,
        size: u64,
        now: i64,
    ) -> Result<()> {
        let id: i64 = self
            .tx
            .query_one(
                "INSERT INTO outbound (queue_id, account_id, sender, blob_hash, size, smtputf8,
                                       body_8bit, requiretls, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &out.queue_id,
                    &out.account_id,
                    &out.sender,
                    &&hash[..],
                    &(size as i64),
                    &out.smtputf8,
                    &out.body_8bit,
                    &out.requiretls,
                    &now,
                ],
            )
            .q()?
            .get(0);
        for rcpt in &out.recipients {
            self.tx
                .execute(
                    "INSERT INTO outbound_rcpts (outbound_id, address, domain, next_attempt)
                     VALUES ($1, $2, $3, $4)",
                    &[&id, rcpt, &domain_of(rcpt), &now],
                )
                .q()?;
        }
        let account: String = match out.account_id {
            Some(a) => self
                .tx
                .query_one("SELECT address FROM accounts WHERE id = $1", &[&a])
                .q()?
                .get(0),
            None => String::new(),
        };
        self.record_transfer(
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
        &mut self,
        actor: &Actor,
        rcpt_id: i64,
        kind: Kind,
        detail: &str,
    ) -> Result<()> {
        let r = self
            .tx
            .query_one(
                "SELECT o.sender, o.blob_hash, r.address, a.address, o.queue_id
                 FROM outbound_rcpts r JOIN outbound o ON o.id = r.outbound_id
                 LEFT JOIN accounts a ON a.id = o.account_id WHERE r.id = $1",
                &[&rcpt_id],
            )
            .q()?;
        let (sender, address, account, queue_id): (String, String, Option<String>, String) =
            (r.get(0), r.get(2), r.get(3), r.get(4));
        let blob = hash32(r.get(1))?;
        self.record_transfer(
            actor,
            kind,
            &account.unwrap_or_default(),
            &blob,
            (&sender, &[address]),
            &format!("{queue_id}: {detail}"),
        )?;
        Ok(())
    }
}

fn entries(c: &mut impl GenericClient, filter: &str, arg: Option<&str>) -> Result<Vec<QueueEntry>> {
    let sql = format!(
        "SELECT id, queue_id, sender, size, created_at, blob_hash FROM outbound {filter} ORDER BY id"
    );
    let rows = match arg {
        None => c.query(&sql, &[]),
        Some(a) => c.query(&sql, &[&a]),
    }
    .q()?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: i64 = r.get(0);
        let recipients = c
            .query(
                "SELECT address, state, attempts, next_attempt, last_error FROM outbound_rcpts
                 WHERE outbound_id = $1 ORDER BY id",
                &[&id],
            )
            .q()?
            .iter()
            .map(|r| QueueRcpt {
                address: r.get(0),
                state: r.get(1),
                attempts: r.get::<_, i64>(2) as u32,
                next_attempt: r.get(3),
                last_error: r.get(4),
            })
            .collect();
        out.push(QueueEntry {
            queue_id: r.get(1),
            sender: r.get(2),
            size: r.get::<_, i64>(3) as u64,
            created_at: r.get(4),
            blob: hash32(r.get(5))?,
            recipients,
        });
    }
    Ok(out)
}

impl PgStore {
    fn claim(
        &self,
        only: Option<(String, Vec<i64>)>,
        due_by: i64,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>> {
        let (domain, tried) = only.unzip();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.writer().write(move |w| {
            let rows = w
                .tx
                .query(
                    "SELECT r.id, o.queue_id, o.account_id, o.sender, r.address, r.domain, r.attempts,
                            o.blob_hash, o.created_at, o.smtputf8, o.body_8bit, o.requiretls, r.warned
                     FROM outbound_rcpts r JOIN outbound o ON o.id = r.outbound_id
                     WHERE r.state = 'queued' AND r.next_attempt <= $1
                       AND (r.claimed_until IS NULL OR r.claimed_until <= $2)
                       AND ($4::text IS NULL OR (r.domain = $4 AND NOT (r.id = ANY($5))))
                     ORDER BY r.next_attempt, r.id LIMIT $3
                     FOR UPDATE OF r SKIP LOCKED",
                    &[&due_by, &now, &limit, &domain, &tried.unwrap_or_default()],
                )
                .q()?;
            let mut claimed = Vec::with_capacity(rows.len());
            for r in rows {
                claimed.push(Claimed {
                    rcpt_id: r.get(0),
                    queue_id: r.get(1),
                    account_id: r.get(2),
                    sender: r.get(3),
                    address: r.get(4),
                    domain: r.get(5),
                    attempts: r.get::<_, i64>(6) as u32,
                    blob: hash32(r.get(7))?,
                    created_at: r.get(8),
                    smtputf8: r.get(9),
                    body_8bit: r.get(10),
                    requiretls: r.get(11),
                    warned: r.get(12),
                });
            }
            for c in &claimed {
                w.tx.execute(
                    "UPDATE outbound_rcpts SET claimed_until = $2 WHERE id = $1",
                    &[&c.rcpt_id, &(now + lease)],
                )
                .q()?;
            }
            Ok(claimed)
        })
    }
}

impl Queue for PgStore {
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
        let delivery_id = delivery_id.to_owned();
        let actor = self.actor.clone();
        let hash = mailkeep_store_api::hash(&bytes);
        let store = self.clone();
        self.stage_then(&hash, bytes, move |staged| {
            let body = match staged {
                Ok(body) => body,
                Err(e) => return done(Err(e)),
            };
            store.writer().submit(
                move |w| {
                    let size = body.len();
                    w.put_blob(&hash, &body)?;
                    let (from, rcpts) = &envelope;
                    let placed = w.place(
                        &actor,
                        (from, rcpts),
                        &targets,
                        &hash,
                        size,
                        now,
                        &delivery_id,
                    )?;
                    if let Some(out) = &outbound {
                        w.insert_outbound(&actor, out, &hash, size, now)?;
                    }
                    Ok(placed)
                },
                done,
            );
        });
    }

    fn queue_claim(&self, now: i64, lease: i64, limit: usize) -> Result<Vec<Claimed>> {
        self.claim(None, now, now, lease, limit)
    }

    fn queue_claim_domain(
        &self,
        domain: &str,
        tried: &[i64],
        due_by: i64,
        now: i64,
        lease: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>> {
        self.claim(
            Some((domain.to_owned(), tried.to_vec())),
            due_by,
            now,
            lease,
            limit,
        )
    }

    fn queue_record(&self, outcomes: Vec<(i64, Outcome)>, now: i64) -> Result<()> {
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            for (id, outcome) in &outcomes {
                match outcome {
                    Outcome::Sent { reply } => {
                        let n = w
                            .tx
                            .execute(
                                "UPDATE outbound_rcpts SET state = 'sent', attempts = attempts + 1,
                                 claimed_until = NULL, last_error = $2, finished_at = $3
                                 WHERE id = $1 AND state = 'queued'",
                                &[id, reply, &now],
                            )
                            .q()?;
                        if n > 0 {
                            w.record_outcome(&actor, *id, Kind::Sent, reply)?;
                        }
                    }
                    Outcome::Deferred {
                        error,
                        next_attempt,
                        warned,
                    } => {
                        w.tx.execute(
                            "UPDATE outbound_rcpts SET attempts = attempts + 1, last_error = $2,
                             claimed_until = NULL, next_attempt = $3, warned = warned OR $4
                             WHERE id = $1 AND state = 'queued'",
                            &[id, error, next_attempt, warned],
                        )
                        .q()?;
                    }
                    Outcome::Failed { error } => {
                        let n = w
                            .tx
                            .execute(
                                "UPDATE outbound_rcpts SET state = 'failed', attempts = attempts + 1,
                                 claimed_until = NULL, last_error = $2, finished_at = $3
                                 WHERE id = $1 AND state = 'queued'",
                                &[id, error, &now],
                            )
                            .q()?;
                        if n > 0 {
                            w.record_outcome(&actor, *id, Kind::Bounced, error)?;
                        }
                    }
                }
            }
            Ok(())
        })
    }

    fn queue_list(&self, all: bool) -> Result<Vec<QueueEntry>> {
        self.reads().snapshot(move |tx| {
            if all {
                entries(tx, "", None)
            } else {
                entries(
                    tx,
                    "WHERE id IN (SELECT outbound_id FROM outbound_rcpts WHERE state = 'queued')",
                    None,
                )
            }
        })
    }

    fn queue_entry(&self, queue_id: &str) -> Result<Option<QueueEntry>> {
        let queue_id = queue_id.to_owned();
        self.reads().snapshot(move |tx| {
            Ok(entries(tx, "WHERE queue_id = $1", Some(&queue_id))?
                .into_iter()
                .next())
        })
    }

    fn queue_retry(&self, queue_id: &str, now: i64) -> Result<usize> {
        let queue_id = queue_id.to_owned();
        self.writer().write(move |w| {
            Ok(w.tx
                .execute(
                    "UPDATE outbound_rcpts SET next_attempt = $2
                     WHERE state = 'queued'
                       AND outbound_id = (SELECT id FROM outbound WHERE queue_id = $1)",
                    &[&queue_id, &now],
                )
                .q()? as usize)
        })
    }

    fn queue_drop(&self, queue_id: &str, now: i64) -> Result<usize> {
        let queue_id = queue_id.to_owned();
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let ids: Vec<i64> =
                w.tx.query(
                    "UPDATE outbound_rcpts SET state = 'dropped', finished_at = $2,
                     last_error = 'dropped by the administrator'
                     WHERE state = 'queued'
                       AND outbound_id = (SELECT id FROM outbound WHERE queue_id = $1)
                     RETURNING id",
                    &[&queue_id, &now],
                )
                .q()?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for id in &ids {
                w.record_outcome(&actor, *id, Kind::Dropped, "dropped by the administrator")?;
            }
            Ok(ids.len())
        })
    }

    /// Releases nothing: other nodes may be sending under their leases right now, so a
    /// starting node waits for stale leases to expire instead of taking them back.
    fn queue_release_claims(&self) -> Result<usize> {
        Ok(0)
    }

    fn queue_next_due(&self) -> Result<Option<i64>> {
        self.reads().with(|c| {
            Ok(c.query_one(
                "SELECT MIN(next_attempt) FROM outbound_rcpts WHERE state = 'queued'",
                &[],
            )
            .q()?
            .get(0))
        })
    }
}
