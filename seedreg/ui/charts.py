"""Charts as SVG drawn on the server: nothing to load, nothing to run, the same in the app and the report.

Colours and fonts come from the stylesheet's classes (no inline styles: the pages' CSP allows none).
Every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from seedreg.fingerprints.digest import Fingerprint
    from seedreg.registry.history import ReplayDay

WIDTH = 640
#: Seeds above this are not placed by value (a float cannot hold them exactly): by rank, each labelled.
LARGEST_PLOTTED_SEED = 2**53
#: A rank-placed plot labels at most this many dots (every k-th beyond).
MAX_LABELS = 40


def _svg(width: float, height: float, label: str, body: Sequence[str], css: str) -> Markup:
    return Markup(f'<svg class="chart {css}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
                  f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
                  f'<title>{escape(label)}</title>{"".join(body)}</svg>')


def _rect(css: str, x: float, y: float, w: float, h: float, title: str) -> str:
    return (f'<rect class="{css}" x="{x:.2f}" y="{y:.2f}" width="{max(w, 0.5):.2f}" height="{max(h, 0):.2f}">'
            f'<title>{escape(title)}</title></rect>')


def _text(x: float, y: float, text: str, css: str = "label", anchor: str = "start", rotate: bool = False) -> str:
    turn = f' transform="rotate(-40 {x:.1f} {y:.1f})"' if rotate else ""
    return f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{turn}>{escape(text)}</text>'


def chunk_strip(original: Fingerprint, replay: Fingerprint, where: dict[str, Any] | None) -> Markup | None:
    """An array's chunks in a row, the ones whose digests differ marked, the first outlined, and the
    exact element (when kept) drawn as a line; None when the two have no common chunk layout."""
    from seedreg.fingerprints.digest import chunk_range

    n = original.n_chunks
    if n == 0 or n != replay.n_chunks or (original.shape, original.chunk_elems) != (replay.shape, replay.chunk_elems):
        return None
    size = math.prod(original.shape or ())
    cell, top, height = WIDTH / n, 4, 22
    body, first = [], None
    for i in range(n):
        differs = original.chunk_digest(i) != replay.chunk_digest(i)
        start, stop = chunk_range(original, i)
        state = "differs" if differs else "identical"
        if differs and first is None:
            first = (i, start, stop)
        body.append(_rect(f"chunk {state}", i * cell, top, cell, height, f"chunk {i}: elements [{start}, {stop}) {state}"))
    label = "no chunk differs"
    if first is not None:
        i, start, stop = first
        body.append(f'<rect class="first" x="{i * cell:.2f}" y="{top - 2}" width="{max(cell, 2):.2f}" height="{height + 4}"/>')
        label = f"first differing chunk {i} of {n}: elements [{start}, {stop})"
    if where and where.get("kind") == "element" and size:
        x = WIDTH * (where["element"] + 0.5) / size
        body.append(f'<line class="element" x1="{x:.2f}" x2="{x:.2f}" y1="0" y2="{top + height + 4}"/>')
        label += f"; first differing element {where['element']}"
    body.append(_text(0, top + height + 16, label))
    return _svg(WIDTH, top + height + 22, f"chunks of the output: {label}", body, "strip")


def replay_health(days: Sequence[ReplayDay], title: str, *, width: int = WIDTH, height: int = 120,
                  compact: bool = False, min_days: int = 14) -> Markup | None:
    """Stacked bars, a day each over at least ``min_days`` up to the last day with replays: identical
    below, different above; ``compact`` (a table cell) leaves the axis labels out."""
    if not days:
        return None
    totals: dict[Any, list[int]] = {}
    for day in days:
        both = totals.setdefault(day.day, [0, 0])
        both[0] += day.identical
        both[1] += day.different
    last = max(totals)
    first = min(min(totals), last - timedelta(days=min_days - 1))
    span = (last - first).days + 1
    peak = max(sum(both) for both in totals.values())
    left, bottom, top = (2, 2, 2) if compact else (34, 18, 8)
    plot_h = height - bottom - top
    step = (width - left) / span
    bar = min(step * 0.8, 24)
    body = [] if compact else [_text(left - 4, top + 8, str(peak), anchor="end"),
                               _text(left - 4, height - bottom, "0", anchor="end")]
    y0 = height - bottom
    for day, (same, other) in sorted(totals.items()):
        x = left + (day - first).days * step + (step - bar) / 2
        h_same, h_other = plot_h * same / peak, plot_h * other / peak
        body.append(_rect("identical", x, y0 - h_same, bar, h_same, f"{day.isoformat()}: {same} identical"))
        body.append(_rect("different", x, y0 - h_same - h_other, bar, h_other, f"{day.isoformat()}: {other} different"))
    body.append(f'<line class="axis" x1="{left}" x2="{width}" y1="{y0}" y2="{y0}"/>')
    if not compact:
        body += [_text(left, height - 4, first.isoformat()), _text(width, height - 4, last.isoformat(), anchor="end")]
    return _svg(width, height, f"replay health of {title}: identical and different replays a day", body, "health")


@dataclass(frozen=True)
class Dot:
    """One run's result against its seed."""

    seed: str  # as people read it
    value: float
    run_id: str
    number: int | None = None  # the seed as a number, when it is one int


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    start = math.ceil(low / step) * step
    return [start + i * step for i in range(int((high - start) / step + 1e-9) + 1)]


def _number(value: float) -> str:
    return f"{value:.4g}"


def seeds_plot(dots: Sequence[Dot], mean: float | None, std: float | None, title: str,
               link: Callable[[str], str]) -> Markup | None:
    """Every run's result as a dot against its seed, the mean as a line and mean ± std as a band.

    Seeds are placed by value when all are ints up to 2**53, else by rank and each dot labelled
    with its seed. ``link(run_id)`` is where a dot leads.
    """
    dots = [dot for dot in dots if math.isfinite(dot.value)]
    if not dots:
        return None
    by_value = all(dot.number is not None and dot.number <= LARGEST_PLOTTED_SEED for dot in dots)
    ordered = sorted(dots, key=lambda d: (d.number if d.number is not None else math.inf, d.seed))
    ranks = {id(dot): rank for rank, dot in enumerate(ordered)}
    left, right, top = 56, 12, 10
    plot_h = 150
    bottom = 22 if by_value else 58
    height = top + plot_h + bottom
    values = [dot.value for dot in dots]
    spread = [mean - std, mean + std] if mean is not None and std is not None else []
    low, high = min(values + spread), max(values + spread)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    low, high = low - pad, high + pad

    def y(value: float) -> float:
        return top + plot_h * (high - value) / (high - low)

    numbers = [d.number for d in dots if d.number is not None]
    lo_x, hi_x = (min(numbers), max(numbers)) if by_value else (0, len(dots) - 1)

    def at(position: float) -> float:
        if hi_x == lo_x:
            return (left + WIDTH - right) / 2
        return left + 8 + (WIDTH - left - right - 16) * (position - lo_x) / (hi_x - lo_x)

    def x(dot: Dot) -> float:
        return at(dot.number if by_value else ranks[id(dot)])  # type: ignore[arg-type]

    body = []
    for tick in _ticks(low, high):
        body += [f'<line class="grid" x1="{left}" x2="{WIDTH - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>',
                 _text(left - 4, y(tick) + 4, _number(tick), anchor="end")]
    if mean is not None:
        if std is not None:
            body.append(_rect("band", left, y(mean + std), WIDTH - left - right, y(mean - std) - y(mean + std),
                              f"mean ± std: {_number(mean)} ± {_number(std)}"))
        body.append(f'<line class="mean" x1="{left}" x2="{WIDTH - right}" y1="{y(mean):.1f}" y2="{y(mean):.1f}">'
                    f'<title>mean {escape(_number(mean))}</title></line>')
    every = max(1, math.ceil(len(ordered) / MAX_LABELS))
    for dot in ordered:
        cx, cy = x(dot), y(dot.value)
        body.append(f'<a href="{escape(link(dot.run_id))}"><circle class="dot" cx="{cx:.1f}" cy="{cy:.1f}" r="4">'
                    f'<title>seed {escape(dot.seed)}: {escape(_number(dot.value))} (run {escape(dot.run_id[:12])})'
                    f'</title></circle></a>')
        if not by_value and ranks[id(dot)] % every == 0:
            label = dot.seed if len(dot.seed) <= 12 else dot.seed[:4] + "…" + dot.seed[-6:]
            body.append(_text(cx, top + plot_h + 14, label, rotate=True, anchor="end"))
    if by_value:
        ticks = [int(t) for t in _ticks(lo_x, hi_x, 6) if t == int(t)] or [lo_x]
        body += [_text(at(t), height - 4, f"seed {t}" if i == 0 else str(t), anchor="middle")
                 for i, t in enumerate(ticks)]
    body.append(f'<line class="axis" x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    placed = "by value" if by_value else "by rank (seeds too large to place by value)"
    return _svg(WIDTH, height, f"{title}: each run's result against its seed, placed {placed}", body, "seeds")
