"""What one refund execution costs the database, and what happens when applying the channel's answer fails: the
refund and its last channel outcome are read in one query, and the answer is recorded in the same transaction
as the change it makes."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext

from mall.models import Order
from payments import services
from payments.models import AttemptOutcome, ChannelAttempt
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundEvent, RefundState
from tests.payments.test_refund_end_to_end import _apply_one_unit, _paid_order_at_simulator

pytestmark = pytest.mark.django_db


def _shape(sql: str) -> str:
    """The statement's verb and its table (subqueries left out), e.g. ``UPDATE refunds_refund``."""
    while re.search(r"\([^()]*\)", sql):
        sql = re.sub(r"\([^()]*\)", "", sql)
    words = sql.replace("`", "").replace('"', "").split()
    verb = words[0].upper()
    if verb in ("SAVEPOINT", "RELEASE"):
        return verb
    if verb == "SELECT":
        table = words[words.index("FROM") + 1]
        return f"SELECT {table}" + (" FOR UPDATE" if "FOR UPDATE" in sql else "")
    return f"{verb} {words[2] if verb in ('INSERT', 'DELETE') else words[1]}"


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_an_execution_reads_once_and_writes_the_answer_with_its_change(
    api: Any, customer: Any, channel: str, channel_simulator: Any
) -> None:
    order = _paid_order_at_simulator(customer, channel, channel_simulator)
    refund = _apply_one_unit(api, order)

    with CaptureQueriesContext(connection) as queries:
        assert services.refund_execute(refund_id=refund.pk) == "refunded"

    locked = " FOR UPDATE" if connection.features.has_select_for_update else ""  # SQLite locks the whole file
    assert [_shape(query["sql"]) for query in queries.captured_queries] == [
        "SELECT refunds_refund",  # with its payment and the outcome of its last channel call
        "SAVEPOINT",  # the test's transaction stands in for the commit: one block, from the order to the record
        f"SELECT mall_order{locked}",  # the order, then the refund, then what hangs off them
        f"SELECT refunds_refund{locked}",
        "UPDATE refunds_refund",
        "INSERT refunds_refundevent",
        "SELECT refunds_refund",  # the order's refunded total
        "UPDATE mall_order",
        "INSERT mall_orderevent",
        "INSERT payments_channelattempt",
        "RELEASE",
    ]


@pytest.mark.services  # MariaDB row locks: another session holds the order while the answer is applied
@pytest.mark.django_db(transaction=True)
def test_a_failed_change_keeps_no_record_and_the_retry_settles_once(
    api: Any, customer: Any, channel_simulator: Any
) -> None:
    order = _paid_order_at_simulator(customer, "wechat", channel_simulator)
    refund = _apply_one_unit(api, order)
    events_before = RefundEvent.objects.filter(refund=refund).count()

    holder = connections.create_connection("default")  # a second session, e.g. an agent's request in flight
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.innodb_lock_wait_timeout")
        [(patience,)] = cursor.fetchall()
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    try:
        holder.set_autocommit(False)
        with holder.cursor() as other:
            other.execute(f"SELECT id FROM {Order._meta.db_table} WHERE id = %s FOR UPDATE", [order.pk])
        # The channel refunds; applying its answer waits for the order's lock and gives up after 1 s.
        with pytest.raises(OperationalError):
            services.refund_execute(refund_id=refund.pk)
    finally:
        holder.rollback()
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [patience])

    # The money moved at the channel, but nothing here says so yet: no record, no change.
    assert ChannelAttempt.objects.filter(refund=refund).count() == 0
    assert Refund.objects.get(pk=refund.pk).state == RefundState.REFUNDING
    assert RefundEvent.objects.filter(refund=refund).count() == events_before

    # The job's retry sends the same request number; the channel answers with the refund it already made.
    assert services.refund_execute(refund_id=refund.pk) == "refunded"
    attempt = ChannelAttempt.objects.get(refund=refund)
    assert (attempt.operation, attempt.outcome) == ("refund", AttemptOutcome.SUCCESS)
    ledger = simulator_client.ledger(base_url=channel_simulator.url)
    moved = [r for r in ledger["refunds"] if r["out_refund_no"] == refund.out_refund_no]
    assert len(moved) == 1 and Decimal(moved[0]["amount"]) == refund.amount


def test_a_processing_answer_is_queried_on_the_next_run(api: Any, customer: Any, channel_simulator: Any) -> None:
    order = _paid_order_at_simulator(customer, "alipay", channel_simulator)
    refund = _apply_one_unit(api, order)
    ChannelAttempt.objects.create(refund=refund, operation="refund", outcome=AttemptOutcome.PROCESSING)
    ChannelAttempt.objects.create(refund=refund, operation="notification", outcome=AttemptOutcome.SUCCESS)

    # The last call to the channel (notifications do not count) left the outcome unknown: ask first.
    assert services.refund_execute(refund_id=refund.pk) == "refunded"
    operations = list(ChannelAttempt.objects.filter(refund=refund).order_by("id").values_list("operation", "outcome"))
    assert operations == [
        ("refund", AttemptOutcome.PROCESSING),
        ("notification", AttemptOutcome.SUCCESS),
        ("query", AttemptOutcome.NOT_FOUND),
        ("refund", AttemptOutcome.SUCCESS),
    ]
