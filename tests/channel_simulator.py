"""Pytest fixtures for code that talks to payment channels: keys, a running simulator, a notification inbox.

Use them from any test folder by importing them into its ``conftest.py``::

    from tests.channel_simulator import (  # noqa: F401
        channel_keys, channel_simulator, channel_simulator_server, notification_inbox, notification_inbox_server,
        patient_simulator,
    )

``channel_simulator`` resets the simulator's ledger and points the settings (hence ``get_channel``) at it,
with a 0.5 s client timeout (10 s for statements); notifications go to ``notification_inbox`` unless the test changes
``settings.PAYMENTS_NOTIFY_BASE_URL`` (e.g. to ``live_server.url``).

Settings read the environment once, so ``PAYMENT_CHANNELS`` is made once from ``ALIPAY_*``, ``WECHAT_*`` and
``CHANNEL_SIMULATOR_*``. Tests change those one at a time (``settings.ALIPAY_APP_ID = ""``): while this module is
loaded, the table is made again from them on each such change, as a process started with them would have it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test.signals import setting_changed

from mall.settings import PAYMENT_CHANNELS_INPUTS, payment_channels
from payments.channels.demo_keys import DemoKeys, ensure_keys
from payments.simulator.server import ChannelSimulator, start_simulator

TEST_CLIENT_TIMEOUT_SECONDS = 0.5


def _remake_payment_channels(*, setting: str, enter: bool, **kwargs: Any) -> None:
    # On leaving an override the settings before it come back with the table made from them: nothing to do.
    if enter and setting in PAYMENT_CHANNELS_INPUTS:
        django_settings.PAYMENT_CHANNELS = payment_channels(lambda name: getattr(django_settings, name, None))


setting_changed.connect(_remake_payment_channels, dispatch_uid="tests.channel_simulator.payment_channels")


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class NotificationInbox:
    """A tiny HTTP endpoint that records what channels post to it and acknowledges it as each channel wants."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._failures_left = 0
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                failing = inbox._record(Received(self.path, dict(self.headers.items()), body))
                if failing:
                    answer, status = b"fail", 500
                elif "alipay" in self.path:
                    answer, status = b"success", 200
                else:
                    answer, status = b'{"code":"SUCCESS"}', 200
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="notification-inbox", daemon=True)
        self._thread.start()

    def _record(self, item: Received) -> bool:
        with self._lock:
            self._received.append(item)
            failing = self._failures_left > 0
            self._failures_left -= 1 if failing else 0
            self._lock.notify_all()
            return failing

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` posts with HTTP 500 (the channel should retry)."""
        with self._lock:
            self._failures_left = count

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` posts arrived; returns them all (fails the test on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"expected {count} notification(s), got {len(self._received)}")
                self._lock.wait(left)
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._failures_left = 0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def channel_keys(tmp_path_factory: pytest.TempPathFactory) -> DemoKeys:
    """Fresh demo keys for this test session, in a temporary directory."""
    return ensure_keys(tmp_path_factory.mktemp("channel") / "keys")


@pytest.fixture(scope="session")
def channel_simulator_server(channel_keys: DemoKeys) -> Iterator[ChannelSimulator]:
    """The simulator, started once per session on a free 127.0.0.1 port."""
    simulator = start_simulator(channel_keys, notify_attempts=3, notify_backoff=0.05)
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def notification_inbox_server() -> Iterator[NotificationInbox]:
    inbox = NotificationInbox()
    yield inbox
    inbox.close()


@pytest.fixture
def notification_inbox(notification_inbox_server: NotificationInbox) -> NotificationInbox:
    notification_inbox_server.clear()
    return notification_inbox_server


@pytest.fixture
def channel_simulator(
    channel_simulator_server: ChannelSimulator,
    channel_keys: DemoKeys,
    notification_inbox: NotificationInbox,
    settings: Any,
) -> ChannelSimulator:
    """A reset simulator, with the channel settings configured for it as a deployment would configure them."""
    simulator = channel_simulator_server
    simulator.ledger.reset()
    simulator.notifier.clear()
    # A notification still on its way from the previous test must not land in this test's inbox.
    simulator.notifier.wait_idle(timeout=5)
    notification_inbox.clear()
    keys, directory = channel_keys, channel_keys.directory
    settings.CHANNEL_SIMULATOR_URL = simulator.url
    settings.CHANNEL_SIMULATOR_KEYS_DIR = directory
    settings.CHANNEL_TIMEOUT_SECONDS = TEST_CLIENT_TIMEOUT_SECONDS
    settings.CHANNEL_STATEMENT_TIMEOUT_SECONDS = 10.0
    settings.PAYMENTS_NOTIFY_BASE_URL = notification_inbox.url
    settings.ALIPAY_APP_ID = keys.alipay_app_id
    settings.ALIPAY_PRIVATE_KEY = ""
    settings.ALIPAY_PRIVATE_KEY_FILE = str(directory / "alipay_app_private_key.pem")
    settings.ALIPAY_PUBLIC_KEY = ""
    settings.ALIPAY_PUBLIC_KEY_FILE = str(directory / "alipay_platform_public_key.pem")
    settings.ALIPAY_GATEWAY = simulator.url + "/gateway.do"
    settings.WECHAT_MCH_ID = keys.wechat_mch_id
    settings.WECHAT_APP_ID = keys.wechat_app_id
    settings.WECHAT_API_V3_KEY = ""
    settings.WECHAT_API_V3_KEY_FILE = str(directory / "wechat_api_v3_key.txt")
    settings.WECHAT_CERT_SERIAL_NO = keys.wechat_merchant_serial_no
    settings.WECHAT_PRIVATE_KEY = ""
    settings.WECHAT_PRIVATE_KEY_FILE = str(directory / "wechat_merchant_private_key.pem")
    settings.WECHAT_PUBLIC_KEY = ""
    settings.WECHAT_PUBLIC_KEY_FILE = str(directory / "wechat_platform_public_key.pem")
    settings.WECHAT_PUBLIC_KEY_ID = keys.wechat_public_key_id
    settings.WECHAT_GATEWAY = simulator.url
    return simulator


@pytest.fixture
def patient_simulator(channel_simulator: ChannelSimulator, settings: Any) -> ChannelSimulator:
    """``channel_simulator`` with a client timeout that a loaded machine cannot trip: for tests of the channels'
    answers, not of timeouts."""
    settings.CHANNEL_TIMEOUT_SECONDS = 5.0
    return channel_simulator
