//! Round trips: generated commands survive encode → (framer) → parse.

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::TestRunner;

use super::{Strings, Style, encode_command, encode_command_with};
use crate::command::{
    Command, CommandBody, FetchItem, ListReturn, ListSelection, MailboxName, QresyncParams,
    QuotaResource, SearchKey, SearchReturn, Secret, Section, SectionSpec, SortCriterion, SortKey,
    StatusItem, StoreAction, ThreadAlgorithm,
};
use crate::datetime::days_from_civil;
use crate::encode::{is_astring_char, is_atom_char};
use crate::framer::{Frame, Framer, Limits};
use crate::parse::{
    MAX_DEPTH, MAX_ID_PAIRS, MAX_LIST_PATTERNS, MAX_PART_DEPTH, MAX_QUOTA_RESOURCES, ParseOptions,
    parse_command_with,
};
use crate::sequence::{SeqNum, SeqRange, SequenceSet};

// ---------------------------------------------------------------------------
// Strategies

fn chars_where(f: impl Fn(u8) -> bool) -> Vec<char> {
    (0x21u8..=0x7e).filter(|&b| f(b)).map(char::from).collect()
}

fn text_of(chars: Vec<char>, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    vec(select(chars), len).prop_map(|v| v.into_iter().collect())
}

fn tag() -> impl Strategy<Value = String> {
    text_of(chars_where(|b| is_astring_char(b) && b != b'+'), 1..8)
}

fn atom() -> impl Strategy<Value = String> {
    text_of(chars_where(is_atom_char), 1..10)
}

/// An atom the parser upper-cases (mechanisms, quota resources).
fn upper_atom() -> impl Strategy<Value = String> {
    text_of(
        chars_where(|b| is_atom_char(b) && !b.is_ascii_lowercase()),
        1..10,
    )
}

/// Text without NUL (which no string form can carry): atoms, IMAP specials,
/// `NIL`, control characters, non-ASCII, long enough for a literal.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => atom(),
        2 => "[a-zA-Z \"\\\\(){}%*\\]\t]{0,12}",
        1 => Just("NIL".to_owned()),
        1 => Just(String::new()),
        2 => "\\PC{0,10}",
        2 => any::<String>().prop_map(|s| s.replace('\0', "")),
        1 => "[a-z]{1001,1010}",
        1 => "[a-z\r\n]{0,6}",
    ]
    .boxed()
}

/// Text the ID command keeps exactly: any text (it is read lossily as UTF-8).
fn bytes_no_nul() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![text().prop_map(String::into_bytes), vec(1u8..=255, 0..16),]
}

fn mailbox() -> impl Strategy<Value = MailboxName> {
    prop_oneof![
        Just("INBOX".to_owned()),
        Just("inbox".to_owned()),
        Just("InBox/Sub".to_owned()),
        Just("A&B".to_owned()),
        Just("日本語/台北".to_owned()),
        "[a-zA-Z0-9 &/._~-]{0,12}",
        "\\PC{0,8}",
        text(),
    ]
    .prop_map(|s| s.replace(['\0', '\r', '\n'], ""))
    .prop_map(|s| MailboxName::new(&s).expect("no NUL, CR or LF"))
}

/// LIST/LSUB reference and pattern text, with plenty of wildcards.
fn list_text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z%*/&\\]]{1,8}", "[%*]", text()]
}

fn seq_num(allow_last: bool) -> impl Strategy<Value = SeqNum> {
    let last_weight = u32::from(allow_last);
    prop_oneof![
        4 => (1u32..20).prop_map(SeqNum::Value),
        2 => (1u32..=u32::MAX).prop_map(SeqNum::Value),
        last_weight => Just(SeqNum::Last),
    ]
}

fn seq_set_with(allow_last: bool) -> impl Strategy<Value = SequenceSet> {
    vec(
        (seq_num(allow_last), prop::option::of(seq_num(allow_last))),
        1..4,
    )
    .prop_map(|v| {
        let ranges = v
            .into_iter()
            .map(|(start, end)| SeqRange {
                start,
                end: end.unwrap_or(start),
            })
            .collect();
        SequenceSet::from_ranges(ranges).expect("non-empty, non-zero")
    })
}

fn seq_set() -> impl Strategy<Value = SequenceSet> {
    seq_set_with(true)
}

fn number64() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..100, 0..=i64::MAX as u64]
}

fn mod_sequence() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..100, 1..=i64::MAX as u64]
}

fn status_items() -> impl Strategy<Value = Vec<StatusItem>> {
    use StatusItem as S;
    let all = vec![
        S::Messages,
        S::UidNext,
        S::UidValidity,
        S::Unseen,
        S::Deleted,
        S::Size,
        S::Recent,
        S::HighestModseq,
    ];
    vec(select(all), 1..5)
}

/// `(known-sequence-set known-uid-set)` naming the same number of messages.
fn seq_match() -> impl Strategy<Value = (SequenceSet, SequenceSet)> {
    (
        vec((1u32..1000, 0u32..5, any::<bool>()), 1..4),
        1u32..1_000_000,
        any::<bool>(),
    )
        .prop_map(|(seq_ranges, uid_start, reversed)| {
            let mut total = 0;
            let ranges: Vec<SeqRange> = seq_ranges
                .into_iter()
                .map(|(lo, extra, rev)| {
                    total += extra + 1;
                    let (a, b) = (SeqNum::Value(lo), SeqNum::Value(lo + extra));
                    let (start, end) = if rev { (b, a) } else { (a, b) };
                    SeqRange { start, end }
                })
                .collect();
            let seqs = SequenceSet::from_ranges(ranges).expect("valid");
            let uid_end = uid_start + total - 1;
            let uids = if reversed {
                SequenceSet::range(uid_end, uid_start)
            } else {
                SequenceSet::range(uid_start, uid_end)
            };
            (seqs, uids.expect("valid"))
        })
}

fn qresync() -> impl Strategy<Value = QresyncParams> {
    (
        1u32..=u32::MAX,
        mod_sequence(),
        prop::option::of(seq_set_with(false)),
        prop::option::of(seq_match()),
    )
        .prop_map(
            |(uidvalidity, modseq, known_uids, seq_match)| QresyncParams {
                uidvalidity,
                modseq,
                known_uids,
                seq_match,
            },
        )
}

fn flag() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "\\Seen",
            "\\Answered",
            "\\Flagged",
            "\\Deleted",
            "\\Draft"
        ])
        .prop_map(str::to_owned),
        atom(),
    ]
}

fn part() -> impl Strategy<Value = Vec<u32>> {
    let n = prop_oneof![1u32..5, 1..=u32::MAX];
    prop_oneof![
        8 => vec(n.clone(), 0..4),
        1 => vec(n, MAX_PART_DEPTH),
    ]
}

fn partial() -> impl Strategy<Value = Option<(u32, u32)>> {
    prop::option::of((any::<u32>(), 1u32..=u32::MAX))
}

fn header_field() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z-]{1,12}", text_of(chars_where(|b| b != b':'), 1..6),]
}

fn section() -> impl Strategy<Value = Section> {
    let spec = prop_oneof![
        Just(SectionSpec::Header),
        Just(SectionSpec::Text),
        Just(SectionSpec::Mime),
        vec(header_field(), 1..4).prop_map(SectionSpec::HeaderFields),
        vec(header_field(), 1..4).prop_map(SectionSpec::HeaderFieldsNot),
    ];
    (part(), prop::option::of(spec)).prop_map(|(part, spec)| {
        // MIME only exists for a part.
        let spec = spec.filter(|s| *s != SectionSpec::Mime || !part.is_empty());
        Section { part, spec }
    })
}

fn fetch_item() -> impl Strategy<Value = FetchItem> {
    use FetchItem as F;
    prop_oneof![
        select(vec![
            F::Flags,
            F::Uid,
            F::Rfc822Size,
            F::InternalDate,
            F::Envelope,
            F::Rfc822,
            F::Rfc822Header,
            F::Rfc822Text,
            F::BodyStructure,
            F::BodyPlain,
            F::Modseq,
        ]),
        (any::<bool>(), section(), partial()).prop_map(|(peek, section, partial)| F::Body {
            peek,
            section,
            partial
        }),
        (any::<bool>(), part(), partial()).prop_map(|(peek, part, partial)| F::Binary {
            peek,
            part,
            partial
        }),
        part().prop_map(F::BinarySize),
    ]
}

/// Days within the years an IMAP `date` can carry (0000..=9999).
fn date() -> impl Strategy<Value = i64> {
    prop_oneof![
        days_from_civil(1970, 1, 1)..days_from_civil(2100, 1, 1),
        days_from_civil(0, 1, 1)..=days_from_civil(9999, 12, 31),
    ]
}

/// Every timestamp an APPEND date-time can give: local times in years
/// 0000..=9999 (with the leap second) in zones up to ±99:59.
fn append_date() -> impl Strategy<Value = i64> {
    let first = days_from_civil(0, 1, 1) * 86_400 - 5999 * 60;
    let last = days_from_civil(10_000, 1, 1) * 86_400 + 5999 * 60;
    prop_oneof![
        0i64..4_102_444_800,
        first..=last,
        first..first + 400_000,
        last - 400_000..=last,
    ]
}

fn search_leaf() -> BoxedStrategy<SearchKey> {
    use SearchKey as K;
    prop_oneof![
        select(vec![
            K::All,
            K::Answered,
            K::Deleted,
            K::Draft,
            K::Flagged,
            K::New,
            K::Old,
            K::Recent,
            K::Seen,
            K::Unanswered,
            K::Undeleted,
            K::Undraft,
            K::Unflagged,
            K::Unseen,
            K::Saved,
        ]),
        (0..9u8, text()).prop_map(|(which, s)| match which {
            0 => K::Bcc(s),
            1 => K::Body(s),
            2 => K::Cc(s),
            3 => K::From(s),
            4 => K::Subject(s),
            5 => K::Text(s),
            6 => K::To(s),
            7 => K::Header(s.clone(), s.chars().rev().collect()),
            _ => K::Header("Message-ID".to_owned(), s),
        }),
        (0..6u8, date()).prop_map(|(which, d)| match which {
            0 => K::Before(d),
            1 => K::On(d),
            2 => K::SentBefore(d),
            3 => K::SentOn(d),
            4 => K::SentSince(d),
            _ => K::Since(d),
        }),
        (0..3u8, number64()).prop_map(|(which, n)| match which {
            0 => K::Larger(n),
            1 => K::Smaller(n),
            _ => K::Modseq(n),
        }),
        (any::<bool>(), atom()).prop_map(|(un, k)| if un {
            K::Unkeyword(k)
        } else {
            K::Keyword(k)
        }),
        seq_set().prop_map(K::Uid),
        seq_set().prop_map(K::SequenceSet),
    ]
    .boxed()
}

/// A search key using at most `depth` levels of nesting (parentheses, NOT,
/// OR); `And`s have at least two keys, as the parser builds them.
fn search_key(depth: usize) -> BoxedStrategy<SearchKey> {
    if depth == 0 {
        return search_leaf();
    }
    let inner = search_key(depth - 1);
    prop_oneof![
        6 => search_leaf(),
        1 => inner.clone().prop_map(|k| SearchKey::Not(Box::new(k))),
        1 => (inner.clone(), inner.clone())
            .prop_map(|(a, b)| SearchKey::Or(Box::new(a), Box::new(b))),
        1 => vec(inner, 2..4).prop_map(SearchKey::And),
    ]
    .boxed()
}

/// A key nested exactly `depth` levels deep (the parser's limit is
/// [`MAX_DEPTH`]), each level a NOT, an OR or a parenthesised list.
fn deep_key(depth: usize) -> BoxedStrategy<SearchKey> {
    if depth == 0 {
        return search_leaf();
    }
    let inner = deep_key(depth - 1);
    prop_oneof![
        inner.clone().prop_map(|k| SearchKey::Not(Box::new(k))),
        (inner.clone(), search_leaf(), any::<bool>()).prop_map(|(deep, leaf, first)| {
            let (a, b) = if first { (deep, leaf) } else { (leaf, deep) };
            SearchKey::Or(Box::new(a), Box::new(b))
        }),
        (inner, search_leaf()).prop_map(|(deep, leaf)| SearchKey::And(vec![leaf, deep])),
    ]
    .boxed()
}

/// Search criteria as a command carries them: one key, or several in a row
/// (an `And` that costs no nesting).
fn search_program() -> impl Strategy<Value = SearchKey> {
    prop_oneof![
        4 => search_key(MAX_DEPTH),
        4 => vec(search_key(MAX_DEPTH), 2..4).prop_map(SearchKey::And),
        1 => deep_key(MAX_DEPTH),
        1 => vec(deep_key(MAX_DEPTH), 2..3).prop_map(SearchKey::And),
    ]
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = (n >> (18 - 6 * i)) & 63;
                out.push(char::from(ALPHABET[idx as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn list_selection() -> impl Strategy<Value = Vec<ListSelection>> {
    use ListSelection as L;
    subsequence(
        vec![L::Subscribed, L::Remote, L::RecursiveMatch, L::SpecialUse],
        0..=4,
    )
    .prop_shuffle()
    .prop_map(|mut sel| {
        let base = sel.contains(&L::Subscribed) || sel.contains(&L::SpecialUse);
        if !base {
            sel.retain(|s| *s != L::RecursiveMatch);
        }
        sel
    })
}

fn list_returns() -> impl Strategy<Value = Vec<ListReturn>> {
    (
        subsequence(vec![0u8, 1, 2, 3], 0..=4).prop_shuffle(),
        status_items(),
    )
        .prop_map(|(which, items)| {
            which
                .into_iter()
                .map(|w| match w {
                    0 => ListReturn::Subscribed,
                    1 => ListReturn::Children,
                    2 => ListReturn::SpecialUse,
                    _ => ListReturn::Status(items.clone()),
                })
                .collect()
        })
}

fn quota_limits() -> impl Strategy<Value = Vec<(QuotaResource, u64)>> {
    use QuotaResource as Q;
    vec(
        (
            prop_oneof![
                select(vec![
                    Q::Storage,
                    Q::Message,
                    Q::Mailbox,
                    Q::AnnotationStorage
                ]),
                upper_atom().prop_map(Q::Other),
            ],
            number64(),
        ),
        0..=MAX_QUOTA_RESOURCES + 4,
    )
    .prop_map(|v| {
        let mut out: Vec<(QuotaResource, u64)> = Vec::new();
        for (r, n) in v {
            // Known names parse as their own variant, never as `Other`.
            let r = match r {
                Q::Other(name) => match name.as_str() {
                    "STORAGE" => Q::Storage,
                    "MESSAGE" => Q::Message,
                    "MAILBOX" => Q::Mailbox,
                    "ANNOTATION-STORAGE" => Q::AnnotationStorage,
                    _ => Q::Other(name),
                },
                r => r,
            };
            if out.len() < MAX_QUOTA_RESOURCES && !out.iter().any(|(o, _)| *o == r) {
                out.push((r, n));
            }
        }
        out
    })
}

fn sort_criteria() -> impl Strategy<Value = Vec<SortCriterion>> {
    use SortKey as S;
    let keys = vec![
        S::Arrival,
        S::Cc,
        S::Date,
        S::From,
        S::Size,
        S::Subject,
        S::To,
    ];
    vec(
        (any::<bool>(), select(keys)).prop_map(|(reverse, key)| SortCriterion { reverse, key }),
        1..4,
    )
}

fn command_body() -> impl Strategy<Value = CommandBody> {
    use CommandBody as C;
    let arms: Vec<BoxedStrategy<CommandBody>> = vec![
        select(vec![
            C::Capability,
            C::Noop,
            C::Logout,
            C::StartTls,
            C::Close,
            C::Unselect,
            C::Check,
            C::Namespace,
            C::Idle,
            C::Expunge,
        ])
        .boxed(),
        (
            text(),
            prop_oneof![text().prop_map(String::into_bytes), vec(1u8..=255, 0..12)],
        )
            .prop_map(|(username, password)| C::Login {
                username,
                password: Secret::new(password),
            })
            .boxed(),
        (
            upper_atom(),
            prop::option::of(prop_oneof![
                Just("=".to_owned()),
                vec(any::<u8>(), 1..20).prop_map(|b| base64(&b)),
            ]),
        )
            .prop_map(|(mechanism, initial_response)| C::Authenticate {
                mechanism,
                initial_response,
            })
            .boxed(),
        vec(atom(), 1..4).prop_map(C::Enable).boxed(),
        (
            any::<bool>(),
            mailbox(),
            any::<bool>(),
            prop::option::of(qresync()),
        )
            .prop_map(|(examine, mailbox, condstore, qresync)| {
                if examine {
                    C::Examine {
                        mailbox,
                        condstore,
                        qresync,
                    }
                } else {
                    C::Select {
                        mailbox,
                        condstore,
                        qresync,
                    }
                }
            })
            .boxed(),
        (
            list_selection(),
            list_text(),
            prop_oneof![
                8 => vec(list_text(), 1..4),
                1 => vec("[a-z%*]{0,3}", MAX_LIST_PATTERNS),
            ],
            list_returns(),
        )
            .prop_map(|(selection, reference, patterns, returns)| C::List {
                reference,
                pattern: patterns[0].clone(),
                selection,
                patterns,
                returns,
            })
            .boxed(),
        (mailbox(), status_items())
            .prop_map(|(mailbox, items)| C::Status { mailbox, items })
            .boxed(),
        (
            any::<bool>(),
            seq_set(),
            vec(fetch_item(), 1..5),
            prop::option::of(mod_sequence()),
            any::<bool>(),
        )
            .prop_map(|(uid, set, items, changed_since, vanished)| C::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished: vanished && uid && changed_since.is_some(),
            })
            .boxed(),
        prop::option::of(prop_oneof![
            8 => vec((bytes_no_nul(), prop::option::of(bytes_no_nul())), 0..5),
            1 => vec(("[a-z]{1,8}".prop_map(String::into_bytes), Just(None)), MAX_ID_PAIRS),
        ])
        .prop_map(|pairs| {
            let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            C::Id(pairs.map(|pairs| {
                pairs
                    .iter()
                    .map(|(k, v)| (lossy(k), v.as_deref().map(lossy)))
                    .collect()
            }))
        })
        .boxed(),
        (0..6u8, mailbox(), mailbox())
            .prop_map(|(which, mailbox, to)| match which {
                0 => C::Create { mailbox },
                1 => C::Delete { mailbox },
                2 => C::Subscribe { mailbox },
                3 => C::Unsubscribe { mailbox },
                4 => C::GetQuotaRoot { mailbox },
                _ => C::Rename { from: mailbox, to },
            })
            .boxed(),
        (list_text(), list_text())
            .prop_map(|(reference, pattern)| C::Lsub { reference, pattern })
            .boxed(),
        (
            mailbox(),
            vec(flag(), 0..4),
            prop::option::of(append_date()),
            vec(any::<u8>(), 0..64),
            any::<bool>(),
        )
            .prop_map(|(mailbox, flags, date, mut message, binary)| {
                if !binary {
                    message.retain(|&b| b != 0);
                }
                C::Append {
                    mailbox,
                    flags,
                    date,
                    message,
                    binary,
                }
            })
            .boxed(),
        (
            any::<bool>(),
            seq_set(),
            select(vec![
                StoreAction::Replace,
                StoreAction::Add,
                StoreAction::Remove,
            ]),
            any::<bool>(),
            vec(flag(), 0..4),
            prop::option::of(number64()),
        )
            .prop_map(
                |(uid, set, action, silent, flags, unchanged_since)| C::Store {
                    uid,
                    set,
                    action,
                    silent,
                    flags,
                    unchanged_since,
                },
            )
            .boxed(),
        (any::<bool>(), any::<bool>(), seq_set(), mailbox())
            .prop_map(|(is_move, uid, set, mailbox)| {
                if is_move {
                    C::Move { uid, set, mailbox }
                } else {
                    C::Copy { uid, set, mailbox }
                }
            })
            .boxed(),
        seq_set().prop_map(|set| C::UidExpunge { set }).boxed(),
        (
            any::<bool>(),
            prop::option::of(
                subsequence(
                    vec![
                        SearchReturn::Min,
                        SearchReturn::Max,
                        SearchReturn::Count,
                        SearchReturn::All,
                        SearchReturn::Save,
                    ],
                    1..=5,
                )
                .prop_shuffle(),
            ),
            search_program(),
        )
            .prop_map(|(uid, ret, key)| C::Search { uid, ret, key })
            .boxed(),
        (any::<bool>(), sort_criteria(), search_program())
            .prop_map(|(uid, criteria, key)| C::Sort { uid, criteria, key })
            .boxed(),
        (
            any::<bool>(),
            select(vec![
                ThreadAlgorithm::OrderedSubject,
                ThreadAlgorithm::References,
            ]),
            search_program(),
        )
            .prop_map(|(uid, algorithm, key)| C::Thread {
                uid,
                algorithm,
                key,
            })
            .boxed(),
        text().prop_map(|root| C::GetQuota { root }).boxed(),
        (text(), quota_limits())
            .prop_map(|(root, limits)| C::SetQuota { root, limits })
            .boxed(),
        prop_oneof![Just("DEFLATE".to_owned()), upper_atom()]
            .prop_map(|mechanism| C::Compress { mechanism })
            .boxed(),
    ];
    Union::new(arms)
}

fn command() -> impl Strategy<Value = Command> {
    (tag(), command_body()).prop_map(|(tag, body)| Command { tag, body })
}

// ---------------------------------------------------------------------------
// Properties

fn style() -> impl Strategy<Value = Style> {
    (
        select(vec![
            Strings::Canonical,
            Strings::Quoted,
            Strings::Literal,
            Strings::LiteralPlus,
        ]),
        any::<bool>(),
    )
        .prop_map(|(strings, lower)| Style { strings, lower })
}

fn round_trip(cmd: &Command, utf8: bool, style: Style) -> Result<(), TestCaseError> {
    let wire = encode_command_with(cmd, utf8, style);
    prop_assert!(wire.ends_with(b"\r\n"));
    let parsed = parse_command_with(&wire, ParseOptions { utf8 });
    prop_assert_eq!(
        parsed.as_ref(),
        Ok(cmd),
        "wire: {:?}",
        String::from_utf8_lossy(&wire)
    );
    Ok(())
}

/// Frames `wire` pushed in chunks of the given sizes (cycled), continuation
/// requests left out.
fn frame_in_chunks(wire: &[u8], sizes: &[usize]) -> Vec<Frame> {
    let mut framer = Framer::new(Limits::default());
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        framer.push(chunk);
        rest = tail;
        while let Some(frame) = framer.next_frame() {
            if frame != Frame::Continue {
                frames.push(frame);
            }
        }
    }
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn commands_round_trip(cmd in command()) {
        round_trip(&cmd, false, Style::default())?;
        round_trip(&cmd, true, Style::default())?;
    }

    /// The equivalent forms (quoted strings or literals instead of atoms,
    /// LITERAL+, lower-case keywords) parse alike.
    #[test]
    fn command_variants_round_trip(cmd in command(), utf8 in any::<bool>(), style in style()) {
        round_trip(&cmd, utf8, style)?;
    }

    #[test]
    fn encoded_commands_frame_whole(
        cmd in command(),
        utf8 in any::<bool>(),
        style in style(),
        sizes in vec(1usize..40, 1..8),
    ) {
        let wire = encode_command_with(&cmd, utf8, style);
        let frames = frame_in_chunks(&wire, &sizes);
        prop_assert_eq!(frames, vec![Frame::Command(wire)]);
    }
}

/// Every command kind is generated (so the round trip covers them all).
#[test]
fn strategy_covers_every_command() {
    let mut runner = TestRunner::deterministic();
    let strategy = command_body();
    let mut seen = BTreeSet::new();
    for _ in 0..5000 {
        let body = strategy
            .new_tree(&mut runner)
            .expect("strategy never rejects")
            .current();
        seen.insert(body.name());
    }
    // 44 names: every variant, UID and non-UID forms apart.
    assert_eq!(seen.len(), 44, "{seen:?}");
}

// ---------------------------------------------------------------------------
// The canonical form, pinned

fn enc(raw: &[u8], utf8: bool) -> String {
    let cmd = parse_command_with(raw, ParseOptions { utf8 }).expect("parses");
    String::from_utf8_lossy(&encode_command(&cmd, utf8)).into_owned()
}

#[test]
fn canonical_forms() {
    let cases: &[(&[u8], bool, &str)] = &[
        (b"a login \"bob\" {4}\r\npa\"s\r\n", false, "a LOGIN bob \"pa\\\"s\"\r\n"),
        (b"a LOGIN nil \"x\\\\y\"\r\n", false, "a LOGIN \"nil\" \"x\\\\y\"\r\n"),
        (b"a LOGIN {3}\r\na\nb \"\"\r\n", false, "a LOGIN {3}\r\na\nb \"\"\r\n"),
        (
            b"a select \"Entw&APw-rfe\" (condstore)\r\n",
            false,
            "a SELECT Entw&APw-rfe (CONDSTORE)\r\n",
        ),
        (
            "a SELECT \"Entwürfe\"\r\n".as_bytes(),
            true,
            "a SELECT \"Entwürfe\"\r\n",
        ),
        (b"a fetch 1:* fast\r\n", false, "a FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)\r\n"),
        (
            b"a uid fetch 1 body.peek[1.header.fields (from to)]<0.100> (changedsince 5 vanished)\r\n",
            false,
            "a UID FETCH 1 BODY.PEEK[1.HEADER.FIELDS (from to)]<0.100> (CHANGEDSINCE 5 VANISHED)\r\n",
        ),
        (
            "a SEARCH or (seen flagged) not uid 1:5 subject \"é\"\r\n".as_bytes(),
            false,
            "a SEARCH CHARSET UTF-8 OR (SEEN FLAGGED) NOT UID 1:5 SUBJECT {2}\r\né\r\n",
        ),
        (
            "a SEARCH RETURN () subject \"é\" since 1-feb-2024\r\n".as_bytes(),
            true,
            "a SEARCH RETURN (ALL) CHARSET UTF-8 SUBJECT \"é\" SINCE 1-Feb-2024\r\n",
        ),
        (
            b"a APPEND inbox (\\seen $x) \"1-Jan-2024 00:00:00 +0100\" ~{3}\r\na\0b\r\n",
            false,
            "a APPEND INBOX (\\Seen $x) \"31-Dec-2023 23:00:00 +0000\" ~{3}\r\na\0b\r\n",
        ),
        (
            b"a LIST (subscribed remote subscribed) \"\" (% \"a b\") RETURN (children status (messages))\r\n",
            false,
            "a LIST (SUBSCRIBED REMOTE) \"\" (% \"a b\") RETURN (CHILDREN STATUS (MESSAGES))\r\n",
        ),
        (
            b"a uid store 1,2:* (unchangedsince 0) -flags.silent \\draft\r\n",
            false,
            "a UID STORE 1,2:* (UNCHANGEDSINCE 0) -FLAGS.SILENT (\\Draft)\r\n",
        ),
        (
            b"a SELECT x (QRESYNC (1 2 1:5 (1,3 7:8)) CONDSTORE)\r\n",
            false,
            "a SELECT x (CONDSTORE QRESYNC (1 2 1:5 (1,3 7:8)))\r\n",
        ),
        (b"a ID nil\r\n", false, "a ID NIL\r\n"),
        (b"a id (\"name\" nil)\r\n", false, "a ID (\"name\" NIL)\r\n"),
        (b"a setquota \"\" (storage 10)\r\n", false, "a SETQUOTA \"\" (STORAGE 10)\r\n"),
        (b"a sort (reverse date) us-ascii all\r\n", false, "a SORT (REVERSE DATE) UTF-8 ALL\r\n"),
    ];
    for (raw, utf8, want) in cases {
        assert_eq!(enc(raw, *utf8), *want, "{}", String::from_utf8_lossy(raw));
    }
}
