"""The refund queue: columns, urgency order, filters, index-only search, and a page cost that does not grow."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from refunds import services
from refunds.console import queue as refund_admin
from refunds.models import Refund
from tests.admin.conftest import failed_refund, login, pending_refund, refunded_refund
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
QUEUE = "/admin/refunds/refund/"


def listed(response: Any) -> list[str]:
    """Refund numbers in the order the page lists them."""
    return re.findall(
        r'class="field-refund_and_order"><a href="[^"]+"><span class="refund-no">(R\d+)</span>',
        response.content.decode(),
    )


def row_of(html: str, refund_no: str) -> str:
    match = re.search(rf"<tr>(?:(?!</tr>).)*?{refund_no}.*?</tr>", html, re.S)
    assert match is not None, refund_no
    return match.group(0)


def overdue(refund: Refund, hours: int) -> Refund:
    Refund.objects.filter(pk=refund.pk).update(due_at=timezone.now() - timedelta(hours=hours))
    return Refund.objects.get(pk=refund.pk)


def test_columns_show_money_in_yuan_and_highlight_overdue(agent: Any) -> None:
    late = overdue(pending_refund(price="1234.50", quantity="1"), hours=3)
    on_time = pending_refund(price="8.00", quantity="1")
    html = login(agent).get(QUEUE).content.decode()
    row = row_of(html, late.refund_no)
    assert "¥1,234.50" in row
    assert 'class="overdue"' in row
    assert late.order.order_no in row
    assert late.customer.username in row
    row = row_of(html, on_time.refund_no)
    assert "¥8.00" in row
    assert 'class="overdue"' not in row
    # due time in Asia/Shanghai
    due = timezone.localtime(on_time.due_at, timezone.get_fixed_timezone(480))
    assert f'<span class="nowrap">{due:%Y-%m-%d}</span> <span class="nowrap">{due:%H:%M}</span>' in row


def test_queue_is_sorted_by_urgency(agent: Any, supervisor: Any) -> None:
    done = refunded_refund(supervisor)
    soon = pending_refund()
    very_late = overdue(pending_refund(), hours=10)
    failed = failed_refund(supervisor)
    late = overdue(pending_refund(), hours=1)
    order = listed(login(agent).get(QUEUE))
    assert order == [very_late.refund_no, late.refund_no, soon.refund_no, failed.refund_no, done.refund_no]


def test_filters(agent: Any, supervisor: Any) -> None:
    wechat = pending_refund(channel="wechat")
    late = overdue(pending_refund(), hours=2)
    failed = failed_refund(supervisor)
    client = login(agent)
    assert set(listed(client.get(QUEUE, {"state__exact": "failed"}))) == {failed.refund_no}
    assert set(listed(client.get(QUEUE, {"channel__exact": "wechat"}))) == {wechat.refund_no}
    assert set(listed(client.get(QUEUE, {"overdue": "yes"}))) == {late.refund_no}
    assert set(listed(client.get(QUEUE, {"overdue": "no"}))) == {wechat.refund_no}
    assert set(listed(client.get(QUEUE, {"reason__exact": "quality_issue"}))) == {
        wechat.refund_no,
        late.refund_no,
        failed.refund_no,
    }
    assert listed(client.get(QUEUE, {"reason__exact": "compensation"})) == []
    assert set(listed(client.get(QUEUE, {"source__exact": "customer"}))) == {
        wechat.refund_no,
        late.refund_no,
        failed.refund_no,
    }
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    in_range = {"created_at__gte": today.isoformat(), "created_at__lt": (today + day).isoformat()}
    assert len(listed(client.get(QUEUE, in_range))) == 3
    yesterday = {"created_at__gte": (today - day).isoformat(), "created_at__lt": today.isoformat()}
    assert listed(client.get(QUEUE, yesterday)) == []


def test_search_by_refund_no_order_no_and_username_prefix(agent: Any) -> None:
    alice = UserFactory(username="alice_w")
    mine = pending_refund(alice)
    other = pending_refund(UserFactory(username="bob_w"))
    client = login(agent)
    assert listed(client.get(QUEUE, {"q": mine.refund_no})) == [mine.refund_no]
    assert listed(client.get(QUEUE, {"q": other.order.order_no})) == [other.refund_no]
    assert listed(client.get(QUEUE, {"q": "alice"})) == [mine.refund_no]
    # Exact numbers only: a fragment of a number matches nothing (it would need a full scan).
    assert listed(client.get(QUEUE, {"q": mine.refund_no[3:12]})) == []
    assert listed(client.get(QUEUE, {"q": "lice_w"})) == []
    assert listed(client.get(QUEUE, {"q": "ALICE"})) == [mine.refund_no]


def _queue_queries(client: Any, params: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(QUEUE, params or {})
    assert response.status_code == 200
    return len(captured)


QUEUE_VIEWS: list[dict[str, str]] = [
    {},
    {"q": "customer"},
    {"state__exact": "pending_review", "overdue": "yes"},
    {"channel__exact": "alipay", "reason__exact": "quality_issue"},
]


def test_changelist_query_count_does_not_grow_with_rows(agent: Any, django_assert_max_num_queries: Any) -> None:
    for _ in range(5):
        overdue(pending_refund(), hours=1)
    client = login(agent)
    small = [_queue_queries(client, params) for params in QUEUE_VIEWS]
    for _ in range(45):
        overdue(pending_refund(), hours=1)
    for params, budget in zip(QUEUE_VIEWS, small, strict=True):
        with django_assert_max_num_queries(budget):
            response = client.get(QUEUE, params)
        assert len(listed(response)) == 50
    assert [_queue_queries(client, params) for params in QUEUE_VIEWS] == small
    # session, user, the user's permissions (2), the capped count, the page, its orders, its customers and its
    # photos' ids; plus two id lookups for a search
    assert small == [9, 11, 9, 9]


def test_count_is_capped_not_a_full_table_count(agent: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(refund_admin, "COUNT_CAP", 3)
    for _ in range(4):
        pending_refund()
    client = login(agent)
    with CaptureQueriesContext(connection) as captured:
        html = client.get(QUEUE).content.decode()
    assert "more than 3 refunds" in html
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1
    assert "LIMIT 4" in counts[0].upper()
    monkeypatch.setattr(refund_admin, "COUNT_CAP", 10)
    assert "4 refunds" in client.get(QUEUE).content.decode()


def test_queue_order_uses_the_stored_rank(agent: Any) -> None:
    refund = pending_refund()
    assert Refund.objects.values_list("queue_rank", flat=True).get(pk=refund.pk) == 0
    services.refund_reject(refund=refund, actor=agent, note="no damage visible in the photos")
    assert Refund.objects.values_list("queue_rank", flat=True).get(pk=refund.pk) == 3
