//! Drives an IMAP session over one connection: framing and parsing come from
//! `mailkeep-imap`; this file executes commands against the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use mailkeep_core::accounts;
use mailkeep_core::store::{Account, Mailbox, MessageEntry};
use mailkeep_imap::fetch::{
    MessageMeta, needs_body, needs_body_beside_parsed, render_fetch_parsed, sets_seen, uses_parsed,
};
use mailkeep_imap::{
    Command, CommandBody, FetchItem, Frame, Framer, Limits, MailboxName, State, Status, StatusItem,
    allowed, status_response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod mutate;
mod quota;
mod resync;
mod search;
mod thread;

use crate::conn::Conn;
use crate::limits::Refused;
use crate::spool::Spool;
use crate::{Kind, Shared, blocking};

/// What a command handler tells the loop to do next.
enum Next {
    Continue,
    Close,
}

/// The selected mailbox as this session sees it (the mail layer's view).
type Selected = mailkeep_core::mail::view::View;

/// `* FLAGS (…)` and `* OK [PERMANENTFLAGS (… \*)]` for these keywords.
fn flags_lines(keywords: &[String]) -> String {
    let mut all = SYSTEM_FLAGS.to_owned();
    for k in keywords {
        all.push(' ');
        all.push_str(k);
    }
    format!("* FLAGS ({all})\r\n* OK [PERMANENTFLAGS ({all} \\*)] Flags permitted\r\n")
}

struct Session {
    shared: Arc<Shared>,
    /// When the connection was accepted: logging in must be done within
    /// `login_timeout_secs` of it, however slowly the bytes come (slowloris).
    connected: std::time::Instant,
    /// The store, acting as the logged-in account (so the journal records who did what).
    acting: crate::Store,
    peer: SocketAddr,
    conn: Conn,
    framer: Framer,
    out: Vec<u8>,
    state: State,
    account: Option<Account>,
    /// Held while logged in: counts towards the account's session limit.
    _account_slot: Option<crate::limits::AccountSlot>,
    /// The connection's place in the IMAP pool.
    slot: crate::limits::Slot,
    selected: Option<Selected>,
    utf8: bool,
    rev2: bool,
    /// CONDSTORE enabled (RFC 7162 §3.1): MODSEQ in untagged FETCH, HIGHESTMODSEQ on SELECT.
    condstore: bool,
    /// QRESYNC enabled: expunges are reported as VANISHED.
    qresync: bool,
    buf: Vec<u8>,
    /// The framer's limits once logged in (before, only what a login needs).
    full_limits: Limits,
    /// Memory reserved for the large literals of the command being received.
    literal_memory: Vec<tokio::sync::OwnedSemaphorePermit>,
    /// Where an APPEND's large message literal goes while it arrives.
    spool: Spool,
    /// Which literal the spool holds (a new number for each).
    spool_id: u64,
    /// The size of the literal of the command being received that went to the spool.
    spooled: Option<u64>,
    /// Tells of directory changes: a logged-in session whose account was deleted ends.
    directory: tokio::sync::watch::Receiver<u64>,
}

/// The largest literal before login: a user name or password, as Dovecot allows. Anything
/// larger is refused and the connection closed, so that unauthenticated clients cannot make
/// the server hold large commands.
const PRE_AUTH_LITERAL: u64 = 8 * 1024;

/// Extensions beyond the codec's base set that this server implements.
const IMPLEMENTED_EXTRAS: &str = "CONDSTORE QRESYNC LIST-EXTENDED LIST-STATUS STATUS=SIZE \
                                  QUOTA QUOTA=RES-STORAGE SORT THREAD=REFERENCES \
                                  THREAD=ORDEREDSUBJECT BINARY COMPRESS=DEFLATE UTF8=ACCEPT \
                                  SEARCHRES";

/// Body sections one FETCH may ask for (bounds the response built for one message).
const MAX_BODY_ITEMS: usize = 16;
/// Items of any kind one FETCH may ask for.
const MAX_FETCH_ITEMS: usize = 64;

/// Whether the command being received is an APPEND, whose message literal is spooled.
fn is_append(cmd: &[u8]) -> bool {
    let mut words = cmd.splitn(3, |&b| b == b' ');
    let _tag = words.next();
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"))
}

const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

pub(crate) async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, kind: Kind) {
    let refusal = |why| match why {
        Refused::PerIp => "* BYE [UNAVAILABLE] Too many connections from your address\r\n",
        Refused::Total => "* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
    };
    let admitted = crate::conn::admit(
        &shared.imap_limits,
        &shared.tls,
        stream,
        peer,
        kind.implicit_tls(),
        refusal,
    );
    let Some((conn, slot)) = admitted.await else {
        return;
    };
    let full_limits = Limits {
        max_line: shared.config.imap.max_line,
        max_literal: shared.config.imap.max_literal,
        max_command: usize::try_from(shared.config.imap.max_literal)
            .unwrap_or(usize::MAX)
            .saturating_add(shared.config.imap.max_line),
        reserve_above: crate::spool::IN_MEMORY as u64,
    };
    let pre_auth = Limits {
        max_literal: PRE_AUTH_LITERAL.min(full_limits.max_literal),
        max_command: shared
            .config
            .imap
            .max_line
            .saturating_add(4 * PRE_AUTH_LITERAL as usize),
        ..full_limits
    };
    let spool = Spool::new(shared.spool_dir.clone());
    let directory = shared.directory.subscribe();
    let mut s = Session {
        directory,
        acting: shared.store.clone(),
        spool,
        peer,
        shared,
        conn,
        framer: Framer::new(pre_auth),
        full_limits,
        literal_memory: Vec::new(),
        spool_id: 0,
        spooled: None,
        out: Vec::new(),
        state: State::NotAuthenticated,
        account: None,
        _account_slot: None,
        slot,
        connected: std::time::Instant::now(),
        selected: None,
        utf8: false,
        rev2: false,
        condstore: false,
        qresync: false,
        buf: vec![0u8; 64 * 1024],
    };
    if let Err(e) = s.run().await {
        tracing::debug!(%peer, error = %e, "imap connection ended");
    }
    let _ = s.conn.shutdown().await;
}

impl Session {
    fn caps(&self) -> String {
        mailkeep_imap::capability::capabilities_with(
            self.conn.is_tls(),
            !self.conn.is_tls(),
            self.account.is_some(),
            IMPLEMENTED_EXTRAS,
        )
    }

    fn tagged(&mut self, tag: &str, status: Status, code: Option<&str>, text: &str) {
        let line = status_response(Some(tag), status, code, text);
        self.out.extend_from_slice(&line);
    }

    fn untagged(&mut self, status: Status, code: Option<&str>, text: &str) {
        let line = status_response(None, status, code, text);
        self.out.extend_from_slice(&line);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.conn.write_all(&self.out).await?;
            self.conn.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// How long the next read may wait: the autologout timer once logged in, else what is
    /// left of the time to log in.
    fn timeout(&self) -> Duration {
        let c = &self.shared.config.imap;
        if self.account.is_some() {
            Duration::from_secs(c.idle_timeout_secs)
        } else {
            Duration::from_secs(c.login_timeout_secs).saturating_sub(self.connected.elapsed())
        }
    }

    /// Reads more input into the framer. `Ok(false)`: the connection is over.
    async fn read_more(&mut self) -> std::io::Result<bool> {
        let mut shutdown = self.shared.shutdown.clone();
        if *shutdown.borrow() {
            self.untagged(Status::Bye, None, "Server shutting down");
            return Ok(false);
        }
        tokio::select! {
            r = tokio::time::timeout(self.timeout(), self.conn.read(&mut self.buf)) => match r {
                Err(_) => {
                    self.untagged(Status::Bye, None, "Autologout; idle for too long");
                    Ok(false)
                }
                Ok(r) => match r? {
                    0 => Ok(false),
                    n => {
                        self.framer.push(&self.buf[..n]);
                        Ok(true)
                    }
                },
            },
            _ = shutdown.changed() => {
                self.untagged(Status::Bye, None, "Server shutting down");
                Ok(false)
            }
            () = self.slot.evicted(), if self.account.is_none() => {
                let text = "Too many connections; the oldest not logged in are closed";
                self.untagged(Status::Bye, Some("UNAVAILABLE"), text);
                Ok(false)
            }
            r = self.directory.changed(), if self.account.is_some() => {
                Ok(r.is_ok() && !self.account_deleted().await)
            }
        }
    }

    /// Whether the logged-in account was deleted (then `* BYE` is queued). A failed read
    /// keeps the session: it is asked again at the next directory change.
    pub(crate) async fn account_deleted(&mut self) -> bool {
        let Some(address) = self.account.as_ref().map(|a| a.address.clone()) else {
            return false;
        };
        let id = self.account.as_ref().map(|a| a.id);
        let store = self.shared.store.clone();
        match blocking(move || store.account(&address)).await {
            Some(Ok(found)) if found.as_ref().map(|a| a.id) == id => false,
            Some(Ok(_)) => {
                tracing::info!(peer = %self.peer, "imap session ended: its account was deleted");
                self.untagged(Status::Bye, None, "This account was deleted");
                true
            }
            _ => false,
        }
    }

    async fn run(&mut self) -> std::io::Result<()> {
        let greeting = format!("[CAPABILITY {}] mailkeep ready", self.caps());
        self.untagged(Status::Ok, None, &greeting);
        loop {
            while let Some(frame) = self.framer.next_frame() {
                let ends_command = !matches!(
                    frame,
                    Frame::Continue | Frame::LiteralNeedsMemory { .. } | Frame::LiteralPart(_)
                );
                match frame {
                    Frame::Command(bytes) => match mailkeep_imap::parse::parse_command_with(
                        &bytes,
                        mailkeep_imap::parse::ParseOptions { utf8: self.utf8 },
                    ) {
                        Ok(mut cmd) => {
                            let ready = match self.spooled.take() {
                                Some(size) => self.unspool_append(&mut cmd, size).await,
                                None => true,
                            };
                            if ready && let Next::Close = self.execute(cmd).await? {
                                self.flush().await?;
                                return Ok(());
                            }
                        }
                        Err(e) => self.out.extend_from_slice(&e.response()),
                    },
                    Frame::Continue => self.out.extend_from_slice(b"+ Ready for literal data\r\n"),
                    Frame::LiteralNeedsMemory { tag, size } => {
                        let append = self.account.is_some()
                            && self.spooled.is_none()
                            && is_append(self.framer.pending_command());
                        if append {
                            // The message goes to disk as it arrives; memory is taken only
                            // when it is complete (`unspool_append`).
                            self.spool_id += 1;
                            self.spooled = Some(size);
                            if let Some(Frame::Continue) = self.framer.grant_literal_outside() {
                                self.out.extend_from_slice(b"+ Ready for literal data\r\n");
                            }
                        } else {
                            self.reserve_literal(tag.as_deref(), size).await;
                        }
                    }
                    Frame::LiteralPart(part) => self.spool.append(self.spool_id, part).await,
                    Frame::LiteralTooBig { tag, size } => {
                        let limit = self.framer.limits().max_literal;
                        let text = format!("Literal of {size} bytes exceeds the limit of {limit}");
                        let line = status_response(
                            Some(tag.as_deref().unwrap_or("*")),
                            Status::No,
                            Some("TOOBIG"),
                            &text,
                        );
                        self.out.extend_from_slice(&line);
                        if self.account.is_none() {
                            tracing::info!(peer = %self.peer, size, "imap: literal too large before login; closing");
                            self.untagged(Status::Bye, Some("TOOBIG"), "Log in first");
                            self.flush().await?;
                            return Ok(());
                        }
                    }
                    Frame::LineTooLong { tag } => {
                        let line = status_response(
                            Some(tag.as_deref().unwrap_or("*")),
                            Status::Bad,
                            Some("TOOBIG"),
                            "Command line too long",
                        );
                        self.out.extend_from_slice(&line);
                    }
                    Frame::Fatal(why) => {
                        self.untagged(Status::Bye, Some("TOOBIG"), &why);
                        self.flush().await?;
                        return Ok(());
                    }
                }
                if ends_command {
                    // The command that needed it is done (or dropped).
                    self.literal_memory.clear();
                    self.spooled = None;
                    self.spool.clear();
                }
            }
            self.flush().await?;
            if !self.read_more().await? {
                self.flush().await?;
                return Ok(());
            }
        }
    }

    /// Puts the spooled message literal of an APPEND back into the command, within the
    /// server's memory budget. `false`: it could not be, and the command was answered.
    async fn unspool_append(&mut self, cmd: &mut Command, size: u64) -> bool {
        let tag = cmd.tag.clone();
        let CommandBody::Append { message, .. } = &mut cmd.body else {
            // What went to the spool was not the message (a huge mailbox name): the
            // command fails on its own.
            return true;
        };
        if !message.is_empty() {
            return true;
        }
        let wait = Duration::from_secs(self.shared.config.memory.wait_secs);
        let Some(permit) = self
            .shared
            .memory
            .reserve(size.saturating_mul(2), wait)
            .await
        else {
            tracing::warn!(peer = %self.peer, size, "imap append refused: memory for messages in flight exhausted");
            let text = "Too many large messages in progress, try again later";
            self.tagged(&tag, Status::No, Some("UNAVAILABLE"), text);
            return false;
        };
        match self.spool.finish(self.spool_id, Vec::new()).await {
            Ok(bytes) if bytes.len() as u64 == size => {
                *message = bytes;
                self.literal_memory.push(permit);
                true
            }
            Ok(_) | Err(_) => {
                tracing::warn!(peer = %self.peer, size, "imap append: spooling the message failed");
                let text = "The message could not be received, try again";
                self.tagged(&tag, Status::No, Some("UNAVAILABLE"), text);
                false
            }
        }
    }

    /// Answers [`Frame::LiteralNeedsMemory`]: the literal is read only within the server's
    /// memory budget for messages in flight.
    async fn reserve_literal(&mut self, tag: Option<&str>, size: u64) {
        let wait = Duration::from_secs(self.shared.config.memory.wait_secs);
        match self
            .shared
            .memory
            .reserve(size.saturating_mul(2), wait)
            .await
        {
            Some(permit) => {
                self.literal_memory.push(permit);
                if let Some(Frame::Continue) = self.framer.grant_literal(true) {
                    self.out.extend_from_slice(b"+ Ready for literal data\r\n");
                }
            }
            None => {
                self.framer.grant_literal(false);
                tracing::warn!(peer = %self.peer, size, "imap literal refused: memory for messages in flight exhausted");
                let line = status_response(
                    Some(tag.unwrap_or("*")),
                    Status::No,
                    Some("UNAVAILABLE"),
                    "Too many large messages in progress, try again later",
                );
                self.out.extend_from_slice(&line);
            }
        }
    }

    async fn execute(&mut self, cmd: Command) -> std::io::Result<Next> {
        let Command { tag, body } = cmd;
        if !allowed(self.state, &body) {
            let text = format!("{} not allowed in this state", body.name());
            self.tagged(&tag, Status::Bad, None, &text);
            return Ok(Next::Continue);
        }
        let name = body.name();
        let body_is_close = matches!(body, CommandBody::Close);
        match body {
            CommandBody::Capability => {
                let line = format!("* CAPABILITY {}\r\n", self.caps());
                self.out.extend_from_slice(line.as_bytes());
                self.tagged(&tag, Status::Ok, None, "CAPABILITY completed");
            }
            CommandBody::Noop | CommandBody::Check => {
                self.sync_view(true).await;
                self.tagged(&tag, Status::Ok, None, &format!("{name} completed"));
            }
            CommandBody::Logout => {
                self.untagged(Status::Bye, None, "Logging out");
                self.tagged(&tag, Status::Ok, None, "LOGOUT completed");
                return Ok(Next::Close);
            }
            CommandBody::StartTls => {
                if self.conn.is_tls() {
                    self.tagged(&tag, Status::Bad, None, "TLS is already active");
                } else {
                    self.tagged(&tag, Status::Ok, None, "Begin TLS negotiation now");
                    self.flush().await?;
                    self.framer.discard_buffered();
                    self.conn.upgrade(&self.shared.tls).await?;
                }
            }
            CommandBody::Login { username, password } => {
                if !self.conn.is_tls() {
                    self.tagged(
                        &tag,
                        Status::No,
                        Some("PRIVACYREQUIRED"),
                        "LOGIN is disabled until STARTTLS",
                    );
                } else {
                    let pw = password.as_str().unwrap_or_default().to_owned();
                    self.login(&tag, username, pw).await;
                }
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                if !self.conn.is_tls() {
                    self.tagged(
                        &tag,
                        Status::No,
                        Some("PRIVACYREQUIRED"),
                        "Authentication is disabled until STARTTLS",
                    );
                } else if mechanism != "PLAIN" {
                    self.tagged(
                        &tag,
                        Status::No,
                        Some("CANNOT"),
                        "Unsupported authentication mechanism",
                    );
                } else {
                    self.authenticate_plain(&tag, initial_response).await?;
                }
            }
            CommandBody::Enable(caps) => {
                let mut enabled = Vec::new();
                for c in caps {
                    if c.eq_ignore_ascii_case("IMAP4rev2") && !self.rev2 {
                        self.rev2 = true;
                        self.utf8 = true;
                        enabled.push("IMAP4rev2");
                    } else if c.eq_ignore_ascii_case("CONDSTORE") && !self.condstore {
                        self.condstore = true;
                        enabled.push("CONDSTORE");
                    } else if c.eq_ignore_ascii_case("UTF8=ACCEPT") && !self.utf8 {
                        // RFC 6855: mailbox names and strings in UTF-8 from now on.
                        self.utf8 = true;
                        enabled.push("UTF8=ACCEPT");
                    } else if c.eq_ignore_ascii_case("QRESYNC") && !self.qresync {
                        // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                        self.qresync = true;
                        self.condstore = true;
                        enabled.push("QRESYNC");
                    }
                }
                let line = format!(
                    "* ENABLED{}\r\n",
                    enabled.iter().map(|c| format!(" {c}")).collect::<String>()
                );
                self.out.extend_from_slice(line.as_bytes());
                self.tagged(&tag, Status::Ok, None, "ENABLE completed");
            }
            CommandBody::Id(_) => {
                self.out
                    .extend_from_slice(b"* ID (\"name\" \"mailkeep\")\r\n");
                self.tagged(&tag, Status::Ok, None, "ID completed");
            }
            CommandBody::Select {
                mailbox,
                condstore,
                qresync,
            } => {
                self.condstore |= condstore;
                self.select(&tag, mailbox, false, qresync).await
            }
            CommandBody::Examine {
                mailbox,
                condstore,
                qresync,
            } => {
                self.condstore |= condstore;
                self.select(&tag, mailbox, true, qresync).await
            }
            CommandBody::List {
                reference,
                patterns,
                selection,
                returns,
                ..
            } => {
                self.list_extended(&tag, &reference, &patterns, &selection, &returns)
                    .await
            }
            CommandBody::GetQuota { root } => self.get_quota(&tag, &root).await,
            CommandBody::GetQuotaRoot { mailbox } => self.get_quota_root(&tag, mailbox).await,
            CommandBody::SetQuota { .. } => {
                self.tagged(
                    &tag,
                    Status::No,
                    Some("NOPERM"),
                    "Quotas are set in mailkeep.toml",
                );
            }
            CommandBody::Sort { uid, criteria, key } => self.sort(&tag, uid, criteria, key).await,
            CommandBody::Thread {
                uid,
                algorithm,
                key,
            } => self.thread(&tag, uid, algorithm, key).await,
            CommandBody::Compress { mechanism } => {
                if self.conn.is_compressed() {
                    self.tagged(
                        &tag,
                        Status::No,
                        Some("COMPRESSIONACTIVE"),
                        "Already compressing",
                    );
                } else if mechanism != "DEFLATE" {
                    self.tagged(&tag, Status::Bad, None, "Only DEFLATE is supported");
                } else if self.framer.buffered_len() > 0 {
                    self.tagged(
                        &tag,
                        Status::Bad,
                        None,
                        "Data after COMPRESS must wait for its OK",
                    );
                } else {
                    self.tagged(&tag, Status::Ok, None, "DEFLATE active");
                    self.flush().await?;
                    self.conn.compress();
                }
            }
            CommandBody::Status { mailbox, items } => self.status(&tag, mailbox, &items).await,
            CommandBody::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                if vanished && let Some(since) = changed_since {
                    self.report_vanished(uid, &set, since).await;
                }
                self.fetch(&tag, uid, set, items, changed_since).await
            }
            CommandBody::Create { mailbox } => self.create(&tag, mailbox).await,
            CommandBody::Delete { mailbox } => self.delete(&tag, mailbox).await,
            CommandBody::Rename { from, to } => self.rename(&tag, from, to).await,
            CommandBody::Subscribe { mailbox } => self.subscribe(&tag, mailbox, true).await,
            CommandBody::Unsubscribe { mailbox } => self.subscribe(&tag, mailbox, false).await,
            CommandBody::Lsub { reference, pattern } => {
                self.list_as(&tag, &reference, &pattern, "LSUB", true).await
            }
            CommandBody::Namespace => {
                self.out
                    .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                self.tagged(&tag, Status::Ok, None, "NAMESPACE completed");
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
                ..
            } => self.append(&tag, mailbox, flags, date, message).await,
            CommandBody::Idle => return self.idle(&tag).await,
            CommandBody::Store {
                uid,
                set,
                action,
                silent,
                flags,
                unchanged_since,
            } => {
                self.store(&tag, uid, set, action, silent, flags, unchanged_since)
                    .await
            }
            CommandBody::Copy { uid, set, mailbox } => {
                self.copy(&tag, uid, set, mailbox, false).await
            }
            CommandBody::Move { uid, set, mailbox } => {
                self.copy(&tag, uid, set, mailbox, true).await
            }
            CommandBody::Expunge => self.expunge(&tag, None).await,
            CommandBody::UidExpunge { set } => self.expunge(&tag, Some(set)).await,
            CommandBody::Search { uid, ret, key } => self.search(&tag, uid, ret, key).await,
            CommandBody::Close | CommandBody::Unselect => {
                if body_is_close && let Some(sel) = self.selected.as_ref().filter(|s| !s.read_only)
                {
                    // CLOSE expunges silently (RFC 9051 §6.4.1).
                    let (store, id) = (self.acting.clone(), sel.mailbox.id);
                    let now = mailkeep_core::time::now();
                    if let Some(Ok(gone)) = blocking(move || store.expunge(id, None, now)).await
                        && !gone.is_empty()
                    {
                        self.shared.committed();
                    }
                }
                self.selected = None;
                self.state = State::Authenticated;
                self.tagged(&tag, Status::Ok, None, &format!("{name} completed"));
            }
        }
        Ok(Next::Continue)
    }

    async fn login(&mut self, tag: &str, username: String, password: String) {
        let ip = self.peer.ip();
        let name = crate::throttle::login_name(&username);
        let valid = name.is_some();
        // A name that is no address takes a try like a wrong password, so guessing user
        // names is throttled too.
        let budget_name = name.clone().unwrap_or_else(|| username.clone());
        let try_ = match crate::throttle::reserve_login(&self.shared, ip, &budget_name).await {
            Ok(t) => t,
            Err(blocked) => {
                crate::throttle::log_failure("imap", ip, &username, "throttled");
                return self.tagged(tag, Status::No, Some("UNAVAILABLE"), &blocked.text());
            }
        };
        let tried = username;
        let verdict = match name {
            None => Some(Ok(None)),
            Some(user) => {
                let (store, cache) = (self.acting.clone(), self.shared.login_cache.clone());
                blocking(move || {
                    let service = accounts::Service::Imap;
                    accounts::authenticate(&*store, Some(&cache), &user, &password, service)
                })
                .await
            }
        };
        match verdict {
            Some(Ok(Some(acc))) => {
                self.shared.auth_throttle.succeeded(try_);
                let Some(slot) = self.shared.imap_sessions.acquire(acc.id) else {
                    return self.tagged(
                        tag,
                        Status::No,
                        Some("LIMIT"),
                        "Too many sessions for this account; log out elsewhere first",
                    );
                };
                self._account_slot = Some(slot);
                tracing::info!(user = %acc.address, "imap login");
                self.acting = self
                    .shared
                    .store
                    .acting(mailkeep_core::store::Actor::account(
                        &acc.address,
                        &self.peer.ip().to_string(),
                    ));
                crate::audit(&self.acting, &acc.address, "imap login").await;
                self.slot.logged_in();
                self.account = Some(acc);
                self.framer.set_limits(self.full_limits);
                self.state = State::Authenticated;
                let code = format!("CAPABILITY {}", self.caps());
                self.tagged(tag, Status::Ok, Some(&code), "Logged in");
            }
            Some(Ok(None)) => {
                let anonymous = self.shared.store.acting(mailkeep_core::store::Actor {
                    kind: mailkeep_core::store::journal::ActorKind::Peer,
                    name: String::new(),
                    origin: self.peer.ip().to_string(),
                });
                let reason = if valid {
                    "bad-credentials"
                } else {
                    "invalid-login-name"
                };
                let delay = crate::throttle::login_failed(
                    &self.shared,
                    &anonymous,
                    try_,
                    "imap",
                    ip,
                    &tried,
                    reason,
                )
                .await;
                tokio::time::sleep(delay).await;
                self.tagged(
                    tag,
                    Status::No,
                    Some("AUTHENTICATIONFAILED"),
                    "Invalid credentials",
                )
            }
            _ => {
                self.shared.auth_throttle.refund(try_);
                self.tagged(
                    tag,
                    Status::No,
                    Some("UNAVAILABLE"),
                    "Temporary failure, try again later",
                )
            }
        }
    }

    async fn authenticate_plain(
        &mut self,
        tag: &str,
        initial: Option<String>,
    ) -> std::io::Result<()> {
        let response = match initial {
            Some(r) => r.into_bytes(),
            None => {
                self.out.extend_from_slice(b"+ \r\n");
                self.flush().await?;
                loop {
                    match self.framer.next_line() {
                        Some(Ok(line)) => break line,
                        Some(Err(())) => {
                            self.tagged(
                                tag,
                                Status::Bad,
                                Some("TOOBIG"),
                                "Authentication response too long",
                            );
                            return Ok(());
                        }
                        None => {
                            if !self.read_more().await? {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        };
        if response == b"*" {
            self.tagged(tag, Status::Bad, None, "Authentication cancelled");
            return Ok(());
        }
        let decoded = if response == b"=" {
            Ok(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD.decode(&response)
        };
        let Ok(decoded) = decoded else {
            self.tagged(
                tag,
                Status::Bad,
                None,
                "Invalid base64 in authentication response",
            );
            return Ok(());
        };
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(authz), Some(authc), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            self.tagged(tag, Status::Bad, None, "Malformed PLAIN response");
            return Ok(());
        };
        let (Ok(authz), Ok(authc), Ok(pass)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(authc),
            std::str::from_utf8(pass),
        ) else {
            self.tagged(tag, Status::Bad, None, "PLAIN response is not UTF-8");
            return Ok(());
        };
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(authc) {
            crate::throttle::log_failure("imap", self.peer.ip(), authc, "authzid-mismatch");
            self.tagged(
                tag,
                Status::No,
                Some("AUTHORIZATIONFAILED"),
                "Cannot act as another user",
            );
            return Ok(());
        }
        self.login(tag, authc.to_owned(), pass.to_owned()).await;
        Ok(())
    }

    fn account_id(&self) -> i64 {
        self.account.as_ref().map_or(0, |a| a.id)
    }

    async fn find_mailbox(&self, name: &MailboxName) -> Result<Option<Mailbox>, ()> {
        let store = self.acting.clone();
        let id = self.account_id();
        let name = name.as_str().to_owned();
        match blocking(move || store.mailbox(id, &name)).await {
            Some(Ok(m)) => Ok(m),
            _ => Err(()),
        }
    }

    /// The account's mailbox of that name, or `None` after answering the tagged NO
    /// ([NONEXISTENT], or [SERVERBUG] when the store failed).
    async fn mailbox_or_no(&mut self, tag: &str, name: &MailboxName) -> Option<Mailbox> {
        match self.find_mailbox(name).await {
            Ok(Some(m)) => Some(m),
            Ok(None) => {
                self.tagged(
                    tag,
                    Status::No,
                    Some("NONEXISTENT"),
                    "Mailbox does not exist",
                );
                None
            }
            Err(()) => {
                self.tagged(tag, Status::No, Some("SERVERBUG"), "Temporary failure");
                None
            }
        }
    }

    async fn load_messages(&self, mailbox_id: i64) -> Option<Vec<MessageEntry>> {
        let store = self.acting.clone();
        blocking(move || store.messages(mailbox_id)).await?.ok()
    }

    async fn select(
        &mut self,
        tag: &str,
        name: MailboxName,
        read_only: bool,
        qresync: Option<mailkeep_imap::QresyncParams>,
    ) {
        if qresync.is_some() && !self.qresync {
            return self.tagged(tag, Status::Bad, None, "ENABLE QRESYNC first");
        }
        self.selected = None;
        self.state = State::Authenticated;
        let Some(mailbox) = self.mailbox_or_no(tag, &name).await else {
            return;
        };
        let Some(messages) = self.load_messages(mailbox.id).await else {
            return self.tagged(tag, Status::No, Some("SERVERBUG"), "Temporary failure");
        };
        let recent_mark = if self.rev2 {
            None
        } else {
            let top = messages.last().map_or(0, |m| m.uid);
            // A mark that cannot be read shows nothing as recent.
            Some(
                self.recent_mark(mailbox.id, top, read_only)
                    .await
                    .unwrap_or(u32::MAX),
            )
        };
        let view = Selected::open(mailbox, messages, read_only, recent_mark);
        let mut o = format!("* {} EXISTS\r\n", view.messages.len());
        if !self.rev2 {
            o.push_str(&format!("* {} RECENT\r\n", view.recent.len()));
            if let Some(n) = view.first_unseen() {
                o.push_str(&format!("* OK [UNSEEN {n}] First unseen\r\n"));
            }
        }
        o.push_str(&flags_lines(&view.keywords));
        o.push_str(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid\r\n",
            view.mailbox.uidvalidity
        ));
        o.push_str(&format!(
            "* OK [UIDNEXT {}] Predicted next UID\r\n",
            view.mailbox.uidnext
        ));
        if self.condstore {
            o.push_str(&format!(
                "* OK [HIGHESTMODSEQ {}] Highest\r\n",
                view.mailbox.highestmodseq
            ));
        }
        self.out.extend_from_slice(o.as_bytes());
        if self.rev2 {
            self.out.extend_from_slice(b"* LIST () \"/\" ");
            mailkeep_imap::encode::write_mailbox(&mut self.out, &name, self.utf8);
            self.out.extend_from_slice(b"\r\n");
        }
        let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        self.selected = Some(view);
        self.state = State::Selected;
        if let Some(q) = qresync {
            self.resync(q).await;
        }
        self.tagged(tag, Status::Ok, Some(code), &format!("{verb} completed"));
    }

    /// Brings the session's view up to date with the mailbox and reports the difference:
    /// `EXPUNGE` for messages gone (only when `allow_expunge`: RFC 9051 §7.5.1 forbids them
    /// during FETCH, STORE and SEARCH), `FETCH (FLAGS …)` for flags changed elsewhere, and
    /// `EXISTS` for new mail.
    async fn sync_view(&mut self, allow_expunge: bool) {
        let Some((id, since)) = self.selected.as_ref().map(|s| (s.mailbox.id, s.synced)) else {
            return;
        };
        let store = self.acting.clone();
        let Some(Ok(changes)) = blocking(move || store.mailbox_changes(id, since)).await else {
            return;
        };
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let Some(synced) = sel.apply(changes, allow_expunge) else {
            return;
        };
        let mut out = String::new();
        // A keyword seen for the first time is announced before anything that shows it
        // (rev1 clients rely on FLAGS listing every flag a FETCH may return).
        if synced.keywords_grew {
            out.push_str(&flags_lines(&sel.keywords));
        }
        let mut vanished = Vec::new();
        for &(seq, uid) in &synced.expunged {
            if self.qresync {
                vanished.push(uid);
            } else {
                out.push_str(&format!("* {seq} EXPUNGE\r\n"));
            }
        }
        out.push_str(&String::from_utf8_lossy(
            &mailkeep_imap::encode::vanished_response(false, &vanished),
        ));
        for (seq, uid, flags) in &synced.flags {
            let shown = sel.shown_flags(*uid, flags);
            out.push_str(&format!(
                "* {seq} FETCH (UID {uid} FLAGS ({}))\r\n",
                shown.join(" ")
            ));
        }
        if synced.arrivals_from.is_some() {
            out.push_str(&format!("* {} EXISTS\r\n", sel.messages.len()));
            if !self.rev2 {
                // New arrivals are recent for the first session that learns of them.
                let (top, mailbox_id, read_only) = (sel.top_uid(), sel.mailbox.id, sel.read_only);
                let mark = self.recent_mark(mailbox_id, top, read_only).await;
                if let Some(sel) = self.selected.as_mut() {
                    if let Some(mark) = mark {
                        sel.note_recent(&synced, mark);
                    }
                    out.push_str(&format!("* {} RECENT\r\n", sel.recent.len()));
                }
            }
        }
        self.out.extend_from_slice(out.as_bytes());
    }

    /// The `\Recent` mark of a mailbox as this session finds it (`core::mail::recent`),
    /// claimed up to `top` unless `read_only`; the claim is stored without waiting.
    async fn recent_mark(&self, mailbox_id: i64, top: u32, read_only: bool) -> Option<u32> {
        let stored = match self.shared.recent.known(mailbox_id) {
            Some(m) => m,
            None => {
                let store = self.acting.clone();
                blocking(move || store.recent_mark(mailbox_id))
                    .await?
                    .ok()?
            }
        };
        let claim = self.shared.recent.claim(mailbox_id, stored, top, read_only);
        if let Some(top) = claim.store {
            let store = self.acting.clone();
            tokio::spawn(blocking(move || {
                if let Err(e) = store.claim_recent(mailbox_id, top) {
                    tracing::warn!(error = %e, "storing the \\Recent mark failed");
                }
            }));
        }
        Some(claim.mark)
    }

    /// Flags as this session shows them: with `\Recent` for rev1 sessions.
    pub(crate) fn shown_flags(&self, uid: u32, flags: &[String]) -> Vec<String> {
        match self.selected.as_ref() {
            Some(sel) => sel.shown_flags(uid, flags),
            None => flags.to_vec(),
        }
    }

    async fn list_as(
        &mut self,
        tag: &str,
        reference: &str,
        pattern: &str,
        verb: &str,
        subscribed_only: bool,
    ) {
        let done = format!("{verb} completed");
        if pattern.is_empty() {
            self.out
                .extend_from_slice(format!("* {verb} (\\Noselect) \"/\" \"\"\r\n").as_bytes());
            return self.tagged(tag, Status::Ok, None, &done);
        }
        let store = self.acting.clone();
        let id = self.account_id();
        let Some(Ok(boxes)) = blocking(move || store.mailboxes(id)).await else {
            return self.tagged(tag, Status::No, Some("SERVERBUG"), "Temporary failure");
        };
        let full = format!("{reference}{pattern}");
        for m in &boxes {
            if !wildcard_match(full.as_bytes(), m.name.as_bytes())
                || (subscribed_only && !m.subscribed)
            {
                continue;
            }
            let has_children = boxes.iter().any(|c| {
                c.name.len() > m.name.len()
                    && c.name.starts_with(&m.name)
                    && c.name.as_bytes()[m.name.len()] == b'/'
            });
            let mut attrs = vec![if has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }];
            if let Some(su) = &m.special_use {
                attrs.push(su.as_str());
            }
            let Ok(name) = MailboxName::new(&m.name) else {
                continue;
            };
            self.out
                .extend_from_slice(format!("* {verb} ({}) \"/\" ", attrs.join(" ")).as_bytes());
            mailkeep_imap::encode::write_mailbox(&mut self.out, &name, self.utf8);
            self.out.extend_from_slice(b"\r\n");
        }
        self.tagged(tag, Status::Ok, None, &done);
    }

    async fn status(&mut self, tag: &str, name: MailboxName, items: &[StatusItem]) {
        let Some(mailbox) = self.mailbox_or_no(tag, &name).await else {
            return;
        };
        if !self.write_status(&mailbox, &name, items).await {
            return self.tagged(tag, Status::No, Some("SERVERBUG"), "Temporary failure");
        }
        self.tagged(tag, Status::Ok, None, "STATUS completed");
    }

    /// Writes `* STATUS name (…)`; false if the mailbox could not be read.
    async fn write_status(
        &mut self,
        mailbox: &Mailbox,
        name: &MailboxName,
        items: &[StatusItem],
    ) -> bool {
        let Some(messages) = self.load_messages(mailbox.id).await else {
            return false;
        };
        let has = |m: &MessageEntry, f: &str| m.flags.iter().any(|x| x.eq_ignore_ascii_case(f));
        let mut parts = Vec::new();
        for item in items {
            let v: u64 = match item {
                StatusItem::Messages => messages.len() as u64,
                StatusItem::UidNext => u64::from(mailbox.uidnext),
                StatusItem::UidValidity => u64::from(mailbox.uidvalidity),
                StatusItem::Unseen => messages.iter().filter(|m| !has(m, "\\Seen")).count() as u64,
                StatusItem::Deleted => {
                    messages.iter().filter(|m| has(m, "\\Deleted")).count() as u64
                }
                StatusItem::Size => messages.iter().map(|m| m.size).sum(),
                StatusItem::Recent => {
                    let mark = self
                        .recent_mark(mailbox.id, 0, true)
                        .await
                        .unwrap_or(u32::MAX);
                    messages.iter().filter(|m| m.uid > mark).count() as u64
                }
                StatusItem::HighestModseq => mailbox.highestmodseq,
            };
            parts.push(format!("{} {v}", item.as_str()));
        }
        self.out.extend_from_slice(b"* STATUS ");
        mailkeep_imap::encode::write_mailbox(&mut self.out, name, self.utf8);
        self.out
            .extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        true
    }

    async fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: mailkeep_imap::SequenceSet,
        mut items: Vec<FetchItem>,
        changed_since: Option<u64>,
    ) {
        if changed_since.is_some() && !items.contains(&FetchItem::Modseq) {
            items.push(FetchItem::Modseq);
        }
        if self.selected.is_none() {
            return self.tagged(tag, Status::Bad, None, "No mailbox selected");
        }
        // Flags changed and messages added elsewhere are shown as they are now (EXISTS and
        // FETCH are allowed here; expunges wait for a command that may report them). With
        // nothing new this is one read of the mailbox row.
        self.sync_view(false).await;
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        // Each body item copies (part of) the message into the response, which is built per
        // message in memory: `FETCH 1 (RFC822 RFC822 …)` must not multiply a 50 MB message.
        let body_items = items
            .iter()
            .filter(|i| {
                matches!(
                    i,
                    FetchItem::Body { .. }
                        | FetchItem::Rfc822
                        | FetchItem::Rfc822Header
                        | FetchItem::Rfc822Text
                        | FetchItem::Binary { .. }
                )
            })
            .count();
        if body_items > MAX_BODY_ITEMS || items.len() > MAX_FETCH_ITEMS {
            return self.tagged(
                tag,
                Status::Bad,
                Some("LIMIT"),
                &format!(
                    "At most {MAX_BODY_ITEMS} body sections and {MAX_FETCH_ITEMS} items per FETCH"
                ),
            );
        }
        // Sequence numbers (1-based) of the messages asked for.
        let Ok(targets) = self.resolve(uid, &set) else {
            return self.tagged(tag, Status::Bad, None, "Invalid message sequence number");
        };
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let seqs: Vec<u32> = targets.into_iter().map(|(n, _)| n).collect();
        let seqs: Vec<u32> = match changed_since {
            Some(since) => seqs
                .into_iter()
                .filter(|&n| {
                    sel.messages
                        .get((n - 1) as usize)
                        .is_some_and(|m| m.modseq > since)
                })
                .collect(),
            None => seqs,
        };
        let mark_seen = sets_seen(&items);
        // ENVELOPE, BODYSTRUCTURE and header sections come from the parsed records stored
        // when the bodies arrived; a body is read only for content, or to make a missing
        // record (stored afterwards, so that it is made once).
        let want_parsed = uses_parsed(&items);
        let want_body = if want_parsed {
            needs_body_beside_parsed(&items)
        } else {
            needs_body(&items)
        };
        let mailbox_id = sel.mailbox.id;
        let mut parsed = std::collections::HashMap::new();
        let mut made = Vec::new();
        // `\Seen` for every message this FETCH reads, in one commit before any is sent.
        let newly_seen = if mark_seen {
            self.mark_seen(mailbox_id, &seqs).await
        } else {
            Vec::new()
        };
        for (i, &n) in seqs.iter().enumerate() {
            if want_parsed && i % PARSED_CHUNK == 0 {
                let chunk = &seqs[i..(i + PARSED_CHUNK).min(seqs.len())];
                let hashes = self.selected.as_ref().map_or_else(Vec::new, |sel| {
                    chunk
                        .iter()
                        .filter_map(|&n| sel.messages.get((n as usize).wrapping_sub(1)))
                        .map(|m| m.hash)
                        .collect()
                });
                parsed = self.parsed_records(hashes).await;
            }
            let Some(entry) = self
                .selected
                .as_ref()
                .and_then(|s| s.messages.get((n - 1) as usize))
                .cloned()
            else {
                continue;
            };
            let record = parsed.get(&entry.hash);
            let raw = if want_body || (want_parsed && record.is_none()) {
                let store = self.acting.clone();
                let hash = entry.hash;
                match blocking(move || store.read_blob(&hash)).await {
                    Some(Ok(b)) => Some(b),
                    other => {
                        if let Some(Err(e)) = other {
                            tracing::error!(error = %e, uid = entry.uid, "cannot read message");
                        }
                        return self.tagged(
                            tag,
                            Status::No,
                            Some("SERVERBUG"),
                            "Cannot read message; the error is logged",
                        );
                    }
                }
            } else {
                None
            };
            let fresh =
                missing_record(want_parsed && record.is_none(), &raw, entry.hash, &mut made);
            let record = record.or(fresh.as_ref());
            let flags = &entry.flags;
            let mut items_here = items.clone();
            if newly_seen.binary_search(&entry.uid).is_ok()
                && !items_here.contains(&FetchItem::Flags)
            {
                items_here.push(FetchItem::Flags);
            }
            let meta = MessageMeta {
                seq: n,
                uid: entry.uid,
                flags: self.shown_flags(entry.uid, flags),
                internal_date: entry.internal_date,
                size: entry.size,
                modseq: entry.modseq,
            };
            let rendered =
                render_fetch_parsed(&meta, raw.as_deref(), record, &items_here, &mut self.out);
            if let Err(e) = rendered {
                if e == mailkeep_imap::fetch::FetchError::UnknownCte {
                    return self.tagged(
                        tag,
                        Status::No,
                        Some("UNKNOWN-CTE"),
                        "Cannot decode this part's transfer encoding",
                    );
                }
                tracing::warn!(error = ?e, uid = entry.uid, "cannot render FETCH");
                return self.tagged(
                    tag,
                    Status::No,
                    Some("SERVERBUG"),
                    "Cannot render this message",
                );
            }
            if self.out.len() > 1 << 20
                && let Err(e) = self.flush().await
            {
                tracing::debug!(error = %e, "write failed during FETCH");
                return;
            }
        }
        self.store_parsed(made);
        let verb = if uid { "UID FETCH" } else { "FETCH" };
        self.tagged(tag, Status::Ok, None, &format!("{verb} completed"));
    }
}

/// The parsed record of a body read because its record was missing (`missing`), kept in
/// `made` to be stored.
pub(crate) fn missing_record(
    missing: bool,
    raw: &Option<Vec<u8>>,
    hash: mailkeep_core::store::Hash,
    made: &mut Vec<(mailkeep_core::store::Hash, Vec<u8>)>,
) -> Option<mailkeep_imap::parsed::Parsed> {
    let raw = raw.as_deref().filter(|_| missing)?;
    let p = mailkeep_imap::parsed::Parsed::of(raw);
    made.push((hash, p.encode()));
    Some(p)
}

/// Messages whose parsed records FETCH reads at once (bounds the memory they take).
const PARSED_CHUNK: usize = 256;

impl Session {
    /// Stores records made because they were missing. Not awaited: the answer does not
    /// depend on it, and a failure only means a record is made again next time.
    pub(crate) fn store_parsed(&self, made: Vec<(mailkeep_core::store::Hash, Vec<u8>)>) {
        if made.is_empty() {
            return;
        }
        let store = self.acting.clone();
        tokio::spawn(blocking(move || {
            if let Err(e) = store.put_parsed(made) {
                tracing::warn!(error = %e, "storing parsed records failed");
            }
        }));
    }

    /// The parsed records of these bodies that have one, by body address.
    pub(crate) async fn parsed_records(
        &self,
        hashes: Vec<mailkeep_core::store::Hash>,
    ) -> std::collections::HashMap<mailkeep_core::store::Hash, mailkeep_imap::parsed::Parsed> {
        let store = self.acting.clone();
        match blocking(move || store.parsed(&hashes)).await {
            Some(Ok(found)) => found
                .into_iter()
                .filter_map(|(h, d)| Some((h, mailkeep_imap::parsed::Parsed::decode(&d)?)))
                .collect(),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "reading parsed records failed; parsing bodies");
                Default::default()
            }
            None => Default::default(),
        }
    }

    /// Sets `\Seen` on the messages at `seqs` that lack it, in one store call, and updates
    /// the view; returns the UIDs that changed, sorted. A failure is logged and changes
    /// nothing (the FETCH still answers).
    async fn mark_seen(&mut self, mailbox_id: i64, seqs: &[u32]) -> Vec<u32> {
        let uids = self
            .selected
            .as_ref()
            .map_or_else(Vec::new, |sel| sel.to_mark_seen(seqs));
        if uids.is_empty() {
            return uids;
        }
        let store = self.acting.clone();
        let changed = match blocking(move || {
            store.add_flags(mailbox_id, uids, vec!["\\Seen".into()])
        })
        .await
        {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                tracing::error!(error = %e, "setting \\Seen failed");
                return Vec::new();
            }
            None => return Vec::new(),
        };
        if !changed.is_empty() {
            self.shared.committed();
        }
        match self.selected.as_mut() {
            Some(sel) => sel.seen(&changed),
            None => Vec::new(),
        }
    }
}

/// IMAP LIST wildcard match: `*` matches anything, `%` anything but the delimiter `/`.
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative matcher with backtracking over the last wildcard; patterns come from the
    // network, so no recursion.
    let (mut p, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize, bool)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n, true));
                p += 1;
            }
            Some(b'%') => {
                star = Some((p, n, false));
                p += 1;
            }
            Some(&c)
                if c == name[n]
                    || (p < 5
                        && pattern.len() >= 5
                        && pattern[..5].eq_ignore_ascii_case(b"INBOX")
                        && name.len() >= 5
                        && name[..5] == *b"INBOX"
                        && c.eq_ignore_ascii_case(&name[n])) =>
            {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn, any)) if any || name[sn] != b'/' => {
                    star = Some((sp, sn + 1, any));
                    p = sp + 1;
                    n = sn + 1;
                }
                _ => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*' || c == b'%')
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn list_wildcards() {
        assert!(wildcard_match(b"*", b"INBOX"));
        assert!(wildcard_match(b"*", b"a/b"));
        assert!(wildcard_match(b"%", b"Sent"));
        assert!(!wildcard_match(b"%", b"a/b"));
        assert!(wildcard_match(b"a/%", b"a/b"));
        assert!(wildcard_match(b"inbox", b"INBOX"));
        assert!(!wildcard_match(b"Sent", b"Sentx"));
        assert!(wildcard_match(b"S*t", b"Sent"));
    }
}
