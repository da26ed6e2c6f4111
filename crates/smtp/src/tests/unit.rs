//! One test per reply and behaviour of the session.

use std::time::Duration;

use super::{Driver, reject_config};
use crate::{Event, MessageVerdict, RcptVerdict, Reply, SessionConfig};

fn tls_config() -> SessionConfig {
    SessionConfig {
        starttls_available: true,
        hostname: "mx.example".into(),
        ..SessionConfig::default()
    }
}

// ---- greeting, EHLO, HELO -------------------------------------------------

#[test]
fn greeting() {
    let d = Driver::new(SessionConfig {
        hostname: "mx.example".into(),
        ..SessionConfig::default()
    });
    assert_eq!(
        String::from_utf8_lossy(&d.out),
        "220 mx.example ESMTP mailkeep\r\n"
    );
}

#[test]
fn hostname_is_sanitised() {
    let d = Driver::new(SessionConfig {
        hostname: "evil\r\n250 x".into(),
        ..SessionConfig::default()
    });
    assert_eq!(
        String::from_utf8_lossy(&d.out),
        "220 evil250x ESMTP mailkeep\r\n"
    );
}

#[test]
fn ehlo_lists_extensions() {
    let mut d = Driver::fresh();
    assert_eq!(
        d.send("EHLO client.example\r\n"),
        "250-localhost\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
         250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250 HELP\r\n"
    );
}

#[test]
fn ehlo_offers_starttls_only_without_tls() {
    let mut d = Driver::new(tls_config());
    assert!(d.send("EHLO c\r\n").contains("250-STARTTLS\r\n"));
    let mut d = Driver::with_tls(tls_config(), true);
    assert!(!d.send("EHLO c\r\n").contains("STARTTLS"));
}

#[test]
fn helo_reply() {
    let mut d = Driver::fresh();
    assert_eq!(d.send("HELO client.example\r\n"), "250 localhost\r\n");
}

#[test]
fn hello_requires_domain_or_literal() {
    let mut d = Driver::fresh();
    assert_eq!(d.send("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    assert_eq!(d.send("EHLO \r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
    assert_eq!(d.send("HELO\r\n"), "501 5.5.4 Syntax: HELO hostname\r\n");
    assert_eq!(
        d.send("EHLO bad_name\r\n"),
        "501 5.5.4 Syntax: EHLO hostname\r\n"
    );
    assert_eq!(
        d.send("EHLO a b\r\n"),
        "501 5.5.4 Syntax: EHLO hostname\r\n"
    );
    assert_eq!(d.send("HELO [1.2.3.4]\r\n"), "250 localhost\r\n");
    assert_eq!(d.send("HELO [IPv6:2001:db8::1]\r\n"), "250 localhost\r\n");
    assert_eq!(
        d.send("HELO [1.2.3]\r\n"),
        "501 5.5.4 Syntax: HELO hostname\r\n"
    );
}

#[test]
fn verbs_are_case_insensitive() {
    let mut d = Driver::fresh();
    assert!(d.send("ehlo c.example\r\n").starts_with("250-localhost"));
    assert_eq!(d.send("mail from:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
    assert_eq!(d.send("RcPt To:<c@d.example>\r\n"), "250 2.1.5 Ok\r\n");
    assert!(d.send("dAtA\r\n").starts_with("354 "));
    assert_eq!(
        d.send(".\r\nnoop\r\n"),
        "250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 Ok\r\n"
    );
}

#[test]
fn second_ehlo_resets_transaction() {
    let mut d = Driver::in_transaction();
    d.send("EHLO again.example\r\n");
    assert_eq!(
        d.send("RCPT TO:<x@y.example>\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
    assert_eq!(d.send("MAIL FROM:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
    d.send("HELO again.example\r\n");
    assert_eq!(d.send("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

// ---- MAIL -----------------------------------------------------------------

#[test]
fn mail_requires_hello() {
    let mut d = Driver::fresh();
    assert_eq!(
        d.send("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Error: send HELO/EHLO first\r\n"
    );
}

#[test]
fn mail_ok_and_nested() {
    let mut d = Driver::ehlo();
    assert_eq!(d.send("MAIL FROM:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
    assert_eq!(
        d.send("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Error: nested MAIL command\r\n"
    );
}

#[test]
fn mail_allows_space_after_colon_and_null_sender() {
    let mut d = Driver::ehlo();
    assert_eq!(
        d.send("MAIL FROM: <>\r\nRCPT TO:<r@x.example>\r\n"),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
    );
    d.send("DATA\r\nhi\r\n.\r\n");
    assert_eq!(d.messages()[0].0.mail_from, "");
}

#[test]
fn mail_bad_syntax() {
    let mut d = Driver::ehlo();
    for bad in [
        "MAIL FROM:a@b.example",
        "MAIL FROM:<a@b.example",
        "MAIL FROM:<a@>",
        "MAIL FROM:<@b.example>",
        "MAIL FROM:<a b@c.example>",
        "MAIL FROM:<a@b.example>junk",
        "MAIL FROM:<@r.example:a@b.example>",
        "MAIL FROM:<postmaster>",
    ] {
        assert_eq!(
            d.send(&format!("{bad}\r\n")),
            "501 5.1.7 Bad sender address syntax\r\n",
            "{bad}"
        );
        d.send("RSET\r\n");
    }
    assert_eq!(
        d.send("MAIL TO:<a@b.example>\r\n"),
        "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
    );
    assert_eq!(
        d.send("MAIL\r\n"),
        "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
    );
}

#[test]
fn mail_size_parameter() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_message_size: 1000,
        ..SessionConfig::default()
    });
    let too_big = "552 5.3.4 Message size exceeds fixed maximum message size\r\n";
    assert_eq!(d.send("MAIL FROM:<a@b.example> SIZE=1001\r\n"), too_big);
    assert_eq!(
        d.send("MAIL FROM:<a@b.example> SIZE=999999999999999999999999999\r\n"),
        too_big
    );
    assert_eq!(
        d.send("MAIL FROM:<a@b.example> SIZE=abc\r\n"),
        "501 5.5.4 Syntax error in parameters\r\n"
    );
    assert_eq!(
        d.send("MAIL FROM:<a@b.example> size=1000\r\nRCPT TO:<r@x.example>\r\n"),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
    );
    d.send("DATA\r\nx\r\n.\r\n");
    assert_eq!(d.messages()[0].0.declared_size, Some(1000));
}

#[test]
fn mail_body_and_smtputf8_parameters() {
    let mut d = Driver::ehlo();
    assert_eq!(
        d.send("MAIL FROM:<a@b.example> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<ü@x.example>\r\nDATA\r\n.\r\n"),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as Q1\r\n"
    );
    assert_eq!(
        d.events[0],
        Event::Recipient {
            address: "ü@x.example".into(),
            smtputf8: true
        }
    );
    let env = &d.messages()[0].0;
    assert!(env.body_8bit && env.smtputf8 && env.esmtp && !env.tls);
    assert_eq!(env.helo, "client.example");
    assert_eq!(
        d.send("MAIL FROM:<a@b.example> BODY=7bit\r\n"),
        "250 2.1.0 Ok\r\n"
    );
    d.send("RSET\r\n");
    d.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\n.\r\n");
    let env = &d.messages()[1].0;
    assert!(!env.body_8bit && !env.smtputf8 && env.declared_size.is_none());
}

#[test]
fn mail_unsupported_parameters() {
    let mut d = Driver::ehlo();
    for param in [
        "BODY=BINARYMIME",
        "RET=FULL",
        "ENVID=abc",
        "FOO",
        "BODY=9BIT",
    ] {
        assert_eq!(
            d.send(&format!("MAIL FROM:<a@b.example> {param}\r\n")),
            "555 5.5.4 Unsupported parameter\r\n",
            "{param}"
        );
    }
}

#[test]
fn non_ascii_requires_smtputf8() {
    let mut d = Driver::ehlo();
    let reply = "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n";
    assert_eq!(d.send("MAIL FROM:<jörg@b.example>\r\n"), reply);
    assert_eq!(d.send("MAIL FROM:<a@bü.example>\r\n"), reply);
    assert_eq!(
        d.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<jörg@x.example>\r\n"),
        format!("250 2.1.0 Ok\r\n{reply}")
    );
    assert_eq!(
        d.send("RSET\r\nMAIL FROM:<jörg@b.example> SMTPUTF8\r\n"),
        "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n"
    );
}

#[test]
fn invalid_characters_in_command() {
    let mut d = Driver::ehlo();
    let reply = "500 5.5.2 Error: invalid characters in command\r\n";
    assert_eq!(d.feed(b"NOOP \0\r\n"), reply);
    assert_eq!(d.feed(b"MAIL FROM:<a\0@b.example>\r\n"), reply);
    assert_eq!(d.feed(b"NOOP \xff\xfe\r\n"), reply);
    assert_eq!(d.feed(b"NOOP a\rb\r\n"), reply);
    assert_eq!(d.feed(b"NOOP \xc3\xa4\r\n"), "250 2.0.0 Ok\r\n");
}

// ---- RCPT -----------------------------------------------------------------

#[test]
fn rcpt_requires_mail() {
    let mut d = Driver::ehlo();
    assert_eq!(
        d.send("RCPT TO:<a@b.example>\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
}

#[test]
fn rcpt_bad_syntax() {
    let mut d = Driver::ehlo();
    d.send("MAIL FROM:<a@b.example>\r\n");
    for bad in [
        "RCPT TO:a@b.example",
        "RCPT TO:<>",
        "RCPT TO:<a@>",
        "RCPT TO:<a..b@c.example>",
        "RCPT TO:<x@y.example>z",
    ] {
        assert_eq!(
            d.send(&format!("{bad}\r\n")),
            "501 5.1.3 Bad recipient address syntax\r\n",
            "{bad}"
        );
    }
    assert_eq!(
        d.send("RCPT FROM:<a@b.example>\r\n"),
        "501 5.5.4 Syntax: RCPT TO:<address>\r\n"
    );
    assert!(d.events.is_empty());
}

#[test]
fn rcpt_parameters_unsupported() {
    let mut d = Driver::ehlo();
    d.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        d.send("RCPT TO:<a@b.example> NOTIFY=NEVER\r\n"),
        "555 5.5.4 Unsupported parameter\r\n"
    );
    assert_eq!(
        d.send("RCPT TO:<a@b.example> X\r\n"),
        "555 5.5.4 Unsupported parameter\r\n"
    );
}

#[test]
fn rcpt_source_route_refused() {
    let mut d = Driver::ehlo();
    d.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        d.send("RCPT TO:<@a.example,@b.example:u@d.example>\r\n"),
        "501 5.1.3 Source routes are not accepted\r\n"
    );
    // Percent hack and bang paths are left to the caller.
    assert_eq!(
        d.send("RCPT TO:<u%d.example@x.example>\r\nRCPT TO:<h!u@x.example>\r\n"),
        "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
    );
}

#[test]
fn rcpt_postmaster_without_domain() {
    let mut d = Driver::ehlo();
    d.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(d.send("RCPT TO:<PostMaster>\r\n"), "250 2.1.5 Ok\r\n");
    assert_eq!(
        d.events,
        [Event::Recipient {
            address: "PostMaster".into(),
            smtputf8: false
        }]
    );
}

#[test]
fn rcpt_quoted_and_literal() {
    let mut d = Driver::ehlo();
    d.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        d.send("RCPT TO:<\"john doe\"@x.example>\r\nRCPT TO:<u@[192.0.2.1]>\r\n"),
        "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
    );
    assert_eq!(
        d.send("RCPT TO:<u@[192.0.2.256]>\r\n"),
        "501 5.1.3 Bad recipient address syntax\r\n"
    );
}

#[test]
fn rcpt_too_many_recipients() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_recipients: 2,
        ..SessionConfig::default()
    });
    d.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        d.send("RCPT TO:<r1@x.example>\r\nRCPT TO:<r2@x.example>\r\nRCPT TO:<r3@x.example>\r\n"),
        "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Error: too many recipients\r\n"
    );
    // Rejected recipients do not use up the limit.
    let mut d = Driver::ehlo_with(SessionConfig {
        max_recipients: 1,
        ..SessionConfig::default()
    });
    d.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        d.send("RCPT TO:<bad@x.example>\r\nRCPT TO:<r@x.example>\r\n"),
        "550 5.1.1 User unknown\r\n250 2.1.5 Ok\r\n"
    );
}

#[test]
fn recipient_event_blocks_until_verdict() {
    let mut d = Driver::ehlo();
    d.s.receive(
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<r1@x.example>\r\nRCPT TO:<r2@x.example>\r\nNOOP\r\n",
        d.now,
    );
    assert_eq!(
        d.s.poll_event(),
        Some(Event::Recipient {
            address: "r1@x.example".into(),
            smtputf8: false
        })
    );
    assert!(!d.s.wants_input());
    assert_eq!(d.s.next_deadline(), None);
    assert_eq!(d.s.poll_event(), None);
    assert_eq!(d.s.take_output(), b"250 2.1.0 Ok\r\n");
    d.s.recipient_verdict(RcptVerdict::Reject(Reply::new(
        550,
        Some((5, 1, 1)),
        "<r1@x.example>: no such user",
    )));
    assert_eq!(
        d.s.poll_event(),
        Some(Event::Recipient {
            address: "r2@x.example".into(),
            smtputf8: false
        })
    );
    d.s.recipient_verdict(RcptVerdict::Accept);
    assert_eq!(d.s.poll_event(), None);
    assert!(d.s.wants_input());
    assert_eq!(
        String::from_utf8(d.s.take_output()).unwrap(),
        "550 5.1.1 <r1@x.example>: no such user\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n"
    );
    // A verdict nobody asked for is ignored.
    d.s.recipient_verdict(RcptVerdict::Accept);
    d.s.message_verdict(MessageVerdict::Accepted { id: "x".into() });
    assert!(d.s.take_output().is_empty());
}

#[test]
fn rejection_with_success_code_is_sent_as_550() {
    let mut d = Driver::ehlo();
    d.s.receive(
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\n",
        d.now,
    );
    assert!(matches!(d.s.poll_event(), Some(Event::Recipient { .. })));
    d.s.recipient_verdict(RcptVerdict::Reject(Reply::new(
        250,
        None,
        "no\r\n250 sneaky",
    )));
    assert_eq!(
        String::from_utf8(d.s.take_output()).unwrap(),
        "250 2.1.0 Ok\r\n550-no\r\n550 250 sneaky\r\n"
    );
}

// ---- DATA -----------------------------------------------------------------

#[test]
fn data_requires_mail_and_recipients() {
    let mut d = Driver::ehlo();
    assert_eq!(d.send("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    d.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        d.send("DATA\r\n"),
        "554 5.5.1 Error: no valid recipients\r\n"
    );
    d.send("RCPT TO:<bad@x.example>\r\n");
    assert_eq!(
        d.send("DATA\r\n"),
        "554 5.5.1 Error: no valid recipients\r\n"
    );
    d.send("RCPT TO:<r@x.example>\r\n");
    assert_eq!(d.send("DATA x\r\n"), "501 5.5.4 Syntax: DATA\r\n");
}

#[test]
fn data_delivers_dot_unstuffed_message() {
    let mut d = Driver::in_transaction();
    assert_eq!(
        d.send("DATA\r\n"),
        "354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    assert_eq!(
        d.send("Subject: x\r\n\r\n..dot\r\n.\r\n"),
        "250 2.0.0 Ok: queued as Q1\r\n"
    );
    let (env, body) = d.messages().remove(0);
    assert_eq!(body, b"Subject: x\r\n\r\n.dot\r\n");
    assert_eq!(env.mail_from, "sender@example.org");
    assert_eq!(env.recipients, ["rcpt@example.net"]);
    // The transaction is over.
    assert_eq!(
        d.send("RCPT TO:<r@x.example>\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
}

#[test]
fn data_empty_message() {
    let mut d = Driver::in_transaction();
    assert_eq!(
        d.send("DATA\r\n.\r\n"),
        "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as Q1\r\n"
    );
    assert_eq!(d.messages()[0].1, b"");
}

#[test]
fn data_normalises_bare_newlines() {
    let mut d = Driver::in_transaction();
    d.send("DATA\r\n");
    assert_eq!(
        d.feed(b"a\nb\rc\r\n.\r\n"),
        "250 2.0.0 Ok: queued as Q1\r\n"
    );
    assert_eq!(d.messages()[0].1, b"a\r\nb\r\nc\r\n");
}

#[test]
fn data_rejects_bare_newlines() {
    let reply = "550 5.5.2 Error: bare <CR> or <LF> in message; lines must end with <CR><LF>\r\n";
    for content in [
        &b"a\nb\r\n.\r\n"[..],
        b"a\rb\r\n.\r\n",
        b"a\r\n.\n\r\n.\r\n",
    ] {
        let mut d = Driver::in_transaction_with(reject_config());
        d.send("DATA\r\n");
        assert_eq!(d.feed(content), reply);
        assert!(d.messages().is_empty());
        // The session is still usable.
        assert_eq!(d.send("MAIL FROM:<a@b.example>\r\n"), "250 2.1.0 Ok\r\n");
    }
    let mut d = Driver::in_transaction_with(reject_config());
    assert_eq!(
        d.send("DATA\r\nclean\r\n.\r\n").lines().last(),
        Some("250 2.0.0 Ok: queued as Q1")
    );
}

#[test]
fn data_too_big() {
    let mut d = Driver::in_transaction_with(SessionConfig {
        max_message_size: 10,
        ..SessionConfig::default()
    });
    d.send("DATA\r\n");
    assert_eq!(d.send("0123456789\r\nmore\r\n"), "");
    assert_eq!(
        d.send(".\r\nNOOP\r\n"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n"
    );
    assert!(d.messages().is_empty());
    let mut d = Driver::in_transaction_with(SessionConfig {
        max_message_size: 10,
        ..SessionConfig::default()
    });
    assert!(
        d.send("DATA\r\n01234567\r\n.\r\n")
            .ends_with("250 2.0.0 Ok: queued as Q1\r\n")
    );
}

#[test]
fn data_line_too_long() {
    let mut d = Driver::in_transaction_with(SessionConfig {
        max_data_line: 10,
        ..SessionConfig::default()
    });
    d.send("DATA\r\n");
    assert_eq!(d.send("12345678\r\n123456789\r\n"), "");
    assert_eq!(
        d.send(".\r\n"),
        "500 5.5.2 Error: line too long in message\r\n"
    );
    assert!(d.messages().is_empty());
    assert_eq!(d.s.buffered(), 0);
}

#[test]
fn message_verdict_rejected_resets_transaction() {
    let mut d = Driver::in_transaction();
    d.s.receive(b"DATA\r\nhello\r\n.\r\nRCPT TO:<r@x.example>\r\n", d.now);
    assert!(matches!(d.s.poll_event(), Some(Event::Message { .. })));
    assert!(!d.s.wants_input());
    assert_eq!(d.s.next_deadline(), None);
    d.s.message_verdict(MessageVerdict::Rejected(Reply::new(
        451,
        Some((4, 3, 0)),
        "try later",
    )));
    assert_eq!(d.s.poll_event(), None);
    assert_eq!(
        String::from_utf8(d.s.take_output()).unwrap(),
        "354 End data with <CR><LF>.<CR><LF>\r\n451 4.3.0 try later\r\n503 5.5.1 Error: need MAIL command\r\n"
    );
}

#[test]
fn message_id_cannot_inject_lines() {
    let mut d = Driver::in_transaction();
    d.s.receive(b"DATA\r\n.\r\n", d.now);
    assert!(matches!(d.s.poll_event(), Some(Event::Message { .. })));
    d.s.message_verdict(MessageVerdict::Accepted {
        id: "A\r\n250 B".into(),
    });
    assert!(
        String::from_utf8(d.s.take_output())
            .unwrap()
            .ends_with("250 2.0.0 Ok: queued as A  250 B\r\n")
    );
}

// ---- BDAT -----------------------------------------------------------------

#[test]
fn bdat_chunks() {
    let mut d = Driver::in_transaction();
    assert_eq!(
        d.send("BDAT 7\r\nhello\r\n"),
        "250 2.0.0 7 octets received\r\n"
    );
    assert_eq!(
        d.send("BDAT 6 LAST\r\nworld!"),
        "250 2.0.0 Ok: queued as Q1\r\n"
    );
    assert_eq!(d.messages()[0].1, b"hello\r\nworld!");
    assert_eq!(
        d.send("RCPT TO:<r@x.example>\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
}

#[test]
fn bdat_zero_last() {
    let mut d = Driver::in_transaction();
    assert_eq!(d.send("BDAT 0 LAST\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
    assert_eq!(d.messages()[0].1, b"");
    let mut d = Driver::in_transaction();
    assert_eq!(
        d.send("BDAT 3\r\nabcBDAT 0 last\r\n"),
        "250 2.0.0 3 octets received\r\n250 2.0.0 Ok: queued as Q1\r\n"
    );
    assert_eq!(d.messages()[0].1, b"abc");
}

#[test]
fn bdat_without_mail_or_rcpt_consumes_chunk() {
    let mut d = Driver::ehlo();
    assert_eq!(
        d.send("BDAT 6\r\nQUIT\r\nNOOP\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n"
    );
    assert!(!d.s.is_closed());
    d.send("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        d.send("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n"),
        "503 5.5.1 Error: need RCPT command\r\n250 2.0.0 Ok\r\n"
    );
    assert!(d.messages().is_empty());
}

#[test]
fn bdat_too_big_aborts_transaction() {
    let mut d = Driver::in_transaction_with(SessionConfig {
        max_message_size: 10,
        ..SessionConfig::default()
    });
    let too_big = "552 5.3.4 Message size exceeds fixed maximum message size\r\n";
    assert_eq!(
        d.send("BDAT 6\r\n123456"),
        "250 2.0.0 6 octets received\r\n"
    );
    assert_eq!(d.send("BDAT 5\r\n12345"), too_big);
    assert_eq!(
        d.send("BDAT 2 LAST\r\n12"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
    assert!(d.messages().is_empty());
    // A single chunk over the limit is consumed, then refused.
    let mut d = Driver::in_transaction_with(SessionConfig {
        max_message_size: 10,
        ..SessionConfig::default()
    });
    assert_eq!(
        d.send("BDAT 11 LAST\r\n01234567890NOOP\r\n"),
        format!("{too_big}250 2.0.0 Ok\r\n")
    );
    // Growth by normalisation counts too.
    let mut d = Driver::in_transaction_with(SessionConfig {
        max_message_size: 10,
        ..SessionConfig::default()
    });
    assert_eq!(d.feed(b"BDAT 10 LAST\r\n\n\n\n\n\n\n\n\n\n\n"), too_big);
}

#[test]
fn bdat_huge_size_is_not_allocated() {
    let mut d = Driver::in_transaction();
    assert_eq!(d.send("BDAT 18446744073709551615\r\n"), "");
    d.feed(&[b'x'; 100_000]);
    assert_eq!(d.s.buffered(), 0);
    assert!(d.s.wants_input());
}

#[test]
fn bdat_bad_syntax_consumes_nothing() {
    let mut d = Driver::in_transaction();
    for bad in [
        "BDAT",
        "BDAT x",
        "BDAT -1",
        "BDAT +5",
        "BDAT 18446744073709551616",
        "BDAT 5 FOO",
        "BDAT 1 LAST X",
    ] {
        assert_eq!(
            d.send(&format!("{bad}\r\nNOOP\r\n")),
            "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n250 2.0.0 Ok\r\n",
            "{bad}"
        );
    }
}

#[test]
fn bdat_bare_newlines() {
    let mut d = Driver::in_transaction();
    d.feed(b"BDAT 2\r\na\rBDAT 3\r\n\nb\rBDAT 2 LAST\r\nc\r");
    assert_eq!(d.messages()[0].1, b"a\r\nb\r\nc\r\n");
    let mut d = Driver::in_transaction_with(reject_config());
    assert_eq!(
        d.feed(b"BDAT 2\r\na\nBDAT 1 LAST\r\nb"),
        "250 2.0.0 2 octets received\r\n550 5.5.2 Error: bare <CR> or <LF> in message; lines must end with <CR><LF>\r\n"
    );
    assert!(d.messages().is_empty());
    let mut d = Driver::in_transaction_with(reject_config());
    d.feed(b"BDAT 2\r\na\rBDAT 1 LAST\r\n\n");
    assert_eq!(d.messages()[0].1, b"a\r\n");
}

#[test]
fn data_after_bdat_and_rcpt_after_bdat() {
    let mut d = Driver::in_transaction();
    d.send("BDAT 1\r\nx");
    assert_eq!(
        d.send("DATA\r\n"),
        "503 5.5.1 Error: DATA not allowed after BDAT\r\n"
    );
    assert_eq!(
        d.send("RCPT TO:<r2@x.example>\r\n"),
        "503 5.5.1 Error: RCPT not allowed after BDAT\r\n"
    );
    assert_eq!(d.send("BDAT 1 LAST\r\ny"), "250 2.0.0 Ok: queued as Q1\r\n");
    assert_eq!(d.messages()[0].1, b"xy");
}

#[test]
fn rset_during_bdat_discards_chunks() {
    let mut d = Driver::in_transaction();
    d.send("BDAT 3\r\nabcRSET\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\n");
    d.send("BDAT 3 LAST\r\ndef");
    assert_eq!(d.messages()[0].1, b"def");
}

// ---- other commands -------------------------------------------------------

#[test]
fn rset_noop_quit() {
    let mut d = Driver::in_transaction();
    assert_eq!(d.send("RSET\r\n"), "250 2.0.0 Ok\r\n");
    assert_eq!(d.send("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    assert_eq!(d.send("RSET x\r\n"), "501 5.5.4 Syntax: RSET\r\n");
    assert_eq!(
        d.send("NOOP\r\nNOOP anything at all\r\n"),
        "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
    );
    assert_eq!(d.send("QUIT\r\nNOOP\r\n"), "221 2.0.0 Bye\r\n");
    assert_eq!(d.events, [Event::Close]);
    assert!(d.s.is_closed());
    assert!(!d.s.wants_input());
    assert_eq!(d.s.next_deadline(), None);
    assert_eq!(d.send("NOOP\r\n"), "");
    assert_eq!(d.s.poll_event(), None);
}

#[test]
fn vrfy_expn_help_auth_unknown() {
    let mut d = Driver::ehlo();
    assert_eq!(
        d.send("VRFY root\r\nVRFY\r\n"),
        "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n".repeat(2)
    );
    assert_eq!(
        d.send("EXPN staff\r\n"),
        "502 5.5.1 Error: command not implemented\r\n"
    );
    assert_eq!(
        d.send("HELP\r\nhelp mail\r\n"),
        "214 2.0.0 See RFC 5321\r\n".repeat(2)
    );
    assert_eq!(
        d.send("AUTH PLAIN AGZvbwBiYXI=\r\n"),
        "503 5.5.1 Error: authentication not enabled\r\n"
    );
    assert_eq!(
        d.send("TURN\r\n"),
        "500 5.5.2 Error: command not recognized\r\n"
    );
    assert_eq!(
        d.send("\r\n"),
        "500 5.5.2 Error: command not recognized\r\n"
    );
}

// ---- STARTTLS ---------------------------------------------------------------

#[test]
fn starttls_unavailable_or_with_arguments() {
    let mut d = Driver::ehlo();
    assert_eq!(
        d.send("STARTTLS\r\n"),
        "502 5.5.1 Error: command not implemented\r\n"
    );
    let mut d = Driver::ehlo_with(tls_config());
    assert_eq!(d.send("STARTTLS now\r\n"), "501 5.5.4 Syntax: STARTTLS\r\n");
    let mut d = Driver::with_tls(tls_config(), true);
    assert_eq!(
        d.send("STARTTLS\r\n"),
        "503 5.5.1 Error: TLS already active\r\n"
    );
}

#[test]
fn starttls_discards_pipelined_input_and_resets() {
    let mut d = Driver::ehlo_with(tls_config());
    d.send("MAIL FROM:<a@b.example>\r\n");
    d.s.receive(
        b"STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\n",
        d.now,
    );
    assert_eq!(d.s.poll_event(), Some(Event::StartTls));
    assert_eq!(d.s.take_output(), b"220 2.0.0 Ready to start TLS\r\n");
    assert!(!d.s.wants_input());
    assert_eq!(d.s.next_deadline(), None);
    assert_eq!(d.s.buffered(), 0);
    // Plaintext arriving before the handshake completes is dropped as well.
    d.s.receive(b"NOOP\r\n", d.now);
    assert_eq!(d.s.poll_event(), None);
    d.s.tls_started();
    assert!(d.s.tls_active());
    assert!(d.s.wants_input());
    assert!(d.s.take_output().is_empty(), "no new greeting");
    assert_eq!(
        d.send("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Error: send HELO/EHLO first\r\n"
    );
    let ehlo = d.send("EHLO c.example\r\n");
    assert!(!ehlo.contains("STARTTLS"));
    assert_eq!(
        d.send("STARTTLS\r\n"),
        "503 5.5.1 Error: TLS already active\r\n"
    );
    d.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\nx\r\n.\r\n");
    assert!(d.messages()[0].0.tls);
    assert!(
        d.events
            .iter()
            .all(|e| !matches!(e, Event::Recipient { address, .. } if address.starts_with('v')))
    );
}

// ---- line limits ------------------------------------------------------------

#[test]
fn command_line_too_long() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_command_line: 512,
        ..SessionConfig::default()
    });
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(600));
    assert_eq!(
        d.send(&long),
        "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n"
    );
    // Byte at a time: the reply comes once the limit is reached, nothing grows past it.
    let mut replies = String::new();
    for b in long.bytes() {
        replies += &d.feed(&[b]);
        assert!(d.s.buffered() < 512);
    }
    assert_eq!(
        replies,
        "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n"
    );
    // Exactly at the limit (CRLF included) is fine.
    let exact = format!("NOOP {}\r\n", "x".repeat(512 - 7));
    assert_eq!(exact.len(), 512);
    assert_eq!(d.send(&exact), "250 2.0.0 Ok\r\n");
    let over = format!("NOOP {}\r\n", "x".repeat(512 - 6));
    assert_eq!(d.send(&over), "500 5.5.2 Error: line too long\r\n");
}

#[test]
fn bare_lf_ends_a_command() {
    let mut d = Driver::fresh();
    assert_eq!(
        d.send("EHLO c.example\nMAIL FROM:<a@b.example>\nRCPT TO:<r@x.example>\nDATA\n")
            .lines()
            .last(),
        Some("354 End data with <CR><LF>.<CR><LF>")
    );
    // ... but not inside DATA.
    assert_eq!(d.send(".\nQUIT\n"), "");
    assert_eq!(d.send("\r\n.\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
    assert_eq!(d.messages()[0].1, b"\r\nQUIT\r\n\r\n");
}

// ---- errors, pipelining, timeouts, shutdown ------------------------------------

#[test]
fn too_many_errors_closes() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_errors: 3,
        hostname: "mx.example".into(),
        ..SessionConfig::default()
    });
    let bad = "500 5.5.2 Error: command not recognized\r\n";
    assert_eq!(d.send("X\r\nX\r\nX\r\n"), bad.repeat(3));
    assert!(!d.s.is_closed());
    assert_eq!(
        d.send("X\r\nNOOP\r\n"),
        format!("{bad}421 4.7.0 mx.example Error: too many errors\r\n")
    );
    assert!(d.s.is_closed());
    assert_eq!(d.events, [Event::Close]);
}

#[test]
fn rejected_recipients_count_as_errors() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_errors: 2,
        ..SessionConfig::default()
    });
    d.send("MAIL FROM:<a@b.example>\r\n");
    let out = d.send("RCPT TO:<bad1@x.example>\r\nRCPT TO:<bad2@x.example>\r\nRCPT TO:<bad3@x.example>\r\nRCPT TO:<r@x.example>\r\n");
    assert_eq!(
        out,
        "550 5.1.1 User unknown\r\n".repeat(3) + "421 4.7.0 localhost Error: too many errors\r\n"
    );
    assert_eq!(d.events.len(), 4);
    assert_eq!(d.events.last(), Some(&Event::Close));
}

#[test]
fn pipelined_commands_answered_in_order() {
    let mut d = Driver::fresh();
    let out = d.send(
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r1@x.example>\r\nRCPT TO:<bad@x.example>\r\n\
         RCPT TO:<r2@x.example>\r\nDATA\r\nbody\r\n.\r\nMAIL FROM:<c@d.example>\r\nRCPT TO:<r3@x.example>\r\n\
         BDAT 4 LAST\r\nbodyQUIT\r\n",
    );
    let tail: Vec<&str> = out.lines().skip(8).collect();
    assert_eq!(
        tail,
        [
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "550 5.1.1 User unknown",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 Ok: queued as Q1",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 Ok: queued as Q2",
            "221 2.0.0 Bye",
        ]
    );
    let msgs = d.messages();
    assert_eq!(msgs[0].0.recipients, ["r1@x.example", "r2@x.example"]);
    assert_eq!(msgs[1].0.recipients, ["r3@x.example"]);
    assert_eq!(msgs[1].1, b"body");
}

#[test]
fn timeouts() {
    let mut d = Driver::ehlo_with(SessionConfig {
        hostname: "mx.example".into(),
        ..SessionConfig::default()
    });
    let start = d.now;
    assert_eq!(d.s.next_deadline(), Some(start + Duration::from_secs(300)));
    d.s.handle_timeout(start + Duration::from_secs(299));
    assert!(!d.s.is_closed());
    // Input restarts the clock.
    d.advance(Duration::from_secs(200));
    d.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\n");
    assert_eq!(d.s.next_deadline(), Some(start + Duration::from_secs(800)));
    d.s.handle_timeout(start + Duration::from_secs(799));
    assert!(!d.s.is_closed());
    d.out.clear();
    d.s.handle_timeout(start + Duration::from_secs(800));
    assert!(d.s.is_closed());
    d.drive();
    assert_eq!(
        String::from_utf8_lossy(&d.out),
        "421 4.4.2 mx.example Error: timeout exceeded\r\n"
    );
    assert_eq!(d.events.last(), Some(&Event::Close));
    assert_eq!(d.s.next_deadline(), None);
}

#[test]
fn a_command_trickled_a_byte_at_a_time_still_times_out() {
    let mut d = Driver::ehlo_with(SessionConfig {
        hostname: "mx.example".into(),
        ..SessionConfig::default()
    });
    let start = d.now;
    // The first byte of a command starts its clock; more of the same line does not.
    for (i, b) in b"NOOP and on and on".iter().enumerate() {
        d.s.receive(&[*b], start + Duration::from_secs(10 + 20 * i as u64));
    }
    assert_eq!(d.s.next_deadline(), Some(start + Duration::from_secs(310)));
    d.s.handle_timeout(start + Duration::from_secs(310));
    assert!(d.s.is_closed());
    assert!(
        String::from_utf8_lossy(&d.s.take_output())
            .ends_with("421 4.4.2 mx.example Error: timeout exceeded\r\n")
    );

    // A command that completes starts the next one's clock afresh.
    let mut d = Driver::ehlo_with(SessionConfig::default());
    let start = d.now;
    d.s.receive(b"NO", start + Duration::from_secs(100));
    d.s.receive(b"OP\r\n", start + Duration::from_secs(200));
    d.s.receive(b"NO", start + Duration::from_secs(350));
    assert_eq!(d.s.next_deadline(), Some(start + Duration::from_secs(650)));
}

#[test]
fn timeout_back_in_command_phase_and_while_pending() {
    let mut d = Driver::in_transaction();
    let t0 = d.now;
    d.send("BDAT 10\r\nabc");
    assert_eq!(d.s.next_deadline(), Some(t0 + Duration::from_secs(600)));
    d.send("defghij");
    assert_eq!(d.s.next_deadline(), Some(t0 + Duration::from_secs(300)));
    d.s.receive(
        b"RSET\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\n",
        t0,
    );
    assert!(matches!(d.s.poll_event(), Some(Event::Recipient { .. })));
    assert_eq!(d.s.next_deadline(), None);
    d.s.handle_timeout(t0 + Duration::from_secs(10_000));
    assert!(!d.s.is_closed());
    d.s.recipient_verdict(RcptVerdict::Accept);
    // After a slow verdict the runtime restarts the clock with an empty receive.
    d.s.receive(&[], t0 + Duration::from_secs(1000));
    assert_eq!(d.s.next_deadline(), Some(t0 + Duration::from_secs(1300)));
}

#[test]
fn shutdown_closes() {
    let mut d = Driver::in_transaction();
    d.s.shutdown();
    d.drive();
    assert_eq!(
        String::from_utf8_lossy(&d.out),
        "421 4.3.2 localhost Service shutting down\r\n"
    );
    assert_eq!(d.events, [Event::Close]);
    assert_eq!(d.send("NOOP\r\n"), "");
    d.s.shutdown();
    d.s.handle_timeout(d.now + Duration::from_secs(100_000));
    assert!(d.s.take_output().is_empty());
    assert_eq!(d.s.poll_event(), None);
}

#[test]
fn shutdown_while_verdict_pending() {
    let mut d = Driver::ehlo();
    d.s.receive(
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\n",
        d.now,
    );
    assert!(matches!(d.s.poll_event(), Some(Event::Recipient { .. })));
    d.s.shutdown();
    d.s.recipient_verdict(RcptVerdict::Accept);
    assert_eq!(d.s.poll_event(), Some(Event::Close));
    assert!(
        String::from_utf8(d.s.take_output())
            .unwrap()
            .ends_with("421 4.3.2 localhost Service shutting down\r\n")
    );
}

#[test]
fn pipelined_input_while_pending_is_bounded() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_command_line: 512,
        max_data_line: 1000,
        ..SessionConfig::default()
    });
    d.s.receive(
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\n",
        d.now,
    );
    assert!(matches!(d.s.poll_event(), Some(Event::Recipient { .. })));
    let chunk = b"NOOP\r\n".repeat(10_000);
    for _ in 0..4 {
        d.s.receive(&chunk, d.now);
    }
    assert!(!d.s.is_closed());
    d.s.receive(&chunk, d.now);
    assert!(d.s.is_closed());
    assert!(d.s.buffered() == 0);
    assert_eq!(d.s.poll_event(), Some(Event::Close));
    assert!(
        String::from_utf8(d.s.take_output())
            .unwrap()
            .ends_with("421 4.7.0 localhost Error: too much pipelined input\r\n")
    );
}

// ---- submission without AUTH ----------------------------------------------

#[test]
fn submission_refuses_mail_without_authentication() {
    let mut d = Driver::ehlo_with(SessionConfig {
        require_auth: true,
        ..SessionConfig::default()
    });
    assert_eq!(
        d.send("MAIL FROM:<a@example.org>\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );
    assert!(
        d.send("RCPT TO:<b@example.org>\r\n")
            .starts_with("503 5.5.1")
    );
    assert_eq!(d.send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

#[test]
fn accepted_recipients_count_resets_with_the_transaction() {
    let mut d = Driver::ehlo();
    assert_eq!(d.s.accepted_recipients(), 0);
    d.send("MAIL FROM:<a@example.org>\r\n");
    d.send("RCPT TO:<b@example.org>\r\n");
    d.send("RCPT TO:<c@example.org>\r\n");
    assert_eq!(d.s.accepted_recipients(), 2);
    d.send("RSET\r\n");
    assert_eq!(d.s.accepted_recipients(), 0);
}
