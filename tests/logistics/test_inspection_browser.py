"""Inspect and pay in a real browser, in Chinese as the warehouse sees it: from the refund page, open the
inspection, record what arrived (one piece short), and confirm the amount shown: three clicks, no inline code.
Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from logistics.models import Inspection
from mall.models import SaleUnit
from mall.roles import CUSTOMER_SERVICE
from refunds.models import Refund
from tests.factories import staff_user
from tests.logistics.helpers import fruit, received_return

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "pass-w0rd-for-tests"  # tests.factories.UserFactory's


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_inspect_and_pay_in_three_clicks(chromium: Any, live_server: Any, customer: Any) -> None:
    agent = staff_user(CUSTOMER_SERVICE, "warehouse_wu")
    refund = received_return(customer, agent, (fruit("39.90"), "4"), (fruit("19.99", unit=SaleUnit.KILOGRAM), "2.5"))
    inspection = Inspection.objects.get(refund=refund)
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1440, "height": 1000})
    blocked: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/refunds/refund/{refund.pk}/change/")
        page.fill("#id_username", "warehouse_wu")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#inspection-workbench")
        shot(page, "inspection_refund_page")

        clicks = 0
        page.click("#inspection-link")  # 1: 记录并完成质检
        clicks += 1
        page.wait_for_selector("#inspection-record-form")
        assert page.locator("#inspection-complete-button").is_disabled()
        rows = page.locator("#inspection-record-form .inspection-unit")
        assert [rows.nth(i).inner_text() for i in range(rows.count())] == ["件", "kg"]
        first = refund.items.order_by("id").first()
        assert first is not None
        page.fill(f"input[name=item-{first.order_item_id}-received_quantity]", "3")
        shot(page, "inspection_form")
        page.click("#inspection-record-form input[type=submit]")  # 2: 记录并核对金额
        clicks += 1
        page.wait_for_selector("#inspection-pays")
        # 4 × 39.90 + 2.5 kg × 19.99 = 209.58 claimed; one piece short: 39.90 less.
        assert page.inner_text("#inspection-claimed") == "¥209.58"
        assert page.inner_text("#inspection-pays") == "¥169.68"
        assert page.get_attribute("#inspection-complete-button", "value") == "完成质检并退款 ¥169.68"
        shot(page, "inspection_confirm")
        page.click("#inspection-complete-button")  # 3: confirm
        clicks += 1
        page.wait_for_selector(".messagelist .success")
        assert f"{refund.refund_no}：质检完成，退款 ¥169.68" in page.inner_text(".messagelist")
        assert clicks == 3
        fresh = Refund.objects.get(pk=refund.pk)
        assert (fresh.state, fresh.amount) == ("refunding", Decimal("169.68"))
        assert Inspection.objects.get(pk=inspection.pk).status == "completed"
    finally:
        context.close()
    assert blocked == []
