"""The migrations that moved texts to codes keep what was there: timeline notes stored translated become codes
when they are a known text and stay literal words otherwise; the payment side's "money back" notifications become
inbox messages with their email deliveries; going back restores both in the shop's language."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone, translation

from notices.models import CustomerMessage, DeliveryStatus, MessageDelivery
from notices.services import customer_notify
from refunds import services
from refunds.models import RefundEvent
from refunds.services import ItemRequest
from tests.factories import ProductFactory, UserFactory, make_order

BEFORE = [("refunds", "0003_console_filter_indexes"), ("payments", "0002_customernotification_no_contact")]


@pytest.fixture
def executor() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        yield executor
    finally:
        executor = MigrationExecutor(connection)  # a fresh graph state: the test moved the database around
        executor.migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_notes_and_messages_go_back_and_come_forward(executor: MigrationExecutor) -> None:
    customer = UserFactory(email="li@example.com")
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("10.00")), "1")], status="delivered")
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="quality_issue",
        kind="refund_only",
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("1"))],
    )
    message = customer_notify(
        refund=refund,
        event="refunded",
        params={"order_no": order.order_no, "amount": refund.amount, "channel": "alipay", "voucher": "/v/"},
    )
    sent_at = timezone.now()
    MessageDelivery.objects.filter(message=message).update(status=DeliveryStatus.SENT, attempts=1, sent_at=sent_at)

    # Back: notes written out in the shop's language; the message as the payment side's email row.
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    OldEvent = old.get_model("refunds", "RefundEvent")
    assert list(OldEvent.objects.filter(refund_id=refund.pk).order_by("pk").values_list("note", flat=True)) == [
        "已提交",
        "订单已签收：等待客服审核",
    ]
    Notification = old.get_model("payments", "CustomerNotification")
    assert list(
        Notification.objects.values_list("refund_id", "medium", "recipient", "status", "attempts", "subject")
    ) == [(refund.pk, "email", "li@example.com", "sent", 1, f"您的退款 {refund.refund_no} 已完成")]
    # As the old code wrote them: an English agent's notes in English, and words typed by a person.
    _first, second = OldEvent.objects.filter(refund_id=refund.pk).order_by("pk")
    OldEvent.objects.filter(pk=second.pk).update(note="delivered order: waiting for customer service")
    typed = OldEvent.objects.create(
        refund_id=refund.pk, from_state="pending_review", to_state="pending_review", note="已联系顾客 call back at 5"
    )
    OldEvent.objects.create(refund_id=refund.pk, from_state="pending_review", to_state="pending_review", note="")

    # Forward: known texts become their codes whatever language they were written in, the rest stays as typed.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    events = list(RefundEvent.objects.filter(refund=refund).order_by("pk"))
    assert [(event.note_code, event.note_params) for event in events] == [
        ("submitted", {}),
        ("delivered_waits", {}),
        ("text", {"text": "已联系顾客 call back at 5"}),
        ("", {}),
    ]
    assert events[2].pk == typed.pk
    with translation.override("en"):
        assert [event.note for event in events] == [
            "submitted",
            "delivered order: waiting for customer service",
            "已联系顾客 call back at 5",
            "",
        ]
    moved = CustomerMessage.objects.get()
    assert (moved.refund_id, moved.customer_id, moved.event, moved.key, moved.read_at) == (
        refund.pk,
        customer.pk,
        "refunded",
        "refunded",
        None,
    )
    assert moved.params == {
        "refund_no": refund.refund_no,
        "order_no": order.order_no,
        "amount": "10.00",
        "channel": "alipay",
        "voucher": f"/api/v1/refunds/{refund.refund_no}/voucher/",
    }
    assert list(MessageDelivery.objects.values_list("message", "recipient", "status", "attempts", "sent_at")) == [
        (moved.pk, "li@example.com", DeliveryStatus.SENT, 1, sent_at)
    ]
