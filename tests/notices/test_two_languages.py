"""A Chinese and an English customer each follow a return-and-refund claim to the end, worked by an agent and a
warehouse who speak English: each reads the timeline, the inbox and the emails in their own language, exactly.

Everything runs through the real paths: the customers' API calls, the agent's console button, the warehouse's
services, the money through the channel simulator, the jobs after each commit (in this process), the emails
through a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from logistics import services as logistics
from logistics.models import Warehouse
from mall.models import Product
from notices.models import CustomerMessage
from payments.simulator import client as simulator_client
from refunds.models import Refund, RefundState
from tests.admin.conftest import login
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory, make_order
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db

CHINESE, ENGLISH = "zh-CN,zh;q=0.9", "en"


@contextmanager
def english_staff() -> Iterator[None]:
    """What a member of staff working in English has active while they act."""
    with translation.override("en"):
        yield


def _claim(customer: Any, product: Product, channel_simulator: Any, language: str, committed: Any) -> Refund:
    """The customer asks for all 5 of a delivered order back, in their language."""
    order = make_order(customer, lines=[(product, "5")], status="delivered", channel="alipay")
    payment = order.payment
    simulator_client.register_trade(
        channel="alipay",
        out_trade_no=payment.out_trade_no,
        trade_no=payment.trade_no,
        amount=payment.amount,
        base_url=channel_simulator.url,
    )
    with committed(execute=True):
        response = client_for(customer).post(
            "/api/v1/refunds/",
            {
                "order_no": order.order_no,
                "reason": "quality_issue",
                "kind": "return_and_refund",
                "items": [{"order_item_id": order.items.get().pk, "quantity": "5"}],
            },
            format="json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
    assert response.status_code == 201, response.json()
    return Refund.objects.get(refund_no=response.json()["refund_no"])


def _worked_to_the_end(refund: Refund, customer: Any, agent: Any, language: str, committed: Any) -> Refund:
    """Each step commits, and the jobs it set off run then, before the next step."""
    with committed(execute=True):
        approved = login(agent).post(f"/admin/refunds/refund/{refund.pk}/act/approve/", {"note": ""})
    assert approved.status_code == 302
    with committed(execute=True):
        sent_back = client_for(customer).post(
            f"/api/v1/refunds/{refund.refund_no}/return-shipment/",
            {"carrier": "SF", "tracking_no": "SF1234567"},
            format="json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
    assert sent_back.status_code == 200
    with english_staff():
        with committed(execute=True):
            logistics.return_receive(refund=refund, actor=agent)
        with committed(execute=True):
            logistics.inspection_record(
                refund=refund,
                order_item_id=refund.items.get().order_item_id,
                received_quantity=Decimal("4"),
                condition="resellable",
                inspector=agent,
            )
        with committed(execute=True):
            logistics.inspection_complete(refund=refund, actor=agent)  # the money moves in the job after commit
    return Refund.objects.get(pk=refund.pk)


def _timeline(customer: Any, refund: Refund, language: str) -> list[tuple[str, str]]:
    body = client_for(customer).get(f"/api/v1/refunds/{refund.refund_no}/", HTTP_ACCEPT_LANGUAGE=language).json()
    return [(entry["state"], entry["note"]) for entry in body["timeline"]]


def _inbox(customer: Any, language: str) -> list[tuple[str, str, str]]:
    body = client_for(customer).get("/api/v1/notifications/", HTTP_ACCEPT_LANGUAGE=language).json()
    return [(message["event"], message["title"], message["body"]) for message in body["results"]]


def english_timeline(name: str) -> list[tuple[str, str]]:
    return [
        ("pending_review", "submitted"),
        ("pending_review", "delivered order: waiting for customer service"),
        ("approved", "approved"),
        ("awaiting_return", "waiting for the goods to come back"),
        ("return_in_transit", "goods sent back with SF, tracking number SF1234567"),
        ("inspecting", "goods received by the warehouse"),
        (
            "inspecting",
            f"Quality inspection: we received 4 pcs of the 5 pcs of “{name}” you returned. The refund is reduced "
            "in proportion to the goods that did not come back, by ¥20.00 to ¥80.00.",
        ),
        ("refunding", "inspection passed"),
        ("refunded", "money returned by the channel"),
    ]


def chinese_timeline(name: str) -> list[tuple[str, str]]:
    return [
        ("pending_review", "已提交"),
        ("pending_review", "订单已签收：等待客服审核"),
        ("approved", "已同意"),
        ("awaiting_return", "等待商品退回"),
        ("return_in_transit", "已通过SF寄回商品，运单号 SF1234567"),
        ("inspecting", "仓库已收到退货"),
        (
            "inspecting",
            f"质检结果：您退回的“{name}”共 5 件，我们收到 4 件。退款按未退回商品的比例减少 ¥20.00，调整为 ¥80.00。",
        ),
        ("refunding", "质检通过"),
        ("refunded", "支付渠道已退回款项"),
    ]


def english_inbox(refund: Refund, name: str) -> list[tuple[str, str, str]]:
    no, order_no = refund.refund_no, refund.order.order_no
    return [
        (
            "refunded",
            f"Your refund {no} is complete",
            f"¥80.00 for order {order_no} has been returned to your Alipay account. "
            f"Your refund voucher: http://127.0.0.1:8000/api/v1/refunds/{no}/voucher/",
        ),
        (
            "inspected",
            f"The goods of refund {no} are inspected",
            f"The inspection found that we received 4 pcs of the 5 pcs of “{name}” you returned. "
            "The refund is reduced by ¥20.00 to ¥80.00.",
        ),
        (
            "goods_received",
            f"We have received the goods of refund {no}",
            "Our warehouse has received the goods you sent back and is inspecting them.",
        ),
        (
            "return_needed",
            f"Please send the goods of refund {no} back",
            "Please send the goods back to 水果商城退货仓, 上海市浦东新区货运路 8 号 (王仓管, 021-5555-0101), "
            "then tell us the carrier and tracking number.",
        ),
        ("approved", f"Your refund {no} is approved", f"Your refund of ¥100.00 for order {order_no} is approved."),
        (
            "received",
            f"We have received your refund request {no}",
            f"Your request for ¥100.00 on order {order_no} has reached us. We will tell you of every step.",
        ),
    ]


def chinese_inbox(refund: Refund, name: str) -> list[tuple[str, str, str]]:
    no, order_no = refund.refund_no, refund.order.order_no
    return [
        (
            "refunded",
            f"您的退款 {no} 已完成",
            f"订单 {order_no} 的 ¥80.00 已原路退回您的支付宝账户。"
            f"退款凭证：http://127.0.0.1:8000/api/v1/refunds/{no}/voucher/",
        ),
        (
            "inspected",
            f"退款 {no} 的商品已完成质检",
            f"质检发现：您退回的“{name}”共 5 件，我们收到 4 件。退款减少 ¥20.00，调整为 ¥80.00。",
        ),
        ("goods_received", f"我们已收到退款 {no} 的退货", "仓库已收到您寄回的商品，正在质检。"),
        (
            "return_needed",
            f"请寄回退款 {no} 的商品",
            "请将商品寄回水果商城退货仓，地址：上海市浦东新区货运路 8 号（王仓管，021-5555-0101），"
            "然后告诉我们快递公司和运单号。",
        ),
        ("approved", f"您的退款 {no} 已通过审核", f"您对订单 {order_no} 的 ¥100.00 退款已通过审核。"),
        (
            "received",
            f"我们已收到您的退款申请 {no}",
            f"您对订单 {order_no} 申请的 ¥100.00 退款已提交成功，每一步进展我们都会通知您。",
        ),
    ]


def test_each_customer_reads_the_same_steps_in_their_own_language(
    agent: Any,
    channel_simulator: Any,
    smtp_sink: SmtpSink,
    warehouse: Warehouse,
    media_root: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.JOBS_IN_PROCESS = True
    product = ProductFactory(name="富士苹果", price=Decimal("20.00"))
    li = UserFactory(email="li@example.com")
    tom = UserFactory(email="tom@example.com")
    committed = django_capture_on_commit_callbacks
    li_refund = _claim(li, product, channel_simulator, CHINESE, committed)
    li_refund = _worked_to_the_end(li_refund, li, agent, CHINESE, committed)
    tom_refund = _claim(tom, product, channel_simulator, ENGLISH, committed)
    tom_refund = _worked_to_the_end(tom_refund, tom, agent, ENGLISH, committed)
    assert (
        (li_refund.state, li_refund.amount)
        == (tom_refund.state, tom_refund.amount)
        == (
            RefundState.REFUNDED,
            Decimal("80.00"),
        )
    )

    # The timeline: the same steps, each in the reader's language, whoever acted and in whichever language.
    assert _timeline(li, li_refund, CHINESE) == chinese_timeline(product.name)
    assert _timeline(tom, tom_refund, ENGLISH) == english_timeline(product.name)
    assert _timeline(tom, tom_refund, CHINESE) == chinese_timeline(product.name)  # rendered when read
    assert _timeline(li, li_refund, "") == chinese_timeline(product.name)  # no header: the shop's language

    # The inbox, newest first: a message at every step.
    assert _inbox(li, CHINESE) == chinese_inbox(li_refund, product.name)
    assert _inbox(tom, ENGLISH) == english_inbox(tom_refund, product.name)

    # The emails, written in the language each customer applied in.
    sent = [
        (d.recipients[0], d.message["Subject"].strip(), d.message.get_content().strip()) for d in smtp_sink.deliveries
    ]
    assert [mail for mail in sent if mail[0] == "li@example.com"] == [
        ("li@example.com", title, body) for _event, title, body in reversed(chinese_inbox(li_refund, product.name))
    ]
    assert [mail for mail in sent if mail[0] == "tom@example.com"] == [
        ("tom@example.com", title, body) for _event, title, body in reversed(english_inbox(tom_refund, product.name))
    ]
    assert CustomerMessage.objects.filter(read_at__isnull=False).count() == 0
