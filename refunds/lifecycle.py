"""A refund's life in one place: the locks, the transitions with their events, and what entering a state sets off.

Every app that changes a refund goes through here:

- **Locks.** ``lock_refund`` takes the order's row, then the refund's: the one lock order of every writer
  (``lock_orders_then_refunds`` for a page of many). Rows that hang off them are locked after.
- **Transitions.** ``refund_transition`` runs a transition of the refund's state machine, saves it and writes its
  ``RefundEvent``; ``refund_step`` does the same in memory for a refund not written yet (its creation), and
  ``TransitionBatch`` for many refunds at once (the automatic approval), checked against the same transition
  table and written in a few statements. Every event row comes from ``event_fields``.
- **Effects.** ``EFFECTS`` maps a state to the jobs entering it sets off, each given the refund's id and handed to
  the job queue after commit (in this process without Redis): nothing is set off by a transaction that rolls
  back. The apps that do the work register it from their ``AppConfig.ready()``, so this module names none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django_fsm import FSMField, FSMMeta, can_proceed

from mall.jobs import job_enqueue, job_enqueue_many
from mall.models import Order, OrderItem
from mall.services import Actor
from mall.texts import Note, as_text
from refunds.exceptions import RefundNotAllowed
from refunds.models import Refund, RefundEvent, RefundState

# --- locks -------------------------------------------------------------------------------------------------


def lock_order(order_id: int) -> Order:
    """Lock an order's row (with its payment and shipment, which routing and execution read)."""
    return Order.objects.select_for_update().select_related("payment", "shipment").get(pk=order_id)


def lock_customer_order(*, customer: Any, order_no: str) -> tuple[Order, dict[int, OrderItem]] | None:
    """``lock_order`` by the order's number, for the customer who owns it, with the order's lines (by id) locked
    in the same statement: the order's row, the one the unique number finds, is read and locked first, then its
    lines. None when the customer has no such order."""
    lines = list(
        OrderItem.objects.select_for_update()
        .select_related("order__payment", "order__shipment")
        .filter(order__order_no=order_no, order__customer=customer)
        .order_by()  # by id is the index's own order; asking for it costs the query's compilation a fifth more
    )
    if not lines:  # no such order of theirs, or (never for a paid one) an order without lines
        found = (
            Order.objects.select_for_update()
            .select_related("payment", "shipment")
            .filter(order_no=order_no, customer=customer)
            .first()
        )
        return None if found is None or found.order_no != order_no else (found, {})
    order: Order = lines[0].order
    if order.order_no != order_no:  # MariaDB's collation ignores case and trailing spaces: a number is exact
        return None
    for line in lines:
        line.order = order  # one instance, as the claims update it
    return order, {line.pk: line for line in lines}


def lock_refund(refund_id: int, *, order_id: int | None = None) -> Refund:
    """Lock the order first, then the refund: the one lock order every writer uses. A caller that already
    holds the refund passes its ``order_id`` (a refund never changes order) and saves the look-up."""
    if order_id is None:
        order_id = Refund.objects.values_list("order_id", flat=True).get(pk=refund_id)
    order = lock_order(order_id)
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    refund.order = order
    return refund


def lock_orders_then_refunds(
    *, orders: QuerySet[Order], refunds: QuerySet[Refund]
) -> tuple[dict[int, Order], set[int]]:
    """Lock a page: ``orders`` in id order, then ``refunds``. Returns the orders by id and the ids of the refunds
    locked (those ``refunds`` still selects once its orders are held)."""
    locked_orders = {order.pk: order for order in orders.select_for_update().order_by("pk")}
    locked_refunds = set(refunds.select_for_update().values_list("pk", flat=True))
    return locked_orders, locked_refunds


# --- events --------------------------------------------------------------------------------------------------


class EventFields(NamedTuple):
    """The columns of one ``RefundEvent`` besides its refund and time."""

    actor_id: int | None
    from_state: str
    to_state: str
    note_code: str
    note_params: dict[str, Any]
    internal: bool


def actor_pk(actor: Actor) -> int | None:
    """The user's id, or None for the system and anonymous callers."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    pk: int | None = actor.pk
    return pk


def event_fields(
    *, from_state: str, to_state: str, actor: Actor = None, note: Note = "", internal: bool = False
) -> EventFields:
    """What the event of a refund going from ``from_state`` to ``to_state`` records: the one builder of event rows,
    for one refund and for a batch alike. Equal states record a fact without a change of state. The note is kept
    as a text code and its parameters (``mall.texts``), rendered in each reader's language; words a person typed
    are kept as typed."""
    text = as_text(note)
    return EventFields(actor_pk(actor), from_state, to_state, text.code, text.params, internal)


def event_build(
    *, refund: Refund, from_state: str, actor: Actor = None, note: Note = "", internal: bool = False
) -> RefundEvent:
    """The event of ``refund`` arriving in its current state, as an unsaved ``RefundEvent`` (of a refund that may
    not be written yet)."""
    fields = event_fields(from_state=from_state, to_state=refund.state, actor=actor, note=note, internal=internal)
    return RefundEvent(refund=refund, **fields._asdict())


def refund_record_event(
    *, refund: Refund, from_state: str, actor: Actor = None, note: Note = "", internal: bool = False
) -> RefundEvent:
    event = event_build(refund=refund, from_state=from_state, actor=actor, note=note, internal=internal)
    event.save(force_insert=True)
    return event


# --- effects -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """A job that entering a state sets off: ``job(refund_id)`` on ``queue``. The job is named by its dotted path:
    registering imports nothing at start-up, and the queue keeps that name whichever way it is given."""

    job: str
    queue: str = "default"


class EffectsTable:
    """What entering each state sets off, in the order it was registered."""

    def __init__(self) -> None:
        self._by_state: dict[str, tuple[Effect, ...]] = {}

    def register(self, state: str, *, job: str, queue: str = "default") -> Effect:
        """Add ``job`` to what entering ``state`` sets off. Registering the same effect again changes nothing
        (an app registry populated twice)."""
        if state not in RefundState.values:
            raise ValueError(f"{state!r} is not a refund state")
        if "." not in job:
            raise ValueError(f"{job!r} is not the dotted path of a job")
        effect = Effect(job=job, queue=queue)
        registered = self._by_state.get(state, ())
        if effect not in registered:
            self._by_state[state] = (*registered, effect)
        return effect

    def on_entering(self, state: str) -> tuple[Effect, ...]:
        return self._by_state.get(state, ())

    def as_dict(self) -> dict[str, tuple[Effect, ...]]:
        return dict(self._by_state)

    def set_off(self, *, state: str, refund_id: int) -> None:
        """Hand what entering ``state`` sets off for one refund to the job queue, after commit."""
        for effect in self.on_entering(state):
            job_enqueue(effect.job, refund_id, queue=effect.queue)

    def set_off_many(self, *, state: str, refund_ids: Sequence[int]) -> None:
        """The same for many refunds that entered ``state``: one hand-over per job (pipelines, fan-out)."""
        self.set_off_entered({state: refund_ids})

    def set_off_entered(self, entered: Mapping[str, Sequence[int]]) -> None:
        """What entering each state sets off, for the refunds that entered it (in one transaction: a creation's
        steps, a batch), one hand-over per job. A job that several of the states set off is handed out once per
        refund: each job loads the refund as it is when it runs."""
        handed: dict[Effect, set[int]] = {}
        for state, refund_ids in entered.items():
            for effect in self.on_entering(state):
                seen = handed.setdefault(effect, set())
                fresh = [refund_id for refund_id in refund_ids if refund_id not in seen]
                seen.update(fresh)
                if len(fresh) == 1:
                    job_enqueue(effect.job, fresh[0], queue=effect.queue)
                elif fresh:
                    job_enqueue_many(effect.job, [(refund_id,) for refund_id in fresh], queue=effect.queue)


EFFECTS = EffectsTable()


def on_enter(state: str, *, job: str, queue: str = "default") -> Effect:
    """Register what entering ``state`` sets off; called by the apps that do the work, from ``ready()``."""
    return EFFECTS.register(state, job=job, queue=queue)


def effects_set_off(*, state: str, refund_id: int) -> None:
    """Hand out again what entering ``state`` sets off, for a refund still in it whose work was lost (the
    re-dispatch sweeps). Every effect is an idempotent job, so a repeat is harmless."""
    EFFECTS.set_off(state=state, refund_id=refund_id)


# --- transitions ---------------------------------------------------------------------------------------------


def refund_transition(
    *,
    refund: Refund,
    action: Callable[[], None],
    actor: Actor = None,
    note: Note = "",
    set_off: bool = True,
) -> Refund:
    """Run ``action`` (a transition method of ``refund``, locked by the caller), save the refund, write the event,
    and hand what entering the new state sets off to the job queue after commit. ``set_off=False`` for a passage
    through a state whose work is done already (a late success after a failure passes ``refunding`` with the money
    back)."""
    if not can_proceed(action):
        raise RefundNotAllowed(state=refund.state)
    from_state = refund.state
    action()
    refund.state_changed_at = timezone.now()
    refund.save()
    refund_record_event(refund=refund, from_state=from_state, actor=actor, note=note)
    if set_off:
        EFFECTS.set_off(state=refund.state, refund_id=refund.pk)
    return refund


def refund_step(*, refund: Refund, action: Callable[[], None], note: Note) -> RefundEvent:
    """Run a transition of a refund not written yet (by the system: no actor) and return its event, unsaved."""
    if not can_proceed(action):
        raise RefundNotAllowed(state=refund.state)
    from_state = refund.state
    action()
    return event_build(refund=refund, from_state=from_state, note=note)


def refund_events_write(*, refund: Refund, events: Sequence[RefundEvent]) -> None:
    """Insert the events of a refund just written (its creation and its first steps) in one statement, and hand
    what entering each state it reached sets off to the job queue after commit. The events get their time; they
    stay instances without an id (the rows are written as a batch's are, without reading ids back)."""
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    for event in events:
        event.created_at = now
    _insert_events(
        [
            _event_row(refund.pk, EventFields(*(getattr(event, name) for name in EventFields._fields)), stamp)
            for event in events
        ]
    )
    EFFECTS.set_off_entered({event.to_state: [refund.pk] for event in events if event.from_state != event.to_state})


_METAS: dict[str, FSMMeta] = {}


def transition_meta(name: str) -> FSMMeta:
    """The state machine's entry for the transition method ``name`` of ``Refund``: its sources, targets and
    conditions. Anything that is not a transition of the refund's state is refused."""
    meta = _METAS.get(name)
    if meta is None:
        state: FSMField = Refund._meta.get_field("state")
        method = state.transitions[Refund].get(name)
        if method is None:
            raise ValueError(f"{name!r} is not a transition of a refund's state")
        meta = _METAS[name] = method._django_fsm
    return meta


# The event columns of a batch, in the order of its INSERT.
_EVENT_COLUMNS = ("refund", "actor", "from_state", "to_state", "note_code", "note_params", "internal", "created_at")
_NOTE_PARAMS = RefundEvent._meta.get_field("note_params")


def _event_row(refund_id: int, fields: EventFields, stamp: Any) -> tuple[Any, ...]:
    """One row of ``_EVENT_COLUMNS``: the note's parameters as the database keeps them, ``stamp`` a time already
    adapted by ``connection.ops.adapt_datetimefield_value``."""
    params = _NOTE_PARAMS.get_db_prep_save(fields.note_params, connection)
    return (refund_id, *fields._replace(note_params=params), stamp)


def _insert_events(rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert events given as rows of ``_EVENT_COLUMNS``: one multi-row INSERT per thousand (mysqlclient's
    executemany folds the rows into one statement), without building a model instance per row."""
    meta = RefundEvent._meta
    quote = connection.ops.quote_name
    column_of = {field.name: str(field.column) for field in meta.concrete_fields}
    columns = ", ".join(quote(column_of[name]) for name in _EVENT_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_EVENT_COLUMNS))
    # Table and column names come from the model's metadata; every value is a bound parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            cursor.executemany(sql, rows[start : start + 1000])


@dataclass
class TransitionBatch:
    """Transitions and events of many refunds, locked by the caller, written in a few statements.

    Each refund's steps are checked against the state machine's transition table, conditions included, before
    any of them runs; they then run through the transition methods themselves, in memory. ``write`` sends one
    UPDATE per move (state before, state after), which changes only rows still in the state the steps started
    from, one INSERT of the events (built by ``event_fields``), and hands what entering each state a step reached
    sets off to the job queue after commit, one hand-over per state and job.
    """

    now: datetime
    moves: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (from, to) -> refund ids
    entered: dict[str, list[int]] = field(default_factory=dict)  # state -> refund ids, each state a step reached
    events: list[tuple[Any, ...]] = field(default_factory=list)  # rows of _EVENT_COLUMNS

    def __post_init__(self) -> None:
        self._stamp = connection.ops.adapt_datetimefield_value(self.now)

    def _row(
        self, refund_id: int, from_state: str, to_state: str, note: Note, *, internal: bool = False
    ) -> tuple[Any, ...]:
        fields = event_fields(from_state=from_state, to_state=to_state, note=note, internal=internal)
        return _event_row(refund_id, fields, self._stamp)

    def advance(self, refund: Refund, steps: Iterable[tuple[str, Note]]) -> bool:
        """Run ``steps`` (transition name, event note) on ``refund`` by the system, all or none: False, with
        nothing run or recorded, when the transition table or a condition refuses one of them."""
        steps = list(steps)
        states = [str(refund.state)]  # the state before each step, then the last one
        for name, _note in steps:
            meta = transition_meta(name)
            if not (meta.has_transition(states[-1]) and meta.conditions_met(refund, states[-1])):
                return False
            states.append(str(meta.next_state(states[-1])))
        refund_id = refund.pk
        for index, (name, note) in enumerate(steps):
            getattr(refund, name)()  # the transition method itself, its signals included: it goes to states[index + 1]
            self.events.append(self._row(refund_id, states[index], states[index + 1], note))
            self.entered.setdefault(states[index + 1], []).append(refund_id)
        if states[-1] != states[0]:
            self.moves.setdefault((states[0], states[-1]), []).append(refund_id)
        return True

    def record(self, refund: Refund, note: Note, *, internal: bool = False) -> None:
        """An event without a change of state (an escalation, say)."""
        state = refund.state
        self.events.append(self._row(refund.pk, state, state, note, internal=internal))

    def write(self) -> None:
        for (source, target), ids in self.moves.items():
            moved = Refund.objects.filter(pk__in=ids, state=source).update(
                state=target, state_changed_at=self.now, updated_at=self.now
            )
            if moved != len(ids):
                # The caller holds the rows locked: a refund that left ``source`` meanwhile is a caller's bug.
                raise RefundNotAllowed(state=source)
        _insert_events(self.events)
        EFFECTS.set_off_entered(self.entered)


__all__ = [
    "EFFECTS",
    "Effect",
    "EffectsTable",
    "EventFields",
    "TransitionBatch",
    "actor_pk",
    "effects_set_off",
    "event_build",
    "event_fields",
    "lock_order",
    "lock_orders_then_refunds",
    "lock_refund",
    "on_enter",
    "refund_events_write",
    "refund_record_event",
    "refund_step",
    "refund_transition",
    "transition_meta",
]
