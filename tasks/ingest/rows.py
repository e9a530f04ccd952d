"""A source's typed rows, in parts of whole files: held in memory, or spilled to Arrow files on disk.

A large source (a year and more of feedback answers: millions of rows) is
never held whole: extraction types it a part at a time (`extract.PART_ROWS`),
validation judges it a part at a time and loading splits each part into its
files. With a spill folder each part goes to disk as soon as it is typed (Arrow's
IPC format: written and read back at hundreds of MB a second, every dtype kept),
so a run's memory is bounded by a part, not by the period. Without one (tests,
benchmarks, small tools) the parts stay in memory and behave the same.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.feather as feather


def no_rows(like: pd.DataFrame) -> pd.DataFrame:
    """`like`'s columns and dtypes without rows: new empty columns, since a slice of no rows still holds the rows'
    buffers."""
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in like.dtypes.items()})


class Rows:
    """The typed rows of one source, part by part, in the files' order; a file's rows are always in one part."""

    def __init__(self, empty: pd.DataFrame, folder: Path | None = None) -> None:
        self._empty = no_rows(empty)
        self._folder = folder
        self._parts: list[pd.DataFrame | Path] = []
        self._count = 0

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Rows:
        """One frame as rows of one part (kept in memory as it is)."""
        rows = cls(frame)
        rows.add(frame)
        return rows

    def add(self, part: pd.DataFrame) -> None:
        """Append a part (whole files, after the parts before it); spilled to disk when the rows have a folder."""
        if not self._parts:
            self._empty = no_rows(part)
        if self._folder is None:
            self._parts.append(part)
            self._count += len(part)
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._folder / f"{len(self._parts):05d}.arrow"
        try:
            # Uncompressed: the part is read back once or twice within the run, and compressing costs more than it
            # saves.
            feather.write_feather(part, path, compression="uncompressed")
        except OSError as exc:
            path.unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                raise OSError(
                    errno.ENOSPC,
                    f"Levy on täynnä: luettuja rivejä ei voitu tallentaa ajon väliaikaiseen kansioon {self._folder}. "
                    "Vapauta levytilaa (ajo tarvitsee tilapäisesti suunnilleen lähdetiedostojen koon verran) ja aja "
                    "raportti uudelleen.",
                ) from None
            raise
        self._parts.append(path)
        self._count += len(part)

    def parts(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """Each part in turn (only `columns`, when given); a spilled one is read from disk as its turn comes. Rows
        without a part are one part of no rows."""
        if not self._parts:
            yield self._empty if columns is None else self._empty[columns]
        for part in self._parts:
            if isinstance(part, Path):
                yield pd.read_feather(part, columns=columns)
            else:
                yield part if columns is None else part[columns]

    def whole(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every row at once (small sources, tests, and the columns of a key); the columns and dtypes even when
        there are no rows."""
        parts = list(self.parts(columns))
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    @property
    def template(self) -> pd.DataFrame:
        """The columns and dtypes, without rows."""
        return self._empty

    @property
    def columns(self) -> pd.Index:
        return self._empty.columns

    @property
    def part_count(self) -> int:
        return len(self._parts)

    def __len__(self) -> int:
        return self._count

    @property
    def empty(self) -> bool:
        return self._count == 0

    def forget(self) -> None:
        """Let the rows go (and their files), keeping the columns and dtypes."""
        self._parts = []
        self._count = 0
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
