"""Customer service pays a compensation to the customer's store credit from the console: one more choice on the
compensation form, credited at once (no channel call) once the refund is payable, above the caps only after a
supervisor approved it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from payments import jobs, store_credit
from payments.models import ChannelAttempt, StoreCreditEntry
from refunds.models import Refund, RefundDestination, RefundState
from tests.admin.conftest import delivered_order, login
from tests.factories import UserFactory, reload

pytestmark = pytest.mark.django_db
URL = "/admin/refunds/refund/compensate/"


@pytest.fixture(autouse=True)
def caps(settings: Any) -> None:
    settings.REFUND_COMPENSATION_CAP = Decimal("200")
    settings.REFUND_COMPENSATION_DAILY_CAP = Decimal("300")


def form(order: Any, **changes: str) -> dict[str, str]:
    return {
        "order_no": order.order_no,
        "order_item": str(order.items.get().pk),
        "mode": "percent",
        "value": "30",
        "reason": "bruised on arrival",
        "destination": "store_credit",
        **changes,
    }


def test_a_compensation_paid_to_store_credit_from_the_console(agent: Any) -> None:
    customer = UserFactory()
    order = delivered_order(customer, price="88.00", quantity="1.500")  # paid 132.00
    client = login(agent)
    page = client.get(f"{URL}?order={order.order_no}").content.decode()
    assert 'name="destination" value="original"' in page and 'name="destination" value="store_credit"' in page

    response = client.post(URL, form(order))
    refund = Refund.objects.get(order=order)
    assert response.status_code == 302 and response["Location"] == f"/admin/refunds/refund/{refund.pk}/change/"
    assert (refund.amount, refund.state, refund.destination) == (
        Decimal("39.60"),
        RefundState.REFUNDING,
        RefundDestination.STORE_CREDIT,
    )
    assert jobs.refund_execute(refund.pk) == "credited"
    assert reload(refund).state == RefundState.REFUNDED
    assert store_credit.store_credit_balance(customer=customer) == Decimal("39.60")
    assert ChannelAttempt.objects.filter(refund=refund).count() == 0
    assert 'id="refund-destination"' in client.get(f"/admin/refunds/refund/{refund.pk}/change/").content.decode()


def test_without_a_choice_a_compensation_goes_back_on_the_channel(agent: Any) -> None:
    order = delivered_order(UserFactory(), price="88.00", quantity="1")
    data = form(order)
    del data["destination"]
    login(agent).post(URL, data)
    assert Refund.objects.get(order=order).destination == RefundDestination.ORIGINAL


def test_a_bank_transfer_is_no_choice_for_a_compensation(agent: Any) -> None:
    order = delivered_order(UserFactory(), price="88.00", quantity="1")
    response = login(agent).post(URL, form(order, destination="offline"))
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "destination": ["Select a valid choice. offline is not one of the available choices."]
    }
    assert not Refund.objects.filter(order=order).exists()
    assert order.items.get().refund_claimed_amount == Decimal("0.00")


def test_above_the_cap_a_supervisor_approves_before_the_balance_is_credited(agent: Any, supervisor: Any) -> None:
    customer = UserFactory()
    order = delivered_order(customer, price="250.00", quantity="1")
    login(agent).post(URL, form(order, mode="amount", value="200.01"))
    refund = Refund.objects.get(order=order)
    assert (refund.state, refund.requires_supervisor, refund.destination) == ("pending_review", True, "store_credit")
    assert jobs.refund_execute(refund.pk) == "skipped: pending_review"
    assert StoreCreditEntry.objects.count() == 0

    login(supervisor).post(f"/admin/refunds/refund/{refund.pk}/act/approve/", {"note": ""})
    assert reload(refund).state == RefundState.REFUNDING
    assert jobs.refund_execute(refund.pk) == "credited"
    assert store_credit.store_credit_balance(customer=customer) == Decimal("200.01")
