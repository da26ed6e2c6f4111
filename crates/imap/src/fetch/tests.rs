use super::*;
use crate::command::CommandBody;
use crate::parse::parse_command;
use proptest::prelude::*;

const SIMPLE: &[u8] = b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
From: Fred Foobar <foobar@Blurdybloop.example>\r\n\
Subject: afternoon meeting\r\n\
To: mooch@owatagu.siam.edu.example\r\n\
Message-Id: <B27397-0100000@Blurdybloop.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

const MULTI: &[u8] = b"From: Alice <alice@example.org>\r\n\
To: Team: bob@example.org, \"Carol C.\" <carol@example.org>;\r\n\
Subject: =?UTF-8?Q?R=C3=A9union?=\r\n\
X-Long: first\r\n\
\tsecond\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
preamble\r\n\
--outer\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Caf=C3=A9 at noon=\r\n\
 ok\r\n\
--outer\r\n\
Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"data.bin\"\r\n\
\r\n\
AAECAwQ=\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: Dan <dan@example.net>\r\n\
Subject: inner\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
plain text\r\n\
--inner\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>html</p>\r\n\
--inner--\r\n\
\r\n\
--outer--\r\n\
epilogue\r\n";

fn meta() -> MessageMeta {
    MessageMeta {
        seq: 3,
        uid: 42,
        flags: vec!["\\Seen".into(), "$Label1".into()],
        internal_date: 1_700_000_000,
        size: 1234,
        modseq: 77,
    }
}

fn items(spec: &str) -> Vec<FetchItem> {
    match parse_command(format!("a FETCH 1 {spec}\r\n").as_bytes())
        .unwrap()
        .body
    {
        CommandBody::Fetch { items, .. } => items,
        other => panic!("{other:?}"),
    }
}

fn fetch(raw: &[u8], spec: &str) -> String {
    let mut out = Vec::new();
    render_fetch(&meta(), Some(raw), &items(spec), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The data of a single-item response, `* 3 FETCH (NAME data)\r\n`.
fn data(raw: &[u8], spec: &str) -> String {
    let full = fetch(raw, spec);
    let inner = full
        .strip_prefix("* 3 FETCH (")
        .and_then(|s| s.strip_suffix(")\r\n"))
        .unwrap();
    inner.to_string()
}

fn lit(s: &str) -> String {
    format!("{{{}}}\r\n{s}", s.len())
}

#[test]
fn simple_items() {
    assert_eq!(
        fetch(SIMPLE, "(FLAGS UID RFC822.SIZE INTERNALDATE MODSEQ)"),
        "* 3 FETCH (FLAGS (\\Seen $Label1) UID 42 RFC822.SIZE 1234 INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" MODSEQ (77))\r\n"
    );
    let mut out = Vec::new();
    render_fetch(&meta(), None, &items("(UID FLAGS)"), &mut out).unwrap();
    assert!(out.starts_with(b"* 3 FETCH (UID 42 FLAGS"));
    let mut out = b"keep".to_vec();
    assert_eq!(
        render_fetch(&meta(), None, &items("(UID ENVELOPE)"), &mut out),
        Err(FetchError::MissingBody)
    );
    assert_eq!(out, b"keep");
}

#[test]
fn whole_header_text() {
    let h = header::header_len(SIMPLE);
    let header = std::str::from_utf8(&SIMPLE[..h]).unwrap();
    let text = std::str::from_utf8(&SIMPLE[h..]).unwrap();
    assert!(header.ends_with("US-ASCII\r\n\r\n"));
    assert_eq!(
        data(SIMPLE, "BODY[]"),
        format!("BODY[] {}", lit(std::str::from_utf8(SIMPLE).unwrap()))
    );
    assert_eq!(
        data(SIMPLE, "BODY.PEEK[HEADER]"),
        format!("BODY[HEADER] {}", lit(header))
    );
    assert_eq!(
        data(SIMPLE, "BODY[TEXT]"),
        format!("BODY[TEXT] {}", lit(text))
    );
    assert_eq!(
        data(SIMPLE, "RFC822.HEADER"),
        format!("RFC822.HEADER {}", lit(header))
    );
    assert_eq!(
        data(SIMPLE, "RFC822.TEXT"),
        format!("RFC822.TEXT {}", lit(text))
    );
    assert_eq!(
        data(SIMPLE, "RFC822"),
        format!("RFC822 {}", lit(std::str::from_utf8(SIMPLE).unwrap()))
    );
    // non-multipart message: part 1 is the body
    assert_eq!(data(SIMPLE, "BODY[1]"), format!("BODY[1] {}", lit(text)));
}

#[test]
fn header_fields() {
    assert_eq!(
        data(SIMPLE, "BODY.PEEK[HEADER.FIELDS (subject FROM)]"),
        format!(
            "BODY[HEADER.FIELDS (subject FROM)] {}",
            lit(
                "From: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\n\r\n"
            )
        )
    );
    assert_eq!(
        data(MULTI, "BODY[HEADER.FIELDS (X-Long)]"),
        format!(
            "BODY[HEADER.FIELDS (X-Long)] {}",
            lit("X-Long: first\r\n\tsecond\r\n\r\n")
        )
    );
    let not = data(MULTI, "BODY[HEADER.FIELDS.NOT (From To Subject X-Long)]");
    assert_eq!(
        not,
        format!(
            "BODY[HEADER.FIELDS.NOT (From To Subject X-Long)] {}",
            lit("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n")
        )
    );
    assert_eq!(
        data(SIMPLE, "BODY[HEADER.FIELDS (X-None)]"),
        "BODY[HEADER.FIELDS (X-None)] {2}\r\n\r\n"
    );
}

#[test]
fn partial() {
    assert_eq!(
        data(SIMPLE, "BODY[TEXT]<6.3>"),
        "BODY[TEXT]<6> \"Joe\"".replace("\"Joe\"", &lit("Joe"))
    );
    assert_eq!(
        data(SIMPLE, "BODY[TEXT]<100000.10>"),
        "BODY[TEXT]<100000> \"\""
    );
    let text_len = SIMPLE.len() - header::header_len(SIMPLE);
    let d = data(SIMPLE, &format!("BODY[TEXT]<{}.100>", text_len - 2));
    assert_eq!(d, format!("BODY[TEXT]<{}> {}", text_len - 2, lit("\r\n")));
}

#[test]
fn part_numbers() {
    assert_eq!(
        data(MULTI, "BODY[1]"),
        format!("BODY[1] {}", lit("Caf=C3=A9 at noon=\r\nok"))
    );
    assert_eq!(
        data(MULTI, "BODY[1.MIME]"),
        format!(
            "BODY[1.MIME] {}",
            lit(
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            )
        )
    );
    assert_eq!(
        data(MULTI, "BODY[2]"),
        format!("BODY[2] {}", lit("AAECAwQ="))
    );
    let inner_msg = "From: Dan <dan@example.net>\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nplain text\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n";
    assert_eq!(
        data(MULTI, "BODY[3]"),
        format!("BODY[3] {}", lit(inner_msg))
    );
    assert_eq!(
        data(MULTI, "BODY[3.HEADER]"),
        format!(
            "BODY[3.HEADER] {}",
            lit(
                "From: Dan <dan@example.net>\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
            )
        )
    );
    assert_eq!(
        data(MULTI, "BODY[3.HEADER.FIELDS (Subject)]"),
        format!(
            "BODY[3.HEADER.FIELDS (Subject)] {}",
            lit("Subject: inner\r\n\r\n")
        )
    );
    assert!(data(MULTI, "BODY[3.TEXT]").starts_with("BODY[3.TEXT] {"));
    assert!(data(MULTI, "BODY[3.TEXT]").contains("\r\n--inner\r\nContent-Type: text/plain"));
    assert_eq!(
        data(MULTI, "BODY[3.1]"),
        format!("BODY[3.1] {}", lit("plain text"))
    );
    assert_eq!(
        data(MULTI, "BODY[3.2]"),
        format!("BODY[3.2] {}", lit("<p>html</p>"))
    );
    assert_eq!(
        data(MULTI, "BODY[3.2.MIME]"),
        format!("BODY[3.2.MIME] {}", lit("Content-Type: text/html\r\n\r\n"))
    );
    assert_eq!(data(MULTI, "BODY[4]"), "BODY[4] NIL");
    assert_eq!(data(MULTI, "BODY[1.1]"), "BODY[1.1] NIL");
    assert_eq!(data(MULTI, "BODY[3.3]"), "BODY[3.3] NIL");
    assert_eq!(data(MULTI, "BODY[1.HEADER]"), "BODY[1.HEADER] \"\"");
    assert_eq!(
        data(MULTI, "BODY.PEEK[3.1]<0.5>"),
        format!("BODY[3.1]<0> {}", lit("plain"))
    );
}

#[test]
fn binary() {
    assert_eq!(
        data(MULTI, "BINARY[2]"),
        "BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04"
    );
    assert_eq!(data(MULTI, "BINARY.SIZE[2]"), "BINARY.SIZE[2] 5");
    assert_eq!(
        data(MULTI, "BINARY.PEEK[1]"),
        format!("BINARY[1] {}", lit("Café at noonok"))
    );
    assert_eq!(
        data(MULTI, "BINARY[2]<1.2>"),
        "BINARY[2]<1> {2}\r\n\x01\x02"
    );
    assert_eq!(data(MULTI, "BINARY[9]"), "BINARY[9] NIL");
    let bad = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n";
    let mut out = Vec::new();
    assert_eq!(
        render_fetch(&meta(), Some(bad), &items("BINARY[1]"), &mut out),
        Err(FetchError::UnknownCte)
    );
    assert!(out.is_empty());
}

#[test]
fn envelope_items() {
    assert_eq!(
        data(SIMPLE, "ENVELOPE"),
        "ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"afternoon meeting\" \
((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) NIL NIL NIL \
\"<B27397-0100000@Blurdybloop.example>\")"
    );
    // group syntax, encoded subject kept raw, a name with a dot
    assert_eq!(
        data(MULTI, "ENVELOPE"),
        "ENVELOPE (NIL \"=?UTF-8?Q?R=C3=A9union?=\" \
((\"Alice\" NIL \"alice\" \"example.org\")) \
((\"Alice\" NIL \"alice\" \"example.org\")) \
((\"Alice\" NIL \"alice\" \"example.org\")) \
((NIL NIL \"Team\" NIL)(NIL NIL \"bob\" \"example.org\")(\"Carol C.\" NIL \"carol\" \"example.org\")(NIL NIL NIL NIL)) \
NIL NIL NIL NIL)"
    );
    // non-ASCII subject (RFC 6532) goes out as a literal; missing headers are NIL
    let raw = "Subject: Grüße\r\nSender: s@x\r\nReply-To:\r\n\r\nbody".as_bytes();
    assert_eq!(
        data(raw, "ENVELOPE"),
        format!(
            "ENVELOPE (NIL {} NIL ((NIL NIL \"s\" \"x\")) NIL NIL NIL NIL NIL NIL)",
            lit("Grüße")
        )
    );
    assert_eq!(
        data(b"", "ENVELOPE"),
        "ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
}

#[test]
fn bodystructure_simple() {
    assert_eq!(
        data(SIMPLE, "BODYSTRUCTURE"),
        "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1 NIL NIL NIL NIL)"
    );
    assert_eq!(
        data(SIMPLE, "BODY"),
        "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1)"
    );
    // no Content-Type at all
    assert_eq!(
        data(b"Subject: x\r\n\r\nab\r\ncd", "BODY"),
        "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 2)"
    );
}

#[test]
fn bodystructure_multipart() {
    let inner_env = "(NIL \"inner\" ((\"Dan\" NIL \"dan\" \"example.net\")) ((\"Dan\" NIL \"dan\" \"example.net\")) ((\"Dan\" NIL \"dan\" \"example.net\")) NIL NIL NIL NIL NIL)";
    let expected = format!(
        "BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 22 2)\
(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"data.bin\") NIL NIL \"BASE64\" 8)\
(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 209 {inner_env} \
((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1)\
(\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 11 1) \"ALTERNATIVE\") 13) \"MIXED\")"
    );
    assert_eq!(data(MULTI, "BODY"), expected);
    let bs = data(MULTI, "BODYSTRUCTURE");
    assert!(
        bs.contains("\"BASE64\" 8 NIL (\"ATTACHMENT\" (\"FILENAME\" \"data.bin\")) NIL NIL)"),
        "{bs}"
    );
    assert!(
        bs.ends_with("\"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)"),
        "{bs}"
    );
    assert!(balanced(bs.as_bytes()));
}

/// Parenthesis balance outside quoted strings and literals.
fn balanced(s: &[u8]) -> bool {
    let mut depth = 0i64;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => {
                i += 1;
                while i < s.len() && s[i] != b'"' {
                    i += 1;
                }
            }
            b'{' => {
                let close = s[i..].iter().position(|&b| b == b'}').unwrap() + i;
                let n: usize = std::str::from_utf8(&s[i + 1..close])
                    .unwrap()
                    .parse()
                    .unwrap();
                i = close + 2 + n;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    depth == 0
}

#[test]
fn item_order_and_seen() {
    let its = items("(BODY.PEEK[HEADER] UID FLAGS)");
    let out = fetch(SIMPLE, "(UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])");
    assert!(
        out.starts_with("* 3 FETCH (UID 42 FLAGS (\\Seen $Label1) BODY[HEADER.FIELDS (Subject)] {")
    );
    assert!(!sets_seen(&its));
    assert!(needs_body(&its));
    assert!(sets_seen(&items("BODY[1]")));
    assert!(sets_seen(&items("RFC822")));
    assert!(sets_seen(&items("RFC822.TEXT")));
    assert!(!sets_seen(&items("RFC822.HEADER")));
    assert!(sets_seen(&items("BINARY[1]")));
    assert!(!sets_seen(&items("BINARY.PEEK[1]")));
    assert!(!needs_body(&items("FAST")));
    assert!(needs_body(&items("ALL")));
    assert_eq!(
        section_name(&Section {
            part: vec![1, 2],
            spec: Some(SectionSpec::Mime)
        }),
        "BODY[1.2.MIME]"
    );
}

#[test]
fn qp_and_base64_decoders() {
    assert_eq!(decode_qp(b"a=3Db=\r\nc  \r\nd=ZZ"), b"a=bc\r\nd=ZZ");
    assert_eq!(decode_base64(b"aGVs\r\nbG8=\r\n"), b"hello");
    assert_eq!(decode_base64(b""), b"");
}

const ALL_ITEMS: &str = "(FLAGS UID RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT BODY[] BODY[HEADER] BODY[TEXT] BODY[1] BODY[1.MIME] BODY[2.1.HEADER] BODY[1.2.3.TEXT]<2.9> BODY[2.HEADER.FIELDS (From)] BINARY.PEEK[1] BINARY.SIZE[2] BINARY[1.1]<0.4>)";

fn render_all(raw: &[u8]) {
    let mut out = Vec::new();
    match render_fetch(&meta(), Some(raw), &items(ALL_ITEMS), &mut out) {
        Ok(()) => assert!(balanced(&out), "{}", String::from_utf8_lossy(&out)),
        Err(FetchError::UnknownCte) => {}
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn hand_written_oddities() {
    render_all(b"");
    render_all(b"\r\n");
    render_all(b"no header at all");
    render_all(b"Content-Type: multipart/mixed; boundary=x\r\n\r\nno parts here");
    render_all(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n--x--");
    render_all(b"Content-Type: message/rfc822\r\n\r\nSubject: inner only\r\n\r\nbody");
    render_all(b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: a\r\n\r\nA\r\n--d--\r\n");
    render_all(b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n");
    let mut deep = Vec::new();
    for i in 0..200 {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    render_all(&deep);
    let mut nested = Vec::new();
    for _ in 0..50 {
        nested.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    render_all(&nested);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn arbitrary_messages_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut out = Vec::new();
        let _ = render_fetch(&meta(), Some(&raw), &items(ALL_ITEMS), &mut out);
    }

    #[test]
    fn mime_like_messages_never_panic(parts in proptest::collection::vec(prop_oneof![
        Just(&b"Content-Type: multipart/mixed; boundary=b\r\n"[..]),
        Just(&b"Content-Type: message/rfc822\r\n"[..]),
        Just(&b"Content-Transfer-Encoding: base64\r\n"[..]),
        Just(&b"Subject: x\r\n"[..]), Just(&b"From: a <b@c>\r\n"[..]),
        Just(&b"\r\n"[..]), Just(&b"--b\r\n"[..]), Just(&b"--b--\r\n"[..]),
        Just(&b"text\r\n"[..]), Just(&b" folded\r\n"[..]), Just(&b"\n"[..]),
    ], 0..40)) {
        let raw = parts.concat();
        render_all(&raw);
    }
}

/// Every message of the shared corpus (`tests/data/corpus`, 6,046 real messages), or of
/// `MAILKEEP_CORPUS_DIR` when set, rendered with every FETCH item: no panic, no error but an
/// unknown transfer encoding, and balanced output.
#[test]
fn corpus_renders_with_every_item() {
    let unpacked =
        std::env::temp_dir().join(format!("mailkeep-fetch-corpus-{}", std::process::id()));
    let dir = match std::env::var_os("MAILKEEP_CORPUS_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            let archive = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/data/corpus/spamassassin-public-corpus.tar.gz");
            std::fs::create_dir_all(&unpacked).unwrap();
            let ok = std::process::Command::new("tar")
                .arg("xzf")
                .arg(&archive)
                .arg("-C")
                .arg(&unpacked)
                .status()
                .expect("tar runs");
            assert!(ok.success(), "unpacking {}", archive.display());
            unpacked.clone()
        }
    };
    let mut n = 0;
    let mut stack = vec![dir];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if let Ok(raw) = std::fs::read(&p) {
            render_all(&raw);
            n += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&unpacked);
    assert!(
        n >= 6_000 || std::env::var_os("MAILKEEP_CORPUS_DIR").is_some(),
        "{n} messages"
    );
}

/// Items a Parsed record answers, alone and with partials and field lists.
const PARSED_ITEMS: &str = "(UID ENVELOPE BODYSTRUCTURE BODY RFC822.HEADER BODY[HEADER] BODY.PEEK[HEADER]<3.20> BODY[HEADER.FIELDS (From Subject X-None)] BODY[HEADER.FIELDS.NOT (Date)])";

fn same_from_parsed(raw: &[u8]) {
    let items = items(PARSED_ITEMS);
    assert!(!needs_body_beside_parsed(&items) && uses_parsed(&items));
    let mut from_raw = Vec::new();
    render_fetch(&meta(), Some(raw), &items, &mut from_raw).unwrap();
    let parsed = Parsed::decode(&Parsed::of(raw).encode()).unwrap();
    let mut from_parsed = Vec::new();
    render_fetch_parsed(&meta(), None, Some(&parsed), &items, &mut from_parsed).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&from_parsed),
        String::from_utf8_lossy(&from_raw)
    );
}

#[test]
fn a_parsed_record_answers_exactly_as_the_message_does() {
    for raw in [
        SIMPLE,
        MULTI,
        b"",
        b"no header at all",
        b"Subject: x\r\n\r\n",
    ] {
        same_from_parsed(raw);
    }
    // Items that need the content still need it.
    for spec in [
        "BODY[]",
        "BODY[TEXT]",
        "BODY[1]",
        "BODY[1.HEADER]",
        "RFC822",
        "BINARY[1]",
    ] {
        assert!(needs_body_beside_parsed(&items(spec)), "{spec}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn parsed_records_agree_on_arbitrary_messages(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        same_from_parsed(&raw);
    }
}
