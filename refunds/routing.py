"""Where an approved refund goes next: refund at once, stop the goods on the road, wait for them to come back, or
ship a replacement.

What each of those sets off (the channel's execution, the carrier's interception) is what entering the state
sets off, registered in ``refunds.lifecycle.EFFECTS`` by the app that does the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from mall.texts import Text
from refunds import policy, texts
from refunds.models import Refund, RefundDestination, RefundKind


@dataclass(frozen=True)
class Route:
    """The transition an approved refund takes next, and its event note."""

    transition: str  # the name of a transition method of Refund
    note: Text


def route_after_approval(refund: Refund) -> Route:
    if refund.kind == RefundKind.REPLACEMENT:
        return Route("start_replacement", texts.SHIPPING_REPLACEMENT())
    order = refund.order
    if policy.needs_interception(order=order, reason=refund.reason, kind=refund.kind):
        return Route("start_interception", texts.GOODS_IN_TRANSIT())
    if refund.kind == RefundKind.RETURN_AND_REFUND and order.is_delivered():
        return Route("await_return", texts.AWAITING_GOODS())
    if refund.destination == RefundDestination.STORE_CREDIT:
        return Route("start_refund", texts.PAYING_STORE_CREDIT())
    return Route("start_refund", texts.REFUNDING_ORIGINAL())


__all__ = ["Route", "route_after_approval"]
