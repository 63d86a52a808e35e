"""The Jinja environment, and display frames rendered once per event from page templates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.domain.catalog import Display
from app.domain.display_pipeline import AlsoFinished, Featured, PlaceChanges
from app.domain.templates import fill, runner_values, shows
from app.services.live import DisplayState, Look, Shown

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
HEARTBEAT = b": keepalive\n\n"
# Sent first on every stream: how long a browser waits before reconnecting.
RETRY = b"retry: 2000\n\n"


def utc_time(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def create_environment(directory: Path = TEMPLATES_DIR) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates change with a deploy, which restarts the process: without this, every
        # {% include %} of every display frame stats its file (a syscall per runner per display).
        auto_reload=False,
    )
    env.filters["utc_time"] = utc_time
    # What display templates (templates/displays/_tpl_macros.html) draw with.
    env.globals.update(
        runner_values=runner_values,
        fill=fill,
        shows=shows,
        place_cells={"place": "overall", "gender_place": "gender", "age_group_place": "age_group"},
    )
    return env


def sse_frame(event_id: str, event_name: str, html: str) -> bytes:
    """One SSE message; every line of the fragment gets its own data: prefix.

    A provisional event (id 0: the read is spooled, not yet stored) carries no id, so a
    screen's Last-Event-ID stays at the last stored read.
    """
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {event_name}")
    lines.extend(f"data: {line}" for line in html.splitlines() or [""])
    return ("\n".join(lines) + "\n\n").encode()


class DisplayRenderer:
    """Renders display events with the same templates the page paints first: the built-in
    board, or the display's template (templates/displays/_tpl_*.html)."""

    def __init__(self, env: Environment) -> None:
        self._board = env.get_template("displays/_board.html")
        self._by_kind = {
            Featured: ("runner", env.get_template("displays/_sse_runner.html")),
            AlsoFinished: ("also", env.get_template("displays/_sse_also.html")),
            PlaceChanges: ("places", env.get_template("displays/_sse_places.html")),
        }
        self._templated_runner = env.get_template("displays/_tpl_sse_runner.html")

    def event(self, display: Display, look: Look, shown: Shown) -> bytes:
        name, template = self._by_kind[type(shown.event)]
        if look.layout is not None and name == "runner":
            template = self._templated_runner
        html = template.render(display=display, look=look, event=shown.event)
        return sse_frame(shown.stream_id, name, html)

    def join(self, payloads: Sequence[bytes]) -> bytes:
        return b"".join(payloads)

    def messages_changed(self) -> bytes:
        return sse_frame("", "messages", "changed")

    def board(self, state: DisplayState) -> bytes:
        """The whole board, first on a stream that cannot resume where it left off."""
        html = self._board.render(display=state.display, snap=state.snapshot, look=state.look)
        return sse_frame(state.cursor, "board", html)
