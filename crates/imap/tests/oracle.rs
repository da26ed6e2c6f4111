//! Differential tests against imap-codec, an independent IMAP implementation (rev1 subset):
//! every response we render must parse there completely, and commands both understand must
//! be understood alike.

use imap_codec::decode::Decoder;
use imap_codec::{CommandCodec, ResponseCodec};
use mailkeep_imap::fetch::{MessageMeta, render_fetch};
use mailkeep_imap::parse::{ParseOptions, parse_command_with};
use mailkeep_imap::{FetchItem, MailboxName, Status, encode, parse_command, status_response};

const MESSAGES: &[&[u8]] = &[
    b"From: Alice <alice@example.org>\r\nTo: bob@example.org, \"Carol, C.\" <carol@example.net>\r\nCc: team: dave@example.org, erin@example.org;\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and \"quotes\"\r\nDate: Fri, 27 Nov 2026 01:46:59 +0000\r\nMessage-ID: <m1@example.org>\r\nIn-Reply-To: <m0@example.org>\r\n\r\nHello Bob\r\n",
    b"From: x@example.net\r\nSubject: multipart\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.net\r\nSubject: inner\r\n\r\ninner body\r\n--b1\r\nContent-Type: application/pdf; name=\"a b.pdf\"\r\nContent-Disposition: attachment; filename=\"a b.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n",
    b"Subject: no from, no date\r\n\r\n",
    b"garbage without a header separator",
    b"From: \"\xff broken\" <@bad>\r\nTo: ;;;\r\nSubject: \x01\r\nContent-Type: multipart/alternative; boundary=\r\n\r\n--\r\n",
];

fn fetch_items() -> Vec<FetchItem> {
    let cmd = parse_command(
        b"a FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE BODY BODY.PEEK[] BODY[HEADER] BODY[TEXT]<0.10> BODY[HEADER.FIELDS (Subject From)] BODY[1] BODY[1.MIME] RFC822.HEADER)\r\n",
    )
    .unwrap();
    match cmd.body {
        mailkeep_imap::CommandBody::Fetch { items, .. } => items,
        other => panic!("{other:?}"),
    }
}

fn assert_parses(response: &[u8]) {
    let mut rest = response;
    while !rest.is_empty() {
        match ResponseCodec::default().decode(rest) {
            Ok((r, _)) => rest = r,
            Err(e) => panic!(
                "imap-codec rejects our response ({e:?}):\n{}",
                String::from_utf8_lossy(rest)
            ),
        }
    }
}

#[test]
fn fetch_responses_parse_in_imap_codec() {
    let items = fetch_items();
    for (i, raw) in MESSAGES.iter().enumerate() {
        let meta = MessageMeta {
            seq: i as u32 + 1,
            uid: 100 + i as u32,
            flags: vec!["\\Seen".into(), "$Label1".into()],
            internal_date: 1_795_744_019,
            size: raw.len() as u64,
            modseq: 7,
        };
        let mut out = Vec::new();
        render_fetch(&meta, Some(raw), &items, &mut out).unwrap();
        assert_parses(&out);
    }
}

#[test]
fn status_and_list_lines_parse_in_imap_codec() {
    assert_parses(&status_response(
        Some("a1"),
        Status::Ok,
        Some("READ-WRITE"),
        "SELECT completed",
    ));
    assert_parses(&status_response(
        None,
        Status::No,
        Some("ALERT"),
        "text with \r\n inside",
    ));
    assert_parses(&status_response(
        Some("a2"),
        Status::Bad,
        None,
        "Unknown command",
    ));
    for name in ["INBOX", "Sent", "日本語", "a \"quoted\" name", "Work/2026"] {
        let n = MailboxName::new(name).unwrap();
        for utf8 in [false, true] {
            let attrs: &[&str] = &["\\HasNoChildren", "\\Sent"];
            let line = encode::list_response(&n, utf8, attrs, &[]);
            if !utf8 {
                assert_parses(&line);
            }
        }
    }
}

/// Commands both implementations accept must mean the same command with the same tag.
#[test]
fn rev1_commands_agree() {
    let commands: &[&[u8]] = &[
        b"a1 CAPABILITY\r\n",
        b"a2 LOGIN alice \"pass word\"\r\n",
        b"a3 SELECT INBOX\r\n",
        b"a4 EXAMINE \"Sent\"\r\n",
        b"a5 LIST \"\" *\r\n",
        b"a6 LSUB \"\" %\r\n",
        b"a7 STATUS INBOX (MESSAGES UNSEEN UIDNEXT)\r\n",
        b"a8 FETCH 1:* (FLAGS UID)\r\n",
        b"a9 UID FETCH 1,3:5 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n",
        b"b1 STORE 2 +FLAGS.SILENT (\\Seen)\r\n",
        b"b2 UID STORE 1:* -FLAGS (\\Deleted $Junk)\r\n",
        b"b3 COPY 1:2 Archive\r\n",
        b"b4 UID MOVE 7 Trash\r\n",
        b"b5 SEARCH OR FROM alice SUBJECT \"hi there\"\r\n",
        b"b6 UID SEARCH UNSEEN SINCE 1-Feb-2026\r\n",
        b"b7 CREATE Projects/2026\r\n",
        b"b8 RENAME Projects Work\r\n",
        b"b9 DELETE Work\r\n",
        b"c1 SUBSCRIBE Work\r\n",
        b"c2 EXPUNGE\r\n",
        b"c3 CLOSE\r\n",
        b"c4 NOOP\r\n",
        b"c5 LOGOUT\r\n",
        b"c6 IDLE\r\n",
        b"c7 ENABLE CONDSTORE\r\n",
        b"c8 APPEND INBOX (\\Seen) {5}\r\nhello\r\n",
        b"c9 UNSELECT\r\n",
        b"d1 NAMESPACE\r\n",
        b"d2 ID NIL\r\n",
    ];
    for cmd in commands {
        let ours = parse_command_with(cmd, ParseOptions { utf8: false }).unwrap_or_else(|e| {
            panic!(
                "we reject {:?}: {}",
                String::from_utf8_lossy(cmd),
                e.message
            )
        });
        let (rest, theirs) = CommandCodec::default().decode(cmd).unwrap_or_else(|e| {
            panic!(
                "imap-codec rejects {:?}: {e:?}",
                String::from_utf8_lossy(cmd)
            )
        });
        assert!(rest.is_empty());
        assert_eq!(ours.tag, theirs.tag.inner());
        assert_eq!(
            ours.body.name().trim_start_matches("UID "),
            theirs.body.name(),
            "{}",
            String::from_utf8_lossy(cmd)
        );
    }
}

/// The oracle is not a rubber stamp: it refuses what is malformed.
#[test]
fn oracle_rejects_malformed_responses() {
    for bad in [
        &b"* 1 FETCH (UID 1 BODY[] {5}\r\nabc"[..],
        b"* 1 FETCH (FLAGS (\\Seen)\r\n",
        b"* 1 FETCH (UID abc)\r\n",
    ] {
        assert!(
            ResponseCodec::default().decode(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}
