"""Display templates as data: what the builder may store, and how runners fill it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.domain.display_pipeline import NO_PLACES, Places, RunnerView
from app.domain.errors import InvalidInput
from app.domain.templates import (
    Element,
    Layout,
    fill,
    parse_element,
    parse_layout,
    runner_values,
    shows,
    starter_layout,
)
from app.web.template_css import layout_css

RUNNER = RunnerView(
    read_id=1,
    participant_id=7,
    name="Ann Lee",
    bib="42",
    known=True,
    vip=True,
    gender="F",
    age_group="F35-39",
    sub_event="10K",
    city="Oslo",
    team="",
    location="FINISH",
    read_at=datetime(2026, 5, 17, 8, 0, tzinfo=UTC),
    time="0:41:07",
    time_basis="gun",
    gun_time="0:41:07",
    chip_time="0:40:58",
    pace="4:06/km",
    places=Places(overall=3, gender=1, age_group=1),
    first_name="Ann",
    last_name="Lee",
    custom=(("birthday", "Today"),),
)


def test_every_starter_layout_survives_its_own_checks() -> None:
    for size in ("landscape", "portrait", "square"):
        layout = starter_layout(size)
        assert parse_layout(layout.to_json()) == layout


def test_placeholders_fill_from_the_runner_and_unknown_ones_stay_as_typed() -> None:
    values = runner_values(RUNNER)
    assert fill("Welcome home, {first_name}! {place_text}", values) == (
        "Welcome home, Ann! 3rd overall"
    )
    assert fill("{custom:birthday} / {nope} / {bib}", values) == "Today / {nope} / 42"
    # Text goes out as text: the page escapes it, fill does not interpret it.
    assert fill("<b>{first_name}</b>", values) == "<b>Ann</b>"


def test_an_unknown_chip_has_no_first_name_of_its_own() -> None:
    chip = replace(RUNNER, known=False, name="Chip 9573", first_name="", last_name="", bib="")
    assert runner_values(chip)["first_name"] == "Chip 9573"
    assert runner_values(replace(RUNNER, places=NO_PLACES))["place_text"] == ""


def test_visibility_rules() -> None:
    vip_only = Element("a1", "text", visible="vip")
    placed_only = Element("a2", "field", visible="placed")
    assert shows(vip_only, RUNNER) and not shows(vip_only, replace(RUNNER, vip=False))
    assert not shows(vip_only, None)
    assert not shows(placed_only, replace(RUNNER, places=NO_PLACES))
    assert vip_only.runner_bound and Element("a3", "image").runner_bound is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "script"}, "not one of the choices"),
        ({"colour": "red;background:url(x)"}, "colour like #1a2b3c"),
        ({"font": "Comic Sans'}"}, "not one of the choices"),
        ({"x": "1e9"}, "whole number"),
        ({"x": "99999"}, "between"),
        ({"field": "password_hash"}, "not a runner field"),
        ({"kind": "image", "image": "../../etc/passwd"}, "image library"),
        ({"id": "x'}body{"}, "letters and digits"),
        ({"kind": "text", "text": "a" * 301}, "longer than 300"),
    ],
)
def test_anything_outside_the_bounds_is_refused_with_a_reason(
    change: dict[str, str], message: str
) -> None:
    raw = {"id": "e1", "kind": "field", "field": "name", **change}
    with pytest.raises(InvalidInput, match=message):
        parse_element(raw, 1920, 1080)


def test_a_layout_refuses_duplicate_ids_and_bad_canvas_sizes() -> None:
    element = {"id": "e1", "kind": "clock"}
    with pytest.raises(InvalidInput, match="same id"):
        parse_layout({"elements": [element, element]})
    with pytest.raises(InvalidInput, match="Canvas width"):
        parse_layout({"width": 100, "height": 1080})


def test_the_stylesheet_carries_only_checked_values() -> None:
    layout = Layout(
        width=1000,
        height=500,
        background="#102030",
        background_image="abc_DEF-123",
        elements=(Element("e1", "field", x=100, y=50, w=500, h=100, size=40, colour="#ff0000"),),
    )
    css = layout_css(layout)
    assert ".tpl-canvas{aspect-ratio:1000/500;" in css
    assert "background-image:url(/media/abc_DEF-123)" in css
    assert ".tpl-canvas .tpl-el-e1{left:10.0000cqw;top:5.0000cqw;width:50.0000cqw" in css
    assert "font-size:4.0000cqw" in css and "color:#ff0000" in css
