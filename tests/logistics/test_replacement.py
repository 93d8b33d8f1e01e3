"""Replacements (补发) end to end: applied for through the API, approved, the goods taken from stock and shipped
through the carrier simulator (its notification, or the sweep's query when that is lost); and replacements that
cannot be shipped (no stock, a carrier that refuses) paid back as money through the channel simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from logistics import jobs
from logistics.carriers import CarrierTemporaryError
from logistics.models import CarrierEvent
from logistics.simulator import client as carrier
from mall.models import OrderStatus, StockMovement
from payments import jobs as payment_jobs
from payments.models import ChannelAttempt
from payments.simulator import client as channel
from refunds import services as refund_services
from refunds.models import Refund, RefundEvent, RefundKind, RefundState, ReplacementShipment
from tests.admin.conftest import login
from tests.admin.test_actions import act, buttons, page
from tests.carrier_simulator import CarrierInbox
from tests.factories import reload
from tests.logistics.helpers import claims, fruit, relay_all, shipped_order, stock_of
from tests.logistics.test_inspection import _png

pytestmark = pytest.mark.django_db
S = RefundState


def _delivered(customer: Any, *, stock: str = "10", quantity: str = "3") -> tuple[Any, Any]:
    product = fruit("30.00", stock=stock)
    return product, shipped_order(customer, product, quantity, delivered=True)


def _apply_replacement(api: Any, order: Any, quantity: str = "2") -> dict[str, Any]:
    item = order.items.get()
    response = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "quality_issue",
            "kind": "replacement",
            "items": [{"order_item_id": item.pk, "quantity": quantity}],
            "description": "两个烂了",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body: dict[str, Any] = response.json()
    return body


def _approved(api: Any, order: Any, agent: Any, quantity: str = "2") -> Refund:
    body = _apply_replacement(api, order, quantity)
    refund = Refund.objects.get(refund_no=body["refund_no"])
    refund_services.refund_approve(refund=refund, actor=agent)
    assert reload(refund).state == S.REPLACING
    return refund


def _detail(api: Any, refund: Refund) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/api/v1/refunds/{refund.refund_no}/").json()
    return body


def _order_amounts(api: Any, order: Any) -> tuple[Any, ...]:
    body = api.get(f"/api/v1/orders/{order.order_no}/").json()
    lines = [(item["refundable_quantity"], item["refundable_amount"]) for item in body["items"]]
    return (body["status"], body["refundable_amount"], *lines)


def _replacement_references(refund: Refund) -> list[tuple[str, Decimal]]:
    movements = StockMovement.objects.filter(reference__startswith=f"replace:{refund.refund_no}:").order_by("id")
    return list(movements.values_list("reason", "delta"))


def test_a_replacement_is_shipped_and_moves_no_money(
    api: Any, customer: Any, agent: Any, carrier_simulator: Any, carrier_inbox: CarrierInbox
) -> None:
    product, order = _delivered(customer)
    amounts_before = _order_amounts(api, order)

    body = _apply_replacement(api, order)
    assert (body["state"], body["kind"], body["amount"]) == ("pending_review", "replacement", "60.00")
    assert (body["replacement"], body["needs"]) == (None, ["photos"])
    refund = Refund.objects.get(refund_no=body["refund_no"])
    assert claims(order) == (Decimal("2.000"), Decimal("60.00"))  # held while the replacement is live

    refund_services.refund_approve(refund=refund, actor=agent)
    detail = _detail(api, refund)
    assert (detail["state"], detail["replacement"], detail["needs"]) == ("replacing", None, [])

    jobs.replacement_ship(refund.pk)
    assert stock_of(product) == Decimal("8.000")
    assert _replacement_references(refund) == [("replacement", Decimal("-2.000"))]
    shipment = ReplacementShipment.objects.get(refund=refund)
    (sent,) = carrier.state(base_url=carrier_simulator.url)["shipments"]
    assert (sent["reference"], sent["carrier"], sent["tracking_no"]) == (refund.refund_no, "SF", shipment.tracking_no)
    assert sent["items"] == [{"sku": product.sku, "name": product.name, "quantity": "2.000"}]
    detail = _detail(api, refund)
    assert detail["state"] == "replacing"
    assert detail["replacement"] == {"carrier": "SF", "tracking_no": shipment.tracking_no}

    picked_up = carrier_inbox.wait_for(1)
    assert [answer.status_code for answer in relay_all(carrier_inbox, 1)] == [200]
    refund = reload(refund)
    assert refund.state == S.REPLACED
    detail = _detail(api, refund)
    assert (detail["state"], detail["kind"], detail["amount"], detail["refunded_at"]) == (
        "replaced",
        "replacement",
        "60.00",
        None,
    )
    assert detail["replacement"] == {"carrier": "SF", "tracking_no": shipment.tracking_no}
    assert [entry["state"] for entry in detail["timeline"]] == [
        "pending_review",
        "pending_review",
        "approved",
        "replacing",
        "replaced",
    ]
    assert shipment.tracking_no in detail["timeline"][-1]["note"]
    # No money moved, and the order may still be refunded exactly as before the claim.
    assert not ChannelAttempt.objects.filter(refund=refund).exists()
    assert _order_amounts(api, order) == amounts_before
    assert claims(order) == (Decimal("0.000"), Decimal("0.00"))
    assert reload(refund).order.status == OrderStatus.DELIVERED
    assert CarrierEvent.objects.get(kind="shipped").outcome == f"replacement {shipment.pk}: shipped"
    late_photo = api.post(f"/api/v1/refunds/{refund.refund_no}/evidence/", {"file": _png()}, format="multipart")
    assert late_photo.status_code == 409  # a replacement shipped is closed

    # The same notification again, and the job again: nothing changes.
    events = RefundEvent.objects.filter(refund=refund).count()
    assert CarrierInbox.relay(picked_up[0], Client()).status_code == 200
    jobs.replacement_ship(refund.pk)
    assert RefundEvent.objects.filter(refund=refund).count() == events
    assert stock_of(product) == Decimal("8.000")
    assert len(carrier.state(base_url=carrier_simulator.url)["shipments"]) == 1


def test_without_stock_a_replacement_becomes_a_refund_on_the_original_path(
    api: Any, customer: Any, agent: Any, carrier_simulator: Any, channel_simulator: Any
) -> None:
    product, order = _delivered(customer, stock="1")
    payment = order.payment
    channel.register_trade(
        channel="alipay",
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        base_url=channel_simulator.url,
    )
    refund = _approved(api, order, agent)

    with translation.override("zh-hans"):  # notes are written in the language of the moment
        jobs.replacement_ship(refund.pk)
    refund = reload(refund)
    assert (refund.state, refund.kind, refund.amount) == (S.REFUNDING, RefundKind.REFUND_ONLY, Decimal("60.00"))
    assert stock_of(product) == Decimal("1.000")
    assert _replacement_references(refund) == []
    assert not ReplacementShipment.objects.filter(refund=refund).exists()
    assert carrier.state(base_url=carrier_simulator.url)["shipments"] == []
    assert claims(order) == (Decimal("2.000"), Decimal("60.00"))  # now held for the money
    detail = _detail(api, refund)
    assert (detail["kind"], detail["state"], detail["replacement"]) == ("refund_only", "refunding", None)
    assert detail["timeline"][-1] == {
        "state": "refunding",
        "state_display": "退款中",
        "at": detail["timeline"][-1]["at"],
        "note": "库存不足，无法补发：改为原路退款",
    }

    assert payment_jobs.refund_execute(refund.pk) == "refunded"
    refund = reload(refund)
    assert refund.state == S.REFUNDED
    assert refund.order.status == OrderStatus.PARTIALLY_REFUNDED
    ledger = channel.ledger(base_url=channel_simulator.url)
    assert [Decimal(r["amount"]) for r in ledger["refunds"] if r["out_refund_no"] == refund.out_refund_no] == [
        Decimal("60.00")
    ]
    jobs.replacement_ship(refund.pk)  # a late repeat of the job changes nothing
    assert (reload(refund).state, stock_of(product)) == (S.REFUNDED, Decimal("1.000"))


def test_a_lost_notification_is_made_up_by_asking_the_carrier(
    api: Any, customer: Any, agent: Any, carrier_simulator: Any, carrier_inbox: CarrierInbox
) -> None:
    _product, order = _delivered(customer)
    refund = _approved(api, order, agent)
    jobs.replacement_ship(refund.pk)
    carrier_inbox.wait_for(1)  # picked up and notified, never handed to the app

    assert jobs.replacement_sweep() == {"requested": 0, "checked": 1, "shipped": 1}
    assert reload(refund).state == S.REPLACED
    assert jobs.replacement_sweep() == {"requested": 0, "checked": 0, "shipped": 0}


def test_a_carrier_that_refuses_sends_the_goods_back_to_stock_and_the_money_back(
    api: Any, customer: Any, agent: Any, carrier_simulator: Any
) -> None:
    product, order = _delivered(customer)
    body = _apply_replacement(api, order)
    refund = Refund.objects.get(refund_no=body["refund_no"])
    carrier.set_shipment_outcome(reference=refund.refund_no, outcome="rejected", note="地址不在服务范围")
    refund_services.refund_approve(refund=refund, actor=agent)

    with translation.override("zh-hans"):
        jobs.replacement_ship(refund.pk)
    refund = reload(refund)
    assert (refund.state, refund.kind) == (S.REFUNDING, RefundKind.REFUND_ONLY)
    assert stock_of(product) == Decimal("10.000")
    assert _replacement_references(refund) == [
        ("replacement", Decimal("-2.000")),
        ("replacement_cancelled", Decimal("2.000")),
    ]
    shipment = ReplacementShipment.objects.get(refund=refund)
    assert (shipment.tracking_no, shipment.last_error) == ("", "地址不在服务范围")
    assert shipment.refused_at is not None and shipment.shipped_at is None
    assert _detail(api, refund)["timeline"][-1]["note"] == "快递公司无法补发：改为原路退款"
    assert claims(order) == (Decimal("2.000"), Decimal("60.00"))


def test_a_carrier_that_is_down_is_asked_again_by_the_sweep(
    api: Any, customer: Any, agent: Any, carrier_simulator: Any, carrier_inbox: CarrierInbox
) -> None:
    product, order = _delivered(customer)
    body = _apply_replacement(api, order)
    refund = Refund.objects.get(refund_no=body["refund_no"])
    carrier.set_shipment_outcome(reference=refund.refund_no, outcome="error")
    refund_services.refund_approve(refund=refund, actor=agent)

    with pytest.raises(CarrierTemporaryError):
        jobs.replacement_ship(refund.pk)  # raises so that the job queue retries it
    shipment = ReplacementShipment.objects.get(refund=refund)
    assert (shipment.requested_at, shipment.tracking_no, shipment.attempts) == (None, "", 1)
    assert shipment.last_error
    assert (reload(refund).state, stock_of(product)) == (S.REPLACING, Decimal("8.000"))
    assert _detail(api, refund)["replacement"] is None

    carrier.set_shipment_outcome(reference=refund.refund_no, outcome="shipped")
    assert jobs.replacement_sweep() == {"requested": 0, "checked": 1, "shipped": 0}
    shipment.refresh_from_db()
    assert (shipment.attempts, shipment.last_error) == (2, "")
    assert shipment.tracking_no and shipment.requested_at is not None
    relay_all(carrier_inbox, 1)
    assert reload(refund).state == S.REPLACED
    assert stock_of(product) == Decimal("8.000")  # allocated once


def test_a_replacement_whose_job_was_lost_is_handed_out_again(
    api: Any, customer: Any, agent: Any, carrier_simulator: Any, settings: Any
) -> None:
    _product, order = _delivered(customer)
    refund = _approved(api, order, agent)  # the job went to the queue; no worker runs it here
    assert jobs.replacement_sweep()["requested"] == 1
    jobs.replacement_ship(refund.pk)
    assert jobs.replacement_sweep()["requested"] == 0


def test_a_notification_that_comes_before_the_carrier_s_answer_is_kept(
    api: Any, customer: Any, agent: Any, carrier_simulator: Any
) -> None:
    _product, order = _delivered(customer)
    refund = _approved(api, order, agent)
    carrier.set_shipment_outcome(reference=refund.refund_no, outcome="error")
    with pytest.raises(CarrierTemporaryError):
        jobs.replacement_ship(refund.pk)
    headers, body = carrier_simulator.build(
        {
            "event_id": "early-1",
            "type": "shipped",
            "carrier": "SF",
            "tracking_no": "SF0000EARLY",
            "reference": refund.refund_no,
        }
    )
    answer = Client().post("/logistics/notify/", data=body, content_type="application/json", headers=headers)
    assert answer.status_code == 200
    assert reload(refund).state == S.REPLACED
    assert _detail(api, refund)["replacement"] == {"carrier": "SF", "tracking_no": "SF0000EARLY"}


def test_a_replacement_costs_the_agent_two_clicks(
    api: Any, customer: Any, agent: Any, carrier_simulator: Any, carrier_inbox: CarrierInbox
) -> None:
    """Open it from the queue, press Approve; the stock, the parcel and the tracking number follow by themselves."""
    _product, order = _delivered(customer)
    refund = Refund.objects.get(refund_no=_apply_replacement(api, order)["refund_no"])
    console = login(agent)
    change = f"/admin/refunds/refund/{refund.pk}/change/"

    queue = console.get("/admin/refunds/refund/").content.decode()
    assert f'href="{change}' in queue  # click 1: the refund from the queue
    assert buttons(page(console, refund)) == ["approve", "reject"]
    assert act(console, refund, "approve").status_code == 302  # click 2
    assert reload(refund).state == S.REPLACING

    jobs.replacement_ship(refund.pk)
    shipment = ReplacementShipment.objects.get(refund=refund)
    html = page(console, refund)
    assert buttons(html) == []
    assert f"{shipment.carrier} {shipment.tracking_no}" in html
    relay_all(carrier_inbox, 1)
    assert reload(refund).state == S.REPLACED
    html = page(console, refund)
    assert (buttons(html), "replacement shipped" in html) == ([], True)
