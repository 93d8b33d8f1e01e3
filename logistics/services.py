"""Writes of logistics: return addresses, interceptions of parcels in transit, the warehouse's receipt of
returned goods and the carrier's notifications. The quality inspection lives in ``logistics.inspection``, the
perishable claims in ``logistics.perishable`` and replacements' shipping in ``logistics.replacement``; all are
re-exported here.

Every write that touches a refund locks the order row first (``refunds.lifecycle.lock_refund``), then the
logistics rows, and moves the refund only through ``refunds.flow``. Carrier calls are never made while a row
lock is held. Side effects (restock) are jobs scheduled after commit, each idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics import texts
from logistics.carriers import (
    CarrierError,
    CarrierNotification,
    CarrierRejected,
    InterceptionOutcome,
    InterceptionRequest,
    NotificationKind,
    get_carrier,
)
from logistics.models import CarrierEvent, Inspection, Interception, InterceptionStatus, Warehouse
from mall.actors import Staff
from mall.jobs import job_enqueue
from mall.models import Shipment
from mall.services import stock_adjust
from mall.texts import Note
from mall.transactions import atomic_with_retry
from refunds import flow
from refunds.exceptions import RefundNotAllowed, ReviewForbidden
from refunds.lifecycle import lock_refund, refund_record_event
from refunds.models import Refund, RefundState, ReturnShipment

logger = logging.getLogger(__name__)

RESTOCK_INTERCEPTED_JOB = "logistics.jobs.restock_intercepted"
NOTIFY_PATH = "/logistics/notify/"
# A refund whose interception succeeded went on to the channel: its goods are the shop's again.
INTERCEPTED_REFUND_STATES = (RefundState.REFUNDING, RefundState.REFUNDED, RefundState.FAILED)


def notify_url() -> str:
    return settings.LOGISTICS_NOTIFY_BASE_URL.rstrip("/") + NOTIFY_PATH


# --- return addresses ------------------------------------------------------------------------------------


@transaction.atomic
def warehouse_save(*, warehouse: Warehouse, actor: Staff) -> Warehouse:
    """Create or change a warehouse; at most one is the default return address."""
    if not actor.has_perm("logistics.manage_warehouse"):
        raise ReviewForbidden(_("You may not manage warehouses."))
    list(Warehouse.objects.select_for_update().filter(is_default=True))
    if warehouse.is_default and not warehouse.active:
        warehouse.is_default = False
    warehouse.save()
    if warehouse.is_default:
        Warehouse.objects.filter(is_default=True).exclude(pk=warehouse.pk).update(is_default=False)
    return warehouse


def return_address() -> Warehouse | None:
    """The address customers send goods back to: the default active warehouse, else the first active one."""
    return Warehouse.objects.filter(active=True).order_by("-is_default", "name", "id").first()


# --- interception ----------------------------------------------------------------------------------------


def interception_open(*, refund_id: int) -> Interception | None:
    """The refund's interception, created on first call while the refund is ``intercepting``."""
    existing = Interception.objects.filter(refund_id=refund_id).first()
    if existing is not None:
        return existing
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    shipment = Shipment.objects.filter(order_id=refund.order_id).first()
    if refund.state != RefundState.INTERCEPTING or shipment is None:
        return None
    deadline = timezone.now() + timedelta(minutes=settings.INTERCEPTION_TIMEOUT_MINUTES)
    try:
        with transaction.atomic():
            return Interception.objects.create(
                refund=refund, carrier=shipment.carrier, tracking_no=shipment.tracking_no, deadline_at=deadline
            )
    except IntegrityError:
        # A second worker created it first: one interception per refund.
        return Interception.objects.get(refund_id=refund_id)


def interception_send(*, interception: Interception) -> Interception:
    """Ask the carrier to stop the parcel (no lock held during the call). Repeating it is harmless.

    ``CarrierTemporaryError`` propagates (the job retries; the sweep asks again); a refusal counts as failed.
    """
    refund_no = Refund.objects.values_list("refund_no", flat=True).get(pk=interception.refund_id)
    Interception.objects.filter(pk=interception.pk).update(attempts=F("attempts") + 1)
    request = InterceptionRequest(
        carrier=interception.carrier, tracking_no=interception.tracking_no, reference=refund_no, notify_url=notify_url()
    )
    try:
        result = get_carrier().request_interception(request)
    except CarrierRejected as error:
        return interception_conclude(
            interception_id=interception.pk, outcome=InterceptionOutcome.FAILED, carrier_note=error.message
        )
    except CarrierError as error:
        Interception.objects.filter(pk=interception.pk).update(last_error=str(error)[:255])
        raise
    Interception.objects.filter(pk=interception.pk, requested_at__isnull=True).update(
        requested_at=timezone.now(), carrier_request_id=result.carrier_request_id[:64], last_error=""
    )
    if result.outcome in (InterceptionOutcome.SUCCEEDED, InterceptionOutcome.FAILED):
        return interception_conclude(interception_id=interception.pk, outcome=result.outcome, carrier_note=result.note)
    return Interception.objects.get(pk=interception.pk)


@transaction.atomic
def interception_conclude(
    *, interception_id: int, outcome: InterceptionOutcome | str, carrier_note: str = "", timed_out: bool = False
) -> Interception:
    """Apply the carrier's final answer (or the lack of one) to the interception and its refund. Idempotent:
    a repeated answer changes nothing; a late answer after a time-out is only noted for staff."""
    refund_id = Interception.objects.values_list("refund_id", flat=True).get(pk=interception_id)
    refund = lock_refund(refund_id)
    interception = Interception.objects.select_for_update().get(pk=interception_id)
    if interception.status != InterceptionStatus.PENDING:
        if interception.status == InterceptionStatus.TIMED_OUT and outcome == InterceptionOutcome.SUCCEEDED:
            refund_record_event(
                refund=refund,
                from_state=refund.state,
                note=texts.INTERCEPTED_LATE(),
                internal=True,
            )
            interception.carrier_note = (carrier_note or _("intercepted late"))[:255]
            interception.save(update_fields=["carrier_note", "updated_at"])
        return interception
    interception.answered_at = timezone.now()
    interception.carrier_note = carrier_note[:255]
    if refund.state != RefundState.INTERCEPTING:
        # The customer withdrew meanwhile: keep the carrier's answer, move nothing; a stopped parcel of an order
        # that is no longer refunded must be sent out again by a person, not restocked.
        stopped = outcome == InterceptionOutcome.SUCCEEDED
        interception.status = InterceptionStatus.SUCCEEDED if stopped else InterceptionStatus.FAILED
        interception.save()
        if stopped:
            refund_record_event(
                refund=refund,
                from_state=refund.state,
                note=texts.STOPPED_AFTER_WITHDRAWAL(),
                internal=True,
            )
        return interception
    if timed_out:
        interception.status = InterceptionStatus.TIMED_OUT
        interception.save()
        flow.refund_interception_failed(
            refund=refund,
            note=texts.INTERCEPTION_TIMED_OUT(),
        )
    elif outcome == InterceptionOutcome.SUCCEEDED:
        interception.status = InterceptionStatus.SUCCEEDED
        interception.save()
        flow.refund_interception_succeeded(refund=refund, note=texts.PARCEL_STOPPED())
        job_enqueue(RESTOCK_INTERCEPTED_JOB, refund.pk, queue="stock")
    else:
        interception.status = InterceptionStatus.FAILED
        interception.save()
        flow.refund_interception_failed(refund=refund)
    return interception


def interception_check(*, interception: Interception) -> Interception:
    """Ask the carrier how a pending interception stands; a silent carrier past the deadline counts as failed."""
    if interception.status != InterceptionStatus.PENDING:
        return interception
    if interception.requested_at is None:
        # A refund withdrawn before the carrier had the request asks nothing; it lapses at the deadline.
        if Refund.objects.filter(pk=interception.refund_id, state=RefundState.INTERCEPTING).exists():
            try:
                interception = interception_send(interception=interception)
            except CarrierError:
                logger.info("interception %s: carrier still unreachable", interception.pk)
    else:
        try:
            result = get_carrier().query_interception(
                carrier=interception.carrier, tracking_no=interception.tracking_no
            )
        except CarrierError:
            logger.info("interception %s: carrier query failed", interception.pk)
        else:
            if result.outcome in (InterceptionOutcome.SUCCEEDED, InterceptionOutcome.FAILED):
                return interception_conclude(
                    interception_id=interception.pk, outcome=result.outcome, carrier_note=result.note
                )
            if result.outcome == InterceptionOutcome.NOT_FOUND:
                Interception.objects.filter(pk=interception.pk).update(requested_at=None)
                interception.requested_at = None
    interception.refresh_from_db()
    if interception.status == InterceptionStatus.PENDING and timezone.now() >= interception.deadline_at:
        return interception_conclude(
            interception_id=interception.pk, outcome=InterceptionOutcome.FAILED, timed_out=True
        )
    return interception


def restock_intercepted(*, refund_id: int) -> int:
    """Put an intercepted parcel's refunded goods back in stock, once per item. Returns the items restocked now."""
    refund = Refund.objects.get(pk=refund_id)
    if refund.state not in INTERCEPTED_REFUND_STATES:
        return 0  # withdrawn before the carrier answered: the goods still belong to the customer
    if not Interception.objects.filter(refund=refund, status=InterceptionStatus.SUCCEEDED).exists():
        return 0
    restocked = 0
    for item in refund.items.select_related("order_item__product"):
        if item.quantity <= 0:
            continue
        if stock_adjust(
            product=item.order_item.product,
            delta=item.quantity,
            reason="intercepted",
            reference=f"intercept:{refund.refund_no}:{item.order_item_id}",
        ):
            restocked += 1
    return restocked


# --- returns -----------------------------------------------------------------------------------------------


@transaction.atomic
def return_receive(*, refund: Refund, actor: Staff | None = None, note: Note = "") -> Refund:
    """The warehouse has the returned goods: the refund moves to ``inspecting`` and an inspection opens."""
    if actor is not None and not actor.has_perm("refunds.confirm_return"):
        raise ReviewForbidden()
    refund = lock_refund(refund.pk)
    if refund.state == RefundState.INSPECTING:
        Inspection.objects.get_or_create(refund=refund)
        return refund
    if refund.state not in (RefundState.AWAITING_RETURN, RefundState.RETURN_IN_TRANSIT):
        raise RefundNotAllowed(state=refund.state)
    refund = flow.refund_return_receive(refund=refund, actor=actor, note=note or texts.RECEIVED_BY_WAREHOUSE())
    Inspection.objects.get_or_create(refund=refund)
    return refund


# --- carrier notifications ---------------------------------------------------------------------------------


# One transaction: an event whose handling failed is not kept, so the carrier's retry handles it again; one that
# lost a deadlock runs again at once.
@atomic_with_retry
def carrier_notification_handle(*, notification: CarrierNotification) -> str:
    """Act on a verified carrier notification once. Returns what it did (kept on the ``CarrierEvent``)."""
    try:
        with transaction.atomic():
            event = CarrierEvent.objects.create(
                event_id=notification.event_id,
                kind=notification.kind.value,
                carrier=notification.carrier,
                tracking_no=notification.tracking_no,
                status=notification.outcome.value if notification.outcome else "",
                occurred_at=notification.occurred_at,
            )
    except IntegrityError:
        return "duplicate"
    if notification.kind == NotificationKind.INTERCEPTION:
        outcome = _interception_notified(notification)
    elif notification.kind == NotificationKind.SHIPPED:
        outcome = replacement_shipped_notified(
            carrier=notification.carrier, tracking_no=notification.tracking_no, reference=notification.reference
        )
    else:
        outcome = _delivered_notified(notification)
    CarrierEvent.objects.filter(pk=event.pk).update(outcome=outcome[:255])
    return outcome


def _interception_notified(notification: CarrierNotification) -> str:
    candidates = Interception.objects.filter(tracking_no=notification.tracking_no)
    if notification.reference:
        candidates = candidates.filter(refund__refund_no=notification.reference)
    interception = candidates.order_by("-id").first()
    if interception is None:
        return "unknown interception"
    assert notification.outcome is not None
    interception = interception_conclude(
        interception_id=interception.pk, outcome=notification.outcome, carrier_note=notification.note
    )
    return f"interception {interception.pk}: {interception.status}"


def _delivered_notified(notification: CarrierNotification) -> str:
    """A return parcel reached our warehouse: the same as a person confirming receipt."""
    # Matched by tracking number only: customers write the carrier's name as they like ("圆通", "YTO").
    shipment = (
        ReturnShipment.objects.filter(
            tracking_no=notification.tracking_no,
            received_at__isnull=True,
            refund__state__in=(RefundState.AWAITING_RETURN, RefundState.RETURN_IN_TRANSIT),
        )
        .select_related("refund")
        .order_by("-id")
        .first()
    )
    if shipment is None:
        return "not a return we wait for"
    try:
        return_receive(refund=shipment.refund, note=texts.DELIVERED_TO_WAREHOUSE())
    except RefundNotAllowed:
        return f"refund {shipment.refund.refund_no} not waiting for goods"
    return f"refund {shipment.refund.refund_no}: received"


# The quality inspection, re-exported so that callers find every logistics write here; and the replacements'
# handling of the carrier's "shipped" notification.
from logistics.inspection import (  # noqa: E402
    RecordLine,
    inspection_complete,
    inspection_record,
    inspection_record_lines,
    restock_returned,
)
from logistics.perishable import perishable_claim_settle  # noqa: E402
from logistics.replacement import replacement_shipped_notified  # noqa: E402

__all__ = [
    "RecordLine",
    "carrier_notification_handle",
    "inspection_complete",
    "inspection_record",
    "inspection_record_lines",
    "interception_check",
    "interception_conclude",
    "interception_open",
    "interception_send",
    "notify_url",
    "perishable_claim_settle",
    "restock_intercepted",
    "restock_returned",
    "return_address",
    "return_receive",
    "warehouse_save",
]
