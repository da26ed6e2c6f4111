//! Discovery: finding any message ever received, deleted ones included, and handing it over
//! with proof. The query language, the documents it matches, search, export, and the
//! outsider's check of an export.
//!
//! Search asks the full-text index ([`crate::index`]) which bodies match and the store who
//! holds them, and reads whatever the index has not reached yet: exact either way (no false
//! hits, no skipped message; one that cannot be parsed is matched on its raw text, one that
//! cannot be read is named).

use std::collections::{HashMap, HashSet};

use mail_parser::{MessageParser, MimeHeaders, PartType};

use crate::index::{Cond, MailIndex, Needle, Part};
use crate::store::journal::{ActorKind, Event, Kind};
use crate::store::{self, Backend, EntryRecord};

/// One condition; a query is all of them (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Anywhere: headers, body text, attachment names.
    Text(Needle),
    /// `from:`
    From(Needle),
    /// `to:` (To and Cc, as a reader expects)
    To(Needle),
    /// `cc:`
    Cc(Needle),
    /// `subject:`
    Subject(Needle),
    /// `body:`
    Body(Needle),
    /// `attachment:` (file names)
    Attachment(Needle),
    /// `account:`
    Account(String),
    /// `mailbox:`
    Mailbox(String),
    /// `after:` (arrival on or after; unix seconds)
    After(i64),
    /// `before:` (arrival before)
    Before(i64),
    /// `has:attachment`
    HasAttachment,
    /// `deleted:yes|no`
    Deleted(bool),
    /// `mailfrom:` / `envelope-from:`: the envelope sender recorded at delivery.
    MailFrom(Needle),
    /// `rcpt:` / `envelope-to:` / `bcc:`: an envelope recipient recorded at delivery; the
    /// only record of Bcc recipients, which no header names.
    Rcpt(Needle),
}

/// Every field a query knows, as the error for an unknown one lists them.
pub const FIELDS: &[&str] = &[
    "from:",
    "to:",
    "cc:",
    "subject:",
    "body:",
    "attachment:",
    "account:",
    "mailbox:",
    "after:",
    "before:",
    "has:attachment",
    "deleted:",
    "mailfrom:",
    "envelope-from:",
    "rcpt:",
    "envelope-to:",
    "bcc:",
];

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Every term must hold.
    pub terms: Vec<Term>,
}

/// Splits on spaces outside double quotes; quotes group a phrase.
fn tokens(q: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unbalanced double quote".into());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

impl Query {
    /// Parses `free text from:x to:y subject:"a phrase" after:2026-01-01 deleted:yes …`.
    pub fn parse(q: &str) -> Result<Query, String> {
        let mut terms = Vec::new();
        for t in tokens(q)? {
            let needle = |s: &str| {
                Needle::new(s).ok_or(format!("`{t}` has no letters or digits to search for"))
            };
            let term = match t.split_once(':') {
                Some((field, value)) if !value.is_empty() || field == "has" => {
                    match field.to_ascii_lowercase().as_str() {
                        "from" => Term::From(needle(value)?),
                        "to" => Term::To(needle(value)?),
                        "cc" => Term::Cc(needle(value)?),
                        "subject" => Term::Subject(needle(value)?),
                        "body" => Term::Body(needle(value)?),
                        "attachment" => Term::Attachment(needle(value)?),
                        "account" => Term::Account(value.to_lowercase()),
                        "mailbox" => Term::Mailbox(value.to_owned()),
                        "after" => Term::After(
                            crate::time::parse_time(value)
                                .ok_or(format!("after:{value}: expected YYYY-MM-DD"))?,
                        ),
                        "before" => Term::Before(
                            crate::time::parse_time(value)
                                .ok_or(format!("before:{value}: expected YYYY-MM-DD"))?,
                        ),
                        "has" if value.eq_ignore_ascii_case("attachment") => Term::HasAttachment,
                        "deleted" => match value.to_ascii_lowercase().as_str() {
                            "yes" => Term::Deleted(true),
                            "no" => Term::Deleted(false),
                            _ => return Err(format!("deleted:{value}: expected yes or no")),
                        },
                        "mailfrom" | "envelope-from" => Term::MailFrom(needle(value)?),
                        "rcpt" | "envelope-to" | "bcc" => Term::Rcpt(needle(value)?),
                        // A word before the colon asks for a field: a typo must not quietly
                        // search the text instead. A URL or a time stays text.
                        f if f.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
                            && !value.starts_with("//") =>
                        {
                            return Err(format!(
                                "unknown search field `{field}:`; known fields: {}",
                                FIELDS.join(" ")
                            ));
                        }
                        _ => Term::Text(needle(&t)?),
                    }
                }
                _ => Term::Text(needle(&t)?),
            };
            terms.push(term);
        }
        Ok(Query { terms })
    }

    /// What the query asks of message content (`None`: nothing).
    pub fn content(&self) -> Option<Cond> {
        let unparsed_body =
            |n: &Needle| Cond::All(vec![Cond::Unparsed, Cond::In(Part::Body, n.clone())]);
        let conds: Vec<Cond> = self
            .terms
            .iter()
            .filter_map(|t| {
                Some(match t {
                    Term::Text(n) => Cond::Any(vec![
                        Cond::In(Part::Headers, n.clone()),
                        Cond::In(Part::Body, n.clone()),
                        Cond::In(Part::Attachment, n.clone()),
                    ]),
                    // An unparsable message is matched on its raw text for header terms too.
                    Term::From(n) => {
                        Cond::Any(vec![Cond::In(Part::From, n.clone()), unparsed_body(n)])
                    }
                    Term::To(n) => Cond::Any(vec![
                        Cond::In(Part::To, n.clone()),
                        Cond::In(Part::Cc, n.clone()),
                        unparsed_body(n),
                    ]),
                    Term::Cc(n) => Cond::In(Part::Cc, n.clone()),
                    Term::Subject(n) => {
                        Cond::Any(vec![Cond::In(Part::Subject, n.clone()), unparsed_body(n)])
                    }
                    Term::Body(n) => Cond::In(Part::Body, n.clone()),
                    Term::Attachment(n) => Cond::In(Part::Attachment, n.clone()),
                    Term::HasAttachment => Cond::HasAttachment,
                    Term::Account(_)
                    | Term::Mailbox(_)
                    | Term::After(_)
                    | Term::Before(_)
                    | Term::Deleted(_)
                    | Term::MailFrom(_)
                    | Term::Rcpt(_) => return None,
                })
            })
            .collect();
        (!conds.is_empty()).then_some(Cond::All(conds))
    }

    /// Whether the query asks about the envelope (which only the journal records).
    fn mentions_envelope(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t, Term::MailFrom(_) | Term::Rcpt(_)))
    }

    /// The conditions on place, time and deleted state the store answers (the first of each
    /// kind; every term is still checked on what comes back).
    fn entry_filter(&self, include_deleted: bool) -> store::EntryFilter {
        let mut f = store::EntryFilter::default();
        for t in &self.terms {
            match t {
                Term::Account(a) if f.account.is_none() => f.account = Some(a.clone()),
                Term::Mailbox(m) if f.mailbox.is_none() => f.mailbox = Some(m.clone()),
                Term::After(t) if f.since.is_none() => f.since = Some(*t),
                Term::Before(t) if f.before.is_none() => f.before = Some(*t),
                Term::Deleted(d) if f.deleted.is_none() => f.deleted = Some(*d),
                _ => {}
            }
        }
        if f.deleted.is_none() && !include_deleted {
            f.deleted = Some(false);
        }
        f
    }

    /// Whether the query itself says which deleted state it wants.
    pub fn mentions_deleted(&self) -> bool {
        self.terms.iter().any(|t| matches!(t, Term::Deleted(_)))
    }
}

/// What a message offers to be matched on.
#[derive(Debug, Default, Clone)]
pub struct Document {
    /// From: names and addresses.
    pub from: String,
    /// To: names and addresses.
    pub to: String,
    /// Cc: names and addresses.
    pub cc: String,
    /// Subject.
    pub subject: String,
    /// Decoded text of every text and HTML part at every depth (attachments and forwarded
    /// messages included; HTML reduced to text), one per part.
    pub body: Vec<String>,
    /// Attachment file names.
    pub attachments: Vec<String>,
    /// Every header field, `Name: value`, decoded where possible, of the message and of
    /// every message attached to it.
    pub headers: Vec<String>,
    /// The message could not be parsed; `body` holds its raw text.
    pub unparsed: bool,
}

/// An address list as text: `Name <addr>, …`.
pub fn addresses(a: Option<&mail_parser::Address<'_>>) -> String {
    let Some(a) = a else {
        return String::new();
    };
    a.iter()
        .map(|x| {
            format!(
                "{} <{}>",
                x.name().unwrap_or_default(),
                x.address().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A header field's value as text (decoded words decoded, address lists written out).
pub fn header_text(value: &mail_parser::HeaderValue<'_>) -> String {
    match value {
        mail_parser::HeaderValue::Text(t) => t.to_string(),
        mail_parser::HeaderValue::TextList(l) => l.join(" "),
        mail_parser::HeaderValue::Address(a) => addresses(Some(a)),
        _ => String::new(),
    }
}

/// Extracts the searchable text of a message.
pub fn document(raw: &[u8]) -> Document {
    let Some(m) = MessageParser::default().parse(raw) else {
        return Document {
            body: vec![String::from_utf8_lossy(raw).into_owned()],
            unparsed: true,
            ..Document::default()
        };
    };
    // Every part at every depth: text attachments, and forwarded messages (message/rfc822)
    // with their headers too; each part decoded (transfer encoding, charset) by the parser.
    let mut body = Vec::new();
    let mut headers = header_lines(&m);
    let mut pending: Vec<&mail_parser::Message<'_>> = vec![&m];
    while let Some(msg) = pending.pop() {
        for part in &msg.parts {
            match &part.body {
                PartType::Text(t) => body.push(t.clone().into_owned()),
                PartType::Html(h) => body.push(mail_parser::decoders::html::html_to_text(h)),
                PartType::Message(inner) => {
                    headers.extend(header_lines(inner));
                    pending.push(inner);
                }
                PartType::Binary(_) | PartType::InlineBinary(_) | PartType::Multipart(_) => {}
            }
        }
    }
    Document {
        from: addresses(m.from()),
        to: addresses(m.to()),
        cc: addresses(m.cc()),
        subject: m.subject().unwrap_or_default().to_owned(),
        body,
        attachments: m
            .attachments()
            .filter_map(|a| a.attachment_name())
            .map(str::to_owned)
            .collect(),
        headers,
        unparsed: false,
    }
}

/// A message's header fields, `Name: value`, decoded where possible.
fn header_lines(m: &mail_parser::Message<'_>) -> Vec<String> {
    m.headers()
        .iter()
        .map(|h| format!("{}: {}", h.name(), header_text(h.value())))
        .collect()
}

/// A message found, with what the record says about it.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The mailbox entry.
    pub entry: EntryRecord,
    /// Subject (as read), for display.
    pub subject: String,
    /// From (as read), for display.
    pub from: String,
    /// The journal leaf that placed it in the mailbox.
    pub leaf: Option<u64>,
    /// The expunge: when and by whom, from the journal.
    pub deleted: Option<(i64, String)>,
    /// It could not be parsed and was matched on raw text.
    pub unparsed: bool,
}

/// The conditions on where a message is and when it came, which the store answers.
fn placed(t: &Term, e: &EntryRecord) -> bool {
    match t {
        Term::Account(s) => e.account.to_lowercase() == *s,
        Term::Mailbox(s) => e.mailbox == *s,
        Term::After(t) => e.internal_date >= *t,
        Term::Before(t) => e.internal_date < *t,
        Term::Deleted(want) => e.expunged_at.is_some() == *want,
        _ => true,
    }
}

/// Envelopes recorded by the journal (sender, recipients), by the leaf's commitment to the
/// message: copies and moves of a message share its commitment, so they find its envelope.
type Envelopes = HashMap<[u8; 32], Vec<(String, Vec<String>)>>;

fn envelopes(store: &dyn Backend) -> Result<Envelopes, store::Error> {
    let mut out: Envelopes = HashMap::new();
    for (_, e) in store.journal_events()? {
        if let Some(c) = e.commitment
            && (!e.mail_from.is_empty() || !e.recipients.is_empty())
        {
            out.entry(c).or_default().push((e.mail_from, e.recipients));
        }
    }
    Ok(out)
}

/// Whether some envelope of the entry's message holds every envelope term.
fn enveloped(
    store: &dyn Backend,
    q: &Query,
    known: &Envelopes,
    entry: &EntryRecord,
) -> Result<bool, store::Error> {
    let Some(secret) = store.message_secret(&entry.blob)? else {
        return Ok(false);
    };
    let c = crate::store::journal::leaf::commitment(&secret, &entry.blob);
    let Some(list) = known.get(&c) else {
        return Ok(false);
    };
    Ok(list.iter().any(|(from, rcpts)| {
        q.terms.iter().all(|t| match t {
            Term::MailFrom(n) => n.found_in(&[from]),
            Term::Rcpt(n) => n.found_in(rcpts),
            _ => true,
        })
    }))
}

fn actor_name(e: &Event) -> String {
    match e.actor_kind {
        Some(ActorKind::Account) => format!("{} from {}", e.actor, e.origin),
        Some(ActorKind::Admin) => format!("admin {}", e.actor),
        Some(ActorKind::Peer) => format!("peer {} from {}", e.actor, e.origin),
        Some(ActorKind::System) | None => "system".into(),
    }
}

/// Outcome of a search.
#[derive(Debug, Default)]
pub struct Found {
    /// Matching messages, by account, mailbox, UID.
    pub hits: Vec<Hit>,
    /// Messages examined.
    pub examined: usize,
    /// Of those, not parseable as MIME (matched on raw text).
    pub unparsed: usize,
    /// Messages whose bytes could not be read (damaged): named, never skipped silently.
    pub unreadable: Vec<String>,
    /// Messages whose bytes were purged past retention: their record remains, their
    /// content cannot be searched.
    pub purged: Vec<String>,
}

/// What the index says, as of one snapshot.
struct FromIndex<'a> {
    index: &'a MailIndex,
    snap: crate::index::Snapshot,
    /// The bodies the query's content conditions hold for (every indexed body without
    /// content conditions).
    hits: HashMap<store::Hash, crate::index::Matched>,
    unparsed: HashSet<store::Hash>,
    unreadable: HashSet<store::Hash>,
    /// Bodies stored after the snapshot.
    gap: HashSet<store::Hash>,
}

fn ask_index<'a>(
    index: &'a MailIndex,
    store: &dyn Backend,
    cond: Option<&Cond>,
) -> Result<FromIndex<'a>, crate::index::IndexError> {
    let (snap, gap) = index.snapshot_with_gap(store)?;
    Ok(FromIndex {
        hits: index.matching(&snap, cond)?,
        unparsed: index
            .matching(&snap, Some(&Cond::Unparsed))?
            .into_keys()
            .collect(),
        unreadable: index.unreadable(&snap)?.into_keys().collect(),
        gap,
        index,
        snap,
    })
}

/// A body read because the index had not reached it.
enum Read {
    Matched { hit: bool, doc: Document },
    Purged(i64),
    Unreadable(String),
}

/// Below this many hits the journal is asked about each; above, it is read once whole.
const FEW_HITS: usize = 2_000;

/// Searches every account. Deleted messages are included with `include_deleted` (or when
/// the query says `deleted:`). Without an index (or past its end) bodies are read.
pub fn search(
    store: &dyn Backend,
    index: Option<&MailIndex>,
    q: &Query,
    include_deleted: bool,
) -> Result<Found, store::Error> {
    let cond = q.content();
    let known = index.and_then(|i| match ask_index(i, store, cond.as_ref()) {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::warn!(error = %e, "searching without the full-text index");
            None
        }
    });
    let envelopes = if q.mentions_envelope() {
        Some(envelopes(store)?)
    } else {
        None
    };
    let purged: HashSet<store::Hash> = store.purged_blobs()?.into_iter().collect();
    // With content conditions the index names the candidates: its hits, the bodies it has
    // not reached or could not read, and purged ones (reported, never skipped silently).
    // The store then returns only their entries, so a rare word costs its hits.
    let mut filter = q.entry_filter(include_deleted);
    if cond.is_some()
        && let Some(k) = &known
    {
        let mut blobs: HashSet<store::Hash> = k.hits.keys().copied().collect();
        blobs.extend(k.gap.iter().copied());
        blobs.extend(k.unreadable.iter().copied());
        blobs.extend(purged.iter().copied());
        filter.blobs = Some(blobs.into_iter().collect());
    }
    let mut read: HashMap<store::Hash, Read> = HashMap::new();
    let mut found = Found::default();
    let mut hits = Vec::new();
    for entry in store.entries(&filter)? {
        if entry.expunged_at.is_some() && !include_deleted && !q.mentions_deleted() {
            continue;
        }
        if !q.terms.iter().all(|t| placed(t, &entry)) {
            continue;
        }
        if let Some(known) = &envelopes
            && !enveloped(store, q, known, &entry)?
        {
            continue;
        }
        found.examined += 1;
        let name = format!("{} {} UID {}", entry.account, entry.mailbox, entry.uid);
        // The index answers for a body it holds, as of its snapshot; anything else is read.
        let indexed = known
            .as_ref()
            .filter(|k| !k.gap.contains(&entry.blob))
            .map(|k| (k, k.hits.get(&entry.blob).copied()));
        let (hit, unparsed, shown) = if purged.contains(&entry.blob) {
            let at = store.purged_at(&entry.blob)?.unwrap_or_default();
            found
                .purged
                .push(format!("{name} (purged {})", crate::time::rfc3339(at)));
            continue;
        } else if let Some((k, m)) = indexed {
            if k.unreadable.contains(&entry.blob) {
                found
                    .unreadable
                    .push(format!("{name}: its body could not be read"));
                continue;
            }
            let hit = m.is_some();
            let shown = m.map(|m| k.index.shown(&k.snap, &m).unwrap_or_default());
            (hit, k.unparsed.contains(&entry.blob), shown)
        } else {
            let r = read
                .entry(entry.blob)
                .or_insert_with(|| match store.read_blob(&entry.blob) {
                    Ok(raw) => {
                        let doc = document(&raw);
                        Read::Matched {
                            hit: cond.as_ref().is_none_or(|c| c.holds(&doc)),
                            doc,
                        }
                    }
                    Err(store::Error::Purged { at, .. }) => Read::Purged(at),
                    Err(e) => Read::Unreadable(e.to_string()),
                });
            match r {
                Read::Matched { hit, doc } => (
                    *hit,
                    doc.unparsed,
                    hit.then(|| (doc.subject.clone(), doc.from.clone())),
                ),
                Read::Purged(at) => {
                    found
                        .purged
                        .push(format!("{name} (purged {})", crate::time::rfc3339(*at)));
                    continue;
                }
                Read::Unreadable(e) => {
                    found.unreadable.push(format!("{name}: {e}"));
                    continue;
                }
            }
        };
        if unparsed {
            found.unparsed += 1;
        }
        if hit {
            hits.push((entry, shown.unwrap_or_default(), unparsed));
        }
    }
    // What the journal says about each hit: the leaf that placed it, and who deleted it.
    let mut placing: HashMap<(i64, u32), u64> = HashMap::new();
    let mut expunges: HashMap<(i64, u32), (i64, String)> = HashMap::new();
    let mut note = |idx: u64, e: &Event| match e.kind {
        Some(k) if k.places_message() => {
            placing.insert((e.mailbox_id, e.uid), idx);
        }
        Some(Kind::Expunged) => {
            expunges.insert((e.mailbox_id, e.uid), (e.time, actor_name(e)));
        }
        _ => {}
    };
    if hits.len() < FEW_HITS {
        for (entry, ..) in &hits {
            for (idx, e) in store.entry_events(entry.mailbox_id, entry.uid)? {
                note(idx, &e);
            }
        }
    } else {
        for (idx, e) in store.journal_events()? {
            note(idx, &e);
        }
    }
    found.hits = hits
        .into_iter()
        .map(|(entry, (subject, from), unparsed)| {
            let key = (entry.mailbox_id, entry.uid);
            let deleted = entry.expunged_at.map(|at| {
                expunges
                    .get(&key)
                    .cloned()
                    .unwrap_or((at, "unknown (no journal record)".into()))
            });
            Hit {
                subject,
                from,
                leaf: placing.get(&key).copied(),
                deleted,
                unparsed,
                entry,
            }
        })
        .collect();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needle(s: &str) -> Needle {
        Needle::new(s).unwrap()
    }

    #[test]
    fn words_match_whole_and_in_sequence() {
        let found = |hay: &str, n: &str| needle(n).found_in(&[hay]);
        assert!(found("Re: Contract 20 signed", "contract 20"));
        assert!(!found("contract 200", "contract 20"));
        assert!(found("contract 200", "contract 20*"));
        assert!(!found("subcontract 20", "contract 20"));
        assert!(found("p3 <p3@partner.example>", "p3@partner.example"));
        assert!(found("Grüße aus Berlin", "grüße"));
        assert!(found("a (x) b", "(x)"));
        assert!(!found("x a b", "b a"));
        // Within one value only: a phrase does not run from one part into the next.
        assert!(!needle("end start").found_in(&["the end", "start here"]));
        assert!(Needle::new("(*)").is_none());
    }

    #[test]
    fn queries_parse() {
        let q = Query::parse(r#"invoice from:Bob subject:"quarterly report" after:2026-01-01 deleted:yes has:attachment http://x"#)
            .unwrap();
        assert_eq!(q.terms[0], Term::Text(needle("invoice")));
        assert_eq!(q.terms[1], Term::From(needle("bob")));
        assert_eq!(q.terms[2], Term::Subject(needle("quarterly report")));
        assert!(matches!(q.terms[3], Term::After(_)));
        assert_eq!(q.terms[4], Term::Deleted(true));
        assert_eq!(q.terms[5], Term::HasAttachment);
        assert_eq!(q.terms[6], Term::Text(needle("http x")));
        assert!(Query::parse("subject:\"open").is_err());
        assert!(Query::parse("deleted:maybe").is_err());
        assert!(Query::parse("after:soon").is_err());
        assert!(Query::parse("--").is_err());
    }

    #[test]
    fn envelope_fields_parse_and_unknown_fields_are_refused() {
        let q =
            Query::parse("rcpt:bcc@example.org mailfrom:a@ext.test bcc:x envelope-to:y").unwrap();
        assert_eq!(q.terms[0], Term::Rcpt(needle("bcc@example.org")));
        assert_eq!(q.terms[1], Term::MailFrom(needle("a@ext.test")));
        assert_eq!(q.terms[2], Term::Rcpt(needle("x")));
        assert_eq!(q.terms[3], Term::Rcpt(needle("y")));
        // A typo of a field is an error naming every field, not a silent text search.
        let e = Query::parse("frm:bob").unwrap_err();
        assert!(e.contains("`frm:`"), "{e}");
        for f in FIELDS {
            assert!(e.contains(f), "{e}");
        }
        assert!(Query::parse("foo:bar").is_err());
        // A URL and a time are still text.
        assert!(Query::parse("https://example.org 10:30").is_ok());
    }

    #[test]
    fn documents_decode_encodings_html_and_attachment_names() {
        let raw = b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\nTo: a@example.org\r\n\
Subject: =?utf-8?b?UmVjaG51bmcgZsO8cg==?=\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>Gr=C3=BC=C3=9Fe <b>aus</b> Berlin</p>\r\n\
--b\r\nContent-Type: application/pdf; name=\"Rechnung-42.pdf\"\r\nContent-Disposition: attachment; \
filename=\"Rechnung-42.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
        let d = document(raw);
        assert!(d.from.contains("Jürgen"));
        assert_eq!(d.subject, "Rechnung für");
        assert!(needle("grüße aus berlin").found_in(&d.body), "{:?}", d.body);
        assert_eq!(d.attachments, ["Rechnung-42.pdf"]);
        assert!(!d.unparsed);
    }
}

/// How an export lays out the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One `.eml` file per message, the exact stored bytes.
    Eml,
    /// One `messages.mbox` (mboxrd quoting; the manifest gives each message's byte range).
    Mbox,
}

/// One message of an export, as `manifest.json` lists it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The file holding it (relative to the export directory).
    pub file: String,
    /// For mbox: byte offset of the (quoted) message in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// For mbox: length of the quoted message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// Owner.
    pub account: String,
    /// Mailbox (name at export).
    pub mailbox: String,
    /// UID.
    pub uid: u32,
    /// Arrival, RFC 3339.
    pub received: String,
    /// Expunge time, RFC 3339, if deleted.
    pub deleted: Option<String>,
    /// Who deleted it, per the journal.
    pub deleted_by: Option<String>,
    /// SHA-256 of the exact message bytes (hex).
    pub sha256: String,
    /// The secret that opens the leaf's commitment (hex); disclosed only for exported messages.
    pub secret: String,
    /// The journal leaf that placed the message (hex).
    pub leaf: String,
    /// Its index.
    pub leaf_index: u64,
    /// Inclusion proof against the checkpoint (hex hashes).
    pub proof: Vec<String>,
}

/// `manifest.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Format version of this file (1).
    pub version: u32,
    /// The query that selected the messages.
    pub query: String,
    /// When the export was made, RFC 3339.
    pub created: String,
    /// The signed checkpoint every proof is against.
    pub checkpoint: String,
    /// The messages.
    pub messages: Vec<ManifestEntry>,
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Writing the bundle failed.
    #[error("writing {path}: {cause}")]
    Io {
        /// File.
        path: std::path::PathBuf,
        /// OS error.
        cause: std::io::Error,
    },
    /// A hit has no journal record or unreadable bytes; the export would be incomplete.
    #[error("{0}")]
    Incomplete(String),
}

fn mboxrd(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let stripped = line
            .iter()
            .position(|&b| b != b'>')
            .map_or(line, |i| &line[i..]);
        if stripped.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    out
}

/// Undoes mboxrd quoting.
pub fn un_mboxrd(quoted: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(quoted.len());
    for line in quoted.split_inclusive(|&b| b == b'\n') {
        let gt = line.iter().take_while(|&&b| b == b'>').count();
        if gt > 0 && line[gt..].starts_with(b"From ") {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Writes a file of the bundle and syncs it: "exported" is said only of what is on disk.
fn write_synced(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = crate::private::create_file(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

/// Exports what `q` finds into `out` (created; must be empty or new) with `manifest.json`.
#[allow(clippy::too_many_arguments)]
pub fn export(
    store: &dyn Backend,
    index: Option<&MailIndex>,
    signer: std::sync::Arc<crate::store::journal::Signer>,
    hostname: &str,
    query_text: &str,
    include_deleted: bool,
    out: &std::path::Path,
    format: Format,
) -> Result<Manifest, ExportError> {
    let q = Query::parse(query_text).map_err(ExportError::Incomplete)?;
    let found = search(store, index, &q, include_deleted)?;
    if let Some(u) = found.unreadable.first() {
        return Err(ExportError::Incomplete(format!(
            "{} message(s) cannot be read, e.g. {u}; nothing exported",
            found.unreadable.len()
        )));
    }
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |cause| ExportError::Io { path, cause }
    };
    crate::private::create_dir(out).map_err(io(out))?;
    // Journal the export itself, then sign a checkpoint that covers it and every hit.
    store.audit(
        "",
        &format!(
            "export of {} message(s) to {} (query: {query_text})",
            found.hits.len(),
            out.display()
        ),
    )?;
    let cp = crate::journal::checkpoint(store, signer, hostname, true)?
        .ok_or_else(|| ExportError::Incomplete("no checkpoint could be written".into()))?;
    let mut entries = Vec::new();
    let mut mbox = Vec::new();
    for (n, hit) in found.hits.iter().enumerate() {
        let e = &hit.entry;
        let name = format!("{} {} UID {}", e.account, e.mailbox, e.uid);
        let leaf_index = hit
            .leaf
            .ok_or_else(|| ExportError::Incomplete(format!("{name} has no journal record")))?;
        let raw = store.read_blob(&e.blob)?;
        let secret = store
            .message_secret(&e.blob)?
            .ok_or_else(|| ExportError::Incomplete(format!("{name}: its secret was purged")))?;
        let leaf = store
            .journal_leaves(leaf_index, leaf_index + 1)?
            .pop()
            .map(|l| l.leaf)
            .unwrap_or_default();
        let proof = store.journal_inclusion(leaf_index, cp.size)?;
        let (file, offset, length) = match format {
            Format::Eml => {
                let file = format!("{:06}.eml", n + 1);
                let path = out.join(&file);
                write_synced(&path, &raw).map_err(io(&path))?;
                (file, None, None)
            }
            Format::Mbox => {
                mbox.extend_from_slice(
                    format!(
                        "From mailkeep-export {}\n",
                        crate::time::rfc5322(e.internal_date)
                    )
                    .as_bytes(),
                );
                let quoted = mboxrd(&raw);
                let offset = mbox.len() as u64;
                mbox.extend_from_slice(&quoted);
                mbox.extend_from_slice(b"\n");
                (
                    "messages.mbox".to_owned(),
                    Some(offset),
                    Some(quoted.len() as u64),
                )
            }
        };
        entries.push(ManifestEntry {
            file,
            offset,
            length,
            account: e.account.clone(),
            mailbox: e.mailbox.clone(),
            uid: e.uid,
            received: crate::time::rfc3339(e.internal_date),
            deleted: hit.deleted.as_ref().map(|(t, _)| crate::time::rfc3339(*t)),
            deleted_by: hit.deleted.as_ref().map(|(_, who)| who.clone()),
            sha256: hex::encode(sha256(&raw)),
            secret: hex::encode(secret),
            leaf: hex::encode(&leaf),
            leaf_index,
            proof: proof.iter().map(hex::encode).collect(),
        });
    }
    if format == Format::Mbox {
        let path = out.join("messages.mbox");
        write_synced(&path, &mbox).map_err(io(&path))?;
    }
    let manifest = Manifest {
        version: 1,
        query: query_text.to_owned(),
        created: crate::time::rfc3339(crate::time::now()),
        checkpoint: cp.note,
        messages: entries,
    };
    let path = out.join("manifest.json");
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| ExportError::Incomplete(format!("manifest: {e}")))?;
    write_synced(&path, text.as_bytes()).map_err(io(&path))?;
    std::fs::File::open(out)
        .and_then(|d| d.sync_all())
        .map_err(io(out))?;
    Ok(manifest)
}

/// Checks an export bundle with nothing but the bundle and the public key. Returns the
/// number of messages checked and every problem, one precise sentence each.
pub fn verify_export(dir: &std::path::Path, verifier_key: &str) -> (usize, Vec<String>) {
    use crate::store::journal::{checkpoint, leaf, merkle};
    let mut problems = Vec::new();
    let text = match std::fs::read_to_string(dir.join("manifest.json")) {
        Ok(t) => t,
        Err(e) => return (0, vec![format!("manifest.json: {e}")]),
    };
    let manifest: Manifest = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => {
            return (
                0,
                vec![format!("manifest.json is not a mailkeep manifest: {e}")],
            );
        }
    };
    let cp = match checkpoint::verify(&manifest.checkpoint, verifier_key) {
        Ok(cp) => cp,
        Err(e) => return (0, vec![format!("the manifest's checkpoint: {e}")]),
    };
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for (n, m) in manifest.messages.iter().enumerate() {
        let who = format!(
            "message {} ({} {} UID {})",
            n + 1,
            m.account,
            m.mailbox,
            m.uid
        );
        let file = files
            .entry(m.file.clone())
            .or_insert_with(|| std::fs::read(dir.join(&m.file)).unwrap_or_default());
        let bytes = match (m.offset, m.length) {
            (Some(o), Some(l)) => {
                let (o, l) = (o as usize, l as usize);
                match file.get(o..o.saturating_add(l)) {
                    Some(q) => un_mboxrd(q),
                    None => {
                        problems.push(format!(
                            "{who}: {} is shorter than the manifest says",
                            m.file
                        ));
                        continue;
                    }
                }
            }
            _ => file.clone(),
        };
        if bytes.is_empty() {
            problems.push(format!("{who}: {} is missing or empty", m.file));
            continue;
        }
        let digest = sha256(&bytes);
        if hex::encode(digest) != m.sha256 {
            problems.push(format!(
                "{who}: the bytes in {} do not match the SHA-256 in the manifest: the message was altered",
                m.file
            ));
            continue;
        }
        let (Ok(leaf_bytes), Ok(secret)) = (hex::decode(&m.leaf), hex::decode(&m.secret)) else {
            problems.push(format!("{who}: leaf or secret is not hex"));
            continue;
        };
        let Some(ev) = Event::decode(&leaf_bytes) else {
            problems.push(format!("{who}: the journal leaf cannot be decoded"));
            continue;
        };
        let Ok(secret) = <[u8; 32]>::try_from(secret) else {
            problems.push(format!("{who}: the secret is not 32 bytes"));
            continue;
        };
        if ev.commitment != Some(leaf::commitment(&secret, &digest)) {
            problems.push(format!(
                "{who}: the journal leaf does not commit to these bytes: it records a different message"
            ));
        }
        if ev.uid != m.uid || !ev.account.eq_ignore_ascii_case(&m.account) {
            problems.push(format!(
                "{who}: the journal leaf is about {} UID {}, not this entry",
                ev.account, ev.uid
            ));
        }
        let proof: Vec<merkle::Hash> = m
            .proof
            .iter()
            .filter_map(|h| hex::decode(h).ok()?.try_into().ok())
            .collect();
        if proof.len() != m.proof.len()
            || !merkle::verify_inclusion(
                &merkle::leaf_hash(&leaf_bytes),
                m.leaf_index,
                cp.size,
                &proof,
                &cp.root,
            )
        {
            problems.push(format!(
                "{who}: the inclusion proof does not lead to the signed checkpoint's root: the leaf is not in the journal as signed"
            ));
        }
    }
    (manifest.messages.len(), problems)
}
