"""The Finnish e-mails: an approved report version to the board, a draft waiting for its approvers, and an alert to
the operators."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from reports import fmt
from tasks.contracts import local_zone
from tasks.deliver.archive import ArchivedVersion, pdf_file_name
from tasks.deliver.mail_settings import SmtpConfigError, SmtpSettings, address_only, redact


def _mail_domain(settings: SmtpSettings) -> str:
    domain = address_only(settings.mail_from).rpartition("@")[2]
    try:
        return domain.encode("idna").decode("ascii") or "katsaus.invalid"
    except UnicodeError:
        return "katsaus.invalid"


def report_message_id(settings: SmtpSettings, period: str, kind: str, version: int, fingerprint: str) -> str:
    """Deterministic Message-ID of a report version: a resent copy carries the same one."""
    # Short enough that the header is not folded with a domain of ordinary length.
    digest = hashlib.sha256(f"{period}\n{kind}\n{version}\n{fingerprint}".encode()).hexdigest()[:16]
    return f"<katsaus-{period}-{kind}-v{version}-{digest}@{_mail_domain(settings)}>"


def date_fi(moment: dt.datetime) -> str:
    """`31.8.2024`, in Helsinki time when the moment has a zone."""
    local = moment.astimezone(local_zone()) if moment.tzinfo else moment
    return fmt.date(local.date())


def moment_fi(moment: dt.datetime) -> str:
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
        board=board,
        title=title,
        period_text=period_text,
        version=number,
        replaces=version.previous.version if version.previous else number - 1,
        attachment=attachment,
        pdf_sha256=hashlib.sha256(pdf_bytes).hexdigest(),
        approved_by=approved_by,
        approved_at=approved_at,
        summary_lines=summary_lines,
        changes=changes,
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
            f"Liitteenä on hyväksytyn raportin korjattu versio {version}. Se korvaa aiemmin toimitetun "
            f"version {replaces}.",
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
        f"Hyväksyjä: {approved_by}, {date_fi(approved_at)}",
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
    link = (
        f"Ajo Prefectissä: {run_url}"
        if run_url
        else f"Linkkiä ajoon ei ole; etsi ajo {flow_run_name} Prefectin käyttöliittymästä."
    )
    body = (
        "\n".join(
            [
                "Hei,",
                "",
                f"Ajastettu katsaus-ajo {flow_run_name} epäonnistui.",
                "",
                f"Syy: {_clean_reason(reason, settings)}",
                "",
                link,
                "",
                "Tämä on automaattinen ilmoitus katsaus-raportointijärjestelmästä.",
            ]
        )
        + "\n"
    )
    msg = _base_message(settings, f"katsaus-ajo epäonnistui: {flow_run_name}", settings.ops_mail_to)
    msg["Message-ID"] = make_msgid("katsaus-alert", domain=_mail_domain(settings))
    msg.set_content(body)
    msg["Content-Language"] = "fi"
    return msg


@dataclass(frozen=True)
class ApprovalAsk:
    """What the approvers are told of a draft that waits for them."""

    title: str  # `3. toteutumisennuste 2024`
    period_text: str  # `tammi–elokuu 2024`
    summary_lines: list[str]
    draft_link: str
    approval_link: str | None  # the run's page in the Prefect UI, where the form is
    answer_by: dt.datetime
    reminder: bool = False  # again, shortly before the wait ends


def approval_request(settings: SmtpSettings, to: tuple[str, ...], ask: ApprovalAsk) -> EmailMessage:
    """*Luonnos odottaa hyväksyntää*: the controllers are told that a draft waits, what it says, where to read it
    and where to answer, and by when."""
    where = (
        f"Hyväksy tai hylkää Prefectin käyttöliittymässä: {ask.approval_link}"
        if ask.approval_link
        else "Hyväksy tai hylkää ajo Prefectin käyttöliittymässä (Resume-painike ajon sivulla)."
    )
    body = "\n".join(
        [
            "Hei,",
            "",
            f"{ask.title} ({ask.period_text}) on valmis luonnoksena ja odottaa hyväksyntää.",
            "",
            *ask.summary_lines,
            "",
            f"Luonnos: {ask.draft_link}",
            where,
            "",
            f"Vastausta odotetaan {moment_fi(ask.answer_by)} asti; sen jälkeen ajo päättyy eikä raporttia toimiteta.",
            "",
            "Tämä on automaattinen ilmoitus katsaus-raportointijärjestelmästä.",
        ]
    )
    subject = f"Luonnos odottaa hyväksyntää: {ask.title}, {ask.period_text}"
    msg = _base_message(settings, f"Muistutus: {fmt.lower_first(subject)}" if ask.reminder else subject, to)
    msg["Message-ID"] = make_msgid("katsaus-approval", domain=_mail_domain(settings))
    msg.set_content(body + "\n")
    msg["Content-Language"] = "fi"
    return msg


def encoded_subject(subject: str) -> str:
    """A subject with letters outside ASCII as RFC 2047 encoded words, folded to lines a mail server takes, the same
    on every Python. (The standard library's own folder, from Python 3.12.5 and in 3.13, can join an encoded space
    to the next encoded word, `=?utf-8?q?_?==?utf-8?q?tammi…`: not valid, refused by some mail services and shown
    by others with a double space; CPython gh-144156.)"""
    if subject.isascii():
        return subject
    # 76: with the folding space, no encoded word is over RFC 2047's 75 characters.
    return Header(subject, "utf-8", header_name="Subject", maxlinelen=76).encode(linesep="\n")


def _base_message(settings: SmtpSettings, subject: str, to: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    # Stored as encoded: lines this short are not folded again when the message is written.
    msg.set_raw("Subject", encoded_subject(subject))
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(dt.datetime.now(local_zone()))
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a machine
    return msg


_TRACEBACK = "Traceback (most recent call last)"


def _clean_reason(reason: str, settings: SmtpSettings) -> str:
    """A reason fit for an e-mail: no traceback, no password, not endless."""
    text = reason.split(_TRACEBACK, 1)[0].strip() or "syy ei ole tiedossa"
    text = redact(text, settings)
    return text if len(text) <= 2000 else text[:2000] + " …"
