"""An event's participants: the list, file uploads with a mapping preview, imports with live
progress and a downloadable error report, and the chip file."""

from __future__ import annotations

import io
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST

from app.db.pool import Pool
from app.domain.errors import InvalidInput
from app.domain.participant_import import (
    FORMAT_NAMES,
    REMOVALS,
    TARGET_FIELDS,
)
from app.domain.upload_files import MAX_UPLOAD_BYTES, upload_text
from app.services import chip_files
from app.services import participant_imports as service
from app.web.dependencies import USER, PoolDep, UserDep, tenant_of
from app.web.events import see_other

# The form's own fields and boundaries on top of the file.
_BODY_LIMIT = MAX_UPLOAD_BYTES + 64 * 1024

FIELD_LABELS = {
    "source_id": "Registration id",
    "bib": "Bib",
    "chip": "Chip code(s)",
    "first_name": "First name",
    "last_name": "Last name",
    "gender": "Gender",
    "birth_date": "Birth date",
    "age": "Age",
    "city": "City",
    "state": "State / province",
    "country": "Country",
    "team": "Team",
    "sub_event": "Distance / sub-event",
    "status": "Status",
    "vip": "VIP",
}
assert set(FIELD_LABELS) == set(TARGET_FIELDS)


async def _file(request: Request[Any, Any, Any]) -> tuple[str, bytes]:
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("Choose a file to upload.")
    return upload.filename, await upload.read()


@get("/participants")
async def participants(
    event_id: FromPath[int], user: UserDep, pool: PoolDep, q: FromQuery[str] = ""
) -> Template:
    page = await service.participant_list(pool, tenant_of(user), event_id, search=q.strip())
    uploads = await service.list_uploads(pool, tenant_of(user), event_id)
    context = {"user": user, "p": page, "uploads": uploads, "q": q, "formats": FORMAT_NAMES}
    return Template("participants/list.html", context=context)


@post("/participants/upload", request_max_body_size=_BODY_LIMIT)
async def upload_file(
    request: Request[Any, Any, Any], event_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[Any]:
    filename, data = await _file(request)
    upload = await service.create_upload(
        pool, tenant_of(user), event_id, user_id=user.id, filename=filename, data=data
    )
    return see_other(request, f"/events/{event_id}/imports/{upload.id}")


def _form_mapping(form: Any) -> dict[str, str]:
    return {t: str(form.get(f"map_{t}") or "") for t in TARGET_FIELDS}


def _preview_context(preview: service.Preview, event_id: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "pv": preview,
        "labels": FIELD_LABELS,
        "formats": FORMAT_NAMES,
        "removals": REMOVALS,
    }


@get("/imports/{upload_id:int}")
async def import_page(
    event_id: FromPath[int], upload_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    tenant_id = tenant_of(user)
    preview = await service.preview(pool, tenant_id, event_id, upload_id)
    status = await _status_context(pool, tenant_id, event_id, upload_id)
    context = {"user": user, **_preview_context(preview, event_id), **status}
    return Template("participants/import.html", context=context)


@get("/imports/{upload_id:int}/sample")
async def import_sample(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    upload_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    format: FromQuery[str] = "",
) -> Template:
    """The mapping form and sample rows again, after the timer changed the format or a column."""
    params = request.query_params
    reguess = params.get("changed") == "format"
    preview = await service.preview(
        pool,
        tenant_of(user),
        event_id,
        upload_id,
        format=format or None,
        mapping=None if reguess else _form_mapping(params),
    )
    return Template("participants/_mapping.html", context=_preview_context(preview, event_id))


@post("/imports/{upload_id:int}")
async def run_import(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    upload_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
) -> Response[Any]:
    form = await request.form()
    tenant_id = tenant_of(user)
    await service.start_import(
        pool,
        tenant_id,
        event_id,
        upload_id,
        format=str(form.get("format") or "generic"),
        mapping=_form_mapping(form),
        removal=str(form.get("removal") or "keep"),
        dry_run=form.get("action") == "check",
    )

    async def progress(rows: int) -> None:
        await service.write_progress(pool, tenant_id, upload_id, rows)

    request.app.state.jobs.spawn(
        service.run_import(pool, tenant_id, event_id, upload_id, progress),
        name=f"import-{upload_id}",
    )
    return see_other(request, f"/events/{event_id}/imports/{upload_id}#report")


async def _status_context(
    pool: Pool, tenant_id: int, event_id: int, upload_id: int
) -> dict[str, Any]:
    upload = await service.get_upload(pool, tenant_id, event_id, upload_id)
    shown: list[list[str]] = []
    if upload.state == "done" and upload.error_count:
        _, report = await service.error_report(pool, tenant_id, event_id, upload_id)
        shown = service.first_errors(report)
    return {"event_id": event_id, "upload": upload, "first_errors": shown}


@get("/imports/{upload_id:int}/status")
async def import_status(
    event_id: FromPath[int], upload_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    """The progress or the report; the page polls it while the import runs."""
    context = await _status_context(pool, tenant_of(user), event_id, upload_id)
    return Template("participants/_status.html", context=context)


@get("/imports/{upload_id:int}/errors.csv")
async def import_errors(
    event_id: FromPath[int], upload_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Response[bytes]:
    name, text = await service.error_report(pool, tenant_of(user), event_id, upload_id)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return Response(
        text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "Cache-Control": "no-store",
        },
    )


@post("/chips", request_max_body_size=_BODY_LIMIT)
async def upload_chip_file(
    request: Request[Any, Any, Any], event_id: FromPath[int], user: UserDep, pool: PoolDep
) -> Template:
    filename, data = await _file(request)
    text = upload_text(filename, data)
    report = await chip_files.import_chip_file(pool, tenant_of(user), event_id, io.StringIO(text))
    status = HTTP_400_BAD_REQUEST if not report.imported and report.errors else 200
    return Template(
        "participants/_chip_report.html",
        context={"report": report, "filename": filename},
        status_code=status,
    )


router = Router(
    path="/events/{event_id:int}",
    route_handlers=[
        participants,
        upload_file,
        import_page,
        import_sample,
        run_import,
        import_status,
        import_errors,
        upload_chip_file,
    ],
    dependencies=USER,
)
