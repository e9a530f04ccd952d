"""What the sample generators share: deterministic seeds, Finnish number formatting, writing a file."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def seed_of(*parts: object) -> int:
    """A stable 64-bit seed from the parts: same parts, same random numbers."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def sample_parameters(name: str) -> dict:
    """A parameter file of this package (`budget_2024.yaml`, `operations_2024.yaml`)."""
    return yaml.safe_load(resources.files("tasks.samples").joinpath(name).read_text(encoding="utf-8"))


def format_fi(values: pd.Series, decimals: int, group: str = "", minus: str = "-") -> pd.Series:
    """Numbers as Finnish exports write them: decimal comma, optional grouping and minus sign."""
    neg = values < 0
    absval = values.abs()
    if decimals:
        whole = (absval // 1).astype("int64")
        frac = np.round((absval - whole) * 10**decimals).astype("int64")
        carry = frac >= 10**decimals
        whole, frac = whole + carry, frac.where(~carry, 0)
    else:
        whole, frac = np.round(absval).astype("int64"), None
    text = whole.map(lambda w: f"{w:,}".replace(",", group))
    if frac is not None:
        text = text + "," + frac.map(lambda f: f"{f:0{decimals}d}")
    return text.where(~neg, minus + text)


def write_csv(
    path: Path, df: pd.DataFrame, encoding: str, sep: str = ";", newline: str = "\n", trailing: str = ""
) -> None:
    body = df.to_csv(sep=sep, index=False, lineterminator=newline)
    path.write_bytes((body + trailing).encode(encoding))
