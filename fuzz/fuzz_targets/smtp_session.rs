//! Arbitrary bytes into an SMTP session that accepts every recipient and message: nothing may
//! panic, the output stays well-formed, and no message is longer than the size limit. The
//! first byte picks a submission session (AUTH offered; every login and sender accepted).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mailkeep_smtp::{AuthVerdict, Event, MessageVerdict, RcptVerdict, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let submission = data.first().is_some_and(|b| b & 1 == 1);
    let config = SessionConfig {
        auth_available: submission,
        require_auth: submission,
        max_message_size: 4096,
        max_command_line: 512,
        max_data_line: 1000,
        starttls_available: true,
        ..SessionConfig::default()
    };
    let now = Instant::now();
    let mut session = Session::new(config, submission, now);
    for (i, chunk) in data.chunks(97).enumerate() {
        session.receive(chunk, now + Duration::from_millis(i as u64));
        while let Some(event) = session.poll_event() {
            match event {
                Event::Recipient { .. } => session.recipient_verdict(RcptVerdict::Accept),
                Event::Message { body, .. } => {
                    assert!(body.len() <= 4096);
                    session.message_verdict(MessageVerdict::Accepted { id: "F".into() });
                }
                Event::StartTls => session.tls_started(),
                Event::Auth(creds) => session.auth_verdict(AuthVerdict::Accept {
                    identity: creds.username,
                }),
                Event::Sender { .. } => session.sender_verdict(RcptVerdict::Accept),
                Event::Close => return,
            }
        }
        let out = session.take_output();
        assert!(out.is_empty() || out.ends_with(b"\r\n"));
    }
});
