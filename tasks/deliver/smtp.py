"""Sending over SMTP: one session with STARTTLS and login when configured, retries of transient failures.

Every failure is classified in Finnish (no secrets, no traceback) as transient
(a 4xx reply, a network error: try again) or permanent (5xx, TLS: do not).
One failure is neither: once the whole message and the end of its data have
gone to the server, a lost reply (a timeout, a reset) means the message may
have been delivered. That is `DeliveryUncertain`, never retried automatically.
"""

from __future__ import annotations

import base64
import copy
import io
import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

from reports import fmt
from tasks.deliver.mail_settings import SmtpSettings, address_only, redact

# The flow shows this logger's lines in the run's logs (Prefect's extra loggers).
log = logging.getLogger("katsaus.deliver")


class DeliveryFailed(Exception):
    """The e-mail was not delivered; the message is Finnish, without traceback or credentials."""

    def __init__(self, message: str, *, reason: str = "", attempts: int = 0):
        super().__init__(message)
        self.reason = reason or message
        self.attempts = attempts


class DeliveryUncertain(DeliveryFailed):
    """The whole message reached the server but its reply was lost: it may have been delivered. Only an
    operator's recorded decision sends it again."""


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


class ReplyLost(Exception):
    """The end of the data was sent and no reply came (a timeout or a reset): the server may have the message."""


@dataclass(frozen=True)
class SmtpFailure:
    """Why one SMTP attempt failed (Finnish, no secrets) and whether another attempt may succeed."""

    reason: str
    transient: bool


def reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:200] + " …"


def classify_failure(exc: BaseException, settings: SmtpSettings) -> SmtpFailure:
    """A Finnish reason for an SMTP failure and whether trying again may help (4xx, network) or not (5xx, TLS)."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{addr} ({code} {reply_text(text)})" for addr, (code, text) in exc.recipients.items())
        transient = all(400 <= c < 500 for c in codes)
        verb = "ei juuri nyt hyväksynyt vastaanottajia" if transient else "hylkäsi vastaanottajat"
        failure = SmtpFailure(f"SMTP-palvelin {verb}: {detail}", transient)
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        failure = SmtpFailure(
            f"kirjautuminen SMTP-palvelimelle {where} epäonnistui ({exc.smtp_code} {reply_text(exc.smtp_error)}); "
            "tarkista KATSAUS_SMTP_USER ja salasana",
            400 <= exc.smtp_code < 500,
        )
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, reply_text(exc.smtp_error)
        if 400 <= code < 500:
            failure = SmtpFailure(f"SMTP-palvelin vastasi tilapäisellä virheellä: {code} {text}", True)
        else:
            failure = SmtpFailure(f"SMTP-palvelin hylkäsi viestin: {code} {text}", False)
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        failure = SmtpFailure(
            f"SMTP-palvelin {where} ei tue asetusten edellyttämää STARTTLS-salausta tai kirjautumista", False
        )
    elif isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(exc.__context__, TimeoutError):
        # smtplib turns a read timeout into "Connection unexpectedly closed: timed out".
        failure = SmtpFailure(
            f"SMTP-palvelin {where} ei vastannut {fmt.short(settings.timeout)} sekunnin kuluessa", True
        )
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
        failure = SmtpFailure(
            f"TLS-yhteyden muodostus SMTP-palvelimelle {where} epäonnistui ({exc.reason or 'tuntematon syy'})", False
        )
    elif isinstance(exc, TimeoutError):
        failure = SmtpFailure(
            f"SMTP-palvelin {where} ei vastannut {fmt.short(settings.timeout)} sekunnin kuluessa", True
        )
    elif isinstance(exc, ConnectionRefusedError):
        failure = SmtpFailure(f"SMTP-palvelin {where} ei ota yhteyksiä vastaan (yhteys evätty)", True)
    elif isinstance(exc, socket.gaierror):
        failure = SmtpFailure(f"SMTP-palvelimen nimeä {settings.host} ei voitu selvittää", True)
    elif isinstance(exc, OSError):
        failure = SmtpFailure(
            f"verkkovirhe yhteydessä SMTP-palvelimeen {where}: {exc.strerror or type(exc).__name__}", True
        )
    elif isinstance(exc, smtplib.SMTPException):
        failure = SmtpFailure(f"SMTP-virhe yhteydessä palvelimeen {where} ({type(exc).__name__})", False)
    else:
        failure = SmtpFailure(f"odottamaton virhe sähköpostin lähetyksessä ({type(exc).__name__})", False)
    return SmtpFailure(redact(failure.reason, settings), failure.transient)


def envelope_recipients(message: EmailMessage) -> list[str]:
    fields = [v for h in ("To", "Cc", "Bcc") for v in message.get_all(h, [])]
    return [addr for _, addr in getaddresses(fields) if addr]


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if settings.ca_file is not None:
        ctx.load_verify_locations(cafile=str(settings.ca_file))
    return ctx


def message_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over the wire: Bcc left out, CRLF line ends (as `smtplib.send_message` sends it).
    The delivery ledger keeps these bytes, so a resend is the very same message."""
    wire = copy.copy(message)
    del wire["Bcc"]
    del wire["Resent-Bcc"]
    with io.BytesIO() as out:
        BytesGenerator(out, policy=wire.policy).flatten(wire, linesep="\r\n")
        return out.getvalue()


def _transaction(
    smtp: smtplib.SMTP,
    sender: str,
    recipients: list[str],
    raw: bytes,
    reply_timeout: float,
    before_end: Callable[[], None] | None = None,
) -> dict[str, tuple[int, bytes]]:
    """MAIL, RCPT for each recipient, DATA; returns the recipients refused while others were accepted.

    `before_end` runs just before the data and its end go out (the ledger records that the message may be
    delivered from then on). Raises `ReplyLost` when the end of the data was sent and its reply never came.
    """
    code, reply = smtp.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for rcpt in recipients:
        code, reply = smtp.rcpt(rcpt)
        if code not in (250, 251):
            refused[rcpt] = (code, reply)
    if len(refused) == len(recipients):
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = smtp.docmd("DATA")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    data = re.sub(rb"(?m)^\.", b"..", raw)  # a line starting with a dot is doubled (RFC 5321 §4.5.2)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if before_end is not None:
        before_end()
    smtp.send(data + b".\r\n")
    # From here the server may hold the whole message: a reply that does not come is not a failure to send.
    try:
        if smtp.sock is not None:
            smtp.sock.settimeout(reply_timeout)
        code, reply = smtp.getreply()
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise ReplyLost(str(exc)) from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return refused


def _smtp_send(
    settings: SmtpSettings, raw: bytes, recipients: list[str], before_end: Callable[[], None] | None = None
) -> dict[str, tuple[int, bytes]]:
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
        return _transaction(smtp, address_only(settings.mail_from), recipients, raw, settings.data_timeout, before_end)
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


def send_with_retries(
    settings: SmtpSettings,
    message: EmailMessage | bytes,
    retries: int,
    backoff_seconds: float,
    on_failure: Callable[[SmtpFailure], None] | None = None,
    recipients: list[str] | None = None,
    before_end: Callable[[], None] | None = None,
) -> tuple[int, dict[str, tuple[int, bytes]]]:
    """Send, retrying transient failures with exponential backoff; returns (attempts, refused).

    `message` is an e-mail or its bytes as sent before (then `recipients` says to whom). Raises
    `DeliveryFailed` after a permanent failure or the last attempt, and `DeliveryUncertain` at once when the
    message went out but its reply was lost (a retry could deliver it twice).
    """
    if retries < 0 or backoff_seconds < 0:
        raise ValueError("retries and backoff_seconds must not be negative")
    raw = message if isinstance(message, bytes) else message_bytes(message)
    if recipients is None:
        recipients = envelope_recipients(message) if isinstance(message, EmailMessage) else []
    if not recipients:
        raise ValueError("Viestillä ei ole vastaanottajia.")
    logger = log
    total = retries + 1
    for attempt in range(1, total + 1):
        try:
            return attempt, _smtp_send(settings, raw, recipients, before_end)
        except DeliveryFailed:
            raise  # the ledger lost this run's claim before the data went out: nothing was sent
        except ReplyLost as exc:
            where = f"{settings.host}:{settings.port}"
            reason = redact(
                f"viesti lähetettiin palvelimelle {where}, mutta sen kuittausta ei saatu ({exc}); viesti voi olla "
                "toimitettu",
                settings,
            )
            raise DeliveryUncertain(
                f"Toimitus epävarma: {reason}. Viestiä ei lähetetty uudelleen automaattisesti.",
                reason=reason,
                attempts=attempt,
            ) from None
        except Exception as exc:  # noqa: BLE001 - every failure before the end of the data means "not sent"
            error = exc
            failure = classify_failure(exc, settings)
        if on_failure is not None:
            on_failure(failure)
        if not failure.transient or attempt == total:
            permanent = "" if failure.transient else " Virhe on pysyvä, joten lähetystä ei yritetty uudelleen."
            known = isinstance(error, (smtplib.SMTPException, OSError))
            # An unexpected error keeps its cause for debugging; SMTP errors are fully described already.
            raise DeliveryFailed(
                f"Sähköpostin lähetys epäonnistui ({fmt.count(attempt, 'yritys', 'yritystä')}): "
                f"{failure.reason}.{permanent}",
                reason=failure.reason,
                attempts=attempt,
            ) from (None if known else error)
        delay = backoff_seconds * 2 ** (attempt - 1)
        logger.warning(
            "Sähköpostin lähetys epäonnistui (yritys %d/%d): %s. Uusi yritys %s s kuluttua.",
            attempt,
            total,
            failure.reason,
            fmt.short(delay),
        )
        time.sleep(delay)
    raise AssertionError("unreachable")


def send_alert(settings: SmtpSettings, message: EmailMessage, *, retries: int = 4, backoff_seconds: float = 1.0) -> int:
    """Send an operator alert with the same retry rules as reports (no exactly-once ledger); returns attempts."""
    attempts, _ = send_with_retries(settings, message, retries, backoff_seconds)
    return attempts
