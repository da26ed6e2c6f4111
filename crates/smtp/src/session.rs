//! The SMTP server state machine (RFC 5321 §4.1 and §4.3, RFC 3030, RFC 3207).

use std::mem;
use std::time::{Duration, Instant};

use crate::command::{self, Verb};
use crate::config::SessionConfig;
use crate::data::{BdatDecoder, ContentError, DataDecoder};
use crate::reply::Reply;
use crate::sasl::{self, Credentials, Mechanism, SaslError};

/// Input buffered, beyond one command or data line, while an event waits for
/// its verdict (pipelined commands, RFC 2920). More closes the connection.
const PIPELINE_SLACK: usize = 256 * 1024;

/// Longest SASL response line accepted (RFC 4954 §4 requires at least 12288 octets).
const MAX_SASL_LINE: usize = 12288 + 2;

/// Input buffer capacity kept after the buffer drains.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Something the caller has to act on; see the crate documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// RCPT TO with a syntactically valid path. Answer with
    /// [`Session::recipient_verdict`]; nothing else is processed until then.
    Recipient {
        /// The path without angle brackets, exactly as given (a bare
        /// `postmaster` is possible).
        address: String,
        /// The transaction was started with the SMTPUTF8 parameter.
        smtputf8: bool,
    },
    /// A complete message. Answer with [`Session::message_verdict`].
    Message {
        /// Who sent it to whom.
        envelope: Envelope,
        /// The content with CRLF line endings: dot-unstuffed for DATA,
        /// the concatenated chunks for BDAT. Only the part not taken with
        /// [`Session::take_content`] already: a caller that spools content
        /// as it arrives appends this tail to what it took.
        body: Vec<u8>,
    },
    /// AUTH completed its exchange. Check the credentials, then call
    /// [`Session::auth_verdict`].
    Auth(Credentials),
    /// MAIL FROM in an authenticated session: the account must be allowed to use
    /// `address` (empty for `<>`). Answer with [`Session::sender_verdict`]
    /// (`RcptVerdict::Accept` replies `250 2.1.0 Ok`).
    Sender {
        /// The reverse-path without brackets.
        address: String,
        /// The identity from [`AuthVerdict::Accept`].
        identity: String,
    },
    /// `220 2.0.0 Ready to start TLS` is queued: flush the output, perform
    /// the TLS handshake, then call [`Session::tls_started`]. Input buffered
    /// after the STARTTLS line has been discarded, and input received before
    /// `tls_started` is discarded too.
    StartTls,
    /// Flush the output and close the connection.
    Close,
}

/// The envelope of one mail transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// The EHLO/HELO argument.
    pub helo: String,
    /// The client greeted with EHLO (true) or HELO (false).
    pub esmtp: bool,
    /// The transaction happened under TLS.
    pub tls: bool,
    /// The reverse-path without brackets; empty for the null sender `<>`.
    pub mail_from: String,
    /// Accepted recipients, in order.
    pub recipients: Vec<String>,
    /// BODY=8BITMIME was given.
    pub body_8bit: bool,
    /// SMTPUTF8 was given.
    pub smtputf8: bool,
    /// The SIZE parameter of MAIL FROM, if any.
    pub declared_size: Option<u64>,
    /// REQUIRETLS was given (RFC 8689).
    pub requiretls: bool,
    /// The identity the session authenticated as, if it did.
    pub auth: Option<String>,
}

/// Answer to [`Event::Recipient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptVerdict {
    /// Add the recipient; replies `250 2.1.5 Ok`.
    Accept,
    /// Refuse the recipient with this reply (a code outside 4xx/5xx is sent as 550).
    Reject(Reply),
}

/// Answer to [`Event::Auth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVerdict {
    /// The credentials are good; replies `235 2.7.0` and the session acts as `identity`.
    Accept {
        /// The account the session now acts for (shown in [`Envelope::auth`]).
        identity: String,
    },
    /// Replies `535 5.7.8 Authentication credentials invalid`.
    Reject,
    /// Refuse with this reply instead (e.g. `454 4.7.0` for a temporary failure).
    Fail(Reply),
}

/// Answer to [`Event::Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageVerdict {
    /// The message was stored; replies `250 2.0.0 Ok: queued as <id>`.
    Accepted {
        /// Queue identifier shown to the client.
        id: String,
    },
    /// Refuse the message with this reply (a code outside 4xx/5xx is sent as 550).
    Rejected(Reply),
}

/// Client identity from EHLO/HELO.
#[derive(Debug)]
struct Helo {
    name: String,
    esmtp: bool,
}

/// A mail transaction in progress (after a successful MAIL).
#[derive(Debug)]
struct Transaction {
    mail_from: String,
    body_8bit: bool,
    smtputf8: bool,
    requiretls: bool,
    declared_size: Option<u64>,
    recipients: Vec<String>,
    /// Present once the first storing BDAT chunk was announced.
    bdat: Option<BdatDecoder>,
}

/// What happens to the bytes of a BDAT chunk.
#[derive(Debug)]
enum ChunkMode {
    /// Append them to the transaction's BDAT body.
    Store,
    /// Drop them, then send `reply`; with `abort`, end the transaction.
    Discard { reply: Reply, abort: bool },
}

#[derive(Debug)]
struct BdatChunk {
    size: u64,
    remaining: u64,
    last: bool,
    mode: ChunkMode,
}

/// What the input is.
#[derive(Debug)]
enum Phase {
    /// Command lines.
    Command,
    /// The rest of an over-long command line, up to and including LF.
    DiscardLine,
    /// DATA content.
    Data(DataDecoder),
    /// The bytes of a BDAT chunk.
    Bdat(BdatChunk),
    /// A SASL response line.
    Sasl(SaslStep),
}

/// Where an AUTH exchange stands, waiting for the client's next line.
#[derive(Debug)]
enum SaslStep {
    /// PLAIN without an initial response.
    Plain,
    /// LOGIN, waiting for the user name.
    LoginUser,
    /// LOGIN, waiting for the password.
    LoginPass(Vec<u8>),
}

/// What the session is blocked on.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    None,
    Recipient(String),
    /// The transaction is in `txn` already and goes if the sender is refused.
    Sender,
    Message,
    Tls,
    Auth,
}

enum LineScan {
    Line(usize),
    TooLong,
    Incomplete,
}

/// A sans-IO SMTP server session for one connection; see the crate documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    host: String,
    tls_active: bool,
    helo: Option<Helo>,
    /// The identity accepted by the last successful AUTH.
    auth: Option<String>,
    txn: Option<Transaction>,
    phase: Phase,
    /// Received input not yet processed.
    inbuf: Vec<u8>,
    /// Replies not yet taken by the caller.
    output: Vec<u8>,
    /// An event produced but not yet returned by `poll_event`.
    pending: Option<Event>,
    wait: Wait,
    closed: bool,
    errors: usize,
    last_activity: Instant,
    /// Counts message contents begun (DATA accepted, first storing BDAT chunk), so that a
    /// caller spooling content can tell a new message from the rest of an abandoned one.
    content_id: u64,
    /// When the session began, for `max_session`.
    started: Instant,
    /// The latest `receive`, mid-line or not: when message content began.
    clock: Instant,
    /// Commands that did nothing so far (`max_junk_commands`).
    junk: usize,
    /// Since when content of the current DATA or BDAT chunk arrives, and how many bytes of
    /// it came (`min_data_rate`).
    content: Option<(Instant, u64)>,
}

fn r(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(code, Some(enhanced), text)
}

fn ok() -> Reply {
    r(250, (2, 0, 0), "Ok")
}

fn need_mail() -> Reply {
    r(503, (5, 5, 1), "Error: need MAIL command")
}

fn too_big() -> Reply {
    r(
        552,
        (5, 3, 4),
        "Message size exceeds fixed maximum message size",
    )
}

fn content_error(e: ContentError) -> Reply {
    match e {
        ContentError::TooBig => too_big(),
        ContentError::LineTooLong => r(500, (5, 5, 2), "Error: line too long in message"),
        ContentError::BareNewline => r(
            550,
            (5, 5, 2),
            "Error: bare <CR> or <LF> in message; lines must end with <CR><LF>",
        ),
    }
}

/// A caller-supplied refusal; it must not read as success.
fn as_rejection(mut reply: Reply) -> Reply {
    if !(400..=599).contains(&reply.code) {
        reply.code = 550;
    }
    reply
}

fn sanitize_host(name: &str) -> String {
    let host: String = name
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect();
    if host.is_empty() {
        "localhost".to_owned()
    } else {
        host
    }
}

/// Finds the end of the command line at the start of `buf`.
fn scan_line(buf: &[u8], max: usize) -> LineScan {
    let window = buf.get(..max).unwrap_or(buf);
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => LineScan::Line(i + 1),
        None if buf.len() >= max => LineScan::TooLong,
        None => LineScan::Incomplete,
    }
}

impl Session {
    /// Starts a session and queues the greeting `220 <hostname> ESMTP mailkeep`.
    /// `tls_active` is true for implicit TLS.
    pub fn new(config: SessionConfig, tls_active: bool, now: Instant) -> Session {
        let host = sanitize_host(&config.hostname);
        let greeting = Reply::new(220, None, format!("{host} ESMTP mailkeep"));
        let mut session = Session {
            config,
            host,
            tls_active,
            helo: None,
            auth: None,
            txn: None,
            phase: Phase::Command,
            inbuf: Vec::new(),
            output: Vec::new(),
            pending: None,
            wait: Wait::None,
            closed: false,
            errors: 0,
            last_activity: now,
            content_id: 0,
            started: now,
            clock: now,
            junk: 0,
            content: None,
        };
        session.send(greeting);
        session
    }

    /// Hands bytes read from the peer to the session, and restarts the
    /// clock of the command timeout when they begin a new command line;
    /// bytes that continue one do not, so a client sending a byte at a time
    /// cannot hold the session past the timeout (slowloris). Message data
    /// restarts the data timeout with every read (RFC 5321 §4.5.3.2 times
    /// each chunk). `receive(&[], now)` only restarts the clock (after a
    /// verdict: the lookup's time is not the client's).
    ///
    /// Input is decoded as far as possible right away; decoding stops at
    /// the first event that needs the caller, and the rest stays buffered.
    /// Input that arrives while a verdict is pending is buffered up to the
    /// longest configured line plus 256 KiB; beyond that the session replies
    /// `421 4.7.0` and closes. Input that arrives while the TLS handshake is
    /// pending is discarded, and so is everything after a close.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        if self.closed {
            return;
        }
        let mid_line = match self.phase {
            Phase::Command | Phase::Sasl(_) => !self.inbuf.is_empty(),
            Phase::DiscardLine => true,
            Phase::Data(_) | Phase::Bdat(_) => false,
        };
        if bytes.is_empty() || !mid_line {
            self.last_activity = now;
        }
        self.clock = now;
        match self.wait {
            Wait::None => self.pump(bytes),
            Wait::Tls => {}
            Wait::Recipient(_) | Wait::Sender | Wait::Message | Wait::Auth => {
                let limit = self
                    .config
                    .max_command_line
                    .max(self.config.max_data_line)
                    .saturating_add(PIPELINE_SLACK);
                if self.inbuf.len().saturating_add(bytes.len()) > limit {
                    let reply = Reply::new(
                        421,
                        Some((4, 7, 0)),
                        format!("{} Error: too much pipelined input", self.host),
                    );
                    self.close(Some(reply));
                } else {
                    self.inbuf.extend_from_slice(bytes);
                }
            }
        }
    }

    /// Processes buffered input and returns the next event, or `None` when
    /// the input is exhausted or the session is blocked on a verdict.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.pending.is_none() {
            self.pump(&[]);
        }
        self.pending.take()
    }

    /// Takes the bytes to write to the peer.
    pub fn take_output(&mut self) -> Vec<u8> {
        mem::take(&mut self.output)
    }

    /// Takes the message content decoded since the last call, so that the caller can move
    /// it out of memory (to a spool file) while the client is still sending: without it a
    /// session holds the whole message, up to the maximum size. Content of a message that
    /// is then refused (too big, a bare newline under `Reject`, RSET) is never announced by
    /// an [`Event::Message`]; [`Session::content_id`] tells the caller which message the
    /// bytes belong to.
    pub fn take_content(&mut self) -> Vec<u8> {
        match &mut self.phase {
            Phase::Data(decoder) => decoder.take(),
            _ => self
                .txn
                .as_mut()
                .and_then(|t| t.bdat.as_mut())
                .map(BdatDecoder::take)
                .unwrap_or_default(),
        }
    }

    /// Which message content [`Session::take_content`] returns bytes of, and which one an
    /// [`Event::Message`] completes: a new value for every message begun.
    pub fn content_id(&self) -> u64 {
        self.content_id
    }

    /// Whether the caller should read from the peer: false while an event
    /// awaits its verdict (or the TLS handshake), and once closed.
    pub fn wants_input(&self) -> bool {
        !self.closed && self.wait == Wait::None
    }

    /// When [`Session::handle_timeout`] should be called: the last
    /// `receive` plus the command or data timeout. `None` while a verdict
    /// or the TLS handshake is pending, and once closed.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.wants_input() {
            return None;
        }
        [
            self.idle_deadline(),
            self.rate_deadline(),
            self.session_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The last `receive` plus the command or data timeout (RFC 5321 §4.5.3.2).
    fn idle_deadline(&self) -> Option<Instant> {
        let timeout = match self.phase {
            Phase::Data(_) | Phase::Bdat(_) => self.config.data_timeout,
            Phase::Command | Phase::DiscardLine | Phase::Sasl(_) => self.config.command_timeout,
        };
        self.last_activity.checked_add(timeout)
    }

    /// When content arriving at `min_data_rate` would have brought more than what came:
    /// a start of one data timeout (so the RFC's own timeout is never shortened), plus a
    /// second per `min_data_rate` bytes received.
    fn rate_deadline(&self) -> Option<Instant> {
        let (since, bytes) = self.content?;
        let rate = self.config.min_data_rate;
        if rate == 0 {
            return None;
        }
        let earned = Duration::from_secs(bytes / rate);
        since
            .checked_add(self.config.data_timeout)?
            .checked_add(earned)
    }

    fn session_deadline(&self) -> Option<Instant> {
        self.started.checked_add(self.config.max_session)
    }

    /// Closes the session with `421 4.4.2` if `now` is at or past
    /// [`Session::next_deadline`]; the text says which limit was reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.wants_input() {
            return;
        }
        let past = |d: Option<Instant>| d.is_some_and(|d| now >= d);
        let why = if past(self.idle_deadline()) {
            "timeout exceeded"
        } else if past(self.session_deadline()) {
            "session too long"
        } else if past(self.rate_deadline()) {
            "message data too slow"
        } else {
            return;
        };
        let reply = Reply::new(421, Some((4, 4, 2)), format!("{} Error: {why}", self.host));
        self.close(Some(reply));
    }

    /// Answers [`Event::Recipient`] and resumes processing. Ignored when no
    /// recipient verdict is pending.
    pub fn recipient_verdict(&mut self, verdict: RcptVerdict) {
        if self.closed || !matches!(self.wait, Wait::Recipient(_)) {
            return;
        }
        let Wait::Recipient(address) = mem::replace(&mut self.wait, Wait::None) else {
            return;
        };
        if matches!(self.pending, Some(Event::Recipient { .. })) {
            self.pending = None;
        }
        match verdict {
            RcptVerdict::Accept => {
                if let Some(txn) = self.txn.as_mut() {
                    txn.recipients.push(address);
                }
                self.send(r(250, (2, 1, 5), "Ok"));
            }
            RcptVerdict::Reject(reply) => self.send(as_rejection(reply)),
        }
        self.pump(&[]);
    }

    /// Answers [`Event::Auth`] and resumes processing. Ignored when no AUTH
    /// verdict is pending.
    pub fn auth_verdict(&mut self, verdict: AuthVerdict) {
        if self.closed || self.wait != Wait::Auth {
            return;
        }
        self.wait = Wait::None;
        if matches!(self.pending, Some(Event::Auth(_))) {
            self.pending = None;
        }
        match verdict {
            AuthVerdict::Accept { identity } => {
                self.auth = Some(identity);
                self.send(r(235, (2, 7, 0), "Authentication successful"));
            }
            AuthVerdict::Reject => self.send(r(
                535,
                (5, 7, 8),
                "Error: authentication credentials invalid",
            )),
            AuthVerdict::Fail(reply) => self.send(as_rejection(reply)),
        }
        self.pump(&[]);
    }

    /// Answers [`Event::Sender`] and resumes processing. Ignored when no
    /// sender verdict is pending.
    pub fn sender_verdict(&mut self, verdict: RcptVerdict) {
        if self.closed || self.wait != Wait::Sender {
            return;
        }
        self.wait = Wait::None;
        if matches!(self.pending, Some(Event::Sender { .. })) {
            self.pending = None;
        }
        match verdict {
            RcptVerdict::Accept => self.send(r(250, (2, 1, 0), "Ok")),
            RcptVerdict::Reject(reply) => {
                self.txn = None;
                self.send(as_rejection(reply));
            }
        }
        self.pump(&[]);
    }

    /// The identity of a successful AUTH, if any.
    pub fn authenticated(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// Answers [`Event::Message`] and resumes processing. The transaction
    /// is over either way. Ignored when no message verdict is pending.
    pub fn message_verdict(&mut self, verdict: MessageVerdict) {
        if self.closed || self.wait != Wait::Message {
            return;
        }
        self.wait = Wait::None;
        if matches!(self.pending, Some(Event::Message { .. })) {
            self.pending = None;
        }
        match verdict {
            MessageVerdict::Accepted { id } => {
                self.junk = 0;
                let id = id.replace(['\r', '\n'], " ");
                self.send(Reply::new(
                    250,
                    Some((2, 0, 0)),
                    format!("Ok: queued as {id}"),
                ));
            }
            MessageVerdict::Rejected(reply) => self.send(as_rejection(reply)),
        }
        self.pump(&[]);
    }

    /// Reports a completed TLS handshake after [`Event::StartTls`]: the
    /// session returns to the state before EHLO (RFC 3207 §4.2) without a
    /// new greeting. Ignored when no handshake is pending.
    pub fn tls_started(&mut self) {
        if self.closed || self.wait != Wait::Tls {
            return;
        }
        self.wait = Wait::None;
        if self.pending == Some(Event::StartTls) {
            self.pending = None;
        }
        self.tls_active = true;
        self.helo = None;
        self.auth = None;
        self.txn = None;
        self.phase = Phase::Command;
        self.inbuf = Vec::new();
    }

    /// The server is going down: queues `421 4.3.2 <host> Service shutting
    /// down` and makes [`Event::Close`] the next event.
    pub fn shutdown(&mut self) {
        let reply = Reply::new(
            421,
            Some((4, 3, 2)),
            format!("{} Service shutting down", self.host),
        );
        self.close(Some(reply));
    }

    /// Whether the session has ended (the last reply may still wait in the output).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the connection is under TLS.
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// Recipients accepted so far in the current transaction (0 outside one). A caller that
    /// keeps per-recipient state can drop it when a transaction starts afresh.
    pub fn accepted_recipients(&self) -> usize {
        self.txn.as_ref().map_or(0, |t| t.recipients.len())
    }

    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.inbuf.len()
    }

    /// Processes the buffered input followed by `extra`, keeping what is left.
    fn pump(&mut self, extra: &[u8]) {
        if self.closed {
            return;
        }
        let mut buf = mem::take(&mut self.inbuf);
        if buf.is_empty() {
            let used = self.run(extra);
            buf.extend_from_slice(extra.get(used..).unwrap_or_default());
        } else {
            buf.extend_from_slice(extra);
            let used = self.run(&buf);
            buf.drain(..used.min(buf.len()));
        }
        if self.closed {
            buf = Vec::new();
        } else if buf.capacity() > KEEP_CAPACITY && buf.len() <= KEEP_CAPACITY / 2 {
            buf.shrink_to(KEEP_CAPACITY / 2);
        }
        self.inbuf = buf;
    }

    /// Processes `input` until it runs out or the session blocks; returns
    /// how many bytes were consumed (all of them once the session closed or
    /// STARTTLS discarded the rest).
    fn run(&mut self, input: &[u8]) -> usize {
        let mut pos = 0;
        while !self.closed && self.wait == Wait::None {
            let rest = input.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            let in_content = matches!(self.phase, Phase::Data(_) | Phase::Bdat(_));
            let used = match &mut self.phase {
                Phase::Command => match scan_line(rest, self.config.max_command_line) {
                    LineScan::Line(len) => {
                        self.command_line(rest.get(..len).unwrap_or_default());
                        len
                    }
                    LineScan::TooLong => {
                        self.phase = Phase::DiscardLine;
                        self.send(r(500, (5, 5, 2), "Error: line too long"));
                        0
                    }
                    LineScan::Incomplete => break,
                },
                Phase::Sasl(_) => match scan_line(rest, MAX_SASL_LINE) {
                    LineScan::Line(len) => {
                        self.sasl_line(rest.get(..len).unwrap_or_default());
                        len
                    }
                    LineScan::TooLong => {
                        self.phase = Phase::DiscardLine;
                        self.send(r(500, (5, 5, 6), "Error: authentication line too long"));
                        0
                    }
                    LineScan::Incomplete => break,
                },
                Phase::DiscardLine => match rest.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.phase = Phase::Command;
                        i + 1
                    }
                    None => rest.len(),
                },
                Phase::Data(decoder) => {
                    let (used, done) = decoder.feed(rest);
                    if done {
                        self.finish_data();
                    }
                    used
                }
                Phase::Bdat(chunk) => {
                    let take =
                        usize::try_from(chunk.remaining).map_or(rest.len(), |n| n.min(rest.len()));
                    let bytes = rest.get(..take).unwrap_or_default();
                    if matches!(chunk.mode, ChunkMode::Store)
                        && let Some(decoder) = self.txn.as_mut().and_then(|t| t.bdat.as_mut())
                    {
                        decoder.feed(bytes);
                    }
                    chunk.remaining = chunk.remaining.saturating_sub(take as u64);
                    if chunk.remaining == 0 {
                        self.finish_chunk();
                    }
                    take
                }
            };
            pos += used;
            self.count_content(in_content, used);
        }
        if self.closed || self.wait == Wait::Tls {
            input.len()
        } else {
            pos.min(input.len())
        }
    }

    /// Keeps the content rate's clock: it starts when a DATA or BDAT chunk's content
    /// begins, counts its bytes, and stops with it.
    fn count_content(&mut self, was_content: bool, used: usize) {
        if was_content && let Some((_, bytes)) = self.content.as_mut() {
            *bytes = bytes.saturating_add(used as u64);
        }
        if matches!(self.phase, Phase::Data(_) | Phase::Bdat(_)) {
            if self.content.is_none() {
                self.content = Some((self.clock, 0));
            }
        } else {
            self.content = None;
        }
    }

    /// Counts a command that did nothing; beyond `max_junk_commands` each counts as an
    /// error too, as in Postfix, so a client idling with `NOOP` is closed after
    /// `max_errors` more.
    fn junk_command(&mut self) {
        self.junk = self.junk.saturating_add(1);
        if self.junk > self.config.max_junk_commands && !self.closed {
            self.count_error();
        }
    }

    /// One more error; the connection is closed after `max_errors`.
    fn count_error(&mut self) {
        self.errors = self.errors.saturating_add(1);
        if self.errors > self.config.max_errors {
            let reply = Reply::new(
                421,
                Some((4, 7, 0)),
                format!("{} Error: too many errors", self.host),
            );
            self.close(Some(reply));
        }
    }

    /// Queues a reply; counts failures and closes after too many.
    fn send(&mut self, reply: Reply) {
        if self.closed {
            return;
        }
        reply.encode(&mut self.output);
        if reply.is_error() {
            self.count_error();
        }
    }

    /// Queues a final reply and makes [`Event::Close`] the next event.
    fn close(&mut self, reply: Option<Reply>) {
        if self.closed {
            return;
        }
        if let Some(reply) = reply {
            reply.encode(&mut self.output);
        }
        self.closed = true;
        self.wait = Wait::None;
        self.pending = Some(Event::Close);
        self.inbuf = Vec::new();
        self.phase = Phase::Command;
        self.txn = None;
    }

    /// Handles one command line including its line ending (CRLF or bare LF).
    fn command_line(&mut self, raw: &[u8]) {
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let invalid = line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
        let Some(line) = std::str::from_utf8(line).ok().filter(|_| !invalid) else {
            self.send(r(500, (5, 5, 2), "Error: invalid characters in command"));
            return;
        };
        let (verb, args) = command::split_verb(line);
        match verb {
            Verb::Ehlo => self.cmd_hello(args, true),
            Verb::Helo => self.cmd_hello(args, false),
            Verb::Mail => self.cmd_mail(args),
            Verb::Rcpt => self.cmd_rcpt(args),
            Verb::Data => self.cmd_data(args),
            Verb::Bdat => self.cmd_bdat(args),
            Verb::Rset => {
                if args.is_empty() {
                    self.txn = None;
                    self.send(ok());
                    self.junk_command();
                } else {
                    self.send(r(501, (5, 5, 4), "Syntax: RSET"));
                }
            }
            Verb::Noop => {
                self.send(ok());
                self.junk_command();
            }
            Verb::Quit => {
                self.send(r(221, (2, 0, 0), "Bye"));
                self.close(None);
            }
            Verb::Vrfy => {
                self.send(r(
                    252,
                    (2, 5, 0),
                    "Cannot VRFY user, but will accept message and attempt delivery",
                ));
                self.junk_command();
            }
            Verb::Expn => self.send(r(502, (5, 5, 1), "Error: command not implemented")),
            Verb::Help => {
                self.send(r(214, (2, 0, 0), "See RFC 5321"));
                self.junk_command();
            }
            Verb::Auth => self.cmd_auth(args),
            Verb::StartTls => self.cmd_starttls(args),
            Verb::Unknown => self.send(r(500, (5, 5, 2), "Error: command not recognized")),
        }
    }

    fn cmd_hello(&mut self, args: &str, esmtp: bool) {
        if !command::is_hello_arg(args) {
            let text = if esmtp {
                "Syntax: EHLO hostname"
            } else {
                "Syntax: HELO hostname"
            };
            self.send(r(501, (5, 5, 4), text));
            return;
        }
        self.txn = None;
        self.helo = Some(Helo {
            name: args.to_owned(),
            esmtp,
        });
        if !esmtp {
            self.send(Reply::new(250, None, self.host.clone()));
            return;
        }
        let mut lines = vec![
            self.host.clone(),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
            "CHUNKING".to_owned(),
        ];
        if self.config.starttls_available && !self.tls_active {
            lines.push("STARTTLS".to_owned());
        }
        if self.tls_active {
            lines.push("REQUIRETLS".to_owned());
        }
        // RFC 8314 §3.3 / RFC 4954 §4: never invite a password over cleartext.
        if self.config.auth_available && self.tls_active {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        lines.push("HELP".to_owned());
        self.send(Reply::new(250, None, lines.join("\n")));
    }

    fn max_size(&self) -> u64 {
        u64::try_from(self.config.max_message_size).unwrap_or(u64::MAX)
    }

    fn cmd_mail(&mut self, args: &str) {
        if self.helo.is_none() {
            self.send(r(503, (5, 5, 1), "Error: send HELO/EHLO first"));
            return;
        }
        if self.txn.is_some() {
            self.send(r(503, (5, 5, 1), "Error: nested MAIL command"));
            return;
        }
        if self.config.require_auth && self.auth.is_none() {
            self.send(r(530, (5, 7, 0), "Authentication required"));
            return;
        }
        let mail = match command::parse_mail(args) {
            Ok(mail) => mail,
            Err(reply) => {
                self.send(reply);
                return;
            }
        };
        if mail.size.is_some_and(|size| size > self.max_size()) {
            self.send(too_big());
            return;
        }
        if mail.requiretls && !self.tls_active {
            // RFC 8689 §4.1: REQUIRETLS is only valid on a TLS session.
            self.send(r(530, (5, 7, 10), "REQUIRETLS needs a TLS session"));
            return;
        }
        let txn = Transaction {
            mail_from: mail.path.to_owned(),
            body_8bit: mail.body_8bit,
            smtputf8: mail.smtputf8,
            requiretls: mail.requiretls,
            declared_size: mail.size,
            recipients: Vec::new(),
            bdat: None,
        };
        if let Some(identity) = self.auth.clone() {
            self.pending = Some(Event::Sender {
                address: txn.mail_from.clone(),
                identity,
            });
            self.txn = Some(txn);
            self.wait = Wait::Sender;
            return;
        }
        self.txn = Some(txn);
        self.send(r(250, (2, 1, 0), "Ok"));
    }

    fn cmd_rcpt(&mut self, args: &str) {
        let Some(txn) = self.txn.as_ref() else {
            self.send(need_mail());
            return;
        };
        if txn.bdat.is_some() {
            self.send(r(503, (5, 5, 1), "Error: RCPT not allowed after BDAT"));
            return;
        }
        let (smtputf8, count) = (txn.smtputf8, txn.recipients.len());
        let address = match command::parse_rcpt(args, smtputf8) {
            Ok(address) => address.to_owned(),
            Err(reply) => {
                self.send(reply);
                return;
            }
        };
        if count >= self.config.max_recipients {
            self.send(r(452, (4, 5, 3), "Error: too many recipients"));
            return;
        }
        self.wait = Wait::Recipient(address.clone());
        self.pending = Some(Event::Recipient { address, smtputf8 });
    }

    fn cmd_data(&mut self, args: &str) {
        let Some(txn) = self.txn.as_ref() else {
            self.send(need_mail());
            return;
        };
        let reply = if txn.bdat.is_some() {
            r(503, (5, 5, 1), "Error: DATA not allowed after BDAT")
        } else if txn.recipients.is_empty() {
            r(554, (5, 5, 1), "Error: no valid recipients")
        } else if !args.is_empty() {
            r(501, (5, 5, 4), "Syntax: DATA")
        } else {
            self.content_id += 1;
            self.phase = Phase::Data(DataDecoder::new(
                self.config.max_data_line,
                self.config.max_message_size,
                self.config.bare_newline,
            ));
            Reply::new(354, None, "End data with <CR><LF>.<CR><LF>")
        };
        self.send(reply);
    }

    /// Ends DATA content: reply or [`Event::Message`].
    fn finish_data(&mut self) {
        let Phase::Data(decoder) = mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        match (decoder.finish(), self.txn.take()) {
            (Ok(body), Some(txn)) => self.deliver(txn, body),
            (Ok(_), None) => self.send(need_mail()),
            (Err(e), _) => self.send(content_error(e)),
        }
    }

    fn cmd_bdat(&mut self, args: &str) {
        let Some((size, last)) = command::parse_bdat(args) else {
            self.send(r(501, (5, 5, 4), "Syntax: BDAT chunk-size [LAST]"));
            return;
        };
        let max = self.max_size();
        let (max_message_size, policy) = (self.config.max_message_size, self.config.bare_newline);
        let mode = match self.txn.as_mut() {
            None => ChunkMode::Discard {
                reply: need_mail(),
                abort: false,
            },
            Some(txn) if txn.recipients.is_empty() => ChunkMode::Discard {
                reply: r(503, (5, 5, 1), "Error: need RCPT command"),
                abort: false,
            },
            Some(txn) => {
                if txn.bdat.is_none() {
                    self.content_id += 1;
                }
                let decoder = txn
                    .bdat
                    .get_or_insert_with(|| BdatDecoder::new(max_message_size, policy));
                match decoder.raw_total().checked_add(size) {
                    Some(total) if total <= max => {
                        decoder.add_raw(size);
                        ChunkMode::Store
                    }
                    _ => ChunkMode::Discard {
                        reply: too_big(),
                        abort: true,
                    },
                }
            }
        };
        self.phase = Phase::Bdat(BdatChunk {
            size,
            remaining: size,
            last,
            mode,
        });
        if size == 0 {
            self.finish_chunk();
        }
    }

    /// Ends a BDAT chunk whose bytes were all consumed.
    fn finish_chunk(&mut self) {
        let Phase::Bdat(chunk) = mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        if let ChunkMode::Discard { reply, abort } = chunk.mode {
            if abort {
                self.txn = None;
            }
            self.send(reply);
            return;
        }
        let too_big_now = self
            .txn
            .as_ref()
            .and_then(|t| t.bdat.as_ref())
            .is_none_or(BdatDecoder::too_big);
        if too_big_now {
            self.txn = None;
            self.send(too_big());
            return;
        }
        if !chunk.last {
            self.send(Reply::new(
                250,
                Some((2, 0, 0)),
                format!("{} octets received", chunk.size),
            ));
            return;
        }
        let Some(mut txn) = self.txn.take() else {
            self.send(need_mail());
            return;
        };
        let Some(decoder) = txn.bdat.take() else {
            self.send(need_mail());
            return;
        };
        match decoder.finish() {
            Ok(body) => self.deliver(txn, body),
            Err(e) => self.send(content_error(e)),
        }
    }

    /// Emits [`Event::Message`] for a finished transaction.
    fn deliver(&mut self, txn: Transaction, body: Vec<u8>) {
        let (helo, esmtp) = self
            .helo
            .as_ref()
            .map_or((String::new(), false), |h| (h.name.clone(), h.esmtp));
        let envelope = Envelope {
            helo,
            esmtp,
            tls: self.tls_active,
            mail_from: txn.mail_from,
            recipients: txn.recipients,
            body_8bit: txn.body_8bit,
            smtputf8: txn.smtputf8,
            declared_size: txn.declared_size,
            requiretls: txn.requiretls,
            auth: self.auth.clone(),
        };
        self.wait = Wait::Message;
        self.pending = Some(Event::Message { envelope, body });
    }

    /// AUTH (RFC 4954).
    fn cmd_auth(&mut self, args: &str) {
        let (name, initial) = args.split_once(' ').unwrap_or((args, ""));
        let initial = initial.trim_matches(' ');
        let refusal = if !self.config.auth_available {
            Some(r(503, (5, 5, 1), "Error: authentication not enabled"))
        } else if name.is_empty() {
            Some(r(
                501,
                (5, 5, 4),
                "Syntax: AUTH mechanism [initial-response]",
            ))
        } else if !self.tls_active {
            Some(r(
                538,
                (5, 7, 11),
                "Encryption required for requested authentication mechanism",
            ))
        } else if self.helo.is_none() {
            Some(r(503, (5, 5, 1), "Error: send EHLO first"))
        } else if self.auth.is_some() {
            Some(r(503, (5, 5, 1), "Error: already authenticated"))
        } else if self.txn.is_some() {
            Some(r(
                503,
                (5, 5, 1),
                "Error: AUTH not permitted during a mail transaction",
            ))
        } else {
            None
        };
        if let Some(reply) = refusal {
            self.send(reply);
            return;
        }
        let Some(mechanism) = Mechanism::from_name(name) else {
            self.send(r(504, (5, 5, 4), "Unrecognized authentication type"));
            return;
        };
        match (mechanism, initial.is_empty()) {
            (Mechanism::Plain, true) => self.challenge(SaslStep::Plain, ""),
            (Mechanism::Login, true) => {
                self.challenge(SaslStep::LoginUser, sasl::LOGIN_USER_PROMPT)
            }
            (Mechanism::Plain, false) => {
                let r = sasl::decode_response(initial).and_then(sasl::plain);
                self.sasl_done(r);
            }
            (Mechanism::Login, false) => match sasl::decode_response(initial) {
                Ok(user) => self.challenge(SaslStep::LoginPass(user), sasl::LOGIN_PASS_PROMPT),
                Err(e) => self.sasl_done(Err(e)),
            },
        }
    }

    fn challenge(&mut self, step: SaslStep, text: &str) {
        self.phase = Phase::Sasl(step);
        self.send(Reply::new(334, None, text));
    }

    /// One client response line during AUTH.
    fn sasl_line(&mut self, raw: &[u8]) {
        let Phase::Sasl(step) = mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let decoded = std::str::from_utf8(line)
            .map_err(|_| SaslError::Malformed)
            .and_then(sasl::decode_response);
        let result = match (step, decoded) {
            (_, Err(e)) => Err(e),
            (SaslStep::Plain, Ok(message)) => sasl::plain(message),
            (SaslStep::LoginUser, Ok(user)) => {
                self.challenge(SaslStep::LoginPass(user), sasl::LOGIN_PASS_PROMPT);
                return;
            }
            (SaslStep::LoginPass(user), Ok(pass)) => sasl::login(user, pass),
        };
        self.sasl_done(result);
    }

    fn sasl_done(&mut self, result: Result<Credentials, SaslError>) {
        match result {
            Ok(creds) => {
                self.wait = Wait::Auth;
                self.pending = Some(Event::Auth(creds));
            }
            Err(SaslError::Cancelled) => self.send(r(501, (5, 0, 0), "Authentication cancelled")),
            Err(SaslError::Malformed) => self.send(r(
                501,
                (5, 5, 2),
                "Error: cannot decode the authentication response",
            )),
        }
    }

    fn cmd_starttls(&mut self, args: &str) {
        let reply = if !self.config.starttls_available {
            r(502, (5, 5, 1), "Error: command not implemented")
        } else if !args.is_empty() {
            r(501, (5, 5, 4), "Syntax: STARTTLS")
        } else if self.tls_active {
            r(503, (5, 5, 1), "Error: TLS already active")
        } else {
            self.send(r(220, (2, 0, 0), "Ready to start TLS"));
            // Anything pipelined after STARTTLS is dropped (CVE-2011-0411):
            // `run` consumes the rest of the input once it sees `Wait::Tls`.
            self.wait = Wait::Tls;
            self.pending = Some(Event::StartTls);
            return;
        };
        self.send(reply);
    }
}
