//! Arbitrary bytes through the IMAP framer and command parser, as a client would send them,
//! in both name encodings: nothing may panic, and every frame is bounded by the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailkeep_imap::parse::{ParseOptions, parse_command_with};
use mailkeep_imap::{Frame, Framer, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_line: 4096,
        max_literal: 65536,
        max_command: 70_000,
        reserve_above: 1024,
    };
    let mut framer = Framer::new(limits);
    // Feed in two pieces so that split points are exercised too.
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    for piece in [&data[..cut], &data[cut..]] {
        framer.push(piece);
        while let Some(frame) = framer.next_frame() {
            match frame {
                Frame::Command(bytes) => {
                    assert!(bytes.len() <= 70_000 + 4096);
                    for utf8 in [false, true] {
                        let _ = parse_command_with(&bytes, ParseOptions { utf8 });
                    }
                }
                // Memory granted, refused or the literal kept outside, by the size: every
                // path gets exercised.
                Frame::LiteralNeedsMemory { size, .. } => {
                    let _ = match size % 3 {
                        0 => framer.grant_literal_outside(),
                        n => framer.grant_literal(n == 1),
                    };
                }
                _ => {}
            }
        }
        while let Some(line) = framer.next_line() {
            let _ = line;
        }
    }
});
