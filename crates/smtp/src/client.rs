//! The client side's pure parts: reading a server reply (RFC 5321 §4.2) from bytes and
//! reading the extensions an EHLO reply offers. The delivery runtime does the I/O.

/// One complete server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    /// The three-digit code.
    pub code: u16,
    /// Every line's text after the code and separator, in order.
    pub lines: Vec<String>,
}

impl ServerReply {
    /// The reply on one line, as it goes into logs and bounce messages.
    pub fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" "))
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx (and anything malformed that is not 5xx).
    pub fn is_transient(&self) -> bool {
        !self.is_positive()
            && !(500..600).contains(&self.code)
            && self.code != 354
            && self.code != 334
    }
}

/// Why the bytes are not a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// A line does not start with a code, or the codes of a multi-line reply differ.
    Malformed,
    /// More than `max_lines` lines or a line over `max_line` bytes.
    TooLong,
}

/// Takes one complete reply from the front of `buf`: `Ok(Some((reply, consumed)))`, or
/// `Ok(None)` when more bytes are needed. Lines may end in CRLF or a bare LF.
pub fn parse_reply(
    buf: &[u8],
    max_line: usize,
    max_lines: usize,
) -> Result<Option<(ServerReply, usize)>, ReplyError> {
    let mut pos = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return if rest.len() > max_line {
                Err(ReplyError::TooLong)
            } else {
                Ok(None)
            };
        };
        if nl > max_line || lines.len() >= max_lines {
            return Err(ReplyError::TooLong);
        }
        let line = rest.get(..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        let digits = line.get(..3).ok_or(ReplyError::Malformed)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(ReplyError::Malformed);
        }
        let this: u16 = digits
            .iter()
            .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        if code.is_some_and(|c| c != this) {
            return Err(ReplyError::Malformed);
        }
        code = Some(this);
        let sep = line.get(3).copied();
        let text = String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned();
        lines.push(text);
        match sep {
            Some(b'-') => continue,
            None | Some(b' ') => {
                return Ok(Some((ServerReply { code: this, lines }, pos)));
            }
            Some(_) => return Err(ReplyError::Malformed),
        }
    }
}

/// What a server offered in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// 8BITMIME (RFC 6152).
    pub eightbitmime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// SIZE limit, if announced with a number (0 means none).
    pub size: Option<u64>,
}

/// Reads the extension keywords of an EHLO reply (the first line is the greeting name).
pub fn extensions(reply: &ServerReply) -> Extensions {
    let mut e = Extensions::default();
    for line in reply.lines.iter().skip(1) {
        let mut words = line.split_ascii_whitespace();
        let key = words.next().unwrap_or("").to_ascii_uppercase();
        match key.as_str() {
            "STARTTLS" => e.starttls = true,
            "PIPELINING" => e.pipelining = true,
            "CHUNKING" => e.chunking = true,
            "8BITMIME" => e.eightbitmime = true,
            "SMTPUTF8" => e.smtputf8 = true,
            "REQUIRETLS" => e.requiretls = true,
            "SIZE" => e.size = words.next().and_then(|n| n.parse().ok()),
            _ => {}
        }
    }
    e
}

/// Dot-stuffs a message for DATA (RFC 5321 §4.5.2) and appends the terminating `.` line.
/// The input must use CRLF line endings.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line_replies() {
        let (r, n) = parse_reply(b"250 ok\r\nrest", 1000, 100).unwrap().unwrap();
        assert_eq!((r.code, n), (250, 8));
        assert_eq!(r.text(), "250 ok");
        let ehlo = b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 CHUNKING\r\n";
        let (r, n) = parse_reply(ehlo, 1000, 100).unwrap().unwrap();
        assert_eq!(n, ehlo.len());
        let e = extensions(&r);
        assert!(e.pipelining && e.starttls && e.chunking && !e.smtputf8);
        assert_eq!(e.size, Some(1000));
        assert_eq!(parse_reply(b"250-a\r\n250", 1000, 100), Ok(None));
        assert_eq!(parse_reply(b"250", 1000, 100), Ok(None));
        assert_eq!(
            parse_reply(b"220\r\n", 1000, 100).unwrap().unwrap().0.code,
            220
        );
    }

    #[test]
    fn malformed_and_oversized_replies_are_errors() {
        assert_eq!(
            parse_reply(b"25x ok\r\n", 1000, 100),
            Err(ReplyError::Malformed)
        );
        assert_eq!(
            parse_reply(b"250-a\r\n251 b\r\n", 1000, 100),
            Err(ReplyError::Malformed)
        );
        assert_eq!(
            parse_reply(b"250_ok\r\n", 1000, 100),
            Err(ReplyError::Malformed)
        );
        assert_eq!(
            parse_reply(&[b'2'; 2000], 1000, 100),
            Err(ReplyError::TooLong)
        );
        let many = b"250-x\r\n".repeat(200);
        assert_eq!(parse_reply(&many, 1000, 100), Err(ReplyError::TooLong));
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(
            dot_stuff(b".a\r\nb\r\n..c\r\n"),
            b"..a\r\nb\r\n...c\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b"x"), b"x\r\n.\r\n");
    }
}
