"""What staff see of the customers' messages: the refund page's panel (what was told, read or not, each email's
status) in the staff member's language, and the read-only lists of messages and deliveries."""

from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from notices.models import CustomerMessage, DeliveryStatus, MessageDelivery
from notices.services import customer_notify
from tests.admin.conftest import login, pending_refund
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def told(settings: Any) -> CustomerMessage:
    settings.JOBS_IN_PROCESS = False  # the email's try is not run here: the delivery stays as set below
    refund = pending_refund(UserFactory(email="li@example.com"), price="12.00", quantity="1")
    message = customer_notify(
        refund=refund, event="approved", params={"order_no": refund.order.order_no, "amount": Decimal("12.00")}
    )
    MessageDelivery.objects.filter(message=message).update(
        status=DeliveryStatus.UNDELIVERABLE, attempts=3, last_error="SMTPRecipientsRefused: 451"
    )
    return message


def _page(client: Client, message: CustomerMessage) -> str:
    response = client.get(f"/admin/refunds/refund/{message.refund_id}/change/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_refund_page_shows_what_the_customer_was_told_in_the_staff_members_language(
    agent: Any, told: CustomerMessage
) -> None:
    no = told.refund.refund_no
    english = _page(login(agent), told)
    assert 'id="refund-messages"' in english
    assert "Messages to the customer" in english
    assert f"<strong>Your refund {no} is approved</strong>" in english
    assert "unread" in english
    assert "email li@example.com: undeliverable (tries: 3)" in english
    assert "SMTPRecipientsRefused: 451" in english

    chinese = Client(headers={"accept-language": "zh-hans"})
    chinese.force_login(agent)
    page = _page(chinese, told)
    assert "发给客户的消息" in page
    assert f"<strong>您的退款 {no} 已通过审核</strong>" in page
    assert "邮件 li@example.com: 无法送达 (尝试次数：3)" in page

    CustomerMessage.objects.filter(pk=told.pk).update(read_at=timezone.now())
    assert "unread" not in _page(login(agent), told)


def test_staff_read_the_messages_and_change_none(agent: Any, finance: Any, told: CustomerMessage) -> None:
    client = login(agent)
    listing = client.get("/admin/notices/customermessage/")
    assert listing.status_code == 200
    assert f"Your refund {told.refund.refund_no} is approved" in html.unescape(listing.content.decode())
    assert client.get(f"/admin/notices/customermessage/{told.pk}/change/").status_code == 200
    assert client.get("/admin/notices/messagedelivery/").status_code == 200
    assert client.post(f"/admin/notices/customermessage/{told.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/notices/customermessage/add/").status_code == 403
    assert login(finance).get("/admin/notices/customermessage/").status_code == 403
    assert CustomerMessage.objects.filter(pk=told.pk).exists()


def test_the_console_timeline_is_in_each_staff_members_language(agent: Any, supervisor: Any) -> None:
    refund = pending_refund(UserFactory())
    assert login(agent).post(f"/admin/refunds/refund/{refund.pk}/act/approve/", {"note": ""}).status_code == 302

    english = _timeline(login(supervisor), refund.pk)
    chinese = Client(headers={"accept-language": "zh-hans"})
    chinese.force_login(supervisor)
    assert english == [
        "submitted",
        "delivered order: waiting for customer service",
        "approved",
        "refunding to the original channel",
    ]
    assert _timeline(chinese, refund.pk) == ["已提交", "订单已签收：等待客服审核", "已同意", "正在原路退款"]


def _timeline(client: Client, refund_id: int) -> list[str]:
    """The notes of the refund page's timeline, oldest first (the page shows the newest first)."""
    page = client.get(f"/admin/refunds/refund/{refund_id}/change/").content.decode()
    section = page[page.index('id="refund-timeline"') :]
    body = section[: section.index("</ol>")]
    notes = re.findall(r'<div class="note">(.*?)</div>', body, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", note)).strip() for note in reversed(notes)]
