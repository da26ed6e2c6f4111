//! A mixed IMAP load of many users, the same for any server (mailkeep or the Dovecot
//! baseline): each client logs in as a random user, selects INBOX and works it as a mail
//! client does (flags of everything, envelopes of a page, one body, flag and keyword changes,
//! an APPEND that it then deletes and expunges), then logs out. Reports commands per second,
//! the LOGIN latency and every protocol error.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};

use crate::imap::{Conn, command, connect, connector};

/// What to run.
#[derive(clap::Args)]
pub struct Load {
    /// Server address (implicit TLS).
    #[arg(long)]
    pub addr: String,
    /// Name in the server's certificate.
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// Users are PREFIX<n>@DOMAIN, n = 1..=USERS.
    #[arg(long, default_value = "user")]
    pub prefix: String,
    /// Their domain.
    #[arg(long)]
    pub domain: String,
    /// How many users.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Everyone's password.
    #[arg(long)]
    pub password: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 12)]
    pub clients: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 20)]
    pub secs: u64,
    /// Rounds of mailbox work per login; 0 logs in once per client.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
}

#[derive(Default)]
struct Stats {
    commands: AtomicU64,
    errors: AtomicU64,
    logins: std::sync::Mutex<Vec<f64>>,
    first_error: std::sync::Mutex<Option<String>>,
}

/// Sends one command of a round under the next tag; a failure names the command.
async fn step(c: &mut Conn, n: &mut u64, s: String) -> Result<Vec<u8>> {
    *n += 1;
    let out = command(c, &format!("c{n}"), &s).await;
    out.with_context(|| s.lines().next().unwrap_or("").to_owned())
}

/// One session's work: a round is one client's pass over its INBOX.
async fn round(c: &mut Conn, n: &mut u64, rng: &mut impl Rng, stats: &Stats) -> Result<()> {
    let sel = step(c, n, "SELECT INBOX".into()).await?;
    stats.commands.fetch_add(1, Ordering::Relaxed);
    let exists: u32 = String::from_utf8_lossy(&sel)
        .lines()
        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .context("no EXISTS")?;
    if exists == 0 {
        bail!("empty INBOX");
    }
    // Other clients on the same account append and expunge their own messages; the first
    // ones stay, so sequence numbers up to here are always valid.
    let stable = exists.clamp(1, 100);
    let r = rng.random_range(1..=stable);
    let page = r.saturating_sub(9).max(1);
    let msg = format!(
        "From: bench@example.net\r\nTo: user@example.test\r\nSubject: mixed {}\r\nMessage-ID: <{}.mixed@example.net>\r\n\r\nA short message body.\r\n",
        rng.random::<u32>(),
        rng.random::<u64>()
    );
    let steps = [
        "FETCH 1:* (FLAGS)".to_owned(),
        format!("FETCH {page}:{r} (UID FLAGS ENVELOPE)"),
        format!("FETCH {r} (BODY.PEEK[])"),
        format!("STORE {r} +FLAGS (\\Seen $Bench)"),
        format!("STORE {r} -FLAGS ($Bench)"),
        "NOOP".to_owned(),
    ];
    for s in steps {
        step(c, n, s).await?;
        stats.commands.fetch_add(1, Ordering::Relaxed);
    }
    let appended = step(c, n, format!("APPEND INBOX {{{}+}}\r\n{msg}", msg.len())).await?;
    stats.commands.fetch_add(1, Ordering::Relaxed);
    let uid: u32 = String::from_utf8_lossy(&appended)
        .split("[APPENDUID ")
        .nth(1)
        .and_then(|r| r.split([' ', ']']).nth(1)?.parse().ok())
        .context("no APPENDUID")?;
    step(c, n, format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)")).await?;
    step(c, n, format!("UID EXPUNGE {uid}")).await?;
    stats.commands.fetch_add(2, Ordering::Relaxed);
    Ok(())
}

async fn login(
    load: &Load,
    tls: &tokio_rustls::TlsConnector,
    user: usize,
    stats: &Stats,
) -> Result<Conn> {
    let mut c = connect(&load.addr, tls, &load.host).await?;
    let t = Instant::now();
    command(
        &mut c,
        "l",
        &format!(
            "LOGIN {}{user}@{} \"{}\"",
            load.prefix, load.domain, load.password
        ),
    )
    .await?;
    stats
        .logins
        .lock()
        .unwrap()
        .push(t.elapsed().as_secs_f64() * 1000.0);
    stats.commands.fetch_add(1, Ordering::Relaxed);
    Ok(c)
}

async fn client(load: Arc<Load>, cert: Arc<Path>, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    let Ok(tls) = connector(&cert) else {
        return;
    };
    let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let user = rng.random_range(1..=load.users);
        let r: Result<()> = async {
            let mut c = login(&load, &tls, user, &stats).await?;
            let mut done = 0;
            while !stop.load(Ordering::Relaxed) && (load.rounds == 0 || done < load.rounds) {
                round(&mut c, &mut n, &mut rng, &stats).await?;
                done += 1;
            }
            command(&mut c, "o", "LOGOUT").await?;
            stats.commands.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        .await;
        if let Err(e) = r {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            stats.errors.fetch_add(1, Ordering::Relaxed);
            let mut first = stats.first_error.lock().unwrap();
            if first.is_none() {
                *first = Some(format!("{e:#}"));
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the load and prints one line of results under `label`.
pub async fn run(load: Load, cert: &Path, label: &str) -> Result<()> {
    let (load, cert) = (Arc::new(load), Arc::<Path>::from(cert));
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..load.clients)
        .map(|_| {
            tokio::spawn(client(
                load.clone(),
                cert.clone(),
                stats.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(load.secs)).await;
    let commands = stats.commands.load(Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let mut logins = stats.logins.lock().unwrap().clone();
    logins.sort_by(f64::total_cmp);
    println!(
        "mixed {label}: {:.0} commands/s ({commands} in {secs:.1} s, {} clients, {} users, {} rounds per login); LOGIN p50 {:.1} ms p99 {:.1} ms ({} logins); errors {}",
        commands as f64 / secs,
        load.clients,
        load.users,
        load.rounds,
        percentile(&logins, 0.5),
        percentile(&logins, 0.99),
        logins.len(),
        stats.errors.load(Ordering::Relaxed),
    );
    if let Some(e) = stats.first_error.lock().unwrap().as_ref() {
        println!("mixed {label}: first error: {e}");
    }
    Ok(())
}
