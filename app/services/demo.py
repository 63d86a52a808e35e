"""The demo a newcomer sees on `make run`: a tenant, a login, an event, participants, displays."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from app.db import catalog, templates
from app.db.pool import Pool, connection
from app.domain.catalog import Display, EventLocation, ParticipantIn
from app.domain.codes import new_display_code
from app.domain.reads import CONTROL_TAGS, STRIP_ZEROS, normalize_tag
from app.domain.templates import starter_layout
from app.services.auth import hash_password

DEMO_TENANT = "demo-timing"
DEMO_EMAIL = "demo@racedisplay.local"
DEMO_PASSWORD = "finish-line-demo"
DEMO_CT_EVENT_ID = "DEMO-2021"
DEMO_EVENT_NAME = "Demo Harbor Marathon"

_FIRST = [
    "Ann",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kari",
    "Liam",
    "Maya",
    "Nils",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Will",
    "Xenia",
    "Yusuf",
    "Zoe",
    "Amir",
    "Bea",
    "Chen",
    "Dana",
    "Emil",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Marco",
    "Nora",
    "Omar",
    "Pia",
    "Rafael",
    "Sofia",
    "Theo",
    "Ulla",
    "Viktor",
    "Wen",
]
_LAST = [
    "Lee",
    "Berg",
    "Costa",
    "Dahl",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kim",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Olsen",
    "Patel",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Vik",
    "Walsh",
    "Xu",
    "Young",
    "Zhang",
    "Andersen",
    "Brown",
    "Cruz",
    "Diaz",
    "Eriksen",
    "Ford",
    "Gomez",
    "Holm",
    "Ibsen",
    "Juarez",
    "Khan",
    "Lund",
    "Meyer",
    "Novak",
    "Ortiz",
    "Park",
    "Reyes",
    "Strand",
]
_CITIES = ("Harbor City", "Bayview", "Northfield", "Lakeside", "Millbrook", "Riverton")


@dataclass(frozen=True, slots=True)
class DemoInfo:
    email: str
    password: str
    event_id: int
    displays: list[Display]
    participants: int


def _is_marker(tag: str) -> bool:
    """ChronoTrack test and marker chips (99995 and the like) are not athletes."""
    return tag.isdigit() and int(tag) >= 99_990


def demo_participants(
    tags: Iterable[str], unassigned_every: int = 25, tag_mode: str = STRIP_ZEROS
) -> list[ParticipantIn]:
    """Made-up demo runners for the tags of the replay; every Nth tag stays unassigned
    so the demo also shows how an unknown chip looks (its chip code, never a made-up name).

    Tags are normalised under the demo event's tag_mode, as its reads will be."""
    people: list[ParticipantIn] = []
    chips = {normalize_tag(t, tag_mode) for t in tags if t not in CONTROL_TAGS}
    for i, tag in enumerate(sorted(chips)):
        if (
            not tag
            or _is_marker(tag)
            or (unassigned_every and i % unassigned_every == unassigned_every - 1)
        ):
            continue
        h = int.from_bytes(hashlib.sha256(tag.encode()).digest()[:8], "big")
        people.append(
            ParticipantIn(
                bib=tag,
                chip_code=tag,
                first_name=_FIRST[h % len(_FIRST)],
                last_name=_LAST[(h >> 8) % len(_LAST)],
                gender="FM"[(h >> 16) % 2],
                age=18 + (h >> 24) % 55,
                city=_CITIES[(h >> 32) % len(_CITIES)],
            )
        )
    return people


def demo_locations(names: Iterable[str]) -> list[EventLocation]:
    """The replayed points, kind by name: START…, FINISH…, and splits in between."""

    def kind(name: str) -> str:
        lowered = name.lower()
        return "start" if "start" in lowered else "finish" if "finish" in lowered else "split"

    ordered = sorted(set(names), key=lambda n: ({"start": 0, "split": 1, "finish": 2}[kind(n)], n))
    return [EventLocation(name, kind(name), i) for i, name in enumerate(ordered)]


async def seed_demo(pool: Pool, tags: Iterable[str], locations: Iterable[str]) -> DemoInfo:
    """Create the demo once; on later starts return what is there."""
    locations = list(locations)
    async with connection(pool) as conn:
        tenant = await catalog.get_tenant_by_slug(conn, DEMO_TENANT)
        if tenant is None:
            tenant = await catalog.create_tenant(conn, DEMO_TENANT, "Demo Timing Co.")
            await catalog.create_user(
                conn,
                tenant_id=tenant.id,
                email=DEMO_EMAIL,
                password_hash=hash_password(DEMO_PASSWORD),
                role="owner",
                display_name="Demo Timer",
            )
        events = await catalog.list_events(conn, tenant.id)
        event = next((e for e in events if e.ct_event_id == DEMO_CT_EVENT_ID), None)
        if event is None:
            event = await catalog.create_event(
                conn,
                tenant_id=tenant.id,
                name=DEMO_EVENT_NAME,
                event_date=date(2021, 5, 8),
                ct_event_id=DEMO_CT_EVENT_ID,
                # The 2021 course starts on the finish mats: crossings in the first ten
                # minutes after the gun are starts, not finishes.
                min_finish_s=600,
            )
            # Start mats give chip times, finish mats place runners (once), splits show.
            await catalog.replace_event_locations(
                conn, tenant.id, event.id, demo_locations(locations)
            )
        people = demo_participants(tags, tag_mode=event.tag_mode)
        await catalog.upsert_participants(conn, tenant.id, event.id, people)
        displays = await catalog.list_displays(conn, tenant.id, event.id)
        if not displays:
            finish = sorted(loc for loc in locations if "finish" in loc.lower())
            displays = [
                await catalog.create_display(
                    conn,
                    tenant_id=tenant.id,
                    event_id=event.id,
                    code=new_display_code(),
                    name="Finish line",
                    locations=finish,
                ),
                await catalog.create_display(
                    conn,
                    tenant_id=tenant.id,
                    event_id=event.id,
                    code=new_display_code(),
                    name="Every timing point",
                ),
            ]
            # A display drawn by a template, so the builder has something to open.
            layout = starter_layout().to_json()
            template_id = await templates.create_template(conn, tenant.id, "Finish line TV", layout)
            await templates.add_version(conn, tenant.id, template_id, layout, None, "Demo")
            tv = await catalog.create_display(
                conn,
                tenant_id=tenant.id,
                event_id=event.id,
                code=new_display_code(),
                name="Finish line TV (template)",
                locations=finish,
            )
            await templates.set_display_template(
                conn, tenant.id, event.id, tv.id, template_id, None
            )
            displays = await catalog.list_displays(conn, tenant.id, event.id)
        count = await catalog.count_participants(conn, tenant.id, event.id)
    return DemoInfo(DEMO_EMAIL, DEMO_PASSWORD, event.id, displays, count)
