"""An approved, archived version on its way to the board: the publication folder, then one e-mail.

`archive_approved` writes the report's files into the archive as a new
version (or finds the same content already there); `deliver_to_board`
copies its PDF to the publication folder and e-mails it exactly once;
`alert_operators` tells the operators that a run failed, `ask_approvers` the
controllers that a draft waits for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from tasks.contracts.vocab import ARCHIVED_FILES
from tasks.deliver.archive import PDF_NAME, ArchivedVersion, archive_report, publish_to_folder, verified_version
from tasks.deliver.mail_settings import smtp_settings
from tasks.deliver.messages import ApprovalAsk, approval_request, board_message, operator_alert
from tasks.deliver.record import deliver_once
from tasks.deliver.smtp import DeliveryFailed, send_alert

SecretLoader = Callable[[str], str | None]


def archive_approved(
    archive_root: Path, period: str, kind: str, report_dir: Path, fingerprint: str, metadata: dict
) -> ArchivedVersion:
    """The approved report into the immutable archive: a new version only when its content changed."""
    files = {name: report_dir / name for name in ARCHIVED_FILES if (report_dir / name).exists()}
    return archive_report(archive_root, period, kind, files, fingerprint, metadata)


def deliver_to_board(
    engine: Engine,
    version: ArchivedVersion,
    *,
    board: str,
    title: str,
    period_text: str,
    approved_by: str,
    approved_at: dt.datetime,
    summary_lines: list[str],
    changes: list[str],
    publish_dir: Path | None = None,
    secret_loader: SecretLoader | None = None,
) -> dict:
    """Verify the archived version, copy its PDF to the publication folder and e-mail it to the board, exactly once.

    Raises `ArchiveError` when the version's files no longer match their checksums (nothing is published or sent)
    and `DeliveryFailed` when no mail server is configured: an approved report that cannot reach the board is a
    failure for the operators to see, not a quiet success.
    """
    verified_version(version)
    settings = smtp_settings(secret_loader=secret_loader)
    if settings is None:
        raise DeliveryFailed(
            f"Hyväksyttyä raporttia {version.period}-{version.kind} v{version.version} ei voitu lähettää "
            "lautakunnalle: sähköpostiasetuksia ei ole (KATSAUS_SMTP_HOST). Versio on arkistoitu; aseta "
            "sähköpostiasetukset ja aja raportti uudelleen, jolloin sama versio lähetetään."
        )
    published = str(publish_to_folder(version, publish_dir)) if publish_dir else None
    message = board_message(
        settings,
        board=board,
        title=title,
        period_text=period_text,
        version=version,
        pdf=version.pdf,
        approved_by=approved_by,
        approved_at=approved_at,
        summary_lines=summary_lines,
        changes=changes,
    )
    result = deliver_once(
        engine,
        settings,
        message,
        period=version.period,
        kind=version.kind,
        version=version.version,
        fingerprint=version.fingerprint,
        pdf_sha256=version.metadata.get("files", {}).get(PDF_NAME),
    )
    return {
        "status": result.status,
        "attempts": result.attempts,
        "message_id": result.message_id,
        "version": version.version,
        "published": published,
    }


def alert_operators(
    flow_run_name: str, reason: str, run_url: str | None, secret_loader: SecretLoader | None = None
) -> str:
    """E-mail the operators that a run failed; returns what happened, in Finnish (never raises)."""
    try:
        settings = smtp_settings(secret_loader=secret_loader)
        if settings is None or not settings.ops_mail_to:
            return "ylläpidolle ei lähetetty ilmoitusta: SMTP-asetuksia tai KATSAUS_OPS_MAIL_TO-vastaanottajia ei ole"
        send_alert(settings, operator_alert(settings, flow_run_name=flow_run_name, reason=reason, run_url=run_url))
        return "ylläpidolle lähetettiin ilmoitus"
    except Exception as exc:  # an alert must never hide the failure it reports
        return f"ilmoitus ylläpidolle epäonnistui: {exc}"


def ask_approvers(approvers: tuple[str, ...], ask: ApprovalAsk, secret_loader: SecretLoader | None = None) -> str:
    """E-mail the controllers that a draft waits for their approval; returns what happened, in Finnish (never
    raises: the wait goes on, and the UI shows the draft, whether or not the mail went)."""
    try:
        settings = smtp_settings(secret_loader=secret_loader)
        if settings is None or not approvers:
            return "hyväksyjille ei lähetetty ilmoitusta: SMTP-asetuksia tai hyväksyjien osoitteita ei ole"
        send_alert(settings, approval_request(settings, approvers, ask))
        return f"hyväksyjille ilmoitettiin ({', '.join(approvers)})"
    except Exception as exc:  # the approval waits in the UI even if the mail did not go
        return f"ilmoitus hyväksyjille epäonnistui: {exc}"
