"""The admin index's dashboard: exact figures on Asia/Shanghai days, and a 14-day chart drawn as inline SVG."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from refunds import services
from refunds.selectors import dashboard
from tests.admin.conftest import failed_refund, login, pending_refund, refunded_refund

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def at(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def history(supervisor: Any) -> dict[str, Any]:
    made: dict[str, Any] = {}
    with at(NOW - timedelta(days=15)):
        made["old"] = refunded_refund(supervisor, price="5.00")  # 10.00, outside the window
    with at(NOW - timedelta(days=3)):
        made["d3"] = refunded_refund(supervisor, price="10.00")  # 20.00 on 03-07
    with at(datetime(2027, 3, 9, 15, 0, tzinfo=UTC)):  # 23:00 on 03-09 in Shanghai: yesterday, but < 24 h ago
        made["late_yesterday"] = refunded_refund(supervisor, price="20.00")  # 40.00
    with at(datetime(2027, 3, 9, 16, 30, tzinfo=UTC)):  # 00:30 on 03-10 in Shanghai: today
        made["today"] = refunded_refund(supervisor, price="15.00")  # 30.00
    with at(NOW - timedelta(hours=3)):
        made["overdue"] = pending_refund()  # due after 2 hours: 1 hour late now
    with at(NOW):
        made["failed"] = failed_refund(supervisor)
        made["fresh"] = pending_refund()
        made["refunding"] = services.refund_approve(refund=pending_refund(), actor=supervisor)
    return made


def test_dashboard_figures_are_exact(history: dict[str, Any]) -> None:
    dash = dashboard(NOW)
    assert {state: count for state, _label, count in dash.pending_by_state} == {
        "pending_review": 2,
        "failed": 1,
        "awaiting_transfer": 0,
        "inspecting": 0,
        "awaiting_return": 0,
        "return_in_transit": 0,
        "intercepting": 0,
        "approved": 0,
        "refunding": 1,
        "replacing": 0,
    }
    assert dash.pending_total == 4
    assert dash.overdue == 1
    assert (dash.refunded_today_count, dash.refunded_today_amount) == (1, Decimal("30.00"))
    # last 24 hours: refunded 23:00 yesterday and 00:30 today, failed now
    assert (dash.outcomes_24h, dash.failed_24h, dash.failure_rate_24h) == (3, 1, Decimal("33.3"))
    assert [d.day for d in dash.days] == [date(2027, 2, 25) + timedelta(days=i) for i in range(14)]
    by_day = {d.day: (d.applied, d.refunded, d.refunded_amount) for d in dash.days if d.applied or d.refunded}
    assert by_day == {
        date(2027, 3, 7): (1, 1, Decimal("20.00")),
        date(2027, 3, 9): (1, 1, Decimal("40.00")),
        date(2027, 3, 10): (5, 1, Decimal("30.00")),
    }


def test_no_outcomes_means_no_failure_rate(db: None) -> None:
    dash = dashboard(NOW)
    assert (dash.outcomes_24h, dash.failure_rate_24h, dash.pending_total, dash.overdue) == (0, None, 0, 0)


def test_admin_index_shows_the_dashboard_and_chart(history: dict[str, Any], agent: Any) -> None:
    with at(NOW):
        client = login(agent)
        with CaptureQueriesContext(connection) as captured:
            html = client.get("/admin/").content.decode()
    assert re.search(r'id="dash-overdue">1<', html)
    assert re.search(r'id="dash-pending">4<', html)
    assert re.search(r'id="dash-refunded-today">¥30.00<', html)
    assert "1 refund<" in html
    assert re.search(r'id="dash-failure-rate">33.3%<', html)
    assert '<td data-state="pending_review">2</td>' in html
    start = html.index('<svg class="refund-chart"')
    svg = html[start : html.index("</svg>", start)]
    # Nothing from another host (a random CSP nonce may spell "cdn", so the addresses are what is checked).
    assert re.findall(r'(?:src|href)="((?:https?:)?//[^"]*)"', html) == []
    assert "<script" not in svg
    assert svg.count('<rect class="applied"') == 14
    assert "<title>03-10 refunded: 1 (¥30.00)</title>" in svg
    assert "<title>03-10 applied: 5</title>" in svg
    assert "<title>03-08 applied: 0</title>" in svg
    # session, user, permissions (2), five dashboard queries, and the admin's own log of recent actions
    assert len(captured) <= 11
