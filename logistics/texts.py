"""The texts logistics writes on refunds' timelines (interception, receipt, inspection): stored as codes with
parameters (``mall.texts``), rendered in the reader's language. Codes are stored: never rename one."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from logistics.models import Condition
from mall.texts import label, text_code

INTERCEPTED_LATE = text_code(
    "intercepted_late",
    _("the carrier intercepted the parcel after the time limit: confirm receipt when it arrives"),
)
STOPPED_AFTER_WITHDRAWAL = text_code(
    "stopped_after_withdrawal",
    _("the carrier stopped the parcel after the refund was withdrawn: arrange delivery again"),
)
INTERCEPTION_TIMED_OUT = text_code(
    "interception_timed_out",
    _("the carrier did not confirm the interception in time: please send the goods back after receiving them"),
)
PARCEL_STOPPED = text_code("parcel_stopped", _("the parcel was stopped and goes back to our warehouse"))
RECEIVED_BY_WAREHOUSE = text_code("received_by_warehouse", _("goods received by the warehouse"))
DELIVERED_TO_WAREHOUSE = text_code("delivered_to_warehouse", _("delivered to our warehouse (carrier notification)"))
INSPECTED = text_code("inspected", _("inspected %(quantity)s of “%(name)s”: %(condition)s"), condition=label(Condition))
SHORTFALL_ITEM = text_code(
    "shortfall_item", _("we received %(received)s of the %(claimed)s of “%(name)s” you returned")
)
# A cut for goods that did not come back; ``cut`` and ``amount`` as two-decimal strings with thousands separators.
INSPECTION_SHORTFALL = text_code(
    "inspection_shortfall",
    _(
        "Quality inspection: %(items)s. The refund is reduced in proportion to the goods that did not come back, "
        "by ¥%(cut)s to ¥%(amount)s."
    ),
)
PERISHABLE_SETTLED = text_code(
    "perishable_settled",
    _("Settled for the spoiled part: %(quantity)s of %(ordered)s of “%(name)s”, ¥%(amount)s."),
)
