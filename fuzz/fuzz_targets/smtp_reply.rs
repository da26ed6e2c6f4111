//! Arbitrary bytes as a peer server's replies, read the way the outbound client reads them:
//! nothing may panic, a parsed reply never claims more bytes than it was given, and the
//! extensions of any reply can be read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailkeep_smtp::client::{dot_stuff, extensions, parse_reply};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((reply, used))) = parse_reply(rest, 512, 50) {
        assert!(used > 0 && used <= rest.len());
        assert!(reply.lines.len() <= 50);
        let _ = extensions(&reply);
        let _ = reply.text();
        rest = &rest[used..];
    }
    let stuffed = dot_stuff(data);
    assert!(stuffed.ends_with(b".\r\n"));
});
