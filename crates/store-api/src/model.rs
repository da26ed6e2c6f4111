//! Plain data types that cross the seam: what backends take and hand out.

use mailkeep_journal::ActorKind;

/// SHA-256 of message bytes: a body's address.
pub type Hash = [u8; 32];

/// Computes a body's address.
pub fn hash(data: &[u8]) -> Hash {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// A mail domain mailkeep is the final destination for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Row id.
    pub id: i64,
    /// Lower-case domain name.
    pub name: String,
}

/// What deleting a domain deleted with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainDeleted {
    /// Its users' addresses (only with `force`).
    pub users: Vec<String>,
    /// Its aliases' sources, the catch-all included.
    pub aliases: Vec<String>,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Row id; stable for the account's life.
    pub id: i64,
    /// Lower-case address.
    pub address: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// An alias: `source` (an address, or `@domain` for catch-all) delivers to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// `sales@example.org` or `@example.org`.
    pub source: String,
    /// The account's address.
    pub target: String,
}

/// A mailbox (IMAP folder) of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Row id.
    pub id: i64,
    /// Owning account.
    pub account_id: i64,
    /// UTF-8 name, `/`-separated hierarchy; `INBOX` is always upper-case.
    pub name: String,
    /// RFC 6154 attribute such as `\Sent`.
    pub special_use: Option<String>,
    /// IMAP UIDVALIDITY.
    pub uidvalidity: u32,
    /// The UID the next message will get.
    pub uidnext: u32,
    /// CONDSTORE HIGHESTMODSEQ.
    pub highestmodseq: u64,
    /// LSUB / LIST (SUBSCRIBED) state.
    pub subscribed: bool,
}

/// One message as entered in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEntry {
    /// IMAP UID.
    pub uid: u32,
    /// Modification sequence of the last change.
    pub modseq: u64,
    /// Flags and keywords.
    pub flags: Vec<String>,
    /// Address of the bytes.
    pub hash: Hash,
    /// RFC822.SIZE.
    pub size: u64,
    /// INTERNALDATE, unix seconds.
    pub internal_date: i64,
}

/// What [`crate::Mailboxes::mailbox_changes`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxChanges {
    /// The mailbox's highest mod-sequence when read.
    pub highestmodseq: u64,
    /// Live messages added or changed since, by UID.
    pub changed: Vec<MessageEntry>,
    /// UIDs expunged since, ascending.
    pub expunged: Vec<u32>,
}

/// The result of [`crate::Directory::lookup_recipient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The domain is not one of ours.
    NotOurDomain,
    /// The account mail for this recipient goes to.
    Found(Account),
    /// Our domain, but no such address.
    NotFound,
}

/// Where a delivered message was entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Account that received it.
    pub account_id: i64,
    /// Mailbox it was entered in.
    pub mailbox_id: i64,
    /// Its UID there.
    pub uid: u32,
}

/// The mailboxes a new account starts with, and their special-use attributes.
pub const DEFAULT_MAILBOXES: &[(&str, Option<&str>)] = &[
    ("INBOX", None),
    ("Drafts", Some("\\Drafts")),
    ("Sent", Some("\\Sent")),
    ("Trash", Some("\\Trash")),
    ("Junk", Some("\\Junk")),
    ("Archive", Some("\\Archive")),
];

/// One live app password (its secret is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPassword {
    /// The device or purpose it was made for.
    pub name: String,
    /// SHA-256 of the secret.
    pub hash: Vec<u8>,
    /// `imap`, `smtp` or `imap smtp`.
    pub scope: String,
    /// When it was made (unix seconds).
    pub created_at: i64,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagMode {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

/// A message whose flags a STORE changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    /// The message.
    pub uid: u32,
    /// Its new modseq.
    pub modseq: u64,
    /// Its flags now.
    pub flags: Vec<String>,
}

/// Where APPEND, COPY or MOVE put messages (for UIDPLUS responses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// UIDVALIDITY of the destination.
    pub uidvalidity: u32,
    /// `(source uid, new uid)` pairs; for APPEND the source uid is 0.
    pub uids: Vec<(u32, u32)>,
    /// The destination mailbox.
    pub mailbox_id: i64,
}

/// A message to queue for remote recipients, stored with the same transaction as its local
/// copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbound {
    /// Shown to the client in `250 … queued as <id>` and to the admin.
    pub queue_id: String,
    /// The submitting account (none for DSNs the server generates).
    pub account_id: Option<i64>,
    /// Envelope sender; empty for the null sender.
    pub sender: String,
    /// Remote recipients, each `local@domain`.
    pub recipients: Vec<String>,
    /// The message needs SMTPUTF8.
    pub smtputf8: bool,
    /// The message is 8-bit MIME.
    pub body_8bit: bool,
    /// REQUIRETLS (RFC 8689) was requested.
    pub requiretls: bool,
}

/// One recipient handed to a worker by [`crate::Queue::queue_claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The recipient row.
    pub rcpt_id: i64,
    /// Queue id of the message.
    pub queue_id: String,
    /// Submitting account.
    pub account_id: Option<i64>,
    /// Envelope sender.
    pub sender: String,
    /// Recipient address.
    pub address: String,
    /// Its domain (lower case).
    pub domain: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The message body.
    pub blob: Hash,
    /// When the message was queued (unix seconds).
    pub created_at: i64,
    /// Flags of the message.
    pub smtputf8: bool,
    /// 8-bit MIME.
    pub body_8bit: bool,
    /// REQUIRETLS.
    pub requiretls: bool,
    /// A delay warning was already sent.
    pub warned: bool,
}

/// What an attempt did for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The peer accepted it.
    Sent {
        /// The peer's reply.
        reply: String,
    },
    /// A temporary failure: try again at `next_attempt`.
    Deferred {
        /// Why.
        error: String,
        /// Unix seconds.
        next_attempt: i64,
        /// A delay warning was sent with this outcome.
        warned: bool,
    },
    /// A permanent failure or expiry: no more attempts (the bounce is the caller's).
    Failed {
        /// Why.
        error: String,
    },
}

/// One recipient of a queue entry, for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRcpt {
    /// Recipient address.
    pub address: String,
    /// `queued`, `sent`, `failed` or `dropped`.
    pub state: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Next attempt (unix seconds) while queued.
    pub next_attempt: i64,
    /// The last reply or error.
    pub last_error: Option<String>,
}

/// A queue entry, for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// Queue id.
    pub queue_id: String,
    /// Envelope sender.
    pub sender: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was queued (unix seconds).
    pub created_at: i64,
    /// Its body.
    pub blob: Hash,
    /// Every recipient.
    pub recipients: Vec<QueueRcpt>,
}

/// Who is acting on the store (recorded in every leaf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// System, account, admin or remote peer.
    pub kind: ActorKind,
    /// Account address, admin name, peer host name.
    pub name: String,
    /// Client IP address, if any.
    pub origin: String,
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size it covers.
    pub size: u64,
    /// Root hash it claims.
    pub root: Hash,
    /// When it was made.
    pub time: i64,
    /// The signed note.
    pub note: String,
}

/// One leaf as stored, for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLeaf {
    /// Its index.
    pub idx: u64,
    /// The leaf bytes.
    pub leaf: Vec<u8>,
    /// The level-0 node stored for it (the leaf hash as it was appended).
    pub node: Option<Hash>,
}

/// A mailbox entry as stored, for checking it against the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    /// Mailbox id.
    pub mailbox_id: i64,
    /// Owner's address.
    pub account: String,
    /// Mailbox name now.
    pub mailbox: String,
    /// UID.
    pub uid: u32,
    /// SHA-256 of the bytes.
    pub blob: Hash,
    /// When it was expunged, if it was.
    pub expunged_at: Option<i64>,
    /// IMAP INTERNALDATE (arrival), unix seconds.
    pub internal_date: i64,
    /// Size in bytes.
    pub size: u64,
}

impl Actor {
    /// The server itself (queue, delivery notifications, purge on schedule).
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            name: String::new(),
            origin: String::new(),
        }
    }

    /// The administrator `name` (the CLI passes the login that ran it).
    pub fn admin(name: &str) -> Actor {
        Actor {
            kind: ActorKind::Admin,
            name: name.to_owned(),
            origin: String::new(),
        }
    }

    /// A logged-in account.
    pub fn account(address: &str, origin: &str) -> Actor {
        Actor {
            kind: ActorKind::Account,
            name: address.to_owned(),
            origin: origin.to_owned(),
        }
    }

    /// Another server, by its EHLO name.
    pub fn peer(helo: &str, origin: &str) -> Actor {
        Actor {
            kind: ActorKind::Peer,
            name: helo.to_owned(),
            origin: origin.to_owned(),
        }
    }
}

/// A legal hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Its id.
    pub id: i64,
    /// The account it covers; `None` for every account.
    pub account: Option<String>,
    /// Discovery query narrowing it; empty for everything.
    pub query: String,
    /// Why.
    pub reason: String,
    /// When it was set.
    pub created_at: i64,
    /// By whom.
    pub created_by: String,
    /// When it was released, if it was.
    pub released_at: Option<i64>,
}

/// One failed login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// When, in Unix seconds.
    pub at: i64,
    /// The client address as the throttle counts it (an IPv4 address or an IPv6 /64).
    pub ip: String,
    /// The login name, normalised as the throttle counts it.
    pub name: String,
    /// `smtp` or `imap`.
    pub protocol: String,
}

/// One body in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FedBlob {
    /// Its sequence number (the `blobs` rowid).
    pub seq: u64,
    /// Its address.
    pub hash: Hash,
    /// Its size in bytes.
    pub length: u64,
}

/// What one committed change did ([`Change::kind`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Messages entered the mailbox (delivery, APPEND, import, COPY, MOVE's target).
    Added {
        /// Their UIDs, ascending.
        uids: Vec<u32>,
    },
    /// Flags or keywords of messages changed.
    Flags {
        /// Their UIDs, ascending.
        uids: Vec<u32>,
    },
    /// Messages left the mailbox's view (EXPUNGE, MOVE's source, the mailbox's deletion).
    Expunged {
        /// Their UIDs, ascending.
        uids: Vec<u32>,
    },
    /// The mailbox was created.
    MailboxCreated {
        /// Its name.
        name: String,
    },
    /// The mailbox was renamed.
    MailboxRenamed {
        /// The name it had.
        from: String,
        /// The name it has.
        to: String,
    },
    /// The mailbox was deleted.
    MailboxDeleted {
        /// The name it had.
        name: String,
    },
    /// The account was deleted (`mailbox_id` is 0).
    AccountDeleted,
}

/// One committed change, as the change feed carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its place in the feed: strictly ascending in commit order.
    pub seq: u64,
    /// The account it concerns.
    pub account_id: i64,
    /// The mailbox it concerns (0 for account changes).
    pub mailbox_id: i64,
    /// The mailbox's highest MODSEQ once the change committed (0 for account changes).
    pub modseq: u64,
    /// What it did.
    pub kind: ChangeKind,
}

/// A stretch of the change feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFeed {
    /// The changes after the position asked for, in commit order.
    pub changes: Vec<Change>,
    /// The position to ask from next time.
    pub next: u64,
    /// Changes after the position asked for are no longer kept: a follower must resync each
    /// mailbox it shows from the MODSEQ it saw ([`crate::Mailboxes::mailbox_changes`]).
    pub gap: bool,
}

/// Writes ascending UIDs as an IMAP sequence set (`1:5,7`): a STORE over a whole mailbox is
/// a few bytes in the feed, not one row per message.
pub fn encode_uids(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Reads what [`encode_uids`] wrote; anything malformed is skipped.
pub fn decode_uids(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once(':') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_round_trip() {
        for uids in [vec![], vec![1], vec![1, 2, 3, 7, 9, 10], vec![4, 6, 8]] {
            assert_eq!(decode_uids(&encode_uids(&uids)), uids);
        }
        assert_eq!(encode_uids(&(1..=100_000).collect::<Vec<_>>()), "1:100000");
    }
}

/// Where one local copy of a delivered message goes, and how it is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The receiving account.
    pub account_id: i64,
    /// Its mailbox.
    pub mailbox: String,
    /// Flags and keywords the copy starts with.
    pub flags: Vec<String>,
}

impl Target {
    /// A copy in the account's INBOX, unflagged.
    pub fn inbox(account_id: i64) -> Target {
        Target {
            account_id,
            mailbox: "INBOX".into(),
            flags: Vec::new(),
        }
    }
}

/// Which mailbox entries discovery asks for ([`crate::Journal::entries`]): conditions the
/// backend answers with its indexes, so that a search costs what its candidates cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only this account's (its address, compared without regard to case).
    pub account: Option<String>,
    /// Only mailboxes of this name.
    pub mailbox: Option<String>,
    /// Arrived at or after (Unix seconds).
    pub since: Option<i64>,
    /// Arrived before (Unix seconds).
    pub before: Option<i64>,
    /// Only expunged entries (`true`) or only live ones (`false`).
    pub deleted: Option<bool>,
    /// Only entries of these bodies.
    pub blobs: Option<Vec<Hash>>,
}

/// An MTA-STS policy as fetched (RFC 8461), kept so that every node and every restart keeps
/// trusting what was seen (the policy protects against a later downgrade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicy {
    /// The `id` of the `_mta-sts` record it was fetched under.
    pub id: String,
    /// The policy file's text.
    pub text: String,
    /// When it stops applying (Unix seconds): fetched time plus its `max_age`.
    pub expires_at: i64,
}
