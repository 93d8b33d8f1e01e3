"""The refund page's buttons are the refund's available transitions (the model's own table, conditions included)
that the user's permissions allow: exact lists in every state, for each role, and every button not shown is refused
when posted."""

from __future__ import annotations

from typing import Any

import pytest

from refunds import services
from refunds.console.actions import ACTS
from refunds.models import Refund, RefundEvent, RefundState
from refunds.replacement import refund_replacement_shipped
from tests.admin.conftest import (
    awaiting_return_refund,
    awaiting_transfer_refund,
    failed_refund,
    inspecting_refund,
    login,
    pending_refund,
    refunded_refund,
    replacing_refund,
)
from tests.admin.test_actions import act, buttons, page
from tests.factories import reload

pytestmark = pytest.mark.django_db

S = RefundState
# The console's buttons and the transition and permission of each, as the product describes them.
BUTTON_TRANSITION = {
    "approve": ("approve", "refunds.approve_refund"),
    "reject": ("reject", "refunds.approve_refund"),
    "retry": ("retry", "refunds.approve_refund"),
    "store_credit": ("pay_to_store_credit", "refunds.approve_refund"),
    "offline": ("choose_offline_transfer", "refunds.approve_refund"),
    "overturn": ("overturn", "refunds.override_refund"),
    "receive": ("return_received", "refunds.confirm_return"),
    "inspection_pass": ("inspection_passed", "refunds.confirm_return"),
}
# Completed on the inspection's own page (logistics registers it so), never a button on the refund page.
DONE_ELSEWHERE = {"inspection_pass"}


def _in_state(state: str) -> Any:
    """A refund in ``state``: through the services where the fixtures go, set directly for the rest."""

    def make(reviewer: Any) -> Refund:
        refund = pending_refund()
        Refund.objects.filter(pk=refund.pk).update(state=state)
        return reload(refund)

    return make


MAKERS: dict[str, Any] = {
    S.PENDING_REVIEW: lambda reviewer: pending_refund(),
    S.APPROVED: _in_state(S.APPROVED),
    S.REFUNDING: lambda reviewer: services.refund_approve(refund=pending_refund(), actor=reviewer),
    S.REFUNDED: refunded_refund,
    S.FAILED: failed_refund,
    S.REJECTED: lambda reviewer: services.refund_reject(refund=pending_refund(), actor=reviewer, note="no damage"),
    S.CANCELLED: _in_state(S.CANCELLED),
    S.INTERCEPTING: _in_state(S.INTERCEPTING),
    S.AWAITING_RETURN: awaiting_return_refund,
    S.RETURN_IN_TRANSIT: _in_state(S.RETURN_IN_TRANSIT),
    S.INSPECTING: inspecting_refund,
    S.REPLACING: replacing_refund,
    S.REPLACED: lambda reviewer: refund_replacement_shipped(
        refund=replacing_refund(reviewer), carrier="SF", tracking_no="SF0000000001"
    ),
    S.AWAITING_TRANSFER: awaiting_transfer_refund,
}
# state: (agent, supervisor, finance)
EXPECTED = {
    S.PENDING_REVIEW: (["approve", "reject"], ["approve", "reject"], []),
    S.APPROVED: ([], [], []),
    S.REFUNDING: ([], [], []),
    S.REFUNDED: ([], [], []),
    S.FAILED: (["retry", "store_credit", "offline"], ["retry", "store_credit", "offline"], []),
    S.REJECTED: ([], ["overturn"], []),
    S.CANCELLED: ([], [], []),
    S.INTERCEPTING: ([], [], []),
    S.AWAITING_RETURN: (["receive"], ["receive"], []),
    S.RETURN_IN_TRANSIT: (["receive"], ["receive"], []),
    S.INSPECTING: (["reject"], ["reject"], []),
    S.REPLACING: ([], [], []),
    S.REPLACED: ([], [], []),
    # Finance confirms the transfer on the transfer's own page, never with a button of the refund page.
    S.AWAITING_TRANSFER: ([], [], []),
}


def from_the_fsm(refund: Refund, user: Any) -> list[str]:
    """The buttons django-fsm's table gives this user: available transitions, in the console's order, that the
    user's permissions allow."""
    available = {transition.name for transition in refund.get_available_state_transitions()}
    return [
        name
        for name, (transition, perm) in BUTTON_TRANSITION.items()
        if transition in available and user.has_perm(perm) and name not in DONE_ELSEWHERE
    ]


def snapshot(refund: Refund) -> tuple[Any, ...]:
    fresh = reload(refund)
    return fresh.state, fresh.reviewed_by_id, fresh.decision_note, RefundEvent.objects.filter(refund=refund).count()


def test_every_state_is_covered() -> None:
    assert set(MAKERS) == set(EXPECTED) == set(RefundState.values)


def test_the_console_names_real_transitions_in_the_products_order() -> None:
    transitions = {t.name for t in Refund._meta.get_field("state").get_all_transitions(Refund)}
    assert [(a.name, a.transition, a.perm) for a in ACTS] == [(n, t, p) for n, (t, p) in BUTTON_TRANSITION.items()]
    assert {a.transition for a in ACTS} <= transitions


@pytest.mark.parametrize("state", list(EXPECTED))
def test_buttons_are_the_available_transitions_the_user_may_run(
    state: str, agent: Any, supervisor: Any, supervisor2: Any, finance: Any
) -> None:
    # Made by another supervisor: maker-checker and "not your own rejection" do not hide a button here.
    refund = MAKERS[state](supervisor2)
    assert refund.state == state
    for user, expected in zip((agent, supervisor, finance), EXPECTED[state], strict=True):
        client = login(user)
        shown = buttons(page(client, refund))
        assert shown == expected, (state, user.username)
        assert shown == from_the_fsm(reload(refund), user), (state, user.username)
        before = snapshot(refund)
        for name in sorted(set(BUTTON_TRANSITION) - set(shown)):
            assert act(client, refund, name, note="posted without a button").status_code == 403, (state, name)
        assert snapshot(refund) == before
