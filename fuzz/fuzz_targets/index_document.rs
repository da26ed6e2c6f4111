//! Arbitrary bytes as a stored message, read the way the full-text index and discovery search
//! read it: every text part decoded from its transfer encoding and charset, HTML reduced to
//! text, attachment names and header fields, then cut into words by the index's analyzer and
//! matched. Nothing may panic; a message that does not parse is kept as raw text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailkeep_core::discover::document;
use mailkeep_core::index::Needle;

fuzz_target!(|data: &[u8]| {
    let doc = document(data);
    if doc.unparsed {
        assert_eq!(doc.body.len(), 1, "an unparsed message is searched as one raw text");
    }
    // Words taken from the message itself must be found in it, as the index would find them.
    for field in [&doc.body, &doc.headers, &doc.attachments] {
        for value in field.iter().take(4) {
            let Some(needle) = Needle::new(value) else {
                continue;
            };
            assert!(needle.found_in(std::slice::from_ref(value)), "{value:?}");
        }
    }
});
