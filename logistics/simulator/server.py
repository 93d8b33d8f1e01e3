"""The carrier simulator: a local HTTP server standing in for a carrier's interception and shipping API.

It answers interception requests at once with ``pending`` and decides them after a configurable delay
(succeeded, or failed), then posts a signed notification to the ``notify_url`` of the request, retried until
acknowledged. A shipment request gets a tracking number at once and is picked up (``shipped``, notified the
same way) after the delay. Tests and the demo steer it through ``/sim/*``:

``POST /v1/interceptions``         (signed) ask to stop a parcel {carrier, tracking_no, reference, notify_url}
``POST /v1/interceptions/query``   (signed) the current answer {carrier, tracking_no}
``POST /v1/shipments``             (signed) ship a parcel {reference, carrier, receiver, items, notify_url}
``POST /v1/shipments/query``       (signed) where it stands {reference}
``POST /sim/shipment-outcome``     what to do with one reference's shipment {reference, outcome, delay?, note?};
                                   outcome: shipped | silent (never picked up) | rejected | error (HTTP 503)
``POST /sim/outcome``              what to answer for one tracking number {tracking_no, outcome, delay?, note?};
                                   outcome: succeeded | failed | rejected (refused at once) | silent (never
                                   answers) | error (HTTP 503)
``POST /sim/config``               defaults {delay?, default_outcome?}
``POST /sim/delivered``            a parcel reached its receiver: notify {tracking_no, carrier?, notify_url, reference?}
``POST /sim/notifications/build``  a signed notification, returned rather than sent {type, tracking_no, age_seconds?}
``GET  /sim/state``                interceptions and the notification log
``POST /sim/reset``                forget everything (defaults stay)
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from logistics.simulator import signing
from logistics.simulator.shipments import SHIPMENT_OUTCOMES, BadRequest, ShipmentDesk
from logistics.simulator.shipments import now_iso as _now_iso
from logistics.simulator.signing import NOTIFICATION_MAX_AGE_SECONDS

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 256 * 1024
FINAL = ("succeeded", "failed")
OUTCOMES = ("succeeded", "failed", "rejected", "silent", "error")


class CarrierSimulator(ShipmentDesk):
    def __init__(
        self,
        secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        delay: float = 1.0,
        default_outcome: str = "succeeded",
        notify_attempts: int = 3,
        notify_backoff: float = 0.2,
        notify_timeout: float = 5.0,
    ) -> None:
        if not secret:
            raise ValueError("the carrier simulator needs the shared secret")
        self.secret = secret
        self.delay = delay
        self.default_outcome = default_outcome
        self.notify_attempts = notify_attempts
        self.notify_backoff = notify_backoff
        self.notify_timeout = notify_timeout
        self.stopping = threading.Event()
        self._lock = threading.Condition()
        self._timers: list[tuple[float, int, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._generation = 0
        self.interceptions: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.shipments: dict[str, dict[str, Any]] = {}  # by reference
        self.shipment_outcomes: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.simulator = self  # type: ignore[attr-defined]
        bound_host, bound_port = self.httpd.server_address[:2]
        self.url = (public_url or f"http://{bound_host!s}:{bound_port}").rstrip("/")
        self._worker = threading.Thread(target=self._run_timers, name="carrier-sim-timers", daemon=True)
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        self._worker.start()
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.stopping.set()
            with self._lock:
                self._lock.notify_all()
            self._worker.join(timeout=5)
            self.httpd.server_close()

    def start(self) -> CarrierSimulator:
        """Serve in a background thread (tests, demo); ``stop()`` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="carrier-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self._timers.clear()
            self.interceptions.clear()
            self.outcomes.clear()
            self.shipments.clear()
            self.shipment_outcomes.clear()
            self.notifications.clear()
            self._lock.notify_all()

    # --- timers: decisions and deliveries run on one worker thread ------------------------------------------
    def _later(self, delay: float, action: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._sequence), self._generation, action))
            self._lock.notify_all()

    def _run_timers(self) -> None:
        while not self.stopping.is_set():
            with self._lock:
                if not self._timers:
                    self._lock.wait(0.2)
                    continue
                due, _seq, generation, action = self._timers[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._lock.wait(min(wait, 0.2))
                    continue
                heapq.heappop(self._timers)
                if generation != self._generation:
                    continue
            try:
                action()
            except Exception:
                logger.exception("carrier simulator timer failed")

    # --- the carrier API ------------------------------------------------------------------------------------
    def _plan(self, tracking_no: str) -> dict[str, Any]:
        plan = self.outcomes.get(tracking_no, {})
        return {
            "outcome": plan.get("outcome", self.default_outcome),
            "delay": float(plan.get("delay", self.delay)),
            "note": str(plan.get("note", "")),
        }

    def request_interception(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        tracking_no, carrier = str(data["tracking_no"]), str(data.get("carrier", ""))
        with self._lock:
            plan = self._plan(tracking_no)
            if plan["outcome"] == "error":
                return 503, {"code": "SYSTEM_BUSY", "message": "try again later"}
            if plan["outcome"] == "rejected":
                return 409, {"code": "CANNOT_INTERCEPT", "message": plan["note"] or "parcel already delivered"}
            existing = self.interceptions.get(tracking_no)
            if existing is not None:
                return 200, dict(existing)
            record = {
                "request_id": "IC" + uuid.uuid4().hex[:16].upper(),
                "carrier": carrier,
                "tracking_no": tracking_no,
                "reference": str(data.get("reference", "")),
                "notify_url": str(data.get("notify_url", "")),
                "status": "pending",
                "note": "",
                "requested_at": _now_iso(),
                "decided_at": None,
            }
            self.interceptions[tracking_no] = record
        if plan["outcome"] in FINAL:
            self._later(plan["delay"], lambda: self._decide(tracking_no, plan["outcome"], plan["note"]))
        return 200, dict(record)

    def query_interception(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        tracking_no = str(data["tracking_no"])
        with self._lock:
            if self._plan(tracking_no)["outcome"] == "error":
                return 503, {"code": "SYSTEM_BUSY", "message": "try again later"}
            record = self.interceptions.get(tracking_no)
            if record is None:
                return 200, {"tracking_no": tracking_no, "status": "not_found"}
            return 200, dict(record)

    def _decide(self, tracking_no: str, outcome: str, note: str) -> None:
        with self._lock:
            record = self.interceptions.get(tracking_no)
            if record is None or record["status"] != "pending":
                return
            record.update(status=outcome, note=note, decided_at=_now_iso())
            event = {
                "event_id": uuid.uuid4().hex,
                "type": "interception",
                "carrier": record["carrier"],
                "tracking_no": tracking_no,
                "status": outcome,
                "reference": record["reference"],
                "note": note,
                "occurred_at": record["decided_at"],
            }
            url = record["notify_url"]
        self._deliver(url, event)

    # --- notifications --------------------------------------------------------------------------------------
    def build(self, event: dict[str, Any], *, age: float = 0.0) -> tuple[dict[str, str], bytes]:
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return signing.signed_headers(self.secret, body, age=age), body

    def _deliver(self, url: str, event: dict[str, Any]) -> None:
        entry: dict[str, Any] = {"event": event, "url": url, "attempts": 0, "acknowledged": False}
        generation = self._generation
        for attempt in range(1, self.notify_attempts + 1):
            if not url or self.stopping.is_set() or generation != self._generation:
                break
            entry["attempts"] = attempt
            # Signed afresh on every attempt, as a carrier does: a retry is not a stale message.
            headers, body = self.build(event)
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self.notify_timeout) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except (OSError, ValueError):
                status = 0
            entry["http_status"] = status
            if 200 <= status < 300:
                entry["acknowledged"] = True
                break
            self.stopping.wait(self.notify_backoff * attempt)
        entry["at"] = _now_iso()
        with self._lock:
            if generation == self._generation:
                self.notifications.append(entry)
            self._lock.notify_all()

    def wait_for_notifications(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until ``count`` deliveries were attempted (acknowledged or not); returns the log."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.notifications) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"expected {count} carrier notification(s), got {len(self.notifications)}")
                self._lock.wait(min(left, 0.2))
            return list(self.notifications)

    # --- /sim endpoints -------------------------------------------------------------------------------------
    def sim(self, method: str, path: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if (method, path) == ("GET", "/sim/health"):
            return 200, {"status": "ok"}
        if (method, path) == ("GET", "/sim/state"):
            with self._lock:
                return 200, {
                    "interceptions": [dict(r) for r in self.interceptions.values()],
                    "shipments": [dict(r) for r in self.shipments.values()],
                    "notifications": [dict(n) for n in self.notifications],
                }
        if (method, path) == ("POST", "/sim/reset"):
            self.reset()
            return 200, {"status": "reset"}
        if (method, path) == ("POST", "/sim/config"):
            with self._lock:
                if "delay" in data:
                    self.delay = _delay(data["delay"])
                if "default_outcome" in data:
                    self.default_outcome = _outcome(data["default_outcome"])
            return 200, {"delay": self.delay, "default_outcome": self.default_outcome}
        if (method, path) == ("POST", "/sim/outcome"):
            tracking_no = str(data["tracking_no"])
            plan: dict[str, Any] = {"outcome": _outcome(data["outcome"]), "note": str(data.get("note", ""))}
            if "delay" in data:
                plan["delay"] = _delay(data["delay"])
            with self._lock:
                self.outcomes[tracking_no] = plan
            return 201, {"tracking_no": tracking_no, **plan}
        if (method, path) == ("POST", "/sim/shipment-outcome"):
            reference = str(data["reference"])
            outcome = str(data["outcome"])
            if outcome not in SHIPMENT_OUTCOMES:
                raise BadRequest(f"outcome must be one of {', '.join(SHIPMENT_OUTCOMES)}")
            plan = {"outcome": outcome, "note": str(data.get("note", ""))}
            if "delay" in data:
                plan["delay"] = _delay(data["delay"])
            with self._lock:
                self.shipment_outcomes[reference] = plan
            return 201, {"reference": reference, **plan}
        if (method, path) == ("POST", "/sim/delivered"):
            event = {
                "event_id": uuid.uuid4().hex,
                "type": "delivered",
                "carrier": str(data.get("carrier", "")),
                "tracking_no": str(data["tracking_no"]),
                "reference": str(data.get("reference", "")),
                "note": str(data.get("note", "")),
                "occurred_at": _now_iso(),
            }
            url = str(data["notify_url"])
            self._later(float(data.get("delay", 0)), lambda: self._deliver(url, event))
            return 202, {"event_id": event["event_id"]}
        if (method, path) == ("POST", "/sim/notifications/build"):
            event = {key: value for key, value in data.items() if key != "age_seconds"}
            event.setdefault("event_id", uuid.uuid4().hex)
            event.setdefault("occurred_at", _now_iso())
            headers, body = self.build(event, age=float(data.get("age_seconds", 0)))
            return 200, {"headers": headers, "body": body.decode("utf-8")}
        return 404, {"error": f"no such endpoint: {method} {path}"}

    _SIGNED = ("/v1/interceptions", "/v1/interceptions/query", "/v1/shipments", "/v1/shipments/query")

    # --- routing --------------------------------------------------------------------------------------------
    def dispatch(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], bool]:
        """(status, payload, signed?) for one request."""
        try:
            data: dict[str, Any] = json.loads(body or b"{}") if method == "POST" else {}
            if not isinstance(data, dict):
                raise BadRequest("the body must be a JSON object")
            if path.startswith("/sim/"):
                status, payload = self.sim(method, path, data)
                return status, payload, False
            if method == "POST" and path in self._SIGNED:
                try:
                    signing.verify(self.secret, headers, body, max_age=NOTIFICATION_MAX_AGE_SECONDS)
                except signing.SignatureError as error:
                    return 401, {"code": "INVALID_SIGNATURE", "message": str(error)}, True
                if path.startswith("/v1/shipments"):
                    if not str(data.get("reference", "")):
                        raise BadRequest("reference is required")
                    if path == "/v1/shipments":
                        status, payload = self.create_shipment(data)
                    else:
                        status, payload = self.query_shipment(data)
                    return status, payload, True
                if not str(data.get("tracking_no", "")):
                    raise BadRequest("tracking_no is required")
                if path == "/v1/interceptions":
                    status, payload = self.request_interception(data)
                else:
                    status, payload = self.query_interception(data)
                return status, payload, True
        except (BadRequest, ValueError, TypeError, KeyError) as error:
            return 400, {"code": "BAD_REQUEST", "message": str(error) or type(error).__name__}, path.startswith("/v1/")
        return 404, {"code": "NOT_FOUND", "message": "not found"}, False


def _outcome(value: Any) -> str:
    if value not in OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(OUTCOMES)}")
    return str(value)


def _delay(value: Any) -> float:
    delay = float(value)
    if not 0 <= delay <= 3600:
        raise BadRequest("delay is 0..3600 seconds")
    return delay


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CarrierSimulator/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        simulator: CarrierSimulator = self.server.simulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._write(simulator, 413, {"error": "body too large"}, signed=False)
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload, signed = simulator.dispatch(method, urlsplit(self.path).path, headers, body)
        except Exception:
            logger.exception("carrier simulator failed on %s %s", method, urlsplit(self.path).path)
            status, payload, signed = 500, {"error": "simulator error"}, False
        try:
            self._write(simulator, status, payload, signed=signed)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write(self, simulator: CarrierSimulator, status: int, payload: dict[str, Any], *, signed: bool) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = signing.signed_headers(simulator.secret, body) if signed else {"Content-Type": "application/json"}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


def start_simulator(secret: str, **options: Any) -> CarrierSimulator:
    """Start a simulator on a free 127.0.0.1 port in a background thread; ``.url`` says where."""
    return CarrierSimulator(secret, **options).start()
