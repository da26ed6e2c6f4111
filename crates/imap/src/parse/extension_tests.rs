//! Tests for the extension commands: QRESYNC/CONDSTORE parameters,
//! LIST-EXTENDED/LIST-STATUS/SPECIAL-USE, SORT/THREAD, QUOTA, COMPRESS and
//! ENABLE.

use super::*;
use crate::framer::{Frame, Framer, Limits};
use proptest::prelude::*;

fn ok(s: &[u8]) -> CommandBody {
    parse_command(s)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(s)))
        .body
}

fn ok_utf8(s: &[u8]) -> CommandBody {
    parse_command_with(s, ParseOptions { utf8: true })
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(s)))
        .body
}

/// Asserts that `s` fails with the tag `a` recovered and a `BAD` answer;
/// returns the error.
fn bad(s: &[u8]) -> ParseError {
    let e = parse_command(s).expect_err(&String::from_utf8_lossy(s));
    let shown = String::from_utf8_lossy(s);
    assert_eq!(e.tag.as_deref(), Some("a"), "{shown:?}");
    assert_eq!(e.code, None, "{shown:?}");
    assert!(e.response().starts_with(b"a BAD "), "{shown:?}");
    e
}

fn mbox(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

fn set(s: &str) -> SequenceSet {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- QRESYNC

fn select(s: &[u8]) -> (MailboxName, bool, Option<QresyncParams>) {
    match ok(s) {
        CommandBody::Select {
            mailbox,
            condstore,
            qresync,
        }
        | CommandBody::Examine {
            mailbox,
            condstore,
            qresync,
        } => (mailbox, condstore, qresync),
        other => panic!("{other:?}"),
    }
}

fn qr(
    uidvalidity: u32,
    modseq: u64,
    known_uids: Option<&str>,
    seq_match: Option<(&str, &str)>,
) -> Option<QresyncParams> {
    Some(QresyncParams {
        uidvalidity,
        modseq,
        known_uids: known_uids.map(set),
        seq_match: seq_match.map(|(a, b)| (set(a), set(b))),
    })
}

#[test]
fn select_qresync() {
    // RFC 7162 §3.2.5.2 examples
    assert_eq!(
        select(b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n"),
        (
            mbox("INBOX"),
            false,
            qr(
                67_890_007,
                20_050_715_194_045_000,
                Some("41,43:211,214:541"),
                None
            )
        )
    );
    assert_eq!(
        select(
            b"a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 \
              (1:10,20,40 1:10,17,500)))\r\n"
        )
        .2,
        qr(
            67_890_007,
            90_060_115_194_045_000,
            Some("41:211,214:541"),
            Some(("1:10,20,40", "1:10,17,500"))
        )
    );
    // minimal form, lower case, EXAMINE
    let (mailbox, condstore, qresync) = select(b"a examine Sent (qresync (1 2))\r\n");
    assert_eq!(mailbox, mbox("Sent"));
    assert!(!condstore);
    assert_eq!(qresync, qr(1, 2, None, None));
    assert!(matches!(
        ok(b"a EXAMINE x (QRESYNC (1 2))\r\n"),
        CommandBody::Examine { .. }
    ));
    // seq-match-data without known-uids (both are optional, RFC 7162 §7)
    assert_eq!(
        select(b"a SELECT x (QRESYNC (1 2 (1,3 5,9)))\r\n").2,
        qr(1, 2, None, Some(("1,3", "5,9")))
    );
    // sizes are compared counting the ranges as written
    assert_eq!(
        select(b"a SELECT x (QRESYNC (1 2 1:100 (5:1,7 10:13,20,30)))\r\n").2,
        qr(1, 2, Some("1:100"), Some(("5:1,7", "10:13,20,30")))
    );
    // together with CONDSTORE, and largest values
    assert_eq!(
        select(b"a SELECT x (CONDSTORE QRESYNC (4294967295 9223372036854775807))\r\n"),
        (mbox("x"), true, qr(u32::MAX, i64::MAX as u64, None, None))
    );
    assert!(select(b"a SELECT x (QRESYNC (1 2) CONDSTORE)\r\n").1);
    // without parameters nothing changes
    assert_eq!(select(b"a SELECT x\r\n"), (mbox("x"), false, None));
    assert_eq!(select(b"a SELECT x ()\r\n"), (mbox("x"), false, None));
    assert_eq!(
        select(b"a SELECT x (CONDSTORE)\r\n"),
        (mbox("x"), true, None)
    );
}

#[test]
fn select_qresync_errors() {
    for s in [
        &b"a SELECT x (QRESYNC)\r\n"[..],
        b"a SELECT x (QRESYNC ())\r\n",
        b"a SELECT x (QRESYNC (1))\r\n",
        b"a SELECT x (QRESYNC (1 ))\r\n",
        b"a SELECT x (QRESYNC 1 2)\r\n",
        b"a SELECT x (QRESYNC (0 2))\r\n",
        b"a SELECT x (QRESYNC (1 0))\r\n",
        b"a SELECT x (QRESYNC (01 2))\r\n",
        b"a SELECT x (QRESYNC (4294967296 2))\r\n",
        b"a SELECT x (QRESYNC (1 9223372036854775808))\r\n",
        b"a SELECT x (QRESYNC (x 2))\r\n",
        b"a SELECT x (QRESYNC (1 2 *))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:*))\r\n",
        b"a SELECT x (QRESYNC (1 2 0:5))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 (1:2 5)))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 (1 *)))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 (* 1)))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 (1)))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 (1 2 3)))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 (1 2) 7))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 (1 2)\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 1 2))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5  (1 2)))\r\n",
        b"a SELECT x (QRESYNC (1 2 1:5 ((1 2))))\r\n",
        b"a SELECT x (QRESYNC (1 2 ))\r\n",
        b"a SELECT x (QRESYNC (1 2)\r\n",
        b"a SELECT x (QRESYNC (1 2) )\r\n",
        b"a SELECT x (QRESYNC (1 2)) extra\r\n",
        b"a SELECT x (QRESYNC (1 2) QRESYNC (1 2))\r\n",
        b"a SELECT x (QRESYNC(1 2))\r\n",
        b"a SELECT x QRESYNC (1 2)\r\n",
        b"a SELECT x (FOO QRESYNC (1 2))\r\n",
    ] {
        bad(s);
    }
    assert_eq!(
        bad(b"a SELECT x (QRESYNC (1 2 1 (1:2 3)))\r\n").message,
        "QRESYNC sequence match sets differ in size"
    );
    assert_eq!(
        bad(b"a EXAMINE x (QRESYNC (1 2 3:*))\r\n").message,
        "* is not allowed in QRESYNC sets"
    );
}

fn fetch_mods(s: &[u8]) -> (bool, Option<u64>, bool) {
    match ok(s) {
        CommandBody::Fetch {
            uid,
            changed_since,
            vanished,
            ..
        } => (uid, changed_since, vanished),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fetch_vanished() {
    assert_eq!(
        fetch_mods(b"a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n"),
        (true, Some(12345), true)
    );
    assert_eq!(
        fetch_mods(b"a uid fetch 1:* FLAGS (vanished changedsince 7)\r\n"),
        (true, Some(7), true)
    );
    assert_eq!(
        fetch_mods(b"a UID FETCH 1:* FLAGS (CHANGEDSINCE 7)\r\n"),
        (true, Some(7), false)
    );
    assert_eq!(
        fetch_mods(b"a FETCH 1:* FLAGS (CHANGEDSINCE 7)\r\n"),
        (false, Some(7), false)
    );
    assert_eq!(fetch_mods(b"a UID FETCH 1 FLAGS\r\n"), (true, None, false));
    for s in [
        &b"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n"[..],
        b"a FETCH 1 FLAGS (VANISHED CHANGEDSINCE 1)\r\n",
        b"a UID FETCH 1 FLAGS (VANISHED)\r\n",
        b"a UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED VANISHED)\r\n",
        b"a UID FETCH 1 FLAGS (VANISHED 1 CHANGEDSINCE 1)\r\n",
        b"a UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED\r\n",
        b"a UID FETCH 1 FLAGS (CHANGEDSINCE 1  VANISHED)\r\n",
        b"a UID FETCH 1 FLAGS (CHANGEDSINCE 0 VANISHED)\r\n",
        b"a UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED) x\r\n",
        b"a UID FETCH 1 FLAGS VANISHED\r\n",
    ] {
        bad(s);
    }
    assert_eq!(
        bad(b"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n").message,
        "VANISHED is only allowed in UID FETCH"
    );
    assert_eq!(
        bad(b"a UID FETCH 1 FLAGS (VANISHED)\r\n").message,
        "VANISHED requires CHANGEDSINCE"
    );
}

// ----------------------------------------------------------------- LIST

type ListParts = (
    String,
    String,
    Vec<ListSelection>,
    Vec<String>,
    Vec<ListReturn>,
);

fn list_parts(body: CommandBody) -> ListParts {
    match body {
        CommandBody::List {
            reference,
            pattern,
            selection,
            patterns,
            returns,
        } => (reference, pattern, selection, patterns, returns),
        other => panic!("{other:?}"),
    }
}

fn list(s: &[u8]) -> ListParts {
    list_parts(ok(s))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn list_basic_form_unchanged() {
    assert_eq!(
        list(b"a LIST \"\" *\r\n"),
        ("".into(), "*".into(), vec![], strings(&["*"]), vec![])
    );
    assert_eq!(
        list(b"a list ~/Mail/ %/&ZeVnLIqe-*\r\n"),
        (
            "~/Mail/".into(),
            "%/日本語*".into(),
            vec![],
            strings(&["%/日本語*"]),
            vec![]
        )
    );
    assert_eq!(
        list(b"a LIST {0}\r\n {5}\r\nIN%]*\r\n"),
        (
            "".into(),
            "IN%]*".into(),
            vec![],
            strings(&["IN%]*"]),
            vec![]
        )
    );
    for s in [
        &b"a LIST\r\n"[..],
        b"a LIST \"\"\r\n",
        b"a LIST \"\" \r\n",
        b"a LIST \"\"  *\r\n",
        b"a LIST \"\" * x\r\n",
        b"a LIST \"\" &Jjo\r\n",
        b"a LIST \"\" a b\r\n",
        b"a LIST \"\" \"\xc3\xa9\"\r\n",
    ] {
        bad(s);
    }
    // LSUB keeps the basic form only
    bad(b"a LSUB \"\" (a b)\r\n");
    bad(b"a LSUB (SUBSCRIBED) \"\" *\r\n");
    bad(b"a LSUB \"\" * RETURN (CHILDREN)\r\n");
}

#[test]
fn list_extended() {
    use ListReturn as R;
    use ListSelection as S;
    // RFC 5258 examples
    assert_eq!(
        list(b"a LIST (SUBSCRIBED) \"\" \"*\"\r\n"),
        (
            "".into(),
            "*".into(),
            vec![S::Subscribed],
            strings(&["*"]),
            vec![]
        )
    );
    assert_eq!(
        list(b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)\r\n"),
        (
            "".into(),
            "%".into(),
            vec![S::Subscribed, S::RecursiveMatch],
            strings(&["%"]),
            vec![R::Children]
        )
    );
    assert_eq!(
        list(b"a LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")\r\n"),
        (
            "".into(),
            "INBOX".into(),
            vec![],
            strings(&["INBOX", "Drafts", "Sent/%"]),
            vec![]
        )
    );
    assert_eq!(
        list(b"a LIST (REMOTE) \"\" (% Foo/*) RETURN (SUBSCRIBED CHILDREN)\r\n"),
        (
            "".into(),
            "%".into(),
            vec![S::Remote],
            strings(&["%", "Foo/*"]),
            vec![R::Subscribed, R::Children]
        )
    );
    // LIST-STATUS (RFC 5819) and SPECIAL-USE (RFC 6154)
    assert_eq!(
        list(b"a LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))\r\n").4,
        vec![R::Status(vec![StatusItem::Messages, StatusItem::Unseen])]
    );
    assert_eq!(
        list(b"a LIST (SPECIAL-USE) \"\" *\r\n").2,
        vec![S::SpecialUse]
    );
    assert_eq!(
        list(b"a LIST (special-use recursivematch) \"\" * return (special-use)\r\n"),
        (
            "".into(),
            "*".into(),
            vec![S::SpecialUse, S::RecursiveMatch],
            strings(&["*"]),
            vec![R::SpecialUse]
        )
    );
    assert_eq!(
        list(
            b"a LIST (RECURSIVEMATCH REMOTE SUBSCRIBED) Foo/ (a {3}\r\nb c) RETURN \
              (CHILDREN STATUS (UIDNEXT SIZE) SUBSCRIBED SPECIAL-USE)\r\n"
        ),
        (
            "Foo/".into(),
            "a".into(),
            vec![S::RecursiveMatch, S::Remote, S::Subscribed],
            strings(&["a", "b c"]),
            vec![
                R::Children,
                R::Status(vec![StatusItem::UidNext, StatusItem::Size]),
                R::Subscribed,
                R::SpecialUse
            ]
        )
    );
    // empty option lists, duplicates dropped
    assert_eq!(
        list(b"a LIST () \"\" * RETURN ()\r\n"),
        ("".into(), "*".into(), vec![], strings(&["*"]), vec![])
    );
    assert_eq!(
        list(b"a LIST (SUBSCRIBED subscribed) \"\" * RETURN (CHILDREN children)\r\n"),
        (
            "".into(),
            "*".into(),
            vec![S::Subscribed],
            strings(&["*"]),
            vec![R::Children]
        )
    );
    // patterns are decoded like the basic form's, in either mode
    assert_eq!(
        list(b"a LIST \"\" (&ZeVnLIqe- \"A&-B\")\r\n").3,
        strings(&["日本語", "A&B"])
    );
    assert_eq!(
        list_parts(ok_utf8(
            "a LIST () \"\" (\"日本語\" \"A&B\")\r\n".as_bytes()
        ))
        .3,
        strings(&["日本語", "A&B"])
    );
    // the pattern limit
    let many = |n: usize| format!("a LIST \"\" ({})\r\n", vec!["x"; n].join(" "));
    assert_eq!(
        list(many(MAX_LIST_PATTERNS).as_bytes()).3.len(),
        MAX_LIST_PATTERNS
    );
    assert_eq!(
        bad(many(MAX_LIST_PATTERNS + 1).as_bytes()).message,
        "Too many mailbox patterns"
    );
}

#[test]
fn list_extended_errors() {
    for s in [
        &b"a LIST (RECURSIVEMATCH) \"\" *\r\n"[..],
        b"a LIST (RECURSIVEMATCH REMOTE) \"\" *\r\n",
        b"a LIST (REMOTE RECURSIVEMATCH RECURSIVEMATCH) \"\" *\r\n",
        b"a LIST (FOO) \"\" *\r\n",
        b"a LIST (SUBSCRIBED \"\" *\r\n",
        b"a LIST (SUBSCRIBED)\"\" *\r\n",
        b"a LIST (SUBSCRIBED) \"\"\r\n",
        b"a LIST (SUBSCRIBED)  \"\" *\r\n",
        b"a LIST ( SUBSCRIBED) \"\" *\r\n",
        b"a LIST (SUBSCRIBED ) \"\" *\r\n",
        b"a LIST ((SUBSCRIBED)) \"\" *\r\n",
        b"a LIST (SUBSCRIBED) (REMOTE) \"\" *\r\n",
        b"a LIST \"\" ()\r\n",
        b"a LIST \"\" (a  b)\r\n",
        b"a LIST \"\" (a b\r\n",
        b"a LIST \"\" (a (b))\r\n",
        b"a LIST \"\" (a &Jjo)\r\n",
        b"a LIST \"\" (a)b\r\n",
        b"a LIST \"\" * RETURN\r\n",
        b"a LIST \"\" * RETURN \r\n",
        b"a LIST \"\" * RETURN CHILDREN\r\n",
        b"a LIST \"\" * RETURN (CHILDREN\r\n",
        b"a LIST \"\" * RETURN (FOO)\r\n",
        b"a LIST \"\" * RETURN (STATUS)\r\n",
        b"a LIST \"\" * RETURN (STATUS ())\r\n",
        b"a LIST \"\" * RETURN (STATUS (FOO))\r\n",
        b"a LIST \"\" * RETURN (STATUS MESSAGES)\r\n",
        b"a LIST \"\" * RETURN (STATUS (MESSAGES) STATUS (UNSEEN))\r\n",
        b"a LIST \"\" * RETURN (RECURSIVEMATCH)\r\n",
        b"a LIST \"\" * RETURN (CHILDREN) x\r\n",
        b"a LIST \"\" * RETURN (CHILDREN) RETURN (CHILDREN)\r\n",
        b"a LIST \"\" * RETURNS (CHILDREN)\r\n",
        b"a LIST \"\" * (CHILDREN)\r\n",
        b"a LIST \"\" *  RETURN (CHILDREN)\r\n",
    ] {
        bad(s);
    }
    assert_eq!(
        bad(b"a LIST (RECURSIVEMATCH) \"\" *\r\n").message,
        "RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE"
    );
    // nesting stays bounded
    let deep = format!("a LIST {}\"\" *\r\n", "(".repeat(10_000));
    bad(deep.as_bytes());
    let deep = format!("a LIST \"\" * RETURN (STATUS {}\r\n", "(".repeat(10_000));
    bad(deep.as_bytes());
}

// ------------------------------------------------------------ SORT/THREAD

fn sort(s: &[u8]) -> (bool, Vec<SortCriterion>, SearchKey) {
    match ok(s) {
        CommandBody::Sort { uid, criteria, key } => (uid, criteria, key),
        other => panic!("{other:?}"),
    }
}

fn crit(reverse: bool, key: SortKey) -> SortCriterion {
    SortCriterion { reverse, key }
}

#[test]
fn sort_forms() {
    use SearchKey as K;
    use SortKey as S;
    // RFC 5256 examples
    assert_eq!(
        sort(b"a SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\n"),
        (
            false,
            vec![crit(false, S::Subject)],
            K::Since(crate::datetime::days_from_civil(1994, 2, 1))
        )
    );
    assert_eq!(
        sort(b"a SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n"),
        (
            false,
            vec![crit(false, S::Subject), crit(true, S::Date)],
            K::All
        )
    );
    assert_eq!(
        sort(b"a UID SORT (REVERSE ARRIVAL) US-ASCII UNDELETED UNKEYWORD $Junk\r\n"),
        (
            true,
            vec![crit(true, S::Arrival)],
            K::And(vec![K::Undeleted, K::Unkeyword("$Junk".into())])
        )
    );
    assert_eq!(
        sort(b"a uid sort (arrival cc date from size subject to reverse to) \"utf-8\" OR SEEN (FROM \"j\xc3\xb6rg\")\r\n"),
        (
            true,
            vec![
                crit(false, S::Arrival),
                crit(false, S::Cc),
                crit(false, S::Date),
                crit(false, S::From),
                crit(false, S::Size),
                crit(false, S::Subject),
                crit(false, S::To),
                crit(true, S::To),
            ],
            K::Or(Box::new(K::Seen), Box::new(K::From("jörg".into())))
        )
    );
    assert_eq!(
        sort(b"a SORT (SIZE) UTF-8 1:5 $\r\n").2,
        K::And(vec![K::SequenceSet(set("1:5")), K::Saved])
    );
    for (k, name) in [
        (S::Arrival, "ARRIVAL"),
        (S::Cc, "CC"),
        (S::Date, "DATE"),
        (S::From, "FROM"),
        (S::Size, "SIZE"),
        (S::Subject, "SUBJECT"),
        (S::To, "TO"),
    ] {
        assert_eq!(k.as_str(), name);
        let (_, c, _) = sort(format!("a SORT (REVERSE {name}) UTF-8 ALL\r\n").as_bytes());
        assert_eq!(c, vec![crit(true, k)]);
    }
}

fn thread(s: &[u8]) -> (bool, ThreadAlgorithm, SearchKey) {
    match ok(s) {
        CommandBody::Thread {
            uid,
            algorithm,
            key,
        } => (uid, algorithm, key),
        other => panic!("{other:?}"),
    }
}

#[test]
fn thread_forms() {
    use SearchKey as K;
    use ThreadAlgorithm as T;
    assert_eq!(
        thread(b"a THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n"),
        (
            false,
            T::OrderedSubject,
            K::Since(crate::datetime::days_from_civil(2000, 3, 5))
        )
    );
    assert_eq!(
        thread(b"a THREAD REFERENCES US-ASCII TEXT \"gewp\"\r\n"),
        (false, T::References, K::Text("gewp".into()))
    );
    assert_eq!(
        thread(b"a uid thread references \"UTF-8\" NOT DELETED (SEEN)\r\n"),
        (
            true,
            T::References,
            K::And(vec![K::Not(Box::new(K::Deleted)), K::Seen])
        )
    );
    assert_eq!(T::References.as_str(), "REFERENCES");
    assert_eq!(T::OrderedSubject.as_str(), "ORDEREDSUBJECT");
}

#[test]
fn sort_thread_errors() {
    for s in [
        &b"a SORT\r\n"[..],
        b"a SORT ()\r\n",
        b"a SORT () UTF-8 ALL\r\n",
        b"a SORT (FOO) UTF-8 ALL\r\n",
        b"a SORT (REVERSE) UTF-8 ALL\r\n",
        b"a SORT (REVERSE REVERSE DATE) UTF-8 ALL\r\n",
        b"a SORT (REVERSE  DATE) UTF-8 ALL\r\n",
        b"a SORT (DATE ) UTF-8 ALL\r\n",
        b"a SORT ( DATE) UTF-8 ALL\r\n",
        b"a SORT (DATE UTF-8 ALL\r\n",
        b"a SORT ((DATE)) UTF-8 ALL\r\n",
        b"a SORT DATE UTF-8 ALL\r\n",
        b"a SORT (DATE) ALL\r\n",
        b"a SORT (DATE)\r\n",
        b"a SORT (DATE) \r\n",
        b"a SORT (DATE)UTF-8 ALL\r\n",
        b"a SORT (DATE)  UTF-8 ALL\r\n",
        b"a SORT (DATE) UTF-8\r\n",
        b"a SORT (DATE) UTF-8 \r\n",
        b"a SORT (DATE) UTF-8 FOO\r\n",
        b"a SORT (DATE) UTF-8 ALL \r\n",
        b"a SORT (DATE) UTF-8 ALL)\r\n",
        b"a SORT (DATE) {5}\r\nUTF-8 ALL\r\n",
        b"a SORT (DATE) \"UTF-8 ALL\r\n",
        b"a SORT RETURN (ALL) (DATE) UTF-8 ALL\r\n",
        b"a SORT (DATE) UTF-8 SUBJECT {1}\r\n\xff\r\n",
        b"a UID SORT\r\n",
        b"a UID SORT (DATE)\r\n",
        b"a THREAD\r\n",
        b"a THREAD REFERENCES\r\n",
        b"a THREAD REFERENCES UTF-8\r\n",
        b"a THREAD REFERENCES ALL\r\n",
        b"a THREAD FOO UTF-8 ALL\r\n",
        b"a THREAD REFS UTF-8 ALL\r\n",
        b"a THREAD (REFERENCES) UTF-8 ALL\r\n",
        b"a THREAD \"REFERENCES\" UTF-8 ALL\r\n",
        b"a THREAD REFERENCES  UTF-8 ALL\r\n",
        b"a THREAD REFERENCES UTF-8 ALL extra)\r\n",
        b"a UID THREAD\r\n",
        b"a UID THREAD ORDEREDSUBJECT\r\n",
    ] {
        bad(s);
    }
    // unsupported charsets get a tagged NO [BADCHARSET]
    for s in [
        &b"a SORT (DATE) KOI8-R ALL\r\n"[..],
        b"a UID SORT (DATE) \"ISO-8859-1\" ALL\r\n",
        b"a THREAD REFERENCES KOI8-R ALL\r\n",
        b"a UID THREAD ORDEREDSUBJECT x SUBJECT y\r\n",
        // there is no CHARSET keyword: this names a charset "CHARSET"
        b"a SORT (DATE) CHARSET UTF-8 ALL\r\n",
    ] {
        let e = parse_command(s).unwrap_err();
        assert_eq!(e.tag.as_deref(), Some("a"));
        assert_eq!(e.code.as_deref(), Some(BADCHARSET_CODE));
        assert_eq!(
            e.response(),
            b"a NO [BADCHARSET (UTF-8)] Unsupported charset\r\n"
        );
    }
    // the search keys are depth-bounded as in SEARCH
    let nested = |n: usize| {
        format!(
            "a SORT (DATE) UTF-8 {}ALL{}\r\n",
            "(".repeat(n),
            ")".repeat(n)
        )
    };
    assert!(parse_command(nested(MAX_DEPTH).as_bytes()).is_ok());
    bad(nested(MAX_DEPTH + 1).as_bytes());
    let nots = |n: usize| format!("a THREAD REFERENCES UTF-8 {}SEEN\r\n", "NOT ".repeat(n));
    assert!(parse_command(nots(MAX_DEPTH).as_bytes()).is_ok());
    bad(nots(MAX_DEPTH + 1).as_bytes());
    bad(nots(100_000).as_bytes());
}

// ---------------------------------------------------------------- QUOTA

#[test]
fn quota_forms() {
    use QuotaResource as Q;
    assert_eq!(
        ok(b"a GETQUOTA \"\"\r\n"),
        CommandBody::GetQuota { root: "".into() }
    );
    assert_eq!(
        ok(b"a getquota #user/alice\r\n"),
        CommandBody::GetQuota {
            root: "#user/alice".into()
        }
    );
    assert_eq!(
        ok(b"a GETQUOTA {6}\r\nr\xc3\xb6\xc3\xb6t\r\n"),
        CommandBody::GetQuota {
            root: "rööt".into()
        }
    );
    assert_eq!(
        ok(b"a GETQUOTAROOT inbox\r\n"),
        CommandBody::GetQuotaRoot {
            mailbox: mbox("INBOX")
        }
    );
    assert_eq!(
        ok(b"a GETQUOTAROOT &ZeVnLIqe-\r\n"),
        CommandBody::GetQuotaRoot {
            mailbox: mbox("日本語")
        }
    );
    assert_eq!(
        ok_utf8("a GETQUOTAROOT \"日本語\"\r\n".as_bytes()),
        CommandBody::GetQuotaRoot {
            mailbox: mbox("日本語")
        }
    );
    assert_eq!(
        ok(b"a SETQUOTA \"\" (STORAGE 512)\r\n"),
        CommandBody::SetQuota {
            root: "".into(),
            limits: vec![(Q::Storage, 512)]
        }
    );
    assert_eq!(
        ok(b"a SETQUOTA \"\" ()\r\n"),
        CommandBody::SetQuota {
            root: "".into(),
            limits: vec![]
        }
    );
    assert_eq!(
        ok(b"a setquota root (storage 0 Message 1000 MAILBOX 10 annotation-storage 9223372036854775807 x-foo 5)\r\n"),
        CommandBody::SetQuota {
            root: "root".into(),
            limits: vec![
                (Q::Storage, 0),
                (Q::Message, 1000),
                (Q::Mailbox, 10),
                (Q::AnnotationStorage, i64::MAX as u64),
                (Q::Other("X-FOO".into()), 5),
            ]
        }
    );
    for (q, name) in [
        (Q::Storage, "STORAGE"),
        (Q::Message, "MESSAGE"),
        (Q::Mailbox, "MAILBOX"),
        (Q::AnnotationStorage, "ANNOTATION-STORAGE"),
        (Q::Other("X-FOO".into()), "X-FOO"),
    ] {
        assert_eq!(q.as_str(), name);
    }
    let many = |n: usize| {
        let items: Vec<String> = (0..n).map(|i| format!("R{i} 1")).collect();
        format!("a SETQUOTA \"\" ({})\r\n", items.join(" "))
    };
    assert!(parse_command(many(MAX_QUOTA_RESOURCES).as_bytes()).is_ok());
    assert_eq!(
        bad(many(MAX_QUOTA_RESOURCES + 1).as_bytes()).message,
        "Too many quota resources"
    );
}

#[test]
fn quota_errors() {
    for s in [
        &b"a GETQUOTA\r\n"[..],
        b"a GETQUOTA \r\n",
        b"a GETQUOTA a b\r\n",
        b"a GETQUOTA (a)\r\n",
        b"a GETQUOTA {1}\r\n\xff\r\n",
        b"a GETQUOTA \"a\r\n",
        b"a GETQUOTAROOT\r\n",
        b"a GETQUOTAROOT a b\r\n",
        b"a GETQUOTAROOT &AAA-\r\n",
        b"a GETQUOTAROOT \"\xc3\xa9\"\r\n",
        b"a SETQUOTA\r\n",
        b"a SETQUOTA \"\"\r\n",
        b"a SETQUOTA \"\" \r\n",
        b"a SETQUOTA \"\" STORAGE 512\r\n",
        b"a SETQUOTA \"\" (STORAGE)\r\n",
        b"a SETQUOTA \"\" (STORAGE x)\r\n",
        b"a SETQUOTA \"\" (STORAGE -1)\r\n",
        b"a SETQUOTA \"\" (STORAGE 9223372036854775808)\r\n",
        b"a SETQUOTA \"\" (STORAGE 1 storage 2)\r\n",
        b"a SETQUOTA \"\" (X 1 x 2)\r\n",
        b"a SETQUOTA \"\" (STORAGE 1\r\n",
        b"a SETQUOTA \"\" (STORAGE  1)\r\n",
        b"a SETQUOTA \"\" (STORAGE 1 )\r\n",
        b"a SETQUOTA \"\" ( )\r\n",
        b"a SETQUOTA \"\" ((STORAGE 1))\r\n",
        b"a SETQUOTA \"\" (\"STORAGE\" 1)\r\n",
        b"a SETQUOTA \"\" (STORAGE 1) x\r\n",
        b"a SETQUOTA \"\"(STORAGE 1)\r\n",
    ] {
        bad(s);
    }
    assert_eq!(
        bad(b"a SETQUOTA \"\" (STORAGE 1 STORAGE 2)\r\n").message,
        "Duplicate quota resource"
    );
}

// ------------------------------------------------------- COMPRESS, ENABLE

#[test]
fn compress_and_enable() {
    assert_eq!(
        ok(b"a COMPRESS DEFLATE\r\n"),
        CommandBody::Compress {
            mechanism: "DEFLATE".into()
        }
    );
    assert_eq!(
        ok(b"a compress deflate\r\n"),
        CommandBody::Compress {
            mechanism: "DEFLATE".into()
        }
    );
    assert_eq!(
        ok(b"a COMPRESS x-zstd\r\n"),
        CommandBody::Compress {
            mechanism: "X-ZSTD".into()
        }
    );
    for s in [
        &b"a COMPRESS\r\n"[..],
        b"a COMPRESS \r\n",
        b"a COMPRESS DEFLATE x\r\n",
        b"a COMPRESS \"DEFLATE\"\r\n",
        b"a COMPRESS (DEFLATE)\r\n",
        b"a COMPRESS {7}\r\nDEFLATE\r\n",
    ] {
        bad(s);
    }
    assert_eq!(
        ok(b"a ENABLE CONDSTORE QRESYNC UTF8=ACCEPT IMAP4rev2\r\n"),
        CommandBody::Enable(strings(&[
            "CONDSTORE",
            "QRESYNC",
            "UTF8=ACCEPT",
            "IMAP4rev2"
        ]))
    );
    assert_eq!(
        ok(b"a enable qresync\r\n"),
        CommandBody::Enable(strings(&["qresync"]))
    );
    for s in [
        &b"a ENABLE\r\n"[..],
        b"a ENABLE \r\n",
        b"a ENABLE QRESYNC  CONDSTORE\r\n",
        b"a ENABLE (QRESYNC)\r\n",
        b"a ENABLE \"QRESYNC\"\r\n",
        b"a ENABLE QRESYNC \r\n",
    ] {
        bad(s);
    }
}

#[test]
fn extension_command_names() {
    for (s, name) in [
        ("a SORT (DATE) UTF-8 ALL\r\n", "SORT"),
        ("a UID SORT (DATE) UTF-8 ALL\r\n", "UID SORT"),
        ("a THREAD REFERENCES UTF-8 ALL\r\n", "THREAD"),
        ("a UID THREAD REFERENCES UTF-8 ALL\r\n", "UID THREAD"),
        ("a GETQUOTA \"\"\r\n", "GETQUOTA"),
        ("a GETQUOTAROOT INBOX\r\n", "GETQUOTAROOT"),
        ("a SETQUOTA \"\" ()\r\n", "SETQUOTA"),
        ("a COMPRESS DEFLATE\r\n", "COMPRESS"),
        ("a LIST (SUBSCRIBED) \"\" * RETURN (CHILDREN)\r\n", "LIST"),
        ("a SELECT x (QRESYNC (1 2))\r\n", "SELECT"),
        ("a EXAMINE x (QRESYNC (1 2))\r\n", "EXAMINE"),
        (
            "a UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n",
            "UID FETCH",
        ),
    ] {
        assert_eq!(ok(s.as_bytes()).name(), name);
    }
}

#[test]
fn extensions_through_framer() {
    let input: &[u8] =
        b"a LIST (SUBSCRIBED) \"\" ({3}\r\nx y {1+}\r\n%) RETURN (STATUS (MESSAGES))\r\n\
b UID SORT (REVERSE DATE) UTF-8 SUBJECT {2}\r\nhi\r\n\
c NOOP\r\n";
    for at in 0..=input.len() {
        let mut f = Framer::new(Limits::default());
        let mut cmds = Vec::new();
        for chunk in [&input[..at], &input[at..]] {
            f.push(chunk);
            while let Some(frame) = f.next_frame() {
                match frame {
                    Frame::Command(c) => cmds.push(parse_command(&c).unwrap()),
                    Frame::Continue => {}
                    other => panic!("split at {at}: {other:?}"),
                }
            }
        }
        assert_eq!(cmds.len(), 3, "split at {at}");
        assert_eq!(
            list_parts(cmds[0].body.clone()).3,
            strings(&["x y", "%"]),
            "split at {at}"
        );
        assert_eq!(
            cmds[1].body,
            CommandBody::Sort {
                uid: true,
                criteria: vec![crit(true, SortKey::Date)],
                key: SearchKey::Subject("hi".into()),
            }
        );
        assert_eq!(cmds[2].body, CommandBody::Noop);
    }
}

proptest! {
    #[test]
    fn extension_commands_never_panic(
        parts in proptest::collection::vec(prop_oneof![
            Just(&b"a "[..]), Just(&b"SELECT x "[..]), Just(&b"EXAMINE "[..]), Just(&b"(QRESYNC "[..]),
            Just(&b"CONDSTORE"[..]), Just(&b"LIST "[..]), Just(&b"(SUBSCRIBED"[..]),
            Just(&b"RECURSIVEMATCH"[..]), Just(&b"REMOTE"[..]), Just(&b"SPECIAL-USE"[..]),
            Just(&b"RETURN "[..]), Just(&b"STATUS "[..]), Just(&b"(MESSAGES"[..]),
            Just(&b"CHILDREN"[..]), Just(&b"SORT "[..]), Just(&b"THREAD "[..]), Just(&b"UID "[..]),
            Just(&b"REVERSE "[..]), Just(&b"DATE"[..]), Just(&b"REFERENCES "[..]),
            Just(&b"UTF-8 "[..]), Just(&b"KOI8-R "[..]), Just(&b"ALL"[..]), Just(&b"GETQUOTA "[..]),
            Just(&b"GETQUOTAROOT "[..]), Just(&b"SETQUOTA "[..]), Just(&b"STORAGE "[..]),
            Just(&b"COMPRESS "[..]), Just(&b"DEFLATE"[..]), Just(&b"FETCH 1 FLAGS "[..]),
            Just(&b"(CHANGEDSINCE "[..]), Just(&b"VANISHED"[..]), Just(&b"ENABLE "[..]),
            Just(&b"("[..]), Just(&b")"[..]), Just(&b" "[..]), Just(&b"\"\""[..]), Just(&b"1"[..]),
            Just(&b"1:*"[..]), Just(&b"0"[..]), Just(&b"*"[..]), Just(&b"%"[..]), Just(&b","[..]),
            Just(&b"{2}\r\n"[..]), Just(&b"&ZeVnLIqe-"[..]), Just(&b"\r\n"[..]), Just(&b"\xff"[..]),
        ], 0..60))
    {
        let input: Vec<u8> = parts.concat();
        for opts in [ParseOptions::default(), ParseOptions { utf8: true }] {
            match parse_command_with(&input, opts) {
                Ok(cmd) => {
                    // a parsed LIST always has a first pattern
                    if let CommandBody::List { pattern, patterns, .. } = &cmd.body {
                        prop_assert_eq!(patterns.first(), Some(pattern));
                    }
                    prop_assert!(!cmd.body.name().is_empty());
                }
                Err(e) => {
                    let r = e.response();
                    prop_assert!(r.ends_with(b"\r\n"));
                    prop_assert!(!r[..r.len() - 2].contains(&b'\n'));
                }
            }
        }
    }
}
