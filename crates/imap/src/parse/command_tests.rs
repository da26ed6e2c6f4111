//! Tests for the mailbox, message and search commands.

use super::*;
use crate::datetime::days_from_civil;
use crate::framer::{Frame, Framer, Limits};
use proptest::prelude::*;

fn ok(s: &[u8]) -> CommandBody {
    parse_command(s)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(s)))
        .body
}

/// Asserts that `s` fails with the tag `a` recovered; returns the error.
fn bad(s: &[u8]) -> ParseError {
    let e = parse_command(s).expect_err(&String::from_utf8_lossy(s));
    assert_eq!(
        e.tag.as_deref(),
        Some("a"),
        "{:?}",
        String::from_utf8_lossy(s)
    );
    e
}

fn mbox(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

fn set(s: &str) -> SequenceSet {
    s.parse().unwrap()
}

#[test]
fn mailbox_commands() {
    assert_eq!(
        ok(b"a CREATE \"New Folder\"\r\n"),
        CommandBody::Create {
            mailbox: mbox("New Folder")
        }
    );
    assert_eq!(
        ok(b"a delete &ZeVnLIqe-\r\n"),
        CommandBody::Delete {
            mailbox: mbox("日本語")
        }
    );
    assert_eq!(
        ok(b"a RENAME {3}\r\nold new/sub\r\n"),
        CommandBody::Rename {
            from: mbox("old"),
            to: mbox("new/sub")
        }
    );
    assert_eq!(
        ok(b"a SUBSCRIBE inbox\r\n"),
        CommandBody::Subscribe {
            mailbox: mbox("INBOX")
        }
    );
    assert_eq!(
        ok(b"a UNSUBSCRIBE Trash\r\n"),
        CommandBody::Unsubscribe {
            mailbox: mbox("Trash")
        }
    );
    assert_eq!(
        ok(b"a LSUB \"\" %/&ZeVnLIqe-*\r\n"),
        CommandBody::Lsub {
            reference: "".into(),
            pattern: "%/日本語*".into()
        }
    );
    assert_eq!(ok(b"a NAMESPACE\r\n"), CommandBody::Namespace);
    assert_eq!(ok(b"a idle\r\n"), CommandBody::Idle);
    assert_eq!(ok(b"a EXPUNGE\r\n"), CommandBody::Expunge);
    // UTF-8 mode
    let c = parse_command_with(
        "a CREATE \"Entwürfe\"\r\n".as_bytes(),
        ParseOptions { utf8: true },
    )
    .unwrap();
    assert_eq!(
        c.body,
        CommandBody::Create {
            mailbox: mbox("Entwürfe")
        }
    );
    for s in [
        &b"a CREATE\r\n"[..],
        b"a CREATE \r\n",
        b"a CREATE a b\r\n",
        b"a CREATE &AAA-\r\n",
        b"a CREATE \"\xc3\xa9\"\r\n",
        b"a DELETE (x)\r\n",
        b"a RENAME a\r\n",
        b"a RENAME a  b\r\n",
        b"a SUBSCRIBE\r\n",
        b"a UNSUBSCRIBE {2}\r\nx\r\n",
        b"a LSUB \"\"\r\n",
        b"a LSUB \"\" (a b)\r\n",
        b"a NAMESPACE x\r\n",
        b"a IDLE now\r\n",
        b"a EXPUNGE 1\r\n",
    ] {
        bad(s);
    }
}

fn append(s: &[u8]) -> (MailboxName, Vec<String>, Option<i64>, Vec<u8>, bool) {
    match ok(s) {
        CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
            binary,
        } => (mailbox, flags, date, message, binary),
        other => panic!("{other:?}"),
    }
}

#[test]
fn append_forms() {
    assert_eq!(
        append(b"a APPEND INBOX {5}\r\nhello\r\n"),
        (mbox("INBOX"), vec![], None, b"hello".to_vec(), false)
    );
    assert_eq!(
        append(
            b"a APPEND Sent (\\seen \\DRAFT $Label) \"14-Nov-2023 17:13:20 -0500\" {6+}\r\nA\r\n\r\nB\r\n"
        ),
        (
            mbox("Sent"),
            vec!["\\Seen".into(), "\\Draft".into(), "$Label".into()],
            Some(1_700_000_000),
            b"A\r\n\r\nB".to_vec(),
            false
        )
    );
    // empty flag list, space-padded day, date without flags
    assert_eq!(
        append(b"a APPEND x () \" 1-Jan-1970 00:00:00 +0000\" {1}\r\nz\r\n").2,
        Some(0)
    );
    assert_eq!(
        append(b"a APPEND x \" 1-Jan-1970 00:00:01 +0000\" {1}\r\nz\r\n").2,
        Some(1)
    );
    assert!(append(b"a APPEND x () {1}\r\nz\r\n").1.is_empty());
    // literal8 may hold NUL; an empty message parses (the server decides)
    assert_eq!(
        append(b"a APPEND x ~{3}\r\n\0\x01\xff\r\n"),
        (mbox("x"), vec![], None, b"\0\x01\xff".to_vec(), true)
    );
    assert!(append(b"a APPEND x ~{2+}\r\nab\r\n").4);
    assert!(append(b"a APPEND x {0}\r\n\r\n").3.is_empty());
    // the mailbox itself may be a literal
    assert_eq!(
        append(b"a APPEND {4}\r\nSent {2}\r\nhi\r\n").0,
        mbox("Sent")
    );

    let e = bad(b"a APPEND x \"30-Feb-2020 00:00:00 +0000\" {1}\r\nz\r\n");
    assert_eq!(e.message, "Invalid date-time");
    assert_eq!(e.code, None);
    for s in [
        &b"a APPEND x \"14-Nov-2023 25:13:20 -0500\" {1}\r\nz\r\n"[..],
        b"a APPEND x \"yesterday\" {1}\r\nz\r\n",
        b"a APPEND x (\\Recent) {1}\r\nz\r\n",
        b"a APPEND x (\\Foo) {1}\r\nz\r\n",
        b"a APPEND x (\\) {1}\r\nz\r\n",
        b"a APPEND x (a b {1}\r\nz\r\n",
        b"a APPEND x \"quoted message\"\r\n",
        b"a APPEND x hello\r\n",
        b"a APPEND x\r\n",
        b"a APPEND x {1}\r\n\0\r\n",
        b"a APPEND x {10}\r\nshort\r\n",
        b"a APPEND x {1}\r\nzz\r\n",
        b"a APPEND x {1}\r\nz extra\r\n",
        b"a APPEND x ~{1\r\nz\r\n",
        b"a APPEND x \"1-Jan-2020 00:00:00 +0000\" () {1}\r\nz\r\n",
        b"a APPEND x () () {1}\r\nz\r\n",
    ] {
        bad(s);
    }
}

/// All frames of `input` pushed in two chunks split at `at`.
fn frames_split(input: &[u8], at: usize) -> Vec<Frame> {
    let mut f = Framer::new(Limits::default());
    let mut out = Vec::new();
    for chunk in [&input[..at], &input[at..]] {
        f.push(chunk);
        out.extend(std::iter::from_fn(|| f.next_frame()));
    }
    out
}

#[test]
fn append_through_framer_at_every_split() {
    let input: &[u8] = b"a APPEND Drafts (\\Draft) {12}\r\nSubject: x\r\n\r\n\
b APPEND INBOX {9+}\r\nline\r\n{1}\r\n\
c APPEND INBOX ~{4}\r\n\0{}\n\r\n\
d NOOP\r\n";
    let expected = [
        (
            "a",
            mbox("Drafts"),
            vec!["\\Draft".to_owned()],
            &b"Subject: x\r\n"[..],
            false,
        ),
        ("b", mbox("INBOX"), vec![], &b"line\r\n{1}"[..], false),
        ("c", mbox("INBOX"), vec![], &b"\0{}\n"[..], true),
    ];
    for at in 0..=input.len() {
        let frames = frames_split(input, at);
        // a and c are synchronising; b is not
        let continues = frames.iter().filter(|f| **f == Frame::Continue).count();
        assert_eq!(continues, 2, "split at {at}");
        let cmds: Vec<Command> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Command(c) => Some(parse_command(c).unwrap()),
                Frame::Continue => None,
                other => panic!("split at {at}: {other:?}"),
            })
            .collect();
        assert_eq!(cmds.len(), 4, "split at {at}");
        for (cmd, (tag, mailbox, flags, message, binary)) in cmds.iter().zip(&expected) {
            assert_eq!(cmd.tag, *tag);
            assert_eq!(
                cmd.body,
                CommandBody::Append {
                    mailbox: mailbox.clone(),
                    flags: flags.clone(),
                    date: None,
                    message: message.to_vec(),
                    binary: *binary,
                },
                "split at {at}"
            );
        }
        assert_eq!(cmds[3].body, CommandBody::Noop);
    }
}

#[test]
fn literal8_size_limits_in_framer() {
    let limits = Limits {
        max_literal: 4,
        ..Limits::default()
    };
    let mut f = Framer::new(limits);
    f.push(b"a APPEND x ~{5}\r\nb NOOP\r\n");
    assert_eq!(
        f.next_frame(),
        Some(Frame::LiteralTooBig {
            tag: Some("a".into()),
            size: 5
        })
    );
    assert_eq!(f.next_frame(), Some(Frame::Command(b"b NOOP\r\n".to_vec())));
    let mut f = Framer::new(limits);
    f.push(b"a APPEND x ~{5+}\r\n\0\0\0\0\0\r\n");
    assert!(matches!(f.next_frame(), Some(Frame::Fatal(_))));
}

fn store(s: &[u8]) -> (bool, String, StoreAction, bool, Vec<String>, Option<u64>) {
    match ok(s) {
        CommandBody::Store {
            uid,
            set,
            action,
            silent,
            flags,
            unchanged_since,
        } => (uid, set.to_string(), action, silent, flags, unchanged_since),
        other => panic!("{other:?}"),
    }
}

#[test]
fn store_forms() {
    use StoreAction as A;
    assert_eq!(
        store(b"a STORE 1:3 FLAGS (\\Seen \\answered)\r\n"),
        (
            false,
            "1:3".into(),
            A::Replace,
            false,
            vec!["\\Seen".into(), "\\Answered".into()],
            None
        )
    );
    assert_eq!(
        store(b"a UID STORE 5,7:* +FLAGS.SILENT (\\Deleted)\r\n"),
        (
            true,
            "5,7:*".into(),
            A::Add,
            true,
            vec!["\\Deleted".into()],
            None
        )
    );
    assert_eq!(
        store(b"a STORE * -flags $Junk \\FLAGGED NonJunk\r\n"),
        (
            false,
            "*".into(),
            A::Remove,
            false,
            vec!["$Junk".into(), "\\Flagged".into(), "NonJunk".into()],
            None
        )
    );
    assert_eq!(store(b"a STORE 1 FLAGS ()\r\n").4, Vec::<String>::new());
    assert!(store(b"a STORE 1 -FLAGS.silent ()\r\n").3);
    assert_eq!(
        store(b"a STORE 1 (UNCHANGEDSINCE 12345) +FLAGS (\\Draft)\r\n"),
        (
            false,
            "1".into(),
            A::Add,
            false,
            vec!["\\Draft".into()],
            Some(12345)
        )
    );
    assert_eq!(
        store(b"a UID STORE 1 (unchangedsince 0) FLAGS.SILENT ()\r\n").5,
        Some(0)
    );
    assert_eq!(
        store(b"a STORE 1 (UNCHANGEDSINCE 9223372036854775807) FLAGS ()\r\n").5,
        Some(i64::MAX as u64)
    );
    for s in [
        &b"a STORE 1 FLAGS (\\Recent)\r\n"[..],
        b"a STORE 1 +FLAGS \\Recent\r\n",
        b"a STORE 1 FLAGS (\\Foo)\r\n",
        b"a STORE 1 FLAGS (\\)\r\n",
        b"a STORE 1 FLAGS (\\*)\r\n",
        b"a STORE 1 FLAGS\r\n",
        b"a STORE 1 FLAGS \r\n",
        b"a STORE 1 +FLAGS\r\n",
        b"a STORE 1 FLAGZ (x)\r\n",
        b"a STORE 1 *FLAGS (x)\r\n",
        b"a STORE 1 FLAGS.LOUD (x)\r\n",
        b"a STORE 1 FLAGS (a\r\n",
        b"a STORE 1 FLAGS ( )\r\n",
        b"a STORE 1 FLAGS (a  b)\r\n",
        b"a STORE 1 FLAGS ((a))\r\n",
        b"a STORE 1 FLAGS (a) b\r\n",
        b"a STORE 1 FLAGS a ()\r\n",
        b"a STORE 1 FLAGS \"quoted\"\r\n",
        b"a STORE 0 FLAGS (x)\r\n",
        b"a STORE FLAGS (x)\r\n",
        b"a STORE 1 (UNCHANGEDSINCE) FLAGS (x)\r\n",
        b"a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) FLAGS (x)\r\n",
        b"a STORE 1 (UNCHANGEDSINCE 9223372036854775808) FLAGS (x)\r\n",
        b"a STORE 1 (FOO 1) FLAGS (x)\r\n",
        b"a STORE 1 () FLAGS (x)\r\n",
        b"a STORE 1 (UNCHANGEDSINCE 5)FLAGS (x)\r\n",
        b"a UID STORE 1\r\n",
    ] {
        bad(s);
    }
}

#[test]
fn copy_move_expunge() {
    assert_eq!(
        ok(b"a COPY 1:3,5 \"Sent Items\"\r\n"),
        CommandBody::Copy {
            uid: false,
            set: set("1:3,5"),
            mailbox: mbox("Sent Items")
        }
    );
    assert_eq!(
        ok(b"a UID COPY 10:* inbox\r\n"),
        CommandBody::Copy {
            uid: true,
            set: set("10:*"),
            mailbox: mbox("INBOX")
        }
    );
    assert_eq!(
        ok(b"a MOVE 2 Trash\r\n"),
        CommandBody::Move {
            uid: false,
            set: set("2"),
            mailbox: mbox("Trash")
        }
    );
    assert_eq!(
        ok(b"a uid move 4:2 {5}\r\nJunk!\r\n"),
        CommandBody::Move {
            uid: true,
            set: set("4:2"),
            mailbox: mbox("Junk!")
        }
    );
    assert_eq!(
        ok(b"a UID EXPUNGE 3:5,9\r\n"),
        CommandBody::UidExpunge { set: set("3:5,9") }
    );
    for s in [
        &b"a COPY 1\r\n"[..],
        b"a COPY 1 \r\n",
        b"a COPY x y\r\n",
        b"a COPY 0 y\r\n",
        b"a MOVE 1 a b\r\n",
        b"a MOVE $1 Trash\r\n",
        b"a UID MOVE\r\n",
        b"a UID EXPUNGE\r\n",
        b"a UID EXPUNGE 1:x\r\n",
        b"a UID EXPUNGE 1 2\r\n",
        b"a UID FROB 1\r\n",
    ] {
        bad(s);
    }
}

#[test]
fn fetch_changedsince() {
    let CommandBody::Fetch {
        uid,
        items,
        changed_since,
        ..
    } = ok(b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n")
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(items, vec![FetchItem::Flags]);
    assert_eq!(changed_since, Some(12345));
    let CommandBody::Fetch { changed_since, .. } = ok(b"a FETCH 1 FAST (changedsince 1)\r\n")
    else {
        panic!()
    };
    assert_eq!(changed_since, Some(1));
    let CommandBody::Fetch { changed_since, .. } = ok(b"a FETCH 1 UID\r\n") else {
        panic!()
    };
    assert_eq!(changed_since, None);
    for s in [
        &b"a FETCH 1 FLAGS (CHANGEDSINCE 0)\r\n"[..],
        b"a FETCH 1 FLAGS (CHANGEDSINCE)\r\n",
        b"a FETCH 1 FLAGS (CHANGEDSINCE x)\r\n",
        b"a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n",
        b"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n",
        b"a FETCH 1 FLAGS ()\r\n",
        b"a FETCH 1 FLAGS (CHANGEDSINCE 1\r\n",
        b"a FETCH 1 FLAGS CHANGEDSINCE 1\r\n",
        b"a FETCH 1 FLAGS \r\n",
    ] {
        bad(s);
    }
}

fn search(s: &[u8]) -> (bool, Option<Vec<SearchReturn>>, SearchKey) {
    match ok(s) {
        CommandBody::Search { uid, ret, key } => (uid, ret, key),
        other => panic!("{other:?}"),
    }
}

fn key(s: &str) -> SearchKey {
    search(format!("a SEARCH {s}\r\n").as_bytes()).2
}

fn day(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d)
}

#[test]
fn search_simple_keys() {
    use SearchKey as K;
    for (s, k) in [
        ("ALL", K::All),
        ("answered", K::Answered),
        ("DELETED", K::Deleted),
        ("DRAFT", K::Draft),
        ("FLAGGED", K::Flagged),
        ("NEW", K::New),
        ("OLD", K::Old),
        ("RECENT", K::Recent),
        ("SEEN", K::Seen),
        ("UNANSWERED", K::Unanswered),
        ("UNDELETED", K::Undeleted),
        ("UNDRAFT", K::Undraft),
        ("UNFLAGGED", K::Unflagged),
        ("UNSEEN", K::Unseen),
        ("BCC bob", K::Bcc("bob".into())),
        ("BODY \"two words\"", K::Body("two words".into())),
        ("CC {3}\r\na b", K::Cc("a b".into())),
        ("FROM \"jörg\"", K::From("jörg".into())),
        ("SUBJECT \"\"", K::Subject("".into())),
        ("TEXT x", K::Text("x".into())),
        ("TO y@z", K::To("y@z".into())),
        (
            "HEADER Message-ID \"<a@b>\"",
            K::Header("Message-ID".into(), "<a@b>".into()),
        ),
        ("HEADER X-Spam \"\"", K::Header("X-Spam".into(), "".into())),
        ("KEYWORD $Junk", K::Keyword("$Junk".into())),
        ("UNKEYWORD foo", K::Unkeyword("foo".into())),
        ("LARGER 1000", K::Larger(1000)),
        ("SMALLER 0", K::Smaller(0)),
        ("BEFORE 1-Feb-1994", K::Before(day(1994, 2, 1))),
        ("ON \"29-feb-2024\"", K::On(day(2024, 2, 29))),
        ("SINCE 01-Jan-1970", K::Since(0)),
        ("SENTBEFORE 31-Dec-1969", K::SentBefore(-1)),
        ("SENTON 14-Nov-2023", K::SentOn(day(2023, 11, 14))),
        ("SENTSINCE 1-Jan-2000", K::SentSince(day(2000, 1, 1))),
        ("UID 1:*", K::Uid(set("1:*"))),
        ("UID $", K::Saved),
        ("$", K::Saved),
        ("1,3:5,*", K::SequenceSet(set("1,3:5,*"))),
        ("MODSEQ 620162338", K::Modseq(620_162_338)),
        (
            "MODSEQ \"/flags/\\\\draft\" all 620162338",
            K::Modseq(620_162_338),
        ),
        ("MODSEQ \"/flags/$Junk\" priv 1", K::Modseq(1)),
        ("(SEEN)", K::Seen),
    ] {
        assert_eq!(key(s), k, "{s}");
    }
}

#[test]
fn search_trees() {
    use SearchKey as K;
    fn b(k: SearchKey) -> Box<SearchKey> {
        Box::new(k)
    }
    assert_eq!(
        key("UNSEEN FROM bob"),
        K::And(vec![K::Unseen, K::From("bob".into())])
    );
    assert_eq!(key("OR SEEN FLAGGED"), K::Or(b(K::Seen), b(K::Flagged)));
    assert_eq!(
        key("NOT (OR FROM a (TO b CC c)) UID 1:*"),
        K::And(vec![
            K::Not(b(K::Or(
                b(K::From("a".into())),
                b(K::And(vec![K::To("b".into()), K::Cc("c".into())]))
            ))),
            K::Uid(set("1:*")),
        ])
    );
    assert_eq!(
        key("OR OR FROM x TO x NOT NOT SUBJECT x"),
        K::Or(
            b(K::Or(b(K::From("x".into())), b(K::To("x".into())))),
            b(K::Not(b(K::Not(b(K::Subject("x".into()))))))
        )
    );
    assert_eq!(
        key("(SINCE 1-Jan-2024 BEFORE \"1-Feb-2024\") ((DELETED)) 2:4"),
        K::And(vec![
            K::And(vec![K::Since(day(2024, 1, 1)), K::Before(day(2024, 2, 1))]),
            K::Deleted,
            K::SequenceSet(set("2:4")),
        ])
    );
    let (uid, ret, k) = search(b"a UID SEARCH UID 1:* NOT DELETED\r\n");
    assert!(uid);
    assert_eq!(ret, None);
    assert_eq!(k, K::And(vec![K::Uid(set("1:*")), K::Not(b(K::Deleted))]));
}

#[test]
fn search_return_and_charset() {
    use SearchReturn as R;
    let (uid, ret, k) = search(b"a UID SEARCH RETURN (MIN MAX COUNT ALL SAVE) ALL\r\n");
    assert!(uid);
    assert_eq!(ret, Some(vec![R::Min, R::Max, R::Count, R::All, R::Save]));
    assert_eq!(k, SearchKey::All);
    assert_eq!(
        search(b"a SEARCH RETURN () UNSEEN\r\n").1,
        Some(vec![R::All])
    );
    assert_eq!(
        search(b"a SEARCH return (count count min) UNSEEN\r\n").1,
        Some(vec![R::Count, R::Min])
    );
    assert_eq!(
        search(b"a SEARCH RETURN (SAVE) CHARSET utf-8 SUBJECT \"\xc3\xa9\"\r\n"),
        (false, Some(vec![R::Save]), SearchKey::Subject("é".into()))
    );
    assert_eq!(
        search(b"a SEARCH CHARSET \"US-ASCII\" TEXT x\r\n").2,
        SearchKey::Text("x".into())
    );
    // unsupported charset: a tagged NO with BADCHARSET
    let e = bad(b"a SEARCH CHARSET KOI8-R SUBJECT x\r\n");
    assert_eq!(e.code.as_deref(), Some("BADCHARSET (UTF-8)"));
    assert_eq!(e.status(), crate::Status::No);
    assert_eq!(
        e.response(),
        b"a NO [BADCHARSET (UTF-8)] Unsupported charset\r\n"
    );
    assert_eq!(
        e.to_string(),
        "a NO [BADCHARSET (UTF-8)] Unsupported charset"
    );
    let e = bad(b"a SEARCH FOO\r\n");
    assert_eq!(e.code, None);
    assert_eq!(e.status(), crate::Status::Bad);
    assert_eq!(e.response(), b"a BAD Unknown search key\r\n");
    assert_eq!(e.to_string(), "a BAD Unknown search key");
    let e = parse_command(b"+ SEARCH\r\n").unwrap_err();
    assert_eq!(e.response(), b"* BAD Invalid or missing tag\r\n");
}

#[test]
fn search_errors() {
    for s in [
        &b"a SEARCH\r\n"[..],
        b"a SEARCH \r\n",
        b"a SEARCH ALL \r\n",
        b"a SEARCH ALL  SEEN\r\n",
        b"a SEARCH FOO\r\n",
        b"a SEARCH ()\r\n",
        b"a SEARCH (ALL\r\n",
        b"a SEARCH ALL)\r\n",
        b"a SEARCH (ALL )\r\n",
        b"a SEARCH OR SEEN\r\n",
        b"a SEARCH NOT\r\n",
        b"a SEARCH FROM\r\n",
        b"a SEARCH HEADER Subject\r\n",
        b"a SEARCH BEFORE 30-Feb-2020\r\n",
        b"a SEARCH BEFORE 1-Foo-2020\r\n",
        b"a SEARCH ON \"1-Jan-2020\r\n",
        b"a SEARCH SINCE 1-Jan-20\r\n",
        b"a SEARCH SINCE 2020-01-01\r\n",
        b"a SEARCH LARGER x\r\n",
        b"a SEARCH LARGER -1\r\n",
        b"a SEARCH SMALLER 99999999999999999999\r\n",
        b"a SEARCH KEYWORD \\Seen\r\n",
        b"a SEARCH UID\r\n",
        b"a SEARCH UID 0\r\n",
        b"a SEARCH 0:3\r\n",
        b"a SEARCH $x\r\n",
        b"a SEARCH 1:3x\r\n",
        b"a SEARCH SUBJECT {1}\r\n\xff\r\n",
        b"a SEARCH RETURN (FOO) ALL\r\n",
        b"a SEARCH RETURN (MIN ALL\r\n",
        b"a SEARCH RETURN MIN ALL\r\n",
        b"a SEARCH RETURN (MIN)\r\n",
        b"a SEARCH CHARSET\r\n",
        b"a SEARCH CHARSET UTF-8\r\n",
        b"a SEARCH CHARSET UTF-8 RETURN (MIN) ALL\r\n",
        b"a SEARCH MODSEQ\r\n",
        b"a SEARCH MODSEQ \"/foo/x\" all 5\r\n",
        b"a SEARCH MODSEQ \"/flags/\" all 5\r\n",
        b"a SEARCH MODSEQ \"/flags/x\" none 5\r\n",
        b"a SEARCH MODSEQ \"/flags/x\" all\r\n",
    ] {
        let e = bad(s);
        assert_eq!(e.code, None, "{:?}", String::from_utf8_lossy(s));
    }
}

#[test]
fn search_depth_bounded() {
    // Nesting up to the limit is fine, beyond it is an error, and absurd
    // nesting neither overflows the stack nor panics.
    let nested = |n: usize| format!("a SEARCH {}ALL{}\r\n", "(".repeat(n), ")".repeat(n));
    assert!(parse_command(nested(MAX_DEPTH).as_bytes()).is_ok());
    bad(nested(MAX_DEPTH + 1).as_bytes());
    let nots = |n: usize| format!("a SEARCH {}SEEN\r\n", "NOT ".repeat(n));
    assert!(parse_command(nots(MAX_DEPTH).as_bytes()).is_ok());
    bad(nots(MAX_DEPTH + 1).as_bytes());
    let ors = |n: usize| format!("a SEARCH {}SEEN{}\r\n", "OR ".repeat(n), " SEEN".repeat(n));
    assert!(parse_command(ors(MAX_DEPTH).as_bytes()).is_ok());
    bad(ors(MAX_DEPTH + 1).as_bytes());
    bad(nots(100_000).as_bytes());
    bad(nested(100_000).as_bytes());
    bad(ors(100_000).as_bytes());
    // depth is released after each sibling
    let wide = format!("a SEARCH {}\r\n", vec!["(NOT (SEEN))"; 200].join(" "));
    assert!(parse_command(wide.as_bytes()).is_ok());
}

#[test]
fn new_command_names() {
    let names = [
        ("a CREATE x\r\n", "CREATE"),
        ("a DELETE x\r\n", "DELETE"),
        ("a RENAME x y\r\n", "RENAME"),
        ("a SUBSCRIBE x\r\n", "SUBSCRIBE"),
        ("a UNSUBSCRIBE x\r\n", "UNSUBSCRIBE"),
        ("a LSUB \"\" *\r\n", "LSUB"),
        ("a NAMESPACE\r\n", "NAMESPACE"),
        ("a APPEND x {1}\r\nz\r\n", "APPEND"),
        ("a IDLE\r\n", "IDLE"),
        ("a STORE 1 FLAGS ()\r\n", "STORE"),
        ("a UID STORE 1 FLAGS ()\r\n", "UID STORE"),
        ("a COPY 1 x\r\n", "COPY"),
        ("a UID COPY 1 x\r\n", "UID COPY"),
        ("a MOVE 1 x\r\n", "MOVE"),
        ("a UID MOVE 1 x\r\n", "UID MOVE"),
        ("a EXPUNGE\r\n", "EXPUNGE"),
        ("a UID EXPUNGE 1\r\n", "UID EXPUNGE"),
        ("a SEARCH ALL\r\n", "SEARCH"),
        ("a UID SEARCH ALL\r\n", "UID SEARCH"),
    ];
    for (s, name) in names {
        assert_eq!(ok(s.as_bytes()).name(), name);
    }
}

#[test]
fn done_lines() {
    assert!(is_done_line(b"DONE"));
    assert!(is_done_line(b"done"));
    assert!(is_done_line(b"DoNe\r\n"));
    assert!(is_done_line(b"DONE\n"));
    for line in [&b""[..], b"DONE ", b" DONE", b"DONEX", b"a DONE", b"DON"] {
        assert!(!is_done_line(line), "{line:?}");
    }
    // the IDLE flow: command, then lines until DONE, then commands again
    let mut f = Framer::new(Limits::default());
    f.push(b"a IDLE\r\n");
    let Some(Frame::Command(c)) = f.next_frame() else {
        panic!()
    };
    assert_eq!(parse_command(&c).unwrap().body, CommandBody::Idle);
    f.push(b"DO");
    assert_eq!(f.next_line(), None);
    f.push(b"NE\r\nb NOOP\r\n");
    let line = f.next_line().unwrap().unwrap();
    assert!(is_done_line(&line));
    assert_eq!(f.next_frame(), Some(Frame::Command(b"b NOOP\r\n".to_vec())));
}

proptest! {
    #[test]
    fn new_commands_never_panic(
        parts in proptest::collection::vec(prop_oneof![
            Just(&b"a "[..]), Just(&b"APPEND "[..]), Just(&b"STORE "[..]), Just(&b"SEARCH "[..]),
            Just(&b"UID "[..]), Just(&b"COPY "[..]), Just(&b"MOVE "[..]), Just(&b"EXPUNGE"[..]),
            Just(&b"RENAME "[..]), Just(&b"CREATE "[..]), Just(&b"LSUB "[..]), Just(&b"IDLE"[..]),
            Just(&b"OR "[..]), Just(&b"NOT "[..]), Just(&b"("[..]), Just(&b")"[..]),
            Just(&b"\\Seen"[..]), Just(&b"\\"[..]), Just(&b"+FLAGS"[..]), Just(&b".SILENT"[..]),
            Just(&b"(UNCHANGEDSINCE 5) "[..]), Just(&b"(CHANGEDSINCE "[..]), Just(&b"RETURN "[..]),
            Just(&b"CHARSET "[..]), Just(&b"MIN"[..]), Just(&b"BEFORE "[..]), Just(&b"1-Jan-2024"[..]),
            Just(&b"\"14-Nov-2023 22:13:20 +0000\""[..]), Just(&b"{3}\r\n"[..]),
            Just(&b"{2+}\r\n"[..]), Just(&b"~{1}\r\n"[..]), Just(&b"\0"[..]), Just(&b"$"[..]),
            Just(&b"1:*"[..]), Just(&b"*"[..]), Just(&b"\""[..]), Just(&b" "[..]),
            Just(&b"HEADER "[..]), Just(&b"MODSEQ "[..]), Just(&b"\r\n"[..]), Just(&b"x"[..]),
        ], 0..60))
    {
        let input: Vec<u8> = parts.concat();
        let _ = parse_command(&input);
        let _ = parse_command_with(&input, ParseOptions { utf8: true });
        let mut f = Framer::new(Limits { max_line: 128, max_literal: 16, max_command: 512, ..Limits::default() });
        f.push(&input);
        while let Some(frame) = f.next_frame() {
            if let Frame::Command(c) = frame
                && let Err(e) = parse_command(&c)
            {
                // responses never carry a line break from the input
                let r = e.response();
                prop_assert!(r.ends_with(b"\r\n"));
                prop_assert!(!r[..r.len() - 2].contains(&b'\n'));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_through_framer_never_panic(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8))
    {
        let mut f = Framer::new(Limits { max_line: 64, max_literal: 32, max_command: 256, ..Limits::default() });
        for chunk in &chunks {
            f.push(chunk);
            while let Some(frame) = f.next_frame() {
                if let Frame::Command(c) = frame {
                    let _ = parse_command(&c);
                    let _ = parse_command_with(&c, ParseOptions { utf8: true });
                }
            }
        }
    }
}

#[test]
fn saved_result_dollar_is_a_sequence_set() {
    for (line, uid) in [
        (&b"a FETCH $ (FLAGS)\r\n"[..], false),
        (b"a UID STORE $ +FLAGS (\\Seen)\r\n", true),
        (b"a UID COPY $ Archive\r\n", true),
        (b"a MOVE $ Trash\r\n", false),
    ] {
        let cmd = ok(line);
        let s = format!("{cmd:?}");
        assert!(s.contains("saved: true"), "{s}");
        assert_eq!(s.contains("uid: true"), uid, "{s}");
    }
}
