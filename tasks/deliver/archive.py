"""The immutable archive of approved report versions.

Every approved version of a report is written once to
`<archive>/<period>-<kind>/v<N>/` with its files, `metadata.json` and a
`SHA256SUMS` file in `sha256sum` format. A version is assembled in a hidden
partial folder, made read-only and renamed into place; an existing version
folder is never overwritten. The same content fingerprint as the newest
version writes nothing. `publish_to_folder` copies a version's PDF to a
publication folder under a stable name.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tasks.contracts import settings
from tasks.contracts.vocab import FORECAST, KIND_TITLES, REPORT_PDF, Period, check_kind
from tasks.ingest.parsing import copy_hashing, sha256_of

PDF_NAME = REPORT_PDF
SUMS_NAME = "SHA256SUMS"
METADATA_NAME = "metadata.json"
_RESERVED_FILES = frozenset({SUMS_NAME, METADATA_NAME})
_RESERVED_METADATA = frozenset(
    {
        "period",
        "kind",
        "version",
        "fingerprint",
        "created_at",
        "files",
        "previous_version",
        "previous_fingerprint",
        "previous_sums_sha256",
    }
)
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_READ_ONLY_FILE = 0o444
_READ_ONLY_DIR = 0o555


class ArchiveError(Exception):
    """A problem with the archive, worded in Finnish for an operator."""


class ArchiveConflict(ArchiveError):
    """The target version folder appeared while this version was written; nothing was overwritten."""


@dataclass(frozen=True)
class ArchivedVersion:
    """One immutable version of a report in the archive."""

    version: int
    path: Path
    fingerprint: str
    new: bool
    previous: ArchivedVersion | None = field(default=None, repr=False)
    metadata: dict = field(default_factory=dict, repr=False)

    @property
    def period(self) -> str:
        return self.metadata["period"]

    @property
    def kind(self) -> str:
        return self.metadata["kind"]

    @property
    def pdf(self) -> Path:
        return self.path / PDF_NAME


def report_folder(archive_root: Path, period: str, kind: str) -> Path:
    """`<archive>/<period>-<kind>`, after checking both parts (they become a path)."""
    return Path(archive_root) / f"{Period.parse(period)}-{check_kind(kind)}"


def latest_version(archive_root: Path, period: str, kind: str) -> ArchivedVersion | None:
    """The newest archived version (with its predecessors in `previous`), or None."""
    folder = report_folder(archive_root, period, kind)
    latest = None
    for number in _version_numbers(folder):
        latest = _load_version(folder / f"v{number}", number, latest)
    return latest


def previous_forecast(archive_root: Path, period: str, kind: str) -> ArchivedVersion | None:
    """The newest approved forecast round of the same year before this report (1. → 2. → 3. ennuste).

    A forecast report compares with the forecast rounds before its own; a
    monthly or annual report also with the round of its own month."""
    this = Period.parse(period)
    months = [m for m in settings().forecast_months if m < this.month or (m == this.month and kind != FORECAST)]
    for month in sorted(months, reverse=True):
        version = latest_version(archive_root, str(Period(this.year, month)), FORECAST)
        if version is not None:
            return version
    return None


def _version_numbers(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if p.is_dir() and (m := _VERSION_DIR.match(p.name)))


def _load_version(path: Path, number: int, previous: ArchivedVersion | None) -> ArchivedVersion:
    try:
        meta = json.loads((path / METADATA_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ArchiveError(f"Arkistoversion {path} tiedosto {METADATA_NAME} puuttuu tai on virheellinen.") from None
    if not isinstance(meta, dict) or meta.get("version") != number or not meta.get("fingerprint"):
        raise ArchiveError(f"Arkistoversion {path} metatiedot eivät vastaa kansiota v{number}.")
    return ArchivedVersion(number, path, meta["fingerprint"], False, previous, meta)


def archive_report(
    archive_root: Path, period: str, kind: str, files: dict[str, Path], fingerprint: str, metadata: dict
) -> ArchivedVersion:
    """Archive the report's files as a new immutable version, unless the newest version has this fingerprint.

    `files` maps a name in the archive (`report.pdf`, `manifest.json`, …) to the
    file to copy. `fingerprint` identifies the report's content (the caller
    leaves the approval stamp out of it); `metadata` (approval, run id, …) is
    written into `metadata.json` with the version's own facts. Raises
    `ArchiveConflict` if the version folder appears concurrently.
    """
    folder = report_folder(archive_root, period, kind)
    _check_files(files)
    if not fingerprint:
        raise ValueError("Raportin sisällön sormenjälki puuttuu.")
    clashes = sorted(k for k in _RESERVED_METADATA & metadata.keys())
    if clashes:
        raise ValueError(f"Metatiedoissa on arkiston omia kenttiä: {', '.join(clashes)}.")
    folder.mkdir(parents=True, exist_ok=True)
    latest = latest_version(archive_root, period, kind)
    if latest is not None:
        verified_version(latest)  # a new version is chained to an intact predecessor only
        if latest.fingerprint == fingerprint:
            return latest
    number = latest.version + 1 if latest else 1
    final = folder / f"v{number}"
    partial = folder / f".v{number}.partial-{uuid.uuid4().hex}"
    own = {
        "period": period,
        "kind": kind,
        "version": number,
        "fingerprint": fingerprint,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "previous_version": latest.version if latest else None,
        "previous_fingerprint": latest.fingerprint if latest else None,
        # The chain: rewriting an earlier version and its checksum file together shows in the next version.
        "previous_sums_sha256": sha256_of(latest.path / SUMS_NAME) if latest else None,
    }
    partial.mkdir()
    try:
        meta = _write_version(partial, files, {**metadata, **own})
        _rename_noreplace(partial, final)
    except OSError as exc:
        _remove_partial(partial)
        if isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise ArchiveConflict(
                f"Arkistoversio {final} ilmestyi samanaikaisesti toisesta ajosta. Olemassa olevaa versiota ei "
                "muutettu eikä uutta kirjoitettu; aja arkistointi uudelleen."
            ) from None
        raise
    except BaseException:
        _remove_partial(partial)
        raise
    _fsync_dir(folder)
    return ArchivedVersion(number, final, fingerprint, True, latest, meta)


def _check_files(files: Mapping[str, Path]) -> None:
    if PDF_NAME not in files:
        raise ValueError(f"Arkistoitavista tiedostoista puuttuu {PDF_NAME}.")
    for name, src in files.items():
        if not _SAFE_FILE.match(name) or name in _RESERVED_FILES:
            raise ValueError(f"Arkiston tiedostonimi {name!r} ei kelpaa.")
        if not Path(src).is_file():
            raise ValueError(f"Arkistoitavaa tiedostoa ei ole: {src}")


def _write_version(partial: Path, files: Mapping[str, Path], meta: dict) -> dict:
    """Copy, describe and seal one version inside its partial folder; returns the metadata written."""
    sums = {name: _copy_read_only(Path(src), partial / name) for name, src in sorted(files.items())}
    meta = {**meta, "files": dict(sums)}
    body = json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n"
    sums[METADATA_NAME] = _write_read_only(partial / METADATA_NAME, body.encode("utf-8"))
    sums_text = "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
    _write_read_only(partial / SUMS_NAME, sums_text.encode("ascii"))
    partial.chmod(_READ_ONLY_DIR)
    _fsync_dir(partial)
    return meta


def _copy_read_only(src: Path, dst: Path) -> str:
    """Copy durably, make the copy read-only and return its SHA-256."""
    digest = copy_hashing(src, dst, exclusive=True, durable=True)
    dst.chmod(_READ_ONLY_FILE)
    return digest


def _write_read_only(path: Path, data: bytes) -> str:
    with path.open("xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    path.chmod(_READ_ONLY_FILE)
    return hashlib.sha256(data).hexdigest()


def _remove_partial(partial: Path) -> None:
    if partial.exists():
        partial.chmod(0o700)  # files inside can be unlinked once their folder is writable
        shutil.rmtree(partial, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not sync folders; the rename is still atomic
    finally:
        os.close(fd)


@cache
def _renameat2() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename atomically, raising FileExistsError if `dst` exists — even an empty folder.

    Plain `os.rename` silently replaces an empty folder or a file, so Linux's
    renameat2(RENAME_NOREPLACE) is used where the file system supports it.
    """
    fn = _renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), str(dst))
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), str(src))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def verify_archive(path: Path) -> list[str]:
    """Problems of one archived version folder, in Finnish; an empty list means it is intact."""
    path = Path(path)
    label = f"{path.parent.name}/{path.name}"
    if not path.is_dir():
        return [f"{label}: arkistoversiota ei ole"]
    sums_file = path / SUMS_NAME
    if not sums_file.is_file():
        return [f"{label}: tarkistussummatiedosto {SUMS_NAME} puuttuu"]
    problems: list[str] = []
    listed: set[str] = set()
    for n, line in enumerate(sums_file.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        m = _SUMS_LINE.match(line)
        if not m:
            problems.append(f"{label}: {SUMS_NAME} rivi {n} on virheellinen")
            continue
        digest, name = m.groups()
        if not _SAFE_FILE.match(name):  # never follow a listed name out of the folder
            problems.append(f"{label}: {SUMS_NAME} rivi {n} on virheellinen")
            continue
        listed.add(name)
        target = path / name
        if not target.is_file():
            problems.append(f"{label}: tiedosto puuttuu: {name}")
        elif sha256_of(target) != digest:
            problems.append(f"{label}: tarkistussumma ei täsmää, tiedostoa on muutettu: {name}")
    for extra in sorted(p.name for p in path.iterdir() if p.name != SUMS_NAME and p.name not in listed):
        problems.append(f"{label}: tiedosto ei kuulu arkistoversioon: {extra}")
    return problems


def verify_report_archive(archive_root: Path, period: str, kind: str) -> list[str]:
    """Problems of every version of one report, and of the chain between them; empty when all is intact."""
    folder = report_folder(archive_root, period, kind)
    problems: list[str] = []
    previous_sums = None
    for number in _version_numbers(folder):
        path = folder / f"v{number}"
        problems += verify_archive(path)
        try:
            meta = json.loads((path / METADATA_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # verify_archive named it
        expected = meta.get("previous_sums_sha256")
        if number > 1 and expected is not None and expected != previous_sums:
            problems.append(
                f"{folder.name}/v{number - 1}: tarkistussummatiedosto ei vastaa seuraavan version {folder.name}/"
                f"v{number} siitä kirjaamaa tarkistussummaa; versiota on muutettu jälkikäteen"
            )
        sums = path / SUMS_NAME
        previous_sums = sha256_of(sums) if sums.is_file() else None
    return problems


def verify_whole_archive(archive_root: Path) -> dict[str, list[str]]:
    """Every report's versions in the archive, each with its problems (an empty list: intact)."""
    root = Path(archive_root)
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            out[folder.name] = verify_report_archive(root, folder.name[:7], folder.name[8:])
        except ValueError:
            out[folder.name] = [f"{folder.name}: kansio ei ole raportin arkistokansio (muotoa 2024-08-forecast)"]
    return out


def verified_version(version: ArchivedVersion) -> ArchivedVersion:
    """The version, after checking every file against its `SHA256SUMS` and that file against the chain (the next
    version records its predecessor's checksum file); raises `ArchiveError` naming what changed."""
    problems = verify_archive(version.path)
    if problems:
        raise ArchiveError(
            f"Arkistoversio {version.path} ei ole eheä, joten sitä ei julkaistu eikä lähetetty: " + "; ".join(problems)
        )
    return version


def _slug(text: str) -> str:
    folded = text.casefold().replace("ä", "a").replace("ö", "o").replace("å", "a")
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


def pdf_file_name(period: str, kind: str, version: int) -> str:
    """The stable name of a version's PDF for people: `2024-08-toteutumisennuste-v2.pdf`."""
    return f"{period}-{_slug(KIND_TITLES[kind])}-v{version}.pdf"


def publish_to_folder(version: ArchivedVersion, folder: Path) -> Path:
    """Copy the version's PDF into a publication folder under its stable name; idempotent.

    The same content already there writes nothing; a different file under the
    name is left alone and reported (a version's PDF never changes).
    """
    pdf = version.pdf
    if not pdf.is_file():
        raise ArchiveError(f"Arkistoversiossa {version.path} ei ole tiedostoa {PDF_NAME}.")
    digest = sha256_of(pdf)
    expected = version.metadata.get("files", {}).get(PDF_NAME)
    if expected and digest != expected:
        raise ArchiveError(
            f"Arkistoversion {version.path} tiedosto {PDF_NAME} on muuttunut arkistoinnin jälkeen; sitä ei julkaistu."
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / pdf_file_name(version.period, version.kind, version.version)
    if target.exists():
        return _same_or_conflict(target, digest)
    tmp = folder / f".{target.name}.partial-{uuid.uuid4().hex}"
    _copy_read_only(pdf, tmp)
    try:
        _rename_noreplace(tmp, target)
    except FileExistsError:
        return _same_or_conflict(target, digest)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)
    return target


def _same_or_conflict(target: Path, digest: str) -> Path:
    if sha256_of(target) == digest:
        return target
    raise ArchiveError(f"Julkaisukansiossa on jo eri sisältöinen tiedosto {target}; sitä ei korvattu.")
