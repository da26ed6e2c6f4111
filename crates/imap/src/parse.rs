//! Command parser (RFC 9051 §9 grammar, the subset listed in
//! [`CommandBody`]).
//!
//! The parser works on one complete frame from the [`crate::Framer`]
//! (literals inline). It never panics on any input; nesting of parenthesised
//! lists is bounded by [`MAX_DEPTH`].

use std::borrow::Cow;
use std::fmt;

use crate::command::{
    Command, CommandBody, FetchItem, IdParams, ListReturn, ListSelection, MailboxName,
    QresyncParams, QuotaResource, SearchKey, SearchReturn, Secret, Section, SectionSpec,
    SortCriterion, SortKey, StatusItem, StoreAction, ThreadAlgorithm,
};
use crate::datetime;
use crate::encode::{Status, is_astring_char, is_atom_char, status_response};
use crate::mutf7;
use crate::sequence::SequenceSet;

/// Deepest nesting of parenthesised lists accepted.
pub const MAX_DEPTH: usize = 8;
/// Most part numbers in one section (`1.2.3...`).
pub const MAX_PART_DEPTH: usize = 32;
/// Most field/value pairs in an ID command (RFC 2971).
pub const MAX_ID_PAIRS: usize = 30;
/// Most mailbox patterns in one LIST command (`LIST "" (p1 p2 ...)`).
pub const MAX_LIST_PATTERNS: usize = 64;
/// Most resources in one SETQUOTA command.
pub const MAX_QUOTA_RESOURCES: usize = 16;

/// Connection-dependent parsing options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// UTF-8 mailbox names are in use (IMAP4rev2 or UTF8=ACCEPT enabled):
    /// mailbox names and LIST arguments are taken as UTF-8 instead of being
    /// decoded from modified UTF-7.
    pub utf8: bool,
}

/// The response code of a SEARCH with a charset other than UTF-8 or
/// US-ASCII (see [`ParseError::code`]).
pub const BADCHARSET_CODE: &str = "BADCHARSET (UTF-8)";

/// Internal message of the unsupported-charset error; mapped to
/// [`BADCHARSET_CODE`] by [`parse_command_with`].
const BAD_CHARSET: &str = "Unsupported charset";

/// A command that could not be parsed (or, with a [`code`](Self::code),
/// that was well-formed but asks for something unsupported). Answer with
/// [`ParseError::response`]: `<tag or *> BAD <message>`, or
/// `<tag> NO [<code>] <message>` when `code` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The tag, when it could be read.
    pub tag: Option<String>,
    /// Human-readable reason (no CR/LF).
    pub message: String,
    /// A response code, without brackets. When set, the answer is a tagged
    /// `NO [code]` instead of `BAD`. Currently only [`BADCHARSET_CODE`] for
    /// `SEARCH CHARSET`, `SORT` or `THREAD` with an unsupported charset (RFC
    /// 9051 §6.4.4, RFC 5256 §3).
    pub code: Option<String>,
}

impl ParseError {
    /// The status to answer with: `NO` when a response code is set, `BAD`
    /// otherwise.
    pub fn status(&self) -> Status {
        if self.code.is_some() {
            Status::No
        } else {
            Status::Bad
        }
    }

    /// The complete response line, e.g. `a1 BAD Missing space\r\n` or
    /// `a1 NO [BADCHARSET (UTF-8)] Unsupported charset\r\n` (`*` when the
    /// tag could not be read).
    pub fn response(&self) -> Vec<u8> {
        status_response(
            self.tag.as_deref(),
            self.status(),
            self.code.as_deref(),
            &self.message,
        )
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ",
            self.tag.as_deref().unwrap_or("*"),
            self.status().as_str()
        )?;
        if let Some(code) = &self.code {
            write!(f, "[{code}] ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

type PResult<T> = Result<T, &'static str>;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
    opts: ParseOptions,
}

fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}

fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

fn to_string(bytes: Cow<'_, [u8]>, what: &'static str) -> PResult<String> {
    String::from_utf8(bytes.into_owned()).map_err(|_| what)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.s.get(self.i..).unwrap_or_default()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8, msg: &'static str) -> PResult<()> {
        if self.eat(b) { Ok(()) } else { Err(msg) }
    }

    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "Missing space")
    }

    fn at_end(&self) -> bool {
        matches!(self.rest(), b"" | b"\r\n" | b"\n")
    }

    fn end(&mut self) -> PResult<()> {
        if self.at_end() {
            self.i = self.s.len();
            Ok(())
        } else if self.peek() == Some(b' ') {
            Err("Unexpected extra arguments")
        } else {
            Err("Unexpected characters at end of command")
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let n = rest.iter().position(|&b| !f(b)).unwrap_or(rest.len());
        self.i += n;
        rest.get(..n).unwrap_or_default()
    }

    fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err("Too deeply nested");
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Letters, digits and `.`: command names and FETCH item names.
    fn keyword(&mut self) -> PResult<&'a [u8]> {
        let k = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if k.is_empty() {
            Err("Missing keyword")
        } else {
            Ok(k)
        }
    }

    fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            Err("Missing atom")
        } else {
            Ok(a)
        }
    }

    fn number(&mut self) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 10 {
            return Err("Invalid number");
        }
        let v = d
            .iter()
            .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
        u32::try_from(v).map_err(|_| "Number too large")
    }

    /// `number64` (RFC 9051): up to 2^63-1. Also used for mod-sequences.
    fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            return Err("Invalid number");
        }
        let v = d
            .iter()
            .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
        if v > i64::MAX as u64 {
            return Err("Number too large");
        }
        Ok(v)
    }

    /// A non-zero `mod-sequence-value`.
    fn mod_sequence(&mut self) -> PResult<u64> {
        match self.number64()? {
            0 => Err("Mod-sequence must be non-zero"),
            n => Ok(n),
        }
    }

    fn sequence_set(&mut self) -> PResult<SequenceSet> {
        // `$` (SEARCHRES, RFC 5182) stands alone: it is not combined with numbers.
        if self.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let raw = self.take_while(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'));
        SequenceSet::parse(raw).map_err(|_| "Invalid sequence set")
    }

    /// Consumes `word` (any case) followed by a space, if that is what comes
    /// next.
    fn eat_word_sp(&mut self, word: &[u8]) -> bool {
        let r = self.rest();
        let hit = r
            .get(..word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
            && r.get(word.len()) == Some(&b' ');
        if hit {
            self.i += word.len() + 1;
        }
        hit
    }

    fn nz_number(&mut self) -> PResult<u32> {
        if self.peek() == Some(b'0') {
            return Err("Number must be non-zero");
        }
        self.number()
    }

    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"', "Expected quoted string")?;
        let mut out = Vec::new();
        loop {
            let b = self.peek().ok_or("Unterminated quoted string")?;
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("Unterminated quoted string")?;
                    if e != b'"' && e != b'\\' {
                        return Err("Invalid escape in quoted string");
                    }
                    self.i += 1;
                    out.push(e);
                }
                0 | b'\r' | b'\n' => return Err("Invalid character in quoted string"),
                _ => out.push(b),
            }
        }
        if !out.is_ascii() && std::str::from_utf8(&out).is_err() {
            return Err("Invalid UTF-8 in quoted string");
        }
        Ok(out)
    }

    fn literal(&mut self) -> PResult<&'a [u8]> {
        self.literal_data(false).map(|(data, _)| data)
    }

    /// A literal; with `allow_literal8` also a `literal8` (`~{n}`, RFC 3516,
    /// with LITERAL+'s `~{n+}`), which may hold NUL. Returns the data and
    /// whether it was a literal8.
    fn literal_data(&mut self, allow_literal8: bool) -> PResult<(&'a [u8], bool)> {
        let literal8 = allow_literal8 && self.eat(b'~');
        self.expect(b'{', "Expected literal")?;
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 20 {
            return Err("Invalid literal size");
        }
        let mut n: u64 = 0;
        for &b in d {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .ok_or("Invalid literal size")?;
        }
        self.eat(b'+');
        self.expect(b'}', "Invalid literal")?;
        self.eat(b'\r');
        self.expect(b'\n', "Missing CRLF after literal size")?;
        let n = usize::try_from(n).map_err(|_| "Literal too large")?;
        let data = self.rest().get(..n).ok_or("Truncated literal")?;
        self.i += n;
        if !literal8 && data.contains(&0) {
            return Err("NUL in literal");
        }
        Ok((data, literal8))
    }

    fn string(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted().map(Cow::Owned),
            Some(b'{') => self.literal().map(Cow::Borrowed),
            _ => Err("Expected string"),
        }
    }

    fn astring(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err("Expected atom or string")
                } else {
                    Ok(Cow::Borrowed(a))
                }
            }
        }
    }

    fn is_nil(&self) -> bool {
        let r = self.rest();
        r.get(..3).is_some_and(|w| w.eq_ignore_ascii_case(b"NIL"))
            && !r.get(3).copied().is_some_and(is_astring_char)
    }

    fn nstring(&mut self) -> PResult<Option<Cow<'a, [u8]>>> {
        if self.is_nil() {
            self.i += 3;
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    fn mailbox(&mut self) -> PResult<MailboxName> {
        let raw = self.astring()?;
        MailboxName::from_wire(&raw, self.opts.utf8).map_err(|e| e.0)
    }

    /// A mailbox-ish argument of LIST as UTF-8 text.
    fn list_text(&self, raw: &[u8]) -> PResult<String> {
        if self.opts.utf8 {
            std::str::from_utf8(raw)
                .map(str::to_owned)
                .map_err(|_| "Invalid UTF-8 in mailbox name")
        } else {
            mutf7::decode(raw).map_err(|_| "Invalid modified UTF-7 in mailbox name")
        }
    }

    /// `reference SP pattern` of LSUB (and basic LIST), as UTF-8 text.
    fn list_args(&mut self) -> PResult<(String, String)> {
        let reference = self.astring()?;
        let reference = self.list_text(&reference)?;
        self.sp()?;
        if self.peek() == Some(b'(') {
            return Err("Multiple mailbox patterns are not supported");
        }
        let pattern = self.list_mailbox()?;
        let pattern = self.list_text(&pattern)?;
        Ok((reference, pattern))
    }

    /// One `list-mailbox` as UTF-8 text.
    fn list_pattern(&mut self) -> PResult<String> {
        let raw = self.list_mailbox()?;
        self.list_text(&raw)
    }

    /// A sequence set without `*` (QRESYNC's `known-uids`,
    /// `known-sequence-set` and `known-uid-set`).
    fn known_set(&mut self) -> PResult<SequenceSet> {
        let set = self.sequence_set()?;
        if set.uses_last() {
            return Err("* is not allowed in QRESYNC sets");
        }
        Ok(set)
    }

    fn list_mailbox(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    Err("Expected mailbox pattern")
                } else {
                    Ok(Cow::Borrowed(a))
                }
            }
        }
    }
}

/// Parses one command, taking mailbox names as modified UTF-7 (the state of
/// a connection that has not enabled UTF-8).
pub fn parse_command(frame: &[u8]) -> Result<Command, ParseError> {
    parse_command_with(frame, ParseOptions::default())
}

/// Whether a line read with [`crate::Framer::next_line`] during IDLE is the
/// `DONE` that ends it (any case; a trailing CRLF or LF is ignored).
pub fn is_done_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.eq_ignore_ascii_case(b"DONE")
}

/// Parses one command with connection-dependent options.
pub fn parse_command_with(frame: &[u8], opts: ParseOptions) -> Result<Command, ParseError> {
    let mut p = Parser {
        s: frame,
        i: 0,
        depth: 0,
        opts,
    };
    let tag = p.take_while(is_tag_char);
    let tag_ok =
        !tag.is_empty() && matches!(p.peek(), Some(b' ') | Some(b'\r') | Some(b'\n') | None);
    let tag = match std::str::from_utf8(tag) {
        Ok(t) if tag_ok => t.to_owned(),
        _ => {
            let message = if frame.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                "Empty command line"
            } else {
                "Invalid or missing tag"
            };
            return Err(ParseError {
                tag: None,
                message: message.to_owned(),
                code: None,
            });
        }
    };
    match command_body(&mut p) {
        Ok(body) => Ok(Command { tag, body }),
        Err(message) => Err(ParseError {
            tag: Some(tag),
            message: message.to_owned(),
            code: (message == BAD_CHARSET).then(|| BADCHARSET_CODE.to_owned()),
        }),
    }
}

fn command_body(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.expect(b' ', "Missing command")?;
    let name = p.keyword()?.to_ascii_uppercase();
    let simple = match name.as_slice() {
        b"CAPABILITY" => Some(CommandBody::Capability),
        b"NOOP" => Some(CommandBody::Noop),
        b"LOGOUT" => Some(CommandBody::Logout),
        b"STARTTLS" => Some(CommandBody::StartTls),
        b"CLOSE" => Some(CommandBody::Close),
        b"UNSELECT" => Some(CommandBody::Unselect),
        b"CHECK" => Some(CommandBody::Check),
        b"NAMESPACE" => Some(CommandBody::Namespace),
        b"IDLE" => Some(CommandBody::Idle),
        b"EXPUNGE" => Some(CommandBody::Expunge),
        _ => None,
    };
    if let Some(body) = simple {
        p.end()?;
        return Ok(body);
    }
    let body = match name.as_slice() {
        b"LOGIN" => {
            p.sp()?;
            let user = p.astring()?;
            p.sp()?;
            let pass = p.astring()?;
            CommandBody::Login {
                username: to_string(user, "Invalid UTF-8 in user name")?,
                password: Secret::new(pass.into_owned()),
            }
        }
        b"AUTHENTICATE" => authenticate(p)?,
        b"ENABLE" => {
            let mut caps = Vec::new();
            while p.eat(b' ') {
                let a = p.atom()?;
                caps.push(String::from_utf8_lossy(a).into_owned());
            }
            if caps.is_empty() {
                return Err("ENABLE needs at least one capability");
            }
            CommandBody::Enable(caps)
        }
        b"SELECT" | b"EXAMINE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            let (condstore, qresync) = select_params(p)?;
            if name == b"SELECT" {
                CommandBody::Select {
                    mailbox,
                    condstore,
                    qresync,
                }
            } else {
                CommandBody::Examine {
                    mailbox,
                    condstore,
                    qresync,
                }
            }
        }
        b"LIST" => list(p)?,
        b"LSUB" => {
            p.sp()?;
            let (reference, pattern) = p.list_args()?;
            CommandBody::Lsub { reference, pattern }
        }
        b"CREATE" | b"DELETE" | b"SUBSCRIBE" | b"UNSUBSCRIBE" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            match name.as_slice() {
                b"CREATE" => CommandBody::Create { mailbox },
                b"DELETE" => CommandBody::Delete { mailbox },
                b"SUBSCRIBE" => CommandBody::Subscribe { mailbox },
                _ => CommandBody::Unsubscribe { mailbox },
            }
        }
        b"RENAME" => {
            p.sp()?;
            let from = p.mailbox()?;
            p.sp()?;
            let to = p.mailbox()?;
            CommandBody::Rename { from, to }
        }
        b"APPEND" => append(p)?,
        b"STORE" => store(p, false)?,
        b"COPY" | b"MOVE" => copy_move(p, false, name.as_slice() == b"MOVE")?,
        b"SEARCH" => search(p, false)?,
        b"SORT" => sort(p, false)?,
        b"THREAD" => thread(p, false)?,
        b"GETQUOTA" => {
            p.sp()?;
            CommandBody::GetQuota {
                root: quota_root(p)?,
            }
        }
        b"GETQUOTAROOT" => {
            p.sp()?;
            CommandBody::GetQuotaRoot {
                mailbox: p.mailbox()?,
            }
        }
        b"SETQUOTA" => set_quota(p)?,
        b"COMPRESS" => {
            p.sp()?;
            let mechanism = String::from_utf8_lossy(p.atom()?).to_ascii_uppercase();
            CommandBody::Compress { mechanism }
        }
        b"STATUS" => {
            p.sp()?;
            let mailbox = p.mailbox()?;
            p.sp()?;
            let items = status_items(p)?;
            CommandBody::Status { mailbox, items }
        }
        b"FETCH" => fetch(p, false)?,
        b"UID" => {
            p.sp()?;
            let sub = p.keyword()?.to_ascii_uppercase();
            match sub.as_slice() {
                b"FETCH" => fetch(p, true)?,
                b"STORE" => store(p, true)?,
                b"COPY" => copy_move(p, true, false)?,
                b"MOVE" => copy_move(p, true, true)?,
                b"SEARCH" => search(p, true)?,
                b"SORT" => sort(p, true)?,
                b"THREAD" => thread(p, true)?,
                b"EXPUNGE" => {
                    p.sp()?;
                    CommandBody::UidExpunge {
                        set: p.sequence_set()?,
                    }
                }
                _ => return Err("Unknown or unsupported UID command"),
            }
        }
        b"ID" => {
            p.sp()?;
            CommandBody::Id(id_params(p)?)
        }
        _ => return Err("Unknown or unsupported command"),
    };
    p.end()?;
    Ok(body)
}

fn authenticate(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.sp()?;
    let mech = p.atom()?;
    let mechanism = String::from_utf8_lossy(mech).to_ascii_uppercase();
    let mut initial_response = None;
    if p.eat(b' ') {
        let ir = p.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        let valid = ir == b"="
            || (!ir.is_empty() && ir.len().is_multiple_of(4) && {
                let body_len = ir.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
                ir.len() - body_len <= 2 && !ir.get(..body_len).unwrap_or_default().contains(&b'=')
            });
        if !valid {
            return Err("Invalid base64 initial response");
        }
        initial_response = Some(String::from_utf8_lossy(ir).into_owned());
    }
    Ok(CommandBody::Authenticate {
        mechanism,
        initial_response,
    })
}

/// `[SP "(" select-param *(SP select-param) ")"]`: whether CONDSTORE was
/// given, and the QRESYNC parameter.
fn select_params(p: &mut Parser<'_>) -> PResult<(bool, Option<QresyncParams>)> {
    let mut condstore = false;
    let mut qresync = None;
    if !p.eat(b' ') {
        return Ok((false, None));
    }
    p.expect(b'(', "Expected select parameter list")?;
    p.enter()?;
    if !p.eat(b')') {
        loop {
            let param = p.atom()?.to_ascii_uppercase();
            match param.as_slice() {
                b"CONDSTORE" => condstore = true,
                b"QRESYNC" if qresync.is_none() => {
                    p.sp()?;
                    qresync = Some(qresync_params(p)?);
                }
                b"QRESYNC" => return Err("Duplicate QRESYNC parameter"),
                _ => return Err("Unsupported select parameter"),
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    }
    p.leave();
    Ok((condstore, qresync))
}

/// `"(" uidvalidity SP mod-sequence-value [SP known-uids]
/// [SP seq-match-data] ")"` (RFC 7162 §7).
fn qresync_params(p: &mut Parser<'_>) -> PResult<QresyncParams> {
    p.expect(b'(', "Expected QRESYNC parameter list")?;
    p.enter()?;
    let uidvalidity = p.nz_number()?;
    p.sp()?;
    let modseq = p.mod_sequence()?;
    let mut known_uids = None;
    let mut seq_match = None;
    let mut more = p.eat(b' ');
    if more && p.peek() != Some(b'(') {
        known_uids = Some(p.known_set()?);
        more = p.eat(b' ');
    }
    if more {
        p.expect(b'(', "Expected QRESYNC sequence match data")?;
        p.enter()?;
        let seqs = p.known_set()?;
        p.sp()?;
        let uids = p.known_set()?;
        p.expect(b')', "Invalid QRESYNC sequence match data")?;
        p.leave();
        if set_len(&seqs) != set_len(&uids) {
            return Err("QRESYNC sequence match sets differ in size");
        }
        seq_match = Some((seqs, uids));
    }
    p.expect(b')', "Invalid QRESYNC parameter list")?;
    p.leave();
    Ok(QresyncParams {
        uidvalidity,
        modseq,
        known_uids,
        seq_match,
    })
}

/// How many numbers a set without `*` names, counting repeats.
fn set_len(set: &SequenceSet) -> u64 {
    set.ranges()
        .iter()
        .map(|r| {
            let (lo, hi) = r.resolve(u32::MAX);
            u64::from(hi - lo) + 1
        })
        .sum()
}

/// `LIST [SP list-select-opts] SP mailbox SP mbox-or-pat
/// [SP list-return-opts]` (RFC 5258 §6, RFC 5819, RFC 6154).
fn list(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.sp()?;
    let mut selection = Vec::new();
    if p.peek() == Some(b'(') {
        selection = list_selection(p)?;
        p.sp()?;
    }
    let reference = p.astring()?;
    let reference = p.list_text(&reference)?;
    p.sp()?;
    let patterns = if p.eat(b'(') {
        p.enter()?;
        let mut patterns = Vec::new();
        loop {
            if patterns.len() >= MAX_LIST_PATTERNS {
                return Err("Too many mailbox patterns");
            }
            patterns.push(p.list_pattern()?);
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
        p.leave();
        patterns
    } else {
        vec![p.list_pattern()?]
    };
    let mut returns = Vec::new();
    if p.eat(b' ') {
        if !p.eat_word_sp(b"RETURN") {
            return Err("Expected RETURN options");
        }
        returns = list_returns(p)?;
    }
    let pattern = patterns.first().cloned().unwrap_or_default();
    Ok(CommandBody::List {
        reference,
        pattern,
        selection,
        patterns,
        returns,
    })
}

/// `"(" [opt *(SP opt)] ")"` of options, each read by `one` (which sees the options so far);
/// duplicates dropped. The shared shape of LIST selection, LIST RETURN and SEARCH RETURN.
fn option_list<T: PartialEq>(
    p: &mut Parser<'_>,
    what: &'static str,
    mut one: impl FnMut(&mut Parser<'_>, &[T]) -> PResult<T>,
) -> PResult<Vec<T>> {
    p.expect(b'(', what)?;
    p.enter()?;
    let mut opts = Vec::new();
    if !p.eat(b')') {
        loop {
            let opt = one(p, &opts)?;
            if !opts.contains(&opt) {
                opts.push(opt);
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    }
    p.leave();
    Ok(opts)
}

/// `"(" [list-select-opt *(SP list-select-opt)] ")"`; duplicates dropped.
fn list_selection(p: &mut Parser<'_>) -> PResult<Vec<ListSelection>> {
    let opts = option_list(p, "Expected LIST selection options", |p, _| {
        Ok(match p.atom()?.to_ascii_uppercase().as_slice() {
            b"SUBSCRIBED" => ListSelection::Subscribed,
            b"REMOTE" => ListSelection::Remote,
            b"RECURSIVEMATCH" => ListSelection::RecursiveMatch,
            b"SPECIAL-USE" => ListSelection::SpecialUse,
            _ => return Err("Unknown LIST selection option"),
        })
    })?;
    // RFC 5258 §3.1: RECURSIVEMATCH needs a base option to modify.
    let has_base = opts
        .iter()
        .any(|o| matches!(o, ListSelection::Subscribed | ListSelection::SpecialUse));
    if opts.contains(&ListSelection::RecursiveMatch) && !has_base {
        return Err("RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE");
    }
    Ok(opts)
}

/// `"(" [return-option *(SP return-option)] ")"` after `RETURN SP`;
/// duplicates dropped, a second STATUS refused.
fn list_returns(p: &mut Parser<'_>) -> PResult<Vec<ListReturn>> {
    option_list(p, "Expected LIST return options", |p, so_far| {
        Ok(match p.atom()?.to_ascii_uppercase().as_slice() {
            b"SUBSCRIBED" => ListReturn::Subscribed,
            b"CHILDREN" => ListReturn::Children,
            b"SPECIAL-USE" => ListReturn::SpecialUse,
            b"STATUS" => {
                if so_far.iter().any(|r| matches!(r, ListReturn::Status(_))) {
                    return Err("Duplicate STATUS return option");
                }
                p.sp()?;
                ListReturn::Status(status_items(p)?)
            }
            _ => return Err("Unknown LIST return option"),
        })
    })
}

/// A quota root name (`astring`) as UTF-8.
fn quota_root(p: &mut Parser<'_>) -> PResult<String> {
    let root = p.astring()?;
    to_string(root, "Invalid UTF-8 in quota root")
}

/// `SETQUOTA quota-root SP "(" [resource SP limit *(SP resource SP limit)] ")"`
fn set_quota(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.sp()?;
    let root = quota_root(p)?;
    p.sp()?;
    p.expect(b'(', "Expected quota resource list")?;
    p.enter()?;
    let mut limits: Vec<(QuotaResource, u64)> = Vec::new();
    if !p.eat(b')') {
        loop {
            if limits.len() >= MAX_QUOTA_RESOURCES {
                return Err("Too many quota resources");
            }
            let name = p.atom()?.to_ascii_uppercase();
            let resource = match name.as_slice() {
                b"STORAGE" => QuotaResource::Storage,
                b"MESSAGE" => QuotaResource::Message,
                b"MAILBOX" => QuotaResource::Mailbox,
                b"ANNOTATION-STORAGE" => QuotaResource::AnnotationStorage,
                // Atom characters are printable ASCII.
                _ => QuotaResource::Other(String::from_utf8_lossy(&name).into_owned()),
            };
            if limits.iter().any(|(r, _)| *r == resource) {
                return Err("Duplicate quota resource");
            }
            p.sp()?;
            limits.push((resource, p.number64()?));
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    }
    p.leave();
    Ok(CommandBody::SetQuota { root, limits })
}

fn status_items(p: &mut Parser<'_>) -> PResult<Vec<StatusItem>> {
    p.expect(b'(', "Expected status item list")?;
    p.enter()?;
    let mut items = Vec::new();
    loop {
        let k = p.atom()?.to_ascii_uppercase();
        items.push(match k.as_slice() {
            b"MESSAGES" => StatusItem::Messages,
            b"UIDNEXT" => StatusItem::UidNext,
            b"UIDVALIDITY" => StatusItem::UidValidity,
            b"UNSEEN" => StatusItem::Unseen,
            b"DELETED" => StatusItem::Deleted,
            b"SIZE" => StatusItem::Size,
            b"RECENT" => StatusItem::Recent,
            b"HIGHESTMODSEQ" => StatusItem::HighestModseq,
            _ => return Err("Unknown status item"),
        });
        if p.eat(b')') {
            break;
        }
        p.sp()?;
    }
    p.leave();
    Ok(items)
}

fn id_params(p: &mut Parser<'_>) -> PResult<Option<IdParams>> {
    if p.is_nil() {
        p.i += 3;
        return Ok(None);
    }
    p.expect(b'(', "Expected ID parameter list or NIL")?;
    p.enter()?;
    let mut pairs = Vec::new();
    if !p.eat(b')') {
        loop {
            if pairs.len() >= MAX_ID_PAIRS {
                return Err("Too many ID fields");
            }
            let key = p.string()?;
            p.sp()?;
            let value = p.nstring()?;
            pairs.push((
                String::from_utf8_lossy(&key).into_owned(),
                value.map(|v| String::from_utf8_lossy(&v).into_owned()),
            ));
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    }
    p.leave();
    Ok(Some(pairs))
}

fn fetch(p: &mut Parser<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let items = if p.eat(b'(') {
        p.enter()?;
        let mut items = Vec::new();
        loop {
            items.push(fetch_att(p)?);
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
        p.leave();
        items
    } else {
        let save = p.i;
        let k = p.keyword()?.to_ascii_uppercase();
        use FetchItem as F;
        match k.as_slice() {
            b"ALL" => vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope],
            b"FAST" => vec![F::Flags, F::InternalDate, F::Rfc822Size],
            b"FULL" => vec![
                F::Flags,
                F::InternalDate,
                F::Rfc822Size,
                F::Envelope,
                F::BodyPlain,
            ],
            _ => {
                p.i = save;
                vec![fetch_att(p)?]
            }
        }
    };
    let mut changed_since = None;
    let mut vanished = false;
    if p.eat(b' ') {
        p.expect(b'(', "Expected FETCH modifier list")?;
        p.enter()?;
        loop {
            let m = p.atom()?.to_ascii_uppercase();
            match m.as_slice() {
                b"CHANGEDSINCE" if changed_since.is_none() => {
                    p.sp()?;
                    changed_since = Some(p.mod_sequence()?);
                }
                b"CHANGEDSINCE" => return Err("Duplicate CHANGEDSINCE"),
                b"VANISHED" if !vanished => vanished = true,
                b"VANISHED" => return Err("Duplicate VANISHED"),
                _ => return Err("Unsupported FETCH modifier"),
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
        p.leave();
    }
    // RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE.
    if vanished && !uid {
        return Err("VANISHED is only allowed in UID FETCH");
    }
    if vanished && changed_since.is_none() {
        return Err("VANISHED requires CHANGEDSINCE");
    }
    Ok(CommandBody::Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
    })
}

/// `APPEND mailbox [SP flag-list] [SP date-time] SP (literal / literal8)`
fn append(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    p.sp()?;
    let mut flags = Vec::new();
    if p.peek() == Some(b'(') {
        flags = flag_list(p)?;
        p.sp()?;
    }
    let mut date = None;
    if p.peek() == Some(b'"') {
        let raw = p.quoted()?;
        date = Some(datetime::parse_date_time(&raw).ok_or("Invalid date-time")?);
        p.sp()?;
    }
    if !matches!(p.peek(), Some(b'{') | Some(b'~')) {
        return Err("Expected message literal");
    }
    let (message, binary) = p.literal_data(true)?;
    Ok(CommandBody::Append {
        mailbox,
        flags,
        date,
        message: message.to_vec(),
        binary,
    })
}

/// A flag for STORE/APPEND: one of the five settable system flags
/// (normalised) or a keyword atom.
fn store_flag(p: &mut Parser<'_>) -> PResult<String> {
    if p.eat(b'\\') {
        let name = p.atom()?.to_ascii_uppercase();
        let flag = match name.as_slice() {
            b"SEEN" => "\\Seen",
            b"ANSWERED" => "\\Answered",
            b"FLAGGED" => "\\Flagged",
            b"DELETED" => "\\Deleted",
            b"DRAFT" => "\\Draft",
            b"RECENT" => return Err("\\Recent cannot be set by the client"),
            _ => return Err("Unknown system flag"),
        };
        Ok(flag.to_owned())
    } else {
        // Atom characters are printable ASCII.
        Ok(String::from_utf8_lossy(p.atom()?).into_owned())
    }
}

/// `"(" [flag *(SP flag)] ")"`
fn flag_list(p: &mut Parser<'_>) -> PResult<Vec<String>> {
    p.expect(b'(', "Expected flag list")?;
    p.enter()?;
    let mut flags = Vec::new();
    if !p.eat(b')') {
        loop {
            flags.push(store_flag(p)?);
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    }
    p.leave();
    Ok(flags)
}

/// `STORE sequence-set [store-modifiers] SP store-att-flags`
fn store(p: &mut Parser<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mut unchanged_since = None;
    if p.eat(b'(') {
        p.enter()?;
        loop {
            let m = p.atom()?.to_ascii_uppercase();
            match m.as_slice() {
                b"UNCHANGEDSINCE" if unchanged_since.is_none() => {
                    p.sp()?;
                    unchanged_since = Some(p.number64()?);
                }
                b"UNCHANGEDSINCE" => return Err("Duplicate UNCHANGEDSINCE"),
                _ => return Err("Unsupported STORE modifier"),
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
        p.leave();
        p.sp()?;
    }
    let action = if p.eat(b'+') {
        StoreAction::Add
    } else if p.eat(b'-') {
        StoreAction::Remove
    } else {
        StoreAction::Replace
    };
    let silent = match p.keyword()?.to_ascii_uppercase().as_slice() {
        b"FLAGS" => false,
        b"FLAGS.SILENT" => true,
        _ => return Err("Expected FLAGS, +FLAGS or -FLAGS"),
    };
    p.sp()?;
    let flags = if p.peek() == Some(b'(') {
        flag_list(p)?
    } else {
        let mut flags = vec![store_flag(p)?];
        while p.eat(b' ') {
            flags.push(store_flag(p)?);
        }
        flags
    };
    Ok(CommandBody::Store {
        uid,
        set,
        action,
        silent,
        flags,
        unchanged_since,
    })
}

/// `COPY sequence-set SP mailbox` / `MOVE sequence-set SP mailbox`
fn copy_move(p: &mut Parser<'_>, uid: bool, is_move: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mailbox = p.mailbox()?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}

/// `SEARCH [search-return-opts] SP search-program`
fn search(p: &mut Parser<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let mut ret = None;
    if p.eat_word_sp(b"RETURN") {
        let mut opts = option_list(p, "Expected RETURN option list", |p, _| {
            Ok(match p.atom()?.to_ascii_uppercase().as_slice() {
                b"MIN" => SearchReturn::Min,
                b"MAX" => SearchReturn::Max,
                b"COUNT" => SearchReturn::Count,
                b"ALL" => SearchReturn::All,
                b"SAVE" => SearchReturn::Save,
                _ => return Err("Unknown RETURN option"),
            })
        })?;
        if opts.is_empty() {
            opts.push(SearchReturn::All);
        }
        ret = Some(opts);
        p.sp()?;
    }
    if p.eat_word_sp(b"CHARSET") {
        let cs = p.astring()?;
        check_charset(&cs)?;
        p.sp()?;
    }
    Ok(CommandBody::Search {
        uid,
        ret,
        key: search_keys(p)?,
    })
}

/// Refuses charsets other than UTF-8 and US-ASCII with [`BAD_CHARSET`].
fn check_charset(cs: &[u8]) -> PResult<()> {
    if cs.eq_ignore_ascii_case(b"UTF-8") || cs.eq_ignore_ascii_case(b"US-ASCII") {
        Ok(())
    } else {
        Err(BAD_CHARSET)
    }
}

/// `search-key *(SP search-key)`, several combined with [`SearchKey::And`].
fn search_keys(p: &mut Parser<'_>) -> PResult<SearchKey> {
    let mut keys = vec![search_key(p)?];
    while p.eat(b' ') {
        keys.push(search_key(p)?);
    }
    Ok(and(keys))
}

/// `charset SP search-key *(SP search-key)` of SORT and THREAD, where the
/// charset is an atom or a quoted string (RFC 5256 §4).
fn charset_and_keys(p: &mut Parser<'_>) -> PResult<SearchKey> {
    let charset: Cow<'_, [u8]> = if p.peek() == Some(b'"') {
        Cow::Owned(p.quoted()?)
    } else {
        Cow::Borrowed(p.atom()?)
    };
    // A missing charset (`SORT (DATE) ALL`) is a syntax error, not BADCHARSET.
    p.sp()?;
    check_charset(&charset)?;
    search_keys(p)
}

/// `SORT SP "(" sort-criterion *(SP sort-criterion) ")" SP search-criteria`
fn sort(p: &mut Parser<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    p.expect(b'(', "Expected sort criteria")?;
    p.enter()?;
    let mut criteria = Vec::new();
    loop {
        let mut name = p.atom()?.to_ascii_uppercase();
        let reverse = name == b"REVERSE";
        if reverse {
            p.sp()?;
            name = p.atom()?.to_ascii_uppercase();
        }
        let key = match name.as_slice() {
            b"ARRIVAL" => SortKey::Arrival,
            b"CC" => SortKey::Cc,
            b"DATE" => SortKey::Date,
            b"FROM" => SortKey::From,
            b"SIZE" => SortKey::Size,
            b"SUBJECT" => SortKey::Subject,
            b"TO" => SortKey::To,
            _ => return Err("Unknown sort key"),
        };
        criteria.push(SortCriterion { reverse, key });
        if p.eat(b')') {
            break;
        }
        p.sp()?;
    }
    p.leave();
    p.sp()?;
    let key = charset_and_keys(p)?;
    Ok(CommandBody::Sort { uid, criteria, key })
}

/// `THREAD SP thread-alg SP search-criteria`
fn thread(p: &mut Parser<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let algorithm = match p.atom()?.to_ascii_uppercase().as_slice() {
        b"REFERENCES" => ThreadAlgorithm::References,
        b"ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        _ => return Err("Unsupported threading algorithm"),
    };
    p.sp()?;
    let key = charset_and_keys(p)?;
    Ok(CommandBody::Thread {
        uid,
        algorithm,
        key,
    })
}

/// One key as itself, several as [`SearchKey::And`].
fn and(mut keys: Vec<SearchKey>) -> SearchKey {
    if keys.len() == 1
        && let Some(k) = keys.pop()
    {
        return k;
    }
    SearchKey::And(keys)
}

fn search_string(p: &mut Parser<'_>) -> PResult<String> {
    p.sp()?;
    let s = p.astring()?;
    to_string(s, "Invalid UTF-8 in search string")
}

/// `SP date`, as days since 1970-01-01.
fn search_date(p: &mut Parser<'_>) -> PResult<i64> {
    p.sp()?;
    let raw: Cow<'_, [u8]> = if p.peek() == Some(b'"') {
        Cow::Owned(p.quoted()?)
    } else {
        Cow::Borrowed(p.take_while(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let (y, m, d) = datetime::parse_date(&raw).ok_or("Invalid date")?;
    Ok(datetime::days_from_civil(y, m, d))
}

fn search_keyword(p: &mut Parser<'_>) -> PResult<String> {
    p.sp()?;
    // Atom characters are printable ASCII.
    Ok(String::from_utf8_lossy(p.atom()?).into_owned())
}

/// One `search-key`; nesting (parentheses, NOT, OR) is depth-bounded.
fn search_key(p: &mut Parser<'_>) -> PResult<SearchKey> {
    use SearchKey as K;
    match p.peek() {
        Some(b'(') => {
            p.i += 1;
            p.enter()?;
            let mut keys = vec![search_key(p)?];
            while !p.eat(b')') {
                p.sp()?;
                keys.push(search_key(p)?);
            }
            p.leave();
            return Ok(and(keys));
        }
        Some(b'$') => {
            p.i += 1;
            return Ok(K::Saved);
        }
        Some(b) if b.is_ascii_digit() || b == b'*' => return Ok(K::SequenceSet(p.sequence_set()?)),
        _ => {}
    }
    let k = p.atom()?.to_ascii_uppercase();
    Ok(match k.as_slice() {
        b"ALL" => K::All,
        b"ANSWERED" => K::Answered,
        b"BCC" => K::Bcc(search_string(p)?),
        b"BEFORE" => K::Before(search_date(p)?),
        b"BODY" => K::Body(search_string(p)?),
        b"CC" => K::Cc(search_string(p)?),
        b"DELETED" => K::Deleted,
        b"DRAFT" => K::Draft,
        b"FLAGGED" => K::Flagged,
        b"FROM" => K::From(search_string(p)?),
        b"HEADER" => {
            let name = search_string(p)?;
            K::Header(name, search_string(p)?)
        }
        b"KEYWORD" => K::Keyword(search_keyword(p)?),
        b"LARGER" => {
            p.sp()?;
            K::Larger(p.number64()?)
        }
        b"NEW" => K::New,
        b"NOT" => {
            p.sp()?;
            p.enter()?;
            let k = search_key(p)?;
            p.leave();
            K::Not(Box::new(k))
        }
        b"OLD" => K::Old,
        b"ON" => K::On(search_date(p)?),
        b"OR" => {
            p.sp()?;
            p.enter()?;
            let a = search_key(p)?;
            p.sp()?;
            let b = search_key(p)?;
            p.leave();
            K::Or(Box::new(a), Box::new(b))
        }
        b"RECENT" => K::Recent,
        b"SEEN" => K::Seen,
        b"SENTBEFORE" => K::SentBefore(search_date(p)?),
        b"SENTON" => K::SentOn(search_date(p)?),
        b"SENTSINCE" => K::SentSince(search_date(p)?),
        b"SINCE" => K::Since(search_date(p)?),
        b"SMALLER" => {
            p.sp()?;
            K::Smaller(p.number64()?)
        }
        b"SUBJECT" => K::Subject(search_string(p)?),
        b"TEXT" => K::Text(search_string(p)?),
        b"TO" => K::To(search_string(p)?),
        b"UID" => {
            p.sp()?;
            if p.eat(b'$') {
                K::Saved
            } else {
                K::Uid(p.sequence_set()?)
            }
        }
        b"UNANSWERED" => K::Unanswered,
        b"UNDELETED" => K::Undeleted,
        b"UNDRAFT" => K::Undraft,
        b"UNFLAGGED" => K::Unflagged,
        b"UNKEYWORD" => K::Unkeyword(search_keyword(p)?),
        b"UNSEEN" => K::Unseen,
        b"MODSEQ" => {
            p.sp()?;
            if p.peek() == Some(b'"') {
                // entry-name SP entry-type-req (RFC 7162 §3.1.5), ignored.
                let entry = p.quoted()?;
                let valid = entry
                    .get(..7)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"/flags/"))
                    && entry.len() > 7;
                if !valid {
                    return Err("Invalid MODSEQ entry name");
                }
                p.sp()?;
                let kind = p.atom()?.to_ascii_uppercase();
                if !matches!(kind.as_slice(), b"PRIV" | b"SHARED" | b"ALL") {
                    return Err("Invalid MODSEQ entry type");
                }
                p.sp()?;
            }
            K::Modseq(p.number64()?)
        }
        _ => return Err("Unknown search key"),
    })
}

fn fetch_att(p: &mut Parser<'_>) -> PResult<FetchItem> {
    let k = p.keyword()?.to_ascii_uppercase();
    use FetchItem as F;
    Ok(match k.as_slice() {
        b"ENVELOPE" => F::Envelope,
        b"FLAGS" => F::Flags,
        b"INTERNALDATE" => F::InternalDate,
        b"RFC822" => F::Rfc822,
        b"RFC822.HEADER" => F::Rfc822Header,
        b"RFC822.SIZE" => F::Rfc822Size,
        b"RFC822.TEXT" => F::Rfc822Text,
        b"BODYSTRUCTURE" => F::BodyStructure,
        b"UID" => F::Uid,
        b"MODSEQ" => F::Modseq,
        b"BODY" if p.peek() != Some(b'[') => F::BodyPlain,
        b"BODY" | b"BODY.PEEK" => {
            let section = section(p)?;
            let partial = partial(p)?;
            F::Body {
                peek: k.as_slice() == b"BODY.PEEK",
                section,
                partial,
            }
        }
        b"BINARY" | b"BINARY.PEEK" => {
            let part = binary_section(p)?;
            let partial = partial(p)?;
            F::Binary {
                peek: k.as_slice() == b"BINARY.PEEK",
                part,
                partial,
            }
        }
        b"BINARY.SIZE" => F::BinarySize(binary_section(p)?),
        b"ALL" | b"FAST" | b"FULL" => return Err("FETCH macros cannot be used in a list"),
        _ => return Err("Unknown FETCH item"),
    })
}

fn part_numbers(p: &mut Parser<'_>) -> PResult<Vec<u32>> {
    let mut part = Vec::new();
    while p.peek().is_some_and(|b| b.is_ascii_digit()) {
        if part.len() >= MAX_PART_DEPTH {
            return Err("Section part number too deep");
        }
        part.push(p.nz_number()?);
        let next_is_digit = p.s.get(p.i + 1).is_some_and(u8::is_ascii_digit);
        if p.peek() == Some(b'.') && next_is_digit {
            p.i += 1;
        } else {
            break;
        }
    }
    Ok(part)
}

fn binary_section(p: &mut Parser<'_>) -> PResult<Vec<u32>> {
    p.expect(b'[', "Expected [")?;
    let part = part_numbers(p)?;
    p.expect(b']', "Invalid BINARY section")?;
    Ok(part)
}

fn section(p: &mut Parser<'_>) -> PResult<Section> {
    p.expect(b'[', "Expected [")?;
    let part = part_numbers(p)?;
    let spec = if p.peek() == Some(b']') {
        None
    } else {
        if !part.is_empty() {
            p.expect(b'.', "Invalid section")?;
        }
        let k = p
            .take_while(|b| b.is_ascii_alphabetic() || b == b'.')
            .to_ascii_uppercase();
        Some(match k.as_slice() {
            b"HEADER" => SectionSpec::Header,
            b"TEXT" => SectionSpec::Text,
            b"MIME" if !part.is_empty() => SectionSpec::Mime,
            b"HEADER.FIELDS" => SectionSpec::HeaderFields(header_list(p)?),
            b"HEADER.FIELDS.NOT" => SectionSpec::HeaderFieldsNot(header_list(p)?),
            _ => return Err("Invalid section"),
        })
    };
    p.expect(b']', "Invalid section")?;
    Ok(Section { part, spec })
}

fn header_list(p: &mut Parser<'_>) -> PResult<Vec<String>> {
    p.sp()?;
    p.expect(b'(', "Expected header field list")?;
    p.enter()?;
    let mut fields = Vec::new();
    loop {
        let f = p.astring()?;
        if f.is_empty() || !f.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b':') {
            return Err("Invalid header field name");
        }
        fields.push(String::from_utf8_lossy(&f).into_owned());
        if p.eat(b')') {
            break;
        }
        p.sp()?;
    }
    p.leave();
    Ok(fields)
}

fn partial(p: &mut Parser<'_>) -> PResult<Option<(u32, u32)>> {
    if !p.eat(b'<') {
        return Ok(None);
    }
    let offset = p.number()?;
    p.expect(b'.', "Invalid partial")?;
    let len = p.nz_number()?;
    p.expect(b'>', "Invalid partial")?;
    Ok(Some((offset, len)))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod command_tests;

#[cfg(test)]
mod extension_tests;
