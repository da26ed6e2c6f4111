//! Domains, accounts, aliases and app passwords. Every change bumps `directory_version`, the
//! stamp that caches on every node compare before trusting a cached lookup.

use mailkeep_journal::Kind;
use mailkeep_store_api::{
    Account, Alias, AppPassword, DEFAULT_MAILBOXES, Directory, Domain, DomainDeleted, Error,
    Lookup, Result,
};
use postgres::GenericClient;

use crate::PgStore;
use crate::conn::{Q, W, conflict_on_unique};

fn domain_id(c: &mut impl GenericClient, name: &str) -> Result<Option<i64>> {
    Ok(c.query_opt(
        "SELECT id FROM domains WHERE name = $1 AND deleted_at IS NULL",
        &[&name],
    )
    .q()?
    .map(|r| r.get(0)))
}

pub(crate) fn live_account_id(c: &mut impl GenericClient, address: &str) -> Result<i64> {
    c.query_opt(
        "SELECT id FROM accounts WHERE address = $1 AND deleted_at IS NULL",
        &[&address],
    )
    .q()?
    .map(|r| r.get(0))
    .ok_or_else(|| Error::NotFound(format!("no such user: {address}")))
}

fn account_row(r: &postgres::Row) -> Account {
    Account {
        id: r.get(0),
        address: r.get(1),
        password_hash: r.get(2),
        created_at: r.get(3),
    }
}

impl W<'_, '_> {
    /// The directory changed: caches on every node must reload.
    fn directory_changed(&mut self) -> Result<()> {
        self.tx
            .execute("UPDATE directory_version SET version = version + 1", &[])
            .q()?;
        Ok(())
    }
}

impl Directory for PgStore {
    fn directory_stamp(&self) -> Vec<u8> {
        // A failed read gives an empty stamp, which matches no cached one: caches reload.
        self.reads()
            .with(|c| {
                let v: i64 = c
                    .query_one("SELECT version FROM directory_version", &[])
                    .q()?
                    .get(0);
                Ok(v.to_be_bytes().to_vec())
            })
            .unwrap_or_default()
    }

    fn add_domain(&self, name: &str, now: i64) -> Result<()> {
        let name = name.to_owned();
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            // A deleted domain added again gets its old row back: its deleted accounts still
            // refer to it.
            let revived = w
                .tx
                .execute(
                    "UPDATE domains SET deleted_at = NULL WHERE name = $1 AND deleted_at IS NOT NULL",
                    &[&name],
                )
                .q()?;
            if revived == 0 {
                w.tx.execute(
                    "INSERT INTO domains (name, created_at) VALUES ($1, $2)",
                    &[&name, &now],
                )
                .map_err(|e| conflict_on_unique(e, format!("domain {name} already exists")))?;
            }
            w.record_event(&actor, Kind::DomainCreated, "", &name)?;
            w.directory_changed()
        })
    }

    fn domains(&self) -> Result<Vec<Domain>> {
        self.reads().with(|c| {
            Ok(c.query(
                "SELECT id, name FROM domains WHERE deleted_at IS NULL ORDER BY name",
                &[],
            )
            .q()?
            .iter()
            .map(|r| Domain {
                id: r.get(0),
                name: r.get(1),
            })
            .collect())
        })
    }

    fn delete_domain(&self, name: &str, force: bool, now: i64) -> Result<DomainDeleted> {
        let name = name.to_owned();
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let id = domain_id(w.tx, &name)?
                .ok_or_else(|| Error::NotFound(format!("no domain {name}")))?;
            let users: Vec<(i64, String)> = w
                .tx
                .query(
                    "SELECT id, address FROM accounts
                     WHERE domain_id = $1 AND deleted_at IS NULL ORDER BY address",
                    &[&id],
                )
                .q()?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            if !users.is_empty() && !force {
                let names: Vec<&str> = users.iter().take(5).map(|(_, a)| a.as_str()).collect();
                return Err(Error::Conflict(format!(
                    "{name} still has {} users ({}{}): delete them first, or use --force to \
                     delete them with it (their mail stays until retention allows a purge)",
                    users.len(),
                    names.join(", "),
                    if users.len() > 5 { ", …" } else { "" }
                )));
            }
            let aliases: Vec<(String, String)> = w
                .tx
                .query(
                    "SELECT s.source, a.address FROM aliases s JOIN accounts a ON a.id = s.account_id
                     WHERE s.source = '@' || $1 OR right(s.source, length($1) + 1) = '@' || $1
                     ORDER BY s.source",
                    &[&name],
                )
                .q()?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            for (source, target) in &aliases {
                w.tx.execute("DELETE FROM aliases WHERE source = $1", &[source])
                    .q()?;
                let what = format!("{source} -> {target}; domain {name} deleted");
                w.record_event(&actor, Kind::AliasDeleted, target, &what)?;
            }
            for (account, address) in &users {
                w.record_event(&actor, Kind::AccountDeleted, address, "domain deleted")?;
                w.note_account_deleted(*account);
                w.tx.execute("DELETE FROM aliases WHERE account_id = $1", &[account])
                    .q()?;
                w.tx.execute(
                    "UPDATE accounts SET deleted_at = $1 WHERE id = $2",
                    &[&now, account],
                )
                .q()?;
            }
            w.tx.execute(
                "UPDATE domains SET deleted_at = $1 WHERE id = $2",
                &[&now, &id],
            )
            .q()?;
            w.record_event(&actor, Kind::DomainDeleted, "", &name)?;
            w.directory_changed()?;
            Ok(DomainDeleted {
                users: users.into_iter().map(|(_, a)| a).collect(),
                aliases: aliases.into_iter().map(|(s, _)| s).collect(),
            })
        })
    }

    fn has_domain(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.reads()
            .with(move |c| Ok(domain_id(c, &name)?.is_some()))
    }

    fn add_account(
        &self,
        address: &str,
        domain: &str,
        password_hash: &str,
        now: i64,
        uidvalidity: u32,
    ) -> Result<i64> {
        let (address, domain, hash) = (
            address.to_owned(),
            domain.to_owned(),
            password_hash.to_owned(),
        );
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let dom = domain_id(w.tx, &domain)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "unknown domain {domain} (add it with `mailkeep domain add {domain}`)"
                ))
            })?;
            let taken: bool =
                w.tx.query_one(
                    "SELECT EXISTS(SELECT 1 FROM aliases WHERE source = $1)",
                    &[&address],
                )
                .q()?
                .get(0);
            if taken {
                return Err(Error::Conflict(format!("{address} is already an alias")));
            }
            let id: i64 =
                w.tx.query_one(
                    "INSERT INTO accounts (address, domain_id, password_hash, created_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&address, &dom, &hash, &now],
                )
                .map_err(|e| conflict_on_unique(e, format!("user {address} already exists")))?
                .get(0);
            w.record_event(&actor, Kind::AccountCreated, &address, "")?;
            for (name, special) in DEFAULT_MAILBOXES {
                w.tx.execute(
                    "INSERT INTO mailboxes (account_id, name, special_use, uidvalidity)
                     VALUES ($1, $2, $3, $4)",
                    &[&id, name, special, &i64::from(uidvalidity)],
                )
                .q()?;
            }
            w.directory_changed()?;
            Ok(id)
        })
    }

    fn set_password(&self, address: &str, password_hash: &str) -> Result<()> {
        let (address, hash) = (address.to_owned(), password_hash.to_owned());
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let id = live_account_id(w.tx, &address)?;
            w.tx.execute(
                "UPDATE accounts SET password_hash = $1 WHERE id = $2",
                &[&hash, &id],
            )
            .q()?;
            w.record_event(&actor, Kind::Audit, &address, "password changed")?;
            w.directory_changed()
        })
    }

    fn delete_account(&self, address: &str, now: i64) -> Result<()> {
        let address = address.to_owned();
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let id = live_account_id(w.tx, &address)?;
            w.record_event(&actor, Kind::AccountDeleted, &address, "")?;
            w.note_account_deleted(id);
            w.tx.execute("DELETE FROM aliases WHERE account_id = $1", &[&id])
                .q()?;
            w.tx.execute(
                "UPDATE accounts SET deleted_at = $1 WHERE id = $2",
                &[&now, &id],
            )
            .q()?;
            w.directory_changed()
        })
    }

    fn account(&self, address: &str) -> Result<Option<Account>> {
        let address = address.to_owned();
        self.reads().with(move |c| {
            Ok(c.query_opt(
                "SELECT id, address, password_hash, created_at FROM accounts
                 WHERE address = $1 AND deleted_at IS NULL",
                &[&address],
            )
            .q()?
            .map(|r| account_row(&r)))
        })
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        self.reads().with(|c| {
            Ok(c.query(
                "SELECT id, address, password_hash, created_at FROM accounts
                 WHERE deleted_at IS NULL ORDER BY address",
                &[],
            )
            .q()?
            .iter()
            .map(account_row)
            .collect())
        })
    }

    fn add_alias(&self, source: &str, source_domain: &str, target: &str, now: i64) -> Result<()> {
        let (source, dom, target) = (
            source.to_owned(),
            source_domain.to_owned(),
            target.to_owned(),
        );
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            domain_id(w.tx, &dom)?
                .ok_or_else(|| Error::NotFound(format!("unknown domain {dom}")))?;
            let id = live_account_id(w.tx, &target)?;
            let is_account: bool = w
                .tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM accounts WHERE address = $1 AND deleted_at IS NULL)",
                    &[&source],
                )
                .q()?
                .get(0);
            if is_account {
                return Err(Error::Conflict(format!("{source} is already a user")));
            }
            w.tx.execute(
                "INSERT INTO aliases (source, account_id, created_at) VALUES ($1, $2, $3)",
                &[&source, &id, &now],
            )
            .map_err(|e| conflict_on_unique(e, format!("alias {source} already exists")))?;
            w.record_event(
                &actor,
                Kind::AliasCreated,
                &target,
                &format!("{source} -> {target}"),
            )?;
            w.directory_changed()
        })
    }

    fn delete_alias(&self, source: &str) -> Result<String> {
        let source = source.to_owned();
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let target: String =
                w.tx.query_opt(
                    "SELECT a.address FROM aliases s JOIN accounts a ON a.id = s.account_id
                     WHERE s.source = $1",
                    &[&source],
                )
                .q()?
                .map(|r| r.get(0))
                .ok_or_else(|| Error::NotFound(format!("no alias {source}")))?;
            w.tx.execute("DELETE FROM aliases WHERE source = $1", &[&source])
                .q()?;
            w.record_event(
                &actor,
                Kind::AliasDeleted,
                &target,
                &format!("{source} -> {target}"),
            )?;
            w.directory_changed()?;
            Ok(target)
        })
    }

    fn alias_target(&self, source: &str) -> Result<Option<String>> {
        let source = source.to_owned();
        self.reads().with(move |c| {
            Ok(c.query_opt(
                "SELECT a.address FROM aliases s JOIN accounts a ON a.id = s.account_id
                 WHERE s.source = $1 AND a.deleted_at IS NULL",
                &[&source],
            )
            .q()?
            .map(|r| r.get(0)))
        })
    }

    fn lookup_recipient(&self, domain: &str, candidates: &[String]) -> Result<Lookup> {
        let (domain, candidates) = (domain.to_owned(), candidates.to_vec());
        self.reads().snapshot(move |tx| {
            if domain_id(tx, &domain)?.is_none() {
                return Ok(Lookup::NotOurDomain);
            }
            for cand in &candidates {
                let found = tx
                    .query_opt(
                        "SELECT id, address, password_hash, created_at FROM accounts
                         WHERE deleted_at IS NULL AND (address = $1 OR id = (
                            SELECT s.account_id FROM aliases s WHERE s.source = $1))
                         ORDER BY address = $1 DESC LIMIT 1",
                        &[cand],
                    )
                    .q()?;
                if let Some(r) = found {
                    return Ok(Lookup::Found(account_row(&r)));
                }
            }
            Ok(Lookup::NotFound)
        })
    }

    fn aliases(&self) -> Result<Vec<Alias>> {
        self.reads().with(|c| {
            Ok(c.query(
                "SELECT s.source, a.address FROM aliases s JOIN accounts a ON a.id = s.account_id
                 ORDER BY s.source",
                &[],
            )
            .q()?
            .iter()
            .map(|r| Alias {
                source: r.get(0),
                target: r.get(1),
            })
            .collect())
        })
    }

    fn add_app_password(
        &self,
        address: &str,
        name: &str,
        hash: Vec<u8>,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        let (address, name, scope) = (address.to_owned(), name.to_owned(), scope.to_owned());
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let id = live_account_id(w.tx, &address)?;
            let taken: bool =
                w.tx.query_one(
                    "SELECT EXISTS(SELECT 1 FROM app_passwords
                     WHERE account_id = $1 AND name = $2 AND revoked_at IS NULL)",
                    &[&id, &name],
                )
                .q()?
                .get(0);
            if taken {
                return Err(Error::Conflict(format!(
                    "{address} already has an app password called {name:?}"
                )));
            }
            w.tx.execute(
                "INSERT INTO app_passwords (account_id, name, hash, scope, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&id, &name, &hash, &scope, &now],
            )
            .q()?;
            w.record_event(
                &actor,
                Kind::Audit,
                &address,
                &format!("app password {name:?} added ({scope})"),
            )?;
            Ok(())
        })
    }

    fn app_passwords(&self, account_id: i64) -> Result<Vec<AppPassword>> {
        self.reads().with(move |c| {
            Ok(c.query(
                "SELECT name, hash, scope, created_at FROM app_passwords
                 WHERE account_id = $1 AND revoked_at IS NULL ORDER BY name",
                &[&account_id],
            )
            .q()?
            .iter()
            .map(|r| AppPassword {
                name: r.get(0),
                hash: r.get(1),
                scope: r.get(2),
                created_at: r.get(3),
            })
            .collect())
        })
    }

    fn revoke_app_password(&self, address: &str, name: &str, now: i64) -> Result<()> {
        let (address, name) = (address.to_owned(), name.to_owned());
        let actor = self.actor.clone();
        self.writer().write(move |w| {
            let id = live_account_id(w.tx, &address)?;
            let n =
                w.tx.execute(
                    "UPDATE app_passwords SET revoked_at = $3
                     WHERE account_id = $1 AND name = $2 AND revoked_at IS NULL",
                    &[&id, &name, &now],
                )
                .q()?;
            if n == 0 {
                return Err(Error::NotFound(format!(
                    "{address} has no app password called {name:?}"
                )));
            }
            w.record_event(
                &actor,
                Kind::Audit,
                &address,
                &format!("app password {name:?} revoked"),
            )?;
            Ok(())
        })
    }
}
