//! Parsed command types.

use std::fmt;

use crate::mutf7;
use crate::sequence::SequenceSet;

/// A complete parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag, echoed in the tagged response.
    pub tag: String,
    /// What the command asks for.
    pub body: CommandBody,
}

/// The commands this codec parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `STARTTLS`
    StartTls,
    /// `LOGIN userid password`
    Login {
        /// User name (astring, UTF-8).
        username: String,
        /// Password; its `Debug` output is redacted.
        password: Secret,
    },
    /// `AUTHENTICATE mechanism [initial-response]` (SASL-IR).
    Authenticate {
        /// Mechanism name, upper-cased.
        mechanism: String,
        /// The initial response as sent: base64 text, or `=` for empty.
        initial_response: Option<String>,
    },
    /// `ENABLE cap...` (capability names as sent).
    Enable(Vec<String>),
    /// `SELECT mailbox [(CONDSTORE)]` or `SELECT mailbox [(QRESYNC (...))]`
    /// (RFC 7162).
    Select {
        /// The mailbox.
        mailbox: MailboxName,
        /// Whether the CONDSTORE select parameter was given.
        condstore: bool,
        /// The QRESYNC select parameter (RFC 7162 §3.2.5). It implies
        /// CONDSTORE; the caller must refuse it (tagged `BAD`) unless the
        /// client has done `ENABLE QRESYNC`.
        qresync: Option<QresyncParams>,
    },
    /// `EXAMINE mailbox [(CONDSTORE)]` or `EXAMINE mailbox [(QRESYNC
    /// (...))]`; parameters as for [`CommandBody::Select`].
    Examine {
        /// The mailbox.
        mailbox: MailboxName,
        /// Whether the CONDSTORE select parameter was given.
        condstore: bool,
        /// The QRESYNC select parameter (RFC 7162 §3.2.5); see
        /// [`CommandBody::Select`].
        qresync: Option<QresyncParams>,
    },
    /// `LIST [(selection)] reference pattern [RETURN (options)]` (RFC 9051,
    /// with LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819 and SPECIAL-USE RFC
    /// 6154). The reference and patterns are UTF-8 (modified UTF-7 decoded
    /// unless UTF-8 was enabled); patterns keep `*` and `%`.
    ///
    /// The basic form `LIST reference pattern` gives empty `selection` and
    /// `returns` and a one-element `patterns`.
    List {
        /// Reference name.
        reference: String,
        /// The first mailbox pattern (the only one in the basic form).
        pattern: String,
        /// The selection options (`LIST (SUBSCRIBED ...) ...`), without
        /// duplicates, in request order; empty when none were given.
        /// `RECURSIVEMATCH` only occurs together with `SUBSCRIBED` or
        /// `SPECIAL-USE` (the parser refuses it otherwise, RFC 5258 §3.1).
        selection: Vec<ListSelection>,
        /// All mailbox patterns, at least one: `pattern` alone, or every
        /// pattern of the `(p1 p2 ...)` form (at most
        /// [`crate::parse::MAX_LIST_PATTERNS`]).
        patterns: Vec<String>,
        /// The return options (`RETURN (CHILDREN ...)`), without duplicates,
        /// in request order; empty when none were given. At most one
        /// [`ListReturn::Status`].
        returns: Vec<ListReturn>,
    },
    /// `STATUS mailbox (items)`
    Status {
        /// The mailbox.
        mailbox: MailboxName,
        /// Requested items, in request order.
        items: Vec<StatusItem>,
    },
    /// `FETCH set items` or `UID FETCH set items`.
    Fetch {
        /// Whether this was `UID FETCH` (the set holds UIDs).
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// Requested items in request order, macros (ALL/FAST/FULL) expanded.
        /// For `UID FETCH` the caller adds [`FetchItem::Uid`] if missing.
        items: Vec<FetchItem>,
        /// The `(CHANGEDSINCE n)` modifier (CONDSTORE, RFC 7162 §3.1.4):
        /// only messages whose mod-sequence is above `n` are returned, and
        /// the caller adds [`FetchItem::Modseq`] to the items. Never 0.
        changed_since: Option<u64>,
        /// The `VANISHED` modifier (QRESYNC, RFC 7162 §3.2.6): also report
        /// the UIDs in the set expunged since `changed_since` with a
        /// `VANISHED (EARLIER)` response. Only set for `UID FETCH` together
        /// with `changed_since` (the parser refuses anything else); the
        /// caller must refuse it unless QRESYNC was enabled.
        vanished: bool,
    },
    /// `CLOSE`
    Close,
    /// `UNSELECT`
    Unselect,
    /// `CHECK` (rev1 only; treated as NOOP)
    Check,
    /// `ID (field value ...)` or `ID NIL` (RFC 2971).
    Id(Option<IdParams>),
    /// `CREATE mailbox`
    Create {
        /// The mailbox to create.
        mailbox: MailboxName,
    },
    /// `DELETE mailbox`
    Delete {
        /// The mailbox to delete.
        mailbox: MailboxName,
    },
    /// `RENAME from to`
    Rename {
        /// The existing mailbox.
        from: MailboxName,
        /// Its new name.
        to: MailboxName,
    },
    /// `SUBSCRIBE mailbox`
    Subscribe {
        /// The mailbox.
        mailbox: MailboxName,
    },
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe {
        /// The mailbox.
        mailbox: MailboxName,
    },
    /// `LSUB reference pattern` (rev1 only); arguments as for
    /// [`CommandBody::List`].
    Lsub {
        /// Reference name.
        reference: String,
        /// Mailbox pattern with wildcards.
        pattern: String,
    },
    /// `NAMESPACE` (RFC 2342)
    Namespace,
    /// `APPEND mailbox [(flags)] ["date-time"] literal`
    Append {
        /// The target mailbox.
        mailbox: MailboxName,
        /// Flags to set, system flags normalised (`\Seen`), keywords as
        /// sent; see [`CommandBody::Store`] for what is accepted.
        flags: Vec<String>,
        /// The internal date as a unix timestamp, if given.
        date: Option<i64>,
        /// The message octets.
        message: Vec<u8>,
        /// Whether the message was sent as a `literal8` (`~{n}`, RFC 3516),
        /// so it may hold NUL and unencoded binary content. In a plain
        /// literal NUL is refused by the parser.
        binary: bool,
    },
    /// `IDLE` (RFC 2177). After answering `+ idling`, the runtime reads lines
    /// with [`crate::Framer::next_line`] until
    /// [`crate::parse::is_done_line`] says one is `DONE`.
    Idle,
    /// `STORE set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] flags` or
    /// `UID STORE ...`.
    ///
    /// Flags are the system flags `\Seen \Answered \Flagged \Deleted
    /// \Draft` (any case on the wire, normalised to this capitalisation) and
    /// keywords (atoms, as sent). `\Recent` and other `\`-flags are refused.
    Store {
        /// Whether this was `UID STORE` (the set holds UIDs).
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// Replace, add or remove.
        action: StoreAction,
        /// `.SILENT`: no untagged FETCH responses for the new flags.
        silent: bool,
        /// The flags (may be empty: `FLAGS ()` clears all flags).
        flags: Vec<String>,
        /// The `(UNCHANGEDSINCE n)` modifier (CONDSTORE, RFC 7162 §3.1.3);
        /// `0` is allowed.
        unchanged_since: Option<u64>,
    },
    /// `COPY set mailbox` or `UID COPY set mailbox`.
    Copy {
        /// Whether this was `UID COPY`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The target mailbox.
        mailbox: MailboxName,
    },
    /// `MOVE set mailbox` or `UID MOVE set mailbox` (RFC 6851).
    Move {
        /// Whether this was `UID MOVE`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The target mailbox.
        mailbox: MailboxName,
    },
    /// `EXPUNGE`
    Expunge,
    /// `UID EXPUNGE set` (UIDPLUS, RFC 4315): expunge only the `\Deleted`
    /// messages among these UIDs.
    UidExpunge {
        /// The UIDs.
        set: SequenceSet,
    },
    /// `SEARCH [RETURN (...)] [CHARSET c] keys` or `UID SEARCH ...`.
    ///
    /// Only the charsets `UTF-8` and `US-ASCII` are accepted (others give a
    /// [`crate::ParseError`] with a `BADCHARSET` code), so every string in
    /// the keys is UTF-8.
    Search {
        /// Whether this was `UID SEARCH` (results are UIDs).
        uid: bool,
        /// The `RETURN` options (ESEARCH, RFC 4731 / RFC 9051). `None` when
        /// no `RETURN` was given (answer with `* SEARCH` in rev1, `* ESEARCH
        /// ... ALL` in rev2). An empty `RETURN ()` is returned as
        /// `[SearchReturn::All]`; duplicates are removed.
        ret: Option<Vec<SearchReturn>>,
        /// The criteria; several top-level keys are combined in a
        /// [`SearchKey::And`].
        key: SearchKey,
    },
    /// `SORT (criteria) charset keys` or `UID SORT ...` (RFC 5256).
    ///
    /// The charset is checked as for [`CommandBody::Search`] (only UTF-8 and
    /// US-ASCII), so every string in the keys is UTF-8.
    Sort {
        /// Whether this was `UID SORT` (results are UIDs).
        uid: bool,
        /// The sort criteria in priority order (at least one).
        criteria: Vec<SortCriterion>,
        /// The search criteria, as for [`CommandBody::Search`].
        key: SearchKey,
    },
    /// `THREAD algorithm charset keys` or `UID THREAD ...` (RFC 5256);
    /// charset and keys as for [`CommandBody::Sort`].
    Thread {
        /// Whether this was `UID THREAD` (results are UIDs).
        uid: bool,
        /// The threading algorithm.
        algorithm: ThreadAlgorithm,
        /// The search criteria, as for [`CommandBody::Search`].
        key: SearchKey,
    },
    /// `GETQUOTA quota-root` (RFC 9208 §4.2).
    GetQuota {
        /// The quota root name as sent (UTF-8; not a mailbox name, so not
        /// modified-UTF-7 decoded). Often empty.
        root: String,
    },
    /// `GETQUOTAROOT mailbox` (RFC 9208 §4.3).
    GetQuotaRoot {
        /// The mailbox whose quota roots are asked for.
        mailbox: MailboxName,
    },
    /// `SETQUOTA quota-root (resource limit ...)` (RFC 9208 §4.1). Parsed so
    /// it can be refused properly; an empty list asks to remove all limits.
    SetQuota {
        /// The quota root name, as for [`CommandBody::GetQuota`].
        root: String,
        /// The resources and their new limits, in request order; each
        /// resource at most once.
        limits: Vec<(QuotaResource, u64)>,
    },
    /// `COMPRESS mechanism` (RFC 4978). Only `DEFLATE` is defined; others are
    /// parsed and left to the caller to refuse.
    Compress {
        /// The mechanism name, upper-cased.
        mechanism: String,
    },
}

/// The QRESYNC select parameter: `(QRESYNC (uidvalidity modseq [known-uids]
/// [(known-sequence-set known-uid-set)]))` (RFC 7162 §3.2.5).
///
/// The parser guarantees that no set holds `*` and that the two sets of
/// `seq_match` name the same number of messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    /// The UIDVALIDITY the client's cache belongs to (non-zero).
    pub uidvalidity: u32,
    /// The last mod-sequence the client knows of (non-zero).
    pub modseq: u64,
    /// The UIDs the client knows (`known-uids`); `None` means all UIDs.
    pub known_uids: Option<SequenceSet>,
    /// Message sequence numbers and the UIDs the client believes they have
    /// (`seq-match-data`), matched by position in the order written.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// A LIST selection option (RFC 5258 §3.1, RFC 6154 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSelection {
    /// `SUBSCRIBED`: only subscribed mailboxes (existing or not).
    Subscribed,
    /// `REMOTE`: also remote mailboxes.
    Remote,
    /// `RECURSIVEMATCH`: also list parents of matching mailboxes, with
    /// `CHILDINFO` extended data.
    RecursiveMatch,
    /// `SPECIAL-USE`: only mailboxes with a special-use attribute.
    SpecialUse,
}

impl ListSelection {
    /// The option name as sent on the wire (also the `CHILDINFO` value).
    pub fn as_str(self) -> &'static str {
        match self {
            ListSelection::Subscribed => "SUBSCRIBED",
            ListSelection::Remote => "REMOTE",
            ListSelection::RecursiveMatch => "RECURSIVEMATCH",
            ListSelection::SpecialUse => "SPECIAL-USE",
        }
    }
}

/// A LIST return option (RFC 5258 §3.2, RFC 5819, RFC 6154 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturn {
    /// `SUBSCRIBED`: add `\Subscribed` to subscribed mailboxes.
    Subscribed,
    /// `CHILDREN`: add `\HasChildren` / `\HasNoChildren`.
    Children,
    /// `SPECIAL-USE`: add the special-use attributes.
    SpecialUse,
    /// `STATUS (items)` (LIST-STATUS): send a STATUS response with these
    /// items (non-empty, in request order) after each selectable mailbox's
    /// LIST response.
    Status(Vec<StatusItem>),
}

/// A SORT key (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `ARRIVAL`: internal date.
    Arrival,
    /// `CC`: first Cc address's mailbox (local part).
    Cc,
    /// `DATE`: the Date: header (internal date when missing or invalid).
    Date,
    /// `FROM`: first From address's mailbox (local part).
    From,
    /// `SIZE`: RFC822.SIZE.
    Size,
    /// `SUBJECT`: base subject.
    Subject,
    /// `TO`: first To address's mailbox (local part).
    To,
}

impl SortKey {
    /// The key name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Arrival => "ARRIVAL",
            SortKey::Cc => "CC",
            SortKey::Date => "DATE",
            SortKey::From => "FROM",
            SortKey::Size => "SIZE",
            SortKey::Subject => "SUBJECT",
            SortKey::To => "TO",
        }
    }
}

/// One SORT criterion: a key, optionally reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// `REVERSE` was given: sort this key in descending order.
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

/// A THREAD algorithm (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// `ORDEREDSUBJECT`
    OrderedSubject,
    /// `REFERENCES`
    References,
}

impl ThreadAlgorithm {
    /// The algorithm name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadAlgorithm::OrderedSubject => "ORDEREDSUBJECT",
            ThreadAlgorithm::References => "REFERENCES",
        }
    }
}

/// A quota resource (RFC 9208 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaResource {
    /// `STORAGE`: total message size, in units of 1024 octets.
    Storage,
    /// `MESSAGE`: number of messages.
    Message,
    /// `MAILBOX`: number of mailboxes.
    Mailbox,
    /// `ANNOTATION-STORAGE`: size of annotations, in units of 1024 octets.
    AnnotationStorage,
    /// Any other resource name (an atom), upper-cased.
    Other(String),
}

impl QuotaResource {
    /// The resource name as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            QuotaResource::Storage => "STORAGE",
            QuotaResource::Message => "MESSAGE",
            QuotaResource::Mailbox => "MAILBOX",
            QuotaResource::AnnotationStorage => "ANNOTATION-STORAGE",
            QuotaResource::Other(name) => name,
        }
    }
}

/// How STORE changes the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// `FLAGS`: replace the flags.
    Replace,
    /// `+FLAGS`: add the flags.
    Add,
    /// `-FLAGS`: remove the flags.
    Remove,
}

/// A SEARCH result option (`RETURN (...)`, RFC 4731 and RFC 5182).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    /// `MIN`: the lowest matching number.
    Min,
    /// `MAX`: the highest matching number.
    Max,
    /// `COUNT`: the number of matches.
    Count,
    /// `ALL`: all matches, as a sequence set.
    All,
    /// `SAVE`: remember the result for `$` (SEARCHRES).
    Save,
}

/// A SEARCH criterion (RFC 9051 `search-key`, plus the rev1 keys and
/// CONDSTORE's `MODSEQ`).
///
/// Dates are days since 1970-01-01 (compare with `timestamp.div_euclid(86400)`
/// after applying the relevant time zone; RFC 9051 says to disregard time and
/// zone). Strings are UTF-8 and match as case-insensitive substrings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// All of these (a parenthesised list, or several keys in a row).
    And(Vec<SearchKey>),
    /// `ALL`
    All,
    /// `ANSWERED`
    Answered,
    /// `BCC string`
    Bcc(String),
    /// `BEFORE date`: internal date earlier than the day.
    Before(i64),
    /// `BODY string`
    Body(String),
    /// `CC string`
    Cc(String),
    /// `DELETED`
    Deleted,
    /// `DRAFT`
    Draft,
    /// `FLAGGED`
    Flagged,
    /// `FROM string`
    From(String),
    /// `HEADER field-name string` (an empty string matches any message with
    /// the field).
    Header(String, String),
    /// `KEYWORD flag-keyword`
    Keyword(String),
    /// `LARGER n`: RFC822.SIZE above n.
    Larger(u64),
    /// `NEW` (rev1): RECENT and UNSEEN.
    New,
    /// `NOT key`
    Not(Box<SearchKey>),
    /// `OLD` (rev1): not RECENT.
    Old,
    /// `ON date`: internal date within the day.
    On(i64),
    /// `OR key1 key2`
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `RECENT` (rev1)
    Recent,
    /// `SEEN`
    Seen,
    /// `SENTBEFORE date`: Date: header earlier than the day.
    SentBefore(i64),
    /// `SENTON date`
    SentOn(i64),
    /// `SENTSINCE date`: Date: header within or after the day.
    SentSince(i64),
    /// `SINCE date`: internal date within or after the day.
    Since(i64),
    /// `SMALLER n`: RFC822.SIZE below n.
    Smaller(u64),
    /// `SUBJECT string`
    Subject(String),
    /// `TEXT string` (header or body)
    Text(String),
    /// `TO string`
    To(String),
    /// `UID set`
    Uid(SequenceSet),
    /// `UNANSWERED`
    Unanswered,
    /// `UNDELETED`
    Undeleted,
    /// `UNDRAFT`
    Undraft,
    /// `UNFLAGGED`
    Unflagged,
    /// `UNKEYWORD flag-keyword`
    Unkeyword(String),
    /// `UNSEEN`
    Unseen,
    /// A bare sequence set (message sequence numbers).
    SequenceSet(SequenceSet),
    /// `$` (or `UID $`): the messages of the saved search result (SEARCHRES,
    /// RFC 5182); empty when nothing was saved.
    Saved,
    /// `MODSEQ [entry type] n` (CONDSTORE): mod-sequence at least n. The
    /// optional per-flag entry name and type are accepted and ignored, as
    /// RFC 7162 allows for servers without per-flag mod-sequences.
    Modseq(u64),
}

/// ID command parameters: field names with optional values (RFC 2971).
pub type IdParams = Vec<(String, Option<String>)>;

impl CommandBody {
    /// The command name as it appears on the wire (for logs and responses
    /// such as `FETCH completed`).
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Enable(_) => "ENABLE",
            CommandBody::Select { .. } => "SELECT",
            CommandBody::Examine { .. } => "EXAMINE",
            CommandBody::List { .. } => "LIST",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Fetch { uid: false, .. } => "FETCH",
            CommandBody::Fetch { uid: true, .. } => "UID FETCH",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Check => "CHECK",
            CommandBody::Id(_) => "ID",
            CommandBody::Create { .. } => "CREATE",
            CommandBody::Delete { .. } => "DELETE",
            CommandBody::Rename { .. } => "RENAME",
            CommandBody::Subscribe { .. } => "SUBSCRIBE",
            CommandBody::Unsubscribe { .. } => "UNSUBSCRIBE",
            CommandBody::Lsub { .. } => "LSUB",
            CommandBody::Namespace => "NAMESPACE",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Idle => "IDLE",
            CommandBody::Store { uid: false, .. } => "STORE",
            CommandBody::Store { uid: true, .. } => "UID STORE",
            CommandBody::Copy { uid: false, .. } => "COPY",
            CommandBody::Copy { uid: true, .. } => "UID COPY",
            CommandBody::Move { uid: false, .. } => "MOVE",
            CommandBody::Move { uid: true, .. } => "UID MOVE",
            CommandBody::Expunge => "EXPUNGE",
            CommandBody::UidExpunge { .. } => "UID EXPUNGE",
            CommandBody::Search { uid: false, .. } => "SEARCH",
            CommandBody::Search { uid: true, .. } => "UID SEARCH",
            CommandBody::Sort { uid: false, .. } => "SORT",
            CommandBody::Sort { uid: true, .. } => "UID SORT",
            CommandBody::Thread { uid: false, .. } => "THREAD",
            CommandBody::Thread { uid: true, .. } => "UID THREAD",
            CommandBody::GetQuota { .. } => "GETQUOTA",
            CommandBody::GetQuotaRoot { .. } => "GETQUOTAROOT",
            CommandBody::SetQuota { .. } => "SETQUOTA",
            CommandBody::Compress { .. } => "COMPRESS",
        }
    }
}

/// A secret (password) whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A mailbox name that was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidMailboxName(pub &'static str);

impl fmt::Display for InvalidMailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid mailbox name: {}", self.0)
    }
}

impl std::error::Error for InvalidMailboxName {}

/// A mailbox name in UTF-8. `INBOX` (any case) is normalised to `INBOX`.
/// Never contains NUL, CR or LF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

impl MailboxName {
    /// Builds a name from UTF-8 text (e.g. from the store).
    pub fn new(name: &str) -> Result<Self, InvalidMailboxName> {
        if name.bytes().any(|b| matches!(b, 0 | b'\r' | b'\n')) {
            return Err(InvalidMailboxName("contains NUL, CR or LF"));
        }
        // INBOX is case-insensitive, also as the first level of a hierarchy ("inbox/x"),
        // so that no account can end up with an "inbox" beside its INBOX.
        match name.split_once('/') {
            None if name.eq_ignore_ascii_case("INBOX") => Ok(MailboxName("INBOX".to_owned())),
            Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => {
                Ok(MailboxName(format!("INBOX/{rest}")))
            }
            _ => Ok(MailboxName(name.to_owned())),
        }
    }

    /// Builds a name from the bytes the client sent. Without UTF-8
    /// (UTF8=ACCEPT / IMAP4rev2 enabled) the bytes are modified UTF-7 and are
    /// decoded; with it they must be valid UTF-8.
    pub fn from_wire(bytes: &[u8], utf8_enabled: bool) -> Result<Self, InvalidMailboxName> {
        if utf8_enabled {
            let s = std::str::from_utf8(bytes).map_err(|_| InvalidMailboxName("not UTF-8"))?;
            Self::new(s)
        } else {
            let s = mutf7::decode(bytes).map_err(|_| InvalidMailboxName("bad modified UTF-7"))?;
            Self::new(&s)
        }
    }

    /// The name in the client's encoding: UTF-8 bytes when `utf8`,
    /// modified UTF-7 otherwise.
    pub fn to_wire(&self, utf8: bool) -> Vec<u8> {
        if utf8 {
            self.0.as_bytes().to_vec()
        } else {
            mutf7::encode(&self.0).into_bytes()
        }
    }

    /// The UTF-8 name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name a new mailbox would get (trailing hierarchy separators dropped), or why no
    /// mailbox may have it: empty, an empty level (`Foo//Bar`, `/Foo`), or a control
    /// character. One rule for IMAP `CREATE` and `mailkeep import`.
    pub fn creatable(&self) -> Result<&str, InvalidMailboxName> {
        let name = self.0.trim_end_matches('/');
        if name.is_empty() {
            return Err(InvalidMailboxName("empty"));
        }
        if name.split('/').any(str::is_empty) {
            return Err(InvalidMailboxName("empty hierarchy level"));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidMailboxName("contains a control character"));
        }
        Ok(name)
    }

    /// Whether this is `INBOX`.
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `DELETED`
    Deleted,
    /// `SIZE`
    Size,
    /// `RECENT` (rev1 only)
    Recent,
    /// `HIGHESTMODSEQ` (CONDSTORE)
    HighestModseq,
}

impl StatusItem {
    /// The item name as sent in the STATUS response.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::Recent => "RECENT",
            StatusItem::HighestModseq => "HIGHESTMODSEQ",
        }
    }
}

/// The text part of a body section specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionSpec {
    /// `HEADER`: the header including the blank line.
    Header,
    /// `HEADER.FIELDS (names)`: only the named fields, then a blank line.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`: all but the named fields, then a blank line.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`: the body.
    Text,
    /// `MIME`: the MIME header of a part (only after a part number).
    Mime,
}

/// A body section: `[]`, `[HEADER]`, `[1.2.TEXT]`, ...
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Part numbers (`1.2.3`); empty for the whole message.
    pub part: Vec<u32>,
    /// Text specifier; `None` for the whole part (or message).
    pub spec: Option<SectionSpec>,
}

/// A FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    /// `FLAGS`
    Flags,
    /// `UID`
    Uid,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `INTERNALDATE`
    InternalDate,
    /// `ENVELOPE`
    Envelope,
    /// `BODY[section]<partial>` / `BODY.PEEK[section]<partial>`.
    Body {
        /// `BODY.PEEK`: do not set `\Seen`.
        peek: bool,
        /// The section.
        section: Section,
        /// `<offset.length>`.
        partial: Option<(u32, u32)>,
    },
    /// `RFC822` (same as `BODY[]`, sets `\Seen`).
    Rfc822,
    /// `RFC822.HEADER` (same as `BODY.PEEK[HEADER]`).
    Rfc822Header,
    /// `RFC822.TEXT` (same as `BODY[TEXT]`).
    Rfc822Text,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `BODY` without a section (non-extensible body structure).
    BodyPlain,
    /// `MODSEQ` (CONDSTORE)
    Modseq,
    /// `BINARY[part]<partial>` / `BINARY.PEEK[...]` (RFC 3516).
    Binary {
        /// `BINARY.PEEK`.
        peek: bool,
        /// Part numbers; empty for the whole message.
        part: Vec<u32>,
        /// `<offset.length>`.
        partial: Option<(u32, u32)>,
    },
    /// `BINARY.SIZE[part]`
    BinarySize(Vec<u32>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_names() {
        assert_eq!(
            MailboxName::from_wire(b"inbox", false).unwrap().as_str(),
            "INBOX"
        );
        assert!(MailboxName::from_wire(b"InBoX", true).unwrap().is_inbox());
        assert_eq!(
            MailboxName::from_wire(b"inbox/x", false).unwrap().as_str(),
            "INBOX/x"
        );
        assert_eq!(MailboxName::new("Inboxes/x").unwrap().as_str(), "Inboxes/x");
        let n = MailboxName::from_wire(b"&ZeVnLIqe-", false).unwrap();
        assert_eq!(n.as_str(), "日本語");
        assert_eq!(n.to_wire(false), b"&ZeVnLIqe-");
        assert_eq!(n.to_wire(true), "日本語".as_bytes());
        assert_eq!(
            MailboxName::from_wire("日本語".as_bytes(), true)
                .unwrap()
                .as_str(),
            "日本語"
        );
        // utf8 mode: '&' is literal
        assert_eq!(
            MailboxName::from_wire(b"A&B", true).unwrap().as_str(),
            "A&B"
        );
        assert!(MailboxName::from_wire(b"A&B", false).is_err());
        assert!(MailboxName::from_wire("é".as_bytes(), false).is_err());
        assert!(MailboxName::from_wire(b"\xff", true).is_err());
        assert!(MailboxName::from_wire(b"a\nb", true).is_err());
        assert!(MailboxName::from_wire(b"a\0b", true).is_err());
        assert!(MailboxName::from_wire(b"&AAA-", false).is_err()); // encoded NUL
    }

    #[test]
    fn secret_redacted() {
        let s = Secret::new(b"hunter2".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.as_str(), Some("hunter2"));
    }
}
