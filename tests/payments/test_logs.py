"""A refund's lines: the application's request, the execution and follow-up jobs it starts, and the channel's
notification all carry the refund number, and the jobs the request id of the application."""

from __future__ import annotations

from typing import Any

import pytest

from tests.payments.test_notify_endpoints import OK, _notification_for, _post, _refund_awaiting_outcome
from tests.payments.test_refund_end_to_end import _paid_order_at_simulator
from tests.test_logging import Lines, log_lines  # noqa: F401 - fixture


@pytest.mark.django_db(transaction=True)  # the jobs run once the application's transaction really commits
def test_an_application_and_the_jobs_it_starts_share_its_request_id_and_refund_number(
    api: Any,
    customer: Any,
    channel_simulator: Any,
    media_root: Any,
    settings: Any,
    log_lines: Lines,  # noqa: F811
) -> None:
    settings.JOBS_IN_PROCESS = True
    order = _paid_order_at_simulator(customer, "alipay", channel_simulator)
    item = order.items.get()
    response = api.post(
        "/api/v1/refunds/",
        {
            "order_no": order.order_no,
            "reason": "not_shipped",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": str(item.quantity)}],
        },
        format="json",
        HTTP_X_REQUEST_ID="apply-7",
        secure=True,
    )
    assert response.status_code == 201
    refund_no = response.json()["refund_no"]
    lines = [line for line in log_lines() if line.get("request_id") == "apply-7"]
    summary = [
        (line["logger"], line["message"], line.get("status"), line.get("refund_no"), line.get("job_func"))
        for line in lines
        if line["logger"] in ("mall.access", "mall.jobs.run")
    ]
    follow_up, execute = "payments.jobs.refund_follow_up", "payments.jobs.refund_execute"
    told = "notices.jobs.refund_steps_notify"
    assert summary == [
        # The customer is told the request was received (and approved), then the money moves.
        ("mall.jobs.run", f"job {told} finished", "finished", refund_no, told),
        # The follow-up is scheduled inside the execution job, so it runs (and ends) inside it.
        ("mall.jobs.run", f"job {follow_up} finished", "finished", refund_no, follow_up),
        ("mall.jobs.run", f"job {execute} finished", "finished", refund_no, execute),
        ("mall.access", "POST /api/v1/refunds/ 201", 201, refund_no, None),
    ]
    assert all(line["user_id"] == customer.pk for line in lines if line["logger"] == "mall.access")


@pytest.mark.django_db
def test_a_channel_notification_line_names_the_refund(
    client: Any,
    api: Any,
    customer: Any,
    channel_simulator: Any,
    log_lines: Lines,  # noqa: F811
) -> None:
    refund = _refund_awaiting_outcome(api, customer, "wechat", channel_simulator)
    headers, body = _notification_for(refund, channel_simulator)
    response = _post(client, "wechat", {**headers, "X-Request-ID": "wx-notify-1"}, body)
    assert (response.status_code, response.content) == OK["wechat"]
    access = [line for line in log_lines() if line["logger"] == "mall.access" and line["request_id"] == "wx-notify-1"]
    assert [(line["message"], line["refund_no"], line["user_id"]) for line in access] == [
        ("POST /payments/notify/wechat/ 200", refund.refund_no, None)
    ]
