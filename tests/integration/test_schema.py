from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import timing
from app.db.migrate import apply_migrations
from app.domain.reads import NewRead


def test_migrations_are_idempotent(db_url: str) -> None:
    assert apply_migrations(db_url) == []


def _read(session_id: int, location_id: int, seq: int) -> NewRead:
    now = datetime.now(UTC)
    return NewRead(
        session_id,
        location_id,
        seq,
        "FINISH",
        "1187",
        f"08:21:{seq:02d}.00",
        now,
        1,
        "0D4E5F",
        2,
        f"CT01_33~{seq}~FINISH~1187~08:21:{seq:02d}.00~1~0D4E5F~2",
        now,
    )


async def test_ingest_is_idempotent_and_stats_count(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        s = await timing.open_session(
            conn,
            provider_identity="p1",
            session_name="Session_x",
            provider_program="Sim",
            provider_version="1",
        )
        again = await timing.open_session(
            conn,
            provider_identity="p1",
            session_name="Session_y",
            provider_program="Sim",
            provider_version="1",
        )
        assert again.id == s.id
        loc = await timing.ensure_location(conn, s.id, "FINISH")
        batch = [_read(s.id, loc, i) for i in range(1, 6)]
        stored = await timing.store_reads(conn, batch)
        assert [r.sequence_number for r in stored] == [1, 2, 3, 4, 5]
        assert await timing.store_reads(conn, batch) == []
        assert await timing.count_reads(conn) == 5
        cur = await conn.execute(
            "SELECT total_reads, unique_tags, total_locations FROM timing_session_stats"
            " WHERE id = %s",
            (s.id,),
        )
        assert await cur.fetchone() == (5, 1, 1)


@pytest.mark.parametrize("expect_repeats", [False, True], ids=["copy-fast-path", "staged"])
async def test_both_store_paths_keep_guns_resume_points_and_read_time_order(
    pool: AsyncConnectionPool, expect_repeats: bool
) -> None:
    """The COPY fast path and the staged insert leave the same rows and side effects."""
    async with pool.connection() as conn:
        s = await timing.open_session(
            conn,
            provider_identity="paths",
            session_name="Session_paths",
            provider_program="Sim",
            provider_version="1",
        )
        loc = await timing.ensure_location(conn, s.id, "FINISH")
        base = datetime(2021, 10, 3, 8, tzinfo=UTC)
        # Arrival order is not read-time order: seq 3 was read first.
        batch = [
            _read(s.id, loc, 1)._replace(read_at=base + timedelta(seconds=2)),
            _read(s.id, loc, 2)._replace(read_at=base + timedelta(seconds=3)),
            _read(s.id, loc, 3)._replace(read_at=base + timedelta(seconds=1), tag_code="GUNTIME"),
        ]
        stored = await timing.store_reads(conn, batch, expect_repeats=expect_repeats)
        assert [r.sequence_number for r in stored] == [3, 1, 2]
        assert [r.id for r in stored] == sorted(r.id for r in stored)
        # A batch holding one repeat stores only the new read, on either path.
        again = [batch[0], _read(s.id, loc, 7)]
        stored_again = await timing.store_reads(conn, again, expect_repeats=expect_repeats)
        assert [r.sequence_number for r in stored_again] == [7]
        assert await timing.resume_points(conn, s.id) == {"FINISH": 7}
        cur = await conn.execute(
            "SELECT r.sequence_number FROM timing_gun_starts g"
            " JOIN timing_reads r ON r.id = g.read_id WHERE g.session_id = %s",
            (s.id,),
        )
        assert await cur.fetchall() == [(3,)]
        assert await timing.count_reads(conn) == 4


async def test_cleanup_old_sessions_ends_idle_ones(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        s = await timing.open_session(
            conn,
            provider_identity="old",
            session_name="Session_old",
            provider_program="Sim",
            provider_version="1",
        )
        await conn.execute(
            "UPDATE timing_sessions SET updated_at = now() - interval '10 days' WHERE id = %s",
            (s.id,),
        )
        cur = await conn.execute("SELECT cleanup_old_sessions(7)")
        assert await cur.fetchone() == (1,)
        cur = await conn.execute("SELECT status FROM timing_sessions WHERE id = %s", (s.id,))
        assert await cur.fetchone() == ("completed",)


def test_display_code_constraint(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        t = conn.execute(
            "INSERT INTO tenants (slug, name) VALUES ('t1', 'T') RETURNING id"
        ).fetchone()
        assert t
        e = conn.execute(
            "INSERT INTO events (tenant_id, name) VALUES (%s, 'E') RETURNING id", (t[0],)
        ).fetchone()
        assert e
        try:
            conn.execute(
                "INSERT INTO displays (tenant_id, event_id, code, name)"
                " VALUES (%s, %s, 'ABC', 'x')",
                (t[0], e[0]),
            )
        except psycopg.errors.CheckViolation:
            return
        raise AssertionError("a malformed display code was accepted")
