"""A real SMTP server on loopback (aiosmtpd) that records what it accepts; shared by the tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


class Recorder:
    """aiosmtpd handler that stores accepted envelopes; scripted replies make RCPT or DATA fail."""

    def __init__(self, password: str | None = None) -> None:
        self.password = password
        self.received: list[Received] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []
        self.logins: list[tuple[bytes, bool]] = []
        self.data_delay = 0.0
        # Faults after the end of the data: the message is accepted, then its reply is lost.
        self.drop_after_data = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            return self.data_replies.pop(0)
        # Accepted when the data ends (a real server has it queued from here), replied to after `data_delay`.
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        await asyncio.sleep(self.data_delay)
        if self.drop_after_data:
            server.transport.abort()  # the connection resets before the 250 goes out
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (
            auth_data.login == b"katsaus" and self.password is not None and auth_data.password == self.password.encode()
        )
        self.logins.append((auth_data.login, ok))
        return AuthResult(success=ok, handled=False)  # handled=False: the server replies 235 or 535


@dataclass
class Smtp:
    port: int
    handler: Recorder
    controller: Controller


def make_controller(handler: Recorder, port: int, **kw) -> Controller:
    return Controller(handler, hostname="127.0.0.1", port=port, **kw)


@pytest.fixture
def smtp_server():
    handler = Recorder()
    port = free_port()
    controller = make_controller(handler, port)
    controller.start()
    try:
        yield Smtp(port, handler, controller)
    finally:
        controller.stop()


def mail_env(port: int) -> dict[str, str]:
    """The e-mail settings of a run that mails the recorder on `port` (the board: the secretary)."""
    return {
        "KATSAUS_SMTP_HOST": "127.0.0.1",
        "KATSAUS_SMTP_PORT": str(port),
        "KATSAUS_MAIL_FROM": "Katsaus <katsaus@stadi.example>",
        "KATSAUS_MAIL_TO": "sihteeri@stadi.example",
    }
