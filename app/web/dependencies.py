"""What handlers receive: the app's resources from state, and the signed-in user."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from app.db.pool import Pool
from app.domain.catalog import User
from app.pubsub import Bus
from app.services import auth
from app.services.live import DisplayHub
from app.settings import Settings
from app.web.session_store import renew_session

SESSION_USER = "user_id"
# The user's credential stamp at sign-in: a later password change ends the session.
SESSION_STAMP = "credential"

# Handler parameters filled by name from DEPENDENCIES and USER; they are the app's own
# objects, so there is nothing to validate (and a Protocol like Bus cannot be checked).
PoolDep = NamedDependency[SkipValidation[Pool]]
BusDep = NamedDependency[SkipValidation[Bus]]
HubDep = NamedDependency[SkipValidation[DisplayHub[bytes]]]
SettingsDep = NamedDependency[SkipValidation[Settings]]
UserDep = NamedDependency[SkipValidation[User]]


def provide_pool(state: State) -> Pool:
    pool: Pool = state.pool
    return pool


def provide_bus(state: State) -> Bus:
    bus: Bus = state.bus
    return bus


def provide_hub(state: State) -> DisplayHub[bytes]:
    hub: DisplayHub[bytes] = state.hub
    return hub


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


async def provide_user(request: Request[Any, Any, Any], pool: PoolDep) -> User:
    session = request.session
    return await auth.current_user(pool, session.get(SESSION_USER), session.get(SESSION_STAMP))


async def start_session(request: Request[Any, Any, Any], pool: Pool, user_id: int) -> None:
    """Sign a user in: a fresh session id (an id planted beforehand is worth nothing) holding
    the user and their credential stamp."""
    stamp = await auth.credential_stamp(pool, user_id)
    renew_session(request, {SESSION_USER: user_id, SESSION_STAMP: stamp})


def tenant_of(user: User) -> int:
    """The tenant whose data a user's pages show; platform admins have none here."""
    return user.own_tenant()


DEPENDENCIES = {
    "pool": Provide(provide_pool, sync_to_thread=False),
    "bus": Provide(provide_bus, sync_to_thread=False),
    "hub": Provide(provide_hub, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}
USER = {"user": Provide(provide_user)}
