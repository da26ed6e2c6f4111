//! Streaming decoders for message content.
//!
//! [`DataDecoder`] handles the dot-stuffed content after DATA (RFC 5321
//! §4.1.1.4 and §4.5.2); [`BdatDecoder`] joins BDAT chunks (RFC 3030). Both
//! hold no undecoded input: every byte is decided on arrival, with at most
//! two bytes of state carried across calls, so content may be split at any
//! point between `feed` calls.
//!
//! Only `<CRLF>.<CRLF>` ends DATA content. A bare CR or bare LF (one not in
//! a CRLF pair) is never a line ending for termination or dot-unstuffing,
//! which defeats SMTP smuggling (CVE-2023-51764/51765/51766).

use crate::config::BareNewline;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Why content was refused; reported once the content has been consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentError {
    /// The decoded body exceeded the maximum message size.
    TooBig,
    /// A DATA line exceeded the maximum line length.
    LineTooLong,
    /// A bare CR or LF was seen under [`BareNewline::Reject`].
    BareNewline,
}

/// Collects the decoded body; after the first error it only discards.
///
/// The caller may [`Sink::take`] what was decoded so far at any time (to spool it), so the
/// size limit counts every byte decoded, not what is still held.
#[derive(Debug)]
struct Sink {
    body: Vec<u8>,
    /// Bytes decoded in total, taken ones included.
    total: usize,
    max_size: usize,
    policy: BareNewline,
    error: Option<ContentError>,
}

impl Sink {
    fn new(max_size: usize, policy: BareNewline) -> Sink {
        Sink {
            body: Vec::new(),
            total: 0,
            max_size,
            policy,
            error: None,
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if bytes.len() > self.max_size.saturating_sub(self.total) {
            self.fail(ContentError::TooBig);
        } else {
            self.total += bytes.len();
            self.body.extend_from_slice(bytes);
        }
    }

    /// The decoded bytes not taken yet; nothing after an error.
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    fn fail(&mut self, error: ContentError) {
        if self.error.is_none() {
            self.error = Some(error);
            self.body = Vec::new();
        }
    }

    /// A bare CR or bare LF was found.
    fn bare(&mut self) {
        match self.policy {
            BareNewline::Normalize => self.emit(b"\r\n"),
            BareNewline::Reject => self.fail(ContentError::BareNewline),
        }
    }

    fn finish(self) -> Result<Vec<u8>, ContentError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.body),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataState {
    /// At the start of a line that follows a real CRLF (or of the content).
    LineStart,
    /// Inside a line.
    Mid,
    /// Inside a line, after a CR whose meaning depends on the next byte.
    MidCr,
    /// After a `.` at a real line start (the dot is not stored).
    Dot,
    /// After `.` CR at a real line start: LF ends the content.
    DotCr,
}

/// Decoder for DATA content.
#[derive(Debug)]
pub(crate) struct DataDecoder {
    state: DataState,
    line_len: usize,
    max_line: usize,
    sink: Sink,
}

impl DataDecoder {
    pub(crate) fn new(max_line: usize, max_size: usize, policy: BareNewline) -> DataDecoder {
        DataDecoder {
            state: DataState::LineStart,
            line_len: 0,
            max_line,
            sink: Sink::new(max_size, policy),
        }
    }

    /// Decodes `input`; returns how many bytes were consumed and whether the
    /// end of the content was reached (the bytes after it are not consumed).
    pub(crate) fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        let mut rest = input;
        while let Some((&b, tail)) = rest.split_first() {
            if self.state == DataState::Mid && b != CR && b != LF {
                let run = memchr::memchr2(CR, LF, rest).unwrap_or(rest.len());
                let (text, after) = rest.split_at_checked(run).unwrap_or((rest, &[]));
                self.count(text.len());
                self.sink.emit(text);
                rest = after;
                continue;
            }
            rest = tail;
            if self.step(b) {
                return (input.len() - rest.len(), true);
            }
        }
        (input.len(), false)
    }

    /// Counts raw bytes of the current line against the line limit.
    fn count(&mut self, n: usize) {
        self.line_len = self.line_len.saturating_add(n);
        if self.line_len > self.max_line {
            self.sink.fail(ContentError::LineTooLong);
        }
    }

    /// A bare CR or LF ended a line (but not a real one).
    fn bare(&mut self) {
        self.sink.bare();
        self.line_len = 0;
    }

    /// Handles a byte inside a line.
    fn mid(&mut self, b: u8) {
        self.count(1);
        self.state = DataState::Mid;
        match b {
            CR => self.state = DataState::MidCr,
            LF => self.bare(),
            _ => self.sink.emit(&[b]),
        }
    }

    /// Handles one byte; returns true at the end of the content.
    fn step(&mut self, b: u8) -> bool {
        match self.state {
            DataState::LineStart if b == b'.' => {
                self.count(1);
                self.state = DataState::Dot;
            }
            DataState::LineStart | DataState::Mid => self.mid(b),
            DataState::MidCr if b == LF => {
                self.count(1);
                self.sink.emit(b"\r\n");
                self.line_len = 0;
                self.state = DataState::LineStart;
            }
            DataState::MidCr | DataState::DotCr if b != LF => {
                self.bare();
                self.mid(b);
            }
            DataState::Dot if b == CR => {
                self.count(1);
                self.state = DataState::DotCr;
            }
            // Dot-unstuffing: the line started with a dot that is dropped.
            DataState::Dot => self.mid(b),
            // `<CRLF>.<CRLF>`.
            DataState::MidCr | DataState::DotCr => return true,
        }
        false
    }

    /// The content decoded since the last call.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.sink.take()
    }

    /// The decoded body not taken yet, or why it was refused.
    pub(crate) fn finish(self) -> Result<Vec<u8>, ContentError> {
        self.sink.finish()
    }
}

/// Decoder joining BDAT chunks: no dot processing, bare CR/LF policy
/// applied across chunk boundaries.
#[derive(Debug)]
pub(crate) struct BdatDecoder {
    pending_cr: bool,
    raw_total: u64,
    sink: Sink,
}

impl BdatDecoder {
    pub(crate) fn new(max_size: usize, policy: BareNewline) -> BdatDecoder {
        BdatDecoder {
            pending_cr: false,
            raw_total: 0,
            sink: Sink::new(max_size, policy),
        }
    }

    /// Sum of the announced chunk sizes so far.
    pub(crate) fn raw_total(&self) -> u64 {
        self.raw_total
    }

    /// Records an announced chunk size.
    pub(crate) fn add_raw(&mut self, n: u64) {
        self.raw_total = self.raw_total.saturating_add(n);
    }

    /// Whether the decoded body grew beyond the maximum size.
    pub(crate) fn too_big(&self) -> bool {
        self.sink.error == Some(ContentError::TooBig)
    }

    pub(crate) fn feed(&mut self, input: &[u8]) {
        let mut rest = input;
        while let Some((&b, tail)) = rest.split_first() {
            if !self.pending_cr && b != CR && b != LF {
                let run = memchr::memchr2(CR, LF, rest).unwrap_or(rest.len());
                let (text, after) = rest.split_at_checked(run).unwrap_or((rest, &[]));
                self.sink.emit(text);
                rest = after;
                continue;
            }
            rest = tail;
            if self.pending_cr {
                self.pending_cr = false;
                if b == LF {
                    self.sink.emit(b"\r\n");
                    continue;
                }
                self.sink.bare();
            }
            match b {
                CR => self.pending_cr = true,
                LF => self.sink.bare(),
                _ => self.sink.emit(&[b]),
            }
        }
    }

    /// The content decoded since the last call.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.sink.take()
    }

    /// The joined body not taken yet, after the LAST chunk, or why it was refused.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, ContentError> {
        if self.pending_cr {
            self.pending_cr = false;
            self.sink.bare();
        }
        self.sink.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(input: &[u8], policy: BareNewline) -> (Result<Vec<u8>, ContentError>, usize, bool) {
        let mut d = DataDecoder::new(1000, 10_000, policy);
        let (used, done) = d.feed(input);
        (d.finish(), used, done)
    }

    #[test]
    fn terminator_and_unstuffing() {
        let (body, used, done) = decode(b"a\r\n..b\r\n.c\r\n.\r\nREST", BareNewline::Normalize);
        assert!(done);
        assert_eq!(used, 15);
        assert_eq!(body.unwrap(), b"a\r\n.b\r\nc\r\n");
        let (body, used, done) = decode(b".\r\n", BareNewline::Normalize);
        assert!(done && used == 3);
        assert_eq!(body.unwrap(), b"");
    }

    #[test]
    fn bare_line_endings_do_not_terminate() {
        for input in [
            &b"a\n.\nb"[..],
            b"a\n.\r\nb",
            b"a\r\n.\nb",
            b"a\r.\rb",
            b"a\r.\r\nb",
            b"a\r\n.\rb",
        ] {
            let (_, used, done) = decode(input, BareNewline::Normalize);
            assert!(!done, "{input:?}");
            assert_eq!(used, input.len());
        }
    }

    #[test]
    fn normalises_bare_cr_and_lf() {
        let (body, _, done) = decode(b"a\nb\rc\r\r\n\n.x\r\n.\r\n", BareNewline::Normalize);
        assert!(done);
        assert_eq!(body.unwrap(), b"a\r\nb\r\nc\r\n\r\n\r\n.x\r\n");
        let (body, _, done) = decode(b"a\nb\r\n.\r\n", BareNewline::Reject);
        assert!(done);
        assert_eq!(body, Err(ContentError::BareNewline));
    }

    #[test]
    fn limits() {
        let mut d = DataDecoder::new(6, 100, BareNewline::Normalize);
        assert_eq!(d.feed(b"1234\r\n.\r\n"), (9, true));
        assert!(d.finish().is_ok());
        let mut d = DataDecoder::new(6, 100, BareNewline::Normalize);
        assert_eq!(d.feed(b"12345\r\n.\r\n"), (10, true));
        assert_eq!(d.finish(), Err(ContentError::LineTooLong));
        let mut d = DataDecoder::new(100, 5, BareNewline::Normalize);
        assert_eq!(d.feed(b"abc\r\n.\r\n"), (8, true));
        assert_eq!(d.finish().unwrap(), b"abc\r\n");
        let mut d = DataDecoder::new(100, 4, BareNewline::Normalize);
        assert_eq!(d.feed(b"abc\r\n.\r\n"), (8, true));
        assert_eq!(d.finish(), Err(ContentError::TooBig));
    }

    #[test]
    fn bdat_normalises_across_chunks() {
        let mut d = BdatDecoder::new(100, BareNewline::Normalize);
        d.feed(b"a\r");
        d.feed(b"\nb\r");
        d.feed(b"c\n");
        d.feed(b"\r");
        assert_eq!(d.finish().unwrap(), b"a\r\nb\r\nc\r\n\r\n");
        let mut d = BdatDecoder::new(100, BareNewline::Reject);
        d.feed(b"a\r");
        d.feed(b"\n");
        assert_eq!(d.finish().unwrap(), b"a\r\n");
        let mut d = BdatDecoder::new(100, BareNewline::Reject);
        d.feed(b"a\r");
        assert_eq!(d.finish(), Err(ContentError::BareNewline));
    }

    /// Dot-stuffs lines the way a client does.
    fn stuff(lines: &[String]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            if line.starts_with('.') {
                out.push(b'.');
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    proptest! {
        #[test]
        fn stuffed_content_round_trips(
            lines in proptest::collection::vec("[.a-z ]{0,12}", 0..20),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let wire = stuff(&lines);
            let mut cut_points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            cut_points.sort_unstable();
            let mut d = DataDecoder::new(1000, 1 << 20, BareNewline::Reject);
            let mut start = 0;
            let mut finished = false;
            for end in cut_points.into_iter().chain([wire.len()]) {
                let (used, done) = d.feed(&wire[start..end]);
                if done {
                    prop_assert_eq!(start + used, wire.len());
                    finished = true;
                    break;
                }
                prop_assert_eq!(used, end - start);
                start = end;
            }
            prop_assert!(finished);
            let expected: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
            prop_assert_eq!(d.finish().unwrap(), expected);
        }

        #[test]
        fn bdat_split_does_not_matter(data in proptest::collection::vec(prop::sample::select(vec![b'a', b'\r', b'\n', b'.']), 0..64), cut in any::<prop::sample::Index>()) {
            let cut = cut.index(data.len() + 1);
            let mut whole = BdatDecoder::new(1 << 20, BareNewline::Normalize);
            whole.feed(&data);
            let mut split = BdatDecoder::new(1 << 20, BareNewline::Normalize);
            split.feed(&data[..cut]);
            split.feed(&data[cut..]);
            let whole = whole.finish().unwrap();
            prop_assert_eq!(&whole, &split.finish().unwrap());
            // Every CR in the output is followed by LF and every LF preceded by CR.
            for (i, &b) in whole.iter().enumerate() {
                if b == b'\r' { prop_assert_eq!(whole.get(i + 1), Some(&b'\n')); }
                if b == b'\n' { prop_assert!(i > 0 && whole[i - 1] == b'\r'); }
            }
        }
    }
}
