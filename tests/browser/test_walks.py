"""The common tasks, walked end to end in the browser on the demo shop of ``make run``, as the staff do them:
an agent approves a claim, rejects another (and compensates a late delivery), inspects a returned box (and the
refund is paid), resolves a dispute with compensation; finance reconciles the day, downloads both reports and
reads refunds without deciding them. Each task starts on the console's home page (or the page it is done from)
and counts its clicks (``pages.Console``)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from mall.roles import CUSTOMER_SERVICE, FINANCE
from mall.shoptime import shop_today
from reconciliation.models import Discrepancy, DiscrepancyKind, ReconciliationRun
from refunds.models import Dispute, Refund, RefundReason, RefundState
from tests.browser import pages
from tests.browser.demo import claim
from tests.browser.pages import SignIn, Walk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.demo_customers(3)
def test_an_agent_approves_the_most_urgent_claim_and_the_money_goes_back(console: SignIn, walk: Walk) -> None:
    agent = console(CUSTOMER_SERVICE)
    agent.shot("home")
    assert agent.page.locator("#dash-overdue").inner_text() == "1"

    agent.open_from_home(pages.REFUNDS)
    agent.shot("queue")
    durians = claim("DUR-MSW-1")
    top = agent.queue_rows().first.inner_text()
    assert durians.refund_no in top and "待审核" in top and "¥596.00" in top and "已超时" in top
    assert agent.queue_rows().count() == 10  # the demo's refunds: 4 to review, 1 inspecting, 1 rejected, 4 refunded
    agent.open_refund(durians.refund_no)
    assert agent.refund_state() == "待审核"
    assert "¥596.00" in agent.workbench() and "质量问题" in agent.workbench()
    agent.shot("refund_page")
    agent.approve()
    walk("approve", agent)

    assert f"同意：退款 {durians.refund_no} 当前状态为“退款中”。" in agent.messages()
    assert agent.refund_state() == "已退款"  # paid by the channel before the page came back
    paid = Refund.objects.get(pk=durians.pk)
    assert (paid.state, paid.reviewed_by.username, paid.amount) == (RefundState.REFUNDED, "agent", Decimal("596.00"))
    assert agent.clicks == 3


def test_an_agent_rejects_a_claim_with_a_reason_and_compensates_the_delay(console: SignIn, walk: Walk) -> None:
    kiwis = claim("KIW-XA-12")
    reason = "猕猴桃需常温放置 3–5 天催熟，偏硬不属于质量问题"
    agent = console(CUSTOMER_SERVICE)
    agent.open_from_home(pages.REFUNDS)
    agent.queue_search(kiwis.order.order_no)  # the customer on the phone gives the order number
    assert agent.queue_rows().count() == 1
    agent.open_refund(kiwis.refund_no)
    assert "¥45.00" in agent.workbench() and agent.refund_state() == "待审核"
    agent.reject(reason)
    walk("reject with a reason", agent)

    assert f"拒绝：退款 {kiwis.refund_no} 当前状态为“已拒绝”。" in agent.messages()
    assert agent.refund_state() == "已拒绝"
    assert reason in agent.page.locator("#refund-timeline").inner_text()
    rejected = Refund.objects.get(pk=kiwis.pk)
    assert (rejected.state, rejected.decision_note, rejected.reviewed_by.username) == (
        RefundState.REJECTED,
        reason,
        "agent",
    )
    assert agent.clicks == 4

    # The delivery was a day late, though: a goodwill compensation from the same page.
    agent.start_counting()
    agent.compensate(percent="10", reason="配送延误一天")
    walk("compensation refund", agent)

    compensation = Refund.objects.get(order=kiwis.order, reason=RefundReason.COMPENSATION)
    assert (compensation.amount, compensation.created_by.username) == (Decimal("9.00"), "agent")
    assert compensation.refund_no in agent.main.inner_text() and "¥9.00" in agent.workbench()
    assert agent.refund_state() == "已退款"
    assert agent.clicks == 2


def test_an_agent_inspects_a_returned_box_and_the_refund_is_paid(console: SignIn, walk: Walk) -> None:
    apples = claim("APL-FUJI-5", RefundState.INSPECTING)
    agent = console(CUSTOMER_SERVICE)
    agent.open_from_home(pages.REFUNDS)
    agent.click(agent.page.locator("#changelist-filter").get_by_role("link", name="质检中"), "质检中")
    agent.open_refund(apples.refund_no)
    assert agent.refund_state() == "质检中" and "¥79.80" in agent.workbench()
    agent.inspect_and_complete(apples.refund_no, received="2")
    walk("inspect and pay", agent)

    assert f"{apples.refund_no}：质检完成，退款 ¥79.80" in agent.messages()
    agent.goto(f"/admin/refunds/refund/{apples.pk}/change/")
    assert agent.refund_state() == "已退款"
    assert "可二次销售" in agent.page.locator("#refund-warehouse").inner_text()
    paid = Refund.objects.get(pk=apples.pk)
    assert (paid.state, paid.amount) == (RefundState.REFUNDED, Decimal("79.80"))
    assert agent.clicks == 11


def test_an_agent_resolves_a_dispute_with_compensation_and_it_is_paid(console: SignIn, walk: Walk) -> None:
    dispute = Dispute.objects.get()
    agent = console(CUSTOMER_SERVICE)
    agent.open_from_home(pages.DISPUTES)
    agent.open_dispute(dispute.dispute_no)
    assert "有一半车厘子裂口发霉" in agent.main.inner_text()
    agent.shot("dispute")
    agent.resolve_with_compensation(amount="44.00", note="电话确认一半车厘子裂口，按一半补偿")
    walk("resolve a dispute with compensation", agent)

    resolved = Dispute.objects.select_related("resolution_refund").get(pk=dispute.pk)
    refund = resolved.resolution_refund
    assert refund is not None
    assert f"纠纷已处理：退款 {refund.refund_no}，金额 ¥44.00，退款中。" in agent.messages()
    assert "已退款" in agent.main.inner_text() and "¥44.00" in agent.main.inner_text()
    assert (resolved.outcome, refund.state, refund.amount) == ("partial", RefundState.REFUNDED, Decimal("44.00"))
    assert agent.clicks == 4


def test_finance_reconciles_the_day_downloads_both_reports_and_reads_refunds_only(console: SignIn, walk: Walk) -> None:
    day = shop_today()
    finance = console(FINANCE)
    finance.open_from_home(pages.RUNS)
    finance.start_reconciliation(channel="支付宝", day=f"{day:%Y-%m-%d}", replace=True)
    run = ReconciliationRun.objects.get(channel="alipay", business_day=day)
    finance.shot("reconciliation_runs")
    csv_bytes = finance.download(run.pk, "CSV")
    xlsx_bytes = finance.download(run.pk, "XLSX")
    walk("reconcile and download both reports", finance)

    assert "支付宝" in finance.messages()
    row = finance.run_row(run.pk).inner_text()
    assert "已完成" in row and "¥61.00" in row  # the refund before shipping (¥51.00) and the one made by hand
    by_hand = Discrepancy.objects.get(run=run)
    assert (by_hand.kind, by_hand.channel_amount, by_hand.refund) == (
        DiscrepancyKind.MISSING_WITH_US,
        Decimal("10.00"),
        None,
    )
    lines = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    assert lines[0][:4] == ["差异类别", "渠道请求号", "我方退款单号", "我方金额（元）"]
    assert len(lines) == 2 and lines[1][:2] == ["我方缺失", by_hand.out_refund_no] and lines[1][5] == "10.00"
    sheet = load_workbook(io.BytesIO(xlsx_bytes))["差异明细"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:L2"
    assert (sheet["B2"].value, sheet["F2"].value) == (by_hand.out_refund_no, 10)

    finance.goto("/admin/reconciliation/discrepancy/?resolved=no")
    assert by_hand.out_refund_no in finance.main.inner_text() and "¥10.00" in finance.main.inner_text()
    finance.shot("discrepancies")
    assert finance.clicks == 7

    # Refunds are finance's to read, not to decide.
    strawberries = claim("STR-DD-500")
    finance.goto("/admin/refunds/refund/")
    assert finance.page.locator("select[name=action]").count() == 0
    finance.open_refund(strawberries.refund_no)
    assert finance.refund_state() == "待审核" and "¥49.00" in finance.workbench()
    assert finance.page.locator("#refund-workbench form, #note-form").count() == 0
    assert finance.page.get_by_role("link", name=pages.COMPENSATION_REFUND).count() == 0
    assert finance.page.get_by_role("img", name="凭证照片 1").is_visible()
