//! Legal holds and purging: what keeps bytes, and the journaled step that deletes them.

use mailkeep_journal::Kind;
use mailkeep_store_api::{Error, Hash, Hold, Holds, Result};

use crate::PgStore;
use crate::conn::Q;
use crate::directory::live_account_id;

impl Holds for PgStore {
    fn add_hold(&self, account: Option<&str>, query: &str, reason: &str) -> Result<i64> {
        let actor = self.actor.clone();
        let (account, query, reason) = (
            account.map(str::to_owned),
            query.to_owned(),
            reason.to_owned(),
        );
        self.writer().write(move |w| {
            let account_id = match &account {
                Some(a) => Some(live_account_id(w.tx, a)?),
                None => None,
            };
            let id: i64 =
                w.tx.query_one(
                    "INSERT INTO holds (account_id, query, reason, created_at, created_by)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[&account_id, &query, &reason, &w.now, &actor.name],
                )
                .q()?
                .get(0);
            w.record_event(
                &actor,
                Kind::HoldSet,
                account.as_deref().unwrap_or(""),
                &format!("hold {id}: {reason}; query: {query}"),
            )?;
            Ok(id)
        })
    }

    fn release_hold(&self, id: i64) -> Result<()> {
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let n =
                w.tx.execute(
                    "UPDATE holds SET released_at = $2, released_by = $3
                     WHERE id = $1 AND released_at IS NULL",
                    &[&id, &w.now, &actor.name],
                )
                .q()?;
            if n == 0 {
                return Err(Error::NotFound(format!("no active hold {id}")));
            }
            w.record_event(&actor, Kind::HoldReleased, "", &format!("hold {id}"))?;
            Ok(())
        })
    }

    fn holds(&self) -> Result<Vec<Hold>> {
        self.reads().with(|c| {
            Ok(c.query(
                "SELECT h.id, a.address, h.query, h.reason, h.created_at, h.created_by, h.released_at
                 FROM holds h LEFT JOIN accounts a ON a.id = h.account_id ORDER BY h.id",
                &[],
            )
            .q()?
            .iter()
            .map(|r| Hold {
                id: r.get(0),
                account: r.get(1),
                query: r.get(2),
                reason: r.get(3),
                created_at: r.get(4),
                created_by: r.get(5),
                released_at: r.get(6),
            })
            .collect())
        })
    }

    fn blob_queued(&self, blob: &Hash) -> Result<bool> {
        let blob = *blob;
        self.reads().with(move |c| {
            Ok(c.query_one(
                "SELECT EXISTS(SELECT 1 FROM outbound o JOIN outbound_rcpts r ON r.outbound_id = o.id
                 WHERE o.blob_hash = $1 AND r.state = 'queued')",
                &[&&blob[..]],
            )
            .q()?
            .get(0))
        })
    }

    fn purge_blob(&self, blob: Hash, reason: &str) -> Result<usize> {
        let actor = self.actor.clone();
        let reason = reason.to_owned();
        let (count, keys) = self.writer().write(move |w| {
            let live: bool = w
                .tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM messages WHERE blob_hash = $1 AND expunged_at IS NULL)",
                    &[&&blob[..]],
                )
                .q()?
                .get(0);
            if live {
                return Err(Error::Conflict(format!(
                    "body {} is still shown in a mailbox",
                    hex::encode(blob)
                )));
            }
            let entries: Vec<(i64, u32)> = w
                .tx
                .query(
                    "SELECT mailbox_id, uid FROM messages WHERE blob_hash = $1 ORDER BY id",
                    &[&&blob[..]],
                )
                .q()?
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as u32))
                .collect();
            for (mailbox_id, uid) in &entries {
                w.record_message(&actor, Kind::Purged, *mailbox_id, *uid, &blob, &reason)?;
            }
            let now = w.now;
            // The object's key stays on the row: a purged row names no live object, so a
            // delete that fails below leaves the collector an orphan to remove.
            let keys: Vec<String> =
                w.tx.query(
                    "UPDATE blobs SET data = NULL, secret = NULL, purged_at = $2 WHERE hash = $1
                     RETURNING object_key",
                    &[&&blob[..], &now],
                )
                .q()?
                .iter()
                .filter_map(|r| r.get(0))
                .collect();
            w.tx.execute("DELETE FROM parsed WHERE blob_hash = $1", &[&&blob[..]])
                .q()?;
            Ok((entries.len(), keys))
        })?;
        self.drop_objects(keys);
        Ok(count)
    }

    fn purged_at(&self, blob: &Hash) -> Result<Option<i64>> {
        let blob = *blob;
        self.reads().with(move |c| {
            Ok(
                c.query_opt("SELECT purged_at FROM blobs WHERE hash = $1", &[&&blob[..]])
                    .q()?
                    .and_then(|r| r.get(0)),
            )
        })
    }
}
