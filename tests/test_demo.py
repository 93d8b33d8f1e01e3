from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from mall.models import Order
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _seed_json() -> dict[str, Any]:
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_seed_demo_json_shape_and_states() -> None:
    data = _seed_json()
    assert set(data) == {"customers", "staff"}
    assert len(data["customers"]) == 3
    customer = data["customers"][0]
    assert set(customer) == {"username", "password", "token", "orders"}
    statuses = {order["status"] for order in customer["orders"]}
    assert {"pending_payment", "paid", "shipped", "delivered", "completed", "partially_refunded"} <= statuses
    assert {order["channel"] for order in customer["orders"] if order["channel"]} == {"alipay", "wechat"}
    order = customer["orders"][1]
    assert set(order) == {"order_no", "status", "channel", "total_amount", "items"}
    assert set(order["items"][0]) == {"id", "sku", "quantity", "unit_price"}
    assert order["total_amount"] == "136.80"
    assert {tuple(s["groups"]) for s in data["staff"]} == {
        ("customer_service",),
        ("cs_supervisor",),
        ("finance",),
        ("operations",),
    }


def test_seed_demo_credentials_work() -> None:
    data = _seed_json()
    customer = data["customers"][0]
    user = get_user_model().objects.get(username=customer["username"])
    assert user.check_password(customer["password"])
    response = client_for(user).get("/api/v1/orders/?page_size=100")
    assert response.json()["count"] == len(customer["orders"])
    staff = data["staff"][0]
    staff_user = get_user_model().objects.get(username=staff["username"])
    assert staff_user.is_staff and staff_user.check_password(staff["password"])
    assert list(staff_user.groups.values_list("name", flat=True)) == staff["groups"]


def test_seed_demo_twice_adds_a_fresh_set() -> None:
    first = _seed_json()
    count = Order.objects.count()
    second = _seed_json()
    assert Order.objects.count() == 2 * count
    assert {c["username"] for c in first["customers"]}.isdisjoint({c["username"] for c in second["customers"]})
