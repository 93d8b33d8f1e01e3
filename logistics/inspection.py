"""Quality inspection (质检入库) of returned goods, the restock of what can still be sold, write-offs, and the
settlement of perishable quality claims without a return.

Per returned item the warehouse records what arrived: a quantity (pieces, or kg for goods sold by weight) in one
condition (resellable, sell at a discount, spoiled), with photos and notes; an item that came back partly good
has one record per condition. Completing the inspection:
- lowers the refund in proportion to what did not come back (``refunds.adjustments``; a large cut needs a
  supervisor), with a note the customer sees;
- decides each record: resellable goods still within shelf life (shipped date + the product's shelf life) go
  back to stock, by a job keyed ``return:<refund_no>:<order item id>``; everything else is written off with its
  reason (spoiled, sold at a discount, past its shelf life);
- passes the inspection, which sends the refund to the channel.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
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
    WriteOffReason,
)
from mall.actors import Staff
from mall.jobs import job_enqueue
from mall.models import OrderItem, Product, SaleUnit, Shipment
from mall.photos import PhotoRefused, photo_type
from mall.services import stock_adjust
from mall.texts import Note, Text, literal
from refunds import flow
from refunds.adjustments import ItemReduction, perishable_claim_amount, proportional_amount, refund_reduce
from refunds.exceptions import InvalidRefundRequest, RefundNotAllowed, ReviewForbidden
from refunds.lifecycle import lock_refund, refund_record_event
from refunds.models import Refund, RefundItem, RefundKind, RefundReason, RefundState
from refunds.texts import INSPECTION_PASSED, WITH_REMARK

RESTOCK_RETURNED_JOB = "logistics.jobs.restock_returned"
QTY = Decimal("0.001")
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 9
WRITE_OFF_REASONS = {Condition.DISCOUNT: WriteOffReason.DISCOUNT, Condition.SPOILED: WriteOffReason.SPOILED}


def _check_inspector(actor: Staff) -> None:
    if actor is None or not actor.has_perm("refunds.confirm_return"):
        raise ReviewForbidden(_("You may not record inspection results."))


def _quantity_text(quantity: Decimal, unit: str) -> str:
    text = f"{quantity.normalize():f}"
    return f"{text} kg" if unit == SaleUnit.KILOGRAM else text


def _read_photos(photos: Sequence[UploadedFile[Any]]) -> list[tuple[bytes, str, str]]:
    """(bytes, content type, extension) of each photo, checked by content; anything else is refused."""
    if len(photos) > MAX_PHOTOS:
        raise InvalidInspection(_("At most 9 photos per record."), field="photos")
    read = []
    for upload in photos:
        data = upload.read(MAX_PHOTO_BYTES + 1)
        if not data or len(data) > MAX_PHOTO_BYTES:
            raise InvalidInspection(_("A photo may be at most 5 MB."), field="photos")
        try:
            content_type, extension = photo_type(data)
        except PhotoRefused as refused:
            raise InvalidInspection(str(refused), field="photos") from None
        read.append((data, content_type, extension))
    return read


def _locked_open_inspection(refund: Refund) -> Inspection:
    if refund.state != RefundState.INSPECTING:
        raise RefundNotAllowed(state=refund.state)
    Inspection.objects.get_or_create(refund=refund)
    inspection = Inspection.objects.select_for_update().get(refund=refund)
    if inspection.status != InspectionStatus.OPEN:
        raise InspectionNotAllowed(_("This inspection is already completed."))
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
    _check_inspector(inspector)
    if condition not in Condition.values:
        raise InvalidInspection(_("Unknown condition."), field="condition")
    quantity = received_quantity.quantize(QTY)
    if quantity != received_quantity or quantity <= 0:
        raise InvalidInspection(_("A quantity greater than zero, with at most three decimals."), field="quantity")
    photo_data = _read_photos(photos)
    stored: list[str] = []
    try:
        with transaction.atomic():
            refund = lock_refund(refund.pk)
            inspection = _locked_open_inspection(refund)
            item = RefundItem.objects.select_related("order_item").filter(refund=refund, order_item_id=order_item_id)
            refund_item = item.first()
            if refund_item is None:
                raise InvalidInspection(_("This item is not part of the refund."), field="order_item")
            order_item = refund_item.order_item
            if order_item.unit == SaleUnit.PIECE and quantity != quantity.to_integral_value():
                raise InvalidInspection(_("This item is counted in whole pieces."), field="quantity")
            limit = refund_item.quantity if refund_item.quantity > 0 else order_item.quantity
            # Summed here from exact values: SQLite's SUM of decimals would be floating point.
            already = sum(
                InspectionRecord.objects.filter(inspection=inspection, order_item=order_item).values_list(
                    "received_quantity", flat=True
                ),
                Decimal("0"),
            )
            if already + quantity > limit:
                raise InvalidInspection(
                    _("More than the %(limit)s claimed of this item.")
                    % {"limit": _quantity_text(limit, order_item.unit)},
                    field="quantity",
                )
            record = InspectionRecord.objects.create(
                inspection=inspection,
                refund=refund,
                order_item=order_item,
                received_quantity=quantity,
                condition=condition,
                inspector=inspector,
                notes=notes.strip()[:500],
            )
            for data, content_type, extension in photo_data:
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
                    quantity=_quantity_text(quantity, order_item.unit), name=order_item.name, condition=condition
                ),
                internal=True,
            )
    except Exception:
        from django.core.files.storage import default_storage

        for name in stored:
            default_storage.delete(name)
        raise
    return record


def within_shelf_life(*, product: Product, shipped_at: datetime | None, at: datetime) -> bool:
    """Whether goods of ``product`` shipped at ``shipped_at`` may still be sold at ``at``."""
    if not product.perishable or shipped_at is None:
        return True
    return at < shipped_at + timedelta(days=product.shelf_life_days)


def _shortfall_note(shortfalls: list[tuple[OrderItem, Decimal, Decimal]], cut: Decimal, after: Decimal) -> Text:
    parts = [
        texts.SHORTFALL_ITEM(
            received=_quantity_text(received, item.unit), claimed=_quantity_text(claimed, item.unit), name=item.name
        )
        for item, claimed, received in shortfalls
    ]
    return texts.INSPECTION_SHORTFALL(items=parts, cut=f"{cut:.2f}", amount=f"{after:.2f}")


def inspection_complete(*, refund: Refund, actor: Staff, note: Note = "") -> Refund:
    """Close the inspection: adjust the amount for missing goods, decide restock or write-off, pass it on."""
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
        received: dict[int, Decimal] = defaultdict(Decimal)
        for record in records:
            received[record.order_item_id] += record.received_quantity
        amount_before = refund.amount
        reductions, shortfalls = [], []
        cut = Decimal("0.00")
        for item in RefundItem.objects.select_related("order_item").filter(refund=refund).order_by("id"):
            got = received.get(item.order_item_id, Decimal("0"))
            if item.quantity > 0 and got < item.quantity:
                kept = proportional_amount(amount=item.amount, quantity=item.quantity, kept_quantity=got)
                reductions.append(ItemReduction(order_item_id=item.order_item_id, quantity=got, amount=kept))
                shortfalls.append((item.order_item, item.quantity, got))
                cut += item.amount - kept
        if reductions:
            refund = refund_reduce(
                refund=refund,
                reductions=reductions,
                actor=actor,
                note=_shortfall_note(shortfalls, cut, amount_before - cut),
                supervisor_share=Decimal(settings.REFUND_INSPECTION_CUT_SUPERVISOR_SHARE),
            )
        now = timezone.now()
        shipped_at = Shipment.objects.filter(order_id=refund.order_id).values_list("shipped_at", flat=True).first()
        for record in records:
            product = record.order_item.product
            if record.condition == Condition.RESELLABLE and within_shelf_life(
                product=product, shipped_at=shipped_at, at=now
            ):
                record.disposition = Disposition.RESTOCK
            else:
                record.disposition = Disposition.WRITE_OFF
                reason = WRITE_OFF_REASONS.get(Condition(record.condition), WriteOffReason.EXPIRED)
                WriteOff.objects.create(
                    record=record, refund=refund, product=product, quantity=record.received_quantity, reason=reason
                )
            record.save(update_fields=["disposition"])
        inspection.status = InspectionStatus.COMPLETED
        inspection.completed_at = now
        inspection.completed_by = actor
        inspection.amount_before = amount_before
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


# --- perishable claims without a return --------------------------------------------------------------------


def perishable_claim_settle(
    *,
    refund: Refund,
    order_item_id: int,
    actor: Staff,
    spoiled_quantity: Decimal | None = None,
    share: Decimal | None = None,
    note: str = "",
) -> Refund:
    """Settle a refund-only quality claim on fruit for the spoiled part only (by weight/pieces or by share).

    The refund is lowered to that part before an agent approves it; the customer sees why.
    """
    if actor is None or not actor.has_perm("refunds.approve_refund"):
        raise ReviewForbidden()
    if refund.kind != RefundKind.REFUND_ONLY or refund.reason != RefundReason.QUALITY_ISSUE:
        raise RefundNotAllowed(_("Only refund-only quality claims are settled by the spoiled part."))
    order_item = OrderItem.objects.select_related("product").filter(order_id=refund.order_id, pk=order_item_id).first()
    if order_item is None:
        raise InvalidRefundRequest(_("No such item in this order."), field="order_item_id")
    if not order_item.product.perishable:
        raise InvalidRefundRequest(_("Only perishable goods are settled by the spoiled part."), field="order_item_id")
    claim = perishable_claim_amount(order_item=order_item, spoiled_quantity=spoiled_quantity, share=share)
    text = texts.PERISHABLE_SETTLED(
        quantity=_quantity_text(claim.quantity, order_item.unit),
        ordered=_quantity_text(order_item.quantity, order_item.unit),
        name=order_item.name,
        amount=f"{claim.amount:.2f}",
    )
    if note.strip():
        text = WITH_REMARK(text=text, remark=literal(note))
    return refund_reduce(
        refund=refund,
        reductions=[ItemReduction(order_item_id=order_item.pk, quantity=claim.quantity, amount=claim.amount)],
        actor=actor,
        note=text,
    )
