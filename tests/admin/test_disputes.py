"""Disputes: customers contest a rejected or partly refunded refund through the API; agents work them in the
console with notes and an outcome, and an upheld or partial outcome pays out through a linked dispute refund."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.utils import translation

from refunds import flow, services
from refunds.disputes import dispute_open_by_customer
from refunds.models import Dispute, DisputeNote, Refund, RefundEvent, RefundKind, RefundReason
from tests.admin.conftest import delivered_order, login, pending_refund
from tests.admin.test_csp import assert_no_inline_code
from tests.conftest import client_for
from tests.factories import make_order, reload

pytestmark = pytest.mark.django_db


def rejected_refund(customer: Any, agent: Any, price: str = "30.00") -> Refund:
    return services.refund_reject(refund=pending_refund(customer, price=price), actor=agent, note="no damage seen")


def partly_refunded(customer: Any, agent: Any) -> Refund:
    order = make_order(customer, status="delivered")  # two lines: 2 x 30.00 and 1 x 12.50
    first = order.items.order_by("id").first()
    assert first is not None
    refund, _ = services.refund_apply(
        customer=customer,
        order_no=order.order_no,
        reason=RefundReason.QUALITY_ISSUE,
        kind=RefundKind.REFUND_ONLY,
        items=[services.ItemRequest(order_item_id=first.pk, quantity=Decimal("1"))],
    )
    services.refund_approve(refund=refund, actor=agent)
    return flow.refund_mark_refunded(refund=refund, channel_refund_id="CH-1")


def contest(customer: Any, refund: Refund, reason: Any = "the fruit was rotten, see photos") -> Any:
    return client_for(customer).post(f"/api/v1/refunds/{refund.refund_no}/dispute/", {"reason": reason}, format="json")


def test_customer_contests_a_rejection(customer: Any, agent: Any) -> None:
    refund = rejected_refund(customer, agent)
    response = contest(customer, refund)
    assert response.status_code == 201, response.json()
    body = response.json()
    dispute = Dispute.objects.get()
    assert body["dispute_no"] == dispute.dispute_no
    assert (body["refund_no"], body["status"], body["outcome"]) == (refund.refund_no, "open", "")
    assert (dispute.opener, dispute.opened_by_id, dispute.customer_id, dispute.order_id) == (
        "customer",
        customer.pk,
        customer.pk,
        refund.order_id,
    )
    # Notes are stored as codes and read in the reader's language.
    opened = RefundEvent.objects.get(refund=refund, note_code="dispute_opened", actor=customer)
    with translation.override("zh-hans"):
        assert opened.note == "已发起纠纷"
    with translation.override("en"):
        assert opened.note == "dispute opened"
    listed = client_for(customer).get(f"/api/v1/refunds/{refund.refund_no}/dispute/").json()
    assert [d["dispute_no"] for d in listed] == [dispute.dispute_no]


def test_customer_contests_a_partial_refund(customer: Any, agent: Any) -> None:
    refund = partly_refunded(customer, agent)
    assert refund.order.status == "partially_refunded"
    assert contest(customer, refund).status_code == 201


def test_another_customers_refund_is_404_and_changes_nothing(customer: Any, other_customer: Any, agent: Any) -> None:
    refund = rejected_refund(other_customer, agent)
    events = RefundEvent.objects.count()
    response = contest(customer, refund)
    assert response.status_code == 404
    assert client_for(customer).get(f"/api/v1/refunds/{refund.refund_no}/dispute/").status_code == 404
    assert (Dispute.objects.count(), RefundEvent.objects.count()) == (0, events)


def test_only_rejected_or_partly_refunded_refunds_can_be_contested(customer: Any, agent: Any) -> None:
    pending = pending_refund(customer)
    response = contest(customer, pending)
    assert response.status_code == 409
    assert response.json()["code"] == "dispute_not_allowed"
    assert Dispute.objects.count() == 0


def test_one_dispute_per_refund_and_a_reason_is_required(customer: Any, agent: Any) -> None:
    refund = rejected_refund(customer, agent)
    blank = contest(customer, refund, reason="")
    assert blank.status_code == 400
    assert "reason" in blank.json()["fields"]
    assert contest(customer, refund).status_code == 201
    again = contest(customer, refund)
    assert again.status_code == 409
    assert Dispute.objects.count() == 1


def test_anonymous_is_refused(anon_api: Any, customer: Any, agent: Any) -> None:
    refund = rejected_refund(customer, agent)
    assert anon_api.post(f"/api/v1/refunds/{refund.refund_no}/dispute/", {"reason": "x"}).status_code == 401


def _resolve(client: Any, dispute: Dispute, **data: Any) -> Any:
    return client.post(f"/admin/refunds/dispute/{dispute.pk}/resolve/", data)


def test_agent_works_a_dispute_to_a_partial_outcome(customer: Any, agent: Any, settings: Any) -> None:
    settings.REFUND_COMPENSATION_CAP = Decimal("200")
    refund = rejected_refund(customer, agent)  # 60.00 asked and rejected
    dispute = dispute_open_by_customer(customer=customer, refund=refund, reason="rotten")
    client = login(agent)
    html = client.get(f"/admin/refunds/dispute/{dispute.pk}/change/").content.decode()
    assert 'id="dispute-resolve"' in html
    client.post(f"/admin/refunds/dispute/{dispute.pk}/note/", {"body": "called the customer; photos are clear"})
    assert list(DisputeNote.objects.values_list("author_id", "body")) == [
        (agent.pk, "called the customer; photos are clear")
    ]
    missing = _resolve(client, dispute, outcome="partial", note="half back")
    assert missing.status_code == 400
    html = missing.content.decode()
    # The error at its field; the chosen outcome and the typed note are kept.
    assert (
        '<div class="form-row field-amount errors"><ul class="errorlist" id="id_amount_error">'
        "<li>A partial outcome needs an amount.</li></ul>"
    ) in html
    assert re.search(r'<input type="radio" name="outcome" value="partial"[^>]* checked>', html)
    assert re.search(r'<textarea name="note"[^>]*>\nhalf back</textarea>', html)
    assert "A partial outcome needs an amount." not in [str(m) for m in get_messages(missing.wsgi_request)]
    assert reload_dispute(dispute).status == "open"
    response = _resolve(client, dispute, outcome="partial", amount="30.00", note="half back")
    fresh = reload_dispute(dispute)
    linked = fresh.resolution_refund
    assert linked is not None
    assert (fresh.status, fresh.outcome, fresh.resolved_by_id) == ("resolved", "partial", agent.pk)
    assert (linked.reason, linked.source, linked.amount, linked.created_by_id) == (
        "dispute",
        "staff",
        Decimal("30.00"),
        agent.pk,
    )
    assert linked.state == "refunding"
    assert linked.order_id == refund.order_id
    assert [str(m) for m in get_messages(response.wsgi_request)][-1] == (
        f"Dispute resolved: refund {linked.refund_no} of ¥30.00, refunding."
    )
    assert 'id="dispute-resolve"' not in client.get(f"/admin/refunds/dispute/{dispute.pk}/change/").content.decode()
    again = _resolve(client, dispute, outcome="reject", note="again")
    assert again.status_code == 409
    assert '<p class="errornote" id="dispute-error">This dispute is already resolved.</p>' in again.content.decode()
    assert Refund.objects.filter(reason="dispute").count() == 1


def reload_dispute(dispute: Dispute) -> Dispute:
    return Dispute.objects.get(pk=dispute.pk)


def test_upheld_dispute_above_the_cap_waits_for_a_supervisor(
    customer: Any, agent: Any, supervisor: Any, settings: Any
) -> None:
    settings.REFUND_COMPENSATION_CAP = Decimal("50")
    refund = rejected_refund(customer, agent)  # 60.00
    dispute = dispute_open_by_customer(customer=customer, refund=refund, reason="rotten")
    _resolve(login(agent), dispute, outcome="uphold", note="photos prove it")
    linked = reload_dispute(dispute).resolution_refund
    assert linked is not None
    assert (linked.amount, linked.state, linked.requires_supervisor) == (Decimal("60.00"), "pending_review", True)
    login(supervisor).post(f"/admin/refunds/refund/{linked.pk}/act/approve/", {"note": ""})
    assert reload(linked).state == "refunding"


def test_rejected_dispute_creates_no_refund(customer: Any, agent: Any) -> None:
    refund = rejected_refund(customer, agent)
    dispute = dispute_open_by_customer(customer=customer, refund=refund, reason="rotten")
    refunds = Refund.objects.count()
    _resolve(login(agent), dispute, outcome="reject", note="photos show fresh fruit")
    fresh = reload_dispute(dispute)
    assert (fresh.status, fresh.outcome, fresh.resolution_refund) == ("resolved", "reject", None)
    assert Refund.objects.count() == refunds
    resolved = RefundEvent.objects.get(refund=refund, note_code="dispute_resolved")
    with translation.override("en"):
        assert resolved.note == "dispute resolved: rejected: the decision stands"


def test_agent_opens_a_dispute_from_the_refund_page(customer: Any, agent: Any) -> None:
    refund = pending_refund(customer)
    client = login(agent)
    assert 'id="dispute-form"' in client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    response = client.post("/admin/refunds/dispute/open/", {"refund": refund.refund_no, "reason": "phone complaint"})
    dispute = Dispute.objects.get()
    assert response["Location"] == f"/admin/refunds/dispute/{dispute.pk}/change/"
    assert (dispute.opener, dispute.opened_by_id, dispute.refund_id) == ("agent", agent.pk, refund.pk)
    order = delivered_order(customer)
    client.post("/admin/refunds/dispute/open/", {"order": order.order_no, "reason": "missing a box"})
    assert Dispute.objects.filter(order=order, refund=None).count() == 1


def test_finance_reads_disputes_but_cannot_work_them(customer: Any, agent: Any, finance: Any) -> None:
    refund = rejected_refund(customer, agent)
    dispute = dispute_open_by_customer(customer=customer, refund=refund, reason="rotten")
    client = login(finance)
    html = client.get(f"/admin/refunds/dispute/{dispute.pk}/change/").content.decode()
    assert "rotten" in html
    assert 'id="dispute-resolve"' not in html
    assert 'id="dispute-note-form"' not in html
    assert _resolve(client, dispute, outcome="uphold", note="x").status_code == 403
    assert client.post(f"/admin/refunds/dispute/{dispute.pk}/note/", {"body": "x"}).status_code == 403
    assert client.get("/admin/refunds/dispute/open/").status_code == 403
    assert reload_dispute(dispute).status == "open"
    assert DisputeNote.objects.count() == 0


def test_the_dispute_page_shows_what_the_decision_needs(customer: Any, agent: Any, media_root: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from refunds.evidence import refund_add_evidence

    refund = services.refund_reject(
        refund=pending_refund(customer, price="1234.50", quantity="1"), actor=agent, note="照片看不出损坏"
    )
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 40, 40)).save(buffer, "PNG")
    photo = refund_add_evidence(refund=refund, actor=customer, upload=SimpleUploadedFile("a.png", buffer.getvalue()))
    dispute = dispute_open_by_customer(customer=customer, refund=refund, reason="整箱都软了")
    html = login(agent).get(f"/admin/refunds/dispute/{dispute.pk}/change/").content.decode()
    assert re.search(r'id="dispute-refund-amount">¥1,234.50<', html)
    assert '<td id="dispute-decision">照片看不出损坏 · agent</td>' in html
    assert "<th>Rejection reason</th>" in html
    assert '<td id="dispute-customer-words">bruised</td>' in html  # the customer's words on the refund
    assert '<p id="dispute-reason">整箱都软了</p>' in html  # and in the dispute
    url = f"/admin/refunds/refund/evidence/{photo.pk}/"
    assert f'<a href="{url}" target="_blank" rel="noopener"><img src="{url}"' in html
    assert f'href="/admin/refunds/refund/{refund.pk}/change/" id="dispute-refund-link"' in html
    assert f'href="/admin/mall/order/{refund.order_id}/change/" id="dispute-order-link"' in html
    assert_no_inline_code(html)


def test_the_dispute_list_links_to_the_order_and_the_refund(customer: Any, agent: Any) -> None:
    refund = rejected_refund(customer, agent)
    dispute = dispute_open_by_customer(customer=customer, refund=refund, reason="rotten")
    on_order = delivered_order(customer)
    login(agent).post("/admin/refunds/dispute/open/", {"order": on_order.order_no, "reason": "missing a box"})
    html = login(agent).get("/admin/refunds/dispute/").content.decode()
    order_url = f"/admin/mall/order/{refund.order_id}/change/"
    assert (
        f'<td class="field-refund_and_order"><a href="/admin/refunds/refund/{refund.pk}/change/" '
        f'class="dispute-refund">{refund.refund_no}</a> <span class="quiet">¥60.00</span><br>'
        f'<a href="{order_url}" class="dispute-order">{refund.order.order_no}</a></td>'
    ) in html
    assert (
        f'<td class="field-refund_and_order"><a href="/admin/mall/order/{on_order.pk}/change/" '
        f'class="dispute-order">{on_order.order_no}</a></td>'
    ) in html
    assert Dispute.objects.filter(pk=dispute.pk).exists()


def test_a_refused_outcome_is_shown_at_its_field_and_changes_nothing(customer: Any, agent: Any) -> None:
    refund = rejected_refund(customer, agent)  # 60.00
    dispute = dispute_open_by_customer(customer=customer, refund=refund, reason="rotten")
    client = login(agent)
    refunds, notes = Refund.objects.count(), DisputeNote.objects.count()
    too_much = _resolve(client, dispute, outcome="partial", amount="61.00", note="more than paid")
    assert too_much.status_code == 409
    html = too_much.content.decode()
    assert (
        '<div class="form-row field-amount errors"><ul class="errorlist" id="id_amount_error">'
        "<li>The amount exceeds what is still refundable.</li></ul>"
    ) in html
    assert 'name="amount" value="61.00"' in html
    assert re.search(r'<textarea name="note"[^>]*>\nmore than paid</textarea>', html)
    blank = _resolve(client, dispute, outcome="uphold", note="")
    assert blank.status_code == 400
    assert re.search(r'<input type="radio" name="outcome" value="uphold"[^>]* checked>', blank.content.decode())
    assert "This field is required." in blank.content.decode()
    empty_note = client.post(f"/admin/refunds/dispute/{dispute.pk}/note/", {"body": "   "})
    assert empty_note.status_code == 400
    assert '<ul class="errorlist" id="id_body_error"><li>This field is required.</li></ul>' in (
        empty_note.content.decode()
    )
    assert (reload_dispute(dispute).status, Refund.objects.count(), DisputeNote.objects.count()) == (
        "open",
        refunds,
        notes,
    )
