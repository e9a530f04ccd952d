"""Archive and exactly-once e-mail delivery, against a real SMTP server (aiosmtpd) and real databases."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from reports import fmt
from tasks.deliver import archive as arch
from tasks.deliver import mail_settings, messages, record, smtp
from tasks.warehouse import models as wh_models
from tests.smtp_recorder import Recorder, Smtp, free_port, mail_env, make_controller

PASSWORD = "Sal@sana-äö-7f3c9e"  # non-ASCII on purpose: smtplib alone cannot send it
BOARD = "Sosiaali-, terveys- ja pelastuslautakunta"
TITLE = "3. toteutumisennuste 2024"
PERIOD_TEXT = "tammi–elokuu 2024"
APPROVED_AT = dt.datetime(2024, 8, 31, 9, 30, tzinfo=dt.UTC)
# As the flow formats them: no-break spaces in numbers, U+2212 minus.
SUMMARY = [
    f"Toimintakate tammi–elokuu 2024: {fmt.millions(-1_812_412_000)}",
    f"Ennuste alittaa talousarvion {fmt.millions(12_300_000)}",
]


# --- helpers and fixtures ------------------------------------------------------


def settings_for(port: int, **kw) -> mail_settings.SmtpSettings:
    base = mail_settings.SmtpSettings(
        host="127.0.0.1",
        port=port,
        starttls=False,
        mail_from="Katsaus <katsaus@stadi.example>",
        mail_to=("sihteeri@stadi.example", "kirjaamo@stadi.example"),
        ops_mail_to=("yllapito@stadi.example",),
        timeout=5,
    )
    return replace(base, **kw)


def write_report(folder: Path, content: bytes = b"sivu 1") -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "report.pdf": b"%PDF-1.7\n" + content + b"\n%%EOF\n",
        "report.html": b"<html lang='fi'>" + content + b"</html>",
        "indicators.csv": "\ufeffid;name\r\nM1;Hoitoonpääsy\r\n".encode(),
        "reconciliation.csv": "\ufeffcheck;status\r\nsitova_taso;ok\r\n".encode(),
        "manifest.json": json.dumps({"period": "2024-08"}).encode(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def archive(root: Path, tmp_path: Path, fingerprint: str, content: bytes = b"sivu 1") -> arch.ArchivedVersion:
    files = write_report(tmp_path / f"out-{fingerprint}", content)
    meta = {"approved_by": "Maija Meikäläinen", "approved_at": APPROVED_AT.isoformat(), "prefect_flow_run_id": "run-1"}
    return arch.archive_report(root, "2024-08", "forecast", files, fingerprint, meta)


def message_for(settings: mail_settings.SmtpSettings, version: arch.ArchivedVersion, changes: list[str] | None = None):
    return messages.board_message(
        settings,
        board=BOARD,
        title=TITLE,
        period_text=PERIOD_TEXT,
        version=version,
        pdf=version.pdf,
        approved_by="Maija Meikäläinen",
        approved_at=APPROVED_AT,
        summary_lines=SUMMARY,
        changes=changes or [],
    )


def deliver(engine, settings, version, message=None, **kw) -> smtp.DeliveryResult:
    message = message or message_for(settings, version)
    kw.setdefault("backoff_seconds", 0.01)
    return record.deliver_once(
        engine,
        settings,
        message,
        period="2024-08",
        kind="forecast",
        version=version.version,
        fingerprint=version.fingerprint,
        **kw,
    )


def ledger(engine) -> list:
    with engine.connect() as c:
        return c.execute(select(wh_models.Delivery).order_by(wh_models.Delivery.version)).all()


def body_of(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # CRLF after the SMTP trip


# --- archive -----------------------------------------------------------------


def test_archive_writes_a_read_only_version_with_checksums(tmp_path):
    root = tmp_path / "archive"
    v1 = archive(root, tmp_path, "f1")
    assert v1.new and v1.version == 1 and v1.previous is None
    assert v1.path == root / "2024-08-forecast" / "v1"
    names = sorted(p.name for p in v1.path.iterdir())
    assert names == sorted(
        [
            "report.pdf",
            "report.html",
            "indicators.csv",
            "reconciliation.csv",
            "manifest.json",
            "metadata.json",
            "SHA256SUMS",
        ]
    )
    for p in [v1.path, *v1.path.iterdir()]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o222 == 0, p
    meta = json.loads((v1.path / "metadata.json").read_text(encoding="utf-8"))
    assert meta["fingerprint"] == "f1" and meta["version"] == 1 and meta["approved_by"] == "Maija Meikäläinen"
    assert meta["files"]["report.pdf"] == hashlib.sha256((v1.path / "report.pdf").read_bytes()).hexdigest()
    assert dt.datetime.fromisoformat(meta["created_at"]).tzinfo is not None
    assert arch.verify_archive(v1.path) == []
    if shutil.which("sha256sum"):
        # The real tool accepts the file: the format is `sha256sum`'s own.
        check = subprocess.run(
            ["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=v1.path, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
    # Nothing hidden (no partial folder) is left behind.
    assert [p.name for p in v1.path.parent.iterdir()] == ["v1"]


def test_same_fingerprint_writes_nothing_new_fingerprint_writes_v2(tmp_path):
    root = tmp_path / "archive"
    v1 = archive(root, tmp_path, "f1")
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in v1.path.iterdir()}
    again = archive(root, tmp_path, "f1", content=b"sivu 1 (uusi hyvaksymisleima)")
    assert not again.new and again.version == 1 and again.path == v1.path
    assert sorted(p.name for p in v1.path.parent.iterdir()) == ["v1"]
    v2 = archive(root, tmp_path, "f2", content=b"sivu 1 korjattu")
    assert v2.new and v2.version == 2 and v2.previous.version == 1 and v2.previous.fingerprint == "f1"
    assert v2.metadata["previous_version"] == 1
    assert (v2.path / "report.pdf").read_bytes().endswith(b"korjattu\n%%EOF\n")
    # v1 untouched, byte for byte and time stamp for time stamp.
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in v1.path.iterdir()} == before
    latest = arch.latest_version(root, "2024-08", "forecast")
    assert (latest.version, latest.fingerprint, latest.previous.version) == (2, "f2", 1)
    assert arch.latest_version(root, "2024-06", "forecast") is None


def test_verify_archive_detects_tampering(tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    pdf = v1.path / "report.pdf"
    os.chmod(v1.path, 0o755)
    os.chmod(pdf, 0o644)
    pdf.write_bytes(pdf.read_bytes() + b"x")
    (v1.path / "indicators.csv").unlink()
    (v1.path / "muistiinpano.txt").write_text("lisätty", encoding="utf-8")
    problems = arch.verify_archive(v1.path)
    assert problems == [
        "2024-08-forecast/v1: tiedosto puuttuu: indicators.csv",
        "2024-08-forecast/v1: tarkistussumma ei täsmää, tiedostoa on muutettu: report.pdf",
        "2024-08-forecast/v1: tiedosto ei kuulu arkistoversioon: muistiinpano.txt",
    ]
    sums = v1.path / "SHA256SUMS"
    sums.chmod(0o644)
    sums.write_text(sums.read_text() + f"{'0' * 64}  ../../ulkopuolella.txt\n")
    assert "2024-08-forecast/v1: SHA256SUMS rivi 7 on virheellinen" in arch.verify_archive(v1.path)
    sums.unlink()
    assert arch.verify_archive(v1.path) == ["2024-08-forecast/v1: tarkistussummatiedosto SHA256SUMS puuttuu"]
    assert arch.verify_archive(tmp_path / "nothing" / "v9") == ["nothing/v9: arkistoversiota ei ole"]


@pytest.mark.parametrize("rename", ["renameat2", "portable"])
@pytest.mark.parametrize("occupant", ["another version", "empty folder"])
def test_version_appearing_concurrently_fails_and_is_not_overwritten(tmp_path, monkeypatch, occupant, rename):
    if rename == "portable":
        monkeypatch.setattr(arch, "_renameat2", lambda: None)
    elif arch._renameat2() is None:
        pytest.skip("no renameat2 in this C library")
    root = tmp_path / "archive"
    target = root / "2024-08-forecast" / "v1"
    if occupant == "another version":
        archive(root, tmp_path, "other-run")
    else:
        target.mkdir(parents=True)
    before = sorted((p.name, p.read_bytes()) for p in target.iterdir())
    # This run looked before the other run's v1 existed.
    monkeypatch.setattr(arch, "latest_version", lambda *a: None)
    with pytest.raises(arch.ArchiveConflict, match="ilmestyi samanaikaisesti"):
        archive(root, tmp_path, "this-run")
    assert sorted((p.name, p.read_bytes()) for p in target.iterdir()) == before
    assert [p.name for p in target.parent.iterdir()] == ["v1"]  # the partial folder is gone


def test_archive_rejects_bad_input(tmp_path):
    files = write_report(tmp_path / "out")
    with pytest.raises(ValueError, match="VVVV-KK"):
        arch.archive_report(tmp_path / "a", "2024-8", "forecast", files, "f", {})
    with pytest.raises(ValueError, match="raporttilaji"):
        arch.archive_report(tmp_path / "a", "2024-08", "weekly", files, "f", {})
    with pytest.raises(ValueError, match="SHA256SUMS"):
        arch.archive_report(
            tmp_path / "a", "2024-08", "forecast", {**files, "SHA256SUMS": files["report.pdf"]}, "f", {}
        )
    with pytest.raises(ValueError, match="version"):
        arch.archive_report(tmp_path / "a", "2024-08", "forecast", files, "f", {"version": 7})
    assert not (tmp_path / "a" / "2024-08-forecast").exists() or not any(
        (tmp_path / "a" / "2024-08-forecast").iterdir()
    )


def test_publish_to_folder_is_idempotent_and_never_overwrites(tmp_path):
    root, pub = tmp_path / "archive", tmp_path / "julkaisu"
    v1 = archive(root, tmp_path, "f1")
    first = arch.publish_to_folder(v1, pub)
    assert first == pub / "2024-08-toteutumisennuste-v1.pdf"
    assert first.read_bytes() == v1.pdf.read_bytes()
    inode, mtime = first.stat().st_ino, first.stat().st_mtime_ns
    assert arch.publish_to_folder(v1, pub) == first
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == (inode, mtime)
    assert sorted(p.name for p in pub.iterdir()) == [first.name]
    v2 = archive(root, tmp_path, "f2", content=b"korjattu")
    assert arch.publish_to_folder(v2, pub).name == "2024-08-toteutumisennuste-v2.pdf"
    # Someone replaced the published v1 by hand: it is reported, not overwritten.
    first.chmod(0o644)
    first.write_bytes(b"muu tiedosto")
    with pytest.raises(arch.ArchiveError, match="eri sisältöinen"):
        arch.publish_to_folder(v1, pub)
    assert first.read_bytes() == b"muu tiedosto"


# --- settings ----------------------------------------------------------------

FULL_ENV = {
    "KATSAUS_SMTP_HOST": "smtp.stadi.example",
    "KATSAUS_SMTP_PORT": "2525",
    "KATSAUS_SMTP_USER": "katsaus",
    "KATSAUS_SMTP_PASSWORD": PASSWORD,
    "KATSAUS_SMTP_STARTTLS": "kyllä",
    "KATSAUS_MAIL_FROM": "Katsaus <katsaus@stadi.example>",
    "KATSAUS_MAIL_TO": "sihteeri@stadi.example, kirjaamo@stadi.example,",
    "KATSAUS_OPS_MAIL_TO": "yllapito@stadi.example",
}


def no_secret(name: str) -> None:
    raise AssertionError("the Secret block must not be consulted")


def test_settings_parse_every_variable():
    s = mail_settings.smtp_settings(FULL_ENV, secret_loader=no_secret)
    assert (s.host, s.port, s.starttls, s.user) == ("smtp.stadi.example", 2525, True, "katsaus")
    assert s.password.get_secret_value() == PASSWORD
    assert s.mail_from == "Katsaus <katsaus@stadi.example>"
    assert s.mail_to == ("sihteeri@stadi.example", "kirjaamo@stadi.example")
    assert s.ops_mail_to == ("yllapito@stadi.example",)
    assert PASSWORD not in repr(s) and PASSWORD not in str(s) and PASSWORD not in str(vars(s))


def test_settings_defaults_and_missing_host():
    assert mail_settings.smtp_settings({}) is None
    assert mail_settings.smtp_settings({"KATSAUS_SMTP_HOST": "  ", "KATSAUS_MAIL_TO": "x@y.fi"}) is None
    plain = {
        "KATSAUS_SMTP_HOST": "smtp.stadi.example",
        "KATSAUS_MAIL_FROM": "katsaus@stadi.example",
        "KATSAUS_MAIL_TO": "sihteeri@stadi.example",
    }
    s = mail_settings.smtp_settings(plain, secret_loader=no_secret)
    assert (s.port, s.starttls, s.user, s.password, s.ops_mail_to) == (25, False, None, None, ())
    for word, expected in [("true", True), ("1", True), ("KYLLÄ", True), ("false", False), ("0", False), ("ei", False)]:
        assert mail_settings.smtp_settings({**plain, "KATSAUS_SMTP_STARTTLS": word}).starttls is expected
    assert mail_settings.smtp_settings({**plain, "KATSAUS_SMTP_STARTTLS": "kyllä"}).port == 587


@pytest.mark.parametrize(
    "change, variable",
    [
        ({"KATSAUS_SMTP_PORT": "sataviisi"}, "KATSAUS_SMTP_PORT"),
        ({"KATSAUS_SMTP_PORT": "70000"}, "KATSAUS_SMTP_PORT"),
        ({"KATSAUS_SMTP_STARTTLS": "ehkä"}, "KATSAUS_SMTP_STARTTLS"),
        ({"KATSAUS_MAIL_TO": " , "}, "KATSAUS_MAIL_TO"),
        ({"KATSAUS_MAIL_TO": "sihteeri(at)stadi"}, "KATSAUS_MAIL_TO"),
        ({"KATSAUS_OPS_MAIL_TO": "ylläpito"}, "KATSAUS_OPS_MAIL_TO"),
        ({"KATSAUS_MAIL_FROM": ""}, "KATSAUS_MAIL_FROM"),
        ({"KATSAUS_SMTP_STARTTLS": "ei"}, "KATSAUS_SMTP_STARTTLS"),  # login would go out unencrypted
        ({"KATSAUS_SMTP_CA_FILE": "/ei/ole.pem"}, "KATSAUS_SMTP_CA_FILE"),
    ],
)
def test_settings_errors_name_the_variable_and_hide_the_password(change, variable):
    with pytest.raises(mail_settings.SmtpConfigError) as err:
        mail_settings.smtp_settings({**FULL_ENV, **change}, secret_loader=no_secret)
    assert variable in str(err.value)
    assert PASSWORD not in str(err.value)


def test_password_from_secret_block_only_when_not_in_environment():
    env = {k: v for k, v in FULL_ENV.items() if k != "KATSAUS_SMTP_PASSWORD"}
    asked = []
    s = mail_settings.smtp_settings(env, secret_loader=lambda name: asked.append(name) or "lohkosta")
    assert asked == ["katsaus-smtp-password"] and s.password.get_secret_value() == "lohkosta"
    with pytest.raises(
        mail_settings.SmtpConfigError, match="KATSAUS_SMTP_PASSWORD tai Prefectin Secret-lohko katsaus-smtp-password"
    ):
        mail_settings.smtp_settings(env, secret_loader=lambda name: None)
    # Without a user there is nothing to log in with and no reason to ask Prefect.
    no_user = {k: v for k, v in env.items() if k != "KATSAUS_SMTP_USER"}
    assert mail_settings.smtp_settings(no_user, secret_loader=no_secret).user is None


@pytest.mark.usefixtures("prefect_server")
def test_password_from_a_real_prefect_secret_block():
    from prefect.blocks.system import Secret

    from flows.stages import prefect_secret

    env = {k: v for k, v in FULL_ENV.items() if k != "KATSAUS_SMTP_PASSWORD"}
    with pytest.raises(mail_settings.SmtpConfigError, match="salasanaa ei löydy"):
        mail_settings.smtp_settings(env, secret_loader=prefect_secret)  # no block yet: no password
    Secret(value="1e3").save("katsaus-smtp-password", overwrite=True)
    try:
        # The raw string, not Secret.get()'s JSON reading of it (which would give 1000.0).
        assert mail_settings.smtp_settings(env, secret_loader=prefect_secret).password.get_secret_value() == "1e3"
    finally:
        Secret.delete("katsaus-smtp-password")


# --- messages ----------------------------------------------------------------


def test_board_message_in_finnish_with_the_pdf(tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(25)
    msg = message_for(settings, v1)
    assert msg["Subject"] == "Sosiaali-, terveys- ja pelastuslautakunta: 3. toteutumisennuste 2024, tammi–elokuu 2024"
    assert msg["To"] == "sihteeri@stadi.example, kirjaamo@stadi.example"
    assert msg.get_body(("plain",))["Content-Language"] == "fi" and msg["Auto-Submitted"] == "auto-generated"
    body = body_of(msg)
    pdf_hash = hashlib.sha256(v1.pdf.read_bytes()).hexdigest()
    for text in [
        "Hyvä vastaanottaja,\n\nLiitteenä on hyväksytty raportti PDF-tiedostona.",
        f"Lautakunta: {BOARD}",
        "Kausi: tammi–elokuu 2024",
        "– Toimintakate tammi–elokuu 2024: \u22121\u00a0812,4\u00a0milj.\u00a0euroa",
        "Hyväksyjä: Maija Meikäläinen, 31.8.2024",
        "Arkistoversio: 1",
        f"SHA-256-tarkistussumma: {pdf_hash}",
    ]:
        assert text in body
    assert "Korjattu" not in body and "korvaa" not in body
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "2024-08-toteutumisennuste-v1.pdf" and att.get_content_type() == "application/pdf"
    assert att.get_content() == v1.pdf.read_bytes()
    # Deterministic Message-ID: the same version gives the same id, other content another.
    assert message_for(settings, v1)["Message-ID"] == msg["Message-ID"]
    assert msg["Message-ID"].endswith("@stadi.example>")
    assert messages.report_message_id(settings, "2024-08", "forecast", 1, "f1-b") != msg["Message-ID"]


def test_corrected_version_says_what_changed_and_what_it_replaces(tmp_path):
    root = tmp_path / "archive"
    v1 = archive(root, tmp_path, "f1")
    v2 = archive(root, tmp_path, "f2", content=b"korjattu")
    settings = settings_for(25)
    msg = message_for(settings, v2, changes=["Pelastuslaitoksen elokuun toteuma korjattu", "Ennuste päivitetty"])
    assert msg["Subject"] == f"Korjattu versio (v2): {BOARD}: {TITLE}, {PERIOD_TEXT}"
    body = body_of(msg)
    assert "korjattu versio 2. Se korvaa aiemmin toimitetun version 1." in body
    assert (
        "Muutokset edelliseen versioon:\n– Pelastuslaitoksen elokuun toteuma korjattu\n– Ennuste päivitetty\n" in body
    )
    assert msg["References"] == message_for(settings, v1)["Message-ID"] != msg["Message-ID"]
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "2024-08-toteutumisennuste-v2.pdf"


def test_operator_alert(tmp_path):
    settings = settings_for(25, password=SecretStr(PASSWORD), user="katsaus")
    reason = f"Tietovarasto ei vastaa (salasana {PASSWORD})\nTraceback (most recent call last):\n  File x.py"
    msg = messages.operator_alert(
        settings, flow_run_name="vihainen-kettu", reason=reason, run_url="http://prefect.local/runs/flow-run/123"
    )
    assert msg["Subject"] == "katsaus-ajo epäonnistui: vihainen-kettu"
    assert msg["To"] == "yllapito@stadi.example"
    body = body_of(msg)
    assert "Ajastettu katsaus-ajo vihainen-kettu epäonnistui." in body
    assert "Syy: Tietovarasto ei vastaa (salasana ***)" in body
    assert "Ajo Prefectissä: http://prefect.local/runs/flow-run/123" in body
    assert PASSWORD not in msg.as_string() and "Traceback" not in body
    no_link = body_of(messages.operator_alert(settings, flow_run_name="x", reason="r", run_url=None))
    assert "Linkkiä ajoon ei ole" in no_link
    with pytest.raises(mail_settings.SmtpConfigError, match="KATSAUS_OPS_MAIL_TO"):
        messages.operator_alert(replace(settings, ops_mail_to=()), flow_run_name="x", reason="r", run_url=None)


# --- exactly-once delivery ---------------------------------------------------


def test_delivers_once_then_already_sent(engine, smtp_server, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port)
    first = deliver(engine, settings, v1)
    assert (first.status, first.attempts) == ("sent", 1)
    [got] = smtp_server.handler.received
    assert got.mail_from == "katsaus@stadi.example"
    assert got.rcpt_tos == ["sihteeri@stadi.example", "kirjaamo@stadi.example"]
    msg = got.message
    assert msg["Subject"] == f"{BOARD}: {TITLE}, {PERIOD_TEXT}"
    assert msg["Message-ID"].strip() == first.message_id
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "2024-08-toteutumisennuste-v1.pdf" and att.get_content() == v1.pdf.read_bytes()
    assert "Hyväksyjä: Maija Meikäläinen, 31.8.2024" in body_of(msg)
    assert f"– {SUMMARY[0]}\n– {SUMMARY[1]}\n" in body_of(msg)  # no-break spaces survive the trip

    second = deliver(engine, settings, v1)
    assert (second.status, second.attempts, second.message_id) == ("already_sent", 0, first.message_id)
    assert len(smtp_server.handler.received) == 1
    [row] = ledger(engine)
    assert (row.period, row.kind, row.version, row.fingerprint, row.status, row.attempts) == (
        "2024-08",
        "forecast",
        1,
        "f1",
        "sent",
        1,
    )
    assert row.recipients == "sihteeri@stadi.example, kirjaamo@stadi.example" and row.message_id == first.message_id
    assert row.sent_at is not None and row.claim_token is None and row.last_error is None


def test_new_fingerprint_is_delivered_as_a_corrected_version(engine, smtp_server, tmp_path):
    root = tmp_path / "archive"
    settings = settings_for(smtp_server.port)
    v1 = archive(root, tmp_path, "f1")
    deliver(engine, settings, v1)
    v2 = archive(root, tmp_path, "f2", content=b"korjattu")
    assert v2.version == 2
    result = deliver(engine, settings, v2, message_for(settings, v2, changes=["Talousarvion luvut korjattu"]))
    assert result.status == "sent"
    assert [r.message["Subject"].split(":")[0] for r in smtp_server.handler.received] == [BOARD, "Korjattu versio (v2)"]
    body = body_of(smtp_server.handler.received[1].message)
    assert "– Talousarvion luvut korjattu" in body and "korvaa aiemmin toimitetun version 1" in body
    assert [(r.version, r.status) for r in ledger(engine)] == [(1, "sent"), (2, "sent")]


def test_permanent_rejection_fails_fast_then_a_later_call_delivers_once(engine, smtp_server, tmp_path, caplog):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port, mail_to=("sihteeri@stadi.example",))
    msg = message_for(settings, v1)
    smtp_server.handler.rcpt_replies = ["550 5.1.1 Mailbox unavailable"] * 10
    started = time.monotonic()
    with pytest.raises(smtp.DeliveryFailed) as err:
        deliver(engine, settings, v1, msg, backoff_seconds=5.0)
    assert time.monotonic() - started < 3  # no backoff for a 5xx
    assert err.value.attempts == 1
    text = str(err.value)
    assert text.startswith(
        "Sähköpostin lähetys epäonnistui (1 yritys): SMTP-palvelin hylkäsi vastaanottajat: sihteeri@stadi.example (550"
    )
    assert "pysyvä" in text and "Traceback" not in text
    [row] = ledger(engine)
    assert (row.status, row.attempts) == ("failed", 1) and "550" in row.last_error and row.claim_token is None
    assert smtp_server.handler.received == []

    smtp_server.handler.rcpt_replies = []
    result = deliver(engine, settings, v1, msg)
    assert (result.status, result.attempts) == ("sent", 1)
    assert deliver(engine, settings, v1, msg).status == "already_sent"
    assert len(smtp_server.handler.received) == 1
    [row] = ledger(engine)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_transient_451_is_retried(sqlite_engine, smtp_server, tmp_path, stage):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port)
    if stage == "RCPT":
        smtp_server.handler.rcpt_replies = ["451 4.7.1 Greylisted, try again"] * len(settings.mail_to)
    else:
        smtp_server.handler.data_replies = ["451 4.3.0 Temporary failure"]
    result = deliver(sqlite_engine, settings, v1)
    assert (result.status, result.attempts) == ("sent", 2)
    assert len(smtp_server.handler.received) == 1
    [row] = ledger(sqlite_engine)
    assert (row.status, row.attempts) == ("sent", 2)


def test_smtp_down_then_up_delivers_exactly_once(sqlite_engine, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    handler = Recorder()
    port = free_port()
    controller = make_controller(handler, port)
    timer = threading.Timer(1.0, controller.start)
    timer.start()
    try:
        result = deliver(sqlite_engine, settings_for(port), v1, retries=8, backoff_seconds=0.1)
    finally:
        timer.join()
        controller.stop()
    assert result.status == "sent" and result.attempts > 1
    assert len(handler.received) == 1
    [row] = ledger(sqlite_engine)
    assert row.status == "sent" and row.attempts == result.attempts


def test_silent_server_times_out_and_fails_after_retries(sqlite_engine, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings = settings_for(silent.getsockname()[1], timeout=0.3)
        with pytest.raises(smtp.DeliveryFailed) as err:
            deliver(sqlite_engine, settings, v1, retries=1, backoff_seconds=0.01)
    assert err.value.attempts == 2
    assert "ei vastannut 0,3 sekunnin kuluessa" in str(err.value)
    [row] = ledger(sqlite_engine)
    assert (row.status, row.attempts) == ("failed", 2)


def test_partly_refused_recipients_still_count_as_sent(sqlite_engine, smtp_server, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    smtp_server.handler.rcpt_replies = ["550 5.1.1 No such user"]  # the first of two recipients
    result = deliver(sqlite_engine, settings_for(smtp_server.port), v1)
    assert result.status == "sent" and result.refused == ("sihteeri@stadi.example",)
    assert smtp_server.handler.received[0].rcpt_tos == ["kirjaamo@stadi.example"]
    [row] = ledger(sqlite_engine)
    assert row.status == "sent" and "vastaanottaja hylättiin: sihteeri@stadi.example (550" in row.last_error


def test_a_fresh_claim_of_another_run_blocks_a_stale_one_is_taken_over(engine, smtp_server, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port)
    t = wh_models.Delivery.__table__
    with engine.begin() as c:
        c.execute(
            t.insert().values(
                period="2024-08",
                kind="forecast",
                version=1,
                fingerprint="f1",
                message_id="<x>",
                recipients="x",
                status="pending",
                attempts=0,
                created_at=dt.datetime.now(dt.UTC),
                claimed_at=dt.datetime.now(dt.UTC),
                claim_token="other-run",
            )
        )
    with pytest.raises(smtp.DeliveryInProgress, match="käynnissä toisessa ajossa"):
        deliver(engine, settings, v1)
    assert smtp_server.handler.received == []
    # The other run died long ago (lease expired): this run takes over and sends.
    result = deliver(engine, settings, v1, lease_seconds=0)
    assert result.status == "sent" and len(smtp_server.handler.received) == 1
    [row] = ledger(engine)
    assert row.status == "sent" and row.claim_token is None


def test_two_runs_at_once_send_one_email(engine, smtp_server, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port)
    smtp_server.handler.data_delay = 0.5  # both runs are inside deliver_once at the same time
    outcomes: list[str] = []

    def run() -> None:
        try:
            outcomes.append(deliver(engine, settings, v1).status)
        except smtp.DeliveryInProgress:
            outcomes.append("in progress")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(smtp_server.handler.received) == 1
    assert sorted(outcomes) in (["already_sent", "sent"], ["in progress", "sent"])
    [row] = ledger(engine)
    assert (row.status, row.attempts) == ("sent", 1)


def test_sent_version_with_other_content_is_a_conflict(sqlite_engine, smtp_server, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port)
    deliver(sqlite_engine, settings, v1)
    with pytest.raises(smtp.DeliveryConflict, match="eri sisällöllä"):
        record.deliver_once(
            sqlite_engine,
            settings,
            message_for(settings, v1),
            period="2024-08",
            kind="forecast",
            version=1,
            fingerprint="toinen",
        )
    assert len(smtp_server.handler.received) == 1


# --- STARTTLS and login -----------------------------------------------------


@dataclass
class Tls:
    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> Tls:
    """A test CA and a server certificate for 127.0.0.1, generated with `cryptography`."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "katsaus testi-CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return Tls(ca_file, ctx)


@pytest.fixture
def tls_server(tls):
    handler = Recorder(PASSWORD)
    port = free_port()
    controller = make_controller(
        handler,
        port,
        tls_context=tls.server_context,
        require_starttls=True,
        authenticator=handler.authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        yield Smtp(port, handler, controller)
    finally:
        controller.stop()


def test_starttls_and_login_deliver_without_leaking_the_password(sqlite_engine, tls, tls_server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    env = {
        **FULL_ENV,
        "KATSAUS_SMTP_HOST": "127.0.0.1",
        "KATSAUS_SMTP_PORT": str(tls_server.port),
        "KATSAUS_SMTP_CA_FILE": str(tls.ca_file),
    }
    settings = mail_settings.smtp_settings(env, secret_loader=no_secret)
    result = deliver(sqlite_engine, settings, v1)
    assert result.status == "sent" and len(tls_server.handler.received) == 1
    assert tls_server.handler.logins == [(b"katsaus", True)]
    [row] = ledger(sqlite_engine)
    assert PASSWORD not in repr(row) and PASSWORD not in caplog.text
    assert PASSWORD not in tls_server.handler.received[0].data.decode("utf-8", "replace")


def test_wrong_password_fails_permanently_without_showing_it(sqlite_engine, tls, tls_server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    wrong = "VaaraSalasana-1"
    settings = settings_for(
        tls_server.port, starttls=True, user="katsaus", password=SecretStr(wrong), ca_file=tls.ca_file
    )
    with pytest.raises(smtp.DeliveryFailed) as err:
        deliver(sqlite_engine, settings, v1)
    assert err.value.attempts == 1 and "kirjautuminen SMTP-palvelimelle" in str(err.value) and "535" in str(err.value)
    [row] = ledger(sqlite_engine)
    for text in (str(err.value), row.last_error, caplog.text):
        assert wrong not in text
    assert tls_server.handler.received == []


def test_untrusted_certificate_is_a_permanent_failure(sqlite_engine, tls_server, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(tls_server.port, starttls=True, user="katsaus", password=SecretStr(PASSWORD))  # no CA file
    with pytest.raises(smtp.DeliveryFailed, match="TLS-varmennetta ei voitu todentaa") as err:
        deliver(sqlite_engine, settings, v1, backoff_seconds=5.0)
    assert err.value.attempts == 1
    assert tls_server.handler.logins == [] and tls_server.handler.received == []


# --- operator alerts -----------------------------------------------------------


def test_send_alert_retries_a_transient_failure(smtp_server):
    settings = settings_for(smtp_server.port)
    smtp_server.handler.data_replies = ["421 4.3.2 Service shutting down"]
    msg = messages.operator_alert(settings, flow_run_name="vihainen-kettu", reason="Lähde puuttuu", run_url=None)
    assert smtp.send_alert(settings, msg, backoff_seconds=0.01) == 2
    [got] = smtp_server.handler.received
    assert got.rcpt_tos == ["yllapito@stadi.example"]
    assert got.message["Subject"] == "katsaus-ajo epäonnistui: vihainen-kettu"


def test_send_alert_gives_up_with_a_finnish_reason():
    settings = settings_for(free_port())  # nothing listens there
    msg = messages.operator_alert(settings, flow_run_name="x", reason="r", run_url=None)
    with pytest.raises(
        smtp.DeliveryFailed, match=r"\(3 yritystä\): SMTP-palvelin 127\.0\.0\.1:\d+ ei ota yhteyksiä vastaan"
    ) as err:
        smtp.send_alert(settings, msg, retries=2, backoff_seconds=0.01)
    assert err.value.attempts == 3


def test_the_controllers_are_told_a_draft_waits_with_what_it_says_and_where_to_answer(smtp_server, monkeypatch):
    """*Luonnos odottaa hyväksyntää*: a real SMTP server receives it for the approvers in settings.yaml."""
    from tasks.contracts import settings
    from tasks.deliver.delivery import ask_approvers
    from tasks.deliver.messages import ApprovalAsk

    for name, value in mail_env(smtp_server.port).items():
        monkeypatch.setenv(name, value)
    approvers = settings().approver_emails
    assert approvers == ("maija.meikalainen@stadi.example", "matti.virtanen@stadi.example")
    assert settings().approvers == ("Maija Meikäläinen", "Matti Virtanen")  # who may approve: the names
    ask = ApprovalAsk(
        title="3. toteutumisennuste 2024",
        period_text="tammi–elokuu 2024",
        summary_lines=["Toimintakate toteuma −1 773,6 milj. euroa.", "Tietojen laatu: kaikki lähteet käytetty."],
        draft_link="http://127.0.0.1:8420/raportit/.2024-08-forecast.draft-abc/report.pdf",
        approval_link="http://127.0.0.1:4200/runs/flow-run/abc",
        answer_by=dt.datetime(2024, 9, 23, 9, 0, tzinfo=dt.UTC),
    )
    told = ask_approvers(approvers, ask)
    assert told == "hyväksyjille ilmoitettiin (maija.meikalainen@stadi.example, matti.virtanen@stadi.example)"
    [got] = smtp_server.handler.received
    assert sorted(got.rcpt_tos) == sorted(approvers)  # the controllers, not the board
    message = got.message
    assert message["Subject"] == "Luonnos odottaa hyväksyntää: 3. toteutumisennuste 2024, tammi–elokuu 2024"
    body = message.get_body(("plain",)).get_content()
    assert "Toimintakate toteuma −1 773,6 milj. euroa." in body
    assert "Luonnos: http://127.0.0.1:8420/raportit/.2024-08-forecast.draft-abc/report.pdf" in body
    assert "Hyväksy tai hylkää Prefectin käyttöliittymässä: http://127.0.0.1:4200/runs/flow-run/abc" in body
    assert "Vastausta odotetaan 23.9.2024 klo 12.00 asti" in body  # Helsinki time (UTC+3 in September)
    # Without a mail server the wait goes on: said, never raised.
    monkeypatch.delenv("KATSAUS_SMTP_HOST")
    assert ask_approvers(approvers, ask).startswith("hyväksyjille ei lähetetty ilmoitusta")


@pytest.mark.parametrize(
    "run_name",
    [
        "x",
        "Sosiaali-, terveys- ja pelastuslautakunta: 3. toteutumisennuste 2024, tammi–elokuu 2024",
        "Toimintakertomus 2024 ja tilinpäätöksen käyttötalousosan toteutuminen, tammi–joulukuu 2024 " * 2,
        "äöå " * 60,
    ],
)
def test_a_subject_is_valid_rfc_2047_on_every_python(run_name):
    """Encoded words at most 75 characters, never two without space between them, lines of at most 78 characters,
    and the subject read back exactly: the standard library's own folder breaks the first two on some Pythons."""
    import email
    import email.policy
    import re

    msg = messages.operator_alert(settings_for(25), flow_run_name=run_name, reason="r", run_url=None)
    wire = smtp.message_bytes(msg)
    head = wire.split(b"\r\n\r\n")[0].decode("ascii")
    words = re.findall(r"=\?[^?]+\?[qQbB]\?[^?]*\?=", head)
    assert words and max(map(len, words)) <= 75
    assert "?==?" not in head
    assert max(len(line) for line in head.split("\r\n")) <= 78
    subject = email.message_from_bytes(wire, policy=email.policy.default)["Subject"]
    assert subject == f"katsaus-ajo epäonnistui: {run_name}" == msg["Subject"]
