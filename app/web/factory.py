"""create_app(settings): the Litestar app with its resources opened in the lifespan."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.template import TemplateConfig

from app.db.pool import Pool, open_pool
from app.pubsub import Bus, create_bus
from app.pubsub.kv import RedisKV
from app.services.jobs import Jobs
from app.services.live import DisplayHub
from app.settings import Settings
from app.web import (
    accounts,
    audit,
    auth,
    display_access,
    display_settings,
    displays,
    events,
    operations,
    participants,
)
from app.web import announcer as announcer_pages
from app.web import api as api_routes
from app.web import builder as template_pages
from app.web import images as image_pages
from app.web import messages as message_pages
from app.web import provider_sync as sync_pages
from app.web import results as results_pages
from app.web import spectator as spectator_pages
from app.web import timing_sessions as session_pages
from app.web.dependencies import DEPENDENCIES
from app.web.errors import EXCEPTION_HANDLERS
from app.web.health import health
from app.web.rendering import DisplayRenderer, create_environment
from app.web.security import add_security_headers, cookies_secure
from app.web.session_store import PostgresSessionStore, RedisSessionStore, SessionConfig

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
# Public and machine routes carry no login and post no forms: no session, no CSRF cookie.
_PUBLIC = ["^/d/", "^/static/", "^/health$", "^/media/", "^/api/displays/", "^/api/schema"]
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
    secure = cookies_secure(settings.base_url)
    kv = RedisKV(settings.redis_url, "racedisplay:session:") if settings.redis_url else None
    sessions: Store
    if kv is not None:
        sessions = RedisSessionStore(kv, SESSION_MAX_AGE_S)
    else:
        sessions = PostgresSessionStore(lambda: app.state.pool, SESSION_MAX_AGE_S)

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
        # The API's stream gets the same events and ids encoded as JSON (app.web.api).
        hub: DisplayHub[bytes] = DisplayHub(
            the_pool, the_bus, render, encodings={"json": api_routes.JsonRenderer()}
        )
        jobs = Jobs()
        app.state.jobs = jobs
        app.state.pool = the_pool
        app.state.bus = the_bus
        app.state.hub = hub
        try:
            yield
        finally:
            await jobs.close()
            await hub.close()
            if kv is not None:
                await kv.close()
            if own_bus:
                await the_bus.close()
            if own_pool:
                await the_pool.close()

    session = SessionConfig(
        key="rd_session",
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=secure,
        exclude=_PUBLIC,
        store="sessions",
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
    app = Litestar(
        route_handlers=[
            *auth.ROUTES,
            *accounts.ROUTES,
            *audit.ROUTES,
            events.router,
            participants.router,
            *image_pages.ROUTES,
            results_pages.router,
            *session_pages.ROUTERS,
            operations.router,
            *sync_pages.ROUTERS,
            displays.router,
            template_pages.router,
            template_pages.display_router,
            spectator_pages.router,
            *announcer_pages.ROUTERS,
            display_access.router,
            display_settings.router,
            *message_pages.ROUTERS,
            *api_routes.routers(),
            health,
            create_static_files_router(path="/static", directories=[STATIC_DIR]),
        ],
        # The sync scheduler starts after the pool opens and stops before it closes.
        lifespan=[lifespan, sync_pages.scheduler_lifespan],
        middleware=[session.middleware],
        stores={"sessions": sessions},
        before_send=[add_security_headers],
        csrf_config=csrf,
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        exception_handlers=EXCEPTION_HANDLERS,
        dependencies=DEPENDENCIES,
        state=State({"settings": settings}),
        # Only the JSON API is described: its routers set include_in_schema=True.
        openapi_config=api_routes.openapi_config(),
        include_in_schema=False,
        # The process entry point configures logging once, for app and collector alike.
        logging_config=None,
        debug=False,
    )
    return app
