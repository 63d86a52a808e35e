//! Turns one framed line into a read, a session line or an error.

use crate::item::{
    Batch, Format, ParseError, Read, Reason, SessionKind, SessionLine, Span, TimeKind,
};
use crate::time::parse_time;

const CT01_FIELDS: usize = 8;
const TO_MIN_FIELDS: usize = 11;
const TO_MAX_FIELDS: usize = 12;

/// Classifies `bytes` (terminator stripped, not blank, within the length cap) into `out`.
pub(crate) fn parse_line(line_no: u64, bytes: &[u8], out: &mut Batch) {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            out.errors.push(ParseError {
                line: line_no,
                reason: Reason::NotUtf8,
                detail: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                raw: bytes.to_vec(),
            });
            return;
        }
    };
    let result = match read_format(bytes) {
        Some((format, sep)) => {
            parse_read(line_no, text, format, sep).map(|read| out.reads.push(read))
        }
        None => match parse_session(text) {
            Some((kind, fields)) => {
                out.sessions.push(SessionLine {
                    line: line_no,
                    kind,
                    fields,
                    raw: text.to_owned(),
                });
                Ok(())
            }
            None => Err((
                Reason::Unrecognised,
                "not a read or a CTP01 session line".to_owned(),
            )),
        },
    };
    if let Err((reason, detail)) = result {
        out.errors.push(ParseError {
            line: line_no,
            reason,
            detail,
            raw: bytes.to_vec(),
        });
    }
}

/// The read format and field separator if the line claims to be a read.
fn read_format(b: &[u8]) -> Option<(Format, u8)> {
    let format = if b.starts_with(b"CT01_33") {
        Format::Ct33
    } else if b.starts_with(b"CT01_13") {
        Format::Ct13
    } else if b.starts_with(b"TO~") || b == b"TO" {
        return Some((Format::To, b'~'));
    } else {
        return None;
    };
    match b.get(7) {
        Some(&sep @ (b'~' | b',')) => Some((format, sep)),
        // A bare format id is a read with one field, reported as such.
        None => Some((format, b'~')),
        Some(_) => None,
    }
}

type LineResult<T> = Result<T, (Reason, String)>;

/// Field spans collected while scanning a line for separators.
struct Fields<const N: usize> {
    spans: [Span; N],
    count: usize,
    start: usize,
}

impl<const N: usize> Fields<N> {
    /// Records a separator at `i`; `false` when it would open field `N + 1`.
    #[inline(always)]
    fn separator(&mut self, i: usize) -> bool {
        if self.count + 1 == N {
            return false;
        }
        self.spans[self.count] = Span::new(self.start, i);
        self.count += 1;
        self.start = i + 1;
        true
    }
}

/// 0x80 in every byte of `v` that is zero, nothing elsewhere (no false positives).
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((v & LOW7).wrapping_add(LOW7)) | v | LOW7)
}

/// Splits on `sep` into at most `N` spans; the count is exact even when it exceeds `N`.
///
/// Eight bytes at a time: a byte loop mispredicts at every field end, and memchr's
/// per-call setup outweighs its speed on lines this short.
fn split_fields<const N: usize>(b: &[u8], sep: u8) -> ([Span; N], usize) {
    let mut fields = Fields::<N> {
        spans: [Span::EMPTY; N],
        count: 0,
        start: 0,
    };
    let splat = u64::from_ne_bytes([sep; 8]);
    let mut chunks = b.chunks_exact(8);
    let mut base = 0;
    let mut overflow = None;
    'scan: for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        let mut hits = zero_bytes(word ^ splat);
        while hits != 0 {
            let i = base + (hits.trailing_zeros() / 8) as usize;
            hits &= hits - 1;
            if !fields.separator(i) {
                overflow = Some(i);
                break 'scan;
            }
        }
        base += 8;
    }
    if overflow.is_none() {
        for (offset, &byte) in chunks.remainder().iter().enumerate() {
            if byte == sep && !fields.separator(base + offset) {
                overflow = Some(base + offset);
                break;
            }
        }
    }
    if let Some(i) = overflow {
        let extra = b[i + 1..].iter().filter(|&&c| c == sep).count();
        return (fields.spans, N + 1 + extra);
    }
    fields.spans[fields.count] = Span::new(fields.start, b.len());
    (fields.spans, fields.count + 1)
}

fn parse_read(line_no: u64, text: &str, format: Format, sep: u8) -> LineResult<Read> {
    let b = text.as_bytes();
    let field = |s: Span| &b[s.range()];
    if format == Format::To {
        let (f, count) = split_fields::<TO_MAX_FIELDS>(b, sep);
        if !(TO_MIN_FIELDS..=TO_MAX_FIELDS).contains(&count) {
            return Err((
                Reason::FieldCount,
                format!("TO line has {count} fields, expected {TO_MIN_FIELDS} or {TO_MAX_FIELDS}"),
            ));
        }
        let seq = parse_seq(text, f[1])?;
        if f[2].is_empty() {
            return Err((Reason::EmptyTag, "field 2 (tag) is empty".to_owned()));
        }
        let time_us = match parse_time(field(f[5])) {
            Some((TimeKind::Unix, us)) => us,
            _ => return Err(not_time(text, f[5], 5, "epoch", "an epoch time")),
        };
        let antenna = parse_u32(text, f[7], 7, "antenna", Reason::BadAntenna)?;
        return Ok(Read {
            line: line_no,
            format,
            seq,
            time_kind: TimeKind::Unix,
            time_us,
            // A controller observation is one passing; SimpleClient sends it as lap 1.
            lap: 1,
            antenna,
            raw: text.into(),
            location: Span::EMPTY,
            tag: f[2],
            time_raw: f[5],
            reader: f[6],
        });
    }
    let (f, count) = split_fields::<CT01_FIELDS>(b, sep);
    if count != CT01_FIELDS {
        return Err((
            Reason::FieldCount,
            format!(
                "{} line has {count} fields, expected {CT01_FIELDS}",
                format.as_str()
            ),
        ));
    }
    let seq = parse_seq(text, f[1])?;
    if f[2].is_empty() {
        return Err((
            Reason::EmptyLocation,
            "field 2 (location) is empty".to_owned(),
        ));
    }
    if f[3].is_empty() {
        return Err((Reason::EmptyTag, "field 3 (tag) is empty".to_owned()));
    }
    let (time_kind, time_us) =
        parse_time(field(f[4])).ok_or_else(|| not_time(text, f[4], 4, "time", "a time"))?;
    let lap = parse_u32(text, f[5], 5, "lap", Reason::BadLap)?;
    let antenna = parse_u32(text, f[7], 7, "antenna", Reason::BadAntenna)?;
    Ok(Read {
        line: line_no,
        format,
        seq,
        time_kind,
        time_us,
        lap,
        antenna,
        raw: text.into(),
        location: f[2],
        tag: f[3],
        time_raw: f[4],
        reader: f[6],
    })
}

fn parse_seq(text: &str, span: Span) -> LineResult<u64> {
    parse_uint(&text.as_bytes()[span.range()])
        .ok_or_else(|| not_uint(text, span, 1, "seq", Reason::BadSeq))
}

fn parse_u32(text: &str, span: Span, index: usize, name: &str, reason: Reason) -> LineResult<u32> {
    parse_uint(&text.as_bytes()[span.range()])
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| not_uint(text, span, index, name, reason))
}

// Error texts are built out of line so the per-read path stays small.
#[cold]
#[inline(never)]
fn not_uint(text: &str, span: Span, index: usize, name: &str, reason: Reason) -> (Reason, String) {
    let s = &text[span.range()];
    (
        reason,
        format!("field {index} ({name}) '{s}' is not an unsigned integer"),
    )
}

#[cold]
#[inline(never)]
fn not_time(text: &str, span: Span, index: usize, name: &str, kind: &str) -> (Reason, String) {
    let s = &text[span.range()];
    (
        Reason::BadTime,
        format!("field {index} ({name}) '{s}' is not {kind}"),
    )
}

/// ASCII digits only (no sign, no spaces), leading zeros allowed, fitting in u64.
fn parse_uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn owned(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

/// Recognises the protocol lines of a CTP01 session; `None` means unrecognised.
fn parse_session(text: &str) -> Option<(SessionKind, Vec<String>)> {
    let parts: Vec<&str> = text.split('~').collect();
    let n = parts.len();
    // A keyword decides the kind on its own: a malformed `start~~5` must not pass as a header.
    match parts[0] {
        "ack" => return (n >= 2).then(|| (SessionKind::Ack, owned(&parts[1..]))),
        "err" => return (n >= 2).then(|| (SessionKind::Err, owned(&parts[1..]))),
        "ping" => {
            return match parts[1..] {
                [] => Some((SessionKind::Ping, Vec::new())),
                ["ack"] => Some((SessionKind::Ping, owned(&parts[1..]))),
                _ => None,
            }
        }
        "start" => {
            let ok = match parts[1..] {
                [] => true,
                [loc] => !loc.is_empty(),
                [loc, seq] => !loc.is_empty() && is_digits(seq),
                _ => false,
            };
            return ok.then(|| (SessionKind::Command, owned(&parts)));
        }
        "stop" => {
            let ok = match parts[1..] {
                [] => true,
                [loc] => !loc.is_empty(),
                _ => false,
            };
            return ok.then(|| (SessionKind::Command, owned(&parts)));
        }
        "getlocations" | "geteventinfo" | "getconnectionid" => {
            return (n == 1).then(|| (SessionKind::Command, owned(&parts)));
        }
        _ => {}
    }
    if n == 3 && !parts[0].is_empty() {
        if parts[2] == "CTP01" {
            return Some((SessionKind::Greeting, owned(&parts[..2])));
        }
        if is_digits(parts[2]) {
            return Some((SessionKind::Header, owned(&parts)));
        }
        return None;
    }
    if n == 1 {
        if let Some((key, value)) = text.split_once('=') {
            if !key.is_empty() {
                return Some((SessionKind::Setting, vec![key.to_owned(), value.to_owned()]));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Batch {
        let mut out = Batch::default();
        parse_line(0, line.as_bytes(), &mut out);
        assert_eq!(out.len(), 1, "{line:?} gave {out:?}");
        out
    }

    fn reason(line: &str) -> Reason {
        let out = one(line);
        out.errors
            .first()
            .unwrap_or_else(|| panic!("{line:?} parsed: {out:?}"))
            .reason
    }

    fn session(line: &str) -> (SessionKind, Vec<String>) {
        let out = one(line);
        let s = out
            .sessions
            .first()
            .unwrap_or_else(|| panic!("{line:?}: {out:?}"));
        (s.kind, s.fields.clone())
    }

    #[test]
    fn split_fields_counts_exactly_at_any_position() {
        for len in 0..40 {
            for seps in [
                vec![],
                vec![0],
                vec![len / 2],
                (0..len).step_by(3).collect::<Vec<_>>(),
            ] {
                let mut line = vec![b'a'; len];
                for &i in seps.iter().filter(|&&i| i < len) {
                    line[i] = b'~';
                }
                let naive: Vec<&[u8]> = line.split(|&c| c == b'~').collect();
                let (spans, count) = split_fields::<4>(&line, b'~');
                assert_eq!(count, naive.len(), "{line:?}");
                // Spans are only meaningful when the count fits.
                if count <= 4 {
                    for (span, want) in spans.iter().zip(&naive) {
                        assert_eq!(&line[span.range()], *want, "{line:?}");
                    }
                }
            }
        }
        assert_eq!(zero_bytes(0x0100_ff80_7f00_0001), 0x0080_0000_0080_8000);
    }

    #[test]
    fn ct01_read_fields_are_slices_of_the_raw_line() {
        let out = one("CT01_33~41~FINISH~1187~08:21:44.90~1~0D4E5F~2");
        let r = &out.reads[0];
        assert_eq!(r.format, Format::Ct33);
        assert_eq!((r.seq, r.location(), r.tag()), (41, "FINISH", "1187"));
        assert_eq!(
            (r.time_raw(), r.time_kind),
            ("08:21:44.90", TimeKind::TimeOfDay)
        );
        assert_eq!((r.lap, r.reader(), r.antenna), (1, "0D4E5F", 2));
        assert_eq!(r.raw(), b"CT01_33~41~FINISH~1187~08:21:44.90~1~0D4E5F~2");
    }

    #[test]
    fn comma_separator_follows_the_format_id() {
        let out = one("CT01_13,7,FINISH,2311,08:23:09.61,1,0D4E5F,4");
        assert_eq!(out.reads[0].format, Format::Ct13);
        assert_eq!(out.reads[0].location(), "FINISH");
        assert_eq!(
            reason("CT01_13,7~FINISH~2311~08:23:09.61~1~0D4E5F~4"),
            Reason::FieldCount
        );
        assert_eq!(reason("CT01_33;7;FINISH"), Reason::Unrecognised);
    }

    #[test]
    fn to_lines_with_and_without_hits() {
        let out = one("TO~000001~009573~160~018~1620460343.17~104484~8~-71~00001~P~10");
        let r = &out.reads[0];
        assert_eq!(
            (r.format, r.seq, r.tag(), r.location()),
            (Format::To, 1, "009573", "")
        );
        assert_eq!(r.time_us, 1_620_460_343_170_000);
        assert_eq!((r.reader(), r.antenna, r.lap), ("104484", 8, 1));
        assert_eq!(
            one("TO~1~99995~160~1~1620459054.85~10E747~8~-59~1~P")
                .reads
                .len(),
            1
        );
        assert_eq!(
            reason("TO~1~99995~160~1~1620459054.85~10E747~8~-59~1"),
            Reason::FieldCount
        );
        assert_eq!(
            reason("TO~1~99995~160~1~08:00:00~10E747~8~-59~1~P"),
            Reason::BadTime
        );
        assert_eq!(reason("TO"), Reason::FieldCount);
    }

    #[test]
    fn first_bad_field_wins() {
        assert_eq!(reason("CT01_33~x~~~bad~x~R~x"), Reason::BadSeq);
        assert_eq!(reason("CT01_33~1~~~bad~x~R~x"), Reason::EmptyLocation);
        assert_eq!(reason("CT01_33~1~L~~bad~x~R~x"), Reason::EmptyTag);
        assert_eq!(reason("CT01_33~1~L~T~bad~x~R~x"), Reason::BadTime);
        assert_eq!(reason("CT01_33~1~L~T~08:00:00~x~R~x"), Reason::BadLap);
        assert_eq!(reason("CT01_33~1~L~T~08:00:00~1~R~x"), Reason::BadAntenna);
        assert_eq!(
            reason("CT01_33~1~L~T~08:00:00~4294967296~R~1"),
            Reason::BadLap
        );
        assert_eq!(
            reason("CT01_33~18446744073709551616~L~T~08:00:00~1~R~1"),
            Reason::BadSeq
        );
        assert_eq!(reason("CT01_33~1~L~T~08:00:00~1~R~1~"), Reason::FieldCount);
        assert_eq!(reason("CT01_33"), Reason::FieldCount);
    }

    #[test]
    fn error_details_name_the_field() {
        let out = one("CT01_33~1~START~1204~25:99:00~1~0A1B2C~1");
        assert_eq!(
            out.errors[0].detail,
            "field 4 (time) '25:99:00' is not a time"
        );
        let out = one("CT01_33~1~START~1204");
        assert_eq!(
            out.errors[0].detail,
            "CT01_33 line has 4 fields, expected 8"
        );
    }

    #[test]
    fn invalid_utf8_reports_where() {
        let mut out = Batch::default();
        parse_line(3, b"CT01_33~1~ST\xffART", &mut out);
        assert_eq!(out.errors[0].reason, Reason::NotUtf8);
        assert_eq!(out.errors[0].detail, "invalid UTF-8 at byte 12");
        assert_eq!(out.errors[0].line, 3);
    }

    #[test]
    fn session_lines() {
        use SessionKind::*;
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            session("SimpleClient~0.6.0~CTP01"),
            (Greeting, v(&["SimpleClient", "0.6.0"]))
        );
        assert_eq!(
            session("RaceDisplay~1.0~5"),
            (Header, v(&["RaceDisplay", "1.0", "5"]))
        );
        assert_eq!(
            session("time-format=iso"),
            (Setting, v(&["time-format", "iso"]))
        );
        assert_eq!(session("a=b=c"), (Setting, v(&["a", "b=c"])));
        assert_eq!(session("ack~ping"), (Ack, v(&["ping"])));
        assert_eq!(
            session("ack~getlocations~START~FINISH"),
            (Ack, v(&["getlocations", "START", "FINISH"]))
        );
        assert_eq!(session("ping"), (Ping, v(&[])));
        assert_eq!(session("ping~ack"), (Ping, v(&["ack"])));
        assert_eq!(
            session("err~start~no such location"),
            (Err, v(&["start", "no such location"]))
        );
        assert_eq!(
            session("start~10K~42"),
            (Command, v(&["start", "10K", "42"]))
        );
        assert_eq!(session("stop"), (Command, v(&["stop"])));
        assert_eq!(
            session("getconnectionid"),
            (Command, v(&["getconnectionid"]))
        );
        for bad in [
            "ack",
            "ping~x",
            "start~~5",
            "start~A~x",
            "stop~A~1",
            "getlocations~x",
            "=x",
            "hello",
            "a~b",
        ] {
            assert_eq!(reason(bad), Reason::Unrecognised, "{bad}");
        }
    }
}
