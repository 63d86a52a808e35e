"""A display's settings as a timer edits them: the form's raw fields checked into plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from app.domain.catalog import Display
from app.domain.errors import InvalidInput

# How one runner gives way to the next on screen.
TRANSITIONS: dict[str, str] = {
    "none": "None (cut straight to the next runner)",
    "fade": "Fade",
    "slide": "Slide",
}
# Inclusive bounds, in the units the form shows.
DWELL_S = (1, 120)
DUPLICATE_WINDOW_S = (0, 3600)
REORDER_WINDOW_S = (0, 600)
MAX_PER_SECOND = (0, 100)
PIN_DIGITS = (4, 8)
NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class SettingsForm:
    """The settings form as submitted (or filled from a display): text, as typed."""

    name: str = ""
    locations: tuple[str, ...] = ()
    # Seconds a runner stays featured; stored in milliseconds (Display.display_duration).
    display_duration: str = ""
    transition: str = ""
    duplicate_window: str = ""
    reorder_window: str = ""
    max_per_second: str = ""
    group_runners: bool = False
    vips_first: bool = False
    show_repeats: bool = False
    # "1": an unknown chip shows as its chip code; "0": it is hidden.
    show_unknown: str = ""
    # A new PIN (empty: keep the current one), or clear_pin to remove it.
    pin: str = ""
    clear_pin: bool = False


@dataclass(frozen=True, slots=True)
class DisplaySettings:
    """Checked settings, in the units stored."""

    name: str
    locations: tuple[str, ...]
    display_duration: int  # milliseconds
    transition: str
    duplicate_window: int
    reorder_window: int
    max_per_second: int
    group_runners: bool
    vips_first: bool
    show_repeats: bool
    show_unknown: bool


@dataclass(frozen=True, slots=True)
class PinChange:
    """What happens to the screen PIN: kept as it is, set to new digits, or cleared."""

    action: str  # "keep" | "set" | "clear"
    pin: str = ""


class SettingsErrors(InvalidInput):
    """Every field that was refused, by field name, with a message a timer can act on."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def seconds_text(ms: int) -> str:
    """5000 → '5', 2500 → '2.5'."""
    return f"{ms / 1000:g}"


def form_of(display: Display) -> SettingsForm:
    """The form filled with a display's current settings (the PIN is never shown)."""
    return SettingsForm(
        name=display.name,
        locations=tuple(display.locations),
        display_duration=seconds_text(display.display_duration),
        transition=display.transition,
        duplicate_window=str(display.duplicate_window),
        reorder_window=str(display.reorder_window),
        max_per_second=str(display.max_per_second),
        group_runners=display.group_runners,
        vips_first=display.vips_first,
        show_repeats=display.show_repeats,
        show_unknown="1" if display.show_unknown else "0",
    )


def settings_of(display: Display) -> DisplaySettings:
    return DisplaySettings(
        name=display.name,
        locations=tuple(display.locations),
        display_duration=display.display_duration,
        transition=display.transition,
        duplicate_window=display.duplicate_window,
        reorder_window=display.reorder_window,
        max_per_second=display.max_per_second,
        group_runners=display.group_runners,
        vips_first=display.vips_first,
        show_repeats=display.show_repeats,
        show_unknown=display.show_unknown,
    )


def location_choices(event_locations: Sequence[str], current: Sequence[str]) -> list[str]:
    """The locations a display may take: the event's, in course order, then any it already
    has that the event no longer lists (kept, so saving other settings does not drop them)."""
    choices = list(dict.fromkeys(event_locations))
    choices += [name for name in current if name not in choices]
    return choices


def _whole(text: str, low: int, high: int) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


def _dwell_ms(text: str) -> int | None:
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        return None
    low, high = DWELL_S
    # Tenths of a second at most: a finish-line screen has no use for finer steps.
    if not low <= seconds <= high or round(seconds, 1) != seconds:
        return None
    return round(seconds * 1000)


def parse_settings(form: SettingsForm, choices: Sequence[str]) -> tuple[DisplaySettings, PinChange]:
    """The checked settings and PIN change; SettingsErrors naming every refused field."""
    errors: dict[str, str] = {}
    name = form.name.strip()
    if not name:
        errors["name"] = "Give the display a name, such as Finish line."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Keep the display name under {NAME_MAX} characters."
    locations = tuple(dict.fromkeys(loc.strip() for loc in form.locations if loc.strip()))
    unknown = [loc for loc in locations if loc not in choices]
    if unknown:
        errors["locations"] = (
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a location of "
            "this event; pick from the list."
        )
    dwell = _dwell_ms(form.display_duration)
    if dwell is None:
        errors["display_duration"] = (
            f"Show each runner for {DWELL_S[0]} to {DWELL_S[1]} seconds (tenths allowed)."
        )
    transition = form.transition.strip()
    if transition not in TRANSITIONS:
        errors["transition"] = "Pick a transition: none, fade or slide."
    duplicate = _whole(form.duplicate_window, *DUPLICATE_WINDOW_S)
    if duplicate is None:
        errors["duplicate_window"] = (
            f"The duplicate window is a whole number of seconds from {DUPLICATE_WINDOW_S[0]} "
            f"to {DUPLICATE_WINDOW_S[1]}."
        )
    reorder = _whole(form.reorder_window, *REORDER_WINDOW_S)
    if reorder is None:
        errors["reorder_window"] = (
            f"The reorder window is a whole number of seconds from {REORDER_WINDOW_S[0]} "
            f"to {REORDER_WINDOW_S[1]}."
        )
    per_second = _whole(form.max_per_second, *MAX_PER_SECOND)
    if per_second is None:
        errors["max_per_second"] = (
            f"Runners per second is a whole number from {MAX_PER_SECOND[0]} (no limit) "
            f"to {MAX_PER_SECOND[1]}."
        )
    show_unknown = {"1": True, "0": False}.get(form.show_unknown.strip())
    if show_unknown is None:
        errors["show_unknown"] = "Choose whether unknown chips show their chip code or stay hidden."
    pin = parse_pin(form.pin, form.clear_pin, errors)
    if errors:
        raise SettingsErrors(errors)
    assert dwell is not None and duplicate is not None and reorder is not None
    assert per_second is not None and show_unknown is not None
    settings = DisplaySettings(
        name=name,
        locations=locations,
        display_duration=dwell,
        transition=transition,
        duplicate_window=duplicate,
        reorder_window=reorder,
        max_per_second=per_second,
        group_runners=form.group_runners,
        vips_first=form.vips_first,
        show_repeats=form.show_repeats,
        show_unknown=show_unknown,
    )
    return settings, pin


def parse_pin(pin: str, clear: bool, errors: dict[str, str]) -> PinChange:
    """The PIN change a form asks for; a refusal goes into errors["pin"]."""
    pin = pin.strip()
    if clear and pin:
        errors["pin"] = "Either type a new PIN or clear it, not both."
        return PinChange("keep")
    if clear:
        return PinChange("clear")
    if not pin:
        return PinChange("keep")
    if not is_pin_shaped(pin):
        errors["pin"] = f"A PIN is {PIN_DIGITS[0]} to {PIN_DIGITS[1]} digits."
        return PinChange("keep")
    return PinChange("set", pin)


def is_pin_shaped(pin: str) -> bool:
    """Worth checking against the stored hash at all (a screen's typed PIN)."""
    low, high = PIN_DIGITS
    return pin.isascii() and pin.isdigit() and low <= len(pin) <= high


def changes(before: DisplaySettings, after: DisplaySettings) -> dict[str, list[object]]:
    """Field → [old, new] for every setting that differs, for the audit log."""
    out: dict[str, list[object]] = {}
    for field in fields(DisplaySettings):
        old, new = getattr(before, field.name), getattr(after, field.name)
        if old != new:
            out[field.name] = [_plain(old), _plain(new)]
    return out


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
