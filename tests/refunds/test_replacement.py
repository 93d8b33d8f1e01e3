"""Replacements (补发) as the customer applies for them and customer service decides them: accepted only for a
quality problem with delivered goods (any other request is a 400 naming the field, changing nothing), decided by
the same rules as a refund (the cap counts the value of the listed quantities), and never paid out as money by
the state machine itself. And what a refund still needs from the customer (``needs``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation
from django_fsm import can_proceed

from mall.models import Order, OrderItem
from refunds import services
from refunds.exceptions import ReviewForbidden
from refunds.models import Refund, RefundEvent, RefundEvidence, RefundKind, RefundState
from tests.factories import ProductFactory, make_order, reload

pytestmark = pytest.mark.django_db
S = RefundState


def _order(customer: Any, status: str = "delivered", price: str = "30.00", quantity: str = "3") -> Order:
    return make_order(customer, lines=[(ProductFactory(price=Decimal(price)), quantity)], status=status)


def _apply(
    api: Any, order: Order, *, reason: str = "quality_issue", kind: str = "replacement", language: str = "en"
) -> Any:
    line = {"order_item_id": order.items.get().pk, "quantity": "2"}
    body = {"order_no": order.order_no, "reason": reason, "kind": kind, "items": [line]}
    return api.post("/api/v1/refunds/", body, format="json", HTTP_ACCEPT_LANGUAGE=language)


def _unchanged(order: Order) -> tuple[Any, ...]:
    item = OrderItem.objects.get(order=order)
    return (
        Refund.objects.count(),
        RefundEvent.objects.count(),
        item.refund_claimed_quantity,
        item.refund_claimed_amount,
    )


@pytest.mark.parametrize(
    ("status", "reason", "field", "message"),
    [
        ("shipped", "not_received", "kind", "A replacement is for a quality problem with delivered goods."),
        ("shipped", "quality_issue", "kind", "A replacement is for a quality problem with delivered goods."),
        ("paid", "not_shipped", "kind", "A replacement is for a quality problem with delivered goods."),
        ("completed", "not_received", "kind", "A replacement is for a quality problem with delivered goods."),
    ],
)
def test_a_replacement_is_only_for_a_quality_problem_with_delivered_goods(
    api: Any, customer: Any, status: str, reason: str, field: str, message: str
) -> None:
    order = _order(customer, status)
    before = _unchanged(order)
    response = _apply(api, order, reason=reason)
    assert response.status_code == 400
    assert response.json() == {"code": "invalid", "detail": message, "fields": {field: [message]}}
    assert _unchanged(order) == before


def test_a_replacement_ships_quantities_not_amounts(api: Any, customer: Any) -> None:
    order = _order(customer)
    before = _unchanged(order)
    response = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "quality_issue",
            "kind": "replacement",
            "items": [{"order_item_id": order.items.get().pk, "quantity": "2", "amount": "10.00"}],
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 400
    message = "补发按数量寄出：请勿填写金额。"
    assert response.json() == {"code": "invalid", "detail": message, "fields": {"items[0].amount": [message]}}
    assert _unchanged(order) == before


def test_a_replacement_claims_the_value_of_its_quantities_and_waits_for_an_agent(
    api: Any, customer: Any, agent: Any
) -> None:
    order = _order(customer, "completed")
    response = _apply(api, order)
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["state"], body["amount"], body["replacement"]) == (
        "replacement",
        "pending_review",
        "60.00",
        None,
    )
    refund = Refund.objects.get(refund_no=body["refund_no"])
    assert refund.requires_supervisor is False

    with translation.override("en"):
        services.refund_approve(refund=refund, actor=agent)
    refund = reload(refund)
    assert (refund.state, refund.kind, refund.reviewed_by_id) == (S.REPLACING, RefundKind.REPLACEMENT, agent.pk)
    with translation.override("en"):
        events = [(e.from_state, e.to_state, e.note) for e in RefundEvent.objects.filter(refund=refund).order_by("id")]
    assert events[-2:] == [
        (S.PENDING_REVIEW, S.APPROVED, "approved"),
        (S.APPROVED, S.REPLACING, "shipping a replacement"),
    ]


def test_above_the_cap_by_value_only_a_supervisor_approves_a_replacement(
    api: Any, customer: Any, agent: Any, supervisor: Any
) -> None:
    order = _order(customer, price="2600.00")
    body = _apply(api, order).json()  # two of them: ¥5,200.00 of goods, above the ¥5,000 cap
    refund = Refund.objects.get(refund_no=body["refund_no"])
    assert (refund.amount, refund.requires_supervisor) == (Decimal("5200.00"), True)

    with pytest.raises(ReviewForbidden):
        services.refund_approve(refund=refund, actor=agent)
    assert reload(refund).state == S.PENDING_REVIEW

    services.refund_approve(refund=refund, actor=supervisor)
    assert reload(refund).state == S.REPLACING


def test_the_state_machine_never_pays_a_replacement_out(customer: Any) -> None:
    order = _order(customer)
    replacement = Refund(order=order, kind=RefundKind.REPLACEMENT, state=S.APPROVED)
    assert can_proceed(replacement.start_refund) is False
    assert can_proceed(replacement.start_replacement) is True
    refund = Refund(order=order, kind=RefundKind.REFUND_ONLY, state=S.APPROVED)
    assert can_proceed(refund.start_replacement) is False
    assert can_proceed(refund.start_refund) is True


def test_a_customer_may_withdraw_a_replacement_under_review(api: Any, customer: Any) -> None:
    order = _order(customer)
    body = _apply(api, order).json()
    assert api.post(f"/api/v1/refunds/{body['refund_no']}/cancel/").json()["state"] == "cancelled"
    item = OrderItem.objects.get(order=order)
    assert (item.refund_claimed_quantity, item.refund_claimed_amount) == (Decimal("0.000"), Decimal("0.00"))


# --- needs ------------------------------------------------------------------------------------------------


def test_a_quality_claim_needs_photos_until_one_is_uploaded(api: Any, customer: Any, media_root: Any) -> None:
    order = _order(customer)
    body = _apply(api, order, kind="refund_only").json()
    assert body["needs"] == ["photos"]
    refund = Refund.objects.get(refund_no=body["refund_no"])

    from tests.logistics.test_inspection import _png

    response = api.post(f"/api/v1/refunds/{refund.refund_no}/evidence/", {"file": _png()}, format="multipart")
    assert response.status_code == 201
    assert response.json()["needs"] == []
    assert RefundEvidence.objects.filter(refund=refund).count() == 1


def test_goods_to_send_back_are_needed_while_awaiting_return(api: Any, customer: Any, agent: Any) -> None:
    order = _order(customer)
    body = _apply(api, order, kind="return_and_refund").json()
    refund = Refund.objects.get(refund_no=body["refund_no"])
    services.refund_approve(refund=refund, actor=agent)  # no photo, but approved by a person
    detail = api.get(f"/api/v1/refunds/{refund.refund_no}/").json()
    assert (detail["state"], detail["needs"]) == ("awaiting_return", ["return_shipment"])

    shipped = api.post(
        f"/api/v1/refunds/{refund.refund_no}/return-shipment/", {"carrier": "SF", "tracking_no": "SF12345678"}
    )
    assert (shipped.json()["state"], shipped.json()["needs"]) == ("return_in_transit", [])


def test_nothing_is_needed_of_a_refund_that_is_not_a_quality_claim(api: Any, customer: Any) -> None:
    order = _order(customer, "shipped")
    body = _apply(api, order, reason="not_received", kind="refund_only").json()
    assert (body["state"], body["needs"]) == ("intercepting", [])
