"""What each message to a customer says: an event code and the texts of its title and body, rendered in the
reader's language from the parameters stored with the message (``mall.texts``). Every message has ``refund_no``.

- ``received``: the customer's request is received (``order_no``, ``amount``);
- ``opened``: the shop opened a refund itself, out of stock say (``order_no``, ``amount``, ``reason``);
- ``approved``: the refund is approved (``order_no``, ``amount``);
- ``rejected``: it is rejected (``reason``: a text, the agent's words);
- ``return_needed``: the goods must come back (``name``, ``contact``, ``phone``, ``address``: the return
  address, absent when none is set);
- ``goods_received``: the warehouse has the goods;
- ``inspected``: the inspection is done (``amount``; with a cut, ``cut`` and ``items``: texts saying what did
  not come back);
- ``refunded``: the money is back (``order_no``, ``amount``, ``channel``, ``voucher``: the voucher's path here;
  ``destination``: store credit and bank transfers are worded as such);
- ``replacement_shipped``: a replacement is on its way (``carrier``, ``tracking_no``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mall.models import Channel
from mall.texts import TextCode, label, money, text_code
from refunds.models import RefundReason


class MessageEvent(models.TextChoices):
    RECEIVED = "received", _("request received")
    OPENED = "opened", _("refund opened by the shop")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    RETURN_NEEDED = "return_needed", _("goods to send back")
    GOODS_RECEIVED = "goods_received", _("goods received")
    INSPECTED = "inspected", _("inspection result")
    REFUNDED = "refunded", _("money back")
    REPLACEMENT_SHIPPED = "replacement_shipped", _("replacement shipped")


def site_link(path: Any) -> str:
    """A path of this site as a link a customer can open from an email (``SHOP_URL``)."""
    return f"{settings.SHOP_URL.rstrip('/')}{path}"


@dataclass(frozen=True)
class Wording:
    """The title and body of one event's message. ``detailed`` is the body used when the parameter ``detail``
    is present (the return address, an inspection's cut)."""

    title: TextCode
    body: TextCode
    detail: str = ""
    detailed: TextCode | None = None
    # The body chosen by a parameter's value (where the money went: ``destination``), else ``body``.
    by: str = ""
    variants: Mapping[str, TextCode] = field(default_factory=dict)

    def body_for(self, params: Mapping[str, Any]) -> TextCode:
        if self.detailed is not None and params.get(self.detail):
            return self.detailed
        if self.by and params.get(self.by) in self.variants:
            return self.variants[params[self.by]]
        return self.body


E = MessageEvent
WORDINGS: dict[str, Wording] = {
    E.RECEIVED: Wording(
        text_code("message.received.title", _("We have received your refund request %(refund_no)s")),
        text_code(
            "message.received.body",
            _("Your request for %(amount)s on order %(order_no)s has reached us. We will tell you of every step."),
            amount=money,
        ),
    ),
    E.OPENED: Wording(
        text_code("message.opened.title", _("We opened refund %(refund_no)s for your order %(order_no)s")),
        text_code(
            "message.opened.body",
            _("Reason: %(reason)s. %(amount)s of order %(order_no)s goes back to you; you need to do nothing."),
            amount=money,
            reason=label(RefundReason),
        ),
    ),
    E.APPROVED: Wording(
        text_code("message.approved.title", _("Your refund %(refund_no)s is approved")),
        text_code(
            "message.approved.body", _("Your refund of %(amount)s for order %(order_no)s is approved."), amount=money
        ),
    ),
    E.REJECTED: Wording(
        text_code("message.rejected.title", _("Your refund %(refund_no)s was not approved")),
        text_code(
            "message.rejected.body",
            _("Reason: %(reason)s. If you disagree, you may open a dispute on this refund."),
        ),
    ),
    E.RETURN_NEEDED: Wording(
        text_code("message.return_needed.title", _("Please send the goods of refund %(refund_no)s back")),
        text_code(
            "message.return_needed.body",
            _(
                "Please send the goods back to the address shown with the refund, then tell us the carrier and "
                "tracking number."
            ),
        ),
        detail="address",
        detailed=text_code(
            "message.return_needed.body_address",
            _(
                "Please send the goods back to %(name)s, %(address)s (%(contact)s, %(phone)s), then tell us the "
                "carrier and tracking number."
            ),
        ),
    ),
    E.GOODS_RECEIVED: Wording(
        text_code("message.goods_received.title", _("We have received the goods of refund %(refund_no)s")),
        text_code(
            "message.goods_received.body",
            _("Our warehouse has received the goods you sent back and is inspecting them."),
        ),
    ),
    E.INSPECTED: Wording(
        text_code("message.inspected.title", _("The goods of refund %(refund_no)s are inspected")),
        text_code(
            "message.inspected.body",
            _("The goods passed the inspection: %(amount)s goes back to you."),
            amount=money,
        ),
        detail="cut",
        detailed=text_code(
            "message.inspected.body_cut",
            _("The inspection found that %(items)s. The refund is reduced by %(cut)s to %(amount)s."),
            amount=money,
            cut=money,
        ),
    ),
    E.REFUNDED: Wording(
        text_code("message.refunded.title", _("Your refund %(refund_no)s is complete")),
        text_code(
            "message.refunded.body",
            _(
                "%(amount)s for order %(order_no)s has been returned to your %(channel)s account. Your refund "
                "voucher: %(voucher)s"
            ),
            amount=money,
            channel=label(Channel),
            voucher=site_link,
        ),
        by="destination",
        variants={
            "store_credit": text_code(
                "message.refunded.body_store_credit",
                _(
                    "%(amount)s for order %(order_no)s has been added to your store credit. Your refund voucher: "
                    "%(voucher)s"
                ),
                amount=money,
                voucher=site_link,
            ),
            "offline": text_code(
                "message.refunded.body_offline",
                _(
                    "%(amount)s for order %(order_no)s has been paid to you by bank transfer. Your refund voucher: "
                    "%(voucher)s"
                ),
                amount=money,
                voucher=site_link,
            ),
        },
    ),
    E.REPLACEMENT_SHIPPED: Wording(
        text_code("message.replacement_shipped.title", _("The replacement for refund %(refund_no)s is on its way")),
        text_code(
            "message.replacement_shipped.body",
            _("We have shipped the replacement with %(carrier)s, tracking number %(tracking_no)s."),
        ),
    ),
}


def message_title(event: str, params: Mapping[str, Any]) -> str:
    wording = WORDINGS.get(event)
    return wording.title.render(params) if wording is not None else event


def message_body(event: str, params: Mapping[str, Any]) -> str:
    wording = WORDINGS.get(event)
    return wording.body_for(params).render(params) if wording is not None else ""
