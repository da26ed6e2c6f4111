//! ENVELOPE (RFC 9051 §7.5.2) from a raw header block, with an RFC 5322
//! address-list parser of our own that keeps names and local parts as
//! written (RFC 2047 encoded words are left for the client to decode).

use crate::encode::write_nstring;
use crate::header;

/// Most nested comment levels honoured in an address header.
const MAX_COMMENT_DEPTH: usize = 32;

/// One ENVELOPE address: `(name adl mailbox host)`. A group start is
/// `(NIL NIL group-name NIL)`, a group end `(NIL NIL NIL NIL)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// Display name (phrase), raw.
    pub name: Option<Vec<u8>>,
    /// Source route (`@a,@b`), obsolete.
    pub adl: Option<Vec<u8>>,
    /// Local part, or the group name for a group start.
    pub mailbox: Option<Vec<u8>>,
    /// Domain; `None` only in group markers.
    pub host: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(Vec<u8>),
    Quoted(Vec<u8>),
    Comment(Vec<u8>),
    Special(u8),
}

fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b':' | b';' | b'@' | b'\\' | b',' | b'"'
    )
}

fn tokenize(v: &[u8]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0usize;
    while let Some(&b) = v.get(i) {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                while let Some(&c) = v.get(i) {
                    i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            if let Some(&e) = v.get(i) {
                                s.push(e);
                                i += 1;
                            }
                        }
                        b'\r' | b'\n' => {}
                        _ => s.push(c),
                    }
                }
                toks.push(Tok::Quoted(s));
            }
            b'(' => {
                i += 1;
                let mut depth = 1usize;
                let mut s = Vec::new();
                while let Some(&c) = v.get(i) {
                    i += 1;
                    match c {
                        b'\\' => {
                            if let Some(&e) = v.get(i) {
                                s.push(e);
                                i += 1;
                            }
                        }
                        b'(' => {
                            depth += 1;
                            if depth <= MAX_COMMENT_DEPTH {
                                s.push(c);
                            }
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            s.push(c);
                        }
                        b'\r' | b'\n' => {}
                        _ => s.push(c),
                    }
                }
                toks.push(Tok::Comment(s.trim_ascii().to_vec()));
            }
            b'[' => {
                // Domain literal, kept whole.
                let end = v
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .position(|&c| c == b']')
                    .map_or(v.len(), |p| i + p + 1);
                toks.push(Tok::Word(v.get(i..end).unwrap_or_default().to_vec()));
                i = end;
            }
            _ if is_special(b) => {
                toks.push(Tok::Special(b));
                i += 1;
            }
            _ => {
                let start = i;
                while v
                    .get(i)
                    .is_some_and(|&c| !is_special(c) && !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                {
                    i += 1;
                }
                toks.push(Tok::Word(v.get(start..i).unwrap_or_default().to_vec()));
            }
        }
    }
    toks
}

/// Display name from phrase tokens: words joined by single spaces.
fn phrase(toks: &[Tok]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for t in toks {
        let w: &[u8] = match t {
            Tok::Word(w) | Tok::Quoted(w) => w,
            Tok::Special(b) => std::slice::from_ref(b),
            Tok::Comment(_) => continue,
        };
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(w);
    }
    (!out.is_empty()).then_some(out)
}

/// Concatenates tokens without separators (local parts, domains).
fn concat(toks: &[Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        match t {
            Tok::Word(w) | Tok::Quoted(w) => out.extend_from_slice(w),
            Tok::Special(b) => out.push(*b),
            Tok::Comment(_) => {}
        }
    }
    out
}

fn addr_spec(toks: &[Tok]) -> (Vec<u8>, Vec<u8>) {
    match toks.iter().rposition(|t| *t == Tok::Special(b'@')) {
        Some(at) => (
            concat(toks.get(..at).unwrap_or_default()),
            concat(toks.get(at + 1..).unwrap_or_default()),
        ),
        None => (concat(toks), Vec::new()),
    }
}

/// Parses an address-list header value (unfolded or not) into ENVELOPE
/// addresses, with group markers. Best effort: never fails.
pub fn parse_address_list(value: &[u8]) -> Vec<Address> {
    parse_address_list_strict(value).0
}

/// [`parse_address_list`], and whether the value parsed without skipping or
/// repairing anything (an unclosed `<` or group, words after `>`, a stray `;`).
/// The author check refuses what is not clean, since other parsers may repair
/// it differently.
pub fn parse_address_list_strict(value: &[u8]) -> (Vec<Address>, bool) {
    let toks = tokenize(value);
    let mut clean = true;
    let mut out = Vec::new();
    let mut pending: Vec<Tok> = Vec::new();
    let mut comment: Option<Vec<u8>> = None;
    let mut in_group = false;

    let flush = |pending: &mut Vec<Tok>, comment: &mut Option<Vec<u8>>, out: &mut Vec<Address>| {
        if pending.iter().any(|t| !matches!(t, Tok::Comment(_))) {
            let (mailbox, host) = addr_spec(pending);
            out.push(Address {
                name: comment.take().filter(|c| !c.is_empty()),
                adl: None,
                mailbox: Some(mailbox),
                host: Some(host),
            });
        }
        pending.clear();
        *comment = None;
    };

    let mut i = 0usize;
    while let Some(t) = toks.get(i) {
        i += 1;
        match t {
            Tok::Special(b'<') => {
                let start = i;
                while toks.get(i).is_some_and(|t| *t != Tok::Special(b'>')) {
                    i += 1;
                }
                let inner = toks.get(start..i).unwrap_or_default();
                if i >= toks.len() || inner.contains(&Tok::Special(b'<')) {
                    clean = false;
                }
                i += 1; // '>'
                let (adl, spec) = match inner.first() {
                    Some(Tok::Special(b'@')) => {
                        match inner.iter().position(|t| *t == Tok::Special(b':')) {
                            Some(c) => (
                                Some(concat(inner.get(..c).unwrap_or_default())),
                                inner.get(c + 1..).unwrap_or_default(),
                            ),
                            None => (None, inner),
                        }
                    }
                    _ => (None, inner),
                };
                let (mailbox, host) = addr_spec(spec);
                let name = phrase(&pending);
                if name.is_some() || !mailbox.is_empty() || !host.is_empty() {
                    out.push(Address {
                        name,
                        adl,
                        mailbox: Some(mailbox),
                        host: Some(host),
                    });
                }
                pending.clear();
                comment = None;
                // Skip anything up to the next separator.
                while toks
                    .get(i)
                    .is_some_and(|t| !matches!(t, Tok::Special(b',') | Tok::Special(b';')))
                {
                    if !matches!(toks.get(i), Some(Tok::Comment(_))) {
                        clean = false;
                    }
                    i += 1;
                }
            }
            Tok::Special(b':') if !in_group => {
                out.push(Address {
                    name: None,
                    adl: None,
                    mailbox: Some(phrase(&pending).unwrap_or_default()),
                    host: None,
                });
                pending.clear();
                comment = None;
                in_group = true;
            }
            Tok::Special(b',') => flush(&mut pending, &mut comment, &mut out),
            Tok::Special(b';') => {
                flush(&mut pending, &mut comment, &mut out);
                if in_group {
                    out.push(Address::default());
                    in_group = false;
                } else {
                    clean = false;
                }
            }
            Tok::Comment(c) => comment = Some(c.clone()),
            other => {
                if matches!(other, Tok::Special(b':' | b'>' | b'<')) {
                    clean = false;
                }
                pending.push(other.clone());
            }
        }
    }
    flush(&mut pending, &mut comment, &mut out);
    if in_group {
        clean = false;
        out.push(Address::default());
    }
    (out, clean)
}

fn write_address_list(out: &mut Vec<u8>, list: &[Address]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        write_nstring(out, a.name.as_deref());
        out.push(b' ');
        write_nstring(out, a.adl.as_deref());
        out.push(b' ');
        write_nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        write_nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

/// Writes the ENVELOPE structure of a message whose header block (or whole
/// message; parsing stops at the blank line) is `header_block`.
pub fn write_envelope(out: &mut Vec<u8>, header_block: &[u8]) {
    let fields = header::fields(header_block);
    let get = |name: &str| {
        fields
            .iter()
            .find(|f| {
                f.name
                    .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            })
            .map(|f| f.value)
    };
    let text = |name: &str| get(name).map(header::unfold);
    let addrs = |name: &str| get(name).map(parse_address_list).unwrap_or_default();

    let from = addrs("from");
    let mut sender = addrs("sender");
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = addrs("reply-to");
    if reply_to.is_empty() {
        reply_to = from.clone();
    }

    out.push(b'(');
    write_nstring(out, text("date").as_deref());
    out.push(b' ');
    write_nstring(out, text("subject").as_deref());
    for list in [
        &from,
        &sender,
        &reply_to,
        &addrs("to"),
        &addrs("cc"),
        &addrs("bcc"),
    ] {
        out.push(b' ');
        write_address_list(out, list);
    }
    out.push(b' ');
    write_nstring(out, text("in-reply-to").as_deref());
    out.push(b' ');
    write_nstring(out, text("message-id").as_deref());
    out.push(b')');
}

/// The ENVELOPE structure as bytes (see [`write_envelope`]).
pub fn envelope(header_block: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_envelope(&mut out, header_block);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(name: Option<&str>, mailbox: &str, host: &str) -> Address {
        Address {
            name: name.map(|n| n.as_bytes().to_vec()),
            adl: None,
            mailbox: Some(mailbox.as_bytes().to_vec()),
            host: Some(host.as_bytes().to_vec()),
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address_list(b" bob@example.com"),
            vec![a(None, "bob", "example.com")]
        );
        assert_eq!(
            parse_address_list(b"\"Smith, John\" <john@x.org>, Jane Doe <jane@y.org>"),
            vec![
                a(Some("Smith, John"), "john", "x.org"),
                a(Some("Jane Doe"), "jane", "y.org")
            ]
        );
        assert_eq!(
            parse_address_list(b"joe@z.net (Joe Z)"),
            vec![a(Some("Joe Z"), "joe", "z.net")]
        );
        assert_eq!(
            parse_address_list(b"=?utf-8?q?J=C3=B6rg?= <j@x>"),
            vec![a(Some("=?utf-8?q?J=C3=B6rg?="), "j", "x")]
        );
        assert_eq!(
            parse_address_list(b"<@route1,@route2:user@host>"),
            vec![Address {
                name: None,
                adl: Some(b"@route1,@route2".to_vec()),
                mailbox: Some(b"user".to_vec()),
                host: Some(b"host".to_vec())
            }]
        );
        assert_eq!(
            parse_address_list(b"\"first last\"@example.com"),
            vec![a(None, "first last", "example.com")]
        );
    }

    #[test]
    fn groups() {
        let g = parse_address_list(b"Team: a@x, B <b@y>; c@z");
        assert_eq!(
            g,
            vec![
                Address {
                    mailbox: Some(b"Team".to_vec()),
                    ..Address::default()
                },
                a(None, "a", "x"),
                a(Some("B"), "b", "y"),
                Address::default(),
                a(None, "c", "z"),
            ]
        );
        let g = parse_address_list(b"undisclosed-recipients:;");
        assert_eq!(
            g,
            vec![
                Address {
                    mailbox: Some(b"undisclosed-recipients".to_vec()),
                    ..Address::default()
                },
                Address::default()
            ]
        );
        // unterminated group is closed
        assert_eq!(parse_address_list(b"G: a@b").len(), 3);
    }

    #[test]
    fn garbage_addresses() {
        assert!(parse_address_list(b"").is_empty());
        assert!(parse_address_list(b"  ,, ; <>").is_empty());
        let _ = parse_address_list(b"<<<>>>@@@::;;((((\"\\");
        let _ = parse_address_list(b"\xff\xfe <\xff@\xfe>");
    }

    #[test]
    fn envelope_defaults() {
        let h = b"From: Bob <bob@x.org>\r\nTo: a@b\r\nSubject: Hi\r\n there\r\n\r\n";
        let e = String::from_utf8(envelope(h)).unwrap();
        assert_eq!(
            e,
            "(NIL \"Hi there\" ((\"Bob\" NIL \"bob\" \"x.org\")) ((\"Bob\" NIL \"bob\" \"x.org\")) ((\"Bob\" NIL \"bob\" \"x.org\")) ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL)"
        );
        assert_eq!(envelope(b""), b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    }

    proptest! {
        #[test]
        fn never_panics(v in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_address_list(&v);
            let _ = envelope(&v);
        }
    }
}
