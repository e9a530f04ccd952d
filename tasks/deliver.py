"""Deliver approved board reports: an immutable archive and exactly-once e-mail.

Archive — every approved version of a report is written once to
`<archive>/<period>-<kind>/v<N>/` with its files, `metadata.json` and a
`SHA256SUMS` file in `sha256sum` format. A version is assembled in a hidden
partial folder, made read-only and renamed into place; an existing version
folder is never overwritten. The same content fingerprint as the newest version
writes nothing.

E-mail — `smtp_settings` reads the SMTP configuration from the environment (the
password alternatively from a Prefect Secret block), `board_message` builds the
Finnish message with the PDF attached and a deterministic Message-ID, and
`deliver_once` sends it at most once per (period, kind, version) using the
warehouse's `delivery` table as its ledger. `operator_alert` and `send_alert`
tell operators about a failed scheduled run.

Everything here is a plain function; the thin Prefect tasks at the end
(`archive_version`, `deliver_report`) are what the flow calls.
Messages for people are Finnish and never carry credentials or tracebacks.
"""

from __future__ import annotations

import base64
import ctypes
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from functools import cache
from pathlib import Path
from typing import Literal

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from reports import fmt
from tasks.contracts import local_zone
from tasks.parsing import sha256_of
from tasks.render import KIND_TITLES
from tasks.warehouse import Delivery


# ---------------------------------------------------------------------------
# Archive
# ---------------------------------------------------------------------------

PDF_NAME = "report.pdf"
SUMS_NAME = "SHA256SUMS"
METADATA_NAME = "metadata.json"
_RESERVED_FILES = frozenset({SUMS_NAME, METADATA_NAME})
_RESERVED_METADATA = frozenset(
    {"period", "kind", "version", "fingerprint", "created_at", "files", "previous_version", "previous_fingerprint"}
)
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
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
    if not _PERIOD.match(period):
        raise ValueError(f"Virheellinen raportointikausi {period!r}: odotettiin muotoa VVVV-KK.")
    if kind not in KIND_TITLES:
        raise ValueError(f"Tuntematon raporttilaji {kind!r}: sallitut ovat {', '.join(KIND_TITLES)}.")
    return Path(archive_root) / f"{period}-{kind}"


def latest_version(archive_root: Path, period: str, kind: str) -> ArchivedVersion | None:
    """The newest archived version (with its predecessors in `previous`), or None."""
    folder = report_folder(archive_root, period, kind)
    latest = None
    for number in _version_numbers(folder):
        latest = _load_version(folder / f"v{number}", number, latest)
    return latest


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


def archive_report(archive_root: Path, period: str, kind: str, files: dict[str, Path], fingerprint: str, metadata: dict) -> ArchivedVersion:
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
    if latest is not None and latest.fingerprint == fingerprint:
        return latest
    number = latest.version + 1 if latest else 1
    final = folder / f"v{number}"
    partial = folder / f".v{number}.partial-{uuid.uuid4().hex}"
    own = {
        "period": period, "kind": kind, "version": number, "fingerprint": fingerprint,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "previous_version": latest.version if latest else None,
        "previous_fingerprint": latest.fingerprint if latest else None,
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
    h = hashlib.sha256()
    with src.open("rb") as fin, dst.open("xb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            h.update(chunk)
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    dst.chmod(_READ_ONLY_FILE)
    return h.hexdigest()


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
        raise ArchiveError(f"Arkistoversion {version.path} tiedosto {PDF_NAME} on muuttunut arkistoinnin jälkeen; sitä ei julkaistu.")
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


# ---------------------------------------------------------------------------
# SMTP settings
# ---------------------------------------------------------------------------

SECRET_BLOCK = "katsaus-smtp-password"
_TRUE = frozenset({"true", "1", "kyllä", "kylla", "yes"})
_FALSE = frozenset({"false", "0", "ei", "no"})


class SmtpConfigError(ValueError):
    """An unusable SMTP setting; the message names the environment variable."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send e-mail. The password is a SecretStr and left out of repr."""

    host: str
    port: int
    starttls: bool
    mail_from: str
    mail_to: tuple[str, ...]
    ops_mail_to: tuple[str, ...] = ()
    user: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout: float = 30.0


def smtp_settings(env: Mapping[str, str] = os.environ, *, secret_loader: Callable[[str], str | None] | None = None) -> SmtpSettings | None:
    """SMTP settings from `KATSAUS_SMTP_*` / `KATSAUS_MAIL_*`, or None when no host is configured.

    Without `KATSAUS_SMTP_PASSWORD` the password of `KATSAUS_SMTP_USER` is read
    from the Prefect Secret block `katsaus-smtp-password` (`secret_loader`
    replaces that look-up in tests). Raises `SmtpConfigError` naming the variable.
    """
    host = _env(env, "KATSAUS_SMTP_HOST")
    if not host:
        return None
    starttls = _env_bool(env, "KATSAUS_SMTP_STARTTLS", default=False)
    port = _env_port(env, "KATSAUS_SMTP_PORT", default=587 if starttls else 25)
    user = _env(env, "KATSAUS_SMTP_USER")
    password = env.get("KATSAUS_SMTP_PASSWORD") or None  # not stripped: spaces may belong to it
    if password and not user:
        raise SmtpConfigError("KATSAUS_SMTP_PASSWORD on asetettu, mutta KATSAUS_SMTP_USER puuttuu.")
    if user and not starttls:
        raise SmtpConfigError(
            "KATSAUS_SMTP_USER edellyttää salattua yhteyttä: aseta KATSAUS_SMTP_STARTTLS=kyllä, "
            "jottei salasanaa lähetetä salaamattomana."
        )
    if user and password is None:
        password = (secret_loader or _prefect_secret)(SECRET_BLOCK)
        if not password:
            raise SmtpConfigError(
                f"KATSAUS_SMTP_USER on asetettu, mutta salasanaa ei löydy: aseta KATSAUS_SMTP_PASSWORD "
                f"tai Prefectin Secret-lohko {SECRET_BLOCK}."
            )
    return SmtpSettings(
        host=host,
        port=port,
        starttls=starttls,
        mail_from=_env_address(env, "KATSAUS_MAIL_FROM"),
        mail_to=_env_addresses(env, "KATSAUS_MAIL_TO", required=True),
        ops_mail_to=_env_addresses(env, "KATSAUS_OPS_MAIL_TO", required=False),
        user=user,
        password=SecretStr(password) if password else None,
        ca_file=_env_file(env, "KATSAUS_SMTP_CA_FILE"),
    )


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    return value or None


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _env(env, name)
    if value is None:
        return default
    if value.casefold() in _TRUE:
        return True
    if value.casefold() in _FALSE:
        return False
    raise SmtpConfigError(f"{name}: arvo {value!r} ei kelpaa; käytä kyllä/ei, true/false tai 1/0.")


def _env_port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _env(env, name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise SmtpConfigError(f"{name}: {value!r} ei ole porttinumero (1–65535).")
    return int(value)


def _valid_address(text: str) -> str | None:
    name, addr = parseaddr(text)
    if not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,.][^@\s<>,]*", addr):
        return None
    return text.strip()


def _env_address(env: Mapping[str, str], name: str) -> str:
    value = _env(env, name)
    if value is None:
        raise SmtpConfigError(f"{name} puuttuu: lähettäjän sähköpostiosoite tarvitaan.")
    if _valid_address(value) is None:
        raise SmtpConfigError(f"{name}: {value!r} ei ole sähköpostiosoite.")
    return value


def _env_addresses(env: Mapping[str, str], name: str, required: bool) -> tuple[str, ...]:
    parts = [p.strip() for p in (env.get(name) or "").split(",") if p.strip()]
    bad = [p for p in parts if _valid_address(p) is None]
    if bad:
        raise SmtpConfigError(f"{name}: virheellinen sähköpostiosoite {bad[0]!r}.")
    if required and not parts:
        raise SmtpConfigError(f"{name}: vastaanottajia ei ole; anna pilkuin erotettu luettelo sähköpostiosoitteita.")
    return tuple(parts)


def _env_file(env: Mapping[str, str], name: str) -> Path | None:
    value = _env(env, name)
    if value is None:
        return None
    if not Path(value).is_file():
        raise SmtpConfigError(f"{name}: tiedostoa {value} ei ole.")
    return Path(value)


def _prefect_secret(name: str) -> str | None:
    """The Prefect Secret block's value, or None when no such block exists."""
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)
    except ValueError:  # Prefect's "Unable to find block document named …"
        return None
    # The raw value: Secret.get() would JSON-decode a password such as "true" or "1e3".
    value = block.value.get_secret_value()
    return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


def _address_only(text: str) -> str:
    return parseaddr(text)[1]


def _mail_domain(settings: SmtpSettings) -> str:
    domain = _address_only(settings.mail_from).rpartition("@")[2]
    try:
        return domain.encode("idna").decode("ascii") or "katsaus.invalid"
    except UnicodeError:
        return "katsaus.invalid"


def report_message_id(settings: SmtpSettings, period: str, kind: str, version: int, fingerprint: str) -> str:
    """Deterministic Message-ID of a report version: a resent copy carries the same one."""
    # Short enough that the header is not folded with a domain of ordinary length.
    digest = hashlib.sha256(f"{period}\n{kind}\n{version}\n{fingerprint}".encode()).hexdigest()[:16]
    return f"<katsaus-{period}-{kind}-v{version}-{digest}@{_mail_domain(settings)}>"


def _date_fi(moment: dt.datetime) -> str:
    """`31.8.2024`, in Helsinki time when the moment has a zone."""
    local = moment.astimezone(local_zone()) if moment.tzinfo else moment
    return fmt.date(local.date())


def _moment_fi(moment: dt.datetime) -> str:
    """`31.8.2024 klo 14.05` in Helsinki time."""
    local = moment.astimezone(local_zone())
    return f"{fmt.date(local.date())} klo {local:%H.%M}"


def board_message(
    settings: SmtpSettings,
    *,
    board: str,
    title: str,
    period_text: str,
    version: ArchivedVersion,
    pdf: Path,
    approved_by: str,
    approved_at: dt.datetime,
    summary_lines: list[str],
    changes: list[str],
) -> EmailMessage:
    """The Finnish e-mail that delivers an approved report version to the board, PDF attached."""
    pdf_bytes = Path(pdf).read_bytes()
    period, kind, number = version.period, version.kind, version.version
    subject = f"{board}: {title}, {period_text}"
    if number > 1:
        subject = f"Korjattu versio (v{number}): {subject}"
    attachment = pdf_file_name(period, kind, number)
    body = board_body(
        board=board, title=title, period_text=period_text, version=number,
        replaces=version.previous.version if version.previous else number - 1,
        attachment=attachment, pdf_sha256=hashlib.sha256(pdf_bytes).hexdigest(),
        approved_by=approved_by, approved_at=approved_at, summary_lines=summary_lines, changes=changes,
    )
    msg = _base_message(settings, subject, settings.mail_to)
    msg["Message-ID"] = report_message_id(settings, period, kind, number, version.fingerprint)
    if version.previous is not None:
        # Mail clients thread the correction under the version it replaces.
        prev = version.previous
        msg["References"] = report_message_id(settings, period, kind, prev.version, prev.fingerprint)
    msg["X-Katsaus-Report"] = f"{period}-{kind} v{number}"
    msg["X-Katsaus-Fingerprint"] = version.fingerprint
    msg.set_content(body)
    msg["Content-Language"] = "fi"  # after set_content, which clears Content-* headers
    msg.add_attachment(pdf_bytes, maintype="application", subtype="pdf", filename=attachment)
    return msg


def board_body(
    *,
    board: str,
    title: str,
    period_text: str,
    version: int,
    replaces: int,
    attachment: str,
    pdf_sha256: str,
    approved_by: str,
    approved_at: dt.datetime,
    summary_lines: list[str],
    changes: list[str],
) -> str:
    """The plain-text body of the board message (pure)."""
    lines = ["Hyvä vastaanottaja,", ""]
    if version > 1:
        lines += [
            f"Liitteenä on hyväksytyn raportin korjattu versio {version}. Se korvaa aiemmin toimitetun version {replaces}.",
            "",
            "Muutokset edelliseen versioon:",
            *([f"– {c}" for c in changes] or ["– muutoksia ei ole eritelty"]),
        ]
    else:
        lines.append("Liitteenä on hyväksytty raportti PDF-tiedostona.")
    lines += [
        "",
        f"Lautakunta: {board}",
        f"Raportti: {title}",
        f"Kausi: {period_text}",
        f"Liite: {attachment}",
    ]
    if summary_lines:
        lines += ["", "Keskeiset tiedot:", *[f"– {s}" for s in summary_lines]]
    lines += [
        "",
        f"Hyväksyjä: {approved_by}, {_date_fi(approved_at)}",
        f"Arkistoversio: {version}",
        f"PDF-tiedoston SHA-256-tarkistussumma: {pdf_sha256}",
        "",
        "Tarkistussummalla voi varmistaa, että liite on sama kuin arkistoitu raportti.",
        "Tämä viesti on lähetetty automaattisesti katsaus-raportointijärjestelmästä.",
    ]
    return "\n".join(lines) + "\n"


def operator_alert(settings: SmtpSettings, *, flow_run_name: str, reason: str, run_url: str | None) -> EmailMessage:
    """A Finnish alert to the operators (`KATSAUS_OPS_MAIL_TO`) about a failed scheduled run."""
    if not settings.ops_mail_to:
        raise SmtpConfigError("KATSAUS_OPS_MAIL_TO: ylläpidon vastaanottajia ei ole; hälytystä ei voi lähettää.")
    link = f"Ajo Prefectissä: {run_url}" if run_url else f"Linkkiä ajoon ei ole; etsi ajo {flow_run_name} Prefectin käyttöliittymästä."
    body = "\n".join([
        "Hei,",
        "",
        f"Ajastettu katsaus-ajo {flow_run_name} epäonnistui.",
        "",
        f"Syy: {_clean_reason(reason, settings)}",
        "",
        link,
        "",
        "Tämä on automaattinen ilmoitus katsaus-raportointijärjestelmästä.",
    ]) + "\n"
    msg = _base_message(settings, f"katsaus-ajo epäonnistui: {flow_run_name}", settings.ops_mail_to)
    msg["Message-ID"] = make_msgid("katsaus-alert", domain=_mail_domain(settings))
    msg.set_content(body)
    msg["Content-Language"] = "fi"
    return msg


def _base_message(settings: SmtpSettings, subject: str, to: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(dt.datetime.now(local_zone()))
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a machine
    return msg


_TRACEBACK = "Traceback (most recent call last)"


def _clean_reason(reason: str, settings: SmtpSettings) -> str:
    """A reason fit for an e-mail: no traceback, no password, not endless."""
    text = reason.split(_TRACEBACK, 1)[0].strip() or "syy ei ole tiedossa"
    text = _redact(text, settings)
    return text if len(text) <= 2000 else text[:2000] + " …"


def _redact(text: str, settings: SmtpSettings) -> str:
    secret = settings.password.get_secret_value() if settings.password else ""
    return text.replace(secret, "***") if secret else text


# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The e-mail was not delivered; the message is Finnish, without traceback or credentials."""

    def __init__(self, message: str, *, reason: str = "", attempts: int = 0):
        super().__init__(message)
        self.reason = reason or message
        self.attempts = attempts


class DeliveryInProgress(DeliveryFailed):
    """Another run holds the delivery of this version right now; nothing was sent."""


class DeliveryConflict(DeliveryFailed):
    """The ledger says this version was delivered with different content; nothing was sent."""


@dataclass(frozen=True)
class DeliveryResult:
    """`attempts` are this call's SMTP attempts (0 when it was already sent)."""

    status: Literal["sent", "already_sent"]
    attempts: int
    message_id: str
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmtpFailure:
    """Why one SMTP attempt failed (Finnish, no secrets) and whether another attempt may succeed."""

    reason: str
    transient: bool


def _run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a flow or task run (shown in the UI), else the module logger."""
    try:
        from prefect.logging import get_run_logger

        return get_run_logger()
    except Exception:
        return log


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:200] + " …"


def classify_failure(exc: BaseException, settings: SmtpSettings) -> SmtpFailure:
    """A Finnish reason for an SMTP failure and whether trying again may help (4xx, network) or not (5xx, TLS)."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{addr} ({code} {_reply_text(text)})" for addr, (code, text) in exc.recipients.items())
        transient = all(400 <= c < 500 for c in codes)
        verb = "ei juuri nyt hyväksynyt vastaanottajia" if transient else "hylkäsi vastaanottajat"
        failure = SmtpFailure(f"SMTP-palvelin {verb}: {detail}", transient)
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        failure = SmtpFailure(
            f"kirjautuminen SMTP-palvelimelle {where} epäonnistui ({exc.smtp_code} {_reply_text(exc.smtp_error)}); "
            "tarkista KATSAUS_SMTP_USER ja salasana",
            400 <= exc.smtp_code < 500,
        )
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, _reply_text(exc.smtp_error)
        if 400 <= code < 500:
            failure = SmtpFailure(f"SMTP-palvelin vastasi tilapäisellä virheellä: {code} {text}", True)
        else:
            failure = SmtpFailure(f"SMTP-palvelin hylkäsi viestin: {code} {text}", False)
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        failure = SmtpFailure(f"SMTP-palvelin {where} ei tue asetusten edellyttämää STARTTLS-salausta tai kirjautumista", False)
    elif isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
        # smtplib turns a read timeout into "Connection unexpectedly closed: timed out".
        failure = SmtpFailure(f"SMTP-palvelin {where} ei vastannut {fmt.short(settings.timeout)} sekunnin kuluessa", True)
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        failure = SmtpFailure(f"SMTP-palvelin {where} katkaisi yhteyden", True)
    elif isinstance(exc, ssl.SSLCertVerificationError):
        failure = SmtpFailure(
            f"SMTP-palvelimen {where} TLS-varmennetta ei voitu todentaa ({exc.verify_message}); "
            "tarkista varmenne tai KATSAUS_SMTP_CA_FILE",
            False,
        )
    elif isinstance(exc, ssl.SSLEOFError):
        failure = SmtpFailure(f"SMTP-palvelin {where} katkaisi TLS-yhteyden", True)
    elif isinstance(exc, ssl.SSLError):
        failure = SmtpFailure(f"TLS-yhteyden muodostus SMTP-palvelimelle {where} epäonnistui ({exc.reason or 'tuntematon syy'})", False)
    elif isinstance(exc, TimeoutError):
        failure = SmtpFailure(f"SMTP-palvelin {where} ei vastannut {fmt.short(settings.timeout)} sekunnin kuluessa", True)
    elif isinstance(exc, ConnectionRefusedError):
        failure = SmtpFailure(f"SMTP-palvelin {where} ei ota yhteyksiä vastaan (yhteys evätty)", True)
    elif isinstance(exc, socket.gaierror):
        failure = SmtpFailure(f"SMTP-palvelimen nimeä {settings.host} ei voitu selvittää", True)
    elif isinstance(exc, OSError):
        failure = SmtpFailure(f"verkkovirhe yhteydessä SMTP-palvelimeen {where}: {exc.strerror or type(exc).__name__}", True)
    elif isinstance(exc, smtplib.SMTPException):
        failure = SmtpFailure(f"SMTP-virhe yhteydessä palvelimeen {where} ({type(exc).__name__})", False)
    else:
        failure = SmtpFailure(f"odottamaton virhe sähköpostin lähetyksessä ({type(exc).__name__})", False)
    return SmtpFailure(_redact(failure.reason, settings), failure.transient)


def _envelope_recipients(message: EmailMessage) -> list[str]:
    fields = [v for h in ("To", "Cc", "Bcc") for v in message.get_all(h, [])]
    return [addr for _, addr in getaddresses(fields) if addr]


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if settings.ca_file is not None:
        ctx.load_verify_locations(cafile=str(settings.ca_file))
    return ctx


def _smtp_send(settings: SmtpSettings, message: EmailMessage, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
    """One SMTP session: connect (with a timeout), STARTTLS and login when configured, send.

    Returns the recipients the server refused while accepting the others. The
    closing QUIT is best effort: once the data is accepted, the message is sent.
    """
    # Connecting in the constructor also records the host name STARTTLS verifies;
    # a greeting other than 220 raises SMTPConnectError (classified by its code).
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=_tls_context(settings))
            smtp.ehlo()
        if settings.user:
            _login(smtp, settings.user, settings.password.get_secret_value() if settings.password else "")
        return smtp.send_message(message, from_addr=_address_only(settings.mail_from), to_addrs=recipients)
    finally:
        _close_quietly(smtp)


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """Log in; smtplib sends only ASCII credentials, so a password with ä or ö goes as UTF-8 AUTH PLAIN (RFC 4616)."""
    if (user + password).isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPNotSupportedError("AUTH PLAIN is needed for a non-ASCII password")
    token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _close_quietly(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except Exception:
        pass
    finally:
        smtp.close()


def _send_with_retries(
    settings: SmtpSettings,
    message: EmailMessage,
    retries: int,
    backoff_seconds: float,
    on_failure: Callable[[SmtpFailure], None] | None = None,
) -> tuple[int, dict[str, tuple[int, bytes]]]:
    """Send, retrying transient failures with exponential backoff; returns (attempts, refused).

    Raises `DeliveryFailed` after a permanent failure or the last attempt.
    """
    if retries < 0 or backoff_seconds < 0:
        raise ValueError("retries and backoff_seconds must not be negative")
    recipients = _envelope_recipients(message)
    if not recipients:
        raise ValueError("Viestillä ei ole vastaanottajia.")
    logger = _run_logger()
    total = retries + 1
    for attempt in range(1, total + 1):
        try:
            return attempt, _smtp_send(settings, message, recipients)
        except Exception as exc:  # noqa: BLE001 - every failure before acceptance means "not sent"
            error = exc
            failure = classify_failure(exc, settings)
        if on_failure is not None:
            on_failure(failure)
        if not failure.transient or attempt == total:
            permanent = "" if failure.transient else " Virhe on pysyvä, joten lähetystä ei yritetty uudelleen."
            known = isinstance(error, (smtplib.SMTPException, OSError))
            # An unexpected error keeps its cause for debugging; SMTP errors are fully described already.
            raise DeliveryFailed(
                f"Sähköpostin lähetys epäonnistui ({fmt.count(attempt, 'yritys', 'yritystä')}): {failure.reason}.{permanent}",
                reason=failure.reason, attempts=attempt,
            ) from (None if known else error)
        delay = backoff_seconds * 2 ** (attempt - 1)
        logger.warning(
            "Sähköpostin lähetys epäonnistui (yritys %d/%d): %s. Uusi yritys %s s kuluttua.",
            attempt, total, failure.reason, fmt.short(delay),
        )
        time.sleep(delay)
    raise AssertionError("unreachable")


def send_alert(settings: SmtpSettings, message: EmailMessage, *, retries: int = 4, backoff_seconds: float = 1.0) -> int:
    """Send an operator alert with the same retry rules as reports (no exactly-once ledger); returns attempts."""
    attempts, _ = _send_with_retries(settings, message, retries, backoff_seconds)
    return attempts


# ---------------------------------------------------------------------------
# Exactly-once delivery
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    row_id: int
    token: str | None
    already_sent: bool
    message_id: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite gives back the UTC wall time without a zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def deliver_once(
    engine: Engine,
    settings: SmtpSettings,
    message: EmailMessage,
    *,
    period: str,
    kind: str,
    version: int,
    fingerprint: str,
    retries: int = 4,
    backoff_seconds: float = 1.0,
    lease_seconds: float = 900.0,
) -> DeliveryResult:
    """Send `message` for (period, kind, version) unless the `delivery` ledger says it was sent.

    1. Claim the ledger row: insert it as `pending`, or take over a `failed`
       row or a `pending` row whose claim is older than `lease_seconds` (its run
       died). A fresh `pending` claim of another run raises `DeliveryInProgress`;
       a `sent` row returns `already_sent` and sends nothing. Claims are
       conditional updates, so two runs never both own the row.
    2. Send over SMTP (STARTTLS and login when configured, connection timeout),
       retrying transient failures — refused connection, timeout, disconnect,
       4xx replies — after `backoff_seconds` × 1, 2, 4, …; a permanent 5xx or
       TLS failure is not retried. Each failed attempt is counted in the row.
    3. On success mark the row `sent`; after the last failure mark it `failed`
       with the Finnish reason and raise `DeliveryFailed`. A later call retries
       and still sends the version only once.

    Residual window: if the process dies (or the database cannot be written)
    after the SMTP server accepted the message but before the row is marked
    `sent` — or the server's final reply is lost in a timeout or disconnect —
    the row stays `pending`/`failed` and a later call sends the message again.
    SMTP offers no way to close this gap. The duplicate is recognisable: its
    Message-ID is derived from (period, kind, version, fingerprint) alone, so
    both copies carry the same Message-ID and mail clients and archives treat
    them as one message.
    """
    message_id = message["Message-ID"]
    if not message_id:
        raise ValueError("Viestistä puuttuu Message-ID.")
    logger = _run_logger()
    claim = _claim(engine, period, kind, version, fingerprint, message_id, _envelope_recipients(message), lease_seconds)
    if claim.already_sent:
        logger.info("Raportti %s-%s v%d on jo toimitettu; uutta viestiä ei lähetetty.", period, kind, version)
        return DeliveryResult("already_sent", 0, claim.message_id)
    try:
        attempts, refused = _send_with_retries(
            settings, message, retries, backoff_seconds, on_failure=lambda f: _record_failed_attempt(engine, claim, f.reason),
        )
    except DeliveryFailed as exc:
        if not isinstance(exc, DeliveryInProgress):
            _finish(engine, claim, status="failed", last_error=exc.reason)
        raise
    note = "; ".join(f"vastaanottaja hylättiin: {addr} ({code} {_reply_text(text)})" for addr, (code, text) in refused.items()) or None
    _finish(engine, claim, status="sent", last_error=note)
    if note:
        logger.warning("Raportti %s-%s v%d lähetettiin, mutta osa vastaanottajista hylättiin: %s", period, kind, version, note)
    logger.info("Raportti %s-%s v%d lähetettiin (%s).", period, kind, version, fmt.count(attempts, 'yritys', 'yritystä'))
    return DeliveryResult("sent", attempts, message_id, tuple(refused))


def _claim(
    engine: Engine, period: str, kind: str, version: int, fingerprint: str, message_id: str, recipients: list[str], lease_seconds: float,
) -> _Claim:
    """Own the ledger row of this version, or learn that it was sent already."""
    t = Delivery.__table__
    key = (t.c.period == period, t.c.kind == kind, t.c.version == version)
    values = {"fingerprint": fingerprint, "message_id": message_id, "recipients": ", ".join(recipients)}
    for _ in range(3):
        token, now = uuid.uuid4().hex, _now()
        with engine.begin() as conn:
            row = conn.execute(select(t).where(*key)).first()
            if row is not None:
                return _claim_existing(conn, row, fingerprint, values, token, now, lease_seconds)
        try:
            with engine.begin() as conn:
                row_id = conn.execute(
                    insert(t).returning(t.c.id),
                    {"period": period, "kind": kind, "version": version, "status": "pending", "attempts": 0,
                     "created_at": now, "claimed_at": now, "claim_token": token, **values},
                ).scalar_one()
            return _Claim(row_id, token, False, message_id)
        except IntegrityError:
            continue  # another run inserted the row a moment ago: read it again
    raise DeliveryInProgress(f"Raportin {period}-{kind} v{version} toimitusta käsittelee toinen ajo; mitään ei lähetetty.")


def _claim_existing(conn: Connection, row: Row, fingerprint: str, values: dict, token: str, now: dt.datetime, lease_seconds: float) -> _Claim:
    t = Delivery.__table__
    label = f"{row.period}-{row.kind} v{row.version}"
    if row.status == "sent":
        if row.fingerprint != fingerprint:
            raise DeliveryConflict(
                f"Raportti {label} on jo toimitettu eri sisällöllä (sormenjälki {row.fingerprint[:12]}…, nyt "
                f"{fingerprint[:12]}…). Uutta viestiä ei lähetetty; tarkista arkisto."
            )
        return _Claim(row.id, None, True, row.message_id)
    if row.status == "pending" and row.claimed_at is not None and now - _aware(row.claimed_at) < dt.timedelta(seconds=lease_seconds):
        raise DeliveryInProgress(
            f"Raportin {label} toimitus on jo käynnissä toisessa ajossa (aloitettu {_moment_fi(_aware(row.claimed_at))}); "
            "mitään ei lähetetty."
        )
    # Only if nobody claimed the row since it was read (a claim always writes a new token).
    same_claim = t.c.claim_token.is_(None) if row.claim_token is None else t.c.claim_token == row.claim_token
    res = conn.execute(
        update(t).where(t.c.id == row.id, t.c.status != "sent", same_claim)
        .values(status="pending", claim_token=token, claimed_at=now, **values)
    )
    if res.rowcount != 1:
        raise DeliveryInProgress(f"Raportin {label} toimitusta käsittelee toinen ajo; mitään ei lähetetty.")
    return _Claim(row.id, token, False, values["message_id"])


def _record_failed_attempt(engine: Engine, claim: _Claim, reason: str) -> None:
    """Count a failed attempt and renew the claim; stop if another run has taken it over."""
    t = Delivery.__table__
    with engine.begin() as conn:
        res = conn.execute(
            update(t).where(t.c.id == claim.row_id, t.c.claim_token == claim.token)
            .values(attempts=t.c.attempts + 1, last_error=reason, claimed_at=_now())
        )
    if res.rowcount != 1:
        raise DeliveryInProgress("Toinen ajo on ottanut toimituksen hoitaakseen; tämä ajo lopetti lähettämättä.", reason=reason)


def _finish(engine: Engine, claim: _Claim, *, status: Literal["sent", "failed"], last_error: str | None) -> None:
    """Mark the claimed row sent or failed; a few quick retries, since a lost 'sent' means a duplicate later."""
    t = Delivery.__table__
    values: dict = {"status": status, "last_error": last_error, "claim_token": None, "claimed_at": None}
    if status == "sent":
        values |= {"sent_at": _now(), "attempts": t.c.attempts + 1}
        where = [t.c.id == claim.row_id]  # the message is out: record it whoever holds the claim
    else:
        where = [t.c.id == claim.row_id, t.c.claim_token == claim.token, t.c.status != "sent"]
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                conn.execute(update(t).where(*where).values(**values))
            return
        except Exception:
            if attempt == 2:
                raise
            time.sleep(0.5 * 2**attempt)



# ---------------------------------------------------------------------------
# Prefect tasks: the flow's thin wrappers
# ---------------------------------------------------------------------------

# Files of a published report that the archive keeps.
ARCHIVED_FILES = ("report.pdf", "report.html", "indicators.csv", "reconciliation.csv", "manifest.json")


@task(name="archive-report", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def archive_version(archive_root: str, period: str, kind: str, report_dir: str, fingerprint: str, metadata: dict) -> ArchivedVersion:
    """The approved report into the immutable archive: a new version only when its content changed."""
    folder = Path(report_dir)
    files = {name: folder / name for name in ARCHIVED_FILES if (folder / name).exists()}
    return archive_report(Path(archive_root), period, kind, files, fingerprint, metadata)


@task(name="deliver-report", cache_policy=NO_CACHE)
def deliver_report(
    warehouse_url: str, version: ArchivedVersion, *, board: str, title: str, period_text: str,
    approved_by: str, approved_at: dt.datetime, summary_lines: list[str], changes: list[str], publish_dir: str | None = None,
) -> dict:
    """E-mail the archived version to the board, exactly once (retries are deliver_once's own)."""
    from tasks.warehouse import engine_for, migrate

    published = str(publish_to_folder(version, Path(publish_dir))) if publish_dir else None
    settings = smtp_settings()
    if settings is None:
        return {"status": "skipped", "reason": "SMTP-asetuksia ei ole (KATSAUS_SMTP_HOST)", "version": version.version, "published": published}
    message = board_message(
        settings, board=board, title=title, period_text=period_text, version=version, pdf=version.pdf,
        approved_by=approved_by, approved_at=approved_at, summary_lines=summary_lines, changes=changes,
    )
    engine = engine_for(warehouse_url)
    try:
        migrate(engine)
        result = deliver_once(engine, settings, message, period=version.period, kind=version.kind, version=version.version, fingerprint=version.fingerprint)
    finally:
        engine.dispose()
    return {"status": result.status, "attempts": result.attempts, "message_id": result.message_id, "version": version.version, "published": published}


def alert_operators(flow_run_name: str, reason: str, run_url: str | None) -> str:
    """E-mail the operators that a run failed; returns what happened, in Finnish (never raises)."""
    try:
        settings = smtp_settings()
        if settings is None or not settings.ops_mail_to:
            return "ylläpidolle ei lähetetty ilmoitusta: SMTP-asetuksia tai KATSAUS_OPS_MAIL_TO-vastaanottajia ei ole"
        send_alert(settings, operator_alert(settings, flow_run_name=flow_run_name, reason=reason, run_url=run_url))
        return "ylläpidolle lähetettiin ilmoitus"
    except Exception as exc:  # an alert must never hide the failure it reports
        return f"ilmoitus ylläpidolle epäonnistui: {exc}"
