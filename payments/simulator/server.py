"""The simulator's HTTP server: both gateways, plus ``/sim/*`` endpoints for the demo and the tests.

``/gateway.do``             Alipay open platform (GET query or POST form)
``/v3/...``                 WeChat Pay API v3
``/sim/alipay/bills``       Alipay statement downloads (unsigned, by token, like Alipay's bill URLs)
``POST /sim/trades``        register a paid trade {channel, out_trade_no, trade_no, amount, notify_url?}
``POST /sim/faults``        arm a fault {channel, kind, count?, probability?, operation?, delay?, code?, ...}
``POST /sim/reset``         forget trades, refunds, faults and notifications
``GET  /sim/ledger``        everything the simulator knows (for asserting that no money moved twice)
``POST /sim/notifications/build``  a signed notification for a refund, returned rather than sent
``POST /sim/statements/seed``      bulk refunds on a day {channel, day, count, amount}
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from payments.simulator.alipay import AlipayGateway
from payments.simulator.common import Reply, json_reply
from payments.simulator.control import ControlApi
from payments.simulator.keys import SimulatorKeys
from payments.simulator.ledger import Ledger, Refund, Trade
from payments.simulator.notifier import Delivery, Notifier
from payments.simulator.statements import BillStore
from payments.simulator.wechat import WechatApi

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024


class ChannelSimulator:
    def __init__(
        self,
        keys: SimulatorKeys,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: Path | None = None,
        public_url: str | None = None,
        notify_attempts: int = 3,
        notify_backoff: float = 0.2,
    ) -> None:
        self.keys = keys
        self.ledger = Ledger(state_path)
        self.bills = BillStore()
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.simulator = self  # type: ignore[attr-defined]
        bound_host, bound_port = self.httpd.server_address[:2]
        self.url = (public_url or f"http://{bound_host!s}:{bound_port}").rstrip("/")
        self.alipay = AlipayGateway(self.ledger, keys, self.bills, lambda: self.url, self._notify("alipay"))
        self.wechat = WechatApi(self.ledger, keys, self.bills, lambda: self.url, self._notify("wechat"))
        self.notifier = Notifier(
            self.ledger,
            {"alipay": self._alipay_notification, "wechat": self._wechat_notification},
            attempts=notify_attempts,
            backoff=notify_backoff,
        )
        self.control = ControlApi(self)
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        self.notifier.start()
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def start(self) -> ChannelSimulator:
        """Serve in a background thread (tests, demo); ``stop()`` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="channel-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _close(self) -> None:
        self.stopping.set()
        self.notifier.stop()
        self.httpd.server_close()
        self.bills.close()

    def __enter__(self) -> ChannelSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- notifications --------------------------------------------------------------------------------------
    def _notify(self, channel: str) -> Any:
        def send(refund: Refund, trade: Trade) -> None:
            self.notifier.enqueue(channel, refund, trade)

        return send

    def _alipay_notification(self, delivery: Delivery) -> tuple[dict[str, str], bytes]:
        body = self.alipay.notification(delivery.refund, delivery.trade, notify_id=delivery.event_id, age=delivery.age)
        return {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, body

    def _wechat_notification(self, delivery: Delivery) -> tuple[dict[str, str], bytes]:
        return self.wechat.notification(delivery.refund, delivery.trade, event_id=delivery.event_id, age=delivery.age)

    # --- routing --------------------------------------------------------------------------------------------
    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        if parts.path == "/gateway.do":
            params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if method == "POST" and "x-www-form-urlencoded" in headers.get("content-type", ""):
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
                params |= {k: v[0] for k, v in form.items()}
            return self.alipay.handle(params)
        if parts.path.startswith("/v3/"):
            return self.wechat.handle(method, target, headers, body)
        if parts.path.startswith("/sim/"):
            return self.control.handle(method, parts.path, parse_qs(parts.query), body)
        return json_reply(404, {"error": "not found"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ChannelSimulator/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        simulator: ChannelSimulator = self.server.simulator  # type: ignore[attr-defined]
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._write(json_reply(413 if length > 0 else 400, {"error": "bad or oversized body"}))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            reply = simulator.dispatch(method, self.path, headers, body)
        except Exception:
            logger.exception("channel simulator failed on %s %s", method, urlsplit(self.path).path)
            reply = json_reply(500, {"error": "simulator error"})
        if reply.delay:
            # The timeout fault: hold the answer past the client's patience, but never past shutdown.
            simulator.stopping.wait(reply.delay)
        try:
            self._write(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        length = reply.content_length if reply.chunks is not None else len(reply.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if reply.chunks is not None:
            for chunk in reply.chunks:
                self.wfile.write(chunk)
        else:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


def start_simulator(keys: SimulatorKeys, **options: Any) -> ChannelSimulator:
    """Start a simulator on a free 127.0.0.1 port in a background thread; ``.url`` says where."""
    return ChannelSimulator(keys, **options).start()
