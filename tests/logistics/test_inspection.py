"""Quality inspection of returned goods: the refund follows what came back (cut exactly, claims released
exactly, a large cut only by a supervisor), only resellable goods within shelf life go back to stock (once),
the rest is written off with its reason."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation
from PIL import Image

from logistics import jobs, services
from logistics.exceptions import InspectionNotAllowed, InvalidInspection
from logistics.models import Inspection, InspectionPhoto, InspectionRecord, InspectionStatus, WriteOff
from mall.models import SaleUnit, StockMovement
from refunds import flow
from refunds import services as refund_services
from refunds.exceptions import RefundNotAllowed, ReviewForbidden
from refunds.models import RefundEvent, RefundItem, RefundState
from tests.factories import reload
from tests.logistics.helpers import apply, claims, fruit, shipped_order, stock_of

pytestmark = pytest.mark.django_db
S = RefundState


def _inspecting(customer: Any, agent: Any, product: Any, quantity: str, **order_kw: Any) -> Any:
    """A return-and-refund quality claim on a delivered order, received by the warehouse."""
    order = shipped_order(customer, product, quantity, delivered=True, **order_kw)
    refund = refund_services.refund_approve(
        refund=apply(customer, order, "quality_issue", "return_and_refund"), actor=agent
    )
    refund = flow.refund_return_submit(refund=refund, actor=customer, carrier="SF", tracking_no="SF900001")
    return services.return_receive(refund=refund, actor=agent)


def _record(refund: Any, agent: Any, quantity: str, condition: str, **kw: Any) -> InspectionRecord:
    item = refund.items.get()
    return services.inspection_record(
        refund=refund,
        order_item_id=item.order_item_id,
        received_quantity=Decimal(quantity),
        condition=condition,
        inspector=agent,
        **kw,
    )


def _png() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile("anything.exe", buffer.getvalue(), content_type="application/octet-stream")


def test_receipt_opens_an_inspection(customer: Any, agent: Any) -> None:
    refund = _inspecting(customer, agent, fruit(), "4")
    assert refund.state == S.INSPECTING
    assert Inspection.objects.get(refund=refund).status == InspectionStatus.OPEN
    assert services.return_receive(refund=refund, actor=agent).state == S.INSPECTING  # twice: no change
    assert Inspection.objects.filter(refund=refund).count() == 1


def test_fewer_pieces_back_cut_the_refund_in_proportion(customer: Any, agent: Any) -> None:
    product = fruit("30.00")
    refund = _inspecting(customer, agent, product, "4")
    _record(refund, agent, "3", "resellable")
    refund = services.inspection_complete(refund=refund, actor=agent)

    assert refund.state == S.REFUNDING
    assert refund.amount == Decimal("90.00")
    item = RefundItem.objects.get(refund=refund)
    assert (item.quantity, item.amount) == (Decimal("3.000"), Decimal("90.00"))
    assert claims(refund.order) == (Decimal("3.000"), Decimal("90.00"))
    inspection = Inspection.objects.get(refund=refund)
    assert (inspection.amount_before, inspection.amount_after) == (Decimal("120.00"), Decimal("90.00"))
    told = RefundEvent.objects.get(refund=refund, internal=False, note_code="inspection_shortfall")
    # Stored as a code with its parameters, rendered in whichever language it is read in.
    name = product.name
    assert told.actor == agent
    with translation.override("zh-hans"):
        assert told.note == (
            f"质检结果：您退回的“{name}”共 4 件，我们收到 3 件。退款按未退回商品的比例减少 ¥30.00，调整为 ¥90.00。"
        )
    with translation.override("en"):
        assert told.note == (
            f"Quality inspection: we received 3 pcs of the 4 pcs of “{name}” you returned. The refund is reduced in "
            "proportion to the goods that did not come back, by ¥30.00 to ¥90.00."
        )


def test_the_shortfall_message_prints_thousands_as_every_amount_is_printed(customer: Any, agent: Any) -> None:
    product = fruit("1250.00")
    refund = _inspecting(customer, agent, product, "4")
    _record(refund, agent, "3", "resellable")
    refund = services.inspection_complete(refund=refund, actor=agent)

    assert refund.amount == Decimal("3750.00")
    told = RefundEvent.objects.get(refund=refund, internal=False, note_code="inspection_shortfall")
    with translation.override("zh-hans"):
        assert told.note.endswith("退款按未退回商品的比例减少 ¥1,250.00，调整为 ¥3,750.00。")


def test_a_weighed_shortfall_is_cut_exactly_rounding_in_the_customers_favour(customer: Any, agent: Any) -> None:
    product = fruit("19.99", unit=SaleUnit.KILOGRAM)
    refund = _inspecting(customer, agent, product, "3")
    assert refund.amount == Decimal("59.97")
    _record(refund, agent, "2.1", "resellable")
    _record(refund, agent, "0.25", "spoiled")
    refund = services.inspection_complete(refund=refund, actor=agent)
    # 0.65 kg of 3 kg missing: 59.97 × 0.65 / 3 = 12.9935 → the cut is 12.99
    assert refund.amount == Decimal("46.98")
    assert claims(refund.order) == (Decimal("2.350"), Decimal("46.98"))
    jobs.restock_returned(refund.pk)
    assert stock_of(product) == Decimal("102.100")
    assert list(WriteOff.objects.filter(refund=refund).values_list("quantity", "reason")) == [
        (Decimal("0.250"), "spoiled")
    ]


def test_a_large_cut_needs_a_supervisor_and_an_agent_changes_nothing(
    customer: Any, agent: Any, supervisor: Any
) -> None:
    product = fruit("30.00")
    refund = _inspecting(customer, agent, product, "4")
    _record(refund, agent, "2", "resellable")
    with pytest.raises(ReviewForbidden):
        services.inspection_complete(refund=refund, actor=agent)
    refund = reload(refund)
    assert (refund.state, refund.amount) == (S.INSPECTING, Decimal("120.00"))
    assert claims(refund.order) == (Decimal("4.000"), Decimal("120.00"))
    assert Inspection.objects.get(refund=refund).status == InspectionStatus.OPEN
    assert not InspectionRecord.objects.filter(refund=refund).exclude(disposition="pending").exists()

    refund = services.inspection_complete(refund=refund, actor=supervisor)
    assert (refund.state, refund.amount) == (S.REFUNDING, Decimal("60.00"))
    assert claims(refund.order) == (Decimal("2.000"), Decimal("60.00"))


def test_the_supervisor_share_is_configuration(customer: Any, agent: Any, settings: Any) -> None:
    settings.REFUND_INSPECTION_CUT_SUPERVISOR_SHARE = Decimal("0.5")
    refund = _inspecting(customer, agent, fruit("30.00"), "4")
    _record(refund, agent, "2", "resellable")
    assert services.inspection_complete(refund=refund, actor=agent).amount == Decimal("60.00")


def test_spoiled_and_discount_goods_are_written_off_not_restocked(customer: Any, agent: Any) -> None:
    product = fruit("10.00")
    refund = _inspecting(customer, agent, product, "6")
    _record(refund, agent, "3", "resellable", notes="完好")
    _record(refund, agent, "2", "spoiled", notes="腐烂")
    _record(refund, agent, "1", "discount")
    refund = services.inspection_complete(refund=refund, actor=agent)
    assert refund.amount == Decimal("60.00")  # everything came back: no cut

    jobs.restock_returned(refund.pk)
    assert stock_of(product) == Decimal("103.000")
    assert sorted(WriteOff.objects.filter(refund=refund).values_list("reason", "quantity")) == [
        ("discount", Decimal("1.000")),
        ("spoiled", Decimal("2.000")),
    ]


def test_expired_goods_are_not_restocked(customer: Any, agent: Any) -> None:
    product = fruit("10.00", shelf_life_days=7)
    refund = _inspecting(customer, agent, product, "2", shipped_at=timezone.now() - timedelta(days=8))
    _record(refund, agent, "2", "resellable")
    refund = services.inspection_complete(refund=refund, actor=agent)
    assert refund.state == S.REFUNDING
    jobs.restock_returned(refund.pk)
    assert stock_of(product) == Decimal("100.000")
    assert not StockMovement.objects.filter(reference__startswith=f"return:{refund.refund_no}:").exists()
    assert list(WriteOff.objects.filter(refund=refund).values_list("reason", "quantity")) == [
        ("expired", Decimal("2.000"))
    ]


def test_goods_within_shelf_life_are_restocked_once_when_the_job_runs_twice(customer: Any, agent: Any) -> None:
    product = fruit("10.00", shelf_life_days=7)
    refund = _inspecting(customer, agent, product, "2", shipped_at=timezone.now() - timedelta(days=6))
    _record(refund, agent, "2", "resellable")
    services.inspection_complete(refund=refund, actor=agent)
    jobs.restock_returned(refund.pk)
    jobs.restock_returned(refund.pk)
    assert stock_of(product) == Decimal("102.000")
    item_id = refund.items.get().order_item_id
    assert StockMovement.objects.filter(reference=f"return:{refund.refund_no}:{item_id}").count() == 1


def test_nothing_is_restocked_before_the_inspection_is_completed(customer: Any, agent: Any) -> None:
    product = fruit()
    refund = _inspecting(customer, agent, product, "2")
    _record(refund, agent, "2", "resellable")
    jobs.restock_returned(refund.pk)
    assert stock_of(product) == Decimal("100.000")


def test_records_are_checked_and_bad_ones_change_nothing(customer: Any, agent: Any, finance: Any) -> None:
    refund = _inspecting(customer, agent, fruit(), "4")
    _record(refund, agent, "3", "resellable")
    with pytest.raises(InvalidInspection) as more:
        _record(refund, agent, "2", "resellable")
    assert more.value.field == "quantity"
    with pytest.raises(InvalidInspection) as fraction:
        _record(refund, agent, "0.5", "resellable")
    assert fraction.value.field == "quantity"
    with pytest.raises(InvalidInspection):
        _record(refund, agent, "1", "eaten")
    with pytest.raises(InvalidInspection) as photo:
        _record(refund, agent, "1", "spoiled", photos=[SimpleUploadedFile("a.jpg", b"not an image")])
    assert photo.value.field == "photos"
    with pytest.raises(ReviewForbidden):
        _record(refund, finance, "1", "resellable")
    with pytest.raises(ReviewForbidden):
        _record(refund, customer, "1", "resellable")
    assert list(InspectionRecord.objects.filter(refund=refund).values_list("received_quantity", flat=True)) == [
        Decimal("3.000")
    ]


def test_photos_are_stored_under_our_own_name(customer: Any, agent: Any, media_root: Any) -> None:
    refund = _inspecting(customer, agent, fruit(), "2")
    record = _record(refund, agent, "2", "spoiled", photos=[_png(), _png()])
    photos = list(InspectionPhoto.objects.filter(record=record))
    assert [p.content_type for p in photos] == ["image/png", "image/png"]
    assert all(p.file.name.startswith(f"logistics/inspections/{refund.refund_no}/") for p in photos)
    assert all(p.file.name.endswith(".png") for p in photos)
    assert (media_root / photos[0].file.name).exists()


def test_completion_needs_records_and_happens_once(customer: Any, agent: Any) -> None:
    refund = _inspecting(customer, agent, fruit(), "2")
    with pytest.raises(InvalidInspection):
        services.inspection_complete(refund=refund, actor=agent)
    assert reload(refund).state == S.INSPECTING
    _record(refund, agent, "2", "resellable")
    services.inspection_complete(refund=refund, actor=agent)
    with pytest.raises((InspectionNotAllowed, RefundNotAllowed)):
        services.inspection_complete(refund=refund, actor=agent)
    with pytest.raises((InspectionNotAllowed, RefundNotAllowed)):
        _record(refund, agent, "1", "resellable")


def test_goods_received_through_the_refund_console_get_their_inspection_from_the_sweep(
    customer: Any, agent: Any
) -> None:
    order = shipped_order(customer, fruit(), "2", delivered=True)
    refund = refund_services.refund_approve(
        refund=apply(customer, order, "quality_issue", "return_and_refund"), actor=agent
    )
    flow.refund_return_receive(refund=refund, actor=agent)  # what the refund console's button calls
    assert not Inspection.objects.filter(refund=refund).exists()
    assert jobs.interception_sweep()["inspections"] == 1
    assert Inspection.objects.get(refund=refund).status == InspectionStatus.OPEN
    assert jobs.interception_sweep()["inspections"] == 0
