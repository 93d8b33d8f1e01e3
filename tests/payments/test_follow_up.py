"""After the money: one job issues the voucher, tells the customer and restocks goods that never left; each part
once, each whatever happened to the others, and a failed part makes the job fail so that RQ retries it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from mall.models import Stock
from mall.services import stock_allocate
from notices.models import CustomerMessage, DeliveryStatus, MessageDelivery
from payments import jobs, vouchers
from payments.models import RefundVoucher
from refunds import flow, services
from refunds.services import ItemRequest
from tests.factories import ProductFactory, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunded(customer: Any, media_root: Any, settings: Any) -> Any:
    """A refunded refund of 3 of the 4 apples of a paid, never shipped order (the jobs it sets off run in this
    process)."""
    settings.JOBS_IN_PROCESS = True
    customer.email = "buyer@example.com"
    customer.save()
    order = make_order(customer, lines=[(ProductFactory(stock=Decimal("10")), "4")], status="paid")
    stock_allocate(order=order)
    return flow.refund_mark_refunded(refund=_not_shipped_claim(customer, order, "3"), channel_refund_id="X")


def _not_shipped_claim(customer: Any, order: Any, quantity: str) -> Any:
    """The customer asks for ``quantity`` of the order's one line back, the order not shipped: `refunding`."""
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal(quantity))],
    )
    return refund


def _voucher_name(refund: Any) -> str:
    return f"refunds/vouchers/{timezone.localtime():%Y/%m}/{refund.refund_no}.pdf"


def _stock(refund: Any) -> Decimal:
    return Stock.objects.get(product=refund.order.items.get().product).quantity


@pytest.mark.services  # the follow-up job goes to RQ on Redis
def test_a_refunded_refund_sets_off_one_job(
    customer: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("notifications")
    queue.empty()
    order = make_order(customer, lines=[(ProductFactory(stock=Decimal("10")), "1")], status="paid")
    refund = _not_shipped_claim(customer, order, "1")

    with django_capture_on_commit_callbacks(execute=True):
        flow.refund_mark_refunded(refund=refund, channel_refund_id="X")

    try:
        jobs = queue.get_jobs()
        assert [(job.func_name, job.args) for job in jobs] == [("payments.jobs.refund_follow_up", (refund.pk,))]
        assert jobs[0].retries_left == 3
    finally:
        queue.empty()


def test_follow_up_issues_the_voucher_notifies_and_restocks_once(
    refunded: Any, django_capture_on_commit_callbacks: Any
) -> None:
    line_id = refunded.order.items.get().pk
    assert _stock(refunded) == Decimal("6")

    with django_capture_on_commit_callbacks(execute=True):
        first = jobs.refund_follow_up(refunded.pk)
        second = jobs.refund_follow_up(refunded.pk)
    message = CustomerMessage.objects.get(refund=refunded)
    assert first == {
        "voucher": _voucher_name(refunded),
        "notified": f"message {message.pk}",
        "restocked": f"{line_id}: 3.000",
    }
    assert second == {"voucher": _voucher_name(refunded), "notified": f"message {message.pk}", "restocked": ""}

    assert [message.to for message in mail.outbox] == [["buyer@example.com"]]
    assert list(MessageDelivery.objects.values_list("message__event", "medium", "status", "attempts")) == [
        ("refunded", "email", DeliveryStatus.SENT, 1)
    ]
    assert RefundVoucher.objects.filter(refund=refunded).count() == 1
    assert _stock(refunded) == Decimal("9")


def test_a_failed_part_leaves_the_others_done_and_the_retry_finishes_it(
    refunded: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    def storage_down(refund: Any) -> None:
        raise OSError("storage unavailable")

    monkeypatch.setattr(vouchers, "issue_voucher", storage_down)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(OSError, match="storage unavailable"):
        jobs.refund_follow_up(refunded.pk)
    assert (len(mail.outbox), RefundVoucher.objects.count(), _stock(refunded)) == (1, 0, Decimal("9"))

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        again = jobs.refund_follow_up(refunded.pk)
    message = CustomerMessage.objects.get(refund=refunded)
    assert again == {"voucher": _voucher_name(refunded), "notified": f"message {message.pk}", "restocked": ""}
    assert (len(mail.outbox), RefundVoucher.objects.count(), _stock(refunded)) == (1, 1, Decimal("9"))


def test_follow_up_of_a_refund_not_refunded_does_nothing(customer: Any) -> None:
    order = make_order(customer, lines=[(ProductFactory(stock=Decimal("10")), "1")], status="paid")
    refund = _not_shipped_claim(customer, order, "1")

    assert jobs.refund_follow_up(refund.pk) == {"skipped": "refunding"}
    assert (len(mail.outbox), RefundVoucher.objects.count(), CustomerMessage.objects.count()) == (0, 0, 0)


def test_a_lost_follow_up_is_run_again_by_the_sweep_restock_included(
    refunded: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Redis was away when the money landed: no follow-up ran. The sweep hands out the whole follow-up again, so
    the goods that never shipped go back on the shelf too (not only the voucher and the message)."""
    from datetime import timedelta

    from refunds.models import Refund

    settings.JOBS_IN_PROCESS = True
    Refund.objects.filter(pk=refunded.pk).update(refunded_at=timezone.now() - timedelta(minutes=10))
    assert _stock(refunded) == Decimal("6")
    assert RefundVoucher.objects.filter(refund=refunded).count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep_after_refund() == [refunded.pk]

    assert _stock(refunded) == Decimal("9")
    assert RefundVoucher.objects.filter(refund=refunded).count() == 1
    assert [message.to for message in mail.outbox] == [["buyer@example.com"]]
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep_after_refund() == []
    assert _stock(refunded) == Decimal("9")
    assert len(mail.outbox) == 1


def test_a_follow_up_costs_the_same_statements_however_many_lines(
    customer: Any, media_root: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.payments.test_execute_statements import _shape

    settings.JOBS_IN_PROCESS = True
    customer.email = "buyer@example.com"
    customer.save()
    apples, pears = ProductFactory(stock=Decimal("10")), ProductFactory(stock=Decimal("10"))
    order = make_order(customer, lines=[(apples, "2"), (pears, "3")], status="paid")
    stock_allocate(order=order)
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="not_shipped",
        kind="refund_only",
        items=[ItemRequest(order_item_id=line.pk, quantity=line.quantity) for line in order.items.order_by("pk")],
    )
    refund = flow.refund_mark_refunded(refund=refund, channel_refund_id="X")

    with django_capture_on_commit_callbacks(execute=False) as scheduled, CaptureQueriesContext(connection) as queries:
        done = jobs.refund_follow_up(refund.pk)

    assert done["restocked"] == ", ".join(f"{line.pk}: {line.quantity}" for line in order.items.order_by("pk"))
    assert len(scheduled) == 1  # the e-mail's delivery job
    assert [_shape(query["sql"]) for query in queries.captured_queries] == [
        "SELECT refunds_refund",  # with its order, payment, shipment and customer
        # the voucher
        "SELECT payments_refundvoucher",
        "SAVEPOINT",
        "INSERT payments_refundvoucher",
        "RELEASE",
        # the customer's message and its e-mail, to the address loaded with the refund
        "SAVEPOINT",
        "SELECT notices_customermessage",
        "SAVEPOINT",
        "INSERT notices_customermessage",
        "RELEASE",
        "INSERT notices_messagedelivery",
        "RELEASE",
        # the restock of both lines
        "SAVEPOINT",
        "SELECT refunds_refunditem",
        "SELECT mall_stockmovement",
        "SAVEPOINT",
        "INSERT mall_stockmovement",
        "RELEASE",
        "UPDATE mall_stock",
        "RELEASE",
    ]
    assert (Stock.objects.get(product=apples).quantity, Stock.objects.get(product=pears).quantity) == (
        Decimal("10"),
        Decimal("10"),
    )
