"""Store credit: a customer who takes shop balance is credited at once, with no channel call; the ledger names each
refund, is read through the API in the reader's language, and the database keeps the balance from going negative
or being credited twice for one refund."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation

from mall.models import Order, OrderStatus
from payments import jobs, store_credit
from payments.exceptions import StoreCreditError
from payments.models import ChannelAttempt, StoreCreditAccount, StoreCreditEntry, StoreCreditKind
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundDestination, RefundEvent, RefundState
from tests.conftest import client_for
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db


def paid_order(customer: Any, price: str = "39.90", quantity: str = "3", channel: str = "alipay") -> Order:
    return make_order(customer, lines=[(ProductFactory(price=Decimal(price)), quantity)], channel=channel)


def apply(api: Any, order: Order, quantity: str, **extra: Any) -> Any:
    item = order.items.get()
    body = {
        "order_no": order.order_no,
        "reason": "not_shipped",
        "kind": "refund_only",
        "items": [{"order_item_id": item.pk, "quantity": quantity}],
        **extra,
    }
    return api.post("/api/v1/refunds/", body, format="json")


def credited_refund(api: Any, order: Order, quantity: str) -> Refund:
    response = apply(api, order, quantity, destination="store_credit")
    assert response.status_code == 201, response.json()
    refund = Refund.objects.get(refund_no=response.json()["refund_no"])
    assert jobs.refund_execute(refund.pk) == "credited"
    return Refund.objects.get(pk=refund.pk)


def ledger(customer: Any) -> list[tuple[str, Decimal, Decimal, str | None]]:
    rows = StoreCreditEntry.objects.filter(account__customer=customer).order_by("id")
    return [(e.kind, e.amount, e.balance_after, e.refund.refund_no if e.refund else None) for e in rows]


def test_a_store_credit_refund_is_credited_at_once_without_calling_the_channel(
    api: Any, customer: Any, channel_simulator: Any
) -> None:
    order = paid_order(customer, channel="wechat")
    payment = order.payment
    simulator_client.register_trade(
        channel="wechat",
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        base_url=channel_simulator.url,
    )
    response = apply(api, order, "3", destination="store_credit")
    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["destination"], body["amount"]) == ("refunding", "store_credit", "119.70")
    assert body["destination_display"] == "店铺余额"
    assert body["timeline"][-1]["note"] == "退入店铺余额"
    refund = Refund.objects.get(refund_no=body["refund_no"])

    assert jobs.refund_execute(refund.pk) == "credited"
    assert jobs.refund_execute(refund.pk) == "skipped: refunded"  # a repeated job credits nothing more

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.state, refund.destination) == (RefundState.REFUNDED, RefundDestination.STORE_CREDIT)
    assert refund.refunded_at is not None
    assert order.status == OrderStatus.REFUNDED
    assert store_credit.store_credit_balance(customer=customer) == Decimal("119.70")
    assert ledger(customer) == [("credit", Decimal("119.70"), Decimal("119.70"), refund.refund_no)]
    # Nobody asked the channel anything: no attempt recorded, nothing booked at the simulator.
    assert ChannelAttempt.objects.filter(refund=refund).count() == 0
    assert simulator_client.ledger(base_url=channel_simulator.url)["refunds"] == []
    events = list(RefundEvent.objects.filter(refund=refund).values_list("from_state", "to_state"))
    assert events == [
        ("", "pending_review"),
        ("pending_review", "approved"),
        ("approved", "refunding"),
        ("refunding", "refunded"),
    ]

    detail = api.get(f"/api/v1/refunds/{refund.refund_no}/").json()
    assert (detail["state"], detail["destination"], detail["destination_display"]) == (
        "refunded",
        "store_credit",
        "店铺余额",
    )
    assert detail["timeline"][-1] == {
        "state": "refunded",
        "state_display": "已退款",
        "at": detail["timeline"][-1]["at"],
        "note": "已退入店铺余额",
    }
    english = api.get(f"/api/v1/refunds/{refund.refund_no}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["destination_display"] == "store credit"
    # The customer is told where the money went.
    message = jobs.notify_refunded(refund)
    voucher = f"{settings.SHOP_URL.rstrip('/')}/api/v1/refunds/{refund.refund_no}/voucher/"
    with translation.override("zh-hans"):
        assert message.body == f"订单 {order.order_no} 的 ¥119.70 已退入您的店铺余额。退款凭证：{voucher}"


def test_the_ledger_through_the_api_newest_first_paginated_in_the_readers_language(
    api: Any, customer: Any, other_customer: Any
) -> None:
    first = credited_refund(api, paid_order(customer, price="12.50", quantity="1"), "1")
    second = credited_refund(api, paid_order(customer, price="30.00", quantity="2"), "2")
    store_credit.store_credit_spend(customer=customer, amount=Decimal("50.00"), note="")

    page = api.get("/api/v1/store-credit/?page_size=2", HTTP_ACCEPT_LANGUAGE="en").json()
    assert page["balance"] == "22.50"
    assert page["count"] == 3
    assert page["previous"] is None
    assert page["next"].endswith("/api/v1/store-credit/?page=2&page_size=2")
    assert [(r["amount"], r["refund_no"], r["note"]) for r in page["results"]] == [
        ("-50.00", None, "spent"),
        ("60.00", second.refund_no, f"Refund {second.refund_no} credited"),
    ]
    rest = api.get("/api/v1/store-credit/?page=2&page_size=2").json()  # Chinese by default
    assert rest["balance"] == "22.50"
    assert [(r["amount"], r["refund_no"], r["note"]) for r in rest["results"]] == [
        ("12.50", first.refund_no, f"退款 {first.refund_no} 已退入余额")
    ]
    assert rest["results"][0]["at"].endswith("+08:00")

    # Another customer sees only their own (nothing), and nobody signed in sees nothing at all.
    assert client_for(other_customer).get("/api/v1/store-credit/").json() == {
        "balance": "0.00",
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    anonymous = client_for(other_customer)
    anonymous.credentials()
    assert anonymous.get("/api/v1/store-credit/").status_code == 401


def test_the_schema_documents_the_store_credit_ledger(api: Any) -> None:
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/store-credit/"]["get"]
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]
    assert list(page["properties"]) == ["balance", "count", "next", "previous", "results"]
    entry = page["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]
    assert list(schema["components"]["schemas"][entry]["properties"]) == ["amount", "refund_no", "note", "at"]
    choice = schema["components"]["schemas"]["RefundApplyRequest"]["properties"]["destination"]
    assert choice["default"] == "original"
    enum = schema["components"]["schemas"][choice["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert enum["enum"] == ["original", "store_credit"]
    shown = schema["components"]["schemas"]["Refund"]["properties"]["destination"]
    enum = schema["components"]["schemas"][shown["allOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert enum["enum"] == ["original", "store_credit", "offline"]


@pytest.mark.parametrize("destination", ["offline", "bank", ""])
def test_a_customer_chooses_only_the_original_payment_or_store_credit(
    api: Any, customer: Any, destination: str
) -> None:
    order = paid_order(customer)
    response = apply(api, order, "1", destination=destination)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == ["destination"]
    assert Refund.objects.count() == 0
    assert order.items.get().refund_claimed_amount == Decimal("0.00")


def test_the_default_destination_is_the_original_payment(api: Any, customer: Any) -> None:
    body = apply(api, paid_order(customer), "1").json()
    assert (body["destination"], body["timeline"][-1]["note"]) == ("original", "正在原路退款")


def test_the_same_idempotency_key_with_another_destination_is_refused(api: Any, customer: Any) -> None:
    order = paid_order(customer)
    item = order.items.get()
    body = {
        "order_no": order.order_no,
        "reason": "not_shipped",
        "kind": "refund_only",
        "items": [{"order_item_id": item.pk, "quantity": "1"}],
    }
    first = api.post("/api/v1/refunds/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-dest")
    assert first.status_code == 201
    again = api.post(
        "/api/v1/refunds/", {**body, "destination": "store_credit"}, format="json", HTTP_IDEMPOTENCY_KEY="k-dest"
    )
    assert (again.status_code, again.json()["code"]) == (409, "idempotency_key_reused")
    same = api.post(
        "/api/v1/refunds/", {**body, "destination": "original"}, format="json", HTTP_IDEMPOTENCY_KEY="k-dest"
    )
    assert (same.status_code, same.json()["refund_no"]) == (201, first.json()["refund_no"])
    assert Refund.objects.count() == 1


def test_spending_above_the_balance_is_refused_and_changes_nothing(api: Any, customer: Any) -> None:
    credited_refund(api, paid_order(customer, price="20.00", quantity="1"), "1")
    store_credit.store_credit_spend(customer=customer, amount=Decimal("15.00"), note="order O1")
    before = ledger(customer)
    for amount in (Decimal("5.01"), Decimal("0"), Decimal("-1.00"), Decimal("1.005"), Decimal("NaN")):
        with pytest.raises(StoreCreditError) as refused:
            store_credit.store_credit_spend(customer=customer, amount=amount, note="")
        assert refused.value.field == "amount"
    assert (
        ledger(customer)
        == before
        == [
            ("credit", Decimal("20.00"), Decimal("20.00"), before[0][3]),
            ("spend", Decimal("-15.00"), Decimal("5.00"), None),
        ]
    )
    assert store_credit.store_credit_balance(customer=customer) == Decimal("5.00")
    store_credit.store_credit_spend(customer=customer, amount=Decimal("5.00"), note="")
    assert store_credit.store_credit_balance(customer=customer) == Decimal("0.00")


def test_the_database_refuses_a_second_credit_for_one_refund_and_a_negative_balance(api: Any, customer: Any) -> None:
    refund = credited_refund(api, paid_order(customer, price="10.00", quantity="1"), "1")
    account = StoreCreditAccount.objects.get(customer=customer)
    with pytest.raises(IntegrityError), transaction.atomic():
        StoreCreditEntry.objects.create(
            account=account,
            kind=StoreCreditKind.CREDIT,
            amount=Decimal("10.00"),
            balance_after=Decimal("20.00"),
            refund=refund,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        StoreCreditAccount.objects.filter(pk=account.pk).update(balance=Decimal("-0.01"))
    with pytest.raises(IntegrityError), transaction.atomic():  # a credit without its refund
        StoreCreditEntry.objects.create(
            account=account, kind=StoreCreditKind.CREDIT, amount=Decimal("1.00"), balance_after=Decimal("11.00")
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # spending recorded as a positive amount
        StoreCreditEntry.objects.create(
            account=account, kind=StoreCreditKind.SPEND, amount=Decimal("1.00"), balance_after=Decimal("11.00")
        )
    assert ledger(customer) == [("credit", Decimal("10.00"), Decimal("10.00"), refund.refund_no)]
    assert StoreCreditAccount.objects.get(pk=account.pk).balance == Decimal("10.00")


def test_a_refund_to_the_original_payment_is_never_credited(api: Any, customer: Any) -> None:
    refund = Refund.objects.get(refund_no=apply(api, paid_order(customer), "1").json()["refund_no"])
    assert store_credit.refund_credit_store(refund_id=refund.pk) == "skipped: refunding"
    assert StoreCreditEntry.objects.count() == 0
    assert Refund.objects.get(pk=refund.pk).state == RefundState.REFUNDING
