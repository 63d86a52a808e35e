"""The load-test report: latency per runner per screen, misses, event-id checks, a plot.

`python loadtests/report.py loadtest-report/<run>` rebuilds summary.md, latency.csv.gz and
latency.svg of a run from the logs the scenario wrote (scenario.json, sends-*.csv,
seen-*.csv.gz, screens-*.jsonl, frames-*.txt.gz, locust_*.csv, resources.csv).
"""

from __future__ import annotations

import bisect
import csv
import gzip
import itertools
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

KINDS = (
    ("sse", "SSE screens"),
    ("probe", "SSE probe screens (one per display, own process)"),
    ("poll", "polling screens (ETag)"),
    ("naive", "naive screens"),
)
COLORS = {"sse": "#1f77b4", "probe": "#9467bd", "poll": "#2ca02c", "naive": "#d62728"}
TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0
# The start-line rushes: windows of send time in which the providers sent at least this many
# reads a second (at the default 10x, six runners a second at one real finish line).
RUSH_WINDOW_S = 10
RUSH_READS_PER_S = 60


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else (f"{v:,.0f}" if v >= 100 else f"{v:.1f}")


def build(out: Path) -> str:
    scenario = json.loads((out / "scenario.json").read_text())
    known = set(scenario["known"])
    grace = float(scenario.get("grace_s", 5.0))

    first_send: dict[tuple[str, str], float] = {}
    reads_sent = 0
    send_times: list[float] = []
    for path in sorted(out.glob("sends-*.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                reads_sent += 1
                t = float(row["send_time"])
                send_times.append(t)
                key = (row["location"], row["chip"])
                if key not in first_send or t < first_send[key]:
                    first_send[key] = t
    t0 = min(send_times) if send_times else 0.0
    t_end_sends = max(send_times) if send_times else 0.0

    screens: dict[int, dict[str, Any]] = {}
    for path in sorted(out.glob("screens-*.jsonl")):
        for line in path.read_text().splitlines():
            s = json.loads(line)
            screens[s["screen"]] = s
    run_end = max((s["ended"] for s in screens.values()), default=t_end_sends)

    latencies: dict[str, list[float]] = defaultdict(list)
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    seen_by: dict[int, set[tuple[str, str]]] = defaultdict(set)
    unmatched = 0
    with gzip.open(out / "latency.csv.gz", "wt", compresslevel=1) as lat:
        lat.write("kind,screen,display,location,chip,known,send_time,recv_time,latency_ms\n")
        for path in sorted(out.glob("seen-*.csv.gz")):
            with gzip.open(path, "rt") as f:
                for row in csv.DictReader(f):
                    sid = int(row["screen"])
                    key = (row["location"], row["chip"])
                    seen_by[sid].add(key)
                    sent = first_send.get(key)
                    screen = screens.get(sid)
                    if sent is None or screen is None:
                        unmatched += sent is None
                        continue
                    if sent < screen["started"]:
                        continue  # shown from the snapshot: sent before this screen was on
                    recv = float(row["recv_time"])
                    ms = (recv - sent) * 1000
                    kind = row["kind"]
                    latencies[kind].append(ms)
                    points[kind].append((sent - t0, ms))
                    lat.write(
                        f"{kind},{sid},{row['display']},{key[0]},{key[1]},"
                        f"{int(key[1] in known)},{sent:.6f},{recv:.6f},{ms:.1f}\n"
                    )

    # Expected: every participant first read at one of the display's points while the screen
    # was on, once: a display places a runner at the first of its points that reads them, and
    # a later read at another of its points is the same runner again, not a new one.
    first_at: dict[tuple[str, ...], list[tuple[float, str]]] = {}
    missing: dict[str, dict[str, int]] = {k: {"screens": 0, "runners": 0} for k, _ in KINDS}
    expected_total: dict[str, int] = defaultdict(int)
    miss_examples: list[str] = []
    for sid, s in screens.items():
        start, stop = s["started"], min(s["ended"], run_end) - grace
        if not start:
            continue
        shown_at = tuple(sorted(s["locations"]))
        if shown_at not in first_at:
            firsts: dict[str, float] = {}
            for (loc, chip), t in first_send.items():
                if loc in shown_at and chip in known and t < firsts.get(chip, float("inf")):
                    firsts[chip] = t
            first_at[shown_at] = sorted((t, chip) for chip, t in firsts.items())
        lst = first_at[shown_at]
        seen_chips = {chip for loc, chip in seen_by.get(sid, set()) if loc in shown_at}
        missed = 0
        i = bisect.bisect_left(lst, (start, ""))
        while i < len(lst) and lst[i][0] <= stop:
            expected_total[s["kind"]] += 1
            if lst[i][1] not in seen_chips:
                missed += 1
                if s["kind"] == "sse" and len(miss_examples) < 10:
                    miss_examples.append(
                        f"screen {sid} ({s['display']}): chip {lst[i][1]} "
                        f"({'/'.join(shown_at)}), sent at +{lst[i][0] - t0:.1f} s"
                    )
            i += 1
        if missed:
            missing[s["kind"]]["screens"] += 1
            missing[s["kind"]]["runners"] += missed

    # Event ids: every SSE screen of a display must get the same sequence (no gaps).
    display_ids: dict[str, set[int]] = defaultdict(set)
    screen_ids: dict[int, tuple[str, list[int]]] = {}
    for path in sorted(out.glob("frames-*.txt.gz")):
        with gzip.open(path, "rt") as f:
            for line in f:
                sid_s, code, _, ids_s = (line.rstrip("\n") + " ").split(" ", 3)
                ids = [int(x) for x in ids_s.strip().split(",") if x]
                screen_ids[int(sid_s)] = (code, ids)
                display_ids[code].update(ids)
    gaps = gap_screens = 0
    sorted_display = {code: sorted(ids) for code, ids in display_ids.items()}
    for code, ids in screen_ids.values():
        if not ids:
            continue
        union = sorted_display[code]
        lo = bisect.bisect_left(union, min(ids))
        hi = bisect.bisect_right(union, max(ids))
        missed_ids = (hi - lo) - len(set(ids))
        if missed_ids > 0:
            gaps += missed_ids
            gap_screens += 1
    dups = sum(s["duplicates"] for s in screens.values() if s["kind"] == "sse")
    ooo = sum(s["out_of_order"] for s in screens.values() if s["kind"] == "sse")
    reconnects = sum(s["reconnects"] for s in screens.values() if s["kind"] == "sse")

    locust = _locust_stats(out)
    resources = _resources(out)
    _plot(out / "latency.svg", points, send_times, t0)

    counts = scenario["counts"]
    lines = [
        f"# Load test {scenario['run_id']}",
        "",
        f"- platform: {scenario['layout']}, {scenario['base_url']}",
        f"- screens: {counts['DisplayScreen']} SSE over {len(scenario['displays'])} displays, "
        f"{counts['PollingScreen']} polling (ETag, 1 s), {counts['NaiveScreen']} naive "
        f"(the predecessor's way: the current runner as JSON every second), "
        f"{counts['Director']} directors",
        f"- replay: {', '.join(scenario['points'])} of the 2021 race at "
        f"{scenario['speed']:g}x, one CTP01 connection each; {reads_sent:,} reads sent "
        f"({len(first_send):,} distinct point+chip) in {t_end_sends - t0:.0f} s",
        f"- duration: {scenario['duration']}; a runner counts for a screen when its first read "
        f"was sent while the screen was on and at least {grace:g} s before the end",
        "",
        "## Read-to-screen latency",
        "",
        "From the provider's send of the first read of a (point, chip) to the first fragment "
        "(SSE) or poll response showing that runner on a screen, per runner per screen.",
        "",
        "| screens | samples | p50 ms | p90 ms | p99 ms | max ms | expected | missed "
        "(screens missing any) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdict: dict[str, float] = {}
    for kind, label in KINDS:
        values = sorted(latencies.get(kind, []))
        p50, p90, p99 = (percentile(values, q) for q in (0.5, 0.9, 0.99))
        mx = values[-1] if values else math.nan
        if kind == "sse":
            verdict = {"p50": p50, "p99": p99}
        m = missing[kind]
        lines.append(
            f"| {label} | {len(values):,} | {_ms(p50)} | {_ms(p90)} | {_ms(p99)} | {_ms(mx)} | "
            f"{expected_total[kind]:,} | {m['runners']:,} ({m['screens']}) |"
        )
    lines += [
        "",
        "Polling screens see the board (the featured runners and the last 20 of the finish "
        "list) once a second, so when more than that arrive between two polls some never "
        "show on them. The naive screens are the system this replaces: each polls the "
        "display's current runner as JSON (`/d/<code>/current`) every second and sees only "
        "who is featured at that moment; everyone who came and went between two polls is "
        "missed. Both kinds of miss are the design's, which is why screens hold SSE.",
        "",
        "![latency over time](latency.svg)",
        "",
        *_rushes(points, send_times, t0),
        "## Errors and event ids (SSE)",
        "",
        f"- Locust requests: {locust['requests']:,}, failures: **{locust['failures']:,}**",
        f"- SSE reconnects (drops): {reconnects:,}; duplicate ids: **{dups}**; out of order: "
        f"**{ooo}**; ids another screen of the same display got but this one did not "
        f"(between its first and last id): **{gaps}** on {gap_screens} screens",
        f"- runners shown that no provider sent: {unmatched}",
    ]
    if miss_examples:
        lines += ["", "First SSE misses:", "", *[f"- {e}" for e in miss_examples]]
    if locust["failure_rows"]:
        lines += ["", "Failures:", "", "| method | name | error | count |", "|---|---|---|---:|"]
        lines += [f"| {m} | {n} | {e} | {c} |" for m, n, e, c in locust["failure_rows"][:20]]
    lines += ["", "## Requests (Locust)", "", *locust["table"]]
    if resources:
        lines += [
            "",
            "## Machine",
            "",
            f"- platform CPU: mean {resources['platform_cpu']:.0f}% of one core, peak "
            f"{resources['platform_cpu_peak']:.0f}%; RSS peak {resources['platform_rss']:.0f} MiB "
            f"(largest process {resources['platform_max_rss']:.0f} MiB)",
            f"- Locust CPU: mean {resources['locust_cpu']:.0f}%, peak "
            f"{resources['locust_cpu_peak']:.0f}% of one core (over its processes; a process "
            "near 100% adds its own lag to the latencies); RSS peak "
            f"{resources['locust_rss']:.0f} MiB",
        ]
    met = (
        verdict.get("p50", math.inf) <= TARGET_P50_MS
        and verdict.get("p99", math.inf) <= TARGET_P99_MS
        and locust["failures"] == 0
        and missing["sse"]["screens"] == 0
        and dups == ooo == gaps == 0
    )
    lines += [
        "",
        "## Target",
        "",
        f"SSE p50 ≤ {TARGET_P50_MS:g} ms and p99 ≤ {TARGET_P99_MS:g} ms, 0 errors, no SSE "
        f"screen missing a runner, no duplicate/out-of-order/gap: **{'met' if met else 'missed'}**"
        f" (p50 {_ms(verdict.get('p50', math.nan))} ms, p99 {_ms(verdict.get('p99', math.nan))} "
        f"ms, {locust['failures']} failures, {missing['sse']['screens']} screens missing).",
        "",
    ]
    text = "\n".join(lines)
    (out / "summary.md").write_text(text)
    return text


def _rushes(
    points: dict[str, list[tuple[float, float]]], send_times: list[float], t0: float
) -> list[str]:
    """SSE latencies inside and outside the rushes, where the target is hardest to hold."""
    per_window: dict[int, int] = defaultdict(int)
    for t in send_times:
        per_window[int((t - t0) // RUSH_WINDOW_S)] += 1
    rush = {w for w, n in per_window.items() if n >= RUSH_READS_PER_S * RUSH_WINDOW_S}
    lines = [
        f"### Inside and outside the rushes ({len(rush)} of {len(per_window)} windows)",
        "",
        f"Rushes: {RUSH_WINDOW_S}-second windows of send time in which the providers sent "
        f"{RUSH_READS_PER_S} or more reads a second.",
        "",
        "| screens | in rushes: samples | p50 ms | p99 ms | outside: samples | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, label in KINDS[:2]:
        inside: list[float] = []
        outside: list[float] = []
        for at, ms in points.get(kind, []):
            (inside if int(at // RUSH_WINDOW_S) in rush else outside).append(ms)
        cells = []
        for values in (sorted(inside), sorted(outside)):
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            cells.append(f"{len(values):,} | {_ms(p50)} | {_ms(p99)}")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return [*lines, ""]


def _locust_stats(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"requests": 0, "failures": 0, "table": [], "failure_rows": []}
    stats = out / "locust_stats.csv"
    if stats.exists():
        table = [
            "| type | name | requests | failures | median ms | p99 ms | max ms |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        with stats.open() as f:
            for row in csv.DictReader(f):
                if row["Name"] == "Aggregated":
                    result["requests"] = int(row["Request Count"])
                    result["failures"] = int(row["Failure Count"])
                    continue
                table.append(
                    f"| {row['Type']} | {row['Name']} | {int(row['Request Count']):,} | "
                    f"{int(row['Failure Count']):,} | {float(row['Median Response Time']):.0f} | "
                    f"{row.get('99%', '-')} | {float(row['Max Response Time']):.0f} |"
                )
        result["table"] = table
    failures = out / "locust_failures.csv"
    if failures.exists():
        with failures.open() as f:
            result["failure_rows"] = [
                (r["Method"], r["Name"], r["Error"].replace("|", "/")[:120], r["Occurrences"])
                for r in csv.DictReader(f)
            ]
    return result


def _resources(out: Path) -> dict[str, float]:
    path = out / "resources.csv"
    if not path.exists():
        return {}
    with path.open() as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    if len(rows) < 2:
        return {}

    def cpu(col: str) -> tuple[float, float]:
        rates = [
            (b[col] - a[col]) / (b["time"] - a["time"]) * 100
            for a, b in itertools.pairwise(rows)
            if b["time"] > a["time"] and b[col] >= a[col]
        ]
        return (sum(rates) / len(rates), max(rates)) if rates else (0.0, 0.0)

    pc, pcp = cpu("platform_cpu_s")
    lc, lcp = cpu("locust_cpu_s")
    return {
        "platform_cpu": pc,
        "platform_cpu_peak": pcp,
        "platform_rss": max(r["platform_rss_mb"] for r in rows),
        "platform_max_rss": max(r["platform_max_rss_mb"] for r in rows),
        "locust_cpu": lc,
        "locust_cpu_peak": lcp,
        "locust_rss": max(r["locust_rss_mb"] for r in rows),
    }


def _plot(
    path: Path, points: dict[str, list[tuple[float, float]]], sends: list[float], t0: float
) -> None:
    """Latency over time (p50 solid, p99 dashed, per 5 s of send time), reads/s underneath;
    hand-written SVG (no plotting library in the venv)."""
    width, height, left, right, top = 900, 460, 70, 150, 20
    plot_h, bar_h = 300, 70
    span = max([x for pts in points.values() for x, _ in pts] + [s - t0 for s in sends] + [1.0])
    bin_s = max(1.0, math.ceil(span / 120))
    ys = [v for pts in points.values() for _, v in pts if v > 0]
    y_lo = 10 ** math.floor(math.log10(max(min(ys), 0.1))) if ys else 1.0
    y_hi = 10 ** math.ceil(math.log10(max(ys))) if ys else 1000.0
    y_hi = max(y_hi, y_lo * 10)

    def sx(x: float) -> float:
        return left + (width - left - right) * x / span

    def sy(v: float) -> float:
        v = min(max(v, y_lo), y_hi)
        frac = (math.log10(v) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo))
        return top + plot_h * (1 - frac)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="12" font-size="12">Read-to-screen latency (ms, log) by send time; '
        f"p50 solid, p99 dashed, {bin_s:g} s bins</text>",
    ]
    decade = y_lo
    while decade <= y_hi:
        y = sy(decade)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{decade:g}</text>'
        )
        decade *= 10
    for target, label in ((TARGET_P50_MS, "50 ms"), (TARGET_P99_MS, "250 ms")):
        y = sy(target)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#f90" stroke-dasharray="2,3"/><text x="{width - right + 4}" '
            f'y="{y + 4:.1f}" fill="#f90">target {label}</text>'
        )
    legend_y = top + 60
    for kind, label in KINDS:
        pts = points.get(kind)
        if not pts:
            continue
        bins: dict[int, list[float]] = defaultdict(list)
        for x, v in pts:
            bins[int(x // bin_s)].append(v)
        for q, dash in ((0.5, ""), (0.99, ' stroke-dasharray="5,3"')):
            coords = " ".join(
                f"{sx((b + 0.5) * bin_s):.1f},{sy(percentile(sorted(vs), q)):.1f}"
                for b, vs in sorted(bins.items())
            )
            parts.append(
                f'<polyline fill="none" stroke="{COLORS[kind]}" stroke-width="1.5"{dash} '
                f'points="{coords}"/>'
            )
        parts.append(
            f'<line x1="{width - right + 4}" x2="{width - right + 24}" y1="{legend_y}" '
            f'y2="{legend_y}" stroke="{COLORS[kind]}" stroke-width="2"/><text '
            f'x="{width - right + 28}" y="{legend_y + 4}">{label.split(" (")[0]}</text>'
        )
        legend_y += 16
    # Reads sent per second underneath.
    base = top + plot_h + 30 + bar_h
    per_bin: dict[int, int] = defaultdict(int)
    for s in sends:
        per_bin[int((s - t0) // bin_s)] += 1
    peak = max(per_bin.values(), default=1) / bin_s
    for b, n in per_bin.items():
        h = bar_h * (n / bin_s) / peak
        parts.append(
            f'<rect x="{sx(b * bin_s):.1f}" y="{base - h:.1f}" '
            f'width="{max(sx(bin_s) - sx(0) - 0.5, 0.5):.1f}" height="{h:.1f}" fill="#bbb"/>'
        )
    parts.append(
        f'<text x="{left - 6}" y="{base - bar_h + 4}" text-anchor="end">{peak:,.0f}/s</text>'
        f'<text x="{width - right + 4}" y="{base - bar_h / 2}">reads sent</text>'
    )
    step = 10 ** math.floor(math.log10(span)) if span >= 10 else 1
    if span / step > 10:
        step *= 2 if span / step <= 20 else 5
    x = 0.0
    while x <= span:
        parts.append(
            f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" y2="{base}" stroke="#eee"/>'
            f'<text x="{sx(x):.1f}" y="{base + 14}" text-anchor="middle">{x:g}</text>'
        )
        x += step
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{base + 30}" text-anchor="middle">'
        "seconds since the replay started</text></svg>"
    )
    path.write_text("\n".join(parts))


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))


def record_in_benchmarks(out: Path, summary: str) -> None:
    """The run's summary as the "load" section of docs/benchmarks.md (LOADTEST_RECORD=1)."""
    from fragments import benchmarks_report

    benchmarks = benchmarks_report()

    lines = summary.splitlines()
    title = lines[0].removeprefix("# Load test ")
    body = [
        "## (f) Live displays under load (Locust)",
        "",
        f"Command: `make loadtest LOADTEST_REDIS=start` (run {title}; the full report, with "
        "per-runner latencies and the plot, is written to the git-ignored "
        f"`loadtest-report/{out.name}/`).  ",
        f"Machine: {benchmarks.machine()}. Everything, the load generator included, on it.",
        "",
    ]
    for line in lines[1:]:
        if (
            line.startswith("![")
            or line.startswith("First SSE misses")
            or line.startswith("- screen ")
        ):
            continue
        body.append("#" + line if line.startswith("## ") else line)
    text = "\n".join(body).replace("\n\n\n", "\n\n").rstrip() + "\n"
    figures = dict(re.findall(r"\(p50 ([\d.,]+) ms, p99 ([\d.,]+) ms", summary)) or {}
    p50, p99 = next(iter(figures.items()), ("?", "?"))
    met = "**met**" if "**met**" in summary.split("## Target")[-1] else "**missed**"
    probe = re.search(
        r"\| SSE probe screens[^|]*\| [\d,]+ \| ([\d.,]+) \| [\d.,]+ \| ([\d.,]+) \|", summary
    )
    naive = re.search(r"\| naive screens \|[^\n]*\| ([\d,]+) \| ([\d,]+) \(", summary)
    rows = {
        "f1": f"| (f) read-to-screen, SSE, 1,000 screens: p50 / p99 | {p50} / {p99} ms "
        f"| ≤ 50 / ≤ 250 ms, 0 errors, none missing | {met} |",
    }
    if probe:
        p50_ok = _num(probe.group(1)) <= TARGET_P50_MS
        p99_ok = _num(probe.group(2)) <= TARGET_P99_MS
        rows["f3"] = (
            f"| (f) the same, probe screens in a process of their own (the platform's share): "
            f"p50 / p99 | {probe.group(1)} / {probe.group(2)} ms | ≤ 50 / ≤ 250 ms "
            f"| {'**met**' if p50_ok and p99_ok else '**missed**'} |"
        )
    if naive:
        expected, missed = (int(x.replace(",", "")) for x in naive.groups())
        share = missed / expected if expected else 0.0
        rows["f2"] = (
            f"| (f) naive baseline (current runner as JSON every second): runners never shown "
            f"| {share:.0%} | ratio, no target | — |"
        )
    benchmarks.write_section("load", text, rows)


def _num(text: str) -> float:
    return float(text.replace(",", ""))
