"""Faults on the way to the board: a lost final reply, a recipient refused for now, no mail server, a tampered
archive, a run killed while sending. Real SMTP servers (aiosmtpd, a socket server), real SQLite and PostgreSQL.

What must hold: a message that may have been delivered is never sent again on its own; an operator's resend is
recorded and is the very same message; no recipient is silently left out; nothing unverified leaves the archive.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from flows import cli
from tasks.deliver import archive as arch
from tasks.deliver import delivery, record, smtp
from tests.deliver.test_deliver import archive, deliver, ledger, message_for, settings_for
from tests.smtp_recorder import Recorder, free_port, make_controller


def message_ids(handler: Recorder) -> list[str]:
    return [email.message_from_bytes(r.data, policy=email.policy.default)["Message-ID"] for r in handler.received]


@pytest.mark.parametrize("fault", ["reply_too_late", "reset_after_data"])
def test_a_lost_final_reply_is_uncertain_and_never_resent_on_its_own(engine, smtp_server, tmp_path, fault):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port, data_timeout=0.3)
    if fault == "reply_too_late":
        smtp_server.handler.data_delay = 1.0  # the server has the message; its 250 comes after we stop waiting
    else:
        smtp_server.handler.drop_after_data = True
    with pytest.raises(smtp.DeliveryUncertain) as err:
        deliver(engine, settings, v1)
    assert "voi olla toimitettu" in str(err.value) and "katsaus resend" in str(err.value)
    [row] = ledger(engine)
    assert (row.status, row.attempts) == ("uncertain", 1)
    time.sleep(1.0)
    assert len(smtp_server.handler.received) == 1  # one copy, not five

    # The next run (a rerun, a retry of the task) sends nothing and says why.
    smtp_server.handler.data_delay, smtp_server.handler.drop_after_data = 0.0, False
    with pytest.raises(smtp.DeliveryUncertain, match="ei lähetetä automaattisesti"):
        deliver(engine, settings, v1)
    assert len(smtp_server.handler.received) == 1

    # An operator decides to resend: recorded, and the very same message (the same Message-ID).
    result = record.resend(engine, settings, period="2024-08", kind="forecast", version=1, by="Olli Operaattori")
    assert result.status == "sent" and len(smtp_server.handler.received) == 2
    assert len(set(message_ids(smtp_server.handler))) == 1
    assert smtp_server.handler.received[0].data == smtp_server.handler.received[1].data
    [row] = ledger(engine)
    assert (row.status, row.resend_by) == ("sent", "Olli Operaattori") and row.resend_at is not None
    # Sent is final: neither a run nor an operator sends it again.
    assert deliver(engine, settings, v1).status == "already_sent"
    with pytest.raises(smtp.DeliveryFailed, match="on jo toimitettu"):
        record.resend(engine, settings, period="2024-08", kind="forecast", version=1, by="Olli Operaattori")


def test_a_recipient_refused_for_now_is_tried_again_alone_with_the_same_message(engine, smtp_server, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port)
    smtp_server.handler.rcpt_replies = ["451 4.2.1 Mailbox busy, try later"]  # the first recipient, once
    result = deliver(engine, settings, v1)
    assert result.status == "sent"
    got = smtp_server.handler.received
    assert [r.rcpt_tos for r in got] == [["kirjaamo@stadi.example"], ["sihteeri@stadi.example"]]
    assert got[0].data == got[1].data
    [row] = ledger(engine)
    assert (row.status, row.outstanding) == ("sent", None)


def test_a_recipient_refused_through_every_retry_is_left_for_the_next_run_only(engine, smtp_server, tmp_path):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    settings = settings_for(smtp_server.port)

    async def busy_sihteeri(self, server, session, envelope, address, options):
        if address == "sihteeri@stadi.example":
            return "451 4.2.1 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp_server.handler.handle_RCPT = busy_sihteeri.__get__(smtp_server.handler)
    with pytest.raises(smtp.DeliveryFailed, match="1 vastaanottaja ei juuri nyt ottanut sitä vastaan"):
        deliver(engine, settings, v1, retries=2)
    [row] = ledger(engine)
    assert (row.status, row.outstanding) == ("partial", "sihteeri@stadi.example")
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [["kirjaamo@stadi.example"]]

    # A next run that cannot reach the server at all keeps what was delivered: still partial, same one waiting.
    with pytest.raises(smtp.DeliveryFailed):
        deliver(engine, settings_for(free_port()), v1, retries=0)
    [row] = ledger(engine)
    assert (row.status, row.outstanding) == ("partial", "sihteeri@stadi.example")

    # The next run sends to the one still waiting, never again to the others.
    del smtp_server.handler.handle_RCPT  # the mailbox is free again
    assert deliver(engine, settings, v1).status == "sent"
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [
        ["kirjaamo@stadi.example"],
        ["sihteeri@stadi.example"],
    ]
    assert len(set(message_ids(smtp_server.handler))) == 1


def to_the_board(engine, version, publish_dir):
    return delivery.deliver_to_board(
        engine,
        version,
        board="Lautakunta",
        title="3. toteutumisennuste 2024",
        period_text="tammi–elokuu 2024",
        approved_by="Maija Meikäläinen",
        approved_at=dt.datetime(2024, 9, 20),
        summary_lines=[],
        changes=[],
        publish_dir=publish_dir,
    )


def test_an_approved_report_with_no_mail_server_fails_loudly(sqlite_engine, tmp_path, monkeypatch):
    for name in ("KATSAUS_SMTP_HOST", "KATSAUS_MAIL_TO", "KATSAUS_MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    with pytest.raises(smtp.DeliveryFailed, match="sähköpostiasetuksia ei ole"):
        to_the_board(sqlite_engine, v1, tmp_path / "julkaisu")
    assert not (tmp_path / "julkaisu").exists()  # nothing published of a report that did not reach the board


def test_a_tampered_version_is_neither_published_nor_sent(sqlite_engine, smtp_server, tmp_path, monkeypatch):
    v1 = archive(tmp_path / "archive", tmp_path, "f1")
    pdf = v1.pdf
    pdf.chmod(0o644)
    pdf.write_bytes(b"%PDF-1.7\nvaihdettu\n%%EOF\n")
    monkeypatch.setenv("KATSAUS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KATSAUS_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("KATSAUS_MAIL_FROM", "katsaus@stadi.example")
    monkeypatch.setenv("KATSAUS_MAIL_TO", "sihteeri@stadi.example")
    with pytest.raises(arch.ArchiveError, match="tarkistussumma ei täsmää"):
        to_the_board(sqlite_engine, v1, tmp_path / "julkaisu")
    assert smtp_server.handler.received == [] and not (tmp_path / "julkaisu").exists()
    assert ledger(sqlite_engine) == []


def test_rewriting_a_version_with_its_checksums_breaks_the_chain(tmp_path):
    root = tmp_path / "archive"
    v1 = archive(root, tmp_path, "f1")
    v2 = archive(root, tmp_path, "f2", b"sivu 2")
    assert v2.metadata["previous_sums_sha256"] == arch.sha256_of(v1.path / arch.SUMS_NAME)
    assert arch.verify_report_archive(root, "2024-08", "forecast") == []
    # A forger who rewrites v1's PDF and its SHA256SUMS together passes v1's own check ...
    v1.path.chmod(0o755)
    for f in v1.path.iterdir():
        f.chmod(0o644)
    (v1.path / "report.pdf").write_bytes(b"%PDF-1.7\nvaihdettu\n%%EOF\n")
    sums = (v1.path / arch.SUMS_NAME).read_text().splitlines()
    sums = [
        f"{arch.sha256_of(v1.path / 'report.pdf')}  report.pdf" if line.endswith(" report.pdf") else line
        for line in sums
    ]
    (v1.path / arch.SUMS_NAME).write_text("\n".join(sums) + "\n")
    assert arch.verify_archive(v1.path) == []
    # ... but not the chain: v2 recorded the checksum file it followed.
    problems = arch.verify_report_archive(root, "2024-08", "forecast")
    assert len(problems) == 1 and "v1" in problems[0] and "muutettu jälkikäteen" in problems[0]
    assert cli.main(["arkisto", "tarkista", "--archive", str(root)]) == 1


KILLED_SENDER = """
import sys
from pathlib import Path
from flows import cli
from tasks.deliver import archive as arch, record
from tasks.warehouse.engine import warehouse
from tests.deliver.test_deliver import message_for, settings_for
port, url, folder = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
version = arch.latest_version(folder, "2024-08", "forecast")
settings = settings_for(port, data_timeout=60)
with warehouse(url) as engine:
    record.deliver_once(engine, settings, message_for(settings, version), period="2024-08", kind="forecast",
                        version=version.version, fingerprint=version.fingerprint, backoff_seconds=0.01)
"""


def test_a_run_killed_while_the_server_holds_the_message_does_not_send_it_twice(engine, smtp_server, tmp_path):
    """kill -9 of the sending process after the end of the data, before the reply: the rerun sends nothing."""
    root = tmp_path / "archive"
    v1 = archive(root, tmp_path, "f1")
    smtp_server.handler.data_delay = 30.0  # the server has the message and is slow to say so
    url = engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SENDER, str(smtp_server.port), url, str(root)],
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        deadline = time.monotonic() + 60
        while not smtp_server.handler.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert smtp_server.handler.received, "the server got the message"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    smtp_server.handler.data_delay = 0.0
    settings = settings_for(smtp_server.port)
    with pytest.raises(smtp.DeliveryUncertain):
        deliver(engine, settings, v1, lease_seconds=0.0)  # even once the dead run's claim has expired
    assert len(smtp_server.handler.received) == 1
    [row] = ledger(engine)
    assert row.status == "uncertain"


def test_a_run_killed_before_the_message_went_out_is_taken_over_and_sent_once(engine, tmp_path):
    """kill -9 while the server is silent before DATA: nothing was delivered, so a later run sends it, once."""
    root = tmp_path / "archive"
    v1 = archive(root, tmp_path, "f1")
    with socket.socket() as silent:  # greets never: the sender waits before anything is sent
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = engine.url.render_as_string(hide_password=False)
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_SENDER, str(silent.getsockname()[1]), url, str(root)],
            cwd=Path(__file__).parents[2],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
        deadline = time.monotonic() + 60
        while not ledger(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    [row] = ledger(engine)
    assert row.status == "pending"
    handler, port = Recorder(), free_port()
    controller = make_controller(handler, port)
    controller.start()
    try:
        settings = replace(settings_for(port))
        with pytest.raises(smtp.DeliveryInProgress):
            deliver(engine, settings, v1)  # the dead run's claim is still fresh: wait for its lease
        assert deliver(engine, settings, v1, lease_seconds=0.0).status == "sent"
    finally:
        controller.stop()
    assert len(handler.received) == 1
    assert message_for(settings, v1)["Message-ID"] == message_ids(handler)[0]
