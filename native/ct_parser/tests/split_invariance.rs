//! Property: however a byte stream is cut into feeds, it parses to the same batch.

use ct_parser::{Batch, Parser};
use proptest::prelude::*;

fn clock() -> impl Strategy<Value = String> {
    (0..24u32, 0..60u32, 0..60u32, 0..=6usize, 0..1_000_000u32).prop_map(
        |(h, m, s, digits, frac)| {
            let frac = format!("{frac:06}");
            let frac = if digits == 0 {
                String::new()
            } else {
                format!(".{}", &frac[..digits])
            };
            format!("{h:02}:{m:02}:{s:02}{frac}")
        },
    )
}

fn time_field() -> impl Strategy<Value = String> {
    prop_oneof![
        clock(),
        (
            1970..2100u32,
            1..=12u32,
            1..=28u32,
            prop::bool::ANY,
            clock()
        )
            .prop_map(|(y, mo, d, t, c)| format!(
                "{y}-{mo:02}-{d:02}{}{c}",
                if t { 'T' } else { ' ' }
            )),
        (0..99_999_999_999u64, 0..100u32).prop_map(|(s, hh)| format!("{s}.{hh:02}")),
        (100_000_000_000..999_999_999_999_999u64).prop_map(|ms| ms.to_string()),
    ]
}

fn read_line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just("CT01_33"), Just("CT01_13")],
        prop_oneof![Just('~'), Just(',')],
        0..100_000_000u64,
        "[A-Za-z0-9][A-Za-z0-9 -]{0,11}",
        prop_oneof!["[0-9]{1,6}", Just("guntime".to_owned()), Just("newlocation".to_owned())],
        time_field(),
        0..100u32,
        "[0-9A-F]{6}",
        0..9u32,
    )
        .prop_map(|(format, sep, seq, loc, tag, time, lap, reader, antenna)| {
            format!("{format}{sep}{seq}{sep}{loc}{sep}{tag}{sep}{time}{sep}{lap}{sep}{reader}{sep}{antenna}")
                .into_bytes()
        })
}

fn to_line() -> impl Strategy<Value = Vec<u8>> {
    (
        0..1_000_000u64,
        "[0-9]{1,6}",
        1_600_000_000..1_700_000_000u64,
        0..100u32,
        1..9u32,
        prop::bool::ANY,
    )
        .prop_map(|(seq, tag, secs, hh, antenna, hits)| {
            let hits = if hits { "~17" } else { "" };
            format!("TO~{seq:06}~{tag}~160~18~{secs}.{hh:02}~12000C~{antenna}~-63~{seq}~P{hits}")
                .into_bytes()
        })
}

fn session_line() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        "SimpleClient~0.6.0~CTP01",
        "RaceDisplay~1.0~5",
        "stream-mode=push",
        "time-format=iso",
        "ack~getlocations~START~FINISH",
        "ack~ping",
        "ping",
        "start~FINISH~42",
        "getlocations",
    ])
    .prop_map(|s| s.as_bytes().to_vec())
}

/// A line that is not valid (so the stream carries errors too) or blank.
fn odd_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,30}".prop_map(String::into_bytes),
        prop::collection::vec(128..=255u8, 1..6),
        Just(b"  \t".to_vec()),
        Just(Vec::new()),
        Just(b"CT01_33~1~START~1204~25:99:00~1~0A1B2C~1".to_vec()),
    ]
}

fn stream() -> impl Strategy<Value = (Vec<u8>, usize)> {
    let line = prop_oneof![
        4 => read_line(),
        2 => to_line(),
        1 => session_line(),
        1 => odd_line(),
    ];
    (
        prop::collection::vec((line, prop::bool::ANY), 0..40),
        prop::bool::ANY,
        prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        prop::sample::select(vec![4096usize, 60, 45, 16]),
    )
        .prop_map(|(lines, terminate_last, nuls, max_line_len)| {
            let mut data = Vec::new();
            let n = lines.len();
            for (i, (line, crlf)) in lines.into_iter().enumerate() {
                data.extend_from_slice(&line);
                if i + 1 < n || terminate_last {
                    data.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                }
            }
            for at in nuls {
                let pos = at.index(data.len() + 1);
                data.insert(pos, 0);
            }
            (data, max_line_len)
        })
}

fn parse_whole(data: &[u8], max_line_len: usize) -> Batch {
    let mut parser = Parser::new(max_line_len);
    let mut out = parser.feed(data);
    out.append(parser.finish());
    out
}

fn parse_split(data: &[u8], max_line_len: usize, cuts: &[prop::sample::Index]) -> Batch {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parser = Parser::new(max_line_len);
    let mut out = Batch::default();
    let mut start = 0;
    for cut in cuts.into_iter().chain([data.len()]) {
        out.append(parser.feed(&data[start..cut]));
        assert!(parser.pending() <= max_line_len + 1);
        start = cut;
    }
    out.append(parser.finish());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_streams_parse_the_same_however_split(
        (data, max_line_len) in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let whole = parse_whole(&data, max_line_len);
        let split = parse_split(&data, max_line_len, &cuts);
        prop_assert_eq!(&split, &whole);
        let mut lines: Vec<u64> = whole.reads.iter().map(|r| r.line)
            .chain(whole.sessions.iter().map(|s| s.line))
            .chain(whole.errors.iter().map(|e| e.line))
            .collect();
        lines.sort_unstable();
        prop_assert_eq!(lines, (0..whole.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn generated_reads_all_parse(lines in prop::collection::vec(prop_oneof![read_line(), to_line()], 1..30)) {
        let data: Vec<u8> = lines.iter().flat_map(|l| [&l[..], b"\r\n"].concat()).collect();
        let whole = parse_whole(&data, 4096);
        prop_assert!(whole.errors.is_empty(), "{:?}", whole.errors);
        prop_assert_eq!(whole.reads.len(), lines.len());
    }

    #[test]
    fn arbitrary_bytes_parse_the_same_however_split(
        data in prop::collection::vec(
            prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(0u8), Just(b'~')], 0..600),
        max_line_len in 1..64usize,
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        prop_assert_eq!(parse_split(&data, max_line_len, &cuts), parse_whole(&data, max_line_len));
    }
}
