//! Command encoder: writes a [`Command`] in canonical wire form, the inverse
//! of [`crate::parse_command_with`].
//!
//! The output is one complete frame, CRLF-terminated, with every literal in
//! the synchronising form (`{n}\r\n` followed by the octets) inline, exactly
//! as [`crate::Framer`] hands a command to the parser. A client must wait for
//! the server's continuation after each `{n}\r\n` before sending the rest.
//!
//! Where the parser normalises (FETCH macros, system flag case, `INBOX`,
//! duplicate options, nested `AND`s), the normalised form is what is written,
//! so `parse_command_with(&encode_command(&c, utf8), ParseOptions { utf8 })`
//! gives back `c` for every command the parser can produce.

use crate::command::{
    Command, CommandBody, FetchItem, ListReturn, MailboxName, QresyncParams, SearchKey,
    SearchReturn, Section, SectionSpec, StatusItem, StoreAction,
};
use crate::datetime;
use crate::encode::{is_astring_char, is_atom_char, write_literal, write_literal8};
use crate::mutf7;

/// Longest string written as a quoted string; longer ones become literals.
const MAX_QUOTED: usize = 1000;

/// Encodes `cmd` as the client would send it: mailbox names and LIST
/// arguments in UTF-8 when `utf8` (IMAP4rev2 / UTF8=ACCEPT enabled),
/// modified UTF-7 otherwise; 8-bit strings quoted when `utf8`, as literals
/// otherwise.
pub fn encode_command(cmd: &Command, utf8: bool) -> Vec<u8> {
    encode_command_with(cmd, utf8, Style::default())
}

/// How strings are written (the parser must accept every form alike).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
// Only the tests ask for the non-canonical forms.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Strings {
    /// Atoms where possible, else quoted strings, else literals.
    #[default]
    Canonical,
    /// Quoted strings where possible (also for atoms), else literals.
    Quoted,
    /// Synchronising literals for every string.
    Literal,
    /// Non-synchronising literals (`{n+}`, LITERAL+) for every string and
    /// for the APPEND message.
    LiteralPlus,
}

/// Encoding variations, for testing that the parser accepts the equivalent
/// forms of a command alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Style {
    /// How strings are written.
    pub(crate) strings: Strings,
    /// Keywords (command names, options, system flags) in lower case.
    pub(crate) lower: bool,
}

/// [`encode_command`] with a [`Style`].
pub(crate) fn encode_command_with(cmd: &Command, utf8: bool, style: Style) -> Vec<u8> {
    let mut w = Writer {
        out: Vec::new(),
        utf8,
        style,
    };
    // Bytes that cannot be in a tag are dropped rather than corrupting the
    // frame.
    let tag: Vec<u8> = cmd
        .tag
        .bytes()
        .filter(|&b| is_astring_char(b) && b != b'+')
        .collect();
    w.raw(&tag);
    w.raw(b" ");
    w.body(&cmd.body);
    w.raw(b"\r\n");
    w.out
}

struct Writer {
    out: Vec<u8>,
    utf8: bool,
    style: Style,
}

fn store_action(action: StoreAction) -> &'static str {
    match action {
        StoreAction::Replace => "FLAGS",
        StoreAction::Add => "+FLAGS",
        StoreAction::Remove => "-FLAGS",
    }
}

fn search_return(r: SearchReturn) -> &'static str {
    match r {
        SearchReturn::Min => "MIN",
        SearchReturn::Max => "MAX",
        SearchReturn::Count => "COUNT",
        SearchReturn::All => "ALL",
        SearchReturn::Save => "SAVE",
    }
}

/// Whether any string in `key` holds non-ASCII text (so `CHARSET UTF-8` is
/// needed in rev1).
fn has_non_ascii(key: &SearchKey) -> bool {
    use SearchKey as K;
    match key {
        K::And(keys) => keys.iter().any(has_non_ascii),
        K::Not(k) => has_non_ascii(k),
        K::Or(a, b) => has_non_ascii(a) || has_non_ascii(b),
        K::Bcc(s)
        | K::Body(s)
        | K::Cc(s)
        | K::From(s)
        | K::Keyword(s)
        | K::Subject(s)
        | K::Text(s)
        | K::To(s)
        | K::Unkeyword(s) => !s.is_ascii(),
        K::Header(n, v) => !n.is_ascii() || !v.is_ascii(),
        _ => false,
    }
}

impl Writer {
    fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// Keywords and numbers (case-insensitive on the wire).
    fn text(&mut self, s: &str) {
        if self.style.lower {
            self.out
                .extend_from_slice(s.to_ascii_lowercase().as_bytes());
        } else {
            self.out.extend_from_slice(s.as_bytes());
        }
    }

    fn num(&mut self, n: impl std::fmt::Display) {
        self.text(&n.to_string());
    }

    /// Space-separated items written by `one`.
    fn spaced<T>(&mut self, items: &[T], mut one: impl FnMut(&mut Self, &T)) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.raw(b" ");
            }
            one(self, item);
        }
    }

    /// Parenthesised, space-separated items written by `one`.
    fn list<T>(&mut self, items: &[T], one: impl FnMut(&mut Self, &T)) {
        self.raw(b"(");
        self.spaced(items, one);
        self.raw(b")");
    }

    /// A literal in the style's form: `{n}` (or `{n+}`), and `~{n}` for a
    /// `literal8`.
    fn literal(&mut self, s: &[u8], literal8: bool) {
        if self.style.strings == Strings::LiteralPlus {
            let tilde = if literal8 { "~" } else { "" };
            self.raw(format!("{tilde}{{{}+}}\r\n", s.len()).as_bytes());
            self.raw(s);
        } else if literal8 {
            write_literal8(&mut self.out, s);
        } else {
            write_literal(&mut self.out, s);
        }
    }

    /// Whether `s` can be a quoted string: short, no NUL/CR/LF, 7-bit (or
    /// valid UTF-8 once UTF-8 is enabled).
    fn quotable(&self, s: &[u8]) -> bool {
        s.len() <= MAX_QUOTED
            && !s.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n'))
            && (s.is_ascii() || (self.utf8 && std::str::from_utf8(s).is_ok()))
    }

    /// An IMAP `string`: quoted (with `"` and `\` escaped) when possible, a
    /// synchronising literal otherwise.
    fn string(&mut self, s: &[u8]) {
        let literals = matches!(self.style.strings, Strings::Literal | Strings::LiteralPlus);
        if !literals && self.quotable(s) {
            self.raw(b"\"");
            for &b in s {
                if matches!(b, b'"' | b'\\') {
                    self.out.push(b'\\');
                }
                self.out.push(b);
            }
            self.raw(b"\"");
        } else {
            self.literal(s, false);
        }
    }

    /// An `astring`: a bare atom when every byte is an `ASTRING-CHAR` (and
    /// it is not `NIL`), a string otherwise.
    fn astring(&mut self, s: &[u8]) {
        if self.style.strings == Strings::Canonical
            && !s.is_empty()
            && s.len() <= MAX_QUOTED
            && s.iter().all(|&b| is_astring_char(b))
            && !s.eq_ignore_ascii_case(b"NIL")
        {
            self.raw(s);
        } else {
            self.string(s);
        }
    }

    /// An atom as sent (keywords, capability names, mechanisms). Bytes that
    /// cannot be in an atom are dropped rather than corrupting the syntax.
    fn atom(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if is_atom_char(b) {
                self.out.push(b);
            }
        }
    }

    fn mailbox(&mut self, name: &MailboxName) {
        let wire = name.to_wire(self.utf8);
        self.astring(&wire);
    }

    /// LIST/LSUB reference and pattern text in the client's encoding.
    fn list_wire(&self, s: &str) -> Vec<u8> {
        if self.utf8 {
            s.as_bytes().to_vec()
        } else {
            mutf7::encode(s).into_bytes()
        }
    }

    fn list_reference(&mut self, s: &str) {
        let wire = self.list_wire(s);
        self.astring(&wire);
    }

    /// A `list-mailbox`: bare when made of `list-char`s, a string otherwise.
    fn list_pattern(&mut self, s: &str) {
        let wire = self.list_wire(s);
        let bare = self.style.strings == Strings::Canonical
            && !wire.is_empty()
            && wire.len() <= MAX_QUOTED
            && wire
                .iter()
                .all(|&b| is_atom_char(b) || matches!(b, b'%' | b'*' | b']'));
        if bare {
            self.raw(&wire);
        } else {
            self.string(&wire);
        }
    }

    /// A flag for STORE/APPEND: a system flag (`\Seen`) or a keyword atom.
    fn flag(&mut self, f: &str) {
        match f.strip_prefix('\\') {
            Some(name) => {
                self.raw(b"\\");
                if self.style.lower {
                    self.atom(&name.to_ascii_lowercase());
                } else {
                    self.atom(name);
                }
            }
            None => self.atom(f),
        }
    }

    fn flag_list(&mut self, flags: &[String]) {
        self.list(flags, |w, f| w.flag(f));
    }

    fn status_items(&mut self, items: &[StatusItem]) {
        self.list(items, |w, i| w.text(i.as_str()));
    }

    fn sp_set(&mut self, set: &crate::SequenceSet) {
        self.raw(b" ");
        self.num(set);
    }

    fn body(&mut self, body: &CommandBody) {
        use CommandBody as C;
        self.text(body.name());
        match body {
            C::Capability
            | C::Noop
            | C::Logout
            | C::StartTls
            | C::Close
            | C::Unselect
            | C::Check
            | C::Namespace
            | C::Idle
            | C::Expunge => {}
            C::Login { username, password } => {
                self.raw(b" ");
                self.astring(username.as_bytes());
                self.raw(b" ");
                self.astring(password.expose());
            }
            C::Authenticate {
                mechanism,
                initial_response,
            } => {
                self.raw(b" ");
                self.atom(mechanism);
                if let Some(ir) = initial_response {
                    self.raw(b" ");
                    // Base64 is case-sensitive; anything else is dropped.
                    let ir: Vec<u8> = ir
                        .bytes()
                        .filter(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
                        .collect();
                    self.raw(if ir.is_empty() { b"=" } else { &ir });
                }
            }
            C::Enable(caps) => {
                for c in caps {
                    self.raw(b" ");
                    self.atom(c);
                }
            }
            C::Select {
                mailbox,
                condstore,
                qresync,
            }
            | C::Examine {
                mailbox,
                condstore,
                qresync,
            } => {
                self.raw(b" ");
                self.mailbox(mailbox);
                self.select_params(*condstore, qresync.as_ref());
            }
            C::List {
                reference,
                pattern,
                selection,
                patterns,
                returns,
            } => {
                self.raw(b" ");
                if !selection.is_empty() {
                    self.list(selection, |w, s| w.text(s.as_str()));
                    self.raw(b" ");
                }
                self.list_reference(reference);
                self.raw(b" ");
                match patterns.as_slice() {
                    [] => self.list_pattern(pattern),
                    [one] => self.list_pattern(one),
                    many => self.list(many, |w, p| w.list_pattern(p)),
                }
                if !returns.is_empty() {
                    self.raw(b" RETURN ");
                    self.list(returns, |w, r| match r {
                        ListReturn::Subscribed => w.text("SUBSCRIBED"),
                        ListReturn::Children => w.text("CHILDREN"),
                        ListReturn::SpecialUse => w.text("SPECIAL-USE"),
                        ListReturn::Status(items) => {
                            w.text("STATUS ");
                            w.status_items(items);
                        }
                    });
                }
            }
            C::Status { mailbox, items } => {
                self.raw(b" ");
                self.mailbox(mailbox);
                self.raw(b" ");
                self.status_items(items);
            }
            C::Fetch {
                uid: _,
                set,
                items,
                changed_since,
                vanished,
            } => {
                self.sp_set(set);
                self.raw(b" ");
                match items.as_slice() {
                    [one] => self.fetch_item(one),
                    many => self.list(many, |w, i| w.fetch_item(i)),
                }
                if changed_since.is_some() || *vanished {
                    self.raw(b" (");
                    if let Some(n) = changed_since {
                        self.text("CHANGEDSINCE ");
                        self.num(n);
                        if *vanished {
                            self.raw(b" ");
                        }
                    }
                    if *vanished {
                        self.text("VANISHED");
                    }
                    self.raw(b")");
                }
            }
            C::Id(params) => {
                self.raw(b" ");
                match params {
                    None => self.text("NIL"),
                    Some(pairs) => self.list(pairs, |w, (k, v)| {
                        w.string(k.as_bytes());
                        w.raw(b" ");
                        match v {
                            Some(v) => w.string(v.as_bytes()),
                            None => w.text("NIL"),
                        }
                    }),
                }
            }
            C::Create { mailbox }
            | C::Delete { mailbox }
            | C::Subscribe { mailbox }
            | C::Unsubscribe { mailbox }
            | C::GetQuotaRoot { mailbox } => {
                self.raw(b" ");
                self.mailbox(mailbox);
            }
            C::Rename { from, to } => {
                self.raw(b" ");
                self.mailbox(from);
                self.raw(b" ");
                self.mailbox(to);
            }
            C::Lsub { reference, pattern } => {
                self.raw(b" ");
                self.list_reference(reference);
                self.raw(b" ");
                self.list_pattern(pattern);
            }
            C::Append {
                mailbox,
                flags,
                date,
                message,
                binary,
            } => {
                self.raw(b" ");
                self.mailbox(mailbox);
                self.raw(b" ");
                if !flags.is_empty() {
                    self.flag_list(flags);
                    self.raw(b" ");
                }
                if let Some(ts) = date {
                    self.raw(b"\"");
                    self.text(&datetime::format_date_time_exact(*ts));
                    self.raw(b"\" ");
                }
                self.literal(message, *binary);
            }
            C::Store {
                uid: _,
                set,
                action,
                silent,
                flags,
                unchanged_since,
            } => {
                self.sp_set(set);
                if let Some(n) = unchanged_since {
                    self.text(" (UNCHANGEDSINCE ");
                    self.num(n);
                    self.raw(b")");
                }
                self.raw(b" ");
                self.text(store_action(*action));
                if *silent {
                    self.text(".SILENT");
                }
                self.raw(b" ");
                self.flag_list(flags);
            }
            C::Copy {
                uid: _,
                set,
                mailbox,
            }
            | C::Move {
                uid: _,
                set,
                mailbox,
            } => {
                self.sp_set(set);
                self.raw(b" ");
                self.mailbox(mailbox);
            }
            C::UidExpunge { set } => self.sp_set(set),
            C::Search { uid: _, ret, key } => {
                if let Some(ret) = ret {
                    self.raw(b" RETURN ");
                    self.list(ret, |w, r| w.text(search_return(*r)));
                }
                if has_non_ascii(key) || self.style.strings != Strings::Canonical {
                    self.text(" CHARSET ");
                    self.astring(b"UTF-8");
                }
                self.raw(b" ");
                self.search_program(key);
            }
            C::Sort {
                uid: _,
                criteria,
                key,
            } => {
                self.raw(b" ");
                self.list(criteria, |w, c| {
                    if c.reverse {
                        w.text("REVERSE ");
                    }
                    w.text(c.key.as_str());
                });
                self.charset();
                self.search_program(key);
            }
            C::Thread {
                uid: _,
                algorithm,
                key,
            } => {
                self.raw(b" ");
                self.text(algorithm.as_str());
                self.charset();
                self.search_program(key);
            }
            C::GetQuota { root } => {
                self.raw(b" ");
                self.astring(root.as_bytes());
            }
            C::SetQuota { root, limits } => {
                self.raw(b" ");
                self.astring(root.as_bytes());
                self.raw(b" ");
                self.list(limits, |w, (resource, limit)| {
                    w.atom(resource.as_str());
                    w.raw(b" ");
                    w.num(limit);
                });
            }
            C::Compress { mechanism } => {
                self.raw(b" ");
                self.atom(mechanism);
            }
        }
    }

    /// ` (CONDSTORE QRESYNC (...))`, or nothing without parameters.
    fn select_params(&mut self, condstore: bool, qresync: Option<&QresyncParams>) {
        if !condstore && qresync.is_none() {
            return;
        }
        self.raw(b" (");
        if condstore {
            self.text("CONDSTORE");
            if qresync.is_some() {
                self.raw(b" ");
            }
        }
        if let Some(q) = qresync {
            self.text("QRESYNC (");
            self.num(q.uidvalidity);
            self.raw(b" ");
            self.num(q.modseq);
            if let Some(known) = &q.known_uids {
                self.sp_set(known);
            }
            if let Some((seqs, uids)) = &q.seq_match {
                self.raw(b" (");
                self.num(seqs);
                self.sp_set(uids);
                self.raw(b")");
            }
            self.raw(b")");
        }
        self.raw(b")");
    }

    fn part(&mut self, part: &[u32]) {
        for (i, n) in part.iter().enumerate() {
            if i > 0 {
                self.raw(b".");
            }
            self.num(n);
        }
    }

    fn section(&mut self, section: &Section) {
        self.raw(b"[");
        self.part(&section.part);
        if let Some(spec) = &section.spec {
            if !section.part.is_empty() {
                self.raw(b".");
            }
            match spec {
                SectionSpec::Header => self.text("HEADER"),
                SectionSpec::Text => self.text("TEXT"),
                SectionSpec::Mime => self.text("MIME"),
                SectionSpec::HeaderFields(names) => {
                    self.text("HEADER.FIELDS ");
                    self.list(names, |w, n| w.astring(n.as_bytes()));
                }
                SectionSpec::HeaderFieldsNot(names) => {
                    self.text("HEADER.FIELDS.NOT ");
                    self.list(names, |w, n| w.astring(n.as_bytes()));
                }
            }
        }
        self.raw(b"]");
    }

    fn partial(&mut self, partial: Option<(u32, u32)>) {
        if let Some((offset, len)) = partial {
            self.raw(b"<");
            self.num(offset);
            self.raw(b".");
            self.num(len);
            self.raw(b">");
        }
    }

    fn fetch_item(&mut self, item: &FetchItem) {
        use FetchItem as F;
        match item {
            F::Flags => self.text("FLAGS"),
            F::Uid => self.text("UID"),
            F::Rfc822Size => self.text("RFC822.SIZE"),
            F::InternalDate => self.text("INTERNALDATE"),
            F::Envelope => self.text("ENVELOPE"),
            F::Body {
                peek,
                section,
                partial,
            } => {
                self.text(if *peek { "BODY.PEEK" } else { "BODY" });
                self.section(section);
                self.partial(*partial);
            }
            F::Rfc822 => self.text("RFC822"),
            F::Rfc822Header => self.text("RFC822.HEADER"),
            F::Rfc822Text => self.text("RFC822.TEXT"),
            F::BodyStructure => self.text("BODYSTRUCTURE"),
            F::BodyPlain => self.text("BODY"),
            F::Modseq => self.text("MODSEQ"),
            F::Binary {
                peek,
                part,
                partial,
            } => {
                self.text(if *peek { "BINARY.PEEK[" } else { "BINARY[" });
                self.part(part);
                self.raw(b"]");
                self.partial(*partial);
            }
            F::BinarySize(part) => {
                self.text("BINARY.SIZE[");
                self.part(part);
                self.raw(b"]");
            }
        }
    }

    /// The top-level search criteria: an `And` as keys in a row.
    fn search_program(&mut self, key: &SearchKey) {
        match key {
            SearchKey::And(keys) if keys.len() >= 2 => {
                self.spaced(keys, |w, k| w.search_key(k));
            }
            _ => self.search_key(key),
        }
    }

    fn search_string(&mut self, name: &str, s: &str) {
        self.text(name);
        self.raw(b" ");
        self.astring(s.as_bytes());
    }

    fn search_date(&mut self, name: &str, days: i64) {
        self.text(name);
        self.raw(b" ");
        let date = datetime::format_date(days);
        if self.style.strings == Strings::Canonical {
            self.text(&date);
        } else {
            // `date` may also be quoted (never a literal).
            self.raw(b"\"");
            self.text(&date);
            self.raw(b"\"");
        }
    }

    /// ` UTF-8 ` of SORT and THREAD: an atom, or quoted (never a literal).
    fn charset(&mut self) {
        if self.style.strings == Strings::Canonical {
            self.text(" UTF-8 ");
        } else {
            self.text(" \"utf-8\" ");
        }
    }

    fn search_key(&mut self, key: &SearchKey) {
        use SearchKey as K;
        match key {
            // An empty AND matches everything; a one-key AND is that key.
            K::And(keys) => match keys.as_slice() {
                [] => self.text("ALL"),
                [one] => self.search_key(one),
                many => self.list(many, |w, k| w.search_key(k)),
            },
            K::All => self.text("ALL"),
            K::Answered => self.text("ANSWERED"),
            K::Bcc(s) => self.search_string("BCC", s),
            K::Before(d) => self.search_date("BEFORE", *d),
            K::Body(s) => self.search_string("BODY", s),
            K::Cc(s) => self.search_string("CC", s),
            K::Deleted => self.text("DELETED"),
            K::Draft => self.text("DRAFT"),
            K::Flagged => self.text("FLAGGED"),
            K::From(s) => self.search_string("FROM", s),
            K::Header(name, value) => {
                self.search_string("HEADER", name);
                self.raw(b" ");
                self.astring(value.as_bytes());
            }
            K::Keyword(k) => {
                self.text("KEYWORD ");
                self.atom(k);
            }
            K::Larger(n) => {
                self.text("LARGER ");
                self.num(n);
            }
            K::New => self.text("NEW"),
            K::Not(k) => {
                self.text("NOT ");
                self.search_key(k);
            }
            K::Old => self.text("OLD"),
            K::On(d) => self.search_date("ON", *d),
            K::Or(a, b) => {
                self.text("OR ");
                self.search_key(a);
                self.raw(b" ");
                self.search_key(b);
            }
            K::Recent => self.text("RECENT"),
            K::Seen => self.text("SEEN"),
            K::SentBefore(d) => self.search_date("SENTBEFORE", *d),
            K::SentOn(d) => self.search_date("SENTON", *d),
            K::SentSince(d) => self.search_date("SENTSINCE", *d),
            K::Since(d) => self.search_date("SINCE", *d),
            K::Smaller(n) => {
                self.text("SMALLER ");
                self.num(n);
            }
            K::Subject(s) => self.search_string("SUBJECT", s),
            K::Text(s) => self.search_string("TEXT", s),
            K::To(s) => self.search_string("TO", s),
            K::Uid(set) => {
                self.text("UID");
                self.sp_set(set);
            }
            K::Unanswered => self.text("UNANSWERED"),
            K::Undeleted => self.text("UNDELETED"),
            K::Undraft => self.text("UNDRAFT"),
            K::Unflagged => self.text("UNFLAGGED"),
            K::Unkeyword(k) => {
                self.text("UNKEYWORD ");
                self.atom(k);
            }
            K::Unseen => self.text("UNSEEN"),
            K::SequenceSet(set) => self.num(set),
            K::Saved => self.text("$"),
            K::Modseq(n) => {
                self.text("MODSEQ ");
                self.num(n);
            }
        }
    }
}

#[cfg(test)]
mod tests;
