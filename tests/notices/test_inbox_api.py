"""The customer's inbox at /api/v1/notifications/: own messages only, newest first, paginated, in the request's
language; marking one read; another customer's message is 404 and stays unread; documented in the schema."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from notices.models import CustomerMessage
from notices.services import customer_notify, replacement_shipped_notify
from refunds import services
from refunds.models import Refund
from refunds.services import ItemRequest
from tests.conftest import client_for
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db


def _refund(customer: Any) -> Refund:
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("25.00")), "2")], status="delivered")
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="quality_issue",
        kind="refund_only",
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("2"))],
    )
    return refund


@pytest.fixture
def told(customer: Any) -> tuple[Refund, list[CustomerMessage]]:
    """Three messages about one refund of the customer's, an hour apart, the newest last."""
    refund = _refund(customer)
    order_no = refund.order.order_no
    messages = [
        customer_notify(refund=refund, event="received", params={"order_no": order_no, "amount": refund.amount}),
        customer_notify(refund=refund, event="approved", params={"order_no": order_no, "amount": refund.amount}),
        replacement_shipped_notify(refund=refund, carrier="顺丰", tracking_no="SF99"),
    ]
    start = timezone.now() - timedelta(hours=3)
    for hours, message in enumerate(messages):
        CustomerMessage.objects.filter(pk=message.pk).update(created_at=start + timedelta(hours=hours))
    return refund, messages


def test_own_messages_newest_first_in_the_requests_language(
    customer: Any, other_customer: Any, told: tuple[Refund, list[CustomerMessage]], django_assert_max_num_queries: Any
) -> None:
    refund, (received, approved, shipped) = told
    _refund(other_customer)
    customer_notify(refund=Refund.objects.get(customer=other_customer), event="goods_received", params={})
    no, order_no = refund.refund_no, refund.order.order_no

    api = client_for(customer)
    with django_assert_max_num_queries(3):  # the user by its token, the count, the page (with its refunds)
        english = api.get("/api/v1/notifications/", HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 200
    body = english.json()
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    assert body["results"] == [
        {
            "id": shipped.pk,
            "event": "replacement_shipped",
            "refund_no": no,
            "title": f"The replacement for refund {no} is on its way",
            "body": "We have shipped the replacement with 顺丰, tracking number SF99.",
            "created_at": body["results"][0]["created_at"],
            "read": False,
        },
        {
            "id": approved.pk,
            "event": "approved",
            "refund_no": no,
            "title": f"Your refund {no} is approved",
            "body": f"Your refund of ¥50.00 for order {order_no} is approved.",
            "created_at": body["results"][1]["created_at"],
            "read": False,
        },
        {
            "id": received.pk,
            "event": "received",
            "refund_no": no,
            "title": f"We have received your refund request {no}",
            "body": f"Your request for ¥50.00 on order {order_no} has reached us. We will tell you of every step.",
            "created_at": body["results"][2]["created_at"],
            "read": False,
        },
    ]
    times = [entry["created_at"] for entry in body["results"]]
    assert times == sorted(times, reverse=True) and all(time.endswith("+08:00") for time in times)

    chinese = client_for(customer).get("/api/v1/notifications/").json()["results"]
    assert [(entry["title"], entry["body"]) for entry in chinese] == [
        (f"退款 {no} 的补发商品已发出", "补发商品已通过顺丰寄出，运单号 SF99。"),
        (f"您的退款 {no} 已通过审核", f"您对订单 {order_no} 的 ¥50.00 退款已通过审核。"),
        (
            f"我们已收到您的退款申请 {no}",
            f"您对订单 {order_no} 申请的 ¥50.00 退款已提交成功，每一步进展我们都会通知您。",
        ),
    ]


def test_pages(customer: Any, told: tuple[Refund, list[CustomerMessage]]) -> None:
    _, (received, approved, shipped) = told
    first = client_for(customer).get("/api/v1/notifications/?page_size=2").json()
    assert [entry["id"] for entry in first["results"]] == [shipped.pk, approved.pk]
    assert first["next"].endswith("/api/v1/notifications/?page=2&page_size=2")
    second = client_for(customer).get("/api/v1/notifications/?page=2&page_size=2").json()
    assert [entry["id"] for entry in second["results"]] == [received.pk]
    assert client_for(customer).get("/api/v1/notifications/?page=9").status_code == 404


def test_marking_a_message_read_once(customer: Any, told: tuple[Refund, list[CustomerMessage]]) -> None:
    _, (received, approved, _shipped) = told
    api = client_for(customer)
    response = api.post(f"/api/v1/notifications/{approved.pk}/read/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["read"], response.json()["event"]) == (approved.pk, True, "approved")
    first_read = CustomerMessage.objects.get(pk=approved.pk).read_at
    assert first_read is not None

    assert api.post(f"/api/v1/notifications/{approved.pk}/read/").status_code == 200
    assert CustomerMessage.objects.get(pk=approved.pk).read_at == first_read  # the first reading is kept
    listed = api.get("/api/v1/notifications/").json()["results"]
    assert {entry["id"]: entry["read"] for entry in listed} == {
        _shipped.pk: False,
        approved.pk: True,
        received.pk: False,
    }


def test_another_customers_message_is_not_found_and_stays_unread(
    other_customer: Any, told: tuple[Refund, list[CustomerMessage]]
) -> None:
    _, (received, _approved, _shipped) = told
    response = client_for(other_customer).post(f"/api/v1/notifications/{received.pk}/read/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert CustomerMessage.objects.get(pk=received.pk).read_at is None
    assert client_for(other_customer).get("/api/v1/notifications/").json()["count"] == 0


@pytest.mark.parametrize("message_id", ["abc", "99999999999999999999", "0", "-1", "99999999"])
def test_impossible_or_unknown_ids_are_not_found(customer: Any, message_id: str) -> None:
    assert client_for(customer).post(f"/api/v1/notifications/{message_id}/read/").status_code == 404


def test_no_credentials(anon_api: Any, told: tuple[Refund, list[CustomerMessage]]) -> None:
    _, (received, _approved, _shipped) = told
    assert anon_api.get("/api/v1/notifications/").status_code == 401
    assert anon_api.post(f"/api/v1/notifications/{received.pk}/read/").status_code == 401
    assert CustomerMessage.objects.get(pk=received.pk).read_at is None


def test_the_schema_documents_the_inbox(anon_api: Any) -> None:
    schema = anon_api.get("/api/schema/?format=json").json()
    listing = schema["paths"]["/api/v1/notifications/"]["get"]
    reading = schema["paths"]["/api/v1/notifications/{id}/read/"]["post"]
    assert sorted(listing["responses"]) == ["200", "401"]
    assert sorted(reading["responses"]) == ["200", "401", "404"]
    assert [parameter["name"] for parameter in reading["parameters"]] == ["id"]
    page = schema["components"]["schemas"]["PaginatedNotificationList"]
    assert sorted(page["properties"]) == ["count", "next", "previous", "results"]
    notification = schema["components"]["schemas"]["Notification"]
    assert list(notification["properties"]) == ["id", "event", "refund_no", "title", "body", "created_at", "read"]
    assert notification["properties"]["read"]["type"] == "boolean"
    assert notification["properties"]["created_at"]["format"] == "date-time"
    event = notification["properties"]["event"]
    assert event["allOf"] == [{"$ref": "#/components/schemas/NotificationEventEnum"}]
    assert set(schema["components"]["schemas"]["NotificationEventEnum"]["enum"]) == {
        "received",
        "opened",
        "approved",
        "rejected",
        "return_needed",
        "goods_received",
        "inspected",
        "refunded",
        "replacement_shipped",
    }
    assert reading["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Notification"
    }
