//! Response building helpers: atoms, quoted strings, literals, status lines.

use crate::command::MailboxName;

/// Longest string written as a quoted string; longer ones become literals.
const MAX_QUOTED: usize = 1000;

/// The kind of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
    /// `BYE` (untagged only)
    Bye,
    /// `PREAUTH` (untagged greeting only)
    PreAuth,
}

impl Status {
    /// The keyword as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Bye => "BYE",
            Status::PreAuth => "PREAUTH",
        }
    }
}

/// `ATOM-CHAR` of RFC 9051 (any CHAR except atom-specials).
pub fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR`: `ATOM-CHAR` or `]`.
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// Whether `s` can be sent as a quoted string without escapes: short,
/// 7-bit, no NUL/CR/LF, no `"` or `\`.
fn quotable(s: &[u8]) -> bool {
    s.len() <= MAX_QUOTED
        && s.iter()
            .all(|&b| matches!(b, 0x01..=0x7f) && !matches!(b, b'\r' | b'\n' | b'"' | b'\\'))
}

/// Writes `s` as a synchronising-literal-form `{n}\r\n` + bytes (servers
/// never wait for a continuation).
pub fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// Writes `s` as a `literal8` (`~{n}\r\n` + bytes), for binary content that
/// may hold NUL (RFC 3516).
pub fn write_literal8(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("~{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// Writes `s` as an IMAP `string`: quoted when that is safe (7-bit, short, no
/// CR/LF, `"` or `\`), a literal otherwise.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if quotable(s) {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    } else {
        write_literal(out, s);
    }
}

/// Writes `s` as an IMAP `astring`: a bare atom when every byte is an
/// `ASTRING-CHAR` (and it is not `NIL`), otherwise like [`write_string`].
pub fn write_astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty()
        && s.len() <= MAX_QUOTED
        && s.iter().all(|&b| is_astring_char(b))
        && !s.eq_ignore_ascii_case(b"NIL")
    {
        out.extend_from_slice(s);
    } else {
        write_string(out, s);
    }
}

/// Writes an `nstring`: `NIL` for `None`, a string otherwise.
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes a mailbox name as an astring in the client's encoding (modified
/// UTF-7 unless UTF-8 was enabled). `INBOX` is always sent as such.
pub fn write_mailbox(out: &mut Vec<u8>, name: &MailboxName, utf8: bool) {
    write_astring(out, &name.to_wire(utf8));
}

/// Writes a parenthesised flag list: `(\Seen $Label)`. Flags are written as
/// given; the caller keeps them valid (`\`-prefixed system flags, atoms).
pub fn write_flag_list<S: AsRef<str>>(out: &mut Vec<u8>, flags: &[S]) {
    out.push(b'(');
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let f = f.as_ref().as_bytes();
        // A flag is an atom (optionally after one backslash); drop any byte
        // that would break the syntax rather than corrupt the response.
        for (j, &b) in f.iter().enumerate() {
            if is_atom_char(b) || (j == 0 && b == b'\\') {
                out.push(b);
            }
        }
    }
    out.push(b')');
}

fn push_sanitised(out: &mut Vec<u8>, s: &str, forbid: &[u8]) {
    for &b in s.as_bytes() {
        if b == b'\r' || b == b'\n' || b == 0 || forbid.contains(&b) {
            out.push(b' ');
        } else {
            out.push(b);
        }
    }
}

/// Builds a status response line: `<tag|*> OK [CODE] text\r\n`.
///
/// CR, LF and NUL in `code` and `text` are replaced by spaces (and `]` in the
/// code), so peer-influenced text cannot inject a response line. An empty
/// text is replaced by the keyword, since rev1 requires text.
pub fn status_response(tag: Option<&str>, kind: Status, code: Option<&str>, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 32);
    match tag {
        Some(t) if !t.is_empty() => push_sanitised(&mut out, t, b" "),
        _ => out.push(b'*'),
    }
    out.push(b' ');
    out.extend_from_slice(kind.as_str().as_bytes());
    out.push(b' ');
    if let Some(code) = code {
        out.push(b'[');
        push_sanitised(&mut out, code, b"]");
        out.extend_from_slice(b"] ");
    }
    if text.is_empty() {
        out.extend_from_slice(kind.as_str().as_bytes());
    } else {
        push_sanitised(&mut out, text, b"");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Builds a continuation request line: `+ text\r\n` (text sanitised).
pub fn continuation(text: &str) -> Vec<u8> {
    let mut out = b"+ ".to_vec();
    push_sanitised(&mut out, text, b"");
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings() {
        assert_eq!(s(|o| write_astring(o, b"INBOX")), "INBOX");
        assert_eq!(s(|o| write_astring(o, b"a]b")), "a]b");
        assert_eq!(s(|o| write_astring(o, b"")), "\"\"");
        assert_eq!(s(|o| write_astring(o, b"nil")), "\"nil\"");
        assert_eq!(s(|o| write_astring(o, b"two words")), "\"two words\"");
        assert_eq!(s(|o| write_astring(o, b"a\"b")), "{3}\r\na\"b");
        assert_eq!(s(|o| write_string(o, b"x")), "\"x\"");
        assert_eq!(s(|o| write_string(o, b"a\\b")), "{3}\r\na\\b");
        assert_eq!(s(|o| write_string(o, b"l1\r\nl2")), "{6}\r\nl1\r\nl2");
        assert_eq!(s(|o| write_string(o, "é".as_bytes())), "{2}\r\né");
        assert_eq!(s(|o| write_string(o, &[b'a'; 1001])).len(), 1001 + 8);
        assert_eq!(s(|o| write_nstring(o, None)), "NIL");
        assert_eq!(s(|o| write_nstring(o, Some(b""))), "\"\"");
        assert_eq!(s(|o| write_literal8(o, b"\0")), "~{1}\r\n\0");
        assert_eq!(
            s(|o| write_flag_list(o, &["\\Seen", "$Junk", "bad(flag"])),
            "(\\Seen $Junk badflag)"
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_response(
                Some("a1"),
                Status::Ok,
                Some("READ-WRITE"),
                "SELECT completed"
            ),
            b"a1 OK [READ-WRITE] SELECT completed\r\n"
        );
        assert_eq!(
            status_response(None, Status::Bye, None, "bye"),
            b"* BYE bye\r\n"
        );
        assert_eq!(
            status_response(Some("t"), Status::Bad, Some("X]\r\n"), "evil\r\n* OK"),
            b"t BAD [X   ] evil  * OK\r\n"
        );
        assert_eq!(
            status_response(Some("t"), Status::No, None, ""),
            b"t NO NO\r\n"
        );
        assert_eq!(continuation("Ready"), b"+ Ready\r\n");
    }
}
