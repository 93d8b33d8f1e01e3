"""The customer refund API: apply, list, detail, cancel, and every refusal changing nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mall.models import Order, OrderItem
from refunds.models import Refund, RefundEvent
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db


def _order(customer: Any, status: str = "paid", shipping_fee: str = "8.00", channel: str = "alipay") -> Order:
    apples = ProductFactory(sku=f"APL-{status}", price=Decimal("39.90"))
    cherries = ProductFactory(sku=f"CHR-{status}", price=Decimal("88.00"), unit="kg")
    return make_order(
        customer,
        lines=[(apples, "2"), (cherries, "1.500")],
        shipping_fee=shipping_fee,
        status=status,
        channel=channel,
    )


def _items(order: Order) -> list[OrderItem]:
    return list(order.items.order_by("id"))


def _apply(api: Any, order: Order, reason: str, kind: str = "refund_only", items: Any = None, **extra: Any) -> Any:
    if items is None:
        items = [{"order_item_id": i.pk, "quantity": str(i.quantity)} for i in _items(order)]
    body = {"order_no": order.order_no, "reason": reason, "kind": kind, "items": items}
    return api.post("/api/v1/refunds/", body, format="json", **extra)


def _snapshot(order: Order) -> tuple[Any, ...]:
    order.refresh_from_db()
    claims = tuple(
        OrderItem.objects.filter(order=order)
        .order_by("id")
        .values_list("refund_claimed_quantity", "refund_claimed_amount")
    )
    return (
        order.status,
        order.shipping_fee_refund_claimed,
        claims,
        Refund.objects.count(),
        RefundEvent.objects.count(),
    )


def test_unshipped_whole_order_goes_straight_to_refunding_with_shipping_fee(api: Any, customer: Any) -> None:
    order = _order(customer, "paid")
    response = _apply(api, order, "not_shipped")
    assert response.status_code == 201, response.json()
    body = response.json()
    # 2 x 39.90 + 1.5 kg x 88.00 + 8.00 shipping
    assert body["amount"] == "219.80"
    assert body["shipping_fee_amount"] == "8.00"
    assert body["state"] == "refunding"
    assert body["source"] == "customer"
    assert body["channel"] == "alipay"
    assert [entry["state"] for entry in body["timeline"]] == ["pending_review", "approved", "refunding"]
    refund = Refund.objects.get(refund_no=body["refund_no"])
    assert refund.out_refund_no.startswith("RQ")
    assert [(i["quantity"], i["amount"]) for i in body["items"]] == [("2.000", "79.80"), ("1.500", "132.00")]
    order_body = api.get(f"/api/v1/orders/{order.order_no}/").json()
    assert order_body["refundable_amount"] == "0.00"


@pytest.mark.parametrize(
    ("status", "reason", "kind", "state"),
    [
        ("paid", "not_shipped", "refund_only", "refunding"),
        ("shipped", "not_received", "refund_only", "intercepting"),
        ("delivered", "quality_issue", "return_and_refund", "pending_review"),
    ],
)
def test_the_answer_to_an_application_is_the_refund_as_stored(
    api: Any, customer: Any, status: str, reason: str, kind: str, state: str
) -> None:
    # The 201 answer is built from the rows just written; reading the refund back must show exactly the same.
    order = _order(customer, status)
    response = _apply(api, order, reason, kind)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == state
    assert api.get(f"/api/v1/refunds/{body['refund_no']}/").json() == body


def test_an_approved_application_is_written_once_with_an_event_per_step(api: Any, customer: Any) -> None:
    order = _order(customer, "paid")
    body = _apply(api, order, "not_shipped").json()
    refund = Refund.objects.get(refund_no=body["refund_no"])
    events = list(refund.events.order_by("created_at", "id").values_list("from_state", "to_state", "actor_id"))
    assert events == [
        ("", "pending_review", customer.pk),
        ("pending_review", "approved", None),
        ("approved", "refunding", None),
    ]
    assert [entry["note"] for entry in body["timeline"]] == ["已提交", "尚未签收：无需审核", "正在原路退款"]


def test_an_application_takes_a_fixed_number_of_statements(
    api: Any, customer: Any, django_assert_num_queries: Any
) -> None:
    # Token; the order and its lines found and locked by the order's number in one statement; refund, items, two
    # line claims, the shipping fee claim, events; the transaction's savepoint and its release. Nothing is read back
    # for the answer.
    order = _order(customer, "paid")
    items = [{"order_item_id": i.pk, "quantity": str(i.quantity)} for i in _items(order)]
    with django_assert_num_queries(10):
        response = _apply(api, order, "not_shipped", items=items)
    assert response.status_code == 201


def test_an_applications_events_are_stored_at_the_time_its_answer_shows(api: Any, customer: Any) -> None:
    # Written in one plain INSERT, as a batch's events are: the time must be stored as the ORM stores it, so that
    # a lookup by that time finds them on either database.
    order = _order(customer, "paid")
    items = [{"order_item_id": i.pk, "quantity": str(i.quantity)} for i in _items(order)]
    response = _apply(api, order, "not_shipped", items=items)
    assert response.status_code == 201
    refund = Refund.objects.get(refund_no=response.json()["refund_no"])
    stored = list(RefundEvent.objects.filter(refund=refund).values_list("created_at", flat=True))
    assert len(stored) == 3 and len(set(stored)) == 1
    assert RefundEvent.objects.filter(refund=refund, created_at=stored[0]).count() == 3
    assert [entry["at"] for entry in response.json()["timeline"]] == [
        entry["at"] for entry in api.get(f"/api/v1/refunds/{refund.refund_no}/").json()["timeline"]
    ]


def test_partial_refund_of_an_unshipped_order_keeps_the_shipping_fee(api: Any, customer: Any) -> None:
    order = _order(customer, "paid")
    _apples, cherries = _items(order)
    response = _apply(api, order, "not_shipped", items=[{"order_item_id": cherries.pk, "quantity": "0.500"}])
    assert response.status_code == 201
    assert response.json()["amount"] == "44.00"
    assert response.json()["shipping_fee_amount"] == "0.00"
    order_body = api.get(f"/api/v1/orders/{order.order_no}/").json()
    assert order_body["refundable_amount"] == "175.80"
    assert [(i["refundable_quantity"], i["refundable_amount"]) for i in order_body["items"]] == [
        ("2.000", "79.80"),
        ("1.000", "88.00"),
    ]


def test_shipped_order_goes_to_interception(api: Any, customer: Any) -> None:
    order = _order(customer, "shipped")
    response = _apply(api, order, "not_received")
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "intercepting"
    assert body["amount"] == "211.80"  # the shipping fee stays once the goods have left
    assert body["shipping_fee_amount"] == "0.00"


def test_delivered_quality_claim_waits_for_review(api: Any, customer: Any) -> None:
    order = _order(customer, "delivered")
    apples, _ = _items(order)
    response = _apply(
        api, order, "quality_issue", items=[{"order_item_id": apples.pk, "quantity": "1", "amount": "12.00"}]
    )
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "pending_review"
    assert body["amount"] == "12.00"
    refund = Refund.objects.get(refund_no=body["refund_no"])
    assert refund.due_at is not None
    assert (refund.due_at - refund.created_at).total_seconds() == pytest.approx(2 * 3600, abs=5)


def test_above_the_cap_a_supervisor_must_decide_even_before_delivery(api: Any, customer: Any, settings: Any) -> None:
    settings.REFUND_MAX_AMOUNT = Decimal("100")
    order = _order(customer, "paid")
    body = _apply(api, order, "not_shipped").json()
    assert body["state"] == "pending_review"
    assert Refund.objects.get(refund_no=body["refund_no"]).requires_supervisor is True


@pytest.mark.parametrize("reason", ["shipping_timeout", "out_of_stock", "price_anomaly", "dispute", "compensation"])
def test_system_and_staff_reasons_are_refused_from_customers(api: Any, customer: Any, reason: str) -> None:
    order = _order(customer, "paid")
    before = _snapshot(order)
    response = _apply(api, order, reason)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "reason" in response.json()["fields"]
    assert _snapshot(order) == before


@pytest.mark.parametrize(
    ("status", "reason", "kind", "code", "field"),
    [
        ("shipped", "not_shipped", "refund_only", 409, "reason"),
        ("paid", "not_received", "refund_only", 409, "reason"),
        ("paid", "quality_issue", "refund_only", 409, "reason"),
        ("paid", "not_shipped", "return_and_refund", 400, "kind"),
        ("delivered", "not_received", "refund_only", 409, "reason"),
    ],
)
def test_reason_must_fit_where_the_goods_are(
    api: Any, customer: Any, status: str, reason: str, kind: str, code: int, field: str
) -> None:
    order = _order(customer, status)
    before = _snapshot(order)
    response = _apply(api, order, reason, kind)
    assert response.status_code == code, response.json()
    assert field in response.json()["fields"]
    assert _snapshot(order) == before


@pytest.mark.parametrize(
    ("items", "status", "field"),
    [
        ([], 400, "items"),
        ([{"order_item_id": 999999, "quantity": "1"}], 400, "items[0].order_item_id"),
        ([{"order_item_id": "ITEM0", "quantity": "0"}], 400, "items"),
        ([{"order_item_id": "ITEM0", "quantity": "-1"}], 400, "items"),
        ([{"order_item_id": "ITEM0", "quantity": "3"}], 400, "items[0].quantity"),
        ([{"order_item_id": "ITEM0", "quantity": "1", "amount": "40.00"}], 400, "items[0].amount"),
        ([{"order_item_id": "ITEM0", "quantity": "1", "amount": "0.001"}], 400, "items"),
        ([{"order_item_id": "ITEM0", "quantity": "abc"}], 400, "items"),
        (
            [{"order_item_id": "ITEM0", "quantity": "1"}, {"order_item_id": "ITEM0", "quantity": "1"}],
            400,
            "items[1].order_item_id",
        ),
    ],
)
def test_bad_items_are_refused_naming_the_field(
    api: Any, customer: Any, items: list[dict[str, Any]], status: int, field: str
) -> None:
    order = _order(customer, "paid")
    first = _items(order)[0]
    for item in items:
        if item["order_item_id"] == "ITEM0":
            item["order_item_id"] = first.pk
    before = _snapshot(order)
    response = _apply(api, order, "not_shipped", items=items)
    assert response.status_code == status, response.json()
    assert field in response.json()["fields"], response.json()
    assert _snapshot(order) == before


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("quantity", "\u0661"),  # Arabic-Indic one
        ("quantity", "\uff11"),  # full-width one
        ("quantity", "\u0967.5"),  # Devanagari one, then ".5"
        ("amount", "\uff11\uff10.00"),  # full-width ten
    ],
)
def test_numbers_in_other_scripts_digits_are_refused(api: Any, customer: Any, name: str, value: str) -> None:
    order = _order(customer, "paid")
    item = {"order_item_id": _items(order)[0].pk, "quantity": "1", name: value}
    before = _snapshot(order)
    response = _apply(api, order, "not_shipped", items=[item], HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["fields"] == {"items": {"0": {name: ["A valid number is required."]}}}
    assert _snapshot(order) == before
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"order_no": "x", "reason": "not_shipped", "kind": "refund_only", "items": "nope"},
        {"order_no": "", "reason": "not_shipped", "kind": "refund_only", "items": []},
        {"order_no": "x" * 40, "reason": "not_shipped", "kind": "weird", "items": [{}]},
        [1, 2, 3],
    ],
)
def test_malformed_bodies_get_400(api: Any, customer: Any, body: Any) -> None:
    response = api.post("/api/v1/refunds/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert Refund.objects.count() == 0


def test_broken_json_gets_400(api: Any) -> None:
    response = api.post("/api/v1/refunds/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_another_customers_order_is_404(api: Any, other_customer: Any) -> None:
    order = _order(other_customer, "paid")
    before = _snapshot(order)
    response = _apply(api, order, "not_shipped")
    assert response.status_code == 404
    assert response.json()["code"] == "order_not_found"
    assert _snapshot(order) == before


def test_unpaid_order_cannot_be_refunded(api: Any, customer: Any) -> None:
    order = _order(customer, "pending_payment")
    response = _apply(api, order, "not_shipped")
    assert response.status_code == 409
    assert response.json()["code"] == "refund_not_allowed"
    assert Refund.objects.count() == 0


def test_second_application_beyond_what_is_left_is_refused(api: Any, customer: Any) -> None:
    order = _order(customer, "delivered")
    apples, _ = _items(order)
    first = _apply(api, order, "quality_issue", items=[{"order_item_id": apples.pk, "quantity": "2"}])
    assert first.status_code == 201
    before = _snapshot(order)
    second = _apply(api, order, "quality_issue", items=[{"order_item_id": apples.pk, "quantity": "1"}])
    assert second.status_code == 409
    assert second.json()["code"] == "amount_exceeded"
    assert second.json()["fields"] == {"items[0].quantity": [second.json()["detail"]]}
    assert _snapshot(order) == before


def test_idempotency_key_replays_and_refuses_another_body(api: Any, customer: Any) -> None:
    order = _order(customer, "delivered")
    apples, cherries = _items(order)
    items = [{"order_item_id": apples.pk, "quantity": "1"}]
    first = _apply(api, order, "quality_issue", items=items, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _apply(api, order, "quality_issue", items=items, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["refund_no"] == first.json()["refund_no"]
    assert Refund.objects.count() == 1
    other = _apply(
        api, order, "quality_issue", items=[{"order_item_id": cherries.pk, "quantity": "1"}], HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    "key",
    ["\u00d0\u00ba\u00d0\u00bb\u00d1\u008e\u00d1\u0087", "k\u00e9y", "a\tb", "k" * 65],
    ids=["utf-8-as-latin-1", "accent", "tab", "65-characters"],
)
def test_an_idempotency_key_that_is_not_printable_ascii_or_too_long_is_refused(
    api: Any, customer: Any, key: str
) -> None:
    order = _order(customer, "delivered")
    apples, _cherries = _items(order)
    items = [{"order_item_id": apples.pk, "quantity": "1"}]
    before = _snapshot(order)
    response = _apply(api, order, "quality_issue", items=items, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert response.json()["fields"] == {"Idempotency-Key": [response.json()["detail"]]}
    assert _snapshot(order) == before
    assert Refund.objects.count() == 0
    # A printable ASCII key of the longest length is taken.
    taken = _apply(api, order, "quality_issue", items=items, HTTP_IDEMPOTENCY_KEY="k" * 64)
    assert taken.status_code == 201


def test_list_and_detail_show_only_own_refunds(api: Any, customer: Any, other_customer: Any) -> None:
    from tests.conftest import client_for

    mine = _apply(api, _order(customer, "paid"), "not_shipped").json()
    theirs_client = client_for(other_customer)
    theirs = _apply(theirs_client, _order(other_customer, "shipped"), "not_received").json()
    listing = api.get("/api/v1/refunds/").json()
    assert listing["count"] == 1
    assert [r["refund_no"] for r in listing["results"]] == [mine["refund_no"]]
    assert api.get(f"/api/v1/refunds/{theirs['refund_no']}/").status_code == 404
    assert api.post(f"/api/v1/refunds/{theirs['refund_no']}/cancel/").status_code == 404
    detail = api.get(f"/api/v1/refunds/{mine['refund_no']}/").json()
    assert detail["order_no"] and detail["timeline"][0]["state"] == "pending_review"
    assert set(detail) >= {
        "refund_no",
        "order_no",
        "state",
        "reason",
        "kind",
        "amount",
        "items",
        "created_at",
        "timeline",
    }


def test_list_query_count_is_constant(api: Any, customer: Any, django_assert_max_num_queries: Any) -> None:
    for status in ("paid", "shipped", "delivered"):
        order = _order(customer, status)
        _apply(api, order, {"paid": "not_shipped", "shipped": "not_received", "delivered": "quality_issue"}[status])
    with django_assert_max_num_queries(10):
        response = api.get("/api/v1/refunds/")
    assert response.json()["count"] == 3


def test_anonymous_is_401(anon_api: Any) -> None:
    assert anon_api.get("/api/v1/refunds/").status_code == 401
    assert anon_api.post("/api/v1/refunds/", {}, format="json").status_code == 401


def test_cancel_releases_the_amounts(api: Any, customer: Any) -> None:
    order = _order(customer, "delivered")
    apples, _ = _items(order)
    body = _apply(api, order, "quality_issue", items=[{"order_item_id": apples.pk, "quantity": "2"}]).json()
    response = api.post(f"/api/v1/refunds/{body['refund_no']}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    apples.refresh_from_db()
    assert (apples.refund_claimed_quantity, apples.refund_claimed_amount) == (Decimal("0"), Decimal("0"))
    again = _apply(api, order, "quality_issue", items=[{"order_item_id": apples.pk, "quantity": "2"}])
    assert again.status_code == 201


def test_cancel_after_the_money_was_asked_for_is_refused(api: Any, customer: Any) -> None:
    order = _order(customer, "paid")
    body = _apply(api, order, "not_shipped").json()
    assert body["state"] == "refunding"
    before = _snapshot(order)
    response = api.post(f"/api/v1/refunds/{body['refund_no']}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "refund_not_allowed"
    assert _snapshot(order) == before


def test_apply_is_throttled(api: Any, customer: Any, settings: Any) -> None:
    from rest_framework.settings import api_settings
    from rest_framework.throttling import ScopedRateThrottle

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "refund_apply": "2/min"}
    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = rates
    try:
        codes = [api.post("/api/v1/refunds/", {}, format="json").status_code for _ in range(3)]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
    assert codes == [400, 400, 429]


def test_schema_documents_refund_endpoints(anon_api: Any) -> None:
    paths = anon_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
    for path in (
        "/api/v1/refunds/",
        "/api/v1/refunds/{refund_no}/",
        "/api/v1/refunds/{refund_no}/cancel/",
        "/api/v1/refunds/{refund_no}/evidence/",
        "/api/v1/refunds/{refund_no}/return-shipment/",
    ):
        assert path in paths, path
    create = paths["/api/v1/refunds/"]["post"]
    assert {"201", "400", "401", "404", "409", "429"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
