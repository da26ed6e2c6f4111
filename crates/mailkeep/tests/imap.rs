//! A Rust IMAP client over STARTTLS and implicit TLS (rustls), against the real binary.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use common::*;
use rustls_pki_types::ServerName;
use rustls_pki_types::pem::PemObject;

fn tls_config(dir: &std::path::Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(dir.join("keys/tls-cert.pem")).unwrap()
    {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn wrap(dir: &std::path::Path, tcp: TcpStream) -> BufReader<Tls> {
    let conn = rustls::ClientConnection::new(
        tls_config(dir),
        ServerName::try_from("mail.example.org").unwrap(),
    )
    .unwrap();
    BufReader::new(rustls::StreamOwned::new(conn, tcp))
}

/// Sends a tagged command, returns all lines up to and including the tagged one, and any
/// literal bytes inline.
fn run<S: Read + Write>(s: &mut BufReader<S>, tag: &str, cmd: &str) -> String {
    send_until(s, tag, &format!("{tag} {cmd}"))
}

fn send_until<S: Read + Write>(s: &mut BufReader<S>, tag: &str, line: &str) -> String {
    s.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    loop {
        let mut line = String::new();
        assert!(s.read_line(&mut line).unwrap() > 0, "EOF after {out}");
        out.push_str(&line);
        if let Some(n) = line
            .trim_end()
            .strip_suffix('}')
            .and_then(|l| l.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<usize>().ok())
        {
            let mut lit = vec![0u8; n];
            s.read_exact(&mut lit).unwrap();
            out.push_str(&String::from_utf8_lossy(&lit));
            continue;
        }
        if line.starts_with(&format!("{tag} ")) {
            return out;
        }
    }
}

#[test]
fn starttls_login_select_fetch() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    let msg = "From: Zoë <zoe@example.net>\r\nTo: alice@example.org\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m1@example.net>\r\n\r\nHello Alice\r\n";
    assert!(
        send_mail(
            server.addr("smtp"),
            "zoe@example.net",
            &["alice@example.org"],
            msg
        )
        .starts_with("250")
    );

    let tcp = TcpStream::connect(server.addr("imap")).unwrap();
    let mut plain = BufReader::new(tcp.try_clone().unwrap());
    let mut greeting = String::new();
    plain.read_line(&mut greeting).unwrap();
    assert!(
        greeting.starts_with("* OK")
            && greeting.contains("STARTTLS")
            && greeting.contains("LOGINDISABLED"),
        "{greeting}"
    );
    let r = run(
        &mut plain,
        "a1",
        "LOGIN alice@example.org \"correct horse battery\"",
    );
    assert!(r.contains("a1 NO [PRIVACYREQUIRED]"), "{r}");
    let r = run(
        &mut plain,
        "a2",
        "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==",
    );
    assert!(r.contains("a2 NO [PRIVACYREQUIRED]"), "{r}");
    let r = run(&mut plain, "a3", "STARTTLS");
    assert!(r.starts_with("a3 OK"), "{r}");

    let mut s = wrap(&dir, tcp);
    let caps = run(&mut s, "b0", "CAPABILITY");
    assert!(
        caps.contains("AUTH=PLAIN")
            && !caps.contains("LOGINDISABLED")
            && !caps.contains("STARTTLS"),
        "{caps}"
    );
    assert!(
        run(&mut s, "b1", "LOGIN alice@example.org wrong-password")
            .contains("b1 NO [AUTHENTICATIONFAILED]")
    );
    assert!(
        run(
            &mut s,
            "b2",
            "LOGIN alice@example.org \"correct horse battery\""
        )
        .contains("b2 OK")
    );
    let list = run(&mut s, "b3", "LIST \"\" *");
    for (name, attr) in [
        ("INBOX", ""),
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Trash", "\\Trash"),
        ("Junk", "\\Junk"),
        ("Archive", "\\Archive"),
    ] {
        assert!(
            list.lines()
                .any(|l| l.ends_with(&format!(" {name}")) && l.contains(attr)),
            "{name} in {list}"
        );
    }
    let sel = run(&mut s, "b4", "SELECT INBOX");
    assert!(
        sel.contains("* 1 EXISTS")
            && sel.contains("[UIDVALIDITY ")
            && sel.contains("b4 OK [READ-WRITE]"),
        "{sel}"
    );
    let f = run(
        &mut s,
        "b5",
        "FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject)])",
    );
    assert!(
        // A rev1 session is the first to see the message: \Recent (RFC 3501 §2.3.2).
        f.contains("UID 1") && f.contains("FLAGS (\\Recent)") && f.contains("RFC822.SIZE "),
        "{f}"
    );
    assert!(
        f.contains("\"<m1@example.net>\""),
        "envelope message-id: {f}"
    );
    assert!(f.contains("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?="), "{f}");
    let f = run(&mut s, "b6", "UID FETCH 1 (BODY[TEXT]<0.5>)");
    assert!(f.contains("BODY[TEXT]<0> {5}\r\nHello"), "{f}");
    assert!(f.contains("\\Seen"), "non-peek fetch sets \\Seen: {f}");
    let f = run(&mut s, "b7", "FETCH 1 RFC822");
    assert!(
        f.contains("Hello Alice") && f.contains("Received: from client.example.net"),
        "{f}"
    );
    let many = vec!["RFC822"; 17].join(" ");
    let r = run(&mut s, "b71", &format!("FETCH 1 ({many})"));
    assert!(r.contains("b71 BAD [LIMIT]"), "{r}");
    assert!(run(&mut s, "b8", "SELECT Nonexistent").contains("b8 NO [NONEXISTENT]"));
    assert!(run(&mut s, "b9", "LOGOUT").contains("* BYE"));

    // Implicit TLS, AUTHENTICATE PLAIN with a continuation.
    let tcp = TcpStream::connect(server.addr("imaps")).unwrap();
    let mut s = wrap(&dir, tcp);
    let mut greeting = String::new();
    s.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("* OK"));
    s.get_mut().write_all(b"c1 AUTHENTICATE PLAIN\r\n").unwrap();
    let mut cont = String::new();
    s.read_line(&mut cont).unwrap();
    assert!(cont.starts_with('+'), "{cont}");
    let r = send_until(
        &mut s,
        "c1",
        "AGJvYkBleGFtcGxlLm9yZwBjb3JyZWN0IGhvcnNlIGJhdHRlcnk=",
    );
    assert!(r.contains("c1 OK"), "{r}");
    let st = run(&mut s, "c2", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)");
    assert!(
        st.contains("MESSAGES 0") && st.contains("UIDNEXT 1"),
        "{st}"
    );
}

fn imaps_login(dir: &std::path::Path, server: &Server, user: &str) -> (BufReader<Tls>, String) {
    let tcp = TcpStream::connect(server.addr("imaps")).unwrap();
    let mut s = wrap(dir, tcp);
    let mut greeting = String::new();
    s.read_line(&mut greeting).unwrap();
    let r = run(
        &mut s,
        "l",
        &format!("LOGIN {user} \"correct horse battery\""),
    );
    (s, r)
}

#[test]
fn sessions_per_account_are_limited_and_new_keywords_are_announced() {
    let tmp = data_dir(&[("max_sessions_per_account", "2")]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    assert!(
        send_mail(
            server.addr("smtp"),
            "x@example.net",
            &["alice@example.org"],
            "From: x@example.net\r\nSubject: k\r\n\r\nx\r\n"
        )
        .starts_with("250")
    );
    let (mut a, r) = imaps_login(&dir, &server, "alice@example.org");
    assert!(r.contains("l OK"), "{r}");
    let (_b, r) = imaps_login(&dir, &server, "alice@example.org");
    assert!(r.contains("l OK"), "{r}");
    let (_c, r) = imaps_login(&dir, &server, "alice@example.org");
    assert!(r.contains("l NO [LIMIT]"), "third session refused: {r}");
    let (_d, r) = imaps_login(&dir, &server, "bob@example.org");
    assert!(r.contains("l OK"), "other accounts unaffected: {r}");

    let sel = run(&mut a, "s", "SELECT INBOX");
    assert!(
        sel.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"),
        "{sel}"
    );
    let st = run(&mut a, "t", "STORE 1 +FLAGS ($Important)");
    let flags_at = st.find("* FLAGS (").expect("FLAGS announced");
    let fetch_at = st.find("* 1 FETCH").expect("FETCH");
    assert!(
        flags_at < fetch_at && st.contains("\\Draft $Important)"),
        "{st}"
    );
    drop(a);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (_e, r) = imaps_login(&dir, &server, "alice@example.org");
    assert!(r.contains("l OK"), "a closed session frees its slot: {r}");
}

#[test]
fn storage_quota_is_reported_and_enforced() {
    let tmp = data_dir(&[("quota_bytes", "3000")]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    // Stored with the trace and verdict fields, just under 2 KiB.
    let body = format!(
        "From: x@example.net\r\nSubject: q\r\n\r\n{}\r\n",
        "x".repeat(1400)
    );
    assert!(
        send_mail(
            server.addr("smtp"),
            "x@example.net",
            &["alice@example.org"],
            &body
        )
        .starts_with("250")
    );
    let (mut s, r) = imaps_login(&dir, &server, "alice@example.org");
    assert!(r.contains("l OK"));
    let caps = run(&mut s, "c", "CAPABILITY");
    assert!(
        caps.contains("QUOTA") && caps.contains("QUOTA=RES-STORAGE"),
        "{caps}"
    );
    let q = run(&mut s, "q", "GETQUOTAROOT INBOX");
    assert!(
        q.contains("* QUOTAROOT INBOX \"\"") && q.contains("* QUOTA \"\" (STORAGE 2 2)"),
        "{q}"
    );
    let big = "y".repeat(1500);
    let a = send_until(
        &mut s,
        "a",
        &format!("a APPEND Drafts {{{}+}}\r\n{big}", big.len()),
    );
    assert!(a.contains("a NO [OVERQUOTA]"), "{a}");
    assert!(run(&mut s, "n", "SETQUOTA \"\" (STORAGE 10)").contains("n NO [NOPERM]"));
    // Still under the limit: one more delivery is taken; then the mailbox is full.
    assert!(
        send_mail(
            server.addr("smtp"),
            "x@example.net",
            &["alice@example.org"],
            &body
        )
        .starts_with("250")
    );
    let mut c = Client::connect(server.addr("smtp"));
    c.reply();
    c.cmd("EHLO x.example.net");
    c.cmd("MAIL FROM:<x@example.net>");
    let r = c.cmd("RCPT TO:<alice@example.org>");
    assert!(r.starts_with("452 4.2.2"), "{r}");
    assert!(
        c.cmd("RCPT TO:<bob@example.org>").starts_with("250"),
        "others unaffected"
    );
}

/// The command examples of RFC 9051 §6 (names adapted to this account), each with the
/// responses the RFC shows for it.
#[test]
fn rfc9051_section6_examples() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    for i in 0..4 {
        let body = format!(
            "Date: Wed, 17 Jul 1996 02:23:25 -0700\r\nFrom: Terry Gray <gray@cac.washington.edu>\r\nSubject: IMAP4rev2 WG mtg summary {i}\r\n\r\nbody {i}\r\n"
        );
        assert!(
            send_mail(
                server.addr("smtp"),
                "gray@example.net",
                &["alice@example.org"],
                &body
            )
            .starts_with("250")
        );
    }
    let (mut s, r) = imaps_login(&dir, &server, "alice@example.org");
    assert!(r.contains("l OK"));
    let examples: &[(&str, &str, &[&str])] = &[
        (
            "abcd",
            "CAPABILITY",
            &["* CAPABILITY IMAP4rev1 IMAP4rev2", "abcd OK"],
        ),
        ("a002", "NOOP", &["a002 OK"]),
        ("t2", "ENABLE IMAP4rev2", &["* ENABLED IMAP4rev2", "t2 OK"]),
        (
            "A142",
            "SELECT INBOX",
            &[
                "* 4 EXISTS",
                "* OK [UIDVALIDITY ",
                "* OK [UIDNEXT 5]",
                "* FLAGS (",
                "* OK [PERMANENTFLAGS (",
                "* LIST () \"/\" INBOX",
                "A142 OK [READ-WRITE]",
            ],
        ),
        (
            "A932",
            "EXAMINE INBOX",
            &["* 4 EXISTS", "A932 OK [READ-ONLY]"],
        ),
        ("A003", "CREATE owatagusiam/", &["A003 OK"]),
        ("A004", "CREATE owatagusiam/blurdybloop", &["A004 OK"]),
        (
            "A682",
            "LIST \"\" *",
            &[
                "* LIST (\\HasChildren) \"/\" owatagusiam",
                "* LIST (\\HasNoChildren) \"/\" owatagusiam/blurdybloop",
                "A682 OK",
            ],
        ),
        (
            "A101",
            "LIST \"\" \"\"",
            &["* LIST (\\Noselect) \"/\" \"\"", "A101 OK"],
        ),
        (
            "A102",
            "LIST \"owatagusiam/\" %",
            &["\"/\" owatagusiam/blurdybloop", "A102 OK"],
        ),
        (
            "A042",
            "STATUS owatagusiam/blurdybloop (UIDNEXT MESSAGES)",
            &[
                "* STATUS owatagusiam/blurdybloop (UIDNEXT 1 MESSAGES 0)",
                "A042 OK",
            ],
        ),
        (
            "A683",
            "RENAME owatagusiam/blurdybloop sarasoop",
            &["A683 OK"],
        ),
        ("A002b", "SUBSCRIBE sarasoop", &["A002b OK"]),
        ("A002c", "UNSUBSCRIBE sarasoop", &["A002c OK"]),
        (
            "N1",
            "NAMESPACE",
            &["* NAMESPACE ((\"\" \"/\")) NIL NIL", "N1 OK"],
        ),
        ("A005", "SELECT INBOX", &["A005 OK [READ-WRITE]"]),
        (
            "A282",
            "SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            &["* ESEARCH (TAG \"A282\")", "A282 OK"],
        ),
        (
            "A283",
            "SEARCH TEXT \"string not in mailbox\"",
            &["* ESEARCH (TAG \"A283\")", "A283 OK"],
        ),
        (
            "A654",
            "FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
            &[
                "* 2 FETCH (FLAGS (\\Seen) BODY[HEADER.FIELDS (DATE FROM)] {",
                "Terry Gray",
                "A654 OK",
            ],
        ),
        (
            "A003s",
            "STORE 2:4 +FLAGS (\\Deleted)",
            &["* 2 FETCH (UID 2 FLAGS (\\Seen \\Deleted))", "A003s OK"],
        ),
        ("A003c", "COPY 2:4 sarasoop", &["A003c OK [COPYUID "]),
        (
            "a3",
            "MOVE 1 sarasoop",
            &["* OK [COPYUID ", "* 1 EXPUNGE", "a3 OK"],
        ),
        (
            "A202",
            "EXPUNGE",
            &["* 3 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE", "A202 OK"],
        ),
        ("A999", "UID FETCH 4827313:4828442 FLAGS", &["A999 OK"]),
        ("A341", "CLOSE", &["A341 OK"]),
        ("A683d", "DELETE sarasoop", &["A683d OK"]),
        ("A023", "LOGOUT", &["* BYE", "A023 OK"]),
    ];
    for (tag, cmd, expect) in examples {
        let r = run(&mut s, tag, cmd);
        for e in *expect {
            assert!(r.contains(e), "{tag} {cmd}: expected {e:?} in\n{r}");
        }
    }
}
