"""The queue shows what matters: who must decide (a supervisor: above the cap, escalated), whether there are photos,
a search by phone; and a supervisor's own view of what waits for them."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape
from PIL import Image

from mall.models import Order
from refunds import services
from refunds.evidence import refund_add_evidence
from refunds.models import Refund, RefundKind, RefundReason
from refunds.selectors import SupervisorQueue, supervisor_queue
from tests.admin.conftest import login, pending_refund
from tests.admin.test_queue import QUEUE, listed, overdue, row_of
from tests.factories import ProductFactory, UserFactory, make_order

pytestmark = pytest.mark.django_db


def above_cap(**kw: Any) -> Refund:
    """A quality claim of ¥5,200.00: above the single-refund cap of ¥5,000."""
    refund = pending_refund(price="2600.00", quantity="2", **kw)
    assert refund.requires_supervisor
    return refund


def escalated(reason: str = "auto-approve-v1: refunds for this reason are not approved automatically") -> Refund:
    return services.refund_escalate(refund=pending_refund(), reason=reason)


def add_photos(refund: Refund, count: int) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(buffer, "PNG")
    for index in range(count):
        upload = SimpleUploadedFile(f"{index}.png", buffer.getvalue(), "image/png")
        refund_add_evidence(refund=refund, actor=refund.customer, upload=upload)


def needs_supervisor(refund: Refund) -> bool:
    return bool(Refund.objects.values_list("needs_supervisor", flat=True).get(pk=refund.pk))


def test_the_database_keeps_needs_supervisor_in_step(supervisor: Any, agent: Any) -> None:
    cap, late, plain = above_cap(), escalated(), pending_refund()
    assert [needs_supervisor(r) for r in (cap, late, plain)] == [True, True, False]
    services.refund_approve(refund=cap, actor=supervisor)
    services.refund_reject(refund=late, actor=agent, note="no damage in the photos")
    # Decided: they wait for nobody any more (the facts that made them wait stay on the row).
    assert [needs_supervisor(r) for r in (cap, late)] == [False, False]
    assert Refund.objects.get(pk=cap.pk).requires_supervisor is True
    assert Refund.objects.get(pk=late.pk).escalated_at is not None


def test_supervisor_filter_lists_what_waits_for_a_supervisor_in_queue_order(agent: Any) -> None:
    plain = pending_refund()
    cap = above_cap()
    late_escalated = overdue(escalated(), hours=5)
    cap_late = overdue(above_cap(), hours=1)
    client = login(agent)
    assert listed(client.get(QUEUE, {"supervisor": "waiting"})) == [
        late_escalated.refund_no,
        cap_late.refund_no,
        cap.refund_no,
    ]
    assert listed(client.get(QUEUE, {"supervisor": "cap"})) == [cap_late.refund_no, cap.refund_no]
    assert listed(client.get(QUEUE, {"supervisor": "escalated"})) == [late_escalated.refund_no]
    assert listed(client.get(QUEUE, {"supervisor": "waiting", "overdue": "yes"})) == [
        late_escalated.refund_no,
        cap_late.refund_no,
    ]
    assert plain.refund_no in listed(client.get(QUEUE))
    # The filter names itself and its choices in the sidebar.
    html = client.get(QUEUE).content.decode()
    assert "By needs a supervisor" in html
    for choice in ("?supervisor=waiting", "?supervisor=cap", "?supervisor=escalated"):
        assert choice in html


def test_an_unknown_filter_value_lists_everything_and_changes_nothing(agent: Any) -> None:
    refunds = {pending_refund().refund_no, above_cap().refund_no}
    response = login(agent).get(QUEUE, {"supervisor": "nonsense"})
    assert response.status_code == 200
    assert set(listed(response)) == refunds


def test_supervisor_column_says_why(agent: Any) -> None:
    reason = "auto-approve-v2: the customer's refund rate is 80%"
    cap, late, plain = above_cap(), escalated(reason), pending_refund()
    html = login(agent).get(QUEUE).content.decode()
    assert re.search(
        r'<th scope="col" class="column-supervisor_flag">\s*<div class="text"><span>Supervisor</span>', html
    )
    assert re.findall(r'<td class="field-supervisor_flag">(.*?)</td>', row_of(html, cap.refund_no)) == [
        '<span class="flag flag-cap">above cap</span>'
    ]
    assert re.findall(r'<td class="field-supervisor_flag">(.*?)</td>', row_of(html, late.refund_no)) == [
        f'<span class="flag flag-escalated" title="{escape(reason)}">escalated</span>'
    ]
    assert re.findall(r'<td class="field-supervisor_flag">(.*?)</td>', row_of(html, plain.refund_no)) == ["-"]


def test_photo_column_counts_photos_and_flags_a_quality_claim_without_any(
    agent: Any, customer: Any, media_root: Any
) -> None:
    two, none = pending_refund(), pending_refund()
    add_photos(two, 2)
    one = pending_refund()
    add_photos(one, 1)
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("9.90")), "1")], status="paid")
    not_shipped, _created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.NOT_SHIPPED,
        kind=RefundKind.REFUND_ONLY,
        items=services.full_order_items(order),
    )
    html = login(agent).get(QUEUE).content.decode()

    def cell(refund: Refund) -> str:
        return re.findall(r'<td class="field-photo_count">(.*?)</td>', row_of(html, refund.refund_no))[0]

    assert cell(two) == '<span class="photo-count">2 photos</span>'
    assert cell(one) == '<span class="photo-count">1 photo</span>'
    assert cell(none) == '<span class="photo-count none">no photos</span>'
    assert cell(not_shipped) == "-"  # no photos are asked of an order that never left


def with_phone(refund: Refund, phone: str) -> Refund:
    Order.objects.filter(pk=refund.order_id).update(receiver_phone=phone)
    return refund


def test_search_by_customer_phone_is_exact(agent: Any) -> None:
    customer = UserFactory(username="zhang_san")
    first = with_phone(pending_refund(customer), "13800138000")
    second = with_phone(pending_refund(customer), "13800138000")
    other = with_phone(pending_refund(), "13900139000")
    landline = with_phone(pending_refund(), "021-60000000")
    client = login(agent)
    assert set(listed(client.get(QUEUE, {"q": "13800138000"}))) == {first.refund_no, second.refund_no}
    assert set(listed(client.get(QUEUE, {"q": " 13900139000 "}))) == {other.refund_no}
    assert listed(client.get(QUEUE, {"q": "021-60000000"})) == [landline.refund_no]
    # Exact only: a part of a phone number matches nothing (it would need a scan of every order).
    assert listed(client.get(QUEUE, {"q": "1380013800"})) == []
    assert listed(client.get(QUEUE, {"q": "38001380"})) == []
    assert listed(client.get(QUEUE, {"q": "+8613800138000"})) == []
    # The other searches still work beside it.
    assert listed(client.get(QUEUE, {"q": other.refund_no})) == [other.refund_no]
    assert listed(client.get(QUEUE, {"q": first.order.order_no})) == [first.refund_no]
    assert set(listed(client.get(QUEUE, {"q": "zhang"}))) == {first.refund_no, second.refund_no}
    html = client.get(QUEUE).content.decode()
    assert "Exact refund number, order number or customer phone, or the start of a customer" in html


def test_phone_search_sql_is_an_equality_never_a_like(agent: Any) -> None:
    with_phone(pending_refund(), "13800138000")
    client = login(agent)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(QUEUE, {"q": "13800138000"}).status_code == 200
    on_orders = [q["sql"] for q in captured if "receiver_phone" in q["sql"]]
    assert len(on_orders) == 1
    assert "LIKE" not in on_orders[0].upper()
    assert "13800138000" in on_orders[0]


VIEWS: list[dict[str, str]] = [
    {"supervisor": "waiting"},
    {"supervisor": "cap", "overdue": "yes"},
    {"q": "13800138000"},
    {"q": "R00000000000000000000"},
]


def _queries(client: Any, params: dict[str, str]) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(QUEUE, params)
    assert response.status_code == 200
    return len(captured), len(listed(response))


def test_query_count_is_constant_for_the_new_filters_search_and_columns(agent: Any, media_root: Any) -> None:
    def make(n: int) -> None:
        for _ in range(n):
            refund = with_phone(overdue(above_cap(), hours=1), "13800138000")
            add_photos(refund, 1)

    make(3)
    client = login(agent)
    small = [_queries(client, params) for params in VIEWS]
    make(50)
    large = [_queries(client, params) for params in VIEWS]
    # session, user, permissions (2), the capped count, the page, its orders, customers and photo ids; a search
    # adds its two id lookups (orders by number or phone, customers by username); an empty page loads nothing more
    assert [count for count, _rows in small] == [9, 9, 11, 8]
    assert [count for count, _rows in large] == [9, 9, 11, 8]
    assert [rows for _count, rows in small] == [3, 3, 3, 0]
    assert [rows for _count, rows in large] == [50, 50, 50, 0]


NOW = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def test_supervisor_queue_figures_are_exact(supervisor: Any) -> None:
    with time_machine.travel(NOW - timedelta(hours=5), tick=False):
        old_cap = above_cap()  # due three hours ago
    with time_machine.travel(NOW, tick=False):
        above_cap()
        escalated()
        pending_refund()
        services.refund_approve(refund=above_cap(), actor=supervisor)  # decided: no longer waiting
        assert supervisor_queue() == SupervisorQueue(
            total=3, above_cap=2, escalated=1, overdue=1, oldest_due=Refund.objects.get(pk=old_cap.pk).due_at
        )


def test_empty_supervisor_queue(db: None) -> None:
    assert supervisor_queue() == SupervisorQueue(total=0, above_cap=0, escalated=0, overdue=0, oldest_due=None)


def test_supervisor_sees_what_waits_for_them_on_the_index_and_in_the_queue(supervisor: Any, agent: Any) -> None:
    with time_machine.travel(NOW - timedelta(hours=3), tick=False):
        late = above_cap()
    with time_machine.travel(NOW, tick=False):
        above_cap()
        escalated()
        pending_refund()
        html = login(supervisor).get("/admin/").content.decode()
    assert re.search(r'id="sup-total">3<', html)
    assert re.search(r'id="sup-cap">2<', html)
    assert re.search(r'id="sup-escalated">1<', html)
    assert re.search(r'id="sup-overdue">1<', html)
    assert "due first 2027-03-10 09:00" in html  # created 07:00 Shanghai, due two hours later
    assert late.due_at == datetime(2027, 3, 10, 1, 0, tzinfo=UTC)
    for preset in (
        "?supervisor=waiting",
        "?supervisor=cap",
        "?supervisor=escalated",
        "?supervisor=waiting&amp;overdue=yes",
    ):
        assert f'href="/admin/refunds/refund/{preset}"' in html
    queue = login(supervisor).get(QUEUE).content.decode()
    assert '<a id="preset-supervisor" href="?supervisor=waiting">Waiting for a supervisor: 3</a>' in queue
    # An agent works the queue but is not the one these wait for.
    assert 'id="supervisor-queue"' not in login(agent).get("/admin/").content.decode()
    assert 'id="preset-supervisor"' not in login(agent).get(QUEUE).content.decode()


def test_the_queue_says_it_in_chinese(agent: Any, media_root: Any) -> None:
    from django.test import Client

    cap, late = above_cap(), escalated()
    add_photos(cap, 2)
    client = Client()  # no Accept-Language: Simplified Chinese
    client.force_login(agent)
    html = client.get(QUEUE).content.decode()
    assert re.search(r'<th scope="col" class="column-supervisor_flag">\s*<div class="text"><span>主管</span>', html)
    assert re.search(r'<th scope="col" class="column-photo_count">\s*<div class="text"><span>照片</span>', html)
    assert '<span class="flag flag-cap">超上限</span>' in row_of(html, cap.refund_no)
    assert '<span class="photo-count">2 张照片</span>' in row_of(html, cap.refund_no)
    assert ">已升级</span>" in row_of(html, late.refund_no)
    assert '<span class="photo-count none">无照片</span>' in row_of(html, late.refund_no)
    assert "以 需主管审批" in html
    assert "完整的退款单号、订单号或顾客手机号，或顾客用户名的开头部分。" in html
