"""The demo shop's refunds as the walks name them: by the item claimed and the state they are in."""

from __future__ import annotations

from refunds.models import Refund, RefundState


def claim(sku: str, state: str = RefundState.PENDING_REVIEW) -> Refund:
    """The demo's refund on the item ``sku`` in ``state`` (the demo has one of each it is asked for)."""
    return Refund.objects.select_related("order").get(state=state, items__order_item__sku=sku)
