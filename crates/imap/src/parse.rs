//! Command parser (RFC 9051 §9 grammar, the subset listed in
//! [`CommandBody`]).
//!
//! The parser works on one complete frame from the [`crate::Framer`]
//! (literals inline). It never panics on any input; nesting of parenthesised
//! lists is bounded by [`MAX_DEPTH`].

use std::borrow::Cow;
use std::fmt;

use crate::command::{
    Command, CommandBody, FetchItem, IdParams, MailboxName, Secret, Section, SectionSpec,
    StatusItem,
};
use crate::encode::{is_astring_char, is_atom_char};
use crate::mutf7;
use crate::sequence::SequenceSet;

/// Deepest nesting of parenthesised lists accepted.
pub const MAX_DEPTH: usize = 8;
/// Most part numbers in one section (`1.2.3...`).
pub const MAX_PART_DEPTH: usize = 32;
/// Most field/value pairs in an ID command (RFC 2971).
pub const MAX_ID_PAIRS: usize = 30;

/// Connection-dependent parsing options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// UTF-8 mailbox names are in use (IMAP4rev2 or UTF8=ACCEPT enabled):
    /// mailbox names and LIST arguments are taken as UTF-8 instead of being
    /// decoded from modified UTF-7.
    pub utf8: bool,
}

/// A command that could not be parsed. Answer with
/// `<tag or *> BAD <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The tag, when it could be read.
    pub tag: Option<String>,
    /// Human-readable reason (no CR/LF).
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} BAD {}",
            self.tag.as_deref().unwrap_or("*"),
            self.message
        )
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
        if data.contains(&0) {
            return Err("NUL in literal");
        }
        Ok(data)
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
            });
        }
    };
    match command_body(&mut p) {
        Ok(body) => Ok(Command { tag, body }),
        Err(message) => Err(ParseError {
            tag: Some(tag),
            message: message.to_owned(),
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
            let condstore = select_params(p)?;
            if name == b"SELECT" {
                CommandBody::Select { mailbox, condstore }
            } else {
                CommandBody::Examine { mailbox, condstore }
            }
        }
        b"LIST" => {
            p.sp()?;
            if p.peek() == Some(b'(') {
                return Err("LIST selection options are not supported");
            }
            let reference = p.astring()?;
            let reference = p.list_text(&reference)?;
            p.sp()?;
            if p.peek() == Some(b'(') {
                return Err("Multiple LIST patterns are not supported");
            }
            let pattern = p.list_mailbox()?;
            let pattern = p.list_text(&pattern)?;
            if p.peek() == Some(b' ') {
                return Err("LIST return options are not supported");
            }
            CommandBody::List { reference, pattern }
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

fn select_params(p: &mut Parser<'_>) -> PResult<bool> {
    let mut condstore = false;
    if !p.eat(b' ') {
        return Ok(false);
    }
    p.expect(b'(', "Expected select parameter list")?;
    p.enter()?;
    if !p.eat(b')') {
        loop {
            let param = p.atom()?;
            if param.eq_ignore_ascii_case(b"CONDSTORE") {
                condstore = true;
            } else {
                return Err("Unsupported select parameter");
            }
            if p.eat(b')') {
                break;
            }
            p.sp()?;
        }
    }
    p.leave();
    Ok(condstore)
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
    let raw = p.take_while(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'));
    let set = SequenceSet::parse(raw).map_err(|_| "Invalid sequence set")?;
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
    if p.peek() == Some(b' ') {
        return Err("FETCH modifiers are not supported");
    }
    Ok(CommandBody::Fetch { uid, set, items })
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
