"""Emails to customers through Django's mail backend and a real SMTP server: written in the customer's language when
sent; at most NOTIFICATION_MAX_ATTEMPTS tries with backoff (RQ's Retry on a worker; the sweep where no worker
retries), then undeliverable, never tried again; a customer without an address gets the inbox only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from mall.services import customer_language_remember
from notices import jobs
from notices.models import CustomerMessage, DeliveryStatus, MessageDelivery
from notices.services import customer_notify, delivery_send
from refunds import services
from refunds.models import Refund
from refunds.services import ItemRequest
from tests.factories import ProductFactory, UserFactory, make_order
from tests.smtp_sink import SmtpSink, free_port, mail_to, smtp_sink_running

pytestmark = pytest.mark.django_db


def _refund(customer: Any) -> Refund:
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("12.50")), "2")], status="delivered")
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="quality_issue",
        kind="refund_only",
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("2"))],
    )
    return refund


def _approved(refund: Refund) -> CustomerMessage:
    return customer_notify(
        refund=refund, event="approved", params={"order_no": refund.order.order_no, "amount": refund.amount}
    )


def _delivery(message: CustomerMessage) -> tuple[str, int, str]:
    delivery = MessageDelivery.objects.get(message=message)
    return delivery.status, delivery.attempts, delivery.last_error


def _overdue(message: CustomerMessage) -> None:
    """Time passes: the next try is due (and past the sweep's grace)."""
    MessageDelivery.objects.filter(message=message).update(next_attempt_at=timezone.now() - timedelta(minutes=10))


@pytest.fixture
def in_process(settings: Any) -> None:
    settings.JOBS_IN_PROCESS = True


def test_written_in_the_language_the_customer_last_applied_in(
    smtp_sink: SmtpSink, in_process: None, django_capture_on_commit_callbacks: Any
) -> None:
    customer = UserFactory(email="tom@example.com")
    refund = _refund(customer)
    customer_language_remember(customer=customer, language="en")
    with django_capture_on_commit_callbacks(execute=True):
        english = _approved(refund)
    customer_language_remember(customer=customer, language="fr")  # not one of the shop's: ignored
    customer_language_remember(customer=customer, language="zh-hans")
    with django_capture_on_commit_callbacks(execute=True):
        chinese = customer_notify(refund=refund, event="goods_received", params={})

    no, order_no = refund.refund_no, refund.order.order_no
    assert [
        (d.sender, d.recipients, d.message["Subject"].strip(), d.message.get_content().strip())
        for d in smtp_sink.deliveries
    ] == [
        (
            "noreply@fruit-mall.example",
            ["tom@example.com"],
            f"Your refund {no} is approved",
            f"Your refund of ¥25.00 for order {order_no} is approved.",
        ),
        (
            "noreply@fruit-mall.example",
            ["tom@example.com"],
            f"我们已收到退款 {no} 的退货",
            "仓库已收到您寄回的商品，正在质检。",
        ),
    ]
    assert list(MessageDelivery.objects.order_by("id").values_list("message", "status", "attempts", "language")) == [
        (english.pk, DeliveryStatus.SENT, 1, "en"),
        (chinese.pk, DeliveryStatus.SENT, 1, "zh-hans"),
    ]


def test_the_shops_language_for_a_customer_who_never_said(
    smtp_sink: SmtpSink, in_process: None, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _refund(UserFactory(email="li@example.com"))
    with django_capture_on_commit_callbacks(execute=True):
        _approved(refund)
    assert [d.message["Subject"].strip() for d in smtp_sink.deliveries] == [f"您的退款 {refund.refund_no} 已通过审核"]


def test_told_once_per_key_whatever_calls_again(
    smtp_sink: SmtpSink, in_process: None, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _refund(UserFactory(email="li@example.com"))
    with django_capture_on_commit_callbacks(execute=True):
        first = _approved(refund)
        assert _approved(refund) == first
    delivery = MessageDelivery.objects.get()
    assert delivery_send(delivery_id=delivery.pk) == "sent"  # a job run again sends nothing more
    assert (CustomerMessage.objects.count(), len(smtp_sink.deliveries)) == (1, 1)
    with pytest.raises(ValueError, match="not a message event"):
        customer_notify(refund=refund, event="a_new_idea", params={})
    assert CustomerMessage.objects.count() == 1


def test_a_customer_without_an_address_gets_the_inbox_only(
    smtp_sink: SmtpSink, in_process: None, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _refund(UserFactory(email=""))
    with django_capture_on_commit_callbacks(execute=True):
        message = _approved(refund)
        assert jobs.sweep_deliveries() == []
    assert CustomerMessage.objects.get() == message
    assert (MessageDelivery.objects.count(), smtp_sink.deliveries) == (0, [])


@pytest.mark.services  # the tries are RQ jobs on Redis, run by the project's worker
def test_a_relay_that_refuses_gets_three_tries_with_backoff_then_the_email_is_undeliverable(
    settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import django_rq

    from payments import worker
    from payments.worker import JobWorker

    # The worker runs each job here, inside this test's transaction: it must not close the connection around them.
    monkeypatch.setattr(worker, "close_old_connections", lambda: None)
    monkeypatch.setattr(worker, "warm_up", lambda: None)
    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("notifications")
    queue.empty()
    refund = _refund(UserFactory(email="li@example.com"))
    try:
        with smtp_sink_running(settings, refuse=True) as relay:
            with django_capture_on_commit_callbacks(execute=True):
                message = _approved(refund)
            (job,) = queue.get_jobs()
            delivery = MessageDelivery.objects.get(message=message)
            assert (job.func_name, job.args, job.retries_left, job.retry_intervals) == (
                "notices.jobs.delivery_send",
                (delivery.pk,),
                2,
                [60, 120],  # the backoff: NOTIFICATION_RETRY_SECONDS, then twice as long
            )
            # The same job with no wait between tries, for the test: the worker tries, RQ retries, three in all.
            job.retry_intervals = [0, 0]
            job.save()
            assert JobWorker([queue], connection=queue.connection).work(burst=True) is True

            job.refresh()
            assert (job.get_status(), job.return_value(), job.retries_left) == ("finished", "undeliverable", 0)
            assert relay.refused == 3 and relay.deliveries == []
            status, attempts, error = _delivery(message)
            assert (status, attempts) == (DeliveryStatus.UNDELIVERABLE, 3)
            assert error.startswith("SMTPRecipientsRefused: {'li@example.com': (451, b'4.3.0 Mail relay busy")
            assert MessageDelivery.objects.get(pk=delivery.pk).next_attempt_at is None

            # Nothing tries it again: not the sweep, not the job run once more.
            with django_capture_on_commit_callbacks(execute=True):
                assert jobs.sweep_deliveries() == []
            assert queue.count == 0
            assert delivery_send(delivery_id=delivery.pk) == "undeliverable"
            assert relay.refused == 3
    finally:
        queue.empty()
    assert CustomerMessage.objects.get() == message  # still in the inbox


def test_in_process_the_sweep_gives_the_later_tries_then_gives_up(
    settings: Any, in_process: None, django_capture_on_commit_callbacks: Any
) -> None:
    """Without a worker nothing retries a job: the sweep hands out each try once it is due, up to the limit."""
    refund = _refund(UserFactory(email="li@example.com"))
    mail_to(settings, "127.0.0.1", free_port())  # nothing listens there: the relay is down
    with django_capture_on_commit_callbacks(execute=True):
        message = _approved(refund)
    status, attempts, error = _delivery(message)
    assert (status, attempts, error.split(":")[0]) == (DeliveryStatus.PENDING, 1, "ConnectionRefusedError")
    due = MessageDelivery.objects.get(message=message).next_attempt_at
    assert due is not None and timedelta(seconds=55) < due - timezone.now() <= timedelta(seconds=60)

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep_deliveries() == []  # not due yet
    assert _delivery(message)[:2] == (DeliveryStatus.PENDING, 1)

    delivery_id = MessageDelivery.objects.get(message=message).pk
    for tries in (2, 3):
        _overdue(message)
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs.sweep_deliveries() == [delivery_id]
        assert _delivery(message)[1] == tries
    assert _delivery(message)[0] == DeliveryStatus.UNDELIVERABLE

    with smtp_sink_running(settings) as relay:  # the relay is back: too late, nothing retries forever
        _overdue(message)
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs.sweep_deliveries() == []
        assert relay.deliveries == []
    assert _delivery(message)[:2] == (DeliveryStatus.UNDELIVERABLE, 3)


def test_a_try_in_progress_elsewhere_is_left_alone(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.JOBS_IN_PROCESS = False  # the first try's job is not run here
    message = _approved(_refund(UserFactory(email="li@example.com")))
    delivery = MessageDelivery.objects.get(message=message)
    MessageDelivery.objects.filter(pk=delivery.pk).update(leased_until=timezone.now() + timedelta(minutes=1))
    assert delivery_send(delivery_id=delivery.pk) == "pending"
    assert (_delivery(message)[:2], smtp_sink.deliveries) == ((DeliveryStatus.PENDING, 0), [])


def test_tries_spent_by_workers_that_died_mid_send_are_given_up(settings: Any) -> None:
    settings.JOBS_IN_PROCESS = False
    message = _approved(_refund(UserFactory(email="li@example.com")))
    MessageDelivery.objects.filter(message=message).update(
        attempts=3,
        leased_until=timezone.now() - timedelta(minutes=1),
        next_attempt_at=timezone.now() - timedelta(hours=1),
    )
    assert jobs.sweep_deliveries() == []
    assert _delivery(message)[:2] == (DeliveryStatus.UNDELIVERABLE, 3)


def test_the_language_of_each_application_is_remembered(customer: Any) -> None:
    from mall.models import CustomerProfile
    from mall.selectors import customer_language
    from tests.conftest import client_for

    def apply(**headers: str) -> int:
        order = make_order(customer, lines=[(ProductFactory(price=Decimal("5.00")), "1")], status="delivered")
        body = {
            "order_no": order.order_no,
            "reason": "quality_issue",
            "kind": "refund_only",
            "items": [{"order_item_id": order.items.get().pk, "quantity": "1"}],
        }
        return int(client_for(customer).post("/api/v1/refunds/", body, format="json", **headers).status_code)

    assert customer_language(customer_id=customer.pk) == "zh-hans"  # nobody said: the shop's
    assert apply(HTTP_ACCEPT_LANGUAGE="en") == 201
    assert customer_language(customer_id=customer.pk) == "en"
    assert apply() == 201  # no header: what they said last stands
    bad = client_for(customer).post("/api/v1/refunds/", {}, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert bad.status_code == 400  # a refused application changes nothing
    assert customer_language(customer_id=customer.pk) == "en"
    assert apply(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9") == 201
    assert list(CustomerProfile.objects.values_list("customer", "language")) == [(customer.pk, "zh-hans")]
