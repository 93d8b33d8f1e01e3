"""Every write in a refund's life takes its row locks in one order: the order row first, then the refund, then
the rows that hang off them (and a person's user row after the order). Read from the statements each service
sends to MariaDB: an explicit ``SELECT ... FOR UPDATE``, and the implicit locks of an UPDATE or of an INSERT
whose foreign key check locks the parent row."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from refunds import services
from refunds.compensation import compensation_create
from refunds.disputes import dispute_open_by_agent, dispute_open_by_customer
from tests.admin.conftest import delivered_order, pending_refund
from tests.factories import UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db]  # SQLite locks the whole file, not rows


def _locks(queries: CaptureQueriesContext) -> list[str]:
    """What each statement locks, in order: ``lock <table>`` for SELECT ... FOR UPDATE, ``write <table>`` for
    INSERT and UPDATE; plain reads lock nothing and are left out."""
    taken = []
    for query in queries.captured_queries:
        sql = query["sql"]
        while re.search(r"\([^()]*\)", sql):
            sql = re.sub(r"\([^()]*\)", "", sql)
        words = sql.replace("`", "").split()
        verb = words[0].upper()
        if verb == "SELECT" and "FOR UPDATE" in sql:
            taken.append(f"lock {words[words.index('FROM') + 1]}")
        elif verb in ("INSERT", "UPDATE"):
            taken.append(f"write {words[2] if verb == 'INSERT' else words[1]}")
    return taken


def test_a_customer_opening_a_dispute_locks_the_order_before_the_refund(customer: Any, agent: Any) -> None:
    refund = services.refund_reject(refund=pending_refund(customer), actor=agent, note="no damage seen")

    with CaptureQueriesContext(connection) as queries:
        dispute_open_by_customer(customer=customer, refund=refund, reason="the apples were rotten")

    # The dispute's foreign key to the order locks the order row too: taken first, it is already held.
    assert _locks(queries) == [
        "lock mall_order",
        "lock refunds_refund",
        "write refunds_dispute",
        "write refunds_refundevent",
    ]


def test_another_customers_refund_cannot_be_disputed(customer: Any, agent: Any) -> None:
    refund = services.refund_reject(refund=pending_refund(customer), actor=agent, note="no damage seen")
    with pytest.raises(type(refund).DoesNotExist):
        dispute_open_by_customer(customer=UserFactory(), refund=refund, reason="not mine")
    assert not refund.disputes.exists()


def test_an_agent_opening_a_dispute_on_a_refund_locks_the_order_first(customer: Any, agent: Any) -> None:
    refund = services.refund_reject(refund=pending_refund(customer), actor=agent, note="no damage seen")

    with CaptureQueriesContext(connection) as queries:
        dispute_open_by_agent(actor=agent, order=refund.order, refund=refund, reason="complaint by phone")

    assert _locks(queries) == [
        "lock mall_order",
        "lock refunds_refund",
        "write refunds_dispute",
        "write refunds_refundevent",
    ]


def test_a_compensation_locks_the_order_before_the_agents_row(agent: Any, settings: Any) -> None:
    settings.REFUND_COMPENSATION_CAP = Decimal("200")
    order = delivered_order(UserFactory(), price="88.00", quantity="1.500")

    with CaptureQueriesContext(connection) as queries:
        refund = compensation_create(
            order=order, actor=agent, order_item_id=order.items.get().pk, percent=Decimal("30"), reason="bruised"
        )

    assert refund.amount == Decimal("39.60")
    # The agent's row (the daily cap) after the order, as every event an agent writes on a locked order takes
    # them: an approval by the same agent on the same order can no longer wait on it the other way round.
    assert _locks(queries)[:3] == ["lock mall_order", "lock auth_user", "lock mall_orderitem"]


def _paid_order(customer: Any, sku: str) -> Any:
    from tests.factories import ProductFactory, make_order

    return make_order(customer, lines=[(ProductFactory(sku=sku, price=Decimal("39.90")), "2")], status="paid")


def _apply_for_one_unit(customer: Any, order_no: str, item_id: int) -> Any:
    return services.refund_apply(
        customer=customer,
        order_no=order_no,
        reason="not_shipped",
        kind="refund_only",
        items=[services.ItemRequest(order_item_id=item_id, quantity=Decimal("1"))],
    )


def test_an_application_locks_the_order_then_its_lines_in_one_statement(customer: Any) -> None:
    # One SELECT ... FOR UPDATE finds the order by its unique number and joins its lines. InnoDB locks rows as the
    # plan reads them: the plan must read the order's row first (a constant: one row by a unique key), then its
    # payment and shipment, then the lines, the order every other writer takes them in.
    order = _paid_order(customer, "APL-LOCK")
    with CaptureQueriesContext(connection) as queries:
        _apply_for_one_unit(customer, order.order_no, order.items.get().pk)
    locking = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locking) == 1
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + locking[0])
        plan = [(row[2], row[3]) for row in cursor.fetchall()]
    assert plan == [
        ("mall_order", "const"),
        ("mall_payment", "const"),
        ("mall_shipment", "const"),
        ("mall_orderitem", "ref"),
    ]
    assert _locks(queries)[:2] == ["lock mall_orderitem", "write refunds_refund"]


def test_an_application_on_another_customers_order_is_refused_and_changes_nothing(
    customer: Any, other_customer: Any
) -> None:
    from refunds.exceptions import OrderNotFound

    theirs = _paid_order(other_customer, "APL-THEIRS")
    item = theirs.items.get()
    with pytest.raises(OrderNotFound):
        _apply_for_one_unit(customer, theirs.order_no, item.pk)
    item.refresh_from_db()
    assert (item.refund_claimed_quantity, item.refund_claimed_amount) == (Decimal("0.000"), Decimal("0.00"))
    assert not theirs.refunds.exists()


def test_an_order_without_lines_is_still_found_and_its_application_refused(customer: Any) -> None:
    # The shop never pays an order without lines; were one there, the application names the item, not the order.
    from mall.models import OrderItem
    from refunds.exceptions import InvalidRefundRequest

    order = _paid_order(customer, "APL-GONE")
    item_id = order.items.get().pk
    OrderItem.objects.filter(order=order).delete()
    with pytest.raises(InvalidRefundRequest) as refused:
        _apply_for_one_unit(customer, order.order_no, item_id)
    assert refused.value.field == "items[0].order_item_id"
    assert not order.refunds.exists()
