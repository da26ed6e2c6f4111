//! Response building helpers: atoms, quoted strings, literals, status lines.

use std::fmt::Write as _;

use crate::command::{ListSelection, MailboxName, SearchReturn};

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
/// Also used for mailbox attribute lists (`(\HasNoChildren \Sent)`).
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

/// Sorted numbers without duplicates or zeros (a copy only when needed).
fn sorted_unique(nums: &[u32]) -> Vec<u32> {
    let mut v: Vec<u32> = nums.iter().copied().filter(|&n| n != 0).collect();
    if !v.is_sorted() {
        v.sort_unstable();
    }
    v.dedup();
    v
}

fn compress_sorted(nums: &[u32]) -> String {
    let mut out = String::new();
    let push = |out: &mut String, lo: u32, hi: u32| {
        if !out.is_empty() {
            out.push(',');
        }
        // Writing to a String cannot fail.
        let _ = if lo == hi {
            write!(out, "{lo}")
        } else {
            write!(out, "{lo}:{hi}")
        };
    };
    let mut it = nums.iter().copied();
    let Some(first) = it.next() else {
        return out;
    };
    let (mut lo, mut hi) = (first, first);
    for n in it {
        if hi.checked_add(1) == Some(n) {
            hi = n;
        } else {
            push(&mut out, lo, hi);
            lo = n;
            hi = n;
        }
    }
    push(&mut out, lo, hi);
    out
}

/// Renders numbers as a compact sequence set: `[1, 2, 3, 5, 7, 8, 9]` gives
/// `1:3,5,7:9`. The input need not be sorted; duplicates and zeros are
/// dropped. An empty input gives an empty string (which is not a valid
/// set: leave the item out instead).
pub fn compress_set(nums: &[u32]) -> String {
    compress_sorted(&sorted_unique(nums))
}

/// Builds an ESEARCH response (RFC 9051 §7.3.4, RFC 4731):
/// `* ESEARCH (TAG "a1") UID MIN 2 MAX 9 COUNT 5 ALL 2:4,7,9\r\n`.
///
/// `results` are the matching sequence numbers, or UIDs when `uid` (any
/// order; duplicates are ignored). The data items requested in `returns` are
/// written in the order MIN, MAX, COUNT, ALL; MIN, MAX and ALL are left out
/// when nothing matched (`COUNT 0` is still sent). An empty `returns` (a
/// rev2 SEARCH without RETURN) means ALL. `SAVE` adds no data, and when it
/// is the only option no ESEARCH response may be sent (RFC 5182): this then
/// returns an empty vector.
pub fn esearch_response(
    tag: Option<&str>,
    uid: bool,
    returns: &[SearchReturn],
    results: &[u32],
) -> Vec<u8> {
    let all_only = [SearchReturn::All];
    let returns = if returns.is_empty() {
        &all_only[..]
    } else {
        returns
    };
    if returns.iter().all(|r| *r == SearchReturn::Save) {
        return Vec::new();
    }
    let nums = sorted_unique(results);
    let mut out = b"* ESEARCH".to_vec();
    if let Some(tag) = tag {
        out.extend_from_slice(b" (TAG ");
        write_string(&mut out, tag.as_bytes());
        out.push(b')');
    }
    if uid {
        out.extend_from_slice(b" UID");
    }
    let want = |r| returns.contains(&r);
    if let (true, Some(min)) = (want(SearchReturn::Min), nums.first()) {
        out.extend_from_slice(format!(" MIN {min}").as_bytes());
    }
    if let (true, Some(max)) = (want(SearchReturn::Max), nums.last()) {
        out.extend_from_slice(format!(" MAX {max}").as_bytes());
    }
    if want(SearchReturn::Count) {
        out.extend_from_slice(format!(" COUNT {}", nums.len()).as_bytes());
    }
    if want(SearchReturn::All) && !nums.is_empty() {
        out.extend_from_slice(b" ALL ");
        out.extend_from_slice(compress_sorted(&nums).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Builds a VANISHED response (QRESYNC, RFC 7162 §3.2.10):
/// `* VANISHED (EARLIER) 1:3,7\r\n`, or `* VANISHED 1:3,7\r\n` when not
/// `earlier`.
///
/// `uids` need not be sorted; duplicates and zeros are dropped. When no UID
/// is left, nothing may be sent and this returns an empty vector.
pub fn vanished_response(earlier: bool, uids: &[u32]) -> Vec<u8> {
    let set = compress_set(uids);
    if set.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(set.len() + 32);
    out.extend_from_slice(b"* VANISHED ");
    if earlier {
        out.extend_from_slice(b"(EARLIER) ");
    }
    out.extend_from_slice(set.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// Builds a LIST response with `/` as the hierarchy delimiter:
/// `* LIST (\HasChildren) "/" Archive ("CHILDINFO" ("SUBSCRIBED"))\r\n`.
///
/// The name is written as by [`write_mailbox`] (modified UTF-7 unless
/// `utf8`), the attributes as by [`write_flag_list`] (`\`-prefixed names;
/// bytes that would break the syntax are dropped). `childinfo` gives the
/// `CHILDINFO` extended data of LIST-EXTENDED (RFC 5258 §3.5): the selection
/// criteria that some child of this mailbox matches, for a RECURSIVEMATCH
/// listing. Only `SUBSCRIBED` and `SPECIAL-USE` can appear there; other
/// options and duplicates are left out, and no extended data is written when
/// nothing is left.
pub fn list_response<S: AsRef<str>>(
    name: &MailboxName,
    utf8: bool,
    attributes: &[S],
    childinfo: &[ListSelection],
) -> Vec<u8> {
    let mut out = b"* LIST ".to_vec();
    write_flag_list(&mut out, attributes);
    out.extend_from_slice(b" \"/\" ");
    write_mailbox(&mut out, name, utf8);
    let mut info: Vec<ListSelection> = Vec::new();
    for &c in childinfo {
        if matches!(c, ListSelection::Subscribed | ListSelection::SpecialUse) && !info.contains(&c)
        {
            info.push(c);
        }
    }
    if !info.is_empty() {
        out.extend_from_slice(b" (\"CHILDINFO\" (");
        for (i, c) in info.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            write_string(&mut out, c.as_str().as_bytes());
        }
        out.extend_from_slice(b"))");
    }
    out.extend_from_slice(b"\r\n");
    out
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

    #[test]
    fn compress() {
        assert_eq!(compress_set(&[]), "");
        assert_eq!(compress_set(&[0]), "");
        assert_eq!(compress_set(&[4]), "4");
        assert_eq!(compress_set(&[1, 2, 3, 5, 7, 8, 9]), "1:3,5,7:9");
        assert_eq!(compress_set(&[9, 1, 3, 2, 2, 0, 8, 7, 5]), "1:3,5,7:9");
        assert_eq!(compress_set(&[1, 3, 5]), "1,3,5");
        assert_eq!(
            compress_set(&[u32::MAX - 1, u32::MAX, 1]),
            "1,4294967294:4294967295"
        );
        // the output parses back to the same numbers
        let nums = [2, 3, 4, 10, 11, 40, 41, 42, 43, 100];
        let set = crate::SequenceSet::parse(compress_set(&nums).as_bytes()).unwrap();
        assert_eq!(set.iter_resolved(1000).collect::<Vec<_>>(), nums);
    }

    #[test]
    fn esearch() {
        use SearchReturn as R;
        let all = [R::Min, R::Max, R::Count, R::All];
        assert_eq!(
            esearch_response(Some("a1"), true, &all, &[9, 2, 3, 4, 7]),
            b"* ESEARCH (TAG \"a1\") UID MIN 2 MAX 9 COUNT 5 ALL 2:4,7,9\r\n"
        );
        assert_eq!(
            esearch_response(Some("t"), false, &[R::Count, R::Min], &[]),
            b"* ESEARCH (TAG \"t\") COUNT 0\r\n"
        );
        assert_eq!(
            esearch_response(Some("t"), false, &all, &[]),
            b"* ESEARCH (TAG \"t\") COUNT 0\r\n"
        );
        assert_eq!(
            esearch_response(Some("t"), false, &[], &[1, 2]),
            b"* ESEARCH (TAG \"t\") ALL 1:2\r\n"
        );
        assert_eq!(
            esearch_response(None, false, &[R::Max, R::Save], &[5, 1]),
            b"* ESEARCH MAX 5\r\n"
        );
        assert!(esearch_response(Some("t"), true, &[R::Save], &[1]).is_empty());
    }

    #[test]
    fn vanished() {
        assert_eq!(
            vanished_response(true, &[7, 3, 1, 2, 2]),
            b"* VANISHED (EARLIER) 1:3,7\r\n"
        );
        assert_eq!(
            vanished_response(false, &[405, 407, 406, 410]),
            b"* VANISHED 405:407,410\r\n"
        );
        assert_eq!(vanished_response(false, &[9]), b"* VANISHED 9\r\n");
        assert!(vanished_response(true, &[]).is_empty());
        assert!(vanished_response(false, &[0, 0]).is_empty());
    }

    #[test]
    fn list_responses() {
        use ListSelection as L;
        let inbox = MailboxName::new("INBOX").unwrap();
        let none: [&str; 0] = [];
        assert_eq!(
            list_response(&inbox, false, &none, &[]),
            b"* LIST () \"/\" INBOX\r\n"
        );
        assert_eq!(
            list_response(&inbox, false, &["\\HasNoChildren", "\\Subscribed"], &[]),
            b"* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX\r\n"
        );
        let foo = MailboxName::new("Foo Bar").unwrap();
        assert_eq!(
            list_response(&foo, false, &["\\NonExistent"], &[L::Subscribed]),
            b"* LIST (\\NonExistent) \"/\" \"Foo Bar\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
        // only base options, each once, in the given order
        assert_eq!(
            list_response(
                &foo,
                false,
                &none,
                &[
                    L::SpecialUse,
                    L::RecursiveMatch,
                    L::Remote,
                    L::Subscribed,
                    L::SpecialUse
                ]
            ),
            b"* LIST () \"/\" \"Foo Bar\" (\"CHILDINFO\" (\"SPECIAL-USE\" \"SUBSCRIBED\"))\r\n"
        );
        assert_eq!(
            list_response(&foo, false, &["\\HasChildren"], &[L::RecursiveMatch]),
            b"* LIST (\\HasChildren) \"/\" \"Foo Bar\"\r\n"
        );
        // name encoding and attribute sanitising
        let jp = MailboxName::new("日本語/x").unwrap();
        assert_eq!(
            list_response(&jp, false, &["\\Sent\r\n* BYE"], &[]),
            b"* LIST (\\SentBYE) \"/\" &ZeVnLIqe-/x\r\n"
        );
        assert_eq!(
            list_response(&jp, true, &none, &[]),
            "* LIST () \"/\" {11}\r\n日本語/x\r\n".as_bytes()
        );
    }
}
