"""Sixteen applications at once with the same Idempotency-Key and body make one refund, and every one of them is
answered with it; the same key with another body is still refused. The key is stored with the refund under a
unique constraint and looked up again under the order's row lock, so the database holds the line with or
without the Redis lock in front of it."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections

from mall.models import Order, OrderItem
from refunds.models import Refund, RefundEvent, RefundState
from tests.conftest import client_for
from tests.factories import ProductFactory, make_order

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

REQUESTS = 16


def _delivered_order(customer: Any) -> Order:
    lines = [(ProductFactory(price=Decimal("39.90")), "2"), (ProductFactory(price=Decimal("88.00"), unit="kg"), "1.5")]
    return make_order(customer, lines=lines, shipping_fee="8.00", status="delivered")


def _body(order: Order) -> dict[str, Any]:
    items = [{"order_item_id": item.pk, "quantity": str(item.quantity)} for item in order.items.order_by("pk")]
    return {"order_no": order.order_no, "reason": "quality_issue", "kind": "refund_only", "items": items}


def _claims(order: Order) -> list[tuple[Decimal, Decimal]]:
    rows = OrderItem.objects.filter(order=order).order_by("pk")
    return list(rows.values_list("refund_claimed_quantity", "refund_claimed_amount"))


def _all_at_once(customer: Any, body: dict[str, Any], key: str) -> list[tuple[int, str]]:
    """REQUESTS threads, each with its own client and database connection, released together."""
    start = threading.Barrier(REQUESTS)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def apply() -> None:
        try:
            client = client_for(customer)
            start.wait(timeout=30)
            response = client.post("/api/v1/refunds/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
            payload = response.json()
            with lock:
                answers.append((response.status_code, payload.get("refund_no") or payload.get("code")))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=apply) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


@pytest.mark.parametrize("redis_lock", [True, False], ids=["redis-lock-and-row-lock", "row-lock-alone"])
def test_sixteen_requests_at_once_with_one_key_make_one_refund(customer: Any, settings: Any, redis_lock: bool) -> None:
    if not redis_lock:
        settings.REDIS_URL = ""  # no Redis lock in front: the order's row lock alone serialises the requests
    order = _delivered_order(customer)
    body = _body(order)

    answers = _all_at_once(customer, body, "retry-7f3a")

    [refund] = Refund.objects.filter(customer=customer)
    statuses = Counter(status for status, _ in answers)
    locks = "Redis lock and row lock" if redis_lock else "row lock alone"
    print(f"\n{REQUESTS} applications with one key ({locks}): {dict(statuses)}")
    assert sorted(answers) == [(201, refund.refund_no)] * REQUESTS
    assert refund.state == RefundState.PENDING_REVIEW
    assert refund.amount == Decimal("211.80")
    assert RefundEvent.objects.filter(refund=refund).count() == 2  # submitted, waiting for review: once
    # The order's lines are claimed once, by that refund.
    assert _claims(order) == [(Decimal("2.000"), Decimal("79.80")), (Decimal("1.500"), Decimal("132.00"))]


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(customer: Any) -> None:
    order = _delivered_order(customer)
    body = _body(order)
    first = client_for(customer).post("/api/v1/refunds/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-9")
    assert first.status_code == 201
    claims = _claims(order)

    other = {**body, "items": body["items"][:1]}
    answers = _all_at_once(customer, other, "k-9")

    assert answers == [(409, "idempotency_key_reused")] * REQUESTS
    assert list(Refund.objects.filter(customer=customer).values_list("refund_no", flat=True)) == [
        first.json()["refund_no"]
    ]
    assert _claims(order) == claims


def test_one_key_on_two_orders_at_once_makes_one_refund_and_refuses_the_other(customer: Any) -> None:
    """Two orders' locks do not serialise the requests: the unique key does, and the loser reads the winner."""
    orders = [_delivered_order(customer), _delivered_order(customer)]
    start = threading.Barrier(2)
    answers: dict[str, tuple[int, str]] = {}

    def apply(order: Order) -> None:
        try:
            client = client_for(customer)
            start.wait(timeout=30)
            response = client.post("/api/v1/refunds/", _body(order), format="json", HTTP_IDEMPOTENCY_KEY="k-two")
            payload = response.json()
            answers[order.order_no] = (response.status_code, payload.get("refund_no") or payload.get("code"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=apply, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    [refund] = Refund.objects.filter(customer=customer)
    assert answers[refund.order.order_no] == (201, refund.refund_no)
    [loser] = [order for order in orders if order.pk != refund.order_id]
    assert answers[loser.order_no] == (409, "idempotency_key_reused")
    assert _claims(loser) == [(Decimal("0.000"), Decimal("0.00"))] * 2
