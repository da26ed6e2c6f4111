//! SEARCH evaluation: whether a message matches a parsed search key, and what a key needs
//! (header fields, bytes, the full-text index). Pure: the front end reads what is needed
//! and hands it in as a [`Candidate`].
//!
//! Header keys match case-insensitively as substrings (RFC 9051 §6.4.4), of the decoded
//! values (RFC 2047 encoded words decoded) and of the raw ones. BODY and TEXT are answered by
//! the full-text index ([`mailkeep_core::index`]) over every part's text after its transfer
//! encoding and charset (HTML reduced to text): the string's words must occur in sequence,
//! the last one as the start of a word — "invoice 20" finds "Invoice 2026" — but a piece from
//! inside a word ("voice") is not found. That is the trade every indexed IMAP server makes
//! (Dovecot with FTS behaves the same); reading every body of a large mailbox on each search is
//! the alternative. Bodies the index has not reached yet are read and matched by the same
//! rule, and a string with no letters or digits at all falls back to a substring of the raw
//! bytes. RECENT follows RFC 3501 for rev1 sessions (IMAP4rev2 drops it).

use std::collections::{HashMap, HashSet};

use crate::discover::Document;
use crate::index::{Cond, MailIndex, Needle, Part};
use crate::store::{Backend, Hash, MessageEntry};
use mailkeep_imap::SearchKey;

/// Whether a key reads header fields (answered from the parsed record, see FETCH).
pub fn needs_header(key: &SearchKey) -> bool {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().any(needs_header),
        Not(k) => needs_header(k),
        Or(a, b) => needs_header(a) || needs_header(b),
        Bcc(_) | Cc(_) | From(_) | Header(..) | Subject(_) | To(_) | SentBefore(_) | SentOn(_)
        | SentSince(_) => true,
        _ => false,
    }
}

/// Whether a key reads the message's bytes: BODY or TEXT without words to look up.
pub fn needs_content(key: &SearchKey) -> bool {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().any(needs_content),
        Not(k) => needs_content(k),
        Or(a, b) => needs_content(a) || needs_content(b),
        Body(s) | Text(s) => Needle::with_prefix(s, true).is_none(),
        _ => false,
    }
}

fn has_flag(m: &MessageEntry, flag: &str) -> bool {
    m.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

/// Case-insensitive substring (the RFC's rule for header keys).
pub fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let needle = needle.to_lowercase();
    if needle.is_empty() {
        return true;
    }
    String::from_utf8_lossy(hay)
        .to_lowercase()
        .contains(&needle)
}

/// A parsed record's header section without its empty line, as [`split`] gives it.
pub fn header_fields(header: &[u8]) -> &[u8] {
    &header[..mailkeep_imap::header_fields_len(header)]
}

/// The header fields (without the blank line that ends them) and the body.
pub fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    (
        &raw[..mailkeep_imap::header_fields_len(raw)],
        &raw[mailkeep_imap::header_len(raw)..],
    )
}

/// Decoded (RFC 2047, address lists written out) values of every field called `name`.
fn decoded_values(header: &[u8], name: &str) -> Vec<String> {
    let Some(parsed) = mail_parser::MessageParser::default().parse_headers(header) else {
        return Vec::new();
    };
    parsed
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| crate::discover::header_text(h.value()))
        .collect()
}

/// The BODY and TEXT strings of a key, with whether each is TEXT.
pub fn text_keys(key: &SearchKey, out: &mut Vec<(bool, String)>) {
    use SearchKey::*;
    match key {
        And(keys) => keys.iter().for_each(|k| text_keys(k, out)),
        Not(k) => text_keys(k, out),
        Or(a, b) => {
            text_keys(a, out);
            text_keys(b, out);
        }
        Body(s) => out.push((false, s.clone())),
        Text(s) => out.push((true, s.clone())),
        _ => {}
    }
}

/// BODY (or TEXT, which adds the header fields and attachment names) as an index condition.
pub fn text_cond(text: bool, n: Needle) -> Cond {
    if text {
        Cond::Any(vec![
            Cond::In(Part::Headers, n.clone()),
            Cond::In(Part::Body, n.clone()),
            Cond::In(Part::Attachment, n),
        ])
    } else {
        Cond::In(Part::Body, n)
    }
}

/// What the index answered for the BODY and TEXT strings of one SEARCH.
pub struct Answers {
    /// The bodies matching each string.
    pub hits: HashMap<(bool, String), HashSet<Hash>>,
    /// Bodies stored after the index's snapshot: read and matched here.
    pub unreached: HashSet<Hash>,
}

/// Each BODY/TEXT string of a SEARCH as words, worked out once (`None`: no words in it).
pub type Needles = HashMap<(bool, String), Option<Needle>>;

/// Asks the index about each BODY/TEXT string; what it has not reached is listed apart.
pub fn ask_index(
    index: &MailIndex,
    store: &dyn Backend,
    needles: Needles,
) -> Result<Answers, String> {
    let (snap, unreached) = index.snapshot_with_gap(store).map_err(|e| e.to_string())?;
    let mut hits = HashMap::new();
    for (key, needle) in needles {
        let Some(n) = needle else {
            continue;
        };
        let found = index
            .matching(&snap, Some(&text_cond(key.0, n)))
            .map_err(|e| e.to_string())?;
        hits.insert(key, found.into_keys().collect());
    }
    Ok(Answers { hits, unreached })
}

pub use mailkeep_imap::field_values;

/// Day number (days since 1970-01-01) of a `Date:` value, time and zone disregarded
/// (RFC 9051 SENT* keys).
pub fn sent_day(header: &[u8]) -> Option<i64> {
    let value = field_values(header, "Date").into_iter().next()?;
    mailkeep_imap::datetime::header_date(value.as_bytes()).map(|d| d.day)
}

/// One message as SEARCH sees it.
pub struct Candidate<'a> {
    /// Its sequence number.
    pub seq: u32,
    /// The mailbox's highest sequence number (`*`).
    pub max_seq: u32,
    /// The mailbox's highest UID (`*` in UID sets).
    pub max_uid: u32,
    /// The message.
    pub entry: &'a MessageEntry,
    /// Its bytes, when a key needs them.
    pub raw: Option<&'a [u8]>,
    /// The header section, when a key needs it.
    pub header: Option<&'a [u8]>,
    /// The saved result (`$`), ascending UIDs.
    pub saved: &'a [u32],
    /// This session's `\Recent` UIDs, ascending.
    pub recent: &'a [u32],
    /// Decoded text, for BODY and TEXT when the index has not reached the body.
    pub doc: Option<&'a Document>,
    /// The index's answers for BODY and TEXT.
    pub answers: Option<&'a Answers>,
    /// The BODY and TEXT strings as words.
    pub needles: &'a Needles,
}

/// BODY or TEXT: the index's answer, or the same rule on the body in hand.
pub fn text_matches(c: &Candidate<'_>, text: bool, s: &str) -> bool {
    let key = (text, s.to_owned());
    let Some(Some(n)) = c.needles.get(&key) else {
        let raw = c.raw.unwrap_or_default();
        return contains_ci(if text { raw } else { split(raw).1 }, s);
    };
    if let Some(a) = c.answers
        && !a.unreached.contains(&c.entry.hash)
        && let Some(hits) = a.hits.get(&key)
    {
        return hits.contains(&c.entry.hash);
    }
    c.doc.is_some_and(|d| text_cond(text, n.clone()).holds(d))
}

/// Whether the message matches the key.
pub fn matches(key: &SearchKey, c: &Candidate<'_>) -> bool {
    use SearchKey::*;
    let m = c.entry;
    let day = m.internal_date.div_euclid(86_400);
    let header = || c.header.unwrap_or_default();
    let field = |name: &str, s: &str| {
        field_values(header(), name)
            .iter()
            .chain(decoded_values(header(), name).iter())
            .any(|v| contains_ci(v.as_bytes(), s))
    };
    match key {
        And(keys) => keys.iter().all(|k| matches(k, c)),
        All => true,
        Answered => has_flag(m, "\\Answered"),
        Deleted => has_flag(m, "\\Deleted"),
        Draft => has_flag(m, "\\Draft"),
        Flagged => has_flag(m, "\\Flagged"),
        Seen => has_flag(m, "\\Seen"),
        Unanswered => !has_flag(m, "\\Answered"),
        Undeleted => !has_flag(m, "\\Deleted"),
        Undraft => !has_flag(m, "\\Draft"),
        Unflagged => !has_flag(m, "\\Flagged"),
        Unseen => !has_flag(m, "\\Seen"),
        Keyword(k) => has_flag(m, k),
        Unkeyword(k) => !has_flag(m, k),
        Recent => c.recent.binary_search(&m.uid).is_ok(),
        New => c.recent.binary_search(&m.uid).is_ok() && !has_flag(m, "\\Seen"),
        Old => c.recent.binary_search(&m.uid).is_err(),
        Before(d) => day < *d,
        On(d) => day == *d,
        Since(d) => day >= *d,
        SentBefore(d) => sent_day(header()).is_some_and(|s| s < *d),
        SentOn(d) => sent_day(header()).is_some_and(|s| s == *d),
        SentSince(d) => sent_day(header()).is_some_and(|s| s >= *d),
        Larger(n) => m.size > *n,
        Smaller(n) => m.size < *n,
        Bcc(s) => field("Bcc", s),
        Cc(s) => field("Cc", s),
        From(s) => field("From", s),
        To(s) => field("To", s),
        Subject(s) => field("Subject", s),
        Header(name, s) => {
            let values = field_values(header(), name);
            !values.is_empty() && values.iter().any(|v| contains_ci(v.as_bytes(), s))
        }
        Body(s) => text_matches(c, false, s),
        Text(s) => text_matches(c, true, s),
        Uid(set) => set.contains(m.uid, c.max_uid),
        SequenceSet(set) => set.contains(c.seq, c.max_seq),
        Modseq(n) => m.modseq >= *n,
        Not(k) => !matches(k, c),
        Or(a, b) => matches(a, c) || matches(b, c),
        Saved => c.saved.binary_search(&m.uid).is_ok(),
    }
}

/// A message that matched, with its header block when asked for.
pub struct Hit {
    /// Its sequence number.
    pub seq: u32,
    /// The message.
    pub entry: MessageEntry,
    /// Its header fields, when the caller asked for them (SORT, THREAD).
    pub header: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_unfold_and_match() {
        let h = b"From: Alice\r\n <alice@example.org>\r\nSubject: Hello World\r\nDate: Fri, 27 Nov 2026 01:46:59 +0000\r\n\r\n";
        assert_eq!(field_values(h, "from"), ["Alice <alice@example.org>"]);
        assert!(contains_ci(
            field_values(h, "Subject")[0].as_bytes(),
            "hello"
        ));
        assert_eq!(
            sent_day(h),
            Some(mailkeep_imap::datetime::days_from_civil(2026, 11, 27))
        );
        assert_eq!(sent_day(b"Date: garbage\r\n\r\n"), None);
    }
}
