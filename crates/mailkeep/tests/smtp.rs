//! SMTP reception against the real binary on loopback: every reply code and limit of the
//! durable mail path, and the SMTP smuggling variants.

mod common;

use common::*;
use mailkeep_core::embedded::{OpenOptions, Store};
use mailkeep_core::store::prelude::*;

/// All messages (bytes) in an account's INBOX, read straight from the store.
fn inbox(dir: &std::path::Path, address: &str) -> Vec<Vec<u8>> {
    let store = Store::open(dir, OpenOptions::default()).unwrap();
    let acc = store.account(address).unwrap().unwrap();
    let mb = store.mailbox(acc.id, "INBOX").unwrap().unwrap();
    store
        .messages(mb.id)
        .unwrap()
        .iter()
        .map(|m| store.read_blob(&m.hash).unwrap())
        .collect()
}

fn session(server: &Server) -> Client {
    let mut c = Client::connect(server.addr("smtp"));
    assert!(c.reply().starts_with("220 mail.example.org ESMTP"));
    assert!(c.cmd("EHLO client.example.net").starts_with("250"));
    c
}

#[test]
fn ehlo_advertises_extensions() {
    let tmp = data_dir(&[]);
    let server = Server::start(&data_path(&tmp));
    let mut c = Client::connect(server.addr("smtp"));
    c.reply();
    let ehlo = c.cmd("EHLO client.example.net");
    for ext in [
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "SIZE 52428800",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "STARTTLS",
    ] {
        assert!(
            ehlo.lines().any(|l| &l[4..] == ext),
            "{ext} missing in {ehlo}"
        );
    }
    assert_eq!(
        c.cmd("VRFY alice"),
        "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"
    );
    assert!(c.cmd("HELP").starts_with("214"));
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 Ok");
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
    assert!(c.cmd("FROB").starts_with("500 5.5.2"));
    assert!(
        c.cmd("RCPT TO:<alice@example.org>")
            .starts_with("503 5.5.1")
    );
    assert!(c.cmd("DATA").starts_with("503 5.5.1"));
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(c.closed());
}

#[test]
fn recipients_resolve_or_are_refused() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    let mut c = session(&server);
    assert!(
        c.cmd("MAIL FROM:<someone@example.net>")
            .starts_with("250 2.1.0")
    );
    assert!(
        c.cmd("RCPT TO:<nobody@example.org>")
            .starts_with("550 5.1.1")
    );
    assert!(
        c.cmd("RCPT TO:<victim@elsewhere.net>")
            .starts_with("554 5.7.1")
    );
    assert!(
        c.cmd("RCPT TO:<alice%elsewhere.net@example.org>")
            .starts_with("550")
    );
    assert!(
        c.cmd("RCPT TO:<@relay.net:alice@example.org>")
            .starts_with("501")
    );
    assert!(
        c.cmd("RCPT TO:<alice+news@example.org>")
            .starts_with("250 2.1.5")
    );
    assert!(
        c.cmd("RCPT TO:<Sales@Example.ORG>")
            .starts_with("250 2.1.5")
    );
    assert!(c.cmd("RCPT TO:<Postmaster>").starts_with("250 2.1.5"));
    assert!(c.cmd("RCPT TO:<bob@example.org>").starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"From: x@example.net\r\nSubject: resolve\r\n\r\n..leading dot\r\nbody\r\n");
    let r = c.cmd(".");
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    c.cmd("QUIT");
    // Four recipients resolving to alice, one copy for her; one for bob.
    let a = inbox(&dir, "alice@example.org");
    let b = inbox(&dir, "bob@example.org");
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0], b[0], "stored once, entered in each mailbox");
    assert_eq!(
        strip_received(&a[0]),
        b"From: x@example.net\r\nSubject: resolve\r\n\r\n.leading dot\r\nbody\r\n"
    );
    let text = String::from_utf8_lossy(&a[0]);
    assert!(
        text.contains("by mail.example.org (mailkeep) with ESMTP id"),
        "{text}"
    );

    // A catch-all takes unknown local parts once configured.
    ok(
        &dir,
        &["alias", "add", "@example.org", "bob@example.org"],
        None,
    );
    let mut c = session(&server);
    c.cmd("MAIL FROM:<>");
    assert!(c.cmd("RCPT TO:<anything@example.org>").starts_with("250"));
}

#[test]
fn bdat_chunks_are_delivered() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    let mut c = session(&server);
    c.cmd("MAIL FROM:<x@example.net> BODY=8BITMIME");
    c.cmd("RCPT TO:<bob@example.org>");
    let part1 = "From: x@example.net\r\nSubject: chunked\r\n\r\nfirst ";
    let part2 = "second\r\n.\r\nnot an end\r\n";
    c.send(format!("BDAT {}\r\n{part1}", part1.len()).as_bytes());
    assert!(c.reply().starts_with("250"));
    c.send(format!("BDAT {} LAST\r\n{part2}", part2.len()).as_bytes());
    assert!(c.reply().starts_with("250 2.0.0 Ok: queued as"));
    let b = inbox(&dir, "bob@example.org");
    assert_eq!(strip_received(&b[0]), format!("{part1}{part2}").as_bytes());
}

#[test]
fn limits_have_their_replies() {
    let tmp = data_dir(&[
        ("max_message_size", "2000"),
        ("max_recipients", "2"),
        ("max_errors", "4"),
    ]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    let mut c = session(&server);
    assert!(
        c.cmd("MAIL FROM:<x@example.net> SIZE=5000")
            .starts_with("552 5.3.4")
    );
    assert!(
        c.cmd("MAIL FROM:<x@example.net> SIZE=1000")
            .starts_with("250")
    );
    assert!(c.cmd("RCPT TO:<alice@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<bob@example.org>").starts_with("250"));
    assert!(
        c.cmd("RCPT TO:<alice+x@example.org>")
            .starts_with("452 4.5.3")
    );
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("x".repeat(100).as_bytes());
    c.send(b"\r\n");
    for _ in 0..30 {
        c.send(format!("{}\r\n", "y".repeat(99)).as_bytes());
    }
    assert!(c.cmd(".").starts_with("552 5.3.4"));
    assert!(
        inbox(&dir, "alice@example.org").is_empty(),
        "nothing stored"
    );
    // The session goes on; a long command line is refused.
    assert!(
        c.cmd(&format!("NOOP {}", "z".repeat(3000)))
            .starts_with("500 5.5.2")
    );
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 Ok");
    // Errors so far: 552, 452, 552, 500. One more exceeds max_errors = 4.
    let r = c.cmd("BOGUS");
    assert!(
        r.starts_with("421 4.7.0") || c.reply().starts_with("421 4.7.0"),
        "{r}"
    );
    assert!(c.closed());
}

#[test]
fn idle_client_is_timed_out() {
    let tmp = data_dir(&[("command_timeout_secs", "1")]);
    let server = Server::start(&data_path(&tmp));
    let mut c = Client::connect(server.addr("smtp"));
    c.reply();
    let t = std::time::Instant::now();
    assert!(c.reply().starts_with("421 4.4.2"));
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(c.closed());
}

#[test]
fn connections_per_ip_are_limited() {
    let tmp = data_dir(&[("max_connections_per_ip", "2")]);
    let server = Server::start(&data_path(&tmp));
    let mut a = Client::connect(server.addr("smtp"));
    let mut b = Client::connect(server.addr("smtp"));
    assert!(a.reply().starts_with("220"));
    assert!(b.reply().starts_with("220"));
    let mut c = Client::connect(server.addr("smtp"));
    assert!(c.reply().starts_with("421 4.7.0"));
    drop(a);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut d = Client::connect(server.addr("smtp"));
    assert!(d.reply().starts_with("220"), "a slot is free again");
}

/// Each published end-of-DATA smuggling variant, pipelined after a real message start. The
/// smuggled "second message" must end up as text of the first, never as its own transaction.
#[test]
fn smtp_smuggling_variants_cannot_end_data() {
    let variants: [&[u8]; 6] = [
        b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r",
    ];
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    for (i, v) in variants.iter().enumerate() {
        let mut c = session(&server);
        let mut data = format!("MAIL FROM:<a@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nFrom: a@example.net\r\nSubject: v{i}\r\n\r\nhello").into_bytes();
        data.extend_from_slice(v);
        data.extend_from_slice(b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n");
        c.send(&data);
        assert!(c.reply().starts_with("250")); // MAIL
        assert!(c.reply().starts_with("250")); // RCPT
        assert!(c.reply().starts_with("354")); // DATA
        let end = c.reply();
        assert!(
            end.starts_with("250 2.0.0 Ok: queued"),
            "variant {i}: {end}"
        );
        assert_eq!(
            c.cmd("NOOP"),
            "250 2.0.0 Ok",
            "no stray replies (variant {i})"
        );
    }
    assert!(
        inbox(&dir, "bob@example.org").is_empty(),
        "no smuggled message delivered"
    );
    let alice = inbox(&dir, "alice@example.org");
    assert_eq!(alice.len(), variants.len());
    for m in &alice {
        let body = strip_received(m);
        assert!(String::from_utf8_lossy(body).contains("Subject: smuggled"));
        // Bare CR/LF were normalised: every line ends in CRLF.
        for (j, &b) in body.iter().enumerate() {
            if b == b'\n' {
                assert_eq!(body[j - 1], b'\r');
            }
            if b == b'\r' {
                assert_eq!(body.get(j + 1), Some(&b'\n'));
            }
        }
    }
}

/// Recipient lookups are cached in the server; a change made by the CLI (another process)
/// must be seen at once.
#[test]
fn directory_changes_reach_a_running_server() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let server = Server::start(&dir);
    let mut c = session(&server);
    c.cmd("MAIL FROM:<x@example.net>");
    assert!(
        c.cmd("RCPT TO:<newbie@example.org>")
            .starts_with("550 5.1.1")
    );
    assert!(c.cmd("RCPT TO:<bob@example.org>").starts_with("250"));
    ok(
        &dir,
        &["alias", "add", "newbie@example.org", "alice@example.org"],
        None,
    );
    ok(&dir, &["user", "del", "bob@example.org"], None);
    assert!(
        c.cmd("RCPT TO:<newbie@example.org>").starts_with("250"),
        "new alias seen"
    );
    assert!(
        c.cmd("RCPT TO:<bob@example.org>").starts_with("550 5.1.1"),
        "deleted user refused"
    );
    ok(&dir, &["domain", "add", "example.net"], None);
    assert!(
        c.cmd("RCPT TO:<x@example.net>").starts_with("550 5.1.1"),
        "new domain is local"
    );
}
