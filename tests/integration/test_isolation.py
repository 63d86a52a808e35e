"""Tenant isolation: every route of the app, asked by tenant A for tenant B's ids.

The suite walks the app's own route table, so a route added later is checked as well. A route
whose path parameter it does not know, or that is neither public nor tenant-scoped here,
fails the suite until someone says how it is scoped: that is the point.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from PIL import Image
from psycopg_pool import AsyncConnectionPool

from app.db import catalog, provider_sync, timing
from app.db import messages as messages_db
from app.db import templates as templates_db
from app.db.pool import tenant_connection
from app.domain.catalog import ParticipantIn
from app.domain.codes import new_display_code
from app.domain.messages import MessageText, Schedule
from app.domain.reads import NewRead
from app.domain.templates import starter_layout
from app.providers.secrets import CredentialBox, new_key
from app.services import accounts
from app.services import images as image_service
from app.services import participant_imports as imports
from app.services.auth import hash_password
from app.settings import Settings
from app.web.factory import create_app
from tests.integration.tenancy import claimed_session

PASSWORD = "correct horse battery staple"
Client = AsyncTestClient[Litestar]
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')

# Routes anyone may call. Display routes are reached by their 8-character code, a capability
# a timer hands out (a QR code at the venue); they show one display and nothing else.
PUBLIC = {
    "/",
    "/login",
    "/logout",
    "/health",
    "/static/{file_path:path}",
    "/d/{code:str}",
    "/d/{code:str}/stream",
    "/d/{code:str}/feed",
    "/d/{code:str}/current",
    "/d/{code:str}/look.css",
    "/d/{code:str}/qr.svg",
    # The spectator page of a display: the same capability, the same event's runners.
    "/s/{code:str}",
    "/s/{code:str}/stream",
    "/s/{code:str}/search",
    "/s/{code:str}/runners/{participant_id:int}",
    # The announcer view of a display: the same capability, the same event's runners.
    "/a/{code:str}",
    "/a/{code:str}/lists",
    "/a/{code:str}/search",
    # A screen's PIN for the display its code names: the code is the capability, the PIN a
    # second factor for that one display.
    "/d/{code:str}/pin",
    "/d/{code:str}/messages",
    # One-time links: the token is the capability, and it shows only its own invitation/user.
    "/invite/{token:str}",
    "/reset/{token:str}",
    # An image by its random key: the key is the capability, as a display code is, and it
    # names one image's bytes and nothing else.
    "/media/{key:str}",
    # The JSON API of a display, by the same code (and behind the same screen PIN).
    "/api/displays/{code:str}",
    "/api/displays/{code:str}/current",
    "/api/displays/{code:str}/messages",
    "/api/displays/{code:str}/stream",
    # The API's OpenAPI schema: the same document for everyone, no data.
    "/api/schema",
    "/api/schema/openapi.json",
    "/api/schema/{path:str}",
}


# A valid form for each route that takes one, so that the request gets past validation to
# the scoping: a foreign id must answer 404 however good the form is.
FORMS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/events/{event_id:int}/displays"): {"name": "Sneaky screen", "locations": "FINISH"},
    ("POST", "/team/invitations/{invitation_id:int}/revoke"): {},
    ("POST", "/team/members/{user_id:int}/role"): {"role": "operator"},
    ("POST", "/team/members/{user_id:int}/remove"): {},
    ("POST", "/team/members/{user_id:int}/reset-link"): {},
    ("POST", "/events/{event_id:int}"): {
        "name": "Sneaky rename",
        "time_zone": "UTC",
        "loc_name": "FINISH",
        "loc_kind": "finish",
    },
    ("POST", "/events/{event_id:int}/archive"): {},
    ("POST", "/events/{event_id:int}/restore"): {},
    ("POST", "/events/{event_id:int}/provider-key"): {},
    ("POST", "/sessions/{session_id:int}/rename"): {"display_name": "Sneaky"},
    ("POST", "/sessions/{session_id:int}/detach"): {},
    ("POST", "/sessions/{session_id:int}/end"): {},
    ("POST", "/sessions/{session_id:int}/archive"): {},
    # A tenant user must not assign even its own session to its own event here.
    ("POST", "/admin/sessions/assign"): {"session_id": "1", "event_id": "1"},
    ("POST", "/events/{event_id:int}/participants/upload"): {},
    ("POST", "/events/{event_id:int}/chips"): {},
    ("POST", "/events/{event_id:int}/imports/{upload_id:int}"): {
        "format": "generic",
        "map_bib": "Bib",
        "removal": "keep",
        "action": "import",
    },
    ("POST", "/events/{event_id:int}/tag-mode"): {"tag_mode": "strip_zeros"},
    ("POST", "/events/{event_id:int}/displays/{display_id:int}/unknown-chips"): {
        "show_unknown": "1"
    },
    ("POST", "/events/{event_id:int}/displays/{display_id:int}"): {
        "name": "Sneaky settings",
        "display_duration": "5",
        "transition": "fade",
        "duplicate_window": "60",
        "reorder_window": "10",
        "max_per_second": "0",
        "show_unknown": "1",
        "pin": "1234",
    },
    ("POST", "/events/{event_id:int}/displays/{display_id:int}/rotate"): {},
    ("POST", "/events/{event_id:int}/displays/{display_id:int}/revoke"): {"confirm": "revoke"},
    ("POST", "/providers/{account_id:int}/delete"): {},
    ("POST", "/images/{image_id:int}/delete"): {},
    ("POST", "/events/{event_id:int}/sync/map"): {
        "account_id": "1",
        "race_id": "90001",
        "sub_id": "700001",
        "sub_name": "10K",
        "include": "700001",
    },
    ("POST", "/events/{event_id:int}/sync/{sync_id:int}/run"): {},
    ("POST", "/events/{event_id:int}/sync/{sync_id:int}/schedule"): {
        "every_minutes": "10",
        "until": "",
    },
    ("POST", "/events/{event_id:int}/sync/{sync_id:int}/delete"): {},
    ("POST", "/events/{event_id:int}/results/runsignup"): {"sync_id": "1"},
    ("POST", "/events/{event_id:int}/messages"): {"queue": "event", "body": "Sneaky message"},
    ("POST", "/events/{event_id:int}/messages/order"): {"queue": "event", "order": ""},
    ("POST", "/events/{event_id:int}/messages/{message_id:int}"): {"body": "Sneaky edit"},
    ("POST", "/events/{event_id:int}/messages/{message_id:int}/schedule"): {"show_until": ""},
    ("POST", "/events/{event_id:int}/messages/{message_id:int}/move"): {"direction": "up"},
    ("POST", "/events/{event_id:int}/messages/{message_id:int}/delete"): {},
    ("POST", "/templates"): {"name": "Sneaky template", "size": "landscape"},
    ("POST", "/templates/{template_id:int}/elements"): {"kind": "text"},
    ("POST", "/templates/{template_id:int}/elements/{element_id:str}"): {"x": "10"},
    ("POST", "/templates/{template_id:int}/elements/{element_id:str}/delete"): {},
    ("POST", "/templates/{template_id:int}/canvas"): {"background": "#000000"},
    ("POST", "/templates/{template_id:int}/rename"): {"name": "Sneaky rename"},
    ("POST", "/templates/{template_id:int}/delete"): {},
    ("POST", "/templates/{template_id:int}/save"): {"note": "sneaky"},
    ("POST", "/templates/{template_id:int}/versions/{version:int}/revert"): {},
    ("POST", "/events/{event_id:int}/displays/{display_id:int}/template"): {"template": ""},
}
# A valid JSON body for each API route that takes one (sent instead of a form).
JSON_BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/api/events/{event_id:int}/messages"): {"body": "Sneaky message"},
}
CREDENTIALS_KEY = new_key()

# Upload routes get their file as multipart, next to the form fields above.
FILES: dict[tuple[str, str], dict[str, tuple[str, bytes, str]]] = {
    ("POST", "/events/{event_id:int}/participants/upload"): {
        "file": ("people.csv", b"Bib,First Name\n5,Mallory\n", "text/csv")
    },
    ("POST", "/events/{event_id:int}/chips"): {
        "file": ("chips.csv", b"Chip,Bib\n5555,5\n", "text/csv")
    },
}
# Forms whose fields name tenant A's own rows, filled in per tenant (see _form).
OWN_ID_FORMS: dict[tuple[str, str], str] = {
    ("POST", "/events/{event_id:int}/sessions/attach"): "session_id",
    ("POST", "/sessions/{session_id:int}/move"): "event_id",
}
# Platform administrators' pages live under /admin: a tenant user gets the 404 a missing
# page gets, whatever the ids.
PLATFORM_PREFIX = "/admin"


def _form(method: str, path: str, token: str, own: Tenant | None = None) -> dict[str, str] | None:
    if method == "GET":
        return None
    if (method, path) in OWN_ID_FORMS and own is not None:
        field = OWN_ID_FORMS[(method, path)]
        return {field: own.path_value(field), "_csrf_token": token}
    if (method, path) not in FORMS:
        pytest.fail(
            f"{method} {path} is new: add a valid form for it to FORMS in "
            "tests/integration/test_isolation.py, so a foreign id is tried past validation"
        )
    return {**FORMS[(method, path)], "_csrf_token": token}


@dataclass(frozen=True)
class Tenant:
    """One tenant's rows, named so that any of them showing up elsewhere is a leak."""

    slug: str
    email: str
    tenant_id: int
    event_id: int
    display_code: str
    session_id: int
    user_id: int
    invitation_id: int
    display_id: int
    upload_id: int
    account_id: int
    sync_id: int
    secrets: tuple[str, ...]
    message_id: int
    image_id: int
    template_id: int = 0
    element_id: str = ""

    def path_value(self, name: str) -> str:
        """This tenant's value for a route's path parameter, by the parameter's name."""
        values = {
            "event_id": self.event_id,
            "session_id": self.session_id,
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
            "invitation_id": self.invitation_id,
            "display_id": self.display_id,
            "upload_id": self.upload_id,
            "account_id": self.account_id,
            "sync_id": self.sync_id,
            "message_id": self.message_id,
            "image_id": self.image_id,
            "template_id": self.template_id,
            "element_id": self.element_id,
            # Version 1 of tenant B's template exists; A must still get a 404.
            "version": 1,
        }
        if name not in values:
            pytest.fail(
                f"a route takes {{{name}}}: teach tests/integration/test_isolation.py which of "
                "tenant B's ids to try there, so the route's scoping is checked"
            )
        return str(values[name])


async def _tenant(pool: AsyncConnectionPool, slug: str, person: str, bib: str) -> Tenant:
    """A tenant with an event, a participant, a display and a session with one read.

    Both tenants use the same location name and chip number: only scoping keeps them apart.
    """
    first, last = person.split()
    email = f"owner@{slug}.test"
    async with pool.connection() as conn:
        tenant = await catalog.create_tenant(conn, slug, slug.title())
        owner = await catalog.create_user(
            conn,
            tenant_id=tenant.id,
            email=email,
            password_hash=hash_password(PASSWORD),
            role="owner",
            display_name=f"{first} Owner",
        )
        event_name = f"{slug.title()} Marathon"
        ct_event_id = f"CT-{slug}"
        event = await catalog.create_event(
            conn,
            tenant_id=tenant.id,
            name=event_name,
            event_date=date(2026, 5, 17),
            ct_event_id=ct_event_id,
        )
        await catalog.upsert_participants(
            conn, tenant.id, event.id, [ParticipantIn(bib, "1187", first, last, "F", 34)]
        )
        display = await catalog.create_display(
            conn,
            tenant_id=tenant.id,
            event_id=event.id,
            code=new_display_code(),
            name=f"{slug} finish screen",
            locations=["FINISH"],
        )
        session_name = f"Session_{slug}_0900"
        session = await claimed_session(
            conn, f"{slug}-simpleclient", session_name, ct_event_id, event_name
        )
        location = await timing.ensure_location(conn, session.id, "FINISH")
        at = datetime(2026, 5, 17, 6, 21, 44, tzinfo=UTC)
        line = "CT01_33~1~FINISH~1187~08:21:44.00~1~0D4E5F~1"
        await timing.store_reads(
            conn,
            [
                NewRead(
                    session.id,
                    location,
                    1,
                    "FINISH",
                    "1187",
                    "08:21:44.00",
                    at,
                    1,
                    "0D4E5F",
                    1,
                    line,
                    at,
                )
            ],
        )
    secrets = (event_name, person, first, last, bib, display.code, display.name, session_name,
               f"{slug}-simpleclient", email, ct_event_id)  # fmt: skip
    invitee = f"invitee@{slug}.test"
    issued = await accounts.invite(pool, owner, invitee, "admin")
    # An imported file with one bad row, so its preview, status and error report all exist.
    upload_name = f"{slug}-registrations.csv"
    upload = await imports.create_upload(
        pool,
        tenant.id,
        event.id,
        user_id=owner.id,
        filename=upload_name,
        data=f"Bib,First Name,Last Name\n{bib},{first},{last}\n,{slug}-nobib,X\n".encode(),
    )
    await imports.start_import(
        pool, tenant.id, event.id, upload.id, format=upload.format, mapping=upload.mapping,
        removal="keep", dry_run=False,
    )  # fmt: skip
    await imports.run_import(pool, tenant.id, event.id, upload.id)
    # A provider account and a sync of one of its races into the event.
    account_label, race_name = f"{slug} RunSignup login", f"{slug} Half Marathon 2026"
    async with tenant_connection(pool, tenant.id) as conn:
        account = await provider_sync.insert_account(
            conn,
            tenant.id,
            provider="runsignup",
            label=account_label,
            secret=CredentialBox(CREDENTIALS_KEY).encrypt({"rsu_api_key": "k"}),
            created_by=owner.id,
        )
        sync_id = await provider_sync.upsert_sync(
            conn, tenant.id, event.id, account_id=account.id, race_id="90001",
            race_name=race_name, sub_events={"700001": "10K"}, until_at=None,
        )  # fmt: skip
    secrets = (*secrets, invitee, upload_name, f"{slug}-nobib", account_label, race_name)
    # A message on the display's own queue.
    message_body = f"{slug} welcome message"
    async with tenant_connection(pool, tenant.id) as conn:
        message = await messages_db.insert_message(
            conn, tenant_id=tenant.id, event_id=event.id, display_id=display.id,
            text=MessageText(message_body, "ticker", 8), schedule=Schedule(), created_by=owner.id,
        )  # fmt: skip
    secrets = (*secrets, message_body)
    # An image in the tenant's library.
    image_name = f"{slug}-sponsor-logo.png"
    logo = io.BytesIO()
    Image.new("RGB", (64, 32), (len(slug), 90, 200)).save(logo, "PNG")
    uploaded = await image_service.upload(
        pool, tenant.id, user_id=owner.id, filename=image_name, data=logo.getvalue(),
        quota_bytes=image_service.DEFAULT_QUOTA_BYTES,
    )  # fmt: skip
    secrets = (*secrets, image_name, uploaded.image.public_key)
    # A display template, saved once, with a text element.
    template_name = f"{slug} finish-line template"
    async with tenant_connection(pool, tenant.id) as conn:
        layout = starter_layout().to_json()
        template_id = await templates_db.create_template(conn, tenant.id, template_name, layout)
        await templates_db.add_version(conn, tenant.id, template_id, layout, owner.id, "")
    secrets = (*secrets, template_name)
    return Tenant(
        slug, email, tenant.id, event.id, display.code, session.id, owner.id,
        issued.invitation.id, display.id, upload.id, account.id, sync_id, secrets,
        message.id, uploaded.image.id, template_id, starter_layout().elements[0].id,
    )  # fmt: skip


@pytest.fixture
async def tenants(pool: AsyncConnectionPool) -> tuple[Tenant, Tenant]:
    a = await _tenant(pool, "alpha-timing", "Astrid Alvheim", "101")
    # B's bib is searched for in A's pages: a letter keeps it out of hex CSRF tokens.
    b = await _tenant(pool, "bravo-timing", "Zebulon Quixote", "Q7777")
    return a, b


@pytest.fixture
async def app(db_url: str) -> Litestar:
    settings = Settings(
        database_url=db_url,
        secret_key="isolation-secret-" + "x" * 40,
        public_base_url="https://screens.example.test",
        # No collector runs here: the operations page must say so, not wait for one.
        collector_status_url="http://127.0.0.1:9/status",
        credentials_key=CREDENTIALS_KEY,
    )
    return create_app(settings)


@pytest.fixture
async def client_a(app: Litestar, tenants: tuple[Tenant, Tenant]) -> AsyncIterator[Client]:
    """Tenant A's owner, signed in."""
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        token = await _csrf(client, "/login")
        signed_in = await client.post(
            "/login",
            data={"email": tenants[0].email, "password": PASSWORD, "_csrf_token": token},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text
        yield client


async def _csrf(client: Client, path: str) -> str:
    page = await client.get(path)
    match = _CSRF.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def _routes(app: Litestar) -> list[tuple[str, str]]:
    """Every (path, method) the app answers, OPTIONS and HEAD aside."""
    out = []
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"unexpected route kind {route!r}"
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            out.append((route.path, method))
    return out


def _fill(path: str, tenant: Tenant) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: tenant.path_value(m.group(1)), path)


def _leaks(body: str, tenant: Tenant) -> list[str]:
    return [s for s in tenant.secrets if s in body]


async def test_every_route_answers_a_foreign_id_with_404_and_no_foreign_data(
    app: Litestar, client_a: Client, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    token = await _csrf(client_a, f"/events/{a.event_id}")
    checked: list[str] = []
    for path, method in _routes(app):
        if path in PUBLIC:
            continue
        if path == PLATFORM_PREFIX or path.startswith(PLATFORM_PREFIX + "/"):
            r = await client_a.request(
                method,
                _fill(path, b),
                headers={"x-csrftoken": token, "HX-Request": "true"},
                data=None
                if method == "GET"
                else {**FORMS.get((method, path), {}), "_csrf_token": token},
            )
            assert r.status_code == 404, f"{method} {path} (platform only) answered {r.status_code}"
            assert not _leaks(r.text, b), f"{method} {path} shows tenant B's {_leaks(r.text, b)}"
            checked.append(f"{method} {path}")
            continue
        target = _fill(path, b)
        if target == path:
            # Nothing to point at B with: what A sees there must still hold none of B.
            if method != "GET":
                continue
            r = await client_a.get(target)
            assert r.status_code < 400, f"GET {path}: {r.status_code}"
        else:
            body = JSON_BODIES.get((method, path))
            r = await client_a.request(
                method,
                target,
                headers={"x-csrftoken": token, "HX-Request": "true"},
                data=_form(method, path, token, a) if body is None else None,
                json=body,
                files=FILES.get((method, path)),
            )
            assert r.status_code == 404, f"{method} {target} (B's ids) answered {r.status_code}"
        assert not _leaks(r.text, b), f"{method} {target} shows tenant B's {_leaks(r.text, b)}"
        checked.append(f"{method} {path}")
    # The walk really reached the tenant routes (a broken login would skip nothing loudly).
    assert "GET /events/{event_id:int}" in checked
    assert len(checked) >= 5, checked


async def test_own_ids_answer_so_the_404s_above_are_about_scoping(
    app: Litestar, client_a: Client, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    for path, method in _routes(app):
        if path in PUBLIC or method != "GET" or _fill(path, a) == path:
            continue
        if path.startswith(PLATFORM_PREFIX + "/"):
            continue
        r = await client_a.get(_fill(path, a), headers={"HX-Request": "true"})
        assert r.status_code == 200, f"GET {_fill(path, a)} (A's own ids): {r.status_code}"
        assert not _leaks(r.text, b), f"GET {path} shows tenant B's {_leaks(r.text, b)}"


async def test_a_display_shows_only_its_own_tenants_runners(
    client_a: Client, tenants: tuple[Tenant, Tenant]
) -> None:
    """Same location name, same chip number in both tenants: each display keeps to its own."""
    a, b = tenants
    for tenant, other in ((a, b), (b, a)):
        feed = await client_a.get(f"/d/{tenant.display_code}/feed")
        assert feed.status_code == 200
        assert tenant.secrets[1] in feed.text, f"{tenant.slug}'s runner missing from its display"
        assert not _leaks(feed.text, other), (
            f"{tenant.slug}'s display shows {_leaks(feed.text, other)}"
        )
