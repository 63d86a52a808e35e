"""docs/benchmarks.md: one section per benchmark, each rewritten by the script that measures it.

A section sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->`; a script replaces its
own section and leaves the others as they are, so `make bench` regenerates the whole file.
The summary at the top has one row per acceptance figure, each rewritten by its benchmark.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
# Where each section goes when it is not in the file yet.
ORDER = ("summary", "parser", "ingest", "import", "memory", "load", "idle")
HEADER = (
    "# Benchmarks\n\n"
    "Each section below is written by the script that measures it, with the command, the "
    "machine and the date; `make bench` reruns them all (`make bench-parser`, "
    "`make bench-ingest`, `make bench-import`, `make bench-memory` one at a time); the load "
    "section comes from `make loadtest LOADTEST_REDIS=start LOADTEST_RECORD=1`. The "
    "targets are those of the "
    "2-core machine the project runs on; they are stated here and never asserted by tests.\n"
)
SUMMARY_HEAD = [
    "## Summary",
    "",
    "| figure | measured | target | verdict |",
    "|---|---:|---|---|",
]


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return "RAM unknown"


def machine(postgres: str | None = None) -> str:
    """CPU model, cores, RAM, kernel, Python and (when used) PostgreSQL, on one line."""
    parts = [
        cpu_model(),
        f"{os.cpu_count()} cores",
        memory_total(),
        f"Linux {platform.release()}" if sys.platform == "linux" else platform.platform(),
        f"Python {platform.python_version()}",
    ]
    if postgres:
        parts.append(f"PostgreSQL {postgres}")
    return ", ".join(parts)


def command_line() -> str:
    """How this script was started, relative to the repository."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO))
    except ValueError:
        shown = str(script)
    return " ".join(["python", shlex.quote(shown), *map(shlex.quote, sys.argv[1:])])


def provenance(make_target: str, postgres: str | None = None) -> str:
    """The paragraph that opens every section: command, date and machine."""
    return (
        f"Command: `{make_target}` (`{command_line()}`), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.  \n"
        f"Machine: {machine(postgres)}."
    )


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def _read() -> str:
    return DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER


def _replace(text: str, name: str, body: str) -> str:
    begin, end = markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _m: block, text, count=1)
    # Before the first section that comes after this one, else at the end.
    for later in ORDER[ORDER.index(name) + 1 :] if name in ORDER else ():
        later_begin = markers(later)[0]
        if later_begin in text:
            head, tail = text.split(later_begin, 1)
            return head.rstrip("\n") + "\n\n" + block + "\n\n" + later_begin + tail
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_section(name: str, body: str, summary: dict[str, str] | None = None) -> None:
    """Replace the section `name` (and these rows of the summary) in docs/benchmarks.md.

    summary maps a row key to a table row `| figure | measured | target | verdict |`.
    """
    text = _read()
    if not text.startswith("# Benchmarks"):
        text = HEADER + "\n" + text
    if summary:
        text = _replace(text, "summary", _summary(text, summary))
    text = _ordered(_replace(text, name, body))
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")


def _ordered(text: str) -> str:
    """The sections in ORDER (others after them), whatever order the file had them in."""
    block = re.compile(r"<!-- (\S+):begin -->.*?<!-- \1:end -->", re.DOTALL)
    found = {m.group(1): m.group(0) for m in block.finditer(text)}
    first = block.search(text)
    if first is None:
        return text
    # The opening lines are this module's too: one header, whatever an older file had.
    head = HEADER.rstrip("\n")
    names = [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]
    return head + "\n\n" + "\n\n".join(found[n] for n in names) + "\n"


def _summary(text: str, rows: dict[str, str]) -> str:
    """The summary table with these rows replaced or added, ordered by key."""
    begin, end = markers("summary")
    kept: dict[str, str] = {}
    if begin in text and end in text:
        old = text.split(begin, 1)[1].split(end, 1)[0]
        for line in old.splitlines():
            found = re.search(r"<!-- row:(\S+) -->\s*$", line)
            if found:
                kept[found.group(1)] = line
    for key, row in rows.items():
        kept[key] = f"{row.rstrip()} <!-- row:{key} -->"
    return "\n".join([*SUMMARY_HEAD, *(kept[k] for k in sorted(kept))])
