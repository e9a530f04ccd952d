"""Statistical process control: the individuals (XmR) chart of an indicator's monthly series, and its signals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.fmt import month_name, numeral

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


def signal_tone(chart: pd.DataFrame, better: int) -> pd.Series:
    """Per point: `better`, `worse` or "" (no signal): a signal above the centre is better when a larger value is."""
    signal = chart["beyond"] | chart["run"]
    above = chart["value"] > chart["centre"]
    good = above if better > 0 else ~above
    return pd.Series(np.where(signal, np.where(good, "better", "worse"), ""), index=chart.index)


def signals_direction(chart: pd.DataFrame, year: int, better: int = 1) -> str:
    """Which way the report year's signals point: `better`, `worse`, `mixed`, or "" without any (the text's colour:
    an improvement is never shown as an alarm)."""
    if "beyond" not in chart:
        return ""
    tones = set(signal_tone(chart, better)[chart["year"] == year]) - {""}
    return tones.pop() if len(tones) == 1 else ("mixed" if tones else "")


def signals_text(chart: pd.DataFrame, year: int, better: int = 1) -> str:
    """The chart's signals in the report's year in plain Finnish, for the board: whether the value has changed
    clearly for the better or the worse; empty when it has not. The method is the appendix's."""
    if "beyond" not in chart:
        return ""
    tone = signal_tone(chart, better)
    cur = chart[chart["year"] == year]
    texts = []
    beyond = cur[cur["beyond"]]
    if len(beyond):
        last = beyond.iloc[-1]
        word = "parempi" if tone[last.name] == "better" else "heikompi"
        when = f"{month_name(int(last['month']))}ssa"
        texts.append(f"Arvo oli {when} selvästi tavanomaista {word}.")
    if cur["run"].any():
        run = cur[cur["run"]]
        word = "parempana" if (tone[run.index] == "better").mean() >= 0.5 else "heikompana"
        texts.append(f"Arvo on pysynyt vähintään {numeral(RUN_LENGTH)} kuukautta peräkkäin aiempaa keskitasoa {word}.")
    return " ".join(texts)
