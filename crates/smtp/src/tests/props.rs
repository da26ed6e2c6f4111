//! Property tests: split invariance, no panics, bounded buffers.

use proptest::prelude::*;
use proptest::sample::Index;

use super::{Driver, reject_config, run_split};
use crate::{Event, SessionConfig};

fn small_config() -> SessionConfig {
    SessionConfig {
        max_command_line: 64,
        max_data_line: 40,
        max_message_size: 200,
        max_recipients: 3,
        max_errors: 6,
        ..SessionConfig::default()
    }
}

fn configs() -> Vec<SessionConfig> {
    vec![SessionConfig::default(), reject_config(), small_config()]
}

/// Scripted sessions covering the protocol (STARTTLS only at the end, since
/// input after it is deliberately timing dependent).
fn corpus() -> Vec<Vec<u8>> {
    let scripts: [&[u8]; 12] = [
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nRCPT TO:<bad@x.example>\r\nDATA\r\nSubject: x\r\n\r\n..dots\r\nbody\r\n.\r\nQUIT\r\n",
        b"HELO c.example\nMAIL FROM:<>\nRCPT TO:<postmaster>\nDATA\nline\r\nbare\nlf\rcr\r\n.\r\nNOOP\nQUIT\n",
        b"EHLO c.example\r\nMAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<r@x.example>\r\nBDAT 5\r\nab\r\ncBDAT 3\r\n\nd\rBDAT 0 LAST\r\nQUIT\r\n",
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\nhello\n.\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n",
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\nx\r.\r\ny\r\n.\r\n.\r\nRSET\r\n",
        b"NOOP\r\nMAIL FROM:<a@b.example>\r\nEHLO\r\nEHLO c\r\nFOO\r\nVRFY x\r\nEXPN y\r\nHELP\r\nAUTH PLAIN\r\nSTARTTLS\r\nRSET\r\nQUIT\r\n",
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r1@x.example>\r\nRCPT TO:<r2@x.example>\r\nRCPT TO:<r3@x.example>\r\nRCPT TO:<r4@x.example>\r\nRCPT TO:<r5@x.example>\r\nDATA\r\nok\r\n.\r\n",
        b"EHLO c.example\r\nNOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nNOOP\r\n",
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\n0123456789012345678901234567890123456789012345678901234567890123456789\r\nshort\r\n.\r\nQUIT\r\n",
        b"EHLO c.example\r\nBDAT 4\r\nQUITMAIL FROM:<a@b.example>\r\nBDAT 3 LAST\r\nabcRCPT TO:<r@x.example>\r\nBDAT 999 LAST\r\n",
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nBDAT x\r\nBDAT 1\r\n\rDATA\r\nBDAT 1 LAST\r\n\n",
        b"X\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nNOOP\r\n",
    ];
    let mut corpus: Vec<Vec<u8>> = scripts.iter().map(|s| s.to_vec()).collect();
    let mut big =
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\n".to_vec();
    for i in 0..50 {
        big.extend(format!(".line {i}\r\n").into_bytes());
    }
    big.extend_from_slice(b".\r\nQUIT\r\n");
    corpus.push(big);
    corpus
}

fn assert_well_formed(out: &[u8]) {
    let text = std::str::from_utf8(out).expect("replies are UTF-8");
    assert!(text.is_empty() || text.ends_with("\r\n"), "{text:?}");
    for line in text.split_terminator("\r\n") {
        assert!(!line.contains(['\r', '\n']), "{line:?}");
        let bytes = line.as_bytes();
        assert!(
            bytes.len() >= 3 && bytes[..3].iter().all(u8::is_ascii_digit),
            "{line:?}"
        );
        assert!(
            matches!(bytes.get(3), None | Some(b' ') | Some(b'-')),
            "{line:?}"
        );
        assert!(line.len() <= 510, "{line:?}");
    }
}

#[test]
fn byte_at_a_time_matches_one_shot() {
    for config in configs() {
        for script in corpus() {
            let whole = run_split(&config, &script, &[]);
            let cuts: Vec<usize> = (1..script.len()).collect();
            let bytewise = run_split(&config, &script, &cuts);
            assert_eq!(whole, bytewise, "{}", String::from_utf8_lossy(&script));
            assert_well_formed(&whole.0);
        }
    }
}

#[test]
fn starttls_at_end_is_split_invariant() {
    let config = SessionConfig {
        starttls_available: true,
        ..SessionConfig::default()
    };
    let script = b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nSTARTTLS\r\n";
    let whole = run_split(&config, script, &[]);
    let bytewise = run_split(&config, script, &(1..script.len()).collect::<Vec<_>>());
    assert_eq!(whole, bytewise);
    assert_eq!(whole.1, [Event::StartTls]);
}

/// Building blocks for structured fuzzing.
const TOKENS: [&[u8]; 30] = [
    b"EHLO c.example\r\n",
    b"HELO c\n",
    b"MAIL FROM:<a@b.example>\r\n",
    b"MAIL FROM:<> SMTPUTF8 BODY=8BITMIME\r\n",
    b"MAIL FROM:<a@b.example> SIZE=999999\r\n",
    b"RCPT TO:<r@x.example>\r\n",
    b"RCPT TO:<bad@x.example>\r\n",
    b"RCPT TO:<postmaster>\r\n",
    b"DATA\r\n",
    b"BDAT 3\r\n",
    b"BDAT 0 LAST\r\n",
    b"BDAT 7 LAST\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b".\r\n",
    b"\r\n.\r\n",
    b"\n.\n",
    b"\r.\r",
    b"..x\r\n",
    b"\r",
    b"\n",
    b"\r\n",
    b".",
    b"text",
    b"\0",
    b"\xff",
    b"0123456789012345678901234567890123456789",
    b"VRFY x\r\n",
    b"X\r\n",
];

fn structured() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TOKENS.to_vec()), 0..60)
        .prop_map(|tokens| tokens.concat())
}

fn cut_points(len: usize, cuts: &[Index]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
    points.sort_unstable();
    points
}

/// Drives `input` in chunks and checks the invariants after every chunk.
fn check_invariants(config: &SessionConfig, input: &[u8], cuts: &[usize]) {
    let mut d = Driver::new(config.clone());
    let mut start = 0;
    for &cut in cuts.iter().chain([input.len()].iter()) {
        d.s.receive(&input[start..cut], d.now);
        d.drive();
        start = cut;
        assert!(d.s.wants_input() || d.s.is_closed());
        assert!(
            d.s.buffered() < config.max_command_line.max(1),
            "buffered {}",
            d.s.buffered()
        );
    }
    assert_well_formed(&d.out);
    for (envelope, body) in d.messages() {
        assert!(body.len() <= config.max_message_size);
        assert!(
            !envelope.recipients.is_empty() && envelope.recipients.len() <= config.max_recipients
        );
        // Bodies only ever have CRLF line endings.
        for (i, &b) in body.iter().enumerate() {
            if b == b'\r' {
                assert_eq!(body.get(i + 1), Some(&b'\n'));
            }
            if b == b'\n' {
                assert!(i > 0 && body[i - 1] == b'\r');
            }
        }
    }
    assert!(d.closed_events() <= 1);
}

proptest! {
    #[test]
    fn corpus_split_anywhere(script in prop::sample::select(corpus()), cfg in 0..3usize, cuts in prop::collection::vec(any::<Index>(), 0..12)) {
        let config = &configs()[cfg];
        let points = cut_points(script.len(), &cuts);
        prop_assert_eq!(run_split(config, &script, &[]), run_split(config, &script, &points));
    }

    #[test]
    fn structured_input_split_anywhere(input in structured(), cfg in 0..3usize, cuts in prop::collection::vec(any::<Index>(), 0..12)) {
        let config = &configs()[cfg];
        let points = cut_points(input.len(), &cuts);
        prop_assert_eq!(run_split(config, &input, &[]), run_split(config, &input, &points));
        check_invariants(config, &input, &points);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..2048), cfg in 0..3usize, cuts in prop::collection::vec(any::<Index>(), 0..12)) {
        let config = &configs()[cfg];
        let points = cut_points(input.len(), &cuts);
        check_invariants(config, &input, &points);
    }

    #[test]
    fn arbitrary_bytes_after_ehlo_and_data(input in prop::collection::vec(any::<u8>(), 0..2048), cuts in prop::collection::vec(any::<Index>(), 0..12)) {
        let config = small_config();
        let mut full = b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@x.example>\r\nDATA\r\n".to_vec();
        full.extend(input);
        let points = cut_points(full.len(), &cuts);
        check_invariants(&config, &full, &points);
        prop_assert_eq!(run_split(&config, &full, &[]), run_split(&config, &full, &points));
    }
}
