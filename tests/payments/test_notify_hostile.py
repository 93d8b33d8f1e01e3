"""Channel notifications in conditions an attacker or a broken deployment makes: a production site whose channel is
not configured answers 503 in the channel's own form (the channel sends the notification again later) with one
warning, and changes nothing; a correctly signed WeChat Pay body nested thousands deep is refused like any other
unreadable notification."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import pytest
from django.test import override_settings

from payments.simulator import crypto
from tests.fuzzing import nested_arrays, nested_objects
from tests.payments.test_notify_endpoints import OK, _notification_for, _post, _refund_awaiting_outcome
from tests.payments.test_notify_fuzz import REFUSED, _snapshot

pytestmark = pytest.mark.django_db
# What a production deployment without channel settings has: debug off, no simulator, no merchant ids.
UNCONFIGURED = {"DEBUG": False, "CHANNEL_SIMULATOR_ENABLED": False, "ALIPAY_APP_ID": "", "WECHAT_MCH_ID": ""}
UNAVAILABLE = {
    "alipay": (503, b"fail"),
    "wechat": (503, b'{"code": "FAIL", "message": "payment channel not configured"}'),
}


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_an_unconfigured_channel_answers_503_and_changes_nothing(
    client: Any, api: Any, customer: Any, channel: str, channel_simulator: Any, caplog: Any
) -> None:
    refund = _refund_awaiting_outcome(api, customer, channel, channel_simulator)
    headers, body = _notification_for(refund, channel_simulator)
    before = _snapshot(refund)
    caplog.clear()
    with override_settings(**UNCONFIGURED), caplog.at_level(logging.INFO):
        response = _post(client, channel, headers, body)
    assert (response.status_code, response.content) == UNAVAILABLE[channel]
    assert response["Retry-After"] == "600"
    assert _snapshot(refund) == before
    said = [
        (r.name, r.levelname, r.getMessage())
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("payments", "django"))
    ]
    assert said == [
        (
            "payments.views",
            "WARNING",
            f"{channel} notification not read: the channel is not configured (payment channel settings are missing "
            "and the channel simulator is not enabled (set ALIPAY_*/WECHAT_* or CHANNEL_SIMULATOR_ENABLED=1))",
        )
    ]
    # Once configured again, the same notification (the channel's retry) settles the refund.
    response = _post(client, channel, headers, body)
    assert (response.status_code, response.content) == OK[channel]
    assert _snapshot(refund)[0] == "refunded"


@pytest.mark.parametrize("body", [nested_arrays(50_000), nested_objects(5_000), "[" * 100_000])
def test_a_signed_deeply_nested_wechat_notification_is_refused(
    client: Any, api: Any, customer: Any, channel_simulator: Any, channel_keys: Any, body: str, caplog: Any
) -> None:
    refund = _refund_awaiting_outcome(api, customer, "wechat", channel_simulator)
    before = _snapshot(refund)
    keys = channel_keys
    stamp, nonce = str(int(time.time())), secrets.token_hex(16).upper()
    headers = {
        "Content-Type": "application/json",
        "Wechatpay-Signature": crypto.rsa_sign(keys.wechat_platform_private_key, f"{stamp}\n{nonce}\n{body}\n"),
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": keys.wechat_public_key_id,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    caplog.clear()
    response = _post(client, "wechat", headers, body.encode())
    assert (response.status_code, response.content) == REFUSED["wechat"]
    assert _snapshot(refund) == before
    # The signature held: it is the body that could not be read.
    refused = [r.getMessage() for r in caplog.records if r.name == "payments.views"]
    assert refused == ["refused wechat notification: notification could not be read"]


@pytest.mark.parametrize(
    "stamp",
    ["9" * 400, "-" + "9" * 400, "1" * 13, "+1733400000", "1_733_400_000", "\uff11\uff17\uff13\uff13", " "],
    ids=["huge", "huge-negative", "13-digits", "plus-sign", "underscores", "fullwidth-digits", "blank"],
)
def test_a_wechat_notification_whose_timestamp_is_not_plain_seconds_is_refused(
    client: Any, api: Any, customer: Any, channel_simulator: Any, stamp: str
) -> None:
    """Only the platform key's id is needed to reach the timestamp's check: a number too long for the clock's float
    comparison was an OverflowError (a 500), and int() takes signs, underscores and other scripts' digits."""
    refund = _refund_awaiting_outcome(api, customer, "wechat", channel_simulator)
    headers, body = _notification_for(refund, channel_simulator)
    before = _snapshot(refund)
    response = _post(client, "wechat", {**headers, "Wechatpay-Timestamp": stamp}, body)
    assert (response.status_code, response.content) == REFUSED["wechat"]
    assert _snapshot(refund) == before
    # The same notification with its own timestamp is still good.
    response = _post(client, "wechat", headers, body)
    assert (response.status_code, response.content) == OK["wechat"]
