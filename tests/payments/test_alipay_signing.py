"""The Alipay client signs and verifies through OpenSSL: the same signatures as the SDK's own pycryptodome code,
for the same key formats, and the same verdicts on good, altered and malformed signatures."""

from __future__ import annotations

from typing import Any

import pytest
from alipay import AliPay
from alipay.exceptions import AliPayException
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payments.channels.alipay import GatewayAliPay

MESSAGE = 'app_id=2021000000000001&biz_content={"refund_amount":"12.30"}&method=alipay.trade.refund&退款=鲜果'


def _pems(private_format: serialization.PrivateFormat) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption()).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _clients(private: str, public: str, sign_type: str) -> tuple[Any, GatewayAliPay]:
    """The SDK's own client and ours, with our private key and, as the platform key, our own public key (so
    that each can verify what the other signs)."""
    options = {
        "appid": "2021000000000001",
        "app_notify_url": None,
        "app_private_key_string": private,
        "alipay_public_key_string": public,
        "sign_type": sign_type,
    }
    return AliPay(**options), GatewayAliPay(gateway="http://127.0.0.1:9/gateway.do", **options)


@pytest.mark.parametrize(
    ("private_format", "sign_type"),
    [
        (serialization.PrivateFormat.PKCS8, "RSA2"),
        (serialization.PrivateFormat.TraditionalOpenSSL, "RSA2"),  # "BEGIN RSA PRIVATE KEY", as Alipay's tool writes
        (serialization.PrivateFormat.PKCS8, "RSA"),
    ],
)
def test_signatures_equal_the_sdk_own(private_format: serialization.PrivateFormat, sign_type: str) -> None:
    sdk, ours = _clients(*_pems(private_format), sign_type)
    signature = ours._sign(MESSAGE)
    assert signature == sdk._sign(MESSAGE)  # PKCS#1 v1.5 is deterministic: byte for byte the same
    assert ours._verify(MESSAGE, signature) is True
    assert sdk._verify(MESSAGE, signature) is True
    assert ours._verify(MESSAGE + "&refund_amount=99999.00", signature) is False
    assert sdk._verify(MESSAGE + "&refund_amount=99999.00", signature) is False


@pytest.mark.parametrize(
    "signature", ["", "not base64 at all!", "QUJD", "A" * 344, "====", "\u9000\u6b3e"], ids=lambda s: repr(s[:8])
)
def test_malformed_signatures_do_not_verify(signature: str) -> None:
    _, ours = _clients(*_pems(serialization.PrivateFormat.PKCS8), "RSA2")
    assert ours._verify(MESSAGE, signature) is False


def test_signed_notification_verifies_and_an_altered_one_does_not() -> None:
    _, ours = _clients(*_pems(serialization.PrivateFormat.PKCS8), "RSA2")
    fields = {"out_trade_no": "O1", "refund_fee": "12.30", "gmt_refund": "2026-11-25 10:00:00"}
    signature = ours._sign("&".join(f"{key}={value}" for key, value in sorted(fields.items())))
    assert ours.verify(dict(fields, sign_type="RSA2"), signature) is True
    assert ours.verify(dict(fields, refund_fee="1230.00", sign_type="RSA2"), signature) is False


def test_a_key_that_is_not_rsa_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_private = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    _, public = _pems(serialization.PrivateFormat.PKCS8)
    with pytest.raises((AliPayException, ValueError)):
        _clients(ec_private, public, "RSA2")
