//! Arbitrary bytes into an SMTP session that accepts every recipient and message: nothing may
//! panic, the output stays well-formed, and no message is longer than the size limit.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mailkeep_smtp::{Event, MessageVerdict, RcptVerdict, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let config = SessionConfig {
        max_message_size: 4096,
        max_command_line: 512,
        max_data_line: 1000,
        starttls_available: true,
        ..SessionConfig::default()
    };
    let now = Instant::now();
    let mut session = Session::new(config, false, now);
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
                Event::Close => return,
            }
        }
        let out = session.take_output();
        assert!(out.is_empty() || out.ends_with(b"\r\n"));
    }
});
