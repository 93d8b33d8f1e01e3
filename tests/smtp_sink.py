"""A real SMTP server on 127.0.0.1 (aiosmtpd, on a free port) that keeps what it is sent: the mail relay at the
process edge. ``refuse=True`` makes it answer every recipient with a temporary failure (451), as a relay that is
up but will not take mail now; ``sink.refused`` counts those answers."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Delivery:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpSink:
    host: str = "127.0.0.1"
    port: int = 0
    refuse: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    refused: int = 0


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.sink.refuse:
            self.sink.refused += 1
            return "451 4.3.0 Mail relay busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.sink.deliveries.append(Delivery(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mail_to(settings: Any, host: str, port: int) -> None:
    """Point the site's mail backend (pytest-django's ``settings``) at an SMTP server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = host, port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5


@contextmanager
def smtp_sink_running(settings: Any, *, refuse: bool = False) -> Iterator[SmtpSink]:
    """An SMTP server that the site's mail backend sends to while it runs."""
    sink = SmtpSink(port=free_port(), refuse=refuse)
    controller = Controller(_Handler(sink), hostname=sink.host, port=sink.port)
    controller.start()
    mail_to(settings, sink.host, sink.port)
    try:
        yield sink
    finally:
        controller.stop()
