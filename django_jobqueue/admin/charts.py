"""Bar charts drawn on the server as inline SVG: no JavaScript, no CDN, every label
escaped (job and queue names are user data)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 720
HEIGHT = 160
LABEL_SPACE = 18
TOP_SPACE = 14


def bar_chart(title: str, points: Sequence[tuple[str, int]], label_every: int = 1) -> SafeString:
    """An SVG bar chart of ``(label, count)`` points; every ``label_every``-th label is
    written under its bar (24 hour labels do not fit side by side)."""
    top = max((count for _, count in points), default=0) or 1
    slot = WIDTH / max(len(points), 1)
    plot = HEIGHT - LABEL_SPACE - TOP_SPACE
    bars = []
    for i, (label, count) in enumerate(points):
        height = round(plot * count / top, 1)
        x, y = round(i * slot + 1, 1), round(TOP_SPACE + plot - height, 1)
        bars.append((x, y, round(slot - 2, 1), height, label, count,
                     label if i % label_every == 0 else ""))
    body = format_html_join(
        "",
        '<g><title>{4}: {5}</title><rect class="bar" x="{0}" y="{1}" width="{2}" '
        'height="{3}" fill="#417690"></rect>'
        '<text x="{0}" y="' + str(HEIGHT - 4) + '" font-size="10">{6}</text></g>',
        bars,
    )
    return format_html(
        '<svg class="jq-chart" role="img" viewBox="0 0 {} {}" width="100%" height="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>'
        '<text x="0" y="10" font-size="10">max {}</text>{}</svg>',
        WIDTH, HEIGHT, HEIGHT, title, top if points else 0, body,
    )
