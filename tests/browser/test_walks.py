"""The common tasks, walked end to end in the browser on the demo shop of ``make run``, as the staff do them:
an agent approves the most urgent claim and goes on to the next, rejects another with a preset reason (and
compensates a late delivery), inspects a returned box (and the refund is paid), resolves a dispute with
compensation; finance reconciles the day, downloads both reports and reads refunds without deciding them. Each
task starts on the console's home page (or the page it is done from) and counts its clicks (``pages.Console``)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from logistics.models import Inspection, InspectionStatus
from mall.roles import CUSTOMER_SERVICE, FINANCE
from mall.shoptime import shop_today
from reconciliation.models import Discrepancy, DiscrepancyKind, ReconciliationRun
from refunds.models import Dispute, Refund, RefundReason, RefundState
from tests.browser import pages
from tests.browser.demo import claim
from tests.browser.pages import SignIn, Walk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The preset rejection reasons a shop starts with (refunds/migrations/0005), as an agent reads them.
PRESET_REASONS = ["照片不能证明质量问题", "已超过售后期", "商品已签收且无质量问题", "重复申请", "其他"]


def test_an_agent_approves_the_most_urgent_claim_and_goes_on_to_the_next(console: SignIn, walk: Walk) -> None:
    durians, strawberries = claim("DUR-MSW-1"), claim("STR-DD-500")
    agent = console(CUSTOMER_SERVICE)
    agent.shot("home")
    assert agent.page.locator("#dash-overdue").inner_text() == "1"

    agent.open_from_home(pages.REFUNDS)
    agent.shot("queue")
    # The demo's refunds, most urgent first: 4 to review, 1 inspecting, 1 rejected, 2 refunded.
    assert agent.queue_rows().count() == 8
    top = agent.queue_rows().first.inner_text()
    assert durians.refund_no in top and "待审核" in top and "¥596.00" in top and "已超时" in top
    agent.open_refund(durians.refund_no)
    # What the decision needs, before the buttons: amount, items with their unit, the customer's words and
    # photo, their history, the order and its shipment, the timeline.
    assert (agent.refund_state(), agent.refund_amount()) == ("待审核", "¥596.00")
    items = agent.page.locator("#refund-items").inner_text()
    assert "猫山王榴莲 (整个)" in items and "2 件 × ¥298.00" in items and "质量问题" in agent.workbench()
    assert agent.page.locator("#refund-description").inner_text() == "两个榴莲开口都发酸了"
    assert agent.page.get_by_role("img", name="凭证照片 1").first.is_visible()
    assert agent.page.locator("#history-orders").inner_text() == "17"  # the demo customer's paid orders
    assert durians.order.order_no in agent.page.locator("#refund-order").inner_text()
    assert "待审核" in agent.timeline()
    assert agent.can(pages.APPROVE_AND_NEXT) and agent.can(pages.REJECT_AND_NEXT)
    agent.shot("refund_page")
    agent.approve(and_next=True)
    walk("approve", agent)

    assert f"同意：退款 {durians.refund_no} 当前状态为“退款中”。" in agent.messages()
    # On to the next claim waiting for this agent, in the queue's order.
    assert (agent.refund_no(), agent.refund_state(), agent.refund_amount()) == (
        strawberries.refund_no,
        "待审核",
        "¥49.00",
    )
    # Paid by the channel before the next page came.
    assert Refund.objects.filter(pk=durians.pk).values_list("state", "reviewed_by__username", "amount").get() == (
        RefundState.REFUNDED,
        "agent",
        Decimal("596.00"),
    )
    assert agent.clicks == 3
    agent.goto(f"/admin/refunds/refund/{durians.pk}/change/")
    assert agent.refund_state() == "已退款" and "待审核 → 已同意" in agent.timeline()

    # A customer calling about it is found by the phone number their orders were sent to.
    agent.goto("/admin/refunds/refund/")
    agent.queue_search(durians.order.receiver_phone)
    assert durians.refund_no in agent.queue_row(durians.refund_no) and "已退款" in agent.queue_row(durians.refund_no)
    assert agent.queue_rows().count() == 8  # the demo customer's refunds: every order went to the same phone


def test_an_agent_rejects_a_claim_with_a_preset_reason_and_compensates_the_delay(console: SignIn, walk: Walk) -> None:
    kiwis = claim("KIW-XA-12")
    agent = console(CUSTOMER_SERVICE)

    # "Other" needs the agent's own words: without them the page answers at the field, the reason still chosen.
    agent.goto(f"/admin/refunds/refund/{kiwis.pk}/change/")
    form = agent.page.locator("#act-reject")
    form.get_by_role("radio", name="其他", exact=True).check()
    with agent.page.expect_navigation():
        form.get_by_role("button", name=pages.REJECT, exact=True).click()
    form = agent.page.locator("#act-reject")
    assert form.locator(".act-note .errorlist").inner_text() == "选择该原因时请补充说明。"
    assert form.get_by_role("radio", name="其他", exact=True).is_checked()
    assert agent.refund_state() == "待审核"
    untouched = Refund.objects.get(pk=kiwis.pk)
    assert (untouched.state, untouched.rejection_reason_id, untouched.state_changed_at) == (
        RefundState.PENDING_REVIEW,
        None,
        kiwis.state_changed_at,
    )

    agent.goto("/admin/")
    agent.start_counting()
    agent.open_from_home(pages.REFUNDS)
    agent.queue_search(kiwis.order.order_no)  # the customer on the phone gives the order number
    assert agent.queue_rows().count() == 1
    agent.open_refund(kiwis.refund_no)
    assert (agent.refund_state(), agent.refund_amount()) == ("待审核", "¥45.00")
    assert agent.page.locator("#refund-description").inner_text() == "猕猴桃很硬，咬不动"
    assert agent.reasons_offered() == PRESET_REASONS
    agent.reject("商品已签收且无质量问题")
    walk("reject with a preset reason", agent)

    assert f"拒绝：退款 {kiwis.refund_no} 当前状态为“已拒绝”。" in agent.messages()
    assert agent.refund_state() == "已拒绝"
    assert agent.page.locator("#refund-rejection").inner_text() == "已拒绝：商品已签收且无质量问题"
    assert "待审核 → 已拒绝" in agent.timeline() and "商品已签收且无质量问题" in agent.timeline()
    rejected = Refund.objects.filter(pk=kiwis.pk)
    assert rejected.values_list("state", "rejection_reason__code", "decision_note", "reviewed_by__username").get() == (
        RefundState.REJECTED,
        "received_no_issue",
        "",
        "agent",
    )
    assert (agent.clicks, agent.typed) == (5, [kiwis.order.order_no])

    # The delivery was a day late, though: a goodwill compensation from the same page.
    start = agent.mark()
    agent.compensate(percent="10", reason="配送延误一天")
    walk("compensation refund (from the refund page)", agent, since=start)

    compensation = Refund.objects.get(order=kiwis.order, reason=RefundReason.COMPENSATION)
    assert Refund.objects.filter(pk=compensation.pk).values_list("state", "amount", "created_by__username").get() == (
        RefundState.REFUNDED,
        Decimal("9.00"),
        "agent",
    )
    assert (agent.refund_no(), agent.refund_state(), agent.refund_amount()) == (
        compensation.refund_no,
        "已退款",
        "¥9.00",
    )
    assert agent.clicks - start.clicks == 2


def test_an_agent_inspects_a_returned_box_in_three_clicks_and_the_refund_is_paid(console: SignIn, walk: Walk) -> None:
    apples = claim("APL-FUJI-5", RefundState.INSPECTING)
    agent = console(CUSTOMER_SERVICE)
    agent.home_dashboard_state("质检中")
    assert agent.queue_rows().count() == 1
    agent.open_refund(apples.refund_no)
    assert (agent.refund_state(), agent.refund_amount()) == ("质检中", "¥79.80")
    from_the_refund_page = agent.mark()
    agent.open_inspection()
    # One row per returned item, pre-filled with what is left to record, in the item's unit.
    box = agent.received_box("烟台红富士苹果 5斤装", "件")
    assert box.input_value() == "2"
    assert agent.page.locator("#inspection-customer-words").inner_text() == "苹果磕碰严重，整箱退回"
    assert agent.complete_button().is_disabled()  # nothing recorded yet
    agent.shot("inspection")
    agent.record_as_prefilled()
    assert "已记录 1 条。请核对金额并完成质检。" in agent.messages()
    assert agent.page.locator("#inspection-claimed").inner_text() == "¥79.80"
    assert agent.page.locator("#inspection-pays").inner_text() == "¥79.80"
    assert "2 件" in agent.page.locator("#inspection-records").inner_text()
    agent.shot("inspection_confirm")
    agent.complete_inspection("¥79.80")
    walk("inspect and pay", agent)
    walk("inspect and pay (from the refund page)", agent, since=from_the_refund_page)

    # Back on the refund page, paid by the channel before the page came.
    assert f"{apples.refund_no}：质检完成，退款 ¥79.80" in agent.messages()
    assert (agent.refund_no(), agent.refund_state()) == (apples.refund_no, "已退款")
    warehouse = agent.page.locator("#refund-warehouse").inner_text()
    assert "可二次销售" in warehouse and "¥79.80 → ¥79.80" in warehouse
    paid = Refund.objects.get(pk=apples.pk)
    assert (paid.state, paid.amount) == (RefundState.REFUNDED, Decimal("79.80"))
    assert Inspection.objects.get(refund=apples).status == InspectionStatus.COMPLETED
    assert (agent.clicks, agent.typed) == (5, [])
    assert agent.clicks - from_the_refund_page.clicks == 3


def test_an_agent_resolves_a_dispute_with_compensation_and_it_is_paid(console: SignIn, walk: Walk) -> None:
    dispute = Dispute.objects.select_related("refund", "order").get()
    assert dispute.refund is not None
    agent = console(CUSTOMER_SERVICE)

    # A partial outcome without its amount is answered at the field, with the outcome and the note kept.
    agent.goto(f"/admin/refunds/dispute/{dispute.pk}/change/")
    form = agent.page.locator("#dispute-resolve-form")
    form.get_by_label(pages.PARTLY_UPHELD).check()
    form.get_by_label(pages.RESOLUTION, exact=True).fill("先记下")
    with agent.page.expect_navigation():
        form.get_by_role("button", name=pages.RESOLVE).click()
    form = agent.page.locator("#dispute-resolve-form")
    assert form.locator(".field-amount .errorlist").inner_text() == "部分支持时须填写金额。"
    assert form.get_by_label(pages.PARTLY_UPHELD).is_checked()
    assert form.get_by_label(pages.RESOLUTION, exact=True).input_value() == "先记下"
    assert Dispute.objects.get(pk=dispute.pk).status == "open" and Refund.objects.count() == 8

    agent.goto("/admin/")
    agent.start_counting()
    agent.open_from_home(pages.DISPUTES)
    row = agent.queue_rows().filter(has_text=dispute.dispute_no)
    assert row.get_by_role("link", name=dispute.refund.refund_no).count() == 1
    assert row.get_by_role("link", name=dispute.order.order_no).count() == 1
    agent.open_dispute(dispute.dispute_no)
    # What the decision needs: the contested refund's amount, photos, rejection and the customer's words.
    assert agent.page.locator("#dispute-reason").inner_text() == "有一半车厘子裂口发霉，客服没有看清照片"
    assert agent.page.locator("#dispute-refund-amount").inner_text() == "¥88.00"
    assert agent.page.locator("#dispute-customer-words").inner_text() == "一半车厘子裂口发霉"
    assert agent.page.locator("#dispute-decision").inner_text() == "照片中的车厘子完好，无法确认质量问题 · supervisor"
    assert agent.page.get_by_role("img", name="凭证照片 1").is_visible()
    assert "1 kg" in agent.page.locator("#dispute-refund-items").inner_text()
    agent.shot("dispute")
    agent.resolve_with_compensation(amount="44.00", note="电话确认一半车厘子裂口，按一半补偿")
    walk("resolve a dispute with compensation", agent)

    resolved = Dispute.objects.select_related("resolution_refund").get(pk=dispute.pk)
    refund = resolved.resolution_refund
    assert refund is not None
    assert f"纠纷已处理：退款 {refund.refund_no}，金额 ¥44.00，退款中。" in agent.messages()
    resolution = agent.page.locator("#dispute-resolution").inner_text()
    assert "部分支持：发起补偿退款" in resolution and "已退款" in resolution and "¥44.00" in resolution
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
    walk("reconcile and download CSV and XLSX", finance)

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
    assert finance.clicks == 7

    finance.goto("/admin/reconciliation/discrepancy/?resolved=no")
    assert by_hand.out_refund_no in finance.main.inner_text() and "¥10.00" in finance.main.inner_text()
    finance.shot("discrepancies")

    # Refunds are finance's to read, not to decide.
    strawberries = claim("STR-DD-500")
    finance.goto("/admin/refunds/refund/")
    assert finance.page.locator("select[name=action]").count() == 0
    finance.open_refund(strawberries.refund_no)
    assert (finance.refund_state(), finance.refund_amount()) == ("待审核", "¥49.00")
    assert finance.page.locator("#refund-actions, #note-form").count() == 0
    assert finance.page.get_by_role("link", name=pages.COMPENSATION_REFUND).count() == 0
    assert finance.page.get_by_role("img", name="凭证照片 1").first.is_visible()

    # Every walk ends by asserting no page broke the Content-Security-Policy (``console``); what a page would break
    # is seen: an inline style, which the policy refuses, is reported.
    with finance.page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        finance.page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    assert len(finance.csp_violations) == 1 and "style-src" in finance.csp_violations[0]
    finance.csp_violations.clear()
