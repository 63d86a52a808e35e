//! Framing torture: the shared vectors at every split point, and a fuzz of byte soup.
//!
//! The fuzz reads `PROPTEST_CASES` (default 256 so `cargo test` stays quick); a long run:
//! `PROPTEST_CASES=100000 cargo test --release -p ct_parser --test framing_torture`.

use ct_parser::{Batch, Parser, DEFAULT_MAX_LINE_LEN};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Bytes a parser may hold beyond its cap: the CR an LF may still turn into a terminator.
const PENDING_SLACK: usize = 1;

mod common;

use common::{vectors, Vector};

fn parse_whole(data: &[u8], max_line_len: usize) -> Batch {
    let mut parser = Parser::new(max_line_len);
    let mut out = parser.feed(data);
    out.append(parser.finish());
    out
}

/// Parses `data` cut at the sorted offsets `cuts`, checking the held tail after each feed.
fn parse_cut(data: &[u8], max_line_len: usize, cuts: &[usize]) -> Batch {
    let mut parser = Parser::new(max_line_len);
    let mut out = Batch::default();
    let mut start = 0;
    for &cut in cuts.iter().chain([&data.len()]) {
        out.append(parser.feed(&data[start..cut]));
        assert!(
            parser.pending() <= max_line_len + PENDING_SLACK,
            "pending {} over cap {max_line_len}",
            parser.pending()
        );
        start = cut;
    }
    out.append(parser.finish());
    assert_eq!(parser.pending(), 0);
    out
}

fn parse_bytewise(data: &[u8], max_line_len: usize) -> Batch {
    let cuts: Vec<usize> = (1..data.len()).collect();
    parse_cut(data, max_line_len, &cuts)
}

/// Every 2-piece split, byte-at-a-time, and (for short streams) every 3-piece split.
fn assert_split_invariant(name: &str, data: &[u8], max_line_len: usize, three_pieces: bool) {
    let whole = parse_whole(data, max_line_len);
    for i in 0..=data.len() {
        let got = parse_cut(data, max_line_len, &[i]);
        assert_eq!(got, whole, "{name}: split at {i}");
    }
    assert_eq!(
        parse_bytewise(data, max_line_len),
        whole,
        "{name}: byte at a time"
    );
    if three_pieces {
        for i in 0..=data.len() {
            for j in i..=data.len() {
                let got = parse_cut(data, max_line_len, &[i, j]);
                assert_eq!(got, whole, "{name}: split at {i} and {j}");
            }
        }
    }
}

/// Streams short enough for every 3-piece split.
const SHORT: usize = 160;
/// Pairs of lines short enough for every 3-piece split (kept lower: there are many pairs).
const SHORT_PAIR: usize = 100;

#[test]
fn every_vector_alone_at_every_split() {
    let all = vectors();
    assert!(all.len() > 100);
    for v in &all {
        for (end, label) in [(&b""[..], "bare"), (b"\n", "LF"), (b"\r\n", "CRLF")] {
            let data = [&v.bytes[..], end].concat();
            let name = format!("{} ({label})", v.name);
            assert_split_invariant(&name, &data, v.max_line_len, data.len() <= SHORT);
        }
    }
}

#[test]
fn neighbouring_vectors_at_every_split() {
    // Pairs of consecutive vectors with the same cap, so junk and good lines meet at every cut.
    let all = vectors();
    for pair in all.windows(2) {
        let [a, b] = pair else { unreachable!() };
        if a.max_line_len != b.max_line_len {
            continue;
        }
        for end in [&b"\n"[..], b"\r\n"] {
            let data = [&a.bytes[..], end, &b.bytes[..], end].concat();
            let name = format!("{} + {}", a.name, b.name);
            assert_split_invariant(&name, &data, a.max_line_len, data.len() <= SHORT_PAIR);
        }
    }
}

fn concatenation(vectors: &[&Vector], end: &[u8]) -> Vec<u8> {
    vectors
        .iter()
        .flat_map(|v| [&v.bytes[..], end].concat())
        .collect()
}

#[test]
fn all_vectors_as_one_stream_at_every_split() {
    let all = vectors();
    let mut caps: Vec<usize> = all.iter().map(|v| v.max_line_len).collect();
    caps.sort_unstable();
    caps.dedup();
    for cap in caps {
        let group: Vec<&Vector> = all.iter().filter(|v| v.max_line_len == cap).collect();
        let lf = concatenation(&group, b"\n");
        let crlf = concatenation(&group, b"\r\n");
        assert_split_invariant(&format!("cap {cap}, LF"), &lf, cap, false);
        assert_split_invariant(&format!("cap {cap}, CRLF"), &crlf, cap, false);
        let whole = parse_whole(&lf, cap);
        assert_eq!(whole.len(), group.iter().filter(|v| !ignored(v)).count());
    }

    // Blank lines frame to nothing whatever ends them.
    for v in all.iter().filter(|v| ignored(v)) {
        for end in [&b""[..], b"\n", b"\r\n", b"\r"] {
            let data = [&v.bytes[..], end].concat();
            assert!(parse_whole(&data, v.max_line_len).is_empty(), "{}", v.name);
        }
    }

    // Lines that do not already end in a CR parse the same with either terminator.
    let plain: Vec<&Vector> = all
        .iter()
        .filter(|v| v.max_line_len == DEFAULT_MAX_LINE_LEN)
        .filter(|v| v.bytes.iter().rev().find(|&&b| b != 0) != Some(&b'\r'))
        .collect();
    assert_eq!(
        parse_whole(&concatenation(&plain, b"\r\n"), DEFAULT_MAX_LINE_LEN),
        parse_whole(&concatenation(&plain, b"\n"), DEFAULT_MAX_LINE_LEN),
    );
}

/// Vectors that frame to nothing (blank lines).
fn ignored(v: &Vector) -> bool {
    v.bytes
        .iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r' | 0))
}

#[test]
fn huge_lines_between_good_lines_stay_bounded() {
    let good = b"CT01_33~1~START~1204~07:58:12.45~1~0A1B2C~1";
    for cap in [16usize, 64, DEFAULT_MAX_LINE_LEN] {
        let mut data = Vec::new();
        for size in [cap - 1, cap, cap + 1, cap + 2, 3 * cap, 10 * 1024 * 1024] {
            data.extend(std::iter::repeat_n(b'A', size));
            data.extend_from_slice(b"\r\n");
            data.extend_from_slice(good);
            data.extend_from_slice(b"\r\n");
        }
        let whole = parse_whole(&data, cap);
        for chunk in [1usize, 7, 4096, 65_536] {
            if chunk == 1 && data.len() > 1 << 20 {
                // Byte by byte over 60 MB is slow without optimisation; 7 covers it.
                continue;
            }
            let cuts: Vec<usize> = (chunk..data.len()).step_by(chunk).collect();
            assert_eq!(
                parse_cut(&data, cap, &cuts),
                whole,
                "cap {cap} chunk {chunk}"
            );
        }
        let fits = good.len() <= cap;
        assert_eq!(whole.reads.len(), if fits { 6 } else { 0 }, "cap {cap}");
        assert!(whole.errors.iter().all(|e| e.raw.len() <= cap));
    }
}

// ---- fuzz -----------------------------------------------------------------------------

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // A failure prints its shrunk input; keep the source tree free of regression files.
        failure_persistence: None,
        ..Config::default()
    }
}

fn read_line() -> impl Strategy<Value = Vec<u8>> {
    let time = prop_oneof![
        (0..24u32, 0..60u32, 0..60u32, 0..100u32)
            .prop_map(|(h, m, s, f)| format!("{h:02}:{m:02}:{s:02}.{f:02}")),
        (1970..2100u32, 1..=12u32, 1..=28u32, 0..24u32, 0..60u32)
            .prop_map(|(y, mo, d, h, m)| format!("{y}-{mo:02}-{d:02}T{h:02}:{m:02}:01.5")),
        (0..99_999_999_999u64, 0..100u32).prop_map(|(s, f)| format!("{s}.{f:02}")),
        (100_000_000_000..999_999_999_999_999u64).prop_map(|ms| ms.to_string()),
    ];
    (
        prop_oneof![Just("CT01_33"), Just("CT01_13")],
        prop_oneof![Just('~'), Just(',')],
        any::<u64>(),
        "[A-Za-z0-9][A-Za-z0-9 _-]{0,11}",
        prop_oneof!["[0-9]{1,8}", Just("guntime".to_owned())],
        time,
        any::<u32>(),
        "[0-9A-F]{6,8}",
        any::<u32>(),
    )
        .prop_map(
            |(format, sep, seq, loc, tag, time, lap, reader, antenna)| {
                format!("{format}{sep}{seq}{sep}{loc}{sep}{tag}{sep}{time}{sep}{lap}{sep}{reader}{sep}{antenna}")
                    .into_bytes()
            },
        )
}

fn to_line() -> impl Strategy<Value = Vec<u8>> {
    (any::<u32>(), "[0-9]{1,6}", 0..99_999_999_999u64, 0..9u32).prop_map(
        |(seq, tag, secs, antenna)| {
            format!("TO~{seq:06}~{tag}~160~18~{secs}.17~12000C~{antenna}~-63~1~P").into_bytes()
        },
    )
}

fn session_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"SimpleClient~0.6.0~CTP01".to_vec()),
        Just(b"ack~ping".to_vec()),
        Just(b"ping".to_vec()),
        Just(b"ping~ack".to_vec()),
        Just(b"getlocations".to_vec()),
        "[a-z-]{1,12}=[a-z0-9]{0,8}".prop_map(String::into_bytes),
        "ack~getlocations(~[A-Z0-9]{1,8}){0,4}".prop_map(String::into_bytes),
        "ack~geteventinfo~[A-Za-z0-9 ]{1,12}~EV-[0-9]{1,4}~[ -}]{0,20}"
            .prop_map(String::into_bytes),
        "err~[a-z]{1,12}~[ -}]{0,20}".prop_map(String::into_bytes),
        "start~[A-Z0-9]{1,8}~[0-9]{1,6}".prop_map(String::into_bytes),
    ]
}

/// Lines the parser must accept as a read or a session line.
fn valid_line() -> impl Strategy<Value = Vec<u8>> {
    let from_vectors: Vec<Vec<u8>> = vectors()
        .into_iter()
        .filter(|v| v.valid() && v.max_line_len == DEFAULT_MAX_LINE_LEN)
        .map(|v| v.bytes)
        .filter(|b| !b.contains(&0) && !b.contains(&b'\r'))
        .collect();
    prop_oneof![
        3 => read_line(),
        1 => to_line(),
        2 => session_line(),
        2 => prop::sample::select(from_vectors),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index),
    Truncate(prop::sample::Index),
    /// Replaces the bytes between two separators (a whole field) with `Vec<u8>`.
    Field(prop::sample::Index, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let odd_byte = prop_oneof![
        any::<u8>(),
        Just(0u8),
        Just(b'\r'),
        Just(b'~'),
        Just(b','),
        Just(0xff),
        Just(0xc3),
        Just(b' '),
    ];
    let odd_field = prop_oneof![
        Just(Vec::new()),
        "[0-9]{10,40}".prop_map(String::into_bytes),
        "[0-9.:T -]{0,30}".prop_map(String::into_bytes),
        Just(b"9999-12-31T23:59:59.999999".to_vec()),
        Just(b"0000-00-00T00:00:00".to_vec()),
        Just(b"99:99:99.9999999".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"4294967296".to_vec()),
        Just(b"-1".to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    prop_oneof![
        (any::<prop::sample::Index>(), odd_byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<prop::sample::Index>(), odd_byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Delete),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), odd_field).prop_map(|(i, f)| Mutation::Field(i, f)),
    ]
}

fn mutate(mut line: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        match m {
            Mutation::Replace(i, b) if !line.is_empty() => {
                let at = i.index(line.len());
                line[at] = *b;
            }
            Mutation::Insert(i, b) => line.insert(i.index(line.len() + 1), *b),
            Mutation::Delete(i) if !line.is_empty() => {
                line.remove(i.index(line.len()));
            }
            Mutation::Truncate(i) => line.truncate(i.index(line.len() + 1)),
            Mutation::Field(i, value) => {
                let seps: Vec<usize> = line
                    .iter()
                    .enumerate()
                    .filter(|(_, &b)| b == b'~' || b == b',')
                    .map(|(at, _)| at)
                    .collect();
                if !seps.is_empty() {
                    let k = i.index(seps.len());
                    let start = seps[k] + 1;
                    let end = seps.get(k + 1).copied().unwrap_or(line.len());
                    line.splice(start..end, value.iter().copied());
                }
            }
            _ => {}
        }
    }
    line
}

#[derive(Debug, Clone)]
enum Segment {
    Valid(Vec<u8>),
    NearValid(Vec<u8>),
    Junk(Vec<u8>),
    /// A line without an LF around the cap: `cap - 2 + delta` bytes plus `scale` kB-ish.
    Huge(usize, usize, u8),
}

fn junk() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<u8>(),
            1 => Just(b'\n'),
            1 => Just(b'\r'),
            1 => Just(0u8),
            1 => Just(b'~'),
            1 => 0x80..=0xffu8,
        ],
        0..80,
    )
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        5 => valid_line().prop_map(Segment::Valid),
        3 => (valid_line(), prop::collection::vec(mutation(), 1..4))
            .prop_map(|(line, ms)| Segment::NearValid(mutate(line, &ms))),
        2 => junk().prop_map(Segment::Junk),
        1 => (0..3usize, 0..4usize, prop_oneof![Just(b'A'), Just(b'~'), Just(b'\r'), Just(0xffu8)])
            .prop_map(|(scale, delta, byte)| Segment::Huge(scale, delta, byte)),
    ]
}

/// How a segment ends: LF, CRLF, a lone CR, or nothing (glued to the next one).
fn terminator() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        4 => Just(&b"\n"[..]),
        4 => Just(&b"\r\n"[..]),
        1 => Just(&b"\r"[..]),
        1 => Just(&b""[..]),
    ]
}

struct Soup {
    data: Vec<u8>,
    max_line_len: usize,
    /// Valid lines that stand on their own (LF before and after, or stream start/end).
    isolated: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Soup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let escaped = |b: &[u8]| b.escape_ascii().to_string();
        f.debug_struct("Soup")
            .field("data", &escaped(&self.data))
            .field("max_line_len", &self.max_line_len)
            .field(
                "isolated",
                &self.isolated.iter().map(|l| escaped(l)).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn soup() -> impl Strategy<Value = Soup> {
    (
        prop::collection::vec((segment(), terminator()), 0..30),
        prop_oneof![
            Just(DEFAULT_MAX_LINE_LEN),
            Just(256usize),
            Just(80),
            Just(60),
            Just(16),
            1..8usize
        ],
    )
        .prop_map(|(segments, max_line_len)| {
            let mut data = Vec::new();
            let mut isolated = Vec::new();
            let mut after_lf = true;
            let n = segments.len();
            for (i, (segment, end)) in segments.into_iter().enumerate() {
                let line_end = end.ends_with(b"\n") || i + 1 == n;
                match segment {
                    Segment::Valid(line) => {
                        if after_lf && line_end && line.len() <= max_line_len {
                            isolated.push(line.clone());
                        }
                        data.extend_from_slice(&line);
                    }
                    Segment::NearValid(line) | Segment::Junk(line) => data.extend_from_slice(&line),
                    Segment::Huge(scale, delta, byte) => {
                        // cap - 2 ..= cap + 1 bytes, plus up to ~8 kB (scaled to the cap).
                        let len = max_line_len.saturating_sub(2)
                            + delta
                            + scale * 1000 * max_line_len.min(64) / 16;
                        data.extend(std::iter::repeat_n(byte, len));
                    }
                }
                data.extend_from_slice(end);
                after_lf = end.ends_with(b"\n");
            }
            Soup {
                data,
                max_line_len,
                isolated,
            }
        })
}

fn item_lines(out: &Batch) -> Vec<u64> {
    let mut lines: Vec<u64> = out
        .reads
        .iter()
        .map(|r| r.line)
        .chain(out.sessions.iter().map(|s| s.line))
        .chain(out.errors.iter().map(|e| e.line))
        .collect();
    lines.sort_unstable();
    lines
}

/// Raw bytes of the good items (reads and session lines), in stream order.
fn good_raws(out: &Batch) -> Vec<Vec<u8>> {
    let mut good: Vec<(u64, Vec<u8>)> = out
        .reads
        .iter()
        .map(|r| (r.line, r.raw().to_vec()))
        .chain(
            out.sessions
                .iter()
                .map(|s| (s.line, s.raw.as_bytes().to_vec())),
        )
        .collect();
    good.sort_unstable();
    good.into_iter().map(|(_, raw)| raw).collect()
}

fn is_subsequence(needles: &[Vec<u8>], haystack: &[Vec<u8>]) -> bool {
    let mut hay = haystack.iter();
    needles.iter().all(|n| hay.any(|h| h == n))
}

fn sorted_cuts(cuts: &[prop::sample::Index], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

fn check_soup(soup: &Soup, cuts: &[prop::sample::Index]) -> Result<(), TestCaseError> {
    let Soup {
        data,
        max_line_len,
        isolated,
    } = soup;
    let cap = *max_line_len;
    let whole = parse_whole(data, cap);

    // Items: one per framed line at most, numbered 0..n without gaps, each within the cap.
    let lfs = data.iter().filter(|&&b| b == b'\n').count();
    prop_assert!(whole.len() <= lfs + 1);
    prop_assert_eq!(
        item_lines(&whole),
        (0..whole.len() as u64).collect::<Vec<_>>()
    );
    prop_assert!(whole.errors.iter().all(|e| e.raw.len() <= cap));
    prop_assert!(whole.reads.iter().all(|r| r.raw().len() <= cap));
    prop_assert!(whole.sessions.iter().all(|s| s.raw.len() <= cap));

    // Junk never eats a neighbouring valid line.
    let good = good_raws(&whole);
    prop_assert!(
        is_subsequence(isolated, &good),
        "valid lines lost: wanted {:?} in {:?}",
        isolated
            .iter()
            .map(|l| String::from_utf8_lossy(l))
            .collect::<Vec<_>>(),
        good.iter()
            .map(|l| String::from_utf8_lossy(l))
            .collect::<Vec<_>>()
    );

    // Any chunking gives the same batch (parse_cut checks the held tail after every feed).
    let split = parse_cut(data, cap, &sorted_cuts(cuts, data.len()));
    prop_assert_eq!(&split, &whole);
    if data.len() <= 4096 {
        prop_assert_eq!(&parse_bytewise(data, cap), &whole);
    }
    for chunk in [3usize, 64] {
        let cuts: Vec<usize> = (chunk..data.len()).step_by(chunk).collect();
        prop_assert_eq!(&parse_cut(data, cap, &cuts), &whole);
    }

    // A parser reused after `finish` starts clean (only line numbers carry on).
    let mut parser = Parser::new(cap);
    parser.feed(data);
    parser.finish();
    let mut again = parser.feed(data);
    again.append(parser.finish());
    let shift = whole.len() as u64;
    again.reads.iter_mut().for_each(|r| r.line -= shift);
    again.sessions.iter_mut().for_each(|s| s.line -= shift);
    again.errors.iter_mut().for_each(|e| e.line -= shift);
    prop_assert_eq!(&again, &whole);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn byte_soup_parses_the_same_however_split(
        soup in soup(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        check_soup(&soup, &cuts)?;
    }

    #[test]
    fn raw_bytes_never_panic_and_stay_bounded(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        max_line_len in prop_oneof![1..4usize, Just(16), Just(DEFAULT_MAX_LINE_LEN)],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let soup = Soup { data, max_line_len, isolated: Vec::new() };
        check_soup(&soup, &cuts)?;
    }

    #[test]
    fn every_vector_split_anywhere_in_a_random_order(
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..60),
        crlf in prop::collection::vec(any::<bool>(), 60),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let all = vectors();
        let plain: Vec<&Vector> = all.iter().filter(|v| v.max_line_len == DEFAULT_MAX_LINE_LEN).collect();
        let mut data = Vec::new();
        let mut isolated = Vec::new();
        for (pick, crlf) in picks.iter().zip(&crlf) {
            let v = plain[pick.index(plain.len())];
            data.extend_from_slice(&v.bytes);
            data.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            if v.valid() && !v.bytes.contains(&0) && !v.bytes.contains(&b'\r') {
                isolated.push(v.bytes.clone());
            }
        }
        let soup = Soup { data, max_line_len: DEFAULT_MAX_LINE_LEN, isolated };
        check_soup(&soup, &cuts)?;
    }
}
