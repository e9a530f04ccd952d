"""The report's charts, drawn with matplotlib as PNG data URIs (no timestamps: reruns give the same bytes).

matplotlib is imported inside the functions that draw: it is slow to import
and only rendering needs it.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

from reports import fmt

COLOURS = {"value": "#0000bf", "limit": "#8a8a8a", "target": "#007a3d", "signal": "#b00020"}


# Over budget and under it: told apart by the side of the axis and by the label, never by colour alone.
DEVIATION_COLOURS = {"over": "#b35900", "under": "#2b6e99"}


def _png(fig, dpi: int) -> str:
    import matplotlib.pyplot as plt  # heavy: only rendering draws charts

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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


def indicator_chart_png(chart: pd.DataFrame, row: dict, year: int) -> str | None:
    """A small trend chart of one indicator: its series, the control chart's centre and limits,
    the target and the signals (red). Yearly indicators show one point per year; months
    without a value (between survey rounds) are gaps on the time axis."""
    if chart is None or chart.empty or chart["value"].notna().sum() < 2 or row["unit"] == fmt.MILESTONE_UNIT:
        return None
    import matplotlib  # heavy: only rendering draws charts

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: see above

    matplotlib.rcParams.update({"font.family": "DejaVu Sans", "font.size": 6.5})
    c = chart.dropna(subset=["value"]).sort_values(["year", "month"]).reset_index(drop=True)
    yearly = row["kind"] == "annual"
    first = int(c["year"].min())
    x = (
        c["year"].astype(int).to_numpy()
        if yearly
        else ((c["year"].astype(int) - first) * 12 + c["month"].astype(int) - 1).to_numpy()
    )
    fig, ax = plt.subplots(figsize=(3.1, 1.25))
    ax.plot(x, c["value"], color=COLOURS["value"], marker="o", markersize=2.2, linewidth=1.2)
    if "centre" in c and c["centre"].notna().any():
        ax.plot(x, c["centre"], color=COLOURS["limit"], linewidth=0.8, linestyle="--")
        ax.plot(x, c["ucl"], color=COLOURS["limit"], linewidth=0.6, linestyle=":")
        ax.plot(x, c["lcl"], color=COLOURS["limit"], linewidth=0.6, linestyle=":")
        signal = (c["beyond"] | c["run"]).to_numpy()
        ax.plot(
            x[signal], c.loc[signal, "value"], color=COLOURS["signal"], marker="o", markersize=3.2, linestyle="none"
        )
    # A yearly total's target is not a monthly level: it is not drawn on a monthly chart.
    if row.get("target") is not None and not pd.isna(row["target"]) and row["kind"] != "total":
        ax.axhline(row["target"], color=COLOURS["target"], linewidth=0.9, linestyle=(0, (4, 2)))
    if yearly:
        ax.set_xticks(x, [str(v) for v in x])
    else:
        years = range(first, int(c["year"].max()) + 1)
        ax.set_xticks([(y - first) * 12 for y in years], [f"{fmt.month_name(1)[:5]} {y}" for y in years])
        ax.set_xlim(-0.5, max(x.max(), (int(c["year"].max()) - first) * 12) + 0.5)
    if int(row["decimals"]) == 0:
        # Counts and whole days: whole-number ticks only.
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=5))
    decimals = _axis_decimals(list(ax.get_yticks()))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt.number(v, decimals)))
    ax.tick_params(length=2, pad=1.5)
    ax.grid(axis="y", color="#e4e4e4", linewidth=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout(pad=0.3)
    return _png(fig, 220)
