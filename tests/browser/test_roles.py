"""What a role may do that another may not, in the browser on the demo shop: only a supervisor approves above the
cap, from what the home page says waits for them; operations reach the job queues. (Finance reading refunds
without a button: ``test_walks``; finance's dashboard: ``test_finance``.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from mall.roles import CS_SUPERVISOR, CUSTOMER_SERVICE, OPERATIONS
from refunds.models import Refund, RefundState
from tests.browser import pages
from tests.browser.demo import claim
from tests.browser.pages import SignIn, Walk

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_only_a_supervisor_approves_a_claim_above_the_cap(console: SignIn, walk: Walk) -> None:
    gift_box = claim("GFT-LUX-1")
    agent = console(CUSTOMER_SERVICE)
    assert agent.page.locator("#supervisor-queue").count() == 0  # agents have no supervisor's part
    agent.goto("/admin/refunds/refund/")
    row = agent.queue_row(gift_box.refund_no)
    assert pages.ABOVE_CAP in row and "¥5,888.00" in row and "1 张照片" in row
    agent.goto(f"/admin/refunds/refund/{gift_box.pk}/change/")
    assert agent.refund_amount() == "¥5,888.00" and "需主管审批" in agent.workbench()
    assert not agent.can(pages.APPROVE) and not agent.can(pages.APPROVE_AND_NEXT)
    assert agent.can(pages.REJECT) and agent.can(pages.REJECT_AND_NEXT)
    assert "只有主管" in agent.page.locator("#approve-blocker").inner_text()

    lead = console(CS_SUPERVISOR)
    assert lead.page.locator("#sup-total").inner_text() == "1" and lead.page.locator("#sup-cap").inner_text() == "1"
    lead.supervisor_waiting()
    assert lead.queue_rows().count() == 1 and pages.ABOVE_CAP in lead.queue_row(gift_box.refund_no)
    lead.open_refund(gift_box.refund_no)
    assert (lead.refund_state(), lead.refund_amount()) == ("待审核", "¥5,888.00")
    assert lead.page.locator("#refund-description").inner_text() == "礼盒里一半的水果已经腐烂，送不了人"
    lead.approve()
    walk("approve above the cap (supervisor)", lead)

    assert f"同意：退款 {gift_box.refund_no} 当前状态为“退款中”。" in lead.messages()
    assert lead.refund_state() == "已退款"  # paid by the channel before the page came back
    approved = Refund.objects.filter(pk=gift_box.pk)
    assert approved.values_list("state", "reviewed_by__username", "amount").get() == (
        RefundState.REFUNDED,
        "supervisor",
        Decimal("5888.00"),
    )
    assert lead.clicks == 3
    lead.goto("/admin/")
    assert lead.page.locator("#sup-total").inner_text() == "0"


@pytest.mark.services
def test_an_operator_opens_the_job_queues_from_the_home_page(console: SignIn) -> None:
    from django_rq.settings import get_queues_map

    operator = console(OPERATIONS)
    operator.follow(operator.page.locator("#job-queues").get_by_role("link"), "任务队列")
    operator.page.get_by_role("link", name="refunds", exact=True).wait_for()
    assert operator.page.url.endswith("/admin/django_rq/")
    operator.shot("job_queues")
    operator.goto(f"/admin/django_rq/queues/{get_queues_map()['refunds']}/")
    operator.page.locator("#content-main").wait_for()
    assert "refunds" in operator.page.title()
