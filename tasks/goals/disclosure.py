"""Disclosure control: small counts in published tables are hidden, and so is what would reveal them."""

from __future__ import annotations

import pandas as pd


def suppress_small(df: pd.DataFrame, counts: list[str], threshold: int, total_row: bool = True) -> pd.Series:
    """Rows of a published table whose figures must be hidden (True), by the small-count rule.

    Primary: a row with a count from 1 to `threshold` − 1 in any of `counts`
    (zero identifies no one). Secondary: when the table publishes a total
    (`total_row`: its last row) and exactly one row is hidden, that row could
    be recovered by subtracting the others from the total, so the row with the
    next smallest count is hidden too. A hidden row hides its counts and every
    figure derived from them.
    """
    body = df.iloc[:-1] if total_row else df
    values = body[counts].apply(pd.to_numeric, errors="coerce")
    hidden = ((values > 0) & (values < threshold)).any(axis=1)
    if total_row and hidden.sum() == 1 and (~hidden).any():
        hidden[values.loc[~hidden, counts[0]].idxmin()] = True
    return hidden.reindex(df.index, fill_value=False)
