"""Server-side SVG charts: no JavaScript, no build step, readable without colour (titles and labels).

Each function returns safe SVG markup; every piece of text in it is escaped.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 560, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 14, 34


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _nice_count_max(value: float) -> int:
    """An axis maximum for counts whose four gridlines fall on whole numbers."""
    top = _nice_max(value)
    return max(4, int(-(-top // 4) * 4))


def _fmt(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value / 1000:g}k"


def _frame(title: str, body: list[str], legend: list[tuple[str, str]]) -> SafeString:
    items = []
    x = PAD_LEFT
    for css, label in legend:
        items.append(
            f'<rect class="{css}" x="{x}" y="{HEIGHT - 12}" width="10" height="10" rx="2"/>'
            f'<text class="legend" x="{x + 14}" y="{HEIGHT - 3}">{escape(label)}</text>'
        )
        x += 24 + 7 * len(label)
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}{"".join(items)}</svg>'
    )
    return mark_safe(svg)  # noqa: S308 (every text above is escaped)


def _axes(top: float, plot_h: float, unit: str = "") -> list[str]:
    parts = []
    for i in range(5):
        value = top * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(value)}{unit}</text>'
        )
    return parts


def _x_labels(labels: list[str], step_w: float, plot_h: float) -> list[str]:
    parts = []
    every = max(1, len(labels) // 10 + (1 if len(labels) % 10 else 0)) if len(labels) > 10 else 1
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = PAD_LEFT + step_w * (i + 0.5)
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{PAD_TOP + plot_h + 14}" text-anchor="middle">{escape(label)}</text>'
        )
    return parts


def stacked_bars(*, title: str, labels: list[str], series: list[tuple[str, str, list[float]]]) -> SafeString:
    """Vertical bars per label, stacked by series (css class, legend label, values)."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    top = _nice_count_max(max(totals, default=0))
    step_w = plot_w / max(len(labels), 1)
    bar_w = max(min(step_w * 0.7, 36), 2)
    body = _axes(top, plot_h)
    for i, label in enumerate(labels):
        x = PAD_LEFT + step_w * i + (step_w - bar_w) / 2
        y = PAD_TOP + plot_h
        for css, name, values in series:
            h = plot_h * values[i] / top
            if h <= 0:
                continue
            y -= h
            body.append(
                f'<rect class="bar {css}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                f"<title>{escape(label)}: {_fmt(values[i])} {escape(name.lower())}</title></rect>"
            )
    body += _x_labels([label[5:] if len(label) == 10 else label for label in labels], step_w, plot_h)
    return _frame(title, body, [(css, name) for css, name, _ in series])


def lines(*, title: str, labels: list[str], series: list[tuple[str, str, list[float | None]]], unit: str = "s"):
    """One line per series over the labels; missing values break the line."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    top = _nice_max(max((v for _, _, values in series for v in values if v is not None), default=0))
    step_w = plot_w / max(len(labels), 1)
    body = _axes(top, plot_h, unit)
    for css, name, values in series:
        path, dots, pen_down = [], [], False
        for i, value in enumerate(values):
            if value is None:
                pen_down = False
                continue
            x = PAD_LEFT + step_w * (i + 0.5)
            y = PAD_TOP + plot_h - plot_h * value / top
            path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
            pen_down = True
            dots.append(
                f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(labels[i])}: {value:.0f}{unit} {escape(name.lower())}</title></circle>"
            )
        if path:
            body.append(f'<path class="{css} line" d="{" ".join(path)}"/>')
        body += dots
    body += _x_labels([label[5:] if len(label) == 10 else label for label in labels], step_w, plot_h)
    return _frame(title, body, [(css, name) for css, name, _ in series])


def horizontal_bars(*, title: str, items: list[tuple[str, float]], css: str = "s1") -> SafeString:
    """One labelled horizontal bar per item (for outcomes and reasons)."""
    row_h = 26
    height = max(len(items), 1) * row_h + 10
    label_w = 150
    plot_w = WIDTH - label_w - 60
    top = max((v for _, v in items), default=0) or 1
    body = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * row_h
        w = plot_w * value / top
        body.append(
            f'<text class="axis" x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="{css}" x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row_h - 10}" rx="3">'
            f"<title>{escape(label)}: {_fmt(value)}</title></rect>"
            f'<text class="value" x="{label_w + max(w, 1) + 6:.1f}" y="{y + 16}">{_fmt(value)}</text>'
        )
    if not any(value for _, value in items):
        body = []
        height = 40
        body.append(f'<text class="axis" x="{WIDTH / 2}" y="22" text-anchor="middle">No data in this range</text>')
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )
    return mark_safe(svg)  # noqa: S308 (every text above is escaped)
