//! Failed logins, kept so that the password-guessing throttle outlives the process: an
//! attacker must not win a fresh budget by crashing or restarting the server, and an
//! administrator must be able to see and lift a block from the command line while the
//! server runs.

use mailkeep_store_api::prelude::*;
use rusqlite::params;

use mailkeep_journal::Kind;

use crate::journal_ops::record_event;
use crate::model::*;
use crate::ops::exec;
use crate::{Result, Store};

impl Throttle for Store {
    /// Records a failed login, and journals it as an audit event of `tried` (the name as the
    /// client gave it) in the same transaction. Failures older than `forget_before` (Unix
    /// seconds) go: they are outside every throttle window.
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
        self.write(None, move |c, _| {
            exec(
                c,
                "INSERT INTO auth_failures (at, ip, name, protocol) VALUES (?1, ?2, ?3, ?4)",
                params![failure.at, failure.ip, failure.name, failure.protocol],
            )?;
            exec(
                c,
                "DELETE FROM auth_failures WHERE at < ?1",
                [forget_before],
            )?;
            record_event(c, &actor, Kind::Audit, &tried, &detail)?;
            Ok(())
        })
    }

    /// Failed logins since `since` (Unix seconds), oldest first; only those from `ip` and/or
    /// for `name` when given.
    fn auth_failures(
        &self,
        since: i64,
        ip: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<AuthFailure>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, ip, name, protocol FROM auth_failures
                 WHERE at >= ?1 AND (?2 IS NULL OR ip = ?2) AND (?3 IS NULL OR name = ?3)
                 ORDER BY at, id",
            )?;
            let rows = stmt.query_map(params![since, ip, name], |r| {
                Ok(AuthFailure {
                    at: r.get(0)?,
                    ip: r.get(1)?,
                    name: r.get(2)?,
                    protocol: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Forgets failed logins from `ip` and/or for `name` (every one when both are `None`);
    /// returns how many. Journaled as an audit event, since it lifts a security block.
    fn clear_auth_failures(&self, ip: Option<&str>, name: Option<&str>) -> Result<usize> {
        let actor = self.actor.clone();
        let (ip, name) = (ip.map(str::to_owned), name.map(str::to_owned));
        self.write(None, move |c, _| {
            let n = exec(
                c,
                "DELETE FROM auth_failures WHERE (?1 IS NULL OR ip = ?1) AND (?2 IS NULL OR name = ?2)",
                params![ip, name],
            )?;
            let what = match (&ip, &name) {
                (None, None) => "every address and name".to_owned(),
                (Some(ip), None) => format!("address {ip}"),
                (None, Some(name)) => format!("name {name}"),
                (Some(ip), Some(name)) => format!("address {ip} and name {name}"),
            };
            record_event(
                c,
                &actor,
                Kind::Audit,
                name.as_deref().unwrap_or(""),
                &format!("login throttle cleared for {what} ({n} failures forgotten)"),
            )?;
            Ok(n)
        })
    }
}
