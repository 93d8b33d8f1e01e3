"""The refund page's registry: payments and logistics register their panels and their part of the buttons from
their app configs, and anything registered is drawn in its order, called with the refund, and can be taken back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from logistics.services import return_receive
from payments.offline import offline_transfer_request
from refunds import flow
from refunds.console import panels
from refunds.console.panels import RefundPanel
from refunds.models import Refund
from tests.admin.conftest import failed_refund, login, pending_refund
from tests.admin.test_actions import act, buttons, page
from tests.factories import reload

pytestmark = pytest.mark.django_db

CHANNEL_TEMPLATE = "admin/payments/refund/channel_panel.html"


@pytest.fixture
def forget() -> Iterator[list[dict[str, str]]]:
    """Registrations a test makes, taken back after it."""
    made: list[dict[str, str]] = []
    yield made
    for registration in made:
        panels.unregister(**registration)


def test_payments_and_logistics_register_from_their_apps() -> None:
    assert [(p.key, p.order, p.template, p.workbench_template) for p in panels.panels()] == [
        (
            "logistics.warehouse",
            100,
            "admin/logistics/refund/warehouse_panel.html",
            "admin/logistics/refund/inspection_hint.html",
        ),
        (
            "payments.paid_elsewhere",
            190,
            "admin/payments/refund/paid_elsewhere_panel.html",
            "admin/payments/refund/transfer_hint.html",
        ),
        ("payments.channel", 200, CHANNEL_TEMPLATE, None),
        ("notices.messages", 300, "admin/notices/refund/messages_panel.html", None),
    ]
    assert panels.act_service("receive") is return_receive
    assert panels.act_service("offline") is offline_transfer_request
    acts = ("approve", "reject", "retry", "store_credit", "offline", "overturn", "receive")
    assert [name for name in acts if panels.act_service(name)] == ["offline", "receive"]
    assert [
        name
        for name in ("approve", "reject", "retry", "overturn", "receive", "inspection_pass")
        if panels.act_elsewhere(name)
    ] == ["inspection_pass"]


def test_loaded_panels_carry_what_each_app_read(supervisor: Any) -> None:
    refund = failed_refund(supervisor)
    loaded = panels.load_panels(refund=refund)
    assert [shown.panel.key for shown in loaded] == [
        "logistics.warehouse",
        "payments.paid_elsewhere",
        "payments.channel",
        "notices.messages",
    ]
    assert dict(loaded[0].data) == {
        "interception": None,
        "replacement": None,
        "inspection": None,
        "inspection_records": [],
        "inspection_url": None,
        "plan": None,
        "record_form": None,
    }
    assert dict(loaded[1].data) == {"transfer": None, "credit": None}
    assert dict(loaded[2].data) == {"attempts": [], "voucher_url": None}
    assert dict(loaded[3].data) == {"messages": []}  # its jobs never ran here: the customer was told nothing yet


def test_a_registered_panel_is_drawn_in_its_order_with_the_refund(agent: Any, forget: list[dict[str, str]]) -> None:
    refund = pending_refund()
    seen: list[int] = []

    def load(shown: Refund) -> Mapping[str, Any]:
        seen.append(shown.pk)
        return {"attempts": [], "voucher_url": f"/vouchers/{shown.refund_no}.pdf"}

    panels.register_panel(RefundPanel(key="tests.voucher", load=load, template=CHANNEL_TEMPLATE, order=150))
    forget.append({"panel": "tests.voucher"})
    assert [p.key for p in panels.panels()] == [
        "logistics.warehouse",
        "tests.voucher",
        "payments.paid_elsewhere",
        "payments.channel",
        "notices.messages",
    ]
    html = page(login(agent), refund)
    assert seen == [refund.pk]
    assert f'<a href="/vouchers/{refund.refund_no}.pdf" id="voucher-link">' in html
    # The panels are records: drawn after what the decision needs (the timeline) and the buttons.
    assert html.index('id="refund-timeline"') < html.index('id="refund-actions"') < html.index('id="refund-channel"')

    panels.unregister(panel="tests.voucher")
    assert 'id="voucher-link"' not in page(login(agent), refund)
    assert seen == [refund.pk]


def test_a_registered_service_runs_behind_its_button(agent: Any, supervisor: Any, forget: list[dict[str, str]]) -> None:
    refund = failed_refund(supervisor)
    calls: list[tuple[int, int, str]] = []

    def retry(*, refund: Refund, actor: Any, note: str) -> Refund:
        calls.append((refund.pk, actor.pk, note))
        return flow.refund_retry(refund=refund, actor=actor, note=note)

    panels.register_act_service(act="retry", service=retry)
    forget.append({"act": "retry"})
    assert act(login(agent), refund, "retry", note="account reopened").status_code == 302
    assert calls == [(refund.pk, agent.pk, "account reopened")]
    assert reload(refund).state == "refunding"


def test_a_step_taken_elsewhere_has_no_button_and_is_refused(
    agent: Any, supervisor: Any, forget: list[dict[str, str]]
) -> None:
    refund = failed_refund(supervisor)
    client = login(agent)
    assert buttons(page(client, refund)) == ["retry", "store_credit", "offline"]
    panels.register_act_elsewhere(act="retry")
    forget.append({"act": "retry"})
    assert buttons(page(client, refund)) == ["store_credit", "offline"]
    assert act(client, refund, "retry").status_code == 403
    assert reload(refund).state == "failed"
    panels.unregister(act="retry")
    assert buttons(page(client, refund)) == ["retry", "store_credit", "offline"]
