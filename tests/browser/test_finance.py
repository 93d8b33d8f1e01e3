"""Finance's day in the browser on the demo shop: the home page's summary, the dashboard (open discrepancies, money
refunded per channel and per destination, today and yesterday, the latest runs with their reports), the open
discrepancies one click away; and the console switched to English and back, one date format in both."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mall.roles import FINANCE
from mall.shoptime import shop_localtime, shop_today
from reconciliation.models import Discrepancy
from tests.browser import pages
from tests.browser.demo import claim
from tests.browser.pages import SignIn, Walk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.split("\t")]


def test_finance_reads_the_day_on_its_dashboard_and_opens_what_is_left_to_resolve(console: SignIn, walk: Walk) -> None:
    today, yesterday = shop_today(), shop_today() - timedelta(days=1)
    by_hand = Discrepancy.objects.get()  # the demo's one real discrepancy: a refund made in Alipay's own console
    finance = console(FINANCE)
    # The home page's summary: what finance acts on first.
    assert [finance.page.locator(f"#finance-summary #{box}").inner_text() for box in ("fin-open", "fin-today")] == [
        "1",
        "¥71.16",  # the refund before shipping (Alipay, ¥51.00) and 1.2 kg of mangoes (WeChat Pay, ¥20.16)
    ]
    finance.open_finance_dashboard()
    walk("finance dashboard", finance)

    dashboard = finance.page
    assert finance.main.locator("h1").inner_text() == "财务看板"
    assert dashboard.locator("#fin-open").inner_text() == "1"
    assert dashboard.locator("#fin-oldest").inner_text() == f"最早业务日 {today:%Y-%m-%d}"
    assert [dashboard.locator(f"#{box}").inner_text() for box in ("fin-today", "fin-today-count")] == [
        "¥71.16",
        "2 笔退款",
    ]
    assert [dashboard.locator(f"#{box}").inner_text() for box in ("fin-yesterday", "fin-yesterday-count")] == [
        "¥0.00",
        "0 笔退款",
    ]
    assert f"昨日已退款 {yesterday:%Y-%m-%d}" in finance.main.inner_text()
    per_channel = dashboard.locator("#fin-per-channel tbody tr").all_inner_texts()
    assert [cells(row) for row in per_channel] == [
        ["支付宝", "¥51.00", "1", "¥0.00", "0"],
        ["微信支付", "¥20.16", "1", "¥0.00", "0"],
    ]
    per_destination = dashboard.locator("#fin-per-destination tbody tr").all_inner_texts()
    assert [cells(row) for row in per_destination] == [["原支付方式", "¥71.16", "2", "¥0.00", "0"]]
    runs = dashboard.locator("#fin-runs tbody tr").all_inner_texts()
    assert [cells(row) for row in runs] == [
        [f"{today:%Y-%m-%d}", "支付宝", "已完成", "¥61.00", "1", "CSV | XLSX"],
        [f"{today:%Y-%m-%d}", "微信支付", "已完成", "¥20.16", "0", "CSV | XLSX"],
    ]
    finance.shot("finance_dashboard")

    start = finance.mark()
    card = dashboard.locator("#content-main .dash-card").filter(has=dashboard.locator("#fin-open"))
    finance.follow(card.get_by_role("link", name=pages.OPEN_DISCREPANCIES), pages.OPEN_DISCREPANCIES)
    walk("open discrepancies from the finance dashboard", finance, since=start)
    rows = finance.page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert by_hand.out_refund_no in rows.first.inner_text() and "¥10.00" in rows.first.inner_text()
    assert "我方缺失" in rows.first.inner_text()


def test_staff_switch_the_console_to_english_and_back(console: SignIn, walk: Walk) -> None:
    today = shop_today()
    strawberries = claim("STR-DD-500")
    finance = console(FINANCE)
    finance.goto("/admin/reconciliation/reconciliationrun/dashboard/")
    assert finance.language_chosen() == pages.CHINESE
    start = finance.mark()

    finance.switch_language(pages.ENGLISH)
    assert finance.language_chosen() == pages.ENGLISH
    assert finance.page.url.endswith("/admin/reconciliation/reconciliationrun/dashboard/")  # the same page
    assert finance.main.locator("h1").inner_text() == "Finance dashboard"
    assert finance.page.locator("html").get_attribute("lang") == "en"
    per_channel = finance.page.locator("#fin-per-channel tbody tr").all_inner_texts()
    assert [cells(row) for row in per_channel] == [
        ["Alipay", "¥51.00", "1", "¥0.00", "0"],
        ["WeChat Pay", "¥20.16", "1", "¥0.00", "0"],
    ]
    assert f"oldest business day {today:%Y-%m-%d}" in finance.page.locator("#fin-oldest").inner_text()
    finance.shot("finance_dashboard_en")

    # Every page after it speaks English, with the same ¥ amounts and the same dates.
    finance.goto(f"/admin/refunds/refund/{strawberries.pk}/change/")
    assert (finance.refund_state(), finance.refund_amount()) == ("pending review", "¥49.00")
    created = f"{shop_localtime(strawberries.created_at):%Y-%m-%d %H:%M}"
    assert created in finance.timeline() and "Timeline" in finance.timeline()

    finance.switch_language(pages.CHINESE)
    walk("switch the console to English and back", finance, since=start)
    assert finance.language_chosen() == pages.CHINESE
    assert (finance.refund_state(), finance.refund_amount()) == ("待审核", "¥49.00")
    assert created in finance.timeline() and "时间线" in finance.timeline()
    finance.goto("/admin/")
    assert finance.page.locator("#finance-summary h2").inner_text() == pages.FINANCE_DASHBOARD
