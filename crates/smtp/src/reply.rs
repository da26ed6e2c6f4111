//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463).

use std::fmt;

/// Longest text placed on one reply line, in bytes; keeps every line well
/// under the 512-octet reply line limit of RFC 5321 §4.5.3.1.5.
const MAX_LINE_TEXT: usize = 480;

/// One SMTP reply: a three-digit code, an optional enhanced status code and text.
///
/// A `\n` in `text` separates the lines of a multi-line reply (`250-first`,
/// …, `250 last`); the enhanced code, if any, is repeated on every line as
/// RFC 2034 asks. The text is sanitised when encoded: CR and every other
/// control character become a space, trailing whitespace is dropped and each
/// line is cut to 480 bytes, so caller-supplied text can never inject a line
/// break or a second reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    /// Reply code. Values outside `200..=599` are sent as `451`.
    pub code: u16,
    /// Enhanced status code `class.subject.detail`. Left off the wire when
    /// the class is not 2, 4 or 5, does not match the first digit of the
    /// code, or subject/detail exceed 999.
    pub enhanced: Option<(u8, u16, u16)>,
    /// Human-readable text; `\n` starts a new reply line.
    pub text: String,
}

impl Reply {
    /// Builds a reply.
    pub fn new(code: u16, enhanced: Option<(u8, u16, u16)>, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced,
            text: text.into(),
        }
    }

    /// The code actually sent on the wire.
    fn wire_code(&self) -> u16 {
        if (200..=599).contains(&self.code) {
            self.code
        } else {
            451
        }
    }

    fn wire_enhanced(&self) -> Option<(u8, u16, u16)> {
        let (class, subject, detail) = self.enhanced?;
        let valid = matches!(class, 2 | 4 | 5)
            && u16::from(class) == self.wire_code() / 100
            && subject <= 999
            && detail <= 999;
        valid.then_some((class, subject, detail))
    }

    /// Whether this is a failure reply (4xx or 5xx as sent on the wire).
    pub fn is_error(&self) -> bool {
        self.wire_code() >= 400
    }

    /// Appends the wire form of the reply, every line ending in CRLF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let code = self.wire_code().to_string();
        let enhanced = self.wire_enhanced().map(|(c, s, d)| format!("{c}.{s}.{d}"));
        let mut lines: Vec<String> = self.text.split('\n').map(sanitize_line).collect();
        if lines.len() > 1 && lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        let count = lines.len();
        for (i, line) in lines.iter().enumerate() {
            let mut body = String::new();
            if let Some(e) = &enhanced {
                body.push_str(e);
                if !line.is_empty() {
                    body.push(' ');
                }
            }
            body.push_str(line);
            out.extend_from_slice(code.as_bytes());
            if i + 1 < count {
                out.push(b'-');
            } else if !body.is_empty() || self.code == 334 {
                // An empty SASL challenge is still `334 ` (RFC 4954 §4).
                out.push(b' ');
            }
            out.extend_from_slice(body.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form of the reply.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Shows the wire form without the final CRLF.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        f.write_str(text.strip_suffix("\r\n").unwrap_or(&text))
    }
}

fn sanitize_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(MAX_LINE_TEXT));
    for c in line.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_LINE_TEXT {
            break;
        }
        out.push(c);
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        String::from_utf8(r.to_bytes()).unwrap()
    }

    #[test]
    fn single_line() {
        assert_eq!(
            wire(&Reply::new(250, Some((2, 1, 0)), "Ok")),
            "250 2.1.0 Ok\r\n"
        );
        assert_eq!(wire(&Reply::new(354, None, "Go")), "354 Go\r\n");
        assert_eq!(wire(&Reply::new(250, None, "")), "250\r\n");
        assert_eq!(wire(&Reply::new(250, Some((2, 0, 0)), "")), "250 2.0.0\r\n");
    }

    #[test]
    fn multi_line() {
        let r = Reply::new(250, None, "host\nPIPELINING\nHELP");
        assert_eq!(wire(&r), "250-host\r\n250-PIPELINING\r\n250 HELP\r\n");
        let r = Reply::new(550, Some((5, 1, 1)), "a\nb\n");
        assert_eq!(wire(&r), "550-5.1.1 a\r\n550 5.1.1 b\r\n");
    }

    #[test]
    fn sanitises_cr_and_controls() {
        let r = Reply::new(550, Some((5, 1, 1)), "bad\r\n250 ok\rx\0y\x1b");
        assert_eq!(wire(&r), "550-5.1.1 bad\r\n550 5.1.1 250 ok x y\r\n");
        let long = "x".repeat(2000);
        let out = wire(&Reply::new(250, None, long));
        assert!(out.len() < 512);
        assert!(out.ends_with("\r\n"));
    }

    #[test]
    fn invalid_codes_and_enhanced() {
        assert_eq!(wire(&Reply::new(99, None, "x")), "451 x\r\n");
        assert_eq!(
            wire(&Reply::new(1000, Some((4, 0, 0)), "x")),
            "451 4.0.0 x\r\n"
        );
        assert_eq!(wire(&Reply::new(550, Some((2, 0, 0)), "x")), "550 x\r\n");
        assert_eq!(wire(&Reply::new(550, Some((5, 1000, 0)), "x")), "550 x\r\n");
        assert_eq!(wire(&Reply::new(550, Some((3, 0, 0)), "x")), "550 x\r\n");
        assert!(Reply::new(0, None, "").is_error());
        assert!(!Reply::new(354, None, "").is_error());
    }

    #[test]
    fn display_is_wire_form_without_final_crlf() {
        let r = Reply::new(250, None, "a\nb");
        assert_eq!(r.to_string(), "250-a\r\n250 b");
    }
}
