"""The spool keeps what it was given, in order, across a restart and a torn last write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from app.domain.reads import NewRead, NewReject
from collector.spool import Spool

NOW = datetime(2026, 10, 5, 8, 21, 44, 900_000, tzinfo=UTC)


def read(seq: int) -> NewRead:
    line = f"CT01_33~{seq}~FINISH~{seq}~2026-10-05T08:21:44.90~1~0D4E5F~2"
    return NewRead(7, 0, seq, "FINISH", str(seq), "2026-10-05T08:21:44.90", NOW, 1, "0D4E5F", 2,
                   line, NOW)  # fmt: skip


def test_items_round_trip_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    reject = NewReject(uuid4(), None, "127.0.0.1:5", "unrecognised", "no", b"\xff\x00bad", NOW)
    spool.append([read(1), read(2)])
    spool.seal()
    spool.append([reject, read(3)])
    spool.seal()
    assert spool.segments == 2
    items = []
    while (path := spool.oldest()) is not None:
        for chunk in spool.read(path, chunk=1):
            items.extend(chunk)
        spool.remove_oldest()
    assert items == [read(1), read(2), reject, read(3)]
    assert spool.empty and not list(tmp_path.iterdir())


def test_a_new_process_finds_what_the_last_one_left(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.append([read(1)])
    first.append([read(2)])
    # Killed: never sealed or closed. The next process drains it first, then appends anew.
    second = Spool(tmp_path)
    assert not second.empty
    assert list(second.recovered()) == [read(1), read(2)]
    second.append([read(3)])
    second.seal()
    assert [p.name for p in sorted(tmp_path.iterdir())] == [
        "segment-00000001.jsonl",
        "segment-00000002.jsonl",
    ]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([read(1), read(2)])
    spool.close()
    (segment,) = tmp_path.iterdir()
    segment.write_bytes(segment.read_bytes()[:-20])
    assert list(Spool(tmp_path).recovered()) == [read(1)]
