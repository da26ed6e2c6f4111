//! `mailkeep quickstart`: from nothing to a serving demo in one command.

use std::path::Path;

use anyhow::Result;
use mailkeep_core::accounts;
use mailkeep_core::config::Config;
use mailkeep_core::embedded::{OpenOptions, Store};
use mailkeep_core::time::now;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::files::write_durable;

const CREDENTIALS: &str = "quickstart-credentials.txt";

pub fn run(dir: &Path, domain: &str) -> Result<()> {
    let fresh = !dir.join("FORMAT").exists();
    if fresh {
        let domain = mailkeep_core::address::parse_domain(domain)?;
        crate::init::init(dir, &domain, &format!("mail.{domain}"))?;
        let user = format!("demo@{domain}");
        let password: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        let config = Config::load(dir)?;
        let store = Store::open(dir, OpenOptions::default())?.acting(crate::admin());
        accounts::add_user(
            &store,
            &user,
            &password,
            config.accounts.min_password_length,
            now(),
            rand::random(),
        )?;
        store.close();
        write_durable(
            &dir.join(CREDENTIALS),
            format!("{user}\n{password}\n").as_bytes(),
            0o600,
        )?;
    }
    let config = Config::load(dir)?;
    let creds = std::fs::read_to_string(dir.join(CREDENTIALS)).unwrap_or_default();
    let mut lines = creds.lines();
    let (user, password) = (
        lines.next().unwrap_or("(unknown)"),
        lines.next().unwrap_or("(unknown)"),
    );
    print_instructions(dir, &config, user, password, fresh);
    crate::serve(dir)
}

fn first(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .first()
        .map_or_else(|| "(disabled)".to_owned(), ToString::to_string)
}

fn print_instructions(dir: &Path, c: &Config, user: &str, password: &str, fresh: bool) {
    let l = &c.listen;
    let smtp = first(&l.smtp);
    let imaps = first(&l.imaps);
    println!(
        "mailkeep quickstart — {what} {dir}\n\
         \n\
         Listening (self-signed certificate for {host}; clients must accept it):\n\
         \x20 SMTP (MX, STARTTLS)      {smtp}\n\
         \x20 Submission (STARTTLS)    {sub}\n\
         \x20 Submission (TLS)         {subs}\n\
         \x20 IMAP (STARTTLS)          {imap}\n\
         \x20 IMAP (TLS)               {imaps}\n\
         \n\
         Demo account:\n\
         \x20 user:     {user}\n\
         \x20 password: {password}\n\
         \n\
         Send a first message (in another terminal):\n\
         \x20 printf 'From: friend@example.net\\r\\nTo: {user}\\r\\nSubject: Hello from quickstart\\r\\n\\r\\nIt works.\\r\\n' | curl --silent --show-error --ssl-reqd --insecure --url smtp://{smtp} --mail-from friend@example.net --mail-rcpt {user} --upload-file -\n\
         \n\
         Read it back over IMAP (TLS):\n\
         \x20 curl --silent --show-error --insecure --url 'imaps://{imaps}/INBOX;UID=1' --user '{user}:{password}'\n\
         \n\
         Stop with Ctrl-C; run `cargo run --release -- quickstart` again to continue with the same data.\n",
        what = if fresh { "created" } else { "reusing" },
        dir = dir.display(),
        host = c.hostname,
        sub = first(&l.submission),
        subs = first(&l.submissions),
        imap = first(&l.imap),
    );
}
