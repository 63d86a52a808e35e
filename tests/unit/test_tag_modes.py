"""An event's tag mode, applied alike to chip files, the demo and the collector's chip counts."""

from __future__ import annotations

from app.domain.chip_file import ChipBib, read_chip_file
from app.domain.participants_in import RowError
from app.domain.reads import EXACT, STRIP_ZEROS, TAG_MODES, normalize_tag
from app.services.demo import demo_participants
from collector.health import DecoderHealth
from tests.unit.test_decoder_health import read


def test_the_two_modes() -> None:
    assert set(TAG_MODES) == {STRIP_ZEROS, EXACT}
    assert normalize_tag(" 009573 ", STRIP_ZEROS) == normalize_tag("9573") == "9573"
    assert normalize_tag(" 009573 ", EXACT) == "009573" != normalize_tag("9573", EXACT)
    # Case and spaces never count, in either mode.
    assert normalize_tag(" 0a12 ", EXACT) == "0A12" and normalize_tag("0a12") == "A12"


def test_a_chip_file_spells_chips_as_its_event_does() -> None:
    lines = ["chip,bib\n", "009573,42\n", "9573,43\n"]
    assert list(read_chip_file(lines, EXACT)) == [ChipBib("009573", "42"), ChipBib("9573", "43")]
    strip = list(read_chip_file(lines, STRIP_ZEROS))
    assert strip == [ChipBib("9573", "42"), RowError(3, "chip 9573 is on bib 42 at line 2")]
    # Without a mode: the default of every event, strip_zeros.
    assert list(read_chip_file(lines)) == strip


def test_demo_participants_follow_the_event_mode() -> None:
    exact = {p.chip_code for p in demo_participants(["007", "7"], 0, EXACT)}
    assert exact == {"007", "7"}
    assert {p.chip_code for p in demo_participants(["007", "7"], 0)} == {"7"}


def test_unknown_chip_counts_use_the_events_mode() -> None:
    health = DecoderHealth(silent_after=30)
    point = health.connected("sim-FINISH", "127.0.0.1:1", "SimpleClient", "0.6.0")
    point.event_id = 9
    point.record(
        [read(1, tag="001187"), read(2, tag="1187"), read(3, tag="01187"), read(4, "2305")],
        now=100.0,
    )
    # Before the collector has loaded the event: no count, tags counted without zeros.
    (loc,) = health.snapshot(now=101.0)[0]["locations"]
    assert (loc["distinct_tags"], loc["unknown_chips"]) == (2, None)

    # Exact: three spellings of 1187 are three chips, and only 001187 is somebody's.
    health.know_chips(9, EXACT, {"001187"})
    (loc,) = health.snapshot(now=101.0)[0]["locations"]
    assert (loc["distinct_tags"], loc["unknown_chips"]) == (4, 3)

    # Strip zeros: one chip 1187, known; 2305 is nobody's.
    health.know_chips(9, STRIP_ZEROS, {"1187"})
    (loc,) = health.snapshot(now=101.0)[0]["locations"]
    assert (loc["distinct_tags"], loc["unknown_chips"]) == (2, 1)
