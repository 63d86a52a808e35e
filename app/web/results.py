"""An event's results: the table, UltraSignup/RunSignUp CSV, Athlinks JSON, posting to RunSignUp."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK, HTTP_400_BAD_REQUEST, HTTP_502_BAD_GATEWAY

from app.services import results as service
from app.services.provider_sync import SyncConfig
from app.web.dependencies import USER, PoolDep, SettingsDep, UserDep, tenant_of
from app.web.errors import is_htmx

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
# Results change with every read: a download is always made fresh.
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class PostForm:
    sync_id: str = ""
    rank: str = ""


def _attachment(body: bytes, media_type: str, filename: str) -> Response[bytes]:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **_NO_STORE},
    )


@get("/results")
async def results_page(
    event_id: FromPath[int], user: UserDep, pool: PoolDep, rank: FromQuery[str] = ""
) -> Template:
    tenant_id = tenant_of(user)
    results = await service.event_placings(pool, tenant_id, event_id, service.rank_by_of(rank))
    syncs = await service.runsignup_syncs(pool, tenant_id, event_id)
    context = {
        "user": user,
        "event": results.event,
        "results": results,
        "syncs": syncs,
        "formats": service.CSV_FORMATS,
    }
    return Template("results/page.html", context=context)


@get("/results.csv")
async def results_csv(
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    format: FromQuery[str] = "ultrasignup",
    sub_event: FromQuery[str | None] = None,
    rank: FromQuery[str] = "",
) -> Response[bytes]:
    results = await service.event_placings(
        pool, tenant_of(user), event_id, service.rank_by_of(rank)
    )
    name, text = service.results_csv(results, format, sub_event)
    return _attachment(text.encode(), "text/csv; charset=utf-8", name)


@get("/results/athlinks.json")
async def athlinks_json(
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    sub_event: FromQuery[str | None] = None,
    athlinks_event: FromQuery[str] = "",
    athlinks_race: FromQuery[str] = "",
    finalize: FromQuery[bool] = False,
    rank: FromQuery[str] = "",
) -> Response[bytes]:
    results = await service.event_placings(
        pool, tenant_of(user), event_id, service.rank_by_of(rank)
    )
    name, body = service.athlinks_body(
        results,
        sub_event=sub_event,
        third_party_event_id=athlinks_event,
        third_party_race_id=athlinks_race,
        finalize=finalize,
    )
    return _attachment(json.dumps(body, indent=2).encode(), "application/json", name)


@post("/results/runsignup")
async def post_runsignup(
    request: Request[Any, Any, Any],
    event_id: FromPath[int],
    user: UserDep,
    pool: PoolDep,
    settings: SettingsDep,
    data: Annotated[PostForm, _FORM],
) -> Template:
    sync_id = int(data.sync_id) if data.sync_id.strip().isdigit() else 0
    report = await service.post_to_runsignup(
        pool,
        SyncConfig.from_settings(settings),
        tenant_of(user),
        event_id,
        sync_id,
        service.rank_by_of(data.rank),
    )
    status = HTTP_200_OK
    if report.error:
        # Our request was fine; the provider refused it or could not be reached.
        status = HTTP_400_BAD_REQUEST if report.error_is_input else HTTP_502_BAD_GATEWAY
    context = {"user": user, "event_id": event_id, "report": report}
    template = "results/_posted.html" if is_htmx(request) else "results/posted.html"
    return Template(template, context=context, status_code=status)


router = Router(
    path="/events/{event_id:int}",
    route_handlers=[results_page, results_csv, athlinks_json, post_runsignup],
    dependencies=USER,
)
