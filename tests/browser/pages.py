"""The console as staff see it, in one place: how each page is found and worked, by the roles, labels and Chinese
text a person reads. The walks (``test_*.py``) say what staff do and what they must see; when a page changes,
this module changes, and the walks stay as they are.

``Console`` is one signed-in browser tab. It counts every click (a link, a button, a box ticked, an option chosen,
a form sent with Enter) and every page the browser loads for it (downloads included); typing is not a click.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

# What the console says, as a Chinese-speaking member of staff reads it.
HOME = "首页"
REFUNDS, DISPUTES, INSPECTIONS, RUNS, DISCREPANCIES = "退款", "纠纷", "质检", "对账批次", "对账差异"
APPROVE, REJECT, REJECT_REASON = "同意", "拒绝", "拒绝原因"
TO_INSPECTION = "登记退回的商品并完成质检"
RECORD, RECEIVED, CONDITION = "登记", "收到数量或重量（千克）", "品相"
COMPLETE_INSPECTION, RUN_ACTION = "完成质检（入库、报损、退款）", "执行"
PARTLY_UPHELD, COMPENSATION, RESOLUTION, RESOLVE = (
    "部分支持：发起补偿退款",
    "补偿金额（¥，仅部分支持时填写）",
    "处理说明",
    "提交处理结果",
)
START_RUN, CHANNEL, BUSINESS_DAY, REPLACE, START = "发起对账", "支付渠道", "业务日", "替换已对过账日期的结果", "开始"
COMPENSATION_REFUND, CREATE_COMPENSATION = "补偿退款", "创建补偿退款"
COMPENSATION_VALUE, COMPENSATION_REASON = "百分比或金额（¥）", "原因（显示在退款单上）"
YUAN = re.compile(r"¥\d{1,3}(,\d{3})*\.\d\d")


class Console:
    def __init__(self, page: Any, base_url: str, artifacts: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.artifacts = artifacts
        self.clicks = 0
        self.loads = 0
        self.steps: list[str] = []
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
        self.clicks, self.loads, self.steps = 0, 0, []

    # --- acting as a person does ----------------------------------------------------------------------------
    def click(self, target: Any, step: str) -> None:
        self._act(step)
        target.click()

    def check(self, target: Any, step: str) -> None:
        self._act(step)
        target.check()

    def choose(self, select: Any, label: str) -> None:
        self._act(label)
        select.select_option(label=label)

    def type(self, target: Any, text: str) -> None:
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

    def heading(self) -> str:
        return str(self.page.locator("#content h1").first.inner_text())

    def open_from_home(self, section: str) -> None:
        """A section of the console from its home page (the index), as a person finds it there."""
        row = self.page.locator("#content-main").get_by_role("rowheader", name=section, exact=True)
        self.click(row.get_by_role("link"), section)

    def back_to(self, crumb: str) -> None:
        self.click(self.page.locator(".breadcrumbs").get_by_role("link", name=crumb, exact=True), crumb)

    # --- the refund queue -----------------------------------------------------------------------------------
    def queue_rows(self) -> Any:
        return self.page.locator("#result_list tbody tr")

    def queue_search(self, term: str) -> None:
        box = self.page.locator("#searchbar")
        self.type(box, term)
        self._act("搜索")
        box.press("Enter")
        self.page.wait_for_load_state()

    def open_refund(self, refund_no: str) -> None:
        self.click(self.page.get_by_role("link", name=re.compile(refund_no)), refund_no)
        self.page.locator("#refund-workbench").wait_for()

    # --- a refund's page ------------------------------------------------------------------------------------
    def refund_state(self) -> str:
        return str(self.page.locator("#refund-state").inner_text())

    def workbench(self) -> str:
        return str(self.page.locator("#refund-workbench").inner_text())

    def refund_page(self) -> str:
        return str(self.main.inner_text())

    def can(self, act: str) -> bool:
        return bool(self.page.locator("#refund-workbench").get_by_role("button", name=act, exact=True).count())

    def approve(self) -> None:
        self.click(self.page.get_by_role("button", name=APPROVE, exact=True), APPROVE)
        self.page.locator(".messagelist").wait_for()

    def reject(self, reason: str) -> None:
        self.type(self.page.get_by_label(REJECT_REASON, exact=True), reason)
        self.click(self.page.get_by_role("button", name=REJECT, exact=True), REJECT)
        self.page.locator(".messagelist").wait_for()

    def compensate(self, *, percent: str, reason: str) -> None:
        """A compensation refund of ``percent`` of the order's first item (a percentage is what the form offers
        first)."""
        self.click(self.page.get_by_role("link", name=COMPENSATION_REFUND), COMPENSATION_REFUND)
        self.type(self.page.get_by_label(COMPENSATION_VALUE), percent)
        self.type(self.page.get_by_label(COMPENSATION_REASON), reason)
        self.click(self.page.get_by_role("button", name=CREATE_COMPENSATION), CREATE_COMPENSATION)
        self.page.locator("#refund-workbench").wait_for()

    # --- inspection of returned goods -----------------------------------------------------------------------
    def inspect_and_complete(self, refund_no: str, *, received: str) -> None:
        """From the refund page: record what came back of its (one) item as resellable, then complete the
        inspection, which sends the refund to the channel."""
        self.click(self.page.get_by_role("link", name=TO_INSPECTION), TO_INSPECTION)
        self.back_to(INSPECTIONS)
        row = self.page.get_by_role("row").filter(has_text=refund_no)
        self.click(row.get_by_role("link", name=RECORD, exact=True), RECORD)
        self.type(self.page.get_by_label(RECEIVED), received)
        self.shot("inspection_record")
        self.click(self.main.get_by_role("button", name=RECORD, exact=True), RECORD)
        self.back_to(INSPECTIONS)
        row = self.page.get_by_role("row").filter(has_text=refund_no)
        self.check(row.get_by_role("checkbox"), "☑")
        self.choose(self.page.locator("select[name=action]"), COMPLETE_INSPECTION)
        self.click(self.page.get_by_role("button", name=RUN_ACTION), RUN_ACTION)
        self.page.locator(".messagelist").wait_for()

    # --- disputes -------------------------------------------------------------------------------------------
    def open_dispute(self, dispute_no: str) -> None:
        self.click(self.page.get_by_role("link", name=dispute_no), dispute_no)

    def resolve_with_compensation(self, *, amount: str, note: str) -> None:
        self.check(self.page.get_by_label(PARTLY_UPHELD), PARTLY_UPHELD)
        self.type(self.page.get_by_label(COMPENSATION), amount)
        self.type(self.page.get_by_label(RESOLUTION, exact=True), note)
        self.click(self.page.get_by_role("button", name=RESOLVE), RESOLVE)
        self.page.locator(".messagelist").wait_for()

    # --- reconciliation -------------------------------------------------------------------------------------
    def start_reconciliation(self, *, channel: str, day: str, replace: bool) -> None:
        self.click(self.page.get_by_role("link", name=START_RUN), START_RUN)
        self.choose(self.page.get_by_label(CHANNEL), channel)
        self.type(self.page.get_by_label(BUSINESS_DAY), day)
        if replace:
            self.check(self.page.get_by_label(REPLACE), REPLACE)
        self.click(self.page.get_by_role("button", name=START, exact=True), START)
        self.page.locator(".messagelist").wait_for()

    def run_row(self, run_id: int) -> Any:
        return self.page.get_by_role("row").filter(has=self.page.locator(f"a[href*='/reconciliationrun/{run_id}/']"))

    def download(self, run_id: int, report: str) -> bytes:
        with self.page.expect_download() as download:
            self.click(self.run_row(run_id).get_by_role("link", name=report, exact=True), report)
        return Path(download.value.path()).read_bytes()


# Signing in as a role (the ``console`` fixture), and recording what a task took (``walk``).
SignIn = Callable[[str], Console]
Walk = Callable[[str, Console], None]
