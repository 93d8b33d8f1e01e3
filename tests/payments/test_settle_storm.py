"""A storm of channel notifications and executions of the same refunds at once never deadlocks.

Every refund's first call to the channel timed out after the channel had moved the money, so the refund is
`refunding` and both of the ways we learn the outcome arrive together: RQ retries the execution job (which asks
the channel and settles) while the channel posts its signed notification, twice, through the real HTTP stack.
Two refunds share each order, so settlements also meet on the order row. Every settlement takes the order
row, then the refund, then what hangs off them; a transaction that still loses a deadlock is rerun by
``mall.transactions``. Expected: no deadlock at all (neither seen by the retry nor reported by InnoDB), no
answer of 500, no failed job, and each refund refunded exactly once at the channel.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import OperationalError, connection, connections
from django.test import Client

from mall.models import Order, OrderStatus
from payments import jobs
from payments.channels.base import ChannelTemporaryError
from payments.models import ChannelAttempt
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundEvent, RefundReason, RefundState
from refunds.services import ItemRequest, refund_create_by_system
from tests.factories import ProductFactory, make_order

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ORDERS = 30  # two refunds each: 60 refunds
THREADS = 12
NOTIFICATIONS_PER_REFUND = 2
OK = {"alipay": (200, b"success"), "wechat": (200, b'{"code": "SUCCESS", "message": ""}')}
DEADLOCK, LOCK_WAIT_TIMEOUT = 1213, 1205


class _Conflicts(logging.Handler):
    """Lock conflicts the transaction retry logged, from every thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.codes: Counter[int] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        code = getattr(record, "db_error_code", None)
        if code is not None:
            self.codes[int(code)] += 1


@pytest.fixture
def conflicts() -> Iterator[_Conflicts]:
    handler = _Conflicts()
    logger = logging.getLogger("mall.transactions")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _latest_deadlock() -> str:
    """InnoDB's LATEST DETECTED DEADLOCK section (empty when the server has seen none since it started)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW ENGINE INNODB STATUS")
        status = str(cursor.fetchone()[2])
    if "LATEST DETECTED DEADLOCK" not in status:
        return ""
    section = status.split("LATEST DETECTED DEADLOCK", 1)[1]
    return section.split("\nTRANSACTIONS\n", 1)[0]


def _refunds_booked_while_we_timed_out(customer: Any, simulator: Any, settings: Any) -> list[Refund]:
    """ORDERS paid orders with two `refunding` refunds each, whose first call the channel booked but answered
    too late (as a dropped connection would)."""
    refunds = []
    for index in range(ORDERS):
        channel = ("alipay", "wechat")[index % 2]
        lines = [(ProductFactory(price=Decimal("20.00")), "2"), (ProductFactory(price=Decimal("15.50")), "1")]
        order = make_order(customer, lines=lines, shipping_fee="6.00", status="paid", channel=channel)
        simulator_client.register_trade(
            channel=channel,
            out_trade_no=order.payment.out_trade_no,
            trade_no=order.payment.trade_no,
            amount=order.payment.amount,
            base_url=simulator.url,
        )
        for item in order.items.order_by("pk"):
            refunds.append(
                refund_create_by_system(
                    order=order,
                    reason=RefundReason.OUT_OF_STOCK,
                    items=[ItemRequest(order_item_id=item.pk, quantity=item.quantity)],
                )
            )
    assert {refund.state for refund in refunds} == {RefundState.REFUNDING}
    settings.CHANNEL_TIMEOUT_SECONDS = 0.3
    for channel in ("alipay", "wechat"):
        count = sum(1 for refund in refunds if refund.channel == channel)
        simulator_client.add_fault(channel=channel, kind="timeout", count=count, delay=0.6, base_url=simulator.url)
    timed_out = _run_in_threads([refund.pk for refund in refunds], _first_call)
    assert Counter(timed_out) == Counter({"timed out": len(refunds)})
    settings.CHANNEL_TIMEOUT_SECONDS = 2.0  # the storm's own calls are answered at once
    return list(Refund.objects.select_related("order__payment").filter(pk__in=[r.pk for r in refunds]).order_by("pk"))


def _first_call(refund_id: int) -> str:
    try:
        return jobs.refund_execute(refund_id)
    except ChannelTemporaryError:
        return "timed out"


def _run_in_threads(tasks: list[Any], work: Any) -> list[Any]:
    """``work(task)`` for every task, THREADS threads at once (released together); the results in any order."""
    pending: queue.Queue[Any] = queue.Queue()
    for task in tasks:
        pending.put(task)
    results: list[Any] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker() -> None:
        try:
            start.wait(timeout=30)
            while True:
                try:
                    task = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    outcome = work(task)
                except Exception as error:  # noqa: BLE001 - counted and asserted on by the caller
                    outcome = _describe(error)
                with lock:
                    results.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a storm thread did not finish"
    return results


def _describe(error: Exception) -> str:
    if isinstance(error, OperationalError) and error.args and error.args[0] in (DEADLOCK, LOCK_WAIT_TIMEOUT):
        return f"database error {error.args[0]}"
    return f"raised {type(error).__name__}: {error}"


def test_notifications_and_executions_of_the_same_refunds_at_once(
    customer: Any, channel_simulator: Any, settings: Any, conflicts: _Conflicts
) -> None:
    refunds = _refunds_booked_while_we_timed_out(customer, channel_simulator, settings)
    notifications = {
        refund.pk: simulator_client.build_notification(
            channel=refund.channel,
            out_refund_no=refund.out_refund_no,
            out_trade_no=refund.order.payment.out_trade_no,
            base_url=channel_simulator.url,
        )
        for refund in refunds
    }
    by_id = {refund.pk: refund for refund in refunds}
    # The execution and the notifications of a refund sit next to each other in the queue, so that different
    # threads take them up at the same moment; the order's other refund follows right behind.
    tasks: list[tuple[str, int]] = []
    for refund in refunds:
        tasks.append(("execute", refund.pk))
        tasks.extend([("notify", refund.pk)] * NOTIFICATIONS_PER_REFUND)
    clients = threading.local()

    def work(task: tuple[str, int]) -> tuple[str, Any]:
        kind, refund_id = task
        if kind == "execute":
            return ("execute", jobs.refund_execute(refund_id))
        if not hasattr(clients, "client"):
            clients.client = Client(raise_request_exception=False)
        refund = by_id[refund_id]
        headers, body = notifications[refund_id]
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
        content_type = headers.get("Content-Type") or headers.get("content-type") or "application/json"
        response = clients.client.post(f"/payments/notify/{refund.channel}/", body, content_type=content_type, **extra)
        answer = (response.status_code, response.content)
        return ("notify", "ok" if answer == OK[refund.channel] else answer)

    deadlock_before = _latest_deadlock()
    results = _run_in_threads(tasks, work)
    deadlock_after = _latest_deadlock()

    test_database = connection.settings_dict["NAME"]
    innodb_deadlock = deadlock_after != deadlock_before and f"`{test_database}`" in deadlock_after
    done = [result for result in results if isinstance(result, tuple)]
    answers = Counter(outcome for kind, outcome in done if kind == "notify")
    executions = Counter(outcome for kind, outcome in done if kind == "execute")
    failures = Counter(result for result in results if isinstance(result, str))  # a task that raised
    server_errors = sum(count for answer, count in answers.items() if isinstance(answer, tuple) and answer[0] >= 500)
    ledger = simulator_client.ledger(base_url=channel_simulator.url)
    ours = {refund.out_refund_no: refund for refund in refunds}
    booked = Counter(r["out_refund_no"] for r in ledger["refunds"] if r["out_refund_no"] in ours)
    print(
        f"\nstorm: {len(refunds)} refunds on {ORDERS} orders, {len(tasks)} tasks on {THREADS} threads"
        f"\n  notifications: {dict(answers)} (answers of 500: {server_errors})"
        f"\n  executions: {dict(executions)}; tasks that raised: {dict(failures)}"
        f"\n  lock conflicts retried: deadlocks {conflicts.codes[DEADLOCK]}, lock wait timeouts "
        f"{conflicts.codes[LOCK_WAIT_TIMEOUT]}; deadlock reported by InnoDB in {test_database}: {innodb_deadlock}"
        f"\n  refunds booked at the channel: {sum(booked.values())} for {len(booked)} refunds"
    )

    assert failures == Counter()
    assert server_errors == 0
    assert answers == Counter({"ok": len(refunds) * NOTIFICATIONS_PER_REFUND})
    assert set(executions) <= {"refunded", "skipped: refunded"}
    assert sum(executions.values()) == len(refunds)
    assert conflicts.codes == Counter()
    assert not innodb_deadlock, deadlock_after
    # Exactly once at the channel: one booked refund per request number, of the refund's amount, all succeeded.
    assert booked == Counter(dict.fromkeys(ours, 1))
    for line in ledger["refunds"]:
        if line["out_refund_no"] in ours:
            assert (Decimal(line["amount"]), line["status"]) == (ours[line["out_refund_no"]].amount, "SUCCESS")
    # And exactly once with us: refunded, one event into `refunded` each, every notification recorded.
    assert Counter(Refund.objects.filter(pk__in=by_id).values_list("state", flat=True)) == Counter(
        {RefundState.REFUNDED: len(refunds)}
    )
    assert RefundEvent.objects.filter(refund__in=by_id, to_state=RefundState.REFUNDED).count() == len(refunds)
    assert ChannelAttempt.objects.filter(refund__in=by_id, operation="notification").count() == len(refunds) * (
        NOTIFICATIONS_PER_REFUND
    )
    statuses = Order.objects.filter(pk__in={refund.order_id for refund in refunds}).values_list("status", flat=True)
    assert Counter(statuses) == Counter({OrderStatus.REFUNDED: ORDERS})
