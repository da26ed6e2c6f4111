//! Protection state shared by every node: submissions per account (so the hourly limit is
//! one limit, not one per node) and the MTA-STS policies seen.

use mailkeep_store_api::{Protection, Result, StsPolicy};

use crate::PgStore;
use crate::conn::Q;

impl Protection for PgStore {
    fn record_submission(&self, account_id: i64, at: i64, forget_before: i64) -> Result<()> {
        self.writer().write(move |w| {
            w.tx.execute(
                "INSERT INTO submissions (account_id, at) VALUES ($1, $2)",
                &[&account_id, &at],
            )
            .q()?;
            w.tx.execute("DELETE FROM submissions WHERE at < $1", &[&forget_before])
                .q()?;
            Ok(())
        })
    }

    fn submissions_since(&self, account_id: i64, since: i64) -> Result<u64> {
        self.reads().with(move |c| {
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM submissions WHERE account_id = $1 AND at >= $2",
                    &[&account_id, &since],
                )
                .q()?
                .get(0);
            Ok(n as u64)
        })
    }

    fn sts_policy(&self, domain: &str) -> Result<Option<StsPolicy>> {
        let domain = domain.to_owned();
        self.reads().with(move |c| {
            Ok(c.query_opt(
                "SELECT id, text, expires_at FROM sts_policies WHERE domain = $1",
                &[&domain],
            )
            .q()?
            .map(|r| StsPolicy {
                id: r.get(0),
                text: r.get(1),
                expires_at: r.get(2),
            }))
        })
    }

    fn put_sts_policy(&self, domain: &str, policy: &StsPolicy) -> Result<()> {
        let (domain, policy) = (domain.to_owned(), policy.clone());
        self.writer().write(move |w| {
            w.tx.execute(
                "INSERT INTO sts_policies (domain, id, text, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (domain) DO UPDATE
                 SET id = EXCLUDED.id, text = EXCLUDED.text, expires_at = EXCLUDED.expires_at",
                &[&domain, &policy.id, &policy.text, &policy.expires_at],
            )
            .q()?;
            Ok(())
        })
    }
}
