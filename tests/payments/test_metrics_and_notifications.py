"""Refund metrics at /metrics, and customer notifications retried up to three times."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from payments import jobs
from payments.models import CustomerNotification, NotificationStatus
from refunds import flow
from tests.payments.test_refund_end_to_end import _paid_order_at_simulator

pytestmark = pytest.mark.django_db


def _sample(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _apply_unshipped(api: Any, order: Any) -> Any:
    from refunds.models import Refund

    item = order.items.get()
    body = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "not_shipped",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": str(item.quantity)}],
        },
        format="json",
    ).json()
    return Refund.objects.get(refund_no=body["refund_no"])


def test_refund_execution_is_measured_at_metrics(client: Any, api: Any, customer: Any, channel_simulator: Any) -> None:
    before = client.get("/metrics").content.decode()
    refund = _apply_unshipped(api, _paid_order_at_simulator(customer, "wechat", channel_simulator))
    assert jobs.refund_execute(refund.pk) == "refunded"
    after = client.get("/metrics").content.decode()
    for bucket in ("0.1", "0.5", "1.0", "2.0", "5.0", "+Inf"):
        assert f'refund_process_duration_seconds_bucket{{channel="wechat",le="{bucket}"}}' in after
    count = 'channel="wechat"'
    assert _sample(after, "refund_process_duration_seconds_count", count) == (
        _sample(before, "refund_process_duration_seconds_count", count) + 1
    )
    outcome = 'channel="wechat",outcome="success"'
    assert _sample(after, "refund_outcomes_total", outcome) == _sample(before, "refund_outcomes_total", outcome) + 1


def test_notification_is_retried_then_recorded_as_failed(
    api: Any, customer: Any, channel_simulator: Any, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "tests.payments.failing_mail.FailingBackend"
    customer.email = "buyer@example.com"
    customer.save()
    refund = _apply_unshipped(api, _paid_order_at_simulator(customer, "alipay", channel_simulator))
    flow.refund_mark_refunded(refund=refund, channel_refund_id="X")
    for _ in range(settings.NOTIFICATION_MAX_ATTEMPTS - 1):
        with pytest.raises(RuntimeError):
            jobs.refund_notify_customer(refund.pk)
    assert jobs.refund_notify_customer(refund.pk) == {"email": "failed"}
    note = CustomerNotification.objects.get(refund=refund, medium="email")
    assert (note.status, note.attempts) == (NotificationStatus.FAILED, 3)
    assert "ConnectionRefusedError" in note.last_error
    # Once failed it is not sent again by a later run.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert jobs.refund_notify_customer(refund.pk) == {"email": "failed"}
    assert mail.outbox == []
