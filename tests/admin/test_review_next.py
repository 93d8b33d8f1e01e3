""" "Approve and next" / "reject and next": after the decision, the next refund the same person may decide, in the
queue's order (``refunds.selectors.review_queue``, which the queue itself sorts by); the queue with a message when
nothing is left. The queue's filters come along."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from refunds.compensation import compensation_create
from refunds.models import Refund
from refunds.selectors import next_for_review, review_queue
from tests.admin.conftest import delivered_order, login, pending_refund
from tests.admin.test_actions import act, reason_pk, texts
from tests.factories import UserFactory, reload

pytestmark = pytest.mark.django_db


def due_in(refund: Refund, minutes: int) -> Refund:
    """Set the review deadline (not the state): the queue's order is the deadline's."""
    Refund.objects.filter(pk=refund.pk).update(due_at=timezone.now() + timedelta(minutes=minutes))
    return reload(refund)


def change_url(refund: Refund) -> str:
    return f"/admin/refunds/refund/{refund.pk}/change/"


@pytest.fixture
def waiting(supervisor2: Any) -> dict[str, Refund]:
    """Refunds waiting for review, due in this order: first, large (above the cap), second, own (a compensation
    supervisor2 made above the cap), third."""
    big = delivered_order(UserFactory(), price="300.00", quantity="1")
    own = compensation_create(
        order=big, actor=supervisor2, order_item_id=big.items.get().pk, percent=100, reason="whole box rotten"
    )
    made = {
        "third": due_in(pending_refund(), 50),
        "second": due_in(pending_refund(), 30),
        "own": due_in(own, 40),
        "large": due_in(pending_refund(price="6000.00", quantity="1"), 20),
        "first": due_in(pending_refund(), 10),
    }
    assert made["own"].state == "pending_review"
    return made


def test_each_person_reviews_the_refunds_they_may_decide_in_the_queues_order(
    waiting: dict[str, Refund], agent: Any, supervisor: Any, supervisor2: Any, finance: Any
) -> None:
    w = waiting
    # Agents: nothing above the cap. Supervisors: everything but what they created themselves.
    assert list(review_queue(agent)) == [w["first"], w["second"], w["third"]]
    assert list(review_queue(supervisor)) == [w["first"], w["large"], w["second"], w["own"], w["third"]]
    assert list(review_queue(supervisor2)) == [w["first"], w["large"], w["second"], w["third"]]
    assert list(review_queue(finance)) == []
    # The queue's own order is the same: its page lists them as review_queue does.
    html = login(supervisor).get("/admin/refunds/refund/?state__exact=pending_review").content.decode()
    listed = [r for r in review_queue(supervisor) if r.refund_no in html]
    assert sorted(listed, key=lambda r: html.index(r.refund_no)) == list(review_queue(supervisor))
    # Next after a refund: the following one; after the last, back to the top; never the refund itself.
    assert next_for_review(agent) == w["first"]
    assert next_for_review(agent, after=w["first"]) == w["second"]
    assert next_for_review(agent, after=w["large"]) == w["second"]  # one the agent cannot decide
    assert next_for_review(agent, after=w["third"]) == w["first"]
    assert next_for_review(finance, after=w["first"]) is None


def test_a_refund_without_a_deadline_comes_first(waiting: dict[str, Refund], agent: Any) -> None:
    Refund.objects.filter(pk=waiting["third"].pk).update(due_at=None)
    undated = reload(waiting["third"])
    assert list(review_queue(agent)) == [undated, waiting["first"], waiting["second"]]
    assert next_for_review(agent, after=undated) == waiting["first"]
    assert next_for_review(agent, after=waiting["second"]) == undated


def test_approve_and_reject_and_next_walk_the_queue_then_return_to_it(waiting: dict[str, Refund], agent: Any) -> None:
    w = waiting
    client = login(agent)
    response = act(client, w["first"], "approve", and_next="1")
    assert response.status_code == 302
    assert response["Location"] == change_url(w["second"])
    assert texts(response) == [f"Approve: refund {w['first'].refund_no} is now “refunding”."]
    client.get(response["Location"])  # as the browser does: the next refund's page shows the message
    response = act(client, w["second"], "reject", reason=reason_pk("duplicate"), and_next="1")
    assert response["Location"] == change_url(w["third"])
    client.get(response["Location"])
    response = act(client, w["third"], "approve", and_next="1")
    assert response["Location"] == "/admin/refunds/refund/"
    assert texts(response) == [
        f"Approve: refund {w['third'].refund_no} is now “refunding”.",
        "No other refund is waiting for your decision.",
    ]
    assert [reload(w[k]).state for k in ("first", "second", "third", "large", "own")] == [
        "refunding",
        "rejected",
        "refunding",
        "pending_review",
        "pending_review",
    ]
    # A plain "Approve" stays on the refund.
    other = due_in(pending_refund(), 5)
    assert act(client, other, "approve")["Location"] == change_url(other)


def test_next_starts_from_the_refund_decided_and_wraps_around(waiting: dict[str, Refund], agent: Any) -> None:
    w = waiting
    client = login(agent)
    assert act(client, w["second"], "approve", and_next="1")["Location"] == change_url(w["third"])
    assert act(client, w["third"], "approve", and_next="1")["Location"] == change_url(w["first"])


def test_the_queues_filters_come_along(waiting: dict[str, Refund], agent: Any) -> None:
    w = waiting
    client = login(agent)
    kept = "_changelist_filters=state__exact%3Dpending_review"
    page = client.get(f"{change_url(w['first'])}?{kept}").content.decode()
    assert f'<form method="post" action="/admin/refunds/refund/{w["first"].pk}/act/approve/?{kept}"' in page
    assert f'<a href="{change_url(w["second"])}?{kept}" id="next-refund">' in page
    assert '<a href="/admin/refunds/refund/?state__exact=pending_review">Refunds</a>' in page
    response = client.post(f"/admin/refunds/refund/{w['first'].pk}/act/approve/?{kept}", {"and_next": "1"})
    assert response["Location"] == f"{change_url(w['second'])}?{kept}"
    for name in ("second", "third"):
        response = client.post(f"/admin/refunds/refund/{w[name].pk}/act/approve/?{kept}", {"and_next": "1"})
    assert response["Location"] == "/admin/refunds/refund/?state__exact=pending_review"


def test_a_failed_decision_stays_on_the_refund(waiting: dict[str, Refund], agent: Any) -> None:
    w = waiting
    client = login(agent)
    # No reason: the page again with the error at the field; nothing moved, nobody was sent on.
    response = act(client, w["first"], "reject", note="looks fine", and_next="1")
    assert response.status_code == 400
    assert 'id="id_reject_reason_error"><li>Choose a reason for rejecting.</li>' in response.content.decode()
    assert reload(w["first"]).state == "pending_review"
    # Not allowed at all: refused before anything.
    assert act(client, w["large"], "approve", and_next="1").status_code == 403
    assert reload(w["large"]).state == "pending_review"


def test_the_buttons_and_the_next_link_are_offered_only_for_a_review(
    waiting: dict[str, Refund], agent: Any, finance: Any, supervisor: Any
) -> None:
    w = waiting
    html = login(agent).get(change_url(w["first"])).content.decode()
    assert html.count('name="and_next" value="1"') == 2
    assert (
        '<button type="submit" class="button default and-next" name="and_next" value="1">Approve and next</button>'
        in html
    )
    assert (
        '<button type="submit" class="button danger and-next" name="and_next" value="1">Reject and next</button>'
        in html
    )
    assert f'<a href="{change_url(w["second"])}" id="next-refund">Next waiting for you ›</a>' in html
    finance_html = login(finance).get(change_url(w["first"])).content.decode()
    assert "and_next" not in finance_html
    assert 'id="next-refund"' not in finance_html
    # A decided refund offers no "and next", but still leads to the top of the person's queue.
    done = reload(w["second"])
    act(login(agent), done, "approve")
    html = login(agent).get(change_url(done)).content.decode()
    assert "and_next" not in html
    assert f'<a href="{change_url(w["first"])}" id="next-refund">' in html
