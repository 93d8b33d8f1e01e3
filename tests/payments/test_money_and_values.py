"""Money crosses the port exactly: yuan strings for Alipay, integer fen for WeChat Pay, never a float."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from payments.channels import RefundRequest, RefundStatus, fen_to_yuan, parse_yuan, yuan_to_fen, yuan_to_str
from payments.channels.base import mask_raw


@pytest.mark.parametrize(
    ("amount", "text", "fen"),
    [
        ("12.5", "12.50", 1250),
        ("12.50", "12.50", 1250),
        ("0.01", "0.01", 1),
        ("0.1", "0.10", 10),
        ("100", "100.00", 10000),
        ("19.99", "19.99", 1999),
        ("1E+2", "100.00", 10000),
        ("99999999.99", "99999999.99", 9999999999),
    ],
)
def test_conversions_are_exact(amount: str, text: str, fen: int) -> None:
    assert yuan_to_str(Decimal(amount)) == text
    assert yuan_to_fen(Decimal(amount)) == fen
    assert fen_to_yuan(fen) == Decimal(text)
    assert parse_yuan(text) == Decimal(text)


@pytest.mark.parametrize("amount", ["12.345", "0.001", "0", "-1.00", "NaN", "Infinity"])
def test_amounts_that_are_not_a_whole_number_of_fen_or_not_positive_are_refused(amount: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_str(Decimal(amount))
    with pytest.raises(ValueError):
        yuan_to_fen(Decimal(amount))


@pytest.mark.parametrize("value", [12.5, 12, "12.50", True])
def test_only_decimals_are_money(value: Any) -> None:
    with pytest.raises(TypeError):
        yuan_to_str(value)
    with pytest.raises(TypeError):
        yuan_to_fen(value)


def test_fen_must_be_an_integer() -> None:
    with pytest.raises(TypeError):
        fen_to_yuan(12.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fen_to_yuan(True)


@pytest.mark.parametrize(("text", "value"), [("-12.50", "-12.50"), (" 7.1\t", "7.10"), ("0.00", "0.00")])
def test_channel_amounts_are_read_exactly(text: str, value: str) -> None:
    assert parse_yuan(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1e-3", "NaN"])
def test_unreadable_channel_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_yuan(text)


def test_a_refund_request_checks_its_amounts_and_numbers() -> None:
    ok = RefundRequest("ORD1", "T1", "RF1", Decimal("10.00"), Decimal("10.00"), "")
    assert ok.amount == Decimal("10.00")
    with pytest.raises(ValueError, match="exceeds"):
        RefundRequest("ORD1", "T1", "RF1", Decimal("10.01"), Decimal("10.00"))
    with pytest.raises(ValueError):
        RefundRequest("ORD1", "T1", "RF1", Decimal("1.001"), Decimal("10.00"))
    with pytest.raises(ValueError, match="out_refund_no"):
        RefundRequest("ORD1", "T1", "", Decimal("1.00"), Decimal("10.00"))
    with pytest.raises(ValueError, match="out_trade_no or trade_no"):
        RefundRequest("", "", "RF1", Decimal("1.00"), Decimal("10.00"))


def test_refund_status_values_are_the_ports_words() -> None:
    assert [s.value for s in RefundStatus] == ["success", "processing", "closed", "failed", "not_found"]
    assert RefundStatus("success") is RefundStatus.SUCCESS
    assert f"{RefundStatus.NOT_FOUND}" == "not_found"


def test_raw_payloads_keep_no_signatures_or_payer_details() -> None:
    raw = {
        "code": "10000",
        "sign": "abc",
        "buyer_logon_id": "159****5620",
        "resource": {"user_received_account": "招商银行信用卡0403", "amount": {"refund": 1250}},
        "list": [{"openid": "oUpF8u"}],
    }

    assert mask_raw(raw) == {
        "code": "10000",
        "sign": "***",
        "buyer_logon_id": "***",
        "resource": {"user_received_account": "***", "amount": {"refund": 1250}},
        "list": [{"openid": "***"}],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T23:59:58+08:00", datetime(2026, 11, 24, 15, 59, 58, tzinfo=UTC)),
        ("2026-11-24T15:59:58Z", datetime(2026, 11, 24, 15, 59, 58, tzinfo=UTC)),
        ("2026-11-24T23:59:58", None),  # no offset: which day it was cannot be told
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_wechat_times_are_read_with_their_offset(text: Any, expected: datetime | None) -> None:
    from payments.channels.wechat import _rfc3339

    assert _rfc3339(text) == expected
