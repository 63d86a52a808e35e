"""Display templates as data: a canvas and positioned elements, checked field by field.

A template is never Jinja written by a user. The builder posts numbers, enumerations and
plain text; `parse_layout` keeps only known fields within their bounds, and the web layer
renders the result with its own macros (text escaped) and a stylesheet generated from the
numbers (app.web.template_css): no user string reaches CSS or markup unescaped.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from app.domain.display_pipeline import RunnerView
from app.domain.errors import InvalidInput

# Kinds of element a template can hold.
KINDS = {
    "field": "Runner field",
    "text": "Text",
    "image": "Image or logo",
    "ticker": "Message ticker",
    "recent": "Recent finishers",
    "also": "Also finished (runners of a full second)",
    "clock": "Race clock",
    "qr": "QR code of the spectator page",
}
# Runner fields an element can show (a custom registration field is "custom:<key>").
FIELDS = {
    "name": "Name",
    "first_name": "First name",
    "last_name": "Last name",
    "bib": "Bib",
    "time": "Finish time (gun, or time of day before the gun)",
    "gun_time": "Gun time",
    "chip_time": "Chip time",
    "pace": "Pace",
    "place": "Overall place",
    "gender_place": "Gender place",
    "age_group_place": "Age-group place",
    "age_group": "Age group",
    "sub_event": "Race (sub-event)",
    "city": "City",
    "team": "Team",
    "location": "Timing point",
}
# Fonts the screens carry (static/fonts or system stacks named in app.web.template_css).
FONTS = {
    "sans": "Sans-serif",
    "condensed": "Condensed",
    "serif": "Serif",
    "mono": "Monospace",
}
WEIGHTS = (400, 600, 700, 900)
ALIGNS = ("left", "center", "right")
# When an element shows: always, or only for some runners.
VISIBILITY = {
    "always": "Always",
    "vip": "Only for a VIP",
    "known": "Only for a registered runner",
    "placed": "Only when the runner has a place",
}
# Runner lists a screen keeps up to date itself (static/js/display.js), by their element ids.
LISTS = frozenset({"recent", "also"})
MAX_ELEMENTS = 60
MAX_TEXT = 300
MIN_SIDE, MAX_SIDE = 240, 7680
SIZES = {
    "landscape": (1920, 1080),
    "portrait": (1080, 1920),
    "square": (1080, 1080),
}
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_ .-]{1,60}$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+(?::[A-Za-z0-9_ .-]{1,60})?)\}")
_ID = re.compile(r"^[a-z0-9]{1,12}$")
# An uploaded image's public key (app.domain.images): it goes into URLs and CSS as it is.
_IMAGE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Element:
    id: str
    kind: str
    x: int = 0
    y: int = 0
    w: int = 400
    h: int = 100
    # What it shows: a runner field ("field"), text with {placeholders} ("text"), an image's
    # public key ("image"), runners listed ("recent", "also").
    field: str = "name"
    text: str = ""
    image: str = ""
    rows: int = 8
    font: str = "sans"
    size: int = 48
    weight: int = 700
    colour: str = "#ffffff"
    align: str = "left"
    visible: str = "always"

    @property
    def runner_bound(self) -> bool:
        """Changes with the featured runner (else it belongs to the static part)."""
        return (
            self.kind == "field"
            or (self.kind == "text" and bool(_PLACEHOLDER.search(self.text)))
            or (self.kind not in LISTS and self.visible != "always")
        )


@dataclass(frozen=True, slots=True)
class Layout:
    width: int = 1920
    height: int = 1080
    background: str = "#0b1d2a"
    background_image: str = ""
    elements: tuple[Element, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["elements"] = [asdict(e) for e in self.elements]
        return body

    def element(self, element_id: str) -> Element | None:
        return next((e for e in self.elements if e.id == element_id), None)

    def with_element(self, element: Element) -> Layout:
        """This layout with the element added, or replacing the one with its id."""
        if self.element(element.id) is None:
            return replace(self, elements=(*self.elements, element))
        return replace(
            self, elements=tuple(element if e.id == element.id else e for e in self.elements)
        )

    def without(self, element_id: str) -> Layout:
        return replace(self, elements=tuple(e for e in self.elements if e.id != element_id))

    def images(self) -> set[str]:
        """Public keys of the images it uses."""
        keys = {e.image for e in self.elements if e.kind == "image" and e.image}
        return keys | ({self.background_image} if self.background_image else set())


def new_element_id() -> str:
    return secrets.token_hex(4)


def _int(raw: Any, name: str, low: int, high: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number.") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}.")
    return value


def _choice(raw: Any, name: str, options: Iterable[object]) -> str:
    value = str(raw).strip()
    if value not in {str(o) for o in options}:
        raise InvalidInput(f"{name}: {value!r} is not one of the choices.")
    return value


def _colour(raw: Any, name: str) -> str:
    value = str(raw).strip()
    if not _COLOUR.match(value):
        raise InvalidInput(f"{name} must be a colour like #1a2b3c.")
    return value.lower()


def _text(raw: Any, name: str, limit: int = MAX_TEXT) -> str:
    value = str(raw).replace("\r", "").strip()
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters.")
    if any(ord(c) < 32 and c != "\n" for c in value):
        raise InvalidInput(f"{name} contains control characters.")
    return value


def _image_key(raw: Any) -> str:
    value = str(raw or "").strip()
    if value and not _IMAGE_KEY.match(value):
        raise InvalidInput("Choose an image from the image library.")
    return value


def _field_name(raw: Any) -> str:
    value = str(raw).strip()
    if value in FIELDS:
        return value
    key = value.removeprefix("custom:")
    if value.startswith("custom:") and _CUSTOM_KEY.match(key):
        return value
    raise InvalidInput(f"{value!r} is not a runner field.")


def parse_element(raw: Mapping[str, Any], width: int, height: int) -> Element:
    """One element from the builder's form or stored JSON; InvalidInput names the problem."""
    kind = _choice(raw.get("kind", ""), "Element", KINDS)
    element_id = str(raw.get("id") or new_element_id())
    if not _ID.match(element_id):
        raise InvalidInput("An element id is letters and digits only.")
    default = Element(element_id, kind)

    def get(name: str) -> Any:
        return raw.get(name, getattr(default, name))

    x = _int(get("x"), "X", -width, width)
    y = _int(get("y"), "Y", -height, height)
    w = _int(get("w"), "Width", 10, width * 2)
    h = _int(get("h"), "Height", 10, height * 2)
    return Element(
        id=element_id,
        kind=kind,
        x=x,
        y=y,
        w=w,
        h=h,
        field=_field_name(get("field")) if kind == "field" else "name",
        text=_text(get("text"), "Text") if kind == "text" else "",
        image=_image_key(get("image")) if kind == "image" else "",
        rows=_int(get("rows"), "Rows", 1, 30) if kind in LISTS else 8,
        font=_choice(get("font"), "Font", FONTS),
        size=_int(get("size"), "Text size", 6, 600),
        weight=int(_choice(get("weight"), "Weight", WEIGHTS)),
        colour=_colour(get("colour"), "Colour"),
        align=_choice(get("align"), "Alignment", ALIGNS),
        visible=_choice(get("visible"), "Show", VISIBILITY),
    )


def parse_layout(raw: Mapping[str, Any]) -> Layout:
    """A whole layout from stored JSON (or an import); InvalidInput on anything out of bounds."""
    width = _int(raw.get("width", 1920), "Canvas width", MIN_SIDE, MAX_SIDE)
    height = _int(raw.get("height", 1080), "Canvas height", MIN_SIDE, MAX_SIDE)
    elements = raw.get("elements", [])
    if not isinstance(elements, list):
        raise InvalidInput("The layout's elements must be a list.")
    if len(elements) > MAX_ELEMENTS:
        raise InvalidInput(f"A template holds at most {MAX_ELEMENTS} elements.")
    parsed = tuple(parse_element(e, width, height) for e in elements if isinstance(e, Mapping))
    if len({e.id for e in parsed}) != len(parsed):
        raise InvalidInput("Two elements have the same id.")
    return Layout(
        width=width,
        height=height,
        background=_colour(raw.get("background", "#0b1d2a"), "Background colour"),
        background_image=_image_key(raw.get("background_image", "")),
        elements=parsed,
    )


def starter_layout(size: str = "landscape") -> Layout:
    """What a new template starts from: a finish-line screen a timer can use as it is."""
    width, height = SIZES.get(size, SIZES["landscape"])
    wide = width >= height
    pad = width // 24
    name_w = width - 2 * pad if not wide else int(width * 0.62)
    elements = [
        Element("name", "field", pad, height // 6, name_w, height // 6, field="name", size=96),
        Element(
            "time",
            "field",
            pad,
            height // 6 + height // 5,
            name_w,
            height // 8,
            field="time",
            size=80,
            weight=900,
            colour="#ffd23f",
        ),
        Element(
            "bib",
            "text",
            pad,
            height // 6 + height // 5 + height // 7,
            name_w,
            height // 12,
            text="Bib {bib}   {place_text}",
            size=40,
            weight=600,
            colour="#b8d4e3",
            visible="known",
        ),
        Element(
            "vip",
            "text",
            pad,
            height // 6 - height // 12,
            name_w,
            height // 14,
            text="Welcome home, {first_name}!",
            size=40,
            colour="#ffd23f",
            visible="vip",
        ),
        Element(
            "recent",
            "recent",
            int(width * 0.68) if wide else pad,
            pad if wide else int(height * 0.55),
            int(width * 0.3) if wide else width - 2 * pad,
            height - 2 * pad - height // 10 if wide else int(height * 0.33),
            rows=10,
            size=30,
            weight=600,
        ),
        Element(
            "clock",
            "clock",
            pad,
            height - pad - height // 10,
            width // 4,
            height // 12,
            size=44,
            weight=700,
            colour="#b8d4e3",
            font="mono",
        ),
        Element(
            "ticker",
            "ticker",
            0,
            height - height // 14,
            width,
            height // 14,
            size=36,
            weight=600,
            colour="#0b1d2a",
        ),
    ]
    return Layout(width=width, height=height, elements=tuple(elements))


# --- placeholders ------------------------------------------------------------------------


def placeholders() -> dict[str, str]:
    """What free text can name, for the builder's help."""
    return {**FIELDS, "place_text": "“3rd overall” (empty before a place)"}


def fill(text: str, values: Mapping[str, str]) -> str:
    """`Welcome home, {first_name}!` with the runner's values; an unknown name stays as
    typed. Plain text out: the caller's template escapes it."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def runner_values(runner: RunnerView) -> dict[str, str]:
    """Every field and placeholder of a shown runner as text ("" when it has none)."""
    places = runner.places
    place_text = ""
    if places.overall:
        place_text = f"{ordinal(places.overall)} overall"
    values = {
        "name": runner.name,
        "first_name": runner.first_name or (runner.name if not runner.known else ""),
        "last_name": runner.last_name,
        "bib": runner.bib,
        "time": runner.time,
        "gun_time": runner.gun_time,
        "chip_time": runner.chip_time,
        "pace": runner.pace,
        "place": str(places.overall or ""),
        "gender_place": str(places.gender or ""),
        "age_group_place": str(places.age_group or ""),
        "age_group": runner.age_group or "",
        "sub_event": runner.sub_event,
        "city": runner.city,
        "team": runner.team,
        "location": runner.location,
        "place_text": place_text,
    }
    values.update((f"custom:{k}", v) for k, v in runner.custom)
    return values


def shows(element: Element, runner: RunnerView | None) -> bool:
    """Whether an element's visibility rule lets it show for this runner (or for none)."""
    if element.visible == "always":
        return True
    if runner is None:
        return False
    if element.visible == "vip":
        return runner.vip
    if element.visible == "known":
        return runner.known
    return bool(runner.places.overall)
