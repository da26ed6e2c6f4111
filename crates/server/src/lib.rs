//! mailkeep's network runtime: the only crate that touches sockets.
//!
//! It binds the configured listeners, terminates TLS (implicit, or STARTTLS upgrades),
//! enforces connection limits and timeouts, and moves bytes between sockets and the sans-IO
//! protocol sessions (`mailkeep-smtp`, `mailkeep-imap`). Decisions the sessions ask for
//! (recipient lookups, message storage, logins, mailbox reads) go to `mailkeep-core` and the
//! store on tokio's blocking pool, since the store's calls block until durable.
//!
//! Shutdown: [`Server::run`] stops accepting when its shutdown future completes, tells every
//! session to finish (SMTP answers `421` to a transaction still in progress; a message
//! already handed to the store is committed and acknowledged first), waits for the
//! connections to close and then drains the store's writer.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth_in;
mod conn;
mod deflate;
pub mod dkim;
pub mod dns;
mod http;
mod imap;
mod limits;
mod outbound;

/// The trusted roots (the system's bundle plus an extra file), also for TLS to the database.
pub use outbound::client::load_roots;
mod smtp;
mod spool;
mod throttle;
pub mod tls;
mod verdict_in;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mailkeep_core::config::Config;
/// The storage backend every connection works through (the seam of `mailkeep-store-api`).
pub type Store = Arc<dyn mailkeep_core::store::Backend>;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::limits::{ConnLimits, PoolSize};

/// Which protocol and TLS mode a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Inbound SMTP (MX), STARTTLS offered.
    Smtp,
    /// Message submission, STARTTLS offered.
    Submission,
    /// Message submission over implicit TLS.
    Submissions,
    /// IMAP, STARTTLS offered.
    Imap,
    /// IMAP over implicit TLS.
    Imaps,
    /// HTTP (autoconfiguration).
    Http,
    /// HTTPS (autoconfiguration, MTA-STS policy).
    Https,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Smtp => "smtp",
            Kind::Submission => "submission",
            Kind::Submissions => "submissions",
            Kind::Imap => "imap",
            Kind::Imaps => "imaps",
            Kind::Http => "http",
            Kind::Https => "https",
        }
    }

    fn implicit_tls(self) -> bool {
        matches!(self, Kind::Submissions | Kind::Imaps | Kind::Https)
    }

    fn is_imap(self) -> bool {
        matches!(self, Kind::Imap | Kind::Imaps)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener address could not be bound.
    #[error("cannot listen on {addr} ({kind}): {cause}")]
    Bind {
        /// Listener kind.
        kind: &'static str,
        /// Address.
        addr: SocketAddr,
        /// OS error (address in use, permission denied, …).
        cause: std::io::Error,
    },
    /// The DNS resolver could not be set up.
    #[error("{0}")]
    Dns(String),
    /// The journal signing key is unusable.
    #[error(transparent)]
    Journal(#[from] mailkeep_core::journal::KeyError),
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The spool directory for message content in flight cannot be created.
    #[error("cannot create the spool directory {dir}: {cause}")]
    Spool {
        /// The directory.
        dir: PathBuf,
        /// OS error.
        cause: std::io::Error,
    },
    /// The failed logins of the last window could not be read: starting without them would
    /// give every password guesser a fresh budget.
    #[error("cannot read the failed logins the throttle counts: {0}")]
    Throttle(mailkeep_core::store::Error),
    /// Where the change feed stands could not be read.
    #[error("cannot read the store's change feed: {0}")]
    Feed(mailkeep_core::store::Error),
}

/// Everything a connection handler needs, shared.
pub(crate) struct Shared {
    pub config: Config,
    pub store: Store,
    pub tls: tokio_rustls::TlsAcceptor,
    /// Connection pools, one per listener family (see [`limits`]).
    pub mx_limits: ConnLimits,
    pub submission_limits: ConnLimits,
    pub imap_limits: ConnLimits,
    pub http_limits: ConnLimits,
    pub imap_sessions: limits::AccountLimits,
    pub recipients: mailkeep_core::accounts::RecipientCache,
    /// DNS for SPF/DKIM/DMARC/ARC checks and MX lookups.
    pub resolver: mail_auth::MessageAuthenticator,
    /// DKIM keys of our domains.
    pub dkim: dkim::Signer,
    /// Failed logins per address and per user name (`[auth]`).
    pub auth_throttle: throttle::AuthThrottle,
    /// Wakes the outbound queue when something was queued.
    pub queue_wake: tokio::sync::Notify,
    /// Certificate authorities trusted for outbound TLS (system bundle + `[outbound] ca_file`).
    pub roots: Arc<rustls::RootCertStore>,
    /// Our domains under the directory stamp they were read at (anti-spoofing checks).
    pub own_domains: std::sync::Mutex<(Vec<u8>, Vec<String>)>,
    /// Signs journal checkpoints.
    pub journal_signer: Arc<mailkeep_core::store::journal::Signer>,
    /// The change feed as this server hears it (`follow_changes`): every committed change,
    /// typed, in commit order, whoever made it (this process, the CLI, later another node).
    pub changes: tokio::sync::broadcast::Sender<Heard>,
    /// Wakes `follow_changes` at once after this process committed something.
    pub committed: tokio::sync::Notify,
    /// Bumped when the directory (accounts, domains, aliases) changed, from this process or
    /// another: sessions then check that their account still exists.
    pub directory: watch::Sender<u64>,
    /// The full-text index, for SEARCH BODY/TEXT (`None`: unusable, bodies are read).
    pub index: Option<mailkeep_core::index::MailIndex>,
    /// Where message content in flight is spooled (unnamed files).
    pub spool_dir: PathBuf,
    /// Memory for complete messages being checked and stored (`[memory]`).
    pub memory: spool::MemoryBudget,
    /// `\Recent` marks (highest UID claimed) of mailboxes this server's sessions opened.
    pub recent: mailkeep_core::mail::recent::RecentMarks,
    /// Logins verified recently (IMAP and SMTP AUTH), so that Argon2 runs once per TTL.
    pub login_cache: Arc<mailkeep_core::login_cache::LoginCache>,
    pub shutdown: watch::Receiver<bool>,
}

/// What sessions hear from the change feed.
#[derive(Debug, Clone)]
pub(crate) enum Heard {
    /// One committed change.
    Change(Arc<mailkeep_core::store::Change>),
    /// Changes were missed (the feed no longer had them): every view looks again.
    Resync,
}

impl Shared {
    /// Says that this process committed a change: the feed is read now rather than at the
    /// next poll, so that IDLE sessions hear of it at once.
    pub fn committed(&self) {
        self.committed.notify_one();
    }
}

/// A server with its listeners bound, ready to [`Server::run`].
pub struct Server {
    shared: Arc<Shared>,
    data_dir: PathBuf,
    certs: Arc<tls::Certs>,
    indexer: Option<mailkeep_core::index::Indexer>,
    listeners: Vec<(Kind, TcpListener)>,
    shutdown_tx: watch::Sender<bool>,
    /// The change feed's position before any session could start: every change after it is
    /// heard (`follow_changes`).
    feed_head: u64,
}

impl Server {
    /// Loads TLS material and binds every configured listener.
    pub async fn bind(
        config: Config,
        data_dir: PathBuf,
        store: Store,
    ) -> Result<Server, StartError> {
        let (tls, certs) = tls::acceptor(
            &Config::path(&data_dir, &config.tls.cert),
            &Config::path(&data_dir, &config.tls.key),
        )?;
        let resolver =
            dns::resolver(config.dns.resolver, config.dns.offline).map_err(StartError::Dns)?;
        let domains: Vec<String> = store
            .domains()
            .map(|d| d.into_iter().map(|d| d.name).collect())
            .unwrap_or_default();
        let signer = dkim::Signer::load(&data_dir.join("keys"), &domains);
        let extra_ca = config
            .outbound
            .ca_file
            .as_ref()
            .map(|p| Config::path(&data_dir, p));
        let roots = Arc::new(outbound::client::load_roots(extra_ca.as_deref()));
        let journal_signer = Arc::new(mailkeep_core::journal::load_signer(
            &data_dir,
            &config.hostname,
        )?);
        // A command holding the index for a moment (a catch-up before a search) must not
        // leave this server without one: the index loop keeps trying to become its writer.
        let (indexer, index) = match mailkeep_core::index::Indexer::open(&data_dir) {
            Ok(i) => {
                let index = i.index().clone();
                (Some(i), Some(index))
            }
            Err(e) => {
                tracing::warn!(error = %e, "full-text index not writable yet; retrying");
                (None, mailkeep_core::index::MailIndex::open(&data_dir).ok())
            }
        };
        let mut listeners = Vec::new();
        let l = &config.listen;
        for (kind, addrs) in [
            (Kind::Smtp, &l.smtp),
            (Kind::Submission, &l.submission),
            (Kind::Submissions, &l.submissions),
            (Kind::Imap, &l.imap),
            (Kind::Imaps, &l.imaps),
            (Kind::Http, &l.http),
            (Kind::Https, &l.https),
        ] {
            for &addr in addrs {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|cause| StartError::Bind {
                        kind: kind.name(),
                        addr,
                        cause,
                    })?;
                listeners.push((kind, listener));
            }
        }
        let spool_dir = data_dir.join("spool");
        std::fs::create_dir_all(&spool_dir).map_err(|cause| StartError::Spool {
            dir: spool_dir.clone(),
            cause,
        })?;
        let auth_throttle = throttle::AuthThrottle::new(config.auth.clone());
        let wall = throttle::wall_now();
        let failures = store
            .auth_failures(auth_throttle.forget_before(wall), None, None)
            .map_err(StartError::Throttle)?;
        auth_throttle.load(&failures, wall, std::time::Instant::now());
        let (shutdown_tx, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            memory: spool::MemoryBudget::new(config.memory.message_bytes),
            login_cache: Arc::default(),
            recent: Default::default(),
            spool_dir,
            mx_limits: ConnLimits::new(
                "smtp",
                PoolSize {
                    max_total: config.smtp.max_connections,
                    max_per_ip: config.smtp.max_connections_per_ip,
                    reserved: 0,
                    evict: false,
                },
            ),
            submission_limits: ConnLimits::new(
                "submission",
                PoolSize {
                    max_total: config.submission.max_connections,
                    max_per_ip: config.submission.max_connections_per_ip,
                    reserved: config.submission.reserved_for_authenticated,
                    evict: true,
                },
            ),
            imap_limits: ConnLimits::new(
                "imap",
                PoolSize {
                    max_total: config.imap.max_connections,
                    max_per_ip: config.imap.max_connections_per_ip,
                    reserved: config.imap.reserved_for_authenticated,
                    evict: true,
                },
            ),
            http_limits: ConnLimits::new(
                "http",
                PoolSize {
                    max_total: config.imap.max_connections,
                    max_per_ip: config.imap.max_connections_per_ip,
                    reserved: 0,
                    evict: false,
                },
            ),
            imap_sessions: limits::AccountLimits::new(config.imap.max_sessions_per_account),
            auth_throttle,
            config,
            store,
            tls,
            recipients: Default::default(),
            resolver,
            dkim: signer,
            queue_wake: tokio::sync::Notify::new(),
            roots,
            journal_signer,
            own_domains: Default::default(),
            changes: tokio::sync::broadcast::channel(4096).0,
            committed: tokio::sync::Notify::new(),
            directory: watch::channel(0).0,
            index,
            shutdown,
        });
        let store = shared.store.clone();
        let feed_head = blocking(move || store.change_head())
            .await
            .unwrap_or(Ok(0))
            .map_err(StartError::Feed)?;
        Ok(Server {
            feed_head,
            data_dir,
            shared,
            certs,
            indexer,
            listeners,
            shutdown_tx,
        })
    }

    /// The TLS certificate in use, to reload (SIGHUP) without a restart.
    pub fn tls_certs(&self) -> Arc<tls::Certs> {
        self.certs.clone()
    }

    /// The bound addresses, by kind (useful when a config asked for port 0).
    pub fn local_addrs(&self) -> Vec<(Kind, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(k, l)| l.local_addr().ok().map(|a| (*k, a)))
            .collect()
    }

    /// Serves until `shutdown` completes, then shuts down cleanly (see the crate docs). A
    /// background task (outbound queue, checkpoint timer, full-text indexing) that ends on
    /// its own, by a panic or otherwise, shuts the server down the same way and is returned
    /// as [`TaskDied`]: a server that no longer delivers or signs must not look healthy.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), TaskDied> {
        // The directory as it is before any session can start: a change made by another
        // process after this is announced (`follow_changes`).
        let stamp = self.shared.store.directory_stamp();
        let head = self.feed_head;
        let mut accept_tasks = JoinSet::new();
        let conns = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        for (kind, listener) in self.listeners {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(listener = kind.name(), %addr, "listening");
            }
            let shared = self.shared.clone();
            let conns = conns.clone();
            accept_tasks.spawn(async move {
                loop {
                    let (stream, peer) = match listener.accept().await {
                        Ok(x) => x,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let mut set = conns.lock().await;
                    while set.try_join_next().is_some() {}
                    set.spawn(async move {
                        if kind.is_imap() {
                            imap::serve(shared, stream, peer, kind).await;
                        } else if matches!(kind, Kind::Http | Kind::Https) {
                            http::serve(shared, stream, peer, kind).await;
                        } else {
                            smtp::serve(shared, stream, peer, kind).await;
                        }
                    });
                }
            });
        }
        // The retention policy in force is part of the record: journal it when it changed.
        let (store, policy) = (
            self.shared.store.clone(),
            self.shared.config.retention.describe(),
        );
        if let Some(Err(e)) = blocking(move || store.note_retention(&policy)).await {
            tracing::error!(error = %e, "journaling the retention policy failed");
        }
        let queue = tokio::spawn(outbound::run(self.shared.clone()));
        let checkpoints = tokio::spawn(checkpoint_timer(self.shared.clone()));
        let watcher = tokio::spawn(follow_changes(self.shared.clone(), head, stamp));
        let stop_indexing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Even if this future panics or is dropped, the index loop (a blocking thread the
        // runtime waits for on exit) must hear that it is time to stop.
        let _stop_on_drop = StopOnDrop(stop_indexing.clone());
        let mut indexing = {
            let (store, stop) = (self.shared.store.clone(), stop_indexing.clone());
            let (ix, dir) = (self.indexer, self.data_dir.clone());
            let budget = (
                self.shared.memory.clone(),
                tokio::runtime::Handle::current(),
            );
            tokio::task::spawn_blocking(move || index_loop(ix, &dir, &store, &stop, &budget))
        };
        let (mut queue, mut checkpoints, mut watcher) = (queue, checkpoints, watcher);
        let died = tokio::select! {
            () = shutdown => None,
            r = &mut queue => Some(TaskDied::new("outbound queue", r.err())),
            r = &mut checkpoints => Some(TaskDied::new("checkpoint timer", r.err())),
            r = &mut watcher => Some(TaskDied::new("change feed follower", r.err())),
            r = &mut indexing => Some(TaskDied::new("full-text indexing", r.err())),
        };
        if let Some(d) = &died {
            tracing::error!(task = d.task, reason = %d.reason, "background task died; shutting down");
        }
        // Set whatever ended the wait: the index loop only ever stops on this flag.
        stop_indexing.store(true, std::sync::atomic::Ordering::Relaxed);
        queue.abort();
        checkpoints.abort();
        watcher.abort();
        // A handle already awaited by the select above must not be polled again.
        for task in [&mut queue, &mut checkpoints, &mut watcher] {
            if !task.is_finished() {
                let _ = task.await;
            }
        }
        tracing::info!("shutting down: no new connections; finishing open sessions");
        accept_tasks.abort_all();
        while accept_tasks.join_next().await.is_some() {}
        let _ = self.shutdown_tx.send(true);
        let mut set = std::mem::take(&mut *conns.lock().await);
        let drain = async { while set.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(30), drain)
            .await
            .is_err()
        {
            tracing::warn!("sessions still open after 30 s; closing them");
        }
        if !indexing.is_finished() {
            let _ = indexing.await;
        }
        // A last checkpoint, so the record of this run is signed before the process ends.
        write_checkpoint(&self.shared).await;
        let store = self.shared.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        tracing::info!("stopped");
        died.map_or(Ok(()), Err)
    }
}

struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A background task of [`Server::run`] ended while the server was running.
#[derive(Debug, thiserror::Error)]
#[error("the {task} task died ({reason}); the server shut down")]
pub struct TaskDied {
    /// Which task.
    pub task: &'static str,
    /// Its panic message, or that it returned.
    pub reason: String,
}

impl TaskDied {
    fn new(task: &'static str, err: Option<tokio::task::JoinError>) -> Self {
        let reason = match err {
            None => "it returned".to_owned(),
            Some(e) if e.is_panic() => {
                let p = e.into_panic();
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                format!("panicked: {msg}")
            }
            Some(e) => e.to_string(),
        };
        Self { task, reason }
    }
}

/// The key the login throttle counts an address under (an IPv4 address, or an IPv6 /64), as
/// the store records it: what `mailkeep throttle clear --ip` matches.
pub fn throttle_address_key(ip: std::net::IpAddr) -> String {
    throttle::ip_key(ip)
}

/// The key the login throttle counts a login name under, as the store records it.
pub fn throttle_name_key(login: &str) -> String {
    throttle::budget_name(login)
}

/// Runs a blocking store/core call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Keeps the full-text index current. Indexing is deferred while bodies keep arriving: a
/// burst of deliveries is acknowledged at full speed and indexed in one batch once the store
/// has been quiet for [`INDEX_QUIET`]; under load that never pauses, the index runs anyway
/// once its oldest unindexed body has waited [`INDEX_MAX_LAG`] or [`INDEX_MAX_BACKLOG`] bodies
/// wait. Searches read what the index has not reached, so the lag costs time, never answers.
fn index_loop(
    ix: Option<mailkeep_core::index::Indexer>,
    data_dir: &std::path::Path,
    store: &Store,
    stop: &std::sync::atomic::AtomicBool,
    (memory, runtime): &(spool::MemoryBudget, tokio::runtime::Handle),
) {
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::Instant;
    let pause = |d: Duration| {
        let until = Instant::now() + d;
        while !stop.load(Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let mut ix = match ix {
        Some(ix) => ix,
        None => loop {
            pause(Duration::from_secs(10));
            if stop.load(Relaxed) {
                return;
            }
            match mailkeep_core::index::Indexer::open(data_dir) {
                Ok(ix) => {
                    tracing::info!("full-text index writable; indexing");
                    break ix;
                }
                Err(e) => tracing::debug!(error = %e, "full-text index still not writable"),
            }
        },
    };
    // A large body is read, decoded and tokenised within the budget that bounds the
    // message bytes connections hold (as often as it takes, until stopped).
    let mut admit = |size: u64| {
        if size <= spool::IN_MEMORY as u64 {
            return None;
        }
        while !stop.load(Relaxed) {
            let wait = memory.reserve(size.saturating_mul(2), Duration::from_secs(1));
            if let Some(permit) = runtime.block_on(wait) {
                return Some(permit);
            }
        }
        None
    };
    // Bodies from before parsed records, from this sequence number on (`None`: done).
    let mut parsed_from = Some(0u64);
    let poll = Duration::from_millis(200);
    let (mut seen, mut changed, mut waiting_since) = (0u64, Instant::now(), None::<Instant>);
    let mut last_pass = Instant::now() - INDEX_PERIOD;
    while !stop.load(Relaxed) {
        let now = Instant::now();
        let (last, indexed) = match (store.last_blob_seq(), ix.indexed_up_to()) {
            (Ok(l), Ok(i)) => (l, i),
            (Err(e), _) => {
                tracing::error!(error = %e, "full-text indexing cannot read the store");
                (0, 0)
            }
            (_, Err(e)) => {
                tracing::error!(error = %e, "full-text index unreadable");
                (0, 0)
            }
        };
        if last != seen {
            (seen, changed) = (last, now);
        }
        let backlog = last.saturating_sub(indexed);
        let since = *waiting_since.get_or_insert(now);
        let due = if backlog == 0 {
            waiting_since = None;
            // Purges and bodies unreadable before are looked at now and then.
            now - last_pass >= INDEX_PERIOD
        } else {
            now - changed >= INDEX_QUIET
                || now - since >= INDEX_MAX_LAG
                || backlog >= INDEX_MAX_BACKLOG
        };
        if due {
            last_pass = now;
            match ix.catch_up_within(&**store, &mut |_, _| !stop.load(Relaxed), &mut admit) {
                Ok(n) if n > 0 => {
                    tracing::debug!(indexed = n, "full-text index updated");
                    waiting_since = None;
                }
                Ok(_) => waiting_since = None,
                Err(e) => {
                    tracing::error!(error = %e, "full-text indexing failed; retrying");
                    pause(Duration::from_secs(5));
                }
            }
            continue;
        }
        // Idle: give older bodies their parsed records, a few seconds at a time.
        if let Some(from) = parsed_from {
            let until = Instant::now() + Duration::from_secs(2);
            let mut more = || !stop.load(Relaxed) && Instant::now() < until;
            match mailkeep_core::index::fill_parsed(&**store, from, &mut more, &mut admit) {
                Ok(reached) if reached == from => parsed_from = None,
                Ok(reached) => parsed_from = Some(reached),
                Err(e) => tracing::warn!(error = %e, "filling parsed records failed"),
            }
            continue;
        }
        std::thread::sleep(poll);
    }
}

/// How long the store must be quiet before new bodies are indexed.
const INDEX_QUIET: Duration = Duration::from_secs(1);
/// The longest a body waits for the index under unbroken load.
const INDEX_MAX_LAG: Duration = Duration::from_secs(30);
/// Bodies waiting that start a pass whatever the load.
const INDEX_MAX_BACKLOG: u64 = 20_000;
/// Passes with nothing new to index (purges, retries) at most this often.
const INDEX_PERIOD: Duration = Duration::from_secs(10);

/// How often the change feed is read when this process committed nothing (changes of other
/// processes: the CLI while the server runs; later, other nodes).
const WATCH_PERIOD: Duration = Duration::from_millis(250);

/// How long the follower lets this process's commits gather before reading the feed.
const FEED_COALESCE: Duration = Duration::from_millis(10);

/// Changes read from the feed at a time.
const FEED_BATCH: usize = 1024;

/// Follows the store's change feed from position `at` and tells sessions of every change,
/// in commit order: this process's own (woken by [`Shared::committed`]) and those of other
/// processes on the same store (by polling). A changed directory makes sessions check that
/// their account still exists. The feed is the only source, so a backend that spans nodes
/// changes what wakes this loop, not what sessions see.
async fn follow_changes(shared: Arc<Shared>, mut at: u64, mut stamp: Vec<u8>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(WATCH_PERIOD) => {}
            () = shared.committed.notified() => {
                // Under load, commits come faster than sessions need to hear them one by
                // one: one read of the feed then carries many.
                tokio::time::sleep(FEED_COALESCE).await;
            }
        }
        // Read even while no session listens: a position first read when one starts to
        // listen could already be past the change it waits for.
        loop {
            let store = shared.store.clone();
            match blocking(move || store.changes_after(at, FEED_BATCH)).await {
                Some(Ok(feed)) => {
                    if feed.gap {
                        tracing::warn!(
                            from = at,
                            to = feed.next,
                            "change feed pruned past this server's position; sessions resync"
                        );
                        let _ = shared.changes.send(Heard::Resync);
                    }
                    at = feed.next;
                    let full = feed.changes.len() == FEED_BATCH;
                    for change in feed.changes {
                        tracing::debug!(
                            seq = change.seq,
                            mailbox = change.mailbox_id,
                            modseq = change.modseq,
                            "change"
                        );
                        let _ = shared.changes.send(Heard::Change(Arc::new(change)));
                    }
                    if !full {
                        break;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "reading the change feed failed");
                    break;
                }
                None => break,
            }
        }
        let now = shared.store.directory_stamp();
        if now != stamp {
            stamp = now;
            shared.directory.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// Writes a signed checkpoint if the journal grew since the last one.
async fn write_checkpoint(shared: &Arc<Shared>) {
    let (store, signer, host) = (
        shared.store.clone(),
        shared.journal_signer.clone(),
        shared.config.hostname.clone(),
    );
    match blocking(move || mailkeep_core::journal::checkpoint(&*store, signer, &host, false)).await
    {
        Some(Ok(Some(cp))) => tracing::info!(size = cp.size, "journal checkpoint written"),
        Some(Ok(None)) => {}
        Some(Err(e)) => tracing::error!(error = %e, "journal checkpoint failed"),
        None => tracing::error!("journal checkpoint task failed"),
    }
}

/// Signs a checkpoint every `[journal] checkpoint_secs` while the journal grows.
async fn checkpoint_timer(shared: Arc<Shared>) {
    let period = Duration::from_secs(shared.config.journal.checkpoint_secs);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        write_checkpoint(&shared).await;
    }
}

/// Journals an audit event; a failure is logged, not fatal to the session.
pub(crate) async fn audit(store: &Store, account: &str, detail: &str) {
    let (store, account, detail) = (store.clone(), account.to_owned(), detail.to_owned());
    if let Some(Err(e)) = blocking(move || store.audit(&account, &detail)).await {
        tracing::error!(error = %e, "journaling an audit event failed");
    }
}
