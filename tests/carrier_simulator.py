"""Pytest fixtures for code that talks to carriers: a running carrier simulator and a notification inbox.

Use them from any test folder by importing them into its ``conftest.py``::

    from tests.carrier_simulator import (  # noqa: F401
        carrier_inbox, carrier_inbox_server, carrier_secret, carrier_simulator, carrier_simulator_server,
    )

``carrier_simulator`` resets the simulator (decisions after 0.05 s unless told otherwise) and points the
settings (hence ``get_carrier``) at it with a 0.5 s client timeout; its notifications go to ``carrier_inbox``,
from where a test hands them to the app exactly as received (``CarrierInbox.relay``), unless the test changes
``settings.LOGISTICS_NOTIFY_BASE_URL`` (e.g. to ``live_server.url``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from logistics.simulator.server import CarrierSimulator, start_simulator

TEST_CLIENT_TIMEOUT_SECONDS = 0.5
TEST_DECISION_DELAY_SECONDS = 0.05


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class CarrierInbox:
    """A tiny HTTP endpoint that records what the carrier posts to it and acknowledges it."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._received: list[Received] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                inbox._record(Received(self.path, dict(self.headers.items()), body))
                answer = b'{"code":"SUCCESS"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="carrier-inbox", daemon=True)
        self._thread.start()

    def _record(self, item: Received) -> None:
        with self._lock:
            self._received.append(item)
            self._lock.notify_all()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` posts arrived; returns them all (fails the test on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"expected {count} carrier notification(s), got {len(self._received)}")
                self._lock.wait(left)
            return list(self._received)

    @staticmethod
    def relay(item: Received, client: Any) -> Any:
        """Post ``item`` to the app through a Django test ``client``, headers and body exactly as received."""
        headers = {k: v for k, v in item.headers.items() if k.lower().startswith("x-carrier-")}
        return client.post(item.path, data=item.body, content_type="application/json", headers=headers)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def carrier_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def carrier_simulator_server(carrier_secret: str) -> Iterator[CarrierSimulator]:
    """The simulator, started once per session on a free 127.0.0.1 port."""
    simulator = start_simulator(
        carrier_secret, delay=TEST_DECISION_DELAY_SECONDS, notify_attempts=3, notify_backoff=0.05
    )
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def carrier_inbox_server() -> Iterator[CarrierInbox]:
    inbox = CarrierInbox()
    yield inbox
    inbox.close()


@pytest.fixture
def carrier_inbox(carrier_inbox_server: CarrierInbox) -> CarrierInbox:
    carrier_inbox_server.clear()
    return carrier_inbox_server


@pytest.fixture
def carrier_simulator(
    carrier_simulator_server: CarrierSimulator, carrier_secret: str, carrier_inbox: CarrierInbox, settings: Any
) -> CarrierSimulator:
    """A reset simulator, with the carrier settings configured for it as a deployment would configure them."""
    simulator = carrier_simulator_server
    simulator.reset()
    simulator.delay = TEST_DECISION_DELAY_SECONDS
    simulator.default_outcome = "succeeded"
    settings.CARRIER_SIMULATOR_URL = simulator.url
    settings.CARRIER_NOTIFY_SECRET = carrier_secret
    settings.CARRIER_TIMEOUT_SECONDS = TEST_CLIENT_TIMEOUT_SECONDS
    settings.LOGISTICS_NOTIFY_BASE_URL = carrier_inbox.url
    return simulator
