"""Compensation refunds: amount or percentage of an item, capped per refund and per agent per Asia/Shanghai
day; above a cap a supervisor other than the creator approves."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.utils import translation
from django.utils.translation import gettext

from mall.models import OrderItem
from refunds.compensation import compensation_create
from refunds.exceptions import AmountExceeded, InvalidRefundRequest, ReviewForbidden
from refunds.models import Refund
from refunds.selectors import staff_refund_total_today
from refunds.services import refund_reject
from tests.admin.conftest import delivered_order, login
from tests.factories import UserFactory, reload

pytestmark = pytest.mark.django_db
URL = "/admin/refunds/refund/compensate/"


@pytest.fixture(autouse=True)
def caps(settings: Any) -> None:
    settings.REFUND_COMPENSATION_CAP = Decimal("200")
    settings.REFUND_COMPENSATION_DAILY_CAP = Decimal("300")


def item_of(order: Any) -> OrderItem:
    return order.items.get()


def claims(order: Any) -> tuple[Any, ...]:
    return tuple(OrderItem.objects.filter(order=order).values_list("refund_claimed_quantity", "refund_claimed_amount"))


def test_percentage_of_an_item_within_the_cap_goes_straight_to_the_channel(agent: Any) -> None:
    order = delivered_order(UserFactory(), price="88.00", quantity="1.500")  # paid 132.00
    refund = compensation_create(
        order=order, actor=agent, order_item_id=item_of(order).pk, percent=Decimal("30"), reason="bruised"
    )
    assert (refund.amount, refund.state, refund.reason, refund.source) == (
        Decimal("39.60"),
        "refunding",
        "compensation",
        "staff",
    )
    assert refund.created_by_id == agent.pk
    assert refund.requires_supervisor is False
    assert claims(order) == ((Decimal("0.000"), Decimal("39.60")),)
    assert refund.description == "bruised"


def test_above_the_per_refund_cap_waits_for_a_supervisor(agent: Any, supervisor: Any) -> None:
    order = delivered_order(UserFactory(), price="250.00", quantity="1")
    refund = compensation_create(
        order=order, actor=agent, order_item_id=item_of(order).pk, amount=Decimal("200.01"), reason="rotten"
    )
    assert (refund.state, refund.requires_supervisor) == ("pending_review", True)
    with pytest.raises(ReviewForbidden):
        from refunds.services import refund_approve

        refund_approve(refund=refund, actor=agent)
    login(supervisor).post(f"/admin/refunds/refund/{refund.pk}/act/approve/", {"note": ""})
    assert reload(refund).state == "refunding"


def test_exactly_the_cap_is_within_it(agent: Any) -> None:
    order = delivered_order(UserFactory(), price="250.00", quantity="1")
    refund = compensation_create(
        order=order, actor=agent, order_item_id=item_of(order).pk, amount=Decimal("200.00"), reason="rotten"
    )
    assert (refund.state, refund.requires_supervisor) == ("refunding", False)


def test_daily_cap_per_agent(agent: Any, agent2: Any) -> None:
    orders = [delivered_order(UserFactory(), price="200.00", quantity="1") for _ in range(4)]

    def give(order: Any, actor: Any, amount: str) -> Refund:
        return compensation_create(
            order=order, actor=actor, order_item_id=item_of(order).pk, amount=Decimal(amount), reason="late"
        )

    first = give(orders[0], agent, "150.00")
    second = give(orders[1], agent, "150.00")
    third = give(orders[2], agent, "0.01")
    other = give(orders[3], agent2, "150.00")
    assert [r.requires_supervisor for r in (first, second, third, other)] == [False, False, True, False]
    assert staff_refund_total_today(actor=agent) == Decimal("300.00")
    assert staff_refund_total_today(actor=agent2) == Decimal("150.00")


def test_refunds_left_to_a_supervisor_do_not_use_the_daily_room(agent: Any, supervisor: Any) -> None:
    big = delivered_order(UserFactory(), price="300.00", quantity="1")
    parked = compensation_create(
        order=big, actor=agent, order_item_id=item_of(big).pk, amount=Decimal("250.00"), reason="x"
    )
    assert parked.requires_supervisor  # above the per-refund cap: not counted against the day
    assert staff_refund_total_today(actor=agent) == Decimal("0.00")
    small = delivered_order(UserFactory(), price="200.00", quantity="1")
    given = compensation_create(
        order=small, actor=agent, order_item_id=item_of(small).pk, amount=Decimal("200.00"), reason="x"
    )
    assert (given.requires_supervisor, staff_refund_total_today(actor=agent)) == (False, Decimal("200.00"))
    refund_reject(refund=parked, actor=supervisor, note="a replacement box was sent instead")
    assert staff_refund_total_today(actor=agent) == Decimal("200.00")


def test_the_day_is_the_shanghai_day(agent: Any) -> None:
    order = delivered_order(UserFactory(), price="200.00", quantity="1")
    # 23:30 in Shanghai on 1 March is 15:30 UTC
    with time_machine.travel(datetime(2027, 3, 1, 15, 30, tzinfo=UTC), tick=False):
        compensation_create(
            order=order, actor=agent, order_item_id=item_of(order).pk, amount=Decimal("100.00"), reason="x"
        )
        assert staff_refund_total_today(actor=agent) == Decimal("100.00")
    # 00:10 on 2 March in Shanghai (16:10 UTC on 1 March): a new day
    with time_machine.travel(datetime(2027, 3, 1, 16, 10, tzinfo=UTC), tick=False):
        assert staff_refund_total_today(actor=agent) == Decimal("0.00")


def test_bad_input_changes_nothing(agent: Any, finance: Any) -> None:
    order = delivered_order(UserFactory(), price="50.00", quantity="1")
    item = item_of(order)
    before = (claims(order), Refund.objects.count())
    with pytest.raises(InvalidRefundRequest):
        compensation_create(order=order, actor=agent, order_item_id=item.pk, reason="x")
    with pytest.raises(InvalidRefundRequest):
        compensation_create(order=order, actor=agent, order_item_id=item.pk, percent=Decimal("120"), reason="x")
    with pytest.raises(InvalidRefundRequest):
        compensation_create(order=order, actor=agent, order_item_id=item.pk, amount=Decimal("5"), reason="  ")
    with pytest.raises(AmountExceeded):
        compensation_create(order=order, actor=agent, order_item_id=item.pk, amount=Decimal("50.01"), reason="x")
    with pytest.raises(ReviewForbidden):
        compensation_create(order=order, actor=finance, order_item_id=item.pk, amount=Decimal("5"), reason="x")
    assert (claims(order), Refund.objects.count()) == before


def test_admin_form_creates_a_compensation_from_an_order(agent: Any) -> None:
    order = delivered_order(UserFactory(), price="40.00", quantity="2")
    client = login(agent)
    html = client.get(URL, {"order": order.order_no}).content.decode()
    assert "¥80.00" in html
    assert 'name="order_item"' in html
    response = client.post(
        URL,
        {
            "order_no": order.order_no,
            "order_item": item_of(order).pk,
            "mode": "percent",
            "value": "25",
            "reason": "two apples bruised",
        },
    )
    refund = Refund.objects.get(order=order)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/refunds/refund/{refund.pk}/change/"
    assert (refund.amount, refund.state, refund.created_by_id) == (Decimal("20.00"), "refunding", agent.pk)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Compensation {refund.refund_no} of ¥20.00 created: refunding."
    ]


def test_admin_form_shows_service_errors_at_the_field_and_creates_nothing(agent: Any) -> None:
    order = delivered_order(UserFactory(), price="40.00", quantity="1")
    response = login(agent).post(
        URL,
        {"order_no": order.order_no, "order_item": item_of(order).pk, "mode": "amount", "value": "41", "reason": "x"},
    )
    assert response.status_code == 409
    html = response.content.decode()
    # Over the limit, the message speaks of money, at the amount's field, and what was typed stays.
    assert (
        '<div class="form-row field-value"><ul class="errorlist" id="id_value_error"><li>The amount ¥41.00 is more '
        "than the ¥40.00 still refundable of this item.</li></ul>"
    ) in html
    assert 'name="value" value="41"' in html
    assert not Refund.objects.filter(order=order).exists()
    unknown = login(agent).post(URL, {"order_no": "NOPE", "mode": "amount", "value": "1", "reason": "x"})
    assert unknown.status_code == 400
    assert "No such order." in unknown.content.decode()
    with translation.override("zh-hans"):
        assert (
            gettext("The amount %(amount)s is more than the %(left)s still refundable of this item.")
            % {
                "amount": "¥41.00",
                "left": "¥40.00",
            }
            == "金额 ¥41.00 超过了该商品尚可退的 ¥40.00。"
        )


def test_finance_cannot_open_the_compensation_form(finance: Any) -> None:
    assert login(finance).get(URL).status_code == 403


def test_the_page_lists_the_orders_refunds_and_what_the_agent_gave_with_links(agent: Any, supervisor: Any) -> None:
    order = delivered_order(UserFactory(), price="40.00", quantity="2")
    given = compensation_create(
        order=order, actor=agent, order_item_id=item_of(order).pk, amount=Decimal("12.50"), reason="bruised"
    )
    other = delivered_order(UserFactory(), price="30.00", quantity="1")
    compensation_create(  # someone else's: not in the agent's list
        order=other, actor=supervisor, order_item_id=item_of(other).pk, amount=Decimal("5.00"), reason="x"
    )
    html = login(agent).get(URL, {"order": order.order_no}).content.decode()
    order_url, refund_url = f"/admin/mall/order/{order.pk}/change/", f"/admin/refunds/refund/{given.pk}/change/"
    assert f'<a href="{order_url}" id="compensation-order-link">' in html
    listed = html[html.index('id="compensation-order-refunds"') :]
    assert f'<td><a href="{refund_url}">{given.refund_no}</a></td>' in listed
    recent = html[html.index('id="compensation-recent"') :]
    assert f'<a href="{refund_url}" class="compensation-refund">{given.refund_no}</a>' in recent
    assert f'<a href="{order_url}" class="compensation-order">{order.order_no}</a>' in recent
    assert recent.count('class="compensation-refund"') == 1
    assert "Given today on your own authority: ¥12.50 of ¥" in recent
