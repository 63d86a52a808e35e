"""The `make loadtest` scenario: SSE screens measuring read-to-screen latency, polling screens,
naive screens (the predecessor's way), directors in the builder, and providers replaying the
real finish data over CTP01 on a plain socket.

Everything comes from the scenario file loadtests/run.py writes (LOADTEST_SCENARIO) and the
counts in LOADTEST_* variables; what the users observe goes to LOADTEST_OUT, which run.py
turns into the report. All users run in one Locust process (gevent, no asyncio), so the send
time of every read is shared in memory; the report joins the logs again offline.

Latency is taken per runner per screen, the first time that screen sees the runner (a
(location, chip) pair): receive time minus the time the provider sent the first read of it.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import re
import socket
import sys
import time
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from ctp01 import CTP01Provider
from locust import FastHttpUser, HttpUser, User, between, constant, constant_pacing, events, task

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fragments import Runners, chip_reader, no_full_collections  # noqa: E402

from app.domain.reads import normalize_tag  # noqa: E402
from simulator.sources import GUN_TAG, load_point  # noqa: E402


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


_scenario_path = os.environ.get("LOADTEST_SCENARIO", "")
if not _scenario_path:
    raise RuntimeError("LOADTEST_SCENARIO is unset: run the scenario with `make loadtest`")
SCENARIO: dict[str, Any] = json.loads(Path(_scenario_path).read_text())
OUT = Path(os.environ.get("LOADTEST_OUT") or Path(_scenario_path).parent)
OUT.mkdir(parents=True, exist_ok=True)

BASE = urlsplit(SCENARIO["base_url"])
HTTP_HOST, HTTP_PORT = BASE.hostname or "127.0.0.1", BASE.port or 80
DISPLAYS: list[dict[str, Any]] = SCENARIO["displays"]
POINTS: list[str] = SCENARIO["points"]
TAG_MODE: str = SCENARIO["tag_mode"]
BIB_TO_CHIP: dict[str, str] = {bib: chip for chip, bib in SCENARIO["known"].items()}
# One SSE screen in this many reports its latencies to Locust's own statistics as well (the
# report uses every screen); a report per runner per screen costs the load generator CPU.
SSE_SAMPLE = max(1, _env_int("LOADTEST_SSE_SAMPLE", 10))

# -- what every user shares (one process) -----------------------------------------------------

# (location, normalised chip) → time.time() the provider sent the first read of it.
SENT: dict[tuple[str, str], float] = {}
_send_log: list[tuple[str, str, str, int, float]] = []
_screens: list[Screen] = []
_seen_files: dict[int, Any] = {}
_seen_lines: list[str] = []
_written: set[int] = set()


def _seen_file() -> Any:
    """This process's log of first sights, opened on first use: with --processes, Locust
    forks its workers after importing this file, and each writes a file of its own."""
    pid = os.getpid()
    f = _seen_files.get(pid)
    if f is None:
        f = _seen_files[pid] = gzip.open(  # noqa: SIM115 (closed at test_stop)
            OUT / f"seen-{pid}.csv.gz", "wt", compresslevel=1
        )
        f.write("screen,kind,display,location,chip,recv_time,event_id\n")
    return f


def _flush_seen() -> None:
    """First sights go to the log in batches: a compressed write per sight per screen cost
    the generator more than parsing the frame that brought it."""
    _seen_file().writelines(_seen_lines)
    _seen_lines.clear()


_chip_of = chip_reader(BIB_TO_CHIP, lambda tag: normalize_tag(tag, TAG_MODE))
runners_in = Runners(_chip_of)
no_full_collections()  # before Locust forks its worker processes


class Screen:
    """What one screen saw: first sight of each runner, event ids, errors."""

    _ids = itertools.count(1)

    def __init__(self, kind: str, display: dict[str, Any]) -> None:
        # Unique across Locust's worker processes too.
        self.id = (os.getpid() << 20) + next(Screen._ids)
        self.kind = kind
        self.code: str = display["code"]
        self.locations: list[str] = display["locations"] or POINTS
        self.started = 0.0
        self.ended = 0.0
        self.seen: set[tuple[str, str]] = set()
        self.ids = array("q")
        self.last_id = 0
        # The last SSE id as sent ("<epoch>.<number>"), for Last-Event-ID on a reconnect.
        self.resume_id = ""
        self.duplicates = 0
        self.out_of_order = 0
        self.reconnects = 0
        self.errors = 0
        self.frames = 0
        _screens.append(self)

    def saw(self, location: str, chip: str, recv: float, event_id: int) -> None:
        key = (location, chip)
        if key in self.seen:
            return
        self.seen.add(key)
        _seen_lines.append(
            f"{self.id},{self.kind},{self.code},{location},{chip},{recv:.6f},{event_id}\n"
        )
        if len(_seen_lines) >= 10_000:
            _flush_seen()
        sent = SENT.get(key)
        if sent is None or sent < self.started:
            return
        if self.kind == "sse" and self.id % SSE_SAMPLE:
            return
        events.request.fire(
            request_type=self.kind.upper(),
            name="read-to-screen",
            response_time=(recv - sent) * 1000,
            response_length=0,
            exception=None,
            context={},
        )

    def event_id(self, event_id: int) -> None:
        """Ids must strictly increase on a screen: anything else is a repeat or out of order."""
        self.frames += 1
        if event_id <= self.last_id:
            if event_id in self.ids:
                self.duplicates += 1
            else:
                self.out_of_order += 1
        self.ids.append(event_id)
        self.last_id = max(self.last_id, event_id)

    def summary(self) -> dict[str, Any]:
        return {
            "screen": self.id,
            "kind": self.kind,
            "display": self.code,
            "locations": self.locations,
            "started": self.started,
            "ended": self.ended or time.time(),
            "frames": self.frames,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "reconnects": self.reconnects,
            "errors": self.errors,
        }


def _fire(kind: str, name: str, started: float, exc: BaseException | None, size: int = 0) -> None:
    events.request.fire(
        request_type=kind,
        name=name,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=size,
        exception=exc,
        context={},
    )


@events.test_stop.add_listener
def _write_logs(**_kwargs: Any) -> None:
    """Everything the report needs, written once when the run ends."""
    pid = os.getpid()
    if _seen_lines:
        _flush_seen()
    seen = _seen_files.pop(pid, None)
    if seen is not None:
        seen.close()
    if pid in _written or not (_screens or _send_log):
        return  # written already, or Locust's master (its workers run the users)
    _written.add(pid)
    with (OUT / f"sends-{pid}.csv").open("w") as f:
        f.write("location,chip,tag,seq,send_time\n")
        for location, chip, tag, seq, sent in _send_log:
            f.write(f"{location},{chip},{tag},{seq},{sent:.6f}\n")
    with (OUT / f"screens-{pid}.jsonl").open("w") as f:
        for screen in _screens:
            f.write(json.dumps(screen.summary()) + "\n")
    with gzip.open(OUT / f"frames-{pid}.txt.gz", "wt", compresslevel=1) as f:
        for screen in _screens:
            if screen.kind == "sse":
                f.write(f"{screen.id} {screen.code} {','.join(map(str, screen.ids))}\n")


# -- providers --------------------------------------------------------------------------------


def _claim_point() -> str:
    """The first point no provider replays yet, claimed by creating a file: with --processes
    the providers run in different processes, which share nothing else."""
    for point in POINTS:
        try:
            os.close(os.open(OUT / f"replaying-{point}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        return point
    raise RuntimeError(f"more providers than points {POINTS}")


def _replay_start() -> float:
    """The wall-clock start of the shared timeline: the first provider's, kept in a file."""
    path = OUT / "replay-start"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        for _ in range(100):
            text = path.read_text()
            if text:
                return float(text)
            gevent.sleep(0.01)
        raise RuntimeError("the first provider never wrote the replay's start") from None
    now = time.time()
    with os.fdopen(fd, "w") as f:
        f.write(repr(now))
    return now


class ReplayProvider(User):
    """One finish point of the real 2021 race, replayed over its own CTP01 connection at
    LOADTEST speed on a timeline shared by every point; each read goes out at its place on the
    timeline, in file order (so reads that go back in time go out late, as they did)."""

    fixed_count = len(POINTS)
    wait_time = constant(1)

    def on_start(self) -> None:
        self.point = _claim_point()
        race_from = int(SCENARIO["race_from_us"])
        speed = float(SCENARIO["speed"])
        root = Path(SCENARIO["data_root"])
        stream = load_point(root / self.point)
        reads = [r for r in stream.reads if r.epoch_us >= race_from]
        # The race's gun first (from the start point's Gun marker), as a timer's SimpleClient
        # sends it: times and places count from it, and runners are placed once.
        guns = [r for r in load_point(root / "START1", guntimes=True).reads if r.tag == GUN_TAG]
        if guns:
            # At its moment on the timeline (reads go out in file order as they come due).
            at = next((i for i, r in enumerate(reads) if r.epoch_us > guns[0].epoch_us), 0)
            reads.insert(at, guns[0])
        self.reads = [
            (seq, r.tag, (r.epoch_us - race_from) / 1e6 / speed, r.reader, r.antenna)
            for seq, r in enumerate(reads, start=1)
        ]
        self.t0 = _replay_start()
        self.next = 0
        self.provider: CTP01Provider | None = None
        self.connects = 0

    def on_stop(self) -> None:
        if self.provider is not None:
            self.provider.close()

    def _connect(self) -> CTP01Provider:
        started = time.perf_counter()
        try:
            provider = CTP01Provider(
                SCENARIO["collector"],
                f"loadtest-{SCENARIO['run_id']}-{self.point}",
                event_id=SCENARIO["ct_event_id"],
                locations=[self.point],
            )
        except OSError as exc:
            _fire("CTP01", "connect", started, exc)
            raise
        _fire("CTP01", "connect", started, None)
        self.connects += 1
        wanted = provider.resume.get(self.point)
        if self.connects > 1 and wanted is not None:
            # The collector asks for what it has not stored: resend from there.
            self.next = min(self.next, max(wanted - 1, 0))
        return provider

    @task
    def replay(self) -> None:
        while True:
            try:
                if self.provider is None:
                    self.provider = self._connect()
                if self.next >= len(self.reads):
                    # The replay is over: stay connected, answering pings.
                    self.provider.answer_pending()
                    gevent.sleep(1.0)
                    continue
                self._send_due(self.provider)
            except OSError as exc:
                _fire("CTP01", f"replay {self.point}", time.perf_counter(), exc)
                if self.provider is not None:
                    self.provider.close()
                self.provider = None
                gevent.sleep(1.0)

    def _send_due(self, provider: CTP01Provider) -> None:
        provider.answer_pending()
        now = time.time()
        elapsed = now - self.t0
        due = []
        while self.next < len(self.reads) and self.reads[self.next][2] <= elapsed:
            due.append(self.reads[self.next])
            self.next += 1
        if not due:
            wait = self.reads[self.next][2] - elapsed
            gevent.sleep(min(max(wait, 0.0), 0.5))
            return
        lines = []
        for seq, tag, offset, reader, antenna in due:
            moment = datetime.fromtimestamp(self.t0 + offset, UTC)
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
            lines.append(f"CT01_33~{seq}~{self.point}~{tag}~{stamp}~1~{reader}~{antenna}")
        started = time.perf_counter()
        sent = time.time()
        size = provider.send_lines(lines)
        _fire("CTP01", f"replay {self.point}", started, None, size)
        for seq, tag, *_rest in due:
            if tag == GUN_TAG:
                continue
            chip = normalize_tag(tag, TAG_MODE)
            SENT.setdefault((self.point, chip), sent)
            _send_log.append((self.point, chip, tag, seq, sent))


# -- SSE screens ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """What one SSE frame says to a screen."""

    event_id: int  # 0: no id, or no data (a heartbeat, the retry line)
    resume_id: str  # the id as sent, for Last-Event-ID; "" when the frame has none
    retry_s: float | None
    runners: tuple[tuple[str, str], ...]


def _parse_frame(frame: bytes) -> Frame:
    event_id, resume_id, retry_s = 0, "", None
    data = []
    for line in frame.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"id:"):
            value = line[3:].strip()
            number = value.rpartition(b".")[2]
            if number.isdigit():
                event_id = int(number)
                resume_id = value.decode()
        elif line.startswith(b"retry:"):
            value = line[6:].strip()
            if value.isdigit():
                retry_s = int(value) / 1000
    if not data:
        return Frame(0, resume_id, retry_s, ())
    return Frame(event_id, resume_id, retry_s, runners_in(b"\n".join(data)))


# Complete frames as received → what they say. The server writes a batch's frames to every
# screen of a display in one write, so each distinct block is parsed once per process rather
# than once per screen: the generator shares the machine, and its CPU would be latency.
_blocks: dict[bytes, tuple[Frame, ...]] = {}


def parse_frames(block: bytes) -> tuple[Frame, ...]:
    frames = _blocks.get(block)
    if frames is None:
        frames = tuple(_parse_frame(f) for f in block.split(b"\n\n") if f)
        if len(_blocks) >= 4096:
            _blocks.clear()
        _blocks[block] = frames
    return frames


class _Chunked:
    """Incremental HTTP/1.1 chunked transfer decoding."""

    def __init__(self) -> None:
        self.buf = b""
        self.left = 0  # data bytes left in the current chunk
        self.state = "size"  # size line, chunk data, or the CRLF after the data
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = []
        while not self.done:
            if self.state == "size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    break
                self.left = int(self.buf[:end].split(b";")[0], 16)
                self.buf = self.buf[end + 2 :]
                self.state = "data"
                if self.left == 0:
                    self.done = True
            elif self.state == "data":
                if not self.buf:
                    break
                take = self.buf[: self.left]
                out.append(take)
                self.buf = self.buf[len(take) :]
                self.left -= len(take)
                if self.left == 0:
                    self.state = "crlf"
            else:
                if len(self.buf) < 2:
                    break
                self.buf = self.buf[2:]
                self.state = "size"
        return b"".join(out)


class DisplayScreen(User):
    """A screen holding /d/<code>/stream open on a plain socket: SSE frames parsed as they
    come; reconnects with Last-Event-ID after a drop, waiting the server's `retry:`."""

    fixed_count = _env_int("LOADTEST_SCREENS", 1000)
    wait_time = constant(0)
    _next = itertools.count()

    def on_start(self) -> None:
        self.screen = Screen("sse", DISPLAYS[next(DisplayScreen._next) % len(DISPLAYS)])
        self.retry_s = 2.0
        self.sock: socket.socket | None = None

    def on_stop(self) -> None:
        self.screen.ended = time.time()
        if self.sock is not None:
            self.sock.close()

    @task
    def watch(self) -> None:
        screen = self.screen
        try:
            self._stream()
            exc: Exception | None = ConnectionError("stream ended")
        except (OSError, ValueError) as e:
            exc = e
        screen.reconnects += 1
        screen.errors += 1
        _fire("SSE", "stream dropped", time.perf_counter(), exc)
        gevent.sleep(self.retry_s)

    def _stream(self) -> None:
        screen = self.screen
        started = time.perf_counter()
        sock = socket.create_connection((HTTP_HOST, HTTP_PORT), timeout=30)
        self.sock = sock
        try:
            resume = f"Last-Event-ID: {screen.resume_id}\r\n" if screen.resume_id else ""
            sock.sendall(
                f"GET /d/{screen.code}/stream HTTP/1.1\r\nHost: {HTTP_HOST}:{HTTP_PORT}\r\n"
                f"Accept: text/event-stream\r\nCache-Control: no-cache\r\n{resume}\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before the response headers")
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if b" 200 " not in status + b" ":
                raise ConnectionError(f"stream answered {status.decode(errors='replace')}")
            _fire("SSE", "/d/[code]/stream connect", started, None)
            if not screen.started:
                screen.started = time.time()
            chunked = b"transfer-encoding: chunked" in head.lower()
            decoder = _Chunked() if chunked else None
            text = b""
            data = rest
            while True:
                recv = time.time()
                if data:
                    text += decoder.feed(data) if decoder is not None else data
                    text = self._frames(text, recv)
                    if decoder is not None and decoder.done:
                        return
                # A heartbeat comes every 15 s: 30 s of silence is a stalled stream.
                data = sock.recv(65536)
                if not data:
                    return
        finally:
            sock.close()
            self.sock = None

    def _frames(self, text: bytes, recv: float) -> bytes:
        """Takes the complete frames off the front of text; returns the rest."""
        end = text.rfind(b"\n\n")
        if end < 0:
            return text
        screen = self.screen
        for frame in parse_frames(text[: end + 2]):
            if frame.retry_s is not None:
                self.retry_s = frame.retry_s
            if frame.resume_id:
                screen.resume_id = frame.resume_id
            if frame.event_id:
                screen.event_id(frame.event_id)
            for location, chip in frame.runners:
                screen.saw(location, chip, recv, frame.event_id)
        return text[end + 2 :]


# -- polling screens --------------------------------------------------------------------------


class _Poller:
    """A screen that sees the board once a second: every runner on it (featured, in the finish
    list or in the "also finished" strip) names its location and chip."""

    kind = "poll"
    screen: Screen

    def _setup(self) -> None:
        display = DISPLAYS[next(_poll_ids) % len(DISPLAYS)]
        self.screen = Screen(self.kind, display)
        self.etag = ""

    def on_start(self) -> None:
        self._setup()
        self.screen.started = time.time()

    def on_stop(self) -> None:
        self.screen.ended = time.time()

    def _observe(self, body: bytes, recv: float) -> None:
        for location, chip in runners_in(body):
            self.screen.saw(location, chip, recv, 0)


_poll_ids = itertools.count()


class PollingScreen(_Poller, FastHttpUser):
    """A screen that cannot hold SSE: /d/<code>/feed with If-None-Match, every second."""

    host = SCENARIO["base_url"]
    fixed_count = _env_int("LOADTEST_POLLERS", 100)
    wait_time = constant_pacing(1.0)
    kind = "poll"

    @task
    def poll(self) -> None:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        with self.client.get(
            f"/d/{self.screen.code}/feed",
            headers=headers,
            name="/d/[code]/feed (ETag)",
            catch_response=True,
        ) as resp:
            recv = time.time()
            if resp.status_code == 200:
                self.etag = resp.headers.get("ETag", "") or ""
                self._observe(resp.content or b"", recv)
                resp.success()
            elif resp.status_code == 304:
                resp.success()
            else:
                self.screen.errors += 1
                resp.failure(f"status {resp.status_code}")


class NaiveScreen(_Poller, FastHttpUser):
    """The predecessor's way: every second, GET the display's "current runner" as JSON
    (/d/<code>/current), no caching; a runner counts when it is the current one at a poll."""

    host = SCENARIO["base_url"]
    fixed_count = _env_int("LOADTEST_NAIVE", 100)
    wait_time = constant_pacing(1.0)
    kind = "naive"

    @task
    def poll(self) -> None:
        with self.client.get(
            f"/d/{self.screen.code}/current", name="/d/[code]/current (naive)", catch_response=True
        ) as resp:
            recv = time.time()
            if resp.status_code != 200:
                self.screen.errors += 1
                resp.failure(f"status {resp.status_code}")
                return
            try:
                runners = json.loads(resp.content or b"{}")["runners"]
            except (ValueError, KeyError) as exc:
                self.screen.errors += 1
                resp.failure(f"not the current-runner JSON: {exc}")
                return
            for runner in runners:
                label = runner["bib"] or runner["name"]
                self.screen.saw(runner["location"], _chip_of(label), recv, 0)
            resp.success()


# -- directors --------------------------------------------------------------------------------

_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


class Director(HttpUser):
    """A timer signed in to the builder, clicking through the event's pages every few seconds."""

    host = SCENARIO["base_url"]
    fixed_count = _env_int("LOADTEST_DIRECTORS", 5)
    wait_time = between(2.0, 5.0)

    def on_start(self) -> None:
        self.event = int(SCENARIO["event_id"])
        page = self.client.get("/login", name="/login")
        match = _CSRF.search(page.text)
        token = match.group(1) if match else ""
        with self.client.post(
            "/login",
            data={
                "_csrf_token": token,
                "next": "",
                "email": SCENARIO["email"],
                "password": SCENARIO["password"],
            },
            name="/login (POST)",
            catch_response=True,
        ) as resp:
            if resp.status_code != 200 or urlsplit(resp.url or "").path == "/login":
                resp.failure(f"sign-in failed: {resp.status_code} at {resp.url}")
            else:
                resp.success()
        self.pages = itertools.cycle(
            [
                ("/events", "/events"),
                (f"/events/{self.event}", "/events/[id]"),
                (f"/events/{self.event}/participants", "/events/[id]/participants"),
                (f"/events/{self.event}/operations", "/events/[id]/operations"),
                (f"/events/{self.event}/operations/points", "/events/[id]/operations/points"),
            ]
        )

    @task
    def click(self) -> None:
        path, name = next(self.pages)
        with self.client.get(path, name=name, catch_response=True) as resp:
            if resp.status_code != 200 or urlsplit(resp.url or "").path == "/login":
                resp.failure(f"{resp.status_code} at {resp.url}")
            else:
                resp.success()
