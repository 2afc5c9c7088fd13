"""Charts for the stats page, drawn on the server as inline SVG. Pure: no I/O.

Two shapes cover every chart: horizontal stacked bars (:func:`bar_chart`: outcomes,
finish sources, failure codes, deliveries) and a p50-inside-p95 bar per row
(:func:`timing_chart`). Geometry is in presentation attributes and colours in the
stylesheet (``.seg-<tone>``), so the page's CSP (no inline styles or scripts) holds.
Every bar segment carries a ``<title>`` (the browser's tooltip, and what a screen
reader announces); the page shows the same numbers in tables next to the charts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
ROW_HEIGHT = 26
BAR_HEIGHT = 16


@dataclass(frozen=True, slots=True)
class Layout:
    """Columns of a chart: labels, the bars, notes on the right."""

    label_width: int = 210
    note_width: int = 110

    @property
    def plot_width(self) -> int:
        return WIDTH - self.label_width - self.note_width

    @property
    def label_chars(self) -> int:
        return self.label_width // 7


BARS = Layout()
TIMINGS = Layout(label_width=120, note_width=190)


@dataclass(frozen=True, slots=True)
class Segment:
    value: float
    tone: str  # a class suffix: ok, bad, expired, wait, busy, muted
    label: str  # what the value counts, e.g. "completed"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    segments: Sequence[Segment]
    note: str = ""  # printed right of the bar, e.g. "12 tasks"

    @property
    def total(self) -> float:
        return sum(s.value for s in self.segments)


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    *,
    normalize: bool = False,
    format_value: Callable[[float], str] = lambda v: f"{v:g}",
) -> Markup:
    """One row per bar, segments side by side; lengths share one scale (the largest
    total), or with ``normalize`` each bar fills the width (shares)."""
    layout = BARS
    scale = max((bar.total for bar in bars), default=0) or 1
    rows = []
    for index, bar in enumerate(bars):
        y = index * ROW_HEIGHT
        total = bar.total or 1
        x = float(layout.label_width)
        parts = [_label(layout, bar.label, y)]
        for segment in bar.segments:
            if segment.value <= 0:
                continue
            width = layout.plot_width * segment.value / (total if normalize else scale)
            shown = f"{segment.value / total:.0%}" if normalize else format_value(segment.value)
            parts.append(
                f'<rect class="seg seg-{escape(segment.tone)}" x="{x:.1f}" '
                f'y="{y + (ROW_HEIGHT - BAR_HEIGHT) / 2:.1f}" width="{max(width, 1):.1f}" '
                f'height="{BAR_HEIGHT}" data-value="{segment.value:g}">'
                f"<title>{escape(bar.label)}: {escape(shown)} {escape(segment.label)}</title>"
                "</rect>"
            )
            x += width
        parts.append(_note(layout, bar.note, y))
        rows.append(f'<g class="bar" data-label="{escape(bar.label)}">{"".join(parts)}</g>')
    return _svg(title, rows, len(bars))


def timing_chart(
    title: str, rows: Sequence[tuple[str, float | None, float | None]], unit: Callable[[float], str]
) -> Markup:
    """Per row a light bar to p95 with the p50 bar inside it, on one scale."""
    layout = TIMINGS
    scale = max((p95 or 0 for _, _, p95 in rows), default=0) or 1
    drawn = []
    for index, (label, p50, p95) in enumerate(rows):
        y = index * ROW_HEIGHT
        top = y + (ROW_HEIGHT - BAR_HEIGHT) / 2
        parts = [_label(layout, label, y)]
        for name, value, tone in (("p95", p95, "p95"), ("p50", p50, "p50")):
            if value is None:
                continue
            width = max(layout.plot_width * value / scale, 1)
            parts.append(
                f'<rect class="seg seg-{tone}" x="{layout.label_width}" y="{top:.1f}" '
                f'width="{width:.1f}" height="{BAR_HEIGHT}" data-value="{value:g}">'
                f"<title>{escape(label)}: {name} {escape(unit(value))}</title></rect>"
            )
        note = " · ".join(
            f"{name} {unit(value)}"
            for name, value in (("p50", p50), ("p95", p95))
            if value is not None
        )
        parts.append(_note(layout, note, y))
        drawn.append(f'<g class="bar" data-label="{escape(label)}">{"".join(parts)}</g>')
    return _svg(title, drawn, len(rows))


def _label(layout: Layout, text: str, y: int) -> str:
    limit = layout.label_chars
    shown = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return (
        f'<text class="chart-label" x="{layout.label_width - 8}" y="{y + ROW_HEIGHT / 2:.1f}" '
        f'text-anchor="end" dominant-baseline="middle">{escape(shown)}</text>'
    )


def _note(layout: Layout, text: str, y: int) -> str:
    return (
        f'<text class="chart-note" x="{WIDTH - layout.note_width + 8}" '
        f'y="{y + ROW_HEIGHT / 2:.1f}" '
        f'dominant-baseline="middle">{escape(text)}</text>'
    )


def _svg(title: str, rows: list[str], count: int) -> Markup:
    height = max(count, 1) * ROW_HEIGHT
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(rows)}</svg>"
    )
