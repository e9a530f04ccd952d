"""Exactly-once delivery: the warehouse's `delivery` table as the ledger of what was sent, per version.

`deliver_once` claims the version's row, sends, and marks it sent; a version
already sent is never sent again, whichever run asks. A message whose reply was
lost after it went out is `uncertain`: only `resend` (an operator's recorded
decision) sends it again, as the very same message.
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
    DeliveryUncertain,
    envelope_recipients,
    log,
    message_bytes,
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
    key: tuple[str, str, int]  # period, kind, version
    raw: bytes = b""
    # Whom this claim sends to: every recipient, or those a `partial` delivery has still to reach.
    targets: tuple[str, ...] = ()
    # Every recipient of the message: a failure to reach fewer than these leaves the delivery `partial`.
    everyone: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return _label(*self.key)

    @property
    def resend_command(self) -> str:
        return resend_command(*self.key)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite gives back the UTC wall time without a zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _label(period: str, kind: str, version: int) -> str:
    return f"{period}-{kind} v{version}"


def resend_command(period: str, kind: str, version: int) -> str:
    """The operator's command that resends an uncertain or unfinished delivery."""
    return f"katsaus resend --period {period} --kind {kind} --version {version} --by NIMI"


def deliver_once(
    engine: Engine,
    settings: SmtpSettings,
    message: EmailMessage,
    *,
    period: str,
    kind: str,
    version: int,
    fingerprint: str,
    pdf_sha256: str | None = None,
    retries: int = 4,
    backoff_seconds: float = 1.0,
    lease_seconds: float = 900.0,
) -> DeliveryResult:
    """Send `message` for (period, kind, version) unless the `delivery` ledger says it was sent.

    1. Claim the ledger row: insert it as `pending` with the message's bytes, or
       take over a `failed` or `partial` row or a `pending` row whose claim is
       older than `lease_seconds` (its run died before the message went out). A
       fresh claim of another run raises `DeliveryInProgress`; a `sent` row
       returns `already_sent`; an `uncertain` row raises `DeliveryUncertain`.
       Claims are conditional updates, so two runs never both own the row.
    2. Send over SMTP, retrying transient failures before the message goes out —
       refused connection, timeout, disconnect, 4xx replies — after
       `backoff_seconds` × 1, 2, 4, …; a permanent 5xx or TLS failure is not
       retried. Just before the end of the data is sent the row becomes
       `uncertain`: a run killed from then on leaves it so, and a reply lost
       then (a timeout, a reset) keeps it so. Neither is resent automatically.
    3. On a 250 reply mark the row `sent`. Recipients refused for now (4xx) while
       others accepted the message are tried again, alone, with the same bytes;
       still refused after the retries, the row is `partial` with them as
       `outstanding`, and a later call sends only to them.

    The one window no mail protocol closes: the server accepted the message and
    its reply was lost. The ledger then says `uncertain` ("voi olla toimitettu")
    and an operator decides (`resend`); the resend carries the same Message-ID,
    so mail clients and archives treat both copies as one message.
    """
    message_id = message["Message-ID"]
    if not message_id:
        raise ValueError("Viestistä puuttuu Message-ID.")
    claim = _claim(
        engine,
        period,
        kind,
        version,
        {
            "fingerprint": fingerprint,
            "message_id": message_id,
            "recipients": ", ".join(envelope_recipients(message)),
            "raw_message": message_bytes(message),
            "pdf_sha256": pdf_sha256,
        },
        lease_seconds,
    )
    if claim.already_sent:
        log.info("Raportti %s on jo toimitettu; uutta viestiä ei lähetetty.", claim.label)
        return DeliveryResult("already_sent", 0, claim.message_id)
    return _send_claimed(engine, settings, claim, retries, backoff_seconds)


def resend(
    engine: Engine,
    settings: SmtpSettings,
    *,
    period: str,
    kind: str,
    version: int,
    by: str,
    retries: int = 4,
    backoff_seconds: float = 1.0,
    lease_seconds: float = 900.0,
) -> DeliveryResult:
    """An operator's decision to send an `uncertain`, `failed` or `partial` delivery again, recorded in the ledger
    (`resend_by`, `resend_at`): the very bytes of the first attempt, to the recipients still to reach."""
    if not by.strip():
        raise ValueError("Uudelleenlähetykselle tarvitaan päättäjän nimi (--by).")
    t = Delivery.__table__
    label = _label(period, kind, version)
    token, now = uuid.uuid4().hex, _now()
    with engine.begin() as conn:
        row = conn.execute(select(t).where(t.c.period == period, t.c.kind == kind, t.c.version == version)).first()
        if row is None:
            raise DeliveryFailed(f"Raportin {label} toimitusta ei ole kirjattu; uudelleen lähetettävää ei ole.")
        if row.status == "sent":
            raise DeliveryFailed(
                f"Raportti {label} on jo toimitettu {moment_fi(_aware(row.sent_at))}; sitä ei lähetetty."
            )
        if _fresh_claim(row, now, lease_seconds):
            raise DeliveryInProgress(f"Raportin {label} toimitus on parhaillaan käynnissä; mitään ei lähetetty.")
        if not row.raw_message:
            raise DeliveryFailed(f"Raportin {label} viestiä ei ole tallennettu; aja raportti uudelleen.")
        res = conn.execute(
            update(t)
            .where(t.c.id == row.id, t.c.status == row.status, _same_claim(row))
            .values(status="pending", claim_token=token, claimed_at=now, resend_by=by.strip(), resend_at=now)
        )
        if res.rowcount != 1:
            raise DeliveryInProgress(f"Raportin {label} toimitusta käsittelee toinen ajo; mitään ei lähetetty.")
    log.warning("Raportti %s lähetetään uudelleen ylläpidon päätöksellä (%s).", label, by.strip())
    claim = _Claim(
        row.id, token, False, row.message_id, (period, kind, version), row.raw_message, _targets(row), _everyone(row)
    )
    return _send_claimed(engine, settings, claim, retries, backoff_seconds)


def _everyone(row: Row) -> tuple[str, ...]:
    return tuple(a.strip() for a in row.recipients.split(",") if a.strip())


def _targets(row: Row) -> tuple[str, ...]:
    listed = row.outstanding if row.status == "partial" and row.outstanding else row.recipients
    return tuple(a.strip() for a in listed.split(",") if a.strip())


def _send_claimed(
    engine: Engine, settings: SmtpSettings, claim: _Claim, retries: int, backoff_seconds: float
) -> DeliveryResult:
    """Send the claimed row's message to its targets; recipients refused for now are tried again, alone."""
    targets, refused_for_good, attempts = list(claim.targets), {}, 0
    for round_ in range(1, retries + 2):
        try:
            tried, refused = send_with_retries(
                settings,
                claim.raw,
                retries,
                backoff_seconds,
                on_failure=lambda f: _record_failed_attempt(engine, claim, f.reason),
                recipients=targets,
                before_end=lambda: _mark_going_out(engine, claim),
            )
        except DeliveryUncertain as exc:
            _finish(engine, claim, status="uncertain", last_error=exc.reason)
            raise DeliveryUncertain(
                f"Raportin {claim.label} toimitus epävarma: {exc.reason}. Sitä ei lähetetä automaattisesti "
                f"uudelleen; tarkista vastaanottajilta ja lähetä tarvittaessa: {claim.resend_command}",
                reason=exc.reason,
                attempts=exc.attempts,
            ) from None
        except DeliveryFailed as exc:
            if isinstance(exc, DeliveryInProgress):
                raise
            if set(targets) == set(claim.everyone):
                _finish(engine, claim, status="failed", last_error=exc.reason)
                raise
            # Some recipients have it already: the rest are left for the next run, never the others again.
            _finish(engine, claim, status="partial", last_error=exc.reason, outstanding=targets)
            raise _still_to_reach(claim, targets, exc.reason, attempts + exc.attempts) from None
        attempts += tried
        later = {a: r for a, r in refused.items() if 400 <= r[0] < 500}
        refused_for_good |= {a: r for a, r in refused.items() if a not in later}
        if not later:
            break
        reason = "; ".join(f"{a} ({code} {reply_text(text)})" for a, (code, text) in later.items())
        if round_ == retries + 1:
            _finish(engine, claim, status="partial", last_error=reason, outstanding=list(later))
            raise _still_to_reach(claim, list(later), reason, attempts)
        _record_partial(engine, claim, list(later), reason)
        targets = list(later)
        time.sleep(backoff_seconds * 2 ** (round_ - 1))
    note = (
        "; ".join(
            f"vastaanottaja hylättiin: {a} ({code} {reply_text(text)})" for a, (code, text) in refused_for_good.items()
        )
        or None
    )
    _finish(engine, claim, status="sent", last_error=note)
    if note:
        log.warning("Raportti %s lähetettiin, mutta osa vastaanottajista hylättiin: %s", claim.label, note)
    log.info("Raportti %s lähetettiin (%s).", claim.label, fmt.count(attempts, "yritys", "yritystä"))
    return DeliveryResult("sent", attempts, claim.message_id, tuple(refused_for_good))


def _still_to_reach(claim: _Claim, outstanding: list[str], reason: str, attempts: int) -> DeliveryFailed:
    who = fmt.count(len(outstanding), "vastaanottaja", "vastaanottajaa")
    return DeliveryFailed(
        f"Raportti {claim.label} lähetettiin, mutta {who} ei juuri nyt ottanut sitä vastaan: {reason}. Heille "
        f"lähetetään seuraavalla ajokerralla tai komennolla {claim.resend_command}.",
        reason=reason,
        attempts=attempts,
    )


def _fresh_claim(row: Row, now: dt.datetime, lease_seconds: float) -> bool:
    return (
        row.claim_token is not None
        and row.claimed_at is not None
        and now - _aware(row.claimed_at) < dt.timedelta(seconds=lease_seconds)
    )


def _same_claim(row: Row):
    """Only if nobody claimed the row since it was read (a claim always writes a new token)."""
    t = Delivery.__table__
    return t.c.claim_token.is_(None) if row.claim_token is None else t.c.claim_token == row.claim_token


def _claim(engine: Engine, period: str, kind: str, version: int, values: dict, lease_seconds: float) -> _Claim:
    """Own the ledger row of this version, or learn that it was sent already."""
    t = Delivery.__table__
    key = (t.c.period == period, t.c.kind == kind, t.c.version == version)
    label, ident = _label(period, kind, version), (period, kind, version)
    for _ in range(3):
        token, now = uuid.uuid4().hex, _now()
        with engine.begin() as conn:
            row = conn.execute(select(t).where(*key)).first()
            if row is not None:
                return _claim_existing(conn, row, ident, values, token, now, lease_seconds)
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
            recipients = tuple(a.strip() for a in values["recipients"].split(","))
            return _Claim(
                row_id, token, False, values["message_id"], ident, values["raw_message"], recipients, recipients
            )
        except IntegrityError:
            continue  # another run inserted the row a moment ago: read it again
    raise DeliveryInProgress(f"Raportin {label} toimitusta käsittelee toinen ajo; mitään ei lähetetty.")


def _claim_existing(
    conn: Connection,
    row: Row,
    ident: tuple[str, str, int],
    values: dict,
    token: str,
    now: dt.datetime,
    lease_seconds: float,
) -> _Claim:
    t = Delivery.__table__
    label = _label(*ident)
    if row.status == "sent":
        if row.fingerprint != values["fingerprint"]:
            raise DeliveryConflict(
                f"Raportti {label} on jo toimitettu eri sisällöllä (sormenjälki {row.fingerprint[:12]}…, nyt "
                f"{values['fingerprint'][:12]}…). Uutta viestiä ei lähetetty; tarkista arkisto."
            )
        return _Claim(row.id, None, True, row.message_id, ident)
    if _fresh_claim(row, now, lease_seconds):
        raise DeliveryInProgress(
            f"Raportin {label} toimitus on jo käynnissä toisessa ajossa (aloitettu "
            f"{moment_fi(_aware(row.claimed_at))}); mitään ei lähetetty."
        )
    if row.status == "uncertain":
        why = row.last_error or "kuittausta ei saatu"
        raise DeliveryUncertain(
            f"Raportin {label} toimitus on epävarma: viesti voi olla toimitettu ({why}). Sitä ei lähetetä "
            "automaattisesti uudelleen; tarkista vastaanottajilta ja lähetä tarvittaessa: "
            f"{resend_command(row.period, row.kind, row.version)}",
            reason=why,
        )
    # A `partial` delivery sends the rest the same bytes; a `failed` or abandoned `pending` one sent nothing.
    keep = row.status == "partial" and row.raw_message
    update_values = {k: v for k, v in values.items() if not (keep and k in ("raw_message", "message_id"))}
    res = conn.execute(
        update(t)
        .where(t.c.id == row.id, t.c.status == row.status, _same_claim(row))
        .values(status="pending", claim_token=token, claimed_at=now, **update_values)
    )
    if res.rowcount != 1:
        raise DeliveryInProgress(f"Raportin {label} toimitusta käsittelee toinen ajo; mitään ei lähetetty.")
    raw = row.raw_message if keep else values["raw_message"]
    message_id = row.message_id if keep else values["message_id"]
    everyone = _everyone(row) if keep else tuple(a.strip() for a in values["recipients"].split(","))
    targets = _targets(row) if row.status == "partial" else everyone
    return _Claim(row.id, token, False, message_id, ident, raw, targets, everyone)


def _mark_going_out(engine: Engine, claim: _Claim) -> None:
    """Just before the end of the data goes out: from now on the message may be delivered, so a run that dies or
    loses the reply leaves the row `uncertain`, never to be resent automatically. Stops if the claim was lost."""
    t = Delivery.__table__
    with engine.begin() as conn:
        res = conn.execute(
            update(t)
            .where(t.c.id == claim.row_id, t.c.claim_token == claim.token)
            .values(status="uncertain", last_error="viesti lähetettiin, kuittausta odotetaan", claimed_at=_now())
        )
    if res.rowcount != 1:
        raise DeliveryInProgress("Toinen ajo on ottanut toimituksen hoitaakseen; tämä ajo lopetti lähettämättä.")


def _record_failed_attempt(engine: Engine, claim: _Claim, reason: str) -> None:
    """Count a failed attempt (the server's clear refusal: nothing delivered) and renew the claim; stop if another
    run has taken it over."""
    t = Delivery.__table__
    with engine.begin() as conn:
        res = conn.execute(
            update(t)
            .where(t.c.id == claim.row_id, t.c.claim_token == claim.token)
            .values(status="pending", attempts=t.c.attempts + 1, last_error=reason, claimed_at=_now())
        )
    if res.rowcount != 1:
        raise DeliveryInProgress(
            "Toinen ajo on ottanut toimituksen hoitaakseen; tämä ajo lopetti lähettämättä.", reason=reason
        )


def _record_partial(engine: Engine, claim: _Claim, outstanding: list[str], reason: str) -> None:
    """The message reached some recipients; those refused for now are still to reach (the claim is kept)."""
    t = Delivery.__table__
    with engine.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.id == claim.row_id, t.c.claim_token == claim.token)
            .values(
                status="partial",
                outstanding=", ".join(outstanding),
                attempts=t.c.attempts + 1,
                last_error=f"vastaanottaja ei juuri nyt ottanut viestiä vastaan: {reason}",
                claimed_at=_now(),
            )
        )


def _finish(
    engine: Engine,
    claim: _Claim,
    *,
    status: Literal["sent", "failed", "partial", "uncertain"],
    last_error: str | None,
    outstanding: list[str] | None = None,
) -> None:
    """Mark the claimed row and release the claim; a few quick retries, since a lost 'sent' means a duplicate later."""
    t = Delivery.__table__
    values: dict = {"status": status, "last_error": last_error, "claim_token": None, "claimed_at": None}
    values["outstanding"] = ", ".join(outstanding) if status == "partial" and outstanding else None
    if status == "sent":
        values |= {"sent_at": _now(), "attempts": t.c.attempts + 1}
        where = [t.c.id == claim.row_id]  # the message is out: record it whoever holds the claim
    else:
        if status == "uncertain":
            values["attempts"] = t.c.attempts + 1
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
