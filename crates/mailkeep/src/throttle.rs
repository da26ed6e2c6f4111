//! `mailkeep throttle`: the failed logins the password-guessing throttle counts, and a way
//! back for an administrator who locked themselves (or a user) out. Works on the store, so
//! against a running server too: a server that refuses a login asks the store again before
//! it does, and so sees a clear at once.

use mailkeep_core::store::prelude::*;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;

use mailkeep_core::store::AuthFailure;

#[derive(Subcommand)]
pub(crate) enum ThrottleCmd {
    /// Addresses and login names with failed logins in the window, and which are refused.
    List,
    /// Forget failed logins: of an address, of a login name, or (neither given) all of them.
    Clear {
        /// Client address (an IPv6 address clears its /64, which is what is counted).
        #[arg(long)]
        ip: Option<IpAddr>,
        /// Login name (an account's address, in any spelling that logs in as it).
        #[arg(long)]
        account: Option<String>,
    },
}

pub(crate) fn run(dir: &Path, cmd: ThrottleCmd) -> Result<()> {
    let (config, store) = crate::open_admin(dir)?;
    match cmd {
        ThrottleCmd::List => {
            let now = mailkeep_core::time::now();
            let window = i64::try_from(config.auth.window_secs).unwrap_or(i64::MAX);
            let failures = store
                .auth_failures(now.saturating_sub(window), None, None)
                .context("reading failed logins")?;
            let limits = [
                ("address", u64::from(config.auth.max_failures_per_ip)),
                ("name", u64::from(config.auth.max_failures_per_account)),
            ];
            let groups: [fn(&AuthFailure) -> &str; 2] = [|f| &f.ip, |f| &f.name];
            if failures.is_empty() {
                println!("no failed logins in the last {} seconds", window);
            }
            for ((what, limit), key) in limits.into_iter().zip(groups) {
                for (k, times) in by(&failures, key) {
                    let oldest = times.first().copied().unwrap_or(now);
                    let state = if times.len() as u64 >= limit {
                        let left = (oldest + window - now).max(0);
                        format!("REFUSED for {} more minutes", (left + 59) / 60)
                    } else {
                        "allowed".to_owned()
                    };
                    println!("{what} {k}: {} of {limit} failures; {state}", times.len());
                }
            }
        }
        ThrottleCmd::Clear { ip, account } => {
            let ip = ip.map(mailkeep_server::throttle_address_key);
            let name = account.as_deref().map(mailkeep_server::throttle_name_key);
            let n = store.clear_auth_failures(ip.as_deref(), name.as_deref())?;
            println!("cleared {n} failed logins");
        }
    }
    Ok(())
}

/// Failure times grouped by `key`, oldest first.
fn by(failures: &[AuthFailure], key: fn(&AuthFailure) -> &str) -> BTreeMap<&str, Vec<i64>> {
    let mut m: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for f in failures {
        m.entry(key(f)).or_default().push(f.at);
    }
    m
}
