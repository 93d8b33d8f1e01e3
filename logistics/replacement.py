"""Replacements (补发): an approved replacement's goods are taken from stock and shipped again through the carrier.

Entering ``replacing`` sets off ``logistics.jobs.replacement_ship`` (registered in ``LogisticsConfig.ready``):

1. ``replacement_prepare`` takes the listed quantities out of stock, all or none (``mall.stock``), under the
   order's and the refund's row locks, and records the ``ReplacementShipment``. Without the stock the refund
   becomes a money refund on the original path (``refunds.replacement``), with a timeline note saying so.
2. ``replacement_send`` asks the carrier for the shipment (no row lock held during the call); the carrier gives
   the tracking number. Repeating it is harmless: the carrier keys shipments by our refund number. A carrier
   that refuses it for good puts the goods back in stock and the refund goes to the money path, as above.
3. ``replacement_conclude`` applies the carrier's "picked up" (its notification, or the sweep's query): the
   refund reaches ``replaced`` and gives back its claims on the order lines. No money moved.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from logistics.carriers import (
    CarrierError,
    CarrierRejected,
    ShipmentLine,
    ShipmentRequest,
    ShipmentResult,
    ShipmentStatus,
    get_carrier,
)
from logistics.services import notify_url
from mall.models import Shipment
from mall.stock import ReplacementLine, replacement_stock_allocate, replacement_stock_return
from notices.services import replacement_shipped_notify
from refunds.lifecycle import lock_refund
from refunds.models import Refund, RefundState, ReplacementShipment
from refunds.replacement import refund_replacement_shipped, refund_replacement_unavailable
from refunds.texts import REPLACEMENT_CARRIER_REFUSED, REPLACEMENT_NO_STOCK

logger = logging.getLogger(__name__)


def replacement_lines(refund: Refund) -> list[ReplacementLine]:
    """What a replacement takes from stock: each listed line's quantity, once per refund and line."""
    return [
        ReplacementLine(
            product_id=item.order_item.product_id,
            quantity=item.quantity,
            reference=f"replace:{refund.refund_no}:{item.order_item_id}",
        )
        for item in refund.items.select_related("order_item")
        if item.quantity > 0
    ]


@transaction.atomic
def replacement_prepare(*, refund_id: int) -> ReplacementShipment | None:
    """Allocate a replacing refund's goods and record its shipment, once. None when the refund is not replacing
    (withdrawn, or turned into a money refund because stock could not cover it, by this call or before)."""
    refund = lock_refund(refund_id)
    existing = ReplacementShipment.objects.filter(refund=refund).first()
    if existing is not None or refund.state != RefundState.REPLACING:
        return existing
    if not replacement_stock_allocate(lines=replacement_lines(refund)):
        refund_replacement_unavailable(
            refund=refund,
            note=REPLACEMENT_NO_STOCK(),
        )
        return None
    original = Shipment.objects.filter(order_id=refund.order_id).first()
    return ReplacementShipment.objects.create(refund=refund, carrier=original.carrier if original else "")


def _request(shipment: ReplacementShipment) -> ShipmentRequest:
    refund = Refund.objects.select_related("order").get(pk=shipment.refund_id)
    order = refund.order
    return ShipmentRequest(
        reference=refund.refund_no,
        carrier=shipment.carrier,
        receiver_name=order.receiver_name,
        receiver_phone=order.receiver_phone,
        receiver_address=order.receiver_address,
        lines=tuple(
            ShipmentLine(sku=item.order_item.sku, name=item.order_item.name, quantity=str(item.quantity))
            for item in refund.items.select_related("order_item")
            if item.quantity > 0
        ),
        notify_url=notify_url(),
    )


def replacement_send(*, shipment: ReplacementShipment) -> ReplacementShipment:
    """Ask the carrier to ship the replacement and keep its tracking number. ``CarrierTemporaryError``
    propagates (the job retries; the sweep asks again)."""
    ReplacementShipment.objects.filter(pk=shipment.pk).update(attempts=F("attempts") + 1)
    try:
        result = get_carrier().create_shipment(_request(shipment))
    except CarrierRejected as error:
        return replacement_refused(shipment_id=shipment.pk, note=error.message)
    except CarrierError as error:
        ReplacementShipment.objects.filter(pk=shipment.pk).update(last_error=str(error)[:255])
        raise
    return replacement_accepted(shipment_id=shipment.pk, result=result)


def replacement_accepted(*, shipment_id: int, result: ShipmentResult) -> ReplacementShipment:
    """Keep what the carrier answered (its tracking number); a parcel already picked up concludes at once."""
    ReplacementShipment.objects.filter(pk=shipment_id, requested_at__isnull=True).update(
        requested_at=timezone.now(),
        carrier=result.carrier[:32],
        tracking_no=result.tracking_no[:64],
        carrier_shipment_id=result.shipment_id[:64],
        last_error="",
    )
    if result.status == ShipmentStatus.SHIPPED:
        return replacement_conclude(shipment_id=shipment_id)
    return ReplacementShipment.objects.get(pk=shipment_id)


@transaction.atomic
def replacement_conclude(*, shipment_id: int) -> ReplacementShipment:
    """The carrier picked the replacement up: the refund reaches ``replaced``. Idempotent."""
    refund_id = ReplacementShipment.objects.values_list("refund_id", flat=True).get(pk=shipment_id)
    refund = lock_refund(refund_id)
    shipment = ReplacementShipment.objects.select_for_update().get(pk=shipment_id)
    if shipment.shipped_at is not None or shipment.refused_at is not None:
        return shipment
    shipment.shipped_at = timezone.now()
    shipment.save(update_fields=["shipped_at", "updated_at"])
    if refund.state == RefundState.REPLACING:
        refund_replacement_shipped(refund=refund, carrier=shipment.carrier, tracking_no=shipment.tracking_no)
        replacement_shipped_notify(refund=refund, carrier=shipment.carrier, tracking_no=shipment.tracking_no)
    return shipment


@transaction.atomic
def replacement_refused(*, shipment_id: int, note: str) -> ReplacementShipment:
    """The carrier will not ship the replacement: its goods go back to stock and the money goes back instead."""
    refund_id = ReplacementShipment.objects.values_list("refund_id", flat=True).get(pk=shipment_id)
    refund = lock_refund(refund_id)
    shipment = ReplacementShipment.objects.select_for_update().get(pk=shipment_id)
    if shipment.shipped_at is not None or shipment.refused_at is not None:
        return shipment
    shipment.refused_at = timezone.now()
    shipment.last_error = note[:255]
    shipment.save(update_fields=["refused_at", "last_error", "updated_at"])
    replacement_stock_return(lines=replacement_lines(refund))
    refund_replacement_unavailable(
        refund=refund,
        note=REPLACEMENT_CARRIER_REFUSED(),
    )
    return shipment


def replacement_check(*, shipment: ReplacementShipment) -> ReplacementShipment:
    """Ask the carrier how a replacement not yet picked up stands (its notification may have been lost), or
    send the request again if the carrier never had it."""
    if shipment.shipped_at is not None or shipment.refused_at is not None:
        return shipment
    if shipment.requested_at is None:
        try:
            return replacement_send(shipment=shipment)
        except CarrierError:
            logger.info("replacement %s: carrier still unreachable", shipment.pk)
            return shipment
    reference = Refund.objects.values_list("refund_no", flat=True).get(pk=shipment.refund_id)
    try:
        result = get_carrier().query_shipment(reference=reference)
    except CarrierError:
        logger.info("replacement %s: carrier query failed", shipment.pk)
        return shipment
    if result.status == ShipmentStatus.SHIPPED:
        return replacement_conclude(shipment_id=shipment.pk)
    if result.status == ShipmentStatus.NOT_FOUND:
        ReplacementShipment.objects.filter(pk=shipment.pk).update(requested_at=None)
    return ReplacementShipment.objects.get(pk=shipment.pk)


def replacement_shipped_notified(*, carrier: str, tracking_no: str, reference: str) -> str:
    """A ``shipped`` notification from the carrier: what it did (kept on the ``CarrierEvent``). It may come before
    the carrier's answer to our request was stored: then it is found by our refund number and gives the tracking
    number itself."""
    shipment = ReplacementShipment.objects.filter(tracking_no=tracking_no).order_by("-id").first()
    if shipment is None and reference:
        shipment = ReplacementShipment.objects.filter(refund__refund_no=reference, tracking_no="").first()
        if shipment is not None:
            ReplacementShipment.objects.filter(pk=shipment.pk, tracking_no="").update(
                tracking_no=tracking_no, carrier=carrier or shipment.carrier, requested_at=timezone.now()
            )
    if shipment is None:
        return "not a replacement we wait for"
    shipment = replacement_conclude(shipment_id=shipment.pk)
    return f"replacement {shipment.pk}: shipped"


__all__ = [
    "replacement_accepted",
    "replacement_check",
    "replacement_conclude",
    "replacement_lines",
    "replacement_prepare",
    "replacement_refused",
    "replacement_send",
    "replacement_shipped_notified",
]
