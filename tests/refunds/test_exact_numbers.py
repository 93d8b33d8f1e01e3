"""Order and refund numbers are matched exactly, on every database: MariaDB's collation ignores case (and trailing
spaces), so without a check of our own "o1" found order "O1" there and nothing on SQLite."""

from __future__ import annotations

from typing import Any

import pytest

from refunds.models import Refund, RefundState
from tests.refunds.test_apply_api import _apply, _order, _snapshot

pytestmark = pytest.mark.django_db


def _other_case(number: str) -> str:
    swapped = number.swapcase()
    assert swapped != number  # the factories' numbers have letters
    return swapped


def test_an_order_number_in_another_case_is_not_found_and_applying_on_it_changes_nothing(
    api: Any, customer: Any
) -> None:
    order = _order(customer, "paid")
    assert api.get(f"/api/v1/orders/{_other_case(order.order_no)}/").status_code == 404
    before = _snapshot(order)
    body = {
        "order_no": _other_case(order.order_no),
        "reason": "not_shipped",
        "kind": "refund_only",
        "items": [{"order_item_id": item.pk, "quantity": "1"} for item in order.items.order_by("id")[:1]],
    }
    response = api.post("/api/v1/refunds/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")
    assert _snapshot(order) == before
    assert not Refund.objects.exists()
    # The number as it is still works.
    assert api.get(f"/api/v1/orders/{order.order_no}/").status_code == 200
    assert _apply(api, order, "not_shipped").status_code == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ""),
        ("post", "cancel/"),
        ("get", "voucher/"),
        ("get", "return-address/"),
        ("get", "dispute/"),
    ],
)
def test_a_refund_number_in_another_case_is_not_found(api: Any, customer: Any, method: str, path: str) -> None:
    refund_no = _apply(api, _order(customer, "paid"), "not_shipped").json()["refund_no"]
    refund = Refund.objects.get(refund_no=refund_no)
    response = getattr(api, method)(f"/api/v1/refunds/{_other_case(refund_no)}/{path}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    refund.refresh_from_db()
    assert refund.state != RefundState.CANCELLED
    # The number as it is finds it.
    assert getattr(api, method)(f"/api/v1/refunds/{refund_no}/{path}").status_code != 404
