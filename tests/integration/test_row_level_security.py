"""Row-level security proven: queries with no tenant filter at all, run as the app role."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.db.pool import tenant_connection
from tests.integration.test_isolation import Tenant, _tenant

# Every table that holds a tenant's rows, directly or through its timing session.
TENANT_TABLES = {
    "tenants": "SELECT count(*) FROM tenants",
    "users": "SELECT count(*) FROM users",
    "events": "SELECT count(*) FROM events",
    "participants": "SELECT count(*) FROM participants",
    "participant_chips": "SELECT count(*) FROM participant_chips",
    "displays": "SELECT count(*) FROM displays",
    "timing_sessions": "SELECT count(*) FROM timing_sessions",
    "timing_locations": "SELECT count(*) FROM timing_locations",
    "timing_reads": "SELECT count(*) FROM timing_reads",
    "invitations": "SELECT count(*) FROM invitations",
    "chip_bibs": "SELECT count(*) FROM chip_bibs",
    "participant_uploads": "SELECT count(*) FROM participant_uploads",
    "import_mappings": "SELECT count(*) FROM import_mappings",
    "provider_accounts": "SELECT count(*) FROM provider_accounts",
    "event_syncs": "SELECT count(*) FROM event_syncs",
    "timing_session_stats": "SELECT count(*) FROM timing_session_stats",
    "display_templates": "SELECT count(*) FROM display_templates",
    "display_template_versions": "SELECT count(*) FROM display_template_versions",
    "images": "SELECT count(*) FROM images",
    "display_messages": "SELECT count(*) FROM display_messages",
}


@pytest.fixture
async def tenants(pool: AsyncConnectionPool) -> tuple[Tenant, Tenant]:
    return (
        await _tenant(pool, "alpha-rls", "Astrid Alvheim", "101"),
        await _tenant(pool, "bravo-rls", "Zebulon Quixote", "7777"),
    )


async def _count(conn: psycopg.AsyncConnection, sql: str) -> int:
    row = await (await conn.execute(sql)).fetchone()
    assert row is not None
    return int(row[0])


async def test_an_unscoped_query_as_the_app_role_sees_only_the_current_tenant(
    pool: AsyncConnectionPool, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    async with pool.connection() as conn:
        everything = {t: await _count(conn, sql) for t, sql in TENANT_TABLES.items()}
    for tenant in (a, b):
        async with tenant_connection(pool, tenant.tenant_id) as conn:
            mine = {t: await _count(conn, sql) for t, sql in TENANT_TABLES.items()}
            names = [n for (n,) in await (await conn.execute("SELECT name FROM events")).fetchall()]
            bibs = [
                n for (n,) in await (await conn.execute("SELECT bib FROM participants")).fetchall()
            ]
        # Each tenant holds exactly half of every table here (the seed is symmetric).
        assert {t: 2 * n for t, n in mine.items()} == everything, mine
        assert all(tenant.slug.title() in n for n in names), names
        assert bibs == [tenant.secrets[4]]


async def test_the_app_role_without_a_tenant_sees_nothing(
    pool: AsyncConnectionPool, tenants: tuple[Tenant, Tenant]
) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE racedisplay_app")
        for table, sql in TENANT_TABLES.items():
            assert await _count(conn, sql) == 0, table


async def test_the_app_role_cannot_write_into_another_tenant(
    pool: AsyncConnectionPool, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        async with tenant_connection(pool, a.tenant_id) as conn:
            await conn.execute(
                "INSERT INTO events (tenant_id, name) VALUES (%s, 'Planted')", (b.tenant_id,)
            )
    async with tenant_connection(pool, a.tenant_id) as conn:
        moved = await conn.execute(
            "UPDATE events SET name = 'Hijacked' WHERE id = %s", (b.event_id,)
        )
        assert moved.rowcount == 0
        # Nor can a row of its own be handed to the other tenant.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(
                "UPDATE events SET tenant_id = %s WHERE id = %s", (b.tenant_id, a.event_id)
            )
