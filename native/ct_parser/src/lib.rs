//! Incremental, I/O-free parser for ChronoTrack CTP01 streams (reads, session lines, errors).

mod item;
mod line;
mod time;

use memchr::memchr;

pub use item::{Batch, Format, ParseError, Read, Reason, SessionKind, SessionLine, TimeKind};

/// Default cap on a line's length: a CT01 read is under 100 bytes.
pub const DEFAULT_MAX_LINE_LEN: usize = 4096;

/// Largest accepted `max_line_len`; larger values are lowered to it (field offsets are `u32`).
pub const MAX_LINE_LEN_CAP: usize = 1 << 30;

/// Stateful stream parser: framing plus per-line classification.
///
/// Feed it bytes as they come off a socket; every call returns the complete lines it
/// could parse and keeps the partial tail for the next call. Bad lines come back as
/// [`ParseError`] values, never as a failure of the call.
///
/// ```
/// let mut parser = ct_parser::Parser::new(4096);
/// let batch = parser.feed(b"SimpleClient~0.6.0~CTP01\r\nCT01_33~1~START~1204~07:58:12.45~1~0A1B2C~1\r\nCT01_");
/// assert_eq!((batch.sessions.len(), batch.reads.len()), (1, 1));
/// assert_eq!(parser.pending(), 5);
/// ```
///
/// Framing is defined on the stream with every NUL byte removed: lines end at LF, one
/// trailing CR is stripped, lines of nothing but spaces, tabs and CRs are skipped without
/// taking a line number. The result does not depend on how the stream is cut into feeds.
#[derive(Debug, Clone)]
pub struct Parser {
    max_line_len: usize,
    /// Bytes of the current unterminated line, never more than `max_line_len + 1`
    /// (the extra byte is a CR that an LF may still turn into the terminator).
    tail: Vec<u8>,
    /// Inside an over-long line that was already reported: drop bytes up to the next LF.
    discarding: bool,
    next_line: u64,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_LEN)
    }
}

impl Parser {
    /// A parser that reports lines longer than `max_line_len` bytes (terminator excluded).
    pub fn new(max_line_len: usize) -> Self {
        Parser {
            max_line_len: max_line_len.min(MAX_LINE_LEN_CAP),
            tail: Vec::new(),
            discarding: false,
            next_line: 0,
        }
    }

    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// Bytes held in the partial tail.
    pub fn pending(&self) -> usize {
        self.tail.len()
    }

    /// Index the next non-blank line will get.
    pub fn lines_seen(&self) -> u64 {
        self.next_line
    }

    /// Parses every line that `data` completes; keeps the unterminated rest.
    pub fn feed(&mut self, data: &[u8]) -> Batch {
        let mut out = Batch::default();
        self.feed_into(data, &mut out);
        out
    }

    /// Like [`Parser::feed`], appending to an existing batch.
    pub fn feed_into(&mut self, data: &[u8], out: &mut Batch) {
        // Scanning the NUL-free pieces one after another is the same as scanning the
        // stream with NULs removed, because scanning does not depend on where input is cut.
        let mut rest = data;
        while let Some(nul) = memchr(0, rest) {
            self.scan(&rest[..nul], out);
            rest = &rest[nul + 1..];
        }
        self.scan(rest, out);
    }

    /// End of stream: the kept tail, if any, is parsed as a last line.
    pub fn finish(&mut self) -> Batch {
        let mut out = Batch::default();
        if self.discarding {
            self.discarding = false;
        } else if !self.tail.is_empty() {
            let tail = std::mem::take(&mut self.tail);
            self.complete_line(&tail, &mut out);
            self.tail = tail;
            self.tail.clear();
        }
        out
    }

    fn scan(&mut self, data: &[u8], out: &mut Batch) {
        let mut rest = data;
        if self.discarding {
            match memchr(b'\n', rest) {
                None => return,
                Some(lf) => {
                    self.discarding = false;
                    rest = &rest[lf + 1..];
                }
            }
        }
        if !self.tail.is_empty() {
            match memchr(b'\n', rest) {
                None => {
                    self.hold(rest, out);
                    return;
                }
                Some(lf) => {
                    self.join_tail(&rest[..lf], out);
                    rest = &rest[lf + 1..];
                }
            }
        }
        let mut start = 0;
        for lf in memchr::memchr_iter(b'\n', rest) {
            self.complete_line(&rest[start..lf], out);
            start = lf + 1;
        }
        if start < rest.len() {
            self.hold(&rest[start..], out);
        }
    }

    /// Ends the held line with `head`, the bytes before the LF that completes it.
    fn join_tail(&mut self, head: &[u8], out: &mut Batch) {
        let mut tail = std::mem::take(&mut self.tail);
        let total = tail.len() + head.len();
        let ends_with_cr = head.last().or(tail.last()) == Some(&b'\r');
        if total - usize::from(ends_with_cr) > self.max_line_len {
            // Checked before joining so a huge `head` is never copied.
            let keep = self.max_line_len.min(tail.len());
            tail.truncate(keep);
            let more = self.max_line_len - keep;
            tail.extend_from_slice(&head[..more.min(head.len())]);
            self.too_long(tail.clone(), out);
        } else {
            tail.extend_from_slice(head);
            self.complete_line(&tail, out);
        }
        tail.clear();
        self.tail = tail;
    }

    /// Keeps unterminated bytes, or reports the line once it cannot fit any more.
    fn hold(&mut self, bytes: &[u8], out: &mut Batch) {
        if self.tail.len() + bytes.len() > self.max_line_len + 1 {
            let mut raw = std::mem::take(&mut self.tail);
            raw.truncate(self.max_line_len);
            let more = self.max_line_len - raw.len();
            raw.extend_from_slice(&bytes[..more.min(bytes.len())]);
            self.too_long(raw, out);
            self.discarding = true;
        } else {
            self.tail.extend_from_slice(bytes);
        }
    }

    /// A whole line without its LF (NUL-free), possibly ending with the CR to strip.
    fn complete_line(&mut self, seg: &[u8], out: &mut Batch) {
        let content = seg.strip_suffix(b"\r").unwrap_or(seg);
        if content.len() > self.max_line_len {
            self.too_long(content[..self.max_line_len].to_vec(), out);
            return;
        }
        if content.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
            return;
        }
        let line_no = self.next_line;
        self.next_line += 1;
        line::parse_line(line_no, content, out);
    }

    fn too_long(&mut self, raw: Vec<u8>, out: &mut Batch) {
        let line_no = self.next_line;
        self.next_line += 1;
        out.errors.push(ParseError {
            line: line_no,
            reason: Reason::LineTooLong,
            detail: format!(
                "line longer than {} bytes; the rest of it is discarded",
                self.max_line_len
            ),
            raw,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &[u8] = b"CT01_33~1~START~1204~07:58:12.45~1~0A1B2C~1";

    fn all(parser: &mut Parser, data: &[u8]) -> Batch {
        let mut out = parser.feed(data);
        out.append(parser.finish());
        out
    }

    #[test]
    fn crlf_lf_and_a_final_line_without_terminator() {
        let mut p = Parser::default();
        let data = [READ, b"\r\n", READ, b"\n", READ].concat();
        let out = p.feed(&data);
        assert_eq!(out.reads.len(), 2);
        assert_eq!(p.pending(), READ.len());
        let out = p.finish();
        assert_eq!(out.reads.len(), 1);
        assert_eq!(out.reads[0].line, 2);
        assert_eq!(p.pending(), 0);
        assert!(p.finish().is_empty());
    }

    #[test]
    fn only_one_cr_is_stripped() {
        let out = all(&mut Parser::default(), b"ping\r\r\n");
        assert_eq!(out.errors[0].reason, Reason::Unrecognised);
        assert_eq!(out.errors[0].raw, b"ping\r");
    }

    #[test]
    fn nuls_vanish_even_inside_a_terminator() {
        let out = all(&mut Parser::default(), b"\0pi\0ng\r\0\n\0\0\r\n\0");
        assert_eq!(out.sessions.len(), 1);
        assert_eq!(out.sessions[0].raw, "ping");
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn blank_lines_take_no_line_number() {
        let out = all(&mut Parser::default(), b"\r\n\n  \t\r\nping\n\r\r\nping\n");
        let lines: Vec<u64> = out.sessions.iter().map(|s| s.line).collect();
        assert_eq!(lines, [0, 1]);
    }

    #[test]
    fn line_numbers_continue_across_feeds_and_kinds() {
        let mut p = Parser::default();
        let mut out = p.feed(b"ping\nbogus\n");
        out.append(p.feed(&[READ, b"\n"].concat()));
        assert_eq!(out.sessions[0].line, 0);
        assert_eq!(out.errors[0].line, 1);
        assert_eq!(out.reads[0].line, 2);
        assert_eq!(p.lines_seen(), 3);
    }

    #[test]
    fn exactly_max_len_fits_with_or_without_cr() {
        for data in [&b"ping\n"[..], b"ping\r\n", b"ping"] {
            let mut p = Parser::new(4);
            let out = all(&mut p, data);
            assert_eq!(out.sessions.len(), 1, "{data:?}");
        }
        for data in [&b"pings\n"[..], b"pings\r\n", b"pings", b"ping\rx\r\n"] {
            let mut p = Parser::new(4);
            let out = all(&mut p, data);
            assert_eq!(out.errors.len(), 1, "{data:?}");
            assert_eq!(out.errors[0].reason, Reason::LineTooLong);
            assert_eq!(out.errors[0].raw.len(), 4);
        }
    }

    #[test]
    fn too_long_line_split_byte_by_byte_is_reported_once() {
        let mut p = Parser::new(8);
        let mut out = Batch::default();
        for b in b"0123456789abcdef\r\nping\n" {
            out.append(p.feed(std::slice::from_ref(b)));
            assert!(p.pending() <= 9);
        }
        out.append(p.finish());
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].raw, b"01234567");
        assert_eq!((out.errors[0].line, out.sessions[0].line), (0, 1));
    }

    #[test]
    fn ten_megabyte_line_stays_bounded_and_is_one_error() {
        let huge = vec![b'A'; 10 * 1024 * 1024];
        let mut p = Parser::new(4096);
        let mut out = Batch::default();
        for chunk in huge.chunks(64 * 1024) {
            out.append(p.feed(chunk));
            assert!(p.pending() <= 4097, "pending {}", p.pending());
        }
        assert!(p.tail.capacity() <= 2 * 4097);
        out.append(p.finish());
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].reason, Reason::LineTooLong);
        assert_eq!(out.errors[0].raw.len(), 4096);
        assert_eq!(out.len(), 1);

        // Whole in one feed, then the stream recovers at the next LF.
        let mut p = Parser::new(4096);
        let mut out = p.feed(&huge);
        assert_eq!(p.pending(), 0);
        out.append(p.feed(&[b"AAAA\r\n", READ, b"\r\n"].concat()));
        out.append(p.finish());
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.reads.len(), 1);
        assert_eq!(out.reads[0].line, 1);
    }

    #[test]
    fn a_parser_is_reusable_after_finish() {
        let mut p = Parser::default();
        assert_eq!(all(&mut p, READ).reads.len(), 1);
        let out = all(&mut p, READ);
        assert_eq!(out.reads[0].line, 1);
    }
}
