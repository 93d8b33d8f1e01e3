"""No input reaches a 5xx: random and near-valid bodies, headers, paths and query strings against the customer API.

Each example is checked three ways: the answer is below 500; a refusal (4xx) changed nothing in the database; and
a refusal says why in the API's error shape (``code`` and ``detail``, plus ``fields`` naming the fields at fault on
a 400). Hypothesis shrinks any failure to the smallest request that shows it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from mall.json_limits import MAX_JSON_DEPTH
from mall.models import Order, OrderItem
from mall.roles import CUSTOMER_SERVICE
from refunds.models import Dispute, Refund, RefundEvent, ReturnShipment
from refunds.services import refund_approve, refund_reject
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory, make_order, staff_user
from tests.fuzzing import DEEP_JSON, JSON_VALUES, NUMBERISH, SCALARS, SIZE_OFFSETS, fuzz, rolled_back

pytestmark = pytest.mark.django_db

FUZZ = fuzz(120)


def _snapshot() -> tuple[Any, ...]:
    return (
        Refund.objects.count(),
        RefundEvent.objects.count(),
        Dispute.objects.count(),
        ReturnShipment.objects.count(),
        tuple(Order.objects.order_by("pk").values_list("status", "shipping_fee_refund_claimed")),
        tuple(OrderItem.objects.order_by("pk").values_list("refund_claimed_quantity", "refund_claimed_amount")),
    )


def _check(response: Any, before: tuple[Any, ...]) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:500])
    if response.status_code >= 400:
        assert _snapshot() == before, response.content[:500]
        # Every refusal of the API is in its error shape; only a path no view matches gets Django's HTML 404.
        if response.get("Content-Type", "").startswith("application/json"):
            body = response.json()
            assert body["code"] and body["detail"], body
            if response.status_code == 400 and body["code"] == "invalid":
                assert body["fields"], body
        else:
            assert response.status_code == 404, (response.status_code, response.content[:200])


def _apply(api: Any, order: Order, quantity: str) -> str:
    first = order.items.order_by("pk").first()
    assert first is not None
    body = {
        "order_no": order.order_no,
        "reason": "quality_issue",
        "kind": "return_and_refund",
        "items": [{"order_item_id": first.pk, "quantity": quantity}],
    }
    response = api.post("/api/v1/refunds/", body, format="json")
    assert response.status_code == 201, response.json()
    return str(response.json()["refund_no"])


@pytest.fixture
def shop(customer: Any) -> dict[str, Any]:
    """The customer's orders in several states, a refund awaiting the goods' return and a rejected one (what
    return shipments and disputes act on), and another customer's order."""
    product = ProductFactory(sku="FZ-APL", price=Decimal("39.90"))
    by_weight = ProductFactory(sku="FZ-CHR", price=Decimal("88.00"), unit="kg")
    lines = [(product, "2"), (by_weight, "1.500")]
    orders = {status: make_order(customer, lines=lines, status=status) for status in ("paid", "shipped", "delivered")}
    foreign = make_order(UserFactory(), lines=lines, status="paid")
    api = client_for(customer)
    agent = staff_user(CUSTOMER_SERVICE, "fuzz-agent")
    awaiting = _apply(api, orders["delivered"], "1")
    refund_approve(refund=Refund.objects.get(refund_no=awaiting), actor=agent)
    rejected = _apply(api, orders["delivered"], "1")
    refund_reject(refund=Refund.objects.get(refund_no=rejected), actor=agent, note="fuzz")
    assert dict(Refund.objects.values_list("refund_no", "state")) == {awaiting: "awaiting_return", rejected: "rejected"}
    items_of: dict[str, list[int]] = {}
    for order_no, pk in OrderItem.objects.order_by("pk").values_list("order__order_no", "pk"):
        items_of.setdefault(order_no, []).append(pk)
    return {
        "api": api,
        "order_nos": [o.order_no for o in orders.values()] + [foreign.order_no],
        "item_ids": [pk for pks in items_of.values() for pk in pks],
        "items_of": items_of,
        "refund_nos": [awaiting, rejected],
    }


def _item_strategy(item_ids: list[int]) -> Any:
    ids = st.sampled_from(item_ids) | st.integers(min_value=-(2**70), max_value=2**70) | SCALARS
    amount = NUMBERISH | SCALARS | st.decimals(allow_nan=False, places=3).map(str)
    item = st.fixed_dictionaries(
        {"order_item_id": ids, "quantity": amount}, optional={"amount": amount, "extra": JSON_VALUES}
    )
    return st.lists(item, max_size=4) | JSON_VALUES


def _apply_body(shop: dict[str, Any]) -> Any:
    near_valid = st.fixed_dictionaries(
        {
            "order_no": st.sampled_from(shop["order_nos"]) | SCALARS,
            "reason": st.sampled_from(
                ["not_shipped", "not_received", "quality_issue", "shipping_timeout", "compensation", "dispute"]
            )
            | SCALARS,
            "kind": st.sampled_from(["refund_only", "return_and_refund"]) | SCALARS,
            "items": _item_strategy(shop["item_ids"]),
        },
        optional={"description": SCALARS | JSON_VALUES, "refund_no": SCALARS, "state": SCALARS},
    )

    # Well formed, on the customer's own lines: what reaches the amount rules, the order's state and idempotency.
    def on_order(order_no: str) -> Any:
        item = st.fixed_dictionaries(
            {
                "order_item_id": st.sampled_from(shop["items_of"][order_no]),
                "quantity": st.sampled_from(["1", "0.5", "2", "3", "0.001", "1.500", "100"]),
            },
            optional={"amount": st.sampled_from(["1.00", "0.01", "39.90", "79.81", "1000", "0.001", "0"])},
        )
        return st.fixed_dictionaries(
            {
                "order_no": st.just(order_no),
                "reason": st.sampled_from(["not_shipped", "not_received", "quality_issue"]),
                "kind": st.sampled_from(["refund_only", "return_and_refund"]),
                "items": st.lists(item, min_size=1, max_size=3),
            },
            optional={"description": st.text(max_size=1200)},
        )

    well_formed = st.sampled_from(shop["order_nos"]).flatmap(on_order)
    return st.one_of(well_formed, well_formed, near_valid, JSON_VALUES)


def test_apply_never_answers_5xx(shop: dict[str, Any]) -> None:
    api = shop["api"]
    keys = st.none() | st.text(max_size=70) | st.text(min_size=60, max_size=70)  # around the 64-character limit

    @fuzz(300)
    @given(body=_apply_body(shop), key=keys, as_json=st.sampled_from([True, True, True, False]))
    def check(body: Any, key: str | None, as_json: bool) -> None:
        headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        if as_json:  # exactly what a careless client sends, NaN and all
            data, content_type = json.dumps(body, allow_nan=True), "application/json"
        else:  # the same as a form, each value as text
            fields = body if isinstance(body, dict) else {"items": body}
            data = urlencode(
                {str(k): v if isinstance(v, str) else json.dumps(v, allow_nan=True) for k, v in fields.items()}
            )
            content_type = "application/x-www-form-urlencoded"
        with rolled_back():
            before = _snapshot()
            _check(api.post("/api/v1/refunds/", data, content_type=content_type, **headers), before)

    check()


def test_malformed_bodies_never_answer_5xx(shop: dict[str, Any]) -> None:
    api = shop["api"]
    targets = ["/api/v1/refunds/"] + [
        f"/api/v1/refunds/{refund_no}/{action}/"
        for refund_no in shop["refund_nos"]
        for action in ("return-shipment", "evidence", "dispute")
    ]
    content_types = [
        "application/json",
        "multipart/form-data; boundary=xyz",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
    ]

    @FUZZ
    @given(path=st.sampled_from(targets), body=st.binary(max_size=300), content_type=st.sampled_from(content_types))
    def check(path: str, body: bytes, content_type: str) -> None:
        with rolled_back():
            before = _snapshot()
            _check(api.generic("POST", path, body, content_type=content_type), before)

    check()


def test_deep_and_oversized_bodies_never_answer_5xx(shop: dict[str, Any]) -> None:
    """JSON nested around the parsers' limit and far beyond Python's recursion limit, alone or as a field of an
    otherwise fine body, and bodies around the size limit: refused with the exact code, and nothing changes."""
    api = shop["api"]
    targets = ["/api/v1/refunds/"] + [
        f"/api/v1/refunds/{refund_no}/{action}/"
        for refund_no in shop["refund_nos"]
        for action in ("return-shipment", "dispute")
    ]
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    @fuzz(80)
    @given(
        path=st.sampled_from(targets),
        deep=DEEP_JSON,
        field=st.none() | st.sampled_from(["items", "order_no", "reason", "carrier", "description"]),
        oversize=st.none() | SIZE_OFFSETS,
    )
    def check(path: str, deep: tuple[str, int], field: str | None, oversize: int | None) -> None:
        text, levels = deep
        body = text if field is None else f'{{"{field}": {text}}}'
        levels += field is not None
        if oversize is not None:  # padded with spaces (insignificant in JSON) to the limit plus the offset
            body += " " * (limit + oversize - len(body.encode()))
        with rolled_back():
            before = _snapshot()
            response = api.post(path, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
            _check(response, before)
            if oversize is not None and oversize > 0:
                expected = (413, {"code": "request_too_large", "detail": "The request body is too large."})
                assert (response.status_code, response.json()) == expected
            elif levels > MAX_JSON_DEPTH:
                detail = f"JSON nested deeper than {MAX_JSON_DEPTH} levels."
                assert (response.status_code, response.json()) == (400, {"code": "parse_error", "detail": detail})

    check()


def test_refund_actions_never_answer_5xx(shop: dict[str, Any]) -> None:
    """Return shipments (on the refund awaiting the goods) and disputes (on the rejected one), near-valid bodies."""
    api = shop["api"]
    text = st.text(max_size=80) | st.sampled_from(["SF", "SF1234567890", "YT-0001", "a b", "x" * 65])

    @fuzz(200)
    @given(
        refund_no=st.sampled_from(shop["refund_nos"]),
        action=st.sampled_from(["return-shipment", "dispute"]),
        body=st.one_of(
            st.fixed_dictionaries({"carrier": text, "tracking_no": text}),
            st.fixed_dictionaries({"reason": st.text(max_size=1100)}),
            st.fixed_dictionaries(
                {}, optional={"carrier": SCALARS, "tracking_no": SCALARS, "reason": SCALARS | JSON_VALUES}
            ),
            JSON_VALUES,
        ),
    )
    def check(refund_no: str, action: str, body: Any) -> None:
        with rolled_back():
            before = _snapshot()
            response = api.post(
                f"/api/v1/refunds/{refund_no}/{action}/",
                json.dumps(body, allow_nan=True),
                content_type="application/json",
            )
            _check(response, before)

    check()


def test_paths_and_query_strings_never_answer_5xx(shop: dict[str, Any]) -> None:
    api = shop["api"]
    names = st.sampled_from(shop["order_nos"] + shop["refund_nos"]) | st.text(min_size=1, max_size=60)

    @FUZZ
    @given(
        collection=st.sampled_from(["orders", "refunds"]),
        name=st.none() | names,
        sub=st.sampled_from(["", "return-address/", "voucher/", "dispute/", "timeline/"]),
        query=st.dictionaries(
            st.sampled_from(["page", "page_size", "ordering", "state", "limit", "offset", "search", "format"])
            | st.text(max_size=8),
            st.text(max_size=30) | NUMBERISH,
            max_size=3,
        ),
    )
    def check(collection: str, name: str | None, sub: str, query: dict[str, str]) -> None:
        path = f"/api/v1/{collection}/" + (f"{quote(name, safe='')}/{sub}" if name is not None else "")
        before = _snapshot()
        _check(api.get(path, query), before)

    check()
