"""Small bar charts drawn on the server as inline SVG: nothing is fetched, no script runs in the browser."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#417690", "#79aec8", "#e0a526", "#ba2121", "#5b8c5a", "#8e6bb0")
WIDTH, HEIGHT = 560, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 36


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def bar_chart(*, title: str, labels: Sequence[str], rows: Sequence[dict[str, float]], series: Sequence[Series],
              value_format: Callable[[float], str] = lambda v: f"{v:,.0f}", empty_text: str = "") -> SafeString:
    """Stacked bars, one per label; ``rows[i][series.key]`` is the height of that series in bar ``i``."""
    totals = [sum(float(row.get(s.key, 0) or 0) for s in series) for row in rows]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.7, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="console-chart" role="img" viewBox="0 0 {WIDTH} '
             f'{HEIGHT + 18 * ((len(series) + 2) // 3)}" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for fraction in (0, 0.5, 1):  # grid lines and their values
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" fill="#666">'
                     f"{escape(value_format(top * fraction))}</text>")
    for i, (label, row) in enumerate(zip(labels, rows, strict=True)):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = TOP + plot_h
        for s in series:
            value = float(row.get(s.key, 0) or 0)
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{s.color}">'
                         f"<title>{escape(label)} · {escape(s.label)}: {escape(value_format(value))}</title></rect>")
        if len(labels) <= 16 or i % 2 == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle" '
                         f'font-size="10" fill="#666">{escape(label)}</text>')
    if not any(totals) and empty_text:
        parts.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
                     f'font-size="12" fill="#999">{escape(empty_text)}</text>')
    for i, s in enumerate(series):  # legend, three per line
        lx, ly = LEFT + (i % 3) * 170, HEIGHT - 6 + 18 * (i // 3)
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{s.color}"/>'
                     f'<text x="{lx + 14}" y="{ly}" font-size="11" fill="#333">{escape(s.label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
