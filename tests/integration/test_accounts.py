"""Teams against a real PostgreSQL: invitations, roles, removal, reset links, platform admins."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from app.db import catalog
from app.domain.errors import Forbidden
from app.services import accounts
from app.services.auth import hash_password
from app.settings import Settings
from app.web.factory import create_app

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"
BASE_URL = "https://screens.example.test"
Client = AsyncTestClient[Litestar]
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
_INVITE = re.compile(re.escape(BASE_URL) + r"(/invite/[A-Za-z0-9_-]+)")
_RESET = re.compile(re.escape(BASE_URL) + r"(/reset/[A-Za-z0-9_-]+)")
HTMX = {"HX-Request": "true"}


@dataclass(frozen=True)
class People:
    tenant_id: int
    owner_id: int
    admin_id: int
    operator_id: int
    foreign_tenant_id: int
    foreign_owner_id: int
    foreign_invitation_id: int


OWNER = "olivia@harbor-timing.test"
ADMIN = "adam@harbor-timing.test"
OPERATOR = "oscar@harbor-timing.test"
FOREIGN_OWNER = "rita@rival-timing.test"
FOREIGN_INVITEE = "secret-hire@rival-timing.test"
# Anything of the rival tenant that must never show on Harbor's pages.
FOREIGN_SECRETS = ("Rival Timing", "Rita Rival", FOREIGN_OWNER, FOREIGN_INVITEE)


async def _user(conn: Any, tenant_id: int, email: str, role: str, name: str) -> int:
    user = await catalog.create_user(
        conn,
        tenant_id=tenant_id,
        email=email,
        password_hash=hash_password(PASSWORD),
        role=role,
        display_name=name,
    )
    return user.id


@pytest.fixture
async def people(pool: AsyncConnectionPool) -> People:
    async with pool.connection() as conn:
        harbor = await catalog.create_tenant(conn, "harbor-timing", "Harbor Timing")
        owner = await _user(conn, harbor.id, OWNER, "owner", "Olivia Owner")
        admin = await _user(conn, harbor.id, ADMIN, "admin", "Adam Admin")
        operator = await _user(conn, harbor.id, OPERATOR, "operator", "Oscar Operator")
        await catalog.create_event(conn, tenant_id=harbor.id, name="Harbor 10K")
        rival = await catalog.create_tenant(conn, "rival-timing", "Rival Timing")
        rival_owner = await _user(conn, rival.id, FOREIGN_OWNER, "owner", "Rita Rival")
        await catalog.create_event(conn, tenant_id=rival.id, name="Secret Marathon")
    rita = await _get_user(pool, rival_owner)
    issued = await accounts.invite(pool, rita, FOREIGN_INVITEE, "admin")
    return People(harbor.id, owner, admin, operator, rival.id, rival_owner, issued.invitation.id)


async def _get_user(pool: AsyncConnectionPool, user_id: int) -> Any:
    async with pool.connection() as conn:
        return await catalog.get_user(conn, user_id)


class Browsers:
    """A fresh browser per person; each gets its own app so lifespans do not overlap.

    Each app opens its own pool: the test client runs the app on an event loop in another
    thread while this test's loop blocks, so the test's pool, whose tasks run on the blocked
    loop, could not hand the app a new connection (it waited 30 s and failed, now and then).
    """

    def __init__(self, db_url: str) -> None:
        self.settings = Settings(
            database_url=db_url, secret_key="accounts-secret-" + "x" * 40, public_base_url=BASE_URL
        )

    def __call__(self) -> Client:
        return AsyncTestClient(app=create_app(self.settings), base_url="https://testserver.local")


@pytest.fixture
def browser(db_url: str) -> Browsers:
    return Browsers(db_url)


@pytest.fixture
async def client(browser: Browsers, people: People) -> AsyncIterator[Client]:
    async with browser() as c:
        yield c


async def _csrf(client: Client, path: str = "/login") -> str:
    page = await client.get(path)
    match = _CSRF.search(page.text)
    assert match, f"no CSRF field on {path} ({page.status_code})"
    return match.group(1)


async def _login(client: Client, email: str, password: str = PASSWORD) -> None:
    token = await _csrf(client)
    r = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


async def _post(client: Client, path: str, token: str, **form: str) -> Any:
    return await client.post(
        path, data={**form, "_csrf_token": token}, headers=HTMX, follow_redirects=False
    )


async def _audit(pool: AsyncConnectionPool, tenant_id: int | None) -> list[tuple[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT action, detail FROM audit_log WHERE tenant_id IS NOT DISTINCT FROM %s "
            "ORDER BY id",
            (tenant_id,),
        )
        return list(await cur.fetchall())


async def test_invitation_flow_end_to_end(
    browser: Browsers, client: Client, people: People, pool: AsyncConnectionPool
) -> None:
    await _login(client, OWNER)
    page = await client.get("/team")
    assert page.status_code == 200
    for who in ("Olivia Owner", ADMIN, OPERATOR):
        assert who in page.text
    assert 'href="/team"' in page.text
    token = await _csrf(client, "/team")
    r = await _post(client, "/team/invitations", token, email="nina@harbor-timing.test")
    assert r.status_code == 200, r.text
    assert "<html" not in r.text
    assert "Send this link to <strong>nina@harbor-timing.test</strong>" in r.text
    assert "It works once, for 7 days" in r.text
    assert 'hx-swap-oob="true"' in r.text  # the open invitations list, refreshed
    match = _INVITE.search(r.text)
    assert match, r.text
    path = match.group(1)
    raw = path.rsplit("/", 1)[1]

    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT token_hash, role FROM invitations WHERE email = 'nina@harbor-timing.test'"
        )
        rows = await cur.fetchall()
        dump = await conn.execute("SELECT i::text FROM invitations i")
        stored = " ".join(row[0] for row in await dump.fetchall())
    assert rows == [(hashlib.sha256(raw.encode()).hexdigest(), "operator")]
    assert raw not in stored

    async with browser() as nina:
        form = await nina.get(path)
        assert form.status_code == 200
        assert "Join Harbor Timing" in form.text
        assert "nina@harbor-timing.test" in form.text
        assert form.headers["cache-control"] == "no-store"
        csrf = _CSRF.search(form.text)
        assert csrf
        data = {"display_name": "Nina Neu", "_csrf_token": csrf.group(1)}
        short = await nina.post(path, data={**data, "password": "short", "password_again": "short"})
        assert short.status_code == 400
        assert "at least 10 characters" in short.text
        assert 'value="Nina Neu"' in short.text
        differ = await nina.post(
            path, data={**data, "password": PASSWORD, "password_again": PASSWORD + "!"}
        )
        assert differ.status_code == 400
        assert "differ" in differ.text
        done = await nina.post(
            path,
            data={**data, "password": PASSWORD, "password_again": PASSWORD},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/events"
        events = await nina.get("/events")
        assert events.status_code == 200
        assert "Harbor 10K" in events.text
        assert "Secret Marathon" not in events.text
        # An operator: no team link, and the team page says no.
        assert 'href="/team"' not in events.text
        assert (await nina.get("/team")).status_code == 403

    async with browser() as again:
        reused = await again.get(path)
        assert reused.status_code == 410
        assert "used already" in reused.text
        csrf_token = await _csrf(again)
        replay = await again.post(
            path,
            data={
                "display_name": "Mallory",
                "password": PASSWORD,
                "password_again": PASSWORD,
                "_csrf_token": csrf_token,
            },
        )
        assert replay.status_code == 410
    await _login(client, "nina@harbor-timing.test")

    actions = [a for a, _ in await _audit(pool, people.tenant_id)]
    assert "invitation.created" in actions
    assert "invitation.accepted" in actions


async def test_expired_revoked_and_unknown_invitation_links(
    client: Client, people: People, pool: AsyncConnectionPool
) -> None:
    owner = await _get_user(pool, people.owner_id)
    expired = await accounts.invite(pool, owner, "late@harbor-timing.test", "operator")
    revoked = await accounts.invite(pool, owner, "gone@harbor-timing.test", "admin")
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = %s",
            (expired.invitation.id,),
        )
    r = await client.get(f"/invite/{expired.token}")
    assert r.status_code == 410
    assert "expired" in r.text

    await _login(client, ADMIN)
    team = await client.get("/team")
    assert "gone@harbor-timing.test" in team.text
    assert "late@harbor-timing.test" not in team.text  # expired ones are not "open"
    token = await _csrf(client, "/team")
    r = await _post(client, f"/team/invitations/{revoked.invitation.id}/revoke", token)
    assert r.status_code == 200, r.text
    assert "withdrawn" in r.text
    assert "gone@harbor-timing.test" not in r.text
    r = await client.get(f"/invite/{revoked.token}")
    assert r.status_code == 410
    assert "withdrawn" in r.text
    twice = await _post(client, f"/team/invitations/{revoked.invitation.id}/revoke", token)
    assert twice.status_code == 409

    for bad in ("x" * 43, "not-a-token", "a/b"):
        r = await client.get(f"/invite/{bad}")
        assert r.status_code == 404, bad
    # A newer invitation for the same address replaces the older link.
    first = await accounts.invite(pool, owner, "twice@harbor-timing.test", "operator")
    await accounts.invite(pool, owner, "twice@harbor-timing.test", "operator")
    assert (await client.get(f"/invite/{first.token}")).status_code == 410
    actions = [a for a, _ in await _audit(pool, people.tenant_id)]
    assert actions.count("invitation.revoked") == 1


async def test_foreign_ids_are_404_without_foreign_data(
    client: Client, people: People, pool: AsyncConnectionPool
) -> None:
    await _login(client, OWNER)
    token = await _csrf(client, "/team")
    team = await client.get("/team")
    for secret in FOREIGN_SECRETS:
        assert secret not in team.text
    attempts = [
        (f"/team/invitations/{people.foreign_invitation_id}/revoke", {}),
        (f"/team/members/{people.foreign_owner_id}/role", {"role": "operator"}),
        (f"/team/members/{people.foreign_owner_id}/remove", {}),
        (f"/team/members/{people.foreign_owner_id}/reset-link", {}),
        ("/team/members/999999/remove", {}),
    ]
    for path, form in attempts:
        for headers in (HTMX, {}):
            r = await client.post(
                path, data={**form, "_csrf_token": token}, headers=headers, follow_redirects=False
            )
            assert r.status_code == 404, f"{path}: {r.status_code}"
            for secret in FOREIGN_SECRETS:
                assert secret not in r.text, f"{path} shows {secret}"
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT role FROM users WHERE id = %s", (people.foreign_owner_id,))
        assert await cur.fetchone() == ("owner",)
        cur = await conn.execute(
            "SELECT revoked_at IS NULL FROM invitations WHERE id = %s",
            (people.foreign_invitation_id,),
        )
        assert await cur.fetchone() == (True,)
        cur = await conn.execute("SELECT count(*) FROM password_resets")
        assert await cur.fetchone() == (0,)
    # Tenant users are not told the platform pages exist.
    assert (await client.get("/admin/tenants")).status_code == 404


async def test_operators_cannot_manage_the_team(client: Client, people: People) -> None:
    await _login(client, OPERATOR)
    token = await _csrf(client, "/events")
    page = await client.get("/team")
    assert page.status_code == 403
    assert "Only owners and admins manage the team" in page.text
    for path, form in [
        ("/team/invitations", {"email": "x@harbor-timing.test", "role": "operator"}),
        (f"/team/members/{people.admin_id}/role", {"role": "operator"}),
        (f"/team/members/{people.admin_id}/remove", {}),
        (f"/team/members/{people.admin_id}/reset-link", {}),
    ]:
        r = await _post(client, path, token, **form)
        assert r.status_code == 403, path
        assert "<html" not in r.text


async def test_role_rules(
    browser: Browsers, client: Client, people: People, pool: AsyncConnectionPool
) -> None:
    # An admin invites operators and admins, never owners, and changes no roles.
    await _login(client, ADMIN)
    token = await _csrf(client, "/team")
    page = await client.get("/team")
    assert 'value="owner"' not in page.text.split("Invite someone")[1].split("</form>")[0]
    r = await _post(client, "/team/invitations", token, email="boss@x.test", role="owner")
    assert r.status_code == 403
    assert "Only an owner can invite another owner" in r.text
    r = await _post(client, "/team/invitations", token, email="help@x.test", role="admin")
    assert r.status_code == 200
    r = await _post(client, f"/team/members/{people.operator_id}/role", token, role="admin")
    assert r.status_code == 403
    r = await _post(client, f"/team/members/{people.owner_id}/remove", token)
    assert r.status_code == 403
    r = await _post(client, f"/team/members/{people.admin_id}/remove", token)
    assert r.status_code == 403
    assert "yourself" in r.text
    r = await _post(client, "/team/invitations", token, email=OPERATOR, role="admin")
    assert r.status_code == 409
    r = await _post(client, "/team/invitations", token, email="nonsense", role="admin")
    assert r.status_code == 400

    # The last owner can be neither demoted nor removed.
    async with browser() as owner:
        await _login(owner, OWNER)
        token = await _csrf(owner, "/team")
        r = await _post(owner, f"/team/members/{people.owner_id}/role", token, role="admin")
        assert r.status_code == 403
        assert "last owner" in r.text
        r = await _post(owner, f"/team/members/{people.owner_id}/role", token, role="boss")
        assert r.status_code == 400
        # With a second owner, the first may step down.
        r = await _post(owner, f"/team/members/{people.admin_id}/role", token, role="owner")
        assert r.status_code == 200, r.text
        assert f"{ADMIN} is now owner" in r.text
        assert 'id="members" hx-swap-oob="true"' in r.text
        r = await _post(owner, f"/team/members/{people.owner_id}/role", token, role="operator")
        assert r.status_code == 200
        # Olivia is an operator now: the team page is closed to her.
        assert (await owner.get("/team")).status_code == 403

    # Adam, now the only owner, cannot leave the team ownerless.
    adam = await _get_user(pool, people.admin_id)
    with pytest.raises(Forbidden, match="last owner"):
        await accounts.change_role(pool, adam, people.admin_id, "admin")
    token = await _csrf(client, "/team")

    # Removal signs the person out at once.
    async with browser() as oscar:
        await _login(oscar, OPERATOR)
        assert (await oscar.get("/events")).status_code == 200
        r = await client.post(
            f"/team/members/{people.operator_id}/remove",
            data={"_csrf_token": token},
            follow_redirects=False,
        )
        # Plain form post (no htmx): back to the team page.
        assert r.status_code == 303
        assert r.headers["location"] == "/team"
        gone = await oscar.get("/events", follow_redirects=False)
        assert gone.status_code == 303
        assert gone.headers["location"].startswith("/login")

    audit = await _audit(pool, people.tenant_id)
    changes = [d for a, d in audit if a == "user.role_changed"]
    assert [(c["email"], c["from"], c["to"]) for c in changes] == [
        (ADMIN, "admin", "owner"),
        (OWNER, "owner", "operator"),
    ]
    removed = [d for a, d in audit if a == "user.removed"]
    assert [r["email"] for r in removed] == [OPERATOR]


async def test_reset_link_is_single_use_and_expires(
    browser: Browsers, client: Client, people: People, pool: AsyncConnectionPool
) -> None:
    await _login(client, OWNER)
    token = await _csrf(client, "/team")
    r = await _post(client, f"/team/members/{people.operator_id}/reset-link", token)
    assert r.status_code == 200, r.text
    assert f"Send this link to <strong>{OPERATOR}</strong>" in r.text
    assert "works for 24 hours" in r.text
    match = _RESET.search(r.text)
    assert match
    path = match.group(1)
    # Admins do not make reset links.
    async with browser() as adam:
        await _login(adam, ADMIN)
        t = await _csrf(adam, "/team")
        assert "Password reset link" not in (await adam.get("/team")).text
        denied = await _post(adam, f"/team/members/{people.operator_id}/reset-link", t)
        assert denied.status_code == 403

    # Oscar is still signed in on another device when his password is reset.
    async with browser() as elsewhere, browser() as oscar:
        await _login(elsewhere, OPERATOR)
        assert (await elsewhere.get("/events")).status_code == 200
        form = await oscar.get(path)
        assert form.status_code == 200
        assert OPERATOR in form.text
        csrf = _CSRF.search(form.text)
        assert csrf
        data = {"_csrf_token": csrf.group(1)}
        short = await oscar.post(path, data={**data, "password": "tiny", "password_again": "tiny"})
        assert short.status_code == 400
        done = await oscar.post(
            path,
            data={**data, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/events"
        assert (await oscar.get("/events")).status_code == 200
        again = await oscar.get(path)
        assert again.status_code == 410
        assert "used already" in again.text
        # The new password ends every session that began with the old one.
        gone = await elsewhere.get("/events", follow_redirects=False)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")

    async with browser() as fresh:
        await _login(fresh, OPERATOR, NEW_PASSWORD)
        csrf_token = await _csrf(fresh)
        old = await fresh.post(
            "/login", data={"email": OPERATOR, "password": PASSWORD, "_csrf_token": csrf_token}
        )
        assert old.status_code == 401

    # A newer link makes the older one stop working; an expired one says so.
    owner = await _get_user(pool, people.owner_id)
    older = await accounts.create_reset_link(pool, owner, people.admin_id)
    newer = await accounts.create_reset_link(pool, owner, people.admin_id)
    assert (await client.get(f"/reset/{older.token}")).status_code == 410
    assert (await client.get(f"/reset/{newer.token}")).status_code == 200
    async with pool.connection() as conn:
        await conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 minute'")
        cur = await conn.execute("SELECT token_hash FROM password_resets")
        hashes = {row[0] for row in await cur.fetchall()}
    assert hashlib.sha256(newer.token.encode()).hexdigest() in hashes
    r = await client.get(f"/reset/{newer.token}")
    assert r.status_code == 410
    assert "expired" in r.text

    actions = [a for a, _ in await _audit(pool, people.tenant_id)]
    assert actions.count("password_reset.created") == 3
    assert actions.count("password_reset.used") == 1


async def test_platform_admin_creates_a_tenant_with_an_owner_link(
    browser: Browsers, client: Client, people: People, pool: AsyncConnectionPool
) -> None:
    await accounts.create_platform_admin(pool, "root@platform.test", PASSWORD)
    token = await _csrf(client)
    signed_in = await client.post(
        "/login",
        data={"email": "root@platform.test", "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    # A platform admin has no tenant pages: sign-in lands above the tenants.
    assert signed_in.headers["location"] == "/admin/tenants"
    # So does "/" (by way of /events): there are no tenant pages to show them.
    events = await client.get("/events", follow_redirects=False)
    assert events.status_code == 303 and events.headers["location"] == "/admin/tenants"
    page = await client.get("/admin/tenants")
    assert page.status_code == 200
    assert "Harbor Timing" in page.text and "Rival Timing" in page.text
    assert 'href="/admin/tenants"' in page.text
    assert (await client.get("/team")).status_code == 404
    token = await _csrf(client, "/admin/tenants")
    bad = await _post(
        client, "/admin/tenants", token, slug="Bad Slug!", name="X", owner_email="a@b.test"
    )
    assert bad.status_code == 400
    taken = await _post(
        client, "/admin/tenants", token, slug="harbor-timing", name="X", owner_email="a@b.test"
    )
    assert taken.status_code == 409
    r = await _post(
        client,
        "/admin/tenants",
        token,
        slug="fjord-timing",
        name="Fjord Timing",
        owner_email="frida@fjord.test",
    )
    assert r.status_code == 200, r.text
    assert "Send this link to <strong>frida@fjord.test</strong>" in r.text
    assert "Fjord Timing" in r.text
    match = _INVITE.search(r.text)
    assert match
    async with browser() as frida:
        form = await frida.get(match.group(1))
        assert "Join Fjord Timing" in form.text
        csrf = _CSRF.search(form.text)
        assert csrf
        done = await frida.post(
            match.group(1),
            data={
                "display_name": "Frida Fjord",
                "password": PASSWORD,
                "password_again": PASSWORD,
                "_csrf_token": csrf.group(1),
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        team = await frida.get("/team")
        assert team.status_code == 200
        assert "Frida Fjord" in team.text and "Owner" in team.text
        for secret in (*FOREIGN_SECRETS, "Olivia Owner", OWNER):
            assert secret not in team.text
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT a.action FROM audit_log a JOIN tenants t ON t.id = a.tenant_id "
            "WHERE t.slug = 'fjord-timing' ORDER BY a.id"
        )
        actions = [row[0] for row in await cur.fetchall()]
    assert actions == ["tenant.created", "invitation.created", "invitation.accepted"]
