"""Decoder health: gaps, rates, skew and silence, as an operator reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.reads import NewRead
from collector.health import SKEW_FLAG_S, DecoderHealth, GapTracker, RateWindow

NOW = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)


def read(seq: int, tag: str = "1187", skew_s: float = -2.0, location: str = "FINISH") -> NewRead:
    at = NOW + timedelta(seconds=skew_s)
    return NewRead(1, 0, seq, location, tag, "t", at, 1, "0D4E5F", 1, "raw", NOW)


def test_gaps_are_counted_and_filled_by_late_reads() -> None:
    gaps = GapTracker()
    for seq in (1, 2, 5, 6, 10, 3):
        gaps.see(seq)
    assert gaps.gaps == 2
    assert list(gaps.ranges) == [(4, 4), (7, 9)]
    assert gaps.missing == 4
    gaps.see(8)
    assert list(gaps.ranges) == [(4, 4), (7, 7), (9, 9)] and gaps.missing == 3
    gaps.see(8)  # a repeat fills nothing twice
    assert gaps.missing == 3


def test_a_resume_counts_what_the_provider_skips() -> None:
    gaps = GapTracker()
    gaps.resume_from(100)
    gaps.see(105)
    assert list(gaps.ranges) == [(101, 104)] and gaps.missing == 4
    # A later resume below what was seen does not move the expectation back.
    gaps.resume_from(50)
    gaps.see(106)
    assert gaps.gaps == 1


def test_reads_per_minute_forget_older_seconds() -> None:
    rate = RateWindow()
    rate.add(1000.2, 5)
    rate.add(1000.7, 5)
    rate.add(1030.0, 3)
    assert rate.per_minute(1030.5) == 13
    assert rate.per_minute(1065.0) == 3
    rate.add(1200.0, 1)
    assert rate.per_minute(1200.0) == 1


def test_a_point_goes_silent_then_disconnected() -> None:
    health = DecoderHealth(silent_after=30)
    point = health.connected("sim-FINISH", "127.0.0.1:1", "SimpleClient", "0.6.0")
    point.event_id = 9
    health.chips[9] = {"1187"}
    point.record([read(1), read(2, tag="0002305"), read(3, tag="guntime")], now=100.0)
    (view,) = health.snapshot(now=110.0)
    assert view["state"] == "ok" and view["connected"] is True
    (loc,) = view["locations"]
    assert loc["reads"] == 3 and loc["distinct_tags"] == 2 and loc["unknown_chips"] == 1
    assert loc["reads_per_minute"] == 3 and loc["last_read_age_s"] == 10.0
    assert health.snapshot(now=131.0)[0]["state"] == "silent"
    health.disconnected(point, "127.0.0.1:1", "peer closed the connection", now=140.0)
    view = health.snapshot(now=141.0)[0]
    assert view["state"] == "disconnected" and view["close_reason"] == "peer closed the connection"


def test_a_point_just_connected_has_silent_after_to_send_its_first_read() -> None:
    health = DecoderHealth(silent_after=30)
    health.connected("sim-START", "127.0.0.1:1", "SimpleClient", "0.6.0", mono=500.0)
    assert health.snapshot(now=529.0)[0]["state"] == "ok"
    assert health.snapshot(now=531.0)[0]["state"] == "silent"


def test_clock_skew_is_measured_and_flagged() -> None:
    health = DecoderHealth()
    point = health.connected("x", "p", "SimpleClient", "0.6.0")
    point.record([read(1, skew_s=-3.0)], now=1.0)
    assert health.snapshot(1.0)[0]["skew_flagged"] is False
    # A controller whose clock was never set (1980) is flagged, its reads counted.
    point.record([read(2, skew_s=-SKEW_FLAG_S * 10**5), read(3, skew_s=-SKEW_FLAG_S * 10**5)], 2.0)
    view = health.snapshot(2.0)[0]
    assert view["skew_flagged"] is True and view["skewed_reads"] == 2


def test_metrics_are_prometheus_text_with_escaped_labels() -> None:
    health = DecoderHealth()
    point = health.connected('odd"name\\', "p", "SimpleClient", "0.6.0")
    point.record([read(1), read(4)], now=5.0)
    text = "\n".join(health.metrics(now=6.0))
    labels = 'identity="odd\\"name\\\\",session="",location="FINISH"'
    assert f"racedisplay_location_missing_reads{{{labels}}} 2" in text
    assert "# TYPE racedisplay_location_reads_total counter" in text
    assert f"racedisplay_location_reads_total{{{labels}}} 2" in text
    # No participant list known for this point: the unknown-chip gauge is left out.
    assert "racedisplay_location_unknown_chips{" not in text
