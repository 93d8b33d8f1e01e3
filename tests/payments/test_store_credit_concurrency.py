"""Store credit under concurrency on MariaDB: threads, each with its own database connection, released together.

One refund executed by twelve workers at once is credited once; the database's unique key alone refuses a second
credit for one refund even when nothing else stops it; a customer's first credits arriving together create one
balance row and add up exactly; spending at once never takes the balance below zero.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connections, transaction

from payments import jobs, store_credit
from payments.exceptions import StoreCreditError
from payments.models import StoreCreditAccount, StoreCreditEntry, StoreCreditKind
from refunds import services
from refunds.models import Refund, RefundEvent, RefundReason, RefundState
from tests.factories import ProductFactory, make_order

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def all_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` in ``count`` threads released together; each result, or the exception it raised."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread met
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def store_credit_refund(customer: Any, price: str) -> Refund:
    order = make_order(customer, lines=[(ProductFactory(price=Decimal(price)), "1")], status="paid")
    refund, _created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.NOT_SHIPPED,
        kind="refund_only",
        items=services.full_order_items(order),
        destination="store_credit",
    )
    assert refund.state == RefundState.REFUNDING
    return refund


def test_one_refund_executed_by_twelve_workers_at_once_is_credited_once(customer: Any) -> None:
    refund = store_credit_refund(customer, "88.80")

    outcomes = all_at_once(12, lambda _i: jobs.refund_execute(refund.pk))

    assert Counter(outcomes) == {"credited": 1, "skipped: refunded": 11}
    assert StoreCreditAccount.objects.get(customer=customer).balance == Decimal("88.80")
    assert list(StoreCreditEntry.objects.values_list("kind", "amount", "balance_after", "refund_id")) == [
        ("credit", Decimal("88.80"), Decimal("88.80"), refund.pk)
    ]
    assert RefundEvent.objects.filter(refund=refund, to_state=RefundState.REFUNDED).count() == 1


def test_the_unique_key_alone_refuses_a_second_credit_for_one_refund(customer: Any) -> None:
    refund = store_credit_refund(customer, "10.00")
    account = StoreCreditAccount.objects.create(customer=customer)

    def credit_without_any_lock(_i: int) -> str:
        # What a careless writer would do: no row lock, no state check. Only the database stands in the way.
        with transaction.atomic():
            StoreCreditEntry.objects.create(
                account=account,
                kind=StoreCreditKind.CREDIT,
                amount=Decimal("10.00"),
                balance_after=Decimal("10.00"),
                refund=refund,
            )
        return "inserted"

    outcomes = all_at_once(8, credit_without_any_lock)

    assert outcomes.count("inserted") == 1
    assert [type(o) for o in outcomes if o != "inserted"] == [IntegrityError] * 7
    assert StoreCreditEntry.objects.filter(refund=refund).count() == 1


def test_first_credits_arriving_together_make_one_balance_that_adds_up(customer: Any) -> None:
    prices = ["10.00", "20.00", "30.00", "40.00", "50.00", "60.00"]
    refunds = [store_credit_refund(customer, price) for price in prices]

    outcomes = all_at_once(len(refunds), lambda i: jobs.refund_execute(refunds[i].pk))

    assert outcomes == ["credited"] * len(refunds)
    assert StoreCreditAccount.objects.filter(customer=customer).count() == 1
    assert StoreCreditAccount.objects.get(customer=customer).balance == Decimal("210.00")
    # Each entry's balance after it follows from the ones before: the row lock serialised them.
    running = Decimal("0.00")
    for amount, balance_after in StoreCreditEntry.objects.order_by("id").values_list("amount", "balance_after"):
        running += amount
        assert balance_after == running
    assert running == Decimal("210.00")
    assert set(Refund.objects.filter(customer=customer).values_list("state", flat=True)) == {RefundState.REFUNDED}


def test_spending_at_once_never_takes_the_balance_below_zero(customer: Any) -> None:
    jobs.refund_execute(store_credit_refund(customer, "100.00").pk)

    outcomes = all_at_once(
        10, lambda _i: store_credit.store_credit_spend(customer=customer, amount=Decimal("30.00"), note="")
    )

    spent = [o for o in outcomes if isinstance(o, StoreCreditEntry)]
    refused = [o for o in outcomes if isinstance(o, StoreCreditError)]
    assert (len(spent), len(refused)) == (3, 7)
    assert StoreCreditAccount.objects.get(customer=customer).balance == Decimal("10.00")
    assert sorted(e.balance_after for e in spent) == [Decimal("10.00"), Decimal("40.00"), Decimal("70.00")]
