use super::*;
use crate::framer::{Frame, Framer, Limits};
use proptest::prelude::*;

fn ok(s: &str) -> Command {
    parse_command(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn body(s: &str) -> CommandBody {
    ok(s).body
}

fn err(s: &[u8]) -> ParseError {
    parse_command(s).expect_err(&String::from_utf8_lossy(s))
}

fn mbox(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

#[test]
fn simple_commands() {
    assert_eq!(
        ok("a1 CAPABILITY\r\n"),
        Command {
            tag: "a1".into(),
            body: CommandBody::Capability
        }
    );
    assert_eq!(body("x noop\r\n"), CommandBody::Noop);
    assert_eq!(body("x Logout\r\n"), CommandBody::Logout);
    assert_eq!(body("x STARTTLS\r\n"), CommandBody::StartTls);
    assert_eq!(body("x CLOSE\r\n"), CommandBody::Close);
    assert_eq!(body("x UNSELECT\r\n"), CommandBody::Unselect);
    assert_eq!(body("x CHECK\n"), CommandBody::Check);
    assert_eq!(body("x NOOP"), CommandBody::Noop);
    assert_eq!(ok("a]b NOOP\r\n").tag, "a]b");
}

#[test]
fn login_forms() {
    let CommandBody::Login { username, password } = body("a LOGIN bob secret\r\n") else {
        panic!()
    };
    assert_eq!(username, "bob");
    assert_eq!(password.expose(), b"secret");
    let CommandBody::Login { username, password } = body("a LOGIN \"b o\\\"b\" \"p\\\\w\"\r\n")
    else {
        panic!()
    };
    assert_eq!(username, "b o\"b");
    assert_eq!(password.expose(), b"p\\w");
    // synchronising and non-synchronising literals
    let CommandBody::Login { username, password } = body("a LOGIN {3}\r\nbob {5+}\r\np w\r\n\r\n")
    else {
        panic!()
    };
    assert_eq!(username, "bob");
    assert_eq!(password.expose(), b"p w\r\n");
    // UTF-8 in quoted strings
    let CommandBody::Login { username, .. } = body("a LOGIN \"jörg\" x\r\n") else {
        panic!()
    };
    assert_eq!(username, "jörg");
    // empty quoted
    let CommandBody::Login { password, .. } = body("a LOGIN u \"\"\r\n") else {
        panic!()
    };
    assert!(password.expose().is_empty());
}

#[test]
fn authenticate_forms() {
    assert_eq!(
        body("a AUTHENTICATE plain\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: None
        }
    );
    assert_eq!(
        body("a AUTHENTICATE PLAIN AGJvYgBwdw==\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: Some("AGJvYgBwdw==".into())
        }
    );
    assert_eq!(
        body("a AUTHENTICATE PLAIN =\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: Some("=".into())
        }
    );
    for bad in [
        "a AUTHENTICATE PLAIN abc\r\n",
        "a AUTHENTICATE PLAIN a=bc\r\n",
        "a AUTHENTICATE\r\n",
    ] {
        assert_eq!(err(bad.as_bytes()).tag.as_deref(), Some("a"), "{bad}");
    }
}

#[test]
fn enable_select_examine() {
    assert_eq!(
        body("a ENABLE IMAP4rev2 CONDSTORE\r\n"),
        CommandBody::Enable(vec!["IMAP4rev2".into(), "CONDSTORE".into()])
    );
    assert!(parse_command(b"a ENABLE\r\n").is_err());
    assert_eq!(
        body("a SELECT inbox\r\n"),
        CommandBody::Select {
            mailbox: mbox("INBOX"),
            condstore: false,
            qresync: None,
        }
    );
    assert_eq!(
        body("a EXAMINE \"Sent Items\" (CONDSTORE)\r\n"),
        CommandBody::Examine {
            mailbox: mbox("Sent Items"),
            condstore: true,
            qresync: None,
        }
    );
    assert_eq!(
        body("a SELECT &ZeVnLIqe-\r\n"),
        CommandBody::Select {
            mailbox: mbox("日本語"),
            condstore: false,
            qresync: None,
        }
    );
    assert_eq!(
        body(
            "a SELECT {5}\r\nDrafts\r\n"
                .replace("Drafts", "Draft")
                .as_str()
        ),
        CommandBody::Select {
            mailbox: mbox("Draft"),
            condstore: false,
            qresync: None,
        }
    );
    // UTF-8 mode
    let c = parse_command_with(
        "a SELECT \"日本語\"\r\n".as_bytes(),
        ParseOptions { utf8: true },
    )
    .unwrap();
    assert_eq!(
        c.body,
        CommandBody::Select {
            mailbox: mbox("日本語"),
            condstore: false,
            qresync: None,
        }
    );
    assert!(parse_command("a SELECT \"日本語\"\r\n".as_bytes()).is_err());
    assert_eq!(err(b"a SELECT x (FOO)\r\n").tag.as_deref(), Some("a"));
    assert!(parse_command(b"a SELECT \"a\\nb\"\r\n").is_err());
}

#[test]
fn list_and_status() {
    assert_eq!(
        body("a LIST \"\" *\r\n"),
        CommandBody::List {
            reference: "".into(),
            pattern: "*".into(),
            selection: vec![],
            patterns: vec!["*".into()],
            returns: vec![],
        }
    );
    assert_eq!(
        body("a LIST ~/Mail/ %/&ZeVnLIqe-*\r\n"),
        CommandBody::List {
            reference: "~/Mail/".into(),
            pattern: "%/日本語*".into(),
            selection: vec![],
            patterns: vec!["%/日本語*".into()],
            returns: vec![],
        }
    );
    assert_eq!(
        body("a LIST \"\" \"\"\r\n"),
        CommandBody::List {
            reference: "".into(),
            pattern: "".into(),
            selection: vec![],
            patterns: vec!["".into()],
            returns: vec![],
        }
    );
    assert_eq!(
        body(
            "a STATUS INBOX (MESSAGES UIDNEXT uidvalidity UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ)\r\n"
        ),
        CommandBody::Status {
            mailbox: mbox("INBOX"),
            items: vec![
                StatusItem::Messages,
                StatusItem::UidNext,
                StatusItem::UidValidity,
                StatusItem::Unseen,
                StatusItem::Deleted,
                StatusItem::Size,
                StatusItem::Recent,
                StatusItem::HighestModseq,
            ]
        }
    );
    assert!(parse_command(b"a STATUS INBOX ()\r\n").is_err());
    assert!(parse_command(b"a STATUS INBOX (FOO)\r\n").is_err());
}

fn fetch_items(s: &str) -> (bool, String, Vec<FetchItem>) {
    match body(s) {
        CommandBody::Fetch {
            uid,
            set,
            items,
            changed_since: None,
            vanished: false,
        } => (uid, set.to_string(), items),
        other => panic!("{other:?}"),
    }
}

fn sec(part: &[u32], spec: Option<SectionSpec>) -> Section {
    Section {
        part: part.to_vec(),
        spec,
    }
}

#[test]
fn fetch_macros_and_simple_items() {
    use FetchItem as F;
    let (uid, set, items) = fetch_items("a FETCH 1:* ALL\r\n");
    assert!(!uid);
    assert_eq!(set, "1:*");
    assert_eq!(
        items,
        vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope]
    );
    assert_eq!(fetch_items("a FETCH 1 FAST\r\n").2.len(), 3);
    assert_eq!(
        fetch_items("a FETCH 1 full\r\n").2.last(),
        Some(&F::BodyPlain)
    );
    let (uid, set, items) = fetch_items(
        "a UID FETCH 5:1,7 (FLAGS UID RFC822.SIZE INTERNALDATE ENVELOPE RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE BODY MODSEQ)\r\n",
    );
    assert!(uid);
    assert_eq!(set, "5:1,7");
    assert_eq!(
        items,
        vec![
            F::Flags,
            F::Uid,
            F::Rfc822Size,
            F::InternalDate,
            F::Envelope,
            F::Rfc822,
            F::Rfc822Header,
            F::Rfc822Text,
            F::BodyStructure,
            F::BodyPlain,
            F::Modseq
        ]
    );
    assert_eq!(fetch_items("a FETCH * flags\r\n").2, vec![F::Flags]);
    assert!(parse_command(b"a FETCH 1 (ALL)\r\n").is_err());
    assert!(parse_command(b"a FETCH 1 ()\r\n").is_err());
    assert!(parse_command(b"a FETCH 0 FLAGS\r\n").is_err());
    assert!(parse_command(b"a FETCH 1 BOGUS\r\n").is_err());
}

#[test]
fn fetch_sections() {
    use FetchItem as F;
    let (_, _, items) = fetch_items(
        "a FETCH 1 (BODY[] BODY.PEEK[HEADER] BODY[TEXT]<0.100> body.peek[1.2.3] BODY[2.MIME] BODY[3.HEADER] BODY[3.TEXT] BODY[HEADER.FIELDS (From \"To\" {2}\r\nCc)] BODY[1.HEADER.FIELDS.NOT (X-Spam)]<5.10>)\r\n",
    );
    assert_eq!(
        items,
        vec![
            F::Body {
                peek: false,
                section: sec(&[], None),
                partial: None
            },
            F::Body {
                peek: true,
                section: sec(&[], Some(SectionSpec::Header)),
                partial: None
            },
            F::Body {
                peek: false,
                section: sec(&[], Some(SectionSpec::Text)),
                partial: Some((0, 100))
            },
            F::Body {
                peek: true,
                section: sec(&[1, 2, 3], None),
                partial: None
            },
            F::Body {
                peek: false,
                section: sec(&[2], Some(SectionSpec::Mime)),
                partial: None
            },
            F::Body {
                peek: false,
                section: sec(&[3], Some(SectionSpec::Header)),
                partial: None
            },
            F::Body {
                peek: false,
                section: sec(&[3], Some(SectionSpec::Text)),
                partial: None
            },
            F::Body {
                peek: false,
                section: sec(
                    &[],
                    Some(SectionSpec::HeaderFields(vec![
                        "From".into(),
                        "To".into(),
                        "Cc".into()
                    ]))
                ),
                partial: None
            },
            F::Body {
                peek: false,
                section: sec(
                    &[1],
                    Some(SectionSpec::HeaderFieldsNot(vec!["X-Spam".into()]))
                ),
                partial: Some((5, 10))
            },
        ]
    );
    let (_, _, items) =
        fetch_items("a FETCH 1 (BINARY[1.2] BINARY.PEEK[]<0.5> BINARY.SIZE[3])\r\n");
    assert_eq!(
        items,
        vec![
            F::Binary {
                peek: false,
                part: vec![1, 2],
                partial: None
            },
            F::Binary {
                peek: true,
                part: vec![],
                partial: Some((0, 5))
            },
            F::BinarySize(vec![3]),
        ]
    );
    for bad in [
        "a FETCH 1 BODY[MIME]\r\n",
        "a FETCH 1 BODY[0]\r\n",
        "a FETCH 1 BODY[1.]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS]\r\n",
        "a FETCH 1 BODY[HEADER\r\n",
        "a FETCH 1 BODY[]<1.0>\r\n",
        "a FETCH 1 BODY[]<1>\r\n",
        "a FETCH 1 BODY.PEEK\r\n",
        "a FETCH 1 BODY[FOO]\r\n",
        "a FETCH 1 BINARY[TEXT]\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS (a:b)]\r\n",
    ] {
        assert_eq!(err(bad.as_bytes()).tag.as_deref(), Some("a"), "{bad}");
    }
}

#[test]
fn id_command() {
    assert_eq!(body("a ID NIL\r\n"), CommandBody::Id(None));
    assert_eq!(body("a ID ()\r\n"), CommandBody::Id(Some(vec![])));
    assert_eq!(
        body("a ID (\"name\" \"sodr\" \"version\" NIL)\r\n"),
        CommandBody::Id(Some(vec![
            ("name".into(), Some("sodr".into())),
            ("version".into(), None)
        ]))
    );
    assert!(parse_command(b"a ID (\"name\")\r\n").is_err());
    let many: String = (0..31)
        .map(|i| format!("\"k{i}\" \"v\""))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(parse_command(format!("a ID ({many})\r\n").as_bytes()).is_err());
}

#[test]
fn errors_recover_tag() {
    assert_eq!(
        err(b"a1 FROB\r\n"),
        ParseError {
            tag: Some("a1".into()),
            message: "Unknown or unsupported command".into(),
            code: None,
        }
    );
    assert_eq!(err(b"a1 NOOP extra\r\n").tag.as_deref(), Some("a1"));
    assert_eq!(err(b"a1 LOGIN bob\r\n").tag.as_deref(), Some("a1"));
    assert_eq!(err(b"a1 LOGIN {10}\r\nbob\r\n").tag.as_deref(), Some("a1"));
    assert_eq!(
        err(b"a1 LOGIN \"unterminated\r\n").tag.as_deref(),
        Some("a1")
    );
    assert_eq!(err(b"a1 LOGIN \"\xff\" x\r\n").tag.as_deref(), Some("a1"));
    assert_eq!(err(b"a1 LOGIN {1}\r\n\0 x\r\n").tag.as_deref(), Some("a1"));
    assert_eq!(
        err(b"a1 UID STORE 1 FLAGS (\\Recent)\r\n").tag.as_deref(),
        Some("a1")
    );
    assert_eq!(err(b"a1\r\n").tag.as_deref(), Some("a1"));
    assert_eq!(err(b"+ NOOP\r\n").tag, None);
    assert_eq!(err(b"a+b NOOP\r\n").tag, None);
    assert_eq!(err(b"(x NOOP\r\n").tag, None);
    assert_eq!(err(b" NOOP\r\n").tag, None);
    assert_eq!(err(b"\r\n").tag, None);
    assert_eq!(err(b"a  NOOP\r\n").tag.as_deref(), Some("a"));
}

#[test]
fn framer_then_parser() {
    let mut f = Framer::new(Limits::default());
    f.push(b"a LOGIN {3}\r\n");
    assert_eq!(f.next_frame(), Some(Frame::Continue));
    f.push(b"bob {2+}\r\npw\r\nb SELECT INBOX\r\n");
    let Some(Frame::Command(c)) = f.next_frame() else {
        panic!()
    };
    assert!(matches!(
        parse_command(&c).unwrap().body,
        CommandBody::Login { .. }
    ));
    let Some(Frame::Command(c)) = f.next_frame() else {
        panic!()
    };
    assert!(matches!(
        parse_command(&c).unwrap().body,
        CommandBody::Select { .. }
    ));
}

#[test]
fn deep_nesting_bounded() {
    let mut s = b"a FETCH 1 ".to_vec();
    s.extend(std::iter::repeat_n(b'(', 10_000));
    s.extend_from_slice(b"\r\n");
    assert!(parse_command(&s).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_command(&input);
        let _ = parse_command_with(&input, ParseOptions { utf8: true });
        let mut f = Framer::new(Limits { max_line: 64, max_literal: 32, max_command: 256, ..Limits::default() });
        f.push(&input);
        while let Some(frame) = f.next_frame() {
            if let Frame::Command(c) = frame {
                let _ = parse_command(&c);
            }
        }
    }

    #[test]
    fn imap_like_bytes_never_panic(
        parts in proptest::collection::vec(prop_oneof![
            Just(&b"a "[..]), Just(&b"FETCH "[..]), Just(&b"1:* "[..]), Just(&b"BODY["[..]),
            Just(&b"]"[..]), Just(&b"("[..]), Just(&b")"[..]), Just(&b"{3}\r\n"[..]),
            Just(&b"{2+}\r\n"[..]), Just(&b"\""[..]), Just(&b"\\"[..]), Just(&b"HEADER.FIELDS "[..]),
            Just(&b"<1.2>"[..]), Just(&b"LOGIN "[..]), Just(&b"NIL"[..]), Just(&b"ID "[..]),
            Just(&b"\r\n"[..]), Just(&b"1."[..]), Just(&b"MIME"[..]), Just(&b"&Ze-"[..]),
            Just(&b"SELECT "[..]), Just(&b"UID "[..]), Just(&b"STATUS "[..]), Just(&b"x"[..]),
        ], 0..40))
    {
        let input: Vec<u8> = parts.concat();
        let _ = parse_command(&input);
        let mut f = Framer::new(Limits::default());
        f.push(&input);
        while let Some(frame) = f.next_frame() {
            if let Frame::Command(c) = frame {
                let _ = parse_command(&c);
            }
        }
    }
}
