"""Writing an import or a sync into an event's participants, set-based over a COPYed stage."""

from __future__ import annotations

from collections.abc import AsyncIterable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from app.db.queries import fetch_all, fetch_one, q
from app.domain.catalog import ParticipantRow, ParticipantSummary
from app.domain.participant_import import ImportRowError, Upload
from app.domain.participants_in import ProviderParticipant, RowError
from app.domain.reads import normalize_tag

# What happens to stored participants an import does not mention: kept as they are (a partial
# file must not wipe an event), deleted (the file is the whole list), or marked cancelled (a
# full provider sync, where absence means the registration is gone).
Removal = Literal["keep", "delete", "cancel"]

_STAGE_TYPES = [
    "int4",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "date",
    "int4",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "bool",
    "jsonb",
    "jsonb",
    "text[]",
]


@dataclass(frozen=True, slots=True)
class ImportCounts:
    added: int
    updated: int
    unchanged: int
    # Stored participants the import did not mention (deleted, cancelled or kept per Removal).
    missing: int

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "missing": self.missing,
        }


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    counts: ImportCounts
    # Rows refused at the database: their bib is worn by a participant the import keeps.
    rejected: tuple[RowError, ...]


def _stage_row(
    line: int, p: ProviderParticipant, given: Collection[str], tag_mode: str
) -> tuple[Any, ...]:
    def opt(name: str, value: Any) -> Any:
        return value if name in given else None

    chips = sorted({c for c in (normalize_tag(c, tag_mode) for c in p.chips) if c})
    return (
        line,
        p.bib,
        p.source,
        p.source_id or None,
        opt("first_name", p.first_name),
        opt("last_name", p.last_name),
        opt("gender", p.gender),
        opt("birth_date", p.birth_date),
        opt("age", p.age),
        opt("city", p.city),
        opt("state", p.state),
        opt("country", p.country),
        opt("team", p.team),
        opt("sub_event", p.sub_event_name),
        opt("status", p.status),
        opt("vip", p.vip),
        Jsonb(dict(p.custom)) if "custom" in given else None,
        Jsonb(dict(p.raw)) if p.raw else None,
        chips if "chip" in given else None,
    )


async def import_participants(
    conn: AsyncConnection,
    tenant_id: int,
    event_id: int,
    rows: AsyncIterable[tuple[int, ProviderParticipant]],
    *,
    given: Collection[str],
    tag_mode: str,
    removal: Removal = "keep",
    source_scope: str | None = None,
    kept_keys: Iterable[str] = (),
) -> ImportOutcome:
    """Match (line, participant) rows with the event's participants and apply them.

    Matching is by source id, else bib. Fields not in `given` keep their stored values.
    `kept_keys` ("bib:N" / "id:X") name participants of rows refused before this point, so
    they never count as missing. Missing participants are those of `source_scope` (every
    source when None) that no row matched. Runs in the caller's transaction: a failure, or a
    dry run rolled back by the caller, changes nothing.
    """
    if conn.info.transaction_status != TransactionStatus.INTRANS:
        raise RuntimeError("import_participants needs a transaction (its stage drops at commit)")
    scope = {"tenant_id": tenant_id, "event_id": event_id}
    await conn.execute(q("create_import_staging"))
    async with conn.cursor() as cur:
        async with cur.copy(q("copy_import_staging")) as copy:
            copy.set_types(_STAGE_TYPES)
            async for line, participant in rows:
                await copy.write_row(_stage_row(line, participant, given, tag_mode))
        async with cur.copy(q("copy_import_kept")) as copy:
            for key in kept_keys:
                await copy.write_row((key,))
    await conn.execute(q("index_import_staging"))
    await conn.execute(q("match_import_by_source_id"), scope)
    await conn.execute(q("match_import_by_any_source_id"), scope)
    await conn.execute(q("match_import_by_bib"), scope)
    rejected: list[RowError] = []
    while True:
        cur = await conn.execute(q("reject_taken_bibs"), {**scope, "removal": removal})
        taken = await cur.fetchall()
        if not taken:
            break
        for line, bib, raw, first, last, source_id in taken:
            holder = f"{first} {last}".strip() or "another participant"
            if source_id:
                holder += f" (registration {source_id})"
            reason = f"bib {bib} is already worn by {holder}"
            # A CSV row's raw record is its cells by header, so the report can show the row.
            cells = tuple(str(v) for v in raw.values()) if raw else ()
            rejected.append(ImportRowError(line, reason, bib=bib, values=cells))
    await conn.execute(q("classify_import"))
    cur = await conn.execute(q("count_import"))
    added, updated, unchanged = await cur.fetchone() or (0, 0, 0)
    cur = await conn.execute(q("missing_participants"), {**scope, "source": source_scope})
    missing = cur.rowcount
    if removal == "delete":
        await conn.execute(q("delete_missing_participants"), scope)
    elif removal == "cancel":
        await conn.execute(q("cancel_missing_participants"), scope)
    await conn.execute(q("free_changed_bibs"))
    await conn.execute(q("update_imported_participants"))
    await conn.execute(q("insert_imported_participants"), scope)
    await conn.execute(q("match_inserted_participants"), scope)
    await conn.execute(q("clear_imported_chips"))
    await conn.execute(q("insert_imported_chips"), scope)
    counts = ImportCounts(added, updated, unchanged, max(missing, 0))
    return ImportOutcome(counts, tuple(sorted(rejected, key=lambda e: e.row)))


async def set_status_by_source_id(
    conn: AsyncConnection,
    tenant_id: int,
    event_id: int,
    *,
    source: str,
    source_id: str,
    status: str,
) -> bool:
    """A withdrawn registration's new status; False when it was unknown or already so."""
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "source": source,
        "source_id": source_id,
        "status": status,
    }
    cur = await conn.execute(q("set_participant_status"), params)
    return await cur.fetchone() is not None


async def create_upload(
    conn: AsyncConnection,
    tenant_id: int,
    event_id: int,
    *,
    user_id: int | None,
    filename: str,
    format: str,
    content: bytes,
    total_lines: int,
    mapping: dict[str, str],
) -> int:
    params = {
        "tenant_id": tenant_id,
        "event_id": event_id,
        "user_id": user_id,
        "filename": filename,
        "format": format,
        "content": content,
        "total_lines": total_lines,
        "mapping": Jsonb(mapping),
    }
    cur = await conn.execute(q("create_upload"), params)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def _scope(tenant_id: int, event_id: int, upload_id: int) -> dict[str, int]:
    return {"tenant_id": tenant_id, "event_id": event_id, "upload_id": upload_id}


async def get_upload(
    conn: AsyncConnection, tenant_id: int, event_id: int, upload_id: int
) -> Upload | None:
    row: Upload | None = await fetch_one(
        conn, Upload, "get_upload", _scope(tenant_id, event_id, upload_id)
    )
    return row


async def get_upload_content(
    conn: AsyncConnection, tenant_id: int, event_id: int, upload_id: int
) -> bytes | None:
    cur = await conn.execute(q("get_upload_content"), _scope(tenant_id, event_id, upload_id))
    row = await cur.fetchone()
    return bytes(row[0]) if row else None


async def get_upload_errors(
    conn: AsyncConnection, tenant_id: int, event_id: int, upload_id: int
) -> tuple[str, str | None] | None:
    """(file name, error report CSV or None before the first run)."""
    cur = await conn.execute(q("get_upload_errors"), _scope(tenant_id, event_id, upload_id))
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def list_uploads(
    conn: AsyncConnection, tenant_id: int, event_id: int, limit: int
) -> list[Upload]:
    return await fetch_all(
        conn, Upload, "list_uploads", {"tenant_id": tenant_id, "event_id": event_id, "limit": limit}
    )


async def start_upload_run(
    conn: AsyncConnection,
    tenant_id: int,
    event_id: int,
    upload_id: int,
    *,
    format: str,
    mapping: dict[str, str],
    removal: str,
    dry_run: bool,
    stale_s: float,
) -> bool:
    """False when the upload is running already (and not stale) or is not the event's."""
    params = {
        **_scope(tenant_id, event_id, upload_id),
        "format": format,
        "mapping": Jsonb(mapping),
        "removal": removal,
        "dry_run": dry_run,
        "stale_s": stale_s,
    }
    cur = await conn.execute(q("start_upload_run"), params)
    return await cur.fetchone() is not None


async def set_upload_progress(
    conn: AsyncConnection, tenant_id: int, upload_id: int, rows_read: int
) -> None:
    params = {"tenant_id": tenant_id, "upload_id": upload_id, "rows_read": rows_read}
    await conn.execute(q("set_upload_progress"), params)


async def finish_upload_run(
    conn: AsyncConnection,
    tenant_id: int,
    upload_id: int,
    *,
    state: str,
    rows_read: int,
    counts: dict[str, int] | None,
    error_count: int,
    errors_csv: str | None,
    message: str,
) -> Upload:
    params = {
        "tenant_id": tenant_id,
        "upload_id": upload_id,
        "state": state,
        "rows_read": rows_read,
        "counts": Jsonb(counts) if counts is not None else None,
        "error_count": error_count,
        "errors_csv": errors_csv,
        "message": message,
    }
    row: Upload = await fetch_one(conn, Upload, "finish_upload_run", params)
    return row


async def get_import_mapping(
    conn: AsyncConnection, tenant_id: int, format: str
) -> dict[str, str] | None:
    cur = await conn.execute(q("get_import_mapping"), {"tenant_id": tenant_id, "format": format})
    row = await cur.fetchone()
    return dict(row[0]) if row else None


async def save_import_mapping(
    conn: AsyncConnection, tenant_id: int, format: str, mapping: dict[str, str]
) -> None:
    params = {"tenant_id": tenant_id, "format": format, "mapping": Jsonb(mapping)}
    await conn.execute(q("save_import_mapping"), params)


async def list_participants(
    conn: AsyncConnection, tenant_id: int, event_id: int, *, search: str = "", limit: int = 200
) -> list[ParticipantRow]:
    params = {"tenant_id": tenant_id, "event_id": event_id, "search": search, "limit": limit}
    return await fetch_all(conn, ParticipantRow, "list_participants", params)


async def participant_summary(
    conn: AsyncConnection, tenant_id: int, event_id: int
) -> ParticipantSummary:
    row: ParticipantSummary = await fetch_one(
        conn,
        ParticipantSummary,
        "participant_summary",
        {"tenant_id": tenant_id, "event_id": event_id},
    )
    return row
