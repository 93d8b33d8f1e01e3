"""Reads of logistics that more than one caller needs.

``inspection_plan`` is what completing an inspection will do, computed from what was recorded: the cut for goods
that did not come back, the amount the refund will then pay, whether the cut needs a supervisor, and which records
go back to stock or are written off (and why). The inspection page shows it before anyone confirms, and
``logistics.inspection.inspection_complete`` carries out the same plan, so what was shown is what happens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from logistics.models import Condition, Disposition, InspectionPhoto, InspectionRecord, WriteOffReason
from mall.models import OrderItem, Product, Shipment
from refunds.adjustments import ItemReduction, proportional_amount, supervisor_needed
from refunds.models import Refund, RefundItem

ZERO = Decimal("0.00")
WRITE_OFF_REASONS = {Condition.DISCOUNT: WriteOffReason.DISCOUNT, Condition.SPOILED: WriteOffReason.SPOILED}


def within_shelf_life(*, product: Product, shipped_at: datetime | None, at: datetime) -> bool:
    """Whether goods of ``product`` shipped at ``shipped_at`` may still be sold at ``at``."""
    if not product.perishable or shipped_at is None:
        return True
    return at < shipped_at + timedelta(days=product.shelf_life_days)


@dataclass(frozen=True)
class PlannedItem:
    """One returned item: what was claimed, what came back, and what the refund keeps of its amount."""

    refund_item: RefundItem
    received: Decimal
    kept: Decimal

    @property
    def order_item(self) -> OrderItem:
        return self.refund_item.order_item

    @property
    def claimed(self) -> Decimal:
        return self.refund_item.quantity

    @property
    def amount(self) -> Decimal:
        return self.refund_item.amount

    @property
    def cut(self) -> Decimal:
        return self.amount - self.kept

    @property
    def remaining(self) -> Decimal:
        """What may still be recorded of this item: what was claimed (or ordered, for an item claimed by amount
        alone) less what was recorded."""
        limit = self.claimed if self.claimed > 0 else self.order_item.quantity
        return max(limit - self.received, Decimal("0"))


@dataclass(frozen=True)
class PlannedRecord:
    record: InspectionRecord
    disposition: str
    write_off_reason: str | None

    @property
    def disposition_label(self) -> str:
        if self.write_off_reason is None:
            return str(Disposition(self.disposition).label)
        return f"{Disposition(self.disposition).label}: {WriteOffReason(self.write_off_reason).label}"


@dataclass(frozen=True)
class InspectionPlan:
    items: list[PlannedItem]
    records: list[PlannedRecord]
    amount_before: Decimal
    cut: Decimal
    supervisor_share: Decimal

    @property
    def amount_after(self) -> Decimal:
        return self.amount_before - self.cut

    @property
    def needs_supervisor(self) -> bool:
        return supervisor_needed(amount=self.amount_before, cut=self.cut, share=self.supervisor_share)

    @property
    def nothing_left(self) -> bool:
        """Nothing of the refund would be paid: it is rejected instead of completed."""
        return self.amount_after <= 0

    @property
    def reductions(self) -> list[ItemReduction]:
        return [
            ItemReduction(order_item_id=item.order_item.pk, quantity=item.received, amount=item.kept)
            for item in self.shortfalls
        ]

    @property
    def shortfalls(self) -> list[PlannedItem]:
        return [item for item in self.items if item.claimed > 0 and item.received < item.claimed]


def inspection_plan(
    *,
    refund: Refund,
    items: Sequence[RefundItem],
    records: Sequence[InspectionRecord],
    shipped_at: datetime | None,
    at: datetime,
) -> InspectionPlan:
    """What completing the inspection of ``refund`` at ``at`` does, given its ``items`` and the ``records`` made.

    Items claimed by quantity are cut in proportion to what did not come back (rounded in the customer's favour);
    items claimed by amount alone (quantity 0) are not cut."""
    received: dict[int, Decimal] = defaultdict(Decimal)
    for record in records:
        received[record.order_item_id] += record.received_quantity
    planned_items = []
    for item in items:
        got = received.get(item.order_item_id, Decimal("0"))
        kept = item.amount
        if item.quantity > 0 and got < item.quantity:
            kept = proportional_amount(amount=item.amount, quantity=item.quantity, kept_quantity=got)
        planned_items.append(PlannedItem(refund_item=item, received=got, kept=kept))
    planned_records = []
    for record in records:
        product = record.order_item.product
        if record.condition == Condition.RESELLABLE and within_shelf_life(
            product=product, shipped_at=shipped_at, at=at
        ):
            planned_records.append(PlannedRecord(record, Disposition.RESTOCK, None))
        else:
            reason = WRITE_OFF_REASONS.get(Condition(record.condition), WriteOffReason.EXPIRED)
            planned_records.append(PlannedRecord(record, Disposition.WRITE_OFF, reason))
    return InspectionPlan(
        items=planned_items,
        records=planned_records,
        amount_before=refund.amount,
        cut=sum((item.cut for item in planned_items), ZERO),
        supervisor_share=Decimal(settings.REFUND_INSPECTION_CUT_SUPERVISOR_SHARE),
    )


def order_shipped_at(refund: Refund) -> datetime | None:
    return Shipment.objects.filter(order_id=refund.order_id).values_list("shipped_at", flat=True).first()


def inspection_records(refund: Refund) -> list[InspectionRecord]:
    """The refund's inspection records in the order they were made, with their item, product, inspector and
    photos (four queries whatever their number)."""
    return list(
        InspectionRecord.objects.filter(refund=refund)
        .select_related("order_item__product", "inspector")
        .prefetch_related(Prefetch("photos", queryset=InspectionPhoto.objects.order_by("id")))
        .order_by("id")
    )


def inspection_preview(*, refund: Refund, records: Sequence[InspectionRecord] | None = None) -> InspectionPlan:
    """The plan of completing the inspection now, for the pages that show it before anyone confirms."""
    items = list(RefundItem.objects.filter(refund=refund).select_related("order_item").order_by("id"))
    return inspection_plan(
        refund=refund,
        items=items,
        records=inspection_records(refund) if records is None else records,
        shipped_at=order_shipped_at(refund),
        at=timezone.now(),
    )


__all__ = [
    "InspectionPlan",
    "PlannedItem",
    "PlannedRecord",
    "inspection_plan",
    "inspection_preview",
    "inspection_records",
    "order_shipped_at",
    "within_shelf_life",
]
