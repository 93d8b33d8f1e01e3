"""A customer with no email address gets the "money back" message in the inbox only: no delivery, nothing sent,
nothing queued again by the sweep that finds refunds whose follow-up was lost; a customer with an address gets
the email too (through a real SMTP server)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from notices.models import CustomerMessage, DeliveryStatus, MessageDelivery
from payments import jobs
from refunds import flow, services
from refunds.models import Refund
from refunds.services import ItemRequest
from tests.factories import ProductFactory, UserFactory, make_order
from tests.smtp_sink import SmtpSink, smtp_sink_running

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[SmtpSink]:
    with smtp_sink_running(settings) as sink:
        yield sink


def _refunded(customer: Any) -> Refund:
    """A refund whose money came back more than the sweep's grace period ago, its follow-up job lost."""
    product = ProductFactory(price=Decimal("20.00"), stock=Decimal("10"))
    order = make_order(customer, lines=[(product, "1")], status="paid")
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("1"))],
    )
    refund = flow.refund_mark_refunded(refund=refund, channel_refund_id="X")
    Refund.objects.filter(pk=refund.pk).update(refunded_at=timezone.now() - timedelta(minutes=10))
    return refund


def _told() -> list[tuple[int, str, str]]:
    return sorted(CustomerMessage.objects.values_list("refund_id", "event", "key"))


def _deliveries() -> list[tuple[int, str, str, int]]:
    return sorted(MessageDelivery.objects.values_list("message__refund_id", "recipient", "status", "attempts"))


@pytest.fixture
def refunds() -> tuple[list[Refund], Refund]:
    unreachable = [_refunded(UserFactory()) for _ in range(3)]
    reachable = _refunded(UserFactory(email="fruit-lover@example.com"))
    return unreachable, reachable


@pytest.mark.services  # the sweep hands its jobs to RQ on Redis
def test_one_sweep_hands_out_each_lost_follow_up_and_the_next_queues_nothing(
    refunds: tuple[list[Refund], Refund], smtp_sink: SmtpSink, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("notifications")
    queue.empty()
    unreachable, reachable = refunds
    everyone = [*unreachable, reachable]
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs.sweep_after_refund()
        queued = queue.get_jobs()
        # No voucher and no message: each follow-up was lost, so each is handed out again whole.
        assert [(job.func_name, job.args) for job in queued] == [
            ("payments.jobs.refund_follow_up", (refund.pk,)) for refund in everyone
        ]
        queue.empty()

        # What the worker runs: every customer is told in the inbox; only the one with an address gets a delivery,
        # whose try is a job of its own.
        with django_capture_on_commit_callbacks(execute=True):
            notified = [job.perform()["notified"] for job in queued]
        assert notified == [f"message {CustomerMessage.objects.get(refund=refund).pk}" for refund in everyone]
        delivery = MessageDelivery.objects.get()
        assert [(job.func_name, job.args, job.retries_left) for job in queue.get_jobs()] == [
            ("notices.jobs.delivery_send", (delivery.pk,), 2)
        ]
        assert [job.perform() for job in queue.get_jobs()] == ["sent"]
        queue.empty()
        assert [(d.recipients, d.message["Subject"].strip()) for d in smtp_sink.deliveries] == [
            (["fruit-lover@example.com"], f"您的退款 {reachable.refund_no} 已完成")
        ]

        with django_capture_on_commit_callbacks(execute=True):
            assert jobs.sweep_after_refund() == []
        assert queue.count == 0
    finally:
        queue.empty()
    assert _told() == sorted((refund.pk, "refunded", "refunded") for refund in everyone)
    assert _deliveries() == [(reachable.pk, "fruit-lover@example.com", DeliveryStatus.SENT, 1)]
    assert len(smtp_sink.deliveries) == 1


def test_in_process_the_second_sweep_runs_no_job(
    refunds: tuple[list[Refund], Refund],
    smtp_sink: SmtpSink,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.JOBS_IN_PROCESS = True
    unreachable, reachable = refunds

    def jobs_run() -> list[str]:
        # Every job run in process writes its one line (mall.logging.job_log_scope).
        return [
            record.getMessage().split()[1]
            for record in caplog.records
            if record.name == "mall.jobs.run" and record.getMessage().startswith("job ")
        ]

    with caplog.at_level(logging.INFO, logger="mall.jobs.run"), django_capture_on_commit_callbacks(execute=True):
        first = jobs.sweep_after_refund()
    assert jobs_run() == ["payments.jobs.refund_follow_up"] * 4 + ["notices.jobs.delivery_send"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mall.jobs.run"), django_capture_on_commit_callbacks(execute=True):
        second = jobs.sweep_after_refund()
    assert jobs_run() == []

    assert first == sorted([refund.pk for refund in unreachable] + [reachable.pk])
    assert second == []
    assert [d.recipients for d in smtp_sink.deliveries] == [["fruit-lover@example.com"]]
    assert _deliveries() == [(reachable.pk, "fruit-lover@example.com", DeliveryStatus.SENT, 1)]


def test_a_customer_without_an_address_is_told_in_the_inbox_once_and_sent_nothing(
    refunds: tuple[list[Refund], Refund], smtp_sink: SmtpSink, django_capture_on_commit_callbacks: Any
) -> None:
    refund = refunds[0][0]
    with django_capture_on_commit_callbacks(execute=True):
        first = jobs.refund_follow_up(refund.pk)
        second = jobs.refund_follow_up(refund.pk)
    message = CustomerMessage.objects.get(refund=refund)
    assert first["notified"] == second["notified"] == f"message {message.pk}"
    assert (message.event, message.params) == (
        "refunded",
        {
            "refund_no": refund.refund_no,
            "order_no": refund.order.order_no,
            "amount": "20.00",
            "channel": "alipay",
            "destination": "original",
            "voucher": f"/api/v1/refunds/{refund.refund_no}/voucher/",
        },
    )
    assert (message.title, message.body) == (
        f"您的退款 {refund.refund_no} 已完成",
        f"订单 {refund.order.order_no} 的 ¥20.00 已原路退回您的支付宝账户。"
        f"退款凭证：http://127.0.0.1:8000/api/v1/refunds/{refund.refund_no}/voucher/",
    )
    assert MessageDelivery.objects.count() == 0
    assert smtp_sink.deliveries == []
