"""Logistics jobs. Each takes ids, loads, calls one service, and is safe to run twice or after a crash.

``interception_request`` and ``replacement_ship`` are what entering ``intercepting`` and ``replacing`` set off
(registered in ``LogisticsConfig.ready``) for a refund; the restock jobs by the logistics services. The sweeps run
every minute: one asks the carrier about interceptions still waiting, counts those without an answer past
``INTERCEPTION_TIMEOUT_MINUTES`` as failed, and hands lost work to the queue again; the other asks about
replacements not picked up yet and sends the requests the carrier never had.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from logistics import replacement, services
from logistics.models import Inspection, Interception, InterceptionStatus
from mall.jobs import PeriodicJob, job_enqueue, periodic_job_register
from mall.models import StockMovement
from refunds.models import Refund, RefundState, ReplacementShipment

logger = logging.getLogger(__name__)
SWEEP_BATCH = 200
# Restocks of interceptions that succeeded within this window are checked by the sweep (and redone if lost).
RESTOCK_RECHECK = timedelta(days=2)


def interception_request(refund_id: int) -> None:
    """Ask the carrier to stop the refund's parcel. A temporary carrier error raises, so that RQ retries."""
    interception = services.interception_open(refund_id=refund_id)
    if interception is None or interception.status != InterceptionStatus.PENDING or interception.requested_at:
        return
    if not Refund.objects.filter(pk=refund_id, state=RefundState.INTERCEPTING).exists():
        return
    services.interception_send(interception=interception)


def replacement_ship(refund_id: int) -> None:
    """Take a replacement's goods from stock and ask the carrier to ship them. A temporary carrier error raises,
    so that RQ retries; without the stock the refund becomes a money refund instead."""
    shipment = replacement.replacement_prepare(refund_id=refund_id)
    if shipment is None or shipment.requested_at is not None or shipment.refused_at is not None:
        return
    replacement.replacement_send(shipment=shipment)


def restock_intercepted(refund_id: int) -> None:
    services.restock_intercepted(refund_id=refund_id)


def restock_returned(refund_id: int) -> None:
    services.restock_returned(refund_id=refund_id)


def interception_sweep() -> dict[str, int]:
    """Settle interceptions the carrier has not answered, put lost work back on the queue, and open the
    inspection of goods received elsewhere."""
    counts = {"requested": 0, "checked": 0, "concluded": 0, "restocks": 0, "inspections": 0}
    lost = Refund.objects.filter(state=RefundState.INTERCEPTING, interception__isnull=True).values_list("pk", flat=True)
    for refund_id in lost[:SWEEP_BATCH]:
        job_enqueue(interception_request, refund_id, queue="default")
        counts["requested"] += 1
    pending = Interception.objects.filter(status=InterceptionStatus.PENDING).order_by("deadline_at", "id")
    for interception in pending[:SWEEP_BATCH]:
        counts["checked"] += 1
        if services.interception_check(interception=interception).status != InterceptionStatus.PENDING:
            counts["concluded"] += 1
    succeeded = (
        Interception.objects.filter(
            status=InterceptionStatus.SUCCEEDED,
            answered_at__gte=timezone.now() - RESTOCK_RECHECK,
            refund__state__in=services.INTERCEPTED_REFUND_STATES,
            refund__items__quantity__gt=0,
        )
        .select_related("refund")
        .distinct()
    )
    for interception in succeeded[:SWEEP_BATCH]:
        reference = f"intercept:{interception.refund.refund_no}:"
        if not StockMovement.objects.filter(reference__startswith=reference).exists():
            job_enqueue(restock_intercepted, interception.refund_id, queue="stock")
            counts["restocks"] += 1
    # Goods received through the refund console open their inspection here, so the warehouse finds them.
    received = Refund.objects.filter(state=RefundState.INSPECTING, inspection__isnull=True).values_list("pk", flat=True)
    for refund_id in received[:SWEEP_BATCH]:
        _inspection, created = Inspection.objects.get_or_create(refund_id=refund_id)
        counts["inspections"] += int(created)
    if any(counts.values()):
        logger.info("interception sweep: %s", counts)
    return counts


def replacement_sweep() -> dict[str, int]:
    """Hand replacements whose work was lost to the queue again, and ask the carrier about those it has not
    reported picked up (a lost notification)."""
    counts = {"requested": 0, "checked": 0, "shipped": 0}
    lost = Refund.objects.filter(state=RefundState.REPLACING, replacement__isnull=True).values_list("pk", flat=True)
    for refund_id in lost[:SWEEP_BATCH]:
        job_enqueue(replacement_ship, refund_id, queue="default")
        counts["requested"] += 1
    waiting = ReplacementShipment.objects.filter(
        shipped_at__isnull=True, refused_at__isnull=True, refund__state=RefundState.REPLACING
    ).order_by("created_at", "id")
    for shipment in waiting[:SWEEP_BATCH]:
        counts["checked"] += 1
        if replacement.replacement_check(shipment=shipment).shipped_at is not None:
            counts["shipped"] += 1
    if any(counts.values()):
        logger.info("replacement sweep: %s", counts)
    return counts


periodic_job_register(
    PeriodicJob(
        name="logistics.interception_sweep",
        func=interception_sweep,
        description=_("Ask carriers about unanswered interceptions; count those past the time limit as failed."),
        interval=60,
    )
)

periodic_job_register(
    PeriodicJob(
        name="logistics.replacement_sweep",
        func=replacement_sweep,
        description=_("Ask carriers about replacements not picked up yet; send requests they never had."),
        interval=60,
    )
)
