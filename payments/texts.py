"""The texts the payment side writes on refunds' timelines (what the channel answered): stored as codes with
parameters (``mall.texts``), rendered in the reader's language. The channel's own codes and messages are kept as
the channel sent them. Codes are stored: never rename one."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from mall.texts import label, text_code
from payments.models import AttemptOutcome

CHANNEL_ANSWERED = text_code("channel_answered", _("the channel answered: %(status)s"), status=label(AttemptOutcome))
CHANNEL_NOTIFIED = text_code(
    "channel_notified", _("the channel's notification: %(status)s"), status=label(AttemptOutcome)
)
CHANNEL_REFUSED = text_code("channel_refused", _("the channel refused: %(message)s (%(code)s)"))
NO_ANSWER = text_code("channel_no_answer", _("no answer from the channel after retries: %(error)s"))

# What a channel's refusal word means (WeChat Pay's refund statuses; Alipay's is a code with its own message).
CHANNEL_REFUSALS = {
    "ABNORMAL": _("the customer's account or card cannot receive the money"),
    "CLOSED": _("the channel closed the refund"),
    "REFUND_FAIL": _("the channel could not refund"),
}


def _refusal_meaning(value: object) -> str:
    return str(CHANNEL_REFUSALS.get(str(value).upper(), value))


CHANNEL_COULD_NOT_PAY = text_code("channel_could_not_pay", _("the channel could not pay (%(status)s)"))
CHANNEL_COULD_NOT_PAY_BECAUSE = text_code(
    "channel_could_not_pay_because",
    _("the channel could not pay (%(status)s): %(meaning)s"),
    meaning=_refusal_meaning,
)
