"""A column as codes into its distinct values: compute once per distinct value, spread back to the rows.

Extract columns repeat a few values millions of times (twenty file names, some
dozen services, a few thousand cost centres, a year and a month on every row):
parsing, the personal-data guard and the validation frame work on the distinct
values and spread the results back by the codes, so no regular expression,
dictionary look-up or Python object touches every row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


class Distinct:
    """`values` as codes into its distinct values (a categorical's own codes are reused)."""

    def __init__(self, values: pd.Series):
        self.values = values
        if isinstance(values.dtype, pd.CategoricalDtype):
            self.codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
        else:
            self.codes, uniques = pd.factorize(values)
        self.uniques = pd.Series(uniques)
        self.has_missing = bool((self.codes < 0).any())

    def __len__(self) -> int:
        """How many distinct values there are (a missing value not counted)."""
        return len(self.uniques)

    def per_value(self) -> pd.Series:
        """The distinct values, and one missing value last when the column has any."""
        if not self.has_missing:
            return self.uniques.reset_index(drop=True)
        missing = self.values[self.codes < 0].iloc[:1].reset_index(drop=True)
        if isinstance(missing.dtype, pd.CategoricalDtype):
            missing = missing.astype(self.uniques.dtype)
        return pd.concat([self.uniques, missing], ignore_index=True)

    def spread(self, per_value: pd.Series | np.ndarray) -> pd.Series:
        """Per-value results (in the order of `per_value()`) as one value per row."""
        codes = np.where(self.codes < 0, len(self.uniques), self.codes) if self.has_missing else self.codes
        array = per_value.array if isinstance(per_value, pd.Series) else per_value
        return pd.Series(array.take(codes), index=self.values.index)

    def map(self, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
        """`fn` of each distinct value, spread over the rows; a missing value gets `fn` of a missing value."""
        return self.spread(pd.Series(fn(self.per_value())).reset_index(drop=True))

    def categorical(
        self, fn: Callable[[pd.Series], pd.Series] | None = None, categories: pd.Index | None = None
    ) -> pd.Series:
        """The column (or `fn` of it, missing for a missing value) as a categorical over `categories`
        (default: its own distinct values), built from the codes without touching the rows' text."""
        if fn is None and categories is None:  # the codes are already the categorical's codes
            return pd.Series(
                pd.Categorical.from_codes(self.codes, categories=pd.Index(self.uniques)), index=self.values.index
            )
        per_value = self.uniques if fn is None else pd.Series(fn(self.uniques)).reset_index(drop=True)
        if categories is None:
            categories = pd.Index(per_value.dropna().unique())
        positions = categories.get_indexer(per_value)
        if ((positions < 0) & per_value.notna().to_numpy()).any():
            raise ValueError("a value is missing from the categories")
        codes = np.append(positions, -1)[self.codes]
        return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=self.values.index)

    def counts(self) -> pd.Series | None:
        """Rows per distinct value, spread over the rows (None when a value is missing)."""
        if self.has_missing:
            return None
        return pd.Series(np.bincount(self.codes, minlength=len(self.uniques))[self.codes], index=self.values.index)
