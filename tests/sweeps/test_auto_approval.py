"""Automatic approval: a refund nobody reviewed by its due time is approved when within policy (amount cap,
reason, and for the customers of the gray release the abuse rule), escalated once otherwise; the note names
the rule."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from refunds import auto_approval
from refunds import services as refund_services
from refunds.auto_approval import RULE_V1, RULE_V2
from refunds.models import Refund, RefundEvent, RefundState
from refunds.rollout import rollout_bucket
from refunds.sweeps import auto_approval_due, auto_approval_sweep, price_anomaly_sweep
from refunds.sweeps.auto_approval import _decide_page
from tests.factories import UserFactory
from tests.sweeps.conftest import T0, paid_order, product, quality_claim, with_photo

pytestmark = pytest.mark.django_db
S = RefundState
DUE = T0 + timedelta(hours=2)


def _approval_note(refund: Refund) -> str:
    return RefundEvent.objects.get(refund=refund, from_state=S.PENDING_REVIEW, to_state=S.APPROVED).note


def _claim(customer: Any, price: str = "50.00") -> Refund:
    return quality_claim(customer, paid_order(customer, [(product(price), "1")], status="delivered"))


def test_fires_exactly_at_the_due_time_and_not_before(customer: Any, clock: Any) -> None:
    refund = _claim(customer)
    assert refund.due_at == DUE

    clock.move_to(DUE - timedelta(seconds=1))
    assert dict(auto_approval_sweep().counts) == {}
    assert Refund.objects.get(pk=refund.pk).state == S.PENDING_REVIEW

    clock.move_to(DUE)
    assert dict(auto_approval_sweep().counts) == {"approve": 1}
    refund.refresh_from_db()
    assert refund.state == S.REFUNDING  # approved, then straight to the channel: nothing to send back
    note = _approval_note(refund)
    assert RULE_V1 in note and "¥50.00" in note
    approval = RefundEvent.objects.get(refund=refund, to_state=S.APPROVED)
    assert approval.actor is None

    assert dict(auto_approval_sweep().counts) == {}
    assert RefundEvent.objects.filter(refund=refund, to_state=S.APPROVED).count() == 1


@pytest.mark.parametrize(("price", "approved"), [("500.00", True), ("500.01", False)])
def test_amount_cap(customer: Any, clock: Any, settings: Any, price: str, approved: bool) -> None:
    settings.REFUND_AUTO_APPROVE_MAX_AMOUNT = Decimal("500")
    refund = _claim(customer, price)
    clock.move_to(DUE)
    auto_approval_sweep()
    refund.refresh_from_db()
    if approved:
        assert refund.state == S.REFUNDING
        assert RULE_V1 in _approval_note(refund)
    else:
        assert (refund.state, refund.escalated_at) == (S.PENDING_REVIEW, DUE)
        assert refund.escalation_reason == f"{RULE_V1}: ¥500.01 is above the automatic approval cap of ¥500.00"


def test_escalates_once_and_never_approves_it_later(customer: Any, clock: Any, settings: Any) -> None:
    settings.REFUND_AUTO_APPROVE_MAX_AMOUNT = Decimal("10")
    refund = _claim(customer)
    clock.move_to(DUE)
    assert dict(auto_approval_sweep().counts) == {"escalate": 1}
    settings.REFUND_AUTO_APPROVE_MAX_AMOUNT = Decimal("500")  # the policy changes: still a person's decision
    clock.move_to(DUE + timedelta(hours=5))
    assert dict(auto_approval_sweep().counts) == {}
    refund.refresh_from_db()
    assert refund.state == S.PENDING_REVIEW
    assert RefundEvent.objects.filter(refund=refund, internal=True, to_state=S.PENDING_REVIEW).count() == 1


def test_a_reason_outside_the_list_is_escalated(customer: Any, clock: Any) -> None:
    paid_order(customer, [(product("20.00"), "1", "99.00")])
    price_anomaly_sweep()  # waits for review, due in 2 hours
    clock.move_to(DUE)
    auto_approval_sweep()
    refund = Refund.objects.get()
    assert refund.state == S.PENDING_REVIEW
    assert refund.escalation_reason == f"{RULE_V1}: refunds for “price anomaly” are not approved automatically"


def test_a_refund_for_a_supervisor_is_escalated(customer: Any, clock: Any, settings: Any) -> None:
    settings.REFUND_MAX_AMOUNT = Decimal("40")
    refund = _claim(customer)
    assert refund.requires_supervisor
    clock.move_to(DUE)
    auto_approval_sweep()
    refund.refresh_from_db()
    assert refund.escalated_at == DUE
    assert "supervisor" in refund.escalation_reason


def test_a_refund_decided_by_a_person_is_left_alone(customer: Any, clock: Any, agent: Any) -> None:
    refund = _claim(customer)
    refund_services.refund_reject(refund=refund, actor=agent, note="the photos show no damage")
    clock.move_to(DUE)
    assert dict(auto_approval_sweep().counts) == {}
    assert Refund.objects.get(pk=refund.pk).state == S.REJECTED


def _customer_with(orders: int, refunds: int) -> tuple[Any, list[Refund]]:
    customer = UserFactory()
    delivered = [paid_order(customer, [(product("20.00"), "2")], status="delivered") for _ in range(orders)]
    claims = [quality_claim(customer, delivered[n % orders]) for n in range(refunds)]
    return customer, claims


@pytest.mark.parametrize(
    ("orders", "refunds", "flagged"),
    [(4, 1, False), (4, 2, False), (4, 3, True), (1, 1, False), (1, 2, True), (3, 3, True)],
    ids=["1/4", "2/4 at the limit", "3/4", "1/1 counts as 1/3", "2/1 counts as 2/3", "3/3"],
)
def test_abuse_rule_for_customers_in_the_rollout(
    clock: Any, settings: Any, orders: int, refunds: int, flagged: bool
) -> None:
    settings.REFUND_POLICY_ROLLOUT_PERCENT = 100
    settings.REFUND_ABUSE_RATE = Decimal("0.5")
    settings.REFUND_ABUSE_MIN_ORDERS = 3
    _, claims = _customer_with(orders, refunds)
    clock.move_to(DUE)
    auto_approval_sweep()
    for claim in claims:
        claim.refresh_from_db()
        if flagged:
            assert claim.state == S.PENDING_REVIEW
            assert claim.escalation_reason.startswith(f"{RULE_V2}: the customer's refund rate is ")
            assert f"({refunds} refunds, {orders} paid orders in 90 days), above 50%" in claim.escalation_reason
        else:
            assert claim.state == S.REFUNDING
            assert RULE_V2 in _approval_note(claim)


def test_abuse_rule_is_off_outside_the_rollout(clock: Any, settings: Any) -> None:
    settings.REFUND_POLICY_ROLLOUT_PERCENT = 0
    _, claims = _customer_with(3, 3)
    clock.move_to(DUE)
    assert dict(auto_approval_sweep().counts) == {"approve": 3}
    assert all(RULE_V1 in _approval_note(claim) for claim in claims)


@pytest.mark.parametrize(("above_bucket", "rule"), [(0, RULE_V1), (1, RULE_V2)], ids=["bucket out", "bucket in"])
def test_the_rollout_bucket_decides_which_policy(clock: Any, settings: Any, above_bucket: int, rule: str) -> None:
    customer, claims = _customer_with(1, 2)  # flagged under v2
    settings.REFUND_POLICY_ROLLOUT_PERCENT = rollout_bucket(customer.pk) + above_bucket
    clock.move_to(DUE)
    auto_approval_sweep()
    claim = Refund.objects.get(pk=claims[0].pk)
    if rule == RULE_V1:
        assert claim.state == S.REFUNDING and RULE_V1 in _approval_note(claim)
    else:
        assert claim.state == S.PENDING_REVIEW and claim.escalation_reason.startswith(RULE_V2)


def test_old_refunds_and_released_ones_do_not_count(clock: Any, settings: Any, agent: Any) -> None:
    settings.REFUND_POLICY_ROLLOUT_PERCENT = 100
    customer = UserFactory()
    old = paid_order(customer, [(product("20.00"), "2")], status="delivered")
    quality_claim(customer, old)  # approved at T0 + 2h, 91 days before the claim below
    clock.move_to(DUE)
    auto_approval_sweep()
    clock.move_to(DUE + timedelta(days=91))
    recent = paid_order(customer, [(product("20.00"), "3")], status="delivered")
    rejected = quality_claim(customer, recent)
    refund_services.refund_reject(refund=rejected, actor=agent, note="no damage")
    claim = quality_claim(customer, recent)  # 1 live refund, 1 paid order (counted as 3) in the window
    clock.move_to(DUE + timedelta(days=91, hours=2))
    auto_approval_sweep()
    claim.refresh_from_db()
    assert claim.state == S.REFUNDING
    assert "refund rate 33% within 50%" in _approval_note(claim)


def test_pages_with_equal_due_times_are_all_handled(customer: Any, clock: Any) -> None:
    claims = [_claim(customer, "10.00") for _ in range(5)]  # the clock is stopped: all due at the same instant
    clock.move_to(DUE)
    outcome = auto_approval_sweep(batch_size=2)
    assert dict(outcome.counts) == {"approve": 5}
    assert set(Refund.objects.filter(state=S.REFUNDING).values_list("pk", flat=True)) == {c.pk for c in claims}


def test_dry_run_tells_and_changes_nothing(customer: Any, clock: Any, settings: Any) -> None:
    settings.REFUND_AUTO_APPROVE_MAX_AMOUNT = Decimal("100")
    small, large = _claim(customer, "50.00"), _claim(customer, "150.00")
    clock.move_to(DUE)
    before = (list(Refund.objects.values_list("pk", "state", "escalated_at")), RefundEvent.objects.count())
    outcome = auto_approval_sweep(dry_run=True)
    assert outcome.ids == [small.pk, large.pk]
    assert [(p.action, p.label) for p in outcome.planned] == [
        ("approve", small.refund_no),
        ("escalate", large.refund_no),
    ]
    assert (list(Refund.objects.values_list("pk", "state", "escalated_at")), RefundEvent.objects.count()) == before


@pytest.mark.services  # the sweep lock lives in Redis
def test_one_run_at_a_time(customer: Any, clock: Any) -> None:
    from django_redis import get_redis_connection

    _claim(customer)
    clock.move_to(DUE)
    lock = get_redis_connection("default").lock("mall:lock:sweep:auto_approval", timeout=60)
    assert lock.acquire(blocking=False)
    try:
        outcome = auto_approval_sweep()
        assert outcome.locked_out and dict(outcome.counts) == {}
        assert Refund.objects.get().state == S.PENDING_REVIEW
    finally:
        lock.release()
    assert dict(auto_approval_sweep().counts) == {"approve": 1}


def _return_claim(customer: Any) -> Refund:
    order = paid_order(customer, [(product("30.00"), "1")], status="delivered")
    return quality_claim(customer, order, kind="return_and_refund")


def test_each_approved_refund_is_routed_and_every_step_recorded(customer: Any, clock: Any, settings: Any) -> None:
    settings.REFUND_AUTO_APPROVE_MAX_AMOUNT = Decimal("100")
    keep, send_back, large = _claim(customer, "50.00"), _return_claim(customer), _claim(customer, "150.00")
    clock.move_to(DUE)
    assert dict(auto_approval_sweep().counts) == {"approve": 2, "escalate": 1}
    steps = {
        refund.refund_no: list(
            RefundEvent.objects.filter(refund=refund)
            .order_by("pk")
            .values_list("from_state", "to_state", "actor_id", "internal", "created_at")
        )
        for refund in (keep, send_back, large)
    }
    # Applied for by the customer, then set to wait for review by the system.
    submitted = [("", S.PENDING_REVIEW, customer.pk, False, T0), (S.PENDING_REVIEW, S.PENDING_REVIEW, None, False, T0)]
    assert steps == {
        keep.refund_no: [
            *submitted,
            (S.PENDING_REVIEW, S.APPROVED, None, False, DUE),
            (S.APPROVED, S.REFUNDING, None, False, DUE),
        ],
        send_back.refund_no: [
            *submitted,
            (S.PENDING_REVIEW, S.APPROVED, None, False, DUE),
            (S.APPROVED, S.AWAITING_RETURN, None, False, DUE),
        ],
        large.refund_no: [*submitted, (S.PENDING_REVIEW, S.PENDING_REVIEW, None, True, DUE)],
    }
    states = dict(Refund.objects.values_list("pk", "state"))
    assert states == {keep.pk: S.REFUNDING, send_back.pk: S.AWAITING_RETURN, large.pk: S.PENDING_REVIEW}
    assert set(Refund.objects.values_list("state_changed_at", flat=True)) == {DUE, T0}
    assert Refund.objects.get(pk=large.pk).state_changed_at == T0  # escalation is not a change of state
    routed = RefundEvent.objects.get(refund=send_back, to_state=S.AWAITING_RETURN)
    assert routed.note == "waiting for the goods to come back"
    assert RefundEvent.objects.get(refund=large, internal=True).note.startswith("escalated: auto-approve-v1: ¥150.00")


def test_a_refund_decided_while_its_page_was_read_is_skipped(customer: Any, clock: Any, agent: Any) -> None:
    first, second = _claim(customer), _claim(customer)
    clock.move_to(DUE)
    page = list(auto_approval_due(now=DUE).order_by("pk"))
    verdicts = {refund.pk: auto_approval.decide(refund, history=None, has_photos=True) for refund in page}
    refund_services.refund_reject(refund=second, actor=agent, note="the photos show no damage")
    events = RefundEvent.objects.filter(refund=second).count()

    assert _decide_page(page, verdicts) == {first.pk: "approve", second.pk: "skipped"}
    assert dict(Refund.objects.values_list("pk", "state")) == {first.pk: S.REFUNDING, second.pk: S.REJECTED}
    assert RefundEvent.objects.filter(refund=second).count() == events


def test_a_page_costs_the_same_queries_whatever_its_size(customer: Any, clock: Any, settings: Any) -> None:
    settings.REFUND_POLICY_ROLLOUT_PERCENT = 100  # the abuse rule's history queries too
    settings.REFUND_AUTO_APPROVE_MAX_AMOUNT = Decimal("100")

    def sweep_queries(claims: int) -> int:
        for n in range(claims):
            _claim(UserFactory(), "150.00" if n % 3 == 0 else "40.00")
        clock.move_to(timezone.now() + timedelta(hours=2))
        with CaptureQueriesContext(connection) as queries:
            outcome = auto_approval_sweep()
        assert sum(outcome.counts.values()) == claims
        return len(queries)

    assert sweep_queries(3) == sweep_queries(12)


@pytest.mark.services  # the approved refunds' jobs go to RQ on Redis
def test_the_approved_refunds_jobs_are_queued_after_commit(
    customer: Any, clock: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("refunds")
    queue.empty()
    keep, send_back = _claim(customer), _return_claim(customer)
    clock.move_to(DUE)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        auto_approval_sweep()
    assert queue.count == 0  # nothing handed over before the commit
    for callback in callbacks:
        callback()
    try:
        jobs = queue.get_jobs()
        assert [(job.func_name, job.args) for job in jobs] == [("payments.jobs.refund_execute", (keep.pk,))]
        assert jobs[0].retries_left == 3
    finally:
        queue.empty()
    assert Refund.objects.get(pk=send_back.pk).state == S.AWAITING_RETURN  # waits for the goods: no job


def test_killed_half_way_the_next_run_does_the_rest(customer: Any, clock: Any, monkeypatch: Any) -> None:
    claims = [_claim(customer, "10.00") for _ in range(5)]
    clock.move_to(DUE)
    pages = []

    def dies_on_the_second_page(page: Any, verdicts: Any) -> dict[int, str]:
        pages.append(page)
        if len(pages) == 2:
            raise SystemExit("the worker was killed")  # mid-page: that page's transaction never commits
        return _decide_page(page, verdicts)

    monkeypatch.setattr("refunds.sweeps.auto_approval._decide_page", dies_on_the_second_page)
    with pytest.raises(SystemExit):
        auto_approval_sweep(batch_size=2)
    monkeypatch.undo()
    assert sorted(Refund.objects.filter(state=S.REFUNDING).values_list("pk", flat=True)) == [
        claims[0].pk,
        claims[1].pk,
    ]

    assert dict(auto_approval_sweep(batch_size=2).counts) == {"approve": 3}
    assert set(Refund.objects.values_list("state", flat=True)) == {S.REFUNDING}
    assert [RefundEvent.objects.filter(refund=claim, to_state=S.APPROVED).count() for claim in claims] == [1] * 5


@pytest.mark.parametrize("rollout", [0, 100])
def test_a_quality_claim_without_photos_goes_to_a_person_and_nothing_else_changes(
    customer: Any, clock: Any, settings: Any, rollout: int
) -> None:
    settings.REFUND_POLICY_ROLLOUT_PERCENT = rollout  # the same under both rules
    rule = RULE_V2 if rollout else RULE_V1
    order = paid_order(customer, [(product("50.00"), "2")], status="delivered")
    bare = quality_claim(customer, order, photo=False)
    photographed = _claim(UserFactory())  # another customer: the abuse rule counts per customer
    before = (
        Refund.objects.filter(pk=bare.pk).values("amount", "kind", "requires_supervisor", "reviewed_by", "due_at").get()
    )
    events_before = list(RefundEvent.objects.filter(refund=bare).values_list("pk", flat=True))
    item = order.items.get()

    clock.move_to(DUE)
    assert dict(auto_approval_sweep().counts) == {"approve": 1, "escalate": 1}

    bare.refresh_from_db()
    assert (bare.state, bare.escalated_at, bare.state_changed_at) == (S.PENDING_REVIEW, DUE, T0)
    assert bare.escalation_reason == f"{rule}: a quality claim without photos is not approved automatically"
    after = Refund.objects.filter(pk=bare.pk).values("amount", "kind", "requires_supervisor", "reviewed_by", "due_at")
    assert after.get() == before
    added = RefundEvent.objects.filter(refund=bare).exclude(pk__in=events_before)
    assert [(e.from_state, e.to_state, e.actor_id, e.internal, e.note) for e in added.order_by("id")] == [
        (S.PENDING_REVIEW, S.PENDING_REVIEW, None, True, f"escalated: {bare.escalation_reason}")
    ]
    item.refresh_from_db()
    assert (item.refund_claimed_quantity, item.refund_claimed_amount) == (Decimal("1.000"), Decimal("50.00"))
    assert Refund.objects.get(pk=photographed.pk).state == S.REFUNDING

    # Escalated once: a later sweep leaves it to the person, even after a photo arrives.
    with_photo(bare)
    clock.move_to(DUE + timedelta(hours=1))
    assert dict(auto_approval_sweep().counts) == {}
    assert Refund.objects.get(pk=bare.pk).state == S.PENDING_REVIEW


def test_only_quality_claims_need_photos(customer: Any) -> None:
    order = paid_order(customer, [(product("50.00"), "1")], status="delivered")
    claim = quality_claim(customer, order, photo=False)
    assert auto_approval.needs_photos(claim) is True
    assert auto_approval.with_photos([claim.pk]) == set()
    with_photo(claim)
    assert auto_approval.with_photos([claim.pk, claim.pk]) == {claim.pk}
    timeout = Refund(reason="shipping_timeout", amount=Decimal("10.00"))
    assert auto_approval.needs_photos(timeout) is False
    assert auto_approval.decide(timeout, history=None, has_photos=False).approve is True


def test_an_overdue_replacement_within_policy_is_approved_and_shipped(customer: Any, clock: Any) -> None:
    order = paid_order(customer, [(product("50.00"), "2")], status="delivered")
    replacement = quality_claim(customer, order, kind="replacement")
    clock.move_to(DUE)
    assert dict(auto_approval_sweep().counts) == {"approve": 1}
    replacement.refresh_from_db()
    assert (replacement.state, replacement.kind) == (S.REPLACING, "replacement")
    routed = RefundEvent.objects.get(refund=replacement, to_state=S.REPLACING)
    assert (routed.from_state, routed.actor_id, routed.note) == (S.APPROVED, None, "shipping a replacement")
