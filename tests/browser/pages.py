"""The console as staff see it, in one place: how each page is found and worked, by the roles, labels and Chinese
text a person reads. The walks (``test_*.py``) say what staff do and what they must see; when a page changes,
this module changes, and the walks stay as they are.

``Console`` is one signed-in browser tab. It counts every click (a link, a button, a box ticked, a reason or an
option chosen, a form sent with Enter) and every page the browser loads for it (downloads included); typing is not
a click, and is listed apart (``typed``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# What the console says, as a Chinese-speaking member of staff reads it.
HOME = "首页"
REFUNDS, DISPUTES, RUNS, DISCREPANCIES = "退款", "纠纷", "对账批次", "对账差异"
# The refund page's decision: each button also comes "and next", which opens the next refund waiting in the
# queue's order; a rejection names one of the preset reasons, and may add the reviewer's words.
APPROVE, APPROVE_AND_NEXT = "同意", "同意并处理下一条"
REJECT, REJECT_AND_NEXT = "拒绝", "拒绝并处理下一条"
REJECT_REASONS, OWN_WORDS = "拒绝原因", "补充说明（顾客可见）"
NEXT_WAITING = "下一条待我处理"
# A supervisor's part of the home page: what waits for them (above the cap, escalated), and the queue's column.
WAITING_FOR_YOU, ABOVE_CAP = "等您处理", "超上限"
# Finance's part of the home page, and its dashboard.
FINANCE_DASHBOARD, OPEN_DISCREPANCIES = "财务看板", "未处理差异"
# The language switch in every page's header, each language named in itself.
CHINESE, ENGLISH = "简体中文", "English"
# The inspection of a returned box: the refund page's link, the inspection page's rows (pre-filled with what is
# left to record, in the item's unit), then the confirmation that names the amount.
TO_INSPECTION = "记录并完成质检"
RECORD_AND_CHECK = "记录并核对金额"
COMPLETE_AND_REFUND = "完成质检并退款 {amount}"
# Disputes.
PARTLY_UPHELD = "部分支持：发起补偿退款"
COMPENSATION, RESOLUTION, RESOLVE = "补偿金额（¥，仅部分支持时填写）", "处理说明", "提交处理结果"
# Compensation without a dispute, from a refund's page.
COMPENSATION_REFUND, CREATE_COMPENSATION = "补偿退款", "创建补偿退款"
COMPENSATION_VALUE, COMPENSATION_REASON = "百分比或金额（¥）", "原因（显示在退款单上）"
# Reconciliation.
START_RUN, CHANNEL, BUSINESS_DAY, REPLACE, START = "发起对账", "支付渠道", "业务日", "替换已对过账日期的结果", "开始"
# ¥ with thousands separators and two decimals, as ``mall.money.yuan`` writes it.
YUAN = re.compile(r"¥\d{1,3}(,\d{3})*\.\d\d")


def received_label(name: str, unit: str) -> str:
    """How an inspection row's quantity box is read out: the item's name and "received (unit)"."""
    return f"{name}: 实收（{unit}）"


@dataclass(frozen=True)
class Mark:
    clicks: int
    loads: int
    typed: int


class Console:
    def __init__(self, page: Any, base_url: str, artifacts: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.artifacts = artifacts
        self.clicks = 0
        self.loads = 0
        self.steps: list[str] = []
        self.typed: list[str] = []
        self.csp_violations: list[str] = []
        page.set_default_timeout(15_000)
        page.on("console", self._console_message)
        page.on("request", self._request)
        page.on("download", lambda download: self._loaded())

    # --- bookkeeping ----------------------------------------------------------------------------------------
    def _console_message(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"{self.page.url}: {message.text}")

    def _request(self, request: Any) -> None:
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self._loaded()

    def _loaded(self) -> None:
        self.loads += 1

    def _act(self, step: str) -> None:
        self.clicks += 1
        self.steps.append(step)

    def start_counting(self) -> None:
        self.clicks, self.loads, self.steps, self.typed = 0, 0, [], []

    def mark(self) -> Mark:
        """Where the count stands: a walk may be counted from here too (``walk(..., since=mark)``)."""
        return Mark(self.clicks, self.loads, len(self.typed))

    # --- acting as a person does ----------------------------------------------------------------------------
    def click(self, target: Any, step: str) -> None:
        self._act(step)
        target.click()

    def follow(self, target: Any, step: str) -> None:
        """A click that loads a page (a link, a form's button): returns once the new page is there."""
        self._act(step)
        with self.page.expect_navigation():
            target.click()

    def check(self, target: Any, step: str) -> None:
        self._act(step)
        target.check()

    def choose(self, select: Any, label: str) -> None:
        self._act(label)
        select.select_option(label=label)

    def type(self, target: Any, text: str) -> None:
        self.typed.append(text)
        target.fill(text)

    def goto(self, path: str) -> None:
        """Open a page by its address (a bookmark): no click, one page load."""
        self.page.goto(self.base_url + path)

    def shot(self, name: str) -> None:
        """The whole page into test-artifacts/<name>.png."""
        self.page.screenshot(path=str(self.artifacts / f"{name}.png"), full_page=True)

    def sign_in(self, username: str, password: str) -> None:
        self.goto("/admin/login/?next=/admin/")
        self.page.get_by_label("用户名").fill(username)
        self.page.get_by_label("密码").fill(password)
        self.page.get_by_role("button", name="登录").click()
        self.page.wait_for_url(self.base_url + "/admin/")
        self.start_counting()

    # --- what every page has --------------------------------------------------------------------------------
    @property
    def main(self) -> Any:
        return self.page.locator("#content-main, #content").first

    def messages(self) -> str:
        return str(self.page.locator(".messagelist").inner_text())

    def open_from_home(self, section: str) -> None:
        """A section of the console from its home page (the index), as a person finds it there."""
        row = self.page.locator("#content-main").get_by_role("rowheader", name=section, exact=True)
        self.follow(row.get_by_role("link"), section)

    def home_dashboard_state(self, state: str) -> None:
        """The home page's count of refunds in ``state`` (its label), followed to the queue of those refunds."""
        cell = self.page.locator("#dash-by-state").get_by_role("link", name=state, exact=True)
        self.follow(cell, state)

    def switch_language(self, language: str) -> None:
        """The header's switch: the same page again, in ``language`` (and every page after it)."""
        switch = self.page.locator("#language-switch")
        self.follow(switch.get_by_role("button", name=language, exact=True), language)

    def language_chosen(self) -> str:
        return str(self.page.locator("#language-switch [aria-pressed=true]").inner_text())

    def back_to(self, crumb: str) -> None:
        self.follow(self.page.locator(".breadcrumbs").get_by_role("link", name=crumb, exact=True), crumb)

    def supervisor_waiting(self) -> None:
        """From the home page, the queue of what waits for a supervisor."""
        link = self.page.locator("#supervisor-queue").get_by_role("link", name=WAITING_FOR_YOU, exact=True)
        self.follow(link, WAITING_FOR_YOU)

    def open_finance_dashboard(self) -> None:
        """From the home page's finance summary, the dashboard."""
        link = self.page.locator("#finance-summary").get_by_role("link", name=FINANCE_DASHBOARD, exact=True)
        self.follow(link, FINANCE_DASHBOARD)

    # --- the refund queue -----------------------------------------------------------------------------------
    def queue_rows(self) -> Any:
        return self.page.locator("#result_list tbody tr")

    def queue_search(self, term: str) -> None:
        box = self.page.locator("#searchbar")
        self.type(box, term)
        self._act("搜索")
        with self.page.expect_navigation():
            box.press("Enter")

    def queue_row(self, refund_no: str) -> str:
        return str(self.queue_rows().filter(has_text=refund_no).inner_text())

    def open_refund(self, refund_no: str) -> None:
        self.follow(self.page.locator("#result_list").get_by_role("link", name=re.compile(refund_no)), refund_no)

    # --- a refund's page ------------------------------------------------------------------------------------
    def refund_no(self) -> str:
        return str(self.page.locator("#refund-workbench h1").inner_text())

    def refund_state(self) -> str:
        return str(self.page.locator("#refund-state").inner_text())

    def refund_amount(self) -> str:
        return str(self.page.locator("#refund-amount").inner_text())

    def workbench(self) -> str:
        return str(self.page.locator("#refund-workbench").inner_text())

    def timeline(self) -> str:
        return str(self.page.locator("#refund-timeline").inner_text())

    def can(self, act: str) -> bool:
        return bool(self.page.locator("#refund-actions").get_by_role("button", name=act, exact=True).count())

    def reasons_offered(self) -> list[str]:
        """The preset rejection reasons, in the order the page offers them."""
        group = self.page.locator("#act-reject fieldset.reject-reasons label")
        return [text.strip() for text in group.all_inner_texts()]

    def approve(self, *, and_next: bool = False) -> None:
        button = APPROVE_AND_NEXT if and_next else APPROVE
        self.follow(self.page.locator("#act-approve").get_by_role("button", name=button, exact=True), button)

    def reject(self, reason: str, *, words: str = "", and_next: bool = False) -> None:
        """Reject with the preset ``reason`` (its label), and the reviewer's own ``words`` if any."""
        form = self.page.locator("#act-reject")
        self.check(form.get_by_role("radio", name=reason, exact=True), reason)
        if words:
            self.type(form.get_by_label(OWN_WORDS, exact=True), words)
        button = REJECT_AND_NEXT if and_next else REJECT
        self.follow(form.get_by_role("button", name=button, exact=True), button)

    def compensate(self, *, percent: str, reason: str) -> None:
        """A compensation refund of ``percent`` of the order's first item (a percentage is what the form offers
        first), from the refund page's link."""
        self.follow(self.page.get_by_role("link", name=COMPENSATION_REFUND, exact=True), COMPENSATION_REFUND)
        self.type(self.page.get_by_label(COMPENSATION_VALUE), percent)
        self.type(self.page.get_by_label(COMPENSATION_REASON), reason)
        self.follow(self.page.get_by_role("button", name=CREATE_COMPENSATION), CREATE_COMPENSATION)

    # --- inspection of returned goods -----------------------------------------------------------------------
    def open_inspection(self) -> None:
        """From the refund page of a refund being inspected, its inspection's page."""
        self.follow(self.page.locator("#refund-workbench").get_by_role("link", name=TO_INSPECTION), TO_INSPECTION)

    def received_box(self, name: str, unit: str) -> Any:
        return self.page.locator("#inspection-record-form").get_by_label(received_label(name, unit), exact=True)

    def record_as_prefilled(self) -> None:
        """Record what arrived as the rows are pre-filled (everything claimed, resellable)."""
        form = self.page.locator("#inspection-record-form")
        self.follow(form.get_by_role("button", name=RECORD_AND_CHECK), RECORD_AND_CHECK)

    def complete_button(self) -> Any:
        return self.page.locator("#inspection-complete-form").get_by_role("button")

    def complete_inspection(self, amount: str) -> None:
        """Complete the inspection on the button that names the amount the refund will pay."""
        label = COMPLETE_AND_REFUND.format(amount=amount)
        self.follow(self.page.get_by_role("button", name=label, exact=True), label)

    # --- disputes -------------------------------------------------------------------------------------------
    def open_dispute(self, dispute_no: str) -> None:
        self.follow(self.page.locator("#result_list").get_by_role("link", name=dispute_no, exact=True), dispute_no)

    def resolve_with_compensation(self, *, amount: str, note: str) -> None:
        form = self.page.locator("#dispute-resolve-form")
        self.check(form.get_by_label(PARTLY_UPHELD), PARTLY_UPHELD)
        self.type(form.get_by_label(COMPENSATION), amount)
        self.type(form.get_by_label(RESOLUTION, exact=True), note)
        self.follow(form.get_by_role("button", name=RESOLVE), RESOLVE)

    # --- reconciliation -------------------------------------------------------------------------------------
    def start_reconciliation(self, *, channel: str, day: str, replace: bool) -> None:
        self.follow(self.page.get_by_role("link", name=START_RUN), START_RUN)
        self.choose(self.page.get_by_label(CHANNEL), channel)
        self.type(self.page.get_by_label(BUSINESS_DAY), day)
        if replace:
            self.check(self.page.get_by_label(REPLACE), REPLACE)
        self.follow(self.page.get_by_role("button", name=START, exact=True), START)

    def run_row(self, run_id: int) -> Any:
        return self.page.get_by_role("row").filter(has=self.page.locator(f"a[href*='/reconciliationrun/{run_id}/']"))

    def download(self, run_id: int, report: str) -> bytes:
        with self.page.expect_download() as download:
            self.click(self.run_row(run_id).get_by_role("link", name=report, exact=True), report)
        return Path(download.value.path()).read_bytes()


# Signing in as a role (the ``console`` fixture), and recording what a task took (``walk``).
SignIn = Callable[[str], Console]


class Walk(Protocol):
    def __call__(self, task: str, tab: Console, *, since: Mark | None = None) -> None: ...
