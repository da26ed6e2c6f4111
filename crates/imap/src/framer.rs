//! Splits the client byte stream into complete commands, handling literals.
//!
//! The framer never interprets a command beyond what framing needs: lines end
//! at LF, and a line that ends (outside a quoted string) with `{n}` or
//! `{n+}` announces `n` literal octets that belong to the same command. A
//! `literal8` (`~{n}` / `~{n+}`, RFC 3516) is framed the same way, under the
//! same limits.
//! Limits are checked before any literal byte is accepted, and nothing is
//! ever allocated from an announced size.

use crate::encode::is_astring_char;

/// Size limits for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line (excluding literals and the line ending). Default 65536.
    pub max_line: usize,
    /// Largest single literal. Default 50 MiB.
    pub max_literal: u64,
    /// Largest command, all lines and literals included. Default 64 MiB.
    pub max_command: usize,
    /// Literals larger than this are held only with the caller's leave
    /// ([`Frame::LiteralNeedsMemory`]), so that a server can bound the
    /// memory all its connections hold at once. Default: never asked.
    pub reserve_above: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 65_536,
            max_literal: 50 * 1024 * 1024,
            max_command: 64 * 1024 * 1024,
            reserve_above: u64::MAX,
        }
    }
}

/// What the framer found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete command as received, literals inline, final line ending
    /// included.
    Command(Vec<u8>),
    /// A synchronising literal was accepted: write
    /// `+ Ready for literal data\r\n`.
    Continue,
    /// A synchronising literal over the limit was refused: write
    /// `<tag> NO [TOOBIG] ...`. The command has been dropped (the client will
    /// not send the literal).
    LiteralTooBig {
        /// The command's tag, if it could be read.
        tag: Option<String>,
        /// The announced size.
        size: u64,
    },
    /// A line over the limit: write `<tag or *> BAD [TOOBIG] Command line too
    /// long`. The framer discards input through the next LF (and drops the
    /// whole command it belonged to).
    LineTooLong {
        /// The command's tag, if it could be read.
        tag: Option<String>,
    },
    /// Unrecoverable framing error (e.g. a non-synchronising literal over the
    /// limit, whose bytes would be read as commands): send `* BYE` and close.
    /// The framer yields nothing more afterwards.
    Fatal(String),
    /// A literal above [`Limits::reserve_above`] was announced: reserve memory
    /// for it, then call [`Framer::grant_literal`]. Nothing is framed until
    /// then. Refused, the command is dropped (a non-synchronising literal's
    /// octets are skipped): write `<tag> NO [UNAVAILABLE] ...`.
    LiteralNeedsMemory {
        /// The command's tag, if it could be read.
        tag: Option<String>,
        /// The announced size.
        size: u64,
    },
    /// Octets of a literal granted with [`Framer::grant_literal_outside`], in
    /// order; the caller keeps them. The command itself carries an empty
    /// literal in their place.
    LiteralPart(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Looking for the end of a line.
    Line,
    /// Copying literal octets into the current command, or with `outside`
    /// handing them to the caller as [`Frame::LiteralPart`].
    Literal { remaining: u64, outside: bool },
    /// Dropping input through the next LF.
    Discard,
    /// Dropping the octets of a non-synchronising literal of a discarded
    /// command, then the rest of its line.
    SkipLiteral { remaining: u64 },
    /// Waiting for [`Framer::grant_literal`] on a literal of this size.
    AwaitGrant { size: u64, sync: bool },
    /// After a fatal error.
    Closed,
}

/// How many trailing bytes of a discarded line are kept to spot a literal
/// announcement at its end.
const TAIL: usize = 32;

/// Incremental command framer. Push bytes with [`Framer::push`], then call
/// [`Framer::next_frame`] until it returns `None`.
///
/// After the caller drains it, the framer holds at most one partial line
/// (bounded by `max_line`) plus the current command (bounded by
/// `max_command`).
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    buf: Vec<u8>,
    /// Start of unconsumed input in `buf`.
    pos: usize,
    /// Bytes after `pos` already known to hold no LF.
    scanned: usize,
    mode: Mode,
    /// The command being assembled.
    cmd: Vec<u8>,
    /// Last bytes of the line being discarded.
    tail: Vec<u8>,
    /// A fatal frame found by `next_line`, reported by the next `next_frame`.
    pending_fatal: Option<Frame>,
}

/// The tag at the start of `bytes`, if it looks like a valid tag.
pub(crate) fn tag_of(bytes: &[u8]) -> Option<String> {
    let end = bytes
        .iter()
        .position(|&b| !is_astring_char(b) || b == b'+')
        .unwrap_or(bytes.len());
    let tag = bytes.get(..end)?;
    if tag.is_empty() {
        return None;
    }
    // The tag must be followed by a space (or the end of what we have).
    match bytes.get(end) {
        None | Some(b' ') | Some(b'\r') | Some(b'\n') => {}
        Some(_) => return None,
    }
    std::str::from_utf8(tag).ok().map(str::to_owned)
}

/// If `line` (without its line ending) ends in a literal announcement
/// `{n}` / `{n+}` (optionally `~{n}`), returns `(n, synchronising)`. Sizes that
/// do not fit in u64 are reported as `u64::MAX`.
fn literal_suffix(line: &[u8]) -> Option<(u64, bool)> {
    let body = line.strip_suffix(b"}")?;
    let (body, sync) = match body.strip_suffix(b"+") {
        Some(b) => (b, false),
        None => (body, true),
    };
    let digits_start = body
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = body.get(digits_start..)?;
    if digits.is_empty() || body.get(digits_start.checked_sub(1)?) != Some(&b'{') {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
        {
            Some(v) => v,
            None => return Some((u64::MAX, sync)),
        };
    }
    Some((n, sync))
}

/// Whether the end of `line` is outside a quoted string.
fn ends_unquoted(line: &[u8]) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    for &b in line {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        }
    }
    !quoted
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl Framer {
    /// Creates a framer with the given limits.
    pub fn new(limits: Limits) -> Self {
        Framer {
            limits,
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            mode: Mode::Line,
            cmd: Vec::new(),
            tail: Vec::new(),
            pending_fatal: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the limits for the commands still to come (e.g. larger ones
    /// once the client has logged in).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Answers [`Frame::LiteralNeedsMemory`]. Granted, the literal is read
    /// (and for a synchronising one [`Frame::Continue`] is returned: write
    /// the continuation request); refused, its command is dropped.
    pub fn grant_literal(&mut self, granted: bool) -> Option<Frame> {
        let Mode::AwaitGrant { size, sync } = self.mode else {
            return None;
        };
        if granted {
            self.mode = Mode::Literal {
                remaining: size,
                outside: false,
            };
            return sync.then_some(Frame::Continue);
        }
        self.cmd.clear();
        self.mode = if sync {
            Mode::Line
        } else {
            Mode::SkipLiteral { remaining: size }
        };
        None
    }

    /// Answers [`Frame::LiteralNeedsMemory`] by letting the caller keep the
    /// literal (an APPEND's message, spooled to disk): its octets come as
    /// [`Frame::LiteralPart`] frames and the command gets an empty literal of
    /// the same kind in its place. For a synchronising literal
    /// [`Frame::Continue`] is returned.
    pub fn grant_literal_outside(&mut self) -> Option<Frame> {
        let Mode::AwaitGrant { size, sync } = self.mode else {
            return None;
        };
        // The command ends with the announcement `{size}` / `{size+}` and
        // its line ending; only the digits change.
        let brace = self.cmd.iter().rposition(|&b| b == b'{');
        let close = self.cmd.iter().rposition(|&b| b == b'}');
        if let (Some(open), Some(close)) = (brace, close) {
            let plus = self.cmd.get(close.wrapping_sub(1)) == Some(&b'+');
            let digits_end = if plus { close - 1 } else { close };
            if open < digits_end {
                self.cmd.splice(open + 1..digits_end, *b"0");
            }
        }
        self.mode = Mode::Literal {
            remaining: size,
            outside: true,
        };
        sync.then_some(Frame::Continue)
    }

    /// The command assembled so far (while a literal awaits a grant: up to
    /// and including its announcement).
    pub fn pending_command(&self) -> &[u8] {
        &self.cmd
    }

    /// Appends received bytes. Ignored after a [`Frame::Fatal`].
    pub fn push(&mut self, bytes: &[u8]) {
        if self.mode == Mode::Closed {
            return;
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos.min(self.buf.len()));
            self.pos = 0;
        }
    }

    fn avail(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        self.scanned = 0;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Bytes held: unconsumed input plus the partial command.
    pub fn buffered_len(&self) -> usize {
        self.avail().len() + self.cmd.len()
    }

    /// Drops everything buffered, including a partial command (after
    /// STARTTLS, so nothing pipelined before the handshake is executed —
    /// CVE-2011-0411).
    pub fn discard_buffered(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.scanned = 0;
        self.cmd.clear();
        self.tail.clear();
        if self.mode != Mode::Closed {
            self.mode = Mode::Line;
        }
    }

    /// Finds the next LF in the unconsumed input; returns the line length
    /// including the LF.
    fn find_lf(&mut self) -> Option<usize> {
        let avail = self.avail();
        let from = self.scanned.min(avail.len());
        match avail.get(from..)?.iter().position(|&b| b == b'\n') {
            Some(i) => Some(from + i + 1),
            None => {
                self.scanned = avail.len();
                None
            }
        }
    }

    /// Starts discarding the current (too long) line; returns the tag of the
    /// command it belonged to.
    fn start_discard(&mut self) -> Option<String> {
        let tag = if self.cmd.is_empty() {
            // Look at a prefix of fixed size so the result does not depend on
            // how the input was split into pushes.
            let avail = self.avail();
            let prefix = self.limits.max_line.saturating_add(2).min(avail.len());
            tag_of(avail.get(..prefix).unwrap_or_default())
        } else {
            tag_of(&self.cmd)
        };
        self.cmd.clear();
        self.tail.clear();
        self.mode = Mode::Discard;
        tag
    }

    /// Runs the discard modes; returns a frame if one results (Fatal), or
    /// `Err(())` if more input is needed.
    fn step_discard(&mut self) -> Result<Option<Frame>, ()> {
        match self.mode {
            Mode::Discard => match self.find_lf() {
                None => {
                    let avail = self.buf.get(self.pos..).unwrap_or_default();
                    let keep = avail.len().min(TAIL);
                    let start = avail.len() - keep;
                    let mut tail = std::mem::take(&mut self.tail);
                    tail.extend_from_slice(avail.get(start..).unwrap_or_default());
                    let excess = tail.len().saturating_sub(TAIL);
                    tail.drain(..excess);
                    self.tail = tail;
                    let n = self.avail().len();
                    self.consume(n);
                    Err(())
                }
                Some(n) => {
                    let mut line = std::mem::take(&mut self.tail);
                    line.extend_from_slice(self.avail().get(..n).unwrap_or_default());
                    self.consume(n);
                    self.mode = Mode::Line;
                    // Only the last bytes are known whatever the input split.
                    let content = strip_eol(&line);
                    let content = content
                        .get(content.len().saturating_sub(TAIL - 2)..)
                        .unwrap_or_default();
                    if let Some((size, false)) = literal_suffix(content) {
                        if size > self.limits.max_literal {
                            return Ok(Some(self.fatal("non-synchronizing literal too large")));
                        }
                        self.mode = Mode::SkipLiteral { remaining: size };
                    }
                    Ok(None)
                }
            },
            Mode::SkipLiteral { remaining } => {
                let have = self.avail().len();
                let take = usize::try_from(remaining).unwrap_or(usize::MAX).min(have);
                self.consume(take);
                let remaining = remaining - take as u64;
                if remaining == 0 {
                    self.mode = Mode::Discard;
                    Ok(None)
                } else {
                    self.mode = Mode::SkipLiteral { remaining };
                    Err(())
                }
            }
            _ => Ok(None),
        }
    }

    fn fatal(&mut self, msg: &str) -> Frame {
        self.mode = Mode::Closed;
        self.buf = Vec::new();
        self.cmd = Vec::new();
        self.pos = 0;
        self.scanned = 0;
        Frame::Fatal(msg.to_owned())
    }

    /// Returns the next frame, or `None` if more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if let Some(frame) = self.pending_fatal.take() {
            return Some(frame);
        }
        loop {
            match self.mode {
                Mode::Closed | Mode::AwaitGrant { .. } => return None,
                Mode::Discard | Mode::SkipLiteral { .. } => match self.step_discard() {
                    Ok(Some(frame)) => return Some(frame),
                    Ok(None) => continue,
                    Err(()) => return None,
                },
                Mode::Literal { remaining, outside } => {
                    let have = self.avail().len();
                    if have == 0 {
                        return None;
                    }
                    let take = usize::try_from(remaining).unwrap_or(usize::MAX).min(have);
                    let start = self.pos;
                    let part = self.buf.get(start..start + take).unwrap_or_default();
                    let part = if outside {
                        part.to_vec()
                    } else {
                        self.cmd.extend_from_slice(part);
                        Vec::new()
                    };
                    self.consume(take);
                    let remaining = remaining - take as u64;
                    self.mode = if remaining == 0 {
                        Mode::Line
                    } else {
                        Mode::Literal { remaining, outside }
                    };
                    if outside {
                        return Some(Frame::LiteralPart(part));
                    }
                }
                Mode::Line => {
                    let Some(n) = self.find_lf() else {
                        if self.avail().len() > self.limits.max_line.saturating_add(1) {
                            let tag = self.start_discard();
                            return Some(Frame::LineTooLong { tag });
                        }
                        return None;
                    };
                    let line = self.avail().get(..n).unwrap_or_default();
                    let content = strip_eol(line);
                    if content.len() > self.limits.max_line
                        || self.cmd.len().saturating_add(n) > self.limits.max_command
                    {
                        let tag = self.start_discard();
                        // Discard mode will consume this line (it has its LF).
                        return Some(Frame::LineTooLong { tag });
                    }
                    if self.cmd.is_empty() && content.is_empty() {
                        // Ignore empty lines between commands.
                        self.consume(n);
                        continue;
                    }
                    let literal = if ends_unquoted(content) {
                        literal_suffix(content)
                    } else {
                        None
                    };
                    let start = self.pos;
                    self.cmd
                        .extend_from_slice(self.buf.get(start..start + n).unwrap_or_default());
                    self.consume(n);
                    let Some((size, sync)) = literal else {
                        return Some(Frame::Command(std::mem::take(&mut self.cmd)));
                    };
                    let room = (self.limits.max_command.saturating_sub(self.cmd.len())) as u64;
                    if size > self.limits.max_literal || size > room {
                        if sync {
                            let tag = tag_of(&self.cmd);
                            self.cmd.clear();
                            return Some(Frame::LiteralTooBig { tag, size });
                        }
                        return Some(self.fatal("non-synchronizing literal too large"));
                    }
                    if size > self.limits.reserve_above {
                        self.mode = Mode::AwaitGrant { size, sync };
                        let tag = tag_of(&self.cmd);
                        return Some(Frame::LiteralNeedsMemory { tag, size });
                    }
                    if size > 0 {
                        self.mode = Mode::Literal {
                            remaining: size,
                            outside: false,
                        };
                    }
                    if sync {
                        return Some(Frame::Continue);
                    }
                }
            }
        }
    }

    /// Returns the next raw line without its line ending (for AUTHENTICATE
    /// continuation data and, later, IDLE's `DONE`), `None` if incomplete, or
    /// `Err(())` if the line is longer than `max_line` (the framer then
    /// discards through the next LF) or the input became unusable (the next
    /// [`Framer::next_frame`] then returns [`Frame::Fatal`]).
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, ()>> {
        loop {
            match self.mode {
                Mode::Closed | Mode::Literal { .. } | Mode::AwaitGrant { .. } => return None,
                Mode::Discard | Mode::SkipLiteral { .. } => match self.step_discard() {
                    Ok(Some(frame)) => {
                        // Fatal: surfaced by the next `next_frame` call.
                        self.pending_fatal = Some(frame);
                        return Some(Err(()));
                    }
                    Ok(None) => continue,
                    Err(()) => return None,
                },
                Mode::Line => {
                    let Some(n) = self.find_lf() else {
                        if self.avail().len() > self.limits.max_line.saturating_add(1) {
                            self.start_discard();
                            return Some(Err(()));
                        }
                        return None;
                    };
                    let content = strip_eol(self.avail().get(..n).unwrap_or_default());
                    if content.len() > self.limits.max_line {
                        // Same handling as a partial over-long line.
                        self.start_discard();
                        return Some(Err(()));
                    }
                    let line = content.to_vec();
                    self.consume(n);
                    return Some(Ok(line));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(f: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    fn all(limits: Limits, input: &[u8]) -> Vec<Frame> {
        let mut f = Framer::new(limits);
        f.push(input);
        frames(&mut f)
    }

    fn cmd(s: &str) -> Frame {
        Frame::Command(s.as_bytes().to_vec())
    }

    #[test]
    fn simple_lines() {
        let got = all(
            Limits::default(),
            b"a NOOP\r\nb CAPABILITY\r\n\r\nc LOGOUT\n",
        );
        assert_eq!(
            got,
            vec![
                cmd("a NOOP\r\n"),
                cmd("b CAPABILITY\r\n"),
                cmd("c LOGOUT\n")
            ]
        );
    }

    #[test]
    fn sync_literal_flow() {
        let mut f = Framer::new(Limits::default());
        f.push(b"a LOGIN {3}\r\n");
        assert_eq!(f.next_frame(), Some(Frame::Continue));
        assert_eq!(f.next_frame(), None);
        f.push(b"bo");
        assert_eq!(f.next_frame(), None);
        f.push(b"b {4}\r\n");
        assert_eq!(f.next_frame(), Some(Frame::Continue));
        f.push(b"p\r\nw\r\n");
        assert_eq!(
            f.next_frame(),
            Some(cmd("a LOGIN {3}\r\nbob {4}\r\np\r\nw\r\n"))
        );
        assert_eq!(f.next_frame(), None);
        assert_eq!(f.buffered_len(), 0);
    }

    #[test]
    fn non_sync_literal_and_zero_length() {
        let got = all(
            Limits::default(),
            b"a LOGIN {3+}\r\nbob {0}\r\n\r\nb NOOP\r\n",
        );
        assert_eq!(
            got,
            vec![
                Frame::Continue,
                cmd("a LOGIN {3+}\r\nbob {0}\r\n\r\n"),
                cmd("b NOOP\r\n")
            ]
        );
    }

    #[test]
    fn literal_inside_quotes_is_not_a_literal() {
        let got = all(Limits::default(), b"a LOGIN \"x {3}\r\nb NOOP\r\n");
        assert_eq!(got, vec![cmd("a LOGIN \"x {3}\r\n"), cmd("b NOOP\r\n")]);
        let got = all(Limits::default(), b"a LOGIN \"x\\\"\" {1}\r\nz\r\n");
        assert_eq!(
            got,
            vec![Frame::Continue, cmd("a LOGIN \"x\\\"\" {1}\r\nz\r\n")]
        );
    }

    #[test]
    fn literal8_is_framed_like_a_literal() {
        // `~{n}` (RFC 3516) is synchronising, `~{n+}` is not; octets
        // (including NUL, CR, LF) are copied inline.
        let got = all(
            Limits::default(),
            b"a APPEND x ~{3}\r\n\0\r\n\r\nb APPEND x ~{2+}\r\n\n\0\r\n",
        );
        assert_eq!(
            got,
            vec![
                Frame::Continue,
                Frame::Command(b"a APPEND x ~{3}\r\n\0\r\n\r\n".to_vec()),
                Frame::Command(b"b APPEND x ~{2+}\r\n\n\0\r\n".to_vec()),
            ]
        );
        assert_eq!(literal_suffix(b"a APPEND x ~{12}"), Some((12, true)));
        assert_eq!(literal_suffix(b"a APPEND x ~{12+}"), Some((12, false)));
    }

    #[test]
    fn literal_with_crlf_and_braces_inside() {
        let got = all(Limits::default(), b"a X {6+}\r\n{2}\r\n\n {1+}\r\nq\r\n");
        assert_eq!(got, vec![cmd("a X {6+}\r\n{2}\r\n\n {1+}\r\nq\r\n")]);
    }

    #[test]
    fn line_too_long() {
        let limits = Limits {
            max_line: 16,
            ..Limits::default()
        };
        let mut f = Framer::new(limits);
        f.push(b"tag1 NOOP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(
            f.next_frame(),
            Some(Frame::LineTooLong {
                tag: Some("tag1".into())
            })
        );
        assert_eq!(f.next_frame(), None);
        f.push(&[b'x'; 1000]);
        assert_eq!(f.next_frame(), None);
        assert!(f.buffered_len() <= 17);
        f.push(b"zz\r\nb NOOP\r\n");
        assert_eq!(f.next_frame(), Some(cmd("b NOOP\r\n")));
        // complete over-long line in one push
        let got = all(limits, b"t2 NOOP 0123456789abcdef\r\nc NOOP\r\n");
        assert_eq!(
            got,
            vec![
                Frame::LineTooLong {
                    tag: Some("t2".into())
                },
                cmd("c NOOP\r\n")
            ]
        );
        // exactly max_line is fine
        let got = all(limits, b"t3 NOOP 01234567\r\n");
        assert_eq!(got, vec![cmd("t3 NOOP 01234567\r\n")]);
    }

    #[test]
    fn too_long_line_with_non_sync_literal_skips_literal() {
        let limits = Limits {
            max_line: 16,
            ..Limits::default()
        };
        let got = all(
            limits,
            b"t APPEND aaaaaaaaaaaaaaaaaaaa {5+}\r\nb NOO\r\nc NOOP\r\n",
        );
        assert_eq!(
            got,
            vec![
                Frame::LineTooLong {
                    tag: Some("t".into())
                },
                cmd("c NOOP\r\n")
            ]
        );
    }

    #[test]
    fn literal_too_big() {
        let limits = Limits {
            max_literal: 10,
            ..Limits::default()
        };
        let got = all(limits, b"a APPEND x {11}\r\nb NOOP\r\n");
        assert_eq!(
            got,
            vec![
                Frame::LiteralTooBig {
                    tag: Some("a".into()),
                    size: 11
                },
                cmd("b NOOP\r\n")
            ]
        );
        let mut f = Framer::new(limits);
        f.push(b"a APPEND x {11+}\r\nhello world\r\nb NOOP\r\n");
        assert!(matches!(f.next_frame(), Some(Frame::Fatal(_))));
        assert_eq!(f.next_frame(), None);
        f.push(b"c NOOP\r\n");
        assert_eq!(f.next_frame(), None);
        assert_eq!(f.buffered_len(), 0);
        // absurd sizes
        let got = all(limits, b"a X {99999999999999999999999}\r\n");
        assert_eq!(
            got,
            vec![Frame::LiteralTooBig {
                tag: Some("a".into()),
                size: u64::MAX
            }]
        );
        // max_command counts too
        let limits = Limits {
            max_command: 30,
            ..Limits::default()
        };
        let got = all(limits, b"a X {20}\r\n");
        assert_eq!(got, vec![Frame::Continue]);
        let got = all(limits, b"a X {21}\r\n");
        assert!(matches!(
            got.as_slice(),
            [Frame::LiteralTooBig { size: 21, .. }]
        ));
    }

    #[test]
    fn large_literals_wait_for_memory() {
        let limits = Limits {
            reserve_above: 4,
            ..Limits::default()
        };
        let mut f = Framer::new(limits);
        // Small literals pass without asking.
        f.push(b"a LOGIN {3}\r\n");
        assert_eq!(f.next_frame(), Some(Frame::Continue));
        f.push(b"bob {4}\r\n");
        assert_eq!(f.next_frame(), Some(Frame::Continue));
        f.push(b"pass\r\n");
        assert_eq!(
            f.next_frame(),
            Some(cmd("a LOGIN {3}\r\nbob {4}\r\npass\r\n"))
        );
        // Granted: the continuation request comes with the grant.
        f.push(b"b APPEND x {5}\r\n");
        assert_eq!(
            f.next_frame(),
            Some(Frame::LiteralNeedsMemory {
                tag: Some("b".into()),
                size: 5
            })
        );
        assert_eq!(f.next_frame(), None, "nothing is framed before the answer");
        assert_eq!(f.grant_literal(true), Some(Frame::Continue));
        f.push(b"hello\r\n");
        assert_eq!(f.next_frame(), Some(cmd("b APPEND x {5}\r\nhello\r\n")));
        // Refused, synchronising: the command is gone, the next one is framed.
        f.push(b"c APPEND x {5}\r\nd NOOP\r\n");
        assert!(matches!(
            f.next_frame(),
            Some(Frame::LiteralNeedsMemory { .. })
        ));
        assert_eq!(f.grant_literal(false), None);
        assert_eq!(f.next_frame(), Some(cmd("d NOOP\r\n")));
        // Refused, non-synchronising: its octets and the rest of its line are skipped.
        f.push(b"e APPEND x {6+}\r\nf NOOP) more\r\ng NOOP\r\n");
        assert!(matches!(
            f.next_frame(),
            Some(Frame::LiteralNeedsMemory { size: 6, .. })
        ));
        assert_eq!(f.grant_literal(false), None);
        assert_eq!(f.next_frame(), Some(cmd("g NOOP\r\n")));
        assert_eq!(f.buffered_len(), 0);
        // No question pending: an answer does nothing.
        assert_eq!(f.grant_literal(true), None);
    }

    #[test]
    fn literals_granted_outside_come_in_parts_and_leave_an_empty_literal() {
        let limits = Limits {
            reserve_above: 4,
            ..Limits::default()
        };
        let mut f = Framer::new(limits);
        f.push(b"a APPEND x (\\Seen) ~{10}\r\n");
        assert!(matches!(
            f.next_frame(),
            Some(Frame::LiteralNeedsMemory { size: 10, .. })
        ));
        assert_eq!(f.pending_command(), b"a APPEND x (\\Seen) ~{10}\r\n");
        assert_eq!(f.grant_literal_outside(), Some(Frame::Continue));
        f.push(b"0123");
        assert_eq!(f.next_frame(), Some(Frame::LiteralPart(b"0123".to_vec())));
        assert_eq!(f.next_frame(), None);
        f.push(b"456789\r\nb NOOP\r\n");
        assert_eq!(f.next_frame(), Some(Frame::LiteralPart(b"456789".to_vec())));
        assert_eq!(
            f.next_frame(),
            Some(cmd("a APPEND x (\\Seen) ~{0}\r\n\r\n"))
        );
        assert_eq!(f.next_frame(), Some(cmd("b NOOP\r\n")));
        // Non-synchronising: no continuation; the `+` stays.
        f.push(b"c APPEND x {12+}\r\nhello world!)\r\n");
        assert!(matches!(
            f.next_frame(),
            Some(Frame::LiteralNeedsMemory { size: 12, .. })
        ));
        assert_eq!(f.grant_literal_outside(), None);
        assert_eq!(
            f.next_frame(),
            Some(Frame::LiteralPart(b"hello world!".to_vec()))
        );
        assert_eq!(f.next_frame(), Some(cmd("c APPEND x {0+}\r\n)\r\n")));
        assert_eq!(f.buffered_len(), 0);
    }

    #[test]
    fn limits_can_grow_after_login() {
        let small = Limits {
            max_literal: 8,
            max_command: 64,
            ..Limits::default()
        };
        let mut f = Framer::new(small);
        f.push(b"a LOGIN {9}\r\n");
        assert!(matches!(
            f.next_frame(),
            Some(Frame::LiteralTooBig { size: 9, .. })
        ));
        f.set_limits(Limits::default());
        f.push(b"b APPEND x {9}\r\n");
        assert_eq!(f.next_frame(), Some(Frame::Continue));
    }

    #[test]
    fn next_line_and_discard() {
        let mut f = Framer::new(Limits {
            max_line: 8,
            ..Limits::default()
        });
        f.push(b"dGVzdA==\r\n");
        assert_eq!(f.next_line(), Some(Ok(b"dGVzdA==".to_vec())));
        assert_eq!(f.next_line(), None);
        f.push(b"123456789012\r\na NOOP\r\n");
        assert_eq!(f.next_line(), Some(Err(())));
        assert_eq!(f.next_frame(), Some(cmd("a NOOP\r\n")));
        let mut f = Framer::new(Limits::default());
        f.push(b"a STARTTLS\r\nb LOGIN x y\r\n");
        assert_eq!(f.next_frame(), Some(cmd("a STARTTLS\r\n")));
        f.discard_buffered();
        assert_eq!(f.buffered_len(), 0);
        assert_eq!(f.next_frame(), None);
        // an over-long continuation line announcing a huge non-sync literal
        let mut f = Framer::new(Limits {
            max_line: 8,
            max_literal: 4,
            max_command: 100,
            ..Limits::default()
        });
        f.push(b"123456789012");
        assert_eq!(f.next_line(), Some(Err(())));
        f.push(b" {9+}\r\n");
        assert_eq!(f.next_line(), Some(Err(())));
        assert!(matches!(f.next_frame(), Some(Frame::Fatal(_))));
        assert_eq!(f.next_frame(), None);
    }

    #[test]
    fn tags() {
        assert_eq!(tag_of(b"a1 NOOP"), Some("a1".into()));
        assert_eq!(tag_of(b"a+ NOOP"), None);
        assert_eq!(tag_of(b"a(b NOOP"), None);
        assert_eq!(tag_of(b" NOOP"), None);
        assert_eq!(tag_of(b"x]"), Some("x]".into()));
    }

    const SAMPLE: &[u8] = b"a LOGIN {3}\r\nbob {4+}\r\npass\r\n\r\nb SELECT \"x{2}\"\r\nc FETCH 1 BODY[]\r\nd APPEND {5}\r\n";

    #[test]
    fn split_at_every_position_gives_same_frames() {
        let whole = all(Limits::default(), SAMPLE);
        for i in 0..=SAMPLE.len() {
            for j in i..=SAMPLE.len() {
                let mut f = Framer::new(Limits::default());
                let mut got = Vec::new();
                for chunk in [&SAMPLE[..i], &SAMPLE[i..j], &SAMPLE[j..]] {
                    f.push(chunk);
                    got.extend(frames(&mut f));
                }
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
    }

    proptest! {
        #[test]
        fn byte_by_byte_equals_whole(input in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b' '), Just(b'{'), Just(b'}'), Just(b'1'),
                        Just(b'+'), Just(b'\r'), Just(b'\n'), Just(b'"'), Just(b'\\'), any::<u8>()],
            0..200))
        {
            let limits = Limits { max_line: 20, max_literal: 15, max_command: 60, ..Limits::default() };
            let whole = all(limits, &input);
            let mut f = Framer::new(limits);
            let mut got = Vec::new();
            for b in &input {
                f.push(std::slice::from_ref(b));
                got.extend(frames(&mut f));
                prop_assert!(f.buffered_len() <= 60 + 22);
            }
            prop_assert_eq!(got, whole);
        }
    }
}
