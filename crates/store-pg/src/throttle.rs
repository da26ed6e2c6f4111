//! Failed logins, shared by every node: an attacker cannot multiply their guesses by the
//! number of nodes, nor win a fresh budget by restarting one.

use mailkeep_journal::Kind;
use mailkeep_store_api::{AuthFailure, Result, Throttle};

use crate::PgStore;
use crate::conn::Q;

impl Throttle for PgStore {
    fn record_auth_failure(
        &self,
        failure: AuthFailure,
        tried: &str,
        detail: &str,
        forget_before: i64,
    ) -> Result<()> {
        let actor = self.actor.clone();
        let tried: String = tried.chars().take(256).collect();
        let detail = detail.to_owned();
        self.writer().write(move |w| {
            w.tx.execute(
                "INSERT INTO auth_failures (at, ip, name, protocol) VALUES ($1, $2, $3, $4)",
                &[&failure.at, &failure.ip, &failure.name, &failure.protocol],
            )
            .q()?;
            w.tx.execute("DELETE FROM auth_failures WHERE at < $1", &[&forget_before])
                .q()?;
            w.record_event(&actor, Kind::Audit, &tried, &detail)?;
            Ok(())
        })
    }

    fn auth_failures(
        &self,
        since: i64,
        ip: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<AuthFailure>> {
        let (ip, name) = (ip.map(str::to_owned), name.map(str::to_owned));
        self.reads().with(move |c| {
            Ok(c.query(
                "SELECT at, ip, name, protocol FROM auth_failures
                 WHERE at >= $1 AND ($2::text IS NULL OR ip = $2) AND ($3::text IS NULL OR name = $3)
                 ORDER BY at, id",
                &[&since, &ip, &name],
            )
            .q()?
            .iter()
            .map(|r| AuthFailure {
                at: r.get(0),
                ip: r.get(1),
                name: r.get(2),
                protocol: r.get(3),
            })
            .collect())
        })
    }

    fn clear_auth_failures(&self, ip: Option<&str>, name: Option<&str>) -> Result<usize> {
        let actor = self.actor.clone();
        let (ip, name) = (ip.map(str::to_owned), name.map(str::to_owned));
        self.writer().write(move |w| {
            let n =
                w.tx.execute(
                    "DELETE FROM auth_failures
                     WHERE ($1::text IS NULL OR ip = $1) AND ($2::text IS NULL OR name = $2)",
                    &[&ip, &name],
                )
                .q()? as usize;
            let what = match (&ip, &name) {
                (None, None) => "every address and name".to_owned(),
                (Some(ip), None) => format!("address {ip}"),
                (None, Some(name)) => format!("name {name}"),
                (Some(ip), Some(name)) => format!("address {ip} and name {name}"),
            };
            w.record_event(
                &actor,
                Kind::Audit,
                name.as_deref().unwrap_or(""),
                &format!("login throttle cleared for {what} ({n} failures forgotten)"),
            )?;
            Ok(n)
        })
    }
}
