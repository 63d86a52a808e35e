//! The shared line vectors (also run by tests/native on the Python side) against the crate.

use ct_parser::{Batch, Parser, TimeKind, DEFAULT_MAX_LINE_LEN};
use serde_json::Value;

mod common;

use common::{vectors, Vector};

/// The raw bytes a parsed line keeps: NULs dropped, one trailing CR stripped.
fn framed(bytes: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
    if out.last() == Some(&b'\r') {
        out.pop();
    }
    out
}

fn expected_raw(v: &Vector, section: &Value) -> Vec<u8> {
    match section.get("raw") {
        Some(raw) => raw.as_str().unwrap().as_bytes().to_vec(),
        None => framed(&v.bytes),
    }
}

fn kind_name(kind: TimeKind) -> &'static str {
    match kind {
        TimeKind::TimeOfDay => "TIME_OF_DAY",
        TimeKind::Local => "LOCAL",
        TimeKind::Unix => "UNIX",
    }
}

/// Checks the single item of `out` against the vector; `line` is its expected index.
fn check(v: &Vector, out: &Batch, line: u64) {
    let name = &v.name;
    if v.expect.get("ignored").is_some() {
        assert!(out.is_empty(), "{name}: expected nothing, got {out:?}");
        return;
    }
    assert_eq!(out.len(), 1, "{name}: expected one item, got {out:?}");
    if let Some(e) = v.expect.get("read") {
        let r = out
            .reads
            .first()
            .unwrap_or_else(|| panic!("{name}: not a read: {out:?}"));
        assert_eq!(r.line, line, "{name}");
        assert_eq!(r.format.as_str(), e["format"], "{name}");
        assert_eq!(r.seq, e["seq"].as_u64().unwrap(), "{name}");
        assert_eq!(r.location(), e["location"], "{name}");
        assert_eq!(r.tag(), e["tag"], "{name}");
        assert_eq!(r.time_raw(), e["time_raw"], "{name}");
        assert_eq!(kind_name(r.time_kind), e["time_kind"], "{name}");
        assert_eq!(r.time_us, e["time_us"].as_i64().unwrap(), "{name}");
        assert_eq!(u64::from(r.lap), e["lap"].as_u64().unwrap(), "{name}");
        assert_eq!(r.reader(), e["reader"], "{name}");
        assert_eq!(
            u64::from(r.antenna),
            e["antenna"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(r.raw(), expected_raw(v, e), "{name}");
    } else if let Some(e) = v.expect.get("session") {
        let s = out
            .sessions
            .first()
            .unwrap_or_else(|| panic!("{name}: not a session line: {out:?}"));
        assert_eq!(s.line, line, "{name}");
        assert_eq!(s.kind.as_str(), e["kind"], "{name}");
        let fields: Vec<&str> = e["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(s.fields, fields, "{name}");
        assert_eq!(s.raw.as_bytes(), expected_raw(v, e), "{name}");
    } else if let Some(e) = v.expect.get("error") {
        let err = out
            .errors
            .first()
            .unwrap_or_else(|| panic!("{name}: not an error: {out:?}"));
        assert_eq!(err.line, line, "{name}");
        assert_eq!(err.reason.as_str(), e["reason"], "{name}");
        assert_eq!(err.detail, e["detail"], "{name}");
        assert_eq!(err.raw, expected_raw(v, e), "{name}");
    } else {
        panic!("{name}: unknown expectation {}", v.expect);
    }
}

#[test]
fn each_vector_alone() {
    let all = vectors();
    assert!(all.len() > 100);
    for v in &all {
        let mut parser = Parser::new(v.max_line_len);
        let mut out = parser.feed(&[&v.bytes[..], b"\n"].concat());
        out.append(parser.finish());
        check(v, &out, 0);
    }
}

#[test]
fn each_vector_without_a_terminator() {
    for v in vectors() {
        let mut parser = Parser::new(v.max_line_len);
        let mut out = parser.feed(&v.bytes);
        out.append(parser.finish());
        check(&v, &out, 0);
    }
}

#[test]
fn all_vectors_in_one_stream_keep_order_and_numbering() {
    let all: Vec<Vector> = vectors()
        .into_iter()
        .filter(|v| v.max_line_len == DEFAULT_MAX_LINE_LEN)
        .collect();
    let stream: Vec<u8> = all
        .iter()
        .flat_map(|v| [&v.bytes[..], b"\n"].concat())
        .collect();
    let mut parser = Parser::default();
    let mut whole = parser.feed(&stream);
    whole.append(parser.finish());

    let mut line = 0;
    let (mut reads, mut sessions, mut errors) = (0, 0, 0);
    for v in &all {
        let mut one = Batch::default();
        if v.expect.get("read").is_some() {
            one.reads.push(whole.reads[reads].clone());
            reads += 1;
        } else if v.expect.get("session").is_some() {
            one.sessions.push(whole.sessions[sessions].clone());
            sessions += 1;
        } else if v.expect.get("error").is_some() {
            one.errors.push(whole.errors[errors].clone());
            errors += 1;
        }
        check(v, &one, line);
        if !one.is_empty() {
            line += 1;
        }
    }
    assert_eq!(
        (reads, sessions, errors),
        (whole.reads.len(), whole.sessions.len(), whole.errors.len())
    );
}
