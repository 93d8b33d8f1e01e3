"""The refund page's buttons: shown only for transitions the state and the user's permissions allow, and
each one calling the service; bulk approve and reject with a result per row."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.apps import apps
from django.contrib.messages import get_messages

from refunds import services
from refunds.models import Refund, RefundEvent
from refunds.rejections import RejectionReason
from tests.admin.conftest import (
    awaiting_return_refund,
    delivered_order,
    failed_refund,
    inspecting_refund,
    login,
    pending_refund,
    refunded_refund,
)
from tests.conftest import client_for
from tests.factories import UserFactory, reload

pytestmark = pytest.mark.django_db


def page(client: Any, refund: Refund) -> str:
    response = client.get(f"/admin/refunds/refund/{refund.pk}/change/")
    assert response.status_code == 200
    return str(response.content.decode())


def buttons(html: str) -> list[str]:
    return re.findall(r'<form method="post" action="/admin/refunds/refund/\d+/act/(\w+)/"', html)


def act(client: Any, refund: Refund, name: str, note: str = "", **fields: Any) -> Any:
    return client.post(f"/admin/refunds/refund/{refund.pk}/act/{name}/", {"note": note, **fields})


def reason_pk(code: str) -> int:
    """A preset rejection reason (seeded by the migrations) by its code."""
    return int(RejectionReason.objects.get(code=code).pk)


def texts(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def snapshot(refund: Refund) -> tuple[Any, ...]:
    fresh = reload(refund)
    return fresh.state, fresh.reviewed_by_id, fresh.decision_note, RefundEvent.objects.filter(refund=refund).count()


@pytest.mark.parametrize(
    ("make", "agent_sees", "supervisor_sees"),
    [
        (lambda reviewer: pending_refund(), ["approve", "reject"], ["approve", "reject"]),
        (lambda reviewer: pending_refund(price="6000.00", quantity="1"), ["reject"], ["approve", "reject"]),
        (failed_refund, ["retry", "store_credit", "offline"], ["retry", "store_credit", "offline"]),
        (awaiting_return_refund, ["receive"], ["receive"]),
        # the inspection itself is completed on the warehouse's page (logistics): see the test below
        (inspecting_refund, ["reject"], ["reject"]),
        (refunded_refund, [], []),
    ],
)
def test_buttons_follow_state_and_role(
    make: Any, agent_sees: list[str], supervisor_sees: list[str], agent: Any, supervisor: Any, finance: Any
) -> None:
    refund = make(supervisor)
    assert buttons(page(login(agent), refund)) == agent_sees
    assert buttons(page(login(supervisor), refund)) == supervisor_sees
    html = page(login(finance), refund)
    assert buttons(html) == []
    assert 'id="note-form"' not in html
    assert 'id="dispute-form"' not in html
    assert "Compensation refund" not in html


def test_large_refund_tells_the_agent_why_there_is_no_approve(agent: Any) -> None:
    refund = pending_refund(price="6000.00", quantity="1")
    assert "only a supervisor may approve it" in page(login(agent), refund)


def test_agent_approves_through_the_service(agent: Any) -> None:
    refund = pending_refund()
    response = act(login(agent), refund, "approve")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/refunds/refund/{refund.pk}/change/"
    fresh = reload(refund)
    assert fresh.state == "refunding"
    assert fresh.reviewed_by_id == agent.pk
    event = RefundEvent.objects.filter(refund=refund, to_state="approved").get()
    assert event.actor_id == agent.pk
    assert texts(response) == [f"Approve: refund {refund.refund_no} is now “refunding”."]


def test_reject_needs_a_preset_reason(agent: Any) -> None:
    refund = pending_refund()
    before = snapshot(refund)
    response = act(login(agent), refund, "reject", note="photos show no damage")
    # The page again, the error at the reason, the words as typed; nothing changed.
    assert response.status_code == 400
    html = response.content.decode()
    assert '<ul class="errorlist" id="id_reject_reason_error"><li>Choose a reason for rejecting.</li></ul>' in html
    assert 'id="id_reject_note">\nphotos show no damage</textarea>' in html
    assert snapshot(refund) == before
    response = act(login(agent), refund, "reject", note="photos show no damage", reason=reason_pk("photos_not_proof"))
    assert response.status_code == 302
    fresh = reload(refund)
    assert (fresh.state, fresh.rejection_reason, fresh.decision_note, fresh.reviewed_by_id) == (
        "rejected",
        RejectionReason.objects.get(code="photos_not_proof"),
        "photos show no damage",
        agent.pk,
    )


def test_agent_cannot_approve_a_large_refund_even_by_posting(agent: Any, supervisor: Any) -> None:
    refund = pending_refund(price="6000.00", quantity="1")
    before = snapshot(refund)
    assert act(login(agent), refund, "approve").status_code == 403
    assert snapshot(refund) == before
    act(login(supervisor), refund, "approve")
    assert reload(refund).state == "refunding"
    assert reload(refund).reviewed_by_id == supervisor.pk


def test_finance_cannot_change_anything(finance: Any) -> None:
    refund = pending_refund()
    before = snapshot(refund)
    client = login(finance)
    for name in ("approve", "reject", "retry", "receive", "inspection_pass"):
        assert act(client, refund, name, note="x").status_code == 403
    assert client.post(f"/admin/refunds/refund/{refund.pk}/note/", {"note": "x"}).status_code == 403
    response = client.post(
        "/admin/refunds/refund/", {"action": "bulk_approve", "_selected_action": [refund.pk], "index": 0}
    )
    assert snapshot(refund) == before
    assert response.status_code in (200, 302)
    assert client.post(f"/admin/refunds/refund/{refund.pk}/change/", {}).status_code == 403
    assert client.get("/admin/refunds/refund/add/").status_code == 403
    assert client.post(f"/admin/refunds/refund/{refund.pk}/delete/", {"post": "yes"}).status_code == 403
    assert snapshot(refund) == before


def test_wrong_state_and_get_are_refused(agent: Any, supervisor: Any) -> None:
    refund = refunded_refund(supervisor)
    before = snapshot(refund)
    assert act(login(agent), refund, "approve").status_code == 403
    assert act(login(agent), refund, "nonsense").status_code == 403
    assert login(agent).get(f"/admin/refunds/refund/{refund.pk}/act/approve/").status_code == 405
    assert snapshot(refund) == before


def test_retry_and_receive_through_the_console(agent: Any, supervisor: Any) -> None:
    client = login(agent)
    failed = failed_refund(supervisor)
    act(client, failed, "retry")
    assert reload(failed).state == "refunding"
    returning = awaiting_return_refund(supervisor)
    act(client, returning, "receive")
    assert reload(returning).state == "inspecting"
    assert list(RefundEvent.objects.filter(refund=returning, actor=agent).values_list("to_state", flat=True)) == [
        "inspecting"
    ]
    # The warehouse's inspection opens with the receipt, and the refund page leads to it.
    inspection = apps.get_model("logistics", "Inspection").objects.get(refund=returning)
    html = page(client, returning)
    assert f'href="/admin/logistics/inspection/{inspection.pk}/change/" id="inspection-link"' in html
    assert act(client, returning, "inspection_pass").status_code == 403


def test_channel_attempts_show_masked_answers(agent: Any, supervisor: Any) -> None:
    refund = failed_refund(supervisor)
    attempt_model = apps.get_model("payments", "ChannelAttempt")
    attempt_model.objects.create(
        refund=refund,
        operation="refund",
        outcome="rejected",
        error_code="ACQ.TRADE_HAS_CLOSE",
        message="trade closed",
        raw={"code": "40004", "sign": "abc123SIGNATURE", "nested": {"app_private_key": "-----BEGIN"}},
    )
    html = page(login(agent), refund)
    assert "ACQ.TRADE_HAS_CLOSE" in html
    assert "40004" in html
    assert "abc123SIGNATURE" not in html
    assert "BEGIN" not in html


def test_nobody_approves_a_refund_they_created(supervisor: Any, supervisor2: Any, agent: Any) -> None:
    from refunds.compensation import compensation_create

    order = delivered_order(UserFactory())
    refund = compensation_create(
        order=order, actor=supervisor, order_item_id=order.items.get().pk, amount=None, percent=50, reason="late"
    )
    # Within the cap it goes straight on; above it another supervisor must approve.
    assert refund.state == "refunding"
    big = delivered_order(UserFactory(), price="300.00", quantity="1")
    large = compensation_create(
        order=big, actor=supervisor, order_item_id=big.items.get().pk, percent=100, reason="whole box rotten"
    )
    assert (large.state, large.requires_supervisor) == ("pending_review", True)
    html = page(login(supervisor), large)
    assert buttons(html) == ["reject"]
    assert "You created this refund" in html
    assert act(login(supervisor), large, "approve").status_code == 403
    assert buttons(page(login(agent), large)) == ["reject"]
    assert buttons(page(login(supervisor2), large)) == ["approve", "reject"]
    act(login(supervisor2), large, "approve")
    assert reload(large).state == "refunding"


def test_notes_internal_and_public(agent: Any, customer: Any) -> None:
    refund = pending_refund(customer)
    client = login(agent)
    client.post(f"/admin/refunds/refund/{refund.pk}/note/", {"note": "called the customer", "internal": "on"})
    client.post(f"/admin/refunds/refund/{refund.pk}/note/", {"note": "we are looking at your photos"})
    events = list(RefundEvent.objects.filter(refund=refund, actor=agent).values_list("note_params", "internal"))
    # Words typed by a person are kept as typed (the literal text code).
    assert events == [({"text": "called the customer"}, True), ({"text": "we are looking at your photos"}, False)]
    html = page(client, refund)
    assert '<span class="tag-internal">internal</span> called the customer' in html
    timeline = client_for(customer).get(f"/api/v1/refunds/{refund.refund_no}/").json()["timeline"]
    notes = [entry.get("note") for entry in timeline]
    assert "we are looking at your photos" in notes
    assert "called the customer" not in notes


def test_bulk_approve_reports_each_row(agent: Any, supervisor: Any) -> None:
    ok = pending_refund()
    large = pending_refund(price="6000.00", quantity="1")
    done = refunded_refund(supervisor)
    response = login(agent).post(
        "/admin/refunds/refund/",
        {"action": "bulk_approve", "_selected_action": [ok.pk, large.pk, done.pk], "index": 0},
    )
    assert response.status_code == 302
    assert texts(response) == [
        f"{ok.refund_no}: refunding",
        f"{large.refund_no}: Above the cap: only a supervisor may approve it.",
        f"{done.refund_no}: not allowed in state “refunded”",
    ]
    assert [reload(r).state for r in (ok, large, done)] == ["refunding", "pending_review", "refunded"]


def test_bulk_reject_asks_for_a_reason_first(agent: Any) -> None:
    first, second = pending_refund(), pending_refund()
    client = login(agent)
    selected = {"action": "bulk_reject", "_selected_action": [first.pk, second.pk], "index": 0}
    response = client.post("/admin/refunds/refund/", selected)
    assert response.status_code == 200
    html = response.content.decode()
    assert first.refund_no in html
    assert f'value="{reason_pk("duplicate")}"' in html
    assert [reload(r).state for r in (first, second)] == ["pending_review", "pending_review"]
    response = client.post("/admin/refunds/refund/", {**selected, "apply": "1", "note": "same box twice"})
    assert response.status_code == 400
    assert "Choose a reason for rejecting." in response.content.decode()
    assert [reload(r).state for r in (first, second)] == ["pending_review", "pending_review"]
    response = client.post(
        "/admin/refunds/refund/", {**selected, "apply": "1", "reason": reason_pk("duplicate"), "note": ""}
    )
    assert response.status_code == 302
    assert sorted(texts(response)) == sorted([f"{first.refund_no}: rejected", f"{second.refund_no}: rejected"])
    assert {(reload(r).rejection_reason_id, reload(r).decision_note) for r in (first, second)} == {
        (reason_pk("duplicate"), "")
    }


def test_refund_page_shows_items_evidence_timeline(agent: Any, customer: Any, media_root: Any) -> None:
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from refunds.evidence import refund_add_evidence

    refund = pending_refund(customer, price="12.50", quantity="3")
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(buffer, "PNG")
    photo = refund_add_evidence(
        refund=refund, actor=customer, upload=SimpleUploadedFile("a.png", buffer.getvalue(), "image/png")
    )
    client = login(agent)
    html = page(client, refund)
    assert f'src="/admin/refunds/refund/evidence/{photo.pk}/"' in html
    assert "¥37.50" in html
    assert "photo added" in html
    image = client.get(f"/admin/refunds/refund/evidence/{photo.pk}/")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == buffer.getvalue()
    assert client_for(customer).get(f"/admin/refunds/refund/evidence/{photo.pk}/").status_code == 302


def test_services_stay_the_only_writers(agent: Any) -> None:
    refund = pending_refund()
    services.refund_approve(refund=refund, actor=agent)
    assert buttons(page(login(agent), refund)) == []


def test_supervisor_overturns_a_rejection_from_the_refund_page(agent: Any, supervisor: Any, finance: Any) -> None:
    refund = services.refund_reject(refund=pending_refund(), actor=agent, note="no damage in the photos")
    assert "overturn" not in buttons(page(login(agent), refund))
    assert "overturn" not in buttons(page(login(finance), refund))
    client = login(supervisor)
    assert "overturn" in buttons(page(client, refund))
    response = act(client, refund, "overturn", note="  ")  # a reason is required: said at the field
    assert response.status_code == 400
    assert (
        '<ul class="errorlist" id="id_overturn_note_error"><li>A reason is required to overturn a decision.</li></ul>'
        in response.content.decode()
    )
    assert reload(refund).state == "rejected"
    act(client, refund, "overturn", note="the customer sent a video of the mould")
    refund = reload(refund)
    assert refund.state == "refunding"
    assert refund.reviewed_by == supervisor
    assert act(login(agent), refund, "overturn", note="x").status_code == 403
