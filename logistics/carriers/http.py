"""The HTTP carrier adapter: a carrier (or aggregator) API speaking signed JSON, as the bundled simulator does.

``POST /v1/interceptions``        ask to stop a parcel ``{carrier, tracking_no, reference, notify_url}``
``POST /v1/interceptions/query``  the current answer ``{carrier, tracking_no}``
``POST /v1/shipments``            ship a parcel ``{reference, carrier, receiver, items, notify_url}``
``POST /v1/shipments/query``      where it stands ``{reference}``

Requests and answers are signed like notifications (``signing.py``); an answer whose signature does not verify
is treated as no answer at all (temporary: ask again).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests

from logistics.carriers import signing
from logistics.carriers.base import (
    NOTIFICATION_MAX_AGE_SECONDS,
    CarrierNotification,
    CarrierRejected,
    CarrierTemporaryError,
    InterceptionOutcome,
    InterceptionRequest,
    InterceptionResult,
    NotificationInvalid,
    NotificationKind,
    ShipmentRequest,
    ShipmentResult,
    ShipmentStatus,
)
from mall.json_limits import json_loads

_OUTCOMES = {o.value: o for o in InterceptionOutcome}
_SHIPMENT_STATUSES = {s.value: s for s in ShipmentStatus}


class HttpCarrier:
    def __init__(self, *, base_url: str, secret: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self._session = requests.Session()

    # --- calls ------------------------------------------------------------------------------------------------
    def request_interception(self, req: InterceptionRequest) -> InterceptionResult:
        payload = {
            "carrier": req.carrier,
            "tracking_no": req.tracking_no,
            "reference": req.reference,
            "notify_url": req.notify_url,
        }
        return self._result(self._post("/v1/interceptions", payload))

    def query_interception(self, *, carrier: str, tracking_no: str) -> InterceptionResult:
        data = self._post("/v1/interceptions/query", {"carrier": carrier, "tracking_no": tracking_no})
        return self._result(data)

    def create_shipment(self, req: ShipmentRequest) -> ShipmentResult:
        payload = {
            "reference": req.reference,
            "carrier": req.carrier,
            "receiver": {"name": req.receiver_name, "phone": req.receiver_phone, "address": req.receiver_address},
            "items": [{"sku": line.sku, "name": line.name, "quantity": line.quantity} for line in req.lines],
            "notify_url": req.notify_url,
        }
        return self._shipment(self._post("/v1/shipments", payload))

    def query_shipment(self, *, reference: str) -> ShipmentResult:
        return self._shipment(self._post("/v1/shipments/query", {"reference": reference}))

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            headers = signing.signed_headers(self.secret, body)
        except signing.SignatureError as error:
            raise CarrierTemporaryError(str(error), code="no_secret") from None
        try:
            response = self._session.post(self.base_url + path, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as error:
            raise CarrierTemporaryError(f"carrier unreachable: {type(error).__name__}", code="network") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise CarrierTemporaryError("carrier busy or failing", code=str(response.status_code))
        try:
            signing.verify(self.secret, response.headers, response.content, max_age=NOTIFICATION_MAX_AGE_SECONDS)
            data = json_loads(response.content)
        except (signing.SignatureError, ValueError):
            raise CarrierTemporaryError("unverifiable carrier answer", code="bad_answer") from None
        if not isinstance(data, dict):
            raise CarrierTemporaryError("unreadable carrier answer", code="bad_answer")
        if response.status_code >= 400:
            raise CarrierRejected(str(data.get("message", "refused")), code=str(data.get("code", response.status_code)))
        return data

    @staticmethod
    def _result(data: Mapping[str, Any]) -> InterceptionResult:
        outcome = _OUTCOMES.get(str(data.get("status", "")))
        if outcome is None:
            raise CarrierTemporaryError("unknown interception status", code="bad_answer")
        return InterceptionResult(
            outcome=outcome,
            tracking_no=str(data.get("tracking_no", "")),
            reference=str(data.get("reference", "")),
            carrier_request_id=str(data.get("request_id", "")),
            note=str(data.get("note", ""))[:255],
            raw=dict(data),
        )

    @staticmethod
    def _shipment(data: Mapping[str, Any]) -> ShipmentResult:
        status = _SHIPMENT_STATUSES.get(str(data.get("status", "")))
        if status is None:
            raise CarrierTemporaryError("unknown shipment status", code="bad_answer")
        tracking_no = str(data.get("tracking_no", ""))
        if status != ShipmentStatus.NOT_FOUND and not 0 < len(tracking_no) <= 64:
            raise CarrierTemporaryError("shipment without a usable tracking number", code="bad_answer")
        return ShipmentResult(
            status=status,
            reference=str(data.get("reference", ""))[:32],
            carrier=str(data.get("carrier", ""))[:32],
            tracking_no=tracking_no,
            shipment_id=str(data.get("shipment_id", ""))[:64],
            raw=dict(data),
        )

    # --- notifications ----------------------------------------------------------------------------------------
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> CarrierNotification:
        try:
            signing.verify(self.secret, headers, body, max_age=NOTIFICATION_MAX_AGE_SECONDS)
        except signing.SignatureError as error:
            raise NotificationInvalid(str(error)) from None
        try:
            data = json_loads(body)
            kind = NotificationKind(str(data["type"]))
            event_id = str(data["event_id"])
            tracking_no = str(data["tracking_no"])
            outcome = None
            if kind == NotificationKind.INTERCEPTION:
                outcome = InterceptionOutcome(str(data["status"]))
                if outcome not in (InterceptionOutcome.SUCCEEDED, InterceptionOutcome.FAILED):
                    raise ValueError("an interception notification carries a final outcome")
            occurred = data.get("occurred_at")
            occurred_at = datetime.fromisoformat(occurred) if occurred else None
        except (ValueError, KeyError, TypeError) as error:
            raise NotificationInvalid(f"malformed notification: {type(error).__name__}") from None
        if not event_id or len(event_id) > 64 or not tracking_no or len(tracking_no) > 64:
            raise NotificationInvalid("malformed notification: ids")
        return CarrierNotification(
            event_id=event_id,
            kind=kind,
            carrier=str(data.get("carrier", ""))[:32],
            tracking_no=tracking_no,
            outcome=outcome,
            reference=str(data.get("reference", ""))[:32],
            note=str(data.get("note", ""))[:255],
            occurred_at=occurred_at,
            raw=data,
        )
