"""Refund notifications, posted in the background the way the gateways do: retried until acknowledged.

Faults act here: ``duplicate_notify`` sends one event twice, ``out_of_order_notify`` holds an event back until
the next one has gone (or ``hold`` seconds pass), ``stale_notify`` signs it ``age_seconds`` in the past.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from payments.simulator.common import now
from payments.simulator.ledger import NOTIFY_FAULTS, Ledger, Refund, Trade

logger = logging.getLogger(__name__)

Builder = Callable[["Delivery"], tuple[dict[str, str], bytes]]


@dataclass(frozen=True)
class Delivery:
    channel: str
    refund: Refund
    trade: Trade
    url: str
    event_id: str
    age: float = 0.0
    hold: float = 0.0
    generation: int = 0


def acknowledged(channel: str, status: int, body: bytes) -> bool:
    if channel == "alipay":
        return status == 200 and body.strip() == b"success"
    return status in (200, 204)


class Notifier:
    def __init__(
        self,
        ledger: Ledger,
        builders: dict[str, Builder],
        *,
        attempts: int = 3,
        backoff: float = 0.2,
        timeout: float = 3.0,
    ) -> None:
        self.ledger = ledger
        self.builders = builders
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._stop = threading.Event()
        self._generation = 0
        # Events queued, held or being delivered; ``wait_idle`` waits for none.
        self._pending = 0
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="channel-sim-notifier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def clear(self) -> None:
        """Forget everything queued or held (after a reset)."""
        self._generation += 1
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
            self._done()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until nothing is queued, held or on its way; False if that did not happen in time."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _put(self, delivery: Delivery) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(delivery)

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def enqueue(self, channel: str, refund: Refund, trade: Trade) -> None:
        url = refund.notify_url or trade.notify_url
        # Snapshots: the event describes the refund as it is now, whatever happens to it later.
        refund, trade = dataclasses.replace(refund), dataclasses.replace(trade)
        delivery = Delivery(channel, refund, trade, url, uuid.uuid4().hex, generation=self._generation)
        fault = self.ledger.take_fault(channel, "notify", NOTIFY_FAULTS)
        if fault is not None and fault.kind == "stale_notify":
            delivery = dataclasses.replace(delivery, age=float(fault.params.get("age_seconds", 600)))
        if fault is not None and fault.kind == "out_of_order_notify":
            delivery = dataclasses.replace(delivery, hold=float(fault.params.get("hold", 2.0)))
        self._put(delivery)
        if fault is not None and fault.kind == "duplicate_notify":
            self._put(dataclasses.replace(delivery, hold=0.0))

    def build(self, delivery: Delivery) -> tuple[dict[str, str], bytes]:
        return self.builders[delivery.channel](delivery)

    # --- worker ---------------------------------------------------------------------------------------------
    def _run(self) -> None:
        held: tuple[Delivery, float] | None = None
        while not self._stop.is_set():
            wait = 0.1 if held is None else max(0.0, min(0.1, held[1] - time.monotonic()))
            try:
                item: Delivery | None = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if held is not None and held[0].generation != self._generation:
                held = None
                self._done()
            if item is None:
                if held is not None and time.monotonic() >= held[1]:
                    self._deliver(held[0])
                    held = None
                continue
            if item.generation != self._generation:
                self._done()
                continue
            if item.hold > 0 and held is None:
                held = (item, time.monotonic() + item.hold)
                continue
            self._deliver(item)
            if held is not None:
                self._deliver(held[0])
                held = None

    def _deliver(self, delivery: Delivery) -> None:
        try:
            self._attempt(delivery)
        finally:
            self._done()

    def _attempt(self, delivery: Delivery) -> None:
        entry: dict[str, object] = {
            "event_id": delivery.event_id,
            "channel": delivery.channel,
            "out_trade_no": delivery.trade.out_trade_no,
            "out_refund_no": delivery.refund.out_refund_no,
            "status": delivery.refund.status,
            "url": delivery.url,
            "stale": delivery.age > 0,
            "attempts": 0,
            "acknowledged": False,
        }
        if not delivery.url:
            entry["error"] = "no notify url"
            self.ledger.log_notification(entry)
            return
        for attempt in range(1, self.attempts + 1):
            if self._stop.is_set() or delivery.generation != self._generation:
                return
            entry["attempts"] = attempt
            headers, body = self.build(delivery)
            request = urllib.request.Request(delivery.url, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    status, answer = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, answer = error.code, error.read()
            except (OSError, ValueError) as error:
                status, answer = 0, str(error).encode()
            entry["http_status"] = status
            if acknowledged(delivery.channel, status, answer):
                entry["acknowledged"] = True
                break
            self._stop.wait(self.backoff * attempt)
        entry["at"] = now().isoformat()
        self.ledger.log_notification(entry)
        if not entry["acknowledged"]:
            logger.info("notification %s to %s not acknowledged", delivery.event_id, delivery.url)
