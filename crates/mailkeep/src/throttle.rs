//! `mailkeep throttle`: the failed logins the password-guessing throttle counts, and a way
//! back for an administrator who locked themselves (or a user) out. Works on the store, so
//! against a running server too: a server that refuses a login asks the store again before
//! it does, and so sees a clear at once.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum ThrottleCmd {
    /// Addresses and login names with failed logins in the window, and which are refused.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
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
    let store = &*store;
    match cmd {
        ThrottleCmd::List { json } => {
            let now = mailkeep_core::time::now();
            let list = mailkeep_core::admin::throttled(store, &config.auth, now)
                .context("reading failed logins")?;
            if list.is_empty() && !json {
                println!(
                    "no failed logins in the last {} seconds",
                    config.auth.window_secs
                );
            }
            crate::print_each(&list, json, |t| {
                let state = match t.refused_minutes {
                    Some(m) => format!("REFUSED for {m} more minutes"),
                    None => "allowed".to_owned(),
                };
                format!(
                    "{} {}: {} of {} failures; {state}",
                    t.kind, t.key, t.failures, t.limit
                )
            });
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
