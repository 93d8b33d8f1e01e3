"""The texts of refunds' timeline notes: stored as codes with parameters (``mall.texts``), rendered in the
reader's language when read. Codes are stored in the database: never rename one or give it another meaning."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from mall.texts import label, money, text_code
from refunds.models import DisputeOutcome, RefundReason

# --- creation and the policy's decision ----------------------------------------------------------------------
SUBMITTED = text_code("submitted", _("submitted"))
ABOVE_CAP = text_code("above_cap", _("above the single-refund cap: a supervisor decides"))
DELIVERED_WAITS = text_code("delivered_waits", _("delivered order: waiting for customer service"))
NO_REVIEW_NEEDED = text_code("no_review_needed", _("not yet delivered: no review needed"))
PRICE_ANOMALY_REVIEW = text_code("price_anomaly_review", _("price anomaly: waiting for review"))
STARTED_BY_SYSTEM = text_code("started_by_system", _("started by the system"))
WITHIN_COMPENSATION_CAP = text_code("within_compensation_cap", _("within the compensation cap"))
ABOVE_COMPENSATION_CAP = text_code("above_compensation_cap", _("above the compensation cap: a supervisor decides"))

# --- where an approved refund goes -----------------------------------------------------------------------------
GOODS_IN_TRANSIT = text_code("goods_in_transit", _("the goods are in transit"))
AWAITING_GOODS = text_code("awaiting_goods", _("waiting for the goods to come back"))
REFUNDING_ORIGINAL = text_code("refunding_original", _("refunding to the original channel"))
PAYING_STORE_CREDIT = text_code("paying_store_credit", _("paying to store credit"))

# --- review ----------------------------------------------------------------------------------------------------
APPROVED = text_code("approved", _("approved"))
REJECTION_OVERTURNED = text_code("rejection_overturned", _("rejection overturned: %(note)s"))
ESCALATED = text_code("escalated", _("escalated: %(reason)s"))
WITHDRAWN = text_code("withdrawn", _("withdrawn by the customer"))

# The automatic approval's verdicts (``refunds.auto_approval``); amounts as the rule read them.
AUTO_NEEDS_SUPERVISOR = text_code(
    "auto_needs_supervisor", _("%(rule)s: above the single-refund cap, a supervisor must decide")
)
AUTO_ABOVE_CAP = text_code(
    "auto_above_cap",
    _("%(rule)s: %(amount)s is above the automatic approval cap of %(cap)s"),
    amount=money,
    cap=money,
)
AUTO_NO_PHOTOS = text_code(
    "auto_no_photos", _("%(rule)s: a quality claim without photos is not approved automatically")
)
AUTO_REASON_EXCLUDED = text_code(
    "auto_reason_excluded",
    _("%(rule)s: refunds for “%(reason)s” are not approved automatically"),
    reason=label(RefundReason),
)
AUTO_RATE_FLAGGED = text_code(
    "auto_rate_flagged",
    _(
        "%(rule)s: the customer's refund rate is %(rate)s (%(refunds)d refunds, %(orders)d paid orders in "
        "%(days)d days), above %(limit)s"
    ),
)
AUTO_APPROVED = text_code(
    "auto_approved",
    _(
        "approved automatically after %(hours)d h without review, rule %(rule)s: %(amount)s within "
        "%(cap)s, reason allowed"
    ),
    amount=money,
    cap=money,
)
AUTO_APPROVED_RATE = text_code(
    "auto_approved_rate",
    _(
        "approved automatically after %(hours)d h without review, rule %(rule)s: %(amount)s within %(cap)s, "
        "reason allowed, refund rate %(rate)s within %(limit)s"
    ),
    amount=money,
    cap=money,
)

# --- the goods, the channel -------------------------------------------------------------------------------------
SHIPMENT_INTERCEPTED = text_code("shipment_intercepted", _("shipment intercepted"))
INTERCEPTION_FAILED = text_code(
    "interception_failed", _("interception failed: please send the goods back after receiving them")
)
RETURN_SHIPPED = text_code("return_shipped", _("goods sent back with %(carrier)s, tracking number %(tracking_no)s"))
GOODS_RECEIVED = text_code("goods_received", _("goods received"))
INSPECTION_PASSED = text_code("inspection_passed", _("inspection passed"))
SUCCESS_AFTER_FAILURE = text_code("success_after_failure", _("the channel reported success after a failure"))
MONEY_RETURNED = text_code("money_returned", _("money returned by the channel"))
SENT_AGAIN = text_code("sent_again", _("sent to the channel again"))

# --- evidence, disputes, stock --------------------------------------------------------------------------------
PHOTO_ADDED = text_code("photo_added", _("photo added"))
DISPUTE_OPENED = text_code("dispute_opened", _("dispute opened"))
DISPUTE_OPENED_BY_STAFF = text_code("dispute_opened_by_staff", _("dispute opened by customer service"))
DISPUTE_RESOLVED = text_code("dispute_resolved", _("dispute resolved: %(outcome)s"), outcome=label(DisputeOutcome))
OUT_OF_STOCK = text_code(
    "out_of_stock",
    _("Sorry, we could not supply %(items)s: it is out of stock. Its price is refunded to you."),
)

# A text followed by what a person added to it (a settlement and the agent's remark).
WITH_REMARK = text_code("with_remark", "%(text)s %(remark)s")

# --- other ways to pay, replacements -----------------------------------------------------------------------------
PAYING_STORE_CREDIT_INSTEAD = text_code("paying_store_credit_instead", _("paying to store credit instead"))
TO_BE_TRANSFERRED = text_code("to_be_transferred", _("to be paid by bank transfer"))
CREDITED = text_code("credited_store_credit", _("credited to store credit"))
TRANSFERRED = text_code("transferred", _("paid by bank transfer"))
TRANSFERRED_REFERENCE = text_code("transferred_reference", _("paid by bank transfer, reference %(reference)s"))
TRANSFER_ABANDONED = text_code("transfer_abandoned", _("the bank transfer could not be made: %(why)s"))
SHIPPING_REPLACEMENT = text_code("shipping_replacement", _("shipping a replacement"))
REPLACEMENT_SHIPPED = text_code("replacement_shipped", _("replacement shipped: %(carrier)s %(tracking_no)s"))
REPLACEMENT_NO_STOCK = text_code(
    "replacement_no_stock",
    _("not enough stock to ship a replacement: the money goes back to the original payment instead"),
)
REPLACEMENT_CARRIER_REFUSED = text_code(
    "replacement_carrier_refused",
    _("the carrier cannot ship the replacement: the money goes back to the original payment instead"),
)
