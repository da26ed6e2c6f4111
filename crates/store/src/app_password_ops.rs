//! App passwords: generated secrets, one per device, that log in to IMAP or SMTP only and can
//! be revoked one by one, so the account's own password need not live on every phone.

use rusqlite::params;

use crate::journal::Kind;
use crate::journal_ops::record_event;
use crate::model::*;
use crate::ops::{exec, live_account_id};
use crate::{Error, Result, Store};

impl Store {
    /// Adds an app password called `name` to the account at `address`.
    pub fn add_app_password(
        &self,
        address: &str,
        name: &str,
        hash: Vec<u8>,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        let (address, name, scope) = (address.to_owned(), name.to_owned(), scope.to_owned());
        let actor = self.actor.clone();
        self.write(None, move |c, _| {
            let id = live_account_id(c, &address)?;
            let taken: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM app_passwords
                 WHERE account_id = ?1 AND name = ?2 AND revoked_at IS NULL)",
                params![id, name],
                |r| r.get(0),
            )?;
            if taken {
                return Err(Error::Conflict(format!(
                    "{address} already has an app password called {name:?}"
                )));
            }
            exec(
                c,
                "INSERT INTO app_passwords (account_id, name, hash, scope, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, name, hash, scope, now],
            )?;
            record_event(
                c,
                &actor,
                Kind::Audit,
                &address,
                &format!("app password {name:?} added ({scope})"),
            )?;
            Ok(())
        })
    }

    /// The live app passwords of an account.
    pub fn app_passwords(&self, account_id: i64) -> Result<Vec<AppPassword>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, hash, scope, created_at FROM app_passwords
                 WHERE account_id = ?1 AND revoked_at IS NULL ORDER BY name",
            )?;
            let rows = st.query_map([account_id], |r| {
                Ok(AppPassword {
                    name: r.get(0)?,
                    hash: r.get(1)?,
                    scope: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Revokes the app password called `name`: it stops working at once.
    pub fn revoke_app_password(&self, address: &str, name: &str, now: i64) -> Result<()> {
        let (address, name) = (address.to_owned(), name.to_owned());
        let actor = self.actor.clone();
        self.write(None, move |c, _| {
            let id = live_account_id(c, &address)?;
            let n = c.execute(
                "UPDATE app_passwords SET revoked_at = ?3
                 WHERE account_id = ?1 AND name = ?2 AND revoked_at IS NULL",
                params![id, name, now],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!(
                    "{address} has no app password called {name:?}"
                )));
            }
            record_event(
                c,
                &actor,
                Kind::Audit,
                &address,
                &format!("app password {name:?} revoked"),
            )?;
            Ok(())
        })
    }
}
