from datetime import UTC, datetime, timedelta, timezone

from app.domain.reads import ReadBatch, StoredRead


def test_a_batch_survives_the_bus_encoding_field_for_field() -> None:
    reads = (
        StoredRead(41, 7, "FINISH", "009573", datetime(2021, 10, 3, 9, 1, 2, 340000, UTC), 12, 1),
        StoredRead(
            42,
            7,
            "Start ~ mat",
            'odd"tag',
            datetime(2021, 10, 3, 9, 1, 3, tzinfo=timezone(timedelta(hours=2))),
            13,
            2,
        ),
    )
    for provisional in (False, True):
        batch = ReadBatch(7, 3, 5, reads, provisional)
        assert ReadBatch.from_json(batch.to_json()) == batch


def test_an_unclaimed_session_batch_keeps_its_missing_event() -> None:
    batch = ReadBatch(9, None, None, ())
    assert ReadBatch.from_json(batch.to_json()) == batch
