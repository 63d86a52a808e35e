"""create_app(settings): the Litestar app with its resources opened in the lifespan."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from app.db.pool import Pool, open_pool
from app.pubsub import Bus, create_bus
from app.services.live import DisplayHub
from app.settings import Settings
from app.web import auth, displays, events, operations
from app.web.dependencies import DEPENDENCIES
from app.web.errors import EXCEPTION_HANDLERS
from app.web.health import health
from app.web.rendering import DisplayRenderer, create_environment

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
# Public and machine routes carry no login and post no forms: no session, no CSRF cookie.
_PUBLIC = ["^/d/", "^/static/", "^/health$"]
SESSION_MAX_AGE_S = 7 * 24 * 3600


def _derive(secret: str, purpose: str) -> bytes:
    """A separate 32-byte key per use, so one leaked key does not unlock the other."""
    return hashlib.sha256(f"racedisplay:{purpose}:{secret}".encode()).digest()


def create_app(settings: Settings, *, pool: Pool | None = None, bus: Bus | None = None) -> Litestar:
    """The web app; a given pool or bus is used and left open, missing ones are owned."""
    if not settings.secret_key:
        raise ValueError("settings.secret_key is empty: apply Settings.with_secret() first")
    if pool is None and not settings.database_url:
        raise ValueError("settings.database_url is empty: resolve the database first")

    env = create_environment()
    render = DisplayRenderer(env)
    secure = settings.base_url.startswith("https://")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own_pool = pool is None
        own_bus = bus is None
        the_pool = pool
        if the_pool is None:
            assert settings.database_url
            the_pool = await open_pool(
                settings.database_url, settings.db_pool_min, settings.db_pool_max
            )
        the_bus = create_bus(settings.redis_url) if bus is None else bus
        hub: DisplayHub[bytes] = DisplayHub(the_pool, the_bus, render)
        app.state.pool = the_pool
        app.state.bus = the_bus
        app.state.hub = hub
        try:
            yield
        finally:
            await hub.close()
            if own_bus:
                await the_bus.close()
            if own_pool:
                await the_pool.close()

    session = CookieBackendConfig(
        secret=_derive(settings.secret_key, "session"),
        key="rd_session",
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=secure,
        exclude=_PUBLIC,
    )
    csrf = CSRFConfig(
        secret=_derive(settings.secret_key, "csrf").hex(),
        cookie_name="rd_csrf",
        cookie_secure=secure,
        # Pages carry the token themselves (form field, hx-headers); scripts never read it.
        cookie_httponly=True,
        cookie_samesite="lax",
        exclude=_PUBLIC,
    )
    return Litestar(
        route_handlers=[
            *auth.ROUTES,
            events.router,
            operations.router,
            displays.router,
            health,
            create_static_files_router(path="/static", directories=[STATIC_DIR]),
        ],
        lifespan=[lifespan],
        middleware=[session.middleware],
        csrf_config=csrf,
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        exception_handlers=EXCEPTION_HANDLERS,
        dependencies=DEPENDENCIES,
        state=State({"settings": settings}),
        openapi_config=None,
        # The process entry point configures logging once, for app and collector alike.
        logging_config=None,
        debug=False,
    )
