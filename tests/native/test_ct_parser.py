"""The ct_parser binding: shared vectors, split invariance, framing limits, stubs, real files."""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import ct_parser
import pytest
from ct_parser import LOCAL, TIME_OF_DAY, UNIX, Batch, ParseError, Parser, Read, SessionLine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
VECTORS_PATH = REPO / "tests" / "vectors" / "ctp01_lines.json"
REAL_DATA = REPO.parent / "shared" / "data" / "chronotrack-2021"
REAL_DATA_READS = 64_990
TIME_KINDS = {"TIME_OF_DAY": TIME_OF_DAY, "LOCAL": LOCAL, "UNIX": UNIX}
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def _load_py_parser() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "py_ct_parser", REPO / "benchmarks" / "py_ct_parser.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve the module through sys.modules while the class body runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


py_ct_parser = _load_py_parser()


def vector_bytes(v: dict[str, Any]) -> bytes:
    if "line_hex" in v:
        return bytes.fromhex(v["line_hex"])
    return str(v["line"]).encode()


def framed(data: bytes) -> bytes:
    data = data.replace(b"\0", b"")
    return data[:-1] if data.endswith(b"\r") else data


def parse_all(data: bytes, max_line_len: int = 4096, chunk: int | None = None) -> Merged:
    """Every item of `data` as one merged batch-like object of lists."""
    parser = Parser(max_line_len)
    batches = (
        [parser.feed(data[i : i + chunk]) for i in range(0, len(data), chunk)]
        if chunk
        else [parser.feed(data)]
    )
    batches.append(parser.finish())
    return Merged(batches)


class Merged:
    def __init__(self, batches: list[Batch] | list[Any]) -> None:
        self.reads = [r for b in batches for r in b.reads]
        self.sessions = [s for b in batches for s in b.sessions]
        self.errors = [e for b in batches for e in b.errors]

    def items(self) -> int:
        return len(self.reads) + len(self.sessions) + len(self.errors)


def check_vector(v: dict[str, Any], out: Merged, line: int) -> None:
    expect = v["expect"]
    if "ignored" in expect:
        assert out.items() == 0
        return
    assert out.items() == 1, (out.reads, out.sessions, out.errors)
    if "read" in expect:
        e = expect["read"]
        [r] = out.reads
        assert isinstance(r, Read)
        got = {k: getattr(r, k) for k in e if k not in ("time_kind", "raw")}
        assert got == {k: val for k, val in e.items() if k not in ("time_kind", "raw")}
        assert r.time_kind == TIME_KINDS[e["time_kind"]]
        assert r.line == line
        assert r.raw == (e["raw"].encode() if "raw" in e else framed(vector_bytes(v)))
    elif "session" in expect:
        e = expect["session"]
        [s] = out.sessions
        assert isinstance(s, SessionLine)
        assert (s.line, s.kind, s.fields) == (line, e["kind"], e["fields"])
        assert s.raw == (e["raw"].encode() if "raw" in e else framed(vector_bytes(v)))
    else:
        e = expect["error"]
        [err] = out.errors
        assert isinstance(err, ParseError)
        assert (err.line, err.reason, err.detail) == (line, e["reason"], e["detail"])
        assert err.raw == (e["raw"].encode() if "raw" in e else framed(vector_bytes(v)))


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    max_line_len = vector.get("max_line_len", 4096)
    check_vector(vector, parse_all(vector_bytes(vector) + b"\n", max_line_len), 0)
    check_vector(vector, parse_all(vector_bytes(vector), max_line_len), 0)


def test_all_vectors_in_one_stream_keep_order_and_numbering() -> None:
    plain = [v for v in VECTORS if "max_line_len" not in v]
    out = parse_all(b"".join(vector_bytes(v) + b"\n" for v in plain))
    reads, sessions, errors = iter(out.reads), iter(out.sessions), iter(out.errors)
    line = 0
    for v in plain:
        kind = next(iter(v["expect"]))
        one = Merged([])
        if kind == "read":
            one.reads.append(next(reads))
        elif kind == "session":
            one.sessions.append(next(sessions))
        elif kind == "error":
            one.errors.append(next(errors))
        check_vector(v, one, line)
        line += one.items()
    assert [next(it, None) for it in (reads, sessions, errors)] == [None, None, None]


def as_tuples(out: Any) -> tuple[list[tuple[Any, ...]], ...]:
    """Field values of any batch-like object, so Rust and Python results compare directly."""
    return (
        [
            (
                r.line,
                r.format,
                r.seq,
                r.location,
                r.tag,
                r.time_raw,
                r.time_kind,
                r.time_us,
                r.lap,
                r.reader,
                r.antenna,
                r.raw,
            )
            for r in out.reads
        ],
        [(s.line, s.kind, list(s.fields), s.raw) for s in out.sessions],
        [(e.line, e.reason, e.detail, e.raw) for e in out.errors],
    )


def parse_py(data: bytes, max_line_len: int = 4096) -> Any:
    parser = py_ct_parser.Parser(max_line_len)
    return Merged([parser.feed(data), parser.finish()])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_pure_python_baseline_agrees_with_rust(vector: dict[str, Any]) -> None:
    data = vector_bytes(vector) + b"\n"
    max_line_len = vector.get("max_line_len", 4096)
    assert as_tuples(parse_py(data, max_line_len)) == as_tuples(parse_all(data, max_line_len))


def test_pure_python_baseline_agrees_on_the_whole_vector_stream() -> None:
    data = b"".join(vector_bytes(v) + b"\r\n" for v in VECTORS if "max_line_len" not in v)
    assert as_tuples(parse_py(data)) == as_tuples(parse_all(data))


# Lines for generated streams: every vector line (reads, sessions, errors, blanks).
VECTOR_LINES = [vector_bytes(v).replace(b"\r", b"") for v in VECTORS]


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    lines = draw(st.lists(st.sampled_from(VECTOR_LINES), max_size=30))
    terminators = draw(
        st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(lines), max_size=len(lines))
    )
    data = bytearray(b"".join(line + t for line, t in zip(lines, terminators, strict=True)))
    if data and draw(st.booleans()):
        del data[-1]
    for pos in draw(st.lists(st.integers(0, len(data)), max_size=10)):
        data.insert(pos, 0)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=25)))
    return bytes(data), cuts


def parse_cut(data: bytes, cuts: list[int], max_line_len: int) -> Merged:
    parser = Parser(max_line_len)
    batches = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        batches.append(parser.feed(data[start:end]))
        assert parser.pending <= max_line_len + 1
    batches.append(parser.finish())
    return Merged(batches)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.sampled_from([4096, 50, 12]))
def test_any_split_parses_the_same(stream: tuple[bytes, list[int]], max_line_len: int) -> None:
    data, cuts = stream
    whole = parse_all(data, max_line_len)
    split = parse_cut(data, cuts, max_line_len)
    assert (split.reads, split.sessions, split.errors) == (
        whole.reads,
        whole.sessions,
        whole.errors,
    )


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300),
    st.lists(st.integers(0, 300), max_size=20),
    st.integers(1, 40),
)
def test_any_split_of_arbitrary_bytes_parses_the_same(
    data: bytes, cuts: list[int], max_line_len: int
) -> None:
    cuts = sorted(c for c in cuts if c <= len(data))
    whole = parse_all(data, max_line_len)
    split = parse_cut(data, cuts, max_line_len)
    assert (split.reads, split.sessions, split.errors) == (
        whole.reads,
        whole.sessions,
        whole.errors,
    )


def test_ten_megabyte_line_stays_bounded_and_is_one_error() -> None:
    parser = Parser(4096)
    errors = []
    chunk = b"A" * 65_536
    for _ in range(160):
        batch = parser.feed(chunk)
        errors += batch.errors
        assert parser.pending <= 4097
        assert not batch.reads and not batch.sessions
    errors += parser.feed(b"AAAA\r\nping\r\n").errors
    assert [(e.line, e.reason, len(e.raw)) for e in errors] == [(0, "line_too_long", 4096)]
    assert parser.pending == 0
    end = parser.finish()
    assert (end.reads, end.errors) == ([], [])


def test_ten_megabyte_line_in_one_feed() -> None:
    parser = Parser()
    batch = parser.feed(b"B" * (10 * 1024 * 1024))
    assert [e.reason for e in batch.errors] == ["line_too_long"]
    assert batch.errors[0].raw == b"B" * 4096
    assert parser.pending == 0
    assert parser.finish().errors == []


def test_nuls_are_dropped_anywhere() -> None:
    data = b"\0CT01_33~1~ST\0ART~1204~07:58:12.45~1~0A1B2C~1\r\0\n\0\0\r\n"
    out = parse_all(data)
    assert [(r.location, r.raw) for r in out.reads] == [
        ("START", b"CT01_33~1~START~1204~07:58:12.45~1~0A1B2C~1")
    ]
    assert out.items() == 1


def test_pending_and_finish() -> None:
    parser = Parser()
    batch = parser.feed(b"ping\r\nCT01_33~1~START~1204~07:5")
    assert [s.kind for s in batch.sessions] == ["ping"]
    assert parser.pending == len(b"CT01_33~1~START~1204~07:5")
    assert parser.feed(b"8:12.45~1~0A1B2C~1").reads == []
    end = parser.finish()
    assert [(r.line, r.time_us) for r in end.reads] == [(1, 28_692_450_000)]
    assert parser.pending == 0
    empty = parser.finish()
    assert (empty.reads, empty.sessions, empty.errors) == ([], [], [])


def test_finish_after_an_over_long_tail_reports_nothing_more() -> None:
    parser = Parser(8)
    assert [e.reason for e in parser.feed(b"0123456789").errors] == ["line_too_long"]
    assert parser.finish().errors == []
    assert [s.kind for s in parser.feed(b"ping\n").sessions] == ["ping"]


def test_objects_are_frozen_comparable_and_readable() -> None:
    line = b"CT01_33~44~FINISH~2305~2026-10-05T08:23:01.08~1~0D4E5F~1"
    [a] = parse_all(line).reads
    [b] = parse_all(line).reads
    assert a == b and hash(a) == hash(b)
    assert a != parse_all(line.replace(b"2305", b"2306")).reads[0]
    assert a != "not a read"
    with pytest.raises(AttributeError):
        a.tag = "1"  # type: ignore[misc]
    assert repr(a).startswith(
        "Read(line=0, format='CT01_33', seq=44, location='FINISH', tag='2305'"
    )
    assert (a.time_kind, a.time_us) == (LOCAL, 1_791_188_581_080_000)

    out = parse_all(b"ack~getlocations~START~FINISH\nbad\xff\n")
    assert repr(out.sessions[0]) == (
        "SessionLine(line=0, kind='ack', fields=['getlocations', 'START', 'FINISH'])"
    )
    assert repr(out.errors[0]) == (
        "ParseError(line=1, reason='not_utf8', detail='invalid UTF-8 at byte 3', raw=b'bad\\xff')"
    )
    batch = Parser().feed(b"ping\n")
    assert repr(batch) == "Batch(reads=0, sessions=1, errors=0)"
    assert batch.sessions is batch.sessions
    with pytest.raises(AttributeError):
        batch.reads = []  # type: ignore[misc]
    assert repr(Parser(100)) == "Parser(max_line_len=100, pending=0)"


def test_parsed_items_stay_out_of_the_cycle_collector() -> None:
    batch = Parser().feed(b"ping\nCT01_33~1~START~1204~07:58:12.45~1~0A1B2C~1\nbad\n")
    items = [*batch.reads, *batch.sessions, *batch.errors]
    assert len(items) == 3
    assert not any(gc.is_tracked(item) for item in items)
    assert gc.is_tracked(batch)


def test_constants_and_constructor() -> None:
    assert (TIME_OF_DAY, LOCAL, UNIX) == (0, 1, 2)
    assert Parser().max_line_len == 4096
    with pytest.raises(ValueError, match="at least 1"):
        Parser(0)
    with pytest.raises(TypeError):
        Parser().feed("text, not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Read()


def test_stubs_match_the_runtime(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ct_parser"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    package = Path(ct_parser.__file__).parent
    assert (package / "__init__.pyi").is_file() and (package / "py.typed").is_file()


def real_files() -> list[Path]:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real ChronoTrack files not found at {REAL_DATA}")
    return sorted(REAL_DATA.glob("*/*.csv"))


def test_every_real_file_parses_without_errors() -> None:
    total = 0
    for path in real_files():
        data = path.read_bytes()
        whole = parse_all(data)
        assert whole.errors == [], f"{path}: {whole.errors[:3]}"
        assert whole.sessions == []
        assert all(r.format == "TO" and r.time_kind == UNIX for r in whole.reads)
        chunked = parse_all(data, chunk=65_536)
        assert chunked.reads == whole.reads
        total += len(whole.reads)
    assert total == REAL_DATA_READS
