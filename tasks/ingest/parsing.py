"""Reading messy Finnish exports: encodings, delimiters, decimal commas, minus signs.

Every loader goes through here, so a CSV quirk is handled once. Errors are
`SourceError`s that name the file, the line and the column in Finnish; they
never carry a Python traceback to the user.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from reports import fmt
from tasks.ingest.distinct import Distinct
from tasks.ingest.pii import mask_codes

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# Spaces that appear as thousands separators in Finnish exports: every whitespace character,
# spelled out for pandas' string methods, which run pyarrow's regular
# expressions (RE2) when given a pattern string: RE2's \s is ASCII only, Python's is
# every character for which str.isspace() holds, listed here (tests/test_parsing.py).
UNICODE_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_GROUP_SPACES_CLASS = f"[{UNICODE_SPACES}]"
# Characters, not escapes: pandas hands a pattern with `\u` escapes to Python's re, row by row.
_MINUS_START = "^[\u2212\u2013-]"


@dataclass(frozen=True)
class SourceError:
    """A problem in an input file, for a controller to fix."""

    file: str
    message: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"rivi {self.line}")
        if self.column:
            where.append(f"sarake {self.column}")
        return f"{', '.join(where)}: {self.message}"


class SourceFileError(Exception):
    """Raised by a reader; carries the errors so the caller can report them all."""

    def __init__(self, errors: list[SourceError]):
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


def copy_hashing(src: Path, dst: Path, *, exclusive: bool = False, durable: bool = False) -> str:
    """Copy `src` to `dst` in chunks and return the SHA-256 of exactly the bytes copied. `exclusive` never
    overwrites `dst`; `durable` flushes the copy to disk before returning."""
    h = hashlib.sha256()
    with src.open("rb") as fin, dst.open("xb" if exclusive else "wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            h.update(chunk)
            fout.write(chunk)
        if durable:
            fout.flush()
            os.fsync(fout.fileno())
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Formats that arrive renamed as `.csv`, by their first bytes, as people know them.
_SIGNATURES = (
    (b"%PDF", "PDF-asiakirja"),
    (b"PK\x03\x04", "Excel-työkirja (XLSX) tai muu ZIP-paketti"),
    (b"\xd0\xcf\x11\xe0", "vanhan Excel-muodon (XLS) työkirja"),
    (b"\x89PNG", "PNG-kuva"),
    (b"\xff\xd8\xff", "JPEG-kuva"),
    (b"GIF8", "GIF-kuva"),
    (b"\x1f\x8b", "gzip-pakattu tiedosto"),
)
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
# UTF-8's ä, ö, å, é (0xC3 …) and dashes, quotes and minus (0xE2 …): in a file that is not valid UTF-8
# as a whole they mean mixed encodings (Windows-1252 would read them as Ã¤ or â€“).
_UTF8_SEQUENCE = re.compile(rb"\xc3[\x80-\xbf]|\xe2[\x80-\x88][\x80-\xbf]")
_SAVE_AS = "tallenna se UTF-8- tai Windows-1252-merkistöön"


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) or, failing that, Windows-1252.

    Anything else is a `SourceFileError` that says what the file is and, for
    a byte that cannot be decoded, its line and column.
    """
    if not raw or raw.isspace():  # (as `not raw.strip()`, without copying the file)
        raise SourceFileError([SourceError(name, "tiedosto on tyhjä")])
    for signature, what in _SIGNATURES:
        if raw.startswith(signature):
            raise SourceFileError([SourceError(name, f"tiedosto ei ole tekstimuotoinen CSV-tiedosto vaan {what}")])
    for bom, encoding in _WIDE_BOMS:
        if raw.startswith(bom):
            raise SourceFileError([SourceError(name, f"tiedosto on {encoding}-merkistössä; {_SAVE_AS}")])
    nul = raw.find(b"\x00")
    if nul >= 0:
        head = raw[:4096]
        if max(head[0::2].count(0), head[1::2].count(0)) > 0.9 * (len(head) // 2):
            raise SourceFileError([SourceError(name, f"tiedosto on ilmeisesti UTF-16-merkistössä; {_SAVE_AS}")])
        if nul < 4096 and head.count(0) > len(head) // 10:
            raise SourceFileError([SourceError(name, "tiedosto ei ole tekstimuotoinen CSV-tiedosto")])
        # NULs after text: a transfer or a write that broke off.
        raise SourceFileError(
            [
                SourceError(
                    name,
                    "rivillä on NUL-merkkejä: tiedosto on vioittunut tai sen kirjoittaminen on keskeytynyt",
                    line=raw.count(b"\n", 0, nul) + 1,
                )
            ]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        if _UTF8_SEQUENCE.search(raw):
            pos = utf8_error.start
            raise SourceFileError(
                [
                    SourceError(
                        name,
                        f"tiedostossa on sekaisin UTF-8- ja Windows-1252-merkistöä; {_SAVE_AS} kokonaan",
                        line=raw.count(b"\n", 0, pos) + 1,
                        column=_column_at(raw, pos),
                    )
                ]
            ) from None
    try:
        return raw.decode("cp1252", errors="strict")
    except UnicodeDecodeError as exc:
        pos = exc.start
        raise SourceFileError(
            [
                SourceError(
                    name,
                    f"merkistö ei ole UTF-8 eikä Windows-1252 (tavu 0x{raw[pos]:02X}); {_SAVE_AS}",
                    line=raw.count(b"\n", 0, pos) + 1,
                    column=_column_at(raw, pos),
                )
            ]
        ) from None


def _column_at(raw: bytes, pos: int) -> str | None:
    """The header name of the field holding byte `pos` (unquoted fields; None when it cannot be told)."""
    header = raw.lstrip().split(b"\n", 1)[0].decode("latin-1").lstrip("\u00ef\u00bb\u00bf").rstrip("\r")
    delim = sniff_delimiter(header)
    start = raw.rfind(b"\n", 0, pos) + 1
    if start == 0:
        return None
    index = raw[start:pos].count(delim.encode())
    names = header.split(delim)
    return _shown(names[index]) if index < len(names) else None


def sniff_delimiter(header: str) -> str:
    return ";" if header.count(";") >= header.count(",") else ","


# Longer lines are not records: the line ends are missing (or the file is not a CSV at all).
MAX_LINE_CHARS = 100_000
# Lines are refused above MAX_LINE_CHARS before parsing, so no field reaches csv's own limit.
assert MAX_LINE_CHARS < csv.field_size_limit()
# How many header names a message lists, and how much of each.
_SHOWN_COLUMNS, _SHOWN_CHARS = 12, 40


def read_delimited(path: Path, expected: list[str], required: list[str]) -> pd.DataFrame:
    """Read a CSV into string columns with `_line` holding each row's line number.

    Tolerates BOM, Windows-1252, `;` or `,`, blank and empty trailing lines.
    Checks the header (a known delimiter, every required column present), that
    every row has the header's fields, and that there is at least one data row.
    """
    name = path.name
    text = decode_text(path.read_bytes(), name)
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        # Lines ended by a lone carriage return (old Mac exports): pandas would read one long row.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.splitlines()
    lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
    too_long = np.flatnonzero(lengths > MAX_LINE_CHARS)
    if too_long.size:
        # Checked before parsing: the parser takes minutes over a line of megabytes.
        i = int(too_long[0])
        raise SourceFileError(
            [
                SourceError(
                    name,
                    f"rivi on liian pitkä ({fmt.number(lengths[i])} merkkiä, enintään "
                    f"{fmt.number(MAX_LINE_CHARS)}): rivinvaihdot puuttuvat "
                    "tai tiedosto ei ole CSV-tiedosto",
                    line=i + 1,
                )
            ]
        )
    header_line = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if header_line is None:
        raise SourceFileError([SourceError(name, "tiedosto on tyhjä")])
    header = lines[header_line]
    if header.count("\t") > header.count(";") + header.count(","):
        raise SourceFileError(
            [
                SourceError(
                    name,
                    "sarakkeiden erotin on sarkain; sallitut erottimet ovat puolipiste (;) ja pilkku (,)",
                    line=header_line + 1,
                )
            ]
        )
    delim = sniff_delimiter(header)
    df = _parse_columnar(text, lines, delim, header_line)
    if df is None:
        df = _parse_plain(text, lines, delim, header_line)
    if df is None:
        df = _parse(text, name, delim, header_line)
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    if not isinstance(df.index, pd.RangeIndex):
        df = _realign(text, df, name, delim, header_line)
    values = list(df.columns)
    df["_line"] = df.index + header_line + 2
    # keep_default_na=False: an empty field is "", a field the row does not have at all is NaN.
    absent = df[values].isna()
    df[values] = df[values].fillna("")
    blank = _all_columns(df, values, lambda c: df[c].str.strip().eq(""))
    check_columns(df, name, expected, required, line=header_line + 1)
    short = absent.any(axis=1) & ~blank
    if short.any():
        raise SourceFileError(
            errors_from_mask(
                df, short, name, None, "rivillä on vähemmän kenttiä kuin otsikkorivillä (rivi on katkennut?)"
            )
        )
    if blank.any():  # (a boolean selection copies every column)
        df = df[~blank]
    df = df.reset_index(drop=True)
    repeated = _repeated_headers(df, required)
    if repeated.any():
        raise SourceFileError(
            errors_from_mask(df, repeated, name, None, "otsikkorivi toistuu: tiedostoja on ilmeisesti yhdistetty")
        )
    if df.empty:
        raise SourceFileError([SourceError(name, "tiedostossa ei ole yhtään tietoriviä (vain otsikkorivi)")])
    return df


def _parse(text: str, name: str, delim: str, header_line: int, names: list[str] | None = None) -> pd.DataFrame:
    """Every field as text: an empty field is "", a field the row does not have is NaN."""
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=delim,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            skiprows=header_line + (names is not None),
            header=None if names is not None else "infer",
            names=names,
            index_col=False if names is not None else None,
            quoting=csv.QUOTE_MINIMAL,
            engine="python",
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        line = _line_of_parser_error(str(exc))
        raise SourceFileError([SourceError(name, _TOO_MANY_FIELDS, line=line)]) from None


_TOO_MANY_FIELDS = "rivillä on enemmän kenttiä kuin otsikkorivillä (erotinmerkki tekstissä ilman lainausmerkkejä?)"


def _parse_columnar(text: str, lines: list[str], delim: str, header_line: int) -> pd.DataFrame | None:
    """pyarrow's multithreaded CSV reader on a well-formed file, or None: the pandas parsers decide.

    The python parser is the reference, and on these files the two read the same:
    no NUL; no blank line among the rows (pyarrow skips blank lines, which would
    shift the rows' line numbers; blank lines after the last row are harmless);
    the header's names unique (pandas would rename a repeated one); every quote
    character at a field's edge or doubled inside a quoted field (a stray quote
    inside a field is read differently). A row with too many or too few fields
    stops pyarrow, and the pandas parsers then name its line. Fields stay text,
    an empty field "" as the other parsers give it.
    """
    if "\x00" in text:
        return None
    last = len(lines) - 1
    while not lines[last].strip():  # from the end: only the trailing blank lines are looked at one by one
        last -= 1
    if sum(map(bool, map(str.strip, lines))) != last - header_line + 1:
        return None
    if '"' in text:
        edge = re.escape(delim) + "\n\r"
        # A quote with neither side at a field's edge; the pattern starts at the quote, which the regular
        # expression engine then finds by a fast scan (a leading character class makes it try every position).
        if re.search(f'"(?<=[^{edge}]")(?=[^{edge}])', text.replace('""', "")):
            return None
    # pyarrow drops a byte order mark (the other parsers keep it in the first name, which is stripped later).
    text = text.removeprefix("\ufeff")
    names = next(csv.reader([lines[header_line].removeprefix("\ufeff")], delimiter=delim))
    if len(set(names)) != len(names):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(skip_rows=header_line),
            parse_options=pacsv.ParseOptions(
                delimiter=delim, quote_char='"', double_quote=True, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowException:  # e.g. a row with a field too many or too few: the pandas parsers report it
        return None
    if table.column_names != names:
        return None
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)


def _parse_plain(text: str, lines: list[str], delim: str, header_line: int) -> pd.DataFrame | None:
    """The C parser (several times faster) on a plain file, or None: the python parser decides.

    The python parser is the reference. The two agree on plain files: no quote
    character (so no quoted delimiters, line breaks or runaway fields), no NUL
    (lone carriage returns are line feeds by now), no line longer than the python
    parser's field limit, and rows that fit the header (with one field more
    than the header, pandas would make the first column an index). Anything
    else, and every parse error (the python parser's message names the line),
    goes to the python parser.
    """
    if '"' in text or "\x00" in text:
        return None
    # The C parser fills a row's missing last fields with "" (the python parser with NaN, which
    # tells a cut row from an empty field). Without quotes a row's delimiters are its fields − 1,
    # and a row with too many fields stops the C parser below, so every non-blank row has the
    # header's count exactly when the file's total is the header's count times those rows.
    nonblank = sum(map(bool, map(str.strip, lines)))
    if text.count(delim) != lines[header_line].count(delim) * nonblank:
        return None
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=delim,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            skiprows=header_line,
            quoting=csv.QUOTE_MINIMAL,
            engine="c",
        )
    except ValueError:  # ParserError and the like: the python parser reports it
        return None
    return df if isinstance(df.index, pd.RangeIndex) else None


def _realign(text: str, df: pd.DataFrame, name: str, delim: str, header_line: int) -> pd.DataFrame:
    """Rows with more fields than the header, read again without pandas' implicit index.

    pandas takes the surplus first fields as the index and shifts every value
    one column to the left (and types the index). Read by position instead:
    extra fields at the end are dropped when empty (a delimiter ending every
    data row) and an error otherwise.
    """
    names = list(df.columns)
    extra = [f"_extra{i}" for i in range(df.index.nlevels)]
    full = _parse(text, name, delim, header_line, names + extra)
    beyond = full[extra].fillna("").apply(lambda s: s.str.strip().ne("")).any(axis=1)
    if beyond.any():
        lines = full.index[beyond] + header_line + 2
        raise SourceFileError([SourceError(name, _TOO_MANY_FIELDS, line=int(ln)) for ln in lines[:20]])
    return full[names]


def _repeated_headers(df: pd.DataFrame, required: list[str]) -> pd.Series:
    """Rows that repeat the header (two exports concatenated, each with its BOM and header)."""
    return _all_columns(df, required, lambda c: df[c].str.strip().str.lstrip("\ufeff").eq(c))


def _all_columns(df: pd.DataFrame, columns: list[str], test: Callable[[str], pd.Series]) -> pd.Series:
    """Rows for which `test(column)` holds in every column (none when there are no columns); the columns after
    the first that leaves no row are not tested (usually the first: a file has few blank or repeated rows)."""
    rows = pd.Series(bool(columns), index=df.index)
    for c in columns:
        rows &= test(c)
        if not rows.any():
            break
    return rows


def _line_of_parser_error(msg: str) -> int | None:
    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else None


def read_xlsx(path: Path, expected: list[str], required: list[str]) -> pd.DataFrame:
    name = path.name
    try:
        df = pd.read_excel(path, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise SourceFileError([SourceError(name, f"Excel-tiedostoa ei voi lukea ({type(exc).__name__})")]) from None
    df.columns = [str(c).strip() for c in df.columns]
    df["_line"] = df.index + 2
    df = df.dropna(how="all", subset=[c for c in df.columns if c != "_line"]).reset_index(drop=True)
    for c in df.columns:
        if c != "_line":
            df[c] = df[c].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    try:
        check_columns(df, name, expected, required)
    except SourceFileError:
        merged = _merged_header_cells(path)
        if merged:
            raise SourceFileError(
                [
                    SourceError(
                        name,
                        f"otsikkorivillä on yhdistettyjä soluja ({', '.join(merged)}): sarakeotsikoiden pitää olla "
                        f"ensimmäisellä rivillä, yksi kullekin sarakkeelle ({', '.join(expected)})",
                        line=1,
                    )
                ]
            ) from None
        raise
    if df.empty:
        raise SourceFileError([SourceError(name, "tiedostossa ei ole yhtään tietoriviä (vain otsikkorivi)")])
    return df


def open_workbook(path: Path):
    """A workbook edited by hand, its formulas' values read; a SourceFileError when it is not one."""
    from openpyxl import load_workbook  # heavy: only workbooks edited by hand are read cell by cell

    try:
        return load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise SourceFileError(
            [SourceError(path.name, f"Excel-tiedostoa ei voi lukea ({type(exc).__name__})")]
        ) from None


def read_xlsx_sheet(wb, sheet: str, expected: list[str], required: list[str], label: str) -> pd.DataFrame | None:
    """One sheet of a workbook (`open_workbook`) as text columns and `_line` (its row number), or None when the
    sheet is absent.

    For workbooks people edit by hand (the controller's commentary): a value of
    merged cells belongs to every cell of the merge (an area name merged over
    its services' rows), empty rows are skipped, a sheet with only its header
    row is an empty frame. The first row is the header. `label` names the sheet
    in messages.
    """
    if sheet not in wb.sheetnames:
        return None
    ws = wb[sheet]
    header_merges = sorted(str(r) for r in ws.merged_cells.ranges if r.min_row == 1)
    if header_merges:
        raise SourceFileError(
            [SourceError(label, f"otsikkorivillä on yhdistettyjä soluja ({', '.join(header_merges)})", line=1)]
        )
    values = [list(row) for row in ws.iter_rows(values_only=True)]
    for merged in ws.merged_cells.ranges:
        top_left = values[merged.min_row - 1][merged.min_col - 1] if merged.min_row <= len(values) else None
        for r in range(merged.min_row, min(merged.max_row, len(values)) + 1):
            for c in range(merged.min_col, merged.max_col + 1):
                if c - 1 < len(values[r - 1]):
                    values[r - 1][c - 1] = top_left
    if not values:
        raise SourceFileError([SourceError(label, "taulukko on tyhjä: otsikkorivi puuttuu")])
    header = ["" if v is None else str(v).strip() for v in values[0]]
    width = len(header)
    rows = [(r + 2, row[:width] + [None] * (width - len(row))) for r, row in enumerate(values[1:])]
    rows = [(line, row) for line, row in rows if any(v is not None and str(v).strip() != "" for v in row)]
    df = (
        pd.DataFrame([row for _, row in rows], columns=header, dtype=object)
        if rows
        else pd.DataFrame(columns=header, dtype=object)
    )
    df = df.loc[:, [c for c in df.columns if c]]
    for c in df.columns:
        df[c] = df[c].map(lambda v: "" if v is None else v)
    df["_line"] = [line for line, _ in rows]
    check_columns(df, label, expected, required)
    return df


def _merged_header_cells(path: Path) -> list[str]:
    """Merged cells touching the first row of the first sheet (the one pandas reads)."""
    from openpyxl import load_workbook  # only for a workbook whose header is merged

    try:
        ws = load_workbook(path).worksheets[0]
    except Exception:  # already read once by pandas; a second failure only loses the hint
        return []
    return sorted(str(r) for r in ws.merged_cells.ranges if r.min_row == 1)


def _shown(column: str) -> str:
    """A header name as a message shows it: personal identity codes masked, shortened, an empty one named so."""
    column = str(column).strip().lstrip("\ufeff")
    if not column or re.fullmatch(r"Unnamed: \d+(\.\d+)?", column):
        return "(nimetön)"
    column = mask_codes(column)
    return column if len(column) <= _SHOWN_CHARS else column[: _SHOWN_CHARS - 1] + "…"


def check_columns(df: pd.DataFrame, name: str, expected: list[str], required: list[str], line: int = 1) -> None:
    """Every required column present. Messages list what was found, masked and shortened: a header
    row may really be a data row (a file without its header)."""
    missing = [c for c in required if c not in df.columns]
    if missing and not any(c in df.columns for c in expected):
        raise SourceFileError(
            [
                SourceError(
                    name,
                    "ensimmäinen rivi ei ole otsikkorivi: siinä ei ole yhtään tietosopimuksen sarakkeista "
                    f"{', '.join(expected)}",
                    line=line,
                )
            ]
        )
    if missing:
        found_names = [c for c in df.columns if c != "_line"]
        found = ", ".join(_shown(c) for c in found_names[:_SHOWN_COLUMNS]) + (
            " …" if len(found_names) > _SHOWN_COLUMNS else ""
        )
        raise SourceFileError(
            [SourceError(name, f"pakollinen sarake puuttuu (löytyi: {found})", line=line, column=c) for c in missing]
        )
    for c in expected:
        if c not in df.columns:
            df[c] = ""


def extra_columns(df: pd.DataFrame, expected: list[str]) -> list[str]:
    """Columns the contract does not know, as messages show them; an unnamed empty one (a trailing delimiter) does not
    count.
    """
    out = []
    for c in df.columns:
        if c == "_line" or c in expected:
            continue
        if _shown(c) == "(nimetön)" and df[c].astype(str).str.strip().eq("").all():
            continue
        out.append(_shown(c))
    return out


def parse_numbers(values: pd.Series, *, percent: bool = False) -> tuple[pd.Series, pd.Series]:
    """Parse Finnish-formatted numbers; return (floats, mask of unparseable non-empty cells).

    Accepts decimal comma or point, thousands separated by spaces or no-break
    spaces, minus as `-`, `−` or `–`, and (with percent) a trailing `%`.
    Numbers already numeric (from XLSX) pass through. Text columns are parsed
    once per distinct value (a year or a month repeats on every row).
    """
    if values.dtype != object:
        distinct = Distinct(values)
        if len(distinct) < len(values):
            # A missing value is empty: no number, not an error.
            parsed, bad = _parse_numbers(distinct.per_value(), percent=percent)
            return distinct.spread(parsed.to_numpy(dtype="float64")), distinct.spread(bad.to_numpy(dtype=bool))
    return _parse_numbers(values, percent=percent)


def _parse_numbers(values: pd.Series, *, percent: bool = False) -> tuple[pd.Series, pd.Series]:
    if values.dtype == object:
        # Only spreadsheet cells (object columns, small files) can hold real numbers.
        numeric = pd.to_numeric(values.where(values.map(lambda v: isinstance(v, (int, float)))), errors="coerce")
    else:
        numeric = pd.Series(np.nan, index=values.index)
    text = values.astype(str).str.strip()
    if percent:
        text = text.str.replace(r"\s*%$", "", regex=True)
    text = (
        text.str.replace(_GROUP_SPACES_CLASS, "", regex=True)
        .str.replace(_MINUS_START, "-", regex=True)
        .str.replace(",", ".")
    )
    valid = text.str.fullmatch(_NUMBER.pattern)
    parsed = pd.to_numeric(text.where(valid), errors="coerce")
    result = numeric.fillna(parsed).astype("float64")
    empty = text.eq("") | values.isna()
    bad = result.isna() & ~empty
    return result, bad


def excess_decimals(values: pd.Series, decimals: int) -> pd.Series:
    """Text cells with more than `decimals` decimals (spreadsheet numbers, from XLSX, are not text and pass)."""
    # Only the end of the cell matters: no need to remove the thousands spaces first.
    over = values.astype(str).str.contains(rf"[.,]\d{{{decimals + 1},}}\s*$", regex=True)
    if values.dtype == object:
        over &= values.map(lambda v: isinstance(v, str)).astype(bool)
    return over.fillna(False).astype(bool)


def errors_from_mask(
    df: pd.DataFrame, mask: pd.Series, name: str | None, column: str | None, message: str
) -> list[SourceError]:
    """The first twenty flagged rows of each file as errors; `name` None: rows of several files (`_file`)."""
    if not mask.any():
        return []
    if name is not None:
        return [SourceError(name, message, line=int(ln), column=column) for ln in df.loc[mask, "_line"].head(20)]
    hits = df.loc[mask, ["_file", "_line"]].groupby("_file", sort=False).head(20)
    return [SourceError(f, message, line=int(ln), column=column) for f, ln in zip(hits["_file"], hits["_line"])]


# ISO (2024-08-31, 2024-08-31 14:05[:09] or with T) and Finnish (31.8.2024, 31.8.2024 14:05[:09] or 14.05).
_ISO_DATE = r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
_FI_DATE = r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})"
_TIME = r"(?:[ T](?P<H>\d{1,2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2}))?)?"


def parse_datetimes(values: pd.Series, *, with_time: bool) -> tuple[pd.Series, pd.Series]:
    """Parse dates (or date-times) written the ISO or the Finnish way; return (timestamps, bad mask).

    Impossible dates (31.2.2024) are bad, not shifted. A date-time column
    accepts a bare date as midnight. Vectorised: each value of an accepted
    shape goes to the one pandas format its spelling calls for (ISO or
    Finnish, how many `:`, a time after a space), checked at C++ speed on
    Arrow strings; what none takes goes through the regular expressions
    (`_parse_datetimes_by_pattern`), which stay the reference: pandas' parser
    alone is laxer (any run of white space for a space, one-digit minutes),
    hence the shape check first. Parsed once per distinct value: a month's
    file writes some thirty dates on millions of rows.
    """
    distinct = Distinct(values)
    if len(distinct) < len(values):
        parsed, bad = _parse_datetimes(distinct.per_value(), with_time=with_time)
        return distinct.spread(parsed.to_numpy()), distinct.spread(bad.to_numpy(dtype=bool))
    return _parse_datetimes(values, with_time=with_time)


def _parse_datetimes(values: pd.Series, *, with_time: bool) -> tuple[pd.Series, pd.Series]:
    text = values.astype(str).astype("string[pyarrow]").str.strip()
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    shaped = text.str.fullmatch(_shape(with_time)).fillna(False).to_numpy(bool)
    iso = text.str.contains("-", regex=False).fillna(False).to_numpy(bool)
    colons = text.str.count(":").fillna(0).to_numpy(int)
    spaced = text.str.contains(" ", regex=False).fillna(False).to_numpy(bool)
    for (is_iso, count, has_time), form in _FAST_FORMATS.items():
        if with_time or not has_time:
            take = shaped & (iso == is_iso) & (colons == count) & (spaced == has_time)
            if take.any():
                # No cache: the events' time stamps are nearly all different.
                got = pd.to_datetime(text[take], format=form, errors="coerce", cache=False)
                out[take] = got.to_numpy("datetime64[us]")
    rest = shaped & np.isnat(out)
    if rest.any():
        out[rest] = _parse_datetimes_by_pattern(text[rest], with_time=with_time).to_numpy("datetime64[us]")
    parsed = pd.Series(out, index=values.index)
    empty = text.eq("").fillna(True).to_numpy(bool) | values.isna().to_numpy(bool)
    bad = pd.Series(np.isnat(out) & ~empty, index=values.index)
    return parsed, bad


# The spellings most files use (`_parse_datetimes_by_pattern` takes every accepted one); a date-time column
# accepts a bare date as midnight, a date column only a bare date.
_FAST_FORMATS = {
    # (ISO, how many `:`, a time after a space): format
    (True, 0, False): "%Y-%m-%d",
    (True, 1, True): "%Y-%m-%d %H:%M",
    (True, 2, True): "%Y-%m-%d %H:%M:%S",
    (False, 0, False): "%d.%m.%Y",
    (False, 1, True): "%d.%m.%Y %H:%M",
    (False, 0, True): "%d.%m.%Y %H.%M",
    (False, 2, True): "%d.%m.%Y %H:%M:%S",
}


def _parse_datetimes_by_pattern(text: pd.Series, *, with_time: bool) -> pd.Series:
    """Dates (date-times) of either form by regular expressions, assembled with `pd.to_datetime`; NaT if none."""
    time = _TIME if with_time else ""
    text = text.astype(object)  # (the assembly below wants NaN for a missing part, not pd.NA)
    parts = text.str.extract(rf"^{_ISO_DATE}{time}$")
    fi = text.str.extract(rf"^{_FI_DATE}{time}$")
    parts = parts.fillna(fi)
    frame = pd.DataFrame(
        {
            "year": pd.to_numeric(parts["y"], errors="coerce"),
            "month": pd.to_numeric(parts["m"], errors="coerce"),
            "day": pd.to_numeric(parts["d"], errors="coerce"),
        }
    )
    if with_time:
        for unit, col in (("hour", "H"), ("minute", "M"), ("second", "S")):
            frame[unit] = pd.to_numeric(parts[col], errors="coerce").fillna(0)
    return pd.to_datetime(frame, errors="coerce").astype("datetime64[us]")


def _shape(with_time: bool) -> str:
    """The form of an accepted date (date-time), as `_ISO_DATE`, `_FI_DATE` and `_TIME` without their groups."""
    shape = r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}\.\d{1,2}\.\d{4})"
    if with_time:
        shape += r"(?:[ T]\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)?"
    return shape


def date_shaped(values: pd.Series, *, with_time: bool) -> pd.Series:
    """Values written like a date (or date-time) of either form, whether or not the day exists."""
    return values.astype(str).str.strip().str.fullmatch(_shape(with_time)).fillna(False).astype(bool)
