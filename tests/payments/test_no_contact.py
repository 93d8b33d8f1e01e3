"""A customer with no email address or phone gets the refund message in the inbox only: recorded once as
`no_contact`, never queued again by the sweep that finds refunds missing their message; a customer with an
address still gets the email (through a real SMTP server)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from payments import jobs
from payments.models import CustomerNotification, NotificationStatus
from refunds import flow, services
from refunds.models import Refund
from refunds.services import ItemRequest
from tests.factories import ProductFactory, UserFactory, make_order
from tests.payments.smtp_sink import SmtpSink, smtp_sink_running

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


def _notes() -> list[tuple[int, str, str, str, int]]:
    return sorted(CustomerNotification.objects.values_list("refund_id", "medium", "recipient", "status", "attempts"))


def _no_contact(refund: Refund) -> list[tuple[int, str, str, str, int]]:
    return [
        (refund.pk, "email", "", NotificationStatus.NO_CONTACT, 0),
        (refund.pk, "sms", "", NotificationStatus.NO_CONTACT, 0),
    ]


@pytest.fixture
def refunds() -> tuple[list[Refund], Refund]:
    unreachable = [_refunded(UserFactory()) for _ in range(3)]
    reachable = _refunded(UserFactory(email="fruit-lover@example.com"))
    return unreachable, reachable


@pytest.mark.services  # the sweep hands its jobs to RQ on Redis
def test_one_sweep_records_no_contact_and_the_next_queues_nothing_for_them(
    refunds: tuple[list[Refund], Refund], smtp_sink: SmtpSink, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("notifications")
    queue.empty()
    unreachable, reachable = refunds
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs.sweep_after_refund()
        queued = queue.get_jobs()
        # No voucher: each follow-up was lost, so each is handed out again whole (message, voucher, restock).
        assert [(job.func_name, job.args) for job in queued] == [
            ("payments.jobs.refund_follow_up", (refund.pk,)) for refund in [*unreachable, reachable]
        ]
        assert _notes() == sorted(note for refund in unreachable for note in _no_contact(refund))

        # What the worker runs: a message recorded as no contact stays so (the records are checked below).
        no_contact = "email: no_contact, sms: no_contact"
        assert [job.perform()["notified"] for job in queued] == [no_contact] * 3 + ["email: sent"]
        queue.empty()
        assert [(d.recipients, d.message["Subject"].strip()) for d in smtp_sink.deliveries] == [
            (["fruit-lover@example.com"], f"您的退款 {reachable.refund_no} 已完成")
        ]

        with django_capture_on_commit_callbacks(execute=True):
            jobs.sweep_after_refund()
        assert queue.count == 0
    finally:
        queue.empty()
    assert _notes() == sorted(
        [note for refund in unreachable for note in _no_contact(refund)]
        + [(reachable.pk, "email", "fruit-lover@example.com", NotificationStatus.SENT, 1)]
    )
    assert len(smtp_sink.deliveries) == 1


def test_in_process_the_second_sweep_runs_no_notification_job(
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
    assert jobs_run() == ["payments.jobs.refund_follow_up"] * 4
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mall.jobs.run"), django_capture_on_commit_callbacks(execute=True):
        second = jobs.sweep_after_refund()
    assert jobs_run() == []

    everyone = sorted([refund.pk for refund in unreachable] + [reachable.pk])
    assert sorted(set(first)) == everyone  # all four needed a voucher; three were marked, one was notified
    assert second == []  # the vouchers were issued in process by the first sweep's jobs
    assert [d.recipients for d in smtp_sink.deliveries] == [["fruit-lover@example.com"]]
    assert _notes() == sorted(
        [note for refund in unreachable for note in _no_contact(refund)]
        + [(reachable.pk, "email", "fruit-lover@example.com", NotificationStatus.SENT, 1)]
    )


def test_the_notification_job_records_no_contact_once_and_sends_nothing(
    refunds: tuple[list[Refund], Refund], smtp_sink: SmtpSink
) -> None:
    refund = refunds[0][0]
    assert jobs.refund_notify_customer(refund.pk) == {"email": "no_contact", "sms": "no_contact"}
    assert jobs.refund_notify_customer(refund.pk) == {"email": "no_contact", "sms": "no_contact"}
    assert _notes() == _no_contact(refund)
    note = CustomerNotification.objects.get(refund=refund, medium="email")
    assert (note.subject, note.body) == (
        f"您的退款 {refund.refund_no} 已完成",
        f"订单 {refund.order.order_no} 的 ¥20.00 已原路退回您的支付宝账户。退款单号：{refund.refund_no}。",
    )
    assert smtp_sink.deliveries == []
