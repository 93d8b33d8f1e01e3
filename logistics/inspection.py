"""Quality inspection (质检入库) of returned goods, and the restock of what can still be sold.

Per returned item the warehouse records what arrived: a quantity (pieces, or kg for goods sold by weight) in one
condition (resellable, sell at a discount, spoiled), with photos and notes; an item that came back partly good
has one record per condition. Several items are recorded at once, all or nothing. Completing the inspection
carries out ``logistics.selectors.inspection_plan``, the plan the inspection page showed before confirming:
- lowers the refund in proportion to what did not come back (``refunds.adjustments``; a large cut needs a
  supervisor), with a note the customer sees;
- decides each record: resellable goods still within shelf life (shipped date + the product's shelf life) go
  back to stock, by a job keyed ``return:<refund_no>:<order item id>``; everything else is written off with its
  reason (spoiled, sold at a discount, past its shelf life);
- passes the inspection, which sends the refund to the channel.
Perishable claims settled without a return live in ``logistics.perishable``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics import texts
from logistics.exceptions import InspectionNotAllowed, InvalidInspection
from logistics.models import (
    Condition,
    Disposition,
    Inspection,
    InspectionPhoto,
    InspectionRecord,
    InspectionStatus,
    WriteOff,
)
from logistics.selectors import InspectionPlan, inspection_plan, order_shipped_at, within_shelf_life
from mall.actors import Staff
from mall.jobs import job_enqueue
from mall.models import Product, SaleUnit
from mall.money import yuan
from mall.photos import PhotoRefused, photo_type
from mall.quantities import quantity_note, quantity_text
from mall.services import stock_adjust
from mall.texts import Note, Text
from refunds import flow
from refunds.adjustments import refund_reduce
from refunds.exceptions import RefundNotAllowed, ReviewForbidden
from refunds.lifecycle import lock_refund, refund_record_event
from refunds.models import Refund, RefundItem, RefundState
from refunds.texts import INSPECTION_PASSED

RESTOCK_RETURNED_JOB = "logistics.jobs.restock_returned"
QTY = Decimal("0.001")
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 9


def _check_inspector(actor: Staff) -> None:
    if actor is None or not actor.has_perm("refunds.confirm_return"):
        raise ReviewForbidden(_("You may not record inspection results."))


@dataclass(frozen=True)
class RecordLine:
    """What arrived of one returned item in one condition."""

    order_item_id: int
    received_quantity: Decimal
    condition: str
    notes: str = ""
    photos: Sequence[UploadedFile[Any]] = ()


def _read_photos(photos: Sequence[UploadedFile[Any]], line: int) -> list[tuple[bytes, str, str]]:
    """(bytes, content type, extension) of each photo, checked by content; anything else is refused."""
    read = []
    for upload in photos:
        data = upload.read(MAX_PHOTO_BYTES + 1)
        if not data or len(data) > MAX_PHOTO_BYTES:
            raise InvalidInspection(_("A photo may be at most 5 MB."), field="photos", line=line)
        try:
            content_type, extension = photo_type(data)
        except PhotoRefused as refused:
            raise InvalidInspection(str(refused), field="photos", line=line) from None
        read.append((data, content_type, extension))
    return read


def _checked_quantity(line: RecordLine, index: int) -> Decimal:
    if line.condition not in Condition.values:
        raise InvalidInspection(_("Unknown condition."), field="condition", line=index)
    quantity = line.received_quantity.quantize(QTY)
    if quantity != line.received_quantity or quantity <= 0:
        raise InvalidInspection(
            _("A quantity greater than zero, with at most three decimals."), field="quantity", line=index
        )
    return quantity


def _locked_open_inspection(refund: Refund) -> Inspection:
    inspection = Inspection.objects.select_for_update().filter(refund=refund).first()
    if inspection is not None and inspection.status != InspectionStatus.OPEN:
        raise InspectionNotAllowed(_("This inspection is already completed."))
    if refund.state != RefundState.INSPECTING:
        raise RefundNotAllowed(state=refund.state)
    if inspection is None:
        Inspection.objects.get_or_create(refund=refund)
        inspection = Inspection.objects.select_for_update().get(refund=refund)
    return inspection


def inspection_record(
    *,
    refund: Refund,
    order_item_id: int,
    received_quantity: Decimal,
    condition: str,
    inspector: Any,
    notes: str = "",
    photos: Sequence[UploadedFile[Any]] = (),
) -> InspectionRecord:
    """Record what arrived of one returned item in one condition."""
    line = RecordLine(order_item_id, received_quantity, condition, notes, photos)
    (record,) = inspection_record_lines(refund=refund, lines=[line], inspector=inspector)
    return record


def inspection_record_lines(*, refund: Refund, lines: Sequence[RecordLine], inspector: Any) -> list[InspectionRecord]:
    """Record what arrived of several returned items at once: every line or none (nor any of its photos).

    A refused line's error names its field and, as ``params["line"]``, its index in ``lines``."""
    _check_inspector(inspector)
    if not lines:
        raise InvalidInspection(_("Give the quantity received of at least one item."), field="records")
    quantities = [_checked_quantity(line, index) for index, line in enumerate(lines)]
    if sum(len(line.photos) for line in lines) > MAX_PHOTOS:
        raise InvalidInspection(_("At most 9 photos at a time."), field="photos", line=len(lines) - 1)
    photo_data = [_read_photos(line.photos, index) for index, line in enumerate(lines)]
    stored: list[str] = []
    try:
        with transaction.atomic():
            refund = lock_refund(refund.pk)
            inspection = _locked_open_inspection(refund)
            items = {
                item.order_item_id: item
                for item in RefundItem.objects.select_related("order_item").filter(refund=refund)
            }
            # Summed here from exact values: SQLite's SUM of decimals would be floating point.
            already: dict[int, Decimal] = defaultdict(Decimal)
            for order_item_id, quantity in InspectionRecord.objects.filter(inspection=inspection).values_list(
                "order_item_id", "received_quantity"
            ):
                already[order_item_id] += quantity
            records = []
            for index, (line, quantity, photos) in enumerate(zip(lines, quantities, photo_data, strict=True)):
                refund_item = items.get(line.order_item_id)
                if refund_item is None:
                    raise InvalidInspection(_("This item is not part of the refund."), field="order_item", line=index)
                records.append(
                    _record_line(
                        refund=refund,
                        inspection=inspection,
                        refund_item=refund_item,
                        line=line,
                        index=index,
                        quantity=quantity,
                        already=already,
                        photos=photos,
                        inspector=inspector,
                        stored=stored,
                    )
                )
    except Exception:
        for name in stored:
            default_storage.delete(name)
        raise
    return records


def _record_line(
    *,
    refund: Refund,
    inspection: Inspection,
    refund_item: RefundItem,
    line: RecordLine,
    index: int,
    quantity: Decimal,
    already: dict[int, Decimal],
    photos: list[tuple[bytes, str, str]],
    inspector: Any,
    stored: list[str],
) -> InspectionRecord:
    order_item = refund_item.order_item
    if order_item.unit == SaleUnit.PIECE and quantity != quantity.to_integral_value():
        raise InvalidInspection(_("This item is counted in whole pieces."), field="quantity", line=index)
    limit = refund_item.quantity if refund_item.quantity > 0 else order_item.quantity
    if already[order_item.pk] + quantity > limit:
        raise InvalidInspection(
            _("More than the %(limit)s claimed of this item.") % {"limit": quantity_text(limit, order_item.unit)},
            field="quantity",
            line=index,
        )
    already[order_item.pk] += quantity
    record = InspectionRecord.objects.create(
        inspection=inspection,
        refund=refund,
        order_item=order_item,
        received_quantity=quantity,
        condition=line.condition,
        inspector=inspector,
        notes=line.notes.strip()[:500],
    )
    for data, content_type, extension in photos:
        photo = InspectionPhoto(
            record=record, content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        # The stored name is ours: the uploaded name is never trusted.
        photo.file.save(f"{uuid.uuid4().hex}.{extension}", ContentFile(data), save=False)
        stored.append(photo.file.name or "")
        photo.save()
    refund_record_event(
        refund=refund,
        from_state=refund.state,
        actor=inspector,
        note=texts.INSPECTED(
            quantity=quantity_note(quantity, order_item.unit), name=order_item.name, condition=line.condition
        ),
        internal=True,
    )
    return record


def _shortfall_note(plan: InspectionPlan) -> Text:
    parts = [
        texts.SHORTFALL_ITEM(
            received=quantity_note(item.received, item.order_item.unit),
            claimed=quantity_note(item.claimed, item.order_item.unit),
            name=item.order_item.name,
        )
        for item in plan.shortfalls
    ]
    return texts.INSPECTION_SHORTFALL(items=parts, cut=f"{plan.cut:,.2f}", amount=f"{plan.amount_after:,.2f}")


def inspection_complete(
    *, refund: Refund, actor: Staff, note: Note = "", expected_amount: Decimal | None = None
) -> Refund:
    """Close the inspection: adjust the amount for missing goods, decide restock or write-off, pass it on.

    ``expected_amount``: what the person confirming was shown the refund would pay; if the records changed since
    and the amount with them, nothing happens and they are asked to look again."""
    _check_inspector(actor)
    with transaction.atomic():
        refund = lock_refund(refund.pk)
        inspection = _locked_open_inspection(refund)
        records = list(
            InspectionRecord.objects.select_related("order_item__product").filter(inspection=inspection).order_by("id")
        )
        if not records:
            raise InvalidInspection(
                _("Record what was received first; if nothing came back, reject the refund."), field="records"
            )
        now = timezone.now()
        plan = inspection_plan(
            refund=refund,
            items=list(RefundItem.objects.select_related("order_item").filter(refund=refund).order_by("id")),
            records=records,
            shipped_at=order_shipped_at(refund),
            at=now,
        )
        if expected_amount is not None and plan.amount_after != expected_amount:
            raise InspectionNotAllowed(
                _("The refund would now pay %(amount)s, not what was shown: look at the inspection again.")
                % {"amount": yuan(plan.amount_after)},
                field="expected_amount",
            )
        if plan.reductions:
            refund = refund_reduce(
                refund=refund,
                reductions=plan.reductions,
                actor=actor,
                note=_shortfall_note(plan),
                supervisor_share=plan.supervisor_share,
            )
        for planned in plan.records:
            record = planned.record
            record.disposition = planned.disposition
            if planned.write_off_reason is not None:
                WriteOff.objects.create(
                    record=record,
                    refund=refund,
                    product=record.order_item.product,
                    quantity=record.received_quantity,
                    reason=planned.write_off_reason,
                )
            record.save(update_fields=["disposition"])
        inspection.status = InspectionStatus.COMPLETED
        inspection.completed_at = now
        inspection.completed_by = actor
        inspection.amount_before = plan.amount_before
        inspection.amount_after = refund.amount
        inspection.save()
        refund = flow.refund_inspection_pass(refund=refund, actor=actor, note=note or INSPECTION_PASSED())
        job_enqueue(RESTOCK_RETURNED_JOB, refund.pk, queue="stock")
    return refund


def restock_returned(*, refund_id: int) -> int:
    """Put a completed inspection's resellable goods back in stock, once per item. Returns the items restocked now."""
    refund = Refund.objects.get(pk=refund_id)
    if not Inspection.objects.filter(refund=refund, status=InspectionStatus.COMPLETED).exists():
        return 0
    totals: dict[int, Decimal] = defaultdict(Decimal)
    products: dict[int, Product] = {}
    records = InspectionRecord.objects.select_related("order_item__product").filter(
        refund=refund, disposition=Disposition.RESTOCK
    )
    for record in records.order_by("id"):
        totals[record.order_item_id] += record.received_quantity
        products[record.order_item_id] = record.order_item.product
    restocked = 0
    for order_item_id, quantity in sorted(totals.items()):
        if quantity > 0 and stock_adjust(
            product=products[order_item_id],
            delta=quantity,
            reason="returned",
            reference=f"return:{refund.refund_no}:{order_item_id}",
        ):
            restocked += 1
    return restocked


__all__ = [
    "MAX_PHOTOS",
    "MAX_PHOTO_BYTES",
    "RecordLine",
    "inspection_complete",
    "inspection_record",
    "inspection_record_lines",
    "restock_returned",
    "within_shelf_life",
]
