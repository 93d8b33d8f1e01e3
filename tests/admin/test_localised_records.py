"""The refund's records read in the reader's language: the channel attempts (kind and outcome), and the admin history
of the console's acts, also the entries written before acts were recorded as data ("approve: refunding")."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType

from refunds.models import Refund
from tests.admin.conftest import delivered_order, failed_refund, login, pending_refund
from tests.admin.test_actions import act
from tests.admin.test_refund_page import login_zh
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def attempts_for(refund: Refund) -> None:
    attempt = apps.get_model("payments", "ChannelAttempt")
    attempt.objects.create(refund=refund, operation="refund", outcome="rejected", error_code="ACQ.TRADE_HAS_CLOSE")
    attempt.objects.create(refund=refund, operation="query", outcome="failed", duration_ms=35)
    attempt.objects.create(refund=refund, operation="notification", outcome="success")


def test_channel_attempts_say_what_they_were_in_each_language(agent: Any, supervisor: Any) -> None:
    refund = failed_refund(supervisor)
    attempts_for(refund)
    english = login(agent).get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    assert "<td>refund request</td><td>rejected by the channel</td><td>ACQ.TRADE_HAS_CLOSE </td>" in english
    assert '<td>status query</td><td>failed at the channel</td><td> </td><td class="num">35 ms</td>' in english
    assert "<td>channel notification</td><td>success</td>" in english
    chinese = login_zh(agent).get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    assert "<td>退款请求</td><td>支付渠道拒绝</td><td>ACQ.TRADE_HAS_CLOSE </td>" in chinese
    assert '<td>状态查询</td><td>渠道处理失败</td><td> </td><td class="num">35 毫秒</td>' in chinese
    assert "<td>渠道通知</td><td>成功</td>" in chinese
    for raw in ("<td>refund</td>", "<td>query</td>", "<td>notification</td>", "<td>failed</td>", "<td>rejected</td>"):
        assert raw not in english and raw not in chinese, raw


def test_the_history_names_the_act_and_the_state_in_each_language(agent: Any, supervisor: Any) -> None:
    refund = pending_refund()
    act(login(agent), refund, "approve")
    # An entry written before acts were recorded as data reads the same way.
    LogEntry.objects.create(
        user=supervisor,
        content_type=ContentType.objects.get_for_model(Refund),
        object_id=str(refund.pk),
        object_repr=refund.refund_no,
        action_flag=CHANGE,
        change_message="approve: refunding",
    )
    # An entry the console did not write keeps Django's own wording.
    LogEntry.objects.create(
        user=supervisor,
        content_type=ContentType.objects.get_for_model(Refund),
        object_id=str(refund.pk),
        object_repr=refund.refund_no,
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["state"]}}]',
    )
    url = f"/admin/refunds/refund/{refund.pk}/history/"
    english = login(supervisor).get(url).content.decode()
    assert english.count("<td>Approve → refunding</td>") == 2
    assert "<td>Changed state.</td>" in english
    chinese = login_zh(supervisor).get(url).content.decode()
    assert chinese.count("<td>同意 → 退款中</td>") == 2
    for page in (english, chinese):
        assert "approve: refunding" not in page
        assert "refund_act" not in page


def test_a_compensation_refunds_history_is_worded_too(supervisor: Any) -> None:
    order = delivered_order(UserFactory())
    client = login_zh(supervisor)
    response = client.post(
        "/admin/refunds/refund/compensate/",
        {
            "order_no": order.order_no,
            "order_item": order.items.get().pk,
            "mode": "percent",
            "value": "10",
            "reason": "late",
        },
    )
    assert response.status_code == 302
    refund = Refund.objects.get(order=order)
    history = client.get(f"/admin/refunds/refund/{refund.pk}/history/").content.decode()
    assert "<td>已创建补偿退款</td>" in history
    assert "<td>compensation</td>" not in history
