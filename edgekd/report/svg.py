"""Small inline-SVG charts (no JavaScript, no network): a scatter with its Pareto front, line charts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
WIDTH, HEIGHT = 640, 380
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 20, 50


@dataclass
class Point:
    x: float
    y: float
    label: str
    highlight: bool = False
    group: int = 0


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high]."""
    if high <= low:
        high = low + 1.0
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    start = math.floor(low / step) * step
    return [
        round(start + i * step, 10)
        for i in range(int((high - start) / step) + 2)
        if start + i * step <= high + step * 0.5
    ]


class _Axes:
    """Maps data to pixels; x may be logarithmic."""

    def __init__(self, xs: list[float], ys: list[float], log_x: bool):
        self.log_x = log_x
        tx = [math.log10(x) for x in xs] if log_x else xs
        x_pad = (max(tx) - min(tx)) * 0.08 or 0.5
        y_pad = (max(ys) - min(ys)) * 0.1 or 1.0
        self.x0, self.x1 = min(tx) - x_pad, max(tx) + x_pad
        self.y0, self.y1 = min(ys) - y_pad, max(ys) + y_pad

    def px(self, x: float) -> float:
        value = math.log10(x) if self.log_x else x
        return LEFT + (value - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)

    def frame(self, x_label: str, y_label: str) -> list[str]:
        parts = [
            f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
            'fill="#fff" stroke="#999"/>'
        ]
        if self.log_x:
            x_ticks = [
                10.0**e * m
                for e in range(math.floor(self.x0) - 1, math.ceil(self.x1) + 1)
                for m in (1, 2, 5)
                if self.x0 <= math.log10(10.0**e * m) <= self.x1
            ]
        else:
            x_ticks = [t for t in nice_ticks(self.x0, self.x1) if self.x0 <= t <= self.x1]
        for tick in x_ticks:
            x = self.px(tick)
            parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#eee"/>')
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11">{tick:g}</text>'
            )
        for tick in [t for t in nice_ticks(self.y0, self.y1) if self.y0 <= t <= self.y1]:
            y = self.py(tick)
            parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick:g}</text>')
        parts.append(
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" text-anchor="middle" '
            f'font-size="12">{escape(x_label)}</text>'
        )
        parts.append(
            f'<text transform="translate(16 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" text-anchor="middle" '
            f'font-size="12">{escape(y_label)}</text>'
        )
        return parts


def _svg(title: str, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>" + "".join(parts) + "</svg>"
    )


def _free_label_row(placed: list[tuple[float, float, float]], x: float, y: float, width: float) -> float:
    """A baseline near `y` where a label of `width` px at `x` overlaps no label placed so far."""
    for shift in (0, 13, -13, 26, -26, 39, -39, 52):
        candidate = y + shift
        if not any(
            abs(candidate - other_y) < 12 and x < other_x + other_w and other_x < x + width
            for other_x, other_y, other_w in placed
        ):
            placed.append((x, candidate, width))
            return candidate
    placed.append((x, y, width))
    return y


def scatter_with_front(
    points: list[Point], title: str, x_label: str, y_label: str, x_line: tuple[float, str] | None = None
) -> str:
    """Scatter of `points`; highlighted ones (the Pareto front) are filled and joined by a step line.

    Args:
        x_line: (x, label) of a vertical reference line, e.g. a latency budget.
    """
    if not points:
        return ""
    xs = [p.x for p in points] + ([x_line[0]] if x_line else [])
    axes = _Axes(xs, [p.y for p in points], log_x=min(xs) > 0 and max(xs) / min(xs) > 20)
    parts = axes.frame(x_label, y_label)
    if x_line:
        x = axes.px(x_line[0])
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#555" stroke-width="1.5" '
            'stroke-dasharray="2,3"/>'
        )
        parts.append(f'<text x="{x + 4:.1f}" y="{TOP + 12}" font-size="10" fill="#555">{escape(x_line[1])}</text>')
    front = sorted((p for p in points if p.highlight), key=lambda p: p.x)
    if len(front) > 1:
        path = []
        for i, p in enumerate(front):
            if i:
                path.append(f"L{axes.px(p.x):.1f},{axes.py(front[i - 1].y):.1f}")
            path.append(f"{'M' if i == 0 else 'L'}{axes.px(p.x):.1f},{axes.py(p.y):.1f}")
        parts.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5,3"/>'
        )
    placed: list[tuple[float, float, float]] = []
    for p in points:
        color = PALETTE[p.group % len(PALETTE)]
        fill = color if p.highlight else "#fff"
        x, y = axes.px(p.x), axes.py(p.y)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{fill}" stroke="{color}" '
            f'stroke-width="2"><title>{escape(p.label)}: {p.y:.2f} % at {p.x:.3f} ms</title></circle>'
        )
        label_y = _free_label_row(placed, x + 9, y - 7, len(p.label) * 5.5)
        parts.append(f'<text x="{x + 9:.1f}" y="{label_y:.1f}" font-size="10" fill="{color}">{escape(p.label)}</text>')
    legend_x, legend_y = WIDTH - RIGHT + 12, HEIGHT - BOTTOM + 12  # below the plot, right of the axis label
    parts.append(
        f'<circle cx="{legend_x}" cy="{legend_y}" r="5" fill="#555" stroke="#555"/><text x="{legend_x + 10}" '
        f'y="{legend_y + 4}" font-size="11">Pareto front</text>'
    )
    parts.append(
        f'<circle cx="{legend_x}" cy="{legend_y + 18}" r="5" fill="#fff" stroke="#555" stroke-width="2"/><text '
        f'x="{legend_x + 10}" y="{legend_y + 22}" font-size="11">dominated</text>'
    )
    return _svg(title, parts)


def line_chart(series: list[tuple[str, list[tuple[float, float]]]], title: str, x_label: str, y_label: str) -> str:
    """One polyline per (name, [(x, y), …]) series, with a legend on the right."""
    series = [(name, pts) for name, pts in series if pts]
    if not series:
        return ""
    axes = _Axes([x for _, pts in series for x, _ in pts], [y for _, pts in series for _, y in pts], log_x=False)
    parts = axes.frame(x_label, y_label)
    for index, (name, pts) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{axes.px(x):.1f},{axes.py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{axes.px(x):.1f}" cy="{axes.py(y):.1f}" r="3" fill="{color}"/>' for x, y in pts]
        y = TOP + 10 + 18 * index
        parts.append(
            f'<line x1="{WIDTH - RIGHT + 8}" y1="{y}" x2="{WIDTH - RIGHT + 24}" y2="{y}" stroke="{color}" '
            f'stroke-width="3"/><text x="{WIDTH - RIGHT + 28}" y="{y + 4}" font-size="11">{escape(name)}</text>'
        )
    return _svg(title, parts)
