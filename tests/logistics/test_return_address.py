"""``GET /api/v1/refunds/{refund_no}/return-address/``: the default active warehouse for refunds whose goods
come back; 404 for another customer's refund, 409 when no return is needed."""

from __future__ import annotations

from typing import Any

import pytest

from logistics.models import Warehouse
from refunds import services as refund_services
from tests.conftest import client_for
from tests.logistics.helpers import apply, fruit, shipped_order

pytestmark = pytest.mark.django_db


def _url(refund: Any) -> str:
    return f"/api/v1/refunds/{refund.refund_no}/return-address/"


def test_a_return_shows_the_default_active_warehouse(customer: Any, agent: Any, warehouse: Warehouse) -> None:
    Warehouse.objects.create(name="北京仓", contact="赵", phone="010-1", address="北京", active=True)
    order = shipped_order(customer, fruit(), "2", delivered=True)
    refund = apply(customer, order, "quality_issue", "return_and_refund")
    response = client_for(customer).get(_url(refund))
    assert response.status_code == 200
    assert response.json() == {
        "refund_no": refund.refund_no,
        "state": "pending_review",
        "return_address": {
            "name": "上海退货仓",
            "contact": "李师傅",
            "phone": "021-55550000",
            "address": "上海市嘉定区鲜果路 8 号",
        },
    }
    refund_services.refund_approve(refund=refund, actor=agent)
    assert client_for(customer).get(_url(refund)).json()["state"] == "awaiting_return"


def test_another_customers_refund_is_not_found(customer: Any, other_customer: Any, warehouse: Warehouse) -> None:
    order = shipped_order(customer, fruit(), "2", delivered=True)
    refund = apply(customer, order, "quality_issue", "return_and_refund")
    response = client_for(other_customer).get(_url(refund))
    assert response.status_code == 404
    assert client_for(customer).get("/api/v1/refunds/R0000/return-address/").status_code == 404


def test_no_credentials_is_401(anon_api: Any, customer: Any, warehouse: Warehouse) -> None:
    order = shipped_order(customer, fruit(), "2", delivered=True)
    refund = apply(customer, order, "quality_issue", "return_and_refund")
    assert anon_api.get(_url(refund)).status_code == 401


def test_a_refund_without_a_return_is_409(customer: Any, warehouse: Warehouse) -> None:
    order = shipped_order(customer, fruit(), "2", delivered=True)
    refund = apply(customer, order, "quality_issue", "refund_only")
    response = client_for(customer).get(_url(refund))
    assert response.status_code == 409
    assert response.json()["code"] == "return_not_needed"


def test_without_an_active_warehouse_the_customer_is_told_to_ask(customer: Any) -> None:
    Warehouse.objects.create(name="停用仓", contact="王", phone="1", address="x", active=False, is_default=True)
    order = shipped_order(customer, fruit(), "2", delivered=True)
    refund = apply(customer, order, "quality_issue", "return_and_refund")
    response = client_for(customer).get(_url(refund), headers={"accept-language": "en"})
    assert response.status_code == 409
    assert response.json() == {
        "code": "no_return_address",
        "detail": "No return address is available yet; please contact customer service.",
    }


def test_the_customer_is_told_in_chinese_by_default(customer: Any) -> None:
    order = shipped_order(customer, fruit(), "2", delivered=True)
    refund = apply(customer, order, "quality_issue", "return_and_refund")
    response = client_for(customer).get(_url(refund))
    assert (response.status_code, response.json()["detail"]) == (409, "暂无退货地址，请联系客服。")
