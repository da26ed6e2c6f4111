//! Clients that keep a session alive without doing anything (issue 13, item 4): NOOP
//! within every command timeout, a byte of content now and then, endless junk commands.

use std::time::Duration;

use super::Driver;
use crate::SessionConfig;

/// Advances the clock by `step`, lets the session notice, and says whether it closed.
fn tick(d: &mut Driver, step: Duration) -> bool {
    d.advance(step);
    d.s.handle_timeout(d.now);
    d.drive();
    d.s.is_closed()
}

fn out(d: &Driver) -> String {
    String::from_utf8_lossy(&d.out).into_owned()
}

#[test]
fn noop_within_every_command_timeout_ends_at_the_session_cap() {
    let mut d = Driver::ehlo();
    let start = d.now;
    while !tick(&mut d, Duration::from_secs(290)) {
        assert_eq!(d.send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
        assert!(d.now - start < Duration::from_secs(4000), "never cut off");
    }
    assert!(d.now - start <= Duration::from_secs(3600 + 290));
    assert!(
        out(&d).ends_with("421 4.4.2 localhost Error: session too long\r\n"),
        "{}",
        out(&d)
    );
    assert_eq!(d.s.next_deadline(), None);
}

#[test]
fn the_session_cap_is_a_deadline() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_session: Duration::from_secs(100),
        ..SessionConfig::default()
    });
    assert_eq!(d.s.next_deadline(), Some(d.now + Duration::from_secs(100)));
    d.s.handle_timeout(d.now + Duration::from_secs(99));
    assert!(!d.s.is_closed());
    assert!(tick(&mut d, Duration::from_secs(100)));
}

#[test]
fn junk_commands_beyond_the_limit_count_as_errors() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_junk_commands: 4,
        max_errors: 2,
        ..SessionConfig::default()
    });
    for cmd in ["NOOP", "RSET", "VRFY bob", "HELP"] {
        assert!(d.send(&format!("{cmd}\r\n")).starts_with('2'), "{cmd}");
    }
    // Each further one still gets its answer, but counts towards max_errors.
    assert_eq!(d.send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
    assert_eq!(d.send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
    assert!(!d.s.is_closed());
    assert_eq!(
        d.send("NOOP\r\n"),
        "250 2.0.0 Ok\r\n421 4.7.0 localhost Error: too many errors\r\n"
    );
    assert!(d.s.is_closed());
}

#[test]
fn an_accepted_message_resets_the_junk_count() {
    let mut d = Driver::ehlo_with(SessionConfig {
        max_junk_commands: 3,
        max_errors: 0,
        ..SessionConfig::default()
    });
    for _ in 0..5 {
        for _ in 0..3 {
            assert_eq!(d.send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
        }
        d.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\n");
        assert!(d.send("hi\r\n.\r\n").starts_with("250 2.0.0 Ok: queued"));
    }
    assert!(!d.s.is_closed());
    assert_eq!(d.messages().len(), 5);
}

#[test]
fn data_trickled_a_byte_a_minute_is_cut_off() {
    let mut d = Driver::in_transaction();
    assert!(d.send("DATA\r\n").starts_with("354"));
    let start = d.now;
    while !tick(&mut d, Duration::from_secs(60)) {
        d.send("x");
        assert!(d.now - start < Duration::from_secs(3000), "never cut off");
    }
    // The RFC's data timeout (600 s) is the floor, then 500 bytes/s are due.
    assert!(
        d.now - start <= Duration::from_secs(660),
        "{:?}",
        d.now - start
    );
    assert!(
        out(&d).ends_with("421 4.4.2 localhost Error: message data too slow\r\n"),
        "{}",
        out(&d)
    );
    assert!(d.messages().is_empty());
}

#[test]
fn bdat_trickled_is_cut_off_too() {
    let mut d = Driver::in_transaction();
    d.send("BDAT 100000 LAST\r\n");
    let start = d.now;
    while !tick(&mut d, Duration::from_secs(30)) {
        d.send("xy");
        assert!(d.now - start < Duration::from_secs(3000), "never cut off");
    }
    assert!(
        out(&d).ends_with("Error: message data too slow\r\n"),
        "{}",
        out(&d)
    );
}

#[test]
fn a_slow_but_steady_sender_is_not_cut_off() {
    // 1,000 bytes a second for 20 minutes: slower than any real link, faster than the minimum.
    let mut d = Driver::in_transaction();
    assert!(d.send("DATA\r\n").starts_with("354"));
    let line = format!("{}\r\n", "y".repeat(998));
    for _ in 0..1200 {
        assert!(!tick(&mut d, Duration::from_secs(1)), "{}", out(&d));
        d.send(&line);
    }
    assert!(d.send(".\r\n").starts_with("250 2.0.0 Ok: queued"));
    assert_eq!(d.messages().len(), 1);
}

#[test]
fn a_zero_rate_turns_the_check_off() {
    let mut d = Driver::in_transaction_with(SessionConfig {
        min_data_rate: 0,
        max_session: Duration::from_secs(100_000),
        ..SessionConfig::default()
    });
    d.send("DATA\r\n");
    for _ in 0..60 {
        assert!(!tick(&mut d, Duration::from_secs(300)));
        d.send("z");
    }
}
