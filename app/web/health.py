"""GET /health: whether the database and the bus answer, for load balancers and tests."""

from __future__ import annotations

from litestar import Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from app.services import health as service
from app.web.dependencies import BusDep, PoolDep


@get("/health")
async def health(pool: PoolDep, bus: BusDep) -> Response[dict[str, object]]:
    report = await service.check(pool, bus)
    body: dict[str, object] = {
        "status": "ok" if report.ok else "degraded",
        "database": report.database,
        "bus": report.bus,
    }
    return Response(body, status_code=HTTP_200_OK if report.ok else HTTP_503_SERVICE_UNAVAILABLE)
