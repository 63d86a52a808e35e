"""A local append-only spool: where accepted reads wait, durably, while PostgreSQL is away.

Segments are JSON-lines files appended in batches, each batch fsynced before it counts as
durable. The drainer stores a whole segment and only then deletes it, so a crash during a
drain stores some rows twice, which the idempotency keys absorb. A torn last line (the
process died mid-write, before the fsync that would have made it count) is skipped.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TypeAlias
from uuid import UUID

from app.domain.reads import NewRead, NewReject

log = logging.getLogger(__name__)

Item: TypeAlias = NewRead | NewReject
_PREFIX, _SUFFIX = "segment-", ".jsonl"


def encode(item: Item) -> bytes:
    if isinstance(item, NewRead):
        record: list[object] = [
            "r",
            item.session_id,
            item.sequence_number,
            item.location_name,
            item.tag_code,
            item.read_time,
            item.read_at.isoformat(),
            item.lap_count,
            item.reader_id,
            item.gator_number,
            item.raw_line,
            item.received_at.isoformat(),
        ]
    else:
        record = [
            "x",
            item.reject_key.hex,
            item.session_id,
            item.peer,
            item.reason,
            item.detail,
            base64.b64encode(item.raw_line).decode(),
            item.received_at.isoformat(),
        ]
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Item:
    r = json.loads(line)
    if r[0] == "r":
        return NewRead(
            r[1], 0, r[2], r[3], r[4], r[5], datetime.fromisoformat(r[6]), r[7], r[8], r[9],
            r[10], datetime.fromisoformat(r[11]),
        )  # fmt: skip
    if r[0] == "x":
        return NewReject(
            UUID(hex=r[1]), r[2], r[3], r[4], r[5], base64.b64decode(r[6]),
            datetime.fromisoformat(r[7]),
        )  # fmt: skip
    raise ValueError(f"unknown spool record kind {r[0]!r}")


class Spool:
    """Segments in one directory: sealed ones wait for the drainer, one is open for appends."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        # Left by an earlier process (stopped during an outage, or killed): drained first.
        found = sorted(directory.glob(f"{_PREFIX}*{_SUFFIX}"), key=_index)
        self._sealed: deque[Path] = deque(found)
        self._next = max((_index(p) for p in found), default=0) + 1
        self._open: BinaryIO | None = None
        self._open_path: Path | None = None
        self.appended = 0

    @property
    def empty(self) -> bool:
        return not self._sealed and self._open is None

    @property
    def segments(self) -> int:
        return len(self._sealed) + (self._open is not None)

    def append(self, items: Sequence[Item]) -> None:
        """Write and fsync: when this returns, the items survive a crash of this process."""
        if not items:
            return
        if self._open is None:
            path = self.directory / f"{_PREFIX}{self._next:08d}{_SUFFIX}"
            self._next += 1
            self._open, self._open_path = path.open("ab"), path
            _fsync_dir(self.directory)
        self._open.write(b"".join(encode(item) for item in items))
        self._open.flush()
        os.fsync(self._open.fileno())
        self.appended += len(items)

    def seal(self) -> None:
        """Close the open segment for draining; later appends start a new one."""
        if self._open is not None and self._open_path is not None:
            self._open.close()
            self._sealed.append(self._open_path)
            self._open = self._open_path = None

    def oldest(self) -> Path | None:
        return self._sealed[0] if self._sealed else None

    def remove_oldest(self) -> None:
        """The oldest sealed segment is stored: forget it."""
        path = self._sealed.popleft()
        path.unlink(missing_ok=True)
        _fsync_dir(self.directory)

    def close(self) -> None:
        """Stop appending (the process is stopping); what is on disk stays for the next start."""
        if self._open is not None:
            self._open.close()
            self._open = self._open_path = None

    @staticmethod
    def read(path: Path, chunk: int) -> Iterator[list[Item]]:
        """A segment's items in order, `chunk` at a time; a torn or corrupt line is skipped."""
        items: list[Item] = []
        with path.open("rb") as f:
            for number, line in enumerate(f, 1):
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("no line end (torn write)")
                    items.append(decode(line))
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    log.error("%s line %d skipped: %s: %r", path.name, number, exc, line[:200])
                    continue
                if len(items) >= chunk:
                    yield items
                    items = []
        if items:
            yield items

    def recovered(self) -> Iterator[Item]:
        """Every item of the sealed segments (at start-up, to learn their resume points)."""
        for path in list(self._sealed):
            for items in self.read(path, 10_000):
                yield from items


def _index(path: Path) -> int:
    return int(path.name[len(_PREFIX) : -len(_SUFFIX)])


def _fsync_dir(directory: Path) -> None:
    """Make a created or deleted file name itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
