"""The settings form's rules: bounds, units, the PIN, locations kept and refused."""

from __future__ import annotations

import pytest

from app.domain.catalog import Display
from app.domain.display_settings import (
    PinChange,
    SettingsErrors,
    SettingsForm,
    changes,
    form_of,
    location_choices,
    parse_settings,
    seconds_text,
    settings_of,
)

DISPLAY = Display(1, 1, 1, "k7m2qxfa", "Finish line", ["FINISH"], 5000, 60, True)
CHOICES = ["10K", "FINISH"]


def _form(**fields: object) -> SettingsForm:
    base = form_of(DISPLAY)
    return SettingsForm(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **fields})


def test_a_displays_own_form_parses_back_to_its_settings() -> None:
    settings, pin = parse_settings(form_of(DISPLAY), CHOICES)
    assert settings == settings_of(DISPLAY)
    assert pin == PinChange("keep")
    assert changes(settings_of(DISPLAY), settings) == {}


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("display_duration", "1", 1000),
        ("display_duration", "120", 120_000),
        ("display_duration", " 2.5 ", 2500),
        ("duplicate_window", "0", 0),
        ("duplicate_window", "3600", 3600),
        ("reorder_window", "600", 600),
        ("max_per_second", "100", 100),
    ],
)
def test_the_bounds_are_inclusive(field: str, value: str, stored: int) -> None:
    settings, _ = parse_settings(_form(**{field: value}), CHOICES)
    assert getattr(settings, field) == stored


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_duration", "0.9"),
        ("display_duration", "120.1"),
        ("display_duration", "2.55"),
        ("display_duration", "nan"),
        ("display_duration", "inf"),
        ("duplicate_window", "3601"),
        ("duplicate_window", "-0"),
        ("reorder_window", "601"),
        ("reorder_window", "\u0661\u0660"),  # Arabic-Indic digits: not what the form means
        ("max_per_second", "101"),
        ("max_per_second", ""),
        ("transition", "spin"),
        ("show_unknown", "yes"),
        ("name", "   "),
        ("pin", "123"),
        ("pin", "123456789"),
        ("pin", "12 34"),
    ],
)
def test_out_of_bounds_values_are_refused_by_field(field: str, value: str) -> None:
    with pytest.raises(SettingsErrors) as raised:
        parse_settings(_form(**{field: value}), CHOICES)
    assert list(raised.value.errors) == [field]


def test_every_refused_field_is_named_at_once() -> None:
    with pytest.raises(SettingsErrors) as raised:
        parse_settings(
            _form(name="", locations=("NOWHERE",), transition="", pin="1", clear_pin=True),
            CHOICES,
        )
    assert set(raised.value.errors) == {"name", "locations", "transition", "pin"}
    assert "NOWHERE is not a location" in raised.value.errors["locations"]
    assert "not both" in raised.value.errors["pin"]


def test_pin_set_clear_and_keep() -> None:
    assert parse_settings(_form(pin=" 0042 "), CHOICES)[1] == PinChange("set", "0042")
    assert parse_settings(_form(clear_pin=True), CHOICES)[1] == PinChange("clear")
    assert parse_settings(_form(pin=""), CHOICES)[1] == PinChange("keep")


def test_locations_keep_the_displays_own_and_drop_repeats() -> None:
    assert location_choices(["10K", "FINISH"], ["FINISH", "OLD MAT"]) == [
        "10K",
        "FINISH",
        "OLD MAT",
    ]
    settings, _ = parse_settings(_form(locations=("FINISH", " FINISH", "10K", "")), CHOICES)
    assert settings.locations == ("FINISH", "10K")


def test_changes_name_old_and_new_values_for_the_audit_log() -> None:
    settings, _ = parse_settings(
        _form(display_duration="7.5", locations=(), transition="slide"), CHOICES
    )
    assert changes(settings_of(DISPLAY), settings) == {
        "locations": [["FINISH"], []],
        "display_duration": [5000, 7500],
        "transition": ["fade", "slide"],
    }
    assert seconds_text(7500) == "7.5" and seconds_text(5000) == "5"
