//! What a parsed line becomes: a read, a session line or an error, collected in a batch.

use std::fmt;

/// How the time field of a read was written, which decides what `time_us` counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimeKind {
    /// `HH:MM:SS[.f]`: µs since midnight, no date.
    TimeOfDay = 0,
    /// `YYYY-MM-DDTHH:MM:SS[.f]`: µs since 1970-01-01T00:00 of the naive wall clock.
    Local = 1,
    /// Epoch seconds or milliseconds: µs since the UTC epoch.
    Unix = 2,
}

/// The line format a read came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Ct33,
    Ct13,
    /// A raw controller observation (`TO~…`), as stored in the controller's files.
    To,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ct33 => "CT01_33",
            Format::Ct13 => "CT01_13",
            Format::To => "TO",
        }
    }
}

/// Byte range of a field inside the line it came from. `u32` keeps a `Read` small, which
/// matters when tens of thousands are moved into a batch; lines are capped far below 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) const EMPTY: Span = Span { start: 0, end: 0 };

    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Lines are at most MAX_LINE_LEN_CAP bytes, so neither offset can truncate.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    pub(crate) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub(crate) fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One chip read. The text fields are slices of the raw line, so a read costs one
/// allocation however many fields it has.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Read {
    pub line: u64,
    pub format: Format,
    pub seq: u64,
    pub time_kind: TimeKind,
    pub time_us: i64,
    pub lap: u32,
    pub antenna: u32,
    pub(crate) raw: Box<str>,
    pub(crate) location: Span,
    pub(crate) tag: Span,
    pub(crate) time_raw: Span,
    pub(crate) reader: Span,
}

impl Read {
    fn field(&self, span: Span) -> &str {
        &self.raw[span.range()]
    }

    /// The timing point; empty for `TO` lines, whose file's folder names the point.
    pub fn location(&self) -> &str {
        self.field(self.location)
    }

    /// The chip code exactly as sent (zero padding kept).
    pub fn tag(&self) -> &str {
        self.field(self.tag)
    }

    /// The time field exactly as sent.
    pub fn time_raw(&self) -> &str {
        self.field(self.time_raw)
    }

    pub fn reader(&self) -> &str {
        self.field(self.reader)
    }

    /// The whole line without its terminator.
    pub fn raw(&self) -> &[u8] {
        self.raw.as_bytes()
    }

    pub fn raw_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Debug for Read {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Read")
            .field("line", &self.line)
            .field("format", &self.format.as_str())
            .field("seq", &self.seq)
            .field("location", &self.location())
            .field("tag", &self.tag())
            .field("time_raw", &self.time_raw())
            .field("time_kind", &self.time_kind)
            .field("time_us", &self.time_us)
            .field("lap", &self.lap)
            .field("reader", &self.reader())
            .field("antenna", &self.antenna)
            .field("raw", &self.raw_str())
            .finish()
    }
}

/// Which protocol line a [`SessionLine`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    Greeting,
    Header,
    Setting,
    Ack,
    Ping,
    Err,
    Command,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Greeting => "greeting",
            SessionKind::Header => "header",
            SessionKind::Setting => "setting",
            SessionKind::Ack => "ack",
            SessionKind::Ping => "ping",
            SessionKind::Err => "err",
            SessionKind::Command => "command",
        }
    }
}

/// A CTP01 protocol line (greeting, settings, acks, pings, commands).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionLine {
    pub line: u64,
    pub kind: SessionKind,
    pub fields: Vec<String>,
    pub raw: String,
}

/// Why a line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    LineTooLong,
    NotUtf8,
    FieldCount,
    BadSeq,
    BadTime,
    BadLap,
    BadAntenna,
    EmptyTag,
    EmptyLocation,
    Unrecognised,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::LineTooLong => "line_too_long",
            Reason::NotUtf8 => "not_utf8",
            Reason::FieldCount => "field_count",
            Reason::BadSeq => "bad_seq",
            Reason::BadTime => "bad_time",
            Reason::BadLap => "bad_lap",
            Reason::BadAntenna => "bad_antenna",
            Reason::EmptyTag => "empty_tag",
            Reason::EmptyLocation => "empty_location",
            Reason::Unrecognised => "unrecognised",
        }
    }
}

/// A line that could not be parsed, kept as data so the caller can count and store it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParseError {
    pub line: u64,
    pub reason: Reason,
    pub detail: String,
    /// The offending bytes, capped at the parser's `max_line_len`.
    pub raw: Vec<u8>,
}

/// Everything one `feed` or `finish` produced, each list in stream order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub reads: Vec<Read>,
    pub sessions: Vec<SessionLine>,
    pub errors: Vec<ParseError>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.sessions.is_empty() && self.errors.is_empty()
    }

    /// Number of items (reads, session lines and errors together).
    pub fn len(&self) -> usize {
        self.reads.len() + self.sessions.len() + self.errors.len()
    }

    /// Appends `other`, which must come later in the same stream.
    pub fn append(&mut self, mut other: Batch) {
        self.reads.append(&mut other.reads);
        self.sessions.append(&mut other.sessions);
        self.errors.append(&mut other.errors);
    }
}
