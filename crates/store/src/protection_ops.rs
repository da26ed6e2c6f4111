//! Protection state kept in the store rather than in the server's memory: submissions per
//! account (the hourly sending limit) and the MTA-STS policies seen. A restart resets
//! neither, so neither an attacker nor a downgrade gains from one.

use mailkeep_store_api::{Protection, StsPolicy};
use rusqlite::{OptionalExtension, params};

use crate::ops::{exec, row};
use crate::{Result, Store};

impl Protection for Store {
    fn record_submission(&self, account_id: i64, at: i64, forget_before: i64) -> Result<()> {
        self.write(None, move |c, _| {
            exec(
                c,
                "INSERT INTO submissions (account_id, at) VALUES (?1, ?2)",
                params![account_id, at],
            )?;
            exec(c, "DELETE FROM submissions WHERE at < ?1", [forget_before])?;
            Ok(())
        })
    }

    fn submissions_since(&self, account_id: i64, since: i64) -> Result<u64> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT COUNT(*) FROM submissions WHERE account_id = ?1 AND at >= ?2",
                params![account_id, since],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    fn sts_policy(&self, domain: &str) -> Result<Option<StsPolicy>> {
        self.read(|c| {
            Ok(row(
                c,
                "SELECT id, text, expires_at FROM sts_policies WHERE domain = ?1",
                [domain],
                |r| {
                    Ok(StsPolicy {
                        id: r.get(0)?,
                        text: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn put_sts_policy(&self, domain: &str, policy: &StsPolicy) -> Result<()> {
        let (domain, policy) = (domain.to_owned(), policy.clone());
        self.write(None, move |c, _| {
            exec(
                c,
                "INSERT OR REPLACE INTO sts_policies (domain, id, text, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![domain, policy.id, policy.text, policy.expires_at],
            )?;
            Ok(())
        })
    }
}
