"""The refund lifecycle: what entering a state sets off (registered by the apps that do the work, handed out after
commit, nothing on a rollback), and the batch path that writes many transitions in a few statements only along
the state machine's own transition table."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from mall.models import Order
from refunds import flow, lifecycle, services
from refunds.exceptions import RefundNotAllowed
from refunds.lifecycle import Effect, EffectsTable, TransitionBatch
from refunds.models import Refund, RefundEvent, RefundState
from refunds.services import ItemRequest
from tests.factories import ProductFactory, make_order

S = RefundState
ran: list[tuple[str, int]] = []  # what the jobs below saw, in the order they ran


def entered_approved(refund_id: int) -> None:
    ran.append((S.APPROVED, refund_id))


def entered_refunding(refund_id: int) -> None:
    ran.append((S.REFUNDING, refund_id))


def entered_rejected(refund_id: int) -> None:
    ran.append((S.REJECTED, refund_id))


JOB = f"{__name__}.entered_"


@pytest.fixture
def effects(monkeypatch: Any, settings: Any) -> Iterator[EffectsTable]:
    """A table of this module's jobs in place of the apps' own, run in this process after commit."""
    settings.JOBS_IN_PROCESS = True
    table = EffectsTable()
    table.register(S.APPROVED, job=JOB + "approved")
    table.register(S.REFUNDING, job=JOB + "refunding", queue="refunds")
    table.register(S.REJECTED, job=JOB + "rejected")
    monkeypatch.setattr(lifecycle, "EFFECTS", table)
    ran.clear()
    yield table
    ran.clear()


def _delivered_order(customer: Any) -> Order:
    return make_order(customer, lines=[(ProductFactory(price=Decimal("30.00")), "2")], status="delivered")


def _pending(customer: Any) -> Refund:
    """A quality claim on a delivered order: it waits for a person."""
    order = _delivered_order(customer)
    refund, _created = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason="quality_issue",
        kind="refund_only",
        items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("1"))],
    )
    assert refund.state == S.PENDING_REVIEW
    return refund


def _events(refund: Refund) -> list[tuple[str, str, int | None, bool, str]]:
    return [
        (event.from_state, event.to_state, event.actor_id, event.internal, event.note)
        for event in RefundEvent.objects.filter(refund=refund).order_by("pk")
    ]


# --- the effects table ---------------------------------------------------------------------------------------


def test_the_apps_register_what_entering_each_state_sets_off() -> None:
    told = Effect(job="notices.jobs.refund_steps_notify", queue="notifications")  # the customer hears of it
    assert lifecycle.EFFECTS.as_dict() == {
        S.PENDING_REVIEW: (told,),
        S.APPROVED: (told,),
        S.REJECTED: (told,),
        S.INSPECTING: (told,),
        S.REFUNDING: (Effect(job="payments.jobs.refund_execute", queue="refunds"), told),
        S.REFUNDED: (Effect(job="payments.jobs.refund_follow_up", queue="notifications"),),
        S.INTERCEPTING: (Effect(job="logistics.jobs.interception_request", queue="default"),),
        S.REPLACING: (Effect(job="logistics.jobs.replacement_ship", queue="default"),),
        S.AWAITING_RETURN: (told,),
    }


def test_registering_keeps_the_order_and_ignores_a_repeat() -> None:
    table = EffectsTable()
    first = table.register(S.REFUNDED, job="a.jobs.first", queue="notifications")
    second = table.register(S.REFUNDED, job="b.jobs.second")
    assert table.register(S.REFUNDED, job="a.jobs.first", queue="notifications") == first
    assert table.on_entering(S.REFUNDED) == (
        Effect(job="a.jobs.first", queue="notifications"),
        Effect(job="b.jobs.second", queue="default"),
    )
    assert second == Effect(job="b.jobs.second", queue="default")
    assert table.on_entering(S.FAILED) == ()
    assert table.as_dict() == {S.REFUNDED: (first, second)}


@pytest.mark.django_db
def test_a_job_that_several_entered_states_set_off_is_handed_out_once_per_refund(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.JOBS_IN_PROCESS = True
    table = EffectsTable()
    table.register(S.APPROVED, job=JOB + "approved")
    table.register(S.REFUNDING, job=JOB + "refunding", queue="refunds")
    table.register(S.REFUNDING, job=JOB + "approved")  # the same job, for another state too
    ran.clear()
    with django_capture_on_commit_callbacks(execute=True):
        table.set_off_entered({S.APPROVED: [7, 8], S.REFUNDING: [8, 9]})
    assert ran == [(S.APPROVED, 7), (S.APPROVED, 8), (S.REFUNDING, 8), (S.REFUNDING, 9), (S.APPROVED, 9)]
    ran.clear()


@pytest.mark.parametrize(
    ("state", "job", "message"),
    [
        ("paid", "a.jobs.first", "'paid' is not a refund state"),
        (S.REFUNDED, "first", "'first' is not the dotted path of a job"),
    ],
)
def test_registering_refuses_an_unknown_state_or_a_job_without_a_path(state: str, job: str, message: str) -> None:
    table = EffectsTable()
    with pytest.raises(ValueError, match=message):
        table.register(state, job=job)
    assert table.as_dict() == {}


@pytest.mark.django_db
def test_entering_states_sets_off_their_jobs_after_commit_in_order(
    customer: Any, agent: Any, effects: EffectsTable, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _pending(customer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.refund_approve(refund=refund, actor=agent, note="photos show rot")
        assert ran == []  # nothing before the commit
    assert len(callbacks) == 1  # the transaction's jobs are handed over together
    for callback in callbacks:
        callback()
    assert ran == [(S.APPROVED, refund.pk), (S.REFUNDING, refund.pk)]


@pytest.mark.django_db
def test_a_new_refund_sets_off_what_each_state_it_was_created_through_entered(
    customer: Any, effects: EffectsTable, django_capture_on_commit_callbacks: Any
) -> None:
    order = make_order(customer, lines=[(ProductFactory(price=Decimal("30.00")), "2")], status="paid")
    with django_capture_on_commit_callbacks(execute=True):
        refund, created = services.refund_apply(
            customer=customer,
            order_no=order.order_no,
            reason="not_shipped",
            kind="refund_only",
            items=[ItemRequest(order_item_id=order.items.get().pk, quantity=Decimal("2"))],
        )
    assert created and refund.state == S.REFUNDING  # approved at once, straight to the channel
    assert ran == [(S.APPROVED, refund.pk), (S.REFUNDING, refund.pk)]


@pytest.mark.django_db
def test_nothing_is_set_off_by_a_transaction_that_rolls_back(
    customer: Any, agent: Any, effects: EffectsTable, django_capture_on_commit_callbacks: Any
) -> None:
    refund = _pending(customer)
    events = _events(refund)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        services.refund_approve(refund=refund, actor=agent, note="photos show rot")
        raise ZeroDivisionError
    assert callbacks == []
    assert ran == []
    assert Refund.objects.get(pk=refund.pk).state == S.PENDING_REVIEW
    assert _events(refund) == events


@pytest.mark.django_db
def test_a_passage_through_a_state_whose_work_is_done_sets_nothing_off(
    customer: Any, agent: Any, effects: EffectsTable, django_capture_on_commit_callbacks: Any
) -> None:
    refund = services.refund_approve(refund=_pending(customer), actor=agent, note="photos show rot")
    refund = flow.refund_mark_failed(refund=refund, note="channel answered FAILED")
    ran.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refund = flow.refund_mark_refunded(refund=refund, channel_refund_id="X")
    assert refund.state == S.REFUNDED
    assert ran == []  # failed -> refunding -> refunded: the money is back, nothing to execute
    assert [(source, target) for source, target, *_rest in _events(refund)][-2:] == [
        (S.FAILED, S.REFUNDING),
        (S.REFUNDING, S.REFUNDED),
    ]


@pytest.mark.django_db
def test_the_re_dispatch_hands_out_what_entering_the_state_sets_off(
    effects: EffectsTable, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.effects_set_off(state=S.REFUNDING, refund_id=41)
        lifecycle.effects_set_off(state=S.INSPECTING, refund_id=42)  # nothing registered
    assert ran == [(S.REFUNDING, 41)]


# --- the batch path ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_writes_its_moves_events_and_effects(
    customer: Any, effects: EffectsTable, django_capture_on_commit_callbacks: Any
) -> None:
    first, second, escalated = _pending(customer), _pending(customer), _pending(customer)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        _orders, locked = lifecycle.lock_orders_then_refunds(
            orders=Order.objects.filter(pk__in=[first.order_id, second.order_id, escalated.order_id]),
            refunds=Refund.objects.filter(pk__in=[first.pk, second.pk, escalated.pk]),
        )
        assert locked == {first.pk, second.pk, escalated.pk}
        batch = TransitionBatch(now=now)
        for refund in (first, second):
            refund.order = Order.objects.select_related("shipment").get(pk=refund.order_id)
            assert batch.advance(refund, [("approve", "rule v1"), ("start_refund", "to the channel")])
        batch.record(escalated, "escalated: above the cap", internal=True)
        batch.write()
    assert batch.moves == {(S.PENDING_REVIEW, S.REFUNDING): [first.pk, second.pk]}
    assert dict(Refund.objects.values_list("pk", "state")) == {
        first.pk: S.REFUNDING,
        second.pk: S.REFUNDING,
        escalated.pk: S.PENDING_REVIEW,
    }
    assert Refund.objects.get(pk=first.pk).state_changed_at == now
    for refund in (first, second):
        assert _events(refund)[2:] == [
            (S.PENDING_REVIEW, S.APPROVED, None, False, "rule v1"),
            (S.APPROVED, S.REFUNDING, None, False, "to the channel"),
        ]
        assert [row[:3] for row in _events(refund)[:1]] == [("", S.PENDING_REVIEW, customer.pk)]  # submitted
    assert _events(escalated)[2:] == [(S.PENDING_REVIEW, S.PENDING_REVIEW, None, True, "escalated: above the cap")]
    # One hand-over per state the page's steps reached, as one refund's transitions would set off.
    assert batch.entered == {S.APPROVED: [first.pk, second.pk], S.REFUNDING: [first.pk, second.pk]}
    assert ran == [
        (S.APPROVED, first.pk),
        (S.APPROVED, second.pk),
        (S.REFUNDING, first.pk),
        (S.REFUNDING, second.pk),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "steps",
    [
        [("start_refund", "skips the review")],
        [("approve", "ok"), ("inspection_passed", "nothing was inspected")],
        [("approve", "ok"), ("start_interception", "the order is not on the road")],  # the condition refuses
        [("approve", "ok"), ("approve", "twice")],
    ],
    ids=["no such move from pending review", "second step not from approved", "condition not met", "repeated"],
)
def test_a_batch_refuses_a_move_the_state_machine_does_not_allow(
    customer: Any, effects: EffectsTable, steps: list[tuple[str, str]], django_capture_on_commit_callbacks: Any
) -> None:
    refund = _pending(customer)
    refund.order = Order.objects.select_related("shipment").get(pk=refund.order_id)
    events = _events(refund)
    batch = TransitionBatch(now=timezone.now())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert batch.advance(refund, steps) is False
        batch.write()
    assert refund.state == S.PENDING_REVIEW  # not even in memory: every step is checked before any runs
    assert (batch.moves, batch.entered, batch.events) == ({}, {}, [])
    assert Refund.objects.get(pk=refund.pk).state == S.PENDING_REVIEW
    assert _events(refund) == events
    assert (callbacks, ran) == ([], [])


def test_a_batch_refuses_a_step_that_is_not_a_transition() -> None:
    refund = Refund(refund_no="R1", state=S.PENDING_REVIEW, amount=Decimal("10.00"))
    with pytest.raises(ValueError, match="'save' is not a transition of a refund's state"):
        TransitionBatch(now=timezone.now()).advance(refund, [("save", "")])
    assert refund.state == S.PENDING_REVIEW


@pytest.mark.django_db
def test_a_batch_moves_only_rows_still_in_the_state_its_steps_started_from(
    customer: Any, agent: Any, effects: EffectsTable
) -> None:
    refund = _pending(customer)
    stale = Refund.objects.select_related("order__shipment").get(pk=refund.pk)
    services.refund_reject(refund=refund, actor=agent, note="no damage seen")  # what a missing lock would allow
    batch = TransitionBatch(now=timezone.now())
    assert batch.advance(stale, [("approve", "ok"), ("start_refund", "to the channel")])
    with pytest.raises(RefundNotAllowed), transaction.atomic():
        batch.write()
    assert Refund.objects.get(pk=refund.pk).state == S.REJECTED
    assert RefundEvent.objects.filter(refund=refund, to_state=S.APPROVED).count() == 0
