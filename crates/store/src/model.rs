//! Plain data types the store hands out.

pub use crate::segments::Hash;
pub use crate::writer::OpenOptions;

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

/// What [`crate::Store::mailbox_changes`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxChanges {
    /// The mailbox's highest mod-sequence when read.
    pub highestmodseq: u64,
    /// Live messages added or changed since, by UID.
    pub changed: Vec<MessageEntry>,
    /// UIDs expunged since, ascending.
    pub expunged: Vec<u32>,
}

/// The result of [`crate::Store::lookup_recipient`].
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
