//! AUTH (RFC 4954) and the submission rules around it.

use super::Driver;
use crate::{Event, SessionConfig};

fn submission() -> SessionConfig {
    SessionConfig {
        auth_available: true,
        require_auth: true,
        starttls_available: true,
        ..SessionConfig::default()
    }
}

/// A submission session under TLS after EHLO.
fn tls_ehlo() -> Driver {
    let mut d = Driver::with_tls(submission(), true);
    d.send("EHLO client.example\r\n");
    d.out.clear();
    d
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn auth_is_advertised_only_under_tls() {
    let mut plain = Driver::new(submission());
    let ehlo = plain.send("EHLO client.example\r\n");
    assert!(ehlo.contains("STARTTLS"));
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert_eq!(
        plain.send(&format!(
            "AUTH PLAIN {}\r\n",
            b64("\0u@example.org\0good-password")
        )),
        "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    );
    plain.send("STARTTLS\r\n");
    let ehlo = plain.send("EHLO client.example\r\n");
    assert!(ehlo.contains("250-AUTH PLAIN LOGIN\r\n"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"));
}

#[test]
fn plain_with_initial_response_then_mail() {
    let mut d = tls_ehlo();
    assert_eq!(
        d.send("MAIL FROM:<u@example.org>\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );
    assert_eq!(
        d.send(&format!(
            "AUTH PLAIN {}\r\n",
            b64("\0u@example.org\0good-password")
        )),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(d.s.authenticated(), Some("u@example.org"));
    assert_eq!(d.send("MAIL FROM:<u@example.org>\r\n"), "250 2.1.0 Ok\r\n");
    d.send("RCPT TO:<x@example.net>\r\nDATA\r\nhi\r\n.\r\n");
    let env = d
        .events
        .iter()
        .find_map(|e| match e {
            Event::Message { envelope, .. } => Some(envelope.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(env.auth.as_deref(), Some("u@example.org"));
}

#[test]
fn plain_without_initial_response_uses_an_empty_challenge() {
    let mut d = tls_ehlo();
    assert_eq!(d.send("AUTH PLAIN\r\n"), "334 \r\n");
    assert_eq!(
        d.send(&format!("{}\r\n", b64("\0u@example.org\0good-password"))),
        "235 2.7.0 Authentication successful\r\n"
    );
}

#[test]
fn login_exchange_in_two_steps_and_with_initial_user() {
    let mut d = tls_ehlo();
    assert_eq!(d.send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(
        d.send(&format!("{}\r\n", b64("u@example.org"))),
        "334 UGFzc3dvcmQ6\r\n"
    );
    assert_eq!(
        d.send(&format!("{}\r\n", b64("good-password"))),
        "235 2.7.0 Authentication successful\r\n"
    );
    let mut d = tls_ehlo();
    assert_eq!(
        d.send(&format!("AUTH login {}\r\n", b64("u@example.org"))),
        "334 UGFzc3dvcmQ6\r\n"
    );
    assert_eq!(
        d.send(&format!("{}\r\n", b64("wrong"))),
        "535 5.7.8 Error: authentication credentials invalid\r\n"
    );
    assert_eq!(d.s.authenticated(), None);
}

#[test]
fn bad_exchanges_get_their_codes() {
    let mut d = tls_ehlo();
    assert!(d.send("AUTH\r\n").starts_with("501 5.5.4"));
    assert!(d.send("AUTH CRAM-MD5\r\n").starts_with("504 5.5.4"));
    d.send("AUTH PLAIN\r\n");
    assert_eq!(d.send("*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
    d.send("AUTH PLAIN\r\n");
    assert!(d.send("%%%\r\n").starts_with("501 5.5.2"));
    // Only two NULs make a PLAIN message.
    assert!(
        d.send(&format!("AUTH PLAIN {}\r\n", b64("user\0pass")))
            .starts_with("501 5.5.2")
    );
    // The session is still usable afterwards.
    assert!(
        d.send(&format!(
            "AUTH PLAIN {}\r\n",
            b64("\0u@example.org\0good-password")
        ))
        .starts_with("235")
    );
    assert!(
        d.send(&format!(
            "AUTH PLAIN {}\r\n",
            b64("\0u@example.org\0good-password")
        ))
        .starts_with("503 5.5.1")
    );
}

#[test]
fn over_long_sasl_line_is_refused_and_discarded() {
    let mut d = tls_ehlo();
    d.send("AUTH PLAIN\r\n");
    let long = "A".repeat(20_000);
    assert!(d.send(&format!("{long}\r\n")).starts_with("500 5.5.6"));
    assert_eq!(d.send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

#[test]
fn auth_is_not_offered_where_not_configured() {
    let mut d = Driver::with_tls(SessionConfig::default(), true);
    let ehlo = d.send("EHLO client.example\r\n");
    assert!(!ehlo.contains("AUTH"));
    assert!(d.send("AUTH PLAIN AHUAcA==\r\n").starts_with("503 5.5.1"));
}

#[test]
fn foreign_sender_is_refused_and_the_transaction_dropped() {
    let mut d = tls_ehlo();
    d.send(&format!(
        "AUTH PLAIN {}\r\n",
        b64("\0u@example.org\0good-password")
    ));
    assert_eq!(
        d.send("MAIL FROM:<ceo@bank.example>\r\n"),
        "553 5.7.1 Not yours\r\n"
    );
    assert!(
        d.send("RCPT TO:<x@example.net>\r\n")
            .starts_with("503 5.5.1")
    );
    // Pipelined: the refused MAIL's RCPT and DATA fail too, nothing is delivered.
    let out = d.send("MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<x@example.net>\r\nDATA\r\n");
    assert!(out.starts_with("553"), "{out}");
    assert!(!d.events.iter().any(|e| matches!(e, Event::Message { .. })));
}

#[test]
fn auth_works_after_starttls() {
    let mut d = Driver::new(submission());
    d.send("EHLO c.example\r\nSTARTTLS\r\n");
    d.send("EHLO c.example\r\n");
    d.send(&format!(
        "AUTH PLAIN {}\r\n",
        b64("\0u@example.org\0good-password")
    ));
    assert!(d.s.authenticated().is_some());
}

#[test]
fn requiretls_needs_tls_and_travels_in_the_envelope() {
    let mut d = Driver::ehlo();
    assert!(
        d.send("MAIL FROM:<a@example.org> REQUIRETLS\r\n")
            .starts_with("530 5.7.10")
    );
    let mut d = Driver::with_tls(SessionConfig::default(), true);
    assert!(d.send("EHLO c.example\r\n").contains("REQUIRETLS"));
    d.send("MAIL FROM:<a@example.org> REQUIRETLS AUTH=<>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nx\r\n.\r\n");
    assert!(
        d.events
            .iter()
            .any(|e| matches!(e, Event::Message { envelope, .. } if envelope.requiretls))
    );
}
