"""Statistical process control: the individuals (XmR) chart of an indicator's monthly series, and its signals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.fmt import month_name

RUN_LENGTH = 8
# d2 of moving ranges of two: sigma = mean moving range / 1.128.
D2 = 1.128


def control_chart(series: pd.DataFrame, year: int) -> pd.DataFrame:
    """Individuals (XmR) chart of a monthly series, with its signals.

    The centre line and limits come from the baseline period: the months
    before `year` when there are at least eight of them, otherwise every point.
    Limits are the centre ± 3 σ, σ = mean moving range / 1.128. Signals: a
    point beyond a limit (`beyond`) and a run of eight or more successive
    points on one side of the centre (`run`, every point of the run).
    """
    s = series.dropna(subset=["value"]).sort_values(["year", "month"]).reset_index(drop=True)
    out = s.assign(centre=np.nan, ucl=np.nan, lcl=np.nan, beyond=False, run=False)
    if len(s) < 2:
        return out
    base = s[s["year"] < year] if (s["year"] < year).sum() >= RUN_LENGTH else s
    centre = base["value"].mean()
    sigma = base["value"].diff().abs().mean() / D2
    out["centre"], out["ucl"], out["lcl"] = centre, centre + 3 * sigma, centre - 3 * sigma
    out["beyond"] = (s["value"] > out["ucl"] + 1e-12) | (s["value"] < out["lcl"] - 1e-12)
    side = np.sign(s["value"] - centre)
    # A point on the centre line breaks a run; runs are counted by consecutive equal sides.
    block = (side != side.shift()).cumsum()
    length = side.groupby(block).transform("size")
    out["run"] = (side != 0) & (length >= RUN_LENGTH)
    return out


def signals_text(chart: pd.DataFrame, year: int) -> str:
    """Plain Finnish of the chart's signals in the report's year, empty when there are none."""
    cur = chart[chart["year"] == year]
    texts = []
    beyond = cur[cur["beyond"]]
    if len(beyond):
        last = month_name(int(beyond["month"].iloc[-1]))
        n = len(beyond)
        texts.append(
            f"arvo ohjausrajojen ulkopuolella {n} kuukautena, viimeksi {last}ssa"
            if n > 1
            else f"arvo ohjausrajojen ulkopuolella {last}ssa"
        )
    if cur["run"].any():
        texts.append(f"vähintään {RUN_LENGTH} peräkkäistä arvoa keskiviivan samalla puolella")
    return "; ".join(texts)
