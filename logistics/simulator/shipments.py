"""The carrier simulator's shipping desk: parcels the shop asks it to ship (replacements).

A request gets a tracking number at once (``created``); after the plan's delay the parcel is picked up
(``shipped``) and a signed ``shipped`` notification goes to the request's ``notify_url``. Plans per reference:
shipped (default), silent (never picked up), rejected (refused at once), error (HTTP 503).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

SHIPMENT_OUTCOMES = ("shipped", "silent", "rejected", "error")


class BadRequest(Exception):
    pass


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class ShipmentDesk:
    """Mixed into ``CarrierSimulator``, whose lock, timers and notification delivery it uses."""

    _lock: threading.Condition
    delay: float
    shipments: dict[str, dict[str, Any]]
    shipment_outcomes: dict[str, dict[str, Any]]

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        raise NotImplementedError

    def _deliver(self, url: str, event: dict[str, Any]) -> None:
        raise NotImplementedError

    # --- shipments ------------------------------------------------------------------------------------------
    def _shipment_plan(self, reference: str) -> dict[str, Any]:
        plan = self.shipment_outcomes.get(reference, {})
        return {
            "outcome": plan.get("outcome", "shipped"),
            "delay": float(plan.get("delay", self.delay)),
            "note": str(plan.get("note", "")),
        }

    def create_shipment(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reference = str(data["reference"])
        items = data.get("items")
        if not isinstance(items, list) or not items:
            raise BadRequest("items are required")
        with self._lock:
            plan = self._shipment_plan(reference)
            if plan["outcome"] == "error":
                return 503, {"code": "SYSTEM_BUSY", "message": "try again later"}
            if plan["outcome"] == "rejected":
                return 409, {"code": "CANNOT_SHIP", "message": plan["note"] or "address not served"}
            existing = self.shipments.get(reference)
            if existing is not None:
                return 200, dict(existing)
            carrier = str(data.get("carrier", "")) or "SIM"
            record = {
                "shipment_id": "SH" + uuid.uuid4().hex[:16].upper(),
                "reference": reference,
                "carrier": carrier,
                "tracking_no": carrier.upper()[:8] + uuid.uuid4().hex[:12].upper(),
                "receiver": data.get("receiver", {}),
                "items": items,
                "notify_url": str(data.get("notify_url", "")),
                "status": "created",
                "created_at": now_iso(),
                "shipped_at": None,
            }
            self.shipments[reference] = record
        if plan["outcome"] == "shipped":
            self._later(plan["delay"], lambda: self._pick_up(reference))
        return 200, dict(record)

    def query_shipment(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reference = str(data["reference"])
        with self._lock:
            if self._shipment_plan(reference)["outcome"] == "error":
                return 503, {"code": "SYSTEM_BUSY", "message": "try again later"}
            record = self.shipments.get(reference)
            if record is None:
                return 200, {"reference": reference, "status": "not_found"}
            return 200, dict(record)

    def _pick_up(self, reference: str) -> None:
        with self._lock:
            record = self.shipments.get(reference)
            if record is None or record["status"] != "created":
                return
            record.update(status="shipped", shipped_at=now_iso())
            event = {
                "event_id": uuid.uuid4().hex,
                "type": "shipped",
                "carrier": record["carrier"],
                "tracking_no": record["tracking_no"],
                "reference": reference,
                "note": "",
                "occurred_at": record["shipped_at"],
            }
            url = record["notify_url"]
        self._deliver(url, event)
