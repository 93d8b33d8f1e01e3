"""What logistics tells the customer (``notices``): where to send the goods back when a refund starts waiting for
them, and the inspection's result, with any cut and why, when it passes. Registered as steps of the refund's
timeline from ``LogisticsConfig.ready()``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from logistics import texts
from logistics.models import Inspection
from logistics.services import return_address
from notices.catalogue import MessageEvent
from notices.steps import step_register
from refunds.models import Refund, RefundEvent, RefundState


def return_needed(refund: Refund, event: RefundEvent) -> tuple[str, Mapping[str, Any]]:
    warehouse = return_address()
    if warehouse is None:
        return MessageEvent.RETURN_NEEDED, {}  # the message points to the refund, where the address will show
    address = {"name": warehouse.name, "contact": warehouse.contact, "phone": warehouse.phone}
    return MessageEvent.RETURN_NEEDED, {**address, "address": warehouse.address}


def inspected(refund: Refund, event: RefundEvent) -> tuple[str, Mapping[str, Any]]:
    params: dict[str, Any] = {"amount": refund.amount}
    inspection = Inspection.objects.filter(refund=refund).only("amount_before", "amount_after").first()
    if inspection is not None and inspection.amount_before is not None and inspection.amount_after is not None:
        cut = inspection.amount_before - inspection.amount_after
        if cut > 0:
            # Why: what did not come back, as the inspection's note on the timeline says it.
            shortfall = (
                RefundEvent.objects.filter(refund=refund, note_code=texts.INSPECTION_SHORTFALL.code)
                .order_by("-id")
                .values_list("note_params", flat=True)
                .first()
            )
            items = shortfall.get("items", []) if isinstance(shortfall, dict) else []
            params.update(cut=cut, items=items)
    return MessageEvent.INSPECTED, params


def register() -> None:
    step_register(RefundState.AWAITING_RETURN, return_needed)
    step_register(RefundState.REFUNDING, inspected, after=(RefundState.INSPECTING,))
