"""Exactly-once delivery: the warehouse's `delivery` table as the ledger of what was sent, per version.

`deliver_once` claims the version's row, sends, and marks it sent; a version
already sent is never sent again, whichever run asks.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from reports import fmt
from tasks.deliver.mail_settings import SmtpSettings
from tasks.deliver.messages import moment_fi
from tasks.deliver.smtp import (
    DeliveryConflict,
    DeliveryFailed,
    DeliveryInProgress,
    DeliveryResult,
    envelope_recipients,
    log,
    reply_text,
    send_with_retries,
)
from tasks.warehouse.models import Delivery


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
    logger = log
    claim = _claim(engine, period, kind, version, fingerprint, message_id, envelope_recipients(message), lease_seconds)
    if claim.already_sent:
        logger.info("Raportti %s-%s v%d on jo toimitettu; uutta viestiä ei lähetetty.", period, kind, version)
        return DeliveryResult("already_sent", 0, claim.message_id)
    try:
        attempts, refused = send_with_retries(
            settings,
            message,
            retries,
            backoff_seconds,
            on_failure=lambda f: _record_failed_attempt(engine, claim, f.reason),
        )
    except DeliveryFailed as exc:
        if not isinstance(exc, DeliveryInProgress):
            _finish(engine, claim, status="failed", last_error=exc.reason)
        raise
    note = (
        "; ".join(
            f"vastaanottaja hylättiin: {addr} ({code} {reply_text(text)})" for addr, (code, text) in refused.items()
        )
        or None
    )
    _finish(engine, claim, status="sent", last_error=note)
    if note:
        logger.warning(
            "Raportti %s-%s v%d lähetettiin, mutta osa vastaanottajista hylättiin: %s", period, kind, version, note
        )
    logger.info(
        "Raportti %s-%s v%d lähetettiin (%s).", period, kind, version, fmt.count(attempts, "yritys", "yritystä")
    )
    return DeliveryResult("sent", attempts, message_id, tuple(refused))


def _claim(
    engine: Engine,
    period: str,
    kind: str,
    version: int,
    fingerprint: str,
    message_id: str,
    recipients: list[str],
    lease_seconds: float,
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
                    {
                        "period": period,
                        "kind": kind,
                        "version": version,
                        "status": "pending",
                        "attempts": 0,
                        "created_at": now,
                        "claimed_at": now,
                        "claim_token": token,
                        **values,
                    },
                ).scalar_one()
            return _Claim(row_id, token, False, message_id)
        except IntegrityError:
            continue  # another run inserted the row a moment ago: read it again
    raise DeliveryInProgress(
        f"Raportin {period}-{kind} v{version} toimitusta käsittelee toinen ajo; mitään ei lähetetty."
    )


def _claim_existing(
    conn: Connection, row: Row, fingerprint: str, values: dict, token: str, now: dt.datetime, lease_seconds: float
) -> _Claim:
    t = Delivery.__table__
    label = f"{row.period}-{row.kind} v{row.version}"
    if row.status == "sent":
        if row.fingerprint != fingerprint:
            raise DeliveryConflict(
                f"Raportti {label} on jo toimitettu eri sisällöllä (sormenjälki {row.fingerprint[:12]}…, nyt "
                f"{fingerprint[:12]}…). Uutta viestiä ei lähetetty; tarkista arkisto."
            )
        return _Claim(row.id, None, True, row.message_id)
    if (
        row.status == "pending"
        and row.claimed_at is not None
        and now - _aware(row.claimed_at) < dt.timedelta(seconds=lease_seconds)
    ):
        raise DeliveryInProgress(
            f"Raportin {label} toimitus on jo käynnissä toisessa ajossa (aloitettu "
            f"{moment_fi(_aware(row.claimed_at))}); "
            "mitään ei lähetetty."
        )
    # Only if nobody claimed the row since it was read (a claim always writes a new token).
    same_claim = t.c.claim_token.is_(None) if row.claim_token is None else t.c.claim_token == row.claim_token
    res = conn.execute(
        update(t)
        .where(t.c.id == row.id, t.c.status != "sent", same_claim)
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
            update(t)
            .where(t.c.id == claim.row_id, t.c.claim_token == claim.token)
            .values(attempts=t.c.attempts + 1, last_error=reason, claimed_at=_now())
        )
    if res.rowcount != 1:
        raise DeliveryInProgress(
            "Toinen ajo on ottanut toimituksen hoitaakseen; tämä ajo lopetti lähettämättä.", reason=reason
        )


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
