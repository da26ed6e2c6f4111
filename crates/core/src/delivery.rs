//! Local delivery: the trace header, recipient de-duplication and the one store transaction.

use crate::store::{self, Backend, Placed};

/// What the receiving side knows about where a message came from.
#[derive(Debug, Clone)]
pub struct Trace {
    /// HELO/EHLO argument.
    pub helo: String,
    /// Peer IP address.
    pub peer_ip: std::net::IpAddr,
    /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPSA` (RFC 3848).
    pub protocol: &'static str,
    /// Our host name.
    pub hostname: String,
    /// Negotiated TLS version and cipher suite, if any.
    pub tls: Option<String>,
}

/// Builds the `Received:` header (RFC 5321 §4.4) for one message.
pub fn received_header(trace: &Trace, id: &str, single_rcpt: Option<&str>, now: i64) -> String {
    let helo: String = trace
        .helo
        .chars()
        .filter(|c| c.is_ascii_graphic() && !"()\\".contains(*c))
        .take(255)
        .collect();
    let mut h = format!(
        "Received: from {helo} ([{ip}])\r\n\tby {host} (mailkeep) with {proto} id {id}",
        ip = trace.peer_ip,
        host = trace.hostname,
        proto = trace.protocol,
    );
    if let Some(tls) = &trace.tls {
        h.push_str(&format!("\r\n\t({tls})"));
    }
    if let Some(r) = single_rcpt {
        h.push_str(&format!("\r\n\tfor <{r}>"));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", crate::time::rfc5322(now)));
    h
}

/// One accepted message: where its local copies go and what is queued for elsewhere.
#[derive(Debug, Clone)]
pub struct Accepted<'a> {
    /// Delivery id (`250 … queued as <id>`).
    pub id: &'a str,
    /// Envelope sender (journaled with the message).
    pub mail_from: &'a str,
    /// Envelope recipients (the `for <…>` clause names a single one).
    pub rcpts: &'a [String],
    /// Local accounts to receive a copy; may repeat (an alias and the account itself): each
    /// account gets one copy.
    pub accounts: &'a [i64],
    /// The mailbox local copies go to (`INBOX`, or `Junk` for quarantined mail).
    pub mailbox: &'a str,
    /// Header fields to add below `Received:` (`Authentication-Results:`, `DKIM-Signature:`),
    /// each CRLF-terminated.
    pub extra_headers: &'a str,
    /// Remote recipients to queue, with the message.
    pub outbound: Option<store::NewOutbound>,
}

/// Stores one message in one durable transaction: the bytes once (trace header first), a
/// copy per distinct local account, and the queue entry for remote recipients. `done` runs
/// on the store's writer thread once all of it is durable (or the write failed), so it must
/// only hand the result on. The header fields go in front of `body` in place: a large
/// message is not copied (give it spare capacity for them).
pub fn accept(
    store: &dyn Backend,
    trace: &Trace,
    msg: Accepted<'_>,
    body: Vec<u8>,
    now: i64,
    done: impl FnOnce(Result<Vec<Placed>, store::Error>) + Send + 'static,
) {
    let mut targets: Vec<(i64, String)> = Vec::new();
    for &a in msg.accounts {
        if !targets.iter().any(|(x, _)| *x == a) {
            targets.push((a, msg.mailbox.to_owned()));
        }
    }
    let single = (msg.rcpts.len() == 1).then(|| msg.rcpts[0].as_str());
    let header = received_header(trace, msg.id, single, now);
    let mut bytes = body;
    let prefix = header.len() + msg.extra_headers.len();
    bytes.reserve(prefix);
    bytes.splice(0..0, header.bytes().chain(msg.extra_headers.bytes()));
    let envelope = (msg.mail_from.to_owned(), msg.rcpts.to_vec());
    store.accept_then(
        bytes,
        targets,
        msg.outbound,
        envelope,
        now,
        msg.id,
        Box::new(done),
    );
}

/// A fresh delivery id: 16 hex digits from the caller's randomness.
pub fn new_id(random: u64) -> String {
    format!("{random:016X}")
}
