//! SMTP smuggling (CVE-2023-51764/51765/51766): only `<CRLF>.<CRLF>` ends
//! DATA, so commands hidden behind a fake terminator stay message text.

use super::{Driver, reject_config};
use crate::{Event, SessionConfig};

/// Fake end-of-data sequences a smuggler may try.
const FAKES: [&[u8]; 8] = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n.\r\r\n",
    b"\n.\r",
];

const PREFACE: &[u8] =
    b"EHLO c.example\r\nMAIL FROM:<a@good.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\n";

/// The message: a fake terminator followed by a complete second
/// transaction, whose own `.` line is the real terminator of the first.
fn smuggling_body(fake: &[u8]) -> Vec<u8> {
    let mut body = b"Subject: hi\r\n\r\nhello".to_vec();
    body.extend_from_slice(fake);
    body.extend_from_slice(
        b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@y.example>\r\nDATA\r\nsmuggled\r\n.\r\n",
    );
    body
}

fn recipients(d: &Driver) -> Vec<String> {
    d.events
        .iter()
        .filter_map(|e| match e {
            Event::Recipient { address, .. } => Some(address.clone()),
            _ => None,
        })
        .collect()
}

/// Feeds the preface, the body and QUIT in the given mode and checks that
/// only one transaction happened.
fn check(config: SessionConfig, fake: &[u8], mode: &str) -> Driver {
    let mut input = PREFACE.to_vec();
    input.extend(smuggling_body(fake));
    input.extend_from_slice(b"QUIT\r\n");
    let mut d = Driver::new(config);
    match mode {
        "one-shot" => {
            d.feed(&input);
        }
        "byte-at-a-time" => {
            for b in &input {
                d.feed(&[*b]);
            }
        }
        _ => {
            d.feed(PREFACE);
            d.feed(&input[PREFACE.len()..]);
        }
    }
    assert_eq!(recipients(&d), ["r@x.example"], "{fake:?} {mode}");
    let out = String::from_utf8_lossy(&d.out).into_owned();
    assert_eq!(
        out.matches("250 2.1.0").count(),
        1,
        "{fake:?} {mode}: {out}"
    );
    assert_eq!(out.matches("354 ").count(), 1, "{fake:?} {mode}: {out}");
    assert!(out.ends_with("221 2.0.0 Bye\r\n"), "{fake:?} {mode}: {out}");
    d
}

#[test]
fn data_fake_terminators_are_message_text() {
    for fake in FAKES {
        for mode in ["one-shot", "byte-at-a-time", "preface-then-body"] {
            let d = check(SessionConfig::default(), fake, mode);
            let msgs = d.messages();
            assert_eq!(msgs.len(), 1, "{fake:?} {mode}");
            assert_eq!(msgs[0].0.mail_from, "a@good.example");
            let body = String::from_utf8_lossy(&msgs[0].1).into_owned();
            assert!(body.contains("MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@y.example>\r\nDATA\r\nsmuggled\r\n"), "{body:?}");
            assert!(body.starts_with("Subject: hi\r\n\r\nhello"));
            // Normalised: no bare CR or LF left.
            assert_eq!(body.matches('\r').count(), body.matches("\r\n").count());
            assert_eq!(body.matches('\n').count(), body.matches("\r\n").count());
        }
    }
}

#[test]
fn data_fake_terminators_rejected_with_reject_policy() {
    for fake in FAKES {
        for mode in ["one-shot", "byte-at-a-time", "preface-then-body"] {
            let d = check(reject_config(), fake, mode);
            assert!(d.messages().is_empty(), "{fake:?} {mode}");
            let out = String::from_utf8_lossy(&d.out).into_owned();
            assert!(out.ends_with("550 5.5.2 Error: bare <CR> or <LF> in message; lines must end with <CR><LF>\r\n221 2.0.0 Bye\r\n"));
        }
    }
}

#[test]
fn data_exact_unstuffed_content_around_fakes() {
    let mut d = Driver::in_transaction();
    d.feed(b"DATA\r\na\n.\nb\r\n.\r\n");
    d.feed(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\na\r\n.\nb\r\n.\r\n");
    d.feed(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\na\r.\r\nb\r\n.\r\n");
    let bodies: Vec<Vec<u8>> = d.messages().into_iter().map(|m| m.1).collect();
    assert_eq!(
        bodies,
        [
            b"a\r\n.\r\nb\r\n".to_vec(),
            // `.` at a real line start, ended by a bare LF: unstuffed.
            b"a\r\n\r\nb\r\n".to_vec(),
            b"a\r\n.\r\nb\r\n".to_vec(),
        ]
    );
}

#[test]
fn bdat_content_is_never_commands() {
    for fake in FAKES.iter().chain([&&b"\r\n.\r\n"[..]]) {
        for split in [false, true] {
            let body = smuggling_body(fake);
            let mut input =
                b"EHLO c.example\r\nMAIL FROM:<a@good.example>\r\nRCPT TO:<r@x.example>\r\n"
                    .to_vec();
            input.extend(format!("BDAT {} LAST\r\n", body.len()).into_bytes());
            input.extend(&body);
            input.extend_from_slice(b"QUIT\r\n");
            let mut d = Driver::new(SessionConfig::default());
            if split {
                for b in &input {
                    d.feed(&[*b]);
                }
            } else {
                d.feed(&input);
            }
            assert_eq!(recipients(&d), ["r@x.example"]);
            let msgs = d.messages();
            assert_eq!(msgs.len(), 1);
            let text = String::from_utf8_lossy(&msgs[0].1).into_owned();
            assert!(text.ends_with("MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@y.example>\r\nDATA\r\nsmuggled\r\n.\r\n"));
            let out = String::from_utf8_lossy(&d.out).into_owned();
            assert!(
                out.ends_with("250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 Bye\r\n"),
                "{out}"
            );
        }
    }
}

#[test]
fn bdat_fake_terminators_rejected_with_reject_policy() {
    for fake in FAKES {
        let body = smuggling_body(fake);
        let mut input =
            b"EHLO c.example\r\nMAIL FROM:<a@good.example>\r\nRCPT TO:<r@x.example>\r\n".to_vec();
        input.extend(format!("BDAT {}\r\n", body.len()).into_bytes());
        input.extend(&body);
        input.extend_from_slice(b"BDAT 0 LAST\r\nQUIT\r\n");
        let mut d = Driver::new(reject_config());
        d.feed(&input);
        assert!(d.messages().is_empty());
        assert_eq!(recipients(&d), ["r@x.example"]);
        let out = String::from_utf8_lossy(&d.out).into_owned();
        assert!(out.ends_with(&format!(
            "250 2.0.0 {} octets received\r\n550 5.5.2 Error: bare <CR> or <LF> in message; lines must end with <CR><LF>\r\n221 2.0.0 Bye\r\n",
            body.len()
        )));
    }
}

#[test]
fn bytes_after_bdat_chunk_are_commands_again() {
    // Over-long chunk data: the excess is read as commands (and refused).
    let mut d = Driver::in_transaction();
    let out = d.send("BDAT 5 LAST\r\nhelloRCPT TO:<late@x.example>\r\n");
    assert_eq!(
        out,
        "250 2.0.0 Ok: queued as Q1\r\n503 5.5.1 Error: need MAIL command\r\n"
    );
    assert_eq!(d.messages()[0].1, b"hello");
}
