"""A template's stylesheet, generated from its checked numbers (the CSP allows no inline style).

Positions and sizes are in container-query units of the canvas, so one layout fills a TV, a
phone or the builder's preview alike. Every value comes from app.domain.templates.parse_layout:
integers, #rrggbb colours, names from fixed lists and image keys of [A-Za-z0-9_-].
"""

from __future__ import annotations

from app.domain.templates import LISTS, Layout

FONT_STACKS = {
    "sans": 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    "condensed": '"Roboto Condensed", "Arial Narrow", "Helvetica Neue Condensed", sans-serif',
    "serif": 'Georgia, "Times New Roman", serif',
    "mono": 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace',
}


def layout_css(layout: Layout, scope: str = ".tpl-canvas") -> str:
    """CSS for the canvas and each element, scoped under `scope`."""
    width, height = layout.width, layout.height

    def unit(value: int) -> str:
        return f"{value * 100 / width:.4f}cqw"

    canvas = [
        f"aspect-ratio:{width}/{height}",
        f"width:min(100%,calc(100vh*{width}/{height}))",
        f"background-color:{layout.background}",
    ]
    if layout.background_image:
        canvas.append(f"background-image:url(/media/{layout.background_image})")
    rules = [f"{scope}{{{';'.join(canvas)}}}"]
    for e in layout.elements:
        props = [
            f"left:{unit(e.x)}",
            f"top:{unit(e.y)}",
            f"width:{unit(e.w)}",
            f"height:{unit(e.h)}",
            f"font-family:{FONT_STACKS[e.font]}",
            f"font-size:{unit(e.size)}",
            f"font-weight:{e.weight}",
            f"color:{e.colour}",
            f"text-align:{e.align}",
        ]
        if e.kind == "ticker":
            props.append(f"background-color:{_ticker_band(e.colour)}")
        rules.append(f"{scope} .tpl-el-{e.id}{{{';'.join(props)}}}")
        if e.kind in LISTS:
            # The list keeps more runners than the element shows (a screen's list size).
            hidden = f"{scope} .tpl-el-{e.id} .recent-item:nth-last-child(n+{e.rows + 1})"
            rules.append(f"{hidden}{{display:none}}")
    return "\n".join(rules) + "\n"


def _ticker_band(ink: str) -> str:
    """A band behind the ticker that its text reads on: light behind dark ink, else dark."""
    r, g, b = (int(ink[i : i + 2], 16) for i in (1, 3, 5))
    return "#ffd23f" if (r * 299 + g * 587 + b * 114) / 1000 < 128 else "#0b1d2a"
