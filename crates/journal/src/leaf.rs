//! The journal's leaves: one event each, in a canonical, versioned binary encoding.
//!
//! # Encoding, version 1
//! All integers are big-endian; a *string* is a u32 byte length followed by UTF-8 bytes; an
//! *optional* field is a byte 0 (absent) or 1 followed by the value.
//!
//! | field | encoding |
//! |---|---|
//! | version | u8 = 1 |
//! | kind | u8, see [`Kind`] |
//! | time | i64, unix seconds |
//! | actor kind | u8: 0 system, 1 account, 2 admin, 3 remote peer |
//! | actor | string (address, admin name, peer host; empty for system) |
//! | origin | string (IP address of the client, empty if none) |
//! | account | string (the mailbox owner's address, or empty) |
//! | mailbox | string (mailbox name at the time, or empty) |
//! | mailbox id | i64 (the store's permanent id of the mailbox; 0 if none) |
//! | uid | u32 (0 if none) |
//! | mail from | string (envelope sender, empty for `<>` or none) |
//! | recipients | u32 count, then that many strings (every envelope recipient, Bcc included) |
//! | commitment | optional 32 bytes: HMAC-SHA256(message secret, SHA-256(message bytes)) |
//! | detail | string (free text: reason, query, hold id, error) |
//!
//! The commitment binds the leaf to the exact bytes without revealing them: it can only be
//! checked by someone holding the message's secret. Purging a message deletes its bytes and
//! its secret (crypto-shredding); the leaf, and every proof through it, stays valid, while no
//! one holding the log can confirm a guess of what the deleted message said.

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Received over SMTP and stored in a mailbox.
    Delivered = 1,
    /// Stored by IMAP APPEND or import.
    Appended = 2,
    /// Accepted from an authenticated sender for delivery elsewhere.
    Submitted = 3,
    /// Accepted by the remote server for one recipient.
    Sent = 4,
    /// Given up for one recipient; the sender was notified.
    Bounced = 5,
    /// Copied into a mailbox.
    Copied = 6,
    /// Moved into a mailbox (the source entry's removal is its own `Expunged` leaf).
    Moved = 7,
    /// Removed from a mailbox's view; the bytes stay.
    Expunged = 8,
    /// Bytes and secret deleted past retention.
    Purged = 9,
    /// An account was created.
    AccountCreated = 10,
    /// An account was deleted.
    AccountDeleted = 11,
    /// An alias was created.
    AliasCreated = 12,
    /// A domain was created.
    DomainCreated = 13,
    /// A legal hold was set.
    HoldSet = 14,
    /// A legal hold was released.
    HoldReleased = 15,
    /// The retention period changed.
    RetentionChanged = 16,
    /// Messages were exported.
    Exported = 17,
    /// A login (success or failure) or an admin command worth auditing.
    Audit = 18,
    /// A queued message was dropped by the administrator.
    Dropped = 19,
    /// An alias was deleted.
    AliasDeleted = 20,
    /// A domain was deleted.
    DomainDeleted = 21,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        use Kind::*;
        Some(match v {
            1 => Delivered,
            2 => Appended,
            3 => Submitted,
            4 => Sent,
            5 => Bounced,
            6 => Copied,
            7 => Moved,
            8 => Expunged,
            9 => Purged,
            10 => AccountCreated,
            11 => AccountDeleted,
            12 => AliasCreated,
            13 => DomainCreated,
            14 => HoldSet,
            15 => HoldReleased,
            16 => RetentionChanged,
            17 => Exported,
            18 => Audit,
            19 => Dropped,
            20 => AliasDeleted,
            21 => DomainDeleted,
            _ => return None,
        })
    }

    /// Lower-case name, as reports print it.
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            Delivered => "delivered",
            Appended => "appended",
            Submitted => "submitted",
            Sent => "sent",
            Bounced => "bounced",
            Copied => "copied",
            Moved => "moved",
            Expunged => "expunged",
            Purged => "purged",
            AccountCreated => "account-created",
            AccountDeleted => "account-deleted",
            AliasCreated => "alias-created",
            DomainCreated => "domain-created",
            HoldSet => "hold-set",
            HoldReleased => "hold-released",
            RetentionChanged => "retention-changed",
            Exported => "exported",
            Audit => "audit",
            Dropped => "dropped",
            AliasDeleted => "alias-deleted",
            DomainDeleted => "domain-deleted",
        }
    }

    /// Kinds that put a message into a mailbox (the entry must exist until expunged).
    pub fn places_message(self) -> bool {
        matches!(
            self,
            Kind::Delivered | Kind::Appended | Kind::Copied | Kind::Moved
        )
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ActorKind {
    /// The server itself (delivery, queue, purge on schedule).
    System = 0,
    /// A logged-in account.
    Account = 1,
    /// The administrator (CLI).
    Admin = 2,
    /// Another server (SMTP peer).
    Peer = 3,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// What happened.
    pub kind: Option<Kind>,
    /// Unix seconds.
    pub time: i64,
    /// Who acted.
    pub actor_kind: Option<ActorKind>,
    /// Their name.
    pub actor: String,
    /// Client IP, if any.
    pub origin: String,
    /// The mailbox owner.
    pub account: String,
    /// Mailbox name.
    pub mailbox: String,
    /// The store's id of the mailbox (names change with RENAME; ids do not).
    pub mailbox_id: i64,
    /// UID in the mailbox.
    pub uid: u32,
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients, Bcc included.
    pub recipients: Vec<String>,
    /// HMAC-SHA256(secret, SHA-256(bytes)) of the message.
    pub commitment: Option<[u8; 32]>,
    /// Free text.
    pub detail: String,
}

/// The encoding version this code writes.
pub const VERSION: u8 = 1;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Event {
    /// The canonical bytes (the Merkle leaf).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(VERSION);
        out.push(self.kind.map_or(0, |k| k as u8));
        out.extend_from_slice(&self.time.to_be_bytes());
        out.push(self.actor_kind.map_or(0, |k| k as u8));
        put_str(&mut out, &self.actor);
        put_str(&mut out, &self.origin);
        put_str(&mut out, &self.account);
        put_str(&mut out, &self.mailbox);
        out.extend_from_slice(&self.mailbox_id.to_be_bytes());
        out.extend_from_slice(&self.uid.to_be_bytes());
        put_str(&mut out, &self.mail_from);
        out.extend_from_slice(&(self.recipients.len() as u32).to_be_bytes());
        for r in &self.recipients {
            put_str(&mut out, r);
        }
        match &self.commitment {
            Some(c) => {
                out.push(1);
                out.extend_from_slice(c);
            }
            None => out.push(0),
        }
        put_str(&mut out, &self.detail);
        out
    }

    /// Decodes a leaf; `None` unless it is exactly one well-formed version-1 event.
    pub fn decode(bytes: &[u8]) -> Option<Event> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return None;
        }
        let kind = Some(Kind::from_u8(r.u8()?)?);
        let time = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let actor_kind = Some(match r.u8()? {
            0 => ActorKind::System,
            1 => ActorKind::Account,
            2 => ActorKind::Admin,
            3 => ActorKind::Peer,
            _ => return None,
        });
        let actor = r.string()?;
        let origin = r.string()?;
        let account = r.string()?;
        let mailbox = r.string()?;
        let mailbox_id = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let uid = r.u32()?;
        let mail_from = r.string()?;
        let n = r.u32()?;
        let mut recipients = Vec::new();
        for _ in 0..n {
            recipients.push(r.string()?);
        }
        let commitment = match r.u8()? {
            0 => None,
            1 => Some(r.take(32)?.try_into().ok()?),
            _ => return None,
        };
        let detail = r.string()?;
        if !r.0.is_empty() {
            return None;
        }
        Some(Event {
            kind,
            time,
            actor_kind,
            actor,
            origin,
            account,
            mailbox,
            mailbox_id,
            uid,
            mail_from,
            recipients,
            commitment,
            detail,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.u32()?).ok()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// The commitment to a message: HMAC-SHA256 (RFC 2104) keyed with its secret, over the
/// SHA-256 of its bytes (the store's address of the bytes, so committing needs no re-read).
pub fn commitment(secret: &[u8; 32], message_sha256: &[u8; 32]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, message_sha256);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}
