"""Carriers behind one port (``base.Carrier``); ``get_carrier`` builds the configured adapter."""

from __future__ import annotations

from django.conf import settings

from logistics.carriers.base import (
    Carrier,
    CarrierError,
    CarrierNotification,
    CarrierRejected,
    CarrierTemporaryError,
    InterceptionOutcome,
    InterceptionRequest,
    InterceptionResult,
    NotificationInvalid,
    NotificationKind,
    ShipmentLine,
    ShipmentRequest,
    ShipmentResult,
    ShipmentStatus,
)
from logistics.carriers.http import HttpCarrier


def get_carrier() -> Carrier:
    """The carrier API from settings: the bundled simulator unless ``CARRIER_SIMULATOR_URL`` points elsewhere."""
    return HttpCarrier(
        base_url=settings.CARRIER_SIMULATOR_URL,
        secret=settings.CARRIER_NOTIFY_SECRET,
        timeout=settings.CARRIER_TIMEOUT_SECONDS,
    )


__all__ = [
    "Carrier",
    "CarrierError",
    "CarrierNotification",
    "CarrierRejected",
    "CarrierTemporaryError",
    "HttpCarrier",
    "InterceptionOutcome",
    "InterceptionRequest",
    "InterceptionResult",
    "NotificationInvalid",
    "NotificationKind",
    "ShipmentLine",
    "ShipmentRequest",
    "ShipmentResult",
    "ShipmentStatus",
    "get_carrier",
]
