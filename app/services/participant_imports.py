"""Participant files: upload, preview with a guessed mapping, then import (or check) in the
background with progress; valid rows land, bad ones are reported and downloadable."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TextIO

from app.db import catalog
from app.db import participants as db
from app.db.pool import Connection, Pool, tenant_connection
from app.domain.catalog import Event, ParticipantRow, ParticipantSummary
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.participant_import import (
    FORMATS,
    OPTIONAL_FIELDS,
    REMOVALS,
    TARGET_FIELDS,
    Header,
    ImportRow,
    ImportRowError,
    Upload,
    detect_format,
    errors_csv,
    guess_mapping,
    read_header,
    read_rows,
    source_for,
)
from app.domain.participants_in import ProviderParticipant, RowError
from app.domain.reads import STRIP_ZEROS
from app.domain.upload_files import count_lines, upload_text
from app.services.events import find_event, writable_event

# A running import writes its progress every PROGRESS_EVERY_S; one whose progress has not moved
# for STALE_AFTER_S died with its worker (its transaction rolled back) and may run again.
PROGRESS_EVERY_S = 0.5
STALE_AFTER_S = 30
SAMPLE_ROWS = 8
ERRORS_SHOWN = 50

log = logging.getLogger(__name__)

_NO_UPLOAD = "There is no such upload for this event."

Progress = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ParticipantList:
    event: Event
    summary: ParticipantSummary
    rows: list[ParticipantRow]
    limit: int


async def participant_list(
    pool: Pool, tenant_id: int, event_id: int, *, search: str = "", limit: int = 200
) -> ParticipantList:
    """The event's participants (the first `limit`, or those matching a bib or a name)."""
    async with tenant_connection(pool, tenant_id) as conn:
        event = await find_event(conn, tenant_id, event_id)
        summary = await db.participant_summary(conn, tenant_id, event_id)
        rows = await db.list_participants(conn, tenant_id, event_id, search=search, limit=limit)
    return ParticipantList(event, summary, rows, limit)


@dataclass(frozen=True, slots=True)
class Preview:
    upload: Upload
    headers: tuple[str, ...]
    mapping: dict[str, str]
    # The first rows as they would import, errors included, so a wrong mapping shows at once.
    sample: tuple[ImportRow | ImportRowError, ...]
    # A mapping that does not fit the file (e.g. no bib column chosen): why, instead of rows.
    problem: str = ""


async def create_upload(
    pool: Pool, tenant_id: int, event_id: int, *, user_id: int | None, filename: str, data: bytes
) -> Upload:
    """Store the file (as CSV text) with the mapping guessed for it; nothing is imported yet."""
    text = upload_text(filename, data)
    header = read_header(text.partition("\n")[0].rstrip("\r"))
    if not any(header.names):
        raise InvalidInput("The first line of the file must name its columns.")
    format = detect_format(header.names)
    async with tenant_connection(pool, tenant_id) as conn:
        await writable_event(conn, tenant_id, event_id)
        mapping = await _initial_mapping(conn, tenant_id, format, header.names)
        upload_id = await db.create_upload(
            conn,
            tenant_id,
            event_id,
            user_id=user_id,
            filename=filename[:200] or "upload.csv",
            format=format,
            content=text.encode(),
            total_lines=count_lines(text),
            mapping=mapping,
        )
        return await _get(conn, tenant_id, event_id, upload_id)


async def _initial_mapping(
    conn: Connection, tenant_id: int, format: str, headers: tuple[str, ...]
) -> dict[str, str]:
    """The guess from header names, overruled by the tenant's last import of this format.

    A remembered choice only counts where its column is in this file; a field the tenant
    deliberately left unmapped ("") stays unmapped.
    """
    mapping = guess_mapping(headers, format)
    remembered = await db.get_import_mapping(conn, tenant_id, format) or {}
    for target, header in remembered.items():
        if target not in TARGET_FIELDS:
            continue
        if header == "":
            mapping.pop(target, None)
        elif header in headers:
            for other in [t for t, h in mapping.items() if h == header and t != target]:
                del mapping[other]
            mapping[target] = header
    return mapping


async def _get(conn: Connection, tenant_id: int, event_id: int, upload_id: int) -> Upload:
    upload = await db.get_upload(conn, tenant_id, event_id, upload_id)
    if upload is None:
        raise NotFound(_NO_UPLOAD)
    return upload


async def get_upload(pool: Pool, tenant_id: int, event_id: int, upload_id: int) -> Upload:
    async with tenant_connection(pool, tenant_id) as conn:
        upload = await _get(conn, tenant_id, event_id, upload_id)
    if upload.state == "running" and _stale(upload):
        return _as_stopped(upload)
    return upload


def _stale(upload: Upload) -> bool:
    return (datetime.now(UTC) - upload.updated_at).total_seconds() > STALE_AFTER_S


def _as_stopped(upload: Upload) -> Upload:
    return replace(
        upload,
        state="failed",
        message="The import stopped when its server restarted; nothing was changed. Run it again.",
    )


async def list_uploads(pool: Pool, tenant_id: int, event_id: int, limit: int = 10) -> list[Upload]:
    async with tenant_connection(pool, tenant_id) as conn:
        await find_event(conn, tenant_id, event_id)
        uploads = await db.list_uploads(conn, tenant_id, event_id, limit)
    return [_as_stopped(u) if u.state == "running" and _stale(u) else u for u in uploads]


@dataclass(frozen=True, slots=True)
class _File:
    """A stored upload: UTF-8 CSV bytes, read as lines without decoding the whole file."""

    content: bytes

    def first_line(self) -> str:
        return self.content.partition(b"\n")[0].decode().rstrip("\r")

    def header(self) -> Header:
        return read_header(self.first_line())

    def lines(self) -> TextIO:
        return io.TextIOWrapper(io.BytesIO(self.content), encoding="utf-8", newline="")


async def _file(conn: Connection, tenant_id: int, event_id: int, upload_id: int) -> _File:
    content = await db.get_upload_content(conn, tenant_id, event_id, upload_id)
    if content is None:
        raise NotFound(_NO_UPLOAD)
    return _File(content)


def clean_mapping(fields: Mapping[str, str]) -> dict[str, str]:
    """Target → header from a form; "" marks a field left unmapped on purpose."""
    return {t: fields.get(t, "").strip() for t in TARGET_FIELDS if t in fields}


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise InvalidInput(f"Unknown export format {format!r}.")
    return format


async def preview(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    upload_id: int,
    *,
    format: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> Preview:
    """The upload with a mapping (the stored one, a re-guess for another format, or the
    user's edit) and its first rows read through it."""
    async with tenant_connection(pool, tenant_id) as conn:
        upload = await _get(conn, tenant_id, event_id, upload_id)
        file = await _file(conn, tenant_id, event_id, upload_id)
        header = file.header()
        if format is not None and format != upload.format:
            upload = replace(upload, format=check_format(format))
            if mapping is None:  # another format: guess again, with what it remembers
                mapping = await _initial_mapping(conn, tenant_id, format, header.names)
        chosen = clean_mapping(mapping) if mapping is not None else dict(upload.mapping)
    shown = {t: h for t, h in chosen.items() if h}
    head = itertools.islice(file.lines(), SAMPLE_ROWS + 1)
    try:
        items = read_rows(head, shown, source=source_for(upload.format))
        sample = tuple(items)
    except InvalidInput as exc:
        return Preview(upload, header.names, shown, (), str(exc))
    return Preview(upload, header.names, shown, sample)


async def start_import(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    upload_id: int,
    *,
    format: str,
    mapping: Mapping[str, str],
    removal: str,
    dry_run: bool,
) -> None:
    """Mark the upload running with this mapping; the caller then awaits (or spawns) run_import.

    The mapping is checked against the file first, so a bad one is refused here, in the form.
    """
    check_format(format)
    if removal not in REMOVALS:
        raise InvalidInput(f"Unknown choice {removal!r} for participants missing from the file.")
    chosen = clean_mapping(mapping)
    async with tenant_connection(pool, tenant_id) as conn:
        await writable_event(conn, tenant_id, event_id)
        first = (await _file(conn, tenant_id, event_id, upload_id)).first_line()
        # A mapping that cannot read the header fails now, with the reason.
        next(iter(read_rows([first], {t: h for t, h in chosen.items() if h}, source="")), None)
        started = await db.start_upload_run(
            conn,
            tenant_id,
            event_id,
            upload_id,
            format=format,
            mapping=chosen,
            removal=removal,
            dry_run=dry_run,
            stale_s=STALE_AFTER_S,
        )
    if not started:
        raise Conflict("This file is being imported already; wait for it to finish.")


async def run_import(
    pool: Pool,
    tenant_id: int,
    event_id: int,
    upload_id: int,
    progress: Progress | None = None,
) -> Upload:
    """Import (or, for a check, import and roll back) a started upload; returns its report.

    Everything happens in one transaction, so a failure halfway changes nothing. `progress`
    is called with the rows read so far every PROGRESS_EVERY_S while the file is read.
    """
    counter = _Counter()
    ticker = asyncio.create_task(_tick(counter, progress)) if progress else None
    try:
        return await _run(pool, tenant_id, event_id, upload_id, counter)
    except Exception as exc:
        message = str(exc) if isinstance(exc, (InvalidInput, Conflict, NotFound)) else ""
        try:
            await _finish(
                pool,
                tenant_id,
                upload_id,
                state="failed",
                rows_read=counter.rows,
                message=message or "The import failed and changed nothing; try again.",
            )
        except Exception:
            log.exception("could not record the failure of upload %s", upload_id)
        raise
    finally:
        if ticker is not None:
            ticker.cancel()


@dataclass(slots=True)
class _Counter:
    rows: int = 0


async def _tick(counter: _Counter, progress: Progress) -> None:
    last = -1
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        if counter.rows != last:
            last = counter.rows
            await progress(last)


class _Rollback(Exception):
    """Ends a check's transaction without keeping anything."""


async def _run(
    pool: Pool, tenant_id: int, event_id: int, upload_id: int, counter: _Counter
) -> Upload:
    errors: list[RowError] = []
    kept: list[str] = []
    outcome: db.ImportOutcome | None = None
    try:
        async with tenant_connection(pool, tenant_id) as conn:
            await writable_event(conn, tenant_id, event_id)
            # Read under a share lock: a tag-mode change waits for this import's chips.
            tag_mode = await catalog.lock_event_tag_mode(conn, tenant_id, event_id)
            upload = await _get(conn, tenant_id, event_id, upload_id)
            file = await _file(conn, tenant_id, event_id, upload_id)
            header = file.header()
            mapping = {t: h for t, h in upload.mapping.items() if h}
            items = read_rows(file.lines(), mapping, source=source_for(upload.format))
            outcome = await db.import_participants(
                conn,
                tenant_id,
                event_id,
                _valid(items, errors, kept, counter),
                given=_given(mapping),
                tag_mode=tag_mode or STRIP_ZEROS,
                removal="delete" if upload.removal == "delete" else "keep",
                kept_keys=kept,
            )
            if upload.dry_run:
                raise _Rollback
            await db.save_import_mapping(conn, tenant_id, upload.format, upload.mapping)
    except _Rollback:
        pass
    assert outcome is not None
    all_errors = sorted([*errors, *outcome.rejected], key=lambda e: e.row)
    counts = {**outcome.counts.as_dict(), "errors": len(all_errors)}
    return await _finish(
        pool,
        tenant_id,
        upload_id,
        state="done",
        rows_read=counter.rows,
        counts=counts,
        error_count=len(all_errors),
        errors_csv=errors_csv(all_errors, header.names),
    )


def _given(mapping: Mapping[str, str]) -> set[str]:
    """Model fields this mapping sets; unmapped ones keep their stored values."""
    given = {t for t in mapping if t in OPTIONAL_FIELDS}
    given.add("custom")  # every unmapped column is a custom field, so custom is always given
    return given


async def _valid(
    items: Iterator[ImportRow | ImportRowError],
    errors: list[RowError],
    kept: list[str],
    counter: _Counter,
) -> AsyncIterator[tuple[int, ProviderParticipant]]:
    for n, item in enumerate(items, 1):
        counter.rows = n
        if isinstance(item, ImportRow):
            yield item.line, item.participant
            continue
        errors.append(item)
        if item.key:
            kept.append(item.key)
        if n % 2048 == 0:
            await asyncio.sleep(0)  # let the progress ticker run on a long bad stretch


async def _finish(
    pool: Pool,
    tenant_id: int,
    upload_id: int,
    *,
    state: str,
    rows_read: int,
    counts: dict[str, int] | None = None,
    error_count: int = 0,
    errors_csv: str | None = None,
    message: str = "",
) -> Upload:
    async with tenant_connection(pool, tenant_id) as conn:
        return await db.finish_upload_run(
            conn,
            tenant_id,
            upload_id,
            state=state,
            rows_read=rows_read,
            counts=counts,
            error_count=error_count,
            errors_csv=errors_csv,
            message=message,
        )


async def write_progress(pool: Pool, tenant_id: int, upload_id: int, rows_read: int) -> None:
    async with tenant_connection(pool, tenant_id) as conn:
        await db.set_upload_progress(conn, tenant_id, upload_id, rows_read)


async def error_report(
    pool: Pool, tenant_id: int, event_id: int, upload_id: int
) -> tuple[str, str]:
    """(download file name, CSV text) of the last run's rejected rows."""
    async with tenant_connection(pool, tenant_id) as conn:
        found = await db.get_upload_errors(conn, tenant_id, event_id, upload_id)
    if found is None:
        raise NotFound(_NO_UPLOAD)
    filename, text = found
    if text is None:
        raise NotFound("This file has not been imported yet, so there is no error report.")
    stem = filename.rsplit(".", 1)[0] or "participants"
    return f"{stem}-errors.csv", text


def first_errors(report: str, limit: int = ERRORS_SHOWN) -> list[list[str]]:
    """The first rows of an error report (line, bib, reason, cells…) for the page."""
    reader = csv.reader(io.StringIO(report))
    next(reader, None)
    return list(itertools.islice(reader, limit))
