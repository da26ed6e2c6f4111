//! Arbitrary bytes as a stored message, rendered the way FETCH renders it: ENVELOPE,
//! BODYSTRUCTURE, header and text sections of nested parts, BINARY and partial fetches. The
//! MIME parser behind them sees whatever a sender managed to deliver: nothing may panic, and
//! a failure is an error value, never a half-written response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailkeep_imap::{CommandBody, MessageMeta, ParseOptions, parse_command_with, render_fetch};

const REQUESTS: &[&[u8]] = &[
    b"a FETCH 1 (ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE FLAGS)\r\n",
    b"a FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[TEXT]<3.100> BODY.PEEK[1] BODY.PEEK[1.MIME])\r\n",
    b"a FETCH 1 (BODY.PEEK[2.1.HEADER.FIELDS (From To Subject)] BODY.PEEK[1.2.3.TEXT])\r\n",
    b"a FETCH 1 (BINARY.PEEK[1] BINARY.PEEK[2.1]<0.64> BINARY.SIZE[1] RFC822.HEADER)\r\n",
    b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Received)] RFC822.TEXT BODY.PEEK[]<5.5>)\r\n",
];

fuzz_target!(|data: &[u8]| {
    let meta = MessageMeta {
        seq: 1,
        uid: 1,
        flags: vec![],
        internal_date: 0,
        size: data.len() as u64,
        modseq: 1,
    };
    for req in REQUESTS {
        let Ok(cmd) = parse_command_with(req, ParseOptions { utf8: true }) else {
            panic!("the fixed request does not parse");
        };
        let CommandBody::Fetch { items, .. } = cmd.body else {
            panic!("not a FETCH");
        };
        let mut out = Vec::new();
        match render_fetch(&meta, Some(data), &items, &mut out) {
            Ok(()) => assert!(out.starts_with(b"* 1 FETCH (") && out.ends_with(b")\r\n")),
            Err(_) => assert!(out.is_empty()),
        }
    }
});
