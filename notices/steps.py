"""Which steps of a refund's timeline the customer is told of, and what each message says.

A step is a state a refund enters (optionally only from some states). Apps register the steps they know about
from their ``AppConfig.ready()`` with a builder of the message's event and parameters; registering a step also
makes entering that state set off ``notices.jobs.refund_steps_notify`` (``refunds.lifecycle.on_enter``). That
job tells the customer of every registered step of the refund's recent timeline not told yet, once per event
(the message's key is ``event:<RefundEvent id>``), so a refund that passed several steps in one transaction gets
each, in order, and a job run twice tells nothing twice.

``notices`` registers the steps it can word from the refund alone (received, approved, rejected, goods received);
``logistics`` those that need its records (the return address, the inspection's result).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias

from django.db.models import F, Q
from django.utils import timezone

from notices.catalogue import MessageEvent
from notices.models import CustomerMessage
from notices.services import customer_notify
from refunds.lifecycle import on_enter
from refunds.models import Refund, RefundEvent, RefundSource, RefundState

STEPS_JOB = "notices.jobs.refund_steps_notify"
# Only steps this recent are told: a refund that moves today does not tell of its steps of last month.
WINDOW = timedelta(hours=6)

Builder: TypeAlias = Callable[[Refund, RefundEvent], tuple[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class Step:
    state: str
    build: Builder
    after: tuple[str, ...] | None = None  # the states it follows; None: any other state

    def matches(self, event: RefundEvent) -> bool:
        return self.after is None or event.from_state in self.after


_STEPS: dict[str, tuple[Step, ...]] = {}


def step_register(state: str, build: Builder, *, after: tuple[str, ...] | None = None) -> Step:
    """Tell the customer when a refund enters ``state`` (from one of ``after``): ``build`` gives the message's
    event and parameters. Registering the same step again changes nothing."""
    step = Step(state=state, build=build, after=after)
    registered = _STEPS.get(state, ())
    if step not in registered:
        _STEPS[state] = (*registered, step)
    on_enter(state, job=STEPS_JOB, queue="notifications")
    return step


def steps() -> dict[str, tuple[Step, ...]]:
    return dict(_STEPS)


def _step_for(event: RefundEvent) -> Step | None:
    return next((step for step in _STEPS.get(event.to_state, ()) if step.matches(event)), None)


def told_events(since: Any) -> Q:
    """Events of the registered steps (a condition on ``RefundEvent``), not internal, since ``since``."""
    condition = Q()
    for state, registered in _STEPS.items():
        for step in registered:
            entering = Q(to_state=state)
            if step.after is not None:
                entering &= Q(from_state__in=step.after)
            condition |= entering
    if not _STEPS:
        return Q(pk__in=[])
    return condition & Q(internal=False, created_at__gte=since) & ~Q(from_state=F("to_state"))


def refund_steps_notify(*, refund_id: int) -> list[str]:
    """Tell the customer of each recent step of the refund not told yet; returns the events told now."""
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    told = set(CustomerMessage.objects.filter(refund=refund, key__startswith="event:").values_list("key", flat=True))
    events = RefundEvent.objects.filter(told_events(timezone.now() - WINDOW), refund=refund).order_by(
        "created_at", "id"
    )
    done = []
    for event in events:
        key = f"event:{event.pk}"
        step = _step_for(event)
        if key in told or step is None:
            continue
        kind, params = step.build(refund, event)
        customer_notify(refund=refund, event=kind, params=params, key=key)
        done.append(kind)
    return done


# --- the steps worded from the refund alone ---------------------------------------------------------------


def _money(refund: Refund) -> dict[str, Any]:
    return {"order_no": refund.order.order_no, "amount": refund.amount}


def received(refund: Refund, event: RefundEvent) -> tuple[str, Mapping[str, Any]]:
    if refund.source == RefundSource.CUSTOMER:
        return MessageEvent.RECEIVED, _money(refund)
    return MessageEvent.OPENED, {**_money(refund), "reason": refund.reason}


def approved(refund: Refund, event: RefundEvent) -> tuple[str, Mapping[str, Any]]:
    return MessageEvent.APPROVED, _money(refund)


def rejected(refund: Refund, event: RefundEvent) -> tuple[str, Mapping[str, Any]]:
    return MessageEvent.REJECTED, {"reason": event.note_text}


def goods_received(refund: Refund, event: RefundEvent) -> tuple[str, Mapping[str, Any]]:
    return MessageEvent.GOODS_RECEIVED, {}


def register_core_steps() -> None:
    step_register(RefundState.PENDING_REVIEW, received, after=("",))
    step_register(RefundState.APPROVED, approved)
    step_register(RefundState.REJECTED, rejected)
    step_register(RefundState.INSPECTING, goods_received)
