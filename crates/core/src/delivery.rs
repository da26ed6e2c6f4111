//! Local delivery: the per-recipient plan, the trace header and the one store transaction.
//!
//! A message's delivery is decided as a [`Plan`]: one [`Action`] per local recipient (which
//! mailbox, which flags, or refuse, or defer) that each step at delivery may change — the
//! authentication policy today, a content verdict or a Sieve script later — before
//! [`Plan::resolve`] turns it into what the SMTP reply and the store transaction do.

use crate::store::{self, Backend, Placed, Target};

/// What happens to one local recipient's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Store a copy in `mailbox`, starting with `flags`.
    Deliver {
        /// Mailbox name.
        mailbox: String,
        /// Flags and keywords.
        flags: Vec<String>,
    },
    /// Refuse it at SMTP time (`550 5.7.1 <text>`), so that nothing is bounced to a sender
    /// who may be forged.
    Reject(String),
    /// Ask the sender to try again later (`451 4.7.1 <text>`).
    Defer(String),
}

/// One local recipient and what happens to its copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientPlan {
    /// The envelope recipient.
    pub address: String,
    /// The account it resolved to (an alias and the account itself share one).
    pub account_id: i64,
    /// Its action.
    pub action: Action,
}

/// The delivery plan of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Local recipients, in envelope order.
    pub local: Vec<RecipientPlan>,
    /// Remote recipients (submission), queued as they are.
    pub remote: Vec<String>,
}

/// What a resolved plan does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Store these copies and queue the remote recipients. Recipients refused while others
    /// accept get nothing; SMTP has one reply for the whole message after DATA.
    Store {
        /// One copy per account.
        targets: Vec<Target>,
        /// Remote recipients.
        remote: Vec<String>,
        /// Local recipients refused, with why.
        refused: Vec<(String, String)>,
    },
    /// Refuse the message: every recipient refused it.
    Reject(String),
    /// Try again later: some recipient deferred, and nothing is stored (no copy may be
    /// stored twice when the sender comes back).
    Defer(String),
}

impl Plan {
    /// Every local recipient's copy to INBOX, unflagged.
    pub fn new(local: impl IntoIterator<Item = (String, i64)>, remote: Vec<String>) -> Plan {
        Plan {
            local: local
                .into_iter()
                .map(|(address, account_id)| RecipientPlan {
                    address,
                    account_id,
                    action: Action::Deliver {
                        mailbox: "INBOX".into(),
                        flags: Vec::new(),
                    },
                })
                .collect(),
            remote,
        }
    }

    /// Files every copy still being delivered in `mailbox` (DMARC quarantine: Junk).
    pub fn file_in(&mut self, into: &str) {
        for r in &mut self.local {
            if let Action::Deliver { mailbox, .. } = &mut r.action {
                *mailbox = into.to_owned();
            }
        }
    }

    /// Refuses the message for every recipient.
    pub fn reject_all(&mut self, why: &str) {
        for r in &mut self.local {
            r.action = Action::Reject(why.to_owned());
        }
        self.remote.clear();
    }

    /// What the plan does: a deferral anywhere defers the whole message; a message no one
    /// accepts is refused; otherwise one copy per account (the first recipient's action for
    /// an account wins).
    pub fn resolve(self) -> Outcome {
        if let Some(why) = self.local.iter().find_map(|r| match &r.action {
            Action::Defer(why) => Some(why.clone()),
            _ => None,
        }) {
            return Outcome::Defer(why);
        }
        let mut targets: Vec<Target> = Vec::new();
        let mut refused = Vec::new();
        for r in self.local {
            match r.action {
                Action::Deliver { mailbox, flags } => {
                    if !targets.iter().any(|t| t.account_id == r.account_id) {
                        targets.push(Target {
                            account_id: r.account_id,
                            mailbox,
                            flags,
                        });
                    }
                }
                Action::Reject(why) => refused.push((r.address, why)),
                Action::Defer(_) => {}
            }
        }
        if targets.is_empty() && self.remote.is_empty() {
            return Outcome::Reject(
                refused
                    .into_iter()
                    .next()
                    .map_or_else(|| "no valid recipients".to_owned(), |(_, why)| why),
            );
        }
        Outcome::Store {
            targets,
            remote: self.remote,
            refused,
        }
    }
}

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
    /// The local copies ([`Plan::resolve`]: one per account).
    pub targets: Vec<Target>,
    /// Header fields to add below `Received:` (`Authentication-Results:`, `DKIM-Signature:`),
    /// each CRLF-terminated.
    pub extra_headers: &'a str,
    /// Remote recipients to queue, with the message.
    pub outbound: Option<store::NewOutbound>,
}

/// Stores one message in one durable transaction: the bytes once (trace header first), its
/// local copies, and the queue entry for remote recipients. `done` runs
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
    let single = (msg.rcpts.len() == 1).then(|| msg.rcpts[0].as_str());
    let header = received_header(trace, msg.id, single, now);
    let mut bytes = body;
    let prefix = header.len() + msg.extra_headers.len();
    bytes.reserve(prefix);
    bytes.splice(0..0, header.bytes().chain(msg.extra_headers.bytes()));
    let envelope = (msg.mail_from.to_owned(), msg.rcpts.to_vec());
    store.accept_then(
        bytes,
        msg.targets,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::new(
            [
                ("alice@example.org".to_owned(), 1),
                ("ali@example.org".to_owned(), 1),
                ("bob@example.org".to_owned(), 2),
            ],
            vec![],
        )
    }

    #[test]
    fn one_copy_per_account_in_the_mailbox_the_plan_says() {
        let mut p = plan();
        p.file_in("Junk");
        p.local[2].action = Action::Deliver {
            mailbox: "Work".into(),
            flags: vec!["$Label".into()],
        };
        let Outcome::Store {
            targets, refused, ..
        } = p.resolve()
        else {
            panic!("stored")
        };
        assert!(refused.is_empty());
        assert_eq!(
            targets,
            [
                Target {
                    account_id: 1,
                    mailbox: "Junk".into(),
                    flags: vec![]
                },
                Target {
                    account_id: 2,
                    mailbox: "Work".into(),
                    flags: vec!["$Label".into()]
                },
            ]
        );
    }

    #[test]
    fn refusals_and_deferrals_decide_the_reply() {
        let mut p = plan();
        p.local[2].action = Action::Reject("spam".into());
        let Outcome::Store {
            targets, refused, ..
        } = p.resolve()
        else {
            panic!("stored for the others")
        };
        assert_eq!(targets.len(), 1);
        assert_eq!(refused, [("bob@example.org".to_owned(), "spam".to_owned())]);

        let mut p = plan();
        p.reject_all("forged");
        assert_eq!(p.resolve(), Outcome::Reject("forged".into()));

        let mut p = plan();
        p.local[0].action = Action::Defer("busy".into());
        assert_eq!(p.resolve(), Outcome::Defer("busy".into()));

        assert_eq!(
            Plan::new([], vec![]).resolve(),
            Outcome::Reject("no valid recipients".into())
        );
    }
}
