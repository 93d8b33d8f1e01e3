"""The refund page as a decision view: what the decision needs first (amount, items with their units, the customer's
words and photos, the customer's history, order and shipment, timeline), then the buttons, then the records; no
read-only fieldsets, no "Close" button; photos that open large without a script; a fixed number of queries; in
Chinese and in English."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from mall.models import SaleUnit
from refunds import flow, services
from refunds.evidence import refund_add_evidence
from refunds.models import Refund, RefundKind, RefundReason
from refunds.notes import refund_note_add
from refunds.selectors import CustomerHistory, customer_history
from tests.admin.conftest import login, pending_refund
from tests.admin.test_actions import page
from tests.admin.test_csp import assert_no_inline_code
from tests.factories import ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db

# Sections in the order a reviewer reads them: the decision, the buttons, then the records.
SECTIONS = (
    "refund-state",
    "refund-amount",
    "refund-items",
    "refund-description",
    "refund-photos",
    "customer-history",
    "refund-order",
    "refund-timeline",
    "refund-actions",
    "refund-details",
    "note-form",
    "refund-related",
)


def login_zh(user: Any) -> Client:
    """A logged-in admin client whose browser asks for Chinese, as the shop's staff's do."""
    client = Client(headers={"accept-language": "zh-CN,zh;q=0.9"})
    client.force_login(user)
    return client


def add_photo(refund: Refund, customer: Any, color: tuple[int, int, int] = (200, 40, 40)) -> Any:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "PNG")
    return refund_add_evidence(
        refund=refund, actor=customer, upload=SimpleUploadedFile("p.png", buffer.getvalue(), "image/png")
    )


def mixed_refund(customer: Any) -> Refund:
    """A quality claim on 1.5 kg of mangoes at ¥16.80 and 2 durians at ¥30.00: ¥85.20."""
    mango = ProductFactory(unit=SaleUnit.KILOGRAM, price=Decimal("16.80"))
    durian = ProductFactory(price=Decimal("30.00"))
    order = make_order(customer, lines=[(mango, "1.5"), (durian, "2")], status="delivered")
    refund, _created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.QUALITY_ISSUE,
        kind=RefundKind.REFUND_ONLY,
        items=services.full_order_items(order),
        description="three mangoes are mouldy",
    )
    return refund


def test_the_decision_comes_first_then_the_buttons_then_the_records(agent: Any, media_root: Any) -> None:
    customer = UserFactory()
    refund = mixed_refund(customer)
    add_photo(refund, customer)
    html = page(login(agent), refund)
    positions = [html.index(f'id="{section}"') for section in SECTIONS]
    assert positions == sorted(positions)
    assert f"<h1>{refund.refund_no}</h1>" in html
    assert '<span class="amount" id="refund-amount">¥85.20</span>' in html
    assert '<blockquote class="customer-words" id="refund-description">three mangoes are mouldy</blockquote>' in html
    # The order and its shipment, in the decision's column.
    order = refund.order
    assert f'<a href="/admin/mall/order/{order.pk}/change/">{order.order_no}</a> · delivered' in html
    assert f'paid ¥85.20 · Alipay <span class="quiet">{order.payment.trade_no}</span>' in html
    assert f"SF {order.shipment.tracking_no} · shipped" in html
    # No read-only fieldsets repeating the header, no admin form and no "Close" button.
    for gone in ('class="submit-row"', 'name="_save"', '<fieldset class="module', 'id="refund_form"', "View refund"):
        assert gone not in html, gone


def test_items_say_their_unit_in_each_language(agent: Any) -> None:
    refund = mixed_refund(UserFactory())
    english = page(login(agent), refund)
    assert '<td class="num">1.5 kg × ¥16.80</td><td class="num">¥25.20</td><td class="num">1.5 kg</td>' in english
    assert '<td class="num">2 pcs × ¥30.00</td><td class="num">¥60.00</td><td class="num">2 pcs</td>' in english
    chinese = login_zh(agent).get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    assert '<td class="num">1.5 kg × ¥16.80</td><td class="num">¥25.20</td><td class="num">1.5 kg</td>' in chinese
    assert '<td class="num">2 件 × ¥30.00</td><td class="num">¥60.00</td><td class="num">2 件</td>' in chinese
    assert '<span class="refund-state state-pending_review" id="refund-state">待审核</span>' in chinese
    assert "<span>质量问题 · 仅退款 · 顾客</span>" in chinese
    assert '<button type="submit" class="button default" name="act" value="approve">同意</button>' in chinese
    assert ">同意并处理下一条</button>" in chinese
    assert "<legend>拒绝原因</legend>" in chinese
    assert "照片不能证明质量问题</label>" in chinese
    # The admin's "Close" (关闭) button of a read-only form is gone, and so is its title "查看 退款".
    assert "关闭" not in chinese
    assert "查看 退款" not in chinese


def test_the_customer_history_counts_paid_orders_and_live_refunds(agent: Any, supervisor: Any) -> None:
    customer = UserFactory()
    refunded = pending_refund(customer, price="30.00", quantity="2")
    flow.refund_mark_refunded(refund=services.refund_approve(refund=refunded, actor=supervisor), channel_refund_id="C")
    services.refund_cancel(refund=pending_refund(customer), actor=customer)  # withdrawn: not counted
    make_order(customer, status="pending_payment")  # never paid: not counted
    current = pending_refund(customer, price="12.50", quantity="1")
    pending_refund(UserFactory())  # someone else's
    # Paid orders: the three with refunds; requests: the refunded one and this one, on two of them.
    assert customer_history(customer.pk) == CustomerHistory(
        orders=3, refunds=2, orders_with_refund=2, refunded=1, refunded_amount=Decimal("60.00")
    )
    assert customer_history(customer.pk).refund_rate == Decimal("66.7")
    assert customer_history(UserFactory().pk).refund_rate is None
    html = page(login(agent), current)
    assert '<dd id="history-orders">3</dd>' in html
    assert '<dd id="history-refunds">2</dd>' in html
    assert '<dd id="history-rate">66.7%</dd>' in html
    assert '<dt>refunded (1)</dt><dd id="history-refunded">¥60.00</dd>' in html
    chinese = login_zh(agent).get(f"/admin/refunds/refund/{current.pk}/change/").content.decode()
    assert '<dt>已退款（1 笔）</dt><dd id="history-refunded">¥60.00</dd>' in chinese
    assert "<dt>已付款订单</dt>" in chinese


def test_photos_are_thumbnails_that_open_large_without_a_script(agent: Any, media_root: Any) -> None:
    customer = UserFactory()
    refund = pending_refund(customer)
    photos = [add_photo(refund, customer, color) for color in ((200, 40, 40), (40, 160, 60))]
    html = page(login(agent), refund)
    for number, photo in enumerate(photos, start=1):
        src = f'src="/admin/refunds/refund/evidence/{photo.pk}/"'
        assert html.count(src) == 2  # the thumbnail and the large one
        assert f'<a href="#photo-{photo.pk}" class="thumb" title="Open large"><img {src}' in html
        assert (
            f'<div class="lightbox" id="photo-{photo.pk}" role="dialog" aria-label="evidence photo {number}">' in html
        )
    # Opened by the address's fragment (CSS :target), from this site's own stylesheet; nothing inline or remote.
    assert '<link rel="stylesheet" href="/static/refunds/refund_page.css">' in html
    css = (Path(settings.BASE_DIR) / "static" / "refunds" / "refund_page.css").read_text()
    assert ".lightbox { display: none; }" in css
    assert ".lightbox:target { display: flex;" in css
    assert_no_inline_code(html)
    assert "<script>" not in html


def test_queries_stay_the_same_however_much_the_refund_holds(
    agent: Any, supervisor: Any, media_root: Any, django_assert_max_num_queries: Any
) -> None:
    small = pending_refund()
    customer = UserFactory()
    products = [ProductFactory(price=Decimal("10.00")) for _ in range(5)]
    order = make_order(customer, lines=[(product, "2") for product in products], status="delivered")
    earlier = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.QUALITY_ISSUE,
        kind=RefundKind.REFUND_ONLY,
        items=[services.ItemRequest(order_item_id=order.items.first().pk, quantity=Decimal("1"))],  # type: ignore[union-attr]
    )[0]
    services.refund_cancel(refund=earlier, actor=customer)
    big = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.QUALITY_ISSUE,
        kind=RefundKind.REFUND_ONLY,
        items=services.full_order_items(order),
    )[0]
    for color in ((1, 2, 3), (4, 5, 6), (7, 8, 9)):
        add_photo(big, customer, color)
    for n in range(6):
        refund_note_add(refund=big, actor=supervisor, note=f"called the customer ({n})", internal=n % 2 == 0)
    attempts = apps.get_model("payments", "ChannelAttempt")
    for operation in ("refund", "query", "notification"):
        attempts.objects.create(refund=big, operation=operation, outcome="processing")
    pending_refund()  # due after both: each page finds its next refund in the queue the same way
    client = login(agent)
    page(client, small)  # the session and the permissions, read once for every page after
    with CaptureQueriesContext(connection) as few:
        page(client, small)
    with CaptureQueriesContext(connection) as many:
        html = page(client, big)
    assert len(many) == len(few), "\n".join(q["sql"][:150] for q in many.captured_queries)
    assert html.count('class="thumb"') == 3
    assert html.count("called the customer (") == 6
    with django_assert_max_num_queries(22):
        page(client, big)


def test_a_rejected_refund_says_why_in_the_readers_language(agent: Any, supervisor: Any) -> None:
    from refunds.rejections import RejectionReason

    refund = services.refund_reject(
        refund=pending_refund(),
        actor=agent,
        reason=RejectionReason.objects.get(code="after_sale_expired"),
        note="delivered 20 days ago",
    )
    english = page(login(supervisor), refund)
    assert (
        '<p class="decision-note" id="refund-rejection">'
        "Rejected: The after-sales period has ended: delivered 20 days ago</p>" in english
    )
    chinese = login_zh(supervisor).get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    assert '<p class="decision-note" id="refund-rejection">已拒绝：已超过售后期：delivered 20 days ago</p>' in chinese
    # The timeline's rejection reads the same way; the supervisor may overturn it.
    assert '<div class="note">已超过售后期：delivered 20 days ago</div>' in chinese
    assert re.findall(r'id="act-(\w+)"', chinese) == ["overturn"]
