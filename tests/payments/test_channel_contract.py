"""One contract, every adapter: the real SDK adapters against the channel simulator's real HTTP gateways.

Each test runs once per channel. The simulator's ledger is the witness that money moved exactly once.
"""

from __future__ import annotations

import inspect
import json
import time
import tracemalloc
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from mall.shoptime import SHOP_TZ
from payments.channels import (
    ChannelRejected,
    ChannelTemporaryError,
    NotificationInvalid,
    RefundChannel,
    RefundStatus,
    StatementLine,
    get_channel,
)
from payments.channels.demo_keys import DemoKeys
from payments.simulator import client, crypto
from payments.simulator.server import ChannelSimulator
from tests.channel_simulator import NotificationInbox
from tests.payments.helpers import ledger_refunds, paid_trade, refund_request, refunded_total

EXPECT: dict[str, dict[str, Any]] = {
    "alipay": {
        "over_refund": "ACQ.REASON_TRADE_REFUND_FEE_ERR",
        "changed_repeat": "ACQ.DISCORDANT_REPEAT_REQUEST",
        "unknown_trade": "ACQ.TRADE_NOT_EXIST",
        "busy": ["ACQ.SYSTEM_ERROR", "isp.unknow-error", "ACQ.SELLER_BALANCE_NOT_ENOUGH"],
        "final": "ACQ.TRADE_STATUS_ERROR",
        "fund_change": (True, False),
        "refund_id": False,
    },
    "wechat": {
        "over_refund": "INVALID_REQUEST",
        "changed_repeat": "INVALID_REQUEST",
        "unknown_trade": "RESOURCE_NOT_EXISTS",
        "busy": ["SYSTEM_ERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH"],
        "final": "USER_ACCOUNT_ABNORMAL",
        "fund_change": (None, None),
        "refund_id": True,
    },
}


@pytest.fixture(params=["alipay", "wechat"])
def code(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def channel(code: str, channel_simulator: ChannelSimulator) -> RefundChannel:
    return get_channel(code)


def fault(simulator: ChannelSimulator, channel_code: str, kind: str, /, **params: Any) -> None:
    client.add_fault(channel=channel_code, kind=kind, base_url=simulator.url, **params)


def today() -> date:
    return datetime.now(SHOP_TZ).date()


# --- refunds ----------------------------------------------------------------------------------------------
def test_refund_moves_the_exact_amount(code: str, channel: RefundChannel, channel_simulator: ChannelSimulator) -> None:
    trade = paid_trade(channel_simulator, code, "100.00")
    req = refund_request(trade, "12.34")

    result = channel.refund(req)

    assert channel.code == code
    assert result.status == RefundStatus.SUCCESS
    assert result.out_refund_no == req.out_refund_no
    assert result.amount == Decimal("12.34")
    assert result.fund_change is EXPECT[code]["fund_change"][0]
    assert (result.channel_refund_id is not None) is EXPECT[code]["refund_id"]
    assert result.succeeded_at is not None
    assert abs((datetime.now(SHOP_TZ) - result.succeeded_at).total_seconds()) < 5
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "12.34", "SUCCESS")]
    assert refunded_total(channel_simulator, trade[0]) == "12.34"


def test_repeating_a_request_refunds_once(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code)
    req = refund_request(trade, "30.00")

    first = channel.refund(req)
    again = channel.refund(req)

    assert (first.status, again.status) == (RefundStatus.SUCCESS, RefundStatus.SUCCESS)
    assert (first.amount, again.amount) == (Decimal("30.00"), Decimal("30.00"))
    assert (first.fund_change, again.fund_change) == EXPECT[code]["fund_change"]
    assert again.channel_refund_id == first.channel_refund_id
    assert again.succeeded_at == first.succeeded_at
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "30.00", "SUCCESS")]
    assert refunded_total(channel_simulator, trade[0]) == "30.00"


def test_partial_refunds_up_to_the_paid_amount_then_over_refund_is_rejected(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code, "100.00")
    parts = [channel.refund(refund_request(trade, amount)) for amount in ("33.33", "33.33", "33.34")]
    assert [(p.status, p.amount) for p in parts] == [
        (RefundStatus.SUCCESS, Decimal(a)) for a in ("33.33", "33.33", "33.34")
    ]

    with pytest.raises(ChannelRejected) as rejected:
        channel.refund(refund_request(trade, "0.01"))

    assert rejected.value.code == EXPECT[code]["over_refund"]
    assert rejected.value.channel == code
    assert refunded_total(channel_simulator, trade[0]) == "100.00"
    assert len(ledger_refunds(channel_simulator, trade[0])) == 3


def test_over_refund_is_rejected_and_moves_nothing(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code, "100.00")
    kept = refund_request(trade, "60.00")
    channel.refund(kept)
    too_much = refund_request(trade, "40.01")

    with pytest.raises(ChannelRejected) as rejected:
        channel.refund(too_much)

    assert rejected.value.code == EXPECT[code]["over_refund"]
    assert rejected.value.message
    assert ledger_refunds(channel_simulator, trade[0]) == [(kept.out_refund_no, "60.00", "SUCCESS")]
    found = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no=too_much.out_refund_no)
    assert found.status == RefundStatus.NOT_FOUND


def test_a_number_reused_with_another_amount_is_rejected(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code)
    first = refund_request(trade, "10.00")
    channel.refund(first)

    with pytest.raises(ChannelRejected) as rejected:
        channel.refund(refund_request(trade, "11.00", number=first.out_refund_no))

    assert rejected.value.code == EXPECT[code]["changed_repeat"]
    assert ledger_refunds(channel_simulator, trade[0]) == [(first.out_refund_no, "10.00", "SUCCESS")]


def test_refund_on_an_unknown_trade_is_rejected(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    req = refund_request(("ORDNOSUCHTRADE", "2026NOSUCHTRADE"), "1.00")

    with pytest.raises(ChannelRejected) as rejected:
        channel.refund(req)

    assert rejected.value.code == EXPECT[code]["unknown_trade"]
    assert client.ledger(base_url=channel_simulator.url)["refunds"] == []


def test_query_of_a_refund_never_made_is_not_found(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code)

    found = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no="RFNEVERMADE")

    assert (found.status, found.amount, found.out_refund_no) == (RefundStatus.NOT_FOUND, None, "RFNEVERMADE")


# --- failures that leave the outcome unknown -------------------------------------------------------------
def test_timeout_is_temporary_and_the_query_finds_the_truth(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code)
    req = refund_request(trade, "25.50")
    fault(channel_simulator, code, "timeout", delay=1.5)  # the channel books the refund but answers too late

    started = time.monotonic()
    with pytest.raises(ChannelTemporaryError):
        channel.refund(req)
    assert time.monotonic() - started < 1.4

    found = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no=req.out_refund_no)
    assert (found.status, found.amount) == (RefundStatus.SUCCESS, Decimal("25.50"))
    retried = channel.refund(req)
    assert (retried.status, retried.amount) == (RefundStatus.SUCCESS, Decimal("25.50"))
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "25.50", "SUCCESS")]


def test_timeout_before_the_channel_acted_then_retry_refunds_once(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code)
    req = refund_request(trade, "5.00")
    fault(channel_simulator, code, "timeout", delay=1.0, apply=False)

    with pytest.raises(ChannelTemporaryError):
        channel.refund(req)

    found = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no=req.out_refund_no)
    assert found.status == RefundStatus.NOT_FOUND
    assert channel.refund(req).status == RefundStatus.SUCCESS
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "5.00", "SUCCESS")]


def test_server_error_is_temporary_and_moves_nothing(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code)
    req = refund_request(trade, "8.80")
    fault(channel_simulator, code, "http_500")

    with pytest.raises(ChannelTemporaryError):
        channel.refund(req)

    assert ledger_refunds(channel_simulator, trade[0]) == []
    retried = channel.refund(req)
    assert (retried.status, retried.amount) == (RefundStatus.SUCCESS, Decimal("8.80"))
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "8.80", "SUCCESS")]


def test_unreachable_gateway_is_temporary(code: str, channel_simulator: ChannelSimulator, settings: Any) -> None:
    settings.ALIPAY_GATEWAY = "http://127.0.0.1:1/gateway.do"
    settings.WECHAT_GATEWAY = "http://127.0.0.1:1"
    trade = paid_trade(channel_simulator, code)

    with pytest.raises(ChannelTemporaryError):
        get_channel(code).refund(refund_request(trade, "1.00"))

    assert ledger_refunds(channel_simulator, trade[0]) == []


@pytest.mark.parametrize("which", [0, 1, 2])
def test_busy_answers_are_temporary(
    code: str, which: int, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    busy_code = EXPECT[code]["busy"][which]
    trade = paid_trade(channel_simulator, code)
    fault(channel_simulator, code, "business_error", code=busy_code, message="系统繁忙，请稍后再试")

    with pytest.raises(ChannelTemporaryError) as temporary:
        channel.refund(refund_request(trade, "3.00"))

    assert temporary.value.code == busy_code
    assert ledger_refunds(channel_simulator, trade[0]) == []


def test_a_final_business_error_is_rejected_with_the_channels_code_and_message(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code)
    fault(channel_simulator, code, "business_error", code=EXPECT[code]["final"], message="交易状态不合法")

    with pytest.raises(ChannelRejected) as rejected:
        channel.refund(refund_request(trade, "3.00"))

    assert (rejected.value.code, rejected.value.message) == (EXPECT[code]["final"], "交易状态不合法")
    assert ledger_refunds(channel_simulator, trade[0]) == []


def test_an_answer_with_a_forged_signature_is_refused(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    trade = paid_trade(channel_simulator, code)
    req = refund_request(trade, "19.90")
    fault(channel_simulator, code, "bad_signature")

    with pytest.raises(ChannelTemporaryError):
        channel.refund(req)

    found = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no=req.out_refund_no)
    assert (found.status, found.amount) == (RefundStatus.SUCCESS, Decimal("19.90"))
    assert channel.refund(req).status == RefundStatus.SUCCESS
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "19.90", "SUCCESS")]


def test_processing_becomes_success_on_a_later_query_and_then_notifies(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator, notification_inbox: NotificationInbox
) -> None:
    trade = paid_trade(channel_simulator, code)
    req = refund_request(trade, "42.00")
    fault(channel_simulator, code, "processing", settle_after=0.3)

    first = channel.refund(req)

    assert (first.status, first.amount, first.succeeded_at) == (RefundStatus.PROCESSING, Decimal("42.00"), None)
    assert first.fund_change is (False if code == "alipay" else None)
    again = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no=req.out_refund_no)
    assert again.status == RefundStatus.PROCESSING
    assert notification_inbox.received == []

    time.sleep(0.35)
    done = channel.query_refund(out_trade_no=trade[0], trade_no=trade[1], out_refund_no=req.out_refund_no)

    assert (done.status, done.amount) == (RefundStatus.SUCCESS, Decimal("42.00"))
    assert done.succeeded_at is not None
    [posted] = notification_inbox.wait_for(1)
    notice = channel.parse_notification(posted.headers, posted.body)
    assert (notice.out_refund_no, notice.status, notice.amount) == (
        req.out_refund_no,
        RefundStatus.SUCCESS,
        Decimal("42.00"),
    )
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "42.00", "SUCCESS")]


# --- notifications ----------------------------------------------------------------------------------------
def test_a_refund_notification_verifies(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator, notification_inbox: NotificationInbox
) -> None:
    trade = paid_trade(channel_simulator, code)
    result = channel.refund(refund_request(trade, "12.50"))

    [posted] = notification_inbox.wait_for(1)
    notice = channel.parse_notification(posted.headers, posted.body)

    assert posted.path == f"/payments/notify/{code}/"
    assert notice.out_refund_no == result.out_refund_no
    assert notice.channel_refund_id == result.channel_refund_id
    assert (notice.status, notice.amount) == (RefundStatus.SUCCESS, Decimal("12.50"))
    assert "sign" not in json.dumps(notice.raw).replace('"sign": "***"', "").replace('"sign_type"', "")


def _tampered(code: str, body: bytes) -> bytes:
    if code == "alipay":
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        fields["refund_fee"] = "99.99"
        return urlencode(fields).encode()
    envelope = json.loads(body)
    envelope["summary"] = "退款成功!"
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def _signed_with_wrong_key(
    code: str, keys: DemoKeys, headers: dict[str, str], body: bytes
) -> tuple[dict[str, str], bytes]:
    """Well-formed, fresh, but signed with a key that is not the channel's (here: the merchant's own)."""
    if code == "alipay":
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        fields.pop("sign")
        fields.pop("sign_type")
        message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
        fields |= {"sign": crypto.rsa_sign(keys.alipay_app_private_key, message), "sign_type": "RSA2"}
        return headers, urlencode(fields).encode()
    stamp, nonce = headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"]
    forged = crypto.rsa_sign(keys.wechat_merchant_private_key, f"{stamp}\n{nonce}\n{body.decode()}\n")
    return headers | {"Wechatpay-Signature": forged}, body


@pytest.mark.parametrize("forgery", ["tampered body", "wrong key", "no signature", "garbage", "foreign serial"])
def test_a_forged_notification_is_refused(
    code: str,
    forgery: str,
    channel: RefundChannel,
    channel_simulator: ChannelSimulator,
    channel_keys: DemoKeys,
    notification_inbox: NotificationInbox,
) -> None:
    trade = paid_trade(channel_simulator, code)
    channel.refund(refund_request(trade, "12.50"))
    [posted] = notification_inbox.wait_for(1)
    headers, body = dict(posted.headers), posted.body
    if forgery == "tampered body":
        body = _tampered(code, body)
    elif forgery == "wrong key":
        headers, body = _signed_with_wrong_key(code, channel_keys, headers, body)
    elif forgery == "no signature":
        if code == "alipay":
            body = urlencode([(k, v) for k, v in parse_qsl(body.decode()) if k != "sign"]).encode()
        else:
            headers.pop("Wechatpay-Signature")
    elif forgery == "garbage":
        body = b"\xff\xfe{not a notification"
    elif code == "alipay":  # a message for another app, correctly signed by the channel, must not be ours
        fields = dict(parse_qsl(body.decode()))
        fields.pop("sign")
        fields.pop("sign_type")
        fields["app_id"] = "2021000000000000"
        message = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
        fields |= {"sign": crypto.rsa_sign(channel_keys.alipay_platform_private_key, message), "sign_type": "RSA2"}
        body = urlencode(fields).encode()
    else:
        headers["Wechatpay-Serial"] = "PUB_KEY_ID_0000000000000000000000000000"

    with pytest.raises(NotificationInvalid):
        channel.parse_notification(headers, body)

    # The original still verifies: the refusal was about the forgery, not the message.
    assert channel.parse_notification(posted.headers, posted.body).amount == Decimal("12.50")


def test_a_stale_notification_is_refused(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator, notification_inbox: NotificationInbox
) -> None:
    trade = paid_trade(channel_simulator, code)
    fault(channel_simulator, code, "stale_notify", age_seconds=301)
    req = refund_request(trade, "12.50")
    channel.refund(req)

    [posted] = notification_inbox.wait_for(1)
    with pytest.raises(NotificationInvalid, match="stale"):
        channel.parse_notification(posted.headers, posted.body)

    fresh_headers, fresh_body = client.build_notification(
        channel=code,
        out_refund_no=req.out_refund_no,
        out_trade_no=trade[0],
        age_seconds=290,
        base_url=channel_simulator.url,
    )
    assert channel.parse_notification(fresh_headers, fresh_body).out_refund_no == req.out_refund_no


def test_a_duplicated_notification_reads_the_same_and_money_moved_once(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator, notification_inbox: NotificationInbox
) -> None:
    trade = paid_trade(channel_simulator, code)
    fault(channel_simulator, code, "duplicate_notify")
    req = refund_request(trade, "7.77")
    channel.refund(req)

    first, second = notification_inbox.wait_for(2)
    one, two = (
        channel.parse_notification(first.headers, first.body),
        channel.parse_notification(second.headers, second.body),
    )

    assert one == two
    assert (one.out_refund_no, one.amount, one.status) == (req.out_refund_no, Decimal("7.77"), RefundStatus.SUCCESS)
    event = "notify_id" if code == "alipay" else "id"
    assert one.raw[event] == two.raw[event]
    assert ledger_refunds(channel_simulator, trade[0]) == [(req.out_refund_no, "7.77", "SUCCESS")]


def test_notifications_out_of_order_each_verify(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator, notification_inbox: NotificationInbox
) -> None:
    trade = paid_trade(channel_simulator, code)
    fault(channel_simulator, code, "out_of_order_notify", hold=3.0)
    earlier, later = refund_request(trade, "1.00"), refund_request(trade, "2.00")
    channel.refund(earlier)
    channel.refund(later)

    posted = notification_inbox.wait_for(2)
    notices = [channel.parse_notification(p.headers, p.body) for p in posted]

    assert [(n.out_refund_no, n.amount) for n in notices] == [
        (later.out_refund_no, Decimal("2.00")),
        (earlier.out_refund_no, Decimal("1.00")),
    ]


# --- statements -------------------------------------------------------------------------------------------
def test_statement_streams_the_days_refunds_exactly(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    first_trade, second_trade = (
        paid_trade(channel_simulator, code, "100.00"),
        paid_trade(channel_simulator, code, "0.02"),
    )
    made = [
        (first_trade, channel.refund(refund_request(first_trade, "12.34"))),
        (second_trade, channel.refund(refund_request(second_trade, "0.01", total="0.02"))),
        (first_trade, channel.refund(refund_request(first_trade, "87.66"))),
    ]

    lines = channel.fetch_statement(today())

    assert inspect.isgenerator(lines)
    assert list(lines) == [
        StatementLine(
            out_trade_no=trade[0],
            trade_no=trade[1],
            out_refund_no=result.out_refund_no,
            channel_refund_id=result.channel_refund_id,
            amount=result.amount or Decimal("-1"),
            status=RefundStatus.SUCCESS,
            refunded_at=result.succeeded_at,
        )
        for trade, result in made
    ]
    assert [line.amount for line in channel.fetch_statement(today())] == [
        Decimal("12.34"),
        Decimal("0.01"),
        Decimal("87.66"),
    ]


def test_statement_of_a_quiet_day_is_empty(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    assert list(channel.fetch_statement(date(2020, 1, 1))) == []


def test_a_large_statement_is_streamed_not_gathered(
    code: str, channel: RefundChannel, channel_simulator: ChannelSimulator
) -> None:
    day, count = date(2026, 1, 5), 4_000
    client.seed_statement(channel=code, day=day, count=count, amount=Decimal("1.50"), base_url=channel_simulator.url)
    # A first pass lets the simulator build the day's file (as a gateway prepares bills ahead of time),
    # so that the measured pass below weighs the adapter alone.
    assert sum(1 for _ in channel.fetch_statement(day)) == count

    total, seen = Decimal("0.00"), 0
    tracemalloc.start()
    try:
        for line in channel.fetch_statement(day):
            seen += 1
            total += line.amount
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (seen, total) == (count, Decimal("6000.00"))
    # Gathered in a list, these 4 000 lines alone would take about 2 MB; streamed, only buffers remain.
    assert peak < 1024 * 1024, f"peak {peak} bytes"
