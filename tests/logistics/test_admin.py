"""The logistics console: receipt and inspection by actions and forms that call the services, warehouses
managed by supervisors, perishable claims settled by agents; nobody edits refund rows."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from logistics.models import Inspection, InspectionPhoto, InspectionRecord, Warehouse
from mall.models import SaleUnit
from refunds import flow
from refunds import services as refund_services
from refunds.models import RefundState, ReturnShipment
from tests.admin.conftest import login
from tests.factories import reload
from tests.logistics.helpers import apply, fruit, shipped_order

pytestmark = pytest.mark.django_db
S = RefundState


def _returning(customer: Any, agent: Any, quantity: str = "2") -> Any:
    order = shipped_order(customer, fruit("30.00"), quantity, delivered=True)
    refund = refund_services.refund_approve(
        refund=apply(customer, order, "quality_issue", "return_and_refund"), actor=agent
    )
    return flow.refund_return_submit(refund=refund, actor=customer, carrier="SF", tracking_no="SF777001")


def _jpeg() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 160, 30)).save(buffer, format="JPEG")
    return SimpleUploadedFile("photo.jpg", buffer.getvalue(), content_type="image/jpeg")


def test_every_logistics_page_opens_for_an_agent(customer: Any, agent: Any, warehouse: Warehouse) -> None:
    _returning(customer, agent)
    client = login(agent)
    for page in (
        "warehouse",
        "interception",
        "carrierevent",
        "inspection",
        "inspectionrecord",
        "writeoff",
        "perishableclaim",
    ):
        assert client.get(f"/admin/logistics/{page}/").status_code == 200, page
    assert client.get("/admin/refunds/returnshipment/").status_code == 200


def test_an_agent_confirms_receipt_records_and_completes_the_inspection(
    customer: Any, agent: Any, media_root: Any
) -> None:
    refund = _returning(customer, agent)
    client = login(agent)
    shipment = ReturnShipment.objects.get(refund=refund)
    response = client.post(
        "/admin/refunds/returnshipment/", {"action": "confirm_receipt", "_selected_action": [shipment.pk]}
    )
    assert response.status_code == 302
    assert reload(refund).state == S.INSPECTING
    inspection = Inspection.objects.get(refund=refund)

    item = refund.items.get()
    prefix = f"item-{item.order_item_id}"
    page = client.get(f"/admin/logistics/inspection/{inspection.pk}/change/")
    assert page.status_code == 200
    response = client.post(
        f"/admin/logistics/inspection/{inspection.pk}/record/",
        {
            f"{prefix}-received_quantity": "2",
            f"{prefix}-condition": "resellable",
            f"{prefix}-notes": "完好",
            f"{prefix}-photos": [_jpeg()],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == f"/admin/logistics/inspection/{inspection.pk}/change/#inspection-confirm"
    record = InspectionRecord.objects.get(refund=refund)
    assert (record.received_quantity, record.inspector, record.notes) == (Decimal("2.000"), agent, "完好")
    assert InspectionPhoto.objects.filter(record=record).count() == 1

    response = client.post(
        f"/admin/logistics/inspection/{inspection.pk}/complete/", {"expected_amount": "60.00", "note": ""}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/admin/refunds/refund/{refund.pk}/change/"
    assert reload(refund).state == S.REFUNDING


def test_finance_cannot_confirm_receipt(customer: Any, agent: Any, finance: Any) -> None:
    refund = _returning(customer, agent)
    shipment = ReturnShipment.objects.get(refund=refund)
    login(finance).post(
        "/admin/refunds/returnshipment/", {"action": "confirm_receipt", "_selected_action": [shipment.pk]}
    )
    assert reload(refund).state == S.RETURN_IN_TRANSIT


def test_supervisors_manage_warehouses_and_one_is_the_default(
    agent: Any, supervisor: Any, warehouse: Warehouse
) -> None:
    data = {"name": "广州仓", "contact": "陈", "phone": "020-1", "address": "广州", "active": "on", "is_default": "on"}
    assert login(agent).post("/admin/logistics/warehouse/add/", data).status_code == 403
    assert login(supervisor).post("/admin/logistics/warehouse/add/", data).status_code == 302
    assert list(Warehouse.objects.filter(is_default=True).values_list("name", flat=True)) == ["广州仓"]


def test_an_agent_settles_a_perishable_claim_in_the_console(customer: Any, agent: Any) -> None:
    order = shipped_order(customer, fruit("16.80", unit=SaleUnit.KILOGRAM), "5", delivered=True)
    refund = apply(customer, order, "quality_issue", "refund_only")
    client = login(agent)
    url = f"/admin/logistics/perishableclaim/{refund.pk}/change/"
    assert client.get(url).status_code == 200
    item = order.items.get()
    both = client.post(url, {"order_item": item.pk, "spoiled_quantity": "1.2", "share": "0.3"})
    assert both.status_code == 200 and reload(refund).amount == Decimal("84.00")
    response = client.post(url, {"order_item": item.pk, "spoiled_quantity": "1.2", "note": ""})
    assert response.status_code == 302
    assert reload(refund).amount == Decimal("20.16")


def test_the_perishable_claim_page_shows_photos_and_units(customer: Any, agent: Any, media_root: Any) -> None:
    from refunds.evidence import refund_add_evidence

    order = shipped_order(customer, fruit("16.80", unit=SaleUnit.KILOGRAM), "5", delivered=True)
    refund = apply(customer, order, "quality_issue", "refund_only")
    photo = refund_add_evidence(refund=refund, actor=customer, upload=_jpeg())
    html = login(agent).get(f"/admin/logistics/perishableclaim/{refund.pk}/change/").content.decode()
    url = f"/admin/refunds/refund/evidence/{photo.pk}/"
    assert f'<a href="{url}" target="_blank" rel="noopener"><img src="{url}"' in html
    item = order.items.get()
    assert f'<option value="{item.pk}">{item.name} ({item.sku}) × 5 kg, ¥84.00</option>' in html
