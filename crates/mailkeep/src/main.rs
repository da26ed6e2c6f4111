//! The `mailkeep` binary: command line, configuration and wiring. It holds no mail logic;
//! every command is a thin call into `mailkeep-core`, `mailkeep-store` or `mailkeep-server`.

#![deny(unsafe_code)]

mod backend;
mod discover;
mod dns;
mod files;
mod import;
mod index;
mod init;
mod journal;
mod logwriter;
mod migrate;
mod queue;
mod quickstart;
mod throttle;
mod verdict;

use mailkeep_core::store::prelude::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use mailkeep_core::accounts;
use mailkeep_core::config::Config;
use mailkeep_core::embedded::{OpenOptions, Store};
use mailkeep_core::time::now;

/// mailkeep: a private mail server that never loses a message and lets no one in.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// Data directory [default: $MAILKEEP_DATA, then ./mailkeep-data]
    #[arg(
        long,
        global = true,
        env = "MAILKEEP_DATA",
        default_value = "mailkeep-data"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set up a data directory, a demo user and certificates if needed, print how to use it, and serve.
    Quickstart {
        /// Mail domain for a new data directory.
        #[arg(long, default_value = "example.test")]
        domain: String,
    },
    /// Create a data directory: config, store, self-signed TLS certificate, keys.
    Init {
        /// The first mail domain.
        #[arg(long)]
        domain: String,
        /// This server's host name [default: mail.DOMAIN].
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Run the server until SIGTERM or SIGINT.
    Serve,
    /// Import an mbox file, a Maildir or a tree of Maildirs (Dovecot/Courier layout) into an
    /// account; safe to re-run (nothing is imported twice), also while the server runs.
    Import {
        /// The account's address.
        #[arg(long)]
        account: String,
        /// Mailbox to import into [default: INBOX; Maildir folders keep their names].
        #[arg(long)]
        mailbox: Option<String>,
        /// The mbox file or Maildir directory.
        path: PathBuf,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage mail domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Manage aliases.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Inspect and steer the outbound queue.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// The tamper-evident journal: checkpoints, verification, proofs.
    #[command(subcommand)]
    Journal(JournalCmd),
    /// Copy the data directory, consistently, while it serves; run again into the same
    /// directory to copy only what changed.
    Backup {
        /// Backup directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Copy this (stopped) node's embedded store into PostgreSQL, then prove the copy with
    /// the journal: same leaves, same tree head, every body checked.
    MigrateStore {
        /// The target database, `postgres://user@host:port/db` (no password in it).
        #[arg(long)]
        to: String,
        /// A file holding the database password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// The environment variable holding the database password.
        #[arg(long)]
        password_env: Option<String>,
        /// Extra trusted certificates (PEM) for the database's TLS certificate; TLS is
        /// required with this or with `sslmode=require` in the URL.
        #[arg(long)]
        db_ca_file: Option<PathBuf>,
        /// Put the bodies in an S3 bucket, `s3://BUCKET[/PREFIX]`, instead of the database.
        #[arg(long, requires = "s3_key_id")]
        blobs: Option<String>,
        /// The S3 store's URL (`http://127.0.0.1:3900` for a Garage node); unset for AWS.
        #[arg(long, requires = "blobs")]
        s3_endpoint: Option<String>,
        /// The S3 region.
        #[arg(long, requires = "blobs", default_value = "us-east-1")]
        s3_region: String,
        /// The S3 access key id.
        #[arg(long, requires = "blobs")]
        s3_key_id: Option<String>,
        /// A file holding the S3 secret key.
        #[arg(long, requires = "blobs")]
        s3_secret_file: Option<PathBuf>,
        /// The environment variable holding the S3 secret key.
        #[arg(long, requires = "blobs")]
        s3_secret_env: Option<String>,
    },
    /// Restore a backup into a new data directory (given with --data).
    Restore {
        /// Backup directory.
        #[arg(long)]
        from: PathBuf,
    },
    /// Find damage in the data directory; with --repair, salvage what it still holds.
    Fsck {
        /// Repair the index from intact copies and write unreferenced bodies to DIR/recovered/.
        #[arg(long)]
        repair: bool,
    },
    /// Rebuild the full-text index from the store (the server must be stopped).
    Reindex,
    /// The spam and phishing verdict: explain it for a message.
    #[command(subcommand)]
    Verdict(verdict::VerdictCmd),
    /// Legal holds: bytes under a hold are never purged.
    #[command(subcommand)]
    Hold(HoldCmd),
    /// Delete the bytes of expunged messages past retention and outside every hold (journaled).
    Purge {
        /// Only show what would be purged.
        #[arg(long)]
        dry_run: bool,
    },
    /// Failed logins and the blocks they cause: list them, clear them (while serving too).
    #[command(subcommand)]
    Throttle(throttle::ThrottleCmd),
    /// Find and export any message ever received, deleted ones included.
    #[command(subcommand)]
    Discover(DiscoverCmd),
    /// Check an export bundle with nothing but the bundle and the saved public key.
    VerifyExport {
        /// The export directory (with manifest.json).
        dir: PathBuf,
        /// File holding the key printed by `mailkeep journal pubkey`.
        #[arg(long)]
        pubkey: PathBuf,
        /// The result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Who did what, when, from where: logins, deliveries, expunges, admin changes.
    Audit {
        /// Only events about or by this account.
        #[arg(long)]
        account: Option<String>,
        /// Only events at or after this time (YYYY-MM-DD, RFC 3339 or unix seconds).
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per event per line.
        #[arg(long)]
        json: bool,
    },
    /// Ask DNS what a policy says about a sender (needs no data directory).
    #[command(subcommand)]
    Check(CheckCmd),
    /// Print the DNS records to publish for a domain, ready for a zone file.
    Dns {
        /// One of our domains.
        domain: String,
    },
}

#[derive(Subcommand)]
enum CheckCmd {
    /// The SPF result (RFC 7208) for a client address and sender, e.g. before publishing.
    Spf {
        /// The connecting client's IP address.
        #[arg(long)]
        ip: std::net::IpAddr,
        /// The EHLO name it gave.
        #[arg(long)]
        helo: String,
        /// The MAIL FROM address; empty checks postmaster@HELO.
        #[arg(long, default_value = "")]
        mail_from: String,
        /// Resolver to ask (HOST:PORT) instead of the system's (or $MAILKEEP_DNS_RESOLVER).
        #[arg(long, env = "MAILKEEP_DNS_RESOLVER")]
        resolver: Option<String>,
        /// Seconds to wait for each DNS answer.
        #[arg(long, default_value_t = 5)]
        dns_timeout: u64,
    },
}

#[derive(Subcommand)]
enum HoldCmd {
    /// Place a hold on one account's mail or everyone's, optionally narrowed by a query.
    Add {
        /// The account held.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        account: Option<String>,
        /// Every account.
        #[arg(long)]
        all: bool,
        /// A discovery query narrowing the hold (e.g. 'from:ceo@example.org').
        #[arg(long, default_value = "")]
        query: String,
        /// Why (case number, request).
        #[arg(long)]
        reason: String,
    },
    /// Every hold, active and released.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Release a hold.
    Release {
        /// The hold's id (from `hold list`).
        id: i64,
    },
}

#[derive(Subcommand)]
enum DiscoverCmd {
    /// Search every account: free text, from: to: cc: subject: body: attachment: account:
    /// mailbox: after: before: has:attachment deleted:yes|no, "quoted phrases".
    Search {
        /// The query (quote it for the shell).
        query: String,
        /// Include expunged messages.
        #[arg(long)]
        include_deleted: bool,
        /// One JSON object per hit per line.
        #[arg(long)]
        json: bool,
        /// Read every body instead of asking the full-text index (to cross-check it).
        #[arg(long)]
        no_index: bool,
    },
    /// Export what a query finds, with a manifest of hashes and journal proofs.
    Export {
        /// The query.
        query: String,
        /// Directory to create.
        #[arg(long)]
        out: PathBuf,
        /// eml (one file per message) or mbox.
        #[arg(long, default_value = "eml")]
        format: String,
        /// Include expunged messages.
        #[arg(long)]
        include_deleted: bool,
        /// What was written, as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// How many messages there are, and which could not be parsed (matched on raw text).
    Status,
}

#[derive(Subcommand)]
enum JournalCmd {
    /// Write a signed checkpoint now and print it (keep copies elsewhere: they pin history).
    Checkpoint {
        /// As one JSON object (the note in its `note` field).
        #[arg(long)]
        json: bool,
    },
    /// Recompute the journal from its leaves and check it against every stored checkpoint,
    /// the mailboxes and the message bytes; exit 1 with a precise report if anything is off.
    Verify {
        /// A checkpoint kept outside the data directory, to detect a rewritten history.
        #[arg(long)]
        from: Option<PathBuf>,
        /// The report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the inclusion proof of a message's journal record.
    Prove {
        /// The mailbox owner.
        #[arg(long)]
        account: String,
        /// Mailbox name.
        #[arg(long)]
        mailbox: String,
        /// The message's UID.
        #[arg(long)]
        uid: u32,
        /// As one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the key outsiders verify checkpoints with (save it to a file).
    Pubkey,
}

#[derive(Subcommand)]
enum QueueCmd {
    /// Messages with recipients still waiting (`--all`: everything ever queued).
    List {
        /// Include finished entries.
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One entry with every recipient's state and last error.
    Show {
        /// Queue id (as in `250 … queued as <id>`).
        id: String,
    },
    /// Try an entry's waiting recipients now.
    Retry {
        /// Queue id.
        id: String,
    },
    /// Stop delivering an entry (the record stays; no bounce is sent).
    Drop {
        /// Queue id.
        id: String,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user (its domain must exist).
    Add {
        /// The user's address.
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's password.
    Passwd {
        /// The user's address.
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Delete a user (the mail already received is kept for retention).
    Del {
        /// The user's address.
        address: String,
    },
    /// App passwords: one per device, IMAP or SMTP only, revocable one by one.
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCmd),
}

#[derive(Subcommand)]
enum AppPasswordCmd {
    /// Make one; the password is printed this once.
    Add {
        /// The user's address.
        address: String,
        /// What it is for (e.g. the device).
        #[arg(long)]
        name: String,
        /// What it may log in to: imap, smtp, or both (comma-separated).
        #[arg(long, default_value = "imap,smtp")]
        scope: String,
    },
    /// The user's app passwords (names and scopes; the secrets are not kept).
    List {
        /// The user's address.
        address: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Stop one from working.
    Revoke {
        /// The user's address.
        address: String,
        /// Its name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum DomainCmd {
    /// Add a mail domain.
    Add {
        /// Domain name.
        domain: String,
    },
    /// List mail domains.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Delete a mail domain and its aliases; refused while it has users, unless --force.
    Del {
        /// Domain name.
        domain: String,
        /// Delete its users too (as `user del`: their mail stays until retention allows a purge).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum AliasCmd {
    /// Deliver mail for SOURCE to the user TARGET; SOURCE '@domain' catches all unknown addresses.
    Add {
        /// Alias address, or '@domain' for a catch-all.
        source: String,
        /// Existing user's address.
        target: String,
    },
    /// List aliases.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Delete an alias (its mail stays with the account it went to).
    Del {
        /// Alias address, or '@domain' for a catch-all.
        source: String,
    },
}

/// Keeps glibc from handing freed heap back to the kernel after every burst of frees.
///
/// Message bodies are allocated on connection threads and freed in bursts on the store's
/// writer thread; with the default 128 KiB trim threshold each burst ended in `madvise`
/// and a TLB-shootdown IPI to every core: about 15 % of the server's CPU during ingest
/// (`bench/run.sh`, measured with and without). 64 MiB of retained heap is a fair price.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: mallopt only sets an allocator parameter. It takes no pointers, glibc
    // serialises it against concurrent allocation, and we call it first thing in main.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Report commands end quietly when their reader goes away (`mailkeep audit | head`), as
/// Unix tools do, instead of panicking in `println!`. Servers keep Rust's setting (SIGPIPE
/// ignored): there a vanished peer is an error on one socket, not the end of the process.
#[cfg(unix)]
#[allow(unsafe_code)]
fn die_on_sigpipe() {
    // SAFETY: signal() with SIG_DFL installs no handler code, and this runs first thing in
    // main, before any other thread exists that could be writing to a pipe.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn die_on_sigpipe() {}

/// Everything mailkeep creates holds mail, keys or their metadata: nothing it writes may be
/// readable by others, whatever umask it was started with (files that matter are also
/// created with explicit modes; this covers SQLite's and the index's own files).
#[allow(unsafe_code)]
fn private_umask() {
    // SAFETY: umask only swaps the process's mask; it has no memory effects.
    unsafe {
        libc::umask(0o077);
    }
}

/// Who runs the CLI, as the journal records it: the login behind `sudo`, else the user.
fn admin() -> mailkeep_core::store::Actor {
    let name = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "admin".into());
    mailkeep_core::store::Actor::admin(&name)
}

fn main() -> ExitCode {
    tune_allocator();
    private_umask();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve | Command::Quickstart { .. }) {
        die_on_sigpipe();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAILKEEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(logwriter::make)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // tracing-subscriber reports its own write errors with eprintln!, which panics when
        // stderr is a closed pipe; the writer counts them instead.
        .log_internal_errors(false)
        .init();
    let result = run(cli);
    if logwriter::dropped() > 0 {
        tracing::warn!(
            lines = logwriter::dropped(),
            "log lines dropped (stderr full or closed)"
        );
    }
    logwriter::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            use std::io::Write;
            // Not eprintln!: stderr may be a closed pipe by now.
            let _ = writeln!(std::io::stderr(), "mailkeep: error: {e:#}");
            match e.downcast_ref::<mailkeep_server::TaskDied>() {
                Some(_) => ExitCode::from(EXIT_TASK_DIED),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// `serve`'s exit status when a background task (outbound queue, checkpoint timer,
/// full-text indexing) ended on its own: the server shut down cleanly rather than go on half
/// working, so a supervisor (systemd `Restart=on-failure`) restarts it. EX_SOFTWARE.
const EXIT_TASK_DIED: u8 = 70;

fn run(cli: Cli) -> Result<()> {
    let dir = cli.data.as_path();
    match cli.command {
        Command::Quickstart { domain } => quickstart::run(dir, &domain),
        Command::Init { domain, hostname } => {
            let hostname = hostname.unwrap_or_else(|| format!("mail.{domain}"));
            init::init(dir, &domain, &hostname)?;
            println!(
                "initialised {} for {domain} (hostname {hostname})",
                dir.display()
            );
            Ok(())
        }
        Command::Serve => serve(dir),
        Command::Import {
            account,
            mailbox,
            path,
        } => import::run(dir, &account, mailbox.as_deref(), &path),
        Command::User(cmd) => user(dir, cmd),
        Command::Domain(cmd) => domain(dir, cmd),
        Command::Alias(cmd) => alias(dir, cmd),
        Command::Queue(cmd) => queue::run(dir, cmd),
        Command::Journal(cmd) => journal::run(dir, cmd),
        Command::Discover(cmd) => discover::run(dir, cmd),
        Command::Hold(cmd) => discover::hold(dir, cmd),
        Command::Throttle(cmd) => throttle::run(dir, cmd),
        Command::Reindex => index::reindex(dir),
        Command::Verdict(cmd) => verdict::run(cmd),
        Command::Fsck { repair } => {
            // A damaged directory may have lost its configuration too: fsck still runs.
            if let Ok(config) = Config::load(dir) {
                backend::embedded_only(&config, "fsck")?;
            }
            let r = mailkeep_core::embedded::fsck::fsck(dir, repair, admin())?;
            println!(
                "checked {} index entries and {} segment records",
                r.blobs, r.records
            );
            for p in &r.problems {
                println!("PROBLEM: {p}");
            }
            for f in &r.repaired {
                println!("REPAIRED: {f}");
            }
            for f in &r.recovered {
                println!("RECOVERED: {}", f.display());
            }
            for l in &r.lost {
                println!("LOST: {l}");
            }
            for w in &r.warnings {
                println!("WARNING: {w}");
            }
            if r.problems.is_empty() {
                println!("no damage found");
                Ok(())
            } else if repair && r.lost.is_empty() {
                println!("repaired; run `mailkeep journal verify` to confirm");
                Ok(())
            } else {
                bail!(
                    "{} problem(s){}",
                    r.problems.len(),
                    if repair {
                        ""
                    } else {
                        "; run `mailkeep fsck --repair` to salvage"
                    }
                )
            }
        }
        Command::Backup { out } => {
            let config = Config::load(dir)?;
            backend::embedded_only(&config, "backup")?;
            let store = Store::open(dir, OpenOptions::default())?.acting(crate::admin());
            store.audit("", &format!("backup to {}", out.display()))?;
            let signer =
                std::sync::Arc::new(mailkeep_core::journal::load_signer(dir, &config.hostname)?);
            let sign = mailkeep_core::journal::signing(signer, &config.hostname);
            let done = mailkeep_core::embedded::backup::backup(&store, dir, sign, &out)?;
            println!(
                "backup in {} is consistent at journal size {} ({} segment bytes copied this time); \
                 checkpoint.txt there verifies it",
                out.display(),
                done.journal_size,
                done.copied
            );
            Ok(())
        }
        Command::MigrateStore {
            to,
            password_file,
            password_env,
            db_ca_file,
            blobs,
            s3_endpoint,
            s3_region,
            s3_key_id,
            s3_secret_file,
            s3_secret_env,
        } => {
            let store = mailkeep_core::config::StoreConfig {
                backend: mailkeep_core::config::BackendKind::Postgres,
                url: Some(to.clone()),
                password_file,
                password_env,
                tls: false,
                ca_file: db_ca_file,
            };
            store.validate().map_err(anyhow::Error::msg)?;
            let password = store.password().map_err(anyhow::Error::msg)?;
            let blobs = match blobs {
                None => mailkeep_core::config::BlobsConfig::default(),
                Some(url) => {
                    let Some(rest) = url.strip_prefix("s3://") else {
                        anyhow::bail!("--blobs takes s3://BUCKET[/PREFIX], not {url}");
                    };
                    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                    mailkeep_core::config::BlobsConfig {
                        backend: mailkeep_core::config::BlobsKind::S3,
                        endpoint: s3_endpoint,
                        bucket: Some(bucket.to_owned()),
                        region: Some(s3_region),
                        key_id: s3_key_id,
                        secret_file: s3_secret_file,
                        secret_env: s3_secret_env,
                        prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
                    }
                }
            };
            if blobs.backend == mailkeep_core::config::BlobsKind::S3
                && blobs.secret_file.is_none()
                && blobs.secret_env.is_none()
            {
                bail!("--blobs needs --s3-secret-file or --s3-secret-env");
            }
            let objects = backend::objects(&blobs)?;
            migrate::run(
                dir,
                migrate::Target {
                    url: &to,
                    password,
                    objects,
                    tls: backend::database_tls(&store),
                },
            )
        }
        Command::Restore { from } => {
            let cp = mailkeep_core::embedded::backup::restore(&from, dir)?;
            println!(
                "restored into {}; prove it complete with: mailkeep --data {} journal verify --from {}",
                dir.display(),
                dir.display(),
                cp.display()
            );
            Ok(())
        }
        Command::Purge { dry_run } => discover::purge(dir, dry_run),
        Command::VerifyExport {
            dir: bundle,
            pubkey,
            json,
        } => discover::verify_export(&bundle, &pubkey, json),
        Command::Audit {
            account,
            since,
            json,
        } => journal::audit(dir, account.as_deref(), since.as_deref(), json),
        Command::Dns { domain } => dns::run(dir, &domain),
        Command::Check(CheckCmd::Spf {
            ip,
            helo,
            mail_from,
            resolver,
            dns_timeout,
        }) => dns::check_spf(ip, &helo, &mail_from, resolver.as_deref(), dns_timeout),
    }
}

/// The data directory's configuration; a directory that was never initialised is named as
/// such rather than by the file it lacks.
pub(crate) fn load_config(dir: &Path) -> Result<Config> {
    Config::load(dir).or_else(|e| match mailkeep_core::embedded::format::read(dir) {
        // Not this user's to read, and such: the directory's own reason comes first.
        Err(why) => Err(why.into()),
        Ok(None) => bail!(
            "{} is not a mailkeep data directory (run `mailkeep init` first)",
            dir.display()
        ),
        Ok(Some(_)) => Err(e.into()),
    })
}

/// Config plus a store opened for administration (no blob writer lock, so this works next
/// to a running server).
pub(crate) fn open_admin(
    dir: &Path,
) -> Result<(Config, std::sync::Arc<dyn mailkeep_core::store::Backend>)> {
    let config = load_config(dir)?;
    let store = backend::open(dir, &config, false)?.acting(crate::admin());
    Ok((config, store))
}

/// Prints a report: one JSON object per line with `json`, else one line of text each.
pub(crate) fn print_each<T: serde::Serialize>(
    items: &[T],
    json: bool,
    text: impl Fn(&T) -> String,
) {
    for item in items {
        if json {
            match serde_json::to_string(item) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("cannot write JSON: {e}"),
            }
        } else {
            println!("{}", text(item));
        }
    }
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn user(dir: &Path, cmd: UserCmd) -> Result<()> {
    let (config, store) = open_admin(dir)?;
    let store = &*store;
    let min = config.accounts.min_password_length;
    match cmd {
        UserCmd::Add { address, .. } => {
            let password = read_password()?;
            let a = accounts::add_user(store, &address, &password, min, now(), rand::random())?;
            println!("added user {a}");
        }
        UserCmd::List { json } => print_each(&mailkeep_core::admin::users(store)?, json, |u| {
            u.address.clone()
        }),
        UserCmd::Passwd { address, .. } => {
            let password = read_password()?;
            accounts::set_password(store, &address, &password, min)?;
            println!("password changed for {address}");
        }
        UserCmd::Del { address } => {
            let a = mailkeep_core::address::Address::parse(&address)?;
            store.delete_account(&a.to_string(), now())?;
            println!("deleted user {a} (its mail is kept)");
        }
        UserCmd::AppPassword(cmd) => app_password(store, cmd)?,
    }
    Ok(())
}

fn app_password(store: &dyn mailkeep_core::store::Backend, cmd: AppPasswordCmd) -> Result<()> {
    let canonical =
        |a: &str| -> Result<String> { Ok(mailkeep_core::address::Address::parse(a)?.to_string()) };
    match cmd {
        AppPasswordCmd::Add {
            address,
            name,
            scope,
        } => {
            let mut services = Vec::new();
            for s in scope.split(',').map(str::trim) {
                services.push(match s.to_ascii_lowercase().as_str() {
                    "imap" => accounts::Service::Imap,
                    "smtp" => accounts::Service::Smtp,
                    other => bail!("--scope {other}: expected imap, smtp or imap,smtp"),
                });
            }
            let secret = accounts::add_app_password(store, &address, &name, &services, now())?;
            println!("{secret}");
            eprintln!(
                "app password {name:?} for {} ({scope}); it is shown only now",
                canonical(&address)?
            );
        }
        AppPasswordCmd::List { address, json } => {
            let list = mailkeep_core::admin::app_passwords(store, &address)?;
            print_each(&list, json, |p| {
                format!("{}  {}  created {}", p.name, p.scope, p.created)
            })
        }
        AppPasswordCmd::Revoke { address, name } => {
            store.revoke_app_password(&canonical(&address)?, &name, now())?;
            println!("app password {name:?} revoked");
        }
    }
    Ok(())
}

fn domain(dir: &Path, cmd: DomainCmd) -> Result<()> {
    let (_, store) = open_admin(dir)?;
    let store = &*store;
    match cmd {
        DomainCmd::Add { domain } => {
            let d = mailkeep_core::admin::add_domain(store, &dir.join("keys"), &domain, now())?;
            println!(
                "added domain {d} (DKIM keys in {}; `mailkeep dns {d}` prints the records)",
                dir.join("keys").display()
            );
        }
        DomainCmd::List { json } => print_each(&mailkeep_core::admin::domains(store)?, json, |d| {
            d.name.clone()
        }),
        DomainCmd::Del { domain, force } => {
            let (d, gone) = accounts::delete_domain(store, &domain, force, now())?;
            for u in &gone.users {
                println!("deleted user {u}");
            }
            for a in &gone.aliases {
                println!("deleted alias {a}");
            }
            println!(
                "deleted domain {d} (its DKIM keys stay in {})",
                dir.join("keys").display()
            );
        }
    }
    Ok(())
}

fn alias(dir: &Path, cmd: AliasCmd) -> Result<()> {
    let (_, store) = open_admin(dir)?;
    let store = &*store;
    match cmd {
        AliasCmd::Add { source, target } => {
            let s = accounts::add_alias(store, &source, &target, now())?;
            println!("added alias {s} -> {target}");
        }
        AliasCmd::Del { source } => {
            let (s, target) = accounts::delete_alias(store, &source)?;
            println!("deleted alias {s} -> {target}");
        }
        AliasCmd::List { json } => print_each(&mailkeep_core::admin::aliases(store)?, json, |a| {
            format!("{} -> {}", a.source, a.target)
        }),
    }
    Ok(())
}

/// Opens everything `serve` needs, failing early with a clear reason.
pub(crate) fn serve(dir: &Path) -> Result<()> {
    let config = load_config(dir)?;
    // The backend the server works through, as `[store]` says.
    let store: mailkeep_server::Store = backend::open(dir, &config, true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        // Handlers first: a SIGTERM that arrives while listeners start must still mean a
        // clean shutdown, not the default of dying on the spot.
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
        let server = mailkeep_server::Server::bind(config, dir.to_path_buf(), store).await?;
        // SIGHUP: the certificate and key are read again (a renewed certificate), open
        // connections keep theirs.
        let certs = server.tls_certs();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match certs.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "TLS reload failed; the old certificate stays")
                    }
                }
            }
        });
        server
            .run(async move {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
            })
            .await?;
        Ok(())
    })
}
