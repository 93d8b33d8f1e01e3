"""Rejection reasons: a preset list supervisors keep in the console (seeded with the usual ones), each translated;
agents choose one to reject, with optional words of their own; what the refund stores and the customer reads is the
reason's label in the reader's language and those words."""

from __future__ import annotations

from typing import Any

import pytest

from refunds import services
from refunds.exceptions import InvalidRefundRequest
from refunds.rejections import RejectionReason, rejection_text
from tests.admin.conftest import login, pending_refund
from tests.admin.test_actions import act, reason_pk, snapshot
from tests.admin.test_refund_page import login_zh
from tests.conftest import client_for
from tests.factories import reload

pytestmark = pytest.mark.django_db

SEEDED = [
    ("photos_not_proof", "照片不能证明质量问题", "The photos do not show a quality problem", False, True, 10),
    ("after_sale_expired", "已超过售后期", "The after-sales period has ended", False, True, 20),
    (
        "received_no_issue",
        "商品已签收且无质量问题",
        "The goods were received without a quality problem",
        False,
        True,
        30,
    ),
    ("duplicate", "重复申请", "Duplicate request", False, True, 40),
    ("other", "其他", "Other", True, True, 50),
]
FIELDS = ("code", "label_zh_hans", "label_en", "needs_note", "active", "position")
ADD_URL = "/admin/refunds/rejectionreason/add/"


def reasons() -> list[tuple[Any, ...]]:
    return list(RejectionReason.objects.values_list(*FIELDS))


def test_the_migrations_seed_the_usual_reasons() -> None:
    assert reasons() == SEEDED


def test_supervisors_keep_the_list_and_agents_only_read_it(supervisor: Any, agent: Any, finance: Any) -> None:
    new = {
        "code": "not_our_goods",
        "label_zh_hans": "退回的不是本店商品",
        "label_en": "The goods sent back are not ours",
        "active": "on",
        "position": "35",
        "_save": "Save",
    }
    agents = login(agent)
    assert agents.get("/admin/refunds/rejectionreason/").status_code == 200
    assert agents.get(ADD_URL).status_code == 403
    assert agents.post(ADD_URL, new).status_code == 403
    other = RejectionReason.objects.get(code="other")
    assert (
        agents.post(f"/admin/refunds/rejectionreason/{other.pk}/change/", {**new, "code": "other"}).status_code == 403
    )
    assert login(finance).get("/admin/refunds/rejectionreason/").status_code == 403
    assert reasons() == SEEDED

    supervisors = login(supervisor)
    assert supervisors.post(ADD_URL, new).status_code == 302
    added = RejectionReason.objects.get(code="not_our_goods")
    assert [r.code for r in RejectionReason.objects.all()] == [
        "photos_not_proof",
        "after_sale_expired",
        "received_no_issue",
        "not_our_goods",
        "duplicate",
        "other",
    ]
    # A reworded label; the code stays what it was, whatever is posted.
    change = {**new, "code": "renamed", "label_en": "Not the shop's goods"}
    assert supervisors.post(f"/admin/refunds/rejectionreason/{added.pk}/change/", change).status_code == 302
    assert RejectionReason.objects.filter(pk=added.pk).values_list(*FIELDS).get() == (
        "not_our_goods",
        "退回的不是本店商品",
        "Not the shop's goods",
        False,
        True,
        35,
    )
    # Retired, never deleted: refunds keep the reason they were rejected with.
    assert supervisors.post(f"/admin/refunds/rejectionreason/{added.pk}/delete/", {"post": "yes"}).status_code == 403
    assert RejectionReason.objects.filter(pk=added.pk).exists()


def test_a_reason_needs_both_labels(supervisor: Any) -> None:
    response = login(supervisor).post(
        ADD_URL, {"code": "x", "label_zh_hans": "某原因", "label_en": "", "position": "1", "_save": "Save"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"label_en": ["This field is required."]}
    assert reasons() == SEEDED


def test_a_reason_that_needs_words_keeps_the_choice_and_asks_for_them(agent: Any) -> None:
    refund = pending_refund()
    before = snapshot(refund)
    other = reason_pk("other")
    response = act(login(agent), refund, "reject", note="  ", reason=other)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'<input type="radio" name="reason" value="{other}" id="id_reject_reason_4" required checked>' in html
    assert (
        '<ul class="errorlist" id="id_reject_note_error"><li>This reason needs a few words of your own.</li></ul>'
        in html
    )
    assert snapshot(refund) == before
    act(login(agent), refund, "reject", note="customer asked to cancel by phone", reason=other)
    fresh = reload(refund)
    assert (fresh.state, fresh.rejection_reason_id, fresh.decision_note) == (
        "rejected",
        other,
        "customer asked to cancel by phone",
    )


def test_a_retired_reason_is_not_offered_and_is_refused(agent: Any, supervisor: Any) -> None:
    refund = pending_refund()
    duplicate = RejectionReason.objects.get(code="duplicate")
    RejectionReason.objects.filter(pk=duplicate.pk).update(active=False)
    html = login(agent).get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    assert "Duplicate request" not in html
    assert html.count('<input type="radio" name="reason"') == 4
    before = snapshot(refund)
    response = act(login(agent), refund, "reject", reason=duplicate.pk)
    assert response.status_code == 400
    assert "This reason is no longer offered: choose another." in response.content.decode()
    assert snapshot(refund) == before
    # The service says the same to any other caller, and changes nothing either.
    duplicate.refresh_from_db()
    with pytest.raises(InvalidRefundRequest) as refused:
        services.refund_reject(refund=refund, actor=supervisor, reason=duplicate)
    assert refused.value.field == "reason"
    assert snapshot(refund) == before


def test_the_service_checks_the_words_too(agent: Any) -> None:
    refund = pending_refund()
    before = snapshot(refund)
    for kwargs, field in (
        ({"note": "   "}, "note"),
        ({"reason": RejectionReason.objects.get(code="other")}, "note"),
        ({"reason": RejectionReason.objects.get(code="duplicate"), "note": "桃" * 256}, "note"),
    ):
        with pytest.raises(InvalidRefundRequest) as refused:
            services.refund_reject(refund=refund, actor=agent, **kwargs)
        assert refused.value.field == field
    assert snapshot(refund) == before
    done = services.refund_reject(
        refund=refund, actor=agent, reason=RejectionReason.objects.get(code="duplicate"), note="桃" * 255
    )
    assert (done.state, done.decision_note) == ("rejected", "桃" * 255)


def test_the_customer_reads_the_reason_in_their_own_language(agent: Any, customer: Any, supervisor: Any) -> None:
    refund = pending_refund(customer)
    # The agent works in English; the customer reads Chinese, or English.
    act(login(agent), refund, "reject", note="the mango is firm, not rotten", reason=reason_pk("photos_not_proof"))
    url = f"/api/v1/refunds/{refund.refund_no}/"
    chinese = client_for(customer).get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert chinese["rejection"] == {
        "reason": "photos_not_proof",
        "reason_display": "照片不能证明质量问题",
        "note": "the mango is firm, not rotten",
        "text": "照片不能证明质量问题：the mango is firm, not rotten",
    }
    assert chinese["timeline"][-1]["state"] == "rejected"
    assert chinese["timeline"][-1]["note"] == "照片不能证明质量问题：the mango is firm, not rotten"
    english = client_for(customer).get(url, HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["rejection"]["text"] == "The photos do not show a quality problem: the mango is firm, not rotten"
    assert english["timeline"][-1]["note"] == "The photos do not show a quality problem: the mango is firm, not rotten"
    # A supervisor rewords the label: every reader sees the new words, since the refund names the reason.
    RejectionReason.objects.filter(code="photos_not_proof").update(label_zh_hans="照片未显示质量问题")
    again = client_for(customer).get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert again["rejection"]["text"] == "照片未显示质量问题：the mango is firm, not rotten"
    # Staff read it in theirs too.
    page = login_zh(supervisor).get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()
    assert '<div class="note">照片未显示质量问题：the mango is firm, not rotten</div>' in page


def test_other_refunds_have_no_rejection_and_old_ones_keep_their_words(agent: Any, customer: Any) -> None:
    pending = pending_refund(customer)
    assert client_for(customer).get(f"/api/v1/refunds/{pending.refund_no}/").json()["rejection"] is None
    # A rejection with words only (made before the preset list, or by another caller) reads as its words.
    old = services.refund_reject(refund=pending_refund(customer), actor=agent, note="photos show no damage")
    body = client_for(customer).get(f"/api/v1/refunds/{old.refund_no}/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert body["rejection"] == {
        "reason": None,
        "reason_display": "",
        "note": "photos show no damage",
        "text": "photos show no damage",
    }
    assert body["timeline"][-1]["note"] == "photos show no damage"
    assert rejection_text(None, "") == ""
