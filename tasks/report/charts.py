"""The report's charts, drawn with matplotlib as PNG data URIs (no timestamps: reruns give the same bytes).

matplotlib is imported inside the functions that draw: it is slow to import
and only rendering needs it. `Charts` takes a chart drawn earlier from the same
data by the same drawing code from a cache folder instead: a rerun whose
figures did not change draws nothing and imports no matplotlib.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from reports import fmt
from tasks.goals import spc
from tasks.goals.spc import signal_tone
from tasks.report.kept import keep_copy, kept_copy

PNG_URI = "data:image/png;base64,"
# How a whole PNG starts and ends (its IEND chunk).
PNG_HEAD, PNG_TAIL = b"\x89PNG\r\n\x1a\n", b"IEND"
# Charts kept in the cache: a report draws about sixteen; the last dozen reports' worth.
CHART_CACHE_KEEP = 200

# Over budget and under it: told apart by the side of the axis and by the label, never by colour alone.
DEVIATION_COLOURS = {"over": "#b35900", "under": "#2b6e99"}


def _png(fig, dpi: int) -> str:
    import matplotlib.pyplot as plt  # heavy: only rendering draws charts

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return PNG_URI + base64.b64encode(buf.getvalue()).decode("ascii")


def deviation_chart_png(names: list[str], deviations: list[float]) -> str:
    """The year-end forecast's deviation from TB by service area, in millions of euros: bars left of zero are
    over budget, right under it; each bar carries its value. A PNG data URI (no timestamps)."""
    import matplotlib  # heavy: only rendering draws charts

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: see above

    matplotlib.rcParams.update({"font.family": "DejaVu Sans", "font.size": 8.5})
    values = np.array(deviations, dtype="float64") / 1e6
    fig, ax = plt.subplots(figsize=(6.6, 0.42 * len(names) + 0.9))
    y = np.arange(len(names))[::-1]
    colours = [DEVIATION_COLOURS["over"] if v < 0 else DEVIATION_COLOURS["under"] for v in values]
    ax.barh(y, values, color=colours, height=0.6)
    span = max(abs(values).max() if len(values) else 1.0, 0.1)
    for yi, v in zip(y, values):
        ax.text(
            v + (0.02 if v >= 0 else -0.02) * span,
            yi,
            fmt.number(v, 1),
            va="center",
            ha="left" if v >= 0 else "right",
            fontsize=8,
        )
    ax.set_yticks(y, names)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_xlim(-span * 1.35, span * 1.35)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt.number(v, 0)))
    ax.set_xlabel("← yli tulosbudjetin        milj. €        alle tulosbudjetin →")
    ax.grid(axis="x", color="#e4e4e4", linewidth=0.6)
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(axis="y", length=0)
    fig.tight_layout()
    return _png(fig, 200)


def _axis_decimals(ticks) -> int:
    """Decimals that tell the y-axis ticks apart: 0,15 and 0,20 need two."""
    steps = [b - a for a, b in zip(ticks, ticks[1:]) if b > a]
    step = min(steps) if steps else 1.0
    return max(0, -int(np.floor(np.log10(step) + 1e-9)))


# The indicator charts' marks, each told apart by shape as well as colour (the report's legend names them).
MARKS = {
    "value": {"color": "#1f3f99", "marker": "o"},
    "target": {"color": "#00703c", "linestyle": (0, (6, 2, 1, 2)), "marker": "^"},
    "forecast": {"color": "#1f3f99", "marker": "D"},
    "band": {"color": "#dcdcdc"},
    "better": {"color": "#00703c", "marker": "o"},
    "worse": {"color": "#c05a00", "marker": "s"},
}


def _month_label(year: int, month: int) -> str:
    """`tammi 2024`: a Finnish month's own short form (marras, not mar) and its year."""
    return f"{fmt.month_abbr(month)} {year}"


def indicator_chart_png(chart: pd.DataFrame, row: dict, year: int, month: int) -> str | None:
    """A small trend chart of one indicator: its series, the usual range (the control chart's limits, shaded),
    the target, the year-end forecast and the clear changes (green better, orange worse). A yearly total is drawn
    cumulatively against its target; yearly indicators show one point per year. A PNG data URI (no timestamps)."""
    if chart is None or chart.empty or chart["value"].notna().sum() < 2 or row["unit"] == fmt.MILESTONE_UNIT:
        return None
    import matplotlib  # heavy: only rendering draws charts

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: see above

    matplotlib.rcParams.update({"font.family": "DejaVu Sans", "font.size": 6.5})
    c = chart.dropna(subset=["value"]).sort_values(["year", "month"]).reset_index(drop=True)
    kind, yearly = row["kind"], row["kind"] == "annual"
    target = row.get("target")
    has_target = target is not None and not pd.isna(target)
    forecast = row.get("forecast")
    has_forecast = forecast is not None and not pd.isna(forecast) and not row.get("final")
    fig, ax = plt.subplots(figsize=(3.1, 1.35))
    target_from = None
    if yearly:
        x = c["year"].astype(int).to_numpy()
        ax.plot(x, c["value"], linewidth=1.2, markersize=2.4, **MARKS["value"])
        x_end = int(row.get("deadline_year") or x.max())
        ticks = list(range(int(x.min()), max(x_end, int(x.max())) + 1))
        ax.set_xticks(ticks, [str(t) for t in ticks])
    else:
        first = int(c["year"].min())
        x = ((c["year"].astype(int) - first) * 12 + c["month"].astype(int) - 1).to_numpy()
        x_end = (year - first) * 12 + 11
        if kind == "total":
            # A yearly total against its yearly target: each year's running sum, the target at the report's year.
            c["value"] = c.groupby("year")["value"].cumsum()
            for y in c["year"].unique():
                at = (c["year"] == y).to_numpy()
                style = MARKS["value"] if y == year else {"color": "#9a9a9a", "marker": "o"}
                ax.plot(x[at], c.loc[at, "value"], linewidth=1.2 if y == year else 0.9, markersize=2, **style)
            target_from = (year - first) * 12
        else:
            if "centre" in c and c["centre"].notna().any():
                ax.fill_between(x, c["lcl"], c["ucl"], linewidth=0, **MARKS["band"])
                ax.plot(x, c["centre"], color="#9a9a9a", linewidth=0.6, linestyle=":")
            ax.plot(x, c["value"], linewidth=1.2, markersize=2.2, **MARKS["value"])
            if "beyond" in c:
                tone = signal_tone(c, 1 if row["direction"] == "higher" else -1)
                for t in ("better", "worse"):
                    hit = (tone == t).to_numpy()
                    ax.plot(x[hit], c.loc[hit, "value"], linestyle="none", markersize=3.4, **MARKS[t])
        labels = [(y, m) for y in range(first, year + 1) for m in (1, 7)]
        ax.set_xticks([(y - first) * 12 + m - 1 for y, m in labels], [_month_label(y, m) for y, m in labels])
        ax.set_xlim(-0.5, x_end + 0.8)
    if has_target:
        line = {"color": MARKS["target"]["color"], "linestyle": MARKS["target"]["linestyle"], "linewidth": 0.9}
        if target_from is None:
            ax.axhline(target, **line)
        else:
            ax.plot([target_from, x_end], [target, target], **line)
        marker = {"color": MARKS["target"]["color"], "marker": MARKS["target"]["marker"]}
        ax.plot([ax.get_xlim()[1] - 0.2], [target], linestyle="none", markersize=3.4, clip_on=False, **marker)
    if has_forecast and kind != "budget":
        last_x, last_y = x[-1], c["value"].iloc[-1]
        ax.plot([last_x, x_end], [last_y, forecast], color=MARKS["forecast"]["color"], linewidth=0.8, linestyle=":")
        ax.plot([x_end], [forecast], linestyle="none", markersize=3.6, **MARKS["forecast"])
    if int(row["decimals"]) == 0:
        # Counts and whole days: whole-number ticks only.
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=5))
    decimals = _axis_decimals(list(ax.get_yticks()))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt.number(v, decimals)))
    unit = "" if row["unit"] in fmt.BARE_UNITS else row["unit"]
    if unit:
        ax.set_ylabel(unit, labelpad=1.5)
    ax.tick_params(length=2, pad=1.5)
    ax.grid(axis="y", color="#e4e4e4", linewidth=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout(pad=0.3)
    return _png(fig, 220)


@lru_cache(maxsize=1)
def _drawing_version() -> str:
    """What else decides a chart's pixels: this drawing code, the Finnish number formats and the control charts'
    signal rules it uses, and matplotlib's version (read without importing it)."""
    code = b"".join(Path(m.__file__).read_bytes() for m in (fmt, spc)) + Path(__file__).read_bytes()
    return f"{metadata.version('matplotlib')}/{hashlib.sha256(code).hexdigest()}"


def _frame_digest(frame: pd.DataFrame | None) -> str | None:
    """A data frame's columns, types and every value, as a digest (stable across processes)."""
    if frame is None:
        return None
    cells = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    shape = json.dumps([list(map(str, frame.columns)), list(map(str, frame.dtypes))])
    return hashlib.sha256(shape.encode() + cells).hexdigest()


@dataclass(frozen=True)
class Charts:
    """The report's charts: drawn, or with `folder`, taken from there when drawn earlier from the same data by the
    same drawing code (`_drawing_version`); each drawn chart is kept there for the next run."""

    folder: Path | None = None

    def deviation(self, names: list[str], deviations: list[float]) -> str:
        return self._drawn(deviation_chart_png, [names, deviations], names, deviations)

    def indicator(self, chart: pd.DataFrame | None, row: dict, year: int, month: int) -> str | None:
        return self._drawn(indicator_chart_png, [_frame_digest(chart), row, year, month], chart, row, year, month)

    def _drawn(self, draw: Callable[..., str | None], data: list, *args) -> str | None:
        if self.folder is None:
            return draw(*args)
        made_of = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
        key = hashlib.sha256(f"{_drawing_version()}\n{draw.__name__}\n{made_of}".encode()).hexdigest()
        kept = self.folder / f"{key}.png"
        copy = kept_copy(kept, PNG_HEAD, PNG_TAIL)
        if copy is not None:
            return PNG_URI + base64.b64encode(copy).decode("ascii")
        uri = draw(*args)
        if uri is not None:  # no chart (too few points) costs nothing to find out again
            keep_copy(base64.b64decode(uri.removeprefix(PNG_URI)), kept, CHART_CACHE_KEEP)
        return uri


# Every chart drawn anew (no cache folder).
DRAWN = Charts()
