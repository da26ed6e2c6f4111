//! What FETCH and SEARCH need from a message, computed once when it arrives.
//!
//! ENVELOPE, BODYSTRUCTURE, BODY and the header section are answered from this record
//! instead of reading and parsing the message again; SEARCH and SORT read header fields
//! from it. A server stores [`Parsed::encode`] next to the message body (it is a function
//! of the bytes alone, so identical bodies share it) and hands [`Parsed::decode`]'s result
//! to [`crate::fetch::render_fetch_parsed`].

use crate::{bodystructure, envelope, header, mime};

/// The encoding's version: a record of another version is computed again.
const VERSION: u8 = 1;

/// The header section and the rendered structures of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The header section as received, through its empty line.
    pub header: Vec<u8>,
    /// `ENVELOPE`'s value.
    pub envelope: Vec<u8>,
    /// `BODYSTRUCTURE`'s value (with extension data).
    pub bodystructure: Vec<u8>,
    /// `BODY`'s value (without).
    pub body: Vec<u8>,
}

impl Parsed {
    /// Parses a whole message once.
    pub fn of(raw: &[u8]) -> Parsed {
        let header = raw.get(..header::header_len(raw)).unwrap_or(raw).to_vec();
        let tree = mime::parse(raw);
        let mut bodystructure = Vec::new();
        bodystructure::write_body_structure(&mut bodystructure, raw, &tree, true);
        let mut body = Vec::new();
        bodystructure::write_body_structure(&mut body, raw, &tree, false);
        Parsed {
            envelope: envelope::envelope(&header),
            header,
            bodystructure,
            body,
        }
    }

    /// The stored form: a version byte, then each part with its length.
    pub fn encode(&self) -> Vec<u8> {
        let parts = [
            &self.header,
            &self.envelope,
            &self.bodystructure,
            &self.body,
        ];
        let mut out = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 4).sum::<usize>());
        out.push(VERSION);
        for p in parts {
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    /// Reads [`Parsed::encode`]'s output; `None` for another version or damaged bytes (the
    /// caller parses the message again).
    pub fn decode(bytes: &[u8]) -> Option<Parsed> {
        let (&version, mut rest) = bytes.split_first()?;
        if version != VERSION {
            return None;
        }
        let mut part = || -> Option<Vec<u8>> {
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            let p = rest.get(4..4usize.checked_add(len)?)?.to_vec();
            rest = &rest[4 + len..];
            Some(p)
        };
        let parsed = Parsed {
            header: part()?,
            envelope: part()?,
            bodystructure: part()?,
            body: part()?,
        };
        rest.is_empty().then_some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n\
Subject: hi\r\nDate: Fri, 27 Nov 2026 01:46:59 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
hello\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
AAAA\r\n--b--\r\n";

    #[test]
    fn round_trips_and_matches_what_fetch_renders_from_the_body() {
        let p = Parsed::of(MSG);
        assert_eq!(Parsed::decode(&p.encode()), Some(p.clone()));
        assert!(p.header.ends_with(b"\r\n\r\n") && p.header.starts_with(b"From:"));
        assert!(p.envelope.starts_with(b"(\"Fri, 27 Nov 2026"));
        assert!(
            p.bodystructure.starts_with(b"((\"TEXT\" \"PLAIN\""),
            "{}",
            String::from_utf8_lossy(&p.bodystructure)
        );
        assert!(p.bodystructure.len() > p.body.len());
    }

    #[test]
    fn damaged_or_other_versions_are_refused() {
        let bytes = Parsed::of(MSG).encode();
        assert_eq!(Parsed::decode(&bytes[..bytes.len() - 1]), None);
        let mut other = bytes.clone();
        other[0] = VERSION + 1;
        assert_eq!(Parsed::decode(&other), None);
        let mut longer = bytes;
        longer.push(0);
        assert_eq!(Parsed::decode(&longer), None);
        assert_eq!(Parsed::decode(&[]), None);
    }
}
