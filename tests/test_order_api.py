from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import client_for
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db


def test_anonymous_gets_401(anon_api: Any, customer: Any) -> None:
    order = make_order(customer)
    assert anon_api.get("/api/v1/orders/").status_code == 401
    assert anon_api.get(f"/api/v1/orders/{order.order_no}/").status_code == 401


def test_customer_lists_own_orders_with_refundable_amounts(api: Any, customer: Any, other_customer: Any) -> None:
    apples = ProductFactory(sku="APL", price=Decimal("39.90"))
    cherries = ProductFactory(sku="CHR", price=Decimal("88.00"), unit="kg")
    mine = make_order(customer, lines=[(apples, "2"), (cherries, "1.250")], shipping_fee="8.00", channel="wechat")
    make_order(other_customer)

    response = api.get("/api/v1/orders/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["next"] is None and body["previous"] is None
    order = body["results"][0]
    assert order["order_no"] == mine.order_no
    assert order["status"] == "paid"
    assert order["channel"] == "wechat"
    assert order["total_amount"] == "197.80"
    assert order["refundable_amount"] == "197.80"
    assert [
        (i["sku"], i["quantity"], i["unit_price"], i["refundable_quantity"], i["refundable_amount"])
        for i in order["items"]
    ] == [
        ("APL", "2.000", "39.90", "2.000", "79.80"),
        ("CHR", "1.250", "88.00", "1.250", "110.00"),
    ]
    assert {"id", "sku", "name", "quantity", "unit_price", "refundable_quantity", "refundable_amount"} <= set(
        order["items"][0]
    )


def test_shipping_fee_is_not_refundable_once_shipped(api: Any, customer: Any) -> None:
    order = make_order(customer, shipping_fee="8.00", status="shipped")
    body = api.get(f"/api/v1/orders/{order.order_no}/").json()
    assert body["total_amount"] == "80.50"
    assert body["refundable_amount"] == "72.50"
    assert body["fulfilment"] == "in_transit"


def test_unpaid_order_has_nothing_refundable(api: Any, customer: Any) -> None:
    order = make_order(customer, status="pending_payment")
    body = api.get(f"/api/v1/orders/{order.order_no}/").json()
    assert body["status"] == "pending_payment"
    assert body["channel"] is None
    assert body["refundable_amount"] == "0.00"


def test_other_customers_order_is_404(api: Any, other_customer: Any) -> None:
    theirs = make_order(other_customer)
    response = api.get(f"/api/v1/orders/{theirs.order_no}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert api.get("/api/v1/orders/O-does-not-exist/").status_code == 404


def test_list_uses_constant_queries(api: Any, customer: Any, django_assert_max_num_queries: Any) -> None:
    for _ in range(12):
        make_order(customer)
    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/orders/")
    assert response.json()["count"] == 12


def test_pagination(customer: Any) -> None:
    for _ in range(3):
        make_order(customer)
    body = client_for(customer).get("/api/v1/orders/?page_size=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"].endswith("page=2&page_size=2")


def test_schema_documents_order_endpoints(anon_api: Any) -> None:
    response = anon_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/orders/" in paths
    assert "/api/v1/orders/{order_no}/" in paths
