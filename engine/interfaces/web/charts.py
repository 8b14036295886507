"""Monthly charts as inline SVG (no script, no network): a bar per month, its figure printed
above it, and a hatched fill, so a chart reads without colour; the same numbers are in the
table beside it."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 640, 220, 24, 40, 40


def bar_chart(chart_id: str, title: str, points, unit: str) -> Markup:
    """`points`: objects with .label and .value (None: nothing to measure that month)."""
    values = [p.value for p in points if p.value is not None]
    top = 100.0 if unit == "%" else max([1, *values])
    slot = (WIDTH - LEFT) / max(1, len(points))
    bar = slot * 0.6
    plot = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}, month by month</title>',
        f'<defs><pattern id="{escape(chart_id)}-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#dbe4f0"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#1d3f72" stroke-width="3"/></pattern></defs>',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}" stroke="#222"/>',
        f'<text x="2" y="{TOP}" font-size="11">{_fmt(top, unit)}</text>',
        f'<text x="2" y="{HEIGHT - BOTTOM}" font-size="11">0</text>',
    ]
    for i, p in enumerate(points):
        x = LEFT + i * slot + (slot - bar) / 2
        centre = x + bar / 2
        if p.value is not None:
            h = plot * (float(p.value) / top) if top else 0
            y = HEIGHT - BOTTOM - h
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="url(#{escape(chart_id)}-hatch)" stroke="#1d3f72"/>')
            label = _fmt(p.value, unit)
        else:
            y = HEIGHT - BOTTOM
            label = "n/a"
        parts.append(f'<text class="value" x="{centre:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle">{escape(label)}</text>')
        parts.append(f'<text x="{centre:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" text-anchor="middle">{escape(p.label[:3])}</text>')
        parts.append(f'<text x="{centre:.1f}" y="{HEIGHT - BOTTOM + 30}" font-size="10" text-anchor="middle">{escape(p.label[-4:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _fmt(value, unit: str) -> str:
    if unit == "%":
        return f"{float(value):.0f}%"
    return f"{float(value):g}"
