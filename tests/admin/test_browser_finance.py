"""Finance's pages and the queue at 1440 × 900 in Debian's chromium: everything finance acts on is on screen without
scrolling sideways, in Chinese and after switching to English with the header's button (no script involved)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from mall.roles import CS_SUPERVISOR, FINANCE
from mall.shoptime import shop_today
from payments.channels import RefundStatus, StatementLine
from reconciliation import services
from tests.admin.conftest import pending_refund
from tests.factories import UserFactory, staff_user
from tests.reconciliation.helpers import our_refund

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "pass-w0rd-for-tests"  # tests.factories.UserFactory's
WIDTH, HEIGHT = 1440, 900


@pytest.fixture
def signed_in(chromium: Any, live_server: Any) -> Iterator[Any]:
    contexts: list[Any] = []
    csp_violations: list[str] = []

    def sign_in(username: str) -> Any:
        context = chromium.new_context(
            locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": WIDTH, "height": HEIGHT}
        )
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#content-main")
        page.base = live_server.url
        return page

    yield sign_in
    for context in contexts:
        context.close()
    assert csp_violations == []


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_fits(page: Any, selectors: list[str]) -> None:
    """Nothing scrolls sideways (neither the page nor the list's own box), and each element is inside the window."""
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth,"
        " ...[...document.querySelectorAll('.results')].map(e => e.scrollWidth - e.clientWidth)]"
    )
    assert widths[0] <= WIDTH, widths
    assert all(extra <= 0 for extra in widths[1:]), widths
    for selector in selectors:
        located = page.locator(selector)
        assert located.count() >= 1, selector
        box = located.first.bounding_box()
        assert box is not None and box["width"] > 0, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (selector, box)


def reconciled_day() -> Any:
    day = shop_today()
    matched, _missing, differs = (our_refund("wechat", amount) for amount in ("30.00", "40.00", "1234.50"))
    statement = [
        StatementLine("O1", "T1", matched.out_refund_no, "5030001", Decimal("30.00"), RefundStatus.SUCCESS, None),
        StatementLine("O2", "T2", differs.out_refund_no, "5030002", Decimal("1234.00"), RefundStatus.SUCCESS, None),
    ]
    return services.reconciliation_complete(services.reconciliation_start(channel="wechat", day=day), iter(statement))


def test_finance_sees_counts_reports_amounts_and_flags_at_1440(signed_in: Any) -> None:
    staff_user(FINANCE, "finance_qian")
    run = reconciled_day()
    page = signed_in("finance_qian")
    assert page.locator("#finance-summary").count() == 1
    assert page.inner_text("#fin-open") == "2"

    for language in ("zh-hans", "en"):
        page.goto(f"{page.base}/admin/reconciliation/reconciliationrun/")
        assert page.get_attribute("html", "lang") == language
        assert page.inner_text("td.field-still_open") == "2"
        shot(page, f"finance_runs_{language}")
        assert_fits(page, ["td.field-still_open a", "a.report-csv", "a.report-xlsx", "td.field-finished"])

        page.click("td.field-still_open a")
        page.wait_for_selector("#result_list")
        assert page.locator("#result_list tbody tr").count() == 2
        shot(page, f"finance_discrepancies_{language}")
        assert_fits(
            page,
            [
                "td.field-our_amount_yuan",
                "td.field-channel_amount_yuan",
                "td.field-states",
                "td.field-is_resolved img",
            ],
        )
        assert "¥1,234.00" in page.inner_text("#result_list")
        assert "¥1,234.50" in page.inner_text("#result_list")

        page.goto(f"{page.base}/admin/reconciliation/reconciliationrun/dashboard/")
        assert page.inner_text("#fin-open") == "2"
        assert page.locator(f"#fin-runs tr[data-run='{run.pk}']").count() == 1
        shot(page, f"finance_dashboard_{language}")
        assert_fits(page, ["#fin-per-channel", "#fin-per-destination", "#fin-runs a[href$='report.xlsx']"])

        if language == "zh-hans":
            # The header's button switches the console to English, and back on the page it was pressed on.
            page.click("#language-switch button[value=en]")
            page.wait_for_selector("html[lang=en]")
            assert page.url.endswith("/admin/reconciliation/reconciliationrun/dashboard/")
            assert page.inner_text("#content h1") == "Finance dashboard"


def test_a_supervisor_works_what_waits_for_them_at_1440(signed_in: Any) -> None:
    staff_user(CS_SUPERVISOR, "lead_wu")
    # A long username (as the thousandth customer of a shop has) must wrap in its cell, not widen the list.
    waiting = pending_refund(UserFactory(username="customer-with-a-long-name-0001722"), price="2600.00", quantity="2")
    for _ in range(3):
        pending_refund()
    page = signed_in("lead_wu")
    assert page.inner_text("#sup-total") == "1"
    page.click("#supervisor-queue h2 a")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    assert page.inner_text("span.refund-no") == waiting.refund_no
    shot(page, "queue_supervisor_zh-hans")
    assert_fits(page, ["td.field-supervisor_flag .flag-cap", "td.field-photo_count", "td.field-age_and_due"])
    page.click("#language-switch button[value=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.inner_text("td.field-supervisor_flag") == "above cap"
    assert page.inner_text("td.field-photo_count") == "no photos"
    shot(page, "queue_supervisor_en")
    assert_fits(page, ["td.field-supervisor_flag .flag-cap", "td.field-photo_count", "td.field-age_and_due"])
