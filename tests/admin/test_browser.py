"""The console in a real browser: Debian's chromium driven by Playwright against the live test server.

Screenshots of the queue and the refund page go to ``test-artifacts/`` (not committed) to be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import translation

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, FINANCE, OPERATIONS
from refunds.models import Refund
from tests.admin.conftest import pending_refund
from tests.factories import UserFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PASSWORD = "pass-w0rd-for-tests"  # tests.factories.UserFactory's
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium(django_db_setup: None) -> Iterator[Any]:
    assert CHROMIUM.exists(), "Debian's chromium is not installed (scripts/bootstrap.sh dev installs it)"
    from playwright import sync_api

    # Playwright's sync API keeps an event loop in this thread while the browser is open; the ORM calls the
    # tests make meanwhile are plain synchronous code, so Django's async-context guard is lifted for them.
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium: Any, live_server: Any) -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    contexts = []
    # Chromium reports what the Content-Security-Policy blocked as console errors; no page may have any.
    csp_violations: list[str] = []

    def note_csp_violation(page: Any, message: Any) -> None:
        if "Content Security Policy" in message.text:
            csp_violations.append(f"{page.url}: {message.text}")

    def login(username: str, landing: str = "#refund-dashboard") -> Any:
        context = chromium.new_context(locale="en-US", viewport={"width": 1440, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: note_csp_violation(page, message))
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector(landing)
        return page

    yield login
    for context in contexts:
        context.close()
    assert csp_violations == []


def state_label(refund: Refund) -> str:
    """The refund's current state as the English page shows it."""
    with translation.override("en"):
        return str(Refund.objects.get(pk=refund.pk).get_state_display())


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_agent_finds_a_refund_by_order_no_and_approves_it(open_page: Any) -> None:
    staff_user(CUSTOMER_SERVICE, "agent_li")
    for _ in range(3):
        pending_refund()
    late = pending_refund(price="1288.00", quantity="1", channel="wechat")
    Refund.objects.filter(pk=late.pk).update(due_at=late.due_at - timedelta(hours=3))
    refund = pending_refund(UserFactory(username="wang_fang"), price="39.90", quantity="2")
    page = open_page("agent_li")
    shot(page, "dashboard")
    page.click("a[href='/admin/refunds/refund/']")
    page.wait_for_selector("#result_list")
    shot(page, "queue")
    page.fill("#searchbar", refund.order.order_no)
    page.press("#searchbar", "Enter")
    page.wait_for_selector(f"text={refund.refund_no}")
    assert page.locator("#result_list tbody tr").count() == 1
    page.click(f"text={refund.refund_no}")
    page.wait_for_selector("#refund-workbench")
    assert page.inner_text("#refund-state") == "pending review"
    assert "¥79.80" in page.inner_text("#refund-workbench")
    shot(page, "refund_page")
    page.click("#act-approve button")
    page.wait_for_selector(".messagelist .success")
    state = state_label(refund)
    assert state != "pending review"
    assert page.inner_text("#refund-state") == state
    assert f"refund {refund.refund_no} is now" in page.inner_text(".messagelist")
    shot(page, "refund_approved")


def test_a_supervisor_approves_a_large_refund_an_agent_could_not(open_page: Any) -> None:
    staff_user(CUSTOMER_SERVICE, "agent_zhao")
    staff_user(CS_SUPERVISOR, "lead_chen")
    refund = pending_refund(price="5888.00", quantity="1")
    url = f"/admin/refunds/refund/{refund.pk}/change/"

    agent_page = open_page("agent_zhao")
    agent_page.goto(agent_page.url.split("/admin/")[0] + url)
    assert agent_page.locator("#act-approve").count() == 0
    assert agent_page.locator("#act-reject").count() == 1
    assert "only a supervisor may approve it" in agent_page.inner_text("#approve-blocker")
    shot(agent_page, "large_refund_agent")

    lead = open_page("lead_chen")
    lead.goto(lead.url.split("/admin/")[0] + url)
    lead.click("#act-approve button")
    lead.wait_for_selector(".messagelist .success")
    fresh = Refund.objects.get(pk=refund.pk)
    assert fresh.reviewed_by.username == "lead_chen"
    assert fresh.state != "pending_review"
    assert lead.inner_text("#refund-state") == state_label(fresh)


def test_finance_sees_no_action_buttons(open_page: Any) -> None:
    staff_user(FINANCE, "finance_liu")
    refund = pending_refund()
    page = open_page("finance_liu")
    page.goto(page.url.split("/admin/")[0] + "/admin/refunds/refund/")
    page.wait_for_selector("#result_list")
    assert page.locator("select[name=action]").count() == 0
    page.click(f"text={refund.refund_no}")
    page.wait_for_selector("#refund-workbench")
    assert page.locator("#refund-workbench form").count() == 0
    assert page.locator("#note-form").count() == 0
    assert page.locator("text=Compensation refund").count() == 0
    assert page.locator("input[name=_save]").count() == 0
    shot(page, "refund_page_finance")


def test_agent_compensates_and_works_a_dispute(open_page: Any) -> None:
    from refunds import services
    from refunds.disputes import dispute_open_by_customer

    staff_user(CUSTOMER_SERVICE, "agent_sun")
    customer = UserFactory(username="zhou_min")
    rejected = services.refund_reject(
        refund=pending_refund(customer, price="45.00", quantity="2"),
        actor=staff_user(CUSTOMER_SERVICE, "agent_he"),
        note="photos show fresh fruit",
    )
    dispute = dispute_open_by_customer(customer=customer, refund=rejected, reason="半箱猕猴桃烂了，照片已上传")
    page = open_page("agent_sun")
    base = page.url.split("/admin/")[0]

    page.goto(f"{base}/admin/refunds/dispute/{dispute.pk}/change/")
    page.fill("#dispute-note-form textarea", "called the customer: 6 of 12 soft")
    page.click("#dispute-note-form button")
    page.wait_for_selector(".messagelist .success")
    page.check("#dispute-resolve input[value=partial]")
    page.fill("#dispute-resolve input[name=amount]", "22.50")
    page.fill("#dispute-resolve textarea[name=note]", "half of the box")
    page.click("#dispute-resolve button")
    page.wait_for_selector(".messagelist .success")
    assert "¥22.50" in page.inner_text(".messagelist")
    shot(page, "dispute_resolved")

    page.goto(f"{base}/admin/refunds/refund/{rejected.pk}/change/")
    page.click("text=Compensation refund")
    page.wait_for_selector("select[name=order_item]")
    page.check("input[name=mode][value=percent]")
    page.fill("input[name=value]", "10")
    page.fill("textarea[name=reason]", "late delivery")
    shot(page, "compensation_form")
    page.click("input[type=submit][value='Create the compensation refund']")
    page.wait_for_selector("#refund-workbench")
    assert "¥9.00" in page.inner_text("#refund-workbench")
    compensation = Refund.objects.get(order=rejected.order, reason="compensation")
    assert (compensation.amount, compensation.created_by.username) == (Decimal("9.00"), "agent_sun")


@pytest.mark.services
def test_an_operator_opens_the_job_queues_from_the_index(open_page: Any) -> None:
    from django_rq.settings import get_queues_map

    staff_user(OPERATIONS, "ops_wu")
    page = open_page("ops_wu", landing="#job-queues")
    page.click("#job-queues a")
    page.wait_for_selector("a:text-is('refunds')")
    assert page.url.endswith("/admin/django_rq/")
    shot(page, "job_queues")
    base = page.url.split("/admin/")[0]
    page.goto(f"{base}/admin/django_rq/queues/{get_queues_map()['refunds']}/")
    page.wait_for_selector("#content-main")
    assert page.title().startswith("Queued Jobs in refunds")
    shot(page, "job_queue_refunds")
