"""Finance's dashboard: open discrepancies, money refunded per channel and destination on today's and yesterday's
Asia/Shanghai business days, the latest runs; exact figures in a fixed number of queries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from mall.shoptime import SHOP_TZ
from payments.channels import RefundStatus, StatementLine
from reconciliation import services
from reconciliation.models import Discrepancy, ReconciliationRun
from reconciliation.selectors import (
    ORIGINAL,
    Subtotal,
    finance_dashboard,
    finance_summary,
    open_discrepancies,
    refunded_days,
)
from refunds.models import Refund, RefundDestination, RefundState
from tests.admin.conftest import login
from tests.reconciliation.helpers import our_refund

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 on 03-10 in Shanghai
TODAY, YESTERDAY = date(2027, 3, 10), date(2027, 3, 9)
DASHBOARD = "admin:reconciliation_finance_dashboard"


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=SHOP_TZ)


@pytest.fixture
def refunded() -> None:
    """Refunds confirmed around the two business days' edges, on both channels."""
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        our_refund("alipay", "1000.00", refunded_at=shanghai(8, 23, 59))  # the day before yesterday
        our_refund("alipay", "30.00", refunded_at=shanghai(9, 0, 0))  # yesterday, first second
        our_refund("wechat", "1234.50", refunded_at=shanghai(9, 23, 59))  # yesterday, last minute
        our_refund("alipay", "20.10", refunded_at=shanghai(10, 0, 30))  # today
        our_refund("alipay", "5000.00", refunded_at=shanghai(10, 9, 0))  # today
        our_refund("wechat", "66.60", state=RefundState.FAILED)  # no money went back
        our_refund("wechat", "77.70", state=RefundState.REFUNDING)  # not yet


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Labels are read in English (the msgids); the page's own test reads Chinese."""
    with translation.override("en"):
        yield


def test_refunded_per_channel_and_destination_on_shanghai_days(refunded: None) -> None:
    yesterday, today = refunded_days([YESTERDAY, TODAY])
    assert (yesterday.day, yesterday.count, yesterday.amount) == (YESTERDAY, 2, Decimal("1264.50"))
    assert (today.day, today.count, today.amount) == (TODAY, 2, Decimal("5020.10"))
    assert today.by_channel() == [
        Subtotal("alipay", "Alipay", 2, Decimal("5020.10")),
        Subtotal("wechat", "WeChat Pay", 0, Decimal("0.00")),
    ]
    assert yesterday.by_channel() == [
        Subtotal("alipay", "Alipay", 1, Decimal("30.00")),
        Subtotal("wechat", "WeChat Pay", 1, Decimal("1234.50")),
    ]
    # Every refund went back the way it came.
    assert today.by_destination() == [Subtotal(ORIGINAL, "original payment", 2, Decimal("5020.10"))]
    assert yesterday.by_destination() == [Subtotal(ORIGINAL, "original payment", 2, Decimal("1264.50"))]


def test_other_destinations_split_the_figures(refunded: None) -> None:
    # Today's ¥20.10 went to store credit: it counts under its destination, and still under its channel.
    Refund.objects.filter(amount=Decimal("20.10")).update(destination=RefundDestination.STORE_CREDIT)
    (today,) = refunded_days([TODAY])
    assert today.by_destination() == [
        Subtotal(ORIGINAL, "original payment", 1, Decimal("5000.00")),
        Subtotal("store_credit", "store credit", 1, Decimal("20.10")),
    ]
    assert today.by_channel() == [
        Subtotal("alipay", "Alipay", 2, Decimal("5020.10")),
        Subtotal("wechat", "WeChat Pay", 0, Decimal("0.00")),
    ]


def line(number: str, amount: str) -> StatementLine:
    return StatementLine("ORD1", "T1", number, "5030001", Decimal(amount), RefundStatus.SUCCESS, shanghai(8, 12))


@pytest.fixture
def runs(finance: Any) -> dict[str, ReconciliationRun]:
    """The day before yesterday on WeChat Pay: one line matched, one amount differs, one line unknown to us, one
    refund missing at the channel (resolved since). Three days ago on Alipay: one line unknown to us."""
    with time_machine.travel(NOW, tick=False):
        matched = our_refund("wechat", "30.00", refunded_at=shanghai(8, 8))
        differs = our_refund("wechat", "40.00", refunded_at=shanghai(8, 9))
        missing = our_refund("wechat", "50.00", refunded_at=shanghai(8, 10))
        statement = [line(matched.out_refund_no, "30.00"), line(differs.out_refund_no, "44.00"), line("X1", "8.80")]
        wechat = services.reconciliation_complete(
            services.reconciliation_start(channel="wechat", day=date(2027, 3, 8)), iter(statement)
        )
        services.discrepancy_resolve(
            discrepancy=Discrepancy.objects.get(refund=missing), actor=finance, note="paid on 03-10"
        )
        alipay = services.reconciliation_complete(
            services.reconciliation_start(channel="alipay", day=date(2027, 3, 7)), iter([line("X2", "1.00")])
        )
    return {"wechat": wechat, "alipay": alipay}


def test_open_discrepancies_per_kind_and_channel(runs: dict[str, ReconciliationRun]) -> None:
    figures = open_discrepancies()
    assert figures.total == 3
    assert {row.key: row.count for row in figures.by_kind} == {
        "missing_at_channel": 0,
        "missing_with_us": 2,
        "amount_differs": 1,
        "status_differs": 0,
        "listed_twice": 0,
    }
    assert [(row.key, row.label, row.count) for row in figures.by_channel] == [
        ("alipay", "Alipay", 1),
        ("wechat", "WeChat Pay", 2),
    ]
    assert figures.oldest_day == date(2027, 3, 7)


def test_nothing_open_nothing_refunded(db: None) -> None:
    with time_machine.travel(NOW, tick=False):
        dash = finance_dashboard()
    assert (dash.discrepancies.total, dash.discrepancies.oldest_day, dash.runs) == (0, None, [])
    assert (dash.today.count, dash.today.amount, dash.yesterday.amount) == (0, Decimal("0.00"), Decimal("0.00"))
    assert [(row.key, row.today.count, row.yesterday.count) for row in dash.per_channel()] == [
        ("alipay", 0, 0),
        ("wechat", 0, 0),
    ]


def cells(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table class="console-table[^"]*" id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None, table
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def test_finance_dashboard_page(finance: Any, refunded: None, runs: dict[str, ReconciliationRun]) -> None:
    with time_machine.travel(NOW, tick=False):
        client = login(finance)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse(DASHBOARD))
    assert response.status_code == 200
    html = response.content.decode()
    # session, user, permissions (2), then the page's three: refunded per day, open discrepancies, runs
    assert len(captured) == 7
    assert re.search(r'id="fin-open">3<', html)
    assert "oldest business day 2027-03-07" in html
    assert re.search(r'id="fin-today">¥5,020.10<', html)
    assert re.search(r'id="fin-yesterday">¥1,264.50<', html)
    assert re.search(r'id="fin-yesterday-count">2 refunds<', html)
    assert "refunded today 2027-03-10" in html
    assert cells(html, "fin-per-channel") == [
        ["Alipay", "¥5,020.10", "2", "¥30.00", "1"],
        ["WeChat Pay", "¥0.00", "0", "¥1,234.50", "1"],
    ]
    assert cells(html, "fin-per-destination") == [["original payment", "¥5,020.10", "2", "¥1,264.50", "2"]]
    assert cells(html, "fin-open-by-kind") == [["0", "2", "1", "0", "0", "1", "2"]]
    wechat = runs["wechat"]
    # the runs of the last three business days (03-08 to 03-10): not Alipay's of 03-07
    assert cells(html, "fin-runs") == [["2027-03-08", "WeChat Pay", "succeeded", "¥82.80", "2", "CSV | XLSX"]]
    assert reverse("admin:reconciliation_run_xlsx", args=[wechat.pk]) in html
    assert f'?run__id__exact={wechat.pk}&amp;resolved=no">2</a>' in html
    # The runs list links to the page.
    assert (
        reverse(DASHBOARD) in client.get(reverse("admin:reconciliation_reconciliationrun_changelist")).content.decode()
    )


def test_finance_dashboard_speaks_chinese(finance: Any, refunded: None) -> None:
    from django.test import Client

    with time_machine.travel(NOW, tick=False):
        client = Client()  # no Accept-Language: the console's default, Simplified Chinese
        client.force_login(finance)
        html = client.get(reverse(DASHBOARD)).content.decode()
    assert "财务看板" in html
    assert cells(html, "fin-per-channel")[0] == ["支付宝", "¥5,020.10", "2", "¥30.00", "1"]
    assert cells(html, "fin-per-destination") == [["原支付方式", "¥5,020.10", "2", "¥1,264.50", "2"]]


def test_finance_summary_on_the_index(finance: Any, agent: Any, refunded: None, runs: dict[str, Any]) -> None:
    with time_machine.travel(NOW, tick=False):
        summary = finance_summary()
        html = login(finance).get("/admin/").content.decode()
        agent_html = login(agent).get("/admin/").content.decode()
    assert (summary.open_discrepancies, summary.today.amount, summary.yesterday.amount) == (
        3,
        Decimal("5020.10"),
        Decimal("1264.50"),
    )
    assert re.search(r'id="fin-open">3<', html)
    assert re.search(r'id="fin-today">¥5,020.10<', html)
    assert re.search(r'id="fin-yesterday">¥1,264.50<', html)
    assert f'href="{reverse(DASHBOARD)}"' in html
    assert 'id="finance-summary"' not in agent_html


def test_agents_and_supervisors_may_not_open_it(agent: Any, supervisor: Any) -> None:
    assert login(agent).get(reverse(DASHBOARD)).status_code == 403
    assert login(supervisor).get(reverse(DASHBOARD)).status_code == 403
    anonymous = login(agent)
    anonymous.logout()
    response = anonymous.get(reverse(DASHBOARD))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_page_has_no_inline_code(finance: Any, runs: dict[str, Any]) -> None:
    from tests.admin.test_csp import assert_no_inline_code

    response = login(finance).get(reverse(DASHBOARD))
    assert response.status_code == 200
    assert_no_inline_code(response.content.decode())
