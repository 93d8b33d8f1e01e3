"""Channel notifications under random damage: whatever arrives, the answer is a refusal in the channel's form, never a
5xx, and nothing changes. A genuine notification, mutated one part at a time (a byte of the body, a header, a field
of Alipay's form), must never be taken for the real one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from payments.models import ChannelAttempt
from refunds.models import Refund, RefundEvent, RefundState
from tests.fuzzing import DEEP_JSON, fuzz
from tests.payments.test_notify_endpoints import OK, _notification_for, _post, _refund_awaiting_outcome

pytestmark = pytest.mark.django_db
FUZZ = fuzz(150)
REFUSED = {
    "alipay": (400, b"fail"),
    "wechat": (400, b'{"code": "FAIL", "message": "invalid notification"}'),
}
WECHAT_HEADERS = ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
HEADER_VALUES = st.text(max_size=40) | st.sampled_from(["0", "-1", "99999999999999999999", "1e9", " ", "WECHATPAY2"])


def _snapshot(refund: Refund) -> tuple[Any, ...]:
    refund.refresh_from_db()
    return (refund.state, refund.channel_refund_id, RefundEvent.objects.count(), ChannelAttempt.objects.count())


def _flip(body: bytes, at: int, value: int) -> bytes:
    if not body:
        return bytes([value])
    at %= len(body)
    replacement = value if value != body[at] else (value + 1) % 256
    return body[:at] + bytes([replacement]) + body[at + 1 :]


def _damages(channel: str, form: dict[str, str]) -> Any:
    """What can be damaged in each channel's notification: WeChat Pay signs its headers and JSON body; Alipay signs
    the fields of its form (and no header)."""
    common = [
        st.tuples(st.just("byte"), st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=255)),
        st.tuples(st.just("body"), st.none(), st.binary(max_size=400)),
        st.tuples(st.just("body"), st.none(), DEEP_JSON.map(lambda deep: deep[0].encode())),
    ]
    if channel == "wechat":
        return st.one_of(
            *common,
            st.tuples(st.just("header"), st.sampled_from(WECHAT_HEADERS), HEADER_VALUES),
            st.tuples(st.just("drop-header"), st.sampled_from(WECHAT_HEADERS), st.none()),
        )
    return st.one_of(
        *common,
        st.tuples(st.just("field"), st.sampled_from(sorted(form)), st.text(max_size=40)),
        st.tuples(st.just("drop-field"), st.sampled_from(sorted(form)), st.none()),
    )


def _damage(
    headers: dict[str, str], body: bytes, form: dict[str, str], damage: tuple[str, Any, Any]
) -> tuple[dict[str, str], bytes]:
    kind, where, value = damage
    headers = dict(headers)
    if kind == "byte":
        body = _flip(body, where, value)
    elif kind == "body":
        body = value
    elif kind == "header":
        headers[where] = value
    elif kind == "drop-header":
        del headers[where]
    else:
        fields = {k: v for k, v in form.items() if k != where}
        if kind == "field":
            fields[where] = value
        body = urlencode(fields).encode()
    return headers, body


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_damaged_notifications_are_refused_and_change_nothing(
    client: Any, api: Any, customer: Any, channel: str, channel_simulator: Any
) -> None:
    refund = _refund_awaiting_outcome(api, customer, channel, channel_simulator)
    genuine_headers, genuine_body = _notification_for(refund, channel_simulator)
    before = _snapshot(refund)
    assert before[0] == RefundState.REFUNDING
    form = dict(parse_qsl(genuine_body.decode(), keep_blank_values=True)) if channel == "alipay" else {}

    @FUZZ
    @given(damage=_damages(channel, form))
    def check(damage: tuple[str, Any, Any]) -> None:
        headers, body = _damage(genuine_headers, genuine_body, form, damage)
        assume((headers, body) != (genuine_headers, genuine_body))  # an unchanged part is no damage
        response = _post(client, channel, headers, body)
        assert (response.status_code, response.content) == REFUSED[channel], (damage, response.content[:200])
        assert _snapshot(refund) == before

    check()
    # The genuine notification still settles the refund afterwards: nothing above spoilt it.
    response = _post(client, channel, genuine_headers, genuine_body)
    assert (response.status_code, response.content) == OK[channel]
    assert _snapshot(refund)[0] == RefundState.REFUNDED
