//! Modified UTF-7 mailbox name encoding (RFC 3501 §5.1.3).
//!
//! IMAP4rev1 clients that have not enabled UTF-8 exchange mailbox names in
//! this encoding: printable US-ASCII except `&` stands for itself, `&` is
//! written `&-`, and every other run of characters is written as `&`, the
//! modified BASE64 (`,` instead of `/`, no padding) of its UTF-16BE form, `-`.
//!
//! [`decode`] is strict: it only accepts the canonical form that [`encode`]
//! produces, so two different wire names never map to the same mailbox.

use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// A modified UTF-7 string that is not in canonical form or not decodable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mutf7Error(&'static str);

impl fmt::Display for Mutf7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid modified UTF-7: {}", self.0)
    }
}

impl std::error::Error for Mutf7Error {}

fn is_direct(c: u32) -> bool {
    (0x20..=0x7e).contains(&c)
}

fn flush(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for unit in units.drain(..) {
        for byte in unit.to_be_bytes() {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                let idx = ((acc >> bits) & 0x3f) as usize;
                out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
            }
        }
    }
    if bits > 0 {
        let idx = ((acc << (6 - bits)) & 0x3f) as usize;
        out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
    }
    out.push('-');
}

/// Encodes a UTF-8 mailbox name into modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if is_direct(u32::from(ch)) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

fn b64_value(b: u8) -> Option<u32> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

fn decode_run(run: &[u8], out: &mut String) -> Result<(), Mutf7Error> {
    let mut bytes = Vec::with_capacity(run.len() * 3 / 4 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in run {
        let v = b64_value(b).ok_or(Mutf7Error("bad base64 character"))?;
        acc = ((acc << 6) | v) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push(((acc >> bits) & 0xff) as u8);
        }
    }
    if bits >= 6 || (acc & ((1 << bits) - 1)) != 0 {
        return Err(Mutf7Error("non-zero or excess padding bits"));
    }
    if bytes.len() % 2 != 0 {
        return Err(Mutf7Error("odd number of UTF-16 octets"));
    }
    let units = bytes.chunks_exact(2).map(|c| match c {
        [hi, lo] => u16::from_be_bytes([*hi, *lo]),
        _ => 0xffff,
    });
    for ch in char::decode_utf16(units) {
        let ch = ch.map_err(|_| Mutf7Error("unpaired surrogate"))?;
        if is_direct(u32::from(ch)) {
            return Err(Mutf7Error("printable ASCII must not be base64-encoded"));
        }
        out.push(ch);
    }
    Ok(())
}

/// Decodes a modified UTF-7 mailbox name into UTF-8.
///
/// Rejects bytes outside printable US-ASCII, unterminated or empty-but-adjacent
/// base64 runs, bad padding, unpaired surrogates and non-canonical encodings
/// (base64-encoded printable ASCII, two adjacent base64 runs).
pub fn decode(wire: &[u8]) -> Result<String, Mutf7Error> {
    let mut out = String::with_capacity(wire.len());
    let mut i = 0usize;
    let mut prev_encoded = false;
    while let Some(&b) = wire.get(i) {
        if b == b'&' {
            let rest = wire.get(i + 1..).unwrap_or_default();
            let end = rest
                .iter()
                .position(|&c| c == b'-')
                .ok_or(Mutf7Error("unterminated base64 run"))?;
            let run = rest.get(..end).unwrap_or_default();
            if run.is_empty() {
                out.push('&');
                prev_encoded = false;
            } else {
                if prev_encoded {
                    return Err(Mutf7Error("adjacent base64 runs"));
                }
                decode_run(run, &mut out)?;
                prev_encoded = true;
            }
            i += end + 2;
        } else if is_direct(u32::from(b)) {
            out.push(char::from(b));
            prev_encoded = false;
            i += 1;
        } else {
            return Err(Mutf7Error("byte outside printable US-ASCII"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_examples() {
        assert_eq!(decode(b"&ZeVnLIqe-").unwrap(), "\u{65e5}\u{672c}\u{8a9e}");
        assert_eq!(
            decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}"
        );
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("日本語"), "&ZeVnLIqe-");
    }

    #[test]
    fn ampersand_and_ascii() {
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(decode(b"A&-B").unwrap(), "A&B");
        assert_eq!(encode("Sent Items"), "Sent Items");
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(decode(b"Entw&APw-rfe").unwrap(), "Entwürfe");
        // astral plane character (surrogate pair)
        let s = "mail \u{1F600}";
        assert_eq!(decode(encode(s).as_bytes()).unwrap(), s);
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            &b"&"[..],
            b"&ZeVnLIqe",
            b"&Ze!-",
            b"\xc3\xa9",
            b"a\tb",
            b"&AGE-",                // encoded 'a'
            b"&ZeVnLIqe-&ZeVnLIqe-", // adjacent runs
            b"&AOl-",                // non-zero padding bits
            b"&2D0-",                // lone high surrogate
            b"&AA-",                 // one octet only
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    proptest! {
        #[test]
        fn round_trip(s in "\\PC*") {
            let enc = encode(&s);
            prop_assert!(enc.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            prop_assert_eq!(decode(enc.as_bytes()).unwrap(), s);
        }

        #[test]
        fn round_trip_any_chars(s in any::<String>()) {
            let enc = encode(&s);
            prop_assert_eq!(decode(enc.as_bytes()).unwrap(), s);
        }

        #[test]
        fn canonical_wire_round_trips(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(s) = decode(&b) {
                let enc = encode(&s);
                prop_assert_eq!(enc.as_bytes(), &b[..]);
            }
        }
    }
}
