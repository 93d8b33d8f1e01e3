"""No refund is lost and none is paid twice: a fault storm at the channels, Redis down at commit time, and a
worker that died after the channel moved the money but before we recorded it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from payments import jobs, services
from payments.channels.base import ChannelTemporaryError, RefundRequest
from payments.channels.registry import get_channel
from payments.simulator import client as simulator_client
from refunds import services as refund_services
from refunds.models import Refund, RefundState
from refunds.services import ItemRequest
from tests.factories import ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db


def _refunding(channel: str, simulator: Any, count: int) -> list[Refund]:
    product = ProductFactory(price=Decimal("12.34"))
    refunds = []
    for _ in range(count):
        customer = UserFactory()
        order = make_order(customer, lines=[(product, "2")], status="paid", channel=channel)
        payment = order.payment
        simulator_client.register_trade(
            channel=channel,
            out_trade_no=payment.out_trade_no,
            trade_no=payment.trade_no,
            amount=payment.amount,
            base_url=simulator.url,
        )
        refund, _ = refund_services.refund_apply(
            customer=customer,
            order_no=order.order_no,
            reason="not_shipped",
            kind="refund_only",
            items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("2"))],
        )
        assert refund.state == RefundState.REFUNDING
        refunds.append(refund)
    return refunds


def _moved(simulator: Any) -> dict[str, list[Decimal]]:
    moved: dict[str, list[Decimal]] = {}
    for entry in simulator_client.ledger(base_url=simulator.url)["refunds"]:
        if entry.get("status", "SUCCESS").upper() in ("SUCCESS", "REFUND_SUCCESS"):
            moved.setdefault(entry["out_refund_no"], []).append(Decimal(entry["amount"]))
    return moved


@pytest.mark.slow
def test_fault_storm_every_refund_ends_refunded_or_failed_and_none_is_paid_twice(channel_simulator: Any) -> None:
    refunds = _refunding("alipay", channel_simulator, 100) + _refunding("wechat", channel_simulator, 100)
    for kind in ("http_500", "timeout", "processing"):
        simulator_client.add_fault(
            channel="*",
            kind=kind,
            count=None,
            probability=0.1,
            base_url=channel_simulator.url,
            settle_after=0.0,
            delay=0.6,  # just past the client's 0.5 s timeout
        )
    # What RQ does with retries and the sweep does afterwards, driven here round by round (bounded).
    for _ in range(12):
        pending = list(Refund.objects.filter(state=RefundState.REFUNDING).values_list("pk", flat=True))
        if not pending:
            break
        for refund_id in pending:
            with contextlib.suppress(ChannelTemporaryError):
                services.refund_execute(refund_id=refund_id)
    final = list(Refund.objects.filter(pk__in=[r.pk for r in refunds]).values_list("out_refund_no", "state", "amount"))
    assert {state for _, state, _ in final} <= {RefundState.REFUNDED, RefundState.FAILED}
    moved = _moved(channel_simulator)
    for out_refund_no, state, amount in final:
        if state == RefundState.REFUNDED:
            assert moved[out_refund_no] == [amount]
        else:
            assert moved.get(out_refund_no, []) == []
    assert all(len(amounts) == 1 for amounts in moved.values())
    refunded = sum(1 for _, state, _ in final if state == RefundState.REFUNDED)
    assert refunded >= 150  # 10% faults per kind, three tries each: nearly all go through


def test_refund_committed_while_redis_was_down_is_found_by_the_sweep(
    channel_simulator: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.JOBS_IN_PROCESS = False
    settings.RQ_QUEUES = {name: {"URL": "redis://127.0.0.1:1/0"} for name in settings.RQ_QUEUES}
    with django_capture_on_commit_callbacks(execute=True):
        (refund,) = _refunding("wechat", channel_simulator, 1)  # the enqueue fails: nothing listens on port 1
    assert Refund.objects.get(pk=refund.pk).state == RefundState.REFUNDING
    assert jobs.sweep_refunding(dry_run=True) == []  # not stale yet
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert jobs.sweep_refunding(dry_run=True) == [refund.pk]
    assert jobs.refund_execute(refund.pk) == "refunded"
    assert _moved(channel_simulator)[refund.out_refund_no] == [refund.amount]


@contextlib.contextmanager
def _silent_redis() -> Any:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: a Redis that hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for connection in accepted:
            connection.close()
        thread.join(timeout=5)


def test_the_job_queues_wait_for_redis_a_bounded_time() -> None:
    from mall.settings import RQ_URL, redis_with_timeouts

    assert RQ_URL.endswith("socket_connect_timeout=2&socket_timeout=5")
    assert (
        redis_with_timeouts("redis://:pw@cache.internal:6380/3?socket_timeout=9")
        == "redis://:pw@cache.internal:6380/3?socket_timeout=9&socket_connect_timeout=2"
    )


def test_a_hung_redis_holds_the_hand_over_only_until_its_timeout(
    channel_simulator: Any, settings: Any, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    from mall.settings import redis_with_timeouts

    settings.JOBS_IN_PROCESS = False
    with _silent_redis() as port:
        url = redis_with_timeouts(f"redis://127.0.0.1:{port}/0?socket_timeout=0.5")
        settings.RQ_QUEUES = {name: {"URL": url} for name in settings.RQ_QUEUES}
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            (refund,) = _refunding("alipay", channel_simulator, 1)
        waited = time.monotonic() - started
    assert waited < 5  # without a read timeout the request would wait for the hung server for ever
    assert Refund.objects.get(pk=refund.pk).state == RefundState.REFUNDING
    assert (
        f"could not enqueue payments.jobs.refund_execute({refund.pk},) on refunds: Redis unavailable (TimeoutError)"
        in (caplog.text)
    )
    assert _moved(channel_simulator).get(refund.out_refund_no, []) == []


def test_worker_died_after_the_channel_paid_is_settled_once(channel_simulator: Any) -> None:
    (refund,) = _refunding("alipay", channel_simulator, 1)
    payment = refund.order.payment
    # The dead worker's call: it reached the channel, then the process died before recording anything.
    get_channel("alipay").refund(
        RefundRequest(
            out_trade_no=payment.out_trade_no,
            trade_no=payment.trade_no,
            out_refund_no=refund.out_refund_no,
            amount=refund.amount,
            total_amount=payment.amount,
        )
    )
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert jobs.sweep_refunding(dry_run=True) == [refund.pk]
    assert jobs.refund_execute(refund.pk) == "refunded"
    assert _moved(channel_simulator)[refund.out_refund_no] == [refund.amount]
    assert Refund.objects.get(pk=refund.pk).state == RefundState.REFUNDED
