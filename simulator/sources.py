"""What the simulator replays: real controller files, a capture of CT01 lines, a synthetic race."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from app.domain.reads import CONTROL_TAGS

GUN_TAG = "guntime"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000


@dataclass(frozen=True, slots=True)
class SimRead:
    seq: int
    location: str
    tag: str
    epoch_us: int
    lap: int
    reader: str
    antenna: int


@dataclass(frozen=True, slots=True)
class Stream:
    """The reads of one provider connection, in the order the provider sends them."""

    connection_id: str
    locations: tuple[str, ...]
    reads: tuple[SimRead, ...]


class Source(Protocol):
    def streams(self) -> list[Stream]: ...


def list_tags(sources: Iterable[Source | Stream]) -> set[str]:
    """Every athlete tag the sources will send (control events left out), as sent."""
    return {
        read.tag
        for stream in load_streams(sources)
        for read in stream.reads
        if read.tag not in CONTROL_TAGS
    }


def load_streams(sources: Iterable[Source | Stream]) -> list[Stream]:
    streams: list[Stream] = []
    for source in sources:
        streams.extend([source] if isinstance(source, Stream) else source.streams())
    return streams


# -- real controller files -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ControllerFiles:
    """A folder of ChronoTrack controller files: one connection per timing point (subfolder).

    A folder that holds .csv files itself is one timing point named after the folder.
    """

    path: Path
    points: tuple[str, ...] | None = None
    guntimes: bool = False
    id_prefix: str = "sim-"

    def point_folders(self) -> list[Path]:
        path = Path(self.path)
        if any(path.glob("*.csv")):
            folders = [path]
        else:
            folders = sorted(p for p in path.iterdir() if p.is_dir() and any(p.glob("*.csv")))
        if self.points is not None:
            wanted = set(self.points)
            folders = [p for p in folders if p.name in wanted]
            missing = wanted - {p.name for p in folders}
            if missing:
                raise ValueError(f"no timing point {', '.join(sorted(missing))} in {path}")
        return folders

    def streams(self) -> list[Stream]:
        return [
            load_point(folder, guntimes=self.guntimes, connection_id=self.id_prefix + folder.name)
            for folder in self.point_folders()
        ]


def load_point(folder: Path, *, guntimes: bool = False, connection_id: str = "") -> Stream:
    """One timing point: its files in name order, seq renumbered from 1 across them.

    With guntimes, each `Gun` marker of a start point's .mrk files becomes a guntime read
    just before the read that was next when the button was pressed; it shares that read's
    seq, so turning gun times on or off never renumbers the tag reads.
    """
    location = folder.name
    with_guns = guntimes and "start" in location.lower()
    reads: list[SimRead] = []
    seq = 0
    for csv in sorted(folder.glob("*.csv")):
        observations = [_to_read(line) for line in csv.read_text().splitlines()]
        file_reads = [o for o in observations if o is not None]
        guns = _gun_markers(csv.with_suffix(".mrk")) if with_guns else []
        gun_reader = file_reads[0][3] if file_reads else "000000"
        g = 0
        for file_seq, tag, epoch_us, reader, antenna in file_reads:
            while g < len(guns) and guns[g][0] <= file_seq:
                reads.append(SimRead(seq + 1, location, GUN_TAG, guns[g][1], 0, gun_reader, 0))
                g += 1
            seq += 1
            reads.append(SimRead(seq, location, tag, epoch_us, 1, reader, antenna))
        for _, gun_us in guns[g:]:
            reads.append(SimRead(seq + 1, location, GUN_TAG, gun_us, 0, gun_reader, 0))
    return Stream(connection_id or f"sim-{location}", (location,), tuple(reads))


def _to_read(line: str) -> tuple[int, str, int, str, int] | None:
    """`TO~seq~tag~timer~event~epoch~reader~antenna~rssi~rseq~mode[~hits]`; None otherwise."""
    f = line.strip().split("~")
    if len(f) < 11 or f[0] != "TO":
        return None
    try:
        return int(f[1]), f[2], parse_epoch_us(f[5]), f[6], int(f[7])
    except ValueError:
        return None


def _gun_markers(mrk: Path) -> list[tuple[int, int]]:
    """(TO seq at that moment, epoch µs) of each Gun marker, in marker order."""
    if not mrk.exists():
        return []
    guns: list[tuple[int, int]] = []
    for line in mrk.read_text().splitlines():
        f = line.strip().split(",")
        if len(f) >= 5 and f[2] == "Gun":
            try:
                guns.append((int(f[3]), _marker_time_us(f[4])))
            except ValueError:
                continue
    return sorted(guns)


def _marker_time_us(stamp: str) -> int:
    """YYMMDDhhmmsscc (controller clock, UTC) to epoch µs."""
    if len(stamp) != 14 or not stamp.isdigit():
        raise ValueError(stamp)
    yy = int(stamp[0:2])
    moment = datetime(
        (1900 if yy >= 70 else 2000) + yy,
        int(stamp[2:4]),
        int(stamp[4:6]),
        int(stamp[6:8]),
        int(stamp[8:10]),
        int(stamp[10:12]),
        int(stamp[12:14]) * 10_000,
        tzinfo=UTC,
    )
    return to_epoch_us(moment)


def parse_epoch_us(text: str) -> int:
    """`1620462257.60` to µs, exactly (no float rounding)."""
    whole, _, frac = text.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 6:
        raise ValueError(f"not an epoch: {text!r}")
    return int(whole) * 1_000_000 + int(frac.ljust(6, "0") or "0")


def to_epoch_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# -- a capture of CT01 lines -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capture:
    """A file of CT01_33 / CT01_13 lines (anything else in it is skipped): one connection.

    Times without a date (`normal`) are placed on `day` (default: today, UTC), moving to the
    next day when the clock goes back by more than twelve hours.
    """

    path: Path
    connection_id: str | None = None
    day: date | None = None

    def streams(self) -> list[Stream]:
        path = Path(self.path)
        day = self.day or datetime.now(UTC).date()
        reads: list[SimRead] = []
        locations: dict[str, None] = {}
        last_tod: int | None = None
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if not line.startswith(("CT01_33", "CT01_13")) or len(line) < 9:
                continue
            f = line.split(line[7])
            if len(f) != 8:
                continue
            try:
                seq, lap, antenna = int(f[1]), int(f[5]), int(f[7])
                epoch_us, tod = _capture_time(f[4], day)
            except ValueError:
                continue
            if tod is not None:
                if last_tod is not None and tod < last_tod - _DAY_US // 2:
                    day += timedelta(days=1)
                    epoch_us += _DAY_US
                last_tod = tod
            locations.setdefault(f[2], None)
            reads.append(SimRead(seq, f[2], f[3], epoch_us, lap, f[6], antenna))
        cid = self.connection_id or f"sim-{path.stem}"
        return [Stream(cid, tuple(locations), tuple(reads))]


def _capture_time(text: str, day: date) -> tuple[int, int | None]:
    """(epoch µs, time of day µs when the field had no date)."""
    if "T" in text or "-" in text:
        moment = datetime.fromisoformat(text.replace(" ", "T"))
        return to_epoch_us(moment.replace(tzinfo=moment.tzinfo or UTC)), None
    if ":" in text:
        hms, _, frac = text.partition(".")
        h, m, s = (int(x) for x in hms.split(":"))
        tod = ((h * 60 + m) * 60 + s) * 1_000_000 + int((frac or "0").ljust(6, "0")[:6])
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return to_epoch_us(midnight) + tod, tod
    if "." not in text and len(text) >= 12:
        return int(text) * 1000, None
    return parse_epoch_us(text), None


# -- a synthetic race ------------------------------------------------------------------------

START_READERS = ("0A1B2C", "0A1B2D")
FINISH_READERS = ("0D4E5F", "0D4E6A")
_ANTENNAS = (1, 2, 4, 8)


@dataclass(frozen=True, slots=True)
class SyntheticRace:
    """Runners with tags 1..N cross START after the gun, then FINISH about 50 minutes later.

    Deterministic for a seed. Like real traffic, about one passing in five is read twice
    (the second reader 0.3-2 s later) and reads are emitted when a tag leaves the field, so
    neighbouring lines often go back in time.
    """

    runners: int
    seed: int = 1
    gun: datetime = datetime(2021, 5, 8, 8, 0, tzinfo=UTC)
    connection_id: str = "sim-synthetic"

    def streams(self) -> list[Stream]:
        rng = random.Random(self.seed)
        gun_us = to_epoch_us(self.gun)
        # (emitted at, read) pairs; seq is given in emission order at the end.
        emitted: list[tuple[int, SimRead]] = [
            (gun_us, SimRead(0, "START", GUN_TAG, gun_us, 0, START_READERS[0], 0))
        ]
        tags = list(range(1, self.runners + 1))
        rng.shuffle(tags)
        crossing = gun_us + 2_000_000
        for tag in tags:
            # Corrals thin out: about eight runners a second at the front, fewer later.
            crossing += int(rng.expovariate(8.0) * 1_000_000)
            net_s = max(1_500.0, rng.gauss(3_000.0, 480.0))
            finish = crossing + int(net_s * 1_000_000)
            for location, readers, at in (
                ("START", START_READERS, crossing),
                ("FINISH", FINISH_READERS, finish),
            ):
                self._passing(rng, emitted, str(tag), location, readers, at)
        emitted.sort(key=lambda pair: pair[0])
        reads = tuple(
            SimRead(i, r.location, r.tag, r.epoch_us, r.lap, r.reader, r.antenna)
            for i, (_, r) in enumerate(emitted, start=1)
        )
        return [Stream(self.connection_id, ("START", "FINISH"), reads)]

    @staticmethod
    def _passing(
        rng: random.Random,
        emitted: list[tuple[int, SimRead]],
        tag: str,
        location: str,
        readers: Sequence[str],
        at: int,
    ) -> None:
        first = rng.randrange(2)
        times = [(readers[first], at)]
        if rng.random() < 0.2:
            times.append((readers[1 - first], at + rng.randint(300_000, 2_000_000)))
        for reader, when in times:
            leaves = when + rng.randint(0, 1_500_000)
            emitted.append(
                (leaves, SimRead(0, location, tag, when, 1, reader, rng.choice(_ANTENNAS)))
            )
