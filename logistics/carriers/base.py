"""The carrier port: what the shop may ask of a carrier, in the shop's own terms.

Adapters (``http.py``) translate these calls to a carrier's API. Notifications are signed with HMAC-SHA256 over
``"<timestamp>.<raw body>"`` with a secret shared with the carrier (``signing.py``), and refused when older than
five minutes, so a replayed, validly signed message cannot act twice.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

NOTIFICATION_MAX_AGE_SECONDS = 300


class InterceptionOutcome(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_FOUND = "not_found"


class NotificationKind(enum.StrEnum):
    INTERCEPTION = "interception"
    DELIVERED = "delivered"
    SHIPPED = "shipped"  # a parcel we asked the carrier to ship was picked up


class ShipmentStatus(enum.StrEnum):
    CREATED = "created"  # accepted, waiting to be picked up
    SHIPPED = "shipped"
    NOT_FOUND = "not_found"


# --- errors ---------------------------------------------------------------------------------------------
class CarrierError(Exception):
    """A carrier call did not give a usable answer."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


class CarrierTemporaryError(CarrierError):
    """Timeout, 5xx, unreadable answer: the outcome is unknown; ask again (the request is idempotent) or query."""


class CarrierRejected(CarrierError):
    """The carrier refused for good (e.g. the parcel is already delivered, or it does not know the number)."""


class NotificationInvalid(Exception):
    """A notification that is forged, stale or malformed. It must change nothing."""


# --- values ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InterceptionRequest:
    carrier: str
    tracking_no: str
    reference: str  # our refund number: the carrier echoes it in its answers
    notify_url: str

    def __post_init__(self) -> None:
        if not (self.carrier and self.tracking_no and self.reference):
            raise ValueError("carrier, tracking_no and reference are required")


@dataclass(frozen=True)
class InterceptionResult:
    outcome: InterceptionOutcome
    tracking_no: str
    reference: str = ""
    carrier_request_id: str = ""
    note: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ShipmentLine:
    sku: str
    name: str
    quantity: str  # pieces or kilograms, as a decimal string


@dataclass(frozen=True)
class ShipmentRequest:
    """A parcel for the carrier to pick up at our warehouse and deliver (a replacement)."""

    reference: str  # our refund number: one shipment per reference, the carrier echoes it
    carrier: str  # the carrier we prefer (the original parcel's)
    receiver_name: str
    receiver_phone: str
    receiver_address: str
    lines: tuple[ShipmentLine, ...]
    notify_url: str

    def __post_init__(self) -> None:
        if not (self.reference and self.lines):
            raise ValueError("reference and lines are required")


@dataclass(frozen=True)
class ShipmentResult:
    status: ShipmentStatus
    reference: str
    carrier: str = ""
    tracking_no: str = ""
    shipment_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class CarrierNotification:
    event_id: str
    kind: NotificationKind
    carrier: str
    tracking_no: str
    outcome: InterceptionOutcome | None  # interception results only
    reference: str
    note: str
    occurred_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


# --- the port -------------------------------------------------------------------------------------------
@runtime_checkable
class Carrier(Protocol):
    """A carrier's operations. Every call may raise ``CarrierTemporaryError``."""

    def request_interception(self, req: InterceptionRequest) -> InterceptionResult:
        """Ask the carrier to stop a parcel. Repeating the request for the same tracking number is harmless.

        The answer usually comes later (notification or query): ``outcome`` is then ``pending``.
        Raises ``CarrierRejected`` when the carrier refuses at once.
        """
        ...

    def query_interception(self, *, carrier: str, tracking_no: str) -> InterceptionResult:
        """The carrier's current answer for one parcel; ``not_found`` if it never got the request."""
        ...

    def create_shipment(self, req: ShipmentRequest) -> ShipmentResult:
        """Ask the carrier to ship a parcel; it answers with the tracking number. Repeating the request for the same
        reference returns the same shipment. Raises ``CarrierRejected`` when the carrier refuses it."""
        ...

    def query_shipment(self, *, reference: str) -> ShipmentResult:
        """Where the shipment of ``reference`` stands; ``not_found`` if the carrier never got the request."""
        ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> CarrierNotification:
        """Verify and read a notification exactly as received (headers and raw body).

        Raises ``NotificationInvalid`` for a bad or missing signature, a stale timestamp, or a malformed body.
        """
        ...
