"""Which steps the customer is told of, and what each message says: one message per step, in order, whatever ran
the job and how often; a step whose job was lost is found by the sweep; old steps are not told late."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone, translation

from logistics import services as logistics
from notices import jobs, steps
from notices.models import CustomerMessage
from refunds import flow, services
from refunds.models import Refund, RefundEvent, RefundKind
from refunds.services import ItemRequest
from refunds.sweeps import order_stock_allocate
from tests.factories import ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_process(settings: Any) -> None:
    settings.JOBS_IN_PROCESS = True


def _apply(customer: Any, *, status: str = "delivered", kind: str = RefundKind.REFUND_ONLY) -> Refund:
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("15.00")), "2")], status=status)
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="quality_issue" if status == "delivered" else "not_shipped",
        kind=kind,
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("2"))],
    )
    return refund


def _told(refund: Refund, language: str = "en") -> list[tuple[str, str]]:
    with translation.override(language):
        return [
            (message.event, message.body)
            for message in CustomerMessage.objects.filter(refund=refund).order_by("created_at", "id")
        ]


def test_a_rejection_tells_the_agents_reason_as_typed(
    customer: Any, agent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        refund = _apply(customer)
    with django_capture_on_commit_callbacks(execute=True), translation.override("en"):
        services.refund_reject(refund=refund, actor=agent, note="照片中看不到损坏")
    order_no = refund.order.order_no
    assert _told(refund) == [
        ("received", f"Your request for ¥30.00 on order {order_no} has reached us. We will tell you of every step."),
        ("rejected", "Reason: 照片中看不到损坏. If you disagree, you may open a dispute on this refund."),
    ]
    assert _told(refund, "zh-hans")[1] == ("rejected", "原因：照片中看不到损坏。如有异议，您可以对此退款发起纠纷。")


def test_a_refund_the_shop_opened_says_why_and_a_step_taken_twice_is_told_twice(
    customer: Any, supervisor: Any, agent: Any, channel_simulator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("8.00"), stock=Decimal("1")), "4")])
    with django_capture_on_commit_callbacks(execute=True):
        refund = order_stock_allocate(order_id=order.pk)
    assert refund is not None
    assert _told(refund) == [
        ("opened", f"Reason: out of stock. ¥24.00 of order {order.order_no} goes back to you; you need to do nothing."),
        ("approved", f"Your refund of ¥24.00 for order {order.order_no} is approved."),  # by the system, at once
    ]
    assert _told(refund, "zh-hans")[0] == (
        "opened",
        f"原因：缺货。订单 {order.order_no} 的 ¥24.00 将退还给您，您无需任何操作。",
    )

    other = _apply(UserFactory())
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_reject(refund=other, actor=agent, note="no damage")
        services.refund_overturn(refund=other, actor=supervisor, note="the video shows mould")
    # Rejected, then approved again by a supervisor: two steps, two messages (and the receipt, whose job never ran
    # when it was applied for here, told by the first job that did).
    assert [event for event, _body in _told(other)] == ["received", "rejected", "approved"]


def test_without_a_return_address_the_message_points_to_the_refund(
    customer: Any, agent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _apply(customer, kind=RefundKind.RETURN_AND_REFUND)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_approve(refund=refund, actor=agent)
    assert _told(refund)[-1] == (
        "return_needed",
        "Please send the goods back to the address shown with the refund, then tell us the carrier and tracking "
        "number.",
    )


def test_an_inspection_without_a_cut_tells_the_full_amount(
    customer: Any, agent: Any, warehouse: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _apply(customer, kind=RefundKind.RETURN_AND_REFUND)
    refund = services.refund_approve(refund=refund, actor=agent)
    logistics.return_receive(refund=refund, actor=agent)
    logistics.inspection_record(
        refund=refund,
        order_item_id=refund.items.get().order_item_id,
        received_quantity=Decimal("2"),
        condition="resellable",
        inspector=agent,
    )
    with django_capture_on_commit_callbacks(execute=True):
        logistics.inspection_complete(refund=refund, actor=agent)
    # The earlier steps' jobs never ran (their commits were not captured): the one job tells them all, in order.
    assert [event for event, _body in _told(refund)] == [
        "received",
        "approved",
        "return_needed",
        "goods_received",
        "inspected",
    ]
    assert _told(refund)[-1] == ("inspected", "The goods passed the inspection: ¥30.00 goes back to you.")


def test_no_message_for_steps_that_are_not_the_customers_news(
    customer: Any, channel_simulator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        refund = _apply(customer, status="paid")  # not shipped: approved and off to the channel at once
        services.refund_cancel(refund=_apply(customer), actor=customer)
        flow.refund_mark_failed(refund=refund, note="the channel refused")
    assert [event for event, _body in _told(refund)] == ["received", "approved"]
    assert sorted(CustomerMessage.objects.values_list("event", flat=True)) == ["approved", "received", "received"]


def test_the_job_run_again_tells_nothing_twice(customer: Any, agent: Any) -> None:
    refund = services.refund_approve(refund=_apply(customer), actor=agent)
    assert steps.refund_steps_notify(refund_id=refund.pk) == ["received", "approved"]
    assert steps.refund_steps_notify(refund_id=refund.pk) == []
    submitted = RefundEvent.objects.get(refund=refund, from_state="").pk
    approved = RefundEvent.objects.get(refund=refund, to_state="approved").pk
    assert sorted(CustomerMessage.objects.filter(refund=refund).values_list("key", "event")) == sorted(
        [(f"event:{submitted}", "received"), (f"event:{approved}", "approved")]
    )


def test_the_sweep_tells_steps_whose_job_was_lost_and_not_old_ones(
    customer: Any, agent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    lost = _apply(customer)  # its job, set off after commit, never ran here
    old = _apply(UserFactory())
    told = _apply(UserFactory())
    steps.refund_steps_notify(refund_id=told.pk)
    now = timezone.now()
    RefundEvent.objects.filter(refund__in=[lost, told]).update(created_at=now - timedelta(minutes=5))
    RefundEvent.objects.filter(refund=old).update(created_at=now - timedelta(hours=7))

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep_untold_steps() == [lost.pk]
    assert [event for event, _body in _told(lost)] == ["received"]
    assert _told(old) == []
    assert steps.refund_steps_notify(refund_id=old.pk) == []  # too old to be news
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep_untold_steps() == []
