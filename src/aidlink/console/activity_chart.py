"""Calls over time per department as inline SVG (no script, no CDN): one small chart of calls and
one of refusals, a line per department, hourly buckets for up to three days, daily beyond."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from aidlink.audit.officer_text import escape_for_officer
from aidlink.audit.query import LOCAL_OFFSET

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 200, 48, 28, 12
NO_DEPARTMENT = {"zh": "（无部门：安全员、控制台）", "en": "(no department: officers, console)"}
TITLES = {
    "calls": {"zh": "调用次数", "en": "calls"},
    "refused": {"zh": "被拒绝的调用", "en": "refused calls"},
}


def _bucket_width(since: datetime, until: datetime) -> timedelta:
    return timedelta(hours=1) if until - since <= timedelta(days=3) else timedelta(days=1)


def _bucket_start(moment: datetime, width: timedelta) -> datetime:
    local = moment.astimezone(LOCAL_OFFSET)
    if width >= timedelta(days=1):
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.replace(minute=0, second=0, microsecond=0)


def activity_chart(
    hourly: list[tuple[str, str, str, str, int]], since: datetime, until: datetime, language: str
) -> str:
    """Two SVG charts (all calls; refused calls) from `SQLAuditStore.hourly_counts` rows."""
    width = _bucket_width(since, until)
    first = _bucket_start(since, width)
    buckets: list[datetime] = []
    moment = first
    while moment < until and len(buckets) < 2000:
        buckets.append(moment)
        moment += width
    index = {b: i for i, b in enumerate(buckets)}
    calls: dict[str, list[int]] = defaultdict(lambda: [0] * len(buckets))
    refused: dict[str, list[int]] = defaultdict(lambda: [0] * len(buckets))
    lang = language if language in ("zh", "en") else "zh"
    for department, _purpose, outcome, hour, n in hourly:
        at = _bucket_start(datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC), width)
        if at not in index:
            continue
        name = department or NO_DEPARTMENT[lang]
        calls[name][index[at]] += n
        if outcome == "refused":
            refused[name][index[at]] += n
    label = "%m-%d" if width >= timedelta(days=1) else "%m-%d %H:00"
    ticks = [b.strftime(label) for b in buckets]
    return _chart(TITLES["calls"][lang], calls, ticks) + _chart(TITLES["refused"][lang], refused, ticks)


def _chart(title: str, series: dict[str, list[int]], ticks: list[str]) -> str:
    n = max(len(ticks), 1)
    peak = max([max(v) for v in series.values()] + [1])
    plot_w, plot_h = WIDTH - LEFT - 10, HEIGHT - BOTTOM - TOP

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / peak

    parts = [
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>',
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + 18 * len(series)}" role="img">',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 10}" y2="{TOP + plot_h}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#888"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    step = max(1, n // 6)
    for i in range(0, len(ticks), step):
        parts.append(
            f'<text x="{x(i):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="10">{escape(ticks[i])}</text>'
        )
    for k, (department, values) in enumerate(sorted(series.items())):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        ly = HEIGHT + 18 * k + 4
        parts.append(f'<rect x="{LEFT}" y="{ly}" width="12" height="12" fill="{colour}"/>')
        name = escape(escape_for_officer(department))
        parts.append(f'<text x="{LEFT + 18}" y="{ly + 11}" font-size="12">{name} ({sum(values)})</text>')
    parts.append("</svg></figure>")
    return "".join(parts)
