"""Refund metrics at /metrics (the customer's messages, retried up to three times, are tested in tests/notices)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from payments import jobs
from payments.channels.base import ChannelTemporaryError
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundState
from tests.payments.test_refund_end_to_end import _paid_order_at_simulator

pytestmark = pytest.mark.django_db


def _sample(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _apply_unshipped(api: Any, order: Any) -> Any:
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


def _metrics(client: Any) -> str:
    return str(client.get("/metrics").content.decode())


def _counts(text: str, channel: str) -> tuple[float, float, float]:
    """(histogram observations, successes, failures) of ``channel`` in a /metrics page."""
    return (
        _sample(text, "refund_process_duration_seconds_count", f'channel="{channel}"'),
        _sample(text, "refund_outcomes_total", f'channel="{channel}",outcome="success"'),
        _sample(text, "refund_outcomes_total", f'channel="{channel}",outcome="failed"'),
    )


def test_refund_execution_is_measured_at_metrics(
    client: Any, api: Any, customer: Any, channel_simulator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    before = _metrics(client)
    refund = _apply_unshipped(api, _paid_order_at_simulator(customer, "wechat", channel_simulator))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.refund_execute(refund.pk) == "refunded"
    after = _metrics(client)
    for bucket in ("0.1", "0.5", "1.0", "2.0", "5.0", "+Inf"):
        assert f'refund_process_duration_seconds_bucket{{channel="wechat",le="{bucket}"}}' in after
    count = 'channel="wechat"'
    assert _sample(after, "refund_process_duration_seconds_count", count) == (
        _sample(before, "refund_process_duration_seconds_count", count) + 1
    )
    outcome = 'channel="wechat",outcome="success"'
    assert _sample(after, "refund_outcomes_total", outcome) == _sample(before, "refund_outcomes_total", outcome) + 1


def test_the_duration_runs_from_becoming_payable_so_a_queue_backlog_shows(
    client: Any, api: Any, customer: Any, channel_simulator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _apply_unshipped(api, _paid_order_at_simulator(customer, "alipay", channel_simulator))
    # The job waited 40 s in the queue behind others before a worker took it.
    Refund.objects.filter(pk=refund.pk).update(state_changed_at=timezone.now() - timedelta(seconds=40))
    before = _metrics(client)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.refund_execute(refund.pk) == "refunded"
    after = _metrics(client)
    labels = 'channel="alipay"'
    waited = _sample(after, "refund_process_duration_seconds_sum", labels) - _sample(
        before, "refund_process_duration_seconds_sum", labels
    )
    assert 40 <= waited < 70
    in_five = 'channel="alipay",le="5.0"'
    in_all = 'channel="alipay",le="+Inf"'
    assert _sample(after, "refund_process_duration_seconds_bucket", in_five) == _sample(
        before, "refund_process_duration_seconds_bucket", in_five
    )
    assert _sample(after, "refund_process_duration_seconds_bucket", in_all) == (
        _sample(before, "refund_process_duration_seconds_bucket", in_all) + 1
    )


def test_a_refund_the_channel_refuses_counts_as_failed(
    client: Any, api: Any, customer: Any, channel_simulator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _apply_unshipped(api, _paid_order_at_simulator(customer, "wechat", channel_simulator))
    simulator_client.add_fault(
        channel="wechat", kind="business_error", code="USER_ACCOUNT_ABNORMAL", base_url=channel_simulator.url
    )
    before = _counts(_metrics(client), "wechat")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.refund_execute(refund.pk) == "failed"
    assert _counts(_metrics(client), "wechat") == (before[0] + 1, before[1], before[2] + 1)


def _post_notification(client: Any, refund: Refund, simulator: Any) -> Any:
    headers, body = simulator_client.build_notification(
        channel=refund.channel,
        out_refund_no=refund.out_refund_no,
        out_trade_no=refund.order.payment.out_trade_no,
        base_url=simulator.url,
    )
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
    content_type = headers.get("Content-Type") or headers.get("content-type") or "application/json"
    return client.post(f"/payments/notify/{refund.channel}/", body, content_type=content_type, **extra)


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_a_refund_settled_by_its_notification_counts_once(
    client: Any, api: Any, customer: Any, channel: str, channel_simulator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _apply_unshipped(api, _paid_order_at_simulator(customer, channel, channel_simulator))
    # The channel refunds but our call times out: the notification brings the final answer.
    simulator_client.add_fault(channel=channel, kind="timeout", count=1, base_url=channel_simulator.url)
    before = _counts(_metrics(client), channel)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ChannelTemporaryError):
        jobs.refund_execute(refund.pk)
    assert _counts(_metrics(client), channel) == before  # no answer yet: nothing counted
    for _ in range(2):  # the channel sends it again (it does until acknowledged): still one refund
        with django_capture_on_commit_callbacks(execute=True):
            assert _post_notification(client, refund, channel_simulator).status_code == 200
    refund.refresh_from_db()
    assert refund.state == RefundState.REFUNDED
    assert _counts(_metrics(client), channel) == (before[0] + 1, before[1] + 1, before[2])


def test_a_notification_after_the_job_settled_the_refund_counts_nothing_more(
    client: Any, api: Any, customer: Any, channel_simulator: Any, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _apply_unshipped(api, _paid_order_at_simulator(customer, "alipay", channel_simulator))
    before = _counts(_metrics(client), "alipay")
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.refund_execute(refund.pk) == "refunded"
        assert _post_notification(client, refund, channel_simulator).status_code == 200
    assert _counts(_metrics(client), "alipay") == (before[0] + 1, before[1] + 1, before[2])


@pytest.mark.services  # MariaDB's deadlock, and the refund's job handed to Redis rather than run at commit
@pytest.mark.django_db(transaction=True)  # the settling transaction is the outermost one, so it can be rerun
def test_a_channel_call_recorded_again_after_a_deadlock_counts_once(
    client: Any,
    api: Any,
    customer: Any,
    channel_simulator: Any,
    monkeypatch: Any,
) -> None:
    from django.db import OperationalError

    from payments.models import ChannelAttempt

    refund = _apply_unshipped(api, _paid_order_at_simulator(customer, "alipay", channel_simulator))
    create = ChannelAttempt.objects.create
    lost = []

    def loses_a_deadlock_once(**fields: Any) -> Any:
        if not lost:
            lost.append(fields["operation"])
            raise OperationalError(1213, "Deadlock found when trying to get lock; try restarting transaction")
        return create(**fields)

    monkeypatch.setattr(ChannelAttempt.objects, "create", loses_a_deadlock_once)
    calls = 'channel="alipay",operation="refund",result="success"'
    before = _sample(_metrics(client), "refund_channel_calls_total", calls)
    assert jobs.refund_execute(refund.pk) == "refunded"

    assert lost == ["refund"]  # the first run of the settling transaction lost, the rerun kept the record
    assert ChannelAttempt.objects.filter(refund=refund).count() == 1
    assert _sample(_metrics(client), "refund_channel_calls_total", calls) == before + 1
