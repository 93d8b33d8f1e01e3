"""The refund state machine: each transition allowed from exactly its source states, guarded by its
conditions, with the state protected from direct assignment."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from django_fsm import TransitionNotAllowed, can_proceed

from mall.models import Order, Shipment
from refunds.models import Refund, RefundDestination, RefundKind, RefundState

S = RefundState

TRANSITIONS = {
    "approve": ({S.PENDING_REVIEW}, S.APPROVED),
    "reject": ({S.PENDING_REVIEW, S.INSPECTING}, S.REJECTED),
    "cancel": ({S.PENDING_REVIEW, S.APPROVED, S.INTERCEPTING, S.AWAITING_RETURN}, S.CANCELLED),
    "start_refund": ({S.APPROVED}, S.REFUNDING),
    "start_interception": ({S.APPROVED}, S.INTERCEPTING),
    "interception_succeeded": ({S.INTERCEPTING}, S.REFUNDING),
    "interception_failed": ({S.INTERCEPTING}, S.AWAITING_RETURN),
    "await_return": ({S.APPROVED}, S.AWAITING_RETURN),
    "return_shipped": ({S.AWAITING_RETURN}, S.RETURN_IN_TRANSIT),
    "return_received": ({S.AWAITING_RETURN, S.RETURN_IN_TRANSIT}, S.INSPECTING),
    "inspection_passed": ({S.INSPECTING}, S.REFUNDING),
    # A transfer still awaited is not made once the channel paid after all.
    "channel_succeeded": ({S.REFUNDING, S.AWAITING_TRANSFER}, S.REFUNDED),
    "store_credit_paid": ({S.REFUNDING}, S.REFUNDED),
    "channel_failed": ({S.REFUNDING}, S.FAILED),
    "retry": ({S.FAILED}, S.REFUNDING),
    "pay_to_store_credit": ({S.FAILED}, S.REFUNDING),
    "choose_offline_transfer": ({S.FAILED}, S.AWAITING_TRANSFER),
    "transfer_confirmed": ({S.AWAITING_TRANSFER}, S.REFUNDED),
    "transfer_abandoned": ({S.AWAITING_TRANSFER}, S.FAILED),
    "overturn": ({S.REJECTED}, S.APPROVED),
    "start_replacement": ({S.APPROVED}, S.REPLACING),
    "replacement_shipped": ({S.REPLACING}, S.REPLACED),
    "replacement_unavailable": ({S.REPLACING}, S.REFUNDING),
}
# The fulfilment, kind and destination each transition's condition needs, to test the sources alone.
FULFILMENT_FOR = {"start_interception": "in_transit", "await_return": "delivered", "start_replacement": "delivered"}
KIND_FOR = {"start_replacement": RefundKind.REPLACEMENT}
DESTINATION_FOR = {"store_credit_paid": RefundDestination.STORE_CREDIT}


def _refund(
    state: str,
    *,
    fulfilment: str = "not_shipped",
    kind: str = RefundKind.REFUND_ONLY,
    destination: str = RefundDestination.ORIGINAL,
) -> Refund:
    order = Order(order_no="O1", goods_amount=Decimal("10.00"), total_amount=Decimal("10.00"))
    now = timezone.now()
    if fulfilment == "in_transit":
        order.shipment = Shipment(carrier="SF", tracking_no="1", shipped_at=now)
    elif fulfilment == "delivered":
        order.shipment = Shipment(carrier="SF", tracking_no="1", shipped_at=now, delivered_at=now)
    refund = Refund(
        refund_no="R1", state=state, amount=Decimal("10.00"), kind=kind, reason="quality_issue", destination=destination
    )
    refund.order = order
    return refund


def test_every_state_is_covered() -> None:
    targets = {target for _, target in TRANSITIONS.values()}
    sources = set().union(*(sources for sources, _ in TRANSITIONS.values()))
    assert targets | sources | {S.PENDING_REVIEW} == set(S)


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
@pytest.mark.parametrize("state", list(S))
def test_transition_allowed_exactly_from_its_sources(name: str, state: str) -> None:
    sources, target = TRANSITIONS[name]
    refund = _refund(
        state,
        fulfilment=FULFILMENT_FOR.get(name, "not_shipped"),
        kind=KIND_FOR.get(name, RefundKind.REFUND_ONLY),
        destination=DESTINATION_FOR.get(name, RefundDestination.ORIGINAL),
    )
    method = getattr(refund, name)
    if state in sources:
        assert can_proceed(method)
        method()
        assert refund.state == target
    else:
        assert not can_proceed(method)
        with pytest.raises(TransitionNotAllowed):
            method()
        assert refund.state == state


@pytest.mark.parametrize(
    ("name", "fulfilment", "kind", "allowed"),
    [
        ("start_interception", "not_shipped", RefundKind.REFUND_ONLY, False),
        ("start_interception", "delivered", RefundKind.REFUND_ONLY, False),
        ("start_interception", "in_transit", RefundKind.REFUND_ONLY, True),
        ("await_return", "in_transit", RefundKind.RETURN_AND_REFUND, False),
        ("await_return", "delivered", RefundKind.RETURN_AND_REFUND, True),
        ("start_refund", "delivered", RefundKind.RETURN_AND_REFUND, False),
        ("start_refund", "in_transit", RefundKind.RETURN_AND_REFUND, False),
        ("start_refund", "delivered", RefundKind.REFUND_ONLY, True),
        ("start_refund", "not_shipped", RefundKind.RETURN_AND_REFUND, True),
        ("start_refund", "delivered", RefundKind.REPLACEMENT, False),
        ("start_refund", "not_shipped", RefundKind.REPLACEMENT, False),
        ("start_replacement", "delivered", RefundKind.REPLACEMENT, True),
        ("start_replacement", "delivered", RefundKind.REFUND_ONLY, False),
        ("start_replacement", "delivered", RefundKind.RETURN_AND_REFUND, False),
    ],
)
def test_conditions_guard_the_routes(name: str, fulfilment: str, kind: str, allowed: bool) -> None:
    refund = _refund(S.APPROVED, fulfilment=fulfilment, kind=kind)
    assert can_proceed(getattr(refund, name)) is allowed


@pytest.mark.parametrize(
    ("destination", "allowed"),
    [(RefundDestination.STORE_CREDIT, True), (RefundDestination.ORIGINAL, False), (RefundDestination.OFFLINE, False)],
)
def test_only_a_store_credit_refund_is_paid_by_crediting_the_balance(destination: str, allowed: bool) -> None:
    refund = _refund(S.REFUNDING, destination=destination)
    assert can_proceed(refund.store_credit_paid) is allowed


def test_state_is_protected() -> None:
    refund = _refund(S.PENDING_REVIEW)
    with pytest.raises(AttributeError):
        refund.state = S.REFUNDED
    assert refund.state == S.PENDING_REVIEW
