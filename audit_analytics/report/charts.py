r"""The report's charts: matplotlib figures rendered to inline SVG text.

Every chart is drawn from a small aggregate the engine computed (never from raw rows), so
a month of ten million events costs four GROUP BY queries. The SVG is deterministic
(fixed id salt, no date in the metadata) and holds text as text (``svg.fonttype =
'none'``), which matplotlib escapes; nothing in it points outside the document. Every
label drawn from the log is shown literally: mathtext is off for every text artist (a
resource id ``$\alpha$`` is drawn as written, never as a formula), and control, bidi
and other invisible characters are shown as escapes (:mod:`audit_analytics._text`). Figures
are made with :class:`matplotlib.figure.Figure` and its own SVG canvas, never pyplot,
so a notebook's backend and open figures are left alone (no display is needed).
"""

from __future__ import annotations

import hashlib
import io
import re
from html import escape

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

from .._text import shown

__all__ = ["activity_chart", "failures_chart", "heatmap_chart", "resources_chart", "timeline_chart",
           "to_svg"]

COLOURS = {"success": "#4c72b0", "failure": "#dd8452", "denied": "#c44e52", "other": "#8c8c8c"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "audit_analytics",
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "text.parse_math": False,  # values are text: "$x$" is not a formula
    "text.usetex": False,
}
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_SIZE = re.compile(r'(<svg[^>]*?)\s(width|height)="[^"]*"')


_ID = re.compile(r'(\sid="|url\(#|xlink:href="#|href="#)([^")]+)')


def to_svg(fig, key: str | None = None) -> str:
    """The figure as an ``<svg>`` element (no XML prolog, no DOCTYPE, scalable).

    Every id inside it (and every reference to one) is prefixed with ``key``, or with a
    digest of the SVG text, so that several figures inline in one page never share an id
    (a clip path of one figure must not be resolved in another).
    """
    for text in fig.findobj(Text):  # tick labels made before the style applied, too
        text.set_parse_math(False)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = _METADATA.sub("", text)
    text = _XMLNS.sub("", text)  # inline SVG in HTML needs no namespace declarations
    while _SIZE.match(text):
        text = _SIZE.sub(r"\1", text, count=1)
    prefix = "f" + (re.sub(r"[^A-Za-z0-9_-]", "_", key) if key
                    else hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]) + "-"
    text = _ID.sub(lambda m: m[1] + prefix + m[2], text)
    return text.replace("<svg", '<svg role="img" preserveAspectRatio="xMidYMid meet"', 1)


def _figure(width: float, height: float):
    fig = Figure(figsize=(width, height), dpi=96, layout="constrained")
    return fig, fig.subplots()


def activity_chart(frame: pd.DataFrame, unit: str) -> str:
    """Events per ``unit`` (``hour`` or ``day``), stacked by result.

    ``frame`` has columns ``bucket`` (the start of each bucket, local time), ``result``
    and ``n``.
    """
    with matplotlib.rc_context(_STYLE):
        fig, ax = _figure(8.0, 2.8)
        table = frame.pivot_table(index="bucket", columns="result", values="n",
                                  aggfunc="sum", fill_value=0).sort_index()
        order = [c for c in ("success", "failure", "denied") if c in table.columns]
        order += [c for c in table.columns if c not in order]
        x = np.arange(len(table))
        bottom = np.zeros(len(table))
        bars = []
        for name in order:
            values = table[name].to_numpy(dtype=float)
            bars.append(ax.bar(x, values, bottom=bottom, width=0.85,
                               color=COLOURS.get(str(name), COLOURS["other"])))
            bottom += values
        step = max(1, len(table) // 12)
        fmt = "%m-%d %H:00" if unit == "hour" else "%Y-%m-%d"
        ax.set_xticks(x[::step])
        ax.set_xticklabels([pd.Timestamp(t).strftime(fmt) for t in table.index[::step]],
                           rotation=30, ha="right")
        ax.set_ylabel(f"events per {unit}")
        ax.legend(bars, [_label(n) for n in order], frameon=False, ncols=len(order),
                  loc="upper left", bbox_to_anchor=(0, 1.15))
        return to_svg(fig)


def heatmap_chart(frame: pd.DataFrame, tz: str) -> str:
    """Events by hour of day (columns) and ISO weekday (rows), in time zone ``tz``.

    ``frame`` has columns ``dow`` (1 = Monday), ``hour`` (0-23) and ``n``.
    """
    grid = np.zeros((7, 24))
    for dow, hour, n in frame[["dow", "hour", "n"]].itertuples(index=False):
        grid[int(dow) - 1, int(hour)] = n
    with matplotlib.rc_context(_STYLE):
        fig, ax = _figure(8.0, 2.6)
        # vector cells (pcolormesh), not a raster image: crisp in print, no embedded PNG
        image = ax.pcolormesh(np.arange(25) - 0.5, np.arange(8) - 0.5, grid, cmap="Blues",
                              edgecolors="white", linewidth=0.5)
        ax.set_ylim(6.5, -0.5)
        ax.set_yticks(range(7))
        ax.set_yticklabels(WEEKDAYS)
        ax.set_xticks(range(0, 24, 2))
        ax.set_xticklabels([f"{h:02d}" for h in range(0, 24, 2)])
        ax.set_xlabel(f"hour of day ({tz})")
        bar = fig.colorbar(image, ax=ax, label="events", fraction=0.03, pad=0.01)
        bar.solids.set_rasterized(False)  # matplotlib would embed the gradient as a PNG
        for spine in ax.spines.values():
            spine.set_visible(False)
        return to_svg(fig)


def _hbar(labels: list[str], series: dict[str, np.ndarray], xlabel: str) -> str:
    with matplotlib.rc_context(_STYLE):
        fig, ax = _figure(8.0, 0.6 + 0.24 * max(len(labels), 1))
        y = np.arange(len(labels))
        left = np.zeros(len(labels))
        bars = []
        for name, values in series.items():
            bars.append(ax.barh(y, values, left=left, height=0.7,
                                color=COLOURS.get(name, COLOURS["success"])))
            left += values
        ax.set_yticks(y)
        ax.set_yticklabels([_label(s) for s in labels])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        if len(series) > 1:
            ax.legend(bars, [_label(n) for n in series], frameon=False, loc="lower right")
        return to_svg(fig)


def failures_chart(frame: pd.DataFrame) -> str:
    """Failures and denials per actor (``actor_id``, ``failure``, ``denied``), top first."""
    return _hbar(frame["actor_id"].astype(str).tolist(),
                 {"failure": frame["failure"].to_numpy(dtype=float),
                  "denied": frame["denied"].to_numpy(dtype=float)},
                 "events that failed or were denied")


def resources_chart(frame: pd.DataFrame) -> str:
    """The most accessed resources (``resource``, ``n``), top first."""
    return _hbar(frame["resource"].astype(str).tolist(),
                 {"events": frame["n"].to_numpy(dtype=float)}, "events")


def timeline_chart(timeline: dict, tz: str, key: str | None = None) -> str:
    """One anomaly's timeline: bars per bucket, the flagged ones red, baseline and threshold.

    ``timeline`` is one entry of :func:`audit_analytics.report.timeline.timelines`; bucket
    starts are labelled in time zone ``tz``. Drawn as plain SVG elements (not matplotlib:
    a report draws up to fifty of them, a millisecond each); every label is the toolkit's
    own text (dates, numbers), escaped all the same. ``key`` is accepted for symmetry with
    the other charts; the drawing has no ids.
    """
    buckets = timeline["buckets"]
    width, height, left, right, top, bottom = 720.0, 150.0, 46.0, 8.0, 18.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(b["value"]) for b in buckets]
    levels = {k: float(timeline[k]) for k in ("baseline", "threshold")
              if timeline.get(k) is not None}
    top_value = max([1.0, *values, *levels.values()]) * 1.1
    y = lambda v: top + plot_h * (1 - v / top_value)  # noqa: E731
    slot = plot_w / max(len(buckets), 1)
    parts = [f'<svg role="img" viewBox="0 0 {width:g} {height:g}" '
             'preserveAspectRatio="xMidYMid meet" font-family="sans-serif" font-size="10">']
    for tick in _ticks(top_value):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#d1d9e0" stroke-width="0.5"/>'
                     f'<text x="{left - 4}" y="{y(tick) + 3:.1f}" text-anchor="end" '
                     f'fill="#59636e">{escape(f"{tick:,.4g}")}</text>')
    for i, (b, v) in enumerate(zip(buckets, values)):
        colour = COLOURS["denied"] if b["flagged"] else "#9db4d6"
        parts.append(f'<rect x="{left + i * slot + slot * 0.08:.1f}" y="{y(v):.1f}" '
                     f'width="{slot * 0.84:.1f}" height="{top + plot_h - y(v):.1f}" '
                     f'fill="{colour}"><title>{escape(f"{v:,.0f}")}</title></rect>')
    legend_x = left + 4
    for name, dash, colour in (("baseline", "5,3", "#1f2328"),
                               ("threshold", "1.5,2", COLOURS["denied"])):
        if name in levels:
            level = levels[name]
            parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(level):.1f}" '
                         f'y2="{y(level):.1f}" stroke="{colour}" stroke-width="1.2" '
                         f'stroke-dasharray="{dash}"/>'
                         f'<line x1="{legend_x}" x2="{legend_x + 18}" y1="9" y2="9" '
                         f'stroke="{colour}" stroke-width="1.2" stroke-dasharray="{dash}"/>'
                         f'<text x="{legend_x + 22}" y="12">'
                         f'{escape(f"{name} {level:,.4g}")}</text>')
            legend_x += 120
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
                 f'y2="{top + plot_h}" stroke="#1f2328" stroke-width="0.8"/>')
    daily = timeline["bucket_seconds"] >= 20 * 3600
    step = max(1, len(buckets) // 7)
    last_day = None
    for i in range(0, len(buckets), step):
        local = pd.Timestamp(buckets[i]["start"]).tz_convert(tz)
        day = local.strftime("%m-%d")
        label = day if daily else (local.strftime("%H:%M") if day == last_day
                                   else f"{day} {local.strftime('%H:%M')}")
        last_day = day
        parts.append(f'<text x="{left + (i + 0.5) * slot:.1f}" y="{height - 6}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    unit = f"{timeline['metric']} / {timeline['unit']}"
    parts.append(f'<text transform="translate(11 {top + plot_h / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle" fill="#59636e">{escape(unit)}</text></svg>')
    return "".join(parts)


def _ticks(top: float) -> list[float]:
    """Three or four round values between 0 and ``top`` for the y axis."""
    raw = top / 3
    magnitude = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [float(step * i) for i in range(int(top // step) + 1)]


def _label(value, width: int = 48) -> str:
    """A value as a chart label: at most ``width`` characters, every one visible."""
    return shown(value, width - 1, count=False) if len(str(value)) > width else shown(value)
