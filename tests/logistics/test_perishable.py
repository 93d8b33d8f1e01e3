"""Perishable quality claims without a return: compensation for the spoiled part, by weight or by share, in
exact decimals; the settlement lowers the claim before an agent approves it, and the customer sees why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from logistics import services
from mall.models import OrderItem, SaleUnit
from refunds import services as refund_services
from refunds.adjustments import perishable_claim_amount, proportional_amount
from refunds.exceptions import InvalidRefundRequest, RefundNotAllowed, ReviewForbidden
from refunds.models import RefundEvent, RefundItem, RefundState
from tests.conftest import client_for
from tests.factories import reload
from tests.logistics.helpers import apply, claims, fruit, shipped_order

pytestmark = pytest.mark.django_db


def _line(customer: Any, price: str, quantity: str, unit: str = SaleUnit.KILOGRAM) -> OrderItem:
    order = shipped_order(customer, fruit(price, unit=unit), quantity, delivered=True)
    return order.items.get()


@pytest.mark.parametrize(
    ("price", "quantity", "spoiled", "share", "expected"),
    [
        ("16.80", "5", "1.2", None, ("1.200", "20.16")),  # 1.2 of 5 kg: 84.00 × 1.2 / 5
        ("16.80", "5", None, "0.3", ("1.500", "25.20")),  # 30% of the line
        ("19.99", "3", None, "0.333", ("0.999", "19.97")),  # 59.97 × 0.999 / 3 = 19.97001
        # 30.88 × 0.7 / 2.5 = 8.6464, capped at the quantity's share as the refund engine prices it: 8.645 → 8.64
        ("12.35", "2.5", "0.7", None, ("0.700", "8.64")),
        ("16.80", "5", "5", None, ("5.000", "84.00")),  # all of it: exactly what was paid
    ],
)
def test_claim_amounts_are_exact(
    customer: Any, price: str, quantity: str, spoiled: str | None, share: str | None, expected: tuple[str, str]
) -> None:
    item = _line(customer, price, quantity)
    claim = perishable_claim_amount(
        order_item=item,
        spoiled_quantity=Decimal(spoiled) if spoiled else None,
        share=Decimal(share) if share else None,
    )
    assert (claim.quantity, claim.amount) == (Decimal(expected[0]), Decimal(expected[1]))


def test_claims_by_piece(customer: Any) -> None:
    item = _line(customer, "10.00", "3", unit=SaleUnit.PIECE)
    assert perishable_claim_amount(order_item=item, spoiled_quantity=Decimal("1")).amount == Decimal("10.00")


@pytest.mark.parametrize(
    ("spoiled", "share", "field"),
    [
        (None, None, "spoiled_quantity"),
        ("1", "0.5", "spoiled_quantity"),
        ("5.5", None, "spoiled_quantity"),
        ("0", None, "spoiled_quantity"),
        ("1.2345", None, "spoiled_quantity"),
        (None, "1.5", "share"),
        (None, "0", "share"),
    ],
)
def test_bad_claims_are_refused(customer: Any, spoiled: str | None, share: str | None, field: str) -> None:
    item = _line(customer, "16.80", "5")
    with pytest.raises(InvalidRefundRequest) as error:
        perishable_claim_amount(
            order_item=item,
            spoiled_quantity=Decimal(spoiled) if spoiled else None,
            share=Decimal(share) if share else None,
        )
    assert error.value.field == field


def test_proportional_amount_rounds_the_cut_down() -> None:
    assert proportional_amount(amount=Decimal("59.97"), quantity=Decimal("3"), kept_quantity=Decimal("2.35")) == (
        Decimal("46.98")
    )
    assert proportional_amount(amount=Decimal("10.00"), quantity=Decimal("3"), kept_quantity=Decimal("1")) == (
        Decimal("3.34")
    )
    assert proportional_amount(amount=Decimal("10.00"), quantity=Decimal("3"), kept_quantity=Decimal("3")) == (
        Decimal("10.00")
    )


def test_an_agent_settles_a_claim_for_the_spoiled_weight_then_approves_it(
    customer: Any, agent: Any, agent2: Any
) -> None:
    item = _line(customer, "16.80", "5")
    refund = apply(customer, item.order, "quality_issue", "refund_only")
    assert (refund.state, refund.amount) == (RefundState.PENDING_REVIEW, Decimal("84.00"))

    refund = services.perishable_claim_settle(
        refund=refund, order_item_id=item.pk, actor=agent, spoiled_quantity=Decimal("1.2"), note="照片显示部分腐烂"
    )
    assert refund.amount == Decimal("20.16")
    line = RefundItem.objects.get(refund=refund)
    assert (line.quantity, line.amount) == (Decimal("1.200"), Decimal("20.16"))
    assert claims(item.order) == (Decimal("1.200"), Decimal("20.16"))
    told = RefundEvent.objects.filter(refund=refund, internal=False).order_by("-id").first()
    assert told is not None and told.note_code == "with_remark"
    name = item.name
    assert told.note == f"按损坏部分核定：“{name}”共 5 kg，损坏 1.2 kg，退款 ¥20.16。 照片显示部分腐烂"

    refund = refund_services.refund_approve(refund=refund, actor=agent2)
    assert refund.state == RefundState.REFUNDING
    assert reload(refund).amount == Decimal("20.16")


def test_settling_is_for_refund_only_quality_claims_by_agents(customer: Any, agent: Any) -> None:
    item = _line(customer, "16.80", "5")
    returning = apply(customer, item.order, "quality_issue", "return_and_refund", quantity="2")
    with pytest.raises(RefundNotAllowed):
        services.perishable_claim_settle(
            refund=returning, order_item_id=item.pk, actor=agent, spoiled_quantity=Decimal("1")
        )
    claim = apply(customer, item.order, "quality_issue", "refund_only", quantity="3")
    with pytest.raises(ReviewForbidden):
        services.perishable_claim_settle(refund=claim, order_item_id=item.pk, actor=customer, share=Decimal("0.1"))
    with pytest.raises(InvalidRefundRequest):  # more than the customer claimed
        services.perishable_claim_settle(refund=claim, order_item_id=item.pk, actor=agent, share=Decimal("0.8"))
    assert reload(claim).amount == Decimal("50.40")
    assert claims(item.order) == (Decimal("5.000"), Decimal("84.00"))


def test_a_customer_can_claim_the_spoiled_weight_directly(customer: Any) -> None:
    item = _line(customer, "16.80", "5")
    response = client_for(customer).post(
        "/api/v1/refunds/",
        {
            "order_no": item.order.order_no,
            "reason": "quality_issue",
            "kind": "refund_only",
            "items": [{"order_item_id": item.pk, "quantity": "1.2", "amount": "20.16"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "20.16"
