"""The console's own forms under random input: every action button on refunds in each state, notes, compensation
and disputes (open, note, resolve), posted by a supervisor, and starting a reconciliation run, posted by finance.
Values sit around each field's limits (lengths at the column's size, odd decimals, bad dates). Never a 5xx, and a
form shown again with its errors, or a refusal, changed nothing. Each
example is rolled back, so every one starts from the same refunds."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from reconciliation.models import ReconciliationRun
from refunds import services
from refunds.console.actions import ACTS_BY_NAME
from refunds.disputes import dispute_open_by_customer
from refunds.models import Dispute, DisputeNote, Refund, RefundEvent
from tests.admin.conftest import (
    awaiting_return_refund,
    delivered_order,
    failed_refund,
    inspecting_refund,
    login,
    pending_refund,
    refunded_refund,
)
from tests.factories import UserFactory
from tests.fuzzing import fuzz, rolled_back

pytestmark = pytest.mark.django_db


def _text_around(*limits: int) -> Any:
    """Text just under, at and over each limit (the form's and the column's), in 1-, 3- and 4-byte characters."""
    lengths = st.sampled_from([n + d for n in limits for d in (-1, 0, 1)])
    return st.builds(lambda n, c: c * n, lengths, st.sampled_from(["a", "桃", "🍑", "\x00", " "]))


TEXT = st.text(max_size=30) | _text_around(32, 255, 500, 1000, 2000)
DECIMALS = st.sampled_from(
    ["0", "0.01", "0.001", "-1", "1", "30", "30.01", "100", "100.01", "1e3", "1E-9", "NaN", "Infinity", "9" * 14, ""]
)
DAYS = st.sampled_from(["2026-11-24", "2026-02-30", "1900-01-01", "9999-12-31", "0000-00-00", "", "yesterday"])


@pytest.fixture
def console(supervisor: Any, supervisor2: Any, finance: Any) -> dict[str, Any]:
    customer = UserFactory()
    refunds = {
        "pending": pending_refund(customer),
        "failed": failed_refund(supervisor2),
        "awaiting_return": awaiting_return_refund(supervisor2),
        "inspecting": inspecting_refund(supervisor2),
        "refunded": refunded_refund(supervisor2),
        "rejected": services.refund_reject(refund=pending_refund(customer), actor=supervisor2, note="no damage"),
    }
    contested = services.refund_reject(refund=pending_refund(customer), actor=supervisor2, note="no damage")
    dispute = dispute_open_by_customer(customer=customer, refund=contested, reason="rotten")
    order = delivered_order(customer)
    return {
        "client": login(supervisor),
        "finance": login(finance),  # reconciliation runs are finance's
        "refunds": refunds,
        "dispute": dispute,
        "order_no": order.order_no,
        "item_ids": list(order.items.values_list("pk", flat=True)),
    }


def _snapshot() -> tuple[Any, ...]:
    return (
        tuple(Refund.objects.order_by("pk").values_list("state", "amount")),
        RefundEvent.objects.count(),
        tuple(Dispute.objects.order_by("pk").values_list("status", "outcome")),
        DisputeNote.objects.count(),
        ReconciliationRun.objects.count(),
    )


def _requests(console: dict[str, Any]) -> Any:
    refund_ids = st.sampled_from([r.pk for r in console["refunds"].values()])
    refund_nos = st.sampled_from([r.refund_no for r in console["refunds"].values()]) | TEXT
    dispute = console["dispute"].pk
    order_nos = st.sampled_from([console["order_no"]]) | TEXT
    item_ids = st.sampled_from([str(pk) for pk in console["item_ids"]]) | TEXT
    acts = st.tuples(refund_ids, st.sampled_from(sorted(ACTS_BY_NAME))).map(
        lambda pair: reverse("admin:refunds_refund_act", args=pair)
    )
    return st.one_of(
        st.tuples(acts, st.fixed_dictionaries({}, optional={"note": TEXT})),
        st.tuples(
            refund_ids.map(lambda pk: reverse("admin:refunds_refund_note", args=[pk])),
            st.fixed_dictionaries({"note": TEXT}, optional={"internal": st.sampled_from(["on", "", "x"])}),
        ),
        st.tuples(
            st.just(reverse("admin:refunds_refund_compensate")),
            st.fixed_dictionaries(
                {"order_no": order_nos, "order_item": item_ids, "mode": st.sampled_from(["percent", "amount", "x"])},
                optional={"value": DECIMALS, "reason": TEXT},
            ),
        ),
        st.tuples(
            st.just(reverse("admin:refunds_dispute_open")),
            st.fixed_dictionaries({"refund": refund_nos}, optional={"order": order_nos, "reason": TEXT}),
        ),
        st.tuples(
            st.just(reverse("admin:refunds_dispute_note", args=[dispute])),
            st.fixed_dictionaries({}, optional={"body": TEXT}),
        ),
        st.tuples(
            st.just(reverse("admin:refunds_dispute_resolve", args=[dispute])),
            st.fixed_dictionaries(
                {"outcome": st.sampled_from(["uphold", "partial", "reject", "x", ""]) | TEXT},
                optional={"amount": DECIMALS, "note": TEXT},
            ),
        ),
        st.tuples(
            st.just(reverse("admin:reconciliation_run_start")),
            st.fixed_dictionaries(
                {"channel": st.sampled_from(["alipay", "wechat", "x"]), "day": DAYS},
                optional={"force": st.sampled_from(["on", ""])},
            ),
        ),
    )


def test_console_forms_never_answer_5xx(console: dict[str, Any]) -> None:
    client, finance = console["client"], console["finance"]

    @fuzz(300)
    @given(request=_requests(console))
    def check(request: tuple[str, dict[str, str]]) -> None:
        url, data = request
        with rolled_back():
            before = _snapshot()
            response = (finance if "reconciliation" in url else client).post(url, data)
            shown = (url, {k: v[:40] for k, v in data.items()}, response.status_code)
            assert response.status_code < 500, shown
            if response.status_code in (200, 403):  # the form shown again with its errors, or refused
                assert _snapshot() == before, shown

    check()
    # Nothing above stayed: every refund is where the fixture left it.
    assert {key: Refund.objects.get(pk=r.pk).state for key, r in console["refunds"].items()} == {
        key: r.state for key, r in console["refunds"].items()
    }
