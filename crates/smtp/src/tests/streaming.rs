//! Content taken while it arrives (the runtime spools it to disk): what is taken plus the
//! message's tail is exactly the message, limits count taken bytes, and content of an
//! abandoned message is told apart from the next one.

use super::Driver;
use crate::{Event, SessionConfig};

/// Feeds `input` in `piece`-byte reads, taking content after each one as the runtime does.
/// Returns each message as (content id, taken bytes + tail).
fn stream(d: &mut Driver, input: &[u8], piece: usize) -> Vec<(u64, Vec<u8>)> {
    let mut taken: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut messages = Vec::new();
    for chunk in input.chunks(piece) {
        d.s.receive(chunk, d.now);
        loop {
            let bytes = d.s.take_content();
            if !bytes.is_empty() {
                let id = d.s.content_id();
                match taken.last_mut() {
                    Some((last, held)) if *last == id => held.extend(bytes),
                    _ => taken.push((id, bytes)),
                }
            }
            let before = d.events.len();
            d.drive();
            for e in &d.events[before..] {
                if let Event::Message { body, .. } = e {
                    let id = d.s.content_id();
                    let mut whole = taken
                        .iter()
                        .find(|(i, _)| *i == id)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default();
                    whole.extend_from_slice(body);
                    messages.push((id, whole));
                }
            }
            if d.events.len() == before {
                break;
            }
        }
    }
    messages
}

#[test]
fn taken_content_and_the_tail_make_the_message() {
    let mut body = Vec::new();
    for i in 0..2000 {
        body.extend_from_slice(format!("line {i} ..with text\r\n").as_bytes());
    }
    let mut input = b"DATA\r\n".to_vec();
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            input.push(b'.');
        }
        input.extend_from_slice(line);
    }
    input.extend_from_slice(b".\r\n");
    for piece in [1, 7, 512, 65536] {
        let mut d = Driver::in_transaction();
        let got = stream(&mut d, &input, piece);
        assert_eq!(got.len(), 1, "piece {piece}");
        assert_eq!(got[0].1, body, "piece {piece}");
    }
}

#[test]
fn bdat_content_is_taken_across_chunks() {
    let mut d = Driver::in_transaction();
    let got = stream(&mut d, b"BDAT 6\r\nab\r\ncdBDAT 4 LAST\r\nef\r\n", 3);
    assert_eq!(got, vec![(1, b"ab\r\ncdef\r\n".to_vec())]);
}

#[test]
fn the_size_limit_counts_taken_bytes() {
    let config = SessionConfig {
        max_message_size: 100,
        ..SessionConfig::default()
    };
    let mut d = Driver::in_transaction_with(config);
    let mut input = b"DATA\r\n".to_vec();
    for _ in 0..20 {
        input.extend_from_slice(b"0123456789\r\n");
    }
    input.extend_from_slice(b".\r\n");
    let got = stream(&mut d, &input, 12);
    assert!(got.is_empty());
    let out = String::from_utf8_lossy(&d.out).into_owned();
    assert!(out.contains("552 5.3.4"), "{out}");
}

#[test]
fn a_new_message_has_a_new_content_id() {
    let mut d = Driver::in_transaction();
    // The first message is abandoned (too long a line would be another way); RSET here.
    d.s.receive(b"BDAT 5\r\nfirst", d.now);
    d.drive();
    let first = d.s.content_id();
    assert_eq!(d.s.take_content(), b"first");
    d.send("RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n");
    let got = stream(&mut d, b"DATA\r\nsecond\r\n.\r\n", 4);
    assert_eq!(got.len(), 1);
    assert_ne!(got[0].0, first);
    assert_eq!(got[0].1, b"second\r\n");
}
