"""The shipped half of the core flow end to end, over real HTTP to the carrier simulator: the seed's second
post-deploy case (interception fails → the customer returns the goods → warehouse receipt → inspection →
restock → refund), and the interception that succeeds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from logistics import jobs, services
from logistics.models import CarrierEvent, Inspection, InspectionStatus, Interception, InterceptionStatus, WriteOff
from logistics.simulator import client as carrier
from mall import services as mall_services
from mall.models import Order, OrderStatus, StockMovement
from refunds import flow
from refunds.models import RefundEvent, RefundState
from tests.conftest import client_for
from tests.factories import reload
from tests.logistics.helpers import claims, fruit, relay_all, shipped_order, stock_of

pytestmark = pytest.mark.django_db
S = RefundState


def test_seed_case_interception_fails_customer_returns_inspected_restocked_refunded(
    customer: Any, agent: Any, warehouse: Any, carrier_simulator: Any, carrier_inbox: Any
) -> None:
    product = fruit("30.00", stock="100")
    order = shipped_order(customer, product, "4")
    item = order.items.get()
    api = client_for(customer)

    # The customer has not received the parcel and asks for the money back: the flow tries to stop it.
    response = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "not_received",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": "4"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    refund_no = response.json()["refund_no"]
    assert response.json()["state"] == S.INTERCEPTING
    refund = order.refunds.get()
    carrier.set_outcome(tracking_no=order.shipment.tracking_no, outcome="failed", note="already out for delivery")

    jobs.interception_request(refund.pk)
    jobs.interception_request(refund.pk)  # a retried job asks nothing twice
    assert [r.status_code for r in relay_all(carrier_inbox, 1)] == [200]
    assert reload(refund).state == S.AWAITING_RETURN
    interception = Interception.objects.get(refund=refund)
    assert (interception.status, interception.attempts) == (InterceptionStatus.FAILED, 1)
    assert len(carrier.state()["interceptions"]) == 1

    # The parcel is delivered; the customer looks up where to send it and sends it back.
    mall_services.order_deliver(order=order)
    address = api.get(f"/api/v1/refunds/{refund_no}/return-address/")
    assert address.status_code == 200
    assert address.json()["return_address"] == {
        "name": "上海退货仓",
        "contact": "李师傅",
        "phone": "021-55550000",
        "address": "上海市嘉定区鲜果路 8 号",
    }
    sent = api.post(
        f"/api/v1/refunds/{refund_no}/return-shipment/",
        {"carrier": "YTO", "tracking_no": "YT2026000123"},
        format="json",
    )
    assert sent.status_code == 200 and sent.json()["state"] == S.RETURN_IN_TRANSIT

    # The carrier reports the return parcel delivered to our warehouse.
    carrier.report_delivered(tracking_no="YT2026000123", carrier="YTO", notify_url=services.notify_url())
    assert [r.status_code for r in relay_all(carrier_inbox, 1)] == [200]
    refund = reload(refund)
    assert refund.state == S.INSPECTING
    assert refund.return_shipment.received_at is not None
    assert Inspection.objects.get(refund=refund).status == InspectionStatus.OPEN

    # Quality inspection: everything came back resellable, within shelf life.
    services.inspection_record(
        refund=refund, order_item_id=item.pk, received_quantity=Decimal("4"), condition="resellable", inspector=agent
    )
    refund = services.inspection_complete(refund=refund, actor=agent)
    assert refund.state == S.REFUNDING
    assert refund.amount == Decimal("120.00")
    assert not WriteOff.objects.filter(refund=refund).exists()

    jobs.restock_returned(refund.pk)
    assert stock_of(product) == Decimal("104.000")
    assert StockMovement.objects.get(reference=f"return:{refund.refund_no}:{item.pk}").delta == Decimal("4.000")

    # The channel confirms the money went back (the payment job's part).
    flow.refund_mark_refunded(refund=refund, channel_refund_id="2026ALI0001")
    assert reload(refund).state == S.REFUNDED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
    assert claims(order) == (Decimal("4.000"), Decimal("120.00"))
    transitions = RefundEvent.objects.filter(refund=refund, internal=False).values_list("from_state", "to_state")
    assert [to for before, to in transitions if before != to] == [
        "pending_review",
        "approved",
        "intercepting",
        "awaiting_return",
        "return_in_transit",
        "inspecting",
        "refunding",
        "refunded",
    ]


def test_interception_success_refunds_and_restocks_once(
    customer: Any, carrier_simulator: Any, carrier_inbox: Any
) -> None:
    product = fruit("12.50", stock="50")
    order = shipped_order(customer, product, "3")
    item = order.items.get()
    api = client_for(customer)
    response = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "not_received",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": "3"}],
        },
        format="json",
    )
    refund = order.refunds.get(refund_no=response.json()["refund_no"])
    assert refund.state == S.INTERCEPTING

    jobs.interception_request(refund.pk)
    answers = relay_all(carrier_inbox, 1)
    assert [a.json() for a in answers] == [{"code": "SUCCESS"}]
    refund = reload(refund)
    assert refund.state == S.REFUNDING
    assert Interception.objects.get(refund=refund).status == InterceptionStatus.SUCCEEDED

    jobs.restock_intercepted(refund.pk)
    jobs.restock_intercepted(refund.pk)  # the job ran twice: the goods came back once
    assert stock_of(product) == Decimal("53.000")
    assert StockMovement.objects.filter(reference=f"intercept:{refund.refund_no}:{item.pk}").count() == 1

    # The carrier repeats its notification: acknowledged, nothing changes.
    carrier_event = CarrierEvent.objects.get()
    headers, body = carrier_simulator.build(
        {
            "event_id": carrier_event.event_id,
            "type": "interception",
            "carrier": "SF",
            "tracking_no": order.shipment.tracking_no,
            "status": "succeeded",
            "reference": refund.refund_no,
        }
    )
    again = Client().post("/logistics/notify/", data=body, content_type="application/json", headers=headers)
    assert again.status_code == 200
    assert CarrierEvent.objects.count() == 1
    assert reload(refund).state == S.REFUNDING
    jobs.restock_intercepted(refund.pk)
    assert stock_of(product) == Decimal("53.000")
