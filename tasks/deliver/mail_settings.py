"""SMTP settings from the environment (`KATSAUS_SMTP_*`, `KATSAUS_MAIL_*`), checked, with the password kept secret."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from pydantic import SecretStr

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
    # How long to wait for the reply to the end of the data: RFC 5321 §4.5.3.2.6 gives the server ten minutes,
    # and a reply given up early is a message that may have been delivered.
    data_timeout: float = 600.0


def smtp_settings(
    env: Mapping[str, str] = os.environ, *, secret_loader: Callable[[str], str | None] | None = None
) -> SmtpSettings | None:
    """SMTP settings from `KATSAUS_SMTP_*` / `KATSAUS_MAIL_*`, or None when no host is configured.

    Without `KATSAUS_SMTP_PASSWORD` the password of `KATSAUS_SMTP_USER` is asked
    of `secret_loader` under the name `katsaus-smtp-password` (the flow passes
    a reader of Prefect's Secret blocks). Raises `SmtpConfigError` naming the variable.
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
        password = secret_loader(SECRET_BLOCK) if secret_loader else None
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
        data_timeout=_env_seconds(env, "KATSAUS_SMTP_DATA_TIMEOUT", default=600.0),
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


def _env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = _env(env, name)
    if value is None:
        return default
    try:
        seconds = float(value.replace(",", "."))
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise SmtpConfigError(f"{name}: {value!r} ei ole sekuntimäärä (positiivinen luku).")
    return seconds


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


def address_only(text: str) -> str:
    return parseaddr(text)[1]


def redact(text: str, settings: SmtpSettings) -> str:
    secret = settings.password.get_secret_value() if settings.password else ""
    return text.replace(secret, "***") if secret else text
